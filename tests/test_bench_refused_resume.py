"""A refused rsft-bench run leaves its folder as it was, and the command
line's advice can be followed as written."""

import csv
import errno
import io
import os
from collections import Counter

import numpy as np
import pytest

from rsft_sklearn.benchmark import _runner
from rsft_sklearn.benchmark._cli import main
from rsft_sklearn.benchmark._runner import COLUMNS

FOLDS = 2


def _write_set(path, n=40, positives=20, seed=0):
    """A CSV data set of two features and a label column ``cls``."""
    rng = np.random.RandomState(seed)
    labels = ["pos"] * positives + ["neg"] * (n - positives)
    lines = ["a,b,cls"]
    for label in labels:
        a, b = rng.randn(2) + (1.0 if label == "pos" else 0.0)
        lines.append(f"{float(a)!r},{float(b)!r},{label}")
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture
def sets(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    _write_set(data / "a.csv", seed=0)
    _write_set(data / "b.csv", seed=1)
    return data


def _argv(out, *paths, methods="LogisticRegression", extra=()):
    argv = ["--suite", "csv", "--target", "cls", "--folds", str(FOLDS)]
    argv += ["--quick", "--n-jobs", "1", "--threads", "1", "--no-progress"]
    argv += ["--methods", methods, "--data", *map(str, paths)]
    if out is not None:
        argv += ["--out", str(out)]
    return [*argv, *extra]


def _records(path):
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def _write_records(path, records):
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(records)
    path.write_text(buffer.getvalue())


def _damage(out, how):
    """Make the folder's results refused by a resume, in one of the ways
    that are checked after the protocol; every one keeps a failed fit of
    LogisticRegression, which --retry-failed would drop."""
    path = out / "results.csv"
    header, *rows = _records(path)
    status, score = COLUMNS.index("status"), COLUMNS.index("balanced_accuracy")
    rows[1][status] = "error"
    if how == "damaged":
        # A cell that is not a number (t11).
        rows[0][score] = "abc"
    elif how == "differing":
        # Two differing rows of one fit (a hand merge).
        copy = list(rows[0])
        copy[score] = "0.123"
        rows.append(copy)
    elif how == "respelt":
        # Rows of RSFT(M=2): the refused run spells it RSFT(M=2.0) (t10).
        respelt = list(rows[0])
        respelt[COLUMNS.index("method")] = "RSFT(M=2)"
        rows.append(respelt)
    _write_records(path, [header, *rows])


@pytest.mark.parametrize("how", ["damaged", "differing", "respelt"])
def test_a_refused_resume_writes_nothing(sets, tmp_path, capsys, how):
    # A refused run had rewritten run.json (its command, methods, and data
    # sets with their fingerprints), though the folder was said to be
    # checked "before the first fit"; --retry-failed had dropped the
    # failed rows too.
    out = tmp_path / "run"
    assert main(_argv(out, sets / "a.csv")) == 0
    _damage(out, how)
    record = (out / "run.json").read_bytes()
    results = (out / "results.csv").read_bytes()
    files = sorted(path.name for path in out.iterdir())
    methods = "LogisticRegression,RSFT(M=2.0)" if how == "respelt" else None
    argv = _argv(
        out,
        sets / "a.csv",
        sets / "b.csv",
        methods=methods or "LogisticRegression",
        extra=["--retry-failed"],
    )
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    message = {
        "damaged": "holds 'abc' in column 'balanced_accuracy'",
        "differing": "1 fit(s) have differing rows",
        "respelt": "RSFT(M=2.0) as RSFT(M=2)",
    }[how]
    assert message in capsys.readouterr().err
    assert (out / "run.json").read_bytes() == record
    assert (out / "results.csv").read_bytes() == results
    assert sorted(path.name for path in out.iterdir()) == files


def test_a_refused_run_does_not_refuse_the_next_valid_one(sets, tmp_path, capsys):
    # The report's case (t12): a run refused for its spelling of a method
    # recorded b.csv's fingerprint; b.csv was then edited, and the valid
    # resume was refused for "data set 'b' has other content", though the
    # folder held no row of b.
    out = tmp_path / "run"
    assert main(_argv(out, sets / "a.csv")) == 0
    _damage(out, "respelt")
    argv = _argv(out, sets / "a.csv", sets / "b.csv", methods="RSFT(M=2.0)")
    with pytest.raises(SystemExit):
        main(argv)
    _write_set(sets / "b.csv", n=30, positives=15, seed=2)
    capsys.readouterr()
    assert main(_argv(out, sets / "a.csv", sets / "b.csv")) == 0
    rows = _records(out / "results.csv")[1:]
    dataset, method = COLUMNS.index("dataset"), COLUMNS.index("method")
    # Every fit of b, as many as of a (repeats of the folds).
    fits_of = Counter((row[dataset], row[method]) for row in rows)
    assert fits_of["b", "LogisticRegression"] == fits_of["a", "LogisticRegression"]
    assert fits_of["b", "LogisticRegression"] >= FOLDS
    assert all(row[method] in ("LogisticRegression", "RSFT(M=2)") for row in rows)
    assert "other content" not in capsys.readouterr().err


def test_a_run_interrupted_at_its_first_fit_leaves_its_record(
    sets, tmp_path, monkeypatch, capsys
):
    # run.json is written once the checks pass, before the first fit: a
    # run stopped there resumes under the record of its own settings.
    out = tmp_path / "run"

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(_runner, "run_fold", interrupted)
    assert main(_argv(out, sets / "a.csv", sets / "b.csv")) == 130
    import json

    record = json.loads((out / "run.json").read_text())
    assert [entry["name"] for entry in record["datasets"]] == ["a", "b"]
    assert set(record["fingerprints"]) == {"a", "b"}
    assert (out / "results.csv").read_text() == ",".join(COLUMNS) + "\n"
    monkeypatch.undo()
    assert main(_argv(out, sets / "a.csv", sets / "b.csv")) == 0
    rows = _records(out / "results.csv")[1:]
    assert Counter(row[COLUMNS.index("dataset")] for row in rows) == {
        entry["name"]: entry["repeats"] * FOLDS for entry in record["datasets"]
    }


def _failing_fits(monkeypatch):
    from sklearn.linear_model import LogisticRegression

    def broken(self, *args, **kwargs):
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(LogisticRegression, "fit", broken)


def test_the_failed_fits_message_names_the_folder_it_made(
    sets, tmp_path, monkeypatch, capsys
):
    # "Rerun the same command with --retry-failed", followed as written
    # after a run without --out, started a new folder and ran every fit.
    monkeypatch.chdir(tmp_path)
    _failing_fits(monkeypatch)
    assert main(_argv(None, sets / "a.csv")) == 0
    (made,) = (tmp_path / "rsft-bench-results").iterdir()
    out = made.relative_to(tmp_path)
    failed = len(_records(made / "results.csv")) - 1
    assert failed >= FOLDS
    err = capsys.readouterr().err
    assert (
        f"{failed} fit(s) failed; their errors are under 'Failed fits' in the "
        f"report. Rerun the same command with --out {out} --retry-failed to "
        "try them again." in err
    )
    # With --out, the same command finds the folder.
    assert main(_argv(tmp_path / "given", sets / "a.csv")) == 0
    assert (
        "Rerun the same command with --retry-failed to try them again."
        in capsys.readouterr().err
    )


def test_retry_failed_without_out_is_refused(sets, tmp_path, monkeypatch, capsys):
    # A new folder holds no failed fit: the run would have fitted every
    # fit again, not the failed ones.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as refused:
        main(_argv(None, sets / "a.csv", extra=["--retry-failed"]))
    assert refused.value.code == 2
    assert (
        "--retry-failed reruns the failed fits of an existing folder, and a "
        "run without --out starts a new one; name the folder of the run: "
        "--out FOLDER --retry-failed." in capsys.readouterr().err
    )
    assert not (tmp_path / "rsft-bench-results").exists()


@pytest.mark.parametrize("given", [False, True])
def test_a_full_disk_names_the_folder_to_resume(
    sets, tmp_path, monkeypatch, capsys, given
):
    # "rerun the same command with --out to resume" left out the folder a
    # run without --out had made for itself.
    monkeypatch.chdir(tmp_path)

    def full(datasets, methods, config, out, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_runner, "run_benchmark", full)
    out = tmp_path / "given" if given else None
    assert main(_argv(out, sets / "a.csv")) == 1
    err = capsys.readouterr().err
    if given:
        assert "Free space and rerun the same command to resume." in err
    else:
        assert (
            "Free space and rerun the same command with --out rsft-bench-results/"
            in err
        )
        assert err.rstrip().endswith("to resume.")


@pytest.mark.parametrize(
    "folds, advice",
    [
        (2, "Raise --max-rows (10 now; 0 keeps every row)."),
        (
            3,
            "Raise --max-rows (10 now; 0 keeps every row), or lower --folds "
            "(3 now; 2 at least).",
        ),
    ],
)
def test_a_set_of_one_class_names_only_what_can_change(tmp_path, capsys, folds, advice):
    # "raise --max-rows, or lower --folds" was said with --folds at its
    # least, 2 (--folds 1 is refused).
    _write_set(tmp_path / "rare.csv", n=60, positives=3)
    argv = ["--suite", "csv", "--target", "cls", "--data", str(tmp_path / "rare.csv")]
    argv += ["--methods", "LogisticRegression", "--max-rows", "10"]
    argv += ["--folds", str(folds), "--out", str(tmp_path / "run")]
    with pytest.raises(SystemExit):
        main(argv)
    err = capsys.readouterr().err
    assert (
        "['rare'] hold(s) one class only after the row cap and the classes "
        f"with fewer rows than the {folds} folds were left out; a classifier "
        f"needs two or more. {advice}" in " ".join(err.split())
    )


def _unwritable_file(monkeypatch, path, error=errno.EACCES):
    """Make ``path`` unwritable for the runner, as a file of mode 444 in a
    writable folder is (``error`` EACCES), or as any file on a full disk
    (ENOSPC): chmod refuses nothing to root, who may run the tests. Opening
    it for writing fails; replacing it in the folder works, and the new file
    is writable. Returns the list of the replacements made."""
    path = os.path.abspath(path)
    replaced = []

    def refused(file):
        return os.path.abspath(file) == path and not replaced

    def guarded_open(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and refused(file):
            if any(flag in mode for flag in "wax+"):
                if error == errno.ENOSPC:
                    # Created, then full at the first write.
                    open(file, mode, *args, **kwargs).close()
                raise OSError(error, os.strerror(error), os.fspath(file))
        return open(file, mode, *args, **kwargs)

    real_os_open, real_replace = os.open, os.replace

    def guarded_os_open(file, flags, *args, **kwargs):
        if flags & (os.O_WRONLY | os.O_RDWR) and refused(file):
            raise OSError(error, os.strerror(error), os.fspath(file))
        return real_os_open(file, flags, *args, **kwargs)

    def replace(src, dst, **kwargs):
        if os.path.abspath(dst) == path:
            replaced.append(dst)
        return real_replace(src, dst, **kwargs)

    monkeypatch.setattr(_runner, "open", guarded_open, raising=False)
    monkeypatch.setattr(_runner.os, "open", guarded_os_open)
    monkeypatch.setattr(_runner.os, "replace", replace)
    return replaced


def _snapshot(out):
    return {path.name: path.read_bytes() for path in sorted(out.iterdir())}


def test_a_read_only_results_file_leaves_the_record_as_it_was(
    sets, tmp_path, monkeypatch, capsys
):
    # A run refused for a read-only results.csv had written its run.json
    # first (its command, and b's fingerprint); b.csv was then edited, and
    # the valid resume was refused for "data set 'b' has other content",
    # though the folder held no row of b.
    out = tmp_path / "run"
    assert main(_argv(out, sets / "a.csv")) == 0
    before = _snapshot(out)
    replaced = _unwritable_file(monkeypatch, out / "results.csv")
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(_argv(out, sets / "a.csv", sets / "b.csv"))
    assert refused.value.code == 2
    assert (
        f"--out: cannot write the results in {str(out)!r} (Permission denied: "
        f"{out / 'results.csv'})." in capsys.readouterr().err
    )
    assert _snapshot(out) == before
    assert replaced == []
    monkeypatch.undo()
    _write_set(sets / "b.csv", n=30, positives=15, seed=2)
    assert main(_argv(out, sets / "a.csv", sets / "b.csv")) == 0
    assert "other content" not in capsys.readouterr().err
    rows = _records(out / "results.csv")[1:]
    fits_of = Counter(row[COLUMNS.index("dataset")] for row in rows)
    assert fits_of["b"] == fits_of["a"] >= FOLDS
    # a's rows are those of the first run, byte for byte.
    assert (out / "results.csv").read_bytes().startswith(before["results.csv"])


@pytest.mark.parametrize("how", ["torn", "retry-failed"])
def test_a_read_only_results_file_is_refused_not_replaced(
    sets, tmp_path, monkeypatch, capsys, how
):
    # A read-only results.csv that the run had to rewrite (a torn last line
    # dropped, failed rows dropped for --retry-failed) was replaced by a
    # writable copy, as its folder was writable, and the run went on.
    out = tmp_path / "run"
    assert main(_argv(out, sets / "a.csv")) == 0
    path = out / "results.csv"
    if how == "torn":
        path.write_bytes(path.read_bytes()[:-30])
        extra = []
    else:
        header, *rows = _records(path)
        rows[0][COLUMNS.index("status")] = "error"
        _write_records(path, [header, *rows])
        extra = ["--retry-failed"]
    before = _snapshot(out)
    replaced = _unwritable_file(monkeypatch, path)
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(_argv(out, sets / "a.csv", extra=extra))
    assert refused.value.code == 2
    assert (
        f"--out: cannot write the results in {str(out)!r} (Permission denied: "
        f"{path})." in capsys.readouterr().err
    )
    assert _snapshot(out) == before
    assert replaced == []


@pytest.mark.parametrize("resumed", [False, True])
def test_a_full_disk_at_the_results_file_puts_the_record_back(
    sets, tmp_path, monkeypatch, capsys, resumed
):
    # The record is written before the results file; a results file that
    # could not be written then (a full disk) had left the refused run's
    # record, and a partial copy of the results (results.csv.tmp) beside it.
    out = tmp_path / "run"
    out.mkdir()
    if resumed:
        assert main(_argv(out, sets / "a.csv")) == 0
        # A torn line: the resume rewrites the file.
        path = out / "results.csv"
        path.write_bytes(path.read_bytes()[:-30])
    before = _snapshot(out)
    _unwritable_file(monkeypatch, out / "results.csv.tmp", errno.ENOSPC)
    capsys.readouterr()
    with pytest.raises(SystemExit) as refused:
        main(_argv(out, sets / "a.csv", sets / "b.csv"))
    assert refused.value.code == 2
    assert (
        f"--out: cannot write the results in {str(out)!r} (No space left on "
        f"device: {out / 'results.csv.tmp'})." in capsys.readouterr().err
    )
    assert _snapshot(out) == before
