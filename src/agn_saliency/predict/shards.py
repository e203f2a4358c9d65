"""Predict a folder in shards: one job per shard of its files, then one merge.

A file's shard (with every spectrum it holds: all targets of a DESI file) is :func:`agn_saliency.acquire.inventory.path_shard` of its path relative to the
folder, so adding, changing or removing a file changes one shard only (its fingerprint,
:func:`agn_saliency.acquire.inventory.folder_fingerprint` with ``shard``) and Snakemake reruns that
shard and the merge. :func:`predict_shard` classifies a shard's files
(:func:`agn_saliency.predict.batch.classify_files`) and :func:`write_shard` keeps its rows (JSON)
and maps (HDF5); :func:`merge_shards` joins the shards in path order and recomputes what depends on
the whole folder — each row's ``key`` (unique across the folder) and ``duplicate_of`` (the first
file, by path, holding the same spectrum; a DESI coadd before a spectra file of the same targets)
— so the merged table and maps are the same for any
number of shards.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.acquire.inventory import FolderScan, file_keys, folder_scan, path_shard, unusable_reason
from agn_saliency.core.files import write_text_atomic
from agn_saliency.core.names import unescape_name
from agn_saliency.explain.maps import SaliencyResult, read_saliency, write_saliency
from agn_saliency.predict.batch import classify_files
from agn_saliency.predict.folder import DEFAULT_LOW_CONFIDENCE_P_MAX, file_sha256, finish_rows, public_rows
from agn_saliency.spectra.reduce import ReductionParameters


def shard_scan(folder: str | os.PathLike[str], shard: int, n_shards: int) -> FolderScan:
    """The files of ``folder`` in shard ``shard`` of ``n_shards`` (:func:`agn_saliency.acquire.inventory.path_shard`)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not in 0 … {n_shards - 1}")
    root = Path(folder)
    scan = folder_scan(root)
    files = [path for path in scan.files if path_shard(path.relative_to(root).as_posix(), n_shards) == shard]
    return dataclasses.replace(scan, files=files)


def predict_shard(
    folder: str | os.PathLike[str],
    shard: int,
    n_shards: int,
    model: Any,
    params: ReductionParameters,
    *,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    ood_calibration: Mapping[str, Any] | None = None,
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
) -> tuple[list[dict[str, Any]], SaliencyResult, dict[str, str]]:
    """Classify and explain one shard's files: rows (with their private ``_file_row`` and ``_format``,
    which :func:`merge_shards` needs), maps (:func:`classify_files`) and each file's SHA-256.

    Shards hold whole files: every target of a DESI file is in the file's shard."""
    scan = shard_scan(folder, shard, n_shards)
    rows, result = classify_files(
        folder,
        model,
        params,
        methods=methods,
        ood_calibration=ood_calibration,
        low_confidence_p_max=low_confidence_p_max,
        scan=scan,
        keep_private=True,
    )
    # as classify_folder: a file the inventory cannot use (a FIFO, no permission) is never opened; once per file
    files = dict.fromkeys(row["file"] for row in rows)
    digests = {file: "" if unusable_reason(unescape_name(file)) else file_sha256(unescape_name(file)) for file in files}
    return rows, result, digests


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_shard(
    rows_path: str | os.PathLike[str],
    saliency_path: str | os.PathLike[str],
    rows: list[dict[str, Any]],
    result: SaliencyResult,
    digests: Mapping[str, str],
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Keep one shard's rows, digests and ``meta`` (JSON, NaN as JSON's NaN) and maps (HDF5), each
    atomically (a killed job leaves no partial file: a plain rerun redoes the shard)."""
    write_saliency(saliency_path, result)
    payload = {
        "rows": [{k: _json_safe(v) for k, v in row.items()} for row in rows],
        "sha256": dict(digests),
        "meta": dict(meta or {}),
    }
    write_text_atomic(rows_path, json.dumps(payload) + "\n")


def merge_shards(
    folder: str | os.PathLike[str],
    rows_paths: Sequence[str | os.PathLike[str]],
    saliency_paths: Sequence[str | os.PathLike[str]],
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
) -> tuple[list[dict[str, Any]], SaliencyResult, dict[str, Any]]:
    """Join the shards of one folder (:func:`write_shard`'s files) into the folder's rows and maps,
    sorted by path and file row, with ``key`` and ``duplicate_of`` over the whole folder (see the
    module docstring); also the first shard's ``meta``."""
    if len(rows_paths) != len(saliency_paths):
        raise ValueError(f"{len(rows_paths)} row files but {len(saliency_paths)} saliency files")
    if not rows_paths:
        raise ValueError("no shard to merge")
    rows: list[dict[str, Any]] = []
    spectrum_of: list[dict[str, tuple[str, int]]] = []  # per shard: its key of a row -> (file, file row)
    digests: dict[str, str] = {}
    meta: dict[str, Any] = {}
    for path in rows_paths:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        rows += payload["rows"]
        spectrum_of.append({row["key"]: (row["file"], int(row["_file_row"])) for row in payload["rows"]})
        digests.update(payload["sha256"])
        meta = meta or payload.get("meta", {})
    if len({(row["file"], row["_file_row"]) for row in rows}) != len(rows):
        raise ValueError("a file is in two shards: the shards come from different shard counts or folders")
    paths = sorted({row["file"] for row in rows}, key=unescape_name)
    keys = dict(zip(paths, file_keys(folder, [unescape_name(p) for p in paths])))
    key_of = finish_rows(rows, digests, keys, low_confidence_p_max)
    position = {(row["file"], row["_file_row"]): i for i, row in enumerate(rows)}

    parts = [read_saliency(path) for path in saliency_paths]
    spectra = [spectrum_of[j][str(key)] for j, part in enumerate(parts) for key in (part.key if part.key is not None else [])]
    order = sorted(range(len(spectra)), key=lambda i: position[spectra[i]])
    first = next((part for part in parts if len(part.specid)), parts[0])

    def joined(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(getattr(part, name)) for part in parts])[order]

    methods = list(first.attributions)
    result = SaliencyResult(
        joined("specid"),
        joined("true_label"),
        joined("predicted_label"),
        joined("probabilities").reshape(len(order), len(first.class_names)),
        joined("saliency"),
        joined("flux"),
        first.wavelength,
        first.class_names,
        file=np.array([spectra[i][0] for i in order], dtype=object),
        key=np.array([key_of[spectra[i]] for i in order], dtype=object),
        survey=joined("survey").astype(str).astype(object),
        attributions={m: np.concatenate([part.attributions[m] for part in parts])[order] for m in methods},
        completeness=np.concatenate([part.completeness for part in parts])[order] if first.completeness is not None else None,
    )
    return public_rows(rows), result, meta


