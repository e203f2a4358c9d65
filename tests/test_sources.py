"""The real-data sources through the workflow, up to the cube:

* ``data.source: sdss`` downloads a catalog from a real HTTP server on 127.0.0.1 (faults
  injected), reduces only verified files, lists missing ones in rejected.tsv, and a rerun
  fetches nothing;
* ``data.source: local`` reads ../shared/data/sdss_real with a catalog of its files.
"""

from __future__ import annotations

import csv
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from agn_saliency import simulate
from agn_saliency.files import read_tsv
from agn_saliency.sdss import spec_lite_relpath, specid
from conftest import REAL_DIR, run_tiny
from http_faults import serve_folder

pytestmark = pytest.mark.workflow


def source_config(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "source.yaml"
    path.write_text(yaml.safe_dump({"data": {"n_shards": 2, **data}}))
    return path


def test_sdss_source_downloads_reduces_and_resumes(tmp_path: Path) -> None:
    sas = tmp_path / "sas"
    params = simulate.SimulationParameters()
    catalog = simulate.simulate_catalog(4, 4, 2, 5, params)
    simulate.write_spectra(catalog, sas, 5, params)
    absent = catalog[0]  # listed in the catalog, deleted from the server: a 404
    (sas / spec_lite_relpath(absent["plate"], absent["mjd"], absent["fiberid"], "26")).unlink()
    flaky = catalog[1]  # two 500s, then served
    catalog_csv = tmp_path / "catalog.csv"
    catalog_csv.write_text("plate,mjd,fiberid,label\n" + "".join(
        f"{r['plate']},{r['mjd']},{r['fiberid']},{r['label']}\n" for r in catalog))
    workdir = tmp_path / "run"
    workdir.mkdir()
    with serve_folder(sas) as server:
        server.add_fault(spec_lite_relpath(flaky["plate"], flaky["mjd"], flaky["fiberid"], "26"), "status", times=2, code=500)
        config = source_config(tmp_path, {"source": "sdss", "catalog": str(catalog_csv),
                                          "sdss": {"base_url": server.url, "timeout_s": 2.0, "backoff_s": 0.01, "retries": 3}})
        result = run_tiny(workdir, "--cores", "2", "results/reduced/cube.h5", "results/acquire/download_summary.json", configs=(config,))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        first_hits = server.total_hits()

        rejected = read_tsv(workdir / "results/reduced/rejected.tsv")
        assert [(r["specid"], r["reason"].split(":")[0]) for r in rejected] == [
            (specid(absent["plate"], absent["mjd"], absent["fiberid"]), "missing")]
        with h5py.File(workdir / "results/reduced/cube.h5", "r") as cube:
            assert cube["flux"].shape[0] == len(catalog) - 1
            assert set(cube["meta/label"].asstr()[()]) == {"type1", "type2", "intermediate"}
        assert not list((workdir / "data").rglob("*.tmp"))

        # A rerun from scratch of the download jobs finds every file present and valid: no GET at all.
        server.reset_hits()
        again = run_tiny(workdir, "--cores", "2", "results/reduced/cube.h5", "--forcerun", "download_shard", configs=(config,))
        assert again.returncode == 0, again.stderr[-3000:]
        assert server.hits_for(spec_lite_relpath(flaky["plate"], flaky["mjd"], flaky["fiberid"], "26")) == 0
        assert server.total_hits() == 1  # only the missing file is asked for again
    assert first_hits >= len(catalog) + 2


@pytest.mark.skipif(not REAL_DIR.is_dir(), reason="../shared/data/sdss_real is absent")
def test_local_source_on_real_files(tmp_path: Path) -> None:
    with open(REAL_DIR / "index.csv", newline="") as handle:
        index = list(csv.DictReader(handle))
    labels = tmp_path / "labels.csv"
    labels.write_text("plate,mjd,fiberid,label\n" + "".join(
        f"{r['plate']},{r['mjd']},{r['fiberid']},{r['expected'] if r['expected'] in ('type1', 'type2') else ''}\n" for r in index))
    config = source_config(tmp_path, {"source": "local", "local_dir": str(REAL_DIR), "catalog": str(labels)})
    result = run_tiny(tmp_path, "--cores", "2", "results/reduced/cube.h5", configs=(config,))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    too_far = {specid(r["plate"], r["mjd"], r["fiberid"]) for r in index if float(r["z"]) > 0.8}
    rejected = read_tsv(tmp_path / "results/reduced/rejected.tsv")
    assert {r["specid"] for r in rejected} == too_far
    assert all("redshift" in r["reason"] for r in rejected)
    with h5py.File(tmp_path / "results/reduced/cube.h5", "r") as cube:
        ids = cube["meta/specid"].asstr()[()]
        got = dict(zip(ids, cube["meta/label"].asstr()[()]))
        assert np.isfinite(cube["flux"][()]).all()
    assert len(ids) == len(index) - len(too_far)
    for r in index:
        if r["expected"] in ("type1", "type2"):
            assert got[specid(r["plate"], r["mjd"], r["fiberid"])] == r["expected"]
