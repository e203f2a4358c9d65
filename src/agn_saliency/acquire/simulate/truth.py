"""Ground truth of the simulated sample: the columns of a truth record (:data:`TRUTH_COLUMNS`,
:data:`TRUTH_UNITS`) and :func:`broad_component_mask`, where each spectrum's broad lines are."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from agn_saliency.acquire.simulate.constants import BROAD_LINES, BROAD_WING_MASK_MIN_FRACTION
from agn_saliency.core.columns import TABLES
from agn_saliency.core.lines import SPEED_OF_LIGHT_KMS

_BROAD_TRUTH = (
    "broad_fwhm",
    "broad_shift",
    "broad_wing_fraction",
    "broad_wing_fwhm",
    "broad_wing_shift",
    "broad_hbeta_ew",
    "broad_to_narrow_hbeta",
    "broad_halpha_hbeta",
    "r_feii",
    "feii_fwhm",
    "balmer_continuum",
)
"""The truth columns of the broad-line region (``None`` for a type 2), as
:func:`~agn_saliency.acquire.simulate.spectrum.simulate_spectrum` draws them."""
TRUTH_COLUMNS: tuple[str, ...] = (
    "survey",
    "specid",
    "plate",
    "mjd",
    "fiberid",
    "label",
    "z",
    "snr",
    "has_broad",
    *_BROAD_TRUTH[:8],
    "broad_hbeta_flux",
    *_BROAD_TRUTH[8:],
    "narrow_hbeta_flux",
    "narrow_fwhm",
    "host_fraction",
    "agn_ebv",
)
"""Columns of a truth record (:func:`~agn_saliency.acquire.simulate.files.write_spectra_with_truth`), one row
per simulated spectrum.

``specid`` (:func:`agn_saliency.spectra.sdss.specid`, as in the cube), ``plate``, ``mjd``, ``fiberid``,
``label``, ``z``, ``snr``; ``has_broad`` (True for type 1 and intermediates); the broad-line
region — empty (``None``) when ``has_broad`` is False:

* ``broad_fwhm``, ``broad_shift`` — FWHM and centroid shift (positive = redward) of the core
  Gaussian of every line in :data:`BROAD_LINES` [km/s];
* ``broad_wing_fraction`` — flux share of the wing Gaussian (0–``broad_wing_fraction_max``;
  every broad spectrum has one, possibly tiny); ``broad_wing_fwhm`` [km/s];
  ``broad_wing_shift`` — the wing's centroid shift from the systemic redshift (core shift plus
  its own redshift) [km/s];
* ``broad_hbeta_ew`` — broad Hβ (core + wing) equivalent width against the total (host + AGN)
  continuum at Hβ [Å, rest]; ``broad_hbeta_flux`` — its observed integrated flux
  [1e-17 erg/s/cm²]; ``broad_to_narrow_hbeta`` — broad/narrow Hβ flux ratio (as realised, after
  the intermediate EW clipping); ``broad_halpha_hbeta`` — broad Hα/Hβ flux ratio;
* ``r_feii`` — F(FeII 4434–4684 Å)/F(broad Hβ); ``feii_fwhm`` [km/s] (FeII shares
  ``broad_shift``); ``balmer_continuum`` — Balmer continuum at the edge relative to the power law;

