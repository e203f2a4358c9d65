"""The embedded sample observed by DESI: the same physical spectra as the SDSS spec-lite files,
written as DESI healpix coadd + redrock files.

*Same photons.* :func:`~agn_saliency.acquire.simulate.simulate_spectrum` records the scene of a
spectrum (every drawn parameter, every emission line, the sky, the brightness and the SDSS noise
realisation) without drawing anything more; :func:`render_desi` observes that scene again on the
three DESI arms. The noiseless model is rebuilt on each arm's linear 0.8 Å pixels with the DESI
line-spread function; the noise is not drawn afresh: both instruments' pixels are cut into the
cells of their common refinement (every SDSS and every DESI pixel edge), each cell gets Gaussian
noise with the SDSS variance per Å, *conditioned* on the SDSS pixel's own noise (and sky-
subtraction residual) — so integrating the cells over an SDSS pixel gives back exactly the noise
of the SDSS file, and integrating them over a DESI pixel gives that pixel's share of the same
photons. Across the dichroic overlaps (5760–5800 and 7520–7620 Å) the photons are split between
the two arms (the blue arm's share falls linearly), so the inverse-variance mean of the two arms
is the lattice value again. Beyond the SDSS range (3600–3800, 9200–9824 Å) the cells are drawn
from the same noise model. Cosmic-ray hits are the DESI detector's own (a separate stream).

Reproducibility: a spectrum depends on ``(seed, plate, mjd, fiberid, label, z, params)`` only
(the SDSS generator :func:`~agn_saliency.acquire.simulate.files.spectrum_rng` and a second one,
:func:`desi_rng`); a file on the catalog rows it holds, chosen by :func:`healpix_of` from each
row's identity — never on the shard that writes it.

Data model: copied from genuine DESI files (fuji sv3/dark healpix 26065 coadd, iron redrock):
HDU names and order, column names and formats, BUNIT strings, primary keys SPGRP, SPGRPVAL,
HPXPIXEL, HPXNSIDE, HPXNEST, SURVEY, PROGRAM; resolution σ per arm from the second moment of
the iron coadd's RESOLUTION rows. Each file's primary header says it is synthetic (``SIMULATE``),
and every TARGETID has the desitarget MOCK bit (58) set. ``HPXPIXEL`` labels the file; the
targets' positions are not placed in that HEALPix pixel.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from astropy.io import fits
from scipy.special import erf

from agn_saliency.acquire.simulate.blocks import _pixel_profiles, dust_attenuation
from agn_saliency.acquire.simulate.catalog import _snr_for
from agn_saliency.acquire.simulate.constants import _SKY_CONTINUUM, FIRST_PLATE, LOGLAM_STEP, PIXEL_KMS, SKY_LINE_WAVELENGTHS
from agn_saliency.acquire.simulate.files import spectrum_rng
from agn_saliency.acquire.simulate.host import _host_spectrum
from agn_saliency.acquire.simulate.parameters import SimulationParameters
from agn_saliency.acquire.simulate.spectrum import _throughput, balmer_continuum_on, simulate_spectrum
from agn_saliency.acquire.simulate.truth import TRUTH_COLUMNS
from agn_saliency.core.files import atomic_output
from agn_saliency.core.lines import SPEED_OF_LIGHT_KMS
from agn_saliency.core.logs import progress

DESI_STEP = 0.8
"""DESI coadd pixel size (Å, linear, vacuum)."""
DESI_START = 3600.0
"""First pixel of the common lattice every arm sits on (Å)."""
DESI_ARMS = {"B": (3600.0, 5800.0), "R": (5760.0, 7620.0), "Z": (7520.0, 9824.0)}
"""First and last pixel of each arm (Å); the arms overlap."""
DESI_LSF_SIGMA_PIXELS = {"B": (0.885, 0.885), "R": (0.79, 0.81), "Z": (0.88, 0.95)}
"""Line-spread σ (pixels) at each arm's first and last pixel (linear between), measured as the
second moment of the RESOLUTION rows of a DESI DR1 (iron) coadd (pixel integration included)."""
RESOLUTION_DIAGONALS = 11
"""Diagonals of the RESOLUTION matrices (offsets +5 … −5)."""
SURVEY, PROGRAM = "sv3", "dark"
"""Survey and program of the simulated healpix files (their data model is that of sv3/dark)."""
HPX_NSIDE = 64
HPX_FIRST = 26000
"""HPXPIXEL of the first simulated file."""
PLATES_PER_HEALPIX = 8
"""Simulated SDSS plates whose spectra share one healpix file (≈ 10 targets per file by default)."""
RELEASE = 9010
"""Legacy Surveys release written into TARGETID (DR9 south)."""
MOCK_BIT = 1 << 58
"""desitarget's MOCK bit of TARGETID: set on every simulated target."""
MASK_COSMIC = 1 << 2
"""desispec SPECMASK bit COSMIC."""
FLUX_BUNIT = "10**-17 erg/(s cm2 Angstrom)"
IVAR_BUNIT = "10**+34 (s2 cm4 Angstrom2) / erg2"

