"""Benchmark: download throughput of agn_saliency.download with 1, 4 and 16 connections.

A local HTTP/1.1 server (tests/http_faults.py, no faults) serves N synthetic spec-lite files
(~3800 pixels, ~130 kB each, like real ones) and delays every response by a fixed latency
(default 20 ms) to stand in for the round trip to data.sdss.org — without it a loopback server
answers in microseconds and concurrency would not matter. Each run downloads into a fresh temporary
folder; a final run repeats the fastest setting into an already complete folder (everything
cached, zero requests). Timings are wall clock on a shared machine: compare the ratios.

    python benchmarks/download.py [--files 300] [--latency-ms 20]

The last line printed is one JSON object:
{"files_per_s": {"1": …, "4": …, "16": …}, "best_over_sequential": …, …}
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from agn_saliency import sdss
from agn_saliency.download import download_shard

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from http_faults import serve_folder  # noqa: E402

CONNECTIONS = (1, 4, 16)


def _make_sas(root: Path, n_files: int, npix: int = 3800) -> list[dict]:
    rng = np.random.default_rng(0)
    rows = []
    for i in range(n_files):
        plate, mjd, fiberid = 300 + i // 640, 52000 + i // 640, i % 640 + 1
        coadd = np.zeros(npix, sdss.COADD_DTYPE)
        coadd["loglam"] = 3.5800 + 1e-4 * np.arange(npix)
        coadd["flux"] = 10 + rng.normal(0, 1, npix)
        coadd["ivar"] = 1.0
        sdss.write_spec_lite(root / sdss.spec_lite_relpath(plate, mjd, fiberid), plate=plate, mjd=mjd,
                             fiberid=fiberid, run2d="26", coadd=coadd, z=0.1, z_err=1e-4)
        rows.append({"plate": plate, "mjd": mjd, "fiberid": fiberid, "run2d": ""})
    return rows


def main(n_files: int, latency_ms: float) -> dict:
    with tempfile.TemporaryDirectory(prefix="bench-download-") as scratch:
        scratch = Path(scratch)
        rows = _make_sas(scratch / "sas", n_files)
        total_mb = sum(p.stat().st_size for p in (scratch / "sas").rglob("*.fits")) / 1e6
        print(f"{n_files} spec-lite files ({total_mb:.1f} MB) served from 127.0.0.1 with a simulated "
              f"{latency_ms:.0f} ms per-request latency (so that concurrency matters, as it does over the internet)")
        rates: dict[str, float] = {}
        with serve_folder(scratch / "sas", latency_s=latency_ms / 1000) as server:
            for connections in CONNECTIONS:
                data = scratch / f"data-{connections}"
                start = time.perf_counter()
                entries = download_shard(rows, server.url, data, connections=connections, timeout_s=10)
                elapsed = time.perf_counter() - start
                assert all(e.status == "ok" and not e.cached for e in entries), "benchmark download failed"
                rates[str(connections)] = n_files / elapsed
                print(f"{connections:>3} connection(s): {elapsed:6.2f} s, {rates[str(connections)]:7.1f} files/s, "
                      f"{total_mb / elapsed:6.2f} MB/s")
            best = max(rates, key=rates.get)
            server.reset_hits()
            start = time.perf_counter()
            entries = download_shard(rows, server.url, scratch / f"data-{best}", connections=int(best))
            cached_rate = n_files / (time.perf_counter() - start)
            assert server.total_hits() == 0 and all(e.cached for e in entries)
            print(f"rerun into the complete folder ({best} connections): {cached_rate:.0f} files/s, "
                  f"{server.total_hits()} requests")
    result = {
        "files_per_s": {k: round(v, 1) for k, v in rates.items()},
        "best_over_sequential": round(max(rates.values()) / rates["1"], 2),
        "best_connections": int(best),
        "cached_rerun_files_per_s": round(cached_rate, 1),
        "n_files": n_files,
        "latency_ms": latency_ms,
    }
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=300, help="number of files served")
    parser.add_argument("--latency-ms", type=float, default=20.0, help="simulated per-request latency, ms")
    arguments = parser.parse_args()
    print(json.dumps(main(arguments.files, arguments.latency_ms)))
