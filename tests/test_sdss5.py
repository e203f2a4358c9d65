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


# ----------------------------------------------------------------------------------- downloads

FAST = dict(timeout_s=2.0, retries=2, backoff_s=0.01, max_backoff_s=0.05)
DESI_REAL = REAL_DIR.parent / "desi_real"
DESI_COADD = "coadd-sv3-dark-26065.fits"  # real EDR healpix coadd: sv3/dark/26065
DESI_TARGETS = (39627866878511337, 39627866878514741)  # its two TGT rows with data


def _desi_redrock_bytes(targetids: tuple[int, ...], z: tuple[float, ...]) -> bytes:
    """A minimal redrock file (REDSHIFTS: TARGETID, Z, ZERR, ZWARN, SPECTYPE, SUBTYPE, DELTACHI2),
    marked synthetic: the EDR slice ships no redrock file."""
    table = np.zeros(
        len(targetids),
        [
            ("TARGETID", "i8"),
            ("Z", "f8"),
            ("ZERR", "f8"),
            ("ZWARN", "i8"),
            ("SPECTYPE", "S6"),
            ("SUBTYPE", "S20"),
            ("DELTACHI2", "f8"),
        ],
    )
    table["TARGETID"], table["Z"], table["SPECTYPE"], table["DELTACHI2"] = targetids, z, b"GALAXY", 100.0
    return fits.primary_bytes([("SYNTHET", True, "synthetic test fixture")]) + fits.table_bytes(table, "REDSHIFTS")


def _sas_and_desi(tmp_path: Path) -> Path:
    """A folder served as both the SAS root and a DESI production: the SDSS-V fixture at its DR19
    path, the real EDR coadd and a redrock file at their healpix paths."""
    from agn_saliency.acquire.download import desi_relpath

    root = tmp_path / "server"
    spec = root / sdss5.spec_lite_relpath(**SDSS5_IDS)
    spec.parent.mkdir(parents=True)
    spec.write_bytes(sdss5_fixture_bytes())
    if DESI_REAL.is_dir():
        coadd = root / "desi" / desi_relpath("sv3", "dark", 26065, "coadd")
        coadd.parent.mkdir(parents=True)
        coadd.write_bytes((DESI_REAL / DESI_COADD).read_bytes())
        (root / "desi" / desi_relpath("sv3", "dark", 26065, "redrock")).write_bytes(_desi_redrock_bytes(DESI_TARGETS, (0.1, 0.2)))
    return root


def test_download_by_field_mjd_catalogid_from_a_local_server(tmp_path: Path):
    from http_faults import serve_folder

    from agn_saliency.acquire.download import download_shard

    root = _sas_and_desi(tmp_path)
    relpath = sdss5.spec_lite_relpath(**SDSS5_IDS)
    rows = [
        {"survey": "sdss5", **SDSS5_IDS, "run2d": ""},
        {"survey": "sdss5", "field": 15173, "mjd": 59381, "catalogid": 27021598150202075, "run2d": ""},  # not served
    ]
    with serve_folder(root) as server:
        server.add_fault(relpath, "status", times=1, code=503)  # retried on the same client as SDSS files
        entries = download_shard(rows, server.url, tmp_path / "data", **FAST)
    ok, missing = entries
    assert (ok.survey, ok.specid, ok.status, ok.path, ok.attempts) == ("sdss5", "015173-59381-4350968445", "ok", relpath, 2)
    assert (ok.plate, ok.mjd, ok.fiberid) == (-1, 59381, -1)
    assert (tmp_path / "data" / relpath).read_bytes() == (root / relpath).read_bytes()
    assert sdss5.read_spectrum(tmp_path / "data" / relpath).catalogid == SDSS5_IDS["catalogid"]
    assert missing.status == "missing" and "404" in missing.reason
    # resumable: present and valid, not fetched again
    with serve_folder(root) as server:
        again = download_shard(rows[:1], server.url, tmp_path / "data", **FAST)
        assert again[0].cached and server.total_hits() == 0


def test_download_refuses_a_file_holding_another_spectrum(tmp_path: Path):
    from http_faults import serve_folder

    from agn_saliency.acquire.download import download_shard

    root = tmp_path / "server"
    wrong = {**SDSS5_IDS, "catalogid": 4350968446}
    path = root / sdss5.spec_lite_relpath(**wrong)
    path.parent.mkdir(parents=True)
    path.write_bytes(sdss5_fixture_bytes())  # holds catalogid 4350968445
    with serve_folder(root) as server:
        (entry,) = download_shard([{"survey": "sdss5", **wrong}], server.url, tmp_path / "data", **FAST)
    assert entry.status == "failed" and "file holds spectrum 015173-59381-4350968445" in entry.reason
    assert not (tmp_path / "data" / sdss5.spec_lite_relpath(**wrong)).exists()


