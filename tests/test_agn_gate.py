"""Tests of the AGN gate (agn_saliency.spectra.gate): real SDSS files, seeded synthetic spectra, the simulator."""

from __future__ import annotations

import math

import astropy.units as u
import numpy as np
import pytest
from astropy.table import Table
from helpers import REAL_DIR, needs_real, read_real_index

from agn_saliency.acquire import simulate as S
from agn_saliency.core.lines import EMISSION_LINES, SPEED_OF_LIGHT_KMS
from agn_saliency.spectra import gate as G
from agn_saliency.spectra import sdss

# ------------------------------------------------------------------------------ synthetic spectra

Z = 0.05
NARROW_FWHM = 300.0


def synthetic(lines: dict[float, tuple[float, float]], seed: int, z: float = Z, snr: float = 30.0) -> sdss.SdssSpectrum:
    """An SDSS-like spectrum: log-λ grid 3800–9200 Å, sloped continuum ≈ 10, Gaussian noise, and lines.

    ``lines`` maps a rest wavelength (Å) to (flux in 1e-17 erg/s/cm², FWHM in km/s).
    """
    rng = np.random.default_rng(seed)
    wavelength = 10.0 ** np.arange(np.log10(3800.0), np.log10(9200.0), 1e-4)
    model = 10.0 * (wavelength / 5000.0) ** -0.5
    for rest, (flux, fwhm) in lines.items():
        centre = rest * (1.0 + z)
        sigma = centre * fwhm / SPEED_OF_LIGHT_KMS / (2.0 * math.sqrt(2.0 * math.log(2.0)))
        model += flux * np.exp(-0.5 * ((wavelength - centre) / sigma) ** 2) / (math.sqrt(2 * math.pi) * sigma)
    sigma_noise = 10.0 / snr
    return sdss.SdssSpectrum(
        wavelength=wavelength,
        flux=model + rng.normal(0.0, sigma_noise, wavelength.size),
        ivar=np.full(wavelength.size, 1.0 / sigma_noise**2),
        and_mask=np.zeros(wavelength.size, np.int64),
        plate=266,
        mjd=51602,
        fiberid=1,
        z=z,
        run2d="26",
        sdss_class="GALAXY",
        sdss_subclass="",
        file_format="spec",
    )


def narrow_lines(
    hbeta: float, oiii_hbeta: float, nii_halpha: float, halpha_hbeta: float = 2.86
) -> dict[float, tuple[float, float]]:
    """Narrow Hβ, [OIII] 4960/5008, Hα, [NII] 6550/6585 with the given ratios (observed fluxes)."""
    halpha = halpha_hbeta * hbeta
    return {
        EMISSION_LINES["Hβ"]: (hbeta, NARROW_FWHM),
        EMISSION_LINES["[OIII] 5008"]: (oiii_hbeta * hbeta, NARROW_FWHM),
        EMISSION_LINES["[OIII] 4960"]: (oiii_hbeta * hbeta / 2.98, NARROW_FWHM),
        EMISSION_LINES["Hα"]: (halpha, NARROW_FWHM),
        EMISSION_LINES["[NII] 6585"]: (nii_halpha * halpha, NARROW_FWHM),
        EMISSION_LINES["[NII] 6550"]: (nii_halpha * halpha / 2.96, NARROW_FWHM),
    }


def test_gate_columns_units_parse_and_results_follow_them():
    for unit in G.GATE_COLUMNS.values():
        if unit is not None:
            u.Unit(unit)  # raises if astropy cannot parse it
    result = G.assess_spectrum(synthetic({}, seed=1), Z)
    assert list(result) == list(G.GATE_COLUMNS)
    assert result["agn_status"] in G.AGN_STATUSES


def test_star_forming_spectrum_is_not_agn():
    # Strong Hα (EW ≈ 60 Å), weak [NII] and [OIII]: log [NII]/Hα = −0.7, log [OIII]/Hβ = −0.3.
    spectrum = synthetic(narrow_lines(hbeta=100.0, oiii_hbeta=0.5, nii_halpha=0.2), seed=2)
    result = G.assess_spectrum(spectrum, Z)
    assert result["agn_status"] == "not_agn", result["gate_reason"]
    assert result["bpt_class"] == "star_forming"
    assert result["log_nii_halpha"] == pytest.approx(math.log10(0.2), abs=0.05)
    assert result["log_oiii_hbeta"] == pytest.approx(math.log10(0.5), abs=0.05)
    assert math.isnan(result["broad_fwhm"]) and result["broad_line"] == ""
    assert result["gate_source"] == "own"


