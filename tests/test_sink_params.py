"""The callbacks' parameters given to the estimators (``callbacks__*``,
``AccelerateRSFTClassifier``'s ``callbacks__print_log__sink="auto"``) as
get_params and set_params see them."""

import contextlib
import io

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from rsft_sklearn import AccelerateRSFTClassifier, RSFTClassifier


@pytest.fixture
def accelerator():
    accelerate = pytest.importorskip("accelerate")
    return accelerate.Accelerator(cpu=True)


def _data():
    X = np.random.RandomState(0).randn(100, 3).astype(np.float32)
    return X, np.arange(100) % 2


def _estimator(kind, accelerator, **params):
    if kind == "accelerate":
        return AccelerateRSFTClassifier(accelerator=accelerator, **params)
    return RSFTClassifier(**params)


class _Lines:
    """A sink that keeps what PrintLog writes."""

    def __init__(self):
        self.lines = []

    def __call__(self, text, *args, **kwargs):
        self.lines.append(text)


@pytest.mark.parametrize("kind", ["plain", "accelerate"])
def test_deep_params_keep_the_callbacks_parameters_as_given(kind, request):
    # skorch put the default callbacks' own values over them: the sink came
    # back as print and keys_ignored as None, so that a pipeline's
    # set_params(**get_params()) replaced them, and the sink got nothing.
    accelerator = request.getfixturevalue("accelerator") if kind != "plain" else None
    sink = _Lines()
    params = {
        "callbacks__print_log__sink": sink,
        "callbacks__print_log__keys_ignored": ["dur"],
        "max_epochs": 2,
        "verbose": 1,
        "random_state": 0,
    }
    clf = _estimator(kind, accelerator, **params)
    for fitted in (False, True):
        if fitted:
            clf.fit(*_data())
        shallow, deep = clf.get_params(deep=False), clf.get_params(deep=True)
        assert {k: deep[k] for k in shallow} == shallow
        assert deep["callbacks__print_log__sink"] is sink
        assert deep["callbacks__print_log__keys_ignored"] == ["dur"]

    pipe = make_pipeline(_estimator(kind, accelerator, **params))
    pipe.set_params(**pipe.get_params(deep=True))
    assert pipe[-1].get_params(deep=False)["callbacks__print_log__sink"] is sink
    sink.lines.clear()
    pipe.fit(*_data())
    # The table's header, its rule and one row per epoch, without the
    # ignored column.
    assert len(sink.lines) == 4
    assert all("dur" not in line for line in sink.lines)


def test_deep_params_of_the_accelerated_estimator_keep_sink_auto(accelerator):
    # The shallow "auto" came back as print in the deep parameters, so that
    # scikit-learn's check_get_params_invariance and
    # check_parameters_default_constructible failed for the class.
    clf = AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=1)
    assert clf.get_params(deep=True)["callbacks__print_log__sink"] == "auto"
    clf.fit(*_data())
    assert clf.get_params(deep=True)["callbacks__print_log__sink"] == "auto"
    round_trip = clone(clf).set_params(**clf.get_params(deep=True))
    assert round_trip.get_params(deep=False)["callbacks__print_log__sink"] == "auto"


def test_sink_auto_set_after_a_fit_is_resolved(accelerator):
    # set_params wrote the string "auto" into the fitted PrintLog: the next
    # partial_fit trained an epoch (kept) and then failed with "'str' object
    # is not callable".
    sink = _Lines()
    X, y = _data()
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator,
        max_epochs=1,
        verbose=1,
        callbacks__print_log__sink=sink,
        random_state=0,
    ).fit(X, y)
    assert len(sink.lines) == 3
    clf.set_params(callbacks__print_log__sink="auto")
    assert clf.callbacks__print_log__sink == "auto"
    assert dict(clf.callbacks_)["print_log"].sink == accelerator.print
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        clf.partial_fit(X, y)
    assert len(clf.history) == 2
    # (The table anew, PrintLog having been set up again.)
    rows = shown.getvalue().strip().splitlines()
    assert len(rows) == 3 and rows[-1].split()[0] == "2"
    assert len(sink.lines) == 3


