"""What a newcomer sees when the configuration is wrong: one line naming the key, and a way out.

Unit tests of :mod:`agn_saliency.settings` on the default configuration with one mistake each,
plus a dry run that shows the line reaches the terminal.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml
from helpers import REPO, run_tiny

from agn_saliency import settings

SCHEMA = yaml.safe_load((REPO / settings.SCHEMA_PATH).read_text(encoding="utf-8"))
CONFIG = yaml.safe_load((REPO / settings.CONFIG_PATH).read_text(encoding="utf-8"))


def changed(**sections: dict) -> dict:
    """The default configuration with ``sections`` merged in, one level deep."""
    config = copy.deepcopy(CONFIG)
    for name, values in sections.items():
        if isinstance(values, dict) and isinstance(config.get(name), dict):
            config[name].update(values)
        else:
            config[name] = values
    return config


def test_a_misspelt_key_names_the_key_it_resembles() -> None:
    config = changed(predict={"n_shard": 8})
    [line] = settings.schema_errors(config, SCHEMA)
    assert line.startswith("unknown key(s) 'n_shard' in predict (did you mean `predict.n_shards`?); allowed: "), line


def test_a_misspelt_top_level_key_is_suggested_without_a_section() -> None:
    config = changed(sed=3)
    [line] = settings.schema_errors(config, SCHEMA)
    assert "unknown key(s) 'sed' in the top level (did you mean `seed`?)" in line, line


def test_a_nested_misspelt_key_is_suggested_with_its_whole_path() -> None:
    config = copy.deepcopy(CONFIG)
    config["data"]["sdss"]["time_out_s"] = 5
    [line] = settings.schema_errors(config, SCHEMA)
    assert "in data.sdss (did you mean `data.sdss.timeout_s`?)" in line, line


def test_a_key_like_no_other_gets_no_suggestion() -> None:
    [line] = settings.schema_errors(changed(zzzzqqq=1), SCHEMA)
    assert "did you mean" not in line and "allowed: " in line, line


def test_dry_run_prints_the_suggestion(tmp_path: Path) -> None:
    result = run_tiny(tmp_path, "-n", "--config", "predict={n_shard: 8}")
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert "did you mean `predict.n_shards`?" in message, message[-2000:]


def test_base_urls_must_be_http_or_https() -> None:
    """The downloader speaks HTTP only (download_shard refuses anything else): the schema says so first."""
    for key in ("sdss", "desi"):
        for url in ("file:///data/sas", "ftp://alice:s3cret@mirror/sas", "data.sdss.org/sas"):
            config = copy.deepcopy(CONFIG)
            config["data"][key]["base_url"] = url
            problems = settings.schema_errors(config, SCHEMA)
            assert len(problems) == 1 and problems[0].startswith(f"data.{key}.base_url: "), problems
            assert problems[0].endswith("is not an http:// or https:// URL") and "s3cret" not in problems[0], problems
    config = copy.deepcopy(CONFIG)
    config["data"]["sdss"]["base_url"] = "http://127.0.0.1:8080/sas"
    assert settings.schema_errors(config, SCHEMA) == []


def test_missing_catalogs_and_folders_are_named_with_their_key_and_path(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "spectra").mkdir()
    (tmp_path / "ids.csv").write_text("plate,mjd,fiberid\n")
    cases = [
        (
            changed(data={"source": "sdss", "catalog": "agn.csv"}),
            f"data.catalog='agn.csv' ({tmp_path / 'agn.csv'}) does not exist",
        ),
        (
            changed(data={"source": "local", "local_dir": "spectra", "catalog": "spectra"}),
            "data.catalog='spectra' (" + str(tmp_path / "spectra") + ") is a folder",
        ),
        (
            changed(data={"source": "local", "local_dir": str(tmp_path / "typo")}),
            f"data.local_dir='{tmp_path / 'typo'}' does not exist",
        ),
        (changed(data={"source": "local", "local_dir": ""}), "data.local_dir: data.source local needs a folder"),
        (changed(predict={"catalog": str(tmp_path / "nope.csv")}), f"predict.catalog='{tmp_path / 'nope.csv'}' does not exist"),
        (changed(predict_dir=str(tmp_path / "ids.csv")), f"predict_dir='{tmp_path / 'ids.csv'}' is a file, not a folder"),
    ]
    for config, expected in cases:
        problems = settings.check_config(config)
        assert len(problems) == 1 and problems[0].startswith(expected), (expected, problems)
    fine = [
        changed(data={"catalog": "unused.csv", "local_dir": "/nonexistent"}),  # synthetic: neither is read
        changed(data={"source": "local", "local_dir": "spectra"}, predict={"catalog": "ids.csv"}, predict_dir="spectra"),
    ]
    for config in fine:
        assert settings.check_config(config) == [], config


def test_dry_run_stops_on_a_missing_catalog_before_the_dag(tmp_path: Path) -> None:
    """Once a raw InputFunctionException of rule split_sample, at DAG time: now one line at parse time."""
    result = run_tiny(tmp_path, "-n", "--config", "data={source: sdss, catalog: agn.csv}")
    message = result.stdout + result.stderr
    assert result.returncode != 0
    assert f"data.catalog='agn.csv' ({tmp_path / 'agn.csv'}) does not exist" in message, message[-2000:]
    assert "Building DAG" not in message and "InputFunctionException" not in message, message[-2000:]
