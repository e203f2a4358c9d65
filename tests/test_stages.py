"""Stage functions (agn_saliency.stages.all), the thin scripts that call them, and the readers/writers
of their intermediate files."""

from __future__ import annotations

import ast
import inspect
import re
import runpy
import subprocess
import sys

import numpy as np
import pytest
from helpers import REPO

from agn_saliency import entry
from agn_saliency.io import cube
from agn_saliency.io.tables import read_table
from agn_saliency.learn import tsne_svm
from agn_saliency.stages import all as stages

SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))
MAX_SCRIPT_LINES = 40


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_scripts_are_thin_and_take_named_arguments(path) -> None:
    """Every script: ≤ 40 lines, a keyword-only ``main``, started by ``entry.run`` (so it also runs on its own)."""
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_SCRIPT_LINES, f"{path.name}: {len(text.splitlines())} lines"
    main = runpy.run_path(str(path), run_name="not_main")["main"]
    kinds = {p.kind for p in inspect.signature(main).parameters.values()}
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}, f"{path.name}: main must be keyword-only"
    assert "from agn_saliency.entry import run" in text
    assert not re.search(r"\bsnakemake\.(input|output|params|wildcards|threads|log)\b", text), "read them in from_rule"
    assert not any(isinstance(node, ast.Import) and node.names[0].name == "h5py" for node in ast.walk(ast.parse(text)))


def test_command_line_arguments() -> None:
    def main(*, cube: str, seed: int, grid: dict, optional: str | None = None) -> None: ...

    arguments, log = entry.command_line_arguments(
        main, ["--cube", "0001", "--seed=7", "--grid", "{C: [1, 10]}", "--log", "x.log"]
    )
    assert arguments == {"cube": "0001", "seed": 7, "grid": {"C": [1, 10]}} and log == "x.log"
    with pytest.raises(SystemExit, match="missing --seed"):
        entry.command_line_arguments(main, ["--cube", "a"])
    with pytest.raises(SystemExit, match="unknown argument --sed"):
        entry.command_line_arguments(main, ["--sed", "1"])


def test_a_script_runs_on_its_own(tmp_path) -> None:
    """Outside Snakemake a script takes main's arguments from the command line."""
    rows = [{"method": "gradient", "curve": c, "fraction": f, "p_mean": 1 - f, "p_std": 0.1} for c in ("deletion", "insertion")
            for f in (0.0, 0.5, 1.0)]  # fmt: skip
    rows += [{**row, "method": "random"} for row in rows]
    from agn_saliency.io.tables import write_table

    write_table(tmp_path / "curves.ecsv", rows, list(rows[0]))
    script = REPO / "workflow" / "scripts" / "plot_faithfulness.py"
    args = ["--curves", str(tmp_path / "curves.ecsv"), "--out", str(tmp_path / "f.png"), "--task", "binary"]
    done = subprocess.run([sys.executable, str(script), *args, "--log", str(tmp_path / "f.log")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "f.png").stat().st_size > 0 and "host=" in (tmp_path / "f.log").read_text()
    usage = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert "--curves --out --task" in usage.stderr


def test_prediction_rows_are_in_display_order() -> None:
    classes = np.array(["intermediate", "type1", "type2"])  # a model's alphabetical classes_
    probabilities = np.array([[0.2, 0.7, 0.1], [0.5, 0.2, 0.3]])
    rows, columns = stages.prediction_rows(["a", "b"], ["type1", "intermediate"], classes, probabilities)
    assert columns == ["specid", "true", "predicted", "p_type1", "p_type2", "p_intermediate"]
    assert [r["predicted"] for r in rows] == ["type1", "intermediate"]
    assert [rows[0][c] for c in columns[3:]] == ["0.700000", "0.100000", "0.200000"]


def test_read_meta_and_count_without_the_spectra(tmp_path) -> None:
    meta = {"specid": np.array(["b", "a"], dtype=object), "label": np.array(["type2", "type1"], dtype=object), "z": np.ones(2)}
    path = tmp_path / "shard.h5"
    cube.write_shard(
        path, np.arange(3.0), np.ones((2, 3), np.float32), np.ones((2, 3), np.float32), np.zeros((2, 3), np.uint8), meta
    )
    assert cube.count_spectra(path) == 2
    read = cube.read_meta(path, ("specid", "label"))
    assert set(read) == {"specid", "label"} and read["specid"].tolist() == ["b", "a"]
    assert set(cube.read_meta(path)) == {"specid", "label", "z"}


def test_split_stage_writes_the_split_of_the_cube(tmp_path) -> None:
    n = 30
    labels = np.array(["type1", "type2", "intermediate"] * (n // 3), dtype=object)
    meta = {"specid": np.array([f"s{i:03d}" for i in range(n)], dtype=object), "label": labels}
    path = tmp_path / "cube.h5"
    shape = (n, 4)
    cube.write_shard(
        path, np.arange(4.0), np.ones(shape, np.float32), np.ones(shape, np.float32), np.zeros(shape, np.uint8), meta
    )
    subset = stages.split_sample(cube=str(path), split_out=str(tmp_path / "split.ecsv"), test_fraction=0.2,
                                 validation_fraction=0.25, seed=1)  # fmt: skip
    table = read_table(tmp_path / "split.ecsv")
    assert [row["specid"] for row in table] == meta["specid"].tolist()
    assert [row["subset"] for row in table] == subset.tolist() and set(subset) == {"train", "validation", "test"}


def test_tsne_svm_regions_round_trip(tmp_path) -> None:
    rng = np.random.default_rng(0)
    xy = np.vstack([rng.normal(0, 1, (20, 2)), rng.normal(6, 1, (20, 2))])
    label = np.array(["type1"] * 20 + ["type2"] * 20)
    subset = np.array(["train", "test"] * 20)
    regions = tsne_svm.fit_regions(xy, label, subset, seed=0, grid_points=25)
    assert regions.regions.shape == (25, 25) and regions.test_accuracy == 1.0
    tsne_svm.write_regions(tmp_path / "r.h5", regions)
    back = tsne_svm.read_regions(tmp_path / "r.h5")
    np.testing.assert_array_equal(back.grid_x, regions.grid_x)
    assert back.regions.tolist() == regions.regions.tolist() and back.test_label.tolist() == regions.test_label.tolist()
    assert back.test_accuracy == regions.test_accuracy


def test_merge_stops_on_an_empty_sample_with_the_reasons(tmp_path) -> None:
    from agn_saliency.io.tables import write_table
    from agn_saliency.spectra.reduce import REJECTED_COLUMNS

    shard = tmp_path / "shard-000.h5"
    empty = np.zeros((0, 3), np.float32)
    cube.write_shard(shard, np.arange(3.0), empty, empty, empty.astype(np.uint8), {"specid": np.array([], dtype=object)})
    rows = [{"row": i, "specid": f"s{i}", "source_file": "", "label": "type1", "reason": "failed: HTTP 503"} for i in range(3)]
    write_table(tmp_path / "rejected-000.ecsv", rows, REJECTED_COLUMNS)
    with pytest.raises(ValueError, match="no spectrum could be reduced: 3 rejected — failed download: 3"):
        stages.merge_cube(shards=[str(shard)], rejected_parts=[str(tmp_path / "rejected-000.ecsv")], cube_out=str(tmp_path / "c.h5"),
                          rejected_out=str(tmp_path / "r.ecsv"), spectra_out=str(tmp_path / "s.ecsv"), provenance={})  # fmt: skip
    assert not (tmp_path / "c.h5").exists()
