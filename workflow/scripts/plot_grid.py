"""Rule plot_grid: heat map of the cross-validated score over one kernel's grid."""

from agn_saliency.files import read_table
from agn_saliency.plotting import plot_grid_scores


def main(cv_results: str, out: str, task: str, kernel: str, scoring: str) -> None:
    plot_grid_scores(read_table(cv_results), scoring, out, f"Grid search: {task}, {kernel} kernel (★ best)")


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        snakemake.input.cv_results,
        snakemake.output[0],
        snakemake.wildcards.task,
        snakemake.wildcards.kernel,
        snakemake.params.scoring,
    )
