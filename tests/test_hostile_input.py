"""Odd and hostile input: a correct result or a clear error, never a torch crash."""

import sys
import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from _rules import SAMPLE_RULE
from sklearn.base import clone
from sklearn.metrics import accuracy_score
from sklearn.utils._param_validation import InvalidParameterError
from skorch.dataset import ValidSplit

from rsft_sklearn import RejectionLoss, RSFTClassifier

FAST = dict(
    max_epochs=2, batch_size=16, random_state=0, module__hidden_layer_sizes=(8,)
)


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40, dtype=int), np.ones(20, dtype=int)]
    X = rng.randn(60, 3)
    X[:, 0] += 2 * y
    return X, y


@pytest.fixture(scope="module")
def fitted(data):
    return RSFTClassifier(**FAST).fit(*data)


def _same_model(a, b):
    pa, pb = a.module_.state_dict(), b.module_.state_dict()
    return all(torch.equal(pa[k], pb[k]) for k in pa)


def _finite(clf):
    return all(bool(torch.isfinite(p).all()) for p in clf.module_.parameters())


# ----------------------------------------------------------------------------
# Types of X
# ----------------------------------------------------------------------------
def test_numeric_object_array_is_read_as_numbers(data, fitted):
    X, y = data
    clf = RSFTClassifier(**FAST).fit(X.astype(object), y)
    assert _same_model(clf, fitted)
    np.testing.assert_array_equal(clf.predict(X.astype(object)), fitted.predict(X))


def test_object_array_with_text_is_refused(data):
    X, y = data
    X = X.astype(object)
    X[5, 1] = "n/a"
    with pytest.raises(ValueError, match="could not convert string to float: 'n/a'"):
        RSFTClassifier(**FAST).fit(X, y)


def test_mixed_dtype_dataframe(data):
    X, y = data
    df = pd.DataFrame(
        {"real": X[:, 0], "flag": X[:, 1] > 0, "count": np.round(3 * X[:, 2])}
    ).astype({"count": "int64"})
    clf = RSFTClassifier(**FAST).fit(df, y)
    as_array = RSFTClassifier(**FAST).fit(df.to_numpy(dtype=float), y)
    assert _same_model(clf, as_array)
    assert list(clf.feature_names_in_) == ["real", "flag", "count"]
    np.testing.assert_array_equal(clf.predict(df), as_array.predict(df.to_numpy(float)))
    with pytest.raises(ValueError, match="feature names"):
        clf.predict(df[["count", "real", "flag"]])
    with pytest.raises(ValueError, match="could not convert string to float"):
        RSFTClassifier(**FAST).fit(df.assign(city="Oslo"), y)


@pytest.mark.parametrize(
    "to_sparse", [sp.csr_matrix, sp.csc_matrix, sp.coo_matrix, sp.csr_array]
)
def test_sparse_input_trains_as_its_dense_copy(data, fitted, to_sparse):
    # Policy (issue #22): sparse X is converted to CSR and the default MLP
    # multiplies sparse batches; the fit is the dense one up to rounding.
    X, y = data
    sparse = RSFTClassifier(**FAST).fit(to_sparse(X), y)
    for key, value in fitted.module_.state_dict().items():
        torch.testing.assert_close(
            sparse.module_.state_dict()[key], value, rtol=0, atol=1e-6
        )
    np.testing.assert_allclose(
        fitted.predict_proba(to_sparse(X)), fitted.predict_proba(X), atol=1e-6
    )


@pytest.mark.parametrize(
    "shape, match", [((0, 3), "0 sample"), ((60, 0), "0 feature")], ids=["rows", "cols"]
)
def test_empty_X(data, fitted, shape, match):
    _, y = data
    with pytest.raises(ValueError, match=match):
        RSFTClassifier(**FAST).fit(np.empty(shape), y[: shape[0]])
    with pytest.raises(ValueError, match=match):
        fitted.predict(np.empty(shape))


def test_predicting_on_an_empty_dataset_names_it(data):
    from torch.utils.data import Subset, TensorDataset

    X, y = data
    X = X.astype(np.float32)
    dataset = TensorDataset(torch.as_tensor(X))
    clf = RSFTClassifier(
        module=torch.nn.Linear,
        module__in_features=X.shape[1],
        module__out_features=2,
        max_epochs=2,
        batch_size=16,
        random_state=0,
    ).fit(dataset, y)
    assert clf.predict_proba(Subset(dataset, [0, 1])).shape == (2, 2)
    # Once NumPy's "need at least one array to concatenate", from skorch.
    for method in (clf.predict_proba, clf.predict, clf.predict_log_proba):
        with pytest.raises(ValueError, match="data set with 0 sample"):
            method(Subset(dataset, []))


def test_float16_input_is_read_as_float32(data):
    X, y = data
    X16 = X.astype(np.float16)
    clf = RSFTClassifier(**FAST).fit(X16, y)
    reference = RSFTClassifier(**FAST).fit(X16.astype(np.float32), y)
    assert _same_model(clf, reference)
    np.testing.assert_array_equal(
        clf.predict_proba(X16), reference.predict_proba(X16.astype(np.float32))
    )
    # float16 overflows to inf at 65504: refused like any infinity.
    with (
        np.errstate(over="ignore", invalid="ignore"),
        pytest.raises(ValueError, match="infinity"),
    ):
        clf.fit((X * 1e5).astype(np.float16), y)


def test_values_beyond_float32_are_refused(data):
    X, y = data
    with pytest.raises(ValueError, match="float32 range"):
        RSFTClassifier(**FAST).fit(X * 1e300, y)
    with pytest.raises(ValueError, match="float32 range"):
        RSFTClassifier(**FAST).fit({"a": X * 1e300}, y)
    # Only the negative side beyond it.
    with pytest.raises(ValueError, match="float32 range"):
        RSFTClassifier(**FAST).fit(np.abs(X) * -1e300, y)


def test_float64_input_costs_one_float32_copy():
    # The range check built abs(X), a temporary as large as the float64 X:
    # the conversion peaked at twice the float32 copy it keeps.
    import tracemalloc

    from rsft_sklearn._validation import to_float32

    X = np.random.default_rng(0).normal(size=(100_000, 20))
    tracemalloc.start()
    try:
        converted = to_float32(X, "X")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert converted.dtype == np.float32
    assert peak < 1.25 * converted.nbytes


def test_overflow_in_training_is_an_error_not_a_nan_model(data):
    X, y = data
    with pytest.raises(ValueError, match="stopped being finite in epoch 1"):
        RSFTClassifier(**FAST).fit((X * 1e30).astype(np.float32), y)
    with pytest.raises(ValueError, match="lower the learning rate"):
        RSFTClassifier(**{**FAST, "lr": 1e12, "optimizer": torch.optim.SGD}).fit(X, y)


def test_all_constant_features(data):
    _, y = data
    X = np.full((len(y), 3), 7.0)
    clf = RSFTClassifier(**FAST).fit(X, y)
    assert _finite(clf)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # Identical inputs get identical outputs.
    assert np.ptp(proba, axis=0).max() == 0
    assert len(set(clf.predict(X))) == 1


# ----------------------------------------------------------------------------
# Labels
# ----------------------------------------------------------------------------
def test_class_with_one_sample(data):
    X, y = data
    y = y.astype(object)
    y[7] = "lonely"
    y = y.astype(str)
    clf = RSFTClassifier(**{**FAST, "max_epochs": 3}).fit(X, y)
    assert list(clf.classes_) == ["0", "1", "lonely"]
    assert clf.predict_proba(X).shape == (60, 3)
    # The rarest class has target weight 1 and is never rejected at M = 1.
    assert clf.class_target_weight_[2] == 1.0
    assert clf.history[:, "acceptance_rate[lonely]"] == [1.0] * 3
    # A validation split that cannot hold the class in both parts still works.
    split = RSFTClassifier(**{**FAST, "train_split": ValidSplit(5)}).fit(X, y)
    assert np.isfinite(split.history[-1, "valid_loss"])


def test_unseen_labels_in_score_count_as_errors(data, fitted):
    X, y = data
    y_new = y.copy()
    y_new[:10] = 5
    correct_elsewhere = np.sum(fitted.predict(X)[10:] == y[10:])
    assert fitted.score(X, y_new) == pytest.approx(correct_elsewhere / len(y))
    # Labels of another type score as scikit-learn's accuracy scores them:
    # an error from scikit-learn 1.9, 0 before it.
    strings = np.array(["a"] * len(y))
    try:
        expected = accuracy_score(strings, fitted.predict(X))
    except ValueError:
        with pytest.raises(ValueError, match="Mix of label input types"):
            fitted.score(X, strings)
    else:
        assert fitted.score(X, strings) == expected == 0


def test_unseen_labels_in_partial_fit_are_refused(data):
    X, y = data
    clf = RSFTClassifier(**FAST).partial_fit(X, y)
    with pytest.raises(ValueError, match=r"labels not seen during fit: \[9\]"):
        clf.partial_fit(X, np.where(y == 1, 9, 0))


def test_later_partial_fit_checks_its_classes(data):
    # As in scikit-learn: classes of a later call must be the first call's
    # (in any order); another set was once silently ignored.
    X, y = data
    clf = RSFTClassifier(**FAST).partial_fit(X, y, classes=[0, 1])
    before = clf.module_.state_dict()["layers.0.weight"].clone()
    clf.partial_fit(X, y, classes=[1, 0])
    assert not torch.equal(clf.module_.state_dict()["layers.0.weight"], before)
    with pytest.raises(ValueError, match=r"classes=\[0, 1, 2\] differs .* \[0, 1\]"):
        clf.partial_fit(X, y, classes=[0, 1, 2])


@pytest.mark.parametrize("method", ["warm_start", "partial_fit"])
@pytest.mark.parametrize(
    "params, match",
    [
        ({"rejection": "bogus"}, "rejection"),
        ({"lr": -1.0}, "lr"),
        ({"max_epochs": -1}, "max_epochs"),
        ({"pool_size": 0}, "pool_size"),
        ({"target_power": -1.0}, "target_power"),
    ],
)
def test_continued_training_checks_changed_parameters(data, method, params, match):
    # Only the first fit checked them: lr=-1 then ran gradient ascent, and
    # rejection="bogus" trained as an unguarded mix of the modes.
    X, y = data
    clf = RSFTClassifier(**FAST, warm_start=method == "warm_start")
    clf = clf.fit(X, y) if method == "warm_start" else clf.partial_fit(X, y)
    before = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    clf.set_params(**params)
    with pytest.raises(InvalidParameterError, match=match):
        clf.fit(X, y) if method == "warm_start" else clf.partial_fit(X, y)
    assert all(torch.equal(v, before[k]) for k, v in clf.module_.state_dict().items())


