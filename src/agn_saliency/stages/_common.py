"""What every stage module shares: the rule's logger, the FITS read limits and the figure settings of plot rules."""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

_Stage = TypeVar("_Stage", bound=Callable[..., Any])


def rule_log(rule: str) -> logging.Logger:
    """The logger of rule ``rule`` (``agn_saliency.<rule>``): its records go to the rule's log file."""
    return logging.getLogger(f"agn_saliency.{rule}")


def apply_read_limits(limits: Mapping[str, Any] | None) -> None:
    """Bound every FITS read of this job by the ``limits`` config section
    (:class:`agn_saliency.io.fits.ReadLimits`; the defaults when it is missing)."""
    from agn_saliency.io import fits

    fits.set_read_limits(fits.ReadLimits.from_mapping(limits))


def draws_figures(stage: _Stage) -> _Stage:
    """Give a plot rule's stage function a keyword parameter ``figure`` (``{"format": …, "dpi": …}``,
    the config's ``plots`` section, passed by every plot rule as a param; left out: PNG at 110 dpi) and draw inside
    :func:`agn_saliency.plotting.figure_settings`: a file's suffix says its format, the resolution
    applies to every figure the stage saves (also in the worker processes it starts)."""

    @functools.wraps(stage)
    def drawn(*args: Any, figure: dict[str, Any] | None = None, **kwargs: Any) -> Any:
        from agn_saliency.plotting import figure_settings

        with figure_settings(**(figure or {})):  # on its own (no rule): PNG at the house resolution
            return stage(*args, **kwargs)

    signature = inspect.signature(stage)
    extra = inspect.Parameter("figure", inspect.Parameter.KEYWORD_ONLY, default=None, annotation="dict[str, Any] | None")
    drawn.__signature__ = signature.replace(parameters=[*signature.parameters.values(), extra])  # type: ignore[attr-defined]
    return drawn  # type: ignore[return-value]
