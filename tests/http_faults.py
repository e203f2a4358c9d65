"""A real, threaded HTTP/1.1 file server on 127.0.0.1 with per-path injectable faults.

Used by ``tests/test_download.py`` and ``benchmarks/download.py`` to exercise the downloader
against real sockets (no mocks). It serves a folder laid out like the SAS (URL path = file path
below the folder), keeps connections alive like a real server, and counts the GET requests of
every path.

Faults (see :meth:`FaultServer.add_fault`), each for the first ``times`` requests of a path
(``times=None``: every request):

``status``     answer with an HTTP error (``code``, default 500), with a ``Retry-After: <retry_after>``
               header when ``retry_after`` is given
``reset``      send part of the status line and headers, then abort the TCP connection (RST)
``truncate``   announce the full Content-Length, send only ``fraction`` of the body, close
``slow``       send the headers and ``fraction`` of the body, then stall ``delay_s`` seconds
``throttle``   send the whole body at ``rate_bps`` bytes per second
``trickle``    send the headers, then the body one byte every ``interval_s`` seconds (never a
               gap long enough for a socket timeout)
``trickle_headers``  send the status line and headers one byte every ``interval_s`` seconds
``garbage``    answer 200 with an HTML page ("Please log in") instead of the file, labelled
               ``content_type`` (default ``text/html``; a lying server says ``application/fits``)

Example::

    with serve_folder(root) as server:
        server.add_fault("dr17/.../spec-0332-52367-0639.fits", "status", times=2, code=503)
        download_shard(rows, server.url, data_root)
        assert server.hits["/dr17/.../spec-0332-52367-0639.fits"] == 3
"""

from __future__ import annotations

import collections
import contextlib
import http.server
import socket
import struct
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

FAULT_KINDS = ("status", "reset", "truncate", "slow", "throttle", "trickle", "trickle_headers", "garbage")


