"""A shard's download (:func:`download_shard`): rows checked and turned into files to fetch, a pool
of threads running :class:`~agn_saliency.acquire.download.downloader._Downloader` on them, and the
progress log."""

from __future__ import annotations

import concurrent.futures
import logging
import os
import re
import time
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from agn_saliency.acquire.catalog import ID_RANGES, RUN2D_PATTERN
from agn_saliency.acquire.download.downloader import _Downloader, _Item
from agn_saliency.acquire.download.files import verify_desi_file, verify_sdss5_file, verify_spectrum_file
from agn_saliency.acquire.download.manifest import ManifestEntry
from agn_saliency.core.redact import redact
from agn_saliency.spectra import sdss, sdss5

LOG = logging.getLogger("agn_saliency.acquire.download")  # the package's name, as before it was split
"""The default logger of :func:`download_shard`."""
DEFAULT_BASE_URL = "https://data.sdss.org/sas"
"""The SDSS Science Archive Server; spec-lite paths below it start with ``dr17/``."""


DEFAULT_DESI_BASE_URL = "https://data.desi.lbl.gov/public/dr1/spectro/redux/iron"
"""DESI DR1's spectroscopic production ("iron"); healpix files lie below it in ``healpix/``."""
DESI_HEALPIX_PATH = "healpix/{survey}/{program}/{group}/{healpix}/{kind}-{survey}-{program}-{healpix}.fits"
"""A DESI healpix coadd or redrock file below a production (DESI data model,
``DESI_SPECTRO_REDUX/SPECPROD/healpix/SURVEY/PROGRAM/PIXGROUP/PIXNUM``; PIXGROUP = healpix // 100)."""
DESI_KINDS = ("coadd", "redrock")
DESI_NAME_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,15}$")
"""A DESI survey (main, sv1, sv3, cmx, special) or program (dark, bright, backup, other) name."""
DESI_MAX_HEALPIX = 12 * 64**2 - 1
"""Largest healpix number at DESI's nside 64."""
_URL_SEGMENT = re.compile(r"^[A-Za-z0-9._-]+$")


def _row_value(row: Any, name: str, default: Any = None) -> Any:
    try:
        return row[name]
    except (KeyError, ValueError, IndexError, TypeError):
        return default


def _integer(row: Any, number: int, name: str, low: int, high: int) -> int:
    value = _row_value(row, name)
    try:
        integer = int(value)
        if integer != value and str(value).strip() != str(integer):
            raise ValueError
    except (TypeError, ValueError):
        raise ValueError(f"row {number}: {name} = {value!r} is not an integer") from None
    if not low <= integer <= high:
        raise ValueError(f"row {number}: {name} = {integer} is out of range ({low}…{high})")
    return integer


def _run2d(row: Any, number: int) -> str:
    run2d = _row_value(row, "run2d", "")
    run2d = "" if run2d is None else str(run2d).strip()
    if run2d and not RUN2D_PATTERN.fullmatch(run2d):
        raise ValueError(f"row {number}: run2d = {run2d!r} is not a run2d (digits or v<major>_<minor>_<patch>)")
    return run2d


