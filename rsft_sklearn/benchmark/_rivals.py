"""Rivals of RSFT whose training or decision is more than one network fit.

Each wraps a :class:`~rsft_sklearn.RSFTClassifier` that the benchmark
configures (the same network, optimiser, epochs, batch size and seed as RSFT)
and adds a stage or a decision. Every one sets ``backward_rows_``, the rows
that went through a backward pass over all its stages, which is the cost the
benchmark compares; for a single net it is the sum of skorch's
``train_batch_size`` over the history.
"""

import copy
import numbers

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.model_selection import (
    StratifiedShuffleSplit,
    TunedThresholdClassifierCV,
    check_cv,
)
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._losses import LogitAdjustedLoss, LogitAdjustmentPrior, softmax

__all__ = [
    "ClassifierRetraining",
    "LogitAdjustedRSFT",
    "TunedLogitAdjustment",
    "TunedThresholdNet",
    "history_rows",
]

TAU_GRID = tuple(np.round(np.arange(0.0, 2.01, 0.25), 2))


def history_rows(net):
    """Rows that went through a backward pass in a fitted skorch net.

    Parameters
    ----------
    net : skorch.NeuralNet
        A fitted net.

    Returns
    -------
    rows : int
        The sum of ``train_batch_size`` over every batch of every epoch.
    """
    return int(
        sum(
            batch.get("train_batch_size", 0)
            for epoch in net.history
            for batch in epoch["batches"]
        )
    )


def _log_prior(y, classes):
    counts = np.array([np.sum(y == c) for c in classes], dtype=np.float64)
    return np.log(np.maximum(counts, 1.0) / len(y))


def _balanced_accuracy(y_true, y_pred):
    """Balanced accuracy and its binomial standard error."""
    recalls, variances = [], []
    for label in np.unique(y_true):
        rows = y_true == label
        recall = np.mean(y_pred[rows] == label)
        recalls.append(recall)
        variances.append(recall * (1 - recall) / rows.sum())
    return np.mean(recalls), np.sqrt(np.sum(variances)) / len(recalls)


def _softmax(scores):
    scores = scores - scores.max(axis=1, keepdims=True)
    exp = np.exp(scores)
    return exp / exp.sum(axis=1, keepdims=True)


def _log_proba(proba):
    return np.log(np.clip(proba, np.finfo(np.float64).tiny, 1.0))


