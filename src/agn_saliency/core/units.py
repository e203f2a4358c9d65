"""SDSS's units, spelled once: strings ``astropy.units.Unit`` parses (astropy itself is not imported).

SDSS spectra give flux densities in 10⁻¹⁷ erg s⁻¹ cm⁻² Å⁻¹, hence line fluxes in 10⁻¹⁷ erg s⁻¹ cm⁻²
(data model: https://data.sdss.org/datamodel/files/BOSS_SPECTRO_REDUX/RUN2D/spectra/PLATE4/spec.html); tables, the cube and the files this package
writes state them with these strings. ``tests/test_units.py`` checks that astropy reads them as
those units and that no module of the package spells them another way.
"""

from __future__ import annotations

__all__ = ["SDSS_FLUX_UNIT", "SDSS_IVAR_UNIT", "SDSS_LINE_FLUX_UNIT"]

SDSS_FLUX_UNIT: str = "1e-17 erg / (s cm2 Angstrom)"
"""Flux density of an SDSS spectrum (and of the cube's normalising flux)."""

SDSS_IVAR_UNIT: str = "1e+34 s2 cm4 Angstrom2 / erg2"
"""Inverse variance of that flux density: :data:`SDSS_FLUX_UNIT` to the power −2."""

SDSS_LINE_FLUX_UNIT: str = "1e-17 erg / (s cm2)"
"""Integrated emission-line flux: :data:`SDSS_FLUX_UNIT` times Å."""
