"""A default callback disabled with ``callbacks__<name>=None`` (skorch's way).

skorch replaces a callback given as ``callbacks__<name>=value`` in the list
of built callbacks, which lacks a disabled one: setting it to None again, or
back to a callback, failed with "not enough values to unpack", and so did
``set_params(**get_params())``, a pipeline's round trip and
``clone(...).set_params(...)``.
"""

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import PrintLog

from rsft_sklearn import RSFTClassifier


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    y = np.arange(96) % 3
    X = (rng.randn(96, 4) + y[:, None]).astype(np.float32)
    return X, y


def _estimator(**params):
    # verbose=1: PrintLog prints its table (at 0 it prints nothing anyway).
    return RSFTClassifier(
        max_epochs=2, batch_size=32, random_state=0, verbose=1, **params
    )


def _table_rows(lines):
    """The epoch rows of PrintLog tables (printed lines, or a sink's
    entries): lines that start with an epoch."""
    lines = "\n".join(lines).splitlines()
    return [line for line in lines if line.split() and line.split()[0].isdigit()]


def test_round_trips_keep_the_callback_disabled(data, capsys):
    X, y = data
    reference = _estimator(callbacks__print_log=None).fit(X, y)
    assert capsys.readouterr().out == ""
    proba = reference.predict_proba(X)

    est = _estimator(callbacks__print_log=None)
    params = est.get_params(deep=True)
    assert params["callbacks__print_log"] is None
    # Those of the default PrintLog, which set_params refused, are left out.
    assert not [key for key in params if key.startswith("callbacks__print_log__")]
    est.set_params(**params)
    est.set_params(callbacks__print_log=None)
    twin = clone(est).set_params(callbacks__print_log=None)
    pipe = make_pipeline(StandardScaler(with_mean=False, with_std=False), est)
    pipe.set_params(**pipe.get_params(deep=True))
    pipe.set_params(rsftclassifier__callbacks__print_log=None)

    for fitted in (pipe.fit(X, y)[-1], twin.fit(X, y)):
        assert capsys.readouterr().out == ""
        assert "print_log" not in dict(fitted.callbacks_)
        assert len(fitted.history) == 2
        assert fitted.predict_proba(X).tobytes() == proba.tobytes()

    # Enabled on an estimator built without it.
    lines = []
    twin.set_params(callbacks__print_log=PrintLog(sink=lines.append)).fit(X, y)
    assert [int(row.split()[0]) for row in _table_rows(lines)] == [1, 2]
    assert twin.predict_proba(X).tobytes() == proba.tobytes()


def test_disabled_and_enabled_again_on_a_fitted_estimator(data, capsys):
    X, y = data
    est = _estimator().fit(X, y)
    assert len(_table_rows(capsys.readouterr().out.splitlines())) == 2

    # None took PrintLog's place among the built callbacks, and partial_fit
    # failed with "'NoneType' object has no attribute 'on_train_begin'".
    est.set_params(callbacks__print_log=None)
    assert "print_log" not in dict(est.callbacks_)
    est.partial_fit(X, y)
    # Set to None again: disabled still.
    est.set_params(callbacks__print_log=None)
    est.partial_fit(X, y)
    assert capsys.readouterr().out == ""
    # partial_fit trains max_epochs=2 epochs per call.
    assert len(est.history) == 6

    lines = []
    est.set_params(callbacks__print_log=PrintLog(sink=lines.append))
    assert isinstance(dict(est.callbacks_)["print_log"], PrintLog)
    # Its place is the last, as when the estimator was built.
    assert est.callbacks_[-1][0] == "print_log"
    est.partial_fit(X, y)
    rows = _table_rows(lines)
    assert [int(row.split()[0]) for row in rows] == [7, 8]
    assert capsys.readouterr().out == ""

    est.set_params(callbacks__print_log=None)
    est.fit(X, y)
    # A refit says that it re-initialises (verbose), and prints no table.
    assert not _table_rows(capsys.readouterr().out.splitlines())
    assert [int(row.split()[0]) for row in _table_rows(lines)] == [7, 8]
    assert len(est.history) == 2


def test_an_unknown_callback_name_is_refused_by_name():
    est = _estimator()
    with pytest.raises(ValueError, match="callbacks__nope, but the estimator has no"):
        est.set_params(callbacks__nope=None)
    assert "callbacks__nope" not in vars(est)


def test_round_trips_of_callbacks_disable(data, capsys):
    # skorch read the names of the built callbacks, none under "disable",
    # and set_params(**get_params()) failed with "not enough values to
    # unpack", before a fit and after.
    X, y = data
    proba = _estimator(callbacks="disable").fit(X, y).predict_proba(X)
    est = _estimator(callbacks="disable")
    est.set_params(**est.get_params(deep=True))
    est.fit(X, y)
    est.set_params(**est.get_params(deep=True))
    est.partial_fit(X, y)
    assert est.callbacks_ == []
    assert not _table_rows(capsys.readouterr().out.splitlines())
    twin = clone(est)
    twin.set_params(**twin.get_params(deep=True))
    assert twin.fit(X, y).predict_proba(X).tobytes() == proba.tobytes()
    # Enabled again, the callbacks are built from the parameters.
    est.set_params(callbacks=None).fit(X, y)
    assert "print_log" in dict(est.callbacks_)
    assert len(_table_rows(capsys.readouterr().out.splitlines())) == 2
    assert est.predict_proba(X).tobytes() == proba.tobytes()
