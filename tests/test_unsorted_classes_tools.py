"""What the warning on ``classes`` out of sorted order says of scikit-learn's
tools: scorers read the columns in sorted order, multiclass calibration maps
them through ``classes_``, and a binary calibration fails."""

import warnings

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.frozen import FrozenEstimator
from sklearn.metrics import get_scorer

from rsft_sklearn import RSFTClassifier, RSFTWarning


class SortedView(ClassifierMixin, BaseEstimator):
    """A fitted estimator shown with its columns in sorted order."""

    def __init__(self, inner=None):
        self.inner = inner

    def fit(self, X, y):
        self.inner.fit(X, y)
        return self

    def __sklearn_is_fitted__(self):
        return True

    @property
    def classes_(self):
        return np.sort(self.inner.classes_)

    def predict_proba(self, X):
        return self.inner.predict_proba(X)[:, np.argsort(self.inner.classes_)]

    def predict(self, X):
        return self.inner.predict(X)


def _fitted(n_classes, classes):
    X, y = make_classification(
        n_samples=240,
        n_features=6,
        n_informative=4,
        n_classes=n_classes,
        random_state=0,
    )
    labels = np.array(sorted(classes))[y]
    clf = RSFTClassifier(
        max_epochs=2,
        batch_size=32,
        module__hidden_layer_sizes=(8,),
        random_state=0,
        classes=classes,
    )
    with pytest.warns(RSFTWarning, match="not in sorted order") as caught:
        clf.fit(X[:160].astype(np.float32), labels[:160])
    return clf, X[160:].astype(np.float32), labels[160:], str(caught[0].message)


def test_scorers_read_the_columns_in_sorted_order_as_the_warning_says():
    clf, X, y, message = _fitted(2, ["pos", "neg"])
    assert "roc_auc" in message
    scorer = get_scorer("roc_auc")
    # The scorer takes the unsorted columns for the sorted ones.
    assert scorer(clf, X, y) == pytest.approx(1 - scorer(SortedView(clf), X, y))


def test_multiclass_calibration_maps_the_columns_and_binary_fails():
    clf, X, y, message = _fitted(3, ["c", "a", "b"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        as_fitted = CalibratedClassifierCV(FrozenEstimator(clf)).fit(X, y)
        sorted_view = CalibratedClassifierCV(FrozenEstimator(SortedView(clf))).fit(X, y)
    np.testing.assert_allclose(as_fitted.predict_proba(X), sorted_view.predict_proba(X))
    assert (
        "would score the wrong columns, and a binary CalibratedClassifierCV" in message
    )
    binary, Xb, yb, _ = _fitted(2, ["pos", "neg"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(IndexError):
            CalibratedClassifierCV(FrozenEstimator(binary)).fit(Xb, yb)
