"""File names as table text: escaped so that every name, whatever it holds, survives a table.

A file name on Linux is any bytes but ``/`` and NUL. Tables (ECSV, CSV), logs and HDF5 attributes
need text that a reader gives back unchanged: a newline, U+2028, U+0085, a form feed or a
vertical tab split a row (astropy cannot read the table back), a leading or trailing blank is
stripped, and bytes that are not UTF-8 (decoded by Python as lone surrogates, PEP 383) cannot be
written at all. :func:`escape_name` writes such characters as backslash escapes, and
:func:`unescape_name` restores the exact name, so a ``file`` column still names the file:

* ``\\\\`` for a backslash (so escapes are unambiguous);
* ``\\xHH`` for a byte that is not UTF-8;
* ``\\uHHHH`` / ``\\UHHHHHHHH`` for control, format, separator, private-use and unassigned
  characters, and for white space at either end of the name.

>>> escape_name("a\\nb.fits"), escape_name(" lead.fits"), escape_name("caf\\udce9.fits")
('a\\\\u000ab.fits', '\\\\u0020lead.fits', 'caf\\\\xe9.fits')
>>> unescape_name(escape_name("x\\u2028\\\\y ")) == "x\\u2028\\\\y "
True
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["escape_name", "unescape_name"]

# Unicode general categories written escaped: controls (Cc: tab, newline, FF, VT, U+0085), format
# (Cf), surrogates (Cs), private use (Co), unassigned (Cn), line and paragraph separators (Zl, Zp).
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4}|U[0-9a-f]{8})")


def _code_point(character: str) -> str:
    code = ord(character)
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def escape_name(name: str) -> str:
    """``name`` (a file name or path as Python decodes it) as printable, strip-safe text; see the module doc."""
    if name.isascii() and name.isprintable() and "\\" not in name and name == name.strip():
        return name  # the common case, unchanged
    characters = []
    for character in name:
        code = ord(character)
        if character == "\\":
            characters.append("\\\\")
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8 (os.fsdecode's surrogateescape)
            characters.append(f"\\x{code - 0xDC00:02x}")
        elif unicodedata.category(character) in _ESCAPED_CATEGORIES:
            characters.append(_code_point(character))
        else:
            characters.append(character)
    # white space at either end is stripped by table readers: escape it there
    start = 0
    while start < len(characters) and characters[start].isspace():
        characters[start] = _code_point(characters[start])
        start += 1
    end = len(characters) - 1
    while end >= start and characters[end].isspace():
        characters[end] = _code_point(characters[end])
        end -= 1
    return "".join(characters)


def unescape_name(text: str) -> str:
    """The name :func:`escape_name` escaped (text without escapes is returned as it is)."""
    if "\\" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        escape = match[1]
        if escape == "\\":
            return "\\"
        if escape[0] == "x":
            return chr(0xDC00 + int(escape[1:], 16))
        return chr(int(escape[1:], 16))

    return _ESCAPE.sub(replace, text)
