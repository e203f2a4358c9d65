"""ECSV tables of rows (dicts): typed, with units, written atomically; read back fast or by astropy."""

from __future__ import annotations

import os
import re
from pathlib import Path

from agn_saliency.core.columns import TableSchema
from agn_saliency.core.files import atomic_output, write_text_atomic
from agn_saliency.io.ecsv import format_ecsv, parse_ecsv

__all__ = ["TEXT_COLUMNS", "as_bool", "read_table", "write_html_table", "write_table"]

TEXT_COLUMNS = frozenset({"file", "key", "path", "source_file", "specid", "duplicate_of"})
"""Columns of names and keys: always written as text, whatever their values look like (a file
``0001.fits`` has the key ``0001``, not the number 1; ``1e3`` and ``nan`` are names too)."""


def _typed_values(values: list[object], text: bool = False) -> tuple[str, list[object], list[bool]]:
    """ECSV datatype of a column (the narrowest of int64, float64 or string; string when ``text``),
    its converted values (placeholders where missing) and where values are missing (``None`` or ``""``)."""
    mask = [value is None or value == "" for value in values]
    present = [value for value, missing in zip(values, mask) if not missing]
    for datatype, convert in (("int64", int), ("float64", float)) if present and not text else ():
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
    descriptions: dict[str, str] = {}
    if schema is not None:
        units = {**schema.units(columns), **(units or {})}
        descriptions = schema.descriptions(columns)
        description = description or schema.description
    typed = {column: _typed_values([row.get(column) for row in rows], column in text_columns) for column in columns}
    units = units or {}
    text = None
    if fast and not meta:
        text = format_ecsv([(column, *typed[column], units.get(column)) for column in columns], description, descriptions)
    if text is not None:
        write_text_atomic(path, text)
        return
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
    with atomic_output(path) as tmp:
        table.write(tmp, format="ascii.ecsv", delimiter=",", overwrite=True)


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
