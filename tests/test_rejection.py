"""The pure-tensor rejection rule."""

import numpy as np
import pytest
import torch

from rsft_sklearn import (
    acceptance_probability,
    class_target_weight,
    rejection_mask,
    true_class_log_proba,
)


def test_acceptance_matches_the_formula():
    logits = torch.tensor([[2.0, 0.0], [0.0, 0.0], [-3.0, 1.0], [1.0, 1.5]])
    y = torch.tensor([0, 1, 0, 1])
    w = torch.tensor([0.2, 1.0, 0.5, 0.05])
    p = torch.softmax(logits, 1)[torch.arange(4), y]
    for M, hardness in [(1.0, 1.0), (2.0, 1.0), (0.5, 0.5), (3.0, 0.0), (1.0, 2.0)]:
        expected = torch.clamp(w / (M * p**hardness), max=1.0)
        got = acceptance_probability(logits, y, w, M=M, hardness=hardness)
        torch.testing.assert_close(got, expected)


def test_acceptance_accepts_device_tensor_M():
    logits = torch.zeros(3, 2)
    y = torch.tensor([0, 1, 1])
    got = acceptance_probability(logits, y, torch.ones(3), M=torch.tensor(4.0))
    torch.testing.assert_close(got, torch.full((3,), 0.5))


@pytest.mark.parametrize("M", [0.0, -1.0, float("nan"), float("inf"), "2"])
def test_acceptance_refuses_a_bad_number_M(M):
    # Once M=0 gave ones and M=-1 NaN, silently.
    with pytest.raises(ValueError, match="M must be a finite number > 0"):
        acceptance_probability(torch.zeros(2, 2), torch.tensor([0, 1]), [1.0, 1.0], M)


@pytest.mark.parametrize("hardness", [1e39, 1e-40, 1e-37, True])
def test_acceptance_refuses_a_hardness_that_float32_cannot_hold(hardness):
    # hardness * log p is computed in float32, with log p of p = 0 floored
    # at -3.4e38: 1e39 gave NaN at p = 1, and at p = 0, where the rule gives
    # 1, 1e-39 gave e^0.34 w / M (0.35 for w / M = 0.25) and 1e-37, a normal
    # float32 number, e^34 w / M (below 1 where w / M < e^-34).
    logits = torch.tensor([[0.0, -1e4], [-1e4, 0.0], [-float("inf"), 0.0]])
    y = torch.tensor([0, 0, 0])
    with pytest.raises(ValueError, match="float32|not a bool"):
        acceptance_probability(logits, y, 0.01, 1.0, hardness)
    # The ends of the range taken give the rule's values: p ** hardness is
    # 1 for the smallest hardness (p > 0) and 0 for a huge one (p < 1), and
    # a row of p = 0 is accepted surely.
    for edge, expected in ((1e-30, 0.01), (1e30, 1.0)):
        got = acceptance_probability(logits, y, 0.01, 1.0, edge)
        torch.testing.assert_close(got, torch.tensor([0.01, expected, 1.0]))


@pytest.mark.parametrize("M", [1e39, 1e-46])
def test_acceptance_refuses_an_M_that_float32_cannot_hold(M):
    # M=1e39 became inf in float32 and turned an acceptance of 1 into 0.
    with pytest.raises(ValueError, match="outside the range of normal float32"):
        acceptance_probability(torch.zeros(2, 2), torch.tensor([0, 1]), 1.0, M)


@pytest.mark.parametrize(
    "logits, y, error, match",
    [
        # 3 labels for 4 rows gave 3 values, silently misaligned.
        (torch.zeros(4, 2), torch.tensor([0, 1, 1]), ValueError, "4 rows but y holds"),
        (torch.zeros(4, 2), torch.zeros(4, 1, dtype=torch.long), ValueError, "y must"),
        (torch.zeros(4), torch.tensor([0, 1, 1, 0]), ValueError, "n_classes"),
        (np.zeros((4, 2)), torch.tensor([0, 1, 1, 0]), TypeError, "ndarray"),
        (torch.zeros(4, 2), [0, 1, 1, 0], TypeError, "got builtins.list"),
        (torch.zeros(4, 2), np.zeros(4, dtype=int), TypeError, "numpy.ndarray"),
        (torch.zeros(4, 2), torch.zeros(4), TypeError, "integer class indices"),
    ],
)
@pytest.mark.parametrize("hardness", [0.0, 1.0])
def test_the_rule_functions_refuse_labels_that_do_not_match_the_rows(
    logits, y, error, match, hardness
):
    with pytest.raises(error, match=match):
        acceptance_probability(logits, y, 1.0, hardness=hardness)
    with pytest.raises(error, match=match):
        true_class_log_proba(logits, y)


