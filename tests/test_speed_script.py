"""``benchmarks/speed.py`` refuses settings that would time nothing."""

import argparse

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