class TunedLogitAdjustment(ClassifierMixin, BaseEstimator):
    """Post-hoc logit adjustment with ``tau`` chosen on a validation split.

    The decision is ``argmax_y log p_y(x) - tau * log prior_y``, where ``p``
    estimates the posterior of the training data: ``tau=1`` is the balanced
    decision, ``tau=0`` the plain one (Menon et al., "Long-tail learning via
    logit adjustment", ICLR 2021, tune ``tau`` on held-out data). ``fit``
    trains ``estimator`` on a stratified part of the data, scores every
    ``tau`` of the grid on the rest by balanced accuracy, and then, with
    ``refit=True``, trains ``estimator`` again on all the data and decides
    with the chosen ``tau``.

    The chosen ``tau`` is the one closest to 1 among those whose balanced
    accuracy is within one standard error (binomial, from the per-class
    recalls) of the best: with a handful of minority rows in the validation
    part the scores are noisy, and ``tau = 1`` is the value theory gives for
    a calibrated model, so the data must show clearly that another is
    better (the one-standard-error rule of Hastie, Tibshirani and Friedman,
    "The Elements of Statistical Learning", 7.10).

    Parameters
    ----------
    estimator : classifier
        Its ``predict_proba`` must estimate the training posterior (for an
        :class:`~rsft_sklearn.RSFTClassifier`, ``probability="raw"`` on a
        plain network).
    taus : sequence of float, default=(0, 0.25, ..., 2)
        Candidate values of ``tau``.
    validation_size : float, default=0.25
        Fraction of the rows held out to choose ``tau``.
    refit : bool, default=True
        Train again on all rows after choosing ``tau`` (about 1.75 fits);
        ``False`` keeps the model of the split (one fit on fewer rows).
    random_state : int, RandomState instance or None, default=None
        Seeds the split.

    Attributes
    ----------
    tau_ : float
        The chosen ``tau``.
    validation_scores_ : ndarray of shape (len(taus),)
        Balanced accuracy of every ``tau`` on the held-out rows.
    estimator_ : classifier
        The model that decides.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    log_prior_ : ndarray of shape (n_classes,)
        Log class frequencies of the rows ``estimator_`` was trained on.
    backward_rows_ : int
        Backward-pass rows of both fits.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from rsft_sklearn.benchmark._rivals import TunedLogitAdjustment
    >>> rng = np.random.default_rng(0)
    >>> y = (rng.random(2000) < 0.1).astype(int)
    >>> X = (rng.normal(size=2000) + 1.5 * y).reshape(-1, 1)
    >>> clf = TunedLogitAdjustment(LogisticRegression(), random_state=0).fit(X, y)
    >>> 0.5 <= clf.tau_ <= 1.5
    True
    """

    def __init__(
        self,
        estimator,
        *,
        taus=TAU_GRID,
        validation_size=0.25,
        refit=True,
        random_state=None,
    ):
        self.estimator = estimator
        self.taus = taus
        self.validation_size = validation_size
        self.refit = refit
        self.random_state = random_state

    def fit(self, X, y):
        y = np.asarray(y)
        taus = np.asarray(self.taus, dtype=np.float64)
        if taus.ndim != 1 or len(taus) == 0 or not np.all(np.isfinite(taus)):
            raise ValueError(
                f"taus must be a non-empty list of numbers, got {self.taus!r}."
            )
        split = StratifiedShuffleSplit(
            n_splits=1, test_size=self.validation_size, random_state=self.random_state
        )
        train, valid = next(split.split(X, y))
        inner = clone(self.estimator).fit(X[train], y[train])
        log_p = _log_proba(inner.predict_proba(X[valid]))
        log_prior = _log_prior(y[train], inner.classes_)
        scores = np.array(
            [
                _balanced_accuracy(
                    y[valid], inner.classes_[np.argmax(log_p - tau * log_prior, axis=1)]
                )
                for tau in taus
            ]
        )
        self.validation_scores_ = scores[:, 0]
        best = np.argmax(self.validation_scores_)
        close = np.flatnonzero(
            self.validation_scores_ >= self.validation_scores_[best] - scores[best, 1]
        )
        self.tau_ = float(taus[close[np.argmin(np.abs(taus[close] - 1.0))]])
        self.backward_rows_ = _rows(inner)
        if self.refit:
            self.estimator_ = clone(self.estimator).fit(X, y)
            self.backward_rows_ += _rows(self.estimator_)
            self.log_prior_ = _log_prior(y, self.estimator_.classes_)
        else:
            self.estimator_ = inner
            self.log_prior_ = log_prior
        self.classes_ = self.estimator_.classes_
        return self

    def predict_proba(self, X):
        """Softmax of the adjusted log-probabilities ``log p - tau_ log prior``."""
        check_is_fitted(self, "estimator_")
        log_p = _log_proba(self.estimator_.predict_proba(X))
        return _softmax(log_p - self.tau_ * self.log_prior_)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def _rows(estimator):
    backward = getattr(estimator, "backward_rows_", None)
    if backward is not None:
        return int(backward)
    return history_rows(estimator) if hasattr(estimator, "history") else 0


