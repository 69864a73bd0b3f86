"""skorch's scoring callbacks at the edges of what the estimator changes:
what an uncached scorer receives, epochs that train on no row, the first
epoch's correction, and scores named after the estimator's own history keys.
"""

import pickle
import re
import tempfile
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from sklearn.metrics import accuracy_score
from skorch.callbacks import (
    BatchScoring,
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    PassthroughScoring,
)
from skorch.dataset import ValidSplit
from torch import nn

from rsft_sklearn import InMemoryDataset, RSFTClassifier

N = 300


@pytest.fixture(scope="module")
def data():
    """Three imbalanced classes (200, 70, 30 rows) with string labels; the
    first two features tell the rare classes apart."""
    rng = np.random.RandomState(0)
    y = np.array(["a"] * 200 + ["b"] * 70 + ["c"] * 30)
    X = rng.randn(N, 6).astype(np.float32)
    X[:, 0] += y == "b"
    X[:, 1] += y == "c"
    return X, y


class _TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.Linear(6, 3)

    def forward(self, a, b):
        return self.layer(torch.cat([a, b], 1))


def _inputs(kind, X):
    """``X`` as the kind of data given to fit, the module it needs, and a
    function reading the first feature of such data as an array."""
    if kind == "array":
        return X, {}, lambda Z: Z[:, 0]
    if kind == "frame":
        frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(6)])
        return frame, {}, lambda Z: Z["f0"].to_numpy()
    if kind == "dict":
        return (
            {"a": X[:, :3], "b": X[:, 3:]},
            dict(module=_TwoInputs),
            lambda Z: Z["a"][:, 0],
        )
    sparse = X.copy()
    sparse[np.abs(sparse) < 0.5] = 0
    return sp.csr_matrix(sparse), {}, lambda Z: Z[:, 0].toarray().ravel()


def _rows(data, idx):
    if isinstance(data, dict):
        return {key: value[idx] for key, value in data.items()}
    if isinstance(data, pd.DataFrame):
        return data.iloc[idx]
    return data[idx]


@pytest.mark.parametrize("on_train", [True, False])
@pytest.mark.parametrize("kind", ["array", "frame", "dict", "sparse"])
def test_an_uncached_scorer_reads_the_rows_as_the_data_given_to_fit(
    data, kind, on_train
):
    # skorch hands a scorer without cached predictions the rows of its part
    # cut from the user's data (X[:, 0], X["a"], a CSR matrix). The
    # estimator handed its internal InMemoryDataset, or a Subset of it
    # whose items are (x, y) pairs: X[:, 0] failed ("too many indices for
    # tensor of dimension 1"), X["a"] too ("new(): invalid data type
    # 'str'"), and np.asarray(X) made an array of pairs.
    X, y = data
    X_in, module, first_feature = _inputs(kind, X)
    seen = []

    def positive_first_feature_accuracy(net, X_part, y_part):
        with warnings.catch_warnings():
            # (Predicting a DataFrame without the fitted names warns.)
            warnings.simplefilter("error", UserWarning)
            predicted = net.predict(X_part)
        seen.append((X_part, y_part))
        mask = first_feature(X_part) > 0
        return float(np.mean(predicted[mask] == y_part[mask]))

    clf = RSFTClassifier(
        max_epochs=2,
        batch_size=32,
        random_state=0,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[
            (
                "s",
                EpochScoring(
                    positive_first_feature_accuracy,
                    on_train=on_train,
                    use_caching=False,
                    lower_is_better=False,
                    name="s",
                ),
            )
        ],
        **module,
    ).fit(X_in, y)
    # (The split depends on the labels alone.)
    train, valid = clf.get_split_datasets(X, y)
    idx = np.asarray((train if on_train else valid).indices)
    X_part, y_part = seen[-1]
    expected = _rows(X_in, idx)
    if kind == "array":
        assert type(X_part) is np.ndarray
        np.testing.assert_array_equal(X_part, expected)
    elif kind == "frame":
        assert isinstance(X_part, pd.DataFrame)
        assert list(X_part.columns) == list(X_in.columns)
        np.testing.assert_array_equal(X_part.index, idx)
        np.testing.assert_array_equal(X_part.to_numpy(), expected.to_numpy())
    elif kind == "dict":
        assert sorted(X_part) == ["a", "b"]
        for key in X_part:
            assert type(X_part[key]) is np.ndarray
            np.testing.assert_array_equal(X_part[key], expected[key])
    else:
        assert sp.issparse(X_part) and X_part.format == "csr"
        np.testing.assert_array_equal(X_part.toarray(), expected.toarray())
    np.testing.assert_array_equal(y_part, y[idx])
    mask = first_feature(expected) > 0
    by_hand = np.mean(clf.predict(expected)[mask] == y[idx][mask])
    assert clf.history[-1, "s"] == pytest.approx(by_hand)


