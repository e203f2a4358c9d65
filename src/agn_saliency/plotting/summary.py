"""A picture of a whole predict run: what the sample is, whatever its size (one figure, fixed layout)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from agn_saliency.plotting.style import CLASS_COLOURS, CLASS_TITLES, house_style, save

VERDICT_ORDER = ("classified", "uncertain", "ood", "not_agn", "rejected")

MAX_BPT_POINTS = 300
"""Up to this many spectra the BPT panel shows each as a point; more, as a density of log counts."""


def _number(value: Any) -> float:
    """A table cell as a float (NaN when empty or not a number)."""
    try:
        return float(value) if value not in ("", None) else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _column(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([_number(row.get(name, "")) for row in rows], dtype=float)


def redshift_bin_edges(z: np.ndarray, max_bins: int = 8, per_bin: int = 5) -> np.ndarray:
    """Edges of redshift bins of about equal counts for the class fractions of a predict run.

    Aims at ``per_bin`` spectra per bin (fractions of fewer are mostly 0 or 1) but never fewer than
    three bins while there are three distinct redshifts, and never more than ``max_bins``: a run of
    a handful of spectra still shows a trend. Bins are filled in order of z up to equal shares of
    the count; spectra of the same z never straddle an edge (edges lie half-way between adjacent
    distinct redshifts), so every bin holds at least one spectrum.

    Parameters
    ----------
    z : ndarray
        Redshifts; NaN (no redshift) ignored.
    max_bins
        Most bins.
    per_bin
        Spectra per bin aimed at in a large sample.

    Returns
    -------
    ndarray
        Increasing edges (bin ``i`` is ``[edges[i], edges[i+1])``, the last closed); empty without a
        finite redshift; two edges 0.005 either side when every redshift is the same.
    """
    if max_bins < 1 or per_bin < 1:
        raise ValueError(f"max_bins and per_bin must be at least 1, got {max_bins} and {per_bin}")
    z = np.asarray(z, dtype=float)
    z = z[np.isfinite(z)]
    if not len(z):
        return np.array([])
    values, counts = np.unique(z, return_counts=True)
    if len(values) == 1:
        return np.array([values[0] - 0.005, values[0] + 0.005])
    n_bins = min(max_bins, len(values), max(3, len(z) // per_bin))
    share = len(z) / n_bins
    edges = [float(values[0])]
    for k, filled in enumerate(np.cumsum(counts)[:-1]):
        if filled >= share * len(edges) and len(edges) < n_bins:
            edges.append(float(values[k] + values[k + 1]) / 2)
    edges.append(float(values[-1]))
    return np.array(edges)


def _spectra(n: int) -> str:
    """``n`` with the noun: "1 spectrum", "14 spectra"."""
    return f"{n} spectrum" if n == 1 else f"{n} spectra"


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.4",
            bbox={"fc": "white", "ec": "none", "alpha": 0.9})  # fmt: skip


@house_style
def plot_predict_summary(
    rows: Sequence[Mapping[str, Any]],
    path: str,
    title: str,
    *,
    ood_threshold: float | None = None,
    low_confidence_p_max: float | None = None,
    n_z_bins: int = 8,
) -> None:
    """Four panels on a predicted sample (the rows of predictions.ecsv, text as read back):

    * the predicted class fractions of the ``classified`` spectra in bins of redshift (about equal
      counts per bin, at most ``n_z_bins``: :func:`redshift_bin_edges`; each bin's count above it;
      a note when they all fall in one bin);
    * the BPT diagram of every spectrum with both narrow-line ratios (points up to
      :data:`MAX_BPT_POINTS`, else their density in log counts), with the Kewley et al. 2001 and
      Kauffmann et al. 2003 lines;
    * the distribution of ``ood_score`` of the reduced spectra, with the threshold above which a
      spectrum is out of distribution (``ood_threshold``);
    * the histogram of ``p_max`` (the confidence) of the reduced spectra, with
      ``low_confidence_p_max``.

    The figure's size and its number of artists do not grow with the sample.
    """
    from agn_saliency.spectra.gate import kauffmann_2003, kewley_2001

    fig = Figure(figsize=(11, 8.2), layout="constrained")
    (ax_z, ax_bpt), (ax_ood, ax_conf) = fig.subplots(2, 2)
    verdicts = Counter(str(row.get("verdict", "")) for row in rows)

    # class fractions against z
    classified = [row for row in rows if row.get("verdict") == "classified"]
    z = _column(classified, "z")
    classes = [c for c in CLASS_COLOURS if any(row.get("predicted") == c for row in classified)]
    classes += sorted({str(row.get("predicted")) for row in classified} - set(classes))
    finite = np.isfinite(z)
    edges = redshift_bin_edges(z, n_z_bins)
    if len(edges):
        which = np.clip(np.searchsorted(edges, z, side="right") - 1, 0, len(edges) - 2)
        predicted = np.array([str(row.get("predicted")) for row in classified])
        counts = np.array([[np.sum((which == b) & finite & (predicted == c)) for b in range(len(edges) - 1)] for c in classes])
        totals = counts.sum(axis=0)
        fractions = counts / np.maximum(totals, 1)
        lefts, widths = edges[:-1], np.diff(edges)
        bottom = np.zeros(len(lefts))
        for c, fraction in zip(classes, fractions):
            ax_z.bar(lefts, fraction, widths, bottom=bottom, align="edge", color=CLASS_COLOURS.get(c, "0.6"),
                     edgecolor="w", lw=0.6, label=CLASS_TITLES.get(c, c))  # fmt: skip
            bottom += fraction
        for left, width, total in zip(lefts, widths, totals):
            ax_z.text(left + width / 2, 1.01, str(int(total)), ha="center", va="bottom", fontsize=8, color="0.3")
        ax_z.set_xlim(edges[0], edges[-1])
        ax_z.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=max(1, len(classes)), fontsize=8, frameon=False)
        n_z = int(finite.sum())
        if len(edges) == 2:  # one bin: say why there is no trend to read
            why = f"{n_z} spectrum" if n_z == 1 else f"all {n_z} spectra"
            ax_z.text(0.5, 0.5, f"one bin: {why} at z = {z[finite].min():.4g}", transform=ax_z.transAxes, ha="center", va="center", fontsize=9,
                      bbox={"fc": "white", "ec": "0.6", "alpha": 0.9})  # fmt: skip
    else:
        _empty(ax_z, "no classified spectrum with a redshift")
    ax_z.set_ylim(0, 1.12)
    ax_z.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax_z.set_xlabel("Redshift z (bins of about equal counts)")
    ax_z.set_ylabel("Fraction of classified spectra")
    ax_z.set_title(f"Predicted class against z ({len(classified)} classified; count per bin on top)", fontsize=10)
    # BPT density
    x, y = _column(rows, "log_nii_halpha"), _column(rows, "log_oiii_hbeta")
    placed = np.isfinite(x) & np.isfinite(y)
    if 0 < placed.sum() <= MAX_BPT_POINTS:  # a handful: points read better than single-count cells of a density
        ax_bpt.scatter(x[placed], y[placed], s=18, color="#440154", lw=0, zorder=3, label="spectrum")
    elif placed.any():
        counts, _, _ = np.histogram2d(x[placed], y[placed], bins=(60, 56), range=((-2.2, 0.8), (-1.3, 1.5)))
        norm = LogNorm(vmin=1, vmax=max(10.0, float(counts.max())))
        _, _, _, image = ax_bpt.hist2d(
            x[placed], y[placed], bins=(60, 56), range=((-2.2, 0.8), (-1.3, 1.5)), cmap="viridis", norm=norm, cmin=1
        )
        fig.colorbar(image, ax=ax_bpt, label="Spectra per cell", pad=0.01)
    else:
        _empty(ax_bpt, "no spectrum with both line ratios")
    line_x = np.linspace(-2.2, 0.4, 300)
    ax_bpt.plot(line_x, kewley_2001(line_x), "k-", lw=1.2, label="Kewley+01")
    ax_bpt.plot(line_x[line_x < 0], kauffmann_2003(line_x[line_x < 0]), "k--", lw=1.2, label="Kauffmann+03")
    ax_bpt.set_xlim(-2.2, 0.8)
    ax_bpt.set_ylim(-1.3, 1.5)
    ax_bpt.set_xlabel("log [NII] 6585 / Hα")
    ax_bpt.set_ylabel("log [OIII] 5008 / Hβ")
    ax_bpt.legend(loc="lower left", fontsize=8)
    kind = "diagram" if placed.sum() <= MAX_BPT_POINTS else "density"
    ax_bpt.set_title(f"BPT {kind} ({int(placed.sum())} of {_spectra(len(rows))} with both ratios)", fontsize=10)

    # OOD scores
    reduced = [row for row in rows if row.get("status") != "rejected"]
    scores = _column(reduced, "ood_score")
    scores = scores[np.isfinite(scores)]
    if len(scores):
        low_end = min(float(scores.min()), ood_threshold if ood_threshold is not None else np.inf)
        high_end = max(float(scores.max()), ood_threshold if ood_threshold is not None else -np.inf)
        if low_end > 0 and high_end / low_end > 30:  # far outliers: a log axis keeps the bulk readable
            bins = np.geomspace(low_end, high_end, 41)
            ax_ood.set_xscale("log")
        else:
            bins = np.linspace(low_end, high_end, 41) if high_end > low_end else 10
        ax_ood.hist(scores, bins=bins, color="0.45")
        if ood_threshold is not None:
            above = int(np.sum(scores > ood_threshold))
            ax_ood.axvline(ood_threshold, color="#d62728", lw=1.5, label=f"threshold {ood_threshold:.3g}: {above} above")
            ax_ood.legend(loc="upper right", fontsize=8)
    else:
        _empty(ax_ood, "no reduced spectrum")
    ax_ood.set_xlabel("OOD score (RMS distance to the k-th nearest training spectrum)")
    ax_ood.set_ylabel("Spectra")
    ax_ood.set_title("Out-of-distribution score", fontsize=10)

    # confidence
    p_max = _column(reduced, "p_max")
    p_max = p_max[np.isfinite(p_max)]
    if len(p_max):
        ax_conf.hist(p_max, bins=np.linspace(0, 1, 41), color="0.45")
        if low_confidence_p_max is not None:
            low = int(np.sum(p_max < low_confidence_p_max))
            ax_conf.axvline(
                low_confidence_p_max, color="#ff7f0e", lw=1.5, label=f"low confidence below {low_confidence_p_max:g}: {low}"
            )
            ax_conf.legend(loc="upper left", fontsize=8)
    else:
        _empty(ax_conf, "no classified spectrum")
    ax_conf.set_xlim(0, 1)
    ax_conf.set_xlabel("Highest class probability p_max")
    ax_conf.set_ylabel("Spectra")
    ax_conf.set_title("Confidence", fontsize=10)

    for ax in (ax_ood, ax_conf):
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    summary = ", ".join(f"{verdicts[v]} {v}" for v in VERDICT_ORDER if verdicts[v])
    fig.suptitle(f"{title}: {_spectra(len(rows))} ({summary})" if rows else f"{title}: no spectrum")
    save(fig, path)
