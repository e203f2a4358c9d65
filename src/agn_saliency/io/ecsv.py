"""The pipeline's own ECSV tables, written and read without importing astropy.

Every job reads or writes a small ECSV table (the split, a CV table, a selection), and
``astropy.table`` costs 0.5 s to import — more than many of those jobs spend on their work
(``python benchmarks/tables.py``). The tables :func:`agn_saliency.core.files.write_table` makes are
simple: one header, int64 / float64 / string columns, values written as ``str`` of the numpy
scalar, missing ones empty. This module writes exactly the bytes astropy writes for such a table
(but for quoting a string that starts with ``#``, which astropy's own reader would skip as a
comment) and reads such a file back; anything else (quoting, other datatypes, units or metadata outside
the known simple cases) returns ``None`` and the caller uses astropy. Tests check byte equality
with astropy on every table the pipeline writes and on edge cases.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence

from agn_saliency.core.units import SDSS_FLUX_UNIT, SDSS_LINE_FLUX_UNIT

__all__ = ["SIMPLE_UNITS", "NeedsAstropy", "format_ecsv", "parse_ecsv", "parse_ecsv_lines"]

DATATYPES = ("int64", "float64", "string")
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
_SPECIAL_IN_CELLS = frozenset(',"\x00')  # quoted by the CSV writer, or dropped by numpy's strings

_ASTROPY_SDSS_FLUX_UNIT = "1e-17 erg / (Angstrom s cm2)"  # str(astropy.units.Unit(SDSS_FLUX_UNIT))
SIMPLE_UNITS = {
    unit: unit for unit in ("", "s", "km / s", "Angstrom", "mag", "byte", SDSS_LINE_FLUX_UNIT, _ASTROPY_SDSS_FLUX_UNIT)
} | {SDSS_FLUX_UNIT: _ASTROPY_SDSS_FLUX_UNIT}
"""The units written without astropy: each given spelling and astropy's canonical form of it
(``str(astropy.units.Unit(given))``, a test checks), as astropy would write it; ``""``
(dimensionless) is written ``''``. Any other unit goes through astropy."""

_PLAIN = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.+/ ()")


def _yaml_scalar(text: str) -> str | None:
    """``text`` as astropy's YAML dumper writes it in a flow mapping: plain, or single-quoted where
    plain would read back as something else (``'true'``, ``'1'``); ``None`` when unsure."""
    import yaml

    if not text or text != text.strip() or not set(text) <= _PLAIN or text[0] in "-+." or len(text) > 80:
        return None
    try:
        return text if yaml.safe_load(text) == text else f"'{text}'"
    except yaml.YAMLError:
        return None


def format_number(value: object, datatype: str) -> str:
    """A value as astropy writes an int64 / float64 cell (``str`` of the numpy scalar: shortest repr).

    >>> format_number(0.1, "float64"), format_number(1e16, "float64"), format_number(-3, "int64")
    ('0.1', '1e+16', '-3')
    """
    return str(int(value)) if datatype == "int64" else repr(float(value))


def _datatype_lines(entries: list[list[tuple[str, str]]], key: str = "datatype") -> list[str] | None:
    """The ``datatype:`` block of an ECSV header as astropy's YAML dumper writes it (flow mappings,
    ``key: value`` in the given order, lines folded at 130 characters), ``None`` when a value is not text."""
    import yaml

    class FlowDumper(yaml.SafeDumper):
        pass

    class ColumnEntry(list):
        pass

    FlowDumper.add_representer(
        ColumnEntry, lambda dumper, items: dumper.represent_mapping("tag:yaml.org,2002:map", list(items), flow_style=True)
    )
    if any(not isinstance(value, str) for entry in entries for _, value in entry):
        return None
    text = yaml.dump({key: [ColumnEntry(entry) for entry in entries]}, Dumper=FlowDumper, default_flow_style=None, width=130)
    return ["# " + line for line in text.splitlines()]


def format_ecsv(
    columns: Sequence[tuple[str, str, Sequence[object], Sequence[bool], str | None]],
    description: str = "",
    column_descriptions: dict[str, str] | None = None,
) -> str | None:
    """ECSV text (comma-separated) of ``(name, datatype, values, mask, unit)`` columns, ``None`` when astropy must write it.

    ``values`` are numbers (int64, float64) or text (string), ``mask`` is true where a value is
    missing (written empty), ``unit`` is None for none; ``column_descriptions`` gives columns their
    ``description`` (written as astropy's YAML dumper does). Returns ``None`` for a datatype other than
    int64 / float64 / string, no columns or two of one name, a unit outside :data:`SIMPLE_UNITS`,
    a name or description with characters YAML might treat specially, an integer outside int64, a
    string astropy would quote or strip (a comma, a quote, a NUL, a leading or trailing blank),
    and a missing value in a one-column table. Strings starting with ``#`` are quoted (astropy
    writes them bare, and reading that file back loses their rows as comments).
    """
    names = [name for name, *_ in columns]
    if not names or len(set(names)) < len(names):
        return None  # astropy writes "datatype: []", or keeps one of two equal names
    if len(columns) == 1 and any(columns[0][3]):
        return None  # a lone missing cell would be a blank line, which readers skip: astropy writes ""
    header = ["# %ECSV 1.0", "# ---"]
    entries = []
    for name, datatype, _, _, unit in columns:
        written_name = _yaml_scalar(name)
        if datatype not in DATATYPES or written_name is None or (unit is not None and unit not in SIMPLE_UNITS):
            return None
        entry = [("name", name)] + ([] if unit is None else [("unit", SIMPLE_UNITS[unit])]) + [("datatype", datatype)]
        if (column_descriptions or {}).get(name):
            entry.append(("description", column_descriptions[name]))
        entries.append(entry)
    datatype_lines = _datatype_lines(entries)
    if datatype_lines is None:
        return None
    header += datatype_lines
    header.append("# delimiter: ','")
    if description:  # astropy writes the table's meta as an ordered mapping: one flow pair per item
        meta_lines = _datatype_lines([[("description", description)]], key="meta")
        if meta_lines is None:
            return None
        header += ["# meta: !!omap", *meta_lines[1:]]
    header += ["# schema: astropy-2.0", ",".join(name for name, *_ in columns)]
    cells = []
    for _, datatype, values, mask, _ in columns:
        if datatype == "int64" and any(not INT64_MIN <= int(v) <= INT64_MAX for v in values):
            return None  # astropy refuses it
        text = [str(v) if datatype == "string" else format_number(v, datatype) for v in values]
        if datatype == "string" and any(t != t.strip() or set(t) & _SPECIAL_IN_CELLS for t in text):
            return None  # astropy would quote or strip it
        # Quoted, unlike astropy: its reader takes an unquoted line starting with # for a comment
        # and loses the row (astropy reads the quoted cell back as written).
        text = [f'"{t}"' if t.startswith("#") else t for t in text]
        cells.append(["" if missing else t for t, missing in zip(text, mask)])
    rows = (",".join(row) for row in zip(*cells))
    return "\n".join([*header, *rows]) + "\n"


def parse_ecsv(text: str) -> list[dict[str, str]] | None:
    """Rows of an ECSV text as dicts of text ('' where missing), ``None`` when astropy must read it.

    Numbers come back as :func:`format_number` writes them (what reading the file with astropy and
    formatting its values gives). Handled: ECSV 1.0, comma delimiter, int64 / float64 / string
    columns; anything else (another delimiter, datatype, subtype or shape) returns ``None``.
    """
    rows = parse_ecsv_lines(iter(text.splitlines(keepends=True)))
    try:
        return None if rows is None else list(rows)
    except NeedsAstropy:
        return None


def parse_ecsv_lines(lines: Iterator[str], columns: Sequence[str] | None = None) -> Iterator[dict[str, str]] | None:
    """:func:`parse_ecsv` of the lines of an ECSV file (with their line ends), read as they are
    consumed: ``None`` when the header needs astropy, else the rows (only ``columns`` of each when
    given), one at a time; a line further on that needs astropy raises :class:`NeedsAstropy`
    (nothing of the file is held but the row being read)."""
    import yaml

    header_lines: list[str] = []
    first = next(lines, None)
    if first is None or first.strip() != "# %ECSV 1.0":
        return None
    line = next(lines, None)
    while line is not None and line.startswith("#"):
        header_lines.append(line.rstrip("\r\n"))
        line = next(lines, None)
    try:
        header = yaml.safe_load("\n".join(text[2:] for text in header_lines[1:]))
    except yaml.YAMLError:
        return None
    if not isinstance(header, dict) or header.get("delimiter") != "," or not isinstance(header.get("datatype"), list):
        return None
    names, kinds = [], []
    for column in header["datatype"]:
        if not isinstance(column, dict) or set(column) - {"name", "datatype", "unit", "description"}:
            return None
        if column.get("datatype") not in DATATYPES or not isinstance(column.get("name"), str):
            return None
        names.append(column["name"])
        kinds.append(column["datatype"])
    if len(set(names)) < len(names):
        return None  # astropy renames a repeated name
    if line is None or next(csv.reader([line], delimiter=",", quotechar='"'), None) != names:
        return None
    wanted = [i for i, name in enumerate(names) if columns is None or name in columns]
    return _ecsv_rows(lines, [names[i] for i in wanted], [kinds[i] for i in wanted], wanted, len(names))


class NeedsAstropy(ValueError):
    """A line of an ECSV file :func:`parse_ecsv_lines` does not read as astropy would."""


def _ecsv_rows(
    lines: Iterator[str], names: list[str], kinds: list[str], wanted: list[int], width: int
) -> Iterator[dict[str, str]]:
    def checked(lines: Iterator[str]) -> Iterator[str]:
        for line in lines:
            if line.lstrip().startswith("#") or not line.strip() or "\x00" in line:
                # comment or blank lines among the data: astropy's rules decide; numpy's strings drop NULs
                raise NeedsAstropy("a comment, blank line or NUL among the data")
            yield line

    for cells in csv.reader(checked(lines), delimiter=",", quotechar='"'):
        if len(cells) != width:
            raise NeedsAstropy(f"a row of {len(cells)} cells in a table of {width} columns")
        row = {}
        for name, kind, i in zip(names, kinds, wanted):
            cell = cells[i].strip(" \t")  # as astropy's splitter does, quoted or not
            if kind == "string" or cell == "":
                row[name] = cell
                continue
            try:
                number = int(cell) if kind == "int64" else float(cell)
            except ValueError:  # not a number of its column's type: astropy reads it and says what is wrong
                raise NeedsAstropy(f"{cell!r} in {kind} column {name}") from None
            if kind == "int64" and not INT64_MIN <= number <= INT64_MAX:
                raise NeedsAstropy(f"{cell} outside int64 in column {name}")
            row[name] = format_number(number, kind)
        yield row
