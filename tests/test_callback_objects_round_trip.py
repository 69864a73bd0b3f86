"""A default callback given whole (``callbacks__print_log=PrintLog(...)``,
``callbacks__valid_acc=EpochScoring(...)``) through get_params and
set_params.

skorch's deep parameters held the sub-parameters of a fresh default
callback (``sink=print``, ``scoring=accuracy``) beside the user's own
callback, and ``set_params(**get_params())`` wrote them into it.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import EpochScoring, PrintLog
from skorch.dataset import ValidSplit

from rsft_sklearn import RSFTClassifier


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    y = (np.arange(120) % 6 == 0).astype(int)
    X = (rng.randn(120, 3) + y[:, None]).astype(np.float32)
    return X, y


# What the sink got. (A function: clone copies the callback and its
# parameters, but a function is itself in the copy.)
_PRINTED = []


def _sink(text, *args, **kwargs):
    _PRINTED.append(text)


def _estimator(**params):
    return RSFTClassifier(
        **{"max_epochs": 2, "batch_size": 32, "random_state": 0, **params}
    )


def _round_trips(est):
    """The estimator after each round trip of its deep parameters: its own,
    a clone's, a pipeline's."""
    yield est.set_params(**est.get_params(deep=True))
    twin = clone(est)
    yield twin.set_params(**twin.get_params(deep=True))
    pipe = make_pipeline(StandardScaler(with_mean=False, with_std=False), clone(est))
    pipe.set_params(**pipe.get_params(deep=True))
    yield pipe


def test_a_print_log_given_whole_keeps_its_settings(data):
    X, y = data
    mine = PrintLog(sink=_sink, keys_ignored=["dur"])
    est = _estimator(callbacks__print_log=mine)
    _PRINTED.clear()
    proba = est.fit(X, y).predict_proba(X)
    # The table's header, its rule and a row per epoch, without "dur".
    assert len(_PRINTED) == 4 and all("dur" not in line for line in _PRINTED)

    for fitted in (False, True):
        est = _estimator(callbacks__print_log=mine)
        if fitted:
            est.fit(X, y)
        deep = est.get_params(deep=True)
        assert deep["callbacks__print_log"] is mine
        assert deep["callbacks__print_log__sink"] is _sink
        assert deep["callbacks__print_log__keys_ignored"] == ["dur"]
        for trip in _round_trips(est):
            _PRINTED.clear()
            trip.fit(X, y)
            # The user's callback unchanged, and still the one printing.
            assert mine.sink is _sink and mine.keys_ignored == ["dur"]
            assert len(_PRINTED) == 4
            assert all("dur" not in line for line in _PRINTED)
            assert trip.predict_proba(X).tobytes() == proba.tobytes()


def _constant_score(net, X, y):
    return 0.123


def test_an_epoch_scoring_given_whole_keeps_its_scoring(data):
    # valid_acc read 0.3667 (accuracy) after the round trip, and the user's
    # EpochScoring had its scoring replaced.
    X, y = data
    mine = EpochScoring(_constant_score, name="valid_acc", lower_is_better=False)
    est = _estimator(train_split=ValidSplit(4), callbacks__valid_acc=mine)
    est.fit(X, y)
    assert est.history[-1, "valid_acc"] == 0.123
    proba = est.predict_proba(X)

    deep = est.get_params(deep=True)
    assert deep["callbacks__valid_acc__scoring"] is _constant_score
    for trip in _round_trips(est):
        fitted = trip.fit(X, y)
        fitted = fitted[-1] if hasattr(fitted, "steps") else fitted
        assert [row["valid_acc"] for row in fitted.history] == [0.123, 0.123]
        assert mine.scoring is _constant_score
        assert trip.predict_proba(X).tobytes() == proba.tobytes()


def test_a_callback_class_given_whole_takes_the_explicit_parameters(data):
    # A class is built from the callbacks__<name>__* parameters given: the
    # default callback's (the sink print) are not among the deep ones.
    X, y = data
    est = _estimator(callbacks__print_log=PrintLog, callbacks__print_log__sink=_sink)
    deep = est.get_params(deep=True)
    assert [key for key in deep if key.startswith("callbacks__print_log__")] == [
        "callbacks__print_log__sink"
    ]
    for trip in _round_trips(est):
        _PRINTED.clear()
        trip.fit(X, y)
        assert len(_PRINTED) == 4 and "dur" in _PRINTED[0]


def test_the_default_callbacks_deep_parameters_are_unchanged():
    # Not given: a fresh default callback's, as skorch reports them.
    deep = _estimator().get_params(deep=True)
    assert deep["callbacks__print_log__sink"] is print
    assert deep["callbacks__print_log__keys_ignored"] is None
    assert deep["callbacks__valid_acc__name"] == "valid_acc"
    assert deep["callbacks__train_loss__on_train"] is True


def test_a_callback_put_in_place_of_another_is_built_as_fit_builds_it(data):
    # skorch put the new PrintLog in place as it was: not initialised (the
    # next partial_fit failed with "'PrintLog' object has no attribute
    # 'keys_ignored_'") and without the callbacks__print_log__* given.
    X, y = data
    _PRINTED.clear()
    est = _estimator(callbacks__print_log__sink=_sink).fit(X, y)
    assert len(_PRINTED) == 4
    est.set_params(callbacks__print_log=PrintLog(keys_ignored=["dur"]))
    assert dict(est.callbacks_)["print_log"].sink is _sink
    _PRINTED.clear()
    est.partial_fit(X, y)
    assert len(est.history) == 4
    rows = [line for line in _PRINTED if line.split()[0].isdigit()]
    assert [int(row.split()[0]) for row in rows] == [3, 4]
    assert all("dur" not in line for line in _PRINTED)


def test_a_callback_put_in_place_takes_the_parameters_of_the_same_call(data):
    # skorch stores a call's callbacks__<name>__* parameters after building
    # the callbacks: a callback put in place with them in one call was built
    # without them, and logged "accuracy" instead of "my_acc".
    X, y = data
    split = dict(train_split=ValidSplit(3, stratified=True), verbose=0)
    est = _estimator(**split).fit(X, y)
    est.set_params(
        callbacks__valid_acc=EpochScoring("accuracy"),
        callbacks__valid_acc__name="my_acc",
        callbacks__valid_acc__lower_is_better=False,
    )
    est.partial_fit(X, y)
    assert {"my_acc", "my_acc_best"} <= set(est.history[-1])
    assert "accuracy" not in est.history[-1]
    # The same parameters given to the constructor log the same keys.
    built = _estimator(
        callbacks__valid_acc=EpochScoring("accuracy"),
        callbacks__valid_acc__name="my_acc",
        **split,
    ).fit(X, y)
    assert {"my_acc", "my_acc_best"} <= set(built.history[-1])

    est.set_params(
        callbacks__print_log=PrintLog(sink=_sink),
        callbacks__print_log__keys_ignored=["dur", "train_loss"],
    )
    assert {"dur", "train_loss"} <= dict(est.callbacks_)["print_log"].keys_ignored_


@pytest.mark.parametrize("value", ["disable", 3])
def test_a_value_that_is_no_callback_is_refused_by_name(data, value):
    X, y = data
    est = _estimator(verbose=0).fit(X, y)
    before = dict(est.callbacks_)["print_log"]
    with pytest.raises(TypeError, match=r"callbacks__print_log is a callback .* got"):
        est.set_params(callbacks__print_log=value)
    assert dict(est.callbacks_)["print_log"] is before
    assert "callbacks__print_log" not in vars(est)


def test_a_misspelt_callback_is_refused_while_callbacks_are_disabled():
    est = _estimator(callbacks="disable")
    with pytest.raises(ValueError, match="no callback of that name.*print_log"):
        est.set_params(callbacks__print_lg=None)
    # A default callback's name is taken.
    est.set_params(callbacks__print_log=None)
    assert vars(est)["callbacks__print_log"] is None
