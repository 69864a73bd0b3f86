"""Adaptive M (M="auto") and schedules of M and hardness."""

import pickle

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.base import clone
from sklearn.datasets import make_classification

from rsft_sklearn import CosineRamp, LinearRamp, RejectionLoss, RSFTClassifier
from rsft_sklearn._schedules import acceptance_log_M


def _mean_acceptance(log_score, log_M):
    return torch.clamp(torch.exp(log_score - log_M), max=1.0).mean()


# ----------------------------------------------------------------------
# The per-batch solve
# ----------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.floats(-12.0, 12.0, allow_nan=False), min_size=1, max_size=200),
    target=st.floats(0.01, 1.0),
)
def test_solve_hits_the_target(scores, target):
    s = torch.tensor(scores)
    log_M = acceptance_log_M(s, target)
    assert float(_mean_acceptance(s, log_M)) == pytest.approx(target, abs=1e-4)


def test_solve_accepts_everything_at_target_one():
    s = torch.tensor([0.3, -2.0, -5.0, 1.0])
    log_M = acceptance_log_M(s, 1.0)
    assert float(log_M) == pytest.approx(-5.0, abs=1e-5)
    assert torch.all(torch.exp(s - log_M) >= 1 - 1e-5)


def test_solve_with_zero_weights_accepts_what_it_can():
    # Two samples of weight 0 are never accepted and are left out of the
    # rate: at a target of 1 the other two are accepted surely, without NaN.
    log_score = torch.log(torch.tensor([0.0, 0.0, 0.5, 0.2]))
    log_M = acceptance_log_M(log_score, 1.0)
    acceptance = torch.clamp(torch.exp(log_score - log_M), max=1.0)
    assert torch.equal(acceptance, torch.tensor([0.0, 0.0, 1.0, 1.0]))
    # At the largest M that accepts them (the smallest of their scores), not
    # at the floor of log M, which the smoothing would carry into the next
    # batches.
    assert float(log_M) == pytest.approx(np.log(0.2), abs=1e-6)
    # The target is the mean over the two of positive weight.
    half = acceptance_log_M(log_score, 0.25)
    assert float(_mean_acceptance(log_score[2:], half)) == pytest.approx(0.25, abs=1e-6)


def test_a_batch_of_many_zero_weights_does_not_derail_adaptive_M():
    # A quarter of the first batch weighs 0: its other rows hold the target
    # of 0.9 (they were all accepted, at a log M that a mean over every row
    # could not lift to it), and the next batches, without weights, hold it.
    torch.manual_seed(0)
    logits, y = torch.randn(64, 3) * 2, torch.randint(0, 3, (64,))
    weight = torch.ones(64)
    weight[:16] = 0
    loss_fn = RejectionLoss(
        class_weight=[0.2, 1.0, 0.5], M="auto", target_acceptance=0.9, smoothing=1.0
    )
    loss_fn.select(logits, y, weight)
    acceptance = loss_fn.select(logits, y, weight)[2]
    assert float(acceptance[16:].mean()) == pytest.approx(0.9, abs=1e-5)
    assert float(acceptance[:16].max()) == 0.0
    assert float(loss_fn.log_M) > -10
    loss_fn.smoothing = 0.5
    rates = [
        float(
            loss_fn.select(torch.randn(64, 3) * 2, torch.randint(0, 3, (64,)))[2].mean()
        )
        for _ in range(8)
    ]
    # The floor of log M (-80) made the next 8 batches accept all their rows.
    assert max(rates) < 0.995
    assert np.mean(rates[2:]) == pytest.approx(0.9, abs=0.04)


def test_adaptive_M_smooths_after_the_first_batch():
    loss_fn = RejectionLoss(
        class_weight=[1 / 3, 1.0], M="auto", target_acceptance=0.5, smoothing=0.25
    )
    loss_fn.begin_epoch()
    y = torch.tensor([0, 0, 0, 1])
    loss_fn.select(torch.zeros(4, 2), y)
    first = float(loss_fn.log_M.exp())
    assert first == pytest.approx(2.0)
    # A batch whose own solution is M = 4 moves log M a quarter of the way.
    loss_fn.select(torch.zeros(4, 2), y, sample_weight=torch.full((4,), 2.0))
    second = float(loss_fn.log_M.exp())
    assert second == pytest.approx(np.exp(0.75 * np.log(2) + 0.25 * np.log(4)))
    epoch_M = float(loss_fn.epoch_statistics()["M"])
    assert epoch_M == pytest.approx(np.sqrt(first * second))


