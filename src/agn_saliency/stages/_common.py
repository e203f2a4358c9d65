"""What every stage module shares: the rule's logger, the FITS read limits."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any


def rule_log(rule: str) -> logging.Logger:
    """The logger of rule ``rule`` (``agn_saliency.<rule>``): its records go to the rule's log file."""
    return logging.getLogger(f"agn_saliency.{rule}")


def apply_read_limits(limits: Mapping[str, Any] | None) -> None:
    """Bound every FITS read of this job by the ``limits`` config section
    (:class:`agn_saliency.io.fits.ReadLimits`; the defaults when it is missing)."""
    from agn_saliency.io import fits

    fits.set_read_limits(fits.ReadLimits.from_mapping(limits))
