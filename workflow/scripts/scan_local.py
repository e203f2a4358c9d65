"""Rule scan_local: inventory of a local folder of SDSS FITS files, cut into shards."""

import logging

from agn_saliency.acquire.catalog import read_catalog
from agn_saliency.acquire.inventory import INVENTORY_COLUMNS, scan_folder, shard_bounds
from agn_saliency.io.tables import write_table

log = logging.getLogger("agn_saliency.scan_local")


def main(*, folder: str, catalog: str | None, inventories: list[str]) -> None:
    labels = read_catalog(catalog, require_label=False) if catalog else None  # labels are optional here
    rows = scan_folder(folder, labels)
    for shard, out in enumerate(inventories):
        start, stop = shard_bounds(len(rows), shard, len(inventories))
        write_table(out, rows[start:stop], INVENTORY_COLUMNS)
    log.info("%s: %d files/catalog rows in %d shards", folder, len(rows), len(inventories))


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        folder=sm.input.folder, catalog=sm.input.catalog or None, inventories=list(sm.output.inventories),
    ))  # fmt: skip