def test_seyfert2_spectrum_is_agn():
    spectrum = synthetic(narrow_lines(hbeta=40.0, oiii_hbeta=10.0, nii_halpha=1.0), seed=3)
    result = G.assess_spectrum(spectrum, Z)
    assert result["agn_status"] == "agn", result["gate_reason"]
    assert result["bpt_class"] == "seyfert"
    assert result["log_oiii_hbeta"] == pytest.approx(1.0, abs=0.05)
    assert result["log_nii_halpha"] == pytest.approx(0.0, abs=0.05)
    assert result["oiii_5008_flux"] == pytest.approx(400.0, rel=0.05)
    # Rest-frame EW = flux / continuum / (1 + z); the continuum at [OIII] 5008 (observed) is ≈ 9.72.
    continuum = 10.0 * (EMISSION_LINES["[OIII] 5008"] * (1 + Z) / 5000.0) ** -0.5
    assert result["oiii_5008_ew"] == pytest.approx(400.0 / continuum / (1 + Z), rel=0.05)
    assert "Kewley" in result["gate_reason"]


def test_broad_halpha_is_agn_with_its_fwhm():
    lines = narrow_lines(hbeta=10.0, oiii_hbeta=3.0, nii_halpha=0.5)
    lines[EMISSION_LINES["Hα"] + 0.01] = (2000.0, 4000.0)  # broad Hα, EW ≈ 240 Å
    lines[EMISSION_LINES["Hβ"] + 0.01] = (600.0, 4000.0)
    result = G.assess_spectrum(synthetic(lines, seed=4), Z)
    assert result["agn_status"] == "agn", result["gate_reason"]
    assert result["broad_line"] == "Hα"
    assert result["broad_fwhm"] == pytest.approx(4000.0, rel=0.15)
    assert result["broad_flux"] == pytest.approx(2000.0, rel=0.15)
    assert "broad Hα" in result["gate_reason"]


def test_broad_hbeta_decides_when_halpha_is_out_of_range():
    # z = 0.45: Hα at 9519 Å, beyond SDSS's red end; broad Hβ alone must do.
    lines = {EMISSION_LINES["Hβ"]: (800.0, 5000.0), EMISSION_LINES["[OIII] 5008"]: (100.0, NARROW_FWHM)}
    result = G.assess_spectrum(synthetic(lines, seed=5, z=0.45), 0.45)
    assert result["agn_status"] == "agn", result["gate_reason"]
    assert result["broad_line"] == "Hβ"
    assert result["broad_fwhm"] == pytest.approx(5000.0, rel=0.15)
    assert "Hα" not in result["lines_covered"].split(",")


def test_lineless_continuum_is_not_agn():
    result = G.assess_spectrum(synthetic({}, seed=6), Z)
    assert result["agn_status"] == "not_agn", result["gate_reason"]
    assert "weak lines" in result["gate_reason"]
    assert abs(result["halpha_ew"]) < 1.0 and abs(result["oiii_5008_ew"]) < 1.0
    assert math.isnan(result["broad_fwhm"])


def test_no_coverage_and_no_data_are_uncertain_with_a_reason():
    high_z = G.assess_spectrum(synthetic({}, seed=7, z=2.0), 2.0)
    assert high_z["agn_status"] == "uncertain"
    assert "not covered" in high_z["gate_reason"]
    blank = synthetic({}, seed=8)
    blank.ivar[:] = 0.0
    no_data = G.assess_spectrum(blank, Z)
    assert no_data["agn_status"] == "uncertain" and no_data["gate_reason"]
    no_z = G.assess_spectrum(synthetic({}, seed=9), float("nan"))
    assert no_z["agn_status"] == "uncertain" and "redshift" in no_z["gate_reason"]


def test_masked_pixels_are_ignored():
    spectrum = synthetic(narrow_lines(hbeta=40.0, oiii_hbeta=10.0, nii_halpha=1.0), seed=10)
    # A cosmic-ray-like spike flagged FULLREJECT next to Hα must not change the result.
    near = np.argmin(np.abs(spectrum.wavelength - 6620.0 * (1 + Z)))
    spectrum.flux[near - 2 : near + 3] += 500.0
    spectrum.and_mask[near - 2 : near + 3] = 1 << 18
    result = G.assess_spectrum(spectrum, Z)
    assert result["agn_status"] == "agn" and result["bpt_class"] == "seyfert"
    assert result["log_nii_halpha"] == pytest.approx(0.0, abs=0.05)


def spzline_table(fluxes: dict[str, float], sigma: float = 150.0) -> Table:
    names = list(fluxes)
    return Table(
        {
            "LINENAME": names,
            "LINEAREA": [fluxes[n] for n in names],
            "LINEAREA_ERR": [max(abs(fluxes[n]) * 0.02, 1.0) for n in names],
            "LINESIGMA": [sigma] * len(names),
        }
    )


