"""Process pools whose workers never outlive the job that started them.

When a job's main process is SIGKILLed (a cluster's time limit, the OOM killer, ``kill -9``),
``ProcessPoolExecutor`` workers are orphaned and keep writing; Snakemake has already removed the
job's outputs, so a result re-created by an orphan would look finished. Workers here ask the
kernel for SIGKILL when their parent dies (Linux ``PR_SET_PDEATHSIG``) and, everywhere, check
before each task that their parent is still the process that started them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import multiprocessing
import os
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = ["contiguous_chunks", "map_in_workers"]

T = TypeVar("T")

_PR_SET_PDEATHSIG = 1
_parent_pid: int | None = None


def _die_with_parent(parent_pid: int) -> None:
    """Pool initializer: SIGKILL this worker when its parent dies; exit now if it already has."""
    global _parent_pid
    _parent_pid = parent_pid
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)


def _call_if_parent_alive(function: Callable[..., Any], arguments: tuple[Any, ...]) -> Any:
    if _parent_pid is not None and os.getppid() != _parent_pid:
        os._exit(1)  # orphaned (non-Linux): write nothing more
    return function(*arguments)


def map_in_workers(function: Callable[..., Any], calls: Iterable[tuple[Any, ...]], workers: int) -> list[Any]:
    """``[function(*arguments) for arguments in calls]``, run by ``workers`` processes.

    With ``workers <= 1`` (or one call) everything runs in this process. Results are in call
    order; the first exception propagates. Workers die with this process (see module docs).
    """
    calls = list(calls)
    if workers <= 1 or len(calls) <= 1:
        return [function(*arguments) for arguments in calls]
    # fork on Linux: the workers must be children of this process (a forkserver would be their parent)
    context = multiprocessing.get_context("fork") if sys.platform.startswith("linux") else None
    with ProcessPoolExecutor(
        max_workers=min(workers, len(calls)), mp_context=context, initializer=_die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        return list(pool.map(_call_if_parent_alive, [function] * len(calls), calls))


def contiguous_chunks(items: Sequence[T], chunks: int) -> list[list[T]]:
    """``items`` cut into at most ``chunks`` runs of consecutive items, in order, none empty, lengths within one.

    For :func:`map_in_workers` calls that are cheaper by the batch (e.g. figures drawn on one
    reused matplotlib figure): one call per worker instead of one per item.
    """
    items = list(items)
    chunks = max(1, min(chunks, len(items)))
    bounds = [len(items) * i // chunks for i in range(chunks + 1)]
    return [items[lo:hi] for lo, hi in zip(bounds[:-1], bounds[1:]) if hi > lo]
