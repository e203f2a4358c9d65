"""Rule compute_saliency: every method's attribution maps for every test spectrum and class (exact, through …."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import compute_saliency

if __name__ == "__main__":
    run(compute_saliency, globals().get("snakemake"))
