"""Rule plot_predictions: one saliency figure per accepted file of predict_dir, named by the file's key."""

import os
from concurrent.futures import ProcessPoolExecutor

from agn_saliency.explain import read_saliency
from agn_saliency.plotting import plot_saliency_spectrum


def main(saliency: str, out_dir: str, smooth_pixels: int, threads: int) -> None:
    result = read_saliency(saliency)
    os.makedirs(out_dir, exist_ok=True)
    figures = [
        (result.wavelength, result.flux[i], result.saliency[i], result.class_names, result.probabilities[i], specid, "",
         result.predicted_label[i], "predict", os.path.join(out_dir, f"{result.key[i]}.png"), smooth_pixels)
        for i, specid in enumerate(result.specid)
    ]
    with ProcessPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(plot_saliency_spectrum, *zip(*figures)) if figures else [])


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.saliency, snakemake.output.plots, snakemake.params.smooth_pixels, snakemake.threads)
