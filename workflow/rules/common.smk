# Input functions, wildcard constraints and paths shared by every rule file.

wildcard_constraints:
    shard=r"\d+",
    task="binary|multiclass",
    kernel="linear|rbf|poly2|poly3",
    perplexity=r"\d+(\.\d+)?",


SHARDS = [f"{i:03d}" for i in range(config["data"]["n_shards"])]
SOURCE = config["data"]["source"]
DATA_DIR = config["data"]["dir"]


def inventory_shards():
    """Per-shard inventories written by the acquisition stage, whatever the source."""
    return expand("results/acquire/inventory/shard-{shard}.tsv", shard=SHARDS)


def perplexity_label(value):
    """Perplexity as it appears in file names (30, 50, 12.5)."""
    return f"{float(value):g}"


def embed_outputs():
    """t-SNE maps: every configured class set × perplexity."""
    return expand(
        "results/plots/tsne/{task}_p{perplexity}.png",
        task=config["tsne"]["tasks"],
        perplexity=[perplexity_label(p) for p in config["tsne"]["perplexities"]],
    )


def classify_outputs():
    """Metrics, confusion matrices and grid heat maps of every task (and the optional t-SNE SVM)."""
    tasks, kernels = config["classify"]["tasks"], config["classify"]["kernels"]
    return (
        expand("results/metrics/{task}.json", task=tasks)
        + expand("results/plots/confusion/{task}.png", task=tasks)
        + expand("results/plots/grid/{task}_{kernel}.png", task=tasks, kernel=kernels)
        + (expand("results/plots/tsne_svm/{task}.png", task=tasks) if config["classify"]["tsne_svm"] else [])
    )


def explain_outputs():
    """Saliency figures, class means, line shares and t-SNE highlights of every task."""
    tasks = config["classify"]["tasks"]
    return (
        expand("results/plots/saliency/{task}", task=tasks)
        + expand("results/plots/saliency_means/{task}.png", task=tasks)
        + expand("results/plots/saliency_lines/{task}.png", task=tasks)
        + [f"results/plots/tsne_highlight/{task}.png" for task in tasks if task in config["tsne"]["tasks"]]
    )


def highlight_embedding(wildcards):
    """The t-SNE map (largest configured perplexity) of the task's class set."""
    perplexity = perplexity_label(max(config["tsne"]["perplexities"]))
    return f"results/tsne/{wildcards.task}_p{perplexity}.h5"


def predict_folder(wildcards):
    """The folder `snakemake predict` classifies (config predict_dir; required)."""
    if not config["predict_dir"]:
        raise ValueError("`snakemake predict` needs a folder: --config predict_dir=/abs/folder")
    return config["predict_dir"]


def predict_model(wildcards):
    """The model `snakemake predict` uses: predict.model, else the default run's multiclass model."""
    return config["predict"]["model"] or "results/models/multiclass.joblib"


def final_outputs():
    """Targets of `rule all`, stage by stage."""
    targets = ["results/reduced/cube.h5", "results/plots/sample_spectra.png"]
    if SOURCE == "sdss":
        targets.append("results/acquire/download_summary.json")
    return targets + embed_outputs() + classify_outputs() + explain_outputs()
