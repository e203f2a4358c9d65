"""Kernel functions and the scikit-learn step that turns spectra into a kernel matrix.

:func:`kernel_matrix` evaluates the linear, RBF and polynomial kernels with BLAS;
:class:`KernelTransformer` keeps the (scaled) training rows and maps any rows to their kernel
values against them, so a pipeline's SVM can be ``SVC(kernel="precomputed")`` and the Gram matrix
of a fit is computed once (see :mod:`agn_saliency.learn.classify`). :mod:`agn_saliency.explain.saliency` and
:mod:`agn_saliency.predict.ood` differentiate and inspect these kernels.

:class:`GramKernel` gives the same kernel values from one precomputed matrix of all the rows
(:func:`gram_input`), so a grid search slices that matrix per fold and candidate instead of
recomputing (or caching on disk) a Gram matrix per fold.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.preprocessing import KernelCenterer
from sklearn.utils.validation import check_is_fitted

from agn_saliency.learn.kernel_math import int_power, kernel_matrix, squared_distances  # noqa: F401  (re-exported: their old home)

try:  # scikit-learn >= 1.6
    from sklearn.utils.validation import validate_data
except ImportError:  # pragma: no cover - older scikit-learn

    def validate_data(estimator: Any, X: Any, y: Any = "no_validation", **kwargs: Any) -> Any:
        """Fallback to the estimator method of scikit-learn < 1.6."""
        return estimator._validate_data(X, y, **kwargs)


class KernelTransformer(TransformerMixin, BaseEstimator):
    """Kernel matrix against the rows seen by ``fit``: ``transform(X)[i, j] = k(X_i, X_fit_j)``.

    The step in front of an ``SVC(kernel="precomputed")``: the SVM then sees the same kernel
    values as ``SVC(kernel=kernel, gamma=gamma, degree=degree, coef0=coef0)`` on ``X`` would, but
    a pipeline fit evaluates the Gram matrix once for all the SVM fits it makes.

    Parameters
    ----------
    kernel : {"linear", "rbf", "poly"}
        libsvm's definitions, see :func:`kernel_matrix`.
    gamma : {"scale", "auto"} or float
        Coefficient of rbf and poly; ``scale`` = 1 / (n_features · X.var()) of the rows given to
        ``fit`` (as ``SVC``), ``auto`` = 1 / n_features.
    degree : int
        Degree of the poly kernel.
    coef0 : float
        Independent term of the poly kernel.

    Attributes
    ----------
    X_fit_ : ndarray of shape (n_fit, n_features)
        The rows kernel values are taken against (the SVM's training rows; ``SVC.support_``
        indexes them).
    gamma_ : float
        The coefficient actually used (``gamma`` resolved).
    n_features_in_ : int
    """

    def __init__(self, kernel: str = "rbf", gamma: str | float = "scale", degree: int = 3, coef0: float = 0.0) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0

    def _resolve_gamma(self, X: np.ndarray) -> float:
        if self.kernel not in ("linear", "rbf", "poly"):
            raise ValueError(f"kernel must be linear, rbf or poly, got {self.kernel!r}")
        if self.kernel == "poly" and not (isinstance(self.degree, numbers.Integral) and self.degree >= 1):
            raise ValueError(f"degree must be a positive integer, got {self.degree!r}")
        if not (isinstance(self.coef0, numbers.Real) and np.isfinite(self.coef0)):
            raise ValueError(f"coef0 must be a finite number, got {self.coef0!r}")
        if isinstance(self.gamma, str) and self.gamma == "scale":
            var = float(X.var())
            return 1.0 / (X.shape[1] * var) if var > 0 else 1.0
        if isinstance(self.gamma, str) and self.gamma == "auto":
            return 1.0 / X.shape[1]
        if isinstance(self.gamma, numbers.Real) and not isinstance(self.gamma, bool) and self.gamma > 0:
            return float(self.gamma)
        raise ValueError(f"gamma must be 'scale', 'auto' or a positive number, got {self.gamma!r}")

    def fit(self, X: Any, y: Any = None) -> KernelTransformer:
        """Keep the rows (float64) and resolve ``gamma``.

        Returns
        -------
        self
        """
        X = validate_data(self, X, dtype=np.float64, order="C", copy=True)
        self.gamma_ = self._resolve_gamma(X)
        self.X_fit_ = X
        self._X_fit_sq_norms = np.einsum("ij,ij->i", X, X) if self.kernel == "rbf" else None
        return self

    def transform(self, X: Any) -> np.ndarray:
        """Kernel values of every row against ``X_fit_``.

        Returns
        -------
        ndarray of shape (n_samples, n_fit)
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, order="C", reset=False)
        return kernel_matrix(
            X, self.X_fit_, self.kernel, self.gamma_, int(self.degree), float(self.coef0), b_sq_norms=self._X_fit_sq_norms
        )

    def fit_transform(self, X: Any, y: Any = None, **fit_params: Any) -> np.ndarray:
        """``fit(X).transform(X)``: the Gram matrix of the rows (one matrix product)."""
        return self.fit(X, y).transform(X)


