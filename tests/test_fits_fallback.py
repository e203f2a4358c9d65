"""agn_saliency.io.fits: what the fast path hands to astropy gives astropy's values, compressed files
read like plain ones, read errors become per-spectrum rejections, and the writer only writes cards
astropy reads back identically.

Every case file is written with astropy.io.fits in tmp_path and read back both ways.
"""

from __future__ import annotations

import bz2
import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits as astropy_fits

from agn_saliency.acquire import download, inventory
from agn_saliency.io import fits
from agn_saliency.spectra import sdss
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory
from agn_saliency.spectra.sdss import SpectrumReadError


def _write(path: Path, *hdus) -> Path:
    astropy_fits.HDUList(
        [astropy_fits.PrimaryHDU(), *hdus] if not isinstance(hdus[0], astropy_fits.PrimaryHDU) else list(hdus)
    ).writeto(path)
    return path


def _patch_cards(path: Path, cards: dict[str, str]) -> Path:
    """Replace placeholder cards (written by astropy as ``KEY = 0``) by the given card texts: for
    cards astropy would not write the way a test needs (a text BSCALE, TSCALn on raw integers)."""
    data = bytearray(path.read_bytes())
    for placeholder, card in cards.items():
        at = data.find(f"{placeholder:<8}=".encode())
        assert at >= 0 and at % 80 == 0, placeholder
        data[at : at + 80] = card.encode().ljust(80)
    path.write_bytes(bytes(data))
    return path


def _assert_same(ours: np.ndarray, reference) -> None:
    reference = np.asarray(reference)
    assert ours.shape == reference.shape, (ours.shape, reference.shape)
    if reference.dtype.kind in "OU":  # string widths may differ; the values may not
        assert ours.dtype.kind == reference.dtype.kind, (ours.dtype, reference.dtype)
    else:
        assert ours.dtype == reference.dtype.newbyteorder("="), (ours.dtype, reference.dtype)
    if reference.dtype.kind == "O":
        assert len(ours) == len(reference)
        for a, b in zip(ours, reference):
            np.testing.assert_array_equal(a, b)
    else:
        np.testing.assert_array_equal(ours, reference)


# ------------------------------------------------------------------------------ header cards


def test_continue_long_string_is_whole(tmp_path):
    hdu = astropy_fits.PrimaryHDU()
    long_text = "a long provenance string, " * 6
    hdu.header["LONGSTR"] = long_text
    hdu.header["AFTER"] = 7
    path = _write(tmp_path / "continue.fits", hdu)
    assert b"CONTINUE" in path.read_bytes()
    header = fits.read_hdus(path)[0].header
    with astropy_fits.open(path) as hdul:
        assert header["LONGSTR"] == hdul[0].header["LONGSTR"] == long_text.rstrip()
    assert header["AFTER"] == 7 and "CONTINUE" not in header


def test_hierarch_keyword_is_kept(tmp_path):
    hdu = astropy_fits.PrimaryHDU()
    hdu.header["HIERARCH ESO DET CHIP TEMP"] = -120.5
    hdu.header["PLAIN"] = "x"
    path = _write(tmp_path / "hierarch.fits", hdu)
    header = fits.read_hdus(path)[0].header
    with astropy_fits.open(path) as hdul:
        assert header["ESO DET CHIP TEMP"] == hdul[0].header["ESO DET CHIP TEMP"] == -120.5
    assert header["PLAIN"] == "x"


def test_real_headers_equal_astropy_and_need_no_fallback(real_dir, real_row):
    """The fast path decodes every card of the real files as astropy does, with no fallback for
    anything the reduction reads (else the speed the fast path exists for would be gone)."""
    path = real_dir / real_row["file"]
    hdus = fits.read_hdus(path, max_hdus=3)
    with astropy_fits.open(path) as hdul:
        for hdu in hdus:
            assert hdu.fallback == ""
            reference = fits._astropy_header(hdul[hdu.index].header)
            assert hdu.header == reference, hdu.index
    if real_row["file"].startswith("spec-"):
        assert all(hdus[1].column_fallback(name) == "" for name in ("flux", "loglam", "ivar", "and_mask"))
        assert all(hdus[2].column_fallback(name) == "" for name in ("Z", "PLATE", "MJD", "FIBERID", "CLASS", "SUBCLASS"))
    else:
        assert hdus[0].image_fallback() == ""


