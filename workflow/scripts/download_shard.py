"""Rule download_shard: fetch one shard of the catalog from the SAS and list what arrived."""

import logging
import os

from agn_saliency.catalog import read_catalog, shard_rows
from agn_saliency.download import download_shard, summarize, write_manifest
from agn_saliency.files import write_tsv
from agn_saliency.inventory import INVENTORY_COLUMNS, catalog_record

log = logging.getLogger("agn_saliency.download_shard")


def main(catalog: str, manifest_out: str, inventory_out: str, shard: int, n_shards: int, data_root: str, sdss: dict, seed: int) -> None:
    rows = shard_rows(read_catalog(catalog), shard, n_shards)
    entries = download_shard(rows, sdss["base_url"], data_root, connections=sdss["connections"], timeout_s=sdss["timeout_s"],
                             retries=sdss["retries"], backoff_s=sdss["backoff_s"], max_backoff_s=sdss["max_backoff_s"],
                             seed=seed + shard, log=log)
    write_manifest(entries, manifest_out)
    by_id = {entry.specid: entry for entry in entries}
    inventory = []
    for record in rows:
        entry = by_id[catalog_record(record, "")["specid"]]
        path = os.path.join(data_root, entry.path) if entry.status == "ok" else ""
        inventory.append(catalog_record(record, path, entry.status, entry.reason))
    write_tsv(inventory_out, inventory, INVENTORY_COLUMNS)
    log.info("shard %d/%d: %s", shard, n_shards, summarize(entries))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    p = snakemake.params
    main(snakemake.input.catalog, snakemake.output.manifest, snakemake.output.inventory, p.shard, p.n_shards,
         p.data_root, dict(p.sdss), p.seed)
