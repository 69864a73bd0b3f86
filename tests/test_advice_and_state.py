"""What a call that took no step leaves behind, and advice that works: the
messages that tell a user what to do next, followed, do it."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification
from skorch.callbacks import Callback
from torch.utils._python_dispatch import TorchDispatchMode

import rsft_sklearn._base as base
from rsft_sklearn import RSFTClassifier, RSFTWarning, _guards

# Every row rejected: an epoch under it takes no step.
STEPLESS = dict(rejection="sample", M=1e20, warmup_epochs=0)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=120, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    return X.astype(np.float32), y


def make(**params):
    return RSFTClassifier(
        **{"max_epochs": 2, "batch_size": 32, "random_state": 0, **params}
    )


def state_of(net, X):
    """What a call that took no step must leave as it was."""
    return (
        len(net.history),
        net.class_prior_.tobytes(),
        net.predict_proba(X).tobytes(),
        [p.detach().clone() for p in net.module_.parameters()],
    )


def assert_same_state(before, after):
    assert before[:3] == after[:3]
    assert all(torch.equal(a, b) for a, b in zip(before[3], after[3]))


def fails_stepless(method, *args, **kwargs):
    """Call ``method`` with the stepless warning made an error; return the
    warning's text."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", RSFTWarning)
        with pytest.raises(RSFTWarning, match="accepted no row") as raised:
            method(*args, **kwargs)
    return str(raised.value)


# The rejection modes whose steps are skipped when they accept nothing: the
# guard on the host (the default Adam on the CPU), a compacted step (no
# backward pass), a guarded step with sample weights, the snapshot guard
# (SGD with momentum), and the count summed on the device (as on an
# accelerator, whose counts the host does not read per step).
MODES = {
    "guarded": ({}, False, False),
    "compact": ({"compact": True, "rejection": "sample"}, False, False),
    "weighted": ({}, True, False),
    "sgd": ({"optimizer": torch.optim.SGD, "optimizer__momentum": 0.9}, False, False),
    "summed on the device": ({}, False, True),
}


@pytest.mark.parametrize("mode", list(MODES))
def test_a_refit_that_took_no_step_leaves_the_fitted_estimator(data, mode, monkeypatch):
    # The stepless warning made an error ended a refit whose every step was
    # skipped: it replaced the fitted network (2 epochs, predict_proba row 0
    # [0.318, 0.682]) by an untrained one with a history of 1 epoch.
    X, y = data
    params, weighted, on_device = MODES[mode]
    if on_device:
        monkeypatch.setattr(_guards, "HOST_READ_DEVICES", ())
    weight = np.ones(len(y)) if weighted else None
    net = make(**params).fit(X, y, sample_weight=weight)
    before = state_of(net, X)
    net.set_params(**STEPLESS)
    fails_stepless(net.fit, X, y, sample_weight=weight)
    assert_same_state(before, state_of(net, X))
    assert net.get_params()["M"] == 1e20


@pytest.mark.parametrize("mode", list(MODES))
def test_a_partial_fit_that_took_no_step_counts_nothing(data, mode, monkeypatch):
    # It left the weights alone, but counted its rows into class_prior_
    # ([0.592, 0.408] became [0.420, 0.580]) and added an epoch without a
    # train_loss.
    X, y = data
    params, weighted, on_device = MODES[mode]
    if on_device:
        monkeypatch.setattr(_guards, "HOST_READ_DEVICES", ())
    net = make(max_epochs=1, warmup_epochs=0, **params).partial_fit(
        X, y, classes=[0, 1], sample_weight=np.ones(len(y)) if weighted else None
    )
    before = state_of(net, X)
    net.set_params(M=1e20, rejection="sample")
    ones = y == 1
    fails_stepless(
        net.partial_fit,
        X[ones],
        y[ones],
        sample_weight=np.ones(ones.sum()) if weighted else None,
    )
    assert_same_state(before, state_of(net, X))
    assert all("train_loss" in epoch for epoch in net.history)
    # The next call trains as if the failed one had not been made.
    net.set_params(M=1.0)
    again = make(max_epochs=1, warmup_epochs=0, **params).partial_fit(
        X, y, classes=[0, 1], sample_weight=np.ones(len(y)) if weighted else None
    )
    again.set_params(M=1.0, rejection="sample")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.partial_fit(X, y, sample_weight=np.ones(len(y)) if weighted else None)
        again.partial_fit(X, y, sample_weight=np.ones(len(y)) if weighted else None)
    np.testing.assert_array_equal(net.class_prior_, again.class_prior_)
    np.testing.assert_array_equal(net.predict_proba(X), again.predict_proba(X))


