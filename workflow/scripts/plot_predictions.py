"""Rule plot_predictions: a saliency figure per accepted file, named by its key, titled with the AGN gate's …."""

from agn_saliency.entry import run
from agn_saliency.stages.predict import plot_predictions

if __name__ == "__main__":
    run(plot_predictions, globals().get("snakemake"))
