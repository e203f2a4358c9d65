"""Attribution maps in single against double precision: how far each method moves, what it saves.

The model is the rbf pipeline of ``benchmarks/predict.py`` / ``predict_shard.py``
(:func:`predict.fitted_model`: the project's multiclass pipeline fitted on ``--train`` simulated
spectra); ``--n`` other simulated spectra, reduced with the default grid, are explained by each of
the five methods of :func:`agn_saliency.explain.saliency.attribute` at their default options
(``integrated_gradients`` with its completeness refinement, ``smoothgrad`` with 32 samples), once
with ``precision="double"`` and once with ``precision="single"`` (kernel matrices in float32),
alternating ``--repeats`` times, single-threaded BLAS as a predict shard job; the fastest CPU time
of each.

Reported per method:

* ``max_abs_diff``: the largest absolute difference of the maps as predict stores them (float32,
  :func:`agn_saliency.explain.maps.write_saliency`) — the 1e-4 bound predict's choice is held to;
* ``max_abs_diff_float64``: the same before the float32 cast;
* ``max_abs_map``: the largest absolute value of the double maps (the maps' scale), and
  ``relative_to_scale`` = ``max_abs_diff / max_abs_map``;
* ``worst_spectrum_relative``: the largest, over spectra, of a spectrum's largest difference over
  its own largest map value (the spectra with small maps);
* ``ms_per_spectrum`` in each precision and ``time_ratio_double_over_single``;
* ``within_1e-4``; for integrated gradients also the worst completeness error of both.

Then all five together as predict computes them
(:func:`agn_saliency.explain.maps.explain_spectra` with
``single_precision=predict.folder.SINGLE_PRECISION_METHODS``) against all five in double, alternating:
``all_five_as_predict``.

Usage::

    python benchmarks/attribution_precision.py [--n 300] [--train 300] [--repeats 3] [--keep DIR]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import simulated_inventory  # noqa: E402
from predict import ALL_METHODS, fitted_model  # noqa: E402

BOUND = 1e-4
"""The absolute difference predict accepts for computing a method in single precision."""


def compare(double: np.ndarray, single: np.ndarray) -> dict[str, float]:
    """How far ``single`` maps are from ``double`` ones (n, C, P), raw and as stored (float32)."""
    stored = np.abs(single.astype(np.float32) - double.astype(np.float32)).astype(np.float64)
    raw = np.abs(single - double)
    scale = float(np.abs(double).max())
    per_spectrum = stored.reshape(len(stored), -1).max(axis=1) / np.maximum(
        np.abs(double).reshape(len(double), -1).max(axis=1), 1e-300
    )
    return {
        "max_abs_diff": float(stored.max()),
        "max_abs_diff_float64": float(raw.max()),
        "max_abs_map": scale,
        "relative_to_scale": float(stored.max() / scale) if scale else 0.0,
        "worst_spectrum_relative": float(per_spectrum.max()),
        "within_1e-4": bool(stored.max() <= BOUND),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="spectra explained")
    parser.add_argument("--train", type=int, default=300, help="spectra the model is fitted on")
    parser.add_argument("--repeats", type=int, default=3, help="alternating runs of each precision")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--keep", default="", help="folder to keep (and reuse) the simulated files in")
    args = parser.parse_args(argv)

    from agn_saliency.explain.maps import explain_spectra
    from agn_saliency.explain.saliency import attribute, completeness_error
    from agn_saliency.predict.folder import SINGLE_PRECISION_METHODS
    from agn_saliency.spectra.reduce import reduce_inventory

    root = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="attribution-precision-"))
    model, params, _ = fitted_model(root / "train", args.train, args.seed)
    flux = reduce_inventory(
        simulated_inventory(args.n, root / f"explain{args.n}", seed=args.seed + 3, verbose=False), params
    ).flux
    n = len(flux)
    methods: dict[str, dict] = {}
    with threadpool_limits(1):
        for method in ALL_METHODS:
            times: dict[str, list[float]] = {"double": [], "single": []}
            maps: dict[str, np.ndarray] = {}
            for _ in range(args.repeats):
                for precision in ("double", "single"):
                    start = time.process_time()
                    maps[precision] = attribute(model, flux, method, precision=precision)
                    times[precision].append(time.process_time() - start)
            ms = {precision: 1000 * min(spent) / n for precision, spent in times.items()}
            record = compare(maps["double"], maps["single"])
            record["ms_per_spectrum"] = {precision: round(value, 4) for precision, value in ms.items()}
            record["time_ratio_double_over_single"] = round(ms["double"] / ms["single"], 3)
            if method == "integrated_gradients":
                record["completeness_error_max"] = {
                    precision: float(completeness_error(model, flux, value).max()) for precision, value in maps.items()
                }
            methods[method] = record
            print(f"{method}: {record}", flush=True)
        every = {method: {} for method in ALL_METHODS}
        classes = [str(c) for c in model.classes_]
        together: dict[str, list[float]] = {"double": [], "as_predict": []}
        for _ in range(args.repeats):
            for name, single in (("double", ()), ("as_predict", SINGLE_PRECISION_METHODS)):
                start = time.process_time()
                explain_spectra(model, flux, classes, every, single_precision=single)
                together[name].append(time.process_time() - start)
        ms_together = {name: 1000 * min(spent) / n for name, spent in together.items()}
        all_five = {
            "single_precision_methods": list(SINGLE_PRECISION_METHODS),
            "ms_per_spectrum": {name: round(value, 4) for name, value in ms_together.items()},
            "time_ratio_double_over_as_predict": round(ms_together["double"] / ms_together["as_predict"], 3),
        }
        print(f"all five: {all_five}", flush=True)
    result = {
        "benchmark": "attribution_precision",
        "n_spectra": n,
        "n_train": args.train,
        "model": "rbf (benchmarks/predict.py fitted_model)",
        "blas_threads": 1,
        "bound": BOUND,
        "methods": methods,
        "within_bound": [method for method, record in methods.items() if record["within_1e-4"]],
        "all_five_as_predict": all_five,
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
