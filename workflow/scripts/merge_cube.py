"""Rule merge_cube: shards → one cube, its per-spectrum table, and one rejected list sorted by catalog row …."""

from agn_saliency.entry import run
from agn_saliency.stages.reduce import merge_cube

if __name__ == "__main__":
    run(merge_cube, globals().get("snakemake"))
