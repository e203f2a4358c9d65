"""The served model (agn_saliency.explain.served): a fitted pipeline as arrays, which predict's shard jobs
load without scikit-learn. Its probabilities, maps and OOD scores are the pipeline's, bit for bit, and a
shard job that loads it never imports scikit-learn."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import yaml
from helpers import REPO

from agn_saliency.explain.maps import explain_batch
from agn_saliency.explain.saliency import ServedModel, served_model, training_mean
from agn_saliency.explain.served import ServedModelError, read_served_model, write_served_model
from agn_saliency.predict.ood import calibrate_ood, kernel_underflow, ood_scores, ood_scores_near_support

CLASSES = ["type1", "type2", "intermediate"]
METHODS = {"gradient": {}, "logit_gradient": {}, "gradient_x_input": {}, "integrated_gradients": {"n_steps": 8}}


def fitted(kernel: str, n_pixels: int = 40, seed: int = 0, scale_variance: bool = False):
    """A pipeline of build_pipeline fitted on random spectra of three classes (shifted means)."""
    from agn_saliency.learn.classify import build_pipeline

    rng = np.random.default_rng(seed)
    labels = np.repeat(CLASSES, 12)
    flux = rng.normal(size=(labels.size, n_pixels)) + np.array([CLASSES.index(c) for c in labels])[:, None] * 0.5
    model = build_pipeline(kernel, seed, calibration_folds=2, scale_variance=scale_variance)
    return model.fit(flux, labels), rng.normal(size=(25, n_pixels)) + 0.5


@pytest.mark.parametrize(("kernel", "scale_variance"), [("rbf", False), ("poly3", True), ("linear", False)])
def test_a_served_model_answers_as_its_pipeline_bit_for_bit(tmp_path: Path, kernel: str, scale_variance: bool) -> None:
    model, flux = fitted(kernel, scale_variance=scale_variance)
    path = tmp_path / "served.npz"
    write_served_model(path, served_model(model), {"model": "m.joblib"})
    served = read_served_model(path)
    assert isinstance(served, ServedModel)
    assert list(served.classes_) == list(model.classes_) and served.classes_.dtype == model.classes_.dtype
    assert served.n_features_in_ == model.n_features_in_
    ours = explain_batch(served, flux, CLASSES, METHODS, support_distances=True)
    theirs = explain_batch(model, flux, CLASSES, METHODS, support_distances=True)
    np.testing.assert_array_equal(ours.probabilities, theirs.probabilities)
    for method in METHODS:
        np.testing.assert_array_equal(ours.attributions[method], theirs.attributions[method], err_msg=method)
    np.testing.assert_array_equal(ours.completeness, theirs.completeness)
    for a, b in zip(ours.decisions, theirs.decisions):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(ood_scores(served, flux), ood_scores(model, flux))
    np.testing.assert_array_equal(kernel_underflow(served, flux), kernel_underflow(model, flux))
    if theirs.support_distances is not None:  # one kernel member with support vectors (not linear: collapsed)
        np.testing.assert_array_equal(ours.support_distances, theirs.support_distances)
        np.testing.assert_array_equal(
            ood_scores_near_support(served, ours.model, flux, ours.support_distances),
            ood_scores_near_support(model, theirs.model, flux, theirs.support_distances),
        )
    assert calibrate_ood(served, flux, quantile=0.9) == calibrate_ood(model, flux, quantile=0.9)
    np.testing.assert_array_equal(training_mean(served), training_mean(model))


def test_a_file_of_another_version_or_missing_an_array_is_refused_naming_it(tmp_path: Path) -> None:
    model, _ = fitted("rbf")
    path = tmp_path / "served.npz"
    write_served_model(path, served_model(model))
    with np.load(path) as npz:
        arrays = {name: npz[name] for name in npz.files}
    header = json.loads(str(arrays["header"]))

    newer = tmp_path / "newer.npz"
    np.savez(newer, **{**arrays, "header": np.array(json.dumps({**header, "version": 99}))})
    with pytest.raises(ServedModelError, match=rf"{newer}.*version 99.*calibrate_predict_ood"):
        read_served_model(newer)

    partial = tmp_path / "partial.npz"
    np.savez(partial, **{name: value for name, value in arrays.items() if name != "member0_intercept"})
    with pytest.raises(ServedModelError, match=rf"{partial} has no entry 'member0_intercept'"):
        read_served_model(partial)

    not_npz = tmp_path / "model.joblib"
    not_npz.write_bytes(b"not a zip")
    with pytest.raises(ServedModelError, match=rf"{not_npz} is not a served model"):
        read_served_model(not_npz)


def test_the_shard_job_imports_no_scikit_learn_and_writes_the_pipelines_rows(tmp_path: Path) -> None:
    """Rule predict_shard's function in a fresh process, with the served model: no sklearn (nor scipy.stats,
    pandas, joblib) in sys.modules; its rows and maps are run_shard's with the pipeline."""
    import h5py

    from agn_saliency.acquire.simulate import SimulationParameters, simulate_catalog, write_spectra
    from agn_saliency.explain.maps import attribution_options
    from agn_saliency.predict.shards import run_shard
    from agn_saliency.spectra.reduce import ReductionParameters, spectrum_settings

    reduce = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["reduce"]
    params = ReductionParameters.from_mapping(reduce)
    model, _ = fitted("rbf", n_pixels=params.n_pixels)
    folder = tmp_path / "folder"
    catalog = simulate_catalog(2, 2, 2, 5, SimulationParameters())
    write_spectra(catalog, str(folder), 5, SimulationParameters())
    model_path = tmp_path / "model.joblib"  # never read by the job: its metadata beside it is
    (tmp_path / "model.json").write_text(json.dumps({"reduction": spectrum_settings(reduce)}))
    write_served_model(tmp_path / "served.npz", served_model(model))
    calibration = calibrate_ood(model, np.random.default_rng(1).normal(size=(20, params.n_pixels)), quantile=0.9)
    (tmp_path / "calibration.json").write_text(json.dumps(calibration))
    methods = attribution_options({"methods": ["gradient", "logit_gradient"]}, 0)
    script = textwrap.dedent(
        f"""
        import json, sys
        from agn_saliency.stages.predict import predict_shard
        predict_shard(
            model={str(model_path)!r}, served={str(tmp_path / "served.npz")!r}, calibration={str(tmp_path / "calibration.json")!r},
            rows_out={str(tmp_path / "job.jsonl")!r}, saliency_out={str(tmp_path / "job.h5")!r}, folder={str(folder)!r},
            name="folder", shard=0, n_shards=1, fingerprint="x", reduce={reduce!r}, methods={methods!r},
            low_confidence_p_max=0.6,
        )
        print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in ("sklearn", "pandas", "joblib")
                                or name.startswith("scipy.stats"))))
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []

    run_shard(folder, 0, 1, model, params, tmp_path / "pipeline.jsonl", tmp_path / "pipeline.h5", methods=methods,
              ood_calibration=calibration, meta={"ood": calibration}, low_confidence_p_max=0.6)  # fmt: skip
    job_rows = (tmp_path / "job.jsonl").read_text().splitlines()
    assert len(job_rows) > 6 and job_rows == (tmp_path / "pipeline.jsonl").read_text().splitlines()
    with h5py.File(tmp_path / "job.h5") as ours, h5py.File(tmp_path / "pipeline.h5") as theirs:
        for name in ("probabilities", "saliency", "attributions/logit_gradient", "flux"):
            np.testing.assert_array_equal(ours[name][()], theirs[name][()], err_msg=name)
