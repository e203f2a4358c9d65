"""Host-starlight augmentation of training spectra: absorption depth carries no label.

A share of every class's training spectra is replaced by a version with host starlight of random
share, stellar age and velocity dispersion added (and a random continuum tilt and, optionally, a few
broad multiplicative bumps), so a classifier cannot tell the classes apart by how deep their stellar
absorption lines (G band, Mg b, Fe 5270/5335) are and must read the emission lines instead. On a
reduced spectrum (rest frame, normalised to 1 in the normalisation window) a host share ``f`` of the
window's continuum is::

    (1 − f) · flux + f · host,        host normalised to 1 in the same window

where ``host`` mixes the simulator's old and intermediate-age templates
(:func:`agn_saliency.acquire.simulate.host.host_template`) with a random intermediate-age share
and σ⋆. Only the spectra a model is fitted on are augmented, never validation or test spectra.

The bumps (``bump_amplitude_max``) stand for continuum shape the simulator does not draw: real
galaxies differ from the simulator's hand-anchored host template by −0.20 … +0.10 of the
continuum over 150 Å bins (docs/science.md, issue 21), and SDSS spectrophotometry carries
residuals of a few per cent on scales of hundreds of Å. Their widths (σ ≥ 150 Å) stay far above
a broad Hβ line's (σ ≈ 20–65 Å for FWHM 1500–9000 km/s), so a line is still a line.

>>> import numpy as np
>>> wavelength = np.linspace(4000.0, 5500.0, 300)
>>> flux = np.ones((4, 300))
>>> options = HostAugmentation(share=0.5, fraction_max=0.5)
>>> out = augment_with_host(flux, wavelength, options, seed=0)
>>> out.shape, int((out != flux).any(axis=1).sum()) <= 4
((4, 300), True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from agn_saliency.acquire.simulate.host import host_template

SIGMA_NODES_KMS: tuple[float, ...] = (70.0, 100.0, 140.0, 200.0, 300.0)
"""σ⋆ [km/s] at which the two host templates are built; a drawn σ⋆ interpolates between nodes."""


@dataclass(frozen=True)
class HostAugmentation:
    """Which training spectra are seen through added host starlight, and how it is drawn.

    Attributes
    ----------
    share
        Share of the training spectra replaced by a host-diluted (and tilted) version of
        themselves, drawn at random (0: no augmentation; 1: every one).
    fraction_max
        Host share ``f`` of the normalisation-window continuum, uniform in ``0 … fraction_max``.
    young_fraction_max
        Share of the intermediate-age template in the added host, uniform in ``0 … this``.
    sigma_min_kms, sigma_max_kms
        σ⋆ of the added host [km/s], log-uniform.
    continuum_fraction_max
        Then a featureless power law ``(λ / 5100 Å)^α`` (α uniform in −2…0, normalised to 1 in the
        window) replaces a share ``g`` of the continuum, ``g`` uniform in ``0 … this`` (0: none):
        scattered AGN light and young stars make stellar absorption shallower in real type 2
        nuclei (featureless continuum up to ≈ 40 % of the optical light, Cid Fernandes et al.
        2001, ApJ 558, 81), so a shallow absorption line is no class label either.
    slope_max
        Each copy is also multiplied by ``(λ / 5100 Å)^β``, β uniform in ``−slope_max … slope_max``
        (0: no tilt): the continuum colour of a class (reddening, flux calibration) is no label either.
    bump_amplitude_max
        Last, each copy is multiplied by ``1 + Σ a_k exp(−(λ − c_k)² / 2 s_k²)`` over ``bump_count``
        Gaussians and renormalised to 1 in the window, ``a_k`` uniform in ``±this`` (0: none),
        ``c_k`` uniform over the grid, ``s_k`` uniform in ``bump_sigma_min_angstrom …
        bump_sigma_max_angstrom``: a continuum shape on scales of hundreds of Å is no label.
    bump_count
        Number of Gaussian bumps per copy (a whole number ≥ 1).
    bump_sigma_min_angstrom, bump_sigma_max_angstrom
        Width range [Å] of the bumps (Gaussian σ), far wider than any broad line.
    """

    share: float = 0.0
    fraction_max: float = 0.8
    young_fraction_max: float = 0.5
    sigma_min_kms: float = 70.0
    sigma_max_kms: float = 300.0
    slope_max: float = 0.0
    continuum_fraction_max: float = 0.0
    bump_amplitude_max: float = 0.0
    bump_count: int = 2
    bump_sigma_min_angstrom: float = 150.0
    bump_sigma_max_angstrom: float = 400.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.share <= 1.0:
            raise ValueError(f"host augmentation share must lie in [0, 1], got {self.share}")
        if not 0.0 <= self.fraction_max < 1.0:
            raise ValueError(f"host augmentation fraction_max must lie in [0, 1), got {self.fraction_max}")
        if not 0.0 <= self.young_fraction_max <= 1.0:
            raise ValueError(f"host augmentation young_fraction_max must lie in [0, 1], got {self.young_fraction_max}")
        if not SIGMA_NODES_KMS[0] <= self.sigma_min_kms <= self.sigma_max_kms <= SIGMA_NODES_KMS[-1]:
            raise ValueError(
                f"host augmentation σ⋆ range must lie in {SIGMA_NODES_KMS[0]:g}–{SIGMA_NODES_KMS[-1]:g} km/s "
                f"with min ≤ max, got {self.sigma_min_kms:g}–{self.sigma_max_kms:g}"
            )
        if not 0.0 <= self.continuum_fraction_max < 1.0:
            raise ValueError(f"host augmentation continuum_fraction_max must lie in [0, 1), got {self.continuum_fraction_max}")
        if not 0.0 <= self.slope_max <= 10.0:
            raise ValueError(f"host augmentation slope_max must lie in [0, 10], got {self.slope_max}")
        if not 0.0 <= self.bump_amplitude_max < 1.0:
            raise ValueError(f"host augmentation bump_amplitude_max must lie in [0, 1), got {self.bump_amplitude_max}")
        if self.bump_count < 1 or self.bump_count != int(self.bump_count):
            raise ValueError(f"host augmentation bump_count must be a whole number ≥ 1, got {self.bump_count}")
        if not 0.0 < self.bump_sigma_min_angstrom <= self.bump_sigma_max_angstrom:
            raise ValueError(
                "host augmentation bump widths must satisfy 0 < bump_sigma_min_angstrom ≤ bump_sigma_max_angstrom, "
                f"got {self.bump_sigma_min_angstrom:g} and {self.bump_sigma_max_angstrom:g}"
            )

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any] | None) -> HostAugmentation:
        """Options from the configuration's ``classify.host_augmentation`` (absent keys: defaults)."""
        mapping = dict(mapping or {})
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown host augmentation option(s): {', '.join(unknown)}")
        # bump_count is a count; a float such as 2.5 is refused by __post_init__ rather than rounded.
        return cls(**{k: (v if k == "bump_count" and isinstance(v, int) else float(v)) for k, v in mapping.items()})


