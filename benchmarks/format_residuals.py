"""Where the SDSS and DESI renderings of the embedded sample still differ after the reduction.

    python benchmarks/format_residuals.py [--seeds 5 6 7 8] [--counts 80 100 70] [--workdir DIR]

For each seed, the sample of ``tests/test_desi_format.py`` (by default 80 type 1, 100 type 2, 70
intermediate) is written in both formats by the ``simulate_shard`` stage and reduced by the
pipeline (``reduce_inventory``), once per ``reduce.norm_statistic``; each spectrum's noiseless
models (the SDSS coadd's ``model``, the DESI arms' ``model`` merged as the reader merges arms) are
reduced the same way. Printed per seed:

* the reduced residual SDSS − DESI split into its noiseless part (resolution and pixels) and its
  noise part, rms and mean per 100 Å; the noise correlation between the formats and its lag-1
  autocorrelation;
* line centroid shifts and line-flux ratios (±14 Å) of the noiseless renderings;
* the test's agreement (linear SVM, C = 0.07, 2-fold cross-fitting, both directions) for each
  normalisation statistic, and with the DESI rendering replaced by the SDSS one minus only the
  noiseless difference (resolution alone).

Not a speed claim: the last line is one JSON object with those figures (no baseline ratio).
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from agn_saliency.acquire import simulate as S
from agn_saliency.acquire.simulate.catalog import _snr_for, write_catalog_csv
from agn_saliency.acquire.simulate.desi import desi_rng, render_desi
from agn_saliency.acquire.simulate.files import spectrum_rng
from agn_saliency.io.tables import read_table
from agn_saliency.learn.classify import build_pipeline, pipeline_params
from agn_saliency.spectra.desi import merge_arms
from agn_saliency.spectra.reduce import NORM_STATISTICS, ReductionParameters, reduce_inventory, reduce_spectrum
from agn_saliency.spectra.sdss import SdssSpectrum
from agn_saliency.stages.acquire import simulate_shard

LINES = {"Hγ": 4341.68, "Hβ": 4862.68, "[OIII] 4960": 4960.30, "[OIII] 5008": 5008.24}


def write_sample(root: Path, seed: int, counts: tuple[int, int, int]) -> np.ndarray:
    """Both formats' files and inventories under ``root``; returns the catalog."""
    catalog = S.simulate_catalog(*counts, seed, S.SimulationParameters())
    write_catalog_csv(catalog, root / "catalog.csv")
    for file_format in ("sdss", "desi"):
        for shard in range(2):
            simulate_shard(
                catalog=str(root / "catalog.csv"),
                inventory_out=str(root / file_format / f"inventory-{shard}.ecsv"),
                truth_out=str(root / file_format / f"truth-{shard}.ecsv"),
                shard=shard,
                n_shards=2,
                data_root=str(root / file_format / "data"),
                physics={},
                seed=seed,
                file_format=file_format,
            )
    return catalog


def reduced(root: Path, file_format: str, params: ReductionParameters) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    rows: list[dict] = []
    for shard in range(2):
        rows += [dict(row) for row in read_table(root / file_format / f"inventory-{shard}.ecsv")]
    result = reduce_inventory(rows, params)
    positions = [int(r) for r in result.meta["row"]]
    return dict(zip(positions, result.flux[: len(positions)])), dict(zip(positions, map(str, result.meta["label"])))


def noiseless(catalog: np.ndarray, rows: list[int], seed: int, params: ReductionParameters) -> tuple[np.ndarray, np.ndarray]:
    """The reduced noiseless models of both renderings of the given catalog rows (1-based)."""

    def spectrum(wavelength: np.ndarray, flux: np.ndarray) -> SdssSpectrum:
        n = wavelength.size
        return SdssSpectrum(wavelength, flux, np.ones(n), np.zeros(n, np.int64), 0, 0, 0, np.nan, "", "", "", "spec")

    physics = S.SimulationParameters()
    sdss, desi = [], []
    for row in rows:
        record = catalog[row - 1]
        plate, mjd, fiberid, z = int(record["plate"]), int(record["mjd"]), int(record["fiberid"]), float(record["z"])
        snr = float(record["snr"]) if "snr" in record.dtype.names else _snr_for(seed, plate, mjd, fiberid, physics)
        scene: dict = {}
        coadd = S.simulate_spectrum(str(record["label"]), z, snr, spectrum_rng(seed, plate, mjd, fiberid), physics, scene=scene)
        sdss.append(reduce_spectrum(spectrum(10.0 ** coadd["loglam"], coadd["model"].astype(float)), z, params).flux)
        arms = render_desi(scene, desi_rng(seed, plate, mjd, fiberid), physics)
        wavelength, flux, _ = merge_arms(
            [arms[a]["wavelength"] for a in "BRZ"],
            [arms[a]["model"] for a in "BRZ"],
            [np.ones(arms[a]["model"].size) for a in "BRZ"],
        )
        desi.append(reduce_spectrum(spectrum(wavelength, flux), z, params).flux)
    return np.array(sdss, float), np.array(desi, float)


