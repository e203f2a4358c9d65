"""End-to-end tests of the Snakemake workflow on the tiny configuration (≈60 spectra).

One real run (the session fixture ``tiny_run`` in conftest) in a temporary working directory, then dry runs that check what a
config change reruns, the lint, the schema, and the report.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml
from astropy import units as u
from astropy.table import Table
from helpers import REAL_DIR, REPO, SNAKEMAKE, TINY, needs_real
from helpers import run_tiny as snakemake

from agn_saliency.acquire.inventory import folder_label
from agn_saliency.explain.maps import read_saliency
from agn_saliency.io.tables import read_table

pytestmark = pytest.mark.workflow


def planned_jobs(workdir: Path, change: dict | None = None, tmp_path: Path | None = None) -> Counter:
    """Jobs per rule a dry run plans after an optional config change (empty Counter: nothing to do)."""
    configs: tuple[Path, ...] = ()
    if change is not None:
        extra = tmp_path / "change.yaml"
        extra.write_text(yaml.safe_dump(change))
        configs = (extra,)
    result = snakemake(workdir, "-n", "--cores", "2", configs=configs)
    assert result.returncode == 0, result.stderr[-3000:]
    return job_counts(result.stdout + result.stderr)


def job_counts(text: str) -> Counter:
    """Jobs per rule in a Snakemake run's or dry run's "Job stats" table (empty: nothing to do)."""
    jobs: Counter = Counter()
    if "Job stats:" not in text:
        assert "Nothing to be done" in text, text[-2000:]
        return jobs
    table = text.split("Job stats:", 1)[1].splitlines()
    for line in table[3:]:
        parts = line.split()
        if len(parts) != 2 or parts[0] == "total":
            break
        jobs[parts[0]] = int(parts[1])
    return jobs


def test_tiny_run_products(tiny_run: Path) -> None:
    tiny = yaml.safe_load(TINY.read_text())
    n_expected = sum(tiny["synthetic"][k] for k in ("n_type1", "n_type2", "n_intermediate"))
    with h5py.File(tiny_run / "results/reduced/cube.h5", "r") as cube:
        n_cube = cube["flux"].shape[0]
        assert cube["flux"].shape[1] == 1000
        assert cube["wavelength"].attrs["unit"] == "Angstrom"
        assert set(cube["meta"]) >= {"specid", "plate", "mjd", "fiberid", "z", "label", "source_file"}
        assert cube["flux"].compression == "gzip"
        json.loads(cube.attrs["config"])
    rejected = read_table(tiny_run / "results/reduced/rejected.ecsv")
    assert n_cube + len(rejected) == n_expected
    from astropy.table import Table

    spectra = Table.read(tiny_run / "results/reduced/spectra.ecsv")  # the cube's metadata, one row per spectrum
    assert len(spectra) == n_cube and str(spectra["norm_flux"].unit) == "1e-17 erg / (Angstrom s cm2)"
    for task in ("binary", "multiclass"):
        metrics = json.loads((tiny_run / f"results/metrics/{task}.json").read_text())
        for key in (
            "accuracy",
            "balanced_accuracy",
            "macro_f1",
            "weighted_f1",
            "per_class",
            "confusion_matrix",
            "best_params",
            "kernel",
        ):
            assert key in metrics
        assert (tiny_run / f"results/models/{task}.joblib").stat().st_size > 0
        for kernel in ("linear", "rbf", "poly2", "poly3"):
            assert (tiny_run / f"results/models/{task}/{kernel}.joblib").exists()
    assert (tiny_run / "results/plots/sample_spectra.png").stat().st_size > 10_000
    # No temporary (half-written) file anywhere in results/.
    assert not [p for p in (tiny_run / "results").rglob("*.tmp")]


def test_nothing_to_do_after_full_run(tiny_run: Path) -> None:
    assert planned_jobs(tiny_run) == Counter()


def test_perplexity_change_reruns_only_tsne(tiny_run: Path, tmp_path: Path) -> None:
    jobs = planned_jobs(tiny_run, {"tsne": {"perplexities": [6]}}, tmp_path)
    assert jobs, "a new perplexity must plan t-SNE jobs"
    allowed = {"embed_tsne", "plot_tsne", "plot_tsne_highlight", "all"}
    assert set(jobs) <= allowed, jobs
    assert jobs["embed_tsne"] == 2  # binary and multiclass class sets


def test_c_grid_change_reruns_classification_onward(tiny_run: Path, tmp_path: Path) -> None:
    grids = yaml.safe_load(TINY.read_text())["classify"]["grids"]
    grids["linear"]["C"] = [0.05, 0.5]
    jobs = planned_jobs(tiny_run, {"classify": {"grids": grids}}, tmp_path)
    assert jobs["search_grid"] == 2  # the linear kernel of both tasks, no other kernel
    assert jobs["select_model"] == 2
    assert not {"simulate_catalog", "simulate_shard", "reduce_shard", "merge_cube", "embed_tsne", "split_sample"} & set(jobs)


def test_reduction_change_reruns_everything_after_acquisition(tiny_run: Path, tmp_path: Path) -> None:
    jobs = planned_jobs(tiny_run, {"reduce": {"n_pixels": 900}}, tmp_path)
    assert jobs["reduce_shard"] == 2 and jobs["merge_cube"] == 1
    assert jobs["embed_tsne"] >= 1 and jobs["search_grid"] == 8
    assert not {"simulate_catalog", "simulate_shard"} & set(jobs)


def test_saliency_sample_change_reruns_only_explanation_plots(tiny_run: Path, tmp_path: Path) -> None:
    jobs = planned_jobs(tiny_run, {"explain": {"n_random_per_class": 2}}, tmp_path)
    assert jobs["select_explained"] == 2 and jobs["plot_saliency_spectra"] == 2
    assert set(jobs) <= {"select_explained", "plot_saliency_spectra", "plot_tsne_highlight", "all"}, jobs


def test_explanation_products(tiny_run: Path) -> None:
    for task in ("binary", "multiclass"):
        selected = read_table(tiny_run / f"results/saliency/{task}_selected.ecsv")
        predictions = read_table(tiny_run / f"results/classify/{task}/test_predictions.ecsv")
        wrong = {row["specid"] for row in predictions if row["true"] != row["predicted"]}
        assert wrong <= {row["specid"] for row in selected}  # every misclassified test spectrum is explained
        plots = {p.stem for p in (tiny_run / f"results/plots/saliency/{task}").glob("*.png")}
        assert plots == {row["specid"] for row in selected}
        with h5py.File(tiny_run / f"results/saliency/{task}.h5", "r") as handle:
            assert handle["saliency"].shape == (len(predictions), 2 if task == "binary" else 3, 1000)
        for name in (
            f"saliency_means/{task}.png",
            f"saliency_lines/{task}.png",
            f"robustness/{task}.png",
            f"tsne_highlight/{task}.png",
        ):
            assert (tiny_run / "results/plots" / name).stat().st_size > 10_000


def test_report_holds_every_figure(tiny_run: Path) -> None:
    result = snakemake(tiny_run, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (tiny_run / "results/report.html").read_text(errors="replace")
    figures = [p for p in (tiny_run / "results/plots").rglob("*.png")]
    assert figures
    for figure in figures:
        assert figure.name in html, f"{figure} missing from the report"


@needs_real
def test_predict_on_real_spectra(tiny_run: Path, spec_lite_factory) -> None:
    """Real files: the AGN gate sends galaxies to not_agn/uncertain and AGN to agn; spectra the model
    never saw the like of (a real starburst, a synthetic spectrum with lines 100× the continuum) are ood."""
    folder = tiny_run.parent / "real_and_extreme"
    shutil.copytree(REAL_DIR, folder, ignore=shutil.ignore_patterns("*.csv", "*.md"))
    extreme = spec_lite_factory(folder=folder, plate=9999, mjd=55555, fiberid=1, z=0.1, continuum=10.0, line_amplitude=1000.0)
    result = snakemake(tiny_run, "--cores", "2", "predict", "--config", f"predict_dir={folder}")
    assert result.returncode == 0, result.stderr[-3000:]
    out = tiny_run / "results/predict" / folder_label(folder)
    # the terminal says how many files got no usable class, and where to read why
    told = ("files rejected (verdict rejected: 2, not_agn: ", f"see results/predict/{folder_label(folder)}/predictions.ecsv")
    assert all(words in result.stderr for words in told), result.stderr[-3000:]
    table = Table.read(out / "predictions.ecsv")
    assert table["hbeta_flux"].unit == u.Unit("1e-17 erg / (s cm2)") and table["broad_fwhm"].unit == u.km / u.s
    assert table.meta["ood"]["quantile"] == 0.99 and table.meta["ood"]["threshold"] > 0
    rows = read_table(out / "predictions.ecsv")
    index = {r["file"]: r for r in csv.DictReader((REAL_DIR / "index.csv").open())}
    assert sorted(Path(r["file"]).name for r in rows) == sorted([*index, extreme.name])  # one row per file
    assert json.loads((out / "folder.json").read_text())["folder"] == str(folder.resolve())
    for row in rows:
        assert row["agn_status"] in ("agn", "not_agn", "uncertain") and row["gate_reason"]
        if Path(row["file"]).name == extreme.name:
            assert row["status"] == "ood", row
            continue
        expected = index[Path(row["file"]).name]
        if expected["expected"] == "not_agn":
            assert row["agn_status"] in ("not_agn", "uncertain"), row
        elif expected["expected"] in ("type1", "type2"):
            assert row["agn_status"] == "agn", row
        if float(expected["z"]) > 0.8:
            assert row["status"] == "rejected" and "redshift" in row["reason"]
            assert not (out / "plots" / f"{row['key']}.png").exists()
        else:
            assert row["status"] in ("ok", "ood") and row["predicted"] in ("type1", "type2", "intermediate")
            assert (row["status"] == "ood") == bool(row["reason"])
            probabilities = [float(row[f"p_{c}"]) for c in ("type1", "type2", "intermediate")]
            assert abs(sum(probabilities) - 1) < 1e-3
            assert row["key"] == Path(row["file"]).stem
            assert (out / "plots" / f"{row['key']}.png").exists()
    starburst = next(row for row in rows if Path(row["file"]).name == "spec-2880-54509-0230.fits")
    assert starburst["status"] == "ood" and starburst["agn_status"] == "not_agn"  # lines ~200× the continuum


def test_every_test_spectrum_has_every_map_and_faithful_ones(tiny_run: Path) -> None:
    """Issue 10 on the tiny run: no all-zero log-odds map, integrated gradients complete to 1e-6,
    and every method's deletion curve falls faster than random pixel orders."""
    methods = yaml.safe_load((REPO / "config/config.yaml").read_text())["explain"]["methods"]
    for task in ("binary", "multiclass"):
        result = read_saliency(tiny_run / f"results/saliency/{task}.h5")
        assert result.methods == methods
        assert np.all(np.abs(result.predicted_map("logit_gradient")).max(axis=1) > 0)
        assert result.completeness is not None and result.completeness.max() <= 1e-6
        table = read_table(tiny_run / f"results/saliency/{task}_faithfulness.ecsv")
        assert [row["method"] for row in table] == methods
        for row in table:
            assert float(row["deletion_margin"]) > 0, row
            assert float(row["top_k_chance"]) > 0 and float(row["top_k_fraction"]) > float(row["top_k_chance"]), row
        assert (tiny_run / f"results/plots/faithfulness/{task}.png").stat().st_size > 10_000


