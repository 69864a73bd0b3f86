"""Token input that TokenIndexer and pad_token_ids must read right or refuse."""

from collections import Counter
from fractions import Fraction

import numpy as np
import pandas as pd
import pytest

from rsft_sklearn import EmbeddingBagModule, RSFTClassifier, TokenIndexer, pad_token_ids


@pytest.mark.parametrize(
    "docs",
    [
        [[["the", "cat"], ["a", "dog"]], [["the", "dog"]]],
        [["the", ("a", ["dog"])]],
        [["the", np.array(["a", "dog"])]],
        [["the", {"a": 1}]],
    ],
)
def test_a_document_of_sentences_is_refused(docs):
    # Each sentence became one token, its str(): a vocabulary of
    # "['a', 'dog']", "['the', 'cat']", ... without a word.
    position = 0 if isinstance(docs[0][0], list) else 1
    match = (
        f"Document 0 holds a value of type {type(docs[0][position]).__name__} at "
        f"position {position}: a token must be a string or a scalar.*nested too "
        "deeply"
    )
    with pytest.raises(TypeError, match=match):
        TokenIndexer().fit(docs)
    with pytest.raises(TypeError, match=match):
        TokenIndexer().fit([["the", "cat"]]).transform(docs)


def test_n_gram_tuples_are_tokens():
    # nltk.bigrams gives tuples of words: each is one token, in fit and in
    # transform alike.
    docs = [[("new", "york"), ("york", "city")], [("new", "york")]]
    indexer = TokenIndexer()
    assert indexer.fit_transform(docs).tolist() == [[2, 3], [2, 0]]
    assert indexer.transform([[("new", "york")]]).tolist() == [[2, 0]]
    # Words as NumPy strings or numbers name the same token.
    assert indexer.transform([[(np.str_("new"), np.str_("york"))]]).tolist() == [[2, 0]]
    numbers = TokenIndexer().fit([[(1, 2)]])
    assert numbers.transform([[(np.int64(1), 2)]]).tolist() == [[2]]
    floats = TokenIndexer().fit([[(0.1, "a")]])
    assert floats.transform([[(np.float32(0.1), "a")]]).tolist() == [[2]]
    # nltk pads n-grams with None; a padded table gives NaN.
    nan = TokenIndexer().fit([[("new", float("nan"))]])
    assert set(nan.vocabulary_) == {"('new', nan)"}
    padded = TokenIndexer().fit([[(None, "new"), ("new", "york"), ("york", None)]])
    assert set(padded.vocabulary_) == {
        "(None, 'new')",
        "('new', 'york')",
        "('york', None)",
    }


def test_bytes_tokens_are_refused():
    # str(b"dog") is the token "b'dog'".
    for token in (b"dog", np.bytes_(b"dog")):
        with pytest.raises(TypeError, match="Document 1 holds bytes at position 0"):
            TokenIndexer().fit([["the"], [token]])


def test_scalar_tokens_are_read_as_strings():
    tokens = ["cat", np.str_("dog"), 3, 2.5, np.int64(7), np.float32(0.5), True]
    indexer = TokenIndexer().fit([tokens])
    assert set(indexer.vocabulary_) == {"cat", "dog", "3", "2.5", "7", "0.5", "True"}
    assert all(type(token) is str for token in indexer.vocabulary_)
    # A 0-d array is one value, and a token object converts with str().
    word = type("Word", (), {"__str__": lambda self: "bird"})()
    assert set(TokenIndexer().fit([[np.array("cow"), word]]).vocabulary_) == {
        "cow",
        "bird",
    }


def test_pandas_na_in_a_token_table_is_padding():
    # pd.NA compared with "" gave pd.NA, whose truth value raised.
    table = np.array([["good", pd.NA], ["bad", "movie"]], dtype=object)
    indexer = TokenIndexer().fit(table)
    assert set(indexer.vocabulary_) == {"good", "bad", "movie"}
    assert indexer.transform(table)[0, 1] == 0


def test_ignore_fills_max_features_with_tokens_within_the_cut():
    # "bb" never reaches the first token: it took one of the two slots, and
    # "cc" (the whole of the third document) was left out, emptying it.
    docs = ["aa bb", "aa bb", "cc"]
    ignoring = TokenIndexer(max_features=2, max_length=1, unknown="ignore").fit(docs)
    assert ignoring.vocabulary_ == {"aa": 2, "cc": 3}
    assert ignoring.transform(docs).tolist() == [[2], [2], [3]]
    auto = TokenIndexer(max_features=2, max_length=1).fit(docs)
    assert auto.unknown_ == "ignore"
    assert auto.vocabulary_ == ignoring.vocabulary_


