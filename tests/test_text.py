"""Token sequences: TokenIndexer, pad_token_ids and EmbeddingBagModule."""

import pickle
import warnings

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.pipeline import make_pipeline

from rsft_sklearn import EmbeddingBagModule, RSFTClassifier, TokenIndexer, pad_token_ids

DOCS = [
    "cheap pills buy now",
    "buy cheap watches now",
    "meeting at noon tomorrow",
    "project meeting notes",
    "lunch tomorrow at noon",
    "win a prize now",
    "",
] * 20
LABELS = ["spam", "spam", "ham", "ham", "ham", "spam", "ham"] * 20


def _clf(**params):
    return RSFTClassifier(
        **{
            "module": EmbeddingBagModule,
            "module__embedding_dim": 8,
            "module__hidden_layer_sizes": (8,),
            "max_epochs": 20,
            "warmup_epochs": 2,
            "batch_size": 16,
            "lr": 0.1,
            "random_state": 0,
            "verbose": 0,
            **params,
        }
    )


def test_pad_token_ids_pads_and_cuts():
    assert pad_token_ids([[3, 4, 5], [], [7]]).tolist() == [
        [3, 4, 5],
        [0, 0, 0],
        [7, 0, 0],
    ]
    assert pad_token_ids([[3, 4, 5], [6]], length=2).tolist() == [[3, 4], [6, 0]]
    with pytest.raises(ValueError, match="Row 1"):
        pad_token_ids([[3], [-2]])


def test_token_indexer_vocabulary_and_length():
    indexer = TokenIndexer(max_features=2).fit(["bb aa bb", "cc bb aa", "cc"])
    # bb (3 times), then aa and cc (twice each) in alphabetical order; cut at 2.
    assert indexer.vocabulary_ == {"bb": 2, "aa": 3}
    assert indexer.vocab_size_ == 4
    assert indexer.length_ == 3
    assert indexer.transform(["aa cc bb dd", ""]).tolist() == [[3, 1, 2], [0, 0, 0]]


def test_token_indexer_takes_tokenized_documents():
    indexer = TokenIndexer(lowercase=False).fit([["The", "cat"], ["the"]])
    # Case is kept; ties in frequency are ordered as strings ("The" < "cat").
    assert indexer.vocabulary_ == {"The": 2, "cat": 3, "the": 4}
    assert indexer.transform([["The", "the", "dog"]]).tolist() == [[2, 4]]
    with pytest.raises(ValueError, match="one string"):
        indexer.transform("the cat")


@pytest.mark.parametrize(
    "docs, match",
    [
        ([1, 2, 3], "Document 0 is a int"),
        (["a b", None], "Document 1 is a NoneType"),
        (["a b", b"raw bytes"], "Document 1 is a bytes"),
        (["a b", {"a": 1}], "Document 1 is a dict"),
    ],
)
def test_token_indexer_names_a_document_that_is_not_text(docs, match):
    with pytest.raises(TypeError, match=match):
        TokenIndexer().fit(docs)
    with pytest.raises(TypeError, match=match):
        TokenIndexer().fit(["a b"]).transform(docs)


def test_token_pipeline_learns_and_predicts():
    indexer = TokenIndexer().fit(DOCS)
    pipe = make_pipeline(
        TokenIndexer(), _clf(module__vocab_size=indexer.vocab_size_)
    ).fit(DOCS, LABELS)
    assert pipe.score(DOCS, LABELS) == 1.0
    assert pipe.predict(["buy pills now", "meeting notes", ""]).tolist() == [
        "spam",
        "ham",
        "ham",
    ]
    proba = pipe.predict_proba([""])
    assert np.all(np.isfinite(proba))


def test_token_id_beyond_the_vocabulary_names_the_row():
    indexer = TokenIndexer().fit(DOCS)
    X = indexer.transform(DOCS)
    clf = _clf(module__vocab_size=indexer.vocab_size_, max_epochs=1)
    bad = X.copy()
    bad[5, 0] = indexer.vocab_size_
    with pytest.raises(ValueError, match=r"Row 5 of X holds the token id 1\d"):
        clf.fit(bad, LABELS)
    clf.fit(X, LABELS)
    with pytest.raises(ValueError, match="Row 5 of X"):
        clf.predict(bad)
    fractional = X.astype(float)
    fractional[2, 0] = 2.5
    with pytest.raises(ValueError, match="Row 2 of X holds the token id 2.5"):
        clf.predict(fractional)
    # The ids as a sparse matrix (padding not stored): the stored ids are
    # checked too, not left to embedding_bag.
    with pytest.raises(ValueError, match=r"Row 5 of X holds the token id 1\d"):
        clf.predict(sp.csr_matrix(bad))
    with pytest.raises(ValueError, match="Row 2 of X holds the token id 2.5"):
        clf.predict(sp.csc_matrix(fractional))
    np.testing.assert_array_equal(clf.predict(sp.csr_matrix(X)), clf.predict(X))


