"""Attribution maps by five methods (:func:`attribute`, :data:`ATTRIBUTION_METHODS`), all built from
the exact gradients of :mod:`agn_saliency.explain.saliency.gradients`: the gradient of ``p`` and of
the log-odds ``log(p_k/(1 - p_k))`` (which does not vanish where ``p_k`` saturates); gradient ×
input; integrated gradients from the training mean spectrum (:func:`training_mean`) by
Gauss–Legendre quadrature, with the kernels evaluated along the straight path from two Gram
products and the node weights summed before the one product with the support vectors, checked
against completeness (:func:`completeness_error`); and SmoothGrad.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from agn_saliency.explain.options import check_method_options
from agn_saliency.explain.saliency.gradients import (
    _chunk_size,
    _gradients,
    _kernel_terms,
    _probabilities,
    _probability_jacobian,
    _support_weights,
    _weights_to_flux,
    check_flux,
)
from agn_saliency.explain.saliency.model import ServedModel, SmoothModel, _FluxSpace, smooth_model

ATTRIBUTION_METHODS = ("gradient", "logit_gradient", "gradient_x_input", "integrated_gradients", "smoothgrad")
"""Methods of :func:`attribute`."""


def training_mean(model: Any) -> np.ndarray:
    """The flux the model's centring ``StandardScaler`` maps to zero: the training mean spectrum.

    It is ``smooth_model(model).offset``; for the pipelines of
    :func:`~agn_saliency.learn.classify.build_pipeline` (one ``StandardScaler`` fitted on the training
    rows) this is exactly the scaler's ``mean_``, i.e. the mean training spectrum in flux units.
    It is the default baseline of integrated gradients (:func:`attribute`).

    Parameters
    ----------
    model
        Fitted pipeline or search (see :func:`smooth_model`) with a ``StandardScaler(with_mean=True)`` step.

    Returns
    -------
    ndarray of shape (n_pixels,)

    Raises
    ------
    ValueError
        The model has no centring ``StandardScaler`` (so no training mean is kept), or is unsupported.
    """
    if isinstance(model, ServedModel):  # its scalers are the pipeline's StandardScaler steps
        if not any(mean is not None for mean, _ in model.scalers):
            raise ValueError(
                "the served model has no StandardScaler(with_mean=True) step, so it keeps no training mean spectrum; pass an explicit baseline"
            )
        return smooth_model(model).offset.copy()
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    estimator = model.best_estimator_ if hasattr(model, "best_estimator_") else model
    steps = [s for _, s in estimator.steps] if isinstance(estimator, Pipeline) else []
    if not any(isinstance(s, StandardScaler) and s.with_mean for s in steps):
        raise ValueError(
            f"{type(estimator).__name__} has no StandardScaler(with_mean=True) step, so it keeps no training mean "
            "spectrum; pass an explicit baseline"
        )
    return smooth_model(model).offset.copy()


def _target_indices(target: Any, classes: np.ndarray, n: int) -> np.ndarray:
    """Class positions (n,) of ``target``: integers are positions in ``classes``, anything else labels."""
    arr = np.asarray(target)
    if arr.ndim == 0:
        arr = np.repeat(arr[None], n)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"target must be one class or one per spectrum ({n}); got shape {np.shape(target)}")
    if arr.dtype.kind == "b":
        raise ValueError("target must be class indices or class labels, not booleans")
    if arr.dtype.kind in "iu":
        bad = (arr < 0) | (arr >= classes.size)
        if bad.any():
            raise ValueError(f"target index {arr[bad][0]} is out of range for {classes.size} classes {classes.tolist()}")
        return arr.astype(np.intp)
    where = {label: i for i, label in enumerate(classes.tolist())}
    missing = [v for v in arr.tolist() if v not in where]
    if missing:
        raise ValueError(f"target label {missing[0]!r} is not a class of the model {classes.tolist()}")
    return np.array([where[v] for v in arr.tolist()], dtype=np.intp)


def _resolve_baseline(model: Any, baseline: Any, n: int, n_pixels: int) -> np.ndarray:
    """Baseline (n, n_pixels): the training mean by default, else one spectrum or one per spectrum."""
    if baseline is None:
        base = training_mean(model)
    else:
        try:
            base = np.asarray(baseline, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(f"baseline must be a numeric array: {exc}") from None
        if base.shape not in ((n_pixels,), (n, n_pixels)):
            raise ValueError(f"baseline must have shape ({n_pixels},) or ({n}, {n_pixels}); got {base.shape}")
        if not np.all(np.isfinite(base)):
            raise ValueError("baseline has non-finite values")
    return np.broadcast_to(base, (n, n_pixels))


def _member_path_integral(
    prep: _FluxSpace,
    x0: np.ndarray,
    dx: np.ndarray,
    z0: np.ndarray | None,
    alphas: np.ndarray,
    weights: np.ndarray,
    n_classes: int,
    single: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """``Σ_m w_m ∂p/∂x (x0 + α_m dx)`` (n, C, P) of one member: the quadrature of the IG integral.

    ``z0`` is the baseline in scaled space (kernels only); ``single``: the member's float32 support
    vectors and squared norms, the Gram products and the kernel along the path are then float32. Along the path the decision values
    need only two Gram products (``z0 @ sv.T`` and ``dz @ sv.T``): ``⟨z(α), sv⟩`` is linear and
    ``|z(α) - sv|²`` quadratic in α. The gradient at a node is a combination of the support
    vectors (plus ``z(α)`` for rbf), so the node weights are summed first and pushed through the
    (n·(C-1), n_sv) @ (n_sv, P) product once, not once per node.
    """
    member = prep.member
    dec = member.decisions
    n = x0.shape[0]
    if prep.coef is not None:
        f0 = x0 @ prep.coef.T + prep.intercept
        df = dx @ prep.coef.T
        jac_sum = np.zeros((n, n_classes, df.shape[1]))
        for alpha, weight in zip(alphas, weights, strict=True):
            jac_sum += weight * _probability_jacobian(member, f0 + alpha * df, n_classes)[1]
        return jac_sum @ prep.coef
    sv, dual = dec.support_vectors, dec.dual_coef
    assert sv is not None and dual is not None and z0 is not None
    dz = dx * prep.factor
    sv_sq_norms = prep.sv_sq_norms
    z0_kernel, dz_kernel = z0, dz
    if single is not None:
        sv, sv_sq_norms = single
        z0_kernel, dz_kernel = z0.astype(np.float32), dz.astype(np.float32)
    gram0, gram1 = z0_kernel @ sv.T, dz_kernel @ sv.T
    rbf = dec.kernel == "rbf"
    if rbf:
        # |z(α) - sv|² = (|z0|² + 2α⟨z0, dz⟩ + α²|dz|²) + |sv|² - 2(⟨z0, sv⟩ + α⟨dz, sv⟩)
        zz, zd, dd = (np.einsum("ij,ij->i", a, b)[:, None].astype(gram0.dtype) for a, b in ((z0, z0), (z0, dz), (dz, dz)))
    sv_weights = np.zeros((n, n_classes - 1, sv.shape[0]))
    moment0 = np.zeros((n, n_classes - 1))
    moment1 = np.zeros((n, n_classes - 1))
    for alpha, weight in zip(alphas, weights, strict=True):
        gram = gram1 * alpha
        gram += gram0
        sq_dist = None
        if rbf:
            sq_dist = gram * -2.0
            sq_dist += zz + (2.0 * alpha) * zd + (alpha * alpha) * dd
            sq_dist += sv_sq_norms
        kern, dkern = _kernel_terms(dec, gram, sq_dist)
        kern, dkern = kern.astype(np.float64, copy=False), dkern.astype(np.float64, copy=False)
        jac = _probability_jacobian(member, kern @ dual.T + prep.intercept, n_classes)[1]
        node = (jac[:, :-1] @ dual) * dkern[:, None, :]
        node *= weight
        sv_weights += node
        if rbf:
            total = node.sum(axis=2)
            moment0 += total
            moment1 += alpha * total
    # Σ_m w_m Σ_i node_i z(α_m) ⊙ factor = moment0 (z0 ⊙ factor) + moment1 (dz ⊙ factor)
    z_weighted = (
        moment0[:, :, None] * (z0 * prep.factor)[:, None, :] + moment1[:, :, None] * (dz * prep.factor)[:, None, :]
        if rbf
        else None
    )
    part = _weights_to_flux(prep, sv_weights, z_weighted)
    out = np.empty((n, n_classes, part.shape[2]))
    out[:, :-1] = part
    out[:, -1] = -part.sum(axis=1)  # probabilities sum to one
    return out


def _integrated_gradients(
    sm: SmoothModel, x: np.ndarray, x0: np.ndarray, n_steps: int, chunk_size: int, single: bool = False
) -> np.ndarray:
    """IG (n, C, P) with ``n_steps`` Gauss–Legendre nodes on [0, 1], chunk by chunk; ``single``: kernels in float32."""
    nodes, node_weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = 0.5 * (nodes + 1.0), 0.5 * node_weights
    preps = sm.flux_spaces
    singles = sm.single_precision_support if single else (None,) * len(preps)
    out = np.zeros((x.shape[0], sm.n_classes, x.shape[1]))
    for start in range(0, x.shape[0], chunk_size):
        rows = slice(start, min(x.shape[0], start + chunk_size))
        base, dx = x0[rows], x[rows] - x0[rows]
        z0 = (base - sm.offset) * sm.factor
        for prep, single_support in zip(preps, singles):  # an ensemble's probability is the mean of its members'
            out[rows] += _member_path_integral(prep, base, dx, z0, alphas, weights, sm.n_classes, single_support) / len(preps)
        out[rows] *= dx[:, None, :]
    return out


class _GradientSum:
    """Running sum of one member's ∂p/∂x over many points, kept as the weights of what the gradient
    is a combination of: the decision functions' Jacobian (linear) or the support vectors (plus the
    point itself for rbf). :meth:`total` pushes the summed weights through the (n·(C-1), n_sv) @
    (n_sv, P) product once, instead of once per point (as the IG quadrature does)."""

    def __init__(
        self, prep: _FluxSpace, n: int, n_classes: int, n_pixels: int, single: tuple[np.ndarray, np.ndarray] | None = None
    ) -> None:
        self.prep, self.n_classes, self.single = prep, n_classes, single
        dec = prep.member.decisions
        width = prep.coef.shape[0] if prep.coef is not None else max(dec.n_support, 1)
        # Probabilities sum to one: only the first C - 1 classes are pushed through (see _member_forward).
        self.weights = np.zeros((n, n_classes if prep.coef is not None else n_classes - 1, width))
        self.z_weighted = np.zeros((n, n_classes - 1, n_pixels)) if dec.kernel == "rbf" and prep.coef is None else None

    def add(self, rows: slice, x: np.ndarray, z: np.ndarray | None) -> None:
        """Add ∂p/∂x at the points ``x`` (scaled: ``z``) of spectra ``rows``."""
        prep = self.prep
        if prep.coef is not None:
            self.weights[rows] += _probability_jacobian(prep.member, x @ prep.coef.T + prep.intercept, self.n_classes)[1]
            return
        assert z is not None
        _, weights, z_weighted = _support_weights(prep, z, self.n_classes, single=self.single)
        self.weights[rows] += weights
        if z_weighted is not None:
            self.z_weighted[rows] += z_weighted

    def total(self, rows: slice) -> np.ndarray:
        """The summed ∂p/∂x (n_rows, C, P) of spectra ``rows``."""
        if self.prep.coef is not None:
            return self.weights[rows] @ self.prep.coef
        z_weighted = self.z_weighted[rows] if self.z_weighted is not None else None
        part = _weights_to_flux(self.prep, self.weights[rows], z_weighted)
        out = np.empty((part.shape[0], self.n_classes, part.shape[2]))
        out[:, :-1] = part
        out[:, -1] = -part.sum(axis=1)
        return out


def _smoothgrad(
    sm: SmoothModel, x: np.ndarray, noise: float, n_samples: int, seed: int, chunk_size: int, single: bool = False
) -> np.ndarray:
    """Mean ∂p/∂x (n, C, P) at ``n_samples`` noisy copies, copy ``j`` being ``x + ε_j`` with
    ``ε_j = default_rng(seed).standard_normal(x.shape) · noise·(max x - min x)`` drawn in turn
    (in float64 also when ``single``, which forms the kernel matrices in float32: the same noise).

    Per member, the gradient weights of all copies are summed before the one product that turns
    them into pixels (:class:`_GradientSum`): half the time of a full gradient per copy (embedded
    sample, multiclass rbf: 2.7 vs 5.5 s)."""
    rng = np.random.default_rng(seed)
    sigma = noise * (x.max(axis=1) - x.min(axis=1))
    preps = sm.flux_spaces
    singles = sm.single_precision_support if single else (None,) * len(preps)
    sums = [_GradientSum(prep, x.shape[0], sm.n_classes, x.shape[1], s) for prep, s in zip(preps, singles)]
    needs_z = any(prep.coef is None for prep in preps)
    chunks = [slice(start, min(x.shape[0], start + chunk_size)) for start in range(0, x.shape[0], chunk_size)]
    for _ in range(n_samples):
        noisy = rng.standard_normal(x.shape)
        noisy *= sigma[:, None]
        noisy += x
        for rows in chunks:
            z = (noisy[rows] - sm.offset) * sm.factor if needs_z else None
            for gradient_sum in sums:
                gradient_sum.add(rows, noisy[rows], z)
    maps = np.empty((x.shape[0], sm.n_classes, x.shape[1]))
    for rows in chunks:  # an ensemble's probability is the mean of its members'
        maps[rows] = sum(gradient_sum.total(rows) for gradient_sum in sums)
    maps /= n_samples * len(preps)
    return maps


def _completeness(attributions: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Per spectrum: ``max_k |Σ_j A_kj - Δp_k| / max(max_k |Δp_k|, 1e-12)``."""
    gap = np.abs(attributions.sum(axis=2) - delta).max(axis=1)
    return gap / np.maximum(np.abs(delta).max(axis=1), 1e-12)


