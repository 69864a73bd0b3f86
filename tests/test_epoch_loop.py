"""The epoch loop: skorch's contract with fewer calls per batch.

Callbacks that inherit skorch's do-nothing batch methods are not called,
the parameters go to ``on_grad_computed`` only when a callback defines it,
and the rule's per-class counts are added in groups of batches when no
step reads them in between.
"""

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE, two_class_data
from skorch.callbacks import Callback, GradientNormClipping

from rsft_sklearn import RSFTClassifier, _loss


def _data(n=200, seed=0):
    return two_class_data(n, 0.2, 4, seed)


class Counting(Callback):
    """Counts the batch-level calls it receives."""

    def __init__(self):
        self.calls = {}

    def _count(self, name):
        self.calls[name] = self.calls.get(name, 0) + 1

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        self._count("on_batch_begin")

    def on_batch_end(self, net, batch=None, training=None, **kwargs):
        self._count("on_batch_end")
        assert {"loss", "y_pred"} <= set(kwargs)


class GradNorms(Callback):
    def __init__(self):
        self.norms = []

    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.norms.append(
            sum(float(p.grad.norm()) for _, p in named_parameters if p.grad is not None)
        )


class Silent(Callback):
    """Defines no batch-level method: a call to one would be a bug here."""

    def __getattribute__(self, name):
        if name in {"on_batch_begin", "on_batch_end", "on_grad_computed"}:
            calls = object.__getattribute__(self, "looked_up")
            calls.append(name)
        return object.__getattribute__(self, name)

    def __init__(self):
        self.looked_up = []


def _net(callbacks, **params):
    params = {"max_epochs": 2, "batch_size": 32, **SAMPLE_RULE, **params}
    return RSFTClassifier(callbacks=callbacks, random_state=0, **params)


def test_batch_methods_reach_the_callbacks_that_define_them():
    counting, grads, silent = Counting(), GradNorms(), Silent()
    net = _net([("counting", counting), ("grads", grads), ("silent", silent)])
    net.fit(*_data())
    n_batches = sum(net.history[:, "train_batch_count"])
    assert counting.calls == {"on_batch_begin": n_batches, "on_batch_end": n_batches}
    assert len(grads.norms) == n_batches and all(n >= 0 for n in grads.norms)
    # Looked up once per fit and method, never called.
    assert silent.looked_up.count("on_batch_begin") <= 1
    assert silent.looked_up.count("on_batch_end") <= 1


class TotalGradNorm(Callback):
    """The 2-norm of all gradients, as the optimiser will see them."""

    def __init__(self):
        self.norms = []

    def on_grad_computed(self, net, named_parameters, **kwargs):
        grads = [p.grad for _, p in named_parameters if p.grad is not None]
        self.norms.append(
            float(
                torch.linalg.vector_norm(
                    torch.stack([torch.linalg.vector_norm(g) for g in grads])
                )
            )
        )


@pytest.mark.parametrize(
    "params",
    [
        {"rejection": "expected"},
        {"rejection": "sample"},
        {"rejection": "sample", "compact": True},
        {"rejection": "epoch"},
        {"rejection": "pool"},
        {"rejection": "budget"},
    ],
    ids=lambda p: "-".join(map(str, p.values())),
)
def test_gradient_norm_clipping_bounds_every_step(params):
    # skorch's GradientNormClipping (what the user guide recommends with
    # plain SGD) acts on every training path: each step's gradient reaches
    # the optimiser clipped, warm-up and rule steps alike.
    clip, before, after = 0.05, TotalGradNorm(), TotalGradNorm()
    net = _net(
        [("before", before), ("clip", GradientNormClipping(clip)), ("after", after)],
        max_epochs=3,
        warmup_epochs=1,
        **{**params},
    )
    net.fit(*_data())
    assert len(after.norms) == sum(net.history[:, "train_batch_count"]) > 0
    assert max(after.norms) <= clip * (1 + 1e-4)
    # The clip had something to do: unclipped steps exceed it.
    assert max(before.norms) > 2 * clip


