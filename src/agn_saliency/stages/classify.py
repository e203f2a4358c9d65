"""Rules of ``workflow/rules/classify.smk``: a grid search per task × kernel on the training set
(:func:`search_grid`) → the kernel chosen on the validation set and one evaluation on the test set
(:func:`select_model`), their figures, and the optional SVM on the t-SNE plane."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from agn_saliency.core.columns import TABLES
from agn_saliency.stages._common import draws_figures, rule_log

__all__ = [
    "GridResult",
    "Selection",
    "fit_tsne_svm",
    "plot_confusion",
    "plot_grid",
    "plot_tsne_svm",
    "search_grid",
    "select_model",
]


@dataclass
class GridResult:
    """What rule search_grid writes: the refitted best pipeline, its metadata and the CV table."""

    model: Any
    metadata: dict[str, Any]
    cv_table: list[dict[str, Any]]


def search_grid(
    *,
    cube: str,
    split: str,
    model_out: str,
    metadata_out: str,
    cv_results_out: str,
    task: str,
    kernel: str,
    grid: dict[str, Any],
    cv_folds: int,
    calibration_folds: int,
    search_scores: str,
    scoring: str,
    scale_variance: bool,
    seed: int,
    model_format: str,
    threads: int = 1,
    host_augmentation: dict[str, Any] | None = None,
    selection: str = "best",
) -> GridResult:
    """Rule search_grid: grid search one kernel's scaler → SVM → sigmoid pipeline on the training
    set (``StratifiedKFold``), score the best on the validation set; write the model, its metadata
    and the CV table (times in s). ``host_augmentation`` (:class:`~agn_saliency.learn.augment.HostAugmentation`
    options) augments the rows models are fitted on; ``selection`` picks the candidate
    (:func:`~agn_saliency.learn.classify.grid_search`). ``model_format`` names what a saved model is (recorded in the
    metadata; a new format reruns the searches)."""
    from agn_saliency.core.vocabulary import task_classes
    from agn_saliency.io.cube import cube_config
    from agn_saliency.io.models import save_model
    from agn_saliency.io.tables import write_table
    from agn_saliency.learn.augment import HostAugmentation
    from agn_saliency.learn.classify import cv_results_table, evaluate, grid_search
    from agn_saliency.learn.dataset import load_task
    from agn_saliency.spectra.reduce import spectrum_settings

    augmentation = HostAugmentation.from_mapping(host_augmentation)

    data = load_task(cube, split, task)
    train, validation = data.where("train"), data.where("validation")
    search = grid_search(
        train.flux, train.label, kernel, grid, cv_folds=cv_folds, scoring=scoring, seed=seed, n_jobs=threads,
        calibration_folds=calibration_folds, scale_variance=scale_variance, scores=search_scores,
        augmentation=augmentation, wavelength=data.wavelength, selection=selection,
    )  # fmt: skip
    model = search.best_estimator_
    scores = evaluate(model, validation.flux, validation.label, task_classes(task))
    metadata = {
        "task": task,
        "kernel": kernel,
        "class_names": [str(c) for c in model.classes_],
        "wavelength": data.wavelength.tolist(),
        "wavelength_unit": "Angstrom (rest frame, vacuum)",
        # The model's contract: the reduction its input spectra must have (checked by predict).
        "reduction": spectrum_settings(cube_config(cube)["reduce"]),
        "best_params": {k.split("__")[-1]: v for k, v in search.best_params_.items()},
        "scoring": scoring,
        "scale_variance": scale_variance,
        "cv_best_score": float(search.best_score_),
        "selection": selection,
        "host_augmentation": dataclasses.asdict(augmentation),
        "n_train": len(train.label),
        "validation": {k: scores[k] for k in ("macro_f1", "accuracy", "balanced_accuracy")},
        "fitted_on": "train",
        "model_format": model_format,
    }
    result = GridResult(model, metadata, cv_results_table(search))
    table = result.cv_table
    write_table(cv_results_out, table, list(table[0]), schema=TABLES["cv"])
    save_model(model, model_out, metadata, metadata_out)
    rule_log("search_grid").info(
        "%s %s: best %s, CV %s %.4f, validation macro F1 %.4f",
        task, kernel, search.best_params_, scoring, search.best_score_, scores["macro_f1"],
    )  # fmt: skip
    return result


@draws_figures
def plot_grid(*, cv_results: list[str], plots_out: list[str], task: str, kernels: list[str], scoring: str) -> list[str]:
    """Rule plot_grid: a heat map of the cross-validated score over each kernel's grid of one task."""
    from agn_saliency.io.tables import read_table
    from agn_saliency.plotting import plot_grid_scores

    for table, out, kernel in zip(cv_results, plots_out, kernels, strict=True):
        plot_grid_scores(read_table(table), scoring, out, f"Grid search: {task}, {kernel} kernel (★ best)")
    return plots_out


