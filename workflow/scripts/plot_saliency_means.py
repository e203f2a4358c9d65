"""Rule plot_saliency_means: mean ± spread of each true class's own-class saliency."""

from agn_saliency.explain import read_saliency
from agn_saliency.plotting import plot_saliency_means


def main(saliency: str, out: str, task: str) -> None:
    result = read_saliency(saliency)
    plot_saliency_means(result.wavelength, result.flux, result.saliency, result.true_label, result.class_names, out,
                        f"Class-mean saliency, {task} (test set)")


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.saliency, snakemake.output[0], snakemake.wildcards.task)
