"""target="balanced_groups": target weights over the strata of (group, class)."""

import warnings

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE

from rsft_sklearn import RejectionLoss, RSFTClassifier

# Stratum sizes: group "a" is common, group "b" is rare, in both classes.
SIZES = {("a", 0): 400, ("a", 1): 100, ("b", 0): 40, ("b", 1): 20}
SMALLEST = min(SIZES.values())


@pytest.fixture(scope="module")
def strata():
    rng = np.random.default_rng(0)
    groups = np.concatenate([[g] * n for (g, _), n in SIZES.items()])
    y = np.concatenate([[c] * n for (_, c), n in SIZES.items()])
    X = rng.normal(size=(len(y), 3)).astype(np.float32)
    X[:, 0] += 1.5 * y
    X[:, 1] += 1.5 * (groups == "b")
    return X, y, groups


class RecordingLoss(RejectionLoss):
    """Keeps, per training step, the sample weights and the loss weights."""

    def select(self, logits, y, sample_weight=None):
        out = super().select(logits, y, sample_weight)
        STEPS.append((sample_weight.clone(), out[0].detach().clone()))
        return out


class Recording(RSFTClassifier):
    _rejection_loss_class = RecordingLoss


STEPS = []


def _accepted_per_stratum(steps, stratum_weight):
    """Sum of loss weights per stratum; strata are told apart by their weight."""
    w = torch.cat([s[0] for s in steps]).numpy()
    accepted = torch.cat([s[1] for s in steps]).numpy()
    return {
        key: accepted[np.isclose(w, value)].sum()
        for key, value in stratum_weight.items()
    }


def _fit(X, y, groups, **kwargs):
    STEPS.clear()
    kwargs = {
        "max_epochs": 1,
        "batch_size": 64,
        "random_state": 0,
        **SAMPLE_RULE,
        **kwargs,
    }
    return Recording(hardness=0, M=1.0, **kwargs).fit(X, y, groups=groups)


def test_stratum_weights_are_inverse_stratum_sizes(strata):
    X, y, groups = strata
    clf = _fit(X, y, groups, target="balanced_groups")
    assert list(clf.groups_) == ["a", "b"]
    expected = [[20 / 400, 20 / 100], [20 / 40, 20 / 20]]
    np.testing.assert_allclose(clf.stratum_target_weight_, expected)
    np.testing.assert_array_equal(clf.class_target_weight_, [1.0, 1.0])


def test_expected_acceptance_is_equal_over_strata(strata):
    """With hardness 0 and M 1 every stratum contributes n_min per epoch."""
    X, y, groups = strata
    clf = _fit(X, y, groups, target="balanced_groups", rejection="expected")
    weights = {k: SMALLEST / n for k, n in SIZES.items()}
    per_stratum = _accepted_per_stratum(STEPS, weights)
    for key, total in per_stratum.items():
        assert total == pytest.approx(SMALLEST, rel=1e-5), key
    # The per-class rates follow: class 0 keeps 2 * 20 of its 440 rows.
    assert clf.history[-1, "acceptance_rate[0]"] == pytest.approx(40 / 440, rel=1e-5)


def test_sampled_acceptance_equalises_strata(strata):
    X, y, groups = strata
    weights = {k: SMALLEST / n for k, n in SIZES.items()}
    _fit(X, y, groups, target="balanced_groups", max_epochs=20, batch_size=140)
    per_epoch = {k: v / 20 for k, v in _accepted_per_stratum(STEPS, weights).items()}
    # Binomial counts with mean n_min = 20 per epoch; over 20 epochs the
    # standard deviation of the mean is below 1.
    for key, value in per_epoch.items():
        assert value == pytest.approx(SMALLEST, abs=3.0), key
    assert per_epoch[("b", 1)] == SMALLEST  # the smallest stratum is kept whole
    # Group "b" holds 60 of 560 rows but half of what is accepted; class
    # balance alone would keep it at its share of each class.
    share_b = (per_epoch[("b", 0)] + per_epoch[("b", 1)]) / sum(per_epoch.values())
    assert share_b == pytest.approx(0.5, abs=0.05)


