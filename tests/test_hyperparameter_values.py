"""Values of RSFTClassifier's parameters beyond the plain float and int:
tensor learning rates, fractions, bools for verbose, integers beyond the
float range."""

import collections
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification

from rsft_sklearn import MLPModule, RejectionLoss, RejectionSampler, RSFTClassifier

FAST = {
    "max_epochs": 2,
    "random_state": 0,
    "batch_size": 32,
    "module__hidden_layer_sizes": (8,),
}


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


# ----------------------------------------------------------------------------
# A tensor learning rate
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "lr, error, match",
    [
        # Trained as 1.0.
        (torch.tensor(True), TypeError, "lr must be .* real dtype"),
        # Failed in torch.
        (torch.tensor(1 + 1j), TypeError, "torch.complex64"),
        # SGD's step by -lr wraps: a rate of 255, up the loss.
        (torch.tensor(1, dtype=torch.uint8), TypeError, "signed dtype"),
        # Failed after the first epoch, as if the loss had overflowed.
        (torch.tensor(float("nan")), ValueError, "lr must be a finite number >= 0"),
        (torch.tensor(float("inf")), ValueError, "lr must be a finite number >= 0"),
        # torch's own message, naming no parameter.
        (torch.tensor(-1.0), ValueError, "lr must be a finite number >= 0"),
        (torch.tensor([1e-3, 1e-3]), ValueError, "tensor of one element"),
    ],
)
def test_a_tensor_lr_is_one_finite_real_number_at_least_zero(data, lr, error, match):
    X, y = data
    clf = RSFTClassifier(**FAST, lr=lr)
    with pytest.raises(error, match=match):
        clf.fit(X, y)
    assert not clf.initialized_


@pytest.mark.parametrize("optimizer", [torch.optim.Adam, torch.optim.SGD])
@pytest.mark.parametrize(
    "lr, number",
    [
        (torch.tensor(1), 1),
        (torch.tensor(1, dtype=torch.int32), 1),
        (torch.tensor(0), 0),
        (torch.tensor([1], dtype=torch.int16), 1),
    ],
)
def test_an_integer_tensor_lr_trains_as_its_integer(data, lr, number, optimizer):
    # Refused ("must be ... a real floating-point dtype"), although torch's
    # optimisers train with it as with the integer, and so did the package.
    X, y = data
    clf = RSFTClassifier(**FAST, lr=lr, optimizer=optimizer).fit(X, y)
    plain = RSFTClassifier(**FAST, lr=number, optimizer=optimizer).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    assert clf.get_params()["lr"] is lr


def test_a_tensor_lr_trains_as_its_value(data):
    X, y = data
    lr = torch.tensor(0.01)
    clf = RSFTClassifier(**FAST, lr=lr, optimizer=torch.optim.SGD).fit(X, y)
    plain = RSFTClassifier(**FAST, lr=0.01, optimizer=torch.optim.SGD).fit(X, y)
    assert clf.get_params()["lr"] is lr
    np.testing.assert_allclose(clf.predict_proba(X), plain.predict_proba(X), atol=1e-6)


# ----------------------------------------------------------------------------
# Fractions
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, value, params",
    [
        ("M", Fraction(3, 2), {"rejection": "sample"}),
        ("hardness", Fraction(1, 2), {}),
        ("target_power", Fraction(1, 3), {}),
        ("prior_correction", Fraction(1, 2), {}),
        ("warmup_epochs", Fraction(1, 2), {}),
        ("lr", Fraction(1, 100), {}),
        ("target_acceptance", Fraction(1, 2), {"M": "auto"}),
        # Reached torch as it was ("full_like(): ... must be Number").
        ("budget", Fraction(1, 2), {"rejection": "budget"}),
    ],
)
def test_a_fraction_trains_as_its_float(data, name, value, params):
    # scikit-learn's check failed inside NumPy ("ufunc 'isnan' not
    # supported"), naming no parameter; RejectionLoss takes fractions.
    X, y = data
    clf = RSFTClassifier(**FAST, **params, **{name: value}).fit(X, y)
    plain = RSFTClassifier(**FAST, **params, **{name: float(value)}).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    # The parameter stays the object given.
    assert clf.get_params()[name] is value
    assert clone(clf).get_params()[name] is value


