"""A fitted estimator goes with its last reference, as a skorch net does,
without waiting for the garbage collector (its network and optimiser state,
on a GPU too, would wait with it)."""

import gc
import weakref

import numpy as np
import pytest
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier

X = np.random.RandomState(0).randn(120, 4).astype(np.float32)
y = np.r_[np.zeros(90, dtype=int), np.ones(30, dtype=int)]
SMALL = dict(max_epochs=2, batch_size=32, random_state=0)


@pytest.fixture(scope="module", autouse=True)
def _first_fit():
    # The first optimiser that torch builds in a process imports parts of
    # torch lazily, and keeps the frames of that first fit (skorch's nets
    # alike): a one-off, not a cycle of the estimator.
    RSFTClassifier(**SMALL).fit(X, y)


def _freed_without_gc(make):
    """Whether the estimator that ``make`` returns (its only reference),
    its network and its optimiser are gone once it is dropped, with the
    collector off."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        est = make()
        refs = [weakref.ref(est), weakref.ref(est.module_), weakref.ref(est.optimizer_)]
        del est
        return [ref() is None for ref in refs]
    finally:
        if enabled:
            gc.enable()


@pytest.mark.parametrize("rejection", ["expected", "sample", "pool", "budget"])
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_a_fitted_estimator_is_freed_by_its_last_reference(rejection, method):
    # The listener cache held the net's own bound methods: a reference
    # cycle that only the collector broke.

    def make():
        est = RSFTClassifier(rejection=rejection, **SMALL)
        getattr(est, method)(X, y)
        est.predict_proba(X)
        return est

    assert _freed_without_gc(make) == [True, True, True]


class _Fails(Callback):
    def on_epoch_end(self, net, **kwargs):
        raise RuntimeError("a callback that fails")


def test_an_estimator_whose_fit_failed_is_freed_too():

    def make():
        est = RSFTClassifier(callbacks=[("fails", _Fails())], **SMALL)
        with pytest.raises(RuntimeError, match="a callback that fails"):
            est.fit(X, y)
        return est

    assert _freed_without_gc(make) == [True, True, True]


def test_a_notify_outside_a_fit_keeps_no_cycle():
    # A hand-made notify after the fit rebuilt the cache, and the cycle.
    def make():
        est = RSFTClassifier(**SMALL).fit(X, y)
        est.notify("on_batch_begin", batch=None, training=False)
        return est

    assert _freed_without_gc(make) == [True, True, True]
