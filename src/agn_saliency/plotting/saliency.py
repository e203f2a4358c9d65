"""Saliency figures: one spectrum coloured by its map with a panel per attribution method (drawn on
a reused figure per layout), the class-mean maps, and the share of saliency per line region."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from matplotlib.collections import LineCollection
from matplotlib.colors import LinearSegmentedColormap, TwoSlopeNorm
from matplotlib.figure import Figure
from matplotlib.ticker import ScalarFormatter

from agn_saliency.core.lines import FEII_BANDS
from agn_saliency.core.logs import progress
from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.explain.maps import check_smoothing
from agn_saliency.plotting.style import (
    CLASS_COLOURS,
    METHOD_LABELS,
    WAVELENGTH_LABEL,
    class_title,
    figure_dpi,
    house_style,
    mark_lines,
    save,
)

SALIENCY_CMAP = LinearSegmentedColormap.from_list(
    "saliency", ["#053061", "#2166ac", "#6a8fbf", "#7a7a7a", "#d6866f", "#b2182b", "#67001f"]
)
"""Red: more flux here raises the probability; blue: lowers it. Diverging like RdBu, but through
mid grey instead of white: where the map is near zero the spectrum stays visible."""


PANEL_LABELS = {"logit_gradient": "∂ log-odds\n/∂flux", "gradient_x_input": "flux ×\n∂p/∂flux"}
"""Two-line y labels of the method panels where wrapping :data:`METHOD_LABELS` would break a word (at the hyphen of "log-odds")."""


def panel_label(method: str) -> str:
    """The y label of a method's panel: at most 14 characters a line (a panel is about 1 inch tall), no word broken."""
    return PANEL_LABELS.get(method) or textwrap.fill(METHOD_LABELS.get(method, method), 14, break_on_hyphens=False)


def _smooth(values: np.ndarray, pixels: int) -> np.ndarray:
    """Running mean over ``pixels`` (display only); 1 returns the input."""
    if pixels <= 1:
        return values
    check_smoothing(pixels, values.shape[-1])
    kernel = np.ones(pixels) / pixels
    return np.convolve(values, kernel, mode="same")


def _symmetric_limit(values: np.ndarray) -> float:
    limit = float(np.percentile(np.abs(values), 99.5)) if values.size else 1.0
    return limit if limit > 0 else 1.0


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


def _probability(p: float) -> str:
    """A probability as a title shows it: three decimals, or how far from 0 or 1 when they would round to it
    (a saturated p = 1 − 1.4e-08 explains why ∂p/∂flux vanishes; "1.000" would not)."""
    if 0 < p < 5e-4:
        return f"{p:.1e}"
    if 1 - 5e-4 < p < 1:
        return f"1 − {1 - p:.1e}"
    return f"{p:.3f}"


