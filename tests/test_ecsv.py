"""The astropy-free ECSV path writes astropy's bytes and reads what astropy reads, or steps aside."""

from __future__ import annotations

import numpy as np
import pytest
from astropy import units as u
from astropy.table import Table

from agn_saliency.acquire.simulate import TRUTH_UNITS
from agn_saliency.core.units import SDSS_FLUX_UNIT
from agn_saliency.io import ecsv
from agn_saliency.io.tables import as_bool, read_table, write_table
from agn_saliency.predict.folder import PREDICTION_UNITS

EDGE_ROWS = [
    {"specid": "0266-51602-0001", "true": "type1", "n": 3, "big": 2**62, "neg": -17, "x": 0.1, "tiny": 1e-300, "huge": 1e16},
    {"specid": "0266-51602-0002", "true": "type2", "n": "", "big": -(2**62), "neg": None, "x": float("nan"), "tiny": -0.0},
    {"specid": "Hβ and [OIII] 5007 Å", "true": "", "n": np.int64(7), "big": 0, "neg": 5, "x": np.float32(0.1), "huge": "inf"},
    {"specid": "flag", "true": True, "n": 1, "big": 1, "neg": 0, "x": "-inf", "tiny": 3, "huge": -1.5e-7},
]
EDGE_COLUMNS = ["specid", "true", "n", "big", "neg", "x", "tiny", "huge", "null", "1"]


def _both(tmp_path, rows, columns, **kwargs) -> tuple[bytes, bytes]:
    write_table(tmp_path / "astropy.ecsv", rows, columns, fast=False, **kwargs)
    write_table(tmp_path / "fast.ecsv", rows, columns, **kwargs)
    return (tmp_path / "astropy.ecsv").read_bytes(), (tmp_path / "fast.ecsv").read_bytes()


def test_fast_writer_takes_plain_tables_and_writes_astropy_bytes(tmp_path, monkeypatch):
    calls = []
    original = ecsv.format_ecsv
    monkeypatch.setattr("agn_saliency.io.tables.format_ecsv", lambda *a, **k: calls.append(original(*a, **k)) or calls[-1])
    units = {"x": "km / s", "tiny": SDSS_FLUX_UNIT, "huge": "", "big": "byte"}
    by_astropy, fast = _both(tmp_path, EDGE_ROWS, EDGE_COLUMNS, units=units, description="drawn parameters (per spectrum)")
    assert calls and calls[-1] is not None  # the fast path wrote it, not a silent fallback
    assert fast == by_astropy
    assert b"name: 'true'" in fast and b"unit: ''" in fast and b"nan" in fast and b"-0.0" in fast
    assert b"unit: 1e-17 erg / (Angstrom s cm2)" in fast  # astropy's spelling of SDSS's unit


@pytest.mark.parametrize(
    "rows, kwargs",
    [
        ([{"a": "x, y"}], {}),  # a comma: the CSV writer quotes it
        ([{"a": 'say "hi"'}], {}),  # a quote
        ([{"a": " padded"}], {}),
        ([{"a": 1}, {"a": None}, {"a": 3}], {}),  # one column: a missing cell must not be a blank line
        ([{"a": "x"}, {"a": ""}], {}),
        ([{"a": "ab\x00"}], {}),  # numpy's strings drop the NUL
        ([{"a": 2**63 - 1, "b": -(2**63)}], {}),  # int64's ends still take the fast path
        ([{"a": 1.5}], {"units": {"a": "km/s"}}),  # not astropy's spelling of the unit
        ([{"a": 1}], {"meta": {"ood": {"threshold": 0.3}}}),
        ([{"a": 1}], {"description": "key: value # not plain YAML"}),
    ],
)
def test_what_astropy_would_quote_or_normalise_goes_through_astropy(tmp_path, rows, kwargs):
    by_astropy, fast = _both(tmp_path, rows, list(rows[0]), **kwargs)
    assert fast == by_astropy
    assert read_table(tmp_path / "fast.ecsv") == read_table(tmp_path / "fast.ecsv", fast=False)
    assert len(read_table(tmp_path / "fast.ecsv")) == len(rows)


def test_a_string_starting_with_a_hash_is_quoted_not_lost_as_a_comment(tmp_path):
    rows = [{"a": "#hashtag", "b": 1}, {"a": "x", "b": 2}]
    by_astropy, fast = _both(tmp_path, rows, ["a", "b"])
    assert len(read_table(tmp_path / "astropy.ecsv", fast=False)) == 1  # astropy alone loses the row
    assert b'\n"#hashtag",1\n' in fast
    assert (
        read_table(tmp_path / "fast.ecsv")
        == read_table(tmp_path / "fast.ecsv", fast=False)
        == [
            {"a": "#hashtag", "b": "1"},
            {"a": "x", "b": "2"},
        ]
    )