def test_continued_training_warns_that_it_keeps_the_class_weights(data):
    X, y = data
    clf = RSFTClassifier(**FAST).partial_fit(X, y)
    weights = clf.class_target_weight_.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.partial_fit(X, y)
    clf.set_params(target="uniform")
    with pytest.warns(UserWarning, match="keeps the weights of its first fit"):
        clf.partial_fit(X, y)
    np.testing.assert_array_equal(clf.class_target_weight_, weights)
    # A fresh fit takes the new setting.
    np.testing.assert_allclose(clf.fit(X, y).class_target_weight_, [1.0, 1.0])


def test_warm_start_refit_with_other_classes_is_refused(data):
    X, y = data
    clf = RSFTClassifier(**FAST, warm_start=True).fit(X, y)
    clf.set_params(classes=[1, 0])
    with pytest.raises(ValueError, match=r"classes=\[1, 0\] differs .*\[0, 1\]"):
        clf.fit(X, y)
    clf.set_params(classes=[0, 1])
    assert clf.fit(X, y).classes_.tolist() == [0, 1]


def test_nll_criterion_on_a_logits_network_names_the_fix(data):
    # On the default MLP it is refused before training: NLLLoss trained on
    # its logits (the loss fell without bound), and predict refused after.
    X, y = data
    with pytest.raises(ValueError, match="default MLPModule returns logits"):
        RSFTClassifier(**FAST, criterion=torch.nn.NLLLoss).fit(X, y)

    class Logits(torch.nn.Module):
        def __init__(self, hidden_layer_sizes=None):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)

        def forward(self, X):
            return self.linear(X)

    # A module of one's own is the user's to know: named at prediction.
    clf = RSFTClassifier(Logits, **FAST, criterion=torch.nn.NLLLoss).fit(X, y)
    with pytest.raises(ValueError, match="must end in a softmax or log-softmax"):
        clf.predict_proba(X)


@pytest.mark.parametrize(
    "fit_kwargs, params",
    [
        ({"sample_weight": np.ones(60)}, {}),
        ({}, {"rejection": "budget", "budget": 0.5}),
    ],
    ids=["sample-weight", "budget"],
)
def test_scoring_callbacks_see_skorch_batches(data, fit_kwargs, params):
    # Training batches carry weights as a third element; skorch's scoring
    # callbacks (the default valid_acc, on_train scorers) refused them.
    from skorch.callbacks import BatchScoring, EpochScoring

    X, y = data
    clf = RSFTClassifier(
        **FAST,
        **params,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[
            ("train_acc", EpochScoring("accuracy", on_train=True, name="train_acc")),
            ("batch_acc", BatchScoring("accuracy", on_train=True, name="batch_acc")),
        ],
    ).fit(X, y, **fit_kwargs)
    for key in ("valid_acc", "train_acc", "batch_acc"):
        assert all(0 <= value <= 1 for value in clf.history[:, key])
    assert np.isfinite(clf.history[:, "valid_loss"]).all()


@pytest.mark.parametrize("rejection", ["epoch", "pool", "sample"])
def test_training_scorer_of_an_epoch_that_trained_no_row_is_nan(data, rejection):
    # skorch's EpochScoring(on_train=True) scores the predictions cached from
    # the epoch's training batches; an epoch whose rows were all rejected has
    # none, and the scoring failed ("need at least one array to
    # concatenate"). It records NaN, never the best, as train_loss does.
    from skorch.callbacks import EpochScoring

    X, y = data
    clf = RSFTClassifier(
        **{**FAST, "max_epochs": 3},
        rejection=rejection,
        M=1e30,
        warmup_epochs=1,
        callbacks=[
            ("train_acc", EpochScoring("accuracy", on_train=True, name="train_acc"))
        ],
    )
    # (Under "sample" every batch accepted nothing, and their predictions,
    # of a network that took no step, were scored as the best.)
    with pytest.warns(UserWarning, match="(trained on|accepted) no row"):
        clf.fit(X, y)
    scores = clf.history[:, "train_acc"]
    assert 0 < scores[0] <= 1
    assert np.isnan(scores[1:]).all()
    assert clf.history[:, "train_acc_best"] == [True, False, False]
    assert dict(clf.callbacks_)["train_acc"].best_score_ == scores[0]


@pytest.mark.parametrize("rejection", ["epoch", "pool", "sample"])
def test_an_epoch_without_a_step_keeps_the_rule_of_the_network(data, rejection):
    # Epochs whose rows were all rejected leave the network of the warm-up,
    # but predict_proba inverted their rule (M=1e30 here): the output of the
    # warm-up's network, corrected as if it had trained under that M.
    X, y = data
    params = dict(FAST, rejection=rejection, M=1e30, warmup_epochs=1)
    warm_up = RSFTClassifier(**{**params, "max_epochs": 1}).fit(X, y)
    with pytest.warns(UserWarning, match="no row"):
        starved = RSFTClassifier(**{**params, "max_epochs": 3}).fit(X, y)
    for got, want in zip(starved.module_.parameters(), warm_up.module_.parameters()):
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    assert starved.final_M_ is None
    np.testing.assert_array_equal(starved.predict_proba(X), warm_up.predict_proba(X))


def test_the_advice_of_a_starved_epoch_names_what_the_mode_reads():
    # "raise budget" was advised in modes that do not read budget.
    X = np.random.RandomState(0).randn(60, 3)
    y = np.r_[np.zeros(40, dtype=int), np.ones(20, dtype=int)]
    for rejection, advice in (
        ("pool", r"Lower M\. \(Said once"),
        ("budget", "raise budget"),
    ):
        clf = RSFTClassifier(**FAST, rejection=rejection, M=1e30, warmup_epochs=0)
        if rejection == "budget":
            clf.set_params(budget=1e-9)
        with pytest.warns(UserWarning, match=advice):
            clf.fit(X, y)


def test_the_advice_of_a_starved_epoch_under_auto_M_names_target_acceptance():
    # "Lower M." was advised with M="auto", where M is no number of the
    # user's.
    X = np.random.RandomState(0).randn(100, 3)
    y = np.r_[np.zeros(60, dtype=int), np.ones(40, dtype=int)]
    for rejection in ("sample", "pool"):
        clf = RSFTClassifier(
            **FAST,
            rejection=rejection,
            M="auto",
            target_acceptance=1e-6,
            warmup_epochs=0,
        )
        with pytest.warns(UserWarning, match=r"Raise target_acceptance\. \(Said once"):
            clf.fit(X, y)


def test_an_unknown_iterator_option_refuses_continued_training_unchanged():
    # BatchIterator refused it only once the call's classes had been counted:
    # the refused partial_fit had moved predict_proba.
    X = np.random.RandomState(0).randn(90, 3)
    y = np.arange(90) % 3
    clf = RSFTClassifier(**FAST).partial_fit(X, y)
    before = clf.predict_proba(X)
    clf.iterator_train__shufle = False  # as skorch's set_params leaves it
    with pytest.raises(TypeError, match=r"iterator_train__\*\).*\['shufle'\]"):
        clf.partial_fit(X[:30], y[:30])
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_partial_fit_refuses_constructor_classes_set_after_the_first_call():
    # A warm_start fit refused them; partial_fit ignored them, and kept
    # predicting the first call's classes while get_params named others.
    X = np.random.RandomState(0).randn(90, 3)
    y = np.arange(90) % 3
    clf = RSFTClassifier(**FAST).partial_fit(X, y)
    clf.set_params(classes=[0, 1, 2, 3])
    with pytest.raises(
        ValueError, match=r"classes=\[0, 1, 2, 3\] differs.*partial_fit"
    ):
        clf.partial_fit(X, y)
    clf.set_params(classes=[0, 1, 2])
    clf.partial_fit(X, y)
    assert clf.predict_proba(X).shape == (90, 3)


def test_the_fitted_classes_are_a_copy_of_the_callers():
    # classes_ was the array given: editing it afterwards changed predict.
    X = np.random.RandomState(0).randn(90, 3)
    y = np.array(["a", "b"])[np.arange(90) % 2]
    for fit in ("constructor", "partial_fit"):
        classes = np.array(["a", "b"])
        if fit == "constructor":
            clf = RSFTClassifier(**FAST, classes=classes).fit(X, y)
        else:
            clf = RSFTClassifier(**FAST).partial_fit(X, y, classes=classes)
        before = clf.predict(X)
        classes[0] = "z"
        assert list(clf.classes_) == ["a", "b"]
        np.testing.assert_array_equal(clf.predict(X), before)


def test_a_users_epoch_scoring_compares_class_labels_with_predict():
    # The data hold encoded labels and predict returns the classes: the
    # scorer "accuracy" read 0.0 for labels 10, 20, 30 (and failed on str).
    from skorch.callbacks import BatchScoring, EpochScoring
    from skorch.utils import to_numpy

    rng = np.random.RandomState(0)
    X = rng.randn(300, 4)
    encoded = (X[:, 0] > 0).astype(int) + 2 * ((X[:, 1] > 1) & (X[:, 0] <= 0))
    for labels in (np.array([10, 20, 30]), np.array(["x", "y", "z"])):
        scoring = EpochScoring("accuracy", name="my_acc")
        clf = RSFTClassifier(
            **{**FAST, "max_epochs": 15},
            callbacks=[
                scoring,
                EpochScoring("accuracy", name="my_train_acc", on_train=True),
                BatchScoring("accuracy", name="my_batch_acc"),
            ],
            train_split=ValidSplit(4, stratified=True),
        ).fit(X, labels[encoded])
        valid = clf.history[-1, "valid_acc"]
        assert clf.history[-1, "my_acc"] == pytest.approx(valid)
        assert clf.history[-1, "my_batch_acc"] == pytest.approx(valid, abs=0.02)
        assert clf.history[-1, "my_acc"] > 0.3
        assert clf.history[-1, "my_train_acc"] > 0.3  # 0.0 on encoded labels
        # The user's callback gets its own extractor back.
        assert scoring.target_extractor is to_numpy


