"""Properties of the pure rejection rule, checked with hypothesis.

The rule is ``a = min(1, w / (M * p ** hardness))`` with ``p`` the softmax
probability of the true class. Every property below holds for all inputs in
the stated domain, logits anywhere in the float32 range included.
"""

import math

import numpy as np
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from rsft_sklearn import (
    acceptance_probability,
    class_target_weight,
    rejection_mask,
    true_class_log_proba,
)

F32 = np.finfo(np.float32)
F16 = np.finfo(np.float16)

# Weights and M span the normal float32 range; below it a weight rounds to 0
# in float32, which the rule excludes (w > 0).
weights = st.floats(float(np.float32(1e-30)), 1.0, width=32)
envelopes = st.floats(float(np.float32(1e-30)), float(np.float32(1e30)), width=32)
# 0, or at least 1e-30 (the rule computes hardness * log p in float32;
# acceptance_probability refuses smaller positive values).
hardnesses = st.one_of(st.just(0.0), st.floats(1e-30, 8.0))
float32_logits = st.floats(-float(F32.max), float(F32.max), width=32)
float16_logits = st.floats(-float(F16.max), float(F16.max), width=16)


@st.composite
def batches(draw, elements=float32_logits, max_rows=6, max_classes=5):
    """Logits, labels and target weights of a random batch."""
    n = draw(st.integers(1, max_rows))
    k = draw(st.integers(2, max_classes))
    logits = draw(arrays(np.float32, (n, k), elements=elements))
    y = draw(arrays(np.int64, n, elements=st.integers(0, k - 1)))
    w = draw(arrays(np.float32, n, elements=weights))
    return torch.from_numpy(logits), torch.from_numpy(y), torch.from_numpy(w)


def _valid(a):
    return bool(torch.isfinite(a).all() and (a >= 0).all() and (a <= 1).all())


@settings(max_examples=120, deadline=None)
@given(batch=batches(), M=envelopes, hardness=hardnesses)
def test_acceptance_is_a_probability_for_any_float32_logits(batch, M, hardness):
    logits, y, w = batch
    a = acceptance_probability(logits, y, w, M, hardness)
    assert a.dtype == torch.float32 and a.shape == y.shape
    assert _valid(a)
    log_p = true_class_log_proba(logits, y)
    assert torch.isfinite(log_p).all() and (log_p <= 0).all()


@settings(max_examples=80, deadline=None)
@given(
    batch=batches(elements=float16_logits),
    dtype=st.sampled_from([torch.float16, torch.bfloat16]),
    M=envelopes,
    hardness=hardnesses,
)
def test_acceptance_is_a_probability_for_half_precision_logits(
    batch, dtype, M, hardness
):
    logits, y, w = batch
    half = logits.to(dtype)
    assume(torch.isfinite(half).all())
    a = acceptance_probability(half, y, w, M, hardness)
    assert a.dtype == torch.float32
    assert _valid(a)
    # Half-precision logits are read as the float32 numbers they stand for.
    torch.testing.assert_close(
        a, acceptance_probability(half.float(), y, w, M, hardness), rtol=0, atol=0
    )


@settings(max_examples=60, deadline=None)
@given(batch=batches(), M1=envelopes, M2=envelopes, hardness=hardnesses)
def test_acceptance_does_not_increase_with_M(batch, M1, M2, hardness):
    logits, y, w = batch
    low, high = sorted((M1, M2))
    a_low = acceptance_probability(logits, y, w, low, hardness)
    a_high = acceptance_probability(logits, y, w, high, hardness)
    assert (a_high <= a_low).all()


@settings(max_examples=60, deadline=None)
@given(
    batch=batches(),
    scale=st.floats(0.0, 1.0, width=32),
    M=envelopes,
    hardness=hardnesses,
)
def test_acceptance_does_not_decrease_with_w(batch, scale, M, hardness):
    logits, y, w = batch
    smaller = w * scale
    assume(bool((smaller > 0).all()))
    a_small = acceptance_probability(logits, y, smaller, M, hardness)
    a_large = acceptance_probability(logits, y, w, M, hardness)
    assert (a_small <= a_large).all()


