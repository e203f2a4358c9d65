"""Resumable, fault-tolerant download of SDSS spec-lite files from the SAS.

:func:`download_shard` fetches the spec-lite file of every row with a pool of threads. The HTTP
work is done by :mod:`requests` (on :mod:`urllib3`): each thread has its own
:class:`requests.Session` holding one persistent (keep-alive) connection per server, which also
brings proxies from the environment (``https_proxy``/``http_proxy``/``all_proxy``/``no_proxy``),
redirects and certificate checks. Files are written to ``data_root/<SAS relative path>``,
mirroring the SAS layout (see :func:`agn_saliency.spectra.sdss.spec_lite_relpath`).

Guarantees
----------
* **No half-written file ever looks finished.** Each body is streamed to a temporary file in the
  destination folder (``.<name>.<host>.<pid>.<token>.tmp``), flushed to disk, checked (size equals
  ``Content-Length``; the whole FITS structure is present; :func:`agn_saliency.spectra.sdss.read_spectrum`
  parses it and it holds the requested plate/MJD/fiber), and only then renamed. A file that fails
  a check is deleted. Temporary files left by a killed run (its process no longer alive on this
  host) are removed by the next run.
* **Resumable.** A file already present and valid is not fetched again (status ``ok``,
  ``cached=True``, size and SHA-256 recomputed from disk); a present but corrupt file is fetched
  again.
* **Fault tolerant.** Connection errors and HTTP 5xx/408/425/429 are retried by
  :class:`urllib3.util.Retry`; timeouts, resets, short bodies, transfers that are too slow and an
  HTML page answered with status 200 (a login, maintenance or proxy error page) are retried by
  this module. Both draw on one budget of ``retries`` further attempts per file and wait the same
  exponential back-off with (seeded) jitter, honouring ``Retry-After``. HTTP 404/410 give status
  ``missing`` (not retried); other 4xx give ``failed`` with the reason.
* **Bounded.** Besides the socket timeout (connecting, and the wait for each next piece), every
  attempt has a deadline: once ``throughput_grace_s`` seconds have passed since the request, the
  body bytes received so far must average at least ``min_throughput_bytes_s`` since the request,
  otherwise the attempt is abandoned as "too slow" (and retried). The response headers therefore
  have to arrive within the grace period, and a server that trickles a byte at a time — headers
  or body — cannot hold a connection for hours (the ``(connect, read)`` timeout of requests only
  bounds the gap between two pieces). A watchdog thread shuts the socket of an attempt past its
  deadline down, so a read blocked inside :mod:`http.client` returns at once.
* **Judged.** :func:`check_failures` raises :class:`DownloadFailed`, naming the server, the count
  and the reasons, when more of a shard failed than the caller accepts.
* **Confined.** Every destination is resolved and checked to lie inside ``data_root``; identifiers
  are validated with the catalog rules (:mod:`agn_saliency.acquire.catalog`) before anything is fetched.

Requests to ``localhost``/``127.0.0.1``/``::1`` never go through a proxy.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import html
import http.client
import logging
import math
import os
import random
import re
import secrets
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import requests
import requests.adapters
import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.retry import Retry

from agn_saliency import __version__
from agn_saliency.acquire.catalog import ID_RANGES, RUN2D_PATTERN
from agn_saliency.io import fits
from agn_saliency.io.tables import read_table, write_table
from agn_saliency.spectra import sdss

LOG = logging.getLogger(__name__)
"""The default logger of :func:`download_shard`."""
DEFAULT_BASE_URL = "https://data.sdss.org/sas"
"""The SDSS Science Archive Server; spec-lite paths below it start with ``dr17/``."""
USER_AGENT = f"agn-saliency/{__version__} ({requests.utils.default_user_agent()})"
CHUNK_BYTES = 256 * 1024
MAX_REDIRECTS = 5
MISSING_STATUSES = frozenset({404, 410})
RETRY_STATUSES = frozenset({408, 425, 429})  # plus every 5xx
DRAIN_LIMIT_BYTES = 64 * 1024  # error bodies up to this size are read so the connection can be reused
STATUSES = ("ok", "missing", "failed")
MANIFEST_COLUMNS = (
    "specid",
    "plate",
    "mjd",
    "fiberid",
    "url",
    "path",
    "status",
    "reason",
    "bytes",
    "sha256",
    "attempts",
    "cached",
)
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
_NO_PROXY = {"http": None, "https": None, "all": None}  # requests drops None entries: no proxy at all


@dataclass
class ManifestEntry:
    """What happened to one file.

    ``path`` is relative to the data root (POSIX separators); ``status`` is ``ok``, ``missing``
    (HTTP 404/410) or ``failed`` (``reason`` says why); ``bytes`` and ``sha256`` describe the file
    on disk when ``ok``; ``attempts`` counts HTTP attempts (0 when ``cached``).
    """

    specid: str
    plate: int
    mjd: int
    fiberid: int
    url: str
    path: str
    status: str
    reason: str = ""
    bytes: int = 0
    sha256: str = ""
    attempts: int = 0
    cached: bool = False


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


class DownloadFailed(RuntimeError):
    """More files of a shard failed than accepted (see :func:`check_failures`)."""


# ------------------------------------------------------------------------------------ helpers


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


def _row_value(row: Any, name: str, default: Any = None) -> Any:
    try:
        return row[name]
    except (KeyError, ValueError, IndexError, TypeError):
        return default


def verify_spectrum_file(source: str | os.PathLike[str] | bytes, plate: int, mjd: int, fiberid: int) -> str | None:
    """Why ``source`` is not a complete spectrum file of (plate, mjd, fiberid); ``None`` if it is.

    Checks that every HDU of the FITS file is complete, that
    :func:`agn_saliency.spectra.sdss.read_spectrum` parses it (COADD or spSpec layout) and that it holds
    the requested spectrum.
    """
    try:
        data = source if isinstance(source, (bytes, bytearray)) else Path(source).read_bytes()
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    try:
        fits.read_hdus(data)
        spectrum = sdss.read_spectrum(data)
    except (fits.FitsFormatError, sdss.SpectrumReadError) as error:
        return str(error)
    found = (spectrum.plate, spectrum.mjd, spectrum.fiberid)
    if found != (int(plate), int(mjd), int(fiberid)):
        return f"file holds spectrum {sdss.specid(*found)}, not {sdss.specid(plate, mjd, fiberid)}"
    return None


_HOSTNAME = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{_HOSTNAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(final: Path, log: logging.Logger | None = None) -> int:
    """Delete temporary files of ``final`` left by dead download processes on this host.

    Only names made by this module (``.<name>.<host>.<pid>.<token>.tmp``) whose host is this one
    and whose process is gone are removed; files of live or remote processes are left alone.
    Returns how many were removed.
    """
    removed = 0
    prefix = f".{final.name}."
    for candidate in final.parent.glob(f".{glob_escape(final.name)}.*.tmp"):
        try:
            head, pid_text, _token, _suffix = candidate.name.rsplit(".", 3)
        except ValueError:
            continue
        host = head[len(prefix) :] if head.startswith(prefix) else None
        if host != _HOSTNAME or not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            candidate.unlink()
        except FileNotFoundError:
            continue
        removed += 1
        if log is not None:
            log.info("removed %s, left behind by a killed download (pid %d)", candidate, pid)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)


# ------------------------------------------------------------------------------ deadlines


class _Transfer:
    """One attempt's clock: started (monotonic s), body bytes so far, its connection, and why it expired."""

    __slots__ = ("started", "bytes", "headers", "conn", "expired")

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.bytes = 0
        self.headers = False
        self.conn: HTTPConnection | None = None
        self.expired: str | None = None


