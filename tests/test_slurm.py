"""Run the tiny workflow through a real single-node SLURM and compare it with a local run.

``pytest -m slurm`` (root only). The module fixture starts a private SLURM cluster on
localhost with ``tests/slurm/start.sh`` (installs ``slurm-wlm`` with apt if needed) and stops
it afterwards with ``tests/slurm/stop.sh`` -- unless a cluster was already running in the same
state directory, which is then reused and left running.

Proof that every job ran as a SLURM job:

* Snakemake reports a SLURM job id for every non-local job it submitted;
* the job's ``log:`` file contains ``SLURM_JOB_ID=<that id>`` (the workflow's scripts log the
  variable at start; it only exists inside a SLURM allocation);
* slurmctld.log and the jobcomp record list the id as completed with exit code 0, and
  ``squeue --states=all`` still shows the latest ones as COMPLETED (MinJobAge=300).

Then the same workflow runs locally (``--cores 2``) and the metrics files must be identical.

Environment knobs: ``AGN_SLURM_DIR`` (state dir, default /tmp/agn-slurm);
``AGN_TEST_SNAKEFILE`` / ``AGN_TEST_CONFIGFILE`` point the test at another workflow (used to
validate the harness on a stand-in workflow before the real one existed).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.slurm

REPO = Path(__file__).resolve().parents[1]
SLURM_SCRIPTS = REPO / "tests" / "slurm"
PROFILE = REPO / "profiles" / "slurm"
SNAKEFILE = Path(os.environ.get("AGN_TEST_SNAKEFILE", REPO / "Snakefile"))
CONFIGFILE = Path(os.environ.get("AGN_TEST_CONFIGFILE", REPO / "tests" / "config" / "tiny.yaml"))
STATE_DIR = Path(os.environ.get("AGN_SLURM_DIR", "/tmp/agn-slurm"))
METRICS = ("results/metrics/binary.json", "results/metrics/multiclass.json")
RUN_TIMEOUT_S = 3600

# exit codes of start.sh that mean "cannot have SLURM here" rather than "SLURM is broken"
_SKIP_CODES = {2: "not root", 3: "apt-get cannot install slurm-wlm"}


def _pid_alive(pidfile: Path) -> bool:
    try:
        os.kill(int(pidfile.read_text().strip()), 0)
    except (OSError, ValueError):
        return False
    return True


def _slurm_env(conf: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["SLURM_CONF"] = str(conf)
    # sbatch exports the caller's environment: the jobs must find this venv's python/snakemake
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.pop("SNAKEMAKE_PROFILE", None)
    return env


def _run(cmd: list[str], env: dict[str, str], what: str) -> str:
    proc = subprocess.run(
        cmd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    if proc.returncode != 0:
        pytest.fail(f"{what} failed (exit {proc.returncode}): {' '.join(cmd)}\n---- output (tail)\n{proc.stdout[-8000:]}")
    return proc.stdout


@pytest.fixture(scope="module")
def slurm_cluster():
    """Start (or reuse) the single-node cluster; yield its state dir."""
    if os.geteuid() != 0:
        pytest.skip("SLURM test needs root (installs slurm-wlm, runs slurmctld/slurmd)")
    was_running = _pid_alive(STATE_DIR / "run" / "slurmctld.pid")
    proc = subprocess.run(
        ["bash", str(SLURM_SCRIPTS / "start.sh"), str(STATE_DIR)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode in _SKIP_CODES:
        pytest.skip(f"no SLURM: {_SKIP_CODES[proc.returncode]}\n{proc.stderr[-2000:]}")
    if proc.returncode != 0:
        pytest.fail(f"tests/slurm/start.sh failed (exit {proc.returncode}):\n{proc.stderr}")
    yield STATE_DIR
    if not was_running:
        subprocess.run(["bash", str(SLURM_SCRIPTS / "stop.sh"), str(STATE_DIR)], timeout=120)


def _node_limits(env: dict[str, str]) -> tuple[int, int]:
    """(CPUs, RealMemory in MB) of the single node."""
    out = subprocess.run(["scontrol", "show", "node", "-o"], env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    cpus = int(re.search(r"\bCPUTot=(\d+)", out).group(1))
    mem = int(re.search(r"\bRealMemory=(\d+)", out).group(1))
    return cpus, mem


def _fit_to_node(cpus: int, mem_mb: int) -> list[str]:
    """Extra CLI options so that the profile's heavy-rule requests fit the test node.

    Threads are capped with ``--max-threads``; ``mem_mb`` above the node's RealMemory would make
    sbatch reject the job, so only then the profile's ``set-resources`` are re-passed, clamped.
    """
    opts = ["--max-threads", str(cpus)]
    profile = yaml.safe_load((PROFILE / "config.yaml").read_text())
    set_res = profile.get("set-resources") or {}
    if any(int(r.get("mem_mb", 0)) > mem_mb for r in set_res.values()):
        opts.append("--set-resources")
        for rule, res in set_res.items():
            for key, value in res.items():
                if key == "mem_mb":
                    value = min(int(value), mem_mb)
                opts.append(f"{rule}:{key}={value}")
    return opts


# Snakemake's job blocks: "rule NAME:" / "localrule NAME:" followed by indented "key: value"
_JOB_BLOCK = re.compile(r"^(local)?rule (\w+):\n((?:[ \t]+\S.*\n)+)", re.MULTILINE)
_SUBMITTED = re.compile(r"Job (\d+) has been submitted with SLURM jobid (\d+)")


def _parse_jobs(output: str) -> dict[int, dict]:
    """Snakemake job id -> {rule, local, logs, slurm_ids} from a run's output."""
    jobs: dict[int, dict] = {}
    for m in _JOB_BLOCK.finditer(output):
        fields = dict(re.findall(r"^[ \t]+(\w+): (.*)$", m.group(3), re.MULTILINE))
        if "jobid" not in fields:
            continue
        logs = [p.strip() for p in fields.get("log", "").split(",") if p.strip()]
        jobs[int(fields["jobid"])] = {
            "rule": m.group(2),
            "local": bool(m.group(1)),
            "logs": logs,
            "slurm_ids": [],
        }
    for jobid, slurm_id in _SUBMITTED.findall(output):
        jobs.setdefault(int(jobid), {"rule": "?", "local": False, "logs": [], "slurm_ids": []})
        jobs[int(jobid)]["slurm_ids"].append(slurm_id)
    return jobs


