"""One estimator used from several threads: predictions side by side, and
predictions beside a fit of the same estimator."""

import copy
import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import joblib
import numpy as np
import pytest
import torch
from sklearn.inspection import permutation_importance
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier

# Generous: the waits only order the threads, and a broken ordering fails
# the test rather than hanging it.
WAIT = 30


def _data(n=240, d=5, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, size=n, p=[0.6, 0.3, 0.1])
    X = (rng.normal(size=(n, d)) + 0.7 * y[:, None]).astype(np.float32)
    return X, y


def _params(net):
    return {k: v.clone() for k, v in net.module_.state_dict().items()}


def _run(target):
    """Run ``target`` in a thread; return what it returned or raised."""
    result = {}

    def body():
        try:
            result["value"] = target()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            result["error"] = exc

    thread = threading.Thread(target=body)
    thread.start()
    return thread, result


class _KeysSeen(RSFTClassifier):
    """Records the attribute names the estimator has while its iterators
    are built (which other threads' calls read)."""

    def get_iterator(self, dataset, training=False):
        self.__dict__.setdefault("_keys_seen", []).append(frozenset(self.__dict__))
        return super().get_iterator(dataset, training=training)


def test_a_prediction_leaves_the_estimator_attributes_unchanged():
    # A mark added to and removed from the estimator's __dict__ around
    # every prediction failed other threads predicting with it, whose
    # get_params_for iterated that dict ("dictionary changed size during
    # iteration": 126 of 4000 calls of predict_proba in 8 threads).
    X, y = _data()
    net = _KeysSeen(max_epochs=1, random_state=0, module__hidden_layer_sizes=(8,))
    net.fit(X, y)
    net.__dict__.pop("_keys_seen")
    before = frozenset(net.__dict__) | {"_keys_seen"}
    net.predict_proba(X[:7])
    net.forward(X[:7], training=True)
    seen = net.__dict__.pop("_keys_seen")
    assert len(seen) == 2
    assert all(keys == before for keys in seen), [sorted(k ^ before) for k in seen]


class _Paused(RSFTClassifier):
    """A ``get_iterator`` for ``training=True`` that waits until told to go
    on (a subclass that logs, say): another thread's prediction runs in
    between."""

    def get_iterator(self, dataset, training=False):
        gate = self.__dict__.get("_gate")
        if training and gate is not None:
            gate["entered"].set()
            assert gate["go"].wait(WAIT)
        return super().get_iterator(dataset, training=training)


def test_forward_in_training_mode_keeps_its_rows_beside_another_prediction():
    # forward(X, training=True) (Monte-Carlo dropout) gets the rows in X's
    # order; another thread's predict_proba that ended while its iterator
    # was being built made it take the fit's shuffled iterator: rows in
    # another order, and the fit's shuffle generator advanced.
    X, y = _data()
    net = _Paused(
        max_epochs=2, random_state=0, module__hidden_layer_sizes=(8,), batch_size=16
    ).fit(X, y)
    rows = X[:64]
    expected = net.forward(rows, training=False).numpy()
    shuffle = net.shuffle_generator_.get_state().clone()
    net._gate = {"entered": threading.Event(), "go": threading.Event()}
    thread, result = _run(lambda: net.forward(rows, training=True).detach().numpy())
    try:
        assert net._gate["entered"].wait(WAIT)
        other = net.predict_proba(X[:3])
    finally:
        net._gate["go"].set()
        thread.join(WAIT)
    del net._gate
    assert "error" not in result, result.get("error")
    # (No dropout in the network: training mode gives the same outputs.)
    np.testing.assert_array_equal(result["value"], expected)
    assert torch.equal(net.shuffle_generator_.get_state(), shuffle)
    np.testing.assert_array_equal(other, net.predict_proba(X[:3]))


def test_threads_predicting_with_one_estimator_get_the_serial_results():
    X, y = _data()
    net = RSFTClassifier(max_epochs=2, random_state=0, module__hidden_layer_sizes=(8,))
    net.fit(X, y)
    rng = np.random.default_rng(1)
    queries = [X[rng.integers(0, len(X), size=k)] for k in rng.integers(1, 30, 200)]
    serial = [net.predict_proba(rows) for rows in queries]
    with ThreadPoolExecutor(8) as pool:
        threaded = list(pool.map(net.predict_proba, queries))
    for got, want in zip(threaded, serial):
        np.testing.assert_array_equal(got, want)


class _MeetAtFirstStep(RSFTClassifier):
    """At the fit's first training step (outside any callback), lets
    another thread try ``_meet["call"]`` and waits for it to finish."""

    def train_step_single(self, batch, **fit_params):
        meet = self.__dict__.get("_meet")
        if meet is not None and "outcome" not in meet:
            thread, meet["outcome"] = _run(meet["call"])
            thread.join(WAIT)
        return super().train_step_single(batch, **fit_params)


_REFUSED = "being fitted in another thread"


