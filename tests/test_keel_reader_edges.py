"""The KEEL reader on files a hand-written or exported ``.dat`` may hold: rows
of the wrong length, a value list glued to its name, quoted values, an input
without any value, a byte-order mark, comments among the rows."""

import re
from unittest.mock import Mock

import numpy as np
import pytest

from rsft_sklearn.benchmark import _keel
from rsft_sklearn.benchmark._keel import read_keel_dat

HEADER = (
    "@relation t\n@attribute class {a, b}\n@attribute x real [0, 1]\n"
    "@attribute y real [0, 1]\n@outputs class\n@data\n"
)


def _write(tmp_path, text, name="t.dat", **kwargs):
    path = tmp_path / name
    path.write_text(text, **kwargs)
    return path


@pytest.mark.parametrize(
    ("rows", "line", "count"),
    [
        # A row of two values was filled in with an empty one and imputed:
        # y of row "b, 0.2" set to the median 0.5, without a word of the row.
        ("a, 0.1, 0.5\nb, 0.2\na, 0.3, 0.7\nb, 0.9, 0.1\n", 8, 2),
        ("a, 0.1, 0.5\nb, 0.2, 0.4\n% a comment\n\na, 0.3, 0.7, 1\n", 11, 4),
    ],
)
def test_a_row_of_too_few_or_too_many_values_is_refused_naming_its_line(
    tmp_path, rows, line, count
):
    path = _write(tmp_path, HEADER + rows)
    message = f"{path}, line {line}: {count} values; every row needs 3 values"
    with pytest.raises(ValueError, match=re.escape(message)):
        read_keel_dat(path)


def test_several_short_rows_are_counted(tmp_path):
    path = _write(tmp_path, HEADER + "a, 0.1\nb, 0.2, 0.4\nb\n")
    with pytest.raises(ValueError, match=r"line 7: 2 values \(2 such rows\)"):
        read_keel_dat(path)


def test_a_value_list_glued_to_its_name_is_read(tmp_path):
    # "@attribute Class{a,b}" was refused: "an @attribute needs a name and a
    # type", though a comment of the reader named the form.
    path = _write(
        tmp_path,
        "@relation t\n@attribute x real [0, 1]\n@attribute colour{red, blue}\n"
        "@attribute Class{a,b}\n@data\n0.1, blue, a\n0.2, red, b\n0.3, blue, b\n",
    )
    table = read_keel_dat(path)
    assert table.feature_names == ["x", "colour=red", "colour=blue"]
    np.testing.assert_array_equal(
        table.X, [[0.1, 0.0, 1.0], [0.2, 1.0, 0.0], [0.3, 0.0, 1.0]]
    )
    assert table.y.tolist() == ["a", "b", "b"]


def test_quoted_values_are_unquoted_as_the_header_is(tmp_path):
    # "'yes'" and "yes" were two classes: 'yes' counted once, yes once.
    path = _write(
        tmp_path,
        "@relation t\n@attribute x real [0, 1]\n@attribute c {'u v', w}\n"
        "@attribute class {'yes', 'no'}\n@data\n"
        "0.1, 'u v', 'yes'\n0.2, \"w\", no\n0.3, u v, yes\n0.4, w, \"no\"\n",
    )
    table = read_keel_dat(path)
    assert table.y.tolist() == ["yes", "no", "yes", "no"]
    assert table.feature_names == ["x", "c=u v", "c=w"]
    np.testing.assert_array_equal(table.X[:, 1:], [[1, 0], [0, 1], [1, 0], [0, 1]])


def test_an_input_without_any_value_is_dropped_with_a_note(tmp_path):
    # A numeric input of "?" only became a column of zeros, noted as "set to
    # the median 0"; a nominal one an indicator "c=?" of ones.
    path = _write(
        tmp_path,
        "@relation t\n@attribute x real [0, 1]\n@attribute z real [0, 1]\n"
        "@attribute c {r, g}\n@attribute class {a, b}\n@data\n"
        "0.1, ?, ?, a\n0.2, ?, <null>, b\n0.3, ?, ?, b\n",
    )
    table = read_keel_dat(path)
    assert table.feature_names == ["x"]
    np.testing.assert_array_equal(table.X, [[0.1], [0.2], [0.3]])
    assert table.notes == ["z: no values, dropped", "c: no values, dropped"]