def test_history_batches_match_skorch():
    X, y = _data()
    net = _net([]).fit(X, y)
    for epoch in net.history:
        sizes = [b["train_batch_size"] for b in epoch["batches"]]
        assert sizes == [32] * 6 + [8]
        losses = [b["train_loss"] for b in epoch["batches"]]
        assert all(isinstance(v, float) and np.isfinite(v) for v in losses)
        assert epoch["train_batch_count"] == 7


def test_replaced_callbacks_are_seen():
    X, y = _data()
    first, second = Counting(), Counting()
    net = _net([("counting", first)]).fit(X, y)
    net.callbacks = [("counting", second)]
    net.initialize_callbacks()
    net.partial_fit(X, y)
    assert first.calls["on_batch_end"] == 14
    assert second.calls["on_batch_end"] == 14


def test_callbacks_appended_after_initialisation_are_seen():
    X, y = _data()
    net = _net([]).fit(X, y)
    late = Counting()
    net.callbacks_.append(("late", late))
    net.partial_fit(X, y)
    assert late.calls["on_batch_begin"] == 14


@pytest.mark.parametrize("rejection", ["sample", "expected", "pool"])
def test_grouped_counts_equal_per_step_counts(rejection, monkeypatch):
    X, y = _data(600)
    params = {"rejection": rejection, "max_epochs": 3}
    grouped = _net([], **params).fit(X, y)
    monkeypatch.setattr(_loss, "_COUNT_GROUP", 1)
    per_step = _net([], **params).fit(X, y)
    keys = [k for k in grouped.history[-1] if "accept" in k or k == "M_effective"]
    assert keys
    for key in keys:
        np.testing.assert_allclose(
            grouped.history[:, key], per_step.history[:, key], rtol=1e-6
        )
    for a, b in zip(grouped.module_.parameters(), per_step.module_.parameters()):
        torch.testing.assert_close(a, b)


class CountsAtBatchEnd(Callback):
    """The counts a checkpoint's ``state_dict`` sees after each batch."""

    def __init__(self):
        self.seen = []

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            counts = net.criterion_.state_dict()["counts"]
            self.seen.append(float(counts[0].sum()))


def test_state_dict_holds_every_recorded_batch():
    X, y = _data(600)
    callback = CountsAtBatchEnd()
    _net([("counts", callback)], batch_size=8, max_epochs=1).fit(X, y)
    # Each batch of 8 rows is in the counts the moment it ends, although
    # batches are added in groups of more than one.
    assert _loss._COUNT_GROUP > 1
    np.testing.assert_array_equal(callback.seen, 8 * np.arange(1, 76))


def test_logit_adjustment_reads_current_counts():
    # With prior_correction the counts are read at every step, so every
    # batch is added at once.
    loss = _loss.RejectionLoss(
        torch.nn.CrossEntropyLoss(reduction="none"),
        class_weight=[1.0, 4.0],
        rejection="expected",
        prior_correction=1.0,
    )
    loss.set_class_prior(torch.tensor([0.8, 0.2]))
    logits = torch.zeros(6, 2, requires_grad=True)
    loss(logits, torch.tensor([0, 0, 0, 1, 1, 0]))
    assert not loss._pending_counts
    assert float(loss.counts[0].sum()) == 6


class ModeRecorder(torch.nn.Module):
    """Records the training flag of its inner layer at every forward pass."""

    def __init__(self, n_features=4, n_classes=2):
        super().__init__()
        self.inner = torch.nn.Sequential(
            torch.nn.Linear(n_features, 8), torch.nn.Dropout(0.5)
        )
        self.out = torch.nn.Linear(8, n_classes)
        self.modes = []

    def forward(self, X):
        self.modes.append((torch.is_grad_enabled(), self.inner[1].training))
        return self.out(self.inner(X))


