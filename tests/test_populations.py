"""The simulated populations (issue 21): drawn as published, host starlight alike for every class,
and the docs table current."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from agn_saliency.acquire.simulate import SimulationParameters
from agn_saliency.acquire.simulate.host import host_to_agn_ratio
from agn_saliency.acquire.simulate.populations import (
    PUBLISHED,
    Published,
    fingerprint,
    host_share_by_luminosity,
    simulate_measurements,
    simulated_populations,
)
from agn_saliency.acquire.simulate.spectrum import draw_host_fraction

DOCS = Path(__file__).resolve().parents[1] / "docs" / "populations.md"
N_PER_CLASS = 60


@pytest.fixture(scope="module")
def measured() -> list[dict]:
    return simulate_measurements(N_PER_CLASS, 7, SimulationParameters())


def test_every_class_draws_host_fraction_from_one_relation() -> None:
    """Type 1 and intermediates share one host-fraction distribution; type 2s, seeing less AGN light,
    have more host, and the mean relation falls with luminosity as Shen et al. (2011) Eq. 1."""
    params = SimulationParameters()
    draws = {
        label: np.array([draw_host_fraction(label, np.random.default_rng(i), params)[1] for i in range(400)])
        for label in ("type1", "intermediate", "type2")
    }
    assert np.array_equal(draws["type1"], draws["intermediate"])  # same generator state → same draw
    assert np.median(draws["type2"]) > np.median(draws["type1"])
    assert host_to_agn_ratio(43.0) > host_to_agn_ratio(44.0) > host_to_agn_ratio(44.5) > 0 == host_to_agn_ratio(45.2)


def test_host_share_follows_shen_relation_with_luminosity() -> None:
    """Per luminosity bin the median host share sits within 0.05 of Shen et al. (2011) Eq. 1 and falls
    with luminosity (the log-normal scatter is symmetric about the mean relation)."""
    rows = host_share_by_luminosity(5, SimulationParameters(), n_draws=4000)
    assert all(abs(row["median"] - row["eq1"]) <= 0.05 for row in rows if row["n"] >= 50), rows
    medians = [row["median"] for row in rows if row["n"] >= 50]
    assert len(medians) >= 4 and medians == sorted(medians, reverse=True)


def test_simulated_medians_agree_with_the_published_ones(measured: list[dict]) -> None:
    """Every row: the simulated median inside the published 16th–84th range, or within the stated
    tolerance of a published value without a spread (a smaller sample than the docs table's)."""
    simulated = simulated_populations(N_PER_CLASS, 7, SimulationParameters(), measured)
    assert set(simulated) == set(PUBLISHED)
    disagree = {
        key: round(simulated[key]["median"], 3)
        for key, published in PUBLISHED.items()
        if not published.agrees(simulated[key]["median"])
    }
    assert not disagree, disagree


def test_agreement_can_fail() -> None:
    published = Published(4000, 2500, 6500, "x")
    assert published.agrees(4000) and not published.agrees(7000)
    assert Published(0.15, None, None, "x", tolerance=0.07).agrees(0.2)
    assert not Published(0.15, None, None, "x", tolerance=0.07).agrees(0.3)
    assert not Published(0.15, None, None, "x").agrees(0.15)  # neither spread nor tolerance: nothing to agree with
    # a population moved off the literature is caught: broad lines twice as wide
    wide = SimulationParameters(broad_fwhm_median_kms=8000.0, nls1_fraction=0.0)
    simulated = simulated_populations(20, 1, wide, simulate_measurements(20, 1, wide))
    assert not PUBLISHED[("type1", "broad Hβ FWHM [km/s]")].agrees(simulated[("type1", "broad Hβ FWHM [km/s]")]["median"])


def test_host_starlight_is_no_label(measured: list[dict]) -> None:
    """Stellar age, σ⋆ and host reddening come from one distribution for every class (two-sample KS,
    no pair below p = 0.01); the host share differs only for type 2 (its AGN continuum is scattered)."""
    by_class = {label: [row for row in measured if row["label"] == label] for label in ("type1", "type2", "intermediate")}
    for key in ("young_fraction", "sigma_star", "host_ebv"):
        values = {label: [row[key] for row in rows] for label, rows in by_class.items()}
        for a, b in (("type1", "type2"), ("type1", "intermediate"), ("type2", "intermediate")):
            assert stats.ks_2samp(values[a], values[b]).pvalue > 0.01, (key, a, b)
    share = {label: np.median([row["host_fraction"] for row in rows]) for label, rows in by_class.items()}
    assert share["type2"] > max(share["type1"], share["intermediate"])


def test_narrow_lines_follow_agn_luminosity(measured: list[dict]) -> None:
    """The narrow-line Baldwin effect (Stern & Laor 2012): a type 1's [OIII] against its AGN continuum
    weakens with AGN luminosity (default); with ``oiii_ew_type2_luminosity_slope`` (off by default) a
    type 2's against its host-dominated continuum strengthens; without the slopes neither trend is
    there (Spearman ρ on the same spectra)."""

    def rho(rows: list[dict], label: str, key: str) -> float:
        chosen = [row for row in rows if row["label"] == label]
        return float(stats.spearmanr([row["log_l5100"] for row in chosen], [row[key] for row in chosen])[0])

    assert rho(measured, "type1", "oiii_ew_agn") < -0.2
    assert abs(rho(measured, "type2", "oiii_ew_total")) < 0.2
    sloped = simulate_measurements(N_PER_CLASS, 7, SimulationParameters(oiii_ew_type2_luminosity_slope=0.35))
    assert rho(sloped, "type2", "oiii_ew_total") > 0.2
    flat = simulate_measurements(N_PER_CLASS, 7, SimulationParameters(oiii_ew_type1_luminosity_slope=0.0))
    assert abs(rho(flat, "type1", "oiii_ew_agn")) < 0.2


def test_docs_table_is_current() -> None:
    """docs/populations.md lists every row with its source and was written for today's parameters and
    published numbers (rewrite it with scripts/write_populations_table.py)."""
    text = DOCS.read_text(encoding="utf-8")
    for (label, quantity), published in PUBLISHED.items():
        assert f"| {label} | {quantity} |" in text, (label, quantity)
        assert published.source in text
    recorded = re.search(r"fingerprint ([0-9a-f]{12})", text)
    assert recorded is not None, "docs/populations.md has no fingerprint"
    assert recorded.group(1) == fingerprint(SimulationParameters()), "docs/populations.md is stale"
    assert "**no**" not in text, "a row of the docs table disagrees with the literature"


def test_fingerprint_follows_the_parameters() -> None:
    params = SimulationParameters()
    assert fingerprint(params) == fingerprint(SimulationParameters())
    assert fingerprint(params) != fingerprint(dataclasses.replace(params, oiii_ew_type1_median=25.0))