_FWHM_TO_SIGMA = 1.0 / (2.0 * math.sqrt(2.0 * math.log(2.0)))
_N_LATTICE = int(round((DESI_ARMS["Z"][1] - DESI_START) / DESI_STEP)) + 1

# Column names and FITS formats, in the order of genuine DESI files.
_FIBERMAP = (
    "TARGETID:K COADD_FIBERSTATUS:J TARGET_RA:D TARGET_DEC:D PMRA:E PMDEC:E REF_EPOCH:E FA_TARGET:K FA_TYPE:B "
    "OBJTYPE:3A SUBPRIORITY:D OBSCONDITIONS:J RELEASE:I BRICKNAME:8A BRICKID:J BRICK_OBJID:J MORPHTYPE:4A EBV:E "
    "FLUX_G:E FLUX_R:E FLUX_Z:E FLUX_W1:E FLUX_W2:E FLUX_IVAR_G:E FLUX_IVAR_R:E FLUX_IVAR_Z:E FLUX_IVAR_W1:E "
    "FLUX_IVAR_W2:E FIBERFLUX_G:E FIBERFLUX_R:E FIBERFLUX_Z:E FIBERTOTFLUX_G:E FIBERTOTFLUX_R:E FIBERTOTFLUX_Z:E "
    "MASKBITS:I SERSIC:E SHAPE_R:E SHAPE_E1:E SHAPE_E2:E REF_ID:K REF_CAT:2A GAIA_PHOT_G_MEAN_MAG:E "
    "GAIA_PHOT_BP_MEAN_MAG:E GAIA_PHOT_RP_MEAN_MAG:E PARALLAX:E PHOTSYS:1A PRIORITY_INIT:K NUMOBS_INIT:K "
    "SV3_DESI_TARGET:K SV3_BGS_TARGET:K SV3_MWS_TARGET:K SV3_SCND_TARGET:K DESI_TARGET:K BGS_TARGET:K MWS_TARGET:K "
    "PLATE_RA:D PLATE_DEC:D COADD_NUMEXP:I COADD_EXPTIME:E COADD_NUMNIGHT:I COADD_NUMTILE:I MEAN_DELTA_X:E "
    "RMS_DELTA_X:E MEAN_DELTA_Y:E RMS_DELTA_Y:E MEAN_FIBER_RA:D STD_FIBER_RA:E MEAN_FIBER_DEC:D STD_FIBER_DEC:E "
    "MEAN_PSF_TO_FIBER_SPECFLUX:E"
)
_EXP_FIBERMAP = (
    "TARGETID:K PRIORITY:J SUBPRIORITY:D NIGHT:J EXPID:J MJD:D TILEID:J EXPTIME:D PETAL_LOC:I DEVICE_LOC:J "
    "LOCATION:K FIBER:J FIBERSTATUS:J FIBERASSIGN_X:E FIBERASSIGN_Y:E LAMBDA_REF:E PLATE_RA:D PLATE_DEC:D "
    "NUM_ITER:K FIBER_X:D FIBER_Y:D DELTA_X:D DELTA_Y:D FIBER_RA:D FIBER_DEC:D PSF_TO_FIBER_SPECFLUX:D"
)
_TSNR2_NAMES = [
    f"TSNR2_{kind}{arm}"
    for arm in ("_B", "_R", "_Z", "")
    for kind in ("GPBDARK", "ELG", "GPBBRIGHT", "LYA", "BGS", "GPBBACKUP", "QSO", "LRG")
]
_SCORES = "TARGETID:K " + " ".join(
    f"INTEG_COADD_FLUX_{arm}:E MEDIAN_COADD_FLUX_{arm}:E MEDIAN_COADD_SNR_{arm}:E" for arm in "BRZ"
)
_SCORES += " " + " ".join(f"{name}:E" for name in _TSNR2_NAMES)
_TSNR2 = "TARGETID:K " + " ".join(f"{name}:E" for name in _TSNR2_NAMES)
_REDSHIFTS = "TARGETID:K Z:D ZERR:D ZWARN:K CHI2:D COEFF:10D NPIXELS:K SPECTYPE:6A SUBTYPE:20A NCOEFF:K DELTACHI2:D"

_SPECTYPE = {"type1": "QSO", "type2": "GALAXY", "intermediate": "GALAXY"}
"""Redrock SPECTYPE written for each label."""
_SV3_TARGET = {"type1": 4, "type2": 1, "intermediate": 4}
"""SV3_DESI_TARGET bits (QSO = 4, LRG = 1) written for each label."""


def desi_rng(seed: int, plate: int, mjd: int, fiberid: int) -> np.random.Generator:
    """The DESI-only draws of one spectrum (cell noise, arm split, cosmic rays): a function of
    ``(seed, plate, mjd, fiberid)`` only, independent of :func:`spectrum_rng`'s stream."""
    return np.random.default_rng([int(seed), int(plate), int(mjd), int(fiberid), 2])