def test_sample_weight_composes_with_stratum_weight(strata):
    X, y, groups = strata
    sample_weight = np.where(np.arange(len(y)) % 2 == 0, 1.0, 3.0)
    clf = Recording(
        target="balanced_groups",
        max_epochs=1,
        batch_size=len(y),
        random_state=0,
        **SAMPLE_RULE,
    )
    STEPS.clear()
    clf.fit(X, y, sample_weight=sample_weight, groups=groups)
    w = STEPS[0][0].numpy()
    stratum = np.array([SMALLEST / SIZES[(g, c)] for g, c in zip(groups, y)])
    expected = stratum * sample_weight / sample_weight.mean()
    # The batch is shuffled: compare as multisets.
    np.testing.assert_allclose(np.sort(w), np.sort(expected), rtol=1e-6)


def test_partial_fit_keeps_the_strata_of_the_first_call(strata):
    X, y, groups = strata
    clf = _fit(X, y, groups, target="balanced_groups")
    table = clf.stratum_target_weight_.copy()
    STEPS.clear()
    new_groups = np.where(np.arange(len(y)) < 10, "c", groups)
    clf.partial_fit(X, y, groups=new_groups)
    np.testing.assert_array_equal(clf.stratum_target_weight_, table)
    w = torch.cat([s[0] for s in STEPS]).numpy()
    # The unseen group "c" counts as the smallest stratum: weight 1.
    assert np.sum(w == 1.0) == 10 + SIZES[("b", 1)]


def test_group_errors(strata):
    X, y, groups = strata
    with pytest.raises(ValueError, match="needs fit\\(X, y, groups=...\\)"):
        RSFTClassifier(target="balanced_groups", max_epochs=1).fit(X, y)
    # In a search given the groups (for its splitter), without routing the
    # error asked for what the user had done; it names the routing now.
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        RSFTClassifier(target="balanced_groups", max_epochs=1), {"M": [1.0]}, cv=2
    )
    with pytest.raises(ValueError, match="enable_metadata_routing=True"):
        search.set_params(error_score="raise").fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="only used by target='balanced_groups'"):
        RSFTClassifier(max_epochs=1).fit(X, y, groups=groups)
    from skorch.dataset import ValidSplit

    # A splitter that does not split by group does not read them either.
    with pytest.raises(ValueError, match="train_split that splits by group"):
        RSFTClassifier(max_epochs=1, train_split=ValidSplit(3)).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="groups has 10 entries"):
        RSFTClassifier(target="balanced_groups", max_epochs=1).fit(
            X, y, groups=groups[:10]
        )
    numeric = np.where(groups == "a", 0.0, np.nan)
    with pytest.raises(ValueError, match="groups contains NaN"):
        RSFTClassifier(target="balanced_groups", max_epochs=1).fit(X, y, groups=numeric)
    with pytest.raises(ValueError, match="target"):
        RSFTClassifier(target="groups", max_epochs=1).fit(X, y)
    mixed = np.array(["a" if g == "a" else 1 for g in groups], dtype=object)
    with pytest.raises(ValueError, match=r"mixes labels of the types \['int', 'str'\]"):
        RSFTClassifier(target="balanced_groups", max_epochs=1).fit(X, y, groups=mixed)


