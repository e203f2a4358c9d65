# Predict: classify and explain a folder of SDSS FITS files nobody labelled.
#   snakemake --cores 2 predict --config predict_dir=/abs/folder


rule predict_spectra:
    """Reduce every FITS file of predict_dir with the training grid, classify it, compute its saliency."""
    input:
        folder=predict_folder,
        model=predict_model,
    output:
        predictions="results/predict/predictions.tsv",
        saliency="results/predict/saliency.h5",
    log:
        "results/logs/predict_spectra.log",
    params:
        reduce=config["reduce"],
    conda:
        "../../envs/learn.yaml"
    script:
        "../scripts/predict_spectra.py"


rule plot_predictions:
    """A saliency figure for every accepted spectrum of predict_dir."""
    input:
        saliency=rules.predict_spectra.output.saliency,
    output:
        plots=directory("results/predict/plots"),
    log:
        "results/logs/plot_predictions.log",
    params:
        smooth_pixels=config["explain"]["smooth_pixels"],
    threads: 2
    conda:
        "../../envs/plot.yaml"
    script:
        "../scripts/plot_predictions.py"


rule predict:
    """Target: predictions.tsv and the saliency figures of predict_dir."""
    input:
        rules.predict_spectra.output.predictions,
        rules.plot_predictions.output.plots,
