"""Building blocks of a simulated spectrum: log-uniform draws, the observed log-λ grid, pixel-integrated
Gaussian lines, the instrumental line-spread function, Calzetti dust attenuation and reddened
Balmer decrements."""

from __future__ import annotations

import math

import numpy as np
from scipy.special import erf

from agn_saliency.acquire.simulate.constants import (
    _K_EXTINCTION,
    LOGLAM_END_RANGE,
    LOGLAM_START_RANGE,
    LOGLAM_STEP,
    PIXEL_KMS,
)
from agn_saliency.core.lines import SPEED_OF_LIGHT_KMS


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


def calzetti_k(wavelength: np.ndarray) -> np.ndarray:
    """Calzetti et al. (2000) starburst attenuation curve k(λ) = A_λ / E(B−V) (R_V = 4.05).

    Parameters
    ----------
    wavelength : array-like
        Rest-frame wavelengths [Å].

    Returns
    -------
    numpy.ndarray
        k(λ), same shape.
    """
    micron = np.asarray(wavelength, dtype=float) / 1.0e4
    inverse = 1.0 / micron
    blue = 2.659 * (-2.156 + 1.509 * inverse - 0.198 * inverse**2 + 0.011 * inverse**3) + 4.05
    red = 2.659 * (-1.857 + 1.040 * inverse) + 4.05
    return np.where(micron < 0.63, blue, red)


_K_5100 = float(calzetti_k(np.array([5100.0]))[0])


def dust_attenuation(rest_wavelength: np.ndarray, ebv: float, k: np.ndarray | None = None) -> np.ndarray:
    """Calzetti attenuation factor for colour excess ``ebv``, normalised to 1 at 5100 Å rest.

    Parameters
    ----------
    rest_wavelength : numpy.ndarray
        Rest-frame wavelengths [Å].
    ebv
        Colour excess E(B−V) [mag]; 0 gives ones.
    k : numpy.ndarray, optional
        Precomputed :func:`calzetti_k` of ``rest_wavelength`` (saves computing it twice).

    Returns
    -------
    numpy.ndarray
        ``10^(-0.4 ebv (k(λ) - k(5100 Å)))``, same shape.
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
