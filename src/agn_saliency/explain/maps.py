"""Saliency results of a task: storage, the choice of spectra to plot, and where saliency sits.

``results/saliency/{task}.h5`` holds, for every test spectrum (rows) and class (``class_names``,
display order: type 1, type 2, intermediate — :mod:`agn_saliency.core.vocabulary`): ``specid``, ``true_label``, ``predicted_label``,
``probabilities`` (N × K), ``saliency`` (N × K × P, ∂p_k/∂flux), ``flux`` (N × P, the input) and
``wavelength`` (P, Å); and one N × K × P map per attribution method of ``explain.methods`` under
``attributions/<method>`` (:func:`agn_saliency.explain.saliency.attribute`), with ``completeness`` (N, the
integrated-gradients completeness error) when that method ran. Results of ``snakemake predict``
add ``file`` (the path of each row's FITS file) and ``key`` (the unique name its figure is saved
under), and the folder as an attribute. ``survey`` (sdss, sdss5, desi: :mod:`agn_saliency.core.identity`)
says each row's survey; task results hold survey-qualified ``specid`` (SDSS ids as they are,
``desi-<TARGETID>``), predict results the survey's own id. A file written before surveys were
recorded has no ``survey``: its rows are SDSS.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from agn_saliency.core.files import atomic_output
from agn_saliency.core.identity import DEFAULT_SURVEY, qualified_id, split_qualified_id
from agn_saliency.core.lines import line_windows
from agn_saliency.core.logs import progress
from agn_saliency.io.tables import as_bool

STRING = h5py.string_dtype("utf-8")

ATTRIBUTION_DESCRIPTIONS = {
    "gradient": "d p_k / d flux (the paper's saliency)",
    "logit_gradient": "d log(p_k / (1 - p_k)) / d flux (does not saturate)",
    "gradient_x_input": "flux * d p_k / d flux",
    "integrated_gradients": "integrated gradients from the training mean spectrum (pixels sum to p_k(x) - p_k(mean))",
    "smoothgrad": "mean of d p_k / d flux over Gaussian-noised copies of the spectrum (seeded)",
}
"""What each map of ``attributions/`` is (file attribute ``description``)."""


@dataclass
class SaliencyResult:
    """Saliency maps and predictions of a task's test spectra.

    ``file`` and ``key`` are optional per-row texts (None when absent): the FITS file each row was
    read from and a unique key naming its artefacts — two files may hold the same ``specid``.
    """

    specid: np.ndarray
    true_label: np.ndarray
    predicted_label: np.ndarray
    probabilities: np.ndarray
    saliency: np.ndarray
    flux: np.ndarray
    wavelength: np.ndarray
    class_names: list[str]
    file: np.ndarray | None = None
    key: np.ndarray | None = None
    attributions: dict[str, np.ndarray] = field(default_factory=dict)
    completeness: np.ndarray | None = None
    survey: np.ndarray | None = None

    def __post_init__(self) -> None:
        for name in ("file", "key", "completeness", "survey"):
            value = getattr(self, name)
            if value is not None and len(value) != len(self.specid):
                raise ValueError(f"{name} has {len(value)} rows, specid {len(self.specid)}")
        for method, maps in self.attributions.items():
            if maps.shape != self.saliency.shape:
                raise ValueError(f"attributions/{method} has shape {maps.shape}, saliency {self.saliency.shape}")

    @property
    def predicted_index(self) -> np.ndarray:
        return np.array([self.class_names.index(p) for p in self.predicted_label], dtype=int)

    def predicted_map(self, method: str = "gradient") -> np.ndarray:
        """(N, P) map of each spectrum's predicted class by ``method`` (default the paper's ∂p/∂flux)."""
        maps = self.saliency if method == "gradient" and method not in self.attributions else self.attributions[method]
        return maps[np.arange(len(self.specid)), self.predicted_index]

    @property
    def methods(self) -> list[str]:
        """The attribution methods held, in the order they were asked for (``gradient`` at least)."""
        return list(self.attributions) or ["gradient"]


def check_smoothing(pixels: int, n_pixels: int) -> None:
    """A running mean over ``pixels`` must fit in a map of ``n_pixels`` (``ValueError`` otherwise).

    ``np.convolve(mode="same")`` with a kernel longer than the map returns the kernel's length, not
    the map's, so a wider mean cannot be drawn against the spectrum.
    """
    if pixels > n_pixels:
        raise ValueError(f"a running mean over {pixels} px does not fit in a map of {n_pixels} px")


def attribution_options(explain_config: Mapping[str, Any], seed: int) -> dict[str, dict[str, Any]]:
    """Keyword options of :func:`agn_saliency.explain.saliency.attribute` for each method of ``explain.methods``.

    ``integrated_gradients`` takes ``explain.integrated_gradients`` (``n_steps``, ``tolerance``);
    ``smoothgrad`` takes ``explain.smoothgrad`` (``n_samples``, ``noise``) and the run's seed.
    """
    options: dict[str, dict[str, Any]] = {}
    for method in explain_config["methods"]:
        if method == "integrated_gradients":
            options[method] = dict(explain_config.get("integrated_gradients", {}))
        elif method == "smoothgrad":
            options[method] = {**explain_config.get("smoothgrad", {}), "seed": seed}
        else:
            options[method] = {}
    return options


@dataclass(frozen=True)
class ExplainedSpectra:
    """What :func:`explain_batch` computes of a batch of spectra (classes in the display order asked for)."""

    probabilities: np.ndarray
    """(N, K)."""
    gradient: np.ndarray
    """(N, K, P), ∂p_k/∂flux (the paper's saliency)."""
    attributions: dict[str, np.ndarray]
    """Method → (N, K, P)."""
    completeness: np.ndarray | None
    """(N,) integrated-gradients completeness error, or None when that method is not asked for."""
    model: Any
    """The :class:`agn_saliency.explain.saliency.SmoothModel` the maps were computed with."""
    decisions: tuple[np.ndarray, ...]
    """Each member's decision values (N, n_decisions) (:func:`agn_saliency.predict.ood.kernel_underflow`)."""
    support_distances: np.ndarray | None = None
    """(N, n_sv) squared distances of each spectrum to the support vectors in the model's scaled space,
    when asked for and the model is one kernel member (:func:`agn_saliency.predict.ood.ood_scores_near_support`)."""


_ONE_PASS_METHODS = {"gradient": "probability", "logit_gradient": "log_odds", "gradient_x_input": "probability"}
"""Methods whose maps come out of the pass that computes the probabilities (one kernel matrix a
chunk for all of them, :func:`agn_saliency.explain.saliency.gradients._gradients_of_outputs`), with
the output each needs."""


def explain_batch(
    model: Any,
    flux: np.ndarray,
    class_names: Sequence[str],
    methods: Mapping[str, Mapping[str, Any]],
    single_precision: Collection[str] = (),
    support_distances: bool = False,
) -> ExplainedSpectra:
    """:func:`explain_spectra`, with the model's decision values and its smooth form, and (``support_distances``,
    a model of one kernel member) each spectrum's squared distances to the support vectors, from the
    kernel's own matrix product.

    ``gradient``, ``logit_gradient`` (a model of one calibrated member) and ``gradient_x_input`` in
    double precision with the default chunks are computed in the pass that gives the probabilities,
    each chunk's kernel matrix against the support vectors formed once for all of them (the same
    numbers as :func:`agn_saliency.explain.saliency.attribute` gives each: the same operations on
    the same chunks); the other methods by ``attribute``.
    """
    from agn_saliency.explain.saliency import attribute, check_flux, completeness_error, training_mean
    from agn_saliency.explain.saliency.gradients import _gradients_of_outputs
    from agn_saliency.explain.saliency.model import smooth_model_of

    model_classes = [str(c) for c in model.classes_]
    if sorted(model_classes) != sorted(class_names):
        raise ValueError(f"the model's classes {model_classes} are not {list(class_names)}")
    order = [model_classes.index(c) for c in class_names]
    sm = smooth_model_of(model)  # the same model chunk after chunk: reduced once
    n_pixels = flux.shape[1]
    if not len(flux):
        empty = np.zeros((0, len(order), n_pixels))
        return ExplainedSpectra(
            np.zeros((0, len(order))),
            empty,
            {m: empty for m in methods},
            np.zeros(0) if "integrated_gradients" in methods else None,
            sm,
            tuple(np.zeros((0, member.decisions.intercept.size)) for member in sm.members),
        )

    def one_pass(method: str) -> bool:
        options = methods[method]
        return (
            method in _ONE_PASS_METHODS
            and method not in single_precision
            and options.get("chunk_size") is None
            and (method != "logit_gradient" or len(sm.members) == 1)
        )

    x = check_flux(flux, sm.offset.size)
    outputs = dict.fromkeys(["probability", *(_ONE_PASS_METHODS[m] for m in methods if one_pass(m))])
    one_kernel = len(sm.members) == 1 and sm.members[0].decisions.support_vectors is not None
    distances = np.empty((len(x), sm.members[0].decisions.n_support)) if support_distances and one_kernel else None
    probabilities, pass_maps, decisions = _gradients_of_outputs(sm, x, tuple(outputs), distances=distances)
    gradient = pass_maps["probability"]
    maps, completeness = {}, None
    # each method can take tens of seconds on a test set: the log says which one the job is at
    for method, options in progress(methods.items(), "attribution methods computed", total=len(methods), every_s=0):
        precision = "single" if method in single_precision else "double"
        if method == "gradient":  # the probabilities' own gradient, in double precision whatever single_precision says
            maps[method] = gradient
        elif method == "gradient_x_input" and one_pass(method):
            # attribute's own product (∂p/∂x · x, x as float64), bit for bit, without the gradient computed again
            maps[method] = gradient * x[:, None, :]
        elif one_pass(method):
            maps[method] = pass_maps[_ONE_PASS_METHODS[method]]
        else:
            maps[method] = attribute(model, flux, method, precision=precision, **options)
        if method == "integrated_gradients":
            completeness = completeness_error(model, flux, maps[method], training_mean(model))
    gradient = gradient[:, order]
    # the gradient map is the gradient: one reordered copy for both (a writer casts it to float32 once)
    attributions = {m: gradient if a is pass_maps["probability"] and m == "gradient" else a[:, order] for m, a in maps.items()}
    return ExplainedSpectra(probabilities[:, order], gradient, attributions, completeness, sm, decisions, distances)


def explain_spectra(
    model: Any,
    flux: np.ndarray,
    class_names: Sequence[str],
    methods: Mapping[str, Mapping[str, Any]],
    single_precision: Collection[str] = (),
) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray], np.ndarray | None]:
    """Probabilities and maps of every method, classes reordered from ``model.classes_`` to ``class_names``.

    Parameters
    ----------
    model
        A fitted pipeline (see :func:`agn_saliency.explain.saliency.smooth_model`).
    flux : ndarray of shape (N, P)
    class_names
        The display order of the classes (a subset-free reordering of ``model.classes_``).
    methods
        Method → options of :func:`agn_saliency.explain.saliency.attribute` (:func:`attribution_options`).
    single_precision
        Methods computed with ``attribute(..., precision="single")`` (kernel matrices in float32);
        the probabilities and the ``gradient`` returned with them stay double precision.

    Returns
    -------
    probabilities : (N, K)
    gradient : (N, K, P), ∂p_k/∂flux (the paper's saliency)
    attributions : method → (N, K, P)
    completeness : (N,) integrated-gradients completeness error, or None when that method is not asked for
    """
    explained = explain_batch(model, flux, class_names, methods, single_precision)
    return explained.probabilities, explained.gradient, explained.attributions, explained.completeness


