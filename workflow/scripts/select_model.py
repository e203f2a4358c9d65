"""Rule select_model: choose the kernel on validation, refit (optionally) and evaluate once on test."""

import json
import logging

import numpy as np
from sklearn.base import clone

from agn_saliency.classify import evaluate
from agn_saliency.dataset import load_task, task_classes
from agn_saliency.files import write_table, write_text_atomic
from agn_saliency.models import load_model, save_model, select_kernel

log = logging.getLogger("agn_saliency.select_model")


def main(
    cube: str,
    split: str,
    kernel_models: list[str],
    kernels: list[str],
    refit: bool,
    task: str,
    model_out: str,
    metadata_out: str,
    metrics_out: str,
    report_out: str,
    predictions_out: str,
) -> None:
    data = load_task(cube, split, task)
    candidates = dict(zip(kernels, (load_model(path) for path in kernel_models)))
    validation_scores = {k: meta["validation"]["macro_f1"] for k, (_, meta) in candidates.items()}
    kernel = select_kernel(validation_scores)
    model, metadata = candidates[kernel]
    if refit:
        fit_on = data.where("train", "validation")
        model = clone(model).fit(fit_on.flux, fit_on.label)
    test = data.where("test")
    classes = task_classes(task)
    metrics = evaluate(model, test.flux, test.label, classes)
    metrics.update(
        task=task,
        kernel=kernel,
        best_params=metadata["best_params"],
        validation_macro_f1=validation_scores,
        refit_on_train_validation=refit,
        n_test=len(test.label),
    )
    probabilities = model.predict_proba(test.flux)
    predicted = model.classes_[np.argmax(probabilities, axis=1)]
    rows = [
        {"specid": s, "true": t, "predicted": p, **{f"p_{c}": f"{q:.6f}" for c, q in zip(model.classes_, prob)}}
        for s, t, p, prob in zip(test.specid, test.label, predicted, probabilities)
    ]
    write_table(predictions_out, rows, ["specid", "true", "predicted"] + [f"p_{c}" for c in model.classes_])
    save_model(
        model,
        model_out,
        {**metadata, "fitted_on": "train+validation" if refit else "train", "selected_from": validation_scores},
        metadata_out,
    )
    write_text_atomic(report_out, metrics["classification_report"])
    write_text_atomic(metrics_out, json.dumps(metrics, indent=1) + "\n")
    log.info(
        "%s: kernel %s (validation macro F1 %s); test macro F1 %.4f, accuracy %.4f",
        task,
        kernel,
        validation_scores,
        metrics["macro_f1"],
        metrics["accuracy"],
    )


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    o = snakemake.output
    main(
        snakemake.input.cube,
        snakemake.input.split,
        list(snakemake.input.models),
        list(snakemake.params.kernels),
        snakemake.params.refit_on_train_validation,
        snakemake.wildcards.task,
        o.model,
        o.metadata,
        o.metrics,
        o.report,
        o.predictions,
    )
