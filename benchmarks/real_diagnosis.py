"""Why a run's multiclass model labels the shared real AGN spectra as it does (issue 21).

Not a speed benchmark. For each in-range AGN file of ``../shared/data/sdss_real``:

* a decomposition of its reduced spectrum (rest 4000–5500 Å) by non-negative least squares into the
  simulator's old and intermediate-age host templates (σ⋆ = 150 km/s), a power law (α_λ −2.2, −1.56 or
  −0.9), narrow Gaussians (Hγ, [OIII] 4364, HeII 4687, Hβ, [OIII] 4960/5008 at 2.98:1; FWHM 300, 500
  or 800 km/s), one broad Hβ + Hγ (0.35 × Hβ) at 1.1 × the AGN gate's broad-Hα FWHM (a free 1500–9000
  km/s grid without broad Hα) and the simulator's Fe II template at that width; the best χ² wins.
  It gives the host share at 5100 Å, broad/narrow Hβ, the broad Hβ equivalent width against the
  total continuum, narrow [OIII]/Hβ and Winkler's (1992) Hβ(total)/[OIII] 5008. A rough
  measurement: the templates are the simulator's, not fitted stellar populations.
* the model's class probabilities, the labels of the 10 spectra of the run's cube nearest to it
  (Euclidean on the reduced flux), and the probabilities when its 4830–4900 Å (Hβ) pixels are
  replaced by the mean of the 10 nearest spectra of its expected class;
* the same swap for a few more windows (``p_window_from_nearest_expected``: the narrow Hβ core
  apart from its flanks, [OIII], the blue and red continuum) and the median of the spectrum minus
  that mean in 150 Å bins (``residual_vs_nearest_expected``, normalised flux): what the model reads
  where the spectrum differs from the simulated spectra of its class most like it.

    python benchmarks/real_diagnosis.py --results results

The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from scipy.optimize import nnls

from agn_saliency.acquire.simulate.constants import FEII_STRENGTHS, FEII_WAVELENGTHS
from agn_saliency.acquire.simulate.host import host_template
from agn_saliency.core.lines import EMISSION_LINES, SPEED_OF_LIGHT_KMS
from agn_saliency.learn.dataset import load_task
from agn_saliency.spectra.gate import assess_file
from agn_saliency.spectra.reduce import ReductionParameters, reduce_spectrum
from agn_saliency.spectra.sdss import read_spectrum

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "sdss_real"
NARROW = ("Hγ", "[OIII] 4364", "HeII 4687", "Hβ", "[OIII] 5008")
HBETA_WINDOW = (4830.0, 4900.0)
SWAP_WINDOWS = {
    "Hβ core 4855–4870": ((4855.0, 4870.0),),
    "Hβ flanks 4830–4855, 4870–4900": ((4830.0, 4855.0), (4870.0, 4900.0)),
    "[OIII] 4940–5030": ((4940.0, 5030.0),),
    "blue 4000–4300": ((4000.0, 4300.0),),
    "4380–4830": ((4380.0, 4830.0),),
    "Mg b / Fe 5150–5350": ((5150.0, 5350.0),),
}
"""Rest-frame windows (Å) swapped one at a time for the nearest expected-class mean."""
RESIDUAL_BINS = np.arange(4000.0, 5501.0, 150.0)


def _gauss(wavelength: np.ndarray, centre: float, fwhm_kms: float) -> np.ndarray:
    sigma = centre * np.hypot(fwhm_kms, 150.0) / 2.3548 / SPEED_OF_LIGHT_KMS  # SDSS R ≈ 2000
    return np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2) / (sigma * np.sqrt(2 * np.pi))


def decompose(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, broad_fwhm: float | None) -> dict[str, float]:
    """The best non-negative decomposition over the α, narrow- and broad-width grids (module doc)."""
    weight = np.sqrt(np.where((ivar > 0) & np.isfinite(flux), ivar, 0.0))
    old, young = host_template(wavelength, 0.0), host_template(wavelength, 1.0)
    in_band = (FEII_WAVELENGTHS > 4434.0) & (FEII_WAVELENGTHS < 4684.0)
    best: tuple[float, dict[str, float], dict[str, np.ndarray]] | None = None
    for alpha in (-2.2, -1.56, -0.9):
        for narrow_fwhm in (300.0, 500.0, 800.0):
            for fwhm in [broad_fwhm] if broad_fwhm else [1500.0, 2500.0, 4000.0, 6000.0, 9000.0]:
                columns = {"old": old, "young": young, "power_law": (wavelength / 5100.0) ** alpha}
                for name in NARROW:
                    columns[name] = _gauss(wavelength, EMISSION_LINES[name], narrow_fwhm)
                columns["[OIII] 5008"] += _gauss(wavelength, EMISSION_LINES["[OIII] 4960"], narrow_fwhm) / 2.98
                columns["broad Hβ"] = _gauss(wavelength, EMISSION_LINES["Hβ"], fwhm) + 0.35 * _gauss(
                    wavelength, EMISSION_LINES["Hγ"], fwhm
                )
                columns["Fe II"] = (
                    sum(s * _gauss(wavelength, c, fwhm) for c, s in zip(FEII_WAVELENGTHS, FEII_STRENGTHS) if 3900 < c < 5600)
                    / FEII_STRENGTHS[in_band].sum()
                )
                matrix = np.array(list(columns.values())).T
                amplitudes, residual = nnls(matrix * weight[:, None], flux * weight)
                if best is None or residual < best[0]:
                    best = (residual, dict(zip(columns, amplitudes)), columns)
    assert best is not None
    _, x, columns = best
    host = x["old"] + x["young"]
    continuum_hbeta = float(
        np.interp(EMISSION_LINES["Hβ"], wavelength, sum(x[k] * columns[k] for k in ("old", "young", "power_law")))
    )
    narrow, broad, oiii = x["Hβ"], x["broad Hβ"], x["[OIII] 5008"]
    return {
        "host_share": round(host / (host + x["power_law"]), 3) if host + x["power_law"] > 0 else float("nan"),
        "broad_to_narrow_hbeta": round(broad / narrow, 2) if narrow > 0 else float("inf"),
        "broad_hbeta_ew_total": round(broad / continuum_hbeta, 1),
        "oiii_hbeta": round(oiii / narrow, 1) if narrow > 0 else float("inf"),
        "winkler_hbeta_oiii": round((narrow + broad) / oiii, 2) if oiii > 0 else float("inf"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, default=Path("results"), help="a finished run's results folder")
    args = parser.parse_args()
    model = joblib.load(args.results / "models" / "multiclass.joblib")
    classes = [str(c) for c in model.classes_]
    cube = load_task(str(args.results / "reduced" / "cube.h5"), str(args.results / "split" / "split.ecsv"), "multiclass")
    wavelength = cube.wavelength
    in_hbeta = (wavelength >= HBETA_WINDOW[0]) & (wavelength < HBETA_WINDOW[1])
    report: dict[str, Any] = {"benchmark": "real_diagnosis", "results": str(args.results), "files": {}}
    with open(REAL_DIR / "index.csv", newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["expected"] in ("type1", "type2")]
    for row in rows:
        spectrum = read_spectrum(REAL_DIR / row["file"])
        reduced = reduce_spectrum(spectrum, spectrum.z, ReductionParameters())
        flux = reduced.flux.astype(np.float64)
        gate = assess_file(REAL_DIR / row["file"])
        broad_fwhm = 1.1 * float(gate["broad_fwhm"]) if gate["broad_line"] == "Hα" else None
        entry: dict[str, Any] = {
            "expected": row["expected"],
            **decompose(wavelength, flux, reduced.ivar.astype(np.float64), broad_fwhm),
        }
        entry["p"] = dict(zip(classes, np.round(model.predict_proba(flux[None])[0], 2).tolist()))
        distance = ((cube.flux - flux) ** 2).sum(axis=1)
        entry["nearest_10"] = [str(label) for label in cube.label[np.argsort(distance)[:10]]]
        own = cube.label == row["expected"]
        nearest_own = cube.flux[own][np.argsort(distance[own])[:10]].mean(axis=0)
        swapped = flux.copy()
        swapped[in_hbeta] = nearest_own[in_hbeta]
        entry["p_hbeta_from_nearest_expected"] = dict(zip(classes, np.round(model.predict_proba(swapped[None])[0], 2).tolist()))
        entry["p_window_from_nearest_expected"] = {}
        for name, ranges in SWAP_WINDOWS.items():
            inside = np.any([(wavelength >= low) & (wavelength < high) for low, high in ranges], axis=0)
            swapped = np.where(inside, nearest_own, flux)
            p_swapped = model.predict_proba(swapped[None])[0]
            entry["p_window_from_nearest_expected"][name] = dict(zip(classes, np.round(p_swapped, 2).tolist()))
        difference = flux - nearest_own
        entry["residual_vs_nearest_expected"] = {
            f"{low:.0f}–{high:.0f}": round(float(np.median(difference[(wavelength >= low) & (wavelength < high)])), 3)
            for low, high in zip(RESIDUAL_BINS[:-1], RESIDUAL_BINS[1:])
        }
        report["files"][row["file"]] = entry
        print(row["file"], json.dumps(entry))
    print(json.dumps(report))


if __name__ == "__main__":
    main()
