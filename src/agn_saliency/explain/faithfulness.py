"""Does the model depend on the pixels a saliency map highlights? Perturbation and sanity checks.

Everything here sees the model only through a callable ``predict_proba(flux) -> (n, n_classes)``
and attributions as arrays ``(n_spectra, n_pixels)`` (one map per spectrum, for its ``target``
class, usually the predicted one), so it is independent of how the maps were made.

* **Deletion** (Samek et al. 2017; Petsiuk et al. 2018): replace the pixels with the highest
  attribution (most positive evidence for the target class) first by a baseline and follow the
  target probability; a faithful map makes it drop fast. Summarised by the AOPC, the mean over
  steps of ``p_0 - p_step`` (:func:`aopc`; larger = more faithful).
* **Insertion** (Petsiuk et al. 2018): start from the baseline and put the pixels back in the same
  order; a faithful map makes the probability rise fast. Summarised by the area under the curve
  (:func:`area_under_curve`, trapezoid over the fractions; larger = more faithful).
* Both are compared with **random pixel orders** (:func:`random_order_curves`, several seeds): the
  *margin* method − random is what a table reports, since the curves' absolute level depends on
  the model and the baseline.
* **Model randomisation** (Adebayo et al. 2018): maps of a model fitted on permuted labels
  (:func:`randomised_labels`) should not resemble the real maps; :func:`rank_correlation` is the
  per-spectrum Spearman correlation of two sets of maps (low = the map depends on the model).
* **Planted signal**: :func:`top_k_fraction` — the share of a map's k largest-``|attribution|`` pixels
  inside a region (e.g. where a simulator put broad components), against the chance level
  :func:`region_chance_level`.

The deletion baseline is a local continuum (:func:`local_continuum`), a running median wide
enough to erase emission lines: "deleting" a pixel then removes line flux rather than inventing a
flux of 0, which no spectrum of the training set has (a zero baseline would measure the model's
reaction to an out-of-distribution input as much as the map's faithfulness; Hooker et al. 2019).

References
----------
Samek, W., Binder, A., Montavon, G., Lapuschkin, S., Müller, K.-R. 2017, "Evaluating the
visualization of what a deep neural network has learned", IEEE TNNLS 28, 2660.
Petsiuk, V., Das, A., Saenko, K. 2018, "RISE: Randomized input sampling for explanation of
black-box models", BMVC (arXiv:1806.07421).
Adebayo, J., Gilmer, J., Muelly, M., Goodfellow, I., Hardt, M., Kim, B. 2018, "Sanity checks for
saliency maps", NeurIPS 31.
Hooker, S., Erhan, D., Kindermans, P.-J., Kim, B. 2019, "A benchmark for interpretability methods
in deep neural networks", NeurIPS 32.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
from scipy.integrate import trapezoid
from scipy.stats import rankdata

from agn_saliency.core.columns import TABLES
from agn_saliency.core.lines import SPEED_OF_LIGHT_KMS

PredictProba = Callable[[np.ndarray], np.ndarray]

DEFAULT_FRACTIONS = np.linspace(0.0, 1.0, 21)
DEFAULT_FRACTIONS.flags.writeable = False
"""Fractions of pixels perturbed: 0, 5 %, …, 100 %."""

DEFAULT_SEEDS = (0, 1, 2, 3, 4)
"""Seeds of the random pixel orders."""

CONTINUUM_WINDOW_KMS = 20_000.0
"""Default full width of the running median (km/s). A running median erases a feature narrower
than half its window; the broadest lines of the simulator have FWHM 10 000 km/s (broad Hβ), so
the window is twice that. On the default grid (4000–5500 Å, 1000 pixels, ≈ 95 000 km/s) it spans
≈ 1/5 of the grid (≈ 210 pixels)."""

SUMMARY_COLUMNS: dict[str, tuple[str, str]] = {
    column.name: (column.unit or "", column.description) for column in TABLES["faithfulness"].columns
}
"""Columns of :func:`faithfulness_summary`: (unit, description), from
:data:`agn_saliency.core.columns.TABLES` (the one description of every table's columns). All are
dimensionless (probabilities, areas over fractions of pixels in [0, 1], correlations, counts)."""


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _array_2d(values: Any, name: str) -> np.ndarray:
    try:
        a = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array: {exc}") from None
    if a.ndim != 2:
        raise ValueError(f"{name} must have shape (n_spectra, n_pixels); got {a.shape}")
    if not np.all(np.isfinite(a)):
        raise ValueError(f"{name} has non-finite values")
    return a


def _fractions(fractions: Any) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64)
    if f.ndim != 1 or f.size < 2:
        raise ValueError(f"fractions must be 1-D with at least 2 values; got shape {f.shape}")
    if not (np.all(np.isfinite(f)) and f[0] >= 0.0 and f[-1] <= 1.0 and np.all(np.diff(f) > 0)):
        raise ValueError("fractions must increase strictly within [0, 1]")
    return f


def _inputs(
    flux: Any, baseline: Any, target: Any, attributions: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]:
    x = _array_2d(flux, "flux")
    n, p = x.shape
    try:
        b = np.broadcast_to(np.asarray(baseline, dtype=np.float64), x.shape)
    except ValueError:
        raise ValueError(f"baseline of shape {np.shape(baseline)} does not broadcast to flux {x.shape}") from None
    if not np.all(np.isfinite(b)):
        raise ValueError("baseline has non-finite values")
    t = np.asarray(target)
    if t.ndim == 0:
        t = np.full(n, t)
    if t.shape != (n,) or not np.issubdtype(t.dtype, np.integer) or (n and t.min() < 0):
        raise ValueError(f"target must be non-negative integer column indices, one per spectrum ({n}); got {t!r}")
    a = None
    if attributions is not None:
        a = _array_2d(attributions, "attributions")
        if a.shape != (n, p):
            raise ValueError(f"attributions {a.shape} and flux {x.shape} do not match")
    return x, b, t.astype(np.intp), a


def _ranks_from_order(order: np.ndarray) -> np.ndarray:
    """Position of every pixel in its spectrum's order: ``rank[i, order[i, j]] = j``."""
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.broadcast_to(np.arange(order.shape[1]), order.shape), axis=1)
    return ranks


