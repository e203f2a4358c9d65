"""The real-data sources through the workflow, up to the cube:

* ``data.source: sdss`` downloads a catalog from a real HTTP server on 127.0.0.1 (faults
  injected), reduces only verified files, lists missing ones in rejected.ecsv, and a rerun
  fetches nothing; a download job with failed files fails the run, naming the server and the
  reasons, and the same command run again fetches what is missing (unless
  ``data.sdss.max_failed_fraction`` accepts a partial sample); a catalog none of whose files can
  be reduced stops at merge_cube with the rejection counts;
* ``data.source: local`` reads ../shared/data/sdss_real with a catalog of its files.
"""

from __future__ import annotations

import csv
import re
import socket
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from helpers import REAL_DIR, needs_real, run_tiny, settings_changed
from http_faults import serve_folder

from agn_saliency.acquire import simulate
from agn_saliency.io.tables import read_table
from agn_saliency.spectra.sdss import spec_lite_relpath, specid

pytestmark = pytest.mark.workflow


# The smallest sdss catalog the configuration check accepts with the tiny config (cv_folds 3,
# calibration_folds 2): 5 spectra per class; t-SNE perplexity within (n − 1) / 3 of 10 spectra.
PER_CLASS = 5
SMALL_SAMPLE = {"tsne": {"perplexities": [2]}}


def source_config(tmp_path: Path, data: dict, name: str = "source.yaml") -> Path:
    path = tmp_path / name
    extra = SMALL_SAMPLE if data.get("source") == "sdss" else {}
    path.write_text(yaml.safe_dump({"data": {"n_shards": 2, **data}, **extra}))
    return path


def sdss_server_and_catalog(tmp_path: Path, n_type1: int, n_type2: int, n_intermediate: int) -> tuple[Path, np.ndarray, Path]:
    """A SAS-like folder of simulated spectra, their catalog array and its CSV."""
    sas = tmp_path / "sas"
    params = simulate.SimulationParameters()
    catalog = simulate.simulate_catalog(n_type1, n_type2, n_intermediate, 5, params)
    simulate.write_spectra(catalog, sas, 5, params)
    catalog_csv = tmp_path / "catalog.csv"
    catalog_csv.write_text(
        "plate,mjd,fiberid,label\n" + "".join(f"{r['plate']},{r['mjd']},{r['fiberid']},{r['label']}\n" for r in catalog)
    )
    return sas, catalog, catalog_csv


def relpath(row) -> str:
    return spec_lite_relpath(row["plate"], row["mjd"], row["fiberid"], "26")


# Small timeouts and back-offs: the failing runs take seconds, not minutes.
FAST_SDSS = {"timeout_s": 2.0, "backoff_s": 0.01, "max_backoff_s": 0.05, "retries": 1, "throughput_grace_s": 5.0}


