"""The rows the report of rsft-bench counts: each fit once, an unscored fit as
failed, only the run's splits (a file edited or merged by hand)."""

import json
import re

import numpy as np
import pytest

from rsft_sklearn import RSFTWarning
from rsft_sklearn.benchmark import _cli, _runner
from rsft_sklearn.benchmark._report import corrected_interval, write_report
from rsft_sklearn.benchmark._runner import METRICS, ResultsFile, run_benchmark
from rsft_sklearn.benchmark._suites import Dataset

METHODS = ["LogisticRegression", "RSFT"]
FOLDS, REPEATS = 2, 2
# Balanced accuracy of each fold (0 to 3: two repeats of two folds).
SCORES = {
    "LogisticRegression": [0.80, 0.90, 0.84, 0.86],
    "RSFT": [0.70, 0.60, 0.66, 0.64],
}
CONFIG = {
    "command": "rsft-bench",
    "suite": "builtin",
    "folds": FOLDS,
    "repeats": REPEATS,
    "half": None,
    "epochs": 1,
    "batch_size": 128,
    "recipe": None,
    "max_grad_norm": None,
    "threads": 1,
    "seed": 0,
    "max_rows": 0,
    "methods": METHODS,
    "reference": "RSFT",
    "datasets": [
        {
            "name": "toy",
            "n": 120,
            "n_features": 3,
            "n_classes": 2,
            "imbalance_ratio": 2.0,
            "group": "",
            "notes": [],
            "repeats": REPEATS,
            "split": "cv",
        }
    ],
    "skipped": [],
}


def _row(method, split, **changes):
    """The row of ``method`` on fold ``split``, with ``changes``."""
    score = SCORES[method][split]
    return {
        "dataset": "toy",
        "method": method,
        "fold": split,
        "repeat": split // FOLDS,
        "n_train": 60,
        "n_test": 60,
        "n_classes": 2,
        "imbalance_ratio": 2.0,
        "status": "ok",
        "error": "",
        **{metric: score for metric in METRICS},
        "fit_time": 0.5,
        "predict_time": 0.01,
        "backward_rows": 60.0,
        **changes,
    }


def _folder(path, extra=()):
    """A finished run of every method and fold, then the rows ``extra``,
    written as the runner writes them."""
    path.mkdir()
    results = ResultsFile(path / "results.csv")
    results.prepare()
    for fold in range(FOLDS * REPEATS):
        for method in METHODS:
            results.append(_row(method, fold))
    for row in extra:
        results.append(row)
    (path / "run.json").write_text(json.dumps(CONFIG))
    return path


def _report(path):
    return write_report(path, CONFIG).read_text()


def _summary(report):
    """The first summary table: the sets every method finished."""
    return report.split("## Summary")[1].split("\n#")[0]


def _summary_cell(report, method):
    """The balanced accuracy of ``method`` in the first summary table."""
    (line,) = [
        line
        for line in _summary(report).splitlines()
        if line.startswith(f"| {method} |")
    ]
    return line.split("|")[2].strip()


@pytest.fixture
def base_report(tmp_path):
    return _report(_folder(tmp_path / "base"))


def test_the_base_report_averages_every_fold(base_report):
    assert _summary_cell(base_report, "LogisticRegression") == "0.850 ± 0.000"
    assert _summary_cell(base_report, "RSFT") == "0.650 ± 0.000"
    assert "## Failed fits\n\nNone." in base_report


def test_a_row_repeated_by_a_merge_is_one_fit(tmp_path, base_report):
    # The copy of fold 0 was averaged twice: 0.840 for 0.850, and the
    # interval over repeats left RSFT out as short of fits.
    out = _folder(tmp_path / "copied", [_row("LogisticRegression", 0)])
    report = _report(out)
    assert _summary_cell(report, "LogisticRegression") == "0.850 ± 0.000"
    mean, low, high = corrected_interval(SCORES["RSFT"], 1.0)
    assert "| toy | 2 | 0.850 [" in report
    assert f"{mean:.3f} [{low:.3f}, {high:.3f}] |" in report
    assert report == base_report
    # Counted once by the command line's count of failed fits too.
    failed = _row("RSFT", 1, status="error", error="boom")
    out = tmp_path / "failed"
    out.mkdir()
    results = ResultsFile(out / "results.csv")
    results.prepare()
    for row in (failed, failed):
        results.append(row)
    assert _cli._failed_fits(out / "results.csv", CONFIG) == 1