def test_rejection_step_reads_nothing_on_the_host(monkeypatch, no_host_reads):
    # The optimiser is left out: on CPU, torch's Adam reads its step count
    # with .item(), which on an accelerator stays on the device.
    X, y = make_classification(n_samples=200, weights=[0.8], random_state=0)
    clf = RSFTClassifier(
        M="auto", target_acceptance=0.4, max_epochs=2, random_state=0, **SAMPLE_RULE
    )
    original = RejectionLoss.select
    calls = []

    def guarded(self, logits, y, sample_weight=None):
        calls.append(len(y))
        with no_host_reads():
            return original(self, logits, y, sample_weight)

    monkeypatch.setattr(RejectionLoss, "select", guarded)
    clf.fit(X, y)
    assert sum(calls) == 2 * len(y)
    assert np.isfinite(clf.history[-1, "M_effective"])


# ----------------------------------------------------------------------
# The classifier holds the rate
# ----------------------------------------------------------------------
def _data(kind):
    if kind == "balanced":
        return make_classification(n_samples=800, n_features=8, random_state=0)
    if kind == "IR 9":
        return make_classification(
            n_samples=1000, n_features=8, weights=[0.9], flip_y=0, random_state=1
        )
    if kind == "IR 50":
        return make_classification(
            n_samples=1200, n_features=8, weights=[0.98], flip_y=0, random_state=2
        )
    # Four classes from 60 % down to 4 %.
    return make_classification(
        n_samples=1200,
        n_features=8,
        n_informative=5,
        n_classes=4,
        weights=[0.6, 0.25, 0.11, 0.04],
        flip_y=0,
        random_state=3,
    )


@pytest.mark.parametrize(
    "kind, target, rejection",
    [
        ("balanced", 0.2, "sample"),
        ("balanced", 0.8, "expected"),
        ("IR 9", 0.5, "sample"),
        ("IR 9", 0.15, "expected"),
        ("IR 50", 0.2, "sample"),
        ("IR 50", 0.85, "sample"),
        ("4 classes", 0.5, "sample"),
        ("4 classes", 0.9, "expected"),
    ],
)
def test_acceptance_rate_holds_the_target(kind, target, rejection):
    X, y = _data(kind)
    clf = RSFTClassifier(
        M="auto",
        target_acceptance=target,
        rejection=rejection,
        warmup_epochs=0,
        max_epochs=4,
        batch_size=64,
        lr=1e-2,
        random_state=0,
    ).fit(X, y)
    rates = np.asarray(clf.history[1:, "acceptance_rate"])
    assert np.all(np.abs(rates - target) <= 0.05), rates
    M = np.asarray(clf.history[:, "M_effective"])
    assert np.all(np.isfinite(M)) and np.all(M > 0)
    assert clf.final_M_ == M[-1]


def test_adaptive_M_follows_the_model():
    # As the model learns, p grows and the same M would accept less; the
    # adaptive M has to fall to keep the rate.
    X, y = _data("IR 9")
    clf = RSFTClassifier(
        M="auto",
        target_acceptance=0.5,
        max_epochs=6,
        lr=1e-2,
        random_state=0,
        **SAMPLE_RULE,
    ).fit(X, y)
    M = clf.history[:, "M_effective"]
    assert M[-1] < M[0]


def test_warmup_epochs_record_no_M():
    X, y = _data("IR 9")
    clf = RSFTClassifier(
        M="auto",
        target_acceptance=0.5,
        rejection="sample",
        warmup_epochs=2,
        max_epochs=4,
        random_state=0,
    ).fit(X, y)
    M = clf.history[:, "M_effective"]
    assert np.isnan(M[0]) and np.isnan(M[1])
    assert np.isfinite(M[2]) and np.isfinite(M[3])
    assert clf.history[0, "acceptance_rate"] == 1.0


def test_adaptive_M_is_reproducible_and_clonable():
    X, y = _data("IR 9")
    clf = RSFTClassifier(
        M="auto", target_acceptance=0.3, max_epochs=3, random_state=0, **SAMPLE_RULE
    )
    first = clone(clf).fit(X, y)
    second = pickle.loads(pickle.dumps(clone(clf))).fit(X, y)
    np.testing.assert_array_equal(
        first.history[:, "M_effective"], second.history[:, "M_effective"]
    )
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert "fit_state_" not in vars(first)


@pytest.mark.parametrize(
    "params, error",
    [
        ({"M": "auto"}, "target_acceptance"),
        ({"M": "auto", "target_acceptance": 0.0}, "target_acceptance"),
        ({"M": "auto", "target_acceptance": 1.5}, "target_acceptance"),
        ({"M": "often"}, "'M' parameter"),
    ],
)
def test_bad_adaptive_settings(params, error):
    X, y = _data("IR 9")
    with pytest.raises(ValueError, match=error):
        RSFTClassifier(max_epochs=1, **params).fit(X, y)


