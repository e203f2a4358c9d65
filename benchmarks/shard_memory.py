"""Peak RSS of one predict shard job against another tree's, alternating in the same run.

N simulated spectra written as files (the embedded sample's simulator, spec-lite files; reused
with ``--keep``) are predicted as one shard by the shard job of ``benchmarks/predict_shard.py``
(a fresh single-threaded process: imports, model load, OOD calibration, ``run_shard``), once with
this tree's ``src`` and once with ``--ab-src`` (another checkout's ``src``, e.g. main before a
change) first on ``PYTHONPATH``, alternating, ``--repeats`` times, for the default methods and
for all five. Reported per method set and tree: each job's peak RSS (``ru_maxrss``) and CPU
seconds, the smallest peak RSS of each tree and their ratio, and whether both trees wrote the
same rows (each job's rows file read back, without their shard-local keys: one JSON object in trees before JSON Lines shards,
JSON Lines after; rows compared as JSON text, so NaN equals NaN).

Usage::

    python benchmarks/shard_memory.py --n 10000 --ab-src /path/to/main/src [--repeats 2] [--keep DIR]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

JOB = Path(__file__).resolve().parent / "predict_shard.py"


def shard_rows(path: Path) -> list[str]:
    """The rows of a shard rows file of either format, each as JSON text without its shard-local
    ``key`` (numbered by chunk, and the chunks' sizes follow the measured rate: the merge renames it)."""
    text = path.read_text(encoding="utf-8")
    first = json.loads(text.split("\n", 1)[0])
    if "rows" in first:  # one JSON object (before JSON Lines shards)
        rows = first["rows"]
    else:
        rows = [record["row"] for record in map(json.loads, text.splitlines()) if "row" in record]
    return [json.dumps({k: v for k, v in row.items() if k != "key"}) for row in rows]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10000, help="spectra (files) in the shard")
    parser.add_argument("--train", type=int, default=300, help="spectra the model is fitted on")
    parser.add_argument("--heldout", type=int, default=100, help="simulated spectra the OOD threshold is calibrated on")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", default="", help="folder to keep (and reuse) the files in")
    parser.add_argument("--ab-src", required=True, help="another tree's src, alternating with this tree's")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each tree's job per method set")
    args = parser.parse_args(argv)

    import joblib
    import numpy as np
    from common import simulated_inventory
    from predict import ALL_METHODS, fitted_model

    from agn_saliency.predict.batch import DEFAULT_METHODS
    from agn_saliency.spectra.reduce import reduce_inventory

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="shard-memory-bench-"))
    model, params, _ = fitted_model(root / "train", args.train, args.seed)
    heldout = reduce_inventory(
        simulated_inventory(args.heldout, root / "heldout", seed=args.seed + 2, verbose=False), params
    ).flux
    simulated_inventory(args.n, root / f"predict{args.n}", seed=args.seed, verbose=False)
    folder = root / f"predict{args.n}" / "data"
    work = Path(tempfile.mkdtemp(prefix="shard-memory-", dir=root))
    joblib.dump((model, params), work / "model.joblib")
    np.save(work / "heldout.npy", heldout)
    trees = {"ab_src": args.ab_src, "this_tree": ""}

    def run_job(tree: str, methods: list[str], name: str) -> dict:
        spec = {
            "model": str(work / "model.joblib"), "heldout": str(work / "heldout.npy"), "folder": str(folder),
            "rows": str(work / f"{name}.rows"), "saliency": str(work / f"{name}.h5"), "methods": methods, "seed": args.seed,
        }  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        if trees[tree]:
            env["PYTHONPATH"] = os.pathsep.join([trees[tree], *filter(None, [os.environ.get("PYTHONPATH", "")])])
        out = subprocess.run(
            [sys.executable, str(JOB), "--job", json.dumps(spec)], check=True, capture_output=True, text=True, env=env
        )
        record = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name} ({tree}): {record}", flush=True)
        return record

    result: dict = {"benchmark": "shard_memory", "n_spectra": args.n, "ab_src": args.ab_src, "repeats": args.repeats, "sets": {}}
    for label, methods in (("default", list(DEFAULT_METHODS)), ("all_five", list(ALL_METHODS))):
        records: dict[str, list[dict]] = {tree: [] for tree in trees}
        rows: dict[str, list[str]] = {}
        for repeat in range(args.repeats):
            order = list(trees) if repeat % 2 == 0 else list(reversed(trees))  # neither tree always runs first
            for tree in order:
                name = f"{label}_{tree}_{repeat}"
                records[tree].append(run_job(tree, methods, name))
                if repeat == 0:
                    rows[tree] = shard_rows(work / f"{name}.rows")
                (work / f"{name}.rows").unlink()
                (work / f"{name}.h5").unlink()
        least = {tree: min(r["peak_rss_mb"] for r in rs) for tree, rs in records.items()}
        result["sets"][label] = {
            "peak_rss_mb": {tree: [round(r["peak_rss_mb"], 1) for r in rs] for tree, rs in records.items()},
            "process_cpu_s": {tree: [round(r["process_cpu_s"], 1) for r in rs] for tree, rs in records.items()},
            "least_peak_rss_mb": {tree: round(v, 1) for tree, v in least.items()},
            "rss_ratio_ab_src_over_this_tree": round(least["ab_src"] / least["this_tree"], 2),
            "rows": {tree: len(r) for tree, r in rows.items()},
            "same_rows": rows["ab_src"] == rows["this_tree"],
        }
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