and context for every class: ``narrow_hbeta_flux`` [1e-17 erg/s/cm²], ``narrow_fwhm`` [km/s],
``host_fraction`` (host share of the 5100 Å continuum), ``agn_ebv`` (E(B−V) of the AGN power law).
"""
TRUTH_UNITS: dict[str, str] = TABLES["truth"].units(TRUTH_COLUMNS)
"""Units (``astropy.units`` strings) of the :data:`TRUTH_COLUMNS` that have one."""


def _truth_flag(value: Any) -> bool:
    """``has_broad`` as written (bool) or read back from a table (text such as ``"True"``)."""
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("true", "1", "yes"):
            return True
        if text in ("false", "0", "no", ""):
            return False
        raise ValueError(f"has_broad must be a boolean, got {value!r}")
    return bool(value)


def _truth_number(row: Mapping[str, Any], column: str) -> float | None:
    """A numeric truth column, ``None`` when missing (None, empty text or a masked value)."""
    value = row[column] if column in row else None
    if value is None or value is np.ma.masked or (isinstance(value, str) and not value.strip()):
        return None
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"truth column {column} must be finite, got {value!r}")
    return number


def broad_component_mask(
    truth_rows: Iterable[Mapping[str, Any]],
    wavelength: np.ndarray,
    *,
    width_fwhm: float = 1.0,
    wing_min_fraction: float = BROAD_WING_MASK_MIN_FRACTION,
) -> np.ndarray:
    """Where each spectrum's broad emission lines are, on a rest-frame wavelength grid.

    For every line of :data:`BROAD_LINES` (Hα, Hβ, Hγ, Hδ, Hε, H8 and HeI 5877) the mask is True
    within ``±width_fwhm × broad_fwhm`` of its shifted centre ``λ₀ (1 + broad_shift / c)``.
    The wing Gaussian (``broad_wing_fwhm`` wide, centred at ``broad_wing_shift``) is added the
    same way when its flux share ``broad_wing_fraction`` is at least ``wing_min_fraction``
    (default 0.1: a wing carrying less than a tenth of the line flux, 1.8–3 times wider than the
    core, has a peak under ≈ 6 % of the core's and is not a feature a classifier can use; at
    ``width_fwhm = 1`` the core window alone then holds ≈ 93 % or more of the line flux). Pass
    ``wing_min_fraction=math.inf`` to mask the cores only, 0 to mask every wing. FeII and the
    Balmer continuum, which share the broad-line kinematics, are not masked. Instrumental
    broadening (≈ 150 km/s FWHM) is neglected next to broad widths of ≥ 2000 km/s.

    Parameters
    ----------
    truth_rows
        Truth records (:data:`TRUTH_COLUMNS`): the dicts of
        :func:`~agn_saliency.acquire.simulate.files.write_spectra_with_truth` or rows read back from
        its table (text values, empty when missing, are accepted). Only
        ``has_broad``, ``broad_fwhm``, ``broad_shift`` and the ``broad_wing_*`` columns are used.
    wavelength
        One-dimensional rest-frame vacuum wavelength grid [Å], e.g. the cube's.
    width_fwhm
        Half-width of each window in units of the component's FWHM (positive).
    wing_min_fraction
        Smallest ``broad_wing_fraction`` for which the wing is masked too.

    Returns
    -------
    numpy.ndarray
        Boolean array of shape ``(len(truth_rows), wavelength.size)``; all False for spectra
        without broad lines (``has_broad`` False: type 2).

    Raises
    ------
    ValueError
        If ``wavelength`` is not one-dimensional, ``width_fwhm`` is not positive and finite,
        ``wing_min_fraction`` is negative or NaN, or a broad row lacks its FWHM or shift.
    """
    grid = np.asarray(wavelength, dtype=float)
    if grid.ndim != 1:
        raise ValueError(f"wavelength must be one-dimensional, got shape {grid.shape}")
    if not (math.isfinite(width_fwhm) and width_fwhm > 0):
        raise ValueError(f"width_fwhm must be positive, got {width_fwhm!r}")
    if not wing_min_fraction >= 0:
        raise ValueError(f"wing_min_fraction must not be negative, got {wing_min_fraction!r}")
    rows = list(truth_rows)
    mask = np.zeros((len(rows), grid.size), dtype=bool)
    rest = np.array(list(BROAD_LINES.values()))
    for index, row in enumerate(rows):
        if not _truth_flag(row["has_broad"]):
            continue
        fwhm, shift = _truth_number(row, "broad_fwhm"), _truth_number(row, "broad_shift")
        if fwhm is None or shift is None or fwhm <= 0:
            raise ValueError(f"truth row {index} has broad lines but no positive broad_fwhm and broad_shift")
        windows = [(fwhm, shift)]
        fraction = _truth_number(row, "broad_wing_fraction")
        wing_fwhm, wing_shift = _truth_number(row, "broad_wing_fwhm"), _truth_number(row, "broad_wing_shift")
        if fraction is not None and fraction >= wing_min_fraction and wing_fwhm is not None and wing_shift is not None:
            windows.append((wing_fwhm, wing_shift))
        for component_fwhm, component_shift in windows:
            centres = rest * (1.0 + component_shift / SPEED_OF_LIGHT_KMS)
            half = centres * (width_fwhm * component_fwhm / SPEED_OF_LIGHT_KMS)
            mask[index] |= np.any(np.abs(grid[None, :] - centres[:, None]) <= half[:, None], axis=0)
    return mask
