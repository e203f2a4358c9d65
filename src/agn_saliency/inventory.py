"""Inventories: what the acquisition stage hands to the reduction, whatever the source.

One TSV per shard with :data:`INVENTORY_COLUMNS`. ``status`` is ``ok`` for a file to reduce, or
``missing`` / ``failed`` (with ``reason``) for a catalog row without a usable file — the reduction
lists those in rejected.tsv.
"""

from __future__ import annotations

import math
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from .sdss import SpectrumReadError, read_spectrum, specid

INVENTORY_COLUMNS = ("row", "specid", "plate", "mjd", "fiberid", "z", "label", "path", "status", "reason")

_SPEC_NAME = re.compile(r"^spec-(\d{4,5})-(\d{5})-(\d{4})\.fits$")
_SPSPEC_NAME = re.compile(r"^spSpec-(\d{5})-(\d{4})-(\d{3})\.fit$")
FITS_SUFFIXES = (".fits", ".fit", ".fts")


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
    return {"row": int(record["row"]), "specid": specid(plate, mjd, fiberid), "plate": plate, "mjd": mjd,
            "fiberid": fiberid, "z": _z_text(record["z"]), "label": str(record["label"]), "path": path,
            "status": status, "reason": reason}


def scan_folder(folder: str | os.PathLike[str], catalog: np.ndarray | None = None) -> list[dict[str, Any]]:
    """Inventory of every FITS file below ``folder`` (sorted by path), labelled from ``catalog``.

    Parameters
    ----------
    folder
        Searched recursively for ``*.fits`` / ``*.fit`` / ``*.fts``; hidden files (temporary
        downloads) are skipped.
    catalog
        Optional labelled catalog (:func:`agn_saliency.catalog.read_catalog`). A file is matched by
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
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in FITS_SUFFIXES and not p.name.startswith(".") and p.is_file())
    for number, path in enumerate(files, start=1):
        ids = ids_of_file(path)
        if ids is not None and ids in by_id:
            found.add(ids)
            rows.append(catalog_record(by_id[ids], str(path)))
            continue
        rows.append({"row": last_catalog_row + number, "specid": specid(*ids) if ids else path.stem, "plate": ids[0] if ids else "",
                     "mjd": ids[1] if ids else "", "fiberid": ids[2] if ids else "", "z": "", "label": "",
                     "path": str(path), "status": "ok", "reason": ""})
    for ids, record in by_id.items():
        if ids not in found:
            rows.append(catalog_record(record, "", "missing", f"no file for this catalog row in {root}"))
    return sorted(rows, key=lambda row: int(row["row"]))
