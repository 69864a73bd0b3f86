"""``M="auto"`` at the bound of its range: the steps held there are counted.

``log M`` is clipped to ``[-80, 80]``. Where the rule's scores span more (a
large ``hardness``), a step's solution is held at the bound and its rate
misses ``target_acceptance``; the loss counts those steps on the device and
the estimator warns when they are most of an epoch's.
"""

import math
import pickle
import re
import warnings

import numpy as np
import pytest
import torch
from test_sync import _count, _rsft

from rsft_sklearn import RejectionLoss, RSFTClassifier


def _three_clusters():
    rng = np.random.RandomState(0)
    counts = [160, 40, 10]
    X = np.vstack([rng.randn(c, 4) * 0.3 + 3 * k for k, c in enumerate(counts)])
    return X.astype(np.float32), np.repeat([0, 1, 2], counts)


def _bound_warnings(records):
    return [str(r.message) for r in records if "bound of its range" in str(r.message)]


def _fit_at_the_bound(sample_weight=None, **params):
    """A fit whose M="auto" solves beyond exp(80) (hardness 200), and the
    bound warnings it gave."""
    X, y = _three_clusters()
    params = {
        "M": "auto",
        "target_acceptance": 0.05,
        "hardness": 200.0,
        "max_epochs": 4,
        "warmup_epochs": 2,
        "random_state": 0,
        "lr": 1e-2,
        "batch_size": 32,
        **params,
    }
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        clf = RSFTClassifier(**params).fit(X, y, sample_weight=sample_weight)
    return clf, _bound_warnings(records)


def test_bound_warning_when_most_steps_are_held_at_the_bound():
    # 210 rows in batches of 32: six full batches solve for an M beyond
    # exp(80) and the short seventh inside the range, which moved the
    # running log M to 78.3 (smoothing 0.25): the epoch's mean log M was
    # 79.76 and 79.37, under the 79.9 that the warning looked for, while the
    # rate was 0.205 and 0.177 against a target of 0.05, without a word.
    clf, (message,) = _fit_at_the_bound()
    rates = clf.history[:, "acceptance_rate"]
    log_M = [math.log(M) for M in clf.history[2:, "M_effective"]]
    assert all(3 < rate / 0.05 < 5 for rate in rates[2:])
    assert all(79 < value < 79.9 for value in log_M)
    assert message.startswith(
        'M="auto" stayed at the upper bound of its range, exp(80), in epoch 3 '
        "(6 of its 7 steps solved for an M beyond it): its acceptance rate "
    )
    # The rule's mean acceptance, which the history's rate equals under
    # "expected", and how far it is from the target.
    shown = re.search(r"acceptance rate ([\d.]+), ([\d.]+) times the target", message)
    assert float(shown[1]) == pytest.approx(rates[2], rel=5e-3)
    assert float(shown[2]) == pytest.approx(rates[2] / 0.05, rel=0.03)
    assert "cannot follow target_acceptance=0.05. " in message
    # Every step of the last epoch solved beyond the bound.
    statistics = clf.criterion_.epoch_statistics()
    assert float(statistics["M_steps"]) == 7
    assert float(statistics["M_steps_at_bound"]) == 7


def test_no_bound_warning_where_the_rate_follows_the_target():
    X, y = _three_clusters()
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        clf = RSFTClassifier(
            M="auto",
            target_acceptance=0.3,
            hardness=1.0,
            max_epochs=3,
            warmup_epochs=1,
            random_state=0,
            batch_size=32,
        ).fit(X, y)
    assert not _bound_warnings(records)
    statistics = clf.criterion_.epoch_statistics()
    assert float(statistics["M_steps"]) == 7
    assert float(statistics["M_steps_at_bound"]) == 0
    assert clf.history[-1, "acceptance_rate"] == pytest.approx(0.3, abs=0.05)


def _logits(true_class_proba, n):
    """Logits of 3 classes whose class 0 has the probability given."""
    rest = math.log((1 - true_class_proba) / 2)
    row = torch.tensor([math.log(true_class_proba), rest, rest])
    return row.repeat(n, 1)


def test_loss_counts_the_steps_solved_at_a_bound():
    loss = RejectionLoss(M="auto", target_acceptance=0.05, hardness=200.0, n_classes=3)
    y = torch.zeros(20, dtype=torch.long)
    # p = 0.1: every score is 200 * log 10 = 460, solved at log M = 463.
    loss(_logits(0.1, 20), y)
    # p near 1: solved at log(1 / 0.05) = 3, inside the range.
    loss(_logits(1 - 1e-6, 20), y)
    # Weights of 1e-38: scores of -87.5, solved at -84.5, below the range.
    loss(_logits(1 - 1e-6, 20), y, torch.full((20,), 1e-38))
    statistics = loss.epoch_statistics()
    assert float(statistics["M_steps"]) == 3
    assert float(statistics["M_steps_at_bound"]) == 2
    # The log M of each step: 80, then a quarter of the way to 3, then a
    # quarter of the way to -80.
    first, second = 80.0, 80.0 + 0.25 * (3.0 - 80.0)
    third = second + 0.25 * (-80.0 - second)
    assert float(statistics["M"]) == pytest.approx(
        math.exp((first + second + third) / 3), rel=1e-3
    )
    loss.begin_epoch()
    statistics = loss.epoch_statistics()
    assert float(statistics["M_steps"]) == float(statistics["M_steps_at_bound"]) == 0


