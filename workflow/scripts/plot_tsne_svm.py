"""Rule plot_tsne_svm (optional): decision regions of the t-SNE-plane SVM with the test spectra."""

import h5py

from agn_saliency.plotting import plot_decision_regions


def main(regions: str, out: str, task: str) -> None:
    with h5py.File(regions, "r") as handle:
        plot_decision_regions(
            handle["grid_x"][()],
            handle["grid_y"][()],
            handle["regions"].asstr()[()],
            handle["test_xy"][()],
            handle["test_label"].asstr()[()],
            out,
            f"SVM on the t-SNE plane ({task}): test accuracy {handle.attrs['test_accuracy']:.3f}",
        )


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.regions, snakemake.output[0], snakemake.wildcards.task)
