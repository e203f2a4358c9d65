"""`snakemake predict` never shows stale or colliding results.

* input folders are tracked by content (:func:`agn_saliency.acquire.inventory.folder_fingerprint` as a
  params value): a file added in a sub-folder or replaced in place reruns its shard (predict_shard) and predict_spectra;
* each folder's results live under results/predict/<name>/, <name> from its absolute path, so
  another folder (even one with the same base name) never reuses or overwrites them;
* a bad predict_dir stops the DAG with a message naming it;
* one row per file: copies of one spectrum are all classified, flagged ``duplicate_of``, and keyed
  so that no figure or saliency row overwrites another.

Library tests use copies of the real files in ../shared/data/sdss_real made in tmp_path; workflow
tests predict with the model of the session's tiny run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import h5py
import numpy as np
import pytest
from astropy.io import fits as astropy_fits
from helpers import REAL_DIR, needs_real, run_tiny, settings_changed

from agn_saliency.acquire.inventory import (
    FOLDER_LABEL_PATTERN,
    checked_folder,
    file_keys,
    fits_files,
    folder_fingerprint,
    folder_label,
    label_taken_by,
)
from agn_saliency.explain.maps import SaliencyResult, read_saliency, write_saliency
from agn_saliency.io.tables import read_table
from agn_saliency.predict.folder import PREDICTION_COLUMNS, repeated_spectra

TYPE1 = "spec-0332-52367-0639.fits"  # z 0.10
TYPE2 = "spec-0295-51585-0596.fits"  # z 0.14
OTHER = "spec-0853-52374-0240.fits"  # z 0.20
TOO_FAR = "spec-0746-52238-0373.fits"  # z 1.88: rejected


def copy_real(name: str, destination: Path) -> Path:
    """Copy a real file to ``destination`` (a file path; folders created). Copies are writable."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(REAL_DIR / name, destination)
    return destination


