"""Shared helpers of the reduction / scale / classification benchmarks.

* :func:`simulated_inventory` writes embedded-sample spec-lite files the way the workflow does
  (``simulate_catalog`` → catalog CSV → ``read_catalog`` → ``write_spectra`` per shard →
  ``inventory.catalog_record``), in parallel worker processes, and reuses a folder that already
  holds them (so ``--keep DIR`` makes reruns cheap).
* :func:`reduce_and_merge` runs the pipeline's reduction: one inventory TSV per shard, each shard
  reduced in its own worker process by ``stages.reduce_shard`` (the reduce_shard rule's own code),
  then ``stages.merge_cube`` (the merge_cube rule's) in a fresh process, reporting wall time and
  every process's peak resident set size.

Peak RSS is the ``VmHWM`` of each worker (its own address space's high-water mark), read inside
the worker at its end. Workers are started with ``spawn`` when RSS matters (a forked child maps
the parent's pages and would count them) — that also mirrors Snakemake, which starts one Python
process per job.
"""

from __future__ import annotations

import importlib.util
import multiprocessing
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

PAPER_COUNTS = {"type1": 680, "type2": 2145, "intermediate": 521}
"""The paper's embedded sample (3346 spectra)."""
SEED = 42

ROOT = Path(__file__).resolve().parents[1]


def source_at(commit: str, path: str, marker: str) -> str:
    """The text of ``path`` (from the repository root) at ``commit``; exits unless it contains ``marker``
    (what makes it the baseline a benchmark means)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{commit}:{path}"], check=True, capture_output=True, text=True
    ).stdout
    if marker not in source:
        raise SystemExit(f"{commit}:{path} has no {marker!r}: not the baseline this benchmark compares with")
    return source


def module_at(commit: str, path: str, marker: str) -> ModuleType:
    """``path`` (a module of the package) as of ``commit``, executed as a new module ``baseline_<name>``
    (registered in ``sys.modules``: dataclasses look their module up); exits unless it contains ``marker``."""
    module = ModuleType(f"baseline_{Path(path).stem}")
    sys.modules[module.__name__] = module
    source = source_at(commit, path, marker)
    exec(compile(source, f"{commit}:{Path(path).name}", "exec"), module.__dict__)  # noqa: S102 - the project's own file
    return module


def fastest_ms(times: dict[str, list[float]], per: int) -> dict[str, float]:
    """The fastest of each list of CPU seconds, in milliseconds per one of ``per`` items."""
    return {name: 1000 * min(value) / per for name, value in times.items()}


def alternate(
    runs: dict[str, Callable[[], tuple[float, Any]]], per: int, rounds: int = 3
) -> tuple[dict[str, float], dict[str, Any]]:
    """Each of ``runs`` (CPU seconds, result) in turn, ``rounds`` times, so load drifts alike for all;
    the fastest of each in milliseconds per one of ``per`` items, and each run's last result."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    results: dict[str, Any] = {}
    for _ in range(rounds):
        for name, run in runs.items():
            spent, results[name] = run()
            times[name].append(spent)
            print(f"{name}: {1000 * spent / per:.3f} ms per item", flush=True)
    return fastest_ms(times, per), results


# Where each module of the flat package (before the stage subpackages) lives now: an older module
# loaded by import_into_package finds its relative imports (``from .files import …``) under these names.
FLAT_MODULES = {
    "vocabulary": ["core.vocabulary"],
    "lines": ["core.lines"],
    "logs": ["core.logs"],
    "parallel": ["core.parallel"],
    "files": ["core.files", "io.tables"],
    "ecsv": ["io.ecsv"],
    "fits": ["io.fits"],
    "cube": ["io.cube"],
    "models": ["io.models"],
    "sdss": ["spectra.sdss"],
    "reduce": ["spectra.reduce"],
    "agn_gate": ["spectra.gate"],
    "catalog": ["acquire.catalog"],
    "inventory": ["acquire.inventory"],
    "simulate": [
        "acquire.simulate.constants",
        "acquire.simulate.parameters",
        "acquire.simulate.catalog",
        "acquire.simulate.blocks",
        "acquire.simulate.host",
        "acquire.simulate.truth",
        "acquire.simulate.spectrum",
        "acquire.simulate.files",
    ],
    "download": [
        "acquire.download.errors",
        "acquire.download.files",
        "acquire.download.deadlines",
        "acquire.download.transport",
        "acquire.download.manifest",
        "acquire.download.downloader",
        "acquire.download.shard",
    ],
    "split": ["learn.split"],
    "kernels": ["learn.kernels"],
    "classify": ["learn.classify"],
    "embed": ["learn.embed"],
    "dataset": ["learn.dataset"],
    "saliency": ["explain.saliency.model", "explain.saliency.gradients", "explain.saliency.attribution"],
    "faithfulness": ["explain.faithfulness"],
    "explain": ["explain.maps"],
    "ood": ["predict.ood"],
    # "plotting": the package agn_saliency.plotting itself re-exports every name of the former module
}