def test_real_spall_every_column_equals_astropy(real_dir, real_index):
    """SPALL has TDIM and TSCAL/TZERO columns: those go to astropy, the rest stay fast; all agree."""
    spall = [row["file"] for row in real_index if "SPALL" in row["format"]]
    assert spall
    reasons: set[str] = set()
    for name in spall:
        hdu = fits.read_hdus(real_dir / name, max_hdus=3)[2]
        reasons |= {reason.split("/")[0].rstrip("0123456789") for reason in map(hdu.column_fallback, hdu.column_names)}
        with astropy_fits.open(real_dir / name) as hdul:
            for column in hdu.column_names:
                _assert_same(hdu.column(column), hdul[2].data[column])
    assert reasons == {"", "TDIM", "TSCAL"}  # SPECOBJID is uint64 through TZERO = 2**63


# ------------------------------------------------------------------------------ images


@pytest.mark.parametrize("case", ["blank_bscale", "uint16", "int8", "float_bzero"])
def test_scaled_images_equal_astropy(tmp_path, case):
    rng = np.random.default_rng(1)
    if case == "blank_bscale":
        raw = rng.integers(-1000, 1000, size=(4, 300)).astype(np.int16)
        raw[0, ::7] = -32768
        hdu = astropy_fits.PrimaryHDU(raw)
        hdu.header["BSCALE"], hdu.header["BZERO"], hdu.header["BLANK"] = 0.5, 10.0, -32768
    elif case == "uint16":
        hdu = astropy_fits.PrimaryHDU(rng.integers(0, 65535, size=(3, 200)).astype(np.uint16))  # BZERO = 32768
    elif case == "int8":
        hdu = astropy_fits.PrimaryHDU(rng.integers(-128, 127, size=(2, 100)).astype(np.int8))  # BZERO = -128
    else:
        hdu = astropy_fits.PrimaryHDU(rng.normal(size=(2, 100)).astype(np.float32))
        hdu.header["BZERO"] = 3.0
    path = tmp_path / f"{case}.fits"
    hdu.writeto(path)
    ours = fits.read_hdus(path)[0]
    assert ours.image_fallback()
    with astropy_fits.open(path) as hdul:
        reference = hdul[0].data
        _assert_same(ours.image(), reference)
    if case == "blank_bscale":
        assert np.isnan(ours.image()[0, ::7]).all()


def test_tile_compressed_image_equals_astropy(tmp_path):
    image = np.random.default_rng(2).normal(size=(3, 500)).astype(np.float32)
    path = _write(tmp_path / "tiles.fits", astropy_fits.CompImageHDU(image, compression_type="GZIP_1"))
    hdu = fits.read_hdus(path)[1]
    assert "ZIMAGE" in hdu.fallback and not hdu.is_table
    assert (hdu.header["NAXIS1"], hdu.header["NAXIS2"]) == (500, 3)  # the image's header, not the table's
    with astropy_fits.open(path) as hdul:
        _assert_same(hdu.image(), hdul[1].data)


def test_corrupt_tile_compressed_image_is_a_format_error(tmp_path):
    image = np.random.default_rng(2).normal(size=(3, 500)).astype(np.float32)
    data = bytearray(_write(tmp_path / "tiles.fits", astropy_fits.CompImageHDU(image, compression_type="GZIP_1")).read_bytes())
    size = fits.read_hdus(bytes(data))[1].raw.nbytes
    start = len(data) - (size + fits.BLOCK - 1) // fits.BLOCK * fits.BLOCK
    for i in range(start + 200, start + size - 10):
        data[i] ^= 0x5A
    path = tmp_path / "corrupt.fits"
    path.write_bytes(bytes(data))
    with pytest.raises(Exception), astropy_fits.open(path) as hdul:  # noqa: B017 - astropy's own error
        hdul[1].data  # noqa: B018
    with pytest.raises(fits.FitsFormatError, match="astropy cannot read the image"):
        fits.read_hdus(path)[1].image()


# ------------------------------------------------------------------------------ table columns


