"""Rules of ``workflow/rules/acquire.smk``: every source ends in the same per-shard inventories.

``synthetic``: :func:`simulate_catalog` → :func:`simulate_shard`; ``sdss``: :func:`validate_catalog`
→ :func:`download_shard` → :func:`summarise_downloads`; ``local``: :func:`scan_local`.
"""

from __future__ import annotations

from typing import Any

from agn_saliency.core.columns import TABLES
from agn_saliency.core.redact import redact
from agn_saliency.stages._common import apply_read_limits, rule_log

__all__ = [
    "DOWNLOAD_TRANSPORT_KEYS",
    "download_shard",
    "scan_local",
    "simulate_catalog",
    "simulate_shard",
    "summarise_downloads",
    "validate_catalog",
]


def simulate_catalog(*, catalog_out: str, counts: dict[str, int], physics: dict[str, Any], seed: int) -> list[dict[str, Any]]:
    """Rule simulate_catalog: draw the embedded sample's catalog (ids, z, S/N, labels), seeded.

    ``counts`` holds ``n_type1``, ``n_type2`` and ``n_intermediate``; ``physics`` overrides
    :class:`~agn_saliency.acquire.simulate.SimulationParameters`. Returns the catalog rows.
    """
    from agn_saliency.acquire.simulate import SimulationParameters, write_catalog_csv
    from agn_saliency.acquire.simulate import simulate_catalog as draw

    catalog = draw(
        counts["n_type1"], counts["n_type2"], counts["n_intermediate"], seed, SimulationParameters.from_mapping(physics)
    )
    write_catalog_csv(catalog, catalog_out)
    rule_log("simulate_catalog").info("catalog of %d simulated spectra: %s", len(catalog), counts)
    return catalog


def simulate_shard(
    *,
    catalog: str,
    inventory_out: str,
    truth_out: str,
    shard: int,
    n_shards: int,
    data_root: str,
    physics: dict[str, Any],
    seed: int,
    file_format: str = "sdss",
) -> list[dict[str, Any]]:
    """Rule simulate_shard: write one shard of the embedded sample under ``data_root`` — spec-lite
    files (``file_format`` ``"sdss"``) or whole DESI healpix coadd + redrock files (``"desi"``: a
    shard is a contiguous block of the catalog's healpix files, so no file is split between
    shards and its bytes do not depend on ``n_shards``) — its inventory and its ground truth (the
    planted broad lines). Returns the inventory."""
    from agn_saliency.acquire.catalog import read_catalog, shard_rows
    from agn_saliency.acquire.inventory import INVENTORY_COLUMNS, catalog_record, shard_bounds
    from agn_saliency.acquire.simulate import TRUTH_COLUMNS, SimulationParameters, write_spectra_with_truth
    from agn_saliency.acquire.simulate.desi import healpix_groups, write_desi_spectra_with_truth
    from agn_saliency.io.tables import write_table

    params = SimulationParameters.from_mapping(physics)
    if file_format == "desi":
        whole = read_catalog(catalog)
        healpixes = list(healpix_groups(whole))
        start, stop = shard_bounds(len(healpixes), shard, n_shards)
        paths, truth = write_desi_spectra_with_truth(whole, data_root, seed, params, healpixes[start:stop])
        rows = whole[[record.pop("row_position") for record in truth]]
        targetids = [record.pop("targetid") for record in truth]
    elif file_format == "sdss":
        rows = shard_rows(read_catalog(catalog), shard, n_shards)
        paths, truth = write_spectra_with_truth(rows, data_root, seed, params)
    else:
        raise ValueError(f"synthetic.format must be sdss or desi, got {file_format!r}")
    inventory = [catalog_record(record, str(path)) for record, path in zip(rows, paths)]
    if file_format == "desi":  # one row per target of a multi-target file, named by its TARGETID
        for record, target in zip(inventory, targetids):
            record.update(survey="desi", specid=str(target), plate="", mjd="", fiberid="")
    write_table(inventory_out, inventory, INVENTORY_COLUMNS, schema=TABLES["inventory"])
    write_table(truth_out, truth, TRUTH_COLUMNS, schema=TABLES["truth"])
    rule_log("simulate_shard").info("shard %d/%d: %d spectra written under %s", shard, n_shards, len(inventory), data_root)
    return inventory


