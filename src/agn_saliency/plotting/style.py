"""What every figure shares: class colours and titles, axis labels, the house style (:data:`STYLE`,
applied by :func:`house_style` while a figure is drawn, never on import), line markers and the
atomic save (PNG, PDF or SVG, at the resolution of :func:`figure_settings`).

Figures are :class:`matplotlib.figure.Figure` objects made directly, not through :mod:`matplotlib.pyplot`:
no backend is chosen or needed (``savefig`` renders PNGs with Agg) and no figure is registered
anywhere, so nothing needs closing.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from agn_saliency.core.files import atomic_output
from agn_saliency.core.lines import EMISSION_LINES, FEII_BANDS, PLOT_LINES

CLASS_COLOURS = {"type1": "#1f77b4", "type2": "#d62728", "intermediate": "#2ca02c"}
CLASS_TITLES = {"type1": "Type 1", "type2": "Type 2", "intermediate": "Intermediate"}
WAVELENGTH_LABEL = "Rest-frame vacuum wavelength [Å]"

METHOD_LABELS = {
    "gradient": "∂p/∂flux",
    "logit_gradient": "∂ log-odds/∂flux",
    "gradient_x_input": "flux × ∂p/∂flux",
    "integrated_gradients": "integrated gradients",
    "smoothgrad": "SmoothGrad",
}
"""Short axis labels of the attribution methods (:data:`agn_saliency.explain.saliency.ATTRIBUTION_METHODS`)."""

SAVE_DPI = 110
"""Resolution of every PNG (saliency figures are also drawn at it: see
:class:`~agn_saliency.plotting.saliency._SaliencyCanvas`)."""

STYLE = {
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "legend.fontsize": 10,
    "figure.dpi": 100,
    "savefig.dpi": SAVE_DPI,
}
"""The house style: rcParams every figure is drawn and saved with (:func:`house_style`)."""

FIGURE_FORMATS = ("png", "pdf", "svg")
"""The formats a figure can be saved in (``plots.format``); a figure's file suffix names it."""

_resolution: dict[str, Any] = {"dpi": SAVE_DPI, "format": "png"}


@contextlib.contextmanager
def figure_settings(dpi: int = SAVE_DPI, format: str = "png") -> Iterator[None]:  # noqa: A002 - plots.format
    """Draw and save every figure made inside at ``dpi`` (``plots.dpi``); ``format`` (``plots.format``)
    is what :func:`figure_format` tells the callers that name files (:func:`save` reads a file's
    format from its suffix).

    Worker processes forked inside inherit the setting.
    """
    if format not in FIGURE_FORMATS:
        raise ValueError(f"plots.format must be one of {', '.join(FIGURE_FORMATS)}, got {format!r}")
    previous = dict(_resolution)
    _resolution.update(dpi=int(dpi), format=format)
    try:
        yield
    finally:
        _resolution.update(previous)


def figure_dpi() -> int:
    """The resolution figures are drawn and saved at now (:func:`figure_settings`)."""
    return int(_resolution["dpi"])


def figure_format() -> str:
    """The suffix (without the dot) of the figure files named now (:func:`figure_settings`)."""
    return str(_resolution["format"])


_Plot = TypeVar("_Plot", bound=Callable[..., Any])


def house_style(plot: _Plot) -> _Plot:
    """Decorate a plot function to draw and save within :data:`STYLE` (:func:`matplotlib.rc_context`).

    The caller's rcParams are restored when the function returns, so importing or calling a plot
    function changes no global matplotlib state; every font, size and resolution a figure needs
    is set while it is made, drawn and saved (tick labels are made only when a figure is drawn).

    Parameters
    ----------
    plot
        A function that makes, draws and saves its figures before returning.

    Returns
    -------
    callable
        ``plot`` run inside ``matplotlib.rc_context(STYLE)``.
    """

    @functools.wraps(plot)
    def styled(*args: Any, **kwargs: Any) -> Any:
        with matplotlib.rc_context({**STYLE, "savefig.dpi": figure_dpi()}):
            return plot(*args, **kwargs)

    return styled  # type: ignore[return-value]


