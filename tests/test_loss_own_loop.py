"""RejectionLoss in a training loop of one's own: the row budget's counts.

The steps of a ``row_weighted`` loss see the kept rows only; the pool is
counted when :func:`budget_selection` is given the loss and the pool's
labels, as the estimator's budget mode (``select_budget_rows``) counts it.
"""

import copy

import pytest
import torch

from rsft_sklearn import RejectionLoss, budget_selection
from rsft_sklearn._selection import select_budget_rows

CLASS_WEIGHT = [0.2, 1.0, 0.5]
PRIOR = [0.75, 0.125, 0.125]


def _loss(**kwargs):
    loss_fn = RejectionLoss(
        class_weight=CLASS_WEIGHT, rejection="expected", prior_correction=1.0, **kwargs
    )
    loss_fn.set_class_prior(PRIOR)
    loss_fn.row_weighted = True
    return loss_fn


def _estimators_loss():
    # As RSFTClassifier sets its loss for the steps of a budgeted epoch.
    loss_fn = _loss()
    loss_fn.rejecting = loss_fn.count_steps = False
    return loss_fn


def test_budget_selection_counts_the_pool_as_the_estimator_does():
    # A row-weighted step on 4 kept rows of 8 recorded nothing: the counts
    # stayed [0, 0, 0], the logit adjustment of prior_correction=1 was that
    # of set_class_prior for good, and its loss that of the prior alone.
    torch.manual_seed(0)
    y = torch.tensor([0, 0, 0, 0, 0, 0, 1, 2])
    logits = torch.randn(8, 3)
    own, estimator = _loss(), _estimators_loss()
    for epoch in range(3):
        own.begin_epoch()
        estimator.begin_epoch()
        estimator.rejecting = False
        with torch.no_grad():
            _, _, acceptance = own.select(logits, y)
        rows, weights = budget_selection(
            acceptance,
            0.5,
            torch.Generator().manual_seed(epoch),
            loss_fn=own,
            y=y,
        )
        weights = weights * (0.5 * len(y)) / acceptance.sum()
        estimator.generator = torch.Generator().manual_seed(epoch)
        kept, kept_weights = select_budget_rows(
            estimator, lambda X: X, 0.5, True, (logits, y)
        )
        assert rows.tolist() == kept.tolist()
        torch.testing.assert_close(weights, kept_weights)
        ours, theirs = own.epoch_statistics(), estimator.epoch_statistics()
        for name in ("seen", "accepted", "acceptance"):
            assert torch.equal(ours[name], theirs[name]), name
        # Every row of the pool seen, the kept ones accepted.
        assert ours["seen"].tolist() == [6.0, 1.0, 1.0]
        assert ours["accepted"].sum().item() == len(rows)
        torch.testing.assert_close(
            ours["acceptance"],
            torch.zeros(3, dtype=torch.float64).index_add(0, y, acceptance.double()),
        )
        loss = own(logits[rows], y[rows], weights)
        torch.testing.assert_close(loss, estimator(logits[kept], y[kept], kept_weights))
        # The adjustment is that of the prior after rejection: the prior
        # given plus this epoch's acceptance mass.
        mass = own.prior_mass + ours["acceptance"]
        # Summed in float64, added to the float32 logits in their dtype.
        shift = torch.log(mass / mass.sum()).float()
        by_hand = torch.nn.functional.cross_entropy(
            logits[rows] + shift, y[rows], reduction="none"
        )
        torch.testing.assert_close(loss, (by_hand * weights).sum() / len(rows))
    own.begin_epoch()
    estimator.begin_epoch()
    assert torch.equal(own.prior_mass, estimator.prior_mass)
    # The prior moved from the one given, to the pool's acceptance mass.
    torch.testing.assert_close(
        own.prior_mass,
        torch.zeros(3, dtype=torch.float64).index_add(0, y, acceptance.double()),
    )
    assert own.prior_mass.tolist() != PRIOR


