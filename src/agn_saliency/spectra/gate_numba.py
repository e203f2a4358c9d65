"""The AGN gate's region fits compiled with numba: the mathematics and stopping rules of
:mod:`agn_saliency.spectra.gate_batch`, one spectrum at a time, over only the pixels each line touches.

:func:`fit_batch` fits one region of many spectra: per spectrum the velocity scan (stage 1's
start), the narrow Levenberg–Marquardt, the broad grid (stage 3's start), the four-parameter
Levenberg–Marquardt and the final amplitudes, exactly as ``gate_batch._fit_chunks`` does for a
whole chunk. What differs is how the sums over pixels are taken: each Gaussian (a narrow line or
the broad line, an *item*) is evaluated in its ±6σ window only, and every product the fits need
— the Gram matrix of the variable projection ``AᵀA``, ``Aᵀy``, ``DᵀD``, ``DᵀA``, ``Dᵀy`` with
``D = (∂A/∂θ) a`` — is assembled from per-window sums (an item with the continuum columns and the
target) and per-overlap sums (two items whose windows share pixels). No dense (s, M, N) product
and no padding: ~2·10⁴ floating-point operations an evaluation instead of ~2·10⁵.

:func:`measure` does the pixel work of ``gate._measure`` for one spectrum (good pixels, the median
step in ln λ, coverage and region counts, the median ``|flux|``) in a few compiled passes instead of
~40 numpy calls; ``gate_batch._measure_compiled`` makes the same ``Measured`` from it.

The amplitudes' and width's errors (pseudo-inverses) and the fit records are made by the caller
(:func:`agn_saliency.spectra.gate_batch.fit_regions`) as for the batched path. Results agree with
the batched path to rounding where χ² has one minimum (sums run in another order, in SIMD lanes:
numba's fastmath ``reassoc``, :data:`_FIT_MATH`; the broad grid, which only picks stage 3's start,
in single precision as the batched path's), checked in ``tests/test_predict_batch.py``.

numba compiles the functions on first use (~18 CPU s) and caches the machine code (``cache=True``)
in ``__pycache__`` beside this file, or where that is read-only in numba's user-wide cache folder,
or in ``NUMBA_CACHE_DIR`` when set; a job then loads it in ~0.2 CPU s (+ ~0.3 s importing numba).
:data:`AVAILABLE` is False, and the batched numpy path is used instead, when numba cannot be
imported or cannot cache anywhere.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from agn_saliency.core.lines import SPEED_OF_LIGHT_KMS

_log = logging.getLogger(__name__)

try:
    from numba import njit as _numba_njit

    AVAILABLE = True
except ImportError:  # pragma: no cover - numba is a dependency; the numpy path stays as the fallback
    AVAILABLE = False
    _numba_njit = None


def _jit(**options: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """numba's ``njit(**options)``; the function itself, and :data:`AVAILABLE` False, when numba is
    missing or cannot cache (``cache=True`` with no writable place: neither beside this file nor in
    ``NUMBA_CACHE_DIR`` or the user's cache folder; compiling in every job would cost more than it saves)."""

    def decorate(function: Callable[..., Any]) -> Callable[..., Any]:
        global AVAILABLE
        if not AVAILABLE:
            return function
        try:
            return _numba_njit(**options)(function)
        except RuntimeError as error:  # numba: "cannot cache function ...: no locator available"
            AVAILABLE = False
            _log.warning(
                "the gate's region fits use numpy: numba cannot cache its compiled code (%s); set NUMBA_CACHE_DIR", error
            )
            return function

    return decorate


_C = float(SPEED_OF_LIGHT_KMS)
_SQRT_2PI = math.sqrt(2.0 * math.pi)
_RIDGE = 1.0 + 1e-10  # gate._fit_region's ridge on the normal matrices' diagonals
_LN2_HI = 6.93147180369123816490e-01  # ln 2 in two parts (fdlibm's): k ln 2 exact for the k used here
_LN2_LO = 1.90821492927058770002e-10
_INV_LN2 = 1.4426950408889634


@_jit(cache=True, inline="always")
def _exp_minus(x: float) -> float:
    """e^x for -18.1 ≤ x ≤ 0 (a Gaussian within ±6σ), within 5e-16 of ``math.exp`` (relative).

    libm's exp is a call the compiler cannot vectorise; this is arithmetic and selects only, so a
    loop over a window's pixels runs in SIMD lanes (~3x faster for the broad line's windows):
    x = -k ln 2 + r with |r| ≤ ln 2 / 2, e^r by its Taylor series to r¹² (error < 2e-16), 2^-k by
    five exact halvings selected by k's bits (k ≤ 27)."""
    kf = math.floor(-x * _INV_LN2 + 0.5)
    r = x + kf * _LN2_HI + kf * _LN2_LO
    p = 1.0 / 479001600.0
    p = p * r + 1.0 / 39916800.0
    p = p * r + 1.0 / 3628800.0
    p = p * r + 1.0 / 362880.0
    p = p * r + 1.0 / 40320.0
    p = p * r + 1.0 / 5040.0
    p = p * r + 1.0 / 720.0
    p = p * r + 1.0 / 120.0
    p = p * r + 1.0 / 24.0
    p = p * r + 1.0 / 6.0
    p = p * r + 0.5
    p = p * r + 1.0
    p = p * r + 1.0
    big = kf >= 16.0
    p *= 1.52587890625e-05 if big else 1.0
    kf -= 16.0 if big else 0.0
    big = kf >= 8.0
    p *= 0.00390625 if big else 1.0
    kf -= 8.0 if big else 0.0
    big = kf >= 4.0
    p *= 0.0625 if big else 1.0
    kf -= 4.0 if big else 0.0
    big = kf >= 2.0
    p *= 0.25 if big else 1.0
    kf -= 2.0 if big else 0.0
    return p * (0.5 if kf >= 1.0 else 1.0)


_F32 = np.float32  # numba types a literal wrapped in it as float32 (a bare literal would make the arithmetic double)


@_jit(cache=True, inline="always")
def _exp_minus32(x: np.float32) -> np.float32:
    """:func:`_exp_minus` in single precision (x float32, -18.1 ≤ x ≤ 0) for the broad grid: the
    Taylor series to r⁷ (|r| ≤ ln 2 / 2: error < 6e-9), ln 2 in fdlibm's expf's two parts; within
    1e-7 of ``math.exp`` (relative), ~1.6 float32 ulp."""
    kf = np.floor(x * _F32(-1.4426950408889634) + _F32(0.5))
    r = x + kf * _F32(0.693145751953125) + kf * _F32(1.428606765330187e-06)
    p = _F32(1.0 / 5040.0)
    p = p * r + _F32(1.0 / 720.0)
    p = p * r + _F32(1.0 / 120.0)
    p = p * r + _F32(1.0 / 24.0)
    p = p * r + _F32(1.0 / 6.0)
    p = p * r + _F32(0.5)
    p = p * r + _F32(1.0)
    p = p * r + _F32(1.0)
    big = kf >= _F32(16.0)
    p *= _F32(1.52587890625e-05) if big else _F32(1.0)
    kf -= _F32(16.0) if big else _F32(0.0)
    big = kf >= _F32(8.0)
    p *= _F32(0.00390625) if big else _F32(1.0)
    kf -= _F32(8.0) if big else _F32(0.0)
    big = kf >= _F32(4.0)
    p *= _F32(0.0625) if big else _F32(1.0)
    kf -= _F32(4.0) if big else _F32(0.0)
    big = kf >= _F32(2.0)
    p *= _F32(0.25) if big else _F32(1.0)
    kf -= _F32(2.0) if big else _F32(0.0)
    return p * (_F32(0.5) if kf >= _F32(1.0) else _F32(1.0))


@_jit(cache=True)
def _lower_bound(values: np.ndarray, n: int, x: float) -> int:
    """First index i < n with values[i] >= x (np.searchsorted side='left')."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] < x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit(cache=True)
def _upper_bound(values: np.ndarray, n: int, x: float) -> int:
    """First index i < n with values[i] > x (np.searchsorted side='right')."""
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if values[mid] <= x:
            lo = mid + 1
        else:
            hi = mid
    return lo


@_jit(cache=True)
def _lu(a: np.ndarray, piv: np.ndarray, m: int) -> bool:
    """LU factorisation with partial pivoting of a[:m, :m] in place (LAPACK getrf's); False when singular
    (an exactly zero pivot, LAPACK's test)."""
    for k in range(m):
        p = k
        big = abs(a[k, k])
        for i in range(k + 1, m):
            if abs(a[i, k]) > big:
                big = abs(a[i, k])
                p = i
        piv[k] = p
        if big == 0.0:
            return False
        if p != k:
            for j in range(m):
                t = a[k, j]
                a[k, j] = a[p, j]
                a[p, j] = t
        inv = 1.0 / a[k, k]
        for i in range(k + 1, m):
            a[i, k] *= inv
            f = a[i, k]
            if f != 0.0:
                for j in range(k + 1, m):
                    a[i, j] -= f * a[k, j]
    return True


@_jit(cache=True)
def _lu_solve(lu: np.ndarray, piv: np.ndarray, m: int, b: np.ndarray) -> None:
    """Solve (LU) x = b for x in place in b[:m] (factors from :func:`_lu`)."""
    for k in range(m):
        p = piv[k]
        if p != k:
            t = b[k]
            b[k] = b[p]
            b[p] = t
    for i in range(m):
        s = b[i]
        for j in range(i):
            s -= lu[i, j] * b[j]
        b[i] = s
    for i in range(m - 1, -1, -1):
        s = b[i]
        for j in range(i + 1, m):
            s -= lu[i, j] * b[j]
        b[i] = s / lu[i, i]


@_jit(cache=True)
def _ridged_solve(normal: np.ndarray, m: int, rhs: np.ndarray, lu: np.ndarray, piv: np.ndarray, out: np.ndarray) -> bool:
    """``gate_batch._solve`` of one system: normal[:m, :m] with the ridge, LU kept in ``lu``; False (out 0) when singular."""
    for i in range(m):
        for j in range(m):
            lu[i, j] = normal[i, j]
        lu[i, i] *= _RIDGE
        out[i] = rhs[i]
    if not _lu(lu, piv, m):
        for i in range(m):
            out[i] = 0.0
        return False
    _lu_solve(lu, piv, m, out)
    return True


_FIT_MATH = {"reassoc", "contract", "arcp"}
"""numba's fastmath flags for the Gaussians and their sums over pixels (:func:`_item`, :func:`_sums`):
sums reassociated into SIMD lanes (a reduction runs in one lane without ``reassoc``), fused
multiply-adds, x / σ as x · (1 / σ). Results move by rounding only (≤ 5e-12 relative in θ, 2e-12 in
the amplitudes on the 2000-real-file shard job's fits, against the exact order); not ``nnan``/``ninf``."""


@_jit(cache=True, fastmath=_FIT_MATH)
def _item(
    wl: np.ndarray,
    w: np.ndarray,
    n: int,
    i: int,
    centre: float,
    sigma: float,
    observed: float,
    theta_sigma: float,
    ratio: float,
    derivatives: bool,
    h: np.ndarray,
    e1: np.ndarray,
    e2: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
) -> None:
    """Item ``i``: a unit-flux Gaussian (× ``ratio``, × the pixel weight) in its ±6σ window, as
    ``gate_batch._windows``: h, and with ``derivatives`` its derivatives in velocity (e1) and width (e2)
    in km/s (``observed``: the line's wavelength at v = 0, ``theta_sigma``: its width in km/s)."""
    f = _lower_bound(wl, n, centre - 6.0 * sigma)
    e = _upper_bound(wl, n, centre + 6.0 * sigma)
    if e < f:
        e = f
    first[i] = f
    last[i] = e
    scale = 1.0 / (_SQRT_2PI * sigma)
    dv_scale = observed / _C
    ds_scale = centre / _C
    tv = theta_sigma / _C
    # branch-free loops (selects, :func:`_exp_minus`) over slices indexed from 0 (no negative-index
    # wrap-around for numba to check): the compiler vectorises them
    m = e - f
    x = wl[f:e]
    weight = w[f:e]
    hi = h[i, :m]
    if derivatives:
        e1i = e1[i, :m]
        e2i = e2[i, :m]
        for j in range(m):
            u = (x[j] - centre) / sigma
            a = min(abs(u), 6.5)
            inside = abs(u) <= 6.0
            g = _exp_minus(-0.5 * a * a) * scale if inside else 0.0
            u = u if inside else 0.0
            gw = ratio * g * weight[j]
            hi[j] = gw
            dg_dsigma = gw * (u * u - 1.0) / sigma
            e1i[j] = (gw * u / sigma + dg_dsigma * tv) * dv_scale
            e2i[j] = dg_dsigma * ds_scale
    else:
        for j in range(m):
            u = (x[j] - centre) / sigma
            a = min(abs(u), 6.5)
            hi[j] = ratio * _exp_minus(-0.5 * a * a) * scale * weight[j] if abs(u) <= 6.0 else 0.0


@_jit(cache=True, fastmath=_FIT_MATH)
def _sums(
    n_items: int,
    derivatives: bool,
    h: np.ndarray,
    e1: np.ndarray,
    e2: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    basis: np.ndarray,
    s: np.ndarray,
    q: np.ndarray,
) -> None:
    """Per-window sums s[i, r, b] = Σ row_r(i) · basis_b (rows h, e1, e2; basis c0, c1, c2, target) and
    per-overlap sums q[i, j, r, r'] = Σ row_r(i) · row_r'(j) over the pixels both windows hold."""
    # slices indexed from 0, as in :func:`_item` (no negative-index checks in the loops)
    for i in range(n_items):
        f, e = first[i], last[i]
        m = e - f
        b0, b1, b2, b3 = basis[0, f:e], basis[1, f:e], basis[2, f:e], basis[3, f:e]
        hi = h[i, :m]
        if derivatives:
            e1i, e2i = e1[i, :m], e2[i, :m]
            a00 = a01 = a02 = a03 = a10 = a11 = a12 = a13 = a20 = a21 = a22 = a23 = 0.0
            for j in range(m):
                c0, c1, c2, c3 = b0[j], b1[j], b2[j], b3[j]
                x, y, z = hi[j], e1i[j], e2i[j]
                a00 += x * c0
                a01 += x * c1
                a02 += x * c2
                a03 += x * c3
                a10 += y * c0
                a11 += y * c1
                a12 += y * c2
                a13 += y * c3
                a20 += z * c0
                a21 += z * c1
                a22 += z * c2
                a23 += z * c3
            s[i, 0, 0], s[i, 0, 1], s[i, 0, 2], s[i, 0, 3] = a00, a01, a02, a03
            s[i, 1, 0], s[i, 1, 1], s[i, 1, 2], s[i, 1, 3] = a10, a11, a12, a13
            s[i, 2, 0], s[i, 2, 1], s[i, 2, 2], s[i, 2, 3] = a20, a21, a22, a23
        else:
            a00 = a01 = a02 = a03 = 0.0
            for j in range(m):
                x = hi[j]
                a00 += x * b0[j]
                a01 += x * b1[j]
                a02 += x * b2[j]
                a03 += x * b3[j]
            s[i, 0, 0], s[i, 0, 1], s[i, 0, 2], s[i, 0, 3] = a00, a01, a02, a03
    nr = 3 if derivatives else 1
    for i in range(n_items):
        for k in range(i, n_items):
            lo = max(first[i], first[k])
            hi_ = min(last[i], last[k])
            m = hi_ - lo if hi_ > lo else 0
            oi, ok = lo - first[i], lo - first[k]
            hi, hk = h[i, oi : oi + m], h[k, ok : ok + m]
            if derivatives:
                e1i, e2i = e1[i, oi : oi + m], e2[i, oi : oi + m]
                e1k, e2k = e1[k, ok : ok + m], e2[k, ok : ok + m]
                m00 = m01 = m02 = m10 = m11 = m12 = m20 = m21 = m22 = 0.0
                for j in range(m):
                    x0, x1, x2 = hi[j], e1i[j], e2i[j]
                    y0, y1, y2 = hk[j], e1k[j], e2k[j]
                    m00 += x0 * y0
                    m01 += x0 * y1
                    m02 += x0 * y2
                    m10 += x1 * y0
                    m11 += x1 * y1
                    m12 += x1 * y2
                    m20 += x2 * y0
                    m21 += x2 * y1
                    m22 += x2 * y2
                q[i, k, 0, 0], q[i, k, 0, 1], q[i, k, 0, 2] = m00, m01, m02
                q[i, k, 1, 0], q[i, k, 1, 1], q[i, k, 1, 2] = m10, m11, m12
                q[i, k, 2, 0], q[i, k, 2, 1], q[i, k, 2, 2] = m20, m21, m22
            else:
                m00 = 0.0
                for j in range(m):
                    m00 += hi[j] * hk[j]
                q[i, k, 0, 0] = m00
            for r in range(nr):
                for r2 in range(nr):
                    q[k, i, r2, r] = q[i, k, r, r2]


_GRID_MATH = {"reassoc", "contract", "arcp", "nsz"}
"""numba's fastmath flags for the broad grid (:func:`_grid_products`), which only picks stage 3's start
(its argmin): sums reassociated into SIMD lanes, fused multiply-adds, x / σ as x · (1 / σ); not
``nnan``/``ninf`` (a window may be empty, a cost infinite). The grid runs in single precision (as
the batched path's); the argmin was the same as the double-precision exact-order grid's on every
fit of the 2000-real-file shard job (3285) and of 1000 simulated spectra (1997)."""


@_jit(cache=True, fastmath=_GRID_MATH)
def _grid_products(
    wl: np.ndarray,
    w: np.ndarray,
    n: int,
    centre: float,
    sigma: float,
    columns: np.ndarray,
    n_columns: int,
    values: np.ndarray,
    cross: np.ndarray,
) -> float:
    """A broad grid candidate's (unit flux at ``centre``, width ``sigma`` Å, × the pixel weight ``w``, in
    its ±6σ window) products: with itself (returned) and with each of ``columns[:n_columns]`` (dense
    rows over the region's pixels: the continuum, the narrow lines' free columns, the fixed fit's
    residual) into ``cross``. Single precision as the batched path's grid (``w``, ``columns`` and
    ``values`` float32; offsets from the centre in double first): 16 SIMD lanes instead of 8. The
    Gaussian goes to ``values`` first, then one dot product a column: every loop runs in SIMD lanes
    (a reduction needs ``reassoc``)."""
    f = _lower_bound(wl, n, centre - 6.0 * sigma)
    e = _upper_bound(wl, n, centre + 6.0 * sigma)
    m = e - f if e > f else 0
    scale = 1.0 / (_SQRT_2PI * sigma)
    inverse = 1.0 / sigma
    # slices indexed from 0: numba then drops its negative-index wrap-around and the loops vectorise (3x)
    x = wl[f:e]
    weight = w[f:e]
    v = values[:m]
    for i in range(m):
        u = (x[i] - centre) * inverse
        a = _F32(min(abs(u), 6.5))
        v[i] = _exp_minus32(_F32(-0.5) * a * a) * _F32(scale) * weight[i] if abs(u) <= 6.0 else _F32(0.0)
    own = _F32(0.0)
    for i in range(m):
        own += v[i] * v[i]
    for c in range(n_columns):
        row = columns[c, f:e]
        acc = _F32(0.0)
        for i in range(m):
            acc += v[i] * row[i]
        cross[c] = acc
    own = float(own)
    return own


@_jit(cache=True)
def _normal_equations(
    n_items: int,
    column: np.ndarray,
    cc: np.ndarray,
    ct: np.ndarray,
    s: np.ndarray,
    q: np.ndarray,
    m: int,
    normal: np.ndarray,
    at: np.ndarray,
) -> None:
    """AᵀA and Aᵀt of [continuum | the items' columns] (item i adds to column ``column[i]``) from the sums."""
    for a in range(m):
        at[a] = 0.0
        for b in range(m):
            normal[a, b] = 0.0
    for a in range(3):
        at[a] = ct[a]
        for b in range(3):
            normal[a, b] = cc[a, b]
    for i in range(n_items):
        ci = column[i]
        for c in range(3):
            normal[c, ci] += s[i, 0, c]
            normal[ci, c] += s[i, 0, c]
        at[ci] += s[i, 0, 3]
        for k in range(n_items):
            normal[ci, column[k]] += q[i, k, 0, 0]


@_jit(cache=True)
def _evaluate(
    theta: np.ndarray,
    broad: bool,
    wl: np.ndarray,
    w: np.ndarray,
    n: int,
    basis: np.ndarray,
    cc: np.ndarray,
    cy: np.ndarray,
    yy: float,
    observed: np.ndarray,
    ratio: np.ndarray,
    line_column: np.ndarray,
    observed_broad: float,
    n_free: int,
    h: np.ndarray,
    e1: np.ndarray,
    e2: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    s: np.ndarray,
    q: np.ndarray,
    column: np.ndarray,
    normal: np.ndarray,
    at: np.ndarray,
    lu: np.ndarray,
    piv: np.ndarray,
    amp: np.ndarray,
    jtj: np.ndarray,
    grad: np.ndarray,
) -> tuple[float, bool]:
    """One evaluation of ``gate_batch._prepare``'s ``evaluate`` for one spectrum: ½|r|², JᵀJ (into
    ``jtj``), Jᵀr (into ``grad``) and whether the linear fit was singular."""
    n_lines = observed.size
    n_items = n_lines + 1 if broad else n_lines
    m = 3 + n_free + (1 if broad else 0)
    n_par = 4 if broad else 2
    for li in range(n_lines):
        centre = observed[li] * (1.0 + theta[0] / _C)
        _item(wl, w, n, li, centre, centre * (theta[1] / _C), observed[li], theta[1], ratio[li], True, h, e1, e2, first, last)
        column[li] = 3 + line_column[li]
    if broad:
        centre = observed_broad * (1.0 + theta[2] / _C)
        _item(wl, w, n, n_lines, centre, centre * (theta[3] / _C), observed_broad, theta[3], 1.0, True, h, e1, e2, first, last)
        column[n_lines] = 3 + n_free
    _sums(n_items, True, h, e1, e2, first, last, basis, s, q)
    _normal_equations(n_items, column, cc, cy, s, q, m, normal, at)
    if not _ridged_solve(normal, m, at, lu, piv, amp):
        return np.nan, True
    r_r = yy
    for a in range(m):
        na = 0.0
        for b in range(m):
            na += normal[a, b] * amp[b]
        r_r += amp[a] * (na - 2.0 * at[a])
    # D = ∂A/∂θ a as rows: item i's derivative rows scaled by its column's amplitude
    dd = np.zeros((4, 4))
    da = np.zeros((4, m))
    dy = np.zeros(4)
    for i in range(n_items):
        ai = amp[column[i]]
        pi = 0 if i < n_lines else 2
        for r in range(1, 3):
            p = pi + r - 1
            dy[p] += ai * s[i, r, 3]
            for c in range(3):
                da[p, c] += ai * s[i, r, c]
            for k in range(n_items):
                ak = amp[column[k]]
                pk = 0 if k < n_lines else 2
                da[p, column[k]] += ai * q[i, k, r, 0]
                for r2 in range(1, 3):
                    dd[p, pk + r2 - 1] += ai * ak * q[i, k, r, r2]
    # Kaufman: JᵀJ = DᵀD - (AᵀD)ᵀ (AᵀA)⁻¹ AᵀD, Jᵀr = -(Dᵀy - DᵀA a)
    column_p = np.empty(m)
    for p in range(n_par):
        for a in range(m):
            column_p[a] = da[p, a]
        _lu_solve(lu, piv, m, column_p)
        for p2 in range(n_par):
            acc = 0.0
            for a in range(m):
                acc += da[p2, a] * column_p[a]
            jtj[p2, p] = dd[p2, p] - acc
        acc = 0.0
        for a in range(m):
            acc += da[p, a] * amp[a]
        grad[p] = -(dy[p] - acc)
    return 0.5 * r_r, False


@_jit(cache=True)
def _small_gradient(theta: np.ndarray, grad: np.ndarray, lower: np.ndarray, upper: np.ndarray, n_par: int) -> bool:
    """least_squares' gtol test (1e-8) on the gradient scaled by the distance to the bound it points at."""
    worst = 0.0
    for p in range(n_par):
        distance = upper[p] - theta[p] if grad[p] < 0 else theta[p] - lower[p]
        worst = max(worst, abs(grad[p] * distance))
    return worst < 1e-8


@_jit(cache=True)
def _levenberg_marquardt(
    theta: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    broad: bool,
    max_nfev: int,
    wl: np.ndarray,
    w: np.ndarray,
    n: int,
    basis: np.ndarray,
    cc: np.ndarray,
    cy: np.ndarray,
    yy: float,
    observed: np.ndarray,
    ratio: np.ndarray,
    line_column: np.ndarray,
    observed_broad: float,
    n_free: int,
    h: np.ndarray,
    e1: np.ndarray,
    e2: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    s: np.ndarray,
    q: np.ndarray,
    column: np.ndarray,
    normal: np.ndarray,
    at: np.ndarray,
    lu: np.ndarray,
    piv: np.ndarray,
    amp: np.ndarray,
    jtj: np.ndarray,
) -> bool:
    """``gate_batch._levenberg_marquardt`` for one problem (θ in place, JᵀJ there into ``jtj``); True when it failed."""
    ftol = 1e-4
    xtol = 1e-4
    n_par = 4 if broad else 2
    for p in range(n_par):
        theta[p] = min(max(theta[p], lower[p]), upper[p])
    grad = np.zeros(4)
    new_jtj = np.zeros((4, 4))
    new_grad = np.zeros(4)
    new = np.zeros(4)
    taken = np.zeros(4)
    last_taken = np.zeros(4)
    held = np.zeros(4, dtype=np.bool_)
    system = np.zeros((4, 4))
    rhs = np.zeros(4)
    step = np.zeros(4)
    lu4 = np.zeros((4, 4))
    piv4 = np.zeros(4, dtype=np.int64)
    cost, bad = _evaluate(
        theta, broad, wl, w, n, basis, cc, cy, yy, observed, ratio, line_column, observed_broad, n_free,
        h, e1, e2, first, last, s, q, column, normal, at, lu, piv, amp, jtj, grad,
    )  # fmt: skip
    if bad or not np.isfinite(cost):
        return True
    if _small_gradient(theta, grad, lower, upper, n_par):
        return False
    damping = 1e-3
    retry = False
    for _ in range(max_nfev - 1):
        # a parameter on a bound that the descent direction pushes out of it stays there (projected step)
        big = 0.0
        for p in range(n_par):
            held[p] = (theta[p] <= lower[p] and grad[p] > 0) or (theta[p] >= upper[p] and grad[p] < 0)
            big = max(big, jtj[p, p])
        for p in range(n_par):
            for k in range(n_par):
                system[p, k] = 0.0 if (held[p] or held[k]) else jtj[p, k]
            scale = max(jtj[p, p], 1e-12 * big + 1e-300)
            system[p, p] = 1.0 if held[p] else jtj[p, p] + damping * scale
            rhs[p] = 0.0 if held[p] else grad[p]
        _ridged_solve(system, n_par, rhs, lu4, piv4, step)  # a singular system: step 0, as _solve's
        for p in range(n_par):
            if retry:  # after a rejected step, half that step
                taken[p] = 0.5 * last_taken[p]
                new[p] = theta[p] + taken[p]
            else:
                new[p] = min(max(theta[p] - step[p], lower[p]), upper[p])
                taken[p] = new[p] - theta[p]
        predicted = 0.0
        for p in range(n_par):
            quad = 0.0
            for k in range(n_par):
                quad += jtj[p, k] * taken[k]
            predicted -= grad[p] * taken[p] + 0.5 * taken[p] * quad
        new_cost, bad = _evaluate(
            new, broad, wl, w, n, basis, cc, cy, yy, observed, ratio, line_column, observed_broad, n_free,
            h, e1, e2, first, last, s, q, column, normal, at, lu, piv, amp, new_jtj, new_grad,
        )  # fmt: skip
        bad = bad or not np.isfinite(new_cost)
        actual = cost - new_cost
        accept = (not bad) and actual >= 0
        ratio_gain = actual / predicted if predicted > 0 else 0.0
        norm_taken = 0.0
        norm_old = 0.0
        for p in range(n_par):
            norm_taken += taken[p] * taken[p]
            norm_old += theta[p] * theta[p]
        small_step = math.sqrt(norm_taken) <= xtol * (xtol + math.sqrt(norm_old))
        small_gain = accept and actual < ftol * cost and ratio_gain > 0.25
        for p in range(n_par):
            last_taken[p] = taken[p]
        retry = not accept
        if accept:
            for p in range(n_par):
                theta[p] = new[p]
                grad[p] = new_grad[p]
                for k in range(n_par):
                    jtj[p, k] = new_jtj[p, k]
            cost = new_cost
            if ratio_gain > 0.75:
                damping *= 0.3
        if (not accept) or ratio_gain < 0.25:
            damping *= 4.0
        if small_gain or small_step:
            break
        if accept and _small_gradient(theta, grad, lower, upper, n_par):
            break
    return False


@_jit(cache=True)
def _fit_one(
    wl: np.ndarray,
    flux: np.ndarray,
    w: np.ndarray,
    n: int,
    z: float,
    centre: float,
    rest: np.ndarray,
    ratio: np.ndarray,
    line_column: np.ndarray,
    broad_rest: float,
    n_free: int,
    velocities: np.ndarray,
    zero: int,
    grid_v: np.ndarray,
    grid_s: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    theta: np.ndarray,
    amp_out: np.ndarray,
    normal_out: np.ndarray,
    jtj: np.ndarray,
) -> tuple[bool, float]:
    """One spectrum's region fit (stages 1–3 and the final amplitudes, see the module docstring):
    θ, amplitudes, AᵀA and JᵀJ into the out arrays; returns (failed, χ²)."""
    n_lines = rest.size
    n_items_max = n_lines + 1
    m_max = 3 + n_free + 1
    basis = np.empty((4, n))
    for p in range(n):
        x = (wl[p] - centre) / (centre * 0.05)
        basis[0, p] = w[p]
        basis[1, p] = x * w[p]
        basis[2, p] = x * x * w[p]
        basis[3, p] = flux[p] * w[p]
    cc = np.zeros((3, 3))
    cy = np.zeros(3)
    yy = 0.0
    for p in range(n):
        for a in range(3):
            cy[a] += basis[a, p] * basis[3, p]
            for b in range(3):
                cc[a, b] += basis[a, p] * basis[b, p]
        yy += basis[3, p] * basis[3, p]
    observed = rest * (1.0 + z)
    observed_broad = broad_rest * (1.0 + z)
    # not zeroed: an item's values are written before they are read, and only in its window
    h = np.empty((n_items_max, max(n, 1)))
    e1 = np.empty((n_items_max, max(n, 1)))
    e2 = np.empty((n_items_max, max(n, 1)))
    first = np.zeros(n_items_max, dtype=np.int64)
    last = np.zeros(n_items_max, dtype=np.int64)
    s = np.zeros((n_items_max, 3, 4))
    q = np.zeros((n_items_max, n_items_max, 3, 3))
    column = np.zeros(n_items_max, dtype=np.int64)
    normal = np.zeros((m_max, m_max))
    at = np.zeros(m_max)
    lu = np.zeros((m_max, m_max))
    piv = np.zeros(m_max, dtype=np.int64)
    amp = np.zeros(m_max)

    # Stage 1's start: the velocity scan at σ = 150 km/s, χ² by the Schur complement on the continuum
    c_amp = np.zeros(3)
    if not _ridged_solve(cc, 3, cy, lu, piv, c_amp):
        return True, np.nan
    inverse_c = np.zeros((3, 3))
    unit = np.zeros(3)
    for a in range(3):
        for b in range(3):
            unit[b] = 1.0 if a == b else 0.0
        _lu_solve(lu, piv, 3, unit)
        for b in range(3):
            inverse_c[b, a] = unit[b]
    scan_basis = basis.copy()
    c_rr = 0.0
    for p in range(n):
        r = basis[3, p] - (c_amp[0] * basis[0, p] + c_amp[1] * basis[1, p] + c_amp[2] * basis[2, p])
        scan_basis[3, p] = r
        c_rr += r * r
    k_free = n_free
    gtg = np.zeros((k_free, k_free))
    gtc = np.zeros((k_free, 3))
    gtr = np.zeros(k_free)
    schur = np.zeros((k_free, k_free))
    k_amp = np.zeros(k_free)
    costs = np.empty(velocities.size)
    for g in range(velocities.size):
        for li in range(n_lines):
            c_line = observed[li] * (1.0 + velocities[g] / _C)
            _item(wl, w, n, li, c_line, c_line * (150.0 / _C), observed[li], 150.0, ratio[li], False, h, e1, e2, first, last)
        _sums(n_lines, False, h, e1, e2, first, last, scan_basis, s, q)
        gtg[:, :] = 0.0
        gtc[:, :] = 0.0
        gtr[:] = 0.0
        for li in range(n_lines):
            k = line_column[li]
            gtr[k] += s[li, 0, 3]
            for c in range(3):
                gtc[k, c] += s[li, 0, c]
            for lk in range(n_lines):
                gtg[k, line_column[lk]] += q[li, lk, 0, 0]
        for a in range(k_free):
            for b in range(k_free):
                acc = 0.0
                for c in range(3):
                    for d in range(3):
                        acc += gtc[a, c] * inverse_c[c, d] * gtc[b, d]
                schur[a, b] = gtg[a, b] - acc
        if not _ridged_solve(schur, k_free, gtr, lu, piv, k_amp):
            return True, np.nan
        cost = c_rr
        for a in range(k_free):
            cost -= gtr[a] * k_amp[a]
        costs[g] = cost
    best = 0
    for g in range(1, velocities.size):
        if costs[g] < costs[best]:
            best = g
    theta[0] = velocities[best] if costs[best] < costs[zero] - 25.0 else 0.0
    theta[1] = 100.0

    # Stage 1: the narrow lines' kinematics
    if _levenberg_marquardt(
        theta, lower, upper, False, 20, wl, w, n, basis, cc, cy, yy, observed, ratio, line_column, observed_broad, n_free,
        h, e1, e2, first, last, s, q, column, normal, at, lu, piv, amp, jtj,
    ):  # fmt: skip
        return True, np.nan

    # Stage 2: the broad grid with the narrow kinematics fixed, χ² by the Schur complement on [continuum | narrow]
    for li in range(n_lines):
        c_line = observed[li] * (1.0 + theta[0] / _C)
        _item(wl, w, n, li, c_line, c_line * (theta[1] / _C), observed[li], theta[1], ratio[li], False, h, e1, e2, first, last)
        column[li] = 3 + line_column[li]
    _sums(n_lines, False, h, e1, e2, first, last, basis, s, q)
    m_fixed = 3 + n_free
    _normal_equations(n_lines, column, cc, cy, s, q, m_fixed, normal, at)
    f_amp = np.zeros(m_fixed)
    if not _ridged_solve(normal, m_fixed, at, lu, piv, f_amp):
        return True, np.nan
    residual = np.empty(n)
    for p in range(n):
        residual[p] = basis[3, p] - (f_amp[0] * basis[0, p] + f_amp[1] * basis[1, p] + f_amp[2] * basis[2, p])
    for li in range(n_lines):
        a_l = f_amp[column[li]]
        for p in range(first[li], last[li]):
            residual[p] -= a_l * h[li, p - first[li]]
    f_rr = 0.0
    for p in range(n):
        f_rr += residual[p] * residual[p]
    # the grid's products against dense rows: continuum, each free narrow column (its lines summed),
    # residual; in single precision, everything × 2^-k with 2^k near the largest weight (exact: the
    # same roundings, and no float32 overflow whatever the flux unit); products rescaled by 4^k after
    columns = np.zeros((m_fixed + 1, n))
    for a in range(3):
        for p in range(n):
            columns[a, p] = basis[a, p]
    for li in range(n_lines):
        for p in range(first[li], last[li]):
            columns[column[li], p] += h[li, p - first[li]]
    for p in range(n):
        columns[m_fixed, p] = residual[p]
    largest = 0.0
    for p in range(n):
        largest = max(largest, w[p])
    unit = 2.0 ** -math.floor(math.log2(largest)) if 0.0 < largest < np.inf else 1.0
    columns32 = np.empty((m_fixed + 1, n), dtype=np.float32)
    for a in range(m_fixed + 1):
        for p in range(n):
            columns32[a, p] = columns[a, p] * unit
    w32 = np.empty(n, dtype=np.float32)
    for p in range(n):
        w32[p] = w[p] * unit
    values = np.empty(max(n, 1), dtype=np.float32)
    cross = np.zeros(m_fixed + 1)
    projected = np.zeros(m_fixed)
    best = 0
    best_cost = np.inf
    for g in range(grid_v.size):
        c_b = observed_broad * (1.0 + grid_v[g] / _C)
        own = _grid_products(wl, w32, n, c_b, c_b * (grid_s[g] / _C), columns32, m_fixed + 1, values, cross) / (unit * unit)
        for a in range(m_fixed + 1):
            cross[a] /= unit * unit
        if own <= 0:
            return True, np.nan
        along = cross[m_fixed]
        for a in range(m_fixed):
            projected[a] = cross[a]
        _lu_solve(lu, piv, m_fixed, projected)
        schur_b = own
        for a in range(m_fixed):
            schur_b -= cross[a] * projected[a]
        cost = f_rr - along * along / schur_b if schur_b > 0 else f_rr
        if cost < best_cost or g == 0:
            best, best_cost = g, cost
    theta[2] = grid_v[best]
    theta[3] = grid_s[best]

    # Stage 3: all four kinematic parameters together, from the best grid point
    if _levenberg_marquardt(
        theta, lower, upper, True, 100, wl, w, n, basis, cc, cy, yy, observed, ratio, line_column, observed_broad, n_free,
        h, e1, e2, first, last, s, q, column, normal, at, lu, piv, amp, jtj,
    ):  # fmt: skip
        return True, np.nan

    # The amplitudes at the fitted kinematics, and χ² from the residual itself
    nb = n_lines  # the broad line's item slot
    for li in range(n_lines):
        c_line = observed[li] * (1.0 + theta[0] / _C)
        _item(wl, w, n, li, c_line, c_line * (theta[1] / _C), observed[li], theta[1], ratio[li], False, h, e1, e2, first, last)
        column[li] = 3 + line_column[li]
    c_b = observed_broad * (1.0 + theta[2] / _C)
    _item(wl, w, n, nb, c_b, c_b * (theta[3] / _C), observed_broad, theta[3], 1.0, False, h, e1, e2, first, last)
    column[nb] = 3 + n_free
    _sums(n_items_max, False, h, e1, e2, first, last, basis, s, q)
    _normal_equations(n_items_max, column, cc, cy, s, q, m_max, normal, at)
    if not _ridged_solve(normal, m_max, at, lu, piv, amp):
        return True, np.nan
    for p in range(n):
        residual[p] = basis[3, p] - (amp[0] * basis[0, p] + amp[1] * basis[1, p] + amp[2] * basis[2, p])
    for i in range(n_items_max):
        a_i = amp[column[i]]
        for p in range(first[i], last[i]):
            residual[p] -= a_i * h[i, p - first[i]]
    chi2 = 0.0
    for p in range(n):
        chi2 += residual[p] * residual[p]
    for a in range(m_max):
        amp_out[a] = amp[a]
        for b in range(m_max):
            normal_out[a, b] = normal[a, b]
    return False, chi2


@_jit(cache=True)
def fit_batch(
    wl: np.ndarray,
    flux: np.ndarray,
    w: np.ndarray,
    offsets: np.ndarray,
    z: np.ndarray,
    centre: np.ndarray,
    rest: np.ndarray,
    ratio: np.ndarray,
    line_column: np.ndarray,
    broad_rest: float,
    n_free: int,
    velocities: np.ndarray,
    zero: int,
    grid_v: np.ndarray,
    grid_s: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fit one region of S spectra whose pixels are ``wl``/``flux``/``w`` (weights √ivar) concatenated,
    spectrum i in ``offsets[i]:offsets[i + 1]``: θ (S, 4), amplitudes (S, M), AᵀA (S, M, M),
    JᵀJ (S, 4, 4), χ² (S,) and failure flags (S,)."""
    n_spectra = z.size
    m = 3 + n_free + 1
    theta = np.zeros((n_spectra, 4))
    amplitudes = np.zeros((n_spectra, m))
    normal = np.zeros((n_spectra, m, m))
    jtj = np.zeros((n_spectra, 4, 4))
    chi2 = np.zeros(n_spectra)
    failed = np.zeros(n_spectra, dtype=np.bool_)
    for i in range(n_spectra):
        lo, hi = offsets[i], offsets[i + 1]
        bad, c2 = _fit_one(
            wl[lo:hi], flux[lo:hi], w[lo:hi], hi - lo, z[i], centre[i], rest, ratio, line_column, broad_rest, n_free,
            velocities, zero, grid_v, grid_s, lower, upper, theta[i], amplitudes[i], normal[i], jtj[i],
        )  # fmt: skip
        failed[i] = bad
        chi2[i] = c2
    return theta, amplitudes, normal, jtj, chi2, failed


@_jit(cache=True)
def _median(values: np.ndarray) -> float:
    """``np.median(values)`` (non-empty, no NaN) the same bit for bit: the middle element, or the two
    middle ones added and halved as numpy's mean of two does.

    The middle ranks are first looked for among the values between two pivots taken from a sorted
    sample of 65 values (one pass that counts the values below and keeps those between, ~1/4 of
    them), and selected there; the whole array is partitioned only when they are not in between."""
    n = values.size
    upper_rank = n // 2
    lower_rank = upper_rank if n % 2 else upper_rank - 1
    if n >= 256:
        sample = np.empty(65)
        stride = n // 65
        for i in range(65):
            sample[i] = values[i * stride]
        sample.sort()
        low, high = sample[24], sample[40]
        below = 0
        kept = np.empty(n)
        n_kept = 0
        for p in range(n):  # branch-free: whether a value is below, between or above is a coin toss
            v = values[p]
            below += 1 if v < low else 0
            kept[n_kept] = v
            n_kept += 1 if (v >= low) & (v <= high) else 0
        if below <= lower_rank and upper_rank < below + n_kept:
            return _middle(kept[:n_kept], lower_rank - below, upper_rank - below)
    return _middle(values, lower_rank, upper_rank)


@_jit(cache=True)
def _middle(values: np.ndarray, lower_rank: int, upper_rank: int) -> float:
    """The mean of the values of ranks ``lower_rank`` and ``upper_rank`` (equal or adjacent) as
    numpy's median takes it: the one value, or the two added and halved."""
    part = np.partition(values, upper_rank)  # a partitioned copy
    if lower_rank == upper_rank:
        return part[upper_rank]
    lower = part[0]
    for p in range(1, upper_rank):
        lower = max(lower, part[p])
    return (lower + part[upper_rank]) / 2.0


@_jit(cache=True)
def measure(
    wavelength: np.ndarray,
    flux: np.ndarray,
    ivar: np.ndarray,
    and_mask: np.ndarray,
    steps: np.ndarray,
    z: float,
    bad_mask: int,
    needles: np.ndarray,
    lows: np.ndarray,
    highs: np.ndarray,
) -> tuple[bool, np.ndarray, np.ndarray, bool, float, float, float, np.ndarray]:
    """The pixel work of ``gate._measure`` for one spectrum in one pass each: good pixels, rest-frame
    wavelengths, whether ivar is the same on every good pixel, the median step in ln λ of ``steps``
    (``np.diff(np.log(wavelength))``, computed by numpy, so that both paths take the same logarithms)
    and the largest distance of a step from it, the median ``|flux|`` of the good pixels, and per
    coverage window (``needles``: all lower edges, then all upper ones) and per region (``lows`` <
    λ < ``highs``) the pixels it holds and how many are good.

    Returns (sorted, good, rest, scale_always, log_step, the steps' largest distance from it, flux
    median, windows): windows (3, W + R) holds for each coverage window its first and last pixel
    and good count, then for each region its first pixel ≥ low, its first ≥ high and the good
    pixels with low < λ < high.
    ``sorted`` is False when the rest wavelengths are not non-decreasing (or NaN): then the searches
    are meaningless and the caller measures by numpy."""
    n = wavelength.size
    good = np.empty(n, dtype=np.bool_)
    rest = np.empty(n)
    prefix = np.zeros(n + 1, dtype=np.int64)
    good_flux = np.empty(n)
    n_good = 0
    high = -np.inf
    low = np.inf
    ordered = True
    scale = 1.0 + z
    # branch-free (bitwise & of the tests, selects, a store that only counts when good): masked
    # pixels come in runs the branch predictor keeps missing, which cost 3/4 of this loop
    for p in range(n):
        rest[p] = wavelength[p] / scale
        if p > 0:
            ordered &= rest[p] >= rest[p - 1]
        g = (
            np.isfinite(flux[p])
            & np.isfinite(ivar[p])
            & (ivar[p] > 0)
            & ((and_mask[p] & bad_mask) == 0)
            & np.isfinite(wavelength[p])
        )
        good[p] = g
        good_flux[n_good] = abs(flux[p])
        n_good += 1 if g else 0
        high = max(high, ivar[p] if g else -np.inf)
        low = min(low, ivar[p] if g else np.inf)
        prefix[p + 1] = n_good
    if n > 0 and not np.isfinite(rest[0]):
        ordered = False
    scale_always = n_good > 0 and high - low == 0.0
    n_steps = steps.size
    has_nan = False
    for p in range(n_steps):
        if np.isnan(steps[p]):
            has_nan = True
    log_step = np.nan
    if n_steps > 0 and not has_nan:
        log_step = _median(steps)
    distance = 0.0
    for p in range(n_steps):
        distance = max(distance, abs(steps[p] - log_step))
    flux_median = _median(good_flux[:n_good]) if n_good > 0 else np.nan
    # one array (each array handed back to Python costs a few µs)
    n_windows = needles.size // 2
    n_regions = lows.size
    windows = np.zeros((3, n_windows + n_regions), dtype=np.int64)
    if ordered:
        for j in range(n_windows):
            a = _lower_bound(rest, n, needles[j])
            b = _lower_bound(rest, n, needles[n_windows + j])
            windows[0, j], windows[1, j] = a, b
            windows[2, j] = prefix[b] - prefix[a] if b > a else 0
        for r in range(n_regions):
            a = _lower_bound(rest, n, lows[r])  # the first pixel with λ ≥ low
            above = _upper_bound(rest, n, lows[r])  # the first with λ > low
            b = _lower_bound(rest, n, highs[r])  # the first with λ ≥ high
            windows[0, n_windows + r], windows[1, n_windows + r] = a, b
            windows[2, n_windows + r] = prefix[b] - prefix[above] if b > above else 0
    return ordered, good, rest, scale_always, log_step, distance, flux_median, windows
