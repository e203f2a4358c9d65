"""Whether the gate's Levenberg–Marquardt evaluations would gain from products over the narrow lines' windows only.

One evaluation (``spectra.gate_batch._fit_chunk``'s ``evaluate``) scatters each line's ±6σ window
into dense rows (s, K, N) and takes one batched Gram product of all rows (continuum, narrow, broad,
y). The alternative computes the narrow rows' products over the windows: every other row gathered
at the window pixels (s, L, W, M + 1) and summed with the window's values. This times the dense
path (scatter + whole Gram) against only the narrow × all-rows part of the windowed one (a lower
bound: the narrow × narrow overlaps and the Jacobian rows' products would come on top), at the
fits' shapes: an evaluation of 32 spectra of the Hα region (7 narrow lines, 5 free columns, 512
pixels of 69 km/s), narrow σ drawn in the fits' bounds (40–450 km/s), windows from
``gate_batch._windows``. Single-threaded BLAS; fastest of ``--repeats``.

Usage::

    python benchmarks/window_products.py [--spectra 32] [--repeats 5]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import timeit

import numpy as np


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--spectra", type=int, default=32, help="spectra an evaluation computes at once")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)

    from threadpoolctl import threadpool_limits

    from agn_saliency.spectra import gate
    from agn_saliency.spectra.gate_batch import _C, _Model, _scatter, _windows

    rng = np.random.default_rng(args.seed)
    region = next(r for r in gate.REGIONS if len(r.narrow) == max(len(q.narrow) for q in gate.REGIONS))
    model = _Model(region)
    s, n_pixels, n_free, n_lines = args.spectra, 512, model.n_free, len(model.rest)
    n_rows = 3 + n_free + 2  # continuum, narrow, broad, y
    z = rng.uniform(0.02, 0.3, s)
    start = region.window[0] * (1.0 + z)
    wavelength = start[:, None] * np.exp(np.arange(n_pixels) * 69.0 / _C)  # SDSS's 69 km/s pixels
    centre = model.rest * (1.0 + z)[:, None]
    sigma = centre * (rng.uniform(40.0, 450.0, s)[:, None] / _C)
    pixel, g, _ = _windows(wavelength, centre, sigma)
    rows = rng.normal(size=(s, n_rows, n_pixels))

    def dense() -> np.ndarray:
        narrow = _scatter(pixel, g * model.ratio[None, :, None], model.column, n_free, n_pixels)
        out = rows.copy()
        out[:, 3 : 3 + n_free] = narrow
        return out @ np.swapaxes(out, 1, 2)

    def windowed() -> np.ndarray:
        padded = np.zeros((s, n_pixels + 1, n_rows))
        padded[:, :n_pixels] = np.swapaxes(rows, 1, 2)
        flat = (pixel + (np.arange(s) * (n_pixels + 1))[:, None, None]).ravel()
        gathered = np.take(padded.reshape(-1, n_rows), flat, axis=0).reshape(*pixel.shape, n_rows)
        return np.matmul(g[:, :, None, :], gathered)[:, :, 0]  # (s, L, M + 1)

    times = {}
    with threadpool_limits(1):
        for name, function in (("dense_scatter_and_gram", dense), ("windowed_narrow_products", windowed)):
            times[name] = min(timeit.repeat(function, number=20, repeat=args.repeats)) / 20
    inside = (pixel < n_pixels).sum(axis=2)
    result = {
        "benchmark": "window_products",
        "region": region.name,
        "spectra": s,
        "pixels": n_pixels,
        "lines": n_lines,
        "window_width": int(pixel.shape[2]),
        "window_pixels_per_spectrum": float(inside.sum(axis=1).mean()),
        "ms": {name: round(1000 * value, 3) for name, value in times.items()},
        "windowed_over_dense": round(times["windowed_narrow_products"] / times["dense_scatter_and_gram"], 2),
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
