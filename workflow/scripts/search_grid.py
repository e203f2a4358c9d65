"""Rule search_grid: grid search one kernel's pipeline on the training set; score it on validation."""

import logging

from agn_saliency.classify import cv_results_table, evaluate, grid_search
from agn_saliency.dataset import load_task, task_classes
from agn_saliency.files import write_table
from agn_saliency.models import save_model

log = logging.getLogger("agn_saliency.search_grid")


def main(
    cube: str,
    split: str,
    model_out: str,
    metadata_out: str,
    cv_out: str,
    task: str,
    kernel: str,
    grid: dict,
    cv_folds: int,
    calibration_folds: int,
    scoring: str,
    scale_variance: bool,
    seed: int,
    threads: int,
) -> None:
    data = load_task(cube, split, task)
    train, validation = data.where("train"), data.where("validation")
    search = grid_search(
        train.flux, train.label, kernel, grid, cv_folds, scoring, seed, threads, calibration_folds, scale_variance
    )
    model = search.best_estimator_
    scores = evaluate(model, validation.flux, validation.label, task_classes(task))
    table = cv_results_table(search)
    write_table(cv_out, table, list(table[0]), units={c: "s" for c in table[0] if c.endswith("_time")})
    save_model(
        model,
        model_out,
        {
            "task": task,
            "kernel": kernel,
            "class_names": [str(c) for c in model.classes_],
            "wavelength": data.wavelength.tolist(),
            "wavelength_unit": "Angstrom (rest frame, vacuum)",
            "best_params": {k.split("__")[-1]: v for k, v in search.best_params_.items()},
            "scoring": scoring,
            "scale_variance": scale_variance,
            "cv_best_score": float(search.best_score_),
            "n_train": len(train.label),
            "validation": {k: scores[k] for k in ("macro_f1", "accuracy", "balanced_accuracy")},
            "fitted_on": "train",
        },
        metadata_out,
    )
    log.info(
        "%s %s: best %s, CV %s %.4f, validation macro F1 %.4f",
        task,
        kernel,
        search.best_params_,
        scoring,
        search.best_score_,
        scores["macro_f1"],
    )


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    p, w, o = snakemake.params, snakemake.wildcards, snakemake.output
    main(
        snakemake.input.cube,
        snakemake.input.split,
        o.model,
        o.metadata,
        o.cv_results,
        w.task,
        w.kernel,
        dict(p.grid),
        p.cv_folds,
        p.calibration_folds,
        p.scoring,
        p.scale_variance,
        p.seed,
        snakemake.threads,
    )