def class_title(name: str) -> str:
    """The display name of a class (``"type1"`` → ``"Type 1"``); unknown names unchanged."""
    return CLASS_TITLES.get(name, name)


def save(
    fig: Figure, path: str | os.PathLike[str], tight: bool = True, compress_level: int | None = None, check: bool = True
) -> None:
    """Save a figure atomically, as PNG, PDF or SVG by the suffix of ``path`` (:data:`FIGURE_FORMATS`).

    Parameters
    ----------
    fig
        The figure (drawn again by ``savefig``; it may be drawn on and saved again afterwards).
    path
        Destination; a reader never sees a half-written file.
    tight
        Crop to the drawn content (``bbox_inches="tight"``); ``False`` keeps the figure's own
        margins (for fixed layouts: a tight bounding box draws the figure twice).
    compress_level
        zlib level 0–9 of a PNG (Pillow's default 6 if ``None``): trades file size for time, never pixels.
    check
        Look for :func:`layout_problems` first (about half a save's time) and log each as a warning
        naming the file; figures drawn again and again on one fixed layout check the first.
    """
    if check:
        for problem in layout_problems(fig, inside_canvas=not tight):
            logging.getLogger("agn_saliency.figures").warning("%s: %s", os.fspath(path), problem)
    kind = os.path.splitext(os.fspath(path))[1].lstrip(".").lower() or "png"
    if kind not in FIGURE_FORMATS:
        raise ValueError(f"{path}: a figure is saved as {', '.join(FIGURE_FORMATS)}, not {kind!r}")
    extra: dict[str, Any] = {}
    if kind == "png" and compress_level is not None:
        extra["pil_kwargs"] = {"compress_level": compress_level}
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format=kind, dpi=figure_dpi(), bbox_inches="tight" if tight else None, **extra)


def mark_lines(ax: Axes, wavelength_range: tuple[float, float], labels: bool = True, feii: bool = True) -> None:
    """Dotted verticals at the main lines in range (labelled at the top) and shaded FeII bands.

    Parameters
    ----------
    ax
        Axes with rest-frame wavelength (Å) on x.
    wavelength_range
        The x range shown; lines and bands outside it are left out.
    labels
        Name each line above the axes.
    feii
        Shade the optical FeII blends (:data:`agn_saliency.core.lines.FEII_BANDS`).
    """
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


def _drawn_texts(fig: Figure) -> list[Any]:
    """Every visible, non-empty text a drawn figure shows: titles, labels, annotations, legend
    entries and the tick labels matplotlib actually draws (those inside the view limits)."""
    from matplotlib.axis import Axis
    from matplotlib.text import Text

    tick_labels = set()
    drawn = []
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                tick_labels.update({id(tick.label1), id(tick.label2)})
            if axis.get_visible() and ax.get_visible():
                for tick in axis._update_ticks():  # the ticks this draw shows
                    drawn += [label for label in (tick.label1, tick.label2) if label.get_visible()]
    for text in fig.findobj(Text):
        if id(text) in tick_labels or isinstance(text.axes, Axis) or (text.axes is not None and not text.axes.get_visible()):
            continue
        drawn.append(text)
    return [t for t in drawn if t.get_visible() and t.get_text().strip() and t.get_alpha() != 0]