def write_saliency(
    path: str | os.PathLike[str], result: SaliencyResult, attrs: Mapping[str, str] | None = None, chunk_per_spectrum: bool = False
) -> None:
    """Write a :class:`SaliencyResult` (atomic; maps as float32).

    Parameters
    ----------
    attrs
        Extra file attributes (provenance such as the folder the spectra came from).
    chunk_per_spectrum
        Store the maps and fluxes in HDF5 chunks of one spectrum, so that reading one spectrum's
        maps from a survey-sized file reads only its chunks (predict's merged file).
    """
    survey = result.survey
    if survey is None:  # task results: the survey is in the qualified id
        survey = np.array([split_qualified_id(s)[0] for s in result.specid], dtype=object)
    n = len(result.specid)
    chunked = {"chunks": (1, *result.saliency.shape[1:])} if chunk_per_spectrum and n else {}
    chunked_flux = {"chunks": (1, result.flux.shape[1])} if chunk_per_spectrum and n else {}
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        for name in ("specid", "true_label", "predicted_label", "file", "key"):
            if getattr(result, name) is not None:
                handle.create_dataset(name, data=np.asarray(getattr(result, name)).astype(str).astype(object), dtype=STRING)
        handle.create_dataset("survey", data=np.asarray(survey).astype(str).astype(object), dtype=STRING)
        handle.create_dataset("probabilities", data=result.probabilities)
        # Uncompressed: float32 maps do not compress (gzip kept 95 % of the bytes) and every reader paid for it.
        handle.create_dataset("saliency", data=result.saliency.astype(np.float32), **chunked)
        handle.create_dataset("flux", data=result.flux.astype(np.float32), **chunked_flux)
        handle.create_dataset("wavelength", data=result.wavelength).attrs["unit"] = "Angstrom"
        handle["saliency"].attrs.update({"unit": "", "description": "d probability / d normalised flux (both dimensionless)"})
        for method, maps in result.attributions.items():
            handle.create_dataset(f"attributions/{method}", data=maps.astype(np.float32), **chunked).attrs.update(
                {"unit": "", "description": ATTRIBUTION_DESCRIPTIONS.get(method, method)}
            )
        handle.attrs["methods"] = list(result.attributions)  # the asked order (HDF5 groups list names alphabetically)
        if result.completeness is not None:
            handle.create_dataset("completeness", data=result.completeness).attrs["description"] = (
                "integrated gradients: max over classes of |sum of pixels - (p(x) - p(baseline))| / max_k |p_k(x) - p_k(baseline)|"
            )
        handle.attrs["class_names"] = list(result.class_names)
        for name, value in (attrs or {}).items():
            handle.attrs[name] = value


