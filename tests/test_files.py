"""agn_saliency.core.files: a killed writer's temporary siblings are cleared, nothing else."""

from __future__ import annotations

from agn_saliency.core.files import atomic_output, remove_leftovers


def test_remove_leftovers_takes_only_this_outputs_temporaries(tmp_path):
    final = tmp_path / "cube.h5"
    leftovers = [".cube.h5.ab_c9xyz.tmp", ".cube.h5.________.tmp", ".cube.h5.12345678.tmp"]
    kept = [
        ".cube.h5.abc.tmp",  # not mkstemp's 8 characters
        ".cube.h5.ab-c9xyz.tmp",  # characters mkstemp never uses
        ".cube.h5.ABCDEFGH.tmp",
        ".cube.h5.abcdéfgh.tmp",
        ".other.h5.abcdefgh.tmp",  # another output's temporary
        "cube.h5.abcdefgh.tmp",
        ".cube.h5.abcdefgh.tmpx",
        "cube.h5",
    ]
    for name in leftovers + kept:
        (tmp_path / name).write_text("x")
    (tmp_path / ".cube.h5.dir_0001.tmp").mkdir()  # a killed atomic_directory's folder
    remove_leftovers(final)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
    with atomic_output(final) as tmp:
        tmp.write_text("new")
    assert final.read_text() == "new" and sorted(p.name for p in tmp_path.iterdir()) == sorted(kept)
