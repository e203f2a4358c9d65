"""Rule predict_spectra: classify and explain every FITS file of a folder with a persisted model."""

import logging
from collections import Counter

from agn_saliency.explain import write_saliency
from agn_saliency.files import write_tsv
from agn_saliency.models import load_model
from agn_saliency.predict import PREDICTION_COLUMNS, classify_folder
from agn_saliency.reduce import ReductionParameters

log = logging.getLogger("agn_saliency.predict_spectra")


def main(folder: str, model_path: str, predictions_out: str, saliency_out: str, reduce_config: dict) -> None:
    model, _ = load_model(model_path)
    rows, result = classify_folder(folder, model, ReductionParameters.from_mapping(reduce_config))
    write_saliency(saliency_out, result)
    write_tsv(predictions_out, rows, PREDICTION_COLUMNS)
    for row in rows:
        if row["status"] == "rejected":
            log.warning("rejected %s: %s", row["file"], row["reason"])
    log.info("%s: %s; predicted %s", folder, dict(Counter(r["status"] for r in rows)), dict(Counter(result.predicted_label)))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.folder, snakemake.input.model, snakemake.output.predictions, snakemake.output.saliency,
         dict(snakemake.params.reduce))
