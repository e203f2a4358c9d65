"""Labelled catalogs of SDSS spectra: read, validate, find duplicates, shard.

A catalog is a table read by :meth:`astropy.table.Table.read` — CSV, ECSV, a FITS binary table or
a VOTable, the formats CasJobs and TOPCAT export (recognised from the content, not the name) —
with one row per spectrum and the columns

``plate``, ``mjd``, ``fiberid``
    The SDSS spectrum identifier (plate > 0, mjd > 0, 1 ≤ fiberid ≤ 1000). ``fiber`` is accepted
    as another name for ``fiberid``.
``label``
    ``type1``, ``type2`` or ``intermediate`` (optional only with ``require_label=False``).
``z`` (optional)
    Redshift; empty or ``nan`` when unknown.
``run2d`` (optional)
    The spectro reduction the file lives under (``26``, ``103``, ``v5_13_2``, …); empty for the
    default of the plate (see :func:`agn_saliency.spectra.sdss.default_run2d`).
``targetid`` (optional)
    A DESI TARGETID (a positive 64-bit integer): the row labels that DESI target, found in the
    coadd / spectra files of a local folder (``data.source: local``), and ``plate``, ``mjd``,
    ``fiberid`` may then be empty (a catalog of DESI targets alone needs only ``targetid``). The
    DESI AGN/QSO value-added catalog and the redrock tables carry ``TARGETID`` (names are read in
    any case).

Every value is checked before anything is downloaded: catalog values become parts of file paths
and URLs, so anything that looks like a path or a URL is refused — files are only ever written
inside the data folder. Numbers are read as written in ASCII: ``0.1_5`` or full-width digits,
which Python's ``int`` and ``float`` would accept, are refused. A column named twice (also
``fiber`` next to ``fiberid``) is refused: which one is meant cannot be known. Other columns are
ignored.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from pathlib import Path

import numpy as np

from agn_saliency.acquire.inventory import shard_bounds
from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.spectra.sdss import specid

CATALOG_DTYPE = np.dtype(
    [
        ("row", "i8"),
        ("plate", "i4"),
        ("mjd", "i4"),
        ("fiberid", "i4"),
        ("label", "U12"),
        ("z", "f8"),
        ("run2d", "U16"),
        ("targetid", "i8"),
    ]
)
"""One catalog row: ``row`` is the 1-based number of the data row in the file (header excluded);
``targetid`` is -1 for an SDSS row, the DESI TARGETID (plate, mjd, fiberid 0) for a DESI row."""

REQUIRED_COLUMNS: tuple[str, ...] = ("plate", "mjd", "fiberid")
OPTIONAL_COLUMNS: tuple[str, ...] = ("label", "z", "run2d", "targetid")
TARGETID_RANGE = (1, 2**63 - 1)
"""Inclusive range of a DESI TARGETID (negative ones name no target)."""
COLUMN_ALIASES = {"fiber": "fiberid"}
ID_RANGES = {"plate": (1, 99_999), "mjd": (1, 99_999), "fiberid": (1, 1000)}
"""Inclusive ranges of the identifier columns (the SAS path formats plate/mjd with 4/5 digits)."""

RUN2D_PATTERN = re.compile(r"^([0-9]+|v[0-9]+_[0-9]+_[0-9]+)$")
"""ASCII digits only (``\\d`` would take full-width and other Unicode digits, which no SAS path has)."""

INTEGER_PATTERN = re.compile(r"[+]?[0-9]+")
"""An identifier as the catalog may write it: ASCII digits (no ``_`` separators, no Unicode digits)."""

DECIMAL_PATTERN = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A redshift as the catalog may write it. Python's ``float`` also reads ``0.1_5`` (as 0.15) and
full-width digits; a catalog holding those is refused rather than guessed at."""
PATH_LIKE_MARKERS = ("/", "\\", "..", "://", "\0")
MAX_REPORTED_PROBLEMS = 20


class CatalogError(ValueError):
    """A catalog that cannot be used; the message names the file, row and column of each problem.

    Attributes
    ----------
    problems : list of str
        Every problem found (up to :data:`MAX_REPORTED_PROBLEMS`), each naming its row and column.
    """

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = list(problems or [message])


def _looks_like_path(value: str) -> bool:
    return any(marker in value for marker in PATH_LIKE_MARKERS)


