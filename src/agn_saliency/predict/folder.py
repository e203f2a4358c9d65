"""Classify and explain a folder of SDSS and DESI spectra nobody labelled, with a persisted model.

Every spectrum of the folder gets one row — one per SDSS file, whatever it holds, one per FIBERMAP
row of a DESI coadd or spectra file (:mod:`agn_saliency.spectra.files`; a DESI redrock file is read
with its coadd and gets none) — with the AGN gate's verdict and evidence
(:mod:`agn_saliency.spectra.gate`: the classifier only knows AGN classes, so it cannot say a galaxy is
not an AGN) and, for reducible spectra, the class probabilities, every attribution method's maps
and an out-of-distribution score (:mod:`agn_saliency.predict.ood`): ``status`` is ``ood`` (probabilities
still given) when the spectrum is less like the training set than the ``ood_quantile`` of the
held-out test spectra, or when the model can only answer with its intercept. Two files may hold the same spectrum
(a copy, or an edited copy with the same header ids); both are classified, the later one (by path)
names the first in ``duplicate_of`` (a DESI coadd counts as first before the spectra file of the
same targets, whatever the paths), and every artefact is keyed by file (a DESI target's key adds ``__<TARGETID>``) (:func:`agn_saliency.acquire.inventory.file_keys`),
never by spectrum id, so none overwrites another. File names are written escaped
(:func:`agn_saliency.core.names.escape_name`), so any name survives the tables; a file that cannot
be read (no permission, a dangling link, a decompression bomb) gets its row with the reason and
the rest of the folder completes.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.acquire.inventory import file_keys, scan_folder
from agn_saliency.core.columns import TABLES, VERDICTS
from agn_saliency.core.names import unescape_name
from agn_saliency.core.vocabulary import CLASS_NAMES, display_order, most_probable
from agn_saliency.explain.maps import ExplainedSpectra, SaliencyResult, explain_batch
from agn_saliency.io import fits
from agn_saliency.predict.ood import DEFAULT_K, kernel_underflow, ood_scores, ood_scores_near_support, underflow_of_decisions
from agn_saliency.spectra.gate import GATE_COLUMNS, assess_file, assess_spectrum, read_spzline, unassessed
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory
from agn_saliency.spectra.sdss import SpectrumReadError

PREDICTION_COLUMNS = (
    (
        "file",
        "key",
        "survey",
        "specid",
        "plate",
        "mjd",
        "fiberid",
        "desi_survey",
        "program",
        "healpix",
        "z",
        "verdict",
        "status",
        "reason",
        "duplicate_of",
        "predicted",
    )
    + tuple(f"p_{c}" for c in CLASS_NAMES)
    + ("p_max", "confidence", "ood_score")
    + tuple(GATE_COLUMNS)
)
"""Columns of predictions.ecsv: one row per spectrum of the folder (per FITS file, per FIBERMAP row of a DESI file), sorted by path (described in
:data:`agn_saliency.core.columns.TABLES` ``["predictions"]``)."""

PREDICTION_UNITS = TABLES["predictions"].units(PREDICTION_COLUMNS)
"""Units of the numeric columns of predictions.ecsv ("" = dimensionless)."""

DEFAULT_LOW_CONFIDENCE_P_MAX = 0.6
"""``predict.low_confidence_p_max``'s default: below it a class is the model's best guess only."""

SINGLE_PRECISION_METHODS: tuple[str, ...] = ("smoothgrad",)
"""Attribution methods predict computes with their kernel matrices in float32
(``attribute(..., precision="single")``; the maps are stored as float32 either way). Measured by
``benchmarks/attribution_precision.py`` (300 simulated spectra, the rbf model of the predict
benchmarks, one BLAS thread): SmoothGrad's stored maps move by at most 4.6e-7 (bound 1e-4) and it
runs 1.18x faster. Not the others: the gradients cost more in float32 than they save (the casts),
and integrated gradients' completeness error grows from 3e-9 to 1e-5, above its 1e-6 tolerance, so
its refinement runs to 512 nodes (2.8x slower). The training run's explain stage stays in double."""


