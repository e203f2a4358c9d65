"""Grid-searched SVM pipelines with smooth, exactly differentiable probability models.

The model of every task and kernel is ``Pipeline([("scale", StandardScaler()),
("svm", CalibratedKernelSVC(...))])``:

* ``scale`` centres every pixel on the mean of the rows the pipeline is fitted on (inside
  ``GridSearchCV`` that is the training folds only) and, with ``scale_variance=True``, divides
  by their standard deviation. Centring only is the default: the spectra are already on one
  flux scale (normalised at 5100 Å), and dividing by each pixel's spread inflates
  noise-dominated continuum pixels to the weight of the emission lines. On the embedded sample
  that lowered the validation macro F1 (multiclass, RBF: 0.935 centred vs 0.910 standardised)
  and spread the saliency over noise instead of the lines (README, "Choices");
* ``svm`` is a kernel SVM with a sigmoid (Platt) probability model, one-vs-rest for more than two
  classes. ``SVC(probability=True)`` is deprecated in scikit-learn 1.9 (removed in 1.11) and
  ``SVC``'s own multi-class decision function is built from one-vs-one votes, which is not smooth;
  one-vs-rest decision functions, each mapped through its own sigmoid and normalised over the
  classes, are smooth and their gradient with respect to the flux is exact (see
  :mod:`agn_saliency.saliency`).

``CalibratedKernelSVC`` computes exactly what
``CalibratedClassifierCV(OneVsRestClassifier(SVC(kernel=...)), method="sigmoid", ensemble=False,
cv=StratifiedKFold(calibration_folds, shuffle=True, random_state=seed))`` computes (a single
``SVC`` in the two-class case), but evaluates the kernel matrix of the training rows once per fit,
with BLAS, and hands its blocks to libsvm as a precomputed kernel for all
``(calibration_folds + 1) x n_decisions`` SVM fits a calibrated fit needs. That makes a fit about
seven times faster than the composite estimator on 1360 x 1000 spectra (see
``benchmarks/saliency.py`` and the module's tests, which check the two give the same
probabilities).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import expit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from .dataset import task_classes  # noqa: F401  (re-exported: the tasks' classes, display order)

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def validate_data(estimator: Any, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
        """Fallback to the estimator method of scikit-learn < 1.6."""
        return estimator._validate_data(X, y, **kwargs)


KERNELS: dict[str, dict[str, Any]] = {
    "linear": {"kernel": "linear"},
    "rbf": {"kernel": "rbf"},
    "poly2": {"kernel": "poly", "degree": 2},
    "poly3": {"kernel": "poly", "degree": 3},
}
"""Kernel names of the configuration and the SVM parameters each one fixes."""

GRID_KEYS: dict[str, tuple[str, ...]] = {
    "linear": ("C", "class_weight"),
    "rbf": ("C", "gamma", "class_weight"),
    "poly": ("C", "gamma", "coef0", "class_weight"),
}
"""Hyper-parameters a configuration grid may tune, per SVM kernel."""

POLY_COEF0 = 1.0
"""Default ``coef0`` of the polynomial kernels: (γ⟨x, x'⟩ + 1)^d keeps every lower-order term
(libsvm's default 0 would make a degree-2 kernel purely quadratic and degree 3 purely cubic)."""

STEP_SCALE = "scale"
STEP_SVM = "svm"
TIMING_COLUMNS = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


# --------------------------------------------------------------------------------------------
# Kernels and Platt scaling
# --------------------------------------------------------------------------------------------


def int_power(base: np.ndarray, exponent: int) -> np.ndarray:
    """``base ** exponent`` for a small non-negative integer exponent, by multiplication.

    Several times faster than ``np.power`` for exponents other than 2 (which calls ``pow``).
    """
    if exponent == 0:
        return np.ones_like(base)
    out = base.copy()
    for _ in range(exponent - 1):
        out *= base
    return out


def kernel_matrix(
    a: np.ndarray,
    b: np.ndarray,
    kernel: str,
    gamma: float = 1.0,
    degree: int = 3,
    coef0: float = 0.0,
    b_sq_norms: np.ndarray | None = None,
) -> np.ndarray:
    """Kernel matrix ``K[i, j] = k(a_i, b_j)`` with libsvm's kernel definitions.

    Parameters
    ----------
    a : ndarray of shape (n_a, n_features)
    b : ndarray of shape (n_b, n_features)
    kernel : {"linear", "rbf", "poly"}
        ``linear``: ⟨a, b⟩; ``rbf``: exp(-γ |a - b|²); ``poly``: (γ ⟨a, b⟩ + coef0)^degree.
    gamma, degree, coef0
        Kernel parameters (ignored where the kernel has none).
    b_sq_norms : ndarray of shape (n_b,), optional
        Precomputed ``(b * b).sum(1)`` (rbf only), to save work when ``b`` is reused.

    Returns
    -------
    ndarray of shape (n_a, n_b), float64
    """
    gram = a @ b.T
    if kernel == "linear":
        return gram
    if kernel == "poly":
        gram *= gamma
        gram += coef0
        return int_power(gram, degree) if degree != 1 else gram
    if kernel == "rbf":
        a_sq = np.einsum("ij,ij->i", a, a)
        b_sq = np.einsum("ij,ij->i", b, b) if b_sq_norms is None else b_sq_norms
        gram *= -2.0
        gram += a_sq[:, None]
        gram += b_sq[None, :]
        np.maximum(gram, 0.0, out=gram)
        gram *= -gamma
        return np.exp(gram, out=gram)
    raise ValueError(f"unknown kernel {kernel!r}; expected linear, rbf or poly")


def _platt_loss(decision: np.ndarray, target: np.ndarray, a: float, b: float) -> float:
    """Cross-entropy of p = 1 / (1 + exp(a f + b)) against soft targets (overflow-safe)."""
    z = a * decision + b
    return float(np.sum(np.where(z >= 0, target * z + np.log1p(np.exp(-np.abs(z))),
                                 (target - 1.0) * z + np.log1p(np.exp(-np.abs(z))))))


def fit_sigmoid(decision: np.ndarray, positive: np.ndarray, max_iter: int = 100) -> tuple[float, float]:
    """Platt's sigmoid ``p = 1 / (1 + exp(a f + b))`` fitted to decision values.

    Newton's method with backtracking of Lin, Lin & Weng (2007, Machine Learning 68, 267), as in
    libsvm, with Platt's smoothed targets (N₊ + 1)/(N₊ + 2) and 1/(N₋ + 2). The sign convention
    is scikit-learn's (``expit(-(a f + b))``), so a positive slope ``a`` is negative here when
    larger decision values mean the positive class.

    Parameters
    ----------
    decision : ndarray of shape (n,)
        Out-of-fold decision values.
    positive : ndarray of shape (n,), bool
        True where the sample belongs to the positive class.
    max_iter : int
        Newton iterations at most.

    Returns
    -------
    a, b : float
    """
    f = np.asarray(decision, dtype=np.float64)
    pos = np.asarray(positive, dtype=bool)
    n_pos = float(pos.sum())
    n_neg = float(pos.size - n_pos)
    target = np.where(pos, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))
    a, b = 0.0, float(np.log((n_neg + 1.0) / (n_pos + 1.0)))
    loss = _platt_loss(f, target, a, b)
    sigma, eps, min_step = 1e-12, 1e-5, 1e-10
    for _ in range(max_iter):
        z = a * f + b
        p = np.where(z >= 0, np.exp(-np.abs(z)) / (1.0 + np.exp(-np.abs(z))), 1.0 / (1.0 + np.exp(-np.abs(z))))
        d2 = p * (1.0 - p)
        h11 = sigma + float(np.dot(f * f, d2))
        h22 = sigma + float(d2.sum())
        h21 = float(np.dot(f, d2))
        d1 = target - p
        g1 = float(np.dot(f, d1))
        g2 = float(d1.sum())
        if max(abs(g1), abs(g2)) < eps:
            break
        det = h11 * h22 - h21 * h21
        da = -(h22 * g1 - h21 * g2) / det
        db = -(-h21 * g1 + h11 * g2) / det
        slope = g1 * da + g2 * db
        step = 1.0
        while step >= min_step:
            new_a, new_b = a + step * da, b + step * db
            new_loss = _platt_loss(f, target, new_a, new_b)
            if new_loss < loss + 1e-4 * step * slope:
                a, b, loss = new_a, new_b, new_loss
                break
            step /= 2.0
        else:
            break
    return a, b


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(z)), overflow-safe."""
    return expit(-z)


# --------------------------------------------------------------------------------------------
# The estimator
# --------------------------------------------------------------------------------------------


class CalibratedKernelSVC(ClassifierMixin, BaseEstimator):
    """Kernel SVM (one-vs-rest beyond two classes) with sigmoid-calibrated probabilities.

    Equivalent to ``CalibratedClassifierCV(OneVsRestClassifier(SVC(...)), method="sigmoid",
    ensemble=False, cv=StratifiedKFold(calibration_folds, shuffle=True,
    random_state=random_state))`` (one ``SVC`` when there are two classes), computed from a
    single precomputed kernel matrix per fit.

    Probabilities: with decision values ``f_k`` (one per class, one-vs-rest; a single ``f`` for
    ``classes_[1]`` when there are two classes) and per-decision sigmoids
    ``s_k = 1 / (1 + exp(a_k f_k + b_k))`` fitted on out-of-fold decision values,
    ``p = (1 - s, s)`` for two classes and ``p_k = s_k / Σ_j s_j`` otherwise.

    Parameters
    ----------
    C : float
        SVM penalty.
    kernel : {"linear", "rbf", "poly"}
    gamma : {"scale", "auto"} or float
        Kernel coefficient of rbf and poly; ``scale`` = 1 / (n_features · X.var()) of the rows
        given to ``fit`` (the same value for every calibration fold), ``auto`` = 1 / n_features.
    degree : int
        Degree of the poly kernel.
    coef0 : float
        Independent term of the poly kernel.
    class_weight : None, "balanced" or dict
        ``balanced`` balances each binary (one-vs-rest) problem, like
        ``OneVsRestClassifier(SVC(class_weight="balanced"))``; a dict {label: weight} weights
        every sample by its label's weight.
    calibration_folds : int
        Stratified folds that give the out-of-fold decision values the sigmoids are fitted on.
    random_state : int or None
        Seed of the calibration folds' shuffle.
    tol : float
        libsvm stopping tolerance.
    cache_size : float
        libsvm kernel cache (MB).
    max_iter : int
        libsvm iteration limit (-1: none).

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
    gamma_ : float
        The kernel coefficient actually used.
    support_vectors_ : ndarray of shape (n_sv, n_features)
        Union of the support vectors of every final (full-data) SVM.
    support_ : ndarray of shape (n_sv,)
        Their row indices in the training data.
    support_sq_norms_ : ndarray of shape (n_sv,)
        Squared norms of the support vectors (cached for the rbf kernel).
    dual_coef_ : ndarray of shape (n_decisions, n_sv)
        ``y_i α_i`` of every decision function (0 where a vector is not one of its support vectors).
    intercept_ : ndarray of shape (n_decisions,)
    coef_ : ndarray of shape (n_decisions, n_features)
        Weight vectors (linear kernel only): ``dual_coef_ @ support_vectors_``.
    sigmoid_a_, sigmoid_b_ : ndarray of shape (n_decisions,)
        Platt parameters of each decision function.
    n_iter_ : ndarray of shape (n_decisions,)
        libsvm iterations of the final SVMs.
    """

    def __init__(
        self,
        C: float = 1.0,
        kernel: str = "rbf",
        gamma: str | float = "scale",
        degree: int = 3,
        coef0: float = 0.0,
        class_weight: None | str | Mapping[Any, float] = None,
        calibration_folds: int = 3,
        random_state: int | None = None,
        tol: float = 1e-3,
        cache_size: float = 200.0,
        max_iter: int = -1,
    ) -> None:
        self.C = C
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.random_state = random_state
        self.tol = tol
        self.cache_size = cache_size
        self.max_iter = max_iter

    # ---- checks ------------------------------------------------------------------------------

    def _check_params(self, n_features: int, x_var: float) -> float:
        if self.kernel not in ("linear", "rbf", "poly"):
            raise ValueError(f"kernel must be linear, rbf or poly, got {self.kernel!r}")
        if not (isinstance(self.C, numbers.Real) and self.C > 0):
            raise ValueError(f"C must be a positive number, got {self.C!r}")
        if not (isinstance(self.calibration_folds, numbers.Integral) and self.calibration_folds >= 2):
            raise ValueError(f"calibration_folds must be an integer >= 2, got {self.calibration_folds!r}")
        if self.kernel == "poly" and not (isinstance(self.degree, numbers.Integral) and self.degree >= 1):
            raise ValueError(f"degree must be a positive integer, got {self.degree!r}")
        cw = self.class_weight
        if not (cw is None or cw == "balanced" or isinstance(cw, Mapping)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict, got {cw!r}")
        if self.gamma == "scale":
            return 1.0 / (n_features * x_var) if x_var > 0 else 1.0
        if self.gamma == "auto":
            return 1.0 / n_features
        if isinstance(self.gamma, numbers.Real) and not isinstance(self.gamma, bool) and self.gamma > 0:
            return float(self.gamma)
        raise ValueError(f"gamma must be 'scale', 'auto' or a positive number, got {self.gamma!r}")

    # ---- fitting -----------------------------------------------------------------------------

    def _kernel(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return kernel_matrix(a, b, self.kernel, self.gamma_, int(self.degree), float(self.coef0))

    def _binary_svm(self, gram: np.ndarray, positive: np.ndarray, weights: np.ndarray | None) -> SVC:
        svm = SVC(
            kernel="precomputed",
            C=float(self.C),
            class_weight="balanced" if self.class_weight == "balanced" else None,
            tol=self.tol,
            cache_size=self.cache_size,
            max_iter=self.max_iter,
        )
        return svm.fit(gram, positive.astype(np.int64), sample_weight=weights)

    def _positives(self, y_index: np.ndarray) -> list[np.ndarray]:
        """Positive-class mask of each decision function."""
        if len(self.classes_) == 2:
            return [y_index == 1]
        return [y_index == k for k in range(len(self.classes_))]

    def fit(self, X: Any, y: Any) -> CalibratedKernelSVC:
        """Fit the SVM(s) on all rows and their sigmoids on out-of-fold decision values.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : array-like of shape (n_samples,)

        Returns
        -------
        self
        """
        X, y = validate_data(self, X, y, dtype=np.float64, order="C")
        check_classification_targets(y)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"CalibratedKernelSVC needs at least two classes; got 1 class ({self.classes_[0]!r})")
        counts = np.bincount(y_index)
        self.gamma_ = self._check_params(X.shape[1], float(X.var()))
        if counts.min() < self.calibration_folds:
            raise ValueError(
                f"{self.calibration_folds} calibration folds need at least that many samples per "
                f"class; class {self.classes_[counts.argmin()]!r} has {counts.min()}"
            )
        weights = None
        if isinstance(self.class_weight, Mapping):
            weights = np.array([float(self.class_weight.get(c, 1.0)) for c in self.classes_])[y_index]

        gram = self._kernel(X, X)
        positives = self._positives(y_index)
        n_dec = len(positives)

        # Out-of-fold decision values for the calibration.
        oof = np.empty((X.shape[0], n_dec))
        folds = StratifiedKFold(self.calibration_folds, shuffle=True, random_state=self.random_state)
        for train, test in folds.split(X, y_index):
            gram_train = gram[np.ix_(train, train)]
            gram_test = gram[np.ix_(test, train)]
            w = None if weights is None else weights[train]
            for k, pos in enumerate(positives):
                svm = self._binary_svm(gram_train, pos[train], w)
                oof[test, k] = svm.decision_function(gram_test)

        # Final SVMs on all rows.
        svms = [self._binary_svm(gram, pos, weights) for pos in positives]
        support = np.unique(np.concatenate([s.support_ for s in svms]))
        where = np.full(X.shape[0], -1)
        where[support] = np.arange(support.size)
        dual = np.zeros((n_dec, support.size))
        for k, s in enumerate(svms):
            # decision_function of a two-class SVC is positive for classes_[1] (label 1 here):
            # f(x) = Σ dual_coef_ K(sv, x) + intercept_.
            dual[k, where[s.support_]] = s.dual_coef_[0]
        self.support_vectors_ = X[support].copy()
        self.support_sq_norms_ = np.einsum("ij,ij->i", self.support_vectors_, self.support_vectors_)
        self.support_ = support
        self.dual_coef_ = dual
        self.intercept_ = np.array([s.intercept_[0] for s in svms])
        self.n_iter_ = np.array([s.n_iter_[0] for s in svms])
        if self.kernel == "linear":
            self.coef_ = dual @ self.support_vectors_
        ab = np.array([fit_sigmoid(oof[:, k], positives[k]) for k in range(n_dec)])
        self.sigmoid_a_ = ab[:, 0].copy()
        self.sigmoid_b_ = ab[:, 1].copy()
        return self

    # ---- prediction ---------------------------------------------------------------------------

    def _check_X(self, X: Any) -> np.ndarray:
        check_is_fitted(self)
        return validate_data(self, X, dtype=np.float64, order="C", reset=False)

    def _decisions(self, X: np.ndarray) -> np.ndarray:
        """Decision values of shape (n_samples, n_decisions)."""
        if self.kernel == "linear":
            return X @ self.coef_.T + self.intercept_
        kern = kernel_matrix(X, self.support_vectors_, self.kernel, self.gamma_, int(self.degree),
                             float(self.coef0), b_sq_norms=self.support_sq_norms_)
        return kern @ self.dual_coef_.T + self.intercept_

    def svm_decision_function(self, X: Any) -> np.ndarray:
        """Uncalibrated SVM decision values.

        Not named ``decision_function`` on purpose: predictions are the argmax of the calibrated
        probabilities, which need not agree with the argmax of the one-vs-rest decision values, and
        scikit-learn expects the two to agree (scorers then use :meth:`predict_proba`).

        Returns
        -------
        ndarray of shape (n_samples,) for two classes (positive means ``classes_[1]``), else
        (n_samples, n_classes), one-vs-rest.
        """
        X = self._check_X(X)
        dec = self._decisions(X)
        return dec[:, 0] if len(self.classes_) == 2 else dec

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities, columns in ``classes_`` order.

        Returns
        -------
        ndarray of shape (n_samples, n_classes); rows sum to one.
        """
        X = self._check_X(X)
        return probabilities_from_decisions(self._decisions(X), self.sigmoid_a_, self.sigmoid_b_)

    def predict(self, X: Any) -> np.ndarray:
        """Most probable class of every row (argmax of :meth:`predict_proba`)."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]


def probabilities_from_decisions(decisions: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Calibrated probabilities from decision values (two-class or one-vs-rest).

    Parameters
    ----------
    decisions : ndarray of shape (n_samples, n_decisions)
        One column for two classes (the positive class is the second), else one per class.
    a, b : ndarray of shape (n_decisions,)
        Platt parameters, ``s = 1 / (1 + exp(a f + b))``.

    Returns
    -------
    ndarray of shape (n_samples, 2) if ``n_decisions == 1``, else (n_samples, n_decisions).
    """
    s = _sigmoid(decisions * a + b)
    if s.shape[1] == 1:
        return np.hstack([1.0 - s, s])
    total = s.sum(axis=1, keepdims=True)
    uniform = np.full_like(s, 1.0 / s.shape[1])
    return np.divide(s, total, out=uniform, where=total != 0)


