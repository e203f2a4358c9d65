"""Logging set-up shared by the workflow scripts."""

from __future__ import annotations

import logging
import os
import socket
import sys


def setup_logging(path: str | None, level: int = logging.INFO, terminal_level: int | None = None) -> logging.Logger:
    """Send log records to ``path`` (the rule's ``log:``) and stderr; record where the job ran.

    ``terminal_level`` (default ``level``) is the least severe record stderr shows: a workflow job
    passes ``logging.WARNING``, so its progress goes to its log file and the terminal shows what
    needs attention. The first lines name the host and, when the job runs under SLURM,
    ``SLURM_JOB_ID=<id>`` — the proof a cluster test looks for.
    """
    terminal = logging.StreamHandler(sys.stderr)
    terminal.setLevel(level if terminal_level is None else terminal_level)
    handlers: list[logging.Handler] = [terminal]
    if path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        handlers.append(logging.FileHandler(path, mode="w"))
    logging.basicConfig(level=level, handlers=handlers, force=True, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.captureWarnings(True)
    logger = logging.getLogger("agn_saliency")
    logger.info("host=%s pid=%d", socket.gethostname(), os.getpid())
    if "SLURM_JOB_ID" in os.environ:
        logger.info("SLURM_JOB_ID=%s", os.environ["SLURM_JOB_ID"])
    return logger
