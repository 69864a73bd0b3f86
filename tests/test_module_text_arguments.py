"""The default networks and the text helpers read their arguments as what
they say: a flag as a bool, sizes as whole numbers in range (a 0-d array as
the number it holds), layer widths from a sequence that a refit reads
again."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification

from rsft_sklearn import (
    EmbeddingBagModule,
    MLPModule,
    RSFTClassifier,
    TokenIndexer,
    pad_token_ids,
)

DOCS = ["the cat sat on the mat", "the dog sat", "a bird flew over the dog"]


def _widths(module):
    return [
        (layer.in_features, layer.out_features)
        for layer in module.modules()
        if isinstance(layer, torch.nn.Linear)
    ]


def _same_parameters(a, b):
    a, b = a.state_dict(), b.state_dict()
    return a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=60, n_features=5, n_informative=3, n_redundant=0,
        n_classes=3, random_state=0,
    )  # fmt: skip
    return X.astype(np.float32), y


# --- freeze ---------------------------------------------------------------


@pytest.mark.parametrize("freeze", ["False", "no", "", 0, 1, None, np.array(True)])
@pytest.mark.parametrize("pretrained", [False, True])
def test_embedding_bag_refuses_a_freeze_that_is_not_a_bool(freeze, pretrained):
    # Read by its truth value, "False" and "no" froze the embeddings.
    sizes = (
        {"pretrained_embeddings": np.ones((10, 4))}
        if pretrained
        else {"vocab_size": 10, "embedding_dim": 4}
    )
    with pytest.raises(TypeError, match="freeze must be True or False, got"):
        EmbeddingBagModule(n_classes=3, freeze=freeze, **sizes)


@pytest.mark.parametrize("freeze", [False, True, np.False_, np.True_])
@pytest.mark.parametrize("pretrained", [False, True])
def test_embedding_bag_freezes_on_a_true_bool_only(freeze, pretrained):
    sizes = (
        {"pretrained_embeddings": np.ones((10, 4))}
        if pretrained
        else {"vocab_size": 10, "embedding_dim": 4}
    )
    module = EmbeddingBagModule(n_classes=3, freeze=freeze, **sizes)
    assert module.embedding.weight.requires_grad is (not freeze)


def test_estimator_refuses_a_routed_freeze_that_is_not_a_bool():
    indexer = TokenIndexer().fit(DOCS)
    X = indexer.transform(DOCS * 4).astype(np.float32)
    y = np.arange(len(X)) % 2
    params = {
        "module": EmbeddingBagModule,
        "module__vocab_size": indexer.vocab_size_,
        "module__embedding_dim": 4,
        "max_epochs": 1,
        "random_state": 0,
    }
    with pytest.raises(TypeError, match="freeze must be True or False, got 'False'"):
        RSFTClassifier(**params, module__freeze="False").fit(X, y)
    clf = RSFTClassifier(**params, module__freeze=True).fit(X, y)
    assert not clf.module_.embedding.weight.requires_grad


# --- one-shot iterators as layer sizes -------------------------------------


@pytest.mark.parametrize(
    "make_sizes",
    [lambda: (s for s in [8, 4]), lambda: iter([8, 4]), lambda: map(int, [8, 4])],
)
@pytest.mark.parametrize("module", [MLPModule, EmbeddingBagModule])
def test_modules_refuse_an_iterator_of_layer_sizes(make_sizes, module):
    sizes = make_sizes()
    with pytest.raises(TypeError, match="hidden_layer_sizes .* read more than once"):
        module(10, 3, hidden_layer_sizes=sizes)
    # Refused before being read.
    assert list(sizes) == [8, 4]


def test_estimator_refuses_a_generator_of_layer_sizes(data):
    # The first fit built (5, 8), (8, 4), (4, 3); the refit found the
    # generator used up and built (5, 3).
    X, y = data
    clf = RSFTClassifier(
        max_epochs=1, random_state=0, module__hidden_layer_sizes=(s for s in [8, 4])
    )
    with pytest.raises(TypeError, match="pass a tuple or a list"):
        clf.fit(X, y)


@pytest.mark.parametrize("sizes", [[8, 4], (8, 4), range(8, 3, -4), np.array([8, 4])])
def test_refit_builds_the_network_of_the_first_fit(data, sizes):
    X, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0, module__hidden_layer_sizes=sizes)
    first = clf.fit(X, y).module_
    assert _widths(first) == [(5, 8), (8, 4), (4, 3)]
    second = clf.fit(X, y).module_
    assert second is not first
    assert _widths(second) == _widths(first)
    assert _same_parameters(second, first)


# --- bools as counts in TokenIndexer --------------------------------------


@pytest.mark.parametrize("name", ["max_features", "min_count", "max_length"])
@pytest.mark.parametrize("value", [True, False, np.True_])
def test_token_indexer_refuses_a_bool_count(name, value):
    # max_length=True fitted (length_ = True) and failed in transform with
    # "length must be ..."; max_features=True kept one token, min_count=True
    # read as 1.
    with pytest.raises(TypeError, match=f"'?{name}'? .*must be"):
        TokenIndexer(**{name: value}).fit(DOCS)


def test_token_indexer_takes_integer_counts():
    indexer = TokenIndexer(max_features=np.int64(2), min_count=1, max_length=3)
    ids = indexer.fit(DOCS).transform(DOCS)
    assert indexer.vocab_size_ == 4 and indexer.length_ == 3
    assert ids.tolist() == [[3, 1, 2], [3, 1, 2], [1, 1, 1]]


def test_token_indexer_refuses_a_max_length_beyond_any_array():
    # 10**400 fitted, then transform failed in NumPy ("Maximum allowed
    # dimension exceeded"), naming no argument.
    with pytest.raises(ValueError, match=r"max_length must be .* to 2\*\*63 - 1"):
        TokenIndexer(max_length=10**400).fit(DOCS)


@pytest.mark.parametrize("name", ["vocab_size", "embedding_dim"])
def test_embedding_bag_refuses_a_bool_size_beside_pretrained(name):
    # True equals the one row (or column) of the matrix, and was taken.
    with pytest.raises(TypeError, match=f"{name} must be a whole number >= 1"):
        EmbeddingBagModule(
            n_classes=3, pretrained_embeddings=np.ones((1, 1)), **{name: True}
        )


# --- infinite, huge and 0-d sizes -----------------------------------------


def _build(name, value):
    if name == "length":
        return pad_token_ids([[2, 3]], length=value)
    if name in ("vocab_size", "embedding_dim"):
        return EmbeddingBagModule(**{"vocab_size": 10, "n_classes": 3, name: value})
    return MLPModule(**{"n_features": 5, "n_classes": 3, name: value})


SIZES = ["n_features", "n_classes", "hidden_layer_sizes", "length", "vocab_size"]


@pytest.mark.parametrize("name", [*SIZES, "embedding_dim"])
def test_an_infinite_size_is_refused_by_name(name):
    # OverflowError: cannot convert float infinity to integer.
    with pytest.raises(ValueError, match=f"{name} must be a whole number >= 1, got"):
        _build(name, float("inf"))
    with pytest.raises(ValueError, match=f"{name} must be a whole number >= 1, got"):
        _build(name, np.float32("inf"))


@pytest.mark.parametrize("name", ["n_features", "hidden_layer_sizes", "length"])
@pytest.mark.parametrize(
    "value, shown",
    [
        (1e300, "1e+300"),
        # Shown as 37 digits and "...".
        (10**400, "1e+400"),
        (9996 * 10**396, "9.996e+399"),
        (2**63, "9223372036854775808"),
        (np.uint64(2**64 - 1), "18446744073709551615"),
    ],
    ids=["1e300", "10**400", "9996e396", "2**63", "uint64-max"],
)
def test_a_size_beyond_int64_is_refused_by_name(name, value, shown):
    # torch's "Overflow when unpacking long long", NumPy's "Maximum allowed
    # dimension exceeded".
    match = rf"{name} must be a whole number from 1 to 2\*\*63 - 1 .*, got"
    with pytest.raises(ValueError, match=match) as caught:
        _build(name, value)
    assert str(caught.value).endswith(f", got {shown}.")


def test_estimator_refuses_an_infinite_layer_size_by_name(data):
    X, y = data
    clf = RSFTClassifier(max_epochs=1, module__hidden_layer_sizes=float("inf"))
    with pytest.raises(ValueError, match="hidden_layer_sizes must be a whole number"):
        clf.fit(X, y)


@pytest.mark.parametrize(
    "size", [np.array(8), np.array(8.0), torch.tensor(8), np.array(8, dtype=np.uint8)]
)
def test_a_zero_dim_size_builds_the_network_of_the_number(size):
    # np.array(8) failed with "iteration over a 0-d array"; np.int64(8) worked.
    torch.manual_seed(0)
    plain = MLPModule(5, 3, hidden_layer_sizes=8)
    torch.manual_seed(0)
    module = MLPModule(5, 3, hidden_layer_sizes=size)
    assert _widths(module) == _widths(plain) == [(5, 8), (8, 3)]
    assert _same_parameters(module, plain)
    torch.manual_seed(0)
    module = MLPModule(np.array(5), torch.tensor(3), hidden_layer_sizes=8)
    assert _same_parameters(module, plain)
    torch.manual_seed(0)
    listed = MLPModule(5, 3, hidden_layer_sizes=[size, torch.tensor(4)])
    assert _widths(listed) == [(5, 8), (8, 4), (4, 3)]


def test_zero_dim_text_sizes_read_as_the_number():
    assert pad_token_ids([[2, 3, 4]], length=np.array(2)).tolist() == [[2, 3]]
    torch.manual_seed(0)
    plain = EmbeddingBagModule(vocab_size=10, n_classes=3, embedding_dim=4)
    torch.manual_seed(0)
    module = EmbeddingBagModule(
        vocab_size=np.array(10), n_classes=torch.tensor(3), embedding_dim=np.array(4.0)
    )
    assert module.embedding.weight.shape == (10, 4)
    assert _same_parameters(module, plain)


@pytest.mark.parametrize("size", [np.array(True), np.array(8.5), torch.tensor(0)])
def test_a_zero_dim_size_that_is_no_width_is_refused(size):
    with pytest.raises((TypeError, ValueError), match="hidden_layer_sizes must be a"):
        MLPModule(5, 3, hidden_layer_sizes=size)
