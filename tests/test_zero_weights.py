"""A row of ``sample_weight`` 0 is as if absent.

``fit`` divides the sample weights by their mean over the rows of positive
weight, and the row budget shares ``budget`` among the rows of positive
acceptance. A mean over every row raised the other rows' weights by
``1 / (1 - z)`` with a share ``z`` of zeros (a smaller ``M``), and a budget
over every row handed the zeros' share to the others.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from rsft_sklearn import RSFTClassifier
from rsft_sklearn._schedules import acceptance_log_M
from rsft_sklearn._selection import budget_probability

N_ROWS = 400


@pytest.fixture(scope="module")
def weighted():
    """Imbalanced rows (3:1), with about half of them weighted 0 at random."""
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(300, int), np.ones(100, int)]
    X = rng.randn(N_ROWS, 3).astype(np.float32)
    X[:, 0] += 0.8 * y
    weight = (rng.rand(N_ROWS) < 0.5).astype(float)
    return X, y, weight


def _params(clf):
    return torch.cat([p.detach().flatten() for p in clf.module_.parameters()])


def _accepted_mass(clf, y):
    """Each class's acceptance mass in every epoch: its rate times its rows."""
    counts = np.bincount(y, minlength=2)
    return np.array(
        [
            [epoch[f"acceptance_rate[{k}]"] * counts[k] for k in range(2)]
            for epoch in clf.history
        ]
    )


def _fit(X, y, sample_weight=None, **params):
    clf = RSFTClassifier(
        **{
            "batch_size": 1000,
            "max_epochs": 4,
            "warmup_epochs": 0,
            "lr": 0.03,
            "random_state": 0,
            "module__hidden_layer_sizes": (8,),
            **params,
        }
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y, sample_weight=sample_weight)


# Settings where the clipping at 1 matters: the rare class is accepted with
# 1, so that weights raised by 1 / (1 - z) change the common class alone.
CLIPPING = [
    {"hardness": 0, "M": 1.0, "target_power": 1},
    {"hardness": 1, "M": 1.0, "target_power": 0.5},
    {"hardness": 0.5, "M": 2.0, "target_power": 1, "prior_correction": 0},
]


@pytest.mark.parametrize("rule", CLIPPING)
def test_zero_weight_rows_fit_as_removed_rows(weighted, rule):
    X, y, weight = weighted
    keep = weight > 0
    with_zeros = _fit(X, y, weight, **rule)
    removed = _fit(X[keep], y[keep], **rule)
    # The rule accepts the same mass of every class (before the fix, with
    # half the rows weighted 0, the common class took twice its mass).
    np.testing.assert_allclose(
        _accepted_mass(with_zeros, y), _accepted_mass(removed, y[keep]), rtol=1e-5
    )
    # One full batch: the same rows in a different order, so the sums agree
    # to rounding only.
    torch.testing.assert_close(
        _params(with_zeros), _params(removed), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        with_zeros.predict_proba(X), removed.predict_proba(X), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        with_zeros.class_target_weight_, removed.class_target_weight_
    )
    np.testing.assert_allclose(with_zeros.class_prior_, removed.class_prior_)


@pytest.mark.parametrize("method", ["partial_fit", "fit"])
def test_zero_weight_rows_are_absent_in_continued_training(weighted, method):
    # Each call divides by its own positive mean: two calls with different
    # shares of zeros (and weights of 3, then 1) train as the calls without
    # those rows, and count the classes as they do. partial_fit
    # knows a class that no row has, whose prior is that of one row of the
    # mean positive weight. (prior_correction=0 here; the prior that
    # prediction removes after continued training is tested below.)
    X, y, weight = weighted
    order = np.random.RandomState(1).permutation(N_ROWS)
    X, y, weight = X[order], y[order], weight[order].copy()
    half = N_ROWS // 2
    weight[half:][np.random.RandomState(2).rand(N_ROWS - half) < 0.6] = 0
    weight[:half] *= 3.0
    with_zeros, removed = [
        RSFTClassifier(
            hardness=0,
            M=1.0,
            target_power=1,
            prior_correction=0,
            warm_start=True,
            batch_size=1000,
            max_epochs=2,
            warmup_epochs=0,
            random_state=0,
            module__hidden_layer_sizes=(8,),
        )
        for _ in range(2)
    ]
    classes = {"classes": [0, 1, 2]} if method == "partial_fit" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for part in (slice(0, half), slice(half, None)):
            Xp, yp, wp = X[part], y[part], weight[part]
            keep = wp > 0
            getattr(with_zeros, method)(Xp, yp, sample_weight=wp, **classes)
            getattr(removed, method)(
                Xp[keep], yp[keep], sample_weight=wp[keep], **classes
            )
            torch.testing.assert_close(
                _params(with_zeros), _params(removed), rtol=1e-5, atol=1e-6
            )
    np.testing.assert_allclose(with_zeros.class_prior_, removed.class_prior_)
    np.testing.assert_allclose(
        with_zeros.predict_proba(X), removed.predict_proba(X), rtol=1e-5, atol=1e-6
    )


