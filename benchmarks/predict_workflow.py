"""Predict at survey scale through the workflow: N simulated spectra → `snakemake predict` in shards.

Writes N simulated spec-lite files (the embedded sample's simulator, ``common.simulated_inventory``),
then runs ``snakemake predict`` on them in a finished run of the tiny configuration
(``tests/config/tiny.yaml``: its multiclass model and held-out spectra calibrate the OOD threshold;
made first in ``--workdir`` when absent) with ``predict.n_shards`` shard jobs on ``--cores`` cores,
figures ``selection`` (at most 50). Reported from Snakemake's own ``benchmark:`` records of each job
(``results/benchmarks/<rule>/…tsv``: wall seconds, peak RSS of the job's processes, CPU seconds):
the run's wall time, spectra/s for the whole run and per core, and per rule the job count, the
largest peak RSS and the summed CPU time.

Usage::

    python benchmarks/predict_workflow.py --n 1000 --shards 4 --cores 2 [--workdir DIR] [--keep DIR]
    python benchmarks/predict_workflow.py --n 100000 --shards 64 --cores 2 --workdir /scratch/bench

The last line printed is one JSON object. Rerunning with the same ``--keep``/``--workdir`` reuses
the simulated files and the trained run; the predict results of that folder are removed first.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import simulated_inventory  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "config" / "tiny.yaml"
PREDICT_RULES = ("predict_shard", "predict_spectra", "plot_predictions", "plot_agn_gate", "plot_predict_summary")


def snakemake(workdir: Path, *args: str) -> None:
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    result = subprocess.run([*command, *args], capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"snakemake {' '.join(args)} failed:\n{result.stderr[-4000:]}")


def job_records(workdir: Path, name: str) -> dict[str, list[dict[str, float]]]:
    """Each predict rule's benchmark rows (s, max_rss in MB, cpu_time) for folder ``name``."""
    records: dict[str, list[dict[str, float]]] = {}
    for rule in PREDICT_RULES:
        root = workdir / "results" / "benchmarks" / rule
        paths = sorted(root.glob(f"{name}/**/*.tsv")) + sorted(root.glob(f"{name}.tsv"))
        for path in paths:
            with open(path, newline="") as handle:
                for row in csv.DictReader(handle, delimiter="\t"):
                    records.setdefault(rule, []).append(
                        {
                            k: float(row[k]) if row.get(k) not in (None, "", "-", "NA") else 0.0
                            for k in ("s", "max_rss", "cpu_time")
                        }
                    )
    return records


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="spectra predicted")
    parser.add_argument("--shards", type=int, default=4, help="predict.n_shards")
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", default="", help="the tiny run's folder (made when it has no model)")
    parser.add_argument("--keep", default="", help="folder to keep (and reuse) the simulated files in")
    args = parser.parse_args(argv)

    import tempfile

    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="predict-workflow-"))
    workdir.mkdir(parents=True, exist_ok=True)
    if not (workdir / "results" / "models" / "multiclass.joblib").is_file():
        snakemake(workdir, "--cores", str(args.cores), "--configfile", str(TINY))
    root = Path(args.keep or workdir / "bench-spectra")
    start = time.perf_counter()
    simulated_inventory(args.n, root / f"n{args.n}", seed=args.seed, verbose=False)
    simulate_s = time.perf_counter() - start
    folder = root / f"n{args.n}" / "data"
    name = folder.name
    for path in (workdir / "results" / "predict" / name, *(workdir / "results" / "benchmarks" / r / name for r in PREDICT_RULES)):
        shutil.rmtree(path, ignore_errors=True)
    for path in (workdir / "results" / "benchmarks").glob(f"*/{name}.tsv"):
        path.unlink()
    config = workdir / f"bench-{args.shards}.yaml"
    config.write_text(f"predict:\n  n_shards: {args.shards}\n  figures: selection\n  max_figures: 50\n")
    start = time.perf_counter()
    # the target first: --configfile and --config take every word up to the next option
    cores = str(args.cores)
    snakemake(workdir, "predict", "--cores", cores, "--configfile", str(TINY), str(config), "--config", f"predict_dir={folder}")
    wall = time.perf_counter() - start
    records = job_records(workdir, name)
    rows = (workdir / "results" / "predict" / name / "predictions.ecsv").read_text().count("\n")
    folder_record = json.loads((workdir / "results" / "predict" / name / "folder.json").read_text())
    n_spectra = int(folder_record["files"])
    result = {
        "benchmark": "predict_workflow",
        "n_spectra": n_spectra,
        "n_shards": args.shards,
        "cores": args.cores,
        "simulate_s": round(simulate_s, 1),
        "wall_s": round(wall, 1),
        "spectra_per_s": round(n_spectra / wall, 1),
        "spectra_per_s_per_core": round(n_spectra / wall / args.cores, 1),
        "peak_rss_mb": {rule: round(max(r["max_rss"] for r in rs), 1) for rule, rs in records.items()},
        "cpu_s": {rule: round(sum(r["cpu_time"] for r in rs), 1) for rule, rs in records.items()},
        "jobs": {rule: len(rs) for rule, rs in records.items()},
        "verdicts": folder_record["verdict"],
        "table_lines": rows,
        "workdir": str(workdir),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