def gram_input(X: np.ndarray, kernel: str) -> np.ndarray:
    """The precomputed matrix a :class:`GramKernel` step reads: ``X Xᵀ`` (linear, poly) or ``|x_i − x_j|²`` (rbf).

    Both are computed once, from uncentred rows: centring in feature space is exact on the first
    (:class:`~sklearn.preprocessing.KernelCenterer`) and does not change the second.
    """
    X = np.asarray(X, dtype=np.float64)
    if kernel in ("linear", "poly"):
        return X @ X.T
    if kernel == "rbf":
        return squared_distances(X, X)
    raise ValueError(f"unknown kernel {kernel!r}; expected linear, rbf or poly")


class GramKernel(TransformerMixin, BaseEstimator):
    """:class:`KernelTransformer`'s values for pixel-centred rows, from a precomputed :func:`gram_input`.

    A pairwise step (scikit-learn splits its input's rows *and* columns by fold): ``fit`` takes the
    matrix of the fit rows among themselves, ``transform`` that of other rows against the fit rows.
    ``linear``/``poly``: the input is ``X Xᵀ`` of uncentred rows; the step centres it on the fit
    rows (:class:`~sklearn.preprocessing.KernelCenterer`: the same as centring every pixel on
    their mean, as ``StandardScaler(with_std=False)``) and returns ``(γ K + coef0)^degree`` for
    poly. ``rbf``: the input is squared distances (centring changes none), returned as
    ``exp(−γ D)``. ``gamma`` must be a number: ``"scale"``/``"auto"`` need the rows themselves.

    Attributes
    ----------
    centerer_ : KernelCenterer or None
        The fitted centring (None for rbf).
    n_fit_ : int
        Number of fit rows (columns ``transform`` expects).
    """

    def __init__(self, kernel: str = "rbf", gamma: float = 1.0, degree: int = 3, coef0: float = 0.0) -> None:
        self.kernel = kernel
        self.gamma = gamma
        self.degree = degree
        self.coef0 = coef0

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.pairwise = True
        return tags

    def fit(self, K: Any, y: Any = None) -> GramKernel:
        """Check the parameters; fit the centring on the fit rows' matrix.

        Returns
        -------
        self
        """
        if self.kernel not in ("linear", "rbf", "poly"):
            raise ValueError(f"kernel must be linear, rbf or poly, got {self.kernel!r}")
        if isinstance(self.gamma, bool) or not (isinstance(self.gamma, numbers.Real) and self.gamma > 0):
            raise ValueError(f"GramKernel needs a positive number as gamma, got {self.gamma!r}")
        K = np.asarray(K, dtype=np.float64)
        if K.ndim != 2 or K.shape[0] != K.shape[1]:
            raise ValueError(f"fit takes the square matrix of the fit rows, got shape {K.shape}")
        self.centerer_ = None if self.kernel == "rbf" else KernelCenterer().fit(K)
        self.n_fit_ = K.shape[0]
        return self

    def transform(self, K: Any) -> np.ndarray:
        """Kernel values of rows, given their :func:`gram_input` against the fit rows.

        Returns
        -------
        ndarray of shape (n_samples, n_fit)
        """
        check_is_fitted(self, "n_fit_")
        K = np.asarray(K, dtype=np.float64)
        if K.ndim != 2 or K.shape[1] != self.n_fit_:
            raise ValueError(f"expected {self.n_fit_} columns (the fit rows), got shape {K.shape}")
        if self.kernel == "rbf":
            out = np.exp(-float(self.gamma) * K)
        else:
            out = self.centerer_.transform(K)  # a copy: changed in place below
            if self.kernel == "poly":
                out *= float(self.gamma)
                out += float(self.coef0)
                out = int_power(out, int(self.degree))
        # checked here, once per matrix: the search runs scikit-learn with assume_finite=True
        if not np.isfinite(out).all():
            raise ValueError(
                f"{self.kernel} kernel values overflow (gamma={self.gamma}, coef0={self.coef0}, degree={self.degree})"
            )
        return out
