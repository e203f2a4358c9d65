"""The AGN gate at survey scale: the same measurement and decision as :mod:`agn_saliency.spectra.gate`,
computed for many spectra at once.

:func:`fit_regions` fits one region of many spectra with the model, bounds, grids and stopping
rules of the per-spectrum fit (``gate._fit_region``), in chunks of up to :data:`CHUNK` spectra each
padded with zero-weight pixels to the next multiple of 16 (a chunk holds one padded length only);
the chunks of up to :data:`ROUND` spectra are fitted together (:func:`_fit_chunks`):

* the velocity scan (stage 1) and the broad-line grid (stage 2) are solved for every grid point of
  every spectrum at once, as Schur complements on the continuum (scan) or on the continuum and the
  narrow lines (grid); the scan's products come from the lines' ±6σ windows only; both run
  :data:`GRID_CHUNK` spectra at a time, the grid (which only picks stage 3's start) in float32;
* the two kinematic fits are one projected Levenberg–Marquardt over all chunks of the round
  (``_levenberg_marquardt``: ``least_squares``' ``ftol``, ``xtol``, ``gtol`` and ``max_nfev``; a
  parameter on a bound the descent pushes against stays there; a rejected step is retried at half
  its length) with the analytic Jacobian of the variable-projection residual (Kaufman's
  ``J = -(I - A A⁺) D``, ``D = (∂A/∂θ) a``) used only as ``JᵀJ`` and ``Jᵀr``.

Where the time goes (``benchmarks/gate_fits.py``, 300 simulated spectra): the evaluations of the
two Levenberg–Marquardt fits about half, the scan a fifth to a quarter, the broad grid a tenth.
Cheaper paths were tried and rejected, as they moved results beyond what the tests allow: stopping
on the predicted instead of the achieved gain (one evaluation less per fit) moved a real broad-line
AGN's narrow Hα flux 4.0 % from the per-spectrum fit (2.0 % when only stage 1 stops so), as both
fits end on a flat narrow/broad valley within ``ftol`` of its floor and where depends on the path;
skipping stage 3 where the grid's broad line lowers χ² by < 4 changed 8 of 1000 simulated verdicts
(4 before) and put 200 detected fluxes beyond 2 % (34 before). What is kept leaves a fit's path as
it was except after a rejected step.

The model and the start are the per-spectrum fit's; the path differs, so fluxes agree to within the
fits' tolerance where χ² has one minimum (checked on the real files and simulated spectra in
``tests/test_predict_batch.py``; weak lines with several minima can end in another one). Window
sums run term by term and every other sum over pixels has the padded length, so a spectrum's
result is the same bit for bit whichever spectra share its chunk (:func:`fit_region` is n = 1).

By default (:data:`ENGINE`) :func:`fit_regions` hands the fits to the compiled path,
:mod:`agn_saliency.spectra.gate_numba`: the same stages and rules one spectrum at a time, every sum
over the lines' ±6σ windows only (3.4× faster on the real files, the same fits to rounding: 1e-9 and less);
this module's arrays stay the fallback without numba and the reference it is tested against.

:func:`assess_spectra` gates many spectra (each with its redshift and SPZLINE table), each measured
by the compiled ``gate_numba.measure`` when numba is there (``_measure_compiled``: the same
``Measured`` as ``gate._measure``, bit for bit, with the median ``|flux|`` for ``decide``);
:func:`spzline_from_hdus` reads SPZLINE from the HDUs the spectrum was read from
(:func:`agn_saliency.io.fits.read_hdus`), so each file is read once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from agn_saliency.core.lines import SPEED_OF_LIGHT_KMS
from agn_saliency.io import fits
from agn_saliency.spectra import gate, gate_numba
from agn_saliency.spectra.gate import (
    _BROAD_SIGMA_KMS,
    _FWHM_PER_SIGMA,
    _NARROW_SIGMA_KMS,
    _VELOCITY_LIMIT_KMS,
    INSTRUMENT_FWHM_KMS,
    _Region,
    _RegionFit,
)
from agn_saliency.spectra.sdss import SdssSpectrum

_C = SPEED_OF_LIGHT_KMS
_SQRT_2PI = math.sqrt(2.0 * math.pi)

# The kinematic fits' grids and bounds, one definition for the numpy and the compiled path.
_SCAN_VELOCITIES_KMS = np.arange(-_VELOCITY_LIMIT_KMS["narrow"], _VELOCITY_LIMIT_KMS["narrow"] + 1.0, 150.0)
"""Stage 1: the narrow lines' velocity scan [km/s]."""
_SCAN_ZERO = int(np.flatnonzero(_SCAN_VELOCITIES_KMS == 0.0)[0])
"""Index of v = 0 (-1500 + 10 × 150 exactly) in the scan, the reference's other start."""
_GRID_SIGMAS_KMS = np.repeat(np.geomspace(_BROAD_SIGMA_KMS[0], _BROAD_SIGMA_KMS[1], 12), 5)
_GRID_VELOCITIES_KMS = np.tile([-1500.0, -500.0, 0.0, 500.0, 1500.0], 12)
"""Stage 2: the broad line's (velocity, σ) grid [km/s], 5 velocities at each of 12 widths."""
_LOWER = np.array([-_VELOCITY_LIMIT_KMS["narrow"], _NARROW_SIGMA_KMS[0], -_VELOCITY_LIMIT_KMS["broad"], _BROAD_SIGMA_KMS[0]])
_UPPER = np.array([_VELOCITY_LIMIT_KMS["narrow"], _NARROW_SIGMA_KMS[1], _VELOCITY_LIMIT_KMS["broad"], _BROAD_SIGMA_KMS[1]])
"""Bounds of θ = (narrow velocity, narrow σ, broad velocity, broad σ) [km/s]; stage 1 fits the first two."""


class SpzlineColumns(dict):
    """SPZLINE's columns (name → array), read by the fast FITS path; what :func:`agn_saliency.spectra.gate.assess_spectrum`
    needs of an ``astropy.table.Table`` (``colnames`` and ``table[name]``), and ``line_positions``
    (stripped ``LINENAME`` → its first row), which the gate would otherwise find for every spectrum."""

    line_positions: dict[str, int] | None = None

    @property
    def colnames(self) -> list[str]:
        return list(self)


_SPZLINE_WANTED = ("LINENAME", "LINEZ", "LINESIGMA", "LINEAREA", "LINEAREA_ERR")


def spzline_from_hdus(hdus: Sequence[fits.HDU], path: Any = None) -> Any:
    """SPZLINE of a file already read (:func:`agn_saliency.io.fits.read_hdus`), or None without one.

    Columns the fast path cannot decode are read by astropy (:meth:`agn_saliency.io.fits.HDU.column`
    falls back by itself); a table that cannot be decoded at all is read by
    :func:`agn_saliency.spectra.gate.read_spzline` from ``path`` when given, else None.
    """
    for hdu in hdus:
        if hdu.index > 0 and hdu.name.upper() == "SPZLINE" and hdu.is_table:
            try:
                out = SpzlineColumns()
                for name in _SPZLINE_WANTED:
                    if hdu.has_column(name):  # without listing every column (column_names)
                        out[name] = hdu.column(name)
                if "LINENAME" in out:
                    out["LINENAME"] = np.array([str(n).strip() for n in out["LINENAME"]], dtype=object)
                    out.line_positions = {}
                    for i, name in enumerate(out["LINENAME"]):
                        out.line_positions.setdefault(name, i)
                return out
            except (fits.FitsFormatError, KeyError, ValueError, TypeError):
                if path is None:
                    return None
                try:
                    return gate.read_spzline(path)
                except gate.SpectrumReadError:
                    return None
    return None


