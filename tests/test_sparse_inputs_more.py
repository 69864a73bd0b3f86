"""Sparse inputs beyond SciPy's float matrices: bool matrices with duplicate
entries of a cell, torch sparse tensors, sparse values of a dict X."""

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from numpy.testing import assert_allclose, assert_array_equal

from rsft_sklearn import RSFTClassifier, SparseRows

FAST = {"max_epochs": 2, "random_state": 0, "verbose": 0}


def _bool_with_duplicates(n=60, width=4):
    """A bool CSR matrix of three entries per row, some in the same cell."""
    columns = np.random.RandomState(0).randint(0, width, size=3 * n)
    return sp.csr_matrix(
        (np.ones(3 * n, bool), columns, np.arange(0, 3 * n + 1, 3)), shape=(n, width)
    )


def test_bool_matrix_with_duplicates_reads_as_its_dense_copy():
    # Cast to float first, two True entries of a cell were summed to 2.0,
    # where toarray() and the same matrix in COO read 1: fit and predict
    # differed from the dense copy by 0.06 in probability.
    B = _bool_with_duplicates()
    assert not B.has_canonical_format and B.toarray().max()
    saved = (B.data.copy(), B.indices.copy(), B.indptr.copy())
    y = np.arange(B.shape[0]) % 2
    dense = RSFTClassifier(**FAST).fit(B.toarray(), y)
    expected = dense.predict_proba(B.toarray())
    for X in (B, B.tocoo(), B.tocsc()):
        clf = RSFTClassifier(**FAST).fit(X, y)
        assert_allclose(clf.predict_proba(X), expected, rtol=0, atol=1e-6)
        assert_allclose(dense.predict_proba(X), expected, rtol=0, atol=1e-6)
    # The caller's matrix is left as it was.
    assert not B.has_canonical_format
    for before, after in zip(saved, (B.data, B.indices, B.indptr)):
        assert_array_equal(before, after)


def test_sparse_rows_read_bool_duplicates_as_one_and_integers_as_counts():
    data, columns, rows = np.array([1, 1, 1]), np.array([0, 0, 1]), np.array([0, 3])
    flags = sp.csr_matrix((data.astype(bool), columns, rows), shape=(1, 2))
    counts = sp.csr_matrix((data.astype(np.int64), columns, rows), shape=(1, 2))
    assert SparseRows(flags).take(slice(0, 1)).tolist() == [[1.0, 1.0]]
    assert SparseRows(flags, sparse_batches=True).take(
        slice(0, 1)
    ).to_dense().tolist() == [[1.0, 1.0]]
    assert SparseRows(counts).take(slice(0, 1)).tolist() == [[2.0, 1.0]]
    assert flags.nnz == 3 and not flags.has_canonical_format


def _sparse_data():
    X = sp.random(60, 6, density=0.5, format="csr", random_state=0, dtype=np.float32)
    return X, np.arange(60) % 2


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support:UserWarning")
@pytest.mark.parametrize("layout", ["coo", "csr", "csc"])
def test_torch_sparse_tensor_takes_the_sparse_path(layout):
    # torch failed converting it: "can't convert Sparse layout tensor to
    # numpy. Use Tensor.to_dense() first."
    X, y = _sparse_data()
    dense = torch.from_numpy(X.toarray())
    T = {
        "coo": dense.to_sparse,
        "csr": dense.to_sparse_csr,
        "csc": dense.to_sparse_csc,
    }[layout]()
    on_scipy = RSFTClassifier(**FAST).fit(X, y)
    on_torch = RSFTClassifier(**FAST).fit(T, y)
    expected = on_scipy.predict_proba(X)
    assert_array_equal(on_torch.predict_proba(T), expected)
    assert_array_equal(on_scipy.predict_proba(T), expected)
    assert_array_equal(on_torch.module_.input_columns, on_scipy.module_.input_columns)


