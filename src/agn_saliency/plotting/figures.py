"""Every figure the pipeline draws. Functions take arrays and a path; nothing is computed here
that a computation rule should own."""

from __future__ import annotations

import os
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from agn_saliency.core.files import atomic_output  # noqa: E402
from agn_saliency.core.lines import EMISSION_LINES, FEII_BANDS, PLOT_LINES  # noqa: E402
from agn_saliency.core.vocabulary import CLASS_NAMES  # noqa: E402

CLASS_COLOURS = {"type1": "#1f77b4", "type2": "#d62728", "intermediate": "#2ca02c"}
CLASS_TITLES = {"type1": "Type 1", "type2": "Type 2", "intermediate": "Intermediate"}
WAVELENGTH_LABEL = "Rest-frame vacuum wavelength [Å]"

SAVE_DPI = 110
"""Resolution of every PNG (saliency figures are also drawn at it: see :class:`_SaliencyCanvas`)."""

plt.rcParams.update(
    {
        "font.size": 11,
        "axes.titlesize": 12,
        "axes.labelsize": 11,
        "legend.fontsize": 10,
        "figure.dpi": 100,
        "savefig.dpi": SAVE_DPI,
    }
)


def class_title(name: str) -> str:
    return CLASS_TITLES.get(name, name)


def save(
    fig: plt.Figure, path: str | os.PathLike[str], tight: bool = True, close: bool = True, compress_level: int | None = None
) -> None:
    """Save a figure atomically (PNG) and close it; ``tight=False`` keeps the figure's own margins
    (for fixed layouts: a tight bounding box draws the figure twice); ``close=False`` keeps it open
    to be drawn on again; ``compress_level`` (zlib, 0–9; Pillow's default 6 if None) trades file size
    for time, never pixels."""
    pil_kwargs = {} if compress_level is None else {"compress_level": compress_level}
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight" if tight else None, pil_kwargs=pil_kwargs)
    if close:
        plt.close(fig)


