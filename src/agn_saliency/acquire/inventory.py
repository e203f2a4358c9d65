"""Inventories: what the acquisition stage hands to the reduction, whatever the source.

One ECSV table per shard with :data:`INVENTORY_COLUMNS`. ``status`` is ``ok`` for a file to reduce, or
``missing`` / ``failed`` / ``unreadable`` (with ``reason``) for a catalog row or a file without a
usable spectrum — the reduction lists those in rejected.ecsv. ``path`` is the file's path as text
(:func:`agn_saliency.core.names.escape_name`: any file name survives the table).

Folders are searched by :func:`folder_scan`, which accounts for every FITS name it meets: a file
it cannot read or that is not a regular file (a dangling symbolic link, a FIFO) still gets an
inventory row, rejected with the reason; a sub-folder it cannot list, a symbolic-link loop and a
hidden FITS file are listed as skipped with the reason. Symbolic links to folders are followed
(data is often linked in), each folder searched once (by device and inode), so a loop ends.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.core.names import escape_name
from agn_saliency.spectra.sdss import SpectrumReadError, read_spectrum, specid

INVENTORY_COLUMNS = ("row", "specid", "plate", "mjd", "fiberid", "z", "label", "path", "status", "reason")

# SDSS names, plain or compressed as astropy reads them (agn_saliency.io.fits decompresses both).
_SPEC_NAME = re.compile(r"^spec-(\d{4,5})-(\d{5})-(\d{4})\.fits(?:\.gz|\.bz2)?$")
_SPSPEC_NAME = re.compile(r"^spSpec-(\d{5})-(\d{4})-(\d{3})\.fit(?:\.gz|\.bz2)?$")
FITS_SUFFIXES = tuple(base + compression for compression in ("", ".gz", ".bz2") for base in (".fits", ".fit", ".fts"))


def fits_suffix(name: str) -> str:
    """The FITS suffix ``name`` ends with (one of :data:`FITS_SUFFIXES`, any case), or ``""``."""
    lower = name.lower()
    return next((suffix for suffix in sorted(FITS_SUFFIXES, key=len, reverse=True) if lower.endswith(suffix)), "")


def fits_stem(name: str) -> str:
    """``name`` without its FITS suffix (``spec-0332-52367-0639.fits.gz`` → ``spec-0332-52367-0639``)."""
    suffix = fits_suffix(name)
    return name[: len(name) - len(suffix)] if suffix else Path(name).stem


def shard_bounds(n_rows: int, shard: int, n_shards: int) -> tuple[int, int]:
    """[start, stop) of a contiguous shard: the rows are cut into ``n_shards`` near-equal blocks."""
    if n_shards < 1 or not 0 <= shard < n_shards:
        raise ValueError(f"shard must be in 0…{n_shards - 1} (n_shards ≥ 1), got {shard} of {n_shards}")
    return n_rows * shard // n_shards, n_rows * (shard + 1) // n_shards


def ids_from_filename(name: str) -> tuple[int, int, int] | None:
    """(plate, mjd, fiberid) from an SDSS file name, or None for any other name."""
    if match := _SPEC_NAME.match(name):
        return int(match[1]), int(match[2]), int(match[3])
    if match := _SPSPEC_NAME.match(name):
        return int(match[2]), int(match[1]), int(match[3])
    return None


def ids_of_file(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """(plate, mjd, fiberid) from an SDSS file name, else from the file itself; None if unreadable."""
    ids = ids_from_filename(Path(path).name)
    if ids is None:
        try:
            spectrum = read_spectrum(path)
        except SpectrumReadError:
            return None  # the reduction reports why
        ids = (spectrum.plate, spectrum.mjd, spectrum.fiberid)
    return ids


def _z_text(z: Any) -> str:
    try:
        value = float(z)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(value) else repr(value)


def catalog_record(record: Any, path: str, status: str = "ok", reason: str = "") -> dict[str, Any]:
    """An inventory row for one catalog record (fields row, plate, mjd, fiberid, label, z)."""
    plate, mjd, fiberid = int(record["plate"]), int(record["mjd"]), int(record["fiberid"])
    return {
        "row": int(record["row"]),
        "specid": specid(plate, mjd, fiberid),
        "plate": plate,
        "mjd": mjd,
        "fiberid": fiberid,
        "z": _z_text(record["z"]),
        "label": str(record["label"]),
        "path": escape_name(str(path)),
        "status": status,
        "reason": reason,
    }


_HIDDEN = "hidden file"


@dataclass
class FolderScan:
    """What :func:`folder_scan` found below a folder.

    Attributes
    ----------
    files
        Every FITS name (sorted by path): regular files, and also dangling symbolic links, files it
        cannot read and other non-folders, which the reduction rejects with their reason.
    skipped
        (path, reason) of what was not searched or not taken: sub-folders it cannot list,
        symbolic-link loops (a folder already searched), hidden FITS files.
    """

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def folder_scan(folder: str | os.PathLike[str]) -> FolderScan:
    """Search ``folder`` recursively for FITS names (:data:`FITS_SUFFIXES`, any case), accounting for
    everything on the way (:class:`FolderScan`).

    Symbolic links to folders are followed; a folder reached twice (the same device and inode: a
    link loop, or two links to one folder) is searched once and the repeat listed as skipped.
    """
    root = Path(folder)
    scan = FolderScan()
    searched: dict[tuple[int, int], Path] = {}
    pending = [root]
    while pending:
        current = pending.pop()
        try:
            status = current.stat()
            identity = (status.st_dev, status.st_ino)
            if identity in searched:
                scan.skipped.append((str(current), f"symbolic link to a folder already searched ({searched[identity]})"))
                continue
            searched[identity] = current
            with os.scandir(current) as listing:
                entries = list(listing)
        except OSError as error:
            scan.skipped.append((str(current), f"folder not searched: {error.strerror or error}"))
            continue
        for entry in entries:
            try:
                is_folder = entry.is_dir()  # follows a symbolic link
            except OSError:
                is_folder = False
            if is_folder:
                pending.append(Path(entry.path))
            elif fits_suffix(entry.name):
                if entry.name.startswith("."):
                    scan.skipped.append((entry.path, f"{_HIDDEN} (temporary downloads are hidden)"))
                else:
                    scan.files.append(Path(entry.path))
    scan.files.sort()
    scan.skipped.sort()
    return scan


def fits_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Every FITS name below ``folder`` (recursively, sorted by path; :func:`folder_scan`)."""
    return folder_scan(folder).files


