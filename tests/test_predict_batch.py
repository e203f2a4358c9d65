"""Predict at survey scale (agn_saliency.predict.batch, spectra.gate_batch): the fast path answers as
today's per-spectrum path does, on real SDSS files and simulated spectra; shards change nothing."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from agn_saliency.io import fits
from agn_saliency.spectra import gate, gate_batch
from agn_saliency.spectra.sdss import read_spectrum

LINES = ("hbeta", "oiii_5008", "halpha", "nii_6585")


def both_gates(path: Path) -> tuple[dict, dict]:
    spectrum = read_spectrum(path)
    today = gate.assess_spectrum(spectrum, spectrum.z, gate.read_spzline(path))
    fast = gate.assess_spectrum(
        spectrum, spectrum.z, gate_batch.spzline_from_hdus(fits.read_hdus(path, max_hdus=4), path), fitter=gate_batch.fit_region
    )
    return today, fast


def test_fast_gate_gives_todays_verdicts_on_the_real_files(real_dir: Path, real_index: list[dict[str, str]]) -> None:
    off = []
    for row in real_index:
        today, fast = both_gates(real_dir / row["file"])
        assert fast["agn_status"] == today["agn_status"], (row["file"], today["gate_reason"], fast["gate_reason"])
        assert fast["bpt_class"] == today["bpt_class"], row["file"]
        assert fast["gate_source"] == today["gate_source"], row["file"]
        for line in LINES:
            old, new = today[f"{line}_flux"], fast[f"{line}_flux"]
            if math.isfinite(old) and today[f"{line}_snr"] >= 3:
                off.append((abs(new / old - 1.0), row["file"], line, today["broad_line"]))
    # every detected line within 2 %, the narrow Balmer lines of broad-line AGN included (their
    # narrow/broad split converges slowly: both fits get up to 100 evaluations for it)
    assert any(o[3] for o in off) and max(off)[0] <= 0.02, max(off)


def test_batched_gate_gives_todays_verdicts_on_simulated_spectra(tmp_path: Path) -> None:
    from agn_saliency.acquire.inventory import scan_folder

    simulated_folder(tmp_path, (8, 10, 6), seed=5)
    paths = [tmp_path / row["path"] for row in scan_folder(tmp_path)]
    spectra = [read_spectrum(path) for path in paths]
    assert len(spectra) == 24
    batched = gate_batch.assess_spectra(spectra, [s.z for s in spectra], [None] * len(spectra))
    for spectrum, fast in zip(spectra, batched):
        today = gate.assess_spectrum(spectrum, spectrum.z)
        assert (fast["agn_status"], fast["bpt_class"]) == (today["agn_status"], today["bpt_class"]), today["gate_reason"]
    # a spectrum's result does not depend on the spectra fitted with it (shards must not change the table)
    halves = [gate_batch.assess_spectra(part, [s.z for s in part], [None] * len(part)) for part in (spectra[::2], spectra[1::2])]

    def same(a: dict, b: dict) -> bool:
        return a.keys() == b.keys() and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)  # NaN == NaN

    assert all(same(a, b) for a, b in zip(halves[0] + halves[1], batched[::2] + batched[1::2]))
    one = gate.assess_spectrum(spectra[0], spectra[0].z, fitter=gate_batch.fit_region)  # n = 1 is the same fit
    assert same(one, batched[0])


def test_spzline_from_the_fast_path_equals_astropys(real_dir: Path, real_index: list[dict[str, str]]) -> None:
    checked = 0
    for row in real_index:
        path = real_dir / row["file"]
        table = gate.read_spzline(path)
        fast = gate_batch.spzline_from_hdus(fits.read_hdus(path, max_hdus=4), path)
        assert (table is None) == (fast is None), row["file"]
        if table is None:
            continue
        checked += 1
        assert list(fast["LINENAME"]) == list(table["LINENAME"])
        for name in ("LINEZ", "LINESIGMA", "LINEAREA", "LINEAREA_ERR"):
            np.testing.assert_array_equal(fast[name], np.asarray(table[name]))
    assert checked >= 5


def simulated_folder(folder: Path, n: tuple[int, int, int], seed: int) -> dict[tuple[int, int, int], str]:
    """``n`` = (type 1, type 2, intermediate) simulated spec-lite files below ``folder``; label by ids."""
    from agn_saliency.acquire.simulate import SimulationParameters, simulate_catalog, write_spectra

    catalog = simulate_catalog(*n, seed, SimulationParameters())
    write_spectra(catalog, str(folder), seed, SimulationParameters())
    return {(int(r["plate"]), int(r["mjd"]), int(r["fiberid"])): str(r["label"]) for r in catalog}


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """An rbf pipeline of the project fitted on 36 simulated spectra (default reduction grid)."""
    from agn_saliency.acquire.inventory import scan_folder
    from agn_saliency.learn.classify import build_pipeline, pipeline_params
    from agn_saliency.spectra.reduce import ReductionParameters, reduce_inventory

    folder = tmp_path_factory.mktemp("train")
    by_id = simulated_folder(folder, (12, 14, 10), seed=3)
    params = ReductionParameters()
    rows = sorted(scan_folder(folder), key=lambda r: r["path"])
    reduced = reduce_inventory(rows, params)
    labels = [
        by_id[(int(p), int(m), int(f))] for p, m, f in zip(reduced.meta["plate"], reduced.meta["mjd"], reduced.meta["fiberid"])
    ]
    model = (
        build_pipeline("rbf", 0, calibration_folds=2).set_params(**pipeline_params(C=10.0, gamma=1e-4)).fit(reduced.flux, labels)
    )
    return model, params


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory, real_dir: Path) -> Path:
    """Real SDSS files and simulated spectra in sub-folders, plus one file that is not FITS."""
    folder = tmp_path_factory.mktemp("mixed")
    shutil.copytree(real_dir, folder / "real", ignore=shutil.ignore_patterns("*.md", "*.csv"))
    simulated_folder(folder / "sim", (3, 4, 3), seed=11)
    (folder / "sim" / "broken.fits").write_bytes(b"SIMPLE  = not really")
    return folder


def comparable(row: dict) -> dict:
    """A prediction row without the gate's fitted numbers (compared separately, within tolerance)."""
    numbers = ("_flux", "_ew", "_snr", "_err", "ratio", "fwhm", "log_", "median")
    return {k: v for k, v in row.items() if k != "gate_reason" and not any(w in k for w in numbers)}


def test_classify_files_gives_classify_folders_table(small_model, mixed_folder: Path) -> None:
    from agn_saliency.predict.batch import classify_files
    from agn_saliency.predict.folder import classify_folder

    model, params = small_model
    methods = {"gradient": {}, "logit_gradient": {}}
    today, today_maps = classify_folder(mixed_folder, model, params, methods=methods)
    fast, fast_maps = classify_files(mixed_folder, model, params)
    assert [r["file"] for r in fast] == [r["file"] for r in today]
    assert any(r["status"] == "rejected" for r in fast) and any(r["status"] != "rejected" for r in fast)
    for old, new in zip(today, fast):
        assert comparable(new) == comparable(old), old["file"]
    assert sorted(fast_maps.attributions) == sorted(methods)
    for method in methods:
        np.testing.assert_allclose(fast_maps.attributions[method], today_maps.attributions[method], rtol=0, atol=1e-12)


