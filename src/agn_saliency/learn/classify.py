"""Grid-searched SVM pipelines with smooth, exactly differentiable probability models.

The model of every task and kernel is a plain scikit-learn ``Pipeline`` of three steps::

    scale   StandardScaler(with_std=scale_variance)
    kernel  KernelTransformer(kernel, gamma, degree, coef0)       K(x, X_train), one row per spectrum
    svm     CalibratedClassifierCV(OneVsRestClassifier(SVC(kernel="precomputed")),
                                   method="sigmoid", ensemble=False,
                                   cv=StratifiedKFold(calibration_folds, shuffle=True, random_state=seed))

* ``scale`` centres every pixel on the mean of the rows the pipeline is fitted on (inside
  ``GridSearchCV`` that is the training folds only) and, with ``scale_variance=True``, divides
  by their standard deviation. Centring only is the default: the spectra are already on one
  flux scale (normalised at 5100 Å), and dividing by each pixel's spread inflates
  noise-dominated continuum pixels to the weight of the emission lines (docs/science.md, "Choices, and why");
* ``kernel`` keeps the (scaled) training rows and turns any rows into their kernel matrix against
  them, so the Gram matrix of a fit is computed once, with BLAS, and the calibration folds and the
  final SVMs all slice it (scikit-learn splits a precomputed kernel's rows *and* columns);
* ``svm`` is scikit-learn's own sigmoid (Platt) calibration of one-vs-rest SVMs (one SVM for two
  classes). ``SVC(probability=True)`` is deprecated in scikit-learn 1.9 (removed in 1.11) and
  ``SVC``'s own multi-class decision function is built from one-vs-one votes, which is not smooth;
  one-vs-rest decision functions, each mapped through its own sigmoid and normalised over the
  classes, are smooth and their gradient with respect to the flux is exact (see
  :mod:`agn_saliency.explain.saliency`, which reads only public attributes of these steps).

:func:`grid_search` scores each candidate on the folds by the one-vs-rest SVMs' own decisions
(``scores="decisions"``, the default: the paper's search scored ``SVC.predict``, which ignores
the probability model) and fits the calibrated pipeline once, for the chosen parameters; with
``scores="probabilities"`` every candidate is fitted with its calibration (three times the SVM
fits: twice the search time on the embedded sample).

Hyper-parameters are routed to the step that owns them (:data:`PARAM_ROUTES`): ``C`` and
``class_weight`` to the SVC, ``gamma``, ``coef0`` and ``degree`` to the kernel step;
:func:`pipeline_params` turns short names into pipeline parameter names.
"""

from __future__ import annotations

