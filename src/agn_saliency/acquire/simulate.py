"""The embedded, physically modelled sample: observed-frame SDSS spectra of three AGN classes.

Every spectrum is built from physical components, then observed as SDSS would:

* **Continuum** — an AGN power law :math:`f_\\lambda \\propto \\lambda^{\\alpha}` plus a Balmer
  (pseudo-)continuum below 3646 Å, and host-galaxy starlight: a mix of an old and an
  intermediate-age stellar template with a 4000 Å break, Ca II H&K, the G band, Mg b, Fe, Na D,
  stellar Balmer absorption and a weak metal-line forest, broadened by the stellar velocity
  dispersion. The host's share of the continuum at 5100 Å (rest) depends on the class.
* **Narrow lines** (every class): [OII], [NeIII], Balmer (Hα/Hβ from a reddened case-B
  decrement), [OIII] 4364/4960/5008 (4960:5008 = 1:2.98, optional blue outflow wing), HeII, HeI,
  [OI], [NII] (1:2.96), [SII], [ArIII].
* **Broad lines** (type 1 and intermediate): Hα…H8 from a reddened broad decrement, each a core
  Gaussian plus a redshifted wing Gaussian; HeI 5877; optical FeII (multiplets 27, 28, 37, 38, 42,
  48, 49) with the same kinematics, scaled to broad Hβ by :math:`R_{\\rm FeII}`.
* **Classes** — ``type1``: strong broad Balmer lines (broad/narrow Hβ 5–40, broad Hβ EW ≥ 10 Å
  against the total continuum), host share 0–85 %; ``intermediate`` (Seyfert 1.5…1.9): narrow
  Balmer cores on a weak broad base (broad/narrow Hβ 0.4–3, broad Hβ EW 3–25 Å; 1.9-like ones
  have strong broad Hα but barely visible broad Hβ because their broad decrement is steep),
  moderate host, reddened AGN continuum; ``type2``: narrow lines only, host-dominated (75–100 %).
  Host starlight is reddened (Calzetti) by up to E(B−V) = 0.4 in every class.
* **Observation** — redshift λ(1+z) on the SDSS log-λ grid (step 1e-4 dex, ≈3800–9200 Å),
  Gaussian line-spread function of resolving power ≈ R varying along the two spectrograph arms
  (``wdisp`` = its σ in pixels, as in SDSS files), sky (continuum + the bright lines of [OI], Na D,
  Hg and the OH bands), photon noise from object + sky through a throughput curve scaled to the
  requested S/N at 5100 Å rest, ``ivar`` = 1/σ², sky-subtraction residuals at bright sky lines
  (``and_mask`` bit 23 BRIGHTSKY), occasional rejected pixels (bit 18 FULLREJECT) and no-data
  runs (bit 24 NODATA), both with ``ivar`` = 0; ``model`` = the noiseless object spectrum. The
  brightness follows from the S/N through the noise model (faint spectra are sky-limited).

Units: wavelengths in Å (vacuum), flux densities in 1e-17 erg/s/cm²/Å (observed frame),
line fluxes in 1e-17 erg/s/cm², equivalent widths in rest-frame Å, velocities in km/s.

Reproducibility: the catalog depends only on ``(seed, counts, params)``; each spectrum only on
``(seed, plate, mjd, fiberid, label, z, params)`` through
``numpy.random.default_rng([seed, plate, mjd, fiberid])``, so it is byte-identical whichever
shard writes it.

Ground truth: :func:`simulate_spectrum` optionally fills a ``truth`` dict with the parameters it
drew for the broad-line region (columns :data:`TRUTH_COLUMNS`, units :data:`TRUTH_UNITS`) and a
``components`` dict with the noiseless component spectra, without drawing anything more (the
files are byte-identical with or without them); :func:`write_spectra_with_truth` returns the truth
records of the files it writes and :func:`broad_component_mask` turns them into a pixel mask of
where the broad lines are, for planted-signal checks of saliency maps.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import erf

from agn_saliency.core.files import atomic_output
from agn_saliency.core.lines import BALMER_LINES, EMISSION_LINES, SPEED_OF_LIGHT_KMS
from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.spectra import sdss

# ------------------------------------------------------------------------------------ constants

LOGLAM_STEP = 1.0e-4
"""SDSS coadd pixel size in log10(λ/Å)."""
PIXEL_KMS = SPEED_OF_LIGHT_KMS * math.log(10.0) * LOGLAM_STEP
"""Velocity width of one pixel (≈ 69.0 km/s)."""
LOGLAM_START_RANGE = (3.5790, 3.5830)
"""Range of the first pixel's log10(λ/Å) (≈ 3793–3828 Å), drawn per spectrum as in real coadds."""
LOGLAM_END_RANGE = (3.9615, 3.9645)
"""Range of the last pixel's log10(λ/Å) (≈ 9153–9217 Å)."""
FIRST_PLATE = 266
"""First SDSS-I main-survey plate used for simulated identifiers."""
FIBERS_PER_PLATE = 640
"""SDSS-I/II spectrographs: fibers 1…640 per plate."""
RUN2D = sdss.DEFAULT_RUN2D_SDSS
"""run2d written into simulated files and paths (SDSS-I/II plates: ``"26"``)."""

# SDSS spectro pixel-mask bits (sdss.org/dr17/algorithms/bitmasks/#SPPIXMASK).
MASK_FULLREJECT = 1 << 18
MASK_BRIGHTSKY = 1 << 23
MASK_NODATA = 1 << 24

REST_5100_WINDOW = (5050.0, 5150.0)
"""Rest-frame window (Å) in which the requested S/N and continuum level are defined."""
BALMER_EDGE = 3646.0
"""Balmer edge (Å, rest)."""

_AIR_TO_VACUUM = 1.000277  # (n - 1) of air in the optical, enough for line-list positions

# Extra narrow lines not in lines.EMISSION_LINES (vacuum Å).
_NEIII_3968 = 3968.59
_HEPSILON = 3971.20
_H8 = 3890.17
_OI_6365 = 6365.54
_ARIII_7138 = 7137.77