def verdict(row: Mapping[str, Any]) -> str:
    """Can the class of one prediction row be used? The first that applies of
    :data:`agn_saliency.core.columns.VERDICTS`: ``rejected`` (not reduced), ``not_agn`` (the AGN
    gate), ``ood`` (out of the training distribution), ``uncertain`` (the gate cannot tell), else
    ``classified`` (gate ``agn``, in distribution, reduced).

    >>> verdict({"status": "ok", "agn_status": "not_agn"}), verdict({"status": "ok", "agn_status": "agn"})
    ('not_agn', 'classified')
    """
    if row["status"] == "rejected":
        return "rejected"
    if row["agn_status"] == "not_agn":
        return "not_agn"
    if row["status"] == "ood":
        return "ood"
    if row["agn_status"] != "agn":
        return "uncertain"
    return "classified"


def add_verdicts(rows: list[dict[str, Any]], low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX) -> list[dict[str, Any]]:
    """Fill ``verdict``, ``p_max`` and ``confidence`` (``low`` below ``low_confidence_p_max``, else
    ``high``; empty without probabilities) of finished prediction rows, in place; returns them."""
    for row in rows:
        probabilities = [float(row[f"p_{c}"]) for c in CLASS_NAMES if row.get(f"p_{c}", "") != ""]
        row["verdict"] = verdict(row)
        row["p_max"] = max(probabilities) if probabilities else ""
        row["confidence"] = "" if not probabilities else ("low" if max(probabilities) < low_confidence_p_max else "high")
    return rows


def file_digest(path: str | os.PathLike[str]) -> str:
    """The content digest of a file's bytes on disk (:func:`agn_saliency.io.fits.content_digest`:
    ``xxh3_128:…``, the value that function gives of the same bytes); ``""`` when it cannot be read
    (its row says why)."""
    try:
        return fits.file_content_digest(path)
    except OSError:
        return ""


def repeated_spectra(paths: Sequence[str], ids: Sequence[tuple[int, int, int] | None], digests: Sequence[str]) -> list[str]:
    """For each file, the first file (in the given order) that holds the same spectrum, else ``""``.

    Two files hold the same spectrum when they share (plate, mjd, fiberid) — ``None`` (unknown
    ids) matches nothing — or their bytes (``digests``). Matches chain: a file that repeats a
    repeat names the first of them all.

    Parameters
    ----------
    paths
        The files, in the order that decides which one is first (sorted paths).
    ids
        Each file's (plate, mjd, fiberid), or None.
    digests
        Each file's content digest (:func:`file_digest`); ``""`` (unreadable) matches nothing; digests
        of different hashes (``sha256:…``, ``xxh3_128:…``) never match.
    """
    if not len(paths) == len(ids) == len(digests):
        raise ValueError(f"paths, ids and digests differ in length ({len(paths)}, {len(ids)}, {len(digests)})")
    first_of: dict[tuple[str, Any], int] = {}
    root: list[int] = []
    for i, (spectrum_ids, digest) in enumerate(zip(ids, digests)):
        keys = ([("bytes", digest)] if digest else []) + ([("ids", tuple(spectrum_ids))] if spectrum_ids is not None else [])
        matches = [root[first_of[key]] for key in keys if key in first_of]
        root.append(min(matches, default=i))
        for key in keys:
            first_of.setdefault(key, i)
    return [paths[r] if r != i else "" for i, r in enumerate(root)]