def _alias_flat_modules() -> None:
    """Register ``agn_saliency.<flat name>`` for every module that has moved (merging split ones)."""
    import agn_saliency

    for flat, homes in FLAT_MODULES.items():
        name = f"agn_saliency.{flat}"
        if name in sys.modules and getattr(sys.modules[name], "__file__", None):
            continue  # a real module of that name
        alias = ModuleType(name)
        for home in homes:
            alias.__dict__.update(
                {k: v for k, v in vars(importlib.import_module(f"agn_saliency.{home}")).items() if not k.startswith("__")}
            )
        sys.modules[name] = alias
        setattr(agn_saliency, flat, alias)
    for root_name, home in (
        ("CLASS_NAMES", "core.vocabulary"),
        ("KERNELS", "core.vocabulary"),
        ("TASK_CLASSES", "core.vocabulary"),
        ("MODEL_FORMAT", "io.models"),
    ):
        setattr(agn_saliency, root_name, getattr(importlib.import_module(f"agn_saliency.{home}"), root_name))


def import_into_package(source: str, name: str, folder: Path) -> ModuleType:
    """Import ``source`` (an older ``agn_saliency`` module) as ``agn_saliency.<name>``, so its relative
    imports resolve (to today's modules, under their former flat names); the file goes to ``folder``."""
    _alias_flat_modules()
    path = folder / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"agn_saliency.{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def class_counts(n: int) -> tuple[int, int, int]:
    """(n_type1, n_type2, n_intermediate) summing to ``n`` in the paper's proportions."""
    total = sum(PAPER_COUNTS.values())
    n1 = round(n * PAPER_COUNTS["type1"] / total)
    ni = round(n * PAPER_COUNTS["intermediate"] / total)
    return n1, n - n1 - ni, ni


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far, MB.

    ``VmHWM`` of /proc/self/status: the high-water mark of this process's own address space.
    ``ru_maxrss`` is not used on Linux because it survives ``execve``: a spawned worker would
    report the RSS of the parent it was forked from before the exec.
    """
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # kB on Linux


# ------------------------------------------------------------------------------ simulated files


def _write_chunk(args: tuple[list[dict[str, Any]], str, int]) -> int:
    from agn_saliency.acquire.simulate import SimulationParameters, write_spectra

    records, data_root, seed = args
    write_spectra(records, data_root, seed, SimulationParameters())
    return len(records)


def simulated_inventory(n: int, folder: Path, workers: int = 2, seed: int = SEED, verbose: bool = True) -> list[dict[str, Any]]:
    """Inventory rows (``INVENTORY_COLUMNS``) of ``n`` simulated spectra written below ``folder/data``.

    The catalog is drawn with the paper's class proportions, written as CSV and read back with
    ``catalog.read_catalog`` (which numbers the rows), exactly as the workflow's
    simulate_catalog / simulate_shard rules do. Files that already exist are not rewritten (the
    simulation is deterministic: a file is a function of (seed, plate, mjd, fiberid) only).
    """
    from agn_saliency.acquire.catalog import read_catalog
    from agn_saliency.acquire.inventory import catalog_record
    from agn_saliency.acquire.simulate import RUN2D, SimulationParameters, simulate_catalog, write_catalog_csv
    from agn_saliency.spectra.sdss import spec_lite_relpath

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    data_root = folder / "data"
    catalog_path = folder / f"catalog-{n}-seed{seed}.csv"
    if not catalog_path.exists():
        write_catalog_csv(simulate_catalog(*class_counts(n), seed, SimulationParameters()), catalog_path)
    catalog = read_catalog(catalog_path)
    records = [
        {
            "row": int(r["row"]),
            "plate": int(r["plate"]),
            "mjd": int(r["mjd"]),
            "fiberid": int(r["fiberid"]),
            "z": float(r["z"]),
            "label": str(r["label"]),
        }
        for r in catalog
    ]
    paths = [str(data_root / spec_lite_relpath(r["plate"], r["mjd"], r["fiberid"], RUN2D)) for r in records]
    todo = [r for r, p in zip(records, paths) if not os.path.exists(p)]
    if todo:
        start = time.perf_counter()
        chunk = max(50, min(2000, len(todo) // (workers * 8) + 1))
        chunks = [(todo[i : i + chunk], str(data_root), seed) for i in range(0, len(todo), chunk)]
        done = 0
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            for count in pool.imap_unordered(_write_chunk, chunks):
                done += count
                if verbose and (done == len(todo) or done // 10000 != (done - count) // 10000):
                    elapsed = time.perf_counter() - start
                    print(f"  simulated {done}/{len(todo)} files ({done / elapsed:.0f} files/s)", flush=True)
        if verbose:
            print(
                f"simulated {len(todo)} spectra in {time.perf_counter() - start:.1f} s with {workers} processes "
                f"under {data_root}",
                flush=True,
            )
    elif verbose:
        print(f"reusing {n} simulated spectra under {data_root}", flush=True)
    return [catalog_record(r, p) for r, p in zip(records, paths)]


# ------------------------------------------------------------------------------ reduce + merge


def reduce_shard_job(job: dict[str, Any]) -> dict[str, Any]:
    """One reduce_shard job: ``stages.reduce_shard(**job)``, the rule's own code (inventory → shard HDF5
    + rejected list). Returns counts and peak RSS."""
    from agn_saliency.stages.reduce import reduce_shard

    start = time.perf_counter()
    result = reduce_shard(**job)
    return {
        "kept": len(result.flux),
        "rejected": len(result.rejected),
        "seconds": time.perf_counter() - start,
        "cpu_s": time.process_time(),
        "peak_rss_mb": peak_rss_mb(),
        "pid": os.getpid(),
    }


def merge_job(job: dict[str, Any]) -> dict[str, Any]:
    """The merge_cube job: ``stages.merge_cube(**job)``, the rule's own code (shards → cube + spectra
    table + rejected.ecsv). Returns counts and peak RSS."""
    from agn_saliency.stages.reduce import merge_cube

    start_rss = peak_rss_mb()
    start = time.perf_counter()
    counts = merge_cube(**job)
    return {
        **counts,
        "seconds": time.perf_counter() - start,
        "cpu_s": time.process_time(),
        "peak_rss_mb": peak_rss_mb(),
        "rss_before_mb": start_rss,
    }


@dataclass
class PipelineRun:
    n_rows: int
    kept: int
    rejected: int
    wall_s: float
    reduce_s: float
    merge_s: float
    worker_peak_rss_mb: float
    merge_peak_rss_mb: float
    merge_start_rss_mb: float
    cube_mb: float
    merge_cpu_s: float
    shards: list[dict[str, Any]] = field(default_factory=list)


def write_inventories(rows: list[dict[str, Any]], folder: Path, n_shards: int) -> list[Path]:
    """One inventory TSV per contiguous shard (``inventory.shard_bounds``), as the workflow's."""
    from agn_saliency.acquire.inventory import INVENTORY_COLUMNS, shard_bounds
    from agn_saliency.io.tables import write_table

    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for shard in range(n_shards):
        lo, hi = shard_bounds(len(rows), shard, n_shards)
        path = folder / f"inventory-{shard:04d}.ecsv"
        write_table(path, rows[lo:hi], INVENTORY_COLUMNS)
        paths.append(path)
    return paths


