"""Does the model look where astronomers look, and does it hold when host starlight is added?

Two measurements of a fitted model on reduced (rest-frame, normalised) test spectra:

* :func:`line_absorption_ratio` — mean ``|∂p_k/∂flux|`` per pixel in the emission-line windows
  (:data:`EMISSION_WINDOWS_KMS`: Hγ ±2500 km/s, Hβ ±3000 km/s, [OIII] 4960/5008 ±600 km/s,
  HeII 4687 ±1000 km/s) divided by the same in the stellar-absorption windows
  (:data:`ABSORPTION_WINDOWS`: G band 4281–4316 Å, Mg b 5160–5192 Å, Fe 5270 5260–5290 Å,
  Fe 5335 5320–5345 Å), over the test spectra of each true class ``k`` with that class's own map.
  Above 1 the model weighs lines more than absorption per pixel; the issue's floor is 2.
* :func:`host_dilution` — the share of type-1 spectra still called type 1 after replacing a
  fraction ``f`` of their 5100 Å continuum with host starlight,
  ``(1 − f) · flux + f · host`` (both normalised to 1 at 5100 Å).

>>> import numpy as np
>>> wavelength = np.linspace(4000.0, 5500.0, 1000)
>>> line, absorption = window_masks(wavelength)
>>> int(line.sum()) > int(absorption.sum()) > 0, bool((line & absorption).any())
(True, False)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from agn_saliency.core.lines import EMISSION_LINES, SPEED_OF_LIGHT_KMS

EMISSION_WINDOWS_KMS: dict[str, float] = {
    "Hγ": 2500.0,
    "Hβ": 3000.0,
    "[OIII] 4960": 600.0,
    "[OIII] 5008": 600.0,
    "HeII 4687": 1000.0,
}
"""Half-widths (km/s) of the emission-line windows of the line/absorption ratio (issue 21)."""

ABSORPTION_WINDOWS: tuple[tuple[float, float], ...] = ((4281.0, 4316.0), (5160.0, 5192.0), (5260.0, 5290.0), (5320.0, 5345.0))
"""Rest-frame windows (Å) of stellar absorption: G band, Mg b, Fe 5270, Fe 5335."""


def window_masks(wavelength: Any, *, exclusive: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Pixel masks ``(line, absorption)`` of the two window sets on a rest-frame grid (Å).

    The G-band window (4281–4316 Å) overlaps the blue end of Hγ ±2500 km/s (from 4305.5 Å):
    ``exclusive`` leaves the shared pixels to the line mask only; otherwise both hold them (to
    ask whether a pixel is on absorption at all).
    """
    wavelength = np.asarray(wavelength, dtype=np.float64)
    line = np.zeros(wavelength.size, bool)
    for name, half_kms in EMISSION_WINDOWS_KMS.items():
        rest = EMISSION_LINES[name]
        half = rest * half_kms / SPEED_OF_LIGHT_KMS
        line |= (wavelength >= rest - half) & (wavelength <= rest + half)
    absorption = np.zeros(wavelength.size, bool)
    for lo, hi in ABSORPTION_WINDOWS:
        absorption |= (wavelength >= lo) & (wavelength <= hi)
    return line, (absorption & ~line) if exclusive else absorption