def ood_verdicts(
    model: Any,
    flux: np.ndarray,
    calibration: Mapping[str, Any] | None,
    underflow: np.ndarray | None = None,
    explained: ExplainedSpectra | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Each spectrum's ``ood_score`` and the reason it is out of distribution ("" when it is not).

    Parameters
    ----------
    calibration
        :func:`agn_saliency.predict.ood.calibrate_ood`'s record (``threshold``, ``quantile``, ``k``); None
        flags only spectra whose every kernel value underflows.
    underflow
        :func:`agn_saliency.predict.ood.kernel_underflow` of ``flux`` if already known
        (:func:`agn_saliency.predict.ood.underflow_of_decisions`); computed here otherwise.
    explained
        ``flux``'s :func:`agn_saliency.explain.maps.explain_batch` with its ``support_distances``: the
        scores then use them (:func:`agn_saliency.predict.ood.ood_scores_near_support`).
    """
    if not len(flux):
        return np.zeros(0), []
    k = int(calibration["k"]) if calibration else DEFAULT_K
    if explained is not None and explained.support_distances is not None:
        scores = ood_scores_near_support(model, explained.model, flux, explained.support_distances, k=k)
    else:
        scores = ood_scores(model, flux, k=k)
    if underflow is None:
        underflow = kernel_underflow(model, flux)
    reasons = []
    for score, answers_intercept in zip(scores, underflow):
        if answers_intercept:
            reasons.append("every kernel value against the support vectors underflows: the model answers with its intercept")
        elif calibration and score > calibration["threshold"]:
            reasons.append(
                f"ood_score {score:.3g} > {calibration['threshold']:.3g}, the {calibration['quantile']:g} quantile "
                "of held-out training spectra"
            )
        else:
            reasons.append("")
    return scores, reasons


def classify_folder(
    folder: str | os.PathLike[str],
    model: Any,
    params: ReductionParameters,
    *,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    ood_calibration: Mapping[str, Any] | None = None,
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
) -> tuple[list[dict[str, Any]], SaliencyResult]:
    """Reduce every FITS file below ``folder``, gate it, classify the reducible ones and explain them.

    The model must have been trained on the same rest-frame grid as ``params`` describes.

    Parameters
    ----------
    methods
        Attribution method → options (:func:`agn_saliency.explain.maps.attribution_options`); default
        the paper's gradient only.
    ood_calibration
        The OOD threshold record (:func:`agn_saliency.predict.ood.calibrate_ood`).
    low_confidence_p_max
        ``confidence`` is ``low`` below this highest class probability (:func:`add_verdicts`).

    Returns
    -------
    rows
        One per file, sorted by path (:data:`PREDICTION_COLUMNS`): the ``verdict`` to filter on
        (:func:`verdict`), ``status`` ``ok``, ``ood`` or
        ``rejected`` with the reason, ``key`` the file's unique artefact name, ``duplicate_of``
        the first file holding the same spectrum (:func:`repeated_spectra`) or empty, the AGN
        gate's verdict and evidence (every file it can read).
    result
        Maps of the accepted spectra (``true_label`` empty), classes in display order, with
        each row's ``file`` and ``key``.
    """
    _desi_file_ids.cache_clear()  # files may have changed since the last folder
    inventory = sorted(scan_folder(folder), key=lambda row: unescape_name(row["path"]))
    verdicts: dict[tuple[str, str, str], dict[str, Any]] = {}

    def gate_while_read(spectrum: Any, z: float, path: Path) -> None:
        # the AGN gate's verdict while the file's bytes are at hand (read once); none is dropped
        try:
            spzline = read_spzline(path) if spectrum.survey == "sdss" else None  # DESI files have no SPZLINE
        except SpectrumReadError:
            spzline = None
        verdicts[(str(path), spectrum.survey, spectrum.specid)] = assess_spectrum(spectrum, z, spzline)

    reduced = reduce_inventory(inventory, dataclasses.replace(params, agn_gate=False), gate=gate_while_read)

    def gate_rejected(record: Mapping[str, Any], source: Mapping[str, Any], survey: str) -> dict[str, Any]:
        if str(record["reason"]).startswith("unreadable") or survey != "sdss":
            # an unreadable file is not read again (a bomb would cost its cap twice); a DESI row
            # without a usable spectrum (sky, bad fibre, no target, no redshift) has nothing to gate
            return unassessed(record["reason"])
        return assess_file(unescape_name(source["path"]))  # never raises

    rows, result = prediction_rows(
        folder, model, params, inventory, reduced, verdicts, methods or {"gradient": {}}, ood_calibration,
        low_confidence_p_max, desi_ids=_desi_file_ids, gate_rejected=gate_rejected,
    )  # fmt: skip
    return public_rows(rows), result


def prediction_rows(
    folder: str | os.PathLike[str],
    model: Any,
    params: ReductionParameters,
    inventory: Sequence[Mapping[str, Any]],
    reduced: Any,
    verdicts: Mapping[tuple[str, str, str], dict[str, Any]],
    methods: Mapping[str, Mapping[str, Any]],
    ood_calibration: Mapping[str, Any] | None,
    low_confidence_p_max: float,
    *,
    desi_ids: Callable[[str], Mapping[str, Any]],
    gate_rejected: Callable[[Mapping[str, Any], Mapping[str, Any], str], dict[str, Any]],
    digest_of: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, Any]], SaliencyResult]:
    """Classify, flag and explain the spectra ``reduce_inventory`` made of ``inventory``, one row per
    spectrum and per rejection, finished (:func:`finish_rows`) but still with the private fields.

    The part :func:`classify_folder` and :func:`agn_saliency.predict.batch.classify_files` share;
    they differ in how files are read and gated: ``verdicts`` holds the gate's verdict of every
    reduced spectrum by (unescaped path, survey, specid), ``desi_ids`` gives a DESI file's
    ``desi_survey``, ``program``, ``healpix`` and ``file_format`` (escaped path) and
    ``gate_rejected(record, inventory row, survey)`` the gate columns of a rejected one;
    ``digest_of`` each file's content digest (:func:`file_digest`, ``""`` for a file the inventory cannot
    use) by escaped path, when the caller has them (computed here otherwise).
    """
    paths = [str(row["path"]) for row in inventory]  # escaped text: what the tables hold
    keys = dict(zip(paths, file_keys(folder, [unescape_name(path) for path in paths])))
    by_file = {str(row["path"]): row for row in inventory}
    if digest_of is None:
        digest_of = {
            str(row["path"]): file_digest(unescape_name(row["path"])) if row["status"] == "ok" else "" for row in inventory
        }
    n_features = getattr(model, "n_features_in_", reduced.flux.shape[1])
    if n_features != params.n_pixels:
        raise ValueError(
            f"the model expects {n_features} pixels, the reduction grid has {params.n_pixels}: use the training run's reduce settings"
        )
    classes = display_order([str(c) for c in model.classes_])
    explained = explain_batch(
        model, reduced.flux, classes, methods, single_precision=SINGLE_PRECISION_METHODS, support_distances=True
    )
    probabilities, gradient, maps, completeness = (
        explained.probabilities, explained.gradient, explained.attributions, explained.completeness
    )  # fmt: skip
    # the kernel's underflow from the decision values the maps were computed with (not a kernel matrix again)
    underflow = underflow_of_decisions(explained.model, explained.decisions) if len(reduced.flux) else None
    scores, ood_reasons = ood_verdicts(model, reduced.flux, ood_calibration, underflow, explained)
    predicted = most_probable(probabilities, classes).astype(object) if len(probabilities) else np.array([], dtype=object)
    sources = [str(source) for source in reduced.meta["source_file"]]
    rows: list[dict[str, Any]] = []
    # column by column as Python values (one tolist a column, not a numpy scalar a cell): the same values
    meta = {name: reduced.meta[name].tolist() for name in ("survey", "specid", "file_row", "plate", "mjd", "fiberid")}
    meta |= {name: reduced.meta[name].tolist() for name in ("desi_survey", "program", "healpix", "z")}
    p_names = [f"p_{c}" for c in classes]
    for i, (source, p_row, score) in enumerate(zip(sources, probabilities.tolist(), scores.tolist())):
        survey, specid = str(meta["survey"][i]), str(meta["specid"][i])
        rows.append(
            {
                "file": source,
                "_file_row": int(meta["file_row"][i]),
                "_format": desi_ids(source)["file_format"] if survey == "desi" else "",
                "survey": survey,
                "specid": specid,
                **_plate_ids(survey, meta["plate"][i], meta["mjd"][i], meta["fiberid"][i]),
                "desi_survey": str(meta["desi_survey"][i]),
                "program": str(meta["program"][i]),
                "healpix": int(meta["healpix"][i]) if survey == "desi" else "",
                "z": round(float(meta["z"][i]), 5),
                "status": "ood" if ood_reasons[i] else "ok",
                "reason": ood_reasons[i],
                "predicted": predicted[i],
                **{name: round(p, 4) for name, p in zip(p_names, p_row)},
                "ood_score": round(score, 4),
                **verdicts[(unescape_name(source), survey, specid)],
            }
        )
    for record in reduced.rejected:
        source = by_file[str(record["source_file"])]
        survey = str(record.get("survey") or source.get("survey") or "sdss")
        whole_file = record.get("file_row", "") == ""
        ids = {"desi_survey": "", "program": "", "healpix": ""}
        if survey == "desi" and not whole_file:
            ids = {name: desi_ids(str(source["path"]))[name] for name in ids}
        rows.append(
            {
                "file": source["path"],
                "_file_row": -1 if whole_file else int(record["file_row"]),
                "_format": desi_ids(str(source["path"]))["file_format"] if survey == "desi" else "",
                "survey": survey,
                "specid": str(record.get("specid", "") or ""),
                **(
                    {"plate": source["plate"], "mjd": source["mjd"], "fiberid": source["fiberid"]}
                    if survey == "sdss"
                    else {"plate": "", "mjd": "", "fiberid": ""}
                ),
                **ids,
                "z": "",
                "status": "rejected",
                "reason": record["reason"],
                "predicted": "",
                **gate_rejected(record, source, survey),
            }
        )
    key_of = finish_rows(rows, digest_of, keys, low_confidence_p_max)
    files_with_rows = {row["file"] for row in rows}
    if files_with_rows != set(paths) or len({row["key"] for row in rows}) != len(rows):
        raise RuntimeError(
            f"{folder}: {len(inventory)} files gave rows for {len(files_with_rows)}"
        )  # every file, one key per row
    result = SaliencyResult(
        reduced.meta["specid"].astype(str),
        np.full(len(predicted), "", dtype=object),
        predicted,
        probabilities,
        gradient,
        reduced.flux,
        params.wavelength(),
        classes,
        file=np.array(sources, dtype=object),
        key=np.array([key_of[(s, int(r))] for s, r in zip(sources, reduced.meta["file_row"])], dtype=object),
        survey=reduced.meta["survey"].astype(str).astype(object),
        attributions=maps,
        completeness=completeness,
    )
    return rows, result


def finish_rows(
    rows: list[dict[str, Any]],
    digest_of: Mapping[str, str],
    keys: Mapping[str, str],
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
) -> dict[tuple[str, int], str]:
    """Finish prediction rows that still carry their private ``_file_row`` and ``_format``, in place:
    ``duplicate_of`` (over these rows), sorted by path and file row, ``key`` (from each file's
    ``keys`` entry) and the verdicts (:func:`add_verdicts`). Returns each row's key by (file, file row).

    ``digest_of`` holds each file's content digest (:func:`file_digest`; escaped path as the rows)."""
    folder_fields(rows, digest_of, keys)
    add_verdicts(rows, low_confidence_p_max)
    return {(row["file"], row["_file_row"]): row["key"] for row in rows}


