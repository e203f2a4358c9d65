"""Out-of-distribution scores, kernel underflow and their calibration (agn_saliency.predict.ood)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import binom
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.neighbors import NearestNeighbors

from agn_saliency.learn.classify import build_pipeline, pipeline_params
from agn_saliency.predict.ood import calibrate_ood, kernel_underflow, ood_scores, ood_status, score_description

N_PIXELS = 80
WAVELENGTH = np.linspace(4000.0, 5500.0, N_PIXELS)
CLASSES = np.array(["type1", "type2"])


def _spectra(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuum 1 with a random slope, a narrow line (both classes) and a broad line (type1), noise 0.05."""
    labels = rng.integers(0, 2, n)
    slope = rng.normal(0.0, 0.1, (n, 1)) * (WAVELENGTH - 4750.0) / 750.0
    narrow = rng.uniform(0.5, 1.5, (n, 1)) * np.exp(-0.5 * ((WAVELENGTH - 5008.0) / 8.0) ** 2)
    broad = labels[:, None] * rng.uniform(0.3, 0.8, (n, 1)) * np.exp(-0.5 * ((WAVELENGTH - 4862.0) / 60.0) ** 2)
    flux = 1.0 + slope + narrow + broad + rng.normal(0.0, 0.05, (n, N_PIXELS))
    return flux, CLASSES[labels]


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(20240601)
    X, y = _spectra(rng, 150)
    X_cal, _ = _spectra(rng, 400)
    X_test, _ = _spectra(rng, 1000)
    return {"X": X, "y": y, "X_cal": X_cal, "X_test": X_test}


@pytest.fixture(scope="module")
def rbf_model(data):
    return build_pipeline("rbf", seed=0).fit(data["X"], data["y"])


def _star_forming(flux: np.ndarray, peak: float) -> np.ndarray:
    """The spectrum with emission lines at Hβ and [OIII] `peak` × the continuum (like star-forming galaxies)."""
    lines = np.exp(-0.5 * ((WAVELENGTH - 4862.0) / 4.0) ** 2) + np.exp(-0.5 * ((WAVELENGTH - 5008.0) / 4.0) ** 2)
    return flux + peak * lines


def test_scores_are_rms_distance_to_kth_neighbour(data, rbf_model) -> None:
    X, Xt = data["X"], data["X_test"][:20]
    for k in (1, 5):
        z_train = rbf_model.named_steps["scale"].transform(X)
        z = rbf_model.named_steps["scale"].transform(Xt)
        expected = np.sort(np.linalg.norm(z[:, None, :] - z_train[None, :, :], axis=2), axis=1)[:, k - 1] / np.sqrt(N_PIXELS)
        scores = ood_scores(rbf_model, Xt, k=k)
        assert scores.shape == (20,)
        np.testing.assert_allclose(scores, expected, rtol=1e-7)
    # Scores grow with k, and training rows are at distance 0 from themselves (hence: leave-self-out).
    assert np.all(ood_scores(rbf_model, Xt, k=5) >= ood_scores(rbf_model, Xt, k=1))
    assert np.all(ood_scores(rbf_model, X[:5], k=1) < 1e-6)  # (|a|² + |b|² - 2ab: ~1e-8, not exactly 0)
    assert ood_scores(rbf_model, Xt[:0]).shape == (0,)


def test_heldout_rate_matches_quantile(data, rbf_model) -> None:
    """Fresh spectra of the training distribution exceed the calibrated threshold at ≈ 1 - quantile.

    With the threshold at the empirical q-quantile of n_cal = 400 calibration scores, the
    exceedance probability of a fresh spectrum is itself random, ≈ Beta with standard deviation
    sqrt(q(1-q)/n_cal) = 0.015 for q = 0.9; the observed rate over 1000 test spectra adds binomial
    noise sqrt(q(1-q)/1000) = 0.0095. Together σ ≈ 0.018: a tolerance of 0.05 is ~2.8σ (and the
    data are seeded, so the test is deterministic).
    """
    q = 0.9
    meta = calibrate_ood(rbf_model, data["X_cal"], quantile=q)
    scores = ood_scores(rbf_model, data["X_test"])
    underflow = kernel_underflow(rbf_model, data["X_test"])
    assert not underflow.any()
    rate = ood_status(scores, underflow, meta["threshold"]).mean()
    assert abs(rate - (1 - q)) < 0.05, rate
    # The exceedance count is also consistent with a binomial of rate 1 - q at the 0.1 % level.
    n_out = int(round(rate * scores.size))
    assert binom.cdf(n_out, scores.size, 1 - q) > 5e-4 and binom.sf(n_out - 1, scores.size, 1 - q) > 5e-4


