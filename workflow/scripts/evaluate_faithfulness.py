"""Rule evaluate_faithfulness: deletion/insertion, model randomisation and planted-signal checks of every method."""

from agn_saliency.stages.all import evaluate_faithfulness

main = evaluate_faithfulness  # keyword-only: model, cube, split, saliency, truth, task, table_out, curves_out, methods, …

if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        model=sm.input.model, cube=sm.input.cube, split=sm.input.split, saliency=sm.input.saliency,
        truth=list(sm.input.truth), task=sm.wildcards.task, table_out=sm.output.table, curves_out=sm.output.curves,
        methods=dict(sm.params.methods), **dict(sm.params.faithfulness), seed=sm.params.seed,
    ))  # fmt: skip