def test_vocabulary_beyond_float32_integers_is_refused():
    # The estimator reads ids as float32: 2**24 + 1 would become 2**24, and
    # two tokens would share an embedding without a word.
    with pytest.raises(ValueError, match=r"vocab_size is 16777220, above 16777216"):
        EmbeddingBagModule(vocab_size=2**24 + 4, n_classes=2, embedding_dim=1)
    X = TokenIndexer().fit_transform(DOCS)
    with pytest.raises(ValueError, match="above 16777216"):
        _clf(module__vocab_size=2**24 + 4, max_epochs=1).fit(X, LABELS)
    # The largest table the ids can index is allowed.
    module = EmbeddingBagModule(vocab_size=2**24, n_classes=2, embedding_dim=1)
    assert module.embedding.num_embeddings == 2**24


@pytest.mark.parametrize(
    "vocab_size, error",
    [("10", TypeError), (-3, ValueError), (True, TypeError), (2.5, ValueError)],
)
def test_bad_vocab_size_is_named_before_the_ids_are_checked(vocab_size, error):
    X = TokenIndexer().fit_transform(DOCS)
    with pytest.raises(error, match=r"vocab_size must be a whole number >= 1"):
        _clf(module__vocab_size=vocab_size, max_epochs=1).fit(X, LABELS)


class _SmallBag(EmbeddingBagModule):
    """A subclass that sizes its table by a default of its own."""

    def __init__(self, n_classes=None, vocab_size=5):
        super().__init__(vocab_size=vocab_size, n_classes=n_classes, embedding_dim=4)


def test_a_subclass_default_vocabulary_is_checked():
    X = np.array([[2, 3, 0], [4, 0, 0]] * 10)
    clf = RSFTClassifier(module=_SmallBag, max_epochs=1, random_state=0)
    clf.fit(X, [0, 1] * 10)
    with pytest.raises(ValueError, match="Row 0 of X holds the token id 7"):
        clf.predict(np.array([[7, 0, 0]]))


def test_token_ids_must_be_two_dimensional():
    X = TokenIndexer().fit_transform(DOCS)
    with pytest.raises(ValueError, match=r"2-d array of shape \(n_samples, length\)"):
        _clf(module__vocab_size=30, max_epochs=1).fit(X[:, :, None], LABELS)


@pytest.mark.parametrize(
    "sequences, error, match",
    [
        ([[2.7, 3.0]], ValueError, "Row 0 holds the token id 2.7"),
        ([[2, 3], [float("nan")]], ValueError, "Row 1 holds the token id nan"),
        (["23"], TypeError, "Row 0 is a string"),
        ("23", TypeError, "got a string"),
        ([["a", "b"]], TypeError, "token ids are integers"),
        ([[True, False]], TypeError, "token ids are integers"),
    ],
)
def test_pad_token_ids_refuses_what_is_not_integer_ids(sequences, error, match):
    with pytest.raises(error, match=match):
        pad_token_ids(sequences)


def test_pad_token_ids_takes_whole_floats_and_checks_length():
    assert pad_token_ids([[2.0, 3.0], np.array([4], dtype=np.int32)]).tolist() == [
        [2, 3],
        [4, 0],
    ]
    for length, error in [(-1, ValueError), (0, ValueError), ("3", TypeError)]:
        with pytest.raises(error, match="length must be a whole number >= 1"):
            pad_token_ids([[2, 3]], length=length)
    # float16 ids: the bound 2**63 overflowed float16 in the comparison.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = pad_token_ids([np.array([3, 7], dtype=np.float16)])
    assert ids.tolist() == [[3, 7]]