@dataclass
class Selection:
    """What rule select_model writes: the chosen (optionally refitted) model, its metadata, the test
    metrics and the test predictions (rows in display order)."""

    model: Any
    metadata: dict[str, Any]
    metrics: dict[str, Any]
    predictions: list[dict[str, Any]]
    columns: list[str]


def select_model(
    *,
    cube: str,
    split: str,
    models: list[str],
    task: str,
    kernels: list[str],
    refit_on_train_validation: bool,
    model_out: str,
    metadata_out: str,
    metrics_out: str,
    report_out: str,
    table_out: str,
    predictions_out: str,
    host_augmentation: dict[str, Any] | None = None,
    seed: int = 0,
) -> Selection:
    """Rule select_model: choose the kernel on the validation set (ties: the simpler kernel), refit
    on train + validation if asked, evaluate once on the test set; write the test predictions, the
    model and its metadata, the classification report and the metrics JSON. The refit sees the
    training rows through ``host_augmentation`` (seeded by ``seed``) as the search did."""
    import json

    from sklearn.base import clone

    from agn_saliency.core.files import write_text_atomic
    from agn_saliency.core.vocabulary import task_classes
    from agn_saliency.io.models import load_model, save_model, select_kernel
    from agn_saliency.io.tables import write_html_table, write_table
    from agn_saliency.learn.augment import HostAugmentation, augment_with_host
    from agn_saliency.learn.classify import evaluate, prediction_rows
    from agn_saliency.learn.dataset import load_task

    refit = refit_on_train_validation
    data = load_task(cube, split, task)
    candidates = dict(zip(kernels, (load_model(path) for path in models), strict=True))
    validation_scores = {k: meta["validation"]["macro_f1"] for k, (_, meta) in candidates.items()}
    kernel = select_kernel(validation_scores)
    model, metadata = candidates[kernel]
    if refit:
        fit_on = data.where("train", "validation")
        flux = augment_with_host(fit_on.flux, data.wavelength, HostAugmentation.from_mapping(host_augmentation), seed)
        model = clone(model).fit(flux, fit_on.label)
    test = data.where("test")
    metrics = evaluate(model, test.flux, test.label, task_classes(task))
    metrics.update(
        task=task,
        kernel=kernel,
        best_params=metadata["best_params"],
        validation_macro_f1=validation_scores,
        refit_on_train_validation=refit,
        n_test=len(test.label),
    )
    rows, columns = prediction_rows(test.specid, test.label, model.classes_, model.predict_proba(test.flux))
    metadata = {
        **metadata,
        "fitted_on": "train+validation" if refit else "train",
        "selected_from": validation_scores,
    }
    selection = Selection(model, metadata, metrics, rows, columns)
    write_table(predictions_out, rows, columns, schema=TABLES["test_predictions"])
    save_model(model, model_out, metadata, metadata_out)
    write_text_atomic(report_out, metrics["classification_report"])
    write_html_table(
        table_out, metrics_rows(metrics), [column.name for column in TABLES["metrics"].columns],
        f"{task}: {kernel} kernel on the test set (n = {len(test.label)})", schema=TABLES["metrics"],
        note=f"accuracy {metrics['accuracy']:.4f}, balanced accuracy {metrics['balanced_accuracy']:.4f}",
    )  # fmt: skip
    write_text_atomic(metrics_out, json.dumps(metrics, indent=1) + "\n")
    rule_log("select_model").info(
        "%s: kernel %s (validation macro F1 %s); test macro F1 %.4f, accuracy %.4f",
        task, kernel, validation_scores, metrics["macro_f1"], metrics["accuracy"],
    )  # fmt: skip
    return selection


