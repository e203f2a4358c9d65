"""Rule evaluate_faithfulness: deletion/insertion against random pixel orders, model randomisation and (embedded …."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import evaluate_faithfulness

if __name__ == "__main__":
    run(evaluate_faithfulness, globals().get("snakemake"))
