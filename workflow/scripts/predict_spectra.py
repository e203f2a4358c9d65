"""Rule predict_spectra: classify and explain every FITS file of a folder with a persisted model."""

import json
import logging
from collections import Counter

from agn_saliency.explain import write_saliency
from agn_saliency.files import write_table, write_text_atomic
from agn_saliency.models import load_model
from agn_saliency.predict import PREDICTION_COLUMNS, classify_folder, folder_record
from agn_saliency.reduce import ReductionParameters

log = logging.getLogger("agn_saliency.predict_spectra")


def main(
    folder: str, fingerprint: str, model_path: str, predictions_out: str, saliency_out: str, folder_out: str, reduce_config: dict
) -> None:
    model, _ = load_model(model_path)
    rows, result = classify_folder(folder, model, ReductionParameters.from_mapping(reduce_config))
    record = folder_record(folder, fingerprint, rows)
    write_saliency(saliency_out, result, attrs={"folder": record["folder"], "fingerprint": fingerprint})
    write_table(predictions_out, rows, PREDICTION_COLUMNS)
    write_text_atomic(folder_out, json.dumps(record, indent=1) + "\n")
    for row in rows:
        if row["status"] == "rejected":
            log.warning("rejected %s: %s", row["file"], row["reason"])
        if row["duplicate_of"]:
            log.warning("%s holds the same spectrum as %s", row["file"], row["duplicate_of"])
    log.info("%s: %s; predicted %s", folder, dict(Counter(r["status"] for r in rows)), dict(Counter(result.predicted_label)))


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        snakemake.input.folder,
        snakemake.params.fingerprint,
        snakemake.input.model,
        snakemake.output.predictions,
        snakemake.output.saliency,
        snakemake.output.folder,
        dict(snakemake.params.reduce),
    )