def mark_lines(ax: plt.Axes, wavelength_range: tuple[float, float], labels: bool = True, feii: bool = True) -> None:
    """Dotted verticals at the main lines in range (labelled at the top) and shaded FeII bands."""
    lo, hi = wavelength_range
    for name in PLOT_LINES:
        rest = EMISSION_LINES[name]
        if lo <= rest <= hi:
            ax.axvline(rest, color="0.45", lw=0.8, ls=":", zorder=0)
            if labels:
                ax.text(
                    rest,
                    1.01,
                    name.split(" ")[0],
                    transform=ax.get_xaxis_transform(),
                    rotation=90,
                    ha="center",
                    va="bottom",
                    fontsize=8,
                    color="0.3",
                )
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
    fig, axes = plt.subplots(
        len(classes), 1, figsize=(11, 3.4 * max(1, len(classes))), sharex=True, squeeze=False, gridspec_kw={"hspace": 0.32}
    )
    for ax, name in zip(axes[:, 0], classes):
        index = np.flatnonzero(label == name)
        chosen = np.sort(rng.choice(index, size=min(per_class, len(index)), replace=False))
        offset = 0.0
        for i in chosen:
            ax.plot(wavelength, flux[i] + offset, lw=0.8, label=specid[i])
            offset += 1.2 * (np.percentile(flux[i], 99.5) - np.percentile(flux[i], 0.5)) + 0.3
        mark_lines(ax, (wavelength[0], wavelength[-1]))
        ax.set_ylabel("Flux / median(5080–5120 Å)\n+ offset")
        ax.text(
            1.0,
            1.02,
            f"{class_title(name)} ({len(index)} spectra)",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=12,
            fontweight="bold",
            color=CLASS_COLOURS[name],
        )
        ax.legend(loc="upper left", frameon=False, fontsize=8)
    axes[-1, 0].set_xlabel(WAVELENGTH_LABEL)
    axes[-1, 0].set_xlim(wavelength[0], wavelength[-1])
    axes[-1, 0].text(
        1.0,
        -0.16,
        "grey bands: optical FeII blends",
        transform=axes[-1, 0].transAxes,
        ha="right",
        va="top",
        fontsize=9,
        color="0.4",
    )
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
            ax.scatter(
                xy[sel, 0],
                xy[sel, 1],
                s=6,
                alpha=0.6,
                color=CLASS_COLOURS[name],
                lw=0,
                label=f"{class_title(name)} ({int(sel.sum())})",
            )
    if highlight is not None and highlight.any():
        ax.scatter(
            xy[highlight, 0],
            xy[highlight, 1],
            s=70,
            facecolors="none",
            edgecolors="k",
            lw=1.0,
            label=f"plotted saliency ({int(highlight.sum())})",
        )
    if misclassified is not None and misclassified.any():
        ax.scatter(
            xy[misclassified, 0],
            xy[misclassified, 1],
            s=50,
            marker="x",
            color="k",
            lw=1.4,
            label=f"misclassified ({int(misclassified.sum())})",
        )
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
    fig, axes = plt.subplots(1, 2, figsize=(4.4 * 2 + 2.5, 4.6), layout="constrained")
    for ax, values, fmt, label in (
        (axes[0], np.asarray(matrix), "d", "spectra"),
        (axes[1], np.asarray(matrix_normalised), ".2f", "fraction of true class"),
    ):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        for (i, j), value in np.ndenumerate(values):
            ax.text(
                j,
                i,
                format(value, fmt),
                ha="center",
                va="center",
                color="white" if value > 0.6 * values.max() else "black",
                fontsize=12,
            )
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
    fig, axes = plt.subplots(
        1,
        len(weights),
        figsize=(1.3 * len(c_values) * len(weights) + 2.8 * len(weights), 0.8 * len(gammas) + 2.8),
        squeeze=False,
        layout="constrained",
    )
    scores = [float(row["mean_test_score"]) for row in rows]
    best, worst = max(scores), min(scores)
    for ax, weight in zip(axes[0], weights):
        grid = np.full((len(gammas), len(c_values)), np.nan)
        for row in rows:
            if row.get("class_weight", "None") == weight:
                gi = gammas.index(float(row["gamma"])) if has_gamma else 0
                # several coef0 values share a cell: show the best of them
                grid[gi, c_values.index(float(row["C"]))] = np.fmax(
                    grid[gi, c_values.index(float(row["C"]))], float(row["mean_test_score"])
                )
        image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower", vmin=worst, vmax=best)  # one scale for all panels
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.3f}" + (" ★" if value == best else ""),
                    ha="center",
                    va="center",
                    color="white" if value < np.nanmean(grid) else "black",
                    fontsize=9,
                )
        ax.set_xticks(range(len(c_values)), [f"{c:g}" for c in c_values])
        ax.set_xlabel("C")
        ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas] if has_gamma else [""])
        ax.set_ylabel("gamma" if has_gamma else "")
        ax.set_title(f"class_weight = {weight or 'None'}")
        fig.colorbar(image, ax=ax, label=f"mean CV {scoring}")
    fig.suptitle(title)
    save(fig, path)


def plot_decision_regions(
    grid_x: np.ndarray, grid_y: np.ndarray, regions: np.ndarray, xy: np.ndarray, label: np.ndarray, path: str, title: str
) -> None:
    """Class regions of a 2-D classifier (light colours) with labelled points on top."""
    from matplotlib.colors import ListedColormap

    classes = [c for c in CLASS_NAMES if (regions == c).any() or (label == c).any()]
    index = np.vectorize({c: i for i, c in enumerate(classes)}.get)(regions)
    fig, ax = plt.subplots(figsize=(7.5, 7))
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


SALIENCY_CMAP = "RdBu_r"  # red: more flux here raises the probability; blue: lowers it


def _smooth(values: np.ndarray, pixels: int) -> np.ndarray:
    """Running mean over ``pixels`` (display only); 1 returns the input."""
    if pixels <= 1:
        return values
    kernel = np.ones(pixels) / pixels
    return np.convolve(values, kernel, mode="same")


