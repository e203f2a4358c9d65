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

import agn_saliency.plotting.summary  # noqa: F401 - loaded before `drawn` patches every plotting module's save
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


@pytest.mark.parametrize(
    "z, counts",
    [
        ([0.05, 0.1, 0.2], [1, 1, 1]),  # three spectra: three bins, not one
        (np.linspace(0.02, 0.3, 8), [3, 3, 2]),
        ([0.1, 0.1, 0.1, 0.2], [3, 1]),  # ties never straddle an edge, no bin is empty
        ([0.1, np.nan, 0.3], [1, 1]),
        (np.random.default_rng(0).uniform(0.02, 0.3, 1000), [125] * 8),
    ],
)
def test_redshift_bins_follow_the_data(z, counts) -> None:
    from agn_saliency.plotting.summary import redshift_bin_edges

    z = np.asarray(z, dtype=float)
    edges = redshift_bin_edges(z, max_bins=8)
    assert np.all(np.diff(edges) > 0), edges
    assert edges[0] == np.nanmin(z) and edges[-1] == np.nanmax(z)
    assert np.histogram(z[np.isfinite(z)], edges)[0].tolist() == counts


def test_redshift_bins_of_one_redshift_or_none() -> None:
    from agn_saliency.plotting.summary import redshift_bin_edges

    assert redshift_bin_edges(np.array([0.2, 0.2])) == pytest.approx([0.195, 0.205])
    assert len(redshift_bin_edges(np.array([np.nan]))) == 0
    with pytest.raises(ValueError, match="max_bins"):
        redshift_bin_edges(np.array([0.1]), max_bins=0)


def summary_rows(z: list[float]) -> list[dict[str, str]]:
    """Rows of predictions.ecsv as the summary figure reads them (text), one classified spectrum per z."""
    classes = ("type1", "type2", "intermediate")
    return [
        {"verdict": "classified", "status": "ok", "predicted": classes[i % 3], "z": f"{value}", "p_max": "0.9",
         "ood_score": "0.1", "log_nii_halpha": "", "log_oiii_hbeta": ""}
        for i, value in enumerate(z)
    ]  # fmt: skip


def test_predict_summary_shows_a_few_spectra_in_several_z_bins(tmp_path: Path, drawn: dict[str, Figure]) -> None:
    """Eight classified spectra (a folder like sdss_real) fill three z bins, each with its count on
    top; a single spectrum gets one bin and a note saying why."""
    from agn_saliency.plotting.summary import plot_predict_summary

    plot_predict_summary(summary_rows([0.03, 0.05, 0.06, 0.08, 0.1, 0.12, 0.2, 0.25]), str(tmp_path / "few.png"), "few")
    ax_z = drawn["few.png"].axes[0]
    counts = [t.get_text() for t in ax_z.texts]
    assert counts == ["3", "3", "2"], counts
    assert ax_z.get_xlabel().startswith("Redshift z") and ax_z.get_ylabel() == "Fraction of classified spectra"
    plot_predict_summary(summary_rows([0.07]), str(tmp_path / "one.png"), "one")
    notes = [t.get_text() for t in drawn["one.png"].axes[0].texts]
    assert "one bin: 1 spectrum at z = 0.07" in notes, notes


def saliency_figure(probabilities: list[float], predicted: str, true: str = "type2") -> object:
    from agn_saliency.plotting import SaliencyFigure

    wavelength = np.linspace(4000.0, 5500.0, 200)
    return SaliencyFigure(
        path="unused.png", name="0320-51675-0185", wavelength=wavelength, flux=np.ones(200),
        maps={"gradient": np.zeros(200)}, class_names=["type1", "type2", "intermediate"],
        probabilities=np.array(probabilities), true_label=true, predicted_label=predicted, subtitle="multiclass, random",
    )  # fmt: skip


