"""Every figure the pipeline draws. Functions take arrays and a path; nothing is computed here
that a computation rule should own."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from . import CLASS_NAMES  # noqa: E402
from .files import atomic_output  # noqa: E402
from .lines import EMISSION_LINES, FEII_BANDS, PLOT_LINES  # noqa: E402

CLASS_COLOURS = {"type1": "#1f77b4", "type2": "#d62728", "intermediate": "#2ca02c"}
CLASS_TITLES = {"type1": "Type 1", "type2": "Type 2", "intermediate": "Intermediate"}
WAVELENGTH_LABEL = "Rest-frame vacuum wavelength [Å]"

plt.rcParams.update({"font.size": 11, "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10,
                     "figure.dpi": 100, "savefig.dpi": 110})


def class_title(name: str) -> str:
    return CLASS_TITLES.get(name, name)


def save(fig: plt.Figure, path: str | os.PathLike[str]) -> None:
    """Save a figure atomically (PNG) and close it."""
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight")
    plt.close(fig)


def mark_lines(ax: plt.Axes, wavelength_range: tuple[float, float], labels: bool = True, feii: bool = True) -> None:
    """Dotted verticals at the main lines in range (labelled at the top) and shaded FeII bands."""
    lo, hi = wavelength_range
    for name in PLOT_LINES:
        rest = EMISSION_LINES[name]
        if lo <= rest <= hi:
            ax.axvline(rest, color="0.45", lw=0.8, ls=":", zorder=0)
            if labels:
                ax.text(rest, 1.01, name.split(" ")[0], transform=ax.get_xaxis_transform(), rotation=90,
                        ha="center", va="bottom", fontsize=8, color="0.3")
    if feii:
        for band_lo, band_hi in FEII_BANDS:
            if band_hi > lo and band_lo < hi:
                ax.axvspan(max(band_lo, lo), min(band_hi, hi), color="0.9", zorder=-1, lw=0)


def plot_sample_spectra(
    wavelength: np.ndarray, flux: np.ndarray, label: np.ndarray, specid: np.ndarray, path: str, per_class: int, seed: int
) -> None:
    """A few reduced spectra of each class, offset vertically, with the main lines marked."""
    rng = np.random.default_rng(seed)
    classes = [c for c in CLASS_NAMES if (label == c).any()]
    fig, axes = plt.subplots(len(classes), 1, figsize=(11, 3.2 * max(1, len(classes))), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], classes):
        index = np.flatnonzero(label == name)
        chosen = np.sort(rng.choice(index, size=min(per_class, len(index)), replace=False))
        offset = 0.0
        for i in chosen:
            ax.plot(wavelength, flux[i] + offset, lw=0.8, label=specid[i])
            offset += 1.2 * (np.percentile(flux[i], 99.5) - np.percentile(flux[i], 0.5)) + 0.3
        mark_lines(ax, (wavelength[0], wavelength[-1]))
        ax.set_ylabel("Normalised flux + offset")
        ax.set_title(f"{class_title(name)} ({len(index)} spectra)", loc="left", pad=22)
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    axes[-1, 0].set_xlabel(WAVELENGTH_LABEL)
    axes[-1, 0].set_xlim(wavelength[0], wavelength[-1])
    fig.text(0.99, 0.005, "grey bands: optical FeII blends", ha="right", fontsize=8, color="0.4")
    save(fig, path)


def plot_tsne_map(
    xy: np.ndarray,
    label: np.ndarray,
    path: str,
    title: str,
    highlight: np.ndarray | None = None,
    misclassified: np.ndarray | None = None,
) -> None:
    """t-SNE map coloured by class; optionally ring highlighted spectra and cross misclassified ones."""
    fig, ax = plt.subplots(figsize=(7.5, 7))
    for name in CLASS_NAMES:
        sel = label == name
        if sel.any():
            ax.scatter(xy[sel, 0], xy[sel, 1], s=6, alpha=0.6, color=CLASS_COLOURS[name], lw=0,
                       label=f"{class_title(name)} ({int(sel.sum())})")
    if highlight is not None and highlight.any():
        ax.scatter(xy[highlight, 0], xy[highlight, 1], s=70, facecolors="none", edgecolors="k", lw=1.0,
                   label=f"plotted saliency ({int(highlight.sum())})")
    if misclassified is not None and misclassified.any():
        ax.scatter(xy[misclassified, 0], xy[misclassified, 1], s=50, marker="x", color="k", lw=1.4,
                   label=f"misclassified ({int(misclassified.sum())})")
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title)
    ax.legend(loc="best", markerscale=2, frameon=True, framealpha=0.85)
    ax.set_xticks([])
    ax.set_yticks([])
    save(fig, path)

