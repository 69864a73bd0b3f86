"""Compaction: forward and backward on the accepted rows only."""

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from skorch.callbacks import Callback
from torch import nn

from rsft_sklearn import MLPModule, RSFTClassifier
from rsft_sklearn._compaction import AUTO_COMPACT_BELOW, _heavy, take_rows

# hardness=0 with these weights keeps every row with probability 1/4.
QUARTER = {"hardness": 0.0, "M": 4.0, "target": {0: 0.25, 1: 0.25}}


def _data(n=256, seed=0, minority=0.2):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < minority).astype(np.int64)
    X = rng.normal(size=(n, 5)) + 2.0 * y[:, None]
    return X.astype(np.float32), y


class Recorder(nn.Module):
    """An MLP that records, per call, the rows, mode and grad mode."""

    calls = []

    def __init__(self, n_features=5, n_classes=2, batchnorm=False, dropout=0.0):
        super().__init__()
        self.norm = nn.BatchNorm1d(n_features) if batchnorm else nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.mlp = MLPModule(n_features, n_classes, hidden_layer_sizes=(16,))

    def forward(self, X):
        Recorder.calls.append((len(X), self.training, torch.is_grad_enabled()))
        return self.mlp(self.drop(self.norm(X)))


class EpochFlags(Callback):
    """Record whether each epoch compacted."""

    def initialize(self):
        self.compacted = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.compacted.append(net.fit_state_.plan.compact)


@pytest.fixture(autouse=True)
def _clear_recorder():
    Recorder.calls.clear()


def _params(net):
    return [p.detach().clone() for p in net.module_.parameters()]


class SoftmaxOut(nn.Module):
    """An MLP ending in a softmax, as skorch's NLLLoss convention has it."""

    def __init__(self, n_features=5, n_classes=2):
        super().__init__()
        self.mlp = MLPModule(n_features, n_classes, hidden_layer_sizes=(16,))

    def forward(self, X):
        return torch.softmax(self.mlp(X), dim=-1)


NLL = {"module": SoftmaxOut, "criterion": nn.NLLLoss}


@pytest.mark.parametrize(
    "params",
    [
        QUARTER,
        {},
        {**QUARTER, "loss_normalization": "batch"},
        # The logit adjustment on the prior after rejection, which the
        # compacted loss once left out: the same loss either way.
        {"prior_correction": 1.0},
        {**QUARTER, "prior_correction": 1.0},
        NLL,
        {**NLL, "prior_correction": 1.0},
    ],
    ids=[
        "quarter",
        "default",
        "batch-normaliser",
        "prior-correction",
        "quarter-prior-correction",
        "nll-softmax",
        "nll-softmax-prior-correction",
    ],
)
def test_compaction_trains_the_same_model(params):
    # Same masks (one draw per batch either way) and the same loss, so only
    # floating-point rounding separates the two.
    X, y = _data()
    kw = {"max_epochs": 3, "batch_size": 32, "random_state": 0, **SAMPLE_RULE, **params}
    plain = RSFTClassifier(compact=False, **kw).fit(X, y)
    compact = RSFTClassifier(compact=True, **kw).fit(X, y)
    for key in ("acceptance_rate", "acceptance_rate[1]"):
        assert compact.history[:, key] == plain.history[:, key]
    for p, q in zip(_params(plain), _params(compact)):
        torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        compact.history[:, "train_loss"], plain.history[:, "train_loss"], rtol=1e-4
    )


def test_training_pass_sees_accepted_rows_only():
    X, y = _data(n=256)
    RSFTClassifier(
        Recorder,
        compact=True,
        max_epochs=1,
        batch_size=64,
        random_state=0,
        **SAMPLE_RULE,
        **QUARTER,
    ).fit(X, y)
    scoring = [c for c in Recorder.calls if not c[2]]
    training = [c for c in Recorder.calls if c[2]]
    assert [c[0] for c in scoring] == [64] * 4
    assert not any(c[1] for c in scoring), "the scoring pass runs in eval mode"
    assert all(c[1] for c in training)
    assert len(training) == 4
    # About a quarter of 64 rows per batch: far fewer than the batch.
    assert 4 * 8 <= sum(c[0] for c in training) <= 4 * 26


