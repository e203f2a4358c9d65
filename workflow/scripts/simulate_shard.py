"""Rule simulate_shard: write one shard of the embedded sample as spec-lite FITS files under ``data_root``, its …."""

from agn_saliency.entry import run
from agn_saliency.stages.acquire import simulate_shard

if __name__ == "__main__":
    run(simulate_shard, globals().get("snakemake"))