def test_verbose_set_after_a_fit_reaches_the_auto_sink(accelerator):
    # "auto" resolved at verbose=1 to the accelerator's print, which PrintLog
    # calls whatever verbose: verbose=0 after the fit still printed the
    # epochs of partial_fit.
    X, y = _data()
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator, max_epochs=1, verbose=1, random_state=0
    )
    with contextlib.redirect_stdout(io.StringIO()):
        clf.fit(X, y)
    clf.set_params(verbose=0)
    assert dict(clf.callbacks_)["print_log"].sink is print
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        clf.partial_fit(X, y)
    assert shown.getvalue() == ""
    assert len(clf.history) == 2


def test_an_array_sink_is_set_without_error_and_refused_by_fit(accelerator):
    # set_params compared the array with "auto" ("The truth value of an
    # array with more than one element is ambiguous"); fit names the sink.
    X, y = _data()
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator,
        max_epochs=1,
        callbacks__print_log__sink=np.array([1.0, 4.0]),
    )
    with pytest.raises(InvalidParameterError, match="callbacks__print_log__sink"):
        clone(clf).fit(X, y)
    clf.set_params(callbacks__print_log__sink=np.array([2.0, 3.0]))
    clf.set_params(callbacks__print_log__sink="auto")
    assert clf.callbacks__print_log__sink == "auto"
    clf.fit(X, y)
    assert len(clf.history) == 1
    clf.set_params(callbacks__print_log__sink=np.array([1.0, 4.0]))
    with pytest.raises(InvalidParameterError, match="callbacks__print_log__sink"):
        clf.partial_fit(X, y)
    assert len(clf.history) == 1


def test_a_print_log_put_in_place_takes_the_auto_sink(accelerator):
    # The new PrintLog printed with plain print until the next fit (and,
    # never initialised, failed in partial_fit): "auto" was resolved only
    # when the sink or verbose was set.
    from skorch.callbacks import PrintLog

    X, y = _data()
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator, max_epochs=1, verbose=1, random_state=0
    )
    with contextlib.redirect_stdout(io.StringIO()):
        clf.fit(X, y)
    clf.set_params(callbacks__print_log=PrintLog(keys_ignored=["dur"]))
    assert dict(clf.callbacks_)["print_log"].sink == accelerator.print
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        clf.partial_fit(X, y)
    rows = shown.getvalue().strip().splitlines()
    assert len(rows) == 3 and rows[-1].split()[0] == "2"
    assert "dur" not in rows[0]


def test_the_accelerated_estimator_can_disable_print_log(accelerator):
    # Its parameter callbacks__print_log__sink="auto" made skorch refuse
    # the fit ("Trying to set a parameter for callback print_log which does
    # not exist"), and so the round trip of set_params(**get_params()).
    from skorch.callbacks import PrintLog

    X, y = _data()
    params = {"accelerator": accelerator, "max_epochs": 1, "random_state": 0}
    expected = AccelerateRSFTClassifier(**params, verbose=0).fit(X, y).predict_proba(X)
    clf = AccelerateRSFTClassifier(**params, verbose=1, callbacks__print_log=None)
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        clf.fit(X, y)
        clf.set_params(**clf.get_params(deep=True))
        clf.set_params(callbacks__print_log__sink="auto")
        clf.partial_fit(X, y)
    # (The round trip says that it re-initialises the network.)
    assert "train_loss" not in shown.getvalue()
    assert "print_log" not in dict(clf.callbacks_)
    assert clf.get_params(deep=True)["callbacks__print_log__sink"] == "auto"
    assert len(clf.history) == 2
    twin = clone(clf)
    shown = io.StringIO()
    with contextlib.redirect_stdout(shown):
        twin.fit(X, y)
    assert shown.getvalue() == ""
    assert twin.predict_proba(X).tobytes() == expected.tobytes()

    # Enabled again: printed with the accelerator's print.
    clf.set_params(callbacks__print_log=PrintLog())
    assert dict(clf.callbacks_)["print_log"].sink == accelerator.print
    with contextlib.redirect_stdout(shown):
        clf.partial_fit(X, y)
    rows = shown.getvalue().strip().splitlines()
    assert len(rows) == 3 and rows[-1].split()[0] == "3"
