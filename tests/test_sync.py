"""Host synchronisation during training: RSFT makes none per batch.

On a GPU, reading a device value on the host (``.item()``, ``bool(t)``) or
an operation whose output size depends on the data (``nonzero``, boolean
masks) stalls the host until the device has caught up. The counting below
sees those operations at the dispatcher, so it works on the CPU too.
"""

import copy

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback
from torch.utils._python_dispatch import TorchDispatchMode

from rsft_sklearn import MLPModule, RSFTClassifier

SYNCING = {
    "aten._local_scalar_dense",
    "aten.item",
    "aten.is_nonzero",
    "aten.equal",
    "aten.nonzero",
    "aten.masked_select",
    "aten.masked_scatter",
    "aten.repeat_interleave",
    "aten._unique2",
    "aten.unique_dim",
    "aten.unique_consecutive",
}
INDEXING = {"aten.index", "aten.index_put", "aten.index_put_", "aten._index_put_impl_"}

N_FEATURES = 6
BATCH_SIZE = 32


def _is_bool_tensor(value):
    return isinstance(value, torch.Tensor) and value.dtype in (torch.bool, torch.uint8)


def _syncs(func, args):
    name = func.overloadpacket._qualified_op_name.replace("::", ".")
    if name in SYNCING:
        return True
    if name in INDEXING and len(args) > 1:
        indices = args[1] if isinstance(args[1], (list, tuple)) else [args[1]]
        return any(_is_bool_tensor(i) for i in indices)
    return False


class SyncCounter(TorchDispatchMode):
    """Count synchronising operations, split by the batch they happen in."""

    def __init__(self):
        super().__init__()
        self.batch = None
        self.per_batch = []
        self.outside = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if _syncs(func, args):
            name = str(func.overloadpacket)
            if self.batch is None:
                self.outside.append(name)
            else:
                self.per_batch[self.batch].append(name)
        return func(*args, **(kwargs or {}))


class BatchWindow(Callback):
    """Tell the counter when a training batch begins and ends."""

    def __init__(self, counter):
        self.counter = counter

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.counter.per_batch.append([])
            self.counter.batch = len(self.counter.per_batch) - 1

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        self.counter.batch = None


@pytest.fixture(autouse=True)
def device_path(monkeypatch):
    """Run the path a GPU takes: on the CPU, where a host read costs
    nothing, an all-rejected step is skipped after reading the accepted
    count (tested in ``test_guard.py``)."""
    monkeypatch.setattr("rsft_sklearn._guards.HOST_READ_DEVICES", ())


def _data(n, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int64)
    X = rng.normal(size=(n, N_FEATURES)) + y[:, None]
    return X.astype(np.float32), y


def _count(make_net, n=128, sample_weight=None):
    X, y = _data(n)
    counter = SyncCounter()
    net = make_net([("sync_window", BatchWindow(counter))])
    torch.manual_seed(0)
    with counter:
        if sample_weight is None:
            net.fit(X, y)
        else:
            net.fit(X, y, sample_weight=np.linspace(0.5, 2.0, n))
    return counter


def _skorch(callbacks):
    return NeuralNetClassifier(
        MLPModule,
        module__n_features=N_FEATURES,
        module__n_classes=2,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        max_epochs=2,
        batch_size=BATCH_SIZE,
        train_split=None,
        callbacks=callbacks,
    )


def _rsft(**params):
    def make(callbacks):
        return RSFTClassifier(
            max_epochs=2,
            batch_size=BATCH_SIZE,
            random_state=0,
            callbacks=callbacks,
            **{**SAMPLE_RULE, **params},
        )

    return make


@pytest.fixture(scope="module")
def skorch_counts():
    return _count(_skorch)


def test_counter_sees_item_and_boolean_masks():
    counter = SyncCounter()
    counter.per_batch.append([])
    counter.batch = 0
    t = torch.arange(4.0)
    with counter:
        t.sum().item()
        t[t > 1]
        t.nonzero()
        t.index_select(0, torch.tensor([0, 2]))
        torch.where(t > 1, t, 0.0)
    names = counter.per_batch[0]
    assert "aten._local_scalar_dense" in names
    assert "aten.index" in names
    assert "aten.nonzero" in names
    assert len(names) == 3


def test_plain_skorch_reads_the_loss_once_per_batch(skorch_counts):
    # skorch's run_single_epoch records loss.item() after every step; on the
    # CPU, Adam also reads each parameter's step counter (a host tensor on
    # every device, so no device synchronisation there).
    assert len(skorch_counts.per_batch) == 2 * 4
    assert all(b == skorch_counts.per_batch[0] for b in skorch_counts.per_batch)

    def sgd(callbacks):
        return _skorch(callbacks).set_params(optimizer=torch.optim.SGD)

    assert all(b == ["aten._local_scalar_dense"] for b in _count(sgd).per_batch)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"hardness": 0.0, "M": 2.0},
        {"rejection": "expected"},
        {"loss_normalization": "batch", "target": "uniform"},
        {"warmup_epochs": 1},
        {"compact": "auto"},
        {"optimizer": torch.optim.SGD},
        {"optimizer": torch.optim.SGD, "optimizer__momentum": 0.9},
        {
            "optimizer": torch.optim.SGD,
            "optimizer__momentum": 0.9,
            "optimizer__fused": True,
        },
        {"optimizer": torch.optim.AdamW, "optimizer__fused": True},
    ],
    ids=[
        "default",
        "hardness0",
        "expected",
        "batch-norm",
        "warmup",
        "auto",
        "sgd",
        "momentum",
        "fused-momentum",
        "fused-adamw",
    ],
)
def test_rsft_reads_nothing_per_batch(skorch_counts, params):
    # Plain skorch reads the loss after every step (and its Adam the step
    # counters); RSFT writes the losses into the history once per epoch and
    # its default Adam is fused. "auto" never compacts here: the first epoch
    # cannot, and the second follows an epoch that accepted more than half
    # of the rows.
    counts = _count(_rsft(**params))
    assert len(counts.per_batch) == len(skorch_counts.per_batch) == 2 * 4
    assert all(names == [] for names in counts.per_batch)


