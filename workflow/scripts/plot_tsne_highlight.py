"""Rule plot_tsne_highlight: t-SNE map with the plotted test spectra ringed and misclassified ones crossed."""

import numpy as np

from agn_saliency.explain.maps import read_saliency
from agn_saliency.io.tables import read_table
from agn_saliency.learn.embed import read_embedding
from agn_saliency.plotting.figures import plot_tsne_map


def main(*, embedding: str, saliency: str, selected: str, out: str, task: str) -> None:
    tsne = read_embedding(embedding)
    result = read_saliency(saliency)
    wrong = result.specid[result.true_label != result.predicted_label]
    plotted = [row["specid"] for row in read_table(selected)]
    title = f"t-SNE ({task}, perplexity {tsne.attrs['perplexity']:g}): explained test spectra"
    plot_tsne_map(
        tsne.xy, tsne.label, out, title, highlight=np.isin(tsne.specid, plotted), misclassified=np.isin(tsne.specid, wrong)
    )


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        embedding=sm.input.embedding, saliency=sm.input.saliency, selected=sm.input.selected, out=sm.output[0],
        task=sm.wildcards.task,
    ))  # fmt: skip
