"""Rule reduce_shard: reduce one inventory shard onto the common rest-frame grid."""

from agn_saliency.stages.all import reduce_shard

main = reduce_shard  # keyword-only: inventory, shard_out, rejected_out, reduce (the config's reduce section)

if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        inventory=sm.input.inventory, shard_out=sm.output.shard, rejected_out=sm.output.rejected,
        reduce=dict(sm.params.reduce),
    ))  # fmt: skip
