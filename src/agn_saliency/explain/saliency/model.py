"""A fitted pipeline reduced to what its probabilities and their gradients need (:func:`smooth_model`).

For ``x → z = (x - μ)/σ → f(z) (SVM decision values) → p(f) (sigmoid calibration)`` the scalers
become one affine map (``offset``, ``factor``), each SVM its :class:`DecisionFunctions` (linear
ones collapsed to weight vectors) and each calibrated member its Platt sigmoids
(:class:`CalibratedMember`).

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

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # imported where a fitted scikit-learn model is reduced: a served model needs none of it
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.svm import SVC

    from agn_saliency.learn.kernels import KernelTransformer


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


@dataclass(frozen=True)
class ServedModel:
    """A fitted model as predict serves it: its :class:`SmoothModel`, and what the OOD scores read of the
    pipeline (:mod:`agn_saliency.predict.ood`), as arrays; made by :func:`served_model`, stored by
    :mod:`agn_saliency.explain.served`. Every function that takes a fitted model for its
    probabilities, maps or OOD scores takes this in its place, with the same results, without scikit-learn.
    """

    smooth: SmoothModel
    train: np.ndarray | None
    """The kernel step's training rows ``X_fit_`` (the OOD scores' neighbours); None without a kernel step."""
    scalers: tuple[tuple[np.ndarray | None, np.ndarray | None], ...]
    """Each ``StandardScaler`` step before the kernel step: ``mean_`` (None when it does not centre) and
    ``scale_`` (None when it does not scale), applied as its ``transform`` applies them."""

    @property
    def classes_(self) -> np.ndarray:
        """The classes in the model's own order (``model.classes_``)."""
        return self.smooth.classes

    @property
    def n_features_in_(self) -> int:
        """Pixels a spectrum must have."""
        return int(self.smooth.offset.size)

    def scale(self, x: np.ndarray) -> np.ndarray:
        """The pipeline's steps before the kernel applied to ``x`` (float64, 2-D): ``x - mean_`` then
        ``/ scale_`` in place on a copy, as ``StandardScaler.transform`` computes them (the same numbers)."""
        out = np.array(x, dtype=np.float64, copy=True)
        for mean, scale in self.scalers:
            if mean is not None:
                out -= mean
            if scale is not None:
                out /= scale
        return out


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
    from sklearn.svm import SVC, LinearSVC

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
    from sklearn.multiclass import OneVsRestClassifier

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
    from sklearn.preprocessing import LabelEncoder

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
        steps ending in a supported classifier, or the classifier itself (see the module docstring).

    Returns
    -------
    SmoothModel

    Raises
    ------
    ValueError
        For an unfitted or unsupported model.
    """
    if isinstance(model, SmoothModel):
        return model
    if isinstance(model, ServedModel):
        return model.smooth
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    from agn_saliency.learn.kernels import KernelTransformer

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


_LAST_SMOOTH: list[tuple[tuple[Any, ...], SmoothModel]] = []
"""The last model :func:`smooth_model_of` reduced: its fitted state (strong references) and its smooth model."""


def _fitted_state(model: Any) -> tuple[Any, ...]:
    """The model (a search's ``best_estimator_``) and every fitted attribute (``name_``) of its steps:
    a refit replaces them with new objects, so comparing them by identity tells whether it was refitted."""
    from sklearn.pipeline import Pipeline

    estimator = model.best_estimator_ if hasattr(model, "best_estimator_") else model
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    fitted = [
        value
        for step in steps
        if hasattr(step, "__dict__")
        for name, value in sorted(vars(step).items())
        if name.endswith("_") and not name.startswith("_")
    ]
    return (model, estimator, *fitted)


def smooth_model_of(model: Any) -> SmoothModel:
    """:func:`smooth_model`, kept for the last model it was asked for: predict asks for the same
    model's chunk after chunk (the reduction copies every support vector, ~0.1 s for the default
    model's 2358). A model refitted since (any fitted attribute of a step replaced) is reduced again;
    a :class:`SmoothModel` is returned as it is, a :class:`ServedModel`'s own."""
    if isinstance(model, SmoothModel):
        return model
    if isinstance(model, ServedModel):
        return model.smooth
    state = _fitted_state(model)
    if _LAST_SMOOTH:
        last_state, last = _LAST_SMOOTH[0]
        if len(last_state) == len(state) and all(a is b for a, b in zip(last_state, state)):
            return last
    smooth = smooth_model(model)
    _LAST_SMOOTH[:] = [(state, smooth)]
    return smooth


def served_model(model: Any) -> ServedModel:
    """``model`` (a fitted model :func:`smooth_model` accepts) as predict serves it: its smooth model,
    the kernel step's training rows and the scalers before that step (see :class:`ServedModel`).

    Raises
    ------
    ValueError
        As :func:`smooth_model`, for an unfitted or unsupported model.
    """
    if isinstance(model, ServedModel):
        return model
    from sklearn.pipeline import Pipeline

    from agn_saliency.learn.kernels import KernelTransformer

    smooth = smooth_model(model)
    estimator = model.best_estimator_ if hasattr(model, "best_estimator_") else model
    steps = [step for _, step in estimator.steps] if isinstance(estimator, Pipeline) else [estimator]
    kernels = [i for i, step in enumerate(steps) if isinstance(step, KernelTransformer)]
    last = kernels[0] if kernels else len(steps) - 1  # the steps before the kernel (or the classifier)
    # smooth_model accepted the pipeline: every one of them is a fitted StandardScaler (or passthrough)
    scalers = tuple(
        (step.mean_ if step.with_mean else None, step.scale_ if step.with_std else None)
        for step in steps[:last]
        if step is not None and not (isinstance(step, str) and step == "passthrough")
    )
    return ServedModel(smooth, steps[kernels[0]].X_fit_ if kernels else None, scalers)
