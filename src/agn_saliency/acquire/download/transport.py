"""requests/urllib3 plumbing: connections that report to the watchdog of the calling thread's attempt
just before they wait for a response, their pools, and the adapter that uses them (also through
an HTTP(S) proxy).

Importing this module adds a filter to the ``urllib3.connection`` logger (:class:`_QuietAfterDeadline`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import requests
import requests.adapters
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

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