@pytest.mark.parametrize(
    "call",
    [
        lambda net, X, y: net.predict_proba(X[:5]),
        lambda net, X, y: net.predict(X[:5]),
        lambda net, X, y: net.forward(X[:5], training=True),
        lambda net, X, y: net.score(X[:5], y[:5]),
    ],
    ids=["predict_proba", "predict", "forward", "score"],
)
def test_a_prediction_from_another_thread_during_a_fit_is_refused(call):
    # It switched the network and the rule's loss to evaluation mode, where
    # the loss is the plain mean: steps of the fit that ran before the
    # fit's next switch back trained without the rule (3 of 94 steps in one
    # probe, parameters off by 0.0176).
    X, y = _data()
    first = _MeetAtFirstStep(
        max_epochs=1, random_state=0, module__hidden_layer_sizes=(8,)
    )
    first.fit(X, y)
    blob = pickle.dumps(first)
    alone = pickle.loads(blob)
    alone.partial_fit(X, y)

    shared = pickle.loads(blob)
    meet = shared._meet = {"call": lambda: call(shared, X, y)}
    shared.partial_fit(X, y)
    del shared._meet
    assert "value" not in meet["outcome"]
    error = meet["outcome"]["error"]
    assert isinstance(error, RuntimeError)
    assert _REFUSED in str(error) and "copy.deepcopy" in str(error)
    want, got = _params(alone), _params(shared)
    assert all(torch.equal(want[k], got[k]) for k in want)
    # After the fit, the other thread predicts again.
    thread, result = _run(lambda: shared.predict_proba(X[:5]))
    thread.join(WAIT)
    np.testing.assert_array_equal(result["value"], alone.predict_proba(X[:5]))


class _SlowPrediction(RSFTClassifier):
    """A prediction that, after its first batch, waits until a fit of the
    same estimator is under way."""

    def evaluation_step(self, batch, training=False):
        gate = self.__dict__.get("_gate")
        output = super().evaluation_step(batch, training=training)
        if gate is not None and threading.current_thread() is not gate["fitter"]:
            gate["predicting"].set()
            assert gate["fitting"].wait(WAIT)
        return output


class _Signal(Callback):
    def __init__(self, gate):
        self.gate = gate

    def on_batch_end(self, net, **kwargs):
        if not self.gate["fitting"].is_set():
            self.gate["fitting"].set()
            # Until the prediction in the other thread has ended.
            self.gate["thread"].join(WAIT)


def test_a_prediction_begun_before_a_fit_stops_at_its_next_batch():
    X, y = _data()
    net = _SlowPrediction(
        max_epochs=1, random_state=0, module__hidden_layer_sizes=(8,), batch_size=16
    ).fit(X, y)
    blob = pickle.dumps(net)
    alone = pickle.loads(blob)
    alone.partial_fit(X, y)

    gate = {
        "fitter": threading.current_thread(),
        "predicting": threading.Event(),
        "fitting": threading.Event(),
    }
    net.set_params(callbacks=[("signal", _Signal(gate))])
    net._gate = gate
    thread, result = _run(lambda: net.predict_proba(X))
    gate["thread"] = thread
    assert gate["predicting"].wait(WAIT)
    net.partial_fit(X, y)
    thread.join(WAIT)
    del net._gate
    assert isinstance(result.get("error"), RuntimeError)
    assert _REFUSED in str(result["error"])
    want, got = _params(alone), _params(net)
    assert all(torch.equal(want[k], got[k]) for k in want)


class _PredictEachEpoch(Callback):
    def __init__(self, X):
        self.X = X
        self.outputs = []

    def on_epoch_end(self, net, **kwargs):
        self.outputs.append(net.predict_proba(self.X))
        self.outputs.append(net.forward(self.X, training=True).detach().numpy())


@pytest.mark.parametrize("rejection", ["sample", "pool", "budget"])
def test_callbacks_predict_in_the_fitting_thread_without_changing_the_fit(rejection):
    X, y = _data()
    settings = dict(
        max_epochs=3,
        random_state=0,
        module__hidden_layer_sizes=(8,),
        rejection=rejection,
        batch_size=32,
    )
    plain = RSFTClassifier(**settings).fit(X, y)
    spy = _PredictEachEpoch(X[:20])
    watched = RSFTClassifier(callbacks=[("spy", spy)], **settings).fit(X, y)
    assert len(spy.outputs) == 6
    assert spy.outputs[-2].shape == (20, 3)
    np.testing.assert_array_equal(
        plain.predict_proba(X).view(np.uint8), watched.predict_proba(X).view(np.uint8)
    )


def test_a_copy_taken_during_the_fit_predicts_in_another_thread():
    # The copy leaves out the fit's state, and with it the fitting thread.
    X, y = _data()
    copies = []

    class Snapshot(Callback):
        def on_epoch_end(self, net, **kwargs):
            copies.append(copy.deepcopy(net))

    net = RSFTClassifier(
        max_epochs=1,
        random_state=0,
        module__hidden_layer_sizes=(8,),
        callbacks=[("snapshot", Snapshot())],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, y)
    thread, result = _run(lambda: copies[0].predict_proba(X[:5]))
    thread.join(WAIT)
    assert "error" not in result, result.get("error")
    np.testing.assert_array_equal(result["value"], net.predict_proba(X[:5]))


