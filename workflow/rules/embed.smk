# Exploration: t-SNE maps per class set and perplexity (computation and plotting in separate rules).


rule embed_tsne:
    """t-SNE embedding of one class set at one perplexity (set standardised as a whole: exploration only)."""
    input:
        sample_checked("tsne"),  # adds no file: stops the DAG early when the sample is too small
        cube="results/reduced/cube.h5",
    output:
        embedding="results/tsne/{task}_p{perplexity}.h5",
    log:
        "results/logs/embed_tsne/{task}_p{perplexity}.log",
    benchmark:
        "results/benchmarks/embed_tsne/{task}_{perplexity}.tsv"
    priority: 10
    conda:
        "../../envs/learn.yaml"
    # One core: the maps are off the critical path and fill the cores the classification leaves
    # idle, before the one-second plotting jobs (priority 10 > 0), so no long job comes last.
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    params:
        seed=config["seed"],
        implementation=config["tsne"]["implementation"],
        n_iter=config["tsne"]["n_iter"],
        early_exaggeration_iter=config["tsne"]["early_exaggeration_iter"],
        theta=config["tsne"]["theta"],
        pca_components=config["tsne"]["pca_components"],
    script:
        "../scripts/embed_tsne.py"


rule plot_tsne:
    """t-SNE map coloured by class."""
    input:
        embedding=rules.embed_tsne.output.embedding,
    output:
        plot=report(
            f"results/plots/tsne/{{task}}_p{{perplexity}}.{FIGURE}",
            caption="../report/tsne.rst",
            category="2. t-SNE maps",
            subcategory="{task}",
            labels={"class set": "{task}", "perplexity": "{perplexity}"},
        ),
    log:
        "results/logs/plot_tsne/{task}_p{perplexity}.log",
    benchmark:
        "results/benchmarks/plot_tsne/{task}_{perplexity}.tsv"
    conda:
        "../../envs/plot.yaml"
    params:
        figure=config["plots"],
    script:
        "../scripts/plot_tsne.py"