# CCM-like extinction k(λ) = A_λ/E(B-V) at the Balmer lines used for decrements.
_K_EXTINCTION = {"Hα": 2.53, "Hβ": 3.61, "Hγ": 4.17, "Hδ": 4.44, "Hε": 4.60, "H8": 4.70}
_CASE_B = {"Hα": 2.86, "Hβ": 1.0, "Hγ": 0.468, "Hδ": 0.259, "Hε": 0.159, "H8": 0.105}
"""Case-B (10⁴ K) Balmer ratios to Hβ, the intrinsic narrow decrement."""
_BROAD_INTRINSIC = {"Hα": 2.7, "Hβ": 1.0, "Hγ": 0.42, "Hδ": 0.24, "Hε": 0.15, "H8": 0.10}
"""Intrinsic broad-line Balmer ratios to Hβ (flatter Hγ/Hβ than case B, as in quasar composites)."""
_BALMER_REST = {
    "Hα": BALMER_LINES["Hα"],
    "Hβ": BALMER_LINES["Hβ"],
    "Hγ": BALMER_LINES["Hγ"],
    "Hδ": BALMER_LINES["Hδ"],
    "Hε": _HEPSILON,
    "H8": _H8,
}
_BROAD_HEI_TO_HBETA = 0.08
"""Broad HeI 5877 / broad Hβ flux ratio."""
BROAD_LINES: dict[str, float] = {**_BALMER_REST, "HeI 5877": EMISSION_LINES["HeI 5877"]}
"""Rest-frame vacuum wavelengths (Å) of every line given a broad (core + wing) component: the
Balmer lines Hα…H8 (:data:`agn_saliency.core.lines.BALMER_LINES` plus Hε and H8) and HeI 5877. HeII
4687 is narrow only; FeII shares the broad kinematics but is a blend, not in this list."""
BROAD_WING_MASK_MIN_FRACTION = 0.1
"""Default smallest broad-wing flux share for which :func:`broad_component_mask` also masks the wing."""

# Optical FeII lines (air Å, relative intensity), multiplets 27, 28, 37, 38, 42, 48, 49 and a few
# red lines: positions from the standard multiplet tables, strengths set to reproduce the shape
# of the I Zw 1 template (two bumps, 4434–4684 and 5147–5350 Å, comparable in flux).
_FEII_AIR = np.array(
    [
        (4173.45, 0.25),
        (4178.86, 0.20),
        (4233.17, 0.45),
        (4258.15, 0.10),
        (4273.33, 0.15),
        (4296.57, 0.25),
        (4303.17, 0.40),
        (4351.76, 0.45),
        (4369.40, 0.15),
        (4385.38, 0.35),
        (4413.60, 0.20),
        (4416.83, 0.45),
        (4472.93, 0.35),
        (4489.18, 0.55),
        (4491.40, 0.50),
        (4508.28, 0.75),
        (4515.34, 0.75),
        (4520.22, 0.70),
        (4522.63, 0.85),
        (4534.17, 0.35),
        (4541.52, 0.45),
        (4549.47, 0.95),
        (4555.89, 0.85),
        (4576.33, 0.70),
        (4582.83, 0.65),
        (4583.83, 0.90),
        (4620.51, 0.55),
        (4629.34, 0.90),
        (4635.33, 0.30),
        (4656.98, 0.30),
        (4666.75, 0.45),
        (4731.44, 0.35),
        (4923.92, 1.10),
        (5018.43, 1.30),
        (5169.03, 1.30),
        (5197.57, 0.80),
        (5234.62, 0.85),
        (5254.93, 0.35),
        (5264.80, 0.45),
        (5276.00, 0.95),
        (5284.09, 0.45),
        (5316.61, 1.10),
        (5325.55, 0.30),
        (5337.73, 0.35),
        (5362.86, 0.50),
        (5414.07, 0.20),
        (5425.25, 0.30),
        (5534.83, 0.40),
        (6147.74, 0.20),
        (6238.39, 0.25),
        (6247.56, 0.30),
        (6416.92, 0.20),
        (6456.38, 0.30),
        (6516.08, 0.25),
    ]
)
FEII_WAVELENGTHS = _FEII_AIR[:, 0] * _AIR_TO_VACUUM
"""Rest-frame vacuum wavelengths (Å) of the modelled FeII lines."""
FEII_STRENGTHS = _FEII_AIR[:, 1]
"""Relative strengths of the modelled FeII lines."""

# Night-sky emission lines (air Å, integrated flux in 1e-17 erg/s/cm² at sky_line_scale = 1):
# Hg street lamps, [OI] 5577/6300/6364, Na D, and the OH Meinel bands (6-1, 7-2, 8-3, 5-1, 6-2,
# 7-3) including the 7600–7700 Å group and the strong lines beyond 7700 Å.
_SKY_AIR = np.array(
    [
        (4046.56, 50),
        (4358.34, 150),
        (5460.74, 150),
        (5769.60, 40),
        (5790.66, 40),
        (5577.34, 2500),
        (5889.95, 300),
        (5895.92, 200),
        (6300.30, 600),
        (6363.78, 200),
        (6257.96, 60),
        (6287.43, 60),
        (6306.90, 40),
        (6329.90, 50),
        (6498.70, 50),
        (6533.00, 60),
        (6553.60, 60),
        (6577.20, 50),
        (6604.30, 50),
        (6828.50, 60),
        (6834.00, 80),
        (6863.90, 200),
        (6871.00, 60),
        (6912.60, 80),
        (6923.20, 200),
        (6939.50, 100),
        (6948.90, 200),
        (6969.90, 90),
        (7003.90, 50),
        (7244.90, 100),
        (7276.40, 200),
        (7284.40, 100),
        (7303.70, 150),
        (7316.30, 300),
        (7329.10, 200),
        (7340.90, 300),
        (7358.70, 150),
        (7369.20, 250),
        (7392.20, 100),
        (7401.70, 250),
        (7524.10, 150),
        (7571.70, 300),
        (7586.00, 100),
        (7599.00, 80),
        (7621.00, 100),
        (7640.00, 150),
        (7660.00, 100),
        (7680.00, 80),
        (7695.00, 80),
        (7712.00, 250),
        (7750.60, 400),
        (7794.10, 500),
        (7821.50, 500),
        (7853.20, 200),
        (7913.70, 500),
        (7949.20, 100),
        (7964.70, 400),
        (7993.30, 400),
        (8025.80, 300),
        (8062.00, 200),
        (8288.00, 300),
        (8344.60, 700),
        (8399.20, 700),
        (8430.20, 700),
        (8465.20, 800),
        (8504.70, 800),
        (8548.70, 500),
        (8627.00, 200),
        (8634.00, 200),
        (8646.00, 300),
        (8665.00, 200),
        (8761.30, 500),
        (8767.90, 400),
        (8778.30, 500),
        (8791.20, 500),
        (8827.10, 1000),
        (8836.00, 400),
        (8867.60, 300),
        (8885.80, 1000),
        (8903.10, 600),
        (8919.60, 700),
        (8943.40, 1000),
        (8958.10, 1000),
        (8988.40, 900),
        (9001.40, 700),
        (9037.00, 400),
        (9050.00, 500),
        (9093.00, 300),
        (9140.00, 300),
        (9155.00, 300),
        (9178.00, 300),
        (9202.00, 300),
        (9220.00, 300),
    ]
)
SKY_LINE_WAVELENGTHS = _SKY_AIR[:, 0] * _AIR_TO_VACUUM
"""Observed vacuum wavelengths (Å) of the modelled night-sky lines."""
SKY_LINE_FLUXES = _SKY_AIR[:, 1].astype(float)
"""Their integrated fluxes (1e-17 erg/s/cm²) at ``sky_line_scale`` = 1."""

