"""Persisted models: a joblib pipeline with a JSON metadata file beside it."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from agn_saliency.core.files import atomic_output, write_text_atomic
from agn_saliency.core.vocabulary import KERNELS
from agn_saliency.io.cube import package_versions

MODEL_FORMAT: int = 3
"""Version of what a saved model is (1: the former CalibratedKernelSVC; 2: scikit-learn's calibrated
one-vs-rest SVC behind ``classify.KernelTransformer``; 3: the same, its metadata recording the
reduction its spectra must have, key ``reduction``, checked by ``snakemake predict``). Rule ``search_grid`` has it as a ``params:``
value: Snakemake does not rerun a rule when library code changes, so a new model format must bump it."""


def metadata_path(model_path: str | os.PathLike[str]) -> Path:
    """``results/models/x.joblib`` → ``results/models/x.json``."""
    return Path(model_path).with_suffix(".json")


def save_model(
    model: Any, path: str | os.PathLike[str], metadata: dict[str, Any], metadata_out: str | os.PathLike[str] | None = None
) -> None:
    """Write the model (joblib) and its metadata (JSON, with package versions) atomically."""
    import joblib

    with atomic_output(path) as tmp:
        joblib.dump(model, tmp)
    record = {**metadata, "versions": package_versions(("agn-saliency", "numpy", "scipy", "scikit-learn", "joblib"))}
    write_text_atomic(metadata_out or metadata_path(path), json.dumps(record, indent=1, sort_keys=True) + "\n")


REMOVED_CLASSES = ("CalibratedKernelSVC",)
"""Estimators of earlier versions whose saved models can no longer be loaded (retrain them)."""


class OutdatedModelError(ValueError):
    """A saved model needs a class this version no longer has."""


def load_model(path: str | os.PathLike[str]) -> tuple[Any, dict[str, Any]]:
    """The model and its metadata (empty dict when the JSON file is absent).

    Raises
    ------
    OutdatedModelError
        The file holds a model of an earlier version (``CalibratedKernelSVC``, replaced by
        scikit-learn's ``CalibratedClassifierCV`` behind a ``KernelTransformer``): retrain it.
    """
    import joblib  # here: readers of the metadata alone (predict's shard jobs) need none of it

    try:
        model = joblib.load(path)
    except AttributeError as exc:
        removed = [name for name in REMOVED_CLASSES if name in str(exc)]
        if not removed:
            raise
        raise OutdatedModelError(
            f"{path} holds a model saved by an earlier agn-saliency ({removed[0]}, since replaced by "
            "scikit-learn's CalibratedClassifierCV behind agn_saliency.learn.classify.KernelTransformer); "
            "retrain it: delete the file (or results/models/) and run snakemake again"
        ) from None
    return model, load_metadata(path)


def load_metadata(model_path: str | os.PathLike[str]) -> dict[str, Any]:
    """The metadata of the model at ``model_path`` (the JSON file beside it; empty dict when absent),
    without loading the model."""
    meta_file = metadata_path(model_path)
    return json.loads(meta_file.read_text()) if meta_file.exists() else {}


def select_kernel(validation_scores: dict[str, float]) -> str:
    """The kernel with the best validation score; ties go to the simpler kernel
    (:data:`agn_saliency.core.vocabulary.KERNELS` lists them simplest first)."""
    if not validation_scores:
        raise ValueError("no kernels to choose from")
    rank = {kernel: i for i, kernel in enumerate(KERNELS)}
    return max(validation_scores, key=lambda k: (round(validation_scores[k], 12), -rank.get(k, len(rank))))
