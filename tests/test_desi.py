"""DESI spectra: the reader, the survey-qualified identity and predict on the real DESI slices.

The real files are ``../shared/data/desi_real`` (genuine DESI EDR/DR1 coadd, spectra and redrock
files, cut by the DESI tools); the tests skip when the folder is absent. The reduction of the DR1
galaxy is compared with an independent one written here: astropy.io.fits, an inverse-variance arm
merge of our own, and SpectRes (a flux-conserving resampler of another author).
"""

from __future__ import annotations

import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from helpers import SHARED

from agn_saliency.core.identity import qualified_id, spectrum_id, split_qualified_id
from agn_saliency.io.cube import read_meta, write_shard
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory

DESI_DIR = SHARED / "data" / "desi_real"
needs_desi = pytest.mark.skipif(
    not (DESI_DIR / "coadd-4-80613-thru20210324.fits").is_file(), reason=f"real DESI files not available ({DESI_DIR} absent)"
)
GALAXY = 39633345008634465
COADDS = ("coadd-4-80613-thru20210324.fits", "coadd-5-169-thru20210419.fits", "coadd-sv3-dark-26065.fits")


# ------------------------------------------------------------------------------------ identity


def test_ids_of_every_survey_and_the_sdss_id_unchanged() -> None:
    assert spectrum_id("sdss", plate=266, mjd=51602, fiberid=1) == "0266-51602-0001"
    assert spectrum_id("sdss5", field=15173, mjd=59381, catalogid=4350968445) == "015173-59381-4350968445"
    assert spectrum_id("desi", targetid=GALAXY) == str(GALAXY)
    assert qualified_id("sdss", "0266-51602-0001") == "0266-51602-0001"
    for survey, specid in (("desi", str(GALAXY)), ("sdss5", "015173-59381-4350968445"), ("desi", "-2713437")):
        assert split_qualified_id(qualified_id(survey, specid)) == (survey, specid)
    with pytest.raises(ValueError, match="unknown survey 'lamost'"):
        spectrum_id("lamost", obsid=1)


def test_a_cube_written_before_surveys_is_read_as_sdss(tmp_path: Path) -> None:
    old = tmp_path / "old.h5"
    meta = {"specid": np.array(["0266-51602-0001", "0266-51602-0002"], dtype=object), "label": np.array(["type1", "type2"])}
    write_shard(old, np.arange(3.0), np.ones((2, 3), np.float32), np.ones((2, 3), np.float32), np.zeros((2, 3), np.uint8), meta)
    with h5py.File(old, "r") as handle:
        assert "survey" not in handle["meta"]
    read = read_meta(old)
    assert list(read["survey"]) == ["sdss", "sdss"] and list(read["healpix"]) == [-1, -1]
    assert list(read_meta(old, ("survey", "specid"))["survey"]) == ["sdss", "sdss"]
    with pytest.raises(KeyError, match=r"old\.h5: no meta/nonsense"):
        read_meta(old, ("nonsense",))


# ---------------------------------------------------------------------------------- the reader


@needs_desi
def test_every_fibermap_row_is_a_spectrum_or_a_rejection_with_its_reason() -> None:
    from agn_saliency.spectra.files import read_file

    expected = {
        "coadd-4-80613-thru20210324.fits": [""],
        "coadd-5-169-thru20210419.fits": [
            "no target",
            "bad fibre (COADD_FIBERSTATUS = 512)",
            "no target",
            "no target",
            "redshift missing",
        ],
        "coadd-sv3-dark-26065.fits": [
            "no target",
            "no target",
            "redshift missing",
            "sky fibre (OBJTYPE SKY)",
            "redshift missing",
        ],
        "spectra-sv3-dark-26065.fits": [
            "no target",
            "no target",
            "redshift missing",
            "sky fibre",
            "bad fibre (FIBERSTATUS = 512)",
        ],
    }
    for name, reasons in expected.items():
        read = read_file(DESI_DIR / name)
        assert read.kind == "desi" and [item.file_row for item in read.items] == list(range(len(reasons)))
        for item, reason in zip(read.items, reasons):
            assert item.reason.startswith(reason), (name, item.file_row, item.reason)
            assert (item.spectrum is None) == (reason not in ("", "redshift missing"))
    galaxy = read_file(DESI_DIR / COADDS[0]).items[0].spectrum
    assert galaxy.survey == "desi" and galaxy.specid == str(GALAXY) and galaxy.sdss_class == "GALAXY"
    assert galaxy.z == pytest.approx(0.36874, abs=5e-6) and galaxy.zwarning == 0
    assert galaxy.wavelength[0] == 3600.0 and galaxy.wavelength[-1] == pytest.approx(9824.0)
    assert np.all(np.diff(galaxy.wavelength) == pytest.approx(0.8))  # one array, overlaps merged
    assert read_file(DESI_DIR / "redrock-4-80613-thru20210324.fits").kind == "redshifts"
    sv3 = read_file(DESI_DIR / COADDS[2]).items[2]
    assert (sv3.ids["desi_survey"], sv3.ids["program"], sv3.ids["healpix"]) == ("sv3", "dark", 26065)


