"""agn_saliency.io.fits / agn_saliency.spectra.sdss: real SDSS files, files we write, bad inputs, SAS paths.

astropy is the reference: the fast reader must agree with it on the 14 real files, and astropy must
accept every file the writer produces.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits as astropy_fits
from helpers import image_primary_bytes

from agn_saliency.core.units import SDSS_FLUX_UNIT
from agn_saliency.io import fits
from agn_saliency.spectra import sdss
from agn_saliency.spectra.sdss import SpectrumReadError

# ------------------------------------------------------------------------------ real SDSS files


def _astropy_hdu_names(path: Path) -> list[str]:
    with astropy_fits.open(path) as hdul:
        return [hdu.name for hdu in hdul]


def test_real_file_identity_and_shape(real_dir, real_row):
    spectrum = sdss.read_spectrum(real_dir / real_row["file"])
    assert (spectrum.plate, spectrum.mjd, spectrum.fiberid) == (
        int(real_row["plate"]),
        int(real_row["mjd"]),
        int(real_row["fiberid"]),
    )
    assert spectrum.z == pytest.approx(float(real_row["z"]), abs=1e-4)
    wavelength = spectrum.wavelength
    assert wavelength.ndim == 1 and wavelength.size > 1000
    assert np.all(np.diff(wavelength) > 0)
    assert 3500 <= wavelength[0] and wavelength[-1] <= 10500
    assert spectrum.flux.shape == spectrum.ivar.shape == spectrum.and_mask.shape == wavelength.shape
    assert spectrum.file_format == ("spSpec" if real_row["file"].startswith("spSpec") else "spec")


def test_real_file_equals_astropy(real_dir, real_row):
    path = real_dir / real_row["file"]
    spectrum = sdss.read_spectrum(path)
    with astropy_fits.open(path) as hdul:
        if real_row["file"].startswith("spSpec-"):
            _check_dr7(spectrum, hdul)
        else:
            _check_dr8(spectrum, hdul, path)


def _check_dr8(spectrum, hdul, path):
    coadd = hdul["COADD"].data
    np.testing.assert_array_equal(spectrum.flux, coadd["flux"].astype(np.float64))
    np.testing.assert_array_equal(spectrum.ivar, coadd["ivar"].astype(np.float64))
    np.testing.assert_array_equal(spectrum.and_mask, coadd["and_mask"].astype(np.int64))
    np.testing.assert_array_equal(spectrum.wavelength, 10.0 ** coadd["loglam"].astype(np.float64))
    # The reader's loglam column itself, compared without the 10** transform.
    np.testing.assert_array_equal(fits.read_hdus(path, max_hdus=2)[1].column("loglam"), coadd["loglam"])
    second = hdul[2]
    assert second.name in ("SPECOBJ", "SPALL")
    assert spectrum.z == float(second.data["Z"][0])
    assert spectrum.sdss_class == second.data["CLASS"][0].strip()
    assert spectrum.z_err == float(second.data["Z_ERR"][0])
    assert spectrum.zwarning == int(second.data["ZWARNING"][0])
    # run2d: the primary header's RUN2D (BOSS files), else the SPECOBJ column (SDSS-I/II files
    # have no RUN2D card in the primary header).
    expected_run2d = hdul[0].header.get("RUN2D", second.data["RUN2D"][0])
    assert spectrum.run2d == str(expected_run2d).strip()


def _check_dr7(spectrum, hdul):
    data = np.atleast_2d(hdul[0].data)
    header = hdul[0].header
    np.testing.assert_array_equal(spectrum.flux, data[0].astype(np.float64))
    index = np.arange(data.shape[1])
    expected_wavelength = 10.0 ** (header["COEFF0"] + header["COEFF1"] * index)
    np.testing.assert_allclose(spectrum.wavelength, expected_wavelength, rtol=1e-12)
    assert spectrum.z == pytest.approx(float(header["Z"]), abs=1e-7)  # DR7 z is in the header
    if "Z_ERR" in header:
        assert spectrum.z_err == pytest.approx(float(header["Z_ERR"]))
    if data.shape[0] >= 3:  # row 2 is the 1σ error
        error = data[2].astype(np.float64)
        good = error > 0
        np.testing.assert_allclose(spectrum.ivar[good], 1.0 / error[good] ** 2, rtol=1e-12)
        assert np.all(spectrum.ivar[~good] == 0)


def test_real_spall_files_are_boss(real_dir, real_index):
    spall = [row for row in real_index if "SPALL" in _astropy_hdu_names(real_dir / row["file"])[:3]]
    # The index's format column says which files carry SPALL; astropy must see the same ones.
    assert sorted(row["file"] for row in spall) == sorted(row["file"] for row in real_index if "SPALL" in row["format"])
    assert {int(row["plate"]) for row in spall} == {3586, 7338, 8222}
    for row in spall:
        spectrum = sdss.read_spectrum(real_dir / row["file"])
        assert spectrum.run2d.startswith("v"), (row["file"], spectrum.run2d)
        assert int(row["plate"]) > sdss.LAST_SDSS_PLATE
    for row in real_index:
        if row not in spall and row["file"].startswith("spec-"):
            assert sdss.read_spectrum(real_dir / row["file"]).run2d == "26"


def test_real_flux_only_dr7_has_positive_ivar(real_dir, real_index):
    assert sum(row["file"].startswith("spSpec-") for row in real_index) == 2
    path = real_dir / "spSpec-52767-1329-180.fit"
    with astropy_fits.open(path) as hdul:
        assert hdul[0].data.ndim == 1, "this real file is the flux-only spSpec"
    spectrum = sdss.read_spectrum(path)
    finite = np.isfinite(spectrum.flux)
    assert finite.sum() > 1000
    assert np.all(spectrum.ivar[finite] > 0)
    assert np.all(spectrum.and_mask == 0)


# ------------------------------------------------------------------------------ files we write


@pytest.mark.parametrize(("plate", "mjd", "fiberid", "run2d"), [(332, 52367, 639, "26"), (7338, 56660, 733, "v5_13_2")])
def test_written_spec_lite_is_valid_fits(tmp_path, coadd_factory, plate, mjd, fiberid, run2d):
    coadd = coadd_factory(z=0.2)
    coadd["and_mask"][::97] = 1 << 24
    path = tmp_path / f"spec-{plate:04d}-{mjd:05d}-{fiberid:04d}.fits"
    size = sdss.write_spec_lite(
        path,
        plate=plate,
        mjd=mjd,
        fiberid=fiberid,
        run2d=run2d,
        coadd=coadd,
        z=0.2,
        z_err=3e-5,
        zwarning=4,
        sdss_class="QSO",
        subclass="BROADLINE",
    )
    assert size == path.stat().st_size and size % 2880 == 0
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    with astropy_fits.open(path) as hdul:
        hdul.verify("exception")
        assert [hdu.name for hdu in hdul] == ["PRIMARY", "COADD", "SPECOBJ"]
        header = hdul[0].header
        assert (header["PLATEID"], header["MJD"], header["FIBERID"], header["RUN2D"]) == (plate, mjd, fiberid, run2d)
        table = hdul["COADD"].data
        for name in ("flux", "loglam", "ivar", "and_mask", "model"):
            np.testing.assert_array_equal(table[name], coadd[name])
        assert hdul["COADD"].columns["flux"].unit == SDSS_FLUX_UNIT
        specobj = hdul["SPECOBJ"].data
        assert len(specobj) == 1
        assert (specobj["PLATE"][0], specobj["MJD"][0], specobj["FIBERID"][0]) == (plate, mjd, fiberid)
        assert specobj["RUN2D"][0] == run2d
        assert specobj["Z"][0] == np.float32(0.2) and specobj["ZWARNING"][0] == 4
        assert specobj["CLASS"][0] == "QSO" and specobj["SUBCLASS"][0] == "BROADLINE"
    spectrum = sdss.read_spectrum(path)
    assert (spectrum.plate, spectrum.mjd, spectrum.fiberid, spectrum.run2d) == (plate, mjd, fiberid, run2d)
    assert spectrum.z == pytest.approx(0.2, abs=1e-7)
    assert (spectrum.sdss_class, spectrum.sdss_subclass) == ("QSO", "BROADLINE")
    np.testing.assert_array_equal(spectrum.flux, coadd["flux"])
    np.testing.assert_array_equal(spectrum.and_mask, coadd["and_mask"])


def test_header_card_values_round_trip(tmp_path):
    cards = [
        ("EXPTIME", 2700.5, "s"),
        ("NEGINT", -42, ""),
        ("BIGFLOAT", 1.25e-17, ""),
        ("FLAG", False, ""),
        ("QUOTED", "it's here", "a quote inside"),
        ("WHOLE", 3.0, ""),
    ]
    data = fits.primary_bytes(cards)
    path = tmp_path / "cards.fits"
    path.write_bytes(data)
    with astropy_fits.open(path) as hdul:
        hdul.verify("exception")
        header = hdul[0].header
        assert header["EXPTIME"] == 2700.5 and header["NEGINT"] == -42 and header["BIGFLOAT"] == 1.25e-17
        assert header["FLAG"] is False and header["QUOTED"] == "it's here"
        assert isinstance(header["WHOLE"], float)
    ours = fits.read_hdus(data)[0].header
    assert ours["EXPTIME"] == 2700.5 and ours["NEGINT"] == -42 and ours["BIGFLOAT"] == 1.25e-17
    assert ours["FLAG"] is False and ours["QUOTED"] == "it's here" and ours["WHOLE"] == 3.0


def test_image_primary_bytes_round_trips_with_astropy(tmp_path):
    rng = np.random.default_rng(7)
    image = rng.normal(10.0, 2.0, size=(5, 1234)).astype(np.float32)
    image[2] = np.abs(image[2]) + 0.1  # the error row
    cards = [
        ("COEFF0", 3.5797, "log10 of first wavelength"),
        ("COEFF1", 1e-4, ""),
        ("PLATEID", 542, ""),
        ("MJD", 51993, ""),
        ("FIBERID", 631, ""),
        ("Z", 0.125, ""),
        ("SPEC_CLN", 3, ""),
    ]
    path = tmp_path / "spSpec-51993-0542-631.fit"
    path.write_bytes(image_primary_bytes(image, cards))
    assert path.stat().st_size % 2880 == 0
    with astropy_fits.open(path) as hdul:
        hdul.verify("exception")
        assert hdul[0].data.shape == (5, 1234)
        np.testing.assert_array_equal(hdul[0].data, image)
        assert hdul[0].header["COEFF0"] == 3.5797 and hdul[0].header["PLATEID"] == 542
    np.testing.assert_array_equal(fits.read_hdus(path)[0].image(), image)
    spectrum = sdss.read_spectrum(path)  # a DR7-like file
    np.testing.assert_array_equal(spectrum.flux, image[0].astype(np.float64))
    np.testing.assert_allclose(spectrum.ivar, 1.0 / image[2].astype(np.float64) ** 2, rtol=1e-12)
    assert (spectrum.plate, spectrum.mjd, spectrum.fiberid, spectrum.z) == (542, 51993, 631, 0.125)
    assert spectrum.wavelength[0] == pytest.approx(10**3.5797) and spectrum.file_format == "spSpec"


def test_reader_agrees_with_astropy_on_an_astropy_written_table(tmp_path):
    rng = np.random.default_rng(3)
    columns = [
        astropy_fits.Column(name="flux", format="E", array=rng.normal(size=50).astype(np.float32)),
        astropy_fits.Column(name="count", format="J", array=rng.integers(-1000, 1000, 50)),
        astropy_fits.Column(name="big", format="K", array=rng.integers(-(2**40), 2**40, 50)),
        astropy_fits.Column(name="vec", format="3D", array=rng.normal(size=(50, 3))),
        astropy_fits.Column(name="name", format="6A", array=np.array([f"s{i}" for i in range(50)])),
    ]
    path = tmp_path / "table.fits"
    astropy_fits.HDUList([astropy_fits.PrimaryHDU(), astropy_fits.BinTableHDU.from_columns(columns, name="THING")]).writeto(path)
    hdu = fits.read_hdus(path)[1]
    assert hdu.name == "THING" and hdu.is_table
    with astropy_fits.open(path) as hdul:
        reference = hdul[1].data
        for name in ("flux", "count", "big", "vec"):
            np.testing.assert_array_equal(hdu.column(name), reference[name])
        assert hdu.column("name").tolist() == list(reference["name"])


# ------------------------------------------------------------------------------ bad inputs


def _reason(source) -> str:
    with pytest.raises(SpectrumReadError) as info:
        sdss.read_spectrum(source)
    return str(info.value)


def test_zero_byte_file_is_empty(tmp_path):
    path = tmp_path / "spec-0332-52367-0639.fits"
    path.write_bytes(b"")
    assert "empty" in _reason(path)
    assert "empty" in _reason(b"")


@pytest.mark.parametrize("name", ["spec-0332-52367-0639.fits", "spSpec-51993-0542-631.fit", "spSpec-52767-1329-180.fit"])
def test_first_half_of_a_real_file_is_truncated(real_dir, tmp_path, name):
    data = (real_dir / name).read_bytes()
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    assert "truncated" in _reason(path)


def test_truncated_written_spec_lite(spec_lite_factory):
    data = spec_lite_factory().read_bytes()
    # Inside the first header, inside the COADD header, at the middle, and with the last HDU's data
    # block cut off. (A cut exactly after the primary HDU leaves a valid FITS file without
    # extensions, which is "not an SDSS spectrum" rather than truncated.)
    for cut in (1000, 2880 + 1000, len(data) // 2, len(data) // 2 + 17, len(data) - 2880):
        assert "truncated" in _reason(data[:cut]), cut


def test_text_file_is_not_fits(tmp_path):
    path = tmp_path / "spec-0332-52367-0639.fits"
    path.write_text("<html><body>404 Not Found</body></html>\n" * 100)
    assert "not a FITS" in _reason(path)


def test_fits_that_is_not_an_sdss_spectrum(tmp_path):
    rng = np.random.default_rng(0)
    table = astropy_fits.BinTableHDU.from_columns(
        [
            astropy_fits.Column(name="a", format="E", array=rng.normal(size=20)),
            astropy_fits.Column(name="b", format="J", array=rng.integers(0, 100, 20)),
        ]
    )
    path = tmp_path / "table.fits"
    astropy_fits.HDUList([astropy_fits.PrimaryHDU(), table]).writeto(path)
    assert "not an SDSS spectrum" in _reason(path)
    image_path = tmp_path / "image.fits"  # an image without the DR7 wavelength solution
    astropy_fits.PrimaryHDU(rng.normal(size=(3, 100)).astype(np.float32)).writeto(image_path)
    assert "not an SDSS spectrum" in _reason(image_path)
    only_primary = tmp_path / "primary.fits"
    astropy_fits.PrimaryHDU().writeto(only_primary)
    assert "not an SDSS spectrum" in _reason(only_primary)


def test_missing_path(tmp_path):
    assert "unreadable" in _reason(tmp_path / "does-not-exist.fits")


# ------------------------------------------------------------------------------ SAS paths


def test_spec_lite_relpath_follows_guide():
    assert sdss.spec_lite_relpath(332, 52367, 639, "26") == (
        "dr17/sdss/spectro/redux/26/spectra/lite/0332/spec-0332-52367-0639.fits"
    )
    assert sdss.spec_lite_relpath(7338, 56660, 733, "v5_13_2") == (
        "dr17/eboss/spectro/redux/v5_13_2/spectra/lite/7338/spec-7338-56660-0733.fits"
    )
    # Without a run2d the plate number decides (SDSS-I/II → 26, BOSS/eBOSS → v5_13_2).
    assert sdss.spec_lite_relpath(266, 51602, 1) == "dr17/sdss/spectro/redux/26/spectra/lite/0266/spec-0266-51602-0001.fits"
    assert sdss.spec_lite_relpath(8222, 57431, 561, "").startswith("dr17/eboss/spectro/redux/v5_13_2/spectra/lite/8222/")
    # Special SDSS plates with run2d 103/104 stay in the sdss tree.
    assert sdss.spec_lite_relpath(1962, 53321, 10, "104").startswith("dr17/sdss/spectro/redux/104/")


def test_specid_format():
    assert sdss.specid(332, 52367, 9) == "0332-52367-0009"
    assert sdss.specid(7338, 56660, 733) == "7338-56660-0733"


def test_a_header_seen_before_is_reused_only_for_the_same_bytes():
    """Two files whose table headers share their first block but differ later (a column's name):
    each file's HDU has its own header and columns (the memo of parsed headers matches whole
    headers), and changing one HDU's header dict leaves the other file's alone."""
    names = [f"COL{i:03d}" for i in range(60)]  # 120+ cards: a header of three blocks
    table = np.zeros(2, dtype=[(name, ">f8") for name in names])
    table["COL000"] = [1.5, 2.5]
    first = fits.primary_bytes([]) + fits.table_bytes(table, "WIDE")
    renamed = table.copy()
    renamed.dtype.names = [*names[:-1], "LASTONE"]
    second = fits.primary_bytes([]) + fits.table_bytes(renamed, "WIDE")
    assert first[2880 : 2 * 2880] == second[2880 : 2 * 2880] and first != second  # same first block of HDU 1
    for _ in range(2):  # the second time, both headers are known
        wide_first, wide_second = fits.read_hdus(first)[1], fits.read_hdus(second)[1]
        assert wide_first.column_names[-1] == "COL059" and wide_second.column_names[-1] == "LASTONE"
        assert list(wide_first.column("COL000")) == [1.5, 2.5]
        with pytest.raises(KeyError, match="LASTONE"):
            wide_first.column("LASTONE")
    again = fits.read_hdus(first)[1]
    again.header["EXTNAME"] = "CHANGED"
    assert fits.read_hdus(first)[1].name == "WIDE"


def test_first_value_and_has_column_agree_with_the_columns(real_dir, tmp_path):
    """``HDU.first`` is ``column(name)[0]`` (value and type) for every column of every table of the
    real files and of a table with blank-padded, non-ASCII and empty strings and no rows;
    ``has_column`` is ``name in column_names``."""
    strings = np.zeros(2, dtype=[("NAME", "S8"), ("VALUE", ">f4"), ("COUNT", ">i8")])
    strings["NAME"] = [b"ab  \xff", b""]
    empty = np.zeros(0, dtype=[("NAME", "S8"), ("VALUE", ">f4")])
    made = fits.primary_bytes([]) + fits.table_bytes(strings, "STRINGS") + fits.table_bytes(empty, "EMPTY")
    files = [fits.read_hdus(path) for path in sorted(real_dir.glob("*.fits*"))[:6]] + [fits.read_hdus(made)]
    checked = 0
    for hdus in files:
        for hdu in hdus:
            if not hdu.is_table:
                continue
            for name in hdu.column_names:
                try:
                    values = hdu.column(name)
                except ValueError as error:  # an empty table's column after the first: column() fails, and so does first()
                    with pytest.raises(type(error)):
                        hdu.first(name, "default")
                    continue
                expected = values[0] if len(values) else "default"
                got = hdu.first(name.lower(), "default")
                if isinstance(expected, np.ndarray):  # a vector cell: column()[0] itself
                    same = got.tobytes() == expected.tobytes() and got.dtype == expected.dtype
                else:
                    same = got == expected or (isinstance(got, np.floating) and np.isnan(got) and np.isnan(expected))
                assert type(got) is type(expected) and same, (hdu.name, name)
                assert hdu.has_column(name) and not hdu.has_column(name + "_NOT")
                checked += 1
            assert hdu.first("NO_SUCH_COLUMN", -7) == -7
    assert checked > 100
    assert fits.read_hdus(made)[1].first("NAME", None) == "ab  \ufffd"


def test_a_column_read_as_numbers_of_another_type(real_dir):
    """``column(name, numbers_as)`` is ``column(name).astype(numbers_as)``; a column that is not one
    number a row (strings, vectors) comes back as ``column(name)``."""
    strings = np.zeros(3, dtype=[("NAME", "S4"), ("VECTOR", ">f4", (2,)), ("COUNT", ">i4")])
    strings["COUNT"] = [1, -2, 2**31 - 1]
    made = fits.read_hdus(fits.primary_bytes([]) + fits.table_bytes(strings, "MIXED"))[1]
    assert made.column("NAME", np.float64).dtype.kind == "U" and made.column("VECTOR", np.float64).shape == (3, 2)
    assert made.column("COUNT", np.float64).tolist() == [1.0, -2.0, 2**31 - 1]
    coadd = fits.read_hdus(sorted(real_dir.glob("spec-*.fits"))[0])[1]
    for name, dtype in (("flux", np.float64), ("loglam", np.float64), ("and_mask", np.int64)):
        got, expected = coadd.column(name, dtype), coadd.column(name).astype(dtype)
        assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes()
