"""Per-spectrum saliency figures drawn on a reused matplotlib figure look exactly like figures drawn
on their own: nothing of the spectrum drawn before (fill polygons, the "p saturated" note, y limits,
colour norm, tick labels and their "1e-2" offset text, title) shows in the next PNG; and the plotting package
leaves matplotlib's global state (backend, rcParams) alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
from matplotlib.image import imread

from agn_saliency.core.parallel import contiguous_chunks
from agn_saliency.plotting import STYLE, SaliencyFigure, plot_saliency_spectra, plot_saliency_spectrum

METHODS = ("logit_gradient", "gradient", "integrated_gradients", "gradient_x_input", "smoothgrad")
WAVELENGTH = np.linspace(4000.0, 5500.0, 1000)


def spectrum(
    path: Path, seed: int, scale: float, *, saturated: bool = False, verdicts: tuple[str, ...] = (), predicted: str = "type1"
) -> SaliencyFigure:
    """A made-up spectrum (Hβ and [OIII] of random strength) and smooth maps of about ``scale``;
    ``saturated``: ∂p/∂flux below 1e-6 everywhere (the figure then notes a saturated p)."""
    rng = np.random.default_rng(seed)
    flux = 1.0 + rng.normal(0, 0.03, WAVELENGTH.size)
    for centre, width in ((4862.7, rng.uniform(3, 40)), (4960.3, 3.0), (5008.2, 3.0)):
        flux += rng.uniform(0.5, 5.0) * np.exp(-0.5 * ((WAVELENGTH - centre) / width) ** 2)
    maps = {m: scale * np.convolve(rng.normal(size=WAVELENGTH.size), np.ones(25) / 25, mode="same") for m in METHODS}
    if saturated:
        maps["gradient"] *= 3e-9 / np.abs(maps["gradient"]).max()
    probabilities = rng.dirichlet(np.ones(3))
    return SaliencyFigure(
        path=str(path),
        name=path.stem,
        wavelength=WAVELENGTH,
        flux=flux,
        maps=maps,
        class_names=["type1", "type2", "intermediate"],
        probabilities=probabilities,
        true_label="" if verdicts else "type2",
        predicted_label=predicted,
        subtitle="test",
        verdicts=verdicts,
        smooth_pixels=3,
    )


def elsewhere(figure: SaliencyFigure, folder: Path) -> SaliencyFigure:
    """The same figure, saved under the same name in ``folder``."""
    folder.mkdir(exist_ok=True)
    return SaliencyFigure(**{**vars(figure), "path": str(folder / Path(figure.path).name)})


def pixels(figure: SaliencyFigure) -> np.ndarray:
    return imread(figure.path)


@pytest.mark.parametrize(
    "first, second",
    [
        # maps ~1e-2 (a "1e-2" offset label, an ordinary p) then ~10 with a saturated ∂p/∂flux: the note appears
        ({"seed": 1, "scale": 1e-2}, {"seed": 2, "scale": 10.0, "saturated": True, "predicted": "type2"}),
        # the other way round: the note and the offset labels must go
        ({"seed": 2, "scale": 10.0, "saturated": True, "predicted": "type2"}, {"seed": 1, "scale": 1e-2}),
    ],
    ids=["then-saturated", "after-saturated"],
)
def test_a_reused_figure_draws_the_next_spectrum_like_a_fresh_one(tmp_path: Path, first: dict, second: dict) -> None:
    a, b = spectrum(tmp_path / "a.png", **first), spectrum(tmp_path / "b.png", **second)
    plot_saliency_spectra([a, b])
    fresh_b = elsewhere(b, tmp_path / "fresh")
    plot_saliency_spectrum(fresh_b)
    assert not plt.get_fignums(), "a figure was left open"
    assert pixels(a).shape == pixels(b).shape and not np.array_equal(pixels(a), pixels(b)), "A and B must look different"
    assert np.array_equal(pixels(b), pixels(fresh_b)), "B drawn after A differs from B drawn alone"


def test_figures_of_several_layouts_in_one_call(tmp_path: Path) -> None:
    """Spectra with verdict lines (a taller title) share no figure with the others, whatever the order."""
    verdicts = ("AGN gate: agn", "in distribution (ood_score 0.12)")
    figures = [
        spectrum(tmp_path / "plain1.png", 3, 1e-2),
        spectrum(tmp_path / "predicted1.png", 4, 1.0, verdicts=verdicts, predicted="intermediate"),
        spectrum(tmp_path / "plain2.png", 5, 3.0, saturated=True, predicted="type2"),
        spectrum(tmp_path / "predicted2.png", 6, 1e-3, verdicts=verdicts, saturated=True),
    ]
    plot_saliency_spectra(figures)
    assert not plt.get_fignums(), "a figure was left open"
    shapes = {Path(f.path).stem: pixels(f).shape for f in figures}
    assert shapes["plain1"] == shapes["plain2"] and shapes["predicted1"] == shapes["predicted2"]
    assert shapes["predicted1"][0] > shapes["plain1"][0], "the two verdict lines make the figure taller"
    for figure in figures:
        fresh = elsewhere(figure, tmp_path / "fresh")
        plot_saliency_spectrum(fresh)
        assert np.array_equal(pixels(figure), pixels(fresh)), f"{figure.name} differs from the same figure drawn alone"


def test_contiguous_chunks() -> None:
    assert contiguous_chunks(range(7), 3) == [[0, 1], [2, 3], [4, 5, 6]]
    assert contiguous_chunks(range(2), 4) == [[0], [1]]
    assert contiguous_chunks([5, 6], 1) == [[5, 6]]
    assert contiguous_chunks([], 2) == []


@pytest.mark.parametrize("scale", [3e-4, 0.5])
def test_every_label_stays_on_the_figure(tmp_path: Path, scale: float) -> None:
    """Maps ~1e-4: without a power of ten above the colour bar its tick labels (-0.00020) grow so
    wide that its label leaves the figure on the right; maps ~0.25: panel tick labels like -0.25
    push the two-line panel labels (flux ×, ∂p/∂flux) off it on the left."""
    from agn_saliency.plotting.saliency import _saliency_layout, _SaliencyCanvas

    figure = spectrum(tmp_path / "labels.png", 7, scale)
    methods, lines_of_title, lo, hi = _saliency_layout(figure)
    with matplotlib.rc_context(STYLE):  # as plot_saliency_spectra draws it
        canvas = _SaliencyCanvas(methods, lines_of_title, (lo, hi))
        canvas.draw(figure)
        canvas.fig.draw_without_rendering()  # places tick and axis labels as saving does
        colour_label = canvas.colorbar.ax.yaxis.label
        assert colour_label.get_text() and colour_label.get_window_extent().x1 <= canvas.fig.bbox.x1
        for ax in [canvas.top, *canvas.panels]:
            assert ax.yaxis.label.get_window_extent().x0 >= 0, f"{ax.get_ylabel()!r} is cut at the left edge"


GLOBAL_STATE_SCRIPT = """
import sys

