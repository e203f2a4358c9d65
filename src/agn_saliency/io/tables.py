"""ECSV tables of rows (dicts): typed, with units, written atomically; read back fast or by astropy."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from agn_saliency.core.columns import TableSchema
from agn_saliency.core.files import atomic_output, write_text_atomic
from agn_saliency.io.ecsv import format_ecsv, parse_ecsv

__all__ = [
    "TEXT_COLUMNS",
    "ColumnTypes",
    "as_bool",
    "read_columns",
    "read_table",
    "write_html_table",
    "write_table",
    "write_table_blocks",
]

TEXT_COLUMNS = frozenset({"file", "key", "path", "source_file", "specid", "duplicate_of"})
"""Columns of names and keys: always written as text, whatever their values look like (a file
``0001.fits`` has the key ``0001``, not the number 1; ``1e3`` and ``nan`` are names too)."""


def _typed_values(values: list[object], text: bool = False) -> tuple[str, list[object], list[bool]]:
    """ECSV datatype of a column (the narrowest of int64, float64 or string; string when ``text``),
    its converted values (placeholders where missing) and where values are missing (``None`` or ``""``)."""
    types = ColumnTypes(["column"], {"column"} if text else ())
    types.add([{"column": value} for value in values])
    return (datatype := types.datatypes()["column"]), *_converted(values, datatype)


def _converted(values: list[object], datatype: str) -> tuple[list[object], list[bool]]:
    """A column's values as ``datatype`` (placeholders where missing) and where they are missing."""
    mask = [value is None or value == "" for value in values]
    if datatype == "string":
        return ["" if missing else re.sub(r"[\t\r\n]+", " ", str(value)) for value, missing in zip(values, mask)], mask
    convert = int if datatype == "int64" else float
    return [0 if missing else convert(value) for value, missing in zip(values, mask)], mask


class ColumnTypes:
    """The ECSV datatype :func:`write_table` gives each column (the narrowest of int64, float64 or
    string that holds every present value; string for ``text_columns`` and for a column with no
    value), learnt a block of rows at a time (:meth:`add`): a table written in blocks
    (:func:`write_table_blocks`) is typed as if written at once, holding three flags per column."""

    def __init__(self, columns: Sequence[str], text_columns: frozenset[str] | set[str] | tuple[str, ...] = TEXT_COLUMNS) -> None:
        self.columns = list(columns)
        self.text = {column for column in self.columns if column in text_columns}
        self.present = dict.fromkeys(self.columns, False)
        self.integer = dict.fromkeys(self.columns, True)
        self.number = dict.fromkeys(self.columns, True)

    def add(self, rows: Sequence[Mapping[str, object]]) -> None:
        """Learn from ``rows`` (dicts; a missing column, ``None`` or ``""`` is a missing value)."""
        for column in self.columns:
            if column in self.text:
                continue
            integer, number = self.integer[column], self.number[column]
            for row in rows:
                value = row.get(column)
                if value is None or value == "":
                    continue
                self.present[column] = True
                if isinstance(value, bool):
                    integer = number = False
                    break
                if integer and not str(value).strip().lstrip("+-").isdigit():
                    integer = False
                if number:
                    try:
                        float(value)  # type: ignore[arg-type]
                    except (TypeError, ValueError):
                        integer = number = False
                        break
            self.integer[column], self.number[column] = integer, number

    def datatypes(self) -> dict[str, str]:
        """Each column's datatype, from the rows added so far."""
        return {
            column: "string"
            if column in self.text or not self.present[column] or not self.number[column]
            else ("int64" if self.integer[column] else "float64")
            for column in self.columns
        }


def _astropy_column(datatype: str, values: list[object], mask: list[bool]):
    """An astropy column of :func:`_typed_values`' output, masked only where something is missing
    (astropy writes a plain column in one go, a masked one item by item: 5x slower for the
    3346-row truth tables; the same bytes either way)."""
    import numpy as np
    from astropy.table import Column, MaskedColumn

    dtype = {"int64": np.int64, "float64": np.float64}.get(datatype, str)
    return MaskedColumn(values, dtype=dtype, mask=mask) if any(mask) else Column(values, dtype=dtype)


