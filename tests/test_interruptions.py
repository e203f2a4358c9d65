"""Jobs killed with SIGKILL mid-way leave outputs complete or absent, and a plain rerun finishes.

One job of each family is killed while it works — acquisition (simulate_shard writing FITS files),
search_grid, a plotting rule with a process pool (plot_saliency_spectra) — as a cluster's time
limit or the OOM killer would: SIGKILL to the job's own process, found through the ``pid=`` line
every script logs first. Then: no worker survives its job, nothing appears later under the final
name, the dry run plans that work again, and the same command finishes with complete outputs.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import h5py
import psutil
import pytest
import yaml
from helpers import SNAKEMAKE, TINY

from agn_saliency.acquire.inventory import folder_label
from agn_saliency.io.tables import read_table

pytestmark = pytest.mark.workflow

WAIT_S = 180  # upper bound for any wait below; the tests never assert on time


def start(workdir: Path, *args: str, configs: tuple[Path, ...] = ()) -> subprocess.Popen:
    command = SNAKEMAKE + ["-d", str(workdir), "--configfile", str(TINY), *map(str, configs), "--cores", "2", *args]
    # its own process group, like a command typed in a terminal: Ctrl-C reaches the group. SIGINT
    # is set back to its default: a shell that starts the test suite in the background (`cmd &`
    # without job control) hands every child an ignored SIGINT, and Snakemake would never see it.
    return subprocess.Popen(
        command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )  # fmt: skip


def run(workdir: Path, *args: str, configs: tuple[Path, ...] = ()) -> subprocess.CompletedProcess:
    command = SNAKEMAKE + ["-d", str(workdir), "--configfile", str(TINY), *map(str, configs), "--cores", "2", *args]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True)


def wait_for(condition, what: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + WAIT_S
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"snakemake ended before {what}:\n{process.stdout.read()[-3000:]}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.02)


def job_pid(log: Path) -> int | None:
    """The job's process id, from the first line its script logs (agn_saliency.core.logs.setup_logging)."""
    try:
        match = re.search(r"pid=(\d+)", log.read_text())
    except FileNotFoundError:
        return None
    return int(match[1]) if match else None


def kill_job(log: Path, process: subprocess.Popen, working=lambda: True) -> int:
    """SIGKILL the job that writes ``log`` once it has started and ``working()`` holds; wait for snakemake."""
    wait_for(lambda: job_pid(log) is not None, f"the job of {log.name} to start", process)
    wait_for(working, f"the job of {log.name} to be mid-way", process)
    pid = job_pid(log)
    os.kill(pid, signal.SIGKILL)
    output, _ = process.communicate(timeout=WAIT_S)
    assert process.returncode != 0, f"snakemake succeeded although a job was killed:\n{output[-3000:]}"
    return pid


