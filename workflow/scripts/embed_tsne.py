"""Rule embed_tsne: t-SNE map of one class set at one perplexity."""

from agn_saliency.learn.embed import write_embedding
from agn_saliency.stages.all import embed_task


def main(
    *, cube: str, out: str, task: str, perplexity: float, seed: int, implementation: str, n_iter: int,
    early_exaggeration_iter: int, theta: float, pca_components: int, threads: int,
) -> None:  # fmt: skip
    embedding = embed_task(
        cube=cube, task=task, perplexity=perplexity, seed=seed, implementation=implementation, n_iter=n_iter,
        early_exaggeration_iter=early_exaggeration_iter, theta=theta, pca_components=pca_components, threads=threads,
    )  # fmt: skip
    write_embedding(out, embedding)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        cube=sm.input.cube, out=sm.output.embedding, task=sm.wildcards.task, perplexity=float(sm.wildcards.perplexity),
        seed=sm.params.seed, implementation=sm.params.implementation, n_iter=sm.params.n_iter,
        early_exaggeration_iter=sm.params.early_exaggeration_iter, theta=sm.params.theta,
        pca_components=sm.params.pca_components, threads=sm.threads,
    ))  # fmt: skip
