"""Rule compute_saliency: exact ∂p_k/∂flux for every test spectrum of a task."""

import logging

import numpy as np

from agn_saliency.dataset import load_task, task_classes
from agn_saliency.explain import SaliencyResult, write_saliency
from agn_saliency.models import load_model
from agn_saliency.saliency import probabilities_and_saliency

log = logging.getLogger("agn_saliency.compute_saliency")


def main(model_path: str, cube: str, split: str, task: str, out: str) -> None:
    model, _ = load_model(model_path)
    test = load_task(cube, split, task).where("test")
    probabilities, maps = probabilities_and_saliency(model, test.flux)
    # Columns in the task's display order (type 1, type 2, intermediate), not classes_' alphabetical one.
    classes = list(task_classes(task))
    order = [list(model.classes_).index(c) for c in classes]
    probabilities, maps = probabilities[:, order], maps[:, order]
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    write_saliency(
        out, SaliencyResult(test.specid, test.label, predicted, probabilities, maps, test.flux, test.wavelength, classes)
    )
    log.info("%s: saliency of %d test spectra × %d classes × %d pixels", task, *maps.shape)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.model, snakemake.input.cube, snakemake.input.split, snakemake.wildcards.task, snakemake.output.saliency)