def test_calibration_metadata(data, rbf_model) -> None:
    meta = calibrate_ood(rbf_model, data["X_cal"])
    json.dumps(meta)  # stored in the model's JSON metadata
    assert meta["score"] == "rms distance to 5th nearest training spectrum (scaled flux)"
    assert meta["k"] == 5 and meta["quantile"] == 0.99 and meta["n_calibration"] == 400 and meta["n_training"] == 150
    assert isinstance(meta["threshold"], float) and meta["threshold"] > meta["score_median"] > 0
    np.testing.assert_allclose(meta["threshold"], np.quantile(ood_scores(rbf_model, data["X_cal"]), 0.99))
    assert "held-out" in meta["calibrated_on"]
    assert score_description(1) == "rms distance to 1st nearest training spectrum (scaled flux)"
    assert score_description(12).startswith("rms distance to 12th")
    with pytest.warns(UserWarning, match="equal a training row"):
        calibrate_ood(rbf_model, data["X"][:10])


@pytest.mark.parametrize("kernel", ["linear", "rbf", "poly2"])
def test_strong_lines_are_out_of_distribution(data, kernel: str) -> None:
    """Emission lines 100× the continuum: far beyond the threshold, whatever the kernel."""
    model = build_pipeline(kernel, seed=0).fit(data["X"], data["y"])
    meta = calibrate_ood(model, data["X_cal"])
    weird = _star_forming(data["X_test"][:3], 100.0)
    scores = ood_scores(model, weird)
    assert np.all(scores > 10 * meta["threshold"])
    assert ood_status(scores, kernel_underflow(model, weird), meta["threshold"]).all()
    # The same spectra without the added lines are in distribution.
    assert not ood_status(
        ood_scores(model, data["X_test"][:3]), kernel_underflow(model, data["X_test"][:3]), meta["threshold"]
    ).any()


def test_rbf_underflow_is_flagged(data, rbf_model) -> None:
    """Far from every support vector an RBF model answers with its intercepts: identical probabilities,
    whatever the spectrum; kernel_underflow and ood_status flag it even with an infinite-looking threshold."""
    far = np.vstack([_star_forming(data["X_test"][:2], 100.0), data["X_test"][2:4] + 50.0])
    gram = rbf_model[:-1].transform(far)
    assert np.all(gram == 0.0)  # the premise: every kernel value underflowed
    proba = rbf_model.predict_proba(far)
    np.testing.assert_array_equal(proba, np.broadcast_to(proba[0], proba.shape))  # the intercepts' answer
    flags = kernel_underflow(rbf_model, far)
    assert flags.dtype == bool and flags.shape == (4,) and flags.all()
    assert ood_status(np.zeros(4), flags, threshold=1e300).all()
    # Ordinary spectra are not flagged; nor is anything for kernels that do not decay with distance.
    assert not kernel_underflow(rbf_model, data["X_test"][:50]).any()
    linear = build_pipeline("linear", seed=0).fit(data["X"], data["y"])
    assert not kernel_underflow(linear, far).any()
    # Three classes: one-vs-rest decision functions, all at their intercepts.
    three = np.where(np.arange(data["y"].size) % 3 == 0, "intermediate", data["y"])
    multiclass = build_pipeline("rbf", seed=0).fit(data["X"], three)
    assert kernel_underflow(multiclass, far).all() and not kernel_underflow(multiclass, data["X_test"][:50]).any()


def test_search_is_unwrapped(data) -> None:
    search = GridSearchCV(build_pipeline("rbf", seed=0), pipeline_params(C=[0.5, 2.0]), cv=3).fit(data["X"], data["y"])
    Xt = data["X_test"][:30]
    np.testing.assert_array_equal(ood_scores(search, Xt), ood_scores(search.best_estimator_, Xt))
    np.testing.assert_array_equal(kernel_underflow(search, Xt), kernel_underflow(search.best_estimator_, Xt))
    assert calibrate_ood(search, data["X_cal"]) == calibrate_ood(search.best_estimator_, data["X_cal"])


