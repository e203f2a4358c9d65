"""Rule download_shard: fetch one shard of the catalog from the SAS and list what arrived.

A shard where more files failed (not "missing": the network, server errors, too slow) than
``data.sdss.max_failed_fraction`` accepts fails the job with a message naming the server, the
count and the reasons. Snakemake then removes the job's outputs, so running the same command again
runs this job again, which fetches only what is not already on disk and valid.
"""

import logging
import os

from agn_saliency.catalog import read_catalog, shard_rows
from agn_saliency.download import DownloadFailed, check_failures, download_shard, summarize, write_manifest
from agn_saliency.files import write_table
from agn_saliency.inventory import INVENTORY_COLUMNS, catalog_record

log = logging.getLogger("agn_saliency.download_shard")

TRANSPORT_KEYS = (
    "connections",
    "timeout_s",
    "retries",
    "backoff_s",
    "max_backoff_s",
    "min_throughput_bytes_s",
    "throughput_grace_s",
)


def main(
    catalog: str,
    manifest_out: str,
    inventory_out: str,
    shard: int,
    n_shards: int,
    data_root: str,
    base_url: str,
    transport: dict,
    max_failed_fraction: float,
    seed: int,
) -> None:
    rows = shard_rows(read_catalog(catalog), shard, n_shards)
    entries = download_shard(rows, base_url, data_root, seed=seed, log=log, **transport)
    try:
        check_failures(entries, base_url, max_failed_fraction)
    except DownloadFailed as error:
        message = (
            f"download shard {shard:03d} of {n_shards}: {error}. The files that arrived are kept; run the same command "
            f"again to fetch the others (files already present and valid are not fetched again), or set "
            f"data.sdss.max_failed_fraction to accept a partial sample."
        )
        log.error("%s", message)
        raise DownloadFailed(message) from None
    write_manifest(entries, manifest_out)
    by_id = {entry.specid: entry for entry in entries}
    inventory = []
    for record in rows:
        entry = by_id[catalog_record(record, "")["specid"]]
        path = os.path.join(data_root, entry.path) if entry.status == "ok" else ""
        inventory.append(catalog_record(record, path, entry.status, entry.reason))
    write_table(inventory_out, inventory, INVENTORY_COLUMNS)
    log.info("shard %d/%d: %s", shard, n_shards, summarize(entries))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    p = snakemake.params
    # How files are fetched (connections, timeouts, retries, back-off, throughput deadline) and how
    # many failures a shard accepts never change which files arrive or their bytes: they are read
    # from the config here, deliberately not passed as params, so that changing them does not rerun
    # finished downloads and everything after them (Snakemake reruns a job when a param changes,
    # never for a value its script reads from snakemake.config).
    sdss = snakemake.config["data"]["sdss"]
    try:
        main(
            snakemake.input.catalog,
            snakemake.output.manifest,
            snakemake.output.inventory,
            p.shard,
            p.n_shards,
            p.data_root,
            p.base_url,
            {key: sdss[key] for key in TRANSPORT_KEYS},
            sdss["max_failed_fraction"],
            seed=int(snakemake.config["seed"]) + p.shard,
        )  # back-off jitter only
    except DownloadFailed as error:
        raise SystemExit(f"Error: {error}") from None
