"""The workflow deployed as a Snakemake module, the way the Snakemake workflow catalog deploys it.

A foreign directory (not this checkout) holds its own ``config/config.yaml`` and a Snakefile that
only says ``module agn: snakefile: <checkout>/Snakefile, config: config`` and
``use rule * from agn``. Snakemake runs there to the end: every product lands in the foreign
directory's results/, none in the checkout, and a dry run afterwards has nothing to do.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib
import yaml
from helpers import REAL_DIR, REPO, TINY

import agn_saliency
from agn_saliency.acquire.inventory import folder_label

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"

MODULE_SNAKEFILE = """\
configfile: "config/config.yaml"


module agn:
    snakefile:
        "{snakefile}"
    config:
        config


use rule * from agn
"""


def deep_update(base: dict, extra: dict) -> dict:
    """``base`` with ``extra``'s values, merged key by key in nested mappings."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


def snakemake_in(folder: Path, *args: str) -> subprocess.CompletedProcess:
    """Snakemake (this interpreter's) run in ``folder`` on the Snakefile found there, as a user runs it."""
    return subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=folder, capture_output=True, text=True)


def write_deployment(folder: Path) -> Path:
    """``folder`` made a deployment: the workflow's own config/config.yaml edited to the tiny sample
    (what a user starts from), and a Snakefile that uses the workflow as a module."""
    (folder / "config").mkdir(parents=True)
    config = deep_update(yaml.safe_load((REPO / "config" / "config.yaml").read_text()), yaml.safe_load(TINY.read_text()))
    (folder / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    (folder / "Snakefile").write_text(MODULE_SNAKEFILE.format(snakefile=(REPO / "Snakefile").as_posix()))
    return folder


def listing(folder: Path) -> list[str] | None:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else None


@pytest.fixture(scope="module")
def deployment(tmp_path_factory) -> Path:
    """A foreign directory that uses the workflow as a module, run once to the end."""
    folder = write_deployment(tmp_path_factory.mktemp("deployment"))
    repo_results = listing(REPO / "results")
    result = snakemake_in(folder, "--cores", "2")
    if result.returncode != 0:
        pytest.fail(f"the workflow used as a module failed:\n{result.stderr[-6000:]}")
    assert listing(REPO / "results") == repo_results, "the module run wrote into the checkout's results/"
    return folder


@pytest.mark.workflow
def test_module_run_makes_every_product_in_the_foreign_directory(deployment: Path) -> None:
    results = deployment / "results"
    for task in ("binary", "multiclass"):
        metrics = json.loads((results / "metrics" / f"{task}.json").read_text())
        assert 0.0 <= metrics["balanced_accuracy"] <= 1.0 and 0.0 <= metrics["accuracy"] <= 1.0
        assert metrics["kernel"] in ("linear", "rbf", "poly2", "poly3")
        assert (results / "models" / f"{task}.joblib").stat().st_size > 0
        for figure in (results / "plots" / "confusion" / f"{task}.png", results / "plots" / "saliency_means" / f"{task}.png"):
            assert figure.read_bytes()[:8] == PNG_MAGIC, figure
        assert any((results / "plots" / "saliency" / task).glob("*.png"))
    assert (results / "plots" / "sample_spectra.png").stat().st_size > 10_000
    assert (deployment / "data").is_dir()  # the (simulated) spectra, written in the foreign directory too


@pytest.mark.workflow
def test_module_dry_run_after_the_run_has_nothing_to_do(deployment: Path) -> None:
    result = snakemake_in(deployment, "-n", "--cores", "2")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Nothing to be done" in result.stdout + result.stderr, (result.stdout + result.stderr)[-3000:]


@pytest.mark.workflow
def test_module_plans_predict_for_a_folder(deployment: Path) -> None:
    """`snakemake predict` works through the module too: results/predict/<folder_label> of the folder."""
    if not (REAL_DIR / "index.csv").is_file():
        pytest.skip(f"real SDSS spectra not available ({REAL_DIR} absent)")
    result = snakemake_in(deployment, "-n", "--cores", "2", "predict", "--config", f"predict_dir={REAL_DIR}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"results/predict/{folder_label(REAL_DIR)}/predictions.ecsv" in result.stdout + result.stderr


@pytest.mark.workflow
def test_module_report_finds_its_captions(deployment: Path) -> None:
    result = snakemake_in(deployment, "--report", "results/report.html")
    assert result.returncode == 0, result.stderr[-3000:]
    html = (deployment / "results" / "report.html").read_text(errors="replace")
    assert "confusion" in html and "saliency_means" in html


def test_library_is_the_workflow_version() -> None:
    """The Snakefile refuses an installed agn_saliency whose version is not pyproject.toml's."""
    assert agn_saliency.__version__ == tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]


# Snakemake run in-process after ``prelude`` (which hides or alters the installed library).
IN_PROCESS = "import sys\n{prelude}\nsys.argv = ['snakemake', '-n', '--cores', '1']\nfrom snakemake.cli import main\nmain()"


@pytest.mark.parametrize(
    "prelude, words",
    [
        ("sys.modules['agn_saliency'] = None", ["not installed", "pip install agn-saliency=="]),
        (
            "import agn_saliency; agn_saliency.__version__ = '0.0.0'",
            ["agn_saliency 0.0.0 is installed", "pip install agn-saliency=="],
        ),
    ],
    ids=["missing", "other-version"],
)
def test_module_without_its_library_stops_with_what_to_install(tmp_path: Path, prelude: str, words: list[str]) -> None:
    folder = write_deployment(tmp_path / "deployment")
    result = subprocess.run(
        [sys.executable, "-c", IN_PROCESS.format(prelude=prelude)], cwd=folder, capture_output=True, text=True
    )
    assert result.returncode != 0
    output = result.stdout + result.stderr  # in-process Snakemake logs to stdout
    for word in words:
        assert word in output, output[-3000:]
    assert not (folder / "results").exists()


def test_conda_envs_install_the_library_by_name_at_this_version() -> None:
    """envs/*.yaml cannot point pip at a checkout (a module user has none, and Snakemake copies the
    file into .snakemake/conda/, where conda runs pip): they pin the library by name instead, at
    the version of pyproject.toml."""
    version = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["version"]
    for env in sorted((REPO / "envs").glob("*.yaml")):
        pip = next(item["pip"] for item in yaml.safe_load(env.read_text())["dependencies"] if isinstance(item, dict))
        assert pip == [f"agn-saliency=={version}"], f"{env.name}: {pip}"