# Relative spectrograph throughput (observed Å → relative units): two arms, dichroic near 5900 Å.
_THROUGHPUT = np.array(
    [
        (3700, 0.04),
        (3780, 0.06),
        (3850, 0.09),
        (4000, 0.16),
        (4250, 0.25),
        (4500, 0.31),
        (5000, 0.37),
        (5500, 0.39),
        (5800, 0.33),
        (5950, 0.25),
        (6100, 0.36),
        (6500, 0.50),
        (7000, 0.56),
        (7500, 0.56),
        (8000, 0.52),
        (8500, 0.43),
        (9000, 0.29),
        (9300, 0.20),
    ]
)
# Sky continuum shape (observed Å → relative units, 1 = sky_continuum).
_SKY_CONTINUUM = np.array(
    [
        (3700, 0.9),
        (4000, 1.0),
        (4500, 0.9),
        (5000, 0.95),
        (5500, 1.05),
        (5900, 1.25),
        (6100, 1.1),
        (6500, 1.0),
        (7000, 1.05),
        (7500, 0.85),
        (8000, 0.9),
        (8500, 0.8),
        (9000, 0.75),
        (9300, 0.7),
    ]
)


# ----------------------------------------------------------------------------------- parameters


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


# ------------------------------------------------------------------------------------- catalog

CATALOG_DTYPE = np.dtype([("plate", "i4"), ("mjd", "i4"), ("fiberid", "i4"), ("z", "f8"), ("label", "U12"), ("snr", "f8")])
"""Fields of a simulated catalog."""


def plate_mjd(plate: int | np.ndarray) -> int | np.ndarray:
    """A plausible, fixed observation MJD for an SDSS-I/II plate (≈ the real plate–MJD trend).

    Plate 266 was observed on MJD ≈ 51602 and plate 2880 on ≈ 54509; this interpolates linearly
    with a deterministic ±20-day jitter, so every plate has exactly one MJD.
    """
    plate = np.asarray(plate, dtype=np.int64)
    mjd = 51602 + (plate - FIRST_PLATE) * 111 // 100 + (plate * 7919) % 41 - 20
    return int(mjd) if mjd.ndim == 0 else mjd


def _snr_for(seed: int, plate: int, mjd: int, fiberid: int, params: SimulationParameters) -> float:
    """The spectrum's S/N: a function of its identity only, log-uniform in [snr_min, snr_max]."""
    rng = np.random.default_rng([int(seed), int(plate), int(mjd), int(fiberid), 1])
    return round(float(np.exp(rng.uniform(math.log(params.snr_min), math.log(params.snr_max)))), 3)


def simulate_catalog(n_type1: int, n_type2: int, n_intermediate: int, seed: int, params: SimulationParameters) -> np.ndarray:
    """Draw the simulated sample's catalog.

    Parameters
    ----------
    n_type1, n_type2, n_intermediate
        Spectra per class (non-negative; at least one in total).
    seed
        Master seed (non-negative integer).
    params
        Physical parameters (redshift and S/N ranges are used here).

    Returns
    -------
    numpy.ndarray
        Structured array (:data:`CATALOG_DTYPE`) with one row per spectrum in a seeded random
        order: ``plate``, ``mjd``, ``fiberid`` (unique triples on SDSS-I/II plates ≤ 3006,
        fibers 1–640, one MJD per plate), ``z`` (rounded to 1e-5), ``label`` and ``snr``
        (median S/N per pixel near 5100 Å rest; a function of ``(seed, plate, mjd, fiberid)``,
        so :func:`write_spectra` reproduces it when a catalog file lacks it).
    """
    counts = {"type1": n_type1, "type2": n_type2, "intermediate": n_intermediate}
    for name, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 0:
            raise ValueError(f"n_{name} must be a non-negative integer, got {count!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    total = sum(int(c) for c in counts.values())
    n_plates = sdss.LAST_SDSS_PLATE - FIRST_PLATE + 1
    if total < 1:
        raise ValueError("the catalog needs at least one spectrum (all counts are 0)")
    if total > n_plates * FIBERS_PER_PLATE:
        raise ValueError(f"at most {n_plates * FIBERS_PER_PLATE} spectra fit on SDSS-I/II plates, asked for {total}")
    rng = np.random.default_rng([int(seed), 0x5A1])
    labels = np.concatenate([np.full(int(counts[name]), name, dtype="U12") for name in CLASS_NAMES])
    labels = labels[rng.permutation(total)]
    cells = rng.choice(n_plates * FIBERS_PER_PLATE, size=total, replace=False)
    catalog = np.zeros(total, CATALOG_DTYPE)
    catalog["plate"] = FIRST_PLATE + cells // FIBERS_PER_PLATE
    catalog["fiberid"] = cells % FIBERS_PER_PLATE + 1
    catalog["mjd"] = plate_mjd(catalog["plate"])
    catalog["z"] = np.round(rng.uniform(params.z_min, params.z_max, total), 5)
    catalog["label"] = labels
    catalog["snr"] = [_snr_for(seed, p, m, f, params) for p, m, f in zip(catalog["plate"], catalog["mjd"], catalog["fiberid"])]
    return catalog


def write_catalog_csv(catalog: np.ndarray, path: str | os.PathLike[str]) -> None:
    """Write a catalog as CSV with columns ``plate,mjd,fiberid,z,label`` (atomically).

    ``z`` is written with 5 decimals (the catalog's own precision), so reading it back gives
    the same float and therefore the same simulated spectrum.
    """
    missing = {"plate", "mjd", "fiberid", "z", "label"} - set(catalog.dtype.names or ())
    if missing:
        raise ValueError(f"catalog lacks field(s) {', '.join(sorted(missing))}")
    with atomic_output(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle, lineterminator="\n")
            writer.writerow(["plate", "mjd", "fiberid", "z", "label"])
            for row in catalog:
                writer.writerow(
                    [int(row["plate"]), int(row["mjd"]), int(row["fiberid"]), f"{float(row['z']):.5f}", str(row["label"])]
                )


# ------------------------------------------------------------------------------- building blocks


def _loguniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(math.log(low), math.log(high))))


