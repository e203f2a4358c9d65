"""Host-starlight augmentation of training spectra and the one-standard-error model choice (issue 21)."""

from __future__ import annotations

import numpy as np
import pytest

from agn_saliency.acquire.simulate.host import host_template
from agn_saliency.learn.augment import HostAugmentation, augment_with_host
from agn_saliency.learn.classify import DECISION_ROUTES, grid_search, one_standard_error_choice

WAVELENGTH = np.linspace(4000.0, 5500.0, 400)
NORM = (WAVELENGTH >= 5080.0) & (WAVELENGTH <= 5120.0)
G_BAND = (WAVELENGTH >= 4281.0) & (WAVELENGTH <= 4316.0)


def _agn(n: int, rng: np.random.Generator) -> np.ndarray:
    """Featureless power laws with an Hβ line, normalised to 1 in the window, with noise."""
    flux = (WAVELENGTH / 5100.0) ** -1.5 + 2.0 * np.exp(-0.5 * ((WAVELENGTH - 4862.7) / 30.0) ** 2)
    flux = flux / flux[NORM].mean()
    return flux[None, :] + rng.normal(0.0, 0.02, (n, WAVELENGTH.size))


def test_augmentation_adds_host_absorption_and_is_seeded() -> None:
    flux = _agn(50, np.random.default_rng(0))
    options = HostAugmentation(share=1.0, fraction_max=0.8, slope_max=0.0)
    out = augment_with_host(flux, WAVELENGTH, options, seed=3)
    assert np.array_equal(out, augment_with_host(flux, WAVELENGTH, options, seed=3))
    assert not np.array_equal(out, augment_with_host(flux, WAVELENGTH, options, seed=4))
    # Still normalised in the window; the G band (absent from a power law) now absorbs.
    clean = augment_with_host(np.ones_like(flux), WAVELENGTH, options, seed=3)
    assert np.allclose(clean[:, NORM].mean(axis=1), 1.0, atol=0.005)
    host = host_template(WAVELENGTH)
    depth = host[G_BAND].mean() / host[(WAVELENGTH > 4240) & (WAVELENGTH < 4270)].mean()
    assert depth < 0.97  # the template itself has a G band
    ratio = out[:, G_BAND].mean(axis=1) / out[:, (WAVELENGTH > 4240) & (WAVELENGTH < 4270)].mean(axis=1)
    plain = flux[:, G_BAND].mean(axis=1) / flux[:, (WAVELENGTH > 4240) & (WAVELENGTH < 4270)].mean(axis=1)
    assert np.mean(ratio < plain) > 0.8


def test_augmentation_share_and_tilt() -> None:
    flux = _agn(200, np.random.default_rng(1))
    assert np.array_equal(augment_with_host(flux, WAVELENGTH, HostAugmentation(share=0.0), seed=0), flux)
    half = augment_with_host(flux, WAVELENGTH, HostAugmentation(share=0.5, fraction_max=0.5), seed=0)
    changed = np.mean((half != flux).any(axis=1))
    assert 0.35 < changed < 0.65
    tilted = augment_with_host(flux, WAVELENGTH, HostAugmentation(share=1.0, fraction_max=1e-9, slope_max=2.0), seed=0)
    blue_over_red = tilted[:, :20].mean(axis=1) / tilted[:, -20:].mean(axis=1)
    original = flux[:, :20].mean() / flux[:, -20:].mean()
    assert blue_over_red.min() < 0.8 * original < original * 1.25 < blue_over_red.max()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"share": 1.5}, "share"),
        ({"fraction_max": 1.0}, "fraction_max"),
        ({"sigma_min_kms": 20.0}, "σ⋆"),
        ({"colour": 1.0}, "colour"),
    ],
)
def test_augmentation_options_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HostAugmentation.from_mapping(options)


def test_augmented_search_scores_folds_on_original_spectra() -> None:
    rng = np.random.default_rng(2)
    flux = _agn(60, rng)
    label = np.array(["type1", "type2"] * 30)
    flux[label == "type2"] *= 1.0 + 0.3 * np.exp(-0.5 * ((WAVELENGTH - 5008.2) / 5.0) ** 2)
    options = HostAugmentation(share=1.0, fraction_max=0.6)
    grid = {"C": [0.01, 1.0], "class_weight": ["balanced"]}
    search = grid_search(flux, label, "linear", grid, cv_folds=3, seed=0, augmentation=options, wavelength=WAVELENGTH)
    fitted = search.best_estimator_.named_steps["kernel"].X_fit_
    assert fitted.shape == flux.shape  # the refit saw one augmented version of each spectrum
    centred = augment_with_host(flux, WAVELENGTH, options, 0) - augment_with_host(flux, WAVELENGTH, options, 0).mean(axis=0)
    assert np.allclose(fitted, centred)
    with pytest.raises(ValueError, match="wavelength"):
        grid_search(flux, label, "linear", grid, cv_folds=3, augmentation=options)


