"""What the row budget says about itself: its warning for an epoch that kept
no row, and the state that ``rescore_every > 1`` keeps from its last scoring
pass (documented in the "Speed" guide)."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier

_SAID_ONCE = (
    " (Said once per fit, and once for the partial_fit or warm_start calls "
    "that continue it, and again in a later call after an epoch that takes a "
    "step: the history's train_loss is NaN for every such epoch.)"
)


def _data(counts=(200, 60, 30, 10), seed=0):
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    X = (rng.normal(size=(len(y), 5)) + 0.3 * y[:, None]).astype(np.float32)
    order = rng.permutation(len(y))
    return X[order], y[order]


def _no_row_messages(clf, X, y):
    """The "trained on no row" warnings of a fit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    return [str(w.message) for w in caught if "trained on no row" in str(w.message)]


def _starved(**params):
    return RSFTClassifier(
        **{
            "max_epochs": 2,
            "warmup_epochs": 0,
            "batch_size": 30,
            "module__hidden_layer_sizes": (8,),
            "random_state": 0,
            **params,
        }
    )


@pytest.mark.parametrize("M", [1.0, 1e-3, "auto"])
def test_a_budget_epoch_that_kept_no_row_names_the_budget_not_M(M):
    # It said "every row rejected ... Lower M, or raise budget.": the budget
    # keeps budget * n_pos rows in expectation whatever M (at M=1e-3 every
    # acceptance is 1), so lowering M keeps no more.
    X, y = _data()
    clf = _starved(rejection="budget", budget=1e-4, M=M, target_acceptance=0.5)
    messages = _no_row_messages(clf, X, y)
    assert (clf.history[:, "acceptance_rate"] == np.zeros(2)).all()
    assert messages == [
        "An epoch trained on no row (rejection='budget' keeps a share "
        "budget=0.0001 of the rows in expectation, and the epoch's draw kept "
        "none); its train_loss is NaN. M does not change how many rows the "
        "budget keeps: raise budget, or train on more rows." + _SAID_ONCE
    ]
    assert "every row rejected" not in messages[0]
    assert "Lower M" not in messages[0]
    assert "target_acceptance" not in messages[0]


def test_a_budget_epoch_that_kept_no_row_under_drop_last_names_the_budget():
    # It said "every row rejected, or the kept rows did not fill one batch
    # ... Lower M or batch_size, raise budget, or drop drop_last."
    X, y = _data()
    clf = _starved(
        rejection="budget", budget=0.01, M=1.0, iterator_train__drop_last=True
    )
    messages = _no_row_messages(clf, X, y)
    assert messages == [
        "An epoch trained on no row (rejection='budget' keeps a share "
        "budget=0.01 of the rows in expectation, and the epoch's draw kept "
        "none or too few to fill one batch, which "
        "iterator_train__drop_last=True leaves out); its train_loss is NaN. "
        "M does not change how many rows the budget keeps: raise budget, "
        "lower batch_size, train on more rows, or drop drop_last." + _SAID_ONCE
    ]


@pytest.mark.parametrize(
    "params, message",
    [
        (
            {"rejection": "pool", "M": 1e30},
            "An epoch trained on no row (every row rejected); its train_loss "
            "is NaN. Lower M.",
        ),
        (
            {"rejection": "epoch", "M": 1e30},
            "An epoch trained on no row (every row rejected); its train_loss "
            "is NaN. Lower M.",
        ),
        (
            {"rejection": "pool", "M": "auto", "target_acceptance": 1e-6},
            "An epoch trained on no row (every row rejected); its train_loss "
            "is NaN. Raise target_acceptance.",
        ),
        (
            {"rejection": "pool", "M": 1e30, "iterator_train__drop_last": True},
            "An epoch trained on no row (every row rejected, or the kept rows "
            "did not fill one batch, which iterator_train__drop_last=True "
            "leaves out); its train_loss is NaN. Lower M or batch_size, or "
            "drop drop_last.",
        ),
        (
            {"rejection": "budget", "budget": 1e-4, "warmup_epochs": 2},
            "An epoch trained on no row (a warm-up epoch under "
            "rejection='budget' keeps a random share budget=0.0001 of the "
            "rows, and it kept none); its train_loss is NaN. Raise budget, or "
            "train on more rows.",
        ),
    ],
)
def test_the_no_row_messages_of_the_other_cases_are_unchanged(params, message):
    X, y = _data()
    assert _no_row_messages(_starved(**params), X, y) == [message + _SAID_ONCE]


