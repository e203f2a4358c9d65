"""Rule plot_sample: ``per_class`` reduced spectra of each class (seeded)."""

from agn_saliency.entry import run
from agn_saliency.stages.reduce import plot_sample

if __name__ == "__main__":
    run(plot_sample, globals().get("snakemake"))
