"""Read every supported SDSS spectrum format into one structure; write DR8+ spec-lite files.

Formats (SDSS DR17 data model, https://data.sdss.org/datamodel/files/BOSS_SPECTRO_REDUX/RUN2D/spectra/PLATE4/spec.html;
DR7: https://classic.sdss.org/dr7/dm/flatFiles/spSpec.html):

* DR8+ ``spec-PPPP-MMMMM-FFFF.fits`` and spec-lite: HDU1 ``COADD`` (flux, loglam, ivar, and_mask,
  …), HDU2 ``SPECOBJ`` (SDSS-I/II) or ``SPALL`` (BOSS/eBOSS); full files add per-exposure HDUs,
  which are never parsed here.
* DR7 ``spSpec-MMMMM-PPPP-FFF.fit``: primary image, row 0 flux, row 2 (when present) the error,
  row 3 the pixel mask; wavelength = 10**(COEFF0 + COEFF1·i).

Any of them may be gzip- or bzip2-compressed (``.fits.gz``, ``.fit.gz``, ``.fits.bz2``):
:func:`agn_saliency.io.fits.read_hdus` decompresses them.

Units at this boundary: wavelength in Å (vacuum, observed frame); flux in 1e-17 erg/s/cm²/Å.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.core.identity import spectrum_id
from agn_saliency.core.units import SDSS_FLUX_UNIT, SDSS_IVAR_UNIT
from agn_saliency.io import fits

SAS_SPEC_LITE_PATH = {
    # SDSS-I/II plates (run2d 26, a few special plates 103/104) live under "sdss";
    # BOSS/eBOSS run2d are version strings such as v5_13_2 and live under "eboss".
    "sdss": "dr17/sdss/spectro/redux/{run2d}/spectra/lite/{plate:04d}/spec-{plate:04d}-{mjd:05d}-{fiberid:04d}.fits",
    "eboss": "dr17/eboss/spectro/redux/{run2d}/spectra/lite/{plate:04d}/spec-{plate:04d}-{mjd:05d}-{fiberid:04d}.fits",
}
DEFAULT_RUN2D_SDSS = "26"
DEFAULT_RUN2D_EBOSS = "v5_13_2"
# Plates up to 3006 were observed by the SDSS-I/II spectrographs; later ones by BOSS/eBOSS.
LAST_SDSS_PLATE = 3006

SPEC_FILE_PATTERN = re.compile(r"^(spec-\d{4,5}-\d{5}-\d{4}\.fits|spSpec-\d{5}-\d{4}-\d{3}\.fit)(\.gz|\.bz2)?$")


class SpectrumReadError(ValueError):
    """A file that cannot be read as an SDSS spectrum; ``str(error)`` is the reason."""


def unreadable_reason(error: SpectrumReadError) -> str:
    """``"unreadable: <reason>"``, said once (an OS error's reason already starts so).

    >>> unreadable_reason(SpectrumReadError("unreadable: Permission denied"))
    'unreadable: Permission denied'
    """
    reason = str(error)
    return reason if reason.startswith("unreadable") else f"unreadable: {reason}"


@dataclass
class SdssSpectrum:
    """One observed-frame SDSS spectrum as read from its file."""

    wavelength: np.ndarray  # observed vacuum wavelength, Å, float64
    flux: np.ndarray  # 1e-17 erg/s/cm²/Å, float64
    ivar: np.ndarray  # inverse variance of flux, float64
    and_mask: np.ndarray  # pixel mask bits (0 = good), int64
    plate: int
    mjd: int
    fiberid: int
    z: float  # SDSS pipeline redshift from the file, NaN if absent
    run2d: str
    sdss_class: str
    sdss_subclass: str
    file_format: str  # "spec" (DR8+) or "spSpec" (DR7)
    z_err: float = float("nan")  # the pipeline's redshift error, NaN if absent
    zwarning: int = -1  # the pipeline's ZWARNING bits (0 = no warning), -1 if absent
    survey: str = "sdss"  # agn_saliency.core.identity.SURVEYS; plate/mjd/fiberid are -1 for other surveys
    targetid: int = -1  # DESI TARGETID (-1: not DESI)
    desi_survey: str = ""  # DESI survey (main, sv3, …) of the file, "" if not DESI or unknown
    program: str = ""  # DESI program (dark, bright, …), "" if not DESI or unknown
    healpix: int = -1  # DESI healpix of the file, -1 if not DESI or unknown
    field: int = -1  # SDSS-V field (sdss5; mjd is the MJD), -1 otherwise
    catalogid: int = -1  # SDSS-V catalogid (sdss5), -1 otherwise

    @property
    def specid(self) -> str:
        """The spectrum's id in its survey (:func:`agn_saliency.core.identity.spectrum_id`)."""
        if self.survey == "desi":
            return spectrum_id("desi", targetid=self.targetid)
        if self.survey == "sdss5":
            return spectrum_id("sdss5", field=self.field, mjd=self.mjd, catalogid=self.catalogid)
        return spectrum_id("sdss", plate=self.plate, mjd=self.mjd, fiberid=self.fiberid)


Spectrum = SdssSpectrum
"""The one observed-spectrum structure every reader returns (SDSS, DESI) and the reduction takes."""


def specid(plate: int, mjd: int, fiberid: int) -> str:
    """The SDSS spectrum identifier ``PPPP-MMMMM-FFFF`` (:func:`agn_saliency.core.identity.spectrum_id` of ``sdss``)."""
    return spectrum_id("sdss", plate=plate, mjd=mjd, fiberid=fiberid)


def default_run2d(plate: int) -> str:
    """The DR17 run2d of a plate when the catalog gives none."""
    return DEFAULT_RUN2D_SDSS if int(plate) <= LAST_SDSS_PLATE else DEFAULT_RUN2D_EBOSS


def spec_lite_relpath(plate: int, mjd: int, fiberid: int, run2d: str | None = None) -> str:
    """SAS path (relative to the data-release root) of a DR17 spec-lite file."""
    run2d = str(run2d).strip() if run2d not in (None, "") else default_run2d(plate)
    survey = "eboss" if run2d.startswith("v") else "sdss"
    return SAS_SPEC_LITE_PATH[survey].format(run2d=run2d, plate=int(plate), mjd=int(mjd), fiberid=int(fiberid))


def _first(hdu: fits.HDU, name: str, default: Any) -> Any:
    return hdu.first(name, default)


def _pixels(hdu: fits.HDU, name: str, dtype: type) -> np.ndarray:
    """A COADD column as one value per row (a 1-D array of ``dtype``)."""
    values = hdu.column(name, dtype)
    if values.ndim != 1 or values.dtype.kind not in "biuf":
        raise SpectrumReadError(
            f"not an SDSS spectrum: COADD column {name} is not one number per pixel (shape {values.shape}, dtype {values.dtype})"
        )
    return values.astype(dtype, copy=False)  # already dtype when the fast path read it


def _read_dr8(hdus: list[fits.HDU]) -> SdssSpectrum:
    if len(hdus) > 2 and hdus[2].is_table and hdus[2].has_column("CATALOGID") and not hdus[2].has_column("PLATE"):
        # DR18 writes the field into PLATEID: read as a plate, an SDSS-V spectrum would get a wrong id
        raise SpectrumReadError("not an SDSS plate spectrum: an SDSS-V (field/MJD/catalogid) file, read by spectra.sdss5")
    coadd = hdus[1]
    if not coadd.is_table or not all(coadd.has_column(name) for name in ("FLUX", "LOGLAM", "IVAR")):
        raise SpectrumReadError("not an SDSS spectrum: HDU 1 has no flux/loglam/ivar table")
    loglam = _pixels(coadd, "loglam", np.float64)
    flux = _pixels(coadd, "flux", np.float64)
    ivar = _pixels(coadd, "ivar", np.float64)
    and_mask = _pixels(coadd, "and_mask", np.int64) if coadd.has_column("AND_MASK") else np.zeros(len(flux), np.int64)
    if not loglam.shape == flux.shape == ivar.shape == and_mask.shape:
        raise SpectrumReadError(
            f"not an SDSS spectrum: COADD columns of unequal length "
            f"(loglam {loglam.shape}, flux {flux.shape}, ivar {ivar.shape}, and_mask {and_mask.shape})"
        )
    primary = hdus[0].header
    plate, mjd, fiberid = primary.get("PLATEID"), primary.get("MJD"), primary.get("FIBERID")
    z, run2d, sdss_class, subclass = float("nan"), str(primary.get("RUN2D", "") or ""), "", ""
    z_err, zwarning = float("nan"), -1
    if len(hdus) > 2 and hdus[2].is_table and hdus[2].has_column("Z"):
        specobj = hdus[2]
        z = float(_first(specobj, "Z", np.nan))
        plate = plate if plate is not None else _first(specobj, "PLATE", None)
        mjd = mjd if mjd is not None else _first(specobj, "MJD", None)
        fiberid = fiberid if fiberid is not None else _first(specobj, "FIBERID", None)
        run2d = run2d or str(_first(specobj, "RUN2D", ""))
        sdss_class = str(_first(specobj, "CLASS", "")).strip()
        subclass = str(_first(specobj, "SUBCLASS", "")).strip()
        z_err = float(_first(specobj, "Z_ERR", np.nan)) if specobj.has_column("Z_ERR") else float("nan")
        zwarning = int(_first(specobj, "ZWARNING", -1)) if specobj.has_column("ZWARNING") else -1
    if plate is None or mjd is None or fiberid is None:
        raise SpectrumReadError("not an SDSS spectrum: no PLATEID/MJD/FIBERID")
    return SdssSpectrum(
        wavelength=10.0**loglam,
        flux=flux,
        ivar=ivar,
        and_mask=and_mask,
        plate=int(plate),
        mjd=int(mjd),
        fiberid=int(fiberid),
        z=z,
        run2d=run2d,
        sdss_class=sdss_class,
        sdss_subclass=subclass,
        file_format="spec",
        z_err=z_err,
        zwarning=zwarning,
    )


def _read_dr7(primary: fits.HDU) -> SdssSpectrum:
    header = primary.header
    if "COEFF0" not in header or "COEFF1" not in header:
        raise SpectrumReadError("not an SDSS spectrum: primary image without COEFF0/COEFF1")
    image = np.atleast_2d(primary.image())
    if image.ndim != 2 or image.dtype.kind not in "biuf":
        raise SpectrumReadError(
            f"not an SDSS spectrum: primary image of shape {image.shape}, dtype {image.dtype} (DR7 has rows × pixels)"
        )
    with np.errstate(invalid="ignore"):  # NaN in garbage data: the reduction's checks reject it
        image = image.astype(np.float64)
    flux = image[0]
    npix = flux.size
    wavelength = 10.0 ** (float(header["COEFF0"]) + float(header["COEFF1"]) * np.arange(npix))
    if image.shape[0] >= 3:
        error = image[2]
        ivar = np.where(error > 0, 1.0 / np.where(error > 0, error, 1.0) ** 2, 0.0)
    else:
        # Flux-only spSpec: no noise estimate is stored; weight every finite pixel equally.
        ivar = np.where(np.isfinite(flux), 1.0, 0.0)
    and_mask = image[3].astype(np.int64) if image.shape[0] >= 4 else np.zeros(npix, np.int64)
    try:
        plate, mjd, fiberid = int(header["PLATEID"]), int(header["MJD"]), int(header["FIBERID"])
    except (KeyError, TypeError, ValueError) as error:
        raise SpectrumReadError(f"not an SDSS spectrum: DR7 header lacks {error}") from error
    z, z_err, zwarning = header.get("Z"), header.get("Z_ERR"), header.get("ZWARNING")
    return SdssSpectrum(
        wavelength=wavelength,
        flux=flux,
        ivar=ivar,
        and_mask=and_mask,
        plate=plate,
        mjd=mjd,
        fiberid=fiberid,
        z=float(z) if z is not None else float("nan"),
        run2d="dr7",
        sdss_class=str(header.get("SPEC_CLN", "")),
        sdss_subclass="",
        file_format="spSpec",
        z_err=float(z_err) if isinstance(z_err, (int, float, np.number)) else float("nan"),
        zwarning=int(zwarning) if isinstance(zwarning, (int, np.integer)) else -1,
    )


def read_spectrum(source: str | os.PathLike[str] | bytes) -> SdssSpectrum:
    """Read a DR8+ spec / spec-lite (SPECOBJ or SPALL) or DR7 spSpec file, gzip/bzip2 or not.

    Raises
    ------
    SpectrumReadError
        With a reason: empty, truncated, not FITS, not an SDSS spectrum layout, or any error
        decoding it (from the fast reader or from astropy); never another exception for a bad
        file, so that a reduction rejects the one spectrum instead of failing.
    """
    try:
        return _read_spectrum(source)
    except SpectrumReadError:
        raise
    except MemoryError as error:  # a hostile file costs this file, never the job (limits bound most cases)
        raise SpectrumReadError("out of memory while reading it") from error
    except Exception as error:  # noqa: BLE001 - a file's content can make a decoder raise anything
        raise SpectrumReadError(f"not readable as an SDSS spectrum ({type(error).__name__}: {error})") from error


def _read_spectrum(source: str | os.PathLike[str] | bytes) -> SdssSpectrum:
    try:
        hdus = fits.read_hdus(source, max_hdus=3)
    except fits.FitsFormatError as error:
        raise SpectrumReadError(str(error)) from error
    except OSError as error:
        raise SpectrumReadError(f"unreadable: {error.strerror or error}") from error
    return _spectrum_of(hdus)


def spectrum_from_hdus(hdus: list[fits.HDU]) -> SdssSpectrum:
    """The spectrum of a file already read by :func:`agn_saliency.io.fits.read_hdus` (its first three
    HDUs at least), so a caller that needs another HDU too (SPZLINE) reads the file once.

    Raises
    ------
    SpectrumReadError
        As :func:`read_spectrum`.
    """
    try:
        return _spectrum_of(hdus)
    except SpectrumReadError:
        raise
    except MemoryError as error:
        raise SpectrumReadError("out of memory while reading it") from error
    except Exception as error:  # noqa: BLE001 - a file's content can make a decoder raise anything
        raise SpectrumReadError(f"not readable as an SDSS spectrum ({type(error).__name__}: {error})") from error


def _spectrum_of(hdus: list[fits.HDU]) -> SdssSpectrum:
    try:
        if len(hdus) >= 2 and hdus[1].is_table and hdus[1].has_column("LOGLAM"):
            spectrum = _read_dr8(hdus)
        elif int(hdus[0].header.get("NAXIS", 0)) >= 1:
            spectrum = _read_dr7(hdus[0])
        else:
            raise SpectrumReadError("not an SDSS spectrum: no COADD table and no spectrum image")
    except (fits.FitsFormatError, KeyError, ValueError, TypeError) as error:
        if isinstance(error, SpectrumReadError):
            raise
        raise SpectrumReadError(f"not an SDSS spectrum: {error}") from error
    if spectrum.flux.size < 2 or spectrum.wavelength.size != spectrum.flux.size:
        raise SpectrumReadError("not an SDSS spectrum: fewer than 2 pixels")
    return spectrum


# --------------------------------------------------------------------------------------- writer

COADD_DTYPE = np.dtype(
    [
        ("flux", "f4"),
        ("loglam", "f4"),
        ("ivar", "f4"),
        ("and_mask", "i4"),
        ("or_mask", "i4"),
        ("wdisp", "f4"),
        ("sky", "f4"),
        ("model", "f4"),
    ]
)
SPECOBJ_DTYPE = np.dtype(
    [
        ("PLATE", "i4"),
        ("MJD", "i4"),
        ("FIBERID", "i4"),
        ("RUN2D", "S8"),
        ("Z", "f4"),
        ("Z_ERR", "f4"),
        ("ZWARNING", "i4"),
        ("CLASS", "S6"),
        ("SUBCLASS", "S21"),
    ]
)


def spec_lite_bytes(
    *,
    plate: int,
    mjd: int,
    fiberid: int,
    run2d: str,
    coadd: np.ndarray,
    z: float,
    z_err: float,
    zwarning: int = 0,
    sdss_class: str = "GALAXY",
    subclass: str = "",
    extra_cards: list[tuple[str, Any, str]] = (),
) -> bytes:
    """A DR8+ spec-lite file (primary + COADD + SPECOBJ) as bytes.

    ``coadd`` is a structured array with the fields of :data:`COADD_DTYPE`.
    """
    if coadd.dtype != COADD_DTYPE:
        coadd = coadd.astype(COADD_DTYPE)
    loglam = coadd["loglam"]
    primary_cards = [
        ("TELESCOP", "SDSS 2.5-M", ""),
        ("PLATEID", int(plate), "plate"),
        ("MJD", int(mjd), "MJD"),
        ("FIBERID", int(fiberid), "fiber"),
        ("RUN2D", str(run2d), "spectro 2D reduction"),
        ("BUNIT", "1E-17 erg/cm^2/s/Ang", ""),  # SDSS's own header value, verbatim (not an astropy unit)
        ("VACUUM", True, "wavelengths in vacuum"),
        ("COEFF0", float(loglam[0]), "log10 of first wavelength (A)"),
        ("COEFF1", float(np.median(np.diff(loglam))) if loglam.size > 1 else 1e-4, "log10 step"),
        *extra_cards,
    ]
    specobj = np.zeros(1, SPECOBJ_DTYPE)
    specobj[0] = (plate, mjd, fiberid, str(run2d).encode(), z, z_err, zwarning, sdss_class.encode(), subclass.encode())
    units = {
        "flux": SDSS_FLUX_UNIT,
        "loglam": "log10(Angstrom)",
        "ivar": SDSS_IVAR_UNIT,
        "wdisp": "pixel (dloglam = 1e-4)",
        "sky": SDSS_FLUX_UNIT,
        "model": SDSS_FLUX_UNIT,
    }
    return (
        fits.primary_bytes(primary_cards) + fits.table_bytes(coadd, "COADD", units=units) + fits.table_bytes(specobj, "SPECOBJ")
    )


def write_spec_lite(path: str | os.PathLike[str], **kwargs: Any) -> int:
    """Write a spec-lite file (see :func:`spec_lite_bytes`) atomically; return its size in bytes."""
    from agn_saliency.core.files import atomic_output

    content = spec_lite_bytes(**kwargs)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(content)
    return len(content)