def _table_case(tmp_path: Path) -> Path:
    rng = np.random.default_rng(3)
    n = 40
    columns = [
        astropy_fits.Column(name="cplx", format="C", array=rng.normal(size=n) + 1j * rng.normal(size=n)),
        astropy_fits.Column(name="scaled", format="J", array=rng.integers(-500, 500, n).astype(np.int32)),
        astropy_fits.Column(name="after", format="E", array=rng.normal(size=n).astype(np.float32)),
        astropy_fits.Column(name="flag", format="L", array=rng.random(n) > 0.5),
        astropy_fits.Column(name="bits", format="11X", array=rng.random((n, 11)) > 0.5),
        astropy_fits.Column(name="cube", format="6E", dim="(3,2)", array=rng.normal(size=(n, 2, 3)).astype(np.float32)),
        astropy_fits.Column(name="u16", format="I", bzero=32768, array=rng.integers(0, 65535, n).astype(np.uint16)),
        astropy_fits.Column(name="dcplx", format="2M", array=rng.normal(size=(n, 2)) + 0j),
        astropy_fits.Column(
            name="vla",
            format="PE()",
            array=np.array([rng.normal(size=int(k)).astype(np.float32) for k in rng.integers(0, 9, n)], dtype=object),
        ),
        astropy_fits.Column(
            name="vlq",
            format="QJ()",
            array=np.array([rng.integers(0, 9, int(k)).astype(np.int32) for k in rng.integers(0, 5, n)], dtype=object),
        ),
        astropy_fits.Column(name="text", format="8A", array=np.array([f" x{i}" for i in range(n)])),
        astropy_fits.Column(name="last", format="D", array=rng.normal(size=n)),
    ]
    table = astropy_fits.BinTableHDU.from_columns(columns, name="CASES")
    table.header["PLACE1"], table.header["PLACE2"] = 0, 0
    return _patch_cards(
        _write(tmp_path / "table.fits", table),
        {"PLACE1": "TSCAL2  =                 0.25", "PLACE2": "TZERO2  =                100.0"},
    )


def test_every_column_kind_equals_astropy(tmp_path):
    path = _table_case(tmp_path)
    hdu = fits.read_hdus(path)[1]
    expected_fallback = {
        "CPLX": "format C",
        "SCALED": "TSCAL2/TZERO2",
        "FLAG": "format L",
        "BITS": "bit column (X)",
        "CUBE": "TDIM6",
        "U16": "TSCAL7/TZERO7",
        "DCPLX": "format M",
        "VLA": "format P",
        "VLQ": "format Q",
    }
    with astropy_fits.open(path) as hdul:
        reference = hdul[1].data
        assert hdu.column_names == [name.upper() for name in reference.columns.names]
        for name in hdu.column_names:
            assert hdu.column_fallback(name) == expected_fallback.get(name, ""), name
            _assert_same(hdu.column(name), reference[name])
    assert hdu.column("flag").dtype == bool and hdu.column("cube").shape == (40, 2, 3)
    assert hdu.column("text")[0] == " x0"  # leading blanks kept, trailing dropped, as astropy does


def test_tscal_after_a_complex_column_belongs_to_its_own_column(tmp_path):
    """TSCALn/TZEROn are looked up by the column's own number n, not its position among the
    columns the fast path decodes (a C column before it used to shift the lookup by one)."""
    n = 10
    columns = [
        astropy_fits.Column(name="c", format="C", array=np.arange(n) + 1j),
        astropy_fits.Column(name="plain", format="E", array=np.arange(n, dtype=np.float32)),
        astropy_fits.Column(name="scaled", format="I", array=np.arange(n, dtype=np.int16)),
    ]
    table = astropy_fits.BinTableHDU.from_columns(columns)
    table.header["PLACE1"], table.header["PLACE2"] = 0, 0
    path = _patch_cards(
        _write(tmp_path / "shift.fits", table),
        {"PLACE1": "TSCAL3  =                  2.0", "PLACE2": "TZERO3  =                  5.0"},
    )
    with astropy_fits.open(path) as hdul:
        np.testing.assert_array_equal(hdul[1].data["scaled"], np.arange(n) * 2.0 + 5.0)
    hdu = fits.read_hdus(path)[1]
    np.testing.assert_array_equal(hdu.column("plain"), np.arange(n, dtype=np.float32))
    np.testing.assert_array_equal(hdu.column("scaled"), np.arange(n) * 2.0 + 5.0)


