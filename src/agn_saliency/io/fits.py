"""A small, fast FITS reader and writer for the HDU kinds SDSS spectra use, with astropy behind it.

Why a reader of our own: reading one spec-lite file costs ~22 ms with ``astropy.io.fits`` and
~6 ms with ``fitsio`` on this machine, while parsing the 2880-byte header blocks and viewing the
binary table with :func:`numpy.frombuffer` costs well under 1 ms (``benchmarks/fits.py`` measures
the ratio on the real files). The reduction floor (≥ 1000 spectra/s on 2 cores) needs the latter.

The fast path decodes only what it fully supports: header cards with a plain ``KEYWORD = value``
(no ``CONTINUE`` long strings, no ``HIERARCH`` keywords), primary / IMAGE data without ``BLANK``,
``BSCALE`` or ``BZERO``, and BINTABLE columns of format B, I, J, K, E, D or A without ``TDIMn``,
``TSCALn`` or ``TZEROn``. It *detects* everything else from the header cards and hands exactly
that part to :mod:`astropy.io.fits` (the header of an HDU with CONTINUE/HIERARCH cards, the image
of a scaled or BLANK image, one column of format L, X, C, M, P or Q or with TDIM/TSCAL/TZERO, every
HDU of another kind: tile-compressed images, ASCII tables, random groups), so the values are
always astropy's. gzip and bzip2 files are decompressed with the standard library first (as astropy
does), streaming and never past :attr:`ReadLimits.max_bytes`, and then read the same way. The
structural checks (whole 2880-byte blocks, every header and data unit inside the file, no negative
or absurd axis length, at most :attr:`ReadLimits.max_hdus` HDUs and
:attr:`ReadLimits.max_header_cards` cards per header) run on every file, whichever path decodes it,
so a hostile file costs bounded memory and time and is rejected with its reason.
"""

from __future__ import annotations

import bz2
import functools
import io
import math
import os
import re
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import xxhash

BLOCK = 2880
CARD = 80

_BITPIX_DTYPE = {8: ">u1", 16: ">i2", 32: ">i4", 64: ">i8", -32: ">f4", -64: ">f8"}
_TFORM_DTYPE = {"B": "u1", "I": ">i2", "J": ">i4", "K": ">i8", "E": ">f4", "D": ">f8"}
# Column formats the fast path leaves to astropy (with the element width, to skip them in a row):
# logical (astropy gives bool), bits (bool per bit), complex, and variable-length descriptors.
_ASTROPY_TFORM_WIDTH = {"L": 1, "C": 8, "M": 16, "P": 8, "Q": 16}
_TFORM = re.compile(r"^\s*(\d*)([LXBIJKAEDCMPQ])(.*)$")
GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"


class FitsFormatError(ValueError):
    """The bytes are not a FITS file that can be read (the message says why)."""


@dataclass(frozen=True)
class ReadLimits:
    """Bounds on what reading one FITS file may cost (config section ``limits``).

    Attributes
    ----------
    max_bytes
        Largest file, after decompression, in bytes: a gzip/bzip2 stream is decompressed in
        chunks and abandoned as soon as it exceeds this (a "decompression bomb"), a plain file
        larger than this is not read.
    max_hdus
        Most header-data units a file may have.
    max_header_cards
        Most 80-character cards one header may have.
    """

    max_bytes: int = 64 * 2**20
    max_hdus: int = 200
    max_header_cards: int = 10_000

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any] | None) -> ReadLimits:
        """From the ``limits`` config section (``max_decompressed_mb``, ``max_hdus``, ``max_header_cards``)."""
        mapping = dict(mapping or {})
        unknown = sorted(set(mapping) - {"max_decompressed_mb", "max_hdus", "max_header_cards"})
        if unknown:
            raise ValueError(f"unknown limits key(s): {', '.join(unknown)}")
        values = {}
        if "max_decompressed_mb" in mapping:
            values["max_bytes"] = int(float(mapping["max_decompressed_mb"]) * 2**20)
        for key in ("max_hdus", "max_header_cards"):
            if key in mapping:
                values[key] = int(mapping[key])
        limits = cls(**values)
        if min(limits.max_bytes, limits.max_hdus, limits.max_header_cards) < 1:
            raise ValueError(f"limits must be positive, got {mapping}")
        return limits


_limits = ReadLimits()


def read_limits() -> ReadLimits:
    """The limits every read in this process applies (:func:`set_read_limits`)."""
    return _limits


def set_read_limits(limits: ReadLimits) -> ReadLimits:
    """Apply ``limits`` to every later read in this process (a job's configured ``limits``); return the
    previous ones. Process-wide on purpose: forked pool workers and download threads inherit them."""
    global _limits
    previous, _limits = _limits, limits
    return previous


def _native(array: np.ndarray) -> np.ndarray:
    """``array`` as a plain ndarray in native byte order (strings and objects unchanged)."""
    array = np.asarray(array)
    if type(array) is not np.ndarray:
        array = array.view(np.ndarray)
    if array.dtype.byteorder not in ("=", "|") and array.dtype.kind not in "OUS":
        array = array.astype(array.dtype.newbyteorder("="))
    return array


