"""RSFTClassifier: a skorch classifier whose training step rejects samples."""

import copy
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, Options, StrOptions
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    check_array,
    check_is_fitted,
    column_or_1d,
    validate_data,
)
from skorch import NeuralNetClassifier
from skorch.callbacks import (
    Callback,
    EpochScoring,
    EpochTimer,
    PassthroughScoring,
    PrintLog,
)
from skorch.dataset import unpack_data
from skorch.utils import is_dataset, to_tensor

from ._compaction import (
    check_compact,
    compacted_train_step,
    compaction_active,
    needs_two_rows,
)
from ._data import BatchIterator, InMemoryDataset
from ._decision import PROBABILITY_OPTIONS, class_prior, decision_proba
from ._guards import check_finite_parameters
from ._modules import MLPModule, _check_module_output
from ._multimodal import check_dataset, group_weight, wrap_dataset
from ._persistence import (
    GENERATORS_KEY,
    PICKLE_FORMAT_KEY,
    GeneratorState,
    check_pickle_format,
    pack_generators,
    unpack_generators,
)
from ._rejection import acceptance_probability, class_target_weight, rejection_mask
from ._schedules import AdaptiveM, check_adaptive_M, epoch_value

__all__ = ["RSFTClassifier"]


def _encoded_accuracy(net, X, y):
    """Validation accuracy on the encoded labels that the training data hold."""
    y = np.asarray(y).reshape(-1)
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == y))