def test_sample_weight_adds_no_synchronisation_per_batch():
    counts = _count(_rsft(), sample_weight=True)
    assert all(names == [] for names in counts.per_batch)


def test_unfused_adam_reads_only_its_host_step_counters(skorch_counts):
    # An Adam the user set to foreach=False reads each parameter's step
    # counter, a host tensor on every device (no device synchronisation):
    # plain skorch's reads less its loss read.
    counts = _count(_rsft(optimizer__foreach=False))
    expected = []
    for names in skorch_counts.per_batch:
        names = list(names)
        names.remove("aten._local_scalar_dense")
        expected.append(names)
    assert counts.per_batch == expected
    assert all(names for names in expected)


def test_history_loss_equals_plain_skorch():
    # The batches' losses reach the history once per epoch, with the values
    # (and the epoch means, the table and early stopping) of a plain fit.
    X, y = _data(300)
    torch.manual_seed(0)
    module = MLPModule(n_features=N_FEATURES, n_classes=2)
    common = dict(
        lr=1e-3,
        max_epochs=3,
        batch_size=BATCH_SIZE,
        iterator_train__shuffle=False,
    )
    rsft = RSFTClassifier(
        copy.deepcopy(module),
        warmup_epochs=3,
        prior_correction=0.0,
        random_state=0,
        **common,
    ).fit(X, y)
    plain = NeuralNetClassifier(
        copy.deepcopy(module),
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        train_split=None,
        **common,
    ).fit(X, y)
    np.testing.assert_allclose(
        rsft.history[:, "train_loss"], plain.history[:, "train_loss"], rtol=1e-5
    )
    batches = rsft.history[:, "batches", :, "train_loss"]
    assert all(type(v) is float for epoch in batches for v in epoch)
    np.testing.assert_allclose(
        batches, plain.history[:, "batches", :, "train_loss"], rtol=1e-5
    )


def test_loss_read_during_the_epoch_is_the_same_float():
    # A callback that reads a batch's loss before the epoch ends gets the
    # value (at the cost of a wait), as in skorch.
    seen = []

    class ReadLoss(Callback):
        def on_batch_end(self, net, training=None, **kwargs):
            if training:
                seen.append(float(net.history[-1, "batches", -1, "train_loss"]))

    X, y = _data(128)
    net = RSFTClassifier(
        max_epochs=2, batch_size=BATCH_SIZE, random_state=0, callbacks=[ReadLoss()]
    ).fit(X, y)
    assert seen == [
        v for epoch in net.history[:, "batches", :, "train_loss"] for v in epoch
    ]


def test_synchronisation_outside_batches_does_not_grow_with_the_data():
    # Per-epoch reads (statistics for the history) are allowed; the iterator
    # must not add any per batch.
    small = _count(_rsft(), n=64)
    large = _count(_rsft(), n=512)
    assert len(large.per_batch) == 8 * len(small.per_batch)
    assert large.outside == small.outside


def test_compaction_synchronises_once_per_batch(skorch_counts):
    counts = _count(_rsft(compact=True, hardness=0.0, M=2.0))
    assert len(counts.per_batch) == len(skorch_counts.per_batch)
    assert all(names == ["aten.nonzero"] for names in counts.per_batch)


def test_pool_reads_once_per_pool_and_never_per_batch():
    # 128 rows in batches of 8, pools of 4 batches: 4 pools per epoch, each
    # read once (the accepted rows' number, by nonzero) outside the steps.
    def make(callbacks):
        return RSFTClassifier(
            rejection="pool",
            warmup_epochs=0,
            pool_size=4,
            batch_size=8,
            max_epochs=2,
            optimizer=torch.optim.SGD,
            random_state=0,
            callbacks=callbacks,
        )

    counts = _count(make)
    assert all(names == [] for names in counts.per_batch)
    assert counts.outside.count("aten.nonzero") == 2 * 4


def test_validation_split_keeps_both_losses():
    from skorch.dataset import ValidSplit

    X, y = _data(200)
    net = RSFTClassifier(
        max_epochs=2, batch_size=BATCH_SIZE, random_state=0, train_split=ValidSplit(4)
    ).fit(X, y)
    for epoch in net.history:
        losses = [b["train_loss"] for b in epoch["batches"] if "train_loss" in b]
        assert losses and all(type(v) is float for v in losses)
        assert np.isfinite(epoch["train_loss"]) and np.isfinite(epoch["valid_loss"])
