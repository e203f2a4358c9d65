"""Predict at survey scale: :func:`agn_saliency.predict.folder.classify_folder`'s rows and maps, faster.

The same table and maps as ``classify_folder`` (same columns, same order, same reasons), computed

* with every file read once: the spectrum and its SPZLINE table come from one
  :func:`agn_saliency.io.fits.read_hdus` call (``classify_folder`` reads SPZLINE a second time
  through ``astropy.table``, ~30–40 ms a file), and the inventory row of a file (which parses its
  headers: is it an SDSS-V file?) is made just before the file is reduced, so that both use the
  bytes and headers :mod:`agn_saliency.io.fits` keeps of the last file read (scanning all files
  first parsed each file twice: ~0.4 ms a spectrum);
* with the AGN gate's region fits done for all spectra of the call together
  (:func:`agn_saliency.spectra.gate_batch.assess_spectra`; the same verdicts on the real files);
* with only the attribution methods asked for (``predict.methods``, default
  :data:`DEFAULT_METHODS`), all spectra of the call in one batch.

Rows are ``classify_folder``'s: one per spectrum (an SDSS or SDSS-V file, each FIBERMAP row of a
DESI coadd or spectra file, :func:`agn_saliency.spectra.files.read_file`), with ``survey`` and
``specid``. ``files`` restricts the call to some of the folder's files (a shard: always whole files,
so all targets of a DESI file are in one call); ``duplicate_of`` then only sees the files of the call.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from agn_saliency.acquire.inventory import FolderScan, file_row, folder_scan
from agn_saliency.core.names import escape_name, unescape_name
from agn_saliency.explain.maps import SaliencyResult
from agn_saliency.io import fits
from agn_saliency.predict.folder import (
    DEFAULT_LOW_CONFIDENCE_P_MAX,
    file_digest,
    prediction_rows,
    public_rows,
)
from agn_saliency.spectra.files import FileRead, read_file
from agn_saliency.spectra.gate import unassessed
from agn_saliency.spectra.gate_batch import assess_spectra, spzline_from_hdus
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory
from agn_saliency.spectra.sdss import SdssSpectrum

DEFAULT_METHODS: tuple[str, ...] = ("gradient", "logit_gradient")
"""``predict.methods``' default: the paper's gradient ∂p/∂flux and the log-odds gradient (together
< 1 ms a spectrum); every method of ``explain.methods`` on request."""


class _ReadOnce:
    """Reads each file once (:func:`agn_saliency.spectra.files.read_file`): an SDSS file's spectrum and
    SPZLINE table kept for the gate (from the same bytes), a DESI file's ids and layout kept for its rows."""

    def __init__(self) -> None:
        self.spectra: dict[str, SdssSpectrum] = {}
        self.spzline: dict[str, Any] = {}
        self.desi_ids: dict[str, dict[str, Any]] = {}
        self.digests: dict[str, str] = {}

    def __call__(self, path: Path) -> FileRead:
        try:
            read = read_file(path)  # raises SpectrumReadError for a file it cannot read
        finally:  # the digest of the bytes just read, while agn_saliency.io.fits still holds them
            digest = fits.last_file_digest(path)
            if digest is not None:
                self.digests[str(path)] = digest
        if read.kind == "sdss" and read.items and read.items[0].spectrum is not None:
            self.spectra[str(path)] = read.items[0].spectrum
            try:  # the file's bytes are still cached by agn_saliency.io.fits: not read from disk again
                self.spzline[str(path)] = spzline_from_hdus(fits.read_hdus(path, max_hdus=4), path)
            except Exception:  # noqa: BLE001 - the cross-check is optional; the spectrum was readable
                self.spzline[str(path)] = None
        elif read.kind == "desi":
            first = read.items[0] if read.items else None
            ids = first.ids if first is not None else {}
            self.desi_ids[str(path)] = {
                "desi_survey": ids.get("desi_survey", ""),
                "program": ids.get("program", ""),
                "healpix": ids.get("healpix", ""),
                "file_format": first.file_format if first is not None else "",
            }
        return read

    def desi(self, path: str) -> dict[str, Any]:
        """DESI survey, program, healpix and layout of a DESI file read by this reader (empty values otherwise)."""
        return self.desi_ids.get(path, {"desi_survey": "", "program": "", "healpix": "", "file_format": ""})


class _InventoryAsRead(Sequence[dict[str, Any]]):
    """:func:`agn_saliency.acquire.inventory.scan_folder`'s rows (no catalog) of ``scan``'s files, sorted
    by path, each made when first asked for: the reduction asks for them in order, so a file's row
    (whose scan parses its headers) is made just before the file is read, and the read finds the
    file's bytes and HDUs in :mod:`agn_saliency.io.fits`' cache of the last file. Without a catalog
    a file's row depends on that file only (``row`` is its number among the scan's spectrum files)."""

    def __init__(self, folder: str | os.PathLike[str], scan: FolderScan, files: Collection[str] | None) -> None:
        self.folder = folder
        self.scan = scan
        spectrum_files = scan.spectrum_files
        self.number = {path: number for number, path in enumerate(spectrum_files, start=1)}
        wanted = set(files) if files is not None else None
        self.paths = sorted((path for path in spectrum_files if wanted is None or escape_name(str(path)) in wanted), key=str)
        self.rows: list[dict[str, Any] | None] = [None] * len(self.paths)

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = self.rows[index]
        if row is None:
            path = self.paths[index]
            row = self.rows[index] = file_row(path, self.number[path])
        return row

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self[i] for i in range(len(self)))


