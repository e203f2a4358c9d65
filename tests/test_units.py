"""SDSS's units are spelled once (:mod:`agn_saliency.core.units`), in words astropy reads as those units."""

from __future__ import annotations

import ast
import re
import warnings
from pathlib import Path

import pytest
from astropy import units as u

from agn_saliency.core import units
from agn_saliency.io import ecsv

PACKAGE = Path(units.__file__).resolve().parents[1]
FLUX = 1e-17 * u.erg / u.s / u.cm**2 / u.AA

ALLOWED = {
    ("core/units.py", units.SDSS_FLUX_UNIT),
    ("core/units.py", units.SDSS_IVAR_UNIT),
    ("core/units.py", units.SDSS_LINE_FLUX_UNIT),
    ("io/ecsv.py", ecsv.SIMPLE_UNITS[units.SDSS_FLUX_UNIT]),  # how astropy writes the unit (checked in test_ecsv)
    ("spectra/sdss.py", "1E-17 erg/cm^2/s/Ang"),  # the BUNIT card of real SDSS files, copied verbatim
    # the BUNIT cards of real DESI coadds, written verbatim into the simulated DESI files
    ("acquire/simulate/desi.py", "10**-17 erg/(s cm2 Angstrom)"),
    ("acquire/simulate/desi.py", "10**+34 (s2 cm4 Angstrom2) / erg2"),
    # a row label and a column head of the populations table (a luminosity, not an SDSS flux unit)
    ("acquire/simulate/populations.py", "log λL_5100 of the AGN [erg/s]"),
    ("acquire/simulate/populations.py", "| log λL_5100 [erg/s] | draws | simulated | Shen et al. 2011 Eq. 1 |"),
}
"""Where a string literal may spell an SDSS unit, and how."""

PENDING: set[tuple[str, str]] = set()
"""Literals in modules being rewritten elsewhere (issue 17): TRUTH_UNITS is to take SDSS_LINE_FLUX_UNIT.
Remove an entry once the literal is gone (the test fails to say so)."""


@pytest.mark.parametrize(
    "spelling, unit",
    [(units.SDSS_FLUX_UNIT, FLUX), (units.SDSS_IVAR_UNIT, FLUX**-2), (units.SDSS_LINE_FLUX_UNIT, FLUX * u.AA)],
    ids=["flux", "ivar", "line_flux"],
)
def test_astropy_reads_each_unit_as_meant(spelling: str, unit: u.UnitBase) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. astropy's UnitsWarning on "erg/s/cm2/Angstrom" (several slashes)
        parsed = u.Unit(spelling)
    assert parsed == unit
    assert u.Unit(str(parsed)) == parsed


def _string_literals(path: Path) -> list[tuple[int, str]]:
    """Every string constant of a module but its docstrings (prose may write 1e-17 erg/s/cm²/Å)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    prose = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose
    ]


def test_no_module_spells_an_sdss_unit_itself() -> None:
    found = {
        (path.relative_to(PACKAGE).as_posix(), line, text)
        for path in sorted(PACKAGE.rglob("*.py"))
        for line, text in _string_literals(path)
        if re.search(r"\berg", text)
    }
    stray = sorted(item for item in found if item[::2] not in ALLOWED | PENDING)
    assert not stray, "spell SDSS units with agn_saliency.core.units' constants:\n" + "\n".join(
        f"  {module}:{line}: {text!r}" for module, line, text in stray
    )
    resolved = PENDING - {item[::2] for item in found}
    assert not resolved, f"no longer spelled there, remove from PENDING: {sorted(resolved)}"
