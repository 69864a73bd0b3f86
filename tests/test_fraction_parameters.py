"""A ``fractions.Fraction`` as a parameter of the classifier: it trains as
its float, keeps the loss between calls of continued training, and appears
in the warnings as the float (a Fraction has no ``"g"`` format before
Python 3.12); ``get_params`` returns the Fraction itself."""

import warnings
from fractions import Fraction

import numpy as np
import pytest
from sklearn.datasets import make_classification

from rsft_sklearn import RSFTClassifier, RSFTWarning

PARAMS = dict(
    max_epochs=3,
    warmup_epochs=1,
    random_state=0,
    batch_size=32,
    module__hidden_layer_sizes=(8,),
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120,
        n_features=5,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=1,
    )
    return X.astype(np.float32), y


@pytest.mark.parametrize(
    ("name", "fraction", "others"),
    [
        ("M", Fraction(3, 2), {"rejection": "sample"}),
        ("hardness", Fraction(1, 2), {"rejection": "sample"}),
        ("target_power", Fraction(3, 4), {}),
        ("budget", Fraction(3, 10), {"rejection": "budget"}),
        ("prior_correction", Fraction(1, 2), {}),
        ("warmup_epochs", Fraction(2, 3), {}),
        ("target_acceptance", Fraction(1, 3), {"M": "auto"}),
        ("lr", Fraction(1, 100), {}),
    ],
)
def test_a_fraction_trains_as_its_float_across_calls(data, name, fraction, others):
    fits = {}
    for value in (float(fraction), fraction):
        clf = RSFTClassifier(**{**PARAMS, **others, name: value})
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RSFTWarning)
            clf.fit(*data)
            loss = clf.criterion_
            clf.partial_fit(*data)
        # The loss built with the parameter is kept by continued training
        # (target_acceptance=Fraction(1, 3) never equalled the loss's float,
        # and the loss was rebuilt at every call).
        assert clf.criterion_ is loss
        assert clf.get_params()[name] is value
        fits[type(value)] = clf
    plain, fractional = fits[float], fits[Fraction]
    # (NaN in the warm-up epochs of M="auto", which solves no M.)
    np.testing.assert_array_equal(
        plain.history[:, "M_effective"], fractional.history[:, "M_effective"]
    )
    assert np.array_equal(
        plain.predict_proba(data[0]), fractional.predict_proba(data[0])
    )


def test_M_auto_at_its_bound_names_a_fractional_target_acceptance(data):
    # hardness=1000 spans more than M's range: the warning formatted
    # target_acceptance with "g", which failed on a Fraction (TypeError
    # "unsupported format string passed to Fraction.__format__") after the
    # first epoch had trained.
    messages = {}
    for target in (0.1, Fraction(1, 10)):
        clf = RSFTClassifier(
            **{**PARAMS, "warmup_epochs": 0, "max_epochs": 2},
            M="auto",
            target_acceptance=target,
            hardness=1000,
            rejection="sample",
        )
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            clf.fit(*data)
        (messages[type(target)],) = [
            str(w.message) for w in record if "bound of its range" in str(w.message)
        ]
        assert len(clf.history) == 2
    assert messages[Fraction] == messages[float]
    assert "cannot follow target_acceptance=0.1. " in messages[Fraction]
