"""Exact saliency: analytic gradients against central finite differences of predict_proba."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVC, LinearSVC

from agn_saliency.core.vocabulary import KERNELS
from agn_saliency.explain.saliency import probabilities_and_saliency, saliency
from agn_saliency.learn.classify import build_pipeline, pipeline_params
from agn_saliency.learn.kernels import KernelTransformer

N_PIXELS = 60
CLASSES = np.array(["type1", "type2", "intermediate"])
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three Gaussian classes around 1 with pixel scales from 0.05 to 2 (so 1/σ matters)."""
    rng = np.random.default_rng(42)
    n_per_class = 40
    centres = rng.normal(0.0, 1.0, (3, N_PIXELS))
    pixel_scale = np.geomspace(0.05, 2.0, N_PIXELS)
    labels = np.repeat(np.arange(3), n_per_class)
    X = 1.0 + pixel_scale * (0.4 * centres[labels] + rng.normal(0.0, 1.0, (labels.size, N_PIXELS)))
    y = CLASSES[labels]
    # Test spectra between classes, where probabilities are not saturated and gradients are large.
    i, j = rng.integers(0, n_per_class, 4), rng.integers(0, n_per_class, 4)
    Xt = np.vstack([0.5 * (X[i] + X[n_per_class + j]), 0.5 * (X[n_per_class + i] + X[2 * n_per_class + j])])
    return X, y, Xt


def _subset(X: np.ndarray, y: np.ndarray, task: str) -> tuple[np.ndarray, np.ndarray]:
    keep = np.ones(y.size, bool) if task == "multiclass" else y != "intermediate"
    return X[keep], y[keep]


