"""Logging set-up shared by the workflow scripts."""

from __future__ import annotations

import logging
import os
import socket
import sys
import time
from collections.abc import Iterable, Iterator
from typing import TypeVar

from agn_saliency.core.redact import RedactingFilter

T = TypeVar("T")

PROGRESS_EVERY_S = 15.0
"""Seconds between two progress lines of a long loop (:func:`progress`)."""


def setup_logging(path: str | None, level: int = logging.INFO, terminal_level: int | None = None) -> logging.Logger:
    """Send log records to ``path`` (the rule's ``log:``) and stderr; record where the job ran.

    ``terminal_level`` (default ``level``) is the least severe record stderr shows: a workflow job
    passes ``logging.WARNING``, so its progress goes to its log file and the terminal shows what
    needs attention. The first lines name the host and, when the job runs under SLURM,
    ``SLURM_JOB_ID=<id>`` — the proof a cluster test looks for. Every handler redacts credentials
    in URLs (:class:`~agn_saliency.core.redact.RedactingFilter`).
    """
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(level if terminal_level is None else terminal_level)
    handlers: list[logging.Handler] = [terminal]
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    for handler in handlers:
        handler.addFilter(RedactingFilter())
    logging.basicConfig(level=level, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    logger = logging.getLogger("agn_saliency")
    logger.info("host=%s pid=%d", socket.gethostname(), os.getpid())
    if "SLURM_JOB_ID" in os.environ:
        logger.info("SLURM_JOB_ID=%s", os.environ["SLURM_JOB_ID"])
    return logger


def progress(
    items: Iterable[T],
    what: str,
    total: int | None = None,
    every_s: float = PROGRESS_EVERY_S,
    logger: str = "agn_saliency.progress",
) -> Iterator[T]:
    """Yield ``items``, logging ``what: done/total (percent), rate/s, ETA`` every ``every_s`` seconds
    and once at the end (INFO: into the job's log file, not the terminal), so a long job shows
    how far it is: ``tail -f results/logs/<rule>/<job>.log``.

    >>> list(progress([1, 2, 3], "spectra", every_s=0))
    [1, 2, 3]
    """
    log = logging.getLogger(logger)
    if total is None:
        total = len(items) if hasattr(items, "__len__") else 0  # type: ignore[arg-type]
    start = last = time.monotonic()
    done = 0

    def report(now: float) -> None:
        rate = done / (now - start) if now > start else float("inf")
        if total:
            eta = (total - done) / rate if rate and rate != float("inf") else 0.0
            log.info("%s: %d/%d (%.0f %%), %.3g/s, ETA %.0f s", what, done, total, 100.0 * done / total, rate, eta)
        else:
            log.info("%s: %d, %.3g/s", what, done, rate)

    for item in items:
        yield item
        done += 1
        now = time.monotonic()
        if now - last >= every_s:
            report(now)
            last = now
    report(time.monotonic())
