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
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import Any

import numpy as np

from agn_saliency.core.identity import spectrum_id
from agn_saliency.core.names import escape_name
from agn_saliency.spectra.files import survey_of_file
from agn_saliency.spectra.sdss import SpectrumReadError, read_spectrum, specid

INVENTORY_COLUMNS = ("row", "survey", "specid", "plate", "mjd", "fiberid", "z", "label", "path", "status", "reason")

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


def _name(path: str | os.PathLike[str]) -> str:
    """``Path(path).name``, without making a Path of a Path (predict asks for each file's row)."""
    return path.name if isinstance(path, PurePath) else Path(path).name


def ids_of_file(path: str | os.PathLike[str]) -> tuple[int, int, int] | None:
    """(plate, mjd, fiberid) from an SDSS file name, else from the file itself; None if unreadable."""
    ids = ids_from_filename(_name(path))
    if ids is None:
        try:
            spectrum = read_spectrum(path)
        except SpectrumReadError:
            return None  # the reduction reports why
        ids = (spectrum.plate, spectrum.mjd, spectrum.fiberid)
    return ids


def sdss5_id_of_file(path: str | os.PathLike[str], read: bool = True) -> str | None:
    """The SDSS-V spectrum id (``FFFFFF-MMMMM-C…``) of a file: from its SDSS-V name
    (``spec-{field}-{mjd}-{catalogid}.fits``), else, when ``read``, from the file itself if it is an
    SDSS-V file; None for any other file (also one that cannot be read: the reduction says why)."""
    from agn_saliency.spectra import sdss5

    if match := sdss5.SPEC_FILE_PATTERN.match(_name(path)):
        return sdss5.specid(int(match[1]), int(match[2]), int(match[3]))
    if not read or survey_of_file(path) != "sdss5":
        return None
    try:
        return sdss5.read_spectrum(path).specid
    except SpectrumReadError:
        return None


def _z_text(z: Any) -> str:
    try:
        value = float(z)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(value) else repr(value)


def _targetid(record: Any) -> int:
    """The DESI TARGETID of a catalog record, -1 for an SDSS one."""
    names = getattr(getattr(record, "dtype", None), "names", None) or (record.keys() if hasattr(record, "keys") else ())
    return int(record["targetid"]) if "targetid" in names and record["targetid"] not in ("", None) else -1


def desi_targetids(path: str | os.PathLike[str]) -> list[int]:
    """The FIBERMAP TARGETIDs of a DESI file (empty when it is not one or cannot be read: the
    reduction says why)."""
    from agn_saliency.io import fits

    try:
        hdus = fits.read_hdus(path)
        fibermap = next(hdu for hdu in hdus if hdu.name.upper() == "FIBERMAP")
        return [int(t) for t in fibermap.column("TARGETID")]
    except (fits.FitsFormatError, OSError, StopIteration, KeyError, ValueError):
        return []


def record_survey(record: Any) -> str:
    """The survey of a catalog record: its ``survey`` field, else ``desi`` for a TARGETID ≥ 0, else ``sdss``."""
    names = getattr(getattr(record, "dtype", None), "names", None) or (record.keys() if hasattr(record, "keys") else ())
    survey = str(record["survey"]) if "survey" in names else ""
    if survey:
        return survey
    return "desi" if "targetid" in names and record["targetid"] not in ("", None) and int(record["targetid"]) >= 0 else "sdss"


def record_specid(record: Any) -> str:
    """The spectrum id of a catalog record in its survey (:func:`agn_saliency.core.identity.spectrum_id`)."""
    survey = record_survey(record)
    if survey == "desi":
        return spectrum_id("desi", targetid=int(record["targetid"]))
    if survey == "sdss5":
        return spectrum_id("sdss5", field=int(record["field"]), mjd=int(record["mjd"]), catalogid=int(record["catalogid"]))
    return specid(int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))


