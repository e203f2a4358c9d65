# Acquisition: every source ends in the same per-shard inventories
# (results/acquire/inventory/shard-NNN.tsv: row, specid, plate, mjd, fiberid, z, label, path, status, reason).

if SOURCE == "synthetic":

    rule simulate_catalog:
        """Draw the embedded sample's catalog: ids, redshifts, S/N and labels (seeded)."""
        output:
            catalog="results/acquire/catalog.csv",
        log:
            "results/logs/simulate_catalog.log",
        params:
            counts={k: config["synthetic"][k] for k in ("n_type1", "n_type2", "n_intermediate")},
            physics=config["synthetic"]["physics"],
            seed=config["seed"],
        script:
            "../scripts/simulate_catalog.py"

    rule simulate_shard:
        """Write one shard of the embedded sample as genuine SDSS spec-lite FITS files."""
        input:
            catalog=rules.simulate_catalog.output.catalog,
        output:
            inventory="results/acquire/inventory/shard-{shard}.tsv",
        log:
            "results/logs/simulate_shard/{shard}.log",
        params:
            shard=lambda wildcards: int(wildcards.shard),
            n_shards=config["data"]["n_shards"],
            data_root=f"{DATA_DIR}/synthetic",
            physics=config["synthetic"]["physics"],
            seed=config["seed"],
        resources:
            mem_mb=1000,
            runtime=30,
        script:
            "../scripts/simulate_shard.py"