def targetid(plate: int, mjd: int, fiberid: int) -> int:
    """The TARGETID of a simulated spectrum: desitarget's bit layout (OBJID bits 0–21 = fiber,
    BRICKID 22–41 = plate, RELEASE 42–57) with the MOCK bit (58) set. ``mjd`` is implied by the plate."""
    del mjd  # one MJD per simulated plate
    return MOCK_BIT | (RELEASE << 42) | (int(plate) << 22) | int(fiberid)


def healpix_of(plate: int) -> int:
    """The healpix file a simulated spectrum is written to (a function of its plate only)."""
    return HPX_FIRST + (int(plate) - FIRST_PLATE) // PLATES_PER_HEALPIX


def coadd_relpath(healpix: int, kind: str = "coadd") -> str:
    """``healpix/<survey>/<program>/<healpix//100>/<healpix>/<kind>-<survey>-<program>-<healpix>.fits``."""
    return f"healpix/{SURVEY}/{PROGRAM}/{healpix // 100}/{healpix}/{kind}-{SURVEY}-{PROGRAM}-{healpix}.fits"


def arm_wavelength(arm: str) -> np.ndarray:
    """The pixel centres of one arm (Å), on the lattice shared by all three."""
    first, last = DESI_ARMS[arm]
    start = int(round((first - DESI_START) / DESI_STEP))
    stop = int(round((last - DESI_START) / DESI_STEP)) + 1
    return DESI_START + DESI_STEP * np.arange(start, stop)


def _arm_slice(arm: str) -> slice:
    first, last = DESI_ARMS[arm]
    return slice(int(round((first - DESI_START) / DESI_STEP)), int(round((last - DESI_START) / DESI_STEP)) + 1)


def _lsf_sigma_pixels(arm: str, wavelength: np.ndarray) -> np.ndarray:
    """σ (pixels) of the Gaussian whose pixel-integrated profile has the measured second moment."""
    (first, last), (low, high) = DESI_ARMS[arm], DESI_LSF_SIGMA_PIXELS[arm]
    moment = low + (high - low) * (wavelength - first) / (last - first)
    return np.sqrt(moment**2 - 1.0 / 12.0)


