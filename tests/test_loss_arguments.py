"""Arguments of RejectionLoss, RejectionSampler and the per-class weights:
refused by name, with short messages, or read as the numbers they are."""

from fractions import Fraction

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.utils._param_validation import InvalidParameterError

from rsft_sklearn import (
    RejectionLoss,
    RejectionSampler,
    RSFTClassifier,
    class_target_weight,
)
from rsft_sklearn._validation import check_class_weight


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120,
        n_features=4,
        n_informative=3,
        n_redundant=0,
        n_classes=3,
        weights=[0.6, 0.3, 0.1],
        random_state=0,
    )
    return X.astype(np.float32), y


# ----------------------------------------------------------------------------
# class_weight of RejectionLoss: entries read one by one, as correct_proba
# and the classifier's target read them
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "class_weight, match",
    [
        # Read as [1, 1, 1] and [0.5, 1, 1] through np.asarray(..., float64).
        ([True, True, True], "one number per class, got True of type bool for class 0"),
        (
            [1.0, "0.5", 1.0],
            "one number per class, got '0.5' of type str for class 1",
        ),
        ([1.0, None, 1.0], "one number per class, got None of type NoneType"),
        (np.array([True, False]), "got True of type bool"),
        (torch.tensor([True, True]), "got True of type bool"),
        # Finite in float64, kept as [inf, 1, 1] in float32.
        ([1e300, 1.0, 1.0], "beyond the float32 range.*largest 1e\\+300"),
        (np.array([1.0, 1e39]), "beyond the float32 range"),
    ],
)
def test_class_weight_refuses_what_is_not_a_float32_number(class_weight, match):
    with pytest.raises(ValueError, match=match):
        RejectionLoss(class_weight=class_weight)
    loss_fn = RejectionLoss(n_classes=3)
    with pytest.raises(ValueError, match=match):
        loss_fn.set_class_weight(class_weight)
    # The module is unchanged by the refused call.
    assert torch.equal(loss_fn.class_weight, torch.ones(3))


@pytest.mark.parametrize(
    "class_weight",
    [
        [0.25, 1.0, 3],
        (0.25, 1.0, 3.0),
        np.array([0.25, 1.0, 3.0]),
        np.array([0.25, 1.0, 3.0], dtype=np.float32),
        np.array([1, 4, 12]) / 4,
        [np.float32(0.25), np.float64(1.0), np.int64(3)],
        [torch.tensor(0.25), torch.tensor(1.0), torch.tensor(3.0)],
        torch.tensor([0.25, 1.0, 3.0], dtype=torch.float64),
        torch.tensor([0.25, 1.0, 3.0], dtype=torch.bfloat16),
        [Fraction(1, 4), 1, Fraction(3)],
        # Within float32's range, as float32 keeps it.
        [3e38, 1.0, 1.0],
    ],
)
def test_class_weight_takes_numbers_of_any_kind(class_weight):
    loss_fn = RejectionLoss(class_weight=class_weight)
    first = float(class_weight[0])
    expected = torch.tensor([first, 1.0, float(class_weight[2])])
    assert loss_fn.class_weight.dtype == torch.float32
    assert torch.equal(loss_fn.class_weight, expected)
    loss_fn.set_class_weight(class_weight)
    assert torch.equal(loss_fn.class_weight, expected)


# ----------------------------------------------------------------------------
# A None weight is named as None (its class), not as NaN
# ----------------------------------------------------------------------------
def test_a_none_weight_is_named_with_its_class(data):
    X, y = data
    with pytest.raises(
        ValueError,
        match=r"target must hold one number per class, got None of type "
        r"NoneType for class 0\.",
    ):
        RSFTClassifier(max_epochs=1, target={0: None, 1: 2.0, 2: 4.0}).fit(X, y)
    with pytest.raises(ValueError, match="got None of type NoneType for class 'b'"):
        check_class_weight({"a": 1.0, "b": None}, ["a", "b"])
    with pytest.raises(ValueError, match="got None of type NoneType for class 2"):
        RejectionSampler(hardness=0, target={0: 1.0, 1: 1.0, 2: None}).fit_resample(
            X, y
        )
    # Not read as NaN, whose message was "must be finite and > 0, got [nan ...]".
    with pytest.raises(ValueError) as info:
        check_class_weight([None, 2.0, 4.0], 3)
    assert "nan" not in str(info.value)


