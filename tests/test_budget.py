"""The row budget: ``rejection="budget"`` and :func:`budget_selection`.

Row ``i`` of a scored pool is kept with ``q_i = min(1, a_i / tau)`` and
weighted ``a_i / q_i``; ``tau`` makes the expected share of kept rows the
budget. In expectation the kept rows' weighted loss is the
``rejection="expected"`` rule's loss, gradient included.
"""

import warnings

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


@pytest.mark.parametrize("n", [1, 7, 100, 2049])
@pytest.mark.parametrize("budget", [0.999, 0.5, 0.3, 0.05])
def test_tau_matches_a_bisection_solve_with_ties(n, budget):
    # Few distinct values (per-class acceptances tie), sizes where
    # budget * n is and is not a whole number.
    rng = np.random.default_rng(n)
    acceptance = torch.as_tensor(
        rng.choice([1.0, 0.9, 0.2, 0.01], size=n), dtype=torch.float32
    )
    keep = budget_probability(acceptance, budget).double()
    a = acceptance.double()
    low, high = 1e-12, 1e6
    for _ in range(200):
        tau = (low * high) ** 0.5
        if (a / tau).clamp(max=1).sum() > budget * n:
            low = tau
        else:
            high = tau
    reference = (a / high).clamp(max=1)
    torch.testing.assert_close(keep, reference, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("tiny", [1e-12, 1e-17, 1e-30])
def test_budget_holds_when_acceptances_span_many_orders(tiny):
    # Tiny sample weights against a large M: the sum of the acceptances
    # after the largest was taken as the total less them, which cancels to
    # 0, and the budget was under-spent (4 rows kept of 6 here).
    acceptance = torch.tensor([1.0] * 4 + [tiny] * 4)
    keep = budget_probability(acceptance, 0.75)
    torch.testing.assert_close(keep, torch.tensor([1.0] * 4 + [0.5] * 4))
    acceptance = torch.cat([torch.ones(100), torch.full((900,), tiny)])
    keep = budget_probability(acceptance, 0.5)
    assert keep.sum().item() == pytest.approx(500, rel=1e-5)
    torch.testing.assert_close(keep[100:], torch.full((900,), 4 / 9))


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


@pytest.mark.parametrize(
    "params, scored_epochs",
    [
        # Warm-up only: a uniform share of every pool, no pool scored.
        ({"warmup_epochs": 3}, 0),
        # Scored in epoch 1 (the first rejecting one), then from the store.
        ({"warmup_epochs": 1, "rescore_every": 5}, 1),
    ],
)
def test_unscored_pools_gather_no_inputs(monkeypatch, params, scored_epochs):
    # Inputs are gathered for training batches (at most batch_size rows) and
    # for the pools that are scored (pool_size * batch_size rows), never for a
    # pool drawn without scoring: that needs the labels only.
    from rsft_sklearn._data import InMemoryDataset

    gathered = []
    take = InMemoryDataset.take

    def spy(self, idx, scratch=False):
        batch = take(self, idx, scratch=scratch)
        gathered.append(len(batch[0]))
        return batch

    monkeypatch.setattr(InMemoryDataset, "take", spy)
    rng = np.random.default_rng(2)
    y = (rng.random(640) < 0.2).astype(np.int64)
    X = (rng.normal(size=(len(y), 4)) + y[:, None]).astype(np.float32)
    RSFTClassifier(
        rejection="budget",
        budget=0.5,
        max_epochs=3,
        batch_size=16,
        pool_size=8,
        module__hidden_layer_sizes=(8,),
        random_state=0,
        **params,
    ).fit(X, y)
    pools = [n for n in gathered if n > 16]
    # 640 rows in pools of 128: 5 pools in each scored epoch.
    assert pools == [128] * 5 * scored_epochs
    assert len(gathered) > len(pools)  # the training batches


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


# ----------------------------------------------------------------------
# rescore_every: rows drawn from stored acceptances between scoring passes
# ----------------------------------------------------------------------
@pytest.mark.parametrize("normalization", ["accepted", "batch"])
def test_rows_drawn_from_stored_acceptances_keep_the_expected_loss(normalization):
    # The store holds stale acceptances (from other logits); the draw uses
    # them, the step multiplies by the acceptance of the current logits, so
    # the loss per kept row is, in expectation, the expected rule's loss at
    # the current logits over the stored normaliser.
    n, budget = 256, 0.25
    torch.manual_seed(3)
    logits, y = torch.randn(n, 3), torch.randint(0, 3, (n,))
    stale_logits = logits + torch.randn(n, 3)
    loss_fn = RejectionLoss(
        class_weight=[0.2, 0.5, 1.0],
        rejection="expected",
        loss_normalization=normalization,
        generator=torch.Generator().manual_seed(0),
    )
    _, _, stored = loss_fn.select(stale_logits, y)
    _, _, current = loss_fn.select(logits, y)
    assert not torch.allclose(stored, current)
    store, positions = stored.clone(), torch.arange(n)
    losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    total = stored.sum() if normalization == "accepted" else n
    reference = ((current * losses).sum() / total).item()
    never = lambda X: pytest.fail("a stored draw must not score")  # noqa: E731
    sums, kept = [], []
    for _ in range(DRAWS):
        rows, weights = select_budget_rows(
            loss_fn,
            never,
            budget,
            True,
            (logits, y),
            positions,
            store=store,
            rescore=False,
        )
        assert weights.shape == (len(rows), 2)
        # What RejectionLoss.forward does with the two columns.
        step = weights[:, 0] * loss_fn.current_acceptance(
            logits[rows], y[rows], weights[:, 1]
        )
        sums.append((step * losses[rows]).sum().item())
        kept.append(len(rows))
    assert np.sum(sums) / np.sum(kept) == pytest.approx(reference, rel=0.01)
    assert np.mean(kept) == pytest.approx(budget * n, rel=0.01)
    torch.testing.assert_close(store, stored)  # a stored draw writes nothing


def test_a_scored_pool_writes_its_acceptances_into_the_store():
    torch.manual_seed(4)
    logits, y = torch.randn(40, 2), torch.randint(0, 2, (40,))
    loss_fn = RejectionLoss(class_weight=[0.3, 1.0], rejection="expected")
    store = torch.full((100,), float("nan"))
    positions = torch.arange(50, 90)
    select_budget_rows(
        loss_fn,
        lambda X: X,
        0.5,
        True,
        (logits, y),
        positions,
        store=store,
        rescore=True,
    )
    _, _, acceptance = loss_fn.select(logits, y)
    torch.testing.assert_close(store[50:90], acceptance)
    assert bool(store[:50].isnan().all() and store[90:].isnan().all())


class ScoringPasses(Callback):
    def initialize(self):
        self.per_epoch = []
        return self

    def on_epoch_begin(self, net, **kwargs):
        self.per_epoch.append(0)
        if not hasattr(net, "_unscored"):
            net._unscored = net._score

            def counted(*args, **kw):
                self.per_epoch[-1] += 1
                return net._unscored(*args, **kw)

            net._score = counted


@pytest.mark.parametrize("rescore_every", [1, 3])
def test_rescore_every_scores_one_rejecting_epoch_in_n(rescore_every):
    rng = np.random.default_rng(1)
    y = (rng.random(2000) < 0.1).astype(np.int64)
    X = (rng.normal(size=(len(y), 5)) + y[:, None]).astype(np.float32)
    passes = ScoringPasses()
    counter = RowsTrained()
    clf = RSFTClassifier(
        rejection="budget",
        budget=0.25,
        rescore_every=rescore_every,
        warmup_epochs=1,
        max_epochs=8,
        batch_size=50,
        pool_size=4,
        module__hidden_layer_sizes=(8,),
        callbacks=[passes, counter],
        random_state=0,
    ).fit(X, y)
    scored = [count > 0 for count in passes.per_epoch]
    # Warm-up scores nothing; then every rescore_every-th rejecting epoch.
    expected = [False] + [(e % rescore_every) == 0 for e in range(7)]
    assert scored == expected
    # The budget holds in stored epochs too.
    assert counter.rows / (len(y) * 8) == pytest.approx(0.25, abs=0.02)
    assert clf.score(X, y) > 0.5


def test_adaptive_M_in_epochs_drawn_from_stored_acceptances():
    # Such an epoch solves M in no step; its M_effective was exp(0 / 0), NaN,
    # and with it final_M_, so predict refused the fitted model.
    rng = np.random.default_rng(0)
    y = (rng.random(300) < 0.1).astype(np.int64)
    X = (rng.normal(size=(len(y), 5)) + y[:, None]).astype(np.float32)
    clf = RSFTClassifier(
        rejection="budget",
        M="auto",
        target_acceptance=0.3,
        rescore_every=2,
        warmup_epochs=0,
        max_epochs=2,
        random_state=0,
    ).fit(X, y)
    M = clf.history[:, "M_effective"]
    assert np.isfinite(M).all()
    # The stored epoch trained at the M the scored epoch ended with.
    assert M[1] == pytest.approx(float(torch.exp(clf.criterion_.log_M)))
    assert clf.final_M_ == M[-1]
    assert clf.predict_proba(X[:5]).sum(axis=1) == pytest.approx(np.ones(5))


def test_rescore_every_learns_as_well_as_scoring_every_epoch():
    from sklearn.metrics import balanced_accuracy_score

    rng = np.random.default_rng(2)
    y = np.repeat([0, 1, 2], [1500, 300, 60])
    X = rng.normal(size=(len(y), 6)).astype(np.float32)
    X[:, :3] += 2.0 * np.eye(3, dtype=np.float32)[y]
    params = dict(
        rejection="budget",
        budget=0.25,
        warmup_epochs=1,
        max_epochs=12,
        batch_size=64,
        lr=0.01,
        module__hidden_layer_sizes=(16,),
        random_state=0,
    )
    every = RSFTClassifier(**params).fit(X, y)
    stored = RSFTClassifier(rescore_every=4, **params).fit(X, y)
    scores = [balanced_accuracy_score(y, m.predict(X)) for m in (every, stored)]
    assert scores[0] > 0.8
    assert scores[1] == pytest.approx(scores[0], abs=0.03)


@pytest.mark.parametrize("value", [0, -1, 1.5, "2"])
def test_bad_rescore_every_is_refused(value):
    X = np.zeros((20, 2), dtype=np.float32)
    y = np.r_[np.zeros(10), np.ones(10)].astype(np.int64)
    with pytest.raises(ValueError, match="'rescore_every' parameter"):
        RSFTClassifier(rejection="budget", rescore_every=value, max_epochs=1).fit(X, y)


@pytest.mark.parametrize(
    "acceptance, error, match",
    [
        (np.array([0.5, 0.2]), TypeError, "torch.Tensor"),
        (torch.rand(3, 2), ValueError, "1-d floating tensor"),
        (torch.tensor([1, 0, 1]), ValueError, "1-d floating tensor"),
        (torch.tensor([0.5, float("nan"), 0.1]), ValueError, "finite values >= 0"),
        (torch.tensor([0.5, float("inf"), 0.1]), ValueError, "finite values >= 0"),
        (torch.tensor([-0.5, 0.2, 0.1]), ValueError, "finite values >= 0"),
    ],
)
def test_budget_selection_names_bad_acceptances(acceptance, error, match):
    # Before: a NaN kept no row, a negative value gave a negative weight and a
    # 2-d tensor a silent draw over its flattened values.
    with pytest.raises(error, match=match):
        budget_selection(acceptance, 0.5, torch.Generator().manual_seed(0))


def test_budget_selection_never_keeps_a_zero_acceptance():
    # A row of acceptance 0 weighs nothing in the rule's loss: it is never
    # kept, and the others keep their unbiased weights.
    acceptance = torch.tensor([0.0, 0.0, 0.1, 0.4])
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        rows, weights = budget_selection(acceptance, 0.5, generator)
        assert not set(rows.tolist()) & {0, 1}
        assert bool((weights > 0).all())


@pytest.mark.parametrize(
    "acceptance, budget, expected",
    [
        # The rows of acceptance 0 are never kept and take no share of the
        # budget: the others keep budget * n_pos rows, as without them (they
        # were kept surely, the zeros' share handed to them).
        ([0.5, 0.2, 0.0, 0.0], 0.75, [1.0, 0.5, 0.0, 0.0]),
        ([0.0, 0.3, 0.0, 0.0, 0.0], 0.5, [0.0, 0.5, 0.0, 0.0, 0.0]),
        # No positive row: nothing is kept, without NaN.
        ([0.0, 0.0, 0.0], 0.5, [0.0, 0.0, 0.0]),
        ([0.5, 0.2, 0.1, 0.0], 0.5, [0.9375, 0.375, 0.1875, 0.0]),
    ],
)
def test_keep_probabilities_with_zero_acceptances(acceptance, budget, expected):
    keep = budget_probability(torch.tensor(acceptance), budget)
    torch.testing.assert_close(keep, torch.tensor(expected), rtol=1e-5, atol=1e-6)


def test_budget_fit_with_zero_sample_weights():
    # Sample weights of 0 (rows masked out) make acceptances of 0; a pool
    # with fewer positive rows than its budget once gave keep
    # probabilities of 0 / 0 and a network of NaN.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5)).astype(np.float32)
    y = (rng.random(400) < 0.2).astype(np.int64)
    X[y == 1] += 1.5
    weight = (rng.random(400) < 0.4).astype(np.float64)
    net = RSFTClassifier(
        rejection="budget", budget=0.75, max_epochs=3, warmup_epochs=0, random_state=0
    ).fit(X, y, sample_weight=weight)
    assert all(bool(torch.isfinite(p).all()) for p in net.module_.parameters())
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    # Only rows of positive weight got a backward pass.
    kept = sum(b["train_batch_size"] for e in net.history for b in e["batches"])
    assert 0 < kept <= 3 * int(weight.sum())


def test_a_budget_warm_up_weights_rows_by_their_sample_weights():
    # The warm-up kept a uniform share of the rows with weight 1: rows of
    # weight 0 trained, as the warm-up of the other modes did.
    torch.manual_seed(5)
    n, budget = 400, 0.25
    y = torch.randint(0, 2, (n,))
    losses = torch.rand(n)
    sample_weight = torch.rand(n) * 2
    sample_weight[::3] = 0.0
    loss_fn = RejectionLoss(class_weight=[1.0, 1.0], rejection="expected")
    loss_fn.generator = torch.Generator().manual_seed(0)
    reference = ((sample_weight * losses).sum() / sample_weight.sum()).item()
    never = lambda X: pytest.fail("a warm-up draw must not score")  # noqa: E731
    sums, kept = [], []
    for _ in range(DRAWS):
        rows, weights = select_budget_rows(
            loss_fn, never, budget, False, (None, y, sample_weight)
        )
        assert not (sample_weight[rows] == 0).any()
        sums.append((weights * losses[rows]).sum().item())
        kept.append(len(rows))
    # The weighted plain mean, in expectation, on the budget's share of the
    # rows of positive weight.
    assert np.sum(sums) / np.sum(kept) == pytest.approx(reference, rel=0.02)
    n_positive = int((sample_weight > 0).sum())
    assert np.mean(kept) == pytest.approx(budget * n_positive, rel=0.02)
    # Without sample weights, a uniform share with weight 1, as before.
    rows, weights = select_budget_rows(loss_fn, never, budget, False, (None, y))
    torch.testing.assert_close(weights, torch.ones(len(rows)))


def test_a_full_budget_keeps_no_row_of_acceptance_zero():
    # budget=1 kept every row, those of weight 0 too (each a backward pass
    # for nothing); a budget below 1 never keeps them, as documented.
    acceptance = torch.tensor([0.0, 0.5, 0.0, 0.8])
    for budget in (1.0, 0.999999):
        rows, weights = budget_selection(
            acceptance, budget, generator=torch.Generator().manual_seed(0)
        )
        assert rows.tolist() == [1, 3]
        torch.testing.assert_close(weights, torch.tensor([0.5, 0.8]))
    torch.testing.assert_close(
        budget_probability(acceptance, 1.0), torch.tensor([0.0, 1.0, 0.0, 1.0])
    )


def test_user_guide_loop_trains_on_the_expected_rules_loss():
    # The loop of the user guide's budget section: budget_selection's weights
    # scaled by budget * n / sum(a), given to a row-weighted loss, make a
    # batch mean whose expectation is the expected rule's loss of the pool.
    # Given as plain sample weights, they would go through the rule again.
    n, budget = 512, 0.25
    torch.manual_seed(3)
    logits, y = torch.randn(n, 2) * 2, (torch.rand(n) < 0.1).long()
    loss_fn = RejectionLoss(class_weight=[0.1, 1.0], rejection="expected")
    _, _, acceptance = loss_fn.select(logits, y)
    losses = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    reference = ((acceptance * losses).sum() / acceptance.sum()).item()
    generator = torch.Generator().manual_seed(0)
    row_weighted, plain = [], []
    for _ in range(DRAWS):
        rows, weights = budget_selection(acceptance, budget, generator)
        weights = weights * (budget * n) / acceptance.sum()
        loss_fn.row_weighted = True
        row_weighted.append(float(loss_fn(logits[rows], y[rows], weights)))
        loss_fn.row_weighted = False
        plain.append(float(loss_fn(logits[rows], y[rows], weights)))
    row_weighted, plain = np.array(row_weighted), np.array(plain)
    error = abs(row_weighted.mean() - reference)
    assert error <= 4 * row_weighted.std() / DRAWS**0.5 + 1e-6
    assert abs(plain.mean() - reference) > 10 * row_weighted.std() / DRAWS**0.5


def test_a_row_with_a_non_finite_output_is_rejected_not_the_pool():
    # One NaN acceptance made the pool's sum, and so every kept row's
    # weight, NaN: the fit stopped with "the loss overflowed".
    torch.manual_seed(0)
    logits, y = torch.randn(64, 2), torch.arange(64) % 2
    logits[3] = float("nan")
    loss_fn = RejectionLoss(class_weight=[0.5, 1.0], rejection="expected")
    rows, weights = select_budget_rows(loss_fn, lambda X: X, 0.5, True, (logits, y))
    assert 3 not in rows.tolist() and len(rows) > 0
    assert bool(torch.isfinite(weights).all())


def test_an_override_of_get_loss_without_sample_weight_is_named():
    # skorch's signature has no sample_weight; the budget's steps pass one,
    # and the fit failed at its first step with Python's TypeError.
    class SkorchStyle(RSFTClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            return super().get_loss(y_pred, y_true, X=X, training=training)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] > 0.8).astype(int)
    with pytest.raises(TypeError, match="get_loss does not take sample_weight"):
        SkorchStyle(rejection="budget", max_epochs=1).fit(X, y)
    with pytest.raises(TypeError, match="the fit has sample weights"):
        SkorchStyle(max_epochs=1).fit(X, y, sample_weight=np.ones(len(y)))
    # Nothing to pass: as in skorch. Compacted steps do not call get_loss.
    fitted = SkorchStyle(max_epochs=2).fit(X, y)
    SkorchStyle(max_epochs=1, rejection="sample", compact=True).fit(
        X, y, sample_weight=np.ones(len(y))
    )
    # A refused refit leaves the fitted model as it was.
    proba = fitted.predict_proba(X)
    fitted.set_params(rejection="budget")
    with pytest.raises(TypeError, match="get_loss does not take sample_weight"):
        fitted.fit(X, y)
    assert len(fitted.history) == 2
    np.testing.assert_array_equal(fitted.predict_proba(X), proba)


