"""The public building blocks refuse what they would misread, with a
message naming it: modules, data set, iterator and target weights."""

import numpy as np
import pytest
import torch

from rsft_sklearn import (
    BatchIterator,
    EmbeddingBagModule,
    InMemoryDataset,
    MLPModule,
    class_target_weight,
)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        # A string was read one character at a time: "64" built layers 6 and 4.
        ({"hidden_layer_sizes": "64"}, TypeError, "sequence of layer widths"),
        ({"hidden_layer_sizes": (64, -3)}, ValueError, "whole number >= 1, got -3"),
        ({"hidden_layer_sizes": (64, 0)}, ValueError, "whole number >= 1, got 0"),
        ({"hidden_layer_sizes": (32.5,)}, ValueError, "whole number >= 1, got 32.5"),
        ({"hidden_layer_sizes": (None,)}, TypeError, "got None"),
        ({"n_features": 0}, ValueError, "n_features must be a whole number"),
        ({"n_classes": 0}, ValueError, "n_classes must be a whole number"),
        # At 1 every hidden unit is dropped in training: no layer but the
        # last ever learnt, without a word.
        ({"dropout": 1.0}, ValueError, r"dropout .* \[0, 1\), got 1.0 \(at 1"),
        ({"dropout": True}, TypeError, "dropout must be a probability"),
        ({"dropout": -0.1}, ValueError, "dropout must be a probability"),
        ({"dropout": float("nan")}, ValueError, "dropout must be a probability"),
        ({"dropout": "0.5"}, TypeError, "dropout must be a probability"),
        # An instance, a function or a name failed at the first batch
        # ("forward() missing 1 required positional argument").
        ({"activation": torch.nn.ReLU()}, TypeError, "pass its class, ReLU"),
        # The class alone would drop the instance's settings.
        (
            {"activation": torch.nn.LeakyReLU(0.2)},
            TypeError,
            r"functools.partial of it .*repr shows negative_slope=0.2",
        ),
        ({"activation": torch.relu}, TypeError, "activation must be a torch.nn.Mod"),
        ({"activation": "relu"}, TypeError, "activation must be a torch.nn.Module"),
    ],
)
def test_mlp_refuses_sizes_it_would_misread(kwargs, error, match):
    with pytest.raises(error, match=match):
        MLPModule(**{"n_features": 5, "n_classes": 3, **kwargs})


def test_mlp_takes_activation_factories_and_dropout_below_one():
    import functools

    leaky = MLPModule(5, 3, activation=functools.partial(torch.nn.LeakyReLU, 0.2))
    assert leaky.layers[1].negative_slope == 0.2
    assert MLPModule(5, 3, dropout=np.float32(0.5)).layers[2].p == 0.5


@pytest.mark.parametrize(
    "sizes, widths", [(32, [32]), ((), []), ([16, 8], [16, 8]), ((8.0,), [8])]
)
def test_mlp_reads_layer_sizes_as_scikit_learn_does(sizes, widths):
    module = MLPModule(5, 3, hidden_layer_sizes=sizes)
    linear = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    assert [m.out_features for m in linear] == [*widths, 3]
    assert linear[0].in_features == 5


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"embedding_dim": 0}, "embedding_dim must be a whole number"),
        ({"vocab_size": -1}, "vocab_size must be a whole number"),
        ({"hidden_layer_sizes": "64"}, "sequence of layer widths"),
        ({"n_classes": 1.5}, "n_classes must be a whole number"),
        ({"dropout": 1.0}, "dropout must be a probability"),
    ],
)
def test_embedding_bag_refuses_sizes_it_would_misread(kwargs, match):
    with pytest.raises((TypeError, ValueError), match=match):
        EmbeddingBagModule(**{"vocab_size": 10, "n_classes": 3, **kwargs})


def test_in_memory_dataset_needs_one_label_and_weight_per_row():
    X = torch.zeros(5, 2)
    with pytest.raises(ValueError, match="y has 4 rows but X has 5"):
        InMemoryDataset(X, torch.zeros(4))
    with pytest.raises(ValueError, match="sample_weight has 6 rows but X has 5"):
        InMemoryDataset(X, torch.zeros(5), torch.ones(6))
    with pytest.raises(ValueError, match="same length"):
        InMemoryDataset(
            {"a": torch.zeros(5, 2), "b": torch.zeros(4, 1)}, torch.zeros(5)
        )
    assert len(InMemoryDataset({"a": X, "b": torch.zeros(5, 1)}, torch.zeros(5))) == 5


@pytest.mark.parametrize(
    "batch_size, error",
    [(0, ValueError), (-1, ValueError), (2.5, TypeError), (True, TypeError)],
)
def test_batch_iterator_needs_a_positive_batch_size(batch_size, error):
    # Before: 0 failed with a ZeroDivisionError when iterated, and -1 (skorch's
    # "the whole data set", which the estimator resolves itself) yielded
    # no batch at all.
    dataset = InMemoryDataset(torch.zeros(5, 2), torch.zeros(5))
    with pytest.raises(error, match="batch_size must be an integer >= 1"):
        BatchIterator(dataset, batch_size=batch_size)
    assert len(list(BatchIterator(dataset, batch_size=np.int64(2)))) == 3


@pytest.mark.parametrize(
    "y, power, match",
    [
        ([0, 5], 1.0, r"integer class indices in \[0, 2\)"),
        ([0, -1], 1.0, r"integer class indices in \[0, 2\)"),
        ([0.5, 1.0], 1.0, "dtype float64"),
        ([0, 1], -1.0, "power must be a finite number >= 0"),
        ([0, 1], float("nan"), "power must be a finite number >= 0"),
    ],
)
def test_class_target_weight_refuses_what_it_would_misread(y, power, match):
    # Before: a label of 5 gave six weights for two classes, silently.
    with pytest.raises(ValueError, match=match):
        class_target_weight(np.array(y), 2, power=power)


def test_class_target_weight_of_an_absent_class():
    weight = class_target_weight(np.array([0, 0, 1, 2, 2]), 4)
    np.testing.assert_allclose(weight, [0.5, 1.0, 0.5, 1.0])
    assert class_target_weight(np.array([], dtype=int), 2).tolist() == [1.0, 1.0]


@pytest.mark.parametrize("sparse", [False, True])
def test_default_mlp_trains_under_a_float64_default_dtype(sparse):
    # Its layers were built in the default dtype, and the estimator hands
    # over float32 rows: the first step failed inside torch.
    import scipy.sparse as sp

    from rsft_sklearn import RSFTClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(120, 5).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        clf = RSFTClassifier(max_epochs=5, random_state=0, lr=0.05)
        data = sp.csr_matrix(X) if sparse else X
        clf.fit(data, y)
        assert clf.module_.layers[0].weight.dtype == torch.float32
        assert clf.score(data, y) > 0.8
    finally:
        torch.set_default_dtype(before)
