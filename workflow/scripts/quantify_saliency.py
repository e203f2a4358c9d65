"""Rule quantify_saliency: share of |saliency| inside line windows against the share their width alone would give."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import quantify_saliency

if __name__ == "__main__":
    run(quantify_saliency, globals().get("snakemake"))
