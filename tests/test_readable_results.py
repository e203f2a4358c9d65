"""Results a scientist can read: every column described, one verdict to filter on, uncertainties,
a flagged flux scale, and a terminal that says what runs and why a job failed.

* every column of every ECSV table of the finished tiny run and of a prediction of the real SDSS
  files carries a description and, where it has one, its unit (``agn_saliency.core.columns``);
* the output reference in docs/outputs.md is what :func:`agn_saliency.core.columns.reference_markdown` renders;
* on the real files: ``verdict`` is ``classified`` only where the gate says ``agn`` and the
  spectrum is in distribution; the gate's fluxes, EWs and broad FWHM have ``_err`` columns; the
  DR7 file with a flux row only (its values 10¹⁷ smaller than its BUNIT says) is ``implausible``;
* a run prints one line per job start and end; a failed job shows its log's last lines.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import astropy.units as u
import pytest
from astropy.table import Table
from helpers import REAL_DIR, REPO, needs_real, run_tiny

from agn_saliency import settings
from agn_saliency.acquire.inventory import folder_label
from agn_saliency.core.columns import TABLES, VERDICTS
from agn_saliency.predict.folder import add_verdicts, verdict

FLUX_ONLY_DR7 = "spSpec-52767-1329-180.fit"  # README of ../shared/data/sdss_real: the flux row only


def test_output_reference_is_current() -> None:
    text = (REPO / settings.OUTPUTS_PATH).read_text(encoding="utf-8")
    assert settings.outputs_page(text) == text, f"docs/outputs.md is out of date: run `{settings.REGENERATE}`"


def test_every_table_and_pattern_column_is_described() -> None:
    for schema in TABLES.values():
        assert schema.description and schema.path
        for column in schema.columns:
            assert column.description.strip(), (schema.key, column.name)
    assert TABLES["cv"].column("split12_test_score").description == "score on validation fold 12"
    assert TABLES["test_predictions"].column("p_intermediate").unit == ""
    with pytest.raises(KeyError, match="not described"):
        TABLES["predictions"].column("p_quasar")


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"status": "rejected", "agn_status": "agn"}, "rejected"),
        ({"status": "ok", "agn_status": "not_agn"}, "not_agn"),
        ({"status": "ood", "agn_status": "not_agn"}, "not_agn"),
        ({"status": "ood", "agn_status": "agn"}, "ood"),
        ({"status": "ood", "agn_status": "uncertain"}, "ood"),
        ({"status": "ok", "agn_status": "uncertain"}, "uncertain"),
        ({"status": "ok", "agn_status": "agn"}, "classified"),
    ],
)
def test_verdict_order(row: dict, expected: str) -> None:
    assert verdict(row) == expected and expected in VERDICTS


def test_low_confidence_follows_the_threshold() -> None:
    rows = [
        {"status": "ok", "agn_status": "agn", "p_type1": 0.55, "p_type2": 0.3, "p_intermediate": 0.15},
        {"status": "ok", "agn_status": "agn", "p_type1": 0.1, "p_type2": 0.8, "p_intermediate": 0.1},
        {"status": "rejected", "agn_status": "uncertain"},
    ]
    add_verdicts(rows, 0.6)
    assert [(r["p_max"], r["confidence"]) for r in rows] == [(0.55, "low"), (0.8, "high"), ("", "")]
    add_verdicts(rows, 0.5)
    assert rows[0]["confidence"] == "high"


def described(path: Path) -> list[str]:
    """Columns of an ECSV table without a description."""
    table = Table.read(path, format="ascii.ecsv")
    return [name for name in table.colnames if not (table[name].description or "").strip()]


@pytest.mark.workflow
def test_every_table_of_a_run_describes_every_column(tiny_run: Path) -> None:
    tables = sorted((tiny_run / "results").rglob("*.ecsv"))
    assert len(tables) >= 20
    missing = {str(path.relative_to(tiny_run)): names for path in tables if (names := described(path))}
    assert not missing, missing
    spectra = Table.read(tiny_run / "results/reduced/spectra.ecsv")
    assert spectra["norm_flux"].unit == u.Unit("1e-17 erg / (s cm2 Angstrom)")
    assert "redshift" in spectra["z"].description
    cv = Table.read(tiny_run / "results/classify/multiclass/rbf_cv.ecsv")
    assert cv["mean_fit_time"].unit == u.s and cv["split0_test_score"].description == "score on validation fold 0"


@pytest.fixture(scope="module")
def real_predictions(tiny_run: Path) -> Table:
    """predictions.ecsv of the real SDSS files, predicted with the tiny run's model."""
    if not (REAL_DIR / "index.csv").is_file():
        pytest.skip(f"real SDSS spectra not available ({REAL_DIR} absent)")
    result = run_tiny(tiny_run, "--cores", "2", "predict", "--config", f"predict_dir={REAL_DIR}")
    assert result.returncode == 0, result.stderr[-3000:]
    return Table.read(tiny_run / "results/predict" / folder_label(REAL_DIR) / "predictions.ecsv")