def test_uncompacted_step_runs_one_training_pass_per_batch():
    X, y = _data(n=256)
    RSFTClassifier(
        Recorder, max_epochs=1, batch_size=64, random_state=0, **SAMPLE_RULE, **QUARTER
    ).fit(X, y)
    assert Recorder.calls == [(64, True, True)] * 4


def test_auto_switches_on_after_a_low_acceptance_epoch():
    X, y = _data()
    flags = EpochFlags()
    net = RSFTClassifier(
        compact="auto",
        module__hidden_layer_sizes=(256, 256),
        batch_size=-1,
        max_epochs=3,
        rejection="sample",
        warmup_epochs=1,
        random_state=0,
        callbacks=[("flags", flags)],
        **QUARTER,
    ).fit(X, y)
    # Warm-up accepts everything; the first rejecting epoch cannot know its
    # rate yet; the third follows an epoch that accepted about a quarter.
    assert net.history[:, "acceptance_rate"][0] == 1.0
    assert net.history[:, "acceptance_rate"][1] < AUTO_COMPACT_BELOW
    assert flags.compacted == [False, False, True]


def test_auto_stays_off_for_a_small_network():
    X, y = _data()
    flags = EpochFlags()
    RSFTClassifier(
        compact="auto",
        max_epochs=3,
        random_state=0,
        **SAMPLE_RULE,
        callbacks=[("flags", flags)],
        **QUARTER,
    ).fit(X, y)
    assert flags.compacted == [False, False, False]
    # About 4.2 million parameters: heavy from batch size 4 on.
    module = MLPModule(5, 2, hidden_layer_sizes=(2048, 2048))
    assert not _heavy(module, 2)
    assert _heavy(module, 8)
    # Rows per batch unknown (None): not heavy, nothing to gain for sure.
    assert not _heavy(module, None)


def test_auto_stays_off_when_most_rows_are_accepted():
    X, y = _data()
    flags = EpochFlags()
    RSFTClassifier(
        compact="auto",
        module__hidden_layer_sizes=(256, 256),
        batch_size=-1,
        max_epochs=3,
        hardness=0.0,
        target="uniform",
        random_state=0,
        **SAMPLE_RULE,
        callbacks=[("flags", flags)],
    ).fit(X, y)
    assert flags.compacted == [False, False, False]


@pytest.mark.parametrize("compact", [False, True])
def test_batch_without_accepted_rows_changes_nothing(compact):
    # Warm-up epoch, then an epoch whose rule accepts (almost surely) nothing.
    X, y = _data(n=128)
    snapshots = []

    class Snapshot(Callback):
        def on_epoch_end(self, net, **kwargs):
            state = net.optimizer_.state_dict()["state"]
            snapshots.append(
                (
                    _params(net),
                    {k: {n: v.clone() for n, v in s.items()} for k, s in state.items()},
                )
            )

    net = RSFTClassifier(
        compact=compact,
        hardness=0.0,
        M=1e12,
        rejection="sample",
        warmup_epochs=1,
        max_epochs=2,
        batch_size=32,
        random_state=0,
        callbacks=[("snapshot", Snapshot())],
    ).fit(X, y)
    assert net.history[-1, "acceptance_rate"] == 0.0
    (p1, s1), (p2, s2) = snapshots
    for a, b in zip(p1, p2):
        assert torch.equal(a, b)
    for key in s1:
        for name in s1[key]:
            assert torch.equal(s1[key][name], s2[key][name])


def test_batchnorm_statistics_come_from_the_accepted_rows():
    # Class 0 is never accepted and sits far from class 1: an uncompacted
    # step normalises over both, a compacted one over class 1 alone.
    X, y = _data(n=256, minority=0.5)
    X[y == 0] -= 10.0
    kw = {
        "hardness": 0.0,
        "M": 1.0,
        "target": {0: 1e-9, 1: 1.0},
        "max_epochs": 3,
        "batch_size": 32,
        "random_state": 0,
        "module__batchnorm": True,
        **SAMPLE_RULE,
    }
    compact = RSFTClassifier(Recorder, compact=True, **kw).fit(X, y)
    plain = RSFTClassifier(Recorder, compact=False, **kw).fit(X, y)
    # Class 1 sits near +2 in every feature, class 0 near -10.
    assert torch.all(compact.module_.norm.running_mean > 0.5)
    assert torch.all(plain.module_.norm.running_mean < -2.0)


