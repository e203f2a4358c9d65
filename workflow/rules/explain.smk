# Explanation: exact saliency for every test spectrum (computation) → selections, per-spectrum
# plots, class means, t-SNE highlights and line-window shares (plotting rules of their own).


rule compute_saliency:
    """Every method's attribution maps for every test spectrum and class (exact, through scaler and calibration)."""
    input:
        model="results/models/{task}.joblib",
        cube="results/reduced/cube.h5",
        split="results/split/split.ecsv",
    output:
        saliency="results/saliency/{task}.h5",
    log:
        "results/logs/compute_saliency/{task}.log",
    benchmark:
        "results/benchmarks/compute_saliency/{task}.tsv"
    priority: 80
    conda:
        "../../envs/learn.yaml"
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        methods=attribution_options(config["explain"], config["seed"]),
    script:
        "../scripts/compute_saliency.py"


rule select_explained:
    """The test spectra to plot: every misclassified one plus N random correct ones per class (seeded)."""
    input:
        saliency=rules.compute_saliency.output.saliency,
    output:
        selected="results/saliency/{task}_selected.ecsv",
    log:
        "results/logs/select_explained/{task}.log",
    benchmark:
        "results/benchmarks/select_explained/{task}.tsv"
    priority: 85
    conda:
        "../../envs/learn.yaml"
    params:
        n_random_per_class=config["explain"]["n_random_per_class"],
        seed=config["seed"],
    script:
        "../scripts/select_explained.py"


rule plot_saliency_spectra:
    """One figure per selected test spectrum: spectrum coloured by saliency, one panel per class map."""
    input:
        saliency=rules.compute_saliency.output.saliency,
        selected=rules.select_explained.output.selected,
    output:
        plots=report(
            directory("results/plots/saliency/{task}"),
            patterns=[f"{{specid}}.{FIGURE}"],
            caption="../report/saliency_spectrum.rst",
            category="5. Saliency",
            subcategory="{task}: spectra",
            labels={"task": "{task}", "spectrum": "{specid}"},
        ),
    log:
        "results/logs/plot_saliency_spectra/{task}.log",
    benchmark:
        "results/benchmarks/plot_saliency_spectra/{task}.tsv"
    priority: 72
    conda:
        "../../envs/plot.yaml"
    # One core: a two-core job waits until both cores are free at once, which on a busy two-core
    # machine is the end of the run (measured); on one core it starts as soon as its maps exist.
    threads: 1
    params:
        figure=config["plots"],
        smooth_pixels=config["explain"]["smooth_pixels"],
    script:
        "../scripts/plot_saliency_spectra.py"


rule plot_saliency_means:
    """Mean and spread of each true class's own-class saliency over the test spectra."""
    input:
        saliency=rules.compute_saliency.output.saliency,
    output:
        plot=report(
            f"results/plots/saliency_means/{{task}}.{FIGURE}",
            caption="../report/saliency_means.rst",
            category="5. Saliency",
            subcategory="{task}: summaries",
            labels={"task": "{task}", "figure": "class-mean saliency"},
        ),
    log:
        "results/logs/plot_saliency_means/{task}.log",
    benchmark:
        "results/benchmarks/plot_saliency_means/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
        smooth_pixels=config["explain"]["smooth_pixels"],
    script:
        "../scripts/plot_saliency_means.py"


rule quantify_saliency:
    """Share of |saliency| inside line windows against the share their width alone would give."""
    input:
        saliency=rules.compute_saliency.output.saliency,
    output:
        shares="results/saliency/{task}_line_share.ecsv",
    log:
        "results/logs/quantify_saliency/{task}.log",
    benchmark:
        "results/benchmarks/quantify_saliency/{task}.tsv"
    conda:
        "../../envs/learn.yaml"
    script:
        "../scripts/quantify_saliency.py"


rule plot_line_share:
    """Bar chart of the line-window saliency shares against the pixel shares."""
    input:
        shares=rules.quantify_saliency.output.shares,
    output:
        plot=report(
            f"results/plots/saliency_lines/{{task}}.{FIGURE}",
            caption="../report/saliency_lines.rst",
            category="5. Saliency",
            subcategory="{task}: summaries",
            labels={"task": "{task}", "figure": "line-window shares"},
        ),
    log:
        "results/logs/plot_line_share/{task}.log",
    benchmark:
        "results/benchmarks/plot_line_share/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_line_share.py"