def test_predefined_validation_set_holds_raw_labels():
    # A skorch Dataset given by predefined_split holds labels as y of fit
    # does; read as indices, classes=[1, 0] scored the mirror image (and
    # labels such as "a"/"b" or 1/2 failed inside torch).
    from skorch.dataset import Dataset
    from skorch.helper import predefined_split

    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(80, dtype=int), np.ones(40, dtype=int)]
    X = (rng.randn(120, 3) + 2 * y[:, None]).astype(np.float32)
    for labels, classes in ((y, [1, 0]), (np.where(y == 1, "b", "a"), None)):
        clf = RSFTClassifier(
            **FAST,
            classes=classes,
            train_split=predefined_split(Dataset(X, labels)),
        ).fit(X, labels)
        assert clf.history[-1, "valid_acc"] == pytest.approx(clf.score(X, labels))
    with pytest.raises(ValueError, match="not seen during fit"):
        RSFTClassifier(**FAST, train_split=predefined_split(Dataset(X, y + 5))).fit(
            X, y
        )
    # Its inputs are read as those of fit: a float64 (or integer) array once
    # failed inside torch ("mat1 and mat2 must have the same dtype").
    reference = RSFTClassifier(**FAST, train_split=predefined_split(Dataset(X, y)))
    reference.fit(X, y)
    for valid in (X.astype(np.float64), pd.DataFrame(X.astype(np.float64))):
        clf = RSFTClassifier(**FAST, train_split=predefined_split(Dataset(valid, y)))
        clf.fit(X, y)
        assert clf.history[-1, "valid_loss"] == pytest.approx(
            reference.history[-1, "valid_loss"], rel=1e-6
        )
    # Of another width: named as the validation set's, and refused before a
    # fitted estimator's network is built anew.
    fitted = RSFTClassifier(**FAST).fit(X, y)
    before = fitted.predict_proba(X)
    fitted.set_params(train_split=predefined_split(Dataset(np.ones((10, 4)), y[:10])))
    with pytest.raises(ValueError, match="validation set of train_split.*4"):
        fitted.fit(X, y)
    np.testing.assert_array_equal(fitted.predict_proba(X), before)
    # So is one of a label the fit does not know.
    fitted.set_params(train_split=predefined_split(Dataset(X[:3], np.array([0, 1, 7]))))
    with pytest.raises(ValueError, match=r"validation set of train_split.*\[7\]"):
        fitted.fit(X, y)
    np.testing.assert_array_equal(fitted.predict_proba(X), before)
    assert len(fitted.history) == FAST["max_epochs"]
    # One without labels failed in torch after the first training epoch.
    fitted.set_params(train_split=predefined_split(Dataset(X[:10], None)))
    with pytest.raises(ValueError, match="validation set .* has no labels"):
        fitted.fit(X, y)
    np.testing.assert_array_equal(fitted.predict_proba(X), before)


class _WithBatchNorm(torch.nn.Module):
    def __init__(self, n_classes=2):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(5, 16),
            torch.nn.BatchNorm1d(16),
            torch.nn.ReLU(),
            torch.nn.Linear(16, n_classes),
        )

    def forward(self, X):
        return self.net(X)


def test_a_one_row_chunk_for_batchnorm_names_the_cause():
    # Nothing was rejected (M far below every acceptance), yet the warning
    # said "every row rejected ... Lower M".
    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 5).astype(np.float32), np.r_[np.zeros(40), np.ones(20)]
    clf = RSFTClassifier(
        _WithBatchNorm, max_epochs=1, warmup_epochs=0, M=0.01, random_state=0
    ).partial_fit(X[:40], y[:40], classes=[0, 1])
    with pytest.warns(
        UserWarning, match="leaves out a training batch of one row because the network"
    ):
        clf.partial_fit(X[40:41], y[40:41])


def test_epoch_mode_leaves_out_a_one_row_batch_for_batchnorm():
    # 64 rows, 4 full batches of 16; the accepted rows of an epoch may leave
    # one over, which the BatchNorm1d after a Linear layer cannot train on
    # (one value per channel; seed 5 did, in its third epoch). The pooled
    # modes already left such a batch out.
    rng = np.random.RandomState(0)
    y = rng.choice(2, size=64, p=[0.7, 0.3])
    X = (rng.randn(64, 5) + y[:, None]).astype(np.float32)
    for seed in range(8):
        clf = RSFTClassifier(
            _WithBatchNorm,
            rejection="epoch",
            M=2.0,
            max_epochs=3,
            batch_size=16,
            warmup_epochs=0,
            random_state=seed,
        ).fit(X, y)
        for epoch in clf.history:
            sizes = [batch["train_batch_size"] for batch in epoch["batches"]]
            assert all(size >= 2 for size in sizes)


def test_an_epoch_without_a_step_records_a_nan_loss(data):
    # Nothing kept: no train_loss at all, and EarlyStopping on it raised a
    # KeyError from the history.
    from skorch.callbacks import EarlyStopping

    X, y = data
    clf = RSFTClassifier(
        **FAST,
        rejection="pool",
        M=1e6,
        hardness=0.0,
        warmup_epochs=0,
        callbacks=[EarlyStopping(monitor="train_loss", patience=5)],
    )
    with pytest.warns(UserWarning, match="trained on no row"):
        clf.fit(X, y)
    assert np.isnan(clf.history[:, "train_loss"]).all()


def test_a_stop_inside_the_warm_up_warns(data):
    # EarlyStopping counts the warm-up epochs in its patience: it ended fits
    # before any epoch rejected, without a word, leaving the plain network.
    from skorch.callbacks import Callback, EarlyStopping

    X, y = data

    class StopAt(Callback):
        def __init__(self, epoch):
            self.epoch = epoch

        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == self.epoch:
                raise KeyboardInterrupt

    params = dict(FAST, max_epochs=12, warmup_epochs=6)
    with pytest.warns(
        UserWarning,
        match=(
            r"EarlyStopping \(callback 'stop'\).* epoch 3, before any epoch "
            "after the warm-up of 6 "
        ),
    ) as record:
        RSFTClassifier(
            **params,
            callbacks=[
                ("stop", EarlyStopping(monitor="train_loss", patience=2, threshold=10))
            ],
        ).fit(X, y)
    assert record[0].filename == __file__
    with pytest.warns(UserWarning, match="A callback or an interruption ended"):
        RSFTClassifier(**params, callbacks=[StopAt(2)]).fit(X, y)
    # An EarlyStopping that did not fire is not named.
    with pytest.warns(UserWarning, match="A callback or an interruption ended"):
        RSFTClassifier(
            **params, callbacks=[EarlyStopping(monitor="train_loss"), StopAt(2)]
        ).fit(X, y)
    # A stop after the warm-up, a fit of its epochs, or a stream of one-epoch
    # calls inside the warm-up does not warn.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RSFTClassifier(**params, callbacks=[StopAt(8)]).fit(X, y)
        RSFTClassifier(**{**params, "warmup_epochs": 12}).fit(X, y)
        stream = RSFTClassifier(**params)
        for _ in range(3):
            stream.partial_fit(X, y, classes=[0, 1], epochs=1)


def test_the_epoch_table_is_formatted_only_when_shown(data, monkeypatch, capsys):
    # skorch formats the row at verbose=0 too: with a column per class, most
    # of a small partial_fit went into a table nobody saw.
    from skorch.callbacks import PrintLog

    X, y = data
    rows = []
    table = PrintLog.table
    monkeypatch.setattr(
        PrintLog, "table", lambda self, row: rows.append(1) or table(self, row)
    )
    RSFTClassifier(**FAST).fit(X, y)
    assert rows == [] and capsys.readouterr().out == ""
    RSFTClassifier(**FAST, verbose=1).fit(X, y)
    assert (
        len(rows) == FAST["max_epochs"] and "acceptance_rate" in capsys.readouterr().out
    )
    # A sink of one's own gets every row whatever verbose, as in skorch.
    lines = []
    RSFTClassifier(**FAST, callbacks__print_log__sink=lines.append).fit(X, y)
    assert len(lines) == 2 + FAST["max_epochs"]


def test_first_partial_fit_classes_must_agree_with_the_constructors(data):
    # Both given: another set was once silently ignored for the constructor's.
    X, y = data
    clf = RSFTClassifier(**FAST, classes=[0, 1, 2])
    with pytest.raises(ValueError, match=r"classes=\[0, 1\] differs .*\[0, 1, 2\]"):
        clf.partial_fit(X, y, classes=[0, 1])
    # The same set in another order: the constructor's order is kept.
    with pytest.warns(UserWarning, match="not in sorted order"):
        clf = RSFTClassifier(**FAST, classes=[1, 0]).partial_fit(X, y, classes=[0, 1])
    assert clf.classes_.tolist() == [1, 0]


@pytest.mark.parametrize(
    "y_bad, match",
    [
        (np.array([1, "a"] * 30, dtype=object), "Unknown label type"),
        (np.r_[np.zeros(59), np.nan], "NaN"),
        (np.linspace(0, 1, 60), "continuous"),
        (np.zeros((60, 2)), "1d array"),
    ],
    ids=["mixed-types", "nan", "continuous", "2d"],
)
def test_bad_labels(data, y_bad, match):
    X, _ = data
    with pytest.raises(ValueError, match=match):
        RSFTClassifier(**FAST).fit(X, y_bad)


# ----------------------------------------------------------------------------
# Imbalance and training settings
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def ir1000():
    rng = np.random.RandomState(3)
    n_major, n_minor = 3000, 3
    X = rng.randn(n_major + n_minor, 4)
    y = np.r_[np.zeros(n_major, dtype=int), np.ones(n_minor, dtype=int)]
    X[y == 1] += 4.0
    return X, y


@pytest.mark.parametrize(
    "params",
    [{}, {"hardness": 0.0}, {"rejection": "expected"}, {"M": 5.0}],
    ids=["default", "hardness0", "expected", "M5"],
)
def test_imbalance_ratio_1000(ir1000, params):
    # Batches of 64 from 3003 rows: at least 44 of the 47 batches of every
    # epoch hold no minority sample, and most of those accept nothing.
    X, y = ir1000
    clf = RSFTClassifier(
        **{
            **FAST,
            **SAMPLE_RULE,
            "batch_size": 64,
            "max_epochs": 3,
            "lr": 1e-2,
            **params,
        }
    ).fit(X, y)
    assert _finite(clf)
    # Finite wherever a row was accepted; an epoch of no accepted row (M=5
    # can reject every row of an epoch here) records NaN, and warned.
    accepted = np.array(clf.history[:, "acceptance_rate"]) > 0
    losses = np.array(clf.history[:, "train_loss"])
    assert np.isfinite(losses[accepted]).all()
    assert np.isnan(losses[~accepted]).all()
    assert clf.class_target_weight_ == pytest.approx([1 / 1000, 1.0])
    minority = clf.history[:, "acceptance_rate[1]"]
    majority = clf.history[:, "acceptance_rate[0]"]
    if params.get("M", 1.0) == 1.0:
        # w = 1 and M = 1 give a = 1 for the minority, whatever p is.
        assert minority == [1.0] * 3
    assert max(majority) < 0.05
    proba = clf.predict_proba(X)
    assert np.all(np.isfinite(proba))
    assert proba[y == 1, 1].mean() > proba[y == 0, 1].mean()


