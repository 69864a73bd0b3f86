"""Edge cases of groups: missing labels, labels of mixed number types, groups
of zero weight, and the advice of a split by group."""

import warnings

import numpy as np
import pytest
from sklearn.model_selection import GroupKFold, GroupShuffleSplit
from skorch.dataset import ValidSplit

from rsft_sklearn import RejectionLoss, RSFTClassifier, RSFTWarning

WEIGHTS = []


class RecordingLoss(RejectionLoss):
    """Keeps the per-sample weights that the rule receives, step by step."""

    def select(self, logits, y, sample_weight=None):
        WEIGHTS.append(sample_weight.detach().clone())
        return super().select(logits, y, sample_weight)


class Recording(RSFTClassifier):
    _rejection_loss_class = RecordingLoss


def _classifier(cls=RSFTClassifier, **kwargs):
    # One batch of the rows in their order: the rule's weights are the rows'.
    kwargs = {
        "target": "balanced_groups",
        "max_epochs": 1,
        "batch_size": 10_000,
        "iterator_train__shuffle": False,
        "warmup_epochs": 0,
        "hardness": 0,
        "M": 1.0,
        "random_state": 0,
        "module__hidden_layer_sizes": (4,),
        **kwargs,
    }
    return cls(**kwargs)


def _rule_weights(clf, *args, method="fit", **kwargs):
    """The per-row weights that the rule saw in the single step of a call."""
    WEIGHTS.clear()
    getattr(clf, method)(*args, **kwargs)
    assert len(WEIGHTS) == 1
    return WEIGHTS[0].numpy()


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    n = 120
    y = np.arange(n) % 2
    X = rng.randn(n, 3).astype(np.float32)
    X[:, 0] += y
    return X, y


# --- missing labels ----------------------------------------------------------


@pytest.mark.parametrize(
    "groups",
    [
        np.r_[
            np.full(80, np.datetime64("2020-01-01")), np.full(40, np.datetime64("NaT"))
        ],
        np.r_[np.full(80, np.timedelta64(3, "D")), np.full(40, np.timedelta64("NaT"))],
        # NumPy's NaT as an element of an object array.
        np.array(
            [np.datetime64("2020-01-01")] * 80 + [np.datetime64("NaT")] * 40,
            dtype=object,
        ),
    ],
    ids=["datetime64", "timedelta64", "object"],
)
def test_nat_groups_are_refused_as_missing_labels(data, groups):
    # The NaT rows formed a stratum of groups_ that no row matched (NaT equals
    # nothing): they trained at weight 1 beside strata weighing 1/6.
    X, y = data
    with pytest.raises(
        ValueError, match=r"groups contains missing labels \(None, NaN or NaT\)"
    ):
        _classifier().fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="missing labels"):
        _classifier(target="balanced", train_split=ValidSplit(GroupKFold(2))).fit(
            X, y, groups=groups
        )
    # Dates without NaT are groups.
    days = np.r_[
        np.full(80, np.datetime64("2020-01-01")),
        np.full(40, np.datetime64("2021-01-01")),
    ]
    clf = _classifier().fit(X, y, groups=days)
    np.testing.assert_array_equal(clf.groups_, np.unique(days))
    np.testing.assert_allclose(clf.stratum_target_weight_, [[0.5, 0.5], [1.0, 1.0]])


# --- labels of mixed types ---------------------------------------------------


def _objects(values, n):
    """An object array of ``n`` labels cycling through ``values``."""
    labels = np.empty(n, dtype=object)
    for i in range(n):
        labels[i] = values[i % len(values)]
    return labels