# --------------------------------------------------------------------------------------------
# Pipelines and the grid search
# --------------------------------------------------------------------------------------------


def task_mask(labels: Sequence[str] | np.ndarray, task: str) -> np.ndarray:
    """Boolean mask of the spectra whose label belongs to a task's classes."""
    return np.isin(np.asarray(labels).astype(str), task_classes(task))


def _kernel_spec(kernel: str) -> dict[str, Any]:
    try:
        return KERNELS[kernel]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {list(KERNELS)}") from None


def build_pipeline(kernel: str, seed: int, calibration_folds: int = 3, scale_variance: bool = False) -> Pipeline:
    """Unfitted pipeline ``scale`` (StandardScaler) → ``svm`` (CalibratedKernelSVC).

    Parameters
    ----------
    kernel : {"linear", "rbf", "poly2", "poly3"}
        ``poly2``/``poly3`` are the polynomial kernel of degree 2/3 with ``coef0 = 1``.
    seed : int
        Seed of the calibration folds.
    calibration_folds : int
        Folds of the out-of-fold sigmoid calibration.
    scale_variance : bool
        Divide each centred pixel by its standard deviation (False: centre only; see module doc).

    Returns
    -------
    sklearn.pipeline.Pipeline
        Tunable through ``svm__C``, ``svm__gamma``, ``svm__coef0``, ``svm__class_weight``.
    """
    spec = dict(_kernel_spec(kernel))
    if spec["kernel"] == "poly":
        spec["coef0"] = POLY_COEF0
    svm = CalibratedKernelSVC(calibration_folds=calibration_folds, random_state=seed, **spec)
    return Pipeline([(STEP_SCALE, StandardScaler(with_std=scale_variance)), (STEP_SVM, svm)])


