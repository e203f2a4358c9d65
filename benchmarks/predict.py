"""Predict throughput: today's ``classify_folder`` against the survey-scale path (``classify_files``), same files, same run.

N simulated spectra (the embedded sample's simulator, written as spec-lite files) are predicted by

* baseline: :func:`agn_saliency.predict.folder.classify_folder` (SPZLINE read again through
  astropy, per-spectrum gate fits with finite-difference Jacobians), with the same methods and with
  the AGN gate module (``spectra/gate.py``) of ``--baseline-commit`` (default 1c98dfd, main when
  the survey-scale work began: later commits made the shared gate code cheaper too);
* new: :func:`agn_saliency.predict.batch.classify_files` with the default methods
  (``predict.methods``: gradient + logit_gradient), then with all five methods.

The model is an rbf pipeline of the project (:func:`agn_saliency.learn.classify.build_pipeline`)
fitted here on ``--train`` other simulated spectra (no persisted model needed). Both paths run in
this process, one after the other, single-threaded BLAS; the rate per core is spectra / CPU seconds
of the process (the wall time is reported too: on a shared machine it also counts other
processes' turns). Verdict agreement between the two paths is reported too. Peak RSS is this
process's high-water mark.

Usage::

    python benchmarks/predict.py --n 300 --train 300 [--keep DIR]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import simulated_inventory  # noqa: E402

ALL_METHODS = ("gradient", "logit_gradient", "gradient_x_input", "integrated_gradients", "smoothgrad")


def fitted_model(folder: Path, n: int, seed: int):
    """An rbf pipeline fitted on ``n`` simulated spectra reduced with the default grid, the grid and those spectra."""
    from agn_saliency.learn.classify import build_pipeline, pipeline_params
    from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory

    rows = simulated_inventory(n, folder, seed=seed + 1, verbose=False)
    params = ReductionParameters()
    reduced = reduce_inventory(rows, params)
    gamma = 0.1 / params.n_pixels
    model = (
        build_pipeline("rbf", seed).set_params(**pipeline_params(C=10.0, gamma=gamma)).fit(reduced.flux, reduced.meta["label"])
    )
    return model, params, reduced.flux


def use_baseline_gate(commit: str) -> None:
    """Make :func:`agn_saliency.predict.folder.classify_folder` gate with ``spectra/gate.py`` as of ``commit``."""
    from common import source_at

    import agn_saliency.predict.folder as folder_module

    source = source_at(commit, "src/agn_saliency/spectra/gate.py", "def assess_spectrum")
    old_gate = ModuleType("baseline_gate")
    sys.modules[old_gate.__name__] = old_gate  # dataclasses look their module up
    exec(compile(source, f"{commit}:gate.py", "exec"), old_gate.__dict__)  # noqa: S102 - the project's own file
    for name in ("assess_file", "assess_spectrum", "read_spzline"):
        setattr(folder_module, name, getattr(old_gate, name))


def agreement(old_rows: list[dict], new_rows: list[dict]) -> dict:
    """How far ``new_rows`` agree with ``old_rows`` (matched by file and spectrum id): the same verdict
    and gate status, and the detected (S/N ≥ 3 in the old row) line fluxes within 2 %."""
    new_of = {(row["file"], row["specid"]): row for row in new_rows}
    pairs = [(a, new_of[(a["file"], a["specid"])]) for a in old_rows if (a["file"], a["specid"]) in new_of]
    same = sum(a["verdict"] == b["verdict"] and a["agn_status"] == b["agn_status"] for a, b in pairs)
    ratios = []
    for a, b in pairs:
        for line in ("hbeta", "oiii_5008", "halpha", "nii_6585"):
            x, y, snr = a[f"{line}_flux"], b[f"{line}_flux"], a[f"{line}_snr"]
            if isinstance(x, float) and np.isfinite(x) and np.isfinite(snr) and snr >= 3:
                ratios.append(abs(y / x - 1.0))
    return {
        "matched_rows": len(pairs),
        "same_verdict_fraction": round(same / len(old_rows), 4) if old_rows else None,
        "detected_line_flux_within_2pct_fraction": round(float(np.mean(np.array(ratios) <= 0.02)), 4) if ratios else None,
        "detected_line_flux_max_rel_diff": round(float(max(ratios)), 4) if ratios else None,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="spectra predicted")
    parser.add_argument("--train", type=int, default=300, help="spectra the model is fitted on")
    parser.add_argument("--baseline", type=int, default=0, help="files the baseline predicts (default all N)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", default="", help="folder to keep (and reuse) the simulated files in")
    parser.add_argument(
        "--baseline-commit", default="1c98dfd", help="commit whose spectra/gate.py the baseline uses ('' = today's)"
    )
    args = parser.parse_args(argv)

    from agn_saliency.explain.maps import attribution_options
    from agn_saliency.predict.batch import DEFAULT_METHODS, classify_files
    from agn_saliency.predict.folder import classify_folder

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="predict-bench-"))
    model, params, _ = fitted_model(root / "train", args.train, args.seed)
    simulated_inventory(args.n, root / "predict", seed=args.seed, verbose=False)
    folder = root / "predict" / "data"
    every = attribution_options({"methods": list(ALL_METHODS)}, args.seed)
    default = {name: every[name] for name in DEFAULT_METHODS}
    timings: dict[str, float] = {}
    wall: dict[str, float] = {}

    def timed(name, function, *args, **kwargs):
        start, start_wall = time.process_time(), time.perf_counter()
        out = function(*args, **kwargs)
        timings[name], wall[name] = time.process_time() - start, time.perf_counter() - start_wall
        return out

    if args.baseline_commit:  # classify_folder with that commit's gate
        use_baseline_gate(args.baseline_commit)
    with threadpool_limits(1):
        new_rows, _ = timed("new_default", classify_files, folder, model, params, methods=default)
        timed("new_all_five", classify_files, folder, model, params, methods=every)
        old_rows, _ = timed("baseline_default", classify_folder, folder, model, params, methods=default)
    n = len(new_rows)
    rate = {k: n / v for k, v in timings.items()}
    result = {
        "benchmark": "predict",
        "n_spectra": n,
        "n_train": args.train,
        "baseline_gate_commit": args.baseline_commit or "HEAD",
        "spectra_per_s_per_core": {k: round(v, 1) for k, v in rate.items()},
        "speedup_default_vs_baseline": round(rate["new_default"] / rate["baseline_default"], 2),
        **{k: v for k, v in agreement(old_rows, new_rows).items() if k != "matched_rows"},
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "cpu_s": {k: round(v, 2) for k, v in timings.items()},
        "wall_s": {k: round(v, 2) for k, v in wall.items()},
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
