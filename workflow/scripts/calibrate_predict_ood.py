"""Rule calibrate_predict_ood: the OOD threshold of the model predict uses, once for every shard job."""

from agn_saliency.entry import run
from agn_saliency.stages.predict import calibrate_predict_ood

if __name__ == "__main__":
    run(calibrate_predict_ood, globals().get("snakemake"))
