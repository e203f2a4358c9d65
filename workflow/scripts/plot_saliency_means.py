"""Rule plot_saliency_means: mean ± spread of each true class's own-class saliency."""

from agn_saliency.explain import read_saliency
from agn_saliency.plotting import plot_saliency_means


def main(saliency: str, out: str, task: str, smooth_pixels: int) -> None:
    result = read_saliency(saliency)
    plot_saliency_means(
        result.wavelength,
        result.flux,
        result.saliency,
        result.true_label,
        result.class_names,
        out,
        f"Class-mean saliency, {task} (test set" + (f", running mean over {smooth_pixels} px)" if smooth_pixels > 1 else ")"),
        smooth_pixels,
    )


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.saliency, snakemake.output[0], snakemake.wildcards.task, snakemake.params.smooth_pixels)