def test_lint_is_clean() -> None:
    result = subprocess.run(SNAKEMAKE + ["--lint"], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.parametrize(
    "change, words",
    [
        ({"reduce": {"n_pixel": 900}}, ["n_pixel"]),
        ({"tsne": {"perplexities": "fifty"}}, ["perplexities", "fifty"]),
        ({"seed": "abc"}, ["seed", "abc"]),
        ({"data": {"sdss": {"base_url": "ftps://alice:s3cret@host/sas"}}}, ["data.sdss.base_url", "'ftps://***@host/sas'"]),
    ],
)
def test_schema_rejects_unknown_key_and_wrong_type(tmp_path: Path, change: dict, words: list[str]) -> None:
    extra = tmp_path / "bad.yaml"
    extra.write_text(yaml.safe_dump(change))
    result = snakemake(tmp_path, "-n", configs=(extra,))
    assert result.returncode != 0
    message = result.stdout + result.stderr  # Snakemake 9 prints workflow errors on stdout
    assert "Error validating config" in message, message[-2000:]
    for word in words:
        assert word in message, message[-2000:]
    assert "s3cret" not in message, "a login in a URL was printed"


@pytest.mark.parametrize(
    "change, words",
    [
        ({"reduce": {"wavelength_min": 6000.0}}, ["reduce.wavelength_min/max", "6000"]),
        ({"reduce": {"norm_window": [5120.0, 5080.0]}}, ["reduce.norm_window", "increasing"]),
        ({"reduce": {"norm_window": [5600.0, 5700.0]}}, ["reduce.norm_window", "inside the grid"]),
        ({"reduce": {"n_pixels": 2}}, ["reduce.norm_window", "holds no pixel", "reduce.n_pixels"]),
        ({"split": {"test_fraction": 0.7, "validation_fraction": 0.5}}, ["intermediate", "classify.cv_folds", "0.7 test"]),
        ({"classify": {"scoring": "f1_marco"}}, ["classify.scoring", "'f1_marco'", "'f1_macro'"]),
        ({"synthetic": {"n_intermediate": 4}}, ["intermediate: 4 spectra", "synthetic.n_intermediate", "classify.cv_folds"]),
        ({"synthetic": {"n_type1": 1, "n_type2": 0, "n_intermediate": 0}}, ["type2", "has none", "type1: 1 spectra"]),
        ({"tsne": {"perplexities": [500]}}, ["tsne.perplexities [500]", "at most 45 spectra"]),
        ({"data": {"source": "sdss"}}, ["data.catalog", "needs a catalog"]),
        ({"typo_key": 1}, ["unknown key(s) 'typo_key' in the top level", "allowed:"]),
        # Bounds of the code that uses the value (issue 22, item 11), not failures in every job.
        ({"explain": {"integrated_gradients": {"n_steps": 513}}}, ["explain.integrated_gradients.n_steps = 513", "at most 512"]),
        ({"explain": {"smooth_pixels": 901}, "reduce": {"n_pixels": 900}}, ["explain.smooth_pixels", "901 px", "n_pixels = 900"]),
        ({"synthetic": {"physics": {"z_min": 0.25, "z_max": 0.1}}}, ["synthetic.physics", "z_min (0.25) exceeds z_max (0.1)"]),
        ({"synthetic": {"physics": {"z_mni": 0.1}}}, ["'z_mni' in synthetic.physics", "z_min"]),
    ],
)
def test_errors_known_at_start_stop_before_any_job(tmp_path: Path, change: dict, words: list[str]) -> None:
    extra = tmp_path / "bad.yaml"
    extra.write_text(yaml.safe_dump(change))
    result = snakemake(tmp_path, "-n", configs=(extra,))
    message = result.stdout + result.stderr
    assert result.returncode != 0, message[-2000:]
    assert "Building DAG" not in message or "Invalid configuration" in message, message[-2000:]
    for word in words:
        assert word in message, message[-2000:]
    assert "$defs" not in message and "additionalProperties" not in message, "the schema was printed"
    assert not (tmp_path / "results").exists(), "a job ran"


def test_small_sample_may_still_ask_for_the_cube(tmp_path: Path) -> None:
    """The sample-size checks belong to the jobs that split and embed: the cube alone is fine."""
    extra = tmp_path / "small.yaml"
    extra.write_text(yaml.safe_dump({"synthetic": {"n_type1": 3, "n_type2": 3, "n_intermediate": 0}}))
    result = snakemake(tmp_path, "-n", "results/reduced/cube.h5", configs=(extra,))
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]