def test_frozen_pretrained_embeddings_stay_and_others_train():
    indexer = TokenIndexer().fit(DOCS)
    X = indexer.transform(DOCS)
    vectors = np.random.RandomState(0).normal(size=(indexer.vocab_size_, 8))
    frozen = _clf(
        module__pretrained_embeddings=vectors, module__freeze=True, max_epochs=3
    ).fit(X, LABELS)
    np.testing.assert_allclose(
        frozen.module_.embedding.weight.detach().numpy(), vectors, rtol=1e-6
    )
    tuned = _clf(module__pretrained_embeddings=vectors, max_epochs=3).fit(X, LABELS)
    changed = ~np.isclose(tuned.module_.embedding.weight.detach().numpy(), vectors)
    assert changed[2:].any()


def test_embedding_bag_skips_padding_in_the_mean():
    module = EmbeddingBagModule(vocab_size=5, n_classes=2, embedding_dim=3)
    ids = torch.tensor([[2.0, 3.0, 0.0, 0.0], [2.0, 3.0, 0.0, 0.0]])
    mean = module.embedding(ids.long())
    expected = module.embedding.weight[[2, 3]].mean(dim=0)
    torch.testing.assert_close(mean[0], expected)
    assert torch.all(module.embedding(torch.zeros(1, 4, dtype=torch.long)) == 0)
    with pytest.raises(ValueError, match="vocab_size"):
        EmbeddingBagModule(n_classes=2)


def test_pickled_token_pipeline_predicts_the_same():
    indexer = TokenIndexer().fit(DOCS)
    pipe = make_pipeline(
        TokenIndexer(), _clf(module__vocab_size=indexer.vocab_size_, max_epochs=3)
    ).fit(DOCS, LABELS)
    again = pickle.loads(pickle.dumps(pipe))
    np.testing.assert_array_equal(again.predict_proba(DOCS), pipe.predict_proba(DOCS))


def test_text_suite_loads_the_long_tailed_jokes():
    from rsft_sklearn.benchmark._suites import load_suite, suite_names

    assert suite_names("text") == ["jokes-tfidf", "jokes-tokens"]
    tfidf, tokens = load_suite("text")
    assert tfidf.group == tokens.group == "text"
    assert len(tfidf.y) == 1000 and tfidf.n_classes == 13
    assert tfidf.imbalance_ratio == pytest.approx(283 / 5)
    np.testing.assert_array_equal(tfidf.X, tokens.X)
    assert isinstance(tfidf.X[0], str)


@pytest.mark.parametrize("name", ["jokes-tfidf", "jokes-tokens"])
def test_for_text_gives_every_network_the_reader(name):
    from rsft_sklearn.benchmark._methods import make_method
    from rsft_sklearn.benchmark._suites import load_suite
    from rsft_sklearn.benchmark._text import for_text

    dataset = next(d for d in load_suite("text") if d.name == name)
    other = load_suite("builtin", quick=True)[0]
    for method in ("RSFT", "RSFT grid M", "classifier re-training"):
        built = make_method(method, max_epochs=1, batch_size=64, seed=0)
        assert for_text(built, other) is built
        adapted = for_text(built, dataset)
        pipeline = getattr(adapted, "estimator", adapted)
        assert pipeline.steps[0][0] == ("tfidf" if name == "jokes-tfidf" else "tokens")
        nets = [
            v
            for v in pipeline.get_params(deep=True).values()
            if isinstance(v, RSFTClassifier)
        ]
        assert nets
        for net in nets:
            expected = None if name == "jokes-tfidf" else EmbeddingBagModule
            assert net.module is expected
            # The token reader trains at its own learning rate, every method
            # alike; TF-IDF keeps the MLP's.
            assert net.lr == (1e-3 if name == "jokes-tfidf" else 0.01)
    rows = np.r_[0:400:4, 400:1000:6]
    adapted.fit(dataset.X[rows], dataset.y[rows])
    assert adapted.predict(dataset.X[:3]).shape == (3,)


