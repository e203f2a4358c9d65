"""agn_saliency.acquire.download against a real local HTTP server with injected faults (no mocks)."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agn_saliency.acquire import download
from agn_saliency.acquire.catalog import CatalogError, read_catalog
from agn_saliency.acquire.download import ManifestEntry, download_shard, read_manifest, write_manifest
from agn_saliency.acquire.download.files import _HOSTNAME
from agn_saliency.spectra import sdss

sys.path.insert(0, str(Path(__file__).parent))
from helpers import REAL_DIR, needs_real  # noqa: E402
from http_faults import serve_folder  # noqa: E402

FAST = dict(timeout_s=0.5, retries=3, backoff_s=0.01, max_backoff_s=0.05)

IDS = [
    (332, 52367, 639),
    (295, 51585, 596),
    (565, 52225, 263),
    (853, 52374, 240),
    (1059, 52618, 453),
    (746, 52238, 373),
    (266, 51602, 573),
    (2880, 54509, 230),
]


def _write_spectrum(root: Path, plate: int, mjd: int, fiberid: int, run2d: str = "", npix: int = 400) -> Path:
    """A small synthetic spec-lite file at its SAS path below ``root``."""
    rng = np.random.default_rng(plate * 100_000 + fiberid)
    coadd = np.zeros(npix, sdss.COADD_DTYPE)
    coadd["loglam"] = 3.5800 + 1e-4 * np.arange(npix)
    coadd["flux"] = 10 + rng.normal(0, 1, npix)
    coadd["ivar"] = 1.0
    coadd["model"] = 10
    path = root / sdss.spec_lite_relpath(plate, mjd, fiberid, run2d or None)
    sdss.write_spec_lite(
        path,
        plate=plate,
        mjd=mjd,
        fiberid=fiberid,
        run2d=run2d or sdss.default_run2d(plate),
        coadd=coadd,
        z=0.1,
        z_err=1e-4,
        sdss_class="QSO",
    )
    return path


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _rel(plate: int, mjd: int, fiberid: int, run2d: str = "") -> str:
    return sdss.spec_lite_relpath(plate, mjd, fiberid, run2d or None)


def _rows(ids) -> list[dict]:
    return [{"plate": p, "mjd": m, "fiberid": f, "run2d": ""} for p, m, f in ids]


def _leftovers(root: Path) -> list[Path]:
    """Every file under root that is not a finished spectrum file (temporaries, partials …)."""
    return [p for p in root.rglob("*") if p.is_file() and not sdss.SPEC_FILE_PATTERN.match(p.name)]


def _assert_all_parse(root: Path) -> None:
    for path in root.rglob("spec-*.fits"):
        sdss.read_spectrum(path)  # raises on a corrupt or partial file


@pytest.fixture()
def sas(tmp_path):
    """A SAS-like folder with the spectra of IDS, served on 127.0.0.1; yields (server, source root)."""
    source = tmp_path / "sas"
    for ids in IDS:
        _write_spectrum(source, *ids)
    with serve_folder(source) as server:
        yield server, source


def test_downloads_every_file_byte_identical(sas, tmp_path, caplog):
    server, source = sas
    data = tmp_path / "data"
    caplog.set_level(logging.INFO, logger="agn_saliency.acquire.download")
    entries = download_shard(_rows(IDS), server.url + "/", data, connections=3, progress_interval_s=0, **FAST)
    assert [e.specid for e in entries] == [sdss.specid(*ids) for ids in IDS]
    for entry, ids in zip(entries, IDS):
        rel = _rel(*ids)
        assert (entry.status, entry.cached, entry.attempts, entry.path) == ("ok", False, 1, rel)
        assert entry.url == f"{server.url}/{rel}"
        assert entry.sha256 == _sha(source / rel) == _sha(data / rel)
        assert entry.bytes == (source / rel).stat().st_size
    assert _leftovers(data) == []
    assert server.total_hits() == len(IDS)
    assert server.connections_accepted <= 3  # one keep-alive connection per thread
    assert "download finished" in caplog.text and "files/s" in caplog.text


def test_transient_faults_are_retried(sas, tmp_path):
    server, source = sas
    faults = {
        IDS[0]: ("status", dict(times=2, code=500)),
        IDS[1]: ("status", dict(times=1, code=503)),
        IDS[2]: ("reset", dict(times=2)),
        IDS[3]: ("truncate", dict(times=2, fraction=0.6)),
        IDS[4]: ("slow", dict(times=1, fraction=0.3, delay_s=3.0)),  # stalls past the 0.5 s timeout
        IDS[5]: ("truncate", dict(times=1, fraction=0.0)),  # headers, then nothing
    }
    for ids, (kind, options) in faults.items():
        server.add_fault(_rel(*ids), kind, **options)
    data = tmp_path / "data"
    entries = {e.specid: e for e in download_shard(_rows(IDS), server.url, data, connections=4, **FAST)}
    for ids in IDS:
        entry = entries[sdss.specid(*ids)]
        assert entry.status == "ok", entry
        assert entry.sha256 == _sha(source / _rel(*ids)) == _sha(data / _rel(*ids))
        expected_attempts = 1 + faults.get(ids, ("", {"times": 0}))[1]["times"]
        assert entry.attempts == expected_attempts, entry
    assert _leftovers(data) == []


def test_missing_and_persistent_failures(sas, tmp_path):
    server, source = sas
    absent = (400, 51820, 10)  # not on the server: 404
    gone, always_500, forbidden, html, always_short = IDS[:5]
    server.add_fault(_rel(*gone), "status", code=410)
    server.add_fault(_rel(*always_500), "status", times=None, code=500)
    server.add_fault(_rel(*forbidden), "status", code=403)
    server.add_fault(_rel(*html), "garbage", times=None)
    server.add_fault(_rel(*always_short), "truncate", times=None, fraction=0.9)
    data = tmp_path / "data"
    rows = _rows([absent, gone, always_500, forbidden, html, always_short, IDS[5]])
    entries = {e.specid: e for e in download_shard(rows, server.url, data, connections=4, **(FAST | {"retries": 2}))}

    def entry(ids) -> ManifestEntry:
        return entries[sdss.specid(*ids)]

    assert (entry(absent).status, entry(absent).attempts) == ("missing", 1)
    assert "404" in entry(absent).reason and server.hits_for(_rel(*absent)) == 1
    assert (entry(gone).status, entry(gone).attempts) == ("missing", 1) and "410" in entry(gone).reason
    assert (entry(always_500).status, entry(always_500).attempts) == ("failed", 3)
    assert "HTTP 500" in entry(always_500).reason and server.hits_for(_rel(*always_500)) == 3
    assert (entry(forbidden).status, entry(forbidden).attempts) == ("failed", 1)
    assert "HTTP 403" in entry(forbidden).reason
    assert entry(html).status == "failed" and "not a valid spectrum" in entry(html).reason
    assert entry(always_short).status == "failed" and "short body" in entry(always_short).reason
    assert entry(IDS[5]).status == "ok"
    for ids in (absent, gone, always_500, forbidden, html, always_short):
        assert not (data / _rel(*ids)).exists()
    assert _leftovers(data) == []
    assert download.summarize(entries.values()) == {"ok": 1, "cached": 0, "missing": 2, "failed": 4}


def test_second_run_fetches_nothing(sas, tmp_path):
    server, _ = sas
    data = tmp_path / "data"
    first = download_shard(_rows(IDS), server.url, data, **FAST)
    assert server.total_hits() == len(IDS)
    server.reset_hits()
    second = download_shard(_rows(IDS), server.url, data, **FAST)
    assert server.total_hits() == 0
    assert all(e.status == "ok" and e.cached and e.attempts == 0 for e in second)
    assert [(e.sha256, e.bytes) for e in second] == [(e.sha256, e.bytes) for e in first]


def test_present_but_corrupt_file_is_replaced(sas, tmp_path):
    server, source = sas
    data = tmp_path / "data"
    truncated, wrong_spectrum, intact = IDS[0], IDS[1], IDS[2]
    (data / _rel(*truncated)).parent.mkdir(parents=True)
    (data / _rel(*truncated)).write_bytes((source / _rel(*truncated)).read_bytes()[:5000])
    (data / _rel(*wrong_spectrum)).parent.mkdir(parents=True)
    (data / _rel(*wrong_spectrum)).write_bytes((source / _rel(*intact)).read_bytes())
    _write_spectrum(data, *intact)
    entries = download_shard(_rows([truncated, wrong_spectrum, intact]), server.url, data, **FAST)
    assert [(e.status, e.cached) for e in entries] == [("ok", False), ("ok", False), ("ok", True)]
    for ids in (truncated, wrong_spectrum, intact):
        assert _sha(data / _rel(*ids)) == _sha(source / _rel(*ids))
    assert server.hits_for(_rel(*intact)) == 0


def test_duplicate_rows_fetch_once(sas, tmp_path):
    server, _ = sas
    entries = download_shard(_rows([IDS[0], IDS[1], IDS[0]]), server.url, tmp_path / "data", **FAST)
    assert [e.specid for e in entries] == [sdss.specid(*IDS[0]), sdss.specid(*IDS[1])]
    assert server.hits_for(_rel(*IDS[0])) == 1


@pytest.mark.parametrize(
    "row",
    [
        {"plate": 332, "mjd": 52367, "fiberid": 639, "run2d": "../../../etc"},
        {"plate": 332, "mjd": 52367, "fiberid": 639, "run2d": "26/../../x"},
        {"plate": 332, "mjd": 52367, "fiberid": 639, "run2d": "http://evil.example/x"},
        {"plate": "332/..", "mjd": 52367, "fiberid": 639, "run2d": ""},
        {"plate": 332, "mjd": 52367, "fiberid": 1001, "run2d": ""},
        {"plate": 332.5, "mjd": 52367, "fiberid": 639, "run2d": ""},
    ],
)
def test_path_like_values_refused_before_any_request(sas, tmp_path, row):
    server, _ = sas
    data = tmp_path / "data"
    with pytest.raises(ValueError):
        download_shard(_rows(IDS[:2]) + [row], server.url, data, **FAST)
    assert server.total_hits() == 0
    assert not data.exists() or not any(data.rglob("*"))


def test_catalog_with_path_like_value_refused(tmp_path):
    catalog = tmp_path / "catalog.csv"
    catalog.write_text("plate,mjd,fiberid,label,run2d\n332,52367,639,type1,../../etc\n")
    with pytest.raises(CatalogError, match=r"row 1, column 'run2d'"):
        read_catalog(catalog)


def test_never_writes_outside_data_root(sas, tmp_path):
    server, _ = sas
    data = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    data.mkdir()
    (data / "dr17").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ValueError, match="outside the data root"):
        download_shard(_rows(IDS[:1]), server.url, data, **FAST)
    assert not any(elsewhere.rglob("*")) and server.total_hits() == 0


def test_manifest_round_trip(tmp_path):
    entries = [
        ManifestEntry("0332-52367-0639", 332, 52367, 639, "http://h/a", "a", "ok", "", 10, "ab" * 32, 2, False),
        ManifestEntry("0332-52367-0640", 332, 52367, 640, "http://h/b", "b", "failed", "HTTP 500\tboom\nx", 0, "", 6),
        ManifestEntry("0332-52367-0641", 332, 52367, 641, "http://h/c", "c", "ok", "", 12, "cd" * 32, 0, True),
    ]
    path = tmp_path / "manifest.ecsv"
    write_manifest(entries, path)
    back = read_manifest(path)
    assert back[0] == entries[0] and back[2] == entries[2]
    assert back[1].reason == "HTTP 500 boom x"
    from astropy.table import Table

    table = Table.read(path)  # ECSV: typed columns, the file size in bytes
    assert table.colnames == list(download.MANIFEST_COLUMNS)
    assert str(table["bytes"].unit) == "byte" and table["plate"].dtype.kind == "i"
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.ecsv"]


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    final = tmp_path / "spec-0332-52367-0639.fits"
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    host = _HOSTNAME
    stale = tmp_path / f".{final.name}.{host}.{dead_pid}.00aa11bb.tmp"
    live = tmp_path / f".{final.name}.{host}.{os.getppid()}.00aa11cc.tmp"
    remote = tmp_path / f".{final.name}.other-host.{dead_pid}.00aa11dd.tmp"
    for path in (stale, live, remote):
        path.write_bytes(b"partial")
    assert download.remove_stale_temporaries(final) == 1
    assert not stale.exists() and live.exists() and remote.exists()


@needs_real
def test_real_sdss_files_pass_verification(tmp_path):
    source = tmp_path / "sas"
    rows = []
    for path in sorted(REAL_DIR.glob("spec-*.fits")):
        _, plate, mjd, fiberid = path.stem.split("-")
        ids = (int(plate), int(mjd), int(fiberid))
        target = source / _rel(*ids)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(path.read_bytes())
        rows.append(ids)
    with serve_folder(source) as server:
        entries = download_shard(_rows(rows), server.url, tmp_path / "data", **FAST)
    assert all(e.status == "ok" for e in entries), [e for e in entries if e.status != "ok"]
    for entry, ids in zip(entries, rows):
        assert entry.sha256 == _sha(source / _rel(*ids))


KILL_SCRIPT = """
import json, logging, sys
from agn_saliency.acquire.download import download_shard
logging.basicConfig(level=logging.INFO)
rows, url, root = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
download_shard(rows, url, root, connections=2, timeout_s=10, retries=0)
"""


def test_killed_download_leaves_no_corrupt_file_and_resumes(tmp_path):
    source = tmp_path / "sas"
    big = (3000, 54500, 100)
    small = IDS[:3]
    _write_spectrum(source, *big, npix=150_000)  # 4.8 MB
    for ids in small:
        _write_spectrum(source, *ids)
    data = tmp_path / "data"
    big_final = data / _rel(*big)
    with serve_folder(source) as server:
        server.add_fault(_rel(*big), "throttle", times=None, rate_bps=1e6)  # ~5 s for the big file
        env = dict(os.environ, PYTHONPATH=str(Path(download.__file__).parents[3]))
        process = subprocess.Popen(
            [sys.executable, "-c", KILL_SCRIPT, json.dumps(_rows([big, *small])), server.url, str(data)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            deadline = time.monotonic() + 20
            partial = []
            while time.monotonic() < deadline:
                partial = [p for p in big_final.parent.glob(".*.tmp")] if big_final.parent.is_dir() else []
                if partial and partial[0].stat().st_size > 100_000:
                    break
                time.sleep(0.02)
            assert partial, "the download never started writing the big file"
            process.send_signal(signal.SIGKILL)
        finally:
            process.kill()
            process.wait()
        assert process.returncode == -signal.SIGKILL
        assert not big_final.exists()  # killed mid-file: nothing that looks finished
        _assert_all_parse(data)
        assert all(p.name.startswith(".") and p.name.endswith(".tmp") for p in _leftovers(data))

        server.clear_faults()
        entries = download_shard(_rows([big, *small]), server.url, data, **FAST | {"timeout_s": 5})
    assert all(e.status == "ok" for e in entries)
    assert _sha(big_final) == _sha(source / _rel(*big))
    _assert_all_parse(data)
    assert _leftovers(data) == []  # the killed run's temporary file was cleaned up


def _online(host: str = "data.sdss.org", port: int = 443) -> bool:
    try:
        socket.create_connection((host, port), timeout=3).close()
        return True
    except OSError:
        return False


@pytest.mark.network
def test_real_sas_download(tmp_path):
    if not _online():
        pytest.skip("data.sdss.org unreachable (offline)")
    entries = download_shard(
        [{"plate": 332, "mjd": 52367, "fiberid": 639, "run2d": "26"}],
        download.DEFAULT_BASE_URL,
        tmp_path,
        timeout_s=20,
        retries=2,
        backoff_s=1,
    )
    assert entries[0].status == "ok", entries[0]
    spectrum = sdss.read_spectrum(tmp_path / entries[0].path)
    assert (spectrum.plate, spectrum.mjd, spectrum.fiberid) == (332, 52367, 639)
    assert abs(spectrum.z - 0.10061) < 1e-3


def test_local_write_error_fails_that_file_only(sas, tmp_path):
    server, _ = sas
    data = tmp_path / "data"
    blocked = data / _rel(*IDS[0])
    blocked.mkdir(parents=True)  # a folder where the file should go
    entries = download_shard(_rows(IDS[:3]), server.url, data, **FAST)
    assert entries[0].status == "failed" and "cannot write" in entries[0].reason
    assert [e.status for e in entries[1:]] == ["ok", "ok"]
    assert _leftovers(data) == []


def test_accepts_a_catalog_array(sas, tmp_path):
    server, source = sas
    catalog_file = tmp_path / "catalog.csv"
    catalog_file.write_text("plate,mjd,fiberid,label,run2d\n" + "".join(f"{p},{m},{f},type1,26\n" for p, m, f in IDS[:3]))
    entries = download_shard(read_catalog(catalog_file), server.url, tmp_path / "data", **FAST)
    assert [e.status for e in entries] == ["ok"] * 3
    assert entries[0].sha256 == _sha(source / _rel(*IDS[0]))


def test_http_proxy_from_environment_is_used(sas, tmp_path, monkeypatch):
    # The fault server also answers absolute-form requests ("GET http://host/path"), as a proxy does.
    server, source = sas
    monkeypatch.setenv("http_proxy", server.url)
    monkeypatch.delenv("no_proxy", raising=False)
    monkeypatch.delenv("NO_PROXY", raising=False)
    entries = download_shard(_rows(IDS[:2]), "http://sas.example.invalid", tmp_path / "data", **FAST)
    assert [e.status for e in entries] == ["ok", "ok"]
    assert entries[0].url == f"http://sas.example.invalid/{_rel(*IDS[0])}"
    assert entries[0].sha256 == _sha(source / _rel(*IDS[0]))
    assert server.hits_for(_rel(*IDS[0])) == 1


def test_local_server_is_reached_without_the_environment_proxy(sas, tmp_path, monkeypatch):
    # A proxy nobody listens on: requests to 127.0.0.1 must not go through it.
    server, _ = sas
    for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{_free_port()}")
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    entries = download_shard(_rows(IDS[:2]), server.url, tmp_path / "data", **FAST)
    assert [(e.status, e.attempts) for e in entries] == [("ok", 1), ("ok", 1)], entries


# ------------------------------------------------------------------ deadlines (too slow a server)

SLOW_RULE = dict(min_throughput_bytes_s=1024, throughput_grace_s=0.5)


@pytest.mark.parametrize("kind", ["trickle", "trickle_headers"])
def test_trickling_server_fails_that_file_as_too_slow(sas, tmp_path, kind):
    # A byte every 20 ms never leaves the socket idle for timeout_s: only the deadline ends it.
    server, source = sas
    trickled = IDS[0]
    server.add_fault(_rel(*trickled), kind, times=None, interval_s=0.02)
    data = tmp_path / "data"
    entries = download_shard(_rows(IDS[:4]), server.url, data, connections=1, **(FAST | SLOW_RULE | {"retries": 1}))
    first, others = entries[0], entries[1:]
    assert (first.status, first.attempts) == ("failed", 2), first
    assert "too slow" in first.reason, first.reason
    if kind == "trickle":
        assert "B/s" in first.reason and "below 1024" in first.reason
    else:
        assert "no response" in first.reason
    assert server.hits_for(_rel(*trickled)) == 2
    assert not (data / _rel(*trickled)).exists()
    # the same thread's next files arrive over a fresh connection
    assert [e.status for e in others] == ["ok"] * 3
    for entry in others:
        assert _sha(data / entry.path) == _sha(source / entry.path)
    assert _leftovers(data) == []


def test_headers_are_bounded_without_a_rate_rule(sas, tmp_path):
    server, _ = sas
    server.add_fault(_rel(*IDS[0]), "trickle_headers", times=None, interval_s=0.02)
    entries = download_shard(
        _rows(IDS[:2]),
        server.url,
        tmp_path / "data",
        **(FAST | {"retries": 0, "min_throughput_bytes_s": 0, "throughput_grace_s": 0.5}),
    )
    assert entries[0].status == "failed" and "too slow: no response" in entries[0].reason
    assert entries[1].status == "ok"


def test_one_slow_attempt_is_retried(sas, tmp_path):
    server, source = sas
    server.add_fault(_rel(*IDS[0]), "trickle", times=1, interval_s=0.02)
    entries = download_shard(_rows(IDS[:2]), server.url, tmp_path / "data", **(FAST | SLOW_RULE))
    assert [(e.status, e.attempts) for e in entries] == [("ok", 2), ("ok", 1)]
    assert _sha(tmp_path / "data" / _rel(*IDS[0])) == _sha(source / _rel(*IDS[0]))


def test_slow_but_steady_transfer_is_not_cut(sas, tmp_path):
    # ~50 kB/s for a file of tens of kB: well above the 1 kB/s floor, well past the 0.1 s grace.
    server, source = sas
    size = (source / _rel(*IDS[0])).stat().st_size
    server.add_fault(_rel(*IDS[0]), "throttle", times=None, rate_bps=50_000)
    entries = download_shard(
        _rows(IDS[:1]),
        server.url,
        tmp_path / "data",
        **(FAST | {"retries": 0, "min_throughput_bytes_s": 1024, "throughput_grace_s": 0.1}),
    )
    assert size > 10_000  # so the transfer lasts longer than the grace period
    assert (entries[0].status, entries[0].attempts) == ("ok", 1), entries[0]


def test_deadline_arguments_are_checked(tmp_path):
    with pytest.raises(ValueError, match="throughput_grace_s"):
        download_shard(_rows(IDS[:1]), "http://127.0.0.1:9", tmp_path, throughput_grace_s=0)
    with pytest.raises(ValueError, match="min_throughput_bytes_s"):
        download_shard(_rows(IDS[:1]), "http://127.0.0.1:9", tmp_path, min_throughput_bytes_s=-1)


# ------------------------------------------------------------------ judging a shard's failures


def _free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_nothing_listening_fails_every_file_and_the_shard(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    entries = download_shard(_rows(IDS[:3]), url, tmp_path / "data", **(FAST | {"retries": 1}))
    assert [(e.status, e.attempts) for e in entries] == [("failed", 2)] * 3
    assert all(e.reason == "gave up after 2 attempts: connection refused" for e in entries), entries
    with pytest.raises(download.DownloadFailed) as raised:
        download.check_failures(entries, url)
    message = str(raised.value)
    assert f"3 of 3 files failed to download from {url}" in message
    assert "connection refused (3 files)" in message and "gave up" not in message
    assert sdss.specid(*IDS[0]) in message


def _entry(number: int, status: str, reason: str = "") -> ManifestEntry:
    return ManifestEntry(f"0332-52367-{number:04d}", 332, 52367, number, "u", "p", status, reason)


def test_check_failures_counts_only_failed_files():
    entries = (
        [_entry(i, "ok") for i in range(1, 5)]
        + [_entry(5, "missing", "HTTP 404 Not Found")]
        + [_entry(6, "failed", "gave up after 6 attempts: HTTP 500 Internal Server Error")]
    )
    download.check_failures(entries[:5], "http://h")  # missing files are not failures
    download.check_failures(entries, "http://h", max_failed_fraction=1 / 6)  # at the limit: accepted
    expected = r"1 of 6 files failed to download from http://h .*HTTP 500 Internal Server Error \(1 file\).*0332-52367-0006"
    with pytest.raises(download.DownloadFailed, match=expected):
        download.check_failures(entries, "http://h", max_failed_fraction=0.1)
    with pytest.raises(ValueError):
        download.check_failures(entries, "http://h", max_failed_fraction=1.5)


def test_failure_reasons_group_by_kind_most_frequent_first():
    entries = [
        _entry(1, "failed", "gave up after 2 attempts: too slow: 37 bytes in 2.0 s, below 1024 B/s"),
        _entry(2, "failed", "gave up after 2 attempts: too slow: 41 bytes in 2.1 s, below 1024 B/s"),
        _entry(3, "failed", "gave up after 2 attempts: HTTP 500 Internal Server Error"),
        _entry(4, "failed", "gave up after 2 attempts: HTTP 503 Service Unavailable"),
        _entry(5, "failed", "gave up after 2 attempts: too slow: 12 bytes in 2.0 s, below 1024 B/s"),
        _entry(6, "missing", "HTTP 404 Not Found"),
    ]
    assert download.failure_reasons(entries) == [
        ("too slow: 37 bytes in 2.0 s, below 1024 B/s", 3),
        ("HTTP 500 Internal Server Error", 1),
        ("HTTP 503 Service Unavailable", 1),
    ]
    with pytest.raises(download.DownloadFailed) as raised:
        download.check_failures(entries, "http://h", n_reasons=2)
    assert "5 of 6 files failed" in str(raised.value) and "1 other reason(s)" in str(raised.value)


# ------------------------------------------------------------ what the transport must not accept


@pytest.mark.parametrize("content_type", ["text/html", "application/fits"])
def test_html_page_with_status_200_is_retried_never_ok(sas, tmp_path, content_type):
    # A login, maintenance or proxy error page answered "200 OK" (also one labelled as FITS):
    # never an "ok" file; retried like any transient fault; the reason says what came instead.
    server, source = sas
    always, once = IDS[0], IDS[1]
    server.add_fault(_rel(*always), "garbage", times=None, content_type=content_type)
    server.add_fault(_rel(*once), "garbage", times=1, content_type=content_type)
    data = tmp_path / "data"
    entries = download_shard(_rows([always, once, IDS[2]]), server.url, data, **(FAST | {"retries": 2}))
    failed = entries[0]
    assert (failed.status, failed.attempts) == ("failed", 3), failed
    assert server.hits_for(_rel(*always)) == 3
    assert failed.reason.startswith("gave up after 3 attempts: not a valid spectrum: HTTP 200 with an HTML page"), failed
    assert f"({content_type}, " in failed.reason and '"Please log in"' in failed.reason
    assert not (data / _rel(*always)).exists()
    assert [(e.status, e.attempts) for e in entries[1:]] == [("ok", 2), ("ok", 1)]
    assert _sha(data / _rel(*once)) == _sha(source / _rel(*once))
    assert _leftovers(data) == []
    with pytest.raises(download.DownloadFailed, match=r"1 of 3 files failed .*HTML page instead of a FITS file"):
        download.check_failures(entries, server.url)


def test_retry_after_is_honoured_up_to_max_backoff(sas, tmp_path, caplog):
    # urllib3 retries the 503/429 within the file's budget; the wait is the server's Retry-After
    # (capped at max_backoff_s), and the deadline's clock starts again with the next request
    # (the waits are longer than the grace period).
    server, source = sas
    caplog.set_level(logging.INFO, logger="agn_saliency.acquire.download")
    server.add_fault(_rel(*IDS[0]), "status", times=1, code=503, retry_after="1")
    server.add_fault(_rel(*IDS[1]), "status", times=1, code=429, retry_after="30")
    data = tmp_path / "data"
    entries = download_shard(_rows(IDS[:2]), server.url, data, connections=2, **(FAST | SLOW_RULE | {"max_backoff_s": 2.0}))
    assert [(e.status, e.attempts) for e in entries] == [("ok", 2), ("ok", 2)], entries
    assert "attempt 1 failed (HTTP 503 Service Unavailable); retrying in 1.00 s" in caplog.text
    assert "attempt 1 failed (HTTP 429 Too Many Requests); retrying in 2.00 s" in caplog.text
    assert [server.hits_for(_rel(*ids)) for ids in IDS[:2]] == [2, 2]


def test_header_trickle_cut_by_the_deadline_logs_no_traceback(sas, tmp_path, caplog):
    server, _ = sas
    caplog.set_level(logging.DEBUG)
    server.add_fault(_rel(*IDS[0]), "trickle_headers", times=None, interval_s=0.02)
    entries = download_shard(_rows(IDS[:2]), server.url, tmp_path / "data", **(FAST | SLOW_RULE | {"retries": 0}))
    assert entries[0].reason.startswith("gave up after 1 attempt: too slow: no response within"), entries[0]
    assert entries[1].status == "ok"
    assert "Traceback" not in caplog.text and "Failed to parse headers" not in caplog.text
