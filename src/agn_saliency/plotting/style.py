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


def save(fig: Figure, path: str | os.PathLike[str], tight: bool = True, compress_level: int | None = None) -> None:
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
    """
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
