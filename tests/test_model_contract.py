"""A saved model carries its contract: the reduction its spectra must have (issue 22, item 1).

``search_grid`` records the spectrum-shaping ``reduce`` settings of the cube it trained on in the
model's metadata (key ``reduction``); ``snakemake predict`` with ``predict.model`` refuses a model
whose recorded reduction differs from the run's, before the DAG runs and again in the job, with
one line naming both values. Workflow tests use the model of the session's tiny run on copies of
the real SDSS files.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from helpers import REAL_DIR, needs_real, run_tiny

from agn_saliency.predict.contract import ModelContractError, check_model_reduction
from agn_saliency.spectra.reduce import SPECTRUM_SHAPING_KEYS, ReductionParameters, spectrum_settings

DEFAULT_REDUCE = {"wavelength_min": 4000.0, "wavelength_max": 5500.0, "norm_window": [5080.0, 5120.0]}
TYPE2 = "spec-0295-51585-0596.fits"


def test_matching_reduction_passes_and_selection_keys_do_not_matter() -> None:
    recorded = {"reduction": spectrum_settings(DEFAULT_REDUCE)}
    check_model_reduction(recorded, DEFAULT_REDUCE, "m.joblib")
    check_model_reduction(
        recorded, {**DEFAULT_REDUCE, "z_max": 0.3, "agn_gate": True}, "m.joblib"
    )  # which spectra, not their values


@pytest.mark.parametrize(
    "change, words",
    [
        ({"wavelength_min": 4100.0, "wavelength_max": 5600.0}, ["reduce.wavelength_min = 4000.0", "4100.0, 5600.0"]),
        ({"norm_window": [5070.0, 5130.0]}, ["reduce.norm_window = [5080.0, 5120.0]", "[5070.0, 5130.0]"]),
        ({"n_pixels": 900}, ["reduce.n_pixels = 1000", "with 900"]),
        ({"bad_mask_bits": [0]}, ["reduce.bad_mask_bits = ", "with [0]"]),
        ({"norm_statistic": "median"}, ["reduce.norm_statistic = mean", "with median"]),
    ],
)
def test_mismatch_is_refused_naming_both_values(change: dict, words: list[str]) -> None:
    recorded = {"reduction": spectrum_settings(DEFAULT_REDUCE)}
    with pytest.raises(ModelContractError) as error:
        check_model_reduction(recorded, {**DEFAULT_REDUCE, **change}, "ext/model.joblib")
    message = str(error.value)
    assert "\n" not in message and message.startswith("ext/model.joblib was trained on")
    for word in words:
        assert word in message, message


def test_model_without_a_recorded_reduction_is_refused() -> None:
    with pytest.raises(ModelContractError, match="records no reduction settings"):
        check_model_reduction({"task": "multiclass", "wavelength": [4000.75]}, DEFAULT_REDUCE, "old.joblib")


def test_model_recorded_before_norm_statistic_counts_as_median() -> None:
    recorded = spectrum_settings(DEFAULT_REDUCE)
    del recorded["norm_statistic"]
    check_model_reduction({"reduction": recorded}, {**DEFAULT_REDUCE, "norm_statistic": "median"}, "old.joblib")
    with pytest.raises(ModelContractError, match="reduce.norm_statistic = median; this run reduces with mean"):
        check_model_reduction({"reduction": recorded}, DEFAULT_REDUCE, "old.joblib")


def test_every_shaping_key_is_a_reduce_setting() -> None:
    assert set(SPECTRUM_SHAPING_KEYS) <= {f for f in ReductionParameters.__dataclass_fields__}


def external_model(tiny_run: Path, destination: Path) -> Path:
    """The tiny run's multiclass model and its metadata, copied elsewhere (as predict.model)."""
    destination.mkdir(parents=True)
    for suffix in (".joblib", ".json"):
        shutil.copyfile(tiny_run / f"results/models/multiclass{suffix}", destination / f"model{suffix}")
    return destination / "model.joblib"


@pytest.mark.workflow
def test_models_record_the_reduction_they_were_trained_on(tiny_run: Path) -> None:
    for task in ("binary", "multiclass"):
        metadata = json.loads((tiny_run / f"results/models/{task}.json").read_text())
        assert metadata["reduction"] == spectrum_settings(ReductionParameters())  # the tiny config keeps reduce's defaults


@needs_real
@pytest.mark.workflow
def test_predict_refuses_a_model_trained_on_another_grid(tiny_run: Path, tmp_path: Path) -> None:
    model = external_model(tiny_run, tmp_path / "ext")
    folder = tmp_path / "grid_contract"  # its own results name: other tests predict folders named "spectra"
    folder.mkdir()
    shutil.copyfile(REAL_DIR / TYPE2, folder / TYPE2)
    shifted = tmp_path / "shifted.yaml"
    shifted.write_text(
        yaml.safe_dump({"predict": {"model": str(model)}, "reduce": {"wavelength_min": 4100.0, "wavelength_max": 5600.0}})
    )
    # A dry run: the check stops the DAG before any job (and the shared run's files are left alone).
    result = run_tiny(tiny_run, "-n", "predict", "--config", f"predict_dir={folder}", configs=(shifted,))
    message = result.stdout + result.stderr
    assert result.returncode != 0, message[-2000:]
    assert f"predict.model: {model} was trained on spectra reduced with reduce.wavelength_min = 4000.0" in message
    assert "this run reduces with 4100.0, 5600.0" in message

    same = tmp_path / "same.yaml"
    same.write_text(yaml.safe_dump({"predict": {"model": str(model)}}))
    result = run_tiny(tiny_run, "-n", "predict", "--config", f"predict_dir={folder}", configs=(same,))
    assert result.returncode == 0, (result.stdout + result.stderr)[-2000:]

    # The job checks again (the model could change after the DAG was built): nothing is written.
    from agn_saliency.explain.maps import attribution_options
    from agn_saliency.stages.predict import predict_shard

    out = tmp_path / "out"
    with pytest.raises(ModelContractError, match="reduce.wavelength_min = 4000.0"):
        predict_shard(
            folder=str(folder), model=str(model), served=str(tmp_path / "not_read.npz"),
            calibration=str(tmp_path / "not_read.json"), rows_out=str(out / "0.jsonl"),
            saliency_out=str(out / "0.h5"), name="spectra", shard=0, n_shards=1, fingerprint="x", low_confidence_p_max=0.6,
            reduce={**yaml.safe_load((Path(__file__).parents[1] / "config/config.yaml").read_text())["reduce"],
                    "wavelength_min": 4100.0, "wavelength_max": 5600.0},
            methods=attribution_options({"methods": ["gradient"]}, 0),
        )  # fmt: skip
    assert not out.exists()
