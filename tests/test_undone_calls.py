"""A call undone because it trained no step: an estimator never fitted
before it, a checkpoint loaded during it, a RandomState it drew from. The
retry must train as the same call on an untouched copy."""

import copy
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, Checkpoint, LoadInitState
from skorch.dataset import ValidSplit

from rsft_sklearn import RSFTClassifier, RSFTWarning


class Fault:
    """Raises ``exc`` at the n-th occurrence of ``event`` once armed."""

    def __init__(self):
        self.event = None

    def arm(self, event, at=1, exc=RuntimeError):
        self.event, self.left, self.exc = event, at, exc

    def tick(self, event):
        if self.event == event:
            self.left -= 1
            if self.left == 0:
                self.event = None
                raise self.exc(f"fails in {event}")


FAULT = Fault()


class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = torch.nn.Linear(5, 8)
        self.l2 = torch.nn.Linear(8, 2)

    def forward(self, X):
        if self.training:
            FAULT.tick("forward")
        return self.l2(torch.relu(self.l1(X)))


class Faulty(Callback):
    def on_train_begin(self, net, **kwargs):
        FAULT.tick("on_train_begin")

    def on_epoch_begin(self, net, **kwargs):
        FAULT.tick("on_epoch_begin")

    def on_batch_begin(self, net, **kwargs):
        FAULT.tick("on_batch_begin")


@pytest.fixture(autouse=True)
def disarmed():
    FAULT.event = None
    yield
    FAULT.event = None


def make(**params):
    settings = dict(
        module=Net,
        max_epochs=3,
        batch_size=32,
        random_state=0,
        warmup_epochs=1,
        verbose=0,
        callbacks=[("faulty", Faulty())],
    )
    settings.update(params)
    return RSFTClassifier(**settings)


def rows(seed, threshold):
    rng = np.random.RandomState(seed)
    X = rng.randn(200, 5).astype(np.float32)
    y = (X[:, 0] + 0.5 * rng.randn(200) > threshold).astype(int)
    return X, y


# Two batches of data with other priors (about 78/22 and 50/50).
X, y = rows(0, 0.8)
Xb, yb = rows(1, 0.0)


def call(net, method, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RSFTWarning)
        if method == "partial_fit":
            return net.partial_fit(X, y, classes=[0, 1])
        return net.fit(X, y)


def assert_same_fit(net, ref):
    """``net`` predicts, counts and recorded as ``ref``."""
    assert net.predict_proba(X).tobytes() == ref.predict_proba(X).tobytes()
    assert len(net.history) == len(ref.history)
    np.testing.assert_array_equal(net.class_prior_, ref.class_prior_)
    assert net.init_seed_ == ref.init_seed_


METHODS = ["partial_fit", "warm_start", "fit"]
FAILURES = ["forward", "on_train_begin", "on_epoch_begin", "on_batch_begin"]


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("method", METHODS)
def test_a_first_call_that_fails_before_a_step_leaves_the_estimator_unfitted(
    method, failure
):
    # The first partial_fit (or warm_start fit) kept initialized_=True, an
    # empty warm-up epoch and the failed call's label counts: the retry
    # trained epochs 2 to 4, all rejecting, with class_prior_ [0.635, 0.365]
    # mixing both calls' labels instead of [0.49, 0.51], and predict_proba
    # moved by 0.168.
    net = make(warm_start=method == "warm_start")
    ref = copy.deepcopy(net)
    FAULT.arm(failure)
    with pytest.raises(RuntimeError, match=f"fails in {failure}"):
        call(net, method, X, y)
    assert not net.initialized_
    assert net.history_ is None
    assert sorted(vars(net)) == sorted(vars(ref))
    with pytest.raises(NotFittedError):
        check_is_fitted(net)
    for estimator in (net, ref):
        call(estimator, method, Xb, yb)
    assert_same_fit(net, ref)
    assert len(net.history) == 3 and net.history[0, "warmup"]