def test_single_precision_gradients_stay_within_1e_4_of_double(small_model, tmp_path: Path) -> None:
    from agn_saliency.acquire.inventory import scan_folder
    from agn_saliency.explain.saliency.gradients import probabilities_and_saliency
    from agn_saliency.spectra.reduce import reduce_inventory

    model, params = small_model
    simulated_folder(tmp_path, (2, 2, 2), seed=8)
    flux = reduce_inventory(sorted(scan_folder(tmp_path), key=lambda r: r["path"]), params).flux
    p64, g64 = probabilities_and_saliency(model, flux)
    p32, g32 = probabilities_and_saliency(model, flux, precision="single")
    assert not np.array_equal(g32, g64)  # the kernel really was formed in float32
    assert np.abs(g32 - g64).max() <= 1e-4 and np.abs(p32 - p64).max() <= 1e-4


def test_predict_maps_stay_within_1e_4_of_double_precision(small_model, mixed_folder: Path) -> None:
    """Predict computes SINGLE_PRECISION_METHODS with float32 kernels: its maps, as stored (float32),
    within 1e-4 of the double-precision maps of the same spectra; the rest double (to rounding: 1e-13
    of a spectrum's largest value, explain.maps.explain_batch)."""
    from agn_saliency.explain.saliency import attribute, probabilities_and_saliency
    from agn_saliency.predict.batch import classify_files
    from agn_saliency.predict.folder import SINGLE_PRECISION_METHODS

    model, params = small_model
    methods = {"gradient": {}, "logit_gradient": {}, "gradient_x_input": {}, "smoothgrad": {"n_samples": 8, "seed": 3}}
    assert set(SINGLE_PRECISION_METHODS) & set(methods)
    _, result = classify_files(mixed_folder, model, params, methods=methods)
    assert len(result.flux) > 10
    order = [[str(c) for c in model.classes_].index(c) for c in result.class_names]
    for method, options in methods.items():
        double = attribute(model, result.flux, method, **options)[:, order]
        stored = result.attributions[method].astype(np.float32)
        assert np.abs(stored - double.astype(np.float32)).max() <= 1e-4, method
        if method in SINGLE_PRECISION_METHODS:
            assert not np.array_equal(result.attributions[method], double), method  # float32 kernels really used
        else:  # double precision; gradient and logit_gradient from one product of the decision functions' gradients
            largest = np.abs(double).max(axis=(1, 2), keepdims=True)
            assert np.all(np.abs(result.attributions[method] - double) <= 1e-13 * largest), method
    probabilities = probabilities_and_saliency(model, result.flux)[0][:, order]
    np.testing.assert_array_equal(result.probabilities, probabilities)  # the rows' probabilities: double


def test_a_reduction_rejected_sdss_file_keeps_its_gate_verdict(
    small_model, mixed_folder: Path, real_dir: Path, real_index: list[dict[str, str]]
) -> None:
    """The out-of-range real files are read, rejected by the reduction, and gated at their own
    redshift all together: each row holds the verdict the per-spectrum gate gives alone."""
    from agn_saliency.predict.batch import classify_files

    model, params = small_model
    rows, _ = classify_files(mixed_folder, model, params, methods={})
    by_name = {Path(row["file"]).name: row for row in rows}
    checked = 0
    for entry in real_index:
        if entry["expected"] != "out_of_range":
            continue
        row = by_name[entry["file"]]
        assert row["status"] == "rejected" and row["survey"] == "sdss", entry["file"]
        spectrum = read_spectrum(real_dir / entry["file"])
        alone = gate.assess_spectrum(
            spectrum, spectrum.z, gate.read_spzline(real_dir / entry["file"]), fitter=gate_batch.fit_region
        )
        # not the unassessed result (which repeats the reduction's reason)
        assert row["gate_reason"] != row["reason"], entry["file"]
        assert (row["agn_status"], row["gate_reason"], row["gate_source"]) == (
            alone["agn_status"],
            alone["gate_reason"],
            alone["gate_source"],
        ), entry["file"]
        checked += 1
    assert checked >= 2
    unreadable = by_name["broken.fits"]  # never read: the gate's unassessed row
    assert unreadable["status"] == "rejected" and unreadable["gate_reason"] == unreadable["reason"]


def sharded(folder: Path, out: Path, n_shards: int, model, params) -> tuple[list[dict], object]:
    from agn_saliency.predict.shards import merge_shards, predict_shard, write_shard

    out.mkdir()
    rows_paths, maps_paths = [], []
    for shard in range(n_shards):
        rows, result, digests = predict_shard(folder, shard, n_shards, model, params)
        rows_paths.append(out / f"{shard}.jsonl")
        maps_paths.append(out / f"{shard}.h5")
        write_shard(rows_paths[-1], maps_paths[-1], rows, result, digests)
    return merge_shards(folder, rows_paths, maps_paths)[:2]


