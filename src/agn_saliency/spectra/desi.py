"""Read DESI coadd and spectra files: one spectrum per usable FIBERMAP row, arms merged.

DESI data model (https://desidatamodel.readthedocs.io, files ``coadd-*.fits`` and ``spectra-*.fits``
of a healpix ``healpix/<survey>/<program>/<group>/<healpix>/`` folder or of a tile folder; checked on
the EDR and DR1 slices in ``../shared/data/desi_real``):

* ``FIBERMAP`` (one row per target): ``TARGETID`` (negative = no target: an unassigned or broken
  positioner), ``OBJTYPE`` (``TGT``, ``SKY``; empty for unassigned rows), ``COADD_FIBERSTATUS``
  (coadds; ``FIBERSTATUS`` in the per-exposure spectra format; ≠ 0 = a bad fibre).
* ``B_/R_/Z_WAVELENGTH`` (vacuum, barycentric, linear 0.8 Å; B 3600–5800, R 5760–7620, Z 7520–9824 Å:
  the arms overlap), ``<arm>_FLUX`` (targets × pixels, 1e-17 erg/(s cm2 Angstrom)), ``<arm>_IVAR``
  and ``<arm>_MASK`` (≠ 0 = bad pixel). ``<arm>_RESOLUTION`` is not read.
* Redshifts are not in the file: they sit in ``redrock-<same>.fits`` (HDU ``REDSHIFTS``: TARGETID,
  Z, ZERR, ZWARN, SPECTYPE, SUBTYPE) in the same folder, or ``zbest-<same>.fits`` (HDU ``ZBEST``) in
  older productions. Without either, the redshift must come from the catalog.

The three arms are merged onto one wavelength array (the arms share DESI's 0.8 Å grid, so a pixel of
one arm is a pixel of another where they overlap): in an overlap the flux is the inverse-variance
weighted mean ``Σ ivar·f / Σ ivar`` and the inverse variance the sum; a pixel whose ``MASK`` is not 0
counts with ivar 0 (when every arm is bad there, the merged pixel has ivar 0 and the reduction masks
it). The merged spectrum is the same :class:`~agn_saliency.spectra.sdss.Spectrum` the SDSS readers
return, in the same units (vacuum wavelengths: no air-to-vacuum conversion is needed, as for SDSS),
with ``survey = "desi"`` and ``plate = mjd = fiberid = -1``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agn_saliency.io import fits
from agn_saliency.spectra.sdss import Spectrum, SpectrumReadError

__all__ = [
    "ARMS",
    "DesiRow",
    "Redshift",
    "is_desi",
    "is_redshift_file",
    "merge_arms",
    "read_desi",
    "read_redshifts",
    "redshift_file_for",
]

ARMS = ("B", "R", "Z")
"""DESI spectrograph arms, blue to red."""

REDSHIFT_HDUS = ("REDSHIFTS", "ZBEST")
"""Redrock's table of redshifts (``redrock-*.fits``), and its older name (``zbest-*.fits``)."""

_SPECTRA_NAME = re.compile(r"^(coadd|spectra)-(.+)$")


@dataclass(frozen=True)
class Redshift:
    """One redrock answer for a target."""

    z: float
    z_err: float
    zwarn: int
    spectype: str
    subtype: str


@dataclass
class DesiRow:
    """One FIBERMAP row of a DESI file: its spectrum, or why it has none (``reason``)."""

    file_row: int  # 0-based row of FIBERMAP
    targetid: int
    spectrum: Spectrum | None
    reason: str = ""


def is_desi(hdus: list[fits.HDU]) -> bool:
    """Whether parsed HDUs are a DESI coadd or spectra file (a FIBERMAP table and B/R/Z arms)."""
    names = {hdu.name.upper() for hdu in hdus}
    return "FIBERMAP" in names and any(f"{arm}_FLUX" in names for arm in ARMS)


def is_redshift_file(hdus: list[fits.HDU]) -> bool:
    """Whether parsed HDUs are a DESI redrock / zbest redshift file (no spectra)."""
    names = {hdu.name.upper() for hdu in hdus}
    return bool(names & set(REDSHIFT_HDUS)) and not any(f"{arm}_FLUX" in names for arm in ARMS)


def redshift_file_for(path: str | os.PathLike[str]) -> Path | None:
    """The ``redrock-<name>`` (else ``zbest-<name>``) file beside a ``coadd-<name>`` or
    ``spectra-<name>`` file, if it exists."""
    path = Path(path)
    match = _SPECTRA_NAME.match(path.name)
    if not match:
        return None
    for prefix in ("redrock", "zbest"):
        candidate = path.with_name(f"{prefix}-{match[2]}")
        if candidate.is_file():
            return candidate
    return None


