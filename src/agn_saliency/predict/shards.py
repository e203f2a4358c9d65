"""Predict a folder in shards: one job per shard of its files, then one merge.

A file's shard (with every spectrum it holds: all targets of a DESI file) is :func:`agn_saliency.acquire.inventory.path_shard` of its path relative to the
folder, so adding, changing or removing a file changes one shard only (its fingerprint,
:func:`agn_saliency.acquire.inventory.folder_fingerprint` with ``shard``) and Snakemake reruns that
shard and the merge. :func:`run_shard` classifies a shard's files a chunk at a time
(:func:`agn_saliency.predict.batch.classify_files`), appending each chunk's rows to a JSON Lines
file (:class:`ShardRowsWriter`) and its maps to an HDF5 file (:class:`SaliencyWriter`), so that a
shard job holds one chunk, whatever the shard's size; :func:`merge_shard_files` joins the shards
in path order, streaming their rows, and recomputes what depends on the whole folder — each row's
``key`` (unique across the folder) and ``duplicate_of`` (the first file, by path, holding the
same spectrum; a DESI coadd before a spectra file of the same targets) — so the merged table and
maps are the same for any number of shards.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.acquire.inventory import FolderScan, file_keys, folder_scan, path_shard
from agn_saliency.core.names import unescape_name
from agn_saliency.explain.maps import SaliencyResult, read_saliency, write_saliency
from agn_saliency.predict.batch import classify_files
from agn_saliency.predict.folder import (
    DEFAULT_LOW_CONFIDENCE_P_MAX,
    PREDICTION_COLUMNS,
    add_verdicts,
    folder_fields,
    public_rows,
)
from agn_saliency.spectra.reduce import ReductionParameters


def shard_scan(folder: str | os.PathLike[str], shard: int, n_shards: int, files: Sequence[str] | None = None) -> FolderScan:
    """The files of ``folder`` in shard ``shard`` of ``n_shards`` (:func:`agn_saliency.acquire.inventory.path_shard`).

    ``files``: the shard's files relative to ``folder`` as the workflow planned them
    (:meth:`agn_saliency.acquire.inventory.FolderDigests.shard_files`), so that a shard job does
    not search the whole folder again; each must belong to the shard (else ``ValueError``)."""
    if not 0 <= shard < n_shards:
        raise ValueError(f"shard {shard} is not in 0 … {n_shards - 1}")
    root = Path(folder)
    if files is not None:
        for relative in files:
            if path_shard(relative, n_shards) != shard:
                raise ValueError(f"{relative!r} (below {root}) is not in shard {shard} of {n_shards}")
        return FolderScan(files=sorted(root / relative for relative in files))
    scan = folder_scan(root)
    files = [path for path in scan.files if path_shard(path.relative_to(root).as_posix(), n_shards) == shard]
    return dataclasses.replace(scan, files=files)


def predict_shard(
    folder: str | os.PathLike[str],
    shard: int,
    n_shards: int,
    model: Any,
    params: ReductionParameters,
    *,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    ood_calibration: Mapping[str, Any] | None = None,
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
) -> tuple[list[dict[str, Any]], SaliencyResult, dict[str, str]]:
    """Classify and explain one shard's files: rows (with their private ``_file_row`` and ``_format``,
    which :func:`merge_shards` needs), maps (:func:`classify_files`) and each file's content digest
    (:func:`agn_saliency.io.fits.content_digest`).

    Shards hold whole files: every target of a DESI file is in the file's shard."""
    scan = shard_scan(folder, shard, n_shards)
    digests: dict[str, str] = {}  # as classify_folder: a file the inventory cannot use (a FIFO) is never opened
    rows, result = classify_files(
        folder,
        model,
        params,
        methods=methods,
        ood_calibration=ood_calibration,
        low_confidence_p_max=low_confidence_p_max,
        scan=scan,
        keep_private=True,
        digests=digests,
    )
    return rows, result, digests


def _json_safe(value: Any) -> Any:
    """A numpy scalar as the Python value ``json`` writes (NumPy's integers and booleans are not ``int``
    and ``bool``; its floats are ``float``s, written as such); anything else is not JSON (``TypeError``)."""
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"a value of type {type(value).__name__} is not JSON serializable")


_ENCODER = json.JSONEncoder(default=_json_safe)
"""``json.dumps``' encoder (the same text), with numpy scalars written as their Python values: called
only for the values ``json`` cannot write itself, instead of a pass over every value of every row."""


SHARD_ROWS_FORMAT = "agn-saliency predict shard rows"
"""The first line of a shard's rows file names its format (with :data:`SHARD_ROWS_VERSION`)."""
SHARD_ROWS_VERSION = 2
"""Version 2: JSON Lines written a chunk at a time (``<shard>.jsonl``). Version 1 was one JSON
object ``{"rows": [...], "sha256": {...}, "meta": {...}}`` (``<shard>.json``), written at the end."""
_HEADER_BYTES = 1 << 20
"""A header line is read with at most this many bytes (an old one-line file is not read whole to refuse it)."""


