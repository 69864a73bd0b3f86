"""skorch features at their edges: a ``train_split`` of one's own that builds
its parts as new skorch ``Dataset`` objects, ``optimizer__param_groups`` set
on a fitted net, and the warning of a one-row batch under BatchNorm."""

import os
import re
import warnings

import numpy as np
import pytest
import torch
from skorch.dataset import Dataset
from skorch.helper import predefined_split
from torch import nn
from torch.utils.data import Subset

from rsft_sklearn import RSFTClassifier

FAST = dict(max_epochs=3, lr=0.05, batch_size=32, random_state=0)


@pytest.fixture(scope="module")
def data():
    """Three classes, encoded 0, 1, 2, separable along the first feature."""
    rng = np.random.RandomState(0)
    y = rng.randint(3, size=120)
    X = rng.randn(120, 4).astype(np.float32)
    X[:, 0] += 2 * y
    return X, y


def _fresh_parts(X, labels):
    """A train_split that returns both parts as new skorch Datasets holding
    raw labels, as predefined_split takes a validation set."""

    def split(dataset, y=None, **fit_params):
        return Dataset(X[30:], labels[30:]), Dataset(X[:30], labels[:30])

    return split


def _fit(X, labels, **params):
    with warnings.catch_warnings():
        # The rows of a new training Dataset are unknown among X's: the
        # class prior counts every row, with a warning (checked below).
        warnings.simplefilter("ignore")
        return RSFTClassifier(
            train_split=_fresh_parts(X, labels), **FAST, **params
        ).fit(X, labels)


def test_a_new_training_dataset_of_train_split_has_its_labels_encoded(data):
    # The validation part's labels were encoded with classes_, the training
    # part's were read as class indices: with classes=[2, 1, 0] the network
    # trained on wrong labels without a word (training accuracy 0.12 against
    # 0.77), string labels failed inside torch, and labels 10/20/30 in the
    # per-class counts.
    X, y = data
    reference = _fit(X, y)
    proba = reference.predict_proba(X)
    # Labels whose indices in classes_ are those of y: the same training.
    for labels, params in [
        (2 - y, dict(classes=[2, 1, 0])),
        (np.array(["a", "b", "c"])[y], {}),
        (10 * y + 10, {}),
    ]:
        net = _fit(X, labels, **params)
        np.testing.assert_array_equal(net.predict_proba(X), proba)
        np.testing.assert_array_equal(
            net.history[:, "valid_acc"], reference.history[:, "valid_acc"]
        )
        assert np.mean(net.predict(X[30:]) == labels[30:]) > 0.7
    assert np.mean(reference.predict(X[30:]) == y[30:]) > 0.7


def test_a_new_training_dataset_with_an_unknown_label_is_refused(data):
    X, y = data
    labels = y.copy()
    labels[40] = 7
    net = RSFTClassifier(train_split=_fresh_parts(X, labels), **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            ValueError, match=r"training part of train_split: .*not seen.*\[7\]"
        ):
            net.fit(X, y)


