"""Rule reduce_shard: reduce one inventory shard onto the common rest-frame grid."""

import logging

from agn_saliency.agn_gate import not_agn_reason
from agn_saliency.cube import write_shard
from agn_saliency.files import read_table, write_table
from agn_saliency.reduce import REJECTED_COLUMNS, ReductionParameters, reduce_inventory

log = logging.getLogger("agn_saliency.reduce_shard")


def main(inventory: str, shard_out: str, rejected_out: str, reduce_config: dict) -> None:
    params = ReductionParameters.from_mapping(reduce_config)
    rows = read_table(inventory)
    result = reduce_inventory(rows, params, gate=not_agn_reason if params.agn_gate else None)
    write_shard(shard_out, params.wavelength(), result.flux, result.ivar, result.mask, result.meta, params.norm_window)
    write_table(rejected_out, result.rejected, REJECTED_COLUMNS)
    log.info("%s: %d reduced, %d rejected", inventory, len(result.flux), len(result.rejected))
    for record in result.rejected:
        log.warning("rejected %s (%s): %s", record["specid"], record["source_file"], record["reason"])


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.inventory, snakemake.output.shard, snakemake.output.rejected, dict(snakemake.params.reduce))