def test_a_table_layout_is_shared_only_by_tables_with_the_same_column_cards(tmp_path):
    """Table layouts are kept across files (one per kind of table): a table that differs from a
    kept one only in a TSCALn, a TDIMn or a TTYPEn still gets its own, astropy's values."""
    n = 6

    def table(path: Path, cards: dict[str, str]) -> Path:
        columns = [
            astropy_fits.Column(name="a", format="2I", array=np.arange(2 * n, dtype=np.int16).reshape(n, 2)),
            astropy_fits.Column(name="b", format="E", array=np.arange(n, dtype=np.float32)),
        ]
        hdu = astropy_fits.BinTableHDU.from_columns(columns)
        hdu.header["PLACE1"], hdu.header["PLACE2"] = 0, 0  # TDIM/TSCAL/TZERO text in every variant
        return _patch_cards(_write(path, hdu), cards)

    plain = {"PLACE1": "TZERO9  =                  0.0", "PLACE2": "TSCAL9  =                  1.0"}
    variants = {
        "plain": plain,
        "tscal": plain | {"PLACE2": "TSCAL2  =                  2.0"},
        "tdim": plain | {"PLACE1": "TDIM1   = '(1,2)   '"},
        "ttype": plain | {"TTYPE1": "TTYPE1  = 'c       '"},
    }
    for name, cards in [*variants.items(), ("plain again", plain)]:
        path = table(tmp_path / f"{name}.fits", cards)
        hdu = fits.read_hdus(path)[1]
        with astropy_fits.open(path) as hdul:
            reference = hdul[1].data
            assert hdu.column_names == [c.upper() for c in reference.columns.names], name
            for column in reference.columns.names:
                _assert_same(hdu.column(column), reference[column])
    assert fits.read_hdus(table(tmp_path / "tscal2.fits", variants["tscal"]))[1].column_fallback("B") == "TSCAL2/TZERO2"


# ------------------------------------------------------------------------------ compressed files


@pytest.mark.parametrize("compress", [gzip.compress, bz2.compress], ids=["gzip", "bzip2"])
def test_compressed_real_file_reads_like_the_plain_one(real_dir, real_row, tmp_path, compress):
    data = (real_dir / real_row["file"]).read_bytes()
    packed = compress(data)
    suffix = ".gz" if compress is gzip.compress else ".bz2"
    path = tmp_path / (real_row["file"] + suffix)
    path.write_bytes(packed)
    plain, ours = sdss.read_spectrum(real_dir / real_row["file"]), sdss.read_spectrum(path)
    for spectrum in (ours, sdss.read_spectrum(packed)):
        for name in ("wavelength", "flux", "ivar", "and_mask"):
            np.testing.assert_array_equal(getattr(spectrum, name), getattr(plain, name))
        for name in ("plate", "mjd", "fiberid", "run2d", "sdss_class", "sdss_subclass", "file_format"):
            assert getattr(spectrum, name) == getattr(plain, name)
        assert spectrum.z == plain.z or (np.isnan(spectrum.z) and np.isnan(plain.z))
    if compress is gzip.compress:
        with astropy_fits.open(path) as hdul:  # astropy reads the same file
            assert len(hdul) == len(fits.read_hdus(path))


def test_last_file_digest_is_of_the_bytes_read_while_the_file_is_unchanged(real_dir, tmp_path):
    import os

    import xxhash

    from agn_saliency.predict.folder import file_digest

    plain = tmp_path / "a.fits"
    shutil.copyfile(real_dir / "spec-0266-51602-0573.fits", plain)
    packed = tmp_path / "b.fits.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert fits.last_file_digest(tmp_path / "never-read.fits") is None
    fits.read_hdus(plain, max_hdus=2)
    assert fits.last_file_digest(plain) == "xxh3_128:" + xxhash.xxh3_128_hexdigest(plain.read_bytes()) == file_digest(plain)
    fits.read_hdus(packed)
    assert fits.last_file_digest(plain) is None  # no longer the last file read
    assert fits.last_file_digest(packed) == "xxh3_128:" + xxhash.xxh3_128_hexdigest(packed.read_bytes())  # the bytes on disk
    assert fits.last_file_digest(packed) == file_digest(packed) != file_digest(plain)
    status = os.stat(packed)
    os.utime(packed, ns=(status.st_atime_ns, status.st_mtime_ns + 1))  # changed since the read (or only touched)
    assert fits.last_file_digest(packed) is None


