"""RejectionLoss and budget_selection used on their own, outside the estimator.

A loss built without classes (neither ``n_classes`` nor ``class_weight``)
takes them from the logits of its first batch, in every kind of step, and
keeps a prior given before it through ``begin_epoch`` (the speed guide's
budget loop trains it as one built with them); what would count rows in a
loss without classes, or labels outside them, is refused at the call that
gives them; ``begin_epoch`` names where an adaptive ``M`` is chosen; labels
on another device than the logits are refused by name; NumPy float16
parameters are read without a warning.
"""

import warnings

import numpy as np
import pytest
import torch

from rsft_sklearn import RejectionLoss, acceptance_probability, budget_selection


def _pool():
    y = torch.tensor([0] * 12 + [1] * 4)
    logits = torch.randn(16, 2)
    acceptance = acceptance_probability(
        logits, y, torch.where(y == 0, 0.25, 1.0), M=1.0
    )
    return logits, y, acceptance


# ----------------------------------------------------------------------
# A loss built without classes in the row budget's steps
# ----------------------------------------------------------------------
@pytest.mark.parametrize("prior", [None, [0.7, 0.3]])
@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
def test_row_weighted_step_without_classes_equals_one_with_them(
    prior, prior_correction
):
    # With prior_correction=1 the step failed inside torch ("The size of
    # tensor a (2) must match the size of tensor b (0)"); with 0 it returned
    # a loss but left the loss without classes (class_weight []).
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 2, generator=generator)
    weight = torch.rand(5, generator=generator)
    y = torch.tensor([0, 1, 1, 0, 1])
    losses = []
    for kwargs in ({}, {"n_classes": 2}):
        loss_fn = RejectionLoss(
            rejection="expected", prior_correction=prior_correction, **kwargs
        )
        if prior is not None:
            loss_fn.set_class_prior(prior)
        loss_fn.row_weighted = True
        losses.append(loss_fn(logits, y, weight))
        assert loss_fn.class_weight.tolist() == [1.0, 1.0]
        if prior is not None:
            # The prior given before the first batch is kept.
            torch.testing.assert_close(
                loss_fn.prior_mass, torch.tensor(prior, dtype=torch.float64)
            )
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    plain = torch.nn.functional.cross_entropy(logits, y, reduction="none") * weight
    assert float(plain.mean()) == pytest.approx(0.3093, abs=5e-5)
    if prior is not None and prior_correction:
        # The adjustment by the prior [0.7, 0.3] moved the loss (the figure
        # in CHANGES.md).
        assert float(losses[0]) == pytest.approx(0.3206, abs=5e-5)
    else:
        torch.testing.assert_close(losses[0], plain.mean())


def test_row_weighted_step_of_two_columns_without_classes():
    # Rows drawn from stored acceptances (weights of two columns): a bare
    # IndexError ("index out of range in self") without classes.
    logits, y, weight = torch.randn(5, 2), torch.tensor([0, 1, 1, 0, 1]), torch.rand(5)
    weights = torch.stack([weight, torch.ones(5)], dim=1)
    losses = []
    for kwargs in ({}, {"n_classes": 2}):
        loss_fn = RejectionLoss(rejection="expected", **kwargs)
        loss_fn.row_weighted = True
        losses.append(loss_fn(logits, y, weights))
    torch.testing.assert_close(losses[0], losses[1], rtol=0, atol=0)
    acceptance = acceptance_probability(logits, y, torch.ones(5), M=1.0)
    expected = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    torch.testing.assert_close(losses[0], (expected * weight * acceptance).mean())


# ----------------------------------------------------------------------
# budget_selection's counts
# ----------------------------------------------------------------------
def test_budget_selection_refuses_a_loss_without_classes():
    # It returned normally while the pool's counts were dropped: seen []
    # where a loss with n_classes=2 counts [12, 4].
    _, y, acceptance = _pool()
    loss_fn = RejectionLoss(rejection="expected", prior_correction=1.0)
    loss_fn.set_class_prior([0.75, 0.25])
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    with pytest.raises(ValueError, match="no classes yet.*n_classes="):
        budget_selection(acceptance, 0.5, generator, loss_fn=loss_fn, y=y)
    # Refused before the draw and before anything was recorded.
    assert torch.equal(generator.get_state(), state)
    assert loss_fn._pending_counts == []
    with pytest.raises(ValueError, match="no classes yet"):
        loss_fn.record(y, torch.ones(16), acceptance)