def catalog_record(record: Any, path: str, status: str = "ok", reason: str = "") -> dict[str, Any]:
    """An inventory row for one catalog record (fields row, plate, mjd, fiberid, label, z; a DESI
    record, whose ``targetid`` is ≥ 0, is named by it; an SDSS-V record by field, MJD, catalogid)."""
    survey = record_survey(record)
    if survey in ("desi", "sdss5"):
        return {
            "row": int(record["row"]),
            "survey": survey,
            "specid": record_specid(record),
            "plate": "",
            "mjd": int(record["mjd"]) if survey == "sdss5" else "",
            "fiberid": "",
            "z": _z_text(record["z"]),
            "label": str(record["label"]),
            "path": escape_name(str(path)),
            "status": status,
            "reason": reason,
        }
    plate, mjd, fiberid = int(record["plate"]), int(record["mjd"]), int(record["fiberid"])
    return {
        "row": int(record["row"]),
        "survey": "sdss",
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

    @property
    def spectrum_files(self) -> list[Path]:
        """:attr:`files` without DESI redshift files (:func:`is_redshift_name`), which hold no spectrum."""
        return [path for path in self.files if not is_redshift_name(path.name)]

    @property
    def companions(self) -> list[tuple[str, str]]:
        """(path, reason) of the DESI redshift files among :attr:`files`: read with their coadd, not on their own."""
        return [(str(path), REDSHIFT_FILE_REASON) for path in self.files if is_redshift_name(path.name)]


REDSHIFT_FILE_REASON = "DESI redshift file (redrock/zbest): read with the coadd or spectra file of the same name"
_REDSHIFT_NAME = re.compile(r"^(redrock|zbest)-.+\.fits(?:\.gz|\.bz2)?$")


def is_redshift_name(name: str) -> bool:
    """Whether ``name`` is a DESI redshift file's (``redrock-*.fits``, ``zbest-*.fits``): no spectra in it.

    >>> is_redshift_name("redrock-4-80613-thru20210324.fits"), is_redshift_name("coadd-sv3-dark-26065.fits")
    (True, False)
    """
    return bool(_REDSHIFT_NAME.match(name))


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


def read_digest_cache(cache: str | os.PathLike[str]) -> dict[str, list[Any]]:
    """The per-file digests a fingerprint cache holds (relative path → size, mtime, ctime, inode,
    digest); empty when there is no cache yet or it cannot be read (then every file is read)."""
    import json

    try:
        files = json.loads(Path(cache).read_text(encoding="utf-8"))["files"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}
    return files if isinstance(files, dict) else {}


@dataclass
class FolderDigests:
    """One search of a folder (:func:`folder_scan`) with each FITS file's content digest: every
    fingerprint of the folder, whole or of a shard, and each shard's files, without searching again.

    Attributes
    ----------
    root
        The folder.
    scan
        What :func:`folder_scan` found.
    entries
        Relative path (``/``-separated) → ``[size, mtime_ns, ctime_ns, inode, digest]`` of each file,
        in :attr:`FolderScan.files` order (the digest: SHA-256, or why the file has none).
    """

    root: Path
    scan: FolderScan
    entries: dict[str, list[Any]]
    _shards: dict[int, list[list[str]]] = field(default_factory=dict, repr=False)

    def shard_files(self, shard: int, n_shards: int) -> list[str]:
        """Relative paths of the files of shard ``shard`` of ``n_shards`` (:func:`path_shard`), in
        path order; each file's shard is computed once per ``n_shards``."""
        if not 0 <= shard < n_shards:
            raise ValueError(f"shard {shard} is not in 0 … {n_shards - 1}")
        if n_shards not in self._shards:
            parts: list[list[str]] = [[] for _ in range(n_shards)]
            for relative in self.entries:
                parts[path_shard(relative, n_shards)].append(relative)
            self._shards[n_shards] = parts
        return self._shards[n_shards][shard]

    def fingerprint(self, shard: tuple[int, int] | None = None) -> str:
        """:func:`folder_fingerprint` of the folder, or with ``shard`` = (shard, n_shards) of that shard's files only."""
        digest = hashlib.sha256()
        for relative in self.entries if shard is None else self.shard_files(*shard):
            size, content = self.entries[relative][0], self.entries[relative][4]
            digest.update(f"{relative}\t{size}\t{content}\n".encode("utf-8", "surrogateescape"))
        for path, reason in [] if shard is not None else self.scan.skipped:
            if reason.startswith(_HIDDEN):
                continue  # temporary downloads come and go: listed, but no reason to rerun
            relative = os.path.relpath(path, self.root)
            digest.update(f"skipped\t{relative}\t{reason}\n".encode("utf-8", "surrogateescape"))
        return f"sha256:{digest.hexdigest()}"


def folder_digests(folder: str | os.PathLike[str], cache: str | os.PathLike[str] | None = None) -> FolderDigests:
    """Search ``folder`` once and digest its FITS files (:class:`FolderDigests`), reading only the
    files the digest ``cache`` does not know unchanged (see :func:`folder_fingerprint`); the cache
    is read once and (atomically) rewritten when it changed."""
    import json

    from agn_saliency.core.files import write_text_atomic

    root = Path(folder)
    scan = folder_scan(root)
    known = read_digest_cache(cache) if cache is not None else {}
    entries: dict[str, list[Any]] = {}
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
    if cache is not None and entries != known:
        write_text_atomic(cache, json.dumps({"folder": str(root), "files": entries}) + "\n")
    return FolderDigests(root, scan, entries)


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
    that a changed folder reruns what reads it. Searches the folder each call: a caller wanting
    several fingerprints of one folder (its shards) keeps one :func:`folder_digests` instead.

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
    return folder_digests(folder, cache).fingerprint(shard)


def checked_folder(folder: str | os.PathLike[str], key: str, search: Callable[[Path], FolderScan] = folder_scan) -> Path:
    """``folder`` made absolute (relative to the working directory, symlinks resolved), after checking
    it is a folder of FITS files.

    Parameters
    ----------
    folder
        The configured value.
    key
        The configuration key it came from, named in every error (``predict_dir``, ``data.local_dir``).
    search
        How the folder is searched for FITS files (the workflow passes its one search per run).

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
    if not search(path).files:
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


def _unlabelled_row(path: Path, row: int, problem: str, sdss5_id: str | None, ids: tuple[int, int, int] | None) -> dict[str, Any]:
    """The inventory row of a file no catalog row names (:func:`scan_folder`): an SDSS-V file by its
    id, an SDSS file by its plate/MJD/fiber, any other file (DESI: the row stands for every target
    of the file) by its survey and name."""
    status = "unreadable" if problem else "ok"
    if sdss5_id is not None:
        return {
            "row": row, "survey": "sdss5", "specid": sdss5_id, "plate": "", "mjd": int(sdss5_id.split("-")[1]),
            "fiberid": "", "z": "", "label": "", "path": escape_name(str(path)), "status": status, "reason": problem,
        }  # fmt: skip
    survey = "sdss" if ids is not None or problem else survey_of_file(path)
    return {
        "row": row,
        "survey": survey,
        "specid": specid(*ids) if ids else ("" if survey == "desi" else escape_name(fits_stem(path.name))),
        "plate": ids[0] if ids else "",
        "mjd": ids[1] if ids else "",
        "fiberid": ids[2] if ids else "",
        "z": "",
        "label": "",
        "path": escape_name(str(path)),
        "status": status,
        "reason": problem,
    }


def file_row(path: Path, row: int) -> dict[str, Any]:
    """:func:`scan_folder`'s row (without a catalog) of one of the folder's spectrum files, numbered
    ``row``: what ``scan_folder`` gives for it, without searching or sorting anything else (predict
    makes each file's row just before reading the file: :class:`agn_saliency.predict.batch._InventoryAsRead`)."""
    problem = unusable_reason(path)
    sdss5_id = sdss5_id_of_file(path, read=not problem)
    ids = None if sdss5_id is not None else ids_from_filename(path.name) if problem else ids_of_file(path)
    return _unlabelled_row(path, row, problem, sdss5_id, ids)


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
        the ids in its SDSS name, or, for any other name, by the ids in its header; a DESI file
        (coadd or spectra, anywhere below ``folder``: the healpix tree) gives one row per catalog
        TARGETID in its FIBERMAP (a target in two files is taken from the first by path — a coadd
        before the spectra file beside it — and listed ``duplicate`` for the others); catalog rows
        without a file are listed ``missing``; files without a catalog row are kept unlabelled
        (their ids are read from the file itself; a DESI file then stands for all its targets).
    scan
        :func:`folder_scan` of ``folder`` when the caller has it already.

    A file that cannot be read (:func:`unusable_reason`) is listed with status ``unreadable`` and
    the reason; ``path`` is escaped text (:func:`agn_saliency.core.names.escape_name`).
    """
    root = Path(folder)
    if not root.is_dir():
        raise FileNotFoundError(f"local folder {root} does not exist or is not a folder")
    by_id: dict[tuple[int, int, int], Any] = {}
    by_target: dict[int, Any] = {}
    by_sdss5: dict[str, Any] = {}
    found_sdss5: set[str] = set()
    rows: list[dict[str, Any]] = []
    if catalog is not None:
        for record in catalog:
            if record_survey(record) == "sdss5":
                key5 = record_specid(record)
                if key5 in by_sdss5:
                    rows.append(catalog_record(record, "", "duplicate", f"repeats catalog row {int(by_sdss5[key5]['row'])}"))
                else:
                    by_sdss5[key5] = record
                continue
            target = _targetid(record)
            if target >= 0:
                if target in by_target:
                    rows.append(catalog_record(record, "", "duplicate", f"repeats catalog row {int(by_target[target]['row'])}"))
                else:
                    by_target[target] = record
                continue
            key = (int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))
            if key in by_id:
                rows.append(catalog_record(record, "", "duplicate", f"repeats catalog row {int(by_id[key]['row'])}"))
            else:
                by_id[key] = record
    found: set[tuple[int, int, int]] = set()
    found_targets: dict[int, Path] = {}
    # Files without a catalog row are numbered after the last catalog row (not after len(by_id):
    # duplicate catalog ids make by_id shorter and the numbers would collide).
    last_catalog_row = max((int(record["row"]) for record in catalog), default=0) if catalog is not None else 0
    files = (scan or folder_scan(root)).spectrum_files  # a DESI redshift file is read with its coadd
    for number, path in enumerate(files, start=1):
        problem = unusable_reason(path)
        if not problem and by_target and survey_of_file(path) == "desi":
            # a DESI file: one row per catalog target it holds (the first file holding it; a coadd
            # sorts before the spectra file of the same targets), or the whole file unlabelled
            held = [target for target in dict.fromkeys(desi_targetids(path)) if target in by_target]
            for target in held:
                if target in found_targets:
                    reason = f"TARGETID {target} already taken from {escape_name(str(found_targets[target]))}"
                    rows.append(catalog_record(by_target[target], str(path), "duplicate", reason))
                else:
                    found_targets[target] = path
                    rows.append(catalog_record(by_target[target], str(path)))
            if held:
                continue
        sdss5_id = sdss5_id_of_file(path, read=not problem)
        if sdss5_id is not None and sdss5_id in by_sdss5:
            found_sdss5.add(sdss5_id)
            rows.append(catalog_record(by_sdss5[sdss5_id], str(path), "unreadable" if problem else "ok", problem))
            continue
        ids = None
        if sdss5_id is None:
            ids = ids_from_filename(path.name) if problem else ids_of_file(path)
            if ids is not None and ids in by_id:
                found.add(ids)
                rows.append(catalog_record(by_id[ids], str(path), "unreadable" if problem else "ok", problem))
                continue
        rows.append(_unlabelled_row(path, last_catalog_row + number, problem, sdss5_id, ids))
    for ids, record in by_id.items():
        if ids not in found:
            rows.append(catalog_record(record, "", "missing", f"no file for this catalog row in {root}"))
    for key5, record in by_sdss5.items():
        if key5 not in found_sdss5:
            rows.append(catalog_record(record, "", "missing", f"no file for this catalog row in {root}"))
    for target, record in by_target.items():
        if target not in found_targets:
            rows.append(catalog_record(record, "", "missing", f"no DESI file in {root} holds TARGETID {target}"))
    return sorted(rows, key=lambda row: int(row["row"]))
