"""The ``epochs`` argument of ``fit`` and ``partial_fit``: integers >= 1."""

import numpy as np
import pytest

from rsft_sklearn import RSFTClassifier


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3).astype(np.float32)
    return X, np.repeat([0, 1], 30)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
@pytest.mark.parametrize(
    ("epochs", "shown"), [(2.0, "2.0, a float"), (np.float64(3.0), "a float64")]
)
def test_whole_float_is_refused_naming_its_type(data, method, epochs, shown):
    # fit(X, y, epochs=2.0) read "must be a whole number >= 1, got 2.0": 2.0
    # is one. The type is what is refused, as max_epochs=2.0 is refused.
    X, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    with pytest.raises(ValueError) as info:
        getattr(clf, method)(X, y, epochs=epochs)
    message = str(info.value)
    assert "must be an integer >= 1" in message
    assert shown in message
    assert "pass int(epochs)" in message
    assert "whole number" not in message
    # The refusal changed nothing.
    assert len(clf.history) == 1
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    # The constructor's max_epochs refuses the same float.
    with pytest.raises(ValueError, match="max_epochs.* must be an int"):
        RSFTClassifier(max_epochs=epochs).fit(X, y)


@pytest.mark.parametrize(
    ("epochs", "shown"),
    [(1.5, "got 1.5, a float;"), (True, "got True, a bool;"), ("2", "a str;")],
)
def test_other_refusals_name_the_type_without_int_advice(data, epochs, shown):
    # int(1.5) or int(True) would train something other than what was
    # written: only a whole float is pointed to int().
    X, y = data
    with pytest.raises(ValueError) as info:
        RSFTClassifier(max_epochs=1).fit(X, y, epochs=epochs)
    message = str(info.value)
    assert "must be an integer >= 1" in message
    assert shown in message
    assert "int(epochs)" not in message
    assert message.endswith("leave it out to train max_epochs epochs.")


@pytest.mark.parametrize("epochs", [0, -1, np.int64(0), 0.0, np.bool_(True)])
def test_integers_below_one_and_numpy_bools_are_refused(data, epochs):
    X, y = data
    with pytest.raises(ValueError, match=r"must be an integer >= 1, got "):
        RSFTClassifier(max_epochs=1).fit(X, y, epochs=epochs)


@pytest.mark.parametrize("epochs", [2, np.int64(2), np.int32(2)])
def test_integers_of_any_kind_train_that_many_epochs(data, epochs):
    X, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y, epochs=epochs)
    assert len(clf.history) == 2
    clf.partial_fit(X, y, epochs=epochs)
    assert len(clf.history) == 4