def unusable_reason(path: str | os.PathLike[str]) -> str:
    """Why ``path`` cannot be read as a file ("" when it is a readable regular file), without opening
    it (a FIFO would block an open): a dangling symbolic link, not a regular file, no read permission."""
    try:
        status = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            return f"dangling symbolic link (to {escape_name(os.readlink(path))})"
        return "no longer exists"
    except OSError as error:
        return f"cannot be examined ({error.strerror or error})"
    if not stat.S_ISREG(status.st_mode):
        return "not a regular file"
    if not os.access(path, os.R_OK):
        return "no read permission"
    return ""


def _content_digest(path: Path) -> str:
    """SHA-256 of a file's bytes, or why it has none (never opens a FIFO or a device)."""
    problem = unusable_reason(path)
    if problem:
        return f"unusable: {problem}"
    try:
        with open(path, "rb") as handle:
            return hashlib.file_digest(handle, "sha256").hexdigest()
    except OSError as error:
        return f"unreadable: {error.strerror or error}"


def path_shard(relative: str, n_shards: int) -> int:
    """The shard (0 … ``n_shards`` − 1) of a file by its path relative to the folder (``/``-separated):
    the first 8 bytes of the path's SHA-256, modulo ``n_shards``. A file keeps its shard while its
    path does, whatever else the folder holds, so adding a file changes one shard only.

    >>> path_shard("spec-0266-51602-0001.fits", 1), 0 <= path_shard("a/b.fits", 7) < 7
    (0, True)
    """
    if n_shards < 1:
        raise ValueError(f"n_shards must be >= 1, got {n_shards}")
    digest = hashlib.sha256(relative.encode("utf-8", "surrogateescape")).digest()
    return int.from_bytes(digest[:8], "big") % n_shards


