"""Every figure the pipeline draws. Functions take arrays and a path; nothing is computed here that a
computation rule should own.

Importing this package changes no global matplotlib state (no backend is chosen, no rcParams are
set): figures are :class:`matplotlib.figure.Figure` objects made without :mod:`matplotlib.pyplot`,
and each public plot function applies the house style (:data:`~agn_saliency.plotting.style.STYLE`)
only while it draws (:func:`~agn_saliency.plotting.style.house_style`).

Modules
-------
``style``           colours, titles, labels, the house style, line markers, the atomic PNG save
``spectra``         :func:`plot_sample_spectra`
``maps``            :func:`plot_tsne_map`, :func:`plot_decision_regions`
``classification``  :func:`plot_confusion`, :func:`plot_grid_scores`
``saliency``        :class:`SaliencyFigure`, :func:`plot_saliency_spectra`, :func:`plot_saliency_spectrum`, :func:`plot_saliency_means`, :func:`plot_line_shares`, :func:`plot_robustness`
``faithfulness``    :func:`plot_faithfulness_curves`
``gate``            :func:`plot_gate_diagram`
"""

from agn_saliency.plotting.classification import plot_confusion, plot_grid_scores
from agn_saliency.plotting.faithfulness import METHOD_COLOURS, plot_faithfulness_curves
from agn_saliency.plotting.gate import GATE_COLOURS, plot_gate_diagram
from agn_saliency.plotting.maps import plot_decision_regions, plot_tsne_map
from agn_saliency.plotting.saliency import (
    SALIENCY_CMAP,
    SaliencyFigure,
    plot_line_shares,
    plot_robustness,
    plot_saliency_means,
    plot_saliency_spectra,
    plot_saliency_spectrum,
)
from agn_saliency.plotting.spectra import plot_sample_spectra
from agn_saliency.plotting.style import (
    CLASS_COLOURS,
    CLASS_TITLES,
    FIGURE_FORMATS,
    METHOD_LABELS,
    SAVE_DPI,
    STYLE,
    WAVELENGTH_LABEL,
    class_title,
    figure_format,
    figure_settings,
    house_style,
    mark_lines,
    save,
)

__all__ = [
    "CLASS_COLOURS",
    "CLASS_TITLES",
    "FIGURE_FORMATS",
    "GATE_COLOURS",
    "METHOD_COLOURS",
    "METHOD_LABELS",
    "SALIENCY_CMAP",
    "SAVE_DPI",
    "STYLE",
    "WAVELENGTH_LABEL",
    "SaliencyFigure",
    "class_title",
    "figure_format",
    "figure_settings",
    "house_style",
    "mark_lines",
    "plot_confusion",
    "plot_decision_regions",
    "plot_faithfulness_curves",
    "plot_gate_diagram",
    "plot_grid_scores",
    "plot_line_shares",
    "plot_robustness",
    "plot_sample_spectra",
    "plot_saliency_means",
    "plot_saliency_spectra",
    "plot_saliency_spectrum",
    "plot_tsne_map",
    "save",
]
