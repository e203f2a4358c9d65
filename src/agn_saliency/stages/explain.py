"""Rules of ``workflow/rules/explain.smk``: exact saliency for every test spectrum
(:func:`compute_saliency`) → which spectra to draw, per-spectrum figures, class means, line-window
shares, line/absorption ratios and host dilution, t-SNE highlights, and the faithfulness checks of every attribution method."""

from __future__ import annotations

from typing import Any

from agn_saliency.core.columns import TABLES
from agn_saliency.stages._common import draws_figures, rule_log

__all__ = [
    "compute_saliency",
    "evaluate_faithfulness",
    "measure_robustness",
    "plot_faithfulness",
    "plot_line_share",
    "plot_robustness",
    "plot_saliency_means",
    "plot_saliency_spectra",
    "plot_tsne_highlight",
    "quantify_saliency",
    "select_explained",
]


def compute_saliency(*, model: str, cube: str, split: str, saliency_out: str, task: str, methods: dict[str, Any]) -> Any:
    """Rule compute_saliency: every method's attribution maps for every test spectrum and class
    (exact, through scaler and calibration). Returns the :class:`~agn_saliency.explain.maps.SaliencyResult` written."""
    from agn_saliency.core.vocabulary import most_probable, task_classes
    from agn_saliency.explain.maps import SaliencyResult, explain_spectra, write_saliency
    from agn_saliency.io.models import load_model
    from agn_saliency.learn.dataset import load_task

    fitted, _ = load_model(model)
    test = load_task(cube, split, task).where("test")
    classes = list(task_classes(task))  # display order (type 1, type 2, intermediate), not classes_' alphabetical one
    probabilities, gradient, maps, completeness = explain_spectra(fitted, test.flux, classes, methods)
    result = SaliencyResult(
        specid=test.specid,
        true_label=test.label,
        predicted_label=most_probable(probabilities, classes),
        probabilities=probabilities,
        saliency=gradient,
        flux=test.flux,
        wavelength=test.wavelength,
        class_names=classes,
        attributions=maps,
        completeness=completeness,
    )
    write_saliency(saliency_out, result)
    worst = f"; integrated-gradients completeness error ≤ {completeness.max():.1e}" if completeness is not None else ""
    rule_log("compute_saliency").info(
        "%s: %s maps of %d test spectra × %d classes × %d pixels%s", task, list(maps), *gradient.shape, worst
    )
    return result


SELECTED_COLUMNS = ("specid", "true", "predicted", "why")


def select_explained(*, saliency: str, selected_out: str, task: str, n_random_per_class: int, seed: int) -> list[dict[str, str]]:
    """Rule select_explained: the test spectra to draw — every misclassified one plus
    ``n_random_per_class`` random correct ones per class (seeded). Returns the rows written."""
    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.explain.maps import select_explained as select
    from agn_saliency.io.tables import write_table

    result = read_saliency(saliency)
    rows = [
        {"specid": result.specid[i], "true": result.true_label[i], "predicted": result.predicted_label[i], "why": why}
        for i, why in select(result.true_label, result.predicted_label, n_random_per_class, seed)
    ]
    write_table(selected_out, rows, SELECTED_COLUMNS, schema=TABLES["selected"])
    wrong = sum(row["why"] == "misclassified" for row in rows)
    rule_log("select_explained").info("%s: %d test spectra to draw, %d of them misclassified", task, len(rows), wrong)
    return rows


@draws_figures
def plot_saliency_spectra(
    *, saliency: str, selected: str, plots_out: str, task: str, smooth_pixels: int, threads: int = 1
) -> str:
    """Rule plot_saliency_spectra: one figure per selected test spectrum, named by its id — the
    spectrum coloured by saliency, one panel per class map. The folder appears only when complete."""
    from agn_saliency.core.files import atomic_directory
    from agn_saliency.core.parallel import contiguous_chunks, map_in_workers
    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.io.tables import read_table
    from agn_saliency.plotting import SaliencyFigure, figure_format
    from agn_saliency.plotting import plot_saliency_spectra as draw

    result = read_saliency(saliency)
    row_of = {s: i for i, s in enumerate(result.specid)}
    with atomic_directory(plots_out) as building:
        figures = [
            SaliencyFigure.from_result(
                result, row_of[entry["specid"]], path=str(building / f"{entry['specid']}.{figure_format()}"), name=entry["specid"],
                subtitle=f"{task}, {entry['why']}", smooth_pixels=smooth_pixels,
            )
            for entry in read_table(selected)
        ]  # fmt: skip
        # one run of figures per worker: each draws them all on one reused matplotlib figure (~0.22 s per figure)
        map_in_workers(draw, [(chunk,) for chunk in contiguous_chunks(figures, threads)], threads)
    rule_log("plot_saliency_spectra").info("%s: %d saliency figures in %s", task, len(figures), plots_out)
    return plots_out


