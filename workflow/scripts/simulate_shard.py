"""Rule simulate_shard: write one shard of the embedded sample as spec-lite FITS, its inventory and its ground truth."""

import logging

from agn_saliency.acquire.catalog import read_catalog, shard_rows
from agn_saliency.acquire.inventory import INVENTORY_COLUMNS, catalog_record
from agn_saliency.acquire.simulate import TRUTH_COLUMNS, TRUTH_UNITS, SimulationParameters, write_spectra_with_truth
from agn_saliency.io.tables import write_table

log = logging.getLogger("agn_saliency.simulate_shard")


def main(
    *, catalog: str, inventory_out: str, truth_out: str, shard: int, n_shards: int, data_root: str, physics: dict, seed: int
) -> None:
    rows = shard_rows(read_catalog(catalog), shard, n_shards)
    paths, truth = write_spectra_with_truth(rows, data_root, seed, SimulationParameters.from_mapping(physics))
    inventory = [catalog_record(record, str(path)) for record, path in zip(rows, paths)]
    write_table(inventory_out, inventory, INVENTORY_COLUMNS)
    write_table(truth_out, truth, TRUTH_COLUMNS, units=TRUTH_UNITS, description="drawn broad-line parameters per spectrum")
    log.info("shard %d/%d: %d spectra written under %s", shard, n_shards, len(inventory), data_root)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        catalog=sm.input.catalog, inventory_out=sm.output.inventory, truth_out=sm.output.truth, shard=sm.params.shard,
        n_shards=sm.params.n_shards, data_root=sm.params.data_root, physics=dict(sm.params.physics), seed=sm.params.seed,
    ))  # fmt: skip
