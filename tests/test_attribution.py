"""Attribution methods of agn_saliency.explain.saliency.attribute against central differences and the IG axioms.

Gradient-type maps are compared with central differences of ``predict_proba`` (or of the log-odds
computed from it) by the max-norm relative error ``max|analytic - numeric| / max|numeric|`` over
every class and pixel of one spectrum, worst spectrum ≤ 1e-6. The step is 1e-5 of each pixel's
spread over the test spectra: truncation error ~1e-10 and rounding ~1e-11 relative, both far below
the tolerance, while a wrong factor (a missed 1/σ, a sign, a class mix-up) is O(1).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.calibration import CalibratedClassifierCV
from sklearn.model_selection import StratifiedKFold
from sklearn.multiclass import OneVsRestClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from agn_saliency.core.vocabulary import KERNELS
from agn_saliency.explain.saliency import (
    ATTRIBUTION_METHODS,
    attribute,
    completeness_error,
    probabilities,
    probabilities_and_saliency,
    saliency,
    training_mean,
)
from agn_saliency.learn.classify import build_pipeline, pipeline_params

N_PIXELS = 40
N_PER_CLASS = 20
CLASSES = np.array(["type1", "type2", "intermediate"])
TASKS = ["binary", "multiclass"]
TOLERANCE = 1e-6


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """60 spectra x 40 pixels in three Gaussian classes with pixel scales 0.05–2 (so 1/σ matters)."""
    rng = np.random.default_rng(7)
    centres = rng.normal(0.0, 1.0, (3, N_PIXELS))
    pixel_scale = np.geomspace(0.05, 2.0, N_PIXELS)
    labels = np.repeat(np.arange(3), N_PER_CLASS)
    X = 1.0 + pixel_scale * (0.4 * centres[labels] + rng.normal(0.0, 1.0, (labels.size, N_PIXELS)))
    # Test spectra between classes, where probabilities are not saturated and gradients are large.
    i, j = rng.integers(0, N_PER_CLASS, 3), rng.integers(0, N_PER_CLASS, 3)
    Xt = np.vstack([0.5 * (X[i] + X[N_PER_CLASS + j]), 0.5 * (X[N_PER_CLASS + i] + X[2 * N_PER_CLASS + j])])
    return X, CLASSES[labels], Xt


_MODELS: dict[tuple[str, str], Pipeline] = {}


def _model(data, kernel: str, task: str) -> Pipeline:
    """build_pipeline fitted on the task's spectra (cached across tests)."""
    if (kernel, task) not in _MODELS:
        X, y, _ = data
        keep = np.ones(y.size, bool) if task == "multiclass" else y != "intermediate"
        params = {"C": 1.0} if kernel == "linear" else {"C": 1.0, "gamma": 1.0 / (3 * N_PIXELS)}
        _MODELS[kernel, task] = build_pipeline(kernel, seed=0).set_params(**pipeline_params(**params)).fit(X[keep], y[keep])
    return _MODELS[kernel, task]


def _log_odds(proba: np.ndarray) -> np.ndarray:
    """log(p_k / Σ_{j≠k} p_j): the other classes summed, not 1 - p_k, so it stays accurate near p_k = 1."""
    others = np.stack([np.delete(proba, k, axis=1).sum(axis=1) for k in range(proba.shape[1])], axis=1)
    return np.log(proba) - np.log(others)


def _central_differences(func, x: np.ndarray, steps: np.ndarray) -> np.ndarray:
    """∂func/∂x_j (n_outputs, n_pixels) by central differences; one call of func on 2·n_pixels rows."""
    shift = np.diag(steps)
    values = func(np.vstack([x + shift, x - shift]))
    n = x.size
    return ((values[:n] - values[n:]) / (2.0 * steps[:, None])).T


