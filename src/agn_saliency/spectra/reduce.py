"""Reduce observed SDSS spectra to one common rest-frame grid.

Steps per spectrum: choose the redshift (catalog, else the file's) → shift to the rest frame
(λ/(1+z)) → mask bad pixels (ivar = 0, non-finite values, configured ``and_mask`` bits) →
flux-conserving resampling onto the common grid with propagated inverse variance → normalise by
the mean (or median) flux in a window around 5100 Å. A spectrum that cannot be reduced raises
:class:`RejectedSpectrum` carrying the reason; the caller records it and carries on.
"""

from __future__ import annotations

import functools
import logging
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.core.identity import DEFAULT_SURVEY
from agn_saliency.core.logs import progress
from agn_saliency.core.names import unescape_name
from agn_saliency.spectra.files import FileItem, FileRead, read_file
from agn_saliency.spectra.sdss import SdssSpectrum, SpectrumReadError, unreadable_reason

log = logging.getLogger(__name__)

# SPPIXMASK bits that make a pixel unusable: NOPLUG, BADTRACE, BADARC, FULLREJECT, NODATA,
# COMBINEREJ. Bits such as BRIGHTSKY (23), BADFLAT (2) or MANYBADCOLUMNS (4) flag large parts of
# perfectly usable real spectra (checked on data/sdss_real) and are left to ivar.
DEFAULT_BAD_MASK_BITS: tuple[int, ...] = (0, 1, 3, 18, 24, 25)

GARBAGE_FLUX = 1.0e16
"""A flux density (1e-17 erg/s/cm²/Å) no spectrum reaches (the brightest SDSS quasars stay below
1e5): a normalisation beyond it names byte-swapped or mis-scaled data as the likely cause."""

NORM_STATISTICS = ("mean", "median")
"""Values of ``reduce.norm_statistic``."""