def test_tables_astropy_refuses_or_rewrites_are_left_to_it(tmp_path):
    for value in (2**63, -(2**63) - 1):  # beyond int64: astropy refuses to write them
        with pytest.raises(OverflowError):
            write_table(tmp_path / "big.ecsv", [{"n": value}], ["n"])
    assert ecsv.format_ecsv([("a", "int64", [1], [False], None), ("a", "int64", [1], [False], None)]) is None
    assert ecsv.format_ecsv([]) is None
    _, fast = _both(tmp_path, [{"a": 1}], ["a", "a"])  # one column in the end, as astropy writes it
    assert fast.count(b"{name: a") == 1


def test_simple_units_are_astropy_canonical_and_cover_the_pipeline_units():
    for given, written in ecsv.SIMPLE_UNITS.items():
        assert str(u.Unit(given)) == written
    used = set(TRUTH_UNITS.values()) | set(PREDICTION_UNITS.values()) | {"s", "byte", SDSS_FLUX_UNIT}
    assert used <= set(ecsv.SIMPLE_UNITS)


def test_fast_reader_returns_what_astropy_reads(tmp_path):
    write_table(tmp_path / "t.ecsv", EDGE_ROWS, EDGE_COLUMNS, units={"x": "km / s"}, fast=False)
    text = (tmp_path / "t.ecsv").read_text()
    parsed = ecsv.parse_ecsv(text)
    assert parsed is not None and parsed == read_table(tmp_path / "t.ecsv", fast=False)
    assert parsed[1]["n"] == "" and parsed[1]["x"] == "nan" and parsed[2]["x"] == repr(float(np.float32(0.1)))
    table = Table.read(tmp_path / "t.ecsv", format="ascii.ecsv")
    assert [str(v) for v in table["specid"]] == [row["specid"] for row in parsed]


def test_reader_steps_aside_for_what_it_does_not_handle(tmp_path):
    Table({"a": [1, 2], "b": ["x y", "z"]}).write(tmp_path / "space.ecsv", format="ascii.ecsv")  # space-delimited
    Table({"flag": [True, False]}).write(tmp_path / "bool.ecsv", format="ascii.ecsv", delimiter=",")
    Table({"v": np.zeros((2, 3))}).write(tmp_path / "multi.ecsv", format="ascii.ecsv", delimiter=",")
    for name in ("space", "bool", "multi"):
        assert ecsv.parse_ecsv((tmp_path / f"{name}.ecsv").read_text()) is None
        assert read_table(tmp_path / f"{name}.ecsv") == read_table(tmp_path / f"{name}.ecsv", fast=False)
    assert read_table(tmp_path / "space.ecsv")[0] == {"a": "1", "b": "x y"}
    write_table(tmp_path / "quoted.ecsv", [{"a": "x, y", "b": 2}], ["a", "b"])  # written by astropy (quoted) ...
    assert read_table(tmp_path / "quoted.ecsv") == [{"a": "x, y", "b": "2"}]  # ... read back by the fast reader


def test_empty_table_round_trips(tmp_path):
    by_astropy, fast = _both(tmp_path, [], ["specid", "why"])
    assert fast == by_astropy
    assert read_table(tmp_path / "fast.ecsv") == []


HEADER = "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: n, datatype: int64}\n# - {name: s, datatype: string}\n# delimiter: ','\n# schema: astropy-2.0\n"


@pytest.mark.parametrize(
    "data",
    [
        'n,s\n1, b\n2,b \n3,\tb\n4, \n5," b"\n6,\xa0b\n 7 ,x\n',  # blanks astropy strips (not the NBSP)
        "n,s\n99999999999999999999,x\n",  # beyond int64: astropy refuses it
        "n,n\n1,2\n",  # a repeated name: astropy renames it
        "n,s\n1,a\x00\n",
    ],
)
def test_fast_reader_reads_hand_made_files_as_astropy_does_or_steps_aside(tmp_path, data):
    header = HEADER.replace("name: s", "name: n") if data.startswith("n,n") else HEADER
    path = tmp_path / "hand.ecsv"
    path.write_text(header + data)
    try:
        expected = read_table(path, fast=False)
    except ValueError:
        assert ecsv.parse_ecsv(path.read_text()) is None
        return
    assert read_table(path) == expected


def test_a_cell_that_is_not_its_columns_type_is_left_to_astropy_to_refuse(tmp_path):
    write_table(tmp_path / "t.ecsv", [{"n": 1}, {"n": 2}], ["n"])
    path = tmp_path / "t.ecsv"
    path.write_text(path.read_text().replace("\n2\n", "\nx\n"))  # hand-edited, now wrong
    assert ecsv.parse_ecsv(path.read_text()) is None
    with pytest.raises(ValueError):
        read_table(path)


