"""Rule select_model: choose the kernel on the validation set (ties: the simpler kernel), refit on train + …."""

from agn_saliency.entry import run
from agn_saliency.stages.classify import select_model

if __name__ == "__main__":
    run(select_model, globals().get("snakemake"))