_Item = tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]
"""One spectrum's region data (:meth:`agn_saliency.spectra.gate.Measured.region_data`): wavelength,
flux, ivar of its good pixels in the region, z, scale_always."""

CHUNK = 256
"""Spectra of one padded length whose arrays are made together (a chunk; :func:`_prepare`)."""

ROUND = 1024
"""Spectra whose chunks share one Levenberg–Marquardt (:func:`_fit_chunks`; its last iterations, when few
spectra are left, cost the same Python overhead for 1 spectrum as for hundreds); bounds the arrays held at once."""

GRID_CHUNK = 32
"""Spectra whose broad grid (s × 60 grid points × N pixels) is computed at once (bounds its arrays)."""

EVALUATE_CHUNK = 32
"""Spectra a Levenberg–Marquardt evaluation computes at once: its (s, M, N) arrays then stay in the
CPU's caches (256 at once: ~9 MB each; 32 took 0.83 s instead of 1.16 s for the 2 × 300 fits of
``benchmarks/gate_fits.py``)."""


class _Model:
    """A region's lines: free and tied narrow lines, the mixing matrix (lines → free columns), the broad line."""

    def overlapping(self, sigma_kms: float) -> tuple[np.ndarray, np.ndarray]:
        """Ordered pairs (l, l') of lines (every line with itself too) whose ±6σ windows at width
        ``sigma_kms`` can share a pixel at any redshift and velocity (the windows scale with λ)."""
        reach = 6.0 * sigma_kms / _C * 1.001  # half a window over λ, with a margin for rounding
        near = np.abs(self.rest[:, None] - self.rest[None, :]) <= reach * (self.rest[:, None] + self.rest[None, :])
        return np.nonzero(near)

    def __init__(self, region: _Region) -> None:
        self.free = [name for name in region.narrow if name not in region.tied]
        lines = self.free + list(region.tied)
        self.rest = np.array([region.narrow[name] for name in lines])
        self.n_free = len(self.free)
        # a tied line adds ratio × its profile to its leader's column
        self.mixing = np.zeros((len(lines), self.n_free))
        self.mixing[np.arange(self.n_free), np.arange(self.n_free)] = 1.0
        for j, name in enumerate(region.tied):
            leader, ratio = region.tied[name]
            self.mixing[self.n_free + j, self.free.index(leader)] = ratio
        self.broad_rest = float(region.narrow[region.broad])
        self.column = self.mixing.argmax(axis=1)  # the free column each line adds to
        self.ratio = self.mixing.max(axis=1)  # and with which factor


def _shifted(wavelength: np.ndarray) -> np.ndarray:
    """All rows of ``wavelength`` (S, N) in one sorted array: row s shifted by s × 1e6 Å (wavelengths are < 1e6 Å)."""
    return (wavelength + np.arange(len(wavelength))[:, None] * 1e6).ravel()


def _windows(
    wavelength: np.ndarray,
    centre: np.ndarray,
    sigma: np.ndarray,
    with_first: bool = False,
    rows: np.ndarray | None = None,
    flat: np.ndarray | None = None,
) -> Any:
    """Unit-flux Gaussians at ``centre`` (S, Q) with widths ``sigma`` (Å) on the pixels ``wavelength``
    (increasing) of spectra ``rows`` (default all rows, in order), evaluated in their ±6σ windows
    only (found by one search over all spectra, ``flat``: :func:`_shifted` of ``wavelength``, made
    here unless given): pixel index (S, Q, W; N outside the window), value and offset u in σ (0
    outside), zero beyond ±6σ as ``gate._gaussians``."""
    n_pixels = wavelength.shape[1]
    rows = np.arange(len(wavelength)) if rows is None else rows
    flat = _shifted(wavelength) if flat is None else flat
    if sigma.shape != centre.shape:
        sigma = np.broadcast_to(sigma, centre.shape)
    shift = rows[:, None] * 1e6
    row_start = rows[:, None] * n_pixels
    first = np.searchsorted(flat, (centre - 6.0 * sigma + shift).ravel()).reshape(centre.shape) - row_start
    last = np.searchsorted(flat, (centre + 6.0 * sigma + shift).ravel(), side="right").reshape(centre.shape) - row_start
    for ends in (first, last):  # in place (np.clip's wrapper cost more than the clipping)
        np.maximum(ends, 0, out=ends)
        np.minimum(ends, n_pixels, out=ends)
    width = max(int((last - first).max(initial=0)), 1)
    index = first[..., None] + np.arange(width)  # (S, Q, W)
    inside = index < last[..., None]
    np.minimum(index, n_pixels - 1, out=index)
    # the same values as (λ - c) / σ and exp(-u²/2) / (√(2π) σ), computed in place (a third less time)
    u = np.take(wavelength, index + row_start[..., None])
    u -= centre[..., None]
    u /= sigma[..., None]
    g = np.multiply(u, u)
    g *= -0.5
    np.exp(g, out=g)
    g /= (_SQRT_2PI * sigma)[..., None]
    inside &= np.abs(u) <= 6.0
    g *= inside
    u *= inside
    np.putmask(index, ~inside, n_pixels)
    return (index, g, u, first) if with_first else (index, g, u)


def _window_sum(values: np.ndarray) -> np.ndarray:
    """Sums over the last axis, one term after the other: a window's zero padding, whose length
    depends on the spectra fitted together, then changes no sum by a bit (numpy's pairwise sums
    group the terms by the axis length)."""
    terms = np.moveaxis(values, -1, 0)
    out = terms[0].copy()
    for term in terms[1:]:
        out += term
    return out


def _scatter(index: np.ndarray, values: np.ndarray, group: np.ndarray, n_groups: int, n_pixels: int) -> np.ndarray:
    """Sum window values (S, Q, W) at their pixel ``index`` into (S, n_groups, N), window q into ``group[q]``."""
    n_spectra = index.shape[0]
    flat = ((np.arange(n_spectra)[:, None, None] * n_groups + group[None, :, None]) * (n_pixels + 1) + index).ravel()
    out = np.bincount(flat, weights=values.ravel(), minlength=n_spectra * n_groups * (n_pixels + 1))
    return out.reshape(n_spectra, n_groups, n_pixels + 1)[..., :n_pixels]