def _symmetric_limit(values: np.ndarray) -> float:
    limit = float(np.percentile(np.abs(values), 99.5)) if values.size else 1.0
    return limit if limit > 0 else 1.0


METHOD_LABELS = {
    "gradient": "∂p/∂flux",
    "logit_gradient": "∂ log-odds/∂flux",
    "gradient_x_input": "flux × ∂p/∂flux",
    "integrated_gradients": "integrated gradients",
    "smoothgrad": "SmoothGrad",
}
"""Short axis labels of the attribution methods (:data:`agn_saliency.explain.saliency.ATTRIBUTION_METHODS`)."""


@dataclass(frozen=True)
class SaliencyFigure:
    """Everything one per-spectrum saliency figure shows (only that spectrum's arrays: cheap to send to a worker).

    ``maps`` holds, per attribution method in display order, the map of the predicted class; the
    first one colours the spectrum. ``verdicts`` are extra lines for the title (the AGN gate and
    the out-of-distribution flag of ``snakemake predict``).
    """

    path: str
    name: str
    wavelength: np.ndarray
    flux: np.ndarray
    maps: dict[str, np.ndarray]
    class_names: list[str]
    probabilities: np.ndarray
    true_label: str
    predicted_label: str
    subtitle: str
    verdicts: tuple[str, ...] = ()
    smooth_pixels: int = 1

    @classmethod
    def from_result(cls, result, row: int, *, path: str, name: str, subtitle: str, verdicts=(), smooth_pixels: int = 1):
        """The figure of row ``row`` of an :class:`agn_saliency.explain.maps.SaliencyResult`."""
        predicted = result.predicted_index[row]
        maps = result.attributions or {"gradient": result.saliency}
        return cls(
            path=path,
            name=name,
            wavelength=result.wavelength,
            flux=result.flux[row],
            maps={method: values[row, predicted] for method, values in maps.items()},
            class_names=list(result.class_names),
            probabilities=result.probabilities[row],
            true_label=str(result.true_label[row]),
            predicted_label=str(result.predicted_label[row]),
            subtitle=subtitle,
            verdicts=tuple(verdicts),
            smooth_pixels=smooth_pixels,
        )


def _saliency_title(figure: SaliencyFigure) -> str:
    """The title of a saliency figure: who it is, what was predicted, the probabilities and the verdicts."""
    title = class_title(figure.predicted_label)
    if figure.true_label:
        verdict = "✓" if figure.predicted_label == figure.true_label else "✗ misclassified"
        heading = f"{figure.name}   true: {class_title(figure.true_label)}   predicted: {title} {verdict}"
    else:  # unlabelled spectrum (predict)
        heading = f"{figure.name}   predicted: {title}"
    probs = ", ".join(f"p({class_title(c)}) = {p:.3f}" for c, p in zip(figure.class_names, figure.probabilities))
    smoothing = f", running mean over {figure.smooth_pixels} px" if figure.smooth_pixels > 1 else ""
    return "\n".join([heading, f"{probs}   [{figure.subtitle}{smoothing}]", *figure.verdicts])


def _saliency_layout(figure: SaliencyFigure) -> tuple[tuple[str, ...], int, float, float]:
    """What a drawn figure shares with every figure of the same layout: the methods (panels and their
    labels), the number of title lines (the margins) and the wavelength range (x limits, line markers)."""
    return tuple(figure.maps), 2 + len(figure.verdicts), float(figure.wavelength[0]), float(figure.wavelength[-1])


