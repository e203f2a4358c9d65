"""Host-galaxy starlight: an old and an intermediate-age stellar template (continuum shapes,
absorption features and a fixed weak metal-line forest), mixed and broadened per spectrum."""

from __future__ import annotations

import functools
import math

import numpy as np

from agn_saliency.acquire.simulate.constants import LOGLAM_STEP, PIXEL_KMS

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


def host_template(
    rest_wavelength: np.ndarray, young_fraction: float = 0.2, sigma_star_kms: float = 150.0, resolution: float = 2000.0
) -> np.ndarray:
    """Host starlight (the simulator's templates) on a rest-frame grid, normalised to 1 at 5100 Å.

    Parameters
    ----------
    rest_wavelength
        Increasing rest-frame wavelengths (Å) inside ≈ 2000–9700 Å.
    young_fraction
        Share at 5100 Å of the intermediate-age template (0–1).
    sigma_star_kms
        Stellar velocity dispersion σ⋆ [km/s].
    resolution
        Resolving power λ/FWHM of the instrument the template is seen with.

    Returns
    -------
    numpy.ndarray
        f_λ, mean 1 in 5080–5120 Å when the grid covers it (else 1 at 5100 Å by interpolation).

    >>> import numpy as np
    >>> grid = np.linspace(4000.0, 5500.0, 500)
    >>> bool(abs(host_template(grid)[(grid > 5080) & (grid < 5120)].mean() - 1.0) < 0.02)
    True
    """
    rest_wavelength = np.asarray(rest_wavelength, dtype=np.float64)
    if rest_wavelength.ndim != 1 or rest_wavelength.size < 2 or np.any(np.diff(rest_wavelength) <= 0):
        raise ValueError("rest_wavelength must be a 1-D increasing array of at least two values")
    if not 0.0 <= young_fraction <= 1.0 or sigma_star_kms < 0 or resolution <= 0:
        raise ValueError("young_fraction must lie in [0, 1], sigma_star_kms ≥ 0 and resolution > 0")
    rest_loglam = np.log10(rest_wavelength)
    instrumental_px = 299_792.458 / resolution / 2.3548 / PIXEL_KMS
    wdisp = np.full(rest_wavelength.size, instrumental_px)
    host = _host_spectrum(rest_loglam, wdisp, young_fraction, sigma_star_kms)
    window = (rest_wavelength > 5080.0) & (rest_wavelength < 5120.0)
    norm = float(host[window].mean()) if window.any() else float(np.interp(5100.0, rest_wavelength, host))
    return host / norm


def host_to_agn_ratio(log_l5100: float | np.ndarray) -> float | np.ndarray:
    """Mean host/AGN luminosity ratio at 5100 Å against the AGN's log λL_5100 [erg/s].

    Shen et al. (2011, ApJS 194, 45, Eq. 1), fitted to the eigenspectrum decompositions of
    Vanden Berk et al. (2006, AJ 131, 84): 0.8052 − 1.5502x + 0.9121x² − 0.1577x³ with
    x = log L_5100 − 44, 0 for x ≥ 1.053 (host negligible). (Shen et al. use the total luminosity;
    here the AGN's own is used, a small difference where the ratio is large.)

    >>> round(float(host_to_agn_ratio(44.0)), 4), float(host_to_agn_ratio(45.5))
    (0.8052, 0.0)
    """
    x = np.asarray(log_l5100, dtype=np.float64) - 44.0
    ratio = 0.8052 - 1.5502 * x + 0.9121 * x**2 - 0.1577 * x**3
    ratio = np.where(x < 1.053, np.maximum(ratio, 0.0), 0.0)
    return float(ratio) if ratio.ndim == 0 else ratio
