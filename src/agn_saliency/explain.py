"""Saliency results of a task: storage, the choice of spectra to plot, and where saliency sits.

``results/saliency/{task}.h5`` holds, for every test spectrum (rows) and class (``class_names``
order = the model's ``classes_``): ``specid``, ``true_label``, ``predicted_label``,
``probabilities`` (N × K), ``saliency`` (N × K × P, ∂p_k/∂flux), ``flux`` (N × P, the input) and
``wavelength`` (P, Å). Results of ``snakemake predict`` add ``file`` (the path of each row's FITS
file) and ``key`` (the unique name its figure is saved under), and the folder as an attribute.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

import h5py
import numpy as np

from .files import atomic_output
from .lines import line_windows

STRING = h5py.string_dtype("utf-8")


@dataclass
class SaliencyResult:
    """Saliency maps and predictions of a task's test spectra.

    ``file`` and ``key`` are optional per-row texts (None when absent): the FITS file each row was
    read from and a unique key naming its artefacts — two files may hold the same ``specid``.
    """

    specid: np.ndarray
    true_label: np.ndarray
    predicted_label: np.ndarray
    probabilities: np.ndarray
    saliency: np.ndarray
    flux: np.ndarray
    wavelength: np.ndarray
    class_names: list[str]
    file: np.ndarray | None = None
    key: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("file", "key"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.specid):
                raise ValueError(f"{name} has {len(value)} rows, specid {len(self.specid)}")

    @property
    def predicted_index(self) -> np.ndarray:
        return np.array([self.class_names.index(p) for p in self.predicted_label], dtype=int)

    def predicted_map(self) -> np.ndarray:
        """(N, P) saliency of each spectrum's predicted class: the map that explains its decision."""
        return self.saliency[np.arange(len(self.specid)), self.predicted_index]


def write_saliency(path: str | os.PathLike[str], result: SaliencyResult, attrs: Mapping[str, str] | None = None) -> None:
    """Write a :class:`SaliencyResult` (atomic; maps compressed).

    Parameters
    ----------
    attrs
        Extra file attributes (provenance such as the folder the spectra came from).
    """
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        for name in ("specid", "true_label", "predicted_label", "file", "key"):
            if getattr(result, name) is not None:
                handle.create_dataset(name, data=np.asarray(getattr(result, name)).astype(str).astype(object), dtype=STRING)
        handle.create_dataset("probabilities", data=result.probabilities)
        handle.create_dataset(
            "saliency",
            data=result.saliency.astype(np.float32),
            compression="gzip",
            compression_opts=1,
            chunks=(1, *result.saliency.shape[1:]) if len(result.saliency) else None,
        )
        handle.create_dataset("flux", data=result.flux.astype(np.float32))
        handle.create_dataset("wavelength", data=result.wavelength).attrs["unit"] = "Angstrom"
        handle["saliency"].attrs.update({"unit": "", "description": "d probability / d normalised flux (both dimensionless)"})
        handle.attrs["class_names"] = list(result.class_names)
        for name, value in (attrs or {}).items():
            handle.attrs[name] = value


def read_saliency(path: str | os.PathLike[str]) -> SaliencyResult:
    """Read a file written by :func:`write_saliency`."""
    with h5py.File(path, "r") as handle:
        return SaliencyResult(
            specid=handle["specid"].asstr()[()],
            true_label=handle["true_label"].asstr()[()],
            predicted_label=handle["predicted_label"].asstr()[()],
            probabilities=handle["probabilities"][()],
            saliency=handle["saliency"][()],
            flux=handle["flux"][()],
            wavelength=handle["wavelength"][()],
            class_names=[str(c) for c in handle.attrs["class_names"]],
            file=handle["file"].asstr()[()] if "file" in handle else None,
            key=handle["key"].asstr()[()] if "key" in handle else None,
        )


def select_explained(
    true_label: np.ndarray, predicted_label: np.ndarray, n_random_per_class: int, seed: int
) -> list[tuple[int, str]]:
    """Rows to plot: every misclassified spectrum, plus up to ``n_random_per_class`` random
    correctly classified ones of each true class (seeded). Returns (row, why) sorted by row."""
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(true_label != predicted_label)
    chosen = [(int(i), "misclassified") for i in wrong]
    for name in sorted(set(true_label)):
        correct = np.flatnonzero((true_label == name) & (true_label == predicted_label))
        picks = rng.choice(correct, size=min(n_random_per_class, len(correct)), replace=False) if len(correct) else []
        chosen += [(int(i), "random") for i in picks]
    return sorted(chosen)


REGIONS = ("narrow_core", "broad_wing", "feii", "lines", "continuum")


def region_masks(wavelength: np.ndarray) -> dict[str, np.ndarray]:
    """Pixel masks of the line windows (:func:`agn_saliency.lines.line_windows`) on a grid.

    ``lines`` is the union of narrow cores and broad wings; ``continuum`` every other pixel
    outside the FeII blends too.
    """
    windows = line_windows(float(wavelength[0]), float(wavelength[-1]))
    masks = {}
    for kind, spans in windows.items():
        mask = np.zeros(len(wavelength), bool)
        for lo, hi in spans:
            mask |= (wavelength >= lo) & (wavelength <= hi)
        masks[kind] = mask
    masks["lines"] = masks["narrow_core"] | masks["broad_wing"]
    masks["continuum"] = ~(masks["lines"] | masks["feii"])
    return masks


def line_shares(result: SaliencyResult) -> list[dict[str, object]]:
    """Per true class and region: the mean share of |saliency of the predicted class| inside the
    region, the share of pixels the region covers, and their ratio (enrichment; 1 = no preference)."""
    masks = region_masks(result.wavelength)
    magnitude = np.abs(result.predicted_map())
    total = magnitude.sum(axis=1)
    total[total == 0] = 1.0
    rows = []
    for name in result.class_names:
        members = result.true_label == name
        if not members.any():
            continue
        for region in REGIONS:
            share = float((magnitude[members][:, masks[region]].sum(axis=1) / total[members]).mean())
            pixel_share = float(masks[region].mean())
            rows.append(
                {
                    "class": name,
                    "region": region,
                    "saliency_share": round(share, 6),
                    "pixel_share": round(pixel_share, 6),
                    "enrichment": round(share / pixel_share, 4) if pixel_share else float("nan"),
                    "n_spectra": int(members.sum()),
                }
            )
    return rows
