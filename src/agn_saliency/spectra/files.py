"""One entry point for every spectrum file: open it once, look at its HDUs, call its survey's reader.

A file holds one spectrum (SDSS ``spec-*`` / ``spSpec-*``: :mod:`agn_saliency.spectra.sdss`; SDSS-V
``spec-FFFFFF-MMMMM-C…``: :mod:`agn_saliency.spectra.sdss5`) or many
(a DESI ``coadd-*`` / ``spectra-*`` file: one per FIBERMAP row, :mod:`agn_saliency.spectra.desi`),
so :func:`read_file` returns a LIST of :class:`FileItem`: a spectrum with its survey-qualified
identity (:mod:`agn_saliency.core.identity`), or the identity and the reason it has no spectrum (a
SKY fibre, a bad fibre, no target). A DESI redrock / zbest file holds no spectrum: it is a
``redshifts`` file, read with the coadd beside it. A file that cannot be read at all raises
:class:`~agn_saliency.spectra.sdss.SpectrumReadError`, as :func:`~agn_saliency.spectra.sdss.read_spectrum`
does. The file's bytes are read once (:mod:`agn_saliency.io.fits` keeps the last file's content,
within :class:`~agn_saliency.io.fits.ReadLimits`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from agn_saliency.core.identity import spectrum_id
from agn_saliency.io import fits
from agn_saliency.spectra import desi, sdss5
from agn_saliency.spectra.sdss import Spectrum, SpectrumReadError, spectrum_from_hdus

__all__ = ["FileItem", "FileRead", "read_file", "survey_of_file"]


@dataclass
class FileItem:
    """One spectrum of a file, or one row of it that has none (``spectrum`` None, ``reason`` why).

    ``reason`` on an item with a spectrum is what to say when neither the catalog nor the file
    gives it a redshift (DESI without a redrock file).
    """

    survey: str
    specid: str
    spectrum: Spectrum | None
    reason: str = ""
    file_row: int = 0  # 0-based row of the file (DESI FIBERMAP row; 0 for one-spectrum files)
    file_format: str = ""  # spec, spSpec, desi-coadd, desi-spectra
    ids: dict[str, object] = field(default_factory=dict)  # plate/mjd/fiberid or desi_survey/program/healpix


@dataclass
class FileRead:
    """What :func:`read_file` found: ``kind`` ``sdss``, ``desi`` or ``redshifts`` (no spectra), its
    items in file order, and a ``note`` (DESI: where the redshifts came from)."""

    kind: str
    items: list[FileItem]
    note: str = ""


def _sdss_item(spectrum: Spectrum) -> FileItem:
    return FileItem(
        survey="sdss",
        specid=spectrum.specid,
        spectrum=spectrum,
        file_format=spectrum.file_format,
        ids={"plate": spectrum.plate, "mjd": spectrum.mjd, "fiberid": spectrum.fiberid},
    )


def read_file(path: str | os.PathLike[str]) -> FileRead:
    """Every spectrum of one file (see the module doc).

    Raises
    ------
    SpectrumReadError
        The file cannot be read (empty, not FITS, beyond the read limits, no known layout): the
        same reasons :func:`agn_saliency.spectra.sdss.read_spectrum` gives; never another exception
        for a bad file.
    """
    try:
        return _read_file(path)
    except SpectrumReadError:
        raise
    except MemoryError as error:
        raise SpectrumReadError("out of memory while reading it") from error
    except Exception as error:  # noqa: BLE001 - a file's content can make a decoder raise anything
        raise SpectrumReadError(f"not readable as a spectrum file ({type(error).__name__}: {error})") from error


def _first_hdus(path: str | os.PathLike[str]) -> list[fits.HDU]:
    """A file's first three HDUs, or its first two when the third cannot be read (that fault is then
    raised by the reader that needs the third): one call where the readers asked for two, then three."""
    return fits.read_leading_hdus(path, 3, 2)


def _read_file(path: str | os.PathLike[str]) -> FileRead:
    try:
        probe = _first_hdus(path)
    except fits.FitsFormatError as error:
        raise SpectrumReadError(str(error)) from error
    except OSError as error:
        raise SpectrumReadError(f"unreadable: {error.strerror or error}") from error
    second = probe[1].name.upper() if len(probe) > 1 else ""
    if second in ("FIBERMAP", *desi.REDSHIFT_HDUS):
        try:
            hdus = fits.read_hdus(path)  # the bytes are cached: not read from disk again
        except fits.FitsFormatError as error:
            raise SpectrumReadError(str(error)) from error
        if desi.is_redshift_file(hdus):
            return FileRead("redshifts", [], "a DESI redshift (redrock/zbest) file: read with the coadd of the same name")
        if desi.is_desi(hdus):
            try:
                rows, note = desi.read_desi(path, hdus)
            except (fits.FitsFormatError, KeyError, TypeError) as error:
                raise SpectrumReadError(f"not a DESI spectrum: {error}") from error
            fibermap = next(hdu for hdu in hdus if hdu.name.upper() == "FIBERMAP")
            file_format = "desi-coadd" if "COADD_FIBERSTATUS" in fibermap.column_names else "desi-spectra"
            items = [
                FileItem(
                    survey="desi",
                    specid=spectrum_id("desi", targetid=row.targetid),
                    spectrum=row.spectrum,
                    reason=row.reason,
                    file_row=row.file_row,
                    file_format=file_format,
                    ids=_desi_ids(hdus),
                )
                for row in rows
            ]
            return FileRead("desi", items, note)
    try:
        hdus = probe if len(probe) > 2 else fits.read_hdus(path, max_hdus=3)  # the bytes are cached: not read from disk again
    except fits.FitsFormatError as error:
        raise SpectrumReadError(str(error)) from error
    if sdss5.is_sdss5(hdus):
        return FileRead("sdss5", [_sdss5_item(sdss5.spectrum_from_hdus(hdus))])
    return FileRead("sdss", [_sdss_item(spectrum_from_hdus(hdus))])  # read_spectrum(path)'s, without reading again


def _sdss5_item(spectrum: sdss5.Sdss5Spectrum) -> FileItem:
    return FileItem(
        survey="sdss5",
        specid=spectrum.specid,
        spectrum=spectrum,
        file_format=spectrum.file_format,
        ids={"field": spectrum.field, "mjd": spectrum.mjd, "catalogid": spectrum.catalogid},
    )


def _desi_ids(hdus: list[fits.HDU]) -> dict[str, object]:
    header = hdus[0].header
    healpix = header.get("HPXPIXEL")
    return {
        "desi_survey": str(header.get("SURVEY") or "").strip(),
        "program": str(header.get("PROGRAM") or "").strip(),
        "healpix": int(healpix) if isinstance(healpix, int) else -1,
    }


def survey_of_file(path: str | os.PathLike[str]) -> str:
    """``desi`` when the file's HDU 1 is a FIBERMAP (a DESI coadd or spectra file), ``sdss5`` when
    its HDU 2 is an SDSS-V SPALL (:func:`agn_saliency.spectra.sdss5.is_sdss5`), else ``sdss`` (also
    for a file that cannot be read: its reader says why later). Reads three headers at most."""
    try:
        probe = _first_hdus(path)
        if len(probe) > 1 and probe[1].name.upper() == "FIBERMAP":
            return "desi"
        return "sdss5" if sdss5.is_sdss5(probe if len(probe) > 2 else fits.read_hdus(path, max_hdus=3)) else "sdss"
    except (fits.FitsFormatError, OSError):
        return "sdss"