def test_ignore_counts_the_tokens_that_transform_keeps():
    # "xx" is in every document, but transform keeps only the first known
    # token: it is reached in the third document only, once, while "aa" is
    # kept twice.
    docs = ["aa xx", "aa xx", "bb xx"]
    ignoring = TokenIndexer(max_features=2, max_length=1, unknown="ignore").fit(docs)
    assert ignoring.vocabulary_ == {"aa": 2, "bb": 3}
    assert (
        ignoring.vocabulary_
        == TokenIndexer(max_features=2, max_length=1).fit(docs).vocabulary_
    )
    # min_count counts them too: "xx" is seen three times in all, but with
    # "aa" known it is kept once only, in the third document.
    rare = TokenIndexer(min_count=2, max_length=1, unknown="ignore").fit(docs)
    kept = Counter(rare.transform(docs).ravel().tolist())
    assert all(kept[i] >= 2 for i in rare.vocabulary_.values())


@pytest.mark.parametrize("seed", range(20))
def test_under_ignore_the_vocabulary_is_counted_on_what_transform_keeps(seed):
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(12)]
    weights = 1 / np.arange(1, 13)
    docs = [
        list(rng.choice(words, size=rng.integers(0, 8), p=weights / weights.sum()))
        for _ in range(30)
    ]
    max_features, length = int(rng.integers(1, 8)), int(rng.integers(1, 4))
    min_count = int(rng.integers(1, 4))
    params = dict(max_features=max_features, max_length=length, min_count=min_count)
    indexer = TokenIndexer(unknown="ignore", **params).fit(docs)
    ids = indexer.transform(docs)
    kept = Counter(int(i) for i in ids.ravel() if i)
    # Every token of the vocabulary reaches training, min_count times at
    # least, and is counted on the ids that transform gives.
    assert set(kept) == set(indexer.vocabulary_.values())
    assert all(count >= min_count for count in kept.values())
    order = sorted(indexer.vocabulary_, key=indexer.vocabulary_.get)
    counts = [kept[indexer.vocabulary_[token]] for token in order]
    assert counts == sorted(counts, reverse=True)
    assert len(order) <= max_features
    # "auto" gives the same vocabulary wherever it resolves to "ignore".
    auto = TokenIndexer(**params).fit(docs)
    if auto.unknown_ == "ignore":
        assert auto.vocabulary_ == indexer.vocabulary_


def test_pad_token_ids_refuses_a_mapping_row():
    # Its keys were taken as the ids: [[3, 7]], the weights dropped.
    with pytest.raises(TypeError, match="Row 1 is a dict .*keys would be read"):
        pad_token_ids([[2], {3: 0.9, 7: 0.1}])


@pytest.mark.parametrize(
    "sequences, error, match",
    [
        ([[2**64]], ValueError, "Row 0 holds the token id 18446744073709551616, too "),
        ([[3, 2**70]], ValueError, "token id 1180591620717411303424, too large for"),
        ([[2.0, 2**64]], ValueError, "too large for int64"),
        ([[3], [-(2**64)]], ValueError, "Row 1 holds a negative token id -1844"),
        (
            [[3, None]],
            ValueError,
            r"Row 0 holds a missing value \(None\) at position 1",
        ),
        ([[3, pd.NA]], ValueError, r"missing value \(<NA>\) at position 1"),
        ([[3, object()]], TypeError, r"at position 1; token ids are integers"),
        ([[Fraction(1, 2), 3]], ValueError, "token id 0.5, which is not an integer"),
    ],
)
def test_pad_token_ids_names_what_left_a_row_of_objects(sequences, error, match):
    # Each read "Row 0 holds object values; token ids are integers".
    with pytest.raises(error, match=match):
        pad_token_ids(sequences)


def test_pad_token_ids_takes_python_integers_of_any_type():
    assert pad_token_ids([[Fraction(4, 1), 2**40]]).tolist() == [[4, 2**40]]


def test_documents_to_predict_are_padded_to_the_training_width():
    rng = np.random.default_rng(0)
    train = [list(rng.integers(1, 10, rng.integers(0, 8))) for _ in range(40)]
    X = pad_token_ids(train)
    clf = RSFTClassifier(
        module=EmbeddingBagModule,
        module__vocab_size=10,
        module__embedding_dim=4,
        max_epochs=1,
        random_state=0,
        verbose=0,
    ).fit(X, np.arange(40) % 2)
    test = [[3, 4, 5]]
    with pytest.raises(ValueError, match="has 3 features"):
        clf.predict(pad_token_ids(test))
    assert clf.n_features_in_ == X.shape[1]
    assert clf.predict(pad_token_ids(test, length=clf.n_features_in_)).shape == (1,)


@pytest.mark.parametrize("unknown", ["ignore", "index"])
def test_an_empty_vocabulary_warns(unknown):
    # Every document came out as padding without a word.
    docs = ["aa bb", "bb aa", "aa", "bb"]
    with pytest.warns(
        UserWarning, match="learnt an empty vocabulary.*min_count=5"
    ) as seen:
        indexer = TokenIndexer(unknown=unknown, max_length=1, min_count=5).fit(docs)
    assert indexer.vocabulary_ == {}
    assert seen[0].filename == __file__
