"""Reduction throughput: the pipeline's sharded reduction + merge against a naive astropy loop.

Data: ``--n`` (default 2400) embedded-sample spec-lite files written with
``agn_saliency.acquire.simulate`` (paper class mix, seed 42) and their inventory rows built with
``inventory.catalog_record``, as the workflow's simulate_shard rule does.

* pipeline: the inventory cut into ``--workers`` contiguous shards (one table each), every shard
  reduced by its own worker process with ``stages.reduce_shard`` (the reduce_shard rule's code),
  then ``stages.merge_cube`` (the merge_cube rule's). The wall
  time of the whole thing, process start-up included → ``spectra_per_s``.
* naive baseline (single process, a subset of ``--baseline-n`` files, default 300): per file
  ``astropy.io.fits.open``, read COADD flux/loglam/ivar and Z from SPECOBJ, ``np.interp`` onto the
  same 1000-pixel rest-frame grid, divide by the mean in 5080–5120 Å → ``baseline_spectra_per_s``.

Issue floor: ≥ 1000 spectra/s on 2 cores and ≥ 5× the naive baseline. The machine is shared:
compare the ratio, both rates come from the same run. Files are read from the page cache (they
were just written), as they are when the reduction follows the simulation or a download.

    python benchmarks/reduce.py [--n 2400] [--workers 2] [--keep DIR]

The last line printed is one JSON object:
{"n_spectra": …, "spectra_per_s": …, "baseline_spectra_per_s": …, "speedup": …, "workers": 2}
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import ROOT, reduce_and_merge, remove, simulated_inventory, write_inventories  # noqa: E402

FLOOR_RATE = 1000.0
FLOOR_SPEEDUP = 5.0


def reduce_config() -> dict:
    """The ``reduce`` section of config/config.yaml (the library defaults if it cannot be read)."""
    try:
        import yaml

        with open(ROOT / "config" / "config.yaml", encoding="utf-8") as handle:
            return dict(yaml.safe_load(handle).get("reduce", {}))
    except Exception:  # noqa: BLE001 - benchmark falls back to the defaults
        return {}


def naive_reduce(paths: list[str], wavelength: np.ndarray, norm_window: tuple[float, float]) -> np.ndarray:
    """The naive way: astropy per file, np.interp onto the rest-frame grid, mean-normalise."""
    from astropy.io import fits

    window = (wavelength >= norm_window[0]) & (wavelength <= norm_window[1])
    out = np.empty((len(paths), len(wavelength)), np.float32)
    for i, path in enumerate(paths):
        with fits.open(path) as hdus:
            coadd = hdus["COADD"].data
            flux = np.asarray(coadd["flux"], dtype=np.float64)
            loglam = np.asarray(coadd["loglam"], dtype=np.float64)
            ivar = np.asarray(coadd["ivar"], dtype=np.float64)
            z = float(hdus["SPECOBJ"].data["Z"][0])
        good = ivar > 0
        rest = 10.0 ** loglam[good] / (1.0 + z)
        resampled = np.interp(wavelength, rest, flux[good])
        out[i] = resampled / np.mean(resampled[window])
    return out


def main(n: int, workers: int, keep: str | None, baseline_n: int) -> dict:
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-reduce-"))
    try:
        rows = simulated_inventory(n, folder, workers=workers)
        size_mb = sum(os.path.getsize(r["path"]) for r in rows) / 1e6
        print(f"{n} spec-lite files ({size_mb:.0f} MB, {size_mb / n * 1000:.0f} kB each)")
        config = reduce_config()
        work = folder / f"reduce-{time.strftime('%H%M%S')}-{os.getpid()}"
        inventories = write_inventories(rows, work / "inventory", workers)

        # Warm the page cache for both methods alike (the files were just written anyway).
        for row in rows:
            with open(row["path"], "rb") as handle:
                handle.read()

        run = reduce_and_merge(inventories, work, workers, config, start_method="fork")
        rate = run.n_rows / run.wall_s
        print(
            f"pipeline ({workers} shards × 1 process each, then merge): {run.n_rows} spectra in {run.wall_s:.2f} s "
            f"= {rate:.0f} spectra/s (reduce {run.reduce_s:.2f} s, merge {run.merge_s:.2f} s); "
            f"{run.kept} in the cube, {run.rejected} rejected"
        )
        for i, shard in enumerate(run.shards):
            print(
                f"  shard {i}: {shard['kept'] + shard['rejected']} spectra in {shard['seconds']:.2f} s wall, "
                f"{shard['cpu_s']:.2f} s CPU (process total, imports included)"
            )
        critical_cpu = max(shard["cpu_s"] for shard in run.shards) + run.merge_cpu_s
        cpu_rate = run.n_rows / critical_cpu
        load = os.getloadavg()[0]
        print(
            f"  merge: {run.merge_s:.2f} s wall, {run.merge_cpu_s:.2f} s CPU; CPU on the critical path "
            f"(slowest shard + merge) {critical_cpu:.2f} s → ≈ {cpu_rate:.0f} spectra/s on {workers} otherwise idle cores "
            f"(1-min load average now {load:.1f} on {os.cpu_count()} CPUs: other jobs share the machine)"
        )

        from agn_saliency.spectra.reduce import ReductionParameters

        params = ReductionParameters.from_mapping(config)
        subset = [r["path"] for r in rows[: min(baseline_n, len(rows))]]
        naive_reduce(subset[:5], params.wavelength(), params.norm_window)  # import astropy, warm up
        start = time.perf_counter()
        naive_reduce(subset, params.wavelength(), params.norm_window)
        baseline_s = time.perf_counter() - start
        baseline_rate = len(subset) / baseline_s
        print(
            f"naive baseline (astropy.io.fits + np.interp, 1 process): {len(subset)} spectra in {baseline_s:.2f} s "
            f"= {baseline_rate:.0f} spectra/s"
        )
        speedup = rate / baseline_rate
        print(
            f"speedup {speedup:.1f}× (floor {FLOOR_SPEEDUP:g}×: {'met' if speedup >= FLOOR_SPEEDUP else 'MISSED'}); "
            f"rate {rate:.0f}/s (floor {FLOOR_RATE:g}/s on 2 cores: {'met' if rate >= FLOOR_RATE else 'MISSED'})"
        )
    finally:
        if not keep:
            remove(folder)
    return {
        "n_spectra": run.n_rows,
        "spectra_per_s": round(rate, 1),
        "baseline_spectra_per_s": round(baseline_rate, 1),
        "speedup": round(speedup, 2),
        "workers": workers,
        "wall_s": round(run.wall_s, 3),
        "cpu_bound_spectra_per_s": round(cpu_rate, 1),
        "load_avg_1min": round(load, 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2400, help="spectra to simulate and reduce (default 2400)")
    parser.add_argument("--workers", type=int, default=2, help="shards = worker processes (default 2)")
    parser.add_argument("--keep", default=None, help="folder to keep (and reuse) the simulated files in")
    parser.add_argument("--baseline-n", type=int, default=300, help="spectra the naive baseline is timed on (default 300)")
    args = parser.parse_args()
    print(json.dumps(main(args.n, args.workers, args.keep, args.baseline_n)))
