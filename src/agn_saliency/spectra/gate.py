"""AGN gate: is this spectrum an AGN at all? (``agn`` / ``not_agn`` / ``uncertain``).

The classifier knows only the three AGN classes (type 1, type 2, intermediate), so a normal or
star-forming galaxy fed to it still comes out as an AGN with high confidence. This gate measures
the emission lines of one observed SDSS spectrum and says whether an AGN label makes sense.

Measurement
-----------
The whole observed spectrum is used: every line the gate needs is looked for wherever the
spectrum's rest frame (λ/(1+z), vacuum wavelengths from :mod:`agn_saliency.core.lines`) puts it.
Pixels with ``ivar = 0`` or one of the reduction's bad ``and_mask`` bits are ignored. Two rest-frame
regions are fitted by weighted least squares (:func:`scipy.optimize.least_squares` on the line
kinematics; continuum and line fluxes solved linearly at each step):

* **Hβ region**, 4720–5100 Å: quadratic continuum + narrow Hβ, [OIII] 4960 and [OIII] 5008
  (4960 = 5008/2.98, Storey & Zeippen 2000), one narrow velocity and width shared by all three,
  + one broad Hβ Gaussian. The region avoids the optical FeII blends (4434–4684, 5147–5350 Å).
* **Hα region**, 6200–6950 Å: quadratic continuum + narrow [OI] 6302/6365 (3:1), [NII] 6550/6585
  (1:2.96), Hα, [SII] 6718/6733, shared narrow kinematics, + one broad Hα Gaussian.

Narrow widths are bounded to FWHM ≤ 1060 km/s, broad ones to 1200–15000 km/s. Line fluxes may come
out negative: a negative broad component then models stellar Balmer absorption under the narrow
emission line instead of biasing it. Fluxes are in 1e-17 erg/s/cm² (observed), equivalent widths
in rest-frame Å (flux / fitted continuum at the line / (1 + z)); errors come from the linear
covariance, scaled by the reduced χ² when it exceeds 1 (or always, for DR7 files without an error
row, whose ``ivar`` is a placeholder); they are reported as ``<line>_flux_err`` and ``_ew_err`` (the
EW's from the flux's relative error), the broad FWHM's from the Jacobian of the kinematic fit, and
each line the decision uses gets its S/N (``<line>_snr``, ``broad_snr``). ``flux_scale`` flags a
file whose median flux is implausible in SDSS's unit (:data:`FLUX_SCALE_RANGE`). A line is *detected* at S/N ≥ 3 (Kauffmann et al. 2003;
Brinchmann et al. 2004) and *covered* when ≥ 80 % of the pixels within ±500 km/s of it are good;
a region is fitted when ≥ 60 % of it is good and its lines are covered.

Decision (first rule that applies)
----------------------------------
1. **Broad Balmer line** → ``agn``. Hα decides when its region is fitted, else Hβ. A broad
   component counts when its FWHM (instrumental 150 km/s, SDSS R ≈ 2000, removed in quadrature)
   is ≥ 1200 km/s, its flux is positive at S/N ≥ 5 and its rest EW is ≥ 5 Å. 1200 km/s is the
   minimum of the bimodal Hα width distribution of SDSS emission-line galaxies that Hao et al.
   (2005, AJ 129, 1783) use to separate broad-line AGN from narrow-line objects; the S/N and EW
   floors keep line-profile wings and continuum wiggles of star-forming galaxies from counting.
2. **Weak lines** → ``not_agn``: EW(Hα) < 3 Å and EW([OIII] 5008) < 3 Å — passive and retired
   galaxies of the WHAN diagram (Cid Fernandes et al. 2011, MNRAS 413, 1687), whose weak LINER-like
   emission comes from old stars, not an AGN. Without Hα: EW([OIII]) < 3 Å and EW(Hβ) < 1 Å
   (Hβ ≈ Hα/3 in emission).
3. **BPT diagram** (Baldwin, Phillips & Terlevich 1981, PASP 93, 5), x = log([NII] 6585/Hα),
   y = log([OIII] 5008/Hβ) from the *narrow* components, all four lines detected: above the
   Kewley et al. (2001, ApJ 556, 121) maximum-starburst line y = 0.61/(x − 0.47) + 1.19 (or
   x ≥ 0.47) → ``agn`` (``seyfert`` or ``liner`` split by the Schawinski et al. 2007, MNRAS 382,
   1415 line y = 1.05x + 0.45); between it and the Kauffmann et al. (2003, MNRAS 346, 1055) line
   y = 0.61/(x − 0.05) + 1.3 → ``composite`` → ``uncertain``; below → ``star_forming`` →
   ``not_agn``. An undetected Hβ with detected [OIII] gives a lower limit on y (3σ upper limit on
   Hβ), which counts when it is already above the Kewley line.
4. **Partial diagnostics**: with only [NII]/Hα (Hβ or [OIII] undetected or not covered),
   x < −0.4 is star-forming (WHAN, Cid Fernandes et al. 2010, MNRAS 403, 1036) → ``not_agn``,
   otherwise ``uncertain``. With only [OIII]/Hβ (Hα outside the observed range, e.g. z ≳ 0.33),
   y > 0.95 lies above every star-forming galaxy (the Kewley line's y → 1.19 only at x → −∞, and
   the star-forming sequence tops out near y ≈ 0.9, Kauffmann et al. 2003) → ``agn``; anything
   else → ``uncertain``.
5. Anything else (no Hβ/Hα region covered, fits failed, lines too noisy) → ``uncertain``.

SPZLINE (DR8+ HDU 3, the SDSS pipeline's own Gaussian line fits on its best-fit template
continuum) is a second measurement. The gate's own measurement decides; SPZLINE's fluxes are used
only when a ratio cannot be measured here (a region not fitted or a line not detected here but
detected, S/N ≥ 3, by SPZLINE), and ``gate_source`` then says ``own+spzline`` or ``spzline``.
Each ratio takes both of its lines from one measurement. SPZLINE lines fitted with σ > 500 km/s
(its tied widths blow up in quasars) or at a redshift more than 1000 km/s from the one in use
are ignored.
SPZLINE never decides the broad-line test (it fits one Gaussian per line with the Balmer widths
tied). The cross-check columns give log10(own/SPZLINE) of the [OIII] 5008 and narrow Hα fluxes,
and SPZLINE's own BPT class.

A file that cannot be read is not an exception here: :func:`assess_file` returns ``uncertain``
with the read error as the reason, so a batch never stops on one bad file.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from agn_saliency.core.columns import GATE_COLUMNS as COLUMN_DESCRIPTIONS
from agn_saliency.core.lines import EMISSION_LINES, SPEED_OF_LIGHT_KMS
from agn_saliency.spectra.reduce import DEFAULT_BAD_MASK_BITS
from agn_saliency.spectra.sdss import SdssSpectrum, SpectrumReadError, read_spectrum, unreadable_reason

GATE_COLUMNS: dict[str, str | None] = {column.name: column.unit for column in COLUMN_DESCRIPTIONS}
"""Columns of one gate result, in order, with their units (``None``: text; ``""``: a dimensionless
number); described in :data:`agn_saliency.core.columns.GATE_COLUMNS`."""

FLUX_SCALE_RANGE = (1e-3, 1e6)
"""Median ``|flux density|`` of a spectrum's good pixels that is plausible in SDSS's unit,
1e-17 erg/s/cm²/Å: from a sky-noise-dominated r ≈ 22 galaxy (~0.01–1) to the brightest quasars
and nearby nuclei (~10⁴). Outside it the file's values do not match its BUNIT (the DR7 spSpec file
with a flux row only holds erg/s/cm²/Å, 10¹⁷ times smaller): ``flux_scale`` says ``implausible``."""

AGN_STATUSES: tuple[str, ...] = ("agn", "not_agn", "uncertain")

# Criteria (see the module docstring for their sources).
BROAD_FWHM_MIN_KMS = 1200.0
BROAD_SNR_MIN = 5.0
BROAD_EW_MIN = 5.0
LINE_SNR_MIN = 3.0
WEAK_EW_MAX = 3.0
WEAK_HBETA_EW_MAX = 1.0
WHAN_SF_LOG_NII_HALPHA = -0.4
WHAN_STRONG_EW_MIN = 6.0
OIII_HBETA_AGN_ALONE = 0.95
INSTRUMENT_FWHM_KMS = 150.0
BROAD_FWHM_MAX_KMS = 12000.0
SPZLINE_NARROW_SIGMA_MAX_KMS = 500.0
SPZLINE_MAX_DV_KMS = 1000.0

_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_NARROW_SIGMA_KMS = (40.0, 450.0)
_BROAD_SIGMA_KMS = (BROAD_FWHM_MIN_KMS / _FWHM_PER_SIGMA, BROAD_FWHM_MAX_KMS / _FWHM_PER_SIGMA)
_VELOCITY_LIMIT_KMS = {"narrow": 1500.0, "broad": 3000.0}
_COVER_KMS = 500.0
_MIN_LINE_GOOD_FRACTION = 0.8
_MIN_REGION_GOOD_FRACTION = 0.6
_BAD_MASK = sum(1 << bit for bit in DEFAULT_BAD_MASK_BITS)


@dataclass(frozen=True)
class _Region:
    """One fitted rest-frame region: its narrow lines (name → rest Å), tied ratios and broad line."""

    name: str
    window: tuple[float, float]
    narrow: dict[str, float]
    tied: dict[str, tuple[str, float]]  # line → (line it follows, flux ratio to it)
    required: tuple[str, ...]  # lines that must be covered for the region to be fitted
    broad: str


_E = EMISSION_LINES
_HBETA_REGION = _Region(
    name="Hβ",
    window=(4720.0, 5100.0),
    narrow={"Hβ": _E["Hβ"], "[OIII] 5008": _E["[OIII] 5008"], "[OIII] 4960": _E["[OIII] 4960"]},
    tied={"[OIII] 4960": ("[OIII] 5008", 1.0 / 2.98)},
    required=("Hβ", "[OIII] 5008"),
    broad="Hβ",
)
_HALPHA_REGION = _Region(
    name="Hα",
    window=(6200.0, 6950.0),
    narrow={
        "[OI] 6302": _E["[OI] 6302"],
        "[OI] 6365": 6365.54,
        "[NII] 6550": _E["[NII] 6550"],
        "Hα": _E["Hα"],
        "[NII] 6585": _E["[NII] 6585"],
        "[SII] 6718": _E["[SII] 6718"],
        "[SII] 6733": _E["[SII] 6733"],
    },
    tied={"[OI] 6365": ("[OI] 6302", 1.0 / 3.0), "[NII] 6550": ("[NII] 6585", 1.0 / 2.96)},
    required=("Hα", "[NII] 6585"),
    broad="Hα",
)

REGIONS: tuple[_Region, ...] = (_HBETA_REGION, _HALPHA_REGION)
"""The fitted regions, in the order their notes appear in ``gate_reason``."""

# SPZLINE LINENAME of the four BPT lines.
_SPZLINE_NAMES = {"Hβ": "H_beta", "[OIII] 5008": "[O_III] 5007", "Hα": "H_alpha", "[NII] 6585": "[N_II] 6583"}


# ------------------------------------------------------------------------------------ reading


def read_spzline(path: str | os.PathLike[str]) -> Any:
    """The SPZLINE table (HDU ``SPZLINE``) of a DR8+ spec file, or ``None`` when it has none.

    Parameters
    ----------
    path
        A DR8+ ``spec-*.fits`` (full or lite) or DR7 ``spSpec-*.fit`` file, optionally gzip/bzip2
        compressed (decompressed within :func:`agn_saliency.io.fits.read_limits`).

    Returns
    -------
    astropy.table.Table or None
        One row per line with SDSS's columns (``LINENAME``, ``LINEWAVE``, ``LINEZ``, ``LINESIGMA``
        km/s, ``LINEAREA`` and ``LINEAREA_ERR`` in 1e-17 erg/s/cm², ``LINEEW`` Å, …; an error of
        −1 marks a line that was not fitted), ``LINENAME`` stripped. ``None`` for DR7 spSpec files
        and any file without that HDU.

    Raises
    ------
    SpectrumReadError
        When the file cannot be opened as FITS.
    """
    import io

    from astropy.io import fits as astropy_fits
    from astropy.table import Table

    from agn_saliency.io import fits as fast_fits

    try:
        # the bytes the reduction read (decompressed once, within the configured limits)
        content = fast_fits.file_content(path)
        with astropy_fits.open(io.BytesIO(content), memmap=False) as hdus:
            if "SPZLINE" not in hdus:
                return None
            table = Table.read(hdus["SPZLINE"])
    except (OSError, ValueError, TypeError, KeyError, IndexError, EOFError) as error:
        raise SpectrumReadError(f"SPZLINE not readable ({type(error).__name__}: {error})") from error
    if "LINENAME" in table.colnames:
        table["LINENAME"] = [str(name).strip() for name in table["LINENAME"]]
    return table


def _spzline_lines(spzline: Any, z: float) -> dict[str, tuple[float, float]]:
    """The four BPT lines from SPZLINE: name → (flux, error), only those it fitted as narrow lines
    at the redshift in use (LINEZ within 1000 km/s of ``z``: a caller's catalog redshift that
    differs from the pipeline's makes SPZLINE measure other lines).

    SPZLINE ties the widths of all Balmer lines and of all forbidden lines; in a broad-line AGN
    that common width becomes thousands of km/s and the "narrow" fluxes swallow the broad lines
    (checked on the real type 1 files: σ ≈ 1200–12000 km/s). Such fits are dropped here.
    """
    if spzline is None:
        return {}
    colnames = set(spzline.colnames)
    if not {"LINENAME", "LINEAREA", "LINEAREA_ERR"} <= colnames:
        return {}
    # each name's first row: kept by the fast reader's table (gate_batch.SpzlineColumns), else found here
    positions = getattr(spzline, "line_positions", None)
    if positions is None:
        positions = {}
        for i, name in enumerate(spzline["LINENAME"]):
            positions.setdefault(str(name).strip(), i)
    n_rows = len(spzline["LINENAME"])
    sigma = spzline["LINESIGMA"] if "LINESIGMA" in colnames else np.zeros(n_rows)
    line_z = spzline["LINEZ"] if "LINEZ" in colnames else np.full(n_rows, z)
    out = {}
    for ours, theirs in _SPZLINE_NAMES.items():
        i = positions.get(theirs)
        if i is not None:
            flux, error = float(spzline["LINEAREA"][i]), float(spzline["LINEAREA_ERR"][i])
            same_z = abs(float(line_z[i]) - z) / (1.0 + z) * SPEED_OF_LIGHT_KMS <= SPZLINE_MAX_DV_KMS
            narrow = float(sigma[i]) <= SPZLINE_NARROW_SIGMA_MAX_KMS
            if math.isfinite(flux) and math.isfinite(error) and error > 0 and narrow and same_z:
                out[ours] = (flux, error)
    return out


# ------------------------------------------------------------------------------------ fitting


@dataclass
class _RegionFit:
    """Result of one region fit: fluxes, errors and rest EWs per narrow line, plus the broad line."""

    flux: dict[str, float]
    error: dict[str, float]
    ew: dict[str, float]
    broad_flux: float
    broad_error: float
    broad_fwhm: float
    broad_fwhm_error: float
    broad_ew: float
    broad_at_limit: bool  # the broad width hit its upper bound: a continuum bump, not a line


def _gaussians(wavelength: np.ndarray, centres: np.ndarray, sigma_kms: float) -> np.ndarray:
    """Unit-flux Gaussians (columns) at ``centres`` (Å) with a velocity width, sampled at pixel centres.

    ``wavelength`` must be increasing. Each Gaussian is evaluated within ±6σ only (the rest is < 1e-8
    of its peak): the exponentials are most of a fit's time.
    """
    sigma = centres * (sigma_kms / SPEED_OF_LIGHT_KMS)
    out = np.zeros((wavelength.size, centres.size))
    first = np.searchsorted(wavelength, centres - 6.0 * sigma)
    last = np.searchsorted(wavelength, centres + 6.0 * sigma)
    norm = 1.0 / (math.sqrt(2.0 * math.pi) * sigma)
    for j in range(centres.size):
        offset = (wavelength[first[j] : last[j]] - centres[j]) / sigma[j]
        out[first[j] : last[j], j] = norm[j] * np.exp(-0.5 * offset * offset)
    return out


def _fit_region(
    region: _Region, wavelength: np.ndarray, flux: np.ndarray, ivar: np.ndarray, z: float, scale_always: bool
) -> _RegionFit:
    """Fit one region (good pixels only, observed frame); see the module docstring for the model."""
    free = [name for name in region.narrow if name not in region.tied]
    rest = np.array([region.narrow[name] for name in free])
    # Tied lines add their share to the column of the line they follow.
    tied_rest = np.array([region.narrow[name] for name in region.tied])
    tied_index = np.array([free.index(leader) for leader, _ in region.tied.values()], dtype=int)
    tied_ratio = np.array([ratio for _, ratio in region.tied.values()])
    broad_rest = region.narrow[region.broad]
    weight = np.sqrt(ivar)
    centre = 0.5 * (region.window[0] + region.window[1]) * (1.0 + z)
    x = (wavelength - centre) / (centre * 0.05)
    continuum_columns = np.stack([np.ones_like(x), x, x * x], axis=1)
    n_cont = continuum_columns.shape[1]

    all_rest = np.concatenate([rest, tied_rest])
    n_free = rest.size

    def narrow_design(v_n: float, s_n: float) -> np.ndarray:
        shift = (1.0 + z) * (1.0 + v_n / SPEED_OF_LIGHT_KMS)
        profiles = _gaussians(wavelength, all_rest * shift, s_n)
        narrow = profiles[:, :n_free]
        if tied_rest.size:
            # A tied line adds its share to the column of the line it follows.
            np.add.at(narrow.T, tied_index, (profiles[:, n_free:] * tied_ratio).T)
        return np.concatenate([continuum_columns, narrow], axis=1) * weight[:, None]

    def broad_column(v_b: float, s_b: float) -> np.ndarray:
        centre_b = np.array([broad_rest * (1.0 + z) * (1.0 + v_b / SPEED_OF_LIGHT_KMS)])
        return _gaussians(wavelength, centre_b, s_b) * weight[:, None]

    target = flux * weight

    def solve(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        # Normal equations: 4x faster than an SVD for these ~500 x 10 systems; the tiny ridge keeps a
        # broad Gaussian that has become degenerate with the continuum from making them singular.
        normal = matrix.T @ matrix
        normal.flat[:: normal.shape[0] + 1] *= 1.0 + 1e-10
        amplitudes = np.linalg.solve(normal, matrix.T @ target)
        return amplitudes, target - matrix @ amplitudes

    v_lim, vb_lim = _VELOCITY_LIMIT_KMS["narrow"], _VELOCITY_LIMIT_KMS["broad"]

    # Stage 1: narrow lines only. A QSO's pipeline redshift can come from its broad lines and sit
    # up to ~1500 km/s off the narrow ones, so the velocity is first scanned on a grid; an offset
    # only replaces v = 0 when it lowers χ² by ≥ 25 (5σ), so noise in a lineless spectrum cannot
    # pull the narrow lines onto a random bump.
    def narrow_cost(v_n: float) -> float:
        residual = solve(narrow_design(v_n, 150.0))[1]
        return float(residual @ residual)

    velocities = np.arange(-v_lim, v_lim + 1.0, 150.0)
    costs = np.array([narrow_cost(v) for v in velocities])
    v_start = float(velocities[np.argmin(costs)]) if costs.min() < narrow_cost(0.0) - 25.0 else 0.0
    narrow_theta = least_squares(
        lambda t: solve(narrow_design(t[0], t[1]))[1],
        np.array([v_start, 100.0]),
        bounds=([-v_lim, _NARROW_SIGMA_KMS[0]], [v_lim, _NARROW_SIGMA_KMS[1]]),
        x_scale=np.array([50.0, 50.0]),
        max_nfev=20,
        ftol=1e-4,
        xtol=1e-4,
    ).x
    # Stage 2: the broad line on a grid with the narrow kinematics fixed: the χ² surface in the broad
    # width has local minima (narrow-line wings vs a real broad base), so a grid beats one start.
    fixed = narrow_design(*narrow_theta)
    grid = [
        (v, s) for s in np.geomspace(_BROAD_SIGMA_KMS[0], _BROAD_SIGMA_KMS[1], 12) for v in (-1500.0, -500.0, 0.0, 500.0, 1500.0)
    ]
    costs = []
    for v_b, s_b in grid:
        residual = solve(np.concatenate([fixed, broad_column(v_b, s_b)], axis=1))[1]
        costs.append(residual @ residual)
    start = np.array([*narrow_theta, *grid[int(np.argmin(costs))]])
    # Stage 3: all four kinematic parameters together, from the best grid point.
    lower = [-v_lim, _NARROW_SIGMA_KMS[0], -vb_lim, _BROAD_SIGMA_KMS[0]]
    upper = [v_lim, _NARROW_SIGMA_KMS[1], vb_lim, _BROAD_SIGMA_KMS[1]]

    def full_design(t: np.ndarray) -> np.ndarray:
        return np.concatenate([narrow_design(t[0], t[1]), broad_column(t[2], t[3])], axis=1)

    kinematics = least_squares(
        lambda t: solve(full_design(t))[1],
        np.clip(start, lower, upper),
        bounds=(lower, upper),
        x_scale=np.array([50.0, 50.0, 300.0, 300.0]),
        max_nfev=100,
        ftol=1e-4,
        xtol=1e-4,
    )
    theta = kinematics.x
    matrix = full_design(theta)
    amplitudes, residual = solve(matrix)
    dof = max(len(flux) - matrix.shape[1] - theta.size, 1)
    chi2_red = float(residual @ residual) / dof
    scale = chi2_red if scale_always else max(chi2_red, 1.0)
    try:
        covariance = np.linalg.pinv(matrix.T @ matrix) * scale
    except np.linalg.LinAlgError:
        covariance = np.full((matrix.shape[1],) * 2, np.nan)
    errors = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
    poly = amplitudes[:n_cont]

    def continuum_at(rest_wavelength: float) -> float:
        xx = (rest_wavelength * (1.0 + z) - centre) / (centre * 0.05)
        return float(poly[0] + poly[1] * xx + poly[2] * xx * xx)

    def rest_ew(line_flux: float, rest_wavelength: float) -> float:
        level = continuum_at(rest_wavelength)
        return line_flux / level / (1.0 + z) if level > 0 else float("nan")

    line_flux = {name: float(amplitudes[n_cont + i]) for i, name in enumerate(free)}
    line_error = {name: float(errors[n_cont + i]) for i, name in enumerate(free)}
    for name, (leader, ratio) in region.tied.items():
        line_flux[name], line_error[name] = line_flux[leader] * ratio, line_error[leader] * ratio
    broad_flux, broad_error = float(amplitudes[-1]), float(errors[-1])
    fwhm = math.sqrt(max((theta[3] * _FWHM_PER_SIGMA) ** 2 - INSTRUMENT_FWHM_KMS**2, 0.0))
    # The width's error from the (variable-projection) Jacobian of the kinematic fit, scaled like
    # the fluxes' covariance; propagated through the instrument's removal in quadrature.
    try:
        sigma_error = math.sqrt(max(float(np.linalg.pinv(kinematics.jac.T @ kinematics.jac)[3, 3]) * scale, 0.0))
    except (np.linalg.LinAlgError, ValueError):
        sigma_error = float("nan")
    fwhm_error = theta[3] * _FWHM_PER_SIGMA**2 / fwhm * sigma_error if fwhm > 0 else float("nan")
    return _RegionFit(
        flux=line_flux,
        error=line_error,
        ew={name: rest_ew(line_flux[name], region.narrow[name]) for name in region.narrow},
        broad_flux=broad_flux,
        broad_error=broad_error,
        broad_fwhm=fwhm,
        broad_fwhm_error=fwhm_error,
        broad_ew=rest_ew(broad_flux, broad_rest),
        broad_at_limit=bool(theta[3] >= 0.98 * _BROAD_SIGMA_KMS[1]),
    )


def _local_log_step(wavelength: np.ndarray, first: int, last: int, log_step: float) -> float:
    """The pixel step in ln λ of ``wavelength[first:last]`` (a linear grid such as DESI's has a
    step in ln λ that falls by 2.7 from 3600 to 9800 Å), else ``log_step`` (the spectrum's median)."""
    if last - first >= 3:
        local = float(np.median(np.diff(np.log(wavelength[first:last]))))
        if local > 0:
            return local
    return log_step


def _enough(
    count: int,
    span: float,
    rest_wavelength: np.ndarray,
    first: int,
    last: int,
    log_step: float,
    jitter: float,
    fraction: float = _MIN_REGION_GOOD_FRACTION,
) -> bool:
    """Whether ``count`` good pixels are ≥ ``fraction`` of the pixels a window ``span`` wide in ln λ
    holds at its local step (:func:`_local_log_step`); the local median is computed only when the
    spectrum's step varies by ``jitter`` (relative) enough to change the answer."""
    # every local median lies within log_step × (1 ± jitter)
    most = fraction * span / (log_step * (1.0 - jitter)) if jitter < 0.5 else math.inf
    least = fraction * span / (log_step * (1.0 + jitter))
    if count >= most * (1.0 + 1e-9):
        return True
    if count < least * (1.0 - 1e-9):
        return False
    return count >= fraction * span / _local_log_step(rest_wavelength, first, last, log_step)


# ------------------------------------------------------------------------------------ decision


def kewley_2001(x: Any) -> Any:
    """The maximum-starburst line of Kewley et al. 2001: log [OIII]/Hβ as a function of x = log [NII]/Hα (x < 0.47)."""
    return 0.61 / (np.asarray(x) - 0.47) + 1.19


def kauffmann_2003(x: Any) -> Any:
    """The empirical star-forming limit of Kauffmann et al. 2003: log [OIII]/Hβ as a function of x (x < 0.05)."""
    return 0.61 / (np.asarray(x) - 0.05) + 1.3


def _bpt_class(x: float, y: float) -> str:
    """BPT class of a point (x = log [NII]/Hα, y = log [OIII]/Hβ): seyfert, liner, composite, star_forming."""
    if _above_kewley(x, y):
        return "seyfert" if y > 1.05 * x + 0.45 else "liner"
    above_kauffmann = x >= 0.05 or y > kauffmann_2003(x)
    return "composite" if above_kauffmann else "star_forming"


def _above_kewley(x: float, y: float) -> bool:
    return bool(x >= 0.47 or y > kewley_2001(x))


def _log_ratio(numerator: float, denominator: float) -> float:
    return math.log10(numerator / denominator) if numerator > 0 and denominator > 0 else float("nan")


_EMPTY_RESULT: dict[str, Any] = {name: "" if unit is None else float("nan") for name, unit in GATE_COLUMNS.items()}
"""Every column empty (NaN or ""), copied by :func:`_empty_result` (a copy costs a tenth of building it)."""


def _empty_result(reason: str) -> dict[str, Any]:
    result = dict(_EMPTY_RESULT)
    result.update(agn_status="uncertain", gate_reason=reason)
    return result


def flux_scale(flux: np.ndarray, good: np.ndarray) -> tuple[str, float]:
    """``("ok" | "implausible", median |flux|)`` of a spectrum's good pixels in SDSS's flux unit
    (:data:`FLUX_SCALE_RANGE`); ``("", nan)`` without good pixels."""
    if not good.any():
        return "", float("nan")
    median = float(np.median(np.abs(flux[good])))
    return _flux_scale_of(median), median


def _flux_scale_of(median: float) -> str:
    """``"ok"`` or ``"implausible"`` for a median ``|flux|`` (:data:`FLUX_SCALE_RANGE`)."""
    low, high = FLUX_SCALE_RANGE
    return "ok" if low <= median <= high else "implausible"


def _snr(flux_error: tuple[float, float]) -> float:
    flux, error = flux_error
    return flux / error if error > 0 and math.isfinite(flux) else float("nan")


def unassessed(reason: str) -> dict[str, Any]:
    """The gate's result for a file it does not read (unreadable, a bomb, not a regular file): ``uncertain``
    with ``reason`` as ``gate_reason``, every measurement NaN (:data:`GATE_COLUMNS`)."""
    return _empty_result(reason)


def _spzline_bpt(lines: dict[str, tuple[float, float]]) -> str:
    if len(lines) < 4 or any(flux < LINE_SNR_MIN * error for flux, error in lines.values()):
        return ""
    x = _log_ratio(lines["[NII] 6585"][0], lines["Hα"][0])
    y = _log_ratio(lines["[OIII] 5008"][0], lines["Hβ"][0])
    return _bpt_class(x, y)


def _detected(flux_error: tuple[float, float] | None) -> bool:
    """Whether a (flux, error) is a positive detection at S/N ≥ LINE_SNR_MIN."""
    return flux_error is not None and flux_error[1] > 0 and flux_error[0] >= LINE_SNR_MIN * flux_error[1]


_NO_LINE = (float("nan"), float("nan"))


def _pair(
    own: dict[str, tuple[float, float]], spz: dict[str, tuple[float, float]], numerator: str, denominator: str
) -> tuple[tuple[tuple[float, float], tuple[float, float]], str]:
    """The (numerator, denominator) measurements of one line ratio and their source ("own", "spzline" or "")."""
    candidates = [(source, lines) for source, lines in (("own", own), ("spzline", spz)) if {numerator, denominator} <= set(lines)]
    for test in (
        lambda lines: _detected(lines[numerator]) and _detected(lines[denominator]),
        lambda lines: _detected(lines[numerator]),
        lambda lines: True,
    ):
        for source, lines in candidates:
            if test(lines):
                return (lines[numerator], lines[denominator]), source
    return (_NO_LINE, _NO_LINE), ""


def assess_spectrum(spectrum: SdssSpectrum, z: float, spzline: Any = None, *, fitter: Any = None) -> dict[str, Any]:
    """Decide whether one spectrum is an AGN (see the module docstring for the criteria).

    Parameters
    ----------
    spectrum
        The observed spectrum (vacuum Å, 1e-17 erg/s/cm²/Å, ivar, and_mask).
    z
        Redshift used to place the rest-frame lines.
    spzline
        The file's SPZLINE table (:func:`read_spzline`), or ``None``.
    fitter
        The region fit (default the per-spectrum ``_fit_region``;
        :func:`agn_saliency.spectra.gate_batch.fit_region` is the same model, faster).

    Returns
    -------
    dict
        One value per :data:`GATE_COLUMNS` key; ``agn_status`` ∈ {"agn", "not_agn", "uncertain"};
        NaN (numbers) or "" (text) where not measurable. Never raises for bad data: a spectrum that
        cannot be assessed is ``uncertain`` with the reason.
    """
    measured = _measure(spectrum, z)
    if isinstance(measured, dict):
        return measured
    fits: dict[str, _RegionFit] = {}
    for region in REGIONS:
        if region.name in measured.to_fit:
            try:
                fits[region.name] = (fitter or _fit_region)(region, *measured.region_data(region))
            except (ValueError, np.linalg.LinAlgError, FloatingPointError) as error:
                measured.notes[region.name] = f"{region.name} fit failed ({error})"
    return decide(measured, fits, spzline, getattr(spectrum, "survey", "sdss"))


_LINES_REST = np.array(list(EMISSION_LINES.values()))
"""Rest wavelengths of :data:`agn_saliency.core.lines.EMISSION_LINES`, in its order [Å]."""
_COVER_EDGES = np.concatenate(
    [_LINES_REST - _LINES_REST * _COVER_KMS / SPEED_OF_LIGHT_KMS, _LINES_REST + _LINES_REST * _COVER_KMS / SPEED_OF_LIGHT_KMS]
)
"""The rest-frame windows ±500 km/s around each line in which its coverage is counted: all lower edges, then all upper ones."""


@dataclass
class Measured:
    """A spectrum prepared for the gate's region fits (:func:`measure`): good pixels, covered lines,
    the regions to fit (name → pixel mask) and a note per region that is not fitted."""

    z: float
    wavelength: np.ndarray
    flux: np.ndarray
    ivar: np.ndarray
    good: np.ndarray
    scale_always: bool
    covered: list[str]
    to_fit: dict[str, np.ndarray]
    notes: dict[str, str]
    flux_median: float | None = None
    """Median ``|flux|`` of the good pixels when already known (the compiled measurement,
    ``gate_batch._measure_compiled``); :func:`decide` computes it (:func:`flux_scale`) when None."""
    spans: dict[str, tuple[int, int]] | None = None
    """Pixels [first, last) that hold every pixel of a region's mask when known: its data are then
    gathered from them only."""

    def region_data(self, region: _Region) -> tuple[np.ndarray, np.ndarray, np.ndarray, float, bool]:
        """The arguments of a region fit after ``region``: wavelength, flux, ivar of its good pixels, z, scale_always."""
        use = self.to_fit[region.name]
        if self.spans is not None and region.name in self.spans:
            first, last = self.spans[region.name]
            inside = use[first:last]
            return (
                self.wavelength[first:last][inside],
                self.flux[first:last][inside],
                self.ivar[first:last][inside],
                self.z,
                self.scale_always,
            )
        return self.wavelength[use], self.flux[use], self.ivar[use], self.z, self.scale_always


def _measure(spectrum: SdssSpectrum, z: float) -> Measured | dict[str, Any]:
    """Good pixels, covered lines and the regions to fit of one spectrum, or the gate's result when
    it cannot be assessed at all (no usable redshift, wavelengths not increasing)."""
    if z is None or not math.isfinite(float(z)) or float(z) < 0:
        return _empty_result(f"no usable redshift (z={z})")
    z = float(z)
    wavelength = np.asarray(spectrum.wavelength, dtype=np.float64)
    flux = np.asarray(spectrum.flux, dtype=np.float64)
    ivar = np.asarray(spectrum.ivar, dtype=np.float64)
    and_mask = np.asarray(spectrum.and_mask, dtype=np.int64)
    good = np.isfinite(flux) & np.isfinite(ivar) & (ivar > 0) & ((and_mask & _BAD_MASK) == 0) & np.isfinite(wavelength)
    rest_wavelength = wavelength / (1.0 + z)
    # A DR7 file without an error row carries ivar = 1 everywhere: its errors come from the residuals.
    scale_always = bool(good.any() and np.ptp(ivar[good]) == 0)

    steps = np.diff(np.log(wavelength)) if wavelength.size > 1 else np.array([float("nan")])
    log_step = float(np.median(steps))
    if not log_step > 0:
        return _empty_result("wavelengths not increasing")
    # How far any pixel step is from the median (SDSS: ~0.2 %, float32 log λ): a window's median
    # step is computed only when the count it is compared with is that close to the threshold.
    jitter = float(np.max(np.abs(steps - log_step))) / log_step
    # every line's coverage (≥ 80 % of the pixels within ±500 km/s good) at once: one search, good-pixel counts from a cumulative sum
    lines = _LINES_REST
    edges = np.searchsorted(rest_wavelength, _COVER_EDGES)
    first, last = edges[: lines.size], edges[lines.size :]
    counts = np.concatenate([[0], np.cumsum(good)])
    counts = counts[last] - counts[first]
    span = 2.0 * _COVER_KMS / SPEED_OF_LIGHT_KMS
    covered = [
        name
        for i, name in enumerate(EMISSION_LINES)
        if last[i] > first[i]
        and _enough(int(counts[i]), span, rest_wavelength, int(first[i]), int(last[i]), log_step, jitter, _MIN_LINE_GOOD_FRACTION)
    ]
    to_fit: dict[str, np.ndarray] = {}
    notes: dict[str, str] = {}
    for region in REGIONS:
        lo, hi = region.window
        use = (rest_wavelength > lo) & (rest_wavelength < hi) & good
        first, last = np.searchsorted(rest_wavelength, [lo, hi])
        enough = _enough(int(use.sum()), math.log(hi / lo), rest_wavelength, int(first), int(last), log_step, jitter)
        if not all(line in covered for line in region.required) or not enough:
            notes[region.name] = f"{region.name} region not covered"
        else:
            to_fit[region.name] = use
    return Measured(z, wavelength, flux, ivar, good, scale_always, covered, to_fit, notes)


def decide(measured: Measured, fits: dict[str, _RegionFit], spzline: Any, survey: str = "sdss") -> dict[str, Any]:
    """The gate's result from a spectrum's measurement (:func:`_measure`) and region fits (name → fit)."""
    z, flux, good, covered = measured.z, measured.flux, measured.good, measured.covered
    notes = [measured.notes[region.name] for region in REGIONS if region.name in measured.notes]
    result = _empty_result("")
    result["lines_covered"] = ",".join(covered)
    if measured.flux_median is None:
        result["flux_scale"], result["median_flux"] = flux_scale(flux, good)
    else:
        result["flux_scale"], result["median_flux"] = _flux_scale_of(measured.flux_median), measured.flux_median
    own: dict[str, tuple[float, float]] = {}
    for fit in fits.values():
        for name in ("Hβ", "[OIII] 5008", "Hα", "[NII] 6585"):
            if name in fit.flux and math.isfinite(fit.flux[name]):
                own[name] = (fit.flux[name], fit.error[name])
    columns = {"Hβ": "hbeta", "[OIII] 5008": "oiii_5008", "Hα": "halpha", "[NII] 6585": "nii_6585"}
    for name, key in columns.items():
        for fit in fits.values():
            if name in fit.flux:
                result[f"{key}_flux"], result[f"{key}_ew"] = fit.flux[name], fit.ew[name]
                result[f"{key}_flux_err"] = fit.error[name]
                # EW = flux / continuum / (1 + z): the flux's relative error (the continuum, fitted
                # on hundreds of pixels, is known far better than one line's flux)
                result[f"{key}_ew_err"] = abs(fit.ew[name] * fit.error[name] / fit.flux[name]) if fit.flux[name] else float("nan")

    spz = _spzline_lines(spzline, z)
    result["spzline_bpt_class"] = _spzline_bpt(spz)
    for name, key in (("[OIII] 5008", "spzline_oiii_log_ratio"), ("Hα", "spzline_halpha_log_ratio")):
        if name in own and name in spz:
            result[key] = _log_ratio(own[name][0], spz[name][0])

    # Each ratio comes from ONE measurement (adjacent lines of one fit share continuum systematics):
    # ours when it detects both lines, else SPZLINE's when it detects both, else whichever detects
    # the numerator (a limit), else ours as measured.
    x_pair, x_source = _pair(own, spz, "[NII] 6585", "Hα")
    y_pair, y_source = _pair(own, spz, "[OIII] 5008", "Hβ")
    sources = {source for source in (x_source, y_source) if source}
    result["gate_source"] = "+".join(sorted(sources)) if sources else ("own" if fits else "")
    if survey == "desi" and result["gate_source"]:
        result["gate_source"] = "own (DESI: no SPZLINE)"  # DESI files carry no line measurements to cross-check
    nii, halpha = x_pair
    oiii, hbeta = y_pair
    for key, measured in (("nii_6585", nii), ("halpha", halpha), ("oiii_5008", oiii), ("hbeta", hbeta)):
        result[f"{key}_snr"] = _snr(measured)
    det = {"nii": _detected(nii), "halpha": _detected(halpha), "oiii": _detected(oiii), "hbeta": _detected(hbeta)}
    x = _log_ratio(nii[0], halpha[0]) if det["nii"] and det["halpha"] else float("nan")
    y = _log_ratio(oiii[0], hbeta[0]) if det["oiii"] and det["hbeta"] else float("nan")
    result["log_nii_halpha"], result["log_oiii_hbeta"] = x, y
    if math.isfinite(x) and math.isfinite(y):
        result["bpt_class"] = _bpt_class(x, y)

    # 1. Broad Balmer line: Hα decides when fitted, else Hβ.
    broad_name = "Hα" if "Hα" in fits else "Hβ"
    broad_fit = fits.get(broad_name)
    if broad_fit is not None:
        result["broad_snr"] = _snr((broad_fit.broad_flux, broad_fit.broad_error))
    broad = (
        broad_fit is not None
        and broad_fit.broad_error > 0
        and broad_fit.broad_flux >= BROAD_SNR_MIN * broad_fit.broad_error
        and broad_fit.broad_fwhm >= BROAD_FWHM_MIN_KMS
        and not broad_fit.broad_at_limit
        and broad_fit.broad_ew >= BROAD_EW_MIN
    )
    suffix = f" ({'; '.join(notes)})" if notes else ""
    via = " with SPZLINE fluxes" if "spzline" in sources else ""

    def finish(status: str, reason: str) -> dict[str, Any]:
        result.update(agn_status=status, gate_reason=reason + suffix)
        return result

    if not fits and not sources:
        return finish("uncertain", "neither the Hβ–[OIII] nor the Hα–[NII] region is measurable")
    if broad:
        result.update(
            broad_fwhm=broad_fit.broad_fwhm,
            broad_fwhm_err=broad_fit.broad_fwhm_error,
            broad_flux=broad_fit.broad_flux,
            broad_flux_err=broad_fit.broad_error,
            broad_line=broad_name,
        )
        bpt = f"; BPT {result['bpt_class']}" if result["bpt_class"] else ""
        return finish(
            "agn",
            f"broad {broad_name}: FWHM {broad_fit.broad_fwhm:.0f} km/s ≥ {BROAD_FWHM_MIN_KMS:.0f}, "
            f"S/N {broad_fit.broad_flux / broad_fit.broad_error:.0f}, EW {broad_fit.broad_ew:.0f} Å{bpt}",
        )

    # 2. Weak lines (WHAN passive/retired).
    ew_oiii, ew_ha, ew_hb = result["oiii_5008_ew"], result["halpha_ew"], result["hbeta_ew"]
    if "Hα" in fits and ew_ha < WEAK_EW_MAX and ("Hβ" not in fits or ew_oiii < WEAK_EW_MAX):
        oiii_text = f"EW([OIII]) {ew_oiii:.1f} Å" if "Hβ" in fits else "[OIII] not covered"
        return finish("not_agn", f"weak lines (passive/retired): EW(Hα) {ew_ha:.1f} Å < {WEAK_EW_MAX:g} Å, {oiii_text}")
    if "Hα" not in fits and "Hβ" in fits and ew_oiii < WEAK_EW_MAX and ew_hb < WEAK_HBETA_EW_MAX:
        return finish(
            "not_agn",
            f"weak lines without Hα coverage: EW([OIII]) {ew_oiii:.1f} Å < {WEAK_EW_MAX:g} Å, "
            f"EW(Hβ) {ew_hb:.1f} Å < {WEAK_HBETA_EW_MAX:g} Å",
        )

    # 3. BPT.
    if result["bpt_class"]:
        where = f"log [OIII]/Hβ {y:.2f}, log [NII]/Hα {x:.2f}{via}"
        if result["bpt_class"] in ("seyfert", "liner"):
            return finish("agn", f"BPT {result['bpt_class']}: above the Kewley 2001 line ({where})")
        if result["bpt_class"] == "composite":
            return finish("uncertain", f"BPT composite: between the Kauffmann 2003 and Kewley 2001 lines ({where})")
        return finish("not_agn", f"BPT star-forming: below the Kauffmann 2003 line ({where})")

    # A detected numerator over an undetected denominator gives a lower limit (3σ) on that ratio.
    # The region above the Kewley line is closed towards larger x and y (the line falls with x), so
    # a point of limits above it is an AGN. Trusted only for clearly line-emitting spectra
    # (EW([OIII]) ≥ 3 Å or EW(Hα) ≥ 6 Å, WHAN strong AGN): fainter emission with a limit is as
    # often a retired galaxy whose Hβ hides in stellar absorption.
    def lower_limit(numerator: tuple[float, float], denominator: tuple[float, float]) -> float:
        if _detected(numerator) and denominator[1] > 0:
            return _log_ratio(numerator[0], LINE_SNR_MIN * denominator[1])
        return float("nan")

    x_low = x if math.isfinite(x) else lower_limit(nii, halpha)
    y_low = y if math.isfinite(y) else lower_limit(oiii, hbeta)
    strong = ew_oiii >= WEAK_EW_MAX or ew_ha >= WHAN_STRONG_EW_MIN
    if math.isfinite(x_low) and math.isfinite(y_low) and _above_kewley(x_low, y_low) and strong:
        result["bpt_class"] = _bpt_class(x_low, y_low)
        x_text = f"{'' if math.isfinite(x) else '> '}{x_low:.2f}"
        y_text = f"{'' if math.isfinite(y) else '> '}{y_low:.2f}"
        return finish(
            "agn",
            f"BPT limits above the Kewley 2001 line (log [OIII]/Hβ {y_text}, log [NII]/Hα {x_text}; limits use 3σ){via}",
        )

    # 4. Partial diagnostics.
    if math.isfinite(x):
        if x < WHAN_SF_LOG_NII_HALPHA:
            return finish(
                "not_agn", f"star-forming by [NII]/Hα alone (log {x:.2f} < {WHAN_SF_LOG_NII_HALPHA}; Hβ/[OIII] not usable{via})"
            )
        return finish("uncertain", f"log [NII]/Hα {x:.2f} ≥ {WHAN_SF_LOG_NII_HALPHA} but Hβ/[OIII] not usable for the BPT{via}")
    if "Hα" not in fits:
        y_agn = y if math.isfinite(y) else y_low
        if math.isfinite(y_agn) and y_agn > OIII_HBETA_AGN_ALONE:
            relation = "" if math.isfinite(y) else ">"
            return finish(
                "agn",
                f"log [OIII]/Hβ {relation}{y_agn:.2f} > {OIII_HBETA_AGN_ALONE} without Hα coverage: above any star-forming galaxy{via}",
            )
        if math.isfinite(y):
            return finish("uncertain", f"log [OIII]/Hβ {y:.2f} alone (no Hα coverage) does not separate AGN from star formation")
    return finish("uncertain", "emission lines too weak or too noisy for a diagnostic")


def assess_file(path: str | os.PathLike[str], z: float | None = None) -> dict[str, Any]:
    """Read one SDSS spectrum file (and its SPZLINE) and assess it with :func:`assess_spectrum`.

    Parameters
    ----------
    path
        DR8+ ``spec-*.fits`` or DR7 ``spSpec-*.fit`` (optionally .gz/.bz2).
    z
        Redshift; ``None`` or NaN uses the file's pipeline redshift.

    Returns
    -------
    dict
        As :func:`assess_spectrum`. A file that cannot be read gives ``uncertain`` with the read
        error as ``gate_reason`` instead of raising, so a batch over many files never stops on one.
    """
    try:
        spectrum = read_spectrum(path)
    except SpectrumReadError as error:
        return _empty_result(unreadable_reason(error))
    try:
        spzline = read_spzline(path)
    except SpectrumReadError:
        spzline = None  # the spectrum itself was readable; the cross-check is only optional
    if z is None or not math.isfinite(float(z)):
        z = spectrum.z
    return assess_spectrum(spectrum, z, spzline)


def not_agn_reason(spectrum: SdssSpectrum, z: float, path: str | os.PathLike[str]) -> str | None:
    """The rejection reason of a spectrum the gate calls ``not_agn`` (None: keep it; ``uncertain`` is kept).

    The ``gate`` of :func:`agn_saliency.spectra.reduce.reduce_inventory` when ``reduce.agn_gate`` is set.
    """
    try:
        spzline = read_spzline(path)
    except SpectrumReadError:
        spzline = None
    verdict = assess_spectrum(spectrum, z, spzline)
    return f"AGN gate: not_agn ({verdict['gate_reason']})" if verdict["agn_status"] == "not_agn" else None
