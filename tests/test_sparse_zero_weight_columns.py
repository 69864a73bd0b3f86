"""The columns that get first-layer weights on sparse input: those with a
stored nonzero value in the training rows of positive weight."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from skorch.dataset import ValidSplit
from torch.utils.data import Subset

from rsft_sklearn import RSFTClassifier, RSFTWarning

N_ROWS, N_COLUMNS = 200, 40
# Columns 35..39 are stored in the first 20 rows only, which weigh 0.
PRIVATE = np.arange(35, N_COLUMNS)


@pytest.fixture(scope="module")
def weighted_data():
    """Sparse X whose rows of weight 0 alone hold some columns."""
    rng = np.random.RandomState(0)
    A = (rng.rand(N_ROWS, N_COLUMNS) < 0.15) * rng.rand(N_ROWS, N_COLUMNS)
    A[:, PRIVATE] = 0
    A[:20, PRIVATE] = 1.0
    y = (A[:, :5].sum(1) > 0.3).astype(int)
    sample_weight = rng.uniform(0.5, 2, N_ROWS)
    sample_weight[:20] = 0
    groups = rng.choice(["a", "b"], size=N_ROWS)
    return sp.csr_matrix(A), y, sample_weight, groups


def _columns(clf):
    """The columns with first-layer weights."""
    columns = clf.module_.input_columns
    return np.arange(clf.n_features_in_) if columns is None else columns.numpy()


def _fit(X, y, sample_weight, groups=None, **params):
    # One batch: the rows of weight 0 change no batch's composition.
    clf = RSFTClassifier(
        random_state=0,
        max_epochs=3,
        batch_size=1000,
        module__hidden_layer_sizes=(8,),
        **params,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y, sample_weight=sample_weight, groups=groups)


@pytest.mark.parametrize(
    "params",
    [
        {"rejection": "expected"},
        {"M": "auto", "target_acceptance": 0.5},
        {"target": "balanced_groups", "warmup_epochs": 0},
    ],
    ids=["expected", "M-auto", "balanced_groups"],
)
def test_rows_of_weight_zero_are_as_if_absent_on_sparse_input(weighted_data, params):
    # Their columns got first-layer weights that never trained, drawn in
    # the same layer as the others: predict_proba differed by 0.093 from
    # the fit without those rows (dense input: 1.6e-8).
    X, y, sample_weight, groups = weighted_data
    keep = sample_weight > 0
    if params.get("target") != "balanced_groups":
        groups = None
    with_zeros = _fit(X, y, sample_weight, groups, **params)
    without = _fit(
        X[keep],
        y[keep],
        sample_weight[keep],
        None if groups is None else groups[keep],
        **params,
    )
    np.testing.assert_allclose(
        with_zeros.predict_proba(X), without.predict_proba(X), atol=1e-6
    )
    np.testing.assert_array_equal(_columns(with_zeros), np.arange(35))
    np.testing.assert_array_equal(_columns(with_zeros), _columns(without))


def test_validation_rows_and_rows_of_weight_zero_both_leave_their_columns_out(
    weighted_data,
):
    X, y, sample_weight, _ = weighted_data
    clf = _fit(X, y, sample_weight, train_split=ValidSplit(0.2, random_state=0))
    columns = _columns(clf)
    assert not np.isin(PRIVATE, columns).any()
    # Every column kept is stored in a training row of positive weight;
    # rows of weight 0 train too (were it not for their weight).
    valid = clf.get_split_datasets(X, y)[1]
    train = np.setdiff1d(np.arange(N_ROWS), valid.indices)
    assert (sample_weight[train] == 0).sum() >= 10
    train = train[sample_weight[train] > 0]
    np.testing.assert_array_equal(columns, np.unique(X[train].indices))


class _LastRowsTrain:
    """A validation split: the first ``n_valid`` rows validate."""

    def __init__(self, n_valid):
        self.n_valid = n_valid

    def __call__(self, dataset, y=None, groups=None):
        rows = np.arange(len(dataset))
        return (
            Subset(dataset, rows[self.n_valid :]),
            Subset(dataset, rows[: self.n_valid]),
        )


def test_a_training_part_all_of_weight_zero_keeps_the_columns_of_its_rows(
    weighted_data,
):
    # Every training row weighs 0 (only the validation rows weigh): no row
    # of positive weight gave no column, read as every column (40 of 40; on
    # a hashed matrix, the 2**20 columns the sparse layer exists to avoid).
    # The fit trains nothing and warns; the columns are those of the
    # training rows, as without weights.
    X, y, _, _ = weighted_data
    split = _LastRowsTrain(50)
    sample_weight = (np.arange(N_ROWS) < 50).astype(float)
    clf = RSFTClassifier(
        random_state=0, max_epochs=2, batch_size=64, module__hidden_layer_sizes=(8,)
    )
    with pytest.warns(RSFTWarning, match="every training row weighs 0"):
        clf.set_params(train_split=split).fit(X, y, sample_weight=sample_weight)
    train = X[50:]
    expected = np.unique(train.indices[train.data != 0])
    np.testing.assert_array_equal(expected, np.arange(35))
    np.testing.assert_array_equal(_columns(clf), expected)
    unweighted = _fit(X, y, None, train_split=split)
    np.testing.assert_array_equal(_columns(unweighted), expected)


@pytest.mark.parametrize("dense", [False, True], ids=["sparse", "dense"])
def test_continued_training_does_not_warn_of_columns_of_rows_of_weight_zero(
    weighted_data, dense
):
    X, y, sample_weight, _ = weighted_data
    keep = sample_weight > 0
    clf = _fit(X[keep], y[keep], sample_weight[keep], warm_start=True)
    given = X.toarray() if dense else X
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        clf.fit(given, y, sample_weight=sample_weight)
    # A row of positive weight with such a column is still named.
    sample_weight = sample_weight.copy()
    sample_weight[0] = 1.0
    with pytest.warns(RSFTWarning, match=r"5 columns of X \(for example \[35, 36"):
        clf.fit(given, y, sample_weight=sample_weight)


def test_stored_zeros_are_no_values_for_the_first_layer():
    # HashingVectorizer(alternate_sign=True) stores the zeros of cancelled
    # collisions: a column of them alone got weights that never trained,
    # and predictions differed by 0.136 from the same matrix without them.
    rng = np.random.RandomState(0)
    A = (rng.rand(N_ROWS, N_COLUMNS) < 0.15) * rng.rand(N_ROWS, N_COLUMNS)
    A[:, -1] = 0
    y = (A[:, :5].sum(1) > 0.3).astype(int)
    rows = np.arange(5)
    zeros = sp.csr_matrix(
        (np.ones(5), (rows, np.full(5, N_COLUMNS - 1))), shape=A.shape
    )
    X = (sp.csr_matrix(A) + zeros).tocsr()
    X.data[X.indices == N_COLUMNS - 1] = 0.0
    eliminated = X.copy()
    eliminated.eliminate_zeros()
    assert X.nnz == eliminated.nnz + 5
    params = {"random_state": 0, "max_epochs": 3, "batch_size": 32}
    with_zeros = RSFTClassifier(**params).fit(X, y)
    without = RSFTClassifier(**params).fit(eliminated, y)
    np.testing.assert_array_equal(_columns(with_zeros), np.arange(N_COLUMNS - 1))
    np.testing.assert_allclose(
        with_zeros.predict_proba(A), without.predict_proba(A), atol=1e-7
    )
