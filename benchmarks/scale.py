"""Reduction at scale: wall time and peak memory at 1k … 100k spectra.

Data: genuinely distinct embedded-sample spec-lite files (``agn_saliency.acquire.simulate``, paper class
mix, seed 42), one catalog of ``max(--sizes)`` rows written once; every size uses the first N
catalog rows (the catalog is in random order, so every prefix has the paper's class mix). No file
is reused under another name: ``reduce_inventory`` checks each file's ids against its inventory
row, and ``merge_shards`` drops repeated ids, so a pool of renamed or linked files would measure
rejections, not reductions. 100k files take ≈ 13.5 GB and 2–12 min to write on 2 cores (≈ 1000
files/s on idle cores, ≈ 150/s under heavy load from other jobs); pass
``--keep DIR`` to keep them for later runs (they are reused when present).

Per size, as the workflow runs it: the inventory is cut into ceil(N / ``--shard-size``) contiguous
shard TSVs; ``--workers`` processes reduce them, a fresh process per shard as Snakemake starts one
per job (``reduce.reduce_inventory`` + ``cube.write_shard``), then ``cube.merge_shards`` runs in a
fresh process. Reported: wall time from the first worker's start to the finished cube, spectra/s,
the largest peak RSS of any reduce worker, and the merge process's peak RSS (``VmHWM`` read in
each process; processes are spawned, not forked, so a parent's memory is not counted).

Issue floor: a 100k-spectrum reduction under 2 GB peak RSS, with time growing ~linearly in N.
The machine is shared: throughput varies with the load of other jobs; memory does not.

    python benchmarks/scale.py [--sizes 1000 10000 50000 100000] [--shard-size 5000] [--workers 2] [--keep DIR]

The last line printed is one JSON object:
{"sizes": […], "wall_s": […], "spectra_per_s": […], "peak_rss_mb": […], "merge_peak_rss_mb": […], …}
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import reduce_and_merge, remove, simulated_inventory, write_inventories  # noqa: E402

FLOOR_RSS_MB = 2048.0


def main(sizes: list[int], shard_size: int, workers: int, keep: str | None) -> dict:
    sizes = sorted(set(sizes))
    folder = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="bench-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    need_gb = max(sizes) * 135e3 / 1e9
    free_gb = shutil.disk_usage(folder).free / 1e9
    print(f"files for {max(sizes)} spectra need ≈ {need_gb:.1f} GB; {free_gb:.0f} GB free under {folder}")
    results = []
    try:
        start = time.perf_counter()
        rows = simulated_inventory(max(sizes), folder, workers=workers)
        print(f"inventory of {len(rows)} spectra ready in {time.perf_counter() - start:.0f} s")
        for n in sizes:
            work = folder / f"scale-{n}-{os.getpid()}"
            n_shards = math.ceil(n / shard_size)
            inventories = write_inventories(rows[:n], work / "inventory", n_shards)
            run = reduce_and_merge(inventories, work, workers, {}, start_method="spawn", fresh_process_per_shard=True)
            rate = run.n_rows / run.wall_s
            results.append((n, n_shards, run, rate))
            print(
                f"{n:>7} spectra, {n_shards:>3} shard(s) of ≤ {shard_size}: {run.wall_s:7.1f} s wall "
                f"(reduce {run.reduce_s:.1f} s, merge {run.merge_s:.1f} s) = {rate:6.0f} spectra/s; "
                f"peak RSS: reduce worker {run.worker_peak_rss_mb:.0f} MB, merge {run.merge_peak_rss_mb:.0f} MB; "
                f"cube {run.cube_mb:.0f} MB; {run.kept} kept, {run.rejected} rejected",
                flush=True,
            )
            remove(work)
    finally:
        if not keep:
            remove(folder)
    if len(results) > 1:
        (n0, _, r0, _), (n1, _, r1, _) = results[-2], results[-1]
        print(
            f"time ratio {n1}/{n0} spectra: {r1.wall_s / r0.wall_s:.2f} for a size ratio {n1 / n0:.2f} "
            f"(linear = equal); merge peak RSS ratio {r1.merge_peak_rss_mb / r0.merge_peak_rss_mb:.2f}"
        )
    largest = results[-1]
    peak = max(largest[2].worker_peak_rss_mb, largest[2].merge_peak_rss_mb)
    print(
        f"largest run ({largest[0]} spectra): peak RSS of any process {peak:.0f} MB "
        f"(floor < {FLOOR_RSS_MB:.0f} MB: {'met' if peak < FLOOR_RSS_MB else 'MISSED'}); "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    return {
        "sizes": [n for n, *_ in results],
        "wall_s": [round(r.wall_s, 2) for _, _, r, _ in results],
        "spectra_per_s": [round(rate, 1) for *_, rate in results],
        "peak_rss_mb": [round(r.worker_peak_rss_mb, 1) for _, _, r, _ in results],
        "merge_peak_rss_mb": [round(r.merge_peak_rss_mb, 1) for _, _, r, _ in results],
        "n_shards": [s for _, s, _, _ in results],
        "shard_size": shard_size,
        "workers": workers,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[1000, 10000, 50000, 100000],
        help="numbers of spectra (default 1000 10000 50000 100000)",
    )
    parser.add_argument("--shard-size", type=int, default=5000, help="spectra per reduce shard (default 5000)")
    parser.add_argument("--workers", type=int, default=2, help="parallel reduce processes (default 2)")
    parser.add_argument("--keep", default=None, help="folder to keep (and reuse) the simulated files in")
    args = parser.parse_args()
    print(json.dumps(main(args.sizes, args.shard_size, args.workers, args.keep)))
