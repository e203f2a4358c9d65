"""agn_saliency.spectra.reduce / cube / inventory: resampling, reduction, rejection reasons, shards, merge."""

from __future__ import annotations

import json
import math
import os
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits as astropy_fits

from agn_saliency.acquire import inventory
from agn_saliency.acquire.catalog import read_catalog
from agn_saliency.io import cube
from agn_saliency.spectra import reduce, sdss
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory, reduce_spectrum, resample

# ------------------------------------------------------------------------------ resample


def _uniform(n: int, start: float = 0.0, width: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Centres and edges of ``n`` pixels of equal ``width`` starting at ``start``."""
    edges = start + width * np.arange(n + 1)
    return 0.5 * (edges[:-1] + edges[1:]), edges


def test_resample_keeps_a_flat_spectrum_flat():
    wavelength = 10 ** (3.58 + 1e-4 * np.arange(3000))  # log-spaced like SDSS
    flux = np.full(wavelength.size, 3.7)
    ivar = np.full(wavelength.size, 2.0)
    edges = np.linspace(4000.0, 5500.0, 1001)
    out_flux, out_ivar, coverage = resample(wavelength, flux, ivar, np.ones(wavelength.size, bool), edges)
    assert out_flux.shape == out_ivar.shape == coverage.shape == (1000,)
    np.testing.assert_allclose(out_flux, 3.7, rtol=1e-6)
    np.testing.assert_allclose(coverage, 1.0, rtol=1e-9)
    assert np.all(out_ivar > 0)


def test_resample_conserves_the_flux_integral():
    wavelength = 10 ** (3.6 + 1e-4 * np.arange(2500))  # ≈ 3981–7238 Å, pixels ≈ 0.9–1.7 Å
    in_edges = reduce.pixel_edges(wavelength)
    flux = 5.0 + 80.0 * np.exp(-0.5 * ((wavelength - 5007.0) / 0.8) ** 2)  # a line narrower than a pixel
    ivar = np.ones_like(flux)
    out_edges = np.linspace(4500.0, 5600.0, 734)  # 1.5 Å pixels, not aligned with the input's
    out_flux, _, _ = resample(wavelength, flux, ivar, np.ones(flux.size, bool), out_edges)
    # Region [a, b]: output-pixel edges, fully inside both grids and containing the line.
    i, j = 100, 500
    a, b = out_edges[i], out_edges[j]
    overlap = np.clip(np.minimum(in_edges[1:], b) - np.maximum(in_edges[:-1], a), 0.0, None)
    integral_in = float(np.sum(flux * overlap))  # the input is a piecewise-constant density
    integral_out = float(np.sum(out_flux[i:j] * np.diff(out_edges)[i:j]))
    assert a < 5007.0 < b
    assert integral_out == pytest.approx(integral_in, rel=1e-6)
    # The line's own flux (above the continuum) survives, not just the total.
    assert integral_out - 5.0 * (b - a) == pytest.approx(integral_in - 5.0 * (b - a), rel=1e-6)


def test_resample_propagates_ivar_of_an_average():
    centres, _ = _uniform(20, start=100.0, width=0.5)  # input pixels [100, 100.5], [100.5, 101], …
    rng = np.random.default_rng(1)
    flux = rng.normal(10.0, 1.0, size=20)
    ivar = np.full(20, 4.0)  # σ² = 0.25 each
    out_edges = 100.0 + 1.0 * np.arange(11)  # each output pixel is exactly 2 input pixels
    out_flux, out_ivar, coverage = resample(centres, flux, ivar, np.ones(20, bool), out_edges)
    # Mean of two equal-variance pixels: σ²/2, so ivar doubles.
    np.testing.assert_allclose(out_ivar, 8.0, rtol=1e-12)
    np.testing.assert_allclose(out_flux, 0.5 * (flux[0::2] + flux[1::2]), rtol=1e-12)
    np.testing.assert_allclose(coverage, 1.0)


def test_resample_gives_masked_pixels_zero_weight():
    centres, _ = _uniform(20, start=100.0, width=0.5)
    flux = np.full(20, 10.0)
    flux[4] = 1e6  # a cosmic ray, masked
    flux[8:10] = np.nan  # unusable, masked
    ivar = np.full(20, 4.0)
    good = np.ones(20, bool)
    good[[4, 8, 9]] = False
    out_edges = 100.0 + 1.0 * np.arange(11)
    out_flux, out_ivar, coverage = resample(centres, flux, ivar, good, out_edges)
    # Output pixel 2 = input pixels 4 (masked) and 5: only pixel 5 counts.
    assert out_flux[2] == pytest.approx(10.0)
    assert out_ivar[2] == pytest.approx(4.0)  # one pixel's variance, not an average's
    assert coverage[2] == pytest.approx(0.5)
    # Output pixel 4 = input pixels 8 and 9, both masked: nothing covers it.
    assert out_flux[4] == 0.0 and out_ivar[4] == 0.0 and coverage[4] == 0.0
    assert np.all(np.isfinite(out_flux))
    others = np.setdiff1d(np.arange(10), [2, 4])
    np.testing.assert_allclose(out_flux[others], 10.0)
    np.testing.assert_allclose(coverage[others], 1.0)


# ------------------------------------------------------------------------------ reduce_spectrum


def test_compiled_resample_gives_the_numpy_loops_bits(monkeypatch):
    """The compiled resampling (numba) and the numpy loop it stands for: the same bits, also for
    NaN, reversed or flat wavelengths, pixels whose 1/ivar overflows and negative zeros."""
    pytest.importorskip("numba")  # compiled once the process has imported numba
    compiled = reduce._compiled_resample()
    assert compiled is not None
    edges = ReductionParameters().grid_edges()
    rng = np.random.default_rng(0)
    for case in range(300):
        n = int(rng.integers(2, 3000))
        wavelength = np.sort(rng.uniform(3000, 7000, n)) if case % 5 else np.linspace(3900, 5600, n)
        if case % 7 == 0:
            wavelength[rng.integers(0, n)] = np.nan
        if case % 11 == 0:
            wavelength = wavelength[::-1].copy()
        if case % 13 == 0:
            wavelength[: n // 2] = wavelength[0]
        flux, ivar = rng.normal(1, 1, n), rng.uniform(0, 2, n)
        ivar[rng.integers(0, n, 3)] = 1e-320  # 1/ivar is inf
        flux[rng.integers(0, n, 3)] = -0.0
        good = rng.uniform(size=n) > 0.2
        monkeypatch.setattr(reduce, "_COMPILED_RESAMPLE", compiled)
        fast = resample(wavelength, flux, ivar, good, edges)
        monkeypatch.setattr(reduce, "_COMPILED_RESAMPLE", False)
        with np.errstate(all="ignore"):
            slow = resample(wavelength, flux, ivar, good, edges)
        for got, expected in zip(fast, slow):
            assert got.dtype == expected.dtype and got.tobytes() == expected.tobytes(), f"case {case}"


def test_compiled_good_pixels_are_numpys():
    pytest.importorskip("numba")
    assert reduce._compiled_resample() is not None
    rng = np.random.default_rng(1)
    flux, ivar = rng.normal(size=5000), rng.normal(size=5000)
    flux[::97], ivar[::89], ivar[::83] = np.nan, np.inf, 0.0
    and_mask = rng.integers(0, 2**26, 5000)
    bad = ReductionParameters().bad_mask
    expected = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0) & ((and_mask & bad) == 0)
    got = reduce._good_pixels(flux, ivar, and_mask, bad)
    assert got.dtype == np.bool_ and np.array_equal(got, expected) and 0 < got.sum() < 5000


def test_reduce_spectrum_puts_a_line_at_its_rest_wavelength(spec_lite_factory):
    z, continuum, amplitude, sigma = 0.1, 10.0, 40.0, 3.0
    path = spec_lite_factory(z=z, line_rest=5008.0, continuum=continuum, line_amplitude=amplitude, line_sigma_rest=sigma)
    params = ReductionParameters()
    reduced = reduce_spectrum(sdss.read_spectrum(path), z, params)
    centres = params.wavelength()
    assert reduced.flux.shape == reduced.ivar.shape == reduced.mask.shape == centres.shape == (params.n_pixels,)
    assert reduced.flux.dtype == np.float32 and reduced.mask.dtype == np.uint8
    np.testing.assert_allclose(np.diff(centres), (params.wavelength_max - params.wavelength_min) / params.n_pixels)
    assert not reduced.mask.any() and np.all(reduced.ivar > 0)
    lo, hi = params.norm_window
    window = (centres >= lo) & (centres <= hi)
    assert np.mean(reduced.flux[window]) == pytest.approx(1.0, abs=1e-6)
    assert reduced.norm_flux == pytest.approx(continuum, rel=1e-5)
    # Far from the line the normalised continuum is 1.
    far = np.abs(centres - 5008.0) > 10 * sigma
    np.testing.assert_allclose(reduced.flux[far], 1.0, atol=1e-5)
    # The line: peak and centroid at 5008 Å (rest), and its equivalent width A/C·σ·√(2π) kept.
    near = np.abs(centres - 5008.0) < 6 * sigma
    excess = reduced.flux[near] - 1.0
    assert abs(centres[np.argmax(reduced.flux)] - 5008.0) <= 1.5
    centroid = float(np.sum(centres[near] * excess) / np.sum(excess))
    assert abs(centroid - 5008.0) <= 1.5
    pixel = centres[1] - centres[0]
    equivalent_width = float(np.sum(excess) * pixel)
    assert equivalent_width == pytest.approx(amplitude / continuum * sigma * math.sqrt(2 * math.pi), rel=0.02)


def test_reduce_spectrum_uses_the_given_redshift(spec_lite_factory):
    # The file's line is at 5008 Å rest for z = 0.2; reducing at z = 0.15 puts it at 5008·1.2/1.15.
    path = spec_lite_factory(z=0.2, line_rest=5008.0)
    params = ReductionParameters()
    reduced = reduce_spectrum(sdss.read_spectrum(path), 0.15, params)
    peak = params.wavelength()[np.argmax(reduced.flux)]
    assert abs(peak - 5008.0 * 1.2 / 1.15) <= 1.5


# ------------------------------------------------------------------------------ real files


def _real_rows(real_dir: Path, real_index: list[dict[str, str]]) -> list[dict]:
    rows = []
    for number, record in enumerate(real_index, start=1):
        plate, mjd, fiberid = int(record["plate"]), int(record["mjd"]), int(record["fiberid"])
        rows.append(
            {
                "row": number,
                "specid": sdss.specid(plate, mjd, fiberid),
                "plate": plate,
                "mjd": mjd,
                "fiberid": fiberid,
                "z": "",
                "label": record["expected"],
                "path": str(real_dir / record["file"]),
                "status": "ok",
                "reason": "",
            }
        )
    return rows


def test_reduce_inventory_on_the_real_files(real_dir, real_index):
    params = ReductionParameters()
    rows = _real_rows(real_dir, real_index)
    result = reduce_inventory(rows, params)
    too_far = {row["specid"] for row, record in zip(rows, real_index) if float(record["z"]) > params.z_max}
    assert len(too_far) == 2  # index.csv: spSpec-51993-0542-631 (z 2.23) and spec-0746-52238-0373 (z 1.88)
    assert {r["specid"] for r in result.rejected} == too_far
    for record in result.rejected:
        assert "redshift" in record["reason"], record
    kept = [row for row in rows if row["specid"] not in too_far]
    assert result.meta["specid"].tolist() == [row["specid"] for row in kept]
    assert result.flux.shape == (len(kept), params.n_pixels) == (12, params.n_pixels)
    assert np.all(np.isfinite(result.flux)) and np.all(np.isfinite(result.ivar))
    assert np.all(result.mask.mean(axis=1) < 0.1)
    index_z = {row["specid"]: float(record["z"]) for row, record in zip(rows, real_index)}
    for spec, z in zip(result.meta["specid"], result.meta["z"]):
        assert z == pytest.approx(index_z[spec], abs=1e-4)  # the file's z (the inventory has none)
    assert result.meta["label"].tolist() == [row["label"] for row in kept]
    lo, hi = params.norm_window
    window = (params.wavelength() >= lo) & (params.wavelength() <= hi)
    np.testing.assert_allclose(np.mean(result.flux[:, window], axis=1), 1.0, atol=0.02)


# ------------------------------------------------------------------------------ planted bad inputs


def _row(
    path: Path | str,
    number: int,
    *,
    z: str = "",
    status: str = "ok",
    label: str = "type1",
    reason: str = "",
    ids: tuple[int, int, int] | None = None,
) -> dict:
    ids = ids or inventory.ids_from_filename(Path(path).name)
    return {
        "row": number,
        "specid": sdss.specid(*ids),
        "plate": ids[0],
        "mjd": ids[1],
        "fiberid": ids[2],
        "z": z,
        "label": label,
        "path": str(path),
        "status": status,
        "reason": reason,
    }


def _non_sdss_fits(path: Path) -> Path:
    rng = np.random.default_rng(5)
    table = astropy_fits.BinTableHDU.from_columns(
        [
            astropy_fits.Column(name="x", format="D", array=rng.normal(size=30)),
            astropy_fits.Column(name="n", format="J", array=rng.integers(0, 9, 30)),
        ]
    )
    astropy_fits.HDUList([astropy_fits.PrimaryHDU(), table]).writeto(path)
    return path


def test_planted_bad_inputs_are_rejected_with_reasons(tmp_path, spec_lite_factory, coadd_factory):
    make = spec_lite_factory
    good = [make(plate=300, mjd=51000, fiberid=f) for f in (1, 2, 3)]
    truncated = make(plate=301, mjd=51000, fiberid=1)
    truncated.write_bytes(truncated.read_bytes()[: truncated.stat().st_size // 2])
    empty = tmp_path / "spec-0301-51000-0002.fits"
    empty.write_bytes(b"")
    foreign = _non_sdss_fits(tmp_path / "spec-0301-51000-0003.fits")
    n_pixels = len(coadd_factory())
    nan_flux = make(plate=302, mjd=51000, fiberid=1, flux=np.full(n_pixels, np.nan))
    zero_ivar = make(plate=302, mjd=51000, fiberid=2, ivar=0.0)
    nodata = make(plate=302, mjd=51000, fiberid=3, and_mask=1 << 24)
    no_z = make(plate=303, mjd=51000, fiberid=1, file_z=float("nan"))
    negative_z = make(plate=303, mjd=51000, fiberid=2)  # the catalog says z = -0.1
    high_z = make(plate=303, mjd=51000, fiberid=3, z=2.0)  # the file says z = 2.0
    wrong_file = make(plate=304, mjd=51000, fiberid=1)
    planted = [
        (truncated, {}, ("unreadable", "truncated")),
        (empty, {}, ("unreadable", "empty")),
        (foreign, {}, ("unreadable", "not an SDSS spectrum")),
        (nan_flux, {}, ("non-finite",)),
        (zero_ivar, {}, ("masked",)),
        (nodata, {}, ("masked",)),
        (no_z, {}, ("redshift missing",)),
        (negative_z, {"z": "-0.1"}, ("redshift negative",)),
        (high_z, {}, ("redshift too high",)),
        ("", {"status": "missing", "reason": "no file for this catalog row", "ids": (305, 51000, 1)}, ("missing",)),
        (wrong_file, {"ids": (304, 51000, 2)}, ("304-51000-0001",)),
    ]
    rows, expected = [], {}
    for path, extra, words in planted:
        rows.append(_row(path, len(rows) + 1, **extra))
        expected[rows[-1]["specid"]] = words
    # Good files between the bad ones (relative paths, resolved against base_dir).
    for position, path in zip((0, 5, len(rows)), good):
        rows.insert(position, _row(path.name, 0))
    for number, row in enumerate(rows, start=1):
        row["row"] = number

    result = reduce_inventory(rows, ReductionParameters(), base_dir=tmp_path)

    good_ids = [sdss.specid(300, 51000, f) for f in (1, 2, 3)]
    assert sorted(result.meta["specid"].tolist()) == sorted(good_ids)
    assert result.flux.shape[0] == 3 and np.all(np.isfinite(result.flux))
    reasons = {record["specid"]: record["reason"] for record in result.rejected}
    assert len(result.rejected) == len(planted) == len(reasons)
    assert set(reasons) == set(expected)
    for spec, words in expected.items():
        for word in words:
            assert word in reasons[spec], (spec, reasons[spec])
    # Each rejected record carries its inventory row, label and source file.
    by_spec = {row["specid"]: row for row in rows}
    for record in result.rejected:
        assert record["row"] == by_spec[record["specid"]]["row"]
        assert record["source_file"] == by_spec[record["specid"]]["path"]
        assert set(record) == set(reduce.REJECTED_COLUMNS)


def test_duplicate_across_shards_is_reported_by_the_merge(tmp_path, spec_lite_factory):
    params = ReductionParameters()
    first = spec_lite_factory(plate=400, mjd=52000, fiberid=1)
    second = spec_lite_factory(plate=400, mjd=52000, fiberid=2)
    third = spec_lite_factory(plate=400, mjd=52000, fiberid=3)
    copy = spec_lite_factory(folder=tmp_path / "again", plate=400, mjd=52000, fiberid=1, z=0.12)
    shards = [[_row(first, 1), _row(second, 2)], [_row(third, 3), _row(copy, 4)]]
    paths = []
    for number, rows in enumerate(shards):
        result = reduce_inventory(rows, params)
        assert result.rejected == []
        paths.append(tmp_path / f"shard{number}.h5")
        cube.write_shard(paths[-1], params.wavelength(), result.flux, result.ivar, result.mask, result.meta)
    duplicates = cube.merge_shards(paths, tmp_path / "cube.h5", {"config": {}})
    assert len(duplicates) == 1
    assert duplicates[0]["specid"] == sdss.specid(400, 52000, 1)
    assert duplicates[0]["source_file"] == str(copy) and duplicates[0]["row"] == 4
    assert "duplicate" in duplicates[0]["reason"]
    merged = cube.read_cube(tmp_path / "cube.h5")
    assert merged.meta["specid"].tolist() == [sdss.specid(400, 52000, f) for f in (1, 2, 3)]
    assert merged.meta["z"][0] == pytest.approx(0.1)  # the first occurrence is kept


# ------------------------------------------------------------------------------ cube


def _synthetic_shard(rng: np.random.Generator, start: int, n: int, n_pixels: int = 50) -> dict:
    ids = np.arange(start, start + n)
    return {
        "flux": rng.normal(1.0, 0.1, size=(n, n_pixels)).astype(np.float32),
        "ivar": rng.uniform(1, 100, size=(n, n_pixels)).astype(np.float32),
        "mask": (rng.uniform(size=(n, n_pixels)) < 0.05).astype(np.uint8),
        "meta": {
            "specid": np.array([sdss.specid(500, 53000, i) for i in ids], dtype=object),
            "plate": np.full(n, 500, np.int32),
            "mjd": np.full(n, 53000, np.int32),
            "fiberid": ids.astype(np.int32),
            "z": rng.uniform(0, 0.5, n),
            "label": np.array(["type1", "type2", "intermediate"] * n, dtype=object)[:n],
            "source_file": np.array([f"data/spec-0500-53000-{i:04d}.fits" for i in ids], dtype=object),
            "row": ids.astype(np.int64),
        },
    }


def test_merge_shards_layout_and_provenance(tmp_path):
    rng = np.random.default_rng(11)
    wavelength = np.linspace(4000.75, 5499.25, 50)
    shards = [_synthetic_shard(rng, 1, 7), _synthetic_shard(rng, 8, 0), _synthetic_shard(rng, 8, 300)]
    paths = []
    for number, shard in enumerate(shards):
        paths.append(tmp_path / f"shard{number}.h5")
        cube.write_shard(paths[-1], wavelength, shard["flux"], shard["ivar"], shard["mask"], shard["meta"])
    config = {"reduce": {"n_pixels": 50, "norm_window": [5080, 5120]}}
    out = tmp_path / "cube.h5"
    assert cube.merge_shards(paths, out, {"config": config}) == []
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]
    with h5py.File(out, "r") as handle:
        np.testing.assert_array_equal(handle["wavelength"][()], wavelength)
        assert handle["wavelength"].attrs["unit"] == "Angstrom"
        for name in ("flux", "ivar", "mask"):
            dataset = handle[name]
            assert dataset.shape == (307, 50)
            assert dataset.chunks is not None and dataset.compression == "gzip"
            np.testing.assert_array_equal(dataset[()], np.concatenate([s[name] for s in shards]))
        assert set(handle["meta"]) >= {"specid", "plate", "mjd", "fiberid", "z", "label", "source_file"}
        assert json.loads(handle.attrs["config"]) == config
        versions = json.loads(handle.attrs["versions"])
        assert versions["numpy"] == np.__version__ and versions["h5py"] == h5py.__version__
    merged = cube.read_cube(out)
    assert len(merged) == 307
    for name in ("specid", "label", "source_file", "fiberid", "z", "row"):
        expected = np.concatenate([s["meta"][name] for s in shards])
        assert merged.meta[name].tolist() == expected.tolist(), name


def test_merge_rejects_a_different_wavelength_grid(tmp_path):
    rng = np.random.default_rng(2)
    paths = []
    for number, wavelength in enumerate((np.linspace(4000, 5500, 50), np.linspace(4000, 5600, 50))):
        shard = _synthetic_shard(rng, 1 + 10 * number, 5)
        paths.append(tmp_path / f"shard{number}.h5")
        cube.write_shard(paths[-1], wavelength, shard["flux"], shard["ivar"], shard["mask"], shard["meta"])
    with pytest.raises(ValueError, match="wavelength"):
        cube.merge_shards(paths, tmp_path / "cube.h5", {"config": {}})
    assert not (tmp_path / "cube.h5").exists()
    assert not [name for name in os.listdir(tmp_path) if name.endswith(".tmp")]


def test_merge_memory_is_bounded_by_a_shard(tmp_path):
    rng = np.random.default_rng(4)
    n_shards, n_rows, n_pixels = 6, 2000, 1000
    wavelength = np.linspace(4000, 5500, n_pixels)
    paths = []
    for number in range(n_shards):
        shard = _synthetic_shard(rng, 1 + number * n_rows, n_rows, n_pixels)
        paths.append(tmp_path / f"shard{number}.h5")
        cube.write_shard(paths[-1], wavelength, shard["flux"], shard["ivar"], shard["mask"], shard["meta"])
    del shard
    shard_bytes = n_rows * n_pixels * (4 + 4 + 1)  # flux + ivar + mask of one shard (18 MB)
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        cube.merge_shards(paths, tmp_path / "cube.h5", {"config": {}})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # The measure sees numpy arrays read from HDF5: at least one flux array of one shard …
    assert peak >= n_rows * n_pixels * 4
    # … but never the whole cube (6 shards = 108 MB): at most about two shards' worth.
    assert peak < 2 * shard_bytes, f"merge peak {peak / 1e6:.0f} MB for {n_shards} shards of {shard_bytes / 1e6:.0f} MB"
    with h5py.File(tmp_path / "cube.h5", "r") as handle:
        assert handle["flux"].shape == (n_shards * n_rows, n_pixels)


# ------------------------------------------------------------------------------ parameters


def test_from_mapping_rejects_unknown_keys():
    with pytest.raises(ValueError, match="norm_windw"):
        ReductionParameters.from_mapping({"n_pixels": 500, "norm_windw": [5080, 5120]})
    params = ReductionParameters.from_mapping({"n_pixels": 500, "norm_window": [5000, 5050], "bad_mask_bits": [24]})
    assert params.n_pixels == 500 and params.norm_window == (5000, 5050) and params.bad_mask == 1 << 24
    assert len(params.wavelength()) == 500


@pytest.mark.parametrize("window", [(3000.0, 3100.0), (5400.0, 5600.0), (5120.0, 5080.0)])
def test_norm_window_must_lie_inside_the_grid(window):
    with pytest.raises(ValueError, match="norm_window"):
        ReductionParameters(norm_window=window)


def test_norm_statistic_mean_or_median(spec_lite_factory):
    """The mean is the window's flux over its width; the median is one pixel's value: a spike inside
    the window moves the mean by its share and leaves the median alone. Anything else is refused."""
    path = spec_lite_factory(z=0.1, line_rest=5100.0, continuum=10.0, line_amplitude=40.0, line_sigma_rest=1.0)
    spectrum = sdss.read_spectrum(path)
    mean = reduce_spectrum(spectrum, 0.1, ReductionParameters())
    median = reduce_spectrum(spectrum, 0.1, ReductionParameters(norm_statistic="median"))
    centres = ReductionParameters().wavelength()
    window = (centres >= 5080.0) & (centres <= 5120.0)
    assert median.norm_flux == pytest.approx(10.0, rel=1e-3)
    expected = 10.0 + 40.0 * 1.0 * np.sqrt(2 * np.pi) / (window.sum() * 1.5)  # the line's flux spread over the window
    assert mean.norm_flux == pytest.approx(expected, rel=0.02) and mean.norm_flux > 1.1 * median.norm_flux
    assert np.mean(mean.flux[window]) == pytest.approx(1.0, abs=1e-6)
    with pytest.raises(ValueError, match="reduce.norm_statistic"):
        ReductionParameters(norm_statistic="mode")
    assert ReductionParameters.from_mapping({"norm_statistic": "median"}).norm_statistic == "median"


# ------------------------------------------------------------------------------ inventory


def test_scan_folder_joins_the_catalog(tmp_path, spec_lite_factory):
    data = tmp_path / "data"
    a = spec_lite_factory(folder=data, plate=600, mjd=54000, fiberid=1)
    b = spec_lite_factory(folder=data / "sub", plate=600, mjd=54000, fiberid=2)
    extra = spec_lite_factory(folder=data, plate=600, mjd=54000, fiberid=3)
    (data / ".spec-0600-54000-0004.fits.partial.fits").write_bytes(b"")  # hidden: skipped
    catalog_path = tmp_path / "catalog.csv"
    catalog_path.write_text("plate,mjd,fiberid,label,z\n600,54000,2,type2,0.1\n600,54000,9,type1,0.2\n600,54000,1,type1,\n")
    rows = inventory.scan_folder(data, read_catalog(catalog_path))
    by_spec = {row["specid"]: row for row in rows}
    assert set(by_spec) == {sdss.specid(600, 54000, f) for f in (1, 2, 3, 9)}
    assert len(rows) == 4
    assert (by_spec["0600-54000-0001"]["label"], by_spec["0600-54000-0001"]["path"]) == ("type1", str(a))
    assert (by_spec["0600-54000-0002"]["label"], by_spec["0600-54000-0002"]["path"]) == ("type2", str(b))
    assert float(by_spec["0600-54000-0002"]["z"]) == 0.1 and by_spec["0600-54000-0001"]["z"] == ""
    missing = by_spec["0600-54000-0009"]
    assert missing["status"] == "missing" and missing["path"] == "" and missing["label"] == "type1"
    unlabelled = by_spec["0600-54000-0003"]
    assert unlabelled["label"] == "" and unlabelled["status"] == "ok" and unlabelled["path"] == str(extra)
    assert all(row["status"] == "ok" for row in rows if row is not missing)
    numbers = [int(row["row"]) for row in rows]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    # Catalog rows keep their catalog row numbers.
    assert (by_spec["0600-54000-0002"]["row"], missing["row"], by_spec["0600-54000-0001"]["row"]) == (1, 2, 3)
    assert set(rows[0]) == set(inventory.INVENTORY_COLUMNS)
    # The inventory is what the reduction reads: the missing row is rejected, the others reduced.
    result = reduce_inventory(rows, ReductionParameters())
    assert sorted(result.meta["specid"].tolist()) == ["0600-54000-0001", "0600-54000-0002", "0600-54000-0003"]
    assert [r["specid"] for r in result.rejected] == ["0600-54000-0009"]
    assert "missing" in result.rejected[0]["reason"]


def test_scan_folder_row_numbers_stay_unique_with_duplicate_catalog_ids(tmp_path, spec_lite_factory):
    data = tmp_path / "data"
    spec_lite_factory(folder=data, plate=50, mjd=51000, fiberid=1)  # not in the catalog, sorts first
    spec_lite_factory(folder=data, plate=100, mjd=51000, fiberid=2)
    spec_lite_factory(folder=data, plate=100, mjd=51000, fiberid=3)
    catalog_path = tmp_path / "catalog.csv"
    catalog_path.write_text("plate,mjd,fiberid,label\n100,51000,2,type1\n100,51000,2,type1\n100,51000,3,type2\n")
    rows = inventory.scan_folder(data, read_catalog(catalog_path))
    numbers = [int(row["row"]) for row in rows]
    assert len(set(numbers)) == len(numbers) == 4  # 3 files + the repeated catalog row
    duplicate = [row for row in rows if row["status"] == "duplicate"]
    assert len(duplicate) == 1 and int(duplicate[0]["row"]) == 2 and "row 1" in duplicate[0]["reason"]
    # The unlabelled file is numbered after every catalog row (3), whatever the duplicates.
    assert {row["specid"]: int(row["row"]) for row in rows}["0050-51000-0001"] > 3


def test_scan_folder_without_a_folder_raises(tmp_path):
    with pytest.raises(FileNotFoundError):
        inventory.scan_folder(tmp_path / "nothing")


@pytest.mark.parametrize("n_rows", [0, 1, 7, 10, 1001])
@pytest.mark.parametrize("n_shards", [1, 3, 4, 7])
def test_shard_bounds_partition_contiguously(n_rows, n_shards):
    bounds = [inventory.shard_bounds(n_rows, shard, n_shards) for shard in range(n_shards)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    for (_, stop), (start, _) in zip(bounds, bounds[1:]):
        assert stop == start
    sizes = [stop - start for start, stop in bounds]
    assert min(sizes) >= 0 and max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError):
        inventory.shard_bounds(n_rows, n_shards, n_shards)


def test_scan_folder_matches_a_renamed_file_by_its_header(tmp_path, spec_lite_factory):
    data = tmp_path / "data"
    written = spec_lite_factory(folder=data, plate=295, mjd=51585, fiberid=596)
    renamed = Path(written).with_name("my_agn.fits")
    Path(written).rename(renamed)
    catalog_path = tmp_path / "catalog.csv"
    catalog_path.write_text("plate,mjd,fiberid,label\n295,51585,596,type2\n")
    rows = inventory.scan_folder(data, read_catalog(catalog_path))
    assert [(row["specid"], row["label"], row["status"], Path(row["path"]).name) for row in rows] == [
        ("0295-51585-0596", "type2", "ok", "my_agn.fits")
    ]
