"""A fitted model as arrays in a file (``.npz``): what predict's shard jobs load instead of the joblib pipeline.

Loading the pipeline with joblib imports scikit-learn (≈ 1–1.3 s of CPU, scipy.stats and pandas
inside it), once per shard job; the shard job only needs the model's
:class:`~agn_saliency.explain.saliency.ServedModel` (its smooth model, the kernel step's training
rows for the OOD scores, its scalers), which numpy alone reads. Rule ``calibrate_predict_ood``,
which loads the pipeline once per predict anyway, writes it (:func:`write_served_model`); every
shard job reads it (:func:`read_served_model`). The arrays are the model's own, bit for bit, so
the probabilities, maps and OOD scores are those of the pipeline.

The file is self-describing: ``header`` holds JSON (``format``, ``version``, the classes' dtype,
each member's kernel and its parameters, the source model), every other entry is a named array:

``offset``, ``factor``, ``classes``
    the smooth model's affine map and classes (model order);
``train``
    the kernel step's training rows (absent without a kernel step);
``scaler<j>_mean``, ``scaler<j>_scale``
    the ``StandardScaler`` steps before the kernel (absent where a step does not centre or scale);
``member<i>_<name>``
    each calibrated member's ``a``, ``b``, ``columns``, ``intercept`` and, where it has them,
    ``coef``, ``dual_coef``, ``rows`` and ``support_vectors`` (absent when they are ``train[rows]``).
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from agn_saliency.core.files import atomic_output
from agn_saliency.explain.saliency.model import CalibratedMember, DecisionFunctions, ServedModel, SmoothModel

__all__ = ["SERVED_FORMAT", "SERVED_VERSION", "ServedModelError", "read_served_model", "write_served_model"]

SERVED_FORMAT = "agn-saliency served model"
"""The header's ``format``: what the file is."""
SERVED_VERSION = 1
"""The header's ``version``: a reader refuses others (a changed layout bumps it)."""

_MEMBER_ARRAYS = ("a", "b", "columns", "intercept", "coef", "dual_coef", "rows", "support_vectors")


class ServedModelError(ValueError):
    """A served-model file that is not one, of another version, or missing an array its header promises."""


def write_served_model(path: str | os.PathLike[str], served: ServedModel, source: dict[str, Any] | None = None) -> None:
    """Write ``served`` to ``path`` (``.npz``, uncompressed: read in milliseconds; temporary name then rename).

    ``source`` (JSON-serialisable) is kept in the header: where the model came from.
    """
    sm = served.smooth
    arrays: dict[str, np.ndarray] = {
        "offset": sm.offset,
        "factor": sm.factor,
        "classes": np.asarray(sm.classes).astype(str),
    }
    if served.train is not None:
        arrays["train"] = served.train
    for j, (mean, scale) in enumerate(served.scalers):
        if mean is not None:
            arrays[f"scaler{j}_mean"] = mean
        if scale is not None:
            arrays[f"scaler{j}_scale"] = scale
    members = []
    for i, member in enumerate(sm.members):
        dec = member.decisions
        # a precomputed kernel's support vectors are rows of the training rows: stored once
        from_train = (
            served.train is not None
            and dec.rows is not None
            and dec.support_vectors is not None
            and np.array_equal(served.train[dec.rows], dec.support_vectors)
        )
        values = {"a": member.a, "b": member.b, "columns": member.columns, **vars(dec)}
        for name in _MEMBER_ARRAYS:
            value = values.get(name)
            if value is not None and not (name == "support_vectors" and from_train):
                arrays[f"member{i}_{name}"] = np.asarray(value)
        members.append(
            {"kernel": dec.kernel, "gamma": float(dec.gamma), "degree": int(dec.degree), "coef0": float(dec.coef0),
             "support_vectors_from_train": bool(from_train)}
        )  # fmt: skip
    header = {
        "format": SERVED_FORMAT,
        "version": SERVED_VERSION,
        "n_classes": int(sm.n_classes),
        "classes_dtype": "object" if np.asarray(sm.classes).dtype == object else "str",
        "members": members,
        "n_scalers": len(served.scalers),
        "source": source or {},
    }
    arrays["header"] = np.array(json.dumps(header, sort_keys=True))
    with atomic_output(path) as tmp, open(tmp, "wb") as handle:
        np.savez(handle, **arrays)


def read_served_model(path: str | os.PathLike[str]) -> ServedModel:
    """The :class:`~agn_saliency.explain.saliency.ServedModel` :func:`write_served_model` wrote to ``path``.

    Raises
    ------
    ServedModelError
        Not such a file, another version, or an array missing (the message names the file and the entry).
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (OSError, ValueError) as exc:
        raise ServedModelError(f"{path} is not a served model (.npz): {exc}") from None
    try:
        header = json.loads(str(arrays.pop("header")))
    except (KeyError, ValueError) as exc:
        raise ServedModelError(f"{path} has no JSON header (entry 'header'): {exc}") from None
    if header.get("format") != SERVED_FORMAT or header.get("version") != SERVED_VERSION:
        raise ServedModelError(
            f"{path} is {header.get('format')!r} version {header.get('version')!r}, not {SERVED_FORMAT!r} version "
            f"{SERVED_VERSION}: run rule calibrate_predict_ood again to rewrite it"
        )

    def take(name: str, required: bool = True) -> np.ndarray | None:
        if name not in arrays:
            if required:
                raise ServedModelError(f"{path} has no entry {name!r}")
            return None
        return arrays[name]

    train = take("train", required=False)
    members = []
    for i, spec in enumerate(header["members"]):
        got = {name: take(f"member{i}_{name}", required=name in ("a", "b", "columns", "intercept")) for name in _MEMBER_ARRAYS}
        if spec["support_vectors_from_train"]:
            if train is None or got["rows"] is None:
                raise ServedModelError(
                    f"{path}: member {i}'s support vectors are training rows, but 'train' or its rows are missing"
                )
            got["support_vectors"] = train[got["rows"]]  # as the pipeline's reduction took them: X_fit_[rows]
        decisions = DecisionFunctions(
            kernel=str(spec["kernel"]), intercept=got["intercept"], coef=got["coef"], support_vectors=got["support_vectors"],
            dual_coef=got["dual_coef"], gamma=float(spec["gamma"]), degree=int(spec["degree"]), coef0=float(spec["coef0"]),
            rows=got["rows"],
        )  # fmt: skip
        members.append(CalibratedMember(decisions, got["a"], got["b"], got["columns"]))
    classes = take("classes")
    assert classes is not None
    if header.get("classes_dtype") == "object":
        classes = classes.astype(object)
    smooth = SmoothModel(take("offset"), take("factor"), tuple(members), int(header["n_classes"]), classes)
    scalers = tuple(
        (take(f"scaler{j}_mean", required=False), take(f"scaler{j}_scale", required=False))
        for j in range(int(header["n_scalers"]))
    )
    return ServedModel(smooth, train, scalers)
