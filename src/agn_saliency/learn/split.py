"""Stratified train / validation / test split, saved by spectrum id."""

from __future__ import annotations

import math

import numpy as np

from agn_saliency.core.vocabulary import CLASS_NAMES

SUBSETS = ("train", "validation", "test")
SPLIT_COLUMNS = ("survey", "specid", "label", "subset")


def stratified_split(
    specid: np.ndarray, label: np.ndarray, test_fraction: float, validation_fraction: float, seed: int
) -> np.ndarray:
    """Assign every labelled spectrum to ``train``, ``validation`` or ``test``, stratified by label.

    Parameters
    ----------
    specid, label
        Row-aligned identifiers and labels. Spectra whose label is not one of
        :data:`agn_saliency.CLASS_NAMES` get ``"unlabelled"``.
    test_fraction
        Share of the labelled spectra held out for the test.
    validation_fraction
        Share of the remainder used for validation (kernel selection).
    seed
        Random state of both stratified draws.

    Returns
    -------
    numpy.ndarray
        Subset name per row.
    """
    if len(specid) != len(label):
        raise ValueError(f"specid ({len(specid)}) and label ({len(label)}) differ in length")
    if not (0 < test_fraction < 1 and 0 < validation_fraction < 1):
        raise ValueError("test_fraction and validation_fraction must lie in (0, 1)")
    label = np.asarray(label).astype(str)
    subset = np.full(len(label), "unlabelled", dtype=object)
    # Sorted by id, so the split does not depend on the order of the cube (e.g. on the shard count).
    order = np.argsort(np.asarray(specid).astype(str), kind="stable")
    labelled = order[np.isin(label[order], CLASS_NAMES)]
    if len(labelled) == 0:
        raise ValueError("no labelled spectra to split")
    counts = {name: int((label[labelled] == name).sum()) for name in CLASS_NAMES if (label[labelled] == name).any()}
    too_small = {
        name: n
        for name, n in counts.items()
        if min(split_counts(n, test_fraction, validation_fraction, 2)[k] for k in SUBSETS) < 1
    }
    if too_small:
        raise ValueError(
            f"too few spectra for a stratified split {test_fraction:g} test / {validation_fraction:g} validation "
            f"(split.test_fraction / validation_fraction): {too_small} of {counts} would leave a subset empty"
        )
    from sklearn.model_selection import train_test_split  # scikit-learn costs ~1 s: not at import (settings uses split_counts)

    rest, test = train_test_split(labelled, test_size=test_fraction, stratify=label[labelled], random_state=seed)
    train, validation = train_test_split(rest, test_size=validation_fraction, stratify=label[rest], random_state=seed)
    subset[train], subset[validation], subset[test] = "train", "validation", "test"
    return subset


def split_counts(n: int, test_fraction: float, validation_fraction: float, cv_folds: int) -> dict[str, int]:
    """Approximate train / validation / test counts of one class of ``n`` spectra, and the smallest CV training fold.

    Stratified splits give each class its share up to rounding; this rounds against the user
    (test and validation up, training down), so a class that passes here passes the real split.
    """
    test = math.ceil(n * test_fraction)
    validation = math.ceil((n - test) * validation_fraction)
    train = n - test - validation
    return {"train": train, "validation": validation, "test": test, "cv_train": train - math.ceil(train / cv_folds)}
