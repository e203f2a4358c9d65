"""Where a shard job's CPU time goes, stage by stage, for this tree and another (``--ab-src``), alternating.

A fresh process per run (single-threaded BLAS) runs :func:`agn_saliency.predict.shards.run_shard`
on one folder of files as one shard, with the default methods, and times (process CPU) the parts
of :func:`agn_saliency.predict.batch.classify_files` by wrapping the functions it calls: each
file's inventory row (its first read: the bytes, the headers, SDSS-V or not), the read of its
spectrum and SPZLINE table, the reduction, the AGN gate (batched), the rows (classification, OOD,
maps), the SHA-256 of files read again from disk, the HDF5 maps; "other" is the rest of
``run_shard`` (with what is hashed from memory). The trees alternate, ``--repeats`` times each; the
fastest run of each tree is reported, with its stages (the machine is shared: only alternating
runs compare two trees). The model and held-out spectra are :mod:`predict_shard`'s (``--train``
simulated spectra, ``--keep`` reused).

Usage::

    python benchmarks/shard_stages.py --folder DIR [--ab-src OTHER/src] [--repeats 3] [--keep DIR]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

STAGES = {
    "inventory_row": ("agn_saliency.predict.batch", "scan_folder"),
    "read_file": ("agn_saliency.predict.batch", "read_file"),
    "spzline": ("agn_saliency.predict.batch", "spzline_from_hdus"),
    "reduce_spectrum": ("agn_saliency.spectra.reduce", "reduce_spectrum"),
    "gate": ("agn_saliency.predict.batch", "assess_spectra"),
    "rows_ood_maps": ("agn_saliency.predict.batch", "prediction_rows"),
    "digest_from_disk": ("agn_saliency.predict.batch", "file_digest"),
}


def job(spec: dict) -> dict:
    """One run (in a fresh process): ``run_shard`` with its stages timed; ms per spectrum."""
    import importlib

    import joblib
    import numpy as np
    from threadpoolctl import threadpool_limits

    import agn_saliency.stages.predict  # noqa: F401 - what the rule's script imports
    from agn_saliency.explain.maps import attribution_options
    from agn_saliency.predict import shards
    from agn_saliency.predict.ood import calibrate_ood

    spent: collections.Counter[str] = collections.Counter()

    def timed(label: str, function):
        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            start = time.process_time()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - start

        return wrapper

    for label, (module, name) in STAGES.items():
        owner = importlib.import_module(module)
        if hasattr(owner, name):
            setattr(owner, name, timed(label, getattr(owner, name)))
    shards.SaliencyWriter.append = timed("hdf5_maps", shards.SaliencyWriter.append)
    model, params = joblib.load(spec["model"])
    with threadpool_limits(1):
        calibration = calibrate_ood(model, np.load(spec["heldout"]), quantile=0.99, k=10)
        methods = attribution_options({"methods": ["gradient", "logit_gradient"]}, 42)
        start = time.process_time()
        rows = shards.run_shard(
            spec["folder"], 0, 1, model, params, spec["rows"], spec["saliency"], methods=methods,
            ood_calibration=calibration, meta={"ood": calibration},
        )  # fmt: skip
        total = time.process_time() - start
    n = max(len(rows), 1)
    stages = {label: 1000 * seconds / n for label, seconds in spent.items()}
    stages["other"] = 1000 * total / n - sum(stages.values())
    return {"rows": len(rows), "run_shard_ms": 1000 * total / n, "stages_ms": stages}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--folder", default="", help="the files (e.g. predict_shard.py --keep DIR: DIR/real1000/data)")
    parser.add_argument("--train", type=int, default=300)
    parser.add_argument("--heldout", type=int, default=100)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", default="", help="folder to keep (and reuse) the model's training files in")
    parser.add_argument("--ab-src", default="", help="another tree's src, alternating with this tree's")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--job", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(job(json.loads(args.job))))
        return {}
    if not args.folder:
        parser.error("--folder is required")

    import joblib
    import numpy as np
    from common import simulated_inventory
    from predict import fitted_model

    from agn_saliency.spectra.reduce import reduce_inventory

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="shard-stages-"))
    model, params, _ = fitted_model(root / "train", args.train, args.seed)
    heldout = reduce_inventory(
        simulated_inventory(args.heldout, root / "heldout", seed=args.seed + 2, verbose=False), params
    ).flux
    work = Path(tempfile.mkdtemp(prefix="stages-", dir=root))
    joblib.dump((model, params), work / "model.joblib")
    np.save(work / "heldout.npy", heldout)
    spec = {
        "model": str(work / "model.joblib"), "heldout": str(work / "heldout.npy"), "folder": args.folder,
        "rows": str(work / "rows.json"), "saliency": str(work / "maps.h5"),
    }  # fmt: skip
    trees = {"this_tree": ""} | ({"ab_src": args.ab_src} if args.ab_src else {})
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.repeats):
        for name, src in trees.items():
            env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
            if src:
                env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH", "")])])
            out = subprocess.run(
                [sys.executable, __file__, "--job", json.dumps(spec)], check=True, capture_output=True, text=True, env=env
            )
            runs[name].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"{name}: {runs[name][-1]['run_shard_ms']:.3f} ms per spectrum", flush=True)
    shutil.rmtree(work, ignore_errors=True)
    fastest = {name: min(results, key=lambda r: r["run_shard_ms"]) for name, results in runs.items()}
    result = {
        "benchmark": "shard_stages",
        "folder": args.folder,
        "n_spectra": fastest["this_tree"]["rows"],
        "ab_src": args.ab_src,
        "repeats": args.repeats,
        "fastest_run_shard_ms_per_spectrum": {name: round(r["run_shard_ms"], 3) for name, r in fastest.items()},
        "stages_ms_per_spectrum": {name: {k: round(v, 3) for k, v in r["stages_ms"].items()} for name, r in fastest.items()},
    }
    if args.ab_src:
        result["speedup_run_shard"] = round(fastest["ab_src"]["run_shard_ms"] / fastest["this_tree"]["run_shard_ms"], 2)
        gate = {name: r["stages_ms"].get("gate", 0.0) for name, r in fastest.items()}
        result["speedup_without_gate"] = round(
            (fastest["ab_src"]["run_shard_ms"] - gate["ab_src"]) / (fastest["this_tree"]["run_shard_ms"] - gate["this_tree"]), 2
        )
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