def _saliency_title(figure: SaliencyFigure) -> str:
    """The title of a saliency figure: who it is, what was predicted, which class's probability the maps
    differentiate (the predicted one) with its value, the other probabilities and the verdicts."""
    title = class_title(figure.predicted_label)
    smoothing = f", running mean over {figure.smooth_pixels} px" if figure.smooth_pixels > 1 else ""
    if figure.true_label:
        verdict = "✓" if figure.predicted_label == figure.true_label else "✗ misclassified"
        heading = f"{figure.name}   true: {class_title(figure.true_label)}   predicted: {title} {verdict}"
    else:  # unlabelled spectrum (predict)
        heading = f"{figure.name}   predicted: {title}"
    heading += f"   [{figure.subtitle}{smoothing}]"
    probability = dict(zip(figure.class_names, figure.probabilities))
    maps = f"maps differentiate p({title}) = {_probability(float(probability.get(figure.predicted_label, np.nan)))}"
    others = ", ".join(
        f"p({class_title(c)}) = {_probability(float(p))}" for c, p in probability.items() if c != figure.predicted_label
    )
    return "\n".join([heading, f"{maps}, the predicted class" + (f";   {others}" if others else ""), *figure.verdicts])


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
        n = len(methods)
        height = 3.35 + 1.25 * n + 0.2 * lines_of_title
        # drawn at the resolution it is saved at: savefig would otherwise rescale every transform there and back per PNG
        self.fig = fig = Figure(figsize=(11, height), dpi=figure_dpi())
        # A fixed layout (not "constrained"): it halves the drawing time of these many-panel figures.
        grid = fig.add_gridspec(
            1 + n,
            1,
            height_ratios=[2.6] + [1] * n,
            hspace=0.2,  # room for each panel's "1e-2" scale label
            left=0.1,  # room for two-line panel labels left of tick labels like "−0.25"
            right=0.9,
            bottom=0.55 / height,
            top=1 - (0.7 + 0.2 * lines_of_title) / height,  # the title above the line names
        )
        axes = [fig.add_subplot(grid[0])]
        axes += [fig.add_subplot(grid[i], sharex=axes[0]) for i in range(1, 1 + n)]
        for ax in axes[:-1]:
            ax.tick_params(labelbottom=False)
            ax.xaxis.set_label_coords(0.5, 0.0)  # no x label here: a fixed place spares placing it anew on every draw
        self.top, self.panels = axes[0], axes[1:]
        # created in the order of a figure drawn at once: artists of equal zorder are drawn in that order
        (self.background,) = self.top.plot([], [], color="0.88", lw=2.6, zorder=0)
        self.lines = LineCollection([], cmap=SALIENCY_CMAP, norm=TwoSlopeNorm(0.0, -1.0, 1.0), linewidths=1.6)
        self.top.add_collection(self.lines)
        self.top.set_ylabel("Normalised flux")
        box = self.top.get_position()
        self.colorbar = fig.colorbar(self.lines, cax=fig.add_axes((0.91, box.y0, 0.012, box.height)))
        mark_lines(self.top, wavelength_range)
        for ax, method in zip(self.panels, methods):
            ax.axhline(0, color="k", lw=0.5)
            ax.set_ylabel(panel_label(method), fontsize=9)
            ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 2))
            mark_lines(ax, wavelength_range, labels=False)
        axes[-1].set_xlabel(WAVELENGTH_LABEL)
        axes[-1].set_xlim(*wavelength_range)
        self.fills: list[list] = [[] for _ in methods]  # per panel, the two polygons of the spectrum drawn last
        self.notes: list = [None] * n  # per panel, the "p saturated" text of the spectrum drawn last

    def draw(self, figure: SaliencyFigure) -> None:
        """Show ``figure``'s spectrum and maps (the canvas must have its layout)."""
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
        self.top.set_title(_saliency_title(figure), fontsize=11, pad=34, y=1.0)
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


@house_style
def plot_saliency_spectra(figures: Sequence[SaliencyFigure]) -> None:
    """Draw and save every figure (see :func:`plot_saliency_spectrum`), reusing one matplotlib figure
    per layout: only the spectrum's data changes between two PNGs, so each costs about half as much
    as a figure built on its own, and looks the same.

    Parameters
    ----------
    figures
        What to draw, each saved to its ``path``; figures with the same methods, number of title
        lines and wavelength range share a layout.
    """
    groups: dict[tuple, list[SaliencyFigure]] = {}
    for figure in figures:
        groups.setdefault(_saliency_layout(figure), []).append(figure)
    ordered = [(layout, figure) for layout, members in groups.items() for figure in members]
    canvas, canvas_layout, widest = None, None, 0
    for layout, figure in progress(ordered, "saliency figures drawn"):
        if layout != canvas_layout:
            methods, lines_of_title, lo, hi = layout
            canvas, canvas_layout, widest = _SaliencyCanvas(methods, lines_of_title, (lo, hi)), layout, 0
        canvas.draw(figure)
        # The layout is fixed: only a title wider than those checked can bring a new problem.
        width = max(len(line) for line in _saliency_title(figure).splitlines())
        # zlib level 3: about 30 % faster than 6, files ~8 % larger
        save(canvas.fig, figure.path, tight=False, compress_level=3, check=width > widest)
        widest = max(widest, width)


@house_style
def plot_saliency_spectrum(figure: SaliencyFigure) -> None:
    """The spectrum drawn as a line coloured by the first method's map of its predicted class, then
    one panel per method (red: more flux here raises the predicted class's score; blue: lowers
    it), main lines marked; each panel on its own scale (the methods have different units).

    Parameters
    ----------
    figure
        What to draw, saved to ``figure.path``.
    """
    plot_saliency_spectra([figure])