@pytest.mark.parametrize("fast", [True, False])
def test_a_bool_column_reads_back_as_the_bools_written(tmp_path, fast):
    flags = [True, False, np.True_, np.False_]
    write_table(tmp_path / "flags.ecsv", [{"has_broad": flag} for flag in flags], ["has_broad"])
    cells = [row["has_broad"] for row in read_table(tmp_path / "flags.ecsv", fast=fast)]
    assert [as_bool(cell) for cell in cells] == [bool(flag) for flag in flags]
    # typed values (a reader that returns bools) and other spellings of text read the same
    assert [as_bool(v) for v in (True, np.False_, np.int64(1), 0, "true", " FALSE ", "1", "no", "")] == [
        True, False, True, False, True, False, True, False, False
    ]  # fmt: skip


@pytest.mark.parametrize("value", ["maybe", "Truee", 2, -1, 0.5, None, float("nan")])
def test_as_bool_refuses_what_is_not_a_truth_value(value):
    with pytest.raises(ValueError, match="has_broad must be True or False"):
        as_bool(value, "has_broad")


def _awkward_rows(n: int, seed: int) -> list[dict]:
    """Rows with what types a column: ints with gaps, floats and NaN, text needing quotes, Hα, bools."""
    rng = np.random.default_rng(seed)
    texts = ["hi, there", 'a "quote"', "Hα line", "", "#x", "plain"]
    return [
        {
            "file": f"x{i}.fits",
            "a": [1, 2, "", None, -3][rng.integers(5)],
            "b": [0.1, 2, "", float("nan"), 1e16][rng.integers(5)],
            "c": texts[rng.integers(len(texts))] if i > 11 else "plain",
            "d": bool(rng.integers(2)),
            "e": "",
            "f": str(rng.integers(1, 3)) if i < n - 5 else "3.5",  # ints but for the last rows: float64
        }
        for i in range(n)
    ]


@pytest.mark.parametrize("split", [[57], [1, 56], [10, 20, 27], [0, 57, 0], []])
def test_a_table_written_in_blocks_is_the_table_written_at_once(tmp_path, split):
    from agn_saliency.io.tables import ColumnTypes, read_columns, write_table_blocks

    rows = _awkward_rows(sum(split), seed=1)
    columns = ["file", "a", "b", "c", "d", "e", "f"]
    meta = {"ood": {"threshold": 1.5}, "low": 0.6}  # meta: astropy writes it
    write_table(tmp_path / "once.ecsv", rows, columns, units={"b": "Angstrom"}, description="t", meta=meta)
    blocks = [rows[sum(split[:i]) : sum(split[: i + 1])] for i in range(len(split))]
    types = ColumnTypes(columns)
    for block in blocks:
        types.add(block)
    write_table_blocks(tmp_path / "blocks.ecsv", blocks, columns, types.datatypes(), {"b": "Angstrom"}, "t", meta)
    assert (tmp_path / "blocks.ecsv").read_bytes() == (tmp_path / "once.ecsv").read_bytes()
    if rows:
        assert types.datatypes() == {"file": "string", "a": "int64", "b": "float64", "c": "string", "d": "string"} | {
            "e": "string",
            "f": "float64",
        }
    whole = read_table(tmp_path / "once.ecsv")
    assert read_columns(tmp_path / "once.ecsv", ["c", "b"]) == [{"b": row["b"], "c": row["c"]} for row in whole]


@pytest.mark.parametrize("n", [0, 1, 23, 100])
def test_the_fits_table_converted_in_blocks_is_astropys_whole_table(tmp_path, n):
    """predictions.fits is converted a block of rows at a time, to the bytes of the whole table read and written at once."""
    import warnings

    from agn_saliency.predict.shards import write_fits_table

    write_table(tmp_path / "p.ecsv", _awkward_rows(n, seed=2), ["file", "a", "b", "c", "d", "e", "f"], meta={"low": 0.6})
    table = Table.read(tmp_path / "p.ecsv", format="ascii.ecsv")
    if not all(str(value).isascii() for value in table["c"]):  # Hα: UTF-8 bytes (FITS text is ASCII)
        table["c"] = np.char.encode(np.asarray(table["c"], dtype=str), "utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        table.write(tmp_path / "whole.fits", format="fits")
    for block in (1, 7, 1000):
        write_fits_table(tmp_path / "blocks.fits", tmp_path / "p.ecsv", block=block)
        assert (tmp_path / "blocks.fits").read_bytes() == (tmp_path / "whole.fits").read_bytes(), block
