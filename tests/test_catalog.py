"""agn_saliency.acquire.catalog: reading, validation, duplicates, shards."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
from helpers import REAL_DIR, needs_real

from agn_saliency.acquire.catalog import CatalogError, find_duplicates, read_catalog, shard_rows

HEADER = "plate,mjd,fiberid,label,z,run2d\n"
GOOD = "332,52367,639,type1,0.10061,26\n295,51585,596,type2,0.13788,\n7338,56660,733,intermediate,,v5_13_2\n"


def _write(tmp_path, text, name="catalog.csv"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_reads_csv(tmp_path):
    catalog = read_catalog(_write(tmp_path, HEADER + GOOD))
    assert catalog["row"].tolist() == [1, 2, 3]
    assert catalog["plate"].tolist() == [332, 295, 7338]
    assert catalog["fiberid"].tolist() == [639, 596, 733]
    assert catalog["label"].tolist() == ["type1", "type2", "intermediate"]
    assert catalog["run2d"].tolist() == ["26", "", "v5_13_2"]
    assert catalog["z"][0] == pytest.approx(0.10061) and math.isnan(catalog["z"][2])


def test_optional_columns_absent(tmp_path):
    catalog = read_catalog(_write(tmp_path, "plate,mjd,fiberid,label\n332,52367,639,type1\n"))
    assert math.isnan(catalog["z"][0]) and catalog["run2d"][0] == ""
    unlabelled = read_catalog(_write(tmp_path, "plate,mjd,fiber\n332,52367,639\n"), require_label=False)
    assert unlabelled["label"][0] == "" and unlabelled["fiberid"][0] == 639


@pytest.mark.parametrize("delimiter", [None, ","])
def test_reads_ecsv_written_by_astropy(tmp_path, delimiter):
    from astropy.table import Table

    table = Table(
        {
            "plate": [332, 295],
            "mjd": [52367, 51585],
            "fiberid": [639, 596],
            "label": ["type1", "type2"],
            "z": [0.10061, np.nan],
            "run2d": ["26", ""],
            "note": ["broad lines", "narrow"],
        }
    )
    path = tmp_path / "catalog.ecsv"
    table.write(path, format="ascii.ecsv", **({"delimiter": delimiter} if delimiter else {}))
    catalog = read_catalog(path)
    assert catalog["plate"].tolist() == [332, 295]
    assert catalog["label"].tolist() == ["type1", "type2"]
    assert catalog["run2d"].tolist() == ["26", ""]
    assert catalog["z"][0] == pytest.approx(0.10061) and math.isnan(catalog["z"][1])


def test_missing_column(tmp_path):
    path = _write(tmp_path, "plate,mjd,label\n332,52367,type1\n")
    with pytest.raises(CatalogError, match="missing column.*'fiberid'") as error:
        read_catalog(path)
    assert str(path) in str(error.value)
    with pytest.raises(CatalogError, match="'label'"):
        read_catalog(_write(tmp_path, "plate,mjd,fiberid\n332,52367,639\n"))


@pytest.mark.parametrize(
    ("line", "column", "fragment"),
    [
        ("332,52367,6x9,type1,0.1,26", "fiberid", "not an integer"),
        ("332.0,52367,639,type1,0.1,26", "plate", "not an integer"),
        ("332,52367,1001,type1,0.1,26", "fiberid", "out of range"),
        ("0,52367,639,type1,0.1,26", "plate", "out of range"),
        ("332,-5,639,type1,0.1,26", "mjd", "not an integer"),
        ("332,52367,639,type3,0.1,26", "label", "unknown label"),
        ("332,52367,639,type1,abc,26", "z", "not a number"),
        ("332,52367,639,type1,inf,26", "z", "not a finite number"),
        ("332,52367,639,type1,0.1,../../etc", "run2d", "looks like a path"),
        ("332,52367,639,type1,0.1,26/x", "run2d", "looks like a path"),
        ("332,52367,639,type1,0.1,https://evil.example", "run2d", "looks like a path"),
        ("332,52367,639,..\\type1,0.1,26", "label", "looks like a path"),
        ("332,52367,639,type1,0.1,v5_13", "run2d", "not a run2d"),
        ("332,52367,639,type1,0.1,26;rm", "run2d", "not a run2d"),
        # Python's float and int read these; a catalog holding them is refused, not guessed at (issue 22)
        ("332,52367,639,type1,0.1_5,26", "z", "not a number"),
        ("332,52367,639,type1,\uff10.1,26", "z", "not a number"),  # full-width 0
        ("\uff13\uff13\uff12,52367,639,type1,0.1,26", "plate", "not an integer"),  # full-width 332
        ("332,52367,6_39,type1,0.1,26", "fiberid", "not an integer"),
        ("332,52367,639,type1,0.1,\uff12\uff16", "run2d", "not a run2d"),  # full-width 26
        ("332,52367,639,type1,0.1,v\uff15_13_2", "run2d", "not a run2d"),
    ],
)
def test_each_bad_value_names_file_row_and_column(tmp_path, line, column, fragment):
    path = _write(tmp_path, HEADER + GOOD + line + "\n")
    with pytest.raises(CatalogError) as error:
        read_catalog(path)
    message = str(error.value)
    assert str(path) in message
    assert f"row 4, column '{column}'" in message
    assert fragment in message
    assert isinstance(error.value, ValueError)


@pytest.mark.parametrize(
    ("header", "row", "words"),
    [
        ("plate,mjd,fiber,fiberid,label", "332,52367,639,640,type1", ["column 'fiberid'", "'fiber' and 'fiberid'"]),
        ("plate,mjd,fiberid,label,z,z", "332,52367,639,type1,0.1,0.2", ["column 'z'", "'z' 2 times"]),
        ("plate,mjd,fiberid,Label,label", "332,52367,639,type1,type2", ["column 'label'", "'label' 2 times"]),
    ],
)
def test_a_column_named_twice_is_refused(tmp_path, header, row, words):
    """Which of two columns is meant cannot be known: refused, naming the file and the header's columns."""
    path = _write(tmp_path, f"{header}\n{row}\n")
    with pytest.raises(CatalogError) as error:
        read_catalog(path)
    message = str(error.value)
    assert message.startswith(f"{path}: header, ") and all(word in message for word in words), message


