"""Every configuration key is described once, in the schema, and the reference pages are made from it.

* every key of workflow/schemas/config.schema.yaml (through ``properties``, ``$ref`` / ``$defs``,
  ``allOf`` and ``items``) has a non-empty ``description``;
* config/README.md and docs/configuration.md are what :func:`agn_saliency.settings.reference_pages`
  makes of the schema today;
* config/config.yaml and the schema name the same keys, with the same defaults;
* the simulator's parameters (``synthetic.physics``) are the schema's, with its defaults and ranges.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
import yaml
from helpers import REPO

from agn_saliency import settings
from agn_saliency.acquire.simulate import SimulationParameters

SCHEMA = yaml.safe_load((REPO / settings.SCHEMA_PATH).read_text(encoding="utf-8"))
CONFIG = yaml.safe_load((REPO / settings.CONFIG_PATH).read_text(encoding="utf-8"))


def undescribed(schema: Mapping[str, Any]) -> list[str]:
    """Where a key (or the schema, or a ``$defs`` entry) lacks a non-empty description.

    A key's description is its own or, for a bare ``$ref``, its target's. Walks ``properties``,
    ``$ref``, ``allOf``, ``anyOf``, ``oneOf`` and ``items`` from the top and from every ``$defs``
    entry (so a definition no key uses yet is checked too).
    """
    missing: list[str] = []
    seen: set[int] = set()

    def target(node: Mapping[str, Any]) -> Mapping[str, Any]:
        return schema["$defs"][node["$ref"].rsplit("/", 1)[-1]]

    def described(node: Mapping[str, Any]) -> bool:
        text = node.get("description")
        if not (isinstance(text, str) and text.strip()) and "$ref" in node:
            text = target(node).get("description")
        return isinstance(text, str) and bool(text.strip())

    def walk(node: Any, where: str) -> None:
        if not isinstance(node, Mapping) or id(node) in seen:
            return
        seen.add(id(node))
        for name, child in node.get("properties", {}).items():
            key = f"{where}.{name}" if where else name
            if not described(child):
                missing.append(key)
            walk(child, key)
        if "$ref" in node:
            walk(target(node), where)
        for keyword in ("allOf", "anyOf", "oneOf"):
            for part in node.get(keyword, []):
                walk(part, where)
        walk(node.get("items"), f"{where}[]")

    if not described(schema):
        missing.append("(the schema)")
    walk(schema, "")
    for name, definition in schema.get("$defs", {}).items():
        if not described(definition):
            missing.append(f"$defs/{name}")
        walk(definition, f"$defs/{name}")
    return missing


def config_keys(node: Mapping[str, Any], prefix: str = "") -> Iterator[str]:
    """Dotted path of every key of a configuration mapping (sections and their keys)."""
    for name, value in node.items():
        key = f"{prefix}.{name}" if prefix else name
        yield key
        if isinstance(value, Mapping):
            yield from config_keys(value, key)


# ----------------------------------------------------------------------------- descriptions


def test_every_schema_key_is_described() -> None:
    assert undescribed(SCHEMA) == [], "keys of the config schema without a description"


GOOD = {
    "description": "top",
    "$defs": {
        "grid": {"description": "a grid", "type": "object", "properties": {"C": {"description": "C", "type": "number"}}},
        "number": {"description": "a number", "type": "number"},
    },
    "properties": {
        "a": {"description": "a", "type": "object", "properties": {"b": {"$ref": "#/$defs/number"}}},
        "g": {"$ref": "#/$defs/grid"},
        "p": {"description": "p", "allOf": [{"$ref": "#/$defs/grid"}]},
        "rows": {"description": "rows", "type": "array", "items": {"properties": {"x": {"description": "x"}}}},
    },
}


def _without(schema: dict, *path: str) -> dict:
    """A copy of ``schema`` with the ``description`` at ``path`` (a list of keys) removed."""
    copy = yaml.safe_load(yaml.safe_dump(schema))
    node = copy
    for part in path:
        node = node[part]
    del node["description"]
    return copy


@pytest.mark.parametrize(
    "schema, missing",
    [
        (GOOD, []),
        (_without(GOOD, "properties", "a"), ["a"]),
        (_without(GOOD, "$defs", "number"), ["a.b", "$defs/number"]),  # a bare $ref may take its target's
        (_without(GOOD, "$defs", "grid", "properties", "C"), ["g.C"]),  # a definition is walked once, where first reached
        (_without(GOOD, "properties", "rows", "items", "properties", "x"), ["rows[].x"]),
        (_without(GOOD, "properties", "p"), ["p"]),  # allOf: the key's own description is needed
        (_without(GOOD), ["(the schema)"]),
        ({**GOOD, "properties": {**GOOD["properties"], "e": {"description": "  ", "type": "string"}}}, ["e"]),
    ],
    ids=["described", "key", "ref-target", "ref-target-key", "items", "allOf", "top", "blank"],
)
def test_undescribed_finds_every_missing_description(schema: dict, missing: list[str]) -> None:
    assert undescribed(schema) == missing


# ----------------------------------------------------------------------------- generated pages


def test_reference_pages_are_current() -> None:
    for path, text in settings.reference_pages(SCHEMA, CONFIG).items():
        assert (REPO / path).is_file(), f"{path} is missing: run `{settings.REGENERATE}` in the repository"
        assert (REPO / path).read_text(encoding="utf-8") == text, (
            f"{path} differs from what the schema gives: run `{settings.REGENERATE}` in the repository"
        )


def test_check_command_agrees(tmp_path, capsys) -> None:
    assert settings.main(["--check", "--root", str(REPO)]) == 0
    (tmp_path / "workflow/schemas").mkdir(parents=True)
    (tmp_path / "config").mkdir()
    (tmp_path / settings.SCHEMA_PATH).write_text((REPO / settings.SCHEMA_PATH).read_text(encoding="utf-8"), encoding="utf-8")
    (tmp_path / settings.CONFIG_PATH).write_text((REPO / settings.CONFIG_PATH).read_text(encoding="utf-8"), encoding="utf-8")
    assert settings.main(["--check", "--root", str(tmp_path)]) == 1
    assert "run `python -m agn_saliency.settings --write-reference`" in capsys.readouterr().out
    assert settings.main(["--write-reference", "--root", str(tmp_path)]) == 0
    assert settings.main(["--check", "--root", str(tmp_path)]) == 0


def test_reference_shows_every_key_once() -> None:
    body = settings.config_reference(SCHEMA, CONFIG)
    for key, node in settings.schema_keys(SCHEMA):
        if "properties" in node:  # a section: a heading one level deeper than its parent's
            assert body.count(f"\n{'#' * (2 + key.count('.'))} {key}\n") == 1, key
        else:
            assert body.count(f"| `{key}` |") == 1, key
    assert not re.search(r"<[A-Za-z/!]", re.sub(r"`[^`]*`", "", body)), "raw HTML outside code spans"


def test_reference_rows() -> None:
    body = settings.config_reference(SCHEMA, CONFIG)
    assert "| `data.sdss.timeout_s` | number | `30.0` | s | > 0 | Connect timeout" in body
    assert "| `reduce.norm_window` | list of number | `[5080.0, 5120.0]` | Å | exactly 2 items; each > 0 |" in body
    assert "| `explain.integrated_gradients.tolerance` | number | `1.0e-6` |  | (0, 1] |" in body
    assert "| `synthetic.physics.noise_scale` | number | `0.013` |  | > 0 |" in body  # the simulator's default
    assert "| `classify.grids.rbf.coef0` | list of number | — |" in body
    assert "| `data.sdss.base_url` | string | `https://data.sdss.org/sas` |  | matches `^https?://` |" in body


def test_a_pipe_inside_a_table_cell_is_escaped() -> None:
    schema = {"type": "object", "properties": {"url": {"type": "string", "pattern": "^(a|b)://", "description": "x | y"}}}
    body = settings.config_reference(schema, {})
    assert "| `url` | string | — |  | matches `^(a\\|b)://` | x \\| y |" in body


# ----------------------------------------------------------------------------- config.yaml ⇔ schema


def schema_nodes(
    node: Mapping[str, Any] = SCHEMA, prefix: str = ""
) -> Iterator[tuple[str, Mapping[str, Any], Mapping[str, Any]]]:
    """``(dotted key, its node as written, its parent as written)`` of every key of the schema."""
    for name, child in settings.resolve_schema(SCHEMA, node).get("properties", {}).items():
        key = f"{prefix}.{name}" if prefix else name
        yield key, child, node
        yield from schema_nodes(child, key)


def test_config_and_schema_name_the_same_keys_with_the_same_defaults() -> None:
    described = {key for key, _, _ in schema_nodes()}
    assert [key for key in config_keys(CONFIG) if key not in described] == [], "config.yaml keys the schema does not have"
    assert settings.schema_errors(CONFIG, SCHEMA) == []
    for key, node, parent in schema_nodes():
        node, name = settings.resolve_schema(SCHEMA, node), key.rpartition(".")[2]
        present, value = settings._config_value(CONFIG, key)
        if "default" in node:  # a default of its own: the key is in config.yaml, with that value
            assert present, f"{key} has a default in the schema but is not in {settings.CONFIG_PATH}"
            if node["default"] != {}:  # {}: a section whose keys are filled in one by one
                assert value == node["default"], f"{key}: {settings.CONFIG_PATH} says {value!r}, the schema {node['default']!r}"
        elif present and name in (inherited := settings.object_defaults(SCHEMA, parent)):
            assert value == inherited[name], f"{key}: {settings.CONFIG_PATH} says {value!r}, the schema {inherited[name]!r}"


# ----------------------------------------------------------------------------- the simulator's parameters


def test_physics_keys_are_the_simulators_parameters() -> None:
    definition = SCHEMA["$defs"]["simulation_parameters"]
    fields = {field.name: field.default for field in dataclasses.fields(SimulationParameters)}
    assert list(definition["properties"]) == list(fields), "schema and SimulationParameters list different parameters"
    assert definition["default"] == fields, "the schema's simulator defaults differ from SimulationParameters'"


@pytest.mark.parametrize("name", list(SCHEMA["$defs"]["simulation_parameters"]["properties"]))
def test_physics_ranges_are_the_simulators(name: str) -> None:
    """Every bound the schema states, the simulator enforces too (a value just outside is refused)."""
    node = SCHEMA["$defs"]["simulation_parameters"]["properties"][name]
    outside = []
    if "minimum" in node:
        outside.append(node["minimum"] - 1e-6)
    if "exclusiveMinimum" in node:
        outside.append(node["exclusiveMinimum"])
    if "maximum" in node:
        outside.append(node["maximum"] + 1e-6)
    for value in outside:
        with pytest.raises(ValueError, match=name):
            SimulationParameters(**{name: value})
