"""Tests of RejectionSampler."""

import warnings

import numpy as np
import pytest
from imblearn.pipeline import make_pipeline
from imblearn.utils.estimator_checks import (
    check_dataframe_column_names_consistency,
    check_param_validation,
)
from imblearn.utils.estimator_checks import (
    parametrize_with_checks as parametrize_with_imblearn_checks,
)
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import recall_score
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC
from sklearn.utils.estimator_checks import parametrize_with_checks

from rsft_sklearn import RejectionSampler, RSFTClassifier

CHECKED_SAMPLERS = [
    RejectionSampler(random_state=0),
    RejectionSampler(hardness=0, random_state=0),
    RejectionSampler(M=3, n_rounds=3, random_state=0),
]


def expected_failed_checks(sampler):
    failed = {}
    if sampler.n_rounds > 1:
        failed["check_samplers_fit_resample"] = (
            "n_rounds > 1 repeats accepted rows, so a class can grow; the "
            "check requires every class but the smallest to shrink, as a "
            "cleaning sampler does with n_rounds=1."
        )
    if sampler.hardness != 0 and sampler.estimator is None:
        # The sampler leaves X to its estimator, as RandomUnderSampler leaves
        # it alone; the default estimator takes numbers without NaN, and
        # says so itself.
        reason = (
            "the default estimator, LogisticRegression, refuses text and NaN "
            "(with its own error); such data need an estimator that takes them"
        )
        failed["check_samplers_string"] = reason
        failed["check_samplers_nan"] = reason
    return failed


@parametrize_with_checks(
    CHECKED_SAMPLERS, expected_failed_checks=expected_failed_checks
)
def test_scikit_learn_checks(estimator, check):
    check(estimator)


@parametrize_with_imblearn_checks(
    CHECKED_SAMPLERS, expected_failed_checks=expected_failed_checks
)
def test_imbalanced_learn_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


@pytest.mark.parametrize("sampler", CHECKED_SAMPLERS, ids=repr)
def test_imbalanced_learn_parameter_and_feature_name_checks(sampler):
    check_param_validation("RejectionSampler", sampler)
    check_dataframe_column_names_consistency("RejectionSampler", sampler)


class ColumnProba(ClassifierMixin, BaseEstimator):
    """Classifier whose class probabilities are the first columns of X."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.asarray(X)[:, : len(self.classes_)]


class FailingFit(ClassifierMixin, BaseEstimator):
    def fit(self, X, y):
        raise AssertionError("the estimator must not be fitted")

    def predict_proba(self, X):
        raise AssertionError("the estimator must not be used")


def three_class_data(counts=(600, 300, 100), seed=0):
    """Rows whose features are a known class-probability vector."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.arange(len(counts)), counts)
    X = rng.dirichlet(np.ones(len(counts)), size=len(y))
    return X, y


def binomial_tolerance(acceptance):
    """Four standard deviations of a sum of Bernoulli draws, plus one."""
    return 4 * np.sqrt(np.sum(acceptance * (1 - acceptance))) + 1


@pytest.mark.parametrize("M", [0.5, 1.0, 2.0])
def test_hardness_zero_keeps_each_class_at_its_target_rate(M):
    X, y = three_class_data()
    sampler = RejectionSampler(estimator=FailingFit(), hardness=0, M=M, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)

    weight = np.array([1 / 600, 1 / 300, 1 / 100]) * 100
    rate = np.minimum(1, weight / M)
    np.testing.assert_allclose(sampler.target_weight_, weight)
    np.testing.assert_allclose(sampler.acceptance_, rate[y], rtol=1e-6)
    kept = np.bincount(y_res, minlength=3)
    for k, n_k in enumerate((600, 300, 100)):
        expected = n_k * rate[k]
        assert abs(kept[k] - expected) <= binomial_tolerance(np.full(n_k, rate[k]))
    if M <= 1:
        assert kept[2] == 100
    np.testing.assert_array_equal(X_res, X[sampler.sample_indices_])


