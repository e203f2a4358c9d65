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
    """Rule predict_shard's stage function asks for them before anything else (here it then stops at the
    missing model); run_shard, a library function, leaves the calling process's allocator alone."""
    from agn_saliency.stages import predict

    calls: list[int] = []
    monkeypatch.setattr(memory, "keep_freed_memory", lambda: calls.append(1) or True)
    with pytest.raises(Exception, match="missing.joblib|No such file"):
        predict.predict_shard(
            model=str(tmp_path / "missing.joblib"), served=str(tmp_path / "missing.npz"),
            calibration=str(tmp_path / "missing.json"), rows_out=str(tmp_path / "0.jsonl"),
            saliency_out=str(tmp_path / "0.h5"), folder=str(tmp_path), name="data", shard=0, n_shards=1,
            files=[], reduce={}, methods={}, limits=None, low_confidence_p_max=0.5, fingerprint="",
        )  # fmt: skip
    assert calls == [1]
