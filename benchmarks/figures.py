"""Benchmark: per-spectrum saliency figures drawn on one reused matplotlib figure per layout
(:func:`agn_saliency.plotting.plot_saliency_spectra`) against one new figure per spectrum.

The baseline is ``plot_saliency_spectrum`` as of ``--baseline-ref`` (the last commit that built a
whole figure per spectrum), recreated from git history in a temporary module, so nothing of it is
kept in the tree. Both draw the same synthetic spectra (4000–5500 Å, 1000 pixels, five methods on
scales from 1e-5 to 10, a third of them with the two verdict lines of ``snakemake predict``, one
saturated ∂p/∂flux) in this process, alternating, fastest of ``--repeats`` runs. Every PNG of the
new path is compared pixel by pixel with the same figure drawn on its own figure by today's code
(the baseline's PNGs were identical to them until the colour bar got a power of ten and the panel
labels a wider margin, after 1b674f2).

    python benchmarks/figures.py [--figures 30] [--repeats 2] [--baseline-ref ea95fea]

The last line printed is one JSON object:
{"old_s_per_figure": …, "new_s_per_figure": …, "old_over_new": …, "identical_pngs": …, …}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from common import import_into_package, source_at
from matplotlib.image import imread

from agn_saliency.plotting import SaliencyFigure, plot_saliency_spectra, plot_saliency_spectrum

BASELINE_REF = "ea95fea"  # last commit drawing each saliency figure on a new matplotlib figure
METHODS = ("logit_gradient", "gradient", "integrated_gradients", "gradient_x_input", "smoothgrad")


def load_baseline(ref: str, folder: Path) -> ModuleType:
    """The plotting module as of ``ref`` (a new matplotlib figure per saliency figure)."""
    source = source_at(ref, "src/agn_saliency/plotting.py", "def plot_saliency_spectrum(")
    if "def plot_saliency_spectra(" in source:
        raise SystemExit(f"{ref}:src/agn_saliency/plotting.py already reuses figures")
    return import_into_package(source, "_plotting_baseline", folder)


def synthetic_figures(n: int, folder: Path, seed: int = 0) -> list[SaliencyFigure]:
    """``n`` figures of made-up spectra and maps (Hβ and [OIII] lines, smooth maps of random scale)."""
    rng = np.random.default_rng(seed)
    wavelength = np.linspace(4000.0, 5500.0, 1000)
    figures = []
    for i in range(n):
        flux = 1.0 + rng.normal(0, 0.03, wavelength.size)
        for centre, width in ((4862.7, rng.uniform(3, 40)), (4960.3, 3.0), (5008.2, 3.0)):
            flux += rng.uniform(0.2, 4.0) * np.exp(-0.5 * ((wavelength - centre) / width) ** 2)
        maps = {}
        for method in METHODS:
            values = np.convolve(rng.normal(size=wavelength.size), np.ones(25) / 25, mode="same")
            maps[method] = values * 10.0 ** rng.uniform(-5, 1)
        if i == n // 2:
            maps["gradient"] *= 1e-9 / np.abs(maps["gradient"]).max()  # a saturated sigmoid
        probabilities = rng.dirichlet(np.ones(3))
        names = ["type1", "type2", "intermediate"]
        predict = i % 3 == 2
        figures.append(
            SaliencyFigure(
                path=str(folder / f"spectrum{i:03d}.png"),
                name=f"spec-{1000 + i}",
                wavelength=wavelength,
                flux=flux,
                maps=maps,
                class_names=names,
                probabilities=probabilities,
                true_label="" if predict else names[i % 2],
                predicted_label=names[int(np.argmax(probabilities))],
                subtitle="predict, file.fits" if predict else "multiclass, random",
                verdicts=("AGN gate: agn", f"in distribution (ood_score {i / n:.2f})") if predict else (),
                smooth_pixels=5,
            )
        )
    return figures


def main(n_figures: int, repeats: int, baseline_ref: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        old_module = load_baseline(baseline_ref, Path(tmp))
        old_dir, new_dir = Path(tmp) / "old", Path(tmp) / "new"
        figures = synthetic_figures(n_figures, new_dir)
        old_figures = [old_module.SaliencyFigure(**{**vars(f), "path": str(old_dir / Path(f.path).name)}) for f in figures]
        plot_saliency_spectra(figures[:1])  # warm up both (imports, font cache)
        old_module.plot_saliency_spectrum(old_figures[0])
        times: dict[str, list[float]] = {"old": [], "new": []}
        for _ in range(repeats):
            start = time.perf_counter()
            for figure in old_figures:
                old_module.plot_saliency_spectrum(figure)
            times["old"].append(time.perf_counter() - start)
            start = time.perf_counter()
            plot_saliency_spectra(figures)
            times["new"].append(time.perf_counter() - start)
        alone_dir = Path(tmp) / "alone"
        alone_dir.mkdir()
        alone = [SaliencyFigure(**{**vars(f), "path": str(alone_dir / Path(f.path).name)}) for f in figures]
        for figure in alone:
            plot_saliency_spectrum(figure)  # a fresh figure for each
        identical = sum(np.array_equal(imread(f.path), imread(g.path)) for f, g in zip(figures, alone))
    old, new = min(times["old"]) / n_figures, min(times["new"]) / n_figures
    print(f"old: {old:.3f} s per figure, new: {new:.3f} s per figure ({old / new:.2f}x); {identical}/{n_figures} PNGs identical")
    return {
        "old_s_per_figure": round(old, 4),
        "new_s_per_figure": round(new, 4),
        "old_over_new": round(old / new, 2),
        "identical_pngs": identical,
        "n_figures": n_figures,
        "repeats": repeats,
        "baseline_ref": baseline_ref,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", type=int, default=30, help="number of figures drawn by each path")
    parser.add_argument("--repeats", type=int, default=2, help="runs per path, alternating (fastest counts)")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref drawing one new figure per spectrum")
    arguments = parser.parse_args()
    result = main(arguments.figures, arguments.repeats, arguments.baseline_ref)
    print(json.dumps(result))
    if result["identical_pngs"] != result["n_figures"]:
        sys.exit("figures drawn on a reused figure differ from the same figures drawn alone")