@draws_figures
def plot_saliency_means(*, saliency: str, plot_out: str, task: str, smooth_pixels: int) -> str:
    """Rule plot_saliency_means: mean ± spread of each true class's own-class saliency over the test spectra."""
    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.plotting import plot_saliency_means as draw

    r = read_saliency(saliency)
    smoothed = f", running mean over {smooth_pixels} px" if smooth_pixels > 1 else ""
    title = f"Class-mean saliency, {task} (test set{smoothed})"
    draw(r.wavelength, r.flux, r.saliency, r.true_label, r.class_names, plot_out, title, smooth_pixels)
    return plot_out


def quantify_saliency(*, saliency: str, shares_out: str, task: str) -> list[dict[str, object]]:
    """Rule quantify_saliency: share of ``|saliency|`` inside line windows against the share their width
    alone would give. Returns the rows written."""
    from agn_saliency.explain.maps import line_shares, read_saliency
    from agn_saliency.io.tables import write_table

    rows = line_shares(read_saliency(saliency))
    write_table(shares_out, rows, list(rows[0]), schema=TABLES["line_share"])
    log = rule_log("quantify_saliency")
    for row in rows:
        log.info(
            "%(task)s %(class)s %(region)s: saliency share %(saliency_share).3f vs pixel share %(pixel_share).3f (×%(enrichment).2f)",
            {"task": task, **row},
        )
    return rows


def measure_robustness(*, model: str, saliency: str, ratios_out: str, dilution_out: str, task: str) -> tuple[list, list]:
    """Rule measure_robustness: does the model weigh emission lines over stellar absorption (per true
    class, own-class gradient maps of the test spectra), and do type-1 test spectra keep their class
    when host starlight is added? (:func:`agn_saliency.explain.robustness.robustness_rows`)"""
    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.explain.robustness import robustness_rows
    from agn_saliency.io.models import load_model
    from agn_saliency.io.tables import write_table

    fitted, _ = load_model(model)
    r = read_saliency(saliency)
    ratios, dilution = robustness_rows(fitted, r.flux, r.true_label, r.saliency, r.class_names, r.wavelength)
    write_table(ratios_out, ratios, [c.name for c in TABLES["line_absorption"].columns], schema=TABLES["line_absorption"])
    write_table(dilution_out, dilution, [c.name for c in TABLES["host_dilution"].columns], schema=TABLES["host_dilution"])
    log = rule_log("measure_robustness")
    for row in ratios:
        log.info("%s %s: line/absorption saliency ratio %.2f", task, row["class"], row["line_absorption_ratio"])
    for row in dilution:
        log.info(
            "%s: host fraction %.1f, %.3f of type-1 test spectra still type 1", task, row["host_fraction"], row["kept_type1"]
        )
    return ratios, dilution


@draws_figures
def plot_robustness(*, ratios: str, dilution: str, plot_out: str, task: str) -> str:
    """Rule plot_robustness: the line/absorption ratios per class and the host-dilution curve."""
    from agn_saliency.io.tables import read_table
    from agn_saliency.plotting import plot_robustness as draw

    draw(read_table(ratios), read_table(dilution), plot_out, f"Lines over absorption, and host dilution: {task} (test set)")
    return plot_out


@draws_figures
def plot_line_share(*, shares: str, plot_out: str, task: str) -> str:
    """Rule plot_line_share: bars of saliency share against pixel share per region and class."""
    from agn_saliency.io.tables import read_table
    from agn_saliency.plotting import plot_line_shares

    plot_line_shares(read_table(shares), plot_out, f"Where saliency sits, {task} (test set, predicted-class maps)")
    return plot_out


