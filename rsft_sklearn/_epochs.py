"""What one fit holds while it trains, and what each of its epochs does."""

import math
import numbers
from dataclasses import dataclass

import numpy as np
import torch

from ._compaction import compaction_active
from ._schedules import epoch_value

__all__ = [
    "EpochLosses",
    "EpochPlan",
    "FitState",
    "epoch_record",
    "plan_epoch",
]


@dataclass(frozen=True)
class EpochPlan:
    """The rule and the training path of one epoch.

    Attributes
    ----------
    rejecting : bool
        ``False`` in the warm-up epochs, which train on every sample.
    M : float
        The envelope constant of the epoch (NaN under ``M="auto"``).
    hardness : float
        The exponent of the model probability.
    compact : bool
        Train every batch on its accepted rows only.
    rows_selected : bool
        The mask is drawn for every row at the start of the epoch
        (``rejection="epoch"``), and the steps train on the accepted rows.
    pooled : bool
        The masks are drawn pool by pool as the epoch goes
        (``rejection="pool"``), and the steps train on full batches of
        accepted rows.
    budgeted : bool
        A budget of every pool's rows is kept and weighted as it goes
        (``rejection="budget"``, warm-up epochs included, which keep a
        uniform share), and the steps train on full batches of them.
    guarded : bool
        A step may accept nothing and must then be undone.
    """

    rejecting: bool
    M: float
    hardness: float
    compact: bool = False
    rows_selected: bool = False
    pooled: bool = False
    budgeted: bool = False
    guarded: bool = False


def warmup_epoch_count(warmup_epochs, max_epochs):
    """Number of warm-up epochs: an int as it is, a fraction in ``(0, 1)`` of
    ``max_epochs`` rounded to the nearest epoch, a half up (Python's
    ``round`` takes halves to the even number: half of 1, 5 and 9 epochs
    would be 0, 2 and 4).

    Examples
    --------
    >>> from rsft_sklearn._epochs import warmup_epoch_count
    >>> warmup_epoch_count(5, 30), warmup_epoch_count(1 / 3, 30)
    (5, 10)
    >>> [warmup_epoch_count(0.5, n) for n in (1, 3, 5)]
    [1, 2, 3]
    """
    if isinstance(warmup_epochs, numbers.Integral):
        return int(warmup_epochs)
    if isinstance(warmup_epochs, np.floating) and np.finfo(warmup_epochs).bits < 64:
        # A float32 (say) as written: np.float32(0.9) is 0.89999998 in a
        # float64, whose share of 25 epochs fell below the half.
        warmup_epochs = float(np.format_float_positional(warmup_epochs))
    # The share as meant: 0.29 of 50 epochs is 14.4999... in binary floats;
    # rounded to 6 decimals first, a half rounds up.
    return math.floor(round(float(warmup_epochs) * max_epochs, 6) + 0.5)


def plan_epoch(
    epoch,
    *,
    M,
    hardness,
    warmup_epochs,
    rejection,
    compact,
    previous_rate,
    module,
    batch_size,
    weighted=False,
):
    """The :class:`EpochPlan` of the epoch with index ``epoch`` (0 first).

    ``M`` and ``hardness`` are the estimator's parameters (numbers,
    schedules, or ``"auto"`` for ``M``); ``previous_rate`` is the acceptance
    rate of the previous epoch, or None; ``batch_size``, the rows of a
    training batch (None where not known), which with ``module`` decides
    whether ``compact="auto"`` compacts; ``weighted``, whether the rows
    carry sample weights (then a batch of weights 0 accepts nothing under
    ``"expected"`` and in a warm-up epoch).
    """
    adaptive = isinstance(M, str) and M == "auto"
    M_value = math.nan if adaptive else epoch_value(M, epoch, "M", positive=True)
    hardness_value = epoch_value(hardness, epoch, "hardness", positive=False)
    rejecting = epoch >= warmup_epochs
    sampling = rejecting and rejection == "sample"
    compact = sampling and compaction_active(compact, previous_rate, module, batch_size)
    return EpochPlan(
        rejecting=rejecting,
        M=M_value,
        hardness=hardness_value,
        compact=compact,
        rows_selected=rejecting and rejection == "epoch",
        pooled=rejecting and rejection == "pool",
        budgeted=rejection == "budget",
        guarded=(sampling and not compact)
        or (rejecting and rejection == "expected" and weighted)
        # A warm-up batch of weights 0 trains nothing either.
        or (not rejecting and weighted and rejection != "budget"),
    )


