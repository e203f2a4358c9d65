"""Rule simulate_catalog: draw the embedded sample's catalog (ids, z, S/N, labels)."""

import logging

from agn_saliency.acquire.simulate import SimulationParameters, simulate_catalog, write_catalog_csv

log = logging.getLogger("agn_saliency.simulate_catalog")


def main(*, out: str, counts: dict, physics: dict, seed: int) -> None:
    params = SimulationParameters.from_mapping(physics)
    catalog = simulate_catalog(counts["n_type1"], counts["n_type2"], counts["n_intermediate"], seed, params)
    write_catalog_csv(catalog, out)
    log.info("catalog of %d simulated spectra: %s", len(catalog), counts)


if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        out=sm.output.catalog, counts=dict(sm.params.counts), physics=dict(sm.params.physics), seed=sm.params.seed,
    ))  # fmt: skip