def test_read_bytes_reads_past_the_size_a_file_reports(tmp_path):
    """read_bytes asks for a file's size (+1) first; what a pipe (size 0) holds is still read
    whole, and still capped."""
    import os
    import threading

    payload = bytes(range(256)) * 40  # 10 kB: more than one pipe read may return at once
    for cap_mb, expected in ((1, payload), (0.005, None)):
        read, write = os.pipe()
        writer = threading.Thread(target=lambda fd=write: (os.write(fd, payload), os.close(fd)))
        writer.start()
        previous = fits.set_read_limits(fits.ReadLimits(max_bytes=int(cap_mb * 2**20)))
        try:
            if expected is None:
                with pytest.raises(fits.FitsFormatError, match="larger than limits.max_decompressed_mb"):
                    fits.read_bytes(f"/dev/fd/{read}")
            else:
                assert fits.read_bytes(f"/dev/fd/{read}") == expected
        finally:
            fits.set_read_limits(previous)
            writer.join()
            os.close(read)


def test_header_blocks_known_from_another_file_parse_as_their_own():
    """Header blocks are memoised by their bytes: a block seen in another header gives the same
    cards, the first card of a keyword still counts across blocks, and cards after END do not."""

    def header(cards: list[str]) -> memoryview:
        text = "".join(f"{card:<80}" for card in cards)
        return memoryview((text + " " * (-len(text) % fits.BLOCK)).encode("ascii"))

    first_block = ["SIMPLE  =                    T", *[f"KEY{i:<5d}= {i:>20d}" for i in range(35)]]
    a = header([*first_block, "KEY0    =                   -1", "LATER   = 'a'", "END"])
    b = header([*first_block, "LATER   = 'b'", "END", "AFTER   =                    1"])
    for buffer, later in ((a, "a"), (b, "b"), (a, "a")):
        parsed, data_start = fits.parse_header(buffer, 0)
        assert parsed["KEY0"] == 0 and parsed["KEY34"] == 34 and parsed["LATER"] == later and "AFTER" not in parsed
        assert data_start == 2 * fits.BLOCK