def test_budget_probability_shares_the_budget_among_positive_rows(no_host_reads):
    acceptance = torch.tensor([1.0, 0.5, 0.1, 0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0])
    with no_host_reads():
        keep = budget_probability(acceptance, 0.5)
        none = budget_probability(torch.zeros(6), 0.3)
    # budget * n_pos = 2 rows, not budget * n = 5 (which kept every positive
    # row surely).
    assert keep.sum().item() == pytest.approx(2.0, abs=1e-6)
    assert keep[4:].eq(0).all()
    # As without the rows of acceptance 0: tau = 0.7 / (2 - 1).
    torch.testing.assert_close(keep[:4], budget_probability(acceptance[:4], 0.5))
    torch.testing.assert_close(keep[:4], torch.tensor([1.0, 5 / 7, 1 / 7, 1 / 7]))
    # A pool without a positive row keeps nothing, without NaN.
    assert none.eq(0).all()
    rng = np.random.default_rng(0)
    for budget in (0.9, 0.5, 0.1, 0.01):
        a = rng.uniform(0.001, 1.0, 1000) ** 3
        a[rng.random(1000) < 0.6] = 0
        keep = budget_probability(torch.as_tensor(a, dtype=torch.float32), budget)
        n_pos = int((a > 0).sum())
        assert keep.double().sum().item() == pytest.approx(budget * n_pos, rel=1e-5)
        assert bool((keep[torch.as_tensor(a) == 0] == 0).all())


@pytest.mark.parametrize("warmup_epochs", [0, 2])
def test_budget_keeps_its_share_of_the_positive_rows(weighted, warmup_epochs):
    X, y, _ = weighted
    weight = (np.random.RandomState(2).rand(N_ROWS) >= 0.35).astype(float)
    n_pos = int((weight > 0).sum())
    clf = RSFTClassifier(
        rejection="budget",
        budget=0.5,
        batch_size=32,
        max_epochs=6,
        warmup_epochs=warmup_epochs,
        random_state=0,
        module__hidden_layer_sizes=(8,),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y, sample_weight=weight)
    # The history's rate is the share of all rows kept; among the rows of
    # positive weight it is the budget (it was 0.8 with 35% of the rows at
    # 0, which handed their share to the others).
    kept = np.array([epoch["acceptance_rate"] for epoch in clf.history]) * N_ROWS
    share = kept / n_pos
    assert share.mean() == pytest.approx(0.5, abs=0.04)
    assert np.all(np.abs(share - 0.5) < 0.12)