def _max_relative_error(func, flux: np.ndarray, analytic: np.ndarray, steps: np.ndarray) -> float:
    worst = 0.0
    for x, a in zip(flux, analytic, strict=True):
        numeric = _central_differences(func, x, steps)
        assert np.abs(numeric).max() > 1e-4, "saturated test spectrum: the comparison would be vacuous"
        worst = max(worst, float(np.abs(a - numeric).max() / np.abs(numeric).max()))
    return worst


def _steps(flux: np.ndarray) -> np.ndarray:
    return 1e-5 * np.maximum(np.std(flux, axis=0), 1e-3)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_gradient_methods_match_central_differences(data, kernel: str, task: str) -> None:
    _, _, Xt = data
    model = _model(data, kernel, task)
    n_classes = 2 if task == "binary" else 3
    steps = _steps(Xt)

    gradient = attribute(model, Xt, "gradient")
    assert gradient.shape == (Xt.shape[0], n_classes, N_PIXELS) and gradient.dtype == np.float64
    np.testing.assert_array_equal(gradient, saliency(model, Xt))
    assert _max_relative_error(model.predict_proba, Xt, gradient, steps) <= TOLERANCE

    logit = attribute(model, Xt, "logit_gradient")
    assert logit.shape == gradient.shape
    assert _max_relative_error(lambda f: _log_odds(model.predict_proba(f)), Xt, logit, steps) <= TOLERANCE

    # Captum's InputXGradient: the flux itself times the (checked) gradient.
    np.testing.assert_allclose(attribute(model, Xt, "gradient_x_input"), Xt[:, None, :] * gradient, rtol=1e-15, atol=0)


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kernel", ["rbf", "poly3"])
def test_smoothgrad_is_the_mean_gradient_at_the_documented_noise_draws(data, kernel: str, task: str) -> None:
    """One sample is ∂p/∂x at x + ε, ε = default_rng(seed).standard_normal · noise·(max x - min x)."""
    _, _, Xt = data
    model = _model(data, kernel, task)
    sigma = 0.05 * (Xt.max(axis=1) - Xt.min(axis=1))
    rng = np.random.default_rng(11)
    draws = [Xt + rng.standard_normal(Xt.shape) * sigma[:, None] for _ in range(3)]

    single = attribute(model, Xt, "smoothgrad", noise=0.05, n_samples=1, seed=11)
    assert _max_relative_error(model.predict_proba, draws[0], single, _steps(Xt)) <= TOLERANCE
    mean = attribute(model, Xt, "smoothgrad", noise=0.05, n_samples=3, seed=11)
    expected = np.mean([saliency(model, d) for d in draws], axis=0)
    np.testing.assert_allclose(mean, expected, rtol=0, atol=1e-14 * np.abs(expected).max())