def folder_fields(rows: list[dict[str, Any]], digest_of: Mapping[str, str], keys: Mapping[str, str]) -> None:
    """What :func:`finish_rows` fills over the whole folder, in place: ``duplicate_of``, the order
    (by path and file row) and ``key``. Needs of each row only ``file``, ``_file_row``, ``_format``,
    ``survey``, ``specid`` and ``plate``: a merge passes those alone (not whole rows) for a large folder."""
    _mark_duplicates(rows, digest_of)
    rows.sort(key=lambda row: (unescape_name(row["file"]), row["_file_row"]))
    _name_rows(rows, keys)


def public_rows(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Finished rows (:func:`finish_rows`) without their private fields, in :data:`PREDICTION_COLUMNS` order."""
    return [{name: row[name] for name in (*PREDICTION_COLUMNS, *row) if name in row and not name.startswith("_")} for row in rows]


def _plate_ids(survey: str, plate: Any, mjd: Any, fiberid: Any) -> dict[str, Any]:
    if survey != "sdss":
        return {"plate": "", "mjd": "", "fiberid": ""}
    return {"plate": int(plate), "mjd": int(mjd), "fiberid": int(fiberid)}


@functools.lru_cache(maxsize=64)
def _desi_file_ids(path: str) -> dict[str, Any]:
    """DESI survey, program, healpix (its primary header) and layout (``desi-coadd`` or
    ``desi-spectra``) of a DESI file (escaped path); empty values when it cannot be read."""
    from agn_saliency.spectra.files import read_file

    try:
        items = read_file(unescape_name(path)).items
    except SpectrumReadError:
        items = []
    ids = items[0].ids if items else {}
    return {
        "desi_survey": ids.get("desi_survey", ""),
        "program": ids.get("program", ""),
        "healpix": ids.get("healpix", ""),
        "file_format": items[0].file_format if items else "",
    }


def _mark_duplicates(rows: list[dict[str, Any]], digest_of: Mapping[str, str]) -> None:
    """Fill ``duplicate_of`` of prediction rows: the first file holding the same spectrum
    (:func:`repeated_spectra`), where a DESI coadd comes before a DESI spectra file of the same
    targets, then by path and file row."""
    order = sorted(
        range(len(rows)),
        key=lambda i: (rows[i]["_format"] == "desi-spectra", unescape_name(rows[i]["file"]), rows[i]["_file_row"]),
    )
    paths = [rows[i]["file"] for i in order]
    ids = [(rows[i]["survey"], rows[i]["specid"]) if rows[i]["specid"] and _has_ids(rows[i]) else None for i in order]
    digests = [
        (digest_of.get(rows[i]["file"], "") + (f":{rows[i]['_file_row']}" if rows[i]["_file_row"] > 0 else ""))
        if digest_of.get(rows[i]["file"], "")
        else ""
        for i in order
    ]
    for i, first in zip(order, repeated_spectra(paths, ids, digests)):
        rows[i]["duplicate_of"] = first


def _has_ids(row: Mapping[str, Any]) -> bool:
    """Whether a row's ``specid`` names a spectrum (an SDSS file whose ids are unknown has its file name there)."""
    return row["survey"] != "sdss" or row.get("plate", "") != ""


def _name_rows(rows: list[dict[str, Any]], keys: Mapping[str, str]) -> None:
    """Fill ``key``: the file's key (:func:`agn_saliency.acquire.inventory.file_keys`), a DESI target's
    followed by ``__<TARGETID>`` (``__row<N>`` without one); a repeat gets ``-2``, ``-3``, …"""
    used: set[str] = set()
    for row in rows:
        base = keys[row["file"]]
        if row["survey"] == "desi" and row["_file_row"] >= 0:
            base += f"__{row['specid']}" if row["specid"] else f"__row{row['_file_row']}"
        key, number = base, 1
        while key.casefold() in used:
            number += 1
            key = f"{base}-{number}"
        used.add(key.casefold())
        row["key"] = key


def calibrate_on_test(
    model: Any,
    metadata: Mapping[str, Any],
    cube: str | os.PathLike[str],
    split: str | os.PathLike[str],
    *,
    quantile: float,
    k: int,
) -> dict[str, Any]:
    """The OOD threshold of ``model``: the ``quantile`` of the ood_score of the run's held-out test
    spectra of the model's task (never fitted on; :func:`agn_saliency.predict.ood.calibrate_ood`)."""
    from agn_saliency.learn.dataset import load_task
    from agn_saliency.predict.ood import calibrate_ood

    task = metadata.get("task") or ("binary" if len(model.classes_) == 2 else "multiclass")
    test = load_task(cube, split, task).where("test")
    return calibrate_ood(model, test.flux, quantile=quantile, k=k, calibrated_on=f"the {task} test spectra of {cube}")


def verdict_lines(row: Mapping[str, Any]) -> tuple[str, ...]:
    """The lines a prediction figure adds to its title: the verdict, the AGN gate and the OOD flag of ``row``."""
    gate = f"verdict {row.get('verdict') or verdict(row)}; AGN gate: {row['agn_status']}" + (
        f" ({row['gate_reason']})" if row.get("gate_reason") else ""
    )
    if row["status"] == "ood":
        ood = f"OUT OF DISTRIBUTION: {row['reason']}"
    else:
        ood = f"in distribution (ood_score {row['ood_score']})"
    return (gate, ood)


def folder_record(
    folder: str | os.PathLike[str],
    fingerprint: str,
    rows: Iterable[Mapping[str, Any]],
    skipped: Sequence[tuple[str, str]] = (),
) -> dict[str, Any]:
    """What ``folder.json`` says about a predicted folder: its absolute path, the fingerprint of its
    files (:func:`agn_saliency.acquire.inventory.folder_fingerprint`), the counts of the rows, and
    what the search skipped with the reason (:attr:`agn_saliency.acquire.inventory.FolderScan.skipped`:
    unreadable sub-folders, link loops, hidden FITS files; paths escaped)."""
    from agn_saliency.core.names import escape_name

    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:  # one pass: ``rows`` may be an iterator
        counts.update([("status", row["status"]), ("verdict", row.get("verdict")), ("agn_status", row["agn_status"])])
        counts["duplicates", ""] += bool(row["duplicate_of"])
        counts["files", ""] += 1
    return {
        "folder": escape_name(str(Path(folder).resolve())),
        "fingerprint": fingerprint,
        "files": counts["files", ""],
        "ok": counts["status", "ok"],
        "rejected": counts["status", "rejected"],
        "ood": counts["status", "ood"],
        "verdict": {name: counts["verdict", name] for name in VERDICTS},
        "agn_status": {status: counts["agn_status", status] for status in ("agn", "not_agn", "uncertain")},
        "duplicates": counts["duplicates", ""],
        "skipped": len(skipped),
        "skipped_paths": [{"path": escape_name(path), "reason": reason} for path, reason in skipped],
    }


def rejection_line(record: Mapping[str, Any], table: str | os.PathLike[str]) -> str | None:
    """The one line a predict run prints on the terminal when files got no usable class, else ``None``.

    ``record`` is :func:`folder_record`'s; the files counted are those whose ``verdict`` is
    ``rejected`` (not read or not reduced: unreadable, not a spectrum, outside the grid) or
    ``not_agn`` (the AGN gate finds no AGN); ``table`` (predictions.ecsv) says why, row by row.

    >>> record = {"files": 14, "verdict": {"rejected": 2, "not_agn": 3, "ood": 1}}
    >>> rejection_line(record, "results/predict/x/predictions.ecsv")
    '5 of 14 files rejected (verdict rejected: 2, not_agn: 3), see results/predict/x/predictions.ecsv (columns reason, gate_reason)'
    """
    counts = {name: int(record["verdict"].get(name, 0)) for name in ("rejected", "not_agn")}
    total = sum(counts.values())
    if not total:
        return None
    shown = ", ".join(f"{name}: {count}" for name, count in counts.items() if count)
    return f"{total} of {record['files']} files rejected (verdict {shown}), see {table} (columns reason, gate_reason)"