def test_one_standard_error_prefers_the_most_regularised_candidate() -> None:
    results = {
        "params": [
            {DECISION_ROUTES["C"]: 10.0, DECISION_ROUTES["gamma"]: 0.01},
            {DECISION_ROUTES["C"]: 3.0, DECISION_ROUTES["gamma"]: 0.03},
            {DECISION_ROUTES["C"]: 3.0, DECISION_ROUTES["gamma"]: 0.01},
            {DECISION_ROUTES["C"]: 1.0, DECISION_ROUTES["gamma"]: 0.01},
        ],
        "mean_test_score": [0.907, 0.903, 0.900, 0.87],
        "std_test_score": [0.02, 0.01, 0.01, 0.01],
    }
    # SE of the best = 0.02/√4 = 0.01: C = 3 candidates qualify, C = 1 does not; the smaller gamma wins.
    assert one_standard_error_choice(results, 4, DECISION_ROUTES) == 2
    assert one_standard_error_choice(results | {"std_test_score": [0.0] * 4}, 4, DECISION_ROUTES) == 0


def test_featureless_continuum_makes_absorption_shallower() -> None:
    host = host_template(WAVELENGTH)
    host = np.tile(host / host[NORM].mean(), (200, 1))
    plain = HostAugmentation(share=1.0, fraction_max=1e-9, slope_max=0.0)
    diluted = HostAugmentation(share=1.0, fraction_max=1e-9, slope_max=0.0, continuum_fraction_max=0.6)
    same = augment_with_host(host, WAVELENGTH, plain, seed=5)
    out = augment_with_host(host, WAVELENGTH, diluted, seed=5)
    side = (WAVELENGTH > 4240) & (WAVELENGTH < 4270)

    def depth(flux: np.ndarray) -> np.ndarray:
        return 1.0 - flux[:, G_BAND].mean(axis=1) / flux[:, side].mean(axis=1)

    assert np.allclose(out[:, NORM].mean(axis=1), 1.0, atol=0.01)  # still normalised in the window
    assert np.all(depth(out) <= depth(same) + 1e-9)
    assert np.mean(depth(out) < 0.8 * depth(same)) > 0.4  # g uniform in 0 … 0.6: most far shallower
    with pytest.raises(ValueError, match="continuum_fraction_max"):
        HostAugmentation(continuum_fraction_max=1.0)


def test_continuum_bumps_are_broad_bounded_and_off_by_default() -> None:
    flux = _agn(300, np.random.default_rng(6))
    base = HostAugmentation(share=1.0, fraction_max=0.3, slope_max=1.0, continuum_fraction_max=0.2)
    bumped = HostAugmentation(share=1.0, fraction_max=0.3, slope_max=1.0, continuum_fraction_max=0.2, bump_amplitude_max=0.1)
    plain = augment_with_host(flux, WAVELENGTH, base, seed=7)
    out = augment_with_host(flux, WAVELENGTH, bumped, seed=7)
    # Amplitude 0 (the dataclass default) leaves the earlier draws, and so the spectra, as they were.
    off = HostAugmentation(**{**vars(base), "bump_amplitude_max": 0.0, "bump_count": 4})
    assert np.array_equal(plain, augment_with_host(flux, WAVELENGTH, off, seed=7))
    factor = out / plain
    assert np.allclose(factor[:, NORM].mean(axis=1), 1.0, atol=1e-9)  # the factor is renormalised in the window
    # Two bumps of |a| ≤ 0.1, renormalised: within about ±25 % everywhere, and most spectra visibly changed.
    assert factor.min() > 0.75 and factor.max() < 1.3
    assert np.mean(np.abs(factor - 1.0).max(axis=1) > 0.03) > 0.5
    # Broad: over 10 Å (≈ 2.7 pixels) the factor moves far less than a broad Hβ line would (σ ≥ 150 Å).
    step = np.abs(np.diff(factor, axis=1)).max()
    assert step < 0.01


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"bump_amplitude_max": 1.0}, "bump_amplitude_max"),
        ({"bump_count": 0}, "bump_count"),
        ({"bump_count": 2.5}, "bump_count"),
        ({"bump_sigma_min_angstrom": 500.0, "bump_sigma_max_angstrom": 200.0}, "bump widths"),
    ],
)
def test_bump_options_are_checked(options: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        HostAugmentation.from_mapping(options)