rule plot_tsne_highlight:
    """The task's t-SNE map with the plotted spectra ringed and the misclassified ones crossed."""
    input:
        embedding=task_embedding,
        saliency=rules.compute_saliency.output.saliency,
        selected=rules.select_explained.output.selected,
    output:
        plot=report(
            f"results/plots/tsne_highlight/{{task}}.{FIGURE}",
            caption="../report/tsne_highlight.rst",
            category="5. Saliency",
            subcategory="{task}: summaries",
            labels={"task": "{task}", "figure": "t-SNE highlight"},
        ),
    log:
        "results/logs/plot_tsne_highlight/{task}.log",
    benchmark:
        "results/benchmarks/plot_tsne_highlight/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_tsne_highlight.py"


rule evaluate_faithfulness:
    """Does the model depend on the pixels each method highlights? Deletion/insertion curves against
    random pixel orders, maps of a model fitted on permuted labels, and (embedded sample) the share
    of the top-ranked pixels on the broad lines the simulator planted."""
    input:
        model="results/models/{task}.joblib",
        cube="results/reduced/cube.h5",
        split="results/split/split.ecsv",
        saliency=rules.compute_saliency.output.saliency,
        truth=planted_truth,
    output:
        table="results/saliency/{task}_faithfulness.ecsv",
        curves="results/saliency/{task}_faithfulness_curves.ecsv",
        html=report(
            "results/saliency/{task}_faithfulness.html",
            caption="../report/faithfulness_table.rst",
            category="5. Saliency",
            labels={"task": "{task}", "figure": "faithfulness table"},
        ),
    log:
        "results/logs/evaluate_faithfulness/{task}.log",
    benchmark:
        "results/benchmarks/evaluate_faithfulness/{task}.tsv"
    priority: 70
    conda:
        "../../envs/learn.yaml"
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        faithfulness=config["explain"]["faithfulness"],
        methods=attribution_options(config["explain"], config["seed"]),
        seed=config["seed"],
    script:
        "../scripts/evaluate_faithfulness.py"


rule plot_faithfulness:
    """Mean deletion and insertion curves of every method against random pixel orders."""
    input:
        curves=rules.evaluate_faithfulness.output.curves,
    output:
        plot=report(
            f"results/plots/faithfulness/{{task}}.{FIGURE}",
            caption="../report/faithfulness.rst",
            category="5. Saliency",
            subcategory="{task}: summaries",
            labels={"task": "{task}", "figure": "faithfulness curves"},
        ),
    log:
        "results/logs/plot_faithfulness/{task}.log",
    benchmark:
        "results/benchmarks/plot_faithfulness/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_faithfulness.py"


rule measure_robustness:
    """Line/absorption saliency ratio per true class, and the type-1 test spectra kept under added host starlight."""
    input:
        model="results/models/{task}.joblib",
        saliency=rules.compute_saliency.output.saliency,
    output:
        ratios="results/saliency/{task}_line_absorption.ecsv",
        dilution="results/saliency/{task}_host_dilution.ecsv",
    log:
        "results/logs/measure_robustness/{task}.log",
    benchmark:
        "results/benchmarks/measure_robustness/{task}.tsv"
    conda:
        "../../envs/learn.yaml"
    script:
        "../scripts/measure_robustness.py"


rule plot_robustness:
    """Bars of the line/absorption ratios and the host-dilution curve."""
    input:
        ratios=rules.measure_robustness.output.ratios,
        dilution=rules.measure_robustness.output.dilution,
    output:
        plot=report(
            f"results/plots/robustness/{{task}}.{FIGURE}",
            caption="../report/robustness.rst",
            category="5. Saliency",
            subcategory="{task}: summaries",
            labels={"task": "{task}", "figure": "lines over absorption, host dilution"},
        ),
    log:
        "results/logs/plot_robustness/{task}.log",
    benchmark:
        "results/benchmarks/plot_robustness/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_robustness.py"