def _gaussians(wavelength: np.ndarray, centre: np.ndarray, sigma: np.ndarray, with_u: bool = True) -> Any:
    """Dense unit-flux Gaussians (S, Q, N) at ``centre`` (S, Q) with widths ``sigma`` (Å), zero beyond
    ±6σ (the broad line, whose window is most of a region), and their offsets u in σ when ``with_u``."""
    if not with_u:
        # u²/2 in place, +inf beyond 6σ (exp gives 0 there): half the passes over the (S, Q, N) array
        # of the version below, whose u the broad grid does not need (2.2× faster for its 32 × 60 × 512)
        t = wavelength[:, None, :] - centre[..., None]
        t *= (math.sqrt(0.5) / sigma)[..., None]
        np.square(t, out=t)
        np.copyto(t, np.inf, where=t > 18.0)
        np.negative(t, out=t)
        np.exp(t, out=t)
        t *= (1.0 / (_SQRT_2PI * sigma))[..., None]
        return t
    u = wavelength[:, None, :] - centre[..., None]
    u *= (1.0 / sigma)[..., None]
    square = u * u
    outside = square > 36.0
    square *= -0.5
    g = np.exp(square, out=square)
    g *= (1.0 / (_SQRT_2PI * sigma))[..., None]
    g[outside] = 0.0
    u[outside] = 0.0
    return g, u


