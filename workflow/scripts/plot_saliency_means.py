"""Rule plot_saliency_means: mean ± spread of each true class's own-class saliency."""

from agn_saliency.explain.maps import read_saliency
from agn_saliency.plotting.figures import plot_saliency_means


def main(*, saliency: str, out: str, task: str, smooth_pixels: int) -> None:
    r = read_saliency(saliency)
    smoothed = f", running mean over {smooth_pixels} px" if smooth_pixels > 1 else ""
    title = f"Class-mean saliency, {task} (test set{smoothed})"
    plot_saliency_means(r.wavelength, r.flux, r.saliency, r.true_label, r.class_names, out, title, smooth_pixels)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        saliency=sm.input.saliency, out=sm.output[0], task=sm.wildcards.task, smooth_pixels=sm.params.smooth_pixels,
    ))  # fmt: skip