@pytest.mark.skipif(not DESI_REAL.is_dir(), reason="../shared/data/desi_real absent")
def test_desi_download_by_healpix_then_targets_selected(tmp_path: Path, caplog):
    """Healpix coadd + redrock fetched once for two rows; a TARGETID the coadd lacks is missing;
    the login of the DESI URL appears in no log line, manifest or inventory."""
    import logging

    from http_faults import serve_folder

    from agn_saliency.acquire.download import download_shard, read_manifest, row_files, write_manifest
    from agn_saliency.stages.acquire import downloaded_inventory

    root = _sas_and_desi(tmp_path)
    rows = [
        {"survey": "desi", "targetid": DESI_TARGETS[0], "desi_survey": "sv3", "program": "dark", "healpix": 26065},
        {"survey": "desi", "targetid": DESI_TARGETS[1], "desi_survey": "sv3", "program": "dark", "healpix": 26065},
        {"survey": "desi", "targetid": 39627866878599999, "desi_survey": "sv3", "program": "dark", "healpix": 26065},
        {"survey": "desi", "targetid": 39627866878500001, "desi_survey": "main", "program": "dark", "healpix": 10016},
    ]
    for number, row in enumerate(rows, start=1):
        row.update(row=number, z=float("nan"), label="", plate=0, mjd=0, fiberid=0)
    caplog.set_level(logging.INFO)
    with serve_folder(root) as server:
        desi_url = server.url.replace("http://", "http://user:s3cret@") + "/desi"
        entries = download_shard(rows, server.url, tmp_path / "data", desi_base_url=desi_url, **FAST)
        assert server.total_hits() == 4  # the 26065 pair once, the 10016 pair (404) once each
    kinds = [(e.survey, e.specid, e.status) for e in entries]
    assert kinds == [
        ("desi", "coadd-sv3-dark-26065", "ok"),
        ("desi", "redrock-sv3-dark-26065", "ok"),
        ("desi", "coadd-main-dark-10016", "missing"),
        ("desi", "redrock-main-dark-10016", "missing"),
    ]
    assert entries[0].path == "desi/desi/healpix/sv3/dark/260/26065/coadd-sv3-dark-26065.fits"
    files = row_files(rows, server.url, tmp_path / "data", desi_url)
    inventory = downloaded_inventory(rows, entries, files, str(tmp_path / "data"))
    assert [(r["survey"], r["specid"], r["status"]) for r in inventory] == [
        ("desi", str(DESI_TARGETS[0]), "ok"),
        ("desi", str(DESI_TARGETS[1]), "ok"),
        ("desi", "39627866878599999", "missing"),
        ("desi", "39627866878500001", "missing"),
    ]
    assert "is not in the FIBERMAP of coadd-sv3-dark-26065.fits" in inventory[2]["reason"]
    assert inventory[3]["reason"].startswith("coadd-main-dark-10016.fits: HTTP 404")
    write_manifest(entries, tmp_path / "manifest.ecsv")
    assert "s3cret" not in (tmp_path / "manifest.ecsv").read_text() and "s3cret" not in caplog.text
    assert [e.survey for e in read_manifest(tmp_path / "manifest.ecsv")] == ["desi"] * 4
    # the selected targets are what the reduction takes from the file
    rows_ok = [r for r in inventory if r["status"] == "ok"]
    result = reduce.reduce_inventory(rows_ok, reduce.ReductionParameters(z_max=0.8))
    reduced_ids = list(result.meta["specid"]) + [r["specid"] for r in result.rejected]
    assert sorted(set(reduced_ids)) == sorted(str(t) for t in DESI_TARGETS)


# ------------------------------------------------------------------------- catalog, scan, predict