@pytest.mark.parametrize("kind", ["array", "sparse"])
def test_an_uncached_scorer_without_a_split_reads_a_read_only_view(data, kind):
    # Every row, as skorch hands the user's X: the training's own memory,
    # which the scorer cannot write into. A CSR matrix was the user's own,
    # writeable: a scorer zeroing X.data changed the training data.
    X, y = data
    X_in, _, _ = _inputs(kind, X)
    given = X_in.copy()

    def fit(write):
        seen, refused = [], []

        def record(net, X_part, y_part):
            seen.append((X_part, y_part))
            if write:
                try:
                    if kind == "sparse":
                        X_part.data[:] = 0.0
                    else:
                        X_part[:] = 0.0
                except ValueError as exc:
                    refused.append(str(exc))
            return 0.0

        clf = RSFTClassifier(
            max_epochs=2,
            random_state=0,
            callbacks=[("s", EpochScoring(record, on_train=True, use_caching=False))],
        ).fit(X_in, y)
        return clf, seen, refused

    plain, seen, _ = fit(write=False)
    X_part, y_part = seen[0]
    if kind == "sparse":
        assert sp.issparse(X_part) and X_part.format == "csr"
        np.testing.assert_array_equal(X_part.toarray(), X_in.toarray())
    else:
        np.testing.assert_array_equal(X_part, X)
    np.testing.assert_array_equal(y_part, y)

    written, _, refused = fit(write=True)
    assert len(refused) == 2
    assert all("read-only" in message for message in refused)
    # The data the training reads, and the user's, are left as they were.
    if kind == "sparse":
        np.testing.assert_array_equal(X_in.toarray(), given.toarray())
    else:
        np.testing.assert_array_equal(X_in, given)
    np.testing.assert_array_equal(
        plain.predict_proba(X).view(np.uint8), written.predict_proba(X).view(np.uint8)
    )


@pytest.mark.parametrize("split", [True, False])
def test_an_uncached_scorer_gets_the_rows_of_the_user_s_data_frame(data, split):
    # skorch hands X.iloc[rows]: the user's index and dtypes. The scorer got
    # the rows' positions as the index and an int column as float32, so a
    # scorer that joins its rows to other data by the index misaligned.
    X, y = data
    frame = pd.DataFrame(X[:, 1:], columns=[f"f{i}" for i in range(1, 6)])
    frame.insert(0, "count", (np.abs(X[:, 0]) * 3).astype(np.int64))
    frame.index = [f"row{i}" for i in range(N)][::-1]
    extra = pd.Series(np.arange(N, dtype=float), index=frame.index)
    seen = []

    def joined(net, X_part, y_part):
        seen.append(X_part)
        # A join by the index.
        return float(extra.loc[X_part.index].mean())

    def fit():
        return RSFTClassifier(
            max_epochs=2,
            random_state=0,
            train_split=ValidSplit(4, stratified=True) if split else None,
            callbacks=[
                ("s", EpochScoring(joined, use_caching=False, on_train=True, name="s"))
            ],
        ).fit(frame, y)

    clf = fit()
    idx = np.asarray(clf.get_split_datasets(X, y)[0].indices) if split else np.arange(N)
    want = frame.iloc[idx]
    pd.testing.assert_frame_equal(seen[-1], want)
    assert clf.history[-1, "s"] == pytest.approx(float(extra.iloc[idx].mean()))
    np.testing.assert_array_equal(clf.predict(seen[-1]), clf.predict(want))
    if not split:
        # A copy: writing into it leaves the user's frame (and the memory
        # the training reads) as they were.
        before = frame.copy()
        seen[-1].iloc[:, :] = 0
        pd.testing.assert_frame_equal(frame, before)