def validate_catalog(*, catalog: str, catalog_out: str, duplicates_out: str) -> list[dict[str, Any]]:
    """Rule validate_catalog: check the user's catalog (``CatalogError`` names file, row and column),
    write a normalised copy and the list of duplicate rows (returned)."""
    from agn_saliency.acquire.catalog import find_duplicates, read_catalog, write_catalog
    from agn_saliency.io.tables import write_table

    log = rule_log("validate_catalog")
    rows = read_catalog(catalog)
    duplicates = [{"row": row, "first_row": first, "specid": spec} for row, first, spec in find_duplicates(rows)]
    for dup in duplicates:
        log.warning(
            "%s: row %d duplicates row %d (%s); the later one will be rejected",
            catalog,
            dup["row"],
            dup["first_row"],
            dup["specid"],
        )
    write_table(duplicates_out, duplicates, ("row", "first_row", "specid"), schema=TABLES["duplicates"])
    write_catalog(rows, catalog_out)
    log.info("%s: %d rows valid, %d duplicates", catalog, len(rows), len(duplicates))
    return duplicates


DOWNLOAD_TRANSPORT_KEYS = (
    "connections",
    "timeout_s",
    "retries",
    "backoff_s",
    "max_backoff_s",
    "min_throughput_bytes_s",
    "throughput_grace_s",
)
"""Keys of ``data.sdss`` that say how files are fetched (never which files arrive or their bytes)."""


def download_shard(
    *,
    catalog: str,
    manifest_out: str,
    inventory_out: str,
    shard: int,
    n_shards: int,
    data_root: str,
    base_url: str,
    config: dict[str, Any],
    desi_base_url: str = "",
) -> list[Any]:
    """Rule download_shard: fetch one shard of the catalog from the SAS (SDSS, SDSS-V) and a DESI
    release; write its manifest and inventory.

    An SDSS or SDSS-V row needs its spec-lite file; a DESI row the healpix coadd and redrock files
    of its ``desi_survey``/``program``/``healpix``, after which its TARGETID is selected: a row
    whose target the coadd's FIBERMAP does not hold is listed ``missing`` with that reason.
    ``desi_base_url`` is the DESI production as the rule's params carry it (login redacted), like
    ``base_url``; the files are fetched from config's ``data.desi.base_url``.

    How files are fetched (``data.sdss`` connections, timeouts, retries, back-off, throughput
    deadline) and how many failures a shard accepts never change which files arrive or their
    bytes: they are read from ``config``, deliberately not params, so that changing them does not
    rerun finished downloads and everything after them (Snakemake reruns a job when a param
    changes, never for a value read from the config). The seed only jitters the back-off.
    ``base_url`` is the server as the rule's params carry it, its login (``user:password@``)
    redacted so that no password reaches ``.snakemake/`` or ``results/settings/``; the files are
    fetched from config's ``data.sdss.base_url``, login included, which must name the same server.

    Raises
    ------
    agn_saliency.acquire.download.DownloadFailed
        More files failed than ``data.sdss.max_failed_fraction`` accepts; the message names the
        server, the count, the reasons and what to do. Files that arrived are kept: a rerun
        fetches only the others.
    """

    from agn_saliency.acquire.catalog import read_catalog, shard_rows
    from agn_saliency.acquire.download import DownloadFailed, check_failures, row_files, summarize, write_manifest
    from agn_saliency.acquire.download import download_shard as fetch
    from agn_saliency.acquire.inventory import INVENTORY_COLUMNS
    from agn_saliency.io.tables import write_table

    log = rule_log("download_shard")
    # read from the config, not params: the reduction applies the same limits again to every file
    apply_read_limits(config.get("limits"))
    sdss = config["data"]["sdss"]
    login_url = str(sdss["base_url"])  # with its user:password@, if any: used to fetch, never written or logged
    if redact(login_url) != redact(str(base_url)):
        raise ValueError(f"base_url {redact(str(base_url))!r} is not config's data.sdss.base_url {redact(login_url)!r}")
    transport = {key: sdss[key] for key in DOWNLOAD_TRANSPORT_KEYS}
    desi_login_url = str(config["data"].get("desi", {}).get("base_url") or "")
    if desi_base_url and redact(desi_login_url) != redact(str(desi_base_url)):
        raise ValueError(
            f"desi_base_url {redact(str(desi_base_url))!r} is not config's data.desi.base_url {redact(desi_login_url)!r}"
        )
    rows = shard_rows(read_catalog(catalog), shard, n_shards)
    desi_url = desi_login_url or None
    entries = fetch(rows, login_url, data_root, seed=int(config["seed"]) + shard, log=log, desi_base_url=desi_url, **transport)
    try:
        check_failures(entries, login_url, sdss["max_failed_fraction"])
    except DownloadFailed as error:
        message = (
            f"download shard {shard:03d} of {n_shards}: {error}. The files that arrived are kept; run the same command "
            f"again to fetch the others (files already present and valid are not fetched again), or set "
            f"data.sdss.max_failed_fraction to accept a partial sample."
        )
        log.error("%s", message)
        raise DownloadFailed(message) from None
    write_manifest(entries, manifest_out)
    inventory = downloaded_inventory(rows, entries, row_files(rows, login_url, data_root, desi_url), data_root)
    write_table(inventory_out, inventory, INVENTORY_COLUMNS, schema=TABLES["inventory"])
    log.info("shard %d/%d: %s", shard, n_shards, summarize(entries))
    return entries


