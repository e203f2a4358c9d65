"""Predict throughput end to end: a whole shard job against today's ``classify_folder``, same files, same run.

N spectra written as files — simulated (the embedded sample's simulator, spec-lite files) or, with
``--real``, copies of the shared real SDSS files (``../shared/data/sdss_real``: SPZLINE tables, two
old spSpec files; copy k of each in its own sub-folder) — are predicted by

* the shard job (``predict_shard``'s work): a fresh Python process (single-threaded BLAS) that
  imports what the rule's script imports, loads the model as the rule does (the served model, arrays
  without scikit-learn; a tree from before it, the joblib pipeline), reads the OOD threshold (rule
  ``calibrate_predict_ood`` computes it once for every shard; a tree from before it calibrates) and runs
  :func:`agn_saliency.predict.shards.run_shard` on all N files as one shard, writing its rows (JSON)
  and maps (HDF5); once with the default methods (``predict.methods``: gradient + logit_gradient),
  once with all five. Its rate is N / the CPU seconds of the whole process (interpreter start,
  imports and model load included); ``run_shard`` alone is reported too;
* the baseline: :func:`agn_saliency.predict.folder.classify_folder` with the default methods and
  the AGN gate of ``--baseline-commit`` (default 1c98dfd, as ``benchmarks/predict.py``: per-spectrum
  gate with finite-difference Jacobians, SPZLINE read again through astropy), in this process.

Every file is read once before the first timed process (:func:`read_once`), so that all of them —
jobs and baseline — read from the page cache: files kept from an earlier run (``--keep``) may no longer
be cached, and the first job would then pay the disk reads alone.

The model is an rbf pipeline fitted here on ``--train`` simulated spectra (``predict.fitted_model``), or
with ``--model`` a saved one (a default run's ``results/models/multiclass.joblib``: poly3, ~2 400
support vectors, several times the per-spectrum work of the small rbf model);
the OOD threshold is calibrated on ``--heldout`` other simulated spectra (the rule calibrates on the
run's held-out test spectra), the same threshold for the jobs and the baseline. With ``--ab-src DIR`` (another
checkout's ``src``, e.g. the commit before a change) the default-methods job (``--ab-methods``:
or the all-five job, or both) also runs with that tree first on ``PYTHONPATH``, alternating with
this tree's, ``--repeats`` times each: the fastest process and ``run_shard`` CPU seconds of each and
their ratio (the machine is shared: only
alternating runs compare two trees). Also
reported: the verdict agreement and detected line fluxes of the shard job's rows against the
baseline's, and each process's peak RSS.

Usage::

    python benchmarks/predict_shard.py --n 1000 --train 300 [--real] [--keep DIR] [--ab-src DIR [--repeats 2] [--ab-methods both]]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sdss_real"


def job(spec: dict) -> dict:
    """The shard job (run in a fresh process by :func:`main`): load what rule ``predict_shard`` loads (the
    served model, :mod:`agn_saliency.explain.served`, without scikit-learn; in a tree from before it, the
    joblib pipeline), read the OOD calibration (or, in a tree from before rule ``calibrate_predict_ood``,
    calibrate), ``run_shard``; its CPU seconds."""
    import importlib.util
    import pickle

    from threadpoolctl import threadpool_limits

    import agn_saliency.stages.predict  # what the rule's script imports
    from agn_saliency.explain.maps import attribution_options
    from agn_saliency.predict.shards import run_shard

    params = pickle.loads(Path(spec["params"]).read_bytes())  # the rule's come from config: no joblib either
    if importlib.util.find_spec("agn_saliency.explain.served") is not None:  # the rule's shard job loads this
        from agn_saliency.explain.served import read_served_model

        model = read_served_model(spec["served"])
    else:  # a tree from before it: the pipeline (joblib imports scikit-learn)
        import joblib

        model, _ = joblib.load(spec["model"])
    if importlib.util.find_spec("agn_saliency.core.memory") is not None:  # the rule's stage function sets it first
        from agn_saliency.core.memory import keep_freed_memory

        keep_freed_memory()
    with threadpool_limits(1):
        if hasattr(agn_saliency.stages.predict, "calibrate_predict_ood"):  # one rule calibrates for every shard
            calibration = json.loads(Path(spec["calibration"]).read_text())
        else:  # a tree from before that rule: its shard job calibrated
            import numpy as np

            from agn_saliency.predict.ood import calibrate_ood

            calibration = calibrate_ood(model, np.load(spec["heldout"]), quantile=0.99, k=10)
        methods = attribution_options({"methods": spec["methods"]}, spec["seed"])
        start = time.process_time()
        rows = run_shard(
            spec["folder"], 0, 1, model, params, spec["rows"], spec["saliency"], methods=methods,
            ood_calibration=calibration, meta={"ood": calibration},
        )  # fmt: skip
        shard_cpu = time.process_time() - start
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "rows": len(rows),  # a list of rows (before JSON Lines shards) or a ShardSummary: both have a length
        "run_shard_cpu_s": shard_cpu,
        "process_cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": usage.ru_maxrss / 1024,
    }


def add_ab(result: dict, ab: dict[str, dict[str, list[dict]]], n: int, args: argparse.Namespace) -> None:
    """``result["ab"]`` (and ``ab_all_five``): the fastest of each tree's alternating jobs and their ratio."""
    for name, by_tree in ab.items() if args.ab_src else ():
        fastest = {
            tree: {key: min(record[key] for record in records) for key in ("process_cpu_s", "run_shard_cpu_s")}
            for tree, records in by_tree.items()
        }
        # "ab" is the default methods' A/B (as before --ab-methods), "ab_all_five" the all-five job's
        result["ab" if name == "default" else f"ab_{name}"] = {
            "src": args.ab_src,
            "repeats": args.repeats,
            "fastest_cpu_s": {tree: {k: round(v, 2) for k, v in value.items()} for tree, value in fastest.items()},
            "spectra_per_s_per_core": {tree: round(n / value["process_cpu_s"], 1) for tree, value in fastest.items()},
            "speedup_process": round(fastest["ab_src"]["process_cpu_s"] / fastest["this_tree"]["process_cpu_s"], 2),
            "speedup_run_shard": round(fastest["ab_src"]["run_shard_cpu_s"] / fastest["this_tree"]["run_shard_cpu_s"], 2),
        }


