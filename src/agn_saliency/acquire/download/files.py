"""The files on disk: whether a file is a complete spectrum of the requested identifiers, and the
temporary names bodies are streamed to (with the clean-up of those left by killed runs)."""

from __future__ import annotations

import logging
import os
import re
import secrets
import socket
from pathlib import Path

from agn_saliency.io import fits
from agn_saliency.spectra import sdss, sdss5


def verify_spectrum_file(source: str | os.PathLike[str] | bytes, plate: int, mjd: int, fiberid: int) -> str | None:
    """Why ``source`` is not a complete spectrum file of (plate, mjd, fiberid); ``None`` if it is.

    Checks that the file stays within :func:`agn_saliency.io.fits.read_limits`, that every HDU of
    the FITS file is complete, that
    :func:`agn_saliency.spectra.sdss.read_spectrum` parses it (COADD or spSpec layout) and that it holds
    the requested spectrum.

    Parameters
    ----------
    source
        A file's path, or its bytes.
    plate, mjd, fiberid
        The spectrum it must hold.

    Returns
    -------
    str or None
        The reason it is not that spectrum ("unreadable: …", "truncated …", "file holds spectrum …"),
        or ``None`` when it is.
    """
    try:
        # bounded by fits.read_limits(): size, decompressed size (once, here), HDU count, header cards
        data = fits.decompress(fits.read_bytes(source))
    except OSError as error:
        return f"unreadable: {error.strerror or error}"
    except fits.FitsFormatError as error:
        return str(error)
    try:
        fits.read_hdus(data)
        spectrum = sdss.read_spectrum(data)
    except (fits.FitsFormatError, sdss.SpectrumReadError) as error:
        return str(error)
    found = (spectrum.plate, spectrum.mjd, spectrum.fiberid)
    if found != (int(plate), int(mjd), int(fiberid)):
        return f"file holds spectrum {sdss.specid(*found)}, not {sdss.specid(plate, mjd, fiberid)}"
    return None


def _complete_hdus(source: str | os.PathLike[str] | bytes) -> tuple[list[fits.HDU] | None, bytes, str | None]:
    """The HDUs of a whole, complete FITS file within the read limits, its bytes, or the reason not."""
    try:
        data = fits.decompress(fits.read_bytes(source))
    except OSError as error:
        return None, b"", f"unreadable: {error.strerror or error}"
    except fits.FitsFormatError as error:
        return None, b"", str(error)
    try:
        return fits.read_hdus(data), data, None
    except fits.FitsFormatError as error:
        return None, data, str(error)


def verify_sdss5_file(source: str | os.PathLike[str] | bytes, field: int, mjd: int, catalogid: int) -> str | None:
    """Why ``source`` is not a complete SDSS-V spec file of (field, mjd, catalogid); ``None`` if it is.

    Every HDU complete, :func:`agn_saliency.spectra.sdss5.read_spectrum` parses it and it holds
    the requested spectrum.
    """
    _hdus, data, problem = _complete_hdus(source)
    if problem is not None:
        return problem
    try:
        spectrum = sdss5.read_spectrum(data)
    except sdss.SpectrumReadError as error:
        return str(error)
    found = (spectrum.field, spectrum.mjd, spectrum.catalogid)
    if found != (int(field), int(mjd), int(catalogid)):
        return f"file holds spectrum {sdss5.specid(*found)}, not {sdss5.specid(field, mjd, catalogid)}"
    return None


DESI_FILE_TABLES = {"coadd": ("FIBERMAP",), "redrock": ("REDSHIFTS", "ZBEST")}
"""The table a DESI healpix file of each kind must hold (with a TARGETID column); redrock files of
productions before Everest name it ZBEST."""


def verify_desi_file(source: str | os.PathLike[str] | bytes, kind: str) -> str | None:
    """Why ``source`` is not a complete DESI ``coadd`` or ``redrock`` file; ``None`` if it is.

    Every HDU complete and the file's table (:data:`DESI_FILE_TABLES`: FIBERMAP, REDSHIFTS or
    ZBEST) present with a TARGETID column; a coadd also needs at least one ``<ARM>_FLUX`` image.
    Which targets it holds is judged by the caller (:func:`desi_targetids`).
    """
    hdus, _data, problem = _complete_hdus(source)
    if problem is not None:
        return problem
    tables = {hdu.name.upper(): hdu for hdu in hdus if hdu.is_table}
    wanted = DESI_FILE_TABLES[kind]
    found = next((tables[name] for name in wanted if name in tables), None)
    if found is None:
        return f"not a DESI {kind} file: no {' or '.join(wanted)} table"
    if "TARGETID" not in found.column_names:
        return f"not a DESI {kind} file: {found.name} has no TARGETID column"
    if kind == "coadd" and not any(hdu.name.upper().endswith("_FLUX") for hdu in hdus):
        return "not a DESI coadd file: no <arm>_FLUX image"
    return None


def desi_targetids(source: str | os.PathLike[str] | bytes) -> set[int]:
    """The TARGETIDs of a DESI coadd file's FIBERMAP (empty when it has none)."""
    hdus = fits.read_hdus(fits.decompress(fits.read_bytes(source)))
    for hdu in hdus:
        if hdu.is_table and hdu.name.upper() == "FIBERMAP" and "TARGETID" in hdu.column_names:
            return {int(value) for value in hdu.column("TARGETID")}
    return set()


_HOSTNAME = re.sub(r"[^A-Za-z0-9_.-]", "_", socket.gethostname()) or "host"


def _temp_path(final: Path) -> Path:
    return final.with_name(f".{final.name}.{_HOSTNAME}.{os.getpid()}.{secrets.token_hex(4)}.tmp")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(final: Path, log: logging.Logger | None = None) -> int:
    """Delete temporary files of ``final`` left by dead download processes on this host.

    Only names made by :func:`_temp_path` (``.<name>.<host>.<pid>.<token>.tmp``) whose host is this one
    and whose process is gone are removed; files of live or remote processes are left alone.

    Parameters
    ----------
    final
        The file whose temporaries are looked for (in its folder).
    log
        Logs each removal when given.

    Returns
    -------
    int
        How many were removed.
    """
    removed = 0
    prefix = f".{final.name}."
    for candidate in final.parent.glob(f".{glob_escape(final.name)}.*.tmp"):
        try:
            head, pid_text, _token, _suffix = candidate.name.rsplit(".", 3)
        except ValueError:
            continue
        host = head[len(prefix) :] if head.startswith(prefix) else None
        if host != _HOSTNAME or not pid_text.isdigit():
            continue
        pid = int(pid_text)
        if pid == os.getpid() or _pid_alive(pid):
            continue
        try:
            candidate.unlink()
        except FileNotFoundError:
            continue
        removed += 1
        if log is not None:
            log.info("removed %s, left behind by a killed download (pid %d)", candidate, pid)
    return removed


def glob_escape(name: str) -> str:
    """``name`` with glob metacharacters escaped."""
    return re.sub(r"([*?\[])", r"[\1]", name)
