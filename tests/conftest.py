"""Shared fixtures: the real SDSS files in ../shared/data/sdss_real and synthetic spec-lite files.

* ``real_dir`` — absolute path of ``<repo>/../shared/data/sdss_real``; tests that use it are
  skipped when the folder is absent (the project must not copy those files into its tree).
* ``real_index`` — the rows of its ``index.csv`` (dicts of text).
* ``real_row`` — a test that takes this argument is run once per row of ``index.csv`` (and is
  skipped, via an empty parameter set, when the folder is absent).
* ``coadd_factory`` — :func:`synthetic_coadd`, the COADD table those files hold.
* ``spec_lite_factory`` — writes a valid DR8+ spec-lite file with a flat continuum and one Gaussian
  emission line, through :func:`agn_saliency.spectra.sdss.write_spec_lite`.
* :func:`image_primary_bytes` — a DR7-style primary image HDU (test data only: the pipeline never
  writes one).
"""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from agn_saliency.io import fits
from agn_saliency.spectra import sdss

REPO = Path(__file__).resolve().parents[1]
REAL_DIR = REPO.parent / "shared" / "data" / "sdss_real"
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


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One real local run of the whole workflow on the tiny configuration (shared by the
    workflow tests and the SLURM test's local reference)."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    result = run_tiny(workdir, "--cores", "2")
    if result.returncode != 0:
        pytest.fail(f"tiny workflow failed:\n{result.stderr[-6000:]}")
    return workdir


# Observed grid of the synthetic spec-lite files: loglam 3.58 … 3.96 in steps of 1e-4
# (3802–9120 Å, like an SDSS-I/II spectrum).
SYNTHETIC_LOGLAM = 3.58 + 1e-4 * np.arange(3801)


def _read_real_index() -> list[dict[str, str]]:
    index = REAL_DIR / "index.csv"
    if not index.is_file():
        return []
    with open(index, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "real_row" in metafunc.fixturenames:
        rows = _read_real_index()
        metafunc.parametrize("real_row", rows, ids=[row["file"] for row in rows])


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The folder of real SDSS spectra (skips the test when it is absent)."""
    if not (REAL_DIR / "index.csv").is_file():
        pytest.skip(f"real SDSS spectra not available ({REAL_DIR} absent)")
    return REAL_DIR


@pytest.fixture(scope="session")
def real_index(real_dir: Path) -> list[dict[str, str]]:
    """Rows of ``index.csv`` (file, plate, mjd, fiberid, z, sdss_class, sdss_subclass, expected, format)."""
    rows = _read_real_index()
    assert len(rows) == 14, f"index.csv should list 14 files, lists {len(rows)}"
    return rows


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


@pytest.fixture
def coadd_factory():
    """:func:`synthetic_coadd` (a COADD structured array) as a fixture."""
    return synthetic_coadd


@pytest.fixture
def spec_lite_factory(tmp_path: Path):
    """Factory writing a spec-lite file; returns its path.

    ``make(name=None, *, folder=tmp_path, plate=332, mjd=52367, fiberid=639, z=0.1, run2d="26",
    flux=None, ivar=None, and_mask=None, file_z=None, **line)`` — ``flux`` / ``ivar`` /
    ``and_mask`` (scalar or array) replace the synthetic columns; ``file_z`` is the Z written in
    SPECOBJ (default ``z``); ``line`` keywords go to :func:`synthetic_coadd`. The default name is
    the SDSS one, ``spec-PPPP-MMMMM-FFFF.fits``.
    """

    def make(
        name: str | None = None,
        *,
        folder: Path | None = None,
        plate: int = 332,
        mjd: int = 52367,
        fiberid: int = 639,
        z: float = 0.1,
        run2d: str = "26",
        flux: Any = None,
        ivar: Any = None,
        and_mask: Any = None,
        file_z: float | None = None,
        sdss_class: str = "QSO",
        **line: Any,
    ) -> Path:
        coadd = synthetic_coadd(z=z, **line)
        if flux is not None:
            coadd["flux"] = flux
        if ivar is not None:
            coadd["ivar"] = ivar
        if and_mask is not None:
            coadd["and_mask"] = and_mask
        path = Path(folder or tmp_path) / (name or f"spec-{plate:04d}-{mjd:05d}-{fiberid:04d}.fits")
        sdss.write_spec_lite(
            path,
            plate=plate,
            mjd=mjd,
            fiberid=fiberid,
            run2d=run2d,
            coadd=coadd,
            z=z if file_z is None else file_z,
            z_err=1e-4,
            sdss_class=sdss_class,
        )
        return path

    return make
