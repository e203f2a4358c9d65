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
from agn_saliency.spectra import sdss


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