def test_predictions_are_the_same_for_any_shard_count(small_model, mixed_folder: Path, tmp_path: Path) -> None:
    from agn_saliency.predict.batch import classify_files

    model, params = small_model
    (mixed_folder / "sim" / "copy.fits").write_bytes(next((mixed_folder / "real").glob("spec-*.fits")).read_bytes())
    whole, whole_maps = classify_files(mixed_folder, model, params)
    one, one_maps = sharded(mixed_folder, tmp_path / "one", 1, model, params)
    five, five_maps = sharded(mixed_folder, tmp_path / "five", 5, model, params)
    assert len(whole) == len(one) == len(five) > 20
    assert sum(bool(row["duplicate_of"]) for row in five) >= 1  # the copy, found across shards

    def same(a: dict, b: dict) -> bool:
        return all(a[k] == b[k] or (isinstance(a[k], float) and math.isnan(a[k]) and math.isnan(b[k])) for k in a)

    assert all(same(a, b) for a, b in zip(whole, one)) and all(same(a, b) for a, b in zip(one, five))
    assert list(five_maps.key) == list(one_maps.key) == list(whole_maps.key)
    # the table is identical; the maps agree to float32 rounding (BLAS sums in another order per batch size)
    for method in one_maps.attributions:
        np.testing.assert_allclose(five_maps.attributions[method], one_maps.attributions[method], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(five_maps.probabilities, one_maps.probabilities, rtol=0, atol=1e-12)


def test_same_bytes_are_duplicates_across_shards_and_old_sha256_still_merge(small_model, real_dir: Path, tmp_path: Path) -> None:
    """``duplicate_of`` by content digest (``xxh3_128:…``): two files with the same bytes and no
    ids are duplicates wherever their shards are, files of other bytes never, for any shard count;
    shard rows files written before (``{"sha256": {file: hex}}`` records) still merge, and a
    SHA-256 never equals an XXH3 digest of the same bytes (a pair split between an old and a new
    shard is not a bytes duplicate)."""
    import hashlib

    from agn_saliency.acquire.inventory import path_shard
    from agn_saliency.core.names import unescape_name
    from agn_saliency.predict.batch import classify_files
    from agn_saliency.predict.shards import JoinedShards

    model, params = small_model
    folder = tmp_path / "folder"
    (folder / "a").mkdir(parents=True)
    (folder / "b").mkdir()
    real = sorted(real_dir.glob("spec-*.fits"))[:2]
    for path in real:
        shutil.copyfile(path, folder / "a" / path.name)
    shutil.copyfile(real[0], folder / "b" / "copy.fits")  # same bytes and ids
    (folder / "a" / "broken.fits").write_bytes(b"SIMPLE  = not really")  # no ids: a duplicate by its bytes only
    (folder / "b" / "broken-copy.fits").write_bytes(b"SIMPLE  = not really")
    (folder / "b" / "broken-other.fits").write_bytes(b"SIMPLE  = not really!")  # other bytes
    whole, _ = classify_files(folder, model, params)
    first = {row["file"]: row["duplicate_of"] for row in whole}
    by_name = {Path(unescape_name(file)).relative_to(folder).as_posix(): file for file in first}
    assert first[by_name["b/broken-copy.fits"]] == by_name["a/broken.fits"]
    assert first[by_name["b/copy.fits"]] == by_name[f"a/{real[0].name}"]
    assert first[by_name["b/broken-other.fits"]] == first[by_name["a/broken.fits"]] == ""
    assert sum(bool(value) for value in first.values()) == 2
    split = [n for n in range(2, 8) if path_shard("a/broken.fits", n) != path_shard("b/broken-copy.fits", n)]
    assert split, "no shard count puts the two same-bytes files in different shards"
    for n_shards in (1, 3, split[0]):
        rows, _ = sharded(folder, tmp_path / f"n{n_shards}", n_shards, model, params)
        assert {row["file"]: row["duplicate_of"] for row in rows} == first, n_shards

    # the same shards as older code wrote them: bare SHA-256 records
    n_shards = split[0]
    out = tmp_path / f"n{n_shards}"
    old_shards = []
    for shard in range(n_shards):
        lines = (out / f"{shard}.jsonl").read_text().splitlines(keepends=True)
        assert sum(line.startswith('{"digest"') for line in lines) == 1
        for i, line in enumerate(lines):
            if line.startswith('{"digest"'):
                files = json.loads(line)["digest"]
                assert all(value.startswith("xxh3_128:") for value in files.values() if value)
                old = {f: hashlib.sha256(Path(unescape_name(f)).read_bytes()).hexdigest() if v else "" for f, v in files.items()}
                lines[i] = json.dumps({"sha256": old}) + "\n"
        old_shards.append(tmp_path / f"old-{shard}.jsonl")
        old_shards[-1].write_text("".join(lines))
    new_shards = [out / f"{shard}.jsonl" for shard in range(n_shards)]

    def duplicates(paths: list[Path]) -> dict[str, str]:
        return {row["file"]: row["duplicate_of"] for row in JoinedShards(folder, paths).rows}

    assert duplicates(new_shards) == duplicates(old_shards) == first  # all old: SHA-256 against SHA-256
    broken = path_shard("a/broken.fits", n_shards)
    mixed = [old_shards[j] if j == broken else new_shards[j] for j in range(n_shards)]
    assert duplicates(mixed) == {**first, by_name["b/broken-copy.fits"]: ""}  # sha256:… never equals xxh3_128:…


def test_chunked_shards_stream_to_the_same_table_and_maps(small_model, mixed_folder: Path, tmp_path: Path, monkeypatch) -> None:
    """The workflow's path: each shard classified a few files at a time, its maps appended to its
    file, the shards' maps copied block by block into the merged file — the same as one call."""
    import logging

    from agn_saliency.explain.maps import read_saliency
    from agn_saliency.io.tables import write_table, write_table_blocks
    from agn_saliency.predict import shards
    from agn_saliency.predict.batch import classify_files
    from agn_saliency.predict.folder import PREDICTION_COLUMNS

    META = {"ood": None, "low_confidence_p_max": 0.6}  # noqa: N806 (as predict_spectra's table: astropy writes it)
    model, params = small_model
    monkeypatch.setattr(shards, "MIN_CHUNK_FILES", 3)
    monkeypatch.setattr(shards, "MAX_CHUNK_FILES", 3)
    monkeypatch.setattr(shards, "PROGRESS_EVERY_S", 0.0)
    whole, whole_maps = classify_files(mixed_folder, model, params)
    rows_paths, maps_paths = [], []
    messages: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            messages.append(record.getMessage())

    log = logging.getLogger("test.chunked")
    log.addHandler(Collect())
    log.setLevel(logging.INFO)
    for shard in range(3):
        rows_paths.append(tmp_path / f"{shard}.jsonl")
        maps_paths.append(tmp_path / f"{shard}.h5")
        shards.run_shard(mixed_folder, shard, 3, model, params, rows_paths[-1], maps_paths[-1], log=log)
    assert any("files/s, ETA" in m for m in messages) and all("took" in m for m in messages[-1:]), messages
    assert not list(tmp_path.glob(".*.tmp"))
    with shards.merge_shard_files(mixed_folder, rows_paths, maps_paths, tmp_path / "merged.h5", block=2) as joined:
        merged = [row for block in joined.blocks(block=3) for row in block]
        # the table written 4 rows at a time is byte for byte the one written at once from one call's rows
        write_table_blocks(
            tmp_path / "streamed.ecsv", joined.blocks(block=4), PREDICTION_COLUMNS, joined.types.datatypes(), meta=META
        )
    write_table(tmp_path / "whole.ecsv", whole, PREDICTION_COLUMNS, meta=META)
    assert (tmp_path / "streamed.ecsv").read_bytes() == (tmp_path / "whole.ecsv").read_bytes()
    assert [(r["key"], r["duplicate_of"]) for r in merged] == [(r["key"], r["duplicate_of"]) for r in whole]
    maps = read_saliency(tmp_path / "merged.h5")
    assert list(maps.key) == list(whole_maps.key) and list(maps.file) == list(whole_maps.file)
    for method in whole_maps.attributions:
        np.testing.assert_allclose(maps.attributions[method], whole_maps.attributions[method], rtol=1e-5, atol=1e-9)
    np.testing.assert_allclose(maps.flux, whole_maps.flux.astype(np.float32), rtol=0, atol=0)
    np.testing.assert_allclose(maps.probabilities, whole_maps.probabilities, rtol=0, atol=1e-12)
    with __import__("h5py").File(tmp_path / "merged.h5", "r") as handle:
        assert handle["saliency"].chunks[0] == 1  # chunked per spectrum


def row_lines(path: Path) -> int:
    """The ``{"row": ...}`` lines of a shard rows file (finished or not)."""
    return sum(line.startswith(b'{"row"') for line in path.read_bytes().splitlines())


def test_a_shards_rows_are_on_disk_before_its_next_chunk_is_computed(
    small_model, mixed_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """run_shard keeps one chunk's rows: before each chunk is classified, every earlier chunk's rows
    are in the (temporary) rows file already, and no output exists under its final name."""
    from agn_saliency.predict import shards

    model, params = small_model
    real_classify = shards.classify_files
    seen: list[tuple[int, int, bool]] = []  # per chunk: rows on disk before it, rows made before it, any final file
    made = 0

    def classify_and_look(*args, **kwargs):
        nonlocal made
        temporary = list(tmp_path.glob(".0.jsonl.*.tmp"))
        assert len(temporary) == 1, temporary
        final = (tmp_path / "0.jsonl").exists() or (tmp_path / "0.h5").exists()
        seen.append((row_lines(temporary[0]), made, final))
        rows, result = real_classify(*args, **kwargs)
        made += len(rows)
        return rows, result

    monkeypatch.setattr(shards, "classify_files", classify_and_look)
    summary = shards.run_shard(mixed_folder, 0, 1, model, params, tmp_path / "0.jsonl", tmp_path / "0.h5", chunk_files=4)
    assert len(seen) >= 5, seen  # > 16 files, 4 a chunk
    assert [on_disk for on_disk, _, _ in seen] == [before for _, before, _ in seen] and seen[-1][0] > 0, seen
    assert not any(final for _, _, final in seen)
    rows, digests, _ = shards.read_shard(tmp_path / "0.jsonl")
    assert summary.rows == len(rows) == made == row_lines(tmp_path / "0.jsonl")
    assert summary.files == len(digests) == len({row["file"] for row in rows})
    assert sum(summary.status.values()) == len(rows) and summary.status["rejected"] >= 1  # broken.fits
    assert not list(tmp_path.glob(".*.tmp"))


KILLED_SHARD = """
import os, signal, sys
import joblib
from agn_saliency.predict import shards

model, params = joblib.load(sys.argv[1])
classify, calls = shards.classify_files, []

def killed_at_the_second_chunk(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        os.kill(os.getpid(), signal.SIGKILL)
    return classify(*args, **kwargs)

shards.classify_files = killed_at_the_second_chunk
shards.run_shard(sys.argv[2], 0, 1, model, params, sys.argv[3], sys.argv[4], chunk_files=4)
"""
"""A shard job (its own process: a forked pytest can hang on its threads' locks) SIGKILLed when its second chunk starts."""


def test_a_stopped_shard_leaves_no_final_file_and_a_rerun_redoes_it(
    small_model, mixed_folder: Path, tmp_path: Path, monkeypatch
) -> None:
    """A shard job stopped after its first chunk — by an exception, or SIGKILLed — leaves nothing
    under a final name; run again, it writes the rows an uninterrupted job writes."""
    import signal
    import subprocess
    import sys

    import joblib

    from agn_saliency.predict import shards

    model, params = small_model
    real_classify = shards.classify_files
    calls = 0

    def stop_at_the_second_chunk(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise KeyboardInterrupt
        return real_classify(*args, **kwargs)

    monkeypatch.setattr(shards, "classify_files", stop_at_the_second_chunk)
    out = tmp_path / "out"
    rows_path, maps_path = out / "0.jsonl", out / "0.h5"
    with pytest.raises(KeyboardInterrupt):
        shards.run_shard(mixed_folder, 0, 1, model, params, rows_path, maps_path, chunk_files=4)
    assert not rows_path.exists() and not maps_path.exists() and not list(out.glob(".*.tmp"))  # removed on the way out
    monkeypatch.setattr(shards, "classify_files", real_classify)

    joblib.dump(small_model, tmp_path / "model.joblib")
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_SHARD, str(tmp_path / "model.joblib"), str(mixed_folder), str(rows_path), str(maps_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    assert not rows_path.exists() and not maps_path.exists(), "a killed shard left an output that looks finished"
    (leftover,) = out.glob(".0.jsonl.*.tmp")
    assert row_lines(leftover) >= 4  # the first chunk's rows were on disk when it was killed

    shards.run_shard(mixed_folder, 0, 1, model, params, rows_path, maps_path, chunk_files=4)  # the rerun
    assert not list(out.glob(".*.tmp"))  # the killed attempt's leftovers are gone
    shards.run_shard(mixed_folder, 0, 1, model, params, tmp_path / "whole.jsonl", tmp_path / "whole.h5", chunk_files=4)
    rerun, whole = shards.read_shard(rows_path), shards.read_shard(tmp_path / "whole.jsonl")
    assert json.dumps(rerun) == json.dumps(whole)  # NaN == NaN as text


def test_a_shard_rows_file_of_another_format_is_refused_naming_it(small_model, mixed_folder: Path, tmp_path: Path) -> None:
    """The merge reads JSON Lines shards (version 2); a shard of the old one-object format (its
    ``.json``), a file cut short or a line that is not JSON stop it with a message naming the file."""
    from agn_saliency.predict import shards

    model, params = small_model
    rows, result, digests = shards.predict_shard(mixed_folder, 0, 2, model, params)
    shards.write_shard(tmp_path / "0.jsonl", tmp_path / "0.h5", rows, result, digests)
    shards.write_shard(tmp_path / "1.jsonl", tmp_path / "1.h5", *shards.predict_shard(mixed_folder, 1, 2, model, params))
    good = (tmp_path / "0.jsonl").read_text()
    assert json.loads(good.splitlines()[0])["version"] == shards.SHARD_ROWS_VERSION
    cases = {
        "old.json": json.dumps({"rows": [json.loads(json.dumps(r)) for r in rows], "sha256": digests, "meta": {}}) + "\n",
        "short.jsonl": "".join(good.splitlines(keepends=True)[:-1]),  # no end line
        "garbled.jsonl": good.replace('{"row"', "not json", 1),
        "empty.jsonl": "",
    }
    for name, text in cases.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(ValueError, match=re.escape(str(tmp_path / name))) as caught:
            shards.merge_shards(mixed_folder, [tmp_path / name, tmp_path / "1.jsonl"], [tmp_path / "0.h5", tmp_path / "1.h5"])
        assert "predict_shard" in str(caught.value)  # what to do about it
    merged, _, _ = shards.merge_shards(
        mixed_folder, [tmp_path / "0.jsonl", tmp_path / "1.jsonl"], [tmp_path / "0.h5", tmp_path / "1.h5"]
    )
    assert len(merged) == len(rows) + len(shards.read_shard(tmp_path / "1.jsonl")[0])


# ------------------------------------------------------------------------------------------ workflow


def planned_jobs(workdir: Path, folder: Path, config: Path) -> dict[str, list[str]]:
    """Rules (with their planned jobs' wildcards lines) of a dry run of `snakemake predict`."""
    from helpers import run_tiny

    result = run_tiny(workdir, "-n", "predict", "--config", f"predict_dir={folder}", configs=(config,))
    assert result.returncode == 0, result.stderr[-3000:]
    jobs: dict[str, list[str]] = {}
    rule = None
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith(("rule ", "localrule ")) and line.rstrip().endswith(":"):
            rule = line.split()[1].rstrip(":")
            jobs.setdefault(rule, [])
        elif rule and line.strip().startswith("wildcards:"):
            jobs[rule].append(line.strip())
    return jobs


@pytest.mark.workflow
def test_adding_a_file_reruns_its_shard_and_the_merge_only(tiny_run: Path, real_dir: Path, tmp_path: Path) -> None:
    from helpers import run_tiny

    from agn_saliency.acquire.inventory import path_shard

    folder = tmp_path / "sharded"
    folder.mkdir()
    names = ["spec-0332-52367-0639.fits", "spec-0295-51585-0596.fits", "spec-0853-52374-0240.fits"]
    for name in names:
        shutil.copy(real_dir / name, folder / name)
    config = tmp_path / "shards.yaml"
    config.write_text("predict:\n  n_shards: 4\n  figures: none\n")
    result = run_tiny(tiny_run, "--cores", "2", "predict", "--config", f"predict_dir={folder}", configs=(config,))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "predict_shard" not in planned_jobs(tiny_run, folder, config)  # nothing changed, nothing to do

    added = "sub/spec-0266-51602-0001.fits"
    (folder / "sub").mkdir()
    shutil.copy(real_dir / Path(added).name, folder / added)
    jobs = planned_jobs(tiny_run, folder, config)
    assert len(jobs["predict_shard"]) == 1 and f"shard={path_shard(added, 4)}" in jobs["predict_shard"][0], jobs
    assert "predict_spectra" in jobs
    result = run_tiny(tiny_run, "--cores", "2", "predict", "--config", f"predict_dir={folder}", configs=(config,))
    assert result.returncode == 0, result.stderr[-3000:]
    from agn_saliency.io.tables import read_table

    rows = read_table(tiny_run / "results" / "predict" / "sharded" / "predictions.ecsv")
    assert [Path(row["file"]).name for row in rows] == sorted(names) + [Path(added).name]
    assert not list((tiny_run / "results" / "predict" / "sharded" / "plots").glob("*.png"))  # figures: none

    # At survey scale: 10,000 files (links to the real ones, in 10 sub-folders). Their predictions are
    # not computed: `--touch` records the grown folder's fingerprints as done (what Snakemake compares
    # to plan a shard), then one more file must plan its shard, the merge and what draws from them only.
    for i in range(10000 - len(names) - 1):
        (folder / f"p{i // 1000}").mkdir(exist_ok=True)
        (folder / f"p{i // 1000}" / f"s{i:05d}.fits").symlink_to(folder / names[i % len(names)])
    assert sum(1 for _ in folder.rglob("*.fits")) == 10000
    result = run_tiny(tiny_run, "--touch", "--cores", "1", "predict", "--config", f"predict_dir={folder}", configs=(config,))
    assert result.returncode == 0, result.stderr[-3000:]
    assert planned_jobs(tiny_run, folder, config) == {}
    added = "p3/new.fits"
    shutil.copy(real_dir / "spec-0266-51602-0573.fits", folder / added)
    jobs = planned_jobs(tiny_run, folder, config)
    assert jobs["predict_shard"] == [f"wildcards: name=sharded, n_shards=4, shard={path_shard(added, 4)}"], jobs
    assert set(jobs) == {
        "predict_shard",
        "predict_spectra",
        "plot_predictions",
        "plot_agn_gate",
        "plot_predict_summary",
        "predict",
    }


@pytest.mark.workflow
def test_predict_by_catalog_of_ids_equals_predict_on_the_same_files(tiny_run: Path, real_dir: Path, tmp_path: Path) -> None:
    """predict.catalog: SDSS plate/MJD/fiber ids fetched from a local HTTP server (SAS layout) with the
    resumable downloader, then predicted: the table of predicting a folder of the same files."""
    from helpers import run_tiny
    from http_faults import serve_folder

    from agn_saliency.io.tables import read_table
    from agn_saliency.spectra import sdss

    names = ["spec-0266-51602-0001.fits", "spec-0332-52367-0639.fits", "spec-0853-52374-0240.fits"]
    ids = [tuple(int(part) for part in name.removesuffix(".fits").split("-")[1:]) for name in names]  # plate, mjd, fiber
    sas, same = tmp_path / "sas", tmp_path / "same"
    same.mkdir()
    for name, (plate, mjd, fiber) in zip(names, ids):
        target = sas / sdss.spec_lite_relpath(plate, mjd, fiber)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(real_dir / name, target)
        shutil.copy(real_dir / name, same / name)
    catalog = tmp_path / "my_ids.csv"
    catalog.write_text(
        "plate,mjd,fiberid\n" + "".join(f"{p},{m},{f}\n" for p, m, f in ids) + "999,51000,1\n"
    )  # one not on the server
    with serve_folder(sas) as server:
        config = tmp_path / "catalog.yaml"
        config.write_text(
            f"predict:\n  catalog: {catalog}\n  n_shards: 2\n  figures: none\n"
            f"data:\n  sdss:\n    base_url: {server.url}\n    retries: 0\n    max_failed_fraction: 0.5\n"
        )
        result = run_tiny(tiny_run, "--cores", "2", "predict", configs=(config,))
        assert result.returncode == 0, result.stderr[-4000:]
        assert server.total_hits() == len(ids) + 1
        result = run_tiny(tiny_run, "--cores", "2", "predict", configs=(config,))  # nothing fetched again, nothing to do
        assert result.returncode == 0 and server.total_hits() == len(ids) + 1, result.stderr[-3000:]
    by_catalog = read_table(tiny_run / "results/predict/my_ids/predictions.ecsv")
    manifest = read_table(tiny_run / "results/predict/my_ids/catalog_manifest.ecsv")
    assert sorted(row["status"] for row in manifest) == ["missing", "ok", "ok", "ok"], manifest
    plain = tmp_path / "plain.yaml"
    plain.write_text("predict:\n  n_shards: 3\n  figures: none\n")
    result = run_tiny(tiny_run, "--cores", "2", "predict", "--config", f"predict_dir={same}", configs=(plain,))
    assert result.returncode == 0, result.stderr[-3000:]
    by_folder = read_table(tiny_run / "results/predict/same/predictions.ecsv")

    def comparable_row(row: dict) -> dict:
        return {k: v for k, v in row.items() if k not in ("file", "key")}

    assert [Path(r["file"]).name for r in by_catalog] == [Path(r["file"]).name for r in by_folder] == names
    assert [comparable_row(r) for r in by_catalog] == [comparable_row(r) for r in by_folder]


def test_fits_table_keeps_text_outside_ascii(tmp_path: Path) -> None:
    """predictions.fits (large folders): a reason naming Hα is kept (UTF-8 bytes; FITS text is ASCII)."""
    from astropy.io import fits as astropy_fits
    from astropy.table import Table

    from agn_saliency.predict.shards import write_fits_table

    Table({"key": ["a", "b"], "gate_reason": ["broad Hα found", "ok"], "z": [0.1, 0.2]}).write(tmp_path / "p.ecsv")
    write_fits_table(tmp_path / "p.fits", tmp_path / "p.ecsv")
    with astropy_fits.open(tmp_path / "p.fits") as hdus:
        reasons = [bytes(value).decode("utf-8") if isinstance(value, bytes) else value for value in hdus[1].data["gate_reason"]]
        assert reasons == ["broad Hα found", "ok"] and list(hdus[1].data["key"]) == ["a", "b"]


def test_row_chunks_written_directly_hold_what_h5py_assignment_holds(tmp_path: Path) -> None:
    """The merge's maps go in as whole chunks (write_direct_chunk): the same values, read back by h5py,
    as its indexed assignment; datasets it cannot write so (filters, strings, other chunking) are left
    to h5py, and a row outside the dataset is an error, not a silent write."""
    import h5py

    from agn_saliency.predict.shards import write_row_chunks

    rng = np.random.default_rng(3)
    values = rng.normal(size=(40, 3, 17)).astype(np.float32)
    rows = np.sort(rng.choice(200, size=40, replace=False))
    with h5py.File(tmp_path / "m.h5", "w") as handle:
        direct = handle.create_dataset("direct", shape=(200, 3, 17), dtype=np.float32, chunks=(1, 3, 17))
        indexed = handle.create_dataset("indexed", shape=(200, 3, 17), dtype=np.float32, chunks=(1, 3, 17))
        assert write_row_chunks(direct, rows, values.astype(np.float64))  # cast to the dataset's type, as h5py does
        indexed[rows] = values
        np.testing.assert_array_equal(direct[()], indexed[()])
        np.testing.assert_array_equal(direct[rows], values)
        assert not direct[np.setdiff1d(np.arange(200), rows)].any()  # rows not written read as the fill value
        squeezed = handle.create_dataset("gzip", shape=(200, 3, 17), dtype=np.float32, chunks=(1, 3, 17), compression="gzip")
        blocks = handle.create_dataset("blocks", shape=(200, 3, 17), dtype=np.float32, chunks=(8, 3, 17))
        texts = handle.create_dataset("texts", shape=(200,), dtype=h5py.string_dtype(), chunks=(1,))
        assert not write_row_chunks(squeezed, rows, values) and not squeezed[()].any()
        assert not write_row_chunks(blocks, rows, values) and not blocks[()].any()
        assert not write_row_chunks(texts, rows[:2], np.array(["a", "b"], dtype=object))
        with pytest.raises(IndexError, match="outside"):
            write_row_chunks(direct, np.array([3, 200]), values[:2])


def test_the_merged_saliency_file_is_the_same_bytes_written_either_way(tmp_path: Path) -> None:
    """SaliencyWriter.put with direct chunk writes (the default) and with h5py's assignment only:
    byte-identical files, readable by read_saliency with every spectrum in its row."""
    from agn_saliency.explain.maps import SaliencyResult, read_saliency
    from agn_saliency.predict.shards import SaliencyWriter, _take

    rng = np.random.default_rng(5)
    n, classes = 30, ["type1", "type2"]
    maps = rng.normal(size=(n, 2, 11)).astype(np.float32)
    names = np.array([f"s{i}" for i in range(n)], dtype=object)
    result = SaliencyResult(
        specid=names, true_label=np.array(["unknown"] * n, dtype=object), predicted_label=names, probabilities=rng.random((n, 2)),
        saliency=maps, flux=rng.normal(size=(n, 11)).astype(np.float32), wavelength=np.arange(11.0), class_names=classes,
        file=names, key=names, attributions={"gradient": maps, "logit_gradient": 3 * maps},
    )  # fmt: skip
    blocks = [
        np.array([0, 4, 9, 17, 29]),
        np.array([1, 2, 3, 5, 8, 13, 21]),
        np.setdiff1d(np.arange(n), [0, 4, 9, 17, 29, 1, 2, 3, 5, 8, 13, 21]),
    ]

    for direct in (True, False):
        writer = SaliencyWriter(
            tmp_path / f"{direct}.h5", {"folder": "x"}, n_rows=n, chunk_per_spectrum=True, direct_chunks=direct
        )
        for rows in blocks:
            writer.put(rows, _take(result, rows))
        writer.close(_take(result, np.zeros(0, np.int64)))
    assert (tmp_path / "True.h5").read_bytes() == (tmp_path / "False.h5").read_bytes()
    back = read_saliency(tmp_path / "True.h5")
    assert list(back.key) == list(names)
    np.testing.assert_array_equal(back.attributions["logit_gradient"], 3 * maps)
    np.testing.assert_array_equal(back.flux, result.flux)


def test_solve_falls_back_per_system_when_a_broadcast_normal_matrix_is_singular() -> None:
    # The Levenberg–Marquardt projection solves one normal matrix per spectrum (n, 1, M, M) against
    # several right-hand sides (n, K, M); a singular matrix among them once raised IndexError in the
    # one-at-a-time fallback (a 100 000-file predict, shard 14 of 16).
    from agn_saliency.spectra.gate_batch import _solve

    rng = np.random.default_rng(3)
    n, k, m = 4, 3, 2
    normal = rng.normal(size=(n, m, m)) + 3 * np.eye(m)
    normal[2] = 0.0  # singular
    rhs = rng.normal(size=(n, k, m))
    x, bad = _solve(normal[:, None], rhs)
    assert x.shape == (n, k, m) and bad.shape == (n, k)
    assert bad[2].all() and not bad[[0, 1, 3]].any() and not x[2].any()
    for i in (0, 1, 3):
        np.testing.assert_allclose(normal[i] @ x[i].T, rhs[i].T, rtol=1e-8, atol=1e-10)


def test_levenberg_marquardt_retries_a_rejected_step_at_half_its_length() -> None:
    # r(θ) = θ² - 1 from θ = 0.3: the Gauss–Newton step (to 1.82) raises the cost and is rejected;
    # the next trial is the rejected step halved (θ = 1.06), not a slightly more damped copy of it
    # (the broad width pushed onto its bound was rejected ~5 times in a row that way).
    from agn_saliency.spectra.gate_batch import _levenberg_marquardt

    trials: list[float] = []

    def evaluate(theta: np.ndarray, index: np.ndarray):
        trials.extend(theta[:, 0].tolist())
        r = theta[:, 0] ** 2 - 1.0
        jacobian = 2.0 * theta[:, 0]
        return 0.5 * r * r, (jacobian * jacobian)[:, None, None], (jacobian * r)[:, None], np.zeros(len(index), dtype=bool)

    theta, _, failed = _levenberg_marquardt(np.array([[0.3]]), np.array([0.1]), np.array([10.0]), evaluate, max_nfev=30)
    assert not failed[0] and abs(theta[0, 0] - 1.0) < 1e-3
    assert trials[1] > 1.8 and 0.5 * (trials[1] ** 2 - 1) ** 2 > 0.5 * (0.3**2 - 1) ** 2  # rejected
    assert trials[2] == pytest.approx(0.3 + 0.5 * (trials[1] - 0.3), rel=1e-12)


@pytest.mark.skipif(not gate_batch.gate_numba.AVAILABLE, reason="numba not importable")
def test_compiled_region_fits_equal_the_batched_numpy_fits(
    real_dir: Path, real_index: list[dict[str, str]], tmp_path: Path, monkeypatch
) -> None:
    # The numba path (one spectrum at a time, sums over the lines' windows only) and the batched numpy
    # path (dense padded arrays) run the same stages and stopping rules: the same minimum, to rounding.
    from agn_saliency.acquire.inventory import scan_folder

    simulated_folder(tmp_path, (8, 10, 6), seed=11)
    paths = [real_dir / row["file"] for row in real_index] + [tmp_path / row["path"] for row in scan_folder(tmp_path)]
    measured = [gate._measure(s, s.z) for s in (read_spectrum(path) for path in paths)]
    compared = 0
    for region in gate.REGIONS:
        items = [m.region_data(region) for m in measured if isinstance(m, gate.Measured) and region.name in m.to_fit]
        numpy_fits = gate_batch.fit_regions(region, items, engine="numpy")
        numba_fits = gate_batch.fit_regions(region, items, engine="numba")
        assert len(numba_fits) == len(numpy_fits) == len(items) > 10
        for a, b in zip(numpy_fits, numba_fits):
            assert type(a) is type(b)
            if isinstance(a, Exception):
                continue
            values = np.array([[*x.flux.values(), *x.error.values(), x.broad_flux, x.broad_error, x.broad_fwhm] for x in (a, b)])
            np.testing.assert_allclose(values[1], values[0], rtol=1e-6, atol=1e-9 * np.abs(values[0]).max())
            assert a.broad_at_limit == b.broad_at_limit
            compared += 1
    assert compared > 40
    monkeypatch.setattr(gate_batch.gate_numba, "AVAILABLE", False)  # numba missing: the numpy path, as asked for it
    region = gate.REGIONS[0]
    items = [m.region_data(region) for m in measured[:6] if isinstance(m, gate.Measured) and region.name in m.to_fit]
    fallback, reference = (gate_batch.fit_regions(region, items, engine=engine) for engine in ("numba", "numpy"))
    assert [f.flux for f in fallback] == [f.flux for f in reference]
    with pytest.raises(ValueError, match="engine"):
        gate_batch.fit_regions(gate.REGIONS[0], [], engine="fortran")


def test_without_a_writable_numba_cache_the_compiled_gate_steps_aside(monkeypatch, caplog) -> None:
    # numba raises RuntimeError for cache=True when no folder is writable (read-only install, no home):
    # compiling in every job would cost more than it saves, so the numpy path takes over, with a warning.
    from agn_saliency.spectra import gate_numba

    def no_cache(**options):
        def decorate(function):
            raise RuntimeError(f"cannot cache function {function.__name__!r}: no locator available")

        return decorate

    monkeypatch.setattr(gate_numba, "_numba_njit", no_cache)
    monkeypatch.setattr(gate_numba, "AVAILABLE", True)

    def plain(x: float) -> float:
        return x + 1.0

    with caplog.at_level("WARNING", logger="agn_saliency.spectra.gate_numba"):
        assert gate_numba._jit(cache=True)(plain) is plain
    assert gate_numba.AVAILABLE is False
    assert "NUMBA_CACHE_DIR" in caplog.text


@pytest.mark.parametrize("engine", ["numpy", "numba"])
def test_region_fits_do_not_depend_on_how_spectra_are_chunked(
    real_dir: Path, real_index: list[dict[str, str]], monkeypatch, engine: str
) -> None:
    # Spectra of several padded lengths (real files: masked pixels) share one Levenberg–Marquardt
    # per round of chunks; chunks of 2 and rounds of 3 spectra must give the same fits bit for bit.
    measured = [gate._measure(s, s.z) for s in (read_spectrum(real_dir / row["file"]) for row in real_index)]
    region = gate.REGIONS[1]
    items = [m.region_data(region) for m in measured if isinstance(m, gate.Measured) and region.name in m.to_fit]
    assert len({gate_batch._padded(len(item[0])) for item in items}) >= 2
    together = gate_batch.fit_regions(region, items, engine=engine)
    monkeypatch.setattr(gate_batch, "ROUND", 3)
    apart = gate_batch.fit_regions(region, items, chunk=2, engine=engine)
    pairs = [fit for lo in range(0, len(items), 2) for fit in gate_batch.fit_regions(region, items[lo : lo + 2], engine=engine)]
    for a, b in [*zip(together, apart), *zip(together, pairs)]:
        assert type(a) is type(b)
        if not isinstance(a, Exception):
            values = [[*x.flux.values(), *x.error.values(), x.broad_flux, x.broad_fwhm, x.broad_fwhm_error] for x in (a, b)]
            np.testing.assert_array_equal(*values)  # NaN equals NaN here


def test_merge_prints_one_line_naming_the_rejected_files_and_the_table(
    small_model, mixed_folder: Path, tmp_path: Path, capsys
) -> None:
    """predict_spectra's job, as the workflow runs it (entry.run: log file + terminal at WARNING): the
    files with no usable class (verdict rejected or not_agn) are counted on one terminal line."""
    import logging
    from types import SimpleNamespace

    from agn_saliency import entry
    from agn_saliency.io.tables import read_table
    from agn_saliency.predict.shards import predict_shard, write_shard
    from agn_saliency.stages.predict import predict_spectra

    model, params = small_model
    rows_paths, maps_paths = [], []
    for shard in range(2):
        rows, result, digests = predict_shard(mixed_folder, shard, 2, model, params)
        rows_paths.append(str(tmp_path / f"{shard}.json"))
        maps_paths.append(str(tmp_path / f"{shard}.h5"))
        write_shard(rows_paths[-1], maps_paths[-1], rows, result, digests)
    table, log = tmp_path / "out" / "predictions.ecsv", tmp_path / "logs" / "predict_spectra.log"
    table.parent.mkdir()
    job = SimpleNamespace(
        rule="predict_spectra",
        input={"rows": rows_paths, "saliency": maps_paths},
        output={"predictions": str(table), "saliency": str(tmp_path / "out/saliency.h5"), "folder": str(tmp_path / "out/f.json")},
        params={"folder": str(mixed_folder), "fingerprint": "x", "low_confidence_p_max": 0.6},
        wildcards={"name": "mixed"},
        threads=1,
        resources={},
        config={},
        log=[str(log)],
    )
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        entry.run(predict_spectra, job)
    finally:  # entry.run replaced the root logger's handlers, as a job's process does
        for handler in root.handlers:
            handler.close()
        root.handlers[:], root.level = handlers, level
    verdicts = [row["verdict"] for row in read_table(table)]
    rejected, not_agn = verdicts.count("rejected"), verdicts.count("not_agn")
    assert rejected >= 3 and not_agn >= 1  # broken.fits and the two real spectra beyond z 0.8; galaxies
    expected = (
        f"{rejected + not_agn} of {len(verdicts)} files rejected (verdict rejected: {rejected}, not_agn: {not_agn}), "
        f"see {table} (columns reason, gate_reason)"
    )
    terminal = [line for line in capsys.readouterr().err.splitlines() if "files rejected" in line]
    assert len(terminal) == 1 and terminal[0].endswith(expected) and " WARNING " in terminal[0], terminal
    assert expected in log.read_text()


def test_shard_rows_writer_writes_numpy_scalars_as_python_values(tmp_path) -> None:
    """A row's numpy scalars are written as json.dumps writes their Python values (NaN as NaN), line for line."""
    import json

    from agn_saliency.predict import shards

    row = {"file": "a.fits", "_file_row": np.int64(-1), "z": np.float64(0.12345), "ok": np.bool_(True), "p": float("nan")}
    row |= {"ood_score": np.float64("nan"), "specid": np.str_("x"), "n": np.int32(3), "f32": np.float32(0.5)}
    with shards.ShardRowsWriter(tmp_path / "rows.jsonl", {"m": 1}) as writer:
        writer.write([row, {"file": "b.fits"}], {"a.fits": "d"})
    lines = (tmp_path / "rows.jsonl").read_text().splitlines()
    python = {k: v.item() if isinstance(v, np.generic) else v for k, v in row.items()}
    assert lines[2] == json.dumps({"row": python})
    assert lines[3] == json.dumps({"row": {"file": "b.fits"}})
    rows, digests, meta = shards.read_shard(tmp_path / "rows.jsonl")
    assert rows[0]["_file_row"] == -1 and rows[0]["ok"] is True and np.isnan(rows[0]["ood_score"]) and meta == {"m": 1}
    with pytest.raises(TypeError, match="set is not JSON serializable"), shards.ShardRowsWriter(tmp_path / "bad.jsonl") as writer:
        writer.write([{"file": {1}}], {})
    assert not (tmp_path / "bad.jsonl").exists()


def _same_measurement(a, b) -> bool:
    """Two ``gate._measure`` answers equal: the same result dict (NaN equals NaN), or the same Measured."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(a[k] == b[k] or (a[k] != a[k] and b[k] != b[k]) for k in a)
        )
    return (
        a.z == b.z
        and a.scale_always == b.scale_always
        and a.covered == b.covered
        and a.notes == b.notes
        and a.to_fit.keys() == b.to_fit.keys()
        and all(np.array_equal(a.to_fit[k], b.to_fit[k]) for k in a.to_fit)
        and np.array_equal(a.good, b.good)
        and all(
            np.array_equal(x, y, equal_nan=True) for x, y in ((a.wavelength, b.wavelength), (a.flux, b.flux), (a.ivar, b.ivar))
        )
        and all(  # the fits' data, gathered from the regions' spans when known
            all(np.array_equal(x, y) for x, y in zip(a.region_data(region), b.region_data(region)))
            for region in gate.REGIONS
            if region.name in a.to_fit
        )
    )


@pytest.mark.skipif(not gate_batch.gate_numba.AVAILABLE, reason="numba not importable")
def test_compiled_measurement_equals_gate_measure(real_dir: Path, real_index: list[dict[str, str]], tmp_path: Path) -> None:
    # The compiled pixel work (good pixels, median step, coverage and region counts, median |flux|)
    # gives the same Measured as gate._measure, and decide the same flux_scale/median_flux from it.
    from agn_saliency.acquire.inventory import scan_folder

    simulated_folder(tmp_path, (4, 4, 4), seed=17)
    paths = [real_dir / row["file"] for row in real_index] + [tmp_path / row["path"] for row in scan_folder(tmp_path)]
    spectra = [read_spectrum(path) for path in paths]
    cases = [(s, s.z) for s in spectra]
    base = spectra[0]

    def variant(**changes: np.ndarray):
        return dataclasses.replace(base, **changes)

    n = base.wavelength.size
    masked = base.and_mask.copy()
    masked[n // 3 : n // 2] = 1 << 18  # a masked stretch
    unsorted = base.wavelength.copy()
    unsorted[[10, 11]] = unsorted[[11, 10]]
    even_ivar = np.where(base.ivar > 0, 1.0, 0.0)  # DR7 without an error row: ivar constant on the good pixels
    odd = slice(0, n - (n % 2 == 0))  # an odd pixel count (the medians' other branch)
    cases += [
        (base, float("nan")),
        (base, -0.1),
        (base, 2.5),  # no region covered
        (variant(and_mask=masked), base.z),
        (variant(ivar=np.zeros(n)), base.z),  # no good pixel
        (variant(ivar=even_ivar), base.z),
        (variant(wavelength=unsorted), base.z),  # not sorted: gate._measure itself
        (variant(wavelength=base.wavelength[::-1]), base.z),  # decreasing
        (variant(wavelength=base.wavelength[odd], flux=base.flux[odd], ivar=base.ivar[odd], and_mask=base.and_mask[odd]), base.z),
        (variant(wavelength=base.wavelength[:1], flux=base.flux[:1], ivar=base.ivar[:1], and_mask=base.and_mask[:1]), base.z),
    ]
    measured = 0
    for spectrum, z in cases:
        reference, compiled = gate._measure(spectrum, z), gate_batch._measure_compiled(spectrum, z)
        assert _same_measurement(reference, compiled), (spectrum.plate, spectrum.fiberid, z)
        if isinstance(reference, gate.Measured):
            measured += 1
            assert _same_measurement(gate.decide(compiled, {}, None), gate.decide(reference, {}, None))
            assert compiled.flux_median is None or compiled.flux_median == float(
                np.median(np.abs(reference.flux[reference.good]))
            )
    assert measured > 20


@pytest.mark.skipif(not gate_batch.gate_numba.AVAILABLE, reason="numba not importable")
@pytest.mark.parametrize("n", [1, 2, 3, 255, 256, 257, 3826, 3827])
def test_compiled_median_equals_numpys_bit_for_bit(n: int) -> None:
    # gate_numba._median looks for the middle ranks between two sampled pivots first: the sample can
    # miss them (sorted, constant, skewed values), when the whole array is partitioned instead.
    rng = np.random.default_rng(n)
    cases = {
        "random": rng.normal(size=n),
        "sorted": np.sort(rng.normal(size=n)),
        "reversed": np.sort(rng.normal(size=n))[::-1].copy(),
        "few values": rng.choice([1e-4, 1e-4 + 2e-11, 1e-4 - 2e-11], size=n),
        "constant": np.full(n, 2.5),
        "skewed": np.where(np.arange(n) % 65 == 0, -1e9, rng.uniform(size=n)),
        "sample misses": np.where(np.arange(n) % max(n // 65, 1) == 0, 1e9 + np.arange(n), rng.uniform(size=n)),
    }
    for name, values in cases.items():
        before = values.copy()
        assert gate_batch.gate_numba._median(values) == np.median(values), name
        assert np.array_equal(values, before), name  # the caller's values are not reordered


@pytest.mark.skipif(not gate_batch.gate_numba.AVAILABLE, reason="numba not importable")
def test_compiled_single_precision_exp_is_within_float32_rounding() -> None:
    # The broad grid's Gaussians (gate_numba._exp_minus32, float32 arithmetic in SIMD lanes) over the
    # whole range a ±6σ window needs: within 2 float32 ulp of the exact exponential.
    from numba import njit

    exp32 = gate_batch.gate_numba._exp_minus32

    @njit
    def evaluate(xs: np.ndarray) -> np.ndarray:
        out = np.empty(xs.size, dtype=np.float32)
        for i in range(xs.size):
            out[i] = exp32(xs[i])
        return out

    xs = np.linspace(-18.1, 0.0, 100_001).astype(np.float32)
    got = evaluate(xs)
    assert got.dtype == np.float32 and got[-1] == 1.0
    exact = np.exp(xs.astype(np.float64))
    assert np.max(np.abs(got - exact) / exact) < 2.0 * np.finfo(np.float32).eps


@pytest.mark.parametrize("engine", ["numba", "numpy"])
def test_region_fits_do_not_depend_on_the_flux_unit(real_dir: Path, real_index: list[dict[str, str]], engine: str) -> None:
    # Both paths' broad grids run in single precision: weights √ivar of fluxes in erg/s/cm²/Å (×1e-17:
    # ivar ×1e34) overflowed float32 in their products before they were scaled by a power of two.
    if engine == "numba" and not gate_batch.gate_numba.AVAILABLE:
        pytest.skip("numba not importable")
    paths = [real_dir / row["file"] for row in real_index]
    measured = [gate._measure(s, s.z) for s in (read_spectrum(path) for path in paths)]
    region = gate.REGIONS[1]
    items = [m.region_data(region) for m in measured if isinstance(m, gate.Measured) and region.name in m.to_fit]
    assert len(items) > 5
    unit = 1e-20
    scaled = [(wl, flux * unit, ivar / unit**2, z, always) for wl, flux, ivar, z, always in items]
    for a, b in zip(*(gate_batch.fit_regions(region, these, engine=engine) for these in (items, scaled))):
        assert not isinstance(a, Exception) and not isinstance(b, Exception)
        assert b.broad_fwhm == pytest.approx(a.broad_fwhm, rel=1e-6, abs=1e-6)
        for name in a.flux:
            assert b.flux[name] / unit == pytest.approx(a.flux[name], rel=1e-6, abs=1e-9 * max(abs(v) for v in a.flux.values()))