def test_metadata_routing_leaves_a_splitters_groups_to_the_splitter():
    # fit takes groups, so scikit-learn's default request was "error if
    # passed": GroupKFold in a search or cross_validate was refused, where
    # other classifiers work.
    import sklearn
    from sklearn.model_selection import GroupKFold, cross_validate

    rng = np.random.RandomState(0)
    X = rng.randn(80, 3).astype(np.float32)
    y = np.r_[np.zeros(60, dtype=int), np.ones(20, dtype=int)]
    groups = np.arange(80) % 4
    params = dict(max_epochs=2, module__hidden_layer_sizes=(4,), random_state=0)
    with sklearn.config_context(enable_metadata_routing=True):
        scores = cross_validate(
            RSFTClassifier(**params), X, y, cv=GroupKFold(2), params={"groups": groups}
        )["test_score"]
        assert len(scores) == 2
        # balanced_groups asks for them, and gets them.
        strata = RSFTClassifier(target="balanced_groups", **params).set_fit_request(
            groups=True
        )
        fitted = cross_validate(
            strata,
            X,
            y,
            cv=GroupKFold(2),
            params={"groups": groups},
            return_estimator=True,
        )["estimator"]
        # Each training fold of GroupKFold(2) holds two of the four groups.
        assert [len(est.groups_) for est in fitted] == [2, 2]
        assert set(fitted[0].groups_) | set(fitted[1].groups_) == {0, 1, 2, 3}


@pytest.mark.parametrize("target", ["balanced", "balanced_groups"])
@pytest.mark.parametrize("routing", [False, True])
def test_a_group_splitter_gets_the_groups_of_fit(strata, target, routing):
    # fit took them for the strata only; ValidSplit(GroupKFold) failed in
    # scikit-learn ("The 'groups' parameter should not be None"), or fit
    # refused them, though the metadata routing said fit consumes them.
    import sklearn
    from sklearn.model_selection import GroupKFold
    from sklearn.pipeline import make_pipeline
    from skorch.callbacks import Callback
    from skorch.dataset import ValidSplit

    X, y, groups = strata
    seen = []

    class Parts(Callback):
        def on_train_begin(self, net, X=None, y=None, **kwargs):
            train, valid = net.get_split_datasets(X, y)
            seen.append((set(groups[train.indices]), set(groups[valid.indices])))

    clf = RSFTClassifier(
        target=target,
        max_epochs=1,
        train_split=ValidSplit(GroupKFold(2)),
        callbacks=[Parts()],
    )
    with sklearn.config_context(enable_metadata_routing=routing):
        if routing:
            assert clf.get_metadata_routing().consumes("fit", ["groups"]) == {"groups"}
            make_pipeline(clf).fit(X, y, groups=groups)
        else:
            clf.fit(X, y, groups=groups)
    # GroupKFold(2) of two groups: one to train on, the other to validate.
    [(train, valid)] = seen
    assert len(train) == len(valid) == 1 and train != valid
    assert np.isfinite(clf.history[-1, "valid_loss"])
    assert ("groups_" in vars(clf)) == (target == "balanced_groups")


def test_balanced_groups_without_its_request_names_the_request_under_routing():
    import sklearn

    X, y, groups = np.zeros((6, 2)), np.array([0, 1] * 3), np.arange(6) % 2
    with sklearn.config_context(enable_metadata_routing=True):
        with pytest.raises(ValueError, match=r"set_fit_request\(groups=True\)"):
            RSFTClassifier(target="balanced_groups", max_epochs=1).fit(X, y)
    # Without routing, a pipeline or a search given groups does not pass
    # them on: the message says how to turn it on.
    with pytest.raises(
        ValueError, match=r"every sample\. A search .*routing=True\).*__groups="
    ):
        RSFTClassifier(target="balanced_groups", max_epochs=1).fit(X, y)
    assert groups is not None


@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
def test_one_group_corrects_as_the_balanced_class_target(prior_correction):
    # With one group the strata are the classes: a warm-up weighted by the
    # stratum weights is the rule with M=1, hardness 0 and the balanced
    # class weights. Prediction corrected it as plain training (class weights
    # 1, no rejection), which removed the class prior a second time.
    rng = np.random.RandomState(0)
    y = (rng.rand(400) < 0.1).astype(int)
    X = rng.randn(400, 4).astype(np.float32)
    common = dict(
        lr=0.0, max_epochs=1, random_state=0, prior_correction=prior_correction
    )
    groups = RSFTClassifier(target="balanced_groups", warmup_epochs=1, **common)
    groups.fit(X, y, groups=np.zeros(400, dtype=int))
    classes = RSFTClassifier(
        target="balanced",
        target_power=1.0,
        M=1.0,
        hardness=0.0,
        warmup_epochs=0,
        **common,
    ).fit(X, y)
    for probability in ("balanced", "training"):
        for clf in (groups, classes):
            clf.set_params(probability=probability)
        np.testing.assert_allclose(
            groups.predict_proba(X), classes.predict_proba(X), rtol=1e-6
        )