def catalog_format(path: Path) -> str:
    """The :meth:`astropy.table.Table.read` format of a catalog file, from its first bytes."""
    with open(path, "rb") as handle:
        head = handle.read(2880)
    if head.startswith(b"SIMPLE  ="):
        return "fits"
    text = head.lstrip(b"\xef\xbb\xbf").lstrip()
    if text.startswith(b"<?xml") or text[:200].upper().find(b"<VOTABLE") >= 0:
        return "votable"
    if text.startswith(b"# %ECSV"):
        return "ascii.ecsv"
    return "ascii.basic"  # CSV: basic with a comma delimiter keeps ragged rows an error (ascii.csv pads them)


def _cell_text(value: object) -> str:
    """A table cell as the text the validation reads ('' for a masked or missing value)."""
    if value is None or value is np.ma.masked:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace").strip()
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return str(value).strip()


_NOT_PLAIN_IN_CSV = frozenset('"#\r\x00\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029')
"""Quotes, comments, NULs (numpy's strings drop them) and every line break but "\\n" (str.splitlines,
which astropy splits on, knows them all)."""


def _plain_csv(path: Path) -> tuple[list[str], list[list[str]]] | None:
    """Column names (stripped, lower case) and rows of cells of a CSV file that leaves a reader
    nothing to decide — UTF-8, no blank lines, none of :data:`_NOT_PLAIN_IN_CSV`, every row as wide
    as the header, names distinct and non-empty — split on its commas; ``None`` for any other file
    (astropy reads it).

    Every shard job reads the catalog: this spares each the 0.5 s import of astropy.table for the
    plain CSV the embedded sample (and most hand-made catalogs) are.
    """
    try:
        text = path.read_bytes().decode("utf-8").removeprefix("\ufeff")  # bytes: no newline translation
    except (OSError, UnicodeDecodeError):
        return None
    if set(text) & _NOT_PLAIN_IN_CSV:
        return None
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    rows = [line.split(",") for line in lines]
    names = _column_names(rows[0]) if rows else []
    if not names or "" in names or len(set(names)) < len(names) or any(not "".join(row).strip() for row in rows):
        return None
    if any(len(row) != len(names) for row in rows):
        return None
    return names, rows[1:]


def _column_names(raw: list[str]) -> list[str]:
    """Column names as the validation reads them: no byte-order mark, no blanks, lower case."""
    return [name.lstrip("\ufeff").strip().lower() for name in raw]


def _read_rows(path: Path, fast: bool = True) -> tuple[list[str], list[list[str]]]:
    """Header (lower-case, aliases applied) and rows of cell texts: :func:`_plain_csv` where it
    applies (unless ``fast`` is false), else read by astropy."""
    try:
        fmt = catalog_format(path)
    except OSError as error:
        raise CatalogError(f"{path}: cannot read catalog: {error}") from error
    plain = _plain_csv(path) if fast and fmt == "ascii.basic" else None
    if plain is not None:
        names, rows = plain[0], [[cell.strip() for cell in row] for row in plain[1]]
    else:
        if fmt == "ascii.basic":  # astropy renames a repeated column (z, z_1): judge the header as written
            _check_column_names(path, _csv_header(path))
        names, rows = _astropy_rows(path, fmt)
    _check_column_names(path, names)
    return [COLUMN_ALIASES.get(name, name) for name in names], rows


def _csv_header(path: Path) -> list[str]:
    """The column names of a CSV file as written (:func:`_column_names`): its first line that is
    neither blank nor a ``#`` comment, split by the csv module (quotes honoured)."""
    try:
        with open(path, encoding="utf-8", newline="") as handle:
            for raw in csv.reader(handle):
                if raw and "".join(raw).strip() and not raw[0].lstrip().startswith("#"):
                    return _column_names(raw)
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise CatalogError(f"{path}: cannot read catalog: {error}") from error
    return []


