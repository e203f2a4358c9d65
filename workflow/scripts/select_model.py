"""Rule select_model: choose the kernel on validation, refit (optionally) and evaluate once on test."""

from agn_saliency.stages.all import select_model, write_selection


def main(
    *, cube: str, split: str, kernel_models: list[str], kernels: list[str], refit: bool, task: str, model_out: str,
    metadata_out: str, metrics_out: str, report_out: str, predictions_out: str,
) -> None:  # fmt: skip
    selection = select_model(cube=cube, split=split, task=task, kernel_models=kernel_models, kernels=kernels, refit=refit)
    write_selection(
        selection, model_out=model_out, metadata_out=metadata_out, metrics_out=metrics_out, report_out=report_out,
        predictions_out=predictions_out,
    )  # fmt: skip


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        cube=sm.input.cube, split=sm.input.split, kernel_models=list(sm.input.models), kernels=list(sm.params.kernels),
        refit=sm.params.refit_on_train_validation, task=sm.wildcards.task, model_out=sm.output.model,
        metadata_out=sm.output.metadata, metrics_out=sm.output.metrics, report_out=sm.output.report,
        predictions_out=sm.output.predictions,
    ))  # fmt: skip
