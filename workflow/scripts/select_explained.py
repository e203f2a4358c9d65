"""Rule select_explained: which test spectra get a saliency figure (misclassified + random per class)."""

from agn_saliency.explain.maps import read_saliency, select_explained
from agn_saliency.io.tables import write_table


def main(*, saliency: str, out: str, n_random_per_class: int, seed: int) -> None:
    result = read_saliency(saliency)
    rows = [
        {"specid": result.specid[i], "true": result.true_label[i], "predicted": result.predicted_label[i], "why": why}
        for i, why in select_explained(result.true_label, result.predicted_label, n_random_per_class, seed)
    ]
    write_table(out, rows, ("specid", "true", "predicted", "why"))


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        saliency=sm.input.saliency, out=sm.output.selected, n_random_per_class=sm.params.n_random_per_class,
        seed=sm.params.seed,
    ))  # fmt: skip