def test_for_text_keeps_the_parameters_a_method_spec_sets():
    from rsft_sklearn.benchmark._methods import make_method
    from rsft_sklearn.benchmark._suites import load_suite
    from rsft_sklearn.benchmark._text import for_text

    tokens = next(d for d in load_suite("text") if d.name == "jokes-tokens")
    for spec in ("RSFT(lr=0.05)", "focal loss(module__embedding_dim=64)"):
        built = make_method(spec, max_epochs=1, batch_size=64, seed=0)
        net = for_text(built, tokens, spec)["clf"]
        # The reader's module, with the spec's own settings winning over the
        # set's, as they do on every other data set.
        assert net.module is EmbeddingBagModule
        params = net.get_params()
        if spec.startswith("RSFT"):
            assert net.lr == 0.05 and params["module__embedding_dim"] == 32
        else:
            assert net.lr == 0.01 and params["module__embedding_dim"] == 64


def test_unseen_tokens_are_dropped_unless_training_saw_tokens_outside_the_vocabulary():
    # Every training token is in the vocabulary: id 1 would be an embedding
    # no training document reached, so unseen tokens are left out.
    full = TokenIndexer().fit(DOCS)
    assert full.unknown_ == "ignore"
    assert not (full.transform(DOCS) == 1).any()
    np.testing.assert_array_equal(
        full.transform(["buy cheap zzz pills yyy"]), full.transform(["buy cheap pills"])
    )
    assert full.transform(["zzz yyy"]).tolist() == [[0] * full.length_]
    # A cap leaves training tokens out: they map to id 1, which then trains.
    capped = TokenIndexer(max_features=3).fit(DOCS)
    assert capped.unknown_ == "index"
    assert (capped.transform(DOCS) == 1).any()
    assert TokenIndexer(min_count=30).fit(DOCS).unknown_ == "index"
    # The explicit settings hold whatever the training documents held.
    indexed = TokenIndexer(unknown="index").fit(DOCS)
    assert indexed.unknown_ == "index"
    assert indexed.transform(["buy zzz"]).tolist()[0][:2] == [
        indexed.vocabulary_["buy"],
        1,
    ]
    ignored = TokenIndexer(max_features=3, unknown="ignore").fit(DOCS)
    assert not (ignored.transform(DOCS) == 1).any()
    with pytest.raises(ValueError, match="unknown"):
        TokenIndexer(unknown="drop").fit(DOCS)


def test_a_model_of_the_full_vocabulary_is_not_moved_by_unseen_words():
    indexer = TokenIndexer().fit(DOCS)
    pipe = make_pipeline(
        TokenIndexer(), _clf(module__vocab_size=indexer.vocab_size_, max_epochs=3)
    ).fit(DOCS, LABELS)
    np.testing.assert_array_equal(
        pipe.predict_proba(["buy pills qqq rrr sss", "meeting notes qqq"]),
        pipe.predict_proba(["buy pills", "meeting notes"]),
    )


def test_an_indexer_pickled_before_the_unknown_setting_still_maps_to_id_1():
    indexer = TokenIndexer().fit(DOCS)
    del indexer.unknown_
    assert indexer.transform(["buy zzz"]).tolist()[0][:2] == [
        indexer.vocabulary_["buy"],
        1,
    ]


def test_fit_leaves_the_callers_pretrained_embeddings_alone():
    indexer = TokenIndexer().fit(DOCS)
    X = indexer.transform(DOCS)
    vectors = np.random.RandomState(0).normal(size=(indexer.vocab_size_, 8))
    vectors = vectors.astype(np.float32)
    before = vectors.copy()
    first = _clf(module__pretrained_embeddings=vectors, max_epochs=3).fit(X, LABELS)
    np.testing.assert_array_equal(vectors, before)
    assert not np.shares_memory(
        first.module_.embedding.weight.detach().numpy(), vectors
    )
    again = _clf(module__pretrained_embeddings=vectors, max_epochs=3).fit(X, LABELS)
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))
    # A tensor is copied too.
    tensor = torch.as_tensor(before)
    EmbeddingBagModule(
        n_classes=2, pretrained_embeddings=tensor
    ).embedding.weight.data += 1
    torch.testing.assert_close(tensor, torch.as_tensor(before))


def test_token_indexer_refuses_a_table_of_one_text_column():
    pd = pytest.importorskip("pandas")
    frame = pd.DataFrame({"text": ["the cat sat", "a dog"]})
    with pytest.raises(TypeError, match=r"got a DataFrame; pass the column"):
        TokenIndexer().fit(frame)
    with pytest.raises(ValueError, match=r"shape \(2, 1\); pass X.ravel\(\)"):
        TokenIndexer().fit(frame.to_numpy())
    # The column itself works.
    assert TokenIndexer().fit(frame["text"]).vocabulary_ == {
        "cat": 2,
        "dog": 3,
        "sat": 4,
        "the": 5,
    }


