"""What a reader of each figure needs is on it: legend markers at the size of the points they name,
labelled axes with units, legends clear of the curves, summary bins that follow the data, and
saliency titles naming the class whose probability is differentiated.

The plot functions save their figure and return nothing: :func:`drawn` catches the figure each
saves (and still saves it)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from agn_saliency.plotting import style


@pytest.fixture
def drawn(monkeypatch) -> dict[str, Figure]:
    """Path → figure of every figure saved while the fixture is active."""
    figures: dict[str, Figure] = {}
    original = style.save

    def save(fig, path, *args, **kwargs):
        figures[Path(path).name] = fig
        return original(fig, path, *args, **kwargs)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("agn_saliency.plotting") and getattr(module, "save", None) is original:
            monkeypatch.setattr(module, "save", save)
    return figures


def legend_marker_sizes(fig: Figure) -> dict[str, float]:
    """Legend entry → its marker's size [pt] (diameter) for every axes legend of ``fig``."""
    sizes = {}
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        for handle, text in zip(legend.legend_handles, legend.get_texts()):
            if hasattr(handle, "get_markersize"):
                sizes[text.get_text()] = float(handle.get_markersize())
            else:  # a scatter's handle: its area [pt²]
                sizes[text.get_text()] = float(np.sqrt(np.max(handle.get_sizes())))
    return sizes


def test_tsne_legend_markers_match_the_map(tmp_path: Path, drawn: dict[str, Figure]) -> None:
    """The ring and the cross of the legend are as large as on the map (not scaled up with the class
    dots); the class dots are large enough to show their colour and smaller than the ring."""
    from agn_saliency.plotting import plot_tsne_map
    from agn_saliency.plotting.maps import CROSS_SIZE, RING_SIZE

    rng = np.random.default_rng(0)
    label = np.array(["type1"] * 40 + ["type2"] * 40 + ["intermediate"] * 20, dtype=object)
    xy = rng.normal(size=(100, 2))
    highlight, wrong = np.zeros(100, bool), np.zeros(100, bool)
    highlight[::10], wrong[::20] = True, True
    plot_tsne_map(xy, label, str(tmp_path / "tsne.png"), "t-SNE", highlight=highlight, misclassified=wrong)
    sizes = legend_marker_sizes(drawn["tsne.png"])
    assert set(sizes) == {"Type 1 (40)", "Type 2 (40)", "Intermediate (20)", "plotted saliency (10)", "misclassified (5)"}
    assert sizes["plotted saliency (10)"] == pytest.approx(np.sqrt(RING_SIZE))
    assert sizes["misclassified (5)"] == pytest.approx(np.sqrt(CROSS_SIZE))
    for name in ("Type 1 (40)", "Type 2 (40)", "Intermediate (20)"):
        assert 4 <= sizes[name] < sizes["plotted saliency (10)"], sizes
