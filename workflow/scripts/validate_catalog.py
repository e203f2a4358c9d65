"""Rule validate_catalog: check the user's catalog and write a normalised copy before any download."""

import logging

from agn_saliency.catalog import find_duplicates, read_catalog, write_catalog
from agn_saliency.files import write_table

log = logging.getLogger("agn_saliency.validate_catalog")


def main(catalog_in: str, catalog_out: str, duplicates_out: str) -> None:
    catalog = read_catalog(catalog_in)  # raises CatalogError naming file, row and column
    duplicates = [{"row": row, "first_row": first, "specid": spec} for row, first, spec in find_duplicates(catalog)]
    for dup in duplicates:
        log.warning(
            "%s: row %d duplicates row %d (%s); the later one will be rejected",
            catalog_in,
            dup["row"],
            dup["first_row"],
            dup["specid"],
        )
    write_table(duplicates_out, duplicates, ("row", "first_row", "specid"))
    write_catalog(catalog, catalog_out)
    log.info("%s: %d rows valid, %d duplicates", catalog_in, len(catalog), len(duplicates))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.catalog, snakemake.output.catalog, snakemake.output.duplicates)