def test_batchnorm_with_a_single_accepted_row_trains():
    # One class-1 row in the data, class 0 never accepted: the batch holding
    # it has exactly one accepted row, which Recorder's BatchNorm1d, given
    # (N, C) rows, cannot train on alone (one value per channel).
    X, y = _data(n=64, minority=0.0)
    y[5] = 1
    net = RSFTClassifier(
        Recorder,
        compact=True,
        hardness=0.0,
        target={0: 1e-9, 1: 1.0},
        max_epochs=2,
        batch_size=16,
        random_state=0,
        module__batchnorm=True,
        **SAMPLE_RULE,
    ).fit(X, y)
    assert net.history[:, "acceptance_rate"] == [1 / 64, 1 / 64]
    assert (16, True, True) in Recorder.calls


def test_dropout_is_off_in_the_scoring_pass():
    X, y = _data(n=128)
    RSFTClassifier(
        Recorder,
        compact=True,
        max_epochs=1,
        batch_size=64,
        random_state=0,
        module__dropout=0.5,
        **SAMPLE_RULE,
        **QUARTER,
    ).fit(X, y)
    assert all(not training for _, training, grad in Recorder.calls if not grad)


def test_compaction_with_dict_input():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 2)
            self.b = nn.Linear(2, 2)

        def forward(self, a, b):
            return self.a(a) + self.b(b)

    X, y = _data(n=128)
    Xd = {"a": X[:, :3], "b": X[:, 3:]}
    kw = {
        "max_epochs": 2,
        "batch_size": 32,
        "random_state": 0,
        **SAMPLE_RULE,
        **QUARTER,
    }
    plain = RSFTClassifier(TwoInputs, **kw).fit(Xd, y)
    compact = RSFTClassifier(TwoInputs, compact=True, **kw).fit(Xd, y)
    np.testing.assert_allclose(
        compact.predict_proba(Xd), plain.predict_proba(Xd), atol=1e-5
    )


@pytest.mark.parametrize(
    "rejection, why",
    [
        ("expected", "every row keeps a positive loss weight"),
        ("budget", "the rows are chosen before the step"),
        ("pool", "the accepted rows are chosen before the step"),
        ("epoch", "the accepted rows are chosen before the epoch"),
    ],
)
def test_compact_needs_sample_rejection(rejection, why):
    # The message names the mode the user chose and why it has nothing to drop.
    X, y = _data(n=64)
    match = f"compact=True needs rejection='sample': with rejection='{rejection}' {why}"
    with pytest.raises(ValueError, match=match):
        RSFTClassifier(compact=True, rejection=rejection, max_epochs=1).fit(X, y)


def test_compact_rejects_unknown_values():
    X, y = _data(n=64)
    with pytest.raises(ValueError, match="compact"):
        RSFTClassifier(compact="always", max_epochs=1).fit(X, y)


def test_take_rows():
    rows = torch.tensor([2, 0])
    t = torch.arange(8.0).reshape(4, 2)
    assert torch.equal(take_rows(t, rows), t[[2, 0]])
    d = take_rows({"a": t, "b": t[:, 0]}, rows)
    assert torch.equal(d["b"], torch.tensor([4.0, 0.0]))
    pair = take_rows((t, t[:, 1]), rows)
    assert isinstance(pair, tuple) and torch.equal(pair[1], torch.tensor([5.0, 1.0]))
    with pytest.raises(TypeError, match="compact needs batches of tensors"):
        take_rows(np.zeros((4, 2)), rows)


class _InPlaceShift(nn.Module):
    """Shifts its input in place before an MLP (an in-place preprocessing
    layer)."""

    def __init__(self, n_features=5, n_classes=2):
        super().__init__()
        self.mlp = MLPModule(n_features, n_classes, hidden_layer_sizes=(16,))

    def forward(self, X):
        X.sub_(1.0)
        return self.mlp(X)


def _max_gap(a, b):
    pa, pb = a.module_.state_dict(), b.module_.state_dict()
    return max((pa[k] - pb[k]).abs().max().item() for k in pa)


def test_a_module_that_writes_into_its_input_trains_alike_compacted():
    # The scoring pass shifted the batch in place, and the training pass then
    # shifted the accepted rows a second time (parameters 0.02 apart).
    X, y = _data()
    fits = [
        RSFTClassifier(
            module=_InPlaceShift,
            **{**SAMPLE_RULE, **QUARTER},
            compact=compact,
            max_epochs=3,
            batch_size=32,
            random_state=0,
        ).fit(X, y)
        for compact in (False, True)
    ]
    assert _max_gap(*fits) < 1e-5


