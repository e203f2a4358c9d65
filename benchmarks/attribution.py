"""Exact attribution methods against the paper's per-pixel finite-difference loop, per kernel.

For every kernel one pipeline is fitted (the data, split, hyper-parameters and baseline of
``benchmarks/saliency.py``, imported from it), then on the same test spectra:

* baseline (the paper's method): one ``predict_proba`` per 1 %-perturbed pixel, spectrum by
  spectrum, single-threaded, timed on a few spectra and reported per spectrum;
* every method of :func:`agn_saliency.explain.saliency.attribute` on all test spectra at once, per
  spectrum (best of the default BLAS thread pool and one thread, as ``benchmarks/saliency.py``):
  ``gradient``, ``logit_gradient``, ``gradient_x_input``, ``integrated_gradients`` with its
  defaults (32 Gauss–Legendre nodes, refined where completeness misses 1e-6) and with exactly
  32 nodes (``tolerance=inf``), and ``smoothgrad`` (32 samples).

The integrated gradients' completeness error (:func:`agn_saliency.explain.saliency.completeness_error`,
max over test spectra) is reported for both. Floor: integrated gradients with 32 nodes at least
100x faster than the per-pixel loop for every kernel.

Usage::

    python benchmarks/attribution.py                 # cube if present, else synthetic
    python benchmarks/attribution.py --cube none     # force synthetic

The last line printed is one JSON object.
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from agn_saliency.explain.saliency import attribute, completeness_error
from agn_saliency.learn.classify import build_pipeline, pipeline_params, support_rows

sys.path.insert(0, str(Path(__file__).resolve().parent))
import saliency as saliency_benchmark  # noqa: E402  (benchmarks/saliency.py: data, baseline loop, timing)

IG_FLOOR = 100.0
METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "gradient": ("gradient", {}),
    "logit_gradient": ("logit_gradient", {}),
    "gradient_x_input": ("gradient_x_input", {}),
    "integrated_gradients": ("integrated_gradients", {}),
    "integrated_gradients_32": ("integrated_gradients", {"n_steps": 32, "tolerance": float("inf")}),
    "smoothgrad": ("smoothgrad", {}),
}
"""Row name → (attribute method, options)."""


def model_params(n_pixels: int) -> dict[str, dict[str, float]]:
    """The hyper-parameters benchmarks/saliency.py fits (kept equal so the two benchmarks compare)."""
    gamma = 1.0 / n_pixels
    return {
        "linear": {"C": 0.07},
        "rbf": {"C": 10.0, "gamma": 0.1 * gamma},
        "poly2": {"C": 1.0, "gamma": gamma},
        "poly3": {"C": 1.0, "gamma": gamma},
    }


def main(argv: list[str] | None = None) -> dict:
    args = saliency_benchmark.arguments(__doc__.split("\n")[0], argv, baseline_spectra=2, repeats=2)

    source, X_train, y_train, X_test = saliency_benchmark.benchmark_data(args)

    params = model_params(X_train.shape[1])
    per_spectrum: dict[str, dict[str, float]] = {}
    speedup: dict[str, dict[str, float]] = {}
    baseline: dict[str, float] = {}
    completeness: dict[str, dict[str, float]] = {}
    n_sv: dict[str, int] = {}
    print(f"{'kernel':7s} {'method':24s} {'us/spectrum':>12s} {'vs loop':>10s}")
    for kernel in args.kernels:
        model = build_pipeline(kernel, args.seed).set_params(**pipeline_params(**params[kernel])).fit(X_train, y_train)
        n_sv[kernel] = int(support_rows(model).size)
        sub = X_test[: args.baseline_spectra]
        # The loop makes ~1000 one-row products per spectrum: single-threaded is its fastest (benchmarks/saliency.py).
        with threadpool_limits(1):
            start = time.perf_counter()
            saliency_benchmark.baseline_saliency(model, sub)
            baseline[kernel] = (time.perf_counter() - start) / len(sub)
        per_spectrum[kernel], speedup[kernel] = {}, {}
        for name, (method, options) in METHODS.items():

            def run(model=model, method=method, options=options) -> np.ndarray:
                return attribute(model, X_test, method, **options)

            threaded = saliency_benchmark.best_time(run, args.repeats)
            with threadpool_limits(1):
                single = saliency_benchmark.best_time(run, args.repeats)
            seconds = min(threaded, single) / len(X_test)
            per_spectrum[kernel][name] = seconds * 1e6
            speedup[kernel][name] = baseline[kernel] / seconds
            print(f"{kernel:7s} {name:24s} {seconds * 1e6:12.1f} {speedup[kernel][name]:9.0f}x")
            sys.stdout.flush()
        completeness[kernel] = {
            name: float(completeness_error(model, X_test, attribute(model, X_test, method, **options)).max())
            for name, (method, options) in METHODS.items()
            if method == "integrated_gradients"
        }
        ig32 = speedup[kernel]["integrated_gradients_32"]
        verdict = "ok" if ig32 >= IG_FLOOR else f"BELOW FLOOR {IG_FLOOR:.0f}x"
        print(
            f"{kernel:7s} n_sv {n_sv[kernel]}; per-pixel loop {baseline[kernel]:.3f} s/spectrum; IG completeness error "
            f"(max over spectra) default {completeness[kernel]['integrated_gradients']:.1e}, 32 nodes "
            f"{completeness[kernel]['integrated_gradients_32']:.1e}; IG(32 nodes) {ig32:.0f}x the loop: {verdict}"
        )

    result = {
        "benchmark": "attribution",
        "data": source,
        "task": args.task,
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]),
        "n_pixels": int(X_train.shape[1]),
        "n_support_vectors": n_sv,
        "per_spectrum_us": per_spectrum,
        "baseline_per_spectrum_s": baseline,
        "baseline_spectra": int(min(args.baseline_spectra, len(X_test))),
        "speedup_vs_loop": speedup,
        "ig32_speedup_vs_loop": {k: speedup[k]["integrated_gradients_32"] for k in speedup},
        "ig_completeness_error_max": completeness,
        "ig32_floor": IG_FLOOR,
        "meets_floor": all(speedup[k]["integrated_gradients_32"] >= IG_FLOOR for k in speedup),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