def _check_column_names(path: Path, names: list[str]) -> None:
    """Refuse a header that names one of the catalog's columns twice (also through an alias:
    ``fiber`` and ``fiberid``): which one is meant cannot be known."""
    known = set(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
    by_column: dict[str, list[str]] = {}
    for name in names:
        column = COLUMN_ALIASES.get(name, name)
        if column in known:
            by_column.setdefault(column, []).append(name)
    for column, written in by_column.items():
        if len(written) > 1:
            where = (
                " and ".join(repr(name) for name in dict.fromkeys(written))
                if len(set(written)) > 1
                else f"{column!r} {len(written)} times"
            )
            raise CatalogError(f"{path}: header, column {column!r}: named by {where}; keep one column")


def _astropy_rows(path: Path, fmt: str) -> tuple[list[str], list[list[str]]]:
    """Column names (:func:`_column_names`) and rows of cell texts of a catalog in format ``fmt``, read by astropy."""
    from astropy.io import ascii as astropy_ascii
    from astropy.table import Table

    try:
        kwargs: dict = {"format": fmt}
        if fmt == "ascii.basic":  # every cell as text: the validation decides what is an integer
            kwargs.update(delimiter=",", guess=False, converters={"*": [astropy_ascii.convert_numpy(str)]})
        table = Table.read(path, **kwargs)
    except astropy_ascii.InconsistentTableError as error:
        match = re.search(r"\((\d+)\) at data line (\d+)", str(error))
        header_fields = re.search(r"header columns \((\d+)\)", str(error))
        if match and header_fields:
            raise CatalogError(
                f"{path}: row {int(match[2]) + 1}: has {match[1]} fields, the header has {header_fields[1]}"
            ) from error
        raise CatalogError(f"{path}: not a valid table: {str(error).splitlines()[0]}") from error
    except (OSError, ValueError, UnicodeDecodeError, TypeError, csv.Error) as error:
        # csv.Error: e.g. a quoted field longer than the csv module's limit (131,072 characters)
        raise CatalogError(f"{path}: cannot read catalog: {error}") from error
    # Python values column by column (None where masked): indexing the table cell by cell took a
    # second for the 3346-row embedded catalog, which every shard job reads.
    cells = [table[name].tolist() for name in table.colnames]
    rows = [[_cell_text(column[i]) for column in cells] for i in range(len(table))]
    return _column_names(table.colnames), rows


def read_catalog(path: str | os.PathLike[str], *, require_label: bool = True) -> np.ndarray:
    """Read and validate a CSV or ECSV catalog.

    Parameters
    ----------
    path
        The catalog file (``.csv`` or ``.ecsv``; the format is recognised from the content).
    require_label
        When true (the default) the ``label`` column must be present and every value one of
        :data:`agn_saliency.CLASS_NAMES`; when false a missing column or an empty value gives ``''``.

    Returns
    -------
    numpy.ndarray
        Structured array of :data:`CATALOG_DTYPE`, in file order: ``row`` (1-based data row number
        in the file), ``plate``, ``mjd``, ``fiberid``, ``label``, ``z`` (NaN when absent),
        ``run2d`` (``''`` when absent).

    Raises
    ------
    CatalogError
        Missing column; non-integer or out-of-range identifier; unknown label; ``z`` not a number;
        a value that looks like a path or URL (contains ``/``, ``\\``, ``..`` or ``://``); ``run2d``
        not matching ``^(\\d+|v\\d+_\\d+_\\d+)$``; no data rows. The message names the file and
        the row and column of every problem (up to 20).
    """
    path = Path(path)
    if not path.is_file():
        raise CatalogError(f"{path}: cannot read catalog: no such file")
    header, rows = _read_rows(path)
    has_targetid = "targetid" in header
    wanted = (() if has_targetid else REQUIRED_COLUMNS) + (("label",) if require_label else ())
    missing = [name for name in wanted if name not in header]
    if missing:
        raise CatalogError(
            f"{path}: missing column(s) {', '.join(repr(m) for m in missing)} "
            f"(header has {', '.join(repr(h) for h in header) or 'nothing'})"
        )
    index = {name: header.index(name) for name in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if name in header}
    if not rows:
        raise CatalogError(f"{path}: no data rows")

    problems: list[str] = []
    out = np.zeros(len(rows), CATALOG_DTYPE)

    def problem(row_number: int, column: str, message: str) -> None:
        problems.append(f"{path}: row {row_number}, column {column!r}: {message}")

    for i, record in enumerate(rows):
        row_number = i + 1
        out["row"][i] = row_number
        if len(record) != len(header):
            problems.append(f"{path}: row {row_number}: has {len(record)} fields, the header has {len(header)}")
            continue
        values = {name: record[j].strip() for name, j in index.items()}
        for column, value in values.items():
            if _looks_like_path(value):
                problem(row_number, column, f"value {value!r} looks like a path or URL; refused")
        target_text = values.get("targetid", "")
        out["targetid"][i] = -1
        if target_text and not _looks_like_path(target_text):
            low, high = TARGETID_RANGE
            if not INTEGER_PATTERN.fullmatch(target_text):
                problem(row_number, "targetid", f"{target_text!r} is not an integer (ASCII digits only)")
            elif not low <= int(target_text) <= high:
                problem(row_number, "targetid", f"{int(target_text)} is out of range ({low}…{high})")
            else:
                out["targetid"][i] = int(target_text)
        for column in REQUIRED_COLUMNS:
            value = values.get(column, "")
            if target_text and value == "":
                continue  # a DESI row: the TARGETID names it
            low, high = ID_RANGES[column]
            if _looks_like_path(value):
                continue
            if not INTEGER_PATTERN.fullmatch(value):
                problem(row_number, column, f"{value!r} is not an integer (ASCII digits only)")
                continue
            number = int(value)
            if not low <= number <= high:
                problem(row_number, column, f"{number} is out of range ({low}…{high})")
                continue
            out[column][i] = number
        label = values.get("label", "")
        if label in CLASS_NAMES or (label == "" and not require_label):
            out["label"][i] = label
        elif not _looks_like_path(label):
            problem(row_number, "label", f"unknown label {label!r} (expected one of {', '.join(CLASS_NAMES)})")
        z_text = values.get("z", "")
        if z_text == "" or z_text.lower() in ("nan", "--"):
            out["z"][i] = math.nan
        else:
            z = float(z_text) if DECIMAL_PATTERN.fullmatch(z_text) else math.nan
            if math.isnan(z) and not _looks_like_path(z_text):
                if z_text.lower().lstrip("+-") in ("inf", "infinity"):
                    problem(row_number, "z", f"{z_text!r} is not a finite number")
                else:
                    problem(row_number, "z", f"{z_text!r} is not a number (ASCII digits, '.', an exponent)")
            elif not math.isfinite(z):
                problem(row_number, "z", f"{z_text!r} is not a finite number")
            out["z"][i] = z
        run2d = values.get("run2d", "")
        if run2d and not _looks_like_path(run2d):
            if not RUN2D_PATTERN.fullmatch(run2d) or len(run2d) > CATALOG_DTYPE["run2d"].itemsize // 4:
                problem(row_number, "run2d", f"{run2d!r} is not a run2d (digits, or v<major>_<minor>_<patch>)")
        out["run2d"][i] = run2d
        if len(problems) >= MAX_REPORTED_PROBLEMS:
            break
    if problems:
        more = "" if len(problems) < MAX_REPORTED_PROBLEMS else f"\n(stopped after {MAX_REPORTED_PROBLEMS} problems)"
        raise CatalogError(f"{len(problems)} problem(s) in catalog {path}:\n" + "\n".join(problems) + more, problems)
    return out


def find_duplicates(catalog: np.ndarray) -> list[tuple[int, int, str]]:
    """Rows that repeat an earlier (plate, mjd, fiberid).

    Duplicates are not fatal here: they are reported, and the reduce stage keeps the first and
    rejects the later ones.

    Returns
    -------
    list of (row, first_row, specid)
        ``row`` is the repeating row, ``first_row`` the first row with the same identifier (both the
        1-based ``row`` numbers of the catalog), in catalog order.
    """
    first: dict[tuple[int, ...], int] = {}
    duplicates: list[tuple[int, int, str]] = []
    for record in catalog:
        target = int(record["targetid"]) if "targetid" in (catalog.dtype.names or ()) else -1
        key = (target,) if target >= 0 else (int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))
        if key in first:
            duplicates.append((int(record["row"]), first[key], str(target) if target >= 0 else specid(*key)))
        else:
            first[key] = int(record["row"])
    return duplicates