def attribution_ranks(attributions: Any) -> np.ndarray:
    """Rank of every pixel in perturbation order: 0 = highest attribution (ties: lower pixel index first).

    Parameters
    ----------
    attributions : array-like of shape (n_spectra, n_pixels)

    Returns
    -------
    ndarray of shape (n_spectra, n_pixels), int
    """
    a = _array_2d(attributions, "attributions")
    return _ranks_from_order(np.argsort(-a, axis=1, kind="stable"))


def _curves(
    predict_proba: PredictProba,
    x: np.ndarray,
    b: np.ndarray,
    target: np.ndarray,
    ranks: np.ndarray,
    fractions: np.ndarray,
    insert: bool,
) -> np.ndarray:
    """Target probability as the pixels of rank < round(f · n_pixels) are deleted (or inserted)."""
    n, p = x.shape
    counts = np.rint(fractions * p).astype(np.intp)
    out = np.empty((n, fractions.size))
    rows = np.arange(n)
    for j, m in enumerate(counts):
        if m in (0, p):  # nothing or everything replaced: ``x`` or ``b`` itself (a caller may cache those)
            perturbed = x if insert == (m == p) else b
        else:
            changed = ranks < m
            perturbed = np.where(changed, x, b) if insert else np.where(changed, b, x)
        proba = np.asarray(predict_proba(perturbed), dtype=np.float64)
        if proba.ndim != 2 or proba.shape[0] != n:
            raise ValueError(f"predict_proba must return shape (n_spectra, n_classes); got {proba.shape}")
        if target.size and target.max() >= proba.shape[1]:
            raise ValueError(f"target column {int(target.max())} is not among the {proba.shape[1]} classes")
        out[:, j] = proba[rows, target]
    return out


# --------------------------------------------------------------------------------------------
# Baseline
# --------------------------------------------------------------------------------------------


def continuum_window_pixels(wavelength: Any, window_kms: float = CONTINUUM_WINDOW_KMS) -> int:
    """Odd number of pixels spanning ``window_kms`` at the grid's median velocity step.

    Parameters
    ----------
    wavelength : array-like of shape (n_pixels,)
        Increasing wavelengths (any unit; only ratios matter).
    window_kms : float
        Full width of the window (km/s).

    Returns
    -------
    int
        ``≥ 3``, odd, at most the number of pixels (made odd downwards).
    """
    w = np.asarray(wavelength, dtype=np.float64)
    if w.ndim != 1 or w.size < 3 or not np.all(np.isfinite(w)) or not np.all(w > 0) or not np.all(np.diff(w) > 0):
        raise ValueError("wavelength must be 1-D, positive and strictly increasing, with at least 3 pixels")
    if isinstance(window_kms, bool) or not isinstance(window_kms, numbers.Real) or not window_kms > 0:
        raise ValueError(f"window_kms must be a positive number, got {window_kms!r}")
    step_kms = SPEED_OF_LIGHT_KMS * float(np.median(np.diff(np.log(w))))
    px = int(np.ceil(window_kms / step_kms))
    px = min(max(px, 3), w.size)
    return px if px % 2 else px - 1


