# Acquisition: every source ends in the same per-shard inventories
# (results/acquire/inventory/shard-NNN.ecsv: row, specid, plate, mjd, fiberid, z, label, path, status, reason).

if SOURCE == "synthetic":

    rule simulate_catalog:
        """Draw the embedded sample's catalog: ids, redshifts, S/N and labels (seeded)."""
        output:
            catalog="results/acquire/catalog.csv",
        log:
            "results/logs/simulate_catalog.log",
        benchmark:
            "results/benchmarks/simulate_catalog/all.tsv"
        conda:
            "../../envs/data.yaml"
        params:
            counts={k: config["synthetic"][k] for k in ("n_type1", "n_type2", "n_intermediate")},
            physics=config["synthetic"]["physics"],
            seed=config["seed"],
        script:
            "../scripts/simulate_catalog.py"

    rule simulate_shard:
        """Write one shard of the embedded sample as genuine SDSS spec-lite FITS files (or, with
        synthetic.format: desi, whole DESI healpix coadd + redrock files)."""
        input:
            catalog=rules.simulate_catalog.output.catalog,
        output:
            inventory="results/acquire/inventory/shard-{shard}.ecsv",
            truth="results/acquire/truth/shard-{shard}.ecsv",
        log:
            "results/logs/simulate_shard/{shard}.log",
        benchmark:
            "results/benchmarks/simulate_shard/{shard}.tsv"
        conda:
            "../../envs/data.yaml"
        resources:
            mem_mb=1000,
            runtime=30,
        params:
            n_shards=config["data"]["n_shards"],
            data_root=f"{DATA_DIR}/synthetic",
            file_format=config["synthetic"]["format"],
            physics=config["synthetic"]["physics"],
            seed=config["seed"],
        script:
            "../scripts/simulate_shard.py"

elif SOURCE == "sdss":

    rule validate_catalog:
        """Validate the labelled catalog before any download (errors name the row and column)."""
        input:
            catalog=config["data"]["catalog"],
        output:
            catalog="results/acquire/catalog.csv",
            duplicates="results/acquire/duplicates.ecsv",
        log:
            "results/logs/validate_catalog.log",
        benchmark:
            "results/benchmarks/validate_catalog/all.tsv"
        conda:
            "../../envs/data.yaml"
        script:
            "../scripts/validate_catalog.py"

    rule download_shard:
        """Download one shard of spec-lite files from the SAS: retries, deadlines, verification,
        resumable. Fails (outputs removed, so a rerun retries) when more files failed than
        data.sdss.max_failed_fraction accepts; the transport settings are read by the script, not
        params, so changing them reruns nothing."""
        input:
            catalog=rules.validate_catalog.output.catalog,
        output:
            manifest="results/acquire/manifest/shard-{shard}.ecsv",
            inventory="results/acquire/inventory/shard-{shard}.ecsv",
        log:
            "results/logs/download_shard/{shard}.log",
        benchmark:
            "results/benchmarks/download_shard/{shard}.tsv"
        conda:
            "../../envs/data.yaml"
        resources:
            mem_mb=1000,
            runtime=240,
        params:
            n_shards=config["data"]["n_shards"],
            data_root=f"{DATA_DIR}/sdss",
            # The server, login redacted: another server reruns the downloads, a new password does not
            # (and none is written to .snakemake/ or results/settings/); the script logs in with config's URL.
            base_url=redact(config["data"]["sdss"]["base_url"]),
            # DESI rows' production root, login redacted likewise
            desi_base_url=redact(config["data"]["desi"]["base_url"]),
        script:
            "../scripts/download_shard.py"

    rule summarise_downloads:
        """Counts of ok / missing / failed downloads over all shards."""
        input:
            manifests=expand("results/acquire/manifest/shard-{shard}.ecsv", shard=SHARDS),
        output:
            summary="results/acquire/download_summary.json",
        log:
            "results/logs/summarise_downloads.log",
        benchmark:
            "results/benchmarks/summarise_downloads/all.tsv"
        conda:
            "../../envs/data.yaml"
        script:
            "../scripts/summarise_downloads.py"

elif SOURCE == "local":

    rule scan_local:
        """List the FITS files of data.local_dir, labelled from the optional catalog, in shards."""
        input:
            folder=local_folder,
            catalog=config["data"]["catalog"] or [],
        output:
            inventories=inventory_shards(),
        log:
            "results/logs/scan_local.log",
        benchmark:
            "results/benchmarks/scan_local/all.tsv"
        conda:
            "../../envs/data.yaml"
        params:
            fingerprint=local_fingerprint,  # the folder's content: a file added or replaced anywhere below reruns this
            n_shards=config["data"]["n_shards"],
            limits=config["limits"],
        script:
            "../scripts/scan_local.py"