def line_absorption_ratio(
    maps: Any,
    true_label: Sequence[str] | np.ndarray,
    class_names: Sequence[str],
    wavelength: Any,
    *,
    statistic: str = "mean_abs",
) -> dict[str, float]:
    """Per true class ``k``: mean ``|map_k|`` per pixel in the line windows over the same in the
    absorption windows, over the spectra of class ``k`` (their own-class map).

    Parameters
    ----------
    maps
        (N, K, P) attribution maps (``∂p_k/∂flux`` for the paper's gradient), classes in
        ``class_names`` order.
    true_label
        (N,) true class of each spectrum.
    class_names
        The K class names of ``maps``' second axis.
    wavelength
        (P,) rest-frame grid (Å).
    statistic
        ``"mean_abs"`` (the issue's measure): mean of ``|map|`` over spectra and window pixels;
        ``"abs_mean"``: ``|class-mean map|`` averaged over the window pixels (what the class-mean
        figure shows: per-spectrum noise cancels, systematic structure stays).

    Returns
    -------
    dict
        Class name → ratio, for every class with spectra (NaN when its absorption windows carry no
        gradient at all).

    >>> import numpy as np
    >>> w = np.linspace(4000.0, 5500.0, 1000)
    >>> line, absorption = window_masks(w)
    >>> maps = np.where(line, 3.0, 1.0)[None, None, :]
    >>> line_absorption_ratio(maps, ["type1"], ["type1"], w)
    {'type1': 3.0}
    """
    maps = np.asarray(maps, dtype=np.float64)
    labels = np.asarray(true_label).astype(str)
    if maps.ndim != 3 or maps.shape[0] != labels.size or maps.shape[1] != len(class_names):
        raise ValueError(f"maps must be (N, K, P) with N = {labels.size}, K = {len(class_names)}; got {maps.shape}")
    line, absorption = window_masks(wavelength)
    if maps.shape[2] != line.size:
        raise ValueError(f"maps have {maps.shape[2]} pixels, the wavelength grid {line.size}")
    if not line.any() or not absorption.any():
        raise ValueError("the grid covers no line window or no absorption window")
    ratios: dict[str, float] = {}
    for k, name in enumerate(class_names):
        members = labels == name
        if not members.any():
            continue
        if statistic == "mean_abs":
            own = np.abs(maps[members, k, :])
        elif statistic == "abs_mean":
            own = np.abs(maps[members, k, :].mean(axis=0, keepdims=True))
        else:
            raise ValueError(f"statistic must be mean_abs or abs_mean, got {statistic!r}")
        in_absorption = float(own[:, absorption].mean())
        ratios[str(name)] = round(float(own[:, line].mean()) / in_absorption, 4) if in_absorption > 0 else float("nan")
    return ratios


def host_dilution(
    model: Any, flux: Any, host: Any, fractions: Sequence[float], *, keep: str = "type1", norm: Any = None
) -> dict[float, float]:
    """Share of spectra still predicted ``keep`` after diluting them with host starlight.

    Parameters
    ----------
    model
        Fitted classifier with ``predict`` and ``classes_`` (a pipeline of the workflow).
    flux
        (N, P) reduced spectra, normalised to 1 in the normalisation window.
    host
        (P,) host starlight on the same grid, normalised the same way
        (:func:`agn_saliency.acquire.simulate.host.host_template`).
    fractions
        Host shares ``f`` of the 5100 Å continuum to test (0 ≤ f < 1).
    keep
        The class the spectra should keep.
    norm
        Optional (P,) boolean mask of the normalisation window: ``host`` is rescaled to mean 1 there.

    Returns
    -------
    dict
        ``f`` → share of the spectra predicted ``keep`` at that dilution.
    """
    flux = np.asarray(flux, dtype=np.float64)
    host = np.asarray(host, dtype=np.float64)
    if flux.ndim != 2 or host.shape != (flux.shape[1],):
        raise ValueError(f"flux must be (N, P) and host (P,), got {flux.shape} and {host.shape}")
    if norm is not None:
        host = host / float(host[np.asarray(norm, bool)].mean())
    if flux.shape[0] == 0:
        raise ValueError("no spectra to dilute")
    kept: dict[float, float] = {}
    for fraction in fractions:
        if not 0.0 <= float(fraction) < 1.0:
            raise ValueError(f"host fraction must lie in [0, 1), got {fraction}")
        diluted = (1.0 - fraction) * flux + fraction * host[None, :]
        kept[float(fraction)] = round(float(np.mean(np.asarray(model.predict(diluted)).astype(str) == keep)), 4)
    return kept


