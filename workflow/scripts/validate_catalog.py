"""Rule validate_catalog: check the user's catalog (``CatalogError`` names file, row and column), write a …."""

from agn_saliency.entry import run
from agn_saliency.stages.acquire import validate_catalog

if __name__ == "__main__":
    run(validate_catalog, globals().get("snakemake"))
