"""Exact gradients of class probabilities with respect to the input flux (saliency maps).

For a fitted pipeline ``x → z = (x - μ)/σ → f(z) (SVM decision values) → p(f) (sigmoid
calibration)`` the saliency of class ``k`` is the analytic chain rule

    ∂p_k/∂x = Σ_j ∂p_k/∂f_j · ∂f_j/∂z ⊙ 1/σ,

with, for decision ``f_j(z) = Σ_i α_ji K(sv_i, z) + b_j``,

* linear: ∂f_j/∂z = w_j = Σ_i α_ji sv_i (collapsed once per model);
* rbf, K = exp(-γ|z - sv_i|²): ∂f_j/∂z = -2γ Σ_i α_ji K_i (z - sv_i);
* poly, K = (γ⟨sv_i, z⟩ + c₀)^d: ∂f_j/∂z = Σ_i α_ji d γ (γ⟨sv_i, z⟩ + c₀)^(d-1) sv_i;

and, for Platt sigmoids ``s_j = 1/(1 + exp(a_j f_j + b_j))`` (scikit-learn's sign convention),
``∂s_j/∂f_j = -a_j s_j (1 - s_j)``; two classes: ``p = (1 - s, s)``; more: ``p_k = s_k / Σ s``,
so ``∂p_k/∂f_j = ∂s_j/∂f_j (δ_kj - p_k) / Σ s``.

Every spectrum is handled at once with matrix products (the only Python loops run over chunks of
spectra and over ensemble members), in float64.

:func:`attribute` builds further exact attribution maps on the same machinery
(:data:`ATTRIBUTION_METHODS`): the gradient of the log-odds ``log(p_k/(1 - p_k))``, pushed
through the kernels like ``∂p/∂f`` but formed in log space so that it does not vanish where
``p_k`` saturates; gradient × input; integrated gradients from the training mean spectrum
(:func:`training_mean`) by Gauss–Legendre quadrature, with the kernels evaluated along the
straight path from two Gram products and the node weights summed before the one product with the
support vectors, checked against completeness (:func:`completeness_error`); and SmoothGrad.

Supported models: scikit-learn's ``CalibratedClassifierCV(method="sigmoid")`` around a two-class
``SVC``/``LinearSVC`` or a ``OneVsRestClassifier`` of them (any ``ensemble`` for SVMs with their
own kernel), each optionally behind ``StandardScaler`` steps of a ``Pipeline``; an
``SVC(kernel="precomputed")`` behind a :class:`~agn_saliency.learn.kernels.KernelTransformer` step (the
pipelines of :func:`~agn_saliency.learn.classify.build_pipeline`, ``ensemble=False``), whose support
vectors are the kernel step's rows ``SVC.support_``; or a fitted ``GridSearchCV`` of such a
pipeline. Only public attributes are read: ``SVC.dual_coef_``, ``support_``, ``intercept_``,
``gamma`` (a number, or ``"auto"``; ``"scale"`` needs the kernel step, which resolves it as
``gamma_``), and the calibrators' ``a_``/``b_``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.calibration import CalibratedClassifierCV
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.svm import SVC, LinearSVC

from agn_saliency.learn.kernels import KernelTransformer, int_power, kernel_matrix, squared_distances

CHUNK_ELEMENTS = 1 << 22
"""Upper bound on spectra x classes x support vectors held at once (sets the chunk of spectra)."""


@dataclass(frozen=True)
class DecisionFunctions:
    """Differentiable SVM decision functions ``f_j(z) = Σ_i dual[j, i] K(sv_i, z) + intercept[j]``.

    ``coef`` (n_decisions, n_features) replaces the support vectors for the linear kernel;
    ``rows`` are the support vectors' indices in the training rows, where known (precomputed kernel).
    """

    kernel: str
    intercept: np.ndarray
    coef: np.ndarray | None = None
    support_vectors: np.ndarray | None = None
    dual_coef: np.ndarray | None = None
    gamma: float = 1.0
    degree: int = 3
    coef0: float = 0.0
    rows: np.ndarray | None = None

    @property
    def n_support(self) -> int:
        """Number of support vectors (0 when collapsed to weight vectors)."""
        return 0 if self.support_vectors is None else self.support_vectors.shape[0]


@dataclass(frozen=True)
class CalibratedMember:
    """Decision functions, their sigmoids and the probability column each one feeds."""

    decisions: DecisionFunctions
    a: np.ndarray
    b: np.ndarray
    columns: np.ndarray


@dataclass(frozen=True)
class SmoothModel:
    """A fitted pipeline reduced to what its probabilities and their gradients need.

    ``z = (x - offset) * factor``; ``p`` is the mean over ``members`` (one unless an ensemble).
    """

    offset: np.ndarray
    factor: np.ndarray
    members: tuple[CalibratedMember, ...]
    n_classes: int
    classes: np.ndarray

    @cached_property
    def flux_spaces(self) -> tuple[_FluxSpace, ...]:
        """Each member's decision functions rewritten for raw flux, made once per model (a
        deletion curve asks for probabilities hundreds of times)."""
        return tuple(_flux_space(m, self.offset, self.factor) for m in self.members)

    @cached_property
    def single_precision_support(self) -> tuple[tuple[np.ndarray, np.ndarray] | None, ...]:
        """Per member, its support vectors and their squared norms in float32 (None for linear members)."""
        return tuple(
            None
            if p.coef is not None
            else (p.member.decisions.support_vectors.astype(np.float32), p.sv_sq_norms.astype(np.float32))
            for p in self.flux_spaces
        )


# --------------------------------------------------------------------------------------------
# Model extraction
# --------------------------------------------------------------------------------------------


def _collapse(decisions: DecisionFunctions) -> DecisionFunctions:
    """Linear kernel: replace the support vectors by weight vectors."""
    if decisions.kernel != "linear" or decisions.coef is not None:
        return decisions
    assert decisions.dual_coef is not None and decisions.support_vectors is not None
    coef = decisions.dual_coef @ decisions.support_vectors
    return DecisionFunctions(kernel="linear", intercept=decisions.intercept, coef=coef)


def _svc_gamma(svm: SVC) -> float:
    """The kernel coefficient of a fitted SVC from its public parameters."""
    if isinstance(svm.gamma, str):
        if svm.gamma == "auto":
            return 1.0 / svm.n_features_in_
        raise ValueError(
            f"SVC(gamma={svm.gamma!r}) resolves gamma from training data it does not keep; give gamma as a "
            "number, or put a KernelTransformer step before SVC(kernel='precomputed') (build_pipeline does)"
        )
    return float(svm.gamma)


def _from_svc(svm: Any, kernel_step: KernelTransformer | None = None) -> DecisionFunctions:
    """Decision function of a fitted two-class SVC or LinearSVC.

    An ``SVC(kernel="precomputed")`` needs the pipeline's ``kernel_step``: its support vectors are
    the rows ``support_`` of ``kernel_step.X_fit_``, its kernel is the step's.
    """
    if isinstance(svm, LinearSVC):
        if svm.coef_.shape[0] != 1:
            raise ValueError("a multi-class LinearSVC inside the calibration is not supported; wrap it in OneVsRestClassifier")
        return DecisionFunctions("linear", np.asarray(svm.intercept_, float).ravel(), coef=np.asarray(svm.coef_, float))
    if isinstance(svm, SVC):
        if len(svm.classes_) != 2:
            raise ValueError(
                "a multi-class SVC decides by one-vs-one votes, which is not differentiable; "
                "use OneVsRestClassifier(SVC(...)) (build_pipeline does)"
            )
        if svm.kernel == "precomputed":
            if kernel_step is None:
                raise ValueError("SVC(kernel='precomputed') is only supported behind a KernelTransformer step")
            if svm.shape_fit_[0] != kernel_step.X_fit_.shape[0]:
                raise ValueError(
                    f"the SVC was fitted on {svm.shape_fit_[0]} rows but the kernel step holds "
                    f"{kernel_step.X_fit_.shape[0]} (an ensemble of calibration folds is not supported)"
                )
            dec = DecisionFunctions(
                kernel=kernel_step.kernel,
                intercept=np.asarray(svm.intercept_, float).ravel(),
                support_vectors=kernel_step.X_fit_[svm.support_],
                dual_coef=np.asarray(svm.dual_coef_, float),
                gamma=float(kernel_step.gamma_),
                degree=int(kernel_step.degree),
                coef0=float(kernel_step.coef0),
                rows=np.asarray(svm.support_),
            )
            return _collapse(dec)
        if svm.kernel not in ("linear", "rbf", "poly"):
            raise ValueError(f"SVC kernel {svm.kernel!r} is not supported (linear, rbf, poly)")
        dec = DecisionFunctions(
            kernel=svm.kernel,
            intercept=np.asarray(svm.intercept_, float).ravel(),
            support_vectors=np.asarray(svm.support_vectors_, float),
            dual_coef=np.asarray(svm.dual_coef_, float),
            gamma=_svc_gamma(svm) if svm.kernel != "linear" else 1.0,
            degree=int(svm.degree),
            coef0=float(svm.coef0),
        )
        return _collapse(dec)
    raise ValueError(f"unsupported SVM {type(svm).__name__}; expected SVC or LinearSVC")


def _from_estimator(est: Any, kernel_step: KernelTransformer | None = None) -> DecisionFunctions:
    """Decision functions of a binary SVM or of a one-vs-rest ensemble of them."""
    if isinstance(est, OneVsRestClassifier):
        parts = [_from_svc(e, kernel_step) for e in est.estimators_]
        kernels = {p.kernel for p in parts}
        if len(kernels) != 1:
            raise ValueError("one-vs-rest members with different kernels are not supported")
        intercept = np.concatenate([p.intercept for p in parts])
        coefs = [p.coef for p in parts if p.coef is not None]
        if len(coefs) == len(parts):
            return DecisionFunctions("linear", intercept, coef=np.vstack(coefs))
        params = {(p.gamma, p.degree, p.coef0) for p in parts}
        if len(params) != 1:
            raise ValueError("one-vs-rest members with different kernel parameters are not supported")
        blocks = [
            (p.support_vectors, p.dual_coef, p.rows) for p in parts if p.support_vectors is not None and p.dual_coef is not None
        ]
        if len(blocks) != len(parts):
            raise ValueError("one-vs-rest members mix linear weight vectors and support vectors")
        first = parts[0]
        if kernel_step is not None and all(b[2] is not None for b in blocks):
            # Shared training rows: one support vector per row, each member's coefficients on it.
            rows = np.unique(np.concatenate([b[2] for b in blocks]))
            where = np.full(kernel_step.X_fit_.shape[0], -1)
            where[rows] = np.arange(rows.size)
            dual = np.zeros((len(parts), rows.size))
            for j, (_, coefs_j, rows_j) in enumerate(blocks):
                dual[j, where[rows_j]] = coefs_j[0]
            return DecisionFunctions(
                first.kernel,
                intercept,
                support_vectors=kernel_step.X_fit_[rows],
                dual_coef=dual,
                gamma=first.gamma,
                degree=first.degree,
                coef0=first.coef0,
                rows=rows,
            )
        # Stack the support vectors of every member; each member's dual coefficients on its own block.
        sv = np.vstack([b[0] for b in blocks])
        dual = np.zeros((len(parts), sv.shape[0]))
        start = 0
        for j, (vectors, coefs_j, _) in enumerate(blocks):
            dual[j, start : start + vectors.shape[0]] = coefs_j[0]
            start += vectors.shape[0]
        return DecisionFunctions(
            first.kernel, intercept, support_vectors=sv, dual_coef=dual, gamma=first.gamma, degree=first.degree, coef0=first.coef0
        )
    return _from_svc(est, kernel_step)


def _members_of_calibrated_cv(
    model: CalibratedClassifierCV, kernel_step: KernelTransformer | None = None
) -> tuple[CalibratedMember, ...]:
    if model.method != "sigmoid":
        raise ValueError(f"only sigmoid calibration is differentiable, got method={model.method!r}")
    classes = model.classes_
    members = []
    for cc in model.calibrated_classifiers_:
        dec = _from_estimator(cc.estimator, kernel_step)
        a = np.array([float(c.a_) for c in cc.calibrators])
        b = np.array([float(c.b_) for c in cc.calibrators])
        if len(classes) == 2:
            columns = np.array([1])
        else:
            columns = LabelEncoder().fit(classes).transform(cc.estimator.classes_)
        if a.size != dec.intercept.size or columns.size != a.size:
            raise ValueError("calibrators and decision functions do not match")
        members.append(CalibratedMember(dec, a, b, np.asarray(columns)))
    return tuple(members)


def smooth_model(model: Any) -> SmoothModel:
    """Reduce a fitted model to its scaler affine map and calibrated decision functions.

    Parameters
    ----------
    model
        Fitted ``GridSearchCV`` (its ``best_estimator_``), ``Pipeline`` of ``StandardScaler``
        steps ending in a supported classifier, or the classifier itself (see module docstring).

    Returns
    -------
    SmoothModel

    Raises
    ------
    ValueError
        For an unfitted or unsupported model.
    """
    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    steps = [s for _, s in model.steps] if isinstance(model, Pipeline) else [model]
    *transforms, clf = steps
    offset: np.ndarray | float = 0.0
    factor: np.ndarray | float = 1.0
    kernel_step: KernelTransformer | None = None
    for i, t in enumerate(transforms):
        if t is None or t == "passthrough":
            continue
        if isinstance(t, KernelTransformer):
            if i != len(transforms) - 1:
                raise ValueError("the KernelTransformer must be the last step before the classifier")
            if not hasattr(t, "X_fit_"):
                raise ValueError("the pipeline's KernelTransformer is not fitted")
            kernel_step = t
            continue
        if not isinstance(t, StandardScaler):
            raise ValueError(
                f"unsupported pipeline step {type(t).__name__}; only StandardScaler (then KernelTransformer) is differentiated"
            )
        if not hasattr(t, "n_features_in_"):
            raise ValueError("the pipeline's StandardScaler is not fitted")
        # z' = (z - m)/s with z = (x - offset) * factor  →  z' = (x - offset - m/factor) * factor/s
        # StandardScaler(with_mean=False) still fits mean_ (for the variance) but does not subtract it.
        mean = t.mean_ if t.with_mean and t.mean_ is not None else 0.0
        scale = t.scale_ if t.with_std and t.scale_ is not None else 1.0
        offset = offset + mean / factor
        factor = factor / scale
    if isinstance(clf, CalibratedClassifierCV):
        if not hasattr(clf, "calibrated_classifiers_"):
            raise ValueError("the CalibratedClassifierCV is not fitted")
        members = _members_of_calibrated_cv(clf, kernel_step)
        n_features = kernel_step.n_features_in_ if kernel_step is not None else clf.n_features_in_
    else:
        raise ValueError(
            f"unsupported model {type(clf).__name__}: saliency needs CalibratedClassifierCV(method='sigmoid') "
            "around SVC/LinearSVC/OneVsRestClassifier (optionally behind a KernelTransformer)"
        )
    offset = np.broadcast_to(np.asarray(offset, float), (n_features,)).copy()
    factor = np.broadcast_to(np.asarray(factor, float), (n_features,)).copy()
    classes = np.asarray(clf.classes_)
    return SmoothModel(offset, factor, members, len(classes), classes)


# --------------------------------------------------------------------------------------------
# Forward pass and gradient
# --------------------------------------------------------------------------------------------

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


@dataclass(frozen=True)
class _FluxSpace:
    """One member's decision functions rewritten for raw flux (scaler folded in where possible).

    linear: ``f = x @ coef.T + intercept`` with ``coef = w ⊙ factor`` (the scaler folded in);
    kernels: ``z = (x - offset) ⊙ factor`` is still formed, and ``basis = sv ⊙ factor`` turns
    ∂/∂z products into ∂/∂x products without an extra pass over the output.
    """

    member: CalibratedMember
    coef: np.ndarray | None
    intercept: np.ndarray
    basis: np.ndarray | None
    sv_sq_norms: np.ndarray | None
    factor: np.ndarray


def _flux_space(member: CalibratedMember, offset: np.ndarray, factor: np.ndarray) -> _FluxSpace:
    dec = member.decisions
    if dec.coef is not None:
        coef = dec.coef * factor
        return _FluxSpace(member, coef, dec.intercept - coef @ offset, None, None, factor)
    sv = dec.support_vectors
    assert sv is not None
    return _FluxSpace(member, None, dec.intercept, sv * factor, np.einsum("ij,ij->i", sv, sv), factor)


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


def _support_weights(
    prep: _FluxSpace, z: np.ndarray, n_classes: int, output: str = "probability"
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Probabilities of one kernel member at scaled points ``z``, and ∂output/∂x as what
    :func:`_weights_to_flux` turns into pixels: the support-vector weights and, for rbf, their
    ``z`` term (``None`` otherwise)."""
    dec = prep.member.decisions
    sv, dual = dec.support_vectors, dec.dual_coef
    assert sv is not None and dual is not None
    gram = z @ sv.T
    # rbf: |z - sv|² formed as kernel_matrix (and so predict_proba) forms it
    sq_dist = squared_distances(z, sv, prep.sv_sq_norms, gram=gram) if dec.kernel == "rbf" else None
    kern, dkern = _kernel_terms(dec, gram, sq_dist)
    proba, jac = _output_jacobian(prep.member, kern @ dual.T + prep.intercept, n_classes, output)
    # Probabilities sum to one, so their gradients sum to zero: only the first n_classes - 1
    # class gradients go through the (n·(C-1), n_sv) @ (n_sv, n_pixels) product, the last is
    # minus their sum (a third less work for three classes, half for two). Log-odds have no
    # such constraint: every class is pushed through.
    pushed = jac[:, :-1] if output == "probability" else jac
    weights = (pushed @ dual) * dkern[:, None, :]
    z_weighted = weights.sum(axis=2)[:, :, None] * (z * prep.factor)[:, None, :] if dec.kernel == "rbf" else None
    return proba, weights, z_weighted