def test_token_indexer_refuses_text_columns_side_by_side():
    # A 2-d array is read as documents split into tokens, one per cell: a
    # title and a body column each became one whole-text token, silently.
    table = np.array([["a cat", "the cat sat"], ["a dog", "dogs bark"]], dtype=object)
    for call in (TokenIndexer().fit, TokenIndexer().fit(DOCS[:3]).transform):
        with pytest.raises(ValueError, match=r"cell \(0, 0\) holds several words"):
            call(table)
    # Cells of one token each are pre-split documents, as before.
    tokens = np.array([["cat", "sat"], ["dog", "barks"]])
    assert TokenIndexer().fit(tokens).transform(tokens).tolist() == [[3, 5], [4, 2]]


def test_token_indexer_fit_transform_reads_a_generator_once():
    ids = TokenIndexer().fit_transform(doc for doc in DOCS[:7])
    np.testing.assert_array_equal(ids, TokenIndexer().fit(DOCS[:7]).transform(DOCS[:7]))


def test_token_indexer_names_its_output_columns():
    pd = pytest.importorskip("pandas")
    indexer = TokenIndexer(max_length=3).fit(DOCS)
    assert indexer.get_feature_names_out().tolist() == [
        "tokenindexer0",
        "tokenindexer1",
        "tokenindexer2",
    ]
    frame = indexer.set_output(transform="pandas").transform(DOCS[:2])
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["tokenindexer0", "tokenindexer1", "tokenindexer2"]


@pytest.mark.parametrize(
    "sequences, error, match",
    [
        ([[2, 3], None], TypeError, "Row 1 is a NoneType, not a list of token ids"),
        ([[2, 3], 5], TypeError, "Row 1 is a int, not a list of token ids"),
        ([[[2, 3]]], ValueError, "Row 0 holds lists, not token ids"),
        ([[[2, 3], [4]]], ValueError, "Row 0 holds lists, not token ids"),
        (
            [np.array([2**64 - 1], dtype=np.uint64)],
            ValueError,
            "Row 0 holds the token id 18446744073709551615",
        ),
    ],
)
def test_pad_token_ids_names_a_row_that_is_not_a_list_of_ids(sequences, error, match):
    with pytest.raises(error, match=match):
        pad_token_ids(sequences)


def test_a_fractional_token_id_is_named_as_not_an_integer():
    X = np.array([[2.0, 3.0], [2.5, 0.0]], dtype=np.float32)
    with pytest.raises(
        ValueError, match=r"Row 1 of X holds the token id 2.5, which is not an integer"
    ):
        _clf(module__vocab_size=10, max_epochs=1).fit(X, ["a", "b"])


@pytest.mark.parametrize("value", [7.0000001, 29.9999999])
def test_a_token_id_near_a_whole_number_is_named_as_given(value):
    # Checked after the cast to float32, 7.0000001 was read as 7 and
    # 29.9999999 named as the id 30.
    X = np.array([[2.0, 3.0], [value, 0.0]])
    with pytest.raises(
        ValueError, match=rf"Row 1 of X holds the token id {value}, which is not an"
    ):
        _clf(module__vocab_size=40, max_epochs=1).fit(X, ["a", "b"])


class _BagSizedByItsOwnName(EmbeddingBagModule):
    def __init__(self, n_classes=None, vocab=20, **kwargs):
        super().__init__(vocab_size=vocab, n_classes=n_classes, **kwargs)


def test_ids_beyond_a_table_sized_otherwise_than_by_vocab_size_are_named():
    # The check read module__vocab_size only: ids beyond the table of a
    # module sized by another argument, or of an instance rebuilt from
    # module__* parameters, reached torch's embedding_bag (RuntimeError).
    rng = np.random.RandomState(0)
    X = rng.randint(0, 20, size=(60, 5))
    y = (X[:, 0] > 10).astype(int)
    bad = X.copy()
    bad[3, 2] = 25
    message = r"Row 3 of X holds the token id 25, outside the vocabulary.*0 to 19"
    clf = _clf(module=_BagSizedByItsOwnName, max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match=message):
        clf.predict(bad)
    with pytest.raises(ValueError, match=message):
        _clf(module=_BagSizedByItsOwnName, max_epochs=1).fit(bad, y)
    with pytest.raises(ValueError, match=message):
        _clf(module=_BagSizedByItsOwnName, max_epochs=1).partial_fit(bad, y, [0, 1])
    rebuilt = _clf(
        module=EmbeddingBagModule(vocab_size=40, n_classes=2),
        module__vocab_size=20,
        module__n_classes=2,
        max_epochs=1,
    )
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=message):
        rebuilt.fit(bad, y)


