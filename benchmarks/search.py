"""Grid search on one precomputed matrix (``GramKernel``) against scikit-learn's flux pipeline with its Gram cache.

For every task and kernel of config/config.yaml, ``agn_saliency.learn.classify.grid_search`` runs on the
task's training spectra with the configured grids, folds, scoring, ``search_scores`` and seed, once
with ``precompute=True`` (the default: ``X Xᵀ`` or squared distances computed once and sliced by
fold and candidate) and once with ``precompute=False`` (the pipeline ``scale → kernel → svm`` with
scikit-learn's transformer cache, a Gram matrix per fold and kernel parameter set), alternating,
one core (``n_jobs=1``), the fastest of ``--repeats`` kept. Both must choose the same parameters
with the same cross-validated scores (to 1e-9); the script fails otherwise.

Data: ``--cube`` / ``--split`` (default: the default run's results/reduced/cube.h5 and
results/split/split.ecsv; run ``snakemake --cores 2 results/split/split.ecsv`` first).

    python benchmarks/search.py [--cube PATH] [--split PATH] [--repeats 1]

The last line printed is one JSON object: seconds per task and kernel for both paths, and the
ratio library / precomputed per task and kernel and in total.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]


def main(args: argparse.Namespace) -> dict:
    from agn_saliency.learn.classify import grid_search
    from agn_saliency.learn.dataset import load_task

    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    section = config["classify"]
    seconds: dict[str, dict[str, dict[str, float]]] = {"precomputed": {}, "library": {}}
    ratios: dict[str, float] = {}
    print(f"{'task':<12}{'kernel':<8}{'precomputed s':>15}{'library s':>12}{'ratio':>8}  chosen")
    for task in section["tasks"]:
        train = load_task(args.cube, args.split, task).where("train")
        for kernel in section["kernels"]:
            best: dict[bool, tuple[float, object]] = {}
            for _ in range(args.repeats):
                for precompute in (True, False):
                    start = time.perf_counter()
                    search = grid_search(
                        train.flux, train.label, kernel, section["grids"], section["cv_folds"], section["scoring"],
                        int(config["seed"]), 1, section["calibration_folds"], section["scale_variance"],
                        section["search_scores"], precompute=precompute,
                    )  # fmt: skip
                    elapsed = time.perf_counter() - start
                    if precompute not in best or elapsed < best[precompute][0]:
                        best[precompute] = (elapsed, search)
            fast, library = best[True][1], best[False][1]
            if fast.best_params_ != library.best_params_ or not np.allclose(
                fast.cv_results_["mean_test_score"], library.cv_results_["mean_test_score"], rtol=0, atol=1e-9
            ):
                sys.exit(f"{task} {kernel}: the two paths disagree: {fast.best_params_} vs {library.best_params_}")
            seconds["precomputed"].setdefault(task, {})[kernel] = round(best[True][0], 3)
            seconds["library"].setdefault(task, {})[kernel] = round(best[False][0], 3)
            ratios[f"{task}/{kernel}"] = round(best[False][0] / best[True][0], 2)
            chosen = {k.split("__")[-1]: v for k, v in fast.best_params_.items() if not k.endswith("degree")}
            print(
                f"{task:<12}{kernel:<8}{best[True][0]:>15.2f}{best[False][0]:>12.2f}{ratios[f'{task}/{kernel}']:>7.2f}x  {chosen}"
            )
    total = {path: sum(s for per_task in times.values() for s in per_task.values()) for path, times in seconds.items()}
    ratios["total"] = round(total["library"] / total["precomputed"], 2)
    print(f"all searches: precomputed {total['precomputed']:.1f} s, library {total['library']:.1f} s ({ratios['total']}x)")
    return {"search_s": seconds, "ratio_library_over_precomputed": ratios, "same_choices": True}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cube", default=str(ROOT / "results" / "reduced" / "cube.h5"))
    parser.add_argument("--split", default=str(ROOT / "results" / "split" / "split.ecsv"))
    parser.add_argument("--repeats", type=int, default=1)
    print(json.dumps(main(parser.parse_args())))
