"""Checks of a whole configuration that can be made before any job runs.

The JSON Schema (workflow/schemas/config.schema.yaml) checks each key on its own; these checks
relate keys to each other and to the sample: a reduction grid whose normalisation window holds
no pixel, split fractions that leave nothing to train on, a scorer name scikit-learn does not
know, a class too small for the split and the cross-validation, a t-SNE perplexity larger than
the sample supports. Each problem is one line naming the key(s) and the reason, so a typo costs
a second instead of a failed run.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agn_saliency.core.vocabulary import TASK_CLASSES
from agn_saliency.learn.embed import max_perplexity
from agn_saliency.learn.split import split_counts

__all__ = [
    "DEFAULT_SCORING",
    "ConfigError",
    "check_config",
    "check_sample",
    "class_counts",
    "schema_errors",
]

DEFAULT_SCORING = "f1_macro"
"""config.yaml's scorer; any other name is checked against scikit-learn's list."""


class ConfigError(ValueError):
    """The configuration cannot produce a result; the message names the key(s) and the reason."""


def schema_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """One line per JSON-Schema violation: ``key.path: reason`` (never the whole schema).

    An unknown key is named with its section and the keys that section allows.
    """
    import jsonschema  # Snakemake's own dependency

    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            section = where if error.absolute_path else "the top level"
            lines.append(f"unknown key(s) {', '.join(map(repr, unknown))} in {section}; allowed: {', '.join(allowed)}")
        elif error.validator == "enum":
            lines.append(f"{where}: {error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}")
        else:
            lines.append(f"{where}: {error.message}")
    return lines


def class_counts(config: Mapping[str, Any]) -> dict[str, int] | None:
    """Spectra per label the configured source will deliver at most, when known before any job runs.

    ``synthetic``: the configured counts; ``sdss``: the catalog's labels; ``local``: ``None``
    (labels are optional there and files are only found by the scan).
    """
    data = config["data"]
    if data["source"] == "synthetic":
        return {name: int(config["synthetic"][f"n_{name}"]) for name in ("type1", "type2", "intermediate")}
    if data["source"] == "sdss" and data["catalog"]:
        from agn_saliency.acquire.catalog import read_catalog

        labels = [str(label) for label in read_catalog(data["catalog"])["label"]]
        return {name: labels.count(name) for name in ("type1", "type2", "intermediate")}
    return None


def _check_reduce(reduce: Mapping[str, Any]) -> list[str]:
    from agn_saliency.spectra.reduce import ReductionParameters

    try:
        params = ReductionParameters.from_mapping(dict(reduce))
    except ValueError as error:
        return [str(error)]
    lo, hi = params.norm_window
    centres = params.wavelength()
    if not ((centres >= lo) & (centres <= hi)).any():
        step = (params.wavelength_max - params.wavelength_min) / params.n_pixels
        return [
            f"reduce.norm_window {lo:g}–{hi:g} Å holds no pixel of the {params.n_pixels}-pixel grid "
            f"(pixels {step:.4g} Å wide): widen the window or raise reduce.n_pixels"
        ]
    return []


def _check_scoring(scoring: str) -> list[str]:
    if scoring == DEFAULT_SCORING:
        return []  # importing scikit-learn costs ~1 s of every dry run; the default is checked by the tests
    from sklearn.metrics import get_scorer_names

    names = get_scorer_names()
    if scoring in names:
        return []
    import difflib

    close = difflib.get_close_matches(scoring, names, n=3)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else "; see sklearn.metrics.get_scorer_names()"
    return [f"classify.scoring: {scoring!r} is not a scikit-learn scorer{hint}"]


def check_sample(config: Mapping[str, Any], stage: str) -> list[str]:
    """Problems of the sample for one ``stage`` (``"classify"`` or ``"tsne"``), where it is known in advance.

    ``classify``: every class of ``classify.tasks`` must leave enough spectra for the split,
    ``cv_folds`` and ``calibration_folds``; ``tsne``: every perplexity must be at most
    :func:`max_perplexity` of its class set. Empty when the sample is not known before the
    scan (:func:`class_counts`); the jobs check again on what the reduction kept.
    """
    try:
        counts = class_counts(config)
    except (OSError, ValueError) as error:  # the catalog itself: validate_catalog reports it row by row
        return [f"data.catalog: {error}"]
    if counts is None:
        return []
    problems = []
    split, classify = config["split"], config["classify"]
    cv_folds, calibration_folds = int(classify["cv_folds"]), int(classify["calibration_folds"])
    where = "synthetic.n_{name}" if config["data"]["source"] == "synthetic" else f"the catalog {config['data']['catalog']}"
    needed = {name for task in classify["tasks"] for name in TASK_CLASSES[task]}
    for name in [n for n in ("type1", "type2", "intermediate") if n in needed and stage == "classify"]:
        n = int(counts.get(name, 0))
        parts = split_counts(n, split["test_fraction"], split["validation_fraction"], cv_folds)
        source = where.format(name=name)
        if n == 0:
            tasks = [task for task in classify["tasks"] if name in TASK_CLASSES[task]]
            problems.append(f"classify.tasks {tasks} need {name} spectra, {source} has none")
        elif parts["test"] < 1 or parts["validation"] < 1 or parts["train"] < cv_folds:
            problems.append(
                f"{name}: {n} spectra ({source}) split {split['test_fraction']:g} test / {split['validation_fraction']:g} "
                f"validation leave ≈{parts['train']} for training, {parts['validation']} for validation, {parts['test']} for "
                f"the test; classify.cv_folds = {cv_folds} needs ≥ {cv_folds} in training: add spectra or lower classify.cv_folds"
            )
        elif parts["cv_train"] < calibration_folds:
            problems.append(
                f"{name}: ≈{parts['cv_train']} training spectra per cross-validation fold, fewer than "
                f"classify.calibration_folds = {calibration_folds}: add spectra or lower classify.calibration_folds"
            )
    for task in config["tsne"]["tasks"] if stage == "tsne" else []:
        n_task = sum(int(counts.get(name, 0)) for name in TASK_CLASSES[task])
        too_large = [p for p in config["tsne"]["perplexities"] if p > max_perplexity(n_task)]
        if too_large:
            problems.append(
                f"tsne.perplexities {too_large}: the {task} set has at most {n_task} spectra, which supports "
                f"a perplexity of at most {max_perplexity(n_task):.4g} ((n − 1) / 3)"
            )
    return problems


def check_config(config: Mapping[str, Any]) -> list[str]:
    """Every problem of a schema-valid configuration that can be known before any job runs,
    whatever the target (the sample's size is judged by :func:`check_sample`, for the jobs that need it).

    Returns one line per problem (empty: none found).
    """
    problems = _check_reduce(config["reduce"])
    problems += _check_scoring(config["classify"]["scoring"])
    data = config["data"]
    if data["source"] == "sdss" and not data["catalog"]:
        problems.append(
            "data.catalog: data.source sdss needs a catalog of spectra to download (CSV/ECSV: plate, mjd, fiberid, label)"
        )
    return problems