def metrics_rows(metrics: dict[str, Any]) -> list[dict[str, Any]]:
    """The rows of the report's metrics table: per class, then macro and weighted averages."""
    per_class = metrics["per_class"]
    rows = [{"class": name, **values} for name, values in per_class.items()]
    total = sum(values["support"] for values in per_class.values())
    rows.append(
        {
            "class": "macro average",
            "precision": metrics["macro_precision"],
            "recall": metrics["macro_recall"],
            "f1": metrics["macro_f1"],
            "support": total,
        }
    )
    rows.append({"class": "weighted average", "f1": metrics["weighted_f1"], "support": total})
    return rows


@draws_figures
def plot_confusion(*, metrics: str, plot_out: str, task: str) -> str:
    """Rule plot_confusion: the selected model's confusion matrix on the test set (counts and row-normalised)."""
    import json

    from agn_saliency.plotting import plot_confusion as draw

    with open(metrics, encoding="utf-8") as handle:
        m = json.load(handle)
    title = (
        f"{task} — {m['kernel']} kernel, test set (n = {m['n_test']}): macro F1 {m['macro_f1']:.3f}, accuracy {m['accuracy']:.3f}"
    )
    draw(m["confusion_matrix"], m["confusion_matrix_normalised"], m["class_names"], plot_out, title)
    return plot_out


def fit_tsne_svm(*, embedding: str, split: str, regions_out: str, task: str, seed: int, C: float, grid_points: int) -> Any:
    """Rule fit_tsne_svm (optional, ``classify.tsne_svm``): an RBF SVM on the 2-D t-SNE plane, as in
    the original notebook, and its decision regions. Returns the :class:`~agn_saliency.learn.tsne_svm.Regions`."""
    from agn_saliency.core.identity import DEFAULT_SURVEY, qualified_id
    from agn_saliency.io.tables import read_table
    from agn_saliency.learn.embed import read_embedding
    from agn_saliency.learn.tsne_svm import fit_regions, subsets_of, write_regions

    tsne = read_embedding(embedding)
    rows = read_table(split)  # the map's ids are survey-qualified; a split written before surveys is SDSS
    subset = subsets_of(
        tsne.specid, {qualified_id(row.get("survey") or DEFAULT_SURVEY, row["specid"]): row["subset"] for row in rows}
    )
    regions = fit_regions(tsne.xy, tsne.label, subset, seed, C=C, grid_points=grid_points)
    write_regions(regions_out, regions)
    rule_log("fit_tsne_svm").info("%s: t-SNE-plane SVM, test accuracy %.3f", task, regions.test_accuracy)
    return regions


@draws_figures
def plot_tsne_svm(*, regions: str, plot_out: str, task: str) -> str:
    """Rule plot_tsne_svm (optional): decision regions of the t-SNE-plane SVM with the test spectra on top."""
    from agn_saliency.learn.tsne_svm import read_regions
    from agn_saliency.plotting import plot_decision_regions

    r = read_regions(regions)
    title = f"SVM on the t-SNE plane ({task}): test accuracy {r.test_accuracy:.3f}"
    plot_decision_regions(r.grid_x, r.grid_y, r.regions, r.test_xy, r.test_label, plot_out, title)
    return plot_out
