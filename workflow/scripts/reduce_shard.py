"""Rule reduce_shard: reduce one inventory shard onto the rest-frame grid (the AGN gate when …."""

from agn_saliency.entry import run
from agn_saliency.stages.reduce import reduce_shard

if __name__ == "__main__":
    run(reduce_shard, globals().get("snakemake"))
