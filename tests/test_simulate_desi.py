"""The embedded sample written as DESI healpix coadd + redrock files (agn_saliency.acquire.simulate.desi),
read back with astropy and compared with genuine DESI files (../shared/data/desi_real)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from helpers import SHARED

from agn_saliency.acquire import simulate as S
from agn_saliency.acquire.simulate import desi as D
from agn_saliency.acquire.simulate.catalog import write_catalog_csv
from agn_saliency.io.tables import read_table
from agn_saliency.stages.acquire import simulate_shard

PARAMS = S.SimulationParameters()
DESI_REAL = SHARED / "data" / "desi_real"
SEED = 11


@pytest.fixture(scope="module")
def catalog() -> np.ndarray:
    """Nine spectra, several sharing a healpix file (plates chosen close together)."""
    rows = S.simulate_catalog(3, 3, 3, SEED, PARAMS)
    rows["plate"] = [266, 267, 268, 266, 290, 300, 301, 266, 275]
    rows["mjd"] = S.plate_mjd(rows["plate"])
    rows["fiberid"] = np.arange(1, 10) * 7
    return rows


@pytest.fixture(scope="module")
def written(catalog, tmp_path_factory) -> tuple[Path, list[str], list[dict]]:
    root = tmp_path_factory.mktemp("desi")
    paths, truth = D.write_desi_spectra_with_truth(catalog, root, SEED, PARAMS)
    return root, paths, truth


def spec_of(table: fits.BinTableHDU) -> list[tuple[str, str]]:
    return [(column.name, column.format) for column in table.columns]


def test_layout_names_and_every_row_once(catalog, written):
    root, paths, truth = written
    coadds = sorted(root.glob("healpix/sv3/dark/*/*/coadd-sv3-dark-*.fits"))
    assert len(coadds) == len(D.healpix_groups(catalog)) == 4
    for coadd in coadds:
        healpix = int(coadd.parent.name)
        assert coadd.parent.parent.name == str(healpix // 100)
        assert (coadd.parent / f"redrock-sv3-dark-{healpix}.fits").is_file()
    assert sorted(record["row_position"] for record in truth) == list(range(len(catalog)))
    with fits.open(paths[0]) as hdus:
        assert len(hdus["FIBERMAP"].data) == 5  # plates 266–268 and 275 share a file, in TARGETID order
        assert list(hdus["FIBERMAP"].data["TARGETID"]) == sorted(hdus["FIBERMAP"].data["TARGETID"])


def test_data_model_and_values(catalog, written):
    root, paths, _ = written
    expected_z = {D.targetid(r["plate"], r["mjd"], r["fiberid"]): (float(r["z"]), str(r["label"])) for r in catalog}
    for coadd_path in sorted(set(paths)):
        redrock_path = coadd_path.replace("/coadd-", "/redrock-")
        with fits.open(coadd_path) as coadd, fits.open(redrock_path) as redrock:
            names = [hdu.name for hdu in coadd]
            assert names == ["PRIMARY", "FIBERMAP", "EXP_FIBERMAP"] + [
                f"{arm}_{kind}" for arm in "BRZ" for kind in ("WAVELENGTH", "FLUX", "IVAR", "MASK", "RESOLUTION")
            ] + ["SCORES"]
            assert [hdu.name for hdu in redrock] == ["PRIMARY", "REDSHIFTS", "FIBERMAP", "EXP_FIBERMAP", "TSNR2"]
            primary = coadd[0].header
            assert primary["SIMULATE"] is True and redrock[0].header["SIMULATE"] is True
            assert (primary["SPGRP"], primary["SURVEY"], primary["PROGRAM"], primary["HPXNSIDE"]) == (
                "healpix",
                "sv3",
                "dark",
                64,
            )
            assert Path(coadd_path).name == f"coadd-sv3-dark-{primary['HPXPIXEL']}.fits"
            fibermap = coadd["FIBERMAP"].data
            n = len(fibermap)
            assert set(fibermap["OBJTYPE"]) == {"TGT"} and not np.any(fibermap["COADD_FIBERSTATUS"])
            assert all(int(t) & D.MOCK_BIT for t in fibermap["TARGETID"])
            for arm, (first, last) in D.DESI_ARMS.items():
                wavelength = coadd[f"{arm}_WAVELENGTH"].data
                assert wavelength[0] == pytest.approx(first) and wavelength[-1] == pytest.approx(last)
                assert np.allclose(np.diff(wavelength), 0.8)
                assert coadd[f"{arm}_WAVELENGTH"].header["BUNIT"] == "Angstrom"
                assert coadd[f"{arm}_FLUX"].header["BUNIT"] == "10**-17 erg/(s cm2 Angstrom)"
                assert coadd[f"{arm}_IVAR"].header["BUNIT"] == "10**+34 (s2 cm4 Angstrom2) / erg2"
                flux, ivar, mask = (coadd[f"{arm}_{k}"].data for k in ("FLUX", "IVAR", "MASK"))
                assert flux.shape == ivar.shape == mask.shape == (n, wavelength.size)
                assert np.all(np.isfinite(flux)) and np.all(ivar >= 0)
                assert np.all((ivar == 0) == (mask != 0))  # only cosmic-ray hits are masked
                resolution = coadd[f"{arm}_RESOLUTION"].data
                assert resolution.shape == (n, 11, wavelength.size)
                assert np.allclose(resolution.sum(axis=1), 1.0, atol=1e-5)
            found = redrock["REDSHIFTS"].data
            assert list(found["TARGETID"]) == list(fibermap["TARGETID"])
            for row in found:
                z, label = expected_z[int(row["TARGETID"])]
                assert row["Z"] == z and row["ZWARN"] == 0
                assert row["SPECTYPE"] == ("QSO" if label == "type1" else "GALAXY")


@pytest.mark.skipif(not DESI_REAL.is_dir(), reason="../shared/data/desi_real not present")
def test_columns_and_units_copy_genuine_desi_files(written):
    _, paths, _ = written
    with (
        fits.open(paths[0]) as ours,
        fits.open(paths[0].replace("/coadd-", "/redrock-")) as our_redrock,
        fits.open(DESI_REAL / "coadd-sv3-dark-26065.fits") as real,
        fits.open(DESI_REAL / "redrock-4-80613-thru20210324.fits") as real_redrock,
    ):
        for name in ("FIBERMAP", "EXP_FIBERMAP", "SCORES"):
            assert spec_of(ours[name]) == spec_of(real[name]), name
        for name in ("REDSHIFTS", "TSNR2"):
            assert spec_of(our_redrock[name]) == spec_of(real_redrock[name]), name
        for hdu in real:
            if hdu.name != "PRIMARY":
                assert ours[hdu.name].header.get("BUNIT") == hdu.header.get("BUNIT"), hdu.name
                if hdu.data is not None and not isinstance(hdu, fits.BinTableHDU):
                    assert ours[hdu.name].data.shape[1:] == hdu.data.shape[1:], hdu.name
                    assert np.allclose(ours[hdu.name].data, hdu.data) if hdu.name.endswith("WAVELENGTH") else True
        for key in ("SPGRP", "HPXNSIDE", "HPXNEST", "SURVEY", "PROGRAM"):
            assert ours[0].header[key] == real[0].header[key], key
    with fits.open(DESI_REAL / "coadd-4-80613-thru20210324.fits") as iron:
        for arm in "BRZ":  # the simulated line-spread function is as wide as DR1's (second moments)
            assert lsf_width(D.resolution_matrix(arm)) == pytest.approx(lsf_width(iron[f"{arm}_RESOLUTION"].data[0]), rel=0.03)


def lsf_width(matrix: np.ndarray) -> float:
    """Median second moment (pixels) of a RESOLUTION matrix's columns (offsets +5 … −5)."""
    offsets = np.arange(5, -6, -1)[:, None]
    profile = matrix[:, 20:-20]
    mean = (profile * offsets).sum(0) / profile.sum(0)
    return float(np.median(np.sqrt((profile * (offsets - mean) ** 2).sum(0) / profile.sum(0))))


