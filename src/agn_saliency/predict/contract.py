"""A saved model's contract: the reduction its spectra must have, checked before it classifies any.

A model trained on spectra reduced one way gives confident, wrong classes for spectra reduced
another way (a grid shifted by 100 Å turns type 2s into type 1s with status ``ok``). Rule
``search_grid`` records in the model's metadata (``results/models/<task>.json``, key
``reduction``) the settings of ``reduce`` that shape a spectrum
(:data:`~agn_saliency.spectra.reduce.SPECTRUM_SHAPING_KEYS`, read from the cube it trained on);
``snakemake predict`` refuses to run a model whose recorded reduction differs from its own.

>>> recorded = {"reduction": spectrum_settings({"wavelength_min": 4000.0, "wavelength_max": 5500.0})}
>>> check_model_reduction(recorded, {"wavelength_min": 4100.0, "wavelength_max": 5600.0}, "m.joblib")
Traceback (most recent call last):
...
agn_saliency.predict.contract.ModelContractError: m.joblib was trained on spectra reduced with reduce.wavelength_min = 4000.0, reduce.wavelength_max = 5500.0; this run reduces with 4100.0, 5600.0: set those values (or retrain the model with these)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agn_saliency.spectra.reduce import SPECTRUM_SHAPING_KEYS, spectrum_settings

__all__ = ["ModelContractError", "check_model_reduction"]


LEGACY_SETTINGS = {"norm_statistic": "median"}
"""Spectrum-shaping keys added after models began recording their reduction, with the value every
reduction had before the key existed (a model recording no ``norm_statistic`` was trained on spectra
normalised by the median)."""


class ModelContractError(ValueError):
    """A model and the run's reduction settings do not match (or the model records none)."""


def check_model_reduction(metadata: Mapping[str, Any], reduce: Mapping[str, Any], model_path: str) -> None:
    """Raise :class:`ModelContractError` (one line naming each differing key, both values) unless
    the reduction ``metadata`` records equals ``reduce``'s on every spectrum-shaping key.

    A model without a recorded reduction (no JSON beside it, or saved before the contract) is
    refused too: nothing would show that its spectra are reduced as it expects.
    """
    recorded = metadata.get("reduction")
    if not isinstance(recorded, Mapping):
        raise ModelContractError(
            f"{model_path} records no reduction settings (its .json beside it is missing or older than model "
            "format 3): retrain it with this version, so that predict can check its spectra are reduced as it expects"
        )
    current = spectrum_settings(reduce)
    recorded = {**LEGACY_SETTINGS, **recorded}
    differing = [key for key in SPECTRUM_SHAPING_KEYS if recorded.get(key) != current[key]]
    if differing:
        expected = ", ".join(f"reduce.{key} = {recorded.get(key)}" for key in differing)
        actual = ", ".join(str(current[key]) for key in differing)
        raise ModelContractError(
            f"{model_path} was trained on spectra reduced with {expected}; this run reduces with {actual}: "
            "set those values (or retrain the model with these)"
        )
