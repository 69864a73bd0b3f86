"""``benchmarks/speed.py`` refuses settings that would time nothing."""

import argparse
import signal
from functools import partial

import pytest
import torch
from _scripts import load_script


@pytest.fixture(scope="module")
def speed():
    return load_script("speed")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--repeats", "0"], "--repeats: must be a positive integer, got '0'"),
        (["--rows", "-5"], "--rows: must be a positive integer"),
        (["--threads", "x"], "--threads: must be a positive integer, got 'x'"),
        (["--budget", "0"], "--budget: budget is the expected fraction"),
        (["--budget", "1.5"], "must be a float in (0, 1]"),
        (["--fars-rows", "-1"], "--fars-rows: must be 0 or a positive integer"),
        # Sizes the contenders cannot run on: SMOTE's traceback, and the
        # stratified split's, came after the timings before them.
        (["--rows", "40"], "--rows must be at least 500"),
        (["--fars-rows", "500"], "--fars-rows must be 0 or at least 5000"),
    ],
)
def test_settings_that_time_nothing_are_refused(speed, argv, message, capsys):
    with pytest.raises(SystemExit) as excinfo:
        speed.main([*argv, "--out", "-"])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_the_floor_scores_only_the_epochs_the_fit_scored(speed, monkeypatch):
    X, _, y, _ = speed.fars_shaped(2000)
    net = speed.rsft(
        X, y, epochs=3, batch_size=32, rejection="budget", budget=0.5, warmup_epochs=1
    )
    epochs = speed.floor_epochs(net)
    assert [scored for _, scored in epochs] == [False, True, True]
    assert [n for n, _ in epochs] == [
        sum(b["train_batch_size"] for b in e["batches"]) for e in net.history
    ]
    passes = []

    class Counting(speed.MLPModule):
        def forward(self, X):
            passes.append((len(X), torch.is_grad_enabled()))
            return super().forward(X)

    monkeypatch.setattr(speed, "MLPModule", Counting)
    speed.pool_floor(X, y, epochs, pool_rows=128, batch_size=32)
    scored_rows = sum(n for n, grad in passes if not grad)
    trained_rows = sum(n for n, grad in passes if grad)
    # Two scored epochs over every row, and the rows each epoch trained on.
    assert scored_rows == 2 * len(X)
    assert trained_rows == sum(n for n, _ in epochs)


def test_the_bare_budget_loop_scores_every_row_and_trains_the_budget(
    speed, monkeypatch
):
    # The reference that the budget fit is timed against does the fit's
    # work: one gradient-free pass over every row per epoch, and backward
    # passes on the budget's share of the rows, as the estimator does.
    X, _, y, _ = speed.fars_shaped(5000)
    net = speed.rsft(X, y, epochs=2, batch_size=32, rejection="budget", budget=0.25)
    fit_share = sum(n for n, _ in speed.floor_epochs(net)) / (2 * len(X))
    passes = []

    class Counting(speed.MLPModule):
        def forward(self, X):
            passes.append((len(X), torch.is_grad_enabled(), self.training))
            return super().forward(X)

    monkeypatch.setattr(speed, "MLPModule", Counting)
    share = speed.bare_budget_loop(X, y, 2, 32, 0.25, pool_size=4)
    scored = [(n, training) for n, grad, training in passes if not grad]
    trained = sum(n for n, grad, _ in passes if grad)
    assert sum(n for n, _ in scored) == 2 * len(X)
    assert not any(training for _, training in scored)
    # Pools of 4 batches, the last of each epoch short (4000 = 31 * 128 + 32).
    assert [n for n, _ in scored] == ([4 * 32] * 31 + [32]) * 2
    assert trained == round(share * 2 * len(X))
    assert share == pytest.approx(0.25, abs=0.02)
    assert share == pytest.approx(fit_share, abs=0.02)


def test_the_report_gives_the_pool_fits_own_epochs_and_acceptance(speed, monkeypatch):
    # The pool's columns once showed the budget fit's epochs and acceptance.
    fits = []
    fit = speed.rsft
    monkeypatch.setattr(
        speed, "rsft", lambda *a, **k: fits.append(fit(*a, **k)) or fits[-1]
    )
    args = argparse.Namespace(
        fars_epochs=2, fars_pool_epochs=5, batch_size=32, budget=0.25
    )
    result = speed.fars_round(args, speed.fars_shaped(2000))
    per_batch, pool, budget = fits
    assert [p["rejection"] for p in (pool.get_params(), budget.get_params())] == [
        "pool",
        "budget",
    ]
    assert result["pool_epochs"] == len(pool.history) != len(budget.history)
    assert result["acceptance"] == pool.history[-1, "acceptance_rate"]


