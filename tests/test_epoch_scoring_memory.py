"""The gradient-free scoring passes hold one densified chunk at a time.

A module that takes dense batches of a sparse X receives each scoring chunk
(``max(batch_size, 2048)`` rows under ``rejection="epoch"``, a pool under
``"pool"`` and ``"budget"``) densified. The epoch's scoring loop kept the
previous chunk referenced while the next one was taken, which doubled the
peak memory of the pass (1639 MB against 856 MB for one chunk of 2048 x
100,000 float32 values). Checked here without timing or RSS: the module
keeps weak references to the inputs of its gradient-free passes, and every
taking of rows counts how many of them are still alive.
"""

import weakref

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from rsft_sklearn import RSFTClassifier
from rsft_sklearn._data import InMemoryDataset
from rsft_sklearn._selection import SCORING_BATCH

N_FEATURES = 40


class ScoredInputs(torch.nn.Module):
    """A linear network (dense batches) that keeps a weak reference to the
    input of every gradient-free pass, in a list of the class (the estimator
    builds its own instance)."""

    scored = []

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(N_FEATURES, 3)

    def forward(self, X):
        assert X.layout == torch.strided
        if not torch.is_grad_enabled():
            self.scored.append(weakref.ref(X))
        return self.linear(X)


@pytest.fixture(scope="module")
def sparse_data():
    rng = np.random.default_rng(0)
    n = 2 * SCORING_BATCH + 300
    X = sp.random(n, N_FEATURES, density=0.2, format="csr", random_state=0)
    y = rng.choice(3, size=n, p=[0.7, 0.2, 0.1])
    return X.astype(np.float32), y


@pytest.mark.parametrize(
    "settings",
    [
        {"rejection": "epoch"},
        {"rejection": "pool", "pool_size": 8},
        {"rejection": "budget", "budget": 0.5, "pool_size": 8},
    ],
)
def test_scoring_pass_holds_one_densified_chunk_at_a_time(
    sparse_data, monkeypatch, settings
):
    X, y = sparse_data
    scored = []
    monkeypatch.setattr(ScoredInputs, "scored", scored)
    alive_at_take = []
    take = InMemoryDataset.take

    def counting_take(self, idx, scratch=False):
        # Inputs of earlier scoring passes that are still referenced while
        # the next rows are densified.
        alive_at_take.append(sum(ref() is not None for ref in scored))
        return take(self, idx, scratch=scratch)

    monkeypatch.setattr(InMemoryDataset, "take", counting_take)
    clf = RSFTClassifier(
        ScoredInputs,
        max_epochs=2,
        warmup_epochs=0,
        batch_size=64,
        train_split=None,
        random_state=0,
        **settings,
    ).fit(X, y)
    n_chunks = len(scored)
    if settings["rejection"] == "epoch":
        # Two epochs, each scored in chunks of 2048 rows, 2048 and 300 rows.
        assert n_chunks == 2 * 3
    else:
        assert n_chunks >= 2 * 2
    assert len(alive_at_take) > n_chunks
    # No earlier chunk was alive while the next rows were taken (one was,
    # at every chunk of the epoch's pass after the first).
    assert max(alive_at_take) == 0, alive_at_take
    assert clf.history[-1, "epoch"] == 2
