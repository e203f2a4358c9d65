"""The physical knobs of the simulated sample (:class:`SimulationParameters`) and their checks."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from agn_saliency.acquire.simulate.constants import LOGLAM_END_RANGE, REST_5100_WINDOW


@dataclass(frozen=True)
class SimulationParameters:
    """Every physical knob of the simulated sample (ranges are drawn uniformly unless noted).

    Attributes
    ----------
    z_min, z_max
        Redshift range, uniform. Default 0.02–0.30 (the paper's low-redshift sample).
    snr_min, snr_max
        Median S/N per pixel in 5050–5150 Å rest, log-uniform. Default 8–40.
    noise_scale
        Exposure constant k of the noise model σ² = k (object + sky) / T(λ), with object and sky
        in 1e-17 erg/s/cm²/Å and T the relative throughput (peak ≈ 0.56). It ties brightness to
        S/N: the continuum at 5100 Å rest is the level at which the requested S/N is reached, so
        faint spectra are sky-limited and bright ones photon-limited, as in SDSS. Default 0.013
        (fitted on real SDSS-I/II spectra: S/N 10 ↔ ≈ 7, S/N 30 ↔ ≈ 50 × 1e-17 erg/s/cm²/Å).
    noise_scale_scatter_dex
        Per-spectrum log-normal scatter of ``noise_scale`` (exposure time, seeing, fiber
        throughput) [dex]. Default 0.15.
    alpha_min, alpha_max
        AGN power-law slope α of f_λ ∝ λ^α. Default −2.2…−0.8: real low-z SDSS quasars fall by
        a factor ≈ 2 from 4000 to 5500 Å (α_λ ≈ −2), Vanden Berk et al. (2001) give −1.56.
    balmer_continuum_min, balmer_continuum_max
        Balmer continuum at the edge (3646 Å) relative to the power law there, for a broad Hβ
        EW of 80 Å against the power law (proportionally less for weaker broad lines).
        Default 0.1–0.5.
    host_fraction_type1_min, host_fraction_type1_max
        Host starlight share of the continuum at 5100 Å rest for type 1. Default 0.0–0.85
        (low-z SDSS type 1s in 3″ fibres often show their host, e.g. spec-0332-52367-0639).
    host_fraction_intermediate_min, host_fraction_intermediate_max
        Same for intermediates. Default 0.3–0.85.
    host_fraction_type2_min, host_fraction_type2_max
        Same for type 2 (host-dominated; the rest is scattered/featureless AGN light).
        Default 0.75–1.0.
    host_young_fraction_max
        Largest share (at 5100 Å) of the intermediate-age (A-star-rich) template in the host;
        drawn uniformly from 0 to it. Default 0.5.
    host_ebv_max
        Largest colour excess E(B−V) [mag] of the host starlight (Calzetti 2000 curve), drawn
        uniformly from 0; spreads host colours as in real Seyfert hosts. Default 0.4.
    agn_ebv_type1_max, agn_ebv_intermediate_max
        Largest E(B−V) [mag] of the AGN power law for type 1 and intermediates (type 2: its
        featureless continuum is scattered light, unreddened). Default 0.1 and 0.4.
    stellar_sigma_min_kms, stellar_sigma_max_kms
        Host stellar velocity dispersion σ* [km/s]. Default 80–250.
    broad_fwhm_min_kms, broad_fwhm_max_kms
        FWHM of the broad-line core Gaussian [km/s], log-uniform. Default 2000–10000.
    broad_wing_fraction_max
        Largest flux share of the broad wing Gaussian (FWHM × 1.8–3, redshifted 0–1500 km/s).
        Default 0.4.
    broad_shift_sigma_kms
        Standard deviation of the broad-line centroid shift [km/s]. Default 300.
    broad_hbeta_ew_min, broad_hbeta_ew_max
        Type 1 broad Hβ equivalent width against the AGN continuum [Å, rest], log-uniform.
        Default 25–150.
    type1_broad_ew_total_min
        Smallest type 1 broad Hβ equivalent width against the total (host + AGN) continuum
        [Å, rest]; larger host fractions raise the AGN-relative EW to reach it. Default 10.
    type1_broad_to_narrow_min, type1_broad_to_narrow_max
        Type 1 broad/narrow Hβ flux ratio, log-uniform. Default 5–40.
    intermediate_broad_to_narrow_min, intermediate_broad_to_narrow_max
        Intermediate broad/narrow Hβ flux ratio, log-uniform: ≈ 0.4 gives 1.9-like spectra
        (broad Hα, a barely visible broad Hβ base), ≈ 3 gives 1.5-like ones. Default 0.4–3.0
        (the paper's intermediates were labelled by eye on a narrow core *on a broad base* in
        the Hβ window, so broad Hβ cannot vanish altogether).
    intermediate_broad_ew_total_min, intermediate_broad_ew_total_max
        Bounds of the intermediate broad Hβ equivalent width against the total continuum
        [Å, rest]: the broad/narrow ratio sets it, clipped into this range (a visible but weak
        broad base). Default 3–25.
    broad_decrement_type1_min, broad_decrement_type1_max
        Type 1 broad Hα/Hβ flux ratio. Default 2.7–4.0.
    broad_decrement_intermediate_min, broad_decrement_intermediate_max
        Intermediate broad Hα/Hβ (reddened broad-line region). Default 3.5–8.0.
    feii_min, feii_max
        R_FeII = F(FeII 4434–4684 Å)/F(broad Hβ), log-uniform. Default 0.1–1.5.
    narrow_fwhm_min_kms, narrow_fwhm_max_kms
        Narrow-line FWHM [km/s]. Default 250–700.
    oiii_hbeta_min, oiii_hbeta_max
        Narrow [OIII] 5008/Hβ, log-uniform (Seyfert-like). Default 3–15.
    oiii_ew_min, oiii_ew_max
        [OIII] 5008 equivalent width against the total continuum for type 2 and intermediates
        [Å, rest], log-uniform. Default 5–120.
    narrow_decrement_min, narrow_decrement_max
        Narrow Hα/Hβ; higher Balmer lines follow from the implied reddening. Default 2.86–4.5.
    narrow_ratio_scatter_dex
        Log-normal scatter of the other narrow-line ratios around Seyfert-2 values [dex].
        Default 0.15.
    oiii_wing_fraction_max
        Largest flux share of the blueshifted [OIII] outflow component (FWHM × 2–3.5,
        −400…0 km/s). Default 0.35.
    resolution
        Median resolving power R = λ/FWHM of the line-spread function. Default 2000.
    sky_continuum
        Sky continuum [1e-17 erg/s/cm²/Å]; each spectrum scales it log-uniformly by 0.6–1.8.
        Default 10.
    sky_line_scale
        Multiplier of the night-sky line fluxes (``SKY_LINE_FLUXES``). Default 1.
    sky_residual_amplitude
        Sky-subtraction residual at sky lines as a fraction of the sky-line flux (scale and
        shift errors plus per-pixel scatter). Default 0.02.
    brightsky_threshold
        A pixel is flagged BRIGHTSKY where the sky-line flux density exceeds this multiple of the
        sky continuum (≈ 100–150 flagged pixels, as in real SDSS-I/II spectra). Default 4.
    masked_pixel_fraction
        Expected share of isolated FULLREJECT pixels (cosmic-ray hits; ivar = 0). Default 0.002.
    nodata_run_probability
        Probability that a spectrum has one NODATA run of 3–30 pixels (flux = ivar = 0).
        Default 0.05.
    """

    z_min: float = 0.02
    z_max: float = 0.30
    snr_min: float = 8.0
    snr_max: float = 40.0
    noise_scale: float = 0.013
    noise_scale_scatter_dex: float = 0.15
    alpha_min: float = -2.2
    alpha_max: float = -0.8
    balmer_continuum_min: float = 0.1
    balmer_continuum_max: float = 0.5
    host_fraction_type1_min: float = 0.0
    host_fraction_type1_max: float = 0.85
    host_fraction_intermediate_min: float = 0.3
    host_fraction_intermediate_max: float = 0.85
    host_fraction_type2_min: float = 0.75
    host_fraction_type2_max: float = 1.0
    host_young_fraction_max: float = 0.5
    host_ebv_max: float = 0.4
    agn_ebv_type1_max: float = 0.1
    agn_ebv_intermediate_max: float = 0.4
    stellar_sigma_min_kms: float = 80.0
    stellar_sigma_max_kms: float = 250.0
    broad_fwhm_min_kms: float = 2000.0
    broad_fwhm_max_kms: float = 10000.0
    broad_wing_fraction_max: float = 0.4
    broad_shift_sigma_kms: float = 300.0
    broad_hbeta_ew_min: float = 25.0
    broad_hbeta_ew_max: float = 150.0
    type1_broad_ew_total_min: float = 10.0
    type1_broad_to_narrow_min: float = 5.0
    type1_broad_to_narrow_max: float = 40.0
    intermediate_broad_to_narrow_min: float = 0.4
    intermediate_broad_to_narrow_max: float = 3.0
    intermediate_broad_ew_total_min: float = 3.0
    intermediate_broad_ew_total_max: float = 25.0
    broad_decrement_type1_min: float = 2.7
    broad_decrement_type1_max: float = 4.0
    broad_decrement_intermediate_min: float = 3.5
    broad_decrement_intermediate_max: float = 8.0
    feii_min: float = 0.1
    feii_max: float = 1.5
    narrow_fwhm_min_kms: float = 250.0
    narrow_fwhm_max_kms: float = 700.0
    oiii_hbeta_min: float = 3.0
    oiii_hbeta_max: float = 15.0
    oiii_ew_min: float = 5.0
    oiii_ew_max: float = 120.0
    narrow_decrement_min: float = 2.86
    narrow_decrement_max: float = 4.5
    narrow_ratio_scatter_dex: float = 0.15
    oiii_wing_fraction_max: float = 0.35
    resolution: float = 2000.0
    sky_continuum: float = 10.0
    sky_line_scale: float = 1.0
    sky_residual_amplitude: float = 0.02
    brightsky_threshold: float = 4.0
    masked_pixel_fraction: float = 0.002
    nodata_run_probability: float = 0.05

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise ValueError(f"simulation parameter {field.name} must be a finite number, got {value!r}")
            object.__setattr__(self, field.name, float(value))
        names = {f.name for f in dataclasses.fields(self)}
        for name in sorted(names):
            if name.endswith("_min") or name.endswith("_min_kms"):
                upper = name.replace("_min", "_max")
                if upper in names and getattr(self, name) > getattr(self, upper):
                    raise ValueError(
                        f"simulation parameter {name} ({getattr(self, name)}) exceeds {upper} ({getattr(self, upper)})"
                    )
        positive = (
            "snr_min",
            "noise_scale",
            "stellar_sigma_min_kms",
            "broad_fwhm_min_kms",
            "broad_hbeta_ew_min",
            "type1_broad_ew_total_min",
            "type1_broad_to_narrow_min",
            "intermediate_broad_to_narrow_min",
            "intermediate_broad_ew_total_min",
            "feii_min",
            "narrow_fwhm_min_kms",
            "oiii_hbeta_min",
            "oiii_ew_min",
            "narrow_decrement_min",
            "broad_decrement_type1_min",
            "broad_decrement_intermediate_min",
            "resolution",
            "sky_continuum",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ValueError(f"simulation parameter {name} must be positive, got {getattr(self, name)}")
        non_negative = (
            "z_min",
            "noise_scale_scatter_dex",
            "balmer_continuum_min",
            "host_young_fraction_max",
            "broad_wing_fraction_max",
            "broad_shift_sigma_kms",
            "host_ebv_max",
            "agn_ebv_type1_max",
            "agn_ebv_intermediate_max",
            "narrow_ratio_scatter_dex",
            "oiii_wing_fraction_max",
            "sky_line_scale",
            "sky_residual_amplitude",
            "brightsky_threshold",
            "masked_pixel_fraction",
            "nodata_run_probability",
        )
        for name in non_negative:
            if getattr(self, name) < 0:
                raise ValueError(f"simulation parameter {name} must not be negative, got {getattr(self, name)}")
        fractions = (
            "host_fraction_type1_min",
            "host_fraction_type1_max",
            "host_fraction_intermediate_min",
            "host_fraction_intermediate_max",
            "host_fraction_type2_min",
            "host_fraction_type2_max",
            "host_young_fraction_max",
            "broad_wing_fraction_max",
            "oiii_wing_fraction_max",
            "masked_pixel_fraction",
            "nodata_run_probability",
        )
        for name in fractions:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"simulation parameter {name} must lie in [0, 1], got {getattr(self, name)}")
        # The S/N and normalisation window (5050–5150 Å rest) must stay inside the observed range.
        if self.z_max >= 10 ** LOGLAM_END_RANGE[0] / REST_5100_WINDOW[1] - 1:
            raise ValueError(f"simulation parameter z_max ({self.z_max}) puts rest 5150 Å beyond the SDSS range")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> SimulationParameters:
        """Parameters from a (config) mapping; absent keys keep their defaults.

        Raises
        ------
        ValueError
            If a key is not a parameter (the message names it) or a value is out of range.
        """
        mapping = dict(mapping or {})
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown simulation parameter(s): {', '.join(unknown)}")
        return cls(**mapping)