def shard_rows(catalog: np.ndarray, shard: int, n_shards: int) -> np.ndarray:
    """The rows of one contiguous shard (see :func:`agn_saliency.acquire.inventory.shard_bounds`).

    Contiguous blocks keep the concatenated shards in catalog order whatever ``n_shards`` is.

    Raises
    ------
    ValueError
        Unless ``n_shards >= 1`` and ``0 <= shard < n_shards``.
    """
    start, stop = shard_bounds(len(catalog), int(shard), int(n_shards))
    return catalog[start:stop]


def write_catalog(catalog: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write a catalog (:data:`CATALOG_DTYPE` fields) as CSV that :func:`read_catalog` reads back (atomic)."""
    from agn_saliency.core.files import write_text_atomic

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    # the targetid column only when a row names a DESI target: an SDSS catalog is written as before
    desi = "targetid" in (catalog.dtype.names or ()) and bool((catalog["targetid"] >= 0).any())
    writer.writerow(["plate", "mjd", "fiberid", "label", "z", "run2d"] + (["targetid"] if desi else []))
    for record in catalog:
        z = float(record["z"])
        target = int(record["targetid"]) if desi else -1
        writer.writerow(
            [
                *(("", "", "") if target >= 0 else (int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))),
                str(record["label"]),
                "" if math.isnan(z) else repr(z),
                str(record["run2d"]),
            ]
            + ([target if target >= 0 else ""] if desi else [])
        )
    write_text_atomic(path, buffer.getvalue())
