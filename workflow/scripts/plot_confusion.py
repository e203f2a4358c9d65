"""Rule plot_confusion: the selected model's confusion matrix on the test set (counts and row-normalised)."""

from agn_saliency.entry import run
from agn_saliency.stages.classify import plot_confusion

if __name__ == "__main__":
    run(plot_confusion, globals().get("snakemake"))
