"""Edges of sparse input: duplicate entries, stored zeros, and the MLP class
named with its sizes."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp

from rsft_sklearn import MLPModule, RSFTClassifier


def _clf(**params):
    return RSFTClassifier(
        **{
            "max_epochs": 2,
            "batch_size": 32,
            "random_state": 0,
            "module__hidden_layer_sizes": (8,),
            **params,
        }
    )


@pytest.fixture(scope="module")
def narrow_data():
    """A sparse X of 60 columns of which only every third holds values."""
    rng = np.random.RandomState(1)
    used = sp.random(300, 20, density=0.3, format="csr", random_state=rng)
    y = np.asarray((used @ rng.normal(size=(20, 3))).argmax(axis=1)).ravel()
    X = sp.lil_matrix((300, 60))
    X[:, np.arange(0, 60, 3)] = used
    return X.tocsr(), y


def _with_duplicate(X, column, values, dtype):
    """``X`` whose first row stores ``values`` in ``column`` (duplicate
    entries of one cell) in place of its own entries."""
    data = np.concatenate([values, X[1:].data]).astype(dtype)
    indices = np.concatenate([[column] * len(values), X[1:].indices])
    indptr = np.concatenate([[0], X[1:].indptr + len(values)])
    return sp.csr_matrix((data, indices, indptr), shape=X.shape)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_duplicates_summing_beyond_float32_are_refused(narrow_data, dtype, sign):
    # 3e38 + 3e38 in one cell, each entry within the float32 range: float64
    # input was refused, float32 input trained into NaN ("parameters
    # stopped being finite"), and its predict blamed the parameters.
    X, y = narrow_data
    bad = _with_duplicate(X, 0, [sign * 3e38, sign * 3e38], dtype)
    data_before = bad.data.copy()
    with pytest.raises(
        ValueError, match=r"duplicate entries of a cell summed.*float32"
    ):
        _clf().fit(bad, y)
    fitted = _clf().fit(X, y)
    with pytest.raises(
        ValueError, match=r"duplicate entries of a cell summed.*float32"
    ):
        fitted.predict_proba(bad)
    # The caller's matrix keeps its duplicates.
    assert not bad.has_canonical_format
    np.testing.assert_array_equal(bad.data, data_before)


def test_float32_duplicates_within_range_fit_as_their_sums(narrow_data):
    X, y = narrow_data
    X32 = X.astype(np.float32)
    # Row 0's column 0 holds 0.25 + 0.5, stored twice.
    split = _with_duplicate(X32, 0, [0.25, 0.5], np.float32)
    summed = split.copy()
    summed.sum_duplicates()
    a = _clf().fit(split, y)
    b = _clf().fit(summed, y)
    np.testing.assert_array_equal(a.predict_proba(summed), b.predict_proba(summed))


def _with_stored_zeros(X, columns):
    """``X`` whose last row also stores zeros in ``columns``."""
    return sp.csr_matrix(
        (
            np.concatenate([X.data, np.zeros(len(columns))]),
            np.concatenate([X.indices, columns]),
            np.concatenate([X.indptr[:-1], [X.indptr[-1] + len(columns)]]),
        ),
        shape=X.shape,
    )


@pytest.mark.parametrize("call", ["warm_start", "partial_fit"])
def test_stored_zeros_outside_the_first_layer_do_not_warn(narrow_data, call):
    # HashingVectorizer(alternate_sign=True) stores zeros where colliding
    # terms cancel: continued training warned that 3 columns "have values
    # but no weights in the network".
    X, y = narrow_data
    clf = _clf(warm_start=True).fit(X, y)
    assert clf.module_.layers[0].in_features == 20
    zeros = _with_stored_zeros(X, [1, 2, 4])
    assert (zeros != X).nnz == 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(zeros, y) if call == "warm_start" else clf.partial_fit(zeros, y)
    # A value in such a column still warns.
    valued = zeros.copy()
    valued.data[-1] = 1.0
    with pytest.warns(UserWarning, match=r"1 columns of X \(for example \[4\]\)"):
        clf.fit(valued, y) if call == "warm_start" else clf.partial_fit(valued, y)


@pytest.mark.parametrize("module", [None, MLPModule])
def test_the_mlp_class_with_its_sizes_is_narrowed_like_the_default(narrow_data, module):
    # module=MLPModule with module__n_features and module__n_classes kept a
    # weight for every column of a sparse fit, where module=None with the
    # same sizes kept the columns in use: [8, 188] against [8, 65536] on
    # hashed text, predictions apart by up to 0.093.
    X, y = narrow_data
    default = _clf().fit(X, y)
    sized = _clf(module=module, module__n_features=60, module__n_classes=3).fit(X, y)
    assert sized.module_.layers[0].in_features == 20
    np.testing.assert_array_equal(
        sized.module_.input_columns.numpy(), default.module_.input_columns.numpy()
    )
    np.testing.assert_array_equal(sized.predict_proba(X), default.predict_proba(X))
    # Every column, when asked for.
    full = _clf(
        module=module,
        module__n_features=60,
        module__n_classes=3,
        module__input_columns=None,
    ).fit(X, y)
    assert full.module_.layers[0].in_features == 60
