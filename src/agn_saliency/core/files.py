"""Write-then-rename helpers: no half-written file is ever left looking finished."""

from __future__ import annotations

import contextlib
import os
import shutil
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path


def current_umask() -> int:
    """The process umask: from ``/proc/self/status`` on Linux, else by setting and restoring it."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # POSIX has no getter; not thread-safe, hence the /proc path first
    os.umask(mask)
    return mask


def apply_umask(path: str | os.PathLike[str], directory: bool = False) -> None:
    """Give ``path`` the mode a plain ``open``/``mkdir`` would: 0666 (0777 for folders) less the umask.

    ``tempfile.mkstemp`` creates files 0600 and ``mkdtemp`` folders 0700, and a rename keeps that
    mode: without this, results on a shared filesystem would be private to their writer.
    """
    os.chmod(path, (0o777 if directory else 0o666) & ~current_umask())


_MKSTEMP_CHARACTERS = frozenset(string.ascii_lowercase + string.digits + "_")  # what tempfile draws names from


def remove_leftovers(final: Path) -> None:
    """Delete temporary siblings of ``final`` that a killed earlier attempt left behind.

    Only names :func:`atomic_output` / :func:`atomic_directory` make for exactly this ``final``
    (``.<name>.<8 random characters>.tmp``) are removed. Snakemake never runs two jobs for one
    output at once, so such a sibling belongs to a dead attempt.
    """
    prefix = f".{final.name}."
    try:
        siblings = list(final.parent.iterdir())
    except FileNotFoundError:
        return
    for sibling in siblings:
        # what mkstemp/mkdtemp add: 8 characters of [a-z0-9_] (string tests, not a regular
        # expression compiled per output: the shard jobs write hundreds of files)
        random_part = sibling.name[len(prefix) : -len(".tmp")]
        if (
            sibling.name.startswith(prefix)
            and sibling.name.endswith(".tmp")
            and len(random_part) == 8
            and set(random_part) <= _MKSTEMP_CHARACTERS
        ):
            if sibling.is_dir() and not sibling.is_symlink():
                shutil.rmtree(sibling, ignore_errors=True)
            else:
                sibling.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    The temporary name starts with ``.`` and ends in ``.tmp`` so no glob for finished files
    matches it; on any exception it is removed and the exception propagates. The finished file
    has the mode the umask gives (not ``mkstemp``'s private 0600).
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if tmp.exists():  # some writers (h5py, savefig) replace the file: set the mode last
            apply_umask(tmp)
        os.replace(tmp, final)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder beside ``path``; rename it to ``path`` only if the block succeeds.

    For ``directory()`` outputs: a folder that exists under its final name is complete. Whatever
    kills the job mid-way leaves only a ``.<name>.*.tmp`` folder, which no rule reads; on an
    exception it is removed. An existing ``path`` (a previous result) is replaced.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    remove_leftovers(final)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        apply_umask(tmp, directory=True)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename."""
    with atomic_output(path) as tmp:
        tmp.write_text(text)
