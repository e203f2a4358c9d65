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


def _number(value: Any) -> float:
    """A table cell as a float (NaN when empty or not a number)."""
    try:
        return float(value) if value not in ("", None) else float("nan")
    except (TypeError, ValueError):
        return float("nan")


def _column(rows: Sequence[Mapping[str, Any]], name: str) -> np.ndarray:
    return np.array([_number(row.get(name, "")) for row in rows], dtype=float)


def _empty(ax: Any, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, fontsize=9, color="0.4")


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

    * the predicted class fractions of the ``classified`` spectra in bins of redshift (equal
      counts per bin, at most ``n_z_bins``; each bin's count above it);
    * the BPT diagram's density of every spectrum with both narrow-line ratios (log counts), with
      the Kewley et al. 2001 and Kauffmann et al. 2003 lines;
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
    if finite.sum():
        n_bins = int(max(1, min(n_z_bins, finite.sum() // 5 or 1)))
        edges = np.unique(np.quantile(z[finite], np.linspace(0, 1, n_bins + 1)))
        if len(edges) < 2:
            edges = np.array([z[finite].min() - 0.005, z[finite].max() + 0.005])
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
            ax_z.text(left + width / 2, 1.01, str(int(total)), ha="center", va="bottom", fontsize=7, color="0.3")
        ax_z.set_xlim(edges[0], edges[-1])
        ax_z.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=max(1, len(classes)), fontsize=8, frameon=False)
    else:
        _empty(ax_z, "no classified spectrum with a redshift")
    ax_z.set_ylim(0, 1.12)
    ax_z.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax_z.set_xlabel("Redshift z (bins of equal counts)")
    ax_z.set_ylabel("Fraction of classified spectra")
    ax_z.set_title(f"Predicted class against z ({len(classified)} classified; count per bin on top)", fontsize=10)

    # BPT density
    x, y = _column(rows, "log_nii_halpha"), _column(rows, "log_oiii_hbeta")
    placed = np.isfinite(x) & np.isfinite(y)
    if placed.any():
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
    ax_bpt.set_title(f"BPT density ({int(placed.sum())} of {len(rows)} spectra have both ratios)", fontsize=10)

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
    fig.suptitle(f"{title}: {len(rows)} spectra ({summary})" if rows else f"{title}: no spectrum")
    save(fig, path)
