"""What a training call counts as trained, for the undo of a failed call, when
a step trains its batch in parts; the sample weights that ``get_dataset``
takes; the NLLLoss output check on a masked class."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier, RSFTWarning
from rsft_sklearn import _base as base


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=128, n_features=4, n_informative=3, n_redundant=0, random_state=0
    )
    return X.astype(np.float32), y


# Within every batch of 32 (the batches are not shuffled), the first half
# weighs 1 and the second 0: under rejection="sample" the second half accepts
# no row, which a compacted step trains without a backward pass.
HALVES = np.tile(np.r_[np.ones(16), np.zeros(16)], 4)


def _halves(batch):
    half = len(batch[0]) // 2
    return tuple(t[:half] for t in batch), tuple(t[half:] for t in batch)


def _joined(first, second):
    return {
        "loss": (first["loss"] + second["loss"]) / 2,
        "y_pred": torch.cat([first["y_pred"], second["y_pred"]]),
    }


class StepInHalves(RSFTClassifier):
    """Micro-batches: a train_step of its own trains both halves of the
    batch, then steps the optimiser once (as docs/user_guide/skorch.rst
    allows)."""

    def train_step(self, batch, **fit_params):
        self._zero_grad_optimizer()
        first, second = (
            self.train_step_single(b, **fit_params) for b in _halves(batch)
        )
        for name in self._optimizers:
            getattr(self, name + "_").step()
        return _joined(first, second)


class SingleInHalves(RSFTClassifier):
    """The same through the library's train_step: train_step_single trains
    both halves."""

    def train_step_single(self, batch, **fit_params):
        first, second = (
            super(SingleInHalves, self).train_step_single(b, **fit_params)
            for b in _halves(batch)
        )
        return _joined(first, second)


class Boom(Exception):
    pass


class FailAfter(Callback):
    """Raises at the end of the epoch that makes the history ``epochs`` long."""

    def __init__(self, epochs=None):
        self.epochs = epochs

    def on_epoch_end(self, net, **kwargs):
        if self.epochs is not None and len(net.history) >= self.epochs:
            raise Boom


def make(cls, **params):
    settings = dict(
        max_epochs=2,
        batch_size=32,
        random_state=0,
        rejection="sample",
        compact=True,
        warmup_epochs=0,
        M=0.5,
        iterator_train__shuffle=False,
        module__hidden_layer_sizes=(8,),
        callbacks=[("fail", FailAfter())],
    )
    settings.update(params)
    return cls(**settings)


def state_of(net, X):
    return (
        len(net.history),
        net.predict_proba(X).tobytes(),
        [p.detach().clone() for p in net.module_.parameters()],
        net.class_prior_.tobytes(),
    )


def assert_same_state(a, b):
    assert a[0] == b[0] and a[1] == b[1] and a[3] == b[3]
    assert all(torch.equal(p, q) for p, q in zip(a[2], b[2]))


@pytest.mark.parametrize("cls", [StepInHalves, SingleInHalves])
def test_a_refit_that_trained_on_part_of_each_step_keeps_it_when_it_fails(data, cls):
    # The second half's compacted step (no row accepted, no backward pass)
    # marked the whole step as empty, though the first half trained: the
    # refit that failed after epoch 1 was undone, leaving the previous fit's
    # 2 epochs (predict_proba row 0 [0.2551, 0.7449]) where the call had
    # trained 1 ([0.242, 0.758]).
    X, y = data
    net = make(cls).fit(X, y, sample_weight=HALVES)
    before = state_of(net, X)
    net.set_params(callbacks__fail__epochs=1)
    with pytest.raises(Boom):
        net.fit(X, y, sample_weight=HALVES)
    after = state_of(net, X)
    # The one epoch it trained, as a fit of one epoch that did not fail.
    one = make(cls, max_epochs=1).fit(X, y, sample_weight=HALVES)
    assert_same_state(after, state_of(one, X))
    assert after[0] == 1 and after[1] != before[1]
    np.testing.assert_allclose(net.predict_proba(X[:1])[0], [0.242, 0.758], atol=5e-4)


@pytest.mark.parametrize("cls", [StepInHalves, SingleInHalves])
def test_a_partial_fit_that_trained_on_part_of_each_step_keeps_it_when_it_fails(
    data, cls
):
    # Its history and class_prior_ were put back to the 2 epochs before it,
    # but the weights kept what it trained (predict_proba row 0 [0.2813,
    # 0.7187] beside a history of 2 epochs).
    X, y = data
    net = make(cls).partial_fit(X, y, classes=[0, 1], sample_weight=HALVES)
    net.set_params(callbacks__fail__epochs=4)
    with pytest.raises(Boom):
        net.partial_fit(X, y, sample_weight=HALVES, epochs=3)
    after = state_of(net, X)
    # The two epochs it trained, as continued training that did not fail.
    kept = make(cls).partial_fit(X, y, classes=[0, 1], sample_weight=HALVES)
    kept.partial_fit(X, y, sample_weight=HALVES, epochs=2)
    assert_same_state(after, state_of(kept, X))
    assert after[0] == 4
    np.testing.assert_allclose(net.predict_proba(X[:1])[0], [0.2813, 0.7187], atol=5e-4)


@pytest.mark.parametrize("cls", [StepInHalves, SingleInHalves])
def test_a_refit_none_of_whose_parts_trained_is_still_undone(data, cls):
    # Every part accepted no row: no backward pass ran in any step.
    X, y = data
    net = make(cls).fit(X, y, sample_weight=HALVES)
    before = state_of(net, X)
    net.set_params(M=1e20, callbacks__fail__epochs=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RSFTWarning)
        with pytest.raises(Boom):
            net.fit(X, y, sample_weight=HALVES)
    assert_same_state(before, state_of(net, X))


def test_a_step_is_empty_only_if_no_part_of_it_ran_a_backward_pass():
    steps = base._CallSteps()
    # A part ran backward, another (compacted, no row) did not.
    steps.backward = True
    steps.empty = True
    steps.add()
    assert steps and steps.taken == 1
    # Both flags are the step's own: the next step starts without them.
    steps = base._CallSteps()
    steps.backward = True
    steps.add(torch.tensor(0.0))
    assert not steps
    steps.empty = True
    steps.add()
    assert not steps and steps.completed == 2
    assert not steps.empty and not steps.backward
    # A guarded step's count decides, whatever ran backward: the guard
    # skipped the optimiser's step.
    steps.backward = True
    steps.add(torch.tensor(0.0))
    assert not steps


# get_dataset's sample weights


@pytest.fixture(scope="module")
def fitted(data):
    X, y = data
    return RSFTClassifier(
        max_epochs=1, batch_size=32, random_state=0, module__hidden_layer_sizes=(8,)
    ).fit(X, y)


@pytest.mark.parametrize("kind", [np.asarray, list, lambda w: w.astype(np.float16)])
def test_get_dataset_takes_array_like_sample_weights(data, fitted, kind):
    # They were refused: "InMemoryDataset holds torch tensors, but
    # sample_weight is a numpy.ndarray", naming a class not built by hand.
    X, y = data
    weight = np.linspace(0.5, 1.5, len(y))
    dataset = fitted.get_dataset(X, y, kind(weight))
    assert dataset.sample_weight.dtype == torch.float32
    expected = torch.as_tensor(
        np.asarray(kind(weight), dtype=np.float64), dtype=torch.float32
    )
    assert torch.equal(dataset.sample_weight, expected)
    Xi, yi, wi = dataset[3]
    assert wi.dtype == torch.float32 and wi.item() == expected[3].item()
    # The same data set as one given tensors of the weights fit holds.
    held = fitted.get_dataset(X, y, expected)
    assert torch.equal(held.sample_weight, dataset.sample_weight)
    batch = next(iter(fitted.get_iterator(dataset, training=False)))
    assert torch.equal(batch[2], expected[:32])


def test_get_dataset_of_a_dataset_class_of_its_own_holds_weights_as_tensors(data):
    # skorch's Dataset (dataset=...): the weights travel beside its rows,
    # in float32 as fit's do (they were float64).
    from skorch.dataset import Dataset

    X, y = data
    net = RSFTClassifier(
        max_epochs=1, batch_size=32, dataset=Dataset, module__hidden_layer_sizes=(8,)
    ).fit(X, y)
    weight = np.linspace(0.5, 1.5, len(y))
    _, _, wi = net.get_dataset(X, y, weight)[5]
    assert wi.dtype == torch.float32
    assert wi.item() == np.float32(weight[5])


@pytest.mark.parametrize(
    "weight, message",
    [
        (-np.ones(128), "Negative values"),
        (np.full(128, np.nan), "NaN"),
        (np.ones((128, 1)), "1D"),
        (np.full(128, 1e300), "outside the float32 range"),
        (np.full(128, 1e-300), "outside the float32 range"),
    ],
)
def test_get_dataset_refuses_weights_fit_refuses_in_its_own_terms(
    data, fitted, weight, message
):
    X, y = data
    with pytest.raises(ValueError, match=message) as raised:
        fitted.get_dataset(X, y, weight)
    assert "InMemoryDataset" not in str(raised.value)


def test_get_dataset_refuses_a_weight_count_unlike_the_rows(data, fitted):
    X, y = data
    with pytest.raises(ValueError, match="sample_weight has 100 rows but X has 128"):
        fitted.get_dataset(X, y, np.ones(100))


# The NLLLoss output check on a masked class


class Masked(torch.nn.Module):
    """Three scores and a masked fourth class of -inf, as logits or as
    log-probabilities."""

    def __init__(self, ending=None):
        super().__init__()
        self.linear = torch.nn.Linear(4, 3)
        self.ending = ending

    def forward(self, X):
        z = self.linear(X)
        z = torch.cat([z, torch.full_like(z[:, :1], -torch.inf)], dim=1)
        return torch.log_softmax(z, dim=1) if self.ending == "log_softmax" else z


def _misread_warnings(data, ending):
    X, y = data
    net = RSFTClassifier(
        Masked,
        module__ending=ending,
        criterion=torch.nn.NLLLoss,
        classes=[0, 1, 2, 3],
        max_epochs=2,
        batch_size=64,
        random_state=0,
    )
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        net.fit(X, y)
    return [w for w in record if "is neither probabilities" in str(w.message)]


def test_logits_with_a_masked_class_to_nllloss_warn(data):
    # A -inf beside finite values skipped the check: logits trained under
    # NLLLoss without a word.
    said = _misread_warnings(data, None)
    assert len(said) == 1 and said[0].category is RSFTWarning


def test_log_probabilities_with_a_masked_class_to_nllloss_do_not_warn(data):
    assert _misread_warnings(data, "log_softmax") == []


def test_get_dataset_takes_a_read_only_series_without_torch_warning(data, fitted):
    # A float64 Series over an array is a read-only view under pandas'
    # copy-on-write: torch.as_tensor warned that the array is not writable.
    import warnings

    import pandas as pd

    X, y = data
    weight = np.linspace(0.5, 1.5, len(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dataset = fitted.get_dataset(X, y, pd.Series(weight))
    expected = torch.as_tensor(weight, dtype=torch.float32)
    assert torch.equal(dataset.sample_weight, expected)
