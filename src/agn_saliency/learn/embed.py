"""t-SNE maps of reduced spectra (exploration only).

Each class set is standardised as a whole before embedding: t-SNE is unsupervised and only
draws maps, so fitting the scaler on all spectra shown leaks nothing into a classifier. (The
classifiers scale inside their own cross-validated pipelines.)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from agn_saliency.core.files import atomic_output

IMPLEMENTATIONS = ("opentsne", "sklearn")


def tsne_embedding(
    flux: np.ndarray,
    perplexity: float,
    seed: int,
    implementation: str = "opentsne",
    n_iter: int = 250,
    pca_components: int = 50,
    n_jobs: int = 1,
    early_exaggeration_iter: int = 100,
    theta: float = 0.8,
) -> np.ndarray:
    """Embed spectra in 2-D with t-SNE.

    Parameters
    ----------
    flux
        (n_spectra, n_pixels) reduced flux.
    perplexity
        t-SNE perplexity; at most (n_spectra − 1) / 3 (:func:`agn_saliency.settings.max_perplexity`),
        else ``ValueError``.
    seed
        Random state of PCA and t-SNE: the same seed gives the same map.
    implementation
        ``"opentsne"`` (the default, faster — see benchmarks/classify.py; Barnes-Hut gradients below
        10 000 spectra, FFT above) or ``"sklearn"`` (Barnes-Hut).
    n_iter
        Optimisation iterations after early exaggeration.
    early_exaggeration_iter
        Iterations of early exaggeration (openTSNE; scikit-learn fixes 250).
    theta
        Barnes-Hut opening angle (openTSNE ``theta``, scikit-learn ``angle``): larger is faster and
        coarser; ignored by openTSNE's FFT gradients (10 000 spectra and more).
    pca_components
        Standardised spectra are first projected on this many principal components (0 = none).
    n_jobs
        Threads.

    Returns
    -------
    numpy.ndarray
        (n_spectra, 2) coordinates.
    """
    if implementation not in IMPLEMENTATIONS:
        raise ValueError(f"tsne implementation must be one of {IMPLEMENTATIONS}, got {implementation!r}")
    flux = np.asarray(flux, dtype=np.float64)
    if flux.ndim != 2 or len(flux) < 5:
        raise ValueError(f"t-SNE needs at least 5 spectra of the class set, got {len(flux) if flux.ndim == 2 else flux.shape}")
    if perplexity > max_perplexity(len(flux)):
        # an error, not a silent cap: the map's file name and attributes state the perplexity used
        raise ValueError(
            f"tsne.perplexities: perplexity {perplexity:g} needs more than {3 * perplexity + 1:g} spectra, "
            f"this set has {len(flux)} (largest supported: {max_perplexity(len(flux)):.4g})"
        )
    # scikit-learn is imported here, not at the top: the plotting rules read maps through this
    # module and would pay its 1.3 s import for nothing.
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    features = StandardScaler().fit_transform(flux)
    if pca_components and pca_components < min(features.shape):
        features = PCA(n_components=pca_components, random_state=seed).fit_transform(features)
    if implementation == "opentsne":
        from openTSNE import TSNE

        # Below 10 000 points (openTSNE's advice for small sets): Barnes-Hut gradients and exact
        # neighbours (all distances: 0.2 s instead of 1 s for Annoy on the 3346 embedded spectra).
        # Measured on the embedded sample against 250 + 500 iterations at theta 0.5 and Annoy
        # neighbours (multiclass p50 1.264, p30 1.429; binary 1.211, 1.295): 100 + 250 iterations
        # at theta 0.8 reach KL 1.287, 1.491; 1.151, 1.332 in 30 % of the CPU time.
        small = len(features) < 10_000
        embedding = TSNE(
            perplexity=perplexity,
            n_iter=n_iter,
            early_exaggeration_iter=early_exaggeration_iter,
            neighbors="exact" if small else "auto",
            random_state=seed,
            n_jobs=n_jobs,
            initialization="pca",
            negative_gradient_method="bh" if small else "fft",
            theta=theta,
            verbose=False,
        ).fit(features)
        return np.asarray(embedding, dtype=np.float64)
    from sklearn.manifold import TSNE as SklearnTSNE

    return SklearnTSNE(
        perplexity=perplexity, max_iter=n_iter + 250, angle=theta, random_state=seed, init="pca", n_jobs=n_jobs
    ).fit_transform(features)


@dataclass
class Embedding:
    """A t-SNE map as stored in ``results/tsne/{task}_p{perplexity}.h5``."""

    specid: np.ndarray
    label: np.ndarray
    xy: np.ndarray  # (n, 2)
    attrs: dict[str, Any]


def write_embedding(path: str | os.PathLike[str], embedding: Embedding) -> None:
    """Write a map (datasets specid, label, x, y; attributes as given), atomically."""
    with atomic_output(path) as tmp, h5py.File(tmp, "w") as handle:
        handle.create_dataset("specid", data=[str(s) for s in embedding.specid], dtype=h5py.string_dtype())
        handle.create_dataset("label", data=[str(s) for s in embedding.label], dtype=h5py.string_dtype())
        handle.create_dataset("x", data=embedding.xy[:, 0])
        handle.create_dataset("y", data=embedding.xy[:, 1])
        handle.attrs.update(embedding.attrs)


def read_embedding(path: str | os.PathLike[str]) -> Embedding:
    """Read a map written by :func:`write_embedding`."""
    with h5py.File(path, "r") as handle:
        return Embedding(
            handle["specid"].asstr()[()],
            handle["label"].asstr()[()],
            np.column_stack([handle["x"][()], handle["y"][()]]),
            dict(handle.attrs),
        )


def max_perplexity(n_spectra: int) -> float:
    """Largest t-SNE perplexity a set of ``n_spectra`` supports: (n − 1) / 3.

    Each point's neighbourhood is calibrated on its 3·perplexity nearest neighbours (openTSNE's
    and scikit-learn's Barnes-Hut choice), which must exist.
    """
    return (n_spectra - 1) / 3