def classify_files(
    folder: str | os.PathLike[str],
    model: Any,
    params: ReductionParameters,
    *,
    methods: Mapping[str, Mapping[str, Any]] | None = None,
    ood_calibration: Mapping[str, Any] | None = None,
    low_confidence_p_max: float = DEFAULT_LOW_CONFIDENCE_P_MAX,
    files: Collection[str] | None = None,
    scan: FolderScan | None = None,
    keep_private: bool = False,
    digests: dict[str, str] | None = None,
) -> tuple[list[dict[str, Any]], SaliencyResult]:
    """:func:`agn_saliency.predict.folder.classify_folder`, read once, gated fast (see the module docstring).

    Parameters
    ----------
    methods
        Attribution method → options; default :data:`DEFAULT_METHODS` with default options.
    files
        Escaped paths (as the inventory writes them) of the folder's files to classify; default all.
    scan
        The files to classify as a :class:`agn_saliency.acquire.inventory.FolderScan` (a shard's),
        instead of searching ``folder``.
    keep_private
        Keep each row's ``_file_row`` and ``_format`` (what :func:`agn_saliency.predict.shards.merge_shards`
        needs to redo ``duplicate_of`` and ``key`` over the whole folder).
    digests
        Filled with each file's content digest (:func:`agn_saliency.predict.folder.file_digest`, ``""`` for a
        file the inventory cannot use) by escaped path, as the rows' ``file``: what a shard keeps,
        so that no file is hashed twice.

    Returns
    -------
    rows, result
        As ``classify_folder``.
    """
    if not Path(folder).is_dir():
        raise FileNotFoundError(f"local folder {folder} does not exist or is not a folder")
    inventory = _InventoryAsRead(folder, scan or folder_scan(folder), files)
    reader = _ReadOnce()
    verdicts: dict[tuple[str, str, str], dict[str, Any]] = {}

    to_gate: list[tuple[tuple[str, str, str], Any, float, Any]] = []

    def gate(spectrum: Any, z: float, path: Path) -> None:  # collected here, gated all together below
        spzline = reader.spzline.get(str(path)) if spectrum.survey == "sdss" else None  # DESI, SDSS-V: no SPZLINE
        to_gate.append(((str(path), spectrum.survey, spectrum.specid), spectrum, z, spzline))

    reduced = reduce_inventory(inventory, dataclasses.replace(params, agn_gate=False), gate=gate, reader=reader)
    gated = assess_spectra([item[1] for item in to_gate], [item[2] for item in to_gate], [item[3] for item in to_gate])
    verdicts.update((item[0], verdict) for item, verdict in zip(to_gate, gated))

    # SDSS spectra read, then rejected by the reduction: gated at their files' own redshifts, all
    # together (assess_spectra: the same fits as assess_spectrum with fit_region, batched)
    read_rejected = [
        path
        for path in dict.fromkeys(unescape_name(str(record["source_file"])) for record in reduced.rejected)
        if path in reader.spectra
    ]
    spectra = [reader.spectra[path] for path in read_rejected]
    verdicts_of_rejected = assess_spectra(
        spectra, [spectrum.z for spectrum in spectra], [reader.spzline.get(path) for path in read_rejected]
    )
    rejected_verdicts = dict(zip(read_rejected, verdicts_of_rejected))

    def gate_rejected(record: Mapping[str, Any], source: Mapping[str, Any], survey: str) -> dict[str, Any]:
        path = unescape_name(source["path"])
        if survey == "sdss" and path in rejected_verdicts:  # every SDSS file read and rejected is in there
            return dict(rejected_verdicts[path])
        return unassessed(record["reason"])  # unreadable (never read twice), or a DESI/SDSS-V row without a usable spectrum

    def digest(path: str) -> str:  # of the bytes read (unchanged since), else read again
        return reader.digests.get(path) or file_digest(path)

    digest_of = {str(row["path"]): digest(unescape_name(row["path"])) if row["status"] == "ok" else "" for row in inventory}
    if digests is not None:
        digests.update(digest_of)
    rows, result = prediction_rows(
        folder, model, params, inventory, reduced, verdicts, methods if methods is not None else {name: {} for name in DEFAULT_METHODS},
        ood_calibration, low_confidence_p_max, desi_ids=lambda path: reader.desi(unescape_name(path)), gate_rejected=gate_rejected,
        digest_of=digest_of,
    )  # fmt: skip
    return (rows if keep_private else public_rows(rows)), result