def test_a_call_that_trained_a_step_keeps_it_when_it_then_fails(data):
    # As documented: a warm-up epoch trained, then an epoch that accepted
    # nothing failed; the call keeps the warm-up's training.
    X, y = data
    net = make().fit(X, y)
    before = state_of(net, X)
    net.set_params(**{**STEPLESS, "warmup_epochs": 1})
    fails_stepless(net.fit, X, y)
    after = state_of(net, X)
    assert before[2] != after[2]
    assert not all(torch.equal(a, b) for a, b in zip(before[3], after[3]))
    assert net.history[0, "train_loss"] != before[0]
    # The same for continued training: its second call's warm-up epoch is
    # kept, the epoch after it failed.
    net = make(max_epochs=1, **{**STEPLESS, "warmup_epochs": 2})
    net.partial_fit(X, y, classes=[0, 1])
    before = state_of(net, X)
    fails_stepless(net.partial_fit, X, y, epochs=2)
    after = state_of(net, X)
    assert len(net.history) == 3 and before[2] != after[2]
    assert np.isfinite(net.history[1, "train_loss"])


def test_steps_count_only_what_changed_the_network(monkeypatch):
    steps = base._CallSteps()
    steps.add(torch.tensor(0.0))
    steps.empty = True
    steps.add()
    assert not steps and steps.completed == 2
    steps.add(torch.tensor(3.0))
    assert steps and steps.taken == 1
    # On an accelerator the counts are summed there and read once.
    monkeypatch.setattr(_guards, "HOST_READ_DEVICES", ())
    steps = base._CallSteps()
    zero = torch.tensor(0.0)
    steps.add(zero)
    steps.add(zero)
    assert not steps and steps.taken == 0
    steps.add(torch.tensor(2.0))
    assert steps and steps.taken == 0
    # The step's own count is not changed by the sum.
    assert zero.item() == 0.0


class HostReads(TorchDispatchMode):
    """Count the host reads of device values made in training batches."""

    def __init__(self):
        super().__init__()
        self.in_batch = False
        self.reads = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket._qualified_op_name
        if self.in_batch and name in ("aten::_local_scalar_dense", "aten::is_nonzero"):
            self.reads.append(name)
        return func(*args, **(kwargs or {}))


class BatchWindow(Callback):
    def __init__(self, counter):
        self.counter = counter

    def on_batch_begin(self, net, training=None, **kwargs):
        self.counter.in_batch = bool(training)

    def on_batch_end(self, net, **kwargs):
        self.counter.in_batch = False


@pytest.mark.parametrize("params", [{}, {"compact": True}])
def test_counting_the_steps_reads_nothing_on_an_accelerator(data, params, monkeypatch):
    # A refit counts its steps (the first fit of an estimator has nothing to
    # put back): on an accelerator the accepted counts are summed there.
    monkeypatch.setattr(_guards, "HOST_READ_DEVICES", ())
    X, y = data
    counter = HostReads()
    net = make(
        rejection="sample", warmup_epochs=0, callbacks=[BatchWindow(counter)], **params
    ).fit(X, y)
    steps = []
    original = base._CallSteps.add
    monkeypatch.setattr(
        base._CallSteps,
        "add",
        lambda self, accepted=None: steps.append(accepted) or original(self, accepted),
    )
    with counter:
        net.fit(X, y)
    assert counter.reads == [] and len(steps) == 2 * 4
    # (A compacted step's count is the host's: it knew that it had rows.)
    assert all((s is None) is bool(params) for s in steps)


def test_the_random_state_advice_seeds_anew_without_the_earlier_data(data):
    # The warning advised initialize(), which kept the counts of the data
    # seen: the next partial_fit had class_prior_ [0.722, 0.278] where a
    # fresh one of seed 1 has [0.909, 0.091].
    X, y = data
    skew = np.r_[np.flatnonzero(y == 0)[:50], np.flatnonzero(y == 1)[:5]]
    net = make().partial_fit(X[:60], y[:60], classes=[0, 1])
    net.set_params(random_state=1)
    with pytest.warns(RSFTWarning, match="random_state changed") as record:
        net.partial_fit(X[skew], y[skew])
    message = str(record[0].message)
    assert "initialize()" not in message
    assert "partial_fit a new estimator (sklearn.base.clone(net))" in message
    assert "fit with warm_start=False" in message
    # The advice followed gives the fresh estimator's state.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        followed = clone(net).partial_fit(X[skew], y[skew], classes=[0, 1])
        fresh = make(random_state=1).partial_fit(X[skew], y[skew], classes=[0, 1])
    np.testing.assert_allclose(fresh.class_prior_, [50 / 55, 5 / 55])
    np.testing.assert_array_equal(followed.class_prior_, fresh.class_prior_)
    np.testing.assert_array_equal(followed.predict_proba(X), fresh.predict_proba(X))


class SetDuring(Callback):
    def __init__(self, **params):
        self.params = params

    def on_epoch_end(self, net, **kwargs):
        net.set_params(**self.params)