def test_batch_size_larger_than_the_data(data):
    X, y = data
    big = RSFTClassifier(**{**FAST, "batch_size": 1000}).fit(X, y)
    exact = RSFTClassifier(**{**FAST, "batch_size": len(y)}).fit(X, y)
    whole = RSFTClassifier(**{**FAST, "batch_size": -1}).fit(X, y)
    assert _same_model(big, exact) and _same_model(big, whole)
    assert [len(row["batches"]) for row in big.history] == [1, 1]


def test_zero_epochs_gives_the_untrained_network(data):
    X, y = data
    clf = RSFTClassifier(**{**FAST, "max_epochs": 0}).fit(X, y)
    assert len(clf.history) == 0
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= {0, 1}
    # The same network as the first step of a one-epoch fit starts from.
    again = RSFTClassifier(**{**FAST, "max_epochs": 0}).fit(X, y)
    assert _same_model(clf, again)
    trained = RSFTClassifier(**{**FAST, "max_epochs": 1}).fit(X, y)
    assert not _same_model(clf, trained)
    # Training can go on from there.
    clf.set_params(max_epochs=1).partial_fit(X, y)
    assert _same_model(clf, trained)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"max_epochs": -1}, "max_epochs"),
        ({"max_epochs": 1.5}, "max_epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": -2}, "batch_size"),
    ],
)
def test_bad_training_settings(data, params, match):
    with pytest.raises(InvalidParameterError, match=match):
        RSFTClassifier(**{**FAST, **params}).fit(*data)


@pytest.mark.parametrize(
    "lr, match",
    [(-0.1, "'lr' parameter"), (float("nan"), "'lr' parameter"), ("0.1", "'lr'")],
)
def test_bad_learning_rate_is_named(data, lr, match):
    # Not a TypeError from inside the optimiser's constructor.
    with pytest.raises(InvalidParameterError, match=match):
        RSFTClassifier(**{**FAST, "lr": lr}).fit(*data)


def test_tensor_learning_rate_trains_as_the_float(data):
    as_float = RSFTClassifier(**{**FAST, "lr": 0.01}).fit(*data)
    as_tensor = RSFTClassifier(**{**FAST, "lr": torch.tensor(0.01)}).fit(*data)
    # The optimiser takes a tensor rate in float32 arithmetic: the same
    # steps up to rounding.
    for key, value in as_float.module_.state_dict().items():
        torch.testing.assert_close(
            as_tensor.module_.state_dict()[key], value, rtol=0, atol=1e-6
        )


@pytest.mark.parametrize(
    "device, match",
    [
        (None, "device=None is not supported"),
        ("gpu", "device='gpu' is not a torch device: Expected one of"),
        ("meta", "device='meta' holds no data"),
    ],
)
def test_bad_device_is_named(data, device, match):
    with pytest.raises(ValueError, match=match):
        RSFTClassifier(**{**FAST, "device": device}).fit(*data)
    # skorch's own entry point too, before any generator is made.
    with pytest.raises(ValueError, match=match):
        RSFTClassifier(**{**FAST, "device": device}).initialize()


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is available here")
def test_cuda_without_cuda_is_a_clear_error(data):
    for device in ("cuda", "cuda:1"):
        with pytest.raises(ValueError, match="CUDA is not available to this PyTorch"):
            RSFTClassifier(**{**FAST, "device": device}).fit(*data)


@pytest.mark.skipif(torch.xpu.is_available(), reason="XPU is available here")
def test_another_missing_backend_is_a_clear_error(data):
    # torch's own error from the masks' generator, naming no parameter.
    for device in ("xpu", "hip"):
        with pytest.raises(ValueError, match=f"device='{device}' was requested"):
            RSFTClassifier(**{**FAST, "device": device}).fit(*data)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_beyond_the_visible_devices(data):
    device = f"cuda:{torch.cuda.device_count()}"
    with pytest.raises(ValueError, match="CUDA device\\(s\\) are visible"):
        RSFTClassifier(**{**FAST, "device": device}).fit(*data)


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="MPS is available here")
def test_mps_without_mps_is_a_clear_error(data):
    with pytest.raises(ValueError, match="MPS backend is not available"):
        RSFTClassifier(**{**FAST, "device": "mps"}).fit(*data)


class FocalLoss(torch.nn.Module):
    """A per-sample focal loss on logits, as a user would write one."""

    def __init__(self, gamma=2.0, reduction="mean"):
        super().__init__()
        self.gamma, self.reduction = gamma, reduction

    def forward(self, logits, y):
        log_p = torch.log_softmax(logits, dim=-1).gather(1, y[:, None])[:, 0]
        losses = -((1 - log_p.exp()) ** self.gamma) * log_p
        return losses if self.reduction == "none" else losses.mean()


@pytest.mark.parametrize("criterion", [FocalLoss, torch.nn.MultiMarginLoss])
@pytest.mark.parametrize("probability", ["balanced", "raw"])
def test_any_criterion_predicts_probabilities(data, criterion, probability):
    # The rule reads the output as logits whatever the criterion, so
    # predict_proba is their softmax (skorch's "auto" gives the identity
    # for criteria other than CrossEntropyLoss, and predict used to fail).
    X, y = data
    clf = RSFTClassifier(criterion=criterion, probability=probability, **FAST)
    proba = clf.fit(X, y).predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert (proba >= 0).all() and (proba <= 1).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(clf.predict(X)) <= set(clf.classes_)
    if probability == "raw":
        logits = clf.forward(X).numpy()
        np.testing.assert_allclose(
            proba, torch.softmax(torch.as_tensor(logits), -1).numpy(), rtol=1e-5
        )


def test_raw_output_cannot_be_corrected(data):
    X, y = data
    clf = RSFTClassifier(predict_nonlinearity=None, **FAST).fit(X, y)
    with pytest.raises(ValueError, match="predict_nonlinearity=None is not prob"):
        clf.predict(X)
    # probability="raw" returns the output as it is, as in skorch.
    raw = RSFTClassifier(predict_nonlinearity=None, probability="raw", **FAST)
    out = raw.fit(X, y).predict_proba(X)
    np.testing.assert_allclose(out, raw.forward(X).numpy(), rtol=1e-6)


def test_forward_takes_what_predict_proba_takes(data, fitted):
    # skorch's forward on a float64 array (what fit and predict accept) once
    # crashed in torch on the dtype; a wrong width is named.
    X, _ = data
    out = fitted.forward(X)
    assert out.dtype == torch.float32 and out.shape == (len(X), 2)
    torch.testing.assert_close(out, fitted.forward(X.astype(np.float32)))
    with pytest.raises(ValueError, match="features"):
        fitted.forward(X[:, :2])
    # A tensor goes to the network as it is, as in skorch.
    tensor = torch.as_tensor(X, dtype=torch.float32)
    torch.testing.assert_close(fitted.forward(tensor), out)


def test_partial_fit_sorts_its_classes_as_scikit_learn_does(data):
    # classes=[1, 0] to partial_fit was kept as classes_ = [1, 0], so that
    # scikit-learn's roc_auc scorer returned 1 - AUC and CalibratedClassifierCV
    # failed; scikit-learn's own partial_fit sorts them.
    from sklearn.metrics import get_scorer, roc_auc_score

    X, y = data
    clf = RSFTClassifier(**FAST).partial_fit(X, y, classes=[1, 0])
    assert clf.classes_.tolist() == [0, 1]
    auc = roc_auc_score(y, clf.predict_proba(X)[:, 1])
    assert auc > 0.5
    assert get_scorer("roc_auc")(clf, X, y) == pytest.approx(auc)
    labels = np.where(y == 1, "pos", "neg")
    clf = RSFTClassifier(**FAST).partial_fit(X, labels, classes=["pos", "neg"])
    assert clf.classes_.tolist() == ["neg", "pos"]


def test_constructor_classes_out_of_order_warn_and_keep_their_order(data):
    X, y = data
    with pytest.warns(UserWarning, match=r"classes=\[1, 0\] is not in sorted order"):
        clf = RSFTClassifier(**FAST, classes=[1, 0]).fit(X, y)
    assert clf.classes_.tolist() == [1, 0]
    # Sorted classes, or none, fit without a word.
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        RSFTClassifier(**FAST, classes=[0, 1]).fit(X, y)
        RSFTClassifier(**FAST).partial_fit(X, y, classes=[1, 0])


def test_labels_outside_given_classes_name_the_classes(data):
    # The fit said "labels not seen during fit", which reads as a predict
    # error and does not point at classes=.
    X, y = data
    with pytest.raises(ValueError, match=r"not among the classes given as classes="):
        RSFTClassifier(**FAST, classes=["neg", "pos"]).fit(X, y)
    with pytest.raises(ValueError, match=r"classes=\[0, 2\]: \[1\]"):
        RSFTClassifier(**FAST).partial_fit(X, y, classes=[0, 2])


def test_classes_of_two_dimensions_are_named_as_such(data):
    # They were refused as "must list at least two class labels".
    X, y = data
    with pytest.raises(
        ValueError, match=r"1-d list of class labels, .* shape \(1, 2\)"
    ):
        RSFTClassifier(**FAST, classes=[[0, 1]]).fit(X, y)


def test_labels_encoded_by_a_meta_estimator_name_the_cause(data):
    # StackingClassifier and the like fit their estimators on labels encoded
    # as 0 .. K-1: with classes= naming the real labels, the error told the
    # user to list the labels of y in classes, which they had done.
    from sklearn.ensemble import StackingClassifier
    from sklearn.linear_model import LogisticRegression

    X, y = data
    labels = np.array(["neg", "pos"])[y]
    stack = StackingClassifier(
        [("rsft", RSFTClassifier(**FAST, classes=["neg", "pos"]))],
        final_estimator=LogisticRegression(),
        cv=2,
    )
    with pytest.raises(ValueError, match="use classes=None inside it"):
        stack.fit(X, labels)
    # Integer labels that overlap the encoded ones, too.
    stack.set_params(rsft__classes=[1, 2])
    with pytest.raises(ValueError, match="use classes=None inside it"):
        stack.fit(X, y + 1)
    stack.set_params(rsft__classes=None).fit(X, labels)
    assert set(stack.predict(X)) <= {"neg", "pos"}


