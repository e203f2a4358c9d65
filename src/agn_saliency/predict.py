"""Classify and explain a folder of SDSS spectra nobody labelled, with a persisted model.

Every file of the folder gets one row, whatever it holds: two files may hold the same spectrum
(a copy, or an edited copy with the same header ids); both are classified, the later one (by path)
names the first in ``duplicate_of``, and every artefact is keyed by file (:func:`agn_saliency.inventory.file_keys`),
never by spectrum id, so none overwrites another.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from . import CLASS_NAMES
from .explain import SaliencyResult
from .inventory import file_keys, scan_folder
from .reduce import ReductionParameters, reduce_inventory
from .saliency import probabilities_and_saliency

PREDICTION_COLUMNS = ("file", "key", "plate", "mjd", "fiberid", "z", "status", "reason", "duplicate_of", "predicted") + tuple(
    f"p_{c}" for c in CLASS_NAMES
)
"""Columns of predictions.ecsv: one row per FITS file of the folder, sorted by path."""


def file_sha256(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


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
        Each file's content hash (:func:`file_sha256`).
    """
    if not len(paths) == len(ids) == len(digests):
        raise ValueError(f"paths, ids and digests differ in length ({len(paths)}, {len(ids)}, {len(digests)})")
    first_of: dict[tuple[str, Any], int] = {}
    root: list[int] = []
    for i, (spectrum_ids, digest) in enumerate(zip(ids, digests)):
        keys = [("bytes", digest)] + ([("ids", tuple(spectrum_ids))] if spectrum_ids is not None else [])
        matches = [root[first_of[key]] for key in keys if key in first_of]
        root.append(min(matches, default=i))
        for key in keys:
            first_of.setdefault(key, i)
    return [paths[r] if r != i else "" for i, r in enumerate(root)]


def classify_folder(
    folder: str | os.PathLike[str], model: Any, params: ReductionParameters
) -> tuple[list[dict[str, Any]], SaliencyResult]:
    """Reduce every FITS file below ``folder``, classify the reducible ones and compute their saliency.

    The model must have been trained on the same rest-frame grid as ``params`` describes.

    Returns
    -------
    rows
        One per file, sorted by path (:data:`PREDICTION_COLUMNS`): ``status`` ``ok`` or ``rejected``
        with the reason, ``key`` the file's unique artefact name, ``duplicate_of`` the first file
        holding the same spectrum (:func:`repeated_spectra`) or empty.
    result
        Saliency of the accepted spectra (``true_label`` empty), classes in display order, with
        each row's ``file`` and ``key``.
    """
    inventory = sorted(scan_folder(folder), key=lambda row: row["path"])
    paths = [str(row["path"]) for row in inventory]
    keys = dict(zip(paths, file_keys(folder, paths)))
    ids = [(int(row["plate"]), int(row["mjd"]), int(row["fiberid"])) if row["plate"] != "" else None for row in inventory]
    duplicate_of = dict(zip(paths, repeated_spectra(paths, ids, [file_sha256(path) for path in paths])))
    reduced = reduce_inventory(inventory, params)
    n_features = getattr(model, "n_features_in_", reduced.flux.shape[1])
    if n_features != params.n_pixels:
        raise ValueError(
            f"the model expects {n_features} pixels, the reduction grid has {params.n_pixels}: use the training run's reduce settings"
        )
    model_classes = [str(c) for c in model.classes_]
    classes = [c for c in CLASS_NAMES if c in model_classes]
    if len(reduced.flux):
        probabilities, maps = probabilities_and_saliency(model, reduced.flux)
        order = [model_classes.index(c) for c in classes]
        probabilities, maps = probabilities[:, order], maps[:, order]
    else:
        probabilities, maps = np.zeros((0, len(classes))), np.zeros((0, len(classes), params.n_pixels))
    predicted = (
        np.array(classes, dtype=object)[probabilities.argmax(axis=1)] if len(probabilities) else np.array([], dtype=object)
    )
    sources = [str(source) for source in reduced.meta["source_file"]]
    rows: list[dict[str, Any]] = []
    for i, source in enumerate(sources):
        rows.append(
            {
                "file": source,
                "key": keys[source],
                "plate": int(reduced.meta["plate"][i]),
                "mjd": int(reduced.meta["mjd"][i]),
                "fiberid": int(reduced.meta["fiberid"][i]),
                "z": f"{reduced.meta['z'][i]:.5f}",
                "status": "ok",
                "reason": "",
                "duplicate_of": duplicate_of[source],
                "predicted": predicted[i],
                **{f"p_{c}": f"{probabilities[i, k]:.4f}" for k, c in enumerate(classes)},
            }
        )
    by_file = {str(row["path"]): row for row in inventory}
    for record in reduced.rejected:
        source = by_file[str(record["source_file"])]
        rows.append(
            {
                "file": source["path"],
                "key": keys[source["path"]],
                "plate": source["plate"],
                "mjd": source["mjd"],
                "fiberid": source["fiberid"],
                "z": "",
                "status": "rejected",
                "reason": record["reason"],
                "duplicate_of": duplicate_of[source["path"]],
                "predicted": "",
            }
        )
    rows.sort(key=lambda row: row["file"])
    if len(rows) != len(inventory) or len({row["key"] for row in rows}) != len(rows):
        raise RuntimeError(f"{folder}: {len(inventory)} files gave {len(rows)} prediction rows")  # one row and one key per file
    result = SaliencyResult(
        reduced.meta["specid"].astype(str),
        np.full(len(predicted), "", dtype=object),
        predicted,
        probabilities,
        maps,
        reduced.flux,
        params.wavelength(),
        classes,
        file=np.array(sources, dtype=object),
        key=np.array([keys[s] for s in sources], dtype=object),
    )
    return rows, result


def folder_record(folder: str | os.PathLike[str], fingerprint: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """What ``folder.json`` says about a predicted folder: its absolute path, the fingerprint of its
    files (:func:`agn_saliency.inventory.folder_fingerprint`) and the counts of the rows."""
    return {
        "folder": str(Path(folder).resolve()),
        "fingerprint": fingerprint,
        "files": len(rows),
        "ok": sum(row["status"] == "ok" for row in rows),
        "rejected": sum(row["status"] == "rejected" for row in rows),
        "duplicates": sum(bool(row["duplicate_of"]) for row in rows),
    }