def _templates(wavelength: np.ndarray, norm: np.ndarray) -> np.ndarray:
    """(2, S, P): old and intermediate-age host templates at each σ⋆ node, mean 1 in ``norm``."""
    out = np.empty((2, len(SIGMA_NODES_KMS), wavelength.size))
    for j, sigma in enumerate(SIGMA_NODES_KMS):
        for i, young in enumerate((0.0, 1.0)):
            template = host_template(wavelength, young_fraction=young, sigma_star_kms=sigma)
            out[i, j] = template / float(template[norm].mean())
    return out


def augment_with_host(
    flux: Any,
    wavelength: Any,
    options: HostAugmentation,
    seed: int,
    norm_window: tuple[float, float] = (5080.0, 5120.0),
) -> np.ndarray:
    """The spectra with a random ``options.share`` of them seen through added host starlight.

    A chosen spectrum becomes ``((1 − g) · ((1 − f) · flux + f · host) + g · (λ / 5100 Å)^α) ·
    (λ / 5100 Å)^β`` with ``f``, the host's intermediate-age share, σ⋆, ``g``, α and β drawn per
    spectrum (:class:`HostAugmentation`), then, if ``bump_amplitude_max`` > 0, times a sum of broad
    Gaussian bumps renormalised to 1 in ``norm_window``; the
    others are returned unchanged. Labels are unchanged: a spectrum keeps its class.

    Parameters
    ----------
    flux
        (N, P) reduced spectra, normalised to 1 in ``norm_window``.
    wavelength
        (P,) rest-frame grid [Å].
    options
        :class:`HostAugmentation`.
    seed
        Seed of the draws (the same seed and input give the same spectra).
    norm_window
        Rest-frame window [Å] both flux and host are normalised in.

    Returns
    -------
    numpy.ndarray
        (N, P), a new array.
    """
    flux = np.array(flux, dtype=np.float64)
    wavelength = np.asarray(wavelength, dtype=np.float64)
    if flux.ndim != 2 or wavelength.shape != (flux.shape[1],):
        raise ValueError(f"flux must be (N, P) and wavelength (P,); got {flux.shape} and {wavelength.shape}")
    rng = np.random.default_rng(seed)
    chosen = np.flatnonzero(rng.random(flux.shape[0]) < options.share)
    if chosen.size == 0:
        return flux
    norm = (wavelength >= norm_window[0]) & (wavelength <= norm_window[1])
    if not norm.any():
        raise ValueError(f"the grid {wavelength[0]:.0f}–{wavelength[-1]:.0f} Å does not cover the window {norm_window}")
    templates = _templates(wavelength, norm)
    n = chosen.size
    fraction = rng.uniform(0.0, options.fraction_max, n)
    young = rng.uniform(0.0, options.young_fraction_max, n)
    log_sigma = rng.uniform(math.log(options.sigma_min_kms), math.log(options.sigma_max_kms), n)
    slope = rng.uniform(-options.slope_max, options.slope_max, n)
    # Drawn after the others, so that continuum_fraction_max = 0 leaves the earlier draws as they were.
    if options.continuum_fraction_max > 0:
        continuum = rng.uniform(0.0, options.continuum_fraction_max, n)[:, None]
        alpha = rng.uniform(-2.0, 0.0, n)[:, None]
        power_law = (wavelength / 5100.0) ** alpha
        power_law /= power_law[:, norm].mean(axis=1, keepdims=True)
    else:
        continuum, power_law = np.zeros((n, 1)), np.ones((n, 1))
    # σ⋆ between two nodes: linear in log σ⋆ between the neighbouring templates.
    position = np.interp(log_sigma, np.log(SIGMA_NODES_KMS), np.arange(len(SIGMA_NODES_KMS)))
    low = np.minimum(np.floor(position).astype(int), len(SIGMA_NODES_KMS) - 2)
    weight = (position - low)[:, None]
    old = (1 - weight) * templates[0, low] + weight * templates[0, low + 1]
    mid = (1 - weight) * templates[1, low] + weight * templates[1, low + 1]
    host = (1 - young[:, None]) * old + young[:, None] * mid
    tilt = (wavelength / 5100.0) ** slope[:, None]
    diluted = (1.0 - fraction[:, None]) * flux[chosen] + fraction[:, None] * host
    flux[chosen] = ((1.0 - continuum) * diluted + continuum * power_law) * tilt
    # Drawn last, so that bump_amplitude_max = 0 leaves every earlier draw (and spectrum) as it was.
    if options.bump_amplitude_max > 0:
        flux[chosen] *= _bumps(wavelength, norm, options, n, rng)
    return flux


def _bumps(wavelength: np.ndarray, norm: np.ndarray, options: HostAugmentation, n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, P) multiplicative factors ``1 + Σ a_k exp(−(λ − c_k)² / 2 s_k²)``, mean 1 in ``norm``."""
    k = int(options.bump_count)
    amplitude = rng.uniform(-options.bump_amplitude_max, options.bump_amplitude_max, (n, k, 1))
    centre = rng.uniform(wavelength[0], wavelength[-1], (n, k, 1))
    sigma = rng.uniform(options.bump_sigma_min_angstrom, options.bump_sigma_max_angstrom, (n, k, 1))
    # One bump of |a| < 1 keeps the factor positive, overlapping dips might not: floored at 0.05 so
    # that no spectrum changes sign.
    factor = np.maximum(1.0 + (amplitude * np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2)).sum(axis=1), 0.05)
    return factor / factor[:, norm].mean(axis=1, keepdims=True)
