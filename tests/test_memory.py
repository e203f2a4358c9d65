"""agn_saliency.core.memory: glibc's allocator thresholds for a shard job, skipped elsewhere."""

from __future__ import annotations

import platform
import sys

import pytest

from agn_saliency.core import memory


def test_thresholds_are_set_on_glibc_and_skipped_elsewhere(monkeypatch) -> None:
    memory.keep_freed_memory.cache_clear()
    monkeypatch.setattr(sys, "platform", "darwin")
    assert memory.keep_freed_memory() is False  # another platform: nothing changes, no error
    memory.keep_freed_memory.cache_clear()
    monkeypatch.setattr(sys, "platform", "linux")
    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc: mallopt's thresholds are not these")
    assert memory.keep_freed_memory() is True
    assert memory.keep_freed_memory() is True  # once: the cached answer


def test_a_shard_job_sets_the_thresholds(monkeypatch, tmp_path) -> None:
    """run_shard asks for them before its first chunk (an empty folder still makes one)."""
    from agn_saliency.predict import shards

    calls: list[int] = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(1) or True)
    (tmp_path / "empty").mkdir()
    with pytest.raises(TypeError, match="dataclass"):  # no reduction parameters: the job stops at its first chunk
        shards.run_shard(tmp_path / "empty", 0, 1, None, None, tmp_path / "0.jsonl", tmp_path / "0.h5")
    assert calls == [1]