@dataclass
class Fault:
    kind: str
    times: int | None = 1  # apply to the first `times` requests of the path; None = always
    code: int = 500
    fraction: float = 0.5
    delay_s: float = 2.0
    rate_bps: float = 1e6
    interval_s: float = 0.05
    retry_after: str | None = None
    content_type: str = "text/html"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do
    server: FaultServer

    def log_message(self, format: str, *args: object) -> None:  # keep test output quiet
        pass

    def _send_headers(
        self, code: int, length: int, content_type: str = "application/fits", extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        for name, value in (extra or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def _abort(self) -> None:
        """Close the connection with a TCP reset (SO_LINGER 0)."""
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        for stream in (self.rfile, self.wfile):
            with contextlib.suppress(OSError, ValueError):
                stream.close()
        with contextlib.suppress(OSError):
            self.connection.close()
        self.close_connection = True

    def _write(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            return True
        except OSError:  # the client gave up (timeout) or reset
            self.close_connection = True
            return False

    def _trickle(self, data: bytes, interval_s: float) -> bool:
        """Send ``data`` one byte every ``interval_s`` s; stops when the client or the server quits."""
        for i in range(len(data)):  # bounded by the length of data
            if not self._write(data[i : i + 1]) or self.server.stopping.wait(interval_s):
                self.close_connection = True
                return False
        return True

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        server = self.server
        path = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        fault = server._next_fault(path)
        if authorization := self.headers.get("Authorization"):
            server.authorizations.add(authorization)
        if server.latency_s > 0:
            time.sleep(server.latency_s)
        relative = path.lstrip("/")
        file = (server.root / relative).resolve()
        if not file.is_relative_to(server.root) or not file.is_file():
            body = b"<html><body>404 Not Found</body></html>"
            if fault is not None and fault.kind == "status":
                body = f"<html><body>error {fault.code}</body></html>".encode()
                self._send_headers(fault.code, len(body), "text/html")
            else:
                self._send_headers(404, len(body), "text/html")
            self._write(body)
            return
        data = file.read_bytes()
        if fault is None:
            self._send_headers(200, len(data))
            self._write(data)
            return
        if fault.kind == "status":
            body = f"<html><body>error {fault.code}</body></html>".encode()
            extra = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
            self._send_headers(fault.code, len(body), "text/html", extra)
            self._write(body)
        elif fault.kind == "reset":
            self._write(f"HTTP/1.1 200 OK\r\nContent-Length: {len(data)}\r\nContent-Ty".encode())
            self._abort()
        elif fault.kind == "truncate":
            self._send_headers(200, len(data))
            self._write(data[: int(len(data) * fault.fraction)])
            self.close_connection = True
        elif fault.kind == "slow":
            self._send_headers(200, len(data))
            cut = int(len(data) * fault.fraction)
            if self._write(data[:cut]) and not server.stopping.wait(fault.delay_s):
                self._write(data[cut:])
            self.close_connection = True
        elif fault.kind == "throttle":
            self._send_headers(200, len(data))
            piece = max(1, int(fault.rate_bps / 20))
            for start in range(0, len(data), piece):
                if not self._write(data[start : start + piece]) or server.stopping.wait(piece / fault.rate_bps):
                    self.close_connection = True
                    return
        elif fault.kind == "trickle":
            self._send_headers(200, len(data))
            self._trickle(data, fault.interval_s)
            self.close_connection = True
        elif fault.kind == "trickle_headers":
            head = f"HTTP/1.1 200 OK\r\nContent-Type: application/fits\r\nContent-Length: {len(data)}\r\n\r\n"
            if self._trickle(head.encode(), fault.interval_s):
                self._write(data)
            self.close_connection = True
        elif fault.kind == "garbage":
            body = b"<!DOCTYPE html>\n<html><head><title>Please log in</title></head><body>"
            body += b"<p>This page requires a login.</p>" * 10 + b"</body></html>"
            self._send_headers(200, len(body), fault.content_type)
            self._write(body)


class FaultServer(http.server.ThreadingHTTPServer):
    """The server; use :func:`serve_folder` to run it in a background thread."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, root: str | Path, latency_s: float = 0.0, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.root = Path(root).resolve()
        self.latency_s = float(latency_s)
        self.stopping = threading.Event()
        self.hits: collections.Counter[str] = collections.Counter()
        self.connections_accepted = 0  # TCP connections (keep-alive clients reuse theirs)
        self.authorizations: set[str] = set()  # Authorization headers received (a login in the URL)
        self._faults: dict[str, Fault] = {}
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:40123`` (file ``root/a/b`` is at ``url + '/a/b'``)."""
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def add_fault(self, relpath: str, kind: str, times: int | None = 1, **options: float | str) -> None:
        """Inject ``kind`` for the first ``times`` requests of ``relpath`` (relative to the root)."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; expected one of {FAULT_KINDS}")
        with self._lock:
            self._faults["/" + relpath.lstrip("/")] = Fault(kind=kind, times=times, **options)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    def hits_for(self, relpath: str) -> int:
        """GET requests received for ``relpath`` so far."""
        with self._lock:
            return self.hits["/" + relpath.lstrip("/")]

    def total_hits(self) -> int:
        with self._lock:
            return sum(self.hits.values())

    def reset_hits(self) -> None:
        with self._lock:
            self.hits.clear()

    def _next_fault(self, path: str) -> Fault | None:
        with self._lock:
            self.hits[path] += 1
            fault = self._faults.get(path)
            if fault is None:
                return None
            if fault.times is not None:
                if fault.times <= 0:
                    return None
                fault.times -= 1
            return fault

    def process_request(self, request, client_address):  # type: ignore[no-untyped-def]
        with self._lock:
            self.connections_accepted += 1
        super().process_request(request, client_address)

    def handle_error(self, request: object, client_address: object) -> None:  # quiet on client aborts
        pass


@contextlib.contextmanager
def serve_folder(root: str | Path, latency_s: float = 0.0, port: int = 0) -> Iterator[FaultServer]:
    """Serve ``root`` on 127.0.0.1 in a background thread for the ``with`` block.

    ``latency_s`` delays every response (time to first byte), as a distant server would; ``port``
    0 takes a free port.
    """
    server = FaultServer(root, latency_s=latency_s, port=port)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