@house_style
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
    spectra of that class, with the class-mean spectrum in grey for orientation.

    Parameters
    ----------
    wavelength : ndarray of shape (n_pixels,)
        Rest-frame vacuum wavelength grid [Å].
    flux : ndarray of shape (n_spectra, n_pixels)
        The explained spectra.
    saliency : ndarray of shape (n_spectra, n_classes, n_pixels)
        ∂p_k/∂flux of every class.
    true_label : ndarray of shape (n_spectra,)
        True class of each spectrum.
    class_names
        Classes in the order of ``saliency``'s second axis.
    path
        PNG to write.
    title
        Figure title.
    smooth_pixels
        Running mean over this many pixels (display only; 1: none).
    """
    present = [c for c in class_names if (true_label == c).any()]
    fig = Figure(figsize=(11, 2.8 * len(present) + 0.6), layout="constrained")
    axes = fig.subplots(len(present), 1, sharex=True, squeeze=False)
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
        twin.plot(wavelength, flux[members].mean(axis=0), color="0.55", lw=0.8, label="class-mean flux (right axis)")
        twin.set_ylabel("Mean normalised flux", color="0.45")
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
    # One legend for every panel, below them: inside a panel it covered the map wherever it went.
    handles, labels = axes[0, 0].get_legend_handles_labels()
    twin_handles, twin_labels = twin.get_legend_handles_labels()  # the grey spectrum is the same kind in every panel
    handles, labels = handles + twin_handles, labels + twin_labels
    fig.legend(handles, labels, loc="outside lower center", ncols=len(labels), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel(WAVELENGTH_LABEL)
    axes[-1, 0].set_xlim(wavelength[0], wavelength[-1])
    fig.suptitle(title)
    save(fig, path)


@house_style
def plot_line_shares(rows: list[dict[str, str]], path: str, title: str) -> None:
    """Grouped bars: share of ``|saliency|`` per region and true class; black ticks: the region's pixel share.

    Parameters
    ----------
    rows
        The table of :func:`agn_saliency.explain.maps.line_shares`: ``class``, ``region``
        (``narrow_core``, ``broad_wing``, ``feii``, ``continuum``), ``saliency_share``,
        ``enrichment`` and ``pixel_share``.
    path
        PNG to write.
    title
        Axes title.
    """
    regions = ["narrow_core", "broad_wing", "feii", "continuum"]
    classes = [c for c in CLASS_NAMES if any(r["class"] == c for r in rows)]
    width = 0.8 / max(1, len(classes))
    fig = Figure(figsize=(8.5, 4.6), layout="constrained")
    ax = fig.subplots()
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
    ax.set_xticks(range(len(regions)), ["narrow-line\ncores", "broad Balmer\nwings", "FeII\nblends", "continuum"])
    ax.set_ylabel("share of |saliency| (mean over spectra)")
    ax.set_title(title)
    ax.legend(frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    save(fig, path)


@house_style
def plot_robustness(ratios: list[dict[str, str]], dilution: list[dict[str, str]], path: str, title: str) -> None:
    """Left: each true class's line/absorption saliency ratio (dashed: the floor of 2); right: the
    share of type-1 test spectra still called type 1 against the host fraction added (dashed: 0.95).

    Parameters
    ----------
    ratios, dilution
        The tables of :func:`agn_saliency.explain.robustness.robustness_rows` (``class``,
        ``line_absorption_ratio``; ``host_fraction``, ``kept_type1``, ``kept_if_correct``).
    path
        Figure to write.
    title
        Figure title.
    """
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    classes = [c for c in CLASS_NAMES if any(r["class"] == c for r in ratios)]
    values = [float(next(r for r in ratios if r["class"] == c)["line_absorption_ratio"]) for c in classes]
    left.bar(range(len(classes)), values, color=[CLASS_COLOURS[c] for c in classes])
    for i, value in enumerate(values):
        left.text(i, value, f"{value:.2f}", ha="center", va="bottom", fontsize=9)
    left.axhline(2.0, color="k", ls="--", lw=1)
    # the dashed lines say what they are
    left.text(len(classes) - 0.55, 2.0, "floor 2", ha="right", va="center", fontsize=9,
              bbox={"fc": "white", "ec": "none", "pad": 1.5})  # fmt: skip
    left.set_ylim(0, max([2.0, *values]) * 1.1)  # room for the values above the bars
    left.set_xticks(range(len(classes)), [class_title(c) for c in classes])
    left.set_ylabel("line / absorption mean |∂p/∂flux| per pixel")
    if dilution:
        fractions = [float(r["host_fraction"]) for r in dilution]
        right.plot(
            fractions,
            [float(r["kept_type1"]) for r in dilution],
            "o-",
            color=CLASS_COLOURS["type1"],
            label="all type-1 test spectra",
        )
        right.plot(
            fractions, [float(r["kept_if_correct"]) for r in dilution], "s:", color="0.4", label="those called type 1 undiluted"
        )
    right.axhline(0.95, color="k", ls="--", lw=1, label="floor 0.95")
    if dilution:
        right.legend(frameon=False, loc="lower left")
    right.set_ylim(min(0.5, right.get_ylim()[0]), 1.01)
    right.set_xlabel("host share of the 5100 Å continuum added")
    right.set_ylabel("share still called type 1")
    fig.suptitle(title)
    save(fig, path)
