"""Inputs that were refused with the wrong message, or too late, or
accepted although they say nothing definite."""

import warnings

import numpy as np
import pandas as pd
import pytest
import sklearn
import torch
from sklearn.model_selection import GroupKFold
from skorch.dataset import ValidSplit

from rsft_sklearn import MLPModule, RejectionLoss, RSFTClassifier
from rsft_sklearn._multimodal import check_groups
from rsft_sklearn._validation import check_labels, fit_classes

SMALL = dict(max_epochs=1, module__hidden_layer_sizes=(4,), random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = np.array(["a", "b"], dtype=object)[(X[:, 0] > 0.3).astype(int)]
    return X, y


# --- RejectionLoss ---------------------------------------------------------


@pytest.mark.parametrize(
    "dtype", [torch.bool, torch.uint16, torch.uint32, torch.uint64]
)
def test_rejection_loss_takes_any_integer_labels(dtype):
    # Refused as "y must hold integer class indices, got dtype torch.uint16"
    # while acceptance_probability took them: the same loss as int64 now.
    torch.manual_seed(0)
    logits, y = torch.randn(6, 2), torch.tensor([0, 1, 1, 0, 1, 0])
    reference = RejectionLoss(class_weight=[0.5, 1.0], rejection="expected")
    loss_fn = RejectionLoss(class_weight=[0.5, 1.0], rejection="expected")
    assert torch.equal(loss_fn(logits, y.to(dtype)), reference(logits, y))
    assert torch.equal(
        loss_fn.epoch_statistics()["acceptance"],
        reference.epoch_statistics()["acceptance"],
    )
    assert loss_fn.epoch_statistics()["seen"].tolist() == [3.0, 3.0]


def test_rejection_loss_refuses_float_labels():
    with pytest.raises(
        TypeError, match="integer class indices, got dtype torch.float32"
    ):
        RejectionLoss()(torch.randn(2, 2), torch.tensor([0.0, 1.0]))


def test_process_sum_that_cannot_be_called_is_refused_at_construction():
    # Accepted, then the first step failed: "'int' object is not callable".
    with pytest.raises(TypeError, match="process_sum must be a callable .* got 3"):
        RejectionLoss(process_sum=3)
    loss_fn = RejectionLoss(process_sum=lambda tensor: tensor)
    assert torch.isfinite(loss_fn(torch.randn(4, 2), torch.tensor([0, 1, 1, 0])))


# --- MLPModule -------------------------------------------------------------


@pytest.mark.parametrize("sizes", [{64, 8}, frozenset({8, 64}), {64: 1, 8: 2}])
def test_hidden_layer_sizes_without_an_order_are_refused(sizes):
    # {64, 8} built layers 64, 8 and {8, 64} layers 8, 64: equal values,
    # different networks.
    with pytest.raises(TypeError, match="ordered sequence of layer widths"):
        MLPModule(4, 3, hidden_layer_sizes=sizes)


@pytest.mark.parametrize(
    "sizes, widths", [([8, 64], [8, 64, 3]), (5, [5, 3]), ((), [3])]
)
def test_hidden_layer_sizes_in_order_are_taken(sizes, widths):
    module = MLPModule(4, 3, hidden_layer_sizes=sizes)
    linear = [layer for layer in module.layers if isinstance(layer, torch.nn.Linear)]
    assert [layer.out_features for layer in linear] == widths


# --- classes= --------------------------------------------------------------


def _mixed_classes():
    # np.unique of a text array gives NumPy str_, then a label to come.
    classes = np.array(["a", "b", "c"], dtype=object)
    classes[0] = np.str_("a")
    return classes


def test_classes_mixing_str_and_numpy_str_are_taken():
    # Refused as "classes mixes label types (['str', 'str_'])"; the same
    # labels as y were taken, and so does SGDClassifier.partial_fit.
    classes = fit_classes(None, _mixed_classes())
    assert classes.tolist() == ["a", "b", "c"]


@pytest.mark.filterwarnings("ignore:class\\(es\\) 'c' of classes=:UserWarning")
@pytest.mark.parametrize("how", ["partial_fit", "init"])
def test_estimator_takes_classes_mixing_str_and_numpy_str(data, how):
    X, y = data
    if how == "partial_fit":
        clf = RSFTClassifier(**SMALL).partial_fit(X, y, classes=_mixed_classes())
    else:
        clf = RSFTClassifier(classes=_mixed_classes(), **SMALL).fit(X, y)
    assert clf.classes_.tolist() == ["a", "b", "c"]
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(clf.predict(X).tolist()) <= {"a", "b"}


def test_classes_mixing_text_and_numbers_are_still_refused():
    with pytest.raises(ValueError, match=r"mixes label types \(\['int', 'str'\]\)"):
        fit_classes(None, np.array([1, "a"], dtype=object))


def test_groups_mixing_str_and_numpy_str_are_taken():
    groups = np.array([np.str_("g1"), "g1", "g2", np.str_("g2")], dtype=object)
    assert check_groups(groups, "balanced_groups", 4).tolist() == [
        "g1",
        "g1",
        "g2",
        "g2",
    ]
    with pytest.raises(ValueError, match=r"the types \['int', 'str'\]"):
        check_groups(np.array([1, "a"], dtype=object), "balanced_groups", 2)


# --- missing labels in y ---------------------------------------------------


def _y_with_missing():
    nan = np.arange(10) % 2 * 1.0
    nan[3] = np.nan
    inf = np.arange(10) % 2 * 1.0
    inf[3] = np.inf
    return {
        "float NaN": (nan, "Input y contains NaN"),
        "float inf": (inf, "Input y contains infinity"),
        "Int64 NA": (
            pd.Series([0, 1, pd.NA, 1, 0, 1, 0, 1, 0, 1], dtype="Int64"),
            "Input y contains NaN",
        ),
        "boolean NA": (
            pd.Series(
                [True, False, pd.NA] + [True, False] * 3 + [True], dtype="boolean"
            ),
            "Input y contains NaN",
        ),
    }


@pytest.mark.parametrize("case", list(_y_with_missing()))
def test_missing_y_is_refused_without_numpy_cast_warning(case):
    # NumPy's "RuntimeWarning: invalid value encountered in cast" came first
    # (scikit-learn's target-type check casts to int); LogisticRegression
    # gives the ValueError alone.
    y, match = _y_with_missing()[case]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match=match):
            check_labels(y)
    assert [str(w.message) for w in caught] == []