def test_a_target_of_one_is_met_at_the_upper_bound():
    # Every row is accepted at exp(80) already: the rate is the target.
    loss = RejectionLoss(M="auto", target_acceptance=1.0, hardness=200.0, n_classes=3)
    y = torch.zeros(20, dtype=torch.long)
    loss(_logits(0.1, 20), y)
    statistics = loss.epoch_statistics()
    assert float(statistics["M_steps"]) == 1
    assert float(statistics["M_steps_at_bound"]) == 0
    assert float(statistics["M"]) == pytest.approx(math.exp(80.0), rel=1e-4)


def test_a_fixed_M_counts_no_steps():
    loss = RejectionLoss(M=2.0, hardness=200.0, n_classes=3)
    loss(_logits(0.1, 20), torch.zeros(20, dtype=torch.long))
    statistics = loss.epoch_statistics()
    assert float(statistics["M_steps"]) == float(statistics["M_steps_at_bound"]) == 0


def _old_layout(loss):
    """The loss as saved before the steps at a bound were counted."""
    loss._buffers["epoch_log_M"] = loss.epoch_log_M[:2].clone()
    return loss


def test_state_and_pickles_saved_before_the_count_load():
    y = torch.zeros(20, dtype=torch.long)

    def fresh():
        return RejectionLoss(
            M="auto", target_acceptance=0.05, hardness=200.0, n_classes=3
        )

    old = fresh()
    old(_logits(0.1, 20), y)
    old = _old_layout(old)
    assert old.state_dict()["epoch_log_M"].tolist() == [80.0, 1.0]
    for loaded in (fresh(), pickle.loads(pickle.dumps(old))):
        if not loaded.M_started:
            loaded.load_state_dict(old.state_dict())
        assert loaded.epoch_log_M.tolist() == [80.0, 1.0, 0.0]
        loaded(_logits(0.1, 20), y)
        statistics = loaded.epoch_statistics()
        assert float(statistics["M_steps"]) == 2
        assert float(statistics["M_steps_at_bound"]) == 1


def test_M_auto_reads_nothing_per_batch(monkeypatch):
    # acceptance_log_M indexed its cumulative sums by a 0-d tensor, which
    # read the index back to the host at every step.
    monkeypatch.setattr("rsft_sklearn._guards.HOST_READ_DEVICES", ())
    for rejection in ("sample", "expected"):
        counts = _count(_rsft(M="auto", target_acceptance=0.3, rejection=rejection))
        assert len(counts.per_batch) == 2 * 4
        assert all(names == [] for names in counts.per_batch)


def test_bound_warning_reads_the_rate_over_rows_of_positive_weight():
    # Rows of weight 0 are never accepted, and target_acceptance is a rate
    # over the others. Counted among the rows, four in five weighing 0
    # showed "acceptance rate 0.0429, 0.86 times the target" at the upper
    # bound, where the rate can only be above the target (0.200, 4 times).
    _, y = _three_clusters()
    sample_weight = np.ones(len(y))
    sample_weight[np.random.RandomState(1).rand(len(y)) < 0.8] = 0
    positive = int((sample_weight > 0).sum())
    clf, (message,) = _fit_at_the_bound(sample_weight)
    assert "upper bound" in message
    shown = re.search(r"acceptance rate ([\d.]+), ([\d.]+) times the target", message)
    # The first rejecting epoch's mean acceptance over its rows of positive
    # weight: the history's rate over all rows, scaled up to them.
    rate = clf.history[2, "acceptance_rate"] * len(y) / positive
    assert float(shown[1]) == pytest.approx(rate, rel=5e-3)
    assert float(shown[2]) > 1
    assert float(shown[2]) == pytest.approx(rate / 0.05, rel=5e-3)


def test_no_bound_warning_where_the_rate_is_within_a_tenth_of_the_target():
    # Under a target of 0.99 at the upper bound every row is accepted: a
    # rate of 1, which the warning called "1 times the target".
    clf, messages = _fit_at_the_bound(
        target_acceptance=0.99, max_epochs=2, warmup_epochs=1, rejection="epoch"
    )
    assert clf.history[-1, "acceptance_rate"] == pytest.approx(1.0)
    statistics = clf.criterion_.epoch_statistics()
    assert float(statistics["M_steps_at_bound"]) == float(statistics["M_steps"]) == 1
    assert messages == []
