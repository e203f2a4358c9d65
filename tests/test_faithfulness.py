"""Faithfulness of saliency maps: deletion/insertion curves, AOPC, randomisation and planted-signal checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.stats import spearmanr

from agn_saliency.explain.faithfulness import (
    CONTINUUM_WINDOW_KMS,
    DEFAULT_FRACTIONS,
    SUMMARY_COLUMNS,
    aopc,
    area_under_curve,
    attribution_ranks,
    continuum_window_pixels,
    deletion_curves,
    faithfulness_summary,
    insertion_curves,
    local_continuum,
    random_order_curves,
    randomised_labels,
    rank_correlation,
    region_chance_level,
    top_k_fraction,
)
from agn_saliency.explain.saliency import probabilities_and_saliency
from agn_saliency.learn.classify import build_pipeline, pipeline_params

N_PIXELS = 80
WAVELENGTH = np.linspace(4000.0, 5500.0, N_PIXELS)
LINE = 4862.0
REGION = np.abs(WAVELENGTH - LINE) < 50.0  # where the planted line sits (6 of 80 pixels)
CLASSES = np.array(["type2", "type1"])  # type1 = the line is present


def _spectra(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Continuum 1 with a random slope and noise 0.05; type1 spectra carry a line of peak 0.3–1 (σ = 25 Å)."""
    labels = rng.integers(0, 2, n)
    slope = rng.normal(0.0, 0.1, (n, 1)) * (WAVELENGTH - 4750.0) / 750.0
    line = labels[:, None] * rng.uniform(0.3, 1.0, (n, 1)) * np.exp(-0.5 * ((WAVELENGTH - LINE) / 25.0) ** 2)
    return 1.0 + slope + line + rng.normal(0.0, 0.05, (n, N_PIXELS)), CLASSES[labels]


@pytest.fixture(scope="module")
def data() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(1)
    X, y = _spectra(rng, 200)
    Xt, yt = _spectra(rng, 60)
    return {"X": X, "y": y, "Xt": Xt, "yt": yt}


def _params(kernel: str, X: np.ndarray) -> dict:
    # RBF with 0.3 × the "scale" gamma: wide enough that the gradient at a test spectrum reflects
    # the whole decision function (with "scale" the probabilities saturate and the gradient of the
    # saturated class is mostly noise, a property of the model, not of this module).
    return pipeline_params(gamma=0.3 / (N_PIXELS * (X - X.mean(0)).var())) if kernel == "rbf" else {}


@pytest.fixture(scope="module", params=["linear", "rbf", "poly2"])
def fitted(request, data) -> dict:
    kernel = request.param
    model = build_pipeline(kernel, seed=0).set_params(**_params(kernel, data["X"])).fit(data["X"], data["y"])
    proba, grads = probabilities_and_saliency(model, data["Xt"])
    target = proba.argmax(axis=1)
    return {
        "kernel": kernel,
        "model": model,
        "target": target,
        "maps": grads[np.arange(target.size), target],  # ∂p_target/∂x of the predicted class
        "baseline": local_continuum(data["Xt"], WAVELENGTH),
    }


# --------------------------------------------------------------------------------------------
# Baseline
# --------------------------------------------------------------------------------------------


def test_local_continuum_erases_lines(data) -> None:
    Xt, yt = data["Xt"], data["yt"]
    base = local_continuum(Xt, WAVELENGTH)
    assert base.shape == Xt.shape
    centre = np.argmin(np.abs(WAVELENGTH - LINE))
    has_line = yt == "type1"
    continuum = 1.0 + np.median(Xt[:, ~REGION] - 1.0, axis=1)  # rough level of each spectrum
    # At the line's peak the baseline is the continuum (within the noise and slope), not the line.
    assert np.all(np.abs(base[has_line, centre] - continuum[has_line]) < 0.1)
    assert np.all(Xt[has_line, centre] - base[has_line, centre] > 0.2)
    # 20 000 km/s on this coarse grid (1500 Å in 79 steps ≈ 1200 km/s per pixel) is ≈ 17 pixels.
    px = continuum_window_pixels(WAVELENGTH)
    assert px % 2 == 1 and px >= 3
    step = 299_792.458 * np.median(np.diff(np.log(WAVELENGTH)))
    assert abs(px - CONTINUUM_WINDOW_KMS / step) <= 2
    np.testing.assert_array_equal(base, local_continuum(Xt, window_px=px))
    np.testing.assert_array_equal(local_continuum(Xt, window_px=16), local_continuum(Xt, window_px=17))  # made odd
    # A window wider than the grid is clipped to it.
    assert continuum_window_pixels(WAVELENGTH, 1e7) == N_PIXELS - 1


