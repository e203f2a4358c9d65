"""One simulated observed-frame SDSS coadd (:func:`simulate_spectrum`), assembled from its physical
components and observed as SDSS would (see :mod:`agn_saliency.acquire.simulate`).

:func:`simulate_spectrum` runs its steps in a fixed order, each drawing from the spectrum's
generator in turn: the observed grid, the continuum, the narrow-line ratios, the broad-line
region's width and Fe II strength (type 1 and intermediate), the line strengths, the narrow lines,
the broad lines, FeII and the Balmer continuum (type 1 and intermediate), then sky, brightness and
noise, sky-subtraction residuals and masked pixels. The order of the draws is the spectrum's
identity: a step must never draw more, less or earlier, or every file changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import erf

from agn_saliency.acquire.simulate.blocks import (
    _add_lines,
    _balmer_factors,
    _loguniform,
    _observed_loglam,
    _wdisp,
    calzetti_k,
    dust_attenuation,
)
from agn_saliency.acquire.simulate.constants import (
    _ARIII_7138,
    _BALMER_REST,
    _BROAD_HEI_TO_HBETA,
    _BROAD_INTRINSIC,
    _CASE_B,
    _H8,
    _HEPSILON,
    _NEIII_3968,
    _OI_6365,
    _SKY_CONTINUUM,
    _THROUGHPUT,
    BALMER_EDGE,
    BROAD_LINES,
    FEII_STRENGTHS,
    FEII_WAVELENGTHS,
    LOGLAM_STEP,
    MASK_BRIGHTSKY,
    MASK_FULLREJECT,
    MASK_NODATA,
    REST_5100_WINDOW,
    SKY_LINE_FLUXES,
    SKY_LINE_WAVELENGTHS,
)
from agn_saliency.acquire.simulate.host import _host_spectrum, host_to_agn_ratio
from agn_saliency.acquire.simulate.parameters import SimulationParameters
from agn_saliency.acquire.simulate.truth import _BROAD_TRUTH
from agn_saliency.core.lines import EMISSION_LINES, SPEED_OF_LIGHT_KMS
from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.spectra import sdss

_FLUX_5100 = 1.0
"""The total continuum at 5100 Å rest before the brightness is set: components are built in its units."""


def _clipped_lognormal(rng: np.random.Generator, median: float, dex: float, low: float, high: float) -> float:
    """One log-normal draw (``median``, ``dex`` scatter), clipped into ``low``–``high``."""
    return float(min(max(median * 10 ** rng.normal(0.0, dex), low), high))


@dataclass(frozen=True)
class _Grid:
    """The observed pixels of one spectrum: log-λ, wavelength, rest frame, pixel width (Å) and the
    instrumental σ (``wdisp``, pixels)."""

    z: float
    loglam: np.ndarray
    wavelength: np.ndarray
    rest_loglam: np.ndarray
    rest: np.ndarray
    pixel_width: np.ndarray
    wdisp: np.ndarray

    @property
    def npix(self) -> int:
        return self.loglam.size

    def at(self, rest_wavelength: float, values: np.ndarray) -> float:
        """``values`` (one per pixel) interpolated at a rest wavelength (Å)."""
        return float(np.interp(math.log10(rest_wavelength), self.rest_loglam, values))


def _observed_grid(z: float, rng: np.random.Generator, params: SimulationParameters) -> _Grid:
    """Draw the spectrum's first and last pixel and its resolving power (±5 %)."""
    loglam = _observed_loglam(rng)
    if 10 ** loglam[-1] < REST_5100_WINDOW[1] * (1 + z):
        raise ValueError(f"z = {z} puts rest {REST_5100_WINDOW[1]:.0f} Å beyond the observed range")
    wavelength = 10.0**loglam
    log1pz = math.log10(1.0 + z)
    rest_loglam = loglam - log1pz
    rest = wavelength / (1.0 + z)
    pixel_width = wavelength * (math.log(10.0) * LOGLAM_STEP)
    wdisp = _wdisp(wavelength, params.resolution * rng.uniform(0.95, 1.05))
    return _Grid(z, loglam, wavelength, rest_loglam, rest, pixel_width, wdisp)


@dataclass(frozen=True)
class _Continuum:
    """Host starlight and the AGN power law (in units of the total continuum at 5100 Å rest) and
    the drawn numbers the later steps and the truth record need."""

    host_fraction: float
    alpha: float
    agn_ebv: float
    host: np.ndarray
    power_law: np.ndarray
    young_fraction: float = 0.0
    sigma_star: float = 0.0
    host_ebv: float = 0.0
    log_l5100: float = 0.0