@settings(max_examples=60, deadline=None)
@given(
    other=arrays(np.float32, 4, elements=st.floats(-60.0, 60.0, width=32)),
    z1=st.floats(-60.0, 60.0, width=32),
    z2=st.floats(-60.0, 60.0, width=32),
    w=weights,
    M=envelopes,
    hardness=hardnesses,
)
def test_acceptance_does_not_increase_with_p(other, z1, z2, w, M, hardness):
    # Raising the true-class logit with the others fixed raises p; within
    # float32 rounding of log_softmax the acceptance must not rise. The
    # logits stay where log_softmax is accurate to a few ulp.
    low, high = sorted((z1, z2))
    logits = torch.tensor(np.stack([other, other]))
    logits[0, 0], logits[1, 0] = low, high
    y = torch.zeros(2, dtype=torch.long)
    log_p = true_class_log_proba(logits, y)
    assert log_p[1] >= log_p[0] - 1e-5
    a = acceptance_probability(logits, y, torch.full((2,), w), M, hardness)
    assert a[1] <= a[0] * (1 + 1e-4 * max(hardness, 1.0)) + 1e-7


@settings(max_examples=60, deadline=None)
@given(
    batch=batches(),
    other=arrays(np.float32, (6, 5), elements=float32_logits),
    M=envelopes,
)
def test_hardness_zero_ignores_the_model(batch, other, M):
    logits, y, w = batch
    other = torch.from_numpy(other[: logits.shape[0], : logits.shape[1]])
    a = acceptance_probability(logits, y, w, M, 0.0)
    assert torch.equal(a, acceptance_probability(other, y, w, M, 0.0))
    expected = torch.clamp(w.double() / M, max=1.0).float()
    torch.testing.assert_close(a, expected, rtol=1e-5, atol=0)


@settings(max_examples=50, deadline=None)
@given(batch=batches(), M=envelopes, hardness=hardnesses)
def test_acceptance_matches_the_formula_in_float64(batch, M, hardness):
    # Where the formula itself is representable, the log-space computation
    # agrees with it.
    logits, y, w = batch
    p = torch.softmax(logits.double(), dim=1).gather(1, y[:, None]).squeeze(1)
    assume(bool((p > 1e-30).all()))
    expected = torch.clamp(w.double() / (M * p**hardness), max=1.0)
    a = acceptance_probability(logits, y, w, M, hardness)
    torch.testing.assert_close(a.double(), expected, rtol=2e-4, atol=1e-6)


# The statistical test below fails with probability below 1e-6 in total:
# every (example, entry) pair and the overall mean get a share of it through a
# union bound, and each share comes from Hoeffding's inequality for the mean
# of N independent Bernoulli draws, P(|mean - a| > t) <= 2 exp(-2 N t^2).
N_DRAWS = 20_000
N_ENTRIES = 48
N_EXAMPLES = 20
FAILURE = 1e-6


def _hoeffding_radius(n_draws, delta):
    return math.sqrt(math.log(2.0 / delta) / (2.0 * n_draws))


@settings(max_examples=N_EXAMPLES, deadline=None, database=None)
@given(
    acceptance=arrays(np.float32, N_ENTRIES, elements=st.floats(0.0, 1.0, width=32)),
    seed=st.integers(0, 2**31 - 1),
)
def test_expected_mask_equals_acceptance(acceptance, seed):
    a = torch.from_numpy(acceptance)
    g = torch.Generator().manual_seed(seed)
    masks = rejection_mask(a.expand(N_DRAWS, N_ENTRIES), generator=g)
    assert masks.dtype == torch.float32
    assert ((masks == 0) | (masks == 1)).all()
    # Probability 0 is never accepted and probability 1 always is.
    assert (masks[:, a == 0] == 0).all() and (masks[:, a == 1] == 1).all()

    delta = FAILURE / (N_EXAMPLES * (N_ENTRIES + 1))
    mean = masks.double().mean(dim=0)
    t_entry = _hoeffding_radius(N_DRAWS, delta)
    assert (mean - a.double()).abs().max() <= t_entry
    t_total = _hoeffding_radius(N_DRAWS * N_ENTRIES, delta)
    assert abs(mean.mean() - a.double().mean()) <= t_total


@settings(max_examples=50, deadline=None)
@given(
    counts=arrays(np.int64, st.integers(2, 6), elements=st.integers(0, 1000)),
    target=st.sampled_from(["balanced", "uniform"]),
)
def test_class_target_weight_is_normalised(counts, target):
    assume(counts.sum() > 0)
    y = np.repeat(np.arange(len(counts)), counts)
    weight = class_target_weight(y, len(counts), target)
    assert weight.shape == counts.shape
    assert np.all(weight > 0) and weight.max() == 1.0
    present = counts > 0
    if target == "balanced":
        # Inverse frequency: w_k * n_k is the same for every present class.
        product = weight[present] * counts[present]
        np.testing.assert_allclose(product, product[0], rtol=1e-12)
    else:
        np.testing.assert_array_equal(weight, 1.0)
