"""Every figure the default run and `snakemake predict` draw is laid out cleanly, in every format.

Each plot rule's stage function is run on the finished tiny run (both tasks, every kernel) and on
a prediction of the real SDSS files, with every saved figure checked by
:func:`agn_saliency.plotting.style.layout_problems`: no text reaches outside a fixed-layout figure,
no two texts overlap (tick labels, titles, line names, annotations, legend entries), no legend
inside an axes covers plotted data. ``plots.format`` pdf / svg give those files.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from helpers import REAL_DATA_PRESENT, REAL_DIR, REPO, run_tiny

from agn_saliency.acquire.inventory import folder_label
from agn_saliency.plotting import style
from agn_saliency.stages import classify, embed, explain, predict, reduce

pytestmark = pytest.mark.workflow

PNG = {"format": "png", "dpi": 110}


@pytest.fixture
def checked_figures(monkeypatch) -> dict[str, list[str]]:
    """Path → layout problems of every figure saved while the fixture is active."""
    found: dict[str, list[str]] = {}
    original = style.save

    def save(fig, path, tight=True, compress_level=None, check=True):
        found[str(path)] = style.layout_problems(fig, inside_canvas=not tight)
        return original(fig, path, tight, compress_level, check=False)

    for module in list(sys.modules.values()):
        if getattr(module, "__name__", "").startswith("agn_saliency.plotting") and getattr(module, "save", None) is original:
            monkeypatch.setattr(module, "save", save)
    return found


def draw_everything(run: Path, out: Path, figure: dict, predicted: str | None) -> set[str]:
    """Every plot rule's stage function on the finished run ``run`` (and on the predicted folder's
    results ``predicted``), writing to ``out``; returns the rules drawn."""
    results = run / "results"
    reduce.plot_sample(
        cube=str(results / "reduced/cube.h5"),
        plot_out=str(out / f"sample.{figure['format']}"),
        per_class=3,
        seed=7,
        figure=figure,
    )
    for task in ("binary", "multiclass"):
        embedding = str(next((results / "tsne").glob(f"{task}_p*.h5")))
        saliency = str(results / f"saliency/{task}.h5")
        selected = str(results / f"saliency/{task}_selected.ecsv")
        suffix = f"{task}.{figure['format']}"
        embed.plot_tsne(embedding=embedding, plot_out=str(out / f"tsne_{suffix}"), task=task, perplexity="5", figure=figure)
        kernels = ["linear", "rbf", "poly2", "poly3"]
        classify.plot_grid(
            cv_results=[str(results / f"classify/{task}/{kernel}_cv.ecsv") for kernel in kernels],
            plots_out=[str(out / f"grid_{kernel}_{suffix}") for kernel in kernels],
            task=task, kernels=kernels, scoring="f1_macro", figure=figure,
        )  # fmt: skip
        classify.plot_confusion(
            metrics=str(results / f"metrics/{task}.json"), plot_out=str(out / f"confusion_{suffix}"), task=task, figure=figure
        )
        explain.plot_saliency_spectra(
            saliency=saliency,
            selected=selected,
            plots_out=str(out / f"saliency_{task}"),
            task=task,
            smooth_pixels=1,
            figure=figure,
        )
        explain.plot_saliency_means(
            saliency=saliency, plot_out=str(out / f"means_{suffix}"), task=task, smooth_pixels=5, figure=figure
        )
        explain.plot_line_share(
            shares=str(results / f"saliency/{task}_line_share.ecsv"),
            plot_out=str(out / f"lines_{suffix}"),
            task=task,
            figure=figure,
        )
        explain.plot_robustness(
            ratios=str(results / f"saliency/{task}_line_absorption.ecsv"),
            dilution=str(results / f"saliency/{task}_host_dilution.ecsv"),
            plot_out=str(out / f"robustness_{suffix}"),
            task=task,
            figure=figure,
        )
        explain.plot_tsne_highlight(
            embedding=embedding,
            saliency=saliency,
            selected=selected,
            plot_out=str(out / f"highlight_{suffix}"),
            task=task,
            figure=figure,
        )
        explain.plot_faithfulness(
            curves=str(results / f"saliency/{task}_faithfulness_curves.ecsv"),
            plot_out=str(out / f"faithfulness_{suffix}"),
            task=task,
            figure=figure,
        )
    drawn = {"plot_sample", "plot_tsne", "plot_grid", "plot_confusion", "plot_saliency_spectra", "plot_saliency_means"}
    drawn |= {"plot_line_share", "plot_robustness", "plot_tsne_highlight", "plot_faithfulness"}
    if predicted:
        folder = results / "predict" / predicted
        predict.plot_agn_gate(
            predictions=str(folder / "predictions.ecsv"),
            plot_out=str(out / f"gate.{figure['format']}"),
            name=predicted,
            figure=figure,
        )
        predict.plot_predictions(
            saliency=str(folder / "saliency.h5"), predictions=str(folder / "predictions.ecsv"), plots_out=str(out / "predict"),
            name=predicted, smooth_pixels=1, figure=figure,
        )  # fmt: skip
        predict.plot_predict_summary(
            predictions=str(folder / "predictions.ecsv"), folder=str(folder / "folder.json"),
            plot_out=str(out / f"predict_summary.{figure['format']}"), name=predicted, low_confidence_p_max=0.6, figure=figure,
        )  # fmt: skip
        drawn |= {"plot_agn_gate", "plot_predictions", "plot_predict_summary"}
    return drawn


@pytest.fixture(scope="module")
def predicted(tiny_run: Path) -> str | None:
    """The real SDSS files predicted in the tiny run (None without them)."""
    if not REAL_DATA_PRESENT:
        return None
    result = run_tiny(tiny_run, "--cores", "2", "predict", "--config", f"predict_dir={REAL_DIR}")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder_label(REAL_DIR)


def test_every_figure_is_laid_out_cleanly(tiny_run: Path, predicted: str | None, checked_figures, tmp_path: Path) -> None:
    drawn = draw_everything(tiny_run, tmp_path, PNG, predicted)
    plot_rules = set(
        re.findall(r"^rule (plot_\w+):", "".join(p.read_text() for p in (REPO / "workflow/rules").glob("*.smk")), re.M)
    )
    optional = {"plot_tsne_svm"}  # classify.tsne_svm: false in the default run
    assert plot_rules - optional - drawn == set(), "plot rules this test does not draw"
    assert len(checked_figures) >= 30
    problems = {path: found for path, found in checked_figures.items() if found}
    assert not problems, "\n".join(f"{path}: {found}" for path, found in problems.items())


@pytest.mark.parametrize("kind", ["pdf", "svg"])
def test_plots_format_gives_that_format(tiny_run: Path, tmp_path: Path, kind: str) -> None:
    figure = {"format": kind, "dpi": 300}
    results = tiny_run / "results"
    explain.plot_saliency_spectra(
        saliency=str(results / "saliency/binary.h5"), selected=str(results / "saliency/binary_selected.ecsv"),
        plots_out=str(tmp_path / "saliency"), task="binary", smooth_pixels=1, figure=figure,
    )  # fmt: skip
    classify.plot_confusion(
        metrics=str(results / "metrics/binary.json"), plot_out=str(tmp_path / f"confusion.{kind}"), task="binary", figure=figure
    )
    files = sorted(tmp_path.rglob("*.*"))
    assert files and all(path.suffix == f".{kind}" for path in files), files
    head = b"%PDF" if kind == "pdf" else b"<?xml"
    assert all(path.read_bytes().startswith(head) for path in files)


def test_dpi_sets_the_png_resolution(tiny_run: Path, tmp_path: Path) -> None:
    from PIL import Image

    metrics = str(tiny_run / "results/metrics/binary.json")
    sizes = {}
    for dpi in (100, 200):
        path = tmp_path / f"confusion_{dpi}.png"
        classify.plot_confusion(metrics=metrics, plot_out=str(path), task="binary", figure={"format": "png", "dpi": dpi})
        sizes[dpi] = Image.open(path).size
    assert sizes[200][0] == pytest.approx(2 * sizes[100][0], rel=0.02)
