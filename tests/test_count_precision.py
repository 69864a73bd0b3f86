"""The epoch's per-class sums of RejectionLoss (rows seen, accepted, the
acceptance mass of the prior after rejection) add up exactly over long
epochs: they are float64 where the device has it."""

import copy
import io
import pickle

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from rsft_sklearn import RejectionLoss, RSFTClassifier


def _record_ones(loss, label, n, chunk=1 << 22):
    """Record ``n`` rows of class ``label``, each accepted, in large batches."""
    while n:
        size = min(n, chunk)
        ones = torch.ones(size)
        loss.record(torch.full((size,), label, dtype=torch.long), ones, ones)
        loss.flush_counts()
        n -= size


def test_seen_counts_every_row_past_2_to_the_24():
    # float32 stopped counting at 2**24 = 16,777,216 rows of a class (a 20M
    # row epoch held 16,777,216 of its 19,799,587 rows of one class).
    loss = RejectionLoss(n_classes=2)
    _record_ones(loss, 0, 2**24 + 1001)
    _record_ones(loss, 1, 7)
    statistics = loss.epoch_statistics()
    assert statistics["seen"].tolist() == [2**24 + 1001, 7]
    assert statistics["accepted"].tolist() == [2**24 + 1001, 7]
    assert statistics["acceptance"].tolist() == [2**24 + 1001, 7]


def test_acceptance_mass_of_a_long_batch_is_the_exact_sum():
    # 900,000 rows of one class, added row by row in float32, held a mass 1%
    # below the sum of their acceptances (98,985.8 for 99,972.3).
    generator = torch.Generator().manual_seed(0)
    n = 900_000
    acceptance = 0.1 + 0.01 * torch.rand(n, generator=generator)
    y = torch.zeros(n, dtype=torch.long)
    y[::9] = 1
    mask = (torch.rand(n, generator=generator) < acceptance).float()
    loss = RejectionLoss(n_classes=2)
    loss.record(y, mask, acceptance)
    statistics = loss.epoch_statistics()
    exact = acceptance.double()
    for k in (0, 1):
        assert float(statistics["acceptance"][k]) == pytest.approx(
            float(exact[y == k].sum()), rel=1e-9
        )
        assert float(statistics["accepted"][k]) == float(mask[y == k].sum())


