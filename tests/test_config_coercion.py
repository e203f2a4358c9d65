"""Numbers, booleans and nulls nested in ``--config`` reach the schema as the types it asks for.

Snakemake reads a nested ``--config`` value with YAML's base loader (everything text);
:func:`agn_saliency.settings.coerce_config` reads each back by the schema's type for its key.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from helpers import REPO, run_tiny

from agn_saliency import settings

SCHEMA = yaml.safe_load((REPO / settings.SCHEMA_PATH).read_text(encoding="utf-8"))
CONFIG = yaml.safe_load((REPO / settings.CONFIG_PATH).read_text(encoding="utf-8"))


def with_text(**sections: dict) -> dict:
    """The default configuration with ``sections`` merged in (values as --config passes them: text)."""
    config = yaml.safe_load(yaml.safe_dump(CONFIG))
    for name, values in sections.items():
        config[name].update(values)
    return config


def test_nested_text_becomes_the_schema_type() -> None:
    config = with_text(
        explain={"n_random_per_class": "5", "smoothgrad": {"n_samples": "16", "noise": "0.1"}},
        tsne={"perplexities": ["5", "12.5"]},
        classify={"tsne_svm": "true", "grids": {"linear": {"C": ["0.07"], "class_weight": ["null", "balanced"]}}},
        data={"source": "sdss", "catalog": "123"},
    )
    settings.coerce_config(config, SCHEMA)
    assert config["explain"]["n_random_per_class"] == 5
    assert config["explain"]["smoothgrad"] == {"n_samples": 16, "noise": 0.1}
    assert config["tsne"]["perplexities"] == [5, 12.5]
    assert config["classify"]["tsne_svm"] is True
    assert config["classify"]["grids"]["linear"] == {"C": [0.07], "class_weight": [None, "balanced"]}
    assert config["data"]["catalog"] == "123"  # a path stays text, even one of digits
    assert not settings.schema_errors(config, SCHEMA)


def test_text_that_is_not_the_type_is_left_for_the_schema_to_name() -> None:
    config = with_text(explain={"n_random_per_class": "five"}, classify={"tsne_svm": "1"})
    settings.coerce_config(config, SCHEMA)
    problems = settings.schema_errors(config, SCHEMA)
    assert any(line.startswith("explain.n_random_per_class: 'five'") for line in problems), problems
    assert any(line.startswith("classify.tsne_svm: '1'") for line in problems), problems


def test_dry_run_takes_nested_numbers_from_the_command_line(tmp_path: Path) -> None:
    result = run_tiny(tmp_path, "-n", "--config", "explain={n_random_per_class: 5, smoothgrad: {n_samples: 8}}")
    assert result.returncode == 0, result.stderr[-3000:]
    result = run_tiny(tmp_path, "-n", "--config", "explain={n_random_per_class: many}")
    assert result.returncode != 0
    assert "explain.n_random_per_class: 'many' is not of type 'integer'" in result.stderr + result.stdout
