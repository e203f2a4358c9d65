"""Rule plot_tsne: one t-SNE map coloured by class."""

from agn_saliency.entry import run
from agn_saliency.stages.embed import plot_tsne

if __name__ == "__main__":
    run(plot_tsne, globals().get("snakemake"))