def test_token_pattern_of_several_groups_is_refused():
    # findall gave tuples of the groups: a vocabulary of tuples that
    # pre-split tokens could never match (CountVectorizer refuses it).
    with pytest.raises(ValueError, match="has 2 capturing groups"):
        TokenIndexer(token_pattern=r"(\w)(\w+)").fit(["hello world"])
    with pytest.raises(ValueError, match="is not a regular expression"):
        TokenIndexer(token_pattern="(").fit(["hello world"])
    indexer = TokenIndexer(token_pattern=r"(\w)\w+").fit(["hello world"])
    assert sorted(indexer.vocabulary_) == ["h", "w"]


def test_ragged_token_id_lists_given_to_fit_name_pad_token_ids():
    with pytest.raises(ValueError, match="rows of different lengths.*pad_token_ids"):
        _clf(module__vocab_size=10, max_epochs=1).fit(
            [[2, 3], [4], [5, 6, 7]], [0, 1, 0]
        )


def test_non_finite_pretrained_embeddings_are_refused_at_construction():
    # The fit failed with "the loss overflowed; scale the features", naming
    # neither the table nor its rows.
    table = np.ones((5, 3), dtype=np.float32)
    table[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"non-finite values .* rows \[3\]"):
        EmbeddingBagModule(n_classes=2, pretrained_embeddings=table)


def test_a_float_token_id_beyond_int64_is_named_as_given():
    # 1e19 wrapped to int64's minimum and was called a negative id.
    with pytest.raises(ValueError, match="token id 1e[+]19, beyond any embedding"):
        pad_token_ids([[3.0, 1e19]])


@pytest.mark.parametrize("kind", ["object array", "series"])
def test_token_lists_in_an_object_array_name_pad_token_ids(kind):
    import pandas as pd

    ids = [[1, 2], [3]] * 5
    X = np.array(ids, dtype=object) if kind == "object array" else pd.Series(ids)
    clf = RSFTClassifier(module=EmbeddingBagModule, module__vocab_size=10, max_epochs=1)
    with pytest.raises(ValueError, match="sequences in its cells.*pad_token_ids"):
        clf.fit(X, np.array([0, 1] * 5))


def test_tokens_past_max_length_stay_out_of_the_vocabulary():
    # transform keeps the first max_length tokens: a token seen only past
    # them would get an id whose embedding no training row reaches, and the
    # unseen words of test documents would be mapped rather than left out.
    docs = ["good fine " + "filler " * 3 + "tailword", "bad awful nice word"] * 5
    indexer = TokenIndexer(max_length=2).fit(docs)
    assert set(indexer.vocabulary_) == {"good", "fine", "bad", "awful"}
    assert indexer.unknown_ == "ignore"
    good = indexer.vocabulary_["good"]
    assert indexer.transform(["tailword good"]).tolist() == [[good, 0]]
    ids = indexer.transform(docs)
    assert ids.shape == (10, 2) and (ids >= 2).all()
    # A cut that keeps whole documents changes nothing.
    assert TokenIndexer(max_length=8).fit(docs).vocabulary_ == (
        TokenIndexer().fit(docs).vocabulary_
    )
    # max_features and min_count count the tokens within the cut: counted
    # over whole documents, the cap went to tokens past it (an empty
    # vocabulary here), and a token seen once within it passed min_count.
    docs = ["alpha beta " + "late " * 5, "alpha gamma " + "tail " * 5, "beta gamma"]
    capped = TokenIndexer(max_length=2, max_features=2).fit(docs)
    assert capped.vocabulary_ == {"alpha": 2, "beta": 3}
    assert capped.unknown_ == "index"
    rare = TokenIndexer(max_length=1, min_count=2).fit(["rare late rare", "xx", "xx"])
    assert rare.vocabulary_ == {"xx": 2}
    # Under "ignore" transform cuts the known tokens: a token that unknown
    # ones before it move into the window is kept (and trained).
    docs = ["zzqa zzqb good", "zzqc zzqd good", "nice fine", "nice fine"]
    ignoring = TokenIndexer(max_length=2, unknown="ignore", min_count=2).fit(docs)
    assert set(ignoring.vocabulary_) == {"good", "nice", "fine"}
    assert (ignoring.transform(docs)[:, 0] >= 2).all()
    # Where unknown tokens keep their place (id 1), the window is the first
    # tokens as written: "good" never reaches it, id 1 does.
    indexing = TokenIndexer(max_length=2, min_count=2).fit(docs)
    assert indexing.unknown_ == "index"
    assert set(indexing.vocabulary_) == {"nice", "fine"}
    assert indexing.transform(docs[:1]).tolist() == [[1, 1]]


