"""The kernel functions alone (numpy, no scikit-learn): :func:`kernel_matrix`, :func:`squared_distances`,
:func:`int_power`.

:mod:`agn_saliency.learn.kernels` re-exports them beside its scikit-learn steps; the saliency and OOD
code imports them from here, so that a predict shard job, which serves a model as arrays
(:mod:`agn_saliency.explain.served`), never imports scikit-learn (≈ 1 s of CPU a job).
"""

from __future__ import annotations

import numpy as np

__all__ = ["int_power", "kernel_matrix", "squared_distances"]


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
        ``linear``: ⟨a, b⟩; ``rbf``: ``exp(-γ |a - b|²)``; ``poly``: (γ ⟨a, b⟩ + coef0)^degree.
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
        distances = squared_distances(a, b, b_sq_norms, gram=gram)
        distances *= -gamma
        return np.exp(distances, out=distances)
    raise ValueError(f"unknown kernel {kernel!r}; expected linear, rbf or poly")


def squared_distances(
    a: np.ndarray, b: np.ndarray, b_sq_norms: np.ndarray | None = None, gram: np.ndarray | None = None
) -> np.ndarray:
    """``D[i, j] = |a_i - b_j|²`` as ``|a_i|² + |b_j|² - 2⟨a_i, b_j⟩`` (one matrix product), clipped at 0.

    The kernel matrices, the search's precomputed input and the saliency's kernel terms all form
    them here, so they round alike (integrated gradients expands them along its path instead). ``b_sq_norms``: ``b``'s
    squared row norms if known; ``gram``: ``a @ b.T`` if already computed (overwritten).
    """
    gram = a @ b.T if gram is None else gram
    gram *= -2.0
    gram += np.einsum("ij,ij->i", a, a)[:, None]
    gram += (np.einsum("ij,ij->i", b, b) if b_sq_norms is None else b_sq_norms)[None, :]
    return np.maximum(gram, 0.0, out=gram)