class _AstropyFile:
    """The file's (decompressed) bytes, opened with astropy the first time a part needs it."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self._hdul: Any = None

    def hdu(self, index: int) -> Any:
        if self._hdul is None:
            from astropy.io import fits as astropy_fits

            self._hdul = astropy_fits.open(io.BytesIO(self.data), memmap=False)
        return self._hdul[index]

    def call(self, index: int, what: str, function: Any) -> Any:
        """``function(astropy HDU index)``; any astropy error becomes a :class:`FitsFormatError`."""
        try:
            return function(self.hdu(index))
        except MemoryError as error:
            raise FitsFormatError(f"HDU {index}: out of memory while astropy reads {what}") from error
        except Exception as error:  # noqa: BLE001 - astropy raises many kinds on bad files
            raise FitsFormatError(f"HDU {index}: astropy cannot read {what} ({type(error).__name__}: {error})") from error


def _astropy_header(header: Any) -> dict[str, Any]:
    """An astropy header as the fast path's dict: value cards only, first occurrence, HIERARCH
    keywords without the ``HIERARCH`` prefix, long (CONTINUE) strings whole, undefined → None."""
    from astropy.io.fits.card import Undefined

    result: dict[str, Any] = {}
    for card in header.cards:
        keyword = card.keyword
        if keyword in ("", "COMMENT", "HISTORY") or keyword in result:
            continue
        value = card.value
        result[keyword] = None if isinstance(value, Undefined) else value
    return result


# A column of the fast layout: (n of TFORMn — TSCALn, TZEROn, TDIMn belong to this n; byte offset
# in a row; dtype, None when astropy decodes it; why astropy decodes it, "" for the fast path).
# A plain tuple: a table has up to a few hundred columns and this is built once per file.
_Column = tuple[int, int, "np.dtype | None", str]


@dataclass
class HDU:
    """One header-data unit: its header (keyword → value) and its raw data bytes.

    ``fallback`` says why astropy decodes the whole HDU ("" when the fast path does).
    """

    header: dict[str, Any]
    raw: memoryview
    index: int
    fallback: str = ""
    _file: _AstropyFile | None = field(default=None, repr=False)
    _special_cards: bool = field(default=True, repr=False)
    _columns: dict[str, _Column] | None = field(default=None, repr=False)
    _memo: _HeaderMemo | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return str(self.header.get("EXTNAME", "PRIMARY" if self.index == 0 else "")).strip()

    @property
    def is_table(self) -> bool:
        return str(self.header.get("XTENSION", "")).strip() in ("BINTABLE", "TABLE")

    def _astropy(self, what: str, function: Any) -> Any:
        if self._file is None:
            raise FitsFormatError(f"HDU {self.index}: {what} needs astropy, but the file's bytes are gone")
        return self._file.call(self.index, what, function)

    def image_fallback(self) -> str:
        """Why astropy decodes this HDU's image ("" when the fast path does)."""
        if self.fallback:
            return self.fallback
        if "BLANK" in self.header:
            return "BLANK card"
        if self.header.get("BSCALE", 1) != 1 or self.header.get("BZERO", 0) != 0:
            return "BSCALE/BZERO scaling"
        if int(self.header.get("BITPIX", 0)) not in _BITPIX_DTYPE:
            return f"BITPIX = {self.header.get('BITPIX')}"
        return ""

    def image(self) -> np.ndarray:
        """The image as a native-endian array shaped (NAXISn, …, NAXIS1), as astropy gives it."""
        if self.is_table:
            raise FitsFormatError(f"HDU {self.index} is a table, not an image")
        if self.image_fallback():
            data = self._astropy("the image", lambda hdu: hdu.data)
            return _native(np.array(data) if data is not None else np.empty(0))
        shape = tuple(int(self.header[f"NAXIS{i}"]) for i in range(int(self.header["NAXIS"]), 0, -1))
        dtype = np.dtype(_BITPIX_DTYPE[int(self.header["BITPIX"])])
        data = np.frombuffer(self.raw, dtype=dtype, count=int(np.prod(shape)) if shape else 0)
        return data.reshape(shape).astype(dtype.newbyteorder("="))

    def _table_layout(self) -> dict[str, _Column]:
        if self._columns is None and self._memo is not None and self._memo.columns is not None:
            self._columns = self._memo.columns  # made for a header of the same bytes (another file's)
        if self._columns is None:
            # The layout is a function of these cards only: tables of one kind (every file's SPALL)
            # share it, so it is made once per kind (:data:`_LAYOUTS`), not once per file. Each card
            # is keyed by its presence and value (TTYPEn also by its type: the name is its text).
            header = self.header
            has, get = header.__contains__, header.get
            key: tuple[Any, ...] = (bool(self.fallback), get("NAXIS1"), self._special_cards)
            for i, cards in enumerate(_layout_cards(int(get("TFIELDS", 0)))):
                if i < 2 or self._special_cards:  # TFORM, TTYPE; TDIM, TSCAL, TZERO
                    values = tuple(map(get, cards))
                    key += (tuple(map(has, cards)), values, tuple(map(type, values)) if i == 1 else ())
            columns = _LAYOUTS.get(key)
            if columns is None:
                columns = self._make_layout()
                if len(_LAYOUTS) >= _MAX_LAYOUTS:
                    _LAYOUTS.clear()
                _LAYOUTS[key] = columns
            self._columns = columns
            if self._memo is not None:
                self._memo.columns = columns
        return self._columns

    def _make_layout(self) -> dict[str, _Column]:
        columns: dict[str, _Column] = {}
        offset = 0
        header = self.header
        # Columns with TDIMn / TSCALn / TZEROn (their own n) go to astropy; most tables have
        # none (``_special_cards`` is False when the header text holds none of those words).
        special = self._special_cards
        for i in range(1, int(header.get("TFIELDS", 0)) + 1):
            tform, ttype, tdim, tscal, tzero = _column_cards(i)
            decoded = _column_format(str(header[tform]))
            if decoded is None:
                raise FitsFormatError(f"HDU {self.index}: unknown TFORM{i} = {header[f'TFORM{i}']!r}")
            dtype, size, reason = decoded
            # The column's own number n (not its position among fast columns) owns TDIMn etc.
            if special and not reason:
                if tdim in header:
                    reason = tdim
                elif header.get(tscal, 1) != 1 or header.get(tzero, 0) != 0:
                    reason = f"{tscal}/{tzero}"
            name = str(header.get(ttype, f"COL{i}")).strip().upper()
            if name not in columns:
                columns[name] = (i, offset, None if reason else dtype, reason)
            else:
                # Two columns whose names differ only in case (flux and FLUX): astropy picks
                # the exact match, else calls the name ambiguous; let it decide for both.
                first = columns[name]
                columns[name] = (first[0], first[1], None, "case-duplicate column names")
            offset += size
        if not self.fallback and offset != int(self.header["NAXIS1"]):
            raise FitsFormatError(f"HDU {self.index}: columns span {offset} bytes, NAXIS1 says {self.header['NAXIS1']}")
        return columns

    @property
    def column_names(self) -> list[str]:
        if self.fallback:
            return [str(name).upper() for name in self._astropy("the column names", lambda hdu: hdu.columns.names)]
        return list(self._table_layout())

    def has_column(self, name: str) -> bool:
        """``name in self.column_names`` (names upper-case), without listing the columns on the fast path."""
        if self.fallback:
            return name in self.column_names
        return name in self._table_layout()

    def first(self, name: str, default: Any) -> Any:
        """``column(name)[0]``, or ``default`` when the table has no column ``name`` or no row. On the
        fast path only that value is decoded (a one-row SPALL's values, without making their columns)."""
        if self.is_table and not self.fallback:
            entry = self._table_layout().get(name.upper())
            if entry is None:
                return default  # column() raises KeyError
            _, offset, dtype, reason = entry
            if not reason and dtype.subdtype is None and int(self.header["NAXIS2"]) >= 1:
                value = np.ndarray(shape=(1,), dtype=dtype, buffer=self.raw, offset=offset)[0]
                # column()'s decoding of one value: bytes without trailing NULs, ASCII, trailing blanks off
                return np.str_(value.decode("ascii", errors="replace").rstrip()) if dtype.kind == "S" else value
        try:
            values = self.column(name)
        except KeyError:
            return default
        return values[0] if len(values) else default

    def column_fallback(self, name: str) -> str:
        """Why astropy decodes column ``name`` ("" when the fast path does)."""
        if self.fallback:
            return self.fallback
        layout = self._table_layout()
        return layout[name.upper()][3] if name.upper() in layout else ""

    def column(self, name: str, numbers_as: Any = None) -> np.ndarray:
        """One table column (case-insensitive name), native byte order, as astropy gives it:
        strings without trailing blanks, TSCAL/TZERO applied, TDIM shapes, bool for L columns,
        an object array of arrays for a variable-length column. ``numbers_as``: a dtype that a
        column of one number a row (integer or float) is given in, converted from the file's
        bytes at once (``column(name).astype(numbers_as)`` without the intermediate copy)."""
        if not self.is_table:
            raise FitsFormatError(f"HDU {self.index} is not a table")
        key = name.upper()
        entry = None if self.fallback else self._table_layout().get(key)  # one look-up on the fast path
        if entry is None and key not in (self.column_names if self.fallback else ()):
            raise KeyError(f"HDU {self.index} ({self.name}) has no column {name!r}")
        if entry is None or entry[3]:
            # the name as asked: astropy matches it exactly first, then case-insensitively
            return _native(np.array(self._astropy(f"column {name!r}", lambda hdu: hdu.data.field(name))))
        _, offset, dtype, _ = entry
        nrows, row_bytes = int(self.header["NAXIS2"]), int(self.header["NAXIS1"])
        view = np.ndarray(shape=(nrows,), dtype=dtype, buffer=self.raw, offset=offset, strides=(row_bytes,))
        if dtype.kind == "S":
            return np.char.rstrip(np.char.decode(view, "ascii", errors="replace"))
        if numbers_as is not None and dtype.subdtype is None and dtype.kind in "biuf":
            return np.array(view, dtype=numbers_as)
        values = np.array(view, dtype=dtype.newbyteorder("=") if dtype.subdtype is None else dtype.base.newbyteorder("="))
        return values if numbers_as is None or values.ndim != 1 or values.dtype.kind not in "biuf" else values.astype(numbers_as)


