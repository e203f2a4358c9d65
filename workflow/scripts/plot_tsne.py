"""Rule plot_tsne: draw one t-SNE map coloured by class."""

from agn_saliency.core.vocabulary import TASK_TITLES
from agn_saliency.learn.embed import read_embedding
from agn_saliency.plotting.figures import plot_tsne_map


def main(*, embedding: str, out: str, task: str, perplexity: str) -> None:
    tsne = read_embedding(embedding)
    plot_tsne_map(tsne.xy, tsne.label, out, f"t-SNE, {TASK_TITLES[task]} (perplexity {perplexity})")


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        embedding=sm.input.embedding, out=sm.output[0], task=sm.wildcards.task, perplexity=sm.wildcards.perplexity,
    ))  # fmt: skip