def folder_fingerprint(
    folder: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None, shard: tuple[int, int] | None = None
) -> str:
    """A hash of what :func:`folder_scan` finds below ``folder``: each FITS file's relative path,
    size and content (SHA-256), and the folders it skipped (not the hidden files).

    Changes when a FITS file is added, removed or renamed anywhere below ``folder``, when its bytes
    change — also in place with the same size and modification time (``cp -p``, tar and rsync
    restores) — and when a sub-folder becomes readable or unreadable; a folder's own modification
    time shows none of these for sub-folders. The same for the same contents wherever the folder
    is, and a mere ``touch`` or ``chmod`` changes nothing. Used as a Snakemake ``params:`` value so
    that a changed folder reruns what reads it.

    Parameters
    ----------
    cache
        A JSON file of each file's digest with its size, mtime, ctime and inode, read and
        (atomically) rewritten when it changes: a file whose four values are unchanged is not read
        again (an in-place rewrite always changes the ctime, which no tool can set). Without it,
        every file is read. ``benchmarks/fingerprint.py`` measures both against the
        size-and-mtime hash this replaced.
    shard
        (shard, n_shards): only the files of that shard (:func:`path_shard`) enter the hash, and not
        the skipped folders (the cache still records every file).

    Returns
    -------
    str
        ``sha256:`` followed by the hex digest.
    """
    import json

    from agn_saliency.core.files import write_text_atomic

    root = Path(folder)
    scan = folder_scan(root)
    known: dict[str, list[Any]] = {}
    if cache is not None:
        try:
            known = json.loads(Path(cache).read_text(encoding="utf-8"))["files"]
        except (OSError, ValueError, KeyError, TypeError):
            known = {}  # no cache yet, or an unreadable one: read every file
    entries: dict[str, list[Any]] = {}
    digest = hashlib.sha256()
    for path in scan.files:
        relative = path.relative_to(root).as_posix()
        try:
            status = path.stat()
        except OSError:
            status = path.lstat()  # a dangling link: its own values
        stamp = [status.st_size, status.st_mtime_ns, status.st_ctime_ns, status.st_ino]
        previous = known.get(relative)
        content = previous[4] if isinstance(previous, list) and previous[:4] == stamp else _content_digest(path)
        entries[relative] = [*stamp, content]
        if shard is not None and path_shard(relative, shard[1]) != shard[0]:
            continue
        digest.update(f"{relative}\t{status.st_size}\t{content}\n".encode("utf-8", "surrogateescape"))
    for path, reason in [] if shard is not None else scan.skipped:
        if reason.startswith(_HIDDEN):
            continue  # temporary downloads come and go: listed, but no reason to rerun
        relative = os.path.relpath(path, root)
        digest.update(f"skipped\t{relative}\t{reason}\n".encode("utf-8", "surrogateescape"))
    if cache is not None and entries != known:
        write_text_atomic(cache, json.dumps({"folder": str(root), "files": entries}) + "\n")
    return f"sha256:{digest.hexdigest()}"


def checked_folder(folder: str | os.PathLike[str], key: str) -> Path:
    """``folder`` made absolute (relative to the working directory, symlinks resolved), after checking
    it is a folder of FITS files.

    Parameters
    ----------
    folder
        The configured value.
    key
        The configuration key it came from, named in every error (``predict_dir``, ``data.local_dir``).

    Raises
    ------
    ValueError
        ``folder`` is empty, missing, not a folder, the file-system root, or holds no FITS file
        (:func:`fits_files`).
    """
    text = str(folder).strip()
    if not text:
        raise ValueError(f"{key} is not set: give a folder of SDSS FITS files")
    path = Path(text).expanduser().resolve()
    shown = f"{key}={text!r}" + (f" ({path})" if str(path) != text else "")
    if not path.exists():
        raise ValueError(f"{shown} does not exist")
    if not path.is_dir():
        raise ValueError(f"{shown} is a file, not a folder of FITS files")
    if path.parent == path:
        raise ValueError(f"{shown} is the file-system root: give the folder that holds the FITS files")
    if not folder_scan(path).files:
        raise ValueError(f"{shown} holds no FITS files ({', '.join('*' + s for s in FITS_SUFFIXES)}, searched recursively)")
    return path


_LABEL_CHARACTERS = "A-Za-z0-9._+-"  # what a folder_label keeps of the base name (the rest becomes _)
FOLDER_LABEL_PATTERN = rf"[{_LABEL_CHARACTERS}]+"
"""Regular expression every :func:`folder_label` matches (the workflow's ``results/predict/<name>``)."""


def folder_label(folder: str | os.PathLike[str]) -> str:
    """The name of a folder's results: its own base name as given (``/data/sdss_real`` →
    ``sdss_real``; a symlink's name, not its target's), characters other than letters, digits and
    ``._+-`` written ``_``. Two folders of one name share it: the workflow refuses the second
    (:func:`label_taken_by`)."""
    path = Path(os.path.abspath(Path(folder).expanduser()))
    return re.sub(rf"[^{_LABEL_CHARACTERS}]+", "_", path.name).strip("._") or "folder"