def read_saliency(path: str | os.PathLike[str]) -> SaliencyResult:
    """Read a file written by :func:`write_saliency`."""
    with h5py.File(path, "r") as handle:
        return SaliencyResult(
            specid=handle["specid"].asstr()[()],
            true_label=handle["true_label"].asstr()[()],
            predicted_label=handle["predicted_label"].asstr()[()],
            probabilities=handle["probabilities"][()],
            saliency=handle["saliency"][()],
            flux=handle["flux"][()],
            wavelength=handle["wavelength"][()],
            class_names=[str(c) for c in handle.attrs["class_names"]],
            file=handle["file"].asstr()[()] if "file" in handle else None,
            key=handle["key"].asstr()[()] if "key" in handle else None,
            attributions={str(name): handle[f"attributions/{name}"][()] for name in handle.attrs.get("methods", [])},
            completeness=handle["completeness"][()] if "completeness" in handle else None,
            survey=handle["survey"].asstr()[()] if "survey" in handle else None,  # absent: written before surveys (sdss)
        )


def select_explained(
    true_label: np.ndarray, predicted_label: np.ndarray, n_random_per_class: int, seed: int
) -> list[tuple[int, str]]:
    """Rows to plot: every misclassified spectrum, plus up to ``n_random_per_class`` random
    correctly classified ones of each true class (seeded). Returns (row, why) sorted by row."""
    rng = np.random.default_rng(seed)
    wrong = np.flatnonzero(true_label != predicted_label)
    chosen = [(int(i), "misclassified") for i in wrong]
    for name in sorted(set(true_label)):
        correct = np.flatnonzero((true_label == name) & (true_label == predicted_label))
        picks = rng.choice(correct, size=min(n_random_per_class, len(correct)), replace=False) if len(correct) else []
        chosen += [(int(i), "random") for i in picks]
    return sorted(chosen)


