"""Rule plot_saliency_spectra: one saliency figure per selected test spectrum, named by its id."""

import logging

from agn_saliency.explain import read_saliency
from agn_saliency.files import atomic_directory, read_table
from agn_saliency.parallel import map_in_workers
from agn_saliency.plotting import plot_saliency_spectrum, saliency_figure_arguments

log = logging.getLogger("agn_saliency.plot_saliency_spectra")


def main(saliency: str, selected: str, out_dir: str, task: str, smooth_pixels: int, threads: int) -> None:
    result = read_saliency(saliency)
    row_of = {s: i for i, s in enumerate(result.specid)}
    chosen = read_table(selected)
    with atomic_directory(out_dir) as building:  # the folder appears under its name only when complete
        figures = [
            saliency_figure_arguments(
                result,
                row_of[entry["specid"]],
                entry["specid"],
                f"{task}, {entry['why']}",
                str(building / f"{entry['specid']}.png"),
                smooth_pixels,
            )
            for entry in chosen
        ]
        map_in_workers(plot_saliency_spectrum, figures, threads)  # ~0.7 s per figure: share the cores
    log.info("%s: %d saliency figures in %s", task, len(figures), out_dir)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        snakemake.input.saliency,
        snakemake.input.selected,
        snakemake.output.plots,
        snakemake.wildcards.task,
        snakemake.params.smooth_pixels,
        snakemake.threads,
    )
