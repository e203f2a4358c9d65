"""Predict at survey scale: :func:`agn_saliency.predict.folder.classify_folder`'s rows and maps, faster.

The same table and maps as ``classify_folder`` (same columns, same order, same reasons), computed

* with every file read once: the spectrum and its SPZLINE table come from one
  :func:`agn_saliency.io.fits.read_hdus` call (``classify_folder`` reads SPZLINE a second time
  through ``astropy.table``, ~30–40 ms a file);
* with the AGN gate's region fits batched over their grids and given analytic Jacobians
  (:func:`agn_saliency.spectra.gate_batch.fit_region`; the same verdicts on the real files);
* with only the attribution methods asked for (``predict.methods``, default
  :data:`DEFAULT_METHODS`), all spectra of the call in one batch.

``files`` restricts the call to some of the folder's files (a shard); ``duplicate_of`` then only
sees the files of the call.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.acquire.inventory import FolderScan, file_keys, scan_folder
from agn_saliency.core.names import unescape_name
from agn_saliency.core.vocabulary import display_order
from agn_saliency.explain.maps import SaliencyResult, explain_spectra
from agn_saliency.io import fits
from agn_saliency.predict.folder import (
    DEFAULT_LOW_CONFIDENCE_P_MAX,
    add_verdicts,
    file_sha256,
    ood_verdicts,
    repeated_spectra,
)
from agn_saliency.spectra.gate import assess_spectrum, unassessed
from agn_saliency.spectra.gate_batch import fit_region, spzline_from_hdus
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory
from agn_saliency.spectra.sdss import SdssSpectrum, SpectrumReadError, spectrum_from_hdus

DEFAULT_METHODS: tuple[str, ...] = ("gradient", "logit_gradient")
"""``predict.methods``' default: the paper's gradient ∂p/∂flux and the log-odds gradient (together
< 1 ms a spectrum); every method of ``explain.methods`` on request."""


class _ReadOnce:
    """Reads each file once: the spectrum for the reduction, SPZLINE kept for the gate."""

    def __init__(self) -> None:
        self.spectra: dict[str, SdssSpectrum] = {}
        self.spzline: dict[str, Any] = {}

    def __call__(self, path: Path) -> SdssSpectrum:
        try:
            hdus = fits.read_hdus(path, max_hdus=4)
        except fits.FitsFormatError as error:
            raise SpectrumReadError(str(error)) from error
        except OSError as error:
            raise SpectrumReadError(f"unreadable: {error.strerror or error}") from error
        spectrum = spectrum_from_hdus(hdus)
        self.spectra[str(path)] = spectrum
        try:
            self.spzline[str(path)] = spzline_from_hdus(hdus, path)
        except Exception:  # noqa: BLE001 - the cross-check is optional; the spectrum was readable
            self.spzline[str(path)] = None
        return spectrum


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

    Returns
    -------
    rows, result
        As ``classify_folder``.
    """
    inventory = sorted(scan_folder(folder, scan=scan), key=lambda row: unescape_name(row["path"]))
    if files is not None:
        wanted = set(files)
        inventory = [row for row in inventory if str(row["path"]) in wanted]
    paths = [str(row["path"]) for row in inventory]
    keys = dict(zip(paths, file_keys(folder, [unescape_name(path) for path in paths])))
    ids = [(int(row["plate"]), int(row["mjd"]), int(row["fiberid"])) if row["plate"] != "" else None for row in inventory]
    digests = [file_sha256(unescape_name(row["path"])) if row["status"] == "ok" else "" for row in inventory]
    duplicate_of = dict(zip(paths, repeated_spectra(paths, ids, digests)))
    reader = _ReadOnce()
    verdicts: dict[str, dict[str, Any]] = {}

    def gate(spectrum: SdssSpectrum, z: float, path: Path) -> None:
        verdicts[str(path)] = assess_spectrum(spectrum, z, reader.spzline.get(str(path)), fitter=fit_region)

    reduced = reduce_inventory(inventory, dataclasses.replace(params, agn_gate=False), gate=gate, reader=reader)
    n_features = getattr(model, "n_features_in_", reduced.flux.shape[1])
    if n_features != params.n_pixels:
        raise ValueError(
            f"the model expects {n_features} pixels, the reduction grid has {params.n_pixels}: use the training run's reduce settings"
        )
    classes = display_order([str(c) for c in model.classes_])
    chosen = methods if methods is not None else {name: {} for name in DEFAULT_METHODS}
    probabilities, gradient, maps, completeness = explain_spectra(model, reduced.flux, classes, chosen)
    scores, ood_reasons = ood_verdicts(model, reduced.flux, ood_calibration)
    predicted = (
        np.array(classes, dtype=object)[probabilities.argmax(axis=1)] if len(probabilities) else np.array([], dtype=object)
    )
    sources = [str(source) for source in reduced.meta["source_file"]]
    rows: list[dict[str, Any]] = []
    for i, source in enumerate(sources):
        rows.append(
            {
                "file": source,
                "key": keys[source],
                "plate": int(reduced.meta["plate"][i]),
                "mjd": int(reduced.meta["mjd"][i]),
                "fiberid": int(reduced.meta["fiberid"][i]),
                "z": round(float(reduced.meta["z"][i]), 5),
                "status": "ood" if ood_reasons[i] else "ok",
                "reason": ood_reasons[i],
                "duplicate_of": duplicate_of[source],
                "predicted": predicted[i],
                **{f"p_{c}": round(float(probabilities[i, k]), 4) for k, c in enumerate(classes)},
                "ood_score": round(float(scores[i]), 4),
                **verdicts[unescape_name(source)],
            }
        )
    by_file = {str(row["path"]): row for row in inventory}
    for record in reduced.rejected:
        source = by_file[str(record["source_file"])]
        path = unescape_name(source["path"])
        spectrum = reader.spectra.get(path)
        if spectrum is not None:  # read, then rejected by the reduction: gated at the file's own redshift
            gated = assess_spectrum(spectrum, spectrum.z, reader.spzline.get(path), fitter=fit_region)
        else:
            gated = unassessed(record["reason"])
        rows.append(
            {
                "file": source["path"],
                "key": keys[source["path"]],
                "plate": source["plate"],
                "mjd": source["mjd"],
                "fiberid": source["fiberid"],
                "z": "",
                "status": "rejected",
                "reason": record["reason"],
                "duplicate_of": duplicate_of[source["path"]],
                "predicted": "",
                **gated,
            }
        )
    rows.sort(key=lambda row: unescape_name(row["file"]))
    add_verdicts(rows, low_confidence_p_max)
    if len(rows) != len(inventory) or len({row["key"] for row in rows}) != len(rows):
        raise RuntimeError(f"{folder}: {len(inventory)} files gave {len(rows)} prediction rows")
    result = SaliencyResult(
        reduced.meta["specid"].astype(str),
        np.full(len(predicted), "", dtype=object),
        predicted,
        probabilities,
        gradient,
        reduced.flux,
        params.wavelength(),
        classes,
        file=np.array(sources, dtype=object),
        key=np.array([keys[s] for s in sources], dtype=object),
        attributions=maps,
        completeness=completeness,
    )
    return rows, result
