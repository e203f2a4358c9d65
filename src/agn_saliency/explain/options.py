"""Options of the attribution methods and their checks, without the methods' heavy imports.

The configuration is checked against these before any job runs (:mod:`agn_saliency.settings`):
importing :mod:`agn_saliency.explain.saliency` (scikit-learn) would cost every Snakemake start
seconds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["MAX_INTEGRATION_STEPS", "METHOD_OPTIONS", "check_method_options"]

MAX_INTEGRATION_STEPS = 512
"""The most Gauss–Legendre nodes integrated gradients takes (``max_steps``); ``n_steps`` may not exceed it."""

METHOD_OPTIONS: dict[str, dict[str, Any]] = {
    "gradient": {"chunk_size": None},
    "logit_gradient": {"chunk_size": None},
    "gradient_x_input": {"chunk_size": None},
    "integrated_gradients": {"n_steps": 32, "tolerance": 1e-6, "max_steps": MAX_INTEGRATION_STEPS, "chunk_size": None},
    "smoothgrad": {"noise": 0.1, "n_samples": 32, "seed": 0, "chunk_size": None},
}
"""Options of every method and their defaults."""


def check_method_options(method: str, options: dict[str, Any]) -> dict[str, Any]:
    """Method options with defaults filled in and values checked (a ``ValueError`` names the option).

    >>> check_method_options("integrated_gradients", {"n_steps": 600})
    Traceback (most recent call last):
    ...
    ValueError: max_steps (512) must be >= n_steps (600)
    """
    if method not in METHOD_OPTIONS:
        raise ValueError(f"unknown attribution method {method!r}; expected one of {list(METHOD_OPTIONS)}")
    valid = METHOD_OPTIONS[method]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise ValueError(f"unknown option(s) {unknown} for method {method!r}; valid options: {sorted(valid)}")
    opts = {**valid, **options}

    def positive_int(name: str) -> int:
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        return int(value)

    def non_negative(name: str) -> float:
        value = opts[name]
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not value >= 0:
            raise ValueError(f"{name} must be a number >= 0, got {value!r}")
        return float(value)

    if method == "integrated_gradients":
        opts["n_steps"], opts["max_steps"] = positive_int("n_steps"), positive_int("max_steps")
        opts["tolerance"] = non_negative("tolerance")
        if opts["max_steps"] < opts["n_steps"]:
            raise ValueError(f"max_steps ({opts['max_steps']}) must be >= n_steps ({opts['n_steps']})")
    if method == "smoothgrad":
        opts["n_samples"] = positive_int("n_samples")
        opts["noise"] = non_negative("noise")
    return opts
