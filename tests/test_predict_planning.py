"""Planning `snakemake predict` costs one search of the folder, not one per shard (issue 19).

A dry run of ``snakemake predict`` with ``predict.n_shards`` shards evaluates every shard job's
params (its fingerprint and files, also for its settings file): each derives from one search of the
folder and one read of its digest cache per Snakemake invocation (``digests`` in common.smk),
whatever the shard count. Counted here by running Snakemake in a process whose
:mod:`agn_saliency.acquire.inventory` counts its searches, digest-cache reads and file reads.
A shard job given its planned files (``params: files``) does not search the folder either.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import REPO, TINY

from agn_saliency.acquire.inventory import folder_digests, folder_fingerprint, path_shard

# Snakemake in this process, with the inventory's folder searches, digest-cache reads and file
# reads counted (by folder / by file) and written as JSON to argv[1] when the process ends.
COUNTING_SNAKEMAKE = """
import atexit, collections, json, sys
import agn_saliency.acquire.inventory as inventory

counts = {"searches": collections.Counter(), "cache_reads": collections.Counter(), "file_reads": collections.Counter()}

def counted(name, kind):
    original = getattr(inventory, name)
    def wrapper(path, *args, **kwargs):
        counts[kind][str(path)] += 1
        return original(path, *args, **kwargs)
    setattr(inventory, name, wrapper)

counted("folder_scan", "searches")
counted("read_digest_cache", "cache_reads")
counted("_content_digest", "file_reads")
out = sys.argv[1]
atexit.register(lambda: open(out, "w").write(json.dumps(counts)))
from snakemake.cli import main
main(sys.argv[2:])
"""

N_SHARDS = 8


def plan(workdir: Path, folder: Path, counts: Path) -> tuple[dict[str, dict[str, int]], str]:
    """A dry run of `snakemake predict` on ``folder`` in ``workdir``: (the counts, the run's output)."""
    config = workdir / "shards.yaml"
    config.write_text(f"predict:\n  n_shards: {N_SHARDS}\n  figures: none\n")
    command = [sys.executable, "-c", COUNTING_SNAKEMAKE, str(counts), "-s", str(REPO / "Snakefile"), "-d", str(workdir)]
    command += ["-n", "predict", "--configfile", str(TINY), str(config), "--config", f"predict_dir={folder}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(counts.read_text()), result.stdout + result.stderr


def planned_shards(output: str) -> list[str]:
    """The wildcards lines of the predict_shard jobs a dry run lists."""
    lines = output.splitlines()
    return [
        lines[i + j].strip()
        for i, line in enumerate(lines)
        if line.startswith("rule predict_shard:")
        for j in range(1, 12)
        if i + j < len(lines) and lines[i + j].strip().startswith("wildcards:")
    ]


@pytest.mark.workflow
def test_planning_searches_the_folder_once_whatever_the_shard_count(tmp_path: Path) -> None:
    folder = tmp_path / "survey"
    for i in range(40):  # planning only: names and bytes, never read as spectra
        path = folder / f"p{i % 4}" / f"spec-{i:04d}.fits"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"SIMPLE  = T" + bytes([i]) * 100)
    workdir = tmp_path / "run"
    workdir.mkdir()

    counts, output = plan(workdir, folder, tmp_path / "first.json")
    assert len(planned_shards(output)) == N_SHARDS  # every shard's params were evaluated
    assert counts["searches"] == {str(folder): 1}, counts["searches"]
    assert sum(counts["cache_reads"].values()) == 1, counts["cache_reads"]
    assert sorted(counts["file_reads"].values()) == [1] * 40  # no cache yet: each file read once

    counts, output = plan(workdir, folder, tmp_path / "second.json")
    assert counts["searches"] == {str(folder): 1} and sum(counts["cache_reads"].values()) == 1, counts
    assert counts["file_reads"] == {}  # the digest cache knows every file

    added = folder / "p9" / "new.fits"
    added.parent.mkdir()
    added.write_bytes(b"SIMPLE  = T new")
    counts, output = plan(workdir, folder, tmp_path / "third.json")
    assert counts["searches"] == {str(folder): 1} and sum(counts["cache_reads"].values()) == 1, counts
    assert counts["file_reads"] == {str(added): 1}
    assert len(planned_shards(output)) == N_SHARDS


def test_a_shard_given_its_files_does_not_search_the_folder(tmp_path: Path, monkeypatch) -> None:
    from agn_saliency.predict import shards

    folder = tmp_path / "survey"
    for i in range(30):
        (folder / f"d{i % 3}").mkdir(parents=True, exist_ok=True)
        (folder / f"d{i % 3}" / f"s{i:03d}.fits").write_bytes(b"x")
    planned = folder_digests(folder)
    searched = [shards.shard_scan(folder, shard, 4).files for shard in range(4)]

    def no_search(path):
        raise AssertionError(f"{path} searched")

    monkeypatch.setattr(shards, "folder_scan", no_search)
    given = [shards.shard_scan(folder, shard, 4, planned.shard_files(shard, 4)).files for shard in range(4)]
    assert given == searched and sum(map(len, given)) == 30
    assert [planned.fingerprint((shard, 4)) for shard in range(4)] == [
        folder_fingerprint(folder, shard=(shard, 4)) for shard in range(4)
    ]
    wrong = planned.shard_files(1, 4)[0]  # a file of shard 1 given as shard 0's
    assert path_shard(wrong, 4) == 1
    with pytest.raises(ValueError, match="not in shard 0 of 4"):
        shards.shard_scan(folder, 0, 4, [wrong])