def _astropy_table(
    typed: Mapping[str, tuple[str, list[object], list[bool]]],
    units: Mapping[str, str],
    descriptions: Mapping[str, str],
    description: str,
    meta: dict | None,
):
    """The astropy table :func:`write_table` writes: ``typed`` columns (datatype, values, mask) with
    their units and descriptions, the table's description and ``meta``."""
    from astropy.table import Table

    table = Table()
    for column, (datatype, values, mask) in typed.items():
        table[column] = _astropy_column(datatype, values, mask)
        if column in units:
            table[column].unit = units[column]
        if descriptions.get(column):
            table[column].description = descriptions[column]
    if description:
        table.meta["description"] = description
    table.meta.update(meta or {})
    return table


def _described(
    columns: Sequence[str], units: dict[str, str] | None, description: str, schema: TableSchema | None
) -> tuple[dict[str, str], dict[str, str], str]:
    """The units, column descriptions and table description a table is written with: ``schema``'s
    (:data:`agn_saliency.core.columns.TABLES`; an undescribed column is a ``KeyError``), ``units``
    and ``description`` taking precedence."""
    if schema is None:
        return units or {}, {}, description
    return {**schema.units(columns), **(units or {})}, schema.descriptions(columns), description or schema.description


def write_table(
    path: str | os.PathLike[str],
    rows: list[dict],
    columns: tuple[str, ...] | list[str],
    units: dict[str, str] | None = None,
    description: str = "",
    meta: dict | None = None,
    fast: bool = True,
    text_columns: frozenset[str] | set[str] | tuple[str, ...] = TEXT_COLUMNS,
    schema: TableSchema | None = None,
) -> None:
    """Write ``rows`` (dicts) as an ECSV table (comma-separated, typed, with units), atomically.

    ECSV is CSV with a YAML header that ``astropy.table.Table.read`` (and TOPCAT) reads with each
    column's type and unit. A column whose values are all integers is int64, all numbers float64,
    otherwise text, and the ``text_columns`` (names and keys) are always text; missing values (``None`` or ``""``) are masked and written empty. ``units``
    maps column names to unit strings ``astropy.units.Unit`` parses; ``meta`` (YAML-serialisable)
    goes into the header beside ``description``.

    Tables astropy would write plainly (no quoting, simple units, no ``meta``) are formatted by
    :func:`agn_saliency.io.ecsv.format_ecsv` to the same bytes without importing astropy (0.5 s per
    job); ``fast=False`` always uses astropy.

    ``schema`` (:data:`agn_saliency.core.columns.TABLES`) gives every column its ``unit`` and
    ``description`` and the table its description; a column it does not describe is a
    ``KeyError`` (every column the pipeline writes is described).
    """
    units, descriptions, description = _described(columns, units, description, schema)
    typed = {column: _typed_values([row.get(column) for row in rows], column in text_columns) for column in columns}
    text = None
    if fast and not meta:
        text = format_ecsv([(column, *typed[column], units.get(column)) for column in columns], description, descriptions)
    if text is not None:
        write_text_atomic(path, text)
        return
    table = _astropy_table(typed, units, descriptions, description, meta)
    with atomic_output(path) as tmp:
        table.write(tmp, format="ascii.ecsv", delimiter=",", overwrite=True)


def write_table_blocks(
    path: str | os.PathLike[str],
    blocks: Iterable[Sequence[Mapping[str, object]]],
    columns: Sequence[str],
    datatypes: Mapping[str, str],
    units: dict[str, str] | None = None,
    description: str = "",
    meta: dict | None = None,
    schema: TableSchema | None = None,
) -> None:
    """:func:`write_table` of the rows of ``blocks`` (each a list of dicts), one block held at a
    time: the same bytes as :func:`write_table` of all the rows with ``fast=False`` (astropy formats
    each block; its header is written once), given the ``datatypes`` :class:`ColumnTypes` learnt
    from the same rows. Atomic, as :func:`write_table`."""
    import gc
    import io

    units, descriptions, description = _described(columns, units, description, schema)

    def block_text(rows: Sequence[Mapping[str, object]]) -> str:
        typed = {
            column: (datatypes[column], *_converted([row.get(column) for row in rows], datatypes[column])) for column in columns
        }
        table = _astropy_table(typed, units, descriptions, description, meta)
        buffer = io.StringIO()
        table.write(buffer, format="ascii.ecsv", delimiter=",")
        return buffer.getvalue()

    with atomic_output(path) as tmp, open(tmp, "w", encoding="utf-8", newline="") as out:
        written = False
        for rows in blocks:
            text = block_text(rows)
            if written:  # the data lines only: after the header (# lines) and the column names
                lines = text.splitlines(keepends=True)
                names = next(i for i, line in enumerate(lines) if not line.startswith("#"))
                text = "".join(lines[names + 1 :])
            out.write(text)
            written = True
            gc.collect()  # astropy's tables hold reference cycles: free each block's before the next
        if not written:
            out.write(block_text([]))


