"""``benchmarks/extreme_dev.py``: development data at extreme imbalance."""

import json
import signal

import numpy as np
import pytest
from _interrupts import interrupting
from _scripts import load_script, read_only

pytest.importorskip("mnist1d")


@pytest.fixture(scope="module")
def dev():
    return load_script("extreme_dev")


def test_data_are_not_the_held_out_sets(dev):
    # The held-out mnist1d-60k-lt is generated with mnist1d's seed 42.
    X, y = dev.make_data(2000, 2026)
    X42, _ = dev.make_data(2000, 42)
    assert X.shape == (2000, 40) and X.dtype == np.float32
    assert sorted(np.unique(y)) == list(range(10))
    assert not np.allclose(X, X42)
    again, _ = dev.make_data(2000, 2026)
    np.testing.assert_array_equal(X, again)


def test_run_resumes_and_summarises(dev, tmp_path, capsys):
    argv = [
        "--rows", "3000", "--ratios", "20", "--repeats", "2", "--epochs", "1",
        "--methods", "RSFT|logit-adjusted loss", "--out", str(tmp_path),
    ]  # fmt: skip
    assert dev.main(argv) == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").open()]
    assert len(rows) == 4
    assert {(r["repeat"], r["method"]) for r in rows} == {
        (rep, m) for rep in (0, 1) for m in ("RSFT", "logit-adjusted loss")
    }
    for row in rows:
        assert 0 <= row["balanced_accuracy"] <= 1 and 0 <= row["f1_macro"] <= 1
        # A tail of ratio 20 over 10 classes: the rarest class keeps about
        # a twentieth of the largest.
        assert row["rarest_class_rows"] >= 1 and row["ratio"] == 20
    table = capsys.readouterr().out
    assert "| 20 | RSFT | 2 |" in table and " ± " in table
    # The paired table compares RSFT with the other method, repeat by repeat.
    diff = np.mean(
        [
            sum(r["balanced_accuracy"] * (1 if r["method"] == "RSFT" else -1)
                for r in rows if r["repeat"] == rep)
            for rep in (0, 1)
        ]
    )  # fmt: skip
    assert "Paired differences" in table
    assert f"| 20 | logit-adjusted loss | 2 | {diff:+.3f} ± " in table
    # A rerun finds every fit done and adds none.
    assert dev.main(argv) == 0
    assert len((tmp_path / "results.jsonl").read_text().splitlines()) == 4
    # One with fewer repeats summarises those (it summarised every stored
    # repeat).
    capsys.readouterr()
    fewer = [*argv[:4], "--repeats", "1", *argv[6:]]
    assert dev.main(fewer) == 0
    table = capsys.readouterr().out
    assert "| 20 | RSFT | 1 |" in table and "| 20 | RSFT | 2 |" not in table


def test_clipped_runs_are_kept_apart(dev, tmp_path, monkeypatch):
    from skorch.callbacks import GradientNormClipping

    real = dev.run_one
    seen = []

    def spy(method, X, y, train, test, repeat, args):
        seen.append(args.max_grad_norm)
        return real(method, X, y, train, test, repeat, args)

    monkeypatch.setattr(dev, "run_one", spy)
    argv = [
        "--rows", "2000", "--ratios", "10", "--repeats", "1", "--epochs", "1",
        "--methods", "logit-adjusted loss", "--out", str(tmp_path),
    ]  # fmt: skip
    assert dev.main(argv) == 0
    assert dev.main([*argv, "--max-grad-norm", "3"]) == 0
    # A clipped run is another protocol: it adds its own row; rerunning
    # either adds nothing.
    assert dev.main([*argv, "--max-grad-norm", "3"]) == 0
    assert dev.main(argv) == 0
    assert seen == [None, 3.0]
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").open()]
    assert [row["max_grad_norm"] for row in rows] == [None, 3.0]
    # The clipping reaches the network: its callbacks hold skorch's clipper.
    from rsft_sklearn.benchmark._runner import with_clipping

    params = with_clipping({"callbacks": [("a", None)]}, 3.0)
    assert params["callbacks"][0] == ("a", None)
    assert isinstance(params["callbacks"][1][1], GradientNormClipping)


