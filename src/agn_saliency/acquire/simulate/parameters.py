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
    """Every physical knob of the simulated sample (ranges drawn uniformly unless noted).

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
    Populations (issue 21) are drawn from published distributions, not hand-chosen ranges; the
    ``*_min``/``*_max`` pairs of a drawn quantity are the bounds it is clipped to. Where a number
    is the project's reading of a paper's figure or table rather than a quoted value, the
    attribute says so. :mod:`agn_saliency.acquire.simulate.populations` compares the drawn sample
    with the published medians and 16th/84th percentiles (docs/populations.md).

    alpha_mean, alpha_sigma, alpha_min, alpha_max
        AGN power-law slope α_λ of f_λ ∝ λ^α, normal, clipped. Default −1.56 ± 0.35 in −2.6…−0.5:
        Vanden Berk et al. (2001, AJ 122, 549; §4, composite α_ν = −0.44, i.e. α_λ = −1.56); the
        spread is our reading of Richards et al. (2003, AJ 126, 1131, Fig. 4; σ(α_ν) ≈ 0.3–0.4).
    balmer_continuum_min, balmer_continuum_max
        Balmer continuum at the edge (3646 Å) relative to the power law there, for a broad Hβ
        EW of 80 Å against the power law (proportionally less for weaker broad lines).
        Default 0.1–0.5.
    agn_log_l5100_mean, agn_log_l5100_sigma
        log10 of the AGN 5100 Å luminosity λL_λ [erg/s], normal, the SAME for every class: it
        sets the host fraction. Default 43.3 ± 0.6 (our reading: the z < 0.3 end of Shen et al.
        2011, ApJS 194, 45, Fig. 2, log L ≈ 44, extended down to the low-luminosity Seyfert 1s
        that dominate SDSS broad-line AGN at z < 0.35, Greene & Ho 2007, ApJ 667, 131).
    host_ratio_scatter_dex, host_fraction_max
        The host starlight share of the 5100 Å continuum follows from the AGN luminosity by the
        mean relation of Shen et al. (2011, Eq. 1, from the eigenspectrum decompositions of
        Vanden Berk et al. 2006, AJ 131, 84): L_host/L_AGN = 0.8052 − 1.5502x + 0.9121x² −
        0.1577x³, x = log L_5100 − 44 (0 for x ≥ 1.053), with this log-normal scatter [dex] and
        clipped at ``host_fraction_max``. Default 0.2 dex (our choice: Shen et al. call the
        relation an average) and 0.95. Every class draws host fraction, stellar age, σ⋆ and host
        reddening from the same distributions, so absorption depth is not a label.
    type2_scattered_min, type2_scattered_max
        Type 2: the share of the AGN continuum seen (scattered / featureless continuum),
        log-uniform; the host fraction then follows from the same relation at the seen
        luminosity. Default 0.1–1 (featureless continuum ≤ 40 % of the optical light in Seyfert 2
        nuclei, usually less: Cid Fernandes et al. 2001, ApJ 558, 81; González Delgado et al.
        2001, ApJ 546, 845 — the one measured class difference of the continuum kept).
    host_young_fraction_max
        Largest share (at 5100 Å) of the intermediate-age (A-star-rich) template in the host;
        drawn uniformly from 0 to it, for every class (Kauffmann et al. 2003, MNRAS 346, 1055,
        §6: type 2 Seyfert and QSO hosts of equal L[OIII] have the same stellar content).
        Default 0.5.
    host_ebv_max
        Largest colour excess E(B−V) [mag] of the host starlight (Calzetti 2000 curve), drawn
        uniformly from 0; spreads host colours as in real Seyfert hosts. Default 0.4.
    agn_ebv_type1_max, agn_ebv_intermediate_max
        Largest E(B−V) [mag] of the AGN power law for type 1 and intermediates (type 2: its
        featureless continuum is scattered light, unreddened). Default 0.1 and 0.4.
    stellar_sigma_median_kms, stellar_sigma_scatter_dex, stellar_sigma_min_kms, stellar_sigma_max_kms
        Host stellar velocity dispersion σ⋆ [km/s], log-normal, clipped, every class. Default
        median 150 km/s, 0.1 dex, 70–300 (our reading of the σ⋆ distribution of SDSS AGN hosts,
        Kauffmann et al. 2003, Fig. 3: massive early-type bulges, and Greene & Ho 2006).
    broad_fwhm_median_kms, broad_fwhm_scatter_dex, broad_fwhm_min_kms, broad_fwhm_max_kms
        FWHM of the broad-line core Gaussian [km/s], log-normal, clipped (type 1 and
        intermediates). Default 4000 km/s, 0.2 dex, 1000–15000 (our reading of the broad-Hβ
        FWHM distribution of the DR7 quasars at z < 0.7, Shen et al. 2011, Table 1 / Fig. 5).
    nls1_fraction, nls1_fwhm_min_kms, nls1_fwhm_max_kms
        Share of type 1 drawn as narrow-line Seyfert 1s, with a log-uniform broad FWHM in this
        range instead. Default 0.09 and 1200–2000 km/s: NLS1s are ≈ 15 % of SDSS broad-line AGN
        (Williams, Pogge & Mathur 2002, AJ 124, 3042; Zhou et al. 2006, ApJS 166, 128 —
        approximate), and the log-normal FWHM draw of the others already puts 6.6 % of them below
        2000 km/s, so 0.09 + 0.91 × 0.066 ≈ 0.15 of type 1 have FWHM < 2000 km/s (0.15 here gave
        0.21, docs/populations.md).
    broad_wing_fraction_max
        Largest flux share of the broad wing Gaussian (FWHM × 1.8–3, redshifted 0–1500 km/s).
        Default 0.4.
    broad_shift_sigma_kms
        Standard deviation of the broad-line centroid shift [km/s]. Default 300.
    broad_hbeta_ew_median, broad_hbeta_ew_scatter_dex, broad_hbeta_ew_min, broad_hbeta_ew_max
        Type 1 broad Hβ equivalent width against the AGN continuum [Å, rest], log-normal,
        clipped. Default 70 Å, 0.2 dex, 20–300 (our reading of Shen et al. 2011, broad-Hβ REW
        column; Vanden Berk et al. 2001, Table 2: Hβ 46 Å in the composite, narrow included,
        against a continuum with host light).
    type1_broad_ew_total_min
        Smallest type 1 broad Hβ equivalent width against the total (host + AGN) continuum
        [Å, rest]; larger host fractions raise the AGN-relative EW to reach it (a spectrum with
        less would not be recognised as broad-line). Default 5 (weak broad-line AGN in SDSS
        galaxy spectra: Oh et al. 2015, ApJS 219, 1).
    intermediate_broad_to_narrow_min, intermediate_broad_to_narrow_max
        Intermediate broad/narrow Hβ flux ratio, log-uniform: the Osterbrock (1981, ApJ 249, 462)
        1.5–1.9 sequence, ≈ 3 for 1.5 (broad and narrow Hβ comparable; Winkler 1992, MNRAS 257,
        677, Table 2) to ≈ 0.4 for 1.8/1.9 (a barely visible broad Hβ base). Default 0.4–3.0
        (the paper's intermediates were labelled by eye on a narrow core *on a broad base* in
        the Hβ window, so broad Hβ cannot vanish altogether).
    intermediate_broad_ew_total_min, intermediate_broad_ew_total_max
        Bounds of the intermediate broad Hβ equivalent width against the total continuum
        [Å, rest]: the broad/narrow ratio sets it, clipped into this range (a visible but weak
        broad base); where the floor raises broad Hβ, narrow Hβ is raised too so that
        broad/narrow stays ≤ ``intermediate_broad_to_narrow_max`` (else 44 % of the
        intermediates had type-1 ratios of 3–11, issue 21). Default 8–25: the paper's
        intermediates were labelled by eye on a broad base under narrow Hβ; with the Seyfert
        [OIII] strengths above, a 3 Å floor left half of them
        with a base of ≈ 3–6 Å at FWHM ≈ 4000 km/s, ≈ 3 % of the continuum, invisible at the
        sample's S/N (test macro F1 of the multiclass model 0.80, intermediates half called type 2).
    broad_decrement_type1_min, broad_decrement_type1_max
        Type 1 broad Hα/Hβ flux ratio. Default 2.7–4.0 (Dong et al. 2008, MNRAS 383, 581: 3.06
        with 0.03 dex scatter for blue type 1s; redder ones up to ≈ 4).
    broad_decrement_intermediate_min, broad_decrement_intermediate_max
        Intermediate broad Hα/Hβ (reddened broad-line region). Default 3.5–8.0.
    feii_median, feii_scatter_dex, nls1_feii_factor, feii_min, feii_max
        R_FeII = F(FeII 4434–4684 Å)/F(broad Hβ), log-normal, clipped; NLS1s have their median
        multiplied by ``nls1_feii_factor``. Default 0.45, 0.25 dex, 2, 0.05–3 (Boroson & Green
        1992, ApJS 80, 109, Table 2: Fe II λ4570/Hβ 0–1.8 over the PG quasars, median ≈ 0.4, our
        reading; Zhou et al. 2006, §5: R_FeII of NLS1 about twice that of other AGN).
    oiii_ew_type1_median, oiii_ew_type1_scatter_dex, eigenvector1_slope
        Type 1 [OIII] 5008 equivalent width against the AGN continuum [Å, rest], log-normal
        around a median that follows eigenvector 1: log EW = log median + slope ·
        log(R_FeII / feii_median); clipped into ``oiii_ew_min``–``oiii_ew_max``. Default 20 Å,
        0.35 dex, −0.6 (Boroson & Green 1992, Table 2 and §5: EW [OIII] mean ≈ 24 Å, strongly
        anticorrelated with R_FeII; slope our reading of their Fig. 4).
    oiii_ew_type1_luminosity_slope
        d log EW / d log λL_5100 of the type 1 [OIII] equivalent width against the AGN continuum,
        around the median AGN luminosity ``agn_log_l5100_mean`` (a narrow-line Baldwin effect).
        Default −0.3: Stern & Laor (2012, MNRAS 426, 2703, abstract and §3) find L([OIII]) ∝
        L_bHα^0.7 over 10^40–10^45 erg/s in SDSS broad-Hα AGN, with L_bHα ∝ L_bol, so the
        narrow lines are relatively stronger in fainter AGN — the host-dominated ones.
    narrow_fwhm_min_kms, narrow_fwhm_max_kms
        Narrow-line FWHM [km/s]. Default 250–700.
    oiii_hbeta_median, oiii_hbeta_scatter_dex, oiii_hbeta_min, oiii_hbeta_max
        Narrow [OIII] 5008/Hβ, log-normal, clipped, every class. Default 7, 0.2 dex, 2–25 (our
        reading of the Seyfert branch of the BPT diagram, Kauffmann et al. 2003, Fig. 1:
        log [OIII]/Hβ ≈ 0.5–1.1).
    oiii_ew_median, oiii_ew_scatter_dex, oiii_ew_min, oiii_ew_max
        [OIII] 5008 equivalent width against the total continuum for type 2 and intermediates
        [Å, rest], log-normal, clipped (the bounds also clip the type 1 draw). Default 20 Å,
        0.45 dex, 10–400. The median is our reading of the L[OIII] distribution of the Seyfert 2s
        of Kauffmann et al. 2003, Fig. 7, at their median continuum; the scatter reaches its
        luminous tail, the type 2 quasars of L([OIII]) ≳ 10^8.3 L☉ (Reyes et al. 2008, AJ 136,
        2373), whose [OIII] equivalent widths exceed 100 Å (Zakamska et al. 2003, AJ 126, 2125;
        Yuan, Strauss & Zakamska 2016, AJ 152, 130, select them by EW > 100 Å): at 0.35 dex the
        simulated type 2s reached 66 Å at their 95th percentile and 130 Å at their 99th, at
        0.45 dex 93 and 221 Å (400 per class, seed 42; docs/science.md, issue 21's fourth
        round). The floor is a selection, not physics:
        a catalogued AGN has its BPT lines detected (Kauffmann et al.: S/N > 3) and EW(Hα) ≳ 3 Å
        (else a retired galaxy, Cid Fernandes et al. 2011, MNRAS 413, 1687); with floors of 2, 6
        and 8 Å, 4, 3 and 2 of 30 simulated type 2s (S/N ≈ 9) were "uncertain" or "not_agn" for
        the AGN gate, at 10 Å at most 1.
    oiii_ew_type2_luminosity_slope
        d log EW / d log λL_5100 of the type 2 [OIII] equivalent width against the total
        continuum, around ``agn_log_l5100_mean`` (intermediates keep none). [OIII] is isotropic,
        so a type 2 has the L([OIII]) ∝ L^0.7 of a type 1 of the same AGN luminosity (Stern &
        Laor 2012), seen over a host that grows as ≈ L^0.35 (Shen et al. 2011, Eq. 1, between
        log λL_5100 43.3 and 43.9): 0.35 gives the type 2 quasars' tail, L([OIII]) ≳ 10^8.3 L☉
        (Reyes et al. 2008, AJ 136, 2373) with [OIII] equivalent widths ≳ 100 Å (Zakamska et al.
        2003, AJ 126, 2125; Yuan, Strauss & Zakamska 2016, AJ 152, 130, select them by EW >
        100 Å), a 95th percentile of 100 Å instead of 72 Å (300 per class, 0.35 dex scatter).
        Default 0: with 0.35 the default
        run's saliency ratios and host dilution fell below issue 21's floors (docs/science.md).
    narrow_decrement_min, narrow_decrement_max
        Narrow Hα/Hβ; higher Balmer lines follow from the implied reddening. Default 2.86–4.5.
    narrow_ratio_scatter_dex
        Log-normal scatter of the other narrow-line ratios around Seyfert-2 values [dex].
        Default 0.15.
    oiii_wing_fraction_max
        Largest flux share of the blueshifted [OIII] outflow component (FWHM × 2–3.5,
        −400…0 km/s). Default 0.35.
    balmer_wing_to_oiii
        Flux share of the narrow Balmer lines' (Hα…H8) outflow wing as a multiple of the [OIII]
        wing's share in the same spectrum (same draw, width and shift; every class). In real
        Seyferts the narrow Balmer lines share part of the [OIII] kinematics, a weaker, broader
        second component (Mullaney et al. 2013, MNRAS 433, 622; Woo et al. 2016, ApJ 817, 108).
        Default 0 (narrow Balmer lines single Gaussians).
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
    alpha_mean: float = -1.56
    alpha_sigma: float = 0.35
    alpha_min: float = -2.6
    alpha_max: float = -0.5
    balmer_continuum_min: float = 0.1
    balmer_continuum_max: float = 0.5
    agn_log_l5100_mean: float = 43.3
    agn_log_l5100_sigma: float = 0.6
    host_ratio_scatter_dex: float = 0.2
    host_fraction_max: float = 0.95
    type2_scattered_min: float = 0.1
    type2_scattered_max: float = 1.0
    host_young_fraction_max: float = 0.5
    host_ebv_max: float = 0.4
    agn_ebv_type1_max: float = 0.1
    agn_ebv_intermediate_max: float = 0.4
    stellar_sigma_median_kms: float = 150.0
    stellar_sigma_scatter_dex: float = 0.1
    stellar_sigma_min_kms: float = 70.0
    stellar_sigma_max_kms: float = 300.0
    broad_fwhm_median_kms: float = 4000.0
    broad_fwhm_scatter_dex: float = 0.2
    broad_fwhm_min_kms: float = 1000.0
    broad_fwhm_max_kms: float = 15000.0
    nls1_fraction: float = 0.09
    nls1_fwhm_min_kms: float = 1200.0
    nls1_fwhm_max_kms: float = 2000.0
    broad_wing_fraction_max: float = 0.4
    broad_shift_sigma_kms: float = 300.0
    broad_hbeta_ew_median: float = 70.0
    broad_hbeta_ew_scatter_dex: float = 0.2
    broad_hbeta_ew_min: float = 20.0
    broad_hbeta_ew_max: float = 300.0
    type1_broad_ew_total_min: float = 5.0
    intermediate_broad_to_narrow_min: float = 0.4
    intermediate_broad_to_narrow_max: float = 3.0
    intermediate_broad_ew_total_min: float = 8.0
    intermediate_broad_ew_total_max: float = 25.0
    broad_decrement_type1_min: float = 2.7
    broad_decrement_type1_max: float = 4.0
    broad_decrement_intermediate_min: float = 3.5
    broad_decrement_intermediate_max: float = 8.0
    feii_median: float = 0.45
    feii_scatter_dex: float = 0.25
    nls1_feii_factor: float = 2.0
    feii_min: float = 0.05
    feii_max: float = 3.0
    oiii_ew_type1_median: float = 20.0
    oiii_ew_type1_scatter_dex: float = 0.35
    eigenvector1_slope: float = -0.6
    oiii_ew_type1_luminosity_slope: float = -0.3
    narrow_fwhm_min_kms: float = 250.0
    narrow_fwhm_max_kms: float = 700.0
    oiii_hbeta_median: float = 7.0
    oiii_hbeta_scatter_dex: float = 0.2
    oiii_hbeta_min: float = 2.0
    oiii_hbeta_max: float = 25.0
    oiii_ew_median: float = 20.0
    oiii_ew_scatter_dex: float = 0.45
    oiii_ew_min: float = 10.0
    oiii_ew_max: float = 400.0
    oiii_ew_type2_luminosity_slope: float = 0.0
    narrow_decrement_min: float = 2.86
    narrow_decrement_max: float = 4.5
    narrow_ratio_scatter_dex: float = 0.15
    oiii_wing_fraction_max: float = 0.35
    balmer_wing_to_oiii: float = 0.0
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
            "broad_hbeta_ew_median",
            "feii_median",
            "oiii_ew_type1_median",
            "oiii_hbeta_median",
            "oiii_ew_median",
            "stellar_sigma_median_kms",
            "broad_fwhm_median_kms",
            "nls1_fwhm_min_kms",
            "nls1_feii_factor",
            "type2_scattered_min",
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
            "alpha_sigma",
            "agn_log_l5100_sigma",
            "host_ratio_scatter_dex",
            "stellar_sigma_scatter_dex",
            "broad_fwhm_scatter_dex",
            "broad_hbeta_ew_scatter_dex",
            "feii_scatter_dex",
            "oiii_ew_type1_scatter_dex",
            "oiii_hbeta_scatter_dex",
            "oiii_ew_scatter_dex",
            "oiii_wing_fraction_max",
            "balmer_wing_to_oiii",
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
            "host_fraction_max",
            "type2_scattered_max",
            "nls1_fraction",
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
