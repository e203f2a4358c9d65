"""Rules of ``workflow/rules/predict.smk``: classify and explain a folder of FITS files nobody
labelled (:func:`predict_spectra`), then a saliency figure per accepted file and the AGN gate's diagram."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from agn_saliency.core.columns import TABLES
from agn_saliency.stages._common import apply_read_limits, draws_figures, rule_log

__all__ = [
    "calibrate_predict_ood",
    "fetch_predict_catalog",
    "plot_agn_gate",
    "plot_predict_summary",
    "plot_predictions",
    "predict_shard",
    "predict_spectra",
]


def fetch_predict_catalog(
    *,
    catalog: str,
    manifest_out: str,
    name: str,
    data_root: str,
    base_url: str,
    desi_base_url: str,
    config: dict[str, Any],
) -> list[Any]:
    """Rule fetch_predict_catalog: download the spectra of ``predict.catalog``'s ids into
    ``data_root`` (then predicted as a folder) with the resumable downloader of the labelled sample
    (:func:`agn_saliency.acquire.download.download_shard`: retries, deadlines, verification; files
    already present and valid are not fetched again), and write the manifest (each id's file,
    status, reason).

    The catalog is read by :func:`agn_saliency.acquire.catalog.read_catalog` without labels: SDSS
    ``plate``/``mjd``/``fiberid``, SDSS-V ``field``/``mjd``/``catalogid`` or DESI
    ``targetid`` with ``desi_survey``/``program``/``healpix`` (a DESI id fetches its healpix coadd
    and redrock files: every target they hold is predicted). The servers and transport settings come
    from ``data.sdss`` and ``data.desi`` as for ``download_shard`` (``base_url``, ``desi_base_url``:
    the params' redacted values, checked against config's).

    Raises
    ------
    agn_saliency.acquire.download.DownloadFailed
        More files failed than ``data.sdss.max_failed_fraction`` accepts (a rerun fetches only the missing ones).
    """
    from agn_saliency.acquire.catalog import read_catalog
    from agn_saliency.acquire.download import check_failures, summarize, write_manifest
    from agn_saliency.acquire.download import download_shard as fetch
    from agn_saliency.core.redact import redact
    from agn_saliency.stages.acquire import DOWNLOAD_TRANSPORT_KEYS

    log = rule_log("fetch_predict_catalog")
    apply_read_limits(config.get("limits"))
    sdss = config["data"]["sdss"]
    login_url = str(sdss["base_url"])  # with its login, if any: used to fetch, never written or logged
    if redact(login_url) != redact(str(base_url)):
        raise ValueError(f"base_url {redact(str(base_url))!r} is not config's data.sdss.base_url {redact(login_url)!r}")
    desi_login_url = str(config["data"].get("desi", {}).get("base_url") or "")
    if desi_base_url and redact(desi_login_url) != redact(str(desi_base_url)):
        raise ValueError(f"desi_base_url {redact(str(desi_base_url))!r} is not config's data.desi.base_url")
    rows = read_catalog(catalog, require_label=False)
    transport = {key: sdss[key] for key in DOWNLOAD_TRANSPORT_KEYS}
    entries = fetch(
        rows, login_url, data_root, seed=int(config["seed"]), log=log, desi_base_url=desi_login_url or None, **transport
    )
    check_failures(entries, login_url, sdss["max_failed_fraction"])
    write_manifest(entries, manifest_out)
    log.info(
        "%s: %d ids of %s; downloads %s; predicted as the folder %s", name, len(rows), catalog, summarize(entries), data_root
    )
    return entries


def calibrate_predict_ood(
    *,
    model: str,
    cube: str,
    split: str,
    calibration_out: str,
    served_out: str,
    quantile: float,
    k: int,
) -> dict[str, Any]:
    """Rule calibrate_predict_ood: the OOD threshold of the model predict uses, once for every shard
    job (:func:`agn_saliency.predict.folder.calibrate_on_test`: the ``quantile`` of the ood_score,
    distance to the ``k``-th nearest training spectrum, of the run's held-out test spectra), written
    to ``calibration_out`` (JSON, temporary name then rename), and the model as the shard jobs serve
    it, arrays without scikit-learn (:func:`agn_saliency.explain.served.write_served_model`), to
    ``served_out``. Returns the calibration record."""
    import json

    from agn_saliency.core.files import write_text_atomic
    from agn_saliency.explain.saliency import served_model
    from agn_saliency.explain.served import write_served_model
    from agn_saliency.io.models import load_model
    from agn_saliency.predict.folder import calibrate_on_test

    log = rule_log("calibrate_predict_ood")
    fitted, metadata = load_model(model)
    calibration = calibrate_on_test(fitted, metadata, cube, split, quantile=quantile, k=k) | {"model": model}
    # each shard job loads this instead of the pipeline: joblib would import scikit-learn (≈ 1 s of CPU a job)
    write_served_model(served_out, served_model(fitted), {"model": model, "task": metadata.get("task")})
    write_text_atomic(calibration_out, json.dumps(calibration, indent=1) + "\n")
    log.info("OOD threshold of %s: %.4g (quantile %s of %d test spectra, k = %d)", model,
             calibration["threshold"], quantile, calibration["n_calibration"], k)  # fmt: skip
    return calibration


def predict_shard(
    *,
    model: str,
    served: str,
    calibration: str,
    rows_out: str,
    saliency_out: str,
    folder: str,
    name: str,
    shard: int,
    n_shards: int,
    fingerprint: str,
    reduce: dict[str, Any],
    methods: dict[str, Any],
    low_confidence_p_max: float,
    limits: dict[str, Any] | None = None,
    files: list[str] | None = None,
) -> dict[str, Any]:
    """Rule predict_shard: reduce the files of shard ``shard`` of ``n_shards`` of ``folder``
    (``files``, relative to it, as planned: :func:`agn_saliency.predict.shards.shard_scan`), gate
    them (AGN or not), classify them with a saved model (``served``: ``model`` as arrays, written by
    :func:`calibrate_predict_ood`, so that this job never imports scikit-learn; ``model``'s metadata
    gives the reduction it needs), flag those out of the training
    distribution (``calibration``: the threshold :func:`calibrate_predict_ood` wrote, once for
    every shard) and explain them
    with ``methods``, a chunk of files at a time (:func:`agn_saliency.predict.shards.run_shard`:
    the rows go to ``rows_out``, JSON Lines, and the maps to ``saliency_out`` chunk by chunk, so
    the job's memory does not grow with the shard). ``fingerprint`` is the shard's files'
    (a params value: a change reruns this shard). Returns the shard's counts (:class:`agn_saliency.predict.shards.ShardSummary` as a dict).

    Raises
    ------
    agn_saliency.predict.contract.ModelContractError
        The model was trained on spectra reduced otherwise than ``reduce`` says (or records no
        reduction): one line naming each differing key with both values.
    """
    import dataclasses
    import json
    from pathlib import Path

    from agn_saliency.core.memory import keep_freed_memory
    from agn_saliency.explain.served import read_served_model
    from agn_saliency.io.models import load_metadata
    from agn_saliency.predict.contract import check_model_reduction
    from agn_saliency.predict.shards import run_shard
    from agn_saliency.spectra.reduce import ReductionParameters

    log = rule_log("predict_shard")
    # this process only: each file's buffers then reuse the last file's freed memory, not fresh pages (system CPU)
    keep_freed_memory()
    apply_read_limits(limits)  # every file of the shard is read within them
    check_model_reduction(load_metadata(model), reduce, model)  # before anything is reduced with the wrong settings
    fitted = read_served_model(served)
    ood = json.loads(Path(calibration).read_text())
    summary = run_shard(
        folder, shard, n_shards, fitted, ReductionParameters.from_mapping(reduce), rows_out, saliency_out, methods=methods,
        ood_calibration=ood, low_confidence_p_max=low_confidence_p_max, meta={"ood": ood}, log=log,
        files=files,
    )  # fmt: skip
    log.info(
        "%s shard %d/%d: %d spectra; status %s; AGN gate %s", name, shard, n_shards, summary.rows,
        dict(summary.status), dict(summary.agn_status),
    )  # fmt: skip
    return dataclasses.asdict(summary)


def predict_spectra(
    *,
    rows: list[str],
    saliency: list[str],
    predictions_out: str,
    saliency_out: str,
    folder_out: str,
    folder: str,
    name: str,
    fingerprint: str,
    low_confidence_p_max: float,
) -> dict[str, Any]:
    """Rule predict_spectra: merge the shards of ``folder`` (:func:`agn_saliency.predict.shards.merge_shard_files`)
    into predictions.ecsv (and predictions.fits beside it above :data:`FITS_TABLE_MIN_ROWS` rows,
    readable by TOPCAT), one saliency file chunked per spectrum and ``folder.json``
    (``fingerprint`` of the folder's files, counts by status and verdict). Returns that record."""
    import json

    from agn_saliency.acquire.inventory import folder_scan
    from agn_saliency.core.files import write_text_atomic
    from agn_saliency.io.tables import write_table_blocks
    from agn_saliency.predict.folder import PREDICTION_COLUMNS, folder_record, rejection_line
    from agn_saliency.predict.shards import merge_shard_files, write_fits_table

    log = rule_log("predict_spectra")
    scan = folder_scan(folder)
    skipped = sorted(scan.skipped + scan.companions)  # DESI redshift files are read with their coadds: no row
    attrs = {"folder": folder_record(folder, fingerprint, [], skipped)["folder"], "fingerprint": fingerprint}
    # the maps are copied shard by shard, a block of spectra at a time, and the table written a
    # block of rows at a time: never all in memory
    with merge_shard_files(folder, rows, saliency, saliency_out, attrs, low_confidence_p_max) as joined:
        calibration = joined.meta.get("ood")
        record = folder_record(folder, fingerprint, joined.rows, skipped) | {"ood_calibration": calibration}
        table_meta = {"ood": calibration, "low_confidence_p_max": low_confidence_p_max}

        def logged(blocks: Iterator[list[dict[str, Any]]]) -> Iterator[list[dict[str, Any]]]:
            for block in blocks:
                for row in block:  # each in the log file; the table says it all too
                    if row["status"] != "ok":
                        log.info("%s %s: %s", row["status"], row["file"], row["reason"])
                    if row["duplicate_of"]:
                        log.info("%s holds the same spectrum as %s", row["file"], row["duplicate_of"])
                yield block

        datatypes = joined.types.datatypes()
        schema = TABLES["predictions"]
        write_table_blocks(
            predictions_out, logged(joined.blocks()), PREDICTION_COLUMNS, datatypes, schema=schema, meta=table_meta
        )
    if record["files"] >= FITS_TABLE_MIN_ROWS:
        write_fits_table(predictions_out.removesuffix(".ecsv") + ".fits", predictions_out)
    write_text_atomic(folder_out, json.dumps(record, indent=1) + "\n")
    for path, reason in skipped:
        log.warning("skipped %r: %s", path, reason)
    if line := rejection_line(record, predictions_out):
        log.warning("%s", line)  # a warning: the terminal shows it, not only the log file
    log.info(
        "%s (%s): %d shards; verdicts %s; status %s; AGN gate %s",
        name,
        folder,
        len(rows),
        {name: count for name, count in record["verdict"].items() if count},
        {status: record[status] for status in ("ok", "rejected", "ood") if record[status]},
        {status: count for status, count in record["agn_status"].items() if count},
    )
    return record


FITS_TABLE_MIN_ROWS = 10000
"""From this many rows on, predict writes predictions.fits beside predictions.ecsv (TOPCAT opens
large FITS tables at once; a large ECSV is parsed row by row)."""


FIGURE_COLUMNS = ("key", "status", "agn_status", "confidence", "p_max", "ood_score", "verdict", "gate_reason", "reason")
"""What plot_predictions reads of predictions.ecsv: the selection's and the titles' columns
(:func:`agn_saliency.predict.shards.figure_selection`, :func:`agn_saliency.predict.folder.verdict_lines`)."""
GATE_FIGURE_COLUMNS = ("key", "file", "agn_status", "gate_reason", "log_nii_halpha", "log_oiii_hbeta", "broad_line")
"""What plot_agn_gate reads of predictions.ecsv (:func:`agn_saliency.plotting.plot_gate_diagram`)."""
SUMMARY_COLUMNS = ("verdict", "predicted", "z", "status", "p_max", "ood_score", "log_nii_halpha", "log_oiii_hbeta")
"""What plot_predict_summary reads of predictions.ecsv (:func:`agn_saliency.plotting.summary.plot_predict_summary`)."""

PLOT_BLOCK = 256
"""plot_predictions reads the maps of this many chosen spectra at a time (its memory does not grow with the folder)."""


@draws_figures
def plot_predictions(
    *,
    saliency: str,
    predictions: str,
    plots_out: str,
    name: str,
    smooth_pixels: int,
    figures: str = "all",
    max_figures: int = 0,
    seed: int = 0,
    threads: int = 1,
) -> str:
    """Rule plot_predictions: a saliency figure per file ``figures`` selects
    (:func:`agn_saliency.predict.shards.figure_selection`: all accepted files, none, or a capped
    selection), named by its key, titled with the AGN gate's verdict and the OOD flag. The folder
    appears only when complete."""
    import gc
    import os

    from agn_saliency.core.files import atomic_directory
    from agn_saliency.core.parallel import contiguous_chunks, map_in_workers
    from agn_saliency.io.tables import read_columns
    from agn_saliency.plotting import SaliencyFigure, figure_format, plot_saliency_spectra
    from agn_saliency.predict.folder import verdict_lines
    from agn_saliency.predict.shards import figure_selection, read_saliency_rows, saliency_keys

    # only the columns the selection and the titles use: its memory grows by a few of a row's 40 columns
    rows = read_columns(predictions, FIGURE_COLUMNS)
    chosen = set(figure_selection(rows, figures, max_figures, seed))
    row_of_key = {row["key"]: row for row in rows if row["key"] in chosen}
    del rows  # before the workers are forked: they would carry the whole table
    gc.collect()
    wanted = [i for i, key in enumerate(saliency_keys(saliency)) if key in chosen]
    drawn = 0
    with atomic_directory(plots_out) as building:
        # a block of spectra at a time: only the chosen spectra's maps are read, never the whole file
        for start in range(0, len(wanted), PLOT_BLOCK):
            result = read_saliency_rows(saliency, wanted[start : start + PLOT_BLOCK])
            block = [
                SaliencyFigure.from_result(
                    result, i, path=str(building / f"{key}.{figure_format()}"), name=result.specid[i],
                    smooth_pixels=smooth_pixels, subtitle=f"predict, {os.path.basename(result.file[i])}",
                    verdicts=verdict_lines(row_of_key[key]),
                )
                for i, key in enumerate(result.key)
            ]  # fmt: skip
            # one run of figures per worker, drawn on one reused matplotlib figure
            map_in_workers(plot_saliency_spectra, [(chunk,) for chunk in contiguous_chunks(block, threads)], threads)
            drawn += len(block)
    rule_log("plot_predictions").info("%s: %d figures in %s", name, drawn, plots_out)
    return plots_out


@draws_figures
def plot_agn_gate(*, predictions: str, plot_out: str, name: str) -> str:
    """Rule plot_agn_gate: the BPT diagram of a predicted folder's files, coloured by the AGN gate's verdict."""
    from agn_saliency.io.tables import read_columns
    from agn_saliency.plotting import plot_gate_diagram

    plot_gate_diagram(read_columns(predictions, GATE_FIGURE_COLUMNS), plot_out, f"AGN gate of {name}")
    return plot_out


@draws_figures
def plot_predict_summary(*, predictions: str, folder: str, plot_out: str, name: str, low_confidence_p_max: float) -> str:
    """Rule plot_predict_summary: one figure of a whole predict run
    (:func:`agn_saliency.plotting.summary.plot_predict_summary`): class fractions against z, the
    BPT density, the OOD scores with the threshold (from ``folder.json``), the confidence with
    ``low_confidence_p_max``."""
    import json
    from pathlib import Path

    from agn_saliency.io.tables import read_columns
    from agn_saliency.plotting.summary import plot_predict_summary as draw

    rows = read_columns(predictions, SUMMARY_COLUMNS)
    record = json.loads(Path(folder).read_text(encoding="utf-8"))
    calibration = record.get("ood_calibration") or {}
    draw(rows, plot_out, f"predict {name}", ood_threshold=calibration.get("threshold"), low_confidence_p_max=low_confidence_p_max)
    rule_log("plot_predict_summary").info("%s: summary of %d spectra in %s", name, len(rows), plot_out)
    return plot_out
