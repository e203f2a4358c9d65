"""Rule plot_agn_gate: the BPT diagram of a predicted folder's files, coloured by the AGN gate's verdict."""

from agn_saliency.entry import run
from agn_saliency.stages.predict import plot_agn_gate

if __name__ == "__main__":
    run(plot_agn_gate, globals().get("snakemake"))
