"""The embedded, physically modelled sample: observed-frame SDSS spectra of three AGN classes.

Every spectrum is built from physical components, then observed as SDSS would:

* **Continuum** — an AGN power law :math:`f_\\lambda \\propto \\lambda^{\\alpha}` plus a Balmer
  (pseudo-)continuum below 3646 Å, and host-galaxy starlight: a mix of an old and an
  intermediate-age stellar template with a 4000 Å break, Ca II H&K, the G band, Mg b, Fe, Na D,
  stellar Balmer absorption and a weak metal-line forest, broadened by the stellar velocity
  dispersion. The host's share of the continuum at 5100 Å (rest) follows from the AGN
  luminosity by one relation for every class (Shen et al. 2011, Eq. 1); stellar age, velocity dispersion and host
  reddening too are drawn alike for every class, so absorption depth is not a label.
* **Narrow lines** (every class): [OII], [NeIII], Balmer (Hα/Hβ from a reddened case-B
  decrement), [OIII] 4364/4960/5008 (4960:5008 = 1:2.98, optional blue outflow wing), HeII, HeI,
  [OI], [NII] (1:2.96), [SII], [ArIII].
* **Broad lines** (type 1 and intermediate): Hα…H8 from a reddened broad decrement, each a core
  Gaussian plus a redshifted wing Gaussian; HeI 5877; optical FeII (multiplets 27, 28, 37, 38, 42,
  48, 49) with the same kinematics, scaled to broad Hβ by :math:`R_{\\rm FeII}`.
* **Classes** (populations from the literature, :class:`SimulationParameters` and
  ``docs/populations.md``) — ``type1``: broad Hβ FWHM, EW, R_FeII and [OIII] log-normal with the
  eigenvector-1 anticorrelation of [OIII] and R_FeII, 15 % narrow-line Seyfert 1s, broad/narrow
  Hβ ≥ 3 and broad Hβ EW ≥ 5 Å against the total continuum; ``intermediate`` (Seyfert 1.5…1.9):
  narrow Balmer cores on a weak broad base (broad/narrow Hβ 0.4–3, broad Hβ EW 8–25 Å; 1.9-like
  ones have strong broad Hα but barely visible broad Hβ because their broad decrement is steep),
  reddened AGN continuum; ``type2``: narrow lines only, seeing 10–100 % of the AGN continuum
  (scattered light), hence more host-dominated at the same luminosity.
  Host starlight is reddened (Calzetti) by up to E(B−V) = 0.4 in every class.
* **Observation** — redshift λ(1+z) on the SDSS log-λ grid (step 1e-4 dex, ≈3800–9200 Å),
  Gaussian line-spread function of resolving power ≈ R varying along the two spectrograph arms
  (``wdisp`` = its σ in pixels, as in SDSS files), sky (continuum + the bright lines of [OI], Na D,
  Hg and the OH bands), photon noise from object + sky through a throughput curve scaled to the
  requested S/N at 5100 Å rest, ``ivar`` = 1/σ², sky-subtraction residuals at bright sky lines
  (``and_mask`` bit 23 BRIGHTSKY), occasional rejected pixels (bit 18 FULLREJECT) and no-data
  runs (bit 24 NODATA), both with ``ivar`` = 0; ``model`` = the noiseless object spectrum. The
  brightness follows from the S/N through the noise model (faint spectra are sky-limited).

Units: wavelengths in Å (vacuum), flux densities in 1e-17 erg/s/cm²/Å (observed frame),
line fluxes in 1e-17 erg/s/cm², equivalent widths in rest-frame Å, velocities in km/s.

Reproducibility: the catalog depends only on ``(seed, counts, params)``; each spectrum only on
``(seed, plate, mjd, fiberid, label, z, params)`` through
``numpy.random.default_rng([seed, plate, mjd, fiberid])``, so it is byte-identical whichever
shard writes it.

Ground truth: :func:`simulate_spectrum` optionally fills a ``truth`` dict with the parameters it
drew for the broad-line region (columns :data:`TRUTH_COLUMNS`, units :data:`TRUTH_UNITS`) and a
``components`` dict with the noiseless component spectra, without drawing anything more (the
files are byte-identical with or without them); :func:`write_spectra_with_truth` returns the truth
records of the files it writes and :func:`broad_component_mask` turns them into a pixel mask of
where the broad lines are, for planted-signal checks of saliency maps.

Modules
-------
``constants``   the SDSS grid and identifiers, mask bits, line lists, sky, throughput
``parameters``  :class:`SimulationParameters`, every physical knob and its checks
``catalog``     :func:`simulate_catalog`, :func:`write_catalog_csv`: which spectra exist
``blocks``      line profiles, line-spread function, dust attenuation, Balmer decrements
``host``        host-galaxy starlight templates
``truth``       :data:`TRUTH_COLUMNS`, :func:`broad_component_mask`
``spectrum``    :func:`simulate_spectrum`, one coadd built step by step
``files``       :func:`write_spectra` and friends: spec-lite files in the SAS layout

Every public name is importable from this package.
"""

from agn_saliency.acquire.simulate.blocks import calzetti_k, dust_attenuation
from agn_saliency.acquire.simulate.catalog import CATALOG_DTYPE, plate_mjd, simulate_catalog, write_catalog_csv
from agn_saliency.acquire.simulate.constants import (
    BALMER_EDGE,
    BROAD_LINES,
    BROAD_WING_MASK_MIN_FRACTION,
    FEII_STRENGTHS,
    FEII_WAVELENGTHS,
    FIBERS_PER_PLATE,
    FIRST_PLATE,
    LOGLAM_END_RANGE,
    LOGLAM_START_RANGE,
    LOGLAM_STEP,
    MASK_BRIGHTSKY,
    MASK_FULLREJECT,
    MASK_NODATA,
    PIXEL_KMS,
    REST_5100_WINDOW,
    RUN2D,
    SKY_LINE_FLUXES,
    SKY_LINE_WAVELENGTHS,
)
from agn_saliency.acquire.simulate.files import spectrum_file_bytes, spectrum_rng, write_spectra, write_spectra_with_truth
from agn_saliency.acquire.simulate.parameters import SimulationParameters
from agn_saliency.acquire.simulate.spectrum import simulate_spectrum
from agn_saliency.acquire.simulate.truth import TRUTH_COLUMNS, TRUTH_UNITS, broad_component_mask

__all__ = [
    "BALMER_EDGE",
    "BROAD_LINES",
    "BROAD_WING_MASK_MIN_FRACTION",
    "CATALOG_DTYPE",
    "FEII_STRENGTHS",
    "FEII_WAVELENGTHS",
    "FIBERS_PER_PLATE",
    "FIRST_PLATE",
    "LOGLAM_END_RANGE",
    "LOGLAM_START_RANGE",
    "LOGLAM_STEP",
    "MASK_BRIGHTSKY",
    "MASK_FULLREJECT",
    "MASK_NODATA",
    "PIXEL_KMS",
    "REST_5100_WINDOW",
    "RUN2D",
    "SKY_LINE_FLUXES",
    "SKY_LINE_WAVELENGTHS",
    "TRUTH_COLUMNS",
    "TRUTH_UNITS",
    "SimulationParameters",
    "broad_component_mask",
    "calzetti_k",
    "dust_attenuation",
    "plate_mjd",
    "simulate_catalog",
    "simulate_spectrum",
    "spectrum_file_bytes",
    "spectrum_rng",
    "write_catalog_csv",
    "write_spectra",
    "write_spectra_with_truth",
]
