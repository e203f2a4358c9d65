"""Rule fetch_predict_catalog: download the spectra of predict.catalog's ids, to be predicted as a folder."""

from agn_saliency.acquire.download import DownloadFailed
from agn_saliency.entry import run
from agn_saliency.stages.predict import fetch_predict_catalog

if __name__ == "__main__":
    run(fetch_predict_catalog, globals().get("snakemake"), errors=(DownloadFailed,))