@draws_figures
def plot_tsne_highlight(*, embedding: str, saliency: str, selected: str, plot_out: str, task: str) -> str:
    """Rule plot_tsne_highlight: the task's t-SNE map with the drawn test spectra ringed and the misclassified ones crossed."""
    import numpy as np

    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.io.tables import read_table
    from agn_saliency.learn.embed import read_embedding
    from agn_saliency.plotting import plot_tsne_map

    tsne = read_embedding(embedding)
    result = read_saliency(saliency)
    wrong = result.specid[result.true_label != result.predicted_label]
    plotted = [row["specid"] for row in read_table(selected)]
    title = f"t-SNE ({task}, perplexity {tsne.attrs['perplexity']:g}): explained test spectra"
    highlight, misclassified = np.isin(tsne.specid, plotted), np.isin(tsne.specid, wrong)
    plot_tsne_map(tsne.xy, tsne.label, plot_out, title, highlight=highlight, misclassified=misclassified)
    return plot_out


def evaluate_faithfulness(
    *,
    model: str,
    cube: str,
    split: str,
    saliency: str,
    truth: list[str],
    table_out: str,
    curves_out: str,
    html_out: str,
    task: str,
    faithfulness: dict[str, int],
    methods: dict[str, Any],
    seed: int,
) -> list[dict[str, Any]]:
    """Rule evaluate_faithfulness: deletion/insertion against random pixel orders, model
    randomisation and (embedded sample, ``truth``) planted-signal checks of every attribution method,
    on the data the model was fitted on. ``faithfulness`` holds ``steps`` and ``random_orders``.
    Returns the summary table."""
    from agn_saliency.explain.faithfulness import SUMMARY_COLUMNS
    from agn_saliency.explain.maps import evaluate_faithfulness as evaluate
    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.io.models import load_model
    from agn_saliency.io.tables import read_table, write_html_table, write_table
    from agn_saliency.learn.dataset import load_task

    fitted, metadata = load_model(model)
    fit_on = ("train", "validation") if metadata.get("fitted_on") == "train+validation" else ("train",)
    train = load_task(cube, split, task).where(*fit_on)
    truth_rows = [row for path in truth for row in read_table(path)]
    table, curves = evaluate(
        fitted, train.flux, train.label, read_saliency(saliency), methods,
        steps=faithfulness["steps"], random_orders=faithfulness["random_orders"], seed=seed, truth_rows=truth_rows,
    )  # fmt: skip
    write_table(table_out, table, list(SUMMARY_COLUMNS), schema=TABLES["faithfulness"])
    write_table(curves_out, curves, ["method", "curve", "fraction", "p_mean", "p_std"], schema=TABLES["faithfulness_curves"])
    shown = ["method", "deletion_margin", "deletion_margin_sem", "insertion_margin", "insertion_margin_sem"]
    shown += ["randomisation_spearman", "top_k_fraction", "top_k_chance", "n_spectra"]
    write_html_table(
        html_out, table, shown, f"{task}: are the maps faithful to the model?", schema=TABLES["faithfulness"],
        note=f"The whole table, with every column: results/saliency/{task}_faithfulness.ecsv.",
    )  # fmt: skip
    for row in table:
        rule_log("evaluate_faithfulness").info(
            "%s %s: deletion AOPC %.4f vs random %.4f (margin %+.4f); insertion margin %+.4f; randomisation ρ %.3f; "
            "planted top-%d %.3f vs chance %.3f", task, row["method"], row["deletion_aopc"], row["deletion_aopc_random"],
            row["deletion_margin"], row["insertion_margin"], row["randomisation_spearman"], row["top_k"],
            row["top_k_fraction"], row["top_k_chance"],
        )  # fmt: skip
    return table


@draws_figures
def plot_faithfulness(*, curves: str, plot_out: str, task: str) -> str:
    """Rule plot_faithfulness: mean deletion and insertion curves of every method against random pixel orders."""
    from agn_saliency.io.tables import read_table
    from agn_saliency.plotting import plot_faithfulness_curves

    plot_faithfulness_curves(read_table(curves), plot_out, f"{task}: do the maps point at pixels the model needs?")
    return plot_out
