"""The first layer's columns on sparse input when the training rows of
positive weight hold no value, and only rows of weight 0 do."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from torch.utils.data import Subset

from rsft_sklearn import RSFTClassifier, RSFTWarning

N_ROWS, N_COLUMNS = 40, 2**18
# Rows 0..3 hold one value each, in these hashed columns; every other row is
# an empty document.
STORED = np.array([5, 17, 99, 1234])


def _matrix(rows, columns, n_rows=N_ROWS):
    return sp.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(n_rows, N_COLUMNS)
    )


@pytest.fixture(scope="module")
def data():
    """Rows 0..3 (weight 0) alone hold values; the others weigh 1."""
    X = _matrix(np.arange(4), STORED)
    y = np.arange(N_ROWS) % 2
    sample_weight = np.r_[np.zeros(4), np.ones(N_ROWS - 4)]
    return X, y, sample_weight


def _clf(**params):
    return RSFTClassifier(
        module__hidden_layer_sizes=(8,),
        max_epochs=2,
        batch_size=20,
        random_state=0,
        **params,
    )


def _fit(clf, X, y, sample_weight=None):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return clf.fit(X, y, sample_weight=sample_weight)


def _columns(clf):
    columns = clf.module_.input_columns
    return None if columns is None else columns.numpy()


def _n_parameters(clf):
    return sum(p.numel() for p in clf.module_.parameters())


def test_positive_rows_without_values_keep_the_columns_of_the_training_rows(data):
    # The rows of positive weight stored no column, read as every column: a
    # first layer over the 2**18 hashed columns (2,097,178 parameters, none
    # of the first layer's ever trained, all read by prediction), where the
    # fit without weights has 4 columns and 58 parameters.
    X, y, sample_weight = data
    weighted = _fit(_clf(), X, y, sample_weight)
    np.testing.assert_array_equal(_columns(weighted), STORED)
    assert _n_parameters(weighted) == 4 * 8 + 8 + 8 * 2 + 2 == 58
    unweighted = _fit(_clf(), X, y)
    np.testing.assert_array_equal(_columns(unweighted), STORED)
    # The same fit as with those columns given.
    given = _fit(_clf(module__input_columns=STORED), X, y, sample_weight)
    np.testing.assert_array_equal(
        weighted.predict_proba(X).tobytes(), given.predict_proba(X).tobytes()
    )


class _FirstRowsTrain:
    """A validation split: the first ``n_train`` rows train."""

    def __init__(self, n_train):
        self.n_train = n_train

    def __call__(self, dataset, y=None, groups=None):
        rows = np.arange(len(dataset))
        return (
            Subset(dataset, rows[: self.n_train]),
            Subset(dataset, rows[self.n_train :]),
        )


def test_with_a_validation_split_the_training_rows_choose(data):
    # Training rows 0..29: those of positive weight are empty, rows 0..3
    # (weight 0) hold STORED; validation rows 30..33 hold other columns,
    # which get no weight, as without weights.
    _, y, sample_weight = data
    X = _matrix(np.r_[np.arange(4), np.arange(30, 34)], np.r_[STORED, [7, 8, 9, 10]])
    split = _FirstRowsTrain(30)
    weighted = _fit(_clf(train_split=split), X, y, sample_weight)
    np.testing.assert_array_equal(_columns(weighted), STORED)
    unweighted = _fit(_clf(train_split=split), X, y)
    np.testing.assert_array_equal(_columns(unweighted), STORED)
    # Validation rows alone with values: no training row holds one, and the
    # layer keeps every column, with weights as without them.
    X = _matrix(np.arange(30, 34), STORED)
    weighted = _fit(_clf(train_split=split), X, y, sample_weight)
    unweighted = _fit(_clf(train_split=split), X, y)
    assert _columns(weighted) is None and _columns(unweighted) is None


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_continued_training_keeps_the_first_fits_columns(data, method):
    # The first fit's layer covered every column, so continued training on
    # a row of positive weight with a value in a column without weights
    # never warned, and trained the weights of all 2**18 columns.
    X, y, sample_weight = data
    clf = _fit(_clf(warm_start=True), X, y, sample_weight)
    np.testing.assert_array_equal(_columns(clf), STORED)
    # Column 7 held by a row of weight 0 only: no warning.
    later = _matrix(np.r_[np.arange(4), 4], np.r_[STORED, 7])
    weights = sample_weight.copy()
    weights[4] = 0
    with warnings.catch_warnings():
        warnings.simplefilter("error", RSFTWarning)
        getattr(clf, method)(later, y, sample_weight=weights)
    # The same row at weight 1 is named.
    with pytest.warns(RSFTWarning, match=r"1 columns of X \(for example \[7\]\)"):
        getattr(clf, method)(later, y, sample_weight=sample_weight)
    np.testing.assert_array_equal(_columns(clf), STORED)
    assert _n_parameters(clf) == 58