# ----------------------------------------------------------------------
# Schedules
# ----------------------------------------------------------------------
def test_ramps():
    linear = LinearRamp(1.0, 3.0, n_epochs=4, delay=2)
    assert [linear(e) for e in range(8)] == [1.0, 1.0, 1.0, 1.5, 2.0, 2.5, 3.0, 3.0]
    cosine = CosineRamp(1.0, 3.0, n_epochs=4)
    values = [cosine(e) for e in range(6)]
    assert values[0] == 1.0 and values[4] == values[5] == 3.0
    assert values[2] == pytest.approx(2.0)
    # Slower than the straight line at the start, faster in the middle.
    assert values[1] - values[0] < 0.5 < values[2] - values[1]
    assert LinearRamp(2.0, 0.5, n_epochs=1)(1) == 0.5
    assert repr(linear) == "LinearRamp(1.0, 3.0, n_epochs=4, delay=2)"
    assert linear == LinearRamp(1, 3, 4, delay=2) != CosineRamp(1, 3, 4, delay=2)


@pytest.mark.parametrize(
    "args, error",
    [
        ((1.0, 2.0, 0), ValueError),
        ((1.0, 2.0, 2.5), ValueError),
        ((1.0, float("inf"), 3), TypeError),
        (("1", 2.0, 3), TypeError),
        # bools were read as 1 (M and hardness refuse them)
        ((True, 2.0, 3), TypeError),
        # OverflowError from math.isfinite
        ((10**400, 2.0, 3), TypeError),
        ((1.0, 2.0, True), ValueError),
    ],
)
def test_bad_ramps(args, error):
    with pytest.raises(error):
        LinearRamp(*args)
    with pytest.raises(ValueError, match="delay"):
        LinearRamp(1.0, 2.0, 3, delay=-1)
    with pytest.raises(ValueError, match="delay must be an integer >= 0, got True"):
        LinearRamp(1.0, 2.0, 3, delay=True)


def test_M_and_hardness_follow_their_schedules():
    X, y = _data("IR 9")
    clf = RSFTClassifier(
        M=LinearRamp(0.5, 2.0, n_epochs=3),
        hardness=lambda epoch: 0.0 if epoch < 2 else 1.0,
        max_epochs=5,
        random_state=0,
        **SAMPLE_RULE,
    ).fit(X, y)
    np.testing.assert_allclose(clf.history[:, "M_effective"], [0.5, 1.0, 1.5, 2.0, 2.0])
    assert clf.final_M_ == 2.0 and clf.final_hardness_ == 1.0
    # With hardness 0 and M 0.5 the rare class (weight 1) is accepted surely.
    assert clf.history[0, "acceptance_rate[1]"] == 1.0
    refit = clone(clf).fit(X, y)
    np.testing.assert_array_equal(
        refit.history[:, "acceptance_rate"], clf.history[:, "acceptance_rate"]
    )


def test_schedule_with_bad_values_names_the_epoch():
    X, y = _data("IR 9")
    with pytest.raises(ValueError, match=r"M\(2\) = -1.0"):
        RSFTClassifier(M=lambda e: 1.0 if e < 2 else -1.0, max_epochs=4).fit(X, y)
    with pytest.raises(TypeError, match="hardness"):
        RSFTClassifier(hardness=lambda e: "hard", max_epochs=1).fit(X, y)
    # Values beyond the float32 range the rule keeps them in: the message
    # named neither the epoch nor the schedule.
    with pytest.raises(ValueError, match=r"Epoch 2 \(counted from 0\).*M is 1e\+40"):
        RSFTClassifier(M=lambda e: 1.0 if e < 2 else 1e40, max_epochs=4).fit(X, y)
    with pytest.raises(ValueError, match=r"Epoch 1 .*hardness is 1e\+39"):
        RSFTClassifier(hardness=lambda e: 1e39 * e, max_epochs=3).fit(X, y)


def test_a_ramp_between_values_near_the_float_range_starts_and_ends_there():
    # end - start overflowed, and inf * 0 made every value NaN, epoch 0 too.
    ramp = LinearRamp(1e308, -1e308, n_epochs=4)
    assert [ramp(e) for e in (0, 2, 4)] == [1e308, 0.0, -1e308]


@pytest.mark.parametrize(
    "returned",
    ["2.5", True, np.array([2.0, 3.0]), torch.tensor([2.0, 1.0]), None, 2 + 0j],
)
def test_schedule_must_return_one_real_number(returned):
    # A string that float() reads ("2.5") was taken as M = 2.5, while
    # M="2.5" given directly is refused; True was taken as M = 1.
    X, y = _data("IR 9")
    clf = RSFTClassifier(M=lambda e: returned, max_epochs=1, warmup_epochs=0)
    with pytest.raises(TypeError, match=r"must return a real number for epoch 0"):
        clf.fit(X, y)


