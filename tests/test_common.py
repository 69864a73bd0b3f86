"""scikit-learn's estimator checks on RSFTClassifier and
AccelerateRSFTClassifier."""

import importlib.util

from sklearn.utils.estimator_checks import parametrize_with_checks

from rsft_sklearn import AccelerateRSFTClassifier, RSFTClassifier

# Small and fast settings; the checks fit hundreds of times.
_FAST = {"max_epochs": 8, "batch_size": 32, "lr": 1e-2, "random_state": 0}
ESTIMATORS = [RSFTClassifier(**_FAST)]
if importlib.util.find_spec("accelerate") is not None:
    from accelerate import Accelerator

    # Its own parameters (callbacks__print_log__sink="auto", device=None)
    # come back from get_params, deep or not, as given.
    ESTIMATORS.append(
        AccelerateRSFTClassifier(accelerator=Accelerator(cpu=True), **_FAST)
    )

_WEIGHT_IS_NOT_REPETITION = (
    "sample_weight scales the acceptance probability of a row in a stochastic "
    "mini-batch training loop; a weight of 2 is not the same as a duplicated "
    "row, as for any network trained by stochastic gradient descent."
)
EXPECTED_FAILED_CHECKS = {
    "check_sample_weight_equivalence_on_dense_data": _WEIGHT_IS_NOT_REPETITION,
    "check_sample_weight_equivalence_on_sparse_data": _WEIGHT_IS_NOT_REPETITION,
}


@parametrize_with_checks(
    ESTIMATORS, expected_failed_checks=lambda est: EXPECTED_FAILED_CHECKS
)
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


def test_tags_say_what_the_estimators_take_and_give():
    # Rows of several axes (images) are taken, which the tags denied; token
    # ids are int64, where the tags said float64 was kept.
    import numpy as np
    from sklearn.utils import get_tags

    from rsft_sklearn import TokenIndexer

    assert get_tags(RSFTClassifier()).input_tags.three_d_array
    # A dict of named inputs is taken, but the dict tag means a list of
    # per-sample dicts (DictVectorizer's input), which fit refuses.
    assert not get_tags(RSFTClassifier()).input_tags.dict
    RSFTClassifier(max_epochs=1).fit(
        {"X": np.random.RandomState(0).randn(40, 3)}, np.arange(40) % 2
    )
    images = np.random.RandomState(0).randn(40, 1, 3, 3).astype(np.float32)
    RSFTClassifier(max_epochs=1).fit(images, np.arange(40) % 2)
    assert get_tags(TokenIndexer()).transformer_tags.preserves_dtype == []
    ids = TokenIndexer().fit_transform(["a b", "b c a"])
    assert ids.dtype == np.int64


def test_score_is_the_mean_accuracy_and_says_to_name_a_metric():
    import numpy as np
    from sklearn.metrics import accuracy_score

    rng = np.random.RandomState(0)
    X, y = rng.randn(90, 3).astype(np.float32), np.r_[np.zeros(75), np.ones(15)]
    clf = RSFTClassifier(max_epochs=2, random_state=0).fit(X, y)
    assert clf.score(X, y) == accuracy_score(y, clf.predict(X))
    assert "balanced_accuracy" in RSFTClassifier.score.__doc__
