"""RSFT's acceptance rule as an imbalanced-learn sampler."""

import numbers

import numpy as np
import torch
from imblearn.under_sampling import RandomUnderSampler
from imblearn.under_sampling.base import BaseCleaningSampler
from sklearn import get_config
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import check_cv, cross_val_predict
from sklearn.utils import _safe_indexing, check_consistent_length, check_random_state
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions

from ._decision import is_probability_table
from ._multimodal import splitter_takes_groups
from ._rejection import (
    acceptance_probability,
    check_hardness,
    check_M_number,
    class_target_weight,
    rejection_mask,
)
from ._validation import (
    FLOAT64_EXACT_INTEGERS,
    as_real,
    check_class_weight,
    shown_number,
    validate_parameter,
)

__all__ = ["RejectionSampler"]


class RejectionSampler(BaseCleaningSampler):
    """Keep each row with RSFT's acceptance probability.

    An out-of-fold probabilistic classifier estimates ``p_i``, the probability
    of the true label of every row. Row ``i`` is then accepted with probability

    ``a_i = min(1, w_i / (M * p_i ** hardness))``

    where ``w_i`` is the target weight of its class, normalised so that the
    largest class weight is 1. This is the rule :class:`RSFTClassifier` applies
    in every training step, computed once before training so that any
    downstream estimator can use it: rare classes and rows the model finds
    hard are kept, easy rows of frequent classes are thinned out.

    Read more in the :ref:`User Guide <rejection_sampler>`.

    Parameters
    ----------
    estimator : estimator object, default=None
        Classifier with ``fit`` and ``predict_proba`` that estimates ``p_i``.
        It is cloned and fitted once per cross-validation fold. ``None`` uses
        ``LogisticRegression(class_weight="balanced", max_iter=1000)``; pass a
        pipeline to scale features first.

    M : float, default=1.0
        Envelope constant, ``M > 0``. Larger values reject more; with
        ``M <= min(w)`` every row is accepted.

    hardness : float, default=1.0
        Exponent of ``p_i``, ``hardness >= 0``. ``0`` ignores the estimator
        and gives class-balanced random under-sampling (no estimator is
        fitted then); ``1`` is the plain RSFT ratio ``w / (M * p)``.

    target : {"balanced", "uniform"} or dict, default="balanced"
        Class weights ``w``. ``"balanced"`` weights class ``k`` by
        ``1 / n_k``; ``"uniform"`` weights every class by 1; a dict maps every
        class label to a positive weight. The weights are divided by their
        maximum. ``"balanced"`` here is :class:`RSFTClassifier`'s
        ``target_power=1``; the classifier's default, ``target_power=0.5``,
        weights class ``k`` by ``1 / sqrt(n_k)``, which a dict gives here.

    sampling_strategy : str or list, default="all"
        Classes the rule applies to. Rows of the other classes are returned
        unchanged, once each, whatever ``n_rounds`` (their ``acceptance_`` is
        1).

        - ``"all"``: every class, exactly as :class:`RSFTClassifier` does;
        - ``"auto"`` or ``"not minority"``: every class but the smallest,
          which then survives any ``M`` whole;
        - ``"majority"``: only the largest class;
        - ``"not majority"``: every class but the largest;
        - a list of class labels.

    cv : int, cross-validation generator or iterable, default=5
        Splits used for the out-of-fold ``predict_proba``. An integer gives
        that many :class:`~sklearn.model_selection.StratifiedKFold` folds. A
        group splitter (:class:`~sklearn.model_selection.GroupKFold`) takes
        its groups from ``fit_resample(X, y, groups=...)``.

    n_rounds : int, default=1
        Number of independent acceptance draws. A row accepted in ``k``
        rounds appears ``k`` times in the output, so its expected number of
        copies is ``n_rounds * a_i``; ``k`` is drawn at once from
        ``Binomial(n_rounds, a_i)``, so the draws take memory for one count
        per row whatever ``n_rounds``. ``1`` under-samples; larger values
        over-sample by repetition, and with ``n_rounds = M`` the expected
        number of copies is ``min(M, w_i / p_i ** hardness)``: hard rows of
        rare classes are repeated up to ``M`` times.

    random_state : int, RandomState instance or None, default=None
        Seeds the acceptance draws (not the estimator or the folds; set
        those on ``estimator`` and ``cv``).

    n_jobs : int or None, default=None
        Number of jobs of the cross-validation loop, passed to
        :func:`~sklearn.model_selection.cross_val_predict`.

    Attributes
    ----------
    sampling_strategy_ : dict
        Classes the rule applies to, as keys.

    classes_ : ndarray of shape (n_classes,)
        Class labels seen in ``fit_resample``.

    target_weight_ : ndarray of shape (n_classes,)
        Normalised class weights ``w``, in the order of ``classes_``.

    true_class_proba_ : ndarray of shape (n_samples,)
        Out-of-fold probability of the true label of every input row; all
        ones when ``hardness=0``.

    acceptance_ : ndarray of shape (n_samples,)
        Acceptance probability ``a_i`` of every input row.

    sample_indices_ : ndarray of shape (n_new_samples,)
        Indices of the output rows in the input, in increasing order; a row
        accepted in several rounds appears that many times.

    n_features_in_ : int
        Number of features in the input data set.

    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen in ``fit_resample``. Defined only when ``X``
        has feature names that are all strings.

    See Also
    --------
    RSFTClassifier : Applies the same rule afresh in every training step.
    imblearn.under_sampling.InstanceHardnessThreshold : Removes the rows a
        classifier finds hardest, down to a requested count.
    imblearn.under_sampling.RandomUnderSampler : Random under-sampling.

    Notes
    -----
    The probabilities come from ``cross_val_predict(estimator, X, y, cv=cv,
    method="predict_proba")``, so a row is never judged by a model that saw
    it. ``a_i`` is computed from their logarithms, in log space, by
    :func:`acceptance_probability`, and the draws by :func:`rejection_mask`,
    the functions :class:`RSFTClassifier` uses.

    The number of rows per class is not requested but follows from the rule:
    class ``k`` keeps ``n_rounds * sum(a_i)`` rows in expectation over its
    rows ``i``. With ``hardness=0``, ``"balanced"`` and ``M=1`` that is
    ``n_rounds * n_min`` for every class.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.datasets import make_classification
    >>> from rsft_sklearn import RejectionSampler
    >>> X, y = make_classification(n_samples=1000, weights=[0.9, 0.1],
    ...                            random_state=0)
    >>> sampler = RejectionSampler(random_state=0)
    >>> X_res, y_res = sampler.fit_resample(X, y)
    >>> np.bincount(y), np.bincount(y_res)
    (array([897, 103]), array([126, 103]))
    >>> bool(sampler.acceptance_[y == 1].min() == 1.0)
    True
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"]), None],
        "M": [Interval(numbers.Real, 0, None, closed="neither")],
        "hardness": [Interval(numbers.Real, 0, None, closed="left")],
        "target": [StrOptions({"balanced", "uniform"}), dict],
        "sampling_strategy": [
            StrOptions({"auto", "majority", "not minority", "not majority", "all"}),
            list,
        ],
        "cv": ["cv_object"],
        "n_rounds": [Interval(numbers.Integral, 1, None, closed="left")],
        "random_state": ["random_state"],
        "n_jobs": [numbers.Integral, None],
    }

    def __init__(
        self,
        *,
        estimator=None,
        M=1.0,
        hardness=1.0,
        target="balanced",
        sampling_strategy="all",
        cv=5,
        n_rounds=1,
        random_state=None,
        n_jobs=None,
    ):
        super().__init__(sampling_strategy=sampling_strategy)
        self.estimator = estimator
        self.M = M
        self.hardness = hardness
        self.target = target
        self.cv = cv
        self.n_rounds = n_rounds
        self.random_state = random_state
        self.n_jobs = n_jobs

    def _validate_params(self):
        # M and hardness given as a Fraction are checked as their float
        # value (as RejectionLoss takes them), and shown as given;
        # get_params keeps the object.
        for name, value in self.get_params(deep=False).items():
            if name in self._parameter_constraints:
                validate_parameter(
                    name, value, self._parameter_constraints[name], type(self).__name__
                )

    def _class_weights(self, y_index):
        target = self.target
        if isinstance(target, dict):
            target = check_class_weight(target, self.classes_, "target")
        return class_target_weight(y_index, len(self.classes_), target)

    def _check_X_y(self, X, y):
        # RandomUnderSampler's check: the rows are judged by ``estimator``,
        # which checks X its own way (a pipeline may encode text columns,
        # HistGradientBoosting takes NaN), and hardness=0 judges nothing. A
        # DataFrame stays one, so the output keeps its index. That check
        # leaves the lengths to the judge's cross-validation, which
        # hardness=0 does not run: X longer than y lost its last rows
        # without a word.
        X, y, binarize_y = RandomUnderSampler._check_X_y(self, X, y)
        check_consistent_length(X, y)
        return X, y, binarize_y

    def _true_class_log_proba_logits(self, X, y, groups=None):
        estimator = (
            LogisticRegression(class_weight="balanced", max_iter=1000)
            if self.estimator is None
            else clone(self.estimator)
        )
        cv = check_cv(self.cv, y, classifier=True)
        # Under scikit-learn's metadata routing, cross_val_predict refuses
        # groups= and takes them among its params, for a splitter that asks
        # for them (another one ignores them, as without routing).
        split = {"groups": groups}
        if get_config().get("enable_metadata_routing") and groups is not None:
            wanted = splitter_takes_groups(cv)
            split = {"params": {"groups": groups}} if wanted else {}
        proba = cross_val_predict(
            estimator,
            X,
            y,
            cv=cv,
            method="predict_proba",
            n_jobs=self.n_jobs,
            **split,
        )
        n_classes = len(np.unique(y))
        proba = np.asarray(proba, dtype=np.float64)
        if proba.ndim != 2 or proba.shape != (len(y), n_classes):
            raise ValueError(
                f"{type(estimator).__name__}.predict_proba must return one column "
                f"per class, shape ({len(y)}, {n_classes}); got {proba.shape}."
            )
        if not is_probability_table(proba):
            raise ValueError(
                f"{type(estimator).__name__}.predict_proba must return finite "
                "probabilities in [0, 1] whose rows sum to 1; the acceptance "
                "reads the true class's probability from them."
            )
        # Rows summing to 1 within rounding, normalised: true_class_proba_ is
        # then the probability the acceptance reads. Log-probabilities are
        # logits whose log-softmax is themselves, so the acceptance can be
        # computed by the very function the network uses.
        total = proba.sum(axis=1, keepdims=True)
        proba = proba / np.where(total > 0, total, 1.0)
        with np.errstate(divide="ignore"):
            return np.log(proba)

    def _fit_resample(self, X, y, groups=None):
        rounds = as_real(self.n_rounds)
        if rounds is None:
            # A bool is an Integral to the parameter check, but not a count;
            # anything else that is not a number reaches here only under
            # skip_parameter_validation.
            raise TypeError(
                f"n_rounds must be a whole number >= 1, got {self.n_rounds!r}."
            )
        if self.n_rounds > FLOAT64_EXACT_INTEGERS:
            # The draws count in float64: a larger count is rounded (and
            # 10**400 failed with Python's OverflowError).
            raise ValueError(
                f"n_rounds must be a whole number in [1, 2**53], the counts "
                f"float64 holds exactly; got {shown_number(self.n_rounds)}."
            )
        if not (rounds >= 1 and rounds.is_integer()):
            # The parameter check refuses these too, unless
            # sklearn.set_config(skip_parameter_validation=True) skipped it:
            # torch.binomial truncates the count (2.5 drew 2 rounds, without
            # a word), and 0 or -1 accepted no row, which was blamed on M.
            raise ValueError(
                "n_rounds must be a whole number >= 1, got "
                f"{shown_number(self.n_rounds)}."
            )
        # Before the estimator's cross-validated fits (the parameter check
        # takes a bool for a number). As floats: a Fraction gives what its
        # float value gives.
        check_M_number(self.M)
        M = as_real(self.M)
        hardness = check_hardness(self.hardness)
        self.classes_, y_index = np.unique(y, return_inverse=True)
        self.target_weight_ = self._class_weights(y_index)

        if hardness == 0:
            logits = np.zeros((len(y), len(self.classes_)))
        else:
            logits = self._true_class_log_proba_logits(X, y, groups)
            # A row where every class is impossible gives the true class a
            # probability of 0, hence an acceptance of 1 (its logits, all
            # -inf, would give NaN).
            impossible = np.all(np.isneginf(logits), axis=1)
            logits[impossible] = 0.0
            logits[impossible, y_index[impossible]] = -np.inf
        logits = torch.from_numpy(logits)
        y_tensor = torch.from_numpy(y_index)
        weight = torch.from_numpy(self.target_weight_[y_index])
        acceptance = acceptance_probability(
            logits, y_tensor, weight, M=M, hardness=hardness
        )
        targeted = torch.from_numpy(np.isin(y, list(self.sampling_strategy_)))
        acceptance[~targeted] = 1.0

        if hardness == 0:
            self.true_class_proba_ = np.ones(len(y))
        else:
            self.true_class_proba_ = np.exp(
                np.take_along_axis(logits.numpy(), y_index[:, None], axis=1)[:, 0]
            )
        self.acceptance_ = acceptance.double().numpy()

        seed = check_random_state(self.random_state).randint(np.iinfo(np.int32).max)
        generator = torch.Generator().manual_seed(int(seed))
        if self.n_rounds == 1:
            copies = rejection_mask(acceptance, generator=generator)
        else:
            # The number of rounds that accept a row is Binomial(n_rounds,
            # a_i): one draw per row, so memory does not grow with n_rounds
            # (n_rounds Bernoulli draws per row held n_rounds * n floats).
            probability = acceptance.double()
            copies = torch.binomial(
                torch.full_like(probability, float(self.n_rounds)),
                probability,
                generator=generator,
            )
        # imbalanced-learn leaves classes outside sampling_strategy untouched,
        # so they are not repeated by extra rounds either
        copies[~targeted] = 1.0
        self.sample_indices_ = np.repeat(
            np.arange(len(y)), copies.to(torch.int64).numpy()
        )
        if self.sample_indices_.size == 0:
            raise ValueError(
                f"No row was accepted with M={self.M}; lower M or raise n_rounds."
            )
        return (
            _safe_indexing(X, self.sample_indices_),
            _safe_indexing(y, self.sample_indices_),
        )

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is the estimator's to check (see _check_X_y), as for
        # RandomUnderSampler: what a pipeline as the estimator takes (text
        # columns it encodes, NaN it imputes) is not known from its tags.
        tags.input_tags.allow_nan = True
        tags.input_tags.string = True
        tags.sampler_tags.sample_indices = True
        return tags