class _SaliencyCanvas:
    """One matplotlib figure of a saliency layout (:func:`_saliency_layout`), drawn on again and again.

    The axes, their labels and tick formats, the line markers and the colorbar are made once
    (building them is most of the cost of a figure); :meth:`draw` replaces everything that depends
    on the spectrum, so a reused canvas saves the same PNG as a fresh one.
    """

    def __init__(self, methods: tuple[str, ...], lines_of_title: int, wavelength_range: tuple[float, float]) -> None:
        from matplotlib.collections import LineCollection
        from matplotlib.colors import TwoSlopeNorm

        n = len(methods)
        height = 3.2 + 1.25 * n + 0.2 * lines_of_title
        # drawn at the resolution it is saved at: savefig would otherwise rescale every transform there and back per PNG
        self.fig = fig = plt.figure(figsize=(11, height), dpi=SAVE_DPI)
        # A fixed layout (not "constrained"): it halves the drawing time of these many-panel figures.
        grid = fig.add_gridspec(
            1 + n,
            1,
            height_ratios=[2.6] + [1] * n,
            hspace=0.2,  # room for each panel's "1e-2" scale label
            left=0.1,  # room for two-line panel labels left of tick labels like "−0.25"
            right=0.9,
            bottom=0.55 / height,
            top=1 - (0.55 + 0.2 * lines_of_title) / height,
        )
        axes = [fig.add_subplot(grid[0])]
        axes += [fig.add_subplot(grid[i], sharex=axes[0]) for i in range(1, 1 + n)]
        for ax in axes[:-1]:
            ax.tick_params(labelbottom=False)
            ax.xaxis.set_label_coords(0.5, 0.0)  # no x label here: a fixed place spares placing it anew on every draw
        self.top, self.panels = axes[0], axes[1:]
        # created in the order of a figure drawn at once: artists of equal zorder are drawn in that order
        (self.background,) = self.top.plot([], [], color="0.85", lw=3.0, zorder=0)
        self.lines = LineCollection([], cmap=SALIENCY_CMAP, norm=TwoSlopeNorm(0.0, -1.0, 1.0), linewidths=1.6)
        self.top.add_collection(self.lines)
        self.top.set_ylabel("Normalised flux")
        box = self.top.get_position()
        self.colorbar = fig.colorbar(self.lines, cax=fig.add_axes((0.91, box.y0, 0.012, box.height)))
        mark_lines(self.top, wavelength_range)
        for ax, method in zip(self.panels, methods):
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylabel(textwrap.fill(METHOD_LABELS.get(method, method), 14), fontsize=9)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
            mark_lines(ax, wavelength_range, labels=False)
        axes[-1].set_xlabel(WAVELENGTH_LABEL)
        axes[-1].set_xlim(*wavelength_range)
        self.fills: list[list] = [[] for _ in methods]  # per panel, the two polygons of the spectrum drawn last
        self.notes: list = [None] * n  # per panel, the "p saturated" text of the spectrum drawn last

    def draw(self, figure: SaliencyFigure) -> None:
        """Show ``figure``'s spectrum and maps (the canvas must have its layout)."""
        from matplotlib.colors import TwoSlopeNorm
        from matplotlib.ticker import ScalarFormatter

        wavelength, flux = figure.wavelength, figure.flux
        maps = {method: _smooth(values, figure.smooth_pixels) for method, values in figure.maps.items()}
        first, colours = next(iter(maps.items()))
        limit = _symmetric_limit(colours)
        points = np.column_stack([wavelength, flux]).reshape(-1, 1, 2)
        self.background.set_data(wavelength, flux)
        self.lines.set_segments(np.concatenate([points[:-1], points[1:]], axis=1))
        self.lines.set_array(0.5 * (colours[:-1] + colours[1:]))
        # a new norm, not new limits on the old one: the colorbar then resets its scale, locator and formatter too
        self.lines.set_norm(TwoSlopeNorm(0.0, -limit, limit))
        # after the norm (which resets it): as on the panels, short tick labels and the power of ten
        # above, so long labels (-0.00015) never push the colour bar's label off the figure
        formatter = ScalarFormatter()
        formatter.set_powerlimits((-2, 2))
        self.colorbar.formatter = formatter
        self.colorbar.set_label(f"{METHOD_LABELS.get(first, first)} of {class_title(figure.predicted_label)}")
        self.top.set_ylim(np.percentile(flux, 0.2) - 0.1, flux.max() * 1.05 + 0.05)  # never clip an emission line
        # y given: matplotlib only moves a title off overlapping tick labels or offset text, which never reach 24 pt
        # above this axes, and that check costs a pass over the ticks per draw
        self.top.set_title(_saliency_title(figure), fontsize=11, pad=24, y=1.0)
        for i, (ax, (method, values)) in enumerate(zip(self.panels, maps.items())):
            for polygon in self.fills[i]:
                polygon.remove()
            # clipped halves as two polygons: as exact at the zero crossings (to a pixel) as where=/interpolate, far cheaper
            self.fills[i] = [
                ax.fill_between(wavelength, 0, np.maximum(values, 0), color="#c0392b", lw=0),
                ax.fill_between(wavelength, 0, np.minimum(values, 0), color="#2e6fb7", lw=0),
            ]
            panel_limit = _symmetric_limit(values)
            ax.set_ylim(-1.15 * panel_limit, 1.15 * panel_limit)
            if self.notes[i] is not None:
                self.notes[i].remove()
                self.notes[i] = None
            peak = float(np.abs(values).max()) if values.size else 0.0
            if peak < 1e-6 and method == "gradient":  # a saturated sigmoid: p no longer responds to the flux
                self.notes[i] = ax.text(
                    0.01, 0.85, f"p saturated: max |∂p/∂flux| = {peak:.1e}", transform=ax.transAxes, fontsize=8
                )


