"""Stage functions: what a workflow rule does, from its input files to its output files.

``workflow/scripts/<rule>.py`` calls one of these with named arguments and nothing else; the
benchmarks call the same functions, so a benchmark measures the rule's code, not a copy of it.
Functions that compute something a rule writes return it too (a model, its metadata, a table), so
tests and benchmarks can check it without reading the files back.

Imports are made inside each function: a rule pays only for the modules its stage uses.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.core.vocabulary import display_order, probability_columns

__all__ = [
    "DOWNLOAD_TRANSPORT_KEYS",
    "GridResult",
    "Selection",
    "check_not_empty",
    "cube_provenance",
    "download_shard",
    "embed_task",
    "evaluate_faithfulness",
    "merge_cube",
    "predict_folder",
    "prediction_rows",
    "reduce_shard",
    "search_grid",
    "select_model",
    "split_sample",
    "summarise_downloads",
    "validate_catalog",
    "write_grid_result",
    "write_selection",
]


def _log(rule: str) -> logging.Logger:
    return logging.getLogger(f"agn_saliency.{rule}")


def _reason_key(reason: object) -> str:
    """A rejection reason without its details: ``"unreadable: …"`` → ``"unreadable"``."""
    return str(reason).split(" (")[0].split(":")[0]


# ------------------------------------------------------------------------------ acquisition


def validate_catalog(*, catalog_in: str, catalog_out: str, duplicates_out: str) -> list[dict[str, Any]]:
    """Rule validate_catalog: check the user's catalog (``CatalogError`` names file, row and column),
    write a normalised copy and the list of duplicate rows (returned)."""
    from agn_saliency.acquire.catalog import find_duplicates, read_catalog, write_catalog
    from agn_saliency.io.tables import write_table

    log = _log("validate_catalog")
    catalog = read_catalog(catalog_in)
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
    transport: dict[str, Any],
    max_failed_fraction: float,
    seed: int,
) -> list[Any]:
    """Rule download_shard: fetch one shard of the catalog from the SAS; write its manifest and inventory.

    Raises
    ------
    agn_saliency.acquire.download.DownloadFailed
        More files failed than ``max_failed_fraction`` accepts; the message names the server, the
        count, the reasons and what to do. Files that arrived are kept: a rerun fetches only the others.
    """
    import os

    from agn_saliency.acquire.catalog import read_catalog, shard_rows
    from agn_saliency.acquire.download import DownloadFailed, check_failures, summarize, write_manifest
    from agn_saliency.acquire.download import download_shard as fetch
    from agn_saliency.acquire.inventory import INVENTORY_COLUMNS, catalog_record
    from agn_saliency.io.tables import write_table

    log = _log("download_shard")
    rows = shard_rows(read_catalog(catalog), shard, n_shards)
    entries = fetch(rows, base_url, data_root, seed=seed, log=log, **transport)
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
    return entries


def summarise_downloads(*, manifests: list[str], summary_out: str) -> dict[str, int]:
    """Rule summarise_downloads: total ok / missing / failed / cached over every shard's manifest."""
    import json

    from agn_saliency.acquire.download import read_manifest, summarize
    from agn_saliency.core.files import write_text_atomic

    log = _log("summarise_downloads")
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


# ------------------------------------------------------------------------------ reduction


def reduce_shard(*, inventory: str, shard_out: str, rejected_out: str, reduce: dict[str, Any]) -> Any:
    """Rule reduce_shard: reduce one inventory shard onto the rest-frame grid (the AGN gate when
    ``reduce.agn_gate``); write the shard and its rejected list. Returns the ``reduce.ShardResult``."""
    from agn_saliency.io.cube import write_shard
    from agn_saliency.io.tables import read_table, write_table
    from agn_saliency.spectra.reduce import REJECTED_COLUMNS, ReductionParameters, reduce_inventory

    log = _log("reduce_shard")
    params = ReductionParameters.from_mapping(reduce)
    if params.agn_gate:
        from agn_saliency.spectra.gate import not_agn_reason
    result = reduce_inventory(read_table(inventory), params, gate=not_agn_reason if params.agn_gate else None)
    write_shard(shard_out, params.wavelength(), result.flux, result.ivar, result.mask, result.meta, params.norm_window)
    write_table(rejected_out, result.rejected, REJECTED_COLUMNS)
    log.info("%s: %d reduced, %d rejected", inventory, len(result.flux), len(result.rejected))
    for record in result.rejected:
        log.warning("rejected %s (%s): %s", record["specid"], record["source_file"], record["reason"])
    return result


