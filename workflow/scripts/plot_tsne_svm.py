"""Rule plot_tsne_svm (optional): decision regions of the t-SNE-plane SVM with the test spectra on top."""

from agn_saliency.entry import run
from agn_saliency.stages.classify import plot_tsne_svm

if __name__ == "__main__":
    run(plot_tsne_svm, globals().get("snakemake"))
