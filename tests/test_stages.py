"""Stage functions (agn_saliency.stages), the thin scripts that call them, and the readers/writers
of their intermediate files."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import yaml
from helpers import REPO

from agn_saliency import entry
from agn_saliency.io import cube
from agn_saliency.io.tables import read_table
from agn_saliency.learn import tsne_svm
from agn_saliency.learn.classify import prediction_rows
from agn_saliency.stages.reduce import merge_cube
from agn_saliency.stages.split import split_sample

SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))
MAX_SCRIPT_LINES = 15


def stage_of(path):
    """The stage function a script hands to ``entry.run`` (its ``from agn_saliency.stages.<m> import <rule>``)."""
    tree = ast.parse(path.read_text())
    imports = [n for n in tree.body if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("agn_saliency.stages.")]
    assert len(imports) == 1 and len(imports[0].names) == 1, f"{path.name}: import exactly one stage function"
    return getattr(importlib.import_module(imports[0].module), imports[0].names[0].name)


@pytest.mark.parametrize("path", SCRIPTS, ids=[p.stem for p in SCRIPTS])
def test_scripts_only_hand_their_stage_to_entry_run(path) -> None:
    """Every script: ≤ 15 lines, the rule's own stage function (same name, keyword-only), ``run(stage, snakemake)``."""
    text = path.read_text()
    assert len(text.splitlines()) <= MAX_SCRIPT_LINES, f"{path.name}: {len(text.splitlines())} lines"
    stage = stage_of(path)
    assert stage.__name__ == path.stem, f"{path.name} runs {stage.__name__}: one name per rule, script and stage function"
    kinds = {p.kind for p in inspect.signature(stage).parameters.values()}
    assert kinds == {inspect.Parameter.KEYWORD_ONLY}, f"{stage.__name__} must take keyword-only parameters"
    assert f'run({stage.__name__}, globals().get("snakemake")' in text
    assert "fmt: skip" not in text and "lambda" not in text and not re.search(r"\bsnakemake\.", text)


def workflow_rules(workdir, configfile):
    """The workflow's rules as Snakemake parses them with ``configfile`` on top of config/config.yaml."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings()) as api:
        workflow = api.workflow(
            resource_settings=ResourceSettings(), config_settings=ConfigSettings(configfiles=[configfile]),
            snakefile=REPO / "Snakefile", workdir=workdir,
        )  # fmt: skip
        return {rule.name: rule for rule in workflow._workflow.rules if rule.script}


@pytest.fixture(scope="module")
def every_rule(tmp_path_factory):
    """Every rule of every data source (acquisition rules differ by source), parsed by Snakemake."""
    tmp = tmp_path_factory.mktemp("rules")
    catalog = tmp / "catalog.csv"
    catalog.write_text(
        "plate,mjd,fiberid,label\n"
        + "".join(f"266,51602,{i},{c}\n" for i, c in enumerate(["type1", "type2", "intermediate"] * 5, 1))
    )
    rules = {}
    for source, extra in (("synthetic", {}), ("sdss", {"catalog": str(catalog)}), ("local", {"local_dir": str(tmp)})):
        config = tmp / f"{source}.yaml"
        small = {"tsne": {"perplexities": [2]}} if source == "sdss" else {}
        config.write_text(yaml.safe_dump({"data": {"source": source, **extra}, **small}))
        rules.update(workflow_rules(tmp, config))
    return rules


def test_every_rule_binds_to_its_stage_function_by_name(every_rule) -> None:
    """Each rule's named inputs, outputs (``<name>_out``), params and wildcards pair up with its stage
    function's parameters, checked on the rules as Snakemake parses them (no job has to run)."""
    assert {"simulate_shard", "download_shard", "scan_local", "search_grid", "predict_spectra"} <= set(every_rule)
    for name, rule in sorted(every_rule.items()):
        script = REPO / "workflow" / "rules" / rule.script
        stage = stage_of(script.resolve())
        assert stage.__name__ == name, f"rule {name} runs {script.name}"
        job = SimpleNamespace(
            rule=name, input=rule.input, output=rule.output, params=rule.params, threads=1, resources={}, config={},
            wildcards={w: "1" for w in rule.wildcard_names}, log=[],
        )  # fmt: skip
        arguments = entry.bind(stage, job)
        assert set(arguments) >= {
            p for p, v in inspect.signature(stage).parameters.items() if v.default is inspect.Parameter.empty
        }


def test_binding_names_what_has_no_partner() -> None:
    def stage(*, cube: str, model_out: str, seed: int, task: str, perplexity: float, threads: int = 1) -> None: ...

    job = SimpleNamespace(rule="r", input={"cube": "c.h5"}, output={"model": "m.joblib"}, params={"seed": 3},
                          wildcards={"task": "binary", "perplexity": "12.5"}, threads=4, resources={}, config={})  # fmt: skip
    assert entry.bind(stage, job) == {
        "cube": "c.h5",
        "model_out": "m.joblib",
        "seed": 3,
        "task": "binary",
        "perplexity": 12.5,
        "threads": 4,
    }
    with pytest.raises(entry.BindingError, match=r"rule r → .*stage: params extra has no parameter 'extra'"):
        entry.bind(stage, SimpleNamespace(**{**vars(job), "params": {"seed": 3, "extra": 1}}))
    with pytest.raises(
        entry.BindingError, match=r"parameter 'seed' has no partner \(inputs: cube; outputs: model_out; params: -"
    ):
        entry.bind(stage, SimpleNamespace(**{**vars(job), "params": {}}))
    with pytest.raises(entry.BindingError, match="params cube and input cube both give 'cube'"):
        entry.bind(stage, SimpleNamespace(**{**vars(job), "params": {"seed": 3, "cube": 1}}))


