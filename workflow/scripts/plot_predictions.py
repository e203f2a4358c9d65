"""Rule plot_predictions: one saliency figure per accepted file of predict_dir, named by the file's key."""

import logging
import os

from agn_saliency.explain import read_saliency
from agn_saliency.files import atomic_directory
from agn_saliency.parallel import map_in_workers
from agn_saliency.plotting import plot_saliency_spectrum, saliency_figure_arguments

log = logging.getLogger("agn_saliency.plot_predictions")


def main(saliency: str, out_dir: str, smooth_pixels: int, threads: int) -> None:
    result = read_saliency(saliency)
    with atomic_directory(out_dir) as building:  # the folder appears under its name only when complete
        figures = [
            saliency_figure_arguments(
                result,
                i,
                specid,
                f"predict, {os.path.basename(result.file[i])}",
                str(building / f"{result.key[i]}.png"),
                smooth_pixels,
            )
            for i, specid in enumerate(result.specid)
        ]
        map_in_workers(plot_saliency_spectrum, figures, threads)
    log.info("%d figures in %s", len(figures), out_dir)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.saliency, snakemake.output.plots, snakemake.params.smooth_pixels, snakemake.threads)