REASON_NAMES = {"missing": "missing file", "failed": "failed download"}
"""How the inventory statuses read in a rejection count (any other reason is shown as it is)."""


def check_not_empty(shards: list[str], rejected_parts: list[str], n_reasons: int = 3) -> None:
    """Stop before writing a cube when no shard holds a spectrum, with the top rejection reasons.

    Raises
    ------
    ValueError
        "no spectrum could be reduced: 12 rejected — failed download: 12 (e.g. …)"; the per-shard
        lists name every spectrum with its reason.
    """
    from agn_saliency.io.cube import count_spectra
    from agn_saliency.io.tables import read_table

    if sum(count_spectra(path) for path in shards):
        return
    rejected = [row for part in rejected_parts for row in read_table(part)]
    counts = Counter(_reason_key(row["reason"]) for row in rejected)
    examples: dict[str, str] = {}
    for row in rejected:
        examples.setdefault(_reason_key(row["reason"]), str(row["reason"]))
    shown = ", ".join(
        f"{REASON_NAMES.get(key, key)}: {count} (e.g. {examples[key]!r})" for key, count in counts.most_common(n_reasons)
    )
    if len(counts) > n_reasons:
        shown += f", {len(counts) - n_reasons} other reason(s)"
    where = Path(rejected_parts[0]).parent / "rejected-*.ecsv" if rejected_parts else "the reduction logs"
    message = (
        f"no spectrum could be reduced: {len(rejected)} rejected — {shown or 'no input spectra'}; "
        f"each is listed with its reason in {where}"
    )
    _log("merge_cube").error("%s", message)
    raise ValueError(message)


def cube_provenance(config: dict[str, Any]) -> dict[str, Any]:
    """The sections of the run's config that say where the spectra came from and how they were reduced.

    Recorded in the cube as metadata, deliberately NOT a `params:` value: as a param, every key of
    these sections (download timeouts included) would rerun the merge and everything after it.
    What shapes the cube reaches it through the shards, whose rules have those values as params.
    """
    return {"data": config["data"], "reduce": config["reduce"], "seed": config["seed"]}


def merge_cube(
    *,
    shards: list[str],
    rejected_parts: list[str],
    cube_out: str,
    rejected_out: str,
    spectra_out: str,
    provenance: dict[str, Any],
) -> dict[str, int]:
    """Rule merge_cube: shards → one cube (``provenance`` and package versions as attributes), its
    per-spectrum table, and one rejected list sorted by catalog row (duplicate ids included).
    Returns the counts ``{"duplicates": …, "rejected": …}``."""
    from agn_saliency.io.cube import merge_shards, package_versions, write_spectra_table
    from agn_saliency.io.tables import read_table, write_table
    from agn_saliency.spectra.reduce import REJECTED_COLUMNS

    check_not_empty(shards, rejected_parts)
    duplicates = merge_shards(shards, cube_out, {"config": provenance, "versions": package_versions()})
    write_spectra_table(cube_out, spectra_out)
    rejected = [row for part in rejected_parts for row in read_table(part)] + duplicates
    rejected.sort(key=lambda row: int(row["row"]) if str(row["row"]).lstrip("-").isdigit() else 0)
    write_table(rejected_out, rejected, REJECTED_COLUMNS)
    reasons = Counter(_reason_key(row["reason"]) for row in rejected)
    _log("merge_cube").info("cube %s written; %d spectra rejected: %s", cube_out, len(rejected), dict(reasons))
    return {"duplicates": len(duplicates), "rejected": len(rejected)}


# ------------------------------------------------------------------------------ split and t-SNE