def _slurm_command(workdir: Path, env: dict[str, str], *extra: str) -> list[str]:
    """Snakemake on the tiny workflow through profiles/slurm in ``workdir`` (``extra``: more arguments)."""
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(SNAKEFILE),
        "--directory",
        str(workdir),
        "--configfile",
        str(CONFIGFILE),
        *extra,
        "--profile",
        str(PROFILE),
        "--jobs",
        "4",
        # test-only speed/strictness: poll early (MinJobAge=300 >> 3 x 2 s), no resubmission
        "--slurm-init-seconds-before-status-checks",
        "2",
        "--retries",
        "0",
        *_fit_to_node(*_node_limits(env)),
    ]


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    """Run the tiny workflow through profiles/slurm; return (workdir, output, jobs)."""
    assert SNAKEFILE.is_file(), f"workflow missing: {SNAKEFILE}"
    assert CONFIGFILE.is_file(), f"tiny config missing: {CONFIGFILE}"
    env = _slurm_env(slurm_cluster / "slurm.conf")
    workdir = tmp_path_factory.mktemp("slurm-run")
    cmd = _slurm_command(workdir, env)
    output = _run(cmd, env, "snakemake through SLURM")
    (workdir / "snakemake-slurm.out").write_text(output)
    # The terminal has one line per job (agn-saliency's logger); Snakemake's complete log file
    # keeps every job's block (rule, jobid, log) and the executor's submissions.
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    assert logs, f"no Snakemake log in {workdir / '.snakemake' / 'log'}"
    return workdir, output, _parse_jobs(logs[-1].read_text())


@pytest.fixture(scope="module")
def local_run(tiny_run):
    """The local run of the tiny workflow, shared with tests/test_workflow.py (see conftest)."""
    return tiny_run