def _independent_reduction(params: ReductionParameters) -> np.ndarray:
    """The DR1 galaxy reduced without the project's code: astropy, our own inverse-variance arm
    merge, SpectRes for the flux-conserving resampling, the median in the window to normalise."""
    from astropy.io import fits
    from spectres import spectres

    with fits.open(DESI_DIR / "redrock-4-80613-thru20210324.fits") as redrock:
        table = redrock["REDSHIFTS"].data
        z = float(table["Z"][table["TARGETID"] == GALAXY][0])
    with fits.open(DESI_DIR / "coadd-4-80613-thru20210324.fits") as coadd:
        arms = []
        for arm in "BRZ":
            wave = np.asarray(coadd[f"{arm}_WAVELENGTH"].data, float)
            flux = np.asarray(coadd[f"{arm}_FLUX"].data[0], float)
            ivar = np.asarray(coadd[f"{arm}_IVAR"].data[0], float)
            ivar[np.asarray(coadd[f"{arm}_MASK"].data[0]) != 0] = 0.0
            arms.append((wave, flux, ivar))
    # every arm sits on the 0.8 Å grid that starts at the blue arm's first pixel
    start, step = arms[0][0][0], 0.8
    n = int(round((arms[-1][0][-1] - start) / step)) + 1
    sum_wf, sum_w = np.zeros(n), np.zeros(n)
    for wave, flux, ivar in arms:
        index = np.round((wave - start) / step).astype(int)
        sum_wf[index] += ivar * flux
        sum_w[index] += ivar
    wave = start + step * np.arange(n)
    assert (sum_w > 0).all()  # no pixel of this galaxy is masked in every arm
    flux = sum_wf / sum_w
    rest = wave / (1 + z)
    centres = params.wavelength()
    resampled = spectres(centres, rest, flux, spec_errs=1 / np.sqrt(sum_w), verbose=False)[0]
    lo, hi = params.norm_window
    return resampled / np.mean(resampled[(centres >= lo) & (centres <= hi)])


@needs_desi
def test_dr1_galaxy_reduced_as_an_independent_reduction_does() -> None:
    params = ReductionParameters()
    rows = [{"row": 1, "survey": "desi", "specid": "", "path": str(DESI_DIR / COADDS[0]), "status": "ok", "label": ""}]
    result = reduce_inventory(rows, params)
    assert not result.rejected and list(result.meta["specid"]) == [str(GALAXY)]
    assert result.meta["z"][0] == pytest.approx(0.36874, abs=5e-6) and result.meta["z_source"][0] == "file"
    independent = _independent_reduction(params)
    relative = np.abs(result.flux[0] - independent) / np.abs(independent)
    assert relative.max() < 1e-6, f"largest relative difference {relative.max():.2e} at pixel {relative.argmax()}"


@needs_desi
def test_a_catalog_z_and_target_select_one_row_of_a_desi_file() -> None:
    target = "39627866878514741"  # EDR sv3 target without a redrock file: the catalog gives z
    rows = [
        {
            "row": 1,
            "survey": "desi",
            "specid": target,
            "path": str(DESI_DIR / COADDS[2]),
            "status": "ok",
            "z": "0.1",
            "label": "type2",
        },
        {
            "row": 2,
            "survey": "desi",
            "specid": "123",
            "path": str(DESI_DIR / COADDS[2]),
            "status": "ok",
            "z": "0.1",
            "label": "type1",
        },
    ]
    result = reduce_inventory(rows, ReductionParameters())
    assert list(result.meta["specid"]) == [target] and list(result.meta["label"]) == ["type2"]
    assert list(result.meta["z_source"]) == ["catalog"] and list(result.meta["healpix"]) == [26065]
    assert [r["reason"] for r in result.rejected] == ["TARGETID 123 of the catalog is not in the file's FIBERMAP"]


