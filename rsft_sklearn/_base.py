"""What RSFTClassifier shares with any scikit-learn classifier on skorch.

scikit-learn's conventions on top of :class:`skorch.NeuralNetClassifier`:
parameters stored as given, inputs validated and labels encoded in ``fit``,
in-memory data sets and iterators, seeded generators that pickles and
checkpoints carry, and the fork of torch's global generator around a fit.
Nothing here knows the rejection rule.
"""

import contextvars
import copy
import inspect
import numbers
import threading
import warnings
from collections.abc import Mapping
from contextlib import contextmanager
from functools import partial
from types import MappingProxyType
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils._metadata_requests import RequestMethod
from sklearn.utils._param_validation import Interval
from sklearn.utils.metadata_routing import _routing_enabled, process_routing
from sklearn.utils.validation import validate_data
from skorch import NeuralNet, NeuralNetClassifier
from skorch.callbacks import (
    BatchScoring,
    Callback,
    Checkpoint,
    EarlyStopping,
    EpochScoring,
    EpochTimer,
    InputShapeSetter,
    LoadInitState,
    LRScheduler,
    PassthroughScoring,
    PrintLog,
)
from skorch.callbacks.scoring import ScoringBase, convert_sklearn_metric_function
from skorch.dataset import Dataset, get_len, unpack_data
from skorch.helper import SliceDataset
from skorch.history import History
from skorch.utils import TeeGenerator, is_dataset, to_device, to_numpy, to_tensor
from torch.nn import NLLLoss
from torch.utils.data import SequentialSampler, Subset

from . import _guards
from ._data import (
    BatchIterator,
    InMemoryDataset,
    SparseRows,
    _resolve,
    _take,
    check_loader_options,
    check_sliced_options,
    without_row_options,
)
from ._epochs import FitState
from ._guards import global_generator_in_use
from ._modules import MLPModule, _check_module_output
from ._multimodal import (
    ANY_INPUTS,
    DatasetRows,
    ValidationRows,
    check_dataset,
    check_token_rows,
    splits_by_group,
    with_sample_weight,
    wrap_dataset,
)
from ._persistence import (
    GENERATORS_KEY,
    PICKLE_FORMAT_KEY,
    GeneratorState,
    check_pickle_format,
    generators_of,
    pack_generators,
    unpack_generators,
)
from ._text import EmbeddingBagModule, check_token_ids, token_vocabulary
from ._validation import (
    FLOAT32_SMALLEST,
    RSFTWarning,
    _readable_vector,
    advised_input_error,
    as_real,
    bool_duplicates_summed,
    caller_stacklevel,
    check_callbacks,
    check_criterion,
    check_device,
    check_input_column_names,
    check_input_names,
    check_labels,
    check_not_lazy,
    check_sample_weight,
    check_tensor_lr,
    check_within_floats,
    check_X_dict,
    encode_labels,
    fit_classes,
    input_column_names,
    readable_tensor,
    real_as_float,
    shown_classes,
    shown_label,
    shown_number,
    to_float32,
    validate_parameter,
)

__all__ = ["NetClassifierBase"]


# What a call's labels add to the correction of predict_proba.
# The estimator whose prediction pass (forward_iter) builds its iterator in
# this thread (or task); see in_prediction_pass.
_PREDICTING = contextvars.ContextVar("rsft_sklearn_predicting", default=None)


def in_prediction_pass(net):
    """Whether ``net.get_iterator`` is called by a prediction pass of ``net``
    (``forward_iter``) in this thread, rather than by a fit: a pass with
    ``training=True`` (Monte-Carlo dropout) gets the rows in order, not the
    fit's shuffled iterator."""
    return _PREDICTING.get() is net


# Guards the counts of a fit's state that let other threads predict while
# the fitting thread waits in a callback (in_callbacks, foreign_batches).
_CALLBACK_WAIT = threading.Condition()


def _check_not_fitting_elsewhere(net, state=None):
    """Refuse a prediction (``forward``, ``predict_proba``, ``score``, ...)
    from another thread than the one fitting ``net``: its switch of the
    network and the loss to evaluation mode reached the fit's steps, which
    trained without the rule (the loss in evaluation mode is the plain
    mean). Callbacks of the fit predict from the fitting thread, and from
    threads that predict while the fitting thread waits in a callback
    (``permutation_importance`` under joblib's threading backend): no step
    runs meanwhile."""
    if state is None:
        state = net.__dict__.get("fit_state_")
    thread = getattr(state, "thread", None)
    if (
        thread is not None
        and thread != threading.get_ident()
        and not getattr(state, "in_callbacks", 0)
    ):
        raise RuntimeError(_fitting_elsewhere_message(net, state))


def _fitting_elsewhere_message(net, state):
    message = (
        f"This {type(net).__name__} is being fitted in another thread: a "
        "prediction switches its network and loss to evaluation mode, "
        "which would reach the fit's training steps. Predict with a copy "
        "made before the fit (copy.deepcopy(estimator)) or after the fit "
        "returns, or from a callback of the fit (in the fitting thread, or "
        "in others while an epoch-level callback waits for them)."
    )
    if getattr(state, "by_hooks", False):
        message += (
            " A training sequence driven through skorch's hooks lasts until "
            "notify('on_train_end'), or the next fit, partial_fit or "
            "notify('on_train_begin'), also one that stopped on an error."
        )
    return message


@contextmanager
def _prediction_batch(net):
    """One batch of a prediction of ``net``. From a thread other than the
    fitting one, while the fitting thread waits in a callback, the batch is
    counted: the fitting thread, leaving the callback, waits for it to end
    before its next training step. Outside a callback it is refused."""
    state = net.__dict__.get("fit_state_")
    thread = getattr(state, "thread", None)
    if thread is None or thread == threading.get_ident():
        yield
        return
    with _CALLBACK_WAIT:
        if not getattr(state, "in_callbacks", 0):
            raise RuntimeError(_fitting_elsewhere_message(net, state))
        state.foreign_batches = getattr(state, "foreign_batches", 0) + 1
    try:
        yield
    finally:
        with _CALLBACK_WAIT:
            state.foreign_batches -= 1
            _CALLBACK_WAIT.notify_all()


def _check_training_thread(net, state):
    """Refuse a training step from a thread other than the one that began
    the training (a sequence driven through skorch's hooks continued in a
    worker): the step's switch to training mode, and its use of the fit's
    state, would meet the predictions that the fit lets other threads run
    while it waits in a callback."""
    thread = getattr(state, "thread", None)
    if thread is not None and thread != threading.get_ident():
        raise RuntimeError(
            f"A training step of this {type(net).__name__} ran in another "
            "thread than the one that began its training. Run the whole "
            "sequence (notify('on_train_begin', X=X, y=y), fit_loop or the "
            "epochs, notify('on_train_end')) in one thread, or call fit or "
            "partial_fit there."
        )


_COUNTED_ATTRIBUTES = (
    "_class_counts",
    "class_prior_",
    "_class_rows",
    "_rule_weight_sums",
    "_rule_weight_bins",
)


def _plain_number(value):
    """A NumPy number or a ``fractions.Fraction`` (or a tuple or list of
    them, Adam's betas) as Python's."""
    if isinstance(value, np.floating):
        return float(value)  # (a long double's item() is itself)
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    plain = real_as_float(value)
    if plain is not value:
        return plain
    if isinstance(value, (tuple, list)):
        # (torch's Adam refused betas of fractions or NumPy floats: "betas
        # must be either both floats or both Tensors".)
        # (A tuple, not the type given: a namedtuple is not built from an
        # iterable.)
        plain = [_plain_number(v) for v in value]
        if any(p is not v for p, v in zip(plain, value)):
            return tuple(plain) if isinstance(value, tuple) else plain
    return value


def _optimizer_setting(value):
    """A setting as an optimiser is given it: a NumPy number (or a tuple of
    them) as Python's, and a tensor as a copy of its own."""
    if isinstance(value, torch.Tensor):
        # torch's schedulers write the rate into a group's tensor in place
        # (fill_): with lr=torch.tensor(0.01) and an LRScheduler callback, the
        # fit changed the user's tensor, the estimator's parameter, and a
        # refit started from the last epoch's rate.
        return value.detach().clone()
    return _plain_number(value)


def _check_optimizer_groups(name, optimizer):
    """Refuse settings written into a built optimiser's parameter groups
    that its class refuses when built (``optimizer__weight_decay=-1`` on a
    fitted net trained on with it, where a fresh fit refuses it): each
    group's settings are given to the class over a probe tensor. An
    optimiser that cannot be built that way (a wrapper, a class with
    arguments of its own) is not checked."""
    inner = getattr(optimizer, "optimizer", None)
    if isinstance(inner, torch.optim.Optimizer):
        # A wrapper (Accelerate's AcceleratedOptimizer): its optimiser's.
        optimizer = inner
    cls = type(optimizer)
    # The arguments of the class, and of its bases while it passes on
    # keyword arguments (a subclass of Adam that takes **kwargs).
    accepted = set()
    for klass in cls.__mro__:
        if "__init__" not in vars(klass):
            continue
        try:
            parameters = inspect.signature(klass.__init__).parameters
        except (TypeError, ValueError):
            return
        accepted.update(parameters)
        if not any(p.kind is p.VAR_KEYWORD for p in parameters.values()):
            break
    if "params" not in accepted:
        return
    for group in optimizer.param_groups:
        settings = {
            key: value
            for key, value in group.items()
            if key in accepted and key != "params"
        }
        params = group.get("params") or [torch.zeros(())]
        probe = torch.zeros(1, device=params[0].device, requires_grad=True)
        try:
            cls([probe], **settings)
        except ValueError as exc:
            raise ValueError(
                f"set_params: {cls.__name__} refuses the {name}__* settings: {exc}"
            ) from None
        except Exception:
            return


def _fit_in_progress(net):
    """Whether ``fit`` or ``partial_fit`` of ``net`` is running (a state of
    training driven through skorch's hooks by hand does not count: it may
    have been left unfinished)."""
    state = net.__dict__.get("fit_state_")
    return state is not None and not getattr(state, "by_hooks", False)


def _check_epochs(epochs):
    """Refuse an ``epochs`` of ``fit`` or ``partial_fit`` that is not an
    integer >= 1 (0 trained nothing but counted the call's labels into the
    correction of ``predict_proba``; 1.5 failed deep inside skorch). A float
    is refused even when whole, as the constructor's ``max_epochs`` refuses
    it; the message names its type, since ``2.0`` reads as a whole number."""
    if epochs is None:
        return
    integer = isinstance(epochs, numbers.Integral) and not isinstance(epochs, bool)
    if integer and epochs >= 1:
        # (10**400 failed in float() with a bare OverflowError when the
        # first epoch was planned.)
        check_within_floats(
            "epochs (the epochs of this call)",
            epochs,
            [Interval(numbers.Integral, 1, None, closed="left")],
        )
        return
    message = (
        "epochs (the epochs of this call) must be an integer >= 1, got "
        f"{shown_number(epochs)}"
    )
    advice = "leave it out to train max_epochs epochs"
    if not integer:
        message += f", a {type(epochs).__name__}"
        if (
            isinstance(epochs, numbers.Real)
            and not isinstance(epochs, (bool, np.bool_))
            # (as_real: float() of Fraction(10**400) overflowed.)
            and as_real(epochs).is_integer()
            and epochs >= 1
        ):
            advice = f"pass int(epochs), an integer as max_epochs is, or {advice}"
    raise ValueError(f"{message}; {advice}.")


def _labelled_view(dataset):
    """``(inputs, encoded labels)`` of a part of the in-memory data, or None.

    Without cached predictions, skorch scores a data set that is not its own
    ``Dataset`` as it is, without its labels; they are read from it here. The
    inputs are a view of the same rows without the sample weights, taken in
    batches: sparse inputs stay sparse (a sparse tensor of every row cannot
    be sliced), and a module that takes dense batches densifies batch_size
    rows at a time.
    """
    base, idx = _resolve(dataset)
    if base is None or base.y is None:
        return None
    X = InMemoryDataset(base.X, base.y)
    labels = base.y if idx is None else _take(base.y, idx)
    if idx is not None:
        X = Subset(X, idx)
    return X, labels.cpu().numpy()


def _scored_rows(dataset, feature_names=None, column_names=None):
    """``(inputs, encoded labels)`` of a part of the in-memory data built from
    arrays, the inputs as the arrays that ``fit`` was given; or None.

    What skorch hands a scorer without cached predictions: the rows of the
    part cut from the user's data, in their order (a scorer reads ``X[:, 0]``
    or ``X["a"]``). A dense input is a NumPy array (in the validated dtype,
    float32 or float64), a sparse one a SciPy CSR matrix (float32), a dict
    a dict of those. A DataFrame given to the call (kept on the data set by
    ``get_split_datasets``) gives ``X.iloc[rows]``, with its index and
    dtypes; one the data set does not hold (a part that ``train_split``
    built) is rebuilt with the fitted column names (``feature_names``, or
    ``column_names`` by input of a dict) and the rows' positions as its
    index. The whole data set (no split) is a read-only view of the arrays
    that the training reads (a copy of a DataFrame).
    """
    base, idx = _resolve(dataset)
    if base is None or base.y is None:
        return None
    rows = None if idx is None else idx.cpu().numpy()
    column_names = column_names or {}
    frames = getattr(base, "_user_frames", None)
    if isinstance(base.X, Mapping):
        frames = frames if isinstance(frames, Mapping) else {}
        X = {
            key: _frame_rows(frames[key], rows)
            if _is_frame(frames.get(key))
            else _host_rows(value, rows, column_names.get(key))
            for key, value in base.X.items()
        }
    elif _is_frame(frames):
        X = _frame_rows(frames, rows)
    else:
        X = _host_rows(base.X, rows, feature_names)
    labels = base.y if idx is None else _take(base.y, idx.to(base.y.device))
    return X, labels.cpu().numpy()


def _host_rows(data, rows, names=None):
    """Rows ``rows`` (None: all) of a tensor or :class:`SparseRows` as a
    NumPy array, a DataFrame of the columns ``names``, or a CSR matrix."""
    if isinstance(data, SparseRows):
        if rows is None:
            # The matrix the training reads (the user's own, given as a
            # float32 CSR one): a view that cannot write into it.
            return _read_only_csr(data.matrix)
        return data.matrix[rows]
    if rows is None:
        array = data.detach().cpu().numpy()
        if data.device.type == "cpu":
            # The memory the training reads (the user's own array, which
            # may be read-only memory): a view that cannot write into it.
            array = array.view()
            array.flags.writeable = False
    else:
        index = torch.from_numpy(rows).to(data.device)
        array = data.detach().index_select(0, index).cpu().numpy()
    if names is None or array.ndim != 2:
        return array
    import pandas as pd

    positions = np.arange(len(array)) if rows is None else rows
    return pd.DataFrame(array, columns=names, index=positions, copy=False)


def _read_only_csr(matrix):
    """A CSR ``matrix`` of the same class sharing its arrays, read-only."""
    arrays = []
    for array in (matrix.data, matrix.indices, matrix.indptr):
        array = array.view()
        array.flags.writeable = False
        arrays.append(array)
    return type(matrix)(tuple(arrays), shape=matrix.shape, copy=False)


def _is_frame(data):
    """Whether ``data`` is a pandas DataFrame (pandas is not imported for
    other data)."""
    return type(data).__module__.startswith("pandas") and hasattr(data, "iloc")


def _frame_rows(frame, rows):
    """Rows ``rows`` (None: all) of a DataFrame given to ``fit``, with its
    index and dtypes, as skorch cuts them. All the rows are a copy: the
    user's frame may share the memory that the training reads."""
    return frame.copy() if rows is None else frame.iloc[rows]


def _encoded_accuracy(net, X, y):
    """Validation accuracy on the encoded labels that the training data hold."""
    if y is None:
        view = _labelled_view(X)
        if view is not None:
            X, y = view
    y = np.asarray(y).reshape(-1)
    return float(np.mean(net.predict_proba(X).argmax(axis=1) == y))


class _DecodedLabels:
    """An ``EpochScoring`` target extractor: the encoded labels that the
    training data hold, as the class labels that ``predict`` returns."""

    def __init__(self, classes):
        self.classes = np.asarray(classes)

    def __call__(self, y):
        return self.classes[np.asarray(to_numpy(y)).astype(np.int64)]

    def __repr__(self):
        return "decoded labels"


def _check_dataset_not_empty(dataset, owner):
    """Refuse a data set of no rows, as scikit-learn refuses an empty array
    (skorch would fail joining no batch's output)."""
    try:
        n_rows = len(dataset)
    except TypeError:
        # A data set without a length (an IterableDataset) is read as it is.
        return
    if n_rows == 0:
        raise ValueError(
            f"Found a data set with 0 sample(s) while a minimum of 1 is "
            f"required by {owner}."
        )


