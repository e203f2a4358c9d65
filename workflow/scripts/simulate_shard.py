"""Rule simulate_shard: write one shard of the embedded sample as spec-lite FITS and its inventory."""

import logging
from pathlib import Path

from agn_saliency.catalog import read_catalog, shard_rows
from agn_saliency.files import write_tsv
from agn_saliency.reduce import INVENTORY_COLUMNS
from agn_saliency.sdss import specid
from agn_saliency.simulate import SimulationParameters, write_spectra

log = logging.getLogger("agn_saliency.simulate_shard")


def main(catalog_path: str, inventory_out: str, shard: int, n_shards: int, data_root: str, physics: dict, seed: int) -> None:
    rows = shard_rows(read_catalog(catalog_path), shard, n_shards)
    paths = write_spectra(rows, data_root, seed, SimulationParameters.from_mapping(physics))
    inventory = [
        {"row": int(r["row"]), "specid": specid(r["plate"], r["mjd"], r["fiberid"]), "plate": int(r["plate"]),
         "mjd": int(r["mjd"]), "fiberid": int(r["fiberid"]), "z": repr(float(r["z"])), "label": r["label"],
         "path": str(Path(path)), "status": "ok", "reason": ""}
        for r, path in zip(rows, paths)
    ]
    write_tsv(inventory_out, inventory, INVENTORY_COLUMNS)
    log.info("shard %d/%d: %d spectra written under %s", shard, n_shards, len(inventory), data_root)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    p = snakemake.params
    main(snakemake.input.catalog, snakemake.output.inventory, p.shard, p.n_shards, p.data_root, dict(p.physics), p.seed)
