"""Exact saliency against the original per-pixel finite-difference loop, per kernel.

Same fitted pipeline, same test spectra:

* baseline (the original method): for every spectrum, for every pixel, multiply that pixel by
  1.01 and call ``predict_proba`` once (one call per pixel, spectrum by spectrum); timed on a few
  spectra and reported per spectrum;
* fast: :func:`agn_saliency.explain.saliency.saliency` on all test spectra at once, per spectrum.

Each method runs with the BLAS thread count that suits it best (measured, not assumed): the
per-pixel loop makes ~1000 one-row products per spectrum, which multi-threaded OpenBLAS slows
down by up to 10x on a loaded machine, so the baseline runs single-threaded; the exact method is
timed with the default thread pool and single-threaded and the faster of the two is used.

Data: the reduced cube (``--cube``, default ``results/reduced/cube.h5`` when it exists) or
synthetic spectra of realistic size (2000 train x 1000 pixels, the paper's class mix).

Usage::

    python benchmarks/saliency.py                      # cube if present, else synthetic
    python benchmarks/saliency.py --cube none          # force synthetic

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from agn_saliency.core.vocabulary import KERNELS
from agn_saliency.explain.saliency import probabilities_and_saliency, saliency
from agn_saliency.learn.classify import build_pipeline, pipeline_params, support_rows, task_classes, task_mask

DEFAULT_CUBE = Path(__file__).resolve().parents[1] / "results" / "reduced" / "cube.h5"
CLASS_FRACTIONS = {"type2": 2145 / 3346, "type1": 680 / 3346, "intermediate": 521 / 3346}
FLOORS = {"linear": 1e4, "rbf": 1e3, "poly2": 1e3, "poly3": 1e3}


def synthetic_spectra(n: int, n_pixels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Normalised spectra (≈1 in the continuum) with narrow and/or broad Balmer lines and [OIII]."""
    rng = np.random.default_rng(seed)
    wavelength = np.linspace(4000.0, 5200.0, n_pixels)
    names = np.array(list(CLASS_FRACTIONS))
    y = rng.choice(names, size=n, p=np.array(list(CLASS_FRACTIONS.values())))
    slope = rng.normal(0.0, 0.1, (n, 1)) * (wavelength - 4600.0) / 600.0
    X = 1.0 + slope
    narrow = rng.uniform(0.2, 3.0, (n, 1))
    broad_scale = np.where(y == "type1", 1.0, np.where(y == "intermediate", 0.4, 0.0))[:, None]
    broad = rng.uniform(0.2, 2.0, (n, 1)) * broad_scale
    width = rng.uniform(20.0, 60.0, (n, 1))
    has_narrow_balmer = (y != "type1")[:, None]
    for line in (4960.30, 5008.24, 4364.44):
        X += narrow * rng.uniform(0.5, 1.5, (n, 1)) * np.exp(-0.5 * ((wavelength - line) / 3.0) ** 2)
    for line in (4102.89, 4341.68, 4862.68):
        X += 0.5 * narrow * has_narrow_balmer * np.exp(-0.5 * ((wavelength - line) / 3.0) ** 2)
        X += broad * np.exp(-0.5 * ((wavelength - line) / width) ** 2)
    X += rng.normal(0.0, 1.0, X.shape) * rng.uniform(0.02, 0.15, (n, 1))
    return X, y


def cube_spectra(path: Path, task: str) -> tuple[np.ndarray, np.ndarray]:
    """Flux and labels of the cube's spectra that belong to the task."""
    import h5py

    with h5py.File(path, "r") as handle:
        flux = handle["flux"][()].astype(np.float64)
        labels = np.array([v.decode() if isinstance(v, bytes) else str(v) for v in handle["meta/label"][()]])
    keep = task_mask(labels, task) & np.all(np.isfinite(flux), axis=1)
    return flux[keep], labels[keep]


