"""Rule measure_robustness: line/absorption saliency ratio per class and the host-dilution curve."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import measure_robustness

if __name__ == "__main__":
    run(measure_robustness, globals().get("snakemake"))