class LogitAdjustedRSFT(ClassifierMixin, BaseEstimator):
    """RSFT trained with the logit-adjusted loss on the prior after rejection.

    ``fit`` trains a copy of ``estimator`` (an
    :class:`~rsft_sklearn.RSFTClassifier`) with
    :class:`~rsft_sklearn.benchmark._losses.LogitAdjustedLoss` whose prior
    follows the acceptance rates of the rule
    (:class:`~rsft_sklearn.benchmark._losses.LogitAdjustmentPrior` with
    ``after_rejection=True``): the accepted data have the class prior
    ``pi'_k ~ pi_k * rate_k``, and removing that prior from the logits, not
    the training prior ``pi``, keeps the loss from correcting twice for what
    the rule already balanced.

    The decision follows the fixed point of training. The loss makes
    ``softmax(f + tau log pi')`` fit the accepted data, whose class-y density
    at ``x`` is ``eta_y(x) a_y(x)``, so the network's output is
    ``p_y ~ eta_y a_y / pi'_y ** tau``. The net's ``probability="balanced"``
    inverts the rule and divides by the training prior, which gives
    ``eta_y / (pi_y pi'_y ** tau)``; multiplying back by ``pi' ** tau``
    leaves the balanced posterior ``eta_y / pi_y``. The arg-max of the raw
    output would instead keep the factor ``a_y(x) / rate_y``: exact for
    ``hardness=0``, but with ``hardness > 0`` it favours the majority where
    the model hesitates (there its samples are accepted more often than on
    average).

    Parameters
    ----------
    estimator : RSFTClassifier
        The net; its ``criterion`` and ``probability`` are replaced, its
        callbacks kept.
    tau : float, default=1.0
        Scale of the logit adjustment.

    Attributes
    ----------
    estimator_ : RSFTClassifier
        The fitted net; its history holds ``loss_class_prior`` per epoch.
    loss_class_prior_ : ndarray of shape (n_classes,)
        The prior the loss used in the last epoch.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    backward_rows_ : int
        Backward-pass rows of the fit.

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn import RSFTClassifier
    >>> from rsft_sklearn.benchmark._rivals import LogitAdjustedRSFT
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(200, 2)).astype("float32")
    >>> y = np.r_[np.zeros(180, int), np.ones(20, int)]
    >>> clf = LogitAdjustedRSFT(RSFTClassifier(max_epochs=3, random_state=0))
    >>> clf.fit(X, y).predict_proba(X[:2]).sum(axis=1).round(6)
    array([1., 1.])
    """

    def __init__(self, estimator, *, tau=1.0):
        self.estimator = estimator
        self.tau = tau

    def fit(self, X, y):
        net = clone(self.estimator)
        callbacks = [
            *(net.callbacks or []),
            ("logit_adjustment_prior", LogitAdjustmentPrior(after_rejection=True)),
        ]
        self.estimator_ = net.set_params(
            criterion=LogitAdjustedLoss,
            criterion__tau=self.tau,
            predict_nonlinearity=softmax,
            probability="balanced",
            callbacks=callbacks,
        )
        self.estimator_.fit(X, y)
        self.loss_class_prior_ = np.asarray(
            self.estimator_.history[-1]["loss_class_prior"], dtype=np.float64
        )
        self.classes_ = self.estimator_.classes_
        self.backward_rows_ = history_rows(self.estimator_)
        return self

    def predict_proba(self, X):
        """Balanced posterior: the net's balanced output times ``pi' ** tau``."""
        check_is_fitted(self, "estimator_")
        balanced = self.estimator_.predict_proba(X)
        return _softmax(
            _log_proba(balanced) + self.tau * np.log(self.loss_class_prior_)
        )

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]


def last_linear_layer(module):
    """The last :class:`torch.nn.Linear` of ``module`` in registration order."""
    linear = [m for m in module.modules() if isinstance(m, torch.nn.Linear)]
    if not linear:
        raise ValueError(
            f"{type(module).__name__} has no torch.nn.Linear layer to retrain."
        )
    return linear[-1]


