"""Fixed numbers of the simulation: the SDSS pixel grid and identifiers, pixel-mask bits, the
emission-line lists (narrow extras, Balmer decrements, broad lines, optical FeII) and the
instrument tables (night-sky lines, spectrograph throughput, sky continuum).

Wavelengths in Å (vacuum unless a table says air), fluxes in 1e-17 erg/s/cm²(/Å).
"""

from __future__ import annotations

import math

import numpy as np

from agn_saliency.core.lines import BALMER_LINES, EMISSION_LINES, SPEED_OF_LIGHT_KMS
from agn_saliency.spectra import sdss

LOGLAM_STEP = 1.0e-4
"""SDSS coadd pixel size in log10(λ/Å)."""
PIXEL_KMS = SPEED_OF_LIGHT_KMS * math.log(10.0) * LOGLAM_STEP
"""Velocity width of one pixel (≈ 69.0 km/s)."""
LOGLAM_START_RANGE = (3.5790, 3.5830)
"""Range of the first pixel's log10(λ/Å) (≈ 3793–3828 Å), drawn per spectrum as in real coadds."""
LOGLAM_END_RANGE = (3.9615, 3.9645)
"""Range of the last pixel's log10(λ/Å) (≈ 9153–9217 Å)."""
FIRST_PLATE = 266
"""First SDSS-I main-survey plate used for simulated identifiers."""
FIBERS_PER_PLATE = 640
"""SDSS-I/II spectrographs: fibers 1…640 per plate."""
RUN2D = sdss.DEFAULT_RUN2D_SDSS
"""run2d written into simulated files and paths (SDSS-I/II plates: ``"26"``)."""

# SDSS spectro pixel-mask bits (sdss.org/dr17/algorithms/bitmasks/#SPPIXMASK).
MASK_FULLREJECT = 1 << 18
MASK_BRIGHTSKY = 1 << 23
MASK_NODATA = 1 << 24

REST_5100_WINDOW = (5050.0, 5150.0)
"""Rest-frame window (Å) in which the requested S/N and continuum level are defined."""
BALMER_EDGE = 3646.0
"""Balmer edge (Å, rest)."""

_AIR_TO_VACUUM = 1.000277  # (n - 1) of air in the optical, enough for line-list positions

# Extra narrow lines not in lines.EMISSION_LINES (vacuum Å).
_NEIII_3968 = 3968.59
_HEPSILON = 3971.20
_H8 = 3890.17
_OI_6365 = 6365.54
_ARIII_7138 = 7137.77

# CCM-like extinction k(λ) = A_λ/E(B-V) at the Balmer lines used for decrements.
_K_EXTINCTION = {"Hα": 2.53, "Hβ": 3.61, "Hγ": 4.17, "Hδ": 4.44, "Hε": 4.60, "H8": 4.70}
_CASE_B = {"Hα": 2.86, "Hβ": 1.0, "Hγ": 0.468, "Hδ": 0.259, "Hε": 0.159, "H8": 0.105}
"""Case-B (10⁴ K) Balmer ratios to Hβ, the intrinsic narrow decrement."""
_BROAD_INTRINSIC = {"Hα": 2.7, "Hβ": 1.0, "Hγ": 0.42, "Hδ": 0.24, "Hε": 0.15, "H8": 0.10}
"""Intrinsic broad-line Balmer ratios to Hβ (flatter Hγ/Hβ than case B, as in quasar composites)."""
_BALMER_REST = {
    "Hα": BALMER_LINES["Hα"],
    "Hβ": BALMER_LINES["Hβ"],
    "Hγ": BALMER_LINES["Hγ"],
    "Hδ": BALMER_LINES["Hδ"],
    "Hε": _HEPSILON,
    "H8": _H8,
}
_BROAD_HEI_TO_HBETA = 0.08
"""Broad HeI 5877 / broad Hβ flux ratio."""
BROAD_LINES: dict[str, float] = {**_BALMER_REST, "HeI 5877": EMISSION_LINES["HeI 5877"]}
"""Rest-frame vacuum wavelengths (Å) of every line given a broad (core + wing) component: the
Balmer lines Hα…H8 (:data:`agn_saliency.core.lines.BALMER_LINES` plus Hε and H8) and HeI 5877. HeII
4687 is narrow only; FeII shares the broad kinematics but is a blend, not in this list."""
BROAD_WING_MASK_MIN_FRACTION = 0.1
"""Default smallest broad-wing flux share for which
:func:`~agn_saliency.acquire.simulate.truth.broad_component_mask` also masks the wing."""

# Optical FeII lines (air Å, relative intensity), multiplets 27, 28, 37, 38, 42, 48, 49 and a few
# red lines: positions from the standard multiplet tables, strengths set to reproduce the shape
# of the I Zw 1 template (two bumps, 4434–4684 and 5147–5350 Å, comparable in flux).
_FEII_AIR = np.array(
    [
        (4173.45, 0.25),
        (4178.86, 0.20),
        (4233.17, 0.45),
        (4258.15, 0.10),
        (4273.33, 0.15),
        (4296.57, 0.25),
        (4303.17, 0.40),
        (4351.76, 0.45),
        (4369.40, 0.15),
        (4385.38, 0.35),
        (4413.60, 0.20),
        (4416.83, 0.45),
        (4472.93, 0.35),
        (4489.18, 0.55),
        (4491.40, 0.50),
        (4508.28, 0.75),
        (4515.34, 0.75),
        (4520.22, 0.70),
        (4522.63, 0.85),
        (4534.17, 0.35),
        (4541.52, 0.45),
        (4549.47, 0.95),
        (4555.89, 0.85),
        (4576.33, 0.70),
        (4582.83, 0.65),
        (4583.83, 0.90),
        (4620.51, 0.55),
        (4629.34, 0.90),
        (4635.33, 0.30),
        (4656.98, 0.30),
        (4666.75, 0.45),
        (4731.44, 0.35),
        (4923.92, 1.10),
        (5018.43, 1.30),
        (5169.03, 1.30),
        (5197.57, 0.80),
        (5234.62, 0.85),
        (5254.93, 0.35),
        (5264.80, 0.45),
        (5276.00, 0.95),
        (5284.09, 0.45),
        (5316.61, 1.10),
        (5325.55, 0.30),
        (5337.73, 0.35),
        (5362.86, 0.50),
        (5414.07, 0.20),
        (5425.25, 0.30),
        (5534.83, 0.40),
        (6147.74, 0.20),
        (6238.39, 0.25),
        (6247.56, 0.30),
        (6416.92, 0.20),
        (6456.38, 0.30),
        (6516.08, 0.25),
    ]
)
FEII_WAVELENGTHS = _FEII_AIR[:, 0] * _AIR_TO_VACUUM
"""Rest-frame vacuum wavelengths (Å) of the modelled FeII lines."""
FEII_STRENGTHS = _FEII_AIR[:, 1]
"""Relative strengths of the modelled FeII lines."""

