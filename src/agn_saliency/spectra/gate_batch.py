"""The AGN gate at survey scale: the same measurement and decision as :mod:`agn_saliency.spectra.gate`,
computed faster, for many spectra.

:func:`fit_region` fits one region with the model, bounds, grids and stopping rules of the
per-spectrum fit (``gate._fit_region``), but

* the velocity scan (stage 1) and the broad-line grid (stage 2) are solved as one batch of
  normal equations each (one ``numpy.linalg.solve`` over the whole grid) instead of one solve per
  grid point;
* the two kinematic fits (:func:`scipy.optimize.least_squares`) get the analytic Jacobian of the
  variable-projection residual (Kaufman's approximation: ``J = -(I - A A⁺) (∂A/∂θ) a``, with the
  Gaussians' derivatives in velocity and width) instead of finite differences, so each iteration
  costs one linear solve instead of one per parameter plus one.

The optimum is the same local minimum; the path to it differs, so fluxes agree to within the fits'
tolerance (checked against the per-spectrum fit on the real files in ``tests/test_predict_batch.py``).

:func:`assess_spectra` gates many spectra (each with its redshift and SPZLINE table);
:func:`spzline_from_hdus` reads SPZLINE from the HDUs the spectrum was read from
(:func:`agn_saliency.io.fits.read_hdus`), so each file is read once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from agn_saliency.core.lines import SPEED_OF_LIGHT_KMS
from agn_saliency.io import fits
from agn_saliency.spectra import gate
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


class SpzlineColumns(dict):
    """SPZLINE's columns (name → array), read by the fast FITS path; what :func:`agn_saliency.spectra.gate.assess_spectrum`
    needs of an ``astropy.table.Table`` (``colnames`` and ``table[name]``)."""

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
                names = set(hdu.column_names)
                out = SpzlineColumns()
                for name in _SPZLINE_WANTED:
                    if name in names:
                        out[name] = hdu.column(name)
                if "LINENAME" in out:
                    out["LINENAME"] = np.array([str(n).strip() for n in out["LINENAME"]], dtype=object)
                return out
            except (fits.FitsFormatError, KeyError, ValueError, TypeError):
                if path is None:
                    return None
                try:
                    return gate.read_spzline(path)
                except gate.SpectrumReadError:
                    return None
    return None


def _profiles(wavelength: np.ndarray, rest: np.ndarray, z: float, v: Any, s: Any) -> np.ndarray:
    """Unit-flux Gaussians (…, n_pixels, n_lines) at ``rest`` shifted by ``v`` km/s with width ``s`` km/s.

    ``v`` and ``s`` may be arrays of one shape (a grid): the result gets that shape in front.
    """
    v = np.asarray(v, dtype=float)[..., None, None]
    s = np.asarray(s, dtype=float)[..., None, None]
    centre = rest * (1.0 + z) * (1.0 + v / _C)
    sigma = centre * (s / _C)
    u = (wavelength[:, None] - centre) / sigma
    g = np.exp(-0.5 * u * u) / (_SQRT_2PI * sigma)
    g[np.abs(u) > 6.0] = 0.0  # as gate._gaussians: ±6σ only
    return g


def _profiles_and_derivatives(
    wavelength: np.ndarray, rest: np.ndarray, z: float, v: float, s: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gaussians (n, L) and their derivatives in velocity and width (km/s), analytic."""
    centre = rest * (1.0 + z) * (1.0 + v / _C)
    sigma = centre * (s / _C)
    u = (wavelength[:, None] - centre) / sigma
    inside = np.abs(u) <= 6.0
    g = np.where(inside, np.exp(-0.5 * u * u) / (_SQRT_2PI * sigma), 0.0)
    dcentre_dv = rest * (1.0 + z) / _C
    dsigma_dv = dcentre_dv * (s / _C)
    dg_dcentre = g * u / sigma
    dg_dsigma = g * (u * u - 1.0) / sigma
    dg_dv = dg_dcentre * dcentre_dv + dg_dsigma * dsigma_dv
    dg_ds = dg_dsigma * (centre / _C)
    return g, dg_dv, dg_ds