class ClassifierRetraining(ClassifierMixin, BaseEstimator):
    """Classifier re-training (cRT): plain features, a class-balanced last layer.

    Kang et al., "Decoupling representation and classifier for long-tailed
    recognition" (ICLR 2020): train the network plainly, then re-initialise
    its last layer and train that layer alone with class-balanced sampling,
    the rest frozen. ``fit`` trains ``estimator`` (a plain
    :class:`~rsft_sklearn.RSFTClassifier`), copies its network, re-initialises
    the last :class:`torch.nn.Linear` (seeded from the estimator's
    ``random_state``), freezes every other parameter, and trains the copy for
    ``retrain_epochs`` with the online class-balanced under-sampler
    ``hardness=0, M=1`` (every step keeps the rarest class whole and each
    other class at the rate that equalises the expected counts). That rule's
    output already estimates the balanced posterior, which is what the
    default ``probability="balanced"`` returns for it, so the decision is the
    arg-max of the retrained network.

    Parameters
    ----------
    estimator : RSFTClassifier
        The plain net of the first stage; the second stage copies its
        optimiser, learning rate, batch size, seed and callbacks.
    retrain_epochs : int, default=10
        Epochs of the second stage. A re-initialised layer needs about as
        many optimiser steps as the first stage took: on small tabular sets a
        third of them left it under-trained (balanced accuracy 0.69 against
        0.77 with as many epochs as the first stage, three KEEL sets).
    rejection : {"sample", "expected"}, default="sample"
        How the second stage balances the classes: a fresh class-balanced
        mask in every step, or the class-weighted loss.
    reinitialise : bool, default=True
        Re-initialise the last layer before retraining it (Kang et al.);
        ``False`` fine-tunes the first stage's layer instead.

    Attributes
    ----------
    features_estimator_ : RSFTClassifier
        The net of the first stage.
    estimator_ : RSFTClassifier
        The retrained net, which decides.
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    backward_rows_ : int
        Backward-pass rows of both stages (the second stage's backward pass
        stops at the last layer, but its rows are counted whole).

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn import RSFTClassifier
    >>> from rsft_sklearn.benchmark._rivals import ClassifierRetraining
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(100, 3)).astype("float32")
    >>> y = np.r_[np.zeros(80, int), np.ones(20, int)]
    >>> plain = RSFTClassifier(max_epochs=2, warmup_epochs=2, batch_size=50)
    >>> ClassifierRetraining(plain, retrain_epochs=1).fit(X, y).backward_rows_
    300
    """

    def __init__(
        self, estimator, *, retrain_epochs=10, rejection="sample", reinitialise=True
    ):
        self.estimator = estimator
        self.retrain_epochs = retrain_epochs
        self.rejection = rejection
        self.reinitialise = reinitialise

    def fit(self, X, y):
        if (
            not isinstance(self.retrain_epochs, numbers.Integral)
            or self.retrain_epochs < 1
        ):
            raise ValueError(
                "retrain_epochs must be a positive integer, got "
                f"{self.retrain_epochs!r}."
            )
        self.features_estimator_ = clone(self.estimator).fit(X, y)
        module = copy.deepcopy(self.features_estimator_.module_)
        for parameter in module.parameters():
            parameter.requires_grad_(False)
        head = last_linear_layer(module)
        seed = check_random_state(self.estimator.random_state).randint(2**31 - 1)
        if self.reinitialise:
            with torch.random.fork_rng(devices=[]), torch.no_grad():
                torch.manual_seed(int(seed))
                head.reset_parameters()
        for parameter in head.parameters():
            parameter.requires_grad_(True)
        params = {
            key: value
            for key, value in clone(self.estimator).get_params(deep=False).items()
            if not key.startswith("module__")
        }
        params.update(
            module=module,
            max_epochs=int(self.retrain_epochs),
            warmup_epochs=0,
            hardness=0.0,
            M=1.0,
            target="balanced",
            # The balanced target itself, and no logit adjustment: the first
            # stage's own (RSFTClassifier's defaults temper the target and
            # adjust the logits) would leave the layer under-balanced.
            target_power=1.0,
            prior_correction=0.0,
            rejection=self.rejection,
            probability="balanced",
        )
        self.estimator_ = type(self.estimator)(**params).fit(X, y)
        self.classes_ = self.estimator_.classes_
        self.backward_rows_ = history_rows(self.features_estimator_) + history_rows(
            self.estimator_
        )
        return self

    def predict_proba(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict_proba(X)

    def predict(self, X):
        check_is_fitted(self, "estimator_")
        return self.estimator_.predict(X)


class TunedThresholdNet(TunedThresholdClassifierCV):
    """:class:`~sklearn.model_selection.TunedThresholdClassifierCV` that
    counts the backward-pass rows of its fits.

    Binary data only. With a float ``cv`` (one stratified split) and
    ``refit=True`` it trains the estimator twice, on the split's training
    part and on all rows; ``backward_rows_`` adds both, the first computed
    from the second's history (a plain network runs every row every epoch).

    Parameters
    ----------
    estimator : RSFTClassifier
        A plain net.
    **kwargs : dict
        Parameters of :class:`~sklearn.model_selection.TunedThresholdClassifierCV`.

    Attributes
    ----------
    backward_rows_ : int
        Backward-pass rows of every fit.
    """

    def fit(self, X, y, **params):
        super().fit(X, y, **params)
        if isinstance(self.cv, numbers.Real) and 0 < self.cv < 1:
            cv = StratifiedShuffleSplit(
                n_splits=1, test_size=self.cv, random_state=self.random_state
            )
        else:
            cv = check_cv(self.cv, y, classifier=True)
        train_sizes = [len(train) for train, _ in cv.split(X, y)]
        # A plain network runs each of its training rows once per epoch.
        final_rows = history_rows(self.estimator_)
        per_row = final_rows / (len(y) if self.refit else train_sizes[0])
        self.backward_rows_ = final_rows + int(round(per_row * sum(train_sizes)))
        return self
