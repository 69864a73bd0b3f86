"""The row budget: ``rejection="budget"`` and :func:`budget_selection`.

Row ``i`` of a scored pool is kept with ``q_i = min(1, a_i / tau)`` and
weighted ``a_i / q_i``; ``tau`` makes the expected share of kept rows the
budget. In expectation the kept rows' weighted loss is the
``rejection="expected"`` rule's loss, gradient included.
"""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from skorch.callbacks import Callback, Checkpoint, LoadInitState
from test_sync import _count

from rsft_sklearn import MLPModule, RejectionLoss, RSFTClassifier, budget_selection
from rsft_sklearn._selection import budget_probability, select_budget_rows

DRAWS = 4000


def _acceptance(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return torch.as_tensor(rng.uniform(0.001, 1.0, n) ** 3, dtype=torch.float32)


@pytest.mark.parametrize("budget", [1.0, 0.5, 0.25, 0.1, 0.01])
def test_keep_probabilities_meet_the_budget_in_the_rule_form(budget):
    acceptance = _acceptance(1000)
    keep = budget_probability(acceptance, budget)
    assert keep.sum().item() == pytest.approx(budget * 1000, rel=1e-4)
    assert bool((keep > 0).all()) and bool((keep <= 1).all())
    # A larger acceptance is never kept less often.
    order = torch.argsort(acceptance)
    assert bool((keep[order].diff() >= -1e-6).all())
    # Unsaturated rows share one tau: q_i = a_i / tau.
    free = keep < 1
    if free.any():
        tau = acceptance[free] / keep[free]
        assert torch.allclose(tau, tau[0].expand_as(tau), rtol=1e-4)
        assert bool((acceptance[~free] >= tau[0] * (1 - 1e-4)).all())


def test_budget_selection_gradient_equals_the_expected_rules():
    # A linear model on a fixed batch: the mean over many draws of the kept
    # rows' weighted gradient equals the gradient of sum_i a_i * l_i.
    torch.manual_seed(1)
    n, d, k = 48, 5, 3
    X, y = torch.randn(n, d), torch.arange(n) % k
    W = torch.randn(d, k, requires_grad=True)
    acceptance = _acceptance(n)
    losses = torch.nn.functional.cross_entropy(X @ W, y, reduction="none")
    per_row = torch.stack(
        [torch.autograd.grad(losses[i], W, retain_graph=True)[0] for i in range(n)]
    ).reshape(n, -1)
    reference = (acceptance[:, None] * per_row).sum(0)
    generator = torch.Generator().manual_seed(0)
    draws = []
    for _ in range(DRAWS):
        rows, weights = budget_selection(acceptance, 0.25, generator)
        draws.append((weights[:, None] * per_row[rows]).sum(0))
    draws = torch.stack(draws)
    error = draws.mean(0) - reference
    standard_error = draws.std(0) / DRAWS**0.5
    assert bool((error.abs() <= 4 * standard_error + 1e-5).all())
    # The estimate is not trivially loose: the standard errors are small.
    assert standard_error.max().item() < 0.05 * reference.abs().max().item()


@pytest.mark.parametrize("normalization", ["accepted", "batch"])
def test_step_loss_is_unbiased_for_the_expected_rules_loss(normalization):
    # The weights of select_budget_rows include the normaliser: the mean
    # loss of a step over kept rows equals, in expectation, the expected
    # rule's loss of the pool (accepted: sum a l / sum a; batch: sum a l / n).
    n, budget = 256, 0.25
    torch.manual_seed(2)
    logits, y = torch.randn(n, 3), torch.randint(0, 3, (n,))
    loss_fn = RejectionLoss(
        class_weight=[0.2, 0.5, 1.0],
        rejection="expected",
        loss_normalization=normalization,
        generator=torch.Generator().manual_seed(0),
    )
    losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    _, _, acceptance = loss_fn.select(logits, y)
    total = acceptance.sum() if normalization == "accepted" else n
    reference = ((acceptance * losses).sum() / total).item()
    sums, kept = [], []
    for _ in range(DRAWS):
        rows, weights = select_budget_rows(
            loss_fn, lambda X: X, budget, True, (logits, y)
        )
        sums.append((weights * losses[rows]).sum().item())
        kept.append(len(rows))
    # Steps average over kept rows: the loss per kept row, over all draws.
    assert np.sum(sums) / np.sum(kept) == pytest.approx(reference, rel=0.01)
    assert np.mean(kept) == pytest.approx(budget * n, rel=0.01)


def test_every_class_keeps_rows_at_ir_5000():
    y = np.r_[np.zeros(10_000, dtype=np.int64), np.ones(2, dtype=np.int64)]
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(len(y), 4)) + 2 * y[:, None]).astype(np.float32)
    clf = RSFTClassifier(
        rejection="budget",
        budget=0.1,
        warmup_epochs=0,
        hardness=0.0,
        max_epochs=2,
        batch_size=256,
        module__hidden_layer_sizes=(8,),
        random_state=0,
    ).fit(X, y)
    for record in clf.history:
        # The rare class is kept whole (a = 1 >= tau), the majority at about
        # the budget.
        assert record["acceptance_rate[1]"] == 1.0
        assert record["acceptance_rate[0]"] == pytest.approx(0.1, abs=0.01)
    # The public function: weights are bounded by 1 and both classes kept.
    acceptance = torch.where(torch.as_tensor(y) == 1, 1.0, 1 / 5000)
    rows, weights = budget_selection(acceptance, 0.1, torch.Generator())
    assert set(y[rows.numpy()]) == {0, 1}
    assert weights.max().item() <= 1.0