def _solve_batch(matrix: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Normal-equation solves of (G, n, k) systems against one target (n,), ridge as gate._fit_region's."""
    transposed = np.swapaxes(matrix, -1, -2)
    normal = transposed @ matrix
    k = normal.shape[-1]
    idx = np.arange(k)
    normal[..., idx, idx] *= 1.0 + 1e-10
    rhs = transposed @ target
    amplitudes = np.linalg.solve(normal, rhs[..., None])[..., 0]
    residual = target - (matrix @ amplitudes[..., None])[..., 0]
    return amplitudes, residual


def _solve_with_one_more(fixed: np.ndarray, extra: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Residuals (G, n) of the systems [fixed | extra[g]] (fixed (n, k) shared, extra (G, n)): the
    fixed block's products are computed once (ridge as gate._fit_region's)."""
    n_grid, k = extra.shape[0], fixed.shape[1]
    normal = np.empty((n_grid, k + 1, k + 1))
    normal[:, :k, :k] = fixed.T @ fixed
    cross = extra @ fixed  # (G, k)
    normal[:, :k, k] = cross
    normal[:, k, :k] = cross
    normal[:, k, k] = np.einsum("gn,gn->g", extra, extra)
    idx = np.arange(k + 1)
    normal[:, idx, idx] *= 1.0 + 1e-10
    rhs = np.empty((n_grid, k + 1))
    rhs[:, :k] = fixed.T @ target
    rhs[:, k] = extra @ target
    amplitudes = np.linalg.solve(normal, rhs[..., None])[..., 0]
    return target - amplitudes[:, :k] @ fixed.T - amplitudes[:, k:] * extra


def fit_region(
    region: _Region, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, z: float, scale_always: bool
) -> _RegionFit:
    """Fit one region (good pixels only, observed frame): the model of ``gate._fit_region``, batched
    grids and analytic Jacobians (see the module docstring)."""
    free = [name for name in region.narrow if name not in region.tied]
    tied = list(region.tied)
    lines = free + tied
    rest = np.array([region.narrow[name] for name in lines])
    n_free = len(free)
    # mixing (L lines → n_free columns): a tied line adds ratio × its profile to its leader's column
    mixing = np.zeros((len(lines), n_free))
    mixing[np.arange(n_free), np.arange(n_free)] = 1.0
    for j, name in enumerate(tied):
        leader, ratio = region.tied[name]
        mixing[n_free + j, free.index(leader)] = ratio
    broad_rest = np.array([region.narrow[region.broad]])
    weight = np.sqrt(ivar)
    centre = 0.5 * (region.window[0] + region.window[1]) * (1.0 + z)
    x = (wavelength - centre) / (centre * 0.05)
    continuum = np.stack([np.ones_like(x), x, x * x], axis=1) * weight[:, None]
    n_cont = continuum.shape[1]
    target = flux * weight

    def narrow_columns(v: Any, s: Any) -> np.ndarray:
        return (_profiles(wavelength, rest, z, v, s) @ mixing) * weight[:, None]

    def with_continuum(columns: np.ndarray) -> np.ndarray:
        shape = columns.shape[:-2] + continuum.shape
        return np.concatenate([np.broadcast_to(continuum, shape), columns], axis=-1)

    v_lim, vb_lim = _VELOCITY_LIMIT_KMS["narrow"], _VELOCITY_LIMIT_KMS["broad"]

    # Stage 1: the narrow velocity scan, every grid point (and v = 0) in one batch.
    velocities = np.arange(-v_lim, v_lim + 1.0, 150.0)
    scan = np.concatenate([velocities, [0.0]])
    residuals = _solve_batch(with_continuum(narrow_columns(scan, np.full(scan.size, 150.0))), target)[1]
    costs = np.einsum("gn,gn->g", residuals, residuals)
    v_start = float(velocities[np.argmin(costs[:-1])]) if costs[:-1].min() < costs[-1] - 25.0 else 0.0

    def projection(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        normal = matrix.T @ matrix
        normal.flat[:: normal.shape[0] + 1] *= 1.0 + 1e-10
        amplitudes = np.linalg.solve(normal, matrix.T @ target)
        return amplitudes, target - matrix @ amplitudes, normal

    cache: dict[tuple[float, ...], tuple[np.ndarray, np.ndarray]] = {}

    def model_and_jacobian(theta: np.ndarray, broad: bool) -> tuple[np.ndarray, np.ndarray]:
        key = (broad, *theta.tolist())
        if key in cache:
            return cache[key]
        g, dg_dv, dg_ds = _profiles_and_derivatives(wavelength, rest, z, theta[0], theta[1])
        columns = [continuum, (g @ mixing) * weight[:, None]]
        if broad:
            gb, db_dv, db_ds = _profiles_and_derivatives(wavelength, broad_rest, z, theta[2], theta[3])
            columns.append(gb * weight[:, None])
        matrix = np.concatenate(columns, axis=1)
        amplitudes, residual, normal = projection(matrix)
        line_amplitude = mixing @ amplitudes[n_cont : n_cont + n_free]
        derivatives = [dg_dv @ line_amplitude, dg_ds @ line_amplitude]
        if broad:
            derivatives += [db_dv[:, 0] * amplitudes[-1], db_ds[:, 0] * amplitudes[-1]]
        d = np.stack(derivatives, axis=1) * weight[:, None]
        # r = y - A a(θ): Kaufman's Jacobian -(I - A (AᵀA)⁻¹ Aᵀ) ∂A/∂θ a
        jacobian = -(d - matrix @ np.linalg.solve(normal, matrix.T @ d))
        cache.clear()
        cache[key] = (residual, jacobian)
        return residual, jacobian

    narrow_theta = least_squares(
        lambda t: model_and_jacobian(t, False)[0],
        np.array([v_start, 100.0]),
        jac=lambda t: model_and_jacobian(t, False)[1],
        bounds=([-v_lim, _NARROW_SIGMA_KMS[0]], [v_lim, _NARROW_SIGMA_KMS[1]]),
        x_scale=np.array([50.0, 50.0]),
        max_nfev=20,
        ftol=1e-4,
        xtol=1e-4,
    ).x
    # Stage 2: the broad grid with the narrow kinematics fixed, in one batch.
    fixed = np.concatenate([continuum, narrow_columns(narrow_theta[0], narrow_theta[1])], axis=1)
    sigmas = np.geomspace(_BROAD_SIGMA_KMS[0], _BROAD_SIGMA_KMS[1], 12)
    grid_v = np.tile([-1500.0, -500.0, 0.0, 500.0, 1500.0], sigmas.size)
    grid_s = np.repeat(sigmas, 5)
    broad = _profiles(wavelength, broad_rest, z, grid_v, grid_s)[..., 0] * weight
    residuals = _solve_with_one_more(fixed, broad, target)
    best = int(np.argmin(np.einsum("gn,gn->g", residuals, residuals)))
    start = np.array([*narrow_theta, grid_v[best], grid_s[best]])
    # Stage 3: all four kinematic parameters together, from the best grid point.
    lower = [-v_lim, _NARROW_SIGMA_KMS[0], -vb_lim, _BROAD_SIGMA_KMS[0]]
    upper = [v_lim, _NARROW_SIGMA_KMS[1], vb_lim, _BROAD_SIGMA_KMS[1]]
    kinematics = least_squares(
        lambda t: model_and_jacobian(t, True)[0],
        np.clip(start, lower, upper),
        jac=lambda t: model_and_jacobian(t, True)[1],
        bounds=(lower, upper),
        x_scale=np.array([50.0, 50.0, 300.0, 300.0]),
        max_nfev=20,
        ftol=1e-4,
        xtol=1e-4,
    )
    theta = kinematics.x
    matrix = np.concatenate(
        [
            continuum,
            (_profiles(wavelength, rest, z, theta[0], theta[1]) @ mixing) * weight[:, None],
            _profiles(wavelength, broad_rest, z, theta[2], theta[3]) * weight[:, None],
        ],
        axis=1,
    )
    amplitudes, residual, _ = projection(matrix)
    dof = max(len(flux) - matrix.shape[1] - theta.size, 1)
    chi2_red = float(residual @ residual) / dof
    scale = chi2_red if scale_always else max(chi2_red, 1.0)
    try:
        covariance = np.linalg.pinv(matrix.T @ matrix) * scale
    except np.linalg.LinAlgError:
        covariance = np.full((matrix.shape[1],) * 2, np.nan)
    errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    poly = amplitudes[:n_cont]

    def rest_ew(line_flux: float, rest_wavelength: float) -> float:
        xx = (rest_wavelength * (1.0 + z) - centre) / (centre * 0.05)
        level = float(poly[0] + poly[1] * xx + poly[2] * xx * xx)
        return line_flux / level / (1.0 + z) if level > 0 else float("nan")

    line_flux = {name: float(amplitudes[n_cont + i]) for i, name in enumerate(free)}
    line_error = {name: float(errors[n_cont + i]) for i, name in enumerate(free)}
    for name, (leader, ratio) in region.tied.items():
        line_flux[name], line_error[name] = line_flux[leader] * ratio, line_error[leader] * ratio
    broad_flux, broad_error = float(amplitudes[-1]), float(errors[-1])
    fwhm = math.sqrt(max((theta[3] * _FWHM_PER_SIGMA) ** 2 - INSTRUMENT_FWHM_KMS**2, 0.0))
    try:
        sigma_error = math.sqrt(max(float(np.linalg.pinv(kinematics.jac.T @ kinematics.jac)[3, 3]) * scale, 0.0))
    except (np.linalg.LinAlgError, ValueError):
        sigma_error = float("nan")
    fwhm_error = theta[3] * _FWHM_PER_SIGMA**2 / fwhm * sigma_error if fwhm > 0 else float("nan")
    return _RegionFit(
        flux=line_flux,
        error=line_error,
        ew={name: rest_ew(line_flux[name], region.narrow[name]) for name in region.narrow},
        broad_flux=broad_flux,
        broad_error=broad_error,
        broad_fwhm=fwhm,
        broad_fwhm_error=fwhm_error,
        broad_ew=rest_ew(broad_flux, float(broad_rest[0])),
        broad_at_limit=bool(theta[3] >= 0.98 * _BROAD_SIGMA_KMS[1]),
    )


def assess_spectra(spectra: Sequence[SdssSpectrum], redshifts: Sequence[float], spzlines: Sequence[Any]) -> list[dict[str, Any]]:
    """:func:`agn_saliency.spectra.gate.assess_spectrum` of many spectra with the fast region fit
    (:func:`fit_region`); one result per spectrum, in order, never raising for one bad spectrum."""
    if not len(spectra) == len(redshifts) == len(spzlines):
        raise ValueError(f"spectra, redshifts and spzlines differ in length ({len(spectra)}, {len(redshifts)}, {len(spzlines)})")
    return [gate.assess_spectrum(s, z, t, fitter=fit_region) for s, z, t in zip(spectra, redshifts, spzlines)]
