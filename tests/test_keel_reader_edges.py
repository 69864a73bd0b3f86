"""The KEEL reader on files a hand-written or exported ``.dat`` may hold: rows
of the wrong length, a value list glued to its name, quoted values, an input
without any value, a byte-order mark."""

import re

import numpy as np
import pytest

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
