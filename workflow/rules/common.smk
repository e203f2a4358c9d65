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


def final_outputs():
    """Targets of `rule all`, stage by stage (stages not yet built add nothing)."""
    targets = ["results/reduced/cube.h5", "results/plots/sample_spectra.png"]
    if SOURCE == "sdss":
        targets.append("results/acquire/download_summary.json")
    for name in ("classify_outputs", "explain_outputs", "embed_outputs"):
        if name in globals():
            targets += globals()[name]()
    return targets