def test_budget_selection_counts_a_pool_scored_by_a_loss_without_classes():
    # The user guide's loop scores the pool with loss_fn.select first, which
    # gives a loss built without classes those of the logits: it then counts
    # the pool as one built with them.
    logits, y, _ = _pool()
    statistics = []
    for kwargs in ({}, {"n_classes": 2}):
        loss_fn = RejectionLoss(rejection="expected", prior_correction=1.0, **kwargs)
        loss_fn.set_class_prior([0.75, 0.25])
        with torch.no_grad():
            _, _, acceptance = loss_fn.select(logits, y)
        rows, weights = budget_selection(
            acceptance, 0.5, torch.Generator().manual_seed(0), loss_fn=loss_fn, y=y
        )
        loss_fn.row_weighted = True
        step = loss_fn(logits[rows], y[rows], weights)
        statistics.append((loss_fn.epoch_statistics(), step))
    (ours, our_step), (theirs, their_step) = statistics
    assert ours["seen"].tolist() == theirs["seen"].tolist() == [12.0, 4.0]
    torch.testing.assert_close(ours["acceptance"], theirs["acceptance"])
    torch.testing.assert_close(our_step, their_step, rtol=0, atol=0)


def test_begin_epoch_keeps_the_prior_given_to_a_loss_without_classes():
    # begin_epoch failed inside torch ("The size of tensor a (0) must match
    # the size of tensor b (2)"): the empty counts of a loss without classes
    # met the prior given to set_class_prior.
    logits, y, _ = _pool()
    losses = []
    for kwargs in ({}, {"n_classes": 2}):
        loss_fn = RejectionLoss(rejection="expected", prior_correction=1.0, **kwargs)
        loss_fn.set_class_prior([0.7, 0.3])
        loss_fn.begin_epoch()
        assert loss_fn.prior_mass.tolist() == [0.7, 0.3]
        # The first batch gives the loss its classes and keeps the prior; the
        # next epoch starts from the counted acceptance mass.
        steps = [loss_fn(logits, y)]
        loss_fn.begin_epoch()
        steps.append(loss_fn(logits, y))
        losses.append((steps, loss_fn.prior_mass.clone()))
    (ours, our_prior), (theirs, their_prior) = losses
    torch.testing.assert_close(ours, theirs, rtol=0, atol=0)
    torch.testing.assert_close(our_prior, their_prior, rtol=0, atol=0)
    _, _, acceptance = RejectionLoss(n_classes=2).select(logits, y)
    torch.testing.assert_close(
        our_prior,
        torch.stack([acceptance[y == k].sum() for k in (0, 1)]).double(),
    )