def _pixel_profiles(positions: np.ndarray, sigmas: np.ndarray, npix: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-integrated unit Gaussians: (pixel indices, weights), each row one profile.

    ``positions`` are centres in (fractional) pixel coordinates, ``sigmas`` widths in pixels.
    Weights outside ``0…npix-1`` are zeroed (their pixels clipped).
    """
    half = int(math.ceil(5.5 * float(np.max(sigmas)))) + 1
    offsets = np.arange(-half, half + 1)
    base = np.floor(positions).astype(np.int64)
    pixels = base[:, None] + offsets[None, :]
    distance = pixels - positions[:, None]
    if float(np.min(sigmas)) >= 1.5:
        # Wide profiles: the sampled density integrates to 1 within 1e-9 and costs one exp.
        weights = np.exp(-0.5 * (distance / sigmas[:, None]) ** 2) / (math.sqrt(2.0 * math.pi) * sigmas[:, None])
    else:
        scaled = 1.0 / (math.sqrt(2.0) * sigmas[:, None])
        weights = 0.5 * (erf((distance + 0.5) * scaled) - erf((distance - 0.5) * scaled))
    inside = (pixels >= 0) & (pixels < npix)
    weights = np.where(inside, weights, 0.0)
    return np.clip(pixels, 0, npix - 1), weights


def _add_lines(
    out: np.ndarray,
    loglam0: float,
    pixel_width: np.ndarray,
    wdisp_at: np.ndarray,
    observed_wavelengths: np.ndarray,
    fluxes: np.ndarray,
    fwhm_kms: np.ndarray | float,
) -> None:
    """Add Gaussian lines (integrated ``fluxes``, observed ``wavelengths``) to ``out`` in place.

    Each line's σ is its intrinsic velocity width (FWHM/2.3548) added in quadrature to the
    instrumental σ (``wdisp_at``, pixels) at its centre; the profile is integrated over pixels
    and divided by the pixel width in Å, so ``out`` stays a flux density.
    """
    keep = fluxes != 0
    if not np.any(keep):
        return
    observed_wavelengths, fluxes = observed_wavelengths[keep], fluxes[keep]
    fwhm = np.broadcast_to(np.asarray(fwhm_kms, dtype=float), keep.shape)[keep]
    npix = out.size
    positions = (np.log10(observed_wavelengths) - loglam0) / LOGLAM_STEP
    visible = (positions > -60 - 6 * fwhm / PIXEL_KMS) & (positions < npix + 60 + 6 * fwhm / PIXEL_KMS)
    if not np.any(visible):
        return
    positions, fluxes, fwhm = positions[visible], fluxes[visible], fwhm[visible]
    instrumental = wdisp_at[np.clip(np.round(positions).astype(np.int64), 0, npix - 1)]
    sigmas = np.sqrt((fwhm / (2.0 * math.sqrt(2.0 * math.log(2.0))) / PIXEL_KMS) ** 2 + instrumental**2)
    pixels, weights = _pixel_profiles(positions, sigmas, npix)
    out += np.bincount(pixels.ravel(), weights=(weights * fluxes[:, None]).ravel(), minlength=npix) / pixel_width


def _wdisp(wavelength: np.ndarray, resolution: float) -> np.ndarray:
    """Instrumental σ in pixels along the two SDSS arms (blue 3800–5900 Å, red 6000–9200 Å).

    The shape follows real spec files (σ falls along each arm, jumps at the dichroic); it is
    scaled so the median FWHM is λ/``resolution``.
    """
    blue = 1.07 - 0.25 * (wavelength - 3800.0) / 2100.0
    red = 0.97 - 0.27 * (wavelength - 6000.0) / 3200.0
    ramp = np.clip((wavelength - 5900.0) / 200.0, 0.0, 1.0)
    shape = blue * (1 - ramp) + red * ramp
    target = SPEED_OF_LIGHT_KMS / resolution / (2.0 * math.sqrt(2.0 * math.log(2.0))) / PIXEL_KMS
    return shape * (target / 0.85)


# ------------------------------------------------------------------------------- host templates

_TEMPLATE_LOGLAM = (3.30, 3.99)
"""Rest log10(λ/Å) range of the precomputed host templates (≈ 1995–9772 Å)."""

# Stellar absorption features (vacuum Å, depth as 1 − e^{−τ}-like peak optical depth,
# intrinsic σ Å) of an old population; the intermediate-age template uses _YOUNG_LINES.
_OLD_LINES = [
    (3934.78, 0.9, 5.5),  # Ca II K
    (3969.59, 0.8, 5.5),  # Ca II H
    (3971.20, 0.10, 3.0),  # Hε
    (3890.17, 0.12, 3.0),  # H8
    (3836.47, 0.10, 3.0),  # H9
    (3883.0, 0.18, 12.0),  # CN
    (3821.0, 0.12, 4.0),  # Fe I blend
    (3860.0, 0.15, 4.0),  # Fe I blend
    (4102.89, 0.12, 3.5),  # Hδ
    (4227.92, 0.25, 3.0),  # Ca I
    (4306.0, 0.35, 7.0),  # G band (CH)
    (4341.68, 0.12, 3.5),  # Hγ
    (4384.8, 0.15, 3.5),  # Fe I 4383
    (4531.0, 0.07, 8.0),  # Fe 4531
    (4668.0, 0.10, 10.0),  # C2 4668
    (4862.68, 0.12, 3.5),  # Hβ
    (5016.0, 0.06, 6.0),  # Fe 5015
    (5168.8, 0.25, 2.2),
    (5174.1, 0.28, 2.2),
    (5185.0, 0.28, 2.2),  # Mg b
    (5150.0, 0.05, 25.0),  # MgH
    (5271.0, 0.14, 3.0),  # Fe 5270
    (5336.0, 0.11, 3.0),  # Fe 5335
    (5407.0, 0.08, 3.0),  # Fe 5406
    (5711.0, 0.05, 3.0),  # Mg I
    (5891.6, 0.28, 2.2),
    (5897.6, 0.25, 2.2),  # Na D
    (6164.0, 0.05, 4.0),  # Ca I
    (6564.61, 0.12, 3.5),  # Hα
    (6495.0, 0.04, 3.0),  # Fe/Ca blend
    (7060.0, 0.05, 40.0),  # TiO
    (8500.36, 0.25, 3.0),
    (8544.44, 0.30, 3.0),
    (8664.52, 0.28, 3.0),  # Ca II triplet
]
_YOUNG_LINES = [
    (3934.78, 0.35, 4.0),
    (3969.59, 0.25, 4.0),
    (3971.20, 0.30, 9.0),
    (3890.17, 0.30, 9.0),
    (3836.47, 0.27, 8.0),
    (3798.98, 0.24, 7.0),
    (4102.89, 0.28, 9.0),
    (4341.68, 0.26, 9.0),
    (4862.68, 0.22, 8.0),
    (6564.61, 0.18, 8.0),
    (4306.0, 0.08, 6.0),
    (5174.1, 0.06, 4.0),
    (5891.6, 0.08, 2.2),
    (5897.6, 0.06, 2.2),
]
# Continuum shapes before absorption (rest Å, f_λ relative to 5100 Å).
_OLD_CONTINUUM = np.array(
    [
        (1900, 0.04),
        (2500, 0.09),
        (3000, 0.16),
        (3500, 0.32),
        (3800, 0.46),
        (3940, 0.52),
        (4060, 0.74),
        (4300, 0.83),
        (4600, 0.91),
        (5000, 0.98),
        (5100, 1.0),
        (5500, 1.05),
        (6000, 1.09),
        (6500, 1.11),
        (7000, 1.11),
        (8000, 1.05),
        (9000, 0.97),
        (10000, 0.92),
    ]
)
_YOUNG_CONTINUUM = np.array(
    [
        (1900, 1.2),
        (3000, 1.1),
        (3600, 1.0),
        (3646, 1.05),
        (3700, 1.55),
        (4000, 1.55),
        (4500, 1.32),
        (5100, 1.0),
        (6000, 0.78),
        (7000, 0.60),
        (8000, 0.49),
        (10000, 0.36),
    ]
)


@functools.lru_cache(maxsize=1)
def _host_templates() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Old and intermediate-age host templates on a rest log-λ grid (step 1e-4), unbroadened.

    Returns ``(loglam, old, young)``, both normalised to a mean of 1 in 5080–5120 Å. A weak,
    fixed metal-line forest (denser in the blue) gives the old template realistic texture.
    """
    loglam = np.arange(round((_TEMPLATE_LOGLAM[1] - _TEMPLATE_LOGLAM[0]) / LOGLAM_STEP) + 1) * LOGLAM_STEP
    loglam += _TEMPLATE_LOGLAM[0]
    wavelength = 10.0**loglam

    def build(anchors: np.ndarray, lines: list[tuple[float, float, float]], forest: float) -> np.ndarray:
        continuum = np.exp(np.interp(np.log(wavelength), np.log(anchors[:, 0]), np.log(anchors[:, 1])))
        tau = np.zeros_like(wavelength)
        for centre, depth, sigma in lines:
            near = np.abs(wavelength - centre) < 8 * sigma
            tau[near] += -math.log(1.0 - depth) * np.exp(-0.5 * ((wavelength[near] - centre) / sigma) ** 2)
        if forest > 0:
            forest_rng = np.random.default_rng(20210723)  # fixed: every host shares one line forest
            n_lines = 700
            # Denser below 4500 Å (line blanketing), like real G/K-star spectra.
            centres = np.where(
                forest_rng.random(n_lines) < 0.55,
                forest_rng.uniform(3600, 4500, n_lines),
                forest_rng.uniform(4500, 9500, n_lines),
            )
            depths = forest * forest_rng.exponential(1.0, n_lines) * np.where(centres < 4000, 1.8, 1.0)
            sigmas = forest_rng.uniform(0.6, 1.6, n_lines)
            for centre, depth, sigma in zip(centres, depths, sigmas):
                near = np.abs(wavelength - centre) < 6 * sigma
                tau[near] += depth * np.exp(-0.5 * ((wavelength[near] - centre) / sigma) ** 2)
        spectrum = continuum * np.exp(-tau)
        norm = np.mean(spectrum[(wavelength > 5080) & (wavelength < 5120)])
        return spectrum / norm

    old = build(_OLD_CONTINUUM, _OLD_LINES, forest=0.035)
    young = build(_YOUNG_CONTINUUM, _YOUNG_LINES, forest=0.008)
    return loglam, old, young


def _gaussian_kernel(sigma_px: float) -> np.ndarray:
    half = int(math.ceil(5 * sigma_px))
    x = np.arange(-half, half + 1)
    kernel = np.exp(-0.5 * (x / sigma_px) ** 2)
    return kernel / kernel.sum()


def _host_spectrum(rest_loglam: np.ndarray, wdisp: np.ndarray, young_fraction: float, sigma_star_kms: float) -> np.ndarray:
    """Host starlight on the observed pixels (rest log-λ given), normalised to 1 at 5100 Å.

    Broadened by σ* in quadrature with the local instrumental σ: the template is convolved at
    the smallest and largest instrumental σ and interpolated per pixel between the two.
    """
    loglam, old, young = _host_templates()
    first = max(int(np.searchsorted(loglam, rest_loglam[0])) - 60, 0)
    last = min(int(np.searchsorted(loglam, rest_loglam[-1])) + 60, loglam.size)
    grid = loglam[first:last]
    mixed = (1.0 - young_fraction) * old[first:last] + young_fraction * young[first:last]
    sigma_star = sigma_star_kms / PIXEL_KMS
    low, high = float(wdisp.min()), float(wdisp.max())
    smooth_low = np.convolve(mixed, _gaussian_kernel(math.hypot(sigma_star, low)), mode="same")
    smooth_high = np.convolve(mixed, _gaussian_kernel(math.hypot(sigma_star, high)), mode="same")
    at_low = np.interp(rest_loglam, grid, smooth_low)
    at_high = np.interp(rest_loglam, grid, smooth_high)
    weight = (wdisp - low) / (high - low) if high > low else np.zeros_like(wdisp)
    return at_low + weight * (at_high - at_low)


# ---------------------------------------------------------------------------------- ground truth

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
TRUTH_COLUMNS: tuple[str, ...] = (
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
"""Columns of a truth record (:func:`write_spectra_with_truth`), one row per simulated spectrum.

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
TRUTH_UNITS: dict[str, str] = {
    "broad_fwhm": "km / s",
    "broad_shift": "km / s",
    "broad_wing_fwhm": "km / s",
    "broad_wing_shift": "km / s",
    "feii_fwhm": "km / s",
    "narrow_fwhm": "km / s",
    "broad_hbeta_ew": "Angstrom",
    "broad_hbeta_flux": "1e-17 erg / (s cm2)",
    "narrow_hbeta_flux": "1e-17 erg / (s cm2)",
    "agn_ebv": "mag",
}
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
        Truth records (:data:`TRUTH_COLUMNS`): the dicts of :func:`write_spectra_with_truth` or
        rows read back from its table (text values, empty when missing, are accepted). Only
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


# ------------------------------------------------------------------------------------- spectrum


def calzetti_k(wavelength: np.ndarray) -> np.ndarray:
    """Calzetti et al. (2000) starburst attenuation curve k(λ) = A_λ / E(B−V), λ in Å (R_V = 4.05)."""
    micron = np.asarray(wavelength, dtype=float) / 1.0e4
    inverse = 1.0 / micron
    blue = 2.659 * (-2.156 + 1.509 * inverse - 0.198 * inverse**2 + 0.011 * inverse**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 * inverse) + 4.05
    return np.where(micron < 0.63, blue, red)


_K_5100 = float(calzetti_k(np.array([5100.0]))[0])


def dust_attenuation(rest_wavelength: np.ndarray, ebv: float, k: np.ndarray | None = None) -> np.ndarray:
    """Calzetti attenuation factor for colour excess ``ebv``, normalised to 1 at 5100 Å rest.

    ``k`` may pass precomputed :func:`calzetti_k` values of ``rest_wavelength``.
    """
    if ebv == 0:
        return np.ones_like(rest_wavelength, dtype=float)
    k = calzetti_k(rest_wavelength) if k is None else k
    return 10.0 ** (-0.4 * ebv * (k - _K_5100))


def _observed_loglam(rng: np.random.Generator) -> np.ndarray:
    start = round(rng.uniform(*LOGLAM_START_RANGE), 4)
    end = rng.uniform(*LOGLAM_END_RANGE)
    npix = int(round((end - start) / LOGLAM_STEP)) + 1
    return start + LOGLAM_STEP * np.arange(npix)


def _balmer_factors(decrement: float, intrinsic: dict[str, float]) -> dict[str, float]:
    """Balmer line fluxes relative to Hβ for an observed Hα/Hβ ``decrement`` (screen reddening)."""
    ebv = max(0.0, 2.5 / (_K_EXTINCTION["Hβ"] - _K_EXTINCTION["Hα"]) * math.log10(decrement / intrinsic["Hα"]))
    factors = {
        name: ratio * 10 ** (-0.4 * ebv * (_K_EXTINCTION[name] - _K_EXTINCTION["Hβ"])) for name, ratio in intrinsic.items()
    }
    factors["Hα"] = decrement
    return factors


def simulate_spectrum(
    label: str,
    z: float,
    snr: float,
    rng: np.random.Generator,
    params: SimulationParameters,
    *,
    truth: dict[str, Any] | None = None,
    components: dict[str, np.ndarray] | None = None,
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
        :data:`TRUTH_COLUMNS` from ``label`` on; ``None`` for the broad-line ones of a type 2).
        Filling it draws nothing: the coadd is identical with or without it.
    components
        If given, filled in place with the noiseless observed-frame components (1e-17
        erg/s/cm²/Å, one value per pixel) whose sum is ``model`` up to rounding: ``"host"``,
        ``"power_law"``, ``"balmer_continuum"``, ``"narrow_lines"`` (with the [OIII] wing),
        ``"broad_lines"`` (:data:`BROAD_LINES`, core + wing) and ``"feii"`` (zero arrays when
        absent). Draws nothing either.

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
    loglam = _observed_loglam(rng)
    if 10 ** loglam[-1] < REST_5100_WINDOW[1] * (1 + z):
        raise ValueError(f"z = {z} puts rest {REST_5100_WINDOW[1]:.0f} Å beyond the observed range")
    npix = loglam.size
    wavelength = 10.0**loglam
    log1pz = math.log10(1.0 + z)
    rest_loglam = loglam - log1pz
    rest = wavelength / (1.0 + z)
    pixel_width = wavelength * (math.log(10.0) * LOGLAM_STEP)
    wdisp = _wdisp(wavelength, params.resolution * rng.uniform(0.95, 1.05))

    # --- continuum: host + AGN power law (+ Balmer continuum), in units of the total continuum
    # at 5100 Å rest; the absolute level follows from the S/N and the noise model below.
    flux_5100 = 1.0
    bounds = {
        "type1": (params.host_fraction_type1_min, params.host_fraction_type1_max),
        "intermediate": (params.host_fraction_intermediate_min, params.host_fraction_intermediate_max),
        "type2": (params.host_fraction_type2_min, params.host_fraction_type2_max),
    }[label]
    host_fraction = rng.uniform(*bounds)
    young_fraction = rng.uniform(0.0, params.host_young_fraction_max)
    sigma_star = rng.uniform(params.stellar_sigma_min_kms, params.stellar_sigma_max_kms)
    alpha = rng.uniform(params.alpha_min, params.alpha_max)
    host_ebv = rng.uniform(0.0, params.host_ebv_max)
    agn_ebv = rng.uniform(
        0.0, {"type1": params.agn_ebv_type1_max, "intermediate": params.agn_ebv_intermediate_max, "type2": 0.0}[label]
    )
    host = host_fraction * flux_5100 * _host_spectrum(rest_loglam, wdisp, young_fraction, sigma_star)
    k_rest = calzetti_k(rest)
    host *= dust_attenuation(rest, host_ebv, k_rest)
    power_law = (1.0 - host_fraction) * flux_5100 * (rest / 5100.0) ** alpha * dust_attenuation(rest, agn_ebv, k_rest)
    continuum = host + power_law

    broad = label != "type2"
    narrow_fwhm = rng.uniform(params.narrow_fwhm_min_kms, params.narrow_fwhm_max_kms)
    decrement = rng.uniform(params.narrow_decrement_min, params.narrow_decrement_max)
    oiii_hbeta = _loguniform(rng, params.oiii_hbeta_min, params.oiii_hbeta_max)

    def continuum_at(rest_wavelength: float, which: np.ndarray) -> float:
        return float(np.interp(math.log10(rest_wavelength), rest_loglam, which))

    # --- line strengths (observed integrated fluxes, 1e-17 erg/s/cm²)
    if label == "type1":
        ew = _loguniform(rng, params.broad_hbeta_ew_min, params.broad_hbeta_ew_max)
        # Host dilution must not hide the broad lines of a type 1: at least the minimum EW
        # against the total continuum.
        pl_hbeta = continuum_at(EMISSION_LINES["Hβ"], power_law)
        total_hbeta = continuum_at(EMISSION_LINES["Hβ"], continuum)
        ew = max(ew, params.type1_broad_ew_total_min * total_hbeta / pl_hbeta)
        broad_hbeta = ew * (1 + z) * pl_hbeta
        ratio = _loguniform(rng, params.type1_broad_to_narrow_min, params.type1_broad_to_narrow_max)
        narrow_hbeta = broad_hbeta / ratio
        broad_decrement = rng.uniform(params.broad_decrement_type1_min, params.broad_decrement_type1_max)
    else:
        ew = _loguniform(rng, params.oiii_ew_min, params.oiii_ew_max)
        narrow_hbeta = ew * (1 + z) * continuum_at(EMISSION_LINES["[OIII] 5008"], continuum) / oiii_hbeta
        if label == "intermediate":
            ratio = _loguniform(rng, params.intermediate_broad_to_narrow_min, params.intermediate_broad_to_narrow_max)
            # Broad Hβ EW against the total continuum, kept within the intermediate range.
            per_ew = (1 + z) * continuum_at(EMISSION_LINES["Hβ"], continuum)
            broad_ew = min(
                max(ratio * narrow_hbeta / per_ew, params.intermediate_broad_ew_total_min), params.intermediate_broad_ew_total_max
            )
            broad_hbeta = broad_ew * per_ew
            broad_decrement = rng.uniform(params.broad_decrement_intermediate_min, params.broad_decrement_intermediate_max)
        else:
            broad_hbeta, broad_decrement = 0.0, 0.0

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

    lines = np.zeros(npix)
    parts = {kind: np.zeros(npix) for kind in ("balmer_continuum", "narrow_lines", "broad_lines", "feii")}

    def add_lines(kind: str, observed: np.ndarray, fluxes: np.ndarray, fwhm_kms: float) -> None:
        # Into ``lines`` exactly as always (same calls, same order: the bytes do not depend on
        # ``components``), and, only when asked for, into a separate array per kind.
        _add_lines(lines, loglam[0], pixel_width, wdisp, observed, fluxes, fwhm_kms)
        if components is not None:
            _add_lines(parts[kind], loglam[0], pixel_width, wdisp, observed, fluxes, fwhm_kms)

    narrow_rest = np.concatenate([np.array(list(narrow)), oiii_rest])
    narrow_flux = np.concatenate([np.array(list(narrow.values())), (1 - wing_fraction) * oiii_flux])
    add_lines("narrow_lines", narrow_rest * (1 + z), narrow_flux, narrow_fwhm)
    add_lines("narrow_lines", oiii_rest * (1 + z) * (1 + wing_shift / SPEED_OF_LIGHT_KMS), wing_fraction * oiii_flux, wing_fwhm)
    drawn: dict[str, Any] = dict.fromkeys(_BROAD_TRUTH, None)

    if broad:
        broad_fwhm = _loguniform(rng, params.broad_fwhm_min_kms, params.broad_fwhm_max_kms)
        shift = rng.normal(0.0, params.broad_shift_sigma_kms)
        broad_wing = rng.uniform(0.0, params.broad_wing_fraction_max)
        broad_wing_fwhm = broad_fwhm * rng.uniform(1.8, 3.0)
        broad_wing_shift = shift + rng.uniform(0.0, 1500.0)
        factors = _balmer_factors(broad_decrement, _BROAD_INTRINSIC)
        names = list(_BALMER_REST)
        rest_broad = np.array(list(BROAD_LINES.values()))
        flux_broad = broad_hbeta * np.array([factors[n] for n in names] + [_BROAD_HEI_TO_HBETA])
        doppler = (1 + z) * (1 + shift / SPEED_OF_LIGHT_KMS)
        add_lines("broad_lines", rest_broad * doppler, (1 - broad_wing) * flux_broad, broad_fwhm)
        add_lines(
            "broad_lines",
            rest_broad * (1 + z) * (1 + broad_wing_shift / SPEED_OF_LIGHT_KMS),
            broad_wing * flux_broad,
            broad_wing_fwhm,
        )
        # FeII: R_FeII × broad Hβ in the 4434–4684 Å band, same kinematics as the broad core.
        r_feii = _loguniform(rng, params.feii_min, params.feii_max)
        band = (FEII_WAVELENGTHS > 4434.0) & (FEII_WAVELENGTHS < 4684.0)
        feii_flux = r_feii * broad_hbeta * FEII_STRENGTHS / FEII_STRENGTHS[band].sum()
        feii_fwhm = broad_fwhm * rng.uniform(0.6, 1.0)
        add_lines("feii", FEII_WAVELENGTHS * doppler, feii_flux, feii_fwhm)
        # Balmer continuum below the edge (Grandi 1982 shape, T = 15000 K, τ = 1), smoothed by the
        # broad-line width; weaker when the broad lines are (intermediates).
        # Its strength is tied to broad Hβ: ``strength`` at a broad-Hβ EW of 80 Å (against the
        # power law), proportionally less for weaker broad lines, at most twice the edge value.
        strength = rng.uniform(params.balmer_continuum_min, params.balmer_continuum_max)
        hbeta_ew_pl = broad_hbeta / ((1 + z) * max(continuum_at(EMISSION_LINES["Hβ"], power_law), 1e-30))
        strength *= min(2.0, hbeta_ew_pl / 80.0)
        edge_pl = (1.0 - host_fraction) * flux_5100 * (BALMER_EDGE / 5100.0) ** alpha
        edge_pl *= float(dust_attenuation(np.array([BALMER_EDGE]), agn_ebv)[0])
        sigma_edge = BALMER_EDGE * broad_fwhm / 2.3548 / SPEED_OF_LIGHT_KMS
        blue = int(np.searchsorted(rest, BALMER_EDGE + 6.0 * sigma_edge))
        if blue > 0:
            x = rest[:blue] / BALMER_EDGE
            planck = x**-5 * math.expm1(1.4388e8 / (BALMER_EDGE * 15000.0)) / np.expm1(1.4388e8 / (rest[:blue] * 15000.0))
            bac_shape = planck * -np.expm1(-(x**3)) / -math.expm1(-1.0)
            step = 0.5 * (1.0 - erf((rest[:blue] - BALMER_EDGE) / (math.sqrt(2.0) * sigma_edge)))
            continuum = continuum.copy()
            continuum[:blue] += strength * edge_pl * bac_shape * step
            parts["balmer_continuum"][:blue] = strength * edge_pl * bac_shape * step
        total_hbeta = continuum_at(EMISSION_LINES["Hβ"], continuum)
        drawn.update(
            broad_fwhm=broad_fwhm,
            broad_shift=shift,
            broad_wing_fraction=broad_wing,
            broad_wing_fwhm=broad_wing_fwhm,
            broad_wing_shift=broad_wing_shift,
            broad_hbeta_ew=broad_hbeta / ((1 + z) * total_hbeta),
            broad_to_narrow_hbeta=broad_hbeta / narrow_hbeta,
            broad_halpha_hbeta=broad_decrement,
            r_feii=r_feii,
            feii_fwhm=feii_fwhm,
            balmer_continuum=strength,
        )
    shape = continuum + lines

    # --- sky, brightness from S/N, noise, residuals, masks
    sky_level = params.sky_continuum * _loguniform(rng, 0.6, 1.8)
    sky_continuum = sky_level * np.interp(wavelength, _SKY_CONTINUUM[:, 0], _SKY_CONTINUUM[:, 1])
    sky_lines = np.zeros(npix)
    _add_lines(
        sky_lines,
        loglam[0],
        pixel_width,
        wdisp,
        SKY_LINE_WAVELENGTHS,
        SKY_LINE_FLUXES
        * params.sky_line_scale
        * (sky_level / params.sky_continuum)
        * rng.uniform(0.7, 1.3, SKY_LINE_FLUXES.size),
        0.0,
    )
    sky = sky_continuum + sky_lines
    throughput = np.interp(wavelength, _THROUGHPUT[:, 0], _THROUGHPUT[:, 1])
    in_window = (rest > REST_5100_WINDOW[0]) & (rest < REST_5100_WINDOW[1])
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
    flux = model + sigma * rng.standard_normal(npix)

    gradient = np.gradient(sky_lines)
    amplitude = params.sky_residual_amplitude
    flux += amplitude * (rng.normal() * sky_lines + rng.normal() * gradient + 0.5 * sky_lines * rng.standard_normal(npix))
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

    coadd = np.zeros(npix, sdss.COADD_DTYPE)
    coadd["flux"] = flux
    coadd["loglam"] = loglam
    coadd["ivar"] = ivar
    coadd["and_mask"] = and_mask
    coadd["or_mask"] = and_mask
    coadd["wdisp"] = wdisp
    coadd["sky"] = sky
    coadd["model"] = model
    if truth is not None:
        truth.update(label=label, z=z, snr=snr, has_broad=broad, **drawn)
        truth.update(
            broad_hbeta_flux=level * broad_hbeta if broad else None,
            narrow_hbeta_flux=level * narrow_hbeta,
            narrow_fwhm=narrow_fwhm,
            host_fraction=host_fraction,
            agn_ebv=agn_ebv,
        )
    if components is not None:
        components.update(host=level * host, power_law=level * power_law, **{kind: level * part for kind, part in parts.items()})
    return coadd


# ----------------------------------------------------------------------------------------- files

_SDSS_CLASS = {"type1": ("QSO", "BROADLINE"), "type2": ("GALAXY", "AGN"), "intermediate": ("GALAXY", "AGN BROADLINE")}
"""SDSS CLASS / SUBCLASS written for each label (as the SDSS pipeline tends to assign them)."""


def spectrum_rng(seed: int, plate: int, mjd: int, fiberid: int) -> np.random.Generator:
    """The generator of one spectrum: a function of ``(seed, plate, mjd, fiberid)`` only."""
    return np.random.default_rng([int(seed), int(plate), int(mjd), int(fiberid)])


def spectrum_file_bytes(
    row: Mapping[str, Any] | np.void, seed: int, params: SimulationParameters, *, truth: dict[str, Any] | None = None
) -> bytes:
    """The spec-lite file of one catalog row (``plate, mjd, fiberid, z, label[, snr]``) as bytes.

    ``truth``, if given, is filled with the spectrum's truth record (:data:`TRUTH_COLUMNS`); the
    bytes do not depend on it.
    """
    plate, mjd, fiberid = int(row["plate"]), int(row["mjd"]), int(row["fiberid"])
    z, label = float(row["z"]), str(row["label"])
    names = row.dtype.names if isinstance(row, np.void) else tuple(row)
    snr = float(row["snr"]) if "snr" in names else _snr_for(seed, plate, mjd, fiberid, params)
    rng = spectrum_rng(seed, plate, mjd, fiberid)
    if truth is not None:
        truth.update(specid=sdss.specid(plate, mjd, fiberid), plate=plate, mjd=mjd, fiberid=fiberid)
    coadd = simulate_spectrum(label, z, snr, rng, params, truth=truth)
    z_err = float(rng.uniform(1e-5, 1e-4) * (1 + z) * (3.0 if label == "type1" else 1.0))
    sdss_class, subclass = _SDSS_CLASS[label]
    return sdss.spec_lite_bytes(
        plate=plate,
        mjd=mjd,
        fiberid=fiberid,
        run2d=RUN2D,
        coadd=coadd,
        z=z,
        z_err=z_err,
        zwarning=0,
        sdss_class=sdss_class,
        subclass=subclass,
        extra_cards=[
            ("SIMLABEL", label, "agn_saliency simulated class"),
            ("SIMSNR", snr, "median S/N per pixel, 5050-5150 A rest"),
            ("SIMSEED", int(seed), "agn_saliency simulation seed"),
        ],
    )


def write_spectra(
    catalog_rows: np.ndarray | Iterable[Mapping[str, Any]],
    data_root: str | os.PathLike[str],
    seed: int,
    params: SimulationParameters,
) -> list[str]:
    """Write each catalog row's spectrum as a spec-lite file in the SAS layout.

    Parameters
    ----------
    catalog_rows
        Structured array (or mappings) with ``plate, mjd, fiberid, z, label`` and optionally
        ``snr`` (recomputed from the identity when absent, identically to
        :func:`simulate_catalog`).
    data_root
        Folder under which ``sdss.spec_lite_relpath(plate, mjd, fiberid, "26")`` is created.
    seed
        Master seed; each spectrum's generator is :func:`spectrum_rng` of
        ``(seed, plate, mjd, fiberid)``, so a file's bytes do not depend on the shard writing it.
    params
        Physical parameters.

    Returns
    -------
    list of str
        The written paths, in row order. Each file is written atomically.
    """
    return write_spectra_with_truth(catalog_rows, data_root, seed, params)[0]


def write_spectra_with_truth(
    catalog_rows: np.ndarray | Iterable[Mapping[str, Any]],
    data_root: str | os.PathLike[str],
    seed: int,
    params: SimulationParameters,
) -> tuple[list[str], list[dict[str, Any]]]:
    """:func:`write_spectra`, also returning each spectrum's ground truth.

    Parameters
    ----------
    catalog_rows, data_root, seed, params
        As for :func:`write_spectra` (the files are byte-identical).

    Returns
    -------
    paths : list of str
        The written paths, in row order.
    truth : list of dict
        One record per row, in row order, keyed by :data:`TRUTH_COLUMNS` (units
        :data:`TRUTH_UNITS`; broad-line values ``None`` when ``has_broad`` is False), ready for
        :func:`agn_saliency.core.files.write_table` and :func:`broad_component_mask`.
    """
    root = Path(data_root)
    paths: list[str] = []
    records: list[dict[str, Any]] = []
    for row in catalog_rows:
        relpath = sdss.spec_lite_relpath(int(row["plate"]), int(row["mjd"]), int(row["fiberid"]), RUN2D)
        path = root / relpath
        truth: dict[str, Any] = {}
        content = spectrum_file_bytes(row, seed, params, truth=truth)
        with atomic_output(path) as tmp:
            tmp.write_bytes(content)
        paths.append(str(path))
        records.append({column: truth.get(column) for column in TRUTH_COLUMNS})
    return paths, records
