"""The checks on an InMemoryDataset's inputs and on the values of a dict X."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import sklearn
import torch

from rsft_sklearn import InMemoryDataset, RSFTClassifier, SparseRows
from rsft_sklearn._multimodal import wrap_dataset
from rsft_sklearn._validation import advised_input_error, check_X_dict


class Three(torch.nn.Module):
    """A dense branch, a TF-IDF branch and an embedding of token ids."""

    def __init__(self, n_dense=5, n_tfidf=30, vocab=50, n_classes=3):
        super().__init__()
        self.dense = torch.nn.Linear(n_dense, 8)
        self.tfidf = torch.nn.Linear(n_tfidf, 8)
        self.tokens = torch.nn.EmbeddingBag(vocab, 8, padding_idx=0)
        self.head = torch.nn.Linear(24, n_classes)

    def forward(self, dense, tfidf, tokens):
        parts = [self.dense(dense), self.tfidf(tfidf), self.tokens(tokens.long())]
        return self.head(torch.relu(torch.cat(parts, dim=1)))


def _blocks(n=240, seed=0):
    rng = np.random.default_rng(seed)
    dense = rng.normal(size=(n, 5)).astype(np.float32)
    tfidf = sp.random(
        n, 30, density=0.1, format="csr", random_state=seed, dtype=np.float32
    )
    tokens = rng.integers(0, 50, size=(n, 7))
    score = (dense[:, 0] > 0.8) + 2 * (np.asarray(tfidf.sum(1)).ravel() > 2)
    y = np.array(["a", "b", "c"])[np.minimum(score, 2)]
    return dense, tfidf, tokens, y


def _in_memory(dense, tfidf, tokens, **extra):
    return InMemoryDataset(
        {
            "dense": torch.as_tensor(dense),
            "tfidf": SparseRows(tfidf),
            "tokens": torch.as_tensor(tokens),
            **extra,
        }
    )


def _net(**params):
    return RSFTClassifier(
        Three, max_epochs=2, batch_size=32, random_state=0, verbose=0, **params
    )


@pytest.fixture(scope="module")
def blocks():
    return _blocks()


@pytest.fixture(scope="module")
def dict_fit(blocks):
    dense, tfidf, tokens, y = blocks
    X = {"dense": dense, "tfidf": tfidf.toarray(), "tokens": tokens}
    return _net().fit(X, y)


def _error(call, *args):
    """The error that ``call(*args)`` raises."""
    with pytest.raises((ValueError, TypeError)) as info:
        call(*args)
    return info.value


# An InMemoryDataset of a dict of blocks, checked whole at predict and fit.


def test_in_memory_dict_predicts_as_the_dict_of_arrays(dict_fit, blocks):
    dense, tfidf, tokens, _ = blocks
    expected = dict_fit.predict_proba(
        {"dense": dense, "tfidf": tfidf.toarray(), "tokens": tokens}
    )
    np.testing.assert_array_equal(
        dict_fit.predict_proba(_in_memory(dense, tfidf, tokens)), expected
    )


def test_in_memory_dict_rows_of_another_shape_are_named(dict_fit, blocks):
    # A TF-IDF block 32 wide where fit saw 30 failed inside torch ("mat1 and
    # mat2 shapes cannot be multiplied (128x32 and 30x8)").
    dense, tfidf, tokens, _ = blocks
    wide = sp.hstack([tfidf, sp.csr_matrix((len(dense), 2))]).tocsr()
    dict_message = str(
        _error(
            lambda: dict_fit.predict(
                {"dense": dense, "tfidf": wide.toarray(), "tokens": tokens}
            )
        )
    )
    assert dict_message == (
        "X['tfidf'] has rows of shape (32,), but fit saw rows of shape (30,)."
    )
    assert str(_error(lambda: dict_fit.predict(_in_memory(dense, wide, tokens)))) == (
        dict_message
    )
    # And a dense block, and a block of token ids.
    narrow = _error(lambda: dict_fit.predict(_in_memory(dense[:, :4], tfidf, tokens)))
    assert "X['dense'] has rows of shape (4,), but fit saw rows of shape (5,)" in str(
        narrow
    )
    longer = np.hstack([tokens, tokens[:, :1]])
    assert "X['tokens'] has rows of shape (8,)" in str(
        _error(lambda: dict_fit.predict(_in_memory(dense, tfidf, longer)))
    )


def test_in_memory_dict_keys_are_checked(dict_fit, blocks):
    # An extra key failed in the module's forward ("unexpected keyword
    # argument 'extra'").
    dense, tfidf, tokens, _ = blocks
    extra = _error(
        lambda: dict_fit.predict(
            _in_memory(dense, tfidf, tokens, extra=torch.as_tensor(dense))
        )
    )
    assert str(extra) == (
        "X has the input(s) ['extra'], which fit did not see (it saw "
        "['dense', 'tfidf', 'tokens'])."
    )
    missing = InMemoryDataset(
        {"dense": torch.as_tensor(dense), "tfidf": SparseRows(tfidf)}
    )
    assert str(_error(lambda: dict_fit.predict(missing))) == (
        "X is missing the input(s) ['tokens'] seen during fit."
    )
    single = InMemoryDataset(torch.as_tensor(dense))
    assert "holds a single input, but the estimator was fitted on the named" in str(
        _error(lambda: dict_fit.predict(single))
    )


def test_nan_in_a_sparse_block_is_named_in_fit_and_predict(dict_fit, blocks):
    # One NaN in row 12 of the TF-IDF block: fit failed as if the loss had
    # overflowed ("lower the learning rate"), and predict blamed the
    # network's output ("refit").
    dense, tfidf, tokens, y = blocks
    bad = tfidf.copy()
    bad.data[bad.indptr[12]] = np.nan
    dict_message = str(
        _error(
            lambda: _net().fit(
                {"dense": dense, "tfidf": bad.toarray(), "tokens": tokens}, y
            )
        )
    )
    assert dict_message == "Input X['tfidf'] contains NaN."
    assert str(_error(lambda: _net().fit(_in_memory(dense, bad, tokens), y))) == (
        dict_message
    )
    assert str(_error(lambda: dict_fit.predict(_in_memory(dense, bad, tokens)))) == (
        dict_message
    )
    # Infinity in a dense block, past its first row.
    infinite = dense.copy()
    infinite[200, 3] = np.inf
    assert "Input X['dense'] contains infinity" in str(
        _error(lambda: _net().fit(_in_memory(infinite, tfidf, tokens), y))
    )
    assert "Input X['dense'] contains infinity" in str(
        _error(lambda: dict_fit.predict(_in_memory(infinite, tfidf, tokens)))
    )


def test_in_memory_check_reads_no_row_and_densifies_nothing(
    monkeypatch, blocks, dict_fit
):
    # All at once: neither a row of the dataset nor a densified block.
    dense, tfidf, tokens, _ = blocks
    bad = tfidf.copy()
    bad.data[-1] = np.inf
    dataset = _in_memory(dense, bad, tokens)

    def forbidden(*args, **kwargs):
        raise AssertionError("read row by row, or densified")

    monkeypatch.setattr(InMemoryDataset, "__getitem__", forbidden)
    monkeypatch.setattr(SparseRows, "__getitem__", forbidden)
    monkeypatch.setattr(SparseRows, "take", forbidden)
    monkeypatch.setattr(sp.csr_matrix, "toarray", forbidden)
    with pytest.raises(ValueError, match=r"Input X\['tfidf'\] contains infinity"):
        wrap_dataset(
            dataset,
            input_keys=dict_fit.input_keys_,
            row_shape=dict_fit.input_shapes_,
        )
    good = _in_memory(dense, tfidf, tokens)
    assert wrap_dataset(good, input_keys=dict_fit.input_keys_) is good
    # Under sklearn's assume_finite, skipped as on an array.
    with sklearn.config_context(assume_finite=True):
        assert wrap_dataset(dataset, input_keys=dict_fit.input_keys_) is dataset


# An InMemoryDataset of a single input.


@pytest.fixture(scope="module")
def features():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(100, 30)).astype(np.float32)
    return X, (X[:, 0] > 0).astype(int)


def test_single_input_rows_of_another_shape_are_named(features):
    # Failed inside torch: "mat1 and mat2 shapes cannot be multiplied".
    X, y = features
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    wide = np.hstack([X, X[:, :2]])
    message = "X has rows of shape (32,), but fit saw rows of shape (30,)."
    for dataset in (
        InMemoryDataset(torch.as_tensor(wide)),
        InMemoryDataset(SparseRows(sp.csr_matrix(wide))),
    ):
        assert str(_error(clf.predict, dataset)) == message
    np.testing.assert_array_equal(
        clf.predict_proba(InMemoryDataset(torch.as_tensor(X))), clf.predict_proba(X)
    )
    assert "holds a dict of inputs, but the estimator was fitted on a single" in (
        str(_error(lambda: clf.predict(InMemoryDataset({"X": torch.as_tensor(X)}))))
    )


def test_single_input_nan_is_named(features):
    X, y = features
    bad = X.copy()
    bad[57, 4] = np.nan
    fit = RSFTClassifier(max_epochs=1, random_state=0, module__n_features=30)
    assert str(_error(lambda: fit.fit(InMemoryDataset(torch.as_tensor(bad)), y))) == (
        "Input X contains NaN."
    )
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    for dataset in (
        InMemoryDataset(torch.as_tensor(bad)),
        InMemoryDataset(SparseRows(sp.csr_matrix(bad))),
    ):
        assert str(_error(clf.predict, dataset)) == "Input X contains NaN."


# The values of a dict X: refused with the advice that X itself gets.


@pytest.fixture(scope="module")
def ragged(blocks):
    _, _, tokens, _ = blocks
    return [list(row[: 3 + i % 3]) for i, row in enumerate(tokens)]


@pytest.mark.parametrize(
    ("kind", "named"),
    [
        ("text", r"X\['tokens'\] holds text \(could not convert .*TokenIndexer"),
        ("ragged", r"X\['tokens'\] holds rows of different lengths .*pad_token_ids"),
        ("series", r"X\['tokens'\] holds sequences in its cells .*pad_token_ids"),
        ("none", r"X\['tokens'\] is None; every input of a dict X is an array"),
        ("scalar", r"X\['tokens'\] is a single value \(5\), not an array"),
        ("0-d", r"X\['tokens'\] is a single value \(tensor\(5\)\), not an array"),
    ],
)
def test_bad_dict_values_are_named_with_advice(blocks, ragged, kind, named):
    # Were NumPy's bare words ("could not convert string to float",
    # "inhomogeneous shape"), None "contains NaN", a scalar a message without
    # the key.
    dense, tfidf, tokens, y = blocks
    value = {
        "text": np.array([" ".join(f"w{t}" for t in row) for row in tokens]),
        "ragged": ragged,
        "series": pd.Series(ragged),
        "none": None,
        "scalar": 5,
        "0-d": torch.tensor(5),
    }[kind]
    X = {"dense": dense, "tfidf": tfidf.toarray(), "tokens": value}
    with pytest.raises(ValueError, match=named):
        check_X_dict(X)
    with pytest.raises(ValueError, match=named):
        _net().fit(X, y)


_ADVICE_FOR_X = {
    "text": (
        "X holds text ({}). RSFTClassifier takes numbers: put a vectorizer "
        "before it in a pipeline, such as sklearn's TfidfVectorizer (sparse "
        "TF-IDF, for the default MLP) or rsft_sklearn.TokenIndexer (token ids, "
        "for EmbeddingBagModule); encode text columns of a DataFrame with a "
        "ColumnTransformer."
    ),
    "ragged": (
        "X holds rows of different lengths ({}). Lists of token ids of varying "
        "length become one padded array with rsft_sklearn.pad_token_ids (or "
        "TokenIndexer, from text)."
    ),
    "series": (
        "X holds sequences in its cells ({}). Lists of token ids (an object "
        "array or a pandas Series of lists) become one padded array with "
        "rsft_sklearn.pad_token_ids (or TokenIndexer, from text)."
    ),
}


@pytest.mark.parametrize("kind", ["text", "ragged", "series"])
def test_advice_for_x_itself_names_the_estimator(blocks, ragged, kind):
    # X itself gets the advice of a value of a dict, worded for the
    # estimator (a vectorizer before it in a pipeline), NumPy's words kept
    # in parentheses and as the cause; other errors of reading X stand.
    _, _, tokens, y = blocks
    X = {
        "text": np.array([" ".join(f"w{t}" for t in row) for row in tokens])[:, None],
        "ragged": ragged,
        "series": pd.Series(ragged),
    }[kind]
    for call in (_net().fit, _net().partial_fit):
        error = _error(call, X, y)
        assert type(error) is ValueError
        assert isinstance(error.__cause__, ValueError)
        assert str(error) == _ADVICE_FOR_X[kind].format(error.__cause__)
    assert advised_input_error(ValueError("another error"), X) is None


# A sparse block inside a dict: refused in a dict of arrays, with the route
# that keeps it sparse.


def test_sparse_dict_value_names_the_in_memory_route(blocks):
    dense, tfidf, tokens, y = blocks
    X = {"dense": dense, "tfidf": tfidf, "tokens": tokens}
    with pytest.raises(
        TypeError,
        match=r"X\['tfidf'\] is a sparse csr_matrix: .* InMemoryDataset .*"
        r"\{'tfidf': SparseRows\(matrix\), \.\.\.\}.* as X itself",
    ):
        check_X_dict(X)


@pytest.mark.parametrize("rejection", ["sample", "pool"])
def test_sparse_block_in_memory_fits_as_the_dense_dict(blocks, rejection):
    dense, tfidf, tokens, y = blocks
    dense_dict = _net(rejection=rejection).fit(
        {"dense": dense, "tfidf": tfidf.toarray(), "tokens": tokens}, y
    )
    in_memory = _in_memory(dense, tfidf, tokens)
    sparse = _net(rejection=rejection).fit(in_memory, y)
    np.testing.assert_array_equal(
        sparse.predict_proba(in_memory),
        dense_dict.predict_proba(
            {"dense": dense, "tfidf": tfidf.toarray(), "tokens": tokens}
        ),
    )
