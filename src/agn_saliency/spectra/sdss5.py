"""Read SDSS-V (DR18/DR19) BOSS spec and spec-lite files; write DR19-layout spec-lite files.

Data model (SDSS datamodel product ``specLite``, environment ``BOSS_SPECTRO_REDUX``,
https://github.com/sdss/datamodel ``datamodel/products/yaml/specLite.yaml``, releases DR18 and DR19):

* File ``spec-{FIELD}-{MJD}-{CATALOGID}.fits``. DR19 (run2d ``v6_1_3``): the field zero-padded to
  six digits, folder ``{run2d}/spectra/lite/{FIELD:06d}/{MJD}/``. DR18 (run2d ``v6_0_1`` …
  ``v6_0_4``): the field unpadded, the folder ``{FIELD}p``, the catalogid padded to 11 digits.
* HDU0 ``PRIMARY``: ``FIELDID`` (a string in DR19), ``MJD``, ``RUN2D``, ``VACUUM = T``,
  ``COEFF0``/``COEFF1`` (log10 Å of the first pixel, log10 step). ``PLATEID`` is empty in DR19
  and equals the field in DR18, so it is never used to identify an SDSS-V spectrum.
* HDU1 ``COADD``: ``FLUX`` (1e-17 erg/s/cm²/Å), ``LOGLAM`` (log10 vacuum Å), ``IVAR``,
  ``AND_MASK``, ``OR_MASK``, ``WDISP`` (pixels), ``SKY``, ``MODEL``, ``WRESL`` (resolution, Å;
  new in DR18). DR17 and earlier files name these columns in lower case, the DR18/DR19 data model
  in upper case: columns are looked up without regard to case.
* HDU2 ``SPALL``: one row; ``FIELD``, ``MJD``, ``CATALOGID``, ``SDSS_ID``, ``RUN2D``, ``CLASS``,
  ``SUBCLASS``, ``Z``, ``Z_ERR``, ``ZWARNING``, ``OBJTYPE``, … (144 columns in DR19). Unlike
  the SPALL of BOSS/eBOSS DR17 files it has ``CATALOGID`` and no ``PLATE``: that is how an
  SDSS-V file is told apart (:func:`is_sdss5`).
* HDU3 ``ZALL`` (every redshift-fit template), HDU4 ``ZLINE`` (line fits; ``SPZLINE`` in DR17):
  not needed for the reduction and not parsed here.

Wavelengths are vacuum (as BOSS): nothing is converted. Units at this boundary are those of
:mod:`agn_saliency.spectra.sdss`: wavelength in Å (observed frame), flux in 1e-17 erg/s/cm²/Å.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.core.units import SDSS_FLUX_UNIT, SDSS_IVAR_UNIT
from agn_saliency.io import fits
from agn_saliency.spectra.sdss import SdssSpectrum, SpectrumReadError

SURVEY = "sdss5"
"""The survey name of these spectra in every output (see :mod:`agn_saliency.core.identity`)."""

DEFAULT_RUN2D = "v6_1_3"
"""The BOSS pipeline version of DR19 (the datamodel's DR19 example and the tree's ``dr19.cfg``)."""

DR18_RUN2D = frozenset({"v6_0_1", "v6_0_2", "v6_0_3", "v6_0_4"})
"""run2d versions whose folders end in ``p`` and whose file names keep the field unpadded
(``sdss_access`` ``Path.isplate``/``pad_fieldid``)."""

SAS_SPEC_LITE_PATH = {
    # $BOSS_SPECTRO_REDUX = <SAS>/<release>/spectro/boss/redux (sdss/tree data/dr18.cfg, dr19.cfg)
    "dr19": "dr19/spectro/boss/redux/{run2d}/spectra/lite/{field:06d}/{mjd}/spec-{field:06d}-{mjd}-{catalogid}.fits",
    "dr18": "dr18/spectro/boss/redux/{run2d}/spectra/lite/{field}p/{mjd}/spec-{field}-{mjd}-{catalogid:011d}.fits",
}
"""SAS paths (relative to the archive's root) of a spec-lite file, per data release."""

SPEC_FILE_PATTERN = re.compile(r"^spec-(\d{5,6})-(\d{5})-(\d{5,20})\.fits(\.gz|\.bz2)?$")
"""A SDSS-V spec(-lite) file name (the catalogid has more digits than any SDSS fiber number)."""

ID_RANGES = {"field": (1, 999_999), "mjd": (50_000, 99_999), "catalogid": (1, 2**63 - 1)}
"""Accepted identifier values (fields have at most six digits, MJDs five)."""


@dataclass
class Sdss5Spectrum(SdssSpectrum):
    """One observed-frame SDSS-V spectrum as read from its file.

    The structure the reduction takes (:class:`agn_saliency.spectra.sdss.SdssSpectrum`: arrays,
    redshift, class), with ``survey = "sdss5"``, the identity field, MJD and catalogid, and
    ``plate = fiberid = -1`` (an SDSS-V spectrum has no plate fiber).
    """

    field: int = -1
    catalogid: int = -1
    sdss_id: int = -1  # SDSS-V's cross-survey id, -1 if absent
    wresl: np.ndarray | None = None  # spectral resolution per pixel, Å (DR18+), None if absent
    survey: str = SURVEY

    @property
    def specid(self) -> str:
        """``FFFFFF-MMMMM-C…`` (see :func:`specid`)."""
        return specid(self.field, self.mjd, self.catalogid)


def specid(field: int, mjd: int, catalogid: int) -> str:
    """The SDSS-V spectrum identifier: six-digit field, five-digit MJD, catalogid.

    >>> specid(15173, 59381, 4350968445)
    '015173-59381-4350968445'
    """
    return f"{int(field):06d}-{int(mjd):05d}-{int(catalogid)}"


def spec_lite_relpath(field: int, mjd: int, catalogid: int, run2d: str | None = None) -> str:
    """SAS path (relative to the archive root) of the spec-lite file of a spectrum.

    >>> spec_lite_relpath(15173, 59381, 4350968445)
    'dr19/spectro/boss/redux/v6_1_3/spectra/lite/015173/59381/spec-015173-59381-4350968445.fits'
    >>> spec_lite_relpath(15143, 59205, 4544940698, "v6_0_4")
    'dr18/spectro/boss/redux/v6_0_4/spectra/lite/15143p/59205/spec-15143-59205-04544940698.fits'
    """
    run2d = str(run2d).strip() if run2d not in (None, "") else DEFAULT_RUN2D
    release = "dr18" if run2d in DR18_RUN2D else "dr19"
    return SAS_SPEC_LITE_PATH[release].format(run2d=run2d, field=int(field), mjd=int(mjd), catalogid=int(catalogid))


def is_sdss5(hdus: list[fits.HDU]) -> bool:
    """Whether parsed HDUs are an SDSS-V spec file: HDU 2 a table with ``CATALOGID`` and no ``PLATE``."""
    if len(hdus) < 3 or not hdus[2].is_table or not (hdus[1].is_table):
        return False
    return hdus[2].has_column("CATALOGID") and not hdus[2].has_column("PLATE")


def _first(hdu: fits.HDU, name: str, default: Any) -> Any:
    return hdu.first(name, default)


def _integer(value: Any, what: str) -> int:
    text = value.decode() if isinstance(value, bytes) else value
    try:
        number = int(str(text).strip()) if isinstance(text, str) else int(text)
    except (TypeError, ValueError):
        raise SpectrumReadError(f"not an SDSS-V spectrum: {what} = {value!r} is not an integer") from None
    return number


def _pixels(hdu: fits.HDU, name: str, dtype: type) -> np.ndarray:
    values = hdu.column(name)
    if values.ndim != 1 or values.dtype.kind not in "biuf":
        raise SpectrumReadError(
            f"not an SDSS-V spectrum: COADD column {name} is not one number per pixel (shape {values.shape}, dtype {values.dtype})"
        )
    return values.astype(dtype)


def spectrum_from_hdus(hdus: list[fits.HDU]) -> Sdss5Spectrum:
    """The spectrum of parsed HDUs (PRIMARY, COADD, SPALL, …) of an SDSS-V spec file.

    Raises
    ------
    SpectrumReadError
        With the reason (no COADD table, columns of unequal length, no field/MJD/catalogid …).
    """
    coadd = hdus[1]
    names = set(coadd.column_names) if coadd.is_table else set()
    if not {"FLUX", "LOGLAM", "IVAR"} <= names:
        raise SpectrumReadError("not an SDSS-V spectrum: HDU 1 has no FLUX/LOGLAM/IVAR table")
    loglam = _pixels(coadd, "LOGLAM", np.float64)
    flux = _pixels(coadd, "FLUX", np.float64)
    ivar = _pixels(coadd, "IVAR", np.float64)
    and_mask = _pixels(coadd, "AND_MASK", np.int64) if "AND_MASK" in names else np.zeros(len(flux), np.int64)
    wresl = _pixels(coadd, "WRESL", np.float64) if "WRESL" in names else None
    lengths = {len(loglam), len(flux), len(ivar), len(and_mask)} | ({len(wresl)} if wresl is not None else set())
    if len(lengths) != 1:
        raise SpectrumReadError(
            f"not an SDSS-V spectrum: COADD columns of unequal length (loglam {loglam.shape}, flux {flux.shape}, "
            f"ivar {ivar.shape}, and_mask {and_mask.shape})"
        )
    if flux.size < 2:
        raise SpectrumReadError("not an SDSS-V spectrum: fewer than 2 pixels")
    primary = hdus[0].header
    spall = hdus[2]
    field_value = _first(spall, "FIELD", None)
    if field_value is None:
        field_value = primary.get("FIELDID")
    mjd_value = _first(spall, "MJD", None)
    if mjd_value is None:
        mjd_value = primary.get("MJD")
    catalogid_value = _first(spall, "CATALOGID", None)
    if field_value is None or mjd_value is None or catalogid_value is None:
        raise SpectrumReadError("not an SDSS-V spectrum: no FIELD/MJD/CATALOGID in SPALL or the primary header")
    spall_names = set(spall.column_names)
    run2d = str(primary.get("RUN2D", "") or "").strip() or str(_first(spall, "RUN2D", "")).strip()
    return Sdss5Spectrum(
        wavelength=10.0**loglam,
        flux=flux,
        ivar=ivar,
        and_mask=and_mask,
        plate=-1,
        mjd=_integer(mjd_value, "MJD"),
        fiberid=-1,
        z=float(_first(spall, "Z", np.nan)),
        run2d=run2d,
        sdss_class=str(_first(spall, "CLASS", "")).strip(),
        sdss_subclass=str(_first(spall, "SUBCLASS", "")).strip(),
        file_format="spec-sdss5",
        field=_integer(field_value, "FIELD"),
        catalogid=_integer(catalogid_value, "CATALOGID"),
        sdss_id=int(_first(spall, "SDSS_ID", -1)) if "SDSS_ID" in spall_names else -1,
        z_err=float(_first(spall, "Z_ERR", np.nan)) if "Z_ERR" in spall_names else float("nan"),
        zwarning=int(_first(spall, "ZWARNING", -1)) if "ZWARNING" in spall_names else -1,
        wresl=wresl,
    )


def read_spectrum(source: str | os.PathLike[str] | bytes) -> Sdss5Spectrum:
    """Read an SDSS-V spec / spec-lite file (gzip/bzip2 or not).

    Raises
    ------
    SpectrumReadError
        With a reason: unreadable, not FITS, not an SDSS-V layout, or any error decoding it;
        never another exception for a bad file.
    """
    try:
        try:
            hdus = fits.read_hdus(source, max_hdus=3)
        except fits.FitsFormatError as error:
            raise SpectrumReadError(str(error)) from error
        except OSError as error:
            raise SpectrumReadError(f"unreadable: {error.strerror or error}") from error
        if not is_sdss5(hdus):
            raise SpectrumReadError("not an SDSS-V spectrum: no SPALL table with CATALOGID in HDU 2")
        return spectrum_from_hdus(hdus)
    except SpectrumReadError:
        raise
    except MemoryError as error:
        raise SpectrumReadError("out of memory while reading it") from error
    except Exception as error:  # noqa: BLE001 - a file's content can make a decoder raise anything
        raise SpectrumReadError(f"not readable as an SDSS-V spectrum ({type(error).__name__}: {error})") from error


# --------------------------------------------------------------------------------------- writer

COADD_COLUMNS = ("FLUX", "LOGLAM", "IVAR", "AND_MASK", "OR_MASK", "WDISP", "SKY", "MODEL", "WRESL")
"""The DR19 COADD columns, in the data model's order."""

COADD_DTYPE = np.dtype([(name, "i4" if name.endswith("_MASK") else "f4") for name in COADD_COLUMNS])

SPALL_DTYPE = np.dtype(
    [
        ("FIELD", "i8"),
        ("MJD", "i8"),
        ("RUN2D", "S6"),
        ("SPEC_FILE", "S41"),
        ("OBJTYPE", "S16"),
        ("CATALOGID", "i8"),
        ("SDSS_ID", "i8"),
        ("PLUG_RA", "f8"),
        ("PLUG_DEC", "f8"),
        ("FIELDQUALITY", "S4"),
        ("CLASS", "S6"),
        ("SUBCLASS", "S21"),
        ("Z", "f4"),
        ("Z_ERR", "f4"),
        ("ZWARNING", "i8"),
    ]
)
"""The subset of the DR19 SPALL columns (names and types of the data model) this writer fills."""

ZALL_DTYPE = np.dtype(
    [
        ("FIELD", "i4"),
        ("MJD", "i4"),
        ("CATALOGID", "i8"),
        ("SDSS_ID", "i8"),
        ("CLASS", "S6"),
        ("SUBCLASS", "S21"),
        ("Z", "f4"),
        ("Z_ERR", "f4"),
    ]
)
ZLINE_DTYPE = np.dtype(
    [
        ("FIELD", "i8"),
        ("MJD", "i8"),
        ("CATALOGID", "i8"),
        ("SDSS_ID", "i8"),
        ("LINENAME", "S13"),
        ("LINEWAVE", "f8"),
        ("LINEZ", "f4"),
        ("LINEAREA", "f4"),
        ("LINEAREA_ERR", "f4"),
    ]
)


def spec_lite_bytes(
    *,
    field: int,
    mjd: int,
    catalogid: int,
    coadd: np.ndarray,
    z: float,
    z_err: float,
    sdss_id: int = -1,
    run2d: str = DEFAULT_RUN2D,
    zwarning: int = 0,
    sdss_class: str = "GALAXY",
    subclass: str = "",
    lower_case: bool = False,
    extra_cards: list[tuple[str, Any, str]] = (),
) -> bytes:
    """A DR19-layout spec-lite file (PRIMARY, COADD, SPALL, ZALL, ZLINE) as bytes.

    ``coadd`` is a structured array with the fields of :data:`COADD_DTYPE` (names in any case).
    ``lower_case`` writes the COADD and SPALL column names in lower case (as DR17 and earlier
    name the COADD columns), to exercise readers on both. ZALL holds the one best fit, ZLINE no
    line (a file written here is not a pipeline product; mark it so with ``extra_cards``).
    """
    coadd = np.asarray(coadd)
    by_name = {name.upper(): name for name in coadd.dtype.names}
    table = np.zeros(len(coadd), COADD_DTYPE)
    for name in COADD_COLUMNS:
        if name in by_name:
            table[name] = coadd[by_name[name]]
    loglam = table["LOGLAM"].astype(np.float64)
    name = f"spec-{int(field):06d}-{int(mjd)}-{int(catalogid)}.fits"
    primary_cards = [
        ("TELESCOP", "SDSS 2.5-M", "Telescope"),
        ("PLATEID", "", "The currently loaded plate"),
        ("FIELDID", f"{int(field):06d}", "FPS field"),
        ("MJD", int(mjd), ""),
        ("RUN2D", str(run2d), "Spectro-2D reduction name"),
        ("VACUUM", True, "Wavelengths are in vacuum"),
        ("COEFF0", float(loglam[0]), "Central wavelength (log10) of first pixel"),
        ("COEFF1", float(np.median(np.diff(loglam))) if loglam.size > 1 else 1e-4, "Log10 dispersion per pixel"),
        *extra_cards,
    ]
    spall = np.zeros(1, SPALL_DTYPE)
    spall[0] = (
        field,
        mjd,
        str(run2d).encode(),
        name.encode(),
        b"science",
        catalogid,
        sdss_id,
        0.0,
        0.0,
        b"good",
        sdss_class.encode(),
        subclass.encode(),
        z,
        z_err,
        zwarning,
    )
    zall = np.zeros(1, ZALL_DTYPE)
    zall[0] = (field, mjd, catalogid, sdss_id, sdss_class.encode(), subclass.encode(), z, z_err)
    zline = np.zeros(0, ZLINE_DTYPE)
    units = {
        "FLUX": SDSS_FLUX_UNIT,
        "LOGLAM": "log10(Angstrom)",
        "IVAR": SDSS_IVAR_UNIT,
        "WDISP": "pixel",
        "SKY": SDSS_FLUX_UNIT,
        "MODEL": SDSS_FLUX_UNIT,
        "WRESL": "Angstrom",
    }
    if lower_case:
        table = table.astype([(n.lower(), table.dtype[n]) for n in table.dtype.names])
        spall = spall.astype([(n.lower(), spall.dtype[n]) for n in spall.dtype.names])
        units = {key.lower(): value for key, value in units.items()}
    return (
        fits.primary_bytes(primary_cards)
        + fits.table_bytes(table, "COADD", units=units)
        + fits.table_bytes(spall, "SPALL")
        + fits.table_bytes(zall, "ZALL")
        + fits.table_bytes(zline, "ZLINE")
    )


def write_spec_lite(path: str | os.PathLike[str], **kwargs: Any) -> int:
    """Write a DR19-layout spec-lite file (see :func:`spec_lite_bytes`) atomically; return its size."""
    from agn_saliency.core.files import atomic_output

    content = spec_lite_bytes(**kwargs)
    with atomic_output(path) as tmp:
        Path(tmp).write_bytes(content)
    return len(content)