def test_a_byte_order_mark_is_no_keyword(tmp_path):
    # "unknown keyword \ufeff%": a file saved with a byte-order mark was
    # refused on its first line.
    text = "% made by hand\n" + HEADER + "a, 0.1, 0.5\nb, 0.2, 0.4\n"
    plain = read_keel_dat(_write(tmp_path, text, "plain.dat"))
    marked = read_keel_dat(_write(tmp_path, text, "bom.dat", encoding="utf-8-sig"))
    np.testing.assert_array_equal(marked.X, plain.X)
    np.testing.assert_array_equal(marked.X, [[0.1, 0.5], [0.2, 0.4]])
    assert marked.y.tolist() == ["a", "b"]


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        ("@attribute x\n", "line 2: an @attribute needs a name and a type"),
        ("@attribute x text\n", "line 2: unknown type 'text' of attribute 'x'"),
        ("@attribute c {a, b\n", "line 2: unclosed value list of 'c'"),
    ],
)
def test_header_errors_name_the_file(tmp_path, attribute, message):
    path = _write(tmp_path, "@relation t\n" + attribute + "@data\n1\n")
    with pytest.raises(ValueError, match=re.escape(f"{path}, {message}")):
        read_keel_dat(path)


def test_a_value_that_is_no_number_names_its_line(tmp_path):
    path = _write(tmp_path, HEADER + "a, 0.1, 0.5\nb, abc, 0.4\n")
    message = f"{path}, line 8: attribute 'x' is declared numeric but holds 'abc'"
    with pytest.raises(ValueError, match=re.escape(message)):
        read_keel_dat(path)


def test_a_value_that_is_no_number_names_its_line_past_comments(tmp_path):
    rows = "a, 0.1, 0.5\n% a comment\n\n   % an indented one\nb, 0.2, 0.4\nb, x, 0.4\n"
    path = _write(tmp_path, HEADER + rows)
    message = f"{path}, line 12: attribute 'x' is declared numeric but holds 'x'"
    with pytest.raises(ValueError, match=re.escape(message)):
        read_keel_dat(path)


def test_comment_lines_are_left_out_and_percent_signs_kept(tmp_path):
    # A comment line, indented or not, is no row; a "%" inside a line is part
    # of a value, as the header declares it ("low%"), not a comment that
    # cuts the row short (pandas' comment="%").
    path = _write(
        tmp_path,
        "% made by hand\n@relation t\n@attribute x real [0, 1]\n"
        "@attribute rate {low%, high%}\n@attribute class {a, b}\n@data\n"
        "0.1, low%, a\n   % an indented comment\n% another\n0.2, high%, b\n"
        "0.3, low%, b\n",
    )
    table = read_keel_dat(path)
    assert table.feature_names == ["x", "rate=low%", "rate=high%"]
    np.testing.assert_array_equal(table.X, [[0.1, 1, 0], [0.2, 0, 1], [0.3, 1, 0]])
    assert table.y.tolist() == ["a", "b", "b"]
    assert table.notes == []


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        # A comma at the end of every row.
        ("a, 0.1, 0.5,\nb, 0.2, 0.4,\n", "line 7: 4 values (2 such rows)"),
        # The first row sets pandas' count of values: shorter, longer.
        ("a, 0.1\nb, 0.2, 0.4\na, 0.3, 0.6\n", "line 7: 2 values;"),
        ("a, 0.1, 0.5, 1\nb, 0.2, 0.4\n", "line 7: 4 values;"),
        # A quoted value holding a comma is one value.
        ('a, 0.1, 0.5\nb, "0.2, 0.3"\n', "line 8: 2 values;"),
    ],
)
def test_rows_are_counted_whichever_is_wrong(tmp_path, rows, message):
    path = _write(tmp_path, HEADER + rows)
    with pytest.raises(ValueError, match=re.escape(f"{path}, {message}")):
        read_keel_dat(path)


def test_a_file_of_whole_rows_is_not_counted_line_by_line(tmp_path, monkeypatch):
    # Each line split and unquoted in Python took fars (100,968 rows) from
    # 2.3 s to 5 s; pandas' table says when a row may be wrong.
    monkeypatch.setattr(_keel, "_row_lines", Mock(side_effect=AssertionError))
    rows = "".join(f"{'ab'[i % 2]}, 0.{i}, '0.5'\n" for i in range(9))
    table = read_keel_dat(_write(tmp_path, HEADER + rows))
    assert table.X.shape == (9, 2)
    np.testing.assert_array_equal(table.X[:, 1], 0.5)
