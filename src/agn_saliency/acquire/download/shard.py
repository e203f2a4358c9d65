"""A shard's download (:func:`download_shard`): rows checked and turned into files to fetch, a pool
of threads running :class:`~agn_saliency.acquire.download.downloader._Downloader` on them, and the
progress log."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agn_saliency.acquire.catalog import ID_RANGES, RUN2D_PATTERN
from agn_saliency.acquire.download.downloader import _Downloader, _Item
from agn_saliency.acquire.download.manifest import ManifestEntry
from agn_saliency.core.redact import redact
from agn_saliency.spectra import sdss

LOG = logging.getLogger("agn_saliency.acquire.download")  # the package's name, as before it was split
"""The default logger of :func:`download_shard`."""
DEFAULT_BASE_URL = "https://data.sdss.org/sas"
"""The SDSS Science Archive Server; spec-lite paths below it start with ``dr17/``."""


def _row_value(row: Any, name: str, default: Any = None) -> Any:
    try:
        return row[name]
    except (KeyError, ValueError, IndexError, TypeError):
        return default


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
        raise ValueError(f"base_url must be an http(s) URL, got {redact(str(base_url))!r}")
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

    log.info("downloading %d file(s) from %s into %s with %d connection(s)", len(items), redact(str(base_url)), root, connections)
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
