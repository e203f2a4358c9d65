# Split: one stratified train / validation / test assignment that every later rule uses.


rule split_sample:
    """Stratified, seeded train / validation / test split, saved by spectrum id."""
    input:
        sample_checked("classify"),  # adds no file: stops the DAG early when the sample is too small
        cube="results/reduced/cube.h5",
    output:
        split="results/split/split.ecsv",
    log:
        "results/logs/split_sample.log",
    benchmark:
        "results/benchmarks/split_sample/all.tsv"
    # Priorities run the classification chain (split → searches → model → saliency) before the
    # t-SNE maps and the plots, which fill the cores it leaves idle (benchmarks/pipeline.py).
    priority: 100
    conda:
        "../../envs/data.yaml"
    params:
        test_fraction=config["split"]["test_fraction"],
        validation_fraction=config["split"]["validation_fraction"],
        seed=config["seed"],
    script:
        "../scripts/split_sample.py"