REGIONS = ("narrow_core", "broad_wing", "feii", "lines", "continuum")


def region_masks(wavelength: np.ndarray) -> dict[str, np.ndarray]:
    """Pixel masks of the line windows (:func:`agn_saliency.core.lines.line_windows`) on a grid.

    ``lines`` is the union of narrow cores and broad wings; ``continuum`` every other pixel
    outside the FeII blends too.
    """
    windows = line_windows(float(wavelength[0]), float(wavelength[-1]))
    masks = {}
    for kind, spans in windows.items():
        mask = np.zeros(len(wavelength), bool)
        for lo, hi in spans:
            mask |= (wavelength >= lo) & (wavelength <= hi)
        masks[kind] = mask
    masks["lines"] = masks["narrow_core"] | masks["broad_wing"]
    masks["continuum"] = ~(masks["lines"] | masks["feii"])
    return masks


def line_shares(result: SaliencyResult) -> list[dict[str, object]]:
    """Per true class and region: the mean share of the predicted class's ``|saliency|`` inside the
    region, the share of pixels the region covers, and their ratio (enrichment; 1 = no preference)."""
    masks = region_masks(result.wavelength)
    magnitude = np.abs(result.predicted_map())
    total = magnitude.sum(axis=1)
    total[total == 0] = 1.0
    rows = []
    for name in result.class_names:
        members = result.true_label == name
        if not members.any():
            continue
        for region in REGIONS:
            share = float((magnitude[members][:, masks[region]].sum(axis=1) / total[members]).mean())
            pixel_share = float(masks[region].mean())
            rows.append(
                {
                    "class": name,
                    "region": region,
                    "saliency_share": round(share, 6),
                    "pixel_share": round(pixel_share, 6),
                    "enrichment": round(share / pixel_share, 4) if pixel_share else float("nan"),
                    "n_spectra": int(members.sum()),
                }
            )
    return rows