def test_balanced_groups_output_on_features_without_signal():
    # No signal, a prior of 0.1 for class 1 in two groups: the balanced
    # output should be about 0.5 and the training output about 0.1. The
    # balanced output read 0.83 when the class prior was removed twice.
    rng = np.random.RandomState(0)
    y = (rng.rand(1000) < 0.1).astype(int)
    X = rng.randn(1000, 4).astype(np.float32)
    site = rng.randint(0, 2, 1000)
    for warmup in (30, 10):
        clf = RSFTClassifier(
            target="balanced_groups",
            max_epochs=30,
            warmup_epochs=warmup,
            lr=3e-3,
            random_state=0,
        ).fit(X, y, groups=site)
        assert clf.predict_proba(X)[:, 1].mean() == pytest.approx(0.5, abs=0.1)
        clf.set_params(probability="training")
        assert clf.predict_proba(X)[:, 1].mean() == pytest.approx(0.1, abs=0.04)


def test_a_refit_without_groups_drops_the_strata(strata):
    X, y, site = strata
    clf = RSFTClassifier(target="balanced_groups", max_epochs=1, random_state=0)
    clf.fit(X, y, groups=site)
    assert hasattr(clf, "stratum_target_weight_")
    clf.set_params(target="balanced").fit(X, y)
    assert not hasattr(clf, "stratum_target_weight_")
    assert not hasattr(clf, "groups_")
    plain = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.predict_proba(X), plain.predict_proba(X))


def test_zero_weight_rows_count_as_dropped_rows_in_the_strata(strata):
    # Under "balanced" a row of weight 0 counts as a dropped row; the strata
    # counted it as a row, so bootstrap weights left them unbalanced.
    X, y, groups = strata
    rng = np.random.default_rng(1)
    weight = np.where(rng.uniform(size=len(y)) < 0.5, 0.0, 1.0)
    kept = weight > 0
    zero = RSFTClassifier(target="balanced_groups", max_epochs=1).fit(
        X, y, groups=groups, sample_weight=weight
    )
    dropped = RSFTClassifier(target="balanced_groups", max_epochs=1).fit(
        X[kept], y[kept], groups=groups[kept]
    )
    np.testing.assert_allclose(
        zero.stratum_target_weight_, dropped.stratum_target_weight_
    )
    assert not np.allclose(
        zero.stratum_target_weight_,
        RSFTClassifier(target="balanced_groups", max_epochs=1)
        .fit(X, y, groups=groups)
        .stratum_target_weight_,
    )


