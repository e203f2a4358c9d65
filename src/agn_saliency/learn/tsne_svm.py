"""The optional SVM on the 2-D t-SNE plane (``classify.tsne_svm``), as in the original notebook:
fitted on the training spectra's map coordinates, its decision regions sampled on a grid.

File ``results/tsne_svm/{task}.h5``: datasets ``grid_x``, ``grid_y`` (G×G plane coordinates),
``regions`` (G×G predicted class names), ``test_xy`` (n×2), ``test_label`` (n) and the attribute
``test_accuracy`` (NaN without test spectra); :func:`write_regions` / :func:`read_regions`.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np

from agn_saliency.core.files import atomic_output

__all__ = ["C", "GRID_POINTS", "PAD_FRACTION", "Regions", "fit_regions", "read_regions", "subsets_of", "write_regions"]

C = 1.0
"""Regularisation of the RBF SVM (not tuned: the map is an illustration, not the classifier)."""
GRID_POINTS = 300
"""Grid points per axis at which the decision regions are sampled."""
PAD_FRACTION = 0.05
"""Margin around the map's points, as a fraction of its extent per axis."""


@dataclass
class Regions:
    """Decision regions of the t-SNE-plane SVM and the test spectra on the plane."""

    grid_x: np.ndarray
    grid_y: np.ndarray
    regions: np.ndarray
    test_xy: np.ndarray
    test_label: np.ndarray
    test_accuracy: float


def fit_regions(
    xy: np.ndarray,
    label: np.ndarray,
    subset: np.ndarray,
    seed: int,
    C: float = C,
    grid_points: int = GRID_POINTS,
) -> Regions:
    """Fit a scaler → RBF SVM (balanced class weights) on the ``subset == "train"`` points; sample its
    decision regions on a ``grid_points`` × ``grid_points`` grid over the map (padded by :data:`PAD_FRACTION`)."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    train, test = subset == "train", subset == "test"
    model = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=C, class_weight="balanced", random_state=seed))
    model.fit(xy[train], label[train])
    pad = PAD_FRACTION * (xy.max(axis=0) - xy.min(axis=0))
    axes = (np.linspace(lo, hi, grid_points) for lo, hi in zip(xy.min(axis=0) - pad, xy.max(axis=0) + pad))
    gx, gy = np.meshgrid(*axes)
    regions = model.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    accuracy = float((model.predict(xy[test]) == label[test]).mean()) if test.any() else float("nan")
    return Regions(gx, gy, regions, xy[test], label[test], accuracy)


def subsets_of(specid: np.ndarray, subset_of: Mapping[str, str]) -> np.ndarray:
    """The split's subset of every map point (``unlabelled`` for ids the split does not list)."""
    return np.array([subset_of.get(s, "unlabelled") for s in specid])


def write_regions(path: str | os.PathLike[str], regions: Regions) -> None:
    """Write :class:`Regions` (layout in the module docstring), atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        handle["grid_x"], handle["grid_y"] = regions.grid_x, regions.grid_y
        handle.create_dataset("regions", data=regions.regions.astype(object), dtype=h5py.string_dtype())
        handle["test_xy"] = regions.test_xy
        handle.create_dataset("test_label", data=regions.test_label.astype(object), dtype=h5py.string_dtype())
        handle.attrs["test_accuracy"] = regions.test_accuracy


def read_regions(path: str | os.PathLike[str]) -> Regions:
    """Read a file written by :func:`write_regions`."""
    with h5py.File(path, "r") as handle:
        return Regions(
            handle["grid_x"][()],
            handle["grid_y"][()],
            handle["regions"].asstr()[()],
            handle["test_xy"][()],
            handle["test_label"].asstr()[()],
            float(handle.attrs["test_accuracy"]),
        )
