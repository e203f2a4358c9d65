"""Wall time of the whole default DAG, of a no-op rerun, time and memory per rule, optionally against an older commit.

    python benchmarks/pipeline.py [--cores 2] [--configfile extra.yaml ...] [--workdir DIR]
                                  [--baseline COMMIT [--repeats N]] [--saliency-change] [--keep]

Runs Snakemake on the whole default DAG in a fresh working directory, then the same command again
(nothing to do: the no-op rerun), both timed as the wall clock of the whole snakemake command. Every
job rule has a ``benchmark:`` file (results/benchmarks/<rule>/<wildcards>.tsv, written by Snakemake);
they are summed per rule: jobs, wall s (sum of ``s``), CPU s (sum of ``cpu_time``), peak RSS MB (max
of ``max_rss``) and summed RSS MB, sorted by wall time, then the total job wall time.

``--baseline COMMIT`` checks COMMIT out into a temporary ``git worktree`` and runs ITS Snakefile
(same interpreter and venv, its own ``src/`` first on PYTHONPATH, same --cores and config files) in
a fresh working directory of its own, back to back with the current one: baseline first, then the
current tree, ``--repeats`` times alternating. The fastest full run of each gives the speed-up
baseline_full_s / full_s. A commit without ``benchmark:`` directives (e.g. 44ba741) has no per-rule
table: only its full and no-op times. The macro F1 of every task (results/metrics/<task>.json) of
both are printed side by side with the acceptance checks (binary ≥ 0.98, multiclass within 0.02 of
the baseline). The worktree is removed at the end, also on failure.

``--saliency-change`` also times a rerun after changing only explain.n_random_per_class (current
tree only). Working directories go to a temporary folder removed at the end unless --workdir or
--keep is given. Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BINARY_FLOOR = 0.98  # acceptance: binary test macro F1
MULTICLASS_TOLERANCE = 0.02  # acceptance: multiclass test macro F1 within this of the baseline


@dataclass
class Run:
    """One checkout's full run and no-op rerun in one working directory."""

    label: str
    workdir: Path
    full_s: float = 0.0
    noop_s: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    per_rule: dict[str, dict[str, float]] = field(default_factory=dict)


def snakemake(source: Path, workdir: Path, cores: int, configfiles: list[str], log: Path, *extra: str) -> tuple[float, str]:
    """Run ``source``'s Snakefile in ``workdir`` with this interpreter; return (wall s, its output).

    ``source/src`` goes first on PYTHONPATH so a baseline checkout imports its own ``agn_saliency``
    rather than the editable install of this repository. Exits with the output's tail on failure."""
    command = [sys.executable, "-m", "snakemake", "-s", str(source / "Snakefile"), "-d", str(workdir), "--cores", str(cores)]
    command += [*extra, *(["--configfile", *configfiles] if configfiles else [])]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(source / "src"), os.environ.get("PYTHONPATH")])))
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, cwd=workdir)
    try:
        output, _ = process.communicate()
    except BaseException:  # interrupted: let Snakemake stop its jobs (SIGTERM) before giving up
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
        raise
    elapsed = time.perf_counter() - start
    with log.open("a") as handle:
        handle.write(f"$ {' '.join(command)}\n{output}\n")
    if process.returncode != 0:
        sys.exit(f"snakemake failed ({' '.join(command)}), log {log}:\n{output[-4000:]}")
    return elapsed, output