def _member_forward(
    prep: _FluxSpace, x: np.ndarray, z: np.ndarray | None, n_classes: int, out: np.ndarray, output: str = "probability"
) -> np.ndarray:
    """Probabilities of one member for a chunk of spectra; writes the output's ∂/∂x into ``out``.

    ``output``: ``"probability"`` (∂p/∂x) or ``"log_odds"`` (∂ log(p/(1-p))/∂x, see
    :func:`_log_odds_jacobian`).
    """
    member = prep.member
    if prep.coef is not None:
        proba, jac = _output_jacobian(member, x @ prep.coef.T + prep.intercept, n_classes, output)
        np.matmul(jac, prep.coef, out=out)
        return proba
    assert z is not None
    proba, weights, z_weighted = _support_weights(prep, z, n_classes, output)
    part = _weights_to_flux(prep, weights, z_weighted)
    if output != "probability":
        out[:] = part
        return proba
    out[:, :-1] = part
    np.sum(part, axis=1, out=out[:, -1])
    np.negative(out[:, -1], out=out[:, -1])
    return proba


def check_flux(flux: Any, n_features: int) -> np.ndarray:
    """``flux`` as a float64 (n_spectra, n_features) array, or a ``ValueError`` saying what is wrong
    (not numeric, wrong shape, non-finite values in which spectra)."""
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
    sm: SmoothModel, x: np.ndarray, chunk_size: int | None = None, output: str = "probability"
) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities (n, C) and ∂output/∂x (n, C, P) of checked flux, chunk by chunk (see _member_forward)."""
    n, p = x.shape
    chunk_size = _chunk_size(sm, chunk_size)
    proba = np.zeros((n, sm.n_classes))
    sal = np.zeros((n, sm.n_classes, p)) if len(sm.members) > 1 else np.empty((n, sm.n_classes, p))
    preps = sm.flux_spaces
    needs_z = any(prep.coef is None for prep in preps)
    scratch = np.empty((min(chunk_size, n), sm.n_classes, p)) if len(preps) > 1 else None
    for start in range(0, n, chunk_size):
        rows = slice(start, min(n, start + chunk_size))
        xc = x[rows]
        z = (xc - sm.offset) * sm.factor if needs_z else None
        if len(preps) == 1:
            proba[rows] = _member_forward(preps[0], xc, z, sm.n_classes, sal[rows], output)
            continue
        # Ensembles (CalibratedClassifierCV(ensemble=True)): the mean of the members.
        assert scratch is not None
        buf = scratch[: xc.shape[0]]
        for prep in preps:
            proba[rows] += _member_forward(prep, xc, z, sm.n_classes, buf, output) / len(preps)
            buf /= len(preps)
            sal[rows] += buf
    return _clip_probabilities(proba), sal


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
    """
    if precision not in ("double", "single"):
        raise ValueError(f"precision must be 'double' or 'single', got {precision!r}")
    sm = model if isinstance(model, SmoothModel) else smooth_model(model)
    return _probabilities(sm, check_flux(flux, sm.offset.size), chunk_size, single=precision == "single")


