"""One file at a time: :class:`_Downloader` fetches a file with retries, back-off and deadlines,
streams it to a temporary file, verifies it and renames it into place; urllib3's retries count and
wait through :class:`_Retry` on the same budget."""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import logging
import os
import random
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
import urllib3
from urllib3.util.retry import Retry

from agn_saliency import __version__
from agn_saliency.acquire.download.deadlines import _Transfer, _Watchdog
from agn_saliency.acquire.download.errors import _Cancelled, _describe, _Final, _html_page, _http_reason, _Retryable
from agn_saliency.acquire.download.files import _temp_path, remove_stale_temporaries
from agn_saliency.acquire.download.manifest import ManifestEntry
from agn_saliency.acquire.download.transport import _Adapter, _attempt_of_thread

USER_AGENT = f"agn-saliency/{__version__} ({requests.utils.default_user_agent()})"
CHUNK_BYTES = 256 * 1024
MAX_REDIRECTS = 5
MISSING_STATUSES = frozenset({404, 410})
RETRY_STATUSES = frozenset({408, 425, 429})  # plus every 5xx
DRAIN_LIMIT_BYTES = 64 * 1024  # error bodies up to this size are read so the connection can be reused
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "[::1]")
_NO_PROXY = {"http": None, "https": None, "all": None}  # requests drops None entries: no proxy at all


class _Retry(Retry):
    """urllib3's :class:`~urllib3.util.retry.Retry`, counting and waiting like :class:`_Downloader`.

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


@dataclass
class _Item:
    """One file to fetch: its manifest identity, where it comes from and goes, how it is checked.

    ``ids`` are the manifest's identifier columns (``survey``, ``plate``, ``mjd``, ``fiberid``);
    ``verify`` says why a file (path or bytes) is not the expected one, ``None`` when it is.
    """

    specid: str
    ids: dict[str, Any]
    relpath: str
    url: str
    dest: Path
    verify: Callable[[Any], str | None]

    def entry(self, reason: str = "") -> ManifestEntry:
        """A ``failed`` manifest entry for this file (the caller updates it as the download goes)."""
        return ManifestEntry(self.specid, **self.ids, url=self.url, path=self.relpath, status="failed", reason=reason)


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
            problem = item.verify(tmp)
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
                problem = item.verify(data)
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
