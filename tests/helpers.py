"""Constants and helpers the tests share (a plain module: pytest's conftest.py is not meant to be imported).

Test modules ``from helpers import …`` (pytest puts ``tests/`` on ``sys.path``, its default
``prepend`` import mode for a folder without ``__init__.py``); the fixtures stay in conftest.py.

* ``REPO``, ``TINY`` (the tiny workflow configuration), ``SNAKEMAKE`` (the command that runs the
  Snakefile with this interpreter), :func:`run_tiny`.
* ``REAL_DIR`` — ``<repo>/../shared/data/sdss_real``, the real SDSS files (never copied into the tree),
  or ``$AGN_TEST_SHARED/data/sdss_real`` when that variable is set (``AGN_TEST_SHARED=/nonexistent``
  runs the tests as a checkout without the files does). Tests that need it are marked
  ``@needs_real`` (or take the ``real_dir`` fixture) and skip when its ``index.csv`` is absent;
  :func:`read_real_index` reads that file.
* :func:`synthetic_coadd` — the COADD table of a synthetic spec-lite file (flat continuum, one
  Gaussian emission line) on ``SYNTHETIC_LOGLAM``.
* :func:`settings_changed` — whether a dry run's reason line says a job's params changed.
* :func:`image_primary_bytes` — a DR7-style primary image HDU (test data only: the pipeline never
  writes one).
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agn_saliency.io import fits
from agn_saliency.spectra import sdss

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("AGN_TEST_SHARED") or REPO.parent / "shared")
REAL_DIR = SHARED / "data" / "sdss_real"
REAL_DATA_PRESENT = (REAL_DIR / "index.csv").is_file()
needs_real = pytest.mark.skipif(not REAL_DATA_PRESENT, reason=f"real SDSS spectra not available ({REAL_DIR} absent)")
TINY = REPO / "tests" / "config" / "tiny.yaml"
SNAKEMAKE = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile")]


def image_primary_bytes(image: np.ndarray, cards: list[tuple[str, Any, str]]) -> bytes:
    """A primary HDU holding a float32 image (rows × columns), as DR7 spSpec files do."""
    data = np.ascontiguousarray(image, dtype=">f4")
    base = [("SIMPLE", True, ""), ("BITPIX", -32, ""), ("NAXIS", data.ndim, "")]
    base += [(f"NAXIS{i}", data.shape[data.ndim - i], "") for i in range(1, data.ndim + 1)]
    return fits._header_bytes(base + list(cards)) + fits._pad(data.tobytes())


def run_tiny(workdir: Path, *args: str, configs: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    """Snakemake on the tiny configuration (plus extra config files) in ``workdir``."""
    command = SNAKEMAKE + ["-d", str(workdir), "--configfile", str(TINY), *map(str, configs), *args]
    return subprocess.run(command, capture_output=True, text=True, cwd=workdir)


def read_real_index() -> list[dict[str, str]]:
    """Rows of ``REAL_DIR/index.csv`` (dicts of text); none when the folder is absent."""
    index = REAL_DIR / "index.csv"
    if not index.is_file():
        return []
    with open(index, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# Observed grid of the synthetic spec-lite files: loglam 3.58 … 3.96 in steps of 1e-4
# (3802–9120 Å, like an SDSS-I/II spectrum).
SYNTHETIC_LOGLAM = 3.58 + 1e-4 * np.arange(3801)


def synthetic_coadd(
    *,
    z: float = 0.1,
    continuum: float = 10.0,
    line_rest: float = 5008.24,
    line_amplitude: float = 40.0,
    line_sigma_rest: float = 3.0,
    ivar: float = 4.0,
    loglam: np.ndarray = SYNTHETIC_LOGLAM,
) -> np.ndarray:
    """A COADD table: flat continuum + a Gaussian emission line at ``line_rest`` (rest frame, Å)."""
    wavelength = 10.0**loglam
    shift = 1.0 + (z if np.isfinite(z) else 0.0)
    centre, sigma = line_rest * shift, line_sigma_rest * shift
    coadd = np.zeros(len(loglam), sdss.COADD_DTYPE)
    coadd["loglam"] = loglam
    coadd["flux"] = continuum + line_amplitude * np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2)
    coadd["ivar"] = ivar
    coadd["model"] = coadd["flux"]
    coadd["wdisp"] = 1.0
    return coadd


def settings_changed(reason: str) -> bool:
    """Whether a dry run's ``reason:`` line says the job's params changed: Snakemake's own params
    record, or the job's settings file (fresh under .snakemake/planned-settings/ in a dry run)
    newer than its outputs — Snakemake names only the first reason it finds."""
    return "Params have changed" in reason or ".snakemake/planned-settings/" in reason


# The SDSS-V fixture: a real BOSS spectrum's arrays under the DR19 data model's names.
SDSS5_SOURCE = "spec-8222-57431-0561.fits"  # real BOSS QSO (BROADLINE), z = 0.16177, SPALL layout
SDSS5_IDS = {"field": 15173, "mjd": 59381, "catalogid": 4350968445}
SDSS5_SDSS_ID = 54392544


def sdss5_fixture_bytes(source: Path | None = None, *, lower_case: bool = False, **ids: int) -> bytes:
    """A DR19-layout spec-lite file holding the arrays of a real BOSS spec file (read with astropy).

    The COADD columns (FLUX, LOGLAM, IVAR, AND_MASK, OR_MASK, WDISP, SKY, MODEL) are the real
    file's, WRESL (Å, FWHM) is computed from its WDISP; SPALL's CLASS, SUBCLASS, Z, Z_ERR and
    ZWARNING are the real file's; FIELD, MJD and CATALOGID are ``ids`` (default
    :data:`SDSS5_IDS`). The primary header says ``SYNTHET = T`` and names the source file.
    """
    from astropy.io import fits as astropy_fits

    from agn_saliency.spectra import sdss5

    source = source or REAL_DIR / SDSS5_SOURCE
    ids = {**SDSS5_IDS, **ids}
    with astropy_fits.open(source) as hdul:
        coadd_in, spall_in = hdul[1].data, hdul[2].data
        coadd = np.zeros(len(coadd_in), sdss5.COADD_DTYPE)
        for name in sdss5.COADD_COLUMNS[:-1]:
            coadd[name] = coadd_in[name.lower()]
        wavelength = 10.0 ** coadd["LOGLAM"].astype(np.float64)
        coadd["WRESL"] = 2.3548 * coadd["WDISP"] * 1e-4 * np.log(10.0) * wavelength
        row = spall_in[0]
        meta = dict(
            z=float(row["Z"]),
            z_err=float(row["Z_ERR"]),
            zwarning=int(row["ZWARNING"]),
            sdss_class=str(row["CLASS"]).strip(),
            subclass=str(row["SUBCLASS"]).strip(),
        )
    return sdss5.spec_lite_bytes(
        **ids,
        coadd=coadd,
        sdss_id=SDSS5_SDSS_ID,
        lower_case=lower_case,
        extra_cards=[
            ("SYNTHET", True, "synthetic test fixture, not an SDSS-V product"),
            ("SRCFILE", Path(source).name, "real BOSS file whose arrays these are"),
        ],
        **meta,
    )
