"""``benchmarks/decision_gap.py``: RSFT's three probability settings against
random under-sampling, on rsft-bench's folds."""

import signal

import numpy as np
import pandas as pd
import pytest
from _interrupts import interrupting
from _scripts import load_script
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import RepeatedStratifiedKFold


@pytest.fixture(scope="module")
def gap():
    return load_script("decision_gap")


METHODS = [
    "RandomUnderSampler",
    "RSFT probability=raw",
    "RSFT probability=training",
    "RSFT probability=balanced",
]


def test_scores_every_fold_and_setting(gap, tmp_path, capsys):
    csv = tmp_path / "folds.csv"
    argv = [
        "--epochs", "2", "--folds", "2", "--n-jobs", "1",
        "--datasets", "glass0", "--csv", str(csv),
    ]  # fmt: skip
    gap.main(argv)
    frame = pd.read_csv(csv)
    assert list(frame.columns) == [
        "dataset",
        "fold",
        "method",
        "g_mean",
        "balanced_accuracy",
        "roc_auc",
    ]
    # One row per fold and method: the baseline and RSFT scored three times.
    assert len(frame) == 8
    assert sorted(zip(frame["fold"], frame["method"])) == sorted(
        (fold, method) for fold in (0, 1) for method in METHODS
    )
    assert set(frame["dataset"]) == {"glass0"}
    metrics = frame[["g_mean", "balanced_accuracy", "roc_auc"]].to_numpy()
    assert ((metrics >= 0) & (metrics <= 1)).all()
    # The probability setting only changes the decision: one fitted model,
    # the same ranking of the minority class, the same ROC-AUC.
    rsft = frame[frame["method"].str.startswith("RSFT")]
    assert (rsft.groupby("fold")["roc_auc"].nunique() == 1).all()

    # The folds are rsft-bench's: the baseline refitted on fold 0 scores
    # what the CSV says.
    from rsft_sklearn.benchmark._methods import make_method
    from rsft_sklearn.benchmark._suites import load_suite

    data = load_suite("keel", datasets=["glass0"])[0]
    cv = RepeatedStratifiedKFold(n_splits=2, n_repeats=1, random_state=0)
    train, test = next(cv.split(data.X, data.y))
    baseline = make_method(
        "RandomUnderSampler", max_epochs=2, batch_size=128, seed=0
    ).fit(data.X[train], data.y[train])
    expected = balanced_accuracy_score(data.y[test], baseline.predict(data.X[test]))
    row = frame[(frame["fold"] == 0) & (frame["method"] == "RandomUnderSampler")]
    assert row["balanced_accuracy"].item() == pytest.approx(expected)

    out = capsys.readouterr().out
    assert out.startswith(
        "Mean over 1 data sets (2-fold CV, 2 epochs, batch 128, seed 0):"
    )
    for metric in ("g_mean", "balanced_accuracy", "roc_auc"):
        assert f"\n{metric} per data set:\n" in out
    # The summary lists the methods in order, each with its fold mean.
    means = frame.groupby("method")["balanced_accuracy"].mean()
    lines = out.splitlines()
    summary = [line for line in lines if line.startswith("| R")][:4]
    assert [line.split("|")[1].strip() for line in summary] == METHODS
    for line, method in zip(summary, METHODS):
        assert float(line.split("|")[3]) == pytest.approx(means[method], abs=5e-4)
    assert sum(line.startswith("| glass0 ") for line in lines) == 3


def test_score_aligns_probability_columns_with_the_labels(gap):
    # An estimator whose classes_ run in another order than the labels'
    # sorted order: its columns are put back in label order.
    class Reversed:
        classes_ = np.array([1, 0])

        def predict_proba(self, X):
            return np.column_stack([X[:, 0], 1 - X[:, 0]])

        def predict(self, X):
            return (X[:, 0] > 0.5).astype(int)

    X = np.array([[0.9], [0.8], [0.2], [0.1], [0.7], [0.3]])
    y = np.array([1, 1, 0, 0, 0, 1])
    dataset = type("Data", (), {"X": X, "y": y, "minority_label": 1})()
    scores = gap._score(Reversed(), dataset, np.arange(6))
    assert set(scores) == {"g_mean", "balanced_accuracy", "roc_auc"}
    # Column 0 is P(class 1): ranks 8 of the 9 pairs right (1 of 9
    # if the columns were taken as they come).
    assert scores["roc_auc"] == pytest.approx(8 / 9)
    assert scores["balanced_accuracy"] == pytest.approx(2 / 3)


def test_ctrl_c_in_a_fit_stops_the_script_unscored(gap, tmp_path, monkeypatch, capsys):
    # skorch ends a fit quietly on Ctrl-C. Before, the partly trained RSFT
    # was scored as if finished and the tables printed.
    monkeypatch.setattr(gap, "make_method", interrupting(gap.make_method, "RSFT"))
    csv = tmp_path / "folds.csv"
    argv = [
        "--epochs", "2", "--folds", "2", "--n-jobs", "1",
        "--datasets", "glass0", "--csv", str(csv),
    ]  # fmt: skip
    assert gap.main(argv) == 130
    printed = capsys.readouterr()
    assert "Interrupted; nothing was scored or written." in printed.err
    assert printed.out == ""
    assert not csv.exists()
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    "option, message",
    [
        # untrained networks scored, exit 0
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--folds", "1"], "--folds: must be at least 2"),
        (["--seed", "-1"], "--seed: must be an integer from 0 to 2**32 - 1"),
        (["--n-jobs", "0"], "--n-jobs: must be -1 or a positive integer"),
        (["--datasets", "nope"], "--datasets: Unknown data set(s) ['nope']"),
        # found only after every fit, and the tables lost with it
        (["--csv", "."], "--csv: cannot write the file '.'"),
    ],
)
def test_options_are_refused_before_any_fit(gap, option, message, monkeypatch, capsys):
    monkeypatch.setattr(gap, "run_fold", pytest.fail)
    with pytest.raises(SystemExit) as excinfo:
        gap.main(["--datasets", "glass0", *option])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_the_tables_are_printed_before_the_csv_is_written(
    gap, tmp_path, monkeypatch, capsys
):
    # The CSV was written first: a failing write lost the tables of the run.
    def full_disk(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    argv = ["--epochs", "1", "--folds", "2", "--n-jobs", "1", "--datasets", "glass0"]
    with pytest.raises(OSError, match="No space left"):
        gap.main([*argv, "--csv", str(tmp_path / "folds.csv")])
    assert "Mean over 1 data sets (2-fold CV" in capsys.readouterr().out