def _as_number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"grid value {value!r} of {name} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"grid value {value!r} of {name} is not a number") from None


def param_grid(kernel: str, grids: Mapping[str, Any]) -> dict[str, list[Any]]:
    """Pipeline parameter grid of one kernel from a configuration grid.

    Parameters
    ----------
    kernel : {"linear", "rbf", "poly2", "poly3"}
    grids : mapping
        Either one grid ``{"C": [...], "gamma": [...], "coef0": [...], "class_weight": [...]}``
        or grids per kernel ``{"linear": {...}, "rbf": {...}, ...}`` (top-level keys that are not
        kernel names are shared defaults the per-kernel grid overrides). Keys a kernel has no use
        for (gamma for linear, coef0 for linear and rbf) are dropped; numbers written as strings
        (YAML reads ``1e-3`` as a string) are converted; ``class_weight`` takes null/None/"none"
        or "balanced".

    Returns
    -------
    dict
        ``{"svm__C": [...], ...}``; polynomial kernels also fix ``svm__degree``.
    """
    spec = _kernel_spec(kernel)
    if not isinstance(grids, Mapping):
        raise ValueError(f"grids must be a mapping, got {type(grids).__name__}")
    merged = {k: v for k, v in grids.items() if k not in KERNELS}
    own = grids.get(kernel, {})
    if own is None:
        own = {}
    if not isinstance(own, Mapping):
        raise ValueError(f"grid of kernel {kernel!r} must be a mapping, got {own!r}")
    merged.update(own)
    allowed = GRID_KEYS[spec["kernel"]]
    known = set(GRID_KEYS["poly"])
    unknown = set(merged) - known
    if unknown:
        raise ValueError(f"unknown grid keys {sorted(unknown)}; expected some of {sorted(known)}")
    out: dict[str, list[Any]] = {}
    for key in ("C", "gamma", "coef0", "class_weight"):
        if key not in merged or key not in allowed:
            continue
        values = merged[key]
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            values = [values]
        if len(values) == 0:
            raise ValueError(f"grid of {key} for kernel {kernel!r} is empty")
        if key == "C":
            vals: list[Any] = [_as_number(v, key) for v in values]
            if any(v <= 0 for v in vals):
                raise ValueError(f"C values must be positive, got {values!r}")
        elif key == "gamma":
            vals = [v if v in ("scale", "auto") else _as_number(v, key) for v in values]
            if any(isinstance(v, float) and v <= 0 for v in vals):
                raise ValueError(f"gamma values must be positive, got {values!r}")
        elif key == "coef0":
            vals = [_as_number(v, key) for v in values]
        else:
            vals = []
            for v in values:
                if v is None or (isinstance(v, str) and v.lower() in ("none", "null")):
                    vals.append(None)
                elif v == "balanced" or isinstance(v, Mapping):
                    vals.append(v)
                else:
                    raise ValueError(f"class_weight must be null or 'balanced', got {v!r}")
        out[f"{STEP_SVM}__{key}"] = vals
    if "degree" in spec:
        out[f"{STEP_SVM}__degree"] = [spec["degree"]]
    return out


