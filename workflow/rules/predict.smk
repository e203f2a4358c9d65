# Predict: classify and explain a folder of SDSS FITS files nobody labelled.
#   snakemake --cores 2 predict --config predict_dir=/abs/folder
# Results of each folder live under results/predict/<name>/, <name> = the folder's own name
# (predict_name(); another folder of that name is refused); a changed folder content reruns predict_spectra.


rule predict_spectra:
    """Reduce every FITS file of predict_dir with the training grid, gate it (AGN or not), classify it, flag it
    when out of the training distribution (threshold from the held-out test spectra), explain it."""
    input:
        folder=predict_folder,
        model=predict_model,
        cube="results/reduced/cube.h5",
        split="results/split/split.ecsv",
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
        fingerprint=predict_fingerprint,
        reduce=config["reduce"],
        limits=config["limits"],
        methods=attribution_options(config["explain"], config["seed"]),
        ood={"quantile": config["predict"]["ood_quantile"], "k": config["predict"]["ood_neighbours"]},
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


rule predict:
    """Target: predictions.ecsv and the saliency figures of the current predict_dir."""
    input:
        predict_outputs,