@pytest.mark.parametrize(("M", "hardness"), [(1.0, 1.0), (2.0, 1.0), (0.7, 2.0)])
def test_acceptance_is_the_rule_on_out_of_fold_probabilities(M, hardness):
    X, y = three_class_data()
    sampler = RejectionSampler(
        estimator=ColumnProba(), M=M, hardness=hardness, random_state=0
    )
    _, y_res = sampler.fit_resample(X, y)

    p = X[np.arange(len(y)), y]
    w = (100 / np.array([600, 300, 100]))[y]
    expected = np.minimum(1, w / (M * p**hardness))
    np.testing.assert_allclose(sampler.true_class_proba_, p, rtol=1e-6)
    np.testing.assert_allclose(sampler.acceptance_, expected, rtol=1e-5)
    kept = np.bincount(y_res, minlength=3)
    for k in range(3):
        a_k = expected[y == k]
        assert abs(kept[k] - a_k.sum()) <= binomial_tolerance(a_k)
    assert 0 < len(y_res) < len(y)


def test_zero_probability_of_the_true_label_means_sure_acceptance():
    X = np.array([[1.0, 0.0], [0.0, 1.0]] * 20)
    y = np.array([1, 0] * 20)
    sampler = RejectionSampler(
        estimator=ColumnProba(), target="uniform", M=2, random_state=0
    )
    _, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(sampler.true_class_proba_, 0.0)
    np.testing.assert_array_equal(sampler.acceptance_, 1.0)
    assert len(y_res) == len(y)


def test_a_row_where_every_class_is_impossible_is_kept_surely():
    # predict_proba may return a row of zeros (every class impossible): the
    # true class's probability is 0, so the row is accepted. Its logits, all
    # -inf, gave an acceptance of NaN, and the row was never kept.
    X = np.array([[0.0, 0.0]] * 4 + [[0.5, 0.5]] * 36)
    y = np.array([0, 1] * 20)
    sampler = RejectionSampler(
        estimator=ColumnProba(), target="uniform", M=2, cv=2, random_state=0
    )
    _, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(sampler.true_class_proba_[:4], 0.0)
    np.testing.assert_array_equal(sampler.acceptance_, 1.0)
    assert len(y_res) == len(y)


def test_true_class_proba_is_the_probability_the_acceptance_reads():
    # Rows that sum to 1 within rounding are normalised before the rule
    # reads them; true_class_proba_ reported the row as given (0.7995 where
    # the acceptance used 0.7999).
    X = np.array([[0.2, 0.7995]] * 40)
    y = np.array([1] * 20 + [0] * 20)
    sampler = RejectionSampler(
        estimator=ColumnProba(), target="uniform", M=1.5, cv=2, random_state=0
    )
    sampler.fit_resample(X, y)
    p = np.where(y == 1, 0.7995, 0.2) / 0.9995
    np.testing.assert_allclose(sampler.true_class_proba_, p, rtol=1e-12)
    np.testing.assert_allclose(
        sampler.acceptance_, np.minimum(1.0, 1.0 / (1.5 * p)), rtol=1e-6
    )


def test_hard_rows_are_kept_more_often_than_easy_rows():
    X, y = three_class_data(counts=(3000, 1000))
    sampler = RejectionSampler(estimator=ColumnProba(), random_state=0)
    sampler.fit_resample(X, y)
    majority = y == 0
    p = sampler.true_class_proba_[majority]
    kept = np.isin(np.flatnonzero(majority), sampler.sample_indices_)
    assert kept[p < 0.2].mean() > 0.9
    assert kept[p > 0.8].mean() < 0.5


def test_dict_target_gives_requested_keep_rates_with_string_labels():
    X, _ = three_class_data(counts=(2000, 2000))
    y = np.where(np.arange(4000) < 2000, "easy", "rare")
    keep_rate = {"easy": 0.1, "rare": 0.4}
    sampler = RejectionSampler(hardness=0, target=keep_rate, M=1 / 0.4, random_state=0)
    _, y_res = sampler.fit_resample(X, y)
    for label, rate in keep_rate.items():
        kept = np.sum(y_res == label)
        assert abs(kept - 2000 * rate) <= binomial_tolerance(np.full(2000, rate))
    np.testing.assert_allclose(sampler.target_weight_, [0.25, 1.0])


def test_uniform_target_ignores_class_sizes():
    X, y = three_class_data()
    sampler = RejectionSampler(hardness=0, target="uniform", M=2, random_state=0)
    sampler.fit_resample(X, y)
    np.testing.assert_allclose(sampler.acceptance_, 0.5)