def test_a_training_dataset_built_of_encoded_labels_is_refused_with_a_hint(data):
    # Built from the data set train_split is given, which holds the encoded
    # labels, 0 .. K-1, not the strings of y.
    X, y = data
    labels = np.array(["a", "b", "c"])[y]

    def split(dataset, y=None, **fit_params):
        rows = np.arange(30, len(dataset))
        return Dataset(dataset.X[rows], dataset.y[rows]), Dataset(X[:30], labels[:30])

    net = RSFTClassifier(train_split=split, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(
            ValueError,
            match=r"training part of train_split: .*\[0, 1, 2\].*the class indices "
            r"that the y argument of train_split and the data set it is given "
            r"hold \(return Subset\(dataset, indices\) of that data set, or build "
            r"the Dataset from the labels of fit's y\)\.$",
        ):
            net.fit(X, labels)


def _split_of_the_y_handed(X, labels):
    """A train_split that builds its training part from the ``y`` it is
    handed (class indices), its validation part from ``labels``."""

    def split(dataset, y=None, **fit_params):
        return Dataset(X[30:], y[30:]), Dataset(X[:30], labels[:30])

    return split


REORDERED = (
    r"train_split returned a training part that is a new skorch Dataset whose "
    r"labels are integers from 0 to 2: they are read as y of fit holds them and "
    r"encoded as their indices in classes_ \[{}\], which differ from them\. If "
    r"they came from the y argument of train_split \(or the data set it is "
    r"given\), they are class indices already, and the network trains on the "
    r"wrong classes: return Subset\(dataset, indices\) of the data set "
    r"train_split is given, or build the Dataset from the labels of fit's y\.$"
)


@pytest.mark.parametrize("classes", [[2, 1, 0], [2, 0, 1]])
def test_a_training_dataset_of_indices_under_reordered_classes_warns(data, classes):
    # Indices of classes 0 .. 2 in another order are labels too: the
    # network trained on permuted labels without a word (training accuracy
    # 0.29 and 0.07 against 0.84 in the reproducer).
    X, y = data
    net = RSFTClassifier(
        classes=classes, train_split=_split_of_the_y_handed(X, y), **FAST
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.fit(X, y)
    told = [w for w in caught if "wrong classes" in str(w.message)]
    assert len(told) == 1
    assert told[0].category.__name__ == "RSFTWarning"
    assert told[0].filename == __file__
    pattern = REORDERED.format(", ".join(map(str, classes)))
    assert re.match(pattern, str(told[0].message))
    # What it warns of: the indices trained as labels, to other classes.
    assert np.mean(net.predict(X[30:]) == y[30:]) < 0.5


@pytest.mark.parametrize(
    ("classes", "labels"),
    [(None, lambda y: y), ([0, 1, 2], lambda y: y), ([20, 10, 0], lambda y: 10 * y)],
    ids=["inferred", "sorted", "not-indices"],
)
def test_no_reordering_warning_where_labels_and_indices_agree(data, classes, labels):
    # Classes in their own order read alike as labels and indices; classes
    # 0, 10, 20 are no order of the indices.
    X, y = data
    labels = labels(y)

    def split(dataset, y=None, **fit_params):
        return Dataset(X[30:], labels[30:]), Dataset(X[:30], labels[:30])

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net = RSFTClassifier(classes=classes, train_split=split, **FAST).fit(X, labels)
    assert not [w for w in caught if "wrong classes" in str(w.message)]
    assert np.mean(net.predict(X[30:]) == labels[30:]) > 0.7


def test_a_new_training_dataset_without_labels_is_refused(data):
    X, y = data

    def split(dataset, y=None, **fit_params):
        return Dataset(X[30:], None), Dataset(X[:30], y[:30])

    net = RSFTClassifier(train_split=split, **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="training part of train_split has no"):
            net.fit(X, y)


def test_a_new_training_dataset_cannot_carry_sample_weights(data):
    # Refused at the first step in terms of a collate_fn of one's own.
    X, y = data
    net = RSFTClassifier(train_split=_fresh_parts(X, y), **FAST)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(ValueError, match="new skorch Dataset, whose rows carry"):
            net.fit(X, y, sample_weight=np.ones(len(y)))


def test_a_new_training_dataset_still_warns_that_its_rows_are_unknown(data):
    X, y = data
    net = RSFTClassifier(train_split=_fresh_parts(X, y), **FAST)
    with pytest.warns(UserWarning, match="class_prior_ and the class target"):
        net.fit(X, y)


def test_training_parts_of_the_given_data_set_are_read_as_encoded(data):
    # predefined_split trains on the data set it is given, which holds
    # encoded labels, also when it is an exact skorch Dataset (dataset=);
    # so does a Subset of it.
    X, y = data
    labels = np.array(["a", "b", "c"])[y]
    valid = Dataset(X[:30], labels[:30])
    net = RSFTClassifier(
        train_split=predefined_split(valid), dataset=Dataset, **FAST
    ).fit(X[30:], labels[30:])
    assert np.mean(net.predict(X[30:]) == labels[30:]) > 0.7
    assert net.history[-1, "valid_acc"] > 0.6

    def subset_split(dataset, y=None, **fit_params):
        return Subset(dataset, np.arange(30, 120)), valid

    net = RSFTClassifier(train_split=subset_split, **FAST).fit(X, labels)
    assert np.mean(net.predict(X[30:]) == labels[30:]) > 0.7
    assert net.history[-1, "valid_acc"] > 0.6


class _TwoLayers(nn.Module):
    def __init__(self):
        super().__init__()
        self.l1 = nn.Linear(4, 8)
        self.l2 = nn.Linear(8, 3)

    def forward(self, X):
        return self.l2(torch.relu(self.l1(X)))


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_param_groups_set_on_a_fitted_net_are_trained_with(data, how, tmp_path):
    # They were reported by get_params but the optimiser kept its one group
    # (l1 moved by 0.01 at a rate of 0.0), and a 'param_groups' setting was
    # written into every group, which save_params carried along.
    X, y = data
    net = RSFTClassifier(
        _TwoLayers,
        max_epochs=1,
        lr=0.01,
        random_state=0,
        warm_start=how != "partial_fit",
    ).fit(X, y)
    net.set_params(optimizer__param_groups=[("l1.*", {"lr": 0.0})])
    assert net.get_params()["optimizer__param_groups"] == [("l1.*", {"lr": 0.0})]
    l1, l2 = (
        p.detach().clone() for p in (net.module_.l1.weight, net.module_.l2.weight)
    )
    if how == "partial_fit":
        net.partial_fit(X, y)
    else:
        net.fit(X, y)
    groups = net.optimizer_.param_groups
    assert [(len(g["params"]), g["lr"]) for g in groups] == [(2, 0.0), (2, 0.01)]
    assert not any("param_groups" in group for group in groups)
    # The default Adam, built anew, still runs fused.
    assert all(group["fused"] for group in groups)
    assert torch.equal(net.module_.l1.weight, l1)
    assert (net.module_.l2.weight - l2).abs().max() > 1e-3
    net.save_params(f_optimizer=os.fspath(tmp_path / "opt.pt"))
    saved = torch.load(tmp_path / "opt.pt", weights_only=True)
    assert not any("param_groups" in group for group in saved["param_groups"])


def test_param_groups_refused_by_the_optimiser_leave_it_in_place(data):
    X, y = data
    net = RSFTClassifier(_TwoLayers, max_epochs=1, lr=0.01, random_state=0).fit(X, y)
    optimizer, state = net.optimizer_, dict(net.optimizer_.state)
    with pytest.raises(ValueError, match="Invalid learning rate"):
        net.set_params(optimizer__param_groups=[("l1.*", {"lr": -1.0})])
    assert net.optimizer_ is optimizer and len(net.optimizer_.param_groups) == 1
    assert dict(net.optimizer_.state).keys() == state.keys()
    assert "optimizer__param_groups" not in net.get_params()


def test_one_group_setting_is_set_in_place_as_in_skorch(data):
    # optimizer__param_groups__<i>__<name>: the optimiser and its moments
    # are kept.
    X, y = data
    net = RSFTClassifier(
        _TwoLayers,
        max_epochs=1,
        lr=0.01,
        random_state=0,
        optimizer__param_groups=[("l1.*", {"lr": 0.0})],
    ).fit(X, y)
    optimizer = net.optimizer_
    net.set_params(optimizer__param_groups__1__lr=0.5)
    assert net.optimizer_ is optimizer and len(optimizer.state) == 4
    assert [g["lr"] for g in optimizer.param_groups] == [0.0, 0.5]


class _WithBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.Linear(8, 3))

    def forward(self, X):
        return self.net(X)


def test_a_one_row_chunk_under_batchnorm_says_what_the_estimator_does(data):
    # The warning said the module "cannot train on a batch of one row
    # (BatchNorm)", which PyTorch refuses only where the row gives a layer
    # one value per channel.
    X, y = data
    net = RSFTClassifier(_WithBatchNorm, max_epochs=1, random_state=0)
    net.partial_fit(X[:60], y[:60], classes=[0, 1, 2])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        net.partial_fit(X[60:61], y[60:61])
    messages = [str(w.message) for w in caught]
    assert any(
        "the estimator leaves out a training batch of one row because the "
        "network holds a BatchNorm layer" in message
        for message in messages
    ), messages
    assert not any("cannot train" in message for message in messages)
    assert np.isnan(net.history[-1, "train_loss"])
