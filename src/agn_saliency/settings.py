"""Checks of a whole configuration that can be made before any job runs.

The JSON Schema (workflow/schemas/config.schema.yaml) checks each key on its own; these checks
relate keys to each other and to the sample: a reduction grid whose normalisation window holds
no pixel, split fractions that leave nothing to train on, a scorer name scikit-learn does not
know, a class too small for the split and the cross-validation, a t-SNE perplexity larger than
the sample supports. Each problem is one line naming the key(s) and the reason, so a typo costs
a second instead of a failed run.

The schema is also the one description of every key: :func:`config_reference` renders it as the
configuration reference (config/README.md, docs/configuration.md), written by
``python -m agn_saliency.settings --write-reference``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from agn_saliency.core.redact import redact
from agn_saliency.core.vocabulary import TASK_CLASSES
from agn_saliency.learn.embed import max_perplexity
from agn_saliency.learn.split import split_counts

__all__ = [
    "CONFIG_PATH",
    "DEFAULT_SCORING",
    "OUTPUTS_MARKERS",
    "OUTPUTS_PATH",
    "REFERENCE_PATHS",
    "REGENERATE",
    "SCHEMA_PATH",
    "ConfigError",
    "check_config",
    "check_sample",
    "class_counts",
    "coerce_config",
    "config_reference",
    "object_defaults",
    "outputs_page",
    "reference_pages",
    "resolve_schema",
    "schema_errors",
    "schema_keys",
]

DEFAULT_SCORING = "f1_macro"
"""config.yaml's scorer; any other name is checked against scikit-learn's list."""


class ConfigError(ValueError):
    """The configuration cannot produce a result; the message names the key(s) and the reason."""


_PATTERN_WORDS = {"^https?://": "an http:// or https:// URL"}
"""What a schema ``pattern`` asks for, in words: :func:`schema_errors` says these instead of the regex."""


def _close_keys(unknown: list[str], allowed: list[str], section: str) -> str:
    """`` (did you mean `predict.n_shards`?)`` for the unknown keys that resemble an allowed key of
    the same section (:func:`difflib.get_close_matches`), else ``""``."""
    import difflib

    close = [match for key in unknown for match in difflib.get_close_matches(str(key), allowed, n=1)]
    named = [f"`{section}.{key}`" if section else f"`{key}`" for key in dict.fromkeys(close)]
    return f" (did you mean {' or '.join(named)}?)" if named else ""


def schema_errors(config: Mapping[str, Any], schema: Mapping[str, Any]) -> list[str]:
    """One line per JSON-Schema violation: ``key.path: reason`` (never the whole schema).

    An unknown key is named with its section, the allowed key it most resembles ("did you mean
    `predict.n_shards`?") and the keys that section allows; a login in a URL shown is redacted (:func:`agn_saliency.core.redact.redact`).
    """
    import jsonschema  # Snakemake's own dependency

    validator = jsonschema.Draft202012Validator(schema)
    lines = []
    for error in sorted(validator.iter_errors(config), key=lambda e: list(map(str, e.absolute_path))):
        where = ".".join(str(part) for part in error.absolute_path) or "(top level)"
        if error.validator == "additionalProperties":
            allowed = sorted(error.schema.get("properties", {}))
            unknown = sorted(set(error.instance) - set(allowed))
            section = where if error.absolute_path else "the top level"
            hint = _close_keys(unknown, allowed, where if error.absolute_path else "")
            lines.append(f"unknown key(s) {', '.join(map(repr, unknown))} in {section}{hint}; allowed: {', '.join(allowed)}")
        elif error.validator == "pattern" and error.validator_value in _PATTERN_WORDS:
            lines.append(f"{where}: {error.instance!r} is not {_PATTERN_WORDS[error.validator_value]}")
        elif error.validator == "enum":
            lines.append(f"{where}: {error.instance!r} is not one of {', '.join(map(repr, error.validator_value))}")
        else:
            lines.append(f"{where}: {error.message}")
    return [redact(line) for line in lines]  # a value shown may be a URL with a login


_TEXT_TYPES = {"integer": int, "number": (int, float), "boolean": bool, "null": type(None)}


def _coerced(schema: Mapping[str, Any], node: Mapping[str, Any], value: Any) -> Any:
    """``value`` with every text the schema wants as a number, boolean or null read as YAML."""
    node = resolve_schema(schema, node)
    if isinstance(value, Mapping):
        properties = node.get("properties", {})
        return {key: _coerced(schema, properties[key], item) if key in properties else item for key, item in value.items()}
    if isinstance(value, list):
        items = node.get("items")
        return [_coerced(schema, items, item) for item in value] if isinstance(items, Mapping) else value
    if not isinstance(value, str):
        return value
    import yaml

    kinds = node.get("type", [])
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)
    wanted = tuple(python for kind, python in _TEXT_TYPES.items() if kind in kinds)
    if "enum" in node:  # one of listed values: text that reads as one of them (`null`) becomes it
        if value in node["enum"]:
            return value
        wanted = tuple({type(v) for v in node["enum"] if not isinstance(v, str)})
    elif not wanted or "string" in kinds:
        return value  # text is what the key takes (or its type is unknown): leave it alone
    try:
        read = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    if isinstance(read, bool) and bool not in wanted:
        return value  # YAML's "yes" is not the integer 1
    return read if isinstance(read, wanted) and ("enum" not in node or read in node["enum"]) else value


def coerce_config(config: dict[str, Any], schema: Mapping[str, Any]) -> dict[str, Any]:
    """Read back, in place, the numbers, booleans and nulls that ``--config`` passed nested as text.

    Snakemake reads a nested ``--config`` value with YAML's base loader, so
    ``--config 'explain={n_random_per_class: 5}'`` arrives as ``{"n_random_per_class": "5"}``.
    Where the schema's type for a key is integer, number, boolean or null (and not also string),
    text is read as YAML and kept when it gives a value of that type; anything else is left for
    the schema check to name. Returns ``config``.

    >>> schema = {"type": "object", "properties": {"explain": {"type": "object", "properties": {
    ...     "n_random_per_class": {"type": "integer"}, "methods": {"type": "array", "items": {"type": "string"}}}}}}
    >>> coerce_config({"explain": {"n_random_per_class": "5", "methods": ["1"]}}, schema)
    {'explain': {'n_random_per_class': 5, 'methods': ['1']}}
    """
    config.update(_coerced(schema, schema, dict(config)))
    return config


def class_counts(config: Mapping[str, Any]) -> dict[str, int] | None:
    """Spectra per label the configured source will deliver at most, when known before any job runs.

    ``synthetic``: the configured counts; ``sdss``: the catalog's labels; ``local``: ``None``
    (labels are optional there and files are only found by the scan).
    """
    data = config["data"]
    if data["source"] == "synthetic":
        return {name: int(config["synthetic"][f"n_{name}"]) for name in ("type1", "type2", "intermediate")}
    if data["source"] == "sdss" and data["catalog"]:
        from agn_saliency.acquire.catalog import read_catalog

        labels = [str(label) for label in read_catalog(data["catalog"])["label"]]
        return {name: labels.count(name) for name in ("type1", "type2", "intermediate")}
    return None


def _check_reduce(reduce: Mapping[str, Any]) -> list[str]:
    from agn_saliency.spectra.reduce import ReductionParameters

    try:
        params = ReductionParameters.from_mapping(dict(reduce))
    except ValueError as error:
        return [str(error)]
    lo, hi = params.norm_window
    centres = params.wavelength()
    if not ((centres >= lo) & (centres <= hi)).any():
        step = (params.wavelength_max - params.wavelength_min) / params.n_pixels
        return [
            f"reduce.norm_window {lo:g}–{hi:g} Å holds no pixel of the {params.n_pixels}-pixel grid "
            f"(pixels {step:.4g} Å wide): widen the window or raise reduce.n_pixels"
        ]
    return []


def _check_scoring(scoring: str) -> list[str]:
    if scoring == DEFAULT_SCORING:
        return []  # importing scikit-learn costs ~1 s of every dry run; the default is checked by the tests
    from sklearn.metrics import get_scorer_names

    names = get_scorer_names()
    if scoring in names:
        return []
    import difflib

    close = difflib.get_close_matches(scoring, names, n=3)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else "; see sklearn.metrics.get_scorer_names()"
    return [f"classify.scoring: {scoring!r} is not a scikit-learn scorer{hint}"]


def _check_explain(config: Mapping[str, Any]) -> list[str]:
    """Every method's options, by the attribution code's own check; the figures' smoothing against the grid."""
    from agn_saliency.explain.maps import attribution_options, check_smoothing
    from agn_saliency.explain.options import MAX_INTEGRATION_STEPS, check_method_options

    problems = []
    for method, options in attribution_options(config["explain"], config["seed"]).items():
        try:
            check_method_options(method, options)
        except ValueError as error:
            if method == "integrated_gradients" and options.get("n_steps", 0) > MAX_INTEGRATION_STEPS:
                problems.append(
                    f"explain.integrated_gradients.n_steps = {options['n_steps']} exceeds the {MAX_INTEGRATION_STEPS} "
                    f"nodes integrated gradients takes at most: choose at most {MAX_INTEGRATION_STEPS}"
                )
            else:
                problems.append(f"explain.{method}: {error}")
    n_pixels = int(config["reduce"]["n_pixels"])
    try:
        check_smoothing(int(config["explain"]["smooth_pixels"]), n_pixels)
    except ValueError as error:
        problems.append(f"explain.smooth_pixels: {error} (reduce.n_pixels = {n_pixels}): choose at most {n_pixels}")
    return problems


def _check_physics(physics: Mapping[str, Any]) -> list[str]:
    """synthetic.physics by the simulator's own check (unknown keys, ranges, a ``_min`` above its ``_max``)."""
    from agn_saliency.acquire.simulate import SimulationParameters

    try:
        SimulationParameters.from_mapping(physics)
    except (TypeError, ValueError) as error:
        return [f"synthetic.physics: {error}"]
    return []


def check_sample(config: Mapping[str, Any], stage: str) -> list[str]:
    """Problems of the sample for one ``stage`` (``"classify"`` or ``"tsne"``), where it is known in advance.

    ``classify``: every class of ``classify.tasks`` must leave enough spectra for the split,
    ``cv_folds`` and ``calibration_folds``; ``tsne``: every perplexity must be at most
    :func:`max_perplexity` of its class set. Empty when the sample is not known before the
    scan (:func:`class_counts`); the jobs check again on what the reduction kept.
    """
    try:
        counts = class_counts(config)
    except (OSError, ValueError) as error:  # the catalog itself: validate_catalog reports it row by row
        return [f"data.catalog: {error}"]
    if counts is None:
        return []
    problems = []
    split, classify = config["split"], config["classify"]
    cv_folds, calibration_folds = int(classify["cv_folds"]), int(classify["calibration_folds"])
    where = "synthetic.n_{name}" if config["data"]["source"] == "synthetic" else f"the catalog {config['data']['catalog']}"
    needed = {name for task in classify["tasks"] for name in TASK_CLASSES[task]}
    for name in [n for n in ("type1", "type2", "intermediate") if n in needed and stage == "classify"]:
        n = int(counts.get(name, 0))
        parts = split_counts(n, split["test_fraction"], split["validation_fraction"], cv_folds)
        source = where.format(name=name)
        if n == 0:
            tasks = [task for task in classify["tasks"] if name in TASK_CLASSES[task]]
            problems.append(f"classify.tasks {tasks} need {name} spectra, {source} has none")
        elif parts["test"] < 1 or parts["validation"] < 1 or parts["train"] < cv_folds:
            problems.append(
                f"{name}: {n} spectra ({source}) split {split['test_fraction']:g} test / {split['validation_fraction']:g} "
                f"validation leave ≈{parts['train']} for training, {parts['validation']} for validation, {parts['test']} for "
                f"the test; classify.cv_folds = {cv_folds} needs ≥ {cv_folds} in training: add spectra or lower classify.cv_folds"
            )
        elif parts["cv_train"] < calibration_folds:
            problems.append(
                f"{name}: ≈{parts['cv_train']} training spectra per cross-validation fold, fewer than "
                f"classify.calibration_folds = {calibration_folds}: add spectra or lower classify.calibration_folds"
            )
    for task in config["tsne"]["tasks"] if stage == "tsne" else []:
        n_task = sum(int(counts.get(name, 0)) for name in TASK_CLASSES[task])
        too_large = [p for p in config["tsne"]["perplexities"] if p > max_perplexity(n_task)]
        if too_large:
            problems.append(
                f"tsne.perplexities {too_large}: the {task} set has at most {n_task} spectra, which supports "
                f"a perplexity of at most {max_perplexity(n_task):.4g} ((n − 1) / 3)"
            )
    return problems


def _path_problem(key: str, value: Any, kind: str) -> str | None:
    """Why config ``key``'s path ``value`` cannot be what it names (``kind``: ``"file"`` or
    ``"folder"``), in one line naming the key and the path; ``None`` when it can (or is unset).
    A relative path is read from the working directory, as the jobs read it."""
    text = str(value).strip()
    if not text:
        return None
    path = Path(text).expanduser().resolve()
    shown = f"{key}={text!r}" + (f" ({path})" if str(path) != text else "")
    if not path.exists():
        return f"{shown} does not exist"
    if kind == "file" and path.is_dir():
        return f"{shown} is a folder, not a catalog file"
    if kind == "folder" and not path.is_dir():
        return f"{shown} is a file, not a folder of FITS files"
    return None


def _check_paths(config: Mapping[str, Any]) -> list[str]:
    """The files and folders the configuration names exist, where the run (or ``snakemake predict``) reads them:
    data.catalog (sources sdss and local), data.local_dir (local), predict.catalog and predict_dir (when set)."""
    data = config["data"]
    wanted = [("predict.catalog", config["predict"]["catalog"], "file"), ("predict_dir", config["predict_dir"], "folder")]
    if data["source"] != "synthetic":
        wanted.insert(0, ("data.catalog", data["catalog"], "file"))
    if data["source"] == "local":
        wanted.insert(1, ("data.local_dir", data["local_dir"], "folder"))
    return [problem for key, value, kind in wanted if (problem := _path_problem(key, value, kind))]


def check_config(config: Mapping[str, Any]) -> list[str]:
    """Every problem of a schema-valid configuration that can be known before any job runs,
    whatever the target (the sample's size is judged by :func:`check_sample`, for the jobs that need it):
    among them a catalog or folder the configuration names that does not exist.

    Returns one line per problem (empty: none found).
    """
    problems = _check_reduce(config["reduce"])
    problems += _check_scoring(config["classify"]["scoring"])
    problems += _check_explain(config)
    problems += _check_physics(config["synthetic"]["physics"])
    data = config["data"]
    if data["source"] == "sdss" and not data["catalog"]:
        problems.append(
            "data.catalog: data.source sdss needs a catalog of spectra to download (CSV/ECSV: plate, mjd, fiberid, label)"
        )
    if data["source"] == "local" and not str(data["local_dir"]).strip():
        problems.append("data.local_dir: data.source local needs a folder of SDSS FITS files")
    return problems + _check_paths(config)


# ------------------------------------------------------------------------------- configuration reference

SCHEMA_PATH = "workflow/schemas/config.schema.yaml"
"""The configuration schema, relative to the repository: the one description of every key."""
CONFIG_PATH = "config/config.yaml"
"""The default configuration, relative to the repository."""
REFERENCE_PATHS = ("config/README.md", "docs/configuration.md")
"""The pages :func:`reference_pages` writes, relative to the repository: the Snakemake workflow
catalog's configuration page and the documentation site's."""
REGENERATE = "python -m agn_saliency.settings --write-reference"
"""The command (run in the repository) that rewrites :data:`REFERENCE_PATHS` from the schema."""

_UNIT = re.compile(r"^\[([^\]]+)\]\s*")
"""A description's leading ``[unit]``."""


def _parts(schema: Mapping[str, Any], node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The subschemas ``node`` includes: its ``allOf`` entries and its ``$ref`` (``#/$defs/<name>`` only)."""
    parts = []
    for part in [*node.get("allOf", []), *([{"$ref": node["$ref"]}] if "$ref" in node else [])]:
        if "$ref" in part:
            prefix = "#/$defs/"
            if not part["$ref"].startswith(prefix):
                raise ValueError(f"only local references {prefix}<name> are supported, got {part['$ref']!r}")
            part = {**schema["$defs"][part["$ref"][len(prefix) :]], **{k: v for k, v in part.items() if k != "$ref"}}
        parts.append(part)
    return parts


def resolve_schema(schema: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """``node`` with its ``$ref`` and ``allOf`` subschemas merged in: their ``properties`` united,
    any other keyword of ``node`` itself winning (a ``description`` next to a ``$ref``)."""
    merged: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    for part in [*(resolve_schema(schema, part) for part in _parts(schema, node)), node]:
        properties.update(part.get("properties", {}))
        merged.update({k: v for k, v in part.items() if k not in ("$ref", "allOf")})
    if properties:
        merged["properties"] = properties
    return merged


def object_defaults(schema: Mapping[str, Any], node: Mapping[str, Any]) -> dict[str, Any]:
    """The default of each key of an object, from the object's ``default`` and those of its
    ``$ref`` / ``allOf`` parts, its own winning key by key (``synthetic.physics``: ``{}`` over the
    simulator's defaults)."""
    merged: dict[str, Any] = {}
    for part in _parts(schema, node):
        merged.update(object_defaults(schema, part))
    if isinstance(node.get("default"), Mapping):
        merged.update(node["default"])
    return merged


def schema_keys(
    schema: Mapping[str, Any], node: Mapping[str, Any] | None = None, prefix: str = ""
) -> Iterator[tuple[str, dict[str, Any]]]:
    """``(dotted key, resolved subschema)`` of every key of the schema, depth first in schema order
    (through ``$ref``, ``allOf`` and, where they hold keys, array ``items``: ``key[].name``)."""
    resolved = resolve_schema(schema, schema if node is None else node)
    for name, child in resolved.get("properties", {}).items():
        key = f"{prefix}.{name}" if prefix else name
        resolved_child = resolve_schema(schema, child)
        yield key, resolved_child
        yield from schema_keys(schema, child, key)
        if isinstance(items := resolved_child.get("items"), Mapping):
            yield from schema_keys(schema, items, f"{key}[]")


def _config_value(config: Mapping[str, Any], key: str) -> tuple[bool, Any]:
    node: Any = config
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def _yaml_value(value: Any) -> str:
    """A value as config/config.yaml writes it (flow style)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else '""'
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{k}: {_yaml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    if isinstance(value, float) and "e" in repr(value):  # PyYAML reads 1.0e-6 as a number, 1e-06 as text
        mantissa, exponent = repr(value).split("e")
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}e{int(exponent)}"
    return repr(value)


def _type_name(schema: Mapping[str, Any], node: Mapping[str, Any]) -> str:
    node = resolve_schema(schema, node)
    kind = node.get("type")
    if kind is None and "enum" in node:
        names = {bool: "boolean", int: "integer", float: "number", str: "string", type(None): "null"}
        return " or ".join(dict.fromkeys(names[type(value)] for value in node["enum"]))
    if isinstance(kind, list):
        return " or ".join(kind)
    if kind == "array":
        return f"list of {_type_name(schema, node.get('items', {})) or 'values'}"
    return {"object": "mapping"}.get(kind, kind or "")


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _allowed(schema: Mapping[str, Any], node: Mapping[str, Any]) -> list[str]:
    """What the schema accepts for a key, in words (ranges in interval notation)."""
    node = resolve_schema(schema, node)
    out = []
    if "enum" in node:
        out.append("one of " + ", ".join(f"`{_yaml_value(v)}`" for v in node["enum"]))
    low = next(((s, node[k]) for k, s in (("minimum", "["), ("exclusiveMinimum", "(")) if k in node), None)
    high = next(((s, node[k]) for k, s in (("maximum", "]"), ("exclusiveMaximum", ")")) if k in node), None)
    if low and high:
        out.append(f"{low[0]}{_number(low[1])}, {_number(high[1])}{high[0]}")
    elif low:
        out.append(f"{'≥' if low[0] == '[' else '>'} {_number(low[1])}")
    elif high:
        out.append(f"{'≤' if high[0] == ']' else '<'} {_number(high[1])}")
    if "pattern" in node:
        out.append(f"matches `{node['pattern']}`")
    if node.get("minLength") == 1:
        out.append("not empty")
    if node.get("type") == "array":
        fewest, most = node.get("minItems"), node.get("maxItems")
        if fewest is not None and fewest == most:
            out.append(f"exactly {fewest} items")
        elif fewest:
            out.append(f"at least {fewest} item{'s' if fewest > 1 else ''}")
        if node.get("uniqueItems"):
            out.append("no repeats")
        if each := _allowed(schema, node.get("items", {})):
            out.append("each " + "; ".join(each))
    return out


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


TABLE_HEADER = ("| key | type | default | unit | allowed | description |", "|---|---|---|---|---|---|")
"""The columns of :func:`config_reference`'s tables."""


def _row(
    schema: Mapping[str, Any], config: Mapping[str, Any], key: str, node: Mapping[str, Any], defaults: Mapping[str, Any]
) -> str:
    """One key's table row; ``defaults``: the enclosing object's (:func:`object_defaults`)."""
    name = key.rsplit(".", 1)[-1]
    found, value = _config_value(config, key)
    if not found and ("default" in node or name in defaults):
        found, value = True, node["default"] if "default" in node else defaults[name]
    description = node.get("description", "")
    unit = _UNIT.match(description)
    cells = [
        f"`{key}`",
        _type_name(schema, node),
        f"`{_yaml_value(value)}`" if found else "—",
        unit[1] if unit else "",
        "; ".join(_allowed(schema, node)),
        description[unit.end() :] if unit else description,
    ]
    return "| " + " | ".join(_cell(cell) for cell in cells) + " |"


def config_reference(schema: Mapping[str, Any], config: Mapping[str, Any], level: int = 2) -> str:
    """The configuration reference in Markdown (MyST-compatible: headings, pipe tables, no HTML).

    A heading of depth ``level`` per top-level key, one deeper per nested section; under it the
    section's description and a table of its keys that are not sections themselves: dotted name,
    type, default (the value in ``config``, else the schema's default), unit (a description's
    leading ``[unit]``), allowed values and description. Deterministic: schema order throughout.
    """
    lines: list[str] = []

    def section(key: str, node: Mapping[str, Any], depth: int) -> None:
        resolved = resolve_schema(schema, node)
        lines.extend(["#" * min(level + depth, 6) + f" {key}", ""])
        if resolved.get("description"):
            lines.extend([_cell(resolved["description"]), ""])
        children = [(f"{key}.{name}", child) for name, child in resolved.get("properties", {}).items()]
        defaults = object_defaults(schema, node)
        rows = [
            _row(schema, config, child_key, resolve_schema(schema, child), defaults)
            for child_key, child in children
            if "properties" not in resolve_schema(schema, child)
        ]
        if rows:
            lines.extend([*TABLE_HEADER, *rows, ""])
        for child_key, child in children:
            if "properties" in resolve_schema(schema, child):
                section(child_key, child, depth + 1)

    for name, child in resolve_schema(schema, schema).get("properties", {}).items():
        if "properties" in resolve_schema(schema, child):
            section(name, child, 0)
        else:
            row = _row(schema, config, name, resolve_schema(schema, child), object_defaults(schema, schema))
            lines.extend(["#" * level + f" {name}", "", *TABLE_HEADER, row, ""])
    return "\n".join(lines).rstrip("\n") + "\n"


_PAGE_INTRO = """\
# Configuration

This page is generated by `{regenerate}` from the configuration schema,
{schema}: edit the schema's descriptions, not this page.

## Changing values

{config} holds the default of every key. To change some, write them in a file of your
own, for example `my.yaml`:

```yaml
seed: 3
data:
  source: sdss
  catalog: /abs/path/catalog.csv
explain:
  smoothgrad: {{n_samples: 64}}
```

and pass it after the defaults:

```bash
snakemake --cores 8 --configfile my.yaml
```

Snakemake merges it into the defaults key by key, at every depth: a section given in `my.yaml`
changes only the keys it names, and a list replaces the default list whole. `--config` does the
same on the command line, for top-level values (`--config seed=3`) and inside a section
(`--config 'explain={{n_random_per_class: 5}}' 'data={{source: sdss}}'`). Snakemake passes values
nested in `--config` as text; the workflow reads each back as the type the schema gives its key
(integer, number, boolean or null) before checking it (`agn_saliency.settings.coerce_config`),
so `5`, `0.5`, `true` and `[10, 30]` mean what they say. A key that takes text keeps it as written.

## Checks before any job runs

The schema rejects an unknown key (naming its section, the allowed key it most resembles and
the keys it allows), a wrong type and a
value out of range, one line per problem naming the key. Then the configuration is checked as a
whole (`agn_saliency.settings.check_config`): the reduction grid and its normalisation window, the
scorer name, a catalog for `data.source: sdss`, a catalog or folder named in `data.catalog`,
`data.local_dir`, `predict.catalog` or `predict_dir` that does not exist; and, where the sample is known in advance (the
embedded sample, an `sdss` catalog's labels), whether each class is large enough for the split,
`classify.cv_folds` and `classify.calibration_folds`, and each t-SNE perplexity for its class set.

## What reruns when

A value reaches a rule only where it shapes that rule's output, so changing one reruns exactly
the jobs it affects (`snakemake -n` lists them, with the reason). The documentation's "What reruns when"
table (docs/running.md) lists them for every key; `tests/test_rerun_contract.py` checks it on a real run.

## Reference

One section per top-level key. In the tables, "default" is the value in {config} or,
for a key it leaves out, the value used when the key is not given ("—": none); "unit" is the
unit of a number; "allowed" is what the schema accepts ([a, b]: a ≤ value ≤ b; (a, b): a < value < b).

"""


def reference_pages(schema: Mapping[str, Any], config: Mapping[str, Any]) -> dict[str, str]:
    """The text of each file of :data:`REFERENCE_PATHS`: how to configure, then :func:`config_reference`.

    ``config/README.md`` (read on GitHub and in the Snakemake workflow catalog) links the files it
    names; ``docs/configuration.md`` (a page of the documentation site) names them as code.
    """
    body = config_reference(schema, config, level=3)
    readme = _PAGE_INTRO.format(
        regenerate=REGENERATE, schema=f"[`{SCHEMA_PATH}`](../{SCHEMA_PATH})", config=f"[`{CONFIG_PATH}`](config.yaml)"
    )
    docs = _PAGE_INTRO.format(regenerate=REGENERATE, schema=f"`{SCHEMA_PATH}`", config=f"`{CONFIG_PATH}`")
    return {REFERENCE_PATHS[0]: readme + body, REFERENCE_PATHS[1]: docs + body}


OUTPUTS_PATH = "docs/outputs.md"
"""The outputs page, whose "Table columns" section :func:`outputs_page` renders from
:data:`agn_saliency.core.columns.TABLES` between :data:`OUTPUTS_MARKERS`."""
OUTPUTS_MARKERS = (
    f"<!-- generated by {REGENERATE} from agn_saliency.core.columns: start -->",
    f"<!-- generated by {REGENERATE} from agn_saliency.core.columns: end -->",
)


def outputs_page(text: str) -> str:
    """``text`` (the outputs page) with its generated section replaced by the column reference of
    every table (:func:`agn_saliency.core.columns.reference_markdown`)."""
    from agn_saliency.core.columns import reference_markdown

    start, end = OUTPUTS_MARKERS
    if start not in text or end not in text:
        raise ValueError(f"{OUTPUTS_PATH} lacks the markers {start!r} … {end!r}")
    before, rest = text.split(start, 1)
    after = rest.split(end, 1)[1]
    return f"{before}{start}\n\n{reference_markdown(level=3)}\n{end}{after}"


def _load_yaml(path: Path) -> Any:
    import yaml

    return yaml.safe_load(path.read_text(encoding="utf-8"))


def main(argv: list[str] | None = None) -> int:
    """Write (``--write-reference``) or check (``--check``) the configuration reference pages and
    the table columns of the outputs page."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m agn_saliency.settings", description=main.__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write-reference", action="store_true", help=f"write {' and '.join(REFERENCE_PATHS)} from the schema")
    action.add_argument("--check", action="store_true", help="exit 1 when a page differs from what the schema gives")
    parser.add_argument("--root", type=Path, default=Path.cwd(), help="the repository (default: the working directory)")
    args = parser.parse_args(argv)
    pages = reference_pages(_load_yaml(args.root / SCHEMA_PATH), _load_yaml(args.root / CONFIG_PATH))
    if (args.root / OUTPUTS_PATH).is_file():
        pages[OUTPUTS_PATH] = outputs_page((args.root / OUTPUTS_PATH).read_text(encoding="utf-8"))
    stale = [
        path
        for path, text in pages.items()
        if not (args.root / path).is_file() or (args.root / path).read_text(encoding="utf-8") != text
    ]
    for path in stale:
        if args.check:
            print(f"{path} is out of date: run `{REGENERATE}`")
        else:
            (args.root / path).parent.mkdir(parents=True, exist_ok=True)
            (args.root / path).write_text(pages[path], encoding="utf-8")
            print(f"wrote {path}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