def test_rounds_repeat_rows_with_expected_copies_n_rounds_times_acceptance():
    X, y = three_class_data(counts=(3000, 500))
    M = 4
    sampler = RejectionSampler(estimator=ColumnProba(), M=M, n_rounds=M, random_state=0)
    _, y_res = sampler.fit_resample(X, y)

    copies = np.bincount(sampler.sample_indices_, minlength=len(y))
    assert copies.max() <= M
    np.testing.assert_array_equal(
        np.bincount(y_res), np.bincount(y[copies > 0], copies[copies > 0])
    )
    # with n_rounds = M the expected number of copies is min(M, w / p)
    w = (500 / np.array([3000, 500]))[y]
    expected_copies = np.minimum(M, w / sampler.true_class_proba_)
    np.testing.assert_allclose(M * sampler.acceptance_, expected_copies, rtol=1e-5)
    for k in range(2):
        a_k = sampler.acceptance_[y == k]
        tolerance = np.sqrt(M) * binomial_tolerance(a_k)
        assert abs(copies[y == k].sum() - M * a_k.sum()) <= tolerance
    minority = y == 1
    hard = minority & (sampler.true_class_proba_ < 1 / M)
    assert hard.any()
    np.testing.assert_array_equal(copies[hard], M)
    assert np.sum(y_res == 1) > 500


def test_many_rounds_draw_binomial_counts_without_holding_every_round():
    # 10**9 rounds of 1,000 rows held every draw at once (4 TB) before;
    # the counts are drawn per row, Binomial(n_rounds, a_i).
    X, y = three_class_data()
    n_rounds = 10**9
    sampler = RejectionSampler(hardness=0, M=2e8, n_rounds=n_rounds, random_state=0)
    sampler.fit_resample(X, y)
    copies = np.bincount(sampler.sample_indices_, minlength=len(y))
    for k in range(3):
        expected = n_rounds * sampler.acceptance_[y == k]
        # a sum of independent binomial counts: mean sum(n a), variance
        # about the same where a is tiny
        assert (
            abs(copies[y == k].sum() - expected.sum())
            <= 4 * np.sqrt(expected.sum()) + 1
        )
    # every class is kept about n_min / (M / n_rounds) = 500 times over
    np.testing.assert_allclose(np.bincount(y[sampler.sample_indices_]), 500, rtol=0.2)


def test_classes_outside_sampling_strategy_are_returned_once():
    X, y = three_class_data()
    sampler = RejectionSampler(
        hardness=0, M=4, n_rounds=2, sampling_strategy="auto", random_state=0
    )
    _, y_res = sampler.fit_resample(X, y)
    assert set(sampler.sampling_strategy_) == {0, 1}
    assert np.sum(y_res == 2) == 100
    np.testing.assert_allclose(sampler.acceptance_[y == 2], 1.0)
    np.testing.assert_allclose(sampler.acceptance_[y == 0], 1 / 24, rtol=1e-6)

    _, y_listed = RejectionSampler(
        hardness=0, M=4, sampling_strategy=[2], random_state=0
    ).fit_resample(X, y)
    assert np.sum(y_listed == 0) == 600
    assert np.sum(y_listed == 1) == 300
    assert np.sum(y_listed == 2) < 100


def test_random_state_fixes_the_draw():
    X, y = three_class_data()

    def indices(seed):
        sampler = RejectionSampler(hardness=0, random_state=seed)
        return sampler.fit_resample(X, y) and sampler.sample_indices_

    np.testing.assert_array_equal(indices(3), indices(3))
    assert not np.array_equal(indices(3), indices(4))


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"M": 0}, ValueError, "'M' parameter of RejectionSampler must be"),
        ({"M": -1.0}, ValueError, "'M' parameter"),
        ({"M": np.inf}, ValueError, "'M' parameter.*Got inf"),
        ({"hardness": -0.5}, ValueError, "'hardness' parameter"),
        ({"hardness": np.inf}, ValueError, "'hardness' parameter.*Got inf"),
        ({"n_rounds": 0}, ValueError, "'n_rounds' parameter"),
        ({"n_rounds": 1.5}, TypeError, "'n_rounds' parameter"),
        ({"target": "inverse"}, ValueError, "'target' parameter"),
        ({"target": {0: 1.0, 1: 2.0}}, ValueError, r"missing \[2\]\."),
        ({"target": {0: 1.0, 1: 0.0, 2: 1.0}}, ValueError, "finite and > 0"),
        ({"estimator": LinearSVC()}, ValueError, "'estimator' parameter"),
        ({"sampling_strategy": {0: 10}}, ValueError, "'sampling_strategy'"),
        ({"sampling_strategy": [5]}, ValueError, "not present in the data"),
        ({"cv": "folds"}, ValueError, "'cv' parameter"),
        ({"hardness": 0, "M": 1e30}, ValueError, "No row was accepted"),
        # True is an Integral to the check, not a count (torch refused it).
        ({"n_rounds": True}, TypeError, "n_rounds must be a whole number"),
        # A Real to the check: refused only after the cross-validated fits.
        ({"M": True, "estimator": FailingFit()}, ValueError, "not a bool"),
        ({"hardness": True, "estimator": FailingFit()}, ValueError, "not a bool"),
        # hardness * log p overflowed in float32 (NaN acceptances), or a
        # subnormal hardness gave rows of p = 0 an acceptance below 1.
        ({"hardness": 1e39, "estimator": FailingFit()}, ValueError, "float32"),
        ({"hardness": 1e-40, "estimator": FailingFit()}, ValueError, "float32"),
    ],
)
def test_bad_parameters_raise_clear_errors(params, error, match):
    X, y = three_class_data(counts=(60, 30, 10))
    with pytest.raises(error, match=match):
        RejectionSampler(**params).fit_resample(X, y)


