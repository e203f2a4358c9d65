"""Rule plot_faithfulness: mean deletion and insertion curves of every method against random pixel orders."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import plot_faithfulness

if __name__ == "__main__":
    run(plot_faithfulness, globals().get("snakemake"))