class ShardRowsWriter:
    """A shard's rows file, written a chunk at a time as JSON Lines, one JSON object a line:

    * first ``{"format": SHARD_ROWS_FORMAT, "version": SHARD_ROWS_VERSION, "meta": {...}}``;
    * per chunk (:meth:`write`), ``{"digest": {file: digest}}`` for its files (``xxh3_128:…``,
      :func:`agn_saliency.io.fits.content_digest`; files written before held ``{"sha256": {file:
      hex}}``, still read: :func:`shard_digests`), then one
      ``{"row": {...}}`` per row (private fields ``_file_row`` and ``_format`` kept; NaN as JSON's
      ``NaN``, as Python's ``json`` reads and writes it);
    * last ``{"end": {"rows": n, "files": m}}``.

    Written below a temporary name beside ``path`` (``.<name>.*.tmp``) and flushed after each chunk,
    so a chunk's rows are on disk before the next is computed; renamed to ``path`` only by a
    successful exit from the ``with`` block (an exception removes it; a killed job leaves the
    temporary file, which no rule reads and the next attempt deletes)."""

    def __init__(self, path: str | os.PathLike[str], meta: Mapping[str, Any] | None = None) -> None:
        self.path = Path(path)
        self.meta = dict(meta or {})
        self.rows = self.files = 0
        self._output: Any = None
        self._handle: Any = None

    def __enter__(self) -> ShardRowsWriter:
        from agn_saliency.core.files import atomic_output

        self._output = atomic_output(self.path)
        self.tmp = self._output.__enter__()
        self._handle = open(self.tmp, "w", encoding="utf-8")  # noqa: SIM115 (closed in __exit__)
        self._line({"format": SHARD_ROWS_FORMAT, "version": SHARD_ROWS_VERSION, "meta": self.meta})
        return self

    def _line(self, record: Mapping[str, Any]) -> None:
        self._handle.write(_ENCODER.encode(record) + "\n")

    def write(self, rows: Sequence[Mapping[str, Any]], digests: Mapping[str, str]) -> None:
        """Append one chunk: its files' content digests (``digests``, by escaped path as the rows' ``file``) and its rows."""
        self._line({"digest": dict(digests)})
        encode = _ENCODER.encode
        self._handle.write("".join([encode({"row": row}) + "\n" for row in rows]))  # one write a chunk
        self._handle.flush()  # the chunk's rows leave this process before the next chunk is read
        self.rows += len(rows)
        self.files += len(digests)

    def __exit__(self, kind: Any, error: Any, traceback: Any) -> None:
        try:
            if kind is None:
                self._line({"end": {"rows": self.rows, "files": self.files}})
        finally:
            self._handle.close()
            self._output.__exit__(kind, error, traceback)  # renamed on success, removed on an exception


def _refuse(path: str | os.PathLike[str], why: str) -> ValueError:
    return ValueError(
        f"{path}: {why}; predict shard rows are JSON Lines of format version {SHARD_ROWS_VERSION} "
        f"({SHARD_ROWS_FORMAT!r}, <shard>.jsonl): an output of an older version or of an interrupted copy? "
        f"Delete it and rerun its predict_shard job"
    )


def shard_records(path: str | os.PathLike[str]) -> Iterator[tuple[str, Any, int]]:
    """The records of a shard's rows file (:class:`ShardRowsWriter`) in order, as (kind, value, byte
    offset of its line): ``("meta", {...}, 0)`` first, then ``"digest"`` (or, in a file written
    before, ``"sha256"``: :func:`shard_digests` reads both) and ``"row"`` records, one
    line at a time (a row can be read again by its offset: :func:`read_row_at`).

    Raises
    ------
    ValueError
        Naming ``path``: not a shard rows file of this version (an old ``.json`` shard, another
        file), a line that is not JSON, or a file without its ``end`` line (cut short)."""
    with open(path, "rb") as handle:
        header = handle.readline(_HEADER_BYTES)
        try:
            first = json.loads(header)
        except ValueError:
            first = None
        if not isinstance(first, dict) or first.get("format") != SHARD_ROWS_FORMAT:
            raise _refuse(path, "not a predict shard rows file (its first line names no format)")
        if first.get("version") != SHARD_ROWS_VERSION:
            raise _refuse(path, f"format version {first.get('version')!r}")
        yield "meta", first.get("meta", {}), 0
        offset = len(header)
        number = 1
        for line in handle:
            number += 1
            try:
                record = json.loads(line)
                ((kind, value),) = record.items()
            except (ValueError, AttributeError) as error:
                raise _refuse(path, f"line {number} is not one JSON record ({error})") from None
            if kind == "end":
                return
            yield kind, value, offset
            offset += len(line)
    raise _refuse(path, f"no end line after line {number} (the file was cut short)")


DIGEST_RECORDS = ("digest", "sha256")
"""The kinds of a shard rows file's digest records: ``digest`` (values ``<algorithm>:<hex>``,
:func:`agn_saliency.io.fits.content_digest`) and ``sha256`` (bare hex SHA-256, written before)."""


def shard_digests(kind: str, value: Mapping[str, str]) -> dict[str, str]:
    """The digests of one digest record (kind ``digest`` or ``sha256``), each named by its algorithm:
    a ``sha256`` record's bare hex becomes ``sha256:<hex>``, so it never equals an ``xxh3_128:…``
    digest of the same bytes; ``""`` (a file the inventory could not use) stays ``""``. A folder
    whose shards mix both (some written before the change, not rerun) still merges, but a file
    of an old shard and one of a new shard with the same bytes are then not found to be
    duplicates by their bytes (only by their ids)."""
    if kind == "sha256":
        return {file: f"sha256:{digest}" if digest else "" for file, digest in value.items()}
    return dict(value)


def read_row_at(handle: Any, offset: int, path: str | os.PathLike[str] = "") -> dict[str, Any]:
    """The row whose line starts at ``offset`` of an open (binary) shard rows file."""
    handle.seek(offset)
    record = json.loads(handle.readline())
    if not isinstance(record, dict) or "row" not in record:
        raise _refuse(path, f"no row at byte {offset}")
    return record["row"]


def read_shard(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], dict[str, str], dict[str, Any]]:
    """A shard's rows (with their private fields), its files' content digests (:func:`shard_digests`) and its ``meta``, all in
    memory (for tests and small shards: the merge streams them, :class:`JoinedShards`)."""
    rows: list[dict[str, Any]] = []
    digests: dict[str, str] = {}
    meta: dict[str, Any] = {}
    for kind, value, _ in shard_records(path):
        if kind == "row":
            rows.append(value)
        elif kind in DIGEST_RECORDS:
            digests.update(shard_digests(kind, value))
        else:
            meta = value
    return rows, digests, meta


