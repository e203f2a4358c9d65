"""Exact gradients of class probabilities with respect to the input flux (saliency maps).

For a fitted pipeline ``x → z = (x - μ)/σ → f(z) (SVM decision values) → p(f) (sigmoid
calibration)`` (reduced by :func:`~agn_saliency.explain.saliency.model.smooth_model`) the saliency
of class ``k`` is the analytic chain rule

    ∂p_k/∂x = Σ_j ∂p_k/∂f_j · ∂f_j/∂z ⊙ 1/σ,

with, for decision ``f_j(z) = Σ_i α_ji K(sv_i, z) + b_j``,

* linear: ∂f_j/∂z = w_j = Σ_i α_ji sv_i (collapsed once per model);
* rbf, K = exp(-γ|z - sv_i|²): ∂f_j/∂z = -2γ Σ_i α_ji K_i (z - sv_i);
* poly, K = (γ⟨sv_i, z⟩ + c₀)^d: ∂f_j/∂z = Σ_i α_ji d γ (γ⟨sv_i, z⟩ + c₀)^(d-1) sv_i;

and, for Platt sigmoids ``s_j = 1/(1 + exp(a_j f_j + b_j))`` (scikit-learn's sign convention),
``∂s_j/∂f_j = -a_j s_j (1 - s_j)``; two classes: ``p = (1 - s, s)``; more: ``p_k = s_k / Σ s``,
so ``∂p_k/∂f_j = ∂s_j/∂f_j (δ_kj - p_k) / Σ s``. The gradient of the log-odds
``log(p_k/(1 - p_k))`` is pushed through the kernels the same way, but formed in log space
(:func:`_log_odds_jacobian`).

Every spectrum is handled at once with matrix products (the only Python loops run over chunks of
spectra and over ensemble members), in float64.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit

from agn_saliency.explain.saliency.model import CalibratedMember, DecisionFunctions, SmoothModel, _FluxSpace, smooth_model
from agn_saliency.learn.kernel_math import int_power, kernel_matrix, squared_distances

CHUNK_ELEMENTS = 1 << 22
"""Upper bound on spectra x classes x support vectors held at once (sets the chunk of spectra)."""


_OUTPUTS = ("probability", "log_odds")


def _probability_jacobian(member: CalibratedMember, decisions: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (n, n_classes) and ∂p/∂f (n, n_classes, n_decisions) of one member."""
    s = expit(-(decisions * member.a + member.b))
    ds = -member.a * s * (1.0 - s)
    n, n_dec = decisions.shape
    proba = np.zeros((n, n_classes))
    jac = np.zeros((n, n_classes, n_dec))
    if n_classes == 2 and n_dec == 1:
        col = int(member.columns[0])
        proba[:, col] = s[:, 0]
        proba[:, 1 - col] = 1.0 - s[:, 0]
        jac[:, col, 0] = ds[:, 0]
        jac[:, 1 - col, 0] = -ds[:, 0]
        return proba, jac
    proba[:, member.columns] = s
    total = proba.sum(axis=1)
    ok = total != 0
    proba[ok] /= total[ok, None]
    proba[~ok] = 1.0 / n_classes
    # ∂p_k/∂f_j = ds_j (δ_{k, col_j} - p_k) / S
    jac[:, member.columns, np.arange(n_dec)] = 1.0
    jac -= proba[:, :, None]
    jac *= (ds / np.where(ok, total, 1.0)[:, None])[:, None, :]
    jac[~ok] = 0.0
    return proba, jac