import logging
import numbers
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn import config_context
from sklearn.calibration import CalibratedClassifierCV
from sklearn.metrics import (
    accuracy_score,
    classification_report,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

from agn_saliency.core.vocabulary import KERNELS, display_order, most_probable, probability_columns, task_classes, task_mask  # noqa: F401  (task_*: re-exported for the benchmarks and tests)
from agn_saliency.learn.augment import HostAugmentation, augment_with_host
from agn_saliency.learn.kernels import GramKernel, KernelTransformer, gram_input

KERNEL_PARAMS: dict[str, dict[str, Any]] = {
    "linear": {"kernel": "linear"},
    "rbf": {"kernel": "rbf"},
    "poly2": {"kernel": "poly", "degree": 2},
    "poly3": {"kernel": "poly", "degree": 3},
}
"""The SVM kernel parameters each kernel name fixes: one entry per name of
:data:`agn_saliency.core.vocabulary.KERNELS` (``tests/test_vocabulary.py`` checks)."""

GRID_KEYS: dict[str, tuple[str, ...]] = {
    "linear": ("C", "class_weight"),
    "rbf": ("C", "gamma", "class_weight"),
    "poly": ("C", "gamma", "coef0", "class_weight"),
}
"""Hyper-parameters a configuration grid may tune, per kernel."""

POLY_COEF0 = 1.0
"""Default ``coef0`` of the polynomial kernels: (γ⟨x, x'⟩ + 1)^d keeps every lower-order term
(libsvm's default 0 would make a degree-2 kernel purely quadratic and degree 3 purely cubic)."""

STEP_SCALE = "scale"
STEP_KERNEL = "kernel"
STEP_SVM = "svm"
PARAM_ROUTES: dict[str, str] = {
    "C": f"{STEP_SVM}__estimator__estimator__C",
    "class_weight": f"{STEP_SVM}__estimator__estimator__class_weight",
    "gamma": f"{STEP_KERNEL}__gamma",
    "coef0": f"{STEP_KERNEL}__coef0",
    "degree": f"{STEP_KERNEL}__degree",
}
"""Pipeline parameter of each tunable hyper-parameter (the SVC inside the calibrated one-vs-rest
step owns ``C`` and ``class_weight``; the kernel step owns the kernel's parameters)."""
DECISION_ROUTES: dict[str, str] = PARAM_ROUTES | {
    "C": f"{STEP_SVM}__estimator__C",
    "class_weight": f"{STEP_SVM}__estimator__class_weight",
}
"""The same for the pipeline a decision-scored search fits (:func:`grid_search`): its SVM step is
the one-vs-rest SVC without the calibration around it."""
TIMING_COLUMNS = ("mean_fit_time", "std_fit_time", "mean_score_time", "std_score_time")


def pipeline_params(**params: Any) -> dict[str, Any]:
    """Pipeline parameter names of short hyper-parameter names.

    ``pipeline_params(C=0.07, gamma=0.01)`` →
    ``{"svm__estimator__estimator__C": 0.07, "kernel__gamma": 0.01}``, for ``set_params``.
    """
    unknown = set(params) - set(PARAM_ROUTES)
    if unknown:
        raise ValueError(f"unknown hyper-parameters {sorted(unknown)}; expected some of {sorted(PARAM_ROUTES)}")
    return {PARAM_ROUTES[name]: value for name, value in params.items()}


def calibrated_svm(calibration_folds: int, seed: int) -> CalibratedClassifierCV:
    """``CalibratedClassifierCV(OneVsRestClassifier(SVC(kernel="precomputed")), "sigmoid", ensemble=False)``.

    The sigmoids are fitted on out-of-fold decision values of
    ``StratifiedKFold(calibration_folds, shuffle=True, random_state=seed)``; the SVMs that
    predict are fitted on all rows.
    """
    if not (isinstance(calibration_folds, numbers.Integral) and calibration_folds >= 2):
        raise ValueError(f"calibration_folds must be an integer >= 2, got {calibration_folds!r}")
    return CalibratedClassifierCV(
        OneVsRestClassifier(SVC(kernel="precomputed")),
        method="sigmoid",
        ensemble=False,
        cv=StratifiedKFold(calibration_folds, shuffle=True, random_state=seed),
    )


# --------------------------------------------------------------------------------------------
# Pipelines and the grid search
# --------------------------------------------------------------------------------------------


SEARCH_SCORES = ("decisions", "probabilities")
"""What :func:`grid_search` may score candidates by (configuration ``classify.search_scores``)."""


@dataclass
class SearchResult:
    """A grid search's outcome, under the attribute names of a fitted ``GridSearchCV`` (code that
    unwraps ``best_estimator_`` or reads ``cv_results_`` takes either)."""

    best_estimator_: Pipeline
    best_params_: dict[str, Any]
    best_score_: float
    cv_results_: dict[str, Any]


def _kernel_spec(kernel: str) -> dict[str, Any]:
    try:
        return KERNEL_PARAMS[kernel]
    except (KeyError, TypeError):
        raise ValueError(f"unknown kernel {kernel!r}; expected one of {list(KERNELS)}") from None


def _kernel_params(kernel: str) -> dict[str, Any]:
    """Kernel-step parameters of a configuration kernel name (poly kernels with ``coef0 = 1``)."""
    spec = dict(_kernel_spec(kernel))
    if spec["kernel"] == "poly":
        spec["coef0"] = POLY_COEF0
    return spec


def build_pipeline(kernel: str, seed: int, calibration_folds: int = 3, scale_variance: bool = False) -> Pipeline:
    """Unfitted pipeline ``scale`` → ``kernel`` (:class:`KernelTransformer`) → ``svm`` (calibrated).

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
        Tunable through the names of :data:`PARAM_ROUTES` (see :func:`pipeline_params`).
    """
    return Pipeline(
        [
            (STEP_SCALE, StandardScaler(with_std=scale_variance)),
            (STEP_KERNEL, KernelTransformer(**_kernel_params(kernel))),
            (STEP_SVM, calibrated_svm(calibration_folds, seed)),
        ]
    )


def support_rows(model: Any) -> np.ndarray:
    """Training rows (indices into the kernel step's ``X_fit_``) that are a support vector of any SVM.

    Parameters
    ----------
    model
        A fitted pipeline of :func:`build_pipeline` (or a ``GridSearchCV`` of one).
    """
    if hasattr(model, "best_estimator_"):
        model = model.best_estimator_
    calibrated = model.named_steps[STEP_SVM]
    check_is_fitted(calibrated)
    ovr = calibrated.calibrated_classifiers_[0].estimator
    svms = ovr.estimators_ if isinstance(ovr, OneVsRestClassifier) else [ovr]
    return np.unique(np.concatenate([s.support_ for s in svms]))


def _as_number(value: Any, name: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f"grid value {value!r} of {name} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ValueError(f"grid value {value!r} of {name} is not a number") from None


def param_grid(kernel: str, grids: Mapping[str, Any], routes: Mapping[str, str] = PARAM_ROUTES) -> dict[str, list[Any]]:
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
    routes : mapping
        Pipeline parameter of each hyper-parameter: :data:`PARAM_ROUTES` (the calibrated
        pipeline, the default) or :data:`DECISION_ROUTES`.

    Returns
    -------
    dict
        Pipeline parameter names (``routes``) → values, e.g.
        ``{"svm__estimator__estimator__C": [...], "kernel__gamma": [...], ...}``; polynomial kernels
        also fix ``kernel__degree``.
    """
    spec = _kernel_spec(kernel)
    if not isinstance(grids, Mapping):
        raise ValueError(f"grids must be a mapping, got {type(grids).__name__}")
    merged = {k: v for k, v in grids.items() if k not in KERNEL_PARAMS}
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
                elif v == "balanced":
                    vals.append(v)
                else:
                    raise ValueError(f"class_weight must be null or 'balanced', got {v!r}")
        out[routes[key]] = vals
    if "degree" in spec:
        out[routes["degree"]] = [spec["degree"]]
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
    scores: str = "decisions",
    precompute: bool = True,
    augmentation: HostAugmentation | None = None,
    wavelength: np.ndarray | None = None,
    selection: str = "best",
) -> SearchResult:
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
    scores : {"decisions", "probabilities"}
        What a candidate is scored by on each fold. ``decisions``: the one-vs-rest SVMs' own
        decisions (argmax of their decision functions; for two classes the sign), as
        ``SVC.predict`` scores the paper's search; the sigmoid calibration is then fitted once,
        for the chosen parameters (a third of the SVM fits). ``probabilities``: the calibrated
        pipeline's predictions (every candidate fitted with its calibration folds).
    precompute : bool
        Search on one precomputed matrix of all rows (:class:`~agn_saliency.learn.kernels.GramKernel`),
        where it applies (centred pixels, numeric gamma). False: always the flux pipeline with
        scikit-learn's transformer cache (the reference ``benchmarks/search.py`` times it against).
    augmentation, wavelength : HostAugmentation, ndarray, optional
        Host-starlight augmentation of the rows a model is fitted on
        (:func:`~agn_saliency.learn.augment.augment_with_host`, seeded by ``seed``; ``wavelength``
        is the grid of ``X``). Each fold's model is fitted on the augmented versions of its training
        rows and scored on the held-out rows as they are; the refit uses all augmented rows.
    selection : {"best", "one_standard_error"}
        ``best``: the candidate with the highest mean fold score. ``one_standard_error``: the most
        regularised candidate whose mean score is within one standard error (fold standard
        deviation / √folds) of the best (:func:`one_standard_error_choice`).

    Returns
    -------
    SearchResult
        ``best_estimator_`` is the calibrated pipeline (:func:`build_pipeline`) with the best
        parameters, refitted on all rows.
    """
    if scores not in SEARCH_SCORES:
        raise ValueError(f"scores must be one of {SEARCH_SCORES}, got {scores!r}")
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError(f"X must be (n_spectra, n_pixels) matching y; got {X.shape} and {y.shape}")
    if not np.all(np.isfinite(X)):
        raise ValueError("X contains non-finite values")
    if not (isinstance(cv_folds, numbers.Integral) and cv_folds >= 2):
        raise ValueError(f"cv_folds must be an integer >= 2, got {cv_folds!r}")
    routes = DECISION_ROUTES if scores == "decisions" else PARAM_ROUTES
    grid = param_grid(kernel, grids, routes)
    labels, counts = np.unique(y, return_counts=True)
    if counts.min() < cv_folds:
        raise ValueError(
            f"too few training spectra for {cv_folds}-fold cross-validation: "
            f"{dict(zip(labels.tolist(), counts.tolist()))}; lower classify.cv_folds or add labelled spectra"
        )
    folds: Any = StratifiedKFold(cv_folds, shuffle=True, random_state=seed)
    fit_rows = X
    if augmentation is not None and augmentation.share > 0:
        if wavelength is None:
            raise ValueError("host augmentation needs the wavelength grid of X")
        fit_rows = augment_with_host(X, wavelength, augmentation, seed)
        # Rows n… are the augmented versions: folds fit on them and score on the originals.
        n = X.shape[0]
        folds = [(train + n, test) for train, test in folds.split(X, y)]
        X, y = np.concatenate([X, fit_rows]), np.concatenate([y, y])
    svm: Any = calibrated_svm(calibration_folds, seed)
    if scores == "decisions":  # the calibrated step's SVMs, without the calibration
        svm = svm.estimator
    n_candidates = int(np.prod([len(values) for values in grid.values()])) if grid else 1
    log = logging.getLogger("agn_saliency.progress")
    log.info(
        "grid search (%s): %d candidates x %d folds = %d fits, then one refit",
        kernel,
        n_candidates,
        cv_folds,
        n_candidates * cv_folds,
    )
    started = time.monotonic()
    # X was checked finite above and GramKernel checks each kernel matrix it makes: scikit-learn need
    # not check them again in each of the search's hundreds of fits and predictions (~0.6 s of a 6 s search).
    with config_context(assume_finite=True):
        if precompute and not scale_variance and not any(isinstance(g, str) for g in grid.get(routes["gamma"], [])):
            # The kernel's input matrix is computed once, for all rows; every fold and candidate slices
            # it, and GramKernel centres and applies the kernel as the scale and kernel steps would
            # (measured 1.65x faster than a Gram matrix per fold in scikit-learn's transformer cache, the
            # same scores: benchmarks/search.py).
            spec = _kernel_params(kernel)
            search = GridSearchCV(
                Pipeline([(STEP_KERNEL, GramKernel(**spec)), (STEP_SVM, svm)]),
                grid, scoring=scoring, cv=folds, refit=False, n_jobs=n_jobs, error_score="raise",
            )  # fmt: skip
            search.fit(gram_input(X, spec["kernel"]), y)
        else:
            # Standardised pixels, or gamma "scale"/"auto" (which need the rows): the pipeline itself,
            # with each fold's Gram matrix computed once per kernel parameter set in scikit-learn's
            # transformer cache (candidates that differ only in C or class_weight share it).
            with tempfile.TemporaryDirectory(prefix="agn-saliency-gram-") as cache:
                pipeline = build_pipeline(kernel, seed, calibration_folds, scale_variance)
                pipeline.steps[-1] = (STEP_SVM, svm)
                pipeline.memory = cache
                search = GridSearchCV(pipeline, grid, scoring=scoring, cv=folds, refit=False, n_jobs=n_jobs, error_score="raise")
                search.fit(X, y)
    took = time.monotonic() - started
    log.info(
        "grid search: %d/%d fits in %.1f s (%.3g fits/s); refitting the best",
        n_candidates * cv_folds,
        n_candidates * cv_folds,
        took,
        n_candidates * cv_folds / max(took, 1e-9),
    )
    hyper_parameter = {route: name for name, route in routes.items()}
    chosen = search.best_index_ if selection == "best" else one_standard_error_choice(search.cv_results_, cv_folds, routes)
    params_chosen = search.cv_results_["params"][chosen]
    best_params = pipeline_params(**{hyper_parameter[route]: value for route, value in params_chosen.items()})
    model = build_pipeline(kernel, seed, calibration_folds, scale_variance).set_params(**best_params)
    with config_context(assume_finite=True):
        model.fit(fit_rows, y[: fit_rows.shape[0]])
    return SearchResult(model, best_params, float(search.cv_results_["mean_test_score"][chosen]), search.cv_results_)


SELECTIONS = ("best", "one_standard_error")
"""How :func:`grid_search` picks a candidate from the fold scores (configuration ``classify.selection``)."""


def one_standard_error_choice(cv_results: Mapping[str, Any], cv_folds: int, routes: Mapping[str, str] = PARAM_ROUTES) -> int:
    """Index of the most regularised candidate within one standard error of the best mean score.

    The one-standard-error rule (Breiman et al. 1984, *Classification and Regression Trees*, §3.4.3;
    Hastie, Tibshirani & Friedman 2009, *The Elements of Statistical Learning*, §7.10): candidates
    whose mean fold score is at least ``best − std_best / √cv_folds`` are equally good within the
    noise of the folds; of those the simplest is taken — smallest ``C`` (the widest margin), then
    smallest ``gamma`` (the smoothest kernel), then the higher mean score.

    >>> results = {"params": [{"svm__estimator__C": 10.0}, {"svm__estimator__C": 1.0}, {"svm__estimator__C": 0.1}],
    ...            "mean_test_score": [0.90, 0.89, 0.80], "std_test_score": [0.03, 0.02, 0.02]}
    >>> one_standard_error_choice(results, 4, DECISION_ROUTES)
    1
    """
    means = np.asarray(cv_results["mean_test_score"], dtype=np.float64)
    stds = np.asarray(cv_results["std_test_score"], dtype=np.float64)
    best = int(np.nanargmax(means))
    threshold = means[best] - stds[best] / np.sqrt(cv_folds)
    c_route, gamma_route = routes["C"], routes["gamma"]

    def simplicity(i: int) -> tuple[float, float, float]:
        params = cv_results["params"][i]
        gamma = params.get(gamma_route, 0.0)
        return (float(params.get(c_route, 1.0)), float(gamma) if isinstance(gamma, numbers.Number) else 0.0, -means[i])

    return min((i for i in range(means.size) if means[i] >= threshold), key=simplicity)


def _plain(value: Any) -> Any:
    """A value as a JSON/ECSV-friendly Python scalar."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def cv_results_table(search: GridSearchCV | SearchResult) -> list[dict[str, Any]]:
    """One row per candidate of a fitted search, ready to write as ECSV or JSON.

    Columns: the tuned parameters (short names: the step prefixes removed, in alphabetical order;
    None stays None), ``mean_test_score``,
    ``std_test_score``, ``rank_test_score``, ``split<i>_test_score``, mean/std fit and score time
    (s). Rows are in candidate order.
    """
    res = search.cv_results_
    params = sorted({k for p in res["params"] for k in p}, key=lambda k: k.split("__")[-1])
    split_keys = sorted(
        (k for k in res if k.startswith("split") and k.endswith("_test_score")), key=lambda k: int(k[5:].split("_")[0])
    )
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
        "classification_report": classification_report(truth, pred, labels=labels, digits=3, zero_division=0),
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


def prediction_rows(
    specid: np.ndarray, true_label: np.ndarray, model_classes: np.ndarray, probabilities: np.ndarray
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows and columns of a predictions table: ``specid``, ``true``, ``predicted`` and one ``p_<class>``
    per class in display order (:func:`agn_saliency.core.vocabulary.display_order`), whatever the order of
    the model's ``classes_`` (the columns of ``probabilities``).

    >>> rows, columns = prediction_rows(["a"], ["type2"], np.array(["type1", "type2"])[::-1], np.array([[0.9, 0.1]]))
    >>> columns, str(rows[0]["predicted"]), rows[0]["p_type1"]
    (['specid', 'true', 'predicted', 'p_type1', 'p_type2'], 'type2', '0.100000')
    """
    classes = [str(c) for c in model_classes]
    shown = display_order(classes)
    order = [classes.index(c) for c in shown]
    predicted = most_probable(probabilities, classes)  # ties as scikit-learn's predict, as the saliency files
    rows = [
        {"specid": s, "true": t, "predicted": p, **{f"p_{c}": f"{q:.6f}" for c, q in zip(shown, prob[order])}}
        for s, t, p, prob in zip(specid, true_label, predicted, np.asarray(probabilities))
    ]
    return rows, ["specid", "true", "predicted", *probability_columns(classes)]