class _SqueezedOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, X):
        return self.linear(X).squeeze()


def test_compacted_training_pass_output_is_checked():
    # A one-row subset made the module's output 1-d, and the error blamed the
    # criterion ("must return one loss per sample").
    X, y = _data(n=512)
    params = {**SAMPLE_RULE, "M": 300.0, "max_epochs": 2, "random_state": 0}
    with pytest.raises(ValueError, match="The module must return a 2-d tensor"):
        RSFTClassifier(
            module=_SqueezedOutput, compact=True, batch_size=64, **params
        ).fit(X, y)


@pytest.mark.parametrize("rejection", ["expected", "pool"])
def test_compact_numpy_true_is_refused_like_true(rejection):
    X, y = _data(n=64)
    with pytest.raises(ValueError, match="compact=True needs rejection='sample'"):
        RSFTClassifier(compact=np.True_, rejection=rejection, max_epochs=1).fit(X, y)


class _NaNOnLargeFirstFeature(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, X):
        z = self.linear(X)
        return torch.where(X[:, :1] > 1.5, torch.full_like(z, float("nan")), z)


@pytest.mark.parametrize(
    "params",
    [{**SAMPLE_RULE, "compact": True}, {"rejection": "pool"}],
    ids=["compact", "pool"],
)
def test_rows_scored_non_finite_are_named(params):
    # The scoring pass rejected rows whose output was NaN, and the fit went
    # on without a word (the uncompacted step stops with an error).
    X, y = _data(n=300)
    n_bad = int((X[:, 0] > 1.5).sum())
    assert 0 < n_bad < len(X)
    clf = RSFTClassifier(
        module=_NaNOnLargeFirstFeature,
        **{"max_epochs": 2, "warmup_epochs": 0, "random_state": 0, **params},
    )
    with pytest.warns(UserWarning, match=f"not finite .* on {n_bad} rows"):
        clf.fit(X, y)


class _MaskedClass(nn.Module):
    """Three outputs, the last masked to -inf (a class never predicted)."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 3)

    def forward(self, X):
        z = self.linear(X)
        return torch.cat([z[:, :2], torch.full_like(z[:, 2:], float("-inf"))], 1)


def test_a_masked_class_is_not_counted_as_a_non_finite_output():
    # A -inf beside finite logits has a softmax: its rows are scored and
    # accepted as any, and the epoch warned that they had been rejected.
    import warnings

    X, y = _data(n=200)
    clf = RSFTClassifier(
        module=_MaskedClass,
        classes=[0, 1, 2],
        **{**SAMPLE_RULE, "compact": True, "max_epochs": 2, "random_state": 0},
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*not finite")
        clf.fit(X, y)


class _OutputKinds(nn.Module):
    """Rows whose first feature is 1, 2, 3, 4 or 5 get a NaN logit, a +inf
    logit, no finite logit, a -inf beside a finite one, or the largest
    float32 logits; the others the linear layer's output."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, X):
        z = self.linear(X)
        big = torch.finfo(z.dtype).max
        kinds = {
            1.0: [float("nan"), 0.0],
            2.0: [0.0, float("inf")],
            3.0: [float("-inf"), float("-inf")],
            4.0: [float("-inf"), 0.0],
            5.0: [big, big],
        }
        for value, row in kinds.items():
            z = torch.where(X[:, :1] == value, z.new_tensor(row), z)
        return z


def test_exactly_the_rows_without_a_softmax_are_counted():
    # NaN, +inf and no finite logit have no softmax; a masked logit beside a
    # finite one and the largest finite logits have one.
    X, y = _data(n=300)
    X[:, 0] = np.where(np.arange(300) % 10 < 5, np.arange(300) % 10 + 1, 0.0)
    # The masked class is not the label of the rows that mask it (their loss
    # would be inf).
    y[X[:, 0] == 4] = 1
    clf = RSFTClassifier(
        module=_OutputKinds,
        **{"max_epochs": 1, "warmup_epochs": 0, "random_state": 0},
        rejection="pool",
    )
    with pytest.warns(UserWarning, match="not finite .* on 90 rows"):
        clf.fit(X, y)