def evaluate_faithfulness(
    model: Any,
    train_flux: np.ndarray,
    train_label: np.ndarray,
    result: SaliencyResult,
    methods: Mapping[str, Mapping[str, Any]],
    *,
    steps: int,
    random_orders: int,
    seed: int,
    truth_rows: Sequence[Mapping[str, Any]] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Faithfulness of every method's maps of the predicted class (:mod:`agn_saliency.explain.faithfulness`).

    Deletion and insertion curves (pixels replaced by / restored from the spectrum's local
    continuum in the map's order, ``steps`` steps) against ``random_orders`` random orders; the
    model-randomisation check (the same method's maps from ``model`` refitted on permuted
    labels of :data:`RANDOMISATION_TRAIN_ROWS` training rows, Spearman correlation with the real
    maps of :data:`RANDOMISATION_SPECTRA` test spectra; seeded subsets); and, given the simulator's truth,
    the share of each broad-line spectrum's top-k pixels inside its planted broad-line cores
    (±1 FWHM) against the share of pixels those cores cover (chance).

    Returns
    -------
    table
        One row per method (:data:`agn_saliency.explain.faithfulness.SUMMARY_COLUMNS`).
    curves
        Mean curves, long form: ``method`` (``random`` for the random orders), ``curve``
        (deletion / insertion), ``fraction``, ``p_mean``, ``p_std`` (spread over random orders).
    """
    from sklearn.base import clone

    from agn_saliency.explain.faithfulness import (
        attribution_ranks,
        deletion_curves,
        faithfulness_summary,
        insertion_curves,
        local_continuum,
        random_order_curves,
        randomised_labels,
    )
    from agn_saliency.explain.saliency import attribute, probabilities, smooth_model

    model_classes = [str(c) for c in model.classes_]
    target = np.array([model_classes.index(label) for label in result.predicted_label], dtype=int)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    seeds = [seed + i for i in range(random_orders)]
    baseline = local_continuum(result.flux, result.wavelength)
    fast = smooth_model(model)  # support vectors only: hundreds of predict_proba calls follow

    # The kernel in float32: half the time of the hundreds of calls below, probabilities within 1e-4
    # (measured on the embedded sample: 8e-5 at most), against AOPC standard errors near 0.01.
    def single(flux: np.ndarray) -> np.ndarray:
        return probabilities(fast, flux, precision="single")

    # Every curve starts and ends at the spectra themselves or at their continuum, and the curves
    # pass those very arrays: their probabilities are computed once, not once per curve.
    ends = [(result.flux, single(result.flux)), (baseline, single(baseline))]
    for _, proba in ends:
        proba.flags.writeable = False

    def predict_proba(flux: np.ndarray) -> np.ndarray:
        for array, proba in ends:
            if flux is array:
                return proba
        return single(flux)

    random_curves = tuple(
        random_order_curves(predict_proba, result.flux, baseline, target, fractions, seeds=seeds, kind=kind)
        for kind in ("deletion", "insertion")
    )
    # The sanity check needs a model of the same kind fitted on permuted labels, not the best such
    # model: a seeded subset of the training rows and of the test spectra keeps it cheap.
    rng = np.random.default_rng(seed)
    fit_rows = np.sort(rng.permutation(len(train_label))[:RANDOMISATION_TRAIN_ROWS])
    checked = np.sort(rng.permutation(len(result.specid))[:RANDOMISATION_SPECTRA])
    randomised = clone(model).fit(train_flux[fit_rows], randomised_labels(np.asarray(train_label)[fit_rows], seed))
    broad, mask = _planted_broad_lines(result, truth_rows)
    table, curves = [], []
    curves_of_order: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}
    for method, options in methods.items():
        maps = result.predicted_map(method)
        randomised_maps = attribute(randomised, result.flux[checked], method, **_quick(method, options))
        randomised_maps = randomised_maps[np.arange(len(checked)), target[checked]]
        mean_curves: dict[str, np.ndarray] = {}
        # Methods that rank every pixel alike (∂ log-odds is ∂p times a per-spectrum factor) have the same curves.
        order = hashlib.blake2b(attribution_ranks(maps).tobytes(), digest_size=16).digest()
        if order not in curves_of_order:
            curves_of_order[order] = tuple(
                along(predict_proba, result.flux, maps, baseline, target, fractions)
                for along in (deletion_curves, insertion_curves)
            )
        row = faithfulness_summary(
            predict_proba,
            result.flux,
            maps,
            baseline,
            target,
            method=method,
            fractions=fractions,
            seeds=seeds,
            randomised_maps=randomised_maps,
            randomised_rows=checked,
            region_mask=mask,
            region_rows=broad,
            curves=mean_curves,
            random_curves=random_curves,
            order_curves=curves_of_order[order],
        )
        table.append(row)
        for curve in ("deletion", "insertion"):
            curves += [
                {"method": method, "curve": curve, "fraction": f, "p_mean": p, "p_std": 0.0}
                for f, p in zip(fractions, mean_curves[curve])
            ]
    for curve, random in zip(("deletion", "insertion"), random_curves):
        per_order = random.mean(axis=1)  # (orders, fractions)
        curves += [
            {"method": "random", "curve": curve, "fraction": f, "p_mean": m, "p_std": sd}
            for f, m, sd in zip(fractions, per_order.mean(axis=0), per_order.std(axis=0))
        ]
    return table, curves


RANDOMISATION_TRAIN_ROWS = 600
"""Training rows (seeded subset) the model-randomisation check refits the model on, with permuted labels."""
RANDOMISATION_SPECTRA = 200
"""Test spectra (seeded subset) whose maps of the randomised model are compared with the real ones."""


def _quick(method: str, options: Mapping[str, Any]) -> dict[str, Any]:
    """Options for the randomised model's maps: integrated gradients at their node count, without refinement
    (the check compares rankings, which need no 1e-6 completeness)."""
    return {**options, "tolerance": float("inf")} if method == "integrated_gradients" else dict(options)


def _planted_broad_lines(
    result: SaliencyResult, truth_rows: Sequence[Mapping[str, Any]] | None
) -> tuple[np.ndarray, np.ndarray | None]:
    """Which test spectra have planted broad lines, and the masks of their cores on the grid (None without truth)."""
    if not truth_rows:
        return np.zeros(len(result.specid), bool), None
    import math

    from agn_saliency.acquire.simulate import broad_component_mask

    by_id = {qualified_id(str(row.get("survey") or DEFAULT_SURVEY), str(row["specid"])): row for row in truth_rows}
    missing = [s for s in result.specid if s not in by_id]
    if missing:
        raise ValueError(f"{len(missing)} test spectra have no simulator truth (first: {missing[0]})")
    rows = [by_id[s] for s in result.specid]
    broad = np.array([as_bool(row["has_broad"], "has_broad") for row in rows], dtype=bool)
    if not broad.any():
        return broad, None
    cores = broad_component_mask([row for row, b in zip(rows, broad) if b], result.wavelength, wing_min_fraction=math.inf)
    return broad, cores