@pytest.mark.parametrize("shape", [(1, 4, 4), (4, 4)])
def test_default_mlp_flattens_nd_rows(shape):
    # The default MLP was sized from X.shape[1] and crashed inside torch on
    # images ("mat1 and mat2 shapes cannot be multiplied").
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40, dtype=int), np.ones(20, dtype=int)]
    X = rng.randn(len(y), *shape).astype(np.float32)
    X[y == 1] += 1.0
    clf = RSFTClassifier(**FAST).fit(X, y)
    assert clf.module_.layers[0].in_features == 16
    assert clf.n_features_in_ == shape[0]
    flat = RSFTClassifier(**FAST).fit(X.reshape(len(y), -1), y)
    np.testing.assert_allclose(
        clf.predict_proba(X), flat.predict_proba(X.reshape(len(y), -1)), rtol=1e-5
    )


def test_nd_rows_of_another_shape_are_refused_at_predict():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40, dtype=int), np.ones(20, dtype=int)]
    clf = RSFTClassifier(**FAST).fit(rng.randn(len(y), 2, 2), y)
    for other in (rng.randn(5, 2, 3), rng.randn(5, 2)):
        with pytest.raises(
            ValueError, match=r"rows of shape .* fitted on rows of shape \(2, 2\)"
        ):
            clf.predict(other)


class _TwoInputs(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = torch.nn.Linear(3, 2), torch.nn.Linear(3, 2)

    def forward(self, a, b):
        return self.a(a) + self.b(b)


def test_read_only_inputs_fit_without_torch_warnings(data):
    # Memory maps and pandas copy-on-write views are read-only; torch warned
    # "The given NumPy array is not writable" from inside the library.
    X, y = data
    X = np.array(X, dtype=np.float32)
    X.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = RSFTClassifier(**FAST).fit(X, y)
        clf.predict_proba(X)
        RSFTClassifier(_TwoInputs, max_epochs=1).fit({"a": X, "b": X}, y)
    assert not X.flags.writeable


def test_read_only_inputs_leave_the_warning_filters_alone(data, monkeypatch):
    # The torch warning was silenced inside warnings.catch_warnings(), which
    # swaps the process's filter list: a predict in one thread (a server
    # reading request bodies with np.frombuffer) dropped the filters other
    # threads installed meanwhile (266 of 300 in one run), and could leave
    # its "ignore" behind. (scikit-learn's check_array enters one too, for a
    # moment, as for any of its estimators: only the library's own count
    # here.) The memory is still shared, not copied.
    X, y = data
    X = np.frombuffer(np.asarray(X, dtype=np.float32).tobytes(), dtype=np.float32)
    X = X.reshape(len(y), -1)
    assert not X.flags.writeable
    clf = RSFTClassifier(**FAST).fit(X, y)
    swaps = []

    class Recorder(warnings.catch_warnings):
        def __enter__(self):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("rsft_sklearn"):
                swaps.append(caller)
            return super().__enter__()

    monkeypatch.setattr(warnings, "catch_warnings", Recorder)
    proba = clf.predict_proba(X)
    clf.fit(X, y)
    RSFTClassifier(_TwoInputs, max_epochs=1).fit({"a": X, "b": X}, y)
    assert swaps == []
    monkeypatch.undo()
    np.testing.assert_allclose(clf.predict_proba(X.copy()), proba)
    assert clf.get_dataset(X).X.data_ptr() == X.ctypes.data

    # Where DLPack refuses read-only arrays (NumPy before 2.1), the memory
    # is shared through a writeable alias, not under catch_warnings.
    def refuse(array):
        raise BufferError("Cannot export readonly array since signalling readonly")

    monkeypatch.setattr(torch, "from_dlpack", refuse)
    monkeypatch.setattr(warnings, "catch_warnings", Recorder)
    with Recorder(record=True) as caught:
        warnings.simplefilter("always")
        np.testing.assert_allclose(clf.predict_proba(X), proba)
        assert clf.get_dataset(X).X.data_ptr() == X.ctypes.data
    assert swaps == []
    assert not [w for w in caught if "not writable" in str(w.message)]
    monkeypatch.undo()
    # An array of the other byte order (which DLPack cannot share) is read
    # too, as a copy.
    swapped = X.astype(X.dtype.newbyteorder())
    swapped.flags.writeable = False
    np.testing.assert_allclose(clf.predict_proba(swapped), proba)


def test_a_refit_on_a_dataset_forgets_the_array_row_shape():
    # The row shape of an earlier fit on arrays survived a refit on a torch
    # Dataset and refused arrays of the new width at predict.
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40, dtype=int), np.ones(20, dtype=int)]
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(rng.randn(60, 3), y)

    class Rows(torch.utils.data.Dataset):
        def __init__(self, X):
            self.X = torch.as_tensor(X, dtype=torch.float32)

        def __len__(self):
            return len(self.X)

        def __getitem__(self, i):
            return self.X[i]

    clf.set_params(module=torch.nn.Linear(4, 2)).fit(Rows(rng.randn(60, 4)), y)
    assert clf.predict(rng.randn(5, 4).astype(np.float32)).shape == (5,)


def test_the_unsorted_classes_warning_points_at_the_callers_line(data):
    X, y = data
    with pytest.warns(UserWarning, match="not in sorted order") as record:
        RSFTClassifier(**FAST, classes=[1, 0]).fit(X, y)
    assert record[0].filename == __file__


@pytest.mark.parametrize(
    ("params", "match"),
    [
        # Raised at the end of an epoch, from skorch's loop.
        (dict(rejection="pool", M=1e30, warmup_epochs=0), "trained on no row"),
        (dict(rejection="sample", M=1e30, warmup_epochs=0), "accepted no row"),
        # Raised while skorch builds the criterion.
        (dict(criterion__weight=torch.tensor([1.0, 2.0])), "criterion__weight"),
    ],
)
def test_warnings_of_training_point_at_the_callers_line(data, params, match):
    # They pointed at the library's or skorch's lines.
    from sklearn.model_selection import cross_val_score

    X, y = data
    with pytest.warns(UserWarning, match=match) as record:
        RSFTClassifier(**{**FAST, **params}).fit(X, y)
    assert {warning.filename for warning in record} == {__file__}
    # Through a scikit-learn search too.
    with pytest.warns(UserWarning, match=match) as record:
        cross_val_score(RSFTClassifier(**{**FAST, **params}), X, y, cv=2)
    assert {warning.filename for warning in record} == {__file__}


def test_valid_acc_without_cached_predictions():
    # Without caching skorch handed the validation rows over without their
    # labels: valid_acc read 0.0, and with sample weights the fit crashed
    # ("Row 0 of the dataset has 3 items").
    from skorch.dataset import ValidSplit

    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(120, dtype=int), np.ones(80, dtype=int)]
    X = rng.randn(len(y), 3) + y[:, None]
    weight = rng.uniform(0.5, 1.5, len(y))
    for fit_params in ({}, {"sample_weight": weight}):
        scores = []
        for caching in ("auto", False):
            clf = RSFTClassifier(
                **FAST,
                train_split=ValidSplit(5, stratified=True),
                callbacks__valid_acc__use_caching=caching,
            ).fit(X, y, **fit_params)
            scores.append(clf.history[:, "valid_acc"])
        assert scores[0] == pytest.approx(scores[1]) and min(scores[1]) > 0.5


@pytest.mark.parametrize("accepts_sparse", [True, False])
def test_valid_acc_without_cached_predictions_on_sparse_rows(accepts_sparse):
    # The validation rows were taken in one block: a sparse tensor of all of
    # them, which torch cannot slice (NotImplementedError from as_strided),
    # or, for a module of dense batches, every row densified at once.
    import scipy.sparse as sp
    from skorch.dataset import ValidSplit

    from rsft_sklearn import MLPModule

    class Module(MLPModule):
        pass

    Module.accepts_sparse = accepts_sparse
    rng = np.random.RandomState(0)
    X = sp.random(600, 12, density=0.3, format="csr", random_state=rng)
    y = np.asarray(X[:, :2].toarray().argmax(1)).ravel()
    blocks = []
    densify = sp.csr_matrix.toarray

    def counted(matrix, *args, **kwargs):
        blocks.append(matrix.shape[0])
        return densify(matrix, *args, **kwargs)

    scores = []
    for data in (X.toarray(), X):
        for caching in ("auto", False):
            clf = RSFTClassifier(
                **{**FAST, "batch_size": 32},
                module=Module,
                module__n_features=12,
                module__n_classes=2,
                train_split=ValidSplit(5),
                callbacks__valid_acc__use_caching=caching,
            )
            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(sp.csr_matrix, "toarray", counted)
                clf.fit(data, y)
            scores.append(clf.history[:, "valid_acc"])
    assert all(score == pytest.approx(scores[0]) for score in scores)
    assert min(scores[0]) > 0.5
    assert max(blocks, default=0) <= 32


@pytest.mark.parametrize("rejection", ["expected", "sample", "pool", "epoch"])
def test_batchnorm_leaves_out_a_one_row_last_batch_in_every_epoch(rejection):
    # In warm-up epochs (and under "expected" and "sample" always) a last
    # batch of one row reached BatchNorm, which fails on it in training.
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(100, dtype=int), np.ones(61, dtype=int)]
    X = rng.randn(len(y), 5).astype(np.float32)
    clf = RSFTClassifier(
        _WithBatchNorm, rejection=rejection, batch_size=32, max_epochs=3
    ).fit(X, y)
    sizes = [b["train_batch_size"] for e in clf.history for b in e["batches"]]
    assert min(sizes) >= 2


