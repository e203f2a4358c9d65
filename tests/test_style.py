"""The code style is checked like everything else: ruff (lint and format) and snakefmt, as configured
in pyproject.toml, must find nothing — so CI, which runs the test command, fails on any finding."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO

BIN = Path(sys.executable).parent


def tool(name: str) -> str:
    path = BIN / name if (BIN / name).exists() else shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: it is part of the test extra (pip install -e '.[test]')")
    return str(path)


@pytest.mark.parametrize(
    "command",
    [
        ["ruff", "check", "."],
        ["ruff", "format", "--check", "."],
        ["snakefmt", "--check", "Snakefile", "workflow/rules"],
    ],
    ids=["ruff-check", "ruff-format", "snakefmt"],
)
def test_style_is_clean(command: list[str]) -> None:
    result = subprocess.run([tool(command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0, f"`{' '.join(command)}` found:\n{result.stdout[-4000:]}{result.stderr[-4000:]}"


def test_no_test_module_imports_conftest() -> None:
    """pytest loads conftest.py itself (importing it again makes a second module object); shared
    constants and helpers live in tests/helpers.py."""
    pattern = re.compile(r"^\s*(from\s+conftest\s+import|import\s+conftest\b)", re.MULTILINE)
    importers = sorted(path.name for path in (REPO / "tests").rglob("*.py") if pattern.search(path.read_text(encoding="utf-8")))
    assert not importers, f"import from helpers, not conftest: {importers}"


def test_only_helpers_knows_where_the_real_data_live() -> None:
    """Every test reaches ../shared through helpers.REAL_DIR (so AGN_TEST_SHARED moves it for all of them)."""
    spelled = sorted(
        path.name
        for path in (REPO / "tests").glob("*.py")
        if path.name != "helpers.py" and re.search(r"""["']shared["']|["']sdss_real["']""", path.read_text(encoding="utf-8"))
    )
    assert not spelled, f"use helpers.REAL_DIR: {spelled}"