def test_saliency_title_names_the_differentiated_class_and_its_p() -> None:
    from agn_saliency.plotting.saliency import _saliency_title

    lines = _saliency_title(saliency_figure([0.013, 0.571, 0.416], "type2", true="intermediate")).splitlines()
    assert lines[0] == "0320-51675-0185   true: Intermediate   predicted: Type 2 ✗ misclassified   [multiclass, random]"
    assert lines[1] == ("maps differentiate p(Type 2) = 0.571, the predicted class;   p(Type 1) = 0.013, p(Intermediate) = 0.416")
    # a saturated p says how close to 1 it is: that is why ∂p/∂flux vanishes
    saturated = _saliency_title(saliency_figure([1.4e-8, 1 - 1.4e-8, 0.0], "type2")).splitlines()[1]
    assert saturated.startswith("maps differentiate p(Type 2) = 1 − 1.4e-08, the predicted class;   p(Type 1) = 1.4e-08")


def test_sample_spectra_state_units_normalisation_and_offsets(tmp_path: Path, drawn: dict[str, Figure]) -> None:
    """Wavelength in Å on x, normalised flux on y, the normalisation as the cube has it (not always
    the median it used to claim) and each spectrum's offset in the legend."""
    from agn_saliency.plotting import plot_sample_spectra

    wavelength = np.linspace(4000.0, 5500.0, 300)
    rng = np.random.default_rng(1)
    flux = 1.0 + rng.normal(0, 0.05, (6, 300))
    label = np.array(["type1", "type1", "type2", "type2", "intermediate", "intermediate"], dtype=object)
    specid = np.array([f"0000-00000-{i:04d}" for i in range(6)], dtype=object)
    plot_sample_spectra(wavelength, flux, label, specid, str(tmp_path / "sample.png"), 2, 0,
                        norm_statistic="mean", norm_window=(5080.0, 5120.0))  # fmt: skip
    fig = drawn["sample.png"]
    axes = [ax for ax in fig.axes if ax.get_legend() is not None]
    assert len(axes) == 3
    assert "[Å]" in axes[-1].get_xlabel() and "Rest-frame" in axes[-1].get_xlabel()
    assert all(ax.get_ylabel() == "Normalised flux + offset" for ax in axes)
    notes = " ".join(t.get_text() for ax in axes for t in ax.texts)
    assert "flux / its mean in 5080–5120 Å" in notes and "median" not in notes
    for ax in axes:
        entries = [t.get_text() for t in ax.get_legend().get_texts()]
        assert entries[-1].endswith("(+0)") and all("(+" in e for e in entries), entries
        offsets = [float(e.split("(+")[1].rstrip(")")) for e in entries]
        assert all(o % 0.5 == 0 for o in offsets) and offsets == sorted(offsets, reverse=True), offsets


def faithfulness_rows() -> list[dict[str, str]]:
    """A curves table (text) whose curves cross every corner of both panels, the random band included."""
    rows = []
    fractions = np.linspace(0, 1, 11)
    shapes = {"gradient": 1 - fractions, "logit_gradient": 1 - fractions, "integrated_gradients": fractions,
              "smoothgrad": 0.5 + 0.45 * np.cos(6 * fractions), "random": 0.5 + 0.45 * np.sin(6 * fractions)}  # fmt: skip
    for curve in ("deletion", "insertion"):
        for method, p in shapes.items():
            rows += [{"method": method, "curve": curve, "fraction": f"{f:g}", "p_mean": f"{v:.3f}", "p_std": "0.02"}
                     for f, v in zip(fractions, p)]  # fmt: skip
    return rows


def test_faithfulness_legend_covers_no_curve(tmp_path: Path, drawn: dict[str, Figure]) -> None:
    """One legend for both panels, outside them (curves may pass through any corner), with the
    random orders as one entry."""
    from agn_saliency.plotting import plot_faithfulness_curves

    plot_faithfulness_curves(faithfulness_rows(), str(tmp_path / "faithfulness.png"), "faithfulness")
    fig = drawn["faithfulness.png"]
    assert all(ax.get_legend() is None for ax in fig.axes)
    (legend,) = fig.legends
    fig.draw_without_rendering()
    box = legend.get_window_extent()
    assert not any(box.overlaps(ax.get_window_extent()) for ax in fig.axes)
    entries = [t.get_text() for t in legend.get_texts()]
    assert len(entries) == 5 and entries[-1] == "random orders (mean ± 1σ)", entries
    assert style.layout_problems(fig) == []