class FrozenNorm(ModeRecorder):
    """Keeps its inner layers in evaluation mode whatever the net asks."""

    def train(self, mode=True):
        super().train(mode)
        self.inner.eval()
        return self


@pytest.mark.parametrize("rejection", ["pool", "budget"])
def test_pooled_scoring_switches_every_module(rejection):
    X, y = _data(600)
    net = _net([], module=ModeRecorder, rejection=rejection, max_epochs=2).fit(X, y)
    modes = net.module_.modes
    scoring = {training for grad, training in modes if not grad}
    steps = {training for grad, training in modes if grad}
    assert scoring == {False} and steps == {True}


def test_a_module_with_its_own_train_keeps_it():
    X, y = _data(600)
    net = _net([], module=FrozenNorm, rejection="pool", max_epochs=2).fit(X, y)
    assert {training for _, training in net.module_.modes} == {False}
    assert net.module_.training and not net.module_.inner[1].training


class NotifyLog(RSFTClassifier):
    """A subclass with a notify of its own, which sees every event."""

    def notify(self, method_name, **cb_kwargs):
        self.__dict__.setdefault("events_", []).append(method_name)
        super().notify(method_name, **cb_kwargs)


def test_a_subclass_notify_sees_the_batch_events():
    X, y = _data()
    params = {"max_epochs": 2, "batch_size": 32, **SAMPLE_RULE}
    net = NotifyLog(random_state=0, **params).fit(X, y)
    events = net.events_
    assert events.count("on_batch_begin") == events.count("on_batch_end") == 14
    assert events[0] == "on_train_begin" and events[-1] == "on_train_end"


def test_skorch_net_batch_end_and_grad_computed_do_nothing():
    # The loop skips the net's own on_batch_end and on_grad_computed while
    # they are skorch's, which must then do nothing.
    from skorch import NeuralNet

    from rsft_sklearn._base import _NET_NO_OPS

    class Recorder:
        def __getattr__(self, name):
            raise AssertionError(f"touched {name}")

    for name in _NET_NO_OPS:
        assert (
            getattr(NeuralNet, name)(Recorder(), Recorder(), named_parameters=[])
            is None
        )


class GradHook(RSFTClassifier):
    def on_grad_computed(self, net, named_parameters, **kwargs):
        self.__dict__["grad_calls_"] = self.__dict__.get("grad_calls_", 0) + 1


def test_a_net_defining_on_grad_computed_gets_it():
    X, y = _data()
    params = {"max_epochs": 2, "batch_size": 32, **SAMPLE_RULE}
    net = GradHook(random_state=0, **params).fit(X, y)
    assert net.grad_calls_ == 14


def test_mode_switch_list_only_for_plain_modules():
    from rsft_sklearn._base import _mode_trees

    plain, loss = ModeRecorder(), _loss.RejectionLoss()
    trees = _mode_trees([plain, loss, "not a module"])
    assert trees == [list(plain.modules()), list(loss.modules())]
    assert _mode_trees([plain, FrozenNorm()]) is False
    # A wrapper that keeps its flag elsewhere (torch.compile's) keeps the walk.
    assert _mode_trees([torch.compile(ModeRecorder())]) is False


def test_skorchs_distributed_history_records_the_same_batches():
    # DistributedHistory is not a list and shares every batch's values
    # through a store, so it gets floats through its own methods.
    from skorch.history import DistributedHistory

    X, y = _data()
    plain = _net([]).fit(X, y)
    history = DistributedHistory(
        store=torch.distributed.HashStore(), rank=0, world_size=1
    )
    shared = _net([], history=history).fit(X, y)
    np.testing.assert_allclose(
        shared.history[:, "batches", :, "train_loss"],
        plain.history[:, "batches", :, "train_loss"],
        rtol=1e-6,
    )
    assert shared.history[:, "train_batch_count"] == [7, 7]
    assert shared.history[:, "train_loss"] == pytest.approx(
        plain.history[:, "train_loss"], rel=1e-6
    )
