"""Inputs given as torch tensors, the output of a torch feature extractor
among them: a tensor that requires grad failed inside torch ("Can't call
numpy() on Tensor that requires grad") in fit, predict and predict_proba,
where skorch's NeuralNetClassifier takes it."""

import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from rsft_sklearn import RSFTClassifier

PARAMS = dict(
    max_epochs=2, batch_size=32, module__hidden_layer_sizes=(8,), random_state=0
)


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(120, 4).astype(np.float32)
    y = rng.randint(0, 3, 120)
    return X, y


def _features(X):
    """``X`` as a feature extractor returns it: a tensor in a graph."""
    weight = torch.eye(X.shape[1], requires_grad=True)
    return torch.as_tensor(X) @ weight


@pytest.mark.parametrize("rejection", ["expected", "sample"])
def test_a_tensor_that_requires_grad_is_read_as_its_values(data, rejection):
    X, y = data
    features = _features(X)
    leaf = torch.tensor(X, requires_grad=True)
    assert features.requires_grad and leaf.requires_grad
    reference = RSFTClassifier(rejection=rejection, **PARAMS).fit(X, y)
    expected = reference.predict_proba(X)
    for given in (features, leaf):
        clf = RSFTClassifier(rejection=rejection, **PARAMS).fit(given, y)
        # The fit of the same values, and its predictions.
        assert clf.predict_proba(X).tobytes() == expected.tobytes()
        assert clf.history[:, "train_loss"] == reference.history[:, "train_loss"]
        assert reference.predict_proba(given).tobytes() == expected.tobytes()
        np.testing.assert_array_equal(reference.predict(given), reference.predict(X))
        assert reference.score(given, y) == reference.score(X, y)
    # The caller's tensor is left as it was, in its graph.
    assert leaf.requires_grad and leaf.grad is None
    np.testing.assert_array_equal(leaf.detach().numpy(), X)


def test_a_dict_of_tensors_that_require_grad(data):
    X, y = data
    # (The default MLP takes a dict of one input, X.)
    plain = {"X": X}
    in_graph = {key: _features(value) for key, value in plain.items()}
    reference = RSFTClassifier(**PARAMS).fit(plain, y)
    clf = RSFTClassifier(**PARAMS).fit(in_graph, y)
    expected = reference.predict_proba(plain)
    assert clf.predict_proba(plain).tobytes() == expected.tobytes()
    assert reference.predict_proba(in_graph).tobytes() == expected.tobytes()


def test_a_validation_set_of_tensors_that_require_grad(data):
    X, y = data
    valid = predefined_split(Dataset(_features(X[:40]), y[:40]))
    reference = RSFTClassifier(
        train_split=predefined_split(Dataset(X[:40], y[:40])), **PARAMS
    ).fit(X[40:], y[40:])
    clf = RSFTClassifier(train_split=valid, **PARAMS).fit(X[40:], y[40:])
    assert clf.history[:, "valid_loss"] == reference.history[:, "valid_loss"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_tensor_on_the_gpu_is_read_as_its_values(data):
    X, y = data
    on_gpu = torch.as_tensor(X, device="cuda").requires_grad_(True)
    reference = RSFTClassifier(**PARAMS).fit(X, y)
    clf = RSFTClassifier(**PARAMS).fit(on_gpu, y)
    assert clf.predict_proba(X).tobytes() == reference.predict_proba(X).tobytes()
    assert (
        reference.predict_proba(on_gpu).tobytes()
        == reference.predict_proba(X).tobytes()
    )
