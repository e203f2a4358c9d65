"""Classification stage costs: the default grid search per task and kernel, and t-SNE backends.

(a) Grid search: ``agn_saliency.learn.classify.grid_search`` with the grids, ``cv_folds``,
    ``calibration_folds``, ``scoring`` and ``seed`` of config/config.yaml, ``n_jobs=2``, on the
    training subset of each task, exactly as the workflow's search_grid rule runs it (the
    validation and test subsets are never searched). Data: the paper-size embedded sample
    (3346 spectra) — ``--cube`` / ``--split`` (default results/reduced/cube.h5 and
    results/split/split.ecsv when they exist; a missing split is drawn from the cube with the
    configured fractions), else simulated and reduced into a temporary folder
    (``agn_saliency.acquire.simulate`` → reduce shards → merge → ``split.stratified_split``).
    In the same run, each search is repeated with the estimator the pipeline had before
    (``CalibratedKernelSVC``, its own kernel-matrix cache and Platt fitter; taken from git,
    ``--baseline-commit``, default 44ba741, into a temporary module), the two alternating, and the
    ratio new / old of the wall times is reported per task and kernel and in total, with whether
    both chose the same parameters (``--skip-baseline`` leaves it out).
(b) t-SNE: ``agn_saliency.learn.embed.tsne_embedding`` with ``implementation="sklearn"`` (Barnes-Hut)
    and ``"opentsne"`` (FFT-accelerated), perplexity 50, n_iter and pca_components from the config,
    ``n_jobs=2``, on all 3346 reduced spectra and on 20 000 distinct spectra, simulated and reduced
    here (≈ 2 min, 2.7 GB of temporary files). ``--tsne-large resample`` instead draws the 20 000
    with replacement from the cube plus Gaussian noise of 2 % of each pixel's spread. Such tight
    groups of near-copies spread the map, and openTSNE's FFT grid grows with the map's extent:
    measured here, openTSNE took 158 s on a resampled set against 73 s on distinct spectra of the
    same size, so resampling understates it. The two run alternately ``--repeats`` times each (default 2) and the
    fastest run of each is kept; reported as a ratio.

The machine is shared: compare the ratios. ``--quick`` runs a small version (600 training spectra
per task, a 2-value C grid and 3 folds; t-SNE at 1000 and 3000 spectra) to check the script.

    python benchmarks/classify.py [--cube PATH] [--split PATH] [--quick] [--skip-grid] [--skip-tsne] [--repeats 2] [--tsne-large simulate|resample]
                                  [--skip-baseline] [--baseline-commit 44ba741]

The last line printed is one JSON object:
{"grid_search_s": {"binary": {"linear": …, …}, "multiclass": {…}},
 "grid_search_s_baseline": {…}, "grid_search_ratio_vs_baseline": {"binary": {…}, …, "total": …},
 "tsne_s": {"3346": {"sklearn": …, "opentsne": …}, "20000": {…}},
 "tsne_speedup_opentsne": {"3346": …, "20000": …}, …}
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PAPER_COUNTS, ROOT, reduce_and_merge, remove, simulated_inventory, source_at, write_inventories  # noqa: E402

DEFAULT_CUBE = ROOT / "results" / "reduced" / "cube.h5"
DEFAULT_SPLIT = ROOT / "results" / "split" / "split.ecsv"
N_JOBS = 2
PERPLEXITY = 50.0


def load_config(path: Path) -> dict:
    import yaml

    with open(path, encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def write_split(cube_path: Path, out: Path, config: dict) -> None:
    """The split_sample rule's own code (``stages.split_sample``), with the config's fractions and seed."""
    from agn_saliency.stages.split import split_sample

    section = config["split"]
    split_sample(
        cube=str(cube_path),
        split_out=str(out),
        test_fraction=section["test_fraction"],
        validation_fraction=section["validation_fraction"],
        seed=int(config["seed"]),
    )


def prepare_data(cube_arg: str | None, split_arg: str | None, scratch: Path, config: dict) -> tuple[Path, Path, str]:
    cube = Path(cube_arg) if cube_arg else DEFAULT_CUBE
    split = Path(split_arg) if split_arg else DEFAULT_SPLIT
    if cube.exists():
        if not split.exists():
            split = scratch / "split.ecsv"
            write_split(cube, split, config)
            return cube, split, f"cube {cube}, split drawn here with the configured fractions"
        return cube, split, f"cube {cube}, split {split}"
    if cube_arg:
        raise SystemExit(f"--cube {cube} does not exist")
    n = sum(PAPER_COUNTS.values())
    print(f"no cube at {cube}: simulating and reducing the paper-size sample ({n} spectra) in {scratch}")
    rows = simulated_inventory(n, scratch, workers=N_JOBS)
    inventories = write_inventories(rows, scratch / "inventory", N_JOBS)
    run = reduce_and_merge(inventories, scratch / "reduced", N_JOBS, config.get("reduce", {}), start_method="fork")
    cube = scratch / "reduced" / "cube.h5"
    split = scratch / "split.ecsv"
    write_split(cube, split, config)
    return cube, split, f"simulated + reduced here ({run.kept} spectra in the cube, seed 42)"


BASELINE_COMMIT = "44ba741"
BASELINE_MODULE = "classify_baseline"


def load_baseline(commit: str, folder: Path):
    """``agn_saliency.learn.classify`` as of ``commit`` (CalibratedKernelSVC), importable by name.

    Written as a top-level module into ``folder``, which goes on ``sys.path`` and ``PYTHONPATH``
    before joblib starts its workers, so they can unpickle its estimator too.
    """
    source = source_at(commit, "src/agn_saliency/classify.py", "class CalibratedKernelSVC")
    source = source.replace("from .dataset import", "from agn_saliency.learn.dataset import")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{BASELINE_MODULE}.py").write_text(source)
    sys.path.insert(0, str(folder))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH", "")]))
    return importlib.import_module(BASELINE_MODULE)


def short_params(params: dict) -> dict:
    """Best parameters without the step prefixes (the two pipelines route them differently)."""
    return {k.split("__")[-1]: v for k, v in params.items()}


def quick_grid(grids: dict) -> dict:
    """A 2-value C grid, first value of everything else (for --quick)."""
    out = {}
    for kernel, grid in grids.items():
        out[kernel] = {key: (list(values)[:2] if key == "C" else list(values)[:1]) for key, values in grid.items()}
    return out


def stratified_subset(labels: np.ndarray, n: int, seed: int) -> np.ndarray:
    from sklearn.model_selection import train_test_split

    if n >= len(labels):
        return np.arange(len(labels))
    keep, _ = train_test_split(np.arange(len(labels)), train_size=n, stratify=labels, random_state=seed)
    return np.sort(keep)


def bench_grid(cube: Path, split: Path, config: dict, quick: bool, baseline=None) -> tuple[dict, dict, dict]:
    from agn_saliency.learn.classify import grid_search, param_grid
    from agn_saliency.learn.dataset import load_task

    section = config["classify"]
    grids = quick_grid(section["grids"]) if quick else section["grids"]
    cv_folds = 3 if quick else int(section["cv_folds"])
    seed = int(config["seed"])
    times: dict[str, dict[str, float]] = {}
    old_times: dict[str, dict[str, float]] = {}
    agree: dict[str, dict[str, bool]] = {}
    sizes: dict[str, int] = {}
    # Start joblib's worker processes once, untimed, so the first kernel is not charged for it.
    warm = load_task(cube, split, "binary").where("train")
    keep = stratified_subset(warm.label, 60, seed)
    grid_search(warm.flux[keep], warm.label[keep], "linear", {"C": [1.0]}, 2, section["scoring"], seed, N_JOBS, 2)
    if baseline is not None:
        baseline.grid_search(warm.flux[keep], warm.label[keep], "linear", {"C": [1.0]}, 2, section["scoring"], seed, N_JOBS, 2)
    # Options the workflow passes too when the config has them (e.g. classify.scale_variance).
    extra = {"scale_variance": bool(section["scale_variance"])} if "scale_variance" in section else {}
    for task in section["tasks"]:
        train = load_task(cube, split, task).where("train")
        X, y = train.flux, train.label
        if quick:
            keep = stratified_subset(y, 600, seed)
            X, y = X[keep], y[keep]
        sizes[task] = len(y)
        classes = {c: int((y == c).sum()) for c in np.unique(y)}
        print(
            f"grid search, task {task}: {len(y)} training spectra {classes}, {X.shape[1]} pixels, "
            f"{cv_folds}-fold CV, calibration_folds={section['calibration_folds']}, n_jobs={N_JOBS} {extra or ''}"
        )
        times[task], old_times[task], agree[task] = {}, {}, {}
        for i, kernel in enumerate(section["kernels"]):
            grid = param_grid(kernel, grids)
            n_candidates = int(np.prod([len(v) for v in grid.values()]))
            runs = {"new": grid_search}
            if baseline is not None:
                runs["old"] = baseline.grid_search
            # Alternate which runs first (new old, old new, …): the shared machine's load drifts.
            order = list(runs) if i % 2 == 0 else list(runs)[::-1]
            results = {}
            for name in order:
                start = time.perf_counter()
                search = runs[name](
                    X, y, kernel, grids, cv_folds, section["scoring"], seed, N_JOBS, int(section["calibration_folds"]), **extra
                )
                results[name] = (time.perf_counter() - start, search)
            elapsed, search = results["new"]
            times[task][kernel] = round(elapsed, 2)
            print(
                f"  {kernel:7s}: {elapsed:7.1f} s for {n_candidates} candidates × {cv_folds} folds + refit "
                f"({elapsed / (n_candidates * cv_folds + 1):.2f} s per fit); best {short_params(search.best_params_)}, "
                f"CV {section['scoring']} {search.best_score_:.4f}",
                flush=True,
            )
            if baseline is not None:
                old_elapsed, old_search = results["old"]
                old_times[task][kernel] = round(old_elapsed, 2)
                agree[task][kernel] = short_params(old_search.best_params_) == short_params(search.best_params_)
                print(
                    f"  {'':7s}  CalibratedKernelSVC ({BASELINE_COMMIT}): {old_elapsed:7.1f} s → new / old "
                    f"{elapsed / old_elapsed:.2f}; best {short_params(old_search.best_params_)}, "
                    f"CV {old_search.best_score_:.4f} (same choice: {agree[task][kernel]})",
                    flush=True,
                )
    return times, sizes, {"old": old_times, "same_best_params": agree}


def simulated_flux(n: int, folder: Path, config: dict) -> np.ndarray:
    """Reduced flux of ``n`` distinct simulated spectra (files deleted afterwards)."""
    from agn_saliency.io.cube import read_cube

    rows = simulated_inventory(n, folder, workers=N_JOBS)
    inventories = write_inventories(rows, folder / "inventory", N_JOBS)
    reduce_and_merge(inventories, folder / "reduced", N_JOBS, config.get("reduce", {}), start_method="fork")
    flux = read_cube(folder / "reduced" / "cube.h5").flux.astype(np.float64)
    remove(folder)
    return flux


def bench_tsne(cube: Path, config: dict, quick: bool, repeats: int, large: str, scratch: Path) -> tuple[dict, dict]:
    from agn_saliency.io.cube import read_cube
    from agn_saliency.learn.embed import tsne_embedding

    flux = read_cube(cube).flux.astype(np.float64)
    seed = int(config["seed"])
    tsne = config.get("tsne", {})
    n_iter, pca = int(tsne.get("n_iter", 750)), int(tsne.get("pca_components", 50))
    rng = np.random.default_rng(seed)
    sizes = (1000, 3000) if quick else (len(flux), 20000)
    spread = flux.std(axis=0)
    times: dict[str, dict[str, float]] = {}
    speedup: dict[str, float] = {}
    for n in sizes:
        if n <= len(flux):
            data = flux[np.sort(rng.choice(len(flux), n, replace=False))] if n < len(flux) else flux
            how = "reduced spectra" if n == len(flux) else "reduced spectra (random subset)"
        elif large == "simulate":
            data = simulated_flux(n, scratch / f"tsne-{n}", config)
            how = "distinct simulated + reduced spectra"
        else:
            data = flux[rng.integers(0, len(flux), n)] + rng.normal(0.0, 0.02, (n, flux.shape[1])) * spread
            how = f"drawn with replacement from the {len(flux)} reduced spectra + 2 % noise"
        print(f"t-SNE of {n} {how}: perplexity {PERPLEXITY:g}, n_iter {n_iter}, PCA {pca}, n_jobs {N_JOBS}")
        best: dict[str, float] = {}
        # Alternate the two (A B B A …) and keep each one's fastest run: the load of other jobs on
        # this shared machine changes within minutes and would otherwise decide the ratio.
        order = [("opentsne", "sklearn")[(i + i // 2) % 2] for i in range(2 * repeats)]
        for implementation in order:
            start, cpu = time.perf_counter(), time.process_time()
            xy = tsne_embedding(data, PERPLEXITY, seed, implementation, n_iter, pca, N_JOBS)
            elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
            assert xy.shape == (n, 2) and np.isfinite(xy).all()
            best[implementation] = min(best.get(implementation, np.inf), elapsed)
            print(
                f"  {implementation:8s}: {elapsed:7.1f} s wall, {cpu:7.1f} s CPU (all threads); "
                f"load average {os.getloadavg()[0]:.1f}",
                flush=True,
            )
        times[str(n)] = {name: round(value, 2) for name, value in best.items()}
        speedup[str(n)] = round(times[str(n)]["sklearn"] / times[str(n)]["opentsne"], 2)
        print(
            f"  fastest of {repeats}: openTSNE {times[str(n)]['opentsne']:.1f} s, scikit-learn {times[str(n)]['sklearn']:.1f} s "
            f"→ openTSNE {speedup[str(n)]:.2f}× as fast at {n} spectra"
        )
    return times, speedup


def main(args: argparse.Namespace) -> dict:
    config = load_config(Path(args.config))
    scratch = Path(tempfile.mkdtemp(prefix="bench-classify-"))
    result: dict = {}
    try:
        cube, split, source = prepare_data(args.cube, args.split, scratch, config)
        print(f"data: {source}")
        if not args.skip_grid:
            baseline = None if args.skip_baseline else load_baseline(args.baseline_commit, scratch / "baseline")
            grid_times, n_train, compared = bench_grid(cube, split, config, args.quick, baseline)
            total = sum(t for task in grid_times.values() for t in task.values())
            print(f"all grid searches: {total:.0f} s ({total / 60:.1f} min) with n_jobs={N_JOBS}")
            result["grid_search_s"] = grid_times
            result["n_train"] = n_train
            if baseline is not None:
                old = compared["old"]
                old_total = sum(t for task in old.values() for t in task.values())
                ratio = {task: {k: round(grid_times[task][k] / old[task][k], 3) for k in old[task]} for task in old}
                ratio["total"] = round(total / old_total, 3)
                print(f"CalibratedKernelSVC ({args.baseline_commit}): {old_total:.0f} s; new / old = {ratio['total']:.2f}")
                result.update(
                    grid_search_s_baseline=old,
                    grid_search_ratio_vs_baseline=ratio,
                    same_best_params_as_baseline=compared["same_best_params"],
                    baseline_commit=args.baseline_commit,
                )
        if not args.skip_tsne:
            tsne_times, speedup = bench_tsne(cube, config, args.quick, args.repeats, args.tsne_large, scratch)
            result["tsne_s"] = tsne_times
            result["tsne_speedup_opentsne"] = speedup
        result.update({"n_jobs": N_JOBS, "quick": bool(args.quick), "load_avg_1min": round(os.getloadavg()[0], 2)})
    finally:
        remove(scratch)
    return result


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cube", default=None, help=f"reduced cube (default {DEFAULT_CUBE.relative_to(ROOT)} if present)")
    parser.add_argument("--split", default=None, help=f"split TSV (default {DEFAULT_SPLIT.relative_to(ROOT)} if present)")
    parser.add_argument("--config", default=str(ROOT / "config" / "config.yaml"), help="workflow config (grids, folds, seed)")
    parser.add_argument("--quick", action="store_true", help="small run to check the script")
    parser.add_argument("--skip-grid", action="store_true", help="skip the grid-search timings")
    parser.add_argument("--skip-tsne", action="store_true", help="skip the t-SNE timings")
    parser.add_argument(
        "--skip-baseline", action="store_true", help="do not repeat the grid searches with the former CalibratedKernelSVC"
    )
    parser.add_argument(
        "--baseline-commit", default=BASELINE_COMMIT, help=f"git commit holding the former estimator (default {BASELINE_COMMIT})"
    )
    parser.add_argument(
        "--tsne-large",
        choices=("simulate", "resample"),
        default="simulate",
        help="the 20 000-spectrum t-SNE set: distinct simulated spectra (default) or the cube's "
        "spectra drawn with replacement + 2 %% noise",
    )
    parser.add_argument("--repeats", type=int, default=2, help="t-SNE runs per implementation and size, fastest kept (default 2)")
    print(json.dumps(main(parser.parse_args())))