class _PredictThroughThreads(Callback):
    """Predicts at each epoch's end through another thread, as
    ``permutation_importance`` under joblib's threading backend does, while
    the fitting thread waits."""

    def __init__(self, X, y, how):
        self.X, self.y, self.how = X, y, how
        self.outputs = []

    def on_epoch_end(self, net, **kwargs):
        if self.how == "executor":
            with ThreadPoolExecutor(1) as pool:
                self.outputs.append(pool.submit(net.predict_proba, self.X).result(WAIT))
        elif self.how == "permutation_importance":
            with joblib.parallel_backend("threading", n_jobs=2):
                found = permutation_importance(
                    net, self.X, self.y, n_repeats=2, random_state=0
                )
            self.outputs.append(found.importances)
        else:
            self.outputs.append(net.predict_proba(self.X))


@pytest.mark.parametrize("how", ["executor", "permutation_importance"])
def test_a_callback_predicts_through_another_thread_while_the_fit_waits(how):
    # Refused with "being fitted in another thread", which aborted the fit.
    X, y = _data()
    settings = dict(
        max_epochs=2, random_state=0, module__hidden_layer_sizes=(8,), batch_size=32
    )
    here = _PredictThroughThreads(X[:40], y[:40], "here")
    in_thread = RSFTClassifier(callbacks=[("spy", here)], **settings).fit(X, y)
    spy = _PredictThroughThreads(X[:40], y[:40], how)
    net = RSFTClassifier(callbacks=[("spy", spy)], **settings).fit(X, y)
    assert len(spy.outputs) == 2
    np.testing.assert_array_equal(
        in_thread.predict_proba(X).view(np.uint8), net.predict_proba(X).view(np.uint8)
    )
    if how == "executor":
        for got, want in zip(spy.outputs, here.outputs):
            np.testing.assert_array_equal(got.view(np.uint8), want.view(np.uint8))
    else:
        assert spy.outputs[0].shape == (X.shape[1], 2)
        # Importances of the first epoch's network, as after a fit of one.
        one = RSFTClassifier(**{**settings, "max_epochs": 1}).fit(X, y)
        want = permutation_importance(one, X[:40], y[:40], n_repeats=2, random_state=0)
        np.testing.assert_array_equal(spy.outputs[0], want.importances)


class _LeaveRunning(Callback):
    """Starts a long prediction in another thread at the first epoch's end
    and returns without waiting for it."""

    def __init__(self, X):
        self.X = X
        self.thread = None

    def on_epoch_end(self, net, **kwargs):
        if self.thread is None:
            self.thread, self.result = _run(lambda: net.predict_proba(self.X))
            assert self.result is not None


def test_a_prediction_a_callback_leaves_running_does_not_reach_the_steps():
    # The fitting thread, leaving the callback, waits for the batch under
    # way; the next batch is refused: the fit is the fit alone.
    X, y = _data()
    settings = dict(
        max_epochs=3, random_state=0, module__hidden_layer_sizes=(8,), batch_size=16
    )
    plain = RSFTClassifier(**settings).fit(X, y)
    left = _LeaveRunning(np.repeat(X, 20, axis=0))
    net = RSFTClassifier(callbacks=[("left", left)], **settings).fit(X, y)
    left.thread.join(WAIT)
    if "error" in left.result:
        assert _REFUSED in str(left.result["error"])
    else:
        assert left.result["value"].shape == (len(X) * 20, 3)
    np.testing.assert_array_equal(
        plain.predict_proba(X).view(np.uint8), net.predict_proba(X).view(np.uint8)
    )


def test_a_training_step_from_another_thread_is_refused_by_its_own_message():
    # A sequence begun in one thread and continued in a worker was refused
    # with a message about a prediction.
    X, y = _data()
    net = RSFTClassifier(
        max_epochs=1, random_state=0, module__hidden_layer_sizes=(8,)
    ).fit(X, y)
    net.notify("on_train_begin", X=X, y=y)
    thread, result = _run(lambda: net.fit_loop(X, y, epochs=1))
    thread.join(WAIT)
    message = str(result["error"])
    assert "A training step of this RSFTClassifier ran in another thread" in message
    assert "prediction" not in message
    # The sequence left unfinished keeps other threads' predictions refused,
    # and says how long.
    thread, result = _run(lambda: net.predict_proba(X[:5]))
    thread.join(WAIT)
    assert _REFUSED in str(result["error"])
    assert "notify('on_train_end')" in str(result["error"])
    net.notify("on_train_end")
    thread, result = _run(lambda: net.predict_proba(X[:5]))
    thread.join(WAIT)
    np.testing.assert_array_equal(result["value"], net.predict_proba(X[:5]))