def test_torch_sparse_tensor_sums_a_cell_as_to_dense_does():
    # An uncoalesced COO tensor: two entries of one cell, and a bfloat16
    # one, which NumPy has no type for.
    X, y = _sparse_data()
    coo = X.tocoo()
    indices = np.vstack([np.r_[coo.row, coo.row[:1]], np.r_[coo.col, coo.col[:1]]])
    values = np.r_[coo.data, np.float32(0.5)]
    T = torch.sparse_coo_tensor(
        torch.from_numpy(indices),
        torch.from_numpy(values),
        size=X.shape,
        check_invariants=True,
    )
    assert not T.is_coalesced()
    on_dense = RSFTClassifier(**FAST).fit(T.to_dense().numpy(), y)
    on_torch = RSFTClassifier(**FAST).fit(T, y)
    assert_allclose(
        on_torch.predict_proba(T),
        on_dense.predict_proba(T.to_dense().numpy()),
        rtol=0,
        atol=1e-6,
    )
    halves = T.to_dense().bfloat16()
    on_halves = RSFTClassifier(**FAST).fit(halves, y)
    on_sparse_halves = RSFTClassifier(**FAST).fit(halves.to_sparse(), y)
    assert_allclose(
        on_sparse_halves.predict_proba(halves.to_sparse()),
        on_halves.predict_proba(halves),
        rtol=0,
        atol=1e-6,
    )


def test_torch_sparse_tensor_of_other_shapes_is_refused_by_name():
    T = torch.zeros(4, 2, 3).to_sparse()
    with pytest.raises(TypeError, match=r"scipy\.sparse\.csr_matrix"):
        RSFTClassifier(**FAST).fit(T, np.arange(4) % 2)


@pytest.mark.parametrize(
    "kind, name",
    [
        ("csr_array", r"sparse csr_array"),
        ("torch", r"torch sparse tensor \(torch\.sparse_coo\)"),
        ("pandas", r"pandas DataFrame of sparse columns"),
    ],
)
def test_sparse_values_of_a_dict_are_named(kind, name):
    # A torch sparse tensor failed inside torch, and a pandas sparse frame
    # got scikit-learn's advice to densify it with .toarray().
    X, y = _sparse_data()
    if kind == "csr_array":
        value = sp.csr_array(X)
    elif kind == "torch":
        value = torch.from_numpy(X.toarray()).to_sparse()
    else:
        pd = pytest.importorskip("pandas")
        value = pd.DataFrame.sparse.from_spmatrix(X)
    with pytest.raises(TypeError, match=rf"X\['a'\] is a {name}: .* as X itself"):
        RSFTClassifier(**FAST).fit({"a": value}, y)


class _TwoInputs(torch.nn.Module):
    """Logits from two inputs of ``width`` columns together."""

    def __init__(self, width):
        super().__init__()
        self.linear = torch.nn.Linear(width, 2)

    def forward(self, a, b):
        return self.linear(torch.cat([a, b.reshape(len(a), -1)], 1))


@pytest.mark.filterwarnings("ignore:pandas.DataFrame with sparse columns:UserWarning")
def test_pandas_sparse_columns_beside_dense_ones_in_a_dict_are_densified():
    # A Series of a sparse dtype, or a frame with dense columns too, was
    # refused as a "pandas Series of sparse columns": scikit-learn reads
    # both densified, as it did, with the probabilities of the dense ones.
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    a = rng.randn(40, 3).astype(np.float32)
    y = np.arange(40) % 2
    flags = (np.arange(40) % 5 == 0).astype(np.float32)
    dense = pd.DataFrame({"u": flags, "v": rng.randn(40).astype(np.float32)})
    sparse = pd.SparseDtype("float32", 0.0)
    cases = [
        (pd.Series(flags).astype(sparse), pd.Series(flags), 4),
        (dense.astype({"u": sparse}), dense, 5),
    ]
    for value, densified, width in cases:
        params = {"module": _TwoInputs, "module__width": width, **FAST}
        expected = (
            RSFTClassifier(**params)
            .fit({"a": a, "b": densified}, y)
            .predict_proba({"a": a, "b": densified})
        )
        clf = RSFTClassifier(**params).fit({"a": a, "b": value}, y)
        assert_array_equal(clf.predict_proba({"a": a, "b": value}), expected)