def draw_host_fraction(label: str, rng: np.random.Generator, params: SimulationParameters) -> tuple[float, float]:
    """The AGN's log λL_5100 and the host share of the 5100 Å continuum.

    Every class draws the luminosity from the same distribution and the host fraction from the
    same relation (:func:`~agn_saliency.acquire.simulate.host.host_to_agn_ratio` with log-normal
    scatter); a type 2 is seen through the share ``type2_scattered_*`` of its AGN continuum.
    Returns ``(log_l5100, host_fraction)``.
    """
    log_l = rng.normal(params.agn_log_l5100_mean, params.agn_log_l5100_sigma)
    seen = log_l
    if label == "type2":
        seen += math.log10(_loguniform(rng, params.type2_scattered_min, params.type2_scattered_max))
    ratio = float(host_to_agn_ratio(seen)) * 10 ** rng.normal(0.0, params.host_ratio_scatter_dex)
    return float(log_l), min(ratio / (1.0 + ratio), params.host_fraction_max)


def _draw_continuum(label: str, grid: _Grid, rng: np.random.Generator, params: SimulationParameters) -> _Continuum:
    """Host (mixed templates, broadened, reddened) and AGN power law (reddened for broad-line classes).

    Host fraction, stellar age, σ⋆ and host reddening come from the same distributions for every class.
    """
    log_l5100, host_fraction = draw_host_fraction(label, rng, params)
    young_fraction = rng.uniform(0.0, params.host_young_fraction_max)
    sigma_star = _clipped_lognormal(
        rng,
        params.stellar_sigma_median_kms,
        params.stellar_sigma_scatter_dex,
        params.stellar_sigma_min_kms,
        params.stellar_sigma_max_kms,
    )
    alpha = float(min(max(rng.normal(params.alpha_mean, params.alpha_sigma), params.alpha_min), params.alpha_max))
    host_ebv = rng.uniform(0.0, params.host_ebv_max)
    agn_ebv = rng.uniform(
        0.0, {"type1": params.agn_ebv_type1_max, "intermediate": params.agn_ebv_intermediate_max, "type2": 0.0}[label]
    )
    host = host_fraction * _FLUX_5100 * _host_spectrum(grid.rest_loglam, grid.wdisp, young_fraction, sigma_star)
    k_rest = calzetti_k(grid.rest)
    host *= dust_attenuation(grid.rest, host_ebv, k_rest)
    power_law = (1.0 - host_fraction) * _FLUX_5100 * (grid.rest / 5100.0) ** alpha * dust_attenuation(grid.rest, agn_ebv, k_rest)
    return _Continuum(host_fraction, alpha, agn_ebv, host, power_law, young_fraction, sigma_star, host_ebv, log_l5100)


@dataclass(frozen=True)
class _BroadDraw:
    """The broad-line region's width and Fe II strength, drawn before the line strengths (eigenvector 1
    ties a type 1's [OIII] to its R_FeII)."""

    nls1: bool
    fwhm: float
    r_feii: float


def _draw_broad(label: str, rng: np.random.Generator, params: SimulationParameters) -> _BroadDraw:
    """NLS1 or not (type 1 only), the broad FWHM and R_FeII (log-normal, clipped)."""
    nls1 = label == "type1" and rng.random() < params.nls1_fraction
    if nls1:
        fwhm = _loguniform(rng, params.nls1_fwhm_min_kms, params.nls1_fwhm_max_kms)
    else:
        fwhm = _clipped_lognormal(
            rng, params.broad_fwhm_median_kms, params.broad_fwhm_scatter_dex, params.broad_fwhm_min_kms, params.broad_fwhm_max_kms
        )
    median = params.feii_median * (params.nls1_feii_factor if nls1 else 1.0)
    r_feii = _clipped_lognormal(rng, median, params.feii_scatter_dex, params.feii_min, params.feii_max)
    return _BroadDraw(nls1, fwhm, r_feii)