def test_speed_guide_loop_trains_as_the_estimators_budget_mode():
    # The loop of docs/user_guide/speed.rst, beside the same epochs drawn by
    # the estimator's select_budget_rows on a copy of the network: the same
    # rows, counts, prior after rejection and parameters.
    torch.manual_seed(1)
    n, n_classes, budget = 600, 3, 0.25
    y = torch.multinomial(torch.tensor([0.8, 0.15, 0.05]), n, replacement=True)
    X = torch.randn(n, 4) + y[:, None].float()
    net = torch.nn.Linear(4, n_classes)
    twin = copy.deepcopy(net)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.1)
    twin_optimizer = torch.optim.SGD(twin.parameters(), lr=0.1)
    loss_fn, estimator = _loss(), _estimators_loss()
    for epoch in range(3):
        loss_fn.begin_epoch()
        estimator.begin_epoch()
        estimator.rejecting = False
        generator = torch.Generator().manual_seed(epoch)
        estimator.generator = torch.Generator().manual_seed(epoch)
        for pool in torch.randperm(n).split(200):
            with torch.no_grad():
                _, _, acceptance = loss_fn.select(net(X[pool]), y[pool])
            rows, weights = budget_selection(
                acceptance, budget, generator, loss_fn=loss_fn, y=y[pool]
            )
            weights = weights * (budget * len(pool)) / acceptance.sum()
            kept = pool[rows]
            twin_rows, twin_weights = select_budget_rows(
                estimator, twin, budget, True, (X[pool], y[pool])
            )
            assert rows.tolist() == twin_rows.tolist()
            for batch in torch.arange(len(kept)).split(16):
                optimizer.zero_grad()
                loss_fn(net(X[kept[batch]]), y[kept[batch]], weights[batch]).backward()
                optimizer.step()
                twin_optimizer.zero_grad()
                rows_ = pool[twin_rows[batch]]
                estimator(twin(X[rows_]), y[rows_], twin_weights[batch]).backward()
                twin_optimizer.step()
        ours, theirs = loss_fn.epoch_statistics(), estimator.epoch_statistics()
        assert ours["seen"].tolist() == torch.bincount(y, minlength=3).tolist()
        assert torch.equal(ours["seen"], theirs["seen"])
        assert torch.equal(ours["accepted"], theirs["accepted"])
        torch.testing.assert_close(ours["acceptance"], theirs["acceptance"])
    loss_fn.begin_epoch()
    estimator.begin_epoch()
    torch.testing.assert_close(loss_fn.prior_mass, estimator.prior_mass)
    assert loss_fn.prior_mass.sum().item() > 1.0
    for ours, theirs in zip(net.parameters(), twin.parameters()):
        torch.testing.assert_close(ours, theirs)


def test_row_weighted_steps_count_nothing():
    # As documented: the steps see the kept rows only, so the pool is
    # counted by budget_selection, never twice.
    loss_fn = _loss()
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    loss_fn(logits, y, torch.ones(4))
    assert loss_fn.epoch_statistics()["seen"].tolist() == [0.0, 0.0, 0.0]
    acceptance = torch.tensor([0.5, 1.0, 1.0, 0.5])
    budget_selection(acceptance, 0.5, torch.Generator(), loss_fn=loss_fn, y=y)
    loss_fn(logits, y, torch.ones(4))
    assert loss_fn.epoch_statistics()["seen"].tolist() == [2.0, 1.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y": torch.tensor([0, 1])}, "given y without loss_fn"),
        ({"loss_fn": "loss"}, "given loss_fn without y"),
        (
            {"loss_fn": "loss", "y": torch.tensor([0, 1, 1])},
            "y must be a 1-d tensor of 2",
        ),
        ({"loss_fn": "loss", "y": torch.tensor([0.0, 1.0])}, "class indices"),
    ],
)
def test_budget_selection_names_what_counting_lacks(kwargs, match):
    loss_fn = _loss()
    kwargs = {k: loss_fn if isinstance(v, str) else v for k, v in kwargs.items()}
    with pytest.raises(ValueError, match=match):
        budget_selection(torch.tensor([0.5, 1.0]), 0.5, torch.Generator(), **kwargs)
    assert loss_fn.epoch_statistics()["seen"].tolist() == [0.0, 0.0, 0.0]
