"""Rule embed_tsne: t-SNE map of one class set at one perplexity."""

import logging

import numpy as np

from agn_saliency.cube import read_cube
from agn_saliency.dataset import task_classes
from agn_saliency.embed import Embedding, tsne_embedding, write_embedding

log = logging.getLogger("agn_saliency.embed_tsne")


def main(
    cube_path: str,
    out: str,
    task: str,
    perplexity: float,
    seed: int,
    implementation: str,
    n_iter: int,
    pca_components: int,
    threads: int,
) -> None:
    cube = read_cube(cube_path)
    label = cube.meta["label"].astype(str)
    members = np.isin(label, task_classes(task))
    xy = tsne_embedding(cube.flux[members], perplexity, seed, implementation, n_iter, pca_components, threads)
    write_embedding(
        out,
        Embedding(
            cube.meta["specid"][members],
            label[members],
            xy,
            {"task": task, "perplexity": perplexity, "seed": seed, "implementation": implementation},
        ),
    )
    log.info("t-SNE %s perplexity %g: %d spectra", task, perplexity, int(members.sum()))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    p = snakemake.params
    main(
        snakemake.input.cube,
        snakemake.output.embedding,
        snakemake.wildcards.task,
        float(snakemake.wildcards.perplexity),
        p.seed,
        p.implementation,
        p.n_iter,
        p.pca_components,
        snakemake.threads,
    )
