"""Rule search_grid: grid search one kernel's scaler → SVM → sigmoid pipeline on the training set …."""

from agn_saliency.entry import run
from agn_saliency.stages.classify import search_grid

if __name__ == "__main__":
    run(search_grid, globals().get("snakemake"))