def edited_copy(name: str, destination: Path) -> Path:
    """A real DR8 file with its flux changed (bytes differ) and its header ids kept."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    with astropy_fits.open(REAL_DIR / name) as hdus:
        flux = hdus[1].data["flux"]
        flux[: len(flux) // 2] *= 1.3
        hdus.writeto(destination)
    return destination


def folder_without_fits(folder: Path) -> Path:
    """A folder with a sub-folder and a text file, but no FITS file."""
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "notes.txt").write_text("no spectrum here")
    return folder


# ------------------------------------------------------------------------------------------- library


@needs_real
def test_fingerprint_sees_sub_folders_and_in_place_replacement(tmp_path: Path) -> None:
    folder = tmp_path / "spectra"
    copy_real(TYPE1, folder / TYPE1)
    (folder / "sub").mkdir()
    (folder / "notes.txt").write_text("not a spectrum")
    before = folder_fingerprint(folder)
    assert folder_fingerprint(folder) == before
    (folder / "more.txt").write_text("still not a spectrum")
    (folder / "sub" / ".partial.fits").write_bytes(b"hidden download")
    assert folder_fingerprint(folder) == before  # same filter as scan_folder: only visible FITS files

    folder_mtime = (folder / "sub").stat().st_mtime_ns
    copy_real(TYPE2, folder / "sub" / TYPE2)
    added = folder_fingerprint(folder)
    assert added != before

    # Same name, same size, new content and modification time: the folders' mtimes do not change.
    target = folder / "sub" / TYPE2
    os.utime(folder / "sub", ns=(folder_mtime, folder_mtime))
    data = bytearray(target.read_bytes())
    data[-1] ^= 0xFF
    target.write_bytes(bytes(data))
    stat = target.stat()
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert folder_fingerprint(folder) not in (before, added)

    # Where the folder lives does not matter, only what it holds.
    moved = tmp_path / "elsewhere"
    shutil.copytree(folder, moved, copy_function=shutil.copy2)
    assert folder_fingerprint(moved) == folder_fingerprint(folder)


@needs_real
@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda tmp: "", ["is not set"]),
        (lambda tmp: str(tmp / "nowhere"), ["does not exist"]),
        (lambda tmp: str(copy_real(TYPE1, tmp / TYPE1)), ["is a file"]),
        (lambda tmp: "/", ["file-system root"]),
        (lambda tmp: "/tmp/..", ["file-system root"]),
        (lambda tmp: str(folder_without_fits(tmp / "empty")), ["holds no FITS files"]),
    ],
    ids=["unset", "missing", "file", "root", "root-via-dots", "no-fits"],
)
def test_checked_folder_rejects(tmp_path: Path, make, words: list[str]) -> None:
    value = make(tmp_path)
    with pytest.raises(ValueError) as error:
        checked_folder(value, "predict_dir")
    message = str(error.value)
    assert message.startswith("predict_dir") and "\n" not in message
    for word in words:
        assert word in message


@needs_real
def test_checked_folder_resolves_relative_paths_against_the_working_directory(tmp_path: Path, monkeypatch) -> None:
    copy_real(TYPE1, tmp_path / "spectra" / "deep" / TYPE1)
    monkeypatch.chdir(tmp_path / "spectra")
    assert checked_folder(".", "predict_dir") == tmp_path / "spectra"
    assert checked_folder("deep/../deep", "predict_dir") == tmp_path / "spectra" / "deep"


def test_folder_label_is_the_folders_own_name(tmp_path: Path, monkeypatch) -> None:
    a, b = tmp_path / "a" / "spectra", tmp_path / "b" / "spectra"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    assert folder_label(a) == folder_label(b) == "spectra"  # the workflow refuses the second (below)
    monkeypatch.chdir(tmp_path / "a")
    assert folder_label("spectra") == folder_label(f"{a}/") == folder_label("spectra/../spectra") == "spectra"
    (tmp_path / "link").symlink_to(a)
    assert folder_label(tmp_path / "link") == "link"  # a symlink's own name: the way to a second name
    assert folder_label(tmp_path / "we ird:name") == "we_ird_name"


def test_label_taken_by_names_another_folder_only(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "spectra", tmp_path / "b" / "spectra"
    a.mkdir(parents=True)
    b.mkdir(parents=True)
    record = tmp_path / "folder.json"
    assert label_taken_by(record, a) is None  # no results yet
    record.write_text(json.dumps({"folder": str(a)}))
    assert label_taken_by(record, a) is None and label_taken_by(record, f"{a}/") is None
    assert label_taken_by(record, b) == str(a)
    record.write_text("{not json")
    assert label_taken_by(record, b) is None


@pytest.mark.parametrize("name", ["spectra", "we ird:name", "..", ".hidden", "ünï+côdé.d", "a" * 200])
def test_folder_label_matches_the_pattern_the_workflow_constrains_it_to(tmp_path: Path, name: str) -> None:
    assert re.fullmatch(FOLDER_LABEL_PATTERN, folder_label(tmp_path / "x" / name)), folder_label(tmp_path / "x" / name)


def test_file_keys_are_readable_and_unique(tmp_path: Path) -> None:
    names = ["a.fits", "a.fit", "a-2.fits", "a/b.fits", "a__b.fits", "sub/deeper/spec-0332-52367-0639.fits"]
    paths = sorted(str(tmp_path / name) for name in names)
    keys = file_keys(tmp_path, paths)
    assert len(set(keys)) == len(keys)
    by_name = dict(zip((str(Path(p).relative_to(tmp_path)) for p in paths), keys))
    assert by_name["sub/deeper/spec-0332-52367-0639.fits"] == "sub__deeper__spec-0332-52367-0639"
    assert by_name["a-2.fits"] == "a-2"
    assert {by_name["a.fit"], by_name["a.fits"]} == {"a", "a-3"}  # "a-2" is another file's name
    assert {by_name["a/b.fits"], by_name["a__b.fits"]} == {"a__b", "a__b-2"}
    assert all("/" not in key for key in keys)


def test_repeated_spectra_by_ids_and_by_bytes() -> None:
    paths = ["a", "b", "c", "d", "e", "f"]
    ids = [(1, 2, 3), (1, 2, 3), None, (4, 5, 6), (7, 8, 9), None]
    digests = ["x", "y", "y", "z", "w", "u"]
    # b repeats a (ids); c repeats b's bytes, hence a; d, e, f are alone.
    assert repeated_spectra(paths, ids, digests) == ["", "a", "a", "", "", ""]
    # A file that matches two earlier groups names the first of them.
    assert repeated_spectra(["p", "q", "r"], [(1, 1, 1), (2, 2, 2), (2, 2, 2)], ["s", "t", "s"]) == ["", "", "p"]
    with pytest.raises(ValueError):
        repeated_spectra(["a"], [], ["x"])


def test_saliency_file_and_key_round_trip(tmp_path: Path) -> None:
    n, k, p = 3, 2, 5
    result = SaliencyResult(
        np.array(["s", "s", "t"], dtype=object),
        np.array(["", "", ""], dtype=object),
        np.array(["type1", "type2", "type1"], dtype=object),
        np.full((n, k), 0.5),
        np.zeros((n, k, p)),
        np.ones((n, p)),
        np.linspace(4000, 5500, p),
        ["type1", "type2"],
        file=np.array(["/f/a.fits", "/f/b.fits", "/f/c.fits"], dtype=object),
        key=np.array(["a", "b", "c"], dtype=object),
    )
    write_saliency(tmp_path / "with.h5", result, attrs={"folder": "/f"})
    back = read_saliency(tmp_path / "with.h5")
    assert list(back.file) == ["/f/a.fits", "/f/b.fits", "/f/c.fits"] and list(back.key) == ["a", "b", "c"]
    with h5py.File(tmp_path / "with.h5", "r") as handle:
        assert handle.attrs["folder"] == "/f"
    plain = SaliencyResult(
        *[
            getattr(result, name)
            for name in (
                "specid",
                "true_label",
                "predicted_label",
                "probabilities",
                "saliency",
                "flux",
                "wavelength",
                "class_names",
            )
        ]
    )
    write_saliency(tmp_path / "plain.h5", plain)
    back = read_saliency(tmp_path / "plain.h5")
    assert back.file is None and back.key is None
    with pytest.raises(ValueError, match="file has 2 rows"):
        SaliencyResult(
            *[
                getattr(result, name)
                for name in (
                    "specid",
                    "true_label",
                    "predicted_label",
                    "probabilities",
                    "saliency",
                    "flux",
                    "wavelength",
                    "class_names",
                )
            ],
            file=np.array(["a", "b"], dtype=object),
        )


# ------------------------------------------------------------------------------------------ workflow


def predict(workdir: Path, folder: Path | str, *args: str):
    """`snakemake predict` on ``folder`` in the tiny run's working directory."""
    return run_tiny(workdir, "--cores", "2", *args, "predict", "--config", f"predict_dir={folder}")


