"""The simulated sample's catalog: which spectra exist (plate, MJD, fiber), their class, redshift
and S/N, drawn from the master seed alone; written as the plain CSV the pipeline reads."""

from __future__ import annotations

import csv
import math
import os

import numpy as np

from agn_saliency.acquire.simulate.constants import FIBERS_PER_PLATE, FIRST_PLATE
from agn_saliency.acquire.simulate.parameters import SimulationParameters
from agn_saliency.core.files import atomic_output
from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.spectra import sdss

CATALOG_DTYPE = np.dtype([("plate", "i4"), ("mjd", "i4"), ("fiberid", "i4"), ("z", "f8"), ("label", "U12"), ("snr", "f8")])
"""Fields of a simulated catalog."""


def plate_mjd(plate: int | np.ndarray) -> int | np.ndarray:
    """A plausible, fixed observation MJD for an SDSS-I/II plate (≈ the real plate–MJD trend).

    Plate 266 was observed on MJD ≈ 51602 and plate 2880 on ≈ 54509; this interpolates linearly
    with a deterministic ±20-day jitter, so every plate has exactly one MJD.

    Parameters
    ----------
    plate
        One plate or an array of them.

    Returns
    -------
    int or numpy.ndarray
        The MJD of each (an ``int`` for one plate).
    """
    plate = np.asarray(plate, dtype=np.int64)
    mjd = 51602 + (plate - FIRST_PLATE) * 111 // 100 + (plate * 7919) % 41 - 20
    return int(mjd) if mjd.ndim == 0 else mjd


def _snr_for(seed: int, plate: int, mjd: int, fiberid: int, params: SimulationParameters) -> float:
    """The spectrum's S/N: a function of its identity only, log-uniform in [snr_min, snr_max]."""
    rng = np.random.default_rng([int(seed), int(plate), int(mjd), int(fiberid), 1])
    return round(float(np.exp(rng.uniform(math.log(params.snr_min), math.log(params.snr_max)))), 3)


def simulate_catalog(n_type1: int, n_type2: int, n_intermediate: int, seed: int, params: SimulationParameters) -> np.ndarray:
    """Draw the simulated sample's catalog.

    Parameters
    ----------
    n_type1, n_type2, n_intermediate
        Spectra per class (non-negative; at least one in total).
    seed
        Master seed (non-negative integer).
    params
        Physical parameters (redshift and S/N ranges are used here).

    Returns
    -------
    numpy.ndarray
        Structured array (:data:`CATALOG_DTYPE`) with one row per spectrum in a seeded random
        order: ``plate``, ``mjd``, ``fiberid`` (unique triples on SDSS-I/II plates ≤ 3006,
        fibers 1–640, one MJD per plate), ``z`` (rounded to 1e-5), ``label`` and ``snr``
        (median S/N per pixel near 5100 Å rest; a function of ``(seed, plate, mjd, fiberid)``,
        so :func:`~agn_saliency.acquire.simulate.files.write_spectra` reproduces it when a catalog file lacks it).
    """
    counts = {"type1": n_type1, "type2": n_type2, "intermediate": n_intermediate}
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"n_{name} must be a non-negative integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    total = sum(int(c) for c in counts.values())
    n_plates = sdss.LAST_SDSS_PLATE - FIRST_PLATE + 1
    if total < 1:
        raise ValueError("the catalog needs at least one spectrum (all counts are 0)")
    if total > n_plates * FIBERS_PER_PLATE:
        raise ValueError(f"at most {n_plates * FIBERS_PER_PLATE} spectra fit on SDSS-I/II plates, asked for {total}")
    rng = np.random.default_rng([int(seed), 0x5A1])
    labels = np.concatenate([np.full(int(counts[name]), name, dtype="U12") for name in CLASS_NAMES])
    labels = labels[rng.permutation(total)]
    cells = rng.choice(n_plates * FIBERS_PER_PLATE, size=total, replace=False)
    catalog = np.zeros(total, CATALOG_DTYPE)
    catalog["plate"] = FIRST_PLATE + cells // FIBERS_PER_PLATE
    catalog["fiberid"] = cells % FIBERS_PER_PLATE + 1
    catalog["mjd"] = plate_mjd(catalog["plate"])
    catalog["z"] = np.round(rng.uniform(params.z_min, params.z_max, total), 5)
    catalog["label"] = labels
    catalog["snr"] = [_snr_for(seed, p, m, f, params) for p, m, f in zip(catalog["plate"], catalog["mjd"], catalog["fiberid"])]
    return catalog


def write_catalog_csv(catalog: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write a catalog as CSV with columns ``plate,mjd,fiberid,z,label`` (atomically).

    ``z`` is written with 5 decimals (the catalog's own precision), so reading it back gives
    the same float and therefore the same simulated spectrum.

    Parameters
    ----------
    catalog
        Structured array with at least those fields (:func:`simulate_catalog`).
    path
        Destination.

    Raises
    ------
    ValueError
        If a field is missing.
    """
    missing = {"plate", "mjd", "fiberid", "z", "label"} - set(catalog.dtype.names or ())
    if missing:
        raise ValueError(f"catalog lacks field(s) {', '.join(sorted(missing))}")
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["plate", "mjd", "fiberid", "z", "label"])
            for row in catalog:
                writer.writerow(
                    [int(row["plate"]), int(row["mjd"]), int(row["fiberid"]), f"{float(row['z']):.5f}", str(row["label"])]
                )
