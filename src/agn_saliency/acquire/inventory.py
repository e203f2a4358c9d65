"""Inventories: what the acquisition stage hands to the reduction, whatever the source.

One ECSV table per shard with :data:`INVENTORY_COLUMNS`. ``status`` is ``ok`` for a file to reduce, or
``missing`` / ``failed`` (with ``reason``) for a catalog row without a usable file — the reduction
lists those in rejected.ecsv.
"""

from __future__ import annotations

import hashlib
import math
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

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
        "path": path,
        "status": status,
        "reason": reason,
    }


def fits_files(folder: str | os.PathLike[str]) -> list[Path]:
    """Every FITS file below ``folder`` (recursively, sorted by path): names ending in one of
    :data:`FITS_SUFFIXES` (any case), hidden files (temporary downloads) skipped."""
    return sorted(_iter_fits_files(Path(folder)))


def _iter_fits_files(root: Path) -> Iterator[Path]:
    return (p for p in root.rglob("*") if fits_suffix(p.name) and not p.name.startswith(".") and p.is_file())


def folder_fingerprint(folder: str | os.PathLike[str]) -> str:
    """A hash of what :func:`fits_files` finds below ``folder``: relative paths, sizes and mtimes.

    Changes when a FITS file is added, removed or renamed anywhere below ``folder``, or replaced or
    edited in place (a new size or modification time), which a folder's own modification time does
    not show for sub-folders or edits. Used as a Snakemake ``params:`` value so that a changed folder
    reruns what reads it.

    Returns
    -------
    str
        ``sha256:`` followed by the hex digest; the same for the same contents wherever the folder is.
    """
    root = Path(folder)
    digest = hashlib.sha256()
    for path in fits_files(root):
        status = path.stat()
        digest.update(
            f"{path.relative_to(root).as_posix()}\t{status.st_size}\t{status.st_mtime_ns}\n".encode("utf-8", "surrogateescape")
        )
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
    if next(_iter_fits_files(path), None) is None:
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
    (``sub/spec-0332-52367-0639.fits`` → ``sub__spec-0332-52367-0639``); when two files would share a
    key (``a.fits`` and ``a.fit.gz``, or ``a/b.fits`` and ``a__b.fits``) the later ones, in the given
    order, get ``-2``, ``-3``, …
    """
    root = Path(folder)
    keys: list[str] = []
    used: set[str] = set()
    for path in paths:
        parts = Path(path).relative_to(root).parts
        base = "__".join((*parts[:-1], fits_stem(parts[-1])))
        key, number = base, 1
        while key in used:
            number += 1
            key = f"{base}-{number}"
        used.add(key)
        keys.append(key)
    return keys


def scan_folder(folder: str | os.PathLike[str], catalog: np.ndarray | None = None) -> list[dict[str, Any]]:
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
    files = fits_files(root)
    for number, path in enumerate(files, start=1):
        ids = ids_of_file(path)
        if ids is not None and ids in by_id:
            found.add(ids)
            rows.append(catalog_record(by_id[ids], str(path)))
            continue
        rows.append(
            {
                "row": last_catalog_row + number,
                "specid": specid(*ids) if ids else fits_stem(path.name),
                "plate": ids[0] if ids else "",
                "mjd": ids[1] if ids else "",
                "fiberid": ids[2] if ids else "",
                "z": "",
                "label": "",
                "path": str(path),
                "status": "ok",
                "reason": "",
            }
        )
    for ids, record in by_id.items():
        if ids not in found:
            rows.append(catalog_record(record, "", "missing", f"no file for this catalog row in {root}"))
    return sorted(rows, key=lambda row: int(row["row"]))
