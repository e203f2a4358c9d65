"""The AGN gate's batched region fits (``spectra.gate_batch.fit_regions``) against a baseline commit's, same spectra, same process.

N simulated spectra (the embedded sample's simulator, spec-lite files) — or with ``--real`` the
shared real SDSS files (``../shared/data/sdss_real``) repeated to N — are read and measured
(``gate._measure``); both regions of all of them are then fitted by this tree's ``fit_regions`` and
by each ``--baseline-commit``'s ``spectra/gate_batch.py`` (loaded from git into a temporary module;
the option may be repeated), alternating, ``--repeats`` times, single-threaded BLAS; the fastest
CPU time of each is kept. Also reported, for each baseline: the largest relative difference of the
detected (S/N ≥ 3) line fluxes, broad fluxes and widths from this tree's (the fits must land on the
same minimum).

Usage::

    python benchmarks/gate_fits.py [--n 300] [--real] [--repeats 3] [--baseline-commit eb425a6 [--baseline-commit i19speed]]

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from functools import partial
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

REAL = Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "sdss_real"


def region_items(paths: list[Path]) -> dict[str, list]:
    """Each region's fit arguments (``Measured.region_data``) of the spectra in ``paths``."""
    from agn_saliency.spectra import gate
    from agn_saliency.spectra.files import read_file

    items: dict[str, list] = {region.name: [] for region in gate.REGIONS}
    for path in paths:
        spectrum = read_file(path).items[0].spectrum
        measured = gate._measure(spectrum, spectrum.z)
        if isinstance(measured, gate.Measured):
            for region in gate.REGIONS:
                if region.name in measured.to_fit:
                    items[region.name].append(measured.region_data(region))
    return items


def largest_difference(old: dict[str, list], new: dict[str, list]) -> tuple[float, int, int]:
    """Largest relative difference of detected fluxes, broad fluxes and widths; how many compared; fits failing in one only."""
    worst, compared, mismatched = 0.0, 0, 0
    for region in old:
        for a, b in zip(old[region], new[region]):
            if isinstance(a, Exception) or isinstance(b, Exception):
                mismatched += isinstance(a, Exception) != isinstance(b, Exception)
                continue
            pairs = [(a.flux[k], b.flux[k], a.error[k]) for k in a.flux]
            pairs += [(a.broad_flux, b.broad_flux, a.broad_error), (a.broad_fwhm, b.broad_fwhm, 0.0)]
            for x, y, error in pairs:
                if math.isfinite(x) and x != 0 and abs(x) > 3.0 * error:
                    compared += 1
                    worst = max(worst, abs(x - y) / abs(x))
    return worst, compared, mismatched


def fit_all(module: ModuleType, items: dict[str, list]) -> tuple[float, dict[str, list]]:
    """CPU seconds fitting every region of ``items`` with ``module.fit_regions``, and the fits."""
    from agn_saliency.spectra import gate

    start = time.process_time()
    fitted = {region.name: module.fit_regions(region, items[region.name]) for region in gate.REGIONS}
    return time.process_time() - start, fitted


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=300, help="spectra fitted")
    parser.add_argument(
        "--real", action="store_true", help="the shared real SDSS files (repeated to N) instead of simulated ones"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--baseline-commit",
        action="append",
        help="commit whose spectra/gate_batch.py is a baseline (repeatable; default eb425a6)",
    )
    args = parser.parse_args(argv)
    commits = args.baseline_commit or ["eb425a6"]

    from common import alternate, module_at, simulated_inventory
    from threadpoolctl import threadpool_limits

    from agn_saliency.spectra import gate_batch as current

    modules = {commit: module_at(commit, "src/agn_saliency/spectra/gate_batch.py", "def fit_regions") for commit in commits}
    modules["current"] = current

    if args.real:
        originals = sorted(p for p in REAL.resolve().iterdir() if p.suffix in (".fits", ".fit"))
        paths = [originals[i % len(originals)] for i in range(args.n)]
    else:
        folder = Path(tempfile.mkdtemp(prefix="gate-fits-bench-"))
        rows = simulated_inventory(args.n, folder, seed=args.seed, verbose=False)
        paths = [Path(row["path"]) for row in rows]
    items = region_items(paths)

    with threadpool_limits(1):
        per_spectrum, fits = alternate(
            {name: partial(fit_all, module, items) for name, module in modules.items()}, len(paths), rounds=args.repeats
        )
    differences = {commit: largest_difference(fits[commit], fits["current"]) for commit in commits}
    n_spectra = len(paths)
    result = {
        "benchmark": "gate_fits",
        "files": "real SDSS (repeated)" if args.real else "simulated",
        "n_spectra": n_spectra,
        "region_fits": {name: len(value) for name, value in items.items()},
        "baseline_commits": commits,
        "cpu_s_fastest": {name: round(value * n_spectra / 1000, 3) for name, value in per_spectrum.items()},
        "ms_per_spectrum": {name: round(value, 2) for name, value in per_spectrum.items()},
        "speedup": {commit: round(per_spectrum[commit] / per_spectrum["current"], 2) for commit in commits},
        "detected_values_compared": {commit: value[1] for commit, value in differences.items()},
        "largest_relative_difference": {commit: value[0] for commit, value in differences.items()},
        "fits_failing_in_one_only": {commit: value[2] for commit, value in differences.items()},
    }
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