def test_groups_that_cannot_be_strata_are_refused_by_name(strata):
    X, y, _ = strata
    clf = RSFTClassifier(target="balanced_groups", max_epochs=1)
    labels = np.array([1.0, 2.0, np.nan] * (len(y) // 3) + [1.0] * (len(y) % 3))
    # As objects, NaN broke the sort: 1.0 and 2.0 became dozens of groups.
    with pytest.raises(ValueError, match="missing labels"):
        clf.fit(X, y, groups=labels.astype(object))
    with pytest.raises(ValueError, match="missing labels"):
        clf.fit(X, y, groups=np.array([None] * len(y), dtype=object))
    # sklearn's column_or_1d spoke of "y".
    with pytest.raises(ValueError, match=r"groups must hold one label per sample"):
        clf.fit(X, y, groups=np.zeros((len(y), 2)))
    with pytest.raises(ValueError, match=r"groups must hold one label per sample"):
        clf.fit(X, y, groups=3)


def test_switching_to_balanced_groups_in_continued_training_is_refused(strata):
    X, y, groups = strata
    for clf in (
        RSFTClassifier(max_epochs=1).partial_fit(X, y),
        RSFTClassifier(max_epochs=1, warm_start=True).fit(X, y),
    ):
        clf.set_params(target="balanced_groups")
        # AttributeError: no attribute 'stratum_target_weight_', before.
        with (
            pytest.warns(UserWarning, match="target or target_power changed"),
            pytest.raises(ValueError, match="cannot start balancing groups"),
        ):
            if clf.warm_start:
                clf.fit(X, y, groups=groups)
            else:
                clf.partial_fit(X, y, groups=groups)


def test_a_refused_refit_leaves_the_fitted_estimator_as_it_was(strata):
    X, y, groups = strata
    clf = RSFTClassifier(max_epochs=2, random_state=0).fit(X, y)
    before = clf.predict_proba(X)
    weights = clf.class_target_weight_.copy()
    clf.set_params(target="balanced_groups")
    with pytest.raises(ValueError, match="groups has"):
        clf.fit(X, y, groups=groups[:-1])
    clf.set_params(target="balanced")
    # The class weights had been overwritten by the refused call.
    np.testing.assert_array_equal(clf.class_target_weight_, weights)
    np.testing.assert_array_equal(clf.predict_proba(X), before)
    three = np.r_[y[:-3], 2, 2, 2]
    with pytest.raises(ValueError, match="sample_weight"):
        clf.fit(X, three, sample_weight=-np.ones(len(y)))
    assert list(clf.classes_) == [0, 1]
    np.testing.assert_array_equal(clf.predict_proba(X), before)


def test_continued_training_on_groups_none_of_which_is_known_warns(strata):
    # The same groups as strings after a fit on integers: every row weighed
    # as the smallest stratum, and no group was balanced, without a word.
    X, y, groups = strata
    codes = (groups == "b").astype(int)
    clf = RSFTClassifier(target="balanced_groups", max_epochs=1, random_state=0)
    clf.partial_fit(X, y, groups=codes)
    with pytest.warns(UserWarning, match="None of the groups of this call"):
        clf.partial_fit(X, y, groups=codes.astype(str))
    # Some unseen groups beside known ones, or a chunk of a new group of the
    # same type, are the documented case (the smallest stratum): silent.
    mixed = np.where(np.arange(len(y)) % 7 == 0, 5, codes)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.partial_fit(X, y, groups=mixed)
        clf.partial_fit(X, y, groups=np.full(len(y), 9))
    # Groups of an object array of strings (a pandas column) beside
    # integers do not compare: np.searchsorted raised a bare TypeError.
    named = RSFTClassifier(target="balanced_groups", max_epochs=1, random_state=0)
    named.partial_fit(X, y, groups=groups.astype(object))
    with pytest.warns(UserWarning, match="of another type"):
        named.partial_fit(X, y, groups=codes)


def test_a_fit_that_fails_after_its_checks_keeps_no_groups():
    # The per-row groups of a group splitter stayed on the estimator when
    # the fit failed before its training took them (an optimiser option
    # refused at initialize), and were pickled with it.
    import pickle

    from sklearn.model_selection import GroupKFold
    from skorch.dataset import ValidSplit

    rng = np.random.RandomState(0)
    X = rng.randn(200, 4).astype(np.float32)
    y = np.r_[np.zeros(150, dtype=int), np.ones(50, dtype=int)]
    groups = np.array([f"patient-{i:05d}" for i in rng.randint(40, size=200)])
    clf = RSFTClassifier(
        max_epochs=1, train_split=ValidSplit(GroupKFold(5)), optimizer__momentum=0.9
    )
    with pytest.raises(TypeError, match="momentum"):
        clf.fit(X, y, groups=groups)
    assert "_split_groups" not in clf.__dict__
    assert b"patient-" not in pickle.dumps(clf)
    clf = RSFTClassifier(max_epochs=1, train_split=ValidSplit(GroupKFold(5)))
    assert "_split_groups" not in clf.fit(X, y, groups=groups).__dict__