def split_sample(*, cube: str, split_out: str, test_fraction: float, validation_fraction: float, seed: int) -> np.ndarray:
    """Rule split_sample: stratified train / validation / test split of the cube's spectra by id.
    Returns the subset of every spectrum, in cube order."""
    from agn_saliency.io.cube import read_meta
    from agn_saliency.io.tables import write_table
    from agn_saliency.learn.split import SPLIT_COLUMNS, stratified_split

    meta = read_meta(cube, ("specid", "label"))  # only the ids and labels are needed
    specid, label = meta["specid"], meta["label"]
    subset = stratified_split(specid, label, test_fraction, validation_fraction, seed)
    write_table(split_out, [dict(zip(SPLIT_COLUMNS, row)) for row in zip(specid, label, subset)], SPLIT_COLUMNS)
    _log("split_sample").info("split: %s", dict(Counter(zip(subset, label))))
    return subset


def embed_task(
    *, cube: str, task: str, perplexity: float, seed: int, implementation: str, n_iter: int, early_exaggeration_iter: int,
    theta: float, pca_components: int, threads: int,
) -> Any:  # fmt: skip
    """Rule embed_tsne's computation: the t-SNE map (``embed.Embedding``) of the task's class set."""
    from agn_saliency.core.vocabulary import task_mask
    from agn_saliency.io.cube import read_cube
    from agn_saliency.learn.embed import Embedding, tsne_embedding

    spectra = read_cube(cube)
    label = spectra.meta["label"].astype(str)
    members = task_mask(label, task)
    xy = tsne_embedding(
        spectra.flux[members], perplexity, seed, implementation, n_iter, pca_components, threads, early_exaggeration_iter, theta
    )
    attrs = {"task": task, "perplexity": perplexity, "seed": seed, "implementation": implementation}
    _log("embed_tsne").info("t-SNE %s perplexity %g: %d spectra", task, perplexity, int(members.sum()))
    return Embedding(spectra.meta["specid"][members], label[members], xy, attrs)


# ------------------------------------------------------------------------------ classification


@dataclass
class GridResult:
    """What rule search_grid writes: the refitted best pipeline, its metadata and the CV table."""

    model: Any
    metadata: dict[str, Any]
    cv_table: list[dict[str, Any]]


def search_grid(
    *,
    cube: str,
    split: str,
    task: str,
    kernel: str,
    grid: dict[str, Any],
    cv_folds: int,
    calibration_folds: int,
    search_scores: str,
    scoring: str,
    scale_variance: bool,
    seed: int,
    threads: int,
) -> GridResult:
    """Rule search_grid's computation: grid search one kernel's pipeline on the training set
    (``classify.grid_search``), score the best on the validation set."""
    from agn_saliency.core.vocabulary import task_classes
    from agn_saliency.learn.classify import cv_results_table, evaluate, grid_search
    from agn_saliency.learn.dataset import load_task

    data = load_task(cube, split, task)
    train, validation = data.where("train"), data.where("validation")
    search = grid_search(
        train.flux, train.label, kernel, grid, cv_folds=cv_folds, scoring=scoring, seed=seed, n_jobs=threads,
        calibration_folds=calibration_folds, scale_variance=scale_variance, scores=search_scores,
    )  # fmt: skip
    model = search.best_estimator_
    scores = evaluate(model, validation.flux, validation.label, task_classes(task))
    metadata = {
        "task": task,
        "kernel": kernel,
        "class_names": [str(c) for c in model.classes_],
        "wavelength": data.wavelength.tolist(),
        "wavelength_unit": "Angstrom (rest frame, vacuum)",
        "best_params": {k.split("__")[-1]: v for k, v in search.best_params_.items()},
        "scoring": scoring,
        "scale_variance": scale_variance,
        "cv_best_score": float(search.best_score_),
        "n_train": len(train.label),
        "validation": {k: scores[k] for k in ("macro_f1", "accuracy", "balanced_accuracy")},
        "fitted_on": "train",
    }
    _log("search_grid").info(
        "%s %s: best %s, CV %s %.4f, validation macro F1 %.4f",
        task, kernel, search.best_params_, scoring, search.best_score_, scores["macro_f1"],
    )  # fmt: skip
    return GridResult(model, metadata, cv_results_table(search))


def write_grid_result(result: GridResult, *, model_out: str, metadata_out: str, cv_out: str) -> None:
    """Rule search_grid's outputs: the CV table (ECSV, times in s), the model and its metadata."""
    from agn_saliency.io.models import save_model
    from agn_saliency.io.tables import write_table

    table = result.cv_table
    write_table(cv_out, table, list(table[0]), units={c: "s" for c in table[0] if c.endswith("_time")})
    save_model(result.model, model_out, result.metadata, metadata_out)


