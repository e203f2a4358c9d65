"""Rule plot_sample: a few reduced spectra per class with the main lines marked."""

from agn_saliency.cube import read_cube
from agn_saliency.plotting import plot_sample_spectra


def main(cube_path: str, out: str, per_class: int, seed: int) -> None:
    cube = read_cube(cube_path)
    plot_sample_spectra(cube.wavelength, cube.flux, cube.meta["label"].astype(str), cube.meta["specid"], out, per_class, seed)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.cube, snakemake.output[0], snakemake.params.per_class, snakemake.params.seed)
