"""Rule split_sample: stratified train / validation / test split by spectrum id."""

import logging
from collections import Counter

import h5py

from agn_saliency.files import write_table
from agn_saliency.split import SPLIT_COLUMNS, stratified_split

log = logging.getLogger("agn_saliency.split_sample")


def main(cube_path: str, out: str, test_fraction: float, validation_fraction: float, seed: int) -> None:
    with h5py.File(cube_path, "r") as cube:  # only the ids and labels are needed
        specid = cube["meta/specid"].asstr()[()]
        label = cube["meta/label"].asstr()[()]
    subset = stratified_split(specid, label, test_fraction, validation_fraction, seed)
    write_table(out, [dict(zip(SPLIT_COLUMNS, row)) for row in zip(specid, label, subset)], SPLIT_COLUMNS)
    log.info("split: %s", dict(Counter(zip(subset, label))))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        snakemake.input.cube,
        snakemake.output.split,
        snakemake.params.test_fraction,
        snakemake.params.validation_fraction,
        snakemake.params.seed,
    )