# ------------------------------------------------------------------------------------- predict


def _model(n_pixels: int):
    from agn_saliency.learn.classify import build_pipeline, pipeline_params

    rng = np.random.default_rng(0)
    flux = 1 + 0.1 * rng.standard_normal((40, n_pixels))
    label = np.array(["type1", "type2"] * 20)
    flux[label == "type1", n_pixels // 2 - 5 : n_pixels // 2 + 5] += 1.0
    return build_pipeline("linear", seed=0).set_params(**pipeline_params(C=1.0)).fit(flux, label)


@needs_desi
def test_predict_gives_one_row_per_fibermap_row_and_flags_the_spectra_files(tmp_path: Path) -> None:
    from agn_saliency.predict.folder import classify_folder

    folder = tmp_path / "desi_real"
    shutil.copytree(DESI_DIR, folder)
    params = ReductionParameters(n_pixels=200)
    rows, result = classify_folder(folder, _model(params.n_pixels), params)
    by_file: dict[str, list[dict]] = {}
    for row in rows:
        by_file.setdefault(Path(row["file"]).name, []).append(row)
    assert "redrock-4-80613-thru20210324.fits" not in by_file  # read with its coadd, listed as skipped by the stage
    assert len(rows) == 21  # 1 + 5 + 5 coadd rows, 5 + 5 spectra-file rows
    for name in COADDS:
        assert len(by_file[name]) == {"coadd-4-80613-thru20210324.fits": 1}.get(name, 5)
    galaxy = by_file[COADDS[0]][0]
    assert (galaxy["survey"], galaxy["specid"], galaxy["z"], galaxy["status"]) == ("desi", str(GALAXY), 0.36874, "ok")
    assert galaxy["verdict"] in ("not_agn", "uncertain", "classified", "ood") and galaxy["gate_source"] in (
        "",
        "own (DESI: no SPZLINE)",
    )
    sky = next(row for row in by_file[COADDS[2]] if row["specid"] == "616088619186127404")
    assert sky["verdict"] == "rejected" and sky["reason"] == "sky fibre (OBJTYPE SKY)"
    reasons = [row["reason"] for rows_ in by_file.values() for row in rows_ if row["status"] == "rejected"]
    assert sum(reason.startswith("no target") for reason in reasons) == 10  # 5 rows × (coadd + spectra)
    assert sum(reason.startswith("bad fibre") for reason in reasons) == 3
    for name in ("spectra-sv3-dark-26065.fits", "spectra-5-169-thru20210419.fits"):
        coadd = str(folder / name.replace("spectra-", "coadd-"))
        assert all(row["duplicate_of"] == coadd for row in by_file[name]), by_file[name]
    assert all(row["duplicate_of"] == "" for name in COADDS for row in by_file[name])
    keys = [row["key"] for row in rows]
    assert len(set(keys)) == len(keys) and f"coadd-4-80613-thru20210324__{GALAXY}" in keys
    assert list(result.key) == [f"coadd-4-80613-thru20210324__{GALAXY}"] and list(result.survey) == ["desi"]


@needs_desi
@pytest.mark.parametrize("fmt", ["csv", "fits"])
def test_a_local_catalog_labels_desi_targets_by_targetid(tmp_path: Path, fmt: str) -> None:
    from astropy.table import Table

    from agn_saliency.acquire.catalog import read_catalog
    from agn_saliency.acquire.inventory import scan_folder

    table = Table(
        {
            "TARGETID": [GALAXY, 39627866878514741, 42],
            "label": ["type2", "type1", "type1"],
            "z": [np.nan, 0.1, 0.2],
        }
    )
    path = tmp_path / f"catalog.{fmt}"
    table.write(path, format="fits" if fmt == "fits" else "ascii.csv")
    catalog = read_catalog(path)
    assert list(catalog["targetid"]) == [GALAXY, 39627866878514741, 42]
    rows = scan_folder(DESI_DIR, catalog)
    labelled = {(row["specid"], row["status"]): row for row in rows if row["survey"] == "desi" and row["specid"]}
    assert Path(labelled[str(GALAXY), "ok"]["path"]).name == COADDS[0]
    # the sv3 target sits in the coadd and in the spectra file: taken from the coadd, the other listed
    assert Path(labelled["39627866878514741", "ok"]["path"]).name == COADDS[2]
    assert "already taken from" in labelled["39627866878514741", "duplicate"]["reason"]
    assert "no DESI file" in labelled["42", "missing"]["reason"]
    result = reduce_inventory([row for row in rows if row["specid"]], ReductionParameters())
    reduced = dict(zip(result.meta["specid"], zip(result.meta["label"], result.meta["z_source"])))
    assert reduced == {str(GALAXY): ("type2", "file"), "39627866878514741": ("type1", "catalog")}


@pytest.mark.workflow
@needs_desi
def test_snakemake_predict_on_the_desi_folder(tiny_run: Path, tmp_path: Path) -> None:
    import json

    from helpers import run_tiny

    from agn_saliency.acquire.inventory import folder_label
    from agn_saliency.io.tables import read_table

    folder = tmp_path / "desi_real"
    shutil.copytree(DESI_DIR, folder)
    result = run_tiny(tiny_run, "--cores", "2", "predict", "--config", f"predict_dir={folder}")
    assert result.returncode == 0, result.stderr[-4000:]
    out = tiny_run / "results" / "predict" / folder_label(folder)
    rows = read_table(out / "predictions.ecsv")
    assert len(rows) == 21 and sum(row["duplicate_of"] == "" for row in rows) == 11  # one per coadd FIBERMAP row
    galaxy = next(row for row in rows if row["specid"] == str(GALAXY))
    assert (galaxy["survey"], galaxy["z"], galaxy["healpix"]) == ("desi", "0.36874", "-1")  # a tile coadd: no healpix
    assert galaxy["verdict"] != "rejected"
    assert all(row["reason"] for row in rows if row["verdict"] == "rejected")
    record = json.loads((out / "folder.json").read_text())
    assert [Path(entry["path"]).name for entry in record["skipped_paths"]] == ["redrock-4-80613-thru20210324.fits"]
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == [f"coadd-4-80613-thru20210324__{GALAXY}.png"]


@needs_desi
def test_batched_and_sharded_predict_give_classify_folders_desi_rows(tmp_path: Path) -> None:

    from agn_saliency.predict.batch import classify_files
    from agn_saliency.predict.folder import classify_folder
    from agn_saliency.predict.shards import merge_shards, predict_shard, read_shard, write_shard

    folder = tmp_path / "desi_real"
    shutil.copytree(DESI_DIR, folder)
    params = ReductionParameters(n_pixels=200)
    model, methods = _model(params.n_pixels), {"gradient": {}}
    today, today_maps = classify_folder(folder, model, params, methods=methods)
    fast, fast_maps = classify_files(folder, model, params, methods=methods)
    shards = tmp_path / "shards"
    shards.mkdir()
    rows_paths, maps_paths = [], []
    for shard in range(3):
        rows, result, digests = predict_shard(folder, shard, 3, model, params, methods=methods)
        rows_paths.append(shards / f"{shard}.jsonl")
        maps_paths.append(shards / f"{shard}.h5")
        write_shard(rows_paths[-1], maps_paths[-1], rows, result, digests)
    merged, merged_maps, _ = merge_shards(folder, rows_paths, maps_paths)

    def comparable(row: dict) -> dict:  # the gate's fitted numbers differ within tolerance (fast fitter)
        return {
            k: v
            for k, v in row.items()
            if k
            in (
                "file",
                "key",
                "survey",
                "specid",
                "status",
                "reason",
                "duplicate_of",
                "predicted",
                "z",
                "verdict",
                "healpix",
                "program",
            )
        }

    assert len(today) == 21
    assert [comparable(r) for r in fast] == [comparable(r) for r in today]
    assert [comparable(r) for r in merged] == [comparable(r) for r in today]
    # with 3 shards the spectra files (shard 0) and their coadds (shard 2) are apart: found at the merge
    assert sum(bool(row["duplicate_of"]) for row in merged) == 10
    for maps in (fast_maps, merged_maps):
        assert list(maps.key) == list(today_maps.key) and list(maps.survey) == ["desi"]
        np.testing.assert_allclose(maps.attributions["gradient"], today_maps.attributions["gradient"], rtol=1e-5, atol=1e-9)
    files_of_shard = [{row["file"] for row in read_shard(path)[0]} for path in rows_paths]
    for name in {row["file"] for row in merged}:  # every target of a file in one shard
        assert sum(name in files for files in files_of_shard) == 1, name