DILUTION_FRACTIONS: tuple[float, ...] = (0.0, 0.2, 0.4, 0.6, 0.8)
"""Host shares of the 5100 Å continuum the host-dilution measurement tests (issue 21: 0–0.8)."""

DILUTION_HOST_YOUNG_FRACTION = 0.2
"""Intermediate-age share of the host starlight added in the host-dilution measurement."""

DILUTION_HOST_SIGMA_KMS = 150.0
"""σ⋆ [km/s] of that host (the median of the simulated hosts)."""


def dilution_host(wavelength: Any) -> np.ndarray:
    """The host starlight of the host-dilution measurement on a rest-frame grid (Å): the simulator's
    templates, :data:`DILUTION_HOST_YOUNG_FRACTION` intermediate-age, σ⋆ :data:`DILUTION_HOST_SIGMA_KMS`."""
    from agn_saliency.acquire.simulate.host import host_template

    wavelength = np.asarray(wavelength, dtype=np.float64)
    return host_template(wavelength, young_fraction=DILUTION_HOST_YOUNG_FRACTION, sigma_star_kms=DILUTION_HOST_SIGMA_KMS)


def robustness_rows(
    model: Any, flux: np.ndarray, true_label: np.ndarray, maps: np.ndarray, class_names: Sequence[str], wavelength: np.ndarray
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Both measurements of one task's test set as table rows: ``(ratios, dilution)``.

    ``ratios``: one row per true class — ``class``, ``line_absorption_ratio`` (the issue's
    measure), ``line_absorption_ratio_of_mean`` (of the class-mean map) and ``n_spectra``;
    ``dilution``: one row per host fraction of :data:`DILUTION_FRACTIONS` — ``host_fraction``,
    ``kept_type1`` (share of the type-1 test spectra still called type 1), ``kept_if_correct``
    (the same among those called type 1 undiluted) and ``n_spectra``; empty without type-1 spectra.
    """
    labels = np.asarray(true_label).astype(str)
    summary = robustness_summary(
        model, flux, labels, maps, class_names, wavelength, dilution_host(wavelength), DILUTION_FRACTIONS
    )
    ratios = [
        {
            "class": name,
            "line_absorption_ratio": value,
            "line_absorption_ratio_of_mean": summary["line_absorption_ratio_of_mean"][name],
            "n_spectra": int((labels == name).sum()),
        }
        for name, value in summary["line_absorption_ratio"].items()
    ]
    type1 = flux[labels == "type1"]
    if type1.shape[0] == 0:
        return ratios, []
    correct = type1[np.asarray(model.predict(type1)).astype(str) == "type1"]
    kept_correct = host_dilution(model, correct, dilution_host(wavelength), DILUTION_FRACTIONS) if correct.shape[0] else {}
    dilution = [
        {
            "host_fraction": fraction,
            "kept_type1": kept,
            "kept_if_correct": kept_correct.get(fraction, float("nan")),
            "n_spectra": int(type1.shape[0]),
        }
        for fraction, kept in summary["host_dilution"].items()
    ]
    return ratios, dilution


def robustness_summary(
    model: Any,
    flux: np.ndarray,
    true_label: np.ndarray,
    maps: np.ndarray,
    class_names: Sequence[str],
    wavelength: np.ndarray,
    host: np.ndarray,
    fractions: Sequence[float] = (0.0, 0.2, 0.4, 0.6, 0.8),
) -> Mapping[str, Any]:
    """Both measurements of one task: ``{"line_absorption_ratio": {...}, "line_absorption_ratio_of_mean": {...},
    "host_dilution": {...}}``."""
    type1 = np.asarray(true_label).astype(str) == "type1"
    return {
        "line_absorption_ratio": line_absorption_ratio(maps, true_label, class_names, wavelength),
        "line_absorption_ratio_of_mean": line_absorption_ratio(maps, true_label, class_names, wavelength, statistic="abs_mean"),
        "host_dilution": host_dilution(model, flux[type1], host, fractions) if type1.any() else {},
    }