class _Stale(Callback):
    """Per epoch: the acceptance mass per class that the loss counted, the
    rows' acceptance mass per class at the parameters that end the epoch, and
    the log of the adaptive ``M``."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def initialize(self):
        self.counted, self.current, self.log_M = [], [], []
        return self

    def on_epoch_end(self, net, **kwargs):
        criterion = net.criterion_
        self.counted.append(criterion.epoch_statistics()["acceptance"].numpy())
        y = torch.as_tensor(self.y)
        with torch.no_grad():
            net.module_.eval()
            logits = net.module_(torch.as_tensor(self.X))
            net.module_.train()
            acceptance = criterion.current_acceptance(logits, y)
        self.current.append(
            np.bincount(self.y, weights=acceptance.double().numpy(), minlength=4)
        )
        if criterion.adaptive:
            self.log_M.append(float(criterion.log_M))


def _stale_fit(**params):
    X, y = _data(counts=(420, 120, 45, 15))
    peek = _Stale(X, y)
    RSFTClassifier(
        rejection="budget",
        budget=0.25,
        rescore_every=4,
        warmup_epochs=0,
        lr=0.01,
        max_epochs=5,
        batch_size=32,
        pool_size=4,
        module__hidden_layer_sizes=(16,),
        train_split=None,
        random_state=0,
        callbacks=[("peek", peek)],
        **params,
    ).fit(X, y)
    return peek


def _share(mass):
    return mass / mass.sum()


def test_epochs_between_scorings_count_the_stored_acceptances():
    # Epoch 1 scores every row, epochs 2 to 4 draw from the acceptances it
    # stored, epoch 5 scores again. What the loss counts (the prior after
    # rejection of prior_correction, here and in the next epoch) is the
    # stored mass, not that of the rows now: the guide says so.
    peek = _stale_fit(target_power=1.0)
    counted, current = np.array(peek.counted), np.array(peek.current)
    for epoch in (1, 2, 3):
        np.testing.assert_allclose(counted[epoch], counted[0], rtol=1e-6)
    # The network moved: the current mass is another.
    drift = np.abs(_share(current[3]) - _share(counted[3])).max()
    assert drift > 0.02
    # The next scoring counts anew, close to the current mass.
    assert np.abs(_share(counted[4]) - _share(counted[3])).max() > 0.02
    assert np.abs(_share(counted[4]) - _share(current[4])).max() < drift


def test_epochs_between_scorings_keep_the_adaptive_M_of_the_last_scoring():
    peek = _stale_fit(M="auto", target_acceptance=0.3)
    # No step solves M between scorings: it stays what epoch 1 ended with,
    # and the next scoring pass moves it.
    assert peek.log_M[1] == peek.log_M[2] == peek.log_M[3] == peek.log_M[0]
    assert peek.log_M[4] != peek.log_M[3]
    counted = np.array(peek.counted)
    for epoch in (1, 2, 3):
        np.testing.assert_allclose(counted[epoch], counted[0], rtol=1e-6)


def test_a_budget_fraction_a_hair_above_1_trains_as_1():
    # The parameter checks read it as the float 1.0 and let it through; the
    # budget's own check compared the fraction itself and refused it at the
    # first epoch, after the network was built.
    from fractions import Fraction

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4)).astype(np.float32)
    y = (X[:, 0] > 0.8).astype(int)
    params = dict(rejection="budget", max_epochs=2, random_state=0)
    hair = RSFTClassifier(budget=Fraction(10**21 + 1, 10**21), **params).fit(X, y)
    one = RSFTClassifier(budget=1.0, **params).fit(X, y)
    assert hair.predict_proba(X).tobytes() == one.predict_proba(X).tobytes()
    assert len(hair.history) == 2


def test_a_budget_beyond_the_float_range_is_named_short():
    from rsft_sklearn import budget_selection

    with pytest.raises(ValueError, match=r"in \(0, 1\], got 1e\+400\.$"):
        budget_selection(torch.ones(4), 10**400)
