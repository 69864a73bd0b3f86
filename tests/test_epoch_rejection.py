"""rejection="epoch": one scoring pass per epoch, then training on accepted rows."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from rsft_sklearn import RSFTClassifier


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=1200, n_features=5, weights=[0.9], random_state=0
    )
    return X, y


def _rows_trained(history):
    return [
        sum(
            epoch["batches"][i]["train_batch_size"]
            for i in range(len(epoch["batches"]))
        )
        for epoch in history
    ]


def test_epoch_trains_on_exactly_the_accepted_rows(data):
    X, y = data
    clf = RSFTClassifier(
        rejection="epoch",
        warmup_epochs=0,
        hardness=0.0,
        M=1.0,
        target_power=1.0,
        prior_correction=0.0,
        batch_size=50,
        max_epochs=6,
        random_state=0,
    ).fit(X, y)
    n_min = np.bincount(y).min()
    rows = _rows_trained(clf.history)
    for epoch, n_rows in zip(clf.history, rows):
        # hardness 0, M 1: the rarest class is kept whole, the other at n_min/n_0
        assert epoch["acceptance_rate[1]"] == 1.0
        assert n_rows == round(epoch["acceptance_rate"] * len(y))
        assert epoch["train_batch_count"] == -(-n_rows // 50)
    expected = n_min / np.bincount(y).max()
    rate0 = np.mean(clf.history[:, "acceptance_rate[0]"])
    se = np.sqrt(expected * (1 - expected) / (np.bincount(y).max() * 6))
    assert abs(rate0 - expected) < 6 * se


def test_epoch_uses_the_model(data):
    X, y = data
    frozen = dict(
        optimizer=torch.optim.SGD,
        lr=0.0,
        batch_size=100,
        random_state=0,
        warmup_epochs=0,
    )
    clf = RSFTClassifier(rejection="epoch", M=2.0, max_epochs=20, **frozen).fit(X, y)
    ref = RSFTClassifier(rejection="sample", M=2.0, max_epochs=20, **frozen).fit(X, y)
    # The same frozen model gives the same acceptance probabilities, so both
    # modes accept at the same rate up to sampling noise.
    a_epoch = np.mean(clf.history[:, "acceptance_rate"])
    a_sample = np.mean(ref.history[:, "acceptance_rate"])
    assert abs(a_epoch - a_sample) < 0.02


def test_epoch_is_reproducible_and_warmup_visits_all_rows(data):
    X, y = data
    params = dict(rejection="epoch", warmup_epochs=1, max_epochs=3, random_state=3)
    p1 = RSFTClassifier(**params).fit(X, y)
    p2 = RSFTClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(p1.predict_proba(X), p2.predict_proba(X))
    assert _rows_trained(p1.history)[0] == len(y)
    assert _rows_trained(p1.history)[1] < len(y)


def test_epoch_with_nothing_accepted_changes_nothing(data):
    X, y = data
    clf = RSFTClassifier(
        rejection="epoch", warmup_epochs=0, max_epochs=1, random_state=0
    ).fit(X, y)
    before = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.set_params(M=1e30, hardness=0.0)
    clf.partial_fit(X, y)
    assert clf.history[-1, "acceptance_rate"] == 0.0
    assert clf.history[-1, "train_batch_count"] == 0
    for k, v in clf.module_.state_dict().items():
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_epoch_needs_array_input(data):
    X, y = data
    dataset = torch.utils.data.TensorDataset(
        torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
    )
    with pytest.raises(ValueError, match="rejection='epoch' needs array inputs"):
        module = torch.nn.Linear(5, 2)
        RSFTClassifier(module, rejection="epoch", warmup_epochs=0, max_epochs=1).fit(
            dataset, y
        )
