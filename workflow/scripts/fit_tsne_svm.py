"""Rule fit_tsne_svm (optional): an RBF SVM on the 2-D t-SNE plane and its decision regions."""

import h5py
import numpy as np
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC

from agn_saliency.embed import read_embedding
from agn_saliency.files import atomic_output, read_table

GRID_POINTS = 300


def main(embedding: str, split: str, out: str, seed: int) -> None:
    subset_of = {row["specid"]: row["subset"] for row in read_table(split)}
    tsne = read_embedding(embedding)
    specid, label, xy = tsne.specid, tsne.label, tsne.xy
    subset = np.array([subset_of.get(s, "unlabelled") for s in specid])
    train, test = subset == "train", subset == "test"
    model = make_pipeline(StandardScaler(), SVC(kernel="rbf", C=1.0, class_weight="balanced", random_state=seed))
    model.fit(xy[train], label[train])
    pad = 0.05 * (xy.max(axis=0) - xy.min(axis=0))
    gx, gy = np.meshgrid(*(np.linspace(lo, hi, GRID_POINTS) for lo, hi in zip(xy.min(axis=0) - pad, xy.max(axis=0) + pad)))
    regions = model.predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    with atomic_output(out) as tmp, h5py.File(tmp, "w") as handle:
        handle["grid_x"], handle["grid_y"] = gx, gy
        handle.create_dataset("regions", data=regions.astype(object), dtype=h5py.string_dtype())
        handle["test_xy"] = xy[test]
        handle.create_dataset("test_label", data=label[test].astype(object), dtype=h5py.string_dtype())
        handle.attrs["test_accuracy"] = float((model.predict(xy[test]) == label[test]).mean()) if test.any() else float("nan")


if __name__ == "__main__":
    from agn_saliency.logs import setup_logging

    setup_logging(snakemake.log[0])
    main(snakemake.input.embedding, snakemake.input.split, snakemake.output.regions, snakemake.params.seed)
