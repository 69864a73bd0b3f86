"""rejection="pool": pools of batches scored in one pass, full batches of
accepted rows trained."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from sklearn.utils._param_validation import InvalidParameterError
from skorch.callbacks import Callback
from torch import nn

from rsft_sklearn import BatchIterator, InMemoryDataset, RSFTClassifier


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=1200, n_features=5, weights=[0.9], random_state=0
    )
    return X.astype(np.float32), y


def _batch_sizes(epoch):
    return [batch["train_batch_size"] for batch in epoch["batches"]]


def test_iterator_yields_full_batches_of_the_kept_rows():
    ds = InMemoryDataset(torch.arange(20.0).reshape(10, 2), torch.arange(10))
    it = BatchIterator(ds, batch_size=3)
    pools = []

    def keep_even(dataset, positions):
        y = dataset.take(positions)[1]
        pools.append(y.tolist())
        return torch.nonzero(y % 2 == 0).reshape(-1)

    it.select, it.pool_size = keep_even, 2
    batches = [yb.tolist() for _, yb in it]
    assert pools == [[0, 1, 2, 3, 4, 5], [6, 7, 8, 9]]
    # The kept rows of the first pool (0, 2, 4) fill a batch; 6 and 8 are
    # the short last one.
    assert batches == [[0, 2, 4], [6, 8]]


def test_iterator_carries_the_remainder_and_drops_a_short_last_batch():
    ds = InMemoryDataset(torch.zeros(12, 1), torch.arange(12))
    it = BatchIterator(ds, batch_size=4)
    # The first three rows of each pool.
    it.select = lambda dataset, positions: torch.arange(3)
    it.pool_size = 1
    assert [yb.tolist() for _, yb in it] == [[0, 1, 2, 4], [5, 6, 8, 9], [10]]
    it.min_rows = 2
    it.select = lambda dataset, positions: torch.arange(len(positions))[
        : 1 if positions[0] == 8 else 4
    ]
    assert [yb.tolist() for _, yb in it] == [[0, 1, 2, 3], [4, 5, 6, 7]]


def test_pool_trains_full_batches_of_exactly_the_accepted_rows(data):
    X, y = data
    clf = RSFTClassifier(
        rejection="pool",
        warmup_epochs=0,
        pool_size=4,
        hardness=0.0,
        M=1.0,
        target_power=1.0,
        batch_size=50,
        max_epochs=4,
        random_state=0,
    ).fit(X, y)
    for epoch in clf.history:
        sizes = _batch_sizes(epoch)
        assert all(size == 50 for size in sizes[:-1])
        assert 0 < sizes[-1] <= 50
        # hardness 0, M 1: the rarest class is kept whole.
        assert epoch["acceptance_rate[1]"] == 1.0
        assert sum(sizes) == round(epoch["acceptance_rate"] * len(y))
        assert epoch["acceptance_rate"] < 0.3


def test_pool_is_reproducible_and_pool_size_matters(data):
    X, y = data

    def fit(**params):
        return RSFTClassifier(
            rejection="pool", warmup_epochs=0, max_epochs=3, random_state=1, **params
        ).fit(X, y)

    a, b, c = fit(), fit(), fit(pool_size=1)
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert a.history[:, "acceptance_rate"] == b.history[:, "acceptance_rate"]
    assert not np.array_equal(a.predict_proba(X), c.predict_proba(X))


def test_pool_learns_like_per_batch_rejection(data):
    X, y = data
    scores = {}
    for rejection in ("sample", "pool"):
        clf = RSFTClassifier(
            rejection=rejection, warmup_epochs=0, max_epochs=15, random_state=0
        ).fit(X[:800], y[:800])
        scores[rejection] = clf.score(X[800:], y[800:])
    assert scores["pool"] > 0.8
    assert abs(scores["pool"] - scores["sample"]) < 0.1


def test_warmup_epochs_train_every_row(data):
    X, y = data
    clf = RSFTClassifier(
        rejection="pool", warmup_epochs=1, max_epochs=2, batch_size=100, random_state=0
    ).fit(X, y)
    assert _batch_sizes(clf.history[0]) == [100] * 12
    assert clf.history[0, "acceptance_rate"] == 1.0
    assert sum(_batch_sizes(clf.history[1])) < 1200


def test_pool_with_sample_weight_and_adaptive_M(data):
    X, y = data
    weight = np.where(np.arange(len(y)) % 2 == 0, 1.0, 0.25)
    clf = RSFTClassifier(
        rejection="pool",
        warmup_epochs=0,
        M="auto",
        target_acceptance=0.3,
        max_epochs=3,
        random_state=0,
    ).fit(X, y, sample_weight=weight)
    assert 0.15 < clf.history[-1, "acceptance_rate"] < 0.45
    assert np.isfinite(clf.history[-1, "M_effective"])


class BatchNormNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(5, 16),
            nn.BatchNorm1d(16),
            nn.ReLU(),
            nn.Dropout(0.2),
            nn.Linear(16, 2),
        )

    def forward(self, X):
        return self.net(X)


def test_batchnorm_never_trains_on_one_row(data):
    X, y = data
    # Batches of 7 from pools of 7: many epochs end with a single row left.
    clf = RSFTClassifier(
        BatchNormNet,
        rejection="pool",
        warmup_epochs=0,
        pool_size=1,
        batch_size=7,
        max_epochs=4,
        random_state=0,
    ).fit(X, y)
    assert all(min(_batch_sizes(epoch)) >= 2 for epoch in clf.history)


def test_pool_needs_array_inputs(data):
    X, y = data
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
    clf = RSFTClassifier(
        nn.Linear(5, 2), rejection="pool", warmup_epochs=0, max_epochs=1
    )
    with pytest.raises(ValueError, match="rejection='pool' needs array inputs"):
        clf.fit(dataset, y)
    # Arrays given with another dataset= are named as the cause (the message
    # named array inputs only, which the call had given).
    from skorch.dataset import Dataset

    clf = RSFTClassifier(
        rejection="pool", warmup_epochs=0, max_epochs=1, dataset=Dataset
    )
    with pytest.raises(ValueError, match="with the default iterator_train and dataset"):
        clf.fit(X, y)


def test_pool_size_is_validated(data):
    X, y = data
    with pytest.raises(InvalidParameterError, match="pool_size"):
        RSFTClassifier(rejection="pool", pool_size=0, max_epochs=1).fit(X, y)


@pytest.mark.parametrize("rejection", ["pool", "epoch"])
def test_selection_modes_refuse_a_dataset_before_the_warm_up(data, rejection):
    # The refusal came after the warm-up had trained (a third of the fit).
    X, y = data
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
    epochs = []

    class Epochs(Callback):
        def on_epoch_end(self, net, **kwargs):
            epochs.append(len(net.history))

    clf = RSFTClassifier(
        nn.Linear(5, 2),
        rejection=rejection,
        max_epochs=9,
        callbacks=[Epochs()],
    )
    with pytest.raises(ValueError, match=f"rejection='{rejection}' needs array"):
        clf.fit(dataset, y)
    assert epochs == []


class _Tempered(torch.nn.Module):
    """Logits divided by a temperature given to fit (and nothing else)."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(5, 2)

    def forward(self, X, temperature):
        return self.linear(X) / temperature


@pytest.mark.parametrize("rejection", ["pool", "epoch", "budget"])
def test_scoring_passes_get_fits_forward_arguments(rejection):
    # fit(X, y, temperature=...) reached the steps' forward, not the scoring
    # passes of the selection modes: a TypeError, or, with a default,
    # acceptances at another temperature than the steps'.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 5)).astype(np.float32)
    y = (X[:, 0] > 0.8).astype(int)
    clf = RSFTClassifier(
        module=_Tempered, rejection=rejection, max_epochs=2, warmup_epochs=0
    )
    clf.fit(X, y, temperature=torch.tensor(2.0))
    assert np.isfinite(clf.history[-1, "acceptance_rate"])