@pytest.mark.parametrize(
    "args, kwargs, match",
    [
        (([0, 1], 0), {}, "n_classes must be an integer >= 1"),
        (([0, 1], 2.0), {}, "n_classes must be an integer >= 1"),
        (([0, 1], True), {}, "n_classes must be an integer >= 1"),
        (([[0, 1]], 2), {}, "y must be 1-d"),
        (([0, 1], 2), {"power": "a"}, "power must be a finite number"),
        (([0, 1], 2), {"power": -1}, "power must be a finite number"),
    ],
)
def test_class_target_weight_names_the_bad_argument(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        class_target_weight(*args, **kwargs)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_extreme_logits_stay_finite(dtype):
    big = 1e4 if dtype != torch.float16 else 6e4
    logits = torch.tensor([[big, -big], [-big, big], [big, big]], dtype=dtype)
    y = torch.tensor([1, 1, 0])
    for hardness in (0.0, 1.0, 3.0):
        a = acceptance_probability(logits, y, torch.ones(3), M=2.0, hardness=hardness)
        assert torch.isfinite(a).all()
        assert ((a >= 0) & (a <= 1)).all()
    log_p = true_class_log_proba(logits, y)
    assert torch.isfinite(log_p).all()
    # a hopeless prediction is always accepted when hardness > 0
    a = acceptance_probability(logits, y, torch.full((3,), 1e-3), M=10.0)
    assert a[0] == 1.0


def test_hardness_zero_ignores_the_model():
    y = torch.tensor([0, 1, 0])
    w = torch.tensor([0.25, 1.0, 0.25])
    a1 = acceptance_probability(torch.randn(3, 2), y, w, M=1.0, hardness=0.0)
    a2 = acceptance_probability(torch.randn(3, 2) * 100, y, w, M=1.0, hardness=0.0)
    torch.testing.assert_close(a1, w)
    torch.testing.assert_close(a2, w)


def test_mask_mean_matches_acceptance():
    g = torch.Generator().manual_seed(0)
    a = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0]).repeat_interleave(40_000)
    m = rejection_mask(a, generator=g).reshape(5, -1).mean(1)
    expected = torch.tensor([0.0, 0.1, 0.5, 0.9, 1.0])
    # 6 standard errors of a Bernoulli mean with n=40000 is at most 0.015
    assert torch.all((m - expected).abs() < 0.015)
    assert m[0] == 0.0 and m[-1] == 1.0


def test_mask_is_reproducible_from_the_generator():
    a = torch.full((100,), 0.5)
    m1 = rejection_mask(a, torch.Generator().manual_seed(3))
    m2 = rejection_mask(a, torch.Generator().manual_seed(3))
    torch.testing.assert_close(m1, m2)


def test_class_target_weight():
    y = np.array([0] * 8 + [1] * 2 + [2] * 4)
    np.testing.assert_allclose(class_target_weight(y, 3), [0.25, 1.0, 0.5])
    np.testing.assert_allclose(class_target_weight(y, 3, "uniform"), [1, 1, 1])
    weights = class_target_weight(y, 3, [2.0, 4.0, 1.0])
    np.testing.assert_allclose(weights, [0.5, 1, 0.25])
    with pytest.raises(ValueError, match="one entry per class"):
        class_target_weight(y, 3, [1.0, 2.0])
    with pytest.raises(ValueError, match="> 0"):
        class_target_weight(y, 3, [1.0, 0.0, 1.0])
    with pytest.raises(ValueError, match="target must be"):
        class_target_weight(y, 3, "nope")


def test_class_target_weight_with_class_sums_beyond_float64():
    # Finite weights whose class sums overflow: the weights relative to each
    # other are what counts, as with weights a factor 1e300 smaller.
    y = np.array([0, 0, 1, 1, 1, 1, 2])
    big = np.array([1e308, 1e308, 1e308, 1e308, 1e308, 1e308, 1e307])
    for kwargs in ({}, {"power": 0.5}, {"power": 0.0}):
        got = class_target_weight(y, 3, sample_weight=big, **kwargs)
        expected = class_target_weight(y, 3, sample_weight=big / 1e300, **kwargs)
        assert np.all(np.isfinite(got))
        np.testing.assert_allclose(got, expected, rtol=1e-12)
    np.testing.assert_allclose(
        class_target_weight(y, 3, sample_weight=big), [0.05, 0.025, 1.0]
    )


@pytest.mark.parametrize("shape", [(2048, 8), (2048, 2), (64, 8), (128, 2), (512, 40)])
def test_true_class_log_proba_equals_log_softmax_on_every_path(shape):
    # Few classes and many rows take the transposed path on the CPU.
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=generator) * 20
    logits[0] = torch.tensor([1e4] + [-1e4] * (shape[1] - 1))
    y = torch.randint(0, shape[1], (shape[0],), generator=generator)
    y[0] = 1
    expected = torch.log_softmax(logits, dim=1).gather(1, y.reshape(-1, 1))
    expected = expected.reshape(-1).clamp(min=torch.finfo(torch.float32).min)
    out = true_class_log_proba(logits, y)
    torch.testing.assert_close(out, expected, rtol=1e-6, atol=1e-6)
    assert float(out[0]) == -2e4
    assert out.dtype == torch.float32 and out.shape == (shape[0],)


