"""The compared methods: one network, many ways of handling the data."""

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "ALL_METHODS",
    "EXTRA_METHODS",
    "METHODS",
    "MatchedRandomMask",
    "make_method",
]

REFERENCE = "RSFT"

METHODS = (
    REFERENCE,
    "RSFT grid M",
    "RSFT hardness=0",
    "plain net",
    "class-weighted loss",
    "random mask",
    "RandomUnderSampler",
    "RandomOverSampler",
    "SMOTE",
    "ADASYN",
    "BorderlineSMOTE",
    "NearMiss",
    "TomekLinks",
    "EditedNearestNeighbours",
    "SMOTEENN",
    "SMOTETomek",
    "BalancedRandomForest",
    "LogisticRegression",
)

# Selectable with --methods but not part of the default run, whose committed
# report they would otherwise invalidate.
EXTRA_METHODS = (
    "RSFT rejection=epoch",
    "RejectionSampler",
    "RejectionSampler + BalancedRandomForest",
)

ALL_METHODS = METHODS + EXTRA_METHODS

M_GRID = (0.5, 1.0, 2.0)


def _post_warmup_class_rates(net):
    """Per-class acceptance rate averaged over the epochs after the warm-up."""
    epochs = net.history[net.warmup_epochs :]
    if not epochs:
        raise ValueError(
            "The reference classifier has no epoch after its warm-up, so it "
            "measured no acceptance rate."
        )
    return np.array(
        [
            np.mean([epoch[f"acceptance_rate[{label}]"] for epoch in epochs])
            for label in net.classes_
        ]
    )


class MatchedRandomMask(ClassifierMixin, BaseEstimator):
    """Random mask that keeps each class at the rate RSFT keeps it.

    ``fit`` first trains ``reference`` on the same data and reads its
    per-class acceptance rate (averaged over the epochs after the warm-up),
    then trains a copy of the same network whose mask ignores the model
    (``hardness=0``) but keeps class ``c`` at that rate ``r_c``. Comparing it
    with RSFT measures what the model's feedback adds beyond the class mix.

    Parameters
    ----------
    reference : RSFTClassifier
        The RSFT classifier whose acceptance rates are matched.

    Attributes
    ----------
    reference_ : RSFTClassifier
        The fitted reference.
    keep_rate_ : ndarray of shape (n_classes,)
        Matched per-class keep rate, in the order of ``classes_``.
    estimator_ : RSFTClassifier
        The fitted random-mask classifier.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    reference_fit_time_ : float
        Seconds spent fitting the reference, which the benchmark does not
        count as this method's cost.

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn import RSFTClassifier
    >>> from rsft_sklearn.benchmark._methods import MatchedRandomMask
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(120, 3)).astype("float32")
    >>> y = np.r_[np.zeros(100, int), np.ones(20, int)]
    >>> X[y == 1] += 2
    >>> clf = MatchedRandomMask(RSFTClassifier(max_epochs=3, random_state=0))
    >>> clf.fit(X, y).keep_rate_.shape
    (2,)
    """

    def __init__(self, reference):
        self.reference = reference

    def fit(self, X, y):
        from time import perf_counter

        start = perf_counter()
        self.reference_ = clone(self.reference).fit(X, y)
        self.reference_fit_time_ = perf_counter() - start
        self.classes_ = self.reference_.classes_
        rates = np.clip(_post_warmup_class_rates(self.reference_), 1e-6, 1.0)
        self.keep_rate_ = rates
        self.estimator_ = clone(self.reference).set_params(
            hardness=0.0,
            target={label: float(r) for label, r in zip(self.classes_, rates)},
            M=float(1.0 / rates.max()),
        )
        self.estimator_.fit(X, y)
        return self

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)


def _sampler(name, seed):
    from imblearn import combine, over_sampling, under_sampling

    seeded = {
        "RandomUnderSampler": under_sampling.RandomUnderSampler,
        "RandomOverSampler": over_sampling.RandomOverSampler,
        "SMOTE": over_sampling.SMOTE,
        "ADASYN": over_sampling.ADASYN,
        "BorderlineSMOTE": over_sampling.BorderlineSMOTE,
        "SMOTEENN": combine.SMOTEENN,
        "SMOTETomek": combine.SMOTETomek,
    }
    if name in seeded:
        return seeded[name](random_state=seed)
    return {
        "NearMiss": under_sampling.NearMiss,
        "TomekLinks": under_sampling.TomekLinks,
        "EditedNearestNeighbours": under_sampling.EditedNearestNeighbours,
    }[name]()


def make_method(name, *, max_epochs, batch_size, seed):
    """Build the pipeline of one method.

    Every neural method uses the same default network, optimiser, number of
    epochs, batch size and seed; only the handling of the data differs.

    Parameters
    ----------
    name : str
        One of :data:`ALL_METHODS`.
    max_epochs : int
        Training epochs of every network.
    batch_size : int
        Mini-batch size of every network.
    seed : int
        Seed of every random step.

    Returns
    -------
    estimator : imblearn.pipeline.Pipeline or GridSearchCV
        An unfitted classifier.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._methods import make_method
    >>> pipe = make_method("SMOTE", max_epochs=5, batch_size=64, seed=0)
    >>> [step for step, _ in pipe.steps]
    ['scale', 'sample', 'clf']
    """
    from imblearn import FunctionSampler
    from imblearn.ensemble import BalancedRandomForestClassifier
    from imblearn.pipeline import Pipeline
    from sklearn.linear_model import LogisticRegression

    from .. import RejectionSampler, RSFTClassifier

    def net(**params):
        return RSFTClassifier(
            max_epochs=max_epochs, batch_size=batch_size, random_state=seed, **params
        )

    def pipeline(clf, sampler=None):
        return Pipeline(
            [
                ("scale", StandardScaler()),
                ("sample", FunctionSampler() if sampler is None else sampler),
                ("clf", clf),
            ]
        )

    plain = {"warmup_epochs": max_epochs}
    if name == REFERENCE:
        return pipeline(net())
    if name == "RSFT grid M":
        return GridSearchCV(
            pipeline(net()),
            {"clf__M": list(M_GRID)},
            scoring="balanced_accuracy",
            cv=StratifiedKFold(3, shuffle=True, random_state=seed),
        )
    if name == "RSFT rejection=epoch":
        return pipeline(net(rejection="epoch"))
    if name == "RSFT hardness=0":
        return pipeline(net(hardness=0.0, M=1.0))
    if name == "plain net":
        return pipeline(net(**plain))
    if name == "class-weighted loss":
        return pipeline(net(rejection="expected", hardness=0.0, M=1.0))
    if name == "random mask":
        return pipeline(MatchedRandomMask(net()))

    def forest(**params):
        return BalancedRandomForestClassifier(
            n_estimators=100,
            sampling_strategy="all",
            replacement=True,
            bootstrap=False,
            random_state=seed,
            **params,
        )

    if name == "BalancedRandomForest":
        return pipeline(forest())
    if name == "RejectionSampler":
        return pipeline(net(**plain), RejectionSampler(random_state=seed))
    if name == "RejectionSampler + BalancedRandomForest":
        return pipeline(forest(), RejectionSampler(random_state=seed))
    if name == "LogisticRegression":
        return pipeline(LogisticRegression(class_weight="balanced", max_iter=1000))
    if name in METHODS:
        return pipeline(net(**plain), _sampler(name, seed))
    raise ValueError(f"Unknown method {name!r}; choose from {list(ALL_METHODS)}.")
