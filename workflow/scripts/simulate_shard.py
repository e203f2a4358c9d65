"""Rule simulate_shard: write one shard of the embedded sample as spec-lite FITS and its inventory."""

import logging

from agn_saliency.catalog import read_catalog, shard_rows
from agn_saliency.files import write_table
from agn_saliency.inventory import INVENTORY_COLUMNS, catalog_record
from agn_saliency.simulate import SimulationParameters, write_spectra

log = logging.getLogger("agn_saliency.simulate_shard")


def main(catalog_path: str, inventory_out: str, shard: int, n_shards: int, data_root: str, physics: dict, seed: int) -> None:
    rows = shard_rows(read_catalog(catalog_path), shard, n_shards)
    paths = write_spectra(rows, data_root, seed, SimulationParameters.from_mapping(physics))
    inventory = [catalog_record(record, str(path)) for record, path in zip(rows, paths)]
    write_table(inventory_out, inventory, INVENTORY_COLUMNS)
    log.info("shard %d/%d: %d spectra written under %s", shard, n_shards, len(inventory), data_root)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    p = snakemake.params
    main(snakemake.input.catalog, snakemake.output.inventory, p.shard, p.n_shards, p.data_root, dict(p.physics), p.seed)
