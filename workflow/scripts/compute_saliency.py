"""Rule compute_saliency: every attribution method's maps for every test spectrum of a task."""

import logging

import numpy as np

from agn_saliency.dataset import load_task, task_classes
from agn_saliency.explain import SaliencyResult, explain_spectra, write_saliency
from agn_saliency.models import load_model

log = logging.getLogger("agn_saliency.compute_saliency")


def main(*, model: str, cube: str, split: str, task: str, saliency_out: str, methods: dict) -> None:
    fitted, _ = load_model(model)
    test = load_task(cube, split, task).where("test")
    classes = list(task_classes(task))  # display order (type 1, type 2, intermediate), not classes_' alphabetical one
    probabilities, gradient, maps, completeness = explain_spectra(fitted, test.flux, classes, methods)
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    result = SaliencyResult(test.specid, test.label, predicted, probabilities, gradient, test.flux, test.wavelength, classes)
    result.attributions, result.completeness = maps, completeness
    write_saliency(saliency_out, result)
    worst = f"; integrated-gradients completeness error ≤ {completeness.max():.1e}" if completeness is not None else ""
    log.info("%s: %s maps of %d test spectra × %d classes × %d pixels%s", task, list(maps), *gradient.shape, worst)


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(
        model=snakemake.input.model,
        cube=snakemake.input.cube,
        split=snakemake.input.split,
        task=snakemake.wildcards.task,
        saliency_out=snakemake.output.saliency,
        methods=dict(snakemake.params.methods),
    )
