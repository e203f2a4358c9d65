"""Rule plot_robustness: bars of the line/absorption ratios and the host-dilution curve."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import plot_robustness

if __name__ == "__main__":
    run(plot_robustness, globals().get("snakemake"))
