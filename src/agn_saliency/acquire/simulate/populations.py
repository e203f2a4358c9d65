"""The simulated populations against the published ones: median and 16th/84th percentiles of every
drawn quantity, next to the literature's (:data:`PUBLISHED`), for the docs table
(``scripts/write_populations_table.py`` → ``docs/populations.md``).

Simulated values are those of simulated spectra (their truth records) where the truth holds the
quantity, otherwise fresh draws from the same distributions with the same helpers the simulator
uses. Published values marked "reading" are the project's reading of a figure or table, not a
number the paper quotes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from agn_saliency.acquire.simulate.catalog import simulate_catalog
from agn_saliency.acquire.simulate.files import spectrum_rng
from agn_saliency.acquire.simulate.host import host_to_agn_ratio
from agn_saliency.acquire.simulate.parameters import SimulationParameters
from agn_saliency.acquire.simulate.spectrum import _clipped_lognormal, draw_host_fraction, simulate_spectrum


@dataclass(frozen=True)
class Published:
    """A published population statistic: median, 16th and 84th percentile (None where not given)
    and where it comes from."""

    median: float
    p16: float | None
    p84: float | None
    source: str


PUBLISHED: dict[tuple[str, str], Published] = {
    ("type1", "broad Hβ FWHM [km/s]"): Published(
        4000, 2500, 6500, "Shen et al. 2011 (ApJS 194, 45), Hβ FWHM of DR7 quasars at z < 0.7, Fig. 5 (reading)"
    ),
    ("type1", "NLS1 share (FWHM < 2000 km/s)"): Published(
        0.15, None, None, "Zhou et al. 2006 (ApJS 166, 128): ≈ 2000 NLS1 in DR3 (share: reading)"
    ),
    ("type1", "broad Hβ EW against the AGN continuum [Å]"): Published(
        70, 45, 110, "Shen et al. 2011, broad-Hβ REW (reading); Vanden Berk et al. 2001 (AJ 122, 549) composite Hβ 46 Å"
    ),
    ("type1", "R_FeII"): Published(0.45, 0.25, 0.85, "Boroson & Green 1992 (ApJS 80, 109), Table 2, PG quasars (reading)"),
    ("type1", "[OIII] 5008 EW against the AGN continuum [Å]"): Published(
        20, 8, 45, "Boroson & Green 1992, Table 2: mean ≈ 24 Å (reading of the spread)"
    ),
    ("type1", "corr(log R_FeII, log EW [OIII])"): Published(
        -0.4, None, None, "Boroson & Green 1992, eigenvector 1: Spearman ρ ≈ −0.4 to −0.6 (reading)"
    ),
    ("type1", "AGN slope α_λ"): Published(
        -1.56, -1.9, -1.2, "Vanden Berk et al. 2001, α_ν = −0.44 (median); spread: Richards et al. 2003 (AJ 126, 1131), reading"
    ),
    ("all", "log λL_5100 of the AGN [erg/s]"): Published(
        43.3, 42.7, 43.9, "Greene & Ho 2007 (ApJ 667, 131) Seyfert 1s to Shen et al. 2011 quasars at z < 0.3 (reading)"
    ),
    ("type1", "host share of the 5100 Å continuum"): Published(
        float(1 - 1 / (1 + host_to_agn_ratio(43.3))),
        float(1 - 1 / (1 + host_to_agn_ratio(43.9))),
        float(1 - 1 / (1 + host_to_agn_ratio(42.7))),
        "Shen et al. 2011 Eq. 1 (Vanden Berk et al. 2006, AJ 131, 84) at the luminosity percentiles above",
    ),
    ("type2", "host share of the 5100 Å continuum"): Published(
        0.85, 0.7, 0.95, "Cid Fernandes et al. 2001 (ApJ 558, 81): featureless continuum ≲ 40 %, usually ≲ 20 % (reading)"
    ),
    ("all", "stellar σ⋆ [km/s]"): Published(
        150, 120, 190, "Kauffmann et al. 2003 (MNRAS 346, 1055) massive early-type AGN hosts; Greene & Ho 2006 (reading)"
    ),
    ("all", "narrow [OIII] 5008/Hβ"): Published(
        7.0, 4.5, 11, "Kauffmann et al. 2003, Fig. 1, Seyfert branch of the BPT diagram (reading)"
    ),
    ("type2", "[OIII] 5008 EW against the total continuum [Å]"): Published(
        20, 9, 45, "Kauffmann et al. 2003, L[OIII] of Seyfert 2s at their median continuum (reading); floor 10 Å: detected lines"
    ),
    ("intermediate", "broad/narrow Hβ flux"): Published(
        1.1, 0.5, 2.5, "Osterbrock 1981 (ApJ 249, 462) 1.5–1.9 sequence; Winkler 1992 (MNRAS 257, 677) (reading)"
    ),
}
"""Published median, 16th and 84th percentiles per (class, quantity)."""


def _percentiles(values: list[float]) -> tuple[float, float, float]:
    p16, median, p84 = np.percentile(np.asarray(values, dtype=np.float64), [16, 50, 84])
    return float(median), float(p16), float(p84)


def simulated_populations(n_per_class: int, seed: int, params: SimulationParameters) -> dict[tuple[str, str], dict[str, float]]:
    """Median and 16th/84th percentiles of every quantity of :data:`PUBLISHED` in the simulated sample.

    ``n_per_class`` spectra per class are simulated (their truth records) and as many fresh draws
    made of the quantities the truth does not hold.
    """
    catalog = simulate_catalog(n_per_class, n_per_class, n_per_class, seed, params)
    truths: dict[str, list[dict]] = {"type1": [], "type2": [], "intermediate": []}
    for record in catalog:
        truth: dict = {}
        rng = spectrum_rng(seed, int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))
        simulate_spectrum(str(record["label"]), float(record["z"]), float(record["snr"]), rng, params, truth=truth)
        truths[str(record["label"])].append(truth)
    rng = np.random.default_rng(seed)
    draws = range(n_per_class * 3)
    luminosities = [draw_host_fraction("type1", rng, params)[0] for _ in draws]
    sigma = [
        _clipped_lognormal(
            rng,
            params.stellar_sigma_median_kms,
            params.stellar_sigma_scatter_dex,
            params.stellar_sigma_min_kms,
            params.stellar_sigma_max_kms,
        )
        for _ in draws
    ]
    alpha = [min(max(rng.normal(params.alpha_mean, params.alpha_sigma), params.alpha_min), params.alpha_max) for _ in draws]
    oiii_hbeta = [
        _clipped_lognormal(
            rng, params.oiii_hbeta_median, params.oiii_hbeta_scatter_dex, params.oiii_hbeta_min, params.oiii_hbeta_max
        )
        for _ in draws
    ]
    oiii_ew = [
        _clipped_lognormal(rng, params.oiii_ew_median, params.oiii_ew_scatter_dex, params.oiii_ew_min, params.oiii_ew_max)
        for _ in draws
    ]
    r_feii = np.array([t["r_feii"] for t in truths["type1"]])
    type1_oiii = [
        _clipped_lognormal(
            rng,
            params.oiii_ew_type1_median * (r / params.feii_median) ** params.eigenvector1_slope,
            params.oiii_ew_type1_scatter_dex,
            params.oiii_ew_min,
            params.oiii_ew_max,
        )
        for r in r_feii
    ]
    fwhm = [t["broad_fwhm"] for t in truths["type1"]]
    # The broad-Hβ EW against the AGN continuum: the truth holds it against the total one.
    ew_agn = [t["broad_hbeta_ew"] / max(1.0 - t["host_fraction"], 1e-3) for t in truths["type1"]]
    out = {
        ("type1", "broad Hβ FWHM [km/s]"): _percentiles(fwhm),
        ("type1", "NLS1 share (FWHM < 2000 km/s)"): (float(np.mean(np.asarray(fwhm) < 2000.0)), math.nan, math.nan),
        ("type1", "broad Hβ EW against the AGN continuum [Å]"): _percentiles(ew_agn),
        ("type1", "R_FeII"): _percentiles(list(r_feii)),
        ("type1", "[OIII] 5008 EW against the AGN continuum [Å]"): _percentiles(type1_oiii),
        ("type1", "corr(log R_FeII, log EW [OIII])"): (
            float(np.corrcoef(np.log10(r_feii), np.log10(type1_oiii))[0, 1]),
            math.nan,
            math.nan,
        ),
        ("type1", "AGN slope α_λ"): _percentiles(alpha),
        ("all", "log λL_5100 of the AGN [erg/s]"): _percentiles(luminosities),
        ("type1", "host share of the 5100 Å continuum"): _percentiles([t["host_fraction"] for t in truths["type1"]]),
        ("type2", "host share of the 5100 Å continuum"): _percentiles([t["host_fraction"] for t in truths["type2"]]),
        ("all", "stellar σ⋆ [km/s]"): _percentiles(sigma),
        ("all", "narrow [OIII] 5008/Hβ"): _percentiles(oiii_hbeta),
        ("type2", "[OIII] 5008 EW against the total continuum [Å]"): _percentiles(oiii_ew),
        ("intermediate", "broad/narrow Hβ flux"): _percentiles([t["broad_to_narrow_hbeta"] for t in truths["intermediate"]]),
    }
    return {key: dict(zip(("median", "p16", "p84"), values)) for key, values in out.items()}


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def populations_markdown(n_per_class: int = 400, seed: int = 42, params: SimulationParameters | None = None) -> str:
    """The docs page: one row per (class, quantity), simulated vs published median [16th, 84th]."""
    params = params or SimulationParameters()
    simulated = simulated_populations(n_per_class, seed, params)
    lines = [
        "# Simulated populations against the literature",
        "",
        "<!-- generated by scripts/write_populations_table.py; do not edit -->",
        "",
        f"The embedded sample's physical parameters (issue 21; `SimulationParameters` defaults, {n_per_class}",
        f"spectra per class, seed {seed}) against the published distributions they are drawn from:",
        'median [16th, 84th percentile]. "reading" marks our reading of a paper\'s figure or table, not',
        "a number the paper quotes. Host fraction, stellar age, σ⋆ and host reddening are drawn from the",
        "same distributions for every class at a given AGN luminosity; a type 2 sees only a scattered",
        "share of its AGN continuum, the one continuum difference kept.",
        "",
        "Where a published value is a reading that set the simulator's parameter, agreement is by",
        "construction; the rows that test something are those where clipping, floors or mixtures",
        "act (NLS1 share, broad-Hβ EW after the weak-line floor, host shares, the intermediates'",
        "broad/narrow ratio after the EW bounds).",
        "",
        "| class | quantity | simulated | published | source |",
        "|---|---|---|---|---|",
    ]
    for key, published in PUBLISHED.items():
        sim = simulated[key]
        lines.append(
            f"| {key[0]} | {key[1]} | {_fmt(sim['median'])} [{_fmt(sim['p16'])}, {_fmt(sim['p84'])}] "
            f"| {_fmt(published.median)} [{_fmt(published.p16)}, {_fmt(published.p84)}] | {published.source} |"
        )
    return "\n".join(lines) + "\n"
