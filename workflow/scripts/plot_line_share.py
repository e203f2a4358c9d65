"""Rule plot_line_share: bars of saliency share against pixel share per region and class."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import plot_line_share

if __name__ == "__main__":
    run(plot_line_share, globals().get("snakemake"))
