"""Rest-frame vacuum emission lines and the wavelength windows used to mark and quantify them.

Wavelengths in Å (vacuum), from the SDSS spectroscopic pipeline's table of spectral lines
(https://classic.sdss.org/dr6/algorithms/linestable.php).
"""

from __future__ import annotations

EMISSION_LINES: dict[str, float] = {
    "[OII] 3727": 3727.09,
    "[OII] 3730": 3729.88,
    "[NeIII] 3870": 3869.86,
    "Hδ": 4102.89,
    "Hγ": 4341.68,
    "[OIII] 4364": 4364.44,
    "HeII 4687": 4687.02,
    "Hβ": 4862.68,
    "[OIII] 4960": 4960.30,
    "[OIII] 5008": 5008.24,
    "HeI 5877": 5877.25,
    "[OI] 6302": 6302.05,
    "[NII] 6550": 6549.86,
    "Hα": 6564.61,
    "[NII] 6585": 6585.27,
    "[SII] 6718": 6718.29,
    "[SII] 6733": 6732.67,
}
"""Rest-frame vacuum wavelengths (Å) of the lines the simulator models and plots mark."""

BALMER_LINES: dict[str, float] = {k: EMISSION_LINES[k] for k in ("Hδ", "Hγ", "Hβ", "Hα")}

FEII_BANDS: tuple[tuple[float, float], ...] = ((4434.0, 4684.0), (5147.0, 5350.0))
"""Optical FeII blends (Å, rest frame)."""

# Lines marked on every reduced-spectrum plot (the ones inside the default grid).
PLOT_LINES: tuple[str, ...] = ("Hδ", "Hγ", "HeII 4687", "Hβ", "[OIII] 4960", "[OIII] 5008")

# Half-widths (km/s) of the windows used to quantify where saliency concentrates.
# Narrow core: ±600 km/s covers a 500 km/s FWHM narrow line at SDSS resolution;
# broad wing: 600–5000 km/s either side of a Balmer line.
NARROW_CORE_KMS = 600.0
BROAD_WING_KMS = 5000.0
SPEED_OF_LIGHT_KMS = 299_792.458


def line_windows(wavelength_min: float, wavelength_max: float) -> dict[str, list[tuple[float, float]]]:
    """Wavelength windows (Å) of each kind of spectral feature inside a range.

    Parameters
    ----------
    wavelength_min, wavelength_max
        Rest-frame range (Å) of the grid the windows must fall in.

    Returns
    -------
    dict
        ``"narrow_core"``: ±NARROW_CORE_KMS around every emission line;
        ``"broad_wing"``: NARROW_CORE_KMS…BROAD_WING_KMS either side of each Balmer line;
        ``"feii"``: the FeII blends. Windows are clipped to the range; empty ones dropped.
    """
    if wavelength_max <= wavelength_min:
        raise ValueError(f"wavelength_max ({wavelength_max}) must exceed wavelength_min ({wavelength_min})")

    def clip(lo: float, hi: float) -> tuple[float, float] | None:
        lo, hi = max(lo, wavelength_min), min(hi, wavelength_max)
        return (lo, hi) if hi > lo else None

    core = NARROW_CORE_KMS / SPEED_OF_LIGHT_KMS
    wing = BROAD_WING_KMS / SPEED_OF_LIGHT_KMS
    windows: dict[str, list[tuple[float, float]]] = {"narrow_core": [], "broad_wing": [], "feii": []}
    for rest in EMISSION_LINES.values():
        windows["narrow_core"].append(clip(rest * (1 - core), rest * (1 + core)))
    for rest in BALMER_LINES.values():
        windows["broad_wing"].append(clip(rest * (1 - wing), rest * (1 - core)))
        windows["broad_wing"].append(clip(rest * (1 + core), rest * (1 + wing)))
    for lo, hi in FEII_BANDS:
        windows["feii"].append(clip(lo, hi))
    return {kind: [w for w in ws if w is not None] for kind, ws in windows.items()}
