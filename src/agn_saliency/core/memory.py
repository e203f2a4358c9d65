"""The C allocator's thresholds for a job that reads many files of a few hundred kB to a few MB.

glibc's ``malloc`` hands a request above its mmap threshold (128 kB at first, raised as such
blocks are freed, at most 32 MB) to ``mmap`` and gives it back to the kernel on ``free``; and it
returns the top of its heap to the kernel (``trim``) once more than the trim threshold is free
there. A predict shard job allocates, per file, buffers of that size (the file's bytes, the
decompressed bytes, the spectrum's arrays) and frees them before the next: each file's buffers
were fresh pages from the kernel, and the page faults that map them cost ≈ 0.2 ms of system CPU a
file. :func:`keep_freed_memory` raises both thresholds, so freed buffers stay in the heap and the
next file's reuse them (``mallopt(3)``; the same as ``MALLOC_MMAP_THRESHOLD_`` and
``MALLOC_TRIM_THRESHOLD_`` in the environment). The job's peak memory is unchanged (what a chunk
holds is freed before the next chunk); the heap keeps its high-water mark instead of shrinking
between files.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import logging
import sys

MMAP_THRESHOLD_BYTES = 256 * 2**20
"""Requests up to this size come from the heap (glibc's ``M_MMAP_THRESHOLD``): every buffer of a file."""
TRIM_THRESHOLD_BYTES = 2**30
"""Free memory at the heap's top is given back to the kernel only above this (glibc's ``M_TRIM_THRESHOLD``)."""
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
"""``mallopt`` parameter numbers (glibc's ``malloc.h``)."""

log = logging.getLogger(__name__)


@functools.cache
def keep_freed_memory() -> bool:
    """Raise glibc's mmap and trim thresholds for this process (see the module docstring), once;
    True when they were set. Elsewhere (another C library, another platform) nothing changes and
    False is returned: the job runs as before, with more page faults."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt  # glibc and musl have the symbol; musl's ignores these parameters
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    done = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES)) and bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES))
    if not done:
        log.debug("mallopt refused the thresholds: the allocator keeps its defaults")
    return done
