"""What TokenIndexer and EmbeddingBagModule say when they get nothing to
learn from, or too large a matrix: the cause, and only the settings that
can change it."""

import warnings

import pytest
import torch

from rsft_sklearn import EmbeddingBagModule, RSFTWarning, TokenIndexer


def _fit_warnings(docs, **params):
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        indexer = TokenIndexer(**params).fit(docs)
    return indexer, [str(w.message) for w in seen if w.category is RSFTWarning]


def test_words_the_default_pattern_does_not_match_warn():
    # Words of one letter: the default pattern (two or more characters)
    # found no token, and every document came out as padding without a word.
    indexer, said = _fit_warnings(["a b c", "d e"])
    assert indexer.vocabulary_ == {}
    assert indexer.transform(["a b c"]).tolist() == [[0]]
    assert said == [
        "TokenIndexer learnt an empty vocabulary: none of the 2 documents holds "
        r"a token: the default token_pattern, r'(?u)\b\w\w+\b', takes words of "
        "two or more letters, digits or underscores, and finds none (in "
        "'a b c', say). For words of one character, pass "
        r"token_pattern=r'(?u)\b\w+\b'."
    ]
    # The advice, followed, gives a vocabulary of the five words.
    fixed, said = _fit_warnings(["a b c", "d e"], token_pattern=r"(?u)\b\w+\b")
    assert said == [] and len(fixed.vocabulary_) == 5


def test_a_pattern_of_ones_own_that_matches_nothing_is_named():
    _, said = _fit_warnings(["one two", "three"], token_pattern=r"\d+")
    assert said == [
        "TokenIndexer learnt an empty vocabulary: none of the 2 documents holds "
        r"a token: token_pattern r'\d+' finds none (in 'one two', say). Pass a "
        "token_pattern that matches the tokens."
    ]


@pytest.mark.parametrize(
    "docs, cause",
    [
        (["", "  "], "the 2 documents hold no token (they are empty)."),
        ([[], []], "the 2 documents hold no token (they are empty)."),
        ([], "it was given no document."),
    ],
)
def test_documents_without_tokens_warn(docs, cause):
    _, said = _fit_warnings(docs)
    assert said == [f"TokenIndexer learnt an empty vocabulary: {cause}"]


@pytest.mark.parametrize("max_length", [None, 1000])
@pytest.mark.parametrize("unknown", ["auto", "ignore"])
def test_max_length_is_named_only_where_it_cut(max_length, unknown):
    # "Lower min_count, or raise max_length" with max_length=None (nothing
    # cut); raised to 1000, the same warning came again.
    _, said = _fit_warnings(
        ["aa bb", "cc dd"], min_count=3, max_length=max_length, unknown=unknown
    )
    assert said == [
        "TokenIndexer learnt an empty vocabulary: no token of the 2 documents "
        "passed min_count=3. Lower min_count."
    ]


@pytest.mark.parametrize("unknown", ["auto", "ignore"])
def test_max_length_is_named_where_it_cut(unknown):
    # "aa" is seen 3 times in all, twice within the first token kept.
    _, said = _fit_warnings(
        ["aa bb", "bb aa", "aa", "bb"], min_count=3, max_length=1, unknown=unknown
    )
    assert said == [
        "TokenIndexer learnt an empty vocabulary: no token of the 4 documents "
        "passed min_count=3 within the first max_length=1 tokens kept. Lower "
        "min_count, or raise max_length."
    ]


def test_too_many_pretrained_rows_name_the_matrix():
    # Blamed on vocab_size ("vocab_size is 16777217, above ..."), which the
    # caller never passed. A broadcast matrix: its 2**24 + 1 rows cost no
    # memory, as the check reads its shape before the copy.
    rows = 2**24 + 1
    matrix = torch.zeros(1, 3).expand(rows, 3)
    with pytest.raises(ValueError) as refused:
        EmbeddingBagModule(n_classes=2, pretrained_embeddings=matrix)
    assert str(refused.value) == (
        f"pretrained_embeddings has {rows} rows (shape ({rows}, 3)), above "
        "16777216 (2**24): the estimator reads token ids as float32, which "
        "holds no larger ids exactly, so distinct tokens would share an "
        "embedding. Keep the rows of fewer tokens (those of "
        "TokenIndexer(max_features=...)'s vocabulary)."
    )
    # Given beside the matrix, vocab_size is checked, and named, first.
    with pytest.raises(ValueError, match=f"^vocab_size is {rows}, above"):
        EmbeddingBagModule(n_classes=2, vocab_size=rows, pretrained_embeddings=matrix)


def test_a_pretrained_matrix_at_the_limit_is_kept():
    # 2**24 rows are the most float32 ids hold exactly: accepted (a small
    # width keeps the copy at 64 MiB).
    module = EmbeddingBagModule(
        n_classes=2, pretrained_embeddings=torch.zeros(1, 1).expand(2**24, 1)
    )
    assert module.embedding.weight.shape == (2**24, 1)