def test_estimator_refuses_nan_y_without_a_warning(data):
    X, _ = data
    y = (X[:, 0] > 0).astype(float)
    y[3] = np.nan
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(ValueError, match="Input y contains NaN"):
            RSFTClassifier(**SMALL).fit(X, y)
    assert [str(w.message) for w in caught] == []


# --- a train_split that splits by group ------------------------------------


def test_group_split_without_groups_is_refused_up_front(data):
    # Failed inside skorch's fit_loop, after the network was built, with
    # scikit-learn's bare "The 'groups' parameter should not be None."
    X, y = data
    clf = RSFTClassifier(train_split=ValidSplit(GroupKFold(2)), **SMALL)
    with pytest.raises(ValueError, match="train_split splits by group") as info:
        clf.fit(X, y)
    assert "enable_metadata_routing=True" in str(info.value)
    assert not hasattr(clf, "module_")
    # With groups it fits, and a group-free split needs none.
    clf.fit(X, y, groups=np.arange(len(y)) % 4)
    assert len(clf.history) == 1
    RSFTClassifier(train_split=ValidSplit(3), **SMALL).fit(X, y)


def test_group_split_without_groups_leaves_a_fitted_estimator_as_it_was(data):
    X, y = data
    clf = RSFTClassifier(**SMALL).fit(X, y)
    proba = clf.predict_proba(X)
    prior = clf.class_prior_.copy()
    clf.set_params(train_split=ValidSplit(GroupKFold(2)))
    with pytest.raises(ValueError, match="needs fit\\(X, y, groups=...\\)"):
        clf.fit(X[:40], y[:40])
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    np.testing.assert_array_equal(clf.class_prior_, prior)
    assert len(clf.history) == 1


def test_group_split_without_groups_names_set_fit_request_under_routing(data):
    X, y = data
    with sklearn.config_context(enable_metadata_routing=True):
        clf = RSFTClassifier(train_split=ValidSplit(GroupKFold(2)), **SMALL)
        with pytest.raises(ValueError, match=r"set_fit_request\(groups=True\)"):
            clf.fit(X, y)


def test_embedding_bag_module_embeds_documents_of_no_token_as_zeros():
    from rsft_sklearn import EmbeddingBagModule

    torch.manual_seed(0)
    module = EmbeddingBagModule(vocab_size=10, embedding_dim=4, n_classes=3)
    empty = torch.zeros((5, 0), dtype=torch.long)
    padded = torch.zeros((5, 3), dtype=torch.long)  # padding only
    out = module(empty)
    assert out.shape == (5, 3)
    # The same output as documents of padding only (empty documents).
    torch.testing.assert_close(out, module(padded))


@pytest.mark.parametrize("shape", [(0, 4), (5, 0)])
def test_embedding_bag_module_names_an_empty_pretrained_matrix(shape):
    from rsft_sklearn import EmbeddingBagModule

    with pytest.raises(ValueError, match=r"pretrained_embeddings must hold"):
        EmbeddingBagModule(pretrained_embeddings=torch.zeros(shape), n_classes=2)