class FitState:
    """State that lives for one call of ``fit`` or ``partial_fit``.

    The estimator creates it when training starts and drops it when training
    ends, so nothing of it outlives the fit, lands in a pickle or has to be
    cleared by hand.

    Parameters
    ----------
    sample_weight : torch.Tensor or None
        The per-sample target weights of the training data.

    Attributes
    ----------
    guard : EmptyStepGuard or None
        Undoes the steps in which nothing was accepted.
    train_iterator : iterable or None
        The training iterator, whose rows epoch-level selection sets.
    plan : EpochPlan or None
        The current epoch's plan.
    two_rows : bool
        The module cannot train on a single row (BatchNorm).
    thread : int or None
        ``threading.get_ident()`` of the thread that trains, set when
        training begins: a prediction from another thread is refused while
        the fit runs, except while a callback of the fit runs.
    in_callbacks : int
        Callbacks that the fitting thread is running (set on the first,
        guarded by ``_base._CALLBACK_WAIT``): other threads may predict
        meanwhile, as the fitting thread waits for the callback.
    foreign_batches : int
        Batches of such predictions under way (set on the first): the
        fitting thread, leaving a callback, waits until none is.
    losses : EpochLosses
        The training losses of the current epoch's batches, on the device;
        every epoch starts a new one.
    row_acceptance : torch.Tensor or None
        Under ``rejection="budget"`` with ``rescore_every > 1``, every
        training row's acceptance at its last scoring pass.
    rejecting_epochs : int
        Rejecting epochs begun under that setting in this fit.
    sparse_input : bool
        The training inputs are a sparse matrix.
    mode_trees : list of list of torch.nn.Module, False or None
        Every module of the net's components, for switching between training
        and evaluation mode without walking the tree (see
        ``NetClassifierBase._set_training``); False where a module has a
        ``train`` of its own; None until first needed in an epoch.
    first_output : torch.Tensor, None or False
        Up to 64 rows of the fit's first training output, kept (not read)
        to be checked once at the end of the first epoch; False once
        checked.
    decisions : dict
        The attributes that correct the output (``final_M_``, ...) as each
        epoch of this fit left them, by epoch number: restored with the
        weights of an earlier epoch (``EarlyStopping(load_best=True)``).
    trained_history : skorch.history.History or None
        The history as training left it, before the callbacks' ends (a
        ``Checkpoint`` may load another).
    train_end_done : list or None
        While ``on_train_end`` runs, and after one that failed, the net and
        the callbacks whose ``on_train_end`` completed; None otherwise.
    rows_before : ndarray or None
        Rows of each class that the earlier calls of continued training
        trained on; None in a fresh fit.
    rates_before : ndarray or None
        Each class's acceptance rate as the earlier calls left it (NaN for
        a class they never accepted); None in a fresh fit.
    positive_rows : ndarray of shape (2, n_classes) or None
        Each class's rows of positive sample weight and all its rows, in
        this call's training part, where some weigh 0 (None otherwise): an
        epoch's rows of a class count as those of positive weight.
    M_before : float or None
        ``final_M_`` as the earlier calls of continued training left it,
        under ``M="auto"``; None otherwise.
    call_rows : float
        Rows that the epochs of this call trained on (blending weight of
        its ``M`` against ``M_before``).
    fit_params : dict
        The extra arguments of ``fit`` for the module's ``forward``, which
        the scoring passes of the selection modes pass too.
    nonfinite_scores : torch.Tensor or None
        Rows of the current epoch whose scoring pass (compaction, pooled
        selection) gave a non-finite output, on the device.
    warned_M_bound : bool
        ``M="auto"`` has warned in this fit that it stayed at a bound of its
        range (it warns once).
    warned_nonfinite : bool
        An epoch of this call has warned of rows scored with a non-finite
        output (once per call).
    warned_stepless : bool
        An epoch of this call has warned that it took no step: it warns no
        more in this call (the epochs that step re-arm it for the next).
    split_groups : ndarray or None
        The ``groups`` of the call, for a ``train_split`` that splits by
        group.
    stepless_epoch : int or None
        The number of the last epoch whose every batch accepted no row
        (``rejection="sample"``), so that took no step.
    history_start : int
        Epochs in the history when the call's training began.
    """

    def __init__(self, sample_weight=None, sparse_input=False):
        self.sample_weight = sample_weight
        self.sparse_input = sparse_input
        self.split_groups = None
        self.stepless_epoch = None
        self.history_start = 0
        self.guard = None
        self.train_iterator = None
        self.plan = None
        # The loss, network and optimisers as the fit set them up, and what
        # planning the epoch changed.
        self.components = None
        self.replan_from = (False, 0)
        # Created by on_train_begin for training driven through skorch's
        # hooks (not by fit or partial_fit).
        self.by_hooks = False
        self.two_rows = False
        self.losses = EpochLosses()
        self.row_acceptance = None
        self.rejecting_epochs = 0
        self.mode_trees = None
        self.first_output = None
        self.decisions = {}
        self.trained_history = None
        self.train_end_done = None
        self.rows_before = None
        self.rates_before = None
        self.positive_rows = None
        self.M_before = None
        self.call_rows = 0.0
        self.nonfinite_scores = None
        self.warned_M_bound = False
        self.warned_nonfinite = False
        self.warned_stepless = False
        self.fit_params = {}
        # The epochs of this call (skorch's fit_loop argument), when given.
        self.epochs = None
        # The epochs a fractional warmup_epochs is a share of (None:
        # max_epochs).
        self.warmup_basis = None


