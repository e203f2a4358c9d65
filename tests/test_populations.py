"""The simulated populations (issue 21): drawn as published, and the docs table lists them all."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from agn_saliency.acquire.simulate import SimulationParameters
from agn_saliency.acquire.simulate.host import host_to_agn_ratio
from agn_saliency.acquire.simulate.populations import PUBLISHED, simulated_populations
from agn_saliency.acquire.simulate.spectrum import draw_host_fraction

DOCS = Path(__file__).resolve().parents[1] / "docs" / "populations.md"


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


def test_simulated_populations_cover_every_published_row() -> None:
    simulated = simulated_populations(12, 3, SimulationParameters())
    assert set(simulated) == set(PUBLISHED)
    type1_fwhm = simulated[("type1", "broad Hβ FWHM [km/s]")]
    assert type1_fwhm["p16"] <= type1_fwhm["median"] <= type1_fwhm["p84"]


def test_docs_table_lists_every_quantity() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for (label, quantity), published in PUBLISHED.items():
        assert f"| {label} | {quantity} |" in text, (label, quantity)
        assert published.source in text
