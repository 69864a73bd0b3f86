"""rsft-bench's command line: a signal turned into another error, progress in
a log file, an empty --out."""

import re
import signal

import pytest

from rsft_sklearn.benchmark import _cli
from rsft_sklearn.benchmark._runner import terminate_as_interrupt

QUICK = ["--suite", "builtin", "--quick"]


def _no_fits(monkeypatch):
    """Run nothing: the command line up to the report, and no further."""
    monkeypatch.setattr(
        "rsft_sklearn.benchmark._runner.run_benchmark", lambda *args, **kwargs: 0
    )


@pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_a_signal_that_compiled_code_turned_into_a_value_error_is_an_interrupt(
    tmp_path, monkeypatch, capsys, signum, status
):
    # matplotlib's affine converter turns the KeyboardInterrupt that a
    # signal raises inside it into ValueError("Invalid affine transformation
    # matrix"); rsft-bench then exited 2 with its usage, as for a bad option.
    # The handler is called, not the signal sent, to make it deterministic.
    def interrupted_report(out, config):
        try:
            signal.getsignal(signum)(signum, None)
        except KeyboardInterrupt:
            raise ValueError("Invalid affine transformation matrix") from None

    _no_fits(monkeypatch)
    monkeypatch.setattr(
        "rsft_sklearn.benchmark._report.write_report", interrupted_report
    )
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert _cli.main([*QUICK, "--out", str(tmp_path / "run")]) == status
    err = capsys.readouterr().err
    assert "Interrupted; finished folds are saved. Rerun the same command" in err
    assert "usage" not in err and "affine" not in err
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (
        handlers
    )


def test_a_value_error_without_a_signal_is_still_a_usage_error(
    tmp_path, monkeypatch, capsys
):
    def failing_report(out, config):
        raise ValueError("results.csv cannot be reported")

    _no_fits(monkeypatch)
    monkeypatch.setattr("rsft_sklearn.benchmark._report.write_report", failing_report)
    # A signal of an earlier run is not this run's.
    with pytest.raises(KeyboardInterrupt), terminate_as_interrupt():
        signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
    with pytest.raises(SystemExit) as excinfo:
        _cli.main([*QUICK, "--out", str(tmp_path / "run")])
    assert excinfo.value.code == 2
    assert "rsft-bench: error: results.csv cannot be reported" in (
        capsys.readouterr().err
    )


def test_a_run_logged_to_a_file_prints_a_line_per_finished_data_set(tmp_path, capsys):
    # With stderr not a terminal the progress bars are off, and the run
    # printed nothing until its last line. (wine, whose rarest class has
    # under 30 rows, is split three times.)
    argv = [*QUICK, "--folds", "2", "--methods", "LogisticRegression"]
    argv += ["--n-jobs", "1", "--threads", "1", "--out", str(tmp_path / "run")]
    assert _cli.main(argv) == 0
    lines = capsys.readouterr().err.splitlines()
    assert (
        lines[0] == "rsft-bench: 8 fit(s) to run on 2 data set(s); 0 of 8 done before."
    )
    assert re.fullmatch(
        r"rsft-bench: breast_cancer done: 2 fit\(s\); 2 of 8 fits of the run "
        r"done after \d+:\d\d:\d\d\.",
        lines[1],
    )
    assert re.fullmatch(
        r"rsft-bench: wine done: 6 fit\(s\); 8 of 8 fits of the run done "
        r"after \d+:\d\d:\d\d\.",
        lines[2],
    )
    assert len(lines) == 3
    # Nothing to run, nothing to say; and --no-progress hides the lines.
    assert _cli.main(argv) == 0
    assert capsys.readouterr().err == ""
    argv[argv.index("--out") + 1] = str(tmp_path / "quiet")
    assert _cli.main([*argv, "--no-progress"]) == 0
    assert capsys.readouterr().err == ""


def test_help_says_the_bars_need_a_terminal():
    text = " ".join(_cli.build_parser().format_help().split())
    assert (
        "--no-progress hide the progress: the bars, shown when stderr is a "
        "terminal, or otherwise (a log file) the line printed as each data set "
        "finishes" in text
    )


@pytest.mark.parametrize("argv", [["--out", ""], ["--out="]])
def test_an_empty_out_is_refused(tmp_path, monkeypatch, capsys, argv):
    # --out "$OUT" with OUT unset wrote the run into the current folder.
    _no_fits(monkeypatch)
    monkeypatch.setattr(
        "rsft_sklearn.benchmark._report.write_report",
        lambda out, config: tmp_path / "report.md",
    )
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as excinfo:
        _cli.main([*QUICK, *argv])
    assert excinfo.value.code == 2
    assert (
        "argument --out: got an empty path (an unset shell variable?); name a "
        "folder, or leave --out out for a new one under ./rsft-bench-results"
    ) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_the_line_of_a_data_set_counts_its_failed_fits(capsys):
    from types import SimpleNamespace

    from rsft_sklearn.benchmark._runner import _progress_bars

    toy = SimpleNamespace(name="toy")
    tasks = [(toy, "RSFT", fold) for fold in range(3)]
    advance, close = _progress_bars([toy], tasks, {"toy": 2}, "lines")
    for status in ("ok", "error", "error"):
        advance({"dataset": "toy", "status": status})
    close()
    first, last = capsys.readouterr().err.splitlines()
    assert first == "rsft-bench: 3 fit(s) to run on 1 data set(s); 2 of 5 done before."
    assert re.fullmatch(
        r"rsft-bench: toy done: 5 fit\(s\), 2 failed; 5 of 5 fits of the run "
        r"done after 0:00:00\.",
        last,
    )