def planned(workdir: Path, folder: Path | str) -> dict[str, list[str]]:
    """Rules a dry run of `snakemake predict` plans, with each job's reason."""
    result = predict(workdir, folder, "-n")
    assert result.returncode == 0, result.stderr[-3000:]
    jobs: dict[str, list[str]] = {}
    rule = None
    for line in (result.stdout + result.stderr).splitlines():
        if line.startswith(("rule ", "localrule ")) and line.rstrip().endswith(":"):
            rule = line.split()[1].rstrip(":")
            jobs.setdefault(rule, [])
        elif rule and line.strip().startswith("reason:"):
            jobs[rule].append(line.strip())
    return jobs


def results_of(workdir: Path, folder: Path) -> Path:
    return workdir / "results" / "predict" / folder_label(folder)


def check_results(out: Path, folder: Path) -> list[dict[str, str]]:
    """The results of one folder are complete, about that folder and about nothing else."""
    rows = read_table(out / "predictions.ecsv")
    assert tuple(rows[0]) == PREDICTION_COLUMNS
    files = [str(path) for path in fits_files(folder.resolve())]
    assert [row["file"] for row in rows] == files  # one row per file, sorted, nothing from another folder
    assert json.loads((out / "folder.json").read_text())["folder"] == str(folder.resolve())
    ok = [row for row in rows if row["status"] != "rejected"]  # ok and ood spectra are classified and drawn
    assert sorted(p.name for p in (out / "plots").glob("*.png")) == sorted(f"{row['key']}.png" for row in ok)
    with h5py.File(out / "saliency.h5", "r") as handle:
        assert handle.attrs["folder"] == str(folder.resolve())
        assert list(handle["file"].asstr()[()]) == [row["file"] for row in ok]
        assert list(handle["key"].asstr()[()]) == [row["key"] for row in ok]
    return rows


