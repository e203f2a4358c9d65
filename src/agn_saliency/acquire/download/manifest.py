"""What a download job reports: one :class:`ManifestEntry` per file, the manifest table they are
written to and read from, their counts and the verdict on a shard's failures (:func:`check_failures`)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from typing import Any

from agn_saliency.core.columns import TABLES
from agn_saliency.core.redact import redact, redact_values
from agn_saliency.io.tables import read_table, write_table

STATUSES = ("ok", "missing", "failed")
MANIFEST_COLUMNS = (
    "survey",
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


@dataclass
class ManifestEntry:
    """What happened to one file.

    ``path`` is relative to the data root (POSIX separators); ``status`` is ``ok``, ``missing``
    (HTTP 404/410) or ``failed`` (``reason`` says why); ``bytes`` and ``sha256`` describe the file
    on disk when ``ok``; ``attempts`` counts HTTP attempts (0 when ``cached``). ``survey`` is
    ``sdss`` (``specid`` plate-MJD-fiber), ``sdss5`` (field-MJD-catalogid; ``plate``/``fiberid``
    -1) or ``desi`` (``specid`` the file's name without ``.fits``: one file holds many targets;
    ``plate``/``mjd``/``fiberid`` -1).
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
    survey: str = "sdss"


class DownloadFailed(RuntimeError):
    """More files of a shard failed than accepted (see :func:`check_failures`)."""


def write_manifest(entries: Iterable[ManifestEntry], path: str | os.PathLike[str]) -> None:
    """Write the entries as an ECSV table (:func:`agn_saliency.io.tables.write_table`), atomically.

    Parameters
    ----------
    entries
        The manifest of a shard (:func:`~agn_saliency.acquire.download.shard.download_shard`).
    path
        Destination; columns :data:`MANIFEST_COLUMNS`.
    """
    # Every text column redacted: a URL's login (base_url's user:password@) is never written.
    rows = [redact_values({**asdict(entry), "cached": "true" if entry.cached else "false"}) for entry in entries]
    write_table(path, rows, MANIFEST_COLUMNS, schema=TABLES["manifest"])


def _column_names(path: str | os.PathLike[str]) -> list[str]:
    from astropy.table import Table

    return Table.read(path, format="ascii.ecsv").colnames


def read_manifest(path: str | os.PathLike[str]) -> list[ManifestEntry]:
    """Read a manifest written by :func:`write_manifest`.

    Parameters
    ----------
    path
        An ECSV manifest.

    Returns
    -------
    list of ManifestEntry
        One per row, in file order.

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
    missing = [name for name in MANIFEST_COLUMNS if name not in names and name != "survey"]
    if missing:
        raise ValueError(f"{path}: not a download manifest (missing column(s) {', '.join(missing)})")
    types = {field.name: field.type for field in fields(ManifestEntry)}
    entries: list[ManifestEntry] = []
    for line, record in enumerate(records, start=1):
        try:
            values: dict[str, Any] = {}
            for name in MANIFEST_COLUMNS:
                if name == "survey" and name not in record:  # written before surveys: SDSS
                    values[name] = "sdss"
                    continue
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


def summarize(entries: Iterable[ManifestEntry]) -> dict[str, int]:
    """Counts of ``ok`` (including cached), ``cached``, ``missing`` and ``failed`` entries.

    Parameters
    ----------
    entries
        A shard's manifest.

    Returns
    -------
    dict
        ``{"ok": …, "cached": …, "missing": …, "failed": …}``.
    """
    counts = dict.fromkeys(("ok", "cached", "missing", "failed"), 0)
    for entry in entries:
        counts[entry.status] += 1
        counts["cached"] += bool(entry.cached)
    return counts


_GAVE_UP = re.compile(r"^gave up after \d+ attempts?: ")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def failure_reasons(entries: Iterable[ManifestEntry]) -> list[tuple[str, int]]:
    """Distinct reasons of the ``failed`` entries, most frequent first, with their counts.

    ``gave up after N attempts:`` is left out, and reasons that differ only in their numbers
    ("too slow: 37 bytes in 2.0 s" and "… 41 bytes …") count as one, shown by the first met.

    Parameters
    ----------
    entries
        A shard's manifest (entries of other statuses are ignored).

    Returns
    -------
    list of (str, int)
        Each reason with the number of files that failed for it.
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
        The shard's manifest (:func:`~agn_saliency.acquire.download.shard.download_shard`).
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
        f"{len(failed)} of {len(entries)} files failed to download from {redact(base_url)} "
        f"(accepted failed fraction: {max_failed_fraction:g}): {shown}. Failed: {ids}"
    )