class PendingLoss:
    """A batch's training loss in the history, read when the epoch ends.

    skorch's epoch loop writes ``step["loss"].item()`` into the history after
    every batch; reading the value there would make the host wait for the
    device at every step. The history holds this placeholder instead, and
    :meth:`EpochLosses.write` replaces it by the float once per epoch, before
    any callback's ``on_epoch_end`` reads it. Read earlier (a callback's
    ``on_batch_end``), it is a ``numbers.Real`` that computes, compares and
    converts as that float does, and that NumPy reads as it, at the cost of
    one wait; ``float()`` gives the float itself (for ``json`` or
    ``torch.tensor``, for example), and a pickle holds the float (NaN on
    several processes, where one process alone cannot read it).
    """

    __slots__ = ("_losses", "_index")

    def __init__(self, losses, index):
        self._losses = losses
        self._index = index

    def __float__(self):
        return self._losses.value(self._index)

    def __repr__(self):
        return repr(float(self))

    def __format__(self, spec):
        return format(float(self), spec)

    def __hash__(self):
        return hash(float(self))

    def __bool__(self):
        return bool(float(self))

    def __int__(self):
        return int(float(self))

    def __round__(self, ndigits=None):
        return round(float(self), ndigits)

    def __complex__(self):
        return complex(float(self))

    def __array__(self, dtype=None, copy=None):
        # NumPy's functions (np.isnan, np.array of a list of them).
        return np.asarray(float(self), dtype=dtype)

    def __reduce__(self):
        # A history pickled before its epoch ended holds the float. On
        # several processes an unread value is a sum over them, which one
        # process alone cannot read (its pickle would wait for the others):
        # it is pickled as NaN, as a loss not known yet.
        losses = self._losses
        if losses.process_sum is None or self._index < len(losses._values):
            return float, (float(self),)
        return float, ("nan",)

    @property
    def real(self):
        return float(self)

    @property
    def imag(self):
        return 0.0

    def conjugate(self):
        return float(self)

    def as_integer_ratio(self):
        return float(self).as_integer_ratio()