def reduce_and_merge(
    inventories: list[Path],
    work: Path,
    workers: int,
    reduce_config: dict[str, Any] | None = None,
    start_method: str = "spawn",
    fresh_process_per_shard: bool = True,
) -> PipelineRun:
    """Reduce every inventory shard in ``workers`` processes, then merge in a fresh process.

    Timed from the moment the worker pool is created to the moment the merged cube exists (so
    process start-up is included, as it is for Snakemake jobs).
    """
    from agn_saliency.io.tables import read_table  # noqa: F401  (import before timing)

    work.mkdir(parents=True, exist_ok=True)
    config = dict(reduce_config or {})
    jobs = [
        {
            "inventory": str(inv),
            "shard_out": str(work / f"shard-{i:04d}.h5"),
            "rejected_out": str(work / f"rejected-{i:04d}.ecsv"),
            "shard": i,
            "reduce": config,
        }
        for i, inv in enumerate(inventories)
    ]
    merge = {
        "shards": [job["shard_out"] for job in jobs],
        "rejected": [job["rejected_out"] for job in jobs],
        "cube_out": str(work / "cube.h5"),
        "rejected_out": str(work / "rejected.ecsv"),
        "spectra_out": str(work / "spectra.ecsv"),
        "config": {"data": {"source": "synthetic"}, "reduce": config, "seed": SEED},
    }
    context = multiprocessing.get_context(start_method)
    start = time.perf_counter()
    with context.Pool(workers, maxtasksperchild=1 if fresh_process_per_shard else None) as pool:
        results = pool.map(reduce_shard_job, jobs, chunksize=1)
    reduced_at = time.perf_counter()
    with context.Pool(1) as pool:
        merged = pool.apply(merge_job, (merge,))
    end = time.perf_counter()
    return PipelineRun(
        n_rows=sum(r["kept"] + r["rejected"] for r in results),
        kept=sum(r["kept"] for r in results) - merged["duplicates"],
        rejected=merged["rejected"],
        wall_s=end - start,
        reduce_s=reduced_at - start,
        merge_s=end - reduced_at,
        worker_peak_rss_mb=max(r["peak_rss_mb"] for r in results),
        merge_peak_rss_mb=merged["peak_rss_mb"],
        merge_start_rss_mb=merged["rss_before_mb"],
        cube_mb=(work / "cube.h5").stat().st_size / 1e6,
        merge_cpu_s=merged["cpu_s"],
        shards=results,
    )


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
