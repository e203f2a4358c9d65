"""Rule plot_tsne_svm (optional): decision regions of the t-SNE-plane SVM with the test spectra."""

from agn_saliency.learn.tsne_svm import read_regions
from agn_saliency.plotting.figures import plot_decision_regions


def main(*, regions: str, out: str, task: str) -> None:
    r = read_regions(regions)
    title = f"SVM on the t-SNE plane ({task}): test accuracy {r.test_accuracy:.3f}"
    plot_decision_regions(r.grid_x, r.grid_y, r.regions, r.test_xy, r.test_label, out, title)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(regions=sm.input.regions, out=sm.output[0], task=sm.wildcards.task))