def _line_strengths(
    label: str,
    grid: _Grid,
    power_law: np.ndarray,
    continuum: np.ndarray,
    oiii_hbeta: float,
    r_feii: float,
    log_l5100: float,
    rng: np.random.Generator,
    params: SimulationParameters,
) -> tuple[float, float, float]:
    """Narrow Hβ, broad Hβ (observed integrated fluxes, 1e-17 erg/s/cm²) and the broad Hα/Hβ.

    Type 1: from a broad Hβ equivalent width and an [OIII] equivalent width (both against the AGN
    continuum, [OIII] tied to ``r_feii`` by eigenvector 1); otherwise from an [OIII]
    equivalent width, and for intermediates a broad/narrow ratio (broad values 0 for type 2).
    The type 1 and type 2 [OIII] medians follow the AGN's ``log_l5100`` (the narrow-line
    Baldwin effect, ``oiii_ew_type*_luminosity_slope``).
    """
    z = grid.z
    brighter = log_l5100 - params.agn_log_l5100_mean
    if label == "type1":
        ew = _clipped_lognormal(
            rng,
            params.broad_hbeta_ew_median,
            params.broad_hbeta_ew_scatter_dex,
            params.broad_hbeta_ew_min,
            params.broad_hbeta_ew_max,
        )
        # Host dilution must not hide the broad lines of a type 1: at least the minimum EW
        # against the total continuum.
        pl_hbeta = grid.at(EMISSION_LINES["Hβ"], power_law)
        total_hbeta = grid.at(EMISSION_LINES["Hβ"], continuum)
        ew = max(ew, params.type1_broad_ew_total_min * total_hbeta / pl_hbeta)
        broad_hbeta = ew * (1 + z) * pl_hbeta
        # Eigenvector 1 (Boroson & Green 1992): [OIII] weakens as R_FeII grows.
        oiii_median = params.oiii_ew_type1_median * (r_feii / params.feii_median) ** params.eigenvector1_slope
        oiii_median *= 10 ** (params.oiii_ew_type1_luminosity_slope * brighter)
        oiii_ew = _clipped_lognormal(rng, oiii_median, params.oiii_ew_type1_scatter_dex, params.oiii_ew_min, params.oiii_ew_max)
        narrow_hbeta = oiii_ew * (1 + z) * grid.at(EMISSION_LINES["[OIII] 5008"], power_law) / oiii_hbeta
        # A weaker broad/narrow Hβ than the 1.5s' upper end would make it an intermediate by
        # definition (Winkler 1992): the narrow lines are capped there.
        narrow_hbeta = min(narrow_hbeta, broad_hbeta / params.intermediate_broad_to_narrow_max)
        broad_decrement = rng.uniform(params.broad_decrement_type1_min, params.broad_decrement_type1_max)
        return narrow_hbeta, broad_hbeta, broad_decrement
    median = params.oiii_ew_median
    if label == "type2":
        median *= 10 ** (params.oiii_ew_type2_luminosity_slope * brighter)
    ew = _clipped_lognormal(rng, median, params.oiii_ew_scatter_dex, params.oiii_ew_min, params.oiii_ew_max)
    narrow_hbeta = ew * (1 + z) * grid.at(EMISSION_LINES["[OIII] 5008"], continuum) / oiii_hbeta
    if label != "intermediate":
        return narrow_hbeta, 0.0, 0.0
    ratio = _loguniform(rng, params.intermediate_broad_to_narrow_min, params.intermediate_broad_to_narrow_max)
    # Broad Hβ EW against the total continuum, kept within the intermediate range.
    per_ew = (1 + z) * grid.at(EMISSION_LINES["Hβ"], continuum)
    broad_ew = min(
        max(ratio * narrow_hbeta / per_ew, params.intermediate_broad_ew_total_min), params.intermediate_broad_ew_total_max
    )
    broad_hbeta = broad_ew * per_ew
    # Raising broad Hβ to the visible floor must not make a type 1 (broad/narrow above the 1.5s'
    # upper end, Winkler 1992): narrow Hβ (and the narrow lines with it) is raised to keep the
    # ratio there, the mirror of the type-1 cap above. Without it 44 % of the intermediates had
    # a type-1 ratio (3–11), overlapping the weak-broad type 1s with arbitrary labels (issue 21).
    narrow_hbeta = max(narrow_hbeta, broad_hbeta / params.intermediate_broad_to_narrow_max)
    broad_decrement = rng.uniform(params.broad_decrement_intermediate_min, params.broad_decrement_intermediate_max)
    return narrow_hbeta, broad_hbeta, broad_decrement


class _Emission:
    """Emission lines summed on the observed pixels (``total``) and, only when the caller wants
    the components, each kind apart (``parts``, also the Balmer continuum)."""

    def __init__(self, grid: _Grid, separate: bool) -> None:
        self.grid, self.separate = grid, separate
        self.total = np.zeros(grid.npix)
        self.parts = {kind: np.zeros(grid.npix) for kind in ("balmer_continuum", "narrow_lines", "broad_lines", "feii")}
        self.calls: list[tuple[np.ndarray, np.ndarray, float]] = []

    def add(self, kind: str, observed: np.ndarray, fluxes: np.ndarray, fwhm_kms: float) -> None:
        # Into ``total`` exactly as always (same calls, same order: the bytes do not depend on
        # ``components``), and, only when asked for, into a separate array per kind.
        grid = self.grid
        self.calls.append((np.array(observed, dtype=float), np.array(fluxes, dtype=float), float(fwhm_kms)))
        _add_lines(self.total, grid.loglam[0], grid.pixel_width, grid.wdisp, observed, fluxes, fwhm_kms)
        if self.separate:
            _add_lines(self.parts[kind], grid.loglam[0], grid.pixel_width, grid.wdisp, observed, fluxes, fwhm_kms)