@pytest.mark.parametrize(
    "name, value",
    [("M", Fraction(-1, 2)), ("lr", Fraction(-1, 2)), ("warmup_epochs", Fraction(3))],
)
def test_a_fraction_out_of_range_is_refused_by_name(data, name, value):
    X, y = data
    with pytest.raises(
        ValueError, match=rf"'{name}' parameter.*Got {re.escape(repr(value))}"
    ):
        RSFTClassifier(**FAST, **{name: value}).fit(X, y)


def test_adam_betas_of_fractions_train_as_their_floats(data):
    # torch's Adam refused them: "betas must be either both floats or both
    # Tensors".
    X, y = data
    betas = (Fraction(9, 10), Fraction(99, 100))
    clf = RSFTClassifier(**FAST, optimizer__betas=betas).fit(X, y)
    plain = RSFTClassifier(**FAST, optimizer__betas=(0.9, 0.99)).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    assert clf.get_params()["optimizer__betas"] is betas
    assert clf.optimizer_.param_groups[0]["betas"] == (0.9, 0.99)
    # Set on a fitted net, for continued training.
    later = (Fraction(1, 2), Fraction(3, 4))
    clf.set_params(optimizer__betas=later).partial_fit(X, y)
    plain.set_params(optimizer__betas=(0.5, 0.75)).partial_fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    assert all(type(b) is float for b in clf.optimizer_.param_groups[0]["betas"])


def test_adam_betas_as_a_named_tuple_train_as_their_values(data):
    # Rebuilt as its own type from an iterable, a namedtuple failed
    # ("missing 1 required positional argument").
    Betas = collections.namedtuple("Betas", "first second")
    X, y = data
    for betas, plain in [
        (Betas(0.5, 0.75), (0.5, 0.75)),
        (Betas(Fraction(1, 2), Fraction(3, 4)), (0.5, 0.75)),
    ]:
        clf = RSFTClassifier(**FAST, optimizer__betas=betas).fit(X, y)
        ref = RSFTClassifier(**FAST, optimizer__betas=plain).fit(X, y)
        np.testing.assert_array_equal(clf.predict_proba(X), ref.predict_proba(X))


@pytest.mark.parametrize(
    "betas", [[Fraction(9, 10), Fraction(99, 100)], [np.float32(0.5), np.float32(0.75)]]
)
def test_adam_betas_as_a_list_train_as_their_floats(data, betas):
    # A list of them failed in torch as a tuple did: "betas must be either
    # both floats or both Tensors".
    X, y = data
    clf = RSFTClassifier(**FAST, optimizer__betas=betas).fit(X, y)
    floats = [float(b) for b in betas]
    plain = RSFTClassifier(**FAST, optimizer__betas=floats).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))
    assert clf.get_params()["optimizer__betas"] is betas


# ----------------------------------------------------------------------------
# verbose as a bool
# ----------------------------------------------------------------------------
def _printed_table(capsys, data, verbose):
    X, y = data
    capsys.readouterr()
    RSFTClassifier(**FAST, verbose=verbose).fit(X, y)
    lines = capsys.readouterr().out.splitlines()
    # Without the durations, which vary.
    return [line.rsplit(None, 1)[0] if line.strip() else line for line in lines]


@pytest.mark.parametrize("flag, number", [(True, 1), (False, 0), (np.True_, 1)])
def test_verbose_takes_a_bool_as_skorch_and_scikit_learn_do(capsys, data, flag, number):
    # Refused: "verbose must be a number, not a bool".
    shown = _printed_table(capsys, data, flag)
    assert shown == _printed_table(capsys, data, number)
    assert len(shown) == (4 if number else 0)  # a header, a rule, two epochs


