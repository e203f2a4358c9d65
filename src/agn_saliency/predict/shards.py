"""Predict a folder in shards: one job per shard of its files, then one merge.

A file's shard is :func:`agn_saliency.acquire.inventory.path_shard` of its path relative to the
folder, so adding, changing or removing a file changes one shard only (its fingerprint,
:func:`agn_saliency.acquire.inventory.folder_fingerprint` with ``shard``) and Snakemake reruns that
shard and the merge. :func:`predict_shard` classifies a shard's files
(:func:`agn_saliency.predict.batch.classify_files`) and :func:`write_shard` keeps its rows (JSON)
and maps (HDF5); :func:`merge_shards` joins the shards in path order and recomputes what depends on
the whole folder — each file's ``key`` (unique across the folder) and ``duplicate_of`` (the first
file, by path, holding the same spectrum) — so the merged table and maps are the same for any
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
from agn_saliency.predict.folder import DEFAULT_LOW_CONFIDENCE_P_MAX, add_verdicts, file_sha256, repeated_spectra
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
    """Classify and explain one shard's files: rows, maps (:func:`classify_files`) and each file's SHA-256."""
    scan = shard_scan(folder, shard, n_shards)
    rows, result = classify_files(
        folder,
        model,
        params,
        methods=methods,
        ood_calibration=ood_calibration,
        low_confidence_p_max=low_confidence_p_max,
        scan=scan,
    )
    # as classify_folder: a file the inventory cannot use (a FIFO, no permission) is never opened
    digests = {
        row["file"]: "" if unusable_reason(unescape_name(row["file"])) else file_sha256(unescape_name(row["file"]))
        for row in rows
    }
    return rows, result, digests


def _json_safe(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_shard(rows_path: str | os.PathLike[str], saliency_path: str | os.PathLike[str], rows, result, digests) -> None:
    """Keep one shard's rows and digests (JSON, NaN as JSON's NaN) and maps (HDF5), each atomically."""
    write_saliency(saliency_path, result)
    payload = {"rows": [{k: _json_safe(v) for k, v in row.items()} for row in rows], "sha256": digests}
    write_text_atomic(rows_path, json.dumps(payload) + "\n")


def merge_shards(
    folder: str | os.PathLike[str],
    rows_paths: Sequence[str | os.PathLike[str]],
    saliency_paths: Sequence[str | os.PathLike[str]],
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
) -> tuple[list[dict[str, Any]], SaliencyResult]:
    """Join the shards of one folder (:func:`write_shard`'s files) into the folder's rows and maps,
    sorted by path, with ``key`` and ``duplicate_of`` over the whole folder (see the module docstring)."""
    if len(rows_paths) != len(saliency_paths):
        raise ValueError(f"{len(rows_paths)} row files but {len(saliency_paths)} saliency files")
    rows: list[dict[str, Any]] = []
    digests: dict[str, str] = {}
    for path in rows_paths:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        rows += payload["rows"]
        digests.update(payload["sha256"])
    rows.sort(key=lambda row: unescape_name(row["file"]))
    paths = [row["file"] for row in rows]
    if len(set(paths)) != len(paths):
        raise ValueError("a file is in two shards: the shards come from different shard counts or folders")
    keys = dict(zip(paths, file_keys(folder, [unescape_name(p) for p in paths])))
    ids = [(int(r["plate"]), int(r["mjd"]), int(r["fiberid"])) if r["plate"] != "" else None for r in rows]
    duplicates = dict(zip(paths, repeated_spectra(paths, ids, [digests.get(p, "") for p in paths])))
    for row in rows:
        row["key"], row["duplicate_of"] = keys[row["file"]], duplicates[row["file"]]
    add_verdicts(rows, low_confidence_p_max)

    parts = [read_saliency(path) for path in saliency_paths]
    files = np.concatenate([np.asarray(part.file if part.file is not None else [], dtype=object) for part in parts])
    order = sorted(range(len(files)), key=lambda i: unescape_name(str(files[i])))
    first = next((part for part in parts if len(part.specid)), parts[0]) if parts else None
    if first is None:
        raise ValueError("no shard to merge")

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
        file=files[order],
        key=np.array([keys[str(f)] for f in files[order]], dtype=object),
        attributions={m: np.concatenate([part.attributions[m] for part in parts])[order] for m in methods},
        completeness=np.concatenate([part.completeness for part in parts])[order] if first.completeness is not None else None,
    )
    return rows, result
