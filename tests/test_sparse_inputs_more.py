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