def split(X: np.ndarray, y: np.ndarray, n_train: int, n_test: int, seed: int):
    """Stratified train / test rows."""
    from sklearn.model_selection import train_test_split

    n_classes = len(np.unique(y))
    n_test = max(n_classes, min(n_test, len(y) // 3))
    n_train = min(n_train, len(y) - n_test)
    X_train, X_rest, y_train, y_rest = train_test_split(X, y, train_size=n_train, stratify=y, random_state=seed)
    return X_train, y_train, X_rest[:n_test], y_rest[:n_test]


def baseline_saliency(model, flux: np.ndarray, step: float = 0.01) -> np.ndarray:
    """The original method: one predict_proba call per perturbed pixel, spectrum by spectrum."""
    n, p = flux.shape
    out = np.empty((n, len(model.classes_), p))
    for i in range(n):
        base = model.predict_proba(flux[i : i + 1])[0]
        for j in range(p):
            perturbed = flux[i : i + 1].copy()
            delta = step * perturbed[0, j] if perturbed[0, j] != 0 else step
            perturbed[0, j] += delta
            out[i, :, j] = (model.predict_proba(perturbed)[0] - base) / delta
    return out


def best_time(func, repeats: int) -> float:
    """Smallest wall time of several runs (s)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def arguments(description: str, argv: list[str] | None, baseline_spectra: int, repeats: int) -> argparse.Namespace:
    """The command line shared by this benchmark and benchmarks/attribution.py (data, kernels, sizes)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--cube", default="auto", help="reduced cube (HDF5); 'auto' = results/reduced/cube.h5 if present; 'none' = synthetic"
    )
    parser.add_argument("--task", default="multiclass", choices=["binary", "multiclass"])
    parser.add_argument("--kernels", nargs="+", default=list(KERNELS), choices=KERNELS)
    parser.add_argument("--n-train", type=int, default=2000)
    parser.add_argument("--n-test", type=int, default=500)
    parser.add_argument("--n-pixels", type=int, default=1000, help="synthetic data only")
    parser.add_argument("--baseline-spectra", type=int, default=baseline_spectra)
    parser.add_argument("--repeats", type=int, default=repeats)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def benchmark_data(args: argparse.Namespace) -> tuple[str, np.ndarray, np.ndarray, np.ndarray]:
    """Training and test spectra of ``args`` (:func:`arguments`): the cube when there is one, else synthetic."""
    cube = DEFAULT_CUBE if args.cube == "auto" else (None if args.cube == "none" else Path(args.cube))
    if cube is not None and cube.exists():
        X, y = cube_spectra(cube, args.task)
        source = str(cube)
    else:
        if args.cube not in ("auto", "none"):
            sys.exit(f"cube {cube} not found")
        X, y = synthetic_spectra(args.n_train + args.n_test, args.n_pixels, args.seed)
        X, y = X[task_mask(y, args.task)], y[task_mask(y, args.task)]
        source = "synthetic"
    X_train, y_train, X_test, _ = split(X, y, args.n_train, args.n_test, args.seed)
    print(f"data: {source}; task {args.task} {task_classes(args.task)}; train {X_train.shape}, test {X_test.shape}")
    return source, X_train, y_train, X_test


def main(argv: list[str] | None = None) -> dict:
    args = arguments(__doc__.split("\n")[0], argv, baseline_spectra=3, repeats=3)
    source, X_train, y_train, X_test = benchmark_data(args)

    gamma = 1.0 / X_train.shape[1]
    params = {
        "linear": {"C": 0.07},
        "rbf": {"C": 10.0, "gamma": 0.1 * gamma},
        "poly2": {"C": 1.0, "gamma": gamma},
        "poly3": {"C": 1.0, "gamma": gamma},
    }
    fast, fast_1thread, slow, speedup, n_sv, agreement = {}, {}, {}, {}, {}, {}
    for kernel in args.kernels:
        model = build_pipeline(kernel, args.seed).set_params(**pipeline_params(**params[kernel])).fit(X_train, y_train)
        n_sv[kernel] = int(support_rows(model).size)
        proba, exact = probabilities_and_saliency(model, X_test)
        # predict_proba sums the kernel expansion in libsvm, the saliency with BLAS over the support
        # vectors: same kernel values, decision values within ~1e-11 on the cube (rbf), which the
        # sigmoids' slopes turn into ~1e-10 in probability.
        assert np.allclose(proba, model.predict_proba(X_test), rtol=0, atol=1e-8)

        def run_exact(model=model):
            return saliency(model, X_test)

        fast_threads = best_time(run_exact, args.repeats)
        with threadpool_limits(1):
            fast_single = best_time(run_exact, args.repeats)
        fast_total = min(fast_threads, fast_single)
        sub = X_test[: args.baseline_spectra]
        with threadpool_limits(1):
            start = time.perf_counter()
            approx = baseline_saliency(model, sub)
            slow_total = time.perf_counter() - start
        fast[kernel] = fast_total / len(X_test)
        fast_1thread[kernel] = fast_single / len(X_test)
        slow[kernel] = slow_total / len(sub)
        speedup[kernel] = slow[kernel] / fast[kernel]
        # How far the 1 % one-sided difference is from the exact gradient (median over spectra).
        err = np.abs(approx - exact[: len(sub)]).max(axis=(1, 2)) / np.abs(exact[: len(sub)]).max(axis=(1, 2))
        agreement[kernel] = float(np.median(err))
        verdict = "ok" if speedup[kernel] >= FLOORS[kernel] else f"BELOW FLOOR {FLOORS[kernel]:.0f}x"
        print(
            f"{kernel:6s}  n_sv {n_sv[kernel]:5d}  exact {fast[kernel] * 1e6:9.1f} us/spectrum  "
            f"per-pixel loop {slow[kernel]:7.3f} s/spectrum  speed-up {speedup[kernel]:10.0f}x  "
            f"(1 % difference vs exact: rel. err {agreement[kernel]:.2e})  {verdict}"
        )
        sys.stdout.flush()

    result = {
        "benchmark": "saliency",
        "data": source,
        "task": args.task,
        "n_train": int(X_train.shape[0]),
        "n_test": int(X_test.shape[0]),
        "n_pixels": int(X_train.shape[1]),
        "n_support_vectors": n_sv,
        "per_spectrum_s": fast,
        "per_spectrum_s_one_thread": fast_1thread,
        "baseline_per_spectrum_s": slow,
        "baseline_spectra": int(min(args.baseline_spectra, len(X_test))),
        "speedup": speedup,
        "floors": FLOORS,
        "meets_floors": all(speedup[k] >= FLOORS[k] for k in speedup),
        "baseline_rel_error_vs_exact": agreement,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