def plot_saliency_spectra(figures: Sequence[SaliencyFigure]) -> None:
    """Draw and save every figure (see :func:`plot_saliency_spectrum`), reusing one matplotlib figure
    per layout: only the spectrum's data changes between two PNGs, so each costs about half as much
    as a figure built on its own, and looks the same."""
    groups: dict[tuple, list[SaliencyFigure]] = {}
    for figure in figures:
        groups.setdefault(_saliency_layout(figure), []).append(figure)
    for (methods, lines_of_title, lo, hi), members in groups.items():
        canvas = _SaliencyCanvas(methods, lines_of_title, (lo, hi))
        try:
            for figure in members:
                canvas.draw(figure)
                # the fixed layout leaves room for every label; zlib level 3: about 30 % faster than 6, files ~8 % larger
                save(canvas.fig, figure.path, tight=False, close=False, compress_level=3)
        finally:
            plt.close(canvas.fig)


def plot_saliency_spectrum(figure: SaliencyFigure) -> None:
    """The spectrum drawn as a line coloured by the first method's map of its predicted class, then
    one panel per method (red: more flux here raises the predicted class's score; blue: lowers
    it), main lines marked; each panel on its own scale (the methods have different units)."""
    plot_saliency_spectra([figure])


def plot_saliency_means(
    wavelength: np.ndarray,
    flux: np.ndarray,
    saliency: np.ndarray,
    true_label: np.ndarray,
    class_names: list[str],
    path: str,
    title: str,
    smooth_pixels: int = 1,
) -> None:
    """Per true class: mean ± standard deviation of its own-class map ∂p_k/∂flux over the test
    spectra of that class, with the class-mean spectrum in grey for orientation."""
    present = [c for c in class_names if (true_label == c).any()]
    fig, axes = plt.subplots(
        len(present), 1, figsize=(11, 2.8 * len(present) + 0.6), sharex=True, squeeze=False, layout="constrained"
    )
    for ax, name in zip(axes[:, 0], present):
        k = class_names.index(name)
        members = true_label == name
        own = saliency[members, k, :]
        mean, spread = _smooth(own.mean(axis=0), smooth_pixels), _smooth(own.std(axis=0), smooth_pixels)
        ax.fill_between(wavelength, mean - spread, mean + spread, color=CLASS_COLOURS[name], alpha=0.25, lw=0, label="± 1 std")
        ax.plot(wavelength, mean, color=CLASS_COLOURS[name], lw=1.2, label="mean")
        ax.axhline(0, color="k", lw=0.5)
        ax.set_ylabel(f"∂p({class_title(name)})/∂flux")
        ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
        twin = ax.twinx()
        twin.plot(wavelength, flux[members].mean(axis=0), color="0.55", lw=0.8)
        twin.set_ylabel("mean flux", color="0.45")
        twin.tick_params(axis="y", colors="0.45")
        ax.set_zorder(twin.get_zorder() + 1)
        ax.patch.set_visible(False)
        ax.text(
            0.01,
            0.94,
            f"true {class_title(name)} (n = {int(members.sum())})",
            transform=ax.transAxes,
            va="top",
            fontweight="bold",
            color=CLASS_COLOURS[name],
        )
        mark_lines(ax, (wavelength[0], wavelength[-1]), labels=ax is axes[0, 0], feii=False)
        for band_lo, band_hi in FEII_BANDS:  # shaded on the back axis, so the mean-flux line stays visible
            twin.axvspan(max(band_lo, wavelength[0]), min(band_hi, wavelength[-1]), color="0.92", zorder=-1, lw=0)
        ax.legend(loc="upper right", fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel(WAVELENGTH_LABEL)
    axes[-1, 0].set_xlim(wavelength[0], wavelength[-1])
    fig.suptitle(title)
    save(fig, path)


def plot_line_shares(rows: list[dict[str, str]], path: str, title: str) -> None:
    """Grouped bars: share of ``|saliency|`` per region and true class; black ticks: the region's pixel share."""
    regions = ["narrow_core", "broad_wing", "feii", "continuum"]
    classes = [c for c in CLASS_NAMES if any(r["class"] == c for r in rows)]
    width = 0.8 / max(1, len(classes))
    fig, ax = plt.subplots(figsize=(8.5, 4.6), layout="constrained")
    for j, region in enumerate(regions):
        region_rows = {r["class"]: r for r in rows if r["region"] == region}
        for i, name in enumerate(classes):
            x = j + (i - (len(classes) - 1) / 2) * width
            share = float(region_rows[name]["saliency_share"])
            ax.bar(x, share, width * 0.92, color=CLASS_COLOURS[name], label=class_title(name) if j == 0 else None)
            ax.text(
                x,
                share + 0.01,
                f"×{float(region_rows[name]['enrichment']):.1f}",
                ha="center",
                fontsize=8,
                bbox={"fc": "white", "ec": "none", "pad": 0.5, "alpha": 0.8},
            )
        pixel_share = float(next(iter(region_rows.values()))["pixel_share"])
        ax.hlines(pixel_share, j - 0.45, j + 0.45, color="k", lw=2, label="pixel share (no preference)" if j == 0 else None)
    ax.set_xticks(range(len(regions)), ["narrow-line cores", "broad Balmer wings", "FeII blends", "continuum"])
    ax.set_ylabel("share of |saliency| (mean over spectra)")
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, path)


