"""Rule fit_tsne_svm (optional, ``classify.tsne_svm``): an RBF SVM on the 2-D t-SNE plane, as in the original …."""

from agn_saliency.entry import run
from agn_saliency.stages.classify import fit_tsne_svm

if __name__ == "__main__":
    run(fit_tsne_svm, globals().get("snakemake"))
