"""Under ``M="auto"`` a row of ``sample_weight`` 0 is as if absent.

The adaptive ``M`` holds ``target_acceptance`` as the mean acceptance of the
rows of positive weight. It was the mean over every row of the batch, the
rows of weight 0 (never accepted) included: with half the rows at 0 and a
target of 0.4, the other rows were accepted at 0.81 to 0.88 rather than
0.39 to 0.40.
"""

import math
import warnings

import numpy as np
import pytest
import torch

from rsft_sklearn import RSFTClassifier
from rsft_sklearn._schedules import acceptance_log_M

N_ROWS = 400
TARGET = 0.4


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
    """Each class's acceptance mass in every epoch: its rate times its rows
    (the history's rates count the rows of weight 0 among the rows)."""
    counts = np.bincount(y, minlength=2)
    return np.array(
        [
            [epoch[f"acceptance_rate[{k}]"] * counts[k] for k in range(2)]
            for epoch in clf.history
        ]
    )


def _fit(X, y, sample_weight=None, **params):
    clf = RSFTClassifier(
        M="auto",
        target_acceptance=TARGET,
        batch_size=1000,
        warmup_epochs=0,
        lr=0.03,
        random_state=0,
        module__hidden_layer_sizes=(8,),
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y, sample_weight=sample_weight)


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
    with_zeros = _fit(X, y, weight, max_epochs=4)
    removed = _fit(X[keep], y[keep], max_epochs=4)
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
    with_zeros = _fit(X, y, weight, **params)
    removed = _fit(X[keep], y[keep], **params)
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
