"""What every figure shares: class colours and titles, axis labels, the house style (:data:`STYLE`,
applied by :func:`house_style` while a figure is drawn, never on import), line markers and the
atomic PNG save.

Figures are :class:`matplotlib.figure.Figure` objects made directly, not through :mod:`matplotlib.pyplot`:
no backend is chosen or needed (``savefig`` renders PNGs with Agg) and no figure is registered
anywhere, so nothing needs closing.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
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
        with matplotlib.rc_context(STYLE):
            return plot(*args, **kwargs)

    return styled  # type: ignore[return-value]


def class_title(name: str) -> str:
    """The display name of a class (``"type1"`` → ``"Type 1"``); unknown names unchanged."""
    return CLASS_TITLES.get(name, name)


def save(fig: Figure, path: str | os.PathLike[str], tight: bool = True, compress_level: int | None = None) -> None:
    """Save a figure as PNG, atomically.

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
        zlib level 0–9 (Pillow's default 6 if ``None``): trades file size for time, never pixels.
    """
    pil_kwargs = {} if compress_level is None else {"compress_level": compress_level}
    with atomic_output(path) as tmp:
        fig.savefig(tmp, format="png", bbox_inches="tight" if tight else None, pil_kwargs=pil_kwargs)


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