def test_every_job_ran_as_slurm_job(slurm_cluster, slurm_run, capsys):
    workdir, output, jobs = slurm_run
    remote = {j: info for j, info in jobs.items() if not info["local"]}
    assert remote, f"no job was submitted to SLURM:\n{output[-4000:]}"

    problems = []
    slurm_ids = []
    for jobid, info in sorted(remote.items()):
        label = f"job {jobid} (rule {info['rule']})"
        if not info["slurm_ids"]:
            problems.append(f"{label}: no SLURM job id reported by Snakemake")
            continue
        sid = info["slurm_ids"][-1]
        slurm_ids.append(sid)
        if not info["logs"]:
            problems.append(f"{label}: rule has no log: file, cannot prove SLURM_JOB_ID")
            continue
        texts = [(workdir / p).read_text() if (workdir / p).is_file() else "" for p in info["logs"]]
        found = set(re.findall(r"SLURM_JOB_ID=(\S+)", "\n".join(texts)))
        if found != {sid}:
            problems.append(f"{label}: logs {info['logs']} have SLURM_JOB_ID {sorted(found) or 'none'}, expected {sid}")
    assert not problems, "\n".join(problems)

    # the controller's view: every id completed with exit code 0
    ctld_log = (slurm_cluster / "log" / "slurmctld.log").read_text()
    jobcomp = (slurm_cluster / "log" / "jobcomp.log").read_text()
    for sid in slurm_ids:
        assert re.search(rf"_job_complete: JobId={sid} WEXITSTATUS 0\b", ctld_log), (
            f"slurmctld.log has no successful completion of JobId={sid}"
        )
        assert re.search(rf"^JobId={sid} .*JobState=COMPLETED", jobcomp, re.MULTILINE), (
            f"jobcomp.log has no COMPLETED record of JobId={sid}"
        )

    env = _slurm_env(slurm_cluster / "slurm.conf")
    squeue = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--format=%i|%T"], env=env, check=True, stdout=subprocess.PIPE, text=True
    ).stdout
    states = dict(line.split("|", 1) for line in squeue.split())
    listed = [sid for sid in slurm_ids if sid in states]
    assert max(slurm_ids, key=int) in states, f"latest job not in squeue --states=all:\n{squeue}"
    assert all(states[sid] == "COMPLETED" for sid in listed), squeue
    with capsys.disabled():  # evidence in the CI log, whatever pytest's verbosity
        rules = sorted({info["rule"] for info in remote.values()})
        completions = sum(bool(re.search(rf"_job_complete: JobId={sid} WEXITSTATUS 0\b", ctld_log)) for sid in slurm_ids)
        print(
            f"\n[slurm] {len(slurm_ids)} jobs of {len(rules)} rules ran through slurmctld "
            f"(SLURM job ids {min(slurm_ids, key=int)}–{max(slurm_ids, key=int)}), each log holds its SLURM_JOB_ID; "
            f"slurmctld.log records {completions} of them completed with exit code 0"
        )


def test_slurm_metrics_equal_local(slurm_run, local_run):
    slurm_dir = slurm_run[0]
    for rel in METRICS:
        a, b = slurm_dir / rel, local_run / rel
        assert a.is_file() and b.is_file(), f"missing {rel}: slurm={a.is_file()} local={b.is_file()}"
        assert json.loads(a.read_text()) == json.loads(b.read_text()), f"{rel} differs"


def test_sharded_predict_runs_through_slurm(slurm_cluster, slurm_run, local_run, tmp_path):
    """`snakemake predict` with predict.n_shards: 2 on the run's own spectra: each shard job, the merge
    and the figures are SLURM jobs (their logs hold their SLURM_JOB_ID), and the table is the local one's."""
    from agn_saliency.io.tables import read_table

    workdir = slurm_run[0]
    env = _slurm_env(slurm_cluster / "slurm.conf")
    shards = tmp_path / "shards.yaml"
    shards.write_text("predict:\n  n_shards: 2\n  figures: none\n")
    folder = "data/synthetic"  # the tiny run's 60 simulated spectra, unlabelled for predict
    extra = (str(shards), "--config", f"predict_dir={workdir / folder}")
    # the target after the options: --config takes every word up to the next option
    _run([*_slurm_command(workdir, env, *extra), "predict"], env, "sharded predict through SLURM")
    logs = sorted((workdir / ".snakemake" / "log").glob("*.snakemake.log"))
    jobs = _parse_jobs(logs[-1].read_text())
    shard_jobs = [info for info in jobs.values() if info["rule"] == "predict_shard"]
    assert len(shard_jobs) == 2, jobs
    for info in [*shard_jobs, *(i for i in jobs.values() if i["rule"] == "predict_spectra")]:
        assert not info["local"] and info["slurm_ids"], info
        text = "".join((workdir / p).read_text() for p in info["logs"])
        assert f"SLURM_JOB_ID={info['slurm_ids'][-1]}" in text, (info, text[-2000:])
        assert info["rule"] != "predict_shard" or "files/s" in text  # the shard's progress
    local = run_local_predict(local_run, local_run / folder, shards)
    name = "synthetic"
    remote = read_table(workdir / "results" / "predict" / name / "predictions.ecsv")
    same = ("key", "verdict", "predicted", "status", "agn_status", "p_max")
    assert [{k: r[k] for k in same} for r in remote] == [{k: r[k] for k in same} for r in local]
    assert len(remote) == 60


def run_local_predict(workdir: Path, folder: Path, config: Path) -> list[dict[str, str]]:
    from helpers import run_tiny

    from agn_saliency.io.tables import read_table

    result = run_tiny(workdir, "--cores", "2", "predict", "--config", f"predict_dir={folder}", configs=(config,))
    assert result.returncode == 0, result.stderr[-3000:]
    return read_table(workdir / "results" / "predict" / folder.name / "predictions.ecsv")
