# Reduction: shards of observed spectra → rest-frame, resampled, normalised shards → one cube.


rule reduce_shard:
    """Reduce one shard onto the common rest-frame grid; unreducible spectra are listed with a reason."""
    input:
        inventory="results/acquire/inventory/shard-{shard}.ecsv",
    output:
        shard="results/reduced/shards/shard-{shard}.h5",
        rejected="results/reduced/shards/rejected-{shard}.ecsv",
    log:
        "results/logs/reduce_shard/{shard}.log",
    benchmark:
        "results/benchmarks/reduce_shard/{shard}.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=1000,
        runtime=30,
    params:
        reduce=config["reduce"],
        limits=config["limits"],
    script:
        "../scripts/reduce_shard.py"


rule merge_cube:
    """Merge the shards into ONE chunked, compressed HDF5 cube, its per-spectrum table and one rejected.ecsv."""
    input:
        shards=expand("results/reduced/shards/shard-{shard}.h5", shard=SHARDS),
        rejected=expand("results/reduced/shards/rejected-{shard}.ecsv", shard=SHARDS),
    output:
        cube="results/reduced/cube.h5",
        rejected="results/reduced/rejected.ecsv",
        spectra="results/reduced/spectra.ecsv",
    log:
        "results/logs/merge_cube.log",
    benchmark:
        "results/benchmarks/merge_cube/all.tsv"
    conda:
        "../../envs/data.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
    script:
        "../scripts/merge_cube.py"


rule plot_sample:
    """A few reduced spectra per class with the main lines marked."""
    input:
        cube=rules.merge_cube.output.cube,
    output:
        plot=report(
            f"results/plots/sample_spectra.{FIGURE}",
            caption="../report/sample_spectra.rst",
            category="1. Sample",
        ),
    log:
        "results/logs/plot_sample.log",
    benchmark:
        "results/benchmarks/plot_sample/all.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
        per_class=3,
        seed=config["seed"],
    script:
        "../scripts/plot_sample.py"
