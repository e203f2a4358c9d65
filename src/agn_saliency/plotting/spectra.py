"""Sample spectra: a few reduced spectra of each class, offset, with the main lines marked."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import AutoMinorLocator

from agn_saliency.core.vocabulary import CLASS_NAMES
from agn_saliency.plotting.style import CLASS_COLOURS, WAVELENGTH_LABEL, class_title, house_style, mark_lines, save


@house_style
def plot_sample_spectra(
    wavelength: np.ndarray,
    flux: np.ndarray,
    label: np.ndarray,
    specid: np.ndarray,
    path: str,
    per_class: int,
    seed: int,
    *,
    norm_statistic: str | None = None,
    norm_window: tuple[float, float] | None = None,
) -> None:
    """A few reduced spectra of each class, offset vertically, with the main lines marked.

    Offsets are round numbers (multiples of 0.5), each named in the legend beside the spectrum's id,
    so the flux of any spectrum reads off the y axis after subtracting its offset.

    Parameters
    ----------
    wavelength : ndarray of shape (n_pixels,)
        Rest-frame vacuum wavelength grid [Å].
    flux : ndarray of shape (n_spectra, n_pixels)
        Normalised flux (1 = ``norm_statistic`` in ``norm_window``).
    label, specid : ndarray of shape (n_spectra,)
        Class and spectrum id of each row (the legend shows the ids).
    path
        PNG to write.
    per_class
        Spectra drawn per class (fewer if a class has fewer).
    seed
        Seed of the choice of spectra.
    norm_statistic, norm_window
        How the flux was normalised (``reduce.norm_statistic``, ``reduce.norm_window`` [Å]), stated
        under the figure; ``None``: only "normalised flux".
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
            ax.plot(wavelength, flux[i] + offset, lw=0.8, label=f"{specid[i]}  (+{offset:g})")
            step = 1.2 * (np.percentile(flux[i], 99.5) - np.percentile(flux[i], 0.5)) + 0.3
            offset += np.ceil(step * 2) / 2  # a multiple of 0.5: easy to subtract when reading a flux off the axis
        mark_lines(ax, (wavelength[0], wavelength[-1]))
        ax.xaxis.set_minor_locator(AutoMinorLocator())
        ax.yaxis.set_minor_locator(AutoMinorLocator())
        ax.set_ylabel("Normalised flux + offset")
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
    normalised = (
        f"flux / its {norm_statistic} in {norm_window[0]:g}–{norm_window[1]:g} Å (rest frame)"
        if norm_statistic and norm_window is not None
        else "normalised flux"
    )
    axes[-1, 0].text(
        1.0,
        -0.24,  # under the x label
        f"{normalised}, offset as in the legend; grey bands: optical FeII blends",
        transform=axes[-1, 0].transAxes,
        ha="right",
        va="top",
        fontsize=9,
        color="0.4",
    )
    save(fig, path)