def test_smoothgrad_seeds(data) -> None:
    _, _, Xt = data
    model = _model(data, "rbf", "multiclass")
    first = attribute(model, Xt, "smoothgrad", n_samples=4, seed=3)
    np.testing.assert_array_equal(first, attribute(model, Xt, "smoothgrad", n_samples=4, seed=3))
    np.testing.assert_allclose(
        attribute(model, Xt, "smoothgrad", n_samples=4, seed=3, chunk_size=1), first, rtol=1e-12, atol=1e-15
    )
    other = attribute(model, Xt, "smoothgrad", n_samples=4, seed=4)
    assert np.abs(other - first).max() > 1e-3 * np.abs(first).max()
    # Zero noise: every sample is the plain gradient.
    np.testing.assert_allclose(
        attribute(model, Xt, "smoothgrad", noise=0.0, n_samples=2), saliency(model, Xt), rtol=1e-14, atol=0
    )


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_integrated_gradients_completeness_and_quadrature(data, kernel: str, task: str) -> None:
    X, _, Xt = data
    model = _model(data, kernel, task)
    ig = attribute(model, Xt, "integrated_gradients")
    assert ig.shape == (Xt.shape[0], 2 if task == "binary" else 3, N_PIXELS)

    # Completeness for every class: Σ_j IG_kj = p_k(x) - p_k(training mean).
    mean = model.named_steps["scale"].mean_
    np.testing.assert_allclose(training_mean(model), mean, rtol=1e-15, atol=0)
    delta = model.predict_proba(Xt) - model.predict_proba(mean[None])
    assert np.abs(delta).max() > 1e-2, "test spectra too close to the baseline: completeness would be vacuous"
    errors = completeness_error(model, Xt, ig)
    assert errors.shape == (Xt.shape[0],) and errors.max() <= TOLERANCE
    np.testing.assert_allclose(ig.sum(axis=2), delta, rtol=0, atol=TOLERANCE * np.abs(delta).max())

    # The quadrature has converged: 4x the nodes changes nothing beyond 1e-10 of the largest value.
    fine = attribute(model, Xt, "integrated_gradients", n_steps=128, tolerance=np.inf)
    assert np.abs(fine - ig).max() <= 1e-10 * np.abs(fine).max()

    # The path integral (node weights summed before the support-vector product) equals the plain
    # Gauss-Legendre sum of the (finite-difference-checked) saliency at the nodes.
    nodes, weights = np.polynomial.legendre.leggauss(32)
    plain = sum(0.5 * w * saliency(model, mean + 0.5 * (t + 1.0) * (Xt - mean)) for t, w in zip(nodes, weights, strict=True))
    plain = plain * (Xt - mean)[:, None, :]
    np.testing.assert_allclose(
        attribute(model, Xt, "integrated_gradients", tolerance=np.inf), plain, rtol=0, atol=1e-12 * np.abs(plain).max()
    )


def test_integrated_gradients_baselines_and_refinement(data) -> None:
    X, _, Xt = data
    model = _model(data, "rbf", "multiclass")
    zero = np.zeros(N_PIXELS)
    ig0 = attribute(model, Xt, "integrated_gradients", baseline=zero)
    assert completeness_error(model, Xt, ig0, zero).max() <= TOLERANCE
    np.testing.assert_allclose(ig0.sum(axis=2), model.predict_proba(Xt) - model.predict_proba(zero[None]), rtol=0, atol=1e-7)
    # One baseline per spectrum; a spectrum equal to its baseline gets zero maps and zero error.
    per_spectrum = X[: Xt.shape[0]].copy()
    per_spectrum[0] = Xt[0]
    igs = attribute(model, Xt, "integrated_gradients", baseline=per_spectrum, chunk_size=2)
    assert np.all(igs[0] == 0.0)
    errors = completeness_error(model, Xt, igs, per_spectrum)
    assert errors[0] == 0.0 and errors.max() <= TOLERANCE

    # Two nodes miss the tolerance; the adaptive pass doubles them only where needed.
    coarse = attribute(model, Xt, "integrated_gradients", baseline=zero, n_steps=2, tolerance=np.inf)
    assert completeness_error(model, Xt, coarse, zero).max() > 1e-4
    refined = attribute(model, Xt, "integrated_gradients", baseline=zero, n_steps=2)
    assert completeness_error(model, Xt, refined, zero).max() <= TOLERANCE
    with pytest.warns(UserWarning, match=r"\d+ of 6 spectra miss the completeness tolerance"):
        attribute(model, Xt, "integrated_gradients", baseline=zero, n_steps=2, max_steps=4)