def _write_catalog(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_catalog_reads_sdss5_and_desi_rows_and_names_every_bad_row(tmp_path: Path):
    from agn_saliency.acquire.catalog import CatalogError, read_catalog, write_catalog

    good = _write_catalog(
        tmp_path / "good.csv",
        "survey,plate,mjd,fiberid,field,catalogid,targetid,desi_survey,program,healpix,label,z\n"
        "sdss,332,52367,639,,,,,,,type1,\n"
        "sdss5,,59381,,15173,4350968445,,,,,type1,0.16\n"
        ",,59381,,15173,4350968446,,,,,type2,\n"  # survey from its ids: sdss5
        "desi,,,,,,39627866878511337,sv3,dark,26065,type2,0.1\n",
    )
    catalog = read_catalog(good)
    assert list(catalog["survey"]) == ["sdss", "sdss5", "sdss5", "desi"]
    assert (catalog["field"][1], catalog["mjd"][1], catalog["catalogid"][1]) == (15173, 59381, 4350968445)
    assert (catalog["desi_survey"][3], catalog["program"][3], catalog["healpix"][3]) == ("sv3", "dark", 26065)
    write_catalog(catalog, tmp_path / "again.csv")
    again = read_catalog(tmp_path / "again.csv")
    for name in ("survey", "plate", "mjd", "fiberid", "field", "catalogid", "targetid", "healpix", "label"):
        assert list(again[name]) == list(catalog[name]), name
    bad = _write_catalog(
        tmp_path / "bad.csv",
        "survey,plate,mjd,fiberid,field,catalogid,targetid,healpix,label\n"
        "sdss5,,59381,,1234567,4350968445,,,type1\n"
        "sdss5,,59381,,15173,,,,type1\n"
        "sdss5,332,59381,639,15173,1,,,type1\n"
        "desi,,,,,,,,type1\n"
        "desi,,,,,,12,49152,type1\n"
        "lamost,,,,,,,,type1\n",
    )
    with pytest.raises(CatalogError) as caught:
        read_catalog(bad)
    problems = "\n".join(caught.value.problems)
    assert "row 1, column 'field': 1234567 is out of range (1…999999)" in problems
    assert "row 2, column 'catalogid': empty: an sdss5 row is named by field, mjd and catalogid" in problems
    assert "row 3, column 'plate': '332' given on a sdss5 row" in problems
    assert "row 4, column 'targetid': empty: a desi row is named by its TARGETID" in problems
    assert "row 5, column 'healpix': 49152 is out of range" in problems
    assert "row 6, column 'survey': unknown survey 'lamost'" in problems


def test_local_folder_labels_sdss5_files_by_field_mjd_catalogid(tmp_path: Path, sdss5_file: Path):
    from agn_saliency.acquire.catalog import read_catalog
    from agn_saliency.acquire.inventory import scan_folder

    folder = sdss5_file.parent
    renamed = folder / "renamed.fits"  # found by its content too
    renamed.write_bytes(sdss5_fixture_bytes(catalogid=4350968446))
    catalog = read_catalog(
        _write_catalog(
            tmp_path / "labels.csv",
            "field,mjd,catalogid,label,z\n15173,59381,4350968445,type1,\n15173,59381,4350968446,type2,\n15173,59381,1,type1,\n",
        )
    )
    rows = scan_folder(folder, catalog)
    assert [(r["survey"], r["specid"], r["status"], r["label"]) for r in rows] == [
        ("sdss5", "015173-59381-4350968445", "ok", "type1"),
        ("sdss5", "015173-59381-4350968446", "ok", "type2"),
        ("sdss5", "015173-59381-1", "missing", "type1"),
    ]
    result = reduce.reduce_inventory([r for r in rows if r["status"] == "ok"], reduce.ReductionParameters())
    assert list(result.meta["survey"]) == ["sdss5", "sdss5"] and list(result.meta["label"]) == ["type1", "type2"]
    assert list(result.meta["specid"]) == ["015173-59381-4350968445", "015173-59381-4350968446"]
    assert list(result.meta["plate"]) == [-1, -1] and list(result.meta["mjd"]) == [59381, 59381]


def _model(n_pixels: int):
    from agn_saliency.learn.classify import build_pipeline, pipeline_params

    rng = np.random.default_rng(0)
    flux = 1 + 0.1 * rng.standard_normal((40, n_pixels))
    label = np.array(["type1", "type2"] * 20)
    flux[label == "type1", n_pixels // 2 - 5 : n_pixels // 2 + 5] += 1.0
    return build_pipeline("linear", seed=0).set_params(**pipeline_params(C=1.0)).fit(flux, label)


def test_predict_on_a_folder_mixing_sdss_and_sdss5(tmp_path: Path):
    """The SDSS-V fixture and the BOSS file it was made from: one row each, same probabilities."""
    from agn_saliency.predict.folder import classify_folder

    folder = tmp_path / "mixed"
    folder.mkdir()
    (folder / sdss5.spec_lite_relpath(**SDSS5_IDS).rsplit("/", 1)[1]).write_bytes(sdss5_fixture_bytes())
    (folder / SDSS5_SOURCE).write_bytes((REAL_DIR / SDSS5_SOURCE).read_bytes())
    params = reduce.ReductionParameters(n_pixels=200)
    rows, result = classify_folder(folder, _model(params.n_pixels), params)
    by_survey = {row["survey"]: row for row in rows}
    assert sorted(by_survey) == ["sdss", "sdss5"] and len(rows) == 2
    new, old = by_survey["sdss5"], by_survey["sdss"]
    assert (new["specid"], new["plate"], new["fiberid"], new["status"]) == ("015173-59381-4350968445", "", "", "ok")
    assert new["z"] == pytest.approx(old["z"]) and new["predicted"] == old["predicted"]
    probabilities = [name for name in new if name.startswith("p_")]
    assert probabilities and all(new[name] == pytest.approx(old[name], abs=1e-12) for name in probabilities)
    assert new["duplicate_of"] == "" and old["duplicate_of"] == ""
    assert sorted(result.survey) == ["sdss", "sdss5"]


# ------------------------------------------------------------------------------ the workflow


@pytest.mark.workflow
@pytest.mark.skipif(not DESI_REAL.is_dir(), reason="../shared/data/desi_real absent")
def test_sdss_source_downloads_sdss5_and_desi_rows_to_the_cube_without_writing_a_login(tmp_path: Path):
    """``data.source: sdss`` on a catalog of SDSS, SDSS-V and DESI rows: every file fetched from a
    local server through the rule, the SDSS-V and DESI spectra in the cube under their survey,
    the absent DESI target listed in rejected.ecsv, and neither login written anywhere."""
    import h5py
    import yaml
    from helpers import run_tiny
    from http_faults import serve_folder

    from agn_saliency.acquire import simulate
    from agn_saliency.io.tables import read_table

    root = _sas_and_desi(tmp_path)
    params = simulate.SimulationParameters()
    catalog = simulate.simulate_catalog(5, 5, 5, 5, params)
    simulate.write_spectra(catalog, root, 5, params)
    lines = ["survey,plate,mjd,fiberid,field,catalogid,targetid,desi_survey,program,healpix,label,z"]
    lines += [f"sdss,{r['plate']},{r['mjd']},{r['fiberid']},,,,,,,{r['label']}," for r in catalog]
    lines += [
        f"sdss5,,{SDSS5_IDS['mjd']},,{SDSS5_IDS['field']},{SDSS5_IDS['catalogid']},,,,,type1,",
        f"desi,,,,,,{DESI_TARGETS[1]},sv3,dark,26065,type2,",
        "desi,,,,,,39627866878599999,sv3,dark,26065,type2,",
    ]
    (tmp_path / "catalog.csv").write_text("\n".join(lines) + "\n")
    user, password = "bob-login", "d3si-Pa55"
    workdir = tmp_path / "run"
    workdir.mkdir()
    with serve_folder(root) as server:
        login = server.url.replace("http://", f"http://{user}:{password}@")
        config = tmp_path / "source.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "data": {
                        "n_shards": 2,
                        "source": "sdss",
                        "catalog": str(tmp_path / "catalog.csv"),
                        "sdss": {"base_url": login, "timeout_s": 2.0, "backoff_s": 0.01, "retries": 1},
                        "desi": {"base_url": login + "/desi"},
                    },
                    "tsne": {"perplexities": [2]},
                }
            )
        )
        result = run_tiny(workdir, "--cores", "2", "results/reduced/cube.h5", configs=(config,))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    with h5py.File(workdir / "results/reduced/cube.h5", "r") as cube:
        ids = list(zip(cube["meta/survey"].asstr()[()], cube["meta/specid"].asstr()[()]))
    assert ("sdss5", "015173-59381-4350968445") in ids and ("desi", str(DESI_TARGETS[1])) in ids
    assert sum(survey == "sdss" for survey, _ in ids) == len(catalog)
    rejected = read_table(workdir / "results/reduced/rejected.ecsv")
    assert [(r["survey"], r["specid"]) for r in rejected] == [("desi", "39627866878599999")]
    assert "is not in the FIBERMAP of coadd-sv3-dark-26065.fits" in rejected[0]["reason"]
    leaks = [
        path.relative_to(workdir)
        for path in workdir.rglob("*")
        if path.is_file() and any(secret in path.read_bytes() for secret in (user.encode(), password.encode()))
    ]
    assert leaks == [], f"the login is written in {leaks}"
    assert user not in result.stdout + result.stderr and password not in result.stdout + result.stderr
