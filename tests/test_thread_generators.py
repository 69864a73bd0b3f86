"""Fits side by side in threads leave the caller's torch generator alone.

Each fit draws from a copy of torch's global generator that it puts back
when it ends; fits in threads copied one another's, and the one that ended
last put back the other's seeded stream.
"""

import threading

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier


class _Wait(Callback):
    def __init__(self, started, wait_for):
        self.started, self.wait_for = started, wait_for

    def on_epoch_begin(self, net, **kwargs):
        self.started.set()
        self.wait_for.wait(timeout=60)


# Both fits warn that they ran beside another (catch_warnings is not safe
# in threads).
@pytest.mark.filterwarnings("ignore:Another fit ran:RuntimeWarning")
def test_fits_in_threads_leave_the_callers_generator_as_it_was():
    rng = np.random.RandomState(0)
    y = np.arange(120) % 3
    X = (rng.randn(120, 4) + y[:, None]).astype(np.float32)
    first_started, second_started = threading.Event(), threading.Event()
    first_done = threading.Event()
    errors = []

    def fit(seed, callback, done=None):
        try:
            RSFTClassifier(
                max_epochs=1, batch_size=32, random_state=seed, callbacks=[callback]
            ).fit(X, y)
        except Exception as error:  # pragma: no cover - shown by the assert
            errors.append(error)
        finally:
            if done is not None:
                done.set()

    # The first fit begins, the second begins while it runs, and the first
    # ends before the second: the second had copied the first's seeded
    # stream, and put it back last.
    torch.manual_seed(123)
    expected = torch.get_rng_state()
    first = threading.Thread(
        target=fit, args=(1, _Wait(first_started, second_started), first_done)
    )
    second = threading.Thread(target=fit, args=(2, _Wait(second_started, first_done)))
    first.start()
    first_started.wait(timeout=60)
    second.start()
    first.join(timeout=120)
    second.join(timeout=120)
    assert not errors
    assert torch.initial_seed() == 123
    assert torch.equal(torch.get_rng_state(), expected)
