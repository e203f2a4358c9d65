"""How well the classifiers do: confusion matrices and the cross-validated scores of a grid search."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from agn_saliency.plotting.style import class_title, house_style, save


@house_style
def plot_confusion(matrix: np.ndarray, matrix_normalised: np.ndarray, class_names: list[str], path: str, title: str) -> None:
    """Confusion matrix: counts (left) and row-normalised fractions (right); rows = true class.

    Parameters
    ----------
    matrix, matrix_normalised : ndarray of shape (n_classes, n_classes)
        Counts and the fractions of each true class (rows: true, columns: predicted).
    class_names
        Classes in row and column order.
    path
        PNG to write.
    title
        Figure title.
    """
    names = [class_title(c) for c in class_names]
    fig = Figure(figsize=(4.4 * 2 + 2.5, 4.6), layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, values, fmt, label in (
        (axes[0], np.asarray(matrix), "d", "spectra"),
        (axes[1], np.asarray(matrix_normalised), ".2f", "fraction of true class"),
    ):
        image = ax.imshow(values, cmap="Blues", vmin=0)
        for (i, j), value in np.ndenumerate(values):
            ax.text(
                j,
                i,
                format(value, fmt),
                ha="center",
                va="center",
                color="white" if value > 0.6 * values.max() else "black",
                fontsize=12,
            )
        ax.set_xticks(range(len(names)), names)
        ax.set_yticks(range(len(names)), names)
        ax.set_xlabel("Predicted class")
        ax.set_ylabel("True class")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label=label)
    fig.suptitle(title)
    save(fig, path)


@house_style
def plot_grid_scores(rows: list[dict[str, str]], scoring: str, path: str, title: str) -> None:
    """Cross-validated score over a kernel's grid: C on x, gamma (if tuned) on y, one panel per class_weight.

    Parameters
    ----------
    rows
        One grid point each: ``C``, ``mean_test_score`` and, when tuned, ``gamma`` and
        ``class_weight`` (text, as read from the search's table); points that differ only in
        other parameters (``coef0``) share a cell, which shows the best of them.
    scoring
        Name of the score (the colour bar's label).
    path
        PNG to write.
    title
        Figure title.
    """
    has_gamma = "gamma" in rows[0]
    weights = sorted({row.get("class_weight", "None") for row in rows})
    c_values = sorted({float(row["C"]) for row in rows})
    gammas = sorted({float(row["gamma"]) for row in rows}) if has_gamma else [None]
    fig = Figure(figsize=(1.3 * len(c_values) * len(weights) + 2.8 * len(weights), 0.8 * len(gammas) + 2.8), layout="constrained")
    axes = fig.subplots(1, len(weights), squeeze=False)
    scores = [float(row["mean_test_score"]) for row in rows]
    best, worst = max(scores), min(scores)
    for ax, weight in zip(axes[0], weights):
        grid = np.full((len(gammas), len(c_values)), np.nan)
        for row in rows:
            if row.get("class_weight", "None") == weight:
                gi = gammas.index(float(row["gamma"])) if has_gamma else 0
                # several coef0 values share a cell: show the best of them
                grid[gi, c_values.index(float(row["C"]))] = np.fmax(
                    grid[gi, c_values.index(float(row["C"]))], float(row["mean_test_score"])
                )
        image = ax.imshow(grid, cmap="viridis", aspect="auto", origin="lower", vmin=worst, vmax=best)  # one scale for all panels
        for (i, j), value in np.ndenumerate(grid):
            if np.isfinite(value):
                ax.text(
                    j,
                    i,
                    f"{value:.3f}" + (" ★" if value == best else ""),
                    ha="center",
                    va="center",
                    color="white" if value < np.nanmean(grid) else "black",
                    fontsize=9,
                )
        ax.set_xticks(range(len(c_values)), [f"{c:g}" for c in c_values])
        ax.set_xlabel("C")
        ax.set_yticks(range(len(gammas)), [f"{g:g}" for g in gammas] if has_gamma else [""])
        ax.set_ylabel("gamma" if has_gamma else "")
        ax.set_title(f"class_weight = {weight or 'None'}")
        fig.colorbar(image, ax=ax, label=f"mean CV {scoring}")
    fig.suptitle(title)
    save(fig, path)
