"""The written contract of what reruns when a config value changes, enforced on a real run.

``CONTRACT`` names, for every leaf key of the config schema, a new valid value and the set of
rules whose jobs must rerun when the finished tiny run (``tiny_run``, ``data.source:
synthetic``) is asked again with that value — empty for keys that cannot matter to this source.
A schema key missing from the table fails :func:`test_every_schema_key_has_a_contract_row`, so
the contract cannot rot; the "What reruns when" table of docs/running.md is rendered from it and checked.

The contract also holds without Snakemake's metadata (``.snakemake/`` deleted, so no params are
remembered): each job's settings file under ``results/settings/`` carries it on file dates alone
(:func:`test_contract_holds_with_metadata_deleted`, :func:`test_metadata_deleted_real_rerun`).
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from helpers import REPO, TINY, run_tiny
from test_workflow import job_counts, planned_jobs

pytestmark = pytest.mark.workflow

SCHEMA = yaml.safe_load((REPO / "workflow/schemas/config.schema.yaml").read_text())

# Rule groups, downstream to upstream: each group is a stage and everything after it.
FAITHFULNESS = frozenset({"evaluate_faithfulness", "plot_faithfulness"})
EXPLAIN = FAITHFULNESS | frozenset(
    {
        "compute_saliency",
        "select_explained",
        "plot_saliency_spectra",
        "plot_saliency_means",
        "quantify_saliency",
        "plot_line_share",
        "measure_robustness",
        "plot_robustness",
        "plot_tsne_highlight",
    }
)
SELECT_ON = frozenset({"select_model", "plot_confusion"}) | EXPLAIN
CLASSIFY_ON = frozenset({"search_grid", "plot_grid"}) | SELECT_ON
SPLIT_ON = frozenset({"split_sample"}) | CLASSIFY_ON
TSNE = frozenset({"embed_tsne", "plot_tsne", "plot_tsne_highlight"})
REDUCE_ON = frozenset({"reduce_shard", "merge_cube", "plot_sample"}) | SPLIT_ON | TSNE
SHARDS_ON = frozenset({"simulate_shard"}) | REDUCE_ON
EVERYTHING = frozenset({"simulate_catalog"}) | SHARDS_ON
NOTHING: frozenset[str] = frozenset()
FIGURES = frozenset(
    {
        "plot_sample",
        "plot_tsne",
        "plot_grid",
        "plot_confusion",
        "plot_saliency_spectra",
        "plot_saliency_means",
        "plot_line_share",
        "plot_robustness",
        "plot_tsne_highlight",
        "plot_faithfulness",
    }
)

GROUP_NAMES = {
    NOTHING: "nothing",
    frozenset({"scan_local"}) | REDUCE_ON: "the folder scan and everything after it",
    EVERYTHING: "everything (the sample is drawn again)",
    SHARDS_ON: "`simulate_shard` onward (not the catalog)",
    REDUCE_ON: "`reduce_shard` onward (no re-simulation or re-download)",
    SPLIT_ON: "`split_sample` onward (not the cube, not t-SNE)",
    CLASSIFY_ON: "`search_grid` onward",
    SELECT_ON: "`select_model` onward",
    SELECT_ON | {"plot_grid"}: "`select_model` onward and the task's grid heat maps",
    TSNE: "the t-SNE maps and their plots",
    frozenset({"fit_tsne_svm", "plot_tsne_svm"}): "the t-SNE-plane SVM (new outputs)",
    frozenset(
        {"select_explained", "plot_saliency_spectra", "plot_tsne_highlight"}
    ): "the choice of plotted spectra and their figures",
    frozenset({"plot_saliency_spectra", "plot_saliency_means"}): "the saliency figures only",
    FAITHFULNESS: "the faithfulness table and its figure",
    FIGURES: "every figure (and `snakemake predict`'s), nothing else",
    EXPLAIN: "`compute_saliency` onward (the maps, their figures and faithfulness)",
}

# key (dotted) → (new value, rules that must rerun). Values are for the tiny config (tests/config/tiny.yaml).
CONTRACT: dict[str, tuple[Any, frozenset[str]]] = {
    "seed": (8, EVERYTHING),
    "data.source": ("local", frozenset({"scan_local"}) | REDUCE_ON),  # data.local_dir set to the run's own files
    "data.dir": ("data_elsewhere", SHARDS_ON),
    "data.catalog": ("unused.csv", NOTHING),
    "data.local_dir": ("/nonexistent", NOTHING),
    "data.n_shards": (3, SHARDS_ON),
    "data.sdss.base_url": ("http://127.0.0.1:9/sas", NOTHING),
    "data.sdss.connections": (2, NOTHING),
    "data.sdss.timeout_s": (5.0, NOTHING),
    "data.sdss.retries": (1, NOTHING),
    "data.sdss.backoff_s": (0.1, NOTHING),
    "data.sdss.max_backoff_s": (3.0, NOTHING),
    "data.sdss.min_throughput_bytes_s": (10.0, NOTHING),
    "data.sdss.throughput_grace_s": (5.0, NOTHING),
    "data.sdss.max_failed_fraction": (0.5, NOTHING),
    "data.desi.base_url": ("http://127.0.0.1:9/desi", NOTHING),
    "synthetic.format": ("desi", SHARDS_ON),
    "synthetic.n_type1": (21, EVERYTHING),
    "synthetic.n_type2": (26, EVERYTHING),
    "synthetic.n_intermediate": (16, EVERYTHING),
    "synthetic.physics": ({"z_max": 0.25}, EVERYTHING),
    "reduce.wavelength_min": (4050.0, REDUCE_ON),
    "reduce.wavelength_max": (5450.0, REDUCE_ON),
    "reduce.n_pixels": (900, REDUCE_ON),
    "reduce.norm_window": ([5070.0, 5130.0], REDUCE_ON),
    "reduce.norm_statistic": ("median", REDUCE_ON),
    "reduce.z_max": (0.7, REDUCE_ON),
    "reduce.max_masked_fraction": (0.2, REDUCE_ON),
    "reduce.min_pixel_coverage": (0.6, REDUCE_ON),
    "reduce.bad_mask_bits": ([0, 1], REDUCE_ON),
    "reduce.max_normalised_flux": (5000.0, REDUCE_ON),
    "reduce.min_normalised_scatter": (0.02, REDUCE_ON),
    "reduce.agn_gate": (True, REDUCE_ON),
    "limits.max_decompressed_mb": (32, REDUCE_ON),  # which files are read at all (and predict, scan_local)
    "limits.max_hdus": (100, REDUCE_ON),
    "limits.max_header_cards": (5000, REDUCE_ON),
    "split.test_fraction": (0.25, SPLIT_ON),
    "split.validation_fraction": (0.25, SPLIT_ON),
    "tsne.perplexities": ([6], TSNE),
    "tsne.tasks": (["binary"], NOTHING),  # fewer maps: nothing to redo
    "tsne.implementation": ("sklearn", TSNE),
    "tsne.n_iter": (350, TSNE),
    "tsne.early_exaggeration_iter": (150, TSNE),
    "tsne.theta": (0.55, TSNE),
    "tsne.pca_components": (8, TSNE),
    "classify.tasks": (["binary"], NOTHING),
    "classify.kernels": (["linear", "rbf"], SELECT_ON | {"plot_grid"}),
    "classify.cv_folds": (2, CLASSIFY_ON),
    "classify.calibration_folds": (3, CLASSIFY_ON),
    "classify.search_scores": ("probabilities", CLASSIFY_ON),
    "classify.scoring": ("accuracy", CLASSIFY_ON),
    "classify.refit_on_train_validation": (False, SELECT_ON),
    "classify.scale_variance": (True, CLASSIFY_ON),
    "classify.selection": ("best", CLASSIFY_ON),
    "classify.host_augmentation.share": (0.5, CLASSIFY_ON),
    "classify.host_augmentation.fraction_max": (0.4, CLASSIFY_ON),
    "classify.host_augmentation.young_fraction_max": (0.3, CLASSIFY_ON),
    "classify.host_augmentation.sigma_min_kms": (90.0, CLASSIFY_ON),
    "classify.host_augmentation.sigma_max_kms": (250.0, CLASSIFY_ON),
    "classify.host_augmentation.slope_max": (1.0, CLASSIFY_ON),
    "classify.host_augmentation.continuum_fraction_max": (0.2, CLASSIFY_ON),
    "classify.host_augmentation.bump_amplitude_max": (0.05, CLASSIFY_ON),
    "classify.host_augmentation.bump_count": (3, CLASSIFY_ON),
    "classify.host_augmentation.bump_sigma_min_angstrom": (200.0, CLASSIFY_ON),
    "classify.host_augmentation.bump_sigma_max_angstrom": (500.0, CLASSIFY_ON),
    "classify.grids.linear.C": ([0.05, 0.5], CLASSIFY_ON),
    "classify.grids.linear.class_weight": ([None], CLASSIFY_ON),
    "classify.grids.rbf.C": ([2.0], CLASSIFY_ON),
    "classify.grids.rbf.gamma": ([0.02], CLASSIFY_ON),
    "classify.grids.rbf.coef0": ([1.0], CLASSIFY_ON),
    "classify.grids.rbf.class_weight": ([None], CLASSIFY_ON),
    "classify.grids.poly2.C": ([2.0], CLASSIFY_ON),
    "classify.grids.poly2.gamma": ([0.02], CLASSIFY_ON),
    "classify.grids.poly2.coef0": ([0.5], CLASSIFY_ON),
    "classify.grids.poly2.class_weight": ([None], CLASSIFY_ON),
    "classify.grids.poly3.C": ([2.0], CLASSIFY_ON),
    "classify.grids.poly3.gamma": ([0.02], CLASSIFY_ON),
    "classify.grids.poly3.coef0": ([0.5], CLASSIFY_ON),
    "classify.grids.poly3.class_weight": ([None], CLASSIFY_ON),
    "classify.tsne_svm": (True, frozenset({"fit_tsne_svm", "plot_tsne_svm"})),
    "classify.tsne_svm_C": (3.0, NOTHING),  # the tiny run has no t-SNE SVM (classify.tsne_svm: false)
    "classify.tsne_svm_grid_points": (100, NOTHING),
    "explain.n_random_per_class": (2, frozenset({"select_explained", "plot_saliency_spectra", "plot_tsne_highlight"})),
    "explain.smooth_pixels": (3, frozenset({"plot_saliency_spectra", "plot_saliency_means"})),
    "explain.methods": (["gradient", "smoothgrad"], EXPLAIN),
    "explain.integrated_gradients.n_steps": (16, EXPLAIN),
    "explain.integrated_gradients.tolerance": (1.0e-5, EXPLAIN),
    "explain.smoothgrad.n_samples": (8, EXPLAIN),
    "explain.smoothgrad.noise": (0.05, EXPLAIN),
    "explain.faithfulness.steps": (5, FAITHFULNESS),
    "explain.faithfulness.random_orders": (2, FAITHFULNESS),
    "plots.format": ("pdf", FIGURES),  # new figure files
    "plots.dpi": (150, FIGURES),
    "predict.model": ("other.joblib", NOTHING),  # used by `snakemake predict` only
    "predict.ood_quantile": (0.95, NOTHING),  # used by `snakemake predict` only
    "predict.ood_neighbours": (3, NOTHING),  # used by `snakemake predict` only
    "predict.low_confidence_p_max": (0.7, NOTHING),  # used by `snakemake predict` only
    "predict.methods": (["gradient"], NOTHING),  # used by `snakemake predict` only
    "predict.n_shards": (3, NOTHING),  # used by `snakemake predict` only
    "predict.figures": ("all", NOTHING),  # used by `snakemake predict` only
    "predict.max_figures": (5, NOTHING),  # used by `snakemake predict` only
    "predict.catalog": (str(TINY), NOTHING),  # used by `snakemake predict` only (any existing file: checked at start)
    "predict_dir": ("/tmp", NOTHING),  # used by `snakemake predict` only
}


def schema_leaf_keys(node: dict, prefix: str = "") -> Iterator[str]:
    """Dotted paths of every leaf of the schema (``$ref`` resolved; open objects are leaves)."""
    if "$ref" in node:
        node = SCHEMA["$defs"][node["$ref"].rsplit("/", 1)[1]]
    properties = node.get("properties")
    if not properties:
        yield prefix
        return
    for name, child in properties.items():
        yield from schema_leaf_keys(child, f"{prefix}.{name}" if prefix else name)


def config_change(key: str, value: Any, workdir: Path) -> dict:
    """A nested config holding ``key = value`` (the grids are replaced whole: a config file merges section-wise)."""
    parts = key.split(".")
    if parts[:2] == ["classify", "grids"]:
        grids = yaml.safe_load(TINY.read_text())["classify"]["grids"]
        grids[parts[2]] = {**grids.get(parts[2], {}), parts[3]: value}
        return {"classify": {"grids": grids}}
    change: dict = {}
    node = change
    for part in parts[:-1]:
        node = node.setdefault(part, {})
    node[parts[-1]] = value
    if key == "data.source":  # the local source needs a folder: the run's own simulated files
        change["data"]["local_dir"] = str(workdir / "data")
    return change


def render_contract_table() -> str:
    """The "What reruns when" table of docs/running.md: keys grouped by the rules they rerun."""
    by_group: dict[frozenset[str], list[str]] = {}
    for key, (_, rules) in CONTRACT.items():
        by_group.setdefault(rules, []).append(key)
    lines = ["| change | reruns |", "|---|---|"]
    for rules, keys in sorted(by_group.items(), key=lambda item: -len(item[0])):
        lines.append(f"| {', '.join(f'`{k}`' for k in keys)} | {GROUP_NAMES[rules]} |")
    return "\n".join(lines)


def test_every_schema_key_has_a_contract_row() -> None:
    leaves = set(schema_leaf_keys(SCHEMA))
    assert leaves - set(CONTRACT) == set(), "schema keys without a rerun contract"
    assert set(CONTRACT) - leaves == set(), "contract rows for keys the schema does not have"


def test_docs_show_the_contract() -> None:
    assert render_contract_table() in (REPO / "docs" / "running.md").read_text(), (
        "docs/running.md's 'What reruns when' table differs from tests/test_rerun_contract.py; paste:\n" + render_contract_table()
    )


def test_changes_rerun_exactly_the_contract(tiny_run: Path, tmp_path: Path) -> None:
    def planned(item: tuple[int, str]) -> tuple[str, set[str]]:
        number, key = item
        folder = tmp_path / str(number)
        folder.mkdir()
        jobs = planned_jobs(tiny_run, config_change(key, CONTRACT[key][0], tiny_run), folder)
        return key, set(jobs) - {"all"}

    with ThreadPoolExecutor(max_workers=2) as pool:
        observed = dict(pool.map(planned, enumerate(CONTRACT)))
    wrong = {
        key: {"expected": sorted(CONTRACT[key][1]), "planned": sorted(rules)}
        for key, rules in observed.items()
        if rules != CONTRACT[key][1]
    }
    assert not wrong, yaml.safe_dump(wrong)


def copy_without_metadata(run: Path, destination: Path) -> Path:
    """A copy of a finished run (file dates kept) whose ``.snakemake/`` is deleted."""
    shutil.copytree(run, destination, symlinks=True)  # copy2: modification times preserved
    shutil.rmtree(destination / ".snakemake")
    return destination


def test_contract_holds_with_metadata_deleted(tiny_run: Path, tmp_path: Path) -> None:
    """One key of every contract group, planned on a copy of the run without ``.snakemake/``."""
    workdir = copy_without_metadata(tiny_run, tmp_path / "run")
    assert planned_jobs(workdir) == Counter(), "a copy without metadata must be up to date"
    first_key_of_group: dict[frozenset[str], str] = {}
    for key, (_, rules) in CONTRACT.items():
        first_key_of_group.setdefault(rules, key)

    def planned(item: tuple[int, str]) -> tuple[str, set[str]]:
        number, key = item
        folder = tmp_path / str(number)
        folder.mkdir()
        return key, set(planned_jobs(workdir, config_change(key, CONTRACT[key][0], workdir), folder)) - {"all"}

    with ThreadPoolExecutor(max_workers=2) as pool:
        observed = dict(pool.map(planned, enumerate(first_key_of_group.values())))
    wrong = {
        key: {"expected": sorted(CONTRACT[key][1]), "planned": sorted(rules)}
        for key, rules in observed.items()
        if rules != CONTRACT[key][1]
    }
    assert not wrong, yaml.safe_dump(wrong)
    assert planned_jobs(workdir) == Counter(), "a dry run must not change what the next run does"


def test_metadata_deleted_real_rerun(tiny_run: Path, tmp_path: Path) -> None:
    """Delete ``.snakemake/``, change ``reduce.z_max``, run: exactly the contract's jobs run, once."""
    workdir = copy_without_metadata(tiny_run, tmp_path / "run")
    change = tmp_path / "change.yaml"
    change.write_text(yaml.safe_dump(config_change("reduce.z_max", 0.7, workdir)))
    result = run_tiny(workdir, "--cores", "2", configs=(change,))
    assert result.returncode == 0, result.stderr[-3000:]
    assert set(job_counts(result.stdout + result.stderr)) - {"all"} == CONTRACT["reduce.z_max"][1]
    settings = workdir / "results/settings/reduce_shard/shard=000/params.json"
    assert '"z_max": 0.7' in settings.read_text()
    shutil.rmtree(workdir / ".snakemake")
    assert planned_jobs(workdir, {"reduce": {"z_max": 0.7}}, tmp_path) == Counter(), "settings files rewritten needlessly"