def grid_search(
    X: np.ndarray,
    y: np.ndarray,
    kernel: str,
    grids: Mapping[str, Any],
    cv_folds: int = 5,
    scoring: str = "f1_macro",
    seed: int = 0,
    n_jobs: int | None = 1,
    calibration_folds: int = 3,
    scale_variance: bool = False,
) -> GridSearchCV:
    """Cross-validated grid search of one kernel's pipeline, refitted on all of ``X``.

    The scaler is part of the pipeline, so every fold standardises with its own training rows.

    Parameters
    ----------
    X : ndarray of shape (n_spectra, n_pixels)
    y : ndarray of shape (n_spectra,)
    kernel : {"linear", "rbf", "poly2", "poly3"}
    grids : mapping
        Configuration grid(s), see :func:`param_grid`.
    cv_folds : int
        ``StratifiedKFold(cv_folds, shuffle=True, random_state=seed)``.
    scoring : str
        Scikit-learn scorer name to maximise.
    seed : int
        Seed of the folds and of the calibration folds.
    n_jobs : int or None
        Parallel candidate fits (joblib).
    calibration_folds : int
        Folds of the sigmoid calibration inside every fit.
    scale_variance : bool
        Standardise (True) or only centre (False) each pixel, see :func:`build_pipeline`.

    Returns
    -------
    GridSearchCV
        Fitted; ``best_estimator_`` is the pipeline refitted on all rows.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X must be (n_spectra, n_pixels) matching y; got {X.shape} and {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains non-finite values")
    if not (isinstance(cv_folds, numbers.Integral) and cv_folds >= 2):
        raise ValueError(f"cv_folds must be an integer >= 2, got {cv_folds!r}")
    grid = param_grid(kernel, grids)
    labels, counts = np.unique(y, return_counts=True)
    if counts.min() < cv_folds:
        raise ValueError(
            f"too few training spectra for {cv_folds}-fold cross-validation: "
            f"{dict(zip(labels.tolist(), counts.tolist()))}; lower classify.cv_folds or add labelled spectra"
        )
    search = GridSearchCV(
        build_pipeline(kernel, seed, calibration_folds, scale_variance),
        grid,
        scoring=scoring,
        cv=StratifiedKFold(cv_folds, shuffle=True, random_state=seed),
        refit=True,
        n_jobs=n_jobs,
        error_score="raise",
    )
    return search.fit(X, y)


def _plain(value: Any) -> Any:
    """A value as a JSON/TSV-friendly Python scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def cv_results_table(search: GridSearchCV) -> list[dict[str, Any]]:
    """One row per candidate of a fitted search, ready to write as TSV or JSON.

    Columns: the tuned parameters (``svm__`` prefix removed; None stays None), ``mean_test_score``,
    ``std_test_score``, ``rank_test_score``, ``split<i>_test_score``, mean/std fit and score time
    (s). Rows are in candidate order.
    """
    res = search.cv_results_
    params = sorted({k for p in res["params"] for k in p})
    split_keys = sorted((k for k in res if k.startswith("split") and k.endswith("_test_score")),
                        key=lambda k: int(k[5:].split("_")[0]))
    rows = []
    for i, cand in enumerate(res["params"]):
        row: dict[str, Any] = {}
        for p in params:
            row[p.split("__")[-1]] = _plain(cand.get(p))
        for key in ("mean_test_score", "std_test_score"):
            row[key] = float(res[key][i])
        row["rank_test_score"] = int(res["rank_test_score"][i])
        for key in split_keys:
            row[key] = float(res[key][i])
        for key in TIMING_COLUMNS:
            row[key] = float(res[key][i])
        rows.append(row)
    return rows


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def evaluate_predictions(y_true: Sequence[str], y_pred: Sequence[str], class_names: Sequence[str]) -> dict[str, Any]:
    """Test metrics of predicted labels (see :func:`evaluate`)."""
    labels = [str(c) for c in class_names]
    truth = np.asarray(y_true).astype(str)
    pred = np.asarray(y_pred).astype(str)
    if truth.shape != pred.shape or truth.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D of the same length; got {truth.shape}, {pred.shape}")
    if truth.size == 0:
        raise ValueError("no spectra to evaluate")
    unknown = set(np.unique(np.concatenate([truth, pred]))) - set(labels)
    if unknown:
        raise ValueError(f"labels {sorted(unknown)} are not in class_names {labels}")
    prec, rec, f1, support = precision_recall_fscore_support(truth, pred, labels=labels, zero_division=0)
    cm = confusion_matrix(truth, pred, labels=labels)
    row_sums = cm.sum(axis=1, keepdims=True)
    cm_norm = np.divide(cm, row_sums, out=np.zeros(cm.shape), where=row_sums != 0)
    macro = precision_recall_fscore_support(truth, pred, labels=labels, average="macro", zero_division=0)
    return {
        "class_names": labels,
        "n_spectra": int(truth.size),
        "accuracy": float(accuracy_score(truth, pred)),
        # scikit-learn's definition (mean recall over the classes present), without its warning
        # when a prediction names a class absent from the truth.
        "balanced_accuracy": float(np.mean(rec[support > 0])),
        "macro_f1": float(f1_score(truth, pred, labels=labels, average="macro", zero_division=0)),
        "weighted_f1": float(f1_score(truth, pred, labels=labels, average="weighted", zero_division=0)),
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "per_class": {
            c: {"precision": float(prec[i]), "recall": float(rec[i]), "f1": float(f1[i]), "support": int(support[i])}
            for i, c in enumerate(labels)
        },
        "confusion_matrix": cm.astype(int).tolist(),
        "confusion_matrix_normalised": cm_norm.tolist(),
        "classification_report": classification_report(
            truth, pred, labels=labels, digits=3, zero_division=0
        ),
    }


def evaluate(model: Any, X: np.ndarray, y: Sequence[str], class_names: Sequence[str]) -> dict[str, Any]:
    """Test metrics of a fitted classifier, JSON-serialisable.

    Parameters
    ----------
    model
        Anything with ``predict``.
    X : ndarray of shape (n_spectra, n_pixels)
    y : sequence of str
        True labels.
    class_names : sequence of str
        Class order of the per-class entries and of the confusion matrix.

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1``, ``weighted_f1``, ``macro_precision``,
        ``macro_recall``, ``per_class`` ({class: {precision, recall, f1, support}}),
        ``confusion_matrix`` (counts; rows true, columns predicted, in ``class_names`` order),
        ``confusion_matrix_normalised`` (rows divided by their true count; 0 for empty rows),
        ``class_names``, ``n_spectra``, ``classification_report`` (text).
    """
    return evaluate_predictions(y, model.predict(X), class_names)
