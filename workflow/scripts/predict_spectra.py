"""Rule predict_spectra: reduce every FITS file of ``folder`` with the training grid, gate it (AGN or not), …."""

from agn_saliency.entry import run
from agn_saliency.predict.contract import ModelContractError
from agn_saliency.stages.predict import predict_spectra

if __name__ == "__main__":
    run(predict_spectra, globals().get("snakemake"), errors=(ModelContractError,))