def test_a_large_target_power_keeps_finite_positive_weights():
    # 1 / n ** 500 underflows to 0 for every class; the ratios to the
    # largest are taken in log space instead (once: NaN weights and an
    # error about class_weight).
    y = np.r_[np.zeros(250, dtype=int), np.ones(50, dtype=int)]
    weight = class_target_weight(y, 2, power=500)
    assert weight[1] == 1.0 and 0 < weight[0] <= np.finfo(np.float32).tiny
    # Ordinary powers are computed as before.
    np.testing.assert_allclose(
        class_target_weight(y, 2, power=0.5), [np.sqrt(50 / 250), 1.0]
    )


# ----------------------------------------------------------------------
# Inputs of acceptance_probability
# ----------------------------------------------------------------------
def test_float64_logits_beyond_float32_give_finite_values():
    # Cast to float32 first, 1e39 became inf and the log-probability NaN.
    logits = torch.tensor([[1e39, 0.0], [1e39, 0.0]], dtype=torch.float64)
    y = torch.tensor([0, 1])
    log_p = true_class_log_proba(logits, y)
    assert log_p.dtype == torch.float32
    assert log_p[0].item() == 0.0
    assert log_p[1].item() == torch.finfo(torch.float32).min
    acceptance = acceptance_probability(logits, y, torch.tensor([0.5, 0.5]))
    torch.testing.assert_close(acceptance, torch.tensor([0.5, 1.0]))
    # within the float32 range, float64 gives float32's values
    small = torch.randn(
        50, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    )
    labels = torch.arange(50) % 4
    torch.testing.assert_close(
        true_class_log_proba(small, labels), true_class_log_proba(small.float(), labels)
    )


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"M": 10**400}, ValueError, "M must be a finite number"),
        ({"hardness": 10**400}, ValueError, "hardness must be a finite number"),
        ({"M": torch.tensor([1.0, 2.0])}, ValueError, r"M must be one number"),
        ({"target_weight": "a"}, TypeError, "target_weight must hold real numbers"),
        ({"target_weight": -1.0}, ValueError, r"finite weights >= 0, got \[-1.0\]"),
        ({"target_weight": [1.0, np.nan, 1.0]}, ValueError, r"got \[nan\]"),
        ({"logits": torch.zeros(3, 0)}, ValueError, "logits have no column"),
    ],
)
def test_acceptance_probability_names_bad_inputs(kwargs, error, message):
    # OverflowError, torch's size mismatch, "new(): invalid data type",
    # NaN acceptances and an indexing error before.
    args = {
        "logits": torch.zeros(3, 2),
        "y": torch.tensor([0, 1, 0]),
        "target_weight": 1.0,
        **kwargs,
    }
    if args["logits"].shape[1] == 0:
        args["y"] = torch.zeros(3, dtype=torch.int64)
    with pytest.raises(error, match=message):
        acceptance_probability(**args)


def test_acceptance_probability_takes_M_as_a_one_element_array():
    # RejectionLoss and correct_proba took np.array(2.0); this refused it.
    logits, y = torch.zeros(3, 2), torch.tensor([0, 1, 0])
    torch.testing.assert_close(
        acceptance_probability(logits, y, 0.5, M=np.array(2.0)),
        acceptance_probability(logits, y, 0.5, M=2.0),
    )


@pytest.mark.parametrize("hardness", [1.0, 0.0])
@pytest.mark.parametrize("M", [np.array([[2.0]]), torch.tensor([[2.0]])])
def test_acceptance_probability_takes_M_of_one_element_in_any_shape(M, hardness):
    # A (1, 1) M broadcast the output to (1, n), or failed in torch.
    logits, y = torch.zeros(3, 2), torch.tensor([0, 1, 0])
    torch.testing.assert_close(
        acceptance_probability(logits, y, 0.5, M=M, hardness=hardness),
        acceptance_probability(logits, y, 0.5, M=2.0, hardness=hardness),
    )


def test_weights_keyed_by_column_index_refuse_other_keys():
    # Classes given as a number are columns: a key beyond them names none.
    from rsft_sklearn import correct_proba

    y = np.array([0, 1, 1])
    with pytest.raises(ValueError, match=r"classes 0 to 1 and to no other; got \[2\]"):
        class_target_weight(y, 2, {0: 1.0, 1: 2.0, 2: 9.0})
    with pytest.raises(ValueError, match="to no other"):
        correct_proba(np.array([[0.5, 0.5]]), {0: 0.1, 1: 1.0, 2: 5.0}, M=1.0)


def test_complex_logits_are_refused():
    # The casts dropped the imaginary part.
    logits, y = torch.zeros(2, 2, dtype=torch.complex64), torch.tensor([0, 1])
    for function in (true_class_log_proba, acceptance_probability):
        args = (logits, y) if function is true_class_log_proba else (logits, y, 0.5)
        with pytest.raises(TypeError, match="floating-point tensor"):
            function(*args)
