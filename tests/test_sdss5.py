"""SDSS-V (DR18/DR19) spec-lite files: the reader, the reduction, the download by ids, predict.

The fixture is a real BOSS spectrum's arrays (``../shared/data/sdss_real``) rewritten with the
DR19 data model's HDU names, columns and header keys (:func:`helpers.sdss5_fixture_bytes`),
built in ``tmp_path`` and marked ``SYNTHET = T`` in its header.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from agn_saliency.io import fits
from agn_saliency.spectra import reduce, sdss, sdss5

sys.path.insert(0, str(Path(__file__).parent))
from helpers import REAL_DIR, SDSS5_IDS, SDSS5_SDSS_ID, SDSS5_SOURCE, needs_real, sdss5_fixture_bytes  # noqa: E402

pytestmark = needs_real


@pytest.fixture
def sdss5_file(tmp_path: Path) -> Path:
    path = tmp_path / sdss5.spec_lite_relpath(**SDSS5_IDS)
    path.parent.mkdir(parents=True)
    path.write_bytes(sdss5_fixture_bytes())
    return path


def test_relpath_follows_the_dr19_layout():
    assert sdss5.spec_lite_relpath(**SDSS5_IDS) == (
        "dr19/spectro/boss/redux/v6_1_3/spectra/lite/015173/59381/spec-015173-59381-4350968445.fits"
    )
    assert sdss5.SPEC_FILE_PATTERN.match(Path(sdss5.spec_lite_relpath(**SDSS5_IDS)).name)
    assert not sdss5.SPEC_FILE_PATTERN.match("spec-0266-51602-0001.fits")


def test_fixture_has_the_dr19_layout_and_is_marked_synthetic(sdss5_file: Path):
    hdus = fits.read_hdus(sdss5_file)
    assert [hdu.name for hdu in hdus] == ["PRIMARY", "COADD", "SPALL", "ZALL", "ZLINE"]
    assert hdus[0].header["SYNTHET"] is True and hdus[0].header["VACUUM"] is True
    assert hdus[0].header["FIELDID"] == "015173" and hdus[0].header["PLATEID"] == ""
    assert hdus[1].column_names == list(sdss5.COADD_COLUMNS)
    assert {"FIELD", "MJD", "CATALOGID", "SDSS_ID", "CLASS", "SUBCLASS", "Z", "Z_ERR", "ZWARNING"} <= set(hdus[2].column_names)


@pytest.mark.parametrize("lower_case", [False, True], ids=["upper-case columns", "lower-case columns"])
def test_reader_gives_the_real_arrays_and_ids(tmp_path: Path, lower_case: bool):
    from astropy.io import fits as astropy_fits

    path = tmp_path / "spec-015173-59381-4350968445.fits"
    path.write_bytes(sdss5_fixture_bytes(lower_case=lower_case))
    spectrum = sdss5.read_spectrum(path)
    with astropy_fits.open(REAL_DIR / SDSS5_SOURCE) as hdul:
        real, spall = hdul[1].data, hdul[2].data[0]
        np.testing.assert_array_equal(spectrum.flux, real["flux"].astype(np.float64))
        np.testing.assert_array_equal(spectrum.ivar, real["ivar"].astype(np.float64))
        np.testing.assert_array_equal(spectrum.wavelength, 10.0 ** real["loglam"].astype(np.float64))
        np.testing.assert_array_equal(spectrum.and_mask, real["and_mask"])
        assert spectrum.z == pytest.approx(float(spall["Z"]), abs=0) and spectrum.sdss_class == "QSO"
    assert (spectrum.field, spectrum.mjd, spectrum.catalogid, spectrum.sdss_id) == (15173, 59381, 4350968445, SDSS5_SDSS_ID)
    assert spectrum.specid == "015173-59381-4350968445" and spectrum.survey == "sdss5"
    assert spectrum.run2d == "v6_1_3" and spectrum.wresl is not None and np.all(spectrum.wresl > 0)


def test_sdss_reader_refuses_an_sdss5_file_and_sdss5_reader_an_sdss_file(sdss5_file: Path):
    with pytest.raises(sdss.SpectrumReadError, match="SDSS-V"):
        sdss.read_spectrum(sdss5_file)
    with pytest.raises(sdss.SpectrumReadError, match="not an SDSS-V spectrum"):
        sdss5.read_spectrum(REAL_DIR / SDSS5_SOURCE)


def test_reduction_equals_that_of_the_real_boss_file(sdss5_file: Path):
    """Same arrays, same vacuum wavelengths, same z: the reduced spectrum is identical."""
    params = reduce.ReductionParameters()
    original = sdss.read_spectrum(REAL_DIR / SDSS5_SOURCE)
    rewritten = sdss5.read_spectrum(sdss5_file)
    a = reduce.reduce_spectrum(original, original.z, params)
    b = reduce.reduce_spectrum(rewritten, rewritten.z, params)
    np.testing.assert_array_equal(a.flux, b.flux)
    assert np.isfinite(b.flux).all() and b.flux.size == params.n_pixels