def _add_narrow_lines(
    emission: _Emission,
    narrow_hbeta: float,
    decrement: float,
    oiii_hbeta: float,
    narrow_fwhm: float,
    rng: np.random.Generator,
    params: SimulationParameters,
) -> None:
    """The narrow lines (Seyfert-2 ratios with scatter) and the blueshifted [OIII] outflow wing."""
    scatter = params.narrow_ratio_scatter_dex

    def jitter() -> float:
        return float(10 ** rng.normal(0.0, scatter))

    balmer = _balmer_factors(decrement, _CASE_B)
    oiii = oiii_hbeta * narrow_hbeta
    halpha = balmer["Hα"] * narrow_hbeta
    oii = 0.33 * oiii * jitter()
    oii_ratio = rng.uniform(0.8, 1.4)  # [OII] 3730/3727 (density)
    neiii = 0.09 * oiii * jitter()
    nii = halpha * 10 ** rng.uniform(-0.2, 0.3)
    sii = halpha * 10 ** rng.uniform(-0.5, -0.1)
    sii_ratio = rng.uniform(0.9, 1.4)  # [SII] 6718/6733
    oi = halpha * 10 ** rng.uniform(-1.2, -0.6)
    # the entries draw in this order (jitter and HeII): keep it
    narrow = {
        EMISSION_LINES["[OII] 3727"]: oii / (1 + oii_ratio),
        EMISSION_LINES["[OII] 3730"]: oii * oii_ratio / (1 + oii_ratio),
        EMISSION_LINES["[NeIII] 3870"]: neiii,
        _NEIII_3968: 0.31 * neiii,
        _H8: balmer["H8"] * narrow_hbeta,
        _HEPSILON: balmer["Hε"] * narrow_hbeta,
        EMISSION_LINES["Hδ"]: balmer["Hδ"] * narrow_hbeta,
        EMISSION_LINES["Hγ"]: balmer["Hγ"] * narrow_hbeta,
        EMISSION_LINES["[OIII] 4364"]: 0.015 * oiii * jitter(),
        EMISSION_LINES["HeII 4687"]: rng.uniform(0.1, 0.3) * narrow_hbeta,
        EMISSION_LINES["Hβ"]: narrow_hbeta,
        EMISSION_LINES["HeI 5877"]: 0.12 * narrow_hbeta * jitter(),
        EMISSION_LINES["[OI] 6302"]: oi,
        _OI_6365: oi / 3.1,
        EMISSION_LINES["[NII] 6550"]: nii / 2.96,
        EMISSION_LINES["Hα"]: halpha,
        EMISSION_LINES["[NII] 6585"]: nii,
        EMISSION_LINES["[SII] 6718"]: sii * sii_ratio / (1 + sii_ratio),
        EMISSION_LINES["[SII] 6733"]: sii / (1 + sii_ratio),
        _ARIII_7138: 0.07 * halpha * jitter(),
    }
    wing_fraction = rng.uniform(0.0, params.oiii_wing_fraction_max)
    wing_fwhm = narrow_fwhm * rng.uniform(2.0, 3.5)
    wing_shift = -rng.uniform(0.0, 400.0)
    oiii_rest = np.array([EMISSION_LINES["[OIII] 4960"], EMISSION_LINES["[OIII] 5008"]])
    oiii_flux = np.array([oiii / 2.98, oiii])
    z = emission.grid.z
    line_rest = np.array(list(narrow))
    line_flux = np.array(list(narrow.values()))
    wing_rest, wing_flux = oiii_rest, wing_fraction * oiii_flux
    if params.balmer_wing_to_oiii > 0:
        # The narrow Balmer lines share part of the [OIII] outflow: the same draw, width and
        # shift at a smaller flux share (nothing more is drawn: the other draws stay as they were).
        share = min(params.balmer_wing_to_oiii * wing_fraction, 1.0)
        balmer = np.isin(line_rest, list(_BALMER_REST.values()))
        wing_rest = np.concatenate([wing_rest, line_rest[balmer]])
        wing_flux = np.concatenate([wing_flux, share * line_flux[balmer]])
        line_flux = np.where(balmer, (1 - share) * line_flux, line_flux)
    narrow_rest = np.concatenate([line_rest, oiii_rest])
    narrow_flux = np.concatenate([line_flux, (1 - wing_fraction) * oiii_flux])
    emission.add("narrow_lines", narrow_rest * (1 + z), narrow_flux, narrow_fwhm)
    emission.add("narrow_lines", wing_rest * (1 + z) * (1 + wing_shift / SPEED_OF_LIGHT_KMS), wing_flux, wing_fwhm)