def write_shard(
    rows_path: str | os.PathLike[str],
    saliency_path: str | os.PathLike[str],
    rows: list[dict[str, Any]],
    result: SaliencyResult,
    digests: Mapping[str, str],
    meta: Mapping[str, Any] | None = None,
) -> None:
    """Keep one shard's rows, digests and ``meta`` (:class:`ShardRowsWriter`, as one chunk) and maps
    (HDF5), each atomically (a killed job leaves no partial file: a plain rerun redoes the shard)."""
    write_saliency(saliency_path, result)
    with ShardRowsWriter(rows_path, meta) as writer:
        writer.write(rows, digests)


_FOLDER_FIELDS = ("file", "_file_row", "_format", "survey", "specid", "plate", "status", "verdict", "agn_status")
"""What :class:`JoinedShards` holds of each row: what ``duplicate_of``, ``key`` and the order need
(:func:`agn_saliency.predict.folder.folder_fields`) and the counts of ``folder.json``."""


class _Held:
    """One row's :data:`_FOLDER_FIELDS`, ``key``, ``duplicate_of`` and where its whole row is (its
    shard and the byte offset of its line there), read and set as a dict's items (what
    :func:`agn_saliency.predict.folder.folder_fields` and
    :func:`agn_saliency.predict.folder.folder_record` use) in slots: ≈ 200 bytes, a dict's 650."""

    __slots__ = (*_FOLDER_FIELDS, "key", "duplicate_of", "_shard", "_offset", "_local")

    def __init__(self, row: Mapping[str, Any], shard: int, offset: int) -> None:
        for name in _FOLDER_FIELDS:  # the few values a column takes, stored once
            value = row.get(name, "")
            setattr(self, name, sys.intern(value) if isinstance(value, str) and name in _REPEATED else value)
        self.key = self.duplicate_of = ""
        self._shard, self._offset = shard, offset
        self._local = str(row["key"])  # its key in its shard's saliency file

    def __getitem__(self, name: str) -> Any:
        return getattr(self, name)

    def __setitem__(self, name: str, value: Any) -> None:
        setattr(self, name, value)

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)


_REPEATED = frozenset({"_format", "survey", "status", "verdict", "agn_status"})

TABLE_BLOCK_ROWS = 2048
""":meth:`JoinedShards.blocks` gives the merged rows this many at a time (and the shards are read this many rows at a time)."""


class JoinedShards:
    """The rows of a folder's shards (:class:`ShardRowsWriter`'s files) joined, holding per row only
    :data:`_FOLDER_FIELDS`, where its line is, and the ``key`` and ``duplicate_of`` decided over the
    whole folder (see the module docstring), never whole rows: each shard is read once, line by line
    (:func:`shard_records`), to learn those fields and the table's column types; :meth:`blocks` then
    reads the rows again from the shards by their lines' offsets, in the folder's order, a block at
    a time. The merge's memory grows by a few hundred bytes a row (and a digest a file), not by the
    row (8 kB as a dict).

    ``rows`` holds those fields of each row in the folder's order (path, file row), ``types`` the
    table's column types (:class:`agn_saliency.io.tables.ColumnTypes`), ``meta`` the first shard's.

    Raises
    ------
    ValueError
        A shard file of another format (:func:`shard_records`, naming it), or a file in two shards."""

    def __init__(
        self,
        folder: str | os.PathLike[str],
        rows_paths: Sequence[str | os.PathLike[str]],
        low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
    ) -> None:
        from agn_saliency.io.tables import ColumnTypes

        if not rows_paths:
            raise ValueError("no shard to merge")
        self.types = ColumnTypes(PREDICTION_COLUMNS)
        self.meta: dict[str, Any] = {}
        self.low_confidence_p_max = low_confidence_p_max
        self.paths = [Path(path) for path in rows_paths]
        digests: dict[str, str] = {}
        rows: list[_Held] = []
        for j, path in enumerate(self.paths):
            block: list[tuple[dict[str, Any], int]] = []

            def learn(block: list[tuple[dict[str, Any], int]], j: int = j) -> None:
                # verdicts are recomputed when the rows are read again (blocks()): cheap, and the shards stay as written
                self.types.add(add_verdicts([row for row, _ in block], low_confidence_p_max))
                rows.extend(_Held(row, j, offset) for row, offset in block)
                block.clear()

            for kind, value, offset in shard_records(path):
                if kind == "row":
                    block.append((value, offset))
                    if len(block) >= TABLE_BLOCK_ROWS:
                        learn(block)
                elif kind in DIGEST_RECORDS:
                    digests.update({sys.intern(file): digest for file, digest in shard_digests(kind, value).items()})
                else:  # the header's meta: the first shard's that has one
                    self.meta = self.meta or value
            learn(block)
        if len({(row["file"], row["_file_row"]) for row in rows}) != len(rows):
            raise ValueError("a file is in two shards: the shards come from different shard counts or folders")
        paths = sorted({row["file"] for row in rows}, key=unescape_name)
        keys = dict(zip(paths, file_keys(folder, [unescape_name(p) for p in paths])))
        folder_fields(rows, digests, keys)  # type: ignore[arg-type]
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def blocks(self, block: int = TABLE_BLOCK_ROWS) -> Iterator[list[dict[str, Any]]]:
        """The merged rows (public: :func:`agn_saliency.predict.folder.public_rows`) in the folder's
        order, ``block`` at a time (each read from its shard file by its line's offset)."""
        for start in range(0, len(self.rows), block):
            held = self.rows[start : start + block]
            rows: list[dict[str, Any]] = [{}] * len(held)
            by_shard: dict[int, list[int]] = {}
            for i, row in enumerate(held):
                by_shard.setdefault(row["_shard"], []).append(i)
            for j, places in by_shard.items():  # each shard opened once a block, read forwards
                with open(self.paths[j], "rb") as handle:
                    for i in sorted(places, key=lambda i: held[i]["_offset"]):
                        row = read_row_at(handle, held[i]["_offset"], self.paths[j])
                        if (row.get("file"), row.get("_file_row")) != (held[i]["file"], held[i]["_file_row"]):
                            raise ValueError(f"{self.paths[j]} changed while it was merged (byte {held[i]['_offset']})")
                        rows[i] = row | {"key": held[i]["key"], "duplicate_of": held[i]["duplicate_of"]}
            yield public_rows(add_verdicts(rows, self.low_confidence_p_max))

    def positions(self) -> list[dict[str, int]]:
        """Per shard: each row's key in the shard's saliency file -> the row's place in the folder."""
        places: list[dict[str, int]] = [{} for _ in self.paths]
        for place, held in enumerate(self.rows):
            places[held["_shard"]][held["_local"]] = place
        return places

    def close(self) -> None:
        """Let go of the rows (what follows, the FITS table, needs none)."""
        self.rows = []

    def __enter__(self) -> JoinedShards:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_shards(
    folder: str | os.PathLike[str],
    rows_paths: Sequence[str | os.PathLike[str]],
    saliency_paths: Sequence[str | os.PathLike[str]],
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
) -> tuple[list[dict[str, Any]], SaliencyResult, dict[str, Any]]:
    """Join the shards of one folder (:func:`write_shard`'s files) into the folder's rows and maps,
    all in memory (:func:`merge_shard_files` streams them), sorted by path and file row, with
    ``key`` and ``duplicate_of`` over the whole folder (see the module docstring); also the first
    shard's ``meta``."""
    if len(rows_paths) != len(saliency_paths):
        raise ValueError(f"{len(rows_paths)} row files but {len(saliency_paths)} saliency files")
    with JoinedShards(folder, rows_paths, low_confidence_p_max) as joined:
        rows = [row for block in joined.blocks() for row in block]
        places = joined.positions()
        parts = [read_saliency(path) for path in saliency_paths]
        place = [places[j][str(key)] for j, part in enumerate(parts) for key in (part.key if part.key is not None else [])]
        order = np.argsort(place, kind="stable")
        first = next((part for part in parts if len(part.specid)), parts[0])

        def joined_maps(name: str) -> np.ndarray:
            return np.concatenate([np.asarray(getattr(part, name)) for part in parts])[order]

        result = SaliencyResult(
            joined_maps("specid"),
            joined_maps("true_label"),
            joined_maps("predicted_label"),
            joined_maps("probabilities").reshape(len(order), len(first.class_names)),
            joined_maps("saliency"),
            joined_maps("flux"),
            first.wavelength,
            first.class_names,
            file=np.array([joined.rows[place[i]]["file"] for i in order], dtype=object),
            key=np.array([joined.rows[place[i]]["key"] for i in order], dtype=object),
            survey=joined_maps("survey").astype(str).astype(object),
            attributions={m: np.concatenate([part.attributions[m] for part in parts])[order] for m in first.attributions},
            completeness=np.concatenate([part.completeness for part in parts])[order] if first.completeness is not None else None,
        )
        return rows, result, joined.meta


