"""The line/absorption saliency ratio and the host-dilution test (issue 21) on known inputs."""

from __future__ import annotations

import numpy as np
import pytest

from agn_saliency.acquire.simulate.host import host_template
from agn_saliency.explain.robustness import host_dilution, line_absorption_ratio, window_masks

WAVELENGTH = np.linspace(4000.0, 5500.0, 1000)


def test_windows_cover_the_lines_and_the_absorption_features() -> None:
    line, absorption = window_masks(WAVELENGTH)
    assert line[np.argmin(np.abs(WAVELENGTH - 4862.68))] and line[np.argmin(np.abs(WAVELENGTH - 5008.24))]
    assert absorption[np.argmin(np.abs(WAVELENGTH - 5175.0))] and absorption[np.argmin(np.abs(WAVELENGTH - 4300.0))]
    assert not line[np.argmin(np.abs(WAVELENGTH - 4200.0))] and not absorption[np.argmin(np.abs(WAVELENGTH - 4200.0))]
    g_band_edge = np.argmin(np.abs(WAVELENGTH - 4310.0))  # inside both the G band and Hγ −2500 km/s
    assert line[g_band_edge] and not absorption[g_band_edge]
    assert window_masks(WAVELENGTH, exclusive=False)[1][g_band_edge]


def test_ratio_uses_each_true_class_own_map() -> None:
    line, absorption = window_masks(WAVELENGTH)
    maps = np.zeros((2, 2, WAVELENGTH.size))
    maps[0, 0] = np.where(line, 4.0, 0.0) + np.where(absorption, 1.0, 0.0)  # type1 spectrum, type1 map
    maps[0, 1] = np.where(absorption, 9.0, 0.0)  # its type2 map: not counted
    maps[1, 1] = np.where(line, -1.0, 0.0) + np.where(absorption, 2.0, 0.0)  # type2 spectrum, own map
    ratios = line_absorption_ratio(maps, ["type1", "type2"], ["type1", "type2"], WAVELENGTH)
    assert ratios == {"type1": 4.0, "type2": 0.5}
    with pytest.raises(ValueError, match="maps must be"):
        line_absorption_ratio(maps[:, :1], ["type1", "type2"], ["type1", "type2"], WAVELENGTH)


class _DepthModel:
    """Calls a spectrum type 1 while its G-band dip is shallower than a threshold."""

    classes_ = np.array(["type1", "type2"])

    def predict(self, flux: np.ndarray) -> np.ndarray:
        g_band = (WAVELENGTH > 4290) & (WAVELENGTH < 4310)
        side = (WAVELENGTH > 4240) & (WAVELENGTH < 4260)
        depth = flux[:, side].mean(axis=1) - flux[:, g_band].mean(axis=1)
        return np.where(depth < 0.05, "type1", "type2")


def test_host_dilution_curve_falls_as_starlight_deepens_absorption() -> None:
    host = host_template(WAVELENGTH)
    flux = np.ones((5, WAVELENGTH.size))
    kept = host_dilution(_DepthModel(), flux, host, (0.0, 0.2, 0.8))
    assert kept[0.0] == 1.0 and kept[0.8] == 0.0
    with pytest.raises(ValueError, match="host fraction"):
        host_dilution(_DepthModel(), flux, host, (1.0,))


def test_robustness_rows_separate_missed_type1_from_dilution() -> None:
    from agn_saliency.explain.robustness import DILUTION_FRACTIONS, robustness_rows

    line, absorption = window_masks(WAVELENGTH)
    flux = np.ones((4, WAVELENGTH.size))
    flux[3, (WAVELENGTH > 4290) & (WAVELENGTH < 4310)] = 0.5  # a type 1 called type 2 undiluted
    maps = np.zeros((4, 2, WAVELENGTH.size))
    maps[:, 0] = np.where(line, 3.0, 0.0) + np.where(absorption, 1.0, 0.0)
    maps[:, 1] = np.where(line, 1.0, 0.0) + np.where(absorption, 1.0, 0.0)
    labels = np.array(["type1", "type1", "type1", "type1"])
    ratios, dilution = robustness_rows(_DepthModel(), flux, labels, maps, ["type1", "type2"], WAVELENGTH)
    assert ratios == [{"class": "type1", "line_absorption_ratio": 3.0, "line_absorption_ratio_of_mean": 3.0, "n_spectra": 4}]
    assert [row["host_fraction"] for row in dilution] == list(DILUTION_FRACTIONS)
    first = dilution[0]
    assert first["kept_type1"] == 0.75 and first["kept_if_correct"] == 1.0 and first["n_spectra"] == 4
    _, none = robustness_rows(_DepthModel(), flux[:1], np.array(["type2"]), maps[:1], ["type1", "type2"], WAVELENGTH)
    assert none == []