def probabilities_and_saliency(model: Any, flux: Any, chunk_size: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities and their exact gradients with respect to the input flux.

    Parameters
    ----------
    model
        Fitted pipeline / search / classifier (see :func:`smooth_model`).
    flux : array-like of shape (n_spectra, n_pixels)
        Flux exactly as the model's ``predict_proba`` receives it.
    chunk_size : int, optional
        Spectra per block (default: bounded by ``CHUNK_ELEMENTS``).

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
    sm = smooth_model(model)
    x = check_flux(flux, sm.offset.size)
    return _gradients(sm, x, chunk_size)


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


# --------------------------------------------------------------------------------------------
# Attribution methods
# --------------------------------------------------------------------------------------------

ATTRIBUTION_METHODS = ("gradient", "logit_gradient", "gradient_x_input", "integrated_gradients", "smoothgrad")
"""Methods of :func:`attribute`."""

_METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "gradient": {"chunk_size": None},
    "logit_gradient": {"chunk_size": None},
    "gradient_x_input": {"chunk_size": None},
    "integrated_gradients": {"n_steps": 32, "tolerance": 1e-6, "max_steps": 512, "chunk_size": None},
    "smoothgrad": {"noise": 0.1, "n_samples": 32, "seed": 0, "chunk_size": None},
}
"""Options of every method and their defaults."""


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
) -> np.ndarray:
    """``Σ_m w_m ∂p/∂x (x0 + α_m dx)`` (n, C, P) of one member: the quadrature of the IG integral.

    ``z0`` is the baseline in scaled space (kernels only). Along the path the decision values
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
    gram0, gram1 = z0 @ sv.T, dz @ sv.T
    rbf = dec.kernel == "rbf"
    if rbf:
        # |z(α) - sv|² = (|z0|² + 2α⟨z0, dz⟩ + α²|dz|²) + |sv|² - 2(⟨z0, sv⟩ + α⟨dz, sv⟩)
        zz, zd, dd = (np.einsum("ij,ij->i", a, b)[:, None] for a, b in ((z0, z0), (z0, dz), (dz, dz)))
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
            sq_dist += prep.sv_sq_norms
        kern, dkern = _kernel_terms(dec, gram, sq_dist)
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


def _integrated_gradients(sm: SmoothModel, x: np.ndarray, x0: np.ndarray, n_steps: int, chunk_size: int) -> np.ndarray:
    """IG (n, C, P) with ``n_steps`` Gauss–Legendre nodes on [0, 1], chunk by chunk."""
    nodes, node_weights = np.polynomial.legendre.leggauss(n_steps)
    alphas, weights = 0.5 * (nodes + 1.0), 0.5 * node_weights
    preps = sm.flux_spaces
    out = np.zeros((x.shape[0], sm.n_classes, x.shape[1]))
    for start in range(0, x.shape[0], chunk_size):
        rows = slice(start, min(x.shape[0], start + chunk_size))
        base, dx = x0[rows], x[rows] - x0[rows]
        z0 = (base - sm.offset) * sm.factor
        for prep in preps:  # an ensemble's probability is the mean of its members'
            out[rows] += _member_path_integral(prep, base, dx, z0, alphas, weights, sm.n_classes) / len(preps)
        out[rows] *= dx[:, None, :]
    return out


class _GradientSum:
    """Running sum of one member's ∂p/∂x over many points, kept as the weights of what the gradient
    is a combination of: the decision functions' Jacobian (linear) or the support vectors (plus the
    point itself for rbf). :meth:`total` pushes the summed weights through the (n·(C-1), n_sv) @
    (n_sv, P) product once, instead of once per point (as the IG quadrature does)."""

    def __init__(self, prep: _FluxSpace, n: int, n_classes: int, n_pixels: int) -> None:
        self.prep, self.n_classes = prep, n_classes
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
        _, weights, z_weighted = _support_weights(prep, z, self.n_classes)
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


def _smoothgrad(sm: SmoothModel, x: np.ndarray, noise: float, n_samples: int, seed: int, chunk_size: int) -> np.ndarray:
    """Mean ∂p/∂x (n, C, P) at ``n_samples`` noisy copies, copy ``j`` being ``x + ε_j`` with
    ``ε_j = default_rng(seed).standard_normal(x.shape) · noise·(max x - min x)`` drawn in turn.

    Per member, the gradient weights of all copies are summed before the one product that turns
    them into pixels (:class:`_GradientSum`): half the time of a full gradient per copy (embedded
    sample, multiclass rbf: 2.7 vs 5.5 s)."""
    rng = np.random.default_rng(seed)
    sigma = noise * (x.max(axis=1) - x.min(axis=1))
    preps = sm.flux_spaces
    sums = [_GradientSum(prep, x.shape[0], sm.n_classes, x.shape[1]) for prep in preps]
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
    """Per spectrum: max_k |Σ_j A_kj - Δp_k| / max(max_k |Δp_k|, 1e-12)."""
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


def _check_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """Method options with defaults filled in and values checked."""
    if method not in _METHOD_OPTIONS:
        raise ValueError(f"unknown attribution method {method!r}; expected one of {list(ATTRIBUTION_METHODS)}")
    valid = _METHOD_OPTIONS[method]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; valid options: {sorted(valid)}")
    opts = {**valid, **options}

    def positive_int(name: str) -> int:
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        return int(value)

    def non_negative(name: str) -> float:
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        return float(value)

    if method == "integrated_gradients":
        opts["n_steps"], opts["max_steps"] = positive_int("n_steps"), positive_int("max_steps")
        opts["tolerance"] = non_negative("tolerance")
        if opts["max_steps"] < opts["n_steps"]:
            raise ValueError(f"max_steps ({opts['max_steps']}) must be >= n_steps ({opts['n_steps']})")
    if method == "smoothgrad":
        opts["n_samples"] = positive_int("n_samples")
        opts["noise"] = non_negative("noise")
    return opts


def attribute(model: Any, flux: Any, method: str, *, target: Any = None, baseline: Any = None, **options: Any) -> np.ndarray:
    """Exact attribution maps of the class probabilities to the input flux, by one of five methods.

    Every method is built from analytic gradients of the smooth model (see the module
    docstring; no finite differences) and handles all spectra at once. With ``p_k(x)`` the
    calibrated probability of class ``k`` and ``x`` one spectrum:

    ``gradient``
        ``∂p_k/∂x_j`` — the paper's saliency (:func:`probabilities_and_saliency`).
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
    **options
        ``chunk_size`` (every method; spectra per block, default bounded by ``CHUNK_ELEMENTS``);
        ``integrated_gradients``: ``n_steps=32`` (Captum's name: quadrature nodes of the first
        pass), ``tolerance=1e-6`` (completeness error allowed; ``float("inf")`` keeps the first
        pass), ``max_steps=512``; ``smoothgrad``: ``noise=0.1``, ``n_samples=32``, ``seed=0``.

    Returns
    -------
    ndarray, float64
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
    opts = _check_options(method, options)
    if baseline is not None and method != "integrated_gradients":
        raise ValueError(f"baseline is only used by integrated_gradients, not {method!r}")
    sm = smooth_model(model)
    x = check_flux(flux, sm.offset.size)
    n = x.shape[0]
    rows = None if target is None else _target_indices(target, sm.classes, n)
    chunk_size = _chunk_size(sm, opts["chunk_size"])
    if method in ("gradient", "gradient_x_input"):
        maps = _gradients(sm, x, chunk_size)[1]
        if method == "gradient_x_input":
            maps *= x[:, None, :]
    elif method == "logit_gradient":
        if len(sm.members) == 1:
            maps = _gradients(sm, x, chunk_size, output="log_odds")[1]
        else:
            proba, maps = _gradients(sm, x, chunk_size)
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
        maps = _integrated_gradients(sm, x, x0, opts["n_steps"], chunk_size)
        delta = _probabilities(sm, x, chunk_size) - _probabilities(sm, np.ascontiguousarray(x0), chunk_size)
        error = _completeness(maps, delta)
        steps = opts["n_steps"]
        # Only the spectra that miss the tolerance pay for finer quadrature.
        while steps < opts["max_steps"] and np.any(error > opts["tolerance"]):
            steps = min(2 * steps, opts["max_steps"])
            redo = np.flatnonzero(error > opts["tolerance"])
            maps[redo] = _integrated_gradients(sm, x[redo], x0[redo], steps, chunk_size)
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
        maps = _smoothgrad(sm, x, opts["noise"], opts["n_samples"], opts["seed"], chunk_size)
    if rows is None:
        return maps
    return maps[np.arange(n), rows]