def test_an_uncached_scorer_gets_a_dataset_given_to_fit_as_a_dataset(data):
    # A Dataset of the user's stays a Dataset (a Subset for a split), as
    # skorch hands it; an InMemoryDataset's labels come with it.
    X, y = data
    encoded = np.searchsorted(np.unique(y), y)
    seen = []

    def record(net, X_part, y_part):
        seen.append((X_part, y_part))
        return accuracy_score(y_part, net.predict(X_part))

    dataset = InMemoryDataset(torch.from_numpy(X), torch.from_numpy(encoded))
    clf = RSFTClassifier(
        max_epochs=1,
        random_state=0,
        module__n_features=6,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[("s", EpochScoring(record, use_caching=False, name="s"))],
    ).fit(dataset, y)
    X_part, y_part = seen[0]
    assert isinstance(X_part, torch.utils.data.Subset)
    idx = np.asarray(X_part.indices)
    np.testing.assert_array_equal(y_part, y[idx])
    assert clf.history[-1, "s"] == pytest.approx(
        accuracy_score(y[idx], clf.predict(X[idx]))
    )


@pytest.mark.parametrize("rejection", ["pool", "epoch", "budget"])
def test_an_uncached_training_score_reads_every_training_row(data, rejection):
    # (Documented: the cached one reads the rows the epoch trained on.)
    X, y = data
    clf = RSFTClassifier(
        rejection=rejection,
        M=3.0,
        warmup_epochs=0,
        max_epochs=2,
        batch_size=32,
        random_state=0,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[
            (
                "tr",
                EpochScoring("accuracy", on_train=True, use_caching=False, name="tr"),
            )
        ],
    ).fit(X, y)
    train, _ = clf.get_split_datasets(X, y)
    idx = np.asarray(train.indices)
    assert len(idx) == 225
    assert clf.history[-1, "tr"] == pytest.approx(
        accuracy_score(y[idx], clf.predict(X[idx]))
    )


class _BatchKey(Callback):
    """Records a number under ``"mine"`` in every training batch."""

    def on_batch_end(self, net, batch, training, **kwargs):
        if training:
            net.history.record_batch("mine", 0.5)