def desi_relpath(desi_survey: str, program: str, healpix: int, kind: str) -> str:
    """Path of a DESI healpix ``coadd`` or ``redrock`` file below its production.

    >>> desi_relpath("main", "dark", 10016, "coadd")
    'healpix/main/dark/100/10016/coadd-main-dark-10016.fits'
    """
    if kind not in DESI_KINDS:
        raise ValueError(f"kind must be one of {', '.join(DESI_KINDS)}, got {kind!r}")
    healpix = int(healpix)
    return DESI_HEALPIX_PATH.format(survey=desi_survey, program=program, group=healpix // 100, healpix=healpix, kind=kind)


def desi_local_prefix(desi_base_url: str) -> str:
    """Where DESI files go below the data root: ``desi/`` + the production's URL path.

    >>> desi_local_prefix("https://data.desi.lbl.gov/public/dr1/spectro/redux/iron")
    'desi/public/dr1/spectro/redux/iron'
    """
    segments = [segment for segment in urllib.parse.urlsplit(str(desi_base_url)).path.split("/") if segment]
    for segment in segments:
        if segment in (".", "..") or not _URL_SEGMENT.fullmatch(segment):
            raise ValueError(f"data.desi.base_url path segment {segment!r} cannot name a local folder")
    return "/".join(["desi", *segments])


def _destination(root: Path, relpath: str, number: int) -> Path:
    dest = root / relpath
    resolved = dest.resolve()
    if not resolved.is_relative_to(root) or resolved == root:
        raise ValueError(f"row {number}: destination {resolved} is outside the data root {root}")
    return dest


def _row_items(row: Any, number: int, base_url: str, desi_base_url: str | None, root: Path) -> list[_Item]:
    """The file(s) one catalog row needs: its spec-lite file (SDSS, SDSS-V), or the healpix coadd
    and redrock files that hold its target (DESI)."""
    survey = str(_row_value(row, "survey", "") or "sdss").strip()
    if survey == "sdss":
        ids = [_integer(row, number, name, *ID_RANGES[name]) for name in ("plate", "mjd", "fiberid")]
        relpath = sdss.spec_lite_relpath(*ids, _run2d(row, number) or None)

        def verify(source: Any, ids: list[int] = ids) -> str | None:
            return verify_spectrum_file(source, *ids)

        manifest_ids = {"survey": "sdss", "plate": ids[0], "mjd": ids[1], "fiberid": ids[2]}
        url = f"{base_url.rstrip('/')}/{relpath}"
        return [_Item(sdss.specid(*ids), manifest_ids, relpath, url, _destination(root, relpath, number), verify)]
    if survey == "sdss5":
        ids = [_integer(row, number, name, *sdss5.ID_RANGES[name]) for name in ("field", "mjd", "catalogid")]
        relpath = sdss5.spec_lite_relpath(*ids, _run2d(row, number) or None)

        def verify5(source: Any, ids: list[int] = ids) -> str | None:
            return verify_sdss5_file(source, *ids)

        manifest_ids = {"survey": "sdss5", "plate": -1, "mjd": ids[1], "fiberid": -1}
        url = f"{base_url.rstrip('/')}/{relpath}"
        return [_Item(sdss5.specid(*ids), manifest_ids, relpath, url, _destination(root, relpath, number), verify5)]
    if survey == "desi":
        if not desi_base_url:
            raise ValueError(f"row {number}: a DESI row needs data.desi.base_url")
        names = {}
        for name in ("desi_survey", "program"):
            value = str(_row_value(row, name, "") or "").strip()
            if not DESI_NAME_PATTERN.fullmatch(value):
                raise ValueError(
                    f"row {number}: {name} = {value!r} is not a DESI {name.removeprefix('desi_')} name "
                    "(a download needs desi_survey, program and healpix)"
                )
            names[name] = value
        healpix = _integer(row, number, "healpix", 0, DESI_MAX_HEALPIX)
        prefix = desi_local_prefix(desi_base_url)
        items = []
        for kind in DESI_KINDS:
            remote = desi_relpath(names["desi_survey"], names["program"], healpix, kind)
            relpath = f"{prefix}/{remote}"

            def verify_desi(source: Any, kind: str = kind) -> str | None:
                return verify_desi_file(source, kind)

            manifest_ids = {"survey": "desi", "plate": -1, "mjd": -1, "fiberid": -1}
            url = f"{desi_base_url.rstrip('/')}/{remote}"
            stem = Path(remote).name.removesuffix(".fits")
            items.append(_Item(stem, manifest_ids, relpath, url, _destination(root, relpath, number), verify_desi))
        return items
    raise ValueError(f"row {number}: survey = {survey!r} is not one of sdss, sdss5, desi")


def row_files(
    rows: Iterable[Any], base_url: str, data_root: str | os.PathLike[str], desi_base_url: str | None = None
) -> list[list[str]]:
    """The files (paths relative to ``data_root``) each row needs, in row order: one spec-lite
    file for an SDSS or SDSS-V row, the coadd then the redrock file for a DESI row.

    Raises
    ------
    ValueError
        As :func:`download_shard`, naming the row.
    """
    root = Path(data_root).resolve()
    return [
        [item.relpath for item in _row_items(row, number, str(base_url), desi_base_url, root)]
        for number, row in enumerate(rows, start=1)
    ]


def _items(rows: Iterable[Any], base_url: str, root: Path, desi_base_url: str | None = None) -> list[_Item]:
    items: list[_Item] = []
    for number, row in enumerate(rows, start=1):
        items.extend(_row_items(row, number, base_url, desi_base_url, root))
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
    desi_base_url: str | None = None,
) -> list[ManifestEntry]:
    """Download the file(s) of every row into ``data_root``, mirroring the servers' layouts.

    Parameters
    ----------
    rows
        Records, each of a ``survey`` (absent or empty: ``sdss``) — a catalog array from
        :func:`agn_saliency.acquire.catalog.read_catalog` or a list of mappings:

        * ``sdss``: ``plate``, ``mjd``, ``fiberid`` and optionally ``run2d`` (empty/absent: the
          plate's default, :func:`agn_saliency.spectra.sdss.default_run2d`); the DR17 spec-lite file.
        * ``sdss5``: ``field``, ``mjd``, ``catalogid`` and optionally ``run2d`` (empty: DR19's
          ``v6_1_3``); the spec-lite file at :func:`agn_saliency.spectra.sdss5.spec_lite_relpath`.
        * ``desi``: ``desi_survey``, ``program``, ``healpix``; the healpix coadd and redrock
          files (:func:`desi_relpath`) from ``desi_base_url``, stored below
          :func:`desi_local_prefix`. Which targets of them a row wants is the caller's to select.
    base_url
        SAS root, e.g. :data:`DEFAULT_BASE_URL`; an SDSS file's URL is
        ``base_url.rstrip('/') + '/' + spec_lite_relpath(plate, mjd, fiberid, run2d)`` (SDSS-V alike).
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
    desi_base_url
        A DESI spectroscopic production's root (e.g. :data:`DEFAULT_DESI_BASE_URL`); needed only
        when a row is ``desi``.

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
    if desi_base_url is not None and urllib.parse.urlsplit(str(desi_base_url)).scheme not in ("http", "https"):
        raise ValueError(f"desi_base_url must be an http(s) URL, got {redact(str(desi_base_url))!r}")
    root = Path(data_root).resolve()
    all_items = _items(rows, str(base_url), root, desi_base_url)
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