def local_continuum(
    flux: Any, wavelength: Any = None, *, window_kms: float | None = None, window_px: int | None = None
) -> np.ndarray:
    """Deletion baseline: a running median along the pixels, wide enough to erase emission lines.

    A median over a window of ``window_px`` pixels (odd) along each
    spectrum, reflected at the ends. A running median removes any feature narrower than half the
    window and follows the continuum's slope; where lines crowd (Hβ, [OIII], FeII) it sits
    somewhat above the true continuum.

    Parameters
    ----------
    flux : array-like of shape (n_spectra, n_pixels)
    wavelength : array-like of shape (n_pixels,), optional
        Needed to express the window in km/s (:func:`continuum_window_pixels`, median velocity
        step of the grid: on a grid linear in wavelength the window is constant in pixels, not
        exactly in km/s).
    window_kms : float, optional
        Full width of the window; default :data:`CONTINUUM_WINDOW_KMS` (20 000 km/s) when
        ``wavelength`` is given and ``window_px`` is not.
    window_px : int, optional
        Full width in pixels (≥ 3; made odd upwards); excludes ``window_kms``.

    Returns
    -------
    ndarray of shape (n_spectra, n_pixels)
    """
    x = _array_2d(flux, "flux")
    if window_px is not None and window_kms is not None:
        raise ValueError("give window_px or window_kms, not both")
    if window_px is None:
        if wavelength is None:
            raise ValueError("local_continuum needs wavelength (window in km/s) or window_px")
        if np.shape(wavelength) != (x.shape[1],):
            raise ValueError(f"wavelength must have shape ({x.shape[1]},); got {np.shape(wavelength)}")
        window_px = continuum_window_pixels(wavelength, CONTINUUM_WINDOW_KMS if window_kms is None else window_kms)
    elif isinstance(window_px, bool) or not isinstance(window_px, numbers.Integral) or window_px < 3:
        raise ValueError(f"window_px must be an integer >= 3, got {window_px!r}")
    else:
        window_px = int(window_px) | 1
    return _running_median(x, int(window_px))


def _running_median(x: np.ndarray, window_px: int) -> np.ndarray:
    """``scipy.ndimage.median_filter(x, size=(1, window_px), mode="reflect")``, by pandas' rolling
    median (a skip list: log(window) work per pixel, not window): the same values, 0.26 instead of
    1.8 s for the 669 multiclass test spectra at 211 px (a test compares the two)."""
    if window_px > x.shape[1]:  # numpy's repeated reflections differ from scipy's beyond one spectrum's width
        from scipy.ndimage import median_filter

        return median_filter(x, size=(1, window_px), mode="reflect")
    import pandas as pd

    half = window_px // 2
    padded = np.pad(x, ((0, 0), (half, half)), mode="symmetric")  # numpy's "symmetric" is scipy's "reflect"
    rolled = pd.DataFrame(padded.T).rolling(window_px, center=True).median().to_numpy()
    return np.ascontiguousarray(rolled[half : half + x.shape[1]].T)


# --------------------------------------------------------------------------------------------
# Perturbation curves
# --------------------------------------------------------------------------------------------