def test_scene_draws_nothing_more():
    rng_a, rng_b = np.random.default_rng([3, 1]), np.random.default_rng([3, 1])
    plain = S.simulate_spectrum("intermediate", 0.12, 15.0, rng_a, PARAMS)
    scene: dict = {}
    recorded = S.simulate_spectrum("intermediate", 0.12, 15.0, rng_b, PARAMS, scene=scene)
    assert plain.tobytes() == recorded.tobytes() and rng_a.random() == rng_b.random()
    assert scene["emission"] and scene["level"] > 0


def rebin(wavelength: np.ndarray, values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Flux-conserving mean of a density over [edges[i], edges[i+1]] (linear pixel edges)."""
    own = np.concatenate([[wavelength[0] - 0.4], wavelength + 0.4])
    cumulative = np.concatenate([[0.0], np.cumsum(values * np.diff(own))])
    return np.diff(np.interp(edges, own, cumulative)) / np.diff(edges)


@pytest.mark.parametrize("label", ["type1", "type2"])
def test_same_photons_as_the_sdss_file(label):
    """Integrated onto SDSS pixels, the DESI flux equals the SDSS flux up to the LSF difference: the
    difference is a fraction of the noise (independent noise would give ≈ 1.3 σ)."""
    plate, mjd, fiberid = 300, int(S.plate_mjd(300)), 17
    scene: dict = {}
    coadd = S.simulate_spectrum(label, 0.1, 10.0, S.spectrum_rng(SEED, plate, mjd, fiberid), PARAMS, scene=scene)
    rendered = D.render_desi(scene, D.desi_rng(SEED, plate, mjd, fiberid), PARAMS)
    blue = rendered["B"]
    loglam = coadd["loglam"].astype(float)
    edges = 10 ** np.concatenate([loglam - 5e-5, [loglam[-1] + 5e-5]])
    inside = (edges[:-1] > 4200) & (edges[1:] < 5700)
    pixel = np.flatnonzero(inside)
    desi_flux = rebin(blue["wavelength"], blue["flux"], edges[pixel[0] : pixel[-1] + 2])
    desi_model = rebin(blue["wavelength"], blue["model"], edges[pixel[0] : pixel[-1] + 2])
    good = (coadd["ivar"][pixel] > 0) & np.isin(np.arange(pixel.size), np.flatnonzero(desi_flux == desi_flux))
    sigma = 1 / np.sqrt(coadd["ivar"][pixel][good])
    noise_sdss = (coadd["flux"] - coadd["model"])[pixel][good]
    noise_desi = (desi_flux - desi_model)[good]
    masked_desi = rebin(blue["wavelength"], (blue["ivar"] == 0).astype(float), edges[pixel[0] : pixel[-1] + 2])[good] > 0
    difference = (noise_desi - noise_sdss)[~masked_desi] / sigma[~masked_desi]
    # DESI pixels straddling an SDSS pixel edge bring in some of the neighbours' photons: not 0, but
    # far below the ≈ 1.3 σ of independent draws.
    assert np.std(difference) < 0.6
    assert np.corrcoef(noise_desi[~masked_desi], noise_sdss[~masked_desi])[0, 1] > 0.85
    assert np.std(noise_desi[~masked_desi] / sigma[~masked_desi]) == pytest.approx(1.0, abs=0.15)
    # The model differs only by the line-spread function: same integrated flux over the window.
    assert np.sum(desi_model) == pytest.approx(np.sum(coadd["model"][pixel][good]), rel=0.01)


def test_bytes_do_not_depend_on_n_shards(catalog, tmp_path):
    catalog_path = tmp_path / "catalog.csv"
    write_catalog_csv(catalog, catalog_path)
    digests, inventories = [], []
    for n_shards in (1, 3):
        root = tmp_path / f"n{n_shards}"
        rows = []
        for shard in range(n_shards):
            simulate_shard(
                catalog=str(catalog_path),
                inventory_out=str(root / f"inventory-{shard}.ecsv"),
                truth_out=str(root / f"truth-{shard}.ecsv"),
                shard=shard,
                n_shards=n_shards,
                data_root=str(root / "data"),
                physics={},
                seed=SEED,
                file_format="desi",
            )
            rows += [dict(r) for r in read_table(root / f"inventory-{shard}.ecsv")]
        files = sorted((root / "data").rglob("*.fits"))
        digests.append({str(f.relative_to(root)): hashlib.sha256(f.read_bytes()).hexdigest() for f in files})
        inventories.append(sorted((r["row"], r["path"].replace(str(root), "")) for r in rows))
    assert digests[0] == digests[1] and len(digests[0]) == 8
    assert inventories[0] == inventories[1] and len(inventories[0]) == len(catalog)
