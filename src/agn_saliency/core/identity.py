"""Survey-qualified spectrum identity: which survey a spectrum comes from and its id in that survey.

Every output names a spectrum by two texts, ``survey`` and ``specid``:

========  =================================  ==============================================
survey    ``specid``                         from
========  =================================  ==============================================
sdss      ``0266-51602-0001``                plate-MJD-fiber (SDSS-I/II, BOSS, eBOSS; as before)
sdss5     ``015173-59381-4350968445``        field-MJD-catalogid (SDSS-V DR18/DR19)
desi      ``39633345008634465``              TARGETID (with ``desi_survey``, ``program``,
                                             ``healpix`` as extra columns where known)
========  =================================  ==============================================

The ids of different surveys never look alike (SDSS has 4-5-4 digits, SDSS-V 6-5-n, DESI no
dashes), but two surveys could in principle share a text, so tables that hold several surveys
carry a ``survey`` column, and places that need one text (a figure's file name, the t-SNE and
saliency ids, a test prediction's row) use :func:`qualified_id`: the SDSS id unchanged (so every
existing output keeps its names), any other prefixed by its survey (``desi-39633345008634465``).

A cube or table written before surveys existed has no ``survey`` column: it is read as ``sdss``
(:func:`surveys_or_default`), which it necessarily was.

>>> spectrum_id("sdss", plate=266, mjd=51602, fiberid=1)
'0266-51602-0001'
>>> spectrum_id("sdss5", field=15173, mjd=59381, catalogid=4350968445)
'015173-59381-4350968445'
>>> spectrum_id("desi", targetid=39633345008634465)
'39633345008634465'
>>> qualified_id("sdss", "0266-51602-0001"), qualified_id("desi", "39633345008634465")
('0266-51602-0001', 'desi-39633345008634465')
>>> split_qualified_id("desi-39633345008634465"), split_qualified_id("0266-51602-0001")
(('desi', '39633345008634465'), ('sdss', '0266-51602-0001'))
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = [
    "DEFAULT_SURVEY",
    "SURVEYS",
    "check_survey",
    "qualified_id",
    "qualified_ids",
    "spectrum_id",
    "split_qualified_id",
    "surveys_or_default",
]

SURVEYS: dict[str, str] = {
    "sdss": "SDSS-I/II, BOSS and eBOSS plate spectra: specid plate-MJD-fiber (PPPP-MMMMM-FFFF)",
    "sdss5": "SDSS-V (DR18/DR19) BOSS spectra: specid field-MJD-catalogid (FFFFFF-MMMMM-C…)",
    "desi": "DESI (EDR, DR1) coadd or spectra files: specid the TARGETID",
}
"""The surveys a spectrum can come from, and how each names its spectra."""

DEFAULT_SURVEY = "sdss"
"""The survey of a spectrum in a cube or table written before surveys were recorded."""


def check_survey(survey: str) -> str:
    """``survey`` if it is one of :data:`SURVEYS`.

    Raises
    ------
    ValueError
        Naming the unknown survey and the known ones.
    """
    if survey not in SURVEYS:
        raise ValueError(f"unknown survey {survey!r}: one of {', '.join(SURVEYS)}")
    return survey


def spectrum_id(survey: str, **ids: Any) -> str:
    """The ``specid`` text of one spectrum of ``survey`` from its ids.

    ``sdss``: ``plate``, ``mjd``, ``fiberid``; ``sdss5``: ``field``, ``mjd``, ``catalogid``;
    ``desi``: ``targetid``.
    """
    check_survey(survey)
    if survey == "sdss":
        return f"{int(ids['plate']):04d}-{int(ids['mjd']):05d}-{int(ids['fiberid']):04d}"
    if survey == "sdss5":
        return f"{int(ids['field']):06d}-{int(ids['mjd']):05d}-{int(ids['catalogid'])}"
    return str(int(ids["targetid"]))


def qualified_id(survey: str, specid: str) -> str:
    """One text naming a spectrum across surveys: the SDSS ``specid`` as it is, any other
    ``<survey>-<specid>`` (file-name safe: figures are named by it)."""
    survey = str(survey) or DEFAULT_SURVEY
    return str(specid) if survey == DEFAULT_SURVEY else f"{check_survey(survey)}-{specid}"


def split_qualified_id(text: str) -> tuple[str, str]:
    """(survey, specid) of a :func:`qualified_id`."""
    head, _, rest = str(text).partition("-")
    if head in SURVEYS and head != DEFAULT_SURVEY and rest:
        return head, rest
    return DEFAULT_SURVEY, str(text)


def surveys_or_default(meta: Mapping[str, Any], n: int) -> np.ndarray:
    """The ``survey`` column of ``meta`` (a cube's ``meta/`` or a table's columns), or ``sdss`` for
    each of its ``n`` rows when it was written before surveys were recorded."""
    if "survey" in meta:
        values = np.asarray(meta["survey"]).astype(str).astype(object)
        unknown = sorted(set(values) - set(SURVEYS))
        if unknown:
            raise ValueError(f"unknown survey(s) {unknown}: one of {', '.join(SURVEYS)}")
        return values
    return np.full(n, DEFAULT_SURVEY, dtype=object)


def qualified_ids(surveys: Sequence[str] | np.ndarray, specids: Sequence[str] | np.ndarray) -> np.ndarray:
    """:func:`qualified_id` of each (survey, specid) pair, as an object array."""
    return np.array([qualified_id(s, i) for s, i in zip(surveys, specids, strict=True)], dtype=object)