def test_scaled_space_with_variance(data) -> None:
    """With scale_variance the distances are taken after dividing by each pixel's spread."""
    model = build_pipeline("rbf", seed=0, scale_variance=True).fit(data["X"], data["y"])
    scaler = model.named_steps["scale"]
    nn = NearestNeighbors(n_neighbors=5).fit(scaler.transform(data["X"]))
    expected = nn.kneighbors(scaler.transform(data["X_test"][:10]))[0][:, 4] / np.sqrt(N_PIXELS)
    np.testing.assert_allclose(ood_scores(model, data["X_test"][:10]), expected, rtol=1e-7)


def test_bad_inputs(data, rbf_model) -> None:
    Xt = data["X_test"][:5]
    with pytest.raises(ValueError, match="Pipeline of build_pipeline"):
        ood_scores(LogisticRegression().fit(data["X"], data["y"]), Xt)
    with pytest.raises(ValueError, match="not fitted"):
        ood_scores(build_pipeline("rbf", seed=0), Xt)
    with pytest.raises(ValueError, match="not fitted"):
        ood_scores(GridSearchCV(build_pipeline("rbf", seed=0), pipeline_params(C=[1.0])), Xt)
    with pytest.raises(ValueError, match="shape"):
        ood_scores(rbf_model, Xt[0])
    with pytest.raises(ValueError, match="shape"):
        ood_scores(rbf_model, Xt[:, :-1])
    with pytest.raises(ValueError, match="shape"):
        kernel_underflow(rbf_model, Xt[:, :-1])
    bad = Xt.copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        ood_scores(rbf_model, bad)
    with pytest.raises(ValueError, match="non-finite"):
        kernel_underflow(rbf_model, bad)
    for k in (0, -1, 2.5, True, 151):
        with pytest.raises(ValueError, match="k "):
            ood_scores(rbf_model, Xt, k=k)
    for q in (0.0, 1.0, 1.5, "0.9", True):
        with pytest.raises(ValueError, match="quantile"):
            calibrate_ood(rbf_model, data["X_cal"], quantile=q)
    with pytest.raises(ValueError, match="at least 2"):
        calibrate_ood(rbf_model, data["X_cal"][:1])
    with pytest.raises(ValueError, match="one length"):
        ood_status(np.zeros(3), np.zeros(2, bool), 1.0)
    with pytest.raises(ValueError, match="boolean"):
        ood_status(np.zeros(3), np.zeros(3), 1.0)
    with pytest.raises(ValueError, match="threshold"):
        ood_status(np.zeros(3), np.zeros(3, bool), np.nan)
    # NaN scores are never in distribution.
    np.testing.assert_array_equal(ood_status(np.array([0.0, np.nan, 2.0]), np.zeros(3, bool), 1.0), [False, True, True])


@pytest.mark.parametrize("kernel", ["rbf", "poly3", "linear"])
@pytest.mark.parametrize("scale_variance", [False, True])
def test_scores_from_the_kernels_distances(data, kernel: str, scale_variance: bool) -> None:
    """Predict's scores, from the distances the kernel's product gives for the support vectors and
    the other training rows' formed apart, equal ood_scores to rounding (any k, far spectra too);
    a linear model (no support vectors kept) gives no distances."""
    from agn_saliency.explain.maps import explain_batch
    from agn_saliency.predict.ood import ood_scores_near_support

    model = build_pipeline(kernel, seed=0, scale_variance=scale_variance).fit(data["X"], data["y"])
    flux = np.vstack([data["X_test"][:200], data["X_test"][:3] * 40.0])
    classes = [str(c) for c in model.classes_]
    explained = explain_batch(model, flux, classes, {"gradient": {}}, support_distances=True)
    if kernel == "linear":
        assert explained.support_distances is None
        return
    n_support = explained.model.members[0].decisions.n_support
    assert explained.support_distances.shape == (len(flux), n_support) and n_support < len(data["X"])  # rows of both kinds
    for k in (1, 5, len(data["X"])):
        near = ood_scores_near_support(model, explained.model, flux, explained.support_distances, k=k)
        np.testing.assert_allclose(near, ood_scores(model, flux, k=k), rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="rows of distances"):
        ood_scores_near_support(model, explained.model, flux[:5], explained.support_distances)
