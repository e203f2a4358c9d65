"""Rule plot_grid: a heat map of the cross-validated score over each kernel's grid of one task."""

from agn_saliency.entry import run
from agn_saliency.stages.classify import plot_grid

if __name__ == "__main__":
    run(plot_grid, globals().get("snakemake"))