class RejectedSpectrum(Exception):
    """A spectrum that cannot be reduced; ``reason`` says why in words a person can act on."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ReductionParameters:
    """Every setting of the reduction (config key ``reduce``).

    Attributes
    ----------
    wavelength_min, wavelength_max
        Rest-frame vacuum range of the common grid (Å). The default 4000–5500 Å covers Hδ, Hγ,
        HeII, Hβ, [OIII] and the 5100 Å continuum; SDSS (≥ 3800 Å observed) covers its blue end at
        any z ≥ 0 and its red end (≤ 9200 Å observed) up to z ≈ 0.67.
    n_pixels
        Number of grid pixels (the paper's 1000).
    norm_window
        Rest-frame window (Å) whose flux normalises each spectrum.
    norm_statistic
        ``"mean"``: the mean flux density of the unmasked grid pixels in ``norm_window`` (the flux
        in the window divided by its width); ``"median"``: their median. The median's value is
        that of one or two pixels, so it carries their pixel-scale noise in full, where the mean
        averages it down: two renderings of the same photons on different detector pixels (the
        embedded sample as SDSS and as DESI files) get normalisations differing by 0.9 % rms with
        the median against ~0.5 % with the mean, enough to flip borderline three-class
        predictions (docs/synthetic-desi.md). Masked pixels never enter either statistic.
    z_max
        Largest accepted redshift.
    max_masked_fraction
        Largest accepted fraction of grid pixels that are masked or not covered.
    min_pixel_coverage
        A grid pixel is masked when good input pixels cover less than this fraction of it.
    bad_mask_bits
        ``and_mask`` bits that mask an input pixel (in addition to ivar = 0).
    max_normalised_flux
        Largest accepted ``|flux|`` after normalisation (the window's median = 1). Real emission
        lines peak at up to a few hundred times the continuum; a byte-swapped or mis-scaled file
        reaches 10³⁰.
    min_normalised_scatter
        Smallest accepted standard deviation of the normalised flux over the grid. Real spectra
        scatter by 0.13–10 (noise, lines, continuum slope); a constant or flat spectrum (e.g. float
        bits read as integers because BITPIX lost its sign) by less than 0.01.
    agn_gate
        Reject spectra the AGN gate (:func:`agn_saliency.spectra.gate.assess_spectrum`, on the whole
        observed spectrum) calls ``not_agn``; ``uncertain`` ones are kept. For samples not selected
        as AGN beforehand (``local`` folders, ``sdss`` catalogs of galaxies). Applied by the
        caller of :func:`reduce_inventory` (its ``gate``).
    """

    wavelength_min: float = 4000.0
    wavelength_max: float = 5500.0
    n_pixels: int = 1000
    norm_window: tuple[float, float] = (5080.0, 5120.0)
    norm_statistic: str = "mean"
    z_max: float = 0.8
    max_masked_fraction: float = 0.1
    min_pixel_coverage: float = 0.5
    bad_mask_bits: tuple[int, ...] = DEFAULT_BAD_MASK_BITS
    max_normalised_flux: float = 1.0e4
    min_normalised_scatter: float = 0.01
    agn_gate: bool = False

    def __post_init__(self) -> None:
        if not 0 < self.wavelength_min < self.wavelength_max:
            raise ValueError(
                f"reduce.wavelength_min/max must satisfy 0 < min < max, got {self.wavelength_min}, {self.wavelength_max}"
            )
        if self.n_pixels < 2:
            raise ValueError(f"reduce.n_pixels must be ≥ 2, got {self.n_pixels}")
        lo, hi = self.norm_window
        if not lo < hi:
            raise ValueError(f"reduce.norm_window [{lo:g}, {hi:g}] must be increasing (start < end, Å)")
        if not self.wavelength_min <= lo < hi <= self.wavelength_max:
            raise ValueError(
                f"reduce.norm_window [{lo:g}, {hi:g}] Å must lie inside the grid "
                f"reduce.wavelength_min/max = {self.wavelength_min:g}–{self.wavelength_max:g} Å"
            )
        if self.norm_statistic not in NORM_STATISTICS:
            raise ValueError(f"reduce.norm_statistic must be one of {', '.join(NORM_STATISTICS)}, got {self.norm_statistic!r}")
        if not 0 <= self.max_masked_fraction < 1:
            raise ValueError(f"reduce.max_masked_fraction must be in [0, 1), got {self.max_masked_fraction}")
        if not self.max_normalised_flux > 1 or not self.min_normalised_scatter >= 0:
            raise ValueError(
                f"reduce.max_normalised_flux must be > 1 and reduce.min_normalised_scatter ≥ 0, "
                f"got {self.max_normalised_flux}, {self.min_normalised_scatter}"
            )

    @classmethod
    def from_mapping(cls, mapping: dict[str, Any]) -> ReductionParameters:
        """Build from the ``reduce`` config section; an unknown key raises ``ValueError`` naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(mapping) - known)
        if unknown:
            raise ValueError(f"unknown reduce key(s): {', '.join(unknown)}")
        values = dict(mapping)
        for key in ("norm_window", "bad_mask_bits"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    @property
    def bad_mask(self) -> int:
        return sum(1 << int(bit) for bit in self.bad_mask_bits)

    def grid_edges(self) -> np.ndarray:
        """Edges (n_pixels + 1) of the linear rest-frame grid, Å."""
        return np.linspace(self.wavelength_min, self.wavelength_max, self.n_pixels + 1)

    def wavelength(self) -> np.ndarray:
        """Pixel centres of the rest-frame grid, Å."""
        edges = self.grid_edges()
        return 0.5 * (edges[:-1] + edges[1:])


SPECTRUM_SHAPING_KEYS = (
    "wavelength_min",
    "wavelength_max",
    "n_pixels",
    "norm_window",
    "norm_statistic",
    "min_pixel_coverage",
    "bad_mask_bits",
)
"""Keys of ``reduce`` that decide the values of a reduced spectrum: its grid, its normalisation and
which input pixels are bridged over. The others (``z_max``, ``max_masked_fraction``, ``agn_gate``)
only decide which spectra are kept. A model trained on reduced spectra expects these of any
spectrum it is given (:func:`spectrum_settings`)."""


def spectrum_settings(reduce: Mapping[str, Any] | ReductionParameters) -> dict[str, Any]:
    """The :data:`SPECTRUM_SHAPING_KEYS` of a ``reduce`` section, as plain comparable JSON values.

    >>> spectrum_settings({"wavelength_min": 4000, "norm_window": (5080, 5120)})["norm_window"]
    [5080.0, 5120.0]
    """
    params = reduce if isinstance(reduce, ReductionParameters) else ReductionParameters.from_mapping(dict(reduce))
    return {
        "wavelength_min": float(params.wavelength_min),
        "wavelength_max": float(params.wavelength_max),
        "n_pixels": int(params.n_pixels),
        "norm_window": [float(v) for v in params.norm_window],
        "norm_statistic": str(params.norm_statistic),
        "min_pixel_coverage": float(params.min_pixel_coverage),
        "bad_mask_bits": sorted(int(bit) for bit in params.bad_mask_bits),
    }


@dataclass
class ReducedSpectrum:
    """One spectrum on the common grid, normalised to 1 in the normalisation window."""

    flux: np.ndarray  # float32, dimensionless (flux / mean or median flux in norm_window)
    ivar: np.ndarray  # float32, inverse variance of flux; 0 where masked
    mask: np.ndarray  # uint8, 1 where the pixel was masked and its flux interpolated
    norm_flux: float  # the normalising flux, 1e-17 erg/s/cm²/Å (rest frame grid, observed units)


def pixel_edges(wavelength: np.ndarray) -> np.ndarray:
    """Edges of pixels with the given centres (midpoints; the end pixels mirrored)."""
    mid = 0.5 * (wavelength[1:] + wavelength[:-1])
    first = wavelength[0] - (mid[0] - wavelength[0])
    last = wavelength[-1] + (wavelength[-1] - mid[-1])
    return np.concatenate(([first], mid, [last]))


def resample(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, good: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flux-conserving resampling of a flux density onto new pixel ``edges``.

    Each output pixel is the overlap-weighted mean of the good input pixels it overlaps, i.e. the
    integral of the flux density over the pixel divided by its width. Variances propagate as
    Σ w²σ² / (Σ w)².

    Returns
    -------
    flux, ivar, coverage
        ``coverage`` is the fraction of each output pixel covered by good input pixels; where it is
        0, flux and ivar are 0.
    """
    lo_out, hi_out = edges[:-1], edges[1:]
    compiled = _compiled_resample() if _compilable(wavelength, flux, ivar, good, edges) else None
    if compiled is not None:
        done, out_flux, out_ivar, coverage = compiled(wavelength, flux, ivar, good, lo_out, hi_out)
        if done:  # else edges that are not finite and increasing: numpy's arithmetic below decides
            return out_flux, out_ivar, coverage
    in_edges = pixel_edges(wavelength)
    n_in = len(flux)
    # np.minimum/np.maximum instead of np.clip: same values, less per-call overhead.
    first = np.minimum(np.maximum(np.searchsorted(in_edges, lo_out, side="right") - 1, 0), n_in - 1)
    last = np.minimum(np.maximum(np.searchsorted(in_edges, hi_out, side="left") - 1, 0), n_in - 1)
    n_offsets = int((last - first).max(initial=0)) + 1
    # Only input pixels [lo, hi] can be reached below: prepare flux and variance there only
    # (the grid usually spans a third of an SDSS spectrum); the values are the same.
    lo = int(first.min()) if len(first) else 0
    hi = min(int(first.max()) + n_offsets - 1, n_in - 1) if len(first) else n_in - 1
    good_window = good[lo : hi + 1]
    good_flux = np.where(good_window, flux[lo : hi + 1], 0.0)
    variance = np.where(good_window, 1.0 / np.where(good_window, ivar[lo : hi + 1], 1.0), 0.0)
    in_lo, in_hi = in_edges[:-1], in_edges[1:]
    # Each output pixel overlaps a handful of contiguous input pixels: loop over that offset only.
    weighted_flux = np.zeros(len(lo_out))
    weighted_var = np.zeros(len(lo_out))
    weight_sum = np.zeros(len(lo_out))
    for offset in range(n_offsets):
        candidate = first + offset
        index = np.minimum(candidate, n_in - 1)
        overlap = np.minimum(in_hi[index], hi_out) - np.maximum(in_lo[index], lo_out)
        weight = np.where((candidate <= last) & good[index], np.maximum(overlap, 0.0), 0.0)
        local = index - lo
        weighted_flux += weight * good_flux[local]
        weighted_var += weight * weight * variance[local]
        weight_sum += weight
    covered = weight_sum > 0
    safe = np.where(covered, weight_sum, 1.0)
    out_flux = np.where(covered, weighted_flux / safe, 0.0)
    out_var = np.where(covered, weighted_var / safe**2, 0.0)
    out_ivar = np.where(out_var > 0, 1.0 / np.where(out_var > 0, out_var, 1.0), 0.0)
    return out_flux, out_ivar, weight_sum / (hi_out - lo_out)


def _resample_one_by_one(
    wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, good: np.ndarray, lo_out: np.ndarray, hi_out: np.ndarray
) -> tuple[bool, np.ndarray, np.ndarray, np.ndarray]:
    """:func:`resample` one output pixel at a time (compiled by :func:`_compiled_resample`): the
    same edges, the same window of input pixels and, for each output pixel, each sum started at 0
    and added up over the offsets in :func:`resample`'s order with the same operations, so the
    values are the same bits (``tests/test_reduce.py``). ``done`` is False, and nothing computed,
    when the input edges are not finite and non-decreasing (numpy's searchsorted and minimum then
    decide what happens), or the output edges are not sorted."""
    n_in = flux.shape[0]
    n_out = lo_out.shape[0]
    out_flux = np.zeros(n_out)
    out_ivar = np.zeros(n_out)
    coverage = np.zeros(n_out)
    in_edges = np.empty(n_in + 1)
    for i in range(n_in - 1):
        in_edges[i + 1] = 0.5 * (wavelength[i + 1] + wavelength[i])
    in_edges[0] = wavelength[0] - (in_edges[1] - wavelength[0])
    in_edges[n_in] = wavelength[n_in - 1] + (wavelength[n_in - 1] - in_edges[n_in - 1])
    for i in range(n_in + 1):
        if not np.isfinite(in_edges[i]) or (i > 0 and in_edges[i] < in_edges[i - 1]):
            return False, out_flux, out_ivar, coverage
    # np.searchsorted of sorted values in sorted edges, as one walk along both (~2x faster here)
    first = np.empty(n_out, np.int64)
    last = np.empty(n_out, np.int64)
    right = left = 0
    for j in range(n_out):
        if j > 0 and (lo_out[j] < lo_out[j - 1] or hi_out[j] < hi_out[j - 1]):
            return False, out_flux, out_ivar, coverage
        while right <= n_in and in_edges[right] <= lo_out[j]:  # side="right"
            right += 1
        while left <= n_in and in_edges[left] < hi_out[j]:  # side="left"
            left += 1
        first[j] = min(max(right - 1, 0), n_in - 1)
        last[j] = min(max(left - 1, 0), n_in - 1)
    n_offsets = max(0, (last - first).max()) + 1
    for j in range(n_out):
        weighted_flux = 0.0
        weighted_var = 0.0
        weight_sum = 0.0
        for offset in range(n_offsets):
            candidate = first[j] + offset
            index = min(candidate, n_in - 1)
            top = in_edges[index + 1] if in_edges[index + 1] < hi_out[j] else hi_out[j]  # np.minimum of finite values
            bottom = in_edges[index] if in_edges[index] > lo_out[j] else lo_out[j]
            overlap = top - bottom
            usable = good[index]
            weight = (overlap if overlap >= 0.0 else 0.0) if candidate <= last[j] and usable else 0.0  # np.maximum(overlap, 0.0)
            # resample's window: flux and 1/ivar where good, 0 elsewhere (0 · 1/ivar is NaN when 1/ivar overflows, there too)
            weighted_flux += weight * (flux[index] if usable else 0.0)
            weighted_var += weight * weight * (1.0 / ivar[index] if usable else 0.0)
            weight_sum += weight
        if weight_sum > 0:
            out_flux[j] = weighted_flux / weight_sum
            out_var = weighted_var / (weight_sum * weight_sum)
            out_ivar[j] = 1.0 / out_var if out_var > 0 else 0.0
        coverage[j] = weight_sum / (hi_out[j] - lo_out[j])
    return True, out_flux, out_ivar, coverage


def _good_pixels(flux: np.ndarray, ivar: np.ndarray, and_mask: np.ndarray, bad_mask: int) -> np.ndarray:
    """Pixels the resampling uses: finite flux and ivar, ivar > 0, none of ``bad_mask``'s bits set
    (one compiled pass when numba is there and the arrays are float64/int64 of one length)."""
    compiled = _compiled_resample()
    if (
        compiled is not None
        and flux.dtype == ivar.dtype == np.float64
        and and_mask.dtype == np.int64
        and flux.ndim == ivar.ndim == and_mask.ndim == 1
        and len(flux) == len(ivar) == len(and_mask)
        and 0 <= bad_mask < 2**63
    ):
        return _COMPILED_GOOD(flux, ivar, and_mask, bad_mask)
    return np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0) & ((and_mask & bad_mask) == 0)


def _good_one_by_one(flux: np.ndarray, ivar: np.ndarray, and_mask: np.ndarray, bad_mask: int) -> np.ndarray:
    """:func:`_good_pixels`' mask, one pixel at a time (compiled)."""
    good = np.empty(flux.shape[0], np.bool_)
    for i in range(flux.shape[0]):
        good[i] = np.isfinite(flux[i]) and np.isfinite(ivar[i]) and ivar[i] > 0 and (and_mask[i] & bad_mask) == 0
    return good


def _compilable(wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, good: np.ndarray, edges: np.ndarray) -> bool:
    """Whether :func:`_resample_one_by_one` can stand for :func:`resample`: 1-D float64 inputs of
    one length ≥ 2 (numpy's float32 arithmetic differs) and a bool mask."""
    return (
        wavelength.dtype == flux.dtype == ivar.dtype == edges.dtype == np.float64
        and good.dtype == np.bool_
        and wavelength.ndim == flux.ndim == ivar.ndim == good.ndim == edges.ndim == 1
        and len(wavelength) == len(flux) == len(ivar) == len(good) >= 2
        and len(edges) >= 2
    )


_COMPILED_RESAMPLE: Any = None
""":func:`_resample_one_by_one` compiled by numba (None: not tried yet; False: numba missing or failing)."""
_COMPILED_GOOD: Any = None
""":func:`_good_one_by_one` compiled, made with :data:`_COMPILED_RESAMPLE`."""


def _compiled_resample() -> Callable[..., tuple[bool, np.ndarray, np.ndarray, np.ndarray]] | None:
    """:func:`_resample_one_by_one` compiled (numba, cached on disk like :mod:`agn_saliency.spectra.gate_numba`:
    ~0.025 against ~0.13 ms a spectrum for the numpy loop), or None without numba, and None until the
    process has imported numba for another reason (predict's gate, :mod:`agn_saliency.spectra.gate_numba`):
    importing numba and loading the code costs ~0.5 CPU s, more than a job of fewer than ~3000
    spectra saves (the reduce stage without the gate keeps the numpy loop: the same values)."""
    global _COMPILED_RESAMPLE, _COMPILED_GOOD
    if _COMPILED_RESAMPLE is None and "numba" not in sys.modules:
        return None
    if _COMPILED_RESAMPLE is None:
        try:
            from numba import njit

            _COMPILED_RESAMPLE = njit(cache=True)(_resample_one_by_one)
            _COMPILED_GOOD = njit(cache=True)(_good_one_by_one)
        except (ImportError, RuntimeError) as error:  # no numba, or nowhere to cache its code
            log.info("resampling with numpy: numba unavailable (%s)", error)
            _COMPILED_RESAMPLE = False
    return _COMPILED_RESAMPLE or None


def choose_redshift(catalog_z: float, file_z: float, z_max: float) -> float:
    """The redshift to use: the catalog's when given, else the file's; rejected when unusable."""
    z = catalog_z if catalog_z is not None and not _is_nan(catalog_z) else file_z
    source = "catalog" if z is catalog_z else "file"
    if z is None or _is_nan(z):
        raise RejectedSpectrum("redshift missing (no z in the catalog or the file)")
    if not math.isfinite(z):
        raise RejectedSpectrum(f"redshift not finite (z={z} from the {source})")
    if z < 0:
        raise RejectedSpectrum(f"redshift negative (z={z:g} from the {source})")
    if z > z_max:
        raise RejectedSpectrum(f"redshift too high (z={z:g} from the {source} > reduce.z_max={z_max:g})")
    return float(z)


def _is_nan(value: float) -> bool:
    try:
        return math.isnan(value)
    except TypeError:
        return False


@functools.lru_cache(maxsize=8)
def _grid(params: ReductionParameters) -> tuple[np.ndarray, np.ndarray]:
    """``params.grid_edges()`` and ``params.wavelength()``, computed once per parameter set (read-only)."""
    edges, centres = params.grid_edges(), params.wavelength()
    edges.setflags(write=False)
    centres.setflags(write=False)
    return edges, centres


def check_plausible(normalised: np.ndarray, params: ReductionParameters) -> None:
    """Reject a normalised spectrum no real file gives: non-finite values, ``|flux|`` above
    ``params.max_normalised_flux``, or a standard deviation below ``params.min_normalised_scatter``
    (constant or flat: garbage that parses, such as a byte-swapped image or float bits read as integers).

    Raises
    ------
    RejectedSpectrum
        Naming the check and the value found.
    """
    with np.errstate(all="ignore"):
        finite = np.isfinite(normalised)
        if not finite.all():
            raise RejectedSpectrum(f"implausible: {int((~finite).sum())} normalised flux values are not finite")
        peak = float(np.abs(normalised).max())
        if peak > params.max_normalised_flux:
            raise RejectedSpectrum(
                f"implausible: normalised |flux| reaches {peak:.3g} > reduce.max_normalised_flux={params.max_normalised_flux:g} "
                "(byte-swapped or mis-scaled data?)"
            )
        scatter = float(np.std(normalised))
    if scatter < params.min_normalised_scatter:
        raise RejectedSpectrum(
            f"implausible: flat spectrum, normalised flux scatters by {scatter:.2g} < "
            f"reduce.min_normalised_scatter={params.min_normalised_scatter:g} (constant, or data read with the wrong BITPIX?)"
        )


def reduce_spectrum(spectrum: SdssSpectrum, z: float, params: ReductionParameters) -> ReducedSpectrum:
    """Reduce one observed spectrum at redshift ``z`` onto the common grid (see module doc).

    Raises
    ------
    RejectedSpectrum
        Too little coverage of the grid, too many masked pixels, non-finite flux, an unusable
        normalisation window, or an implausible result (:func:`check_plausible`).
    """
    rest_wavelength = spectrum.wavelength / (1.0 + z)
    good = _good_pixels(spectrum.flux, spectrum.ivar, spectrum.and_mask, params.bad_mask)
    edges, centres = _grid(params)
    flux, ivar, coverage = resample(rest_wavelength, spectrum.flux, spectrum.ivar, good, edges)

    in_range = (edges[1:] > rest_wavelength[0]) & (edges[:-1] < rest_wavelength[-1])
    uncovered = 1.0 - np.count_nonzero(in_range) / in_range.size
    if uncovered > params.max_masked_fraction:
        raise RejectedSpectrum(
            f"too little coverage: rest frame {rest_wavelength[0]:.0f}–{rest_wavelength[-1]:.0f} Å at z={z:g} "
            f"misses {uncovered:.0%} of the grid {params.wavelength_min:g}–{params.wavelength_max:g} Å"
        )
    masked = coverage < params.min_pixel_coverage
    masked_fraction = np.count_nonzero(masked) / masked.size
    if masked_fraction > params.max_masked_fraction:
        in_grid = (rest_wavelength >= edges[0]) & (rest_wavelength <= edges[-1])
        nonfinite = int((~np.isfinite(spectrum.flux[in_grid])).sum())
        if nonfinite > params.max_masked_fraction * in_grid.sum():
            raise RejectedSpectrum(f"non-finite flux: {nonfinite} of {int(in_grid.sum())} pixels in the grid range are NaN/inf")
        raise RejectedSpectrum(
            f"too many masked pixels: {masked_fraction:.0%} of the grid > reduce.max_masked_fraction={params.max_masked_fraction:g}"
        )

    lo, hi = params.norm_window
    window = (centres >= lo) & (centres <= hi) & ~masked
    if not window.any():
        raise RejectedSpectrum(f"normalisation window {lo:g}–{hi:g} Å fully masked")
    norm = float(np.mean(flux[window]) if params.norm_statistic == "mean" else np.median(flux[window]))
    if not math.isfinite(norm) or norm <= 0:
        hint = " (byte-swapped or mis-scaled data?)" if not math.isfinite(norm) or abs(norm) > GARBAGE_FLUX else ""
        raise RejectedSpectrum(
            f"non-positive flux in the normalisation window {lo:g}–{hi:g} Å ({params.norm_statistic} {norm:.3g}){hint}"
        )

    if masked.any():
        # Classifiers need finite input: bridge masked pixels linearly; ivar = 0 marks them.
        flux[masked] = np.interp(centres[masked], centres[~masked], flux[~masked])
        ivar[masked] = 0.0
    normalised = flux / norm
    check_plausible(normalised, params)
    return ReducedSpectrum(
        flux=normalised.astype(np.float32),
        ivar=(ivar * norm**2).astype(np.float32),
        mask=masked.astype(np.uint8),
        norm_flux=norm,
    )


# ------------------------------------------------------------------------------ shards of files

REJECTED_COLUMNS = ("row", "survey", "specid", "source_file", "file_row", "label", "reason")
"""Columns of rejected.ecsv."""

META_COLUMNS = (
    "survey",
    "specid",
    "plate",
    "mjd",
    "fiberid",
    "desi_survey",
    "program",
    "healpix",
    "z",
    "z_source",
    "z_err",
    "zwarning",
    "label",
    "sdss_class",
    "sdss_subclass",
    "norm_flux",
    "source_file",
    "file_row",
    "row",
)
"""Per-spectrum metadata of a shard and of the cube (see :mod:`agn_saliency.io.cube` for units and meanings)."""


@dataclass
class ShardResult:
    """Reduced spectra of one shard (row-aligned arrays) and the rejected ones."""

    flux: np.ndarray
    ivar: np.ndarray
    mask: np.ndarray
    meta: dict[str, np.ndarray]
    rejected: list[dict[str, Any]]


def reject_record(row: dict[str, Any], reason: str) -> dict[str, Any]:
    """One line of rejected.ecsv."""
    return {
        "row": row.get("row", ""),
        "survey": row.get("survey", "") or DEFAULT_SURVEY,
        "specid": row.get("specid", ""),
        "source_file": row.get("path", ""),
        "file_row": "",
        "label": row.get("label", ""),
        "reason": reason,
    }


def _float_or_nan(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


Gate = Callable[[SdssSpectrum, float, Path], "str | None"]
"""A selection applied to each readable spectrum (spectrum, redshift, file): a rejection reason, or None to keep it."""


def _items_of(row: dict[str, Any], path: Path, reader: Callable[[Path], FileRead] = read_file) -> list[FileItem]:
    """The spectra an inventory row stands for: the file's one spectrum (SDSS), every FIBERMAP row of a
    DESI file, or only the catalog's target (a DESI row with a ``specid``)."""
    read = reader(path)
    if read.kind == "redshifts":
        raise SpectrumReadError(f"not a spectrum file: {read.note}")
    wanted = str(row.get("specid", "") or "")
    if read.kind == "desi" and str(row.get("survey", "")) == "desi" and wanted:
        chosen = [item for item in read.items if item.specid == wanted]
        if not chosen:
            raise RejectedSpectrum(f"TARGETID {wanted} of the catalog is not in the file's FIBERMAP")
        return chosen[:1]
    return read.items


def reduce_inventory(
    rows: list[dict[str, Any]],
    params: ReductionParameters,
    base_dir: str | Path = ".",
    gate: Gate | None = None,
    reader: Callable[[Path], FileRead] | None = None,
) -> ShardResult:
    """Reduce every spectrum an inventory lists; never raises for one bad spectrum.

    Each file is read by :func:`agn_saliency.spectra.files.read_file`: an SDSS file gives one
    spectrum, a DESI coadd or spectra file one per FIBERMAP row (or only the catalog's TARGETID
    when the row names one), each reduced or rejected with its own ``survey``, ``specid`` and
    ``file_row``.

    Parameters
    ----------
    rows
        Inventory rows (:data:`agn_saliency.acquire.inventory.INVENTORY_COLUMNS`); rows whose ``status`` is not ``ok`` are rejected
        with their recorded reason.
    base_dir
        Folder relative ``path`` values are taken from.
    gate
        Rejects spectra before reduction, e.g. :func:`agn_saliency.spectra.gate.not_agn_reason` when
        ``params.agn_gate`` is set (the caller passes it: the gate reads files this module reduces).
    reader
        Reads one file: :func:`agn_saliency.spectra.files.read_file` (the default) or a caller's
        wrapper of it that keeps what else it needs of the file's bytes (predict's batch path keeps
        each SDSS file's SPZLINE table for the gate), so every file is read once.
    """
    flux: list[np.ndarray] = []
    ivar: list[np.ndarray] = []
    mask: list[np.ndarray] = []
    meta: dict[str, list[Any]] = {name: [] for name in META_COLUMNS}
    rejected: list[dict[str, Any]] = []
    base = Path(base_dir)
    for row in progress(rows, "reduced"):
        status = str(row.get("status", "ok"))
        if status != "ok":
            rejected.append(reject_record(row, f"{status}: {row.get('reason', '')}".rstrip(": ")))
            continue
        path = base / unescape_name(str(row["path"]))  # inventories hold escaped names
        try:
            items = _items_of(row, path, reader or read_file)
        except SpectrumReadError as error:
            rejected.append(reject_record(row, unreadable_reason(error)))
            continue
        except RejectedSpectrum as error:
            rejected.append(reject_record(row, error.reason))
            continue
        for item in items:
            spectrum = item.spectrum
            # a DESI row is named by its own target; an SDSS file keeps its inventory row's id (what the catalog asked for)
            identity = {"survey": item.survey, "specid": item.specid, "file_row": item.file_row} if item.survey == "desi" else {}
            if spectrum is None:
                rejected.append(reject_record(row, item.reason) | identity)
                continue
            try:
                wrong_sdss5 = item.survey == "sdss5" and row.get("survey") == "sdss5" and row.get("specid")
                if wrong_sdss5 and spectrum.specid != row["specid"]:
                    raise RejectedSpectrum(f"file holds {spectrum.specid}, its inventory row says {row['specid']}")
                if item.survey == "sdss" and row.get("plate") not in (None, "") and spectrum.specid != row["specid"]:
                    raise RejectedSpectrum(
                        f"file holds {spectrum.specid}, its inventory row (catalog or SDSS file name) says {row['specid']}"
                    )
                catalog_z = _float_or_nan(row.get("z"))
                if _is_nan(catalog_z) and _is_nan(spectrum.z) and item.reason:
                    raise RejectedSpectrum(item.reason)  # DESI: no redrock file and no catalog z
                z = choose_redshift(catalog_z, spectrum.z, params.z_max)
                reduced = reduce_spectrum(spectrum, z, params)
                if gate is not None and (reason := gate(spectrum, z, path)):
                    raise RejectedSpectrum(reason)
            except RejectedSpectrum as error:
                rejected.append(reject_record(row, error.reason) | identity)
                continue
            flux.append(reduced.flux)
            ivar.append(reduced.ivar)
            mask.append(reduced.mask)
            meta["survey"].append(spectrum.survey)
            meta["specid"].append(spectrum.specid)
            meta["plate"].append(spectrum.plate)
            meta["mjd"].append(spectrum.mjd)
            meta["fiberid"].append(spectrum.fiberid)
            meta["desi_survey"].append(spectrum.desi_survey)
            meta["program"].append(spectrum.program)
            meta["healpix"].append(spectrum.healpix)
            meta["z"].append(z)
            meta["z_source"].append("file" if _is_nan(catalog_z) else "catalog")
            meta["label"].append(str(row.get("label", "") or ""))
            meta["z_err"].append(float(spectrum.z_err))
            meta["zwarning"].append(int(spectrum.zwarning))
            meta["sdss_class"].append(str(spectrum.sdss_class or ""))
            meta["sdss_subclass"].append(str(spectrum.sdss_subclass or ""))
            meta["norm_flux"].append(float(reduced.norm_flux))
            meta["source_file"].append(str(row["path"]))
            meta["file_row"].append(int(item.file_row))
            meta["row"].append(int(row.get("row", -1) or -1))
    meta_arrays = {
        "survey": np.array(meta["survey"], dtype=object),
        "specid": np.array(meta["specid"], dtype=object),
        "plate": np.array(meta["plate"], dtype=np.int32),
        "mjd": np.array(meta["mjd"], dtype=np.int32),
        "fiberid": np.array(meta["fiberid"], dtype=np.int32),
        "desi_survey": np.array(meta["desi_survey"], dtype=object),
        "program": np.array(meta["program"], dtype=object),
        "healpix": np.array(meta["healpix"], dtype=np.int64),
        "z": np.array(meta["z"], dtype=np.float64),
        "z_source": np.array(meta["z_source"], dtype=object),
        "label": np.array(meta["label"], dtype=object),
        "z_err": np.array(meta["z_err"], dtype=np.float64),
        "zwarning": np.array(meta["zwarning"], dtype=np.int32),
        "sdss_class": np.array(meta["sdss_class"], dtype=object),
        "sdss_subclass": np.array(meta["sdss_subclass"], dtype=object),
        "norm_flux": np.array(meta["norm_flux"], dtype=np.float64),
        "source_file": np.array(meta["source_file"], dtype=object),
        "file_row": np.array(meta["file_row"], dtype=np.int64),
        "row": np.array(meta["row"], dtype=np.int64),
    }
    n_pixels = params.n_pixels

    def stacked(parts: list[np.ndarray], dtype: type) -> np.ndarray:
        return np.stack(parts).astype(dtype, copy=False) if parts else np.empty((0, n_pixels), dtype)

    return ShardResult(
        flux=stacked(flux, np.float32), ivar=stacked(ivar, np.float32), mask=stacked(mask, np.uint8), meta=meta_arrays,
        rejected=rejected,
    )  # fmt: skip


def reason_key(reason: object) -> str:
    """A rejection reason without its details: ``"unreadable: …"`` → ``"unreadable"``.

    >>> reason_key("unreadable: not a FITS file (bad header)")
    'unreadable'
    """
    return str(reason).split(" (")[0].split(":")[0]


REASON_NAMES = {"missing": "missing file", "failed": "failed download"}
"""How the inventory statuses read in a rejection count (any other reason is shown as it is)."""


def check_not_empty(shards: list[str], rejected_parts: list[str], n_reasons: int = 3) -> None:
    """Stop before writing a cube when no shard holds a spectrum, with the top rejection reasons.

    Raises
    ------
    ValueError
        "no spectrum could be reduced: 12 rejected — failed download: 12 (e.g. …)"; the per-shard
        lists name every spectrum with its reason.
    """
    from collections import Counter

    from agn_saliency.io.cube import count_spectra
    from agn_saliency.io.tables import read_table

    if sum(count_spectra(path) for path in shards):
        return
    rejected = [row for part in rejected_parts for row in read_table(part)]
    counts = Counter(reason_key(row["reason"]) for row in rejected)
    examples: dict[str, str] = {}
    for row in rejected:
        examples.setdefault(reason_key(row["reason"]), str(row["reason"]))
    shown = ", ".join(
        f"{REASON_NAMES.get(key, key)}: {count} (e.g. {examples[key]!r})" for key, count in counts.most_common(n_reasons)
    )
    if len(counts) > n_reasons:
        shown += f", {len(counts) - n_reasons} other reason(s)"
    where = Path(rejected_parts[0]).parent / "rejected-*.ecsv" if rejected_parts else "the reduction logs"
    raise ValueError(
        f"no spectrum could be reduced: {len(rejected)} rejected — {shown or 'no input spectra'}; "
        f"each is listed with its reason in {where}"
    )