def _solve(normal: np.ndarray, rhs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solutions of the systems ``normal x = rhs`` (…, M, M), (…, M) with ``gate._fit_region``'s ridge,
    and which of them were singular (their x set to 0)."""
    normal = normal.copy()
    m = normal.shape[-1]
    idx = np.arange(m)
    normal[..., idx, idx] *= 1.0 + 1e-10
    try:
        return np.linalg.solve(normal, rhs[..., None])[..., 0], np.zeros(normal.shape[:-2], dtype=bool)
    except np.linalg.LinAlgError:  # one system at a time; a normal matrix may be broadcast over several rhs
        shape = np.broadcast_shapes(normal.shape[:-2], rhs.shape[:-1])
        flat_normal = np.broadcast_to(normal, (*shape, m, m)).reshape(-1, m, m)
        flat_rhs = np.broadcast_to(rhs, (*shape, m)).reshape(-1, m)
        out, bad = np.zeros_like(flat_rhs), np.zeros(flat_rhs.shape[0], dtype=bool)
        for i in range(flat_rhs.shape[0]):
            try:
                out[i] = np.linalg.solve(flat_normal[i], flat_rhs[i])
            except np.linalg.LinAlgError:
                bad[i] = True
        return out.reshape(*shape, m), bad.reshape(shape)


def _least_squares(matrix: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Amplitudes, residuals, normal matrices and singular flags of the weighted linear fits ``matrix a ≈ target``
    (matrix (…, N, M), target broadcastable to (…, N))."""
    transposed = np.swapaxes(matrix, -1, -2)
    normal = transposed @ matrix
    target = np.broadcast_to(target, matrix.shape[:-1])
    amplitudes, bad = _solve(normal, (transposed @ target[..., None])[..., 0])
    residual = target - (matrix @ amplitudes[..., None])[..., 0]
    return amplitudes, residual, normal, bad


def _levenberg_marquardt(
    theta: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    evaluate: Any,
    max_nfev: int = 20,
    ftol: float = 1e-4,
    xtol: float = 1e-4,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Bounded nonlinear least squares of many independent problems at once (projected Levenberg–Marquardt).

    ``evaluate(theta, index)`` returns, for the problems ``index`` at ``theta`` (s, P), the cost
    ½|r|² (s,), JᵀJ (s, P, P), the gradient Jᵀr (s, P) and failure flags (s,). The stopping rules
    are ``least_squares``'s (``ftol``, ``xtol``, ``gtol`` = 1e-8, ``max_nfev`` evaluations per
    problem). A rejected step is retried at half its length (backtracking) before a new damped
    step is solved for; a problem none of whose steps is rejected takes the plain LM path.
    Returns θ, JᵀJ there, and which problems failed (non-finite cost at the start).
    """
    theta = np.clip(theta, lower, upper)
    n = theta.shape[0]
    cost, normal, gradient, failed = evaluate(theta, np.arange(n))
    failed = failed | ~np.isfinite(cost)
    damping = np.full(n, 1e-3)
    p = theta.shape[1]
    last_taken = np.zeros_like(theta)
    retry = np.zeros(n, dtype=bool)
    diagonal = np.arange(p)

    def small_gradient(index: np.ndarray) -> np.ndarray:
        # least_squares' gtol test (1e-8) on the gradient scaled by the distance to the bound it points at
        x, g = theta[index], gradient[index]
        distance = np.where(g < 0, upper - x, x - lower)
        return np.max(np.abs(g * distance), axis=1) < 1e-8

    active = ~failed
    every = np.flatnonzero(active)
    active[every[small_gradient(every)]] = False
    for _ in range(max_nfev - 1):
        index = np.flatnonzero(active)
        if index.size == 0:
            break
        jtj, g, old = normal[index], gradient[index], theta[index]
        # a parameter on a bound that the descent direction pushes out of it stays there (projected step)
        held = ((old <= lower) & (g > 0)) | ((old >= upper) & (g < 0))
        scale = jtj[:, diagonal, diagonal]
        scale = np.maximum(scale, 1e-12 * scale.max(axis=1, keepdims=True) + 1e-300)
        system = jtj.copy()
        system[:, diagonal, diagonal] += damping[index, None] * scale
        system = np.where(held[:, :, None] | held[:, None, :], 0.0, system)
        system[:, diagonal, diagonal] = np.where(held, 1.0, system[:, diagonal, diagonal])
        step = -_solve(system, np.where(held, 0.0, g))[0]
        new = np.clip(old + step, lower, upper)
        taken = new - old
        # after a rejected step, half that step (inside the box, as both its ends are): a step the
        # bounds clipped (the broad width onto its limit) was rejected again and again while the
        # damping grew ×4 per evaluation, ~5 wasted evaluations (stage 3: 5.9 → 5.0 per fit)
        again = retry[index]
        taken[again] = 0.5 * last_taken[index[again]]
        new[again] = old[again] + taken[again]
        predicted = -(np.einsum("sp,sp->s", g, taken) + 0.5 * np.einsum("sp,spq,sq->s", taken, jtj, taken))
        new_cost, new_normal, new_gradient, bad = evaluate(new, index)
        bad |= ~np.isfinite(new_cost)
        actual = cost[index] - new_cost
        accept = ~bad & (actual >= 0)
        ratio = np.where(predicted > 0, actual / np.where(predicted > 0, predicted, 1.0), 0.0)
        small_step = np.linalg.norm(taken, axis=1) <= xtol * (xtol + np.linalg.norm(old, axis=1))
        small_gain = accept & (actual < ftol * cost[index]) & (ratio > 0.25)
        done = small_gain | small_step
        last_taken[index] = taken
        retry[index] = ~accept
        took = index[accept]
        theta[took], cost[took] = new[accept], new_cost[accept]
        normal[took], gradient[took] = new_normal[accept], new_gradient[accept]
        damping[took] = np.where(ratio[accept] > 0.75, damping[took] * 0.3, damping[took])
        damping[index[~accept | (ratio < 0.25)]] *= 4.0
        active[index[done]] = False
        still = took[active[took]]
        if still.size:
            active[still[small_gradient(still)]] = False
    return theta, normal, failed


@dataclass
class _Chunk:
    """Spectra of one padded length prepared for a region's fits (:func:`_prepare`): their scan's
    start velocities, failure flags so far, and the stages that read the chunk's arrays."""

    size: int
    v_start: np.ndarray
    failed: np.ndarray
    evaluate: Callable[[np.ndarray, np.ndarray, bool], tuple[np.ndarray, ...]]
    """(θ (s, P), rows ``index`` (s,), with the broad line?) → cost, JᵀJ, Jᵀr, failure flags."""
    broad_start: Callable[[np.ndarray], np.ndarray]
    """The narrow kinematics (S, 2) → the broad grid's best (v, σ) (S, 2)."""
    finish: Callable[[np.ndarray, np.ndarray], list[_RegionFit | Exception]]
    """The kinematics (S, 4) and JᵀJ there (S, 4, 4) → the fits."""


def _fit_chunks(region: _Region, model: _Model, groups: Sequence[Sequence[_Item]]) -> list[list[_RegionFit | Exception]]:
    """Fit one region of several chunks of spectra (see the module docstring): each chunk's scan,
    grid and final amplitudes on its own arrays; the two kinematic fits one Levenberg–Marquardt over
    all chunks, whose last iterations (few problems left, the same Python overhead per iteration as
    for hundreds) are then paid once, not once per chunk."""
    chunks = [_prepare(region, model, items) for items in groups]
    offsets = np.cumsum([0] + [chunk.size for chunk in chunks])
    parts = [slice(offsets[k], offsets[k + 1]) for k in range(len(chunks))]

    def evaluate(theta: np.ndarray, index: np.ndarray, broad: bool) -> tuple[np.ndarray, ...]:
        # the problems ``index`` (ascending, as the Levenberg–Marquardt passes them) chunk by chunk
        bounds = np.searchsorted(index, offsets)
        results = [
            chunk.evaluate(theta[lo:hi], index[lo:hi] - offsets[k], broad)
            for k, (chunk, lo, hi) in enumerate(zip(chunks, bounds[:-1], bounds[1:]))
            if hi > lo
        ]
        return results[0] if len(results) == 1 else tuple(np.concatenate(arrays) for arrays in zip(*results))

    v_start = np.concatenate([chunk.v_start for chunk in chunks])
    start = np.stack([v_start, np.full(v_start.size, 100.0)], axis=1)
    narrow_theta, _, bad = _levenberg_marquardt(start, _LOWER[:2], _UPPER[:2], lambda t, i: evaluate(t, i, False))
    for chunk, part in zip(chunks, parts):
        chunk.failed |= bad[part]
    # Stage 2: each chunk's broad grid with the narrow kinematics fixed.
    broad = np.concatenate([chunk.broad_start(narrow_theta[part]) for chunk, part in zip(chunks, parts)])
    # Stage 3: all four kinematic parameters together, from the best grid point.
    start = np.concatenate([narrow_theta, broad], axis=1)
    theta, jacobian, bad = _levenberg_marquardt(start, _LOWER, _UPPER, lambda t, i: evaluate(t, i, True), max_nfev=100)
    out = []
    for chunk, part in zip(chunks, parts):
        chunk.failed |= bad[part]
        out.append(chunk.finish(theta[part], jacobian[part]))
    return out


def _prepare(region: _Region, model: _Model, items: Sequence[_Item]) -> _Chunk:
    """A chunk of spectra of one padded length: its arrays, its velocity scan (stage 1's start) and
    the closures over its arrays that :func:`_fit_chunks` runs."""
    n_spectra = len(items)
    n_pixels = max(_padded(len(item[0])) for item in items)
    wavelength = np.empty((n_spectra, n_pixels))
    flux = np.zeros((n_spectra, n_pixels))
    weight = np.zeros((n_spectra, n_pixels))
    counts = np.array([len(item[0]) for item in items])
    for i, (wl, fl, iv, _, _) in enumerate(items):
        wavelength[i, : len(wl)], wavelength[i, len(wl) :] = wl, wl[-1] if len(wl) else 1.0
        flux[i, : len(wl)], weight[i, : len(wl)] = fl, np.sqrt(iv)
    z = np.array([float(item[3]) for item in items])
    scale_always = np.array([bool(item[4]) for item in items])
    centre = 0.5 * (region.window[0] + region.window[1]) * (1.0 + z)
    x = (wavelength - centre[:, None]) / (centre[:, None] * 0.05)
    continuum = np.stack([np.ones_like(x), x, x * x], axis=2) * weight[..., None]  # (S, N, 3)
    n_cont = continuum.shape[2]
    target = flux * weight
    observed = model.rest * (1.0 + z)[:, None]  # (S, L)
    observed_broad = model.broad_rest * (1.0 + z)  # (S,)
    mixing, n_free = model.mixing, model.n_free
    failed = np.zeros(n_spectra, dtype=bool)

    # Stage 1: the narrow velocity scan (σ = 150 km/s), every grid point and v = 0 in one batch.
    n_pixels = wavelength.shape[1]
    v_start = np.empty(n_spectra)
    for lo in range(0, n_spectra, GRID_CHUNK):  # the scan's (s, 22 · lines, window) arrays a few spectra at a time
        part = slice(lo, lo + GRID_CHUNK)
        v_start[part], bad = _velocity_scan(
            model, wavelength[part], weight[part], x[part], continuum[part], target[part], observed[part]
        )
        failed[part] |= bad

    def narrow_columns(centre_n: np.ndarray, sigma_kms: np.ndarray) -> np.ndarray:
        pixel, g, _ = _windows(wavelength, centre_n, centre_n * (sigma_kms / _C))
        narrow = _scatter(pixel, g * model.ratio[None, :, None], model.column, n_free, n_pixels)
        return np.swapaxes(narrow, 1, 2) * weight[..., None]  # (S, N, K)

    rows_continuum = np.ascontiguousarray(np.swapaxes(continuum, 1, 2))  # (S, 3, N): a column per row
    shifted = _shifted(wavelength)  # the chunk's windows found in one sorted array (no copy per evaluation)

    def evaluate(theta: np.ndarray, index: np.ndarray, broad: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        # Columns as rows (s, M, N), contiguous over pixels: the blocks join without strided copies and
        # every product over pixels comes from two batched matrix products (Gram matrices).
        w = weight[index]
        y = target[index]
        centre_n = observed[index] * (1.0 + theta[:, 0:1] / _C)  # (s, L)
        sigma_n = centre_n * (theta[:, 1:2] / _C)
        pixel, g, u = _windows(wavelength, centre_n, sigma_n, rows=index, flat=shifted)  # (s, L, W)
        narrow = _scatter(pixel, g * model.ratio[None, :, None], model.column, n_free, n_pixels)  # (s, K, N)
        narrow *= w[:, None, :]
        blocks = [rows_continuum[index], narrow]
        if broad:
            centre_b = observed_broad[index] * (1.0 + theta[:, 2] / _C)
            sigma_b = centre_b * (theta[:, 3] / _C)
            gb, ub = (a[:, 0] for a in _gaussians(wavelength[index], centre_b[:, None], sigma_b[:, None]))  # (s, N)
            blocks.append((gb * w)[:, None, :])
        blocks.append(y[:, None, :])
        rows = np.concatenate(blocks, axis=1)  # (s, M + 1, N): A's columns, then y
        gram = rows @ np.swapaxes(rows, 1, 2)
        m = rows.shape[1] - 1
        normal, a_y, y_y = gram[:, :m, :m], gram[:, :m, m], gram[:, m, m]
        ridged = normal.copy()  # _solve's ridge, made once for both solves below
        ridged[:, np.arange(m), np.arange(m)] *= 1.0 + 1e-10
        try:
            amplitudes, bad = np.linalg.solve(ridged, a_y[..., None])[..., 0], np.zeros(len(index), dtype=bool)
        except np.linalg.LinAlgError:
            amplitudes, bad = _solve(normal, a_y)
        # r = y - A a: |r|² = yᵀy - 2 aᵀAᵀy + aᵀ(AᵀA)a (exact for any a, not only the minimum)
        normal_a = (normal @ amplitudes[..., None])[..., 0]
        r_r = y_y - 2.0 * np.einsum("sm,sm->s", amplitudes, a_y) + np.einsum("sm,sm->s", amplitudes, normal_a)
        line_amplitude = amplitudes[:, n_cont : n_cont + n_free] @ mixing.T  # (s, L)
        inv_sigma = (1.0 / sigma_n)[..., None]
        dg_dcentre = g * u * inv_sigma
        dg_dsigma = g * (u * u - 1.0) * inv_sigma
        dcentre_dv = (observed[index] / _C)[..., None]  # (s, L, 1)
        dg_dv = (dg_dcentre + dg_dsigma * (theta[:, 1, None, None] / _C)) * dcentre_dv
        dg_ds = dg_dsigma * (centre_n / _C)[..., None]
        weighted = line_amplitude[..., None]
        both = np.concatenate([dg_dv * weighted, dg_ds * weighted], axis=1)  # (s, 2L, W)
        n_lines = len(model.rest)
        d = _scatter(np.concatenate([pixel, pixel], axis=1), both, np.repeat([0, 1], n_lines), 2, n_pixels)  # (s, 2, N)
        if broad:
            db_dcentre = gb * ub / sigma_b[:, None]
            db_dsigma = gb * (ub * ub - 1.0) / sigma_b[:, None]
            dcb_dv = observed_broad[index] / _C
            db_dv = db_dcentre * dcb_dv[:, None] + db_dsigma * (dcb_dv * theta[:, 3] / _C)[:, None]
            db_ds = db_dsigma * (centre_b / _C)[:, None]
            d = np.concatenate([d, (db_dv * amplitudes[:, -1:])[:, None], (db_ds * amplitudes[:, -1:])[:, None]], axis=1)
        d *= w[:, None, :]  # D = ∂A/∂θ a, as rows (s, P, N)
        products = d @ np.swapaxes(rows, 1, 2)  # (s, P, M + 1): DᵀA, Dᵀy
        a_d = np.swapaxes(products[..., :m], 1, 2)  # (s, M, P)
        # r = y - A a(θ): Kaufman's Jacobian J = -(I - A (AᵀA)⁻¹ Aᵀ) D with D = ∂A/∂θ a, so
        # JᵀJ = DᵀD - (AᵀD)ᵀ (AᵀA)⁻¹ AᵀD and Jᵀr = -Dᵀr = -(Dᵀy - DᵀA a): J itself is never formed
        try:
            projected = np.linalg.solve(ridged, a_d)
        except np.linalg.LinAlgError:
            projected = np.swapaxes(_solve(normal[:, None], np.swapaxes(a_d, 1, 2))[0], 1, 2)
        jtj = d @ np.swapaxes(d, 1, 2) - np.swapaxes(a_d, 1, 2) @ projected
        d_r = products[..., m] - (products[..., :m] @ amplitudes[..., None])[..., 0]
        return 0.5 * r_r, jtj, -d_r, bad

    def evaluate_parts(theta: np.ndarray, index: np.ndarray, broad: bool) -> tuple[np.ndarray, ...]:
        if len(index) <= EVALUATE_CHUNK:
            return evaluate(theta, index, broad)
        parts = [
            evaluate(theta[lo : lo + EVALUATE_CHUNK], index[lo : lo + EVALUATE_CHUNK], broad)
            for lo in range(0, len(index), EVALUATE_CHUNK)
        ]
        return tuple(np.concatenate(arrays) for arrays in zip(*parts))

    def broad_start(narrow_theta: np.ndarray) -> np.ndarray:
        # Stage 2: the broad grid with the narrow kinematics fixed, in one batch.
        centre_n = observed * (1.0 + narrow_theta[:, 0:1] / _C)
        fixed = np.concatenate([continuum, narrow_columns(centre_n, narrow_theta[:, 1:2])], axis=2)  # (S, N, M)
        grid_v, grid_s = _GRID_VELOCITIES_KMS, _GRID_SIGMAS_KMS
        best = np.empty(n_spectra, dtype=int)
        for lo in range(0, n_spectra, GRID_CHUNK):  # the grid's (s, 60, N) arrays a few spectra at a time
            part = slice(lo, lo + GRID_CHUNK)
            best[part], bad = _broad_grid(
                wavelength[part], weight[part], target[part], fixed[part], observed_broad[part], grid_v, grid_s
            )
            failed[part] |= bad
        return np.stack([grid_v[best], grid_s[best]], axis=1)

    def finish(theta: np.ndarray, jacobian: np.ndarray) -> list[_RegionFit | Exception]:
        # the amplitudes and their errors at the fitted kinematics
        centre_n = observed * (1.0 + theta[:, 0:1] / _C)
        centre_b = observed_broad * (1.0 + theta[:, 2] / _C)
        gb = _gaussians(wavelength, centre_b[:, None], (centre_b * theta[:, 3] / _C)[:, None], with_u=False)[:, 0]
        matrix = np.concatenate([continuum, narrow_columns(centre_n, theta[:, 1:2]), (gb * weight)[..., None]], axis=2)
        amplitudes, residual, normal, bad = _least_squares(matrix, target)
        failed[:] |= bad
        chi2 = np.einsum("sn,sn->s", residual, residual)
        return _region_fits(region, model, theta, amplitudes, normal, jacobian, chi2, counts, failed, scale_always, z, centre)

    return _Chunk(n_spectra, v_start, failed, evaluate_parts, broad_start, finish)


def _velocity_scan(
    model: _Model,
    wavelength: np.ndarray,
    weight: np.ndarray,
    x: np.ndarray,
    continuum: np.ndarray,
    target: np.ndarray,
    observed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 1 of :func:`_prepare` for spectra (s,): the narrow lines' start velocity and failure
    flags (``x``: the continuum's abscissa, ``continuum``: its weighted columns w, w x, w x²)."""
    n_spectra, n_cont = len(target), continuum.shape[2]
    n_free = model.n_free
    failed = np.zeros(n_spectra, dtype=bool)
    velocities, zero = _SCAN_VELOCITIES_KMS, _SCAN_ZERO
    n_pixels = wavelength.shape[1]
    n_scan = velocities.size
    line_centre = (observed[:, None, :] * (1.0 + velocities / _C)[None, :, None]).reshape(n_spectra, -1)  # (S, G·L)
    # χ² of [continuum | narrow_g] from the continuum-only fit (Schur complement on the narrow block);
    # the narrow block's products from the lines' windows only
    c_normal = np.swapaxes(continuum, 1, 2) @ continuum  # (S, 3, 3)
    c_amplitudes, bad = _solve(c_normal, (np.swapaxes(continuum, 1, 2) @ target[..., None])[..., 0])
    failed |= bad
    c_residual = target - (continuum @ c_amplitudes[..., None])[..., 0]
    c_ridged = c_normal.copy()
    c_ridged[:, np.arange(n_cont), np.arange(n_cont)] *= 1.0 + 1e-10
    index, g, _, first = _windows(wavelength, line_centre, line_centre * (150.0 / _C), with_first=True)
    n_lines, width = len(model.rest), index.shape[2]
    # window pixels gathered by one flat index into rows padded with a zero (index N outside a window)
    flat_index = index + (np.arange(n_spectra) * (n_pixels + 1))[:, None, None]
    pad = np.zeros((n_spectra, 1))

    def gathered(values: np.ndarray) -> np.ndarray:
        return np.take(np.concatenate([values, pad], axis=1), flat_index)  # (S, Q, W)

    w = gathered(weight)
    gw = g * np.tile(model.ratio, n_scan)[None, :, None] * w  # (S, Q, W)
    line_r = _window_sum(gw * gathered(c_residual))  # (S, Q)
    # the continuum columns are w, w x, w x²: their products from w and x gathered once each
    gww = gw * w
    x_window = gathered(x)
    line_c = np.stack([_window_sum(gww), _window_sum(gww * x_window), _window_sum(gww * x_window * x_window)], axis=-1)
    gw = gw.reshape(n_spectra, n_scan, n_lines, width)
    index = index.reshape(n_spectra, n_scan, n_lines, width)
    first = first.reshape(n_spectra, n_scan, n_lines)
    # products of line pairs whose windows can overlap (the same velocity shifts every line): a line
    # with itself from its own window; (l, l') for l < l' by a gather, (l', l) the same sum (the same
    # nonzero products, in pixel order)
    left, right = model.overlapping(150.0)
    left, right = left[left < right], right[left < right]
    position = index[:, :, left, :] - first[:, :, right, None]  # pixel of line `left` in the window of `right`
    overlap = (position >= 0) & (position < width) & (index[:, :, left, :] < n_pixels)
    # gw[s, g, right, clipped position] by one flat gather (take_along_axis of a copy took 2× as long)
    window_of = (np.arange(n_spectra * n_scan).reshape(n_spectra, n_scan, 1, 1) * n_lines + right[:, None]) * width
    other = np.take(gw, window_of + np.clip(position, 0, width - 1))
    pair_sums = _window_sum(np.where(overlap, gw[:, :, left, :] * other, 0.0))  # (S, G, pairs)
    line_g = np.zeros((n_spectra, n_scan, n_lines, n_lines))
    line_g[:, :, left, right] = pair_sums
    line_g[:, :, right, left] = pair_sums
    every = np.arange(n_lines)
    line_g[:, :, every, every] = _window_sum(gw * gw)
    onehot = np.zeros((n_lines, n_free))
    onehot[np.arange(n_lines), model.column] = 1.0
    gtr = line_r.reshape(n_spectra, n_scan, n_lines) @ onehot  # (S, G, K)
    gtc = np.einsum("sglc,lk->sgkc", line_c.reshape(n_spectra, n_scan, n_lines, n_cont), onehot)  # (S, G, K, 3)
    gtg = onehot.T @ line_g @ onehot  # (S, G, K, K)
    try:
        inverse_c = np.linalg.inv(c_ridged)  # (S, 3, 3)
    except np.linalg.LinAlgError:
        inverse_c = np.zeros_like(c_ridged)  # failed already
    schur = gtg - gtc @ inverse_c[:, None] @ np.swapaxes(gtc, 2, 3)
    amplitudes, bad = _solve(schur, gtr)
    failed |= bad.any(axis=1)
    costs = np.einsum("sn,sn->s", c_residual, c_residual)[:, None] - np.einsum("sgk,sgk->sg", gtr, amplitudes)
    best = np.argmin(costs, axis=1)
    v_start = np.where(costs[np.arange(n_spectra), best] < costs[:, zero] - 25.0, velocities[best], 0.0)
    return v_start, failed


def _broad_grid(
    wavelength: np.ndarray,
    weight: np.ndarray,
    target: np.ndarray,
    fixed: np.ndarray,
    observed_broad: np.ndarray,
    grid_v: np.ndarray,
    grid_s: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Stage 2 of :func:`_prepare` for spectra (s,): the broad grid point (index into ``grid_v``,
    ``grid_s``) of least χ² with the continuum and narrow columns ``fixed`` (s, N, M), and failure flags."""
    failed = np.zeros(len(target), dtype=bool)
    # The grid only picks stage 3's start: its Gaussians and products over pixels in single precision
    # (offsets from the line centre in double first: float32 keeps them to ~1e-5 Å).
    centre_b = observed_broad[:, None] * (1.0 + grid_v / _C)  # (S, G)
    offset = (wavelength - observed_broad[:, None]).astype(np.float32)  # (S, N)
    shift = (centre_b - observed_broad[:, None]).astype(np.float32)
    gb = _gaussians(offset, shift, (centre_b * (grid_s / _C)).astype(np.float32), with_u=False)  # (S, G, N)
    # each spectrum's weights × 2^-k, 2^k near its largest (exact: the same roundings), so that the
    # float32 products cannot overflow whatever the flux unit; the products are rescaled by 4^k
    largest = weight.max(axis=1, initial=0.0)
    unit = np.exp2(-np.floor(np.log2(np.where((largest > 0) & np.isfinite(largest), largest, 1.0))))
    broad = gb * (weight * unit[:, None]).astype(np.float32)[:, None, :]  # (S, G, N)
    # χ² of [fixed | broad_g] from the fixed-only fit (Schur complement): r_F = y - F a_F,
    # χ²_g = |r_F|² - (b_gᵀ r_F)² / (b_gᵀ b_g - b_gᵀ F (FᵀF)⁻¹ Fᵀ b_g)
    normal = np.swapaxes(fixed, 1, 2) @ fixed
    amplitudes, bad = _solve(normal, (np.swapaxes(fixed, 1, 2) @ target[..., None])[..., 0])
    failed |= bad
    residual = target - (fixed @ amplitudes[..., None])[..., 0]
    cross = (broad @ (fixed * unit[:, None, None]).astype(np.float32)).astype(np.float64) / (unit**2)[:, None, None]  # (S, G, M)
    ridged = normal.copy()
    ridged[:, np.arange(normal.shape[1]), np.arange(normal.shape[1])] *= 1.0 + 1e-10
    try:
        projected = np.linalg.solve(ridged, np.swapaxes(cross, 1, 2))  # (S, M, G)
    except np.linalg.LinAlgError:
        projected = np.zeros(np.swapaxes(cross, 1, 2).shape)  # those spectra are failed already
    own = np.einsum("sgn,sgn->sg", broad, broad).astype(np.float64) / (unit**2)[:, None]
    schur = own - np.einsum("sgm,smg->sg", cross, projected)
    failed |= (own <= 0).any(axis=1)
    along = np.einsum("sgn,sn->sg", broad, (residual * unit[:, None]).astype(np.float32)).astype(np.float64) / (unit**2)[:, None]
    costs = np.einsum("sn,sn->s", residual, residual)[:, None] - along**2 / np.where(schur > 0, schur, np.inf)
    best = np.argmin(costs, axis=1)
    return best, failed


def _pinv_diagonal(matrices: np.ndarray) -> np.ndarray:
    """The diagonals (S, M) of the pseudo-inverses of ``matrices`` (S, M, M); NaN where one cannot be computed."""
    try:
        return np.diagonal(np.linalg.pinv(matrices), axis1=1, axis2=2).copy()
    except (np.linalg.LinAlgError, ValueError):
        out = np.full(matrices.shape[:2], np.nan)
        for i, matrix in enumerate(matrices):
            try:
                out[i] = np.diag(np.linalg.pinv(matrix))
            except (np.linalg.LinAlgError, ValueError):
                pass
        return out


def _region_fit(
    region: _Region,
    model: _Model,
    amplitudes: Sequence[float],
    errors: Sequence[float],
    theta: Sequence[float],
    z: float,
    centre: float,
    sigma_error: float,
) -> _RegionFit:
    """One spectrum's :class:`agn_saliency.spectra.gate._RegionFit` from its fitted amplitudes, errors and kinematics."""
    n_cont = 3
    c0, c1, c2 = amplitudes[:n_cont]

    def rest_ew(line_flux: float, rest_wavelength: float) -> float:
        xx = (rest_wavelength * (1.0 + z) - centre) / (centre * 0.05)
        level = float(c0 + c1 * xx + c2 * xx * xx)
        return line_flux / level / (1.0 + z) if level > 0 else float("nan")

    line_flux = {name: float(amplitudes[n_cont + i]) for i, name in enumerate(model.free)}
    line_error = {name: float(errors[n_cont + i]) for i, name in enumerate(model.free)}
    for name, (leader, ratio) in region.tied.items():
        line_flux[name], line_error[name] = line_flux[leader] * ratio, line_error[leader] * ratio
    broad_flux, broad_error = float(amplitudes[-1]), float(errors[-1])
    fwhm = math.sqrt(max((theta[3] * _FWHM_PER_SIGMA) ** 2 - INSTRUMENT_FWHM_KMS**2, 0.0))
    fwhm_error = theta[3] * _FWHM_PER_SIGMA**2 / fwhm * sigma_error if fwhm > 0 else float("nan")
    return _RegionFit(
        flux=line_flux,
        error=line_error,
        ew={name: rest_ew(line_flux[name], region.narrow[name]) for name in region.narrow},
        broad_flux=broad_flux,
        broad_error=broad_error,
        broad_fwhm=fwhm,
        broad_fwhm_error=fwhm_error,
        broad_ew=rest_ew(broad_flux, model.broad_rest),
        broad_at_limit=bool(theta[3] >= 0.98 * _BROAD_SIGMA_KMS[1]),
    )


ENGINE = "numba" if gate_numba.AVAILABLE else "numpy"
"""How :func:`fit_regions` fits by default: ``"numba"`` (:mod:`agn_saliency.spectra.gate_numba`, compiled,
one spectrum at a time over the lines' windows) when numba can be imported, else ``"numpy"`` (the
batched arrays of this module, also the reference the compiled path is tested against)."""


def _region_fits(
    region: _Region,
    model: _Model,
    theta: np.ndarray,
    amplitudes: np.ndarray,
    normal: np.ndarray,
    jacobian: np.ndarray,
    chi2: np.ndarray,
    counts: np.ndarray,
    failed: np.ndarray,
    scale_always: np.ndarray,
    z: np.ndarray,
    centre: np.ndarray,
) -> list[_RegionFit | Exception]:
    """The fits of spectra (s,) from their kinematics ``theta``, amplitudes, normal matrices, JᵀJ
    (``jacobian``) and χ² over ``counts`` pixels: errors scaled by the reduced χ² (when above 1, or
    always for ``scale_always``), or ``LinAlgError`` where ``failed`` — as both engines finish."""
    dof = np.maximum(counts - amplitudes.shape[1] - theta.shape[1], 1)
    chi2_red = chi2 / dof
    scale = np.where(scale_always, chi2_red, np.maximum(chi2_red, 1.0))
    variances = _pinv_diagonal(np.where(failed[:, None, None], np.eye(normal.shape[1]), normal)) * scale[:, None]
    errors = np.sqrt(np.clip(variances, 0.0, None))
    width_variance = _pinv_diagonal(np.where(failed[:, None, None], np.eye(jacobian.shape[1]), jacobian))[:, 3] * scale
    sigma_error = np.sqrt(np.clip(width_variance, 0.0, None))
    # Python floats for the records (the same IEEE arithmetic as numpy's scalars, at a fraction of their cost)
    return [
        np.linalg.LinAlgError("Singular matrix") if bad else _region_fit(region, model, *values)  # type: ignore[arg-type]
        for bad, *values in zip(
            failed.tolist(),
            amplitudes.tolist(),
            errors.tolist(),
            theta.tolist(),
            z.tolist(),
            centre.tolist(),
            sigma_error.tolist(),
        )
    ]


def _fit_compiled(region: _Region, model: _Model, items: Sequence[_Item]) -> list[_RegionFit | Exception]:
    """:func:`fit_regions` by :func:`agn_saliency.spectra.gate_numba.fit_batch`: the same stages and
    stopping rules per spectrum; the errors and records made here as in ``_prepare``'s ``finish``."""
    counts = np.array([len(item[0]) for item in items], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    wavelength = np.concatenate([np.asarray(item[0], dtype=float) for item in items])
    flux = np.concatenate([np.asarray(item[1], dtype=float) for item in items])
    weight = np.sqrt(np.concatenate([np.asarray(item[2], dtype=float) for item in items]))
    z = np.array([float(item[3]) for item in items])
    scale_always = np.array([bool(item[4]) for item in items])
    centre = 0.5 * (region.window[0] + region.window[1]) * (1.0 + z)
    theta, amplitudes, normal, jacobian, chi2, failed = gate_numba.fit_batch(
        wavelength,
        flux,
        weight,
        offsets,
        z,
        centre,
        model.rest,
        model.ratio.astype(float),
        model.column.astype(np.int64),
        model.broad_rest,
        model.n_free,
        _SCAN_VELOCITIES_KMS,
        _SCAN_ZERO,
        _GRID_VELOCITIES_KMS,
        _GRID_SIGMAS_KMS,
        _LOWER,
        _UPPER,
    )
    failed = failed | ~np.isfinite(chi2)
    return _region_fits(region, model, theta, amplitudes, normal, jacobian, chi2, counts, failed, scale_always, z, centre)


def fit_regions(
    region: _Region, items: Sequence[_Item], chunk: int = CHUNK, engine: str | None = None
) -> list[_RegionFit | Exception]:
    """Fit one region of many spectra; one fit per item, in order, or the exception that made it fail
    (``gate._fit_region`` raises them). ``engine`` (default :data:`ENGINE`): ``"numba"`` fits each
    spectrum by the compiled path; ``"numpy"`` in chunks of at most :data:`CHUNK` spectra of one
    padded length, :data:`ROUND` spectra's chunks fitted together."""
    engine = ENGINE if engine is None else engine
    if engine not in ("numba", "numpy"):
        raise ValueError(f"engine must be 'numba' or 'numpy', not {engine!r}")
    model = _Model(region)
    if engine == "numba" and gate_numba.AVAILABLE:
        return _fit_compiled(region, model, items) if len(items) else []
    out: list[_RegionFit | Exception | None] = [None] * len(items)
    # A chunk holds spectra of one padded length only: each spectrum's sums then run over the same
    # pixels in the same order whichever spectra share its chunk (the same fit for any shard count).
    by_length: dict[int, list[int]] = {}
    for i, item in enumerate(items):
        by_length.setdefault(_padded(len(item[0])), []).append(i)
    chunks = [
        members[first : first + chunk] for _, members in sorted(by_length.items()) for first in range(0, len(members), chunk)
    ]
    while chunks:
        taken, size = 0, 0
        while taken < len(chunks) and (taken == 0 or size + len(chunks[taken]) <= ROUND):
            size += len(chunks[taken])
            taken += 1
        fitted, chunks = chunks[:taken], chunks[taken:]
        for index, results in zip(fitted, _fit_chunks(region, model, [[items[i] for i in index] for index in fitted])):
            for i, fit in zip(index, results):
                out[i] = fit
    return out  # type: ignore[return-value]


def _padded(n_pixels: int) -> int:
    """The pixel count a region's spectrum is padded to (zero weight): the next multiple of 16. SDSS's
    Hβ and Hα regions (336 and 496 pixels when all are good) are then not padded at all (multiples of
    64: 384 and 512); the more chunks this makes cost little since they share one Levenberg–Marquardt."""
    return max(16 * math.ceil(n_pixels / 16), 16)


def fit_region(
    region: _Region, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, z: float, scale_always: bool
) -> _RegionFit:
    """One region of one spectrum (good pixels only, observed frame): :func:`fit_regions` with n = 1,
    a ``fitter`` for :func:`agn_saliency.spectra.gate.assess_spectrum`."""
    if len(wavelength) == 0:
        raise ValueError("no pixels in the region")
    fit = fit_regions(region, [(wavelength, flux, ivar, z, scale_always)])[0]
    if isinstance(fit, Exception):
        raise fit
    return fit


_NEEDLES = gate._COVER_EDGES
_LOWS = np.array([region.window[0] for region in gate.REGIONS])
_HIGHS = np.array([region.window[1] for region in gate.REGIONS])
_LINE_NAMES = list(gate.EMISSION_LINES)
_COVER_SPAN = 2.0 * gate._COVER_KMS / _C


def _measure_compiled(spectrum: SdssSpectrum, z: float) -> gate.Measured | dict[str, Any]:
    """``gate._measure`` with its pixel work done by :func:`agn_saliency.spectra.gate_numba.measure`
    (one pass per quantity instead of ~40 numpy calls; 4× faster): the same
    :class:`~agn_saliency.spectra.gate.Measured` (and its ``flux_median``), or the same result.
    Spectra of fewer than two pixels or whose wavelengths are not sorted are measured by ``gate._measure``."""
    if z is None or not math.isfinite(float(z)) or float(z) < 0:
        return gate._empty_result(f"no usable redshift (z={z})")
    z = float(z)
    wavelength = np.asarray(spectrum.wavelength, dtype=np.float64)
    if wavelength.size < 2:
        return gate._measure(spectrum, z)
    flux = np.asarray(spectrum.flux, dtype=np.float64)
    ivar = np.asarray(spectrum.ivar, dtype=np.float64)
    steps = np.diff(np.log(wavelength))  # numpy's logarithms, as gate._measure's
    ordered, good, rest, scale_always, log_step, distance, flux_median, windows = gate_numba.measure(
        wavelength,
        flux,
        ivar,
        np.asarray(spectrum.and_mask, dtype=np.int64),
        steps,
        z,
        gate._BAD_MASK,
        _NEEDLES,
        _LOWS,
        _HIGHS,
    )
    if not log_step > 0:
        return gate._empty_result("wavelengths not increasing")
    if not ordered:
        return gate._measure(spectrum, z)
    jitter = distance / log_step
    # Python ints from here (a numpy scalar's every comparison costs more than the arithmetic)
    first, last, count = windows.tolist()
    n_lines = len(_LINE_NAMES)
    covered = [
        name
        for name, a, b, n in zip(_LINE_NAMES, first, last, count)
        if b > a and gate._enough(n, _COVER_SPAN, rest, a, b, log_step, jitter, gate._MIN_LINE_GOOD_FRACTION)
    ]
    to_fit: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    spans: dict[str, tuple[int, int]] = {}
    for r, region in enumerate(gate.REGIONS):
        lo, hi = region.window
        a, b, n = first[n_lines + r], last[n_lines + r], count[n_lines + r]
        if not all(line in covered for line in region.required) or not gate._enough(
            n, math.log(hi / lo), rest, a, b, log_step, jitter
        ):
            notes[region.name] = f"{region.name} region not covered"
        else:
            use = good.copy()  # lo < λ < hi and good
            use[:a] = False
            use[a:b] &= rest[a:b] > lo  # λ = lo itself is not in
            use[b:] = False
            to_fit[region.name] = use
            spans[region.name] = (a, b)
    median = float(flux_median) if math.isfinite(flux_median) else None  # NaN: no good pixel
    return gate.Measured(z, wavelength, flux, ivar, good, bool(scale_always), covered, to_fit, notes, median, spans)


def assess_spectra(spectra: Sequence[SdssSpectrum], redshifts: Sequence[float], spzlines: Sequence[Any]) -> list[dict[str, Any]]:
    """:func:`agn_saliency.spectra.gate.assess_spectrum` of many spectra, each region fitted for all
    of them together (:func:`fit_regions`); one result per spectrum, in order, never raising for one bad spectrum."""
    if not len(spectra) == len(redshifts) == len(spzlines):
        raise ValueError(f"spectra, redshifts and spzlines differ in length ({len(spectra)}, {len(redshifts)}, {len(spzlines)})")
    measure = _measure_compiled if ENGINE == "numba" and gate_numba.AVAILABLE else gate._measure
    measured = [measure(spectrum, z) for spectrum, z in zip(spectra, redshifts)]
    fits: list[dict[str, _RegionFit]] = [{} for _ in measured]
    for region in gate.REGIONS:
        index = [i for i, m in enumerate(measured) if isinstance(m, gate.Measured) and region.name in m.to_fit]
        results = fit_regions(region, [measured[i].region_data(region) for i in index])  # type: ignore[union-attr]
        for i, fit in zip(index, results):
            if isinstance(fit, Exception):
                measured[i].notes[region.name] = f"{region.name} fit failed ({fit})"  # type: ignore[union-attr]
            else:
                fits[i][region.name] = fit
    return [
        m if isinstance(m, dict) else gate.decide(m, fits[i], spzlines[i], getattr(spectra[i], "survey", "sdss"))
        for i, m in enumerate(measured)
    ]
