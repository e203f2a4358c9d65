"""Rules of ``workflow/rules/embed.smk``: a t-SNE map per class set and perplexity
(:func:`embed_tsne`), drawn by :func:`plot_tsne` (computation and plotting apart)."""

from __future__ import annotations

from typing import Any

from agn_saliency.stages._common import draws_figures, rule_log

__all__ = ["embed_tsne", "plot_tsne"]


def embed_tsne(
    *,
    cube: str,
    embedding_out: str,
    task: str,
    perplexity: float,
    seed: int,
    implementation: str,
    n_iter: int,
    early_exaggeration_iter: int,
    theta: float,
    pca_components: int,
    threads: int = 1,
) -> Any:
    """Rule embed_tsne: the t-SNE map of the task's class set at one perplexity (the set standardised
    as a whole: exploration only). Returns the :class:`~agn_saliency.learn.embed.Embedding` written."""
    from agn_saliency.core.identity import qualified_ids
    from agn_saliency.core.vocabulary import task_mask
    from agn_saliency.io.cube import read_cube
    from agn_saliency.learn.embed import Embedding, tsne_embedding, write_embedding

    spectra = read_cube(cube)
    label = spectra.meta["label"].astype(str)
    members = task_mask(label, task)
    xy = tsne_embedding(
        spectra.flux[members], perplexity, seed, implementation, n_iter, pca_components, threads, early_exaggeration_iter, theta
    )
    attrs = {"task": task, "perplexity": perplexity, "seed": seed, "implementation": implementation}
    specid = qualified_ids(spectra.meta["survey"], spectra.meta["specid"])  # survey-qualified, as the split and figures
    embedding = Embedding(specid[members], label[members], xy, attrs)
    write_embedding(embedding_out, embedding)
    rule_log("embed_tsne").info("t-SNE %s perplexity %g: %d spectra", task, perplexity, int(members.sum()))
    return embedding


@draws_figures
def plot_tsne(*, embedding: str, plot_out: str, task: str, perplexity: str) -> str:
    """Rule plot_tsne: one t-SNE map coloured by class."""
    from agn_saliency.core.vocabulary import TASK_TITLES
    from agn_saliency.learn.embed import read_embedding
    from agn_saliency.plotting import plot_tsne_map

    tsne = read_embedding(embedding)
    plot_tsne_map(tsne.xy, tsne.label, plot_out, f"t-SNE, {TASK_TITLES[task]} (perplexity {perplexity})")
    return plot_out
