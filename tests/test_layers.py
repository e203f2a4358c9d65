"""The package's floors: each subpackage imports only from the floors below it, never from above,
and no module imports itself back through a cycle.

The order is the pipeline's (acquisition before learning, learning before explanation, …); it is
written here once and checked on every module's imports, including imports inside functions.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "agn_saliency"

FLOORS = ("core", "io", "spectra", "acquire", "learn", "explain", "predict", "plotting", "stages", "settings", "entry")
"""Lowest first. ``settings`` (the whole-configuration checks the Snakefile runs) may use any floor's
rules; ``entry`` binds a rule to its stage function."""


def _floor(module: str) -> str:
    return module.split(".")[1] if module.count(".") >= 1 else ""


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def _imports(name: str, path: Path) -> set[str]:
    """Every agn_saliency module ``name`` imports (absolute or relative, at any depth)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.startswith("agn_saliency"):
                targets.add(module)
                targets.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names if alias.name.startswith("agn_saliency"))
    modules = _modules()
    return {target for target in targets if target in modules and target != name}


MODULES = _modules()


def test_every_module_sits_on_a_known_floor() -> None:
    floors = {_floor(name) for name in MODULES if name != "agn_saliency"}
    assert floors <= set(FLOORS), f"modules outside the floors {FLOORS}: {sorted(floors - set(FLOORS))}"
    assert not _imports("agn_saliency", MODULES["agn_saliency"]), "the package root imports nothing"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n != "agn_saliency"))
def test_imports_go_down_the_floors(name: str) -> None:
    own = FLOORS.index(_floor(name))
    upward = sorted(t for t in _imports(name, MODULES[name]) if _floor(t) and FLOORS.index(_floor(t)) > own)
    assert not upward, f"{name} (floor {FLOORS[own]}) imports from higher floors: {upward}"


def test_no_import_cycles() -> None:
    graph = {name: _imports(name, path) for name, path in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for target in sorted(graph[node]):
            if state.get(target) == 1:
                raise AssertionError("import cycle: " + " → ".join([*trail[trail.index(target) :], target]))
            if not state.get(target):
                visit(target, [*trail, target])
        state[node] = 2

    for name in sorted(graph):
        if not state.get(name):
            visit(name, [name])


def test_the_checker_sees_an_upward_import(tmp_path: Path) -> None:
    """The check can fail: a core module importing a stage is caught."""
    path = tmp_path / "bad.py"
    path.write_text("def f():\n    from agn_saliency.stages import predict\n    from ..learn import split\n")
    found = _imports("agn_saliency.core.bad", path)
    assert "agn_saliency.learn.split" in found and "agn_saliency.stages.predict" in found
