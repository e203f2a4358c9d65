"""Rule plot_saliency_means: mean ± spread of each true class's own-class saliency over the test spectra."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import plot_saliency_means

if __name__ == "__main__":
    run(plot_saliency_means, globals().get("snakemake"))
