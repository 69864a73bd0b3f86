"""The results file of rsft-bench as a resume reads it back: cells edited
by hand, a last line without its newline, Windows line endings, a folder
that vanished during the run, and the library versions of its rows."""

import codecs
import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from rsft_sklearn import RSFTWarning
from rsft_sklearn.benchmark import _runner
from rsft_sklearn.benchmark._cli import main
from rsft_sklearn.benchmark._runner import (
    COLUMNS,
    ResultsFile,
    read_result_table,
    read_results,
)

FOLD = COLUMNS.index("fold")


def _write_set(path, n=40, positives=20, seed=0):
    """A CSV data set of two features and a label column ``cls``."""
    rng = np.random.RandomState(seed)
    lines = ["a,b,cls"]
    for label in ["pos"] * positives + ["neg"] * (n - positives):
        a, b = rng.randn(2) + (1.0 if label == "pos" else 0.0)
        lines.append(f"{float(a)!r},{float(b)!r},{label}")
    path.write_text("\n".join(lines) + "\n")


def _argv(data, out):
    return [
        *("--suite", "csv", "--target", "cls", "--data", str(data)),
        *("--folds", "2", "--quick", "--n-jobs", "1", "--threads", "1"),
        *("--no-progress", "--methods", "LogisticRegression", "--out", str(out)),
    ]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A data set and the folder of a finished run on it (copied by each
    test that changes it)."""
    folder = tmp_path_factory.mktemp("finished")
    _write_set(folder / "a.csv")
    assert main(_argv(folder / "a.csv", folder / "run")) == 0
    return folder / "a.csv", folder / "run"


@pytest.fixture
def run(finished, tmp_path):
    """``(argv, out)``: a copy of the finished run, to be resumed."""
    data, done = finished
    out = tmp_path / "run"
    shutil.copytree(done, out)
    (out / "report.md").unlink()
    return _argv(data, out), out


@pytest.fixture
def fits(monkeypatch):
    """The (data set, method, fold) of each fit that runs from here on."""
    calls = []
    run_fold = _runner.run_fold

    def counting(dataset, method, fold, *args):
        calls.append((dataset.name, method, fold))
        return run_fold(dataset, method, fold, *args)

    monkeypatch.setattr(_runner, "run_fold", counting)
    return calls


def _records(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _write_records(path, records):
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(records)


def _edit(out, column, value, row=2):
    """Set ``column`` of the ``row``-th row (1 is the first after the header,
    on line 2) of the folder's results."""
    records = _records(out / "results.csv")
    records[row][COLUMNS.index(column)] = value
    _write_records(out / "results.csv", records)


