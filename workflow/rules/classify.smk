# Classification: grid search per task × kernel on the training set → kernel chosen on the
# validation set → one evaluation on the test set.


rule search_grid:
    """Grid search (StratifiedKFold on the training set) of a scaler → SVM → sigmoid pipeline for one kernel."""
    input:
        cube="results/reduced/cube.h5",
        split="results/split/split.ecsv",
    output:
        model="results/models/{task}/{kernel}.joblib",
        metadata="results/models/{task}/{kernel}.json",
        cv_results="results/classify/{task}/{kernel}_cv.ecsv",
    log:
        "results/logs/search_grid/{task}_{kernel}.log",
    benchmark:
        "results/benchmarks/search_grid/{task}_{kernel}.tsv"
    # Searches with more classes (more one-vs-rest SVMs per fit, a longer chain after them) start first.
    priority: lambda wildcards: 50 + len(task_classes(wildcards.task))
    conda:
        "../../envs/learn.yaml"
    # One core per search: two searches run side by side without joblib worker start-ups (measured faster).
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        grid=lambda wildcards: config["classify"]["grids"][wildcards.kernel],
        cv_folds=config["classify"]["cv_folds"],
        calibration_folds=config["classify"]["calibration_folds"],
        search_scores=config["classify"]["search_scores"],
        scoring=config["classify"]["scoring"],
        scale_variance=config["classify"]["scale_variance"],
        host_augmentation=config["classify"]["host_augmentation"],
        selection=config["classify"]["selection"],
        seed=config["seed"],
        # A new model format reruns the searches (library code is no rerun trigger). Text, not the bare
        # number: Snakemake compares the *set* of param values, so a bare 2 would hide calibration_folds 2 → 3.
        model_format=f"model format {MODEL_FORMAT}",
    script:
        "../scripts/search_grid.py"


rule plot_grid:
    """Heat map of the cross-validated score over each kernel's grid: one figure per kernel, one job
    per task (a figure takes a fraction of the start-up of a job of its own)."""
    input:
        cv_results=lambda wildcards: expand(
            rules.search_grid.output.cv_results, task=wildcards.task, kernel=config["classify"]["kernels"]
        ),
    output:
        plots=[
            report(
                f"results/plots/grid/{{task}}_{kernel}.{FIGURE}",
                caption="../report/grid.rst",
                category="3. Grid search",
                subcategory="{task}",
                labels={"task": "{task}", "kernel": kernel},
            )
            for kernel in config["classify"]["kernels"]
        ],
    log:
        "results/logs/plot_grid/{task}.log",
    benchmark:
        "results/benchmarks/plot_grid/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
        kernels=config["classify"]["kernels"],
        scoring=config["classify"]["scoring"],
    script:
        "../scripts/plot_grid.py"


rule select_model:
    """Choose the kernel on the validation set, refit if configured, evaluate once on the test set."""
    input:
        cube="results/reduced/cube.h5",
        split="results/split/split.ecsv",
        models=lambda wildcards: expand(
            "results/models/{task}/{kernel}.joblib", task=wildcards.task, kernel=config["classify"]["kernels"]
        ),
    output:
        model="results/models/{task}.joblib",
        metadata="results/models/{task}.json",
        metrics="results/metrics/{task}.json",
        report="results/metrics/{task}_report.txt",
        table=report(
            "results/metrics/{task}.html",
            caption="../report/metrics.rst",
            category="4. Classification",
            labels={"task": "{task}", "figure": "metrics table"},
        ),
        predictions="results/classify/{task}/test_predictions.ecsv",
    log:
        "results/logs/select_model/{task}.log",
    benchmark:
        "results/benchmarks/select_model/{task}.tsv"
    priority: 90
    conda:
        "../../envs/learn.yaml"
    resources:
        mem_mb=4000,
        runtime=30,
    params:
        kernels=config["classify"]["kernels"],
        refit_on_train_validation=config["classify"]["refit_on_train_validation"],
        host_augmentation=config["classify"]["host_augmentation"],
        seed=config["seed"],
    script:
        "../scripts/select_model.py"


rule plot_confusion:
    """Confusion matrix of the selected model on the test set (counts and row-normalised)."""
    input:
        metrics=rules.select_model.output.metrics,
    output:
        plot=report(
            f"results/plots/confusion/{{task}}.{FIGURE}",
            caption="../report/confusion.rst",
            category="4. Classification",
            labels={"task": "{task}", "figure": "confusion matrix"},
        ),
    log:
        "results/logs/plot_confusion/{task}.log",
    benchmark:
        "results/benchmarks/plot_confusion/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_confusion.py"


rule fit_tsne_svm:
    """Optional (classify.tsne_svm): an SVM on the 2-D t-SNE plane, as in the original notebook."""
    input:
        embedding=task_embedding,
        split="results/split/split.ecsv",
    output:
        regions="results/tsne_svm/{task}.h5",
    log:
        "results/logs/fit_tsne_svm/{task}.log",
    benchmark:
        "results/benchmarks/fit_tsne_svm/{task}.tsv"
    conda:
        "../../envs/learn.yaml"
    params:
        seed=config["seed"],
        C=config["classify"]["tsne_svm_C"],
        grid_points=config["classify"]["tsne_svm_grid_points"],
    script:
        "../scripts/fit_tsne_svm.py"


rule plot_tsne_svm:
    """Decision regions of the t-SNE-plane SVM with the test spectra on top."""
    input:
        regions=rules.fit_tsne_svm.output.regions,
    output:
        plot=report(
            f"results/plots/tsne_svm/{{task}}.{FIGURE}",
            caption="../report/tsne_svm.rst",
            category="2. t-SNE maps",
            labels={"class set": "{task}", "figure": "SVM decision regions"},
        ),
    log:
        "results/logs/plot_tsne_svm/{task}.log",
    benchmark:
        "results/benchmarks/plot_tsne_svm/{task}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_tsne_svm.py"
