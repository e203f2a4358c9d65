"""Benchmark: download throughput of agn_saliency.acquire.download against its former http.client transport.

A local HTTP/1.1 server (tests/http_faults.py, no faults) serves N synthetic spec-lite files
(~3800 pixels, ~130 kB each, like real ones) and delays every response by a fixed latency
(default 20 ms) to stand in for the round trip to data.sdss.org — without it a loopback server
answers in microseconds and concurrency would not matter. Two transports download the same files
with 1, 4 and 16 connections, alternating, each run into a fresh temporary folder:

* ``requests``: the current :mod:`agn_saliency.acquire.download` (requests + urllib3 Retry);
* ``http.client``: the hand-written transport it replaced, recreated from git history
  (``git show <baseline-ref>:src/agn_saliency/download.py`` into a temporary module; the default
  ref is the last commit that had it), so nothing of it is kept in the tree.

The fastest of ``--repeats`` runs counts for each setting (the machine is shared and noisy: compare
the ratios, measured in the same run). The first 4-connection download of the current module is
repeated into its already complete folder (everything cached, zero requests).

    python benchmarks/download.py [--files 300] [--latency-ms 20] [--repeats 2] [--baseline-ref 91e5c43]

The last line printed is one JSON object:
{"files_per_s": {"requests": {"1": …, "4": …, "16": …}, "http.client": {…}},
 "requests_over_http_client": {"1": …, "4": …, "16": …}, "best_over_sequential": …, …}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from common import import_into_package, source_at

from agn_saliency.acquire import download
from agn_saliency.spectra import sdss

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from http_faults import serve_folder  # noqa: E402

CONNECTIONS = (1, 4, 16)
BASELINE_REF = "91e5c43"  # last commit of agn_saliency/download.py with the http.client transport


def load_baseline(ref: str, folder: Path) -> ModuleType:
    """The download module as of ``ref`` (the http.client transport)."""
    source = source_at(ref, "src/agn_saliency/download.py", "http.client.HTTPConnection(")
    # files.write_tsv (its manifests) is gone: ECSV manifests instead, the transport is the same
    source = source.replace("from .files import write_tsv", "from .files import write_table as write_tsv")
    return import_into_package(source, "_download_baseline", folder)


def _make_sas(root: Path, n_files: int, npix: int = 3800) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_files):
        plate, mjd, fiberid = 300 + i // 640, 52000 + i // 640, i % 640 + 1
        coadd = np.zeros(npix, sdss.COADD_DTYPE)
        coadd["loglam"] = 3.5800 + 1e-4 * np.arange(npix)
        coadd["flux"] = 10 + rng.normal(0, 1, npix)
        coadd["ivar"] = 1.0
        sdss.write_spec_lite(
            root / sdss.spec_lite_relpath(plate, mjd, fiberid),
            plate=plate,
            mjd=mjd,
            fiberid=fiberid,
            run2d="26",
            coadd=coadd,
            z=0.1,
            z_err=1e-4,
        )
        rows.append({"plate": plate, "mjd": mjd, "fiberid": fiberid, "run2d": ""})
    return rows


def main(n_files: int, latency_ms: float, repeats: int, baseline_ref: str) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-download-") as scratch:
        scratch = Path(scratch)
        transports = {"requests": download, "http.client": load_baseline(baseline_ref, scratch)}
        rows = _make_sas(scratch / "sas", n_files)
        total_mb = sum(p.stat().st_size for p in (scratch / "sas").rglob("*.fits")) / 1e6
        print(
            f"{n_files} spec-lite files ({total_mb:.1f} MB) served from 127.0.0.1 with a simulated "
            f"{latency_ms:.0f} ms per-request latency (so that concurrency matters, as it does over the internet); "
            f"baseline: http.client transport of {baseline_ref}"
        )
        rates = {name: dict.fromkeys(map(str, CONNECTIONS), 0.0) for name in transports}
        cached_rate = 0.0
        run = 0
        with serve_folder(scratch / "sas", latency_s=latency_ms / 1000) as server:
            for repeat in range(repeats):
                for connections in CONNECTIONS:
                    order = list(transports) if (repeat + connections) % 2 == 0 else list(transports)[::-1]
                    for name in order:
                        run += 1
                        data = scratch / f"data-{run}"
                        start = time.perf_counter()
                        entries = transports[name].download_shard(rows, server.url, data, connections=connections, timeout_s=10)
                        elapsed = time.perf_counter() - start
                        assert all(e.status == "ok" and not e.cached for e in entries), f"{name}: download failed"
                        rate = n_files / elapsed
                        rates[name][str(connections)] = max(rates[name][str(connections)], rate)
                        print(
                            f"repeat {repeat + 1}, {name:>11}, {connections:>2} connection(s): {elapsed:6.2f} s, "
                            f"{rate:7.1f} files/s, {total_mb / elapsed:6.2f} MB/s"
                        )
                        if connections == 4 and repeat == 0 and name == "requests":
                            server.reset_hits()
                            start = time.perf_counter()
                            again = download.download_shard(rows, server.url, data, connections=4)
                            cached_rate = n_files / (time.perf_counter() - start)
                            assert server.total_hits() == 0 and all(e.cached for e in again)
                            print(
                                f"{'':>21}rerun into the complete folder: {cached_rate:.0f} files/s, "
                                f"{server.total_hits()} requests"
                            )
    new, old = rates["requests"], rates["http.client"]
    return {
        "files_per_s": {name: {k: round(v, 1) for k, v in table.items()} for name, table in rates.items()},
        "requests_over_http_client": {k: round(new[k] / old[k], 2) for k in new},
        "best_over_sequential": round(max(new.values()) / new["1"], 2),
        "cached_rerun_files_per_s": round(cached_rate, 1),
        "n_files": n_files,
        "latency_ms": latency_ms,
        "repeats": repeats,
        "baseline_ref": baseline_ref,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300, help="number of files served")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated per-request latency, ms")
    parser.add_argument("--repeats", type=int, default=2, help="runs per transport and setting (fastest counts)")
    parser.add_argument("--baseline-ref", default=BASELINE_REF, help="git ref holding the http.client transport")
    arguments = parser.parse_args()
    print(json.dumps(main(arguments.files, arguments.latency_ms, arguments.repeats, arguments.baseline_ref)))