def test_cut_gzip_is_truncated(real_dir, tmp_path):
    packed = gzip.compress((real_dir / "spec-0332-52367-0639.fits").read_bytes())
    with pytest.raises(SpectrumReadError, match="truncated"):
        sdss.read_spectrum(packed[: len(packed) // 2])
    with pytest.raises(SpectrumReadError, match="not a FITS file \\(after decompression\\)"):
        sdss.read_spectrum(gzip.compress(b"<html>404</html>" * 200))


def test_download_verification_accepts_gzip_bytes(real_dir, tmp_path):
    packed = gzip.compress((real_dir / "spec-0332-52367-0639.fits").read_bytes())
    assert download.verify_spectrum_file(packed, 332, 52367, 639) is None
    path = tmp_path / "spec-0332-52367-0639.fits.gz"
    path.write_bytes(packed)
    assert download.verify_spectrum_file(path, 332, 52367, 639) is None
    assert "truncated" in download.verify_spectrum_file(packed[:-100], 332, 52367, 639)


def test_compressed_names_are_fits_files(tmp_path):
    names = [
        "spec-0332-52367-0639.fits.gz",
        "spSpec-51993-0542-631.fit.gz",
        "spec-0266-51602-0001.FITS.BZ2",
        "other.fts",
        "notes.txt",
        "spec-0332-52367-0639.gz",
        ".hidden.fits.gz",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in inventory.fits_files(tmp_path)] == sorted(names[:4])
    assert inventory.ids_from_filename("spec-0332-52367-0639.fits.gz") == (332, 52367, 639)
    assert inventory.ids_from_filename("spSpec-51993-0542-631.fit.gz") == (542, 51993, 631)
    assert inventory.ids_from_filename("spec-0332-52367-0639.fits.bz2") == (332, 52367, 639)
    assert inventory.ids_from_filename("spec-0332-52367-0639.fits.zip") is None
    assert sdss.SPEC_FILE_PATTERN.match("spSpec-51993-0542-631.fit.gz")
    assert inventory.file_keys(tmp_path, [tmp_path / "a.fits", tmp_path / "a.fits.gz"]) == ["a", "a-2"]


# ------------------------------------------------------------------------------ read errors


def _dr7_with_text_bscale(path: Path) -> Path:
    """A DR7-like int16 image whose BSCALE is text: the fast path hands the image to astropy, which
    raises (it cannot multiply by a string)."""
    image = astropy_fits.PrimaryHDU(np.ones((3, 2000), np.int16))
    for key, value in (
        ("COEFF0", 3.58),
        ("COEFF1", 1e-4),
        ("PLATEID", 1),
        ("MJD", 51000),
        ("FIBERID", 7),
        ("Z", 0.1),
        ("PLACE1", 0),
    ):
        image.header[key] = value
    image.writeto(path)
    return _patch_cards(path, {"PLACE1": "BSCALE  = 'abc'"})


def test_astropy_error_is_a_rejection_not_a_crash(tmp_path, real_dir):
    bad = _dr7_with_text_bscale(tmp_path / "spSpec-51000-0001-007.fit")
    with pytest.raises(Exception), astropy_fits.open(bad) as hdul:  # noqa: B017 - astropy's own error
        hdul[0].data  # noqa: B018
    with pytest.raises(SpectrumReadError, match="astropy cannot read the image"):
        sdss.read_spectrum(bad)
    # A variable-length flux column (astropy reads it, as arrays per row): rejected, not a ValueError.
    n = 50
    coadd = astropy_fits.BinTableHDU.from_columns(
        [
            astropy_fits.Column(name="flux", format="PE()", array=np.array([np.ones(3, np.float32)] * n, dtype=object)),
            astropy_fits.Column(name="loglam", format="E", array=np.linspace(3.6, 3.9, n).astype(np.float32)),
            astropy_fits.Column(name="ivar", format="E", array=np.ones(n, np.float32)),
        ],
        name="COADD",
    )
    primary = astropy_fits.PrimaryHDU()
    primary.header.update(PLATEID=2, MJD=51001, FIBERID=8)
    vla = _write(tmp_path / "spec-0002-51001-0008.fits", primary, coadd)
    with pytest.raises(SpectrumReadError, match="not one number per pixel"):
        sdss.read_spectrum(vla)
    shutil.copy(real_dir / "spec-0332-52367-0639.fits", tmp_path)
    rows = inventory.scan_folder(tmp_path)
    result = reduce_inventory(rows, ReductionParameters())
    assert len(result.flux) == 1 and list(result.meta["specid"]) == ["0332-52367-0639"]
    reasons = {row["specid"]: row["reason"] for row in result.rejected}
    assert set(reasons) == {"0001-51000-0007", "0002-51001-0008"}
    assert "astropy cannot read the image" in reasons["0001-51000-0007"]
    assert "not one number per pixel" in reasons["0002-51001-0008"]


# ------------------------------------------------------------------------------ acceptance: mixed folder


def test_mixed_folder_gives_the_cube_rows_of_the_plain_files(real_dir, real_index, tmp_path):
    plain, mixed = tmp_path / "plain", tmp_path / "mixed"
    plain.mkdir()
    mixed.mkdir()
    for number, row in enumerate(real_index):
        data = (real_dir / row["file"]).read_bytes()
        (plain / row["file"]).write_bytes(data)
        if number % 3 == 0:
            (mixed / (row["file"] + ".gz")).write_bytes(gzip.compress(data))
        elif number % 3 == 1 and row["file"].startswith("spec-"):
            (mixed / (row["file"] + ".bz2")).write_bytes(bz2.compress(data))
        else:
            (mixed / row["file"]).write_bytes(data)
    names = [p.name for p in inventory.fits_files(mixed)]
    assert any(n.endswith(".fits.gz") for n in names) and any(n.endswith(".fit.gz") for n in names)
    assert any(n.endswith(".fit") for n in names) and any(n.endswith(".fits") for n in names)
    assert len(names) == len(real_index)
    params = ReductionParameters()
    expected = reduce_inventory(inventory.scan_folder(plain), params)
    got = reduce_inventory(inventory.scan_folder(mixed), params)
    assert len(expected.flux) == 12 and len(expected.rejected) == 2
    for name in ("flux", "ivar", "mask"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name))
    for name, values in expected.meta.items():
        if name == "source_file":
            assert [Path(p).name.split(".")[0] for p in got.meta[name]] == [Path(p).name.split(".")[0] for p in values]
        else:
            np.testing.assert_array_equal(got.meta[name], values)
    assert [(r["specid"], r["reason"]) for r in got.rejected] == [(r["specid"], r["reason"]) for r in expected.rejected]


# ------------------------------------------------------------------------------ writer


def test_writer_refuses_cards_astropy_would_not_read_back(tmp_path):
    for cards, key in (
        ([("LONGSTR", "x" * 69, "")], "LONGSTR"),
        ([("QUOTES", "'" * 35, "")], "QUOTES"),
        ([("BADNUM", float("nan"), "")], "BADNUM"),
        ([("INFNUM", np.float32("inf"), "")], "INFNUM"),
        ([("UNICODE", "Ångström", "")], "UNICODE"),
        ([("lower", 1, "")], "lower"),
        ([("TOOLONGKEY", 1, "")], "TOOLONGKEY"),
    ):
        with pytest.raises(ValueError, match=key):
            fits.primary_bytes(cards)
    with pytest.raises(ValueError, match="RUN2D"):
        sdss.write_spec_lite(
            tmp_path / "spec-0332-52367-0639.fits",
            plate=332,
            mjd=52367,
            fiberid=639,
            run2d="r" * 80,
            coadd=np.zeros(10, sdss.COADD_DTYPE),
            z=0.1,
            z_err=0.0,
        )
    assert not list(tmp_path.iterdir())


def test_writer_cards_round_trip_through_astropy(tmp_path):
    values = {
        "EDGE68": "y" * 68,
        "QUOTE68": "a'" * 11 + "b" * 35,
        "TRAILING": "  lead and trail  ",
        "THIRD": 0.1 + 0.2,
        "TINY": 5e-324,
        "HUGE": 1.7976931348623157e308,
        "NEG": -2.5e-17,
        "F32": np.float32(0.1),
        "BIGINT": 2**62,
        "NPBOOL": np.bool_(True),
        "EMPTY": "",
    }
    data = fits.primary_bytes([(key, value, "a comment that is far too long to fit " * 3) for key, value in values.items()])
    path = tmp_path / "cards.fits"
    path.write_bytes(data)
    ours = fits.read_hdus(data)[0].header
    with astropy_fits.open(path) as hdul:
        hdul.verify("exception")
        header = hdul[0].header
        for key, value in values.items():
            expected = value.rstrip() if isinstance(value, str) else value
            expected = float(value) if isinstance(value, np.floating) else expected
            assert header[key] == expected and type(header[key]) is type(ours[key]), key
            assert ours[key] == expected, key


def test_read_leading_hdus_gives_fewer_hdus_only_when_a_later_one_is_faulty(tmp_path, monkeypatch):
    """read_leading_hdus(path, 3, 2): three HDUs; two when the third is cut short (as asking for two
    gave); a fault of the bytes themselves (a cut gzip stream) raised, the file read once."""
    hdus = astropy_fits.HDUList(
        [
            astropy_fits.PrimaryHDU(),
            astropy_fits.BinTableHDU.from_columns([astropy_fits.Column("FLUX", "E", array=np.arange(10.0))]),
            astropy_fits.ImageHDU(np.zeros((50, 50))),
        ]
    )
    whole = tmp_path / "whole.fits"
    hdus.writeto(whole)
    assert len(fits.read_leading_hdus(whole, 3, 2)) == 3
    cut = tmp_path / "cut.fits"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size - 2 * fits.BLOCK])  # the image's data cut short
    with pytest.raises(fits.FitsFormatError):
        fits.read_hdus(cut, max_hdus=3)
    assert [hdu.index for hdu in fits.read_leading_hdus(cut, 3, 2)] == [0, 1]
    reads = []
    original = fits.read_bytes
    monkeypatch.setattr(fits, "read_bytes", lambda source: reads.append(source) or original(source))
    packed = tmp_path / "cut.fits.gz"
    packed.write_bytes(gzip.compress(whole.read_bytes())[:-20])  # a cut compressed stream
    with pytest.raises(fits.FitsFormatError, match="truncated or corrupt gzip"):
        fits.read_leading_hdus(packed, 3, 2)
    assert reads == [packed]  # not read (nor decompressed) a second time