class SaliencyWriter:
    """:func:`agn_saliency.explain.maps.write_saliency`'s layout, written a block of spectra at a time
    (:meth:`append`), so that no job holds every map of a shard or of the folder at once.

    ``n_rows`` given: the datasets are created at that size and filled by :meth:`put` at given rows
    (the merge); otherwise they grow with each :meth:`append` (a shard). The file appears under its
    final name only at :meth:`close` (a killed job leaves a ``.*.tmp`` file no rule reads).
    ``direct_chunks``: :meth:`put` writes the maps and fluxes of a file chunked per spectrum with
    :func:`write_row_chunks` (False: h5py's indexed assignment for every dataset)."""

    def __init__(
        self, path: str | os.PathLike[str], attrs: Mapping[str, Any] | None = None, *, n_rows: int | None = None,
        chunk_per_spectrum: bool = False, direct_chunks: bool = True,
    ) -> None:  # fmt: skip
        import tempfile

        from agn_saliency.core.files import remove_leftovers

        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        remove_leftovers(self.path)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(name)
        self.attrs = dict(attrs or {})
        self.n_rows = n_rows
        self.chunk_per_spectrum = chunk_per_spectrum
        self.direct_chunks = direct_chunks
        self.handle: Any = None
        self.first: SaliencyResult | None = None
        self.written = 0

    def _create(self, result: SaliencyResult) -> None:
        import h5py

        from agn_saliency.explain.maps import ATTRIBUTION_DESCRIPTIONS, STRING

        self.first = result
        self.handle = handle = h5py.File(self.tmp, "w")
        size = self.n_rows if self.n_rows is not None else 0

        def dataset(name: str, width: tuple[int, ...], dtype: Any) -> Any:
            per_spectrum = self.chunk_per_spectrum and len(width) >= 1 and name != "probabilities"  # the maps and fluxes
            rows = 1 if per_spectrum else max(1, min(1024, 2**20 // max(1, 4 * int(np.prod(width)))))
            return handle.create_dataset(name, shape=(size, *width), dtype=dtype, chunks=(rows, *width), maxshape=(None, *width))

        for name in ("specid", "true_label", "predicted_label", "file", "key", "survey"):
            dataset(name, (), STRING)
        dataset("probabilities", (len(result.class_names),), np.float64)
        pixels = tuple(result.saliency.shape[1:])
        dataset("saliency", pixels, np.float32).attrs.update(
            {"unit": "", "description": "d probability / d normalised flux (both dimensionless)"}
        )
        dataset("flux", tuple(result.flux.shape[1:]), np.float32)
        handle.create_dataset("wavelength", data=result.wavelength).attrs["unit"] = "Angstrom"
        for method in result.attributions:
            dataset(f"attributions/{method}", pixels, np.float32).attrs.update(
                {"unit": "", "description": ATTRIBUTION_DESCRIPTIONS.get(method, method)}
            )
        if result.completeness is not None:
            dataset("completeness", (), np.float64).attrs["description"] = (
                "integrated gradients: max over classes of |sum of pixels - (p(x) - p(baseline))| / max_k |p_k(x) - p_k(baseline)|"
            )
        handle.attrs["methods"] = list(result.attributions)
        handle.attrs["class_names"] = list(result.class_names)
        for name, value in self.attrs.items():
            handle.attrs[name] = value

    def _columns(self, result: SaliencyResult) -> dict[str, np.ndarray]:
        n = len(result.specid)
        texts = {
            name: np.asarray(getattr(result, name) if getattr(result, name) is not None else [""] * n).astype(str).astype(object)
            for name in ("specid", "true_label", "predicted_label", "file", "key", "survey")
        }
        columns = {**texts, "probabilities": np.asarray(result.probabilities).reshape(n, -1)}
        saliency = result.saliency.astype(np.float32)
        columns |= {"saliency": saliency, "flux": result.flux.astype(np.float32)}
        # the gradient map is usually the saliency array itself: cast once
        columns |= {
            f"attributions/{m}": saliency if maps is result.saliency else maps.astype(np.float32)
            for m, maps in result.attributions.items()
        }
        if result.completeness is not None:
            columns["completeness"] = np.asarray(result.completeness)
        return columns

    def append(self, result: SaliencyResult) -> None:
        """Add ``result``'s spectra after those written so far (a file without ``n_rows``)."""
        if self.handle is None:
            self._create(result)
        n = len(result.specid)
        if not n:
            return
        for name, values in self._columns(result).items():
            data = self.handle[name]
            data.resize(self.written + n, axis=0)
            data[self.written :] = values
        self.written += n

    def put(self, rows: np.ndarray, result: SaliencyResult) -> None:
        """Write ``result``'s spectra at rows ``rows`` (increasing) of a file of ``n_rows`` spectra."""
        if self.handle is None:
            self._create(result)
        if not len(rows):
            return
        for name, values in self._columns(result).items():
            data = self.handle[name]
            if not (self.direct_chunks and write_row_chunks(data, rows, values)):
                data[rows] = values
        self.written += len(rows)

    def close(self, empty: SaliencyResult) -> None:
        """Finish the file (``empty``'s layout when nothing was written) and rename it to its final name."""
        from agn_saliency.core.files import apply_umask

        if self.handle is None:
            self._create(empty)
        self.handle.close()
        apply_umask(self.tmp)
        os.replace(self.tmp, self.path)

    def discard(self) -> None:
        """Remove the unfinished file (an exception in the job)."""
        if self.handle is not None:
            self.handle.close()
        self.tmp.unlink(missing_ok=True)


def write_row_chunks(data: Any, rows: np.ndarray, values: np.ndarray) -> bool:
    """Write ``values[i]`` to row ``rows[i]`` of the h5py dataset ``data`` as that row's whole chunk
    (``DatasetID.write_direct_chunk``): the merge scatters each shard's spectra over the folder's rows,
    and h5py's indexed assignment of scattered rows builds a selection per call and goes through
    HDF5's chunk cache — ≈ 5× slower for maps chunked one spectrum per chunk
    (``benchmarks/merge_maps.py``). Only a dataset chunked one row per chunk, without filters, of a
    native fixed-size numeric type qualifies; otherwise nothing is written and False is returned (the
    caller assigns through h5py). The bytes stored are those h5py would store."""
    shape = data.shape
    if (
        len(shape) < 2
        or data.chunks != (1, *shape[1:])
        or data.dtype.kind not in "fiu"
        or not data.dtype.isnative
        or data.id.get_create_plist().get_nfilters() != 0
    ):
        return False
    rows = np.asarray(rows, dtype=np.int64)
    values = np.ascontiguousarray(values, dtype=data.dtype).reshape(len(rows), *shape[1:])
    if len(rows) and (rows.min() < 0 or rows.max() >= shape[0]):
        raise IndexError(f"rows {rows.min()}..{rows.max()} outside {data.name}'s {shape[0]} rows")
    zeros = (0,) * (len(shape) - 1)
    for row, value in zip(rows.tolist(), values):
        data.id.write_direct_chunk((row, *zeros), value.tobytes())
    return True


def _slice(result: SaliencyResult, start: int, stop: int) -> SaliencyResult:
    """Spectra ``start`` … ``stop`` − 1 of a saliency file's datasets as a :class:`SaliencyResult`."""
    return dataclasses.replace(
        result,
        specid=result.specid[start:stop], true_label=result.true_label[start:stop],
        predicted_label=result.predicted_label[start:stop], probabilities=result.probabilities[start:stop],
        saliency=result.saliency[start:stop], flux=result.flux[start:stop],
        file=None if result.file is None else result.file[start:stop], key=None if result.key is None else result.key[start:stop],
        attributions={m: v[start:stop] for m, v in result.attributions.items()},
        completeness=None if result.completeness is None else result.completeness[start:stop],
        survey=None if result.survey is None else result.survey[start:stop],
    )  # fmt: skip


def _read_block(handle: Any, start: int, stop: int) -> SaliencyResult:
    """Spectra ``start`` … ``stop`` − 1 of an open saliency file (only those read)."""
    methods = [str(m) for m in handle.attrs.get("methods", [])]

    def text(name: str) -> np.ndarray | None:
        return handle[name].asstr()[start:stop] if name in handle else None

    return SaliencyResult(
        specid=text("specid"), true_label=text("true_label"), predicted_label=text("predicted_label"),
        probabilities=handle["probabilities"][start:stop], saliency=handle["saliency"][start:stop],
        flux=handle["flux"][start:stop], wavelength=handle["wavelength"][()],
        class_names=[str(c) for c in handle.attrs["class_names"]], file=text("file"), key=text("key"),
        attributions={m: handle[f"attributions/{m}"][start:stop] for m in methods},
        completeness=handle["completeness"][start:stop] if "completeness" in handle else None, survey=text("survey"),
    )  # fmt: skip


def read_saliency_rows(path: str | os.PathLike[str], rows: Sequence[int]) -> SaliencyResult:
    """Spectra ``rows`` (increasing) of a saliency file, read without the others (a merged
    predict file is chunked per spectrum: each row reads its own chunks only)."""
    import h5py

    index = np.asarray(sorted(rows), dtype=np.int64)
    with h5py.File(path, "r") as handle:
        if not len(index):
            return _read_block(handle, 0, 0)
        methods = [str(m) for m in handle.attrs.get("methods", [])]

        def text(name: str) -> np.ndarray | None:
            return handle[name].asstr()[index] if name in handle else None

        return SaliencyResult(
            specid=text("specid"), true_label=text("true_label"), predicted_label=text("predicted_label"),
            probabilities=handle["probabilities"][index], saliency=handle["saliency"][index], flux=handle["flux"][index],
            wavelength=handle["wavelength"][()], class_names=[str(c) for c in handle.attrs["class_names"]],
            file=text("file"), key=text("key"), attributions={m: handle[f"attributions/{m}"][index] for m in methods},
            completeness=handle["completeness"][index] if "completeness" in handle else None, survey=text("survey"),
        )  # fmt: skip


def saliency_keys(path: str | os.PathLike[str]) -> list[str]:
    """The ``key`` of every spectrum of a saliency file (nothing else read)."""
    import h5py

    with h5py.File(path, "r") as handle:
        return list(handle["key"].asstr()[()]) if "key" in handle else []


PROGRESS_EVERY_S = 5.0
"""A shard job logs its progress (files done / total, rate, ETA) at most this often (and at the end)."""

CHUNK_SECONDS = 2.5
"""A shard job classifies its files in chunks of about this many seconds' work (at its measured
rate; at least :data:`MIN_CHUNK_FILES`, at most :data:`MAX_CHUNK_FILES` files): the progress log's
step, and what bounds its memory — only one chunk's spectra and maps are held at a time."""
FIRST_CHUNK_FILES = 16
"""The first chunk's files (at most :data:`MAX_CHUNK_FILES`): small, so the first maps and rate come early."""
MIN_CHUNK_FILES = 256
"""The later chunks' least size: the AGN gate's batch (:data:`agn_saliency.spectra.gate_batch.CHUNK`),
whose fits cost a Python overhead per iteration whatever the batch's size (chunks of 16 files took
~30 % more CPU)."""
MAX_CHUNK_FILES = 512


@dataclasses.dataclass
class ShardSummary:
    """What :func:`run_shard` did: its rows (spectra) and files, and the rows' counts by ``status``
    and by ``agn_status`` (the rows themselves are in its rows file, never all in memory)."""

    rows: int = 0
    files: int = 0
    status: Counter[str] = dataclasses.field(default_factory=Counter)
    agn_status: Counter[str] = dataclasses.field(default_factory=Counter)

    def __len__(self) -> int:
        return self.rows


def run_shard(
    folder: str | os.PathLike[str],
    shard: int,
    n_shards: int,
    model: Any,
    params: ReductionParameters,
    rows_path: str | os.PathLike[str],
    saliency_path: str | os.PathLike[str],
    *,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    ood_calibration: Mapping[str, Any] | None = None,
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
    meta: Mapping[str, Any] | None = None,
    log: Any = None,
    clock: Any = None,
    files: Sequence[str] | None = None,
    chunk_files: int | None = None,
) -> ShardSummary:
    """:func:`predict_shard` then :func:`write_shard`, in chunks of the shard's files: each chunk's
    maps are appended to ``saliency_path`` (:class:`SaliencyWriter`) and its rows to ``rows_path``
    (:class:`ShardRowsWriter`, JSON Lines) before the next is read, so the job holds one chunk's
    spectra, maps and rows, whatever the shard's size; ``log`` (a :class:`logging.Logger`) gets
    files done / total, rate and ETA every :data:`PROGRESS_EVERY_S` seconds. Both outputs appear
    under their final names only when the whole shard is done (the rows last: a shard with rows is
    finished); until then they are ``.*.tmp`` files beside them. ``files``: the shard's files as
    planned (:func:`shard_scan`); default: searched in ``folder``. ``chunk_files``: that many files
    a chunk (default: about :data:`CHUNK_SECONDS` of work, see :data:`MIN_CHUNK_FILES`)."""
    import time

    if chunk_files is not None and chunk_files < 1:
        raise ValueError(f"chunk_files must be at least 1, got {chunk_files}")
    clock = clock or time.monotonic
    scan = shard_scan(folder, shard, n_shards, files)
    files = sorted(scan.files, key=str)
    total = len(files)
    summary = ShardSummary()
    empty: SaliencyResult | None = None
    start = last_log = clock()
    done, chunk, step = 0, 0, chunk_files or min(FIRST_CHUNK_FILES, MAX_CHUNK_FILES)

    def report(final: bool = False) -> None:
        elapsed = max(clock() - start, 1e-9)
        rate = done / elapsed
        if final:
            when = f"took {elapsed:.0f} s"
        else:
            when = f"ETA {(total - done) / rate:.0f} s" if rate > 0 else "ETA unknown"
        if log is not None:
            log.info(
                "shard %d of %d: %d/%d files (%.0f %%), %.1f files/s, %s",
                shard, n_shards, done, total, 100.0 * done / max(total, 1), rate, when,
            )  # fmt: skip

    report()
    with ShardRowsWriter(rows_path, meta) as rows_out:  # renamed last, after the maps: a shard with rows is finished
        writer = SaliencyWriter(saliency_path)
        try:
            while done < total or (total == 0 and empty is None):
                part = dataclasses.replace(scan, files=files[done : done + step])
                digests: dict[str, str] = {}  # this chunk's files (each hashed once, by classify_files)
                chunk_rows, result = classify_files(
                    folder, model, params, methods=methods, ood_calibration=ood_calibration,
                    low_confidence_p_max=low_confidence_p_max, scan=part, keep_private=True, digests=digests,
                )  # fmt: skip
                # keys are unique within a call: prefixed by the chunk, unique within the shard (the merge renames them)
                for row in chunk_rows:
                    row["key"] = f"{chunk}/{row['key']}"
                if result.key is not None:
                    result = dataclasses.replace(result, key=np.array([f"{chunk}/{k}" for k in result.key], dtype=object))
                writer.append(result)
                rows_out.write(chunk_rows, digests)
                empty = empty or _slice(result, 0, 0)
                summary.status.update(row["status"] for row in chunk_rows)
                summary.agn_status.update(row["agn_status"] for row in chunk_rows)
                del chunk_rows, result  # before the next chunk is read: one chunk in memory at a time
                done += len(part.files)
                chunk += 1
                now = clock()
                if chunk_files is None:
                    step = int(min(MAX_CHUNK_FILES, max(MIN_CHUNK_FILES, CHUNK_SECONDS * done / max(now - start, 1e-9))))
                if now - last_log >= PROGRESS_EVERY_S and done < total:
                    report()
                    last_log = now
                if total == 0:
                    break
            writer.close(empty)
        except BaseException:
            writer.discard()
            raise
    summary.rows, summary.files = rows_out.rows, rows_out.files
    report(final=True)
    return summary


def merge_shard_files(
    folder: str | os.PathLike[str],
    rows_paths: Sequence[str | os.PathLike[str]],
    saliency_paths: Sequence[str | os.PathLike[str]],
    saliency_out: str | os.PathLike[str],
    attrs: Mapping[str, Any] | None = None,
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
    block: int = 256,
) -> JoinedShards:
    """:func:`merge_shards`, streamed: the rows joined as :class:`JoinedShards` (returned open: read
    the table from its :meth:`~JoinedShards.blocks`, then close it) and each shard's saliency file
    copied ``block`` spectra at a time to its rows of ``saliency_out`` (chunked per spectrum)."""
    import h5py

    if len(rows_paths) != len(saliency_paths):
        raise ValueError(f"{len(rows_paths)} row files but {len(saliency_paths)} saliency files")
    joined = JoinedShards(folder, rows_paths, low_confidence_p_max)
    try:
        places = joined.positions()
        # each map's row in the folder, and its rank among the folder's maps (merged in row order)
        spectra: list[np.ndarray] = []
        for j, path in enumerate(saliency_paths):
            with h5py.File(path, "r") as handle:
                shard_keys = handle["key"].asstr()[()] if "key" in handle else []
            spectra.append(np.array([places[j][str(key)] for key in shard_keys], dtype=np.int64))
        del places
        ranked = np.sort(np.concatenate(spectra)) if spectra else np.zeros(0, np.int64)
        writer = SaliencyWriter(saliency_out, attrs, n_rows=len(ranked), chunk_per_spectrum=True)
        empty: SaliencyResult | None = None
        try:
            for j, path in enumerate(saliency_paths):
                targets = np.searchsorted(ranked, spectra[j])
                with h5py.File(path, "r") as handle:
                    for lo in range(0, len(targets), block):
                        part = _read_block(handle, lo, min(lo + block, len(targets)))
                        held = [joined.rows[place] for place in spectra[j][lo : lo + block]]
                        part = dataclasses.replace(
                            part,
                            key=np.array([row["key"] for row in held], dtype=object),
                            file=np.array([row["file"] for row in held], dtype=object),
                        )
                        sub = np.argsort(targets[lo : lo + block], kind="stable")
                        writer.put(targets[lo : lo + block][sub], _take(part, sub))
                    if empty is None:
                        empty = _slice(_read_block(handle, 0, 0), 0, 0)
            writer.close(empty)  # type: ignore[arg-type]
        except BaseException:
            writer.discard()
            raise
    except BaseException:
        joined.close()
        raise
    return joined


def _take(result: SaliencyResult, index: np.ndarray) -> SaliencyResult:
    """The spectra ``index`` of ``result``, in that order."""
    return dataclasses.replace(
        result,
        specid=result.specid[index], true_label=result.true_label[index], predicted_label=result.predicted_label[index],
        probabilities=result.probabilities[index], saliency=result.saliency[index], flux=result.flux[index],
        file=None if result.file is None else result.file[index], key=None if result.key is None else result.key[index],
        attributions={m: v[index] for m, v in result.attributions.items()},
        completeness=None if result.completeness is None else result.completeness[index],
        survey=None if result.survey is None else result.survey[index],
    )  # fmt: skip


FITS_BLOCK_ROWS = 4096
""":func:`write_fits_table` converts this many rows at a time (its memory does not grow with the table)."""


def write_fits_table(fits_path: str | os.PathLike[str], ecsv_path: str | os.PathLike[str], block: int = FITS_BLOCK_ROWS) -> None:
    """predictions.ecsv again as a FITS binary table (astropy; units and descriptions kept), atomically.
    A text column holding characters outside ASCII (FITS text is ASCII) is stored as its UTF-8 bytes.

    Converted ``block`` rows at a time, to the bytes astropy writes for the whole table read at once:
    a first pass learns each text column's width (and whether it needs UTF-8 bytes) and which
    columns have a missing value, a second gives every block those widths and masks, lets astropy
    write it and keeps its rows (the header once, with the table's row count)."""
    import gc
    import warnings

    from astropy.io import fits

    from agn_saliency.core.files import atomic_output

    shape: dict[str, dict[str, Any]] = {}  # per column: masked, text width, UTF-8 bytes and their width
    n_rows = 0
    for table in _ecsv_blocks(ecsv_path, block):
        n_rows += len(table)
        for name in table.colnames:
            column, seen = table[name], shape.setdefault(name, {"masked": False, "width": 0, "utf8": False, "bytes": 0})
            seen["masked"] |= hasattr(column, "mask")
            if column.dtype.kind == "U":
                values = np.asarray(column, dtype=str)
                seen["width"] = max(seen["width"], column.dtype.itemsize // 4)
                seen["utf8"] |= not all(str(value).isascii() for value in values)
                seen["bytes"] = max(seen["bytes"], np.char.encode(values, "utf-8").dtype.itemsize)
        del table
        gc.collect()

    with atomic_output(fits_path) as tmp, open(tmp, "wb") as out:
        data_bytes = 0
        for i, table in enumerate(_ecsv_blocks(ecsv_path, block)):
            with warnings.catch_warnings():  # astropy's warnings (a meta value FITS cannot hold) once, not per block
                if i:
                    warnings.simplefilter("ignore")
                written = _fits_bytes(_shaped(table, shape))
            primary_end = _fits_header_end(written, 0)  # the primary HDU: a header, no data
            header_end = _fits_header_end(written, primary_end)
            header = fits.Header.fromstring(written[primary_end:header_end].decode("ascii"))
            row_bytes = int(header["NAXIS1"])
            if i == 0:
                header["NAXIS2"] = n_rows
                out.write(written[:primary_end] + header.tostring().encode("ascii"))
            out.write(written[header_end : header_end + row_bytes * len(table)])
            data_bytes += row_bytes * len(table)
            del table, written
            gc.collect()  # astropy's tables hold reference cycles: without this each block's arrays stay (+30 MB a block)
        out.write(b"\0" * (-data_bytes % 2880))


def _ecsv_blocks(path: str | os.PathLike[str], block: int) -> Any:
    """The table of an ECSV file ``block`` data lines at a time (each read by astropy with the file's
    header; at least one table, empty for a file without rows)."""
    import itertools
    from itertools import islice

    from astropy.table import Table

    with open(path, encoding="utf-8") as handle:
        header = []
        for line in handle:
            header.append(line)
            if not line.startswith("#"):  # the column names
                break
        for n in itertools.count():
            lines = list(islice(handle, block))
            if lines or not n:
                yield Table.read(header + lines, format="ascii.ecsv")
            if not lines:
                return


def _shaped(table: Any, shape: Mapping[str, Mapping[str, Any]]) -> Any:
    """A block of the table with the whole table's column types: text widths, UTF-8 bytes for text
    outside ASCII, a mask on every column that has a missing value anywhere."""
    from astropy.table import Column, MaskedColumn

    for name in table.colnames:
        column, seen = table[name], shape[name]
        data = np.asarray(column)
        if seen["utf8"]:  # as astropy would write it: UTF-8 bytes, no mask
            encoded = Column(np.char.encode(np.asarray(column, dtype=str), "utf-8").astype(f"S{max(seen['bytes'], 1)}"))
            encoded.description, encoded.unit = column.description, column.unit
            table[name] = encoded
            continue
        if column.dtype.kind == "U":
            data = data.astype(f"U{seen['width']}")
        elif not seen["masked"] or hasattr(column, "mask"):
            continue
        mask = np.asarray(column.mask) if hasattr(column, "mask") else np.zeros(len(column), bool)
        new = MaskedColumn(data, mask=mask) if seen["masked"] else Column(data)
        new.description, new.unit, new.meta = column.description, column.unit, column.meta
        table[name] = new
    return table


def _fits_bytes(table: Any) -> bytes:
    import io

    buffer = io.BytesIO()
    table.write(buffer, format="fits")
    return buffer.getvalue()


def _fits_header_end(data: bytes, start: int) -> int:
    """Where the FITS header starting at ``start`` ends (its END card's 2880-byte block)."""
    for card in range(start, len(data), 80):
        if data[card : card + 8] == b"END     ":
            return card + 80 + (-(card + 80) % 2880)
    raise ValueError("no END card in the FITS header")


FIGURE_CHOICES = ("all", "none", "selection")
"""``predict.figures``: a figure per accepted file, none, or a capped selection (:func:`figure_selection`)."""


def figure_selection(rows: Sequence[Mapping[str, Any]], figures: str, max_figures: int, seed: int) -> list[str]:
    """The keys of the files predict draws a saliency figure for (only files with maps: not rejected).

    ``selection`` takes at most ``max_figures``, in this order: out-of-distribution files (highest
    ``ood_score`` first), then those the AGN gate calls ``uncertain``, then low-confidence ones
    (lowest ``p_max`` first), then a random sample (``seed``) of the rest. Returned in path order.

    >>> rows = [{"key": k, "status": s, "agn_status": a, "confidence": c, "p_max": p, "ood_score": o}
    ...         for k, s, a, c, p, o in [("a", "ok", "agn", "high", 0.9, 1.0), ("b", "ood", "agn", "high", 0.9, 9.0),
    ...                                  ("c", "ok", "uncertain", "high", 0.8, 1.0), ("d", "ok", "agn", "low", 0.4, 1.0),
    ...                                  ("e", "rejected", "uncertain", "", "", "")]]
    >>> figure_selection(rows, "selection", 3, 0), figure_selection(rows, "all", 0, 0), figure_selection(rows, "none", 9, 0)
    (['b', 'c', 'd'], ['a', 'b', 'c', 'd'], [])
    """
    if figures not in FIGURE_CHOICES:
        raise ValueError(f"predict.figures must be one of {FIGURE_CHOICES}, got {figures!r}")
    accepted = [row for row in rows if row["status"] != "rejected"]
    if figures == "none":
        return []
    if figures == "all":
        return [str(row["key"]) for row in accepted]
    ood = sorted((r for r in accepted if r["status"] == "ood"), key=lambda r: -float(r["ood_score"]))
    rest = [r for r in accepted if r["status"] != "ood"]
    uncertain = [r for r in rest if r["agn_status"] == "uncertain"]
    rest = [r for r in rest if r["agn_status"] != "uncertain"]
    low = sorted((r for r in rest if r["confidence"] == "low"), key=lambda r: float(r["p_max"]))
    rest = [r for r in rest if r["confidence"] != "low"]
    shuffled = [rest[i] for i in np.random.default_rng(seed).permutation(len(rest))]
    chosen = {str(r["key"]) for r in (ood + uncertain + low + shuffled)[: max(int(max_figures), 0)]}
    return [str(row["key"]) for row in accepted if str(row["key"]) in chosen]
