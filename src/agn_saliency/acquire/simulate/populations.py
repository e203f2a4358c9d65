"""The simulated populations against the published ones (issue 21), for the docs table
(``scripts/write_populations_table.py`` → ``docs/populations.md``).

:data:`PUBLISHED` holds the literature's numbers, each with its source and how it is checked: the
simulated median must fall inside the published 16th–84th percentile range or, where the paper
gives no spread, within a stated tolerance of the published value (``tests/test_populations.py``).
"Reading" marks our reading of a paper's figure or table, "approximate" a number we could not
check to better than that; neither is a value the paper quotes.

Every simulated value is measured on simulated spectra — their truth record, the drawn scene and
the noiseless components (:func:`~agn_saliency.acquire.simulate.spectrum.simulate_spectrum`) —
except the AGN luminosity, which the spectra do not keep and is drawn afresh by the simulator's own
:func:`~agn_saliency.acquire.simulate.spectrum.draw_host_fraction`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agn_saliency.acquire.simulate.catalog import simulate_catalog
from agn_saliency.acquire.simulate.files import spectrum_rng
from agn_saliency.acquire.simulate.host import host_to_agn_ratio
from agn_saliency.acquire.simulate.parameters import SimulationParameters
from agn_saliency.acquire.simulate.spectrum import draw_host_fraction, simulate_spectrum
from agn_saliency.core.lines import EMISSION_LINES
from agn_saliency.core.vocabulary import CLASS_NAMES


@dataclass(frozen=True)
class Published:
    """A published population statistic: median, 16th and 84th percentile (None where the source
    gives none), where it comes from, and, without percentiles, the largest difference of the
    simulated median that still agrees (``tolerance``, in the quantity's units)."""

    median: float
    p16: float | None
    p84: float | None
    source: str
    tolerance: float | None = None

    def agrees(self, simulated_median: float) -> bool:
        """Whether a simulated median agrees: inside [p16, p84], else within ``tolerance``."""
        if self.p16 is not None and self.p84 is not None:
            return self.p16 <= simulated_median <= self.p84
        return self.tolerance is not None and abs(simulated_median - self.median) <= self.tolerance


def _host_share(log_l5100: float) -> float:
    ratio = float(host_to_agn_ratio(log_l5100))
    return ratio / (1.0 + ratio)


PUBLISHED: dict[tuple[str, str], Published] = {
    ("type1", "broad Hβ FWHM [km/s]"): Published(
        4000, 2500, 6500, "Shen et al. 2011 (ApJS 194, 45), Hβ FWHM of DR7 quasars at z < 0.7, Fig. 5 (reading)"
    ),
    ("type1", "NLS1 share (FWHM < 2000 km/s)"): Published(
        0.15,
        None,
        None,
        "Williams, Pogge & Mathur 2002 (AJ 124, 3042) and Zhou et al. 2006 (ApJS 166, 128): NLS1s ≈ 15 % of "
        "SDSS broad-line AGN at z < 0.8 (approximate)",
        tolerance=0.07,
    ),
    ("type1", "broad Hβ EW against the AGN continuum [Å]"): Published(
        70, 45, 110, "Shen et al. 2011, broad-Hβ REW (reading); Vanden Berk et al. 2001 (AJ 122, 549) composite Hβ 46 Å"
    ),
    ("type1", "R_FeII"): Published(0.45, 0.25, 0.85, "Boroson & Green 1992 (ApJS 80, 109), Table 2, PG quasars (reading)"),
    ("type1", "[OIII] 5008 EW against the AGN continuum [Å]"): Published(
        20, 8, 45, "Boroson & Green 1992, Table 2: mean ≈ 24 Å (reading of the spread)"
    ),
    ("type1", "corr(log R_FeII, log EW [OIII])"): Published(
        -0.5,
        None,
        None,
        "Boroson & Green 1992, eigenvector 1: Spearman ρ ≈ −0.4 to −0.6 (reading)",
        tolerance=0.15,
    ),
    ("type1", "AGN slope α_λ"): Published(
        -1.56, -1.9, -1.2, "Vanden Berk et al. 2001, α_ν = −0.44 (median); spread: Richards et al. 2003 (AJ 126, 1131), reading"
    ),
    ("all", "log λL_5100 of the AGN [erg/s]"): Published(
        43.3, 42.7, 43.9, "Greene & Ho 2007 (ApJ 667, 131) Seyfert 1s to Shen et al. 2011 quasars at z < 0.3 (reading)"
    ),
    ("type1", "host share of the 5100 Å continuum"): Published(
        _host_share(43.3),
        _host_share(43.9),
        _host_share(42.7),
        "Shen et al. 2011 Eq. 1 (Vanden Berk et al. 2006, AJ 131, 84) at the luminosity percentiles above",
    ),
    ("intermediate", "host share of the 5100 Å continuum"): Published(
        _host_share(43.3),
        _host_share(43.9),
        _host_share(42.7),
        "as type 1: the same relation for every class (no measured class difference to keep)",
    ),
    ("type2", "host share of the 5100 Å continuum"): Published(
        0.85, 0.7, 0.95, "Cid Fernandes et al. 2001 (ApJ 558, 81): featureless continuum ≲ 40 %, usually ≲ 20 % (reading)"
    ),
    ("all", "stellar σ⋆ [km/s]"): Published(
        150, 120, 190, "Kauffmann et al. 2003 (MNRAS 346, 1055) massive early-type AGN hosts; Greene & Ho 2006 (approximate)"
    ),
    ("all", "narrow [OIII] 5008/Hβ"): Published(
        7.0, 4.5, 11, "Kauffmann et al. 2003, Fig. 1, Seyfert branch of the BPT diagram (reading)"
    ),
    ("type2", "narrow [NII] 6585/Hα"): Published(
        1.0,
        None,
        None,
        "Kauffmann et al. 2003, Fig. 1: the Seyfert branch at log [NII]/Hα ≈ −0.2 to 0.3 (approximate, read from the figure)",
        tolerance=0.4,
    ),
    ("type2", "narrow [SII] 6718+6733/Hα"): Published(
        0.5,
        None,
        None,
        "Kewley et al. 2006 (MNRAS 372, 961): Seyferts above their [SII] line, log ≈ −0.5 to 0 "
        "(approximate, read from the [SII] diagram)",
        tolerance=0.2,
    ),
    ("type2", "narrow [OI] 6302/Hα"): Published(
        0.13,
        None,
        None,
        "Kewley et al. 2006: Seyferts above their [OI] line, log ≈ −1.2 to −0.6 (approximate, read from the [OI] diagram)",
        tolerance=0.08,
    ),
    ("type2", "[OIII] 5008 EW against the total continuum [Å]"): Published(
        20, 9, 45, "Kauffmann et al. 2003, L[OIII] of Seyfert 2s at their median continuum (reading); floor 10 Å: detected lines"
    ),
    ("intermediate", "share with Hβ/[OIII] 5008 < 2 (Seyfert 1.5–1.8)"): Published(
        1.0,
        None,
        None,
        "Winkler 1992 (MNRAS 257, 677) classes, as adopted by Véron-Cetty & Véron: 1.5 for 1/3 < Hβ/[OIII] < 2, "
        "1.8 below 1/3 with broad Hβ (a definition)",
        tolerance=0.05,
    ),
}
"""Published median, 16th and 84th percentiles per (class, quantity)."""

STRONG_LINES: dict[str, tuple[float | None, str]] = {
    "[OIII] 5008 peak / underlying spectrum": (16.0, "held-out real SDSS type 1s flagged out of distribution (issue 21)"),
    "broad Hα EW against the total continuum [Å]": (560.0, "held-out real SDSS type 1s flagged out of distribution (issue 21)"),
    "R_FeII": (None, "strong Fe II emitters (issue 21); PG quasars reach R_FeII ≈ 2 (Boroson & Green 1992, approximate)"),
}
"""The strong-line type 1s the simulated type 1s should reach: the largest value met in real
spectra (None: no number) and its source. The table gives the simulated 99th percentile and maximum."""

_PER_CLASS_KEYS = {
    "host share of the 5100 Å continuum": "host_fraction",
    "intermediate-age share of the host": "young_fraction",
    "stellar σ⋆ [km/s]": "sigma_star",
    "host E(B−V)": "host_ebv",
    "[OIII] 5008 EW against the total continuum [Å]": "oiii_ew_total",
    "[OIII] 5008 peak / underlying spectrum": "oiii_peak",
}
"""The per-class table's rows and their measurement keys: the host starlight (drawn alike for every
class, so absorption depth is no label) and the narrow [OIII] strength."""


def _percentiles(values: list[float] | np.ndarray) -> dict[str, float]:
    p16, median, p84 = np.percentile(np.asarray(values, dtype=np.float64), [16, 50, 84])
    return {"median": float(median), "p16": float(p16), "p84": float(p84)}


def _share(values: list[bool] | np.ndarray) -> dict[str, float]:
    return {"median": float(np.mean(values)), "p16": math.nan, "p84": math.nan}


def _narrow_flux(scene: dict[str, Any], z: float, rest: float, tolerance: float = 0.5) -> float:
    """Flux of the narrow lines within ``tolerance`` Å (rest) of ``rest``: the first two emission
    calls of a scene are the narrow lines and the [OIII] outflow wing (``_add_narrow_lines``)."""
    total = 0.0
    for observed, fluxes, _ in scene["emission"][:2]:
        total += float(fluxes[np.abs(observed / (1 + z) - rest) < tolerance].sum())
    return total


def _at(rest: np.ndarray, values: np.ndarray, wavelength: float) -> float:
    return float(values[int(np.argmin(np.abs(rest - wavelength)))])


def _measure(coadd: np.ndarray, truth: dict[str, Any], scene: dict[str, Any], parts: dict[str, np.ndarray]) -> dict[str, Any]:
    """The tabulated quantities of one simulated spectrum (observed fluxes; rest-frame EWs)."""
    z = float(truth["z"])
    rest = 10 ** coadd["loglam"] / (1 + z)
    drest = np.gradient(rest)
    continuum = parts["host"] + parts["power_law"] + parts["balmer_continuum"]
    level = float(scene["level"])
    oiii = level * _narrow_flux(scene, z, EMISSION_LINES["[OIII] 5008"], tolerance=10.0)  # with the wing
    narrow = {name: level * _narrow_flux(scene, z, EMISSION_LINES[name]) for name in ("Hβ", "Hα", "[NII] 6585", "[OI] 6302")}
    sii = level * (_narrow_flux(scene, z, EMISSION_LINES["[SII] 6718"]) + _narrow_flux(scene, z, EMISSION_LINES["[SII] 6733"]))
    broad_hbeta = float(truth["broad_hbeta_flux"] or 0.0)
    near_oiii = np.abs(rest - EMISSION_LINES["[OIII] 5008"]) < 8.0
    underlying = continuum + parts["feii"] + parts["broad_lines"]
    near_halpha = np.abs(rest - EMISSION_LINES["Hα"]) < 250.0
    return {
        "label": truth["label"],
        "fwhm": truth["broad_fwhm"],
        "r_feii": truth["r_feii"],
        "broad_ew_agn": broad_hbeta / ((1 + z) * _at(rest, parts["power_law"], EMISSION_LINES["Hβ"])),
        "oiii_ew_agn": oiii / ((1 + z) * _at(rest, parts["power_law"], EMISSION_LINES["[OIII] 5008"])),
        "oiii_ew_total": oiii / ((1 + z) * _at(rest, continuum, EMISSION_LINES["[OIII] 5008"])),
        "oiii_hbeta": oiii / narrow["Hβ"],
        "nii_halpha": narrow["[NII] 6585"] / narrow["Hα"],
        "sii_halpha": sii / narrow["Hα"],
        "oi_halpha": narrow["[OI] 6302"] / narrow["Hα"],
        "winkler": (narrow["Hβ"] + broad_hbeta) / oiii,
        "oiii_peak": float(np.max(parts["narrow_lines"][near_oiii] / underlying[near_oiii])),
        "broad_halpha_ew": float(np.sum(parts["broad_lines"][near_halpha] / continuum[near_halpha] * drest[near_halpha])),
        "alpha": scene["alpha"],
        "host_fraction": scene["host_fraction"],
        "log_l5100": scene["log_l5100"],
        "young_fraction": scene["young_fraction"],
        "sigma_star": scene["sigma_star"],
        "host_ebv": scene["host_ebv"],
    }


def simulate_measurements(n_per_class: int, seed: int, params: SimulationParameters) -> list[dict[str, Any]]:
    """:func:`_measure` of ``n_per_class`` simulated spectra per class (the simulator's catalogue and
    per-spectrum seeds, so the same spectra a run with ``seed`` writes first)."""
    rows = []
    for record in simulate_catalog(n_per_class, n_per_class, n_per_class, seed, params):
        truth: dict[str, Any] = {}
        scene: dict[str, Any] = {}
        parts: dict[str, np.ndarray] = {}
        rng = spectrum_rng(seed, int(record["plate"]), int(record["mjd"]), int(record["fiberid"]))
        coadd = simulate_spectrum(
            str(record["label"]),
            float(record["z"]),
            float(record["snr"]),
            rng,
            params,
            truth=truth,
            scene=scene,
            components=parts,
        )
        rows.append(_measure(coadd, truth, scene, parts))
    return rows


def simulated_populations(
    n_per_class: int, seed: int, params: SimulationParameters, rows: list[dict[str, Any]] | None = None
) -> dict[tuple[str, str], dict[str, float]]:
    """Median and 16th/84th percentiles (or a share) of every quantity of :data:`PUBLISHED` in the
    simulated sample (``rows`` from :func:`simulate_measurements`, simulated here if not given)."""
    rows = rows if rows is not None else simulate_measurements(n_per_class, seed, params)

    def column(label: str, key: str) -> np.ndarray:
        return np.array([row[key] for row in rows if label in ("all", row["label"])], dtype=np.float64)

    rng = np.random.default_rng(seed)
    luminosities = [draw_host_fraction("type1", rng, params)[0] for _ in range(3 * n_per_class)]
    fwhm = column("type1", "fwhm")
    log_feii, log_oiii = np.log10(column("type1", "r_feii")), np.log10(column("type1", "oiii_ew_agn"))
    return {
        ("type1", "broad Hβ FWHM [km/s]"): _percentiles(fwhm),
        ("type1", "NLS1 share (FWHM < 2000 km/s)"): _share(fwhm < 2000.0),
        ("type1", "broad Hβ EW against the AGN continuum [Å]"): _percentiles(column("type1", "broad_ew_agn")),
        ("type1", "R_FeII"): _percentiles(column("type1", "r_feii")),
        ("type1", "[OIII] 5008 EW against the AGN continuum [Å]"): _percentiles(column("type1", "oiii_ew_agn")),
        ("type1", "corr(log R_FeII, log EW [OIII])"): {
            "median": float(np.corrcoef(log_feii, log_oiii)[0, 1]),
            "p16": math.nan,
            "p84": math.nan,
        },
        ("type1", "AGN slope α_λ"): _percentiles(column("type1", "alpha")),
        ("all", "log λL_5100 of the AGN [erg/s]"): _percentiles(luminosities),
        ("type1", "host share of the 5100 Å continuum"): _percentiles(column("type1", "host_fraction")),
        ("intermediate", "host share of the 5100 Å continuum"): _percentiles(column("intermediate", "host_fraction")),
        ("type2", "host share of the 5100 Å continuum"): _percentiles(column("type2", "host_fraction")),
        ("all", "stellar σ⋆ [km/s]"): _percentiles(column("all", "sigma_star")),
        ("all", "narrow [OIII] 5008/Hβ"): _percentiles(column("all", "oiii_hbeta")),
        ("type2", "narrow [NII] 6585/Hα"): _percentiles(column("type2", "nii_halpha")),
        ("type2", "narrow [SII] 6718+6733/Hα"): _percentiles(column("type2", "sii_halpha")),
        ("type2", "narrow [OI] 6302/Hα"): _percentiles(column("type2", "oi_halpha")),
        ("type2", "[OIII] 5008 EW against the total continuum [Å]"): _percentiles(column("type2", "oiii_ew_total")),
        ("intermediate", "share with Hβ/[OIII] 5008 < 2 (Seyfert 1.5–1.8)"): _share(column("intermediate", "winkler") < 2.0),
    }


def strong_line_tails(rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """99th percentile and maximum of the :data:`STRONG_LINES` quantities over the simulated type 1s."""
    keys = dict(zip(STRONG_LINES, ("oiii_peak", "broad_halpha_ew", "r_feii")))
    out = {}
    for name, key in keys.items():
        values = np.array([row[key] for row in rows if row["label"] == "type1"], dtype=np.float64)
        out[name] = {"p99": float(np.percentile(values, 99)), "max": float(values.max())}
    return out


def by_class(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, float]]:
    """Median and 16th/84th percentiles per class of each row of the per-class table."""
    return {
        (label, name): _percentiles([row[key] for row in rows if row["label"] == label])
        for name, key in _PER_CLASS_KEYS.items()
        for label in CLASS_NAMES
    }


LUMINOSITY_BINS = (42.4, 42.8, 43.2, 43.6, 44.0, 44.4, 44.8)
"""Edges of the log λL_5100 [erg/s] bins of :func:`host_share_by_luminosity`."""


def host_share_by_luminosity(seed: int, params: SimulationParameters, n_draws: int = 20000) -> list[dict[str, float]]:
    """Per AGN-luminosity bin, the simulated host share of a type 1 or intermediate (median and
    16th/84th percentiles of ``n_draws`` draws of the simulator's own
    :func:`~agn_saliency.acquire.simulate.spectrum.draw_host_fraction`) and the share Shen et al.
    (2011) Eq. 1 gives at the bin centre."""
    rng = np.random.default_rng(seed)
    draws = np.array([draw_host_fraction("type1", rng, params) for _ in range(n_draws)])
    out = []
    for low, high in zip(LUMINOSITY_BINS[:-1], LUMINOSITY_BINS[1:]):
        inside = draws[(draws[:, 0] >= low) & (draws[:, 0] < high), 1]
        out.append(
            {"low": low, "high": high, "n": float(inside.size), **_percentiles(inside), "eq1": _host_share((low + high) / 2)}
        )
    return out


_DRAWING_MODULES = ("catalog.py", "host.py", "parameters.py", "populations.py", "spectrum.py")
"""The modules whose code decides the table's numbers (read by :func:`fingerprint`)."""


def fingerprint(params: SimulationParameters) -> str:
    """A short hash of the parameters, the published table and the code that draws and tabulates
    them: the docs page records it, and a test finds the page stale when any of them changed
    without rewriting it."""
    digest = hashlib.sha256()
    digest.update((repr(sorted(dataclasses.asdict(params).items())) + repr(sorted(PUBLISHED.items()))).encode("utf-8"))
    for name in _DRAWING_MODULES:
        digest.update((Path(__file__).parent / name).read_bytes())
    return digest.hexdigest()[:12]


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if abs(value) >= 100:
        return f"{value:.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def _cell(stats: dict[str, float] | Published) -> str:
    if isinstance(stats, Published):
        median, p16, p84 = stats.median, stats.p16, stats.p84
        tolerance = f" ± {_fmt(stats.tolerance)}" if p16 is None and stats.tolerance is not None else ""
    else:
        median, p16, p84, tolerance = stats["median"], stats["p16"], stats["p84"], ""
    if p16 is None or (isinstance(p16, float) and math.isnan(p16)):
        return f"{_fmt(median)}{tolerance}"
    return f"{_fmt(median)} [{_fmt(p16)}, {_fmt(p84)}]"


def populations_markdown(n_per_class: int = 400, seed: int = 42, params: SimulationParameters | None = None) -> str:
    """The docs page: simulated vs published median [16th, 84th] per (class, quantity), the
    strong-line tails of type 1 and the host starlight per class."""
    params = params or SimulationParameters()
    rows = simulate_measurements(n_per_class, seed, params)
    simulated = simulated_populations(n_per_class, seed, params, rows)
    lines = [
        "# Simulated populations against the literature",
        "",
        f"<!-- generated by scripts/write_populations_table.py; do not edit; fingerprint {fingerprint(params)} -->",
        "",
        f"The embedded sample's physical parameters (issue 21; `SimulationParameters` defaults, {n_per_class}",
        f"spectra per class, seed {seed}, measured on the simulated spectra) against the published",
        'distributions they are drawn from: median [16th, 84th percentile], or a share. "Reading" marks',
        'our reading of a paper\'s figure or table, "approximate" a number we could not check more',
        "closely; neither is a value the paper quotes. A row agrees when the simulated median lies in the",
        "published [16th, 84th] range, or within the stated ± of a published value without a spread",
        "(`tests/test_populations.py` checks every row on a smaller sample).",
        "",
        "Where a published value is a reading that set the simulator's parameter, agreement is by",
        "construction; the rows that test something are those where clipping, floors or mixtures act",
        "(NLS1 share, broad-Hβ EW after the weak-line floor, host shares, the Winkler class of the",
        "intermediates after the EW bounds, the [OIII]–Fe II correlation after clipping).",
        "",
        "| class | quantity | simulated | published | agrees | source |",
        "|---|---|---|---|---|---|",
    ]
    for key, published in PUBLISHED.items():
        sim = simulated[key]
        agrees = "yes" if published.agrees(sim["median"]) else "**no**"
        lines.append(f"| {key[0]} | {key[1]} | {_cell(sim)} | {_cell(published)} | {agrees} | {published.source} |")
    lines += [
        "",
        "## The Osterbrock sequence and the three classes",
        "",
        "The classifier sees rest 4000–5500 Å only, so a class is what shows there: broad against",
        "narrow Hβ. Type 1: broad/narrow Hβ flux ≥ 3 (narrow lines capped there). Intermediate (Seyfert",
        "1.5–1.8, Osterbrock 1981, ApJ 249, 462; Winkler 1992): broad/narrow 0.4–3 with a visible broad",
        "base, 8–25 Å against the total continuum; where the 8 Å floor raises broad Hβ, narrow Hβ is",
        "raised to keep the ratio ≤ 3, so no intermediate has a type-1 ratio (before issue 21's third",
        "round 44 % had 3–11). Type 2: no broad Hβ. A Seyfert 1.9 (broad Hα only,",
        "Osterbrock 1981) shows no broad Hβ in the window, so for this classifier it is a type 2; the",
        "AGN gate, which fits Hα too, sees its broad Hα.",
    ]
    lines += [
        "",
        "## Strong-line type 1s",
        "",
        "Issue 21's held-out real spectra include type 1s that the out-of-distribution flag caught: [OIII]",
        "peaks up to 16× the spectrum under them, broad Hα equivalent widths up to 560 Å, strong Fe II.",
        "The simulated type 1s' 99th percentile and maximum (the [OIII] 5008 peak over everything but the",
        "narrow lines within 8 Å; broad Hα over host + power law + Balmer continuum within 250 Å):",
        "",
        "| quantity | simulated 99th percentile | simulated maximum | largest real | source |",
        "|---|---|---|---|---|",
    ]
    for name, tail in strong_line_tails(rows).items():
        largest, source = STRONG_LINES[name]
        lines.append(f"| {name} | {_fmt(tail['p99'])} | {_fmt(tail['max'])} | {_fmt(largest)} | {source} |")
    lines += [
        "",
        "## Host share against AGN luminosity",
        "",
        "The host share of the 5100 Å continuum of a type 1 or intermediate per bin of the AGN's",
        "log λL_5100 (20 000 draws of the simulator's `draw_host_fraction`) against Shen et al. (2011,",
        "ApJS 194, 45) Eq. 1, the mean relation of the Vanden Berk et al. (2006) eigenspectrum",
        "decompositions, at the bin centre (Shen et al. write it for the total luminosity; the simulator",
        "uses the AGN's). A type 2 follows the same relation at the luminosity it shows.",
        "",
        "| log λL_5100 [erg/s] | draws | simulated | Shen et al. 2011 Eq. 1 |",
        "|---|---|---|---|",
    ]
    for row in host_share_by_luminosity(seed, params):
        lines.append(f"| {row['low']:.1f}–{row['high']:.1f} | {row['n']:.0f} | {_cell(row)} | {_fmt(row['eq1'])} |")
    lines += [
        "",
        "## Host starlight and [OIII] per class",
        "",
        "Host share, stellar age (the intermediate-age template's share of the host at 5100 Å), σ⋆ and",
        "host reddening are drawn from the same distributions for every class at a given AGN luminosity,",
        "so absorption depth is no label. The one difference kept is measured: a type 2 sees only a",
        "scattered 10–100 % of its AGN continuum (Cid Fernandes et al. 2001), so its host share is higher.",
        "No age difference is imposed: Kauffmann et al. (2003) tie younger hosts to higher [OIII]",
        "luminosity, and we found no type 1 / type 2 age difference quantified in the cited papers to",
        "set one from. The [OIII] rows show the narrow-line strength each class reaches against its own",
        "continuum.",
        "",
        "| quantity | " + " | ".join(CLASS_NAMES) + " |",
        "|---|" + "---|" * len(CLASS_NAMES),
    ]
    per_class = by_class(rows)
    for name in _PER_CLASS_KEYS:
        lines.append(f"| {name} | " + " | ".join(_cell(per_class[(label, name)]) for label in CLASS_NAMES) + " |")
    return "\n".join(lines) + "\n"
