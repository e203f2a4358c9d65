"""Rule fit_tsne_svm (optional): an RBF SVM on the 2-D t-SNE plane and its decision regions."""

from agn_saliency.io.tables import read_table
from agn_saliency.learn.embed import read_embedding
from agn_saliency.learn.tsne_svm import GRID_POINTS, C, fit_regions, subsets_of, write_regions


def main(*, embedding: str, split: str, out: str, seed: int, C: float = C, grid_points: int = GRID_POINTS) -> None:
    tsne = read_embedding(embedding)
    subset = subsets_of(tsne.specid, {row["specid"]: row["subset"] for row in read_table(split)})
    write_regions(out, fit_regions(tsne.xy, tsne.label, subset, seed, C=C, grid_points=grid_points))


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        embedding=sm.input.embedding, split=sm.input.split, out=sm.output.regions, seed=sm.params.seed,
        C=sm.params.C, grid_points=sm.params.grid_points,
    ))  # fmt: skip