_LAYOUTS: dict[tuple[Any, ...], dict[str, _Column]] = {}
"""Table layouts made so far, by the cards they depend on (the layout dicts are never changed)."""
_MAX_LAYOUTS = 64


@functools.lru_cache(maxsize=64)
def _layout_cards(n: int) -> tuple[tuple[str, ...], ...]:
    """The keywords TFORM1 … TFORMn, TTYPE1 … TTYPEn, TDIM…, TSCAL…, TZERO… (five tuples)."""
    return tuple(tuple(f"{kind}{i}" for i in range(1, n + 1)) for kind in ("TFORM", "TTYPE", "TDIM", "TSCAL", "TZERO"))


@functools.lru_cache(maxsize=1024)
def _column_cards(n: int) -> tuple[str, str, str, str, str]:
    """The keywords TFORMn, TTYPEn, TDIMn, TSCALn, TZEROn of column n (made once, not for every file)."""
    return f"TFORM{n}", f"TTYPE{n}", f"TDIM{n}", f"TSCAL{n}", f"TZERO{n}"


@functools.lru_cache(maxsize=1024)
def _column_format(tform: str) -> tuple[np.dtype | None, int, str] | None:
    """A TFORMn value's dtype (None when astropy decodes the column), bytes per row and why astropy
    decodes it ("" for the fast path), or None if it is not a binary-table format; memoised: an
    SDSS SPALL table has 236 columns of a dozen formats, and making their dtypes again for every
    file took 1.6 times as long (``benchmarks/table_layouts.py``: 0.29 against 0.18 ms a file)."""
    parsed = _parse_tform(tform)
    if parsed is None:
        return None
    repeat, code = parsed
    if code == "A":
        return np.dtype(f"S{repeat}"), repeat, ""
    if code == "X":
        return None, (repeat + 7) // 8, "bit column (X)"
    if code in _TFORM_DTYPE:
        base = np.dtype(_TFORM_DTYPE[code])
        return (base if repeat == 1 else np.dtype((base, (repeat,)))), base.itemsize * repeat, ""
    return None, _ASTROPY_TFORM_WIDTH[code] * repeat, f"format {code}"


