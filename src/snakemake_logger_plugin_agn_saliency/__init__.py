"""A compact terminal for agn-saliency's Snakemake runs: one line when a job starts, one when it ends.

Snakemake's own terminal prints about 18 lines per job (the rule's inputs, outputs, log,
resources, "Shell command: None" for script rules, the scheduler's "Select jobs to execute…"):
a default run of 53 jobs printed 1,085 lines, the final job's input list alone 3.6 kB. This log
handler (Snakemake's logger-plugin interface; ``logger: [agn-saliency]`` in
profiles/default/config.yaml) prints instead::

    [13:03:16] start search_grid (task=multiclass, kernel=rbf)
    [13:05:02] 17/53 done search_grid (task=multiclass, kernel=rbf) in 106 s

and passes everything else to Snakemake's own formatting: the run's header and job counts,
warnings, and errors. A failed job's error block ends with the last lines of its log file, so the
reason is on the terminal without opening it. A dry run (``-n``) is printed exactly as Snakemake
prints it: its per-job blocks (rule, files, reason) are what a dry run is for.
"""

from __future__ import annotations

import logging
import sys
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

LOG_TAIL_LINES = 20
"""Lines of a failed job's log file shown under its error."""

_DROPPED_MESSAGES = ("Select jobs to execute...",)


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """No settings: the handler's behaviour follows Snakemake's own (quiet, dry run, colours)."""


def _wildcards(record: logging.LogRecord) -> str:
    wildcards = getattr(record, "wildcards", None) or {}
    items = wildcards.items() if hasattr(wildcards, "items") else []
    text = ", ".join(f"{name}={value}" for name, value in items)
    return f" ({text})" if text else ""


def log_tail(paths: list[str], lines: int = LOG_TAIL_LINES) -> list[str]:
    """The last ``lines`` lines of each readable log file, indented under a heading."""
    out = []
    for path in paths:
        try:
            with open(path, encoding="utf-8", errors="replace") as handle:
                tail = deque(handle, maxlen=lines)
        except OSError:
            continue
        out.append(f"    last {len(tail)} lines of {path}:")
        out.extend("      " + line.rstrip("\n") for line in tail)
    return out


class LogHandler(LogHandlerBase):
    """Condenses job starts, ends and progress to one line each; everything else as Snakemake prints it."""

    def __post_init__(self) -> None:
        from snakemake.logging import ColorizingTextHandler, DefaultFormatter

        self.stream = sys.stdout if getattr(self.common_settings, "stdout", False) else sys.stderr
        quiet = getattr(self.common_settings, "quiet", None) or set()
        self.passthrough = ColorizingTextHandler(nocolor=getattr(self.common_settings, "nocolor", False), stream=self.stream)
        self.passthrough.setFormatter(DefaultFormatter(quiet, show_failed_logs=False))
        self.started: dict[Any, tuple[str, float]] = {}
        self.finished: Any = None

    def _write(self, line: str) -> None:
        self.stream.write(line + "\n")
        self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            event = getattr(record, "event", None)
            if getattr(self.common_settings, "dryrun", False):
                self.passthrough.emit(record)
            elif event == LogEvent.JOB_INFO:
                name = f"{getattr(record, 'rule_name', '?')}{_wildcards(record)}"
                self.started[getattr(record, "jobid", None)] = (name, time.monotonic())
                self._write(f"[{time.strftime('%H:%M:%S')}] start {name}")
            elif event == LogEvent.JOB_FINISHED:
                self.finished = getattr(record, "job_id", None)
            elif event == LogEvent.PROGRESS:
                name, began = self.started.pop(self.finished, ("", time.monotonic()))
                took = f" in {time.monotonic() - began:.0f} s" if name else ""
                self._write(f"[{time.strftime('%H:%M:%S')}] {record.done}/{record.total} done {name}{took}".rstrip())
            elif event in (LogEvent.SHELLCMD, LogEvent.JOB_STARTED) or record.getMessage() in _DROPPED_MESSAGES:
                return
            elif event == LogEvent.JOB_ERROR:
                self.passthrough.emit(record)
                for line in log_tail([str(Path(p)) for p in getattr(record, "log", None) or []]):
                    self._write(line)
            else:
                self.passthrough.emit(record)
        except Exception:  # a logger must never stop the run
            self.handleError(record)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return False  # Snakemake's own filter (quiet, printshellcmds, …) applies first

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