def read_columns(path: str | os.PathLike[str], columns: Sequence[str]) -> list[dict[str, str]]:
    """:func:`read_table`'s rows with only ``columns`` (those the table has), the file read a line
    at a time: a job that needs a few columns of a large table holds only those."""
    from agn_saliency.io.ecsv import NeedsAstropy, parse_ecsv_lines

    with open(path, encoding="utf-8", newline="") as handle:
        rows = parse_ecsv_lines(iter(handle), columns)
        if rows is not None:
            try:
                return list(rows)
            except NeedsAstropy:
                pass
    return [{name: row[name] for name in columns if name in row} for row in read_table(path)]


def read_table(path: str | os.PathLike[str], fast: bool = True) -> list[dict[str, str]]:
    """Read a table written by :func:`write_table` into a list of dicts, values as text ('' if missing).

    Plain tables (comma-separated int64 / float64 / string columns) are parsed by
    :func:`agn_saliency.io.ecsv.parse_ecsv` without importing astropy, to the same values;
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


_TRUE_TEXT = frozenset({"true", "1", "yes"})
_FALSE_TEXT = frozenset({"false", "0", "no", ""})


def as_bool(value: object, name: str = "value") -> bool:
    """A True/False cell as written (``bool``, ``numpy.bool_``, 0 / 1) or as read back from a table
    (text: ``"True"`` / ``"False"`` in any case, ``"1"`` / ``"0"``, ``"yes"`` / ``"no"``; empty = False).

    >>> as_bool("True"), as_bool(" false "), as_bool(True), as_bool(0)
    (True, False, True, False)

    Raises
    ------
    ValueError
        ``value`` is none of these (``name`` says which column in the message).
    """
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_TEXT or text in _FALSE_TEXT:
            return text in _TRUE_TEXT
    elif isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", "") == "b":
        return bool(value)
    elif isinstance(value, int) or getattr(getattr(value, "dtype", None), "kind", "") in ("i", "u"):
        if value in (0, 1):
            return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def write_html_table(
    path: str | os.PathLike[str],
    rows: list[dict],
    columns: list[str] | tuple[str, ...],
    title: str,
    schema: TableSchema | None = None,
    note: str = "",
) -> None:
    """A table as a small standalone HTML page, atomically: what ``snakemake --report`` shows of it.

    Numbers are shown to 4 significant digits; each column heading gives its unit and, with
    ``schema``, its description (below the table and as the heading's tooltip).
    """
    import html

    def cell(value: object) -> str:
        if isinstance(value, float):
            return f"{value:.4g}"
        return html.escape(str(value))

    described = {name: schema.column(name) for name in columns} if schema is not None else {}
    heads = []
    for name in columns:
        unit = described[name].unit if name in described else None
        label = html.escape(name) + (f"<br><small>[{html.escape(unit)}]</small>" if unit else "")
        tip = html.escape(described[name].description, quote=True) if name in described else ""
        heads.append(f'<th title="{tip}">{label}</th>')
    body = ["<tr>" + "".join(f"<td>{cell(row.get(name, ''))}</td>" for name in columns) + "</tr>" for row in rows]
    legend = "".join(f"<li><b>{html.escape(n)}</b>: {html.escape(c.description)}</li>" for n, c in described.items())
    page = (
        '<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>'
        + html.escape(title)
        + "</title><style>body{font-family:sans-serif;font-size:14px} table{border-collapse:collapse}"
        " td,th{border:1px solid #bbb;padding:3px 8px;text-align:right} th{background:#eee}"
        " td:first-child,th:first-child{text-align:left}</style></head><body>\n"
        + f"<h3>{html.escape(title)}</h3>\n<table>\n<tr>{''.join(heads)}</tr>\n"
        + "\n".join(body)
        + "\n</table>\n"
        + (f"<p>{html.escape(note)}</p>\n" if note else "")
        + (f"<ul>{legend}</ul>\n" if legend else "")
        + "</body></html>\n"
    )
    write_text_atomic(path, page)