def test_binding_refuses_an_unnamed_output() -> None:
    from snakemake.iocontainers import OutputFiles

    def stage(*, plot_out: str) -> None: ...

    output = OutputFiles(["a.png"])
    job = SimpleNamespace(rule="r", input={}, output=output, params={}, wildcards={}, threads=1, resources={}, config={})
    with pytest.raises(entry.BindingError, match="output a.png has no name"):
        entry.bind(stage, job)
    output._set_name("plot", 0)
    assert entry.bind(stage, job) == {"plot_out": "a.png"}


def test_binding_skips_the_settings_input() -> None:
    """The job's settings file (results/settings/…/params.json) is for Snakemake's dates: not passed."""

    def stage(*, cube: str, seed: int) -> None: ...

    job = SimpleNamespace(rule="r", input={"cube": "c.h5", "settings": "results/settings/r/params.json"}, output={},
                          params={"seed": 3}, wildcards={}, threads=1, resources={}, config={})  # fmt: skip
    assert entry.bind(stage, job) == {"cube": "c.h5", "seed": 3}


@pytest.fixture
def restored_logging():
    """entry.run replaces the root logger's handlers (as a job's process does): put them back after."""
    import logging

    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def test_an_unexpected_error_is_logged_with_its_traceback_in_the_rule_log(tmp_path, capsys, restored_logging) -> None:
    """Snakemake and SLURM point at the rule's log: file, so the traceback must be there (credentials redacted)."""
    log = tmp_path / "logs" / "r.log"

    def stage(*, cube: str) -> None:
        raise RuntimeError(f"cannot open {cube} from http://alice:s3cret@host/x")

    job = SimpleNamespace(rule="r", input={"cube": "c.h5"}, output={}, params={}, wildcards={}, threads=1,
                          resources={}, config={}, log=[str(log)])  # fmt: skip
    with pytest.raises(SystemExit) as stopped:
        entry.run(stage, job)
    assert stopped.value.code == 1
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: cannot open c.h5 from http://***@host/x" in text
    assert "in stage" in text  # the frame that raised
    assert "s3cret" not in text and "s3cret" not in capsys.readouterr().err

    def expected(*, cube: str) -> None:
        raise ValueError("bad http://alice:s3cret@host/x")

    with pytest.raises(SystemExit) as stopped:
        entry.run(expected, job, errors=(ValueError,))
    assert stopped.value.code == 1
    text = log.read_text()  # an expected error: its one line in the log (and the terminal), redacted
    assert "Error: bad http://***@host/x" in text and "s3cret" not in text and "Traceback" not in text
    assert "s3cret" not in capsys.readouterr().err


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
    """Outside Snakemake a script takes its stage function's arguments from the command line."""
    rows = [{"method": "gradient", "curve": c, "fraction": f, "p_mean": 1 - f, "p_std": 0.1} for c in ("deletion", "insertion")
            for f in (0.0, 0.5, 1.0)]  # fmt: skip
    rows += [{**row, "method": "random"} for row in rows]
    from agn_saliency.io.tables import write_table

    write_table(tmp_path / "curves.ecsv", rows, list(rows[0]))
    script = REPO / "workflow" / "scripts" / "plot_faithfulness.py"
    args = ["--curves", str(tmp_path / "curves.ecsv"), "--plot-out", str(tmp_path / "f.png"), "--task", "binary"]
    done = subprocess.run([sys.executable, str(script), *args, "--log", str(tmp_path / "f.log")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert (tmp_path / "f.png").stat().st_size > 0 and "host=" in (tmp_path / "f.log").read_text()
    usage = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True)
    assert "--curves --plot-out --task" in usage.stderr


def test_prediction_rows_are_in_display_order() -> None:
    classes = np.array(["intermediate", "type1", "type2"])  # a model's alphabetical classes_
    probabilities = np.array([[0.2, 0.7, 0.1], [0.5, 0.2, 0.3]])
    rows, columns = prediction_rows(["a", "b"], ["type1", "intermediate"], classes, probabilities)
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
    # a shard without survey columns (written before surveys) is read as SDSS: the identity columns are filled in
    assert set(cube.read_meta(path)) == {"specid", "label", "z", *cube.LEGACY_DEFAULTS}
    assert cube.read_meta(path)["survey"].tolist() == ["sdss", "sdss"]


def test_split_stage_writes_the_split_of_the_cube(tmp_path) -> None:
    n = 30
    labels = np.array(["type1", "type2", "intermediate"] * (n // 3), dtype=object)
    meta = {"specid": np.array([f"s{i:03d}" for i in range(n)], dtype=object), "label": labels}
    path = tmp_path / "cube.h5"
    shape = (n, 4)
    cube.write_shard(
        path, np.arange(4.0), np.ones(shape, np.float32), np.ones(shape, np.float32), np.zeros(shape, np.uint8), meta
    )
    subset = split_sample(cube=str(path), split_out=str(tmp_path / "split.ecsv"), test_fraction=0.2,
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
        merge_cube(shards=[str(shard)], rejected=[str(tmp_path / "rejected-000.ecsv")], cube_out=str(tmp_path / "c.h5"),
                   rejected_out=str(tmp_path / "r.ecsv"), spectra_out=str(tmp_path / "s.ecsv"), config={})  # fmt: skip
    assert not (tmp_path / "c.h5").exists()
