"""Logging set-up shared by the workflow scripts."""

from __future__ import annotations

import logging
import os
import socket
import sys

from agn_saliency.core.redact import RedactingFilter


def setup_logging(path: str | None, level: int = logging.INFO) -> logging.Logger:
    """Send log records to ``path`` (the rule's ``log:``) and stderr; record where the job ran.

    The first lines name the host and, when the job runs under SLURM, ``SLURM_JOB_ID=<id>`` —
    the proof a cluster test looks for. Every handler redacts credentials in URLs
    (:class:`~agn_saliency.core.redact.RedactingFilter`).
    """
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
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
