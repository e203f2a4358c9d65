"""Rule plot_tsne_highlight: the task's t-SNE map with the drawn test spectra ringed and the misclassified ones crossed."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import plot_tsne_highlight

if __name__ == "__main__":
    run(plot_tsne_highlight, globals().get("snakemake"))
