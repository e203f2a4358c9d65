"""Write-then-rename helpers: no half-written file is ever left looking finished."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The temporary name starts with ``.`` and ends in ``.tmp`` so no glob for finished files
    matches it; on any exception it is removed and the exception propagates.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)


def write_tsv(path: str | os.PathLike[str], rows: list[dict], columns: tuple[str, ...] | list[str]) -> None:
    """Write ``rows`` (dicts) as a tab-separated table with a header line, atomically.

    Missing values are written empty; each run of tabs and line breaks inside a value becomes
    one space, so every row stays one line of the right width.
    """
    def clean(value: object) -> str:
        return "" if value is None else re.sub(r"[\t\r\n]+", " ", str(value))

    lines = ["\t".join(columns)]
    lines += ["\t".join(clean(row.get(column)) for column in columns) for row in rows]
    write_text_atomic(path, "\n".join(lines) + "\n")


def read_tsv(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Read a tab-separated table with a header line into a list of dicts (values as text)."""
    with open(path, encoding="utf-8") as handle:
        header = handle.readline().rstrip("\n").split("\t")
        return [dict(zip(header, line.rstrip("\n").split("\t"))) for line in handle if line.strip()]
