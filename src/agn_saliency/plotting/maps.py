"""Two-dimensional maps of the sample: the t-SNE embedding by class and the class regions of a
classifier trained on it."""

from __future__ import annotations

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.plotting.style import CLASS_COLOURS, class_title, house_style, save

POINT_SIZE = 6
"""Area [pt²] of a spectrum's dot on a t-SNE map (thousands of them: small, translucent)."""
RING_SIZE = 70
"""Area [pt²] of the ring around a highlighted spectrum."""
CROSS_SIZE = 50
"""Area [pt²] of the cross on a misclassified spectrum."""
LEGEND_DOT = 6.0
"""Diameter [pt] of a class's dot in the legend: opaque and larger than on the map, so its colour
reads, yet smaller than the ring and the cross, which the legend shows at their size on the map."""


@house_style
def plot_tsne_map(
    xy: np.ndarray,
    label: np.ndarray,
    path: str,
    title: str,
    highlight: np.ndarray | None = None,
    misclassified: np.ndarray | None = None,
) -> None:
    """t-SNE map coloured by class; optionally ring highlighted spectra and cross misclassified ones.

    Parameters
    ----------
    xy : ndarray of shape (n_spectra, 2)
        Embedded coordinates.
    label : ndarray of shape (n_spectra,)
        Class of each spectrum (the colour).
    path
        PNG to write.
    title
        Axes title.
    highlight, misclassified : ndarray of bool, shape (n_spectra,), optional
        Spectra to ring (e.g. those with saliency figures) and to cross.
    """
    fig = Figure(figsize=(7.5, 7))
    ax = fig.subplots()
    # Legend entries are drawn as proxies of fixed size: scaling the scatter handles (markerscale)
    # enlarges the 6 pt² dots and the 70 pt² rings alike, so rings and crosses came out several times
    # larger than on the map.
    handles: list[Line2D] = []
    for name in CLASS_NAMES:
        sel = label == name
        if sel.any():
            ax.scatter(xy[sel, 0], xy[sel, 1], s=POINT_SIZE, alpha=0.6, color=CLASS_COLOURS[name], lw=0)
            handles.append(
                Line2D([], [], ls="", marker="o", ms=LEGEND_DOT, mew=0, color=CLASS_COLOURS[name],
                       label=f"{class_title(name)} ({int(sel.sum())})")
            )  # fmt: skip
    if highlight is not None and highlight.any():
        ax.scatter(xy[highlight, 0], xy[highlight, 1], s=RING_SIZE, facecolors="none", edgecolors="k", lw=1.0)
        handles.append(
            Line2D([], [], ls="", marker="o", ms=RING_SIZE**0.5, mfc="none", mec="k", mew=1.0,
                   label=f"plotted saliency ({int(highlight.sum())})")
        )  # fmt: skip
    if misclassified is not None and misclassified.any():
        ax.scatter(xy[misclassified, 0], xy[misclassified, 1], s=CROSS_SIZE, marker="x", color="k", lw=1.4)
        handles.append(
            Line2D([], [], ls="", marker="x", ms=CROSS_SIZE**0.5, mew=1.4, color="k",
                   label=f"misclassified ({int(misclassified.sum())})")
        )  # fmt: skip
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title)
    ax.legend(handles=handles, loc="best", markerscale=1, frameon=True, framealpha=0.85)
    ax.set_xticks([])
    ax.set_yticks([])
    save(fig, path)


@house_style
def plot_decision_regions(
    grid_x: np.ndarray, grid_y: np.ndarray, regions: np.ndarray, xy: np.ndarray, label: np.ndarray, path: str, title: str
) -> None:
    """Class regions of a 2-D classifier (light colours) with labelled points on top.

    Parameters
    ----------
    grid_x, grid_y : ndarray of shape (ny, nx)
        Mesh of the plane (``numpy.meshgrid``).
    regions : ndarray of shape (ny, nx)
        Predicted class at each mesh point.
    xy : ndarray of shape (n_spectra, 2)
        Points drawn on top (the test spectra).
    label : ndarray of shape (n_spectra,)
        Their true class (the colour).
    path
        PNG to write.
    title
        Axes title.
    """
    classes = [c for c in CLASS_NAMES if (regions == c).any() or (label == c).any()]
    index = np.vectorize({c: i for i, c in enumerate(classes)}.get)(regions)
    fig = Figure(figsize=(7.5, 7))
    ax = fig.subplots()
    ax.pcolormesh(
        grid_x,
        grid_y,
        index,
        cmap=ListedColormap([CLASS_COLOURS[c] for c in classes]),
        alpha=0.18,
        shading="auto",
        vmin=-0.5,
        vmax=len(classes) - 0.5,
    )
    for name in classes:
        sel = label == name
        ax.scatter(xy[sel, 0], xy[sel, 1], s=12, color=CLASS_COLOURS[name], label=f"{class_title(name)} (test)", lw=0)
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.set_title(title)
    ax.legend(loc="best", markerscale=1.5)
    save(fig, path)
