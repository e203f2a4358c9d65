"""Rule validate_catalog: check the user's catalog and write a normalised copy before any download."""

from agn_saliency.stages.all import validate_catalog

main = validate_catalog  # keyword-only: catalog_in, catalog_out, duplicates_out

if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        catalog_in=sm.input.catalog, catalog_out=sm.output.catalog, duplicates_out=sm.output.duplicates,
    ))  # fmt: skip
