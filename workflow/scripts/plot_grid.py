"""Rule plot_grid: heat map of the cross-validated score over one kernel's grid."""

from agn_saliency.files import read_table
from agn_saliency.plotting import plot_grid_scores


def main(*, cv_results: str, out: str, task: str, kernel: str, scoring: str) -> None:
    plot_grid_scores(read_table(cv_results), scoring, out, f"Grid search: {task}, {kernel} kernel (★ best)")


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        cv_results=sm.input.cv_results, out=sm.output[0], task=sm.wildcards.task, kernel=sm.wildcards.kernel,
        scoring=sm.params.scoring,
    ))  # fmt: skip
