"""The AGN gate's evidence for a folder of spectra: the BPT diagram and the files it cannot place."""

from __future__ import annotations

import os
import textwrap
from collections import Counter

import numpy as np
from matplotlib.figure import Figure

from agn_saliency.plotting.style import house_style, place_labels, save

GATE_COLOURS = {"agn": "#d62728", "not_agn": "#1f77b4", "uncertain": "0.5"}

MAX_NAMED_POINTS = 40
"""Points of the diagram named beside them; a folder with more shows the points only (names overlap)."""

MAX_LISTED_FILES = 12
"""Files without both ratios listed by name; the rest are counted by reason. Keeps the figure's size
fixed whatever the folder holds (predictions.ecsv has every file's ``gate_reason``)."""


@house_style
def plot_gate_diagram(rows: list[dict[str, str]], path: str, title: str) -> None:
    """The AGN gate's evidence for a folder: the BPT diagram (narrow-line ratios, Kewley et al. 2001 and
    Kauffmann et al. 2003 lines) with each file coloured by its ``agn_status`` and ringed when a broad
    Balmer line was found; files without both ratios are listed on the right with their reason. The
    figure's size does not grow with the folder: at most :data:`MAX_NAMED_POINTS` points are named
    and :data:`MAX_LISTED_FILES` unplaced files listed, the others counted by reason.

    Parameters
    ----------
    rows
        The predictions table of a folder (:data:`agn_saliency.spectra.gate.GATE_COLUMNS` among its
        columns, text as read back): ``file`` (or ``key``), ``agn_status``, ``gate_reason``,
        ``log_nii_halpha``, ``log_oiii_hbeta`` (empty when not measurable) and ``broad_line``.
    path
        PNG to write.
    title
        Figure title.
    """
    from agn_saliency.spectra.gate import kauffmann_2003, kewley_2001

    fig = Figure(figsize=(12, 5.2), layout="constrained")
    ax, side = fig.subplots(1, 2, width_ratios=[1.15, 1])
    x = np.linspace(-2.2, 0.4, 300)
    ax.plot(x, kewley_2001(x), "k-", lw=1.2, label="Kewley+01 (max. starburst)")
    xk = x[x < 0.0]
    ax.plot(xk, kauffmann_2003(xk), "k--", lw=1.2, label="Kauffmann+03")
    unplaced, placed = [], []
    for row in rows:
        ratio_x, ratio_y = float(row["log_nii_halpha"] or "nan"), float(row["log_oiii_hbeta"] or "nan")
        name = row.get("key") or os.path.basename(row["file"])
        if not (np.isfinite(ratio_x) and np.isfinite(ratio_y)):
            unplaced.append((name, row["agn_status"], row["gate_reason"]))
        else:
            placed.append((name, ratio_x, ratio_y, row["agn_status"], bool(row.get("broad_line"))))
    groups: dict[tuple[str, bool], list[tuple[float, float]]] = {}  # one scatter per colour and ring
    for _, ratio_x, ratio_y, status, broad in placed:
        groups.setdefault((status, broad), []).append((ratio_x, ratio_y))
    for (status, broad), points in groups.items():
        xy = np.array(points)
        colour = GATE_COLOURS.get(status, "k")
        size = 70 if len(placed) <= MAX_NAMED_POINTS else 16  # a crowd of small points shows its density
        ax.scatter(
            xy[:, 0], xy[:, 1], s=size, color=colour, edgecolor="k" if broad else "none", lw=1.5 * size / 70 + 0.3, zorder=3
        )
    for status, colour in GATE_COLOURS.items():
        ax.scatter([], [], s=70, color=colour, label=status)
    ax.scatter([], [], s=70, facecolor="w", edgecolor="k", lw=1.5, label="broad Balmer line")
    ax.set_xlim(-2.2, 0.8)
    ax.set_ylim(-1.3, 1.5)
    ax.set_xlabel("log [NII] 6585 / Hα")
    ax.set_ylabel("log [OIII] 5008 / Hβ")
    ax.legend(loc="lower left", fontsize=8)
    named = "" if len(placed) <= MAX_NAMED_POINTS else f"; {len(placed)} files, unnamed"
    ax.set_title(f"BPT diagram (narrow lines{named})")
    if len(placed) <= MAX_NAMED_POINTS:  # after the limits and the legend: each name where it covers nothing
        place_labels(ax, [(x, y) for _, x, y, _, _ in placed], [name for name, *_ in placed])
    side.axis("off")
    lines = [
        f"{textwrap.shorten(name, 60)}: {status}\n"
        + textwrap.fill(textwrap.shorten(reason, 130), 66, initial_indent="  ", subsequent_indent="  ")
        for name, status, reason in unplaced[:MAX_LISTED_FILES]
    ]
    if len(unplaced) > MAX_LISTED_FILES:
        rest = unplaced[MAX_LISTED_FILES:]
        reasons = Counter(reason.split(":")[0] for _, _, reason in rest).most_common()
        lines.append(f"… and {len(rest)} more (gate_reason in predictions.ecsv):")
        lines += [f"  {count} × {textwrap.shorten(reason, 56)}" for reason, count in reasons[:5]]
        if len(reasons) > 5:
            lines.append(f"  {sum(count for _, count in reasons[5:])} × other reasons")
    side.text(
        0, 1, "Not on the diagram (a ratio not measurable):\n\n" + "\n".join(lines), va="top", fontsize=7.5, family="monospace"
    )
    fig.suptitle(title)
    save(fig, path)