@pytest.mark.parametrize(
    "params",
    [
        {"rejection": "expected"},
        {"rejection": "sample"},
        {"rejection": "sample", "compact": True},
    ],
)
def test_batchnorm_leaves_out_a_one_row_last_batch_of_a_torch_dataset(params):
    # Only the in-memory batches left it out: from a torch Dataset it
    # reached BatchNorm ("Expected more than 1 value per channel when
    # training"). The loader drops it; a full last batch is kept.
    rng = np.random.RandomState(0)
    X = rng.randn(162, 5).astype(np.float32)
    y = np.r_[np.zeros(100, dtype=int), np.ones(62, dtype=int)]

    class Rows(torch.utils.data.Dataset):
        def __init__(self, n):
            self.n = n

        def __len__(self):
            return self.n

        def __getitem__(self, i):
            return torch.from_numpy(X[i])

    for n, expected in ((161, [32] * 5), (162, [32] * 5 + [2])):
        clf = RSFTClassifier(
            _WithBatchNorm,
            **params,
            batch_size=32,
            max_epochs=2,
            random_state=0,
            iterator_train__shuffle=False,
        ).fit(Rows(n), y[:n])
        for epoch in clf.history:
            assert [b["train_batch_size"] for b in epoch["batches"]] == expected


def test_an_epoch_of_no_full_batch_under_drop_last_names_it():
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(100, dtype=int), np.ones(60, dtype=int)]
    X = rng.randn(len(y), 3).astype(np.float32)
    # A batch as large as nearly every row: the rows the pool keeps fill
    # none. (batch_size=-1 is the whole set, which drop_last never drops.)
    clf = RSFTClassifier(
        rejection="pool",
        batch_size=len(y) - 1,
        iterator_train__drop_last=True,
        warmup_epochs=0,
        M=2.0,
        max_epochs=2,
    )
    with pytest.warns(UserWarning, match="drop_last=True leaves out"):
        clf.fit(X, y)


class _SoftmaxNet(torch.nn.Module):
    def __init__(self, final_softmax=True):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)
        self.final_softmax = final_softmax

    def forward(self, X):
        out = self.lin(X)
        return torch.softmax(out, dim=1) if self.final_softmax else out


def test_a_network_that_returns_probabilities_to_a_logit_criterion_warns(data):
    # It trained on softmax(softmax(...)) without a word: the largest
    # probability of three clear classes was stuck at e / (e + 2).
    X, y = data
    X = np.asarray(X, dtype=np.float32)
    with pytest.warns(UserWarning, match="network returns probabilities"):
        RSFTClassifier(_SoftmaxNet, max_epochs=2).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        RSFTClassifier(_SoftmaxNet, module__final_softmax=False, max_epochs=2).fit(X, y)
        RSFTClassifier(_SoftmaxNet, criterion=torch.nn.NLLLoss, max_epochs=2).fit(X, y)