def test_an_oversized_quoted_field_names_the_file(tmp_path):
    """A CRLF CSV with a quoted 140,000-character field: the csv module's limit, reported with the file."""
    path = tmp_path / "catalog.csv"
    path.write_bytes(b'plate,mjd,fiberid,label,note\r\n332,52367,639,type1,"' + b"x" * 140_000 + b'"\r\n')
    with pytest.raises(CatalogError, match=re.escape(f"{path}: cannot read catalog: field larger than field limit")):
        read_catalog(path)


def test_all_problems_reported(tmp_path):
    path = _write(tmp_path, HEADER + "x,52367,639,type1,0.1,26\n332,52367,639,bogus,0.1,26\n")
    with pytest.raises(CatalogError) as error:
        read_catalog(path)
    assert len(error.value.problems) == 2
    assert "row 1, column 'plate'" in str(error.value) and "row 2, column 'label'" in str(error.value)


def test_ragged_row_and_empty_catalog(tmp_path):
    with pytest.raises(CatalogError, match="row 2: has 4 fields"):
        read_catalog(_write(tmp_path, HEADER + GOOD.splitlines()[0] + "\n1,2,3,type1\n"))
    with pytest.raises(CatalogError, match="no data rows"):
        read_catalog(_write(tmp_path, HEADER))


def test_find_duplicates(tmp_path):
    text = HEADER + GOOD + "332,52367,639,type2,0.1,26\n295,51585,596,type2,,\n332,52367,639,type1,,\n"
    catalog = read_catalog(_write(tmp_path, text))
    assert find_duplicates(catalog) == [
        (4, 1, "0332-52367-0639"),
        (5, 2, "0295-51585-0596"),
        (6, 1, "0332-52367-0639"),
    ]
    assert find_duplicates(catalog[:3]) == []


def test_shard_rows_partition(tmp_path):
    lines = "".join(f"{300 + i},52000,{i + 1},type1,,\n" for i in range(10))
    catalog = read_catalog(_write(tmp_path, HEADER + lines))
    shards = [shard_rows(catalog, s, 3) for s in range(3)]
    assert shards[1]["row"].tolist() == [4, 5, 6]
    assert sorted(np.concatenate([s["row"] for s in shards]).tolist()) == list(range(1, 11))
    with pytest.raises(ValueError):
        shard_rows(catalog, 3, 3)
    with pytest.raises(ValueError):
        shard_rows(catalog, 0, 0)


