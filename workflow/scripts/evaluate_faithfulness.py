"""Rule evaluate_faithfulness: deletion/insertion, model randomisation and planted-signal checks of every method."""

import logging

from agn_saliency.dataset import load_task
from agn_saliency.explain import evaluate_faithfulness, read_saliency
from agn_saliency.faithfulness import SUMMARY_COLUMNS
from agn_saliency.files import read_table, write_table
from agn_saliency.models import load_model

log = logging.getLogger("agn_saliency.evaluate_faithfulness")


def main(*, model, cube, split, saliency, truth, task, table_out, curves_out, methods, steps, random_orders, seed) -> None:
    fitted, metadata = load_model(model)
    fit_on = ("train", "validation") if metadata.get("fitted_on") == "train+validation" else ("train",)
    train = load_task(cube, split, task).where(*fit_on)
    truth_rows = [row for path in truth for row in read_table(path)]
    table, curves = evaluate_faithfulness(
        fitted, train.flux, train.label, read_saliency(saliency), methods,
        steps=steps, random_orders=random_orders, seed=seed, truth_rows=truth_rows,
    )  # fmt: skip
    write_table(table_out, table, list(SUMMARY_COLUMNS), units={c: u for c, (u, _) in SUMMARY_COLUMNS.items() if c != "method"})
    write_table(curves_out, curves, ["method", "curve", "fraction", "p_mean", "p_std"])
    for row in table:
        log.info("%s %s: deletion AOPC %.4f vs random %.4f (margin %+.4f); insertion margin %+.4f; randomisation ρ %.3f; "
                 "planted top-%d %.3f vs chance %.3f", task, row["method"], row["deletion_aopc"], row["deletion_aopc_random"],
                 row["deletion_margin"], row["insertion_margin"], row["randomisation_spearman"], row["top_k"],
                 row["top_k_fraction"], row["top_k_chance"])  # fmt: skip


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        model=snakemake.input.model,
        cube=snakemake.input.cube,
        split=snakemake.input.split,
        saliency=snakemake.input.saliency,
        truth=list(snakemake.input.truth),
        task=snakemake.wildcards.task,
        table_out=snakemake.output.table,
        curves_out=snakemake.output.curves,
        methods=dict(snakemake.params.methods),
        **dict(snakemake.params.faithfulness),
        seed=snakemake.params.seed,
    )
