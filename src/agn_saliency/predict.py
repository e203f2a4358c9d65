"""Classify and explain a folder of SDSS spectra nobody labelled, with a persisted model."""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from . import CLASS_NAMES
from .explain import SaliencyResult
from .inventory import scan_folder
from .reduce import ReductionParameters, reduce_inventory
from .saliency import probabilities_and_saliency

PREDICTION_COLUMNS = ("file", "plate", "mjd", "fiberid", "z", "status", "reason", "predicted") + tuple(f"p_{c}" for c in CLASS_NAMES)


def classify_folder(folder: str | os.PathLike[str], model: Any, params: ReductionParameters) -> tuple[list[dict[str, Any]], SaliencyResult]:
    """Reduce every FITS file below ``folder``, classify the reducible ones and compute their saliency.

    The model must have been trained on the same rest-frame grid as ``params`` describes.

    Returns
    -------
    rows
        One per file (:data:`PREDICTION_COLUMNS`), ``status`` ``ok`` or ``rejected`` with the reason.
    result
        Saliency of the accepted spectra (``true_label`` empty), classes in display order.
    """
    inventory = scan_folder(folder)
    reduced = reduce_inventory(inventory, params)
    n_features = getattr(model, "n_features_in_", reduced.flux.shape[1])
    if n_features != params.n_pixels:
        raise ValueError(f"the model expects {n_features} pixels, the reduction grid has {params.n_pixels}: use the training run's reduce settings")
    model_classes = [str(c) for c in model.classes_]
    classes = [c for c in CLASS_NAMES if c in model_classes]
    if len(reduced.flux):
        probabilities, maps = probabilities_and_saliency(model, reduced.flux)
        order = [model_classes.index(c) for c in classes]
        probabilities, maps = probabilities[:, order], maps[:, order]
    else:
        probabilities, maps = np.zeros((0, len(classes))), np.zeros((0, len(classes), params.n_pixels))
    predicted = np.array(classes, dtype=object)[probabilities.argmax(axis=1)] if len(probabilities) else np.array([], dtype=object)
    rows: list[dict[str, Any]] = []
    for i, source in enumerate(reduced.meta["source_file"]):
        rows.append({"file": source, "plate": int(reduced.meta["plate"][i]), "mjd": int(reduced.meta["mjd"][i]),
                     "fiberid": int(reduced.meta["fiberid"][i]), "z": f"{reduced.meta['z'][i]:.5f}", "status": "ok", "reason": "",
                     "predicted": predicted[i], **{f"p_{c}": f"{probabilities[i, k]:.4f}" for k, c in enumerate(classes)}})
    by_file = {row["path"]: row for row in inventory}
    for record in reduced.rejected:
        source = by_file.get(record["source_file"], {})
        rows.append({"file": record["source_file"], "plate": source.get("plate", ""), "mjd": source.get("mjd", ""),
                     "fiberid": source.get("fiberid", ""), "z": "", "status": "rejected", "reason": record["reason"], "predicted": ""})
    rows.sort(key=lambda row: row["file"])
    result = SaliencyResult(reduced.meta["specid"].astype(str), np.full(len(predicted), "", dtype=object), predicted,
                            probabilities, maps, reduced.flux, params.wavelength(), classes)
    return rows, result