def test_a_decorated_get_loss_that_takes_sample_weight_is_accepted():
    import functools

    def logged(method):
        # Takes the weights itself, whatever the method it wraps takes.
        @functools.wraps(method)
        def wrapper(self, *args, sample_weight=None, **kwargs):
            calls.append(sample_weight is not None)
            return RSFTClassifier.get_loss(
                self, *args, sample_weight=sample_weight, **kwargs
            )

        return wrapper

    calls = []

    class Decorated(RSFTClassifier):
        @logged
        def get_loss(self, y_pred, y_true, X=None, training=False):
            pass  # replaced by the wrapper

    class Passing(RSFTClassifier):
        @logged
        def get_loss(self, y_pred, y_true, X=None, training=False, sample_weight=None):
            return super().get_loss(
                y_pred, y_true, X=X, training=training, sample_weight=sample_weight
            )

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] > 0.8).astype(int)
    Passing(rejection="budget", max_epochs=1).fit(X, y)
    assert calls and all(calls)
    calls.clear()
    Decorated(rejection="budget", max_epochs=1).fit(X, y)
    assert calls and all(calls)


def test_a_get_loss_that_drops_the_budgets_weights_is_named():
    # It takes **kwargs, so its signature passes, but the criterion never
    # sees the budget's weights: the steps trained on a biased loss without
    # a word.
    class Dropping(RSFTClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False, **kwargs):
            return super().get_loss(y_pred, y_true, X=X, training=training)

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = (X[:, 0] > 0.8).astype(int)
    with pytest.raises(ValueError, match="without its rows' weights"):
        Dropping(rejection="budget", max_epochs=1).fit(X, y)
    # The other modes pass no weights there: nothing to drop.
    Dropping(rejection="pool", max_epochs=2).fit(X, y)
    # The loss module on its own: row_weighted needs the weights.
    loss_fn = RejectionLoss(n_classes=2)
    loss_fn.row_weighted = True
    logits = torch.zeros(4, 2, requires_grad=True)
    with pytest.raises(ValueError, match="pass them as sample_weight"):
        loss_fn(logits, torch.tensor([0, 1, 0, 1]))
    loss_fn(logits, torch.tensor([0, 1, 0, 1]), torch.ones(4)).backward()