def real_copies(n: int, folder: Path) -> Path:
    """``n`` files: copies of the shared real SDSS files, copy k of each under ``folder/data/copy<k>``."""
    originals = sorted(p for p in REAL.resolve().iterdir() if p.suffix in (".fits", ".fit"))
    if not originals:
        raise SystemExit(f"no real SDSS files in {REAL}")
    data = folder / "data"
    for i in range(n):
        source = originals[i % len(originals)]
        target = data / f"copy{i // len(originals):04d}" / source.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
    return data


def read_once(folder: Path) -> int:
    """Read every file below ``folder`` once, so that every timed process finds them in the page cache:
    the first job to read files left on disk by an earlier run would otherwise also pay the disk reads
    (≈ 0.5 ms a 0.4 MB file of kernel time, counted in its CPU seconds) that the jobs after it do not.
    Returns the bytes read."""
    total = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            with path.open("rb") as handle:
                while chunk := handle.read(1 << 22):
                    total += len(chunk)
    return total


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="spectra (files) predicted")
    parser.add_argument("--train", type=int, default=300, help="spectra the model is fitted on")
    parser.add_argument("--heldout", type=int, default=100, help="simulated spectra the OOD threshold is calibrated on")
    parser.add_argument("--real", action="store_true", help="copies of the shared real SDSS files instead of simulated ones")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", default="", help="folder to keep (and reuse) the files in")
    parser.add_argument("--baseline-commit", default="1c98dfd", help="commit whose spectra/gate.py the baseline uses")
    parser.add_argument("--ab-src", default="", help="another tree's src: its default-methods job alternating with this tree's")
    parser.add_argument("--repeats", type=int, default=2, help="runs of each tree's job with --ab-src")
    parser.add_argument(
        "--ab-methods", choices=("default", "all_five", "both"), default="default", help="which jobs --ab-src alternates"
    )
    parser.add_argument(
        "--skip-baseline",
        action="store_true",
        help="no classify_folder baseline (no speed-up, no agreement): the jobs' rates only",
    )
    parser.add_argument(
        "--model",
        default="",
        help="a saved model (e.g. a default run's results/models/multiclass.joblib) instead of the rbf one fitted on --train",
    )
    parser.add_argument("--job", default="", help=argparse.SUPPRESS)  # internal: run one shard job (JSON spec)
    args = parser.parse_args(argv)
    if args.job:
        print(json.dumps(job(json.loads(args.job))))
        return {}

    import joblib
    import numpy as np
    from common import simulated_inventory
    from predict import ALL_METHODS, agreement, fitted_model, use_baseline_gate
    from threadpoolctl import threadpool_limits

    from agn_saliency.explain.maps import attribution_options
    from agn_saliency.explain.saliency import served_model
    from agn_saliency.explain.served import write_served_model
    from agn_saliency.predict.batch import DEFAULT_METHODS
    from agn_saliency.predict.folder import classify_folder
    from agn_saliency.predict.ood import calibrate_ood
    from agn_saliency.spectra.reduce import reduce_inventory

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="predict-shard-bench-"))
    if args.model:  # a saved model: reduce as it was trained (its metadata's reduction)
        from agn_saliency.io.models import load_model
        from agn_saliency.spectra.reduce import ReductionParameters

        model, metadata = load_model(args.model)
        params = ReductionParameters.from_mapping(metadata["reduction"])
    else:
        model, params, _ = fitted_model(root / "train", args.train, args.seed)
    heldout = reduce_inventory(
        simulated_inventory(args.heldout, root / "heldout", seed=args.seed + 2, verbose=False), params
    ).flux
    if args.real:
        folder = real_copies(args.n, root / f"real{args.n}")
    else:
        simulated_inventory(args.n, root / f"predict{args.n}", seed=args.seed, verbose=False)
        folder = root / f"predict{args.n}" / "data"
    read_once(folder)  # every timed job and the baseline then read from the page cache alike
    work = Path(tempfile.mkdtemp(prefix="shard-job-", dir=root))
    joblib.dump((model, params), work / "model.joblib")
    (work / "params.pkl").write_bytes(pickle.dumps(params))
    # what rule calibrate_predict_ood writes for the shard jobs (this tree's format: an older tree's job loads model.joblib)
    write_served_model(work / "served_model.npz", served_model(model))
    np.save(work / "heldout.npy", heldout)
    with threadpool_limits(1):  # what rule calibrate_predict_ood writes once for every shard job
        (work / "calibration.json").write_text(json.dumps(calibrate_ood(model, heldout, quantile=0.99, k=10)))

    def run_job(name: str, methods: list[str], src: str = "", files: Path = folder) -> dict:
        spec = {
            "model": str(work / "model.joblib"), "served": str(work / "served_model.npz"), "params": str(work / "params.pkl"),
            "heldout": str(work / "heldout.npy"), "folder": str(files),
            "calibration": str(work / "calibration.json"),
            "rows": str(work / f"{name}.jsonl"), "saliency": str(work / f"{name}.h5"), "methods": methods, "seed": args.seed,
        }  # fmt: skip
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        if src:
            env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [os.environ.get("PYTHONPATH", "")])])
        out = subprocess.run(
            [sys.executable, __file__, "--job", json.dumps(spec)], check=True, capture_output=True, text=True, env=env
        )
        record = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{name}{' (' + src + ')' if src else ''}: {record}", flush=True)
        return record

    # numba compiles the gate once per machine (then loads its cache): a job on a few files first,
    # so that no timed job pays the compilation; its CPU seconds are reported (large when the cache was cold)
    warm_up = run_job("warm_up", list(DEFAULT_METHODS), files=REAL.resolve() if args.real else root / "heldout" / "data")
    jobs: dict[str, dict] = {}
    for name, methods in (("shard_default", list(DEFAULT_METHODS)), ("shard_all_five", list(ALL_METHODS))):
        jobs[name] = run_job(name, methods)
    ab_sets = {"default": list(DEFAULT_METHODS), "all_five": list(ALL_METHODS)}
    ab_sets = {name: value for name, value in ab_sets.items() if args.ab_methods in (name, "both")}
    ab: dict[str, dict[str, list[dict]]] = {name: {"ab_src": [], "this_tree": []} for name in ab_sets}
    for _ in range(args.repeats if args.ab_src else 0):
        for name, methods in ab_sets.items():
            ab[name]["ab_src"].append(run_job(f"ab_src_{name}", methods, args.ab_src))
            ab[name]["this_tree"].append(run_job(f"ab_this_{name}", methods))

    if args.skip_baseline:
        n = args.n
        result = {
            "benchmark": "predict_shard", "files": "real SDSS copies" if args.real else "simulated", "n_spectra": n,
            "n_train": args.train, "model": args.model or "rbf fitted on --train", "warm_up_cpu_s": round(warm_up["process_cpu_s"], 2),
            "spectra_per_s_per_core": {
                **{name: round(n / record["process_cpu_s"], 1) for name, record in jobs.items()},
                **{f"{name}_run_shard_only": round(n / record["run_shard_cpu_s"], 1) for name, record in jobs.items()},
            },
            "peak_rss_mb": {name: round(record["peak_rss_mb"], 1) for name, record in jobs.items()},
        }  # fmt: skip
        add_ab(result, ab, n, args)
        shutil.rmtree(work, ignore_errors=True)
        print(json.dumps(result))
        return result

    use_baseline_gate(args.baseline_commit)
    every = attribution_options({"methods": list(ALL_METHODS)}, args.seed)
    with threadpool_limits(1):
        start = time.process_time()
        calibration = calibrate_ood(model, heldout, quantile=0.99, k=10)  # as the jobs: the same verdicts
        old_rows, _ = classify_folder(
            folder, model, params, methods={name: every[name] for name in DEFAULT_METHODS}, ood_calibration=calibration
        )
        baseline_cpu = time.process_time() - start

    from agn_saliency.predict.shards import read_shard

    new_rows = read_shard(work / "shard_default.jsonl")[0]
    n = len(old_rows)
    rate = {name: n / record["process_cpu_s"] for name, record in jobs.items()}
    rate |= {f"{name}_run_shard_only": n / record["run_shard_cpu_s"] for name, record in jobs.items()}
    rate["baseline_default"] = n / baseline_cpu
    result = {
        "benchmark": "predict_shard",
        "files": "real SDSS copies" if args.real else "simulated",
        "n_spectra": n,
        "n_train": args.train,
        "model": args.model or "rbf fitted on --train",
        "warm_up_cpu_s": round(warm_up["process_cpu_s"], 2),
        "baseline_gate_commit": args.baseline_commit,
        "spectra_per_s_per_core": {k: round(v, 1) for k, v in rate.items()},
        "speedup_shard_default_vs_baseline": round(rate["shard_default"] / rate["baseline_default"], 2),
        **agreement(old_rows, new_rows),
        "cpu_s": {**{k: round(v["process_cpu_s"], 2) for k, v in jobs.items()}, "baseline_default": round(baseline_cpu, 2)},
        "run_shard_cpu_s": {k: round(v["run_shard_cpu_s"], 2) for k, v in jobs.items()},
        "peak_rss_mb": {
            **{k: round(v["peak_rss_mb"], 1) for k, v in jobs.items()},
            "baseline_process": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        },
    }
    add_ab(result, ab, n, args)
    shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