# Night-sky emission lines (air Å, integrated flux in 1e-17 erg/s/cm² at sky_line_scale = 1):
# Hg street lamps, [OI] 5577/6300/6364, Na D, and the OH Meinel bands (6-1, 7-2, 8-3, 5-1, 6-2,
# 7-3) including the 7600–7700 Å group and the strong lines beyond 7700 Å.
_SKY_AIR = np.array(
    [
        (4046.56, 50),
        (4358.34, 150),
        (5460.74, 150),
        (5769.60, 40),
        (5790.66, 40),
        (5577.34, 2500),
        (5889.95, 300),
        (5895.92, 200),
        (6300.30, 600),
        (6363.78, 200),
        (6257.96, 60),
        (6287.43, 60),
        (6306.90, 40),
        (6329.90, 50),
        (6498.70, 50),
        (6533.00, 60),
        (6553.60, 60),
        (6577.20, 50),
        (6604.30, 50),
        (6828.50, 60),
        (6834.00, 80),
        (6863.90, 200),
        (6871.00, 60),
        (6912.60, 80),
        (6923.20, 200),
        (6939.50, 100),
        (6948.90, 200),
        (6969.90, 90),
        (7003.90, 50),
        (7244.90, 100),
        (7276.40, 200),
        (7284.40, 100),
        (7303.70, 150),
        (7316.30, 300),
        (7329.10, 200),
        (7340.90, 300),
        (7358.70, 150),
        (7369.20, 250),
        (7392.20, 100),
        (7401.70, 250),
        (7524.10, 150),
        (7571.70, 300),
        (7586.00, 100),
        (7599.00, 80),
        (7621.00, 100),
        (7640.00, 150),
        (7660.00, 100),
        (7680.00, 80),
        (7695.00, 80),
        (7712.00, 250),
        (7750.60, 400),
        (7794.10, 500),
        (7821.50, 500),
        (7853.20, 200),
        (7913.70, 500),
        (7949.20, 100),
        (7964.70, 400),
        (7993.30, 400),
        (8025.80, 300),
        (8062.00, 200),
        (8288.00, 300),
        (8344.60, 700),
        (8399.20, 700),
        (8430.20, 700),
        (8465.20, 800),
        (8504.70, 800),
        (8548.70, 500),
        (8627.00, 200),
        (8634.00, 200),
        (8646.00, 300),
        (8665.00, 200),
        (8761.30, 500),
        (8767.90, 400),
        (8778.30, 500),
        (8791.20, 500),
        (8827.10, 1000),
        (8836.00, 400),
        (8867.60, 300),
        (8885.80, 1000),
        (8903.10, 600),
        (8919.60, 700),
        (8943.40, 1000),
        (8958.10, 1000),
        (8988.40, 900),
        (9001.40, 700),
        (9037.00, 400),
        (9050.00, 500),
        (9093.00, 300),
        (9140.00, 300),
        (9155.00, 300),
        (9178.00, 300),
        (9202.00, 300),
        (9220.00, 300),
    ]
)
SKY_LINE_WAVELENGTHS = _SKY_AIR[:, 0] * _AIR_TO_VACUUM
"""Observed vacuum wavelengths (Å) of the modelled night-sky lines."""
SKY_LINE_FLUXES = _SKY_AIR[:, 1].astype(float)
"""Their integrated fluxes (1e-17 erg/s/cm²) at ``sky_line_scale`` = 1."""

# Relative spectrograph throughput (observed Å → relative units): two arms, dichroic near 5900 Å.
_THROUGHPUT = np.array(
    [
        (3700, 0.04),
        (3780, 0.06),
        (3850, 0.09),
        (4000, 0.16),
        (4250, 0.25),
        (4500, 0.31),
        (5000, 0.37),
        (5500, 0.39),
        (5800, 0.33),
        (5950, 0.25),
        (6100, 0.36),
        (6500, 0.50),
        (7000, 0.56),
        (7500, 0.56),
        (8000, 0.52),
        (8500, 0.43),
        (9000, 0.29),
        (9300, 0.20),
    ]
)
# Sky continuum shape (observed Å → relative units, 1 = sky_continuum).
_SKY_CONTINUUM = np.array(
    [
        (3700, 0.9),
        (4000, 1.0),
        (4500, 0.9),
        (5000, 0.95),
        (5500, 1.05),
        (5900, 1.25),
        (6100, 1.1),
        (6500, 1.0),
        (7000, 1.05),
        (7500, 0.85),
        (8000, 0.9),
        (8500, 0.8),
        (9000, 0.75),
        (9300, 0.7),
    ]
)