def survivors(script: str, workdir: Path) -> list[psutil.Process]:
    """Processes of this run still running the rule's script (a killed job's orphaned workers would be here).

    Only processes working in ``workdir`` (their cwd or command line): other runs on a shared
    machine (another checkout's tests, a user's ``--forcerun simulate_shard``) are not survivors.
    """
    found = []
    root = str(workdir)
    for proc in psutil.process_iter(["cmdline", "status", "cwd"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if script not in cmdline or "pytest" in cmdline or proc.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        if root in cmdline or (proc.info["cwd"] or "").startswith(root):
            found.append(proc)
    return found


def planned_rules(workdir: Path, configs: tuple[Path, ...] = (), *targets: str) -> set[str]:
    result = run(workdir, "-n", *targets, configs=configs)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return set(re.findall(r"^rule (\w+):", result.stdout + result.stderr, flags=re.MULTILINE))


def finish_and_check_nothing_left(workdir: Path, configs: tuple[Path, ...] = ()) -> None:
    result = run(workdir, configs=configs)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert planned_rules(workdir, configs) == set()
    assert not list((workdir / "results").rglob("*.tmp")), "temporary files left in results/"


@pytest.fixture
def finished_copy(tiny_run: Path, tmp_path: Path) -> Path:
    """A private copy of the finished tiny run (mtimes and Snakemake's records kept)."""
    workdir = tmp_path / "run"
    shutil.copytree(tiny_run, workdir, symlinks=True)
    return workdir


def config_file(tmp_path: Path, change: dict) -> Path:
    path = tmp_path / "change.yaml"
    path.write_text(yaml.safe_dump(change))
    return path


def test_killed_plot_job_leaves_no_figure_folder_and_no_worker(finished_copy: Path, tmp_path: Path) -> None:
    change = config_file(tmp_path, {"explain": {"n_random_per_class": 5}})  # more figures: the job takes a while
    folder = finished_copy / "results/plots/saliency/multiclass"
    log = finished_copy / "results/logs/plot_saliency_spectra/multiclass.log"
    log.unlink()
    # Two workers, so the figures are drawn by a process pool (the rule's default is one core).
    process = start(
        finished_copy, "results/plots/saliency/multiclass", "--set-threads", "plot_saliency_spectra=2", configs=(change,)
    )

    def first_figure_drawn() -> bool:
        return any(building.glob("*.png") for building in folder.parent.glob(".multiclass.*.tmp"))

    kill_job(log, process, first_figure_drawn)
    time.sleep(2)  # an orphaned worker would write its figures now
    assert not survivors("plot_saliency_spectra", finished_copy), "a pool worker outlived its killed job"
    assert not folder.exists(), "a figure folder appeared under its final name after the job was killed"
    assert "plot_saliency_spectra" in planned_rules(finished_copy, (change,))

    finish_and_check_nothing_left(finished_copy, (change,))
    selected = read_table(finished_copy / "results/saliency/multiclass_selected.ecsv")
    assert sorted(p.stem for p in folder.glob("*.png")) == sorted(row["specid"] for row in selected)


@pytest.mark.parametrize("how", ["SIGKILL to the job", "Ctrl-C to snakemake", "SIGINT to snakemake alone"])
def test_interrupted_grid_search_is_redone_by_a_plain_rerun(finished_copy: Path, tmp_path: Path, how: str) -> None:
    grids = yaml.safe_load(TINY.read_text())["classify"]["grids"]
    # A search long enough to be interrupted (the default one takes 2 s on the tiny sample):
    # 36 candidates, each fitted with its calibration folds.
    grids["poly2"].update(C=[0.1, 0.2, 0.3, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0, 50.0], gamma=[0.01, 0.03, 0.1])
    change = config_file(tmp_path, {"classify": {"grids": grids, "search_scores": "probabilities"}})
    model = finished_copy / "results/models/multiclass/poly2.joblib"
    log = finished_copy / "results/logs/search_grid/multiclass_poly2.log"
    log.unlink()
    process = start(finished_copy, "results/models/multiclass/poly2.joblib", configs=(change,))
    if how == "SIGKILL to the job":
        kill_job(log, process)
    else:  # Ctrl-C in a terminal: SIGINT to the foreground process group (snakemake and its job)
        wait_for(lambda: job_pid(log) is not None, "the search to start", process)
        if how == "Ctrl-C to snakemake":
            os.killpg(process.pid, signal.SIGINT)
        else:  # the job does not see the signal: Snakemake waits for it, and it writes its model
            os.kill(process.pid, signal.SIGINT)
        output, _ = process.communicate(timeout=WAIT_S)
        assert process.returncode != 0, output[-3000:]
    if how == "SIGKILL to the job":
        assert not model.exists(), "the killed search's model is still there"
    # After Ctrl-C, Snakemake waits for a running job; a job that finishes its write in that
    # window (it may be past any point where Python raises KeyboardInterrupt) leaves a model that
    # Snakemake has not recorded as complete — so the dry run below must plan the search again.
    assert "search_grid" in planned_rules(finished_copy, (change,)), "the interrupted search is not redone"

    finish_and_check_nothing_left(finished_copy, (change,))
    assert model.stat().st_size > 0
    metadata = yaml.safe_load((finished_copy / "results/models/multiclass/poly2.json").read_text())
    assert metadata["kernel"] == "poly2"
    assert len(read_table(finished_copy / "results/classify/multiclass/poly2_cv.ecsv")) == 36  # the new grid's candidates


def test_plain_rerun_remakes_a_missing_model(finished_copy: Path) -> None:
    """Snakemake does not remake a missing file whose readers are up to date (snakemake#1978):
    `rule all` asks for every model, so an interrupted run cannot leave one missing."""
    (finished_copy / "results/models/multiclass/poly2.joblib").unlink()
    assert planned_rules(finished_copy) >= {"search_grid"}
    finish_and_check_nothing_left(finished_copy)
    assert (finished_copy / "results/models/multiclass/poly2.joblib").exists()


def test_killed_simulation_is_redone_by_a_plain_rerun(tmp_path: Path) -> None:
    workdir = tmp_path / "run"
    workdir.mkdir()
    change = config_file(
        tmp_path, {"data": {"n_shards": 1}, "synthetic": {"n_type1": 400, "n_type2": 400, "n_intermediate": 200}}
    )
    target = "results/reduced/shards/shard-000.h5"
    log = workdir / "results/logs/simulate_shard/000.log"
    fits_dir = workdir / "data/synthetic"
    process = start(workdir, target, configs=(change,))
    kill_job(log, process, lambda: sum(1 for _ in fits_dir.rglob("*.fits")) >= 50)
    inventory = workdir / "results/acquire/inventory/shard-000.ecsv"
    assert not inventory.exists(), "the killed simulation's inventory exists"
    assert not survivors("simulate_shard", workdir)
    assert "simulate_shard" in planned_rules(workdir, (change,), target)

    result = run(workdir, target, configs=(change,))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    rows = read_table(inventory)
    assert len(rows) == 1000
    with h5py.File(workdir / target, "r") as shard:
        n_reduced = shard["flux"].shape[0]
    n_rejected = len(read_table(workdir / "results/reduced/shards/rejected-000.ecsv"))
    assert n_reduced + n_rejected == 1000
    assert not list((workdir / "results").rglob("*.tmp"))


def test_killed_predict_figures_are_redone_by_a_plain_rerun(finished_copy: Path) -> None:
    folder = finished_copy / "data/synthetic"  # the run's own 60 spectra, unlabelled for predict
    name = folder_label(folder)
    plots = finished_copy / f"results/predict/{name}/plots"
    log = finished_copy / f"results/logs/plot_predictions/{name}.log"
    args = ("predict", "--config", f"predict_dir={folder}")
    process = start(finished_copy, *args)

    def first_figure_drawn() -> bool:
        return any(building.glob("*.png") for building in plots.parent.glob(".plots.*.tmp"))

    kill_job(log, process, first_figure_drawn)
    time.sleep(2)
    assert not survivors("plot_predictions", finished_copy), "a pool worker outlived its killed job"
    assert not plots.exists(), "a figure folder appeared under its final name after the job was killed"
    assert "plot_predictions" in planned_rules(finished_copy, (), *args)

    result = run(finished_copy, *args)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert planned_rules(finished_copy, (), *args) == set()
    rows = read_table(finished_copy / f"results/predict/{name}/predictions.ecsv")
    assert sorted(p.stem for p in plots.glob("*.png")) == sorted(row["key"] for row in rows if row["status"] != "rejected")
    assert len(list(plots.glob("*.png"))) >= 50


def test_killed_predict_shard_is_redone_by_a_plain_rerun(finished_copy: Path, tmp_path: Path) -> None:
    """A shard job killed once it has written maps of its first chunk: no shard output under its final
    name, a plain rerun redoes it, and the result equals an uninterrupted run's."""
    import numpy as np

    from agn_saliency.explain.maps import read_saliency

    folder = finished_copy / "data/synthetic"  # the run's own 60 spectra, unlabelled for predict
    name = folder_label(folder)
    change = config_file(tmp_path, {"predict": {"n_shards": 2, "figures": "none"}})
    shards = finished_copy / f"results/predict/{name}/shards/2"
    log = finished_copy / f"results/logs/predict_shard/{name}/2/0.log"
    args = ("predict", "--config", f"predict_dir={folder}")
    process = start(finished_copy, *args, configs=(change,))

    def first_chunk_written() -> bool:  # the shard's maps file, still under its temporary name, holds a chunk
        return any(part.stat().st_size > 0 for part in shards.glob(".0.h5.*.tmp"))

    kill_job(log, process, first_chunk_written)
    assert not (shards / "0.jsonl").exists() and not (shards / "0.h5").exists(), (
        "a killed shard left an output that looks finished"
    )
    assert not (finished_copy / f"results/predict/{name}/predictions.ecsv").exists()
    assert "predict_shard" in planned_rules(finished_copy, (change,), *args)

    result = run(finished_copy, *args, configs=(change,))  # the plain rerun
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert planned_rules(finished_copy, (change,), *args) == set()
    assert not list((finished_copy / "results").rglob("*.tmp")), "temporary files left in results/"
    out = finished_copy / f"results/predict/{name}"
    rerun_rows, rerun_maps = read_table(out / "predictions.ecsv"), read_saliency(out / "saliency.h5")
    assert len(rerun_rows) == 60

    # the same run, uninterrupted
    result = run(finished_copy, *args, "--forcerun", "predict_shard", configs=(change,))
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert read_table(out / "predictions.ecsv") == rerun_rows
    whole = read_saliency(out / "saliency.h5")
    assert list(whole.key) == list(rerun_maps.key)
    for method, maps in whole.attributions.items():
        np.testing.assert_array_equal(maps, rerun_maps.attributions[method])
