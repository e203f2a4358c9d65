"""Rule of ``workflow/rules/split.smk``: one stratified train / validation / test split that every later rule uses."""

from __future__ import annotations

from collections import Counter

import numpy as np

from agn_saliency.core.columns import TABLES
from agn_saliency.stages._common import rule_log

__all__ = ["split_sample"]


def split_sample(*, cube: str, split_out: str, test_fraction: float, validation_fraction: float, seed: int) -> np.ndarray:
    """Rule split_sample: stratified, seeded train / validation / test split of the cube's spectra,
    saved by spectrum id. Returns the subset of every spectrum, in cube order."""
    from agn_saliency.core.identity import qualified_ids
    from agn_saliency.io.cube import read_meta
    from agn_saliency.io.tables import write_table
    from agn_saliency.learn.split import SPLIT_COLUMNS, stratified_split

    meta = read_meta(cube, ("survey", "specid", "label"))  # only the ids and labels are needed
    survey, specid, label = meta["survey"], meta["specid"], meta["label"]
    # ordered by the survey-qualified id: an SDSS-only sample splits exactly as before surveys existed
    subset = stratified_split(qualified_ids(survey, specid), label, test_fraction, validation_fraction, seed)
    write_table(
        split_out, [dict(zip(SPLIT_COLUMNS, row)) for row in zip(survey, specid, label, subset)], SPLIT_COLUMNS,
        schema=TABLES["split"],
    )  # fmt: skip
    rule_log("split_sample").info("split: %s", dict(Counter(zip(subset, label))))
    return subset
