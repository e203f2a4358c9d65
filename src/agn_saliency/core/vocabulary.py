"""The pipeline's words, defined once: tasks, kernels, class names and their display order.

The Snakefile's wildcard constraints, the library, the scripts and the tests import them from here;
``tests/test_vocabulary.py`` checks that the config schema's enums say the same.

>>> TASK_CLASSES["binary"]
('type1', 'type2')
>>> display_order(["type2", "intermediate", "type1"])
['type1', 'type2', 'intermediate']
>>> probability_columns(["type2", "type1"])
['p_type1', 'p_type2']
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy only where a mask is built: the Snakefile imports this module
    import numpy as np

__all__ = [
    "CLASS_NAMES",
    "KERNELS",
    "KERNEL_PATTERN",
    "TASKS",
    "TASK_CLASSES",
    "TASK_PATTERN",
    "TASK_TITLES",
    "display_order",
    "most_probable",
    "probability_columns",
    "task_classes",
    "task_mask",
]

CLASS_NAMES: tuple[str, ...] = ("type1", "type2", "intermediate")
"""Every label the pipeline knows, in display order (columns, rows, legends, files)."""

TASKS: tuple[str, ...] = ("binary", "multiclass")
"""Classification tasks (and t-SNE class sets)."""

TASK_CLASSES: dict[str, tuple[str, ...]] = {
    "binary": ("type1", "type2"),
    "multiclass": ("type1", "type2", "intermediate"),
}
"""Classes of each task, in display order."""

TASK_TITLES: dict[str, str] = {"binary": "type 1 vs type 2", "multiclass": "type 1, type 2, intermediate"}
"""How a task's class set reads in a figure title."""

KERNELS: tuple[str, ...] = ("linear", "poly2", "poly3", "rbf")
"""SVM kernels, simplest first: ties in validation score go to the simpler one (``models.select_kernel``)."""

TASK_PATTERN: str = "|".join(TASKS)
"""Regular expression of the ``{task}`` wildcard."""

KERNEL_PATTERN: str = "|".join(KERNELS)
"""Regular expression of the ``{kernel}`` wildcard."""


def task_classes(task: str) -> tuple[str, ...]:
    """Classes of ``task`` in display order.

    Raises
    ------
    ValueError
        ``task`` is not one of :data:`TASKS`.
    """
    try:
        return TASK_CLASSES[task]
    except KeyError:
        raise ValueError(f"unknown task {task!r}; expected one of {sorted(TASK_CLASSES)}") from None


def task_mask(labels: Sequence[str] | np.ndarray, task: str) -> np.ndarray:
    """Boolean mask of the labels that belong to ``task``'s classes.

    >>> task_mask(["type1", "intermediate", "type2"], "binary").tolist()
    [True, False, True]
    """
    import numpy as np

    return np.isin(np.asarray(labels).astype(str), task_classes(task))


def display_order(classes: Iterable[object]) -> list[str]:
    """``classes`` (e.g. a model's alphabetical ``classes_``) sorted into :data:`CLASS_NAMES` order;
    names the vocabulary does not know go last, in the order given."""
    names = [str(c) for c in classes]
    rank = {name: i for i, name in enumerate(CLASS_NAMES)}
    return sorted(names, key=lambda name: rank.get(name, len(rank)))


def most_probable(probabilities: np.ndarray, classes: Sequence[object]) -> np.ndarray:
    """The class of highest probability per row of ``probabilities`` (columns in the order of
    ``classes``), an exact tie going to the class first in alphabetical order, as scikit-learn's
    ``predict`` (the argmax over its sorted ``classes_``) breaks it: so the saliency files and
    predict tables name the class the metrics count, whatever the column order.

    >>> import numpy as np
    >>> most_probable(np.array([[0.0, 0.5, 0.5], [0.2, 0.7, 0.1]]), ["type1", "type2", "intermediate"]).tolist()
    ['intermediate', 'type2']
    """
    import numpy as np

    names = [str(c) for c in classes]
    alphabetical = sorted(range(len(names)), key=names.__getitem__)
    columns = np.asarray(probabilities)[:, alphabetical]
    return np.asarray(names)[np.asarray(alphabetical, dtype=int)[columns.argmax(axis=1)]]


def probability_columns(classes: Iterable[object]) -> list[str]:
    """``p_<class>`` column names of ``classes``, in display order."""
    return [f"p_{name}" for name in display_order(classes)]
