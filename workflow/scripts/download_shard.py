"""Rule download_shard: fetch one shard of the catalog from the SAS; write its manifest and inventory."""

from agn_saliency.acquire.download import DownloadFailed
from agn_saliency.entry import run
from agn_saliency.stages.acquire import download_shard

if __name__ == "__main__":
    run(download_shard, globals().get("snakemake"), errors=(DownloadFailed,))
