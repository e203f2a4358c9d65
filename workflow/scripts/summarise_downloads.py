"""Rule summarise_downloads: total ok / missing / failed / cached over every shard's manifest."""

from agn_saliency.entry import run
from agn_saliency.stages.acquire import summarise_downloads

if __name__ == "__main__":
    run(summarise_downloads, globals().get("snakemake"))
