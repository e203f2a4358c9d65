"""Rule plot_tsne_highlight: t-SNE map with the plotted test spectra ringed and misclassified ones crossed."""

import numpy as np

from agn_saliency.embed import read_embedding
from agn_saliency.explain import read_saliency
from agn_saliency.files import read_table
from agn_saliency.plotting import plot_tsne_map


def main(embedding: str, saliency: str, selected: str, out: str, task: str) -> None:
    tsne = read_embedding(embedding)
    specid, label, xy, perplexity = tsne.specid, tsne.label, tsne.xy, tsne.attrs["perplexity"]
    result = read_saliency(saliency)
    wrong = set(result.specid[result.true_label != result.predicted_label])
    plotted = {row["specid"] for row in read_table(selected)}
    plot_tsne_map(
        xy,
        label,
        out,
        f"t-SNE ({task}, perplexity {perplexity:g}): explained test spectra",
        highlight=np.isin(specid, list(plotted)),
        misclassified=np.isin(specid, list(wrong)),
    )


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        snakemake.input.embedding,
        snakemake.input.saliency,
        snakemake.input.selected,
        snakemake.output[0],
        snakemake.wildcards.task,
    )