@pytest.mark.parametrize(
    "values",
    [
        # Equal values of different number types are one group.
        [1, np.int64(1), 1.0, 2, np.int32(2), np.float64(2.0)],
        [np.int32(1), np.int64(1), np.int64(2), np.uint8(2)],
        [1, np.float64(1.0), 2.0, np.float32(2.0)],
        [np.float32(1.0), 1, np.float16(2.0), 2],
    ],
    ids=["int-int64-float", "int32-int64-uint8", "int-float64-float32", "float16"],
)
def test_number_types_may_be_mixed_in_groups(data, values):
    # They were refused ("groups mixes labels of the types ['int', 'int64']"),
    # where scikit-learn's GroupKFold takes them.
    X, y = data
    mixed = _objects(values, len(y))
    plain = np.array([int(v) for v in mixed])
    assert len(np.unique(mixed)) == 2
    expected = _classifier(cls=Recording)
    weights = _rule_weights(expected, X, y, groups=plain)
    clf = _classifier(cls=Recording)
    np.testing.assert_array_equal(_rule_weights(clf, X, y, groups=mixed), weights)
    assert clf.groups_.tolist() == [1, 2]
    np.testing.assert_array_equal(
        clf.stratum_target_weight_, expected.stratum_target_weight_
    )
    np.testing.assert_array_equal(clf.predict_proba(X), expected.predict_proba(X))
    # Continued training, with the groups of either type, finds the groups.
    np.testing.assert_array_equal(
        _rule_weights(clf, X, y, groups=plain, method="partial_fit"), weights
    )
    np.testing.assert_array_equal(
        _rule_weights(clf, X, y, groups=mixed, method="partial_fit"), weights
    )


def test_a_split_by_group_takes_mixed_number_types(data):
    X, y = data
    mixed = _objects([1, np.int64(2), 3.0, np.int32(4)], len(y))
    plain = np.array([int(v) for v in mixed])
    split = ValidSplit(GroupKFold(4))
    clf = _classifier(target="balanced", train_split=split).fit(X, y, groups=mixed)
    expected = _classifier(target="balanced", train_split=split).fit(X, y, groups=plain)
    np.testing.assert_array_equal(clf.predict_proba(X), expected.predict_proba(X))
    assert clf.history[-1, "valid_loss"] == expected.history[-1, "valid_loss"]


