"""Rule predict_spectra: gate, classify and explain every FITS file of a folder with a persisted model."""

from agn_saliency.stages.all import predict_folder

main = predict_folder  # keyword-only: folder, fingerprint, model, cube, split, predictions_out, saliency_out, …

if __name__ == "__main__":
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        folder=sm.input.folder, fingerprint=sm.params.fingerprint, model=sm.input.model, cube=sm.input.cube,
        split=sm.input.split, predictions_out=sm.output.predictions, saliency_out=sm.output.saliency,
        folder_out=sm.output.folder, reduce=dict(sm.params.reduce), methods=dict(sm.params.methods), ood=dict(sm.params.ood),
    ))  # fmt: skip