@pytest.mark.parametrize("method", METHODS)
def test_a_first_call_interrupted_before_a_step_says_it_is_left_unfitted(method):
    # It returned silently (only the warm-up warning) with an untrained
    # network, an empty epoch and the call's label counts.
    net = make(warm_start=method == "warm_start")
    ref = copy.deepcopy(net)
    FAULT.arm("forward", exc=KeyboardInterrupt)
    with pytest.warns(RSFTWarning, match="interrupted before its first step") as seen:
        if method == "partial_fit":
            net.partial_fit(X, y, classes=[0, 1])
        else:
            net.fit(X, y)
    said = [str(w.message) for w in seen if issubclass(w.category, RSFTWarning)]
    assert len(said) == 1 and "left unfitted, as it was before this call" in said[0]
    assert not net.initialized_ and sorted(vars(net)) == sorted(vars(ref))
    for estimator in (net, ref):
        call(estimator, method, Xb, yb)
    assert_same_fit(net, ref)


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_first_call_that_trained_a_step_keeps_it(exc):
    # Unchanged: a call that trained a step and then failed (or was
    # interrupted) keeps the epoch it trained and its labels' counts.
    net = make()
    FAULT.arm("forward", at=3, exc=exc)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RSFTWarning)
        try:
            net.partial_fit(X, y, classes=[0, 1])
        except RuntimeError:
            assert exc is RuntimeError
    assert net.initialized_ and len(net.history) == 1
    assert len(net.history[-1, "batches"]) == 3
    np.testing.assert_array_equal(net._class_counts, np.bincount(y))
    untrained = make().initialize()
    assert not torch.equal(net.module_.l1.weight, untrained.module_.l1.weight)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A checkpoint of a 1-epoch fit of ``X, y``."""
    saved = Checkpoint(dirname=str(tmp_path_factory.mktemp("cp")), monitor=None)
    make(max_epochs=1, callbacks=[("cp", saved)]).fit(X, y)
    return saved


def resuming(checkpoint):
    """A 3-epoch fit given a LoadInitState of the 1-epoch checkpoint."""
    net = make().fit(X, y)
    net.set_params(
        callbacks=[("faulty", Faulty()), ("load", LoadInitState(checkpoint))]
    )
    return net


def optimizer_steps(net):
    return [float(s["step"]) for s in net.optimizer_.state_dict()["state"].values()]


@pytest.mark.parametrize("method", ["partial_fit", "fit"])
@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_checkpoint_loaded_by_an_undone_call_is_unloaded(checkpoint, method, exc):
    # The undone call put back the history (3 epochs) and prior from before
    # it, but kept the checkpoint's weights (predict_proba moved by 0.0385)
    # and optimiser state (Adam's step 7 instead of 21), with a Ctrl-C
    # warning that the estimator was as before; the retry did not load
    # again and ended with 6 epochs instead of 4.
    net = resuming(checkpoint)
    ref = copy.deepcopy(net)
    proba, steps = net.predict_proba(X).tobytes(), optimizer_steps(net)
    weights = [p.detach().clone() for p in net.module_.parameters()]
    FAULT.arm("forward", exc=exc)
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always", RSFTWarning)
        try:
            getattr(net, method)(Xb, yb)
        except RuntimeError:
            assert exc is RuntimeError
    if exc is KeyboardInterrupt:
        assert any("left as it was before" in str(w.message) for w in seen)
    assert net.predict_proba(X).tobytes() == proba
    assert optimizer_steps(net) == steps == [21.0] * 4
    for before, after in zip(weights, net.module_.parameters()):
        assert torch.equal(before, after)
    assert len(net.history) == 3
    assert not dict(net.callbacks_)["load"].did_load_
    for estimator in (net, ref):
        call(estimator, method, Xb, yb)
    assert_same_fit(net, ref)
    assert len(net.history) == 4 and optimizer_steps(net) == optimizer_steps(ref)


def test_a_call_that_loaded_and_trained_keeps_both(checkpoint):
    # Unchanged: a call that loaded the checkpoint and trained a step before
    # it failed keeps the checkpoint's history and what it trained on it.
    net = resuming(checkpoint)
    FAULT.arm("forward", at=3)
    with pytest.raises(RuntimeError, match="fails in forward"):
        net.partial_fit(Xb, yb)
    assert len(net.history) == 2 and len(net.history[-1, "batches"]) == 3
    assert dict(net.callbacks_)["load"].did_load_
    assert optimizer_steps(net) == [9.0] * 4


@pytest.mark.parametrize("split", [None, ValidSplit(4)], ids=["no_split", "split"])
@pytest.mark.parametrize("fitted", [True, False], ids=["refit", "first_fit"])
def test_a_random_state_drawn_by_an_undone_fit_is_put_back(fitted, split):
    # A refit failing at its first batch advanced a RandomState given as
    # random_state (init_seed_ 192771779 instead of 1478610112): the next
    # fit's predict_proba differed by 0.35 from the untouched copy's.
    net = make(random_state=np.random.RandomState(0), train_split=split)
    if fitted:
        call(net, "fit", X, y)
    ref = copy.deepcopy(net)
    state = net.random_state.get_state()
    FAULT.arm("forward")
    with pytest.raises(RuntimeError, match="fails in forward"):
        net.fit(Xb, yb)
    after = net.random_state.get_state()
    assert after[2] == state[2] and np.array_equal(after[1], state[1])
    for estimator in (net, ref):
        call(estimator, "fit", Xb, yb)
    assert_same_fit(net, ref)


def test_a_random_state_drawn_by_a_fit_that_trained_stays_drawn():
    # Unchanged: a refit that trained a step before it failed keeps its new
    # seeds, drawn from the RandomState.
    net = make(random_state=np.random.RandomState(0))
    call(net, "fit", X, y)
    seed, position = net.init_seed_, net.random_state.get_state()[2]
    FAULT.arm("forward", at=3)
    with pytest.raises(RuntimeError, match="fails in forward"):
        net.fit(Xb, yb)
    assert net.init_seed_ != seed
    assert net.random_state.get_state()[2] != position


def test_what_a_load_replaced_is_let_go_once_a_step_trained(checkpoint):
    # The copy of every parameter that an undo would put back was held to
    # the end of the call, after the first step had made it useless.
    seen = []

    class Watch(Callback):
        def on_train_begin(self, net, **kwargs):
            seen.append(net._steps_of_call.loaded is not None)

        def on_epoch_end(self, net, **kwargs):
            seen.append(net._steps_of_call.loaded is None)

    net = resuming(checkpoint)
    net.set_params(callbacks=[*net.callbacks, ("watch", Watch())])
    net.partial_fit(Xb, yb, epochs=2)
    assert seen == [True, True, True]
    assert dict(net.callbacks_)["load"].did_load_
