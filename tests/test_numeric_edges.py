"""Numeric edges of the rule: a batch normaliser whose steps vanish, and an
accepted normaliser below float32's smallest normal number."""

import warnings

import numpy as np
import pytest
import torch

from rsft_sklearn import RejectionLoss, RSFTClassifier, RSFTWarning


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    y = (rng.rand(200) < 0.2).astype(int)
    X = (rng.randn(200, 4) + y[:, None]).astype(np.float32)
    return X, y


def _fit(X, y, record=True, **params):
    """A fit without warm-up; its warnings, and how far its parameters
    moved."""
    clf = RSFTClassifier(
        **{
            "warmup_epochs": 0,
            "max_epochs": 3,
            "batch_size": 64,
            "random_state": 0,
            "module__n_features": 4,
            "module__n_classes": 2,
            "classes": [0, 1],
            **params,
        }
    ).initialize()
    start = [p.detach().clone() for p in clf.module_.parameters()]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    moved = max(
        (p.detach() - q).abs().max().item()
        for p, q in zip(clf.module_.parameters(), start)
    )
    said = [str(w.message) for w in caught if issubclass(w.category, RSFTWarning)]
    return clf, said, moved


@pytest.mark.parametrize("rejection", ["expected", "budget"])
def test_the_batch_normaliser_warns_when_the_acceptance_leaves_no_step(data, rejection):
    # At M=1e20 every acceptance is about 1e-20, the gradients about 1e-21:
    # Adam's float32 second moment underflows and no parameter moves. The
    # fit returned without a word; "sample" at the same M warns that no row
    # was accepted.
    X, y = data
    clf, said, moved = _fit(
        X, y, M=1e20, rejection=rejection, loss_normalization="batch"
    )
    assert moved == 0.0
    negligible = [text for text in said if "mean acceptance" in text]
    # Once per fit, not once per epoch.
    assert len(negligible) == 1
    assert "was 1.24e-20 (M=1e+20)" in negligible[0]
    assert "Lower M" in negligible[0]
    assert "loss_normalization='accepted'" in negligible[0]
    if rejection == "budget":
        # The history's acceptance_rate is the share of rows kept there,
        # about budget=0.5 whatever M: the check reads the rule's a_i.
        rates = [epoch["acceptance_rate"] for epoch in clf.history]
        assert min(rates) > 0.4


@pytest.mark.parametrize(
    "params",
    [
        {"M": 1.0, "loss_normalization": "batch"},
        {"M": 1e3, "loss_normalization": "batch"},
        {"M": 1e20, "loss_normalization": "accepted"},
    ],
)
def test_no_warning_where_the_steps_keep_their_scale(data, params):
    X, y = data
    _, said, moved = _fit(X, y, **params)
    assert said == []
    assert moved > 1e-3


def test_the_warning_under_auto_M_names_target_acceptance(data):
    X, y = data
    _, said, _ = _fit(
        X,
        y,
        M="auto",
        target_acceptance=1e-8,
        rejection="budget",
        loss_normalization="batch",
    )
    negligible = [text for text in said if "mean acceptance" in text]
    assert len(negligible) == 1
    assert "Raise target_acceptance" in negligible[0]


def _loss_and_grad(loss_fn, logits, y, weight):
    z = logits.clone().requires_grad_(True)
    loss = loss_fn(z, y, weight)
    (grad,) = torch.autograd.grad(loss, z)
    return loss.item(), grad


def test_weights_of_zero_still_give_a_loss_of_zero():
    logits = torch.randn(8, 2)
    y = torch.randint(0, 2, (8,))
    loss_fn = RejectionLoss(n_classes=2, rejection="expected")
    loss, grad = _loss_and_grad(loss_fn, logits, y, torch.zeros(8))
    assert loss == 0.0
    assert torch.equal(grad, torch.zeros_like(grad))


def test_the_warning_at_a_mean_of_the_bound_itself_says_how_far_steps_shrink(data):
    # M=1e6 with hardness=0 and target="uniform": every a_i is 1/M, whose
    # mean is just below 1e-6 in float32. The warning said "mean acceptance
    # was 1e-06 ... below 1e-06 the steps barely move the network", a mean
    # that read as the bound, and steps that still went about a quarter of
    # the way (user guide, "loss_normalization").
    X, y = data
    _, said, moved = _fit(
        X,
        y,
        M=1e6,
        hardness=0,
        target="uniform",
        prior_correction=0,
        loss_normalization="batch",
    )
    negligible = [text for text in said if "mean acceptance" in text]
    assert len(negligible) == 1
    assert "was just below 1e-06 (M=1e+06)" in negligible[0]
    assert "to about a quarter of their size at a mean of 1e-06" in negligible[0]
    assert "barely" not in negligible[0]
    assert moved > 1e-4
