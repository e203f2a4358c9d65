"""Rule predict_spectra: gate, classify and explain every FITS file of a folder with a persisted model."""

import json
import logging
from collections import Counter

from agn_saliency.explain import write_saliency
from agn_saliency.files import write_table, write_text_atomic
from agn_saliency.models import load_model
from agn_saliency.predict import PREDICTION_COLUMNS, PREDICTION_UNITS, calibrate_on_test, classify_folder, folder_record
from agn_saliency.reduce import ReductionParameters

log = logging.getLogger("agn_saliency.predict_spectra")


def main(
    *,
    folder: str,
    fingerprint: str,
    model: str,
    cube: str,
    split: str,
    predictions_out: str,
    saliency_out: str,
    folder_out: str,
    reduce: dict,
    methods: dict,
    ood: dict,
) -> None:
    fitted, metadata = load_model(model)
    calibration = calibrate_on_test(fitted, metadata, cube, split, **ood)
    rows, result = classify_folder(
        folder, fitted, ReductionParameters.from_mapping(reduce), methods=methods, ood_calibration=calibration
    )
    record = folder_record(folder, fingerprint, rows) | {"ood": calibration}
    write_saliency(saliency_out, result, attrs={"folder": record["folder"], "fingerprint": fingerprint})
    write_table(predictions_out, rows, PREDICTION_COLUMNS, units=PREDICTION_UNITS, meta={"ood": calibration})
    write_text_atomic(folder_out, json.dumps(record, indent=1) + "\n")
    for row in rows:
        if row["status"] != "ok":
            log.warning("%s %s: %s", row["status"], row["file"], row["reason"])
        if row["duplicate_of"]:
            log.warning("%s holds the same spectrum as %s", row["file"], row["duplicate_of"])
    log.info(
        "%s: %s; AGN gate %s", folder, dict(Counter(r["status"] for r in rows)), dict(Counter(r["agn_status"] for r in rows))
    )


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        folder=snakemake.input.folder,
        fingerprint=snakemake.params.fingerprint,
        model=snakemake.input.model,
        cube=snakemake.input.cube,
        split=snakemake.input.split,
        predictions_out=snakemake.output.predictions,
        saliency_out=snakemake.output.saliency,
        folder_out=snakemake.output.folder,
        reduce=dict(snakemake.params.reduce),
        methods=dict(snakemake.params.methods),
        ood=dict(snakemake.params.ood),
    )