@needs_real
def test_real_index_reads_without_labels():
    catalog = read_catalog(REAL_DIR / "index.csv", require_label=False)
    assert len(catalog) == 14 and (catalog["plate"] > 0).all()


@pytest.mark.parametrize("fmt", ["fits", "votable", "ascii.ecsv"])
def test_binary_and_xml_catalogs_read_like_csv(tmp_path, fmt):
    """CasJobs/TOPCAT exports (FITS tables, VOTables) give the same rows and the same row/column errors."""
    from astropy.table import MaskedColumn, Table

    table = Table(
        {
            "PLATE": [332, 295],
            "MJD": [52367, 51585],
            "FIBER": [639, 596],
            "label": ["type1", "type2"],
            "z": MaskedColumn([0.1006, 0.0], mask=[False, True]),
        }
    )
    path = tmp_path / f"catalog.{fmt.split('.')[-1]}"
    table.write(path, format=fmt)
    csv_path = _write(tmp_path, "plate,mjd,fiberid,label,z\n332,52367,639,type1,0.1006\n295,51585,596,type2,\n")
    got, expected = read_catalog(path), read_catalog(csv_path)
    for field in ("row", "plate", "mjd", "fiberid", "label", "run2d"):
        assert list(got[field]) == list(expected[field]), field
    assert got["z"][0] == pytest.approx(0.1006) and np.isnan(got["z"][1])

    table["label"][1] = "type9"
    bad = tmp_path / f"bad.{fmt.split('.')[-1]}"
    table.write(bad, format=fmt)
    with pytest.raises(CatalogError, match=r"row 2, column 'label': unknown label 'type9'"):
        read_catalog(bad)


def test_not_a_table_is_named(tmp_path):
    path = tmp_path / "catalog.csv"
    path.write_bytes(b"\x00\x01\x02binary junk")
    with pytest.raises(CatalogError, match=str(path)):
        read_catalog(path)


def _outcome(path):
    try:
        return "ok", read_catalog(path, require_label=False).tolist()
    except CatalogError as error:
        return "error", str(error)


@pytest.mark.parametrize(
    "text",
    [
        HEADER + GOOD,
        "\ufeffPlate, MJD ,fiber,Label\n 332 ,52367,639, type1 \n",  # BOM, blanks, upper case, an alias
        HEADER + GOOD + "332,52367,6x9,type3,abc,26;rm\n",  # bad values: validation's messages either way
        HEADER + "332,52367,639,,,\n",  # empty cells
        HEADER,  # no data rows
        HEADER + GOOD + "# a comment\n",  # comments, quotes, blank lines, ragged rows: astropy decides
        HEADER + '332,52367,639,"type1",0.1,26\n',
        HEADER + GOOD + "\n295,51585,596,type2,,\n",
        HEADER + "1,2,3,type1\n",
        "plate,plate,mjd\n1,2,3\n",
        HEADER + "332,52367,639,type1,0.1,\x0c26\n",  # line breaks str.splitlines knows, and a NUL
        HEADER + "332,52367,639,type1,\u20280.1,26\n",
        HEADER + "332,52367,639,type1,0.1,26\x00\n",
        HEADER.replace("\n", "\r\n") + "332,52367,639,type1,0.1,26\r\n",
    ],
)
def test_plain_csv_reads_as_astropy_reads_it(tmp_path, monkeypatch, text):
    from agn_saliency.acquire.catalog import _plain_csv, _read_rows

    path = _write(tmp_path, text)
    markers = ("#", '"', "\n\n", "1,2,3,type1", "plate,plate", "\x0c", "\u2028", "\x00", "\r")
    assert (_plain_csv(path) is None) == any(marker in text for marker in markers)
    try:
        expected = _read_rows(path, fast=False)
    except CatalogError as error:
        with pytest.raises(CatalogError, match=re.escape(str(error))):
            _read_rows(path)
    else:
        assert _read_rows(path) == expected
    fast = _outcome(path)
    monkeypatch.setattr("agn_saliency.acquire.catalog._plain_csv", lambda _: None)  # astropy reads every file
    assert repr(_outcome(path)) == repr(fast)