def read_redshifts(source: str | os.PathLike[str] | bytes) -> dict[int, Redshift]:
    """TARGETID → :class:`Redshift` from a redrock (``REDSHIFTS``) or zbest (``ZBEST``) file.

    Raises
    ------
    SpectrumReadError
        Not a FITS file, beyond the read limits, or without a REDSHIFTS/ZBEST table with TARGETID and Z.
    """
    try:
        hdus = fits.read_hdus(source)
    except fits.FitsFormatError as error:
        raise SpectrumReadError(f"redshift file: {error}") from error
    except OSError as error:
        raise SpectrumReadError(f"redshift file unreadable: {error.strerror or error}") from error
    table = next((hdu for hdu in hdus if hdu.name.upper() in REDSHIFT_HDUS and hdu.is_table), None)
    if table is None or not {"TARGETID", "Z"} <= set(table.column_names):
        raise SpectrumReadError("redshift file without a REDSHIFTS/ZBEST table of TARGETID and Z")
    names = set(table.column_names)
    n = len(table.column("TARGETID"))

    def column(name: str, default: object) -> np.ndarray:
        return table.column(name) if name in names else np.full(n, default)

    targetid, z = table.column("TARGETID"), table.column("Z")
    z_err, zwarn = column("ZERR", np.nan), column("ZWARN", -1)
    spectype, subtype = column("SPECTYPE", ""), column("SUBTYPE", "")
    return {
        int(t): Redshift(float(zz), float(e), int(w), str(s).strip(), str(u).strip())
        for t, zz, e, w, s, u in zip(targetid, z, z_err, zwarn, spectype, subtype)
    }


