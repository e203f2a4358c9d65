"""Each job's settings as a small file it reads: config provenance that lives on file dates.

Snakemake reruns a job whose ``params:`` changed by comparing them with the values it recorded in
``.snakemake/metadata``; deleting ``.snakemake/`` (the usual cure for a stale lock) loses that
record, and a changed key then gives "Nothing to be done". The workflow (``common.smk``) therefore
also writes every job's params to ``results/settings/<rule>/<wildcard>=<value>/…/params.json``
while it builds the DAG, and makes that file an input of the job. The file is rewritten only when
its text changes, so its modification time is the time the job's settings last changed: a job
whose settings changed after its outputs were written is older than its input and reruns, on
file dates alone.

>>> settings_path("search_grid", {"task": "binary", "kernel": "linear"})
'results/settings/search_grid/task=binary/kernel=linear/params.json'
>>> settings_path("split_sample", {})
'results/settings/split_sample/params.json'
>>> print(settings_text("split_sample", {}, {"seed": 42, "test_fraction": 0.2}), end="")
{
 "params": {
  "seed": 42,
  "test_fraction": 0.2
 },
 "rule": "split_sample",
 "wildcards": {}
}
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from agn_saliency.core.files import apply_umask
from agn_saliency.core.redact import redact

__all__ = [
    "PLANNED_ROOT",
    "SETTINGS_INPUT",
    "SETTINGS_NAME",
    "SETTINGS_ROOT",
    "settings_path",
    "settings_text",
    "write_text_if_changed",
]

SETTINGS_INPUT = "settings"
"""The name of a job's settings file among its inputs (a rerun trigger; the stage reads its params instead)."""

SETTINGS_ROOT = "results/settings"
"""Where the jobs' settings files live (relative to the run's working directory)."""

SETTINGS_NAME = "params.json"
"""A job's settings, as the last run that executed jobs wrote them."""

PLANNED_ROOT = ".snakemake/planned-settings"
"""Where a dry run puts a job's changed settings: ``snakemake -n`` never writes in ``results/``."""


def settings_path(rule: str, wildcards: Mapping[str, Any], root: str = SETTINGS_ROOT) -> str:
    """The settings file of ``rule``'s job with ``wildcards``: one folder per job.

    One folder per job, not one file per job in the rule's folder: Snakemake caches a folder's
    listing the first time it looks into it while building the DAG, so a file written later into
    a folder it has listed would look missing. Values are percent-encoded, so that two jobs never
    share a folder whatever their wildcard values hold.
    """
    parts = [root, rule] + [f"{key}={urllib.parse.quote(str(value), safe='')}" for key, value in wildcards.items()]
    return "/".join([*parts, SETTINGS_NAME])


def settings_text(rule: str, wildcards: Mapping[str, Any], params: Mapping[str, Any]) -> str:
    """The settings file's text: canonical JSON (sorted keys), credentials in URLs redacted.

    A password in a URL is not a setting that shapes an output, and it must never be written.
    """
    record = {"rule": rule, "wildcards": dict(wildcards), "params": dict(params)}
    return redact(json.dumps(record, sort_keys=True, indent=1, default=str, ensure_ascii=False)) + "\n"


def write_text_if_changed(path: str | os.PathLike[str], text: str) -> bool:
    """Write ``text`` to ``path`` unless it already holds exactly that; True when it wrote.

    Written through a temporary file and a rename (never half-written); an unchanged file keeps
    its modification time. Unlike :func:`agn_saliency.core.files.atomic_output` it leaves other
    writers' temporary files alone: two dry runs may write the same file at once.
    """
    final = Path(path)
    try:
        if final.read_text(encoding="utf-8") == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        apply_umask(tmp_name)
        os.replace(tmp_name, final)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return True