@pytest.mark.parametrize("method", ["partial_fit", "fit"])
@pytest.mark.parametrize("warmup_epochs", [0, 1])
def test_prior_after_rejection_leaves_out_zero_weight_rows(
    weighted, method, warmup_epochs
):
    # With prior_correction, prediction removes the prior after rejection:
    # each class's rows times its rate, blended over the calls of continued
    # training. Counted among the rows, the rows of weight 0 lowered the
    # rates of the call that had them (loss_class_prior_ [0.486, 0.514]
    # against [0.496, 0.504] without them, and predict_proba 0.0099 apart);
    # the second call trains from that prior too.
    X, y, weight = weighted
    order = np.random.RandomState(1).permutation(N_ROWS)
    X, y, weight = X[order], y[order], weight[order]
    half = N_ROWS // 2
    with_zeros, removed = [
        RSFTClassifier(
            hardness=0,
            M=1.0,
            target_power=1,
            prior_correction=1.0,
            warm_start=True,
            batch_size=1000,
            max_epochs=2,
            warmup_epochs=warmup_epochs,
            random_state=0,
            module__hidden_layer_sizes=(8,),
        )
        for _ in range(2)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for part in (slice(0, half), slice(half, None)):
            Xp, yp, wp = X[part], y[part], weight[part]
            keep = wp > 0
            getattr(with_zeros, method)(Xp, yp, sample_weight=wp)
            getattr(removed, method)(Xp[keep], yp[keep], sample_weight=wp[keep])
            np.testing.assert_allclose(
                with_zeros.loss_class_prior_, removed.loss_class_prior_, rtol=1e-6
            )
            torch.testing.assert_close(
                _params(with_zeros), _params(removed), rtol=1e-5, atol=1e-6
            )
    np.testing.assert_allclose(
        with_zeros._trained_rows, removed._trained_rows, rtol=1e-12
    )
    np.testing.assert_allclose(
        with_zeros.predict_proba(X), removed.predict_proba(X), rtol=1e-5, atol=1e-6
    )


# --- M="auto": the adaptive M holds target_acceptance as the mean acceptance
# of the rows of positive weight. It was the mean over every row of the
# batch, the rows of weight 0 (never accepted) included: with half the rows
# at 0 and a target of 0.4, the other rows were accepted at 0.81 to 0.88
# rather than 0.39 to 0.40.

TARGET = 0.4


def _fit_auto(X, y, sample_weight=None, **params):
    return _fit(X, y, sample_weight, M="auto", target_acceptance=TARGET, **params)


def _mean_acceptance(log_score, log_M):
    return torch.clamp(torch.exp(log_score - log_M), max=1.0).mean()


@pytest.mark.parametrize("target", [0.1, 0.25, TARGET, 0.5, 0.9])
def test_solve_leaves_out_the_rows_of_weight_0(no_host_reads, target):
    generator = torch.Generator().manual_seed(0)
    log_score = torch.randn(60, generator=generator) * 2
    # Rows of weight 0 (log 0) and scores below the floor, among the others.
    with_zeros = torch.cat(
        [
            log_score[:25],
            torch.full((30,), -math.inf),
            log_score[25:],
            torch.tensor([-2e4, -1e5]),
        ]
    )
    with no_host_reads():
        solved = acceptance_log_M(with_zeros, target)
    alone = acceptance_log_M(log_score, target)
    torch.testing.assert_close(solved, alone, rtol=1e-6, atol=1e-6)
    # The rows of positive weight hold the target. The 92 rows held it
    # before, and the 60 were accepted at 92 / 60 times the target (0.61 for
    # 0.4), at most 1 (for 0.9).
    assert float(_mean_acceptance(log_score, solved)) == pytest.approx(target, abs=1e-5)


def test_solve_on_a_small_batch_with_rows_of_weight_0():
    # Two rows of weight 0 and two of positive weight: at a target of 0.9
    # the two are accepted at 1 and 0.8 (log M = log 0.25). Over all four
    # rows, the target was out of reach and both were accepted surely.
    log_score = torch.log(torch.tensor([0.0, 0.0, 0.5, 0.2]))
    log_M = acceptance_log_M(log_score, 0.9)
    assert float(log_M) == pytest.approx(math.log(0.25), abs=1e-6)
    acceptance = torch.clamp(torch.exp(log_score - log_M), max=1.0)
    torch.testing.assert_close(acceptance, torch.tensor([0.0, 0.0, 1.0, 0.8]))
    # Every row of positive weight accepted, at the largest M that does so.
    assert float(acceptance_log_M(log_score, 1.0)) == pytest.approx(
        math.log(0.2), abs=1e-6
    )


def test_auto_M_fits_zero_weight_rows_as_removed_rows(weighted):
    # One full batch (the same rows in a different order), "expected".
    X, y, weight = weighted
    keep = weight > 0
    with_zeros = _fit_auto(X, y, weight, max_epochs=4)
    removed = _fit_auto(X[keep], y[keep], max_epochs=4)
    # The rows of positive weight are accepted at the target, as without
    # the rows of weight 0 (0.81 to 0.88 before the fix, against 0.40).
    rates = _accepted_mass(with_zeros, y).sum(axis=1) / keep.sum()
    np.testing.assert_allclose(rates, TARGET, atol=0.01)
    np.testing.assert_allclose(
        _accepted_mass(with_zeros, y), _accepted_mass(removed, y[keep]), rtol=1e-5
    )
    np.testing.assert_allclose(
        with_zeros.history[:, "M_effective"],
        removed.history[:, "M_effective"],
        rtol=1e-5,
    )
    assert with_zeros.final_M_ == pytest.approx(removed.final_M_, rel=1e-5)
    torch.testing.assert_close(
        _params(with_zeros), _params(removed), rtol=1e-5, atol=1e-6
    )
    np.testing.assert_allclose(
        with_zeros.predict_proba(X), removed.predict_proba(X), rtol=1e-5, atol=1e-6
    )


def test_auto_M_draws_the_masks_of_zero_weight_rows_as_removed_rows(weighted):
    # "sample": the rows of weight 0 last and the batch unshuffled, so that
    # the first draws of the mask fall on the same rows. One step: the next
    # would draw from a generator that the rows of weight 0 moved on.
    X, y, weight = weighted
    order = np.argsort(weight == 0, kind="stable")
    X, y, weight = X[order], y[order], weight[order]
    keep = weight > 0
    params = dict(rejection="sample", max_epochs=1, iterator_train__shuffle=False)
    with_zeros = _fit_auto(X, y, weight, **params)
    removed = _fit_auto(X[keep], y[keep], **params)
    mass = _accepted_mass(with_zeros, y)
    np.testing.assert_allclose(mass, _accepted_mass(removed, y[keep]), rtol=1e-6)
    # About the target among the rows of positive weight (0.82 before).
    assert mass.sum() / keep.sum() == pytest.approx(TARGET, abs=0.05)
    assert with_zeros.final_M_ == pytest.approx(removed.final_M_, rel=1e-6)
    torch.testing.assert_close(
        _params(with_zeros), _params(removed), rtol=1e-6, atol=1e-7
    )
    np.testing.assert_allclose(
        with_zeros.predict_proba(X), removed.predict_proba(X), rtol=1e-6, atol=1e-7
    )