def _fake_fit(seen):
    """A stand-in for ``run_one`` that records the data settings it ran on."""

    def run_one(method, X, y, train, test, repeat, args):
        seen.append((args.rows, args.data_seed))
        return {
            "balanced_accuracy": 0.5,
            "f1_macro": 0.5,
            "fit_seconds": 0.0,
            "n_train": len(train),
            "rarest_class_rows": 1,
        }

    return run_one


def _fake_fits(dev, monkeypatch):
    """Fake data and fits for ``dev``; the list the fits record into."""
    seen = []
    monkeypatch.setattr(dev, "run_one", _fake_fit(seen))
    monkeypatch.setattr(
        dev,
        "make_data",
        lambda rows, seed: (np.zeros((rows, 4), np.float32), np.arange(rows) % 10),
    )
    return seen


def test_other_data_are_kept_apart(dev, tmp_path, monkeypatch, capsys):
    # Before, a rerun with other --rows or --data-seed skipped every fit and
    # printed the results of the other data as its own.
    seen = _fake_fits(dev, monkeypatch)
    argv = [
        "--rows", "2000", "--ratios", "10", "--repeats", "1", "--epochs", "1",
        "--methods", "RSFT", "--out", str(tmp_path),
    ]  # fmt: skip
    assert dev.main(argv) == 0
    assert dev.main([*argv, "--rows", "3000"]) == 0
    assert dev.main([*argv, "--data-seed", "7"]) == 0
    # Every setting has its row now; rerunning any adds nothing.
    assert dev.main([*argv, "--data-seed", "7"]) == 0
    assert dev.main([*argv, "--rows", "3000"]) == 0
    assert seen == [(2000, 2026), (3000, 2026), (2000, 7)]
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").open()]
    assert [(row["rows"], row["data_seed"]) for row in rows] == seen
    # The summary counts the rows of this run's data only.
    assert "| 10 | RSFT | 1 |" in capsys.readouterr().out.splitlines()[-1]


def test_rows_without_data_settings_take_them_from_their_command(
    dev, tmp_path, monkeypatch
):
    seen = _fake_fits(dev, monkeypatch)
    old = {
        "ratio": 10, "repeat": 0, "recipe": "adam", "epochs": 1,
        "balanced_accuracy": 0.5, "f1_macro": 0.5,
    }  # fmt: skip
    script = "python benchmarks/extreme_dev.py"
    written = [
        # The defaults: 100,000 rows, data seed 2026.
        {**old, "method": "RSFT", "command": f"{script} --methods RSFT"},
        {**old, "method": "RSFT", "command": f"{script} --rows=2000 --data-seed 7"},
        {**old, "method": "logit-adjusted loss", "command": "not a command '"},
    ]
    (tmp_path / "results.jsonl").write_text(
        "".join(json.dumps(row) + "\n" for row in written)
    )
    assert dev.data_settings(written[0]) == (100_000, 2026)
    assert dev.data_settings(written[1]) == (2000, 7)
    assert dev.data_settings(written[2]) == (None, None)
    argv = [
        "--ratios", "10", "--repeats", "1", "--epochs", "1",
        "--methods", "RSFT|logit-adjusted loss", "--out", str(tmp_path),
    ]  # fmt: skip
    assert dev.main([*argv, "--rows", "2000", "--data-seed", "7"]) == 0
    assert dev.main([*argv, "--rows", "2000"]) == 0
    # The row of an unreadable command counts for no data.
    assert seen == [(2000, 7), (2000, 2026), (2000, 2026)]


def test_ctrl_c_in_a_fit_stops_the_run_and_saves_nothing_of_it(
    dev, tmp_path, monkeypatch, capsys
):
    # skorch ends a fit quietly on Ctrl-C. Before, the partly trained net
    # was scored and saved as a finished fit, the run went on and ended with
    # status 0, and a rerun skipped the fit.
    from rsft_sklearn.benchmark import _methods

    real = _methods.make_method
    monkeypatch.setattr(
        _methods, "make_method", interrupting(real, "logit-adjusted loss")
    )
    argv = [
        "--rows", "2000", "--ratios", "10", "--repeats", "1", "--epochs", "2",
        "--methods", "RSFT|logit-adjusted loss|post-hoc logit adjustment",
        "--out", str(tmp_path),
    ]  # fmt: skip
    assert dev.main(argv) == 130
    assert "Interrupted" in capsys.readouterr().err
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").open()]
    assert [row["method"] for row in rows] == ["RSFT"]
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # A rerun fits what was not finished.
    monkeypatch.setattr(_methods, "make_method", real)
    assert dev.main(argv) == 0
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").open()]
    assert [row["method"] for row in rows] == [
        "RSFT",
        "logit-adjusted loss",
        "post-hoc logit adjustment",
    ]