def test_local_continuum_bad_inputs(data) -> None:
    Xt = data["Xt"]
    with pytest.raises(ValueError, match="wavelength .* or window_px"):
        local_continuum(Xt)
    with pytest.raises(ValueError, match="not both"):
        local_continuum(Xt, WAVELENGTH, window_kms=1e4, window_px=5)
    with pytest.raises(ValueError, match="window_px"):
        local_continuum(Xt, window_px=2)
    with pytest.raises(ValueError, match="shape"):
        local_continuum(Xt, WAVELENGTH[:-1])
    with pytest.raises(ValueError, match="increasing"):
        local_continuum(Xt, WAVELENGTH[::-1])
    with pytest.raises(ValueError, match="window_kms"):
        local_continuum(Xt, WAVELENGTH, window_kms=-1.0)


# --------------------------------------------------------------------------------------------
# Curves
# --------------------------------------------------------------------------------------------


def test_curve_endpoints_and_shapes(data, fitted) -> None:
    """Deletion starts at p(flux) and ends at p(baseline); insertion the reverse; random orders too."""
    Xt, model, target, maps, base = data["Xt"], fitted["model"], fitted["target"], fitted["maps"], fitted["baseline"]
    rows = np.arange(target.size)
    p_flux = model.predict_proba(Xt)[rows, target]
    p_base = model.predict_proba(base)[rows, target]
    deletion = deletion_curves(model.predict_proba, Xt, maps, base, target)
    insertion = insertion_curves(model.predict_proba, Xt, maps, base, target)
    random = random_order_curves(model.predict_proba, Xt, base, target, seeds=[3, 4])
    random_ins = random_order_curves(model.predict_proba, Xt, base, target, seeds=[3, 4], kind="insertion")
    assert deletion.shape == insertion.shape == (Xt.shape[0], DEFAULT_FRACTIONS.size)
    assert random.shape == random_ins.shape == (2, Xt.shape[0], DEFAULT_FRACTIONS.size)
    for start, end, curves in (
        (p_flux, p_base, deletion),
        (p_base, p_flux, insertion),
        (p_flux, p_base, random),
        (p_base, p_flux, random_ins),
    ):
        np.testing.assert_allclose(curves[..., 0], np.broadcast_to(start, curves.shape[:-1]), rtol=0, atol=1e-12)
        np.testing.assert_allclose(curves[..., -1], np.broadcast_to(end, curves.shape[:-1]), rtol=0, atol=1e-12)
    # Seeds differ from one another and reproduce.
    assert not np.allclose(random[0], random[1])
    np.testing.assert_array_equal(random[1], random_order_curves(model.predict_proba, Xt, base, target, seeds=[4])[0])


def test_gradient_order_beats_random(data, fitted) -> None:
    """The exact gradient order deletes evidence faster than random orders, and random faster than
    the adversarial order (lowest attribution first); insertion recovers faster than random."""
    Xt, model, target, maps, base = data["Xt"], fitted["model"], fitted["target"], fitted["maps"], fitted["baseline"]
    assert np.mean(model.predict(Xt) == data["yt"]) > 0.95  # the planted line decides the class
    predict = model.predict_proba
    gradient = aopc(deletion_curves(predict, Xt, maps, base, target))
    random = aopc(random_order_curves(predict, Xt, base, target, seeds=range(5))).mean(axis=0)
    adversarial = aopc(deletion_curves(predict, Xt, -maps, base, target))
    assert gradient.mean() - random.mean() > 0.05
    assert adversarial.mean() < random.mean() - 0.05
    # Where the line is the evidence (spectra predicted type1), every single spectrum agrees.
    line_class = model.classes_[target] == "type1"
    assert line_class.sum() >= 20
    assert np.mean(gradient[line_class] > random[line_class]) > 0.9
    insertion = area_under_curve(insertion_curves(predict, Xt, maps, base, target))
    insertion_random = area_under_curve(random_order_curves(predict, Xt, base, target, seeds=range(5), kind="insertion"))
    assert insertion.mean() > insertion_random.mean()


