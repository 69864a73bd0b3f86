"""The arguments of AccelerateRSFTClassifier's own signature, checked before
training (on one CPU process)."""

import io
import re
from contextlib import redirect_stdout

import numpy as np
import pytest
from sklearn.datasets import make_classification

from rsft_sklearn import AccelerateRSFTClassifier, RSFTClassifier

accelerate = pytest.importorskip("accelerate")

PARAMS = dict(
    max_epochs=2, random_state=0, batch_size=32, module__hidden_layer_sizes=(8,)
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=200,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def accelerator():
    return accelerate.Accelerator(cpu=True)


@pytest.fixture(scope="module")
def reference(data):
    return RSFTClassifier(**PARAMS).fit(*data).predict_proba(data[0])


@pytest.mark.parametrize("verbose", [0, 1])
@pytest.mark.parametrize("sink", [None, "x", 3])
def test_a_sink_that_is_neither_auto_nor_callable_is_refused_before_training(
    data, accelerator, sink, verbose
):
    # skorch called it with the first epoch's row: "'NoneType' object is not
    # callable", after the epoch had trained.
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator,
        verbose=verbose,
        callbacks__print_log__sink=sink,
        **PARAMS,
    )
    with pytest.raises((TypeError, ValueError)) as caught:
        clf.fit(*data)
    assert str(caught.value) == (
        "The 'callbacks__print_log__sink' parameter of AccelerateRSFTClassifier "
        f"must be a str among {{'auto'}} or a callable. Got {sink!r} instead."
    )
    assert not clf.initialized_ and not clf.history


def test_auto_and_callable_sinks_train(data, accelerator, reference):
    rows = []
    shown = io.StringIO()
    with redirect_stdout(shown):
        for sink in ("auto", print, rows.append):
            clf = AccelerateRSFTClassifier(
                accelerator=accelerator,
                verbose=1,
                callbacks__print_log__sink=sink,
                **PARAMS,
            ).fit(*data)
            np.testing.assert_array_equal(clf.predict_proba(data[0]), reference)
    # The table's header, its rule and two rows, for "auto" and print each;
    # the callable got them too.
    assert len(rows) == 4 and shown.getvalue().count("\n") == 2 * 4
    assert rows[0].split()[0] == "epoch" and rows[-1].split()[0] == "2"


@pytest.mark.parametrize("value", ["False", "True", 0, 1, None, float("nan")])
def test_unwrap_after_train_other_than_a_bool_is_refused(data, accelerator, value):
    # Read by truth value: "False" and NaN unwrapped.
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator, unwrap_after_train=value, **PARAMS
    )
    with pytest.raises((TypeError, ValueError)) as caught:
        clf.fit(*data)
    # (numpy 1 names the type numpy.bool_.)
    assert re.fullmatch(
        "The 'unwrap_after_train' parameter of AccelerateRSFTClassifier must be "
        r"an instance of 'bool' or an instance of 'numpy\.bool_?'\. Got "
        + re.escape(repr(value))
        + r" instead\.",
        str(caught.value),
    )
    assert not clf.initialized_


@pytest.mark.parametrize("value", [True, False, np.True_, np.False_])
def test_unwrap_after_train_takes_bools(data, accelerator, reference, value):
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator, unwrap_after_train=value, **PARAMS
    ).fit(*data)
    np.testing.assert_array_equal(clf.predict_proba(data[0]), reference)
    assert clf.get_params()["unwrap_after_train"] is value