@pytest.mark.parametrize("kernel", ["linear", "poly2"])
def test_logit_gradient_does_not_saturate(data, kernel: str) -> None:
    """Far along the type1 - rest direction p(type1) → 1: ∂p vanishes below 1e-6, ∂ log-odds does not."""
    X, y, Xt = data
    for task in TASKS:
        model = _model(data, kernel, task)
        # Towards type1 and away from every other class, so only type1's sigmoid saturates.
        direction = X[y == "type1"].mean(axis=0) - X[np.isin(y, model.classes_) & (y != "type1")].mean(axis=0)
        k = list(model.classes_).index("type1")
        for t in np.arange(1.0, 200.0, 0.5):
            far = Xt[:1] + t * direction
            proba = model.predict_proba(far)[0]
            if np.abs(saliency(model, far)).max() < 1e-6:
                break
        else:
            pytest.fail("no saturated spectrum found")
        assert proba[k] > 0.999 and proba.min() > 0.0  # confidently type1; no probability underflows
        logit = attribute(model, far, "logit_gradient", target="type1")[0]
        assert np.all(np.isfinite(logit)) and np.abs(logit).max() > 1e-2
        if kernel == "linear" and task == "binary":
            # log-odds = -(a f + b) is linear in the flux: the same map as at an unsaturated spectrum.
            np.testing.assert_allclose(logit, attribute(model, Xt[:1], "logit_gradient", target=k)[0], rtol=1e-12, atol=0)
        else:
            # The other classes' probabilities are tiny but accurate, so central differences of
            # log p_k - log Σ_{j≠k} p_j still work here.
            maps = attribute(model, far, "logit_gradient")
            predict = model.predict_proba
            assert _max_relative_error(lambda f, predict=predict: _log_odds(predict(f)), far, maps, _steps(Xt)) <= TOLERANCE


def _ensemble_model(X: np.ndarray, y: np.ndarray) -> Pipeline:
    """An rbf pipeline calibrated as an ensemble (one sigmoid per fold): what the one-pass maps do not cover."""
    svc = SVC(kernel="rbf", gamma=1.0 / (3 * N_PIXELS))
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    return Pipeline(
        [
            ("scale", StandardScaler()),
            ("svm", CalibratedClassifierCV(OneVsRestClassifier(svc), method="sigmoid", ensemble=True, cv=cv)),
        ]
    ).fit(X, y)


