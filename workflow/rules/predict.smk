# Predict: classify and explain a folder of SDSS FITS files nobody labelled.
#   snakemake --cores 2 predict --config predict_dir=/abs/folder
# Results of each folder live under results/predict/<name>/, <name> = the folder's own name
# (predict_name(); another folder of that name is refused). The folder's files are split into
# predict.n_shards shards by a hash of their path: a changed file reruns its shard and the merge only.

# Or a catalog of ids: snakemake --cores 2 predict --config 'predict={catalog: /abs/ids.csv}'
# fetches the ids' files into data/predict/<catalog name>/ (a checkpoint), then predicts that folder.


checkpoint fetch_predict_catalog:
    """Download the spectra of predict.catalog's ids (SDSS plate/MJD/fiber, SDSS-V field/MJD/catalogid,
    DESI healpix coadds of TARGETIDs) with the resumable downloader into data/predict/<name>/, which
    predict then classifies as its folder; the manifest lists each file's status."""
    input:
        catalog=predict_catalog,
    output:
        manifest="results/predict/{name}/catalog_manifest.ecsv",
    log:
        "results/logs/fetch_predict_catalog/{name}.log",
    benchmark:
        "results/benchmarks/fetch_predict_catalog/{name}.tsv"
    wildcard_constraints:
        name=PREDICT_NAME,
    conda:
        "../../envs/data.yaml"
    params:
        data_root=f"{DATA_DIR}/predict/{{name}}",
        # the servers, login redacted (as download_shard); transport settings are read by the script
        base_url=redact(config["data"]["sdss"]["base_url"]),
        desi_base_url=redact(config["data"]["desi"]["base_url"]),
    script:
        "../scripts/fetch_predict_catalog.py"


rule calibrate_predict_ood:
    """The OOD threshold of the model predict uses: a quantile of the ood_score of the run's held-out
    test spectra, once for all shard jobs (each would otherwise load the cube and score them again),
    and the model as the shard jobs serve it (arrays: no scikit-learn import in each job)."""
    input:
        model=predict_model,
        cube="results/reduced/cube.h5",
        split="results/split/split.ecsv",
    output:
        calibration="results/predict/ood_calibration.json",
        # the model as arrays (smooth model, training rows): the shard jobs load it without scikit-learn
        served="results/predict/served_model.npz",
    log:
        "results/logs/calibrate_predict_ood.log",
    benchmark:
        "results/benchmarks/calibrate_predict_ood.tsv"
    conda:
        "../../envs/learn.yaml"
    params:
        quantile=config["predict"]["ood_quantile"],
        k=config["predict"]["ood_neighbours"],
    script:
        "../scripts/calibrate_predict_ood.py"


rule predict_shard:
    """Reduce, gate (AGN or not), classify, flag out-of-distribution and explain the files of one shard of
    predict_dir (a file's shard: a hash of its path; only a changed shard's fingerprint reruns it)."""
    input:
        model=predict_model,
        served="results/predict/served_model.npz",
        calibration="results/predict/ood_calibration.json",
    output:
        rows="results/predict/{name}/shards/{n_shards}/{shard}.jsonl",
        saliency="results/predict/{name}/shards/{n_shards}/{shard}.h5",
    log:
        "results/logs/predict_shard/{name}/{n_shards}/{shard}.log",
    benchmark:
        "results/benchmarks/predict_shard/{name}/{n_shards}/{shard}.tsv"
    wildcard_constraints:
        name=PREDICT_NAME,
        n_shards=r"[1-9][0-9]*",
        shard=r"[0-9]+",
    conda:
        "../../envs/learn.yaml"
    params:
        folder=predict_folder,
        fingerprint=predict_shard_fingerprint,
        files=predict_shard_files,
        reduce=config["reduce"],
        limits=config["limits"],
        methods=predict_methods,
        low_confidence_p_max=config["predict"]["low_confidence_p_max"],
    script:
        "../scripts/predict_shard.py"


rule predict_spectra:
    """Merge predict_dir's shards: the table (ECSV, and FITS for large folders), one saliency file chunked
    per spectrum, and folder.json (the folder, its fingerprint, counts by status and verdict)."""
    input:
        rows=predict_shard_rows,
        saliency=predict_shard_saliency,
    output:
        predictions="results/predict/{name}/predictions.ecsv",
        saliency="results/predict/{name}/saliency.h5",
        folder="results/predict/{name}/folder.json",
    log:
        "results/logs/predict_spectra/{name}.log",
    benchmark:
        "results/benchmarks/predict_spectra/{name}.tsv"
    wildcard_constraints:
        name=PREDICT_NAME,
    conda:
        "../../envs/learn.yaml"
    params:
        folder=predict_folder,
        fingerprint=predict_fingerprint,
        low_confidence_p_max=config["predict"]["low_confidence_p_max"],
    script:
        "../scripts/predict_spectra.py"


rule plot_predictions:
    """A saliency figure for every accepted file of predict_dir, named by the file's key."""
    input:
        saliency=rules.predict_spectra.output.saliency,
        predictions=rules.predict_spectra.output.predictions,
    output:
        plots=directory("results/predict/{name}/plots"),
    log:
        "results/logs/plot_predictions/{name}.log",
    benchmark:
        "results/benchmarks/plot_predictions/{name}.tsv"
    wildcard_constraints:
        name=PREDICT_NAME,
    conda:
        "../../envs/plot.yaml"
    threads: 2
    params:
        figure=config["plots"],
        smooth_pixels=config["explain"]["smooth_pixels"],
        figures=config["predict"]["figures"],
        max_figures=config["predict"]["max_figures"],
        seed=config["seed"],
    script:
        "../scripts/plot_predictions.py"


rule plot_agn_gate:
    """The BPT diagram of the folder's files, coloured by the AGN gate's verdict."""
    input:
        predictions=rules.predict_spectra.output.predictions,
    output:
        plot=f"results/predict/{{name}}/agn_gate.{FIGURE}",
    log:
        "results/logs/plot_agn_gate/{name}.log",
    benchmark:
        "results/benchmarks/plot_agn_gate/{name}.tsv"
    wildcard_constraints:
        name=PREDICT_NAME,
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_agn_gate.py"


rule plot_predict_summary:
    """One figure of the whole predict run: class fractions against z, the BPT density, the OOD
    scores with their threshold, the confidence histogram."""
    input:
        predictions=rules.predict_spectra.output.predictions,
        folder=rules.predict_spectra.output.folder,
    output:
        plot=f"results/predict/{{name}}/summary.{FIGURE}",
    log:
        "results/logs/plot_predict_summary/{name}.log",
    benchmark:
        "results/benchmarks/plot_predict_summary/{name}.tsv"
    wildcard_constraints:
        name=PREDICT_NAME,
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
        low_confidence_p_max=config["predict"]["low_confidence_p_max"],
    script:
        "../scripts/plot_predict_summary.py"


rule predict:
    """Target: predictions.ecsv and the saliency figures of the current predict_dir."""
    input:
        predict_outputs,
