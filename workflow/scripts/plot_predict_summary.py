"""Rule plot_predict_summary: one figure of a whole predict run."""

from agn_saliency.entry import run
from agn_saliency.stages.predict import plot_predict_summary

if __name__ == "__main__":
    run(plot_predict_summary, globals().get("snakemake"))