class NetClassifierBase(NeuralNetClassifier):
    """A skorch classifier that follows scikit-learn's conventions.

    Subclasses define ``__init__`` (storing parameters only),
    ``_parameter_constraints``, ``_prepare_data`` (which calls
    :meth:`_check_inputs`, counts what it counts on the rows that
    :meth:`_training_rows` keeps for training, and returns
    ``(X, y, sample_weight)``) and, if the raw softmax is not what
    ``predict_proba`` should return, ``_posterior``.
    """

    # The attributes of an epoch that correct the output (a subclass's).
    _decision_attributes = ()

    # The history keys that the estimator records in every epoch (and
    # reads back), and the prefixes of those it records per class: a
    # scoring callback's score of that name would overwrite them.
    _history_keys = ("train_batch_count", "valid_batch_count")
    _history_key_prefixes = ()

    # With metadata routing on, a group splitter's groups reach every fit
    # that requests them. Only target="balanced_groups" and a train_split of
    # a group splitter (which skorch's routing names) read them, so fit
    # does not request them unless asked (set_fit_request(groups=True)):
    # otherwise GroupKFold in a search or cross_validate would be refused, as
    # it is not for other classifiers.
    __metadata_request__fit = {"groups": False}
    __metadata_request__partial_fit = {"groups": False}

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        _keep_skorch_request_methods(cls)

    # skorch's __init__ stores these three as instance attributes; keeping
    # them behind properties over private attributes lets __init__ store
    # parameters and nothing else, as scikit-learn requires. initialized_
    # does not exist before __init__ has run: skorch's __setattr__ reads that
    # as "still in __init__", which lets a subclass store a module instance
    # before calling super().__init__.
    history_ = property(
        lambda self: self.__dict__.get("_history_"),
        lambda self, value: self.__dict__.__setitem__("_history_", value),
    )
    initialized_ = property(
        lambda self: _private(self, "_initialized_"),
        lambda self, value: self.__dict__.__setitem__("_initialized_", value),
    )
    virtual_params_ = property(
        lambda self: self.__dict__.setdefault("_virtual_params_", {}),
        lambda self, value: self.__dict__.__setitem__("_virtual_params_", value),
    )

    def _get_param_names(self):
        return [k for k in super()._get_param_names() if not k.startswith("_")]

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        if deep:
            given = super().get_params(deep=False)
            # skorch reports a default callback's parameters from a fresh
            # default callback, whatever callback is in use under its name:
            # for one given whole (callbacks__print_log=PrintLog(sink=...),
            # callbacks__valid_acc=EpochScoring(...)) they were the
            # default's (print, accuracy), which set_params(**get_params())
            # then wrote into the user's callback. They are those of the
            # callback in use: the one given (none for a class, built from
            # the explicit ones alone; none for one disabled by None, which
            # set_params refused with "Trying to set a parameter for
            # callback print_log which does not exist"), else the default.
            defaults = self._default_callbacks
            skorchs = tuple(f"callbacks__{name}__" for name, _ in defaults)
            params = {k: v for k, v in params.items() if not k.startswith(skorchs)}
            for name, default in defaults:
                callback = given.get("callbacks__" + name, default)
                if callback is not None and not isinstance(callback, type):
                    params.update(
                        (f"callbacks__{name}__{param}", value)
                        for param, value in callback.get_params().items()
                    )
            # Over them, the callbacks__* parameters as given
            # (callbacks__print_log__sink=my_sink), which the callback takes
            # when it is built. (Those of a disabled callback stay, and are
            # refused.)
            params.update(given)
        return params

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
            ("print_log", _PrintLog()),
        ]

    @property
    def classes_(self):
        # fit learns (or checks) the classes; an estimator that was only
        # initialised, e.g. to load saved parameters, takes them from
        # ``classes`` as skorch does.
        if "classes_inferred_" in self.__dict__:
            return self.classes_inferred_
        if self.classes is not None and len(self.classes):
            return np.asarray(self.classes)
        raise AttributeError(
            f"{type(self).__name__} has no attribute 'classes_' before fit; "
            "pass classes=... to predict labels with an initialised estimator."
        )

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
            float32 range. A SciPy sparse matrix stays sparse: CSC, COO and
            the other formats are converted to CSR (``tocsr()``), and every
            batch is cut from it: the default MLP takes the batch as a
            sparse tensor, and any other module as a dense one, so the whole
            matrix is never densified (see :class:`~rsft_sklearn.SparseRows`);
            a torch sparse tensor of two axes is read as the SciPy CSR matrix
            of its values.
            The default MLP's first layer gets weights for the columns with a
            stored nonzero value in the training rows of positive weight only
            (in the training rows, when those of positive weight hold none;
            ``module__input_columns=None`` keeps every column).
        y : array-like of shape (n_samples,)
            Class labels of any type; for a ``Dataset``, the labels of its
            rows in order (a label the dataset yields must agree).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative per-sample weights that multiply the class target
            weights, divided by their mean over the training rows (those of
            the training part of a ``train_split``) of positive weight, so
            that ``M`` keeps its meaning. A row of weight 0 is as if absent
            from the rule: it never trains, changes nothing in the others'
            weights and takes no share of ``budget`` (what still counts it,
            such as the batch size, is in :doc:`/user_guide/groups`).
        groups : array-like of shape (n_samples,), default=None
            Group of every sample (data source, modality, site), required by
            ``target="balanced_groups"``; also handed to a ``train_split``
            that splits by group (``ValidSplit(GroupKFold(5))``), and refused
            otherwise.
        **fit_params : dict
            ``epochs`` (an int): the epochs of this call, instead of
            ``max_epochs``; every other key is passed to the module's
            ``forward``.

        Returns
        -------
        self : RSFTClassifier
            The fitted estimator.
        """
        _check_not_in_inference_mode("fit")
        self._check_not_training("fit")
        _check_epochs(fit_params.get("epochs"))
        # After initialize() and load_params() no data has been seen yet.
        fresh = not self.warm_start or not self.initialized_
        reset = fresh or not hasattr(self, "classes_inferred_")
        if fresh:
            # A training afresh warns afresh (see _warn_once_per_run).
            self.__dict__.pop("_warned_in_run", None)
        if not reset:
            self._check_constructor_classes("warm_start")
        before = self._state_before_call()
        # One mark (and at most one warning) for the whole call: a
        # validation split made in _prepare_data may draw from the generator.
        with global_generator_in_use():
            data = self._checked_data(
                X, y, sample_weight, reset, groups, fresh, fit_params
            )
            with self._call_data_dropped(), self._undone_if_untrained(before):
                self._keep_user_frames(data[0], X)
                if fresh:
                    self._initialize_on(data[0], data[2])
                    self._check_token_ids_of_built(data[0])
                else:
                    warn_outside_input_columns(
                        self.module_, data[0], self._training_row_mask(data[0], data[2])
                    )
                # Metadata routing resolves what set_fit_request asked for.
                return self._train(data, _routing_method="fit", **fit_params)

    def partial_fit(
        self, X, y, classes=None, sample_weight=None, groups=None, **fit_params
    ):
        """Continue training on ``(X, y)`` for ``max_epochs`` epochs (or
        ``epochs=``).

        The first call initialises the network; later calls keep it. Pass
        ``classes`` on the first call when a batch may miss some classes.

        Parameters
        ----------
        X : array-like or dict of str to array-like
            Inputs.
        y : array-like of shape (n_samples,)
            Class labels.
        classes : array-like of shape (n_classes,), default=None
            All class labels; read on the first call, and on a later call
            only checked to be the same.
        sample_weight : array-like of shape (n_samples,), default=None
            Per-sample target weights, as in :meth:`fit`: every call divides
            its weights by their mean over its training rows of positive
            weight.
        groups : array-like of shape (n_samples,), default=None
            Group of every sample, for ``target="balanced_groups"`` (the
            stratum weights of the first call are kept) or a ``train_split``
            that splits by group.
        **fit_params : dict
            ``epochs`` (an int): the epochs of this call, instead of
            ``max_epochs``; every other key is passed to the module's
            ``forward``.

        Returns
        -------
        self : RSFTClassifier
            The estimator.
        """
        _check_not_in_inference_mode("partial_fit")
        self._check_not_training("partial_fit")
        _check_epochs(fit_params.get("epochs"))
        first = not self.initialized_
        if first:
            self.__dict__.pop("_warned_in_run", None)
        # initialize() and load_params() give a network but no data.
        reset = first or not hasattr(self, "classes_inferred_")
        # As scikit-learn's partial_fit, another set of classes is an error,
        # not ignored: on a later call, than the first call's; on the first,
        # than the constructor's (whose order is kept).
        known = self.classes if reset else self.classes_
        if classes is not None and known is not None:
            given_classes = np.unique(np.asarray(classes))
            if not np.array_equal(given_classes, np.unique(np.asarray(known))):
                where = (
                    "the estimator's own classes; give them in one place"
                    if reset
                    else "the classes of the first fit or partial_fit call; "
                    "refit to change them"
                )
                raise ValueError(
                    f"classes={given_classes.tolist()} differs from "
                    f"{np.asarray(known).tolist()} ({where})."
                )
        if not reset:
            self._check_constructor_classes("partial_fit")
        given = classes if reset and self.classes is None else None
        before = self._state_before_call()
        # One mark (and at most one warning) for the whole call: a
        # validation split made in _prepare_data may draw from the generator.
        with global_generator_in_use():
            data = self._checked_data(
                X, y, sample_weight, reset, groups, first, fit_params, given, True
            )
            with self._call_data_dropped(), self._undone_if_untrained(before):
                self._keep_user_frames(data[0], X)
                if first:
                    self.initialize()
                    self._check_token_ids_of_built(data[0])
                else:
                    warn_outside_input_columns(
                        self.module_, data[0], self._training_row_mask(data[0], data[2])
                    )
                return self._train(data, **fit_params)

    def _checked_data(
        self,
        X,
        y,
        sample_weight,
        reset,
        groups,
        fresh,
        fit_params,
        classes=None,
        partial=False,
    ):
        """The call's data as ``_prepare_data`` gives it, after the checks
        of the settings refused only at training time, made while a refusal
        still leaves the estimator as it was. ``fresh``: the call builds the
        network anew; ``partial``: a call of ``partial_fit``."""
        with self._unchanged_if_refused():
            with self._counted_only_if_trained(reset, fit_params.get("epochs")):
                data = self._prepare_data(
                    X,
                    y,
                    sample_weight,
                    reset,
                    groups,
                    classes,
                    partial=partial,
                    fresh=fresh,
                    fit_params=fit_params,
                )
            self._check_dict_for_mlp()
            self._check_mlp_width(fresh, reset, data[0])
            self._check_training_settings(
                data[0],
                0 if fresh else len(self.history),
                fit_params.get("epochs"),
                fit_call=not partial,
            )
        return data

    def _before_training_epoch(self):
        """Called after the callbacks' ``on_epoch_begin``, before the first
        training batch of an epoch."""

    def get_params_for_optimizer(self, prefix, named_parameters):
        args, kwargs = super().get_params_for_optimizer(prefix, named_parameters)
        # NumPy numbers (a search's loguniform lr) went into the optimiser's
        # state as they were: a checkpoint of it could not be loaded by
        # torch.load(weights_only=True), which LoadInitState uses.
        kwargs = {key: _optimizer_setting(value) for key, value in kwargs.items()}
        groups = args[0] if args else None
        if isinstance(groups, list) and all(isinstance(g, dict) for g in groups):
            groups = [
                {
                    key: value if key == "params" else _optimizer_setting(value)
                    for key, value in group.items()
                }
                for group in groups
            ]
            args = (groups, *args[1:])
        return args, kwargs

    def _check_not_training(self, method):
        """Refuse a call of ``fit`` or ``partial_fit`` made during a fit of
        the same estimator (from one of its callbacks): it replaced the
        network and the history under the running fit, which then failed
        inside skorch."""
        # (Training driven through skorch's hooks by hand that never ended
        # leaves its state to the next call, which replaces it.)
        if _fit_in_progress(self):
            raise RuntimeError(
                f"{method} was called during a fit of this "
                f"{type(self).__name__} (from a callback?). Train a copy "
                "instead (sklearn.base.clone(net)), or act after the fit "
                "returns."
            )

    def _state_before_call(self):
        """What a training call that fails before its first step restores
        (see :meth:`_undone_if_untrained`): the estimator's attributes, the
        state of a ``RandomState`` given as ``random_state``, and of an
        estimator initialised before the call, the rows of its history, the
        states of its generators, its optimisers' settings, its buffers and
        whether its ``LoadInitState`` callbacks have loaded."""
        attributes = dict(self.__dict__)
        # A RandomState given as random_state, which a refit (or a first
        # call) draws its seeds from: advanced by an undone call, the next
        # fit drew other seeds than the same fit on an untouched copy.
        # (NumPy's global generator, for random_state=None, goes on: nothing
        # is reproducible from it.)
        rng = self.random_state
        drawn = (
            (rng, rng.get_state()) if isinstance(rng, np.random.RandomState) else None
        )
        if not self.initialized_:
            # Everything such a call leaves is an attribute it added.
            return _StateBeforeCall(attributes, random_state=drawn)
        history = self.history_
        # Its rows: skorch's initialize_history empties the same object.
        rows = None if history is None else list(history)
        # The generators that training draws from, in place.
        generators = {
            value: value.get_state()
            for value in self.__dict__.values()
            if isinstance(value, torch.Generator)
        }
        # The optimisers' settings, which a learning-rate scheduler built
        # when training begins changes in place (StepLR halved the rate of
        # a call that then failed at its first batch).
        groups = [
            (group, {key: value for key, value in group.items() if key != "params"})
            for name in getattr(self, "_optimizers", ())
            for group in getattr(self.__dict__.get(name + "_"), "param_groups", ())
        ]
        # The buffers of the network and the loss, which the first batch's
        # forward changes in place (BatchNorm's running statistics) and the
        # loss's set-up for the call (its adaptive M, its counts).
        # A buffer registered as None, which a forward may fill, is put
        # back to None.
        buffers = [
            (owner, key, buffer, None if buffer is None else buffer.detach().clone())
            for module in (
                self.__dict__.get(attr + "_") for attr in self._modules + self._criteria
            )
            if isinstance(module, torch.nn.Module)
            for owner in module.modules()
            for key, buffer in owner._buffers.items()
            # (A lazy module's buffer that no forward has filled yet has no
            # value to keep.)
            if buffer is None or not torch.nn.parameter.is_lazy(buffer)
        ]
        # A LoadInitState loads once, at the first call it sees: one whose
        # load an undone call took back loads again at the next.
        loaders = [
            (callback, callback.did_load_)
            for _, callback in self.__dict__.get("callbacks_") or ()
            if isinstance(callback, LoadInitState) and hasattr(callback, "did_load_")
        ]
        return _StateBeforeCall(
            attributes,
            drawn,
            True,
            history,
            rows,
            generators,
            tuple(groups),
            tuple(buffers),
            tuple(loaders),
        )

    @contextmanager
    def _undone_if_untrained(self, before):
        """A call that fails before any training step of its own leaves the
        estimator as it was. Without this, a refit whose network or
        optimiser could not be built kept the previous fit's history and
        ``final_M_`` beside an untrained network (or the trained network
        beside the new data's prior), and a call of continued training that
        failed at its first batch had counted its labels into the
        correction of ``predict_proba`` and left an empty epoch in the
        history, from which the next call counted its warm-up and seeds.
        An estimator never initialised before the call stays unfitted: the
        first ``partial_fit`` that failed so left an empty epoch and its
        labels' counts, which the retry continued from. A call that trained
        a step leaves what it trained.

        The same holds for a call whose epochs are interrupted (Ctrl-C)
        before its first step: skorch's ``partial_fit`` ends the training
        as if it had finished, which left the same mix."""
        # The steps of this call that changed the network, counted where a
        # training step completes (train_step): the history cannot tell (a
        # refit empties it in place and starts again, and LoadInitState
        # replaces it by a checkpoint's), nor can the batches (a step whose
        # rows were all rejected is skipped).
        steps = self.__dict__["_steps_of_call"] = _CallSteps()
        try:
            yield
        except BaseException:
            restored = self._restored(before, steps)
            self._after_failed_call(restored=restored and before.initialized)
            raise
        else:
            if steps.interrupted and self._restored(before, steps):
                self._after_failed_call(restored=before.initialized)
                left = (
                    "left as it was before this call (its labels are not "
                    "counted, and no epoch is added to the history)"
                    if before.initialized
                    else "left unfitted, as it was before this call"
                )
                # The call returns as skorch's does, and says what it left.
                warnings.warn(
                    "The training was interrupted before its first step: the "
                    f"estimator is {left}.",
                    RSFTWarning,
                    stacklevel=caller_stacklevel(),
                )
        finally:
            self.__dict__.pop("_steps_of_call", None)

    def _restored(self, before, steps):
        """Put back the state from before the call if the call trained no
        step; return whether it did."""
        if steps:
            return False
        # (Not on several processes, which would have to agree: their
        # history is another kind.)
        history = (
            before.history if before.initialized else self.__dict__.get("history_")
        )
        if type(history) is not History and (before.initialized or history is not None):
            return False
        self._before_undo()
        with torch.no_grad():
            for owner, key, buffer, value in before.buffers:
                if (
                    buffer is not None
                    and owner._buffers.get(key) is buffer
                    and not buffer.is_inference()
                ):
                    buffer.copy_(value)
                else:
                    # Replaced during the call (the loss swaps its counts),
                    # made in inference mode (which copies cannot reach), or
                    # None before it.
                    owner._buffers[key] = value
            if steps.loaded is not None:
                # What a load_params of the call (LoadInitState's) replaced.
                parameters, optimizers = steps.loaded
                for parameter, value in parameters:
                    parameter.copy_(value)
                for optimizer, state, groups in optimizers:
                    optimizer.state, optimizer.param_groups = state, groups
        if before.initialized:
            # A refit emptied it in place; continued training added epochs.
            list.__setitem__(history, slice(None), before.rows)
        self.__dict__.clear()
        self.__dict__.update(before.attributes)
        for generator, state in before.generators.items():
            generator.set_state(state)
        for group, settings in before.optimizer_settings:
            # Only the saved keys: a scheduler's own (initial_lr) may stay.
            group.update(settings)
        for callback, did_load in before.loaders:
            callback.did_load_ = did_load
        if before.random_state is not None:
            rng, state = before.random_state
            rng.set_state(state)
        return True

    def _before_undo(self):
        """Called when a call is undone, before the estimator from before
        it is put back."""

    def _after_failed_call(self, restored=False):
        """Called when a call fails, or is interrupted before its first
        step; ``restored`` tells whether the network from before the call
        was put back. It is False where the call keeps what it did (it
        trained a step), and where there was no network before the call (an
        estimator never initialised before it is put back as such, without
        the network the call built)."""

    @contextmanager
    def _call_data_dropped(self):
        """Drop what ``_prepare_data`` and ``_initialize_on`` left for the
        training of this call (a group splitter's per-row groups, the
        call's split, a sparse fit's stored columns) however the call ends: a
        call that failed before its training took them kept them, and
        pickled them with the estimator."""
        try:
            yield
        finally:
            for name in (
                "_split_groups",
                "_split_of_call",
                "_generators_seeded",
                "_random_state_before_call",
                "_fit_input_columns",
                "_frames_of_call",
            ):
                self.__dict__.pop(name, None)

    def _keep_user_frames(self, checked, given):
        """Keep, for this call, the DataFrames given to it (``given``, a
        DataFrame or a dict holding some) beside its checked inputs
        ``checked``: an uncached scorer gets its rows cut from them, with
        their index and dtypes, as skorch cuts them (see
        :func:`_scored_rows`). Nothing is copied."""
        if _is_frame(given) or (
            isinstance(given, Mapping) and any(map(_is_frame, given.values()))
        ):
            self._frames_of_call = (checked, given)

    def _check_training_settings(self, X, epochs_before, epochs, fit_call=False):
        """Refuse, before anything is built or trained, the settings that
        training itself would refuse (a refusal at ``initialize``, at
        ``on_train_begin`` or at the first epoch came after the network was
        built anew or the call's data counted). ``X`` is the call's checked
        input, ``epochs_before`` the length of the history that this call
        continues, ``epochs`` the call's own, if given."""
        iterator, dataset = self.iterator_train, self.dataset
        in_memory = (
            _resolve(X)[0] is not None
            if is_dataset(X)
            else isinstance(dataset, type) and issubclass(dataset, InMemoryDataset)
        )
        if (
            in_memory
            and isinstance(iterator, type)
            and issubclass(iterator, BatchIterator)
        ):
            # Batches cut from memory, which DataLoader's options do not reach.
            options = self.get_params_for("iterator_train")
            for own in ("batch_size", "shuffle", "generator", "drop_last"):
                options.pop(own, None)
            check_sliced_options(options)
        # Refused before training, not at the first predict after it.
        _check_rows_in_order(self.get_params_for("iterator_valid"), self.batch_size)
        predefined = _predefined_valid_ds(self.train_split)
        if isinstance(predefined, Dataset) and predefined.y is None:
            # skorch's Dataset (a subclass too) without y yields a
            # placeholder label, which would be scored as class 0, and which
            # no row-by-row test tells from a label (a subclass may cast or
            # reshape it).
            raise ValueError(
                "The validation set of train_split (predefined_split) has no "
                "labels: it is a skorch Dataset without y, whose rows carry a "
                "placeholder label, and the validation loss needs them. Pass "
                "predefined_split(Dataset(X_valid, y_valid)), or a torch "
                "Dataset whose rows are (inputs, label)."
            )
        valid = _predefined_validation_set(self.train_split)
        if valid is not None:
            # What _encoded_valid reads, read here first, with its warnings
            # (a column vector of labels): once per call, as _encoded_valid
            # reads them again without.
            self._split_labels(valid, warn=True)
            if not is_dataset(valid.X):
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    self._split_inputs(valid)

    def _check_constructor_classes(self, how):
        """Continued training keeps the classes it has: a constructor's
        ``classes`` set since must be them."""
        if self.classes is None:
            return
        given = np.asarray(self.classes)
        if len(given) != len(self.classes_) or not np.array_equal(
            given, np.asarray(self.classes_)
        ):
            fresh = (
                "Set warm_start=False to train afresh"
                if how == "warm_start"
                else "Refit (fit with warm_start=False) to train afresh"
            )
            raise ValueError(
                f"classes={given.tolist()} differs from the classes the "
                f"network was trained on, {np.asarray(self.classes_).tolist()}; "
                f"{how} continues that training. {fresh} on the new classes."
            )

    @contextmanager
    def _scoring_on_class_labels(self):
        """While training, give the scoring callbacks (``EpochScoring``,
        ``BatchScoring``) that take skorch's default target extractor the
        class labels: the data hold encoded labels, while ``predict``
        returns the classes, so a scorer such as ``"accuracy"`` compared the
        two (0.0 for labels 10, 20, 30). The user's callbacks get their own
        extractor back afterwards."""
        changed = []
        for _, callback in self.callbacks_:
            if not isinstance(callback, ScoringBase):
                continue
            if callback.scoring is _encoded_accuracy:
                continue
            if callback.target_extractor is to_numpy:
                changed.append(callback)
                callback.target_extractor = _DecodedLabels(self.classes_)
        try:
            yield
        finally:
            for callback in changed:
                callback.target_extractor = to_numpy

    @contextmanager
    def _unchanged_if_refused(self):
        """A call whose data its checks refuse leaves the estimator as it
        was: a fitted one keeps predicting as before. (A context, not a
        wrapper: warnings keep pointing at the caller's line.)"""
        saved = dict(self.__dict__)
        try:
            yield
        except BaseException:
            drawn = self.__dict__.get("_random_state_before_call")
            if drawn is not None and drawn is not saved.get(
                "_random_state_before_call"
            ):
                # The seeds drawn for the validation split: the next fit
                # draws them again.
                rng, state = drawn
                rng.set_state(state)
            self.__dict__.clear()
            self.__dict__.update(saved)
            raise

    def _initialize_on(self, X, sample_weight=None):
        """``initialize()`` for a fit on ``X`` (with the rows' weights
        ``sample_weight``, as ``_prepare_data`` gives them, or None).

        On a sparse ``X`` the default MLP's first layer gets weights for the
        columns with a stored nonzero value in the training rows of positive
        weight only (``module__input_columns``), unless the user set them: a
        hashed space of ``2**20`` columns then costs the columns in use, not
        the hash space, in the network, its gradient and the optimiser's
        state. When the training rows of positive weight hold no value
        (every training row weighs 0, or those of positive weight are empty
        documents), the columns of the training rows, as without weights.
        ``partial_fit`` keeps every column, since a later call may bring new
        ones.
        """
        if (
            self._builds_mlp()
            and sp.issparse(X)
            and "input_columns" not in self.get_params_for("module")
        ):
            # A column stored in validation rows alone, or in rows of weight
            # 0 alone, would get weights that never train (and a row of
            # weight 0 is as if absent: it must not change the network).
            rows = self._training_row_mask(X, sample_weight)
            columns = stored_columns(X, rows)
            if columns is not None and not len(columns) and rows is not None:
                # The training rows of positive weight hold no value: every
                # training row weighs 0 (every epoch warns that it took no
                # step), or those of positive weight are empty documents
                # and only rows of weight 0 hold values. The columns of the
                # training rows, as without weights: no column would read as
                # every column (the whole hash space, whose weights never
                # train but prediction reads them).
                columns = stored_columns(X, self._training_row_mask(X))
            if columns is not None and not len(columns):
                # No training row holds a value (the first layer needs a
                # column): every column, as without weights.
                columns = None
            # For the whole fit (dropped by _call_data_dropped): a module
            # rebuilt during it (InputShapeSetter, set_params(module__...)
            # from a callback) takes the same columns.
            self._fit_input_columns = columns
        return self.initialize()

    def _training_row_mask(self, X, sample_weight=None):
        """The rows of the call's checked input ``X`` (an array or a sparse
        matrix) that train, as a boolean mask, or None for every row: those
        of the training part of its validation split, where one was made,
        of positive weight in ``sample_weight`` (the weights of every row of
        the call, or None), since a row of weight 0 is as if absent."""
        shape = getattr(X, "shape", None)
        if not shape:
            return None
        rows = None
        split = self.__dict__.get("_split_of_call")
        if split is not None and split[0] is X and not isinstance(split[1], slice):
            rows = np.zeros(shape[0], dtype=bool)
            rows[split[1]] = True
        if sample_weight is not None:
            weight = (
                sample_weight.detach().cpu().numpy()
                if isinstance(sample_weight, torch.Tensor)
                else np.asarray(sample_weight)
            )
            positive = weight > 0
            if not positive.all():
                rows = positive if rows is None else rows & positive
        return rows

    def _check_inputs(self, X, y, reset, classes=None):
        """Check ``X`` and encode ``y``; return ``(X, y, n_samples)``.

        On ``reset`` the hyperparameters are validated and the classes and
        the input's shape are learnt.
        """
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, "
                "but the target y is None."
            )
        # Every call: continued training (warm_start, partial_fit) takes
        # parameters changed with set_params since the first one.
        self._validate_hyperparameters()
        X = _unsliced(X)
        if is_dataset(X):
            keys = "fit" if reset else getattr(self, "input_keys_", None)
            n, keys = check_dataset(
                X,
                keys,
                None if reset else self._fitted_row_shape(),
                vocab_size=self._vocabulary_size(reset),
            )
            if reset:
                # What an earlier fit on arrays learnt about them is stale.
                for name in (
                    "n_features_in_",
                    "feature_names_in_",
                    "input_keys_",
                    "input_shapes_",
                    "input_column_names_",
                    "_row_shape",
                ):
                    self.__dict__.pop(name, None)
                if keys is not None:
                    self.input_keys_ = keys
        else:
            X = self._validate_X(X, reset=reset)
            n = len(next(iter(X.values()))) if isinstance(X, dict) else X.shape[0]
        y = check_labels(y)
        if reset:
            # partial_fit's classes are sorted, as scikit-learn sorts them;
            # the constructor's keep their order (the network's columns).
            self.classes_inferred_ = (
                fit_classes(y, self.classes)
                if classes is None
                else fit_classes(y, classes, sort=True)
            )
        given = reset and (classes is not None or self.classes is not None)
        y = encode_labels(y, self.classes_, given=given, continued=not reset)
        if len(y) != n:
            raise ValueError(
                f"X and y have inconsistent numbers of samples: {n} and {len(y)}."
            )
        return X, y, n

    def _validate_hyperparameters(self):
        for key, constraints in self._parameter_constraints.items():
            value = getattr(self, key)
            validate_parameter(key, value, constraints, type(self).__name__)
            # scikit-learn's numeric intervals take a bool (True as 1);
            # verbose takes one as scikit-learn and skorch do.
            if (
                isinstance(value, (bool, np.bool_))
                and "boolean" not in constraints
                and "verbose" not in constraints
                and not _bool_option(constraints, value)
            ):
                raise ValueError(f"{key} must be a number, not a bool; got {value!r}.")
        if isinstance(getattr(self, "lr", None), torch.Tensor):
            check_tensor_lr(self.lr)
        check_callbacks(self.callbacks)
        self._check_score_names()
        self._check_parameter_patterns()
        check_device(self.device)
        for name in ("iterator_train", "iterator_valid"):
            # Before the data are taken in, so that a refused option leaves
            # the estimator as it was (BatchIterator checks them when built).
            if getattr(self, name, None) is BatchIterator:
                check_loader_options(
                    self.get_params_for(name), f"BatchIterator ({name}__*)"
                )
        if self.optimizer is None and not getattr(
            self, "_trimmed_for_prediction", False
        ):
            # (A net trimmed for prediction gets skorch's own error.)
            raise TypeError(
                "optimizer is None, so this estimator cannot train; set an "
                "optimizer class, such as optimizer=torch.optim.Adam."
            )

    def _validate_X(self, X, reset):
        state = self.__dict__
        if isinstance(X, Mapping) and not sp.issparse(X):
            if not reset and "n_features_in_" in state and "input_keys_" not in state:
                raise ValueError(
                    f"X is a dict of inputs, but this {type(self).__name__} was "
                    f"fitted on an array of {self.n_features_in_} features."
                )
            names = input_column_names(X)
            X = check_X_dict(X)
            if reset:
                self.input_keys_ = sorted(X)
                self.input_shapes_ = {key: X[key].shape[1:] for key in self.input_keys_}
                self.input_column_names_ = names
                state.pop("n_features_in_", None)
                state.pop("feature_names_in_", None)
                # The row shape of an earlier fit on an array is stale.
                state.pop("_row_shape", None)
            else:
                check_input_names(
                    X, state.get("input_keys_"), state.get("input_shapes_")
                )
                check_input_column_names(
                    names, state.get("input_column_names_", {}), type(self).__name__
                )
            return X
        if not reset and "input_keys_" in state:
            raise TypeError(
                f"This {type(self).__name__} was fitted on a dict of inputs "
                f"{self.input_keys_}; give X as a dict with those keys, got "
                f"{type(X).__name__}."
            )
        if reset:
            state.pop("input_keys_", None)
            state.pop("input_shapes_", None)
            state.pop("input_column_names_", None)
        else:
            self._check_row_axes(X)
        check_not_lazy(X, "X")
        # Before the cast to float, which would sum duplicate True entries of
        # a cell to 2.
        X = bool_duplicates_summed(readable_tensor(X))
        try:
            X = validate_data(
                self,
                X,
                reset=reset,
                accept_sparse="csr",
                dtype=(np.float32, np.float64),
                allow_nd=True,
                ensure_min_samples=1,
            )
        except ValueError as exc:
            advised = advised_input_error(exc, X, "X", type(self).__name__)
            if advised is None:
                raise
            raise advised from exc
        if X.ndim > 2 and 0 in X.shape[1:]:
            # scikit-learn counts the features of a 2-d array only.
            raise ValueError(
                f"Found array with 0 feature(s) (shape={X.shape}) while a "
                f"minimum of 1 is required by {type(self).__name__}."
            )
        # n_features_in_ counts the first axis past the rows only; the rows
        # of an n-d array (images) must keep their whole shape.
        if reset:
            self._row_shape = tuple(X.shape[1:])
        elif state.get("_row_shape") not in (None, tuple(X.shape[1:])):
            raise ValueError(
                f"X has rows of shape {tuple(X.shape[1:])}, but "
                f"{type(self).__name__} was fitted on rows of shape "
                f"{self._row_shape}."
            )
        if not reset:
            # Initialised only, to load saved parameters, or rebuilt by
            # set_params(module__n_features=...) after a fit.
            self._check_initialised_width(X.shape[1:])
        # Before the cast to float32, which would round an id of 7.0000001
        # to 7.
        check_token_ids(X, self._vocabulary_size(reset))
        return to_float32(X, "X")

    def _check_row_axes(self, X):
        """Rows of another shape than the fitted ones, where either has
        several axes (images given flat, without their channel axis, or with
        another number of channels), named by their shapes: scikit-learn's
        check counts the first axis past the rows only, and would say that
        16 pixels are 16 features where 1 channel is expected, or that 1
        channel is "1 features" where 3 were fitted. Flat rows keep its
        message about features."""
        fitted = self.__dict__.get("_row_shape")
        shape = getattr(X, "shape", None)
        if fitted is None or not isinstance(shape, tuple) or len(shape) < 2:
            return
        if tuple(shape[1:]) != fitted and max(len(fitted), len(shape) - 1) > 1:
            raise ValueError(
                f"X has rows of shape {tuple(shape[1:])}, but "
                f"{type(self).__name__} was fitted on rows of shape {fitted}."
            )

    @contextmanager
    def _counted_only_if_trained(self, reset, epochs):
        """A call of continued training that runs no epoch (``max_epochs=0``,
        as skorch allows) trains nothing: its labels are not counted into
        the correction of ``predict_proba`` either (they moved it by up to
        0.22)."""
        if reset or epochs is not None or self.max_epochs != 0:
            yield
            return
        saved = {name: self.__dict__.get(name) for name in _COUNTED_ATTRIBUTES}
        yield
        for name, value in saved.items():
            if value is None:
                self.__dict__.pop(name, None)
            else:
                self.__dict__[name] = value

    def _check_mlp_width(self, fresh, reset, X=None):
        """Refuse, before training, rows of another size than the default
        MLP takes: its width given as ``module__n_features`` (a fresh fit),
        or set by an ``InputShapeSetter`` of that parameter when training
        begins, or that of a network built by ``initialize()`` to load saved
        parameters (reset, not fresh). A fitted estimator checks its rows
        against those of its fit."""
        row_shape = self.__dict__.get("_row_shape")
        shapes = self.__dict__.get("input_shapes_")
        if row_shape is None and shapes is not None and list(shapes) == ["X"]:
            # A dict of X alone, which the default MLP takes as an array.
            row_shape = shapes["X"]
        if (
            fresh
            and row_shape is None
            and self._builds_mlp()
            and not hasattr(self, "n_features_in_")
            and "n_features" not in self.get_params_for("module")
        ):
            # (initialize_module refused it too, once the network was being
            # built, in words for an initialize() before any fit.)
            raise ValueError(
                "The default MLP takes its input width from array input, and "
                "the rows of a Dataset give none: pass module__n_features "
                "(the number of values in a row, flattened), or a module of "
                "your own (module=...)."
            )
        if row_shape is None:
            return
        if not fresh:
            # (A fitted network rebuilt by set_params may take another width.)
            self._check_initialised_width(row_shape)
            return
        width = self.get_params_for("module").get("n_features")
        source = f"module__n_features is {width}"
        if not self._builds_mlp():
            return
        setter = self._n_features_setter()
        if setter is not None and X is not None:
            # The setter replaces the parameter (one a previous fit set
            # included) when training begins, from the rows it is given.
            try:
                width = setter.get_input_dim(X)
            except Exception:
                return  # its own error, when training begins
            source = f"InputShapeSetter sets module__n_features to {width}"
        got = int(np.prod(row_shape))
        if width is not None and got != width:
            raise ValueError(f"X has {got} features per row, but {source}.")

    def _n_features_setter(self):
        """The ``InputShapeSetter`` of ``module__n_features`` that training
        will run, with the ``callbacks__<name>*`` settings it will have (a
        class, or one disabled by ``callbacks__<name>=None``, as skorch's
        ``initialize_callbacks`` reads them), or None."""
        if isinstance(self.callbacks, str):
            return None  # "disable"
        try:
            named = list(self._uniquely_named_callbacks())
        except (TypeError, ValueError):
            return None  # refused where training builds them
        for name, callback in named:
            callback = vars(self).get("callbacks__" + name, callback)
            if callback is None or not (
                isinstance(callback, InputShapeSetter)
                or (
                    isinstance(callback, type)
                    and issubclass(callback, InputShapeSetter)
                )
            ):
                continue
            params = self.get_params_for("callbacks__" + name)
            try:
                if isinstance(callback, type):
                    callback = callback(**params)
                else:
                    callback = copy.copy(callback)
                    callback.set_params(**params)
            except Exception:
                continue  # refused where training builds it
            if callback.module_name == "module" and callback.param_name == "n_features":
                return callback
        return None

    def _check_initialised_width(self, row_shape):
        """Rows of another size than the default MLP built by
        ``initialize()`` takes (torch named two matrix shapes at the first
        batch); a subclass of it may take another width than the rows."""
        module = self.__dict__.get("module_")
        if type(module) is not MLPModule:
            return
        width, got = _mlp_width(module), int(np.prod(row_shape))
        if width is not None and got != width:
            raise ValueError(
                f"X has {got} features per row, but the network of this "
                f"{type(self).__name__} (MLPModule) takes {width}."
            )

    def _vocabulary_size(self, reset):
        """Rows of the embedding table that token ids index, or None: the
        fitted network's once there is one (a module that takes its size
        under another name, or an instance rebuilt from ``module__*``
        parameters, says it only there), else what the parameters say."""
        module = None if reset else self.__dict__.get("module_")
        if isinstance(module, EmbeddingBagModule):
            return module.embedding.num_embeddings
        return token_vocabulary(self.module, self.get_params_for("module"))

    def _check_token_ids_of_built(self, X):
        """After a fresh network is built: ids beyond the table its
        parameters did not name (checked by ``_check_inputs`` otherwise)."""
        module = self.__dict__.get("module_")
        if isinstance(module, EmbeddingBagModule):
            size = module.embedding.num_embeddings
            if size != token_vocabulary(self.module, self.get_params_for("module")):
                check_token_ids(X, size)

    def _train(self, data, **fit_params):
        # skorch checks this in fit_loop, after on_train_begin has run.
        self.check_training_readiness()
        _check_not_under_autocast(self.device)
        X, y, sample_weight = data
        # The fit's own state lives exactly as long as the fit.
        self.fit_state_ = FitState(sample_weight, sparse_input=sp.issparse(X))
        # Predictions from other threads are refused while it lives.
        self.fit_state_.thread = threading.get_ident()
        # The groups of a train_split that splits by group.
        self.fit_state_.split_groups = self.__dict__.pop("_split_groups", None)
        # The scoring passes of the selection modes run the module's forward
        # as the steps do, with fit's extra arguments (what skorch's
        # fit_loop hands the steps: all of them but the routing marker and
        # fit_loop's own epochs, which reached the module's forward).
        self.fit_state_.fit_params = {
            key: value
            for key, value in fit_params.items()
            if key not in ("_routing_method", "epochs")
        }
        epochs = self.fit_state_.epochs = fit_params.get("epochs")
        basis = self._warmup_basis(
            len(self.history), epochs, fit_params.get("_routing_method") == "fit"
        )
        self.fit_state_.warmup_basis = basis
        if not len(self.history):
            # Kept for the continued training of this one.
            self._warmup_basis_epochs = basis
        # Dropout and other modules draw from torch's global generator; the
        # fit gets a private copy of it, reseeded every epoch from init_seed_
        # (see on_epoch_begin), so it neither disturbs the caller's stream nor
        # depends on it.
        try:
            # (fit and partial_fit mark the thread's use of the generator.)
            with (
                torch.random.fork_rng(devices=_cuda_devices(self.device)),
                self._scoring_on_class_labels(),
            ):
                super().partial_fit(X, y, **fit_params)
            self._match_restored_weights()
            return self
        except BaseException:
            self._end_failed_training()
            raise
        finally:
            del self.fit_state_
            # Also after a failed call (see notify's on_train_end).
            self.__dict__.pop("_listener_cache", None)

    def _end_failed_training(self):
        """What the end of a fit does, for a call that fails: the epoch
        that failed keeps its batch losses as numbers (left as placeholders,
        the history saved no JSON, and a later checkpoint wrote an invalid
        file), and weights that a callback put back in ``on_train_end``
        before another one failed take their epoch's rule."""
        state = self.fit_state_
        if len(self.history):
            # Each process's own values, as after an interruption.
            state.losses.process_sum = None
            try:
                state.losses.write(self.history[-1].get("batches", []), "train_loss")
            except Exception:  # noqa: BLE001
                # A device that fails cannot be read; the call's own error
                # is the one to raise.
                pass
        if state.train_end_done is not None:
            self._match_restored_weights()

    def _match_restored_weights(self):
        """After a callback put back an earlier epoch's weights
        (``load_best=True`` of ``EarlyStopping`` or ``Checkpoint``), take
        that epoch's attributes that correct the output (see
        ``FitState.decisions``), as a fit stopped there has."""
        # The history as training left it: Checkpoint may have replaced it
        # by the one it saved.
        trained = getattr(self.fit_state_, "trained_history", None)
        trained = self.history if trained is None else trained
        restored = None
        done = self.fit_state_.train_end_done
        for _, callback in self.callbacks_:
            if done is not None and not any(callback is c for c in done):
                # Its on_train_end did not complete (another one failed).
                continue
            # skorch's own conditions for loading the weights, in callback
            # order: the last one to load them decides.
            epoch = _restored_epoch(callback, trained)
            if epoch is not None:
                restored = epoch
        decision = self.fit_state_.decisions.get(restored)
        if decision is not None:
            # The epoch's attributes as a whole: one it lacked (a starved
            # first epoch has no prior after rejection) goes too.
            for name in self._decision_attributes:
                self.__dict__.pop(name, None)
            self.__dict__.update(decision)

    def score(self, X, y, sample_weight=None):
        """Mean accuracy of :meth:`predict` on ``X`` against ``y``, as for
        every scikit-learn classifier.

        The default decision (``probability="balanced"``) aims at balanced
        accuracy, under which plain accuracy favours the majority: a search
        or a cross-validation over this estimator should name its metric,
        such as ``scoring="balanced_accuracy"`` (without one, ``GridSearchCV``
        selects by this score).

        Parameters
        ----------
        X : array-like or dict of str to array-like
            Inputs.
        y : array-like of shape (n_samples,)
            True labels.
        sample_weight : array-like of shape (n_samples,), default=None
            Weights of the rows in the mean.

        Returns
        -------
        score : float
            Mean accuracy.
        """
        # Read as fit reads them (a torch sparse vector, say).
        y = _readable_vector(y, "y")
        if sample_weight is not None:
            sample_weight = _readable_vector(sample_weight, "sample_weight")
        return super().score(X, y, sample_weight=sample_weight)

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
            (``"raw"``, in the network's dtype, as skorch returns it, with
            half precision as float32) or its correction for the rejection of
            the last training epoch (in float64; see
            :class:`~rsft_sklearn.RSFTClassifier`).
        """
        self.check_is_fitted()
        if self.device is not None:
            # As fit checks it: a device set after the fit (set_params, say)
            # that this PyTorch lacks would fail inside torch ("Torch not
            # compiled with CUDA enabled"). None keeps the network where it
            # is, as in skorch.
            check_device(self.device)
        X = _unsliced(X)
        if not is_dataset(X):
            X = self._validate_X(X, reset=False)
        else:
            _check_dataset_not_empty(X, type(self).__name__)
        if "classes_inferred_" in self.__dict__:
            return self._posterior(*self._output_and_log(X))
        # Initialised (and its parameters loaded) but never fitted: what fit
        # learns about the data is missing, so only the raw output is known
        # (refused before the network runs on every row).
        probability = getattr(self, "probability", "raw")
        if probability != "raw":
            raise NotFittedError(
                f"This {type(self).__name__} was initialised but not fitted: "
                f"probability={probability!r} corrects the network's output with "
                "what fit learns from the training data (class frequencies, the "
                "rule of the last epoch), which load_params does not restore. "
                "Set probability='raw' for the network's output, or pickle the "
                "fitted estimator to keep the correction."
            )
        return super().predict_proba(X)

    def _output_and_log(self, X):
        """skorch's ``predict_proba`` (the network's output after
        ``predict_nonlinearity``), with the log-softmax of the logits when
        the output is their softmax and ``probability``
        corrects it, else None: the float32 softmax underflows to 0 where a
        large logit adjustment trained outputs below ``exp(-87)``, which
        the correction would lift again. (Only for batches where it did;
        taken in float64 and kept in float32.)"""
        nonlinearity = self._get_predict_nonlinearity()
        softmax = (
            isinstance(nonlinearity, partial) and nonlinearity.func is torch.softmax
        )
        if not softmax or getattr(self, "probability", "raw") == "raw":
            return super().predict_proba(X), None
        probas, logs, start = [], [], 0
        for output in self.forward_iter(X, training=False):
            output = output[0] if isinstance(output, tuple) else output
            proba = nonlinearity(output)
            probas.append(to_numpy(proba))
            if bool((proba < FLOAT32_SMALLEST).any()):
                # Batches with an output below float32's range only; kept in
                # float32 as the output (the log of exp(-200) is -200 there).
                log = torch.log_softmax(output.double(), dim=-1).float()
                logs.append((start, to_numpy(log)))
            start += len(proba)
        proba = np.concatenate(probas, 0)
        if not logs:
            return proba, None
        # Read only where the output underflowed.
        log_proba = np.zeros(proba.shape, dtype=np.float32)
        for first, log in logs:
            log_proba[first : first + len(log)] = log
        return proba, log_proba

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`, as scikit-learn's classifiers
        give it.

        Parameters
        ----------
        X : array-like or dict of str to array-like
            Inputs.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            ``log(predict_proba(X))``; a probability of exactly 0 gives
            ``-inf``.
        """
        proba = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(proba)

    def forward(self, X, training=False, device="cpu"):
        """skorch's ``forward``: the network's output for ``X``, on inputs
        checked and converted as :meth:`predict_proba` does (a float64 array
        becomes float32, a wrong width is an error naming it). A tensor
        goes to the network as it is, as in skorch."""
        X = _unsliced(X)
        if not is_dataset(X) and not isinstance(X, torch.Tensor):
            X = self._validate_X(X, reset=False)
        return super().forward(X, training=training, device=device)

    def _posterior(self, proba, log_proba=None):
        """The probabilities to return, from the softmax of the logits (and
        their log-softmax, where the softmax underflowed in float32)."""
        return proba

    def _warmup_basis(self, epochs_before, epochs, fit_call):
        """The epochs that a fractional ``warmup_epochs`` is a share of: those
        of the call that starts the training (the ``epochs`` given to
        ``fit``, else ``max_epochs``; a first ``partial_fit`` takes
        ``max_epochs``, so that a loop of ``partial_fit(epochs=1)`` warms up
        over its first calls), kept by the continued training of it."""
        if epochs_before == 0:
            return epochs if fit_call and epochs is not None else self.max_epochs
        return self.__dict__.get("_warmup_basis_epochs", self.max_epochs)

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
        try:
            classes = self.classes_
        except AttributeError:
            # Initialised without classes: the labels are the output's
            # indices, as in skorch.
            classes = np.arange(proba.shape[1])
        if len(classes) != proba.shape[1]:
            raise ValueError(
                f"The module returns {proba.shape[1]} scores per sample but "
                f"classes lists {len(classes)} labels: {classes.tolist()!r}."
            )
        nan_rows = np.isnan(proba).any(axis=1)
        if nan_rows.any():
            # argmax reads a NaN as the largest value: such rows would get
            # the first NaN's class without a word (probability="raw"; the
            # corrected probabilities refuse them).
            raise ValueError(
                f"The network's output holds NaN values on {int(nan_rows.sum())} "
                f"of {len(nan_rows)} rows, whose class cannot be chosen: its "
                "parameters or its inputs made it overflow. Scale the features "
                "(for example with StandardScaler) or lower the learning rate, "
                "and refit."
            )
        return classes[proba.argmax(axis=1)]

    def check_data(self, X, y):
        # Labels are encoded in fit; skorch's own inference of classes from
        # the encoded y would overwrite classes_.
        pass

    def set_params(self, **kwargs):
        # A value refused while skorch rebuilds a component (a criterion
        # without per-sample losses, a module of a negative width) leaves
        # the estimator as it was: skorch stored it first, and continued
        # training went on with the old component under the new parameter.
        # skorch writes the optimiser's settings into its groups in place.
        names = getattr(self, "_optimizers", ())
        optimizers = [self.__dict__.get(name + "_") for name in names]
        groups = [
            [
                {key: value for key, value in group.items() if key != "params"}
                for group in getattr(optimizer, "param_groups", ())
            ]
            for optimizer in optimizers
        ]
        to_validate = set(self.__dict__.get("_params_to_validate", ()))
        try:
            with self._unchanged_if_refused():
                result = self._set_params(**kwargs)
                for name in names:
                    # The optimiser now in place (built anew for another
                    # class or other parameter groups).
                    optimizer = self.__dict__.get(name + "_")
                    if optimizer is None:
                        continue
                    if any(
                        key.startswith(name + "__") or key == "lr" for key in kwargs
                    ):
                        # As when it is built (see get_params_for_optimizer),
                        # before the check: torch's Adam refuses betas of
                        # fractions, and a scheduler wrote into the tensor
                        # given.
                        for group in optimizer.param_groups:
                            for key, value in group.items():
                                if key != "params":
                                    group[key] = _optimizer_setting(value)
                    if any(key.startswith(name + "__") for key in kwargs):
                        _check_optimizer_groups(name, optimizer)
                return result
        except BaseException:
            if "_params_to_validate" in self.__dict__:
                self._params_to_validate.clear()
                self._params_to_validate.update(to_validate)
            for optimizer, saved in zip(optimizers, groups):
                for group, values in zip(getattr(optimizer, "param_groups", ()), saved):
                    group.update(values)
            raise

    def _set_params(self, **kwargs):
        # skorch builds the callback list as soon as ``callbacks`` is set;
        # before initialisation the value is only stored, and fit validates it.
        if "callbacks" in kwargs and not self.initialized_:
            self.callbacks = kwargs.pop("callbacks")
        # On an initialised net, skorch hands optimizer__<name> to the
        # optimizer's parameter groups and keeps it nowhere else: a refit,
        # or a clone, built the optimizer without it. It is kept as a
        # parameter too, as set_params before initialisation does.
        kept = {}
        # During a fit (a callback's schedule of the rate) the setting is
        # the training's, as in skorch: a refit starts from the parameter.
        training = _fit_in_progress(self)
        if self.initialized_:
            if "lr" in kwargs and "optimizer__lr" in kwargs:
                # optimizer__lr wins, as before initialisation: lr is only
                # stored (skorch would hand it to the optimizer last).
                vars(self)["lr"] = kwargs.pop("lr")
            elif "lr" in kwargs and "optimizer__lr" in vars(self) and not training:
                # A kept optimizer__lr wins over lr at the next
                # initialisation: it takes the rate the optimizer now has.
                kept["optimizer__lr"] = kwargs["lr"]
            for name in () if training else getattr(self, "_optimizers", ()):
                prefix = name + "__"
                kept.update(
                    (key, value)
                    for key, value in kwargs.items()
                    if key.startswith(prefix) and "__" not in key[len(prefix) :]
                )
            # The iterators and the data set are built from their
            # parameters at every call: nothing to rebuild, where skorch
            # found no component to re-initialise and raised its "Something
            # went wrong" error (a larger predict batch size on a fitted
            # model, say; iterator_train=DataLoader). The classes are checked
            # here, as predict reads iterator_valid and dataset without the
            # check of fit; their parameters are checked at the next call.
            for key in [
                key
                for key in kwargs
                if key.split("__", 1)[0] in _READ_AT_EACH_CALL and not key.endswith("_")
            ]:
                value = kwargs.pop(key)
                if "__" in key:
                    self._params_to_validate.add(key)
                elif key in self._parameter_constraints:
                    validate_parameter(
                        key,
                        value,
                        self._parameter_constraints[key],
                        type(self).__name__,
                    )
                setattr(self, key, value)
        replaced = self.initialized_ and "callbacks" in kwargs
        # Another optimiser class on an initialised net: skorch finds no
        # component to rebuild for it ("Something went wrong"), and left the
        # parameter changed and the old optimiser in place. So with other
        # parameter groups (optimizer__param_groups): skorch wrote the list
        # into every group as a setting, "param_groups", which save_params
        # carried along, and partial_fit trained on with the old groups.
        # (optimizer__param_groups__<i>__<name> sets one group's setting in
        # place, as in skorch.)
        names = getattr(self, "_optimizers", ())
        rebuilt = {*names, *(name + "__param_groups" for name in names)}
        optimizers = {
            key: kwargs.pop(key)
            for key in list(kwargs)
            if self.initialized_ and key in rebuilt
        }
        components = set(self._modules) | set(self._criteria)
        if (
            self.initialized_
            and "init_seed_" in vars(self)
            and any(key.split("__", 1)[0] in components for key in kwargs)
        ):
            # skorch rebuilds a module or criterion whose parameters changed
            # (from torch's global generator): seeded as initialize seeds it,
            # and outside inference mode, where its weights could not train.
            with self._seeded_generators(), torch.inference_mode(False):
                result = super().set_params(**kwargs)
        else:
            result = super().set_params(**kwargs)
        vars(self).update(kept)
        if optimizers:
            # With the optimizer__* settings of the same call.
            vars(self).update(optimizers)
            self._initialize_optimizer()
            result = self
        if replaced:
            # skorch builds callbacks_ before it stores the new list, so the
            # list took effect one set_params late.
            self._initialize_callbacks()
        if (replaced or optimizers) and any(
            isinstance(callback, LRScheduler) for _, callback in self.callbacks_
        ):
            # A scheduler resumes at the epochs trained, from the rate each
            # group started with, which an optimiser records only under a
            # scheduler built before its first step: a scheduler added after
            # the fit, or an optimiser built anew, starts from its rate now.
            for name in getattr(self, "_optimizers", ()):
                optimizer = getattr(self, name + "_", None)
                for group in getattr(optimizer, "param_groups", ()):
                    group.setdefault("initial_lr", group["lr"])
        return result

    def _set_params_callback(self, **params):
        # skorch replaces the callback that callbacks__<name>=value names in
        # callbacks_, which lacks one disabled by None: setting it to None
        # again, or back to a callback, failed with "not enough values to
        # unpack" (and so did a round trip of set_params(**get_params()) of
        # an estimator built with callbacks__print_log=None), and None took
        # an enabled callback's place in callbacks_, where partial_fit
        # called its methods. A callback put in place of another was neither
        # initialised nor given the callbacks__<name>__* parameters: a new
        # PrintLog failed in the next partial_fit ("no attribute
        # 'keys_ignored_'"). Such a value is stored, and callbacks_ made from
        # the parameters as initialize makes it (skorch has rebuilt them from
        # the parameters before this call anyway); the other callback
        # parameters are skorch's to set, on the callbacks then in place.
        if "callbacks" in params:
            self.callbacks = params.pop("callbacks")
        prefix = "callbacks__"
        switched = {
            key: params.pop(key) for key in list(params) if key.count("__") == 1
        }
        for key, value in switched.items():
            if not (value is None or isinstance(value, type) or _is_callback(value)):
                raise TypeError(
                    f"{key} is a callback (an instance or a class), or None to "
                    f"disable it; got {value!r}."
                )
        if switched:
            if isinstance(self.callbacks, str):  # "disable"
                # Callbacks enabled again are the default ones.
                names = {name for name, _ in self._default_callbacks}
            else:
                names = {name for name, _ in self._uniquely_named_callbacks()}
            unknown = sorted(key for key in switched if key[len(prefix) :] not in names)
            if unknown:
                raise ValueError(
                    f"set_params got {', '.join(unknown)}, but the estimator has "
                    f"no callback of that name; its callbacks are "
                    f"{', '.join(sorted(names))}. Add a callback with callbacks="
                    "[(name, callback)]."
                )
        vars(self).update(switched)
        if any(value is not None for value in switched.values()):
            # The callbacks__<name>__* parameters of this call too (skorch
            # stores them after this method): a callback put in place with
            # its parameters in one call was built without them
            # (callbacks__valid_acc__name="my_acc" logged "accuracy").
            vars(self).update(params)
            self._initialize_callbacks()
        elif switched:
            # Only disabled: dropped from callbacks_ without building them
            # anew, which skorch's rule allows while parameters of the
            # callback are still stored (refused at the next fit).
            self.callbacks_ = [
                (name, callback)
                for name, callback in self.callbacks_
                if prefix + name not in switched
            ]
        if not params or isinstance(self.callbacks, str):  # "disable"
            # skorch reads the names of callbacks_ first, and failed on an
            # empty list ("not enough values to unpack"): under "disable"
            # the parameters are only stored, for the callbacks built once
            # callbacks are enabled.
            return self
        return super()._set_params_callback(**params)

    def __sklearn_is_fitted__(self):
        # As in skorch: an initialised network can predict (with loaded
        # parameters, say); fit is not required.
        return hasattr(self, "module_")

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        tags.input_tags.allow_nan = False
        tags.input_tags.sparse = True
        # Images and other rows of several axes (the default MLP flattens
        # them; a module of one's own takes them as they are).
        tags.input_tags.three_d_array = True
        # (A dict of named inputs, one array per module input, is taken too,
        # but scikit-learn's dict tag means a list of per-sample dicts, as
        # DictVectorizer takes, which fit refuses.)
        return tags

    @property
    def generators_(self):
        generators = generators_of(vars(self))
        if not generators:
            raise AttributeError(
                f"{type(self).__name__} has no generators before it is initialised."
            )
        return GeneratorState(generators, owner=self)

    def save_params(self, *args, **kwargs):
        # Saved during an epoch (a callback's on_batch_end), the history's
        # batch losses are written as floats first: JSON takes no
        # placeholder. (Not on several processes, where the read is a sum
        # over them that every process would have to join.)
        state = self.__dict__.get("fit_state_")
        if state is not None and state.losses.process_sum is None and len(self.history):
            state.losses.write(self.history[-1].get("batches", []), "train_loss")
        return super().save_params(*args, **kwargs)

    def load_params(self, *args, **kwargs):
        steps = self.__dict__.get("_steps_of_call")
        if steps is not None and steps.loaded is None and not steps.taken:
            # Loaded during a call that may yet be undone (LoadInitState's
            # load when training begins): the load writes the parameters in
            # place, and an undone call put back the history and prior from
            # before it beside the checkpoint's weights and optimiser state.
            steps.loaded = _state_replaced_by_load(
                [
                    self.__dict__.get(name + "_")
                    for name in self._modules + self._criteria
                ],
                [self.__dict__.get(name + "_") for name in self._optimizers],
            )
        return super().load_params(*args, **kwargs)

    def __getstate__(self):
        state = super().__getstate__()
        state.pop("_listener_cache", None)
        # A pickle taken during a fit (Checkpoint(f_pickle=...)) leaves out
        # the fit's working state: the training data, and the module list
        # that switches train and eval mode, which would be stale once
        # loaded.
        state.pop("fit_state_", None)
        # What marks a call in progress (a pickle taken in on_train_end).
        state.pop("_steps_of_call", None)
        state.pop("_fit_input_columns", None)
        state.pop("_frames_of_call", None)
        state.pop("_split_of_call", None)
        state.pop("_split_groups", None)
        state.pop("_generators_seeded", None)
        state.pop("_random_state_before_call", None)
        state.pop("_notifying_train_end", None)
        return pack_generators(state)

    def __setstate__(self, state):
        check_pickle_format(state, type(self).__name__)
        state.pop(PICKLE_FORMAT_KEY)
        generators = state.pop(GENERATORS_KEY)
        super().__setstate__(state)
        vars(self).update(unpack_generators(generators, self.device))

    def get_dataset(self, X, y=None, sample_weight=None):
        """The data set of ``(X, y)``, as skorch's ``get_dataset``, with the
        sample weights in every row.

        Parameters
        ----------
        X : array-like, dict of str to array-like or torch.utils.data.Dataset
            Inputs; a ``Dataset`` is wrapped to carry labels and weights. A
            SciPy sparse matrix, or a torch sparse tensor (read as the SciPy
            CSR matrix of its values, as in ``fit``), is held as
            :class:`~rsft_sklearn.SparseRows`.
        y : array-like of shape (n_samples,) or None, default=None
            Encoded class labels.
        sample_weight : array-like of shape (n_samples,) or None, default=None
            The rule's per-sample weights: finite and non-negative, as ``fit``
            takes them, and held as a float32 tensor (a dense tensor as it
            is).

        Returns
        -------
        dataset : torch.utils.data.Dataset
            The rows as the training and prediction loops read them.
        """
        if sample_weight is not None and (
            not isinstance(sample_weight, torch.Tensor)
            or sample_weight.layout != torch.strided
        ):
            sample_weight = _weight_tensor(
                sample_weight,
                len(sample_weight) if np.ndim(sample_weight) else get_len(X),
            )
        if is_dataset(X):
            state = self.__dict__
            return wrap_dataset(
                X,
                y,
                sample_weight,
                classes=state.get("classes_inferred_"),
                # An estimator only initialised (to load parameters) has seen
                # no data: its rows may be what the module takes.
                input_keys=state.get(
                    "input_keys_",
                    None if "classes_inferred_" in state else ANY_INPUTS,
                ),
                row_shape=self._fitted_row_shape(),
                vocab_size=self._vocabulary_size(reset=False),
            )
        dataset = self.dataset
        if not (isinstance(dataset, type) and issubclass(dataset, InMemoryDataset)):
            # The user's dataset, built (or refused) as skorch does it; the
            # sample weights travel beside its rows.
            return with_sample_weight(super().get_dataset(X, y), sample_weight)
        if isinstance(X, torch.Tensor) and X.layout != torch.strided:
            # Read as fit reads it, the SciPy CSR matrix of its values: taken
            # as a dense tensor, its batches failed inside torch ("Could not
            # run 'aten::ne.Scalar' ... 'SparseCPU' backend").
            X = readable_tensor(X)
        if isinstance(X, Mapping):
            X = {k: _shared_tensor(v) for k, v in X.items()}
        elif sp.issparse(X):
            module = self.__dict__.get("module_")
            X = SparseRows(X, getattr(module, "accepts_sparse", False))
        else:
            X = _shared_tensor(X)
        y = None if y is None else torch.as_tensor(y)
        kwargs = {"device": self.device, **self.get_params_for("dataset")}
        rows = dataset(X, y, sample_weight, **kwargs)
        # Built from arrays (not a Dataset of the user's): an uncached
        # scorer gets its rows back as arrays (see _scored_rows).
        rows._from_arrays = True
        return rows

    def get_split_datasets(self, X, y=None, **fit_params):
        # The sample weights travel inside the dataset, not as forward kwargs.
        state = self.__dict__.get("fit_state_")
        weight = None if state is None else state.sample_weight
        if y is not None and not isinstance(y, torch.Tensor):
            # Called by the user on a fitted estimator (fit hands it encoded
            # tensors): class labels, split and trained as fit would.
            self.check_is_fitted(["classes_"])
            y = torch.as_tensor(
                encode_labels(check_labels(np.asarray(y)), self.classes_)
            )
        dataset = self.get_dataset(X, y, weight)
        frames = self.__dict__.get("_frames_of_call")
        if (
            frames is not None
            and frames[0] is X
            and getattr(dataset, "_from_arrays", False)
        ):
            # The rows of the call's data in the order of the frames given.
            dataset._user_frames = frames[1]
        if not self.train_split:
            return dataset, None
        split = self.__dict__.get("_split_of_call")
        if split is not None and split[0] is X:
            # The split that fit counted the data on (see _training_rows),
            # taken by the rows that carry the weights.
            _, train, valid = split
            return (
                _part_of(dataset, train),
                self._encoded_valid(_part_of(dataset, valid)),
            )
        labels = None if y is None else y.numpy()
        groups = None if state is None else state.split_groups
        if groups is not None:
            fit_params = {**fit_params, "groups": groups}
        train, valid = self._split(dataset, labels, fit_params)
        self._check_training_classes(_rows_within(train, dataset), labels)
        return self._encoded_train(train, dataset, weight), self._encoded_valid(valid)

    def _split(self, dataset, labels, params):
        """``train_split(dataset, labels, **params)``, drawing from the
        fit's seed."""
        # skorch's ValidSplit shuffles with NumPy's global generator unless
        # given a random_state: drawn from the fit's seed (and the global
        # state put back), an int random_state gives identical fits.
        with _numpy_seeded(self.__dict__.get("init_seed_")):
            return self.train_split(dataset, labels, **params)

    def _training_rows(self, X, y, groups, fresh, method, fit_params):
        """Split the rows of this call with ``train_split``, once; return
        the rows of its training part, as an index (``slice(None)``: all).

        ``X`` and ``y`` are the call's checked inputs and encoded labels,
        ``groups`` those that a splitter by group takes (or None), ``fresh``
        whether the call builds the network anew, and ``method`` and
        ``fit_params`` the call's own, of which skorch hands ``train_split``
        its part. Whatever fit counts from the data (the class prior, the
        target weights, the strata, the mean of the positive sample
        weights) is counted on the training part alone: counted over every
        row, the validation rows moved it (a split by group whose training
        part held 90% of class 0 trained with the prior of all the rows,
        50%, and target="balanced" balanced nothing).
        :meth:`get_split_datasets` trains on this very split, so a split that
        draws rows runs once per call (where its training part is a
        ``Subset`` of the rows, whose rows are known).
        """
        split = self.train_split
        if not split or _predefined_valid_ds(split) is not None:
            # No validation part, or one given apart (predefined_split):
            # every row of the call trains.
            return slice(None)
        if fresh:
            # Seeded as get_split_datasets seeds it, from init_seed_, which
            # initialize() draws: drawn now, and taken by initialize(). A
            # refused call puts back what the draw took of a RandomState
            # (or of NumPy's global one): see _unchanged_if_refused.
            rng = check_random_state(self.random_state)
            self._random_state_before_call = (rng, rng.get_state())
            self._seed_generators()
            self._generators_seeded = True
        y = torch.as_tensor(y)
        labels = y.numpy()
        given = _SplitInput(len(labels), partial(self.get_dataset, X, y))
        params = self._split_params(method, fit_params)
        if groups is not None:
            params = {**params, "groups": groups}
        # A split drawing from torch's global generator (random_split)
        # draws from a copy, as in training: the caller's stream is left
        # alone.
        with torch.random.fork_rng(devices=_cuda_devices(self.device)):
            train, valid = self._split(given, labels, params)
        train_rows = _rows_within(train, given)
        if train_rows is None:
            warnings.warn(
                "train_split returned a training part that is not the data set "
                "it was given nor a torch.utils.data.Subset of it, so the rows "
                "it trains on are unknown: class_prior_ and the class target "
                "weights count every row of the call, the validation rows "
                "too. Return Subset(dataset, indices) for each part, as "
                "skorch's ValidSplit does.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
            return slice(None)
        self._check_training_classes(train_rows, labels)
        valid_rows = _rows_within(valid, given)
        # The parts as rows where they are, and a validation set of the
        # split's own (or None) as it is.
        self._split_of_call = (
            X,
            train_rows,
            valid if valid_rows is None else valid_rows,
        )
        return train_rows

    def _split_params(self, method, fit_params):
        """What skorch's ``fit_loop`` hands ``train_split`` of the extra
        arguments of ``method`` (``"fit"`` or ``"partial_fit"``): all of
        them, or with metadata routing on those routed to the splitter."""
        params = {
            key: value
            for key, value in fit_params.items()
            if key not in ("epochs", "_routing_method")
        }
        if not _routing_enabled():
            return params
        routed = process_routing(self, method, **params)
        return routed.get("splitter", {"split": {}})["split"]

    def _check_training_classes(self, rows, labels):
        """Name the classes a validation split left without a training row
        (``rows``: the training part's, as an index, or None where unknown),
        a rare class whose rows all went to validation: refused where fewer
        than two classes are left, as a fit on one class is."""
        try:
            classes = self.classes_
        except AttributeError:
            return
        if rows is None or labels is None or classes is None:
            return
        try:
            labels = np.asarray(labels)
            counts = np.bincount(labels[rows], minlength=len(classes))
            given = np.bincount(labels, minlength=len(classes))
        except (IndexError, TypeError, ValueError):
            return
        # Classes of this call's y only (a chunk of continued training may
        # lack some, as may y against classes=).
        absent = [classes[k] for k in np.flatnonzero((counts == 0) & (given > 0))]
        if not absent:
            return
        shown = ", ".join(shown_label(label) for label in absent[:5])
        missing = (counts == 0) & (given > 0)
        single = [classes[k] for k in np.flatnonzero(missing & (given == 1))]
        fixes = []
        if (missing & (given > 1)).any():
            fixes.append(
                # Stratified, a split by group failed in skorch ("Stratified
                # CV requires explicitly passing a suitable y").
                "A split by group keeps each group whole, and their rows all "
                "lie in the validation groups: draw another split (another "
                "random_state of the splitter, or other groups for "
                "validation), or train without a validation split "
                "(train_split=None)."
                if splits_by_group(self.train_split)
                else "Use a stratified split (ValidSplit(cv, stratified=True))."
            )
        if single:
            # No split keeps a class of one row on both sides.
            names = ", ".join(shown_label(label) for label in single[:5])
            fixes.append(
                f"Class {names} has a single row, which no split can put in "
                "both parts: add rows of it, merge it with another class, or "
                "train without a validation split (train_split=None)."
                if len(single) == 1
                else f"Classes {names} have a single row each, which no split "
                "can put in both parts: add rows of them, merge them with "
                "other classes, or train without a validation split "
                "(train_split=None)."
            )
        fix = " ".join(fixes)
        if (counts > 0).sum() < 2:
            raise ValueError(
                f"train_split left {int((counts > 0).sum())} class in the "
                f"training part (the rows of {shown} all went to validation): "
                f"a classifier needs at least two. {fix}"
            )
        warnings.warn(
            f"train_split left no training row of class(es) {shown}: all "
            "their rows went to validation, so the network never trains on "
            f"them. {fix}",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )

    def _encoded_train(self, train, given, sample_weight):
        """A training part that ``train_split`` builds as a new skorch
        ``Dataset`` (not the data set ``given`` to it) holds raw labels, as
        ``y`` of ``fit`` and its validation part do: the network trains on
        their indices in ``classes_``. (Read as indices, ``classes`` in
        another order trained silently on wrong labels, and labels other
        than ``0 .. K-1`` failed inside torch or in the per-class counts.)
        ``sample_weight``: the fit's, which such rows cannot carry."""
        if type(train) is not Dataset or train is given:
            return train
        if sample_weight is not None:
            # Its rows are not known among the fit's (only a Subset's are):
            # the weights cannot follow them. (The batches came without
            # weights, refused at the first step in terms of a collate_fn.)
            raise ValueError(
                "fit was given sample_weight, but train_split returned a "
                "training part that is a new skorch Dataset, whose rows carry "
                "no weights. Return Subset(dataset, indices) of the data set "
                "train_split is given, as skorch's ValidSplit does: its rows "
                "carry their weights."
            )
        labels = self._split_labels(
            train,
            "training part",
            warn=True,
            # The likely cause: a Dataset built from the labels train_split
            # is handed, or from the data set it is given, which are encoded.
            hint=" A new skorch Dataset that train_split returns holds the "
            "labels as y of fit holds them, not the class indices that the y "
            "argument of train_split and the data set it is given hold "
            "(return Subset(dataset, indices) of that data set, or build the "
            "Dataset from the labels of fit's y).",
        )
        if labels is None:
            # skorch's Dataset without y yields a placeholder label.
            raise ValueError(
                "The training part of train_split has no labels: it is a "
                "skorch Dataset without y. Return Dataset(X_train, y_train), "
                "with the labels as y of fit holds them, or "
                "Subset(dataset, indices) of the data set train_split is given."
            )
        if _read_otherwise_as_indices(self.classes_, train.y, labels):
            # Class indices taken for labels pass the check above where
            # every index is a label too (classes=[2, 1, 0]), and the network
            # trained on the wrong classes without a word.
            warnings.warn(
                "train_split returned a training part that is a new skorch "
                "Dataset whose labels are integers from 0 to "
                f"{len(self.classes_) - 1}: they are read as y of fit holds "
                "them and encoded as their indices in classes_ "
                f"{shown_classes(self.classes_)}, which differ from them. If "
                "they came from the y argument of train_split (or the data set "
                "it is given), they are class indices already, and the network "
                "trains on the wrong classes: return Subset(dataset, indices) "
                "of the data set train_split is given, or build the Dataset "
                "from the labels of fit's y.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
        if is_dataset(train.X):
            return Dataset(train.X, labels)
        return self.get_dataset(self._split_inputs(train, "training part"), labels)

    def _encoded_valid(self, valid):
        """A validation set given as skorch's ``Dataset`` (``predefined_split``)
        holds raw labels, as ``y`` of ``fit`` does; the network is scored on
        their indices in ``classes_``, as it is trained. (Read as indices,
        labels other than ``0 .. K-1``, or ``classes`` in another order, gave
        wrong validation scores or an error inside torch.)"""
        if type(valid) is not Dataset:
            if (
                valid is not None
                and valid is _predefined_valid_ds(self.train_split)
                and is_dataset(valid)
                and not isinstance(valid, (InMemoryDataset, DatasetRows))
            ):
                # A Dataset of the user's own: labels in its rows, encoded
                # as they are read.
                state = self.__dict__
                return ValidationRows(
                    valid,
                    self.classes_,
                    input_keys=state.get("input_keys_"),
                    row_shape=self._fitted_row_shape(),
                    vocab_size=self._vocabulary_size(reset=False),
                )
            if isinstance(valid, InMemoryDataset) and isinstance(valid.X, torch.Tensor):
                # Its ids all at once, as a training set's (an id out of
                # range failed inside torch).
                vocab_size = self._vocabulary_size(reset=False)
                if vocab_size is not None:
                    try:
                        check_token_rows(valid.X, vocab_size)
                    except ValueError as exc:
                        raise ValueError(
                            f"The validation set of train_split: {exc}"
                        ) from None
            return valid
        # Within fit, _check_training_settings gave the labels' warnings.
        labels = self._split_labels(valid, warn=not _fit_in_progress(self))
        if is_dataset(valid.X):
            return Dataset(valid.X, labels)
        return self.get_dataset(self._split_inputs(valid), labels)

    def _split_labels(self, part, name="validation set", warn=False, hint=""):
        """The encoded labels of a ``Dataset`` that ``train_split`` returned
        as its part ``name``, or None; ``warn``: give the warnings of reading
        them (a column vector), naming them and pointing at the user's
        call; ``hint``: added to the error on labels not in ``classes_``."""
        labels = part.y
        if labels is None:
            return None
        if isinstance(labels, torch.Tensor):
            labels = labels.cpu().numpy()
        try:
            labels = check_labels(
                np.asarray(labels),
                f"The labels of the {name} of train_split",
                warn=warn,
            )
        except ValueError as exc:
            raise ValueError(f"The {name} of train_split: {exc}") from None
        try:
            return torch.as_tensor(encode_labels(labels, self.classes_))
        except ValueError as exc:
            raise ValueError(f"The {name} of train_split: {exc}{hint}") from None

    def _split_inputs(self, part, name="validation set"):
        """The inputs of a ``Dataset`` that ``train_split`` returned as its
        part ``name``, checked and converted as those of fit are (a float64
        array reached the float32 network as it was, and failed in torch)."""
        try:
            return self._validate_X(part.X, reset=False)
        except ValueError as exc:
            raise ValueError(f"The {name} of train_split: {exc}") from None

    def forward_iter(self, X, training=False, device="cpu"):
        # skorch's, with the iterator of a prediction pass: training=True
        # (Monte-Carlo dropout, say) gives the rows in X's order, as skorch's
        # defaults do, draws nothing from the shuffling generator, and
        # leaves a fit in progress (called from its callbacks) its own
        # training iterator.
        _check_not_fitting_elsewhere(self)
        dataset = self.get_dataset(X)
        # The mark lives outside the estimator: written into its __dict__,
        # it changed the dict that other threads predicting with the same
        # estimator iterated (get_params_for: "dictionary changed size
        # during iteration"), and their pass removed it during this one's,
        # whose forward(training=True) then got the fit's shuffled rows.
        token = _PREDICTING.set(self)
        try:
            iterator = self.get_iterator(dataset, training=training)
        finally:
            _PREDICTING.reset(token)
        # Initialised but not fitted (to load parameters), the output is
        # returned as in skorch, and predict names columns that are not
        # the constructor's classes.
        fitted = self.__dict__.get("classes_inferred_")
        n_classes = None if fitted is None else len(fitted)
        for batch in iterator:
            output = self.evaluation_step(batch, training=training)
            # As in training (skorch's predict_proba reads a tuple's first
            # element): a module that drops rows had its outputs returned
            # for the wrong rows, and one of another shape failed in NumPy
            # or returned columns that are no classes. Shapes and the dtype
            # only: nothing is read back from the device.
            _check_module_output(
                output[0] if isinstance(output, tuple) else output,
                n_classes,
                _batch_rows(batch),
            )
            yield to_device(output, device)

    def get_iterator(self, dataset, training=False):
        predicting = in_prediction_pass(self)
        if training:
            kwargs = self.get_params_for("iterator_train")
            if (
                not predicting
                and isinstance(self.iterator_train, type)
                and issubclass(self.iterator_train, BatchIterator)
            ):
                if (
                    kwargs.get("sampler") is None
                    and kwargs.get("batch_sampler") is None
                ):
                    # A sampler decides the order itself: DataLoader refuses
                    # one beside shuffle=True, which the user did not set.
                    kwargs.setdefault("shuffle", True)
                kwargs.setdefault("generator", self.shuffle_generator_)
            iterator = self.iterator_train
        else:
            kwargs = self.get_params_for("iterator_valid")
            iterator = self.iterator_valid
            # (Batches cut from memory take no sampler: see below.)
            sliced = (
                isinstance(iterator, type)
                and issubclass(iterator, BatchIterator)
                and _resolve(dataset)[0] is not None
            )
            _check_rows_in_order(kwargs, self.batch_size, None if sliced else dataset)
        if (
            (predicting or not training)
            and isinstance(iterator, type)
            and issubclass(iterator, BatchIterator)
        ):
            # A fit on a torch Dataset may give its iterators a sampler or a
            # collate_fn, and predict on arrays, which BatchIterator batches
            # from memory in their order and refuses these for.
            kwargs = without_row_options(dataset, kwargs)
        kwargs.setdefault("batch_size", self.batch_size)
        if kwargs["batch_size"] == -1:
            kwargs["batch_size"] = len(dataset)
            if kwargs.get("drop_last"):
                # The whole set is one batch, never an incomplete one; under
                # rejection="pool", "epoch" and "budget" it holds the rows
                # the epoch keeps, fewer than len(dataset), which drop_last
                # left out: such a fit trained on nothing.
                kwargs["drop_last"] = False
        iterator = iterator(dataset, **kwargs)
        state = self.__dict__.get("fit_state_")
        if training and state is not None and not predicting:
            state.train_iterator = iterator
        return iterator

    def initialize(self):
        check_device(self.device)
        # What the training of an earlier network left (the warm-up count it
        # started with, whether its last epoch rejected) is not this one's.
        self.__dict__.pop("_warmup_basis_epochs", None)
        self.__dict__.pop("_last_epoch_rejected", None)
        self.__dict__.pop("_warned_in_run", None)
        if not self.__dict__.pop("_generators_seeded", False):
            # (fit draws them before the network is built, where its
            # train_split is seeded from them: see _training_rows.)
            self._seed_generators()
        # Weights built inside torch.inference_mode() (to load parameters
        # and predict, say) would be inference tensors, which no later fit
        # could train.
        with self._seeded_generators(), torch.inference_mode(False):
            return super().initialize()

    @contextmanager
    def _seeded_generators(self):
        """torch's global generators seeded with ``init_seed_``, in a private
        copy: building the network (``initialize``, or ``set_params`` of a
        ``module__`` parameter) draws its weights from ``random_state``."""
        with (
            global_generator_in_use(),
            torch.random.fork_rng(devices=_cuda_devices(self.device)),
        ):
            seed_fit_generators(self.init_seed_, self.device)
            yield

    def _seed_generators(self):
        # An integer or None, to name a change before continued training
        # (a RandomState instance is not compared: a pickle copies it).
        self._seeded_random_state = (
            self.random_state
            if self.random_state is None
            or isinstance(self.random_state, numbers.Integral)
            else _ANY_STATE
        )
        rng = check_random_state(self.random_state)
        seeds = rng.randint(0, 2**31 - 1, size=3)
        self.init_seed_ = int(seeds[0])
        self.shuffle_generator_ = torch.Generator().manual_seed(int(seeds[1]))
        self.mask_generator_ = torch.Generator(device=self.device).manual_seed(
            int(seeds[2])
        )

    def _builds_mlp(self):
        """Whether the estimator builds an :class:`MLPModule` from its
        parameters: ``module=None``, the class, or an instance with
        ``module__*`` parameters (a new MLP is built from them, and
        ``initialize_module`` warns).

        Such a network is the default MLP, with or without its sizes given
        (``module__n_features``, ``module__n_classes``; the data's
        otherwise): on sparse input its first layer covers the columns in
        use, and its gradients are zeroed in place. The same class with the
        same parameters builds the same network whichever way it is named.
        """
        if self.module is None or self.module is MLPModule:
            return True
        return type(self.module) is MLPModule and bool(self.get_params_for("module"))

    def _check_dict_for_mlp(self):
        """Refuse a dict of inputs for the default MLP, whose forward takes
        one tensor, ``X``: the dict's inputs reached it as keyword arguments
        ("unexpected keyword argument"). A dict of that key alone is its
        input, read as an array is: rows of features, so a 1-d value (one
        number per row) is refused as scikit-learn refuses a 1-d array (it
        reached the network as one row of a batch's values, and torch failed
        with "mat1 and mat2 shapes cannot be multiplied")."""
        keys = self.__dict__.get("input_keys_")
        if keys is None or not (self._builds_mlp() or type(self.module) is MLPModule):
            return
        if list(keys) != ["X"]:
            raise ValueError(
                "The default MLP (MLPModule) takes one input, X (an array, a "
                f"sparse matrix, or a dict of that key alone); a dict of inputs "
                f"{list(keys)} needs a module whose forward takes them by name "
                "(module=...; see the multimodal guide)."
            )
        # (A Dataset of dict rows records no shapes.)
        shapes = self.__dict__.get("input_shapes_") or {}
        if shapes.get("X") is not None and tuple(shapes["X"]) == ():
            raise ValueError(
                "X['X'] is 1-d (one value per row), and the default MLP "
                "(MLPModule) takes rows of features, as it takes an array X: "
                "pass X['X'].reshape(-1, 1) for one feature (a pandas or "
                "polars Series: series.to_frame()), or a module whose forward "
                "takes a 1-d input (module=...)."
            )

    def initialize_module(self):
        self._check_dict_for_mlp()
        if self._builds_mlp():
            if isinstance(self.module, torch.nn.Module):
                self._warn_instance_not_used()
            kwargs = self.get_params_for("module")
            shapes = self.__dict__.get("input_shapes_")
            if "n_features" not in kwargs and shapes is not None and "X" in shapes:
                # A dict of X alone: its rows, flattened, as an array's.
                kwargs["n_features"] = int(np.prod(shapes["X"]))
            if "n_features" not in kwargs:
                if not hasattr(self, "n_features_in_"):
                    raise ValueError(
                        "The default MLP takes its input width from array input "
                        "at fit. Before a fit (initialize() to load_params, "
                        "say), pass module__n_features and module__n_classes; "
                        "for dict or Dataset inputs, pass a module."
                    )
                # The MLP flattens every row (an image's channels and
                # pixels).
                row_shape = self.__dict__.get("_row_shape")
                kwargs["n_features"] = (
                    self.n_features_in_
                    if row_shape is None
                    else int(np.prod(row_shape))
                )
            if "n_classes" not in kwargs:
                kwargs["n_classes"] = len(self.classes_)
            columns = self.__dict__.get("_fit_input_columns")
            if columns is not None:
                kwargs.setdefault("input_columns", columns)
            self.module_ = MLPModule(**kwargs).to(self.device)
            return self
        if isinstance(self.module, type) and issubclass(
            self.module, EmbeddingBagModule
        ):
            kwargs = self.get_params_for("module")
            if "n_classes" not in kwargs:
                # Read only when not given: an estimator initialised to load
                # parameters knows no classes yet.
                kwargs["n_classes"] = len(self.classes_)
            self.module_ = self.module(**kwargs).to(self.device)
            return self
        if isinstance(self.module, torch.nn.Module) and not self.get_params_for(
            "module"
        ):
            # Training a copy keeps the given instance pristine, so that a
            # refit, a clone and every fold of a grid search start from the
            # weights it had when it was passed in.
            try:
                module = _copied_module(self.module)
            except (TypeError, AttributeError, RuntimeError) as error:
                raise TypeError(
                    f"The module instance ({type(self.module).__name__}) cannot "
                    f"be deep-copied ({type(error).__name__}: {error}). Every "
                    "fit trains a copy of it, so that a refit, a clone and "
                    "each fold of a search start from the weights it was "
                    "given. Pass the module's class with module__* "
                    "parameters (and load the weights in its __init__), or "
                    "give the class a __deepcopy__ that copies its parameters "
                    "and shares what cannot be copied."
                ) from error
            self.module_ = module.to(self.device)
            return self
        if isinstance(self.module, torch.nn.Module):
            self._warn_instance_not_used()
        return super().initialize_module()

    def _warn_instance_not_used(self):
        warnings.warn(
            f"module is an instance and module__* parameters are set "
            f"({sorted(self.get_params_for('module'))}): a new "
            f"{type(self.module).__name__} is built from them and the "
            "instance's weights are not used. Drop the module__* parameters "
            "to start from the instance's weights.",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )

    def _set_training(self, training=True):
        """skorch's switch between training and evaluation mode, which
        during a fit sets every module's flag from a list collected once per
        epoch instead of walking each tree (the pooled modes switch twice
        per pool). A module with a ``train`` of its own (a frozen BatchNorm,
        say), in its class or set on the instance, keeps skorch's walk."""
        state = self.__dict__.get("fit_state_")
        if state is None:
            return super()._set_training(training)
        # Also per batch of a prediction begun before the fit: its switch to
        # evaluation mode would reach the fit's steps.
        _check_not_fitting_elsewhere(self, state)
        if state.mode_trees is None:
            state.mode_trees = _mode_trees(
                [getattr(self, name + "_") for name in self._modules + self._criteria]
            )
        if state.mode_trees is False:
            return super()._set_training(training)
        training = bool(training)
        for modules in state.mode_trees:
            for module in modules:
                # What nn.Module.train sets, without its per-call checks.
                module.__dict__["training"] = training

    def _score(self, X, **fit_params):
        """Logits of a gradient-free pass in evaluation mode."""
        self._set_training(False)
        try:
            with torch.no_grad():
                logits = self.infer(X, **fit_params)
        finally:
            # Also when the pass fails (or is interrupted): the network
            # and the loss were left in evaluation mode.
            self._set_training(True)
        _check_module_output(logits, len(self.classes_))
        state = self.__dict__.get("fit_state_")
        if state is not None and len(logits):
            # A row whose softmax is not defined (a NaN or +inf logit, or no
            # finite one) gets a NaN acceptance, and is rejected without a
            # word (the uncompacted step would have its loss turn NaN);
            # counted on the device, read when the epoch ends. A -inf logit
            # beside finite ones (a masked class) is a valid output. A row's
            # largest logit is not finite exactly when its log-sum-exp is
            # not (NaN, +inf, or no finite logit), at 0.4 times the cost on
            # the CPU.
            bad = (~torch.isfinite(logits.amax(dim=1))).sum()
            seen = state.nonfinite_scores
            state.nonfinite_scores = bad if seen is None else seen + bad
        if isinstance(getattr(self.criterion_, "base_criterion", None), NLLLoss):
            logits = log_proba_for_nll(logits)
        return logits

    def _initialize_criterion(self, reason=None):
        super()._initialize_criterion(reason)
        check_criterion(self.__dict__.get("criterion_"), type(self).__name__)
        return self

    def _get_predict_nonlinearity(self):
        # skorch infers the softmax from the criterion (CrossEntropyLoss only;
        # any other gets the identity). The rule reads the network's output
        # as logits whatever the criterion wraps (a focal loss, say), so
        # "auto" gives their softmax for every criterion but NLLLoss, whose
        # net ends in a softmax or log-softmax already.
        if self.predict_nonlinearity != "auto":
            return super()._get_predict_nonlinearity()
        base = getattr(self.criterion_, "base_criterion", None)
        if base is not None:
            nll = isinstance(base, NLLLoss)
        elif getattr(self, "_trimmed_for_prediction", False):
            # Trimmed for prediction: the criterion is gone, its kind kept.
            nll = self.__dict__.get("_trimmed_nll", False)
        else:
            return super()._get_predict_nonlinearity()
        return proba_for_nll if nll else partial(torch.softmax, dim=-1)

    def _fitted_row_shape(self):
        """The shape of a row of the arrays fit saw (past the rows), or of
        each input of a dict of arrays; None after a fit on a Dataset."""
        state = self.__dict__
        shapes = state.get("input_shapes_")
        return shapes if shapes is not None else state.get("_row_shape")

    def trim_for_prediction(self):
        """skorch's trimming (no optimiser, criterion, callbacks or history
        left), with ``predict_nonlinearity="auto"`` still reading the output
        as the dropped criterion did: probabilities stay probabilities."""
        if getattr(self, "_trimmed_for_prediction", False):
            return super().trim_for_prediction()
        base = getattr(self.__dict__.get("criterion_"), "base_criterion", None)
        nll = isinstance(base, NLLLoss)
        result = super().trim_for_prediction()
        self._trimmed_nll = nll
        return result

    def _backward(self, loss):
        """Back-propagate; mixed-precision subclasses scale the loss here."""
        loss.backward()

    def _zero_grad_optimizer(self, set_to_none=None):
        # On sparse input the default MLP's first layer is wide (hashed
        # text), and allocating its gradient anew at every step grows the C
        # heap by tens of MB. That MLP uses every parameter in every forward
        # pass, and without compaction every step runs the backward pass:
        # every gradient is then written at every step, so zeroing the
        # buffers in place gives the same steps as freeing them. (On small
        # dense networks freeing is a little faster, so they keep it.) A
        # frozen parameter (requires_grad off, skorch's Freezer) is written
        # at no step: a zeroed gradient would let Adam's momentum and weight
        # decay move it, so a network with one keeps freeing.
        state = self.__dict__.get("fit_state_")
        # Called at every step: the cheap checks first.
        if (
            set_to_none is None
            and state is not None
            and state.sparse_input
            and state.plan is not None
            and not state.plan.compact
            and self._builds_mlp()
            and all(p.requires_grad for p in self.module_.parameters())
        ):
            set_to_none = False
        return super()._zero_grad_optimizer(set_to_none)

    # ------------------------------------------------------------------
    # The epoch loop: skorch's, without the per-batch calls that do nothing
    # ------------------------------------------------------------------
    def notify(self, method_name, **cb_kwargs):
        """Call ``method_name`` on the net and on every callback, as skorch
        does, except on callbacks that inherit skorch's ``Callback`` method,
        which does nothing.

        Which callbacks define which methods is looked up once per fit (at
        ``on_train_begin``) and whenever ``callbacks_`` is replaced or
        changes length.
        """
        if method_name == "on_train_begin":
            for listener in self._listeners(method_name):
                self._call_listener(listener, cb_kwargs)
                self._after_train_begin_listener()
            return
        if method_name == "on_train_end":
            self.__dict__["_notifying_train_end"] = True
            state = self.__dict__.get("fit_state_")
            done = None
            if state is not None:
                # The callbacks whose on_train_end completed, for a call
                # whose on_train_end fails part-way (_end_failed_training).
                done = state.train_end_done = []
            try:
                for listener in self._listeners(method_name):
                    self._call_listener(listener, cb_kwargs)
                    if done is not None:
                        done.append(getattr(listener, "__self__", None))
                if done is not None:
                    state.train_end_done = None
            finally:
                # However the callbacks end.
                self.__dict__.pop("_notifying_train_end", None)
                # The cache holds the net's own bound methods: kept, it made
                # a reference cycle, and a fitted net (with its network and
                # optimiser state, on the GPU too) waited for the garbage
                # collector instead of going with its last reference. Each
                # fit builds it again at on_train_begin.
                self.__dict__.pop("_listener_cache", None)
                self._after_train_end()
            return
        for listener in self._listeners(method_name):
            self._call_listener(listener, cb_kwargs)

    def _call_listener(self, listener, cb_kwargs):
        """Call one listener of ``notify``. While a callback (not the net's
        own method) runs in the fitting thread, other threads may predict:
        the fitting thread waits for the callback (joblib's threading
        backend, a ThreadPoolExecutor's result), and takes no training step
        until their batches have ended."""
        state = self.__dict__.get("fit_state_")
        if (
            getattr(listener, "__self__", None) is self
            or getattr(state, "thread", None) != threading.get_ident()
        ):
            return listener(self, **cb_kwargs)
        with _CALLBACK_WAIT:
            state.in_callbacks = getattr(state, "in_callbacks", 0) + 1
        try:
            return listener(self, **cb_kwargs)
        finally:
            with _CALLBACK_WAIT:
                state.in_callbacks -= 1
                # A prediction the callback left running (a timeout) stops
                # at its next batch; the one under way ends first.
                _CALLBACK_WAIT.wait_for(
                    lambda: (
                        state.in_callbacks or not getattr(state, "foreign_batches", 0)
                    )
                )

    def _after_train_begin_listener(self):
        """Called after the net's and each callback's ``on_train_begin``."""

    def _after_train_end(self):
        """Called after the net's and every callback's ``on_train_end``."""

    def _listeners(self, method_name):
        callbacks = self.callbacks_
        cache = self.__dict__.get("_listener_cache")
        if (
            method_name == "on_train_begin"
            or cache is None
            or cache[0] is not callbacks
            or cache[1] != len(callbacks)
        ):
            # The list itself is kept, so its id cannot be reused.
            cache = (callbacks, len(callbacks), {})
            if "fit_state_" in self.__dict__:
                # Kept during a fit only (dropped at its end): the cache
                # holds the net's bound methods, a reference cycle.
                self.__dict__["_listener_cache"] = cache
        found = cache[2].get(method_name)
        if found is None:
            own = getattr(self, method_name)
            skip_own = method_name in _NET_NO_OPS and getattr(
                own, "__func__", None
            ) is getattr(NeuralNet, method_name)
            found = [] if skip_own else [own]
            found += [
                _listener(callback, method_name)
                for _, callback in callbacks
                if _does_something(callback, method_name)
            ]
            cache[2][method_name] = found
        return found

    def initialize_callbacks(self):
        # skorch's, with the score names checked as the callbacks__*
        # parameters left them: callbacks__<name>__name=... and
        # callbacks__<name>=<callback> (skorch's way to replace a default
        # callback) given before the callbacks existed escaped the check of
        # the callbacks as given. (Before training starts: a refused fit
        # leaves the estimator as it was.)
        before = self.__dict__.get("callbacks_")
        super().initialize_callbacks()
        try:
            self._check_score_names(self.callbacks_)
        except ValueError:
            if before is None:
                self.__dict__.pop("callbacks_", None)
            else:
                self.callbacks_ = before
            raise
        return self

    def _check_score_names(self, callbacks=None):
        """Refuse a scoring callback whose score (or its ``_best`` flag) has
        the name of a history key that the estimator records itself: the
        score overwrote it silently, and what reads the key back
        (``compact="auto"`` reads ``acceptance_rate``, resuming a fit reads
        ``warmup``) read the score instead. skorch refuses duplicate callback
        names likewise. ``callbacks``: the ``(name, callback)`` pairs to
        check; by default those given, and those initialised."""
        if callbacks is None:
            callbacks = (
                self.callbacks if isinstance(self.callbacks, (list, tuple)) else []
            )
            if self.__dict__.get("initialized_") and isinstance(
                self.__dict__.get("callbacks_"), list
            ):
                # A callbacks__<name>__name set on the initialised instances.
                callbacks = list(callbacks) + self.callbacks_
        reserved = self._history_keys
        for item in callbacks:
            name, callback = item if isinstance(item, tuple) else (None, item)
            for key in _score_keys(callback):
                if key in reserved or any(
                    key.startswith(prefix) and key.endswith("]")
                    for prefix in self._history_key_prefixes
                ):
                    shown = list(reserved) + [
                        f"{prefix}<label>]" for prefix in self._history_key_prefixes
                    ]
                    raise ValueError(
                        f"The callback {name or type(callback).__name__!r} "
                        f"records its score in the history as {key!r}, a key "
                        f"that {type(self).__name__} records itself and reads "
                        f"back ({', '.join(shown)}). Give the scoring another "
                        "name (name=...)."
                    )

    def _check_parameter_patterns(self):
        """Warn of patterns of parameter names (``optimizer__param_groups``,
        skorch's ``Freezer`` and ``ParamMapper``) that name a criterion's
        parameters as ``base_criterion.<name>``: they are named as the
        criterion names them (see :meth:`get_all_learnable_params`), and such
        a pattern, written for earlier versions, would match nothing."""
        patterns = [
            group[0]
            for group in self.get_params_for("optimizer").get("param_groups") or ()
            if isinstance(group, (tuple, list)) and group
        ]
        for callback in self.callbacks if isinstance(self.callbacks, list) else ():
            callback = callback[1] if isinstance(callback, tuple) else callback
            given = getattr(callback, "patterns", None)
            if isinstance(given, (list, tuple)):
                patterns += list(given)
            elif given is not None:
                patterns.append(given)
        stale = [
            p for p in patterns if isinstance(p, str) and p.startswith(_BASE_CRITERION)
        ]
        if stale:
            # A warning: a network of one's own may hold a submodule of that
            # name, whose parameters the pattern does match.
            warnings.warn(
                f"The parameter pattern(s) {stale} start with 'base_criterion.', "
                "a prefix that a criterion's parameters no longer carry: they "
                "are named as the criterion names them, as in skorch. A "
                "pattern meant for them matches nothing; drop the prefix.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )

    def get_all_learnable_params(self):
        # The criterion's own parameters (a learnt temperature, say) live in
        # the rule's loss module as base_criterion.<name>: they are yielded
        # under the criterion's names, as skorch names them, so that
        # optimizer__param_groups patterns match.
        seen = set()
        for component in self._modules + self._criteria:
            module = getattr(self, component + "_")
            named_parameters = getattr(module, "named_parameters", None)
            if not named_parameters:
                continue
            wrapped = component in self._criteria and hasattr(module, "base_criterion")
            for name, param in named_parameters():
                # (A criterion that holds the module yields its parameters
                # again, as in skorch.)
                if param in seen:
                    continue
                seen.add(param)
                yield (name.removeprefix(_BASE_CRITERION) if wrapped else name), param

    def infer(self, x, **fit_params):
        # A tensor (what the data path yields) goes to the module directly;
        # skorch's conversions handle everything else.
        if type(x) is torch.Tensor:
            return self.module_(on_device(x, self.device), **fit_params)
        return super().infer(x, **fit_params)

    def run_single_epoch(self, iterator, training, prefix, step_fn, **fit_params):
        """One epoch of training or validation: skorch's loop, with the
        step's loss recorded through ``_batch_loss``."""
        if iterator is None:
            return
        if training:
            self._before_training_epoch()
        if type(self).notify is NetClassifierBase.notify:
            # The batch-level listeners, looked up once for the epoch.
            begin = self._listeners("on_batch_begin")
            end = self._listeners("on_batch_end")
        else:
            # A notify of a subclass's own sees every event.
            begin = [lambda net, **kwargs: net.notify("on_batch_begin", **kwargs)]
            end = [lambda net, **kwargs: net.notify("on_batch_end", **kwargs)]
        loss_key, size_key = prefix + "_loss", prefix + "_batch_size"
        batch_count = 0
        # (See _undone_if_untrained.)
        steps = self.__dict__.get("_steps_of_call") if training else None
        for batch in iterator:
            # Callbacks see skorch's (X, y): the weights that a training batch
            # carries as a third element (sample weights, the budget's
            # importance weights) are the step's alone. skorch's scoring
            # callbacks refuse a batch of three.
            shown = _as_skorch_batch(batch)
            for listener in begin:
                listener(self, batch=shown, training=training)
            # A validation step gets (X, y), as in skorch: the validation
            # part is scored unweighted.
            if steps is not None:
                completed = steps.completed
            step = step_fn(batch if training else shown, **fit_params)
            if steps is not None and steps.completed == completed:
                # A train_step of a subclass's own, which does not pass
                # through the library's: its step is taken at its word.
                steps.add()
            history = self.history
            if type(history) is History:
                # The row that on_batch_begin (history.new_batch) added; the
                # plain list lookup skips History's index parsing.
                row = list.__getitem__(history, -1)["batches"][-1]
                row[loss_key] = self._batch_loss(step["loss"], training)
                row[size_key] = _batch_len(batch)
            else:
                # Another history (skorch's DistributedHistory, which shares
                # every batch's values between processes) records its way,
                # and gets the loss's value now.
                history.record_batch(loss_key, step["loss"].item())
                history.record_batch(size_key, _batch_len(batch))
            for listener in end:
                listener(self, batch=shown, training=training, **step)
            batch_count += 1
        self.history.record(prefix + "_batch_count", batch_count)

    def on_batch_begin(self, net, batch=None, training=False, **kwargs):
        history = self.history
        if type(history) is History:
            # What History.new_batch does, without its index parsing.
            list.__getitem__(history, -1)["batches"].append({})
        else:
            history.new_batch()

    def _batch_loss(self, loss, training):
        """What the history keeps as a batch's loss."""
        return loss.item()

    def train_step(self, batch, **fit_params):
        """skorch's training step; the parameters are handed to
        ``on_grad_computed`` only when a callback defines it."""
        step_accumulator = self.get_train_step_accumulator()

        def step_fn():
            self._zero_grad_optimizer()
            step = self.train_step_single(batch, **fit_params)
            step_accumulator.store_step(step)
            if self._listeners("on_grad_computed"):
                self.notify(
                    "on_grad_computed",
                    named_parameters=TeeGenerator(self.get_all_learnable_params()),
                    # skorch's (X, y), as the other callback hooks get it.
                    batch=_as_skorch_batch(batch),
                    training=True,
                )
            return step["loss"]

        self._step_optimizer(step_fn)
        steps = self.__dict__.get("_steps_of_call")
        if steps is not None:
            # (See _undone_if_untrained.)
            steps.add(self._step_accepted())
        return step_accumulator.get_step()

    def _step_accepted(self):
        """The rows that the training step just completed accepted (a 0-d
        tensor), where a step that accepted none was skipped; None where
        the step ran whatever it accepted."""
        return None

    def validation_step(self, batch, **fit_params):
        # skorch's, with the module's output checked before the criterion
        # reads it, as in training: an output of the wrong shape or kind
        # (in evaluation mode only) failed inside torch, or was scored
        # against the wrong rows' labels.
        Xi, yi, _ = _unpack(batch)
        self._set_training(False)
        with torch.no_grad():
            y_pred = self.infer(Xi, **fit_params)
            _check_module_output(y_pred, len(self.classes_), _batch_rows((Xi, yi)))
            step = {
                "loss": self.get_loss(y_pred, yi, X=Xi, training=False),
                "y_pred": y_pred,
            }
        if step["loss"].dim():
            # The epoch loop records one number per batch (skorch fails on
            # the tensor's .item()).
            raise ValueError(
                "The validation loss is one value per row (criterion__reduction="
                "'none'), but the history records one number per batch: use "
                "criterion__reduction='mean' or 'sum', or train_split=None."
            )
        # The predictions that skorch caches for the scoring callbacks.
        step["y_pred"] = scorable_output(step["y_pred"])
        return step

    def evaluation_step(self, batch, training=False):
        Xi, yi, _ = _unpack(batch)
        with _prediction_batch(self):
            output = super().evaluation_step((Xi, yi), training=training)
        return scorable_output(output)


# The per-batch methods of skorch's NeuralNet that do nothing (its
# on_batch_begin starts the history's batch row).
_NET_NO_OPS = ("on_batch_end", "on_grad_computed")


def _keep_skorch_request_methods(cls):
    """Give ``cls`` skorch's ``set_fit_request`` and
    ``set_partial_fit_request`` back.

    Before version 1.9, scikit-learn replaces them in every class that names
    metadata (``__metadata_request__fit``) with methods that take the named
    parameters only, so that requesting a forward argument
    (``set_fit_request(scale=True)``), which skorch's take, was refused. A
    method of a class's own, or inherited from a class other than skorch's
    generated ones, is kept; from 1.9 scikit-learn keeps them itself.
    """
    for name in ("set_fit_request", "set_partial_fit_request"):
        if not isinstance(cls.__dict__.get(name), RequestMethod):
            continue
        explicit = next(
            (
                base.__dict__[name]
                for base in cls.__mro__[1:]
                if name in base.__dict__
                and not isinstance(base.__dict__[name], RequestMethod)
            ),
            None,
        )
        if explicit is not None:
            setattr(cls, name, explicit)


_keep_skorch_request_methods(NetClassifierBase)


def _does_something(callback, method_name):
    """Whether ``callback``'s ``method_name`` is other than skorch's
    ``Callback`` method, which does nothing (a missing method counts, so
    that calling it raises as in skorch)."""
    method = getattr(callback, method_name, None)
    return method is None or getattr(method, "__func__", None) is not getattr(
        Callback, method_name, None
    )


def _listener(callback, method_name):
    """``callback``'s ``method_name``, with changes to skorch's scorings.

    Without cached predictions (``use_caching=False``), skorch's
    ``EpochScoring`` reads the labels of its own ``Dataset`` only: it scores
    the in-memory data with the labels they hold, the rows given to the
    scorer as the arrays they were cut from (see :func:`_scored_rows`). And
    a scoring of the training data that reads the epoch's training batches
    (an ``EpochScoring`` from the cached predictions, a ``BatchScoring`` or
    a ``PassthroughScoring``) records NaN (never the best score) for an
    epoch that trained on no row, as the net does for ``train_loss``:
    skorch's ``EpochScoring`` of an empty cache fails, and the other two
    recorded nothing (``EarlyStopping`` on the score then failed on the
    missing key), or, where every batch of ``"sample"`` accepted nothing,
    the score of a network that took no step."""
    method = getattr(callback, method_name)
    if method_name != "on_epoch_end":
        return method
    if isinstance(callback, (BatchScoring, PassthroughScoring)):
        return _batch_scoring_end(callback, method) if callback.on_train else method
    if not isinstance(callback, EpochScoring):
        return method
    # skorch's own scoring of the epoch, which the uncached path below
    # replays (a subclass may score its own way, or choose its own data).
    skorch_scoring = (
        type(callback).on_epoch_end is EpochScoring.on_epoch_end
        and type(callback).get_test_data is EpochScoring.get_test_data
    )
    if not (callback.on_train or skorch_scoring):
        return method

    def on_epoch_end(net, **kwargs):
        caching = callback.use_caching
        if net.use_caching != "auto":
            caching = net.use_caching
        if skorch_scoring and not caching and callback.scoring is not _encoded_accuracy:
            # skorch reads the labels of its own Dataset only, and scored
            # the in-memory data without any (y_true None in the scorer).
            part = kwargs.get("dataset_train" if callback.on_train else "dataset_valid")
            view = None
            if part is not None and getattr(_resolve(part)[0], "_from_arrays", False):
                # The rows as the user's kind of data, as skorch cuts them
                # from its Dataset; a Dataset of the user's stays a Dataset.
                state = net.__dict__
                view = _scored_rows(
                    part,
                    state.get("feature_names_in_"),
                    state.get("input_column_names_"),
                )
            elif part is not None:
                view = _labelled_view(part)
            if view is not None:
                X, labels = view
                score = callback._scoring(net, X, callback.target_extractor(labels))
                callback._record_score(net.history, score)
                return
        if not callback.on_train:
            return method(net, **kwargs)
        if caching and (
            _stepless_epoch(net)
            or (not callback.y_preds_ and net.history[-1].get("train_batch_count") == 0)
        ):
            callback._record_score(net.history, float("nan"))
            return
        method(net, **kwargs)

    return on_epoch_end


def _score_keys(callback):
    """The history keys of the epoch that a skorch scoring callback records
    (its score, and the ``_best`` flag where ``lower_is_better`` is not
    None); none for another callback, or a class of one."""
    if isinstance(callback, ScoringBase):
        name = callback.name
        if name is None:
            # Named after its scorer, as initialize() names it.
            named = copy.copy(callback)
            try:
                named.scoring_ = convert_sklearn_metric_function(callback.scoring)
                name = named._get_name()
            except (TypeError, ValueError, AttributeError):
                # A scorer that skorch refuses, when it initialises it.
                return []
    elif isinstance(callback, PassthroughScoring):
        name = callback.name
    else:
        return []
    if not isinstance(name, str):
        return []
    if callback.lower_is_better is None:
        return [name]
    return [name, name + "_best"]


def _stepless_epoch(net):
    """Whether every batch of the epoch that ends accepted nothing
    (``rejection="sample"``): its batches ran, of a network that took no
    step."""
    state = net.__dict__.get("fit_state_")
    return getattr(state, "stepless_epoch", None) == len(net.history)


def _batch_scoring_end(callback, method):
    """The ``on_epoch_end`` of a ``BatchScoring`` or ``PassthroughScoring``
    of the training batches, recording NaN (and not the best score) for an
    epoch that trained on no row, as ``train_loss`` is recorded."""

    def on_epoch_end(net, **kwargs):
        if not (_stepless_epoch(net) or net.history[-1].get("train_batch_count") == 0):
            return method(net, **kwargs)
        name = callback.name_ if isinstance(callback, ScoringBase) else callback.name
        net.history.record(name, float("nan"))
        if callback.lower_is_better is not None:
            net.history.record(name + "_best", False)

    return on_epoch_end


def _mode_trees(components):
    """The modules of every ``nn.Module`` component, or False if one of them
    overrides ``train`` (in its class, or on the instance: ``bn.train =
    lambda mode=True: bn`` freezes a BatchNorm, and skorch's walk calls it)
    or keeps its flag elsewhere than in its ``__dict__``."""
    trees = []
    for component in components:
        if not isinstance(component, torch.nn.Module):
            continue
        modules = list(component.modules())
        if any(
            type(m).train is not torch.nn.Module.train
            or "train" in vars(m)
            or "training" not in vars(m)
            for m in modules
        ):
            return False
        trees.append(modules)
    return trees


def _bool_option(constraints, value):
    """Whether ``constraints`` name the bool ``value`` as an option of its
    own (``Options(bool, {False})``, hidden or not)."""
    for constraint in constraints:
        constraint = getattr(constraint, "constraint", constraint)
        if (
            getattr(constraint, "type", None) in (bool, np.bool_)
            and value in constraint.options
        ):
            return True
    return False


def _copied_module(module):
    """``copy.deepcopy(module)``, with leaf parameters where the module holds
    a TorchScript one (``torch.jit.script`` or ``torch.jit.trace``): torch
    copies a ScriptModule's parameters with autograd tracking, as clones of
    the originals, which no optimiser takes ("can't optimize a non-leaf
    Tensor"). Copied without tracking, they get back the ``requires_grad``
    of the originals (a frozen layer stays frozen)."""
    if not any(isinstance(part, torch.jit.ScriptModule) for part in module.modules()):
        return copy.deepcopy(module)
    with torch.no_grad():
        copied = copy.deepcopy(module)
    if _untied_across_script(module, copied):
        # torch copies a ScriptModule apart from the deep copy's memo: a
        # parameter it shares with the rest of the module would be two in
        # the copy, and the fit would train another network, without a word.
        raise TypeError(
            "a parameter shared between a TorchScript part of the module and "
            "the rest of it is not shared in the copy that torch makes"
        )
    given = dict(module.named_parameters(remove_duplicate=False))
    for name, parameter in copied.named_parameters(remove_duplicate=False):
        parameter.requires_grad_(given[name].requires_grad)
    return copied


def _shared_parameters(module):
    """The names of ``module``'s parameters, grouped by the memory they
    hold (TorchScript hands out a new tensor object at every access, so
    identity does not tell a shared parameter)."""
    groups = {}
    for name, parameter in module.named_parameters(remove_duplicate=False):
        key = (parameter.data_ptr(), tuple(parameter.shape), parameter.dtype)
        groups.setdefault(key, []).append(name)
    return [sorted(names) for names in groups.values()]


def _untied_across_script(module, copied):
    """Whether a parameter that a TorchScript part of ``module`` shares with
    a part outside it is no longer shared in ``copied``. (Sharing within
    the scripted parts, or within the others, is left to the deep copy, as
    for any module.)"""
    scripted = [
        name
        for name, part in module.named_modules()
        if isinstance(part, torch.jit.ScriptModule)
    ]
    if "" in scripted:
        # The whole module is scripted: no part lies outside.
        return False

    def in_script(name):
        return any(name.startswith(prefix + ".") for prefix in scripted)

    kept = {tuple(names) for names in _shared_parameters(copied)}
    for names in _shared_parameters(module):
        inside = {in_script(name) for name in names}
        if len(inside) == 2 and tuple(names) not in kept:
            return True
    return False


def _weight_tensor(sample_weight, n_samples):
    """Sample weights given to ``get_dataset`` as an array-like (which
    ``InMemoryDataset`` refused, in its own terms), checked as ``fit``
    checks its own and held as ``fit`` holds them, and hands them to
    ``get_dataset``: a float32 tensor. (The data set compares their number
    with its rows.)"""
    weight = check_sample_weight(sample_weight, n_samples)
    # A copy of its own: the checked weights may be a read-only view (a
    # pandas Series under copy-on-write), which torch warns of sharing.
    with np.errstate(over="ignore", under="ignore"):
        held = torch.from_numpy(np.array(weight, dtype=np.float32))
    # fit divides them by their mean first; as given, they may not be
    # numbers in float32.
    if not bool(torch.isfinite(held).all()) or bool(
        ((held == 0) & torch.as_tensor(weight > 0)).any()
    ):
        raise ValueError(
            "sample_weight holds weights outside the float32 range (from "
            f"{weight[weight > 0].min():.3g} to {weight.max():.3g}), in which the "
            "data set holds them: divide them by a constant (fit reads only "
            "their ratios)."
        )
    return held


def _shared_tensor(array):
    """``torch.as_tensor(array)``, sharing a read-only array's memory (a
    memory map, a pandas copy-on-write view, a request body read with
    ``np.frombuffer``) without torch's warning: nothing writes into it (the
    module gets copied batches), and a copy would double it."""
    if isinstance(array, np.ndarray) and any(stride < 0 for stride in array.strides):
        # A reversed view (X[::-1], np.flip): torch takes no negative
        # stride, so it gets a copy, as scikit-learn's estimators take one.
        return torch.as_tensor(array.copy(order="K"))
    if isinstance(array, np.ndarray) and not array.flags.writeable:
        # DLPack shares the memory without the warning. (Silencing it with
        # warnings.catch_warnings swaps the process's filters: a fit or a
        # predict in one thread dropped the filters other threads installed
        # meanwhile, and could leave its own behind.)
        try:
            return torch.from_dlpack(array)
        except (BufferError, TypeError, RuntimeError):
            # NumPy before 2.1 (or an older torch) does not pass a read-only
            # array through DLPack: a writeable view of the same memory,
            # which keeps the array alive.
            return torch.as_tensor(np.asarray(_WriteableAlias(array)))
    return torch.as_tensor(array)


def _state_replaced_by_load(modules, optimizers):
    """What a ``load_params`` overwrites of ``modules`` and ``optimizers``:
    copies of the modules' parameters (loaded in place), and each
    optimiser's state and parameter groups themselves (loading replaces
    them by new ones, so they stay as they are)."""
    parameters = [
        (parameter, parameter.detach().clone())
        for module in modules
        if isinstance(module, torch.nn.Module)
        for parameter in module.parameters()
    ]
    held = [
        (optimizer, optimizer.state, optimizer.param_groups)
        for optimizer in optimizers
        if hasattr(optimizer, "state") and hasattr(optimizer, "param_groups")
    ]
    return parameters, held


class _StateBeforeCall(NamedTuple):
    """What :meth:`NetClassifierBase._state_before_call` keeps of the
    estimator before a training call (all but ``attributes`` and
    ``random_state`` only of one initialised before it)."""

    # The estimator's attributes (a shallow copy of its __dict__).
    attributes: dict
    # A RandomState given as random_state, and its state; or None.
    random_state: tuple = None
    initialized: bool = False
    # The History object and its rows.
    history: object = None
    rows: list = None
    # {torch.Generator: its state}
    generators: Mapping = MappingProxyType({})
    # (parameter group, its settings but "params")
    optimizer_settings: tuple = ()
    # (owner module, buffer name, buffer, a copy of it or None)
    buffers: tuple = ()
    # (LoadInitState, its did_load_)
    loaders: tuple = ()


class _CallSteps:
    """The training steps of one ``fit`` or ``partial_fit`` call, as far as
    they changed the network (see
    :meth:`NetClassifierBase._undone_if_untrained`).

    A step whose rows were all rejected ran its optimiser step skipped (or
    undone): it trained nothing, and a call made of such steps alone is one
    that trained no step. Counting every batch had a call that failed
    after them (its "accepted no row" warning made an error) keep an
    untrained network, or the counts of its data beside the unchanged one.
    """

    def __init__(self):
        # Steps known on the host to have changed the network.
        self.taken = 0
        # Steps completed, changing anything or not (see
        # NetClassifierBase.run_single_epoch).
        self.completed = 0
        # The accepted rows of the steps guarded on an accelerator, summed
        # there: reading every step's count would make the host wait for
        # the device at every batch. Read once, if the call fails.
        self.accepted_on_device = None
        # The step under way trains nothing where a part of it (a compacted
        # train_step_single that accepted no row) ran no backward pass and
        # no part of it ran one: a train_step of a subclass's own may train
        # on several parts of its batch (micro-batches), then step once.
        self.empty = False
        self.backward = False
        # The epochs were interrupted (Ctrl-C), which skorch's partial_fit
        # swallows, ending the training as if it had finished.
        self.interrupted = False
        # What the call's first load_params (LoadInitState's, when training
        # begins) overwrote: the parameters (copies) and the optimisers'
        # state and groups (as they were: loading replaces them).
        self.loaded = None

    def add(self, accepted=None):
        """Count a completed step. ``accepted``: the rows it accepted (a 0-d
        tensor) where a step that accepted none was skipped, None where the
        step ran whatever the rule accepted."""
        self.completed += 1
        empty = self.empty and not self.backward
        self.empty = self.backward = False
        if empty or self.taken:
            return
        if accepted is None:
            self.taken += 1
        elif accepted.device.type in _guards.HOST_READ_DEVICES:
            self.taken += bool(accepted > 0)
        if self.taken:
            # The call keeps what it trained: what a load replaced is not
            # needed any more (a copy of every parameter, held to the end
            # of the call).
            self.loaded = None
            return
        if accepted is None or accepted.device.type in _guards.HOST_READ_DEVICES:
            return
        if self.accepted_on_device is None:
            self.accepted_on_device = accepted.detach().clone()
        else:
            self.accepted_on_device.add_(accepted.detach())

    def __bool__(self):
        """Whether a step of the call changed the network."""
        if self.taken:
            return True
        return self.accepted_on_device is not None and bool(self.accepted_on_device > 0)


class _WriteableAlias:
    """A read-only array's memory described as writeable (NumPy's array
    interface), so that torch shares it without its warning."""

    def __init__(self, array):
        self.array = array
        interface = dict(array.__array_interface__)
        interface["data"] = (interface["data"][0], False)
        self.__array_interface__ = interface


def on_device(value, device):
    """skorch's ``to_tensor(value, device)``, taken directly for a tensor."""
    if type(value) is torch.Tensor:
        return value if device is None else value.to(device)
    return to_tensor(value, device=device)


def _batch_len(batch):
    """skorch's ``get_len`` of a batch's inputs; a tensor's is its first
    dimension."""
    X = batch[0] if isinstance(batch, (tuple, list)) else batch
    if isinstance(X, torch.Tensor) and X.dim():
        return X.shape[0]
    return get_len(X)


def _batch_rows(batch):
    """The rows of a batch: as many as its labels where it carries them (a
    torch ``Dataset``'s rows carry a label, or a placeholder), else as its
    inputs; None where they cannot be counted (the batch of a
    ``collate_fn`` of one's own)."""
    if isinstance(batch, (tuple, list)) and len(batch) > 1:
        y = batch[1]
        if isinstance(y, torch.Tensor) and y.dim() == 1:
            return y.shape[0]
    try:
        return _batch_len(batch)
    except (TypeError, ValueError):
        return None


def _check_rows_in_order(options, batch_size, dataset=None):
    """Refuse the options of ``iterator_valid`` that change which rows a
    prediction returns, or their order: the outputs of ``predict_proba``,
    ``predict`` and the validation scores are matched with the rows of ``X``
    (and of its labels) by position. ``batch_size`` is the estimator's,
    which ``iterator_valid__batch_size`` overrides; ``dataset``, where
    given, the data set that a loader is to visit with the ``sampler``: a
    ``SequentialSampler`` visits its rows in order only if it has as
    many."""
    if options.get("shuffle"):
        raise ValueError(
            "iterator_valid__shuffle=True returns the rows of predict_proba "
            "and predict in a random order, not in X's (and a validation "
            "scorer that reads X, or scores without caching, matches the "
            "outputs with the wrong rows). Remove it: "
            "set_params(iterator_valid__shuffle=False); iterator_train "
            "shuffles the training rows."
        )
    # One batch of the whole set (-1) is never incomplete: get_iterator
    # turns drop_last off for it.
    if options.get("drop_last") and options.get("batch_size", batch_size) != -1:
        raise ValueError(
            "iterator_valid__drop_last=True leaves out the last incomplete "
            "batch: predict_proba and predict would return fewer rows than X "
            "holds, and the validation loss and scores would skip those rows. "
            "Remove it: set_params(iterator_valid__drop_last=False)."
        )
    for option in ("sampler", "batch_sampler"):
        sampler = options.get(option)
        if sampler is None or (
            option == "sampler"
            and type(sampler) is SequentialSampler
            and (dataset is None or _same_length(sampler, dataset))
        ):
            # torch's SequentialSampler visits the rows in order.
            continue
        if option == "sampler" and type(sampler) is SequentialSampler:
            # In order, but over another number of rows (a validation part
            # of train_split holds a share of the set it was made for).
            raise ValueError(
                f"iterator_valid__sampler=SequentialSampler(...) visits "
                f"{len(sampler)} rows, but the data set it is to visit holds "
                f"{len(dataset)} (the validation part of train_split holds a "
                "share of the rows the sampler was made for): predict_proba "
                "and predict would return outputs for other rows than the "
                "data set's, and the validation loss and scores would match "
                "them with the wrong labels. Remove it: "
                "set_params(iterator_valid__sampler=None); without it the rows "
                "are visited in order."
            )
        raise ValueError(
            f"iterator_valid__{option}={type(sampler).__name__}(...) decides "
            "which rows of a torch Dataset a prediction visits, and in what "
            "order: predict_proba and predict would return them in the "
            f"{option}'s order, not in X's (or some of them), and the "
            "validation loss and scores would match the outputs with the "
            "wrong rows. Remove it: "
            f"set_params(iterator_valid__{option}=None); iterator_train__"
            f"{option} decides the training rows, and a "
            "torch.utils.data.Subset predicts on some rows."
        )


def _same_length(sampler, dataset):
    try:
        return len(sampler) == len(dataset)
    except TypeError:
        return True


def _private(net, name):
    try:
        return net.__dict__[name]
    except KeyError:
        raise AttributeError(name) from None


# Floating types that evaluation_step hands on in float32.
_HALF_TYPES = (torch.bfloat16, torch.float16)


def _restored_epoch(callback, history):
    """The epoch whose weights ``callback`` put back when training ended, or
    None, from the ``history`` as training left it.

    ``EarlyStopping(load_best=True)`` loads its best epoch's weights unless
    that is the last epoch. ``Checkpoint(load_best=True)`` loads the weights
    it saved last: those of the last epoch with its event (or, without an
    event column, whose ``monitor`` column is true). An epoch of an earlier
    fit (files left in its directory, or an earlier call of a warm start)
    is not found among this fit's epochs, and nothing is restored.
    """
    if not len(history) or not getattr(callback, "load_best", False):
        return None
    if isinstance(callback, EarlyStopping):
        best = getattr(callback, "best_epoch_", None)
        weights = getattr(callback, "best_model_weights_", None)
        if weights is not None and best != history[-1, "epoch"]:
            return best
        return None
    if not isinstance(callback, Checkpoint) or callback.monitor is None:
        return None
    if callback.f_params is None and getattr(callback, "f_module", None) is None:
        return None
    key = callback.event_name
    if key is None and isinstance(callback.monitor, str):
        key = callback.monitor
    if key is None:
        return None
    epochs = [row["epoch"] for row in history if row.get(key)]
    return epochs[-1] if epochs else None


def scorable_output(output):
    """A network's output as prediction and scoring read it: in float32 when
    it is in half precision (a module in bfloat16, or a pass under
    ``torch.autocast``), since NumPy has no bfloat16 and the softmax and the
    correction read it in float32; any other output as it is."""
    if isinstance(output, torch.Tensor) and output.dtype in _HALF_TYPES:
        return output.float()
    return output


def log_proba_for_nll(y_pred):
    """Log-probabilities for ``NLLLoss`` from a softmax or log-softmax output.

    skorch's convention for ``NLLLoss`` is a module ending in a softmax, whose
    log ``NeuralNetClassifier.get_loss`` takes; a module ending in a
    log-softmax already returns log-probabilities. A row of non-negative
    values summing to one is probabilities (log-probabilities of two or more
    classes sum to less than zero), so both are read the same way. The test
    runs on the device, without reading a value back to the host.
    """
    values = y_pred
    if y_pred.dtype in _HALF_TYPES:
        # skorch's floor, the dtype's eps, is 0.0078 in bfloat16: log(p +
        # eps) would cap every row's loss near 4.85. The log is taken in
        # float32, whose eps is skorch's floor for float32 networks, and
        # returned in the output's dtype (as the loss's class weights are).
        values = y_pred.float()
    eps = torch.finfo(values.dtype).eps
    # clamp keeps the unused branch finite, so its zero gradient stays zero.
    log_proba = torch.log(values.clamp(min=0) + eps).to(y_pred.dtype)
    return torch.where(_is_proba(y_pred), log_proba, y_pred)


def proba_for_nll(y_pred):
    """Probabilities from the softmax or log-softmax output of an ``NLLLoss`` net.

    skorch returns the output as it is; a log-softmax output (see
    :func:`log_proba_for_nll`) is turned into the probabilities it stands for.
    Rows that sum to one within the rounding of a low-precision softmax (see
    :func:`_is_proba`) are normalised, so that the correction of the output
    takes them as probabilities; others are left for it to refuse.
    """
    proba = torch.where(_is_proba(y_pred), y_pred, torch.exp(y_pred))
    total = proba.sum(dim=1 if proba.dim() > 1 else 0, keepdim=True)
    close = (total - 1).abs() <= _sum_tolerance(y_pred.dtype)
    return torch.where(close, proba / total, proba)


def _sum_tolerance(dtype):
    """How far from one the rows of a softmax in ``dtype`` may sum."""
    if not dtype.is_floating_point:
        return 1e-2
    return max(1e-2, 4 * torch.finfo(dtype).eps)


def _is_proba(y_pred):
    """Whether every row is non-negative and sums to one, as a device tensor.

    The sum is taken in float32 at least, and may miss one by the rounding
    of a softmax computed in low precision: one computed in bfloat16 (mixed
    precision, whose outputs Accelerate hands on in float32) sums to 1
    within about 0.004. Log-probabilities of two or more classes are
    negative, whatever the tolerance.
    """
    with torch.no_grad():
        dtype = torch.promote_types(y_pred.dtype, torch.float32)
        total = y_pred.sum(dim=1 if y_pred.dim() > 1 else 0, dtype=dtype)
        tolerance = _sum_tolerance(y_pred.dtype)
        return (y_pred >= 0).all() & ((total - 1).abs() <= tolerance).all()


def read_output_as_skorch_nll(module, args):
    """Forward pre-hook of an ``NLLLoss``: its input through :func:`log_proba_for_nll`.

    Registered on the estimator's copy of the criterion, so that every call
    of it (also one that does not go through ``get_loss``) reads a softmax
    output as skorch does.
    """
    return (log_proba_for_nll(args[0]), *args[1:])


def _value_columns(X, rows=None):
    """The column of every stored nonzero value of a sparse ``X`` in the
    ``rows`` kept (a boolean mask, or None for all), block of rows by block
    (no copy of X's size).

    Stored zeros (HashingVectorizer's cancelled collisions) are no values:
    the first layer ignores them as it ignores any zero.
    """
    step = max(1, 2**22 * X.shape[0] // max(X.nnz, 1))
    for start in range(0, X.shape[0], step):
        stop = min(start + step, X.shape[0])
        entries = slice(X.indptr[start], X.indptr[stop])
        kept = X.data[entries] != 0
        if rows is not None:
            kept &= np.repeat(rows[start:stop], np.diff(X.indptr[start : stop + 1]))
        yield X.indices[entries][kept]


def stored_columns(X, rows=None):
    """The columns of a sparse ``X`` with a stored nonzero value in the
    ``rows`` kept (a boolean mask, or None for all), as a sorted array:
    None when each column has a value (every column), and empty when none
    has (the caller chooses: the first layer needs a column)."""
    stored = np.zeros(X.shape[1], dtype=bool)
    # (A column of stored zeros alone got first-layer weights that never
    # trained, which prediction then read.)
    for columns in _value_columns(X, rows):
        stored[columns] = True
    columns = np.flatnonzero(stored)
    if len(columns) == X.shape[1]:
        return None
    return columns


def warn_outside_input_columns(module, X, rows=None):
    """Warn when training rows (``rows``, a boolean mask, or None for all)
    have values in columns without weights.

    A network whose first layer was built on the columns of an earlier fit
    (``warm_start``, ``partial_fit``) ignores the others.
    """
    if not isinstance(module, MLPModule) or module.input_columns is None:
        return
    weighted = np.zeros(X.shape[1], dtype=bool)
    weighted[module.input_columns.cpu().numpy()] = True
    if sp.issparse(X):
        found = np.zeros(X.shape[1], dtype=bool)
        for columns in _value_columns(X, rows):
            found[columns[~weighted[columns]]] = True
        outside = np.flatnonzero(found)
    elif isinstance(X, (np.ndarray, torch.Tensor)) and X.ndim == 2:
        # Dense rows: the columns without weights that hold a value, read
        # in blocks of rows (no copy of X's size).
        others = np.flatnonzero(~weighted)
        found = np.zeros(len(others), dtype=bool)
        step = max(1, 2**22 // max(len(others), 1))
        for start in range(0, len(X), step):
            block = X[start : start + step]
            if rows is not None:
                kept = rows[start : start + step]
                if isinstance(block, torch.Tensor):
                    kept = torch.from_numpy(kept).to(block.device)
                block = block[kept]
            block = block[:, others]
            block = block.cpu().numpy() if isinstance(block, torch.Tensor) else block
            found |= np.any(block != 0, axis=0)
        outside = others[found]
    else:
        return
    if len(outside):
        warnings.warn(
            f"{len(outside)} columns of X (for example {outside[:5].tolist()}) "
            "have values but no weights in the network: its first layer was "
            f"built on the {len(module.input_columns)} columns with "
            "values in the training rows of the first fit, and ignores the "
            "others. "
            "Refit without warm_start, or pass module__input_columns=None to "
            "give every column a weight.",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )


def seed_fit_generators(seed, device):
    """``torch.manual_seed(seed)`` for the generators that a fit on
    ``device`` may draw from: the CPU's and, on CUDA, every GPU's (a network
    spread over several). Those are the ones the fit's
    ``torch.random.fork_rng`` copies and puts back (:func:`_cuda_devices`);
    ``torch.manual_seed`` reseeded the GPUs' generators in a CPU fit too, the
    caller's, for good."""
    torch.default_generator.manual_seed(seed)
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda":
        torch.cuda.manual_seed_all(seed)
    elif device.type != "cpu":
        # (MPS, XPU and others: fork_rng copies no generator of theirs.)
        torch.manual_seed(seed)


def _cuda_devices(device):
    """The GPUs whose generators a fit on ``device`` seeds and puts back:
    every visible one for a CUDA device (a network may span several), none
    otherwise."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type != "cuda":
        return []
    return list(range(torch.cuda.device_count()))


def _as_skorch_batch(batch):
    """``(X, y)`` of a batch that carries weights as a third element."""
    if isinstance(batch, (tuple, list)) and len(batch) == 3:
        return batch[:2]
    return batch


class _SlicedRows(torch.utils.data.Dataset):
    """skorch's ``SliceDataset`` as a ``Dataset`` of its rows (the inputs it
    slices out of every row of its dataset), read lazily as any ``Dataset``
    given to ``fit``: as an array-like, every row was read into memory
    before training, and rows that are dicts failed in NumPy."""

    def __init__(self, sliced):
        self.sliced = sliced

    def __len__(self):
        return len(self.sliced)

    def __getitem__(self, i):
        return self.sliced[i]


def _unsliced(X):
    return _SlicedRows(X) if isinstance(X, SliceDataset) else X


class _SplitInput(torch.utils.data.Dataset):
    """The rows of a call as ``train_split`` gets them before training:
    their data set is built (by ``build``) only if the split reads more than
    their number, which is all that skorch's ``ValidSplit`` reads. (Built on
    the device, it would hold a second copy of the data there.)"""

    def __init__(self, n_rows, build):
        self._n_rows = n_rows
        self._build = build
        self._dataset = None

    def __len__(self):
        return self._n_rows

    def __getitem__(self, i):
        return self._built()[i]

    def __getattr__(self, name):
        # (Called for what the instance lacks: the built data set's X, y.
        # skorch's get_len asks a data set for is_sparse, which a data set
        # lacks, before its len(): answered without building it.)
        if name.startswith("_") or name == "is_sparse":
            raise AttributeError(name)
        return getattr(self._built(), name)

    def _built(self):
        if self._dataset is None:
            self._dataset = self._build()
        return self._dataset


def _read_otherwise_as_indices(classes, labels, encoded):
    """Whether the integer ``labels`` of a part that ``train_split``
    returned, ``encoded`` as their indices in the integer ``classes``, are
    indices too (each within ``0 .. K-1``) and other ones: labels and class
    indices that train to different classes, which no error tells apart."""
    classes = np.asarray(classes)
    if isinstance(labels, torch.Tensor):
        labels = labels.cpu().numpy()
    labels = np.asarray(labels).reshape(-1)
    return bool(
        classes.dtype.kind in "iu"
        and labels.dtype.kind in "iu"
        and len(labels)
        and labels.min() >= 0
        and labels.max() < len(classes)
        and not np.array_equal(labels, np.asarray(encoded).reshape(-1))
    )


def _rows_within(part, dataset):
    """The rows of ``dataset`` that ``part`` holds, in its order, as an
    index: ``slice(None)`` for ``dataset`` itself, the indices for a
    ``Subset`` of it (of a ``Subset`` of it, ...); None for anything else."""
    rows = None
    while part is not dataset:
        if not isinstance(part, Subset):
            return None
        indices = np.asarray(part.indices, dtype=np.int64)
        rows = indices if rows is None else indices[rows]
        part = part.dataset
    return slice(None) if rows is None else rows


def _part_of(dataset, rows):
    """The part of ``dataset`` at ``rows`` (as :func:`_rows_within` gives
    them); anything else (a validation set of the split's own, None) as it
    is."""
    if isinstance(rows, slice):
        return dataset
    if isinstance(rows, np.ndarray):
        return Subset(dataset, rows)
    return rows


def _predefined_valid_ds(train_split):
    """The validation set that ``predefined_split`` holds, or None."""
    if not isinstance(train_split, partial):
        return None
    if getattr(train_split.func, "__name__", None) != "_make_split":
        return None
    return train_split.keywords.get("valid_ds")


def _predefined_validation_set(train_split):
    """The skorch ``Dataset`` that ``predefined_split`` holds, or None."""
    valid = _predefined_valid_ds(train_split)
    return valid if type(valid) is Dataset else None


def _unpack(batch):
    if isinstance(batch, (tuple, list)) and len(batch) == 3:
        return batch
    Xi, yi = unpack_data(batch)
    return Xi, yi, None


# Prefixes of parameters that skorch reads whenever it builds an iterator or
# a data set, not at initialisation.
_READ_AT_EACH_CALL = ("iterator_train", "iterator_valid", "dataset")


@contextmanager
def _numpy_seeded(seed):
    """NumPy's global generator seeded with ``seed`` (nothing done for
    ``None``), and put back as it was afterwards."""
    if seed is None:
        yield
        return
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002
    try:
        yield
    finally:
        np.random.set_state(state)  # noqa: NPY002


# The most classes whose acceptance_rate[<label>] columns the epoch table
# shows (the history holds them whatever the number).
_MAX_CLASS_COLUMNS = 10


class _PrintLog(PrintLog):
    """skorch's ``PrintLog``, with three changes.

    - It formats the epoch's table row only when it is shown: skorch formats
      it at ``verbose=0`` too, and with a column of acceptance per class, a
      ``partial_fit`` of 500 rows and 2,000 classes spent three quarters of
      its time on a table that was never shown. (A ``sink`` other than
      ``print`` gets every row whatever ``verbose``, as in skorch.)
    - The ``acceptance_rate[<label>]`` columns come in the order of
      ``classes_``: skorch sorts the keys as text, which put
      ``acceptance_rate[10]`` before ``acceptance_rate[2]``.
    - Beyond 10 classes (``_MAX_CLASS_COLUMNS``) they are left out of the
      table, which kept one per class (100 classes made lines of 2,363
      characters); the history keeps them.
    """

    def on_epoch_end(self, net, **kwargs):
        if net.verbose or self.sink is not print:
            # The keys as the epoch's record writes them (epoch_record), for
            # _sorted_keys while this row is formatted.
            self._class_columns = [
                f"acceptance_rate[{label}]" for label in net.classes_
            ]
            try:
                super().on_epoch_end(net, **kwargs)
            finally:
                del self._class_columns

    def _sorted_keys(self, keys):
        sorted_keys = super()._sorted_keys(keys)
        columns = self.__dict__.get("_class_columns", ())
        shown = set(columns).intersection(sorted_keys)
        if not shown:
            return sorted_keys
        if len(columns) > _MAX_CLASS_COLUMNS:
            return [key for key in sorted_keys if key not in shown]
        # In the places that skorch's sort gave them (keys_ignored applied).
        in_order = iter([key for key in columns if key in shown])
        return [next(in_order) if key in shown else key for key in sorted_keys]


# Where the rule's loss module keeps the criterion it wraps.
_BASE_CRITERION = "base_criterion."

# The record of a random_state that continued training does not compare.
_ANY_STATE = "instance"


def _check_not_in_inference_mode(method):
    """Refuse to train inside ``torch.inference_mode()``: the network it
    builds holds inference tensors, which no later step can train, and no
    gradient flows; torch failed at the first step, and the estimator kept
    the untrained network."""
    if torch.is_inference_mode_enabled():
        raise RuntimeError(
            f"{method} was called inside torch.inference_mode(), where no "
            "gradient flows and the weights it would build could never be "
            "trained. Call it outside the block (prediction inside one is "
            "fine)."
        )


def _check_not_under_autocast(device):
    """Refuse to train inside a ``torch.autocast`` block of the training
    device's type (with its cache on, the default): autocast keeps its
    low-precision copy of every weight for the whole block, so each step
    would see the initial weights and nothing would be learnt (the optimiser
    updates the float32 weights, which the block never reads again)."""
    try:
        device_type = torch.device(device).type if device is not None else "cpu"
        enabled = torch.is_autocast_enabled(device_type)
    except (RuntimeError, TypeError, ValueError):
        return
    # Without its cache (cache_enabled=False) autocast casts the weights
    # anew at every use, and training reads the updated ones.
    if enabled and torch.is_autocast_cache_enabled():
        raise RuntimeError(
            "fit was called inside a torch.autocast block: autocast keeps its "
            "low-precision copy of the weights for the whole block, so every "
            "step would see the initial weights and the network would not "
            "learn. Call fit outside the block (prediction inside one is "
            "fine), or open it with cache_enabled=False; for mixed-precision "
            "training use AccelerateRSFTClassifier with "
            "Accelerator(mixed_precision='bf16') or 'fp16'."
        )


def _mlp_width(module):
    """Features per row that a default MLP takes (its position table's
    length when narrowed to some columns)."""
    if module.input_columns is not None:
        return int(module.column_position.numel())
    first = module.layers[0]
    return int(first.in_features) if isinstance(first, torch.nn.Linear) else None


def _is_callback(value):
    """Whether ``value`` can stand as a callback instance: skorch
    initialises each one (a string or a number failed there with an
    ``AttributeError``)."""
    return callable(getattr(value, "initialize", None))