def test_class_weights_in_the_criterion_warn_that_they_stack(data):
    X, y = data
    weight = torch.tensor([1.0, 9.0])
    with pytest.warns(UserWarning, match="target weights.*balanced more than once"):
        RSFTClassifier(**FAST, criterion__weight=weight).fit(X, y)
    # A uniform target leaves the logit adjustment and the balanced
    # posterior, which balance the classes too: the setup the warning once
    # recommended balanced twice without a word.
    with pytest.warns(UserWarning, match=r"logit adjustment \(prior_correction=1"):
        RSFTClassifier(**FAST, target="uniform", criterion__weight=weight).fit(X, y)
    with pytest.warns(UserWarning, match="balanced correction, so they are"):
        RSFTClassifier(
            **FAST, target="uniform", prior_correction=0, criterion__weight=weight
        ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        RSFTClassifier(
            **FAST,
            target="uniform",
            prior_correction=0,
            probability="raw",
            criterion__weight=weight,
        ).fit(X, y)


def test_first_hour_mistakes_get_messages_in_the_users_terms(data):
    from sklearn.utils._param_validation import InvalidParameterError

    from rsft_sklearn import MLPModule

    X, y = data
    with pytest.raises(InvalidParameterError, match="'optimizer' parameter"):
        RSFTClassifier(**FAST, optimizer="adam").fit(X, y)
    with pytest.raises(TypeError, match="criterion must be a loss module"):
        RSFTClassifier(**FAST, criterion=torch.nn.functional.cross_entropy).fit(X, y)
    with pytest.raises(ValueError, match="X holds text .* TfidfVectorizer"):
        RSFTClassifier(**FAST).fit(np.array([["good film"], ["bad"]] * 30), y)
    # The default MLP's class is sized from the data, as module=None is.
    clf = RSFTClassifier(**FAST, module=MLPModule).fit(X, y)
    assert clf.module_.layers[0].in_features == X.shape[1]


def test_criterion_factories_build_and_loss_functions_are_named(data):
    import functools

    X, y = data
    factory = RSFTClassifier(
        **FAST, criterion=lambda **kw: torch.nn.CrossEntropyLoss(**kw)
    ).fit(X, y)
    assert isinstance(factory.criterion_.base_criterion, torch.nn.CrossEntropyLoss)
    partial = functools.partial(torch.nn.functional.cross_entropy)
    with pytest.raises(TypeError, match="criterion must be a loss module"):
        RSFTClassifier(**FAST, criterion=partial).fit(X, y)
    with pytest.raises(TypeError, match="optimizer is None"):
        RSFTClassifier(**FAST, optimizer=None).fit(X, y)


class _ScaledLoss(torch.nn.Module):
    """A per-sample loss whose ``weight`` is a scale, not class weights."""

    def __init__(self, reduction="none"):
        super().__init__()
        self.reduction = reduction
        self.weight = torch.nn.Parameter(torch.tensor(1.0), requires_grad=False)

    def forward(self, logits, y):
        return self.weight * torch.nn.functional.cross_entropy(
            logits, y, reduction="none"
        )


def test_the_probability_and_weight_warnings_stay_quiet_where_they_should(data):
    X, y = data
    X = np.asarray(X, dtype=np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        RSFTClassifier(**FAST, criterion=_ScaledLoss).fit(X, y)
    # Continued training does not warn again about a softmax output.
    clf = RSFTClassifier(_SoftmaxNet, max_epochs=1)
    with pytest.warns(UserWarning, match="network returns probabilities"):
        clf.partial_fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        clf.partial_fit(X, y)


class _NaNAfter(torch.nn.Module):
    """A network whose output turns NaN after ``calls`` forward passes."""

    def __init__(self, n_features=3, n_classes=2, calls=6):
        super().__init__()
        self.layer = torch.nn.Linear(n_features, n_classes)
        self.calls = calls
        self.seen = 0

    def forward(self, X):
        self.seen += 1
        out = self.layer(X)
        return out * float("nan") if self.seen > self.calls else out


def test_a_network_whose_output_stops_being_finite_is_an_error_under_sample(data):
    # Under rejection="sample" a NaN acceptance rejects its row, every step
    # was skipped and the parameters stayed finite: the fit ended without a
    # word, and predict then blamed predict_nonlinearity.
    X, y = data
    params = {**FAST, **SAMPLE_RULE, "max_epochs": 4, "module": _NaNAfter}
    del params["module__hidden_layer_sizes"]
    with pytest.raises(ValueError, match="had a non-finite loss"):
        RSFTClassifier(**params).fit(X.astype(np.float32), y)
    # Diverging: one check or the other stops it.
    with pytest.raises(ValueError, match="non-finite loss|stopped being finite"):
        RSFTClassifier(
            **{**FAST, **SAMPLE_RULE, "lr": 1e6, "optimizer": torch.optim.SGD}
        ).fit(X, y)


class _NaNAtInference(torch.nn.Module):
    """NaN outputs, in evaluation mode only, on rows with a large first
    feature."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(3, 2)

    def forward(self, X):
        z = self.linear(X)
        if self.training:
            return z
        return torch.where(X[:, :1] > 1.0, torch.full_like(z, float("nan")), z)


def test_predict_refuses_nan_rows_under_raw_probabilities(data):
    # predict_proba passes the raw output on, and predict gave every NaN row
    # the first class (argmax reads NaN as the largest value).
    X, y = data
    X = np.asarray(X, dtype=np.float32)
    n_bad = int((X[:, 0] > 1.0).sum())
    assert 0 < n_bad < len(X)
    clf = RSFTClassifier(
        _NaNAtInference, max_epochs=2, random_state=0, probability="raw"
    ).fit(X, y)
    assert np.isnan(clf.predict_proba(X)).any()
    with pytest.raises(ValueError, match=f"NaN values on {n_bad} of {len(X)} rows"):
        clf.predict(X)
    good = X[X[:, 0] <= 1.0]
    assert len(clf.predict(good)) == len(good)


def test_predict_names_a_non_finite_output(data, fitted):
    X, _ = data
    clf = RSFTClassifier(**FAST).fit(*data)
    with torch.no_grad():
        clf.module_.layers[-1].bias.fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite values"):
        clf.predict_proba(X)


def test_an_epoch_that_accepts_no_row_warns_under_sample(data):
    X, y = data
    with pytest.warns(UserWarning, match="accepted no row, so it took no step"):
        RSFTClassifier(**{**FAST, **SAMPLE_RULE, "M": 1e9}).fit(X, y)


@pytest.mark.parametrize("rejection", ["expected", "sample", "pool"])
def test_an_epoch_on_weightless_training_rows_warns_and_reads_nan(data, rejection):
    # A validation split that leaves the training part all of weight 0: the
    # default rule and every warm-up epoch reported a train_loss of 0 (the
    # best epoch for EarlyStopping or Checkpoint) without a word.
    from torch.utils.data import Subset

    X, y = data
    n = len(y)
    # Even rows train (both classes), odd rows validate.
    train, valid = np.arange(0, n, 2), np.arange(1, n, 2)
    weight = np.zeros(n)
    weight[valid] = 1.0

    def split(dataset, y=None, **kwargs):
        return Subset(dataset, train), Subset(dataset, valid)

    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        clf = RSFTClassifier(
            **{**FAST, "max_epochs": 3, "warmup_epochs": 1},
            rejection=rejection,
            train_split=split,
        ).fit(X, y, sample_weight=weight)
    assert np.isnan(clf.history[:, "train_loss"]).all()
    messages = [str(r.message) for r in records]
    assert any(
        "An epoch trained on no row (every training row weighs 0)" in m
        for m in messages
    )
    # Once per call, not once per epoch.
    assert sum("trained on no row" in m for m in messages) == 1
    # A weighted training part still trains, and reads its loss.
    clf.fit(X, y)
    assert np.isfinite(clf.history[:, "train_loss"]).all()


@pytest.mark.parametrize("hardness", [1e-31, 1e39])
def test_a_fixed_hardness_outside_float32_is_refused_before_training(data, hardness):
    # It was refused at epoch 0, as a schedule's value, after the network
    # was built and a history begun.
    X, y = data
    clf = RSFTClassifier(**{**FAST, "hardness": hardness})
    with pytest.raises(ValueError, match=r"hardness is 1e[-+]\d+: it must be 0 or"):
        clf.fit(X, y)
    assert not getattr(clf, "initialized_", False)
    with pytest.raises(ValueError, match="schedule given as M or hardness"):
        RSFTClassifier(**{**FAST, "hardness": lambda epoch: hardness}).fit(X, y)


def test_M_auto_at_the_bound_of_its_range_warns():
    # With hardness=50 and six classes (p near 1/6) the scores span more
    # than M's range: the rate read 0.86 against a target of 0.1, without a
    # word.
    rng = np.random.RandomState(0)
    y = np.arange(240) % 6
    X = rng.randn(240, 4).astype(np.float32)
    with pytest.warns(UserWarning, match=r'M="auto" stayed at the upper bound'):
        RSFTClassifier(
            **{**FAST, **SAMPLE_RULE, "warmup_epochs": 0},
            M="auto",
            target_acceptance=0.1,
            hardness=50.0,
        ).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RSFTClassifier(
            **{**FAST, **SAMPLE_RULE, "warmup_epochs": 0},
            M="auto",
            target_acceptance=0.1,
        ).fit(X, y)


@pytest.mark.parametrize("M", [1e40, 1e-46, 1e-40], ids=["large", "zero", "subnormal"])
def test_M_outside_float32_is_refused_before_training(data, M):
    # 1e40 failed inside torch after the warm-up; 1e-46 became 0 in float32,
    # trained, and predict_proba then refused "M=0.0"; a subnormal 1e-40
    # does the same where the device flushes subnormal numbers to 0.
    X, y = data
    with pytest.raises(InvalidParameterError, match="'M' parameter"):
        RSFTClassifier(**{**FAST, "M": M}).fit(X, y)
    with pytest.raises(ValueError, match="outside the range of normal float32"):
        RSFTClassifier(**{**FAST, "M": lambda epoch: M}).fit(X, y)
    with pytest.raises(ValueError, match="outside the range of normal float32"):
        RejectionLoss(M=M)
    # The smallest normal float32 is kept as it is, and predicts.
    clf = RSFTClassifier(**{**FAST, "M": 1.2e-38}).fit(X, y)
    assert clf.final_M_ > 0 and np.isfinite(clf.predict_proba(X)).all()


def test_lbfgs_is_refused_where_each_evaluation_draws_a_mask(data):
    # Every closure call drew its own mask: a step whose last call accepted
    # nothing was undone after the others had taken it.
    X, y = data
    with pytest.raises(ValueError, match="LBFGS evaluates the loss several times"):
        RSFTClassifier(**{**FAST, **SAMPLE_RULE, "optimizer": torch.optim.LBFGS}).fit(
            X, y
        )
    # The default rule weights the rows alike at every evaluation.
    clf = RSFTClassifier(**{**FAST, "optimizer": torch.optim.LBFGS}).fit(X, y)
    assert _finite(clf)
    # Continued training goes on counting epochs: the third epoch of a
    # stream with a warm-up of two rejects, and was let through.
    stream = RSFTClassifier(
        **{
            **FAST,
            **SAMPLE_RULE,
            "warmup_epochs": 2,
            "max_epochs": 1,
            "optimizer": torch.optim.LBFGS,
        }
    )
    stream.partial_fit(X, y).partial_fit(X, y)
    # Refused before anything changes: the refusal at on_train_begin came
    # after the call's classes were counted.
    before = stream.predict_proba(X)
    with pytest.raises(ValueError, match="LBFGS evaluates the loss several times"):
        stream.partial_fit(X[:20], y[:20])
    np.testing.assert_array_equal(stream.predict_proba(X), before)
    assert len(stream.history) == 2
    # A call's own epochs count: partial_fit(epochs=4) trained 2 rejecting
    # LBFGS epochs of a warm-up of 2 with max_epochs=1 unrefused.
    fresh = clone(stream)
    with pytest.raises(ValueError, match="LBFGS evaluates the loss several times"):
        fresh.partial_fit(X, y, epochs=4)


def test_settings_refused_at_training_leave_a_fitted_estimator_as_it_was(data):
    # set_params(M="auto") without target_acceptance, then a refit: refused
    # once the network had been built anew (and the data counted), so the
    # estimator predicted with untrained weights after the refusal.
    X, y = data
    for how in ("fit", "partial_fit"):
        clf = RSFTClassifier(**FAST).fit(X, y)
        before = clf.predict_proba(X)
        weights = [p.detach().clone() for p in clf.module_.parameters()]
        clf.set_params(M="auto")
        with pytest.raises(ValueError, match="set target_acceptance"):
            getattr(clf, how)(X[::2], y[::2])
        np.testing.assert_array_equal(clf.predict_proba(X), before)
        assert all(torch.equal(a, b) for a, b in zip(weights, clf.module_.parameters()))
        assert len(clf.history) == FAST["max_epochs"]
    # A refit of an LBFGS network under "sample" kept its history only if
    # refused before the new one was built.
    lbfgs = RSFTClassifier(**{**FAST, "optimizer": torch.optim.LBFGS}).fit(X, y)
    before = lbfgs.predict_proba(X)
    lbfgs.set_params(**SAMPLE_RULE)
    with pytest.raises(ValueError, match="LBFGS evaluates the loss several times"):
        lbfgs.fit(X, y)
    np.testing.assert_array_equal(lbfgs.predict_proba(X), before)
    assert len(lbfgs.history) == FAST["max_epochs"]


@pytest.mark.parametrize("rejection", ["pool", "epoch", "budget"])
def test_the_epochs_of_a_call_do_not_reach_the_module(data, rejection):
    # skorch's fit_loop takes epochs; the scoring pass of the selection modes
    # handed it to the module's forward ("unexpected keyword argument").
    X, y = data
    clf = RSFTClassifier(**FAST, rejection=rejection, warmup_epochs=1)
    clf.partial_fit(X, y, epochs=3)
    assert len(clf.history) == 3


class _TwiceLBFGS(torch.optim.LBFGS):
    """LBFGS that first evaluates the closure twice at the same parameters."""

    gaps = []

    def step(self, closure):
        first, second = float(closure()), float(closure())
        self.gaps.append(abs(first - second))
        return super().step(closure)


@pytest.mark.parametrize(
    "params",
    [{}, {"M": "auto", "target_acceptance": 0.5}, {"rejection": "pool"}],
    ids=["default", "auto", "pool"],
)
def test_lbfgs_sees_one_loss_at_the_same_parameters_and_counts_rows_once(data, params):
    # Every evaluation of a step recorded the batch again: the prior after
    # rejection (prior_correction) and an adaptive M moved between two
    # evaluations at the same parameters (loss gaps of 0.02), and the rows
    # counted for prediction's prior were many times the rows trained on.
    X, y = data
    _TwiceLBFGS.gaps = []
    clf = RSFTClassifier(
        **{**FAST, "max_epochs": 3, "warmup_epochs": 1, "lr": 0.1},
        optimizer=_TwiceLBFGS,
        optimizer__max_iter=4,
        **params,
    ).fit(X, y)
    assert len(_TwiceLBFGS.gaps) > 10 and max(_TwiceLBFGS.gaps) < 1e-6
    if params.get("rejection") != "pool":
        counts = np.bincount(clf.classes_.searchsorted(y))
        np.testing.assert_array_equal(clf._trained_rows, counts)


def test_a_non_finite_network_is_named_when_compacted_steps_accept_nothing(data):
    # Compacted steps never see a rejected row's loss: the fit warned only
    # that its epochs accepted no row, and advised lowering M.
    X, y = data
    params = {**FAST, **SAMPLE_RULE, "max_epochs": 4, "module": _NaNAfter}
    del params["module__hidden_layer_sizes"]
    with pytest.raises(ValueError, match="accepted no row, and the network's output"):
        RSFTClassifier(**params, compact=True).fit(X.astype(np.float32), y)


@pytest.mark.parametrize("rejection", ["pool", "epoch", "budget"])
def test_a_non_finite_network_is_named_when_rows_are_selected_ahead(data, rejection):
    # Every row of a NaN network is rejected: the fit warned "every row
    # rejected; lower M" and ended.
    X, y = data
    # The output turns NaN once the warm-up epoch ends, before the first
    # scoring pass, so no row is ever selected (no step, no NaN gradient).
    from skorch.callbacks import Callback

    class Break(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.module_.calls = 0

    params = {**FAST, "max_epochs": 4, "warmup_epochs": 1, "module": _NaNAfter}
    params["module__calls"] = 10**6
    del params["module__hidden_layer_sizes"]
    with pytest.raises(ValueError, match="trained on no row, and the network's"):
        RSFTClassifier(**params, rejection=rejection, callbacks=[Break()]).fit(
            X.astype(np.float32), y
        )


def test_lbfgs_trains_when_every_epoch_is_a_warm_up(data):
    X, y = data
    clf = RSFTClassifier(
        **{**FAST, **SAMPLE_RULE, "optimizer": torch.optim.LBFGS, "warmup_epochs": 2}
    ).fit(X, y)
    assert _finite(clf)


@pytest.mark.parametrize(
    "rejection, params",
    [("pool", {"M": 1e30}), ("epoch", {"M": 1e30}), ("budget", {"budget": 1e-9})],
)
def test_checkpoints_survive_an_epoch_that_trains_on_no_row(
    data, tmp_path, rejection, params
):
    # skorch's Checkpoint reads the epoch's last batch, and there was none:
    # an IndexError; monitoring train_loss_best raised a KeyError that
    # blamed missing validation data.
    from skorch.callbacks import Checkpoint, TrainEndCheckpoint

    X, y = data
    callbacks = [
        Checkpoint(monitor=None, dirname=str(tmp_path / "every")),
        Checkpoint(monitor="train_loss_best", dirname=str(tmp_path / "best")),
        TrainEndCheckpoint(dirname=str(tmp_path / "end")),
    ]
    with pytest.warns(UserWarning, match="trained on no row"):
        clf = RSFTClassifier(
            **{**FAST, "warmup_epochs": 1},
            rejection=rejection,
            callbacks=callbacks,
            **params,
        ).fit(X, y)
    assert clf.history[-1, "train_loss_best"] is False
    assert np.isnan(clf.history[-1, "train_loss"])
    assert clf.history[-1, "train_batch_count"] == 0
    assert (tmp_path / "end" / "train_end_params.pt").exists()


def test_an_epoch_of_no_accepted_row_is_not_the_best_under_sample(data, tmp_path):
    # Its skipped steps recorded losses of 0: train_loss 0.0, the best epoch
    # for Checkpoint and EarlyStopping.
    from skorch.callbacks import Checkpoint

    X, y = data
    best = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    M = lambda epoch: 1.0 if epoch == 0 else 1e30  # noqa: E731
    with pytest.warns(UserWarning, match="its train_loss is NaN"):
        clf = RSFTClassifier(
            **{**FAST, **SAMPLE_RULE, "warmup_epochs": 0, "M": M}, callbacks=[best]
        ).fit(X, y)
    assert np.isnan(clf.history[-1, "train_loss"])
    assert clf.history[:, "train_loss_best"] == [True, False]
    assert clf.history[:, "event_cp"] == [True, False]


def test_sample_weights_whose_mean_underflows_keep_their_ratios(data):
    # The mean by which the rule divides them was 0 ("must be finite"), or
    # lost its precision: [5e-324, 5e-324, 0] divided by it gave [1, 1, 0].
    from rsft_sklearn._validation import check_sample_weight

    np.testing.assert_array_equal(
        check_sample_weight([5e-324, 5e-324, 0.0], 3), [1.0, 1.0, 0.0]
    )
    X, y = data
    weight = np.zeros(len(y))
    weight[: len(y) // 2] = 5e-324
    weight[len(y) // 2 :] = 1e-323
    subnormal = RSFTClassifier(**FAST).fit(X, y, sample_weight=weight)
    scaled = RSFTClassifier(**FAST).fit(X, y, sample_weight=weight * 1e300)
    np.testing.assert_allclose(
        subnormal.predict_proba(X), scaled.predict_proba(X), rtol=1e-6, atol=1e-6
    )
    # Subnormal weights that divide by their mean train as their rescaled
    # copies.
    tiny = RSFTClassifier(**FAST).fit(X, y, sample_weight=np.full(len(y), 1e-308))
    ones = RSFTClassifier(**FAST).fit(X, y, sample_weight=np.ones(len(y)))
    np.testing.assert_allclose(tiny.predict_proba(X), ones.predict_proba(X))


def test_sample_weights_whose_sum_overflows_are_named(data):
    # Each weight finite, their sum not: the fit failed with a message about
    # class_prior, which the user never set; across calls of partial_fit the
    # counts overflowed after a refused call had already changed them.
    X, y = data
    with pytest.raises(ValueError, match="sample_weight sums beyond the float64"):
        RSFTClassifier(**FAST).fit(X, y, sample_weight=np.full(len(y), 1e307))
    clf = RSFTClassifier(**FAST)
    clf.partial_fit(X, y, classes=[0, 1], sample_weight=np.full(len(y), 2.5e306))
    counts = clf._class_counts.copy()
    with pytest.raises(ValueError, match="calls of continued training sum beyond"):
        clf.partial_fit(X, y, sample_weight=np.full(len(y), 2.5e306))
    np.testing.assert_array_equal(clf._class_counts, counts)


@pytest.mark.parametrize(
    "classes, error, message",
    [
        ([0.0, 1.0, np.nan], ValueError, "classes holds NaN"),
        ([0, 1, None], ValueError, "holds None"),
        (np.array([0, 1, "a"], dtype=object), ValueError, "mixes label types"),
        ({0, 1}, TypeError, "classes must be an array-like"),
    ],
)
def test_bad_classes_are_named(data, classes, error, message):
    # NaN was taken (and the same classes refused at the next call as
    # "differs from" themselves); None and mixed types got numpy's TypeError
    # from inside np.unique; a set was said to list fewer than two labels.
    X, y = data
    with pytest.raises(error, match=message):
        RSFTClassifier(**FAST).partial_fit(X, y, classes=classes)


def test_nd_input_with_an_empty_axis_is_refused_as_having_no_feature(data):
    # The default MLP's check named n_features, which the user never set.
    X, y = data
    with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(60, 2, 0\)\)"):
        RSFTClassifier(**FAST).fit(np.zeros((60, 2, 0)), y)


def test_legal_extremes_give_no_stray_numpy_warnings(data):
    # An overflow in log space (a huge target_power) and a weight sum beyond
    # the float64 range are handled; NumPy warned about both on the way.
    from rsft_sklearn._rejection import class_target_weight

    X, y = data
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        weight = class_target_weight(np.r_[np.zeros(10, int), 1], 2, power=1e308)
        np.testing.assert_allclose(weight, [np.finfo(np.float32).tiny, 1.0])
        with pytest.raises(ValueError, match="sums beyond the float64 range"):
            RSFTClassifier(**FAST).fit(X, y, sample_weight=np.full(len(y), 1e307))


@pytest.mark.parametrize("missing", [None, np.nan, pd.NA])
def test_a_missing_label_among_strings_is_named(data, missing):
    # It failed in the sort of the classes: "'<' not supported between
    # instances of 'float' and 'str'".
    X, y = data
    labels = np.where(y == 1, "rare", "common").astype(object)
    labels[3] = missing
    with warnings.catch_warnings():
        # NumPy before 2 warned that the elementwise comparison failed on
        # pandas' NA before the label was named.
        warnings.simplefilter("error", DeprecationWarning)
        with pytest.raises(ValueError, match="y holds 1 missing label.*position 3"):
            RSFTClassifier(**FAST).fit(X, labels)


def test_auto_M_solved_at_no_step_leaves_a_usable_estimator():
    # drop_last with fewer rows than a batch: no step solved M="auto", its
    # final_M_ was NaN, predict_proba failed ("M must be a finite number"),
    # and the bound warning blamed hardness.
    rng = np.random.RandomState(0)
    X = rng.randn(100, 4).astype(np.float32)
    y = np.arange(100) % 2
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        clf = RSFTClassifier(
            max_epochs=2,
            warmup_epochs=0,
            random_state=0,
            M="auto",
            target_acceptance=0.5,
            batch_size=128,
            iterator_train__drop_last=True,
        ).fit(X, y)
    assert clf.final_M_ is None
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    assert not any("bound of its range" in str(r.message) for r in records)
    assert any("trained on no row" in str(r.message) for r in records)


def test_library_warnings_have_their_own_category_and_say_once_per_call(data):
    # They were plain UserWarnings pointing at the user's line: no filter but
    # the message text could silence them alone. An epoch without a step
    # warned with its number, once per epoch.
    from rsft_sklearn import RSFTWarning

    X, y = data
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        RSFTClassifier(**{**FAST, **SAMPLE_RULE, "M": 1e9, "max_epochs": 4}).fit(X, y)
    stepless = [r for r in records if "took no step" in str(r.message)]
    assert len(stepless) == 1 and issubclass(stepless[0].category, RSFTWarning)
    assert stepless[0].filename == __file__
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        warnings.filterwarnings("ignore", category=RSFTWarning)
        RSFTClassifier(**{**FAST, **SAMPLE_RULE, "M": 1e9}).fit(X, y)
    assert not [r for r in records if "took no step" in str(r.message)]
    # A loop of partial_fit warns once (scikit-learn's checks reset Python's
    # record of warnings shown, so the same words alone did not collapse
    # them); a fit afresh warns again.
    clf = RSFTClassifier(**{**FAST, **SAMPLE_RULE, "M": 1e9, "max_epochs": 1})
    with warnings.catch_warnings(record=True) as records:
        warnings.simplefilter("always")
        for _ in range(5):
            clf.partial_fit(X, y)
        clf.fit(X, y)
        # A network built afresh is not a continuation either.
        clf.initialize()
        clf.partial_fit(X, y)
    assert sum("took no step" in str(r.message) for r in records) == 3


def test_a_warning_raised_in_a_worker_points_at_the_library():
    # In a joblib worker no frame is the user's: the warning pointed at a
    # line of multiprocessing or threading.
    import threading

    from rsft_sklearn._validation import caller_stacklevel

    seen = []
    # A function of the library's, started as a thread's target.
    library = {
        "__name__": "rsft_sklearn._raising",
        "warnings": warnings,
        "caller_stacklevel": caller_stacklevel,
        "seen": seen,
    }
    source = (
        "def raise_one():\n"
        "    with warnings.catch_warnings(record=True) as records:\n"
        "        warnings.simplefilter('always')\n"
        "        warnings.warn('w', UserWarning, stacklevel=caller_stacklevel())\n"
        "    seen.extend(records)\n"
    )
    exec(compile(source, "<library>", "exec"), library)
    thread = threading.Thread(target=library["raise_one"])
    thread.start()
    thread.join()
    assert seen[0].filename == "<library>"


def test_a_float32_warmup_share_counts_the_epochs_as_written():
    # np.float32(0.9) is 0.89999998 in a float64: 0.9 of 25 epochs gave 22
    # warm-up epochs instead of 23.
    from rsft_sklearn._epochs import warmup_epoch_count

    for share, epochs in [(0.9, 25), (0.78, 25), (0.65, 30), (0.7, 45), (0.7, 5)]:
        assert warmup_epoch_count(np.float32(share), epochs) == warmup_epoch_count(
            share, epochs
        )


def test_a_numpy_learning_rate_gives_a_checkpoint_torch_loads(data, tmp_path):
    # It went into the optimiser's state as a NumPy number, which
    # torch.load(weights_only=True) refuses (LoadInitState failed).
    X, y = data
    for lr in (np.float64(0.01), np.float32(0.01)):
        net = RSFTClassifier(**{**FAST, "lr": lr}).fit(X, y)
        assert type(net.optimizer_.param_groups[0]["lr"]) is float
        net.set_params(optimizer__lr=np.float64(0.02))
        assert type(net.optimizer_.param_groups[0]["lr"]) is float
        path = tmp_path / "optimizer.pt"
        net.save_params(f_optimizer=path)
        torch.load(path, weights_only=True)
        assert net.get_params()["lr"] is lr


@pytest.mark.parametrize("name", ["warm_start", "compile"])
def test_a_flag_given_as_a_string_is_refused(data, name):
    # skorch reads them by truth value: warm_start="False" continued the
    # training, and compile="False" compiled.
    X, y = data
    with pytest.raises(InvalidParameterError, match=f"'{name}' parameter"):
        RSFTClassifier(**FAST, **{name: "False"}).fit(X, y)


def test_a_fraction_as_target_acceptance_trains():
    from fractions import Fraction

    loss = RejectionLoss(n_classes=2, M="auto", target_acceptance=Fraction(1, 2))
    logits = torch.randn(8, 2, requires_grad=True)
    loss(logits, torch.arange(8) % 2).backward()
    assert loss.target_acceptance == 0.5