def prediction_rows(
    specid: np.ndarray, true_label: np.ndarray, model_classes: np.ndarray, probabilities: np.ndarray
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and columns of a predictions table: ``specid``, ``true``, ``predicted`` and one ``p_<class>``
    per class in display order (:func:`agn_saliency.core.vocabulary.display_order`), whatever the order of
    the model's ``classes_`` (the columns of ``probabilities``).

    >>> rows, columns = prediction_rows(["a"], ["type2"], np.array(["type1", "type2"])[::-1], np.array([[0.9, 0.1]]))
    >>> columns, str(rows[0]["predicted"]), rows[0]["p_type1"]
    (['specid', 'true', 'predicted', 'p_type1', 'p_type2'], 'type2', '0.100000')
    """
    classes = [str(c) for c in model_classes]
    shown = display_order(classes)
    order = [classes.index(c) for c in shown]
    predicted = np.asarray(classes)[np.argmax(probabilities, axis=1)]
    rows = [
        {"specid": s, "true": t, "predicted": p, **{f"p_{c}": f"{q:.6f}" for c, q in zip(shown, prob[order])}}
        for s, t, p, prob in zip(specid, true_label, predicted, np.asarray(probabilities))
    ]
    return rows, ["specid", "true", "predicted", *probability_columns(classes)]


@dataclass
class Selection:
    """What rule select_model writes: the chosen (optionally refitted) model, its metadata, the test
    metrics and the test predictions (rows in display order)."""

    model: Any
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    predictions: list[dict[str, Any]]
    columns: list[str]


def select_model(*, cube: str, split: str, task: str, kernel_models: list[str], kernels: list[str], refit: bool) -> Selection:
    """Rule select_model's computation: choose the kernel on the validation set (ties: the simpler
    kernel), refit on train + validation if ``refit``, evaluate once on the test set."""
    from sklearn.base import clone

    from agn_saliency.core.vocabulary import task_classes
    from agn_saliency.io.models import load_model, select_kernel
    from agn_saliency.learn.classify import evaluate
    from agn_saliency.learn.dataset import load_task

    data = load_task(cube, split, task)
    candidates = dict(zip(kernels, (load_model(path) for path in kernel_models)))
    validation_scores = {k: meta["validation"]["macro_f1"] for k, (_, meta) in candidates.items()}
    kernel = select_kernel(validation_scores)
    model, metadata = candidates[kernel]
    if refit:
        fit_on = data.where("train", "validation")
        model = clone(model).fit(fit_on.flux, fit_on.label)
    test = data.where("test")
    metrics = evaluate(model, test.flux, test.label, task_classes(task))
    metrics.update(
        task=task,
        kernel=kernel,
        best_params=metadata["best_params"],
        validation_macro_f1=validation_scores,
        refit_on_train_validation=refit,
        n_test=len(test.label),
    )
    rows, columns = prediction_rows(test.specid, test.label, model.classes_, model.predict_proba(test.flux))
    metadata = {**metadata, "fitted_on": "train+validation" if refit else "train", "selected_from": validation_scores}
    _log("select_model").info(
        "%s: kernel %s (validation macro F1 %s); test macro F1 %.4f, accuracy %.4f",
        task, kernel, validation_scores, metrics["macro_f1"], metrics["accuracy"],
    )  # fmt: skip
    return Selection(model, metadata, metrics, rows, columns)


def write_selection(
    selection: Selection, *, model_out: str, metadata_out: str, metrics_out: str, report_out: str, predictions_out: str
) -> None:
    """Rule select_model's outputs: test predictions, model + metadata, classification report, metrics JSON."""
    import json

    from agn_saliency.core.files import write_text_atomic
    from agn_saliency.io.models import save_model
    from agn_saliency.io.tables import write_table

    write_table(predictions_out, selection.predictions, selection.columns)
    save_model(selection.model, model_out, selection.metadata, metadata_out)
    write_text_atomic(report_out, selection.metrics["classification_report"])
    write_text_atomic(metrics_out, json.dumps(selection.metrics, indent=1) + "\n")