def test_spzline_is_cross_checked_and_fills_in_where_own_cannot_measure():
    spectrum = synthetic(narrow_lines(hbeta=40.0, oiii_hbeta=10.0, nii_halpha=1.0), seed=11)
    table = spzline_table({"H_beta": 40.0, "[O_III] 5007": 400.0, "H_alpha": 114.4, "[N_II] 6583": 114.4})
    agree = G.assess_spectrum(spectrum, Z, table)
    assert agree["gate_source"] == "own" and agree["spzline_bpt_class"] == "seyfert"
    assert agree["spzline_oiii_log_ratio"] == pytest.approx(0.0, abs=0.03)
    assert agree["spzline_halpha_log_ratio"] == pytest.approx(0.0, abs=0.03)
    # Hα region masked: our [NII]/Hα is unmeasurable, SPZLINE's is used and named as the source.
    masked = synthetic(narrow_lines(hbeta=40.0, oiii_hbeta=10.0, nii_halpha=1.0), seed=11)
    masked.ivar[masked.wavelength > 6000.0 * (1 + Z)] = 0.0
    filled = G.assess_spectrum(masked, Z, table)
    assert filled["agn_status"] == "agn" and filled["gate_source"] == "own+spzline", filled
    assert "SPZLINE" in filled["gate_reason"]
    # A broad SPZLINE fit (σ in the thousands of km/s, as in SDSS quasars) is not used.
    broad = G.assess_spectrum(masked, Z, spzline_table({"H_alpha": 114.4, "[N_II] 6583": 114.4}, sigma=3000.0))
    assert broad["gate_source"] == "own"
    # Nor is one fitted at another redshift than the one in use.
    elsewhere = spzline_table({"H_alpha": 114.4, "[N_II] 6583": 114.4})
    elsewhere["LINEZ"] = [Z + 0.01] * len(elsewhere)
    assert G.assess_spectrum(masked, Z, elsewhere)["gate_source"] == "own"


@pytest.mark.filterwarnings("ignore::astropy.utils.exceptions.AstropyUserWarning")
def test_assess_file_on_corrupt_and_missing_files_is_uncertain(tmp_path):
    corrupt = tmp_path / "spec-0266-51602-0001.fits"
    corrupt.write_bytes(b"SIMPLE  =                    T" + b"\0" * 100)
    result = G.assess_file(corrupt)
    assert result["agn_status"] == "uncertain" and result["gate_reason"].startswith("unreadable")
    missing = G.assess_file(tmp_path / "nope.fits")
    assert missing["agn_status"] == "uncertain" and "unreadable" in missing["gate_reason"]
    with pytest.raises(sdss.SpectrumReadError):
        G.read_spzline(corrupt)


# ------------------------------------------------------------------------------ real SDSS files


@needs_real
def test_read_spzline_on_real_files():
    table = G.read_spzline(REAL_DIR / "spec-0295-51585-0596.fits")
    assert {"LINENAME", "LINEWAVE", "LINEAREA", "LINEAREA_ERR", "LINEEW", "LINESIGMA", "LINEZ"} <= set(table.colnames)
    assert "H_alpha" in list(table["LINENAME"])
    assert G.read_spzline(REAL_DIR / "spSpec-52767-1329-180.fit") is None


@needs_real
@pytest.mark.parametrize("row", read_real_index(), ids=lambda row: row["file"])
def test_real_files(row):
    result = G.assess_file(REAL_DIR / row["file"])
    assert list(result) == list(G.GATE_COLUMNS) and result["gate_reason"]
    if row["expected"] == "not_agn":
        assert result["agn_status"] in ("not_agn", "uncertain"), result["gate_reason"]
    elif row["expected"] in ("type1", "type2"):
        assert result["agn_status"] == "agn", result["gate_reason"]
    if row["expected"] == "type1":
        assert result["broad_fwhm"] >= G.BROAD_FWHM_MIN_KMS
    if row["expected"] == "out_of_range":
        # z ≈ 2: neither Hβ nor Hα is in the SDSS range.
        assert result["agn_status"] == "uncertain" and "not covered" in result["gate_reason"]


@needs_real
def test_real_file_z_argument_overrides_the_file():
    path = REAL_DIR / "spec-2880-54509-0230.fits"
    from_file = G.assess_file(path)
    assert from_file["bpt_class"] == "star_forming"
    assert from_file["spzline_halpha_log_ratio"] == pytest.approx(0.0, abs=0.1)  # own and SDSS agree
    assert G.assess_file(path, z=sdss.read_spectrum(path).z) == pytest.approx(from_file, nan_ok=True)
    assert G.assess_file(path, z=float("nan")) == pytest.approx(from_file, nan_ok=True)
    moved = G.assess_file(path, z=2.5)
    assert moved["agn_status"] == "uncertain" and "not covered" in moved["gate_reason"]


# ------------------------------------------------------------------------------ simulated sample

SIM_PER_CLASS = 30
SIM_MIN_AGN_FRACTION = 0.95  # measured: 30/30 type1, 29/30 type2, 30/30 intermediate (seed 11)


def test_simulated_agn_pass_the_gate():
    params = S.SimulationParameters()
    catalog = S.simulate_catalog(SIM_PER_CLASS, SIM_PER_CLASS, SIM_PER_CLASS, seed=11, params=params)
    passed: dict[str, int] = dict.fromkeys(("type1", "type2", "intermediate"), 0)
    for row in catalog:
        spectrum = sdss.read_spectrum(S.spectrum_file_bytes(row, 11, params))
        result = G.assess_spectrum(spectrum, float(row["z"]))
        passed[str(row["label"])] += result["agn_status"] == "agn"
    for label, count in passed.items():
        assert count >= SIM_MIN_AGN_FRACTION * SIM_PER_CLASS, (label, passed)