def write_fits_table(fits_path: str | os.PathLike[str], ecsv_path: str | os.PathLike[str]) -> None:
    """predictions.ecsv again as a FITS binary table (astropy; units and descriptions kept), atomically."""
    from astropy.table import Table

    from agn_saliency.core.files import atomic_output

    table = Table.read(ecsv_path, format="ascii.ecsv")
    with atomic_output(fits_path) as tmp:
        table.write(tmp, format="fits", overwrite=True)


FIGURE_CHOICES = ("all", "none", "selection")
"""``predict.figures``: a figure per accepted file, none, or a capped selection (:func:`figure_selection`)."""


def figure_selection(rows: Sequence[Mapping[str, Any]], figures: str, max_figures: int, seed: int) -> list[str]:
    """The keys of the files predict draws a saliency figure for (only files with maps: not rejected).

    ``selection`` takes at most ``max_figures``, in this order: out-of-distribution files (highest
    ``ood_score`` first), then those the AGN gate calls ``uncertain``, then low-confidence ones
    (lowest ``p_max`` first), then a random sample (``seed``) of the rest. Returned in path order.

    >>> rows = [{"key": k, "status": s, "agn_status": a, "confidence": c, "p_max": p, "ood_score": o}
    ...         for k, s, a, c, p, o in [("a", "ok", "agn", "high", 0.9, 1.0), ("b", "ood", "agn", "high", 0.9, 9.0),
    ...                                  ("c", "ok", "uncertain", "high", 0.8, 1.0), ("d", "ok", "agn", "low", 0.4, 1.0),
    ...                                  ("e", "rejected", "uncertain", "", "", "")]]
    >>> figure_selection(rows, "selection", 3, 0), figure_selection(rows, "all", 0, 0), figure_selection(rows, "none", 9, 0)
    (['b', 'c', 'd'], ['a', 'b', 'c', 'd'], [])
    """
    if figures not in FIGURE_CHOICES:
        raise ValueError(f"predict.figures must be one of {FIGURE_CHOICES}, got {figures!r}")
    accepted = [row for row in rows if row["status"] != "rejected"]
    if figures == "none":
        return []
    if figures == "all":
        return [str(row["key"]) for row in accepted]
    ood = sorted((r for r in accepted if r["status"] == "ood"), key=lambda r: -float(r["ood_score"]))
    rest = [r for r in accepted if r["status"] != "ood"]
    uncertain = [r for r in rest if r["agn_status"] == "uncertain"]
    rest = [r for r in rest if r["agn_status"] != "uncertain"]
    low = sorted((r for r in rest if r["confidence"] == "low"), key=lambda r: float(r["p_max"]))
    rest = [r for r in rest if r["confidence"] != "low"]
    shuffled = [rest[i] for i in np.random.default_rng(seed).permutation(len(rest))]
    chosen = {str(r["key"]) for r in (ood + uncertain + low + shuffled)[: max(int(max_figures), 0)]}
    return [str(row["key"]) for row in accepted if str(row["key"]) in chosen]
