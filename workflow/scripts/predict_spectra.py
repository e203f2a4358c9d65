"""Rule predict_spectra: merge the shards of ``folder`` into predictions.ecsv, saliency.h5 and folder.json."""

from agn_saliency.entry import run
from agn_saliency.stages.predict import predict_spectra

if __name__ == "__main__":
    run(predict_spectra, globals().get("snakemake"))
