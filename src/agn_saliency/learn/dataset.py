"""Select the spectra of one task and subset from the cube and the split."""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from agn_saliency.core.identity import DEFAULT_SURVEY, qualified_id, qualified_ids
from agn_saliency.core.vocabulary import task_classes, task_mask
from agn_saliency.io.cube import read_cube
from agn_saliency.io.tables import read_table

__all__ = ["TaskData", "load_task", "task_classes"]


@dataclass
class TaskData:
    """Row-aligned spectra of one task (and subsets); ``specid`` holds survey-qualified ids
    (:func:`agn_saliency.core.identity.qualified_id`: SDSS ids as they are, ``desi-<TARGETID>``…),
    the names every later output (test predictions, t-SNE, saliency files and figures) uses."""

    wavelength: np.ndarray
    flux: np.ndarray
    label: np.ndarray
    specid: np.ndarray
    subset: np.ndarray
    z: np.ndarray

    def where(self, *subsets: str) -> TaskData:
        keep = np.isin(self.subset, subsets)
        return TaskData(self.wavelength, self.flux[keep], self.label[keep], self.specid[keep], self.subset[keep], self.z[keep])


def load_task(cube_path: str | os.PathLike[str], split_path: str | os.PathLike[str], task: str) -> TaskData:
    """Spectra of the task's classes with their subset (train / validation / test) from the split."""
    cube = read_cube(cube_path)
    rows = read_table(split_path)
    # a split written before surveys were recorded has no survey column: its spectra are SDSS
    split = {
        qualified_id(str(row["survey"]) if "survey" in row else DEFAULT_SURVEY, row["specid"]): row["subset"] for row in rows
    }
    specid = qualified_ids(cube.meta["survey"], cube.meta["specid"].astype(str)).astype(str)
    label = cube.meta["label"].astype(str)
    keep = task_mask(label, task)
    missing = [s for s in specid[keep] if s not in split]
    if missing:
        raise ValueError(
            f"{len(missing)} spectra of the cube are not in the split {split_path} (first: {missing[0]}); rerun split_sample"
        )
    subset = np.array([split[s] for s in specid[keep]], dtype=object)
    return TaskData(cube.wavelength, cube.flux[keep], label[keep], specid[keep], subset, cube.meta["z"][keep])
