"""Faithfulness of the attribution methods: deletion and insertion curves against random orders."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from agn_saliency.plotting.style import METHOD_LABELS, house_style, save

METHOD_COLOURS = {
    "gradient": "#1f77b4",
    "logit_gradient": "#d62728",
    "gradient_x_input": "#9467bd",
    "integrated_gradients": "#2ca02c",
    "smoothgrad": "#ff7f0e",
}


@house_style
def plot_faithfulness_curves(rows: list[dict[str, str]], path: str, title: str) -> None:
    """Deletion and insertion curves (mean p of the predicted class against the fraction of pixels
    replaced) of every method, with the random-order curves as a grey band (mean ± std over orders).

    Parameters
    ----------
    rows
        The curves table of :func:`agn_saliency.explain.maps.evaluate_faithfulness`: ``method``
        (``random`` for random orders), ``curve`` (deletion / insertion), ``fraction``, ``p_mean``, ``p_std``.
    path
        PNG to write.
    title
        Figure title.
    """
    fig = Figure(figsize=(11, 4.2), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    random_handle = None
    for ax, curve in zip(axes, ("deletion", "insertion")):
        mine = [row for row in rows if row["curve"] == curve]
        for method in dict.fromkeys(row["method"] for row in mine):
            points = [row for row in mine if row["method"] == method]
            x = np.array([float(row["fraction"]) for row in points])
            y = np.array([float(row["p_mean"]) for row in points])
            if method == "random":
                spread = np.array([float(row["p_std"]) for row in points])
                band = ax.fill_between(x, y - spread, y + spread, color="0.8", lw=0)
                (line,) = ax.plot(x, y, color="0.45", lw=1.2, ls="--")
                random_handle = (band, line)  # one legend entry: the dashed mean on its band
            else:
                # the log-odds gradient is ∂p/∂flux times a per-spectrum factor: same pixel order, same curves
                dotted = method == "logit_gradient"
                ax.plot(
                    x,
                    y,
                    color=METHOD_COLOURS.get(method),
                    lw=2.6 if dotted else 1.6,
                    ls=":" if dotted else "-",
                    label=METHOD_LABELS.get(method, method) + (" (same order as ∂p/∂flux)" if dotted else ""),
                )
        ax.set_xlabel(f"fraction of pixels {'replaced by the local continuum' if curve == 'deletion' else 'restored'}")
        ax.set_title(f"{curve.capitalize()} (most positive evidence first)")
        ax.set_xlim(0, 1)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("mean p(predicted class)")
    # below both panels: the curves can pass through any corner of either, and did under the legend
    handles, labels = axes[1].get_legend_handles_labels()
    if random_handle is not None:
        handles, labels = [*handles, random_handle], [*labels, "random orders (mean ± 1σ)"]
    fig.legend(handles, labels, loc="outside lower center", ncols=3, fontsize=9, frameon=False)
    fig.suptitle(title)
    save(fig, path)