def _finite_difference(model, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """Central differences ∂p/∂x_j, shape (n_classes, n_pixels); one predict_proba call."""
    shift = np.diag(steps)
    proba = model.predict_proba(np.vstack([x + shift, x - shift]))
    n = x.size
    return ((proba[:n] - proba[n:]) / (2.0 * steps[:, None])).T


def _max_relative_error(model, flux: np.ndarray, analytic: np.ndarray) -> float:
    """max over spectra of max|analytic - numeric| / max|numeric| (over pixels and classes)."""
    # Step 1e-5 of each pixel's training scale: truncation error ~1e-10, rounding ~1e-11.
    scale = np.std(flux, axis=0) if len(flux) > 1 else np.ones(flux.shape[1])
    steps = 1e-5 * np.maximum(scale, 1e-3)
    worst = 0.0
    for x, a in zip(flux, analytic, strict=True):
        numeric = _finite_difference(model, x, steps)
        assert np.abs(numeric).max() > 1e-4, "test spectrum is saturated; the check would be vacuous"
        worst = max(worst, float(np.abs(a - numeric).max() / np.abs(numeric).max()))
    return worst


@pytest.mark.parametrize("scale_variance", [False, True])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_saliency_matches_finite_differences(data, kernel: str, task: str, scale_variance: bool) -> None:
    X, y, Xt = data
    Xs, ys = _subset(X, y, task)
    params = {"C": 1.0}
    if kernel != "linear":
        params["gamma"] = 1.0 / (3 * N_PIXELS)
    model = build_pipeline(kernel, seed=0, scale_variance=scale_variance).set_params(**pipeline_params(**params)).fit(Xs, ys)
    proba, grads = probabilities_and_saliency(model, Xt)
    n_classes = 2 if task == "binary" else 3

    assert grads.shape == (Xt.shape[0], n_classes, N_PIXELS)
    np.testing.assert_allclose(proba, model.predict_proba(Xt), rtol=0, atol=1e-10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    scale = np.abs(grads).max()
    assert np.abs(grads.sum(axis=1)).max() <= 1e-12 * max(scale, 1.0)
    assert _max_relative_error(model, Xt, grads) <= TOLERANCE
    np.testing.assert_array_equal(saliency(model, Xt), grads)


def test_saliency_depends_on_pixel_scale(data) -> None:
    """The 1/σ of the scaler is in the gradient: rescaling one pixel by 10 divides its map by 10."""
    X, y, Xt = data
    model = build_pipeline("rbf", seed=0, scale_variance=True).fit(X, y)
    X2, Xt2 = X.copy(), Xt.copy()
    X2[:, 7] *= 10.0
    Xt2[:, 7] *= 10.0
    model2 = build_pipeline("rbf", seed=0, scale_variance=True).fit(X2, y)
    g1, g2 = saliency(model, Xt), saliency(model2, Xt2)
    np.testing.assert_allclose(g2[:, :, 7], g1[:, :, 7] / 10.0, rtol=1e-6, atol=1e-12)
    np.testing.assert_allclose(np.delete(g2, 7, axis=2), np.delete(g1, 7, axis=2), rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("ensemble", [False, True])
@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly"])
def test_sklearn_calibrated_one_vs_rest(data, kernel: str, ensemble: bool) -> None:
    """scikit-learn's own CalibratedClassifierCV(OneVsRestClassifier(SVC)) is differentiated too."""
    X, y, Xt = data
    svc = SVC(kernel=kernel, degree=3, coef0=1.0, gamma=1.0 / (3 * N_PIXELS))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    model = Pipeline(
        [
            ("scale", StandardScaler()),
            ("svm", CalibratedClassifierCV(OneVsRestClassifier(svc), method="sigmoid", ensemble=ensemble, cv=cv)),
        ]
    ).fit(X, y)
    proba, grads = probabilities_and_saliency(model, Xt)
    np.testing.assert_allclose(proba, model.predict_proba(Xt), rtol=0, atol=1e-10)
    assert _max_relative_error(model, Xt, grads) <= TOLERANCE


@pytest.mark.parametrize("svm", [SVC(kernel="rbf", gamma=0.01), SVC(kernel="poly", degree=2, coef0=1.0, gamma=0.01), LinearSVC()])
def test_sklearn_calibrated_binary(data, svm) -> None:
    X, y, Xt = data
    Xs, ys = _subset(X, y, "binary")
    model = Pipeline(
        [
            ("scale", StandardScaler()),
            ("svm", CalibratedClassifierCV(svm, method="sigmoid", ensemble=False, cv=3)),
        ]
    ).fit(Xs, ys)
    proba, grads = probabilities_and_saliency(model, Xt)
    np.testing.assert_allclose(proba, model.predict_proba(Xt), rtol=0, atol=1e-10)
    assert _max_relative_error(model, Xt, grads) <= TOLERANCE


def test_chunking_and_search_unwrapping(data) -> None:
    from sklearn.model_selection import GridSearchCV

    X, y, Xt = data
    search = GridSearchCV(build_pipeline("poly3", seed=1), pipeline_params(C=[0.5, 2.0]), cv=3).fit(X, y)
    whole = saliency(search, Xt)
    np.testing.assert_array_equal(whole, saliency(search.best_estimator_, Xt))
    np.testing.assert_allclose(saliency(search, Xt, chunk_size=1), whole, rtol=0, atol=1e-12 * np.abs(whole).max())
    np.testing.assert_allclose(probabilities_and_saliency(search, Xt)[0], search.predict_proba(Xt), rtol=0, atol=1e-10)


def test_bad_inputs(data) -> None:
    X, y, Xt = data
    model = build_pipeline("linear", seed=0).fit(X, y)
    with pytest.raises(ValueError, match="shape"):
        saliency(model, Xt[0])
    with pytest.raises(ValueError, match="shape"):
        saliency(model, Xt[:, :-1])
    for bad in (np.nan, np.inf):
        flux = Xt.copy()
        flux[1, 3] = bad
        with pytest.raises(ValueError, match="non-finite"):
            saliency(model, flux)


@pytest.mark.parametrize(
    "make_model",
    [
        lambda: Pipeline([("scale", StandardScaler()), ("clf", LogisticRegression())]),
        lambda: Pipeline([("scale", MinMaxScaler()), ("svm", CalibratedClassifierCV(LinearSVC(), cv=3))]),
        lambda: CalibratedClassifierCV(SVC(), method="sigmoid", cv=3),  # multi-class SVC: one-vs-one votes
        lambda: CalibratedClassifierCV(OneVsRestClassifier(SVC()), method="isotonic", cv=3),
    ],
)
def test_unsupported_models(data, make_model) -> None:
    X, y, Xt = data
    with pytest.raises(ValueError, match="unsupported|not differentiable|only sigmoid|not supported"):
        saliency(make_model().fit(X, y), Xt)


def test_svc_gamma_scale_is_refused(data) -> None:
    """SVC(gamma="scale") keeps its resolved gamma private: refused, with the way out named."""
    X, y, Xt = data
    Xs, ys = _subset(X, y, "binary")
    model = CalibratedClassifierCV(SVC(kernel="rbf"), method="sigmoid", ensemble=False, cv=3).fit(Xs, ys)
    with pytest.raises(ValueError, match="gamma='scale'.*KernelTransformer"):
        saliency(model, Xt)


@pytest.mark.parametrize("task", ["binary", "multiclass"])
@pytest.mark.parametrize("kernel", KERNELS)
def test_build_pipeline_model(data, kernel: str, task: str) -> None:
    """The pipeline of build_pipeline (scaler → KernelTransformer → calibrated one-vs-rest
    SVC(kernel="precomputed")): probabilities equal predict_proba, gradients match central
    differences, with gamma="scale" resolved by the kernel step and class weights on."""
    X, y, Xt = data
    Xs, ys = _subset(X, y, task)
    params = {"C": 2.0, "class_weight": "balanced"}
    if kernel in ("poly2", "poly3"):
        params["gamma"] = 1.0 / (3 * N_PIXELS)
    model = build_pipeline(kernel, seed=3).set_params(**pipeline_params(**params)).fit(Xs, ys)
    assert isinstance(model.named_steps["kernel"], KernelTransformer)
    assert model.named_steps["svm"].calibrated_classifiers_[0].estimator.estimators_[0].kernel == "precomputed"
    proba, grads = probabilities_and_saliency(model, Xt)
    np.testing.assert_allclose(proba, model.predict_proba(Xt), rtol=0, atol=1e-12)
    assert grads.shape == (Xt.shape[0], 2 if task == "binary" else 3, N_PIXELS)
    assert _max_relative_error(model, Xt, grads) <= TOLERANCE


def test_kernel_step_must_precede_the_classifier(data) -> None:
    X, y, Xt = data
    model = build_pipeline("rbf", seed=0).fit(X, y)
    kernel = model.named_steps["kernel"]
    reordered = Pipeline(
        [("kernel", kernel), ("scale", StandardScaler().fit(kernel.transform(X))), ("svm", model.named_steps["svm"])]
    )
    with pytest.raises(ValueError, match="last step before the classifier"):
        saliency(reordered, Xt)


def test_unfitted_model(data) -> None:
    with pytest.raises(ValueError, match="not fitted"):
        saliency(build_pipeline("rbf", seed=0), data[2])