@pytest.mark.filterwarnings("ignore:Sparse CSR tensor support:UserWarning")
def test_float16_torch_sparse_tensor_is_read_in_float32():
    # SciPy has no float16 sparse matrix: "scipy.sparse does not support
    # dtype float16".
    X, y = _sparse_data()
    halves = torch.from_numpy(X.toarray()).half()
    # The float16 values, exactly, in float32.
    expected = (
        RSFTClassifier(**FAST)
        .fit(sp.csr_matrix(halves.float().numpy()), y)
        .predict_proba(sp.csr_matrix(halves.float().numpy()))
    )
    for T in (halves.to_sparse(), halves.to_sparse_csr()):
        clf = RSFTClassifier(**FAST).fit(T, y)
        assert_array_equal(clf.predict_proba(T), expected)


def test_torch_sparse_vectors_of_labels_and_weights_are_densified():
    # A sparse sample_weight got the message meant for X ("a sparse input is
    # one of rows and features ... Pass a scipy.sparse.csr_matrix"), and a
    # sparse y failed inside torch ("can't convert Sparse layout tensor to
    # numpy").
    X, y = _sparse_data()
    weight = np.where(np.arange(60) % 3 == 0, 0.0, 1.5)
    expected = RSFTClassifier(**FAST).fit(X, y, sample_weight=weight).predict_proba(X)
    clf = RSFTClassifier(**FAST).fit(
        X,
        torch.from_numpy(y).to_sparse(),
        sample_weight=torch.from_numpy(weight).to_sparse(),
    )
    assert_array_equal(clf.predict_proba(X), expected)
    assert_array_equal(clf.classes_, [0, 1])


def test_torch_sparse_labels_and_weights_of_more_axes_are_refused_by_name():
    X, y = _sparse_data()
    column = torch.ones(60, 1).to_sparse()
    with pytest.raises(TypeError, match=r"sample_weight is a torch sparse tensor"):
        RSFTClassifier(**FAST).fit(X, y, sample_weight=column)
    with pytest.raises(TypeError, match=r"^y is a torch sparse tensor .* 1-d"):
        RSFTClassifier(**FAST).fit(X, torch.from_numpy(y)[:, None].to_sparse())


def test_get_dataset_and_forward_read_a_torch_sparse_tensor_as_fit_does():
    # get_dataset held it as a dense tensor, and the fit on that data set
    # failed inside torch ("Could not run 'aten::ne.Scalar' ... 'SparseCPU'
    # backend"); so did forward.
    X, y = _sparse_data()
    T = torch.from_numpy(X.toarray()).to_sparse()
    clf = RSFTClassifier(**FAST).fit(X, y)
    expected, proba = (
        RSFTClassifier(module__n_features=6, module__n_classes=2, **FAST)
        .fit(clf.get_dataset(M, torch.from_numpy(y)), y)
        .predict_proba(X)
        for M in (X, T)
    )
    assert_array_equal(proba, expected)
    assert type(clf.get_dataset(T).X) is SparseRows
    # A sparse vector of weights is held as the dense one.
    weight = np.where(np.arange(60) % 3 == 0, 0.0, 1.5)
    held = clf.get_dataset(T, sample_weight=torch.from_numpy(weight).to_sparse())
    assert held.sample_weight.layout == torch.strided
    assert_array_equal(
        held.sample_weight, clf.get_dataset(X, sample_weight=weight).sample_weight
    )
    assert_array_equal(clf.forward(T), clf.forward(X))


def test_score_reads_torch_sparse_labels_and_weights_as_fit_does():
    X, y = _sparse_data()
    clf = RSFTClassifier(max_epochs=2, random_state=0).fit(X, y)
    weight = np.linspace(0.5, 2.0, len(y))
    expected = clf.score(X, y, sample_weight=weight)
    sparse_y = torch.as_tensor(y).to_sparse()
    sparse_weight = torch.as_tensor(weight).to_sparse()
    assert clf.score(X, sparse_y, sample_weight=sparse_weight) == expected
    assert clf.score(X, sparse_y) == clf.score(X, y)