@pytest.mark.parametrize(
    "columns, match",
    [
        # Negative values (as NaN) were reported as "no row was accepted;
        # lower M".
        ([[-0.5, 1.5]] * 40, "finite probabilities in \\[0, 1\\]"),
        # Values above 1 were renormalised without a word.
        ([[3.0, 0.5]] * 40, "finite probabilities"),
        # Rows that do not sum to 1.
        ([[0.2, 0.2]] * 40, "rows sum to 1"),
        # One column for two classes crashed inside torch.
        ([[1.0]] * 40, r"one column per class, shape \(40, 2\); got \(40, 1\)"),
    ],
)
def test_a_judge_whose_predict_proba_is_not_probabilities_is_named(columns, match):
    X = np.array(columns)
    y = np.array([0, 1] * 20)
    sampler = RejectionSampler(estimator=ColumnProba(), cv=2, random_state=0)
    with pytest.raises(ValueError, match=f"ColumnProba.predict_proba must.*{match}"):
        sampler.fit_resample(X, y)


def test_a_dict_target_keeps_every_class_weight_above_zero_in_float32():
    # A weight 1e-320 of the largest was 0 in the rule: its class was never
    # accepted, silently. It is floored, as "balanced" weights are.
    X, y = three_class_data(counts=(60, 30, 10))
    sampler = RejectionSampler(
        target={0: 1.0, 1: 1.0, 2: 1e-320}, hardness=0, M=1e-30, random_state=0
    )
    sampler.fit_resample(X, y)
    assert sampler.target_weight_[2] == np.finfo(np.float32).tiny
    assert np.all(sampler.acceptance_[y == 2] > 0)


def test_init_is_keyword_only():
    with pytest.raises(TypeError):
        RejectionSampler(LogisticRegression())


def test_pipeline_trains_on_the_resampled_rows_and_predicts_on_all():
    X, y = make_classification(
        n_samples=2000, weights=[0.95, 0.05], flip_y=0.01, random_state=1
    )
    pipeline = make_pipeline(RejectionSampler(random_state=0), LogisticRegression())
    pipeline.fit(X, y)
    assert pipeline.predict(X).shape == y.shape
    assert pipeline.predict_proba(X).shape == (len(y), 2)

    plain = LogisticRegression().fit(X, y)
    recall_rejection = recall_score(y, pipeline.predict(X))
    recall_plain = recall_score(y, plain.predict(X))
    assert recall_rejection > recall_plain + 0.1

    search = GridSearchCV(
        pipeline,
        {"rejectionsampler__M": [0.5, 2.0]},
        scoring="balanced_accuracy",
        cv=StratifiedKFold(3),
    ).fit(X, y)
    assert search.best_params_["rejectionsampler__M"] in (0.5, 2.0)


def test_feeds_the_network_of_the_benchmark():
    X, y = make_classification(n_samples=400, weights=[0.9], random_state=0)
    y = np.where(y == 1, "rare", "common")
    net = RSFTClassifier(warmup_epochs=2, max_epochs=2, batch_size=64, random_state=0)
    pipeline = make_pipeline(StandardScaler(), RejectionSampler(random_state=0), net)
    pipeline.fit(X, y)
    assert set(pipeline.predict(X)) <= {"common", "rare"}
    assert len(pipeline[1].sample_indices_) < len(y)
    assert pipeline[-1].history[-1, "acceptance_rate"] == 1.0