def layout_problems(fig: Figure, inside_canvas: bool = True) -> list[str]:
    """What a reader would see as broken in a figure's layout, one line each (empty: none).

    * a text (title, label, tick label, annotation, legend entry) that overlaps another;
    * with ``inside_canvas``, a text reaching outside the figure (a fixed-layout figure crops it);
    * a legend inside an axes that covers plotted data (line vertices or scatter points).

    The figure is laid out by :meth:`~matplotlib.figure.Figure.draw_without_rendering` (no pixels).
    """
    import numpy as np

    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    texts = _drawn_texts(fig)
    boxes = [text.get_window_extent(renderer) for text in texts]
    problems = []
    canvas = fig.bbox
    for text, box in zip(texts, boxes):
        if inside_canvas and (
            box.x0 < canvas.x0 - 1 or box.y0 < canvas.y0 - 1 or box.x1 > canvas.x1 + 1 or box.y1 > canvas.y1 + 1
        ):
            problems.append(f"text {text.get_text()!r} reaches outside the figure")
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            a, b = boxes[i], boxes[j]
            overlap_x = min(a.x1, b.x1) - max(a.x0, b.x0)
            overlap_y = min(a.y1, b.y1) - max(a.y0, b.y0)
            if overlap_x > 1 and overlap_y > 1:
                problems.append(f"texts {texts[i].get_text()!r} and {texts[j].get_text()!r} overlap")
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None or not legend.get_visible():
            continue
        box = legend.get_window_extent(renderer)
        if not ax.bbox.contains(*box.p0) and not ax.bbox.contains(*box.p1):
            continue  # placed outside the axes
        points = [line.get_transform().transform(line.get_xydata()) for line in ax.get_lines() if line.get_visible()]
        points += [c.get_offset_transform().transform(c.get_offsets()) for c in ax.collections if len(c.get_offsets())]
        points = [p for p in points if len(p)]
        if points:
            xy = np.concatenate(points)
            covered = int(((xy[:, 0] > box.x0) & (xy[:, 0] < box.x1) & (xy[:, 1] > box.y0) & (xy[:, 1] < box.y1)).sum())
            if covered:
                problems.append(f"the legend of {ax.get_title() or 'an axes'!r} covers {covered} data points")
    return problems


_LABEL_OFFSETS = [
    (dx * r, dy * r)
    for r in (1.0, 2.2, 3.6)
    for dx, dy in ((1, 1), (1, -1), (-1, 1), (-1, -1), (0, 1.4), (0, -1.4), (1.4, 0), (-1.4, 0))
]


def place_labels(
    ax: Axes, points: list[tuple[float, float]], labels: list[str], fontsize: float = 7, gap: float = 4.0
) -> list[Any]:
    """Annotate data ``points`` with ``labels`` where no label covers another, a point, a drawn
    curve, the legend or the axes' edge: for each label (in order) the first of a ring of offsets (``gap`` points and multiples)
    whose box is free; the first offset when none is. Returns the annotations.
    """
    import numpy as np

    fig = ax.get_figure()
    fig.draw_without_rendering()
    renderer = fig._get_renderer()
    frame = ax.get_window_extent(renderer)
    marker = np.asarray([ax.transData.transform(p) for p in points]).reshape(-1, 2)
    drawn = [line.get_transform().transform(line.get_xydata()) for line in ax.get_lines() if len(line.get_xydata())]
    curve = np.concatenate(drawn) if drawn else np.zeros((0, 2))  # curves' vertices: a name should not cross them
    legend = ax.get_legend()
    taken: list[Any] = [legend.get_window_extent(renderer)] if legend is not None else []
    placed = []
    for (x, y), label in zip(points, labels):
        chosen = None
        for dx, dy in _LABEL_OFFSETS:
            ha = "left" if dx > 0 else "right" if dx < 0 else "center"
            va = "bottom" if dy > 0 else "top" if dy < 0 else "center"
            text = ax.annotate(
                label, (x, y), xytext=(dx * gap, dy * gap), textcoords="offset points", fontsize=fontsize, ha=ha, va=va
            )
            box = text.get_window_extent(renderer).expanded(1.05, 1.1)
            clear = (
                frame.contains(box.x0, box.y0)
                and frame.contains(box.x1, box.y1)
                and not any(box.overlaps(other) for other in taken)
                and not any(box.x0 - 5 < mx < box.x1 + 5 and box.y0 - 5 < my < box.y1 + 5 for mx, my in marker)
                and not (
                    (curve[:, 0] > box.x0 - 2)
                    & (curve[:, 0] < box.x1 + 2)
                    & (curve[:, 1] > box.y0 - 2)
                    & (curve[:, 1] < box.y1 + 2)
                ).any()
            )
            if clear or chosen is None:
                if chosen is not None:
                    chosen.remove()
                chosen = text
                if clear:
                    break
            else:
                text.remove()
        taken.append(chosen.get_window_extent(renderer))
        placed.append(chosen)
    return placed
