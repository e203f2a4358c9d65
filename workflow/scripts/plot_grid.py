"""Rule plot_grid: heat maps of the cross-validated score over each kernel's grid of one task."""

from agn_saliency.io.tables import read_table
from agn_saliency.plotting.figures import plot_grid_scores


def main(*, cv_results: list[str], outs: list[str], task: str, kernels: list[str], scoring: str) -> None:
    for table, out, kernel in zip(cv_results, outs, kernels, strict=True):
        plot_grid_scores(read_table(table), scoring, out, f"Grid search: {task}, {kernel} kernel (★ best)")


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        cv_results=list(sm.input.cv_results), outs=list(sm.output.plots), task=sm.wildcards.task,
        kernels=list(sm.params.kernels), scoring=sm.params.scoring,
    ))  # fmt: skip