def merge_arms(
    wavelengths: list[np.ndarray], fluxes: list[np.ndarray], ivars: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Merge spectrograph arms (blue to red) onto one wavelength array by inverse-variance weighting.

    The arms must share one linear grid (DESI's 0.8 Å): every pixel of an arm falls on a pixel of the
    merged grid (within 1e-3 of a step). Bad pixels must already have ivar 0.

    Returns
    -------
    wavelength, flux, ivar
        ``flux`` is ``Σ ivar·f / Σ ivar`` where ``Σ ivar > 0``, else the plain mean of the arms there
        (ivar 0: masked by the reduction); ``ivar`` is ``Σ ivar``.

    Raises
    ------
    SpectrumReadError
        The arms are not on one linear grid.
    """
    step = float(np.median(np.diff(wavelengths[0])))
    if not step > 0:
        raise SpectrumReadError("not a DESI spectrum: the blue arm's wavelengths do not increase")
    start = min(float(w[0]) for w in wavelengths)
    indices = []
    for arm, w in zip(ARMS, wavelengths):
        position = (np.asarray(w, np.float64) - start) / step
        index = np.rint(position).astype(np.int64)
        if np.abs(position - index).max(initial=0) > 1e-3 or (len(index) > 1 and np.any(np.diff(index) != 1)):
            raise SpectrumReadError(f"not a DESI spectrum: arm {arm} is not on the {step:g} Å grid of the blue arm")
        indices.append(index)
    n = int(max(index[-1] for index in indices)) + 1
    wavelength = np.full(n, np.nan)
    weighted = np.zeros(n)
    plain = np.zeros(n)
    count = np.zeros(n)
    total = np.zeros(n)
    for index, w, f, iv in zip(indices, wavelengths, fluxes, ivars):
        empty = np.isnan(wavelength[index])
        wavelength[index[empty]] = w[empty]  # the bluest arm's value of a shared pixel
        weighted[index] += iv * f
        total[index] += iv
        plain[index] += f
        count[index] += 1
    if np.isnan(wavelength).any():
        raise SpectrumReadError("not a DESI spectrum: a gap between arms")
    flux = np.where(total > 0, weighted / np.where(total > 0, total, 1.0), plain / np.maximum(count, 1))
    return wavelength, flux, total


def _header_text(header: Mapping[str, object], key: str) -> str:
    value = header.get(key)
    return "" if value is None else str(value).strip()


def read_desi(
    source: str | os.PathLike[str],
    hdus: list[fits.HDU] | None = None,
    redshifts: Mapping[int, Redshift] | None = None,
) -> tuple[list[DesiRow], str]:
    """Every FIBERMAP row of a DESI coadd or spectra file: a spectrum, or the reason it has none.

    Parameters
    ----------
    source
        The file.
    hdus
        Its parsed HDUs (:func:`agn_saliency.io.fits.read_hdus`) when the caller has them.
    redshifts
        TARGETID → redshift; default: the file's redrock/zbest file (:func:`redshift_file_for`),
        none when there is none (the catalog must then give z; the reduction rejects the rest).

    Returns
    -------
    rows, note
        One :class:`DesiRow` per FIBERMAP row, in file order: rejected (``spectrum`` None) with
        ``no target (TARGETID … < 0)``, ``sky fibre (OBJTYPE SKY)`` or ``bad fibre (COADD_FIBERSTATUS
        = …)``; ``note`` says where redshifts came from (``redrock-….fits``) or why there are none.

    Raises
    ------
    SpectrumReadError
        The file as a whole cannot be read (not FITS, beyond the limits, no FIBERMAP, arms missing
        or of the wrong shape).
    """
    if hdus is None:
        try:
            hdus = fits.read_hdus(source)
        except fits.FitsFormatError as error:
            raise SpectrumReadError(str(error)) from error
        except OSError as error:
            raise SpectrumReadError(f"unreadable: {error.strerror or error}") from error
    by_name = {hdu.name.upper(): hdu for hdu in hdus}
    fibermap = by_name.get("FIBERMAP")
    if fibermap is None or not fibermap.is_table or "TARGETID" not in fibermap.column_names:
        raise SpectrumReadError("not a DESI spectrum: no FIBERMAP table with TARGETID")
    columns = set(fibermap.column_names)
    targetid = fibermap.column("TARGETID").astype(np.int64)
    n = len(targetid)
    objtype = fibermap.column("OBJTYPE") if "OBJTYPE" in columns else np.full(n, "")
    status_name = "COADD_FIBERSTATUS" if "COADD_FIBERSTATUS" in columns else "FIBERSTATUS"
    status = fibermap.column(status_name).astype(np.int64) if status_name in columns else np.zeros(n, np.int64)
    coadd = status_name == "COADD_FIBERSTATUS"
    arms = [arm for arm in ARMS if f"{arm}_FLUX" in by_name]
    missing = [f"{arm}_{part}" for arm in arms for part in ("WAVELENGTH", "FLUX", "IVAR") if f"{arm}_{part}" not in by_name]
    if missing or not arms:
        raise SpectrumReadError(f"not a DESI spectrum: no {', '.join(missing) or 'B/R/Z arms'}")
    wavelengths, fluxes, ivars = [], [], []
    for arm in arms:
        wavelength = by_name[f"{arm}_WAVELENGTH"].image().astype(np.float64)
        flux = np.atleast_2d(by_name[f"{arm}_FLUX"].image()).astype(np.float64)
        ivar = np.atleast_2d(by_name[f"{arm}_IVAR"].image()).astype(np.float64)
        mask = by_name.get(f"{arm}_MASK")
        bad = np.atleast_2d(mask.image()) != 0 if mask is not None else np.zeros(flux.shape, bool)
        if wavelength.ndim != 1 or flux.shape != (n, wavelength.size) or ivar.shape != flux.shape or bad.shape != flux.shape:
            raise SpectrumReadError(
                f"not a DESI spectrum: arm {arm} has wavelength {wavelength.shape}, flux {flux.shape}, ivar {ivar.shape}, "
                f"mask {bad.shape} for {n} FIBERMAP rows"
            )
        with np.errstate(invalid="ignore"):
            ivar = np.where(bad | ~np.isfinite(ivar) | ~np.isfinite(flux) | (ivar < 0), 0.0, ivar)  # MASK ≠ 0: ivar 0
        wavelengths.append(wavelength)
        fluxes.append(np.where(np.isfinite(flux), flux, 0.0))
        ivars.append(ivar)
    primary = hdus[0].header
    desi_survey, program = _header_text(primary, "SURVEY"), _header_text(primary, "PROGRAM")
    healpix_value = primary.get("HPXPIXEL")
    healpix = int(healpix_value) if isinstance(healpix_value, (int, np.integer)) else -1
    note = "redshifts given"
    if redshifts is None:
        redshift_path = redshift_file_for(source) if not isinstance(source, (bytes, bytearray)) else None
        if redshift_path is None:
            redshifts, note = {}, "no redrock-/zbest- file of the same name beside it"
        else:
            try:
                redshifts, note = read_redshifts(redshift_path), f"redshifts from {redshift_path.name}"
            except SpectrumReadError as error:
                redshifts, note = {}, f"{redshift_path.name}: {error}"
    rows: list[DesiRow] = []
    for i in range(n):
        tid = int(targetid[i])
        if tid < 0:
            rows.append(DesiRow(i, tid, None, f"no target (TARGETID {tid} < 0: unassigned or broken positioner)"))
            continue
        if str(objtype[i]).strip().upper() == "SKY":
            rows.append(DesiRow(i, tid, None, "sky fibre (OBJTYPE SKY)"))
            continue
        if status[i] != 0:
            rows.append(DesiRow(i, tid, None, f"bad fibre ({status_name} = {int(status[i])})"))
            continue
        wavelength, flux, ivar = merge_arms(wavelengths, [f[i] for f in fluxes], [v[i] for v in ivars])
        answer = redshifts.get(tid)
        spectrum = Spectrum(
            wavelength=wavelength,
            flux=flux,
            ivar=ivar,
            and_mask=np.zeros(wavelength.size, np.int64),  # DESI MASK is applied as ivar 0 above
            plate=-1,
            mjd=-1,
            fiberid=-1,
            z=answer.z if answer else float("nan"),
            run2d="",
            sdss_class=answer.spectype if answer else "",
            sdss_subclass=answer.subtype if answer else "",
            file_format="desi-coadd" if coadd else "desi-spectra",
            z_err=answer.z_err if answer else float("nan"),
            zwarning=answer.zwarn if answer else -1,
            survey="desi",
            targetid=tid,
            desi_survey=desi_survey,
            program=program,
            healpix=healpix,
        )
        rows.append(DesiRow(i, tid, spectrum, "" if answer else f"redshift missing (TARGETID {tid}: {note}; no catalog z)"))
    return rows, note
