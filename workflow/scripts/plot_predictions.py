"""Rule plot_predictions: a saliency figure per accepted file of predict_dir (named by its key; title: AGN gate, OOD flag)."""

import logging
import os

from agn_saliency.core.files import atomic_directory
from agn_saliency.core.parallel import contiguous_chunks, map_in_workers
from agn_saliency.explain.maps import read_saliency
from agn_saliency.io.tables import read_table
from agn_saliency.plotting.figures import SaliencyFigure, plot_saliency_spectra
from agn_saliency.predict.folder import verdict_lines

log = logging.getLogger("agn_saliency.plot_predictions")


def main(*, saliency: str, predictions: str, out_dir: str, smooth_pixels: int, threads: int) -> None:
    result = read_saliency(saliency)
    row_of_key = {row["key"]: row for row in read_table(predictions)}
    with atomic_directory(out_dir) as building:  # the folder appears under its name only when complete
        figures = [
            SaliencyFigure.from_result(
                result, i, path=str(building / f"{key}.png"), name=result.specid[i], smooth_pixels=smooth_pixels,
                subtitle=f"predict, {os.path.basename(result.file[i])}", verdicts=verdict_lines(row_of_key[key]),
            )
            for i, key in enumerate(result.key)
        ]  # fmt: skip
        # one run of figures per worker, drawn on one reused matplotlib figure
        map_in_workers(plot_saliency_spectra, [(chunk,) for chunk in contiguous_chunks(figures, threads)], threads)
    log.info("%d figures in %s", len(figures), out_dir)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        saliency=sm.input.saliency, predictions=sm.input.predictions, out_dir=sm.output.plots,
        smooth_pixels=sm.params.smooth_pixels, threads=sm.threads,
    ))  # fmt: skip
