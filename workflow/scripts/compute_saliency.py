"""Rule compute_saliency: every attribution method's maps for every test spectrum of a task."""

import logging

import numpy as np

from agn_saliency.core.vocabulary import task_classes
from agn_saliency.explain.maps import SaliencyResult, explain_spectra, write_saliency
from agn_saliency.io.models import load_model
from agn_saliency.learn.dataset import load_task

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
    from agn_saliency.entry import run

    run(main, globals().get("snakemake"), lambda sm: dict(
        model=sm.input.model, cube=sm.input.cube, split=sm.input.split, task=sm.wildcards.task,
        saliency_out=sm.output.saliency, methods=dict(sm.params.methods),
    ))  # fmt: skip