def test_one_predict_call_per_fraction(data, fitted) -> None:
    calls: list[tuple[int, int]] = []

    def predict(flux: np.ndarray) -> np.ndarray:
        calls.append(flux.shape)
        return fitted["model"].predict_proba(flux)

    fractions = np.linspace(0.0, 1.0, 6)
    deletion_curves(predict, data["Xt"], fitted["maps"], fitted["baseline"], fitted["target"], fractions)
    assert calls == [data["Xt"].shape] * 6


def test_perturbation_follows_attribution_order() -> None:
    """With an identity 'model' (p = the flux itself, one column per pixel) the curve shows which pixel went when."""
    flux = np.array([[1.0, 2.0, 3.0, 4.0]])
    attributions = np.array([[0.1, 0.4, -0.3, 0.2]])  # order: pixel 1, 3, 0, 2
    np.testing.assert_array_equal(attribution_ranks(attributions), [[2, 0, 3, 1]])
    fractions = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    predict = lambda x: x  # noqa: E731
    np.testing.assert_array_equal(deletion_curves(predict, flux, attributions, 0.0, 1, fractions), [[2.0, 0.0, 0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(deletion_curves(predict, flux, attributions, 0.0, 0, fractions), [[1.0, 1.0, 1.0, 0.0, 0.0]])
    np.testing.assert_array_equal(insertion_curves(predict, flux, attributions, 0.0, 3, fractions), [[0.0, 0.0, 4.0, 4.0, 4.0]])


# --------------------------------------------------------------------------------------------
# Summaries of curves
# --------------------------------------------------------------------------------------------


def test_aopc_and_area() -> None:
    curves = np.array([[1.0, 0.5, 0.0], [0.8, 0.8, 0.8]])
    np.testing.assert_allclose(aopc(curves), [0.5, 0.0])  # mean of (0, 0.5, 1) and of (0, 0, 0)
    np.testing.assert_allclose(area_under_curve(curves[:, ::-1], [0.0, 0.5, 1.0]), [0.5, 0.8])
    np.testing.assert_allclose(area_under_curve(np.ones((2, 3, 4)), [0.0, 0.1, 0.2, 0.4]), np.ones((2, 3)))  # per unit range
    assert aopc(np.zeros((3, 2, 5))).shape == (3, 2)
    with pytest.raises(ValueError, match="one column per fraction"):
        area_under_curve(curves, DEFAULT_FRACTIONS)
    with pytest.raises(ValueError, match="at least 2 steps"):
        aopc(np.zeros((3, 1)))


# --------------------------------------------------------------------------------------------
# Sanity checks
# --------------------------------------------------------------------------------------------


def test_rank_correlation() -> None:
    rng = np.random.default_rng(7)
    a = rng.normal(size=(100, 200))
    np.testing.assert_allclose(rank_correlation(a, a), 1.0)
    np.testing.assert_allclose(rank_correlation(a, np.exp(3 * a)), 1.0)  # ranks only
    np.testing.assert_allclose(rank_correlation(a, -a), -1.0)
    b = rng.normal(size=a.shape)
    rho = rank_correlation(a, b)
    assert rho.shape == (100,)
    # Independent maps: each ρ has σ ≈ 1/sqrt(199) = 0.071, their mean σ ≈ 0.007; 0.03 is ~4σ.
    assert abs(rho.mean()) < 0.03 and rho.std() < 0.12
    for i in (0, 17):
        np.testing.assert_allclose(rho[i], spearmanr(a[i], b[i]).statistic, rtol=1e-12)
    ties = np.round(b, 1)
    np.testing.assert_allclose(rank_correlation(a, ties)[3], spearmanr(a[3], ties[3]).statistic, rtol=1e-12)
    np.testing.assert_allclose(rank_correlation(a, -a, absolute=True), 1.0)
    with np.errstate(invalid="ignore"):
        assert np.isnan(rank_correlation(a[:2], np.zeros((2, 200)))).all()  # a constant map has no ranking
    with pytest.raises(ValueError, match="do not match"):
        rank_correlation(a, b[:, :-1])


def test_model_randomisation(data, fitted) -> None:
    """Adebayo et al. 2018: maps of a model fitted on permuted labels do not resemble the real maps,
    while a model fitted on a subset of the real labels gives similar maps."""
    X, y, Xt, target = data["X"], data["y"], data["Xt"], fitted["target"]
    kernel = fitted["kernel"]
    shuffled = randomised_labels(y, seed=1)
    assert sorted(shuffled) == sorted(y) and not np.array_equal(shuffled, y)
    np.testing.assert_array_equal(shuffled, randomised_labels(y, seed=1))
    rows = np.arange(target.size)

    def maps_of(X_fit: np.ndarray, y_fit: np.ndarray) -> np.ndarray:
        model = build_pipeline(kernel, seed=0).set_params(**_params(kernel, X)).fit(X_fit, y_fit)
        return probabilities_and_saliency(model, Xt)[1][rows, target]

    random_maps = maps_of(X, shuffled)
    subset_maps = maps_of(X[:150], y[:150])
    assert abs(rank_correlation(fitted["maps"], random_maps).mean()) < 0.2
    assert rank_correlation(fitted["maps"], subset_maps).mean() > 0.7


def test_top_k_fraction(data, fitted) -> None:
    rng = np.random.default_rng(3)
    n = 50
    concentrated = rng.normal(0.0, 0.01, (n, N_PIXELS))
    concentrated[:, REGION] = rng.choice([-1.0, 1.0], (n, REGION.sum()))  # signed: |attribution| counts
    k = int(REGION.sum())
    np.testing.assert_array_equal(top_k_fraction(concentrated, REGION, k), 1.0)
    np.testing.assert_array_equal(top_k_fraction(concentrated, np.broadcast_to(REGION, (n, N_PIXELS)), 3), 1.0)
    np.testing.assert_array_equal(top_k_fraction(concentrated, ~REGION, k), 0.0)
    assert top_k_fraction(concentrated, REGION, k, absolute=False).mean() < 1.0  # signed: the negative ones rank last
    chance = region_chance_level(REGION, n)
    assert chance.shape == (n,)
    np.testing.assert_allclose(chance, REGION.sum() / N_PIXELS)
    np.testing.assert_allclose(region_chance_level(REGION), [REGION.mean()])
    # Maps unrelated to the region land in it at the chance level (σ of the mean ≈ 0.01 here).
    noise = rng.normal(size=(2000, N_PIXELS))
    assert abs(top_k_fraction(noise, REGION, 10).mean() - REGION.mean()) < 0.03
    # The gradient maps find the planted line in the spectra that have it.
    has_line = data["yt"] == "type1"
    assert top_k_fraction(fitted["maps"][has_line], REGION, k).mean() > 5 * REGION.mean()
    for bad_k in (0, N_PIXELS + 1, 2.0):
        with pytest.raises(ValueError, match="k must be"):
            top_k_fraction(concentrated, REGION, bad_k)
    with pytest.raises(ValueError, match="boolean"):
        top_k_fraction(concentrated, REGION.astype(int), 3)
    with pytest.raises(ValueError, match="region_mask must have shape"):
        top_k_fraction(concentrated, REGION[:-1], 3)


# --------------------------------------------------------------------------------------------
# Summary row
# --------------------------------------------------------------------------------------------


def test_faithfulness_summary(data, fitted) -> None:
    Xt, model, target, maps, base = data["Xt"], fitted["model"], fitted["target"], fitted["maps"], fitted["baseline"]
    row = faithfulness_summary(
        model.predict_proba, Xt, maps, base, target, method="gradient", seeds=[0, 1, 2], randomised_maps=maps, region_mask=REGION
    )
    assert list(row) == list(SUMMARY_COLUMNS)
    json.dumps(row)
    assert row["method"] == "gradient" and row["n_spectra"] == Xt.shape[0] and row["n_seeds"] == 3 and row["n_fractions"] == 21
    np.testing.assert_allclose(row["deletion_margin"], row["deletion_aopc"] - row["deletion_aopc_random"], atol=1e-12)
    np.testing.assert_allclose(row["insertion_margin"], row["insertion_auc"] - row["insertion_auc_random"], atol=1e-12)
    assert row["deletion_margin"] > 0 and row["deletion_margin_sem"] > 0 and row["deletion_aopc_random_std"] > 0
    np.testing.assert_allclose(row["deletion_aopc"], aopc(deletion_curves(model.predict_proba, Xt, maps, base, target)).mean())
    random = aopc(random_order_curves(model.predict_proba, Xt, base, target, seeds=[0, 1, 2]))
    np.testing.assert_allclose(row["deletion_aopc_random_std"], random.mean(axis=1).std(ddof=1))
    assert row["randomisation_spearman"] == pytest.approx(1.0) and row["randomisation_spearman_abs"] == pytest.approx(1.0)
    assert row["top_k"] == REGION.sum() and row["top_k_chance"] == pytest.approx(REGION.mean())
    assert row["top_k_fraction"] > row["top_k_chance"]
    assert all(isinstance(unit, str) and isinstance(text, str) and text for unit, text in SUMMARY_COLUMNS.values())
    plain = faithfulness_summary(model.predict_proba, Xt[:5], maps[:5], base[:5], target[:5], method="m", seeds=[0])
    assert (
        np.isnan(plain["randomisation_spearman"])
        and np.isnan(plain["top_k_fraction"])
        and np.isnan(plain["deletion_aopc_random_std"])
    )
    with pytest.raises(ValueError, match="from 0 to 1"):
        faithfulness_summary(model.predict_proba, Xt, maps, base, target, method="m", fractions=[0.0, 0.5])


def test_bad_inputs(data, fitted) -> None:
    Xt, model, target, maps, base = data["Xt"], fitted["model"], fitted["target"], fitted["maps"], fitted["baseline"]
    predict = model.predict_proba
    with pytest.raises(ValueError, match="do not match"):
        deletion_curves(predict, Xt, maps[:, :-1], base, target)
    with pytest.raises(ValueError, match="broadcast"):
        deletion_curves(predict, Xt, maps, base[:, :-1], target)
    with pytest.raises(ValueError, match="target"):
        deletion_curves(predict, Xt, maps, base, target[:-1])
    with pytest.raises(ValueError, match="target"):
        deletion_curves(predict, Xt, maps, base, target.astype(float))
    with pytest.raises(ValueError, match="not among"):
        deletion_curves(predict, Xt, maps, base, 5)
    with pytest.raises(ValueError, match="fractions"):
        deletion_curves(predict, Xt, maps, base, target, [0.0, 0.5, 0.5, 1.0])
    with pytest.raises(ValueError, match="fractions"):
        deletion_curves(predict, Xt, maps, base, target, [0.0, 1.5])
    with pytest.raises(ValueError, match="shape"):
        deletion_curves(predict, Xt[0], maps[0], base[0], 0)
    bad = maps.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="non-finite"):
        insertion_curves(predict, Xt, bad, base, target)
    with pytest.raises(ValueError, match="kind"):
        random_order_curves(predict, Xt, base, target, kind="both")
    with pytest.raises(ValueError, match="seeds"):
        random_order_curves(predict, Xt, base, target, seeds=[])
    with pytest.raises(ValueError, match="n_classes"):
        deletion_curves(lambda x: x[:, 0], Xt, maps, base, 0)


@pytest.mark.parametrize(
    "shape, window", [((5, 79), 17), ((3, 1000), 211), ((2, 9), 31), ((1, 4), 3), ((1, 2), 17), ((2, 6), 49)]
)
def test_running_median_is_scipys_median_filter(shape, window) -> None:
    from scipy.ndimage import median_filter

    from agn_saliency.explain.faithfulness import _running_median

    x = np.random.default_rng(7).normal(size=shape)
    x[:, ::5] = 0.5  # ties
    np.testing.assert_array_equal(_running_median(x, window), median_filter(x, size=(1, window), mode="reflect"))


def test_planted_broad_lines_read_the_truth_flag_as_written_or_as_read_back() -> None:
    """``has_broad`` counts whether the truth table gives it as text (any case) or as a bool."""
    from types import SimpleNamespace

    from agn_saliency.explain.maps import _planted_broad_lines

    broad = {"broad_fwhm": 3000.0, "broad_shift": 0.0, "broad_wing_fraction": 0.0}
    flags = {"a": "True", "b": np.True_, "c": "true", "d": "False", "e": False, "f": np.False_}
    rows = [{"specid": str(specid), "has_broad": flag, **broad} for specid, flag in flags.items()]
    result = SimpleNamespace(specid=[str(s) for s in flags], wavelength=np.linspace(4700.0, 5000.0, 61))
    planted, cores = _planted_broad_lines(result, rows)
    assert planted.tolist() == [True, True, True, False, False, False]
    assert cores.shape == (3, 61) and cores.any(axis=1).all()
    with pytest.raises(ValueError, match="has_broad"):
        _planted_broad_lines(result, [row | {"has_broad": "maybe"} for row in rows])
