"""The embedded sample in DESI form (``synthetic.format: desi``) runs through the pipeline like the SDSS form.

* :func:`test_models_agree_across_formats` — a smaller sample written in both formats by the
  ``simulate_shard`` stage, reduced by the pipeline's readers and reduction, classified by the
  pipeline's linear SVM: a model trained on either format gives the same class to the other
  format's rendering of the same spectra (binary and three-class ≥ 97 %; 2-fold cross-fitting so
  every spectrum is predicted by a model that did not see it). The default-size figures are
  ``benchmarks/formats.py``'s (docs/synthetic-desi.md).
* :func:`test_whole_dag_on_desi_format` — the tiny workflow with the one-line change, t-SNE, search,
  saliency, faithfulness and predict (on the simulated healpix folder) included.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from helpers import run_tiny

from agn_saliency.acquire import simulate as S
from agn_saliency.acquire.simulate.catalog import write_catalog_csv
from agn_saliency.io.tables import read_table
from agn_saliency.learn.classify import build_pipeline, pipeline_params
from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory
from agn_saliency.stages.acquire import simulate_shard

SEED = 5
COUNTS = {"type1": 80, "type2": 100, "intermediate": 70}
# The 97 % in both tasks. Measured over seeds 5–12 with this sample (docs/synthetic-desi.md):
# the disagreements left are borderline spectra flipped by the pixel-scale noise the two instruments'
# pixels do not share; with the median normalisation (reduce.norm_statistic: median) that noise
# entered every pixel through one window pixel and three-class agreement fell to 95–97 %.
AGREEMENT_FLOOR = {"binary": 0.97, "multiclass": 0.97}


def reduced_sample(tmp_path: Path, file_format: str) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """Catalog row → reduced flux and → label, for one format (written by the stage, 2 shards)."""
    catalog = tmp_path / "catalog.csv"
    if not catalog.exists():
        write_catalog_csv(S.simulate_catalog(*COUNTS.values(), SEED, S.SimulationParameters()), catalog)
    rows: list[dict] = []
    for shard in range(2):
        inventory = tmp_path / file_format / f"inventory-{shard}.ecsv"
        simulate_shard(
            catalog=str(catalog),
            inventory_out=str(inventory),
            truth_out=str(tmp_path / file_format / f"truth-{shard}.ecsv"),
            shard=shard,
            n_shards=2,
            data_root=str(tmp_path / file_format / "data"),
            physics={},
            seed=SEED,
            file_format=file_format,
        )
        rows += [dict(row) for row in read_table(inventory)]
    result = reduce_inventory(rows, ReductionParameters())
    positions = [int(r) for r in result.meta["row"]]
    return dict(zip(positions, result.flux[: len(positions)])), dict(zip(positions, map(str, result.meta["label"])))


def test_models_agree_across_formats(tmp_path):
    sdss_flux, labels = reduced_sample(tmp_path, "sdss")
    desi_flux, desi_labels = reduced_sample(tmp_path, "desi")
    common = sorted(set(sdss_flux) & set(desi_flux))
    assert len(common) >= 0.95 * sum(COUNTS.values())
    assert all(labels[r] == desi_labels[r] for r in common)
    flux = {"sdss": np.array([sdss_flux[r] for r in common]), "desi": np.array([desi_flux[r] for r in common])}
    y = np.array([labels[r] for r in common])
    fold = np.random.default_rng(SEED).permutation(len(common)) % 2
    for task in ("binary", "multiclass"):
        chosen = y != "intermediate" if task == "binary" else np.ones(len(y), bool)
        for trained_on, other in (("sdss", "desi"), ("desi", "sdss")):
            same = []
            for held_out in (0, 1):
                train, test = chosen & (fold != held_out), chosen & (fold == held_out)
                model = build_pipeline("linear", SEED, calibration_folds=2)
                model.set_params(**pipeline_params(C=0.07, class_weight="balanced"))
                model.fit(flux[trained_on][train], y[train])
                same.append(model.predict(flux[trained_on][test]) == model.predict(flux[other][test]))
            agreement = float(np.mean(np.concatenate(same)))
            assert agreement >= AGREEMENT_FLOOR[task], f"{task}: model on {trained_on} vs {other}: {agreement:.3f}"


@pytest.mark.workflow
def test_whole_dag_on_desi_format(tmp_path):
    desi = tmp_path / "desi.yaml"
    desi.write_text("synthetic:\n  format: desi\n")
    result = run_tiny(tmp_path, "--cores", "2", configs=(desi,))
    assert result.returncode == 0, result.stderr[-3000:]
    coadds = sorted((tmp_path / "data/synthetic/healpix/sv3/dark").rglob("coadd-sv3-dark-*.fits"))
    assert coadds and not list((tmp_path / "data/synthetic").glob("dr17"))
    for task in ("binary", "multiclass"):
        metrics = json.loads((tmp_path / f"results/metrics/{task}.json").read_text())
        assert metrics["macro_f1"] > 0.5
        assert (tmp_path / f"results/plots/faithfulness/{task}.png").is_file()
        assert any((tmp_path / f"results/plots/saliency/{task}").iterdir())
    assert list((tmp_path / "results/plots/tsne").glob("*.png"))
    predicted = tmp_path / "predict.yaml"
    predicted.write_text(f"predict_dir: {tmp_path / 'data/synthetic/healpix'}\n")
    result = run_tiny(tmp_path, "--cores", "2", "predict", configs=(desi, predicted))
    assert result.returncode == 0, result.stderr[-3000:]
    tables = list((tmp_path / "results/predict").rglob("predictions.ecsv"))
    assert tables, "no predictions table"
    rows = read_table(tables[0])
    assert len(rows) == 60 and {row["survey"] for row in rows} == {"desi"}