@needs_real
@pytest.mark.workflow
def test_another_folder_of_the_same_name_is_refused(tiny_run: Path, tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "spectra", tmp_path / "b" / "spectra"  # one base name, two folders
    copy_real(TYPE1, a / TYPE1)
    copy_real(TYPE2, a / TYPE2)
    copy_real(OTHER, b / OTHER)
    result = predict(tiny_run, a)
    assert result.returncode == 0, result.stderr[-3000:]
    out_a = results_of(tiny_run, a)
    assert out_a == tiny_run / "results/predict/spectra"  # the folder's own name, nothing to look up
    rows_a = check_results(out_a, a)
    assert [row["status"] for row in rows_a] == ["ok", "ok"]
    written_a = {path: path.stat().st_mtime_ns for path in out_a.rglob("*")}

    # Relative to the working directory: the same folder, so nothing to do.
    assert "predict_spectra" not in planned(tiny_run, os.path.relpath(a, tiny_run))

    result = predict(tiny_run, b)
    assert result.returncode != 0
    message = result.stdout + result.stderr
    assert "results/predict/spectra/ holds the results of another folder of the same name" in message, message[-3000:]
    assert str(a) in message
    assert {path: path.stat().st_mtime_ns for path in out_a.rglob("*")} == written_a  # a's results untouched

    link = tmp_path / "spectra_b"  # the way out the message gives: another name for b
    link.symlink_to(b)
    result = predict(tiny_run, link)
    assert result.returncode == 0, result.stderr[-3000:]
    out_b = tiny_run / "results/predict/spectra_b"
    rows_b = check_results(out_b, b)
    assert [Path(row["file"]).name for row in rows_b] == [OTHER]
    assert {path: path.stat().st_mtime_ns for path in out_a.rglob("*")} == written_a
    assert check_results(out_a, a) == rows_a


@needs_real
@pytest.mark.workflow
def test_changed_folder_reruns_predict(tiny_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "changing"
    copy_real(TYPE1, folder / "mine.fits")  # not an SDSS name: its ids come from its header
    (folder / "sub").mkdir()
    result = predict(tiny_run, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "predict_spectra" not in planned(tiny_run, folder)  # nothing changed, nothing to do

    copy_real(TYPE2, folder / "sub" / TYPE2)  # the top folder's mtime does not change
    jobs = planned(tiny_run, folder)
    # the changed file's shard (its fingerprint, a settings value) reruns, then the merge
    assert any(settings_changed(reason) for reason in jobs["predict_shard"]) and "predict_spectra" in jobs, jobs
    assert "plot_predictions" in jobs
    result = predict(tiny_run, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = check_results(results_of(tiny_run, folder), folder)
    assert [(Path(row["file"]).name, row["plate"]) for row in rows] == [("mine.fits", "332"), (TYPE2, "295")]
    assert "predict_spectra" not in planned(tiny_run, folder)

    copy_real(OTHER, folder / "mine.fits")  # replaced in place: same name, another spectrum
    jobs = planned(tiny_run, folder)
    # the changed file's shard (its fingerprint, a settings value) reruns, then the merge
    assert any(settings_changed(reason) for reason in jobs["predict_shard"]) and "predict_spectra" in jobs, jobs
    result = predict(tiny_run, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = check_results(results_of(tiny_run, folder), folder)
    assert [(Path(row["file"]).name, row["plate"]) for row in rows] == [("mine.fits", "853"), (TYPE2, "295")]


@needs_real
@pytest.mark.workflow
@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda tmp: tmp / "typo", "does not exist"),
        (lambda tmp: folder_without_fits(tmp / "empty"), "holds no FITS files"),
        (lambda tmp: Path("/"), "file-system root"),
        (lambda tmp: copy_real(TYPE1, tmp / TYPE1), "is a file"),
    ],
    ids=["missing", "empty", "root", "file"],
)
def test_bad_predict_dir_stops_the_dag(tiny_run: Path, tmp_path: Path, make, reason: str) -> None:
    folder = make(tmp_path)
    result = predict(tiny_run, folder, "-n")
    assert result.returncode != 0
    message = [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip().startswith("predict_dir=")]
    assert len(message) == 1 and reason in message[0] and str(folder) in message[0], result.stderr[-3000:]


@needs_real
@pytest.mark.workflow
def test_copies_of_one_spectrum_each_get_a_row_and_a_figure(tiny_run: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copies"
    original = copy_real(TYPE1, folder / TYPE1)
    copy_real(TYPE1, folder / "sub" / TYPE1)  # byte-identical, same name in a sub-folder
    copy_real(TYPE1, folder / "a_copy.fits")  # byte-identical, another name
    edited = edited_copy(TYPE1, folder / "edited.fits")  # same header ids, other flux
    copy_real(TYPE2, folder / TYPE2)
    copy_real(TOO_FAR, folder / TOO_FAR)
    assert edited.read_bytes() != original.read_bytes()
    result = predict(tiny_run, folder)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = check_results(results_of(tiny_run, folder), folder)
    by_name = {str(Path(row["file"]).relative_to(folder)): row for row in rows}
    first = str(folder / "a_copy.fits")  # the first of the four copies by sorted path
    assert {name: row["duplicate_of"] for name, row in by_name.items()} == {
        "a_copy.fits": "",
        "edited.fits": first,
        TYPE2: "",
        TYPE1: first,
        TOO_FAR: "",
        f"sub/{TYPE1}": first,
    }
    assert {name: row["status"] for name, row in by_name.items()} == {
        "a_copy.fits": "ok",
        "edited.fits": "ok",
        TYPE2: "ok",
        TYPE1: "ok",
        TOO_FAR: "rejected",
        f"sub/{TYPE1}": "ok",
    }
    copies = [by_name[name] for name in ("a_copy.fits", "edited.fits", TYPE1, f"sub/{TYPE1}")]
    assert len({row["key"] for row in copies}) == 4  # four figures, none overwritten
    assert by_name[TYPE1]["p_type1"] == by_name["a_copy.fits"]["p_type1"]  # same bytes, same answer
    assert all(row["predicted"] for row in copies)
    with h5py.File(results_of(tiny_run, folder) / "saliency.h5", "r") as handle:
        row_of = {file: i for i, file in enumerate(handle["file"].asstr()[()])}
        assert [handle["specid"].asstr()[row_of[row["file"]]] for row in copies] == ["0332-52367-0639"] * 4
        flux = handle["flux"][()]
    assert np.array_equal(flux[row_of[str(original)]], flux[row_of[first]])
    assert not np.array_equal(flux[row_of[str(edited)]], flux[row_of[first]])  # classified from its own flux
