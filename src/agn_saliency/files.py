"""Write-then-rename helpers: no half-written file is ever left looking finished."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import string
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .ecsv import format_ecsv, parse_ecsv


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


def _typed_values(values: list[object]) -> tuple[str, list[object], list[bool]]:
    """ECSV datatype of a column (the narrowest of int64, float64 or string), its converted
    values (placeholders where missing) and where values are missing (``None`` or ``""``)."""
    mask = [value is None or value == "" for value in values]
    present = [value for value, missing in zip(values, mask) if not missing]
    for datatype, convert in (("int64", int), ("float64", float)) if present else ():
        try:
            converted = [convert(value) for value in present if not isinstance(value, bool)]
        except (TypeError, ValueError):
            continue
        if len(converted) == len(present) and (
            datatype == "float64" or all(str(value).strip().lstrip("+-").isdigit() for value in present)
        ):
            filled = iter(converted)
            return datatype, [0 if missing else next(filled) for missing in mask], mask
    return "string", ["" if missing else re.sub(r"[\t\r\n]+", " ", str(value)) for value, missing in zip(values, mask)], mask


def _astropy_column(datatype: str, values: list[object], mask: list[bool]):
    """An astropy column of :func:`_typed_values`' output, masked only where something is missing
    (astropy writes a plain column in one go, a masked one item by item: 5x slower for the
    3346-row truth tables; the same bytes either way)."""
    import numpy as np
    from astropy.table import Column, MaskedColumn

    dtype = {"int64": np.int64, "float64": np.float64}.get(datatype, str)
    return MaskedColumn(values, dtype=dtype, mask=mask) if any(mask) else Column(values, dtype=dtype)


def write_table(
    path: str | os.PathLike[str],
    rows: list[dict],
    columns: tuple[str, ...] | list[str],
    units: dict[str, str] | None = None,
    description: str = "",
    meta: dict | None = None,
    fast: bool = True,
) -> None:
    """Write ``rows`` (dicts) as an ECSV table (comma-separated, typed, with units), atomically.

    ECSV is CSV with a YAML header that ``astropy.table.Table.read`` (and TOPCAT) reads with each
    column's type and unit. A column whose values are all integers is int64, all numbers float64,
    otherwise text; missing values (``None`` or ``""``) are masked and written empty. ``units``
    maps column names to unit strings ``astropy.units.Unit`` parses; ``meta`` (YAML-serialisable)
    goes into the header beside ``description``.

    Tables astropy would write plainly (no quoting, simple units, no ``meta``) are formatted by
    :func:`agn_saliency.ecsv.format_ecsv` to the same bytes without importing astropy (0.5 s per
    job); ``fast=False`` always uses astropy.
    """
    typed = {column: _typed_values([row.get(column) for row in rows]) for column in columns}
    units = units or {}
    text = None
    if fast and not meta:
        text = format_ecsv([(column, *typed[column], units.get(column)) for column in columns], description)
    if text is not None:
        write_text_atomic(path, text)
        return
    from astropy.table import Table

    table = Table()
    for column, (datatype, values, mask) in typed.items():
        table[column] = _astropy_column(datatype, values, mask)
        if column in units:
            table[column].unit = units[column]
    if description:
        table.meta["description"] = description
    table.meta.update(meta or {})
    with atomic_output(path) as tmp:
        table.write(tmp, format="ascii.ecsv", delimiter=",", overwrite=True)


def read_table(path: str | os.PathLike[str], fast: bool = True) -> list[dict[str, str]]:
    """Read a table written by :func:`write_table` into a list of dicts, values as text ('' if missing).

    Plain tables (comma-separated int64 / float64 / string columns) are parsed by
    :func:`agn_saliency.ecsv.parse_ecsv` without importing astropy, to the same values;
    anything else, or ``fast=False``, is read by astropy.
    """
    if fast:
        rows = parse_ecsv(Path(path).read_text(encoding="utf-8"))
        if rows is not None:
            return rows
    import numpy as np
    from astropy.table import Table

    table = Table.read(path, format="ascii.ecsv")
    columns = []
    for name in table.colnames:
        column = table[name]
        mask = np.asarray(getattr(column, "mask", np.zeros(len(column), bool)), dtype=bool)
        kind = column.dtype.kind  # floats as repr (round trip), ints and text as str
        text = repr if kind == "f" else str
        columns.append(["" if missing else text(value) for value, missing in zip(np.asarray(column).tolist(), mask)])
    return [dict(zip(table.colnames, values)) for values in zip(*columns)] if columns else []
