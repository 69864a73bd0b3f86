"""torch's default dtype (``torch.set_default_dtype``) changes nothing.

The package trains in float32 whatever the default: every tensor of the
rule, the selection and the default networks is built with its dtype, so a
fit under a float64 (or float16) default draws the same numbers and gives
the same probabilities, bit for bit, as under float32; before, some of them
drew other rows, trained other layers, or failed."""

import pickle

import numpy as np
import pytest
import torch
from _rules import NO_WARMUP, SAMPLE_RULE
from sklearn.datasets import make_classification

from rsft_sklearn import (
    BatchIterator,
    EmbeddingBagModule,
    InMemoryDataset,
    RejectionLoss,
    RSFTClassifier,
    TokenIndexer,
    budget_selection,
)
from rsft_sklearn._guards import EmptyStepGuard
from rsft_sklearn.benchmark._networks import CNN1d


def _data(n=300):
    X, y = make_classification(
        n_samples=n,
        n_features=8,
        n_informative=5,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    return X.astype(np.float32), y


def _fit(X, y, sample_weight=None, **params):
    params = {
        "max_epochs": 3,
        "batch_size": 64,
        "lr": 1e-2,
        "module__hidden_layer_sizes": (16,),
        "random_state": 0,
        **params,
    }
    net = RSFTClassifier(**params)
    return net.fit(X, y, sample_weight=sample_weight)


def _assert_same_fit(a, b, X):
    for (name, p), q in zip(a.module_.named_parameters(), b.module_.parameters()):
        assert p.dtype == q.dtype == torch.float32, name
        assert torch.equal(p, q), name
    assert a.predict_proba(X).tobytes() == b.predict_proba(X).tobytes()


MODES = {
    # The default: warm-up epochs (the plain loss), then the expected rule.
    "default": {},
    "sample": SAMPLE_RULE,
    "pool": {**SAMPLE_RULE, "rejection": "pool", "pool_size": 2},
    "epoch": {**SAMPLE_RULE, "rejection": "epoch"},
    "auto": {**SAMPLE_RULE, "M": "auto", "target_acceptance": 0.5},
    "budget": {**NO_WARMUP, "rejection": "budget", "budget": 0.5, "pool_size": 2},
    # Every epoch a warm-up: rows kept uniformly, with the budget's share.
    "budget-warmup": {"rejection": "budget", "budget": 0.5, "pool_size": 2},
    "budget-rescore": {
        **NO_WARMUP,
        "rejection": "budget",
        "budget": 0.5,
        "pool_size": 2,
        "rescore_every": 2,
        "max_epochs": 4,
    },
}


@pytest.mark.parametrize("weighted", [False, True], ids=["unweighted", "weighted"])
@pytest.mark.parametrize("mode", MODES)
def test_a_float64_default_trains_as_the_float32_default(mode, weighted, default_dtype):
    # Before, rejection="budget" kept other rows (a float64 draw takes other
    # values from the generator: probabilities 0.17 apart after 3 epochs),
    # and with rescore_every=2 failed in index_copy_ (a float64 store).
    X, y = _data()
    weight = np.linspace(0.5, 2.0, len(y)) if weighted else None
    reference = _fit(X, y, weight, **MODES[mode])
    with default_dtype(torch.float64):
        net = _fit(X, y, weight, **MODES[mode])
    _assert_same_fit(net, reference, X)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("mode", ["default", "budget", "auto"])
def test_a_half_precision_default_trains_as_the_float32_default(
    mode, dtype, default_dtype
):
    X, y = _data()
    reference = _fit(X, y, **MODES[mode])
    with default_dtype(dtype):
        net = _fit(X, y, **MODES[mode])
    _assert_same_fit(net, reference, X)


def test_budget_selection_draws_the_same_rows_under_a_float64_default(
    default_dtype,
):
    acceptance = torch.linspace(0.05, 1.0, 40)
    rows, weights = budget_selection(acceptance, 0.3, torch.Generator().manual_seed(0))
    with default_dtype(torch.float64):
        rows64, weights64 = budget_selection(
            acceptance, 0.3, torch.Generator().manual_seed(0)
        )
    # Before: rows [11, 17, 20, ...] against [12, 13, 18, ...].
    assert rows64.tolist() == rows.tolist()
    assert weights64.dtype == torch.float32
    assert torch.equal(weights64, weights)


def test_the_row_store_is_float32_under_a_float64_default(default_dtype):
    dataset = InMemoryDataset(torch.zeros(5, 2), torch.arange(5))
    with default_dtype(torch.float64):
        store = BatchIterator(dataset).row_store()
    assert store.dtype == torch.float32
    assert store.shape == (5,) and torch.isnan(store).all()
    # The float32 acceptances of a scored pool go into it.
    store.index_copy_(0, torch.tensor([1, 3]), torch.tensor([0.25, 0.5]))
    assert store[[1, 3]].tolist() == [0.25, 0.5]


def _token_data():
    rng = np.random.RandomState(0)
    y = (rng.rand(200) < 0.2).astype(int)
    words = ["good", "bad", "ok", "meh", "great", "awful"]
    docs = [
        " ".join(rng.choice(words, 5)) + (" great" if label else " meh") for label in y
    ]
    ids = TokenIndexer(max_length=8).fit_transform(docs)
    table = rng.randn(int(ids.max()) + 1, 4).astype(np.float32)
    return ids, y, table


@pytest.mark.parametrize("pretrained", [False, True], ids=["vocabulary", "pretrained"])
def test_embedding_bag_module_trains_in_float32_under_a_float64_default(
    pretrained, default_dtype
):
    # Before: float64 layers (the same seed drew other initial weights), and
    # with pretrained embeddings "mat1 and mat2 must have the same dtype" at
    # the first batch (a float32 table under a float64 head).
    ids, y, table = _token_data()
    sizes = (
        {"module__pretrained_embeddings": table}
        if pretrained
        else {"module__vocab_size": len(table), "module__embedding_dim": 4}
    )

    def fit():
        return RSFTClassifier(
            module=EmbeddingBagModule,
            module__n_classes=2,
            max_epochs=2,
            batch_size=32,
            random_state=0,
            **sizes,
        ).fit(ids, y)

    reference = fit()
    with default_dtype(torch.float64):
        net = fit()
        module = EmbeddingBagModule(n_classes=2, pretrained_embeddings=table)
        assert module(torch.as_tensor(ids[:3])).dtype == torch.float32
    assert {p.dtype for p in module.parameters()} == {torch.float32}
    _assert_same_fit(net, reference, ids)


def test_benchmark_cnn_trains_in_float32_under_a_float64_default(default_dtype):
    # Before: "Input type (float) and bias type (double) should be the same".
    rng = np.random.RandomState(0)
    X = rng.randn(64, 40).astype(np.float32)
    y = rng.randint(0, 2, 64)

    def fit():
        return RSFTClassifier(
            module=CNN1d, module__n_classes=2, max_epochs=1, random_state=0
        ).fit(X, y)

    reference = fit()
    with default_dtype(torch.float64):
        net = fit()
    _assert_same_fit(net, reference, X)


def test_the_skip_flag_of_fused_optimisers_is_float32(default_dtype):
    parameter = torch.nn.Parameter(torch.ones(3, dtype=torch.float32))
    optimizer = torch.optim.Adam([parameter], lr=0.1, fused=True)
    guard = EmptyStepGuard([optimizer], "cpu")
    with default_dtype(torch.float64):
        guard.snapshot()
    assert optimizer.found_inf.dtype == torch.float32
    # Nothing accepted: the fused step is skipped (before: "expected scalar
    # type Float but found Double").
    parameter.grad = torch.ones(3)
    guard.accepted(torch.tensor(0.0))
    optimizer.step()
    assert parameter.tolist() == [1.0, 1.0, 1.0]


def test_fused_adam_on_the_device_path_trains_under_a_float64_default(
    default_dtype, monkeypatch
):
    # The path of an accelerator: the fused optimiser is handed the flag.
    monkeypatch.setattr("rsft_sklearn._guards.HOST_READ_DEVICES", ())
    X, y = _data()
    params = {**SAMPLE_RULE, "M": 5.0, "optimizer__fused": True}
    reference = _fit(X, y, **params)
    with default_dtype(torch.float64):
        net = _fit(X, y, **params)
    _assert_same_fit(net, reference, X)


def _batch():
    generator = torch.Generator().manual_seed(3)
    logits = torch.randn(64, 3, generator=generator, dtype=torch.float32)
    y = torch.randint(0, 3, (64,), generator=generator)
    return logits, y


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
@pytest.mark.parametrize("M", [1.01, 1e5, "auto"])
def test_rejection_loss_state_is_float32_under_any_default(M, dtype, default_dtype):
    def build():
        extra = {"target_acceptance": 0.3} if M == "auto" else {}
        return RejectionLoss(class_weight=[1.0, 1e-4, 1e-4], M=M, **extra)

    logits, y = _batch()
    reference = build()
    with default_dtype(dtype):
        loss_fn = build()
    for name in ("M", "log_M", "epoch_log_M", "step_accepted"):
        assert getattr(loss_fn, name).dtype == torch.float32, name
    # Before, under float16, M=1e5 was inf: every acceptance 0.
    torch.testing.assert_close(loss_fn.M, reference.M, rtol=0, atol=0, equal_nan=True)
    _, _, acceptance = loss_fn.select(logits, y)
    _, _, expected = reference.select(logits, y)
    assert torch.equal(acceptance, expected)
    assert float(acceptance.sum()) > 0


def test_rejection_loss_warmup_is_float32_under_a_float64_default(default_dtype):
    logits, y = _batch()
    reference = RejectionLoss(n_classes=3)
    reference.begin_epoch(rejecting=False)
    with default_dtype(torch.float64):
        loss_fn = RejectionLoss(n_classes=3)
        loss_fn.begin_epoch(rejecting=False)
        weight, accepted, acceptance = loss_fn.select(logits, y)
        loss = loss_fn(logits, y)
    # Before: float64 ones, which made the warm-up loss float64.
    assert {weight.dtype, accepted.dtype, acceptance.dtype} == {torch.float32}
    assert loss.dtype == torch.float32
    assert torch.equal(loss, reference(logits, y))


def test_rejection_loss_loads_states_saved_in_either_dtype(default_dtype):
    logits, y = _batch()
    source = RejectionLoss(n_classes=3, M=2.5)
    source(logits, y)
    saved = source.state_dict()
    # As a loss built under a float64 default saved them before.
    saved64 = {
        k: v.double() if k in ("M", "log_M", "epoch_log_M") else v
        for k, v in saved.items()
    }
    for state in (saved, saved64):
        loss_fn = RejectionLoss(n_classes=3)
        loss_fn.load_state_dict(state)
        assert loss_fn.M.dtype == torch.float32 and float(loss_fn.M) == 2.5
        assert torch.equal(loss_fn.counts, source.counts)
    with default_dtype(torch.float64):
        clone = pickle.loads(pickle.dumps(source))
    assert clone.M.dtype == torch.float32
    _, _, acceptance = clone.select(logits, y)
    assert torch.equal(acceptance, source.select(logits, y)[2])