def test_prior_after_rejection_of_a_long_epoch_is_the_exact_share():
    # The logit adjustment (prior_correction) reads the acceptance mass at
    # every step: the share it removed drifted with the lost additions. The
    # rule's own acceptances of one large batch (those of the reproducer).
    n = 1_000_000
    loss = RejectionLoss(
        n_classes=2,
        class_weight=[0.1, 1.0],
        rejection="expected",
        prior_correction=1.0,
    ).train()
    logits = torch.zeros(n, 2)
    y = torch.zeros(n, dtype=torch.long)
    y[: n // 10] = 1
    logits[n // 10 :, 0] = 2.2
    acceptance = loss.current_acceptance(logits, y).double()
    loss(logits, y)
    mass = [float(acceptance[y == k].sum()) for k in (0, 1)]
    held = loss.epoch_statistics()["acceptance"].tolist()
    assert held == pytest.approx(mass, rel=1e-9)
    loss.begin_epoch()
    assert loss.prior_mass.tolist() == pytest.approx(mass, rel=1e-9)
    share = np.log(np.array(mass) / sum(mass))
    # Returned in float32, the dtype of the logits it shifts.
    log_prior = loss.log_prior_after_rejection()
    assert log_prior.dtype == torch.float32
    np.testing.assert_allclose(log_prior.numpy(), share, rtol=1e-6)


def test_a_state_saved_with_float32_sums_loads_with_its_values():
    # States saved before the sums were float64 (or on MPS, which keeps
    # them in float32) load into the float64 buffers, values unchanged,
    # and go on adding up exactly.
    source = RejectionLoss(n_classes=3, rejection="expected")
    source.record(
        torch.tensor([0, 1, 2, 2]),
        torch.tensor([0.3, 0.7, 0.1, 0.9]),
        torch.tensor([0.3, 0.7, 0.1, 0.9]),
    )
    source.set_class_prior([0.25, 0.5, 0.25])
    state = source.state_dict()
    state["counts"] = state["counts"].float()
    state["prior_mass"] = state["prior_mass"].float()
    for assign in (False, True):
        loss = RejectionLoss(n_classes=1, rejection="expected")
        loss.load_state_dict(copy.deepcopy(state), assign=assign)
        assert loss.counts.dtype == loss.prior_mass.dtype == torch.float64
        assert torch.equal(loss.counts, state["counts"].double())
        assert torch.equal(loss.prior_mass, state["prior_mass"].double())
    _record_ones(loss, 2, 2**24)
    assert float(loss.epoch_statistics()["seen"][2]) == 2**24 + 2


def test_a_float64_state_round_trips_through_save_and_load():
    loss = RejectionLoss(n_classes=2, rejection="expected")
    third = torch.full((3,), 1 / 3, dtype=torch.float64).float()
    loss.record(torch.tensor([0, 1, 1]), third, third)
    buffer = io.BytesIO()
    torch.save(loss.state_dict(), buffer)
    buffer.seek(0)
    other = RejectionLoss(n_classes=2, rejection="expected")
    other.load_state_dict(torch.load(buffer))
    assert other.counts.dtype == torch.float64
    assert torch.equal(other.counts, loss.counts)


@pytest.mark.parametrize(
    "convert",
    [
        lambda m: m.half(),
        lambda m: m.bfloat16(),
        lambda m: m.float(),
        lambda m: m.double(),
        lambda m: m.to("cpu"),
        lambda m: m.to(torch.float16),
    ],
    ids=["half", "bfloat16", "float", "double", "to_cpu", "to_float16"],
)
def test_a_conversion_of_the_module_keeps_the_sums_in_float64(convert):
    loss = RejectionLoss(n_classes=2, rejection="expected", prior_correction=1.0)
    loss.set_class_prior([0.9, 0.1])
    value = torch.tensor([0.1, 0.2, 0.3], dtype=torch.float64).float()
    loss.record(torch.tensor([0, 0, 1]), value, value)
    loss.flush_counts()
    before = {name: getattr(loss, name).clone() for name in ("counts", "prior_mass")}
    convert(loss)
    for name, value in before.items():
        assert getattr(loss, name).dtype == torch.float64, name
        assert torch.equal(getattr(loss, name), value), name
    assert loss.class_weight.dtype == loss.M.dtype == torch.float32


def test_a_loss_pickled_with_float32_sums_goes_on_in_float64():
    loss = RejectionLoss(n_classes=2)
    _record_ones(loss, 0, 2**24)
    # As a loss pickled before the sums were float64 holds them.
    for name in ("counts", "prior_mass"):
        loss._buffers[name] = loss._buffers[name].float()
    restored = pickle.loads(pickle.dumps(loss))
    assert restored.counts.dtype == restored.prior_mass.dtype == torch.float64
    _record_ones(restored, 0, 3)
    assert restored.epoch_statistics()["seen"].tolist() == [2**24 + 3, 0]


def test_process_sum_sums_the_float64_counts():
    # The all-reduce receives the sums as they are, in float64: two
    # processes of the same rows, past float32's 2**24.
    received = []

    def process_sum(tensor):
        received.append(tensor.dtype)
        return tensor * 2

    loss = RejectionLoss(n_classes=2, process_sum=process_sum)
    _record_ones(loss, 1, 2**23 + 1)
    assert loss.epoch_statistics()["seen"].tolist() == [0, 2**24 + 2]
    assert received == [torch.float64]


def test_the_estimator_keeps_its_trained_rows_and_rates_in_float64():
    # _trained_rows and the acceptance rates add up over the calls of
    # continued training: they were float32.
    X, y = make_classification(
        n_samples=120, n_features=4, weights=[0.8], random_state=0
    )
    est = RSFTClassifier(
        max_epochs=2, batch_size=32, random_state=0, prior_correction=1.0
    )
    est.fit(X, y)
    assert est.criterion_.counts.dtype == torch.float64
    assert est._trained_rows.dtype == est._acceptance_rates.dtype == np.float64
    np.testing.assert_array_equal(est._trained_rows, np.bincount(y))
    est.partial_fit(X, y)
    np.testing.assert_array_equal(est._trained_rows, 2 * np.bincount(y))
    restored = pickle.loads(pickle.dumps(est))
    assert restored.criterion_.counts.dtype == torch.float64
    np.testing.assert_array_equal(
        restored.predict_proba(X[:10]), est.predict_proba(X[:10])
    )