class RowsTrained(Callback):
    def initialize(self):
        self.rows = 0
        return self

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        if training:
            self.rows += len(batch[1])


@pytest.mark.parametrize("budget", [0.5, 0.25, 0.1])
def test_realised_backward_fraction_is_the_budget(budget):
    rng = np.random.default_rng(0)
    y = (rng.random(6000) < 0.05).astype(np.int64)
    X = (rng.normal(size=(len(y), 5)) + y[:, None]).astype(np.float32)
    counter = RowsTrained()
    clf = RSFTClassifier(
        rejection="budget",
        budget=budget,
        warmup_epochs=1,
        max_epochs=3,
        batch_size=64,
        module__hidden_layer_sizes=(8,),
        callbacks=[counter],
        random_state=0,
    ).fit(X, y)
    fraction = counter.rows / (len(y) * 3)
    assert fraction == pytest.approx(budget, abs=0.02)
    # The logged acceptance rate is the backward share, warm-up included.
    for rate in clf.history[:, "acceptance_rate"]:
        assert rate == pytest.approx(budget, abs=0.02)


def test_budget_reads_once_per_pool_and_never_per_batch():
    # 128 rows in batches of 8, pools of 4 batches: 4 pools per epoch, each
    # read once (the kept rows' number) outside the steps, warm-up included.
    def make(callbacks):
        return RSFTClassifier(
            rejection="budget",
            budget=0.5,
            warmup_epochs=1,
            pool_size=4,
            batch_size=8,
            max_epochs=2,
            optimizer=torch.optim.SGD,
            random_state=0,
            callbacks=callbacks,
        )

    counts = _count(make)
    assert counts.per_batch and all(names == [] for names in counts.per_batch)
    assert counts.outside.count("aten.nonzero") == 2 * 4


def test_budget_one_with_one_batch_pools_trains_as_the_expected_rule():
    # Every row kept with weight a_i scaled by n / sum a over a one-batch
    # pool: the expected rule's step exactly (the MLP has no dropout).
    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.2).astype(np.int64)
    X = (rng.normal(size=(len(y), 4)) + y[:, None]).astype(np.float32)
    params = dict(
        warmup_epochs=1, max_epochs=3, batch_size=50, random_state=0, pool_size=1
    )
    expected = RSFTClassifier(rejection="expected", **params).fit(X, y)
    budget = RSFTClassifier(rejection="budget", budget=1.0, **params).fit(X, y)
    np.testing.assert_allclose(
        budget.predict_proba(X), expected.predict_proba(X), atol=1e-4
    )


def test_resumed_budget_fit_ends_where_the_uninterrupted_one_ends(tmp_path):
    rng = np.random.default_rng(4)
    y = (rng.random(400) < 0.15).astype(np.int64)
    X = (rng.normal(size=(len(y), 6)) + y[:, None]).astype(np.float32)
    params = dict(
        rejection="budget",
        budget=0.3,
        pool_size=2,
        warmup_epochs=2,
        batch_size=32,
        module__hidden_layer_sizes=(16,),
        random_state=0,
    )
    full = RSFTClassifier(max_epochs=5, **params).fit(X, y)
    checkpoint = Checkpoint(
        monitor=None, dirname=str(tmp_path), f_generators="generators.pt"
    )
    RSFTClassifier(max_epochs=3, callbacks=[checkpoint], **params).fit(X, y)
    resumed = RSFTClassifier(
        max_epochs=2, callbacks=[checkpoint, LoadInitState(checkpoint)], **params
    ).fit(X, y)
    a, b = full.module_.state_dict(), resumed.module_.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert resumed.history[:, "acceptance_rate"] == full.history[:, "acceptance_rate"]


@pytest.mark.parametrize("budget", [0, -0.5, 1.5, "half", None])
def test_bad_budget_is_refused_with_a_clear_message(budget):
    X, y = np.zeros((10, 2), dtype=np.float32), np.arange(10) % 2
    clf = RSFTClassifier(rejection="budget", budget=budget, max_epochs=1)
    with pytest.raises(ValueError, match="'budget' parameter"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=r"budget .* must be a float in \(0, 1\]"):
        budget_selection(torch.ones(4), budget)


def test_budget_needs_batched_arrays():
    from torch.utils.data import TensorDataset

    X, y = torch.randn(20, 3), torch.arange(20) % 2
    clf = RSFTClassifier(
        MLPModule,
        module__n_features=3,
        module__n_classes=2,
        rejection="budget",
        warmup_epochs=0,
        max_epochs=1,
    )
    with pytest.raises(ValueError, match="rejection='budget' needs array inputs"):
        clf.fit(TensorDataset(X, y), y)


def test_clone_and_get_params_carry_the_budget():
    clf = RSFTClassifier(rejection="budget", budget=0.25, pool_size=8)
    copy = clone(clf)
    assert copy.get_params()["budget"] == 0.25
    assert copy.get_params()["rejection"] == "budget"
    assert copy.set_params(budget=0.1).budget == 0.1
    assert RSFTClassifier().get_params()["rejection"] == "expected"