def test_results_and_data_readable_as_the_umask_says(tiny_run: Path) -> None:
    """Temporary files renamed into place must not keep mkstemp's private 0600 (the tests run with umask 022)."""
    umask = os.umask(0o022)
    os.umask(umask)
    private = [
        path
        for folder in ("results", "data")
        for path in (tiny_run / folder).rglob("*")
        if (path.stat().st_mode & 0o777) != ((0o777 if path.is_dir() else 0o666) & ~umask)
    ]
    assert not private, f"{len(private)} files with another mode, e.g. {[(str(p), oct(p.stat().st_mode)) for p in private[:3]]}"


def test_cube_describes_itself(tiny_run: Path) -> None:
    """Units astropy parses, the frame and medium, the mask's meaning, and the physical flux recoverable."""
    from astropy import units as u

    from agn_saliency.spectra.sdss import read_spectrum

    with h5py.File(tiny_run / "results/reduced/cube.h5", "r") as cube:
        wavelength = cube["wavelength"]
        assert u.Unit(wavelength.attrs["unit"]) == u.AA
        assert (wavelength.attrs["frame"], wavelength.attrs["medium"]) == ("rest", "vacuum")
        for name in ("flux", "ivar", "mask"):
            assert u.Unit(cube[name].attrs["unit"]) == u.dimensionless_unscaled and cube[name].attrs["description"]
        assert list(cube["flux"].attrs["norm_window"]) == [5080.0, 5120.0]
        assert u.Unit(cube["meta/norm_flux"].attrs["unit"]) == 1e-17 * u.erg / u.s / u.cm**2 / u.AA
        z_source = set(cube["meta/z_source"].asstr()[()])
        assert z_source <= {"catalog", "file"} and z_source
        assert set(cube["meta/sdss_class"].asstr()[()]) - {""}, "the SDSS CLASS is kept"
        assert np.isfinite(cube["meta/z_err"][()]).all() and (cube["meta/zwarning"][()] >= 0).all()
        first_file = cube["meta/source_file"].asstr()[0]
        norm_flux, z = cube["meta/norm_flux"][0], cube["meta/z"][0]
    spectrum = read_spectrum(tiny_run / first_file)
    rest = spectrum.wavelength / (1 + z)
    window = (rest >= 5080) & (rest <= 5120) & (spectrum.ivar > 0)
    assert norm_flux == pytest.approx(np.median(spectrum.flux[window]), rel=0.1)
