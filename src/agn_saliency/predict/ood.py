"""How unlike the training set a spectrum is: out-of-distribution (OOD) scores and flags.

A kernel SVM answers for every spectrum, however far it lies from anything it was trained on. Far
from the training rows an RBF model does worse than extrapolate: every kernel value
``exp(-γ |z - sv|²)`` underflows to 0, the decision values collapse to the intercepts, and every
such spectrum gets the *same* probabilities and an all-zero saliency map. On real data this
happens to star-forming spectra whose normalised lines peak 70–400× the continuum; without a
check they are reported as confident predictions.

Two complementary checks, both in the model's own scaled space (the ``scale`` step of
:func:`~agn_saliency.learn.classify.build_pipeline`, i.e. exactly the space the kernel sees):

* :func:`ood_scores` — distance to the k-th nearest training spectrum (the kernel step's
  ``X_fit_``) as an RMS per pixel, ``‖z - x_(k)‖ / sqrt(n_pixels)``; a k-nearest-neighbour
  novelty score (Breunig et al. 2000 use the same k-distance; Sun et al. 2022 show the plain k-th
  neighbour distance is a strong OOD detector). The threshold is the ``quantile`` of the scores
  of held-out spectra of the training distribution (:func:`calibrate_ood`), so about
  ``1 - quantile`` of in-distribution spectra are flagged by construction (a conformal-style
  calibration, Vovk et al. 2005).
* :func:`kernel_underflow` — the model answers with its intercepts: every RBF decision value
  equals its intercept exactly (all kernel values against the support vectors underflowed, or
  are too small to change the decision in float64).

:func:`ood_status` combines them: ``score > threshold`` or underflow.

References
----------
Breunig, M. M., Kriegel, H.-P., Ng, R. T., Sander, J. 2000, "LOF: identifying density-based local
outliers", SIGMOD, 93.
Sun, Y., Ming, Y., Zhu, X., Li, Y. 2022, "Out-of-distribution detection with deep nearest
neighbors", ICML, PMLR 162, 20827.
Vovk, V., Gammerman, A., Shafer, G. 2005, *Algorithmic Learning in a Random World*, Springer.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from agn_saliency.explain.saliency import CHUNK_ELEMENTS, ServedModel, SmoothModel, check_flux, smooth_model
from agn_saliency.learn.kernel_math import kernel_matrix, squared_distances

DEFAULT_K = 5
"""Neighbour whose distance is the score (the 5th: robust to a few duplicated or odd training rows)."""

DEFAULT_QUANTILE = 0.99
"""Quantile of held-out scores used as threshold: ≈ 1 % of in-distribution spectra are flagged."""


def _ordinal(k: int) -> str:
    suffix = "th" if 10 <= k % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k}{suffix}"


def score_description(k: int) -> str:
    """Text naming the score of :func:`ood_scores` (stored with the threshold)."""
    return f"rms distance to {_ordinal(k)} nearest training spectrum (scaled flux)"


def _pipeline(model: Any) -> Any:
    """The fitted :func:`~agn_saliency.learn.classify.build_pipeline` pipeline of a model or its search."""
    # imported here: a served model (predict's shard jobs) needs none of scikit-learn
    from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
    from sklearn.pipeline import Pipeline

    from agn_saliency.learn.classify import STEP_KERNEL
    from agn_saliency.learn.kernels import KernelTransformer

    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    elif isinstance(model, (GridSearchCV, RandomizedSearchCV)):
        raise ValueError("the GridSearchCV is not fitted (or was fitted with refit=False): it has no best_estimator_")
    if not isinstance(model, Pipeline):
        raise ValueError(
            f"expected a fitted Pipeline of build_pipeline (scale → kernel → svm) or a GridSearchCV of one, got {type(model).__name__}"
        )
    kernel = model.named_steps.get(STEP_KERNEL)
    if not isinstance(kernel, KernelTransformer):
        raise ValueError(f"the pipeline has no KernelTransformer step named {STEP_KERNEL!r} (expected one of build_pipeline)")
    if not hasattr(kernel, "X_fit_"):
        raise ValueError("the pipeline's KernelTransformer is not fitted")
    return model


def _training_rows(model: Any) -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray]]:
    """The kernel step's training rows ``X_fit_`` of a model (a :class:`~agn_saliency.explain.saliency.ServedModel`,
    or a fitted build_pipeline pipeline or search) and the map of checked flux to its scaled space (the steps
    before the kernel: ``ServedModel.scale`` computes what the pipeline's ``transform`` does, the same numbers)."""
    if isinstance(model, ServedModel):
        if model.train is None:
            raise ValueError("the served model has no KernelTransformer step: it keeps no training rows to score against")
        return model.train, model.scale
    from agn_saliency.learn.classify import STEP_KERNEL

    pipe = _pipeline(model)
    names = [name for name, _ in pipe.steps]
    before = pipe[: names.index(STEP_KERNEL)]

    def scale(x: np.ndarray) -> np.ndarray:
        return np.asarray(before.transform(x), dtype=np.float64) if len(before) else x

    return pipe.named_steps[STEP_KERNEL].X_fit_, scale


def _scaled(train: np.ndarray, scale: Callable[[np.ndarray], np.ndarray], flux: Any) -> np.ndarray:
    """Flux checked (2-D, finite, the model's pixel count) and passed through the steps before the kernel."""
    x = check_flux(flux, train.shape[1])
    if x.shape[0] == 0:
        return x
    return scale(x)


def _check_k(k: Any, n_fit: int) -> int:
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if k > n_fit:
        raise ValueError(f"k = {k} exceeds the {n_fit} training spectra of the model")
    return int(k)


def ood_scores(model: Any, flux: Any, *, k: int = DEFAULT_K) -> np.ndarray:
    """RMS-per-pixel distance of every spectrum to its k-th nearest training spectrum.

    Distances are taken in the model's scaled space (the pipeline's ``scale`` step applied to
    ``flux``) against the kernel step's training rows ``X_fit_``, by brute force (what
    :class:`sklearn.neighbors.NearestNeighbors` with ``algorithm="brute"`` computes, chunked by
    :data:`~agn_saliency.explain.saliency.CHUNK_ELEMENTS`), and divided by ``sqrt(n_pixels)`` so
    they read as a typical per-pixel deviation in the (centred, optionally standardised) flux units
    of the model.

    The distances are ``|a|² + |b|² - 2⟨a, b⟩`` (one matrix product, as scikit-learn forms them:
    :func:`~agn_saliency.learn.kernels.squared_distances`), accurate to ~1e-8 of the rows' norm:
    ample for a threshold, not a test of equality.

    Spectra that are themselves training rows are at distance 0 from themselves: score them with
    ``k + 1`` and drop the zero, or (better) calibrate on held-out spectra only
    (:func:`calibrate_ood`).

    Parameters
    ----------
    model
        Fitted pipeline of :func:`~agn_saliency.learn.classify.build_pipeline`, or a fitted
        ``GridSearchCV`` of one (its ``best_estimator_``).
    flux : array-like of shape (n_spectra, n_pixels)
        Flux exactly as the model's ``predict_proba`` receives it.
    k : int, default 5
        Which neighbour's distance is the score (1 = the nearest).

    Returns
    -------
    ndarray of shape (n_spectra,), float64
        ``‖z - x_(k)‖₂ / sqrt(n_pixels)``.

    Raises
    ------
    ValueError
        Not a fitted build_pipeline model, flux not 2-D with the model's pixel count, non-finite
        flux, or ``k`` not in 1…n_training.
    """
    train, scale = _training_rows(model)
    k = _check_k(k, train.shape[0])
    z = _scaled(train, scale, flux)
    if z.shape[0] == 0:
        return np.zeros(0)
    # The k-th smallest of |z|² + |x|² - 2⟨z, x⟩ (one matrix product a chunk, learn.kernels.squared_distances)
    # by np.partition: what NearestNeighbors(algorithm="brute").kneighbors computes, at ~half its CPU
    # (its Cython reduction keeps a heap of the k nearest per spectrum, a third of predict's OOD cost).
    train_sq_norms = np.einsum("ij,ij->i", train, train)
    kth = _kth_smallest(z.shape[0], train.shape[0], k, lambda rows: squared_distances(z[rows], train, train_sq_norms))
    return np.sqrt(kth) / np.sqrt(train.shape[1])


def _kth_smallest(n: int, n_train: int, k: int, squared: Callable[[slice], np.ndarray]) -> np.ndarray:
    """The k-th smallest of each of ``n`` spectra's squared distances to the ``n_train`` training rows,
    ``squared(rows)`` giving them (len(rows), n_train) a chunk of rows at a time (np.partition)."""
    kth = np.empty(n)
    chunk = max(1, CHUNK_ELEMENTS // n_train)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        kth[rows] = np.partition(squared(rows), k - 1, axis=1)[:, k - 1]
    return kth


def ood_scores_near_support(
    model: Any, smooth: SmoothModel, flux: Any, support_distances: np.ndarray, *, k: int = DEFAULT_K
) -> np.ndarray:
    """:func:`ood_scores` with the squared distances to the training rows that are support vectors
    already known (``support_distances``, (n_spectra, n_sv), from the kernel's matrix product:
    :func:`agn_saliency.explain.maps.explain_batch`); only the other training rows' are formed here.

    ``smooth`` is ``model``'s :func:`~agn_saliency.explain.saliency.smooth_model` (one kernel member
    whose support vectors are rows of the kernel step, as :func:`~agn_saliency.learn.classify.build_pipeline`'s),
    whose ``(flux - offset) * factor`` is the scaled space (the same as the pipeline's ``scale`` step to
    rounding, ~1e-16: the scores equal :func:`ood_scores`' to ~1e-15 relative).
    """
    train, _ = _training_rows(model)
    k = _check_k(k, train.shape[0])
    (member,) = smooth.members
    rows = member.decisions.rows
    if rows is None or support_distances.shape[1] != rows.size:
        raise ValueError("the smooth model's support vectors are not rows of the kernel step, or the distances are not to them")
    x = check_flux(flux, train.shape[1])
    if support_distances.shape[0] != x.shape[0]:
        raise ValueError(f"{support_distances.shape[0]} rows of distances for {x.shape[0]} spectra")
    others = np.setdiff1d(np.arange(train.shape[0]), rows)
    other_rows = train[others]
    other_sq_norms = np.einsum("ij,ij->i", other_rows, other_rows)

    def squared(part: slice) -> np.ndarray:  # the support vectors' distances given, the other rows' formed
        z = (x[part] - smooth.offset) * smooth.factor
        return np.concatenate([support_distances[part], squared_distances(z, other_rows, other_sq_norms)], axis=1)

    kth = _kth_smallest(x.shape[0], train.shape[0], k, squared)
    return np.sqrt(kth) / np.sqrt(train.shape[1])


def kernel_underflow(model: Any, flux: Any) -> np.ndarray:
    """Whether the model answers a spectrum with its intercepts alone (RBF kernel values underflowed).

    For the RBF kernel every decision value is ``f_j(z) = Σ_i α_ji exp(-γ |z - sv_i|²) + b_j``.
    Once ``γ |z - sv_i|² ≳ 745`` for every support vector, each exponential is 0 in float64 and
    ``f_j = b_j`` exactly: the probabilities are those of the intercepts, identical for every such
    spectrum, and the saliency map is all zero. A spectrum is flagged when *every* decision value
    of the calibrated one-vs-rest SVMs equals its intercept exactly (which also catches kernel
    values that are subnormal rather than 0 but too small to change the sum), or when a decision
    value is not finite.

    Linear and polynomial kernels do not decay with distance (they extrapolate), so they are only
    flagged for non-finite decision values; :func:`ood_scores` covers them.

    Parameters
    ----------
    model
        Fitted pipeline of :func:`~agn_saliency.learn.classify.build_pipeline` or a ``GridSearchCV`` of
        one (any model :func:`~agn_saliency.explain.saliency.smooth_model` accepts also works).
    flux : array-like of shape (n_spectra, n_pixels)

    Returns
    -------
    ndarray of shape (n_spectra,), bool

    Raises
    ------
    ValueError
        Unsupported or unfitted model, flux of the wrong shape or non-finite.
    """
    sm = smooth_model(model)
    try:
        x = np.asarray(flux, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"flux must be a numeric array: {exc}") from None
    if x.ndim != 2 or x.shape[1] != sm.offset.size:
        raise ValueError(f"flux must have shape (n_spectra, {sm.offset.size}); got {x.shape}")
    if not np.all(np.isfinite(x)):
        raise ValueError("flux has non-finite values")
    n = x.shape[0]
    flagged = np.zeros(n, bool)
    if n == 0:
        return flagged
    widest = max(max(m.decisions.n_support, 1) for m in sm.members)
    chunk = max(1, CHUNK_ELEMENTS // widest)
    for start in range(0, n, chunk):
        rows = slice(start, min(n, start + chunk))
        z = (x[rows] - sm.offset) * sm.factor
        decisions = []
        for member in sm.members:
            dec = member.decisions
            if dec.coef is not None:
                decisions.append(z @ dec.coef.T + dec.intercept)
            else:
                assert dec.support_vectors is not None and dec.dual_coef is not None
                gram = kernel_matrix(z, dec.support_vectors, dec.kernel, dec.gamma, dec.degree, dec.coef0)
                decisions.append(gram @ dec.dual_coef.T + dec.intercept)
        flagged[rows] = underflow_of_decisions(sm, decisions)
    return flagged


def underflow_of_decisions(model: SmoothModel, decisions: Sequence[np.ndarray]) -> np.ndarray:
    """:func:`kernel_underflow` from decision values already computed: ``decisions`` holds each member's
    of ``model.members`` (n_spectra, n_decisions), as :func:`agn_saliency.explain.maps.explain_batch`
    returns them (formed as ``kernel_underflow`` forms them: the same numbers, so the same flags)."""
    if len(decisions) != len(model.members):
        raise ValueError(f"{len(decisions)} arrays of decision values for a model of {len(model.members)} members")
    n = decisions[0].shape[0] if decisions else 0
    at_intercept = np.ones(n, bool)
    not_finite = np.zeros(n, bool)
    for member, f in zip(model.members, decisions):
        dec = member.decisions
        not_finite |= ~np.all(np.isfinite(f), axis=1)
        if dec.kernel == "rbf":
            at_intercept &= np.all(f == dec.intercept, axis=1)
        else:
            at_intercept[:] = False
    return at_intercept | not_finite


def calibrate_ood(
    model: Any,
    heldout_flux: Any,
    *,
    quantile: float = DEFAULT_QUANTILE,
    k: int = DEFAULT_K,
    calibrated_on: str = "held-out spectra (not among the model's training rows)",
) -> dict[str, Any]:
    """Threshold of :func:`ood_scores`: the ``quantile`` of the scores of held-out spectra.

    Held-out spectra drawn like the training set then exceed the threshold with probability
    ``≈ 1 - quantile`` (exactly ``≤ 1 - quantile`` up to the ``1/(n+1)`` granularity of the
    empirical quantile for exchangeable spectra, Vovk et al. 2005). The spectra must not be
    training rows of the model (their nearest training row would be themselves, shrinking every
    score by one neighbour); a warning is given when some are at distance ≈ 0 from a training row.

    Parameters
    ----------
    model
        Fitted pipeline of :func:`~agn_saliency.learn.classify.build_pipeline` or a ``GridSearchCV`` of one.
    heldout_flux : array-like of shape (n_calibration, n_pixels)
        Spectra of the training distribution the model was not fitted on (e.g. a validation or
        test split).
    quantile : float, default 0.99
        In (0, 1).
    k : int, default 5
        Neighbour of :func:`ood_scores`.
    calibrated_on : str
        Free text stored in the result naming the calibration spectra.

    Returns
    -------
    dict
        JSON-serialisable: ``score`` (description), ``k``, ``quantile``, ``threshold`` (float),
        ``n_calibration``, ``calibrated_on``, ``n_training`` (rows of the kernel step),
        ``score_median`` (median calibration score, for reference).

    Raises
    ------
    ValueError
        Bad quantile, fewer than 2 calibration spectra, or any error of :func:`ood_scores`.
    """
    if isinstance(quantile, bool) or not isinstance(quantile, numbers.Real) or not 0.0 < float(quantile) < 1.0:
        raise ValueError(f"quantile must be a number in (0, 1), got {quantile!r}")
    pipe = model if isinstance(model, ServedModel) else _pipeline(model)
    train, _ = _training_rows(pipe)
    scores = ood_scores(pipe, heldout_flux, k=k)
    if scores.size < 2:
        raise ValueError(f"need at least 2 held-out spectra to calibrate, got {scores.size}")
    n_fit = int(train.shape[0])
    # Distances come from |a|² + |b|² - 2⟨a, b⟩ (BLAS): a spectrum equal to a training row is at
    # ~1e-8 rather than 0, so "equal" is "closer than 1e-6 of the median score".
    nearest = ood_scores(pipe, heldout_flux, k=1)
    copies = nearest <= 1e-6 * np.median(scores)
    if np.any(copies):
        warnings.warn(
            f"{int(np.sum(copies))} of {scores.size} calibration spectra equal a training row of the model; "
            "calibrate on held-out spectra only",
            stacklevel=2,
        )
    return {
        "score": score_description(int(k)),
        "k": int(k),
        "quantile": float(quantile),
        "threshold": float(np.quantile(scores, float(quantile))),
        "n_calibration": int(scores.size),
        "calibrated_on": str(calibrated_on),
        "n_training": n_fit,
        "score_median": float(np.median(scores)),
    }


def ood_status(scores: Any, underflow: Any, threshold: float) -> np.ndarray:
    """Out of distribution: ``score > threshold`` or the model answered with its intercepts.

    Parameters
    ----------
    scores : array-like of shape (n_spectra,)
        From :func:`ood_scores`.
    underflow : array-like of shape (n_spectra,), bool
        From :func:`kernel_underflow`.
    threshold : float
        ``calibrate_ood(...)["threshold"]``.

    Returns
    -------
    ndarray of shape (n_spectra,), bool
        True = out of distribution (never report such a prediction as a confident ``ok``).
    """
    s = np.asarray(scores, dtype=np.float64)
    u = np.asarray(underflow)
    if s.ndim != 1 or u.shape != s.shape:
        raise ValueError(f"scores and underflow must be 1-D of one length; got {s.shape} and {u.shape}")
    if u.dtype != bool:
        raise ValueError(f"underflow must be boolean, got dtype {u.dtype}")
    if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real) or not np.isfinite(threshold):
        raise ValueError(f"threshold must be a finite number, got {threshold!r}")
    # NaN scores are out of distribution too (nothing can vouch for them).
    return ~(s <= float(threshold)) | u