import matplotlib

matplotlib.use("svg")  # not the Agg the plotting module used to force on import


def state():
    rc = matplotlib.rcParams
    return matplotlib.get_backend(), {key: rc[key] for key in rc if key != "backend"}


before = state()
import numpy as np

import agn_saliency.plotting as plotting

assert state() == before, "importing agn_saliency.plotting changed matplotlib's backend or rcParams"
plotting.plot_confusion(np.eye(3, dtype=int), np.eye(3), ["type1", "type2", "intermediate"], sys.argv[1], "confusion")
assert state() == before, "drawing a figure changed matplotlib's backend or rcParams"
assert "matplotlib.pyplot" not in sys.modules, "pyplot was imported"
"""


def test_plotting_leaves_matplotlib_global_state_alone(tmp_path: Path) -> None:
    """In a fresh interpreter with another backend chosen, importing the package and drawing a figure
    change neither ``matplotlib.get_backend()`` nor any rcParam, and never import pyplot."""
    path = tmp_path / "confusion.png"
    done = subprocess.run([sys.executable, "-c", GLOBAL_STATE_SCRIPT, str(path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert imread(path).shape[0] > 100, "the figure was not saved"


def gate_rows(n_placed: int, n_unplaced: int) -> list[dict[str, str]]:
    """Rows of a predictions table as the AGN gate figure reads them (text, as read back)."""
    rng = np.random.default_rng(3)
    rows = []
    for i in range(n_placed):
        x, y = rng.uniform(-1.5, 0.3), rng.uniform(-1.0, 1.2)
        rows.append({"key": f"spec-{i:05d}", "file": f"/d/spec-{i:05d}.fits", "agn_status": ("agn", "not_agn", "uncertain")[i % 3],
                     "gate_reason": "BPT", "log_nii_halpha": f"{x:.3f}", "log_oiii_hbeta": f"{y:.3f}", "broad_line": "Hβ" if i % 5 == 0 else ""})  # fmt: skip
    for i in range(n_unplaced):
        reason = ("Hα outside the spectrum: z too high for [NII]/Hα " * 3, "no emission line above 3σ")[i % 2]
        rows.append({"key": f"far-{i:05d}", "file": f"/d/far-{i:05d}.fits", "agn_status": "uncertain",
                     "gate_reason": reason, "log_nii_halpha": "", "log_oiii_hbeta": "", "broad_line": ""})  # fmt: skip
    return rows


def test_gate_diagram_size_does_not_grow_with_the_folder(tmp_path: Path) -> None:
    """5,000 files (half without both ratios) draw a figure no larger than a folder of 4 (issue 22)."""
    from agn_saliency.plotting import plot_gate_diagram

    plot_gate_diagram(gate_rows(2, 2), str(tmp_path / "small.png"), "AGN gate of a small folder")
    plot_gate_diagram(gate_rows(2500, 2500), str(tmp_path / "large.png"), "AGN gate of a large folder")
    small, large = imread(tmp_path / "small.png").shape[:2], imread(tmp_path / "large.png").shape[:2]
    assert large[0] <= 1.6 * small[0] and large[1] <= 1.3 * small[1], (small, large)
