"""scikit-learn's estimator checks on RSFTClassifier."""

from sklearn.utils.estimator_checks import parametrize_with_checks

from rsft_sklearn import RSFTClassifier

# Small and fast settings; the checks fit hundreds of times.
ESTIMATORS = [
    RSFTClassifier(
        max_epochs=8,
        batch_size=32,
        lr=1e-2,
        random_state=0,
    )
]

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
