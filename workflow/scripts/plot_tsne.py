"""Rule plot_tsne: draw one t-SNE map coloured by class."""

from agn_saliency.embed import read_embedding
from agn_saliency.plotting import plot_tsne_map

TASK_TITLES = {"binary": "type 1 vs type 2", "multiclass": "type 1, type 2, intermediate"}


def main(embedding: str, out: str, task: str, perplexity: str) -> None:
    tsne = read_embedding(embedding)
    plot_tsne_map(tsne.xy, tsne.label, out, f"t-SNE, {TASK_TITLES[task]} (perplexity {perplexity})")


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.embedding, snakemake.output[0], snakemake.wildcards.task, snakemake.wildcards.perplexity)
