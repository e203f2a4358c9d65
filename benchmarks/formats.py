"""The embedded sample in both file formats: classification quality and cross-format agreement.

    python benchmarks/formats.py [--cores 2] [--configfile extra.yaml ...] [--workdir DIR] [--keep]

Runs the workflow up to the test metrics and the chosen models (``results/metrics/<task>.json``,
``results/models/<task>.joblib``) twice, in fresh working directories that differ only in
``synthetic.format`` (``sdss``: spec-lite files; ``desi``: healpix coadd + redrock files of the
same physical spectra, the same photons). Then each run's model classifies the other run's
reduction of its own test spectra (matched through the shared catalog: the SDSS id
``PPPP-MMMMM-FFFF`` and the DESI TARGETID of the same row), and the agreement is the share of
those spectra given the same class from both renderings.

Prints the test macro F1 per task and format, the agreements, and the acceptance checks (DESI
binary macro F1 ≥ 0.98; DESI multiclass within 0.02 of SDSS; every agreement ≥ 0.97). The
baseline is the SDSS-format run of the same commit, measured in the same invocation. Working
directories go to a temporary folder removed at the end unless --workdir or --keep is given.
Last line: one JSON object.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
FORMATS = ("sdss", "desi")
BINARY_FLOOR = 0.98
MULTICLASS_TOLERANCE = 0.02
AGREEMENT_FLOOR = 0.97


def run_workflow(workdir: Path, file_format: str, cores: int, configfiles: list[str], tasks: list[str]) -> float:
    """Snakemake up to the metrics and models of every task; returns the wall time (s)."""
    workdir.mkdir(parents=True, exist_ok=True)
    targets = [f"results/metrics/{task}.json" for task in tasks] + [f"results/models/{task}.joblib" for task in tasks]
    command = [sys.executable, "-m", "snakemake", *targets, "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    command += ["--cores", str(cores)]
    choice = workdir / "format.yaml"
    choice.write_text(f"synthetic:\n  format: {file_format}\n")
    command += ["--configfile", *configfiles, str(choice)]
    start = time.perf_counter()
    process = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    elapsed = time.perf_counter() - start
    (workdir / "benchmark.log").write_text(process.stdout + process.stderr)
    if process.returncode != 0:
        raise SystemExit(f"{file_format} run failed:\n{(process.stdout + process.stderr)[-3000:]}")
    return elapsed


def catalog_identities(workdir: Path) -> dict[str, str]:
    """Each catalog row's qualified id (as the cube's tasks name spectra) in the DESI rendering →
    its id in the SDSS rendering, and back."""
    from agn_saliency.acquire.catalog import read_catalog
    from agn_saliency.acquire.simulate.desi import targetid
    from agn_saliency.core.identity import qualified_id, spectrum_id

    mapping: dict[str, str] = {}
    for row in read_catalog(workdir / "results/acquire/catalog.csv"):
        plate, mjd, fiberid = int(row["plate"]), int(row["mjd"]), int(row["fiberid"])
        sdss_id = qualified_id("sdss", spectrum_id("sdss", plate=plate, mjd=mjd, fiberid=fiberid))
        desi_id = qualified_id("desi", spectrum_id("desi", targetid=targetid(plate, mjd, fiberid)))
        mapping[sdss_id], mapping[desi_id] = desi_id, sdss_id
    return mapping


def cross_agreement(model_dir: Path, other_dir: Path, task: str, counterpart: dict[str, str]) -> tuple[float, int]:
    """Share of ``model_dir``'s test spectra that its model puts in the same class from both renderings."""
    from agn_saliency.io.models import load_model
    from agn_saliency.learn.dataset import load_task

    fitted, _ = load_model(model_dir / f"results/models/{task}.joblib")
    own = load_task(model_dir / "results/reduced/cube.h5", model_dir / "results/split/split.ecsv", task).where("test")
    other_cube = load_task(other_dir / "results/reduced/cube.h5", other_dir / "results/split/split.ecsv", task)
    position = {str(s): i for i, s in enumerate(other_cube.specid)}
    pairs = [(i, position[counterpart[str(s)]]) for i, s in enumerate(own.specid) if counterpart.get(str(s)) in position]
    if not pairs:
        raise SystemExit(f"{task}: no test spectrum of {model_dir} found in {other_dir}")
    mine, theirs = (np.array(index) for index in zip(*pairs))
    same = fitted.predict(own.flux[mine]) == fitted.predict(other_cube.flux[theirs])
    return float(np.mean(same)), len(pairs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--configfile", action="append", default=[])
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--tasks", nargs="+", default=["binary", "multiclass"])
    args = parser.parse_args()

    base = args.workdir or Path(tempfile.mkdtemp(prefix="formats-"))
    configfiles = [str(Path(c).resolve()) for c in args.configfile]
    try:
        workdirs = {fmt: base / fmt for fmt in FORMATS}
        wall = {fmt: run_workflow(workdirs[fmt], fmt, args.cores, configfiles, args.tasks) for fmt in FORMATS}
        f1 = {
            fmt: {
                task: json.loads((workdirs[fmt] / f"results/metrics/{task}.json").read_text())["macro_f1"] for task in args.tasks
            }
            for fmt in FORMATS
        }
        counterpart = catalog_identities(workdirs["sdss"])
        agreement: dict[str, dict[str, float]] = {}
        compared: dict[str, dict[str, int]] = {}
        for task in args.tasks:
            for model_format, other_format in (("sdss", "desi"), ("desi", "sdss")):
                key = f"{model_format}_model_on_{other_format}"
                share, count = cross_agreement(workdirs[model_format], workdirs[other_format], task, counterpart)
                agreement.setdefault(task, {})[key] = round(share, 4)
                compared.setdefault(task, {})[key] = count
        checks = {}
        if "binary" in args.tasks:
            checks["desi_binary_f1_at_least_0.98"] = f1["desi"]["binary"] >= BINARY_FLOOR
        if "multiclass" in args.tasks:
            checks["multiclass_within_0.02"] = abs(f1["desi"]["multiclass"] - f1["sdss"]["multiclass"]) <= MULTICLASS_TOLERANCE
        checks["agreement_at_least_0.97"] = all(v >= AGREEMENT_FLOOR for task in agreement.values() for v in task.values())
        for fmt in FORMATS:
            print(f"{fmt:5s} run {wall[fmt]:7.1f} s   test macro F1 " + "  ".join(f"{t} {f1[fmt][t]:.4f}" for t in args.tasks))
        for task, values in agreement.items():
            for key, share in values.items():
                print(f"{task:10s} {key:22s} agreement {share:.4f} ({compared[task][key]} test spectra)")
        for name, ok in checks.items():
            print(f"{'ok  ' if ok else 'FAIL'} {name}")
        print(
            json.dumps(
                {
                    "benchmark": "formats",
                    "macro_f1": f1,
                    "multiclass_f1_difference": round(f1["desi"]["multiclass"] - f1["sdss"]["multiclass"], 4)
                    if "multiclass" in args.tasks
                    else None,
                    "agreement": agreement,
                    "compared": compared,
                    "wall_s": {fmt: round(w, 1) for fmt, w in wall.items()},
                    "desi_to_sdss_wall_ratio": round(wall["desi"] / wall["sdss"], 3),
                    "checks": checks,
                }
            )
        )
    finally:
        if not (args.workdir or args.keep):
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    main()
