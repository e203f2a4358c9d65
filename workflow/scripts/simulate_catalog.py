"""Rule simulate_catalog: draw the embedded sample's catalog (ids, z, S/N, labels), seeded."""

from agn_saliency.entry import run
from agn_saliency.stages.acquire import simulate_catalog

if __name__ == "__main__":
    run(simulate_catalog, globals().get("snakemake"))