@pytest.mark.parametrize(
    "returned",
    [2, np.float32(2.0), np.array(2.0), torch.tensor(2.0), torch.tensor([2.0])],
)
def test_schedule_may_return_any_real_scalar(returned):
    X, y = _data("IR 9")
    clf = RSFTClassifier(
        M=lambda e: returned, max_epochs=1, warmup_epochs=0, random_state=0
    ).fit(X, y)
    assert clf.history[0, "M_effective"] == 2.0


@pytest.mark.parametrize("bad", [float("inf"), float("nan")])
def test_a_non_finite_batch_leaves_M_as_it_was(bad):
    # A batch of overflowed logits (which a mixed-precision scaler skips)
    # once made log M NaN for good, and every later loss 0.
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = RejectionLoss(
        n_classes=3, M="auto", target_acceptance=0.5, rejection="expected"
    )
    loss(torch.randn(6, 3, generator=torch.Generator().manual_seed(0)), y)
    before = loss.log_M.clone(), loss.epoch_log_M.clone()
    assert not torch.isfinite(loss(torch.full((6, 3), bad), y))
    assert torch.equal(loss.log_M, before[0])
    assert torch.equal(loss.epoch_log_M, before[1])
    later = loss(torch.randn(6, 3, generator=torch.Generator().manual_seed(1)), y)
    assert torch.isfinite(later) and later > 0
    assert torch.isfinite(loss.log_M) and not torch.equal(loss.log_M, before[0])
    # Before any finite batch: M is not started, and the first finite one
    # sets it.
    fresh = RejectionLoss(
        n_classes=3, M="auto", target_acceptance=0.5, rejection="expected"
    )
    fresh(torch.full((6, 3), bad), y)
    assert not bool(fresh.M_started) and float(fresh.log_M) == 0.0
    assert fresh(torch.randn(6, 3), y) > 0 and bool(fresh.M_started)


def test_adaptive_M_on_an_empty_batch():
    loss = RejectionLoss(n_classes=3, M="auto", target_acceptance=0.5)
    out = loss(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long))
    assert float(out) == 0.0 and not bool(loss.M_started)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_adaptive_M_in_another_dtype(dtype):
    # A loss moved to another precision (.half(), .to(dtype)) keeps its state
    # (M among it) in float32; the solve once handed torch.lerp a float32
    # end and crashed.
    loss = RejectionLoss(
        n_classes=3, M="auto", target_acceptance=0.5, rejection="expected"
    ).to(dtype)
    y = torch.tensor([0, 1, 2, 0])
    generator = torch.Generator().manual_seed(0)
    for _ in range(3):
        out = loss(torch.randn(4, 3, generator=generator).to(dtype), y)
        assert torch.isfinite(out)
    assert loss.log_M.dtype == torch.float32 and bool(loss.M_started)
    assert torch.isfinite(loss.log_M)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_state_keeps_its_precision_in_a_half_precision_loss(dtype):
    # The counts and the step count of M followed the module's dtype: past
    # 2,048 rows (bfloat16: 256) they no longer added up, a float16 class
    # count became inf past 65,504 rows and the logit adjustment NaN, and the
    # epoch's M, averaged over a stalled step count, read 54.5 for an M of 9.
    loss = RejectionLoss(
        n_classes=2,
        M="auto",
        target_acceptance=0.3,
        rejection="expected",
        prior_correction=1.0,
    ).to(dtype)
    loss.set_class_prior([0.9, 0.1])
    generator = torch.Generator().manual_seed(0)
    y = torch.tensor([0] * 120 + [1] * 8)
    for _ in range(600):
        logits = torch.randn(len(y), 2, generator=generator).to(dtype)
        assert torch.isfinite(loss(logits, y))
    statistics = loss.epoch_statistics()
    assert statistics["seen"].tolist() == [72000.0, 4800.0]
    # The counts are summed in float64 (float32 loses additions past 2**24).
    assert loss._buffers["counts"].dtype == torch.float64
    assert loss._buffers["M"].dtype == torch.float32
    assert float(loss.epoch_log_M[1]) == 600
    assert float(statistics["M"]) == pytest.approx(
        float(torch.exp(loss.log_M)), rel=0.1
    )


def test_a_batch_of_zero_weights_leaves_adaptive_M_as_it_was():
    # Its log M was solved at the floor of the scores (-18.4 from 2.1), and
    # the next batches accepted every row.
    loss = RejectionLoss(n_classes=2, M="auto", target_acceptance=0.3)
    generator = torch.Generator().manual_seed(0)
    y = torch.tensor([0, 1] * 16)
    for _ in range(5):
        loss(torch.randn(32, 2, generator=generator), y)
    before = loss.log_M.clone()
    loss(torch.randn(32, 2, generator=generator), y, torch.zeros(32))
    assert torch.equal(loss.log_M, before)