def _refused(argv, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    return capsys.readouterr().err


# A fold as a spreadsheet's round trip writes it (1.0, 1e0), a fraction and
# text; 1.0 had passed the checks, the missing fit had run, and the run
# ended with "invalid literal for int() with base 10: '1.0'" (no report);
# 1.5 had been read as fold 1.
@pytest.mark.parametrize("value", ["1.0", "1e0", "1.5", "abc", ""])
def test_a_fold_that_is_no_whole_number_is_refused_before_any_fit(
    run, fits, capsys, value
):
    argv, out = run
    records = _records(out / "results.csv")
    assert records[3][FOLD].isdigit()
    records[3][FOLD] = value
    # One fit missing, so that the run had work to do.
    _write_records(out / "results.csv", records[:-1])
    before = (out / "results.csv").read_bytes()
    err = _refused(argv, capsys)
    assert f"line 4 holds {value!r} in column 'fold', which takes whole numbers" in err
    assert fits == []
    assert (out / "results.csv").read_bytes() == before


def test_the_line_named_is_the_line_of_the_row(run, capsys):
    # A row whose error message spans two lines moves every later row one
    # line down: the message named the row's number plus one.
    argv, out = run
    records = _records(out / "results.csv")
    records[1][COLUMNS.index("status")] = "error"
    records[1][COLUMNS.index("error")] = "first line\nsecond line"
    records[3][FOLD] = "1.0"
    records[3][COLUMNS.index("balanced_accuracy")] = "7.5"
    _write_records(out / "results.csv", records)
    err = _refused(argv, capsys)
    assert "line 5 holds '1.0' in column 'fold'" in err
    records[3][FOLD] = "1"
    _write_records(out / "results.csv", records)
    assert "line 5 holds '7.5' in column 'balanced_accuracy'" in _refused(argv, capsys)


def test_a_resume_orders_the_rows_by_the_folds_it_read(run, fits):
    # The final sort read the folds with int(), by another rule than the
    # start-up check: what one took the other could refuse after every fit.
    argv, out = run
    header, *rows = _records(out / "results.csv")
    missing = rows.pop()
    rows[1][FOLD] = "+1"
    _write_records(out / "results.csv", [header, *reversed(rows)])
    assert main(argv) == 0
    assert fits == [(missing[0], missing[1], int(missing[FOLD]))]
    untimed = COLUMNS.index("fit_time")
    assert [record[:untimed] for record in _records(out / "results.csv")] == [
        record[:untimed] for record in [header, *rows, missing]
    ]


# A score out of its range, or infinite, had been averaged into the report
# (a balanced accuracy of 7.5 gave the method a mean of 2.056; inf gave
# "inf ± nan"); a negative time had been summed into the cost.
@pytest.mark.parametrize(
    "column, value, takes",
    [
        ("balanced_accuracy", "7.5", "numbers from 0 to 1"),
        ("balanced_accuracy", "inf", "numbers from 0 to 1"),
        ("roc_auc", "-0.5", "numbers from 0 to 1"),
        ("pr_auc", "-inf", "numbers from 0 to 1"),
        ("fit_time", "-1.0", "numbers of 0 or more"),
        ("predict_time", "inf", "numbers of 0 or more"),
        ("n_train", "inf", "finite numbers"),
    ],
)
def test_a_number_out_of_its_range_is_refused_naming_its_line(
    run, fits, capsys, column, value, takes
):
    argv, out = run
    _edit(out, column, value, row=2)
    before = (out / "results.csv").read_bytes()
    err = _refused(argv, capsys)
    assert f"line 3 holds {value!r} in column {column!r}, which takes {takes}" in err
    assert fits == []
    assert (out / "results.csv").read_bytes() == before


def test_scores_rounded_past_one_are_kept(run, fits, capsys):
    # Average precision is a sum: finished runs wrote 1.0000000000000002
    # (in docs/defaults), which a resume and the report must still read.
    argv, out = run
    _edit(out, "pr_auc", "1.0000000000000002", row=2)
    _edit(out, "fit_time", "0.0", row=3)
    assert main(argv) == 0
    assert fits == []
    frame = read_results(out / "results.csv")
    assert frame["pr_auc"].iloc[1] == 1.0000000000000002
    assert frame["fit_time"].iloc[2] == 0.0
    # An empty score is still a missing one, which the report lists as
    # failed, not a number out of range.
    _edit(out, "roc_auc", "", row=1)
    assert main(argv) == 0
    assert "1 fit(s) failed" in capsys.readouterr().err


def test_a_whole_last_row_without_its_newline_is_kept(run, fits, capsys):
    # An editor that drops the final newline: the row was dropped and its
    # fit run again without a word.
    argv, out = run
    whole = (out / "results.csv").read_bytes()
    (out / "results.csv").write_bytes(whole.rstrip(b"\n"))
    capsys.readouterr()
    assert main(argv) == 0
    assert fits == []
    assert (out / "results.csv").read_bytes() == whole
    assert "last row" not in capsys.readouterr().err


@pytest.mark.parametrize(
    "cut, why",
    [
        (lambda line: b",".join(line.split(b",")[:5]), "5 of its 21 cells"),
        # Cut within the time of its prediction, the last cell but one.
        (lambda line: line[: line.rindex(b",") - 2], "20 of its 21 cells"),
    ],
)
def test_a_torn_last_line_is_dropped_with_a_note(run, fits, capsys, cut, why):
    # A run killed while writing its last row: the line was dropped as it
    # should be, but only the code's comments said so.
    argv, out = run
    whole = (out / "results.csv").read_bytes()
    lines = whole.splitlines(keepends=True)
    (out / "results.csv").write_bytes(b"".join(lines[:-1]) + cut(lines[-1]))
    capsys.readouterr()
    assert main(argv) == 0
    last = lines[-1].decode().split(",")
    assert fits == [(last[0], last[1], int(last[FOLD]))]
    err = capsys.readouterr().err
    assert (
        f"rsft-bench: {out / 'results.csv'}: the last row (line {len(lines)}) "
        f"ends without a newline and is not whole ({why}" in err
    )
    assert "it is dropped, and its fit runs again." in err
    assert _scores(out / "results.csv") == _scores(whole)


@pytest.mark.parametrize("newline", [b"\n", b""], ids=["newline", "no-newline"])
@pytest.mark.parametrize(
    "column, value, takes",
    [("fold", "1.0", "whole numbers"), ("roc_auc", "7.5", "numbers from 0 to 1")],
)
def test_a_whole_last_row_with_a_bad_cell_is_refused_with_or_without_newline(
    run, fits, capsys, newline, column, value, takes
):
    # Without its newline, a last row of every cell with a fold of 1.0 (as
    # a spreadsheet writes it) had been dropped and its fit run again, with
    # a note blaming "a run stopped while writing it"; with its newline it
    # was refused naming its line.
    argv, out = run
    records = _records(out / "results.csv")
    records[-1][COLUMNS.index(column)] = value
    _write_records(out / "results.csv", records)
    content = (out / "results.csv").read_bytes().removesuffix(b"\n") + newline
    (out / "results.csv").write_bytes(content)
    err = _refused(argv, capsys)
    assert (
        f"line {len(records)} holds {value!r} in column {column!r}, which "
        f"takes {takes}" in err
    )
    assert "last row" not in err
    assert fits == []
    assert (out / "results.csv").read_bytes() == content


def _scores(source):
    """The rows of a results file (a path, or its bytes) without the times."""
    if isinstance(source, Path):
        source = source.read_bytes()
    records = list(csv.reader(source.decode().splitlines()))
    timed = {COLUMNS.index("fit_time"), COLUMNS.index("predict_time")}
    return [[c for i, c in enumerate(r) if i not in timed] for r in records]


@pytest.mark.parametrize(
    "convert",
    [
        lambda text: text.replace(b"\n", b"\r\n"),
        lambda text: codecs.BOM_UTF8 + text,
        lambda text: codecs.BOM_UTF8 + text.replace(b"\n", b"\r\n").rstrip(b"\r\n"),
    ],
    ids=["crlf", "bom", "bom-crlf-no-final-newline"],
)
def test_windows_line_endings_and_a_byte_order_mark_are_read(
    run, fits, capsys, convert
):
    # A file saved on Windows (or checked out by git there) had been
    # refused as "not a results file of this benchmark version (its header
    # differs)".
    argv, out = run
    whole = (out / "results.csv").read_bytes()
    (out / "results.csv").write_bytes(convert(whole))
    frame = read_result_table(out / "results.csv")
    assert list(frame.columns) == list(COLUMNS)
    assert len(frame) == whole.count(b"\n") - 1
    assert main(argv) == 0
    assert fits == []
    # Written back as the run writes it.
    assert (out / "results.csv").read_bytes() == whole


@pytest.mark.parametrize("how", ["removed", "moved"])
def test_a_folder_gone_during_the_run_is_said(run, monkeypatch, capsys, how):
    # A raw FileNotFoundError traceback from ResultsFile.append had ended
    # the run.
    argv, out = run
    records = _records(out / "results.csv")
    _write_records(out / "results.csv", records[:2])
    moved = out.with_name("moved")
    append = ResultsFile.append

    def then_gone(self, row):
        append(self, row)
        if how == "removed":
            shutil.rmtree(out)
        else:
            out.rename(moved)

    monkeypatch.setattr(ResultsFile, "append", then_gone)
    capsys.readouterr()
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert (
        f"rsft-bench: the --out folder {str(out)!r} was removed or moved during "
        "the run; the rows written before are wherever it went (none are left "
        "if it was deleted). Put it back and rerun the same command to resume" in err
    )
    assert "Traceback" not in err
    if how == "moved":
        # The row of the first fit and the one before the run.
        assert len(_records(moved / "results.csv")) == 3
        assert not out.exists()
    else:
        assert not out.exists() and not moved.exists()


def test_run_json_records_the_library_versions(finished):
    import sklearn
    import skorch
    import torch

    import rsft_sklearn

    record = json.loads((finished[1] / "run.json").read_text())
    assert record["versions"] == [
        {
            "rsft-sklearn": rsft_sklearn.__version__,
            "torch": torch.__version__,
            "skorch": skorch.__version__,
            "scikit-learn": sklearn.__version__,
        }
    ]


def _drop_last_row(out):
    """Drop the last row of the folder's results, so that a resume has one
    fit to run."""
    _write_records(out / "results.csv", _records(out / "results.csv")[:-1])


def _versions_warnings(caught):
    return [str(w.message) for w in caught if "library versions" in str(w.message)]


def test_a_resume_under_other_versions_warns_naming_them(run, monkeypatch, fits):
    # A folder resumed after an upgrade had mixed rows of two versions of
    # the libraries without a word; then run.json named the new versions
    # only, and the next resume warned of nothing although the folder held
    # rows of both.
    argv, out = run
    current = _runner.library_versions()
    upgraded = {**current, "torch": "99.0", "skorch": "98.0"}
    other = {**current, "torch": "97.0"}
    expected = [current]
    for versions, message in [
        (
            upgraded,
            f"torch {current['torch']} -> 99.0, skorch {current['skorch']} -> 98.0",
        ),
        # Both sets of the folder's rows, in the order of their first row.
        (
            other,
            f"torch {current['torch']} -> 97.0; torch 99.0 -> 97.0, skorch 98.0 "
            f"-> {current['skorch']}",
        ),
        (
            current,
            f"torch 99.0 -> {current['torch']}, skorch 98.0 -> "
            f"{current['skorch']}; torch 97.0 -> {current['torch']}",
        ),
    ]:
        _drop_last_row(out)
        fits.clear()
        monkeypatch.setattr(_runner, "library_versions", lambda v=versions: v)
        with pytest.warns(RSFTWarning) as caught:
            assert main(argv) == 0
        assert _versions_warnings(caught) == [
            f"{out} holds results of other library versions ({message}): the "
            "rows this run adds may differ from its rows for that reason "
            "alone. Choose another --out to keep the results of each version "
            "apart."
        ]
        assert len(fits) == 1
        if versions not in expected:
            expected.append(versions)
        assert json.loads((out / "run.json").read_text())["versions"] == expected
        # The report names every set, not only the versions in use.
        report = (out / "report.md").read_text()
        assert (
            f"- The rows were made under {len(expected)} set(s) of library "
            "versions, in the order of their first row: "
        ) in report
        assert "torch 99.0, skorch 98.0" in report


def test_a_resume_that_runs_no_fit_neither_warns_nor_records_versions(
    run, monkeypatch, fits, recwarn
):
    # A finished folder resumed to rebuild its report under other versions
    # had warned that "the rows this run adds may differ" (it adds none)
    # and recorded versions that made no row of it.
    argv, out = run
    before = json.loads((out / "run.json").read_text())
    current = _runner.library_versions()
    monkeypatch.setattr(
        _runner, "library_versions", lambda: {**current, "torch": "99.0"}
    )
    assert main(argv) == 0
    assert fits == []
    assert not _versions_warnings(recwarn)
    assert (out / "report.md").exists()
    assert json.loads((out / "run.json").read_text())["versions"] == [current]
    assert before["versions"] == [current]


def test_versions_join_the_record_with_the_first_row(run, monkeypatch, capsys):
    # A run stopped before any of its fits finished adds no row, nor its
    # versions to the record.
    argv, out = run
    _drop_last_row(out)
    current = _runner.library_versions()
    monkeypatch.setattr(
        _runner, "library_versions", lambda: {**current, "torch": "99.0"}
    )

    def stopped(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr(_runner, "run_fold", stopped)
    with pytest.warns(RSFTWarning, match="library versions"):
        assert main(argv) == 130
    assert json.loads((out / "run.json").read_text())["versions"] == [current]


def test_a_record_of_one_set_of_versions_is_read_as_a_list(run, monkeypatch, fits):
    # run.json as the previous development version wrote it: one set.
    argv, out = run
    record = json.loads((out / "run.json").read_text())
    (current,) = record["versions"]
    record["versions"] = current
    (out / "run.json").write_text(json.dumps(record))
    _drop_last_row(out)
    upgraded = {**current, "torch": "99.0"}
    monkeypatch.setattr(_runner, "library_versions", lambda: upgraded)
    with pytest.warns(RSFTWarning) as caught:
        assert main(argv) == 0
    assert f"torch {current['torch']} -> 99.0" in _versions_warnings(caught)[0]
    assert json.loads((out / "run.json").read_text())["versions"] == [
        current,
        upgraded,
    ]


def test_a_record_without_versions_resumes_without_a_warning(run, fits, recwarn):
    # A folder of an older benchmark version records no versions.
    argv, out = run
    record = json.loads((out / "run.json").read_text())
    del record["versions"]
    (out / "run.json").write_text(json.dumps(record))
    _drop_last_row(out)
    assert main(argv) == 0
    assert len(fits) == 1
    assert not [w for w in recwarn if issubclass(w.category, RSFTWarning)]
    assert json.loads((out / "run.json").read_text())["versions"] == [
        _runner.library_versions()
    ]


def test_a_folder_gone_before_the_record_of_new_versions_is_said(
    run, monkeypatch, capsys
):
    # The record of a run's versions is written with its first row: a
    # folder removed during the first fit is said as at any other row.
    argv, out = run
    _drop_last_row(out)
    current = _runner.library_versions()
    monkeypatch.setattr(
        _runner, "library_versions", lambda: {**current, "torch": "99.0"}
    )
    run_fold = _runner.run_fold

    def then_gone(*args):
        row = run_fold(*args)
        shutil.rmtree(out)
        return row

    monkeypatch.setattr(_runner, "run_fold", then_gone)
    capsys.readouterr()
    with pytest.warns(RSFTWarning, match="library versions"):
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"rsft-bench: the --out folder {str(out)!r} was removed or moved" in err
    assert "Traceback" not in err
    assert not out.exists()