@needs_real
@pytest.mark.workflow
def test_real_predictions_are_readable_and_honest(real_predictions: Table, tiny_run: Path) -> None:
    table = real_predictions
    assert [name for name in table.colnames if not (table[name].description or "").strip()] == []
    assert "log10(gate's [OIII] 5008 flux / SDSS SPZLINE's)" in table["spzline_oiii_log_ratio"].description
    for row in table:
        classified = row["verdict"] == "classified"
        assert classified == (row["agn_status"] == "agn" and row["status"] == "ok"), (row["file"], row["verdict"])
        assert row["verdict"] in VERDICTS
    by_name = {Path(str(row["file"])).name: row for row in table}
    assert {name for name, row in by_name.items() if row["verdict"] == "not_agn"} >= {"spec-2880-54509-0230.fits"}
    for line in ("hbeta", "oiii_5008", "halpha", "nii_6585"):
        for quantity in ("flux", "ew"):
            assert table[f"{line}_{quantity}_err"].unit == table[f"{line}_{quantity}"].unit
        assert f"{line}_snr" in table.colnames
    assert table["broad_fwhm_err"].unit == u.km / u.s
    type1 = by_name["spec-0332-52367-0639.fits"]  # a broad Hα at S/N ~ 70
    assert type1["broad_line"] == "Hα" and 0 < type1["broad_fwhm_err"] < 0.2 * type1["broad_fwhm"]
    assert math.isclose(type1["broad_snr"], type1["broad_flux"] / type1["broad_flux_err"], rel_tol=1e-6)
    assert type1["halpha_flux_err"] > 0 and type1["halpha_ew_err"] > 0
    # The DR7 file whose values are erg/s/cm²/Å, not the 1e-17 of its BUNIT, is flagged; the others are not.
    assert by_name[FLUX_ONLY_DR7]["flux_scale"] == "implausible" and by_name[FLUX_ONLY_DR7]["median_flux"] < 1e-10
    assert {row["flux_scale"] for name, row in by_name.items() if name != FLUX_ONLY_DR7} <= {"ok", ""}
    assert table.meta["low_confidence_p_max"] == 0.6
    record = json.loads((tiny_run / "results/predict" / folder_label(REAL_DIR) / "folder.json").read_text())
    assert sum(record["verdict"].values()) == len(table)
    # the count of out-of-distribution rows and the calibration behind it are both kept
    assert record["ood"] == sum(table["status"] == "ood") and record["ood_calibration"] == table.meta["ood"]


@needs_real
@pytest.mark.workflow
def test_low_confidence_threshold_reruns_only_predict(real_predictions: Table, tiny_run: Path) -> None:
    result = run_tiny(tiny_run, "-n", "predict", "--config", f"predict_dir={REAL_DIR}", "predict={low_confidence_p_max: 0.9}")
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "predict_spectra" in output and "search_grid" not in output and "compute_saliency" not in output


@pytest.mark.workflow
def test_terminal_says_what_runs_and_why_a_job_failed(tiny_run: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    metrics = workdir / "results/metrics/binary.json"
    metrics.write_text("{broken")
    target = "results/plots/confusion/binary.png"
    result = run_tiny(workdir, "--cores", "1", "--rerun-triggers", "mtime", "--forcerun", "plot_confusion", "--", target)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Error in rule plot_confusion" in output
    assert "last " in output and "results/logs/plot_confusion/binary.log" in output and "JSONDecodeError" in output
    assert "Shell command" not in output
    log = (workdir / "results/logs/plot_confusion/binary.log").read_text()
    assert "JSONDecodeError" in log  # the traceback is in the log file too

    shutil.copy(tiny_run / "results/metrics/binary.json", metrics)
    result = run_tiny(workdir, "--cores", "1", "--rerun-triggers", "mtime", "--forcerun", "plot_confusion", "--", target)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "start plot_confusion (task=binary)" in output and "1/1 done plot_confusion (task=binary)" in output
    assert "Shell command" not in output and "input:" not in output
    assert len(output.splitlines()) < 60, output
