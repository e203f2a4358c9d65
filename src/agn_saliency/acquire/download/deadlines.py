"""Deadlines of the attempts: each attempt's clock (:class:`_Transfer`) and the watchdog thread that
shuts down the socket of an attempt too slow to finish (the "Bounded" guarantee of
:mod:`agn_saliency.acquire.download`)."""

from __future__ import annotations

import contextlib
import math
import socket
import threading
import time

from urllib3.connection import HTTPConnection

from agn_saliency.acquire.download.errors import _Retryable


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
    """Abandons attempts that miss their deadline (see the "Bounded" guarantee of :mod:`agn_saliency.acquire.download`).

    One thread serves every attempt of a downloader: it sleeps until the earliest deadline, and
    shuts the socket of an attempt past it down, which wakes a read blocked inside
    :mod:`http.client` (headers or body) with an end of file; the attempt then fails with the
    reason in :attr:`_Transfer.expired`. The reading thread applies the same rule after every
    piece it receives, so the outcome does not depend on when this thread wakes. Connections
    report themselves (:meth:`attach`) just before they wait for a response, see
    :class:`~agn_saliency.acquire.download.transport._WatchedConnection`.
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
