"""Rule plot_saliency_spectra: one figure per selected test spectrum, named by its id — the spectrum coloured by …."""

from agn_saliency.entry import run
from agn_saliency.stages.explain import plot_saliency_spectra

if __name__ == "__main__":
    run(plot_saliency_spectra, globals().get("snakemake"))
