"""How an attempt ends (retryable, final, cancelled) and the plain reason of a failure: the error
chains of requests, urllib3 and the socket reduced to "connection refused", "timed out", …, and
HTML pages answered in place of a FITS file."""

from __future__ import annotations

import html
import http.client
import re
import socket
import ssl
from typing import Any

import requests
import urllib3


class _Retryable(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class _Final(Exception):
    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class _Cancelled(Exception):
    pass


_CONNECTION_ERRORS: tuple[tuple[type[BaseException], str], ...] = (
    # RemoteDisconnected is a ConnectionResetError: it comes first
    (http.client.RemoteDisconnected, "connection closed by the server without a response"),
    (ConnectionRefusedError, "connection refused"),
    (ConnectionResetError, "connection reset"),
    (ConnectionAbortedError, "connection aborted"),
    (BrokenPipeError, "connection closed by the server (broken pipe)"),
)
_TIMEOUTS = (TimeoutError, urllib3.exceptions.TimeoutError, requests.exceptions.Timeout)


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and every exception it wraps (requests → urllib3 → socket), outermost first."""
    found: list[BaseException] = []
    queue = [error]
    while queue:
        current = queue.pop(0)
        if any(current is seen for seen in found):
            continue
        found.append(current)
        wrapped = [getattr(current, "reason", None), current.__cause__, current.__context__, *current.args]
        queue.extend(inner for inner in wrapped if isinstance(inner, BaseException))
    return found


def _describe(error: BaseException) -> str:
    """A short, plain reason for a failed request or read ("connection refused", "timed out", …)."""
    chain = _chain(error)

    def first(kind: type[BaseException] | tuple[type[BaseException], ...]) -> Any:
        return next((inner for inner in chain if isinstance(inner, kind)), None)

    incomplete = first((urllib3.exceptions.IncompleteRead, http.client.IncompleteRead))
    if incomplete is not None:
        got = incomplete.partial if isinstance(incomplete.partial, int) else len(incomplete.partial)
        if isinstance(incomplete.expected, int):
            return f"short body: {got} of {got + incomplete.expected} bytes (Content-Length)"
        return f"incomplete read ({got} bytes)"
    for kind, text in _CONNECTION_ERRORS:
        if first(kind) is not None:
            return text
    unresolved = first(socket.gaierror)
    if unresolved is not None:
        return f"cannot resolve the server's name ({unresolved.strerror or unresolved})"
    certificate = first(ssl.SSLCertVerificationError)
    if certificate is not None:
        return f"TLS certificate not accepted: {certificate.verify_message or certificate}"
    # urllib3's NewConnectionError is a ConnectTimeoutError for history's sake: not a timeout
    if any(isinstance(inner, _TIMEOUTS) and not isinstance(inner, urllib3.exceptions.NewConnectionError) for inner in chain):
        return "timed out"
    system = next((inner for inner in chain if isinstance(inner, OSError) and inner.strerror), None)
    if system is not None:
        return str(system.strerror).lower()
    innermost = chain[-1]
    text = str(innermost) or type(innermost).__name__
    return f"{type(innermost).__name__}: {text}" if type(innermost).__name__ not in text else text


def _http_reason(status: int, phrase: str | None) -> str:
    return f"HTTP {status} {phrase or ''}".strip()


def _html_page(head: bytes, content_type: str, size: int) -> str | None:
    """A description of the body if it is an HTML (or other markup) page, else ``None``.

    A FITS file starts with ``SIMPLE  =`` (a gzip stream with 0x1f 0x8b): a body starting with
    ``<`` or labelled ``text/html`` is a web page — a login, maintenance or proxy error page
    answered with status 200.
    """
    kind = content_type.split(";")[0].strip().lower()
    if not head.lstrip().startswith(b"<") and kind not in ("text/html", "application/xhtml+xml"):
        return None
    text = head.decode("utf-8", "replace")
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    words = title.group(1) if title else re.sub(r"<[^>]*>?", " ", text)
    words = " ".join(html.unescape(words).split())
    excerpt = f': "{words[:60]}{"…" if len(words) > 60 else ""}"' if words else ""
    return f"an HTML page instead of a FITS file ({kind or 'no Content-Type'}, {size} bytes{excerpt})"