def _add_broad_lines(
    emission: _Emission,
    broad_hbeta: float,
    broad_decrement: float,
    broad_fwhm: float,
    rng: np.random.Generator,
    params: SimulationParameters,
) -> dict[str, float]:
    """Every line of :data:`BROAD_LINES` as a core Gaussian plus a redshifted wing Gaussian; returns
    the kinematics (the ``broad_*`` truth columns of the core and wing)."""
    z = emission.grid.z
    shift = rng.normal(0.0, params.broad_shift_sigma_kms)
    broad_wing = rng.uniform(0.0, params.broad_wing_fraction_max)
    broad_wing_fwhm = broad_fwhm * rng.uniform(1.8, 3.0)
    broad_wing_shift = shift + rng.uniform(0.0, 1500.0)
    factors = _balmer_factors(broad_decrement, _BROAD_INTRINSIC)
    names = list(_BALMER_REST)
    rest_broad = np.array(list(BROAD_LINES.values()))
    flux_broad = broad_hbeta * np.array([factors[n] for n in names] + [_BROAD_HEI_TO_HBETA])
    doppler = (1 + z) * (1 + shift / SPEED_OF_LIGHT_KMS)
    emission.add("broad_lines", rest_broad * doppler, (1 - broad_wing) * flux_broad, broad_fwhm)
    emission.add(
        "broad_lines",
        rest_broad * (1 + z) * (1 + broad_wing_shift / SPEED_OF_LIGHT_KMS),
        broad_wing * flux_broad,
        broad_wing_fwhm,
    )
    return {
        "broad_fwhm": broad_fwhm,
        "broad_shift": shift,
        "broad_wing_fraction": broad_wing,
        "broad_wing_fwhm": broad_wing_fwhm,
        "broad_wing_shift": broad_wing_shift,
    }


def _add_feii(
    emission: _Emission,
    broad_hbeta: float,
    broad_fwhm: float,
    shift: float,
    r_feii: float,
    rng: np.random.Generator,
) -> tuple[float, float]:
    """FeII: R_FeII × broad Hβ in the 4434–4684 Å band, same kinematics as the broad core.
    Returns ``(r_feii, feii_fwhm)``."""
    doppler = (1 + emission.grid.z) * (1 + shift / SPEED_OF_LIGHT_KMS)
    band = (FEII_WAVELENGTHS > 4434.0) & (FEII_WAVELENGTHS < 4684.0)
    feii_flux = r_feii * broad_hbeta * FEII_STRENGTHS / FEII_STRENGTHS[band].sum()
    feii_fwhm = broad_fwhm * rng.uniform(0.6, 1.0)
    emission.add("feii", FEII_WAVELENGTHS * doppler, feii_flux, feii_fwhm)
    return r_feii, feii_fwhm


def _balmer_continuum(
    grid: _Grid,
    continuum: _Continuum,
    broad_hbeta: float,
    broad_fwhm: float,
    rng: np.random.Generator,
    params: SimulationParameters,
    scene: dict[str, Any] | None = None,
) -> tuple[float, np.ndarray]:
    """Balmer continuum below the edge (Grandi 1982 shape, T = 15000 K, τ = 1), smoothed by the
    broad-line width; weaker when the broad lines are (intermediates).

    Its strength is tied to broad Hβ: ``strength`` at a broad-Hβ EW of 80 Å (against the power
    law), proportionally less for weaker broad lines, at most twice the edge value. Returns the
    strength and the values of the first pixels (as many as it reaches, possibly none).
    """
    z, rest = grid.z, grid.rest
    strength = rng.uniform(params.balmer_continuum_min, params.balmer_continuum_max)
    hbeta_ew_pl = broad_hbeta / ((1 + z) * max(grid.at(EMISSION_LINES["Hβ"], continuum.power_law), 1e-30))
    strength *= min(2.0, hbeta_ew_pl / 80.0)
    edge_pl = (1.0 - continuum.host_fraction) * _FLUX_5100 * (BALMER_EDGE / 5100.0) ** continuum.alpha
    edge_pl *= float(dust_attenuation(np.array([BALMER_EDGE]), continuum.agn_ebv)[0])
    sigma_edge = BALMER_EDGE * broad_fwhm / 2.3548 / SPEED_OF_LIGHT_KMS
    if scene is not None:
        scene.update(balmer_amplitude=strength * edge_pl, balmer_sigma_edge=sigma_edge)
    blue = int(np.searchsorted(rest, BALMER_EDGE + 6.0 * sigma_edge))
    if blue <= 0:
        return strength, np.zeros(0)
    x = rest[:blue] / BALMER_EDGE
    planck = x**-5 * math.expm1(1.4388e8 / (BALMER_EDGE * 15000.0)) / np.expm1(1.4388e8 / (rest[:blue] * 15000.0))
    bac_shape = planck * -np.expm1(-(x**3)) / -math.expm1(-1.0)
    step = 0.5 * (1.0 - erf((rest[:blue] - BALMER_EDGE) / (math.sqrt(2.0) * sigma_edge)))
    return strength, strength * edge_pl * bac_shape * step