@pytest.mark.parametrize("pad", [None, np.nan, "", float("nan")])
def test_empty_cells_of_a_token_table_are_padding(pad):
    # DataFrame(token_lists).to_numpy() pads short documents with None or
    # NaN; they are not a token that every short document shares.
    lists = [["good", "movie"], ["bad"], ["good", "good", "fun"]]
    table = np.array([row + [pad] * (3 - len(row)) for row in lists], dtype=object)
    by_table = TokenIndexer().fit(table)
    by_lists = TokenIndexer().fit(lists)
    assert by_table.vocabulary_ == by_lists.vocabulary_
    np.testing.assert_array_equal(by_table.transform(table), by_lists.transform(lists))
    assert by_table.transform(table).tolist()[1] == [3, 0, 0]


def test_sparse_token_ids_stored_twice_are_checked_as_summed():
    # Entries stored twice at one place are summed where the network reads
    # them: 3 + 4 is the id 7, outside a vocabulary of 6, and named as such.
    n = 12
    data = np.r_[[3.0, 4.0], np.full(n - 1, 2.0)]
    indices = np.zeros(n + 1, dtype=np.int32)
    indptr = np.r_[0, np.arange(2, n + 2)]
    X = sp.csr_matrix((data, indices, indptr), shape=(n, 3))
    clf = _clf(module__vocab_size=6, max_epochs=1)
    with pytest.raises(ValueError, match="Row 0 of X holds the token id 7"):
        clf.fit(X, np.arange(n) % 2)
    assert X.nnz == n + 1 and not X.has_canonical_format


def test_sizes_that_contradict_pretrained_embeddings_are_refused():
    # vocab_size and embedding_dim were dropped without a word beside a
    # pretrained matrix; a fit then advised enlarging vocab_size, which did
    # nothing.
    weight = np.random.RandomState(0).randn(10, 3)
    with pytest.raises(ValueError, match=r"vocab_size=20 .* shape \(10, 3\)"):
        EmbeddingBagModule(vocab_size=20, n_classes=2, pretrained_embeddings=weight)
    with pytest.raises(ValueError, match=r"embedding_dim=5 .* embedding_dim=3"):
        EmbeddingBagModule(embedding_dim=5, n_classes=2, pretrained_embeddings=weight)
    module = EmbeddingBagModule(
        vocab_size=10, embedding_dim=3, n_classes=2, pretrained_embeddings=weight
    )
    assert tuple(module.embedding.weight.shape) == (10, 3)
    # The default width does not contradict the matrix.
    module = EmbeddingBagModule(n_classes=2, pretrained_embeddings=weight)
    assert tuple(module.embedding.weight.shape) == (10, 3)


@pytest.mark.parametrize(
    "make",
    [sp.csr_matrix, sp.csr_array, sp.coo_array, lambda A: torch.tensor(A).to_sparse()],
)
def test_token_indexer_refuses_sparse_input(make):
    # A csr_matrix failed as a document "nested too deeply"; a csr_array's
    # implicit zeros were read as the token "0.0".
    A = np.array([[1.0, 0.0, 2.0], [0.0, 3.0, 0.0]])
    for method in ("fit", "fit_transform"):
        with pytest.raises(TypeError, match="takes documents.*got a sparse"):
            getattr(TokenIndexer(), method)(make(A))
    fitted = TokenIndexer().fit(["a b", "b c"])
    with pytest.raises(TypeError, match="got a sparse"):
        fitted.transform(make(A))