# ----------------------------------------------------------------------------
# Integers beyond the float range: a ValueError naming the argument, briefly
# ----------------------------------------------------------------------------
def test_huge_integers_are_refused_by_name_in_short_messages(data):
    X, y = data
    huge = 10**400
    with pytest.raises(ValueError, match=r"prior_correction.*got 1e\+400\.$"):
        RejectionLoss(prior_correction=huge)
    with pytest.raises(ValueError, match=r"n_rounds.*got 1e\+400\.$"):
        RejectionSampler(hardness=0, n_rounds=huge).fit_resample(X, y)
    # 2**53 + 1 is rounded in float64, the type the draws count in.
    with pytest.raises(ValueError, match="n_rounds must be a whole number in"):
        RejectionSampler(hardness=0, n_rounds=2**53 + 1).fit_resample(X, y)
    with pytest.raises(ValueError) as info:
        class_target_weight([0, 1, 1], 2, power=huge)
    assert str(info.value) == "power must be a finite number >= 0, got 1e+400."
    with pytest.raises(ValueError) as info:
        RejectionLoss(n_classes=3, M=-huge)
    assert str(info.value) == "M must be finite and > 0, got -1e+400."
    from rsft_sklearn._validation import shown_number

    # As Python shows a float, to four significant digits, whatever the size.
    assert shown_number(12345) == "12345"
    assert shown_number(-(10**25)) == "-1e+25"
    assert shown_number(9996 * 10**396) == "9.996e+399"
    assert shown_number(Fraction(10**5000, 3)) == "a Fraction of about 3.333e+4999"
    assert shown_number(Fraction(1, 3**1000)) == "a Fraction of about 7.564e-478"
    # Rounded, it would read as a value the parameter takes.
    near_one = Fraction(10**20 + 1, 10**20)
    assert shown_number(near_one) == "a Fraction of about 1"
    assert shown_number(Fraction(-1)) == "Fraction(-1, 1)"


# ----------------------------------------------------------------------------
# target_acceptance: checked whatever M is, on the classifier's range
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "x",
        -1,
        0,
        0.0,
        1.5,
        float("nan"),
        float("inf"),
        True,
        pytest.param(10**400, id="10**400"),
        [0.5],
    ],
)
@pytest.mark.parametrize("M", [1.0, 2, "auto"])
def test_target_acceptance_is_checked_whatever_M(M, value):
    # (Under M="auto" they were refused before, with another message.)
    with pytest.raises(ValueError, match=r"target_acceptance.* a float in \(0, 1\]"):
        RejectionLoss(M=M, target_acceptance=value)


def test_target_acceptance_range_is_the_classifiers(data):
    X, y = data
    # The classifier refuses the same values at fit, under a fixed M.
    for value in (-1, 0, 1.5):
        with pytest.raises(InvalidParameterError, match="target_acceptance"):
            RSFTClassifier(max_epochs=1, target_acceptance=value).fit(X, y)
    for value, stored in [(None, None), (1, 1.0), (0.5, 0.5), (Fraction(1, 4), 0.25)]:
        for M in (1.0, "auto"):
            if M == "auto" and value is None:
                continue
            loss_fn = RejectionLoss(M=M, target_acceptance=value)
            assert loss_fn.target_acceptance == stored
            assert type(loss_fn.target_acceptance) is type(stored)
    with pytest.raises(ValueError, match="set target_acceptance"):
        RejectionLoss(M="auto")


# ----------------------------------------------------------------------------
# RejectionSampler takes a Fraction as its float value
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, floats",
    [
        ({"M": Fraction(1, 2)}, {"M": 0.5}),
        (
            {"M": Fraction(3, 2), "hardness": Fraction(1, 2)},
            {"M": 1.5, "hardness": 0.5},
        ),
        ({"M": Fraction(2), "hardness": Fraction(0)}, {"M": 2.0, "hardness": 0.0}),
    ],
)
def test_sampler_takes_fractions_as_their_float(data, params, floats):
    X, y = data
    sampler = RejectionSampler(random_state=0, cv=3, **params)
    X_res, y_res = sampler.fit_resample(X, y)
    reference = RejectionSampler(random_state=0, cv=3, **floats)
    X_ref, y_ref = reference.fit_resample(X, y)
    np.testing.assert_array_equal(sampler.acceptance_, reference.acceptance_)
    np.testing.assert_array_equal(sampler.sample_indices_, reference.sample_indices_)
    np.testing.assert_array_equal(X_res, X_ref)
    np.testing.assert_array_equal(y_res, y_ref)
    # The user's objects, unchanged.
    for name, value in params.items():
        assert sampler.get_params()[name] is value


@pytest.mark.parametrize("name", ["M", "hardness"])
def test_sampler_refuses_fractions_out_of_range_by_name(data, name):
    X, y = data
    # Shown as its float ("Got -0.5"), where the classifier shows it as given.
    with pytest.raises(
        InvalidParameterError, match=rf"'{name}' parameter.*Got Fraction\(-1, 2\)"
    ):
        RejectionSampler(**{name: Fraction(-1, 2)}).fit_resample(X, y)
