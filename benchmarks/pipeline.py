"""Wall time of the whole default (paper-size) DAG, of a no-op rerun and of a saliency-only change.

    python benchmarks/pipeline.py [--cores 2] [--configfile extra.yaml] [--workdir DIR]

Runs Snakemake three times in a fresh working directory: (1) the full default pipeline,
(2) the same command again (nothing to do), (3) after changing only explain.n_random_per_class
(reruns the explanation plots only). The ratios are against the full run measured here.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def run(workdir: Path, cores: int, configfiles: list[str], *extra: str) -> tuple[float, str]:
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        str(workdir),
        "--cores",
        str(cores),
        *extra,
    ]
    if configfiles:
        command += ["--configfile", *configfiles]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"snakemake failed ({' '.join(command)}):\n{result.stderr[-4000:]}")
    return elapsed, result.stderr + result.stdout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", action="append", default=[], help="extra config files (e.g. tests/config/tiny.yaml)")
    parser.add_argument("--workdir", type=Path, help="working directory (default: a new temporary one)")
    args = parser.parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="agn-pipeline-"))
    workdir.mkdir(parents=True, exist_ok=True)
    configs = [str(Path(c).resolve()) for c in args.configfile]

    full_s, _ = run(workdir, args.cores, configs)
    print(f"full default DAG: {full_s:.1f} s ({workdir})", flush=True)
    noop_s, log = run(workdir, args.cores, configs)
    assert "Nothing to be done" in log, "the rerun was not a no-op"
    print(f"no-op rerun: {noop_s:.2f} s", flush=True)
    change = workdir / "saliency-change.yaml"
    change.write_text("explain:\n  n_random_per_class: 4\n")
    saliency_s, log = run(workdir, args.cores, configs + [str(change)])
    print(f"saliency-only change: {saliency_s:.1f} s", flush=True)
    print(
        json.dumps(
            {
                "cores": args.cores,
                "cpus": os.cpu_count(),
                "full_dag_s": round(full_s, 1),
                "noop_rerun_s": round(noop_s, 2),
                "saliency_change_s": round(saliency_s, 1),
                "noop_over_full": round(noop_s / full_s, 4),
                "saliency_change_over_full": round(saliency_s / full_s, 4),
                "configfiles": args.configfile,
            }
        )
    )


if __name__ == "__main__":
    main()