def test_mixed_number_types_are_compared_by_exact_value(data):
    X, y = data

    def tables(mixed, plain):
        clf = _classifier().fit(X, y, groups=_objects(mixed, len(y)))
        expected = _classifier().fit(
            X, y, groups=np.array(plain * (len(y) // len(plain)))
        )
        np.testing.assert_array_equal(
            clf.stratum_target_weight_, expected.stratum_target_weight_
        )
        return clf.groups_.tolist()

    # np.float32(0.1) is not 0.1 (NumPy found them equal, by rounding 0.1 to
    # float32, but not np.float32(0.1) and np.float16(0.1), which both
    # equalled 0.1): three groups. np.float32(0.5) is exactly 0.5: one.
    inexact = [np.float32(0.1), 0.1, np.float16(0.1)]
    assert tables(inexact, [float(v) for v in inexact]) == sorted(
        float(v) for v in inexact
    )
    assert tables([np.float32(0.5), 0.5, np.float16(0.5), 2], [0.5, 0.5, 0.5, 2.0]) == [
        0.5,
        2,
    ]
    # Integers beyond float64's precision are not the float they round to.
    big = [2**53 + 1, np.int64(2**53 + 1), float(2**53)]
    assert tables(big, [1, 1, 0]) == [float(2**53), 2**53 + 1]


@pytest.mark.parametrize(
    ("values", "types"),
    [
        ([1, "a"], r"\['int', 'str'\]"),
        ([np.int64(1), np.str_("a")], r"\['int64', 'str'\]"),
        # True equals 1: the two would be one group.
        ([True, 2], r"\['bool', 'int'\]"),
        ([np.True_, np.int64(2)], r"\['bool', 'int64'\]"),
        (["a", b"b"], r"\['bytes', 'str'\]"),
    ],
)
def test_labels_of_different_kinds_are_still_refused(data, values, types):
    X, y = data
    with pytest.raises(
        ValueError,
        match=rf"groups mixes labels of the types {types}, which are not of one kind "
        r"\(numbers of different types may be mixed, but not with text or bool\)",
    ):
        _classifier().fit(X, y, groups=_objects(values, len(y)))


# --- groups of zero weight ---------------------------------------------------


@pytest.fixture
def weighted():
    rng = np.random.RandomState(0)
    n = 300
    y = (rng.rand(n) < 0.3).astype(int)
    groups = rng.choice(["a", "b", "c"], size=n, p=[0.6, 0.3, 0.1])
    X = rng.randn(n, 3).astype(np.float32)
    X[:, 0] += y
    w = rng.choice([0.0, 1.0, 2.5], size=n)
    w[groups == "c"] = 0.0
    return X, y, groups, w


def test_a_group_of_zero_weight_rows_is_no_stratum(weighted):
    # Its rows count for nothing, but groups_ listed "c" and
    # stratum_target_weight_ had a row of 1s for it.
    X, y, groups, w = weighted
    keep = w > 0
    clf = _classifier(cls=Recording)
    weights = _rule_weights(clf, X, y, sample_weight=w, groups=groups)
    without = _classifier(cls=Recording)
    kept = _rule_weights(
        without, X[keep], y[keep], sample_weight=w[keep], groups=groups[keep]
    )
    assert clf.groups_.tolist() == without.groups_.tolist() == ["a", "b"]
    np.testing.assert_array_equal(
        clf.stratum_target_weight_, without.stratum_target_weight_
    )
    np.testing.assert_array_equal(weights[~keep], 0.0)
    np.testing.assert_allclose(weights[keep], kept, rtol=1e-6)
    # Positive weights: every group is a stratum, of its rows' summed weight.
    w = np.random.RandomState(1).choice([0.5, 1.0, 2.5], size=len(y))
    clf = _classifier().fit(X, y, sample_weight=w, groups=groups)
    counts = np.zeros((3, 2))
    np.add.at(counts, (np.unique(groups, return_inverse=True)[1], y), w)
    assert clf.groups_.tolist() == ["a", "b", "c"]
    np.testing.assert_allclose(clf.stratum_target_weight_, counts.min() / counts)


def test_continued_training_on_a_group_seen_only_at_weight_0(weighted):
    # Its rows weigh as an unseen group's: the smallest stratum, 1.
    X, y, groups, w = weighted
    clf = _classifier(cls=Recording)
    first = slice(0, 150)
    clf.partial_fit(X[first], y[first], sample_weight=w[first], groups=groups[first])
    assert clf.groups_.tolist() == ["a", "b"]
    w2 = np.ones(150)
    second = slice(150, None)
    weights = _rule_weights(
        clf,
        X[second],
        y[second],
        sample_weight=w2,
        groups=groups[second],
        method="partial_fit",
    )
    table = dict(zip(clf.groups_, clf.stratum_target_weight_))
    expected = [
        table[g][c] if g in table else 1.0 for g, c in zip(groups[second], y[second])
    ]
    np.testing.assert_allclose(weights, expected, rtol=1e-6)
    assert (groups[second] == "c").any()
    assert clf.groups_.tolist() == ["a", "b"]


def test_a_training_part_of_zero_weight_has_no_strata(data):
    # np.min of no strata failed ("zero-size array to reduction operation").
    X, y = data
    groups = np.repeat(["a", "b", "c"], len(y) // 3)
    split = ValidSplit(GroupKFold(3))
    train, _ = next(GroupKFold(3).split(X, y, groups))
    w = np.ones(len(y))
    w[train] = 0.0
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "An epoch accepted no row")
        clf = _classifier(train_split=split).fit(X, y, sample_weight=w, groups=groups)
    assert clf.groups_.shape == (0,)
    assert clf.stratum_target_weight_.shape == (0, 2)
    assert np.isfinite(clf.history[-1, "valid_loss"])


# --- the advice of a split by group ------------------------------------------


def _class_in_one_group():
    rng = np.random.RandomState(0)
    n = 150
    y = np.arange(n) % 3
    groups = rng.choice(["a", "b"], size=n)
    groups[y == 2] = "c"
    X = rng.randn(n, 3).astype(np.float32)
    return X, y, groups


@pytest.mark.parametrize("target", ["balanced", "balanced_groups"])
def test_a_split_by_group_is_not_told_to_stratify(target):
    # Advised "Use a stratified split (ValidSplit(cv, stratified=True))",
    # which failed in skorch: "Stratified CV requires explicitly passing a
    # suitable y."
    X, y, groups = _class_in_one_group()
    split = ValidSplit(GroupShuffleSplit(1, test_size=1, random_state=0))
    _, valid = next(split.cv.split(X, y, groups))
    assert set(groups[valid]) == {"c"}
    with pytest.warns(UserWarning, match=r"no training row of class\(es\) 2") as caught:
        _classifier(target=target, train_split=split).fit(X, y, groups=groups)
    message = " ".join(str(w.message) for w in caught)
    assert "stratified" not in message
    assert "lie in the validation groups" in message
    assert "train_split=None" in message
    # One class left: refused, with the same advice.
    y = np.where(y == 1, 0, y)
    with pytest.raises(ValueError, match="left 1 class") as refused:
        _classifier(target=target, train_split=split).fit(X, y, groups=groups)
    assert "stratified" not in str(refused.value)
    assert "lie in the validation groups" in str(refused.value)
    # A split by rows still is.
    y = np.where(np.arange(len(y)) < 2, 2, np.minimum(y, 1))
    with pytest.warns(UserWarning, match=r"Use a stratified split") as caught:
        _classifier(target="balanced", train_split=ValidSplit(5)).fit(X, y)
    assert "validation groups" not in str(caught[0].message)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_continued_training_may_not_leave_balanced_groups(method):
    # The second call trained on plain rows (row weights None), under
    # neither the strata of the first fit nor the new target, while the
    # warning said the first fit's weights were kept.
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(60, int), np.ones(20, int), np.zeros(10, int), np.ones(10, int)]
    groups = np.r_[np.full(80, "a"), np.full(20, "b")]
    X = rng.randn(len(y), 2).astype(np.float32)
    clf = RSFTClassifier(
        target="balanced_groups",
        warm_start=True,
        max_epochs=1,
        random_state=0,
        module__hidden_layer_sizes=(4,),
    )
    getattr(clf, method)(X, y, groups=groups)
    proba = clf.predict_proba(X)
    clf.set_params(target="balanced")
    with pytest.raises(ValueError, match="target='balanced_groups' back"):
        getattr(clf, method)(X, y)
    # Refused before anything changed.
    assert clf.predict_proba(X).tobytes() == proba.tobytes()
    clf.set_params(target="balanced_groups")
    getattr(clf, method)(X, y, groups=groups)


def test_first_partial_fit_without_a_class_warns_under_balanced_groups():
    rng = np.random.RandomState(0)
    y = rng.choice([0, 1], size=120, p=[0.8, 0.2])
    groups = rng.choice(["a", "b"], size=120)
    X = rng.randn(120, 3).astype(np.float32)
    clf = RSFTClassifier(
        target="balanced_groups", max_epochs=1, module__hidden_layer_sizes=(4,)
    )
    with pytest.warns(RSFTWarning, match="largest stratum weight, 1 .* in every group"):
        clf.partial_fit(X, y, classes=[0, 1, 2], groups=groups)


@pytest.mark.parametrize(
    "labels",
    [
        [np.timedelta64(1, "D"), 2, np.timedelta64(3, "D")],
        [np.timedelta64(5, "ns"), 5, 7],
        [np.timedelta64(3, "s"), 3.0, 4.0],
    ],
)
def test_durations_beside_numbers_are_refused(labels):
    # NumPy's timedelta64 is an integer type: taken as a number, it failed
    # inside np.unique, or (in nanoseconds) merged with the count 5.
    rng = np.random.RandomState(0)
    y = np.r_[np.zeros(40, int), np.ones(20, int)]
    groups = np.array([labels[i % 3] for i in range(60)], dtype=object)
    X = rng.randn(60, 2).astype(np.float32)
    clf = RSFTClassifier(target="balanced_groups", max_epochs=1)
    with pytest.raises(ValueError, match="groups mixes labels of the types"):
        clf.fit(X, y, groups=groups)


def test_fractions_beside_integers_are_one_kind_of_number():
    # A Fraction is a real number: it may stand beside integers, and equal
    # values are one group.
    from fractions import Fraction

    from rsft_sklearn._multimodal import check_groups

    groups = check_groups(
        np.array([Fraction(1, 2), 1, Fraction(2, 2), 1], dtype=object),
        "balanced_groups",
        4,
    )
    assert len(np.unique(groups)) == 2
