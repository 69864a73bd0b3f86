"""InMemoryDataset's inputs, classes= of mixed label types and the category
of the label-count warning: refused or warned with the wrong message, or too
late."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from rsft_sklearn import InMemoryDataset, RSFTClassifier, RSFTWarning, SparseRows
from rsft_sklearn._validation import check_labels, fit_classes

SMALL = dict(max_epochs=2, module__hidden_layer_sizes=(4,), random_state=0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(60, 4).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    return X, y


# --- InMemoryDataset --------------------------------------------------------


@pytest.mark.parametrize("part", ["X", "y", "sample_weight"])
def test_in_memory_dataset_refuses_numpy_arrays(data, part):
    # Taken, with its rows read, and fit then failed with "'numpy.ndarray'
    # object has no attribute 'detach'" (or 'index_select' as the training
    # part of a train_split).
    X, y = data
    parts = dict(
        X=torch.as_tensor(X), y=torch.as_tensor(y), sample_weight=torch.ones(len(y))
    )
    parts[part] = np.asarray(parts[part])
    with pytest.raises(
        TypeError,
        match=rf"InMemoryDataset holds torch tensors, but {part} is a "
        rf"numpy\.ndarray: pass torch\.as_tensor\({part}\)",
    ):
        InMemoryDataset(**parts)


def test_in_memory_dataset_refuses_lists_and_sparse_matrices_by_name():
    X = torch.zeros(3, 2)
    with pytest.raises(TypeError, match=r"y is a list: pass torch\.as_tensor\(y\)"):
        InMemoryDataset(X, [0, 1, 0])
    with pytest.raises(
        TypeError, match=r"X\['b'\] is a numpy\.ndarray: pass torch\.as_tensor"
    ):
        InMemoryDataset({"a": X, "b": np.zeros((3, 1))})
    with pytest.raises(
        TypeError,
        match=r"X is a scipy\.sparse\..*: wrap the matrix as SparseRows\(X\)",
    ):
        InMemoryDataset(sp.eye(3, format="csr"))
    # Refused before the move to a device, which failed with an
    # AttributeError ("no attribute 'to'").
    with pytest.raises(TypeError, match="X is a numpy.ndarray"):
        InMemoryDataset(np.zeros((3, 2)), device="cpu")


def test_in_memory_dataset_takes_tensors_sparse_rows_and_dicts_of_them():
    X = torch.arange(6.0).reshape(3, 2)
    weight = torch.tensor([1.0, 2.0, 3.0])
    Xb, yb, wb = InMemoryDataset(X, torch.tensor([0, 1, 0]), weight).take(
        torch.tensor([2, 0])
    )
    assert Xb.tolist() == [[4.0, 5.0], [0.0, 1.0]]
    assert yb.tolist() == [0, 0] and wb.tolist() == [3.0, 1.0]
    rows = SparseRows(sp.csr_matrix(X.numpy()))
    both = InMemoryDataset({"dense": X, "sparse": rows}, torch.tensor([0, 1, 1]))
    Xb, yb = both.take(slice(1, 3))
    assert Xb["dense"].tolist() == Xb["sparse"].tolist() == [[2.0, 3.0], [4.0, 5.0]]
    assert yb.tolist() == [1, 1]
    assert len(InMemoryDataset(rows)) == 3


def test_in_memory_dataset_of_converted_arrays_fits_as_the_arrays(data):
    X, y = data
    params = dict(SMALL, module__n_features=4, module__n_classes=2)
    expected = RSFTClassifier(**params).fit(X, y).predict_proba(X)
    dataset = InMemoryDataset(torch.as_tensor(X), torch.as_tensor(y))
    got = RSFTClassifier(**params).fit(dataset, y).predict_proba(X)
    np.testing.assert_allclose(got, expected, rtol=1e-6)


# --- classes= of mixed label types ----------------------------------------


@pytest.mark.parametrize(
    "classes, kinds, shown",
    [
        ([0, "a"], r"\['int', 'str'\]", r"\[0, 'a'\]"),
        ((0, "a"), r"\['int', 'str'\]", r"\[0, 'a'\]"),
        ([True, "a"], r"\['bool', 'str'\]", r"\[True, 'a'\]"),
        ([1.5, "a"], r"\['float', 'str'\]", r"\[1\.5, 'a'\]"),
    ],
)
def test_classes_mixing_numbers_and_text_are_refused_as_given(classes, kinds, shown):
    # np.array made them the strings ['0', 'a'], which the check of mixed
    # kinds (on object arrays only) never saw: y's labels were then refused
    # as "not among the classes given as classes=['0', 'a']", values never
    # given, with a hint at a meta-estimator's encoding.
    with pytest.raises(
        ValueError, match=rf"classes mixes label types \({kinds}\), .*: {shown}\."
    ):
        fit_classes(None, classes)


@pytest.mark.parametrize("how", ["fit", "partial_fit"])
def test_estimator_names_classes_mixing_numbers_and_text(data, how):
    X, y = data
    message = r"mixes label types \(\['int', 'str'\]\), or holds None: \[0, 'a'\]"
    with pytest.raises(ValueError, match=message) as raised:
        if how == "fit":
            RSFTClassifier(classes=[0, "a"], **SMALL).fit(X, y)
        else:
            RSFTClassifier(**SMALL).partial_fit(X, y, classes=[0, "a"])
    assert "'0'" not in str(raised.value)
    assert "meta-estimator" not in str(raised.value)


@pytest.mark.parametrize(
    "classes",
    [
        [0, 1, 2],
        (0, 1, 2),
        np.array([0, 1, 2], dtype=np.int32),
        ["a", "b"],
        ("a", "b"),
        np.array(["a", "b"]),
        np.array(["a", "b"], dtype=object),
        ["a", np.str_("b")],
        [False, True],
        [0.5, 1.5],
        [b"a", b"b"],
        range(3),
    ],
)
def test_classes_of_one_kind_are_taken_as_numpy_makes_them(classes):
    got = fit_classes(None, classes)
    expected = np.array(classes)
    assert got.dtype == expected.dtype
    assert got.tolist() == expected.tolist()


# --- the label-count warning ------------------------------------------------


def test_many_distinct_labels_warn_as_rsft_warning(data):
    # A plain UserWarning, which a filter on RSFTWarning (documented to
    # silence the library's warnings) let through.
    y = np.arange(120) % 70
    with pytest.warns(
        RSFTWarning, match="y holds 70 distinct labels, more than half of its 120 rows"
    ):
        check_labels(y)
    X = np.random.RandomState(0).randn(120, 4).astype(np.float32)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=RSFTWarning)
        clf = RSFTClassifier(**SMALL).fit(X, y)
    assert [str(w.message) for w in caught] == []
    assert len(clf.classes_) == 70
    # Still a UserWarning: filters on that category reach it.
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        warnings.filterwarnings("ignore", category=UserWarning)
        assert check_labels(y) is not None
