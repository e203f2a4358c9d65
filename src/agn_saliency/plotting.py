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



def plot_confusion(matrix: np.ndarray, matrix_normalised: np.ndarray, class_names: list[str], path: str, title: str) -> None:
    """Confusion matrix: counts (left) and row-normalised fractions (right); rows = true class."""
    names = [class_title(c) for c in class_names]
    fig, axes = plt.subplots(1, 2, figsize=(4.2 * 2 + 1.5, 4.4))
    for ax, values, fmt, label in ((axes[0], np.asarray(matrix), "d", "spectra"),
                                   (axes[1], np.asarray(matrix_normalised), ".2f", "fraction of true class")):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        for (i, j), value in np.ndenumerate(values):
            ax.text(j, i, format(value, fmt), ha="center", va="center",
                    color="white" if value > 0.6 * values.max() else "black", fontsize=12)
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    fig.suptitle(title)
    save(fig, path)


def plot_grid_scores(rows: list[dict[str, str]], scoring: str, path: str, title: str) -> None:
    """Cross-validated score over a kernel's grid: C on x, gamma (if tuned) on y, one panel per class_weight."""
    has_gamma = "gamma" in rows[0]
    weights = sorted({row.get("class_weight", "None") for row in rows})
    c_values = sorted({float(row["C"]) for row in rows})
    gammas = sorted({float(row["gamma"]) for row in rows}) if has_gamma else [None]
    fig, axes = plt.subplots(1, len(weights), figsize=(1.2 * len(c_values) * len(weights) + 2.5, 1.0 * len(gammas) + 2.6), squeeze=False)
    best = max(float(row["mean_test_score"]) for row in rows)
    for ax, weight in zip(axes[0], weights):
        grid = np.full((len(gammas), len(c_values)), np.nan)
        for row in rows:
            if row.get("class_weight", "None") == weight:
                gi = gammas.index(float(row["gamma"])) if has_gamma else 0
                # several coef0 values share a cell: show the best of them
                grid[gi, c_values.index(float(row["C"]))] = np.fmax(grid[gi, c_values.index(float(row["C"]))], float(row["mean_test_score"]))
        image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower")
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(j, i, f"{value:.3f}" + (" ★" if value == best else ""), ha="center", va="center",
                        color="white" if value < np.nanmean(grid) else "black", fontsize=9)
        ax.set_xticks(range(len(c_values)), [f"{c:g}" for c in c_values])
        ax.set_xlabel("C")
        ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas] if has_gamma else [""])
        ax.set_ylabel("gamma" if has_gamma else "")
        ax.set_title(f"class_weight = {weight}")
        fig.colorbar(image, ax=ax, label=f"mean CV {scoring}")
    fig.suptitle(title)
    save(fig, path)


def plot_decision_regions(grid_x: np.ndarray, grid_y: np.ndarray, regions: np.ndarray, xy: np.ndarray,
                          label: np.ndarray, path: str, title: str) -> None:
    """Class regions of a 2-D classifier (light colours) with labelled points on top."""
    from matplotlib.colors import ListedColormap

    classes = [c for c in CLASS_NAMES if (regions == c).any() or (label == c).any()]
    index = np.vectorize({c: i for i, c in enumerate(classes)}.get)(regions)
    fig, ax = plt.subplots(figsize=(7.5, 7))
    ax.pcolormesh(grid_x, grid_y, index, cmap=ListedColormap([CLASS_COLOURS[c] for c in classes]), alpha=0.18,
                  shading="auto", vmin=-0.5, vmax=len(classes) - 0.5)
    for name in classes:
        sel = label == name
        ax.scatter(xy[sel, 0], xy[sel, 1], s=12, color=CLASS_COLOURS[name], label=f"{class_title(name)} (test)", lw=0)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title)
    ax.legend(loc="best", markerscale=1.5)
    save(fig, path)