def _guide_budget_loop(loss_fn, X, y, n_epochs=2, budget=0.5):
    """The row budget's loop of the speed guide ("A training loop of one's
    own"), on a small network; returns it."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Linear(6, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3)
    )
    optimizer = torch.optim.Adam(net.parameters(), 1e-2)
    y_np = y.numpy()
    loss_fn.set_class_prior(np.bincount(y_np, minlength=3) / len(y_np))
    loss_fn.row_weighted = True
    for _ in range(n_epochs):
        loss_fn.begin_epoch()
        for pool in torch.randperm(len(X)).split(256):
            net.eval()
            with torch.no_grad():
                _, _, acceptance = loss_fn.select(net(X[pool]), y[pool])
            net.train()
            rows, weights = budget_selection(
                acceptance, budget, loss_fn=loss_fn, y=y[pool]
            )
            weights = weights * (budget * (acceptance > 0).sum()) / acceptance.sum()
            kept = pool[rows]
            for batch in torch.randperm(len(kept)).split(64):
                optimizer.zero_grad()
                loss_fn(net(X[kept[batch]]), y[kept[batch]], weights[batch]).backward()
                optimizer.step()
    return net


def test_the_guide_budget_loop_trains_a_loss_without_classes_as_one_with_them():
    # The guide's loop with RejectionLoss(rejection="expected",
    # prior_correction=1.0), without class_weight, failed at the first
    # begin_epoch (after set_class_prior) with a bare torch size error.
    generator = torch.Generator().manual_seed(0)
    X = torch.randn(600, 6, generator=generator)
    y = torch.multinomial(
        torch.tensor([0.8, 0.15, 0.05]), 600, replacement=True, generator=generator
    )
    fits = []
    # (A loss without classes weighs every class by 1 once it has them.)
    for kwargs in ({}, {"class_weight": torch.ones(3)}):
        loss_fn = RejectionLoss(rejection="expected", prior_correction=1.0, **kwargs)
        net = _guide_budget_loop(loss_fn, X, y)
        fits.append((net.state_dict(), loss_fn.epoch_statistics(), loss_fn))
    (ours, our_stats, our_loss), (theirs, their_stats, their_loss) = fits
    for name in theirs:
        torch.testing.assert_close(ours[name], theirs[name], rtol=0, atol=0)
    for name in ("seen", "accepted", "acceptance"):
        torch.testing.assert_close(our_stats[name], their_stats[name], rtol=0, atol=0)
    # The last epoch counted every row once, in its class.
    assert our_stats["seen"].tolist() == np.bincount(y.numpy()).tolist()
    torch.testing.assert_close(
        our_loss.log_prior_after_rejection(),
        their_loss.log_prior_after_rejection(),
        rtol=0,
        atol=0,
    )


@pytest.mark.parametrize("bad", [-100, 2])
def test_budget_selection_refuses_labels_outside_the_classes_at_once(bad):
    # A padding label returned normally; the ValueError came from whichever
    # call next read the counts (state_dict, epoch_statistics).
    acceptance = torch.tensor([1.0, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0, bad])
    loss_fn = RejectionLoss(n_classes=2, rejection="expected")
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    with pytest.raises(ValueError, match=rf"outside \[0, 2\): \[{bad}\].*the pool"):
        budget_selection(acceptance, 0.5, generator, loss_fn=loss_fn, y=y)
    assert torch.equal(generator.get_state(), state)
    # Nothing was recorded: the counts are read without an error, at zero.
    loss_fn.state_dict()
    assert loss_fn.epoch_statistics()["seen"].tolist() == [0.0, 0.0]
    # The same pool without the bad row is counted.
    budget_selection(acceptance[:7], 0.5, generator, loss_fn=loss_fn, y=y[:7])
    assert loss_fn.epoch_statistics()["seen"].tolist() == [4.0, 3.0]


@pytest.mark.parametrize("moved, name", [("y", "y"), ("loss", "the loss's state")])
def test_budget_selection_refuses_labels_or_loss_on_another_device(moved, name):
    # With the labels on another device, the check of the labels that
    # follows the failed count read them there ("Tensor.item() cannot be
    # called on meta tensors"); with the loss there, torch's index_add
    # refused the count, after the draw.
    acceptance = torch.tensor([1.0, 0.5, 0.2, 0.2])
    y = torch.tensor([0, 1, 0, 1])
    loss_fn = RejectionLoss(n_classes=2, prior_correction=1.0)
    if moved == "y":
        y = y.to("meta")
    else:
        loss_fn = loss_fn.to("meta")
    generator = torch.Generator().manual_seed(0)
    state = generator.get_state()
    with pytest.raises(ValueError, match=f"acceptance is on cpu, but {name} on meta"):
        budget_selection(acceptance, 0.5, generator, loss_fn=loss_fn, y=y)
    assert torch.equal(generator.get_state(), state)
    assert loss_fn._pending_counts == []


# ----------------------------------------------------------------------
# begin_epoch and M="auto"
# ----------------------------------------------------------------------
def test_begin_epoch_names_where_an_adaptive_M_is_chosen():
    # It said "M must be a number > 0 or 'auto', got 'auto'".
    loss_fn = RejectionLoss(n_classes=3, M=1.5)
    with pytest.raises(ValueError, match=r"chosen when the loss is built.*M='auto'"):
        loss_fn.begin_epoch(M="auto", hardness=2.0)
    # Refused before anything changed.
    assert float(loss_fn.M) == 1.5
    assert loss_fn.hardness == 1.0
    with pytest.raises(ValueError, match=r"M must be a number > 0, got 'x'\.$"):
        loss_fn.begin_epoch(M="x")
    loss_fn.begin_epoch(M=np.float16(2.0))
    assert float(loss_fn.M) == 2.0
    # Under M="auto" a value of M is ignored, as documented.
    adaptive = RejectionLoss(n_classes=3, M="auto", target_acceptance=0.5)
    adaptive.begin_epoch(M="auto")
    assert adaptive.adaptive and torch.isnan(adaptive.M)


# ----------------------------------------------------------------------
# Labels on another device than the logits
# ----------------------------------------------------------------------
@pytest.mark.parametrize("mode", ["train", "eval", "select"])
def test_labels_on_another_device_are_refused_by_name(mode):
    # The check of the labels that follows an error read them on their
    # device, which raised "Tensor.item() cannot be called on meta tensors"
    # and hid torch's message.
    logits = torch.randn(4, 3)
    y = torch.tensor([0, 1, 2, 0], device="meta")
    loss_fn = RejectionLoss(n_classes=3)
    match = r"y is on meta, but the logits are on cpu.*y\.to\('cpu'\)"
    with pytest.raises(ValueError, match=match):
        if mode == "select":
            loss_fn.select(logits, y)
        else:
            getattr(loss_fn, mode)()
            loss_fn(logits, y)
    assert loss_fn._pending_counts == []


def test_device_check_reads_nothing(no_host_reads):
    loss_fn = RejectionLoss(n_classes=3, rejection="expected")
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    loss_fn._labels_checked = loss_fn._weights_checked = True
    loss_fn.row_weighted = True
    with no_host_reads():
        loss = loss_fn(logits, y, torch.ones(4))
    expected = torch.nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(loss, expected)


# ----------------------------------------------------------------------
# NumPy float16 parameters
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, attribute, value",
    [
        ({"prior_correction": np.float16(1.0)}, "prior_correction", 1.0),
        ({"prior_correction": np.float16(0.0)}, "prior_correction", 0.0),
        ({"prior_correction": np.float16(65504)}, "prior_correction", 65504.0),
        ({"M": np.float16(1.5)}, "M", 1.5),
        ({"hardness": np.float16(2.0)}, "hardness", 2.0),
        ({"smoothing": np.float16(0.5)}, "smoothing", 0.5),
        (
            {"M": "auto", "target_acceptance": np.float16(0.25)},
            "target_acceptance",
            0.25,
        ),
        ({"n_classes": np.float16(2.0)}, "class_weight", [1.0, 1.0]),
        (
            {"class_weight": np.array([0.5, 1.0], dtype=np.float16)},
            "class_weight",
            [0.5, 1.0],
        ),
    ],
)
def test_float16_parameters_warn_nothing(kwargs, attribute, value):
    # prior_correction=np.float16(1.0) gave a RuntimeWarning "overflow
    # encountered in cast": its bound, 1e6, was compared in float16.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss_fn = RejectionLoss(**kwargs)
    got = getattr(loss_fn, attribute)
    got = got.tolist() if isinstance(got, torch.Tensor) else got
    assert got == value


@pytest.mark.parametrize("prior_correction", [np.float16(-1.0), np.float16("inf")])
def test_float16_prior_correction_out_of_range_is_refused_without_warning(
    prior_correction,
):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="prior_correction.*must be a number"):
            RejectionLoss(prior_correction=prior_correction)
