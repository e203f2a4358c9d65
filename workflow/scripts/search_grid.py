"""Rule search_grid: grid search one kernel's pipeline on the training set; score it on validation."""

from agn_saliency.stages.all import search_grid, write_grid_result


def main(
    *, cube: str, split: str, model_out: str, metadata_out: str, cv_out: str, task: str, kernel: str, grid: dict,
    cv_folds: int, calibration_folds: int, search_scores: str, scoring: str, scale_variance: bool, seed: int, threads: int,
) -> None:  # fmt: skip
    result = search_grid(
        cube=cube, split=split, task=task, kernel=kernel, grid=grid, cv_folds=cv_folds, calibration_folds=calibration_folds,
        search_scores=search_scores, scoring=scoring, scale_variance=scale_variance, seed=seed, threads=threads,
    )  # fmt: skip
    write_grid_result(result, model_out=model_out, metadata_out=metadata_out, cv_out=cv_out)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        cube=sm.input.cube, split=sm.input.split, model_out=sm.output.model, metadata_out=sm.output.metadata,
        cv_out=sm.output.cv_results, task=sm.wildcards.task, kernel=sm.wildcards.kernel, grid=dict(sm.params.grid),
        cv_folds=sm.params.cv_folds, calibration_folds=sm.params.calibration_folds, search_scores=sm.params.search_scores,
        scoring=sm.params.scoring,
        scale_variance=sm.params.scale_variance, seed=sm.params.seed, threads=sm.threads,
    ))  # fmt: skip
