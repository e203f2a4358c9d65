"""Where the models look, and whether they hold under host starlight (issue 21).

Two measurements (:mod:`agn_saliency.explain.robustness`) per task:

* ``line_absorption_ratio`` — per true class, mean ``|∂p_k/∂flux|`` per pixel in the emission-line
  windows (Hγ ±2500, Hβ ±3000, [OIII] 4960/5008 ±600, HeII 4687 ±1000 km/s) over the same in the
  absorption windows (4281–4316, 5160–5192, 5260–5290, 5320–5345 Å), own-class map;
* ``host_dilution`` — share of the type-1 test spectra still called type 1 when a fraction
  0 / 0.2 / 0.4 / 0.6 / 0.8 of their 5100 Å continuum is replaced by host starlight (the
  simulator's templates, 20 % intermediate-age, σ* = 150 km/s).

Modes::

    python benchmarks/line_saliency.py --results results          # a finished run (default model)
    python benchmarks/line_saliency.py --simulate 300 --real       # a fresh in-memory sample

``--results`` reads ``saliency/{task}.h5`` and ``models/{task}.joblib`` of a run. ``--simulate N``
simulates N spectra per class with the current :class:`SimulationParameters`, trains
linear models (binary C = 0.07, multiclass C = 0.01, balanced; ``--kernel rbf``: C = 10, γ = 0.01) and measures them; ``--real`` also
classifies the shared real spectra (``../shared/data/sdss_real``); ``--augment '{"share": 1}'``
fits the models on host-augmented training spectra (:class:`~agn_saliency.learn.augment.HostAugmentation`
options, as ``classify.host_augmentation``). ``--refit results --hyper '{"kernel": "poly3", "C": 1,
"gamma": 0.01}' --augment '{...}'`` refits one model with fixed hyper-parameters on a finished run's
train + validation spectra and measures it on its test spectra (how docs/science.md compares
augmentations without the grid search's choice of kernel); ``--augment-seed N`` draws that augmentation with
another seed. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
from typing import Any

import joblib
import numpy as np
from sklearn.metrics import f1_score

from agn_saliency.acquire import simulate
from agn_saliency.explain.maps import read_saliency
from agn_saliency.explain.robustness import DILUTION_FRACTIONS, dilution_host, host_dilution, robustness_summary
from agn_saliency.explain.saliency import probabilities_and_saliency
from agn_saliency.learn.augment import HostAugmentation, augment_with_host
from agn_saliency.learn.classify import build_pipeline, pipeline_params
from agn_saliency.spectra.reduce import ReductionParameters, reduce_spectrum
from agn_saliency.spectra.sdss import SdssSpectrum, read_spectrum

ROOT = Path(__file__).resolve().parents[1]
REAL_DIR = ROOT.parent / "shared" / "data" / "sdss_real"
FRACTIONS = DILUTION_FRACTIONS
TASKS = {"binary": ("type1", "type2"), "multiclass": ("type1", "type2", "intermediate")}
LINEAR_C = {"binary": 0.07, "multiclass": 0.01}


def from_results(results: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for task in TASKS:
        path = results / "saliency" / f"{task}.h5"
        if not path.exists():
            continue
        result = read_saliency(path)
        model = joblib.load(results / "models" / f"{task}.joblib")
        out[task] = robustness_summary(
            model,
            result.flux,
            result.true_label,
            result.saliency,
            result.class_names,
            result.wavelength,
            dilution_host(result.wavelength),
            FRACTIONS,
        )
        out[task]["n_test"] = int(len(result.specid))
        if REAL_DIR.exists():
            out[task]["spec-0332-52367-0639"] = real_map_peaks(model, result.wavelength)
    return out


def real_map_peaks(model: Any, wavelength: np.ndarray) -> dict[str, Any]:
    """The host-dominated Seyfert 1 spec-0332-52367-0639 under ``model``: its prediction, and for the
    type 1 map of each local method the wavelength of the largest |value|, whether it lies in a
    line window, and the line/absorption ratio of that one map."""
    from agn_saliency.explain.robustness import line_absorption_ratio, window_masks
    from agn_saliency.explain.saliency import attribute

    spectrum = read_spectrum(REAL_DIR / "spec-0332-52367-0639.fits")
    flux = reduce_spectrum(spectrum, spectrum.z, ReductionParameters()).flux[None, :]
    classes = [str(c) for c in model.classes_]
    line, _ = window_masks(wavelength)
    _, absorption = window_masks(wavelength, exclusive=False)
    entry: dict[str, Any] = {"predicted": str(model.predict(flux)[0])}
    for method in ("gradient", "logit_gradient", "gradient_x_input", "smoothgrad"):
        options = {"seed": 0} if method == "smoothgrad" else {}
        maps = attribute(model, flux, method, **options)
        own = np.abs(maps[0, classes.index("type1")])
        peak = int(np.argmax(own))
        entry[method] = {
            "peak_wavelength": round(float(wavelength[peak]), 1),
            "peak_on_lines_not_absorption": bool(line[peak] and not absorption[peak]),
            "line_absorption_ratio": line_absorption_ratio(maps, ["type1"], classes, wavelength)["type1"],
        }
    return entry


def reduce_simulated(
    label: str, z: float, snr: float, rng: np.random.Generator, params: simulate.SimulationParameters
) -> np.ndarray:
    coadd = simulate.simulate_spectrum(label, z, snr, rng, params)
    spectrum = SdssSpectrum(
        wavelength=10.0 ** coadd["loglam"].astype(np.float64),
        flux=coadd["flux"].astype(np.float64),
        ivar=coadd["ivar"].astype(np.float64),
        and_mask=coadd["and_mask"].astype(np.int64),
        plate=1,
        mjd=1,
        fiberid=1,
        z=z,
        run2d="26",
        sdss_class="",
        sdss_subclass="",
        file_format="spec",
    )
    return reduce_spectrum(spectrum, z, ReductionParameters()).flux


def simulated_sample(n: int, seed: int, params: simulate.SimulationParameters) -> tuple[np.ndarray, np.ndarray]:
    catalog = simulate.simulate_catalog(n, n, n, seed, params)
    flux, label = [], []
    for record in catalog:
        rng = simulate.spectrum_rng(seed, int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))
        flux.append(reduce_simulated(str(record["label"]), float(record["z"]), float(record["snr"]), rng, params))
        label.append(str(record["label"]))
    return np.array(flux), np.array(label)


def real_predictions(models: dict[str, Any], wavelength: np.ndarray) -> dict[str, Any]:
    rows = {}
    with open(REAL_DIR / "index.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["expected"] not in ("type1", "type2"):
                continue
            spectrum = read_spectrum(REAL_DIR / row["file"])
            flux = reduce_spectrum(spectrum, spectrum.z, ReductionParameters()).flux[None, :]
            entry = {"expected": row["expected"]}
            for task, model in models.items():
                entry[task] = str(model.predict(flux)[0])
                probabilities = model.predict_proba(flux)[0]
                entry[f"p_{task}"] = {str(c): round(float(q), 3) for c, q in zip(model.classes_, probabilities, strict=True)}
            if row["file"].startswith("spec-0332-52367-0639") and "multiclass" in models:
                _, maps = probabilities_and_saliency(models["multiclass"], flux)
                classes = [str(c) for c in models["multiclass"].classes_]
                own = np.abs(maps[0, classes.index("type1")])
                entry["peak_wavelength"] = round(float(wavelength[int(np.argmax(own))]), 1)
            rows[row["file"]] = entry
    return rows


def from_simulation(
    n: int,
    seed: int,
    params: simulate.SimulationParameters,
    real: bool,
    kernel: str = "linear",
    augmentation: HostAugmentation | None = None,
) -> dict[str, Any]:
    flux, label = simulated_sample(n, seed, params)
    wavelength = ReductionParameters().wavelength()
    test = np.random.default_rng(seed).random(len(label)) < 0.3
    out: dict[str, Any] = {}
    models = {}
    for task, classes in TASKS.items():
        members = np.isin(label, classes)
        train, held = members & ~test, members & test
        hyper = (
            {"C": LINEAR_C[task]}
            if kernel == "linear"
            else {"C": float(os.environ.get("LS_C", 10.0)), "gamma": float(os.environ.get("LS_GAMMA", 0.01))}
        )
        model = build_pipeline(kernel, seed).set_params(**pipeline_params(**hyper, class_weight="balanced"))
        fitted = flux[train] if augmentation is None else augment_with_host(flux[train], wavelength, augmentation, seed)
        model.fit(fitted, label[train])
        models[task] = model
        _, maps = probabilities_and_saliency(model, flux[held])
        names = [str(c) for c in model.classes_]
        out[task] = dict(
            robustness_summary(model, flux[held], label[held], maps, names, wavelength, dilution_host(wavelength), FRACTIONS)
        )
        predicted = np.asarray(model.predict(flux[held])).astype(str)
        out[task]["accuracy"] = round(float(np.mean(predicted == label[held])), 4)
        out[task]["macro_f1"] = round(float(f1_score(label[held], predicted, average="macro")), 4)
    if real and REAL_DIR.exists():
        out["real"] = real_predictions(models, wavelength)
    return out


def refit_on_split(
    results: Path, task: str, hyper: dict[str, Any], augmentation: HostAugmentation, augment_seed: int = 42
) -> dict[str, Any]:
    """One model refitted on a finished run's train + validation spectra (augmented as ``augmentation``,
    drawn with ``augment_seed``: 42 as the default run) with fixed hyper-parameters (``kernel`` among
    them), measured on its test spectra: macro F1, both robustness measurements and the shared real
    spectra's classes."""
    from agn_saliency.learn.dataset import load_task

    hyper = dict(hyper)
    kernel = hyper.pop("kernel")
    data = load_task(str(results / "reduced" / "cube.h5"), str(results / "split" / "split.ecsv"), task)
    fit, test = data.where("train", "validation"), data.where("test")
    model = build_pipeline(kernel, 42).set_params(**pipeline_params(**{"class_weight": "balanced", **hyper}))
    model.fit(augment_with_host(fit.flux, data.wavelength, augmentation, augment_seed), fit.label)
    _, maps = probabilities_and_saliency(model, test.flux)
    names = [str(c) for c in model.classes_]
    host = dilution_host(data.wavelength)
    out = dict(robustness_summary(model, test.flux, test.label, maps, names, data.wavelength, host, FRACTIONS))
    predicted = np.asarray(model.predict(test.flux)).astype(str)
    out["macro_f1"] = round(float(f1_score(test.label, predicted, average="macro")), 4)
    # As the pipeline's kept_if_correct column: only the type 1s called type 1 undiluted.
    correct = (test.label == "type1") & (predicted == "type1")
    out["host_dilution_if_correct"] = {str(k): v for k, v in host_dilution(model, test.flux[correct], host, FRACTIONS).items()}
    if REAL_DIR.exists():
        out["real"] = real_predictions({task: model}, data.wavelength)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", type=Path, help="a finished run's results folder")
    parser.add_argument("--simulate", type=int, default=0, help="spectra per class of an in-memory sample")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--real", action="store_true", help="also classify the shared real spectra")
    parser.add_argument("--physics", default="{}", help="JSON overrides of SimulationParameters (--simulate)")
    parser.add_argument("--kernel", default="linear", choices=["linear", "rbf"], help="kernel of the --simulate models")
    parser.add_argument("--augment", default="", help="JSON HostAugmentation options of the --simulate/--refit training spectra")
    parser.add_argument("--refit", type=Path, help="a finished run's results folder: refit one model on its split (--hyper)")
    parser.add_argument(
        "--augment-seed", type=int, default=42, help="seed of --refit's augmentation draws (the default run's: 42)"
    )
    parser.add_argument("--task", default="multiclass", choices=list(TASKS), help="task of --refit")
    parser.add_argument(
        "--hyper", default='{"kernel": "poly3", "C": 1, "gamma": 0.01}', help="JSON kernel and hyper-parameters of --refit"
    )
    args = parser.parse_args()
    report: dict[str, Any] = {"benchmark": "line_saliency"}
    if args.results:
        report["results"] = from_results(args.results)
    if args.simulate:
        params = simulate.SimulationParameters.from_mapping(json.loads(args.physics))
        augmentation = HostAugmentation.from_mapping(json.loads(args.augment)) if args.augment else None
        report["simulated"] = from_simulation(args.simulate, args.seed, params, args.real, args.kernel, augmentation)
    if args.refit:
        augmentation = HostAugmentation.from_mapping(json.loads(args.augment or "{}"))
        report["refit"] = refit_on_split(args.refit, args.task, json.loads(args.hyper), augmentation, args.augment_seed)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