def deletion_curves(
    predict_proba: PredictProba,
    flux: Any,
    attributions: Any,
    baseline: Any,
    target: Any,
    fractions: Any = DEFAULT_FRACTIONS,
) -> np.ndarray:
    """Target probability as the most relevant pixels are replaced by the baseline (deletion).

    At fraction ``f`` the ``round(f · n_pixels)`` pixels of highest attribution (most positive
    evidence for the target; ties: lower pixel first) of each spectrum take the baseline's value.
    One ``predict_proba`` call per fraction, on all spectra at once (n_spectra × n_pixels).

    Parameters
    ----------
    predict_proba : callable
        ``flux (n, n_pixels) -> probabilities (n, n_classes)``.
    flux : array-like of shape (n_spectra, n_pixels)
    attributions : array-like of shape (n_spectra, n_pixels)
        Map of each spectrum for its target class (signed: highest first).
    baseline : array-like broadcastable to flux
        E.g. :func:`local_continuum`.
    target : int or array-like of shape (n_spectra,)
        Column of ``predict_proba``'s output followed for each spectrum.
    fractions : array-like of shape (n_fractions,)
        Strictly increasing in [0, 1]; start at 0 for :func:`aopc`.

    Returns
    -------
    ndarray of shape (n_spectra, n_fractions)
        Starts at ``p_target(flux)`` when ``fractions[0] == 0`` and ends at
        ``p_target(baseline)`` when ``fractions[-1] == 1``.

    References
    ----------
    Samek et al. 2017, IEEE TNNLS 28, 2660; Petsiuk et al. 2018, BMVC.
    """
    x, b, t, a = _inputs(flux, baseline, target, attributions)
    assert a is not None
    return _curves(predict_proba, x, b, t, attribution_ranks(a), _fractions(fractions), insert=False)


def insertion_curves(
    predict_proba: PredictProba,
    flux: Any,
    attributions: Any,
    baseline: Any,
    target: Any,
    fractions: Any = DEFAULT_FRACTIONS,
) -> np.ndarray:
    """Target probability as the most relevant pixels are put back into the baseline (insertion).

    The reverse of :func:`deletion_curves`: at fraction ``f`` the baseline carries the flux of the
    ``round(f · n_pixels)`` pixels of highest attribution.

    Returns
    -------
    ndarray of shape (n_spectra, n_fractions)
        Starts at ``p_target(baseline)`` and ends at ``p_target(flux)`` (fractions 0 … 1).

    References
    ----------
    Petsiuk et al. 2018, BMVC.
    """
    x, b, t, a = _inputs(flux, baseline, target, attributions)
    assert a is not None
    return _curves(predict_proba, x, b, t, attribution_ranks(a), _fractions(fractions), insert=True)


def random_order_curves(
    predict_proba: PredictProba,
    flux: Any,
    baseline: Any,
    target: Any,
    fractions: Any = DEFAULT_FRACTIONS,
    *,
    seeds: Iterable[int] = DEFAULT_SEEDS,
    kind: str = "deletion",
) -> np.ndarray:
    """Deletion or insertion curves of random pixel orders (one permutation per spectrum and seed).

    Parameters
    ----------
    predict_proba, flux, baseline, target, fractions
        As :func:`deletion_curves`.
    seeds : iterable of int
        One ``numpy.random.default_rng(seed)`` per seed; each draws an independent permutation of
        the pixels of every spectrum.
    kind : {"deletion", "insertion"}

    Returns
    -------
    ndarray of shape (n_seeds, n_spectra, n_fractions)
    """
    if kind not in ("deletion", "insertion"):
        raise ValueError(f"kind must be 'deletion' or 'insertion', got {kind!r}")
    x, b, t, _ = _inputs(flux, baseline, target)
    f = _fractions(fractions)
    seeds = list(seeds)
    if not seeds or not all(isinstance(s, numbers.Integral) and not isinstance(s, bool) for s in seeds):
        raise ValueError(f"seeds must be a non-empty sequence of integers, got {seeds!r}")
    n, p = x.shape
    out = np.empty((len(seeds), n, f.size))
    for i, seed in enumerate(seeds):
        rng = np.random.default_rng(int(seed))
        # A random permutation of 0…p-1 per row *is* a rank array of a random order.
        ranks = rng.permuted(np.broadcast_to(np.arange(p), (n, p)), axis=1)
        out[i] = _curves(predict_proba, x, b, t, ranks, f, insert=kind == "insertion")
    return out


