"""``benchmarks/pool_quality.py``: every rejection mode scored on the same
folds, one row per data set and mode, then the means."""

import signal

import numpy as np
import pytest
from _interrupts import CtrlC
from _scripts import load_script

MODES = ["per batch", "pool", "pool, more epochs", "epoch"]


@pytest.fixture(scope="module")
def pool():
    return load_script("pool_quality")


def _rows(text):
    """``(data set, mode, auc, bacc, seconds)`` of the table's body."""
    rows = []
    for line in text.splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        rows.append((cells[0], cells[1], *map(float, cells[2:])))
    return rows


def test_table_of_modes_and_means(pool, monkeypatch, capsys):
    # Record what every fit is built with.
    built = []
    real = pool.make_pipeline

    def spy(scaler, clf):
        built.append((clf.max_epochs, clf.rejection, clf.batch_size))
        return real(scaler, clf)

    monkeypatch.setattr(pool, "make_pipeline", spy)
    argv = ["--datasets", "glass0,ecoli1", "--epochs", "2", "--folds", "2",
            "--batch-size", "64"]  # fmt: skip
    assert pool.main(argv) == 0
    text = capsys.readouterr().out
    assert text.splitlines()[:2] == [
        "| data set | mode | ROC-AUC | balanced accuracy | fit CPU s |",
        "|---|---|---|---|---|",
    ]
    rows = _rows(text)
    assert [row[:2] for row in rows] == [
        (name, mode) for name in ("glass0", "ecoli1", "mean") for mode in MODES
    ]
    for _, _, auc, bacc, seconds in rows:
        assert 0 <= auc <= 1 and 0 <= bacc <= 1 and seconds >= 0
    # Each mean row averages the two data sets' rows of its mode.
    for i, mode in enumerate(MODES):
        glass, ecoli, mean = rows[i], rows[4 + i], rows[8 + i]
        assert mean[1] == mode
        for column in (2, 3):
            assert mean[column] == pytest.approx(
                (glass[column] + ecoli[column]) / 2, abs=1.5e-3
            )
    # Two folds per data set and mode; the pool mode also with four times
    # the epochs; the per-batch mode is the estimator's default rejection.
    from rsft_sklearn import RSFTClassifier

    default = RSFTClassifier().rejection
    per_set = [(2, default, 64)] * 2 + [(2, "pool", 64)] * 2
    per_set += [(8, "pool", 64)] * 2 + [(2, "epoch", 64)] * 2
    assert built == per_set * 2


def test_evaluate_scores_binary_and_multiclass_sets(pool):
    # A three-class set takes the one-against-rest ROC-AUC.
    from rsft_sklearn.benchmark._suites import Dataset

    rng = np.random.default_rng(0)
    y = np.repeat([0, 1, 2], [60, 30, 20])
    X = rng.normal(size=(len(y), 3)) + 3 * np.eye(3)[y]
    args = type("Args", (), {"epochs": 3, "folds": 2, "seed": 0, "batch_size": 32})
    auc, bacc, seconds = pool.evaluate(Dataset("toy", X, y), {}, args)
    assert 0.8 < auc <= 1 and 0.5 < bacc <= 1 and seconds > 0
    # epochs_factor multiplies the epochs and is not passed on.
    auc4, _, seconds4 = pool.evaluate(
        Dataset("toy", X, y), {"rejection": "pool", "epochs_factor": 4}, args
    )
    assert 0 <= auc4 <= 1 and seconds4 > 0


def test_ctrl_c_in_a_fit_stops_the_script_unscored(pool, monkeypatch, capsys):
    # skorch ends a fit quietly on Ctrl-C. Before, the partly trained
    # network was scored as if finished and the table ended with status 0.
    real = pool.make_pipeline

    def pressing_ctrl_c_in_pool(scaler, clf):
        if clf.rejection == "pool":
            clf.set_params(callbacks=[("ctrl_c", CtrlC())])
        return real(scaler, clf)

    monkeypatch.setattr(pool, "make_pipeline", pressing_ctrl_c_in_pool)
    argv = ["--datasets", "glass0", "--epochs", "2", "--folds", "2"]
    assert pool.main(argv) == 130
    printed = capsys.readouterr()
    assert "Interrupted" in printed.err
    # The per-batch row was finished; the pool row was cut short, and
    # neither it nor the means are printed.
    assert [row[:2] for row in _rows(printed.out)] == [("glass0", "per batch")]
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    "option, message",
    [
        # untrained networks scored, exit 0
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--batch-size", "0"], "--batch-size: must be a positive integer"),
        (["--folds", "1"], "--folds: must be at least 2"),
        (["--threads", "0"], "--threads: must be a positive integer"),
        (["--seed", "-1"], "--seed: must be an integer from 0 to 2**32 - 1"),
        (["--datasets", "nope"], "--datasets: Unknown data set(s) ['nope']"),
    ],
)
def test_options_are_refused_before_any_fit(pool, option, message, monkeypatch, capsys):
    monkeypatch.setattr(pool, "evaluate", pytest.fail)
    with pytest.raises(SystemExit) as excinfo:
        pool.main(["--datasets", "ecoli1", *option])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
