"""Credentials in URLs (``scheme://user:password@host``) never written: not in logs, tables, files or the terminal.

A base URL may carry a login (``data.sdss.base_url: https://user:secret@mirror.example/sas``);
requests sends it as an ``Authorization`` header, and everything the pipeline writes or prints
shows the URL with its user information replaced by ``***``.

>>> redact("fetching https://alice:s3cret@mirror.example/sas/dr17/x.fits")
'fetching https://***@mirror.example/sas/dr17/x.fits'
>>> redact("https://mirror.example/sas?contact=me@example.org")
'https://mirror.example/sas?contact=me@example.org'
>>> redact_values({"base_url": "http://u:p@h/sas", "retries": [1, "ftp://x@y"]})
{'base_url': 'http://***@h/sas', 'retries': [1, 'ftp://***@y']}
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

__all__ = ["RedactingFilter", "redact", "redact_values"]

# The user information of an absolute URL: after "scheme://", up to the last "@" before the host's
# end ("/", "?", "#", blank or a quote); a password holding a raw "@" is covered whole.
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.\-]*://)[^\s/?#\"'<>\\]+@")


def redact(text: str) -> str:
    """``text`` with the user information of every URL in it replaced by ``***``."""
    return _USERINFO.sub(r"\g<scheme>***@", text)


def redact_values(value: Any) -> Any:
    """A copy of ``value`` (nested mappings, lists and text) with every string redacted."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {key: redact_values(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_values(item) for item in value)
    return value


class RedactingFilter(logging.Filter):
    """A handler filter that redacts URLs in each record's message and traceback text."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True