def test_ensemble_logit_gradient_falls_back(data) -> None:
    X, y, Xt = data
    model = _ensemble_model(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        maps = attribute(model, Xt, "logit_gradient")
    assert _max_relative_error(lambda f: _log_odds(model.predict_proba(f)), Xt, maps, _steps(Xt)) <= TOLERANCE
    ig = attribute(model, Xt, "integrated_gradients")
    assert completeness_error(model, Xt, ig).max() <= TOLERANCE


def test_scaler_without_centring(data) -> None:
    """StandardScaler(with_mean=False) fits mean_ but does not subtract it: neither may the gradient."""
    X, y, Xt = data
    model = Pipeline(
        [
            ("scale", StandardScaler(with_mean=False)),
            ("svm", CalibratedClassifierCV(SVC(kernel="rbf", gamma=0.01), method="sigmoid", ensemble=False, cv=3)),
        ]
    ).fit(X[y != "intermediate"], y[y != "intermediate"])
    proba, grads = probabilities_and_saliency(model, Xt)
    np.testing.assert_allclose(proba, model.predict_proba(Xt), rtol=0, atol=1e-10)
    assert _max_relative_error(model.predict_proba, Xt, grads, _steps(Xt)) <= TOLERANCE
    with pytest.raises(ValueError, match="no StandardScaler.*baseline"):
        training_mean(model)
    with pytest.raises(ValueError, match="no StandardScaler"):
        attribute(model, Xt, "integrated_gradients")
    ig = attribute(model, Xt, "integrated_gradients", baseline=X.mean(axis=0))
    assert completeness_error(model, Xt, ig, X.mean(axis=0)).max() <= TOLERANCE


@pytest.mark.parametrize("method", ATTRIBUTION_METHODS)
def test_target_selection(data, method: str) -> None:
    _, _, Xt = data
    model = _model(data, "poly2", "multiclass")
    options = {"n_samples": 2} if method == "smoothgrad" else {}
    every = attribute(model, Xt, method, **options)
    assert every.shape == (Xt.shape[0], 3, N_PIXELS)
    classes = list(model.classes_)
    np.testing.assert_array_equal(attribute(model, Xt, method, target=1, **options), every[:, 1])
    np.testing.assert_array_equal(attribute(model, Xt, method, target=classes[2], **options), every[:, 2])
    picks = np.arange(Xt.shape[0]) % 3
    rows = np.arange(Xt.shape[0])
    by_index = attribute(model, Xt, method, target=picks, **options)
    assert by_index.shape == (Xt.shape[0], N_PIXELS)
    np.testing.assert_array_equal(by_index, every[rows, picks])
    np.testing.assert_array_equal(attribute(model, Xt, method, target=[classes[i] for i in picks], **options), every[rows, picks])


def test_bad_arguments(data) -> None:
    _, _, Xt = data
    model = _model(data, "linear", "multiclass")
    with pytest.raises(ValueError, match=r"unknown attribution method 'saliency'.*integrated_gradients"):
        attribute(model, Xt, "saliency")
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['steps'\].*'max_steps', 'n_steps'"):
        attribute(model, Xt, "integrated_gradients", steps=8)
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['n_steps'\].*smoothgrad.*'n_samples'"):
        attribute(model, Xt, "smoothgrad", n_steps=8)
    with pytest.raises(ValueError, match="baseline is only used by integrated_gradients"):
        attribute(model, Xt, "gradient", baseline=np.zeros(N_PIXELS))
    for bad in ({"n_steps": 0}, {"n_steps": 2.5}, {"tolerance": -1.0}, {"n_steps": 64, "max_steps": 32}):
        with pytest.raises(ValueError, match="n_steps|tolerance|max_steps"):
            attribute(model, Xt, "integrated_gradients", **bad)
    for bad in ({"n_samples": 0}, {"noise": -0.1}):
        with pytest.raises(ValueError, match="n_samples|noise"):
            attribute(model, Xt, "smoothgrad", **bad)
    with pytest.raises(ValueError, match="chunk_size"):
        attribute(model, Xt, "gradient", chunk_size=0)
    with pytest.raises(ValueError, match="out of range"):
        attribute(model, Xt, "gradient", target=3)
    with pytest.raises(ValueError, match="not a class"):
        attribute(model, Xt, "gradient", target="quasar")
    with pytest.raises(ValueError, match="one per spectrum"):
        attribute(model, Xt, "gradient", target=[0, 1])
    with pytest.raises(ValueError, match="baseline must have shape"):
        attribute(model, Xt, "integrated_gradients", baseline=np.zeros(N_PIXELS + 1))
    with pytest.raises(ValueError, match="shape"):
        attribute(model, Xt[:, :-1], "gradient")
    with pytest.raises(ValueError, match="attributions must have shape"):
        completeness_error(model, Xt, np.zeros((Xt.shape[0], N_PIXELS)))


@pytest.mark.parametrize("kernel", KERNELS)
def test_single_precision_probabilities_are_within_1e4_of_double(data, kernel: str) -> None:
    """probabilities(precision="single"), what the faithfulness curves use, against the double-precision ones."""
    _, _, Xt = data
    model = _model(data, kernel, "multiclass")
    double = probabilities(model, Xt)
    np.testing.assert_allclose(double, model.predict_proba(Xt), rtol=0, atol=1e-9)
    single = probabilities(model, Xt, precision="single")
    assert single.dtype == np.float64 and single.shape == double.shape
    np.testing.assert_allclose(single, double, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="precision must be"):
        probabilities(model, Xt, precision="half")


@pytest.mark.parametrize("kernel", KERNELS)
def test_single_precision_attributions_are_within_1e4_of_double(data, kernel: str) -> None:
    """attribute(precision="single") (kernel matrices in float32): every method within 1e-4 of double,
    float64 out, the same SmoothGrad noise; linear models have no kernel matrix and are unchanged."""
    _, _, Xt = data
    model = _model(data, kernel, "multiclass")
    for method in ATTRIBUTION_METHODS:
        options = {"tolerance": float("inf")} if method == "integrated_gradients" else {}
        double = attribute(model, Xt, method, **options)
        single = attribute(model, Xt, method, precision="single", **options)
        assert single.dtype == np.float64 and single.shape == double.shape
        np.testing.assert_allclose(single, double, rtol=0, atol=1e-4, err_msg=method)
        if kernel == "linear":
            np.testing.assert_array_equal(single, double, err_msg=method)
        else:
            assert not np.array_equal(single, double), method  # the kernel really was formed in float32
    with pytest.raises(ValueError, match="precision must be"):
        attribute(model, Xt, "smoothgrad", precision="float16")


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("kernel", KERNELS)
def test_one_pass_maps_equal_each_method_alone(data, kernel: str, task: str) -> None:
    """explain_batch forms each chunk's kernel matrix once for the probabilities, gradient and
    logit_gradient (and gradient_x_input): the probabilities bit for bit, the maps to rounding
    (1e-13 of a spectrum's largest value; bit for bit when gradient is asked for alone) as attribute
    gives each method alone; its decision values flag the same spectra as kernel_underflow."""
    from agn_saliency.explain.maps import explain_batch
    from agn_saliency.predict.ood import kernel_underflow, underflow_of_decisions

    X, _, Xt = data
    model = _model(data, kernel, task)
    classes = [str(c) for c in model.classes_][::-1]  # a display order other than the model's
    order = [list(model.classes_).index(c) for c in classes]
    far = np.vstack([Xt, Xt[:2] + 1e3])  # two spectra every rbf kernel value underflows for
    proba, gradient = probabilities_and_saliency(model, far)
    alone = explain_batch(model, far, classes, {"gradient": {}})
    np.testing.assert_array_equal(alone.gradient, gradient[:, order])
    methods = {"gradient": {}, "logit_gradient": {}, "gradient_x_input": {}, "smoothgrad": {"n_samples": 2}}
    explained = explain_batch(model, far, classes, methods)
    np.testing.assert_array_equal(explained.probabilities, proba[:, order])
    for method, options in methods.items():
        expected = attribute(model, far, method, **options)[:, order]
        largest = np.abs(expected).max(axis=(1, 2), keepdims=True)
        assert np.all(np.abs(explained.attributions[method] - expected) <= 1e-13 * largest), method
    np.testing.assert_array_equal(explained.attributions["gradient"], explained.gradient)
    flags = underflow_of_decisions(explained.model, explained.decisions)
    np.testing.assert_array_equal(flags, kernel_underflow(model, far))
    assert flags[-2:].all() == (kernel == "rbf") and not flags[:-2].any()


def test_one_pass_maps_of_an_ensemble(data) -> None:
    """An ensemble's logit_gradient is formed from its probabilities (attribute), its gradient in the one pass."""
    from agn_saliency.explain.maps import explain_batch

    X, y, Xt = data
    model = _ensemble_model(X, y)
    classes = [str(c) for c in model.classes_]
    explained = explain_batch(model, Xt, classes, {"gradient": {}, "logit_gradient": {}})
    np.testing.assert_array_equal(explained.gradient, probabilities_and_saliency(model, Xt)[1])  # members pushed one at a time
    np.testing.assert_array_equal(explained.attributions["logit_gradient"], attribute(model, Xt, "logit_gradient"))
    assert len(explained.decisions) == len(explained.model.members) == 3


def test_smooth_model_of_is_kept_until_a_refit(data) -> None:
    """smooth_model_of reduces the same fitted model once; a refit (new fitted attributes) is reduced again."""
    from agn_saliency.explain.saliency.model import smooth_model_of

    X, y, Xt = data
    model = build_pipeline("rbf", seed=0).set_params(**pipeline_params(C=1.0, gamma=1.0 / (3 * N_PIXELS))).fit(X, y)
    first = smooth_model_of(model)
    assert smooth_model_of(model) is first and smooth_model_of(first) is first
    np.testing.assert_allclose(probabilities(first, Xt), model.predict_proba(Xt), rtol=0, atol=1e-12)
    model.fit(X[::-1][:45], y[::-1][:45])  # refitted in place, on other rows
    again = smooth_model_of(model)
    assert again is not first
    np.testing.assert_allclose(probabilities(again, Xt), model.predict_proba(Xt), rtol=0, atol=1e-12)