class RSFTClassifier(NeuralNetClassifier):
    """Neural-network classifier trained with rejection-sampling fine-tuning.

    In every training step each sample of the batch is accepted with
    probability ``a_i = min(1, w_i / (M * p_i ** hardness))``, where ``p_i`` is
    the current model's probability of the true label and ``w_i`` the
    sample's target weight; the mask is drawn on the device of the logits and
    only accepted samples contribute to the gradient. Rare classes and badly
    predicted samples are kept, easy majority samples are mostly rejected.

    Every parameter of :class:`skorch.NeuralNetClassifier` (``module__*``,
    ``optimizer__*``, ``callbacks``, ``device``, ...) works as in skorch.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network; it must return logits of shape ``(batch, n_classes)``.
        ``None`` builds a :class:`~rsft_sklearn.MLPModule` whose input and
        output sizes come from the data at fit time (set its layers with
        ``module__hidden_layer_sizes``).
    M : float, "auto" or callable, default=1.0
        Envelope constant, ``M > 0``. Larger values reject more; with the
        normalisation of the target weights (largest class weight 1), ``M = 1``
        keeps every sample of the rarest class that the model does not
        already predict with certainty. A callable is a schedule: it gets the
        index of every epoch (0 for the first) and returns that epoch's ``M``,
        see :class:`~rsft_sklearn.LinearRamp`. ``"auto"`` adapts ``M`` at
        every step, on the device, so that the acceptance rate holds
        ``target_acceptance``.
    hardness : float or callable, default=1.0
        Exponent of the model probability in the rule, ``>= 0``. ``1`` is the
        ratio ``target / model probability``; ``0`` ignores the model, which
        makes the step an online class-balanced random under-sampler. A
        callable is a schedule over epochs, as for ``M``.
    target : {"balanced", "uniform", "balanced_groups"} or dict, \
            default="balanced"
        Class target weights: ``"balanced"`` uses ``1 / n_k``, ``"uniform"``
        uses 1, a dict maps every class label to a positive weight. Weights
        are divided by their maximum. ``"balanced_groups"`` balances the
        strata of (group, class) instead, with ``1 / n_(g, k)`` from the
        ``groups`` passed to :meth:`fit`.
    rejection : {"sample", "expected", "epoch"}, default="sample"
        ``"sample"`` draws a Bernoulli mask in every training step;
        ``"expected"`` weights every sample's loss by its acceptance
        probability instead (deterministic, lower variance); ``"epoch"``
        scores every training row once at the start of each epoch (one
        gradient-free pass in large batches), draws the mask then, and trains
        the epoch on the accepted rows only: rejected rows cost no backward
        pass and no optimiser step, at the price of probabilities that are up
        to one epoch old. ``"epoch"`` needs array inputs.
    warmup_epochs : int, default=0
        Number of first epochs that train on every sample without rejection.
    loss_normalization : {"accepted", "batch"}, default="accepted"
        Divide the masked loss sum by the number (or, for ``"expected"``, the
        total weight) of accepted samples, or by the batch size. ``"batch"``
        is an unbiased estimate of the expected masked loss and is what keeps
        data-parallel training exact; ``"accepted"`` keeps the gradient scale
        independent of the acceptance rate.
    compact : bool or "auto", default=False
        ``True`` trains each batch on its accepted rows only: a
        gradient-free forward pass (in evaluation mode) scores the batch,
        then forward and backward run on the accepted rows, so an epoch
        costs less the more is rejected. It reads the number of accepted
        rows back to the host once per batch. With Dropout the scores come
        from the network without dropout; with BatchNorm they use the
        running statistics, and the training pass normalises over (and
        updates the running statistics from) the accepted rows only. Without
        either, the result equals ``compact=False`` up to rounding.
        ``"auto"`` compacts an epoch when the previous one accepted less
        than half of the rows and the network is large enough for the saving
        to outweigh the second pass (parameters times ``batch_size`` at least
        ``2**24``). Needs ``rejection="sample"``.
    target_acceptance : float or None, default=None
        Acceptance rate in ``(0, 1]`` that ``M="auto"`` holds; required with
        it and ignored otherwise.
    probability : {"balanced", "training", "raw"}, default="balanced"
        What :meth:`predict_proba` returns, and so what :meth:`predict`
        decides on. Training with rejection changes what the network's output
        estimates; the fixed point of training inverts it (see
        :func:`~rsft_sklearn.correct_proba`). ``"balanced"``: the posterior
        under equal class priors, whose arg-max maximises the expected
        balanced accuracy; ``"training"``: the posterior of the training
        data's class mix; ``"raw"``: the softmax of the logits as it is.
        Only prediction reads it, so it can be changed after fit.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the rejection masks.
        With an int, two fits on CPU give identical models.
    criterion : torch criterion class, default=torch.nn.CrossEntropyLoss
        Must accept ``reduction="none"``; it receives logits.
    optimizer : torch optimizer class, default=torch.optim.Adam
    lr : float, default=1e-3
    max_epochs : int, default=50
    batch_size : int, default=128
    train_split : callable or None, default=None
        skorch's validation split; ``None`` trains on all the data.
    verbose : int, default=0
        ``1`` prints skorch's epoch table, with the acceptance rates.
    device : str or torch.device, default="cpu"
    **kwargs : dict
        Any other :class:`skorch.NeuralNetClassifier` parameter.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of the columns of :meth:`predict_proba`.
    n_features_in_ : int
        Number of features seen during fit (array input).
    class_target_weight_ : ndarray of shape (n_classes,)
        Normalised class target weights used by the rule (all 1 under
        ``"balanced_groups"``, whose weights are per stratum).
    groups_ : ndarray of shape (n_groups,)
        Group labels seen by the first fit (``"balanced_groups"`` only).
    stratum_target_weight_ : ndarray of shape (n_groups, n_classes)
        Target weight of every (group, class) stratum, the largest 1
        (``"balanced_groups"`` only).
    class_prior_ : ndarray of shape (n_classes,)
        Class frequencies of the training data.
    final_M_ : float or None
        ``M`` of the last epoch (for ``"auto"``, the geometric mean over its
        steps); None when that epoch trained without rejection.
    final_hardness_ : float
        ``hardness`` of the last epoch.
    module_ : torch.nn.Module
        The trained network.
    history_ : skorch.History
        Per-epoch records, among them ``acceptance_rate``,
        ``acceptance_rate[<label>]`` for every class and ``M_effective``.
    generators_ : GeneratorState
        The random generators of the shuffles and the masks as one state
        that skorch saves like a module: add ``f_generators="generators.pt"``
        to :class:`skorch.callbacks.Checkpoint` (or pass ``f_generators`` to
        ``save_params``/``load_params``) and training resumed with
        :class:`skorch.callbacks.LoadInitState` continues the same random
        stream, so it ends with the parameters of an uninterrupted fit.

    See Also
    --------
    skorch.NeuralNetClassifier : The base class; the training loop is its own.
    imblearn.under_sampling.RandomUnderSampler : Offline random
        under-sampling, which ``hardness=0`` does afresh at every step.

    Notes
    -----
    A batch in which nothing is accepted leaves every parameter and the
    optimiser state unchanged; this is done on the device (the step is taken
    and then undone with ``torch.where``), so no value is read back to the
    host during training. Statistics accumulate on the device and are read
    once per epoch.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from rsft_sklearn import RSFTClassifier
    >>> X, y = make_classification(n_samples=300, weights=[0.9], random_state=0)
    >>> clf = RSFTClassifier(M=1.0, max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> sorted(k for k in clf.history[-1] if k.startswith("acceptance_rate["))
    ['acceptance_rate[0]', 'acceptance_rate[1]']
    """

    _parameter_constraints = {
        "M": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            callable,
        ],
        "hardness": [Interval(numbers.Real, 0, None, closed="left"), callable],
        "target_acceptance": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "probability": [StrOptions(set(PROBABILITY_OPTIONS))],
        "target": [StrOptions({"balanced", "uniform", "balanced_groups"}), dict],
        "rejection": [StrOptions({"sample", "expected", "epoch"})],
        "warmup_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "loss_normalization": [StrOptions({"accepted", "batch"})],
        "compact": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Options(numbers.Integral, {-1}),
        ],
    }

    # skorch's __init__ stores these three as instance attributes; keeping
    # them behind properties with class-level defaults lets __init__ store
    # parameters and nothing else, as scikit-learn requires.
    @property
    def history_(self):
        return self.__dict__.get("_history_")

    @history_.setter
    def history_(self, value):
        self.__dict__["_history_"] = value

    @property
    def initialized_(self):
        return self.__dict__.get("_initialized_", False)

    @initialized_.setter
    def initialized_(self, value):
        self.__dict__["_initialized_"] = value

    @property
    def virtual_params_(self):
        return self.__dict__.setdefault("_virtual_params_", {})

    @virtual_params_.setter
    def virtual_params_(self, value):
        self.__dict__["_virtual_params_"] = value

    def __init__(
        self,
        module=None,
        *,
        M=1.0,
        hardness=1.0,
        target="balanced",
        rejection="sample",
        warmup_epochs=0,
        loss_normalization="accepted",
        compact=False,
        target_acceptance=None,
        probability="balanced",
        random_state=None,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=50,
        batch_size=128,
        iterator_train=BatchIterator,
        iterator_valid=BatchIterator,
        dataset=InMemoryDataset,
        train_split=None,
        callbacks=None,
        predict_nonlinearity="auto",
        warm_start=False,
        verbose=0,
        device="cpu",
        compile=False,
        use_caching="auto",
        torch_load_kwargs=None,
        classes=None,
        **kwargs,
    ):
        # Stored with vars() so that skorch's __setattr__, which registers
        # torch components, does not see a module instance as a late addition.
        params = {k: v for k, v in locals().items() if k not in ("self", "kwargs")}
        vars(self).update(params)
        self._params_to_validate = set(kwargs)
        vars(self).update(kwargs)

    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    @property
    def _default_callbacks(self):
        return [
            ("epoch_timer", EpochTimer()),
            ("train_loss", PassthroughScoring(name="train_loss", on_train=True)),
            ("valid_loss", PassthroughScoring(name="valid_loss")),
            (
                "valid_acc",
                EpochScoring(
                    _encoded_accuracy, name="valid_acc", lower_is_better=False
                ),
            ),
            ("print_log", PrintLog()),
        ]

    @property
    def classes_(self):
        try:
            return self.classes_inferred_
        except AttributeError as exc:
            raise AttributeError(
                f"{type(self).__name__} has no attribute 'classes_' before fit."
            ) from exc

    # ------------------------------------------------------------------
    # Validation
    # ------------------------------------------------------------------
    def _validate_hyperparameters(self):
        from sklearn.utils._param_validation import validate_parameter_constraints

        validate_parameter_constraints(
            self._parameter_constraints,
            {key: getattr(self, key) for key in self._parameter_constraints},
            caller_name=type(self).__name__,
        )
        check_compact(self.compact, self.rejection)
        callbacks = self.callbacks
        valid = callbacks is None or (
            isinstance(callbacks, (list, tuple))
            and all(
                isinstance(cb, Callback)
                or (isinstance(cb, type) and issubclass(cb, Callback))
                or (
                    isinstance(cb, tuple)
                    and len(cb) == 2
                    and isinstance(cb[0], str)
                    and isinstance(cb[1], Callback)
                )
                for cb in callbacks
            )
        )
        if not valid:
            raise TypeError(
                "callbacks must be None or a list of skorch callbacks or "
                f"(name, callback) pairs, got {callbacks!r}."
            )

    def _validate_X(self, X, reset):
        if isinstance(X, Mapping) and not sp.issparse(X):
            return self._validate_X_dict(X, reset)
        X = validate_data(
            self,
            X,
            reset=reset,
            dtype=(np.float32, np.float64),
            allow_nd=True,
            ensure_min_samples=1,
        )
        return _to_float32(X, "X")

    def _validate_X_dict(self, X, reset):
        if not X:
            raise ValueError("X is an empty dict; give one array per input.")
        out = {}
        for key, value in X.items():
            if not isinstance(key, str):
                raise TypeError(f"Keys of a dict X must be str, got {key!r}.")
            arr = check_array(
                value,
                dtype=(np.float32, np.float64),
                allow_nd=True,
                ensure_2d=False,
                input_name=f"X[{key!r}]",
            )
            out[key] = _to_float32(arr, f"X[{key!r}]")
        lengths = {key: len(value) for key, value in out.items()}
        if len(set(lengths.values())) != 1:
            raise ValueError(
                f"All inputs of a dict X must have the same length, got {lengths}."
            )
        if reset:
            self.input_keys_ = sorted(out)
        else:
            missing = set(self.input_keys_) - set(out)
            if missing:
                raise ValueError(
                    f"X is missing the input(s) {sorted(missing)} seen during fit."
                )
        return out

    def _encode_y(self, y, reset):
        y = column_or_1d(y, warn=True)
        check_classification_targets(y)
        if type_of_target(y) not in ("binary", "multiclass"):
            raise ValueError(
                f"y must hold binary or multiclass labels, got {type_of_target(y)}."
            )
        if reset:
            classes = np.unique(y) if self.classes is None else np.asarray(self.classes)
            if len(np.unique(y)) < 2 and self.classes is None:
                raise ValueError(
                    f"y holds one class only ({classes[0]!r}); a classifier needs "
                    "at least two classes."
                )
            self.classes_inferred_ = classes
        classes = self.classes_
        idx = np.searchsorted(classes, y)
        idx = np.clip(idx, 0, len(classes) - 1)
        unseen = classes[idx] != y
        if np.any(unseen):
            raise ValueError(
                "y contains labels not seen during fit: "
                f"{np.unique(y[unseen])[:10].tolist()}."
            )
        return idx.astype(np.int64)

    def _check_target(self):
        classes = self.classes_
        if isinstance(self.target, dict):
            missing = [c for c in classes if c not in self.target]
            if missing:
                raise ValueError(f"target dict has no weight for class(es) {missing}.")
            return np.asarray([self.target[c] for c in classes], dtype=np.float64)
        if self.target == "balanced_groups":
            # The (group, class) weights are per sample; see _multimodal.
            return "uniform"
        return self.target

    # ------------------------------------------------------------------
    # Public API
    # ------------------------------------------------------------------
    def fit(self, X, y, sample_weight=None, groups=None, **fit_params):
        """Initialise the network and train it with rejection sampling.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...), dict of str to array-like \
                or torch.utils.data.Dataset
            Numeric inputs; a dict holds one array per named module input (a
            DataFrame is one input, its columns the features). A ``Dataset``
            yields per row the inputs (a tensor, or a dict of tensors) or a
            pair ``(inputs, label)``. Values must be finite and within the
            float32 range; sparse matrices are refused with a ``TypeError``
            (the network computes on dense tensors: densify them explicitly
            with ``.toarray()`` when they fit in memory).
        y : array-like of shape (n_samples,)
            Class labels of any type; for a ``Dataset``, the labels of its
            rows in order (a label the dataset yields must agree).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative per-sample weights that multiply the class target
            weights (divided by their mean so that ``M`` keeps its meaning).
        groups : array-like of shape (n_samples,), default=None
            Group of every sample (data source, modality, site), required by
            and only allowed with ``target="balanced_groups"``.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : RSFTClassifier
            The fitted estimator.
        """
        if not self.warm_start or not self.initialized_:
            self._prepare_data(X, y, sample_weight, reset=True, groups=groups)
            self.initialize()
        else:
            # After initialize() and load_params() no data has been seen yet.
            reset = not hasattr(self, "classes_inferred_")
            self._prepare_data(X, y, sample_weight, reset=reset, groups=groups)
        return self._train(**fit_params)

    def partial_fit(
        self, X, y, classes=None, sample_weight=None, groups=None, **fit_params
    ):
        """Continue training on ``(X, y)`` for ``max_epochs`` epochs.

        The first call initialises the network; later calls keep it. Pass
        ``classes`` on the first call when a batch may miss some classes.

        Parameters
        ----------
        X : array-like or dict of str to array-like
            Inputs.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All class labels; only read on the first call.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample target weights.
        groups : array-like of shape (n_samples,), default=None
            Group of every sample, for ``target="balanced_groups"``; the
            stratum weights of the first call are kept.
        **fit_params : dict
            Passed to the module's ``forward``.

        Returns
        -------
        self : RSFTClassifier
            The estimator.
        """
        first = not self.initialized_
        # initialize() and load_params() give a network but no data.
        reset = first or not hasattr(self, "classes_inferred_")
        if reset and classes is not None and self.classes is None:
            self.classes = np.asarray(classes)
            try:
                self._prepare_data(X, y, sample_weight, reset=True, groups=groups)
            finally:
                self.classes = None
        else:
            self._prepare_data(X, y, sample_weight, reset=reset, groups=groups)
        if first:
            self.initialize()
        return self._train(**fit_params)

    def _prepare_data(self, X, y, sample_weight, reset, groups=None):
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, "
                "but the target y is None."
            )
        if reset:
            self._validate_hyperparameters()
            check_adaptive_M(self.M, self.target_acceptance)
        if is_dataset(X):
            n = check_dataset(self, X, reset=reset)
        else:
            X = self._validate_X(X, reset=reset)
            n = len(next(iter(X.values()))) if isinstance(X, dict) else len(X)
        y_enc = self._encode_y(y, reset=reset)
        if len(y_enc) != n:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {n} and {len(y_enc)}."
            )
        if reset:
            self.class_target_weight_ = class_target_weight(
                y_enc, len(self.classes_), self._check_target()
            )
            self.class_prior_ = class_prior(y_enc, len(self.classes_))
        weight = None
        if sample_weight is not None:
            weight = _check_sample_weight(
                sample_weight, np.empty(n), dtype=np.float64, ensure_non_negative=True
            )
            if not np.all(np.isfinite(weight)) or weight.sum() <= 0:
                raise ValueError("sample_weight must be finite with a positive sum.")
            weight = torch.as_tensor(weight / weight.mean(), dtype=torch.float32)
        weight = group_weight(self, y_enc, groups, weight, reset=reset)
        self._train_data_ = (X, torch.as_tensor(y_enc), weight)

    def _train(self, **fit_params):
        X, y, self.fit_sample_weight_ = self._train_data_
        del self._train_data_
        # Dropout and other modules draw from torch's global generator; the
        # fit gets a private copy of it, reseeded every epoch from init_seed_
        # (see on_epoch_begin), so it neither disturbs the caller's stream nor
        # depends on it.
        try:
            with torch.random.fork_rng(devices=_cuda_devices(self.device)):
                return super().partial_fit(X, y, **fit_params)
        finally:
            del self.fit_sample_weight_

    def predict_proba(self, X):
        """Class probabilities of the network, columns ordered as ``classes_``.

        Parameters
        ----------
        X : array-like or dict of str to array-like
            Inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            The posterior chosen by ``probability``: the softmax of the logits
            (``"raw"``) or its correction for the rejection of the last
            training epoch.
        """
        check_is_fitted(self)
        if not is_dataset(X):
            X = self._validate_X(X, reset=False)
        return decision_proba(self, super().predict_proba(X))

    def predict(self, X):
        """Predict class labels.

        Parameters
        ----------
        X : array-like or dict of str to array-like
            Inputs.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def check_data(self, X, y):
        # Labels are encoded in fit; skorch's own inference of classes from
        # the encoded y would overwrite classes_.
        pass

    def set_params(self, **kwargs):
        # skorch builds the callback list as soon as ``callbacks`` is set;
        # before initialisation the value is only stored, and fit validates it.
        if "callbacks" in kwargs and not self.initialized_:
            self.callbacks = kwargs.pop("callbacks")
        return super().set_params(**kwargs)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "module_") and hasattr(self, "classes_inferred_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        return tags

    @property
    def generators_(self):
        if not any(isinstance(v, torch.Generator) for v in vars(self).values()):
            raise AttributeError(
                f"{type(self).__name__} has no generators before it is initialised."
            )
        return GeneratorState(self)

    def __getstate__(self):
        return pack_generators(super().__getstate__())

    def __setstate__(self, state):
        check_pickle_format(state, type(self).__name__)
        state.pop(PICKLE_FORMAT_KEY)
        generators = state.pop(GENERATORS_KEY)
        super().__setstate__(state)
        unpack_generators(self, generators)

    # ------------------------------------------------------------------
    # skorch hooks
    # ------------------------------------------------------------------
    def get_dataset(self, X, y=None, sample_weight=None):
        if is_dataset(X):
            return wrap_dataset(self, X, y, sample_weight)
        if isinstance(X, Mapping):
            X = {k: torch.as_tensor(v) for k, v in X.items()}
        else:
            X = torch.as_tensor(X)
        y = None if y is None else torch.as_tensor(y)
        return InMemoryDataset(X, y, sample_weight, device=self.device)

    def get_split_datasets(self, X, y=None, **fit_params):
        # The sample weights travel inside the dataset, not as forward kwargs.
        dataset = self.get_dataset(X, y, getattr(self, "fit_sample_weight_", None))
        if not self.train_split:
            return dataset, None
        return self.train_split(dataset, None if y is None else y.numpy(), **fit_params)

    def get_iterator(self, dataset, training=False):
        if training:
            kwargs = self.get_params_for("iterator_train")
            if self.iterator_train is BatchIterator:
                kwargs.setdefault("shuffle", True)
                kwargs.setdefault("generator", self.shuffle_generator_)
            iterator = self.iterator_train
        else:
            kwargs = self.get_params_for("iterator_valid")
            iterator = self.iterator_valid
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
        iterator = iterator(dataset, **kwargs)
        if training:
            self.train_iterator_ = iterator
        return iterator

    def initialize(self):
        self._seed_generators()
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.init_seed_)
            return super().initialize()

    def _seed_generators(self):
        rng = check_random_state(self.random_state)
        seeds = rng.randint(0, 2**31 - 1, size=3)
        self.init_seed_ = int(seeds[0])
        self.shuffle_generator_ = torch.Generator().manual_seed(int(seeds[1]))
        self.mask_generator_ = torch.Generator(device=self.device).manual_seed(
            int(seeds[2])
        )

    def initialize_module(self):
        if self.module is None:
            kwargs = self.get_params_for("module")
            kwargs.setdefault("n_features", self._n_input_features())
            kwargs.setdefault("n_classes", len(self.classes_))
            module = MLPModule(**kwargs)
            self.module_ = module.to(self.device)
            return self
        if isinstance(self.module, torch.nn.Module) and not self.get_params_for(
            "module"
        ):
            # Training a copy keeps the given instance pristine, so that a
            # refit, a clone and every fold of a grid search start from the
            # weights it had when it was passed in.
            self.module_ = copy.deepcopy(self.module).to(self.device)
            return self
        if isinstance(self.module, torch.nn.Module):
            warnings.warn(
                f"module is an instance and module__* parameters are set "
                f"({sorted(self.get_params_for('module'))}): a new "
                f"{type(self.module).__name__} is built from them and the "
                "instance's weights are not used. Drop the module__* parameters "
                "to start from the instance's weights.",
                UserWarning,
                stacklevel=2,
            )
        return super().initialize_module()

    def _n_input_features(self):
        if not hasattr(self, "n_features_in_"):
            raise ValueError(
                "The default MLP needs array input; pass a module for dict or "
                "Dataset inputs."
            )
        return self.n_features_in_

    def initialize_criterion(self):
        super().initialize_criterion()
        if not hasattr(self.criterion_, "reduction"):
            raise TypeError(
                "RSFTClassifier needs a criterion with a 'reduction' attribute "
                "(per-sample losses), such as torch.nn.CrossEntropyLoss."
            )
        self.criterion_.reduction = "none"
        return self

    def get_loss(self, y_pred, y_true, X=None, training=False):
        losses = self.criterion_(y_pred, to_tensor(y_true, device=self.device))
        return losses.mean() if losses.dim() else losses

    def _target_weight(self, y, w):
        weight = self.class_target_weight_t_.index_select(0, y)
        return weight if w is None else weight * w

    def _current_M(self):
        if getattr(self, "M_controller_", None) is not None:
            return float("nan")
        return epoch_value(self.M, len(self.history) - 1, "M", positive=True)

    def _rejecting(self):
        return len(self.history) > self.warmup_epochs

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        self.class_target_weight_t_ = torch.as_tensor(
            self.class_target_weight_, dtype=torch.float32, device=self.device
        )
        adaptive = isinstance(self.M, str) and self.M == "auto"
        self.M_controller_ = (
            AdaptiveM(self.target_acceptance, self.device) if adaptive else None
        )

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        torch.manual_seed(self.init_seed_ + len(self.history))
        self.epoch_M_ = torch.tensor(self._current_M(), device=self.device)
        self.epoch_hardness_ = epoch_value(
            self.hardness, len(self.history) - 1, "hardness", positive=False
        )
        if self.M_controller_ is not None:
            self.M_controller_.begin_epoch(self.epoch_M_)
        self.epoch_rejecting_ = self._rejecting()
        self.epoch_compact_ = compaction_active(self)
        self.compact_needs_two_rows_ = self.epoch_compact_ and needs_two_rows(
            self.module_
        )
        self.epoch_stats_ = torch.zeros(3, len(self.classes_), device=self.device)
        self.epoch_rows_selected_ = self.epoch_rejecting_ and self.rejection == "epoch"
        iterator = self.__dict__.get("train_iterator_")
        if self.epoch_rows_selected_:
            iterator.rows = self._select_epoch_rows(iterator)
        elif isinstance(iterator, BatchIterator):
            iterator.rows = None

    def _select_epoch_rows(self, iterator):
        """Score every training row once and return the accepted positions.

        ``rejection="epoch"``: the mask is drawn from the model as it stands
        at the start of the epoch, and the epoch then trains on the accepted
        rows only, so rejected rows cost one gradient-free forward pass in
        large batches. Reading the accepted count is one host
        synchronisation per epoch.
        """
        if not (isinstance(iterator, BatchIterator) and iterator.in_memory):
            raise ValueError(
                "rejection='epoch' needs array inputs (or a dict of arrays) "
                "batched by BatchIterator; use rejection='sample' for torch "
                "Datasets or other iterators."
            )
        self._set_training(False)
        masks = []
        with torch.no_grad():
            for batch in iterator.row_batches(max(self.batch_size, 2048)):
                Xi, yi, wi = _unpack(batch)
                logits = self.infer(Xi)
                _check_module_output(logits, len(self.classes_))
                acceptance = self._acceptance(logits, yi, wi)
                mask = rejection_mask(acceptance, self.mask_generator_)
                stats = torch.stack([torch.ones_like(mask), mask, acceptance])
                self.epoch_stats_.index_add_(1, yi, stats)
                masks.append(mask)
        return torch.nonzero(torch.cat(masks)).reshape(-1).cpu()

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        check_finite_parameters(self)
        seen, accepted, _ = self.epoch_stats_.cpu().numpy()
        with np.errstate(invalid="ignore", divide="ignore"):
            per_class = accepted / seen
        self.history.record(
            "acceptance_rate", float(accepted.sum() / max(seen.sum(), 1))
        )
        for label, rate in zip(self.classes_, per_class):
            self.history.record(f"acceptance_rate[{label}]", float(rate))
        self.history.record("M_effective", float(self.epoch_M_.cpu()))
        # What the network's output now estimates depends on the rule of the
        # latest epoch; predict_proba inverts it.
        self.final_M_ = self.history[-1, "M_effective"]
        if not self.epoch_rejecting_:
            self.final_M_ = None
        self.final_hardness_ = self.epoch_hardness_
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # Per-step device state is rebuilt by the next fit; dropping it keeps
        # pickles free of device tensors.
        for name in _STEP_STATE:
            self.__dict__.pop(name, None)
        super().on_train_end(net, X=X, y=y, **kwargs)

    def train_step_single(self, batch, **fit_params):
        # Setting the mode walks every submodule; between two training steps
        # nothing switches it back.
        if not all(getattr(self, name + "_").training for name in self._modules):
            self._set_training(True)
        Xi, yi, wi = _unpack(batch)
        yi = to_tensor(yi, device=self.device)
        # Rows of a torch Dataset arrive on the CPU, weights included.
        wi = None if wi is None else to_tensor(wi, device=self.device)
        if self.epoch_compact_:
            return compacted_train_step(self, Xi, yi, wi, **fit_params)
        logits = self.infer(Xi, **fit_params)
        _check_module_output(logits, len(self.classes_))
        losses = self.criterion_(logits, yi)
        loss_weight, accepted, acceptance = self._loss_weight(logits, yi, wi)
        normaliser, self.batch_any_accepted_ = self._loss_normaliser(
            loss_weight, accepted
        )
        loss = (losses * loss_weight).sum() / normaliser
        self._backward(loss)
        if not self.epoch_rows_selected_:
            stats = torch.stack([torch.ones_like(accepted), accepted, acceptance])
            self.epoch_stats_.index_add_(1, yi, stats)
        return {"loss": loss, "y_pred": logits}

    def _loss_normaliser(self, loss_weight, accepted):
        """Return ``(divisor of the masked loss sum, any sample accepted)``.

        Data-parallel subclasses override this to reduce both over processes.
        """
        if self.loss_normalization == "batch":
            normaliser = float(len(loss_weight))
        else:
            normaliser = loss_weight.sum().clamp(min=torch.finfo(torch.float32).tiny)
        return normaliser, accepted.sum() > 0

    def _backward(self, loss):
        """Back-propagate; mixed-precision subclasses scale the loss here."""
        loss.backward()

    def _loss_weight(self, logits, y, w):
        """Return ``(loss weight, 0/1 accepted, acceptance probability)``."""
        if not self.epoch_rejecting_ or self.epoch_rows_selected_:
            ones = torch.ones(len(y), device=logits.device)
            return ones, ones, ones
        acceptance = self._acceptance(logits, y, w)
        if self.rejection == "expected":
            return acceptance, acceptance, acceptance
        mask = rejection_mask(acceptance, self.mask_generator_)
        return mask, mask, acceptance

    def _acceptance(self, logits, y, w):
        weight = self._target_weight(y, w)
        M = self.epoch_M_
        if self.M_controller_ is not None:
            M = self.M_controller_.step(logits, y, weight, self.epoch_hardness_)
        return acceptance_probability(logits, y, weight, M, self.epoch_hardness_)

    def train_step(self, batch, **fit_params):
        # A compacted step knows on the host whether anything was accepted
        # and then runs no backward pass, which optimisers skip by themselves.
        guard = (
            self.epoch_rejecting_
            and self.rejection == "sample"
            and not self.epoch_compact_
        )
        if not guard:
            return super().train_step(batch, **fit_params)
        tensors, snapshot = self._guard_snapshot()
        step = super().train_step(batch, **fit_params)
        if tensors:
            self._undo_if_nothing_accepted(tensors, snapshot)
        return step

    def _guard_snapshot(self):
        """Return ``(guarded tensors, their values before the step)``.

        The tensor list and the snapshot buffers are kept while the optimiser
        state keeps its size (Adam creates its state at the first step), so a
        step copies into existing memory instead of collecting and allocating.
        """
        key = tuple(len(getattr(self, n + "_").state) for n in self._optimizers)
        cached = self.__dict__.get("guard_snapshot_")
        if cached is None or cached[0] != key:
            tensors = self._optimizer_tensors()
            cached = (key, tensors, [t.detach().clone() for t in tensors])
            self.guard_snapshot_ = cached
        elif cached[1]:
            with torch.no_grad():
                torch._foreach_copy_(cached[2], cached[1])
        return cached[1], cached[2]

    def _optimizer_tensors(self):
        """Parameters and optimiser state tensors that a step may change."""
        tensors = []
        for name in self._optimizers:
            optimizer = getattr(self, name + "_")
            for group in optimizer.param_groups:
                tensors.extend(p for p in group["params"] if p.requires_grad)
            for state in optimizer.state.values():
                tensors.extend(v for v in state.values() if isinstance(v, torch.Tensor))
        device = torch.device(self.device).type
        return [t for t in tensors if t.device.type == device]

    def _undo_if_nothing_accepted(self, tensors, snapshot):
        # lerp with weight 0 keeps the new value and with weight 1 returns the
        # snapshot, both exactly, so this is a device-side "if" over all
        # tensors. The weight goes in as a list of 0-d tensors: a single
        # tensor weight is read back to the host as a Python scalar.
        drop = torch.logical_not(self.batch_any_accepted_).to(torch.float32)
        with torch.no_grad():
            torch._foreach_lerp_(tensors, snapshot, [drop] * len(tensors))

    def validation_step(self, batch, **fit_params):
        Xi, yi, _ = _unpack(batch)
        return super().validation_step((Xi, yi), **fit_params)

    def evaluation_step(self, batch, training=False):
        Xi, yi, _ = _unpack(batch)
        return super().evaluation_step((Xi, yi), training=training)


_STEP_STATE = (
    "class_target_weight_t_",
    "epoch_M_",
    "epoch_hardness_",
    "M_controller_",
    "epoch_rejecting_",
    "epoch_compact_",
    "compact_needs_two_rows_",
    "guard_snapshot_",
    "epoch_stats_",
    "batch_any_accepted_",
    "train_iterator_",
    "epoch_rows_selected_",
)


def _to_float32(X, name):
    # A float64 value beyond the float32 range would become inf in the
    # network and turn every parameter into NaN without an error.
    limit = np.finfo(np.float32).max
    if X.dtype != np.float32 and X.size and np.abs(X).max() > limit:
        raise ValueError(
            f"{name} holds values of magnitude above {limit:.3g}, the float32 "
            "range the network computes in; scale the features first."
        )
    return X.astype(np.float32, copy=False)


def _cuda_devices(device):
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type != "cuda":
        return []
    return [device.index if device.index is not None else torch.cuda.current_device()]


def _unpack(batch):
    if isinstance(batch, (tuple, list)) and len(batch) == 3:
        return batch
    Xi, yi = unpack_data(batch)
    return Xi, yi, None