def downloaded_inventory(rows: Any, entries: list[Any], files: list[list[str]], data_root: str) -> list[dict[str, Any]]:
    """Inventory rows of downloaded catalog rows: each row's file (``files``, from
    :func:`agn_saliency.acquire.download.row_files`) with its download's status; a DESI row is
    ``ok`` only when both its coadd and redrock files arrived and the coadd's FIBERMAP holds its
    TARGETID (the listed targets are selected; the rest of the file is not reduced)."""
    import os

    from agn_saliency.acquire.download import desi_targetids
    from agn_saliency.acquire.inventory import catalog_record, record_survey
    from agn_saliency.core.names import escape_name

    by_path = {entry.path: entry for entry in entries}
    targets_of: dict[str, set[int]] = {}
    inventory = []
    for record, paths in zip(rows, files):
        row_entries = [by_path[path] for path in paths]
        failed = next((entry for entry in row_entries if entry.status != "ok"), None)
        if record_survey(record) != "desi":
            entry = row_entries[0]
            path = os.path.join(data_root, entry.path) if entry.status == "ok" else ""
            inventory.append(catalog_record(record, path, entry.status, entry.reason))
            continue
        coadd = os.path.join(data_root, paths[0])
        if failed is not None:
            reason = f"{escape_name(os.path.basename(failed.path))}: {failed.reason}"
            inventory.append(catalog_record(record, "", failed.status, reason))
            continue
        if coadd not in targets_of:
            targets_of[coadd] = desi_targetids(coadd)
        target = int(record["targetid"])
        if target not in targets_of[coadd]:
            reason = f"TARGETID {target} is not in the FIBERMAP of {escape_name(os.path.basename(paths[0]))}"
            inventory.append(catalog_record(record, "", "missing", reason))
            continue
        inventory.append(catalog_record(record, coadd))
    return inventory


def summarise_downloads(*, manifests: list[str], summary_out: str) -> dict[str, int]:
    """Rule summarise_downloads: total ok / missing / failed / cached over every shard's manifest."""
    import json

    from agn_saliency.acquire.download import read_manifest, summarize
    from agn_saliency.core.files import write_text_atomic

    log = rule_log("summarise_downloads")
    summary = summarize(entry for path in manifests for entry in read_manifest(path))
    write_text_atomic(summary_out, json.dumps(summary, indent=1) + "\n")
    log.info("downloads: %s", summary)
    if summary["failed"]:  # only when data.sdss.max_failed_fraction accepted them
        log.warning(
            "%d file(s) failed and were accepted as a partial sample (data.sdss.max_failed_fraction); "
            "they are listed in the manifests and in rejected.ecsv; fetch them later with "
            "--forcerun download_shard",
            summary["failed"],
        )
    return summary


def scan_local(
    *,
    folder: str,
    catalog: str | list[str] | None,
    inventories_out: list[str],
    fingerprint: str,
    n_shards: int,
    limits: dict[str, Any] | None = None,
) -> list[dict]:
    """Rule scan_local: inventory of a local folder of FITS files (labelled from the optional
    ``catalog``; files read within ``limits``), cut into ``n_shards`` shards. ``fingerprint`` (the
    folder's files, sizes and times) is what reruns this rule when the folder changes. Returns the
    inventory rows."""
    from agn_saliency.acquire.catalog import read_catalog
    from agn_saliency.acquire.inventory import INVENTORY_COLUMNS, folder_scan, scan_folder, shard_bounds
    from agn_saliency.io.tables import write_table

    if len(inventories_out) != n_shards:
        raise ValueError(f"{len(inventories_out)} inventory files for {n_shards} shards")
    apply_read_limits(limits)
    labels = read_catalog(catalog, require_label=False) if catalog else None  # labels are optional here
    scan = folder_scan(folder)
    for path, reason in scan.skipped:  # every file accounted for: what was not searched is said
        rule_log("scan_local").warning("skipped %r: %s", path, reason)
    rows = scan_folder(folder, labels, scan=scan)
    for shard, out in enumerate(inventories_out):
        start, stop = shard_bounds(len(rows), shard, n_shards)
        write_table(out, rows[start:stop], INVENTORY_COLUMNS, schema=TABLES["inventory"])
    rule_log("scan_local").info(
        "%s (fingerprint %s): %d files/catalog rows in %d shards", folder, fingerprint[:12], len(rows), n_shards
    )
    return rows