@functools.lru_cache(maxsize=1024)
def _parse_tform(tform: str) -> tuple[int, str] | None:
    """(repeat, type code) of a TFORMn value, or None if it is not a binary-table format."""
    match = _TFORM.match(tform.strip().upper())
    return (int(match[1]) if match[1] else 1, match[2]) if match else None


def _parse_value(text: str) -> Any:
    text = text.strip()
    if text.startswith("'"):
        end = 1
        while True:
            end = text.find("'", end)
            if end < 0:
                return text[1:].rstrip()
            if text[end + 1 : end + 2] == "'":
                end += 2
                continue
            return text[1:end].replace("''", "'").rstrip()
    value = text.split("/", 1)[0].strip()
    if value == "T":
        return True
    if value == "F":
        return False
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        pass
    try:
        return float(value.replace("D", "E"))
    except ValueError:
        return value


# Cards the fast header parser does not decode: their presence sends the header to astropy.
_ASTROPY_KEYWORDS = ("CONTINUE", "HIERARCH")


@functools.lru_cache(maxsize=16384)
def _card(card: str) -> tuple[str, str, Any]:
    """(keyword, kind, value) of an 80-character card: kind "end", "astropy" (a CONTINUE or HIERARCH
    card), "lower" (a lower-case keyword: astropy reads it as its upper-case form), "value" (a
    ``KEYWORD = value`` card; value by :func:`_parse_value`) or "" (commentary, blank). Memoised
    (the results are immutable): most cards repeat across files — the real SDSS files' headers took
    0.54 ms a file card by card with memoised values only, 0.31 ms so (``benchmarks/fits_headers.py``)."""
    keyword = card[:8].strip()
    if keyword == "END":
        return keyword, "end", None
    if keyword in _ASTROPY_KEYWORDS:
        return keyword, "astropy", None
    if not keyword.isupper() and keyword != keyword.upper():
        return keyword, "lower", None
    if card[8:10] == "= ":
        return keyword, "value", _parse_value(card[10:])
    return keyword, "", None


@functools.lru_cache(maxsize=2048)
def _block(block: bytes) -> tuple[dict[str, Any], bool, str, bool]:
    """One 2880-byte header block parsed card by card (:func:`_card`) up to its END card: each
    keyword's first value in the block (in card order), whether it holds the END card, why astropy
    must parse the header ("" if no card says so) and whether TDIM/TSCAL/TZERO text occurs in it.
    Memoised on the block's bytes: a kind of table (every file's SPALL, SPECOBJ, SPZLINE) has the
    same header blocks in every file, and so do copies of a file (``benchmarks/fits_headers.py``:
    the real files' headers 0.28 → 0.058 ms a file when every block is known, 0.67 → 0.58 ms with
    the memos emptied before each pass over the 14 files)."""
    text = block.decode("ascii", errors="replace")  # one character per byte: card offsets unchanged
    values: dict[str, Any] = {}
    fallback = ""
    end = False
    for i in range(0, BLOCK, CARD):
        keyword, kind, value = _card(text[i : i + CARD])
        if kind == "value":
            if keyword not in values:
                values[keyword] = value
        elif kind == "end":
            end = True
            break
        elif kind == "astropy":
            fallback = fallback or f"{keyword} card"
        elif kind == "lower":
            fallback = fallback or f"lower-case keyword {keyword!r}"
    special = "TDIM" in text or "TSCAL" in text or "TZERO" in text
    return values, end, fallback, special  # (shared by every header holding the block: never changed)