def _shut_down(conn: HTTPConnection | None) -> None:
    """Shut the socket of ``conn`` down: a read blocked on it returns an end of file at once."""
    sock = getattr(conn, "sock", None)
    sock = getattr(sock, "socket", sock)  # urllib3's SSLTransport (TLS inside a TLS proxy) wraps one
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            # the plain socket's shutdown, also for TLS: SSLSocket.shutdown would tear the SSL
            # object down under the thread reading from it
            socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _Watchdog:
    """Abandons attempts that miss their deadline (see the module's "Bounded" guarantee).

    One thread serves every attempt of a downloader: it sleeps until the earliest deadline, and
    shuts the socket of an attempt past it down, which wakes a read blocked inside
    :mod:`http.client` (headers or body) with an end of file; the attempt then fails with the
    reason in :attr:`_Transfer.expired`. The reading thread applies the same rule after every
    piece it receives, so the outcome does not depend on when this thread wakes. Connections
    report themselves (:meth:`attach`) just before they wait for a response, see
    :class:`_WatchedConnection`.
    """

    def __init__(self, min_throughput_bytes_s: float, throughput_grace_s: float) -> None:
        self.min_throughput = float(min_throughput_bytes_s)
        self.grace_s = float(throughput_grace_s)
        self._cond = threading.Condition()
        self._active: set[_Transfer] = set()
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="download-watchdog", daemon=True)
        self._thread.start()

    def limit_s(self, transfer: _Transfer) -> float:
        """Seconds after its start at which ``transfer`` becomes too slow, given its bytes so far."""
        if self.min_throughput > 0:
            return max(self.grace_s, transfer.bytes / self.min_throughput)
        return math.inf if transfer.headers else self.grace_s

    def too_slow(self, transfer: _Transfer, now: float | None = None) -> str | None:
        """Why ``transfer`` is past its deadline at ``now`` (monotonic s), or ``None``."""
        elapsed = (time.monotonic() if now is None else now) - transfer.started
        if elapsed < self.limit_s(transfer):
            return None
        if not transfer.headers:
            return f"too slow: no response within {elapsed:.1f} s"
        return f"too slow: {transfer.bytes} bytes in {elapsed:.1f} s, below {self.min_throughput:g} B/s"

    def start(self) -> _Transfer:
        transfer = _Transfer()
        with self._cond:
            self._active.add(transfer)
            self._cond.notify()
        return transfer

    def attach(self, transfer: _Transfer, conn: HTTPConnection) -> None:
        """Record the connection ``transfer`` waits on now; shut it down if the deadline already passed."""
        with self._cond:
            transfer.conn = conn
            if transfer.expired is not None:
                _shut_down(conn)

    def check(self, transfer: _Transfer) -> None:
        """Raise :class:`_Retryable` (too slow) if ``transfer`` is past its deadline."""
        reason = transfer.expired or self.too_slow(transfer)
        if reason is not None:
            with self._cond:
                transfer.expired = transfer.expired or reason
            raise _Retryable(transfer.expired)

    def pause(self, transfer: _Transfer) -> None:
        """Stop the clock of ``transfer`` (while it waits out a back-off)."""
        with self._cond:
            self._active.discard(transfer)

    def restart(self, transfer: _Transfer) -> None:
        """Start the clock of ``transfer`` afresh: a new request on its behalf is about to go out."""
        with self._cond:
            transfer.started, transfer.bytes, transfer.headers = time.monotonic(), 0, False
            transfer.conn, transfer.expired = None, None
            self._active.add(transfer)
            self._cond.notify()

    def finish(self, transfer: _Transfer) -> None:
        with self._cond:
            self._active.discard(transfer)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        with self._cond:
            while not self._closed:
                now = time.monotonic()
                wake = math.inf
                for transfer in self._active:
                    if transfer.expired is not None:
                        continue
                    reason = self.too_slow(transfer, now)
                    if reason is None:
                        wake = min(wake, transfer.started + self.limit_s(transfer))
                        continue
                    transfer.expired = reason
                    _shut_down(transfer.conn)
                self._cond.wait(None if wake == math.inf else max(wake - now, 0.001))


