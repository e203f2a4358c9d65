"""Sample spectra: a few reduced spectra of each class, offset, with the main lines marked."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.plotting.style import CLASS_COLOURS, WAVELENGTH_LABEL, class_title, house_style, mark_lines, save


@house_style
def plot_sample_spectra(
    wavelength: np.ndarray, flux: np.ndarray, label: np.ndarray, specid: np.ndarray, path: str, per_class: int, seed: int
) -> None:
    """A few reduced spectra of each class, offset vertically, with the main lines marked.

    Parameters
    ----------
    wavelength : ndarray of shape (n_pixels,)
        Rest-frame vacuum wavelength grid [Å].
    flux : ndarray of shape (n_spectra, n_pixels)
        Normalised flux (median 1 in 5080–5120 Å).
    label, specid : ndarray of shape (n_spectra,)
        Class and spectrum id of each row (the legend shows the ids).
    path
        PNG to write.
    per_class
        Spectra drawn per class (fewer if a class has fewer).
    seed
        Seed of the choice of spectra.
    """
    rng = np.random.default_rng(seed)
    classes = [c for c in CLASS_NAMES if (label == c).any()]
    fig = Figure(figsize=(11, 3.4 * max(1, len(classes))))
    axes = fig.subplots(len(classes), 1, sharex=True, squeeze=False, gridspec_kw={"hspace": 0.32})
    for ax, name in zip(axes[:, 0], classes):
        index = np.flatnonzero(label == name)
        chosen = np.sort(rng.choice(index, size=min(per_class, len(index)), replace=False))
        offset = 0.0
        for i in chosen:
            ax.plot(wavelength, flux[i] + offset, lw=0.8, label=specid[i])
            offset += 1.2 * (np.percentile(flux[i], 99.5) - np.percentile(flux[i], 0.5)) + 0.3
        mark_lines(ax, (wavelength[0], wavelength[-1]))
        ax.set_ylabel("Flux / median(5080–5120 Å)\n+ offset")
        ax.text(
            1.0,
            1.02,
            f"{class_title(name)} ({len(index)} spectra)",
            transform=ax.transAxes,
            ha="right",
            va="bottom",
            fontsize=12,
            fontweight="bold",
            color=CLASS_COLOURS[name],
        )
        # beside the panel: inside, the stacked spectra leave no corner free
        handles, names = ax.get_legend_handles_labels()  # top entry = top spectrum
        ax.legend(handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.005, 1.0), frameon=False, fontsize=8)
    axes[-1, 0].set_xlabel(WAVELENGTH_LABEL)
    axes[-1, 0].set_xlim(wavelength[0], wavelength[-1])
    axes[-1, 0].text(
        1.0,
        -0.16,
        "grey bands: optical FeII blends",
        transform=axes[-1, 0].transAxes,
        ha="right",
        va="top",
        fontsize=9,
        color="0.4",
    )
    save(fig, path)
