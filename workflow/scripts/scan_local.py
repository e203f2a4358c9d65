"""Rule scan_local: inventory of a local folder of FITS files (labelled from the optional ``catalog``), cut into …."""

from agn_saliency.entry import run
from agn_saliency.stages.acquire import scan_local

if __name__ == "__main__":
    run(scan_local, globals().get("snakemake"))