# ------------------------------------------------------------------------------ explanation and prediction


def evaluate_faithfulness(
    *,
    model: str,
    cube: str,
    split: str,
    saliency: str,
    truth: list[str],
    task: str,
    table_out: str,
    curves_out: str,
    methods: dict[str, Any],
    steps: int,
    random_orders: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Rule evaluate_faithfulness: deletion/insertion, model randomisation and planted-signal checks of
    every attribution method, on the data the model was fitted on. Returns the summary table."""
    from agn_saliency.explain.faithfulness import SUMMARY_COLUMNS
    from agn_saliency.explain.maps import evaluate_faithfulness as evaluate
    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.io.models import load_model
    from agn_saliency.io.tables import read_table, write_table
    from agn_saliency.learn.dataset import load_task

    fitted, metadata = load_model(model)
    fit_on = ("train", "validation") if metadata.get("fitted_on") == "train+validation" else ("train",)
    train = load_task(cube, split, task).where(*fit_on)
    truth_rows = [row for path in truth for row in read_table(path)]
    table, curves = evaluate(
        fitted, train.flux, train.label, read_saliency(saliency), methods,
        steps=steps, random_orders=random_orders, seed=seed, truth_rows=truth_rows,
    )  # fmt: skip
    write_table(table_out, table, list(SUMMARY_COLUMNS), units={c: u for c, (u, _) in SUMMARY_COLUMNS.items() if c != "method"})
    write_table(curves_out, curves, ["method", "curve", "fraction", "p_mean", "p_std"])
    for row in table:
        _log("evaluate_faithfulness").info(
            "%s %s: deletion AOPC %.4f vs random %.4f (margin %+.4f); insertion margin %+.4f; randomisation ρ %.3f; "
            "planted top-%d %.3f vs chance %.3f", task, row["method"], row["deletion_aopc"], row["deletion_aopc_random"],
            row["deletion_margin"], row["insertion_margin"], row["randomisation_spearman"], row["top_k"],
            row["top_k_fraction"], row["top_k_chance"],
        )  # fmt: skip
    return table


def predict_folder(
    *,
    folder: str,
    fingerprint: str,
    model: str,
    cube: str,
    split: str,
    predictions_out: str,
    saliency_out: str,
    folder_out: str,
    reduce: dict[str, Any],
    methods: dict[str, Any],
    ood: dict[str, Any],
) -> list[dict[str, Any]]:
    """Rule predict_spectra: gate, classify and explain every FITS file of ``folder`` with a saved
    model (out-of-distribution scores calibrated on its test set). Returns the prediction rows."""
    import json

    from agn_saliency.core.files import write_text_atomic
    from agn_saliency.explain.maps import write_saliency
    from agn_saliency.io.models import load_model
    from agn_saliency.io.tables import write_table
    from agn_saliency.predict.folder import (
        PREDICTION_COLUMNS,
        PREDICTION_UNITS,
        calibrate_on_test,
        classify_folder,
        folder_record,
    )
    from agn_saliency.spectra.reduce import ReductionParameters

    log = _log("predict_spectra")
    fitted, metadata = load_model(model)
    calibration = calibrate_on_test(fitted, metadata, cube, split, **ood)
    rows, result = classify_folder(
        folder, fitted, ReductionParameters.from_mapping(reduce), methods=methods, ood_calibration=calibration
    )
    record = folder_record(folder, fingerprint, rows) | {"ood": calibration}
    write_saliency(saliency_out, result, attrs={"folder": record["folder"], "fingerprint": fingerprint})
    write_table(predictions_out, rows, PREDICTION_COLUMNS, units=PREDICTION_UNITS, meta={"ood": calibration})
    write_text_atomic(folder_out, json.dumps(record, indent=1) + "\n")
    for row in rows:
        if row["status"] != "ok":
            log.warning("%s %s: %s", row["status"], row["file"], row["reason"])
        if row["duplicate_of"]:
            log.warning("%s holds the same spectrum as %s", row["file"], row["duplicate_of"])
    log.info(
        "%s: %s; AGN gate %s", folder, dict(Counter(r["status"] for r in rows)), dict(Counter(r["agn_status"] for r in rows))
    )
    return rows