def _log_odds_jacobian(member: CalibratedMember, decisions: np.ndarray, n_classes: int) -> np.ndarray:
    """∂L_k/∂f (n, n_classes, n_decisions) of the log-odds ``L_k = log(p_k / (1 - p_k))`` of one member.

    With ``u_j = a_j f_j + b_j`` and ``s_j = expit(-u_j)``: two classes, ``L_col = -u`` (so
    ``∂L_col/∂f = -a``, the other class ``+a``); more, ``L_k = log s_k - log Σ_{j≠k} s_j`` with
    ``∂ log s_j/∂f_j = -a_j expit(u_j)``, so ``∂L_k/∂f_j = g_j (δ_{k, col_j} - [col_j ≠ k] π^k_j)``
    where ``π^k`` is the softmax of ``log s_j = -logaddexp(0, u_j)`` over the decisions not
    feeding ``k``. Nothing here is a difference of probabilities, so nothing saturates at p → 1.
    """
    u = decisions * member.a + member.b
    n, n_dec = u.shape
    jac = np.zeros((n, n_classes, n_dec))
    if n_classes == 2 and n_dec == 1:
        col = int(member.columns[0])
        jac[:, col, 0] = -member.a[0]
        jac[:, 1 - col, 0] = member.a[0]
        return jac
    g = -member.a * expit(u)
    log_s = -np.logaddexp(0.0, u)
    for k in range(n_classes):
        own = member.columns == k
        rest = ~own
        jac[:, k, own] = g[:, own]
        if rest.any():
            logits = log_s[:, rest]
            weights = np.exp(logits - logits.max(axis=1, keepdims=True))
            weights /= weights.sum(axis=1, keepdims=True)
            jac[:, k, rest] = -weights * g[:, rest]
    return jac