# ------------------------------------------------------------------- requests/urllib3 plumbing

_attempt_of_thread = threading.local()  # .watchdog, .transfer: the attempt this thread is making


class _WatchedConnection:
    """Reports itself to the watchdog of the calling thread's attempt before waiting for a response.

    requests and urllib3 offer no hook between sending a request and reading its status line, and
    their ``timeout`` only bounds the wait for each next piece; this is where a trickle of header
    bytes is caught. Mixed into urllib3's connection classes (the documented ``ConnectionCls`` of
    a pool).
    """

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        watchdog = getattr(_attempt_of_thread, "watchdog", None)
        transfer = getattr(_attempt_of_thread, "transfer", None)
        if watchdog is not None and transfer is not None:
            watchdog.attach(transfer, self)  # type: ignore[arg-type]
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _QuietAfterDeadline(logging.Filter):
    """Drops urllib3's complaints about a response the watchdog cut short on purpose.

    Shutting a socket down mid-headers leaves :mod:`http.client` with a partial header block,
    which urllib3 logs as a warning with a traceback; the attempt's reason ("too slow: …") says
    what happened. Records of threads whose attempt has not expired pass unchanged.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        transfer = getattr(_attempt_of_thread, "transfer", None)
        return transfer is None or transfer.expired is None


logging.getLogger("urllib3.connection").addFilter(_QuietAfterDeadline())


class _WatchedHTTPConnection(_WatchedConnection, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnection, HTTPSConnection):
    pass


class _WatchedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


_WATCHED_POOLS = {"http": _WatchedHTTPConnectionPool, "https": _WatchedHTTPSConnectionPool}


class _Adapter(requests.adapters.HTTPAdapter):
    """requests' adapter whose connections (direct or through an HTTP(S) proxy) report to the watchdog."""

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_WATCHED_POOLS)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        if not proxy.lower().startswith("socks"):  # SOCKS managers have pools of their own
            manager.pool_classes_by_scheme = dict(_WATCHED_POOLS)
        return manager


class _Retry(Retry):
    """urllib3's :class:`~urllib3.util.retry.Retry`, counting and waiting like the rest of this module.

    urllib3 decides what is retried (connection errors, the statuses of ``status_forcelist``) and
    when the budget is spent; this subclass records each failed attempt's reason on the file's
    :class:`_Fetch` and replaces urllib3's sleep, which is neither seeded nor interruptible, by
    :meth:`_Downloader.wait_to_retry` (seeded jitter, ``Retry-After`` capped at
    ``max_backoff_s``, ends at once when the download is cancelled).
    """

    fetch: _Fetch | None = None

    def new(self, **kw: Any) -> _Retry:
        retry = super().new(**kw)
        retry.fetch = self.fetch
        return retry

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: Any = None,
        error: Exception | None = None,
        _pool: Any = None,
        _stacktrace: Any = None,
    ) -> _Retry:
        if self.fetch is not None:
            self.fetch.reason = (
                _describe(error)
                if error is not None
                else _http_reason(response.status, response.reason)
                if response is not None
                else "unknown"
            )
        return super().increment(method, url, response, error, _pool, _stacktrace)

    def sleep(self, response: Any = None) -> None:
        fetch = self.fetch
        if fetch is None:
            super().sleep(response)
            return
        retry_after = None
        if response is not None:
            with contextlib.suppress(urllib3.exceptions.InvalidHeader, ValueError, OverflowError):
                retry_after = self.get_retry_after(response)
        fetch.downloader.wait_to_retry(fetch, retry_after)
        fetch.attempts += 1
        fetch.downloader.watchdog.restart(fetch.transfer)