def _frame(n=200, seed=0):
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(seed)
    y = pd.Series(
        np.where(rng.rand(n) < 0.8, "a", "b"), index=np.arange(1000, 1000 + n)
    )
    X = pd.DataFrame(
        {"x": rng.randn(n) + (y == "b"), "c": rng.choice(["u", "v"], n)},
        index=y.index,
    )
    return X, y


def test_a_dataframe_keeps_its_index_and_takes_what_the_estimator_takes():
    # The sampler converted X to a finite numeric array first: a text column
    # that the estimator's pipeline encodes, or NaN that it handles, were
    # refused, and the output lost the DataFrame's index.
    from sklearn.compose import make_column_transformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    X, y = _frame()
    encoded = make_pipeline(
        make_column_transformer((OneHotEncoder(), ["c"]), remainder="passthrough"),
        LogisticRegression(),
    )
    sampler = RejectionSampler(estimator=encoded, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(X_res.index, X.index[sampler.sample_indices_])
    np.testing.assert_array_equal(y_res.index, X_res.index)
    X_nan = X[["x"]].copy()
    X_nan.iloc[::7, 0] = np.nan
    for judge in (HistGradientBoostingClassifier(max_iter=20), None):
        params = {"hardness": 0} if judge is None else {"estimator": judge}
        out, _ = RejectionSampler(random_state=0, **params).fit_resample(X_nan, y)
        assert out["x"].isna().any()
    # The default estimator names the problem itself.
    with pytest.raises(ValueError, match="Input X contains NaN"):
        RejectionSampler(random_state=0).fit_resample(X_nan, y)


def test_a_group_splitter_takes_its_groups_from_fit_resample():
    from sklearn.model_selection import GroupKFold

    X, y = _frame()
    groups = np.arange(len(y)) % 5
    sampler = RejectionSampler(cv=GroupKFold(5), random_state=0)
    X_res, _ = sampler.fit_resample(X[["x"]], y, groups=groups)
    # No row is judged by a model that saw its group.
    expected = np.empty(len(y))
    for train, test in GroupKFold(5).split(X, y, groups):
        model = LogisticRegression(class_weight="balanced", max_iter=1000)
        model.fit(X[["x"]].iloc[train], y.iloc[train])
        proba = model.predict_proba(X[["x"]].iloc[test])
        column = (y.iloc[test] == "b").to_numpy().astype(int)
        expected[test] = proba[np.arange(len(test)), column]
    np.testing.assert_allclose(sampler.true_class_proba_, expected)
    assert len(X_res) == len(sampler.sample_indices_)
    # Under scikit-learn's metadata routing (turned on to route sample
    # weights elsewhere) cross_val_predict refused groups=, pointing at a
    # params argument that fit_resample does not have.
    import sklearn

    with sklearn.config_context(enable_metadata_routing=True):
        routed = RejectionSampler(cv=GroupKFold(5), random_state=0)
        routed.fit_resample(X[["x"]], y, groups=groups)
    np.testing.assert_allclose(routed.true_class_proba_, expected)
    np.testing.assert_array_equal(routed.sample_indices_, sampler.sample_indices_)
    # A splitter that does not ask for groups ignores them, as without
    # routing (cross_val_predict refused them as routed to no object).
    with sklearn.config_context(enable_metadata_routing=True):
        plain = RejectionSampler(cv=3, random_state=0).fit_resample(
            X[["x"]], y, groups=groups
        )[1]
    np.testing.assert_array_equal(
        plain, RejectionSampler(cv=3, random_state=0).fit_resample(X[["x"]], y)[1]
    )


@pytest.mark.parametrize("n_X, n_y", [(300, 250), (250, 300)])
def test_x_and_y_of_different_lengths_are_refused_without_a_judge(n_X, n_y):
    # hardness=0 runs no cross-validation, which had caught the mismatch:
    # a longer X lost its last rows without a word, a longer y failed
    # inside numpy's indexing.
    rng = np.random.RandomState(0)
    X = rng.randn(n_X, 4)
    y = (rng.rand(n_y) < 0.2).astype(int)
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        RejectionSampler(hardness=0, random_state=0).fit_resample(X, y)
