"""Simulated spec-lite files: each spectrum's generator, its file's bytes and the writing of a
shard's files (with their truth records) in the SAS layout."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.acquire.simulate.catalog import _snr_for
from agn_saliency.acquire.simulate.constants import RUN2D
from agn_saliency.acquire.simulate.parameters import SimulationParameters
from agn_saliency.acquire.simulate.spectrum import simulate_spectrum
from agn_saliency.acquire.simulate.truth import TRUTH_COLUMNS
from agn_saliency.core.files import atomic_output
from agn_saliency.core.logs import progress
from agn_saliency.spectra import sdss

_SDSS_CLASS = {"type1": ("QSO", "BROADLINE"), "type2": ("GALAXY", "AGN"), "intermediate": ("GALAXY", "AGN BROADLINE")}
"""SDSS CLASS / SUBCLASS written for each label (as the SDSS pipeline tends to assign them)."""


def spectrum_rng(seed: int, plate: int, mjd: int, fiberid: int) -> np.random.Generator:
    """The generator of one spectrum: a function of ``(seed, plate, mjd, fiberid)`` only.

    Parameters
    ----------
    seed
        Master seed of the sample.
    plate, mjd, fiberid
        The spectrum's identity.

    Returns
    -------
    numpy.random.Generator
        ``numpy.random.default_rng([seed, plate, mjd, fiberid])``.
    """
    return np.random.default_rng([int(seed), int(plate), int(mjd), int(fiberid)])


def spectrum_file_bytes(
    row: Mapping[str, Any] | np.void, seed: int, params: SimulationParameters, *, truth: dict[str, Any] | None = None
) -> bytes:
    """The spec-lite file of one catalog row (``plate, mjd, fiberid, z, label[, snr]``) as bytes.

    Parameters
    ----------
    row
        Catalog row (structured-array record or mapping); ``snr`` is recomputed from the identity
        when absent, as :func:`~agn_saliency.acquire.simulate.catalog.simulate_catalog` draws it.
    seed
        Master seed (:func:`spectrum_rng`).
    params
        Physical parameters.
    truth
        If given, filled with the spectrum's truth record
        (:data:`~agn_saliency.acquire.simulate.truth.TRUTH_COLUMNS`); the bytes do not depend on it.

    Returns
    -------
    bytes
        The spec-lite FITS file, as :func:`agn_saliency.spectra.sdss.spec_lite_bytes` writes it.
    """
    plate, mjd, fiberid = int(row["plate"]), int(row["mjd"]), int(row["fiberid"])
    z, label = float(row["z"]), str(row["label"])
    names = row.dtype.names if isinstance(row, np.void) else tuple(row)
    snr = float(row["snr"]) if "snr" in names else _snr_for(seed, plate, mjd, fiberid, params)
    rng = spectrum_rng(seed, plate, mjd, fiberid)
    if truth is not None:
        truth.update(survey="sdss", specid=sdss.specid(plate, mjd, fiberid), plate=plate, mjd=mjd, fiberid=fiberid)
    coadd = simulate_spectrum(label, z, snr, rng, params, truth=truth)
    z_err = float(rng.uniform(1e-5, 1e-4) * (1 + z) * (3.0 if label == "type1" else 1.0))
    sdss_class, subclass = _SDSS_CLASS[label]
    return sdss.spec_lite_bytes(
        plate=plate,
        mjd=mjd,
        fiberid=fiberid,
        run2d=RUN2D,
        coadd=coadd,
        z=z,
        z_err=z_err,
        zwarning=0,
        sdss_class=sdss_class,
        subclass=subclass,
        extra_cards=[
            ("SIMLABEL", label, "agn_saliency simulated class"),
            ("SIMSNR", snr, "median S/N per pixel, 5050-5150 A rest"),
            ("SIMSEED", int(seed), "agn_saliency simulation seed"),
        ],
    )


def write_spectra(
    catalog_rows: np.ndarray | Iterable[Mapping[str, Any]],
    data_root: str | os.PathLike[str],
    seed: int,
    params: SimulationParameters,
) -> list[str]:
    """Write each catalog row's spectrum as a spec-lite file in the SAS layout.

    Parameters
    ----------
    catalog_rows
        Structured array (or mappings) with ``plate, mjd, fiberid, z, label`` and optionally
        ``snr`` (recomputed from the identity when absent, identically to
        :func:`~agn_saliency.acquire.simulate.catalog.simulate_catalog`).
    data_root
        Folder under which ``sdss.spec_lite_relpath(plate, mjd, fiberid, "26")`` is created.
    seed
        Master seed; each spectrum's generator is :func:`spectrum_rng` of
        ``(seed, plate, mjd, fiberid)``, so a file's bytes do not depend on the shard writing it.
    params
        Physical parameters.

    Returns
    -------
    list of str
        The written paths, in row order. Each file is written atomically.
    """
    return write_spectra_with_truth(catalog_rows, data_root, seed, params)[0]


def write_spectra_with_truth(
    catalog_rows: np.ndarray | Iterable[Mapping[str, Any]],
    data_root: str | os.PathLike[str],
    seed: int,
    params: SimulationParameters,
) -> tuple[list[str], list[dict[str, Any]]]:
    """:func:`write_spectra`, also returning each spectrum's ground truth.

    Parameters
    ----------
    catalog_rows, data_root, seed, params
        As for :func:`write_spectra` (the files are byte-identical).

    Returns
    -------
    paths : list of str
        The written paths, in row order.
    truth : list of dict
        One record per row, in row order, keyed by :data:`TRUTH_COLUMNS` (units
        :data:`~agn_saliency.acquire.simulate.truth.TRUTH_UNITS`; broad-line values ``None`` when
        ``has_broad`` is False), ready for :func:`agn_saliency.io.tables.write_table` and
        :func:`~agn_saliency.acquire.simulate.truth.broad_component_mask`.
    """
    root = Path(data_root)
    paths: list[str] = []
    records: list[dict[str, Any]] = []
    for row in progress(catalog_rows, "simulated"):
        relpath = sdss.spec_lite_relpath(int(row["plate"]), int(row["mjd"]), int(row["fiberid"]), RUN2D)
        path = root / relpath
        truth: dict[str, Any] = {}
        content = spectrum_file_bytes(row, seed, params, truth=truth)
        with atomic_output(path) as tmp:
            tmp.write_bytes(content)
        paths.append(str(path))
        records.append({column: truth.get(column) for column in TRUTH_COLUMNS})
    return paths, records
