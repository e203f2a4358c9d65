"""Rule split_sample: stratified, seeded train / validation / test split of the cube's spectra, saved by spectrum id."""

from agn_saliency.entry import run
from agn_saliency.stages.split import split_sample

if __name__ == "__main__":
    run(split_sample, globals().get("snakemake"))