def test_a_quick_run_prints_and_leaves_the_committed_figures(
    speed, monkeypatch, tmp_path, capsys
):
    # --quick wrote docs/speed.md by default, over the committed figures.
    monkeypatch.setattr(speed, "measure", lambda args: {})
    monkeypatch.setattr(speed, "report", lambda args, median, command: "the table")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "docs").mkdir()
    assert speed.main(["--quick"]) == 0
    assert "the table" in capsys.readouterr().out
    assert not (tmp_path / "docs" / "speed.md").exists()
    assert speed.main([]) == 0
    assert (tmp_path / "docs" / "speed.md").read_text() == "the table"


def test_options_given_win_over_quick_and_fars_rows_0_leaves_e_out(
    speed, monkeypatch, capsys
):
    # --quick replaced --rows and --repeats silently, and a run without (e)
    # marked its three targets "met: no" from NaN timings.
    seen = []
    names = ["RSFT", "bare PyTorch loop", "plain skorch", "heavy, compact=True",
             "heavy, compact=False", "SMOTE + net", "RandomUnderSampler + net",
             "RSFT rejection='epoch'", "RSFT rejection='pool'"]  # fmt: skip
    timings = dict.fromkeys(names, 1.0)
    timings |= dict.fromkeys(
        [
            "fars-shaped: pool, to per-batch RSFT's quality",
            "fars-shaped: per-batch RSFT",
            "fars-shaped: pool fit",
            "fars-shaped: floor of the pool fit",
            "fars-shaped: budget fit",
            "fars-shaped: floor of the budget fit",
            "fars-shaped: budget step as a bare PyTorch loop",
        ],
        float("nan"),
    )
    median = {"cpu": timings, "wall": timings, "fars": []}
    monkeypatch.setattr(speed, "measure", lambda args: seen.append(args) or median)
    argv = ["--quick", "--rows", "500", "--repeats", "2", "--fars-rows", "0"]
    assert speed.main(argv) == 0
    (args,) = seen
    assert (args.rows, args.repeats, args.epochs, args.width) == (500, 2, 2, 128)
    out = capsys.readouterr().out
    assert "Data: 500 x 20 rows" in out and "Median of 2 interleaved" in out
    assert "(e): left out (--fars-rows 0)" in out
    assert "| (e)" not in out and "(e) repeat" not in out
    assert "Not measured (--fars-rows 0): (e) fars-shaped" in out
    assert "| (a) RSFT / bare PyTorch loop | 1.00 | 1.00 | <= 1.15 | yes |" in out


def test_an_out_that_cannot_be_written_is_refused_before_measuring(
    speed, monkeypatch, tmp_path, capsys
):
    # It failed with FileNotFoundError after every measurement.
    monkeypatch.setattr(speed, "measure", pytest.fail)
    for out in (tmp_path / "no" / "speed.md", tmp_path):
        with pytest.raises(SystemExit) as excinfo:
            speed.main(["--quick", "--out", str(out)])
        assert excinfo.value.code == 2
        assert f"--out: cannot write the file {str(out)!r}" in capsys.readouterr().err