@pytest.mark.parametrize("rejection", ["pool", "epoch", "sample"])
def test_batch_scores_of_an_epoch_that_trains_no_row_are_nan(data, rejection):
    # After a warm-up epoch, M=1e9 rejects every row: "pool" and "epoch"
    # train no batch, and the BatchScoring and PassthroughScoring of the
    # training batches recorded nothing (tr_bacc [0.1, None, None]), so
    # EarlyStopping on the score raised a KeyError inside skorch and
    # Checkpoint on its _best flag a SkorchException; under "sample" every
    # batch accepted nothing and the score of a network that took no step
    # (0.46) was recorded and taken as the best. Now NaN, never the best,
    # as EpochScoring and train_loss record.
    X, y = data
    clf = RSFTClassifier(
        rejection=rejection,
        M=1e9,
        warmup_epochs=1,
        max_epochs=3,
        batch_size=32,
        random_state=0,
        callbacks=[
            (
                "tr_bacc",
                BatchScoring(
                    "accuracy", on_train=True, name="tr_bacc", lower_is_better=False
                ),
            ),
            ("key", _BatchKey()),
            ("mine", PassthroughScoring("mine", on_train=True)),
            ("stop", EarlyStopping(monitor="tr_bacc", lower_is_better=False)),
            (
                "checkpoint",
                Checkpoint(monitor="tr_bacc_best", dirname=tempfile.mkdtemp()),
            ),
        ],
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    assert len(clf.history) == 3
    assert clf.history[0, "tr_bacc"] > 0
    assert clf.history[0, "tr_bacc_best"] is True
    assert clf.history[0, "mine"] == 0.5
    for epoch in clf.history[1:]:
        for key in ("tr_bacc", "mine", "train_loss"):
            assert np.isnan(epoch[key])
            assert epoch[key + "_best"] is False
    # The checkpoint of the first epoch is the only one taken.
    assert clf.history[:, "event_cp"] == [True, False, False]


def test_batch_scores_of_epochs_that_train_are_skorch_s(data):
    # (Unchanged: the batch scores' mean, weighted by the batch sizes.)
    X, y = data
    clf = RSFTClassifier(
        max_epochs=2,
        batch_size=64,
        random_state=0,
        callbacks=[
            ("key", _BatchKey()),
            ("mine", PassthroughScoring("mine", on_train=True)),
        ],
    ).fit(X, y)
    assert clf.history[:, "mine"] == [0.5, 0.5]
    assert clf.history[:, "mine_best"] == [True, False]


class _FirstEpochProba(Callback):
    """``predict_proba`` of the given rows at the first validation batch of
    the first epoch (after the epoch's training batches)."""

    def __init__(self, X):
        self.X = X

    def initialize(self):
        self.proba = None
        return self

    def on_batch_end(self, net, training, **kwargs):
        if not training and len(net.history) == 1 and self.proba is None:
            self.proba = net.predict_proba(self.X)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("prior_correction", [1.0, 0.5, 0.0])
def test_first_epoch_predictions_remove_the_logit_adjustment(
    data, prior_correction, weighted
):
    # In the first epoch no epoch had ended to give the correction:
    # predict_proba divided the output by the class prior without removing
    # the logit adjustment the network trains with, removing the prior
    # twice. A validation BatchScoring("accuracy") scored 0.0933 (every row
    # predicted the rarest class) where the EpochScoring of the same epoch
    # scored 0.4933. It is now corrected as after a warm-up epoch, which
    # the first epoch is here: with max_epochs=1 the network scored at the
    # validation batches is the fitted one.
    X, y = data
    split = ValidSplit(4, stratified=True)
    weight = np.linspace(0.5, 2.0, N) if weighted else None
    probe = _FirstEpochProba(X)
    clf = RSFTClassifier(
        max_epochs=1,
        warmup_epochs=1,
        batch_size=32,
        random_state=0,
        prior_correction=prior_correction,
        train_split=split,
        callbacks=[
            ("vb", BatchScoring("accuracy", name="vb_acc", lower_is_better=False)),
            ("ve", EpochScoring("accuracy", name="ve_acc", lower_is_better=False)),
            ("probe", probe),
        ],
    ).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(probe.proba, clf.predict_proba(X), rtol=1e-5, atol=1e-7)
    assert clf.history[0, "vb_acc"] == pytest.approx(clf.history[0, "ve_acc"])
    if prior_correction == 1.0 and not weighted:
        assert clf.history[0, "ve_acc"] == pytest.approx(0.4933, abs=1e-4)


def test_first_epoch_output_under_the_default_correction_is_the_raw_one(data):
    # (Documented: with prior_correction=1, the network's output as it is.)
    X, y = data
    probe = _FirstEpochProba(X)
    clf = RSFTClassifier(
        max_epochs=1,
        M=3.0,
        warmup_epochs=0,
        batch_size=32,
        random_state=0,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[("probe", probe)],
    ).fit(X, y)
    raw = clf.set_params(probability="raw").predict_proba(X)
    np.testing.assert_allclose(probe.proba, raw, rtol=1e-5, atol=1e-7)


def warmup(net, X, y):
    return 0.0


@pytest.mark.parametrize(
    ("callback", "key"),
    [
        (EpochScoring("accuracy", name="acceptance_rate"), "acceptance_rate"),
        (EpochScoring("accuracy", name="M_effective"), "M_effective"),
        (EpochScoring(warmup), "warmup"),
        (BatchScoring("accuracy", name="acceptance_rate[b]"), "acceptance_rate[b]"),
        (PassthroughScoring("train_batch_count"), "train_batch_count"),
        (
            EpochScoring("accuracy", name="valid_batch_count", lower_is_better=None),
            "valid_batch_count",
        ),
    ],
)
def test_a_score_named_after_a_history_key_of_the_estimator_is_refused(
    data, callback, key
):
    # It overwrote the estimator's own column silently (acceptance_rate
    # read the accuracy), which compact="auto" and a resumed fit read back.
    X, y = data
    clf = RSFTClassifier(max_epochs=1, random_state=0, callbacks=[("mine", callback)])
    with pytest.raises(
        ValueError, match=rf"'mine'.*'{re.escape(key)}'.*name="
    ) as raised:
        clf.fit(X, y)
    assert "acceptance_rate[<label>]" in str(raised.value)
    assert not hasattr(clf, "classes_")


@pytest.mark.parametrize(
    "settings, callback, key",
    [
        (
            dict(
                callbacks=[("s", EpochScoring("accuracy"))],
                callbacks__s__name="acceptance_rate",
            ),
            "s",
            "acceptance_rate",
        ),
        (
            # skorch's documented way to replace a default callback.
            dict(callbacks__valid_acc=EpochScoring("accuracy", name="M_effective")),
            "valid_acc",
            "M_effective",
        ),
    ],
    ids=["renamed", "replaced"],
)
def test_a_score_named_by_a_callback_parameter_is_refused(
    data, settings, callback, key
):
    # The check read the callbacks as given, before skorch applied the
    # callbacks__* parameters: the score replaced the estimator's column.
    X, y = data
    clf = RSFTClassifier(
        max_epochs=1,
        random_state=0,
        train_split=ValidSplit(4, stratified=True),
        **settings,
    )
    with pytest.raises(ValueError, match=rf"'{callback}'.*'{key}'.*name="):
        clf.fit(X, y)
    assert not hasattr(clf, "classes_")
    assert not clf.initialized_


def test_a_score_renamed_with_set_params_before_the_fit_is_refused(data):
    X, y = data
    clf = RSFTClassifier(
        max_epochs=1, random_state=0, callbacks=[("s", EpochScoring("accuracy"))]
    )
    with pytest.raises(ValueError, match=r"'s'.*'warmup'"):
        clf.set_params(callbacks__s__name="warmup")
        clf.fit(X, y)
    assert not hasattr(clf, "classes_")


def test_a_best_flag_named_after_a_history_key_is_refused(data, monkeypatch):
    # (name + "_best" is recorded too.)
    X, y = data
    monkeypatch.setattr(
        RSFTClassifier,
        "_history_keys",
        RSFTClassifier._history_keys + ("kept_best",),
    )
    clf = RSFTClassifier(
        max_epochs=1, callbacks=[EpochScoring("accuracy", name="kept")]
    )
    with pytest.raises(ValueError, match="'EpochScoring'.*'kept_best'"):
        clf.fit(X, y)


def test_scores_of_other_names_are_taken(data):
    X, y = data
    clf = RSFTClassifier(
        max_epochs=1,
        random_state=0,
        callbacks=[
            ("a", EpochScoring("accuracy", on_train=True, name="acceptance")),
            ("b", EpochScoring("accuracy", on_train=True, name="acceptance_rate[b")),
        ],
    ).fit(X, y)
    assert 0 <= clf.history[-1, "acceptance"] <= 1
    assert 0 <= clf.history[-1, "acceptance_rate"] <= 1


def test_a_pickle_continues_as_the_original(data):
    # (Documented: saved parameters do not, under prior_correction > 0.)
    X, y = data
    clf = RSFTClassifier(max_epochs=2, batch_size=64, random_state=0).fit(X, y)
    copy = pickle.loads(pickle.dumps(clf))
    clf.partial_fit(X, y)
    copy.partial_fit(X, y)
    np.testing.assert_array_equal(copy.predict_proba(X), clf.predict_proba(X))