def completeness_error(model: Any, flux: Any, attributions: Any, baseline: Any = None) -> np.ndarray:
    """How far integrated gradients are from the completeness axiom, relative, per spectrum.

    Integrated gradients satisfy ``Σ_j IG_kj(x) = p_k(x) - p_k(x0)`` for every class ``k``
    (Sundararajan et al. 2017); a quadrature approximates the integral, so the sum misses by a
    little. For spectrum ``n`` with ``Δp_nk = p_k(x_n) - p_k(x0_n)`` this returns::

        e_n = max_k |Σ_j A_nkj - Δp_nk| / max(max_k |Δp_nk|, 1e-12),

    i.e. the worst class's gap relative to the spectrum's largest probability change (the 1e-12
    floor keeps a spectrum equal to its baseline, where both are 0, at 0). Probabilities are the
    smooth model's (equal to ``predict_proba`` to rounding).

    Parameters
    ----------
    model
        Fitted pipeline / search / classifier (see :func:`smooth_model`).
    flux : array-like of shape (n_spectra, n_pixels)
    attributions : array-like of shape (n_spectra, n_classes, n_pixels)
        Integrated gradients of every class, as ``attribute(model, flux, "integrated_gradients")``.
    baseline : array-like of shape (n_pixels,) or (n_spectra, n_pixels), optional
        The baseline they were computed from (default: :func:`training_mean`).

    Returns
    -------
    ndarray of shape (n_spectra,)

    Raises
    ------
    ValueError
        Unsupported model, or flux / attributions / baseline of the wrong shape.
    """
    sm = smooth_model(model)
    x = check_flux(flux, sm.offset.size)
    attr = np.asarray(attributions, dtype=np.float64)
    if attr.shape != (x.shape[0], sm.n_classes, x.shape[1]):
        raise ValueError(f"attributions must have shape {(x.shape[0], sm.n_classes, x.shape[1])} (every class); got {attr.shape}")
    x0 = _resolve_baseline(model, baseline, *x.shape)
    return _completeness(attr, _probabilities(sm, x) - _probabilities(sm, np.ascontiguousarray(x0)))


