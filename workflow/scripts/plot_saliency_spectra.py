"""Rule plot_saliency_spectra: one saliency figure per selected test spectrum, named by its id."""

import logging

from agn_saliency.core.files import atomic_directory
from agn_saliency.core.parallel import contiguous_chunks, map_in_workers
from agn_saliency.explain.maps import read_saliency
from agn_saliency.io.tables import read_table
from agn_saliency.plotting.figures import SaliencyFigure, plot_saliency_spectra

log = logging.getLogger("agn_saliency.plot_saliency_spectra")


def main(*, saliency: str, selected: str, out_dir: str, task: str, smooth_pixels: int, threads: int) -> None:
    result = read_saliency(saliency)
    row_of = {s: i for i, s in enumerate(result.specid)}
    with atomic_directory(out_dir) as building:  # the folder appears under its name only when complete
        figures = [
            SaliencyFigure.from_result(
                result, row_of[entry["specid"]], path=str(building / f"{entry['specid']}.png"), name=entry["specid"],
                subtitle=f"{task}, {entry['why']}", smooth_pixels=smooth_pixels,
            )
            for entry in read_table(selected)
        ]  # fmt: skip
        # one run of figures per worker: each draws them all on one reused matplotlib figure (~0.22 s per figure)
        map_in_workers(plot_saliency_spectra, [(chunk,) for chunk in contiguous_chunks(figures, threads)], threads)
    log.info("%s: %d saliency figures in %s", task, len(figures), out_dir)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        saliency=sm.input.saliency, selected=sm.input.selected, out_dir=sm.output.plots, task=sm.wildcards.task,
        smooth_pixels=sm.params.smooth_pixels, threads=sm.threads,
    ))  # fmt: skip