def _output_jacobian(
    member: CalibratedMember, decisions: np.ndarray, n_classes: int, output: str
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and the Jacobian of the chosen output (``_OUTPUTS``) with respect to ``f``."""
    proba, jac = _probability_jacobian(member, decisions, n_classes)
    if output == "log_odds":
        jac = _log_odds_jacobian(member, decisions, n_classes)
    return proba, jac


def _kernel_terms(dec: DecisionFunctions, gram: np.ndarray, sq_dist: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Kernel values and their per-support-vector derivative factors from ``gram = z @ sv.T``.

    Returns ``(kern, dkern)`` with ``∂K_i/∂z = dkern_i · sv_i`` (poly, ``dkern = dγ base^(d-1)``)
    or ``∂K_i/∂z = 2γ dkern_i (sv_i - z)`` (rbf, ``dkern = K``). ``gram`` is overwritten. The rbf
    kernel needs ``sq_dist = |z - sv|²`` instead (``gram`` is then ignored).
    """
    if dec.kernel == "rbf":
        assert sq_dist is not None
        np.maximum(sq_dist, 0.0, out=sq_dist)
        sq_dist *= -dec.gamma
        kern = np.exp(sq_dist, out=sq_dist)
        return kern, kern
    if dec.kernel == "poly":
        gram *= dec.gamma
        gram += dec.coef0
        power = int_power(gram, dec.degree - 1)  # (γ⟨sv, z⟩ + c₀)^(d-1)
        kern = power * gram
        power *= dec.degree * dec.gamma
        return kern, power
    raise ValueError(f"unsupported kernel {dec.kernel!r}")


def _weights_to_flux(prep: _FluxSpace, weights: np.ndarray, z_weighted: np.ndarray | None) -> np.ndarray:
    """``Σ_i weights[n, k, i] ∂K_i/∂x / dkern_i`` for support-vector weights that include ``dkern``.

    poly: ``weights @ basis``; rbf: ``2γ (weights @ basis - z_weighted)`` where ``z_weighted`` is
    ``Σ_i weights[n, k, i] (z ⊙ factor)`` (the caller forms it: along an integration path ``z``
    changes from node to node).
    """
    n, m, n_sv = weights.shape
    assert prep.basis is not None
    part = (weights.reshape(-1, n_sv) @ prep.basis).reshape(n, m, -1)
    if prep.member.decisions.kernel == "rbf":
        assert z_weighted is not None
        part -= z_weighted
        part *= 2.0 * prep.member.decisions.gamma
    return part


def _member_kernel(
    prep: _FluxSpace, z: np.ndarray, single: tuple[np.ndarray, np.ndarray] | None = None, distances: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Decision values (n, n_decisions) of one kernel member at scaled points ``z``, with the kernel
    values and their derivative factors (:func:`_kernel_terms`), each (n, n_sv) float64. ``single``:
    the member's float32 support vectors and squared norms (:attr:`SmoothModel.single_precision_support`),
    the kernel matrix is then formed in float32. ``distances`` (n, n_sv), given: filled with
    ``|z - sv|²`` (:func:`~agn_saliency.learn.kernels.squared_distances`) from the same product
    (the out-of-distribution score's distances to the training rows that are support vectors)."""
    dec = prep.member.decisions
    sv, dual = dec.support_vectors, dec.dual_coef
    assert sv is not None and dual is not None
    sv_sq_norms = prep.sv_sq_norms
    z_kernel = z
    if single is not None:
        sv, sv_sq_norms = single
        z_kernel = z.astype(np.float32)
    gram = z_kernel @ sv.T
    # rbf: |z - sv|² formed as kernel_matrix (and so predict_proba) forms it
    sq_dist = squared_distances(z_kernel, sv, sv_sq_norms, gram=gram) if dec.kernel == "rbf" else None
    if distances is not None:
        distances[:] = sq_dist if sq_dist is not None else squared_distances(z_kernel, sv, sv_sq_norms, gram=gram.copy())
    kern, dkern = _kernel_terms(dec, gram, sq_dist)
    kern, dkern = kern.astype(np.float64, copy=False), dkern.astype(np.float64, copy=False)
    return kern @ dual.T + prep.intercept, kern, dkern


def _weights_of_jacobian(
    prep: _FluxSpace, z: np.ndarray, jac: np.ndarray, dkern: np.ndarray, output: str
) -> tuple[np.ndarray, np.ndarray | None]:
    """∂output/∂x of one kernel member as what :func:`_weights_to_flux` turns into pixels: the
    support-vector weights and, for rbf, their ``z`` term (``None`` otherwise)."""
    dec = prep.member.decisions
    assert dec.dual_coef is not None
    # Probabilities sum to one, so their gradients sum to zero: only the first n_classes - 1
    # class gradients go through the (n·(C-1), n_sv) @ (n_sv, n_pixels) product, the last is
    # minus their sum (a third less work for three classes, half for two). Log-odds have no
    # such constraint: every class is pushed through.
    pushed = jac[:, :-1] if output == "probability" else jac
    weights = (pushed @ dec.dual_coef) * dkern[:, None, :]
    z_weighted = weights.sum(axis=2)[:, :, None] * (z * prep.factor)[:, None, :] if dec.kernel == "rbf" else None
    return weights, z_weighted


def _support_weights(
    prep: _FluxSpace,
    z: np.ndarray,
    n_classes: int,
    output: str = "probability",
    single: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Probabilities of one kernel member at scaled points ``z``, and ∂output/∂x as what
    :func:`_weights_to_flux` turns into pixels: the support-vector weights and, for rbf, their
    ``z`` term (``None`` otherwise). ``single``: see :func:`_member_kernel`."""
    decisions, _, dkern = _member_kernel(prep, z, single)
    proba, jac = _output_jacobian(prep.member, decisions, n_classes, output)
    weights, z_weighted = _weights_of_jacobian(prep, z, jac, dkern, output)
    return proba, weights, z_weighted


def _member_outputs(
    prep: _FluxSpace,
    x: np.ndarray,
    z: np.ndarray | None,
    n_classes: int,
    outs: dict[str, np.ndarray],
    single: tuple[np.ndarray, np.ndarray] | None = None,
    distances: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities and decision values of one member for a chunk of spectra (``distances``: see
    :func:`_member_kernel`, kernel members only); writes the ∂/∂x of
    each output (``"probability"``: ∂p/∂x, ``"log_odds"``: ∂ log(p/(1-p))/∂x, see
    :func:`_log_odds_jacobian`) into ``outs[output]``. The kernel matrix against the support
    vectors is formed once for all outputs. A kernel member whose outputs together would push more
    rows a spectrum through the support vectors than it has decision functions has its decision
    values' gradients formed instead (each output's maps then differ from a pass of its own by
    rounding, ~1e-16 of the largest); otherwise each output's maps are the same numbers as a pass
    of its own gives."""
    member = prep.member
    if prep.coef is not None:
        decisions = x @ prep.coef.T + prep.intercept
        proba, jac = _probability_jacobian(member, decisions, n_classes)
        for output, out in outs.items():
            np.matmul(jac if output == "probability" else _log_odds_jacobian(member, decisions, n_classes), prep.coef, out=out)
        return proba, decisions
    assert z is not None
    decisions, _, dkern = _member_kernel(prep, z, single, distances)
    proba, jac = _probability_jacobian(member, decisions, n_classes)
    jacobians = {output: jac if output == "probability" else _log_odds_jacobian(member, decisions, n_classes) for output in outs}
    # The (rows, n_sv) @ (n_sv, n_pixels) product is the cost: per spectrum C - 1 rows for ∂p/∂x, C
    # for ∂L/∂x pushed one output at a time, or one row per decision function (∂f_j/∂x) shared
    # by all outputs, each then its Jacobian times them (C x n_decisions a pixel: nothing).
    pushed_rows = sum(n_classes - 1 if output == "probability" else n_classes for output in outs)
    if decisions.shape[1] < pushed_rows:
        dual = member.decisions.dual_coef
        assert dual is not None
        weights = dual[None, :, :] * dkern[:, None, :]
        z_weighted = weights.sum(axis=2)[:, :, None] * (z * prep.factor)[:, None, :] if member.decisions.kernel == "rbf" else None
        decision_gradients = _weights_to_flux(prep, weights, z_weighted)  # (n, n_decisions, n_pixels)
        for output, out in outs.items():
            np.matmul(jacobians[output], decision_gradients, out=out)
        return proba, decisions
    for output, out in outs.items():
        weights, z_weighted = _weights_of_jacobian(prep, z, jacobians[output], dkern, output)
        part = _weights_to_flux(prep, weights, z_weighted)
        if output != "probability":
            out[:] = part
            continue
        out[:, :-1] = part
        np.sum(part, axis=1, out=out[:, -1])
        np.negative(out[:, -1], out=out[:, -1])
    return proba, decisions


def _member_forward(
    prep: _FluxSpace,
    x: np.ndarray,
    z: np.ndarray | None,
    n_classes: int,
    out: np.ndarray,
    output: str = "probability",
    single: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """Probabilities of one member for a chunk of spectra; writes the output's ∂/∂x into ``out``.

    ``output``: ``"probability"`` (∂p/∂x) or ``"log_odds"`` (∂ log(p/(1-p))/∂x, see
    :func:`_log_odds_jacobian`).
    """
    return _member_outputs(prep, x, z, n_classes, {output: out}, single)[0]


def check_flux(flux: Any, n_features: int) -> np.ndarray:
    """``flux`` as a float64 (n_spectra, n_features) array.

    Parameters
    ----------
    flux : array-like
        Spectra, one per row.
    n_features
        The pixel count the model expects.

    Returns
    -------
    numpy.ndarray
        ``flux`` as float64, shape (n_spectra, n_features).

    Raises
    ------
    ValueError
        Saying what is wrong: not numeric, wrong shape, or non-finite values (in which spectra).
    """
    try:
        x = np.asarray(flux, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"flux must be a numeric array: {exc}") from None
    if x.ndim != 2 or x.shape[1] != n_features:
        raise ValueError(f"flux must have shape (n_spectra, {n_features}); got {x.shape}")
    if not np.all(np.isfinite(x)):
        bad = np.unique(np.nonzero(~np.isfinite(x))[0])
        raise ValueError(f"flux has non-finite values in {bad.size} spectra (first rows {bad[:5].tolist()})")
    return x


def _chunk_size(sm: SmoothModel, chunk_size: int | None) -> int:
    """Spectra per block: given, or bounded by ``CHUNK_ELEMENTS`` (spectra x classes x support vectors)."""
    if chunk_size is None:
        widest = max(max(m.decisions.n_support, 1) for m in sm.members)
        return max(1, CHUNK_ELEMENTS // (widest * sm.n_classes))
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be an integer >= 1, got {chunk_size!r}")
    return int(chunk_size)


def _clip_probabilities(proba: np.ndarray) -> np.ndarray:
    # scikit-learn's CalibratedClassifierCV clips probabilities that exceed 1 by rounding.
    proba[(proba > 1.0) & (proba <= 1.0 + 1e-5)] = 1.0
    return proba


def _gradients(
    sm: SmoothModel, x: np.ndarray, chunk_size: int | None = None, output: str = "probability", single: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (n, C) and ∂output/∂x (n, C, P) of checked flux, chunk by chunk (see _member_forward);
    ``single``: the kernel matrices in float32."""
    proba, maps, _ = _gradients_of_outputs(sm, x, (output,), chunk_size, single)
    return proba, maps[output]


def _gradients_of_outputs(
    sm: SmoothModel,
    x: np.ndarray,
    outputs: Sequence[str],
    chunk_size: int | None = None,
    single: bool = False,
    distances: np.ndarray | None = None,
) -> tuple[np.ndarray, dict[str, np.ndarray], tuple[np.ndarray, ...]]:
    """:func:`_gradients` of several outputs (:data:`_OUTPUTS`) in one pass: each chunk's kernel
    matrices are formed once for all of them (:func:`_member_outputs`). Also returns each member's
    decision values (n, n_decisions) (what :func:`agn_saliency.predict.ood.kernel_underflow` checks).
    A log-odds output needs a model of one member (an ensemble's is formed from its probabilities:
    :func:`agn_saliency.explain.saliency.attribute`). ``distances`` (n, n_sv), given (a model of one
    kernel member): filled with each spectrum's squared distances to the support vectors
    (:func:`_member_kernel`)."""
    unknown = [output for output in outputs if output not in _OUTPUTS]
    if not outputs or unknown or (len(sm.members) > 1 and "log_odds" in outputs):
        raise ValueError(f"outputs {list(outputs)}: expected some of {list(_OUTPUTS)} (log_odds for a model of one member)")
    if distances is not None and (len(sm.members) > 1 or sm.flux_spaces[0].coef is not None):
        raise ValueError("distances to the support vectors need a model of one kernel member")
    n, p = x.shape
    chunk_size = _chunk_size(sm, chunk_size)
    proba = np.zeros((n, sm.n_classes))
    maps = {
        output: np.zeros((n, sm.n_classes, p)) if len(sm.members) > 1 else np.empty((n, sm.n_classes, p)) for output in outputs
    }
    preps = sm.flux_spaces
    decisions = tuple(np.empty((n, prep.intercept.size)) for prep in preps)
    needs_z = any(prep.coef is None for prep in preps)
    scratch = np.empty((min(chunk_size, n), sm.n_classes, p)) if len(preps) > 1 else None
    singles = sm.single_precision_support if single else (None,) * len(preps)
    for start in range(0, n, chunk_size):
        rows = slice(start, min(n, start + chunk_size))
        xc = x[rows]
        z = (xc - sm.offset) * sm.factor if needs_z else None
        if len(preps) == 1:
            proba[rows], decisions[0][rows] = _member_outputs(
                preps[0], xc, z, sm.n_classes, {output: maps[output][rows] for output in outputs}, singles[0],
                None if distances is None else distances[rows],
            )  # fmt: skip
            continue
        # Ensembles (CalibratedClassifierCV(ensemble=True)): the mean of the members.
        assert scratch is not None
        buf = scratch[: xc.shape[0]]
        for member_decisions, prep, single_support in zip(decisions, preps, singles):
            for output in outputs:  # only probability here: one output at a time through the scratch buffer
                member_proba, member_decisions[rows] = _member_outputs(prep, xc, z, sm.n_classes, {output: buf}, single_support)
                buf /= len(preps)
                maps[output][rows] += buf
            proba[rows] += member_proba / len(preps)
    return _clip_probabilities(proba), maps, decisions


def _probabilities(sm: SmoothModel, x: np.ndarray, chunk_size: int | None = None, single: bool = False) -> np.ndarray:
    """Probabilities (n, C) of checked flux by the smooth model (no gradients); ``single``: kernel in float32."""
    n = x.shape[0]
    chunk_size = _chunk_size(sm, chunk_size)
    proba = np.zeros((n, sm.n_classes))
    preps = sm.flux_spaces
    kernel_dtype = np.float32 if single else np.float64
    support = (
        sm.single_precision_support
        if single
        else tuple(None if p.coef is not None else (p.member.decisions.support_vectors, p.sv_sq_norms) for p in preps)
    )
    for start in range(0, n, chunk_size):
        rows = slice(start, min(n, start + chunk_size))
        xc = x[rows]
        z = ((xc - sm.offset) * sm.factor).astype(kernel_dtype, copy=False)
        for prep, sv in zip(preps, support):
            dec = prep.member.decisions
            if sv is None:
                f = xc @ prep.coef.T + prep.intercept
            else:
                assert dec.dual_coef is not None
                gram = kernel_matrix(z, sv[0], dec.kernel, dec.gamma, dec.degree, dec.coef0, sv[1])
                f = gram.astype(np.float64, copy=False) @ dec.dual_coef.T + prep.intercept
            proba[rows] += _probability_jacobian(prep.member, f, sm.n_classes)[0] / len(preps)
    return _clip_probabilities(proba)


def probabilities(model: Any, flux: Any, chunk_size: int | None = None, precision: str = "double") -> np.ndarray:
    """``model.predict_proba(flux)`` from the support vectors alone (:func:`smooth_model`).

    The pipeline's own ``predict_proba`` evaluates the kernel against every training row; this
    evaluates it against the support vectors only — the same numbers, a fraction of the work
    (what the many calls of a deletion curve need). ``model`` may also be a :class:`SmoothModel`,
    extracted once for many calls. ``precision="single"`` evaluates the kernel matrix in float32:
    about half the time, probabilities within 1e-4 of the double-precision ones (enough for
    curves averaged over spectra, not for gradients).

    Parameters
    ----------
    model
        Fitted pipeline / search / classifier (see :func:`smooth_model`), or a :class:`SmoothModel`.
    flux : array-like of shape (n_spectra, n_pixels)
        Flux exactly as the model's ``predict_proba`` receives it.
    chunk_size : int, optional
        Spectra per block (default: bounded by ``CHUNK_ELEMENTS``).
    precision : {"double", "single"}
        Precision of the kernel matrix.

    Returns
    -------
    ndarray of shape (n_spectra, n_classes)
        Columns in ``model.classes_`` order.
    """
    if precision not in ("double", "single"):
        raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
    sm = model if isinstance(model, SmoothModel) else smooth_model(model)
    return _probabilities(sm, check_flux(flux, sm.offset.size), chunk_size, single=precision == "single")


def probabilities_and_saliency(
    model: Any, flux: Any, chunk_size: int | None = None, precision: str = "double"
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and their exact gradients with respect to the input flux.

    Parameters
    ----------
    model
        Fitted pipeline / search / classifier (see :func:`smooth_model`).
    flux : array-like of shape (n_spectra, n_pixels)
        Flux exactly as the model's ``predict_proba`` receives it.
    chunk_size : int, optional
        Spectra per block (default: bounded by ``CHUNK_ELEMENTS``).
    precision : {"double", "single"}
        Precision of the kernel matrix (the rest is in double). Measured on 300 simulated spectra
        (rbf model of ``benchmarks/predict.py``): single precision changes the gradients by at most
        2.7e-5 (absolute; the largest gradient is 0.19), but by up to 3.3e-4 of a spectrum's largest
        gradient (median 5e-5), and saves ~0.1 ms a spectrum: double stays the default
        (``tests/test_predict_batch.py`` checks the 1e-4 absolute bound).

    Returns
    -------
    proba : ndarray of shape (n_spectra, n_classes)
        Equal to ``model.predict_proba(flux)`` (columns in ``model.classes_`` order).
    saliency : ndarray of shape (n_spectra, n_classes, n_pixels)
        ``saliency[n, k, j] = ∂ proba[n, k] / ∂ flux[n, j]``.

    Raises
    ------
    ValueError
        Unsupported model, flux not 2-D with the model's pixel count, or non-finite flux.
    """
    if precision not in ("double", "single"):
        raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
    sm = model if isinstance(model, SmoothModel) else smooth_model(model)
    x = check_flux(flux, sm.offset.size)
    return _gradients(sm, x, chunk_size, single=precision == "single")


def saliency(model: Any, flux: Any, chunk_size: int | None = None) -> np.ndarray:
    """Exact ∂p_k/∂flux of every class ``k`` (order ``model.classes_``) for every spectrum.

    Parameters
    ----------
    model
        Fitted pipeline / search / classifier (see :func:`smooth_model`).
    flux : array-like of shape (n_spectra, n_pixels)

    Returns
    -------
    ndarray of shape (n_spectra, n_classes, n_pixels)

    Raises
    ------
    ValueError
        Unsupported model, flux of the wrong shape, or non-finite flux.
    """
    return probabilities_and_saliency(model, flux, chunk_size)[1]