def test_paired_differences(dev):
    def row(method, repeat, bal, f1, ratio=1000):
        return {
            "ratio": ratio,
            "method": method,
            "repeat": repeat,
            "balanced_accuracy": bal,
            "f1_macro": f1,
        }

    rows = [
        # The rival trails RSFT by 0.02 in every repeat, while both swing
        # by 0.2 between repeats: the paired interval is zero wide.
        row("RSFT", 0, 0.70, 0.60),
        row("RSFT", 1, 0.90, 0.80),
        row("RSFT", 2, 0.80, 0.70),
        row("LA", 0, 0.68, 0.61),
        row("LA", 1, 0.88, 0.81),
        row("LA", 2, 0.78, 0.71),
        # A repeat that RSFT did not finish is left out of the pairs.
        row("LA", 3, 0.10, 0.10),
        # One pair only: no interval.
        row("RSFT", 0, 0.5, 0.5, ratio=3000),
        row("LA", 0, 0.6, 0.4, ratio=3000),
    ]
    lines = dev.paired(rows)
    assert lines[0].startswith("| ratio | method | repeats | RSFT - method")
    assert "| 1000 | LA | 3 | +0.020 ± 0.000 | -0.010 ± 0.000 |" in lines
    assert "| 3000 | LA | 1 | -0.100 | +0.100 |" in lines
    # Nothing to compare with: no table.
    assert dev.paired([row("LA", 0, 0.5, 0.5)]) == []
    assert dev.paired(rows, reference="Bogus") == []


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--ratios", "1"], "imbalance ratios > 1"),
        (["--ratios", "x"], "imbalance ratios > 1"),
        (["--repeats", "0"], "positive integer"),
        (["--methods", "Bogus"], "--methods: unknown method(s) ['Bogus']"),
        (["--methods", "RSFT|rsft"], "--methods names a method twice"),
        (["--methods", "RSFT(max_epochs=0)"], "--methods: 'RSFT(max_epochs=0)'"),
        (["--max-grad-norm", "0"], "positive number"),
    ],
)
def test_bad_arguments(dev, argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as excinfo:
        dev.main([*argv, "--out", str(tmp_path / "never")])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    # The message names the option once.
    assert "--methods: --methods" not in err


def _fake_folder(dev, tmp_path, monkeypatch, *extra):
    """Two fake fits (RSFT and the LA loss) into ``tmp_path``; the argv,
    the data settings each fit ran on and the results file."""
    seen = _fake_fits(dev, monkeypatch)
    argv = [
        "--rows", "2000", "--ratios", "10", "--repeats", "1", "--epochs", "1",
        "--methods", "RSFT|logit-adjusted loss", "--out", str(tmp_path), *extra,
    ]  # fmt: skip
    assert dev.main(argv) == 0
    assert len(seen) == 2
    return argv, seen, tmp_path / "results.jsonl"


def test_a_torn_last_line_is_dropped_and_its_fit_runs_again(dev, tmp_path, monkeypatch):
    # Before: a JSONDecodeError traceback.
    argv, seen, results = _fake_folder(dev, tmp_path, monkeypatch)
    lines = results.read_text().splitlines(keepends=True)
    results.write_text(lines[0] + lines[1][:30])
    assert dev.main(argv) == 0
    assert len(seen) == 3
    again = results.read_text().splitlines(keepends=True)
    assert again[0] == lines[0]
    assert [json.loads(line)["method"] for line in again] == [
        "RSFT",
        "logit-adjusted loss",
    ]


@pytest.mark.parametrize(
    "line, named",
    [
        ("not json", "line 2: not a JSON row (Expecting value"),
        ('["a list"]', "line 2: not a JSON object"),
        ('{"ratio": 10, "method": "RSFT"}', "line 2: no repeat, recipe, epochs"),
        (
            '{"ratio": 10, "repeat": 0, "method": "RSFT", "recipe": "adam", '
            '"epochs": 1, "balanced_accuracy": "abc", "f1_macro": 0.5}',
            "line 2: balanced_accuracy is 'abc', not a number",
        ),
    ],
)
def test_an_unreadable_line_is_refused_naming_the_file_and_line(
    dev, line, named, tmp_path, monkeypatch, capsys
):
    # Before: a JSONDecodeError or KeyError traceback, or a TypeError in the
    # tables after every fit.
    argv, seen, results = _fake_folder(dev, tmp_path, monkeypatch)
    first = results.read_text().splitlines(keepends=True)[0]
    results.write_text(first + line + "\n")
    with pytest.raises(SystemExit) as excinfo:
        dev.main(argv)
    assert excinfo.value.code == 2
    assert f"--out: {results}, {named}" in capsys.readouterr().err
    assert len(seen) == 2
    assert results.read_text() == first + line + "\n"


def test_a_resume_with_other_threads_is_refused(dev, tmp_path, monkeypatch, capsys):
    # Before, fits of one thread count were reused under another: their
    # scores differ (by up to 0.004 balanced accuracy at 8 epochs).
    argv, seen, results = _fake_folder(dev, tmp_path, monkeypatch)
    rows = [json.loads(line) for line in results.open()]
    assert [row["threads"] for row in rows] == [1, 1]
    with pytest.raises(SystemExit) as excinfo:
        dev.main([*argv, "--threads", "2"])
    assert excinfo.value.code == 2
    assert (
        f"--out: {results} holds fits made with --threads 1 (a fit's scores "
        "depend on its threads); give --threads 1 to resume"
    ) in capsys.readouterr().err
    assert len(seen) == 2
    # Rows written before the threads were recorded take them from their
    # command.
    for row in rows:
        del row["threads"]
        row["command"] += " --threads 2"
    results.write_text("".join(json.dumps(row) + "\n" for row in rows))
    with pytest.raises(SystemExit):
        dev.main(argv)
    assert "holds fits made with --threads 2" in capsys.readouterr().err
    assert dev.main([*argv, "--threads", "2"]) == 0
    assert len(seen) == 2


@pytest.mark.parametrize("unwritable", ["a file", "folder", "results"])
def test_an_out_that_cannot_be_written_is_refused(
    dev, unwritable, tmp_path, monkeypatch, capsys
):
    # Before: a raw FileExistsError or PermissionError traceback.
    monkeypatch.setattr(dev, "run_one", pytest.fail)
    out = tmp_path / "out"
    argv = ["--rows", "2000", "--ratios", "10", "--repeats", "1", "--epochs", "1"]
    argv += ["--methods", "RSFT", "--out", str(out)]
    if unwritable == "a file":
        out.write_text("")
        with pytest.raises(SystemExit) as excinfo:
            dev.main(argv)
        message = f"--out: cannot create the folder {str(out)!r} (File exists)."
    else:
        out.mkdir()
        (out / "results.jsonl").write_text("")
        path = out if unwritable == "folder" else out / "results.jsonl"
        if unwritable == "folder":
            (out / "results.jsonl").unlink()
        with pytest.raises(SystemExit) as excinfo:
            with read_only(path):
                dev.main(argv)
        message = f"--out: cannot write the results in {str(out)!r} ("
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert str(out / "results.jsonl") in err or unwritable == "a file"


@pytest.mark.parametrize(
    "option, message",
    [
        # an OverflowError traceback
        (["--ratios", "inf"], "finite imbalance ratios > 1"),
        (["--ratios", "1e400"], "finite imbalance ratios > 1"),
        # every fit ran twice and counted as two repeats
        (["--ratios", "10,10.0"], "names a ratio twice: '10,10.0'"),
        # numpy's seed error once the folder was made
        (["--data-seed", "-1"], "--data-seed: must be an integer from 0 to 2**32 - 1"),
        # "need at least one array to stack"
        (["--rows", "1"], "--rows: must be at least 100"),
    ],
)
def test_option_values_are_refused_before_any_work(
    dev, option, message, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(dev, "run_one", pytest.fail)
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as excinfo:
        dev.main([*option, "--out", str(out)])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize(
    "rows, reached, ratio, largest, needed",
    [
        # The tail came out [8, 4, 2, 1, ...]: a ratio of 8 under "1000".
        (100, 2, 1000, 8, 12510),
        # The default rows reach 8,000 at most.
        (100_000, 1000, 10_000, 8000, 125_010),
    ],
)
def test_a_ratio_the_rows_cannot_reach_is_refused_naming_the_rows_that_do(
    dev, rows, reached, ratio, largest, needed, tmp_path, monkeypatch, capsys
):
    def never(*args):
        pytest.fail("the data were made: the ratio was not refused")

    monkeypatch.setattr(dev, "run_one", never)
    monkeypatch.setattr(dev, "make_data", never)
    out = tmp_path / "out"
    ratios = f"{reached},{ratio}"
    argv = ["--rows", str(rows), "--ratios", ratios, "--out", str(out)]
    with pytest.raises(SystemExit) as excinfo:
        dev.main(argv)
    assert excinfo.value.code == 2
    assert (
        f"--ratios {ratio} cannot be reached at --rows {rows}: the largest class "
        f"keeps {largest} training rows and the rarest its floor of one, so the "
        f"ratio would come out {largest}. Give --rows {needed} or more, or a "
        f"ratio of at most {largest}."
    ) in capsys.readouterr().err
    assert not out.exists()
    # The rows named reach it: the largest class keeps the ratio in rows (one
    # more, from rounding), the rarest one row.
    assert dev.unreached(ratio, needed) is None
    counts = dev.training_counts(needed, ratio)
    assert (counts.max(), counts.min()) == (ratio + 1, 1)
    assert dev.real_ratio(needed, ratio) == ratio + 1


def test_the_training_counts_are_those_of_the_data(dev):
    from rsft_sklearn.benchmark._netsuites import long_tail_splits

    # MNIST-1D makes rows // 10 rows of each class: the counts of the check
    # are those of the generated data.
    _, y = dev.make_data(2005, 2026)
    ((train, _),) = long_tail_splits(y, 1, 0, ratio=50)
    np.testing.assert_array_equal(np.bincount(y[train]), dev.training_counts(2005, 50))
    assert dev.training_counts(100_000, 3000).tolist() == [
        8000, 3287, 1350, 555, 228, 94, 38, 16, 6, 3,
    ]  # fmt: skip


def test_the_tables_show_the_real_ratio_where_it_differs(
    dev, tmp_path, monkeypatch, capsys
):
    # 3000 at 100,000 rows: the rarest class keeps 3 rows, the largest 8000;
    # the tables said 3000.
    _fake_fits(dev, monkeypatch)
    argv = [
        "--rows", "100000", "--ratios", "1000,3000", "--repeats", "1",
        "--methods", "RSFT|logit-adjusted loss", "--out", str(tmp_path),
    ]  # fmt: skip
    assert dev.main(argv) == 0
    out = capsys.readouterr().out
    assert "| 1000 | RSFT | 1 | 0.500 | 0.500 |" in out
    assert "| 3000 (real 2667) | RSFT | 1 | 0.500 | 0.500 |" in out
    assert "| 1000 | logit-adjusted loss | 1 | +0.000 | +0.000 |" in out
    assert "| 3000 (real 2667) | logit-adjusted loss | 1 | +0.000 | +0.000 |" in out
    assert dev.real_ratio(100_000, 3000) == pytest.approx(8000 / 3)
    assert dev.summarise([], {3000: 8000 / 3}) == dev.summarise([])


def test_a_binary_only_method_is_refused_before_any_fit(
    dev, tmp_path, monkeypatch, capsys
):
    # Before, RSFT trained, then threshold tuning stopped the run with
    # scikit-learn's "Only binary classification is supported".
    seen = _fake_fits(dev, monkeypatch)
    argv = [
        "--rows", "300", "--ratios", "5", "--repeats", "1",
        "--methods", "RSFT|threshold tuning", "--out", str(tmp_path / "out"),
    ]  # fmt: skip
    with pytest.raises(SystemExit) as excinfo:
        dev.main(argv)
    assert excinfo.value.code == 2
    assert (
        "--methods: ['threshold tuning'] run on binary data only, and MNIST-1D "
        "has 10 classes." in capsys.readouterr().err
    )
    assert seen == []
    assert not (tmp_path / "out").exists()
