"""Rule select_explained: the test spectra to draw — every misclassified one plus ``n_random_per_class`` random …."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import select_explained

if __name__ == "__main__":
    run(select_explained, globals().get("snakemake"))