# --------------------------------------------------------------------------------- downloader


@dataclass
class _Item:
    plate: int
    mjd: int
    fiberid: int
    relpath: str
    url: str
    dest: Path

    @property
    def ids(self) -> tuple[int, int, int]:
        return self.plate, self.mjd, self.fiberid

    def entry(self, reason: str = "") -> ManifestEntry:
        """A ``failed`` manifest entry for this file (the caller updates it as the download goes)."""
        ids = {"plate": self.plate, "mjd": self.mjd, "fiberid": self.fiberid}
        return ManifestEntry(sdss.specid(*self.ids), **ids, url=self.url, path=self.relpath, status="failed", reason=reason)


@dataclass
class _Fetch:
    """One file's retry state: attempts made (HTTP requests sent), last failure, jitter source."""

    downloader: _Downloader
    item: _Item
    rng: random.Random
    attempts: int = 0
    reason: str = ""
    transfer: _Transfer | None = None


class _Downloader:
    def __init__(
        self,
        *,
        root: Path,
        connections: int,
        timeout_s: float,
        retries: int,
        backoff_s: float,
        max_backoff_s: float,
        min_throughput_bytes_s: float,
        throughput_grace_s: float,
        seed: int,
        log: logging.Logger,
    ) -> None:
        self.root = root
        self.connections = connections
        self.timeout_s = timeout_s
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max_backoff_s
        self.seed = seed
        self.log = log
        self.stop = threading.Event()
        self._local = threading.local()
        self._lock = threading.Lock()
        self._sessions: list[requests.Session] = []
        self.bytes_fetched = 0
        self.watchdog = _Watchdog(min_throughput_bytes_s, throughput_grace_s)

    # ----------------------------------------------------------------- sessions (per thread)

    def _session(self) -> tuple[requests.Session, _Adapter]:
        """This thread's session (one keep-alive connection per server) and its adapter."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
            session.max_redirects = MAX_REDIRECTS
            adapter = _Adapter(pool_maxsize=1)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            self._local.session, self._local.adapter = session, adapter
            with self._lock:
                self._sessions.append(session)
        return session, self._local.adapter

    def close(self) -> None:
        with self._lock:
            for session in self._sessions:
                session.close()
            self._sessions.clear()
        self.watchdog.close()

    # ----------------------------------------------------------------------------- retries

    def _backoff(self, attempt: int, rng: random.Random, retry_after: float | None) -> float:
        delay = min(self.max_backoff_s, self.backoff_s * 2 ** (attempt - 1))
        delay *= 0.5 + 0.5 * rng.random()  # "equal jitter": spreads retries, keeps a floor
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.max_backoff_s))
        return delay

    def wait_to_retry(self, fetch: _Fetch, retry_after: float | None) -> None:
        """Wait out the back-off after failed attempt ``fetch.attempts`` (raise if cancelled)."""
        delay = self._backoff(fetch.attempts, fetch.rng, retry_after)
        self.log.info("%s: attempt %d failed (%s); retrying in %.2f s", fetch.item.relpath, fetch.attempts, fetch.reason, delay)
        if fetch.transfer is not None:
            self.watchdog.pause(fetch.transfer)
        if self.stop.wait(delay):
            raise _Cancelled()

    # -------------------------------------------------------------------------- one request

    def _open(self, fetch: _Fetch) -> requests.Response:
        """GET the file of ``fetch`` (redirects followed); return a 200 response or raise _Retryable/_Final.

        urllib3 retries connection errors and retryable statuses within the file's remaining budget
        (``fetch.attempts`` counts them); what it returns or raises is this attempt's outcome.
        """
        session, adapter = self._session()
        retry = _Retry(
            total=self.retries + 1 - fetch.attempts,  # further requests this attempt may make
            connect=None,
            read=False,
            redirect=False,
            status=None,
            other=0,
            allowed_methods=frozenset({"GET"}),
            status_forcelist=frozenset(range(500, 600)) | RETRY_STATUSES,
            raise_on_status=False,
            respect_retry_after_header=True,
        )
        retry.fetch = fetch
        adapter.max_retries = retry  # the adapter serves this thread only
        url = fetch.item.url
        host = urllib.parse.urlsplit(url).hostname or ""
        try:
            response = session.get(
                url,
                stream=True,
                timeout=(self.timeout_s, self.timeout_s),
                proxies=dict(_NO_PROXY) if host in _LOCAL_HOSTS else None,
            )  # requests adds to it
        except requests.exceptions.TooManyRedirects as error:
            raise _Final("failed", f"more than {MAX_REDIRECTS} redirects") from error
        except (requests.exceptions.InvalidSchema, requests.exceptions.MissingSchema, requests.exceptions.InvalidURL) as error:
            raise _Final("failed", f"cannot follow the server to that URL: {error}") from error
        except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError, http.client.HTTPException) as error:
            reason = _describe(error)
            if reason.startswith("TLS certificate"):
                raise _Final("failed", reason) from error
            raise _Retryable(reason) from error
        status = response.status_code
        if status == 200:
            return response
        reason = _http_reason(status, response.reason)
        retry_after = response.headers.get("Retry-After")
        location = response.headers.get("Location")
        self._discard(response)
        if status in MISSING_STATUSES:
            raise _Final("missing", reason)
        if status >= 500 or status in RETRY_STATUSES:
            seconds = None
            if retry_after:
                with contextlib.suppress(urllib3.exceptions.InvalidHeader, ValueError, OverflowError):
                    seconds = retry.parse_retry_after(retry_after)
            raise _Retryable(reason, seconds)
        if 300 <= status < 400 and not location:
            raise _Final("failed", f"{reason} without a Location")
        raise _Final("failed", reason)

    @staticmethod
    def _discard(response: requests.Response) -> None:
        """Finish an unwanted response so its connection can be reused (or close it)."""
        length = response.headers.get("Content-Length", "")
        if length.strip().isdigit() and int(length) <= DRAIN_LIMIT_BYTES:
            with contextlib.suppress(requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError):
                response.content  # noqa: B018 (reads the body: the connection goes back to the pool)
        response.close()

    def _attempt(self, fetch: _Fetch) -> tuple[int, str]:
        """One attempt at the file of ``fetch`` within its deadline. Returns (bytes, sha256)."""
        transfer = fetch.transfer = self.watchdog.start()
        _attempt_of_thread.watchdog, _attempt_of_thread.transfer = self.watchdog, transfer
        try:
            return self._transfer(fetch, transfer)
        except (_Retryable, _Final) as error:
            if transfer.expired is None:
                raise
            # the watchdog shut the socket down: whatever broke next, the cause is the deadline
            raise _Retryable(transfer.expired) from error
        finally:
            _attempt_of_thread.transfer = None
            self.watchdog.finish(transfer)

    def _transfer(self, fetch: _Fetch, transfer: _Transfer) -> tuple[int, str]:
        """Stream the body of the file to a temporary file, verify it, rename it into place."""
        item = fetch.item
        response = self._open(fetch)
        transfer.headers = True
        length_header = response.headers.get("Content-Length", "")
        expected = int(length_header) if length_header.strip().isdigit() else None
        body = response.raw
        tmp = _temp_path(item.dest)
        done = False
        try:
            item.dest.parent.mkdir(parents=True, exist_ok=True)
            digest, size, head = hashlib.sha256(), 0, b""
            with open(tmp, "xb") as handle:
                while True:
                    if self.stop.is_set():
                        raise _Cancelled()
                    try:
                        # read1: whatever has arrived (up to a chunk). iter_content(n) would wait
                        # for n bytes, so the bytes counted for the deadline would lag by up to a
                        # chunk and a slow but steady transfer would be cut.
                        chunk = body.read1(CHUNK_BYTES, decode_content=False)
                    except (OSError, urllib3.exceptions.HTTPError, http.client.HTTPException) as error:
                        reason = _describe(error)
                        raise _Retryable(reason if reason.startswith("short body") else f"{reason} after {size} bytes") from error
                    if not chunk:
                        break
                    handle.write(chunk)
                    digest.update(chunk)
                    if len(head) < 2048:
                        head += chunk[: 2048 - len(head)]
                    size += len(chunk)
                    transfer.bytes = size
                    with self._lock:
                        self.bytes_fetched += len(chunk)
                    if body.length_remaining != 0:  # more to come: is it coming fast enough?
                        self.watchdog.check(transfer)
                handle.flush()
                os.fsync(handle.fileno())
            if expected is not None and size != expected:
                raise _Retryable(f"short body: {size} of {expected} bytes (Content-Length)")
            problem = verify_spectrum_file(tmp, *item.ids)
            if problem is not None:
                page = _html_page(head, response.headers.get("Content-Type", ""), size)
                if page is not None:  # a login, maintenance or proxy page: may well pass
                    raise _Retryable(f"not a valid spectrum: HTTP 200 with {page}")
                if expected is None:  # no length to check: maybe cut short, worth another try
                    raise _Retryable(f"not a valid spectrum: {problem}")
                raise _Final("failed", f"not a valid spectrum: {problem}")
            os.replace(tmp, item.dest)
            done = True
            return size, digest.hexdigest()
        except OSError as error:  # local: creating the folder, writing, syncing or renaming the file
            raise _Final("failed", f"cannot write {item.relpath}: {error.strerror or error}") from error
        finally:
            response.close()  # after a complete body the connection is already back in the pool
            if not done:
                with contextlib.suppress(OSError):
                    tmp.unlink()

    # ----------------------------------------------------------------------------- one file

    def process(self, item: _Item) -> ManifestEntry:
        try:
            return self._process(item)
        except _Cancelled:
            raise
        except Exception as error:  # a bug or an odd local condition must not stop the other files
            self.log.exception("%s: unexpected error", item.relpath)
            return item.entry(f"unexpected error: {_describe(error)}")

    def _process(self, item: _Item) -> ManifestEntry:
        entry = item.entry()
        if item.dest.exists():
            try:
                data = item.dest.read_bytes()
            except OSError as error:
                data, problem = b"", f"unreadable: {error.strerror or error}"
            else:
                problem = verify_spectrum_file(data, *item.ids)
            if problem is None:
                entry.status, entry.cached = "ok", True
                entry.bytes, entry.sha256 = len(data), hashlib.sha256(data).hexdigest()
                return entry
            self.log.warning("%s is present but not valid (%s): downloading it again", item.relpath, problem)
        if item.dest.parent.is_dir():
            remove_stale_temporaries(item.dest, self.log)
        fetch = _Fetch(self, item, random.Random(f"{self.seed}:{entry.specid}"))
        try:
            while True:
                if self.stop.is_set():
                    raise _Cancelled()
                fetch.attempts += 1
                try:
                    entry.bytes, entry.sha256 = self._attempt(fetch)
                except _Final as error:
                    entry.status, entry.reason = error.status, error.reason
                    return entry
                except _Retryable as error:
                    fetch.reason = error.reason
                    if fetch.attempts > self.retries:
                        break
                    self.wait_to_retry(fetch, error.retry_after)
                    continue
                entry.status, entry.reason = "ok", ""
                return entry
        finally:
            entry.attempts = fetch.attempts
        entry.status = "failed"
        entry.reason = f"gave up after {entry.attempts} attempt{'s' * (entry.attempts != 1)}: {fetch.reason}"
        return entry


def _items(rows: Iterable[Any], base_url: str, root: Path) -> list[_Item]:
    items: list[_Item] = []
    for number, row in enumerate(rows, start=1):
        ids = []
        for name in ("plate", "mjd", "fiberid"):
            value = _row_value(row, name)
            try:
                integer = int(value)
                if integer != value and str(value).strip() != str(integer):
                    raise ValueError
            except (TypeError, ValueError):
                raise ValueError(f"row {number}: {name} = {value!r} is not an integer") from None
            low, high = ID_RANGES[name]
            if not low <= integer <= high:
                raise ValueError(f"row {number}: {name} = {integer} is out of range ({low}…{high})")
            ids.append(integer)
        run2d = _row_value(row, "run2d", "")
        run2d = "" if run2d is None else str(run2d).strip()
        if run2d and not RUN2D_PATTERN.fullmatch(run2d):
            raise ValueError(f"row {number}: run2d = {run2d!r} is not a run2d (digits or v<major>_<minor>_<patch>)")
        relpath = sdss.spec_lite_relpath(*ids, run2d or None)
        dest = root / relpath
        resolved = dest.resolve()
        if not resolved.is_relative_to(root) or resolved == root:
            raise ValueError(f"row {number}: destination {resolved} is outside the data root {root}")
        items.append(_Item(*ids, relpath=relpath, url=f"{base_url.rstrip('/')}/{relpath}", dest=dest))
    return items


def download_shard(
    rows: Iterable[Mapping[str, Any]] | Any,
    base_url: str,
    data_root: str | os.PathLike[str],
    *,
    connections: int = 4,
    timeout_s: float = 30.0,
    retries: int = 5,
    backoff_s: float = 0.5,
    max_backoff_s: float = 30.0,
    min_throughput_bytes_s: float = 1024.0,
    throughput_grace_s: float = 30.0,
    progress_interval_s: float = 10.0,
    seed: int = 0,
    log: logging.Logger = LOG,
) -> list[ManifestEntry]:
    """Download the spec-lite file of every row into ``data_root``, mirroring the SAS layout.

    Parameters
    ----------
    rows
        Records with ``plate``, ``mjd``, ``fiberid`` and optionally ``run2d`` (empty/absent: the
        plate's default, :func:`agn_saliency.spectra.sdss.default_run2d`) — a catalog array from
        :func:`agn_saliency.acquire.catalog.read_catalog` or a list of mappings.
    base_url
        SAS root, e.g. :data:`DEFAULT_BASE_URL`; a file's URL is
        ``base_url.rstrip('/') + '/' + spec_lite_relpath(plate, mjd, fiberid, run2d)``.
    data_root
        Folder the files are written under (at the same relative path); created if needed.
    connections
        Concurrent downloads (threads, one keep-alive connection each).
    timeout_s
        Socket timeout, s: connecting, and the longest wait for any next piece of a response.
    retries
        Further attempts after the first on a retryable failure (timeout, connection error,
        HTTP 5xx/408/429, short body).
    backoff_s, max_backoff_s
        Back-off before retry ``k`` is ``min(max_backoff_s, backoff_s·2^(k-1))`` times a jitter
        factor in [0.5, 1) drawn from a generator seeded by ``seed`` and the spectrum id; at least
        the server's ``Retry-After`` (capped at ``max_backoff_s``).
    min_throughput_bytes_s, throughput_grace_s
        Deadline of every attempt: from ``throughput_grace_s`` seconds (s) after the request on,
        the body bytes received must average at least ``min_throughput_bytes_s`` (bytes/s) since
        the request, else the attempt fails as "too slow" (retryable). The headers must arrive
        within the grace period; ``min_throughput_bytes_s = 0`` keeps only that rule.
    progress_interval_s
        Seconds between progress log lines.
    seed
        Seed of the back-off jitter.
    log
        Logger for progress, retries and the final summary.

    Returns
    -------
    list of ManifestEntry
        One per distinct file (rows repeating an earlier file are reported once), in row order.

    Raises
    ------
    ValueError
        Before anything is fetched: a bad argument, a non-integer or out-of-range identifier,
        a run2d that is not a run2d, or a destination outside ``data_root``.
    """
    scheme = urllib.parse.urlsplit(str(base_url)).scheme
    if scheme not in ("http", "https"):
        raise ValueError(f"base_url must be an http(s) URL, got {base_url!r}")
    if int(connections) < 1:
        raise ValueError(f"connections must be >= 1, got {connections}")
    if int(retries) < 0:
        raise ValueError(f"retries must be >= 0, got {retries}")
    if not timeout_s > 0 or backoff_s < 0 or max_backoff_s < 0:
        raise ValueError("timeout_s must be > 0, backoff_s and max_backoff_s >= 0")
    if not throughput_grace_s > 0 or not min_throughput_bytes_s >= 0:
        raise ValueError(
            f"throughput_grace_s must be > 0 and min_throughput_bytes_s >= 0, got "
            f"{throughput_grace_s} and {min_throughput_bytes_s}"
        )
    root = Path(data_root).resolve()
    all_items = _items(rows, str(base_url), root)
    items: list[_Item] = []
    seen: set[str] = set()
    for item in all_items:
        if item.relpath not in seen:
            seen.add(item.relpath)
            items.append(item)
    if len(items) < len(all_items):
        log.info("%d row(s) repeat an earlier file; each file is fetched once", len(all_items) - len(items))
    root.mkdir(parents=True, exist_ok=True)

    downloader = _Downloader(
        root=root,
        connections=int(connections),
        timeout_s=float(timeout_s),
        retries=int(retries),
        backoff_s=float(backoff_s),
        max_backoff_s=float(max_backoff_s),
        min_throughput_bytes_s=float(min_throughput_bytes_s),
        throughput_grace_s=float(throughput_grace_s),
        seed=int(seed),
        log=log,
    )
    results: list[ManifestEntry | None] = [None] * len(items)
    counts = dict.fromkeys(("ok", "cached", "missing", "failed"), 0)
    start = last_log = time.monotonic()

    def progress(final: bool = False) -> None:
        elapsed = max(time.monotonic() - start, 1e-9)
        done = sum(result is not None for result in results)
        megabytes = downloader.bytes_fetched / 1e6
        log.info(
            "%s%d/%d files (%d downloaded, %d cached, %d missing, %d failed) in %.1f s: %.1f files/s, "
            "%.2f MB fetched (%.2f MB/s), %d connection(s)",
            "download finished: " if final else "download: ",
            done,
            len(items),
            counts["ok"],
            counts["cached"],
            counts["missing"],
            counts["failed"],
            elapsed,
            done / elapsed,
            megabytes,
            megabytes / elapsed,
            downloader.connections,
        )

    log.info("downloading %d file(s) from %s into %s with %d connection(s)", len(items), base_url, root, connections)
    executor = concurrent.futures.ThreadPoolExecutor(max_workers=int(connections), thread_name_prefix="download")
    try:
        pending = {executor.submit(downloader.process, item): i for i, item in enumerate(items)}
        while pending:
            finished, _ = concurrent.futures.wait(
                pending, timeout=max(0.05, progress_interval_s), return_when=concurrent.futures.FIRST_COMPLETED
            )
            for future in finished:
                entry = future.result()
                results[pending.pop(future)] = entry
                key = "cached" if entry.cached else entry.status
                counts[key] += 1
                if entry.status == "failed":
                    log.warning("%s failed: %s", entry.path, entry.reason)
                elif entry.status == "missing":
                    log.info("%s is missing on the server (%s)", entry.path, entry.reason)
            now = time.monotonic()
            if now - last_log >= progress_interval_s and pending:
                progress()
                last_log = now
    except BaseException:
        downloader.stop.set()
        executor.shutdown(wait=True, cancel_futures=True)
        downloader.close()
        raise
    executor.shutdown(wait=True)
    downloader.close()
    progress(final=True)
    return [entry for entry in results if entry is not None]


_GAVE_UP = re.compile(r"^gave up after \d+ attempts?: ")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def failure_reasons(entries: Iterable[ManifestEntry]) -> list[tuple[str, int]]:
    """Distinct reasons of the ``failed`` entries, most frequent first, with their counts.

    ``gave up after N attempts:`` is left out, and reasons that differ only in their numbers
    ("too slow: 37 bytes in 2.0 s" and "… 41 bytes …") count as one, shown by the first met.
    """
    examples: dict[str, str] = {}
    counts: dict[str, int] = {}
    for entry in entries:
        if entry.status != "failed":
            continue
        reason = _GAVE_UP.sub("", entry.reason) or "unknown"
        key = _NUMBER.sub("#", reason) if not reason.startswith("HTTP ") else reason
        examples.setdefault(key, reason)
        counts[key] = counts.get(key, 0) + 1
    return sorted(((examples[key], count) for key, count in counts.items()), key=lambda pair: -pair[1])


def check_failures(
    entries: list[ManifestEntry],
    base_url: str,
    max_failed_fraction: float = 0.0,
    n_reasons: int = 3,
) -> None:
    """Raise :class:`DownloadFailed` when more than ``max_failed_fraction`` of the files failed.

    ``missing`` files (HTTP 404/410: the server does not have them) do not count; ``failed`` ones
    (network down, server errors or too slow beyond the retries, invalid bodies) do.

    Parameters
    ----------
    entries
        The shard's manifest (:func:`download_shard`).
    base_url
        The server, named in the message.
    max_failed_fraction
        Largest accepted fraction of failed files, 0…1 (0: every file must arrive or be missing).
    n_reasons
        How many distinct reasons (and failed spectrum ids) the message names.

    Raises
    ------
    DownloadFailed
        Its message names the server, the count ("12 of 12 files failed"), the most frequent
        reasons with their counts and the first failed spectra.
    """
    if not 0 <= max_failed_fraction <= 1:
        raise ValueError(f"max_failed_fraction must be within 0…1, got {max_failed_fraction}")
    failed = [entry for entry in entries if entry.status == "failed"]
    if not failed or len(failed) <= max_failed_fraction * len(entries):
        return
    reasons = failure_reasons(failed)
    shown = "; ".join(f"{reason} ({count} file{'s' * (count != 1)})" for reason, count in reasons[:n_reasons])
    if len(reasons) > n_reasons:
        shown += f"; {len(reasons) - n_reasons} other reason(s)"
    ids = ", ".join(entry.specid for entry in failed[:n_reasons])
    if len(failed) > n_reasons:
        ids += f" and {len(failed) - n_reasons} more"
    raise DownloadFailed(
        f"{len(failed)} of {len(entries)} files failed to download from {base_url} "
        f"(accepted failed fraction: {max_failed_fraction:g}): {shown}. Failed: {ids}"
    )


def summarize(entries: Iterable[ManifestEntry]) -> dict[str, int]:
    """Counts of ``ok`` (including cached), ``cached``, ``missing`` and ``failed`` entries."""
    counts = dict.fromkeys(("ok", "cached", "missing", "failed"), 0)
    for entry in entries:
        counts[entry.status] += 1
        counts["cached"] += bool(entry.cached)
    return counts


# ------------------------------------------------------------------------------------ manifest


def write_manifest(entries: Iterable[ManifestEntry], path: str | os.PathLike[str]) -> None:
    """Write the entries as an ECSV table (:func:`agn_saliency.core.files.write_table`), atomically."""
    rows = [{**asdict(entry), "cached": "true" if entry.cached else "false"} for entry in entries]
    write_table(path, rows, MANIFEST_COLUMNS, units={"bytes": "byte"}, description="one row per file of a download job")


def _column_names(path: str | os.PathLike[str]) -> list[str]:
    from astropy.table import Table

    return Table.read(path, format="ascii.ecsv").colnames


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Read a manifest written by :func:`write_manifest`.

    Raises
    ------
    ValueError
        A missing column or a malformed value (the message names the line).
    """
    try:
        records = read_table(path)
        names = list(records[0]) if records else _column_names(path)
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a download manifest ({error})") from error
    missing = [name for name in MANIFEST_COLUMNS if name not in names]
    if missing:
        raise ValueError(f"{path}: not a download manifest (missing column(s) {', '.join(missing)})")
    types = {field.name: field.type for field in fields(ManifestEntry)}
    entries: list[ManifestEntry] = []
    for line, record in enumerate(records, start=1):
        try:
            values: dict[str, Any] = {}
            for name in MANIFEST_COLUMNS:
                raw = record[name] if record[name] is not None else ""
                if types[name] in ("int", int):
                    values[name] = int(raw)
                elif types[name] in ("bool", bool):
                    if raw.lower() not in ("true", "false", "1", "0"):
                        raise ValueError(f"cached = {raw!r}")
                    values[name] = raw.lower() in ("true", "1")
                else:
                    values[name] = raw
            if values["status"] not in STATUSES:
                raise ValueError(f"status = {values['status']!r}")
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path}, row {line}: malformed manifest row ({error})") from error
        entries.append(ManifestEntry(**values))
    return entries