def _no_row_messages(clf, X, y):
    """The "trained on no row" warnings of a fit."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    return [str(w.message) for w in caught if "trained on no row" in str(w.message)]


def test_a_budget_warm_up_that_keeps_no_row_blames_the_budget_not_M():
    X = np.random.default_rng(0).normal(size=(6, 3)).astype(np.float32)
    y = np.array([0, 0, 0, 0, 1, 1])
    clf = RSFTClassifier(
        rejection="budget",
        budget=0.05,
        max_epochs=2,
        warmup_epochs=2,
        train_split=None,
        random_state=1,
    )
    messages = _no_row_messages(clf, X, y)
    # Once "every row rejected ... Lower M, or raise budget": the rule is off
    # in a warm-up, and M plays no part.
    assert messages
    assert all("warm-up epoch under rejection='budget'" in m for m in messages)
    assert not any("M" in m.split("NaN.")[1] for m in messages)
    # With drop_last too (that branch said "every row rejected ... Lower M").
    clf.set_params(iterator_train__drop_last=True, budget=0.2, batch_size=4)
    messages = _no_row_messages(clf, X, y)
    assert messages
    assert all("warm-up epoch under rejection='budget'" in m for m in messages)
    assert all("drop drop_last" in m and "Lower M" not in m for m in messages)


def _row_weighted_part(rows, other_rows, logits, y, weight):
    """The loss and logit gradient of one process's part of a budget step,
    beside another process with ``other_rows`` rows."""

    def process_sum(tensor):
        # The other process's [rows, 1], added as an all-reduce would.
        return tensor + torch.tensor([float(other_rows), 1.0])

    loss = RejectionLoss(n_classes=3, rejection="expected", process_sum=process_sum)
    loss.row_weighted = True
    part = logits[rows].clone().requires_grad_(True)
    value = loss(part, y[rows], weight[rows])
    value.backward()
    return value.detach(), part.grad


@pytest.mark.parametrize("cut", [3, 0])
def test_budget_steps_average_to_the_global_batch_over_processes(cut):
    # A row-weighted (budget) step took each process's local mean: the
    # averaged gradient weighed every process alike (0.042 away from the
    # global batch's on a 3 + 6 split), and an empty part gave a NaN loss.
    torch.manual_seed(0)
    logits, y = torch.randn(9, 3), torch.tensor([0, 1, 2] * 3)
    weight = torch.tensor([0.5, 1.0, 2.0, 1.0, 1.0, 0.7, 1.3, 0.9, 1.1])
    single = RejectionLoss(n_classes=3, rejection="expected")
    single.row_weighted = True
    whole = logits.clone().requires_grad_(True)
    reference = single(whole, y, weight)
    reference.backward()
    first, second = torch.arange(cut), torch.arange(cut, 9)
    loss_a, grad_a = _row_weighted_part(first, 9 - cut, logits, y, weight)
    loss_b, grad_b = _row_weighted_part(second, cut, logits, y, weight)
    assert torch.isfinite(loss_a) and torch.isfinite(loss_b)
    # DDP averages the processes' gradients.
    torch.testing.assert_close((loss_a + loss_b) / 2, reference.detach())
    torch.testing.assert_close(torch.cat([grad_a, grad_b]) / 2, whole.grad)
    # On one process, an empty budget batch has a loss of 0, not NaN.
    empty = single(torch.zeros(0, 3), torch.zeros(0, dtype=torch.long), torch.zeros(0))
    assert float(empty) == 0.0