def test_sdss_source_downloads_reduces_and_resumes(tmp_path: Path) -> None:
    sas, catalog, catalog_csv = sdss_server_and_catalog(tmp_path, PER_CLASS, PER_CLASS, PER_CLASS)
    absent = catalog[0]  # listed in the catalog, deleted from the server: a 404
    (sas / spec_lite_relpath(absent["plate"], absent["mjd"], absent["fiberid"], "26")).unlink()
    flaky = catalog[1]  # two 500s, then served
    workdir = tmp_path / "run"
    workdir.mkdir()
    with serve_folder(sas) as server:
        server.add_fault(spec_lite_relpath(flaky["plate"], flaky["mjd"], flaky["fiberid"], "26"), "status", times=2, code=500)
        config = source_config(
            tmp_path,
            {
                "source": "sdss",
                "catalog": str(catalog_csv),
                "sdss": {"base_url": server.url, "timeout_s": 2.0, "backoff_s": 0.01, "retries": 3},
            },
        )
        result = run_tiny(
            workdir, "--cores", "2", "results/reduced/cube.h5", "results/acquire/download_summary.json", configs=(config,)
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        first_hits = server.total_hits()

        rejected = read_table(workdir / "results/reduced/rejected.ecsv")
        assert [(r["specid"], r["reason"].split(":")[0]) for r in rejected] == [
            (specid(absent["plate"], absent["mjd"], absent["fiberid"]), "missing")
        ]
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


def test_sdss_source_never_writes_a_login(tmp_path: Path) -> None:
    """A ``user:password@`` in data.sdss.base_url logs in (HTTP basic auth) and appears nowhere:
    not in any file of the run (results, logs, manifests, cube.h5's config, settings files,
    .snakemake/), nor on the terminal, also when downloads fail with reasons naming URLs."""
    sas, catalog, catalog_csv = sdss_server_and_catalog(tmp_path, PER_CLASS, PER_CLASS, PER_CLASS)
    workdir = tmp_path / "run"
    workdir.mkdir()
    user, password = "alice-login", "s3cret-Pa55"
    with serve_folder(sas) as server:
        server.add_fault(relpath(catalog[2]), "status", times=None, code=500)  # fails: its reason is logged
        login_url = server.url.replace("http://", f"http://{user}:{password}@") + "/sas"
        (sas / "sas").symlink_to(sas)
        config = source_config(
            tmp_path,
            {
                "source": "sdss",
                "catalog": str(catalog_csv),
                "sdss": {"base_url": login_url, **FAST_SDSS, "max_failed_fraction": 0.5},
            },
        )
        result = run_tiny(
            workdir, "--cores", "2", "results/reduced/cube.h5", "results/acquire/download_summary.json", configs=(config,)
        )
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        assert len(server.authorizations) == 1  # requests sent the login as a header
    with h5py.File(workdir / "results/reduced/cube.h5", "r") as cube:
        assert "http://***@127.0.0.1" in cube.attrs["config"]
    manifest = read_table(workdir / "results/acquire/manifest/shard-000.ecsv")
    assert all(row["url"].startswith("http://***@127.0.0.1") for row in manifest)
    leaks = [
        path.relative_to(workdir)
        for path in workdir.rglob("*")
        if path.is_file() and any(secret in path.read_bytes() for secret in (user.encode(), password.encode()))
    ]
    assert leaks == [], f"the login is written in {leaks}"
    terminal = result.stdout + result.stderr
    assert user not in terminal and password not in terminal


@needs_real
@pytest.mark.parametrize("catalog_format", ["csv", "ascii.ecsv", "fits", "votable"])
def test_local_source_on_real_files(tmp_path: Path, catalog_format: str) -> None:
    """The real files with a labels catalog in each format astronomers export (CasJobs, TOPCAT)."""
    from astropy.table import Table

    with open(REAL_DIR / "index.csv", newline="") as handle:
        index = list(csv.DictReader(handle))
    table = Table(
        {
            "plate": [int(r["plate"]) for r in index],
            "mjd": [int(r["mjd"]) for r in index],
            "fiberid": [int(r["fiberid"]) for r in index],
            "label": [r["expected"] if r["expected"] in ("type1", "type2") else "" for r in index],
        }
    )
    labels = tmp_path / f"labels.{catalog_format.split('.')[-1]}"
    table.write(labels, format=catalog_format)
    config = source_config(tmp_path, {"source": "local", "local_dir": str(REAL_DIR), "catalog": str(labels)})
    result = run_tiny(tmp_path, "--cores", "2", "results/reduced/cube.h5", configs=(config,))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    too_far = {specid(r["plate"], r["mjd"], r["fiberid"]) for r in index if float(r["z"]) > 0.8}
    rejected = read_table(tmp_path / "results/reduced/rejected.ecsv")
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


def free_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def download_logs(workdir: Path) -> str:
    return "".join(path.read_text() for path in sorted((workdir / "results/logs/download_shard").glob("*.log")))


def test_sdss_source_server_down_fails_then_same_command_resumes(tmp_path: Path) -> None:
    sas, catalog, catalog_csv = sdss_server_and_catalog(tmp_path, PER_CLASS, PER_CLASS, PER_CLASS)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config = source_config(tmp_path, {"source": "sdss", "catalog": str(catalog_csv), "sdss": {"base_url": url, **FAST_SDSS}})
    workdir = tmp_path / "run"
    workdir.mkdir()
    command = ("--cores", "2", "results/reduced/cube.h5")

    down = run_tiny(workdir, *command, configs=(config,))
    assert down.returncode != 0
    output = down.stdout + down.stderr
    logs = download_logs(workdir)
    for text in (output, logs):
        assert f"failed to download from {url}" in text, text[-3000:]
        assert "connection refused" in text
    assert re.search(rf"{len(catalog) // 2 + 1} of {len(catalog) // 2 + 1} files failed", logs)
    assert not (workdir / "results/reduced/cube.h5").exists()
    assert not list((workdir / "results/acquire").glob("manifest/*.ecsv"))  # failed jobs leave no outputs

    with serve_folder(sas, port=port) as server:
        back = run_tiny(workdir, *command, configs=(config,))
        assert back.returncode == 0, back.stdout[-3000:] + back.stderr[-3000:]
        assert server.total_hits() == len(catalog)
    with h5py.File(workdir / "results/reduced/cube.h5", "r") as cube:
        assert sorted(cube["meta/specid"].asstr()[()]) == sorted(specid(r["plate"], r["mjd"], r["fiberid"]) for r in catalog)
    assert read_table(workdir / "results/reduced/rejected.ecsv") == []


def test_sdss_source_partial_sample_only_when_accepted(tmp_path: Path) -> None:
    sas, catalog, catalog_csv = sdss_server_and_catalog(tmp_path, PER_CLASS, PER_CLASS, PER_CLASS)
    broken = catalog[0]
    broken_id = specid(broken["plate"], broken["mjd"], broken["fiberid"])
    workdir = tmp_path / "run"
    workdir.mkdir()
    command = ("--cores", "2", "results/reduced/cube.h5")
    with serve_folder(sas) as server:
        server.add_fault(relpath(broken), "status", times=None, code=500)
        strict = source_config(
            tmp_path, {"source": "sdss", "catalog": str(catalog_csv), "sdss": {"base_url": server.url, **FAST_SDSS}}
        )
        failed = run_tiny(workdir, *command, configs=(strict,))
        assert failed.returncode != 0
        logs = download_logs(workdir)
        assert re.search(r"1 of \d+ files failed", logs) and "HTTP 500" in logs and broken_id in logs, logs[-3000:]
        assert broken_id in failed.stdout + failed.stderr
        assert not (workdir / "results/reduced/cube.h5").exists()
        assert server.hits_for(relpath(broken)) == 2  # retries: 1

        accepting = source_config(
            tmp_path,
            name="partial.yaml",
            data={
                "source": "sdss",
                "catalog": str(catalog_csv),
                "sdss": {"base_url": server.url, **FAST_SDSS, "max_failed_fraction": 0.5},
            },
        )
        partial = run_tiny(workdir, *command, configs=(accepting,))
        assert partial.returncode == 0, partial.stdout[-3000:] + partial.stderr[-3000:]
        for row in catalog[1:]:
            assert server.hits_for(relpath(row)) == 1  # the files that had arrived were not fetched again
        assert server.hits_for(relpath(broken)) == 4

        # Transport settings and the accepted fraction decide how files are fetched, not which:
        # changing them reruns nothing.
        tuned = source_config(
            tmp_path,
            name="tuned.yaml",
            data={
                "source": "sdss",
                "catalog": str(catalog_csv),
                "sdss": {
                    "base_url": server.url,
                    "timeout_s": 9.0,
                    "retries": 3,
                    "connections": 2,
                    "min_throughput_bytes_s": 10.0,
                    "throughput_grace_s": 60.0,
                    "max_failed_fraction": 0.4,
                },
            },
        )
        dry = run_tiny(workdir, *command, "--dry-run", configs=(tuned,))
        assert dry.returncode == 0, dry.stdout[-3000:] + dry.stderr[-3000:]
        for rule in ("download_shard", "summarise_downloads", "reduce_shard"):
            assert f"rule {rule}:" not in dry.stdout + dry.stderr, dry.stdout[-3000:]
    rejected = read_table(workdir / "results/reduced/rejected.ecsv")
    assert [(r["specid"], r["reason"].split(":")[0]) for r in rejected] == [(broken_id, "failed")]
    assert "HTTP 500" in rejected[0]["reason"]
    with h5py.File(workdir / "results/reduced/cube.h5", "r") as cube:
        assert cube["flux"].shape[0] == len(catalog) - 1
    manifests = [row for path in sorted((workdir / "results/acquire/manifest").glob("*.ecsv")) for row in read_table(path)]
    assert sorted(row["status"] for row in manifests) == ["failed"] + ["ok"] * (len(catalog) - 1)


def test_sdss_source_with_nothing_reducible_stops_at_merge_cube(tmp_path: Path) -> None:
    sas, catalog, catalog_csv = sdss_server_and_catalog(tmp_path, PER_CLASS, PER_CLASS, PER_CLASS)
    for path in sas.rglob("*.fits"):
        path.unlink()  # every file 404: missing, which the download jobs accept
    workdir = tmp_path / "run"
    workdir.mkdir()
    with serve_folder(sas) as server:
        config = source_config(
            tmp_path, {"source": "sdss", "catalog": str(catalog_csv), "sdss": {"base_url": server.url, **FAST_SDSS}}
        )
        result = run_tiny(workdir, "--cores", "2", "results/plots/sample_spectra.png", configs=(config,))
    assert result.returncode != 0
    log = (workdir / "results/logs/merge_cube.log").read_text()
    expected = f"no spectrum could be reduced: {len(catalog)} rejected — missing file: {len(catalog)}"
    assert expected in log and "HTTP 404" in log, log[-3000:]
    assert expected in result.stdout + result.stderr
    assert not (workdir / "results/reduced/cube.h5").exists()
    assert not (workdir / "results/logs/plot_sample.log").exists()


@needs_real
def test_local_source_reruns_scan_local_when_the_folder_content_changes(tmp_path: Path) -> None:
    import shutil

    folder = tmp_path / "local"
    (folder / "sub").mkdir(parents=True)
    shutil.copyfile(REAL_DIR / "spec-0332-52367-0639.fits", folder / "mine.fits")
    workdir = tmp_path / "run"
    workdir.mkdir()
    config = source_config(tmp_path, {"source": "local", "local_dir": str(folder)})
    inventories = [f"results/acquire/inventory/shard-{i:03d}.ecsv" for i in range(2)]

    def scan_local_reasons() -> list[str]:
        dry = run_tiny(workdir, "-n", *inventories, configs=(config,))
        assert dry.returncode == 0, dry.stderr[-3000:]
        text = (dry.stdout + dry.stderr).split("rule scan_local:", 1)
        return [line.strip() for line in text[1].splitlines() if line.strip().startswith("reason:")][:1] if len(text) == 2 else []

    def scanned() -> list[tuple[str, str]]:
        result = run_tiny(workdir, "--cores", "1", *inventories, configs=(config,))
        assert result.returncode == 0, result.stderr[-3000:]
        return [
            (Path(row["path"]).relative_to(folder).as_posix(), row["specid"])
            for name in inventories
            for row in read_table(workdir / name)
        ]

    assert scanned() == [("mine.fits", "0332-52367-0639")]
    assert scan_local_reasons() == []  # nothing changed, nothing to do
    shutil.copyfile(REAL_DIR / "spec-0295-51585-0596.fits", folder / "sub" / "spec-0295-51585-0596.fits")
    assert settings_changed(scan_local_reasons()[0])  # a file in a sub-folder
    assert scanned() == [("mine.fits", "0332-52367-0639"), ("sub/spec-0295-51585-0596.fits", "0295-51585-0596")]
    shutil.copyfile(REAL_DIR / "spec-0853-52374-0240.fits", folder / "mine.fits")
    assert settings_changed(scan_local_reasons()[0])  # a file replaced in place
    assert scanned() == [("mine.fits", "0853-52374-0240"), ("sub/spec-0295-51585-0596.fits", "0295-51585-0596")]

    (folder / "mine.fits").unlink()
    (folder / "sub" / "spec-0295-51585-0596.fits").unlink()
    empty = run_tiny(workdir, "-n", *inventories, configs=(config,))
    assert empty.returncode != 0
    assert f"data.local_dir='{folder}' holds no FITS files" in empty.stdout + empty.stderr


@needs_real
def test_local_source_reads_compressed_files_like_plain_ones(tmp_path: Path) -> None:
    """A folder mixing .fits, .fits.gz, .fits.bz2, .fit and .fit.gz copies of the real files gives
    the cube rows (flux, ivar, mask, meta but the file name) and rejections of the plain files."""
    import bz2
    import gzip

    mixed = tmp_path / "mixed_folder"
    mixed.mkdir()
    files = sorted(p for p in REAL_DIR.iterdir() if p.name.startswith(("spec-", "spSpec-")))
    for number, path in enumerate(files):
        data = path.read_bytes()
        if number % 3 == 0:
            (mixed / (path.name + ".gz")).write_bytes(gzip.compress(data))
        elif number % 3 == 1 and path.name.startswith("spec-"):
            (mixed / (path.name + ".bz2")).write_bytes(bz2.compress(data))
        else:
            (mixed / path.name).write_bytes(data)
    suffixes = {"".join(p.suffixes) for p in mixed.iterdir()}
    assert suffixes == {".fits", ".fits.gz", ".fits.bz2", ".fit", ".fit.gz"}
    cubes = {}
    for name, folder in (("plain", REAL_DIR), ("mixed", mixed)):
        workdir = tmp_path / name
        workdir.mkdir()
        config = source_config(workdir, {"source": "local", "local_dir": str(folder)})
        result = run_tiny(workdir, "--cores", "2", "results/reduced/cube.h5", configs=(config,))
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        with h5py.File(workdir / "results/reduced/cube.h5", "r") as cube:
            cubes[name] = {key: cube[key][()] for key in ("flux", "ivar", "mask")}
            cubes[name].update({f"meta/{key}": cube[f"meta/{key}"][()] for key in cube["meta"]})
        cubes[name]["rejected"] = [(r["specid"], r["reason"]) for r in read_table(workdir / "results/reduced/rejected.ecsv")]
    plain, mixed_cube = cubes["plain"], cubes["mixed"]
    assert plain.keys() == mixed_cube.keys() and len(plain["flux"]) == 12
    for key in plain:
        if key == "meta/source_file":
            stems = [
                [Path(p.decode() if isinstance(p, bytes) else p).name.split(".")[0] for p in cube[key]]
                for cube in (plain, mixed_cube)
            ]
            assert stems[0] == stems[1]
        elif key == "rejected":
            assert mixed_cube[key] == plain[key] and len(plain[key]) == 2
        else:
            np.testing.assert_array_equal(mixed_cube[key], plain[key], err_msg=key)