def aopc(curves: Any) -> np.ndarray:
    """Area over the perturbation curve (Samek et al. 2017): mean over steps of ``p_0 - p_step``.

    ``AOPC = 1/(L+1) Σ_{k=0}^{L} (p_0 - p_k)`` with ``p_0`` the first column (fraction 0, the
    unperturbed spectrum) and the ``L + 1`` columns the steps (the k = 0 term is 0). For a
    deletion curve, larger = the probability falls faster = the order is more faithful. With
    uniformly spaced fractions this is the discrete area between the horizontal line ``p_0`` and
    the curve.

    Parameters
    ----------
    curves : array-like of shape (..., n_fractions)
        E.g. (n_spectra, n_fractions) or (n_seeds, n_spectra, n_fractions).

    Returns
    -------
    ndarray of shape (...) (the curves' leading shape, e.g. (n_spectra,))
    """
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim < 1 or c.shape[-1] < 2:
        raise ValueError(f"curves must have at least 2 steps along the last axis; got shape {c.shape}")
    return np.mean(c[..., :1] - c, axis=-1)


def area_under_curve(curves: Any, fractions: Any = DEFAULT_FRACTIONS) -> np.ndarray:
    """Area under a perturbation curve, trapezoid over the fractions, per unit of fraction range.

    For insertion (Petsiuk et al. 2018), larger = the probability recovers faster = the order is
    more faithful. Dividing by ``fractions[-1] - fractions[0]`` keeps the value a mean
    probability (identical to the plain area for fractions 0 … 1).

    Parameters
    ----------
    curves : array-like of shape (..., n_fractions)
    fractions : array-like of shape (n_fractions,)

    Returns
    -------
    ndarray of shape (...)
    """
    f = _fractions(fractions)
    c = np.asarray(curves, dtype=np.float64)
    if c.ndim < 1 or c.shape[-1] != f.size:
        raise ValueError(f"curves {c.shape} do not have one column per fraction ({f.size})")
    return trapezoid(c, f, axis=-1) / (f[-1] - f[0])


# --------------------------------------------------------------------------------------------
# Sanity checks
# --------------------------------------------------------------------------------------------


def randomised_labels(labels: Sequence[Any] | np.ndarray, seed: int) -> np.ndarray:
    """A seeded permutation of the labels, to fit the label-randomised model of Adebayo et al. 2018.

    The class counts are kept; the link between spectra and classes is destroyed.
    """
    return np.random.default_rng(seed).permutation(np.asarray(labels))


def rank_correlation(maps_a: Any, maps_b: Any, *, absolute: bool = False) -> np.ndarray:
    """Spearman rank correlation of two maps of every spectrum.

    Pearson correlation of the pixel ranks (``scipy.stats.rankdata`` along the pixels, ties
    averaged), for all spectra at once; equal to ``scipy.stats.spearmanr`` row by row. For the
    model-randomisation test (Adebayo et al. 2018), ``maps_b`` are the maps of a model fitted on
    :func:`randomised_labels`: low correlation = the map depends on what the model learnt.

    Parameters
    ----------
    maps_a, maps_b : array-like of shape (n_spectra, n_pixels)
    absolute : bool
        Rank ``|attribution|`` (Adebayo et al. report both).

    Returns
    -------
    ndarray of shape (n_spectra,)
        In [-1, 1]; NaN where a map is constant (no ranking).
    """
    a, b = _array_2d(maps_a, "maps_a"), _array_2d(maps_b, "maps_b")
    if a.shape != b.shape:
        raise ValueError(f"maps {a.shape} and {b.shape} do not match")
    if absolute:
        a, b = np.abs(a), np.abs(b)
    ra = rankdata(a, axis=1)
    rb = rankdata(b, axis=1)
    ra -= ra.mean(axis=1, keepdims=True)
    rb -= rb.mean(axis=1, keepdims=True)
    num = np.einsum("ij,ij->i", ra, rb)
    den = np.sqrt(np.einsum("ij,ij->i", ra, ra) * np.einsum("ij,ij->i", rb, rb))
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = num / den
    return np.clip(rho, -1.0, 1.0)


def _region(region_mask: Any, shape: tuple[int, int]) -> np.ndarray:
    m = np.asarray(region_mask)
    if m.dtype != bool:
        raise ValueError(f"region_mask must be boolean, got dtype {m.dtype}")
    if m.ndim == 1:
        m = m[None, :]
    if m.ndim != 2 or m.shape[1] != shape[1] or m.shape[0] not in (1, shape[0]):
        raise ValueError(f"region_mask must have shape ({shape[0]} or 1, {shape[1]}); got {np.shape(region_mask)}")
    return np.broadcast_to(m, shape)