def test_ctrl_c_in_a_fit_stops_the_script_and_writes_nothing(
    speed, monkeypatch, tmp_path, capsys
):
    # skorch ends a fit quietly on Ctrl-C: the cut-short RSFT fit was timed
    # as a whole one, and ratio (a) written as met (0.57 for about 1.1).
    from _interrupts import CtrlC

    X, y = speed.tabular(500, 20)
    calls = []

    def contenders(args):
        def burn(name):
            calls.append(name)
            sum(range(10_000))

        runs = {name: partial(burn, name) for name in real(args)}

        def rsft():
            calls.append("RSFT")
            # Ctrl-C in the first timed RSFT fit, after the untimed round.
            ctrl_c = [CtrlC()] if calls.count("RSFT") == 2 else []
            speed.rsft(X, y, 2, 100, callbacks=ctrl_c)

        runs["RSFT"] = rsft
        return runs

    real = speed.contenders
    monkeypatch.setattr(speed, "contenders", contenders)
    out = tmp_path / "speed.md"
    argv = ["--quick", "--rows", "500", "--fars-rows", "0", "--out", str(out)]
    assert speed.main(argv) == 130
    assert "Interrupted; nothing written." in capsys.readouterr().err
    assert not out.exists()
    # Nothing ran after the interrupted fit.
    assert calls[-1] == "RSFT" and calls.count("RSFT") == 2
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_quality_clock_stops_a_fit_but_ctrl_c_stops_the_script(speed):
    # The clock stopped a fit by raising KeyboardInterrupt, the exception
    # a real Ctrl-C raises too.
    from _interrupts import CtrlC

    X, y = speed.tabular(500, 20)
    clock = speed.QualityClock(X, y, target=0.0)
    net = speed.rsft(X, y, 4, 100, callbacks=[clock])
    assert len(net.history) == len(clock.curve) == 1
    with pytest.raises(KeyboardInterrupt) as excinfo:
        speed.rsft(X, y, 4, 100, callbacks=[speed.QualityClock(X, y), CtrlC()])
    assert not isinstance(excinfo.value, speed.TargetReached)


# Distinct median seconds of every contender, so that a ratio taken between
# the wrong two, or upside down, gives another value.
MEDIAN = {
    "RSFT": 2.0,
    "bare PyTorch loop": 1.6,
    "plain skorch": 5.0,
    "SMOTE + net": 8.0,
    "RandomUnderSampler + net": 2.5,
    "RSFT rejection='epoch'": 3.0,
    "RSFT rejection='pool'": 3.5,
    "heavy, compact=True": 0.6,
    "heavy, compact=False": 1.5,
    "fars-shaped: pool, to per-batch RSFT's quality": 4.0,
    "fars-shaped: per-batch RSFT": 10.0,
    "fars-shaped: pool fit": 6.0,
    "fars-shaped: floor of the pool fit": 5.0,
    "fars-shaped: budget fit": 3.3,
    "fars-shaped: floor of the budget fit": 3.0,
    "fars-shaped: budget step as a bare PyTorch loop": 2.75,
}


def test_the_ratios_are_taken_between_the_contenders_targets_name(speed):
    ratio = speed.ratios(MEDIAN)
    assert set(ratio) == set(speed.TARGETS)
    expected = {
        "a": 2.0 / 1.6,  # RSFT / bare loop
        "b": 5.0 / 2.0,  # plain skorch / RSFT, a speed-up
        "c": 0.6 / 1.5,  # compact=True / compact=False
        "d_smote": 2.0 / 8.0,
        "d_rus": 2.0 / 2.5,
        "d_rus_epoch": 3.0 / 2.5,
        "d_rus_pool": 3.5 / 2.5,
        "e_quality": 4.0 / 10.0,
        "e_floor": 6.0 / 5.0,
        "e_budget_floor": 3.3 / 3.0,
        "e_budget_bare": 3.3 / 2.75,
    }
    assert ratio == pytest.approx(expected)


def test_the_report_marks_each_target_against_its_bound(speed):
    args = argparse.Namespace(
        rows=500, epochs=2, batch_size=128, width=16, heavy_epochs=1, repeats=1,
        fars_rows=5000, fars_epochs=2, fars_pool_epochs=4, budget=0.25,
    )  # fmt: skip
    wall = {name: 2 * seconds for name, seconds in MEDIAN.items()}
    wall["RSFT"] = 1.6  # (a) 0.50 on the wall clock
    text = speed.report(args, {"cpu": MEDIAN, "wall": wall, "fars": []}, "cmd")
    for row in (
        "| (a) RSFT / bare PyTorch loop | 1.25 | 0.50 | <= 1.15 | no |",
        "| (b) plain skorch / RSFT | 2.50 | 6.25 | >= 1.6 | yes |",
        "| (c) compact=True / compact=False (epoch time) | 0.40 | 0.40 | <= 0.6 "
        "| yes |",
        "| (d) RSFT / SMOTE + same net | 0.25 | 0.10 | <= 1.0 | yes |",
        "| (e) fars-shaped: pool fit / its floor | 1.20 | 1.20 | <= 1.2 | yes |",
    ):
        assert row in text, row