def balmer_continuum_on(rest: np.ndarray, amplitude: float, sigma_edge: float) -> np.ndarray:
    """The Balmer continuum of :func:`_balmer_continuum` on any rest-frame wavelengths (Å):
    ``amplitude`` = strength × power law at the edge, ``sigma_edge`` its smoothing σ (Å)."""
    blue = rest < BALMER_EDGE + 6.0 * sigma_edge
    out = np.zeros(rest.size)
    if amplitude == 0 or not np.any(blue):
        return out
    wavelengths = rest[blue]
    x = wavelengths / BALMER_EDGE
    planck = x**-5 * math.expm1(1.4388e8 / (BALMER_EDGE * 15000.0)) / np.expm1(1.4388e8 / (wavelengths * 15000.0))
    bac_shape = planck * -np.expm1(-(x**3)) / -math.expm1(-1.0)
    step = 0.5 * (1.0 - erf((wavelengths - BALMER_EDGE) / (math.sqrt(2.0) * sigma_edge)))
    out[blue] = amplitude * bac_shape * step
    return out


def _sky(
    grid: _Grid, rng: np.random.Generator, params: SimulationParameters, scene: dict[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sky continuum and sky lines (1e-17 erg/s/cm²/Å) at a drawn brightness (recorded in ``scene``)."""
    sky_level = params.sky_continuum * _loguniform(rng, 0.6, 1.8)
    sky_continuum = sky_level * np.interp(grid.wavelength, _SKY_CONTINUUM[:, 0], _SKY_CONTINUUM[:, 1])
    sky_lines = np.zeros(grid.npix)
    line_fluxes = (
        SKY_LINE_FLUXES * params.sky_line_scale * (sky_level / params.sky_continuum) * rng.uniform(0.7, 1.3, SKY_LINE_FLUXES.size)
    )
    _add_lines(sky_lines, grid.loglam[0], grid.pixel_width, grid.wdisp, SKY_LINE_WAVELENGTHS, line_fluxes, 0.0)
    if scene is not None:
        scene.update(sky_level=sky_level, sky_line_fluxes=line_fluxes)
    return sky_continuum, sky_lines


def _throughput(wavelength: np.ndarray) -> np.ndarray:
    """Relative spectrograph throughput at observed wavelengths (Å)."""
    return np.interp(wavelength, _THROUGHPUT[:, 0], _THROUGHPUT[:, 1])


def _brightness_and_noise(
    shape: np.ndarray, sky: np.ndarray, grid: _Grid, snr: float, rng: np.random.Generator, params: SimulationParameters
) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """The level at which ``shape`` reaches ``snr`` near 5100 Å rest, and the noisy spectrum.

    Returns ``(level, model, sigma, flux)``: ``model = level · shape``, its per-pixel noise σ and
    ``model`` plus one draw of that noise.
    """
    throughput = _throughput(grid.wavelength)
    in_window = (grid.rest > REST_5100_WINDOW[0]) & (grid.rest < REST_5100_WINDOW[1])
    # Level A of the continuum at which S/N = A m / sqrt(k (A m + S) / T) reaches ``snr``:
    # A² m² T = snr² k (A m + S)  →  the positive root, with window medians of m, S and T.
    k = params.noise_scale * 10 ** rng.normal(0.0, params.noise_scale_scatter_dex)
    m_w = float(np.median(shape[in_window]))
    s_w = float(np.median(sky[in_window]))
    t_w = float(np.median(throughput[in_window]))
    b = snr**2 * k / t_w
    level = (b + math.sqrt(b * b + 4.0 * b * s_w)) / (2.0 * m_w)
    model = level * shape
    variance_shape = (np.maximum(model, 0.0) + sky) / throughput
    # Exact requested S/N: rescale k by the (small) difference of the pixel median.
    scale = float(np.median(model[in_window] / np.sqrt(variance_shape[in_window]))) / snr
    sigma = scale * np.sqrt(variance_shape)
    flux = model + sigma * rng.standard_normal(grid.npix)
    return level, model, sigma, flux


def _add_sky_residuals(flux: np.ndarray, sky_lines: np.ndarray, rng: np.random.Generator, params: SimulationParameters) -> None:
    """Sky-subtraction residuals at the sky lines (scale, shift and per-pixel errors), in place."""
    gradient = np.gradient(sky_lines)
    amplitude = params.sky_residual_amplitude
    flux += amplitude * (rng.normal() * sky_lines + rng.normal() * gradient + 0.5 * sky_lines * rng.standard_normal(flux.size))


def _mask_pixels(
    flux: np.ndarray,
    sigma: np.ndarray,
    sky_lines: np.ndarray,
    sky_continuum: np.ndarray,
    rng: np.random.Generator,
    params: SimulationParameters,
) -> tuple[np.ndarray, np.ndarray]:
    """``ivar`` and the pixel mask: BRIGHTSKY at bright sky lines, rejected pixels (cosmic-ray
    residue) and maybe one no-data run, both with ``ivar`` = 0 (``flux`` changed in place)."""
    npix = flux.size
    and_mask = np.zeros(npix, np.int32)
    and_mask[sky_lines > params.brightsky_threshold * sky_continuum] |= MASK_BRIGHTSKY
    ivar = 1.0 / sigma**2
    n_rejected = rng.binomial(npix, params.masked_pixel_fraction)
    if n_rejected:
        hit = rng.choice(npix, size=n_rejected, replace=False)
        flux[hit] += sigma[hit] * rng.uniform(5.0, 50.0, n_rejected)  # cosmic-ray residue
        ivar[hit] = 0.0
        and_mask[hit] |= MASK_FULLREJECT
    if rng.random() < params.nodata_run_probability:
        length = int(rng.integers(3, 31))
        start = int(rng.integers(0, npix - length))
        flux[start : start + length] = 0.0
        ivar[start : start + length] = 0.0
        and_mask[start : start + length] |= MASK_NODATA
    return ivar, and_mask


def simulate_spectrum(
    label: str,
    z: float,
    snr: float,
    rng: np.random.Generator,
    params: SimulationParameters,
    *,
    truth: dict[str, Any] | None = None,
    components: dict[str, np.ndarray] | None = None,
    scene: dict[str, Any] | None = None,
) -> np.ndarray:
    """One observed-frame SDSS coadd of a ``type1``, ``type2`` or ``intermediate`` AGN.

    Parameters
    ----------
    label
        ``"type1"``, ``"type2"`` or ``"intermediate"``.
    z
        Redshift (≥ 0; rest 5150 Å must fall inside the observed range).
    snr
        Median S/N per pixel of the noiseless spectrum in 5050–5150 Å rest.
    rng
        Random generator; the spectrum is a deterministic function of its state.
    params
        Physical parameters.
    truth
        If given, filled in place with the drawn parameters of the spectrum (the columns of
        :data:`~agn_saliency.acquire.simulate.truth.TRUTH_COLUMNS` from ``label`` on; ``None`` for
        the broad-line ones of a type 2). Filling it draws nothing: the coadd is identical with or
        without it.
    components
        If given, filled in place with the noiseless observed-frame components (1e-17
        erg/s/cm²/Å, one value per pixel) whose sum is ``model`` up to rounding: ``"host"``,
        ``"power_law"``, ``"balmer_continuum"``, ``"narrow_lines"`` (with the [OIII] wing),
        ``"broad_lines"`` (:data:`~agn_saliency.acquire.simulate.constants.BROAD_LINES`, core +
        wing) and ``"feii"`` (zero arrays when absent). Draws nothing either.
    scene
        If given, filled in place with everything needed to observe the same spectrum with
        another instrument (:func:`agn_saliency.acquire.simulate.desi.render_desi`): the drawn
        continuum and line parameters, every emission-line call, the sky, the brightness, and
        this rendering's pixels, noise σ and noise realisation. Draws nothing either.

    Returns
    -------
    numpy.ndarray
        Structured array of :data:`agn_saliency.spectra.sdss.COADD_DTYPE` on the SDSS log-λ grid
        (``loglam`` step 1e-4, first pixel ≈ 3793–3828 Å, last ≈ 9153–9217 Å): ``flux``
        (model + noise + sky residuals) and ``model`` (noiseless) in 1e-17 erg/s/cm²/Å, ``ivar``
        (1/σ², 0 where masked), ``and_mask``/``or_mask`` (bits 18, 23, 24), ``wdisp``
        (instrumental σ in pixels) and ``sky``.
    """
    if label not in CLASS_NAMES:
        raise ValueError(f"label must be one of {', '.join(CLASS_NAMES)}, got {label!r}")
    if not (math.isfinite(z) and z >= 0):
        raise ValueError(f"z must be a finite non-negative number, got {z!r}")
    if not (math.isfinite(snr) and snr > 0):
        raise ValueError(f"snr must be positive, got {snr!r}")
    grid = _observed_grid(z, rng, params)

    # --- continuum and line strengths, in units of the total continuum at 5100 Å rest; the
    # absolute level follows from the S/N and the noise model (_brightness_and_noise).
    drawn_continuum = _draw_continuum(label, grid, rng, params)
    host, power_law = drawn_continuum.host, drawn_continuum.power_law
    continuum = host + power_law
    broad = label != "type2"
    narrow_fwhm = rng.uniform(params.narrow_fwhm_min_kms, params.narrow_fwhm_max_kms)
    decrement = rng.uniform(params.narrow_decrement_min, params.narrow_decrement_max)
    oiii_hbeta = _clipped_lognormal(
        rng, params.oiii_hbeta_median, params.oiii_hbeta_scatter_dex, params.oiii_hbeta_min, params.oiii_hbeta_max
    )
    region = _draw_broad(label, rng, params) if broad else None
    r_feii = region.r_feii if region is not None else params.feii_median
    narrow_hbeta, broad_hbeta, broad_decrement = _line_strengths(
        label, grid, power_law, continuum, oiii_hbeta, r_feii, drawn_continuum.log_l5100, rng, params
    )

    # --- emission lines (and, with broad lines, FeII and the Balmer continuum)
    emission = _Emission(grid, separate=components is not None)
    _add_narrow_lines(emission, narrow_hbeta, decrement, oiii_hbeta, narrow_fwhm, rng, params)
    drawn: dict[str, Any] = dict.fromkeys(_BROAD_TRUTH, None)
    if region is not None:
        kinematics = _add_broad_lines(emission, broad_hbeta, broad_decrement, region.fwhm, rng, params)
        broad_fwhm = kinematics["broad_fwhm"]
        r_feii, feii_fwhm = _add_feii(emission, broad_hbeta, broad_fwhm, kinematics["broad_shift"], region.r_feii, rng)
        strength, balmer = _balmer_continuum(grid, drawn_continuum, broad_hbeta, broad_fwhm, rng, params, scene)
        continuum[: balmer.size] += balmer
        emission.parts["balmer_continuum"][: balmer.size] = balmer
        total_hbeta = grid.at(EMISSION_LINES["Hβ"], continuum)
        drawn.update(
            kinematics,
            broad_hbeta_ew=broad_hbeta / ((1 + z) * total_hbeta),
            broad_to_narrow_hbeta=broad_hbeta / narrow_hbeta,
            broad_halpha_hbeta=broad_decrement,
            r_feii=r_feii,
            feii_fwhm=feii_fwhm,
            balmer_continuum=strength,
        )
    shape = continuum + emission.total

    # --- sky, brightness from S/N, noise, residuals, masks
    sky_continuum, sky_lines = _sky(grid, rng, params, scene)
    sky = sky_continuum + sky_lines
    level, model, sigma, flux = _brightness_and_noise(shape, sky, grid, snr, rng, params)
    if scene is not None:
        scene.update(noise=flux - model)
    _add_sky_residuals(flux, sky_lines, rng, params)
    if scene is not None:
        residual = flux - model - scene["noise"]
        scene.update(
            label=label,
            z=z,
            snr=snr,
            loglam=grid.loglam.copy(),
            sigma=sigma,
            residual=residual,
            residual_sigma=0.5 * params.sky_residual_amplitude * sky_lines,
            noise_scale=float(np.median(sigma / np.sqrt((np.maximum(model, 0.0) + sky) / _throughput(grid.wavelength)))),
            level=level,
            host_fraction=drawn_continuum.host_fraction,
            log_l5100=drawn_continuum.log_l5100,
            young_fraction=drawn_continuum.young_fraction,
            sigma_star=drawn_continuum.sigma_star,
            host_ebv=drawn_continuum.host_ebv,
            alpha=drawn_continuum.alpha,
            agn_ebv=drawn_continuum.agn_ebv,
            emission=list(emission.calls),
        )
        scene.setdefault("balmer_amplitude", 0.0)
        scene.setdefault("balmer_sigma_edge", 1.0)
    ivar, and_mask = _mask_pixels(flux, sigma, sky_lines, sky_continuum, rng, params)

    coadd = np.zeros(grid.npix, sdss.COADD_DTYPE)
    coadd["flux"] = flux
    coadd["loglam"] = grid.loglam
    coadd["ivar"] = ivar
    coadd["and_mask"] = and_mask
    coadd["or_mask"] = and_mask
    coadd["wdisp"] = grid.wdisp
    coadd["sky"] = sky
    coadd["model"] = model
    if truth is not None:
        truth.update(label=label, z=z, snr=snr, has_broad=broad, **drawn)
        truth.update(
            broad_hbeta_flux=level * broad_hbeta if broad else None,
            narrow_hbeta_flux=level * narrow_hbeta,
            narrow_fwhm=narrow_fwhm,
            host_fraction=drawn_continuum.host_fraction,
            agn_ebv=drawn_continuum.agn_ebv,
        )
    if components is not None:
        parts = emission.parts
        components.update(host=level * host, power_law=level * power_law, **{kind: level * part for kind, part in parts.items()})
    return coadd