def top_k_fraction(attributions: Any, region_mask: Any, k: int, *, absolute: bool = True) -> np.ndarray:
    """Share of each spectrum's k highest-``|attribution|`` pixels that lie inside a region.

    For planted-signal checks: the region is where a simulator put the feature that decides the
    class (e.g. the broad components); compare with :func:`region_chance_level`.

    Parameters
    ----------
    attributions : array-like of shape (n_spectra, n_pixels)
    region_mask : array-like of bool, shape (n_spectra, n_pixels), (1, n_pixels) or (n_pixels,)
    k : int
        1 … n_pixels. Ties are broken towards lower pixel indices.
    absolute : bool
        Rank by ``|attribution|`` (default) or by the signed value (highest first).

    Returns
    -------
    ndarray of shape (n_spectra,)
        In [0, 1].
    """
    a = _array_2d(attributions, "attributions")
    mask = _region(region_mask, a.shape)
    if isinstance(k, bool) or not isinstance(k, numbers.Integral) or not 1 <= k <= a.shape[1]:
        raise ValueError(f"k must be an integer in 1…{a.shape[1]}, got {k!r}")
    score = np.abs(a) if absolute else a
    top = np.argsort(-score, axis=1, kind="stable")[:, : int(k)]
    return np.take_along_axis(mask, top, axis=1).mean(axis=1)


def region_chance_level(region_mask: Any, n_spectra: int | None = None) -> np.ndarray:
    """Expected :func:`top_k_fraction` of a map unrelated to the region: region pixels / all pixels.

    Parameters
    ----------
    region_mask : array-like of bool, shape (n_spectra, n_pixels), (1, n_pixels) or (n_pixels,)
    n_spectra : int, optional
        Broadcast a single mask to this many spectra.

    Returns
    -------
    ndarray of shape (n_spectra,) (or (1,) for one mask and no ``n_spectra``)
    """
    m = np.asarray(region_mask)
    if m.ndim == 1:
        m = m[None, :]
    rows = m.shape[0] if n_spectra is None else int(n_spectra)
    return _region(m, (rows, m.shape[1])).mean(axis=1)


# --------------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------------


def _sem(values: np.ndarray) -> float:
    return float(np.std(values, ddof=1) / np.sqrt(values.size)) if values.size > 1 else float("nan")