def agreement(flux: dict[str, np.ndarray], y: np.ndarray, seed: int) -> dict[str, float]:
    """The test's cross-format agreement, per task and direction."""
    fold = np.random.default_rng(seed).permutation(len(y)) % 2
    out = {}
    for task in ("binary", "multiclass"):
        chosen = y != "intermediate" if task == "binary" else np.ones(len(y), bool)
        for trained_on, other in (("sdss", "desi"), ("desi", "sdss")):
            same = []
            for held_out in (0, 1):
                train, test = chosen & (fold != held_out), chosen & (fold == held_out)
                model = build_pipeline("linear", seed, calibration_folds=2)
                model.set_params(**pipeline_params(C=0.07, class_weight="balanced"))
                model.fit(flux[trained_on][train], y[train])
                same.append(model.predict(flux[trained_on][test]) == model.predict(flux[other][test]))
            out[f"{task} {trained_on}>{other}"] = round(float(np.mean(np.concatenate(same))), 4)
    return out


def _line(flux: np.ndarray, wavelength: np.ndarray, inside: np.ndarray, side: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Centroid (Å) and flux above the side bands' median of each spectrum's line."""
    excess = np.clip(flux[:, inside] - np.median(flux[:, side], axis=1)[:, None], 0, None)
    total = excess.sum(axis=1)
    return (excess * wavelength[inside]).sum(axis=1) / np.where(total > 0, total, 1), total


def line_figures(sdss: np.ndarray, desi: np.ndarray, wavelength: np.ndarray) -> dict[str, dict[str, float]]:
    """Median centroid shift (Å, SDSS − DESI) and flux ratio of each line within ±14 Å."""
    out = {}
    for name, centre in LINES.items():
        inside = np.abs(wavelength - centre) < 14
        side = (np.abs(wavelength - centre) > 16) & (np.abs(wavelength - centre) < 30)

        (centroid_s, flux_s), (centroid_d, flux_d) = (_line(flux, wavelength, inside, side) for flux in (sdss, desi))
        good = (flux_s > 0.5) & (flux_d > 0.5)
        out[name] = {
            "centroid_shift_A": round(float(np.median((centroid_s - centroid_d)[good])), 4),
            "flux_ratio": round(float(np.median((flux_s / flux_d)[good])), 4),
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6, 7, 8])
    parser.add_argument("--counts", type=int, nargs=3, default=[80, 100, 70], metavar=("TYPE1", "TYPE2", "INTERMEDIATE"))
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    base = args.workdir or Path(tempfile.mkdtemp(prefix="format-residuals-"))
    figures = {}
    try:
        for seed in args.seeds:
            root = base / f"seed-{seed}"
            catalog = write_sample(root, seed, tuple(args.counts))
            seed_figures: dict = {"agreement": {}}
            for statistic in NORM_STATISTICS:
                params = ReductionParameters(norm_statistic=statistic)
                sdss, labels = reduced(root, "sdss", params)
                desi, _ = reduced(root, "desi", params)
                rows = sorted(set(sdss) & set(desi))
                y = np.array([labels[r] for r in rows])
                flux = {"sdss": np.array([sdss[r] for r in rows], float), "desi": np.array([desi[r] for r in rows], float)}
                seed_figures["agreement"][statistic] = agreement(flux, y, seed)
                if statistic != "mean":
                    continue
                model_s, model_d = noiseless(catalog, rows, seed, params)
                clean = model_s - model_d
                noise_s, noise_d = flux["sdss"] - model_s, flux["desi"] - model_d
                unshared = noise_s - noise_d
                wavelength = params.wavelength()
                bins = {}
                for low in range(int(params.wavelength_min), int(params.wavelength_max), 100):
                    part = (wavelength >= low) & (wavelength < low + 100)
                    bins[low] = {
                        "noiseless_mean": round(float(clean[:, part].mean()), 5),
                        "noiseless_rms": round(float(np.sqrt((clean[:, part] ** 2).mean())), 4),
                        "noise_rms": round(float(np.sqrt((unshared[:, part] ** 2).mean())), 4),
                    }
                seed_figures.update(
                    n=len(rows),
                    per_100A=bins,
                    noise_correlation=round(
                        float(np.sum(noise_s * noise_d) / np.sqrt(np.sum(noise_s**2) * np.sum(noise_d**2))), 4
                    ),
                    unshared_to_noise_rms=round(float(np.sqrt(np.mean(unshared**2) / np.mean(noise_s**2))), 4),
                    unshared_lag1=round(float(np.mean(unshared[:, 1:] * unshared[:, :-1]) / np.mean(unshared**2)), 3),
                    lines=line_figures(model_s, model_d, wavelength),
                    agreement_resolution_only=agreement({"sdss": flux["sdss"], "desi": flux["sdss"] - clean}, y, seed),
                )
            figures[seed] = seed_figures
            print(f"seed {seed}: " + json.dumps(seed_figures["agreement"]), flush=True)
    finally:
        if args.workdir is None:
            shutil.rmtree(base, ignore_errors=True)
    print(json.dumps({"benchmark": "format_residuals", "seeds": figures}))


if __name__ == "__main__":
    main()