def test_differing_rows_of_one_fit_are_refused(tmp_path):
    out = _folder(tmp_path / "merged", [_row("LogisticRegression", 0, fit_time=9.0)])
    message = (
        "1 fit(s) have differing rows: rows 1 and 9 (toy, LogisticRegression, "
        "fold 0). Keep one row of each fit"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        _report(out)


def test_a_resume_refuses_differing_rows_before_any_fit(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    dataset = Dataset("toy", rng.normal(size=(120, 3)), np.repeat([0, 1], [80, 40]))
    out = _folder(tmp_path / "merged", [_row("RSFT", 3, balanced_accuracy=0.1)])
    # A fit still to run (fold 3 of LogisticRegression), so that a refusal
    # after it would be seen.
    lines = (out / "results.csv").read_text().splitlines(keepends=True)
    (out / "results.csv").write_text("".join(lines[:7] + lines[8:]))
    calls = []

    def run_fold(dataset, method, fold, *args):
        calls.append((method, fold))
        return _row(method, fold)

    monkeypatch.setattr(_runner, "run_fold", run_fold)
    with pytest.raises(ValueError, match=r"rows 7 and 8 \(toy, RSFT, fold 3\)"):
        run_benchmark([dataset], METHODS, CONFIG, out, n_jobs=1)
    assert calls == []


def test_a_finished_fit_without_a_score_is_failed(tmp_path):
    # An "ok" row with an empty balanced accuracy made the summary the mean
    # of the other three folds (0.833) while the other columns used four
    # (0.850), "Failed fits" said None and a resume never ran it again.
    row = _row("LogisticRegression", 1, balanced_accuracy=float("nan"))
    out = tmp_path / "unscored"
    out.mkdir()
    results = ResultsFile(out / "results.csv")
    results.prepare()
    for fold in range(FOLDS * REPEATS):
        for method in METHODS:
            results.append(
                row if (method, fold) == (METHODS[0], 1) else _row(method, fold)
            )
    report = _report(out)
    failed = report.split("## Failed fits")[1]
    assert (
        "| toy | LogisticRegression | 1 | no score: empty balanced_accuracy |" in failed
    )
    # Failed on the only set: no mean of three folds beside the others' four.
    assert "| LogisticRegression |" not in _summary(report)
    assert _summary_cell(report, "RSFT") == "0.650 ± 0.000"
    assert _cli._failed_fits(out / "results.csv", CONFIG) == 1
    # --retry-failed runs it again, as the command line's message says.
    keys = results.prepare(retry_failed=True)
    assert ("toy", "LogisticRegression", 1) not in keys
    assert len(keys) == FOLDS * REPEATS * len(METHODS) - 1


def test_rows_of_folds_outside_the_runs_splits_are_left_out(tmp_path, base_report):
    # A row of fold 7 was counted as a fit: RSFT, with a fit fewer, was
    # dropped from the summary as "finished on fewer of these sets".
    extra = [_row("LogisticRegression", 1, fold=7, repeat=3), _row("RSFT", 0, fold=-1)]
    out = _folder(tmp_path / "outside", extra)
    message = (
        "2 row(s) are of folds that this run does not have: row 9 (toy, "
        "LogisticRegression, fold 7), row 10 (toy, RSFT, fold -1). The report "
        "leaves them out"
    )
    with pytest.warns(RSFTWarning, match=re.escape(message)):
        report = _report(out)
    assert report == base_report
    assert "Not ranked" not in report