def faithfulness_summary(
    predict_proba: PredictProba,
    flux: Any,
    attributions: Any,
    baseline: Any,
    target: Any,
    *,
    method: str,
    fractions: Any = DEFAULT_FRACTIONS,
    seeds: Iterable[int] = DEFAULT_SEEDS,
    randomised_maps: Any = None,
    randomised_rows: Any = None,
    region_mask: Any = None,
    region_rows: Any = None,
    top_k: int | None = None,
    curves: dict[str, np.ndarray] | None = None,
    random_curves: tuple[np.ndarray, np.ndarray] | None = None,
    order_curves: tuple[np.ndarray, np.ndarray] | None = None,
) -> dict[str, Any]:
    """One row of a faithfulness table (task × method): deletion, insertion, randomisation, planted signal.

    Parameters
    ----------
    predict_proba, flux, attributions, baseline, target, fractions
        As :func:`deletion_curves` (``fractions`` must start at 0 and end at 1).
    method : str
        Name of the attribution method (the row's key).
    seeds : iterable of int
        Seeds of the random-order reference (:func:`random_order_curves`).
    randomised_maps : array-like of shape (n_spectra, n_pixels), optional
        The same method's maps from a model fitted on :func:`randomised_labels`; gives
        ``randomisation_spearman`` (NaN without).
    randomised_rows : array-like of int, optional
        The spectra (rows of ``flux``) ``randomised_maps`` belongs to, when only a subset was
        checked; default every spectrum.
    region_mask : array-like of bool, optional
        Planted-signal region (see :func:`top_k_fraction`); gives ``top_k_fraction`` and
        ``top_k_chance`` (NaN without).
    region_rows : array-like of int or bool, optional
        The spectra ``region_mask`` describes (e.g. only those with a planted signal); default every spectrum.
    top_k : int, optional
        Pixels counted by :func:`top_k_fraction`; default: the region's mean pixel count (so a
        perfect map could score 1).
    curves : dict, optional
        Filled with the mean curves over spectra (for a figure): ``deletion``, ``insertion`` (n_fractions,)
        and ``random_deletion``, ``random_insertion`` (n_seeds, n_fractions).
    random_curves : (deletion, insertion) arrays of :func:`random_order_curves`, optional
        Random-order curves computed once for several methods (they do not depend on the map);
        computed here from ``seeds`` when absent.
    order_curves : (deletion, insertion) arrays of shape (n_spectra, n_fractions), optional
        This map's own curves when already known (another method ranked every pixel alike).

    Returns
    -------
    dict
        Keys and meanings of :data:`SUMMARY_COLUMNS` (plain Python numbers and str). Means are
        over spectra; ``*_random`` over seeds and spectra; ``*_random_std`` is the spread over
        seeds of the per-seed mean; a margin is method − random, with the standard error of the
        per-spectrum margins (each against the mean over seeds of its random orders).
    """
    f = _fractions(fractions)
    if f[0] != 0.0 or f[-1] != 1.0:
        raise ValueError("faithfulness_summary needs fractions from 0 to 1")
    x, b, t, a = _inputs(flux, baseline, target, attributions)
    assert a is not None
    seeds = list(seeds)
    if order_curves is None:
        ranks = attribution_ranks(a)
        order_curves = (
            _curves(predict_proba, x, b, t, ranks, f, insert=False),
            _curves(predict_proba, x, b, t, ranks, f, insert=True),
        )
    deletion, insertion = order_curves
    if random_curves is None:
        random_curves = (
            random_order_curves(predict_proba, x, b, t, f, seeds=seeds, kind="deletion"),
            random_order_curves(predict_proba, x, b, t, f, seeds=seeds, kind="insertion"),
        )
    random_deletion, random_insertion = random_curves
    if random_deletion.shape != (len(seeds), *x.shape[:1], f.size):
        raise ValueError(f"random_curves have shape {random_deletion.shape}, expected {(len(seeds), x.shape[0], f.size)}")

    if curves is not None:
        curves.update(
            deletion=deletion.mean(axis=0),
            insertion=insertion.mean(axis=0),
            random_deletion=random_deletion.mean(axis=1),
            random_insertion=random_insertion.mean(axis=1),
        )
    del_aopc, del_random = aopc(deletion), aopc(random_deletion)  # (n,), (n_seeds, n)
    ins_auc, ins_random = area_under_curve(insertion, f), area_under_curve(random_insertion, f)
    del_margin = del_aopc - del_random.mean(axis=0)
    ins_margin = ins_auc - ins_random.mean(axis=0)

    row: dict[str, Any] = {
        "method": str(method),
        "n_spectra": int(x.shape[0]),
        "n_fractions": int(f.size),
        "n_seeds": len(seeds),
        "p_unperturbed": float(deletion[:, 0].mean()),
        "p_baseline": float(deletion[:, -1].mean()),
        "deletion_aopc": float(del_aopc.mean()),
        "deletion_aopc_random": float(del_random.mean()),
        "deletion_aopc_random_std": float(del_random.mean(axis=1).std(ddof=1)) if len(seeds) > 1 else float("nan"),
        "deletion_margin": float(del_margin.mean()),
        "deletion_margin_sem": _sem(del_margin),
        "insertion_auc": float(ins_auc.mean()),
        "insertion_auc_random": float(ins_random.mean()),
        "insertion_auc_random_std": float(ins_random.mean(axis=1).std(ddof=1)) if len(seeds) > 1 else float("nan"),
        "insertion_margin": float(ins_margin.mean()),
        "insertion_margin_sem": _sem(ins_margin),
        "randomisation_spearman": float("nan"),
        "randomisation_spearman_abs": float("nan"),
        "top_k": 0,
        "top_k_fraction": float("nan"),
        "top_k_chance": float("nan"),
    }
    if randomised_maps is not None:
        checked = a if randomised_rows is None else a[np.asarray(randomised_rows)]
        row["randomisation_spearman"] = float(np.nanmean(rank_correlation(checked, randomised_maps)))
        row["randomisation_spearman_abs"] = float(np.nanmean(rank_correlation(checked, randomised_maps, absolute=True)))
    if region_mask is not None:
        planted = a if region_rows is None else a[np.asarray(region_rows)]
        chance = region_chance_level(region_mask, planted.shape[0])
        k = int(max(1, round(chance.mean() * x.shape[1]))) if top_k is None else top_k
        row["top_k"] = int(k)
        row["top_k_fraction"] = float(top_k_fraction(planted, region_mask, k).mean())
        row["top_k_chance"] = float(chance.mean())
    assert list(row) == list(SUMMARY_COLUMNS)
    return row