def attribute(
    model: Any, flux: Any, method: str, *, target: Any = None, baseline: Any = None, precision: str = "double", **options: Any
) -> np.ndarray:
    """Exact attribution maps of the class probabilities to the input flux, by one of five methods.

    Every method is built from analytic gradients of the smooth model (see
    :mod:`agn_saliency.explain.saliency.gradients`; no finite differences) and handles all
    spectra at once. With ``p_k(x)`` the
    calibrated probability of class ``k`` and ``x`` one spectrum:

    ``gradient``
        ``∂p_k/∂x_j`` — the paper's saliency (:func:`~agn_saliency.explain.saliency.gradients.probabilities_and_saliency`).
    ``logit_gradient``
        ``∂L_k/∂x_j`` with ``L_k = log(p_k / (1 - p_k))``, differentiated through the decision
        values and Platt sigmoids in log space (two classes: ``L = ∓(a f + b)``; more:
        ``L_k = log s_k - log Σ_{j≠k} s_j`` with softmax weights), so it does not vanish where
        ``p_k`` saturates at 0 or 1, unlike ``gradient``. For an ensemble of calibrated members
        (``CalibratedClassifierCV(ensemble=True)``), whose mean probability has no such form, it
        falls back to ``∂p_k/∂x / (p_k Σ_{j≠k} p_j)``, which does saturate: a ``RuntimeWarning``
        is issued and the maps are non-finite where the denominator underflows to 0.
    ``gradient_x_input``
        ``x_j ∂p_k/∂x_j`` (Shrikumar et al. 2016; Captum's ``InputXGradient``).
    ``integrated_gradients``
        ``IG_kj = (x_j - x0_j) ∫₀¹ ∂p_k/∂x_j (x0 + α (x - x0)) dα`` (Sundararajan et al. 2017) by
        Gauss–Legendre quadrature on [0, 1] (``numpy.polynomial.legendre.leggauss``). It satisfies
        completeness, ``Σ_j IG_kj = p_k(x) - p_k(x0)``, up to the quadrature error; spectra whose
        :func:`completeness_error` exceeds ``tolerance`` after ``n_steps`` nodes are redone with
        twice the nodes until within it or at ``max_steps`` (then a ``UserWarning`` says how many
        missed). ``baseline`` ``x0``: default the training mean spectrum (:func:`training_mean`).
    ``smoothgrad``
        ``(1/N) Σ_s ∂p_k/∂x (x + ε_s)``, ``ε_s ~ N(0, σ²)`` per pixel with
        ``σ = noise · (max_j x_j - min_j x_j)`` per spectrum (Smilkov et al. 2017). The draws are
        ``rng.standard_normal((n_spectra, n_pixels))`` for ``s = 1..N`` in turn from
        ``numpy.random.default_rng(seed)``: one seed gives identical maps.

    Parameters
    ----------
    model
        Fitted pipeline / search / classifier (see :func:`smooth_model`).
    flux : array-like of shape (n_spectra, n_pixels)
        Flux exactly as the model's ``predict_proba`` receives it.
    method : {"gradient", "logit_gradient", "gradient_x_input", "integrated_gradients", "smoothgrad"}
    target : int, label or array-like of shape (n_spectra,), optional
        Class to return: a position in ``model.classes_`` (any integer is a position, also for
        integer labels), a class label, or one of these per spectrum. Default: every class.
    baseline : array-like of shape (n_pixels,) or (n_spectra, n_pixels), optional
        ``integrated_gradients`` only: the path's start (default :func:`training_mean`).
    precision : {"double", "single"}
        ``"single"`` forms the kernel members' kernel matrices (the Gram products with the support
        vectors and the kernel values, along the whole integration path or for every noisy copy) in
        float32, everything else in float64 (the SmoothGrad draws too: the same noise). How far that
        moves each method's maps, and what it saves, is measured by
        ``benchmarks/attribution_precision.py``; linear members are unchanged. The
        integrated-gradients completeness check uses double-precision probabilities either way.
    **options
        ``chunk_size`` (every method; spectra per block, default bounded by ``CHUNK_ELEMENTS``);
        ``integrated_gradients``: ``n_steps=32`` (Captum's name: quadrature nodes of the first
        pass), ``tolerance=1e-6`` (completeness error allowed; ``float("inf")`` keeps the first
        pass), ``max_steps=512``; ``smoothgrad``: ``noise=0.1``, ``n_samples=32``, ``seed=0``.

    Returns
    -------
    ndarray, float64 (whatever ``precision``)
        Shape (n_spectra, n_classes, n_pixels), classes in ``model.classes_`` order, or
        (n_spectra, n_pixels) for the ``target`` class of each spectrum.

    Raises
    ------
    ValueError
        Unknown method or option (the valid ones are named), bad option value, target or
        baseline, unsupported model, flux of the wrong shape or non-finite.

    References
    ----------
    Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep Networks", ICML (arXiv:1703.01365).
    Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise" (arXiv:1706.03825).
    Shrikumar et al. 2016, "Not Just a Black Box: Learning Important Features Through Propagating
    Activation Differences" (arXiv:1605.01713); Kokhlikyan et al. 2020, Captum (arXiv:2009.07896).
    """
    opts = check_method_options(method, options)
    if precision not in ("double", "single"):
        raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
    single = precision == "single"
    if baseline is not None and method != "integrated_gradients":
        raise ValueError(f"baseline is only used by integrated_gradients, not {method!r}")
    sm = smooth_model(model)
    x = check_flux(flux, sm.offset.size)
    n = x.shape[0]
    rows = None if target is None else _target_indices(target, sm.classes, n)
    chunk_size = _chunk_size(sm, opts["chunk_size"])
    if method in ("gradient", "gradient_x_input"):
        maps = _gradients(sm, x, chunk_size, single=single)[1]
        if method == "gradient_x_input":
            maps *= x[:, None, :]
    elif method == "logit_gradient":
        if len(sm.members) == 1:
            maps = _gradients(sm, x, chunk_size, output="log_odds", single=single)[1]
        else:
            proba, maps = _gradients(sm, x, chunk_size, single=single)
            # 1 - p_k as the sum of the other classes (added directly, not total - p_k): accurate near p_k = 1.
            others = np.stack([np.delete(proba, k, axis=1).sum(axis=1) for k in range(sm.n_classes)], axis=1)
            denominator = proba * others
            if not np.all(denominator > 0):
                warnings.warn(
                    "logit_gradient of an ensemble is dp/(p(1-p)), which is not finite where p(1-p) underflows "
                    f"({int(np.sum(~(denominator > 0)))} spectrum-class pairs)",
                    RuntimeWarning,
                    stacklevel=2,
                )
            with np.errstate(divide="ignore", invalid="ignore"):
                maps /= denominator[:, :, None]
    elif method == "integrated_gradients":
        x0 = _resolve_baseline(model, baseline, n, x.shape[1])
        maps = _integrated_gradients(sm, x, x0, opts["n_steps"], chunk_size, single)
        delta = _probabilities(sm, x, chunk_size) - _probabilities(sm, np.ascontiguousarray(x0), chunk_size)
        error = _completeness(maps, delta)
        steps = opts["n_steps"]
        # Only the spectra that miss the tolerance pay for finer quadrature.
        while steps < opts["max_steps"] and np.any(error > opts["tolerance"]):
            steps = min(2 * steps, opts["max_steps"])
            redo = np.flatnonzero(error > opts["tolerance"])
            maps[redo] = _integrated_gradients(sm, x[redo], x0[redo], steps, chunk_size, single)
            error[redo] = _completeness(maps[redo], delta[redo])
        missed = int(np.sum(error > opts["tolerance"]))
        if missed:
            warnings.warn(
                f"integrated gradients: {missed} of {n} spectra miss the completeness tolerance {opts['tolerance']:g} "
                f"with max_steps={opts['max_steps']} nodes (worst relative error {error.max():.2e})",
                UserWarning,
                stacklevel=2,
            )
    else:  # smoothgrad
        maps = _smoothgrad(sm, x, opts["noise"], opts["n_samples"], opts["seed"], chunk_size, single)
    if rows is None:
        return maps
    return maps[np.arange(n), rows]