METHOD_COLOURS = {
    "gradient": "#1f77b4",
    "logit_gradient": "#d62728",
    "gradient_x_input": "#9467bd",
    "integrated_gradients": "#2ca02c",
    "smoothgrad": "#ff7f0e",
}


def plot_faithfulness_curves(rows: list[dict[str, str]], path: str, title: str) -> None:
    """Deletion and insertion curves (mean p of the predicted class against the fraction of pixels
    replaced) of every method, with the random-order curves as a grey band (mean ± std over orders).

    ``rows``: the curves table of :func:`agn_saliency.faithfulness_report.faithfulness_report`
    (``method``, ``curve``, ``fraction``, ``p_mean``, ``p_std``; method ``random`` for random orders).
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    for ax, curve in zip(axes, ("deletion", "insertion")):
        mine = [row for row in rows if row["curve"] == curve]
        for method in dict.fromkeys(row["method"] for row in mine):
            points = [row for row in mine if row["method"] == method]
            x = np.array([float(row["fraction"]) for row in points])
            y = np.array([float(row["p_mean"]) for row in points])
            if method == "random":
                spread = np.array([float(row["p_std"]) for row in points])
                ax.fill_between(x, y - spread, y + spread, color="0.8", lw=0, label="random orders (±1σ)")
                ax.plot(x, y, color="0.45", lw=1.2, ls="--")
            else:
                # the log-odds gradient is ∂p/∂flux times a per-spectrum factor: same pixel order, same curves
                dotted = method == "logit_gradient"
                ax.plot(
                    x,
                    y,
                    color=METHOD_COLOURS.get(method),
                    lw=2.6 if dotted else 1.6,
                    ls=":" if dotted else "-",
                    label=METHOD_LABELS.get(method, method) + (" (= ∂p/∂flux order)" if dotted else ""),
                )
        ax.set_xlabel(f"fraction of pixels {'replaced by the local continuum' if curve == 'deletion' else 'restored'}")
        ax.set_title(f"{curve.capitalize()} (most positive evidence first)")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean p(predicted class)")
    axes[1].legend(loc="lower right", fontsize=9)
    fig.suptitle(title)
    save(fig, path)


GATE_COLOURS = {"agn": "#d62728", "not_agn": "#1f77b4", "uncertain": "0.5"}


def plot_gate_diagram(rows: list[dict[str, str]], path: str, title: str) -> None:
    """The AGN gate's evidence for a folder: the BPT diagram (narrow-line ratios, Kewley et al. 2001 and
    Kauffmann et al. 2003 lines) with each file coloured by its ``agn_status`` and ringed when a broad
    Balmer line was found; files without both ratios are listed on the right with their reason."""
    from agn_saliency.spectra.gate import kauffmann_2003, kewley_2001

    fig, (ax, side) = plt.subplots(1, 2, figsize=(12, 5.2), width_ratios=[1.15, 1], layout="constrained")
    x = np.linspace(-2.2, 0.4, 300)
    ax.plot(x, kewley_2001(x), "k-", lw=1.2, label="Kewley+01 (max. starburst)")
    xk = x[x < 0.0]
    ax.plot(xk, kauffmann_2003(xk), "k--", lw=1.2, label="Kauffmann+03")
    unplaced = []
    for row in rows:
        ratio_x, ratio_y = float(row["log_nii_halpha"] or "nan"), float(row["log_oiii_hbeta"] or "nan")
        name = row.get("key") or os.path.basename(row["file"])
        if not (np.isfinite(ratio_x) and np.isfinite(ratio_y)):
            unplaced.append((name, row["agn_status"], row["gate_reason"]))
            continue
        colour = GATE_COLOURS.get(row["agn_status"], "k")
        broad = bool(row.get("broad_line"))
        ax.scatter(ratio_x, ratio_y, s=70, color=colour, edgecolor="k" if broad else "none", lw=1.5, zorder=3)
        ax.annotate(name, (ratio_x, ratio_y), fontsize=7, xytext=(4, 3), textcoords="offset points")
    for status, colour in GATE_COLOURS.items():
        ax.scatter([], [], s=70, color=colour, label=status)
    ax.scatter([], [], s=70, facecolor="w", edgecolor="k", lw=1.5, label="broad Balmer line")
    ax.set_xlim(-2.2, 0.8)
    ax.set_ylim(-1.3, 1.5)
    ax.set_xlabel("log [NII] 6585 / Hα")
    ax.set_ylabel("log [OIII] 5008 / Hβ")
    ax.legend(loc="lower left", fontsize=8)
    ax.set_title("BPT diagram (narrow lines)")
    side.axis("off")
    lines = [
        f"{name}: {status}\n" + textwrap.fill(reason, 66, initial_indent="  ", subsequent_indent="  ")
        for name, status, reason in unplaced
    ]
    side.text(
        0, 1, "Not on the diagram (a ratio not measurable):\n\n" + "\n".join(lines), va="top", fontsize=7.5, family="monospace"
    )
    fig.suptitle(title)
    save(fig, path)