def number(value: str | None) -> float | None:
    """A benchmark TSV cell as a float (None for NA, '-' or empty)."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def per_rule_table(workdir: Path) -> dict[str, dict[str, float]]:
    """results/benchmarks/<rule>/*.tsv summed per rule (empty when the checkout writes none)."""
    table: dict[str, dict[str, float]] = {}
    root = workdir / "results" / "benchmarks"
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        rule = path.relative_to(root).parts[0]
        with path.open(newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        entry = table.setdefault(rule, {"jobs": 0, "wall_s": 0.0, "cpu_s": 0.0, "max_rss_mb": 0.0, "sum_rss_mb": 0.0})
        for row in rows:
            rss = number(row.get("max_rss")) or 0.0
            entry["jobs"] += 1
            entry["wall_s"] += number(row.get("s")) or 0.0
            entry["cpu_s"] += number(row.get("cpu_time")) or 0.0
            entry["max_rss_mb"] = max(entry["max_rss_mb"], rss)
            entry["sum_rss_mb"] += rss
    rounded = {rule: {k: (v if k == "jobs" else round(v, 2)) for k, v in entry.items()} for rule, entry in table.items()}
    return dict(sorted(rounded.items(), key=lambda item: -item[1]["wall_s"]))


def read_metrics(workdir: Path) -> dict[str, float]:
    """Test macro F1 of every task: results/metrics/<task>.json → {task: macro_f1}."""
    metrics = {}
    for path in sorted((workdir / "results" / "metrics").glob("*.json")):
        value = json.loads(path.read_text()).get("macro_f1")
        if value is not None:
            metrics[path.stem] = round(float(value), 4)
    return metrics


def run_checkout(label: str, source: Path, workdir: Path, cores: int, configfiles: list[str]) -> Run:
    """Full run in a fresh ``workdir``, then the no-op rerun; metrics and per-rule table read afterwards."""
    if workdir.exists() and any(workdir.iterdir()):
        sys.exit(f"{workdir} is not empty: the full run needs a fresh working directory")
    workdir.mkdir(parents=True, exist_ok=True)
    log = workdir / "benchmark-snakemake.log"
    run = Run(label, workdir)
    run.full_s, _ = snakemake(source, workdir, cores, configfiles, log)
    print(f"{label}: full DAG {run.full_s:.1f} s ({workdir})", flush=True)
    run.noop_s, output = snakemake(source, workdir, cores, configfiles, log)
    if "Nothing to be done" not in output:
        sys.exit(f"{label}: the rerun was not a no-op (see {log})")
    print(f"{label}: no-op rerun {run.noop_s:.2f} s", flush=True)
    run.metrics = read_metrics(workdir)
    run.per_rule = per_rule_table(workdir)
    return run


def print_table(per_rule: dict[str, dict[str, float]], full_s: float) -> float:
    """The per-rule table, sorted by wall time; returns the total job wall time."""
    header = f"{'rule':<24}{'jobs':>6}{'wall s':>10}{'CPU s':>10}{'peak RSS MB':>13}{'sum RSS MB':>12}"
    print(header)
    print("-" * len(header))
    for rule, e in per_rule.items():
        print(f"{rule:<24}{e['jobs']:>6}{e['wall_s']:>10.1f}{e['cpu_s']:>10.1f}{e['max_rss_mb']:>13.0f}{e['sum_rss_mb']:>12.0f}")
    total_wall = sum(e["wall_s"] for e in per_rule.values())
    total_cpu = sum(e["cpu_s"] for e in per_rule.values())
    print("-" * len(header))
    jobs = sum(e["jobs"] for e in per_rule.values())
    print(f"{'total':<24}{jobs:>6}{total_wall:>10.1f}{total_cpu:>10.1f}")
    print(f"job wall time {total_wall:.1f} s in {full_s:.1f} s of full run ({total_wall / full_s:.2f} jobs at a time on average)")
    return round(total_wall, 2)


def acceptance(current: dict[str, float], baseline: dict[str, float] | None) -> dict[str, bool | None]:
    """Binary macro F1 ≥ 0.98; multiclass within 0.02 of the baseline (None: not measurable)."""
    checks: dict[str, bool | None] = {}
    if "binary" in current:
        checks["binary_macro_f1_ge_0.98"] = current["binary"] >= BINARY_FLOOR
    if baseline is not None and "multiclass" in current and "multiclass" in baseline:
        checks["multiclass_within_0.02_of_baseline"] = abs(current["multiclass"] - baseline["multiclass"]) <= MULTICLASS_TOLERANCE
    return checks


def print_metrics(current: dict[str, float], baseline: dict[str, float] | None, checks: dict[str, bool | None]) -> None:
    """Test macro F1 per task, next to the baseline's when there is one, then the acceptance checks."""
    print(f"{'task':<14}{'macro F1':>10}" + (f"{'baseline':>10}{'diff':>9}" if baseline is not None else ""))
    for task in sorted(set(current) | set(baseline or {})):
        line = f"{task:<14}{current.get(task, float('nan')):>10.4f}"
        if baseline is not None:
            diff = current.get(task, float("nan")) - baseline.get(task, float("nan"))
            line += f"{baseline.get(task, float('nan')):>10.4f}{diff:>+9.4f}"
        print(line)
    for name, ok in checks.items():
        print(f"acceptance {name}: {'ok' if ok else 'FAILED'}")


def add_worktree(commit: str) -> tuple[Path, str]:
    """A detached ``git worktree`` of ``commit`` in a new temporary folder: (path, full commit hash)."""
    sha = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--verify", f"{commit}^{{commit}}"], capture_output=True, text=True, check=True
    ).stdout.strip()
    path = Path(tempfile.mkdtemp(prefix="agn-baseline-")) / sha[:10]
    subprocess.run(
        ["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), sha], capture_output=True, text=True, check=True
    )
    return path, sha


def remove_worktree(path: Path) -> None:
    """Remove the worktree (also its registration in this repository) and its temporary parent folder."""
    subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(path)], capture_output=True, text=True)
    subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True, text=True)
    shutil.rmtree(path.parent, ignore_errors=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", action="append", default=[], help="extra config files (e.g. tests/config/tiny.yaml)")
    parser.add_argument("--workdir", type=Path, help="folder for the working directories (default: a new temporary one)")
    parser.add_argument("--baseline", metavar="COMMIT", help="also run this commit's Snakefile, back to back (e.g. 44ba741)")
    parser.add_argument("--repeats", type=int, default=1, help="with --baseline: alternating baseline/current pairs (default 1)")
    parser.add_argument(
        "--saliency-change", action="store_true", help="also time a rerun after changing explain.n_random_per_class"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary working directories")
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be ≥ 1")
    return args


def main() -> None:
    args = parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # SystemExit: the finally blocks still clean up
    root = (args.workdir or Path(tempfile.mkdtemp(prefix="agn-pipeline-"))).resolve()
    configs = [str(Path(c).resolve()) for c in args.configfile]
    current_runs: list[Run] = []
    baseline_runs: list[Run] = []
    worktree, sha = (None, None)
    finished = False
    try:
        if args.baseline:
            worktree, sha = add_worktree(args.baseline)
            print(f"baseline {args.baseline} = {sha[:10]} checked out in {worktree}", flush=True)
        for i in range(args.repeats if args.baseline else 1):
            suffix = f"-{i + 1}" if args.repeats > 1 and args.baseline else ""
            if worktree is not None:
                baseline_runs.append(run_checkout(f"baseline{suffix}", worktree, root / f"baseline{suffix}", args.cores, configs))
            current_runs.append(run_checkout(f"current{suffix}", REPO, root / f"current{suffix}", args.cores, configs))
        saliency_s = None
        if args.saliency_change:
            change = root / "saliency-change.yaml"
            change.write_text("explain:\n  n_random_per_class: 4\n")
            log = current_runs[-1].workdir / "benchmark-snakemake.log"
            saliency_s, _ = snakemake(REPO, current_runs[-1].workdir, args.cores, configs + [str(change)], log)
            print(f"current: saliency-only change {saliency_s:.1f} s", flush=True)
        finished = True
    finally:
        if worktree is not None:
            remove_worktree(worktree)
        if finished and not (args.workdir or args.keep):  # a failed run keeps its logs
            shutil.rmtree(root, ignore_errors=True)

    current = min(current_runs, key=lambda run: run.full_s)  # fastest of the repeats
    print(f"\nper rule ({current.label}, from results/benchmarks/**/*.tsv):")
    jobs_wall_s = print_table(current.per_rule, current.full_s) if current.per_rule else None
    if not current.per_rule:
        print("no benchmark files written")
    result: dict = {
        "cores": args.cores,
        "cpus": os.cpu_count(),
        "configfiles": args.configfile,
        "full_s": round(current.full_s, 1),
        "noop_s": round(current.noop_s, 2),
        "full_runs_s": [round(run.full_s, 1) for run in current_runs],
        "noop_runs_s": [round(run.noop_s, 2) for run in current_runs],
        "jobs_wall_s": jobs_wall_s,
        "per_rule": {rule: {k: e[k] for k in ("jobs", "wall_s", "cpu_s", "max_rss_mb")} for rule, e in current.per_rule.items()},
        "metrics": current.metrics,
    }
    if saliency_s is not None:
        result["saliency_change_s"] = round(saliency_s, 1)
    baseline_metrics = None
    if baseline_runs:
        baseline = min(baseline_runs, key=lambda run: run.full_s)
        baseline_metrics = baseline.metrics
        speedup = baseline.full_s / current.full_s
        print(f"\n{'':<10}{'full s':>10}{'no-op s':>10}   (fastest of {len(current_runs)}; runs alternated, baseline first)")
        print(f"{'baseline':<10}{baseline.full_s:>10.1f}{baseline.noop_s:>10.2f}   {args.baseline} = {sha[:10]}")
        print(f"{'current':<10}{current.full_s:>10.1f}{current.noop_s:>10.2f}")
        print(f"speed-up baseline_full_s / full_s = {speedup:.2f}×")
        if not baseline.per_rule:
            print("(baseline: no benchmark: files at that commit, so no per-rule table)")
        result["baseline"] = {
            "commit": sha,
            "full_s": round(baseline.full_s, 1),
            "noop_s": round(baseline.noop_s, 2),
            "full_runs_s": [round(run.full_s, 1) for run in baseline_runs],
            "noop_runs_s": [round(run.noop_s, 2) for run in baseline_runs],
            "metrics": baseline.metrics,
        }
        result["speedup"] = round(speedup, 3)
    print()
    checks = acceptance(current.metrics, baseline_metrics)
    print_metrics(current.metrics, baseline_metrics, checks)
    result["acceptance"] = checks
    print(json.dumps(result))


if __name__ == "__main__":
    main()