def label_taken_by(record: str | os.PathLike[str], folder: str | os.PathLike[str]) -> str | None:
    """The other folder whose results sit where ``folder``'s would (``record``: that results
    folder's ``folder.json``), or None: no record, an unreadable one, or ``folder`` itself."""
    import json

    try:
        recorded = json.loads(Path(record).read_text(encoding="utf-8"))["folder"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None if Path(recorded).resolve() == Path(folder).expanduser().resolve() else str(recorded)


def file_keys(folder: str | os.PathLike[str], paths: list[str | os.PathLike[str]]) -> list[str]:
    """A unique, readable key per file, for artefacts named after it (figures).

    The path relative to ``folder`` with ``/`` written ``__`` and the suffix dropped
    (``sub/spec-0332-52367-0639.fits`` → ``sub__spec-0332-52367-0639``), escaped
    (:func:`agn_saliency.core.names.escape_name`: no newline, no leading blank, no undecodable byte);
    when two files would share a key — also after Unicode normalisation (NFKC) and case folding, as
    a case-insensitive or normalising file system would see the figure names (``a.fits`` and
    ``a.fit.gz``, ``a/b.fits`` and ``a__b.fits``, ``A.fits`` and ``a.fits``) — the later ones, in the
    given order, get ``-2``, ``-3``, …
    """
    import unicodedata

    root = Path(folder)
    keys: list[str] = []
    used: set[str] = set()
    for path in paths:
        parts = Path(path).relative_to(root).parts
        base = escape_name("__".join((*parts[:-1], fits_stem(parts[-1]))))
        key, number = base, 1
        while unicodedata.normalize("NFKC", key).casefold() in used:
            number += 1
            key = f"{base}-{number}"
        used.add(unicodedata.normalize("NFKC", key).casefold())
        keys.append(key)
    return keys


def scan_folder(
    folder: str | os.PathLike[str], catalog: np.ndarray | None = None, scan: FolderScan | None = None
) -> list[dict[str, Any]]:
    """Inventory of every FITS file below ``folder`` (sorted by path), labelled from ``catalog``.

    Parameters
    ----------
    folder
        Searched recursively for ``*.fits`` / ``*.fit`` / ``*.fts``, each also gzip (``.gz``) or
        bzip2 (``.bz2``) compressed; hidden files (temporary downloads) are skipped.
    catalog
        Optional labelled catalog (:func:`agn_saliency.acquire.catalog.read_catalog`). A file is matched by
        the ids in its SDSS name, or, for any other name, by the ids in its header; catalog rows
        without a file are listed ``missing``; files
        without a catalog row are kept unlabelled (their ids are read from the file itself).
    scan
        :func:`folder_scan` of ``folder`` when the caller has it already.

    A file that cannot be read (:func:`unusable_reason`) is listed with status ``unreadable`` and
    the reason; ``path`` is escaped text (:func:`agn_saliency.core.names.escape_name`).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"local folder {root} does not exist or is not a folder")
    by_id: dict[tuple[int, int, int], Any] = {}
    rows: list[dict[str, Any]] = []
    if catalog is not None:
        for record in catalog:
            key = (int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))
            if key in by_id:
                rows.append(catalog_record(record, "", "duplicate", f"repeats catalog row {int(by_id[key]['row'])}"))
            else:
                by_id[key] = record
    found: set[tuple[int, int, int]] = set()
    # Files without a catalog row are numbered after the last catalog row (not after len(by_id):
    # duplicate catalog ids make by_id shorter and the numbers would collide).
    last_catalog_row = max((int(record["row"]) for record in catalog), default=0) if catalog is not None else 0
    files = (scan or folder_scan(root)).files
    for number, path in enumerate(files, start=1):
        problem = unusable_reason(path)
        ids = ids_from_filename(path.name) if problem else ids_of_file(path)
        if ids is not None and ids in by_id:
            found.add(ids)
            rows.append(catalog_record(by_id[ids], str(path), "unreadable" if problem else "ok", problem))
            continue
        rows.append(
            {
                "row": last_catalog_row + number,
                "specid": specid(*ids) if ids else escape_name(fits_stem(path.name)),
                "plate": ids[0] if ids else "",
                "mjd": ids[1] if ids else "",
                "fiberid": ids[2] if ids else "",
                "z": "",
                "label": "",
                "path": escape_name(str(path)),
                "status": "unreadable" if problem else "ok",
                "reason": problem,
            }
        )
    for ids, record in by_id.items():
        if ids not in found:
            rows.append(catalog_record(record, "", "missing", f"no file for this catalog row in {root}"))
    return sorted(rows, key=lambda row: int(row["row"]))