@pytest.mark.parametrize(
    "change, advice",
    [
        (
            {"target": "uniform"},
            "Set target before a fit afresh (warm_start=False) or the first "
            "call of partial_fit (continued training keeps those of its first "
            "fit). M",
        ),
        ({"target_power": 0.0}, "Set target_power before a fit afresh"),
        ({"random_state": 5}, "Set random_state before a fit afresh"),
        (
            {"prior_correction": 0.0},
            "the training takes it when it begins. Set prior_correction "
            "before fit, or between calls of partial_fit. M",
        ),
        (
            {"rejection": "sample", "target": "uniform", "random_state": 5},
            "cannot change rejection, target, random_state: the training takes "
            "them when it begins. Set rejection before fit, or between calls of "
            "partial_fit; set target and random_state before a fit afresh",
        ),
    ],
)
def test_a_refused_set_params_says_when_each_setting_takes_effect(data, change, advice):
    # It advised setting target, target_power and random_state between calls
    # of partial_fit, where they are ignored (continued training keeps the
    # first fit's class target weights and seeds).
    X, y = data
    with pytest.raises(ValueError) as raised:
        make(callbacks=[SetDuring(**change)]).fit(X, y)
    assert advice in str(raised.value)


class Linear(torch.nn.Module):
    def __init__(self, ending=None):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)
        self.ending = ending

    def forward(self, X):
        output = self.linear(X)
        if self.ending == "softmax":
            return torch.softmax(output, dim=1)
        if self.ending == "log_softmax":
            return torch.log_softmax(output, dim=1)
        return output


@pytest.mark.parametrize("compact", [False, True])
def test_logits_to_nllloss_warn_at_the_first_epoch(data, compact):
    # They trained without a word (NLLLoss raises the true class's logit
    # without bound), and only predict_proba refused the output.
    X, y = data
    net = make(
        module=Linear,
        criterion=torch.nn.NLLLoss,
        max_epochs=3,
        rejection="sample",
        compact=compact,
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        net.fit(X, y)
    said = [w for w in record if "is neither probabilities" in str(w.message)]
    assert len(said) == 1 and said[0].category is RSFTWarning
    assert "End the network in a log_softmax" in str(said[0].message)
    with pytest.raises(ValueError, match="not probabilities"):
        net.predict_proba(X)


@pytest.mark.parametrize("ending", ["softmax", "log_softmax"])
def test_probabilities_and_log_probabilities_to_nllloss_do_not_warn(data, ending):
    X, y = data
    net = make(module=Linear, module__ending=ending, criterion=torch.nn.NLLLoss)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        net.fit(X, y)
    proba = net.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)


@pytest.mark.parametrize(
    "params, named",
    [
        ({"criterion__weight": torch.tensor([1.0, 3.0])}, "(criterion__weight)"),
        (
            {"criterion": torch.nn.CrossEntropyLoss(weight=torch.tensor([1.0, 3.0]))},
            "(the weight of the CrossEntropyLoss given as criterion)",
        ),
    ],
)
def test_criterion_weights_are_named_where_they_were_given(data, params, named):
    X, y = data
    with pytest.warns(RSFTWarning, match="class weights") as record:
        make(**params).fit(X, y)
    messages = [str(w.message) for w in record if "class weights" in str(w.message)]
    assert len(messages) == 1
    assert messages[0].startswith(f"The criterion's class weights {named} re-weight")


def test_a_single_warmup_epoch_is_named_as_one(data):
    X, y = data
    net = make(warm_start=True, warmup_epochs=0).fit(X, y)
    with pytest.warns(RSFTWarning, match="warm-up") as record:
        net.set_params(warmup_epochs=3).fit(X, y, epochs=1)
    message = next(str(w.message) for w in record if "warm-up" in str(w.message))
    assert message.startswith(
        "Epoch 3 (counted from 1) is a warm-up epoch (warmup_epochs=3), after "
        "epochs that rejected: it trains without the rule. Set warmup_epochs "
        "to at most 2"
    )


def test_a_dataset_for_the_default_mlp_is_refused_in_words_for_fit(data):
    # The message began "Before a fit (initialize() to load_params, say)"
    # when the user was calling fit.
    X, y = data

    class Rows(torch.utils.data.Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            return torch.as_tensor(X[i])

    for method in ("fit", "partial_fit"):
        net = make()
        with pytest.raises(ValueError) as raised:
            getattr(net, method)(Rows(), y)
        message = str(raised.value)
        assert "Before a fit" not in message
        assert message.startswith(
            "The default MLP takes its input width from array input, and the "
            "rows of a Dataset give none: pass module__n_features"
        )
        assert not net.initialized_
    # As the message says, the width given trains.
    make(module__n_features=4).fit(Rows(), y)
    # Before a fit, initialize() still says what it needs.
    with pytest.raises(ValueError, match="Before a fit"):
        make().initialize()