def resolution_matrix(arm: str) -> np.ndarray:
    """The RESOLUTION rows of one arm (11 × npix, float32): the pixel-integrated Gaussian LSF of
    :data:`DESI_LSF_SIGMA_PIXELS` at offsets +5 … −5, each column summing to 1."""
    sigma = _lsf_sigma_pixels(arm, arm_wavelength(arm))
    offsets = (RESOLUTION_DIAGONALS // 2 - np.arange(RESOLUTION_DIAGONALS))[:, None].astype(float)
    scaled = math.sqrt(2.0) * sigma[None, :]
    profile = 0.5 * (erf((offsets + 0.5) / scaled) - erf((offsets - 0.5) / scaled))
    return (profile / profile.sum(axis=0)).astype(np.float32)


def _add_lines_linear(
    out: np.ndarray, wavelength: np.ndarray, sigma_pixels: np.ndarray, observed: np.ndarray, fluxes: np.ndarray, fwhm_kms: float
) -> None:
    """Add pixel-integrated Gaussian lines to a flux density on a linear grid (in place): σ is the
    intrinsic width (FWHM) and the instrumental σ (pixels) in quadrature."""
    keep = fluxes != 0
    if not np.any(keep):
        return
    observed, fluxes = observed[keep], fluxes[keep]
    npix = out.size
    positions = (observed - wavelength[0]) / DESI_STEP
    intrinsic = fwhm_kms * _FWHM_TO_SIGMA / SPEED_OF_LIGHT_KMS * observed / DESI_STEP
    visible = (positions > -60 - 6 * intrinsic) & (positions < npix + 60 + 6 * intrinsic)
    if not np.any(visible):
        return
    positions, fluxes, intrinsic = positions[visible], fluxes[visible], intrinsic[visible]
    instrumental = sigma_pixels[np.clip(np.round(positions).astype(np.int64), 0, npix - 1)]
    pixels, weights = _pixel_profiles(positions, np.hypot(intrinsic, instrumental), npix)
    out += np.bincount(pixels.ravel(), weights=(weights * fluxes[:, None]).ravel(), minlength=npix) / DESI_STEP


def _arm_model(scene: Mapping[str, Any], arm: str) -> tuple[np.ndarray, np.ndarray]:
    """The noiseless object spectrum and the sky on one arm's pixels (1e-17 erg/s/cm²/Å)."""
    wavelength = arm_wavelength(arm)
    z = float(scene["z"])
    rest = wavelength / (1.0 + z)
    sigma_pixels = _lsf_sigma_pixels(arm, wavelength)
    # The host templates are broadened in units of SDSS pixels (1e-4 dex): the same σ in those units.
    wdisp_equivalent = sigma_pixels * DESI_STEP / wavelength * SPEED_OF_LIGHT_KMS / PIXEL_KMS
    host = scene["host_fraction"] * _host_spectrum(np.log10(rest), wdisp_equivalent, scene["young_fraction"], scene["sigma_star"])
    host = host * dust_attenuation(rest, scene["host_ebv"])
    power_law = (1.0 - scene["host_fraction"]) * (rest / 5100.0) ** scene["alpha"] * dust_attenuation(rest, scene["agn_ebv"])
    shape = host + power_law + balmer_continuum_on(rest, scene["balmer_amplitude"], scene["balmer_sigma_edge"])
    for observed, fluxes, fwhm in scene["emission"]:
        _add_lines_linear(shape, wavelength, sigma_pixels, observed, fluxes, fwhm)
    sky = scene["sky_level"] * np.interp(wavelength, _SKY_CONTINUUM[:, 0], _SKY_CONTINUUM[:, 1])
    _add_lines_linear(sky, wavelength, sigma_pixels, SKY_LINE_WAVELENGTHS, scene["sky_line_fluxes"], 0.0)
    return scene["level"] * shape, sky


def _lattice_noise(
    scene: Mapping[str, Any], outside_variance: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The noise of every lattice pixel, from one realisation shared with the SDSS pixels.

    Returns ``(noise, total_variance, photon_variance)`` per lattice pixel. ``outside_variance``
    is the photon variance density (per Å) per lattice pixel for cells the SDSS pixels do not cover.
    """
    loglam = np.asarray(scene["loglam"], dtype=float)
    sdss_edges = 10.0 ** np.concatenate([loglam - LOGLAM_STEP / 2, [loglam[-1] + LOGLAM_STEP / 2]])
    sdss_width = np.diff(sdss_edges)
    sigma = np.asarray(scene["sigma"], dtype=float)
    photon_density = sigma**2 * sdss_width
    total_density = (sigma**2 + np.asarray(scene["residual_sigma"], dtype=float) ** 2) * sdss_width
    measured = np.asarray(scene["noise"], dtype=float) + np.asarray(scene["residual"], dtype=float)

    lattice_edges = DESI_START - DESI_STEP / 2 + DESI_STEP * np.arange(_N_LATTICE + 1)
    inner = sdss_edges[(sdss_edges > lattice_edges[0]) & (sdss_edges < lattice_edges[-1])]
    edges = np.unique(np.concatenate([lattice_edges, inner]))
    width = np.diff(edges)
    middle = 0.5 * (edges[1:] + edges[:-1])
    sdss_pixel = np.searchsorted(sdss_edges, middle, side="right") - 1
    inside = (sdss_pixel >= 0) & (sdss_pixel < loglam.size)
    sdss_pixel = np.clip(sdss_pixel, 0, loglam.size - 1)
    lattice_pixel = np.clip(np.searchsorted(lattice_edges, middle, side="right") - 1, 0, _N_LATTICE - 1)
    total = np.where(inside, total_density[sdss_pixel], outside_variance[lattice_pixel])
    photon = np.where(inside, photon_density[sdss_pixel], outside_variance[lattice_pixel])

    cells = rng.standard_normal(width.size) * np.sqrt(total / width)
    # Condition on each SDSS pixel's measured noise: the cells' width-weighted mean over the pixel
    # equals it exactly, their joint distribution stays that of independent cells.
    share = np.where(inside, width / sdss_width[sdss_pixel], 0.0)
    mean = np.bincount(sdss_pixel, weights=share * cells, minlength=loglam.size)
    cells = cells + np.where(inside, (measured - mean)[sdss_pixel], 0.0)

    noise = np.bincount(lattice_pixel, weights=width * cells, minlength=_N_LATTICE) / DESI_STEP
    total_variance = np.bincount(lattice_pixel, weights=width * total, minlength=_N_LATTICE) / DESI_STEP**2
    photon_variance = np.bincount(lattice_pixel, weights=width * photon, minlength=_N_LATTICE) / DESI_STEP**2
    return noise, total_variance, photon_variance


def _pair_share(arm: str, wavelength: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where an arm overlaps a neighbour: the bluer arm's share ``f`` of the photons (the dichroic
    splits them, ``f`` falling linearly from 1 to 0 across the overlap) and whether this arm is
    the redder of the pair. Outside the overlaps ``f`` = 1 and the arm is the bluer one."""
    share = np.ones(wavelength.size)
    redder = np.zeros(wavelength.size, bool)
    order = list(DESI_ARMS)
    for blue, red in zip(order[:-1], order[1:]):
        if arm not in (blue, red):
            continue
        low, high = DESI_ARMS[red][0], DESI_ARMS[blue][1]
        inside = (wavelength >= low - 1e-6) & (wavelength <= high + 1e-6)
        share[inside] = np.clip((high - wavelength[inside]) / (high - low), 0.02, 0.98)
        redder[inside] = arm == red
    return share, redder


def render_desi(
    scene: Mapping[str, Any], rng: np.random.Generator, params: SimulationParameters
) -> dict[str, dict[str, np.ndarray]]:
    """Observe a recorded scene with DESI: flux, ivar, mask and model on the B, R and Z arms.

    Parameters
    ----------
    scene
        Filled by :func:`~agn_saliency.acquire.simulate.simulate_spectrum` (``scene=``).
    rng
        :func:`desi_rng` of the spectrum.
    params
        Physical parameters (``masked_pixel_fraction`` sets the cosmic-ray hits).

    Returns
    -------
    dict
        Per arm ``"B"``, ``"R"``, ``"Z"``: ``wavelength`` (Å), ``flux`` and ``model``
        (1e-17 erg/s/cm²/Å), ``ivar`` (0 where masked), ``mask`` (int32, COSMIC bit).
    """
    arms = {arm: _arm_model(scene, arm) for arm in DESI_ARMS}
    lattice = DESI_START + DESI_STEP * np.arange(_N_LATTICE)
    lattice_model = np.zeros(_N_LATTICE)
    lattice_sky = np.zeros(_N_LATTICE)
    for arm, (model, sky) in arms.items():  # beyond the SDSS range only B and Z matter
        lattice_model[_arm_slice(arm)] = model
        lattice_sky[_arm_slice(arm)] = sky
    outside = (
        scene["noise_scale"] ** 2
        * (np.maximum(lattice_model, 0.0) + lattice_sky)
        / _throughput(lattice)
        * lattice
        * math.log(10.0)
        * LOGLAM_STEP
    )
    noise, total_variance, photon_variance = _lattice_noise(scene, outside, rng)
    split = rng.standard_normal(_N_LATTICE)  # the dichroic's split of the photons in the overlaps
    rendered: dict[str, dict[str, np.ndarray]] = {}
    for arm, (model, _sky) in arms.items():
        piece = _arm_slice(arm)
        wavelength = arm_wavelength(arm)
        pair_share, redder = _pair_share(arm, wavelength)
        share = np.where(redder, 1.0 - pair_share, pair_share)  # this arm's share of the photons
        # Bluer arm N + δ, redder arm N − f δ / (1 − f), var δ = var N (1 − f) / f (f: the bluer
        # arm's share): each arm's variance is var N / its share, their inverse-variance mean is N.
        delta = split[piece] * np.sqrt(total_variance[piece] * (1.0 - pair_share) / pair_share)
        red_factor = np.where(redder, pair_share, 0.0) / (1.0 - np.where(redder, pair_share, 0.0))
        arm_noise = noise[piece] + np.where(redder, -red_factor * delta, delta)
        flux = model + arm_noise
        ivar = share / photon_variance[piece]
        mask = np.zeros(wavelength.size, np.int32)
        n_hits = rng.binomial(wavelength.size, params.masked_pixel_fraction)
        if n_hits:
            hit = rng.choice(wavelength.size, size=n_hits, replace=False)
            flux[hit] += np.sqrt(1.0 / ivar[hit]) * rng.uniform(5.0, 50.0, n_hits)
            ivar[hit] = 0.0
            mask[hit] |= MASK_COSMIC
        rendered[arm] = {"wavelength": wavelength, "flux": flux, "ivar": ivar, "mask": mask, "model": model}
    return rendered


_FORMAT_DTYPE = {"K": ">i8", "J": ">i4", "I": ">i2", "B": "u1", "E": ">f4", "D": ">f8"}


def _table(spec: str, rows: int, values: Mapping[str, Any], name: str) -> fits.BinTableHDU:
    """A binary table with the columns of ``spec`` (``NAME:FORMAT`` …), zeros unless given (built
    from one structured array: astropy makes the FITS formats from its dtype)."""
    fields = []
    for item in spec.split():
        column, form = item.split(":")
        count, code = (int(form[:-1]) if form[:-1] else 1), form[-1]
        if code == "A":
            fields.append((column, f"S{count}"))
        elif count > 1:
            fields.append((column, _FORMAT_DTYPE[code], (count,)))
        else:
            fields.append((column, _FORMAT_DTYPE[code]))
    data = np.zeros(rows, dtype=fields)
    for column, array in values.items():
        data[column] = np.char.encode(array, "ascii") if np.asarray(array).dtype.kind == "U" else array
    return fits.BinTableHDU(data=data, name=name)


def _primary(healpix: int, seed: int, kind: str) -> fits.PrimaryHDU:
    header = fits.Header()
    header["SPGRP"] = "healpix"
    header["SPGRPVAL"] = healpix
    header["HPXPIXEL"] = healpix
    header["HPXNSIDE"] = HPX_NSIDE
    header["HPXNEST"] = "True"
    header["SURVEY"] = SURVEY
    header["PROGRAM"] = PROGRAM
    header["SIMULATE"] = (True, "synthetic spectra, not DESI data")
    header["SIMSEED"] = (int(seed), "agn_saliency simulation seed")
    header["SIMKIND"] = (kind, "DESI file type imitated")
    header["COMMENT"] = "Simulated spectra in the DESI data model; TARGETIDs have the MOCK bit (58) set."
    return fits.PrimaryHDU(header=header)


def _photometry(flux: np.ndarray, wavelength: np.ndarray, band: tuple[float, float]) -> float:
    """Mean flux density in a band as nanomaggies (AB): f_ν / 3.631e-6 Jy."""
    inside = (wavelength > band[0]) & (wavelength < band[1])
    centre = 0.5 * (band[0] + band[1])
    f_nu = float(np.mean(flux[inside])) * 1e-17 * centre**2 / 2.99792458e18  # erg/s/cm²/Hz
    return f_nu / 3.631e-29


def healpix_file_bytes(
    rows: Iterable[Mapping[str, Any] | np.void], healpix: int, seed: int, params: SimulationParameters
) -> tuple[bytes, bytes, list[dict[str, Any]]]:
    """The coadd and redrock files of one healpix holding the given catalog rows.

    Parameters
    ----------
    rows
        Catalog rows (``plate, mjd, fiberid, z, label[, snr]``), all with ``healpix_of(plate) == healpix``;
        written in TARGETID order whatever their order here.
    healpix
        The file's HPXPIXEL.
    seed, params
        As for :func:`~agn_saliency.acquire.simulate.files.spectrum_file_bytes`.

    Returns
    -------
    coadd, redrock : bytes
        The two FITS files.
    truth : list of dict
        Each target's truth record (:data:`TRUTH_COLUMNS` plus ``targetid``), in TARGETID order.
    """
    records = []
    for row in rows:
        plate, mjd, fiberid = int(row["plate"]), int(row["mjd"]), int(row["fiberid"])
        if healpix_of(plate) != healpix:
            raise ValueError(f"plate {plate} belongs to healpix {healpix_of(plate)}, not {healpix}")
        names = row.dtype.names if isinstance(row, np.void) else tuple(row)
        snr = float(row["snr"]) if "snr" in names else _snr_for(seed, plate, mjd, fiberid, params)
        records.append((targetid(plate, mjd, fiberid), plate, mjd, fiberid, float(row["z"]), str(row["label"]), snr))
    records.sort()
    if not records:
        raise ValueError(f"healpix {healpix}: no targets")
    n = len(records)
    arrays: dict[str, dict[str, list[np.ndarray]]] = {arm: {"flux": [], "ivar": [], "mask": []} for arm in DESI_ARMS}
    truths: list[dict[str, Any]] = []
    fibermap: dict[str, Any] = {key: [] for key in ("TARGET_RA", "TARGET_DEC", "SUBPRIORITY", "FLUX_G", "FLUX_R", "FLUX_Z")}
    scores: dict[str, list[float]] = {}
    redshifts: dict[str, list[Any]] = {key: [] for key in ("ZERR", "CHI2", "NPIXELS", "DELTACHI2")}
    for tid, plate, mjd, fiberid, z, label, snr in records:
        scene: dict[str, Any] = {}
        truth: dict[str, Any] = {}
        simulate_spectrum(label, z, snr, spectrum_rng(seed, plate, mjd, fiberid), params, truth=truth, scene=scene)
        rng = desi_rng(seed, plate, mjd, fiberid)
        rendered = render_desi(scene, rng, params)
        for arm, data in rendered.items():
            for key in ("flux", "ivar", "mask"):
                arrays[arm][key].append(data[key])
            good = data["ivar"] > 0
            scores.setdefault(f"INTEG_COADD_FLUX_{arm}", []).append(float(np.sum(data["flux"]) * DESI_STEP))
            scores.setdefault(f"MEDIAN_COADD_FLUX_{arm}", []).append(float(np.median(data["flux"])))
            snr_arm = np.median(data["flux"][good] * np.sqrt(data["ivar"][good])) if np.any(good) else 0.0
            scores.setdefault(f"MEDIAN_COADD_SNR_{arm}", []).append(float(snr_arm))
        # A fixed sky position per target (not inside HPXPIXEL: the file's number is a label).
        place = np.random.default_rng([int(seed), plate, mjd, fiberid, 3])
        fibermap["TARGET_RA"].append(150.0 + (healpix - HPX_FIRST) * 0.5 + place.uniform(0, 0.5))
        fibermap["TARGET_DEC"].append(place.uniform(-5.0, 30.0))
        fibermap["SUBPRIORITY"].append(place.uniform())
        merged_wavelength = np.concatenate([rendered[arm]["wavelength"] for arm in DESI_ARMS])
        merged_model = np.concatenate([rendered[arm]["model"] for arm in DESI_ARMS])
        for band, window in (("G", (4000.0, 5500.0)), ("R", (5600.0, 6900.0)), ("Z", (8500.0, 9700.0))):
            fibermap[f"FLUX_{band}"].append(_photometry(merged_model, merged_wavelength, window))
        npixels = int(sum(np.count_nonzero(rendered[arm]["ivar"]) for arm in DESI_ARMS))
        redshifts["ZERR"].append(float(rng.uniform(1e-5, 1e-4) * (1 + z) * (3.0 if label == "type1" else 1.0)))
        redshifts["CHI2"].append(float(npixels * rng.uniform(0.95, 1.1)))
        redshifts["NPIXELS"].append(npixels)
        redshifts["DELTACHI2"].append(float(25.0 * snr**2 * rng.uniform(0.5, 2.0)))
        truth.update(survey="desi", specid=str(tid), plate=plate, mjd=mjd, fiberid=fiberid)
        truths.append({**{column: truth.get(column) for column in TRUTH_COLUMNS}, "targetid": tid})

    tids = np.array([record[0] for record in records], dtype=np.int64)
    plates = np.array([record[1] for record in records])
    fibers = np.array([record[3] for record in records])
    labels = [record[5] for record in records]
    ra, dec = np.array(fibermap["TARGET_RA"]), np.array(fibermap["TARGET_DEC"])
    morph = np.array(["PSF" if label == "type1" else "EXP" for label in labels])
    sv3 = np.array([_SV3_TARGET[label] for label in labels], dtype=np.int64)
    flux_columns = {f"FLUX_{b}": np.array(fibermap[f"FLUX_{b}"], dtype=np.float32) for b in "GRZ"}
    fiber_columns = {f"FIBERFLUX_{b}": 0.6 * flux_columns[f"FLUX_{b}"] for b in "GRZ"}
    fiber_columns.update({f"FIBERTOTFLUX_{b}": 0.6 * flux_columns[f"FLUX_{b}"] for b in "GRZ"})
    brickname = np.array([f"{int(r * 10):04d}{'p' if d >= 0 else 'm'}{int(abs(d) * 10):03d}" for r, d in zip(ra, dec)])
    fibermap_hdu = _table(
        _FIBERMAP,
        n,
        {
            "TARGETID": tids,
            "COADD_FIBERSTATUS": np.zeros(n, np.int32),
            "TARGET_RA": ra,
            "TARGET_DEC": dec,
            "REF_EPOCH": np.full(n, 2015.5),
            "FA_TARGET": sv3,
            "FA_TYPE": np.ones(n, np.uint8),
            "OBJTYPE": np.full(n, "TGT"),
            "SUBPRIORITY": np.array(fibermap["SUBPRIORITY"]),
            "OBSCONDITIONS": np.ones(n, np.int32),
            "RELEASE": np.full(n, RELEASE, np.int16),
            "BRICKNAME": brickname,
            "BRICKID": plates.astype(np.int32),
            "BRICK_OBJID": fibers.astype(np.int32),
            "MORPHTYPE": morph,
            "EBV": np.full(n, 0.03, np.float32),
            **flux_columns,
            **fiber_columns,
            "FLUX_IVAR_G": np.full(n, 200.0),
            "FLUX_IVAR_R": np.full(n, 100.0),
            "FLUX_IVAR_Z": np.full(n, 20.0),
            "PHOTSYS": np.full(n, "S"),
            "PRIORITY_INIT": np.full(n, 103400, np.int64),
            "NUMOBS_INIT": np.full(n, 4, np.int64),
            "SV3_DESI_TARGET": sv3,
            "PLATE_RA": ra,
            "PLATE_DEC": dec,
            "COADD_NUMEXP": np.ones(n, np.int16),
            "COADD_EXPTIME": np.full(n, 1000.0, np.float32),
            "COADD_NUMNIGHT": np.ones(n, np.int16),
            "COADD_NUMTILE": np.ones(n, np.int16),
            "MEAN_FIBER_RA": ra,
            "MEAN_FIBER_DEC": dec,
            "MEAN_PSF_TO_FIBER_SPECFLUX": np.where(morph == "PSF", 0.78, 0.6).astype(np.float32),
        },
        "FIBERMAP",
    )
    exp_fibermap = _table(
        _EXP_FIBERMAP,
        n,
        {
            "TARGETID": tids,
            "PRIORITY": np.full(n, 103400, np.int32),
            "SUBPRIORITY": np.array(fibermap["SUBPRIORITY"]),
            "NIGHT": np.full(n, 20210406, np.int32),
            "EXPID": np.full(n, 83734, np.int32),
            "MJD": np.full(n, 59311.34644749),
            "TILEID": np.full(n, 271, np.int32),
            "EXPTIME": np.full(n, 1000.0),
            "PETAL_LOC": (fibers % 10).astype(np.int16),
            "DEVICE_LOC": (fibers % 500).astype(np.int32),
            "LOCATION": (1000 * (fibers % 10) + fibers % 500).astype(np.int64),
            "FIBER": (500 * (fibers % 10) + fibers % 500).astype(np.int32),
            "FIBERSTATUS": np.zeros(n, np.int32),
            "LAMBDA_REF": np.full(n, 5400.0, np.float32),
            "PLATE_RA": ra,
            "PLATE_DEC": dec,
            "NUM_ITER": np.full(n, 2, np.int64),
            "FIBER_RA": ra,
            "FIBER_DEC": dec,
            "PSF_TO_FIBER_SPECFLUX": np.where(morph == "PSF", 0.78, 0.6),
        },
        "EXP_FIBERMAP",
    )
    coadd = fits.HDUList([_primary(healpix, seed, "coadd"), fibermap_hdu, exp_fibermap])
    for arm in DESI_ARMS:
        wavelength = fits.ImageHDU(arm_wavelength(arm).astype(">f8"), name=f"{arm}_WAVELENGTH")
        wavelength.header["BUNIT"] = "Angstrom"
        flux = fits.ImageHDU(np.array(arrays[arm]["flux"], dtype=">f4"), name=f"{arm}_FLUX")
        flux.header["BUNIT"] = FLUX_BUNIT
        ivar = fits.ImageHDU(np.array(arrays[arm]["ivar"], dtype=">f4"), name=f"{arm}_IVAR")
        ivar.header["BUNIT"] = IVAR_BUNIT
        mask = fits.ImageHDU(np.array(arrays[arm]["mask"], dtype=">i4"), name=f"{arm}_MASK")
        resolution = fits.ImageHDU(
            np.broadcast_to(resolution_matrix(arm), (n, *resolution_matrix(arm).shape)).astype(">f4"), name=f"{arm}_RESOLUTION"
        )
        coadd.extend([wavelength, flux, ivar, mask, resolution])
    coadd.append(_table(_SCORES, n, {"TARGETID": tids, **{k: np.array(v, np.float32) for k, v in scores.items()}}, "SCORES"))

    spectype = np.array([_SPECTYPE[label] for label in labels])
    redshifts_hdu = _table(
        _REDSHIFTS,
        n,
        {
            "TARGETID": tids,
            "Z": np.array([record[4] for record in records]),
            "ZERR": np.array(redshifts["ZERR"]),
            "ZWARN": np.zeros(n, np.int64),
            "CHI2": np.array(redshifts["CHI2"]),
            "NPIXELS": np.array(redshifts["NPIXELS"], np.int64),
            "SPECTYPE": spectype,
            "SUBTYPE": np.full(n, ""),
            "NCOEFF": np.where(spectype == "QSO", 4, 10).astype(np.int64),
            "DELTACHI2": np.array(redshifts["DELTACHI2"]),
        },
        "REDSHIFTS",
    )
    redrock = fits.HDUList(
        [
            _primary(healpix, seed, "redrock"),
            redshifts_hdu,
            fits.BinTableHDU(data=fibermap_hdu.data, header=fibermap_hdu.header),
            fits.BinTableHDU(data=exp_fibermap.data, header=exp_fibermap.header),
            _table(_TSNR2, n, {"TARGETID": tids}, "TSNR2"),
        ]
    )
    return _to_bytes(coadd), _to_bytes(redrock), truths


def _to_bytes(hdus: fits.HDUList) -> bytes:
    buffer = io.BytesIO()
    hdus.writeto(buffer)
    return buffer.getvalue()


def healpix_groups(catalog_rows: Iterable[Mapping[str, Any] | np.void]) -> dict[int, list[int]]:
    """Row positions grouped by their healpix file, files in increasing HPXPIXEL order."""
    groups: dict[int, list[int]] = {}
    for position, row in enumerate(catalog_rows):
        groups.setdefault(healpix_of(int(row["plate"])), []).append(position)
    return dict(sorted(groups.items()))


def write_desi_spectra_with_truth(
    catalog_rows: np.ndarray | list[Mapping[str, Any]],
    data_root: str | os.PathLike[str],
    seed: int,
    params: SimulationParameters,
    healpixes: Iterable[int] | None = None,
) -> tuple[list[str], list[dict[str, Any]]]:
    """Write the healpix coadd + redrock files of the catalog (or of the given healpixes only).

    Parameters
    ----------
    catalog_rows
        The whole catalog (a file holds every row of its healpix, so its bytes do not depend on
        how the writing is shared out).
    data_root
        Folder under which :func:`coadd_relpath` is created.
    seed, params
        As for :func:`~agn_saliency.acquire.simulate.files.write_spectra`.
    healpixes
        Files to write (default: all of the catalog's).

    Returns
    -------
    paths : list of str
        For each written row, the coadd file holding it (row order = file order, then TARGETID).
    truth : list of dict
        Each written row's truth record (:data:`TRUTH_COLUMNS` plus ``targetid`` and ``row_position``,
        its position in ``catalog_rows``), aligned with ``paths``.
    """
    root = Path(data_root)
    groups = healpix_groups(catalog_rows)
    wanted = list(groups) if healpixes is None else [int(h) for h in healpixes]
    paths: list[str] = []
    records: list[dict[str, Any]] = []
    for healpix in progress(wanted, "healpix files simulated"):
        positions = groups.get(healpix, [])
        rows = [catalog_rows[i] for i in positions]
        coadd, redrock, truths = healpix_file_bytes(rows, healpix, seed, params)
        coadd_path = root / coadd_relpath(healpix, "coadd")
        with atomic_output(root / coadd_relpath(healpix, "redrock")) as tmp:
            tmp.write_bytes(redrock)
        with atomic_output(coadd_path) as tmp:
            tmp.write_bytes(coadd)
        by_target = {targetid(int(r["plate"]), int(r["mjd"]), int(r["fiberid"])): i for i, r in zip(positions, rows)}
        for truth in truths:
            paths.append(str(coadd_path))
            records.append({**truth, "row_position": by_target[truth["targetid"]]})
    return paths, records
