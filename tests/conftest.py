"""Shared fixtures: the real SDSS files in ../shared/data/sdss_real and synthetic spec-lite files.

The constants and plain functions the tests share live in :mod:`helpers` (a regular module: test
modules import it, never this file).

* ``real_dir`` — absolute path of ``<repo>/../shared/data/sdss_real`` (:data:`helpers.REAL_DIR`); tests
  that use it are skipped when the folder is absent (the project must not copy those files into its tree).
* ``real_index`` — the rows of its ``index.csv`` (dicts of text).
* ``real_row`` — a test that takes this argument is run once per row of ``index.csv`` (and is
  skipped, via an empty parameter set, when the folder is absent).
* ``tiny_run`` — one real local run of the tiny workflow, shared by the tests that read its results.
* ``coadd_factory`` — :func:`helpers.synthetic_coadd`, the COADD table those files hold.
* ``spec_lite_factory`` — writes a valid DR8+ spec-lite file with a flat continuum and one Gaussian
  emission line, through :func:`agn_saliency.spectra.sdss.write_spec_lite`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from helpers import REAL_DATA_PRESENT, REAL_DIR, read_real_index, run_tiny, synthetic_coadd

from agn_saliency.spectra import sdss


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One real local run of the whole workflow on the tiny configuration (shared by the
    workflow tests and the SLURM test's local reference)."""
    workdir = tmp_path_factory.mktemp("tiny_run")
    result = run_tiny(workdir, "--cores", "2")
    if result.returncode != 0:
        pytest.fail(f"tiny workflow failed:\n{result.stderr[-6000:]}")
    return workdir


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "real_row" in metafunc.fixturenames:
        rows = read_real_index()
        metafunc.parametrize("real_row", rows, ids=[row["file"] for row in rows])


@pytest.fixture(scope="session")
def real_dir() -> Path:
    """The folder of real SDSS spectra (skips the test when it is absent)."""
    if not REAL_DATA_PRESENT:
        pytest.skip(f"real SDSS spectra not available ({REAL_DIR} absent)")
    return REAL_DIR


@pytest.fixture(scope="session")
def real_index(real_dir: Path) -> list[dict[str, str]]:
    """Rows of ``index.csv`` (file, plate, mjd, fiberid, z, sdss_class, sdss_subclass, expected, format)."""
    rows = read_real_index()
    assert len(rows) == 14, f"index.csv should list 14 files, lists {len(rows)}"
    return rows


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