@pytest.mark.parametrize("n", [6, 400])
def test_predict_summary_bpt_points_or_labelled_density(tmp_path: Path, drawn: dict[str, Figure], n: int) -> None:
    """A few spectra are points on the BPT diagram (a log density of single counts hides them);
    many are a density whose colour bar says what it counts."""
    from agn_saliency.plotting.summary import MAX_BPT_POINTS, plot_predict_summary

    rng = np.random.default_rng(2)
    rows = summary_rows(list(rng.uniform(0.02, 0.3, n)))
    for row in rows:
        row["log_nii_halpha"], row["log_oiii_hbeta"] = f"{rng.uniform(-1.5, 0.3):.3f}", f"{rng.uniform(-1, 1.2):.3f}"
    plot_predict_summary(rows, str(tmp_path / "bpt.png"), "bpt")
    fig = drawn["bpt.png"]
    ax_bpt = fig.axes[1]
    if n <= MAX_BPT_POINTS:
        assert len(fig.axes) == 4, "no colour bar for points"
        assert sum(len(c.get_offsets()) for c in ax_bpt.collections) == n
        assert ax_bpt.get_title().startswith(f"BPT diagram ({n} of {n} spectra")
    else:
        colour_bar = fig.axes[-1]
        assert colour_bar.get_ylabel() == "Spectra per cell"
        assert ax_bpt.get_title().startswith(f"BPT density ({n} of {n} spectra")


def test_saliency_panel_labels_break_no_word() -> None:
    """Every method's panel label fits a panel (≤ 14 characters a line) and no word is split across lines."""
    from agn_saliency.plotting import METHOD_LABELS
    from agn_saliency.plotting.saliency import panel_label

    for method, label in METHOD_LABELS.items():
        lines = panel_label(method).splitlines()
        assert all(len(line) <= 14 for line in lines), lines
        assert not any(line.endswith("-") for line in lines), lines
        assert "".join(lines).replace(" ", "") == label.replace(" ", ""), (lines, label)


def test_saliency_means_name_both_axes_and_the_grey_spectrum(tmp_path: Path, drawn: dict[str, Figure]) -> None:
    from agn_saliency.plotting import plot_saliency_means

    wavelength = np.linspace(4000.0, 5500.0, 100)
    rng = np.random.default_rng(4)
    true = np.array(["type1", "type2"] * 5, dtype=object)
    plot_saliency_means(wavelength, 1 + rng.normal(0, 0.1, (10, 100)), rng.normal(size=(10, 2, 100)), true,
                        ["type1", "type2"], str(tmp_path / "means.png"), "means")  # fmt: skip
    fig = drawn["means.png"]
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert sorted(labels) == ["Mean normalised flux"] * 2 + ["∂p(Type 1)/∂flux", "∂p(Type 2)/∂flux"], labels
    (legend,) = fig.legends
    assert [t.get_text() for t in legend.get_texts()] == ["± 1 std", "mean", "class-mean flux (right axis)"]


def test_robustness_dashed_floors_are_named(tmp_path: Path, drawn: dict[str, Figure]) -> None:
    from agn_saliency.plotting import plot_robustness

    ratios = [{"class": "type1", "line_absorption_ratio": "3.7"}, {"class": "type2", "line_absorption_ratio": "1.2"}]
    dilution = [{"host_fraction": f"{f}", "kept_type1": "0.95", "kept_if_correct": "0.97"} for f in (0.0, 0.4, 0.8)]
    plot_robustness(ratios, dilution, str(tmp_path / "robustness.png"), "robustness")
    left, right = drawn["robustness.png"].axes
    assert "floor 2" in [t.get_text() for t in left.texts]
    assert left.get_ylim()[1] > 3.7, "the tallest bar's value has room above it"
    assert "floor 0.95" in [t.get_text() for t in right.get_legend().get_texts()]
