"""One definition of each vocabulary term: the config schema, the Snakefile's wildcard constraints,
the library and the scripts all say what :mod:`agn_saliency.core.vocabulary` says."""

from __future__ import annotations

import itertools
import re

import numpy as np
import yaml
from helpers import REPO

from agn_saliency.core import vocabulary
from agn_saliency.core.vocabulary import CLASS_NAMES, KERNELS, TASK_CLASSES, TASKS, most_probable
from agn_saliency.explain.saliency import ATTRIBUTION_METHODS
from agn_saliency.io import models
from agn_saliency.learn import classify

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_schema_enums_equal_the_vocabulary() -> None:
    properties = SCHEMA["properties"]
    assert set(SCHEMA["$defs"]["task"]["enum"]) == set(TASKS)
    assert set(properties["classify"]["properties"]["kernels"]["items"]["enum"]) == set(KERNELS)
    assert set(properties["classify"]["properties"]["grids"]["properties"]) == set(KERNELS)
    assert set(properties["explain"]["properties"]["methods"]["items"]["enum"]) == set(ATTRIBUTION_METHODS)


def test_tasks_classes_and_kernel_order() -> None:
    assert set(TASK_CLASSES) == set(TASKS)
    for classes in TASK_CLASSES.values():
        assert list(classes) == [c for c in CLASS_NAMES if c in classes]  # display order
    assert KERNELS[0] == "linear" and models.select_kernel(dict.fromkeys(reversed(KERNELS), 0.9)) == "linear"
    assert vocabulary.probability_columns(["intermediate", "type1", "type2"]) == ["p_type1", "p_type2", "p_intermediate"]


def test_every_kernel_has_its_svm_parameters() -> None:
    """The classifier knows the parameters of every kernel the vocabulary names, and of no other."""
    assert set(classify.KERNEL_PARAMS) == set(KERNELS)
    for kernel in KERNELS:
        classify.build_pipeline(kernel, seed=0)


def test_the_kernel_list_is_defined_once() -> None:
    """Only the vocabulary binds ``KERNELS`` (or an alias such as ``KERNEL_ORDER``); everyone else imports it."""
    pattern = re.compile(r"^\s*(KERNELS|KERNEL_ORDER)\s*(:[^=]*)?=", re.MULTILINE)
    home = REPO / "src" / "agn_saliency" / "core" / "vocabulary.py"
    folders = [REPO / "src", REPO / "tests", REPO / "benchmarks"]
    bound = [path for folder in folders for path in folder.rglob("*.py") if path != home and pattern.search(path.read_text())]
    assert not bound, f"KERNELS bound outside {home.name}: {[str(p.relative_to(REPO)) for p in bound]}"


def test_no_second_spelling_in_the_workflow() -> None:
    """Wildcard constraints come from the vocabulary; no rule file or script spells the lists out."""
    common = (REPO / "workflow" / "rules" / "common.smk").read_text()
    assert "task=TASK_PATTERN" in common and "kernel=KERNEL_PATTERN" in common
    spelled = [re.escape("|".join(TASKS)), "binary\\|multiclass", "linear\\|", "poly2\\|poly3"]
    for path in [*(REPO / "workflow" / "rules").glob("*.smk"), *(REPO / "workflow" / "scripts").glob("*.py"), REPO / "Snakefile"]:
        text = path.read_text()
        for pattern in spelled:
            assert not re.search(pattern, text), f"{path.name} spells out {pattern}"
        assert not re.search(r"""["']binary["']\s*:""", text), f"{path.name} keys something by a task name"


def test_most_probable_breaks_ties_whatever_the_column_order() -> None:
    """The saliency stage holds probabilities in display order, the classify stage in the model's
    alphabetical ``classes_`` order: an exact tie (saturated polynomial sigmoids give 0 / 0.5 / 0.5)
    must name the same class in both, the one scikit-learn's ``predict`` names."""
    rows = np.array([[0.0, 0.5, 0.5], [0.5, 0.5, 0.0], [0.5, 0.0, 0.5], [0.2, 0.7, 0.1], [1 / 3, 1 / 3, 1 / 3]])
    classes = ["type1", "type2", "intermediate"]
    expected = ["intermediate", "type1", "intermediate", "type2", "intermediate"]
    for order in itertools.permutations(range(3)):
        columns = list(order)
        assert most_probable(rows[:, columns], [classes[i] for i in columns]).tolist() == expected