def _as_float(value):
    return float(value) if isinstance(value, PendingLoss) else value


def _float_method(name):
    # A binary operation (or comparison) of floats: a callback that reads a
    # batch's loss before the epoch ends computes with it as with the float
    # that the history holds afterwards.
    operation = getattr(float, name)

    def method(self, *other):
        return operation(float(self), *map(_as_float, other))

    method.__name__ = name
    return method


for _name in (
    "__add__", "__radd__", "__sub__", "__rsub__", "__mul__", "__rmul__",
    "__truediv__", "__rtruediv__", "__floordiv__", "__rfloordiv__",
    "__mod__", "__rmod__", "__pow__", "__rpow__", "__divmod__",
    "__rdivmod__", "__lt__", "__le__", "__gt__", "__ge__", "__eq__",
    "__ne__", "__neg__", "__pos__", "__abs__", "__trunc__", "__floor__",
    "__ceil__",
):  # fmt: skip
    setattr(PendingLoss, _name, _float_method(_name))
del _name
numbers.Real.register(PendingLoss)


class EpochLosses:
    """The training losses of one epoch's batches, kept on the device.

    ``process_sum`` (an all-reduce over data-parallel processes) makes every
    batch's loss the mean of the processes' losses, the loss of the global
    batch, and its size the global batch's: every process then holds the
    same history, and a callback that reads ``train_loss`` (early stopping)
    decides the same on all of them.
    """

    def __init__(self, process_sum=None):
        self._tensors = []
        self._values = []
        self.process_sum = process_sum
        self._sizes_summed = False

    def pending(self, loss):
        """Keep the value of ``loss`` and return its :class:`PendingLoss`."""
        # Only the value is kept for the epoch, not the step's graph.
        self._tensors.append(loss.detach())
        return PendingLoss(self, len(self._tensors) - 1)

    def value(self, index):
        """The float of batch ``index``; reads every pending loss at once."""
        if len(self._values) <= index:
            pending = torch.stack(self._tensors[len(self._values) :]).float()
            if self.process_sum is not None:
                pending = self.process_sum(torch.cat([pending, pending.new_ones(1)]))
                pending = pending[:-1] / pending[-1]
            self._values.extend(pending.cpu().tolist())
        return self._values[index]

    def write(self, batches, key, size_key=None):
        """Replace the placeholders under ``key`` in the history's batches.

        One read of the device per epoch. With ``process_sum``, the sizes
        under ``size_key`` become those of the global batches too.
        """
        for batch in batches:
            value = batch.get(key)
            if isinstance(value, PendingLoss) and value._losses is self:
                batch[key] = float(value)
        if (
            self.process_sum is None
            or size_key is None
            or not self._tensors
            or self._sizes_summed
        ):
            return
        self._sizes_summed = True
        mine = [batch for batch in batches if size_key in batch]
        sizes = self._tensors[0].new_tensor([float(batch[size_key]) for batch in mine])
        for batch, size in zip(mine, self.process_sum(sizes).cpu().tolist()):
            batch[size_key] = int(round(size))


def epoch_record(statistics, classes):
    """History entries of an epoch from :meth:`RejectionLoss.epoch_statistics`.

    Reads the statistics back to the host, once.
    """
    packed = torch.cat(
        [statistics["seen"], statistics["accepted"], statistics["M"].reshape(1)]
    )
    values = packed.cpu().numpy()
    n = len(classes)
    seen, accepted, M = values[:n], values[n : 2 * n], values[-1]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = accepted / seen
    record = {"acceptance_rate": float(accepted.sum() / max(seen.sum(), 1))}
    for label, rate in zip(classes, per_class):
        record[f"acceptance_rate[{label}]"] = float(rate)
    record["M_effective"] = float(M)
    return record
