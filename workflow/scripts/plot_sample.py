"""Rule plot_sample: a few reduced spectra per class with the main lines marked."""

from agn_saliency.io.cube import read_cube
from agn_saliency.plotting.figures import plot_sample_spectra


def main(*, cube: str, out: str, per_class: int, seed: int) -> None:
    c = read_cube(cube)
    plot_sample_spectra(c.wavelength, c.flux, c.meta["label"].astype(str), c.meta["specid"], out, per_class, seed)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        cube=sm.input.cube, out=sm.output[0], per_class=sm.params.per_class, seed=sm.params.seed,
    ))  # fmt: skip
