"""Redraw docs/figures/*.png from a finished default run and its predict run on the real files.

Run from the repository root, after the two commands whose results the README and docs describe::

    .venv/bin/snakemake --cores 2
    .venv/bin/snakemake predict --config predict_dir=../shared/data/sdss_real
    .venv/bin/python scripts/draw_docs_figures.py            # --results results --out docs/figures

Most figures are the workflow's own, copied under their docs names. Two are drawn here, because
which spectrum they show is a choice: a correctly classified type 1 test spectrum of the binary
model whose broad Hβ (FWHM and equivalent width, from the simulator's truth) is the most typical of
those spectra without a single-pixel spike (a simulated cosmic ray or sky residual, which would
draw the eye), and, of the misclassified intermediates of the multiclass model given the most
common wrong class and without such a spike, the one of median probability. The script prints each chosen
spectrum with its class probabilities, for the captions.
"""

from __future__ import annotations

import argparse
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
from scipy.ndimage import median_filter

from agn_saliency.explain.maps import read_saliency
from agn_saliency.io.tables import read_table
from agn_saliency.plotting import SaliencyFigure, figure_settings, plot_saliency_spectra

COPIED = {
    "sample_spectra.png": "plots/sample_spectra.png",
    "saliency_means_binary.png": "plots/saliency_means/binary.png",
    "faithfulness_multiclass.png": "plots/faithfulness/multiclass.png",
    "tsne_multiclass_highlight.png": "plots/tsne_highlight/multiclass.png",
    "agn_gate_sdss_real.png": "predict/sdss_real/agn_gate.png",
    "predict_starburst_ood.png": "predict/sdss_real/plots/spec-2880-54509-0230.png",
}
"""Docs figure name → the workflow's figure under the results folder."""

SPIKE_MAX = 1.0
"""Largest departure of one pixel from the running median over 9 pixels (normalised flux) of a spectrum shown."""

SMOOTH_PIXELS = 5
"""The default ``explain.smooth_pixels``, as the workflow's own saliency figures use it."""


def truth_by_specid(results: Path) -> dict[str, dict[str, str]]:
    """The simulator's truth rows (``results/acquire/truth/*.ecsv``) by spectrum id."""
    rows = [row for path in sorted((results / "acquire/truth").glob("*.ecsv")) for row in read_table(path)]
    return {row["specid"]: row for row in rows}


def spiky(flux: np.ndarray) -> bool:
    """Whether one pixel departs from the running median over 9 pixels by more than :data:`SPIKE_MAX`."""
    return bool(np.abs(flux - median_filter(flux, 9)).max() > SPIKE_MAX)


def most_typical(candidates: list[int], features: np.ndarray) -> int:
    """The candidate whose features (one row per candidate, log scale) lie nearest their medians, in units of their spread."""
    z = (features - np.median(features, axis=0)) / features.std(axis=0)
    return candidates[int(np.argmin((z**2).sum(axis=1)))]


def draw(result, row: int, path: Path, task: str, why: str) -> None:
    """Draw one test spectrum's saliency figure as the workflow's plot_saliency_spectra does, and print its probabilities."""
    plot_saliency_spectra(
        [SaliencyFigure.from_result(result, row, path=str(path), name=str(result.specid[row]),
                                    subtitle=f"{task}, {why}", smooth_pixels=SMOOTH_PIXELS)]
    )  # fmt: skip
    p = ", ".join(f"{name} {value:.3f}" for name, value in zip(result.class_names, result.probabilities[row]))
    print(f"{path.name}: {result.specid[row]} true {result.true_label[row]}, predicted {result.predicted_label[row]} ({p})")


def main(results: Path, out: Path) -> None:
    """Copy the workflow's figures and draw the two chosen spectra into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    for name, source in COPIED.items():
        shutil.copyfile(results / source, out / name)
        print(f"{name}: copied from {results / source}")
    truth = truth_by_specid(results)

    def broad(result, rows: list[int], column: str) -> np.ndarray:
        """log10 of a broad-line truth column for the given rows (empty for type 2s: only broad-line rows are asked)."""
        return np.log10([float(truth[str(result.specid[i])][column]) for i in rows])

    binary = read_saliency(str(results / "saliency/binary.h5"))
    right_type1 = [
        i for i in range(len(binary.specid))
        if binary.true_label[i] == binary.predicted_label[i] == "type1"
        and not spiky(binary.flux[i])
    ]  # fmt: skip
    features = np.column_stack([broad(binary, right_type1, "broad_fwhm"), broad(binary, right_type1, "broad_hbeta_ew")])
    with figure_settings(format="png", dpi=110):
        draw(binary, most_typical(right_type1, features), out / "saliency_type1_binary.png", "binary", "correctly classified")

        multiclass = read_saliency(str(results / "saliency/multiclass.h5"))
        wrong = [
            i for i in range(len(multiclass.specid))
            if multiclass.true_label[i] == "intermediate" != multiclass.predicted_label[i]
        ]  # fmt: skip
        common = Counter(multiclass.predicted_label[i] for i in wrong).most_common(1)[0][0]
        shown = [i for i in wrong if multiclass.predicted_label[i] == common and not spiky(multiclass.flux[i])]
        shown.sort(key=lambda i: multiclass.probabilities[i].max())
        median_row = shown[len(shown) // 2]
        print(
            f"misclassified intermediates: {len(wrong)}, called {common}: {sum(multiclass.predicted_label[i] == common for i in wrong)}"
        )
        draw(multiclass, median_row, out / "saliency_intermediate_misclassified.png", "multiclass", "misclassified")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="the results folder of the runs")
    parser.add_argument("--out", type=Path, default=Path("docs/figures"), help="where the docs figures go")
    arguments = parser.parse_args()
    main(arguments.results, arguments.out)