def _parse_header(buffer: memoryview, start: int) -> tuple[dict[str, Any], int, str, bool]:
    """(header, data offset, why astropy must parse the header or "", whether any TDIM/TSCAL/TZERO
    text occurs in it)."""
    header: dict[str, Any] = {}
    fallback = ""
    special = False
    position = start
    max_blocks = -(-read_limits().max_header_cards // (BLOCK // CARD))
    while True:
        if position + BLOCK > len(buffer):
            raise FitsFormatError(f"truncated header at byte {position} (file has {len(buffer)} bytes)")
        if position - start >= max_blocks * BLOCK:
            raise FitsFormatError(
                f"header at byte {start} has no END card within limits.max_header_cards = {read_limits().max_header_cards} cards"
            )
        values, end, block_fallback, block_special = _block(bytes(buffer[position : position + BLOCK]))
        position += BLOCK
        if header.keys().isdisjoint(values):
            header.update(values)
        else:
            for keyword, value in values.items():
                if keyword not in header:  # the first card of a keyword counts
                    header[keyword] = value
        fallback = fallback or block_fallback
        special = special or block_special
        if end:
            return header, position, fallback, special


def parse_header(buffer: memoryview, start: int) -> tuple[dict[str, Any], int]:
    """Parse the header starting at byte ``start``; return it and the offset of its data.

    CONTINUE and HIERARCH cards are skipped here (:func:`read_hdus` hands such headers to astropy).
    """
    header, position, _, _ = _parse_header(buffer, start)
    return header, position


def _data_size(header: dict[str, Any]) -> int:
    """Bytes of the data unit the header describes (FITS 4.0, eq. 2); a negative or absurd axis
    length, NAXIS, BITPIX, PCOUNT or GCOUNT raises ``ValueError`` (such a size would step the parser
    backwards onto the same header, or ask for more bytes than any file holds)."""
    naxis = int(header.get("NAXIS", 0))
    if not 0 <= naxis <= 999:
        raise ValueError(f"NAXIS = {naxis} is outside 0…999")
    if naxis == 0:
        return 0
    bitpix = int(header["BITPIX"])
    if bitpix not in _BITPIX_DTYPE:
        raise ValueError(f"BITPIX = {bitpix} is not one of {sorted(_BITPIX_DTYPE)}")
    # Random groups (GROUPS = T, NAXIS1 = 0): NAXIS1 does not count.
    first = 2 if header.get("GROUPS") is True and int(header.get("NAXIS1", -1)) == 0 else 1
    count = 1
    for i in range(1, naxis + 1):
        length = int(header[f"NAXIS{i}"])
        if length < 0:
            raise ValueError(f"NAXIS{i} = {length} is negative")
        if i >= first:
            count *= length
    pcount, gcount = int(header.get("PCOUNT", 0)), int(header.get("GCOUNT", 1))
    if pcount < 0 or gcount < 0:
        raise ValueError(f"PCOUNT = {pcount}, GCOUNT = {gcount}: negative")
    return abs(bitpix) // 8 * gcount * (pcount + count)


def _hdu_fallback(header: dict[str, Any], index: int) -> str:
    """Why astropy decodes the whole HDU ("" for the fast path); raises for what neither reads."""
    if header.get("ZTABLE") is True:
        raise FitsFormatError(f"HDU {index}: tile-compressed table (ZTABLE): not supported")
    if header.get("ZIMAGE") is True:
        return "tile-compressed image (ZIMAGE)"
    xtension = str(header.get("XTENSION", "")).strip() if index > 0 else ""
    if index > 0 and xtension not in ("IMAGE", "BINTABLE"):
        return f"XTENSION = {xtension!r}"
    if header.get("GROUPS") is True:
        return "random groups"
    if int(header.get("GCOUNT", 1)) != 1 or (xtension != "BINTABLE" and int(header.get("PCOUNT", 0)) != 0):
        return "GCOUNT/PCOUNT"
    return ""


def _capped(kind: str, cap: int) -> str:
    return f"larger than limits.max_decompressed_mb = {cap / 2**20:g} MB after {kind} decompression: not read"


_CHUNK = 2**20  # most decompressed bytes one call returns: a small temporary beside the output


def _decompress_capped(data: bytes, kind: str, cap: int) -> bytearray:
    """Decompress every member of a gzip / bzip2 stream, never producing more than ``cap`` + 1
    bytes: each call to the decompressor returns at most one chunk (``max_length``), appended to a
    ``bytearray`` grown in place, so a small file of zeros that would expand to gigabytes costs
    about ``cap`` bytes of memory and stops there."""
    out = bytearray()
    rest = data
    while True:
        if kind == "gzip":
            engine = zlib.decompressobj(zlib.MAX_WBITS | 16)
            piece = rest
            while not engine.eof and len(out) <= cap:
                chunk = engine.decompress(piece, min(_CHUNK, cap + 1 - len(out)))
                out += chunk
                piece = engine.unconsumed_tail
                if not chunk and not piece:
                    break  # all input used, no output left: a cut stream (eof is False)
        else:
            engine = bz2.BZ2Decompressor()
            piece = rest
            while len(out) <= cap and not engine.eof:
                out += engine.decompress(piece, min(_CHUNK, cap + 1 - len(out)))
                piece = b""  # the decompressor keeps what it has not consumed
                if engine.needs_input:
                    break
        if len(out) > cap:
            raise FitsFormatError(_capped(kind, cap))
        if not engine.eof:
            raise FitsFormatError(f"truncated or corrupt {kind} stream (it ends before its end-of-stream marker)")
        rest = engine.unused_data
        if not rest.startswith(GZIP_MAGIC if kind == "gzip" else BZIP2_MAGIC):
            return out  # another member follows only after its magic; trailing padding is ignored, as gzip does


def decompress(data: bytes, max_bytes: int | None = None) -> bytes:
    """``data`` itself, or its content if it is a gzip or bzip2 stream (any number of members).

    Parameters
    ----------
    max_bytes
        Largest decompressed size (default :func:`read_limits`' ``max_bytes``); decompression is
        streamed and stops as soon as the output would exceed it.

    Raises
    ------
    FitsFormatError
        A compressed stream that is cut short or corrupt, or that exceeds ``max_bytes``.
    """
    cap = read_limits().max_bytes if max_bytes is None else int(max_bytes)
    kind = "gzip" if data.startswith(GZIP_MAGIC) else "bzip2" if data.startswith(BZIP2_MAGIC) else ""
    if not kind:
        return data
    try:
        return _decompress_capped(data, kind, cap)
    except (EOFError, OSError, zlib.error, ValueError) as error:
        if isinstance(error, FitsFormatError):
            raise
        raise FitsFormatError(f"truncated or corrupt {kind} stream ({error})") from error
    except MemoryError as error:
        raise FitsFormatError(f"out of memory decompressing the {kind} stream") from error


def read_bytes(source: str | os.PathLike[str] | bytes) -> bytes:
    """The bytes of a file (path) or ``source`` itself, never more than :func:`read_limits`' ``max_bytes``
    (a larger file is a :class:`FitsFormatError`; a compressed one is further capped by
    :func:`decompress`). ``OSError`` (no permission, a dangling link, …) propagates."""
    cap = read_limits().max_bytes
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = source if isinstance(source, (bytes, bytearray)) else bytes(source)
    else:
        with open(source, "rb") as handle:
            # read(n) allocates n bytes first: ask for the file's size (+1, so that growth shows),
            # not the cap (0.30 → 0.05 ms for a 410 kB file with the 64 MB default)
            size = os.fstat(handle.fileno()).st_size
            data = handle.read(min(size, cap) + 1)
            if size < len(data) <= cap:  # grown since, or no size (a pipe): the rest, up to the cap
                data += handle.read(cap + 1 - len(data))
    if len(data) == 0:
        raise FitsFormatError("empty file (0 bytes)")
    if len(data) > cap:
        raise FitsFormatError(f"larger than limits.max_decompressed_mb = {cap / 2**20:g} MB: not read")
    return data


_last_file: tuple[tuple[Any, ...], bytes | bytearray, str] | None = None
_last_raw: tuple[tuple[Any, ...], bytes, list[str]] | None = None
"""The last file read by path as read from disk (before decompression) and its digest once made."""

DIGEST_ALGORITHM = "xxh3_128"
"""The content digest's hash (:func:`content_digest`): XXH3-128 (``xxhash``), ≈ 35x SHA-256 here
(62 against 1.8 GB/s on a 1.7 MB file in cache, SHA-256 with the CPU's SHA extensions). The digest
is only an equality key (two files with the same bytes: ``duplicate_of``), never a defence against
crafted collisions, which a folder of spectra to classify gives no one a reason to make."""


def _content(source: str | os.PathLike[str] | bytes) -> tuple[bytes | bytearray, str]:
    """The (decompressed) content of ``source`` and " (after decompression)" or "". The last file
    read by path is kept (keyed by its path, size, times, inode and the limits), so that reading it
    again — the AGN gate after the reduction, SPZLINE after COADD — does not decompress it again."""
    global _last_file, _last_raw
    key = None
    if not isinstance(source, (bytes, bytearray, memoryview)):
        status = os.stat(source)
        key = (os.fspath(source), status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, read_limits())
        if _last_file is not None and _last_file[0] == key:
            return _last_file[1], _last_file[2]
    data = read_bytes(source)
    compressed = bytes(data[:3])
    if key is not None:
        _last_raw = (key, data, [])
    data = decompress(data)
    what = " (after decompression)" if data[:3] != compressed else ""
    if key is not None:
        _last_file = (key, data, what)
    return data, what


def content_digest(data: bytes | bytearray | memoryview) -> str:
    """``data``'s content digest: :data:`DIGEST_ALGORITHM`, a colon and the hex digest (``xxh3_128:…``).
    The name travels with the value, so that a digest of another hash (an older shard's bare
    SHA-256) never equals one of these."""
    return f"{DIGEST_ALGORITHM}:{xxhash.xxh3_128_hexdigest(data)}"


def file_content_digest(path: str | os.PathLike[str]) -> str:
    """:func:`content_digest` of the bytes of the file at ``path`` as they are on disk, read in blocks
    (the whole file is never held). Raises OSError when it cannot be read."""
    import hashlib

    with open(path, "rb") as handle:
        return f"{DIGEST_ALGORITHM}:{hashlib.file_digest(handle, xxhash.xxh3_128).hexdigest()}"


def last_file_digest(path: str | os.PathLike[str]) -> str | None:
    """:func:`content_digest` of the bytes of ``path`` as this module last read them (before
    decompression), if ``path`` is the last file read by path and is unchanged since (size,
    modification and change times, inode); else None. The digest of exactly the bytes a reader
    used, without reading the file again."""
    if _last_raw is None:
        return None
    key, data, digest = _last_raw
    try:
        status = os.stat(path)
    except OSError:
        return None
    if key != (os.fspath(path), status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino, read_limits()):
        return None
    if not digest:
        digest.append(content_digest(data))
    return digest[0]


def file_content(source: str | os.PathLike[str] | bytes) -> bytes | bytearray:
    """The bytes of a FITS file (path or bytes), decompressed if gzip/bzip2, within :func:`read_limits`;
    for handing to astropy (``astropy.io.fits.open(io.BytesIO(...))``) without a second decompression.

    Raises
    ------
    FitsFormatError
        Empty, beyond the limits, or a cut / corrupt compressed stream.
    OSError
        The file cannot be opened or read.
    """
    return _content(source)[0]


def read_hdus(source: str | os.PathLike[str] | bytes, max_hdus: int | None = None) -> list[HDU]:
    """Parse a FITS file (path or bytes; gzip- or bzip2-compressed or not) into its HDUs.

    Parameters
    ----------
    source
        File path or the file's bytes.
    max_hdus
        Stop after this many HDUs (the rest of the file is not checked).

    Raises
    ------
    FitsFormatError
        Empty, not FITS (no ``SIMPLE = T``), truncated (a header or data unit runs past the end, or
        a compressed stream is cut), beyond :func:`read_limits` (size after decompression, HDU
        count, header cards), a negative or absurd axis length, or a part the fast path hands to
        astropy that astropy cannot read either.
    OSError
        The file cannot be opened or read.
    """
    global _last_parse
    data, what = _content(source)
    if isinstance(source, (bytes, bytearray, memoryview)):
        return _parse_hdus(data, what, max_hdus)
    if _last_parse is not None and _last_parse[0] is data:  # the same file, parsed just before
        parsed_max, parsed = _last_parse[1], _last_parse[2]
        complete = parsed_max is None or len(parsed) < parsed_max
        if complete or (max_hdus is not None and len(parsed) >= max_hdus):
            return list(parsed[:max_hdus])
    hdus = None
    if max_hdus is not None and max_hdus < _PREFETCH_HDUS:
        try:  # the readers ask for 2, then 3, then 4 HDUs of one file: parsed once
            hdus, max_hdus = _parse_hdus(data, what, _PREFETCH_HDUS), _PREFETCH_HDUS
        except FitsFormatError:
            hdus = None  # a fault beyond the HDUs asked for is not theirs to raise
    if hdus is None:
        hdus = _parse_hdus(data, what, max_hdus)
    _last_parse = (data, max_hdus, hdus)
    return list(hdus[:max_hdus] if max_hdus is not None else hdus)


def read_leading_hdus(path: str | os.PathLike[str], max_hdus: int, least_hdus: int) -> list[HDU]:
    """``read_hdus(path, max_hdus)``, or ``read_hdus(path, least_hdus)`` when the file's bytes are
    readable but a fault lies beyond its first ``least_hdus`` HDUs (what asking for ``least_hdus``
    gives: that fault is raised only to whoever asks for more). One call where a reader asked for
    ``least_hdus`` and then for ``max_hdus`` (each call a ``stat`` and a look-up); a fault of the
    bytes themselves (size, a cut or oversized compressed stream) is raised at once, the file never
    read or decompressed twice for it.

    Raises
    ------
    FitsFormatError, OSError
        As :func:`read_hdus` for ``least_hdus`` HDUs.
    """
    try:
        return read_hdus(path, max_hdus)
    except FitsFormatError:
        if _last_file is None or _last_file[0][0] != os.fspath(path):
            raise  # the bytes could not be had (read, decompressed): no HDU of the file is readable
        return read_hdus(path, least_hdus)  # the bytes are kept: parsed again only


@dataclass
class _HeaderMemo:
    """A header parsed by the fast path, kept with its bytes (``text``, whole blocks up to END) so
    that a header of the same bytes in another file is not parsed again: its keyword → value dict
    (copied for each HDU), data size, whether TDIM/TSCAL/TZERO text occurs, its number of blocks,
    and its table layout once made (:meth:`HDU._table_layout`; a function of the header only)."""

    text: bytes
    header: dict[str, Any]
    size: int
    special: bool
    blocks: int
    columns: dict[str, _Column] | None = None


_HEADERS: dict[tuple[int, bytes], _HeaderMemo] = {}
"""Headers parsed so far by (HDU index, first 2880-byte block); the least recently used goes when it is full."""
_MAX_HEADERS = 128
_MAX_MEMO_BLOCKS = 32
"""Longest header kept (blocks): the memo holds at most 128 × 92 kB, whatever the files."""

_PREFETCH_HDUS = 4
"""HDUs parsed at least when fewer are asked for (an SDSS spec file's four: primary, COADD, SPALL, SPZLINE)."""

_last_parse: tuple[Any, int | None, list[HDU]] | None = None
"""The HDUs of the last file parsed by path (its content object, the ``max_hdus`` of the parse, the HDUs)."""


def _parse_hdus(data: bytes | bytearray, what: str, max_hdus: int | None) -> list[HDU]:
    """:func:`read_hdus` of a file's (decompressed) content."""
    limits = read_limits()
    if len(data) == 0:
        raise FitsFormatError(f"empty file{what} (0 bytes)")
    if not data.startswith(b"SIMPLE  =") or data[10:30].strip() != b"T":
        raise FitsFormatError(f"not a FITS file{what} (no SIMPLE = T card)")
    if len(data) % BLOCK:
        # Every complete FITS file is whole 2880-byte blocks; this also catches a cut inside
        # HDUs that are never parsed (per-exposure HDUs of full spec files).
        raise FitsFormatError(f"truncated{what}: {len(data)} bytes is not a whole number of {BLOCK}-byte FITS blocks")
    buffer = memoryview(data)
    astropy_file = _AstropyFile(data)
    max_blocks = -(-limits.max_header_cards // (BLOCK // CARD))
    hdus: list[HDU] = []
    position = 0
    while position < len(buffer) and (max_hdus is None or len(hdus) < max_hdus):
        if len(hdus) > 0 and not bytes(buffer[position : position + 8]).startswith(b"XTENSION"):
            break  # trailing padding or special records after the last HDU
        index = len(hdus)
        if index >= limits.max_hdus:
            raise FitsFormatError(f"more than limits.max_hdus = {limits.max_hdus} HDUs: not read")
        first_block = (index, bytes(data[position : position + BLOCK]))
        memo = _HEADERS.pop(first_block, None)  # put back last: the least recently used goes first
        if memo is not None:
            _HEADERS[first_block] = memo
        if memo is not None and memo.blocks <= max_blocks and data[position : position + len(memo.text)] == memo.text:
            # the same header bytes as an HDU of a file read before (every file's SPALL, SPZLINE)
            header, data_start, size, fallback, special = (
                dict(memo.header),
                position + len(memo.text),
                memo.size,
                "",
                memo.special,
            )
        else:
            try:
                header, data_start, header_fallback, special = _parse_header(buffer, position)
                size = _data_size(header)
                fallback = _hdu_fallback(header, index)
            except (KeyError, ValueError, TypeError) as error:
                if isinstance(error, FitsFormatError):
                    raise
                raise FitsFormatError(f"HDU {index}: malformed header ({error})") from error
            memo = None
            if header_fallback or fallback:
                # astropy's header: whole long strings, HIERARCH keywords; for a tile-compressed
                # image, the header of the image it holds.
                header = astropy_file.call(index, "the header", lambda hdu: _astropy_header(hdu.header))
                special = True
            elif data_start - position <= _MAX_MEMO_BLOCKS * BLOCK:
                memo = _HeaderMemo(
                    bytes(data[position:data_start]), dict(header), size, special, (data_start - position) // BLOCK
                )
                if len(_HEADERS) >= _MAX_HEADERS:  # a file's own headers (primary, COADD) come and go
                    _HEADERS.pop(next(iter(_HEADERS), None), None)  # (never raises, also beside another thread)
                _HEADERS[first_block] = memo
        if data_start + size > len(buffer):
            raise FitsFormatError(f"truncated{what}: HDU {index} needs {data_start + size} bytes, file has {len(buffer)}")
        hdus.append(
            HDU(
                header=header,
                raw=buffer[data_start : data_start + size],
                index=index,
                fallback=fallback,
                _file=astropy_file,
                _special_cards=special,
                _memo=memo,
            )
        )
        position = data_start + (size + BLOCK - 1) // BLOCK * BLOCK
    return hdus


# --------------------------------------------------------------------------------------- writer


_KEYWORD = re.compile(r"^[A-Z0-9_-]{1,8}$")
_MAX_STRING = 68  # quoted string value that fits one card: 80 − "KEYWORD = " − two quotes


def _format_card(keyword: str, value: Any, comment: str = "") -> str:
    """One 80-character card that astropy parses back to ``value`` exactly.

    Raises
    ------
    ValueError
        Naming the keyword: not a standard keyword (1–8 of A–Z 0–9 _ -), a string longer than
        68 characters once quotes are doubled or with non-printable / non-ASCII characters (this
        writer does not emit CONTINUE cards), a non-finite float (FITS has no NaN/Inf card value),
        or a value of another type.
    """
    if not _KEYWORD.match(keyword):
        raise ValueError(f"FITS keyword {keyword!r}: must be 1–8 characters of A–Z, 0–9, _ or -")
    if isinstance(value, (bool, np.bool_)):
        text = f"{'T' if value else 'F':>20}"
    elif isinstance(value, (int, np.integer)):
        text = f"{int(value):>20d}"
    elif isinstance(value, (float, np.floating)):
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"FITS keyword {keyword}: {number} is not a finite number (FITS cards cannot hold NaN or Inf)")
        # repr is the shortest text that reads back as the same double; FITS wants an upper-case E.
        formatted = repr(number).upper()
        if "." not in formatted and "E" not in formatted:
            formatted += ".0"
        text = f"{formatted:>20}"
    elif isinstance(value, (str, np.str_)):
        if not all(" " <= character <= "~" for character in value):
            raise ValueError(f"FITS keyword {keyword}: string value {value!r} has characters outside printable ASCII")
        quoted = str(value).replace("'", "''")
        if len(quoted) > _MAX_STRING:
            raise ValueError(
                f"FITS keyword {keyword}: string value is {len(quoted)} characters (quotes doubled), "
                f"more than the {_MAX_STRING} one card holds"
            )
        text = f"'{quoted:<8}'"
    else:
        raise ValueError(f"FITS keyword {keyword}: no card value for {type(value).__name__} {value!r}")
    card = f"{keyword:<8}= {text}"
    if comment:
        comment = "".join(character if " " <= character <= "~" else "?" for character in comment)
        card += f" / {comment}"
    return f"{card[:CARD]:<80}"


def _header_bytes(cards: list[tuple[str, Any, str]]) -> bytes:
    text = "".join(_format_card(*card) for card in cards) + f"{'END':<80}"
    padded = text + " " * ((-len(text)) % BLOCK)
    return padded.encode("ascii")


def _pad(data: bytes) -> bytes:
    return data + b"\0" * ((-len(data)) % BLOCK)


def _tform(dtype: np.dtype) -> str:
    base, shape = (dtype.base, dtype.shape) if dtype.subdtype else (dtype, ())
    repeat = int(np.prod(shape)) if shape else 1
    if base.kind == "S":
        return f"{base.itemsize}A"
    codes = {("i", 2): "I", ("i", 4): "J", ("i", 8): "K", ("f", 4): "E", ("f", 8): "D", ("u", 1): "B"}
    code = codes.get((base.kind, base.itemsize))
    if code is None:
        raise TypeError(f"no FITS column type for {dtype}")
    return f"{repeat}{code}"


def table_bytes(
    table: np.ndarray, extname: str, cards: list[tuple[str, Any, str]] = (), units: dict[str, str] | None = None
) -> bytes:
    """A BINTABLE HDU (header + padded data) from a structured array; extra header ``cards``."""
    names = table.dtype.names
    big = table.astype([(n, table.dtype[n].newbyteorder(">") if table.dtype[n].kind != "S" else table.dtype[n]) for n in names])
    header: list[tuple[str, Any, str]] = [
        ("XTENSION", "BINTABLE", "binary table extension"),
        ("BITPIX", 8, ""),
        ("NAXIS", 2, ""),
        ("NAXIS1", big.dtype.itemsize, "bytes per row"),
        ("NAXIS2", len(big), "rows"),
        ("PCOUNT", 0, ""),
        ("GCOUNT", 1, ""),
        ("TFIELDS", len(names), ""),
    ]
    for i, name in enumerate(names, start=1):
        header.append((f"TTYPE{i}", name, ""))
        header.append((f"TFORM{i}", _tform(table.dtype[name]), ""))
        if units and name in units:
            header.append((f"TUNIT{i}", units[name], ""))
    header.append(("EXTNAME", extname, ""))
    header.extend(cards)
    return _header_bytes(header) + _pad(big.tobytes())


def primary_bytes(cards: list[tuple[str, Any, str]]) -> bytes:
    """A data-less primary HDU with the given extra header ``cards``."""
    base = [("SIMPLE", True, "conforms to FITS standard"), ("BITPIX", 8, ""), ("NAXIS", 0, ""), ("EXTEND", True, "")]
    return _header_bytes(base + list(cards))