# ----------------------------------------------------------------------------
# Numbers beyond the float range
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name, params, match",
    [
        # OverflowError from torch's Adam.
        ("lr", {}, r"lr must be a finite number >= 0, got inf \(1e\+400"),
        # OverflowError when the warm-up was counted.
        ("max_epochs", {}, "max_epochs must be an integer >= 0 within the float range"),
        # "power must be ...", with the 401 digits.
        ("target_power", {}, r"target_power must be a finite number >= 0, got inf"),
        ("hardness", {}, r"hardness must be a finite number >= 0, got inf"),
        ("warmup_epochs", {}, "warmup_epochs must be an integer >= 0 within"),
        ("batch_size", {}, "batch_size must be an integer >= 1 within"),
        ("pool_size", {"rejection": "pool"}, "pool_size must be an integer >= 1"),
        ("rescore_every", {"rejection": "epoch"}, "rescore_every must be an integer"),
        # scikit-learn's message, with the 401 digits.
        ("M", {}, r"M must be a finite number in \[1.17549e-38, 3.40282e\+38\]"),
        (
            "budget",
            {"rejection": "budget"},
            r"budget must be a finite number in \(0, 1\]",
        ),
        ("prior_correction", {}, r"prior_correction must be a finite number in \[0, "),
        ("target_acceptance", {"M": "auto"}, "target_acceptance must be a finite"),
    ],
)
def test_an_integer_beyond_the_float_range_is_refused_by_name(
    data, name, params, match
):
    X, y = data
    with pytest.raises(ValueError, match=match) as caught:
        RSFTClassifier(**{**FAST, **params, name: 10**400}).fit(X, y)
    message = str(caught.value)
    assert message.startswith(name)
    assert "1e+400" in message and len(message) < 200


def test_fractions_and_negative_integers_beyond_the_float_range(data):
    X, y = data
    with pytest.raises(ValueError, match=r"lr must be .* got -inf \(-1e\+400"):
        RSFTClassifier(**FAST, lr=-(10**400)).fit(X, y)
    with pytest.raises(ValueError, match=r"M must be .* got inf \(1e\+400"):
        RSFTClassifier(**FAST, M=Fraction(10**400)).fit(X, y)


def test_epochs_of_a_call_beyond_the_float_range_are_refused_by_name(data):
    # OverflowError when the first epoch was planned.
    X, y = data
    clf = RSFTClassifier(**FAST)
    with pytest.raises(ValueError, match="epochs .* within the float range, got 1e"):
        clf.fit(X, y, epochs=10**400)
    # OverflowError when the message looked for a whole number.
    with pytest.raises(ValueError, match=r"epochs .* >= 1, got 1e\+400, a Fraction"):
        clf.fit(X, y, epochs=Fraction(10**400))
    clf.fit(X, y)
    with pytest.raises(ValueError, match="epochs .* within the float range, got 1e"):
        clf.partial_fit(X, y, epochs=10**400)


def test_a_number_beyond_the_float_range_is_told_every_kind_allowed(data):
    # warmup_epochs, an integer or a share of the epochs, was told "must be
    # an integer ... within the float range" of a fraction.
    X, y = data
    with pytest.raises(ValueError) as caught:
        RSFTClassifier(**FAST, warmup_epochs=Fraction(10**400, 3)).fit(X, y)
    assert str(caught.value) == (
        "warmup_epochs must be an integer >= 0 within the float range or a "
        "finite number in (0, 1), got inf (a Fraction of about 3.333e+399, beyond "
        "the float range)."
    )


def _refusal(make):
    with pytest.raises(ValueError) as caught:
        make()
    return str(caught.value)


@pytest.mark.parametrize(
    "number, shown",
    [
        (10**400, "1e+400"),
        (-(10**400), "-1e+400"),
        # Shown as "10e+399".
        (9996 * 10**396, "9.996e+399"),
        (10**400 - 10**396, "9.999e+399"),
    ],
    ids=["1e400", "-1e400", "9.996e399", "9.999e399"],
)
def test_a_huge_number_reads_the_same_in_every_message(data, number, shown):
    # Three forms of one number: 1e+400 (the classifier), 1.000e+400
    # (RejectionLoss) and 37 digits and "..." (layer sizes).
    X, y = data
    messages = [
        _refusal(lambda: RSFTClassifier(**FAST, M=number).fit(X, y)),
        _refusal(lambda: RejectionLoss(prior_correction=number)),
        _refusal(lambda: RejectionLoss(M=number)),
        _refusal(lambda: MLPModule(5, 3, hidden_layer_sizes=number)),
        _refusal(
            lambda: RejectionSampler(hardness=0, n_rounds=number).fit_resample(X, y)
        ),
    ]
    for message in messages:
        assert re.search(rf"got (-?inf \()?{re.escape(shown)}\b", message), message
