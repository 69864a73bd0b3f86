"""RSFTClassifier: scikit-learn parameters wired into skorch around the rule.

The rule is :class:`~rsft_sklearn.RejectionLoss`; this module hands it the
estimator's parameters and drives it from skorch's hooks, one epoch plan and
one training step at a time. What any scikit-learn classifier on skorch
needs (inputs, labels, data sets, seeding, persistence) is in ``_base.py``.
"""

import copy
import inspect
import math
import numbers
import threading
import warnings
from functools import partial

import numpy as np
import torch
from sklearn.utils._param_validation import Hidden, Interval, Options, StrOptions
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit

from ._base import (
    _ANY_STATE,
    NetClassifierBase,
    _as_skorch_batch,
    _check_training_thread,
    _is_proba,
    _predefined_valid_ds,
    _unpack,
    log_proba_for_nll,
    on_device,
    proba_for_nll,
    read_output_as_skorch_nll,
    scorable_output,
    seed_fit_generators,
)
from ._compaction import (
    check_compact,
    compact_always,
    compacted_loss,
    needs_two_rows,
)
from ._data import BatchIterator, InMemoryDataset
from ._decision import (
    PROBABILITY_OPTIONS,
    class_counts,
    class_prior,
    decision_proba,
    weight_bins,
)
from ._epochs import (
    EpochLosses,
    FitState,
    epoch_record,
    plan_epoch,
    warmup_epoch_count,
)
from ._guards import EmptyStepGuard, check_finite_parameters, fuse_default_adam
from ._loss import (
    MAX_PRIOR_CORRECTION,
    MIN_PRIOR_SHARE,
    RejectionLoss,
    built_by_owner,
    check_target_acceptance,
    reduced_loss,
)
from ._modules import MLPModule, _check_module_output
from ._multimodal import (
    check_groups,
    group_weight,
    splits_by_group,
    stratum_target_weight,
)
from ._rejection import check_hardness, class_target_weight
from ._schedules import _LOG_M_RANGE, epoch_value
from ._selection import check_selection_iterator, prepare_iterator
from ._validation import (
    FLOAT32_MAX,
    FLOAT32_SMALLEST,
    RSFTWarning,
    caller_stacklevel,
    check_sample_weight,
    check_target,
    shown_label,
)

__all__ = ["RSFTClassifier"]


# The history's key of each epoch: True for a warm-up epoch (no rule).
_WARMUP_KEY = "warmup"


def _warn_warmup_covers_all(warmup_epochs, n_epochs, warmup):
    """Warn that the fractional ``warmup_epochs`` of ``n_epochs`` epochs
    rounds to ``warmup`` warm-up epochs, all of them: the fit trains without
    the rule, and the rule's parameters have no effect. (An integer count
    of all the epochs is a choice of plain training, as the benchmark's
    rivals make it, and is not warned about.)"""
    # The largest share that leaves the last epoch to the rule is below
    # (n - 1/2) / n (a half rounds up), shown rounded down.
    share = math.floor((n_epochs - 0.5) / n_epochs * 1000) / 1000
    epochs = f"{n_epochs} epoch" + ("s" if n_epochs != 1 else "")
    warnings.warn(
        f"warmup_epochs={warmup_epochs!r}, a share of {epochs}, rounds to "
        f"{warmup}: every epoch of the training is a warm-up epoch, which "
        "applies no rule, so M, hardness and target have no effect. Give a "
        f"smaller share (below {share:g}) or a count (warmup_epochs="
        f"{n_epochs - 1} leaves the last epoch to the rule), or train more "
        "epochs; an integer warmup_epochs of all the epochs trains without "
        "the rule without this warning.",
        RSFTWarning,
        stacklevel=caller_stacklevel(),
    )


def _overrides_get_loss(net):
    return type(net).get_loss is not RSFTClassifier.get_loss


def _refuse_loss_without_rule(net):
    """Raise for a training step whose ``get_loss`` did not call
    ``criterion_`` (a criterion of its own, or ``criterion_.base_criterion``
    directly): the step would train every row without the rule, and the
    history would show an acceptance of 0."""
    raise TypeError(
        f"{type(net).__name__}.get_loss returned a training loss without calling "
        "criterion_, the RejectionLoss that applies the rejection rule: the fit "
        "would be plain training. Compute the training loss with "
        "super().get_loss(y_pred, y_true, X=X, training=training, **kwargs) "
        "and add your own terms to it; for a criterion of your own, pass "
        "criterion=... (and criterion__*=...), which the RejectionLoss wraps."
    )


def _refuse_loss_without_grad():
    """Raise for a training loss that no trainable parameter reaches: the
    backward pass has nothing to compute."""
    raise ValueError(
        "The training loss does not require grad: the network's output "
        "depends on no trainable parameter, so the backward pass has nothing "
        "to train. Likely causes: every parameter is frozen "
        "(requires_grad=False, skorch's Freezer on every layer); forward "
        "detaches its output (.detach(), torch.no_grad(), a round trip "
        "through NumPy) or ends in an operation without a gradient (argmax, "
        "an integer cast); or an overridden get_loss returns a value not "
        "computed from y_pred. Leave a parameter that the output depends on "
        "trainable, and keep forward differentiable."
    )


def _explain_weighted_batch(net, batch, exc):
    """Raise a message naming the cause when an overridden
    ``train_step_single`` unpacked a batch of three as skorch's ``(X, y)``
    (``skorch.dataset.unpack_data`` refuses it, blaming the dataset)."""
    if type(net).train_step_single is RSFTClassifier.train_step_single:
        return
    if not (isinstance(batch, (tuple, list)) and len(batch) == 3):
        return
    message = str(exc)
    # skorch's unpack_data, or Python's own unpacking (Xi, yi = batch), in
    # a train_step_single (not an unpacking error of the module's own).
    if not (
        "returns 3 values" in message
        or "too many values to unpack (expected 2" in message
    ):
        return
    last, tb = None, exc.__traceback__
    while tb is not None:
        last, tb = tb.tb_frame.f_code, tb.tb_next
    # Raised by the override's own unpacking, or by skorch's unpack_data
    # (not inside the network, get_loss or another function of the step).
    override = getattr(type(net).train_step_single, "__code__", None)
    if last is None or not (
        last is override or last.co_name in ("train_step_single", "unpack_data")
    ):
        return
    why = (
        "rejection='budget' draws rows with importance weights"
        if net.rejection == "budget"
        else "the fit has sample weights"
    )
    raise ValueError(
        f"{type(net).__name__}.train_step_single unpacked a training batch as "
        f"(X, y), but {why}, which every training batch carries as a third "
        "element: (X, y, sample_weight). Unpack it as Xi, yi, wi = batch when "
        "len(batch) == 3, and pass sample_weight=wi to get_loss."
    ) from exc


def _check_get_loss_takes_weights(net, weighted):
    """Refuse a ``get_loss`` override that cannot take the ``sample_weight``
    the training steps hand it (the row budget's weights, or the fit's
    sample weights, ``weighted``): skorch's own signature has no such
    argument, and the fit would fail at its first step with Python's
    message. Compacted steps (``compact=True``) do not call ``get_loss``."""
    if not _overrides_get_loss(net):
        return
    method = type(net).get_loss
    if not (net.rejection == "budget" or weighted):
        return
    if net.rejection == "sample" and compact_always(net.compact):
        return
    # A decorated override: its wrapper's own signature or the wrapped one.
    signatures = {inspect.signature(method, follow_wrapped=False)}
    signatures.add(inspect.signature(method))
    if any(
        p.name == "sample_weight" or p.kind is inspect.Parameter.VAR_KEYWORD
        for signature in signatures
        for p in signature.parameters.values()
    ):
        return
    why = (
        "rejection='budget' weights its rows"
        if net.rejection == "budget"
        else "the fit has sample weights"
    )
    raise TypeError(
        f"{type(net).__name__}.get_loss does not take sample_weight, and {why}: "
        "the training steps call get_loss(y_pred, y_true, X=..., training=True, "
        "sample_weight=...). Add sample_weight=None to the override and pass it "
        "on: super().get_loss(y_pred, y_true, X=X, training=training, "
        "sample_weight=sample_weight)."
    )


# The settings that continued training (warm_start, partial_fit) takes
# from its first fit: the class target weights, and the seeds.
_READ_AT_FIRST_FIT = ("target", "target_power", "random_state")


def _checked_forward(forward, n_classes, X):
    """``forward(X)``, refused with a message on the module's output unless
    it is one row of ``n_classes`` scores per input row (the compacted
    training pass, whose output the loss would otherwise misread)."""
    output = forward(X)
    _check_module_output(output, n_classes)
    return output


def _once_per_step(step_fn, loss):
    """``step_fn`` for an optimiser's step, which may call it several times:
    LBFGS at parameters it then compares, a sharpness-aware optimiser (SAM)
    at perturbed ones, and skorch calls it once per optimiser of a net with
    several. The calls after the first count no rows (the prior after
    rejection of ``prior_correction`` would move between them) and leave an
    adaptive ``M`` as the first set it, so that the same parameters give the
    same loss; where the steps draw a mask (``rejection="sample"``), they
    draw the first call's random numbers again, so that a step has one draw
    and the same parameters the same mask. Costs, per step, a read of the
    mask generator's state (under a mask alone; about 1.5 µs for a CPU
    generator) and the wrapper's calls: about 2 µs in all under
    ``rejection="sample"``, under half a microsecond otherwise."""
    if not isinstance(loss, RejectionLoss):
        return step_fn
    generator = (
        loss.generator if loss.rejecting and loss.rejection == "sample" else None
    )
    calls = 0
    draws = None

    def once():
        nonlocal calls, draws
        calls += 1
        if calls == 1:
            if generator is not None:
                draws = generator.get_state()
            return step_fn()
        if draws is not None:
            # The same numbers as the first call (which drew as many): the
            # generator ends where the first call left it.
            generator.set_state(draws)
        loss.repeating = True
        try:
            return step_fn()
        finally:
            loss.repeating = False

    return once


def _training_batch_size(iterator_options, batch_size):
    """The training batch size as given, and the parameter that gives it:
    ``iterator_train__batch_size``, else ``batch_size``; None for an
    ``iterator_train__batch_sampler``, which cuts the batches itself
    (DataLoader takes it only beside a batch size of 1, which is then no
    batch's size)."""
    if iterator_options.get("batch_sampler") is not None:
        return None, "iterator_train__batch_sampler"
    if "batch_size" in iterator_options:
        return iterator_options["batch_size"], "iterator_train__batch_size"
    return batch_size, "batch_size"


def _rows_per_batch(size, iterator):
    """Rows of a training batch of ``size`` (``-1``: every row of the data
    set that the training ``iterator`` holds, as ``get_iterator`` cuts it);
    None where the iterator does not tell them."""
    if size != -1:
        return size
    try:
        return len(iterator.dataset)
    except (AttributeError, TypeError):
        return None


def _one_row_under_batchnorm(error, rows, size, name):
    """The error of a training pass that gave a BatchNorm layer a single
    row, or None for any other error. PyTorch refuses one row only where it
    gives the layer one value per channel (``BatchNorm1d`` on ``(N, C)``, a
    1x1 feature map), so a network whose BatchNorm sees more (a
    ``BatchNorm2d`` over larger maps) trains at one row per batch; the
    estimator drops a short last batch of one row (see ``needs_two_rows``),
    but a batch size of 1 makes every batch one row, and the batches of a
    ``batch_sampler`` (``size`` None, ``name`` the parameter that gives
    it) or of an ``iterator_train`` of the user's own are not the
    estimator's to count."""
    if rows != 1 or "Expected more than 1 value per channel" not in str(error):
        return None
    if size == 1:
        cause = f"{name}=1 gives every training pass a single row"
        fix = f"Set {name} to 2 or more."
    else:
        # The batch size is not the cause: what cut the batches left a row.
        cut = (
            f"that {name} cut"
            if size is None
            else f"at {name}={size}: a short last batch, or one that an "
            "iterator_train of your own cut"
        )
        cause = f"a training batch held a single row ({cut})"
        fix = (
            "Have every training batch hold 2 rows or more (with "
            "iterator_train__drop_last=True, say, or a batch sampler that "
            "makes no batch of one row)."
        )
    return ValueError(
        f"{cause}, but a BatchNorm layer of the network normalises over the "
        "rows of a batch, and PyTorch refuses one row where it gives the "
        f"layer one value per channel ({error}). {fix}"
    )


def _cancelled_weights(
    rejection, loss_normalization, weighted, warmup_epochs, n_epochs, epochs_before
):
    """What a training batch of one row cancels under the "accepted"
    normaliser, which divides each step's weighted loss sum by the weights
    of its rows: the rule's weights in the rejecting epochs of
    ``"expected"``, the sample weights in the steps they weigh (warm-up
    epochs, but under ``"budget"``, whose steps take the batch mean, and
    the rejecting epochs of ``"expected"``). An empty string where the
    ``n_epochs`` epochs after ``epochs_before`` weigh nothing."""
    if loss_normalization != "accepted" or rejection == "budget":
        return ""
    warmup = warmup_epochs > epochs_before
    rejecting = warmup_epochs < epochs_before + n_epochs
    rule = rejection == "expected" and rejecting
    sample = weighted and (warmup or rule)
    named = []
    if rule:
        named.append("the rule's weights (M, hardness, the class target weights)")
    if sample:
        named.append("the sample weights")
    return " and ".join(named)


def _warn_of_absent_classes(y, classes, weight=None, target="balanced"):
    """Warn that classes without a row (of weight above 0) in the first call
    of continued training take the largest balanced target weight (under
    ``"balanced_groups"``, in every group), which the later calls keep."""
    kept = None if weight is None else (np.asarray(weight) > 0).astype(np.float64)
    counts = np.bincount(
        np.asarray(y, dtype=np.int64), weights=kept, minlength=len(classes)
    )
    absent = [classes[k] for k in np.flatnonzero(counts == 0)]
    if not absent:
        return
    shown = ", ".join(shown_label(label) for label in absent[:5])
    warnings.warn(
        f"class(es) {shown} of classes= have no row (of weight above 0) in "
        "this first call of continued training (partial_fit, warm_start): "
        + (
            "under target='balanced' each takes the largest target weight, 1 "
            "(that of the rarest class)"
            if target == "balanced"
            else "under target='balanced_groups' each takes the largest "
            "stratum weight, 1 (that of the smallest stratum), in every group"
        )
        + ", and the later calls keep the weights of the first, however "
        "common these classes turn out. Give the first call rows of every "
        "class"
        + (
            ", or the target weights as a dict (target={label: weight})."
            if target == "balanced"
            else "."
        ),
        RSFTWarning,
        stacklevel=caller_stacklevel(),
    )


def _nll_forward(forward, X):
    """``forward(X)`` as an ``NLLLoss`` reads it (:func:`log_proba_for_nll`)."""
    return log_proba_for_nll(forward(X))


def _merged_weight_bins(bins, labels, values, n_classes):
    """Each class's weight summary (:func:`weight_bins`; ``bins[k]`` holds
    the bins' rows and means) merged with the call's rows (``labels``,
    ``values``); rows of weight 0 are left out, as from the rows counted. A
    class without rows in the call keeps its bins."""
    n_bins = bins.shape[2]
    keep = values > 0
    labels, values = labels[keep], values[keep]
    # Grouped by class (weight_bins sorts each class's values).
    order = np.argsort(labels, kind="stable")
    labels, values = labels[order], values[order]
    ends = np.cumsum(np.bincount(labels, minlength=n_classes))
    merged = bins.copy()
    for k in range(n_classes):
        new = values[ends[k - 1] if k else 0 : ends[k]]
        if not len(new):
            continue
        rows, means = bins[k]
        merged[k] = weight_bins(
            np.concatenate([means, new]),
            np.concatenate([rows, np.ones(len(new))]),
            n_bins,
        )
    return merged


# Continued training: the acceptance rate of a class as the earlier calls
# left it weighs as this many rows of the class against the current call's
# rows, so that the rate of a small chunk is not taken from a few rows.
_RATE_PRIOR_ROWS = 30.0

# Under loss_normalization="batch" the weighted modes ("expected",
# "budget") scale the loss, and its gradient, by the epoch's mean
# acceptance: below this one the steps of SGD are a millionth of their
# size or less, Adam's shrink as the gradients near its eps (1e-8), and at
# 1e-20 its float32 second moment underflows and no parameter moves. Such
# an epoch warns. Where Adam's steps shrink depends on the gradients' scale
# against eps: one step of the default MLP (64, 64) moved 0.87 of its full
# size at a mean of 1e-4, 0.61 at 1e-5, 0.23 at 1e-6 and 0.042 at 1e-7.
_NEGLIGIBLE_ACCEPTANCE = 1e-6

# Bins of the summary of each class's rule weights (sample weights, stratum
# weights) that prediction inverts the rule with (weight_bins).
_WEIGHT_BINS = 128

# The fitted attributes that correct the network's output (predict_proba),
# as every epoch leaves them.
_DECISION_ATTRIBUTES = (
    "final_M_",
    "final_hardness_",
    "final_prior_correction_",
    "loss_class_prior_",
    # What the next call of continued training adds its rows to.
    "_acceptance_rates",
    "_trained_rows",
)


def _unchanged(old, new):
    """Whether a setting still has its value (arrays and schedules
    included)."""
    if old is new:
        return True
    try:
        same = old == new
        if isinstance(same, (bool, np.bool_)):
            return bool(same)
        return np.shape(old) == np.shape(new) and bool(np.all(same))
    except Exception:
        return False


def _epoch_rows(iterator, dataset):
    """The rows a training epoch visits, and whether a sampler decides
    them: the sampler's (``iterator_train__sampler``) where one is given,
    as the loader batches its rows (``BatchIterator._short_last_batch``
    counts them so), else the data set's; ``(None, False)`` where unknown
    (a ``batch_sampler``, or a sampler or data set without a length)."""
    options = getattr(iterator, "loader_kwargs", None) or {}
    if options.get("batch_sampler") is not None:
        return None, False
    sampler = options.get("sampler")
    try:
        if sampler is not None:
            return len(sampler), True
        return (None, False) if dataset is None else (len(dataset), False)
    except TypeError:
        return None, False


class RSFTClassifier(NetClassifierBase):
    """Neural-network classifier trained with rejection-sampling fine-tuning.

    Each sample of a training batch has the acceptance probability
    ``a_i = min(1, w_i / (M * p_i ** hardness))``, where ``p_i`` is the
    current model's probability of the true label and ``w_i`` the sample's
    target weight (by default ``1 / sqrt(n_k)``, the largest 1). By default,
    after the first third of the epochs trained on every row, the loss of
    every sample is weighted by ``a_i`` (``rejection="expected"``) and the
    loss is the logit-adjusted cross-entropy on the class prior *after*
    rejection (``prior_correction=1``): the rule decides which rows count,
    the adjustment removes the imbalance the rule leaves. Rare classes and
    badly predicted samples count fully, easy majority samples less. The
    other rules keep each row with probability ``a_i`` instead
    (``"sample"``, ``"pool"``, ``"epoch"``), or give a backward pass to a
    fixed share of the rows while keeping the expected rule's gradient in
    expectation (``"budget"``).

    Every parameter of :class:`skorch.NeuralNetClassifier` is taken; those
    whose defaults or meanings differ from skorch's, and why, are listed in
    :doc:`/user_guide/skorch`.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network, returning logits of shape ``(batch, n_classes)``;
        ``None`` builds a :class:`~rsft_sklearn.MLPModule` sized from the
        data (``module__hidden_layer_sizes`` sets its layers).
    M : float, "auto" or callable, default=1.0
        Envelope constant, ``M > 0``. Under the default ``"expected"`` rule it
        acts through the clipping of ``a_i`` at 1: a small ``M`` accepts
        every row (the logit-adjusted loss alone), a larger one weights rows
        by ``w_i / p_i ** hardness``, moving weight toward rare and badly
        predicted rows. Under the masked rules (``"sample"``, ``"pool"``,
        ``"epoch"``) larger values reject more. With the largest class
        weight 1, ``M <= 1`` keeps the rarest class whole (the default). A
        callable maps the epoch index to that epoch's ``M`` (see
        :class:`~rsft_sklearn.LinearRamp`); ``"auto"`` adapts ``M`` on the
        device so that the acceptance rate holds ``target_acceptance``
        approximately: every step moves the running ``log M`` a quarter of
        the way to the value that its batch solves, so while the model
        learns fast the rate lags below the target, the more so at a large
        ``hardness``.
    hardness : float or callable, default=1.0
        Exponent of the model probability in the rule, ``>= 0``; ``0``
        ignores the model: with ``target_power=1``, a class-weighted loss
        under ``"expected"`` and online class-balanced under-sampling under
        the masked rules. A callable is a schedule over epochs, as for
        ``M``.
    target : {"balanced", "uniform", "balanced_groups"} or dict, \
            default="balanced"
        Class target weights ``1 / n_k ** target_power`` (``1 / sqrt(n_k)``
        by default), 1, or a dict of every class's weight, divided by their
        maximum; ``"balanced_groups"`` uses
        ``1 / n_(g, k)`` per (group, class) stratum of :meth:`fit`'s ``groups``.
    target_power : float, default=0.5
        Exponent of the ``"balanced"`` weights, ``1 / n_k ** target_power``:
        ``1`` balances fully, ``0.5`` (the default) tempers the weights at
        extreme imbalance, ``0`` is ``"uniform"``. Other targets ignore it.
    rejection : {"expected", "sample", "pool", "epoch", "budget"}, \
            default="expected"
        ``"expected"`` weights every sample's loss by ``a_i`` (deterministic;
        the default, chosen on the benchmark's development half, see
        :ref:`when_to_use`); ``"sample"`` draws a Bernoulli mask per step;
        ``"pool"`` scores ``pool_size`` batches in one gradient-free pass and
        trains full batches of their accepted rows only, and ``"epoch"`` does
        so once per epoch, so that rejected rows cost no backward pass (array
        inputs, one process; see :doc:`/user_guide/speed`). ``"budget"``
        scores pools likewise and keeps an expected share ``budget`` of their
        rows, row ``i`` with probability ``q_i = min(1, a_i / tau)`` and loss
        weight ``a_i / q_i``, so that the steps keep the ``"expected"`` rule's
        gradient in expectation while only the kept rows get a backward pass
        (its warm-up epochs train a uniform share ``budget`` of the rows;
        see :func:`~rsft_sklearn.budget_selection`).
    pool_size : int, default=16
        Batches scored together under ``rejection="pool"`` and ``"budget"``:
        larger pools cost fewer passes and host reads but train on older
        probabilities.
    budget : float, default=0.5
        Under ``rejection="budget"``, the expected fraction of rows that get
        a backward pass, in ``(0, 1]``, among the rows of positive sample
        weight (a row of weight 0 is never kept and takes no share of the
        budget); ignored otherwise.
    rescore_every : int, default=1
        Under ``rejection="budget"``, score every row in a gradient-free pass
        once every this many rejecting epochs (the first always). In the
        epochs between, rows are kept by the acceptance of their last
        scoring and weighted by the acceptance they have in their own
        training pass, which saves the scoring passes; with a fixed ``M``
        and ``prior_correction=0`` the steps keep the expected rule's
        gradient in expectation (exactly under
        ``loss_normalization="batch"``; under ``"accepted"``, its direction,
        scaled by the current over the stored acceptance mass). The prior
        after rejection of the logit
        adjustment and an adaptive ``M`` stay those of the last scoring
        pass (see the "Speed" guide). A resumed or continued fit
        (``partial_fit``) scores again in its first rejecting epoch. Ignored
        by the other modes.
    warmup_epochs : int or float, default=1/3
        First epochs that train on every sample without rejection (deferred
        re-balancing helps the learned features); ``0`` rejects from the start.
        A float in ``(0, 1)`` is a fraction of the epochs of the call that
        starts the training (``max_epochs``, or the ``epochs`` given to
        ``fit``; the default: the first third), rounded to the nearest
        epoch, a half up. Continued training (``warm_start``,
        ``partial_fit``) keeps that count and counts the epochs on; it
        warns where its warm-up would come back after epochs that rejected
        (a fit resumed with ``LoadInitState`` too). A fraction that rounds
        to every epoch of a ``fit`` warns (an integer count of them all is
        plain training, without a warning; ``partial_fit`` does not warn,
        as later calls continue its training). Sample
        weights (and the stratum weights of ``target="balanced_groups"``)
        weigh the warm-up's rows.
    loss_normalization : {"accepted", "batch"}, default="accepted"
        Divide the weighted loss sum by the accepted count (or weight), which
        keeps the gradient scale independent of the acceptance rate, or by
        the batch size, which is unbiased and keeps data-parallel training
        exact; the batch size counts the rows of sample weight 0 too. Under
        ``rejection="pool"`` and ``"epoch"`` every batch of a rejecting
        epoch holds accepted rows only, and both take its plain mean, with
        sample weights too (they act through the selection only); in
        warm-up epochs sample weights weigh the rows, and ``"accepted"``
        divides by the batch's weight.
    prior_correction : float, default=1.0
        Scale ``tau`` in ``[0, 1e6]`` of a logit adjustment of the base loss
        on the class prior *after* rejection (each class's share of the
        acceptance mass; see :class:`~rsft_sklearn.RejectionLoss`): the loss
        removes the imbalance the rule leaves, the rule picks the rows. ``1``
        is the logit-adjusted loss on the weighted data; ``0`` turns it off.
        :meth:`predict_proba` undoes it before inverting the rule.
    compact : bool or "auto", default=False
        With ``rejection="sample"``, ``True`` scores each batch without
        gradient (in evaluation mode) and runs forward and backward on its
        accepted rows only (one host read per batch); ``"auto"`` does so
        after an epoch that accepted less than half of the rows, on networks
        large enough to gain (parameters times the rows of a training batch
        at least ``2**24``), unless a subclass overrides ``get_loss``, which
        compacted steps do not call (see :doc:`/user_guide/speed`). The
        other modes refuse ``True`` and ignore ``"auto"``.
    target_acceptance : float or None, default=None
        Acceptance rate in ``(0, 1]`` that ``M="auto"`` holds; required with
        it and ignored otherwise. ``M`` stays within ``[exp(-80), exp(80)]``:
        where the rule's scores span more (a large ``hardness``), the rate
        cannot follow the target, and a warning says so when most of an
        epoch's steps solved for an ``M`` beyond the range and its rate
        missed the target by more than a tenth. The rate is that of
        the rows of positive sample weight: a row of weight 0 is never
        accepted and left out, as if absent. The history's
        ``acceptance_rate`` counts such rows among the rows, so that with a
        share ``z`` of them it reads about ``(1 - z) * target_acceptance``.
    probability : {"balanced", "training", "raw"}, default="balanced"
        What :meth:`predict_proba` returns (and :meth:`predict` decides on),
        from the inversion of training's fixed point
        (:func:`~rsft_sklearn.correct_proba`): the posterior under equal class
        priors, that of the training data's class mix, or the softmax as it
        is. Only prediction reads it.
    random_state : int, RandomState instance or None, default=None
        Seeds the weights, the shuffling and the masks (an int: identical fits).
    criterion : torch criterion class or instance, \
            default=torch.nn.CrossEntropyLoss
        The per-sample loss, with a ``reduction`` attribute; a copy with
        ``reduction="none"`` is wrapped in a
        :class:`~rsft_sklearn.RejectionLoss` (an instance passed in is never
        changed). With ``torch.nn.NLLLoss`` the module may end in a softmax,
        as in skorch, or a log-softmax (see :doc:`/user_guide/skorch`).
    optimizer : torch optimizer class, default=torch.optim.Adam
        The default Adam runs fused unless ``optimizer__fused`` or
        ``optimizer__foreach`` is set; a fused optimiser skips a step with
        nothing accepted inside its kernel, any other has it undone on the
        device from a copy of its state.
    lr : float, default=1e-3
        Learning rate of the optimiser.
    max_epochs : int, default=50
        Epochs of every ``fit`` and ``partial_fit`` call (``fit``'s
        ``epochs=`` overrides it for one call).
    batch_size : int, default=128
        Rows per batch, in training and prediction; ``-1`` takes all the
        rows as one batch. The weights of the rule (and sample weights)
        act relative to the other rows of a training batch under
        ``loss_normalization="accepted"``, so a batch of one row cancels
        them (a fit warns). With BatchNorm, a last training batch of one
        row is left out; a training batch size of 1 is refused where
        PyTorch refuses BatchNorm one row (``BatchNorm1d`` after a
        ``Linear`` layer), not where BatchNorm sees several values per
        channel (``BatchNorm2d`` over maps larger than 1x1).
    iterator_train, iterator_valid : class, default=BatchIterator
        What cuts the training and prediction batches:
        :class:`~rsft_sklearn.BatchIterator` slices in-memory data and hands
        a torch ``Dataset`` to a ``DataLoader`` (skorch's default is the
        ``DataLoader`` itself).
    dataset : torch Dataset class or instance, default=InMemoryDataset
        What array inputs are wrapped in, as in skorch (sample weights are
        added to every row).
    train_split : callable or None, default=None
        skorch's validation split; ``None`` trains on all the data. What fit
        counts from the data (``class_prior_``, the class and stratum target
        weights, the mean that divides ``sample_weight``) comes from the
        training part alone; the split runs once per call. For a validation
        fraction, pass skorch's ``ValidSplit(0.2)`` (from ``skorch.dataset``),
        which holds out a fifth of the rows; a number alone is refused.
    callbacks : list, "disable" or None, default=None
        skorch callbacks, as in skorch.
    predict_nonlinearity : callable, "auto" or None, default="auto"
        As in skorch: ``"auto"`` turns the output into probabilities (the
        softmax of the logits), which ``probability`` then corrects.
    warm_start : bool, default=False
        ``fit`` continues training the fitted network, as in skorch.
    verbose : int, default=0
        ``1`` prints skorch's epoch table, with the acceptance rates (those
        of each class in the order of ``classes_``, for up to 10 classes;
        beyond, they are in ``history_`` only).
    device : str or torch.device, default="cpu"
        Where the network, the batches and the rule's mask live.
    compile : bool, default=False
        ``torch.compile`` the network (not the loss module), as in skorch.
    use_caching : bool or "auto", default="auto"
        Whether scoring callbacks reuse the predictions of the epoch, as in
        skorch.
    torch_load_kwargs : dict or None, default=None
        Passed to ``torch.load`` when loading parameters, as in skorch.
    classes : array-like of shape (n_classes,) or None, default=None
        All class labels, in the order of the columns of
        :meth:`predict_proba`; ``None`` takes the sorted labels of ``y``.
        Labels out of sorted order warn: scikit-learn's scorers read the
        columns in sorted order, and a binary ``CalibratedClassifierCV``
        fails on them. (``partial_fit``'s
        ``classes`` are sorted, as in scikit-learn.)
        An estimator only initialised (to load saved parameters) predicts
        these labels. Inside a meta-estimator that fits it on labels it has
        encoded as 0, 1, ... (``StackingClassifier``, ``VotingClassifier``,
        ``BaggingClassifier``, one-vs-rest and one-vs-one,
        ``cross_val_predict(method="predict_proba")`` and so
        :class:`RejectionSampler`), leave ``classes=None``, as for
        scikit-learn's ``class_weight`` dicts.
    **kwargs : dict
        Any other :class:`skorch.NeuralNetClassifier` parameter.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of the columns of :meth:`predict_proba`.
    n_features_in_ : int
        Number of features seen during fit (array input).
    feature_names_in_ : ndarray of shape (``n_features_in_``,)
        Names of the features seen during fit. Defined only when ``X`` has
        feature names that are all strings.
    input_keys_ : list of str
        Names of the inputs seen during fit (dict input); the shape of each
        input's rows is in ``input_shapes_``, and the column names of each
        DataFrame among them (None for the others) in ``input_column_names_``.
    class_target_weight_ : ndarray of shape (n_classes,)
        Normalised class target weights used by the rule (all 1 under
        ``"balanced_groups"``, whose weights are per stratum).
    groups_ : ndarray of shape (n_groups,)
        Group labels seen by the first fit (``"balanced_groups"`` only).
    stratum_target_weight_ : ndarray of shape (n_groups, n_classes)
        Target weight of every (group, class) stratum, the largest 1
        (``"balanced_groups"`` only).
    class_prior_ : ndarray of shape (n_classes,)
        Class frequencies of the training data (the training part of
        ``train_split``), each row counted by its ``sample_weight``;
        continued training (``partial_fit``, ``warm_start``) adds every
        call's data.
    final_M_ : float or None
        ``M`` of the last epoch (for ``"auto"``, the geometric mean over its
        steps; in a call of continued training after one of ``"auto"`` too,
        blended with the ``M`` the earlier calls left, which counts as 30
        rows of every class); None
        when that epoch trained without rejection. Here and
        below, "the last epoch" is the epoch whose weights the network
        holds: the best one where ``EarlyStopping(load_best=True)`` or
        ``Checkpoint(load_best=True)`` put its weights back (an epoch of the
        same call of ``fit`` or ``partial_fit``). An epoch that took no
        step (every row rejected) leaves the network, and these attributes,
        as the epoch before it left them.
    final_hardness_ : float
        ``hardness`` of the last epoch.
    final_prior_correction_ : float
        ``prior_correction`` of the fit, with which ``predict_proba`` removes
        the logit adjustment (``set_params`` after the fit does not change
        it, as it changes neither ``final_M_`` nor ``final_hardness_``).
    loss_class_prior_ : ndarray of shape (n_classes,)
        The prior after rejection of the last epoch, which the logit
        adjustment removed (``prior_correction > 0`` only, and absent after
        a fit of ``max_epochs=0``, which trains no epoch; ``final_M_`` is
        then None).
    module_ : torch.nn.Module
        The trained network.
    criterion_ : RejectionLoss
        The rule around the criterion (its ``base_criterion``); its
        ``state_dict`` (class weights, adaptive ``M``, counts) is saved by
        :class:`skorch.callbacks.Checkpoint` with ``f_criterion``.
    history_ : skorch.History
        Per-epoch records, among them ``acceptance_rate``,
        ``acceptance_rate[<label>]`` for every class, ``M_effective`` and
        ``warmup`` (True in a warm-up epoch, which applies no rule).
    generators_ : object
        The states of the random generators of the shuffles and the masks
        (``state_dict``/``load_state_dict``, as a torch module), saved by
        :class:`skorch.callbacks.Checkpoint` with
        ``f_generators="generators.pt"``, so that a fit resumed with
        :class:`skorch.callbacks.LoadInitState` ends as the uninterrupted one.
    init_seed_ : int
        Seed of the network's weights and of each epoch's draws from torch's
        global generator (dropout), drawn from ``random_state`` at
        initialisation.
    shuffle_generator_, mask_generator_ : torch.Generator
        The generators of the shuffles and of the masks, seeded from
        ``random_state`` at initialisation (``generators_`` saves them).
    classes_inferred_ : ndarray of shape (n_classes,)
        The classes of the fit (the ``classes`` parameter, else the sorted
        labels of ``y``), which ``classes_`` reads.

    See Also
    --------
    skorch.NeuralNetClassifier : The base class; the training loop is its own.
    RejectionLoss : The rule as a loss module for any training loop.

    Notes
    -----
    A batch with nothing accepted changes no parameter and no optimiser
    state, decided on the device; statistics and losses accumulate on the
    device and are read once per epoch.

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

    # The loss module the criterion is wrapped in (tests inject their own).
    _rejection_loss_class = RejectionLoss

    _decision_attributes = _DECISION_ATTRIBUTES

    _history_keys = NetClassifierBase._history_keys + (
        "acceptance_rate",
        "M_effective",
        _WARMUP_KEY,
    )
    _history_key_prefixes = ("acceptance_rate[",)

    _parameter_constraints = {
        "M": [
            # The rule keeps M in float32, as a normal (not subnormal) number.
            Interval(numbers.Real, FLOAT32_SMALLEST, FLOAT32_MAX, closed="both"),
            StrOptions({"auto"}),
            callable,
        ],
        "hardness": [Interval(numbers.Real, 0, None, closed="left"), callable],
        "target_acceptance": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "probability": [StrOptions(set(PROBABILITY_OPTIONS))],
        "target": [StrOptions({"balanced", "uniform", "balanced_groups"}), dict],
        "rejection": [StrOptions({"sample", "expected", "pool", "epoch", "budget"})],
        "pool_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "budget": [Interval(numbers.Real, 0, 1, closed="right")],
        "rescore_every": [Interval(numbers.Integral, 1, None, closed="left")],
        "warmup_epochs": [
            Interval(numbers.Integral, 0, None, closed="left"),
            Interval(numbers.Real, 0, 1, closed="neither"),
        ],
        "target_power": [Interval(numbers.Real, 0, None, closed="left")],
        "prior_correction": [
            Interval(numbers.Real, 0, MAX_PRIOR_CORRECTION, closed="both")
        ],
        "loss_normalization": [StrOptions({"accepted", "batch"})],
        "compact": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
        # Called by skorch: a value it cannot call failed deep in the fit
        # with Python's "'float' object is not callable", which names no
        # parameter. The network: a class or factory that skorch builds, or
        # an instance (callable too); None builds an MLPModule.
        "module": [callable, None],
        # A class or factory built with (X, y, **dataset__*), or a data set
        # taken as it is.
        "dataset": [callable, torch.utils.data.Dataset],
        # A callable (ValidSplit, predefined_split) or None: a fraction is
        # skorch's ValidSplit(0.2). False, which skorch takes as None (and
        # its own tests pass), is kept.
        "train_split": [
            callable,
            None,
            Hidden(Options(bool, {False})),
            Hidden(Options(np.bool_, {np.False_})),
        ],
        # Classes or factories built with (dataset, **iterator_*__*). (A net
        # that trim_for_prediction left with iterator_train=None gets
        # skorch's own error first: see _validate_hyperparameters.)
        "iterator_train": [callable],
        "iterator_valid": [callable],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        # A class (or factory) that skorch builds with the parameters (None
        # once trim_for_prediction has dropped it).
        "optimizer": [callable, None],
        # A tensor learning rate is what torch's optimisers take for
        # capturable steps.
        "lr": [Interval(numbers.Real, 0, None, closed="left"), torch.Tensor],
        "batch_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Options(numbers.Integral, {-1}),
        ],
        # skorch reads them by truth value: warm_start="False" continued the
        # training, and compile="False" compiled.
        "warm_start": ["boolean"],
        "compile": ["boolean"],
        "verbose": ["verbose"],
    }

    def __init__(
        self,
        module=None,
        *,
        M=1.0,
        hardness=1.0,
        target="balanced",
        target_power=0.5,
        rejection="expected",
        pool_size=16,
        budget=0.5,
        rescore_every=1,
        warmup_epochs=1 / 3,
        loss_normalization="accepted",
        prior_correction=1.0,
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
        # As skorch's __init__: these three are state, not parameters.
        vars(self).update(
            _history_=kwargs.pop("history", None),
            _initialized_=kwargs.pop("initialized_", False),
            _virtual_params_=kwargs.pop("virtual_params_", {}),
        )
        self._params_to_validate = set(kwargs)
        vars(self).update(kwargs)

    def _validate_hyperparameters(self):
        # A net trimmed for prediction cannot train: skorch says so before
        # the parameters that trimming set to None are refused one by one.
        self.check_training_readiness()
        super()._validate_hyperparameters()
        check_compact(self.compact, self.rejection)
        if not callable(self.hardness):
            # Before training, as M is: the range the rule's float32
            # arithmetic holds (a schedule's values are checked per epoch).
            check_hardness(self.hardness)
        criterion = self.criterion
        criterion = criterion if isinstance(criterion, type) else type(criterion)
        module = self.module
        if issubclass(criterion, torch.nn.NLLLoss) and (
            module is None or module is MLPModule or type(module) is MLPModule
        ):
            # The default MLP returns logits: NLLLoss trained on them (the
            # loss fell without bound) and predict refused afterwards.
            raise ValueError(
                "criterion=NLLLoss reads log-probabilities (or probabilities), "
                "but the default MLPModule returns logits: use "
                "torch.nn.CrossEntropyLoss (the default), or a module that "
                "ends in a softmax or log-softmax."
            )

    def _check_training_settings(self, X, epochs_before, epochs, fit_call=False):
        super()._check_training_settings(X, epochs_before, epochs, fit_call)
        # What RejectionLoss refuses when initialize builds it, after the
        # network was built anew.
        check_target_acceptance(self.M, self.target_acceptance)
        optimizer = self.optimizer
        optimizer = optimizer if isinstance(optimizer, type) else type(optimizer)
        if issubclass(optimizer, torch.optim.LBFGS):
            basis = self._warmup_basis(epochs_before, epochs, fit_call)
            self._check_lbfgs(epochs_before, epochs, basis)

    def _check_lbfgs(self, epochs_before, epochs, basis):
        """Refuse LBFGS where this call's epochs (``epochs`` or
        ``max_epochs``, after ``epochs_before``) reach rejection under
        ``"sample"``; a fractional warm-up is a share of ``basis`` epochs."""
        n_epochs = self.max_epochs if epochs is None else epochs
        rejects = (
            warmup_epoch_count(self.warmup_epochs, basis) < n_epochs + epochs_before
        )
        if self.rejection == "sample" and rejects:
            # LBFGS evaluates the loss several times per step, along its
            # line search: every evaluation draws the step's numbers again
            # (see _step_optimizer), but compares them with the acceptances
            # at its own parameters, so the mask jumps as the parameters
            # move, and an empty mask would undo a step the others took.
            # (The other modes weight or select rows the same way at every
            # evaluation, whose counts and adaptive M only the first moves.)
            raise ValueError(
                "torch.optim.LBFGS evaluates the loss several times per "
                "step, and under rejection='sample' every evaluation "
                "rejects the rows its own parameters reject: the mask jumps "
                "along the line search. Use rejection='expected' (the "
                "default), or a first-order optimiser such as Adam or SGD."
            )

    def _check_validation_reduction(self):
        """Refuse a validation loss of one value per row before training:
        the criterion's reduction is that of the loss outside training (the
        rule gets per-sample losses whatever it is), and the epoch loop
        records one number per validation batch."""
        # A split that holds rows out whatever the data: skorch's
        # ValidSplit and predefined_split (a split of one's own may hold
        # none out; its first validation batch is checked instead).
        split = self.train_split
        if not (
            isinstance(split, ValidSplit) or _predefined_valid_ds(split) is not None
        ):
            return
        params = self.get_params_for("criterion")
        reduction = params.get("reduction", getattr(self.criterion, "reduction", None))
        if reduction != "none":
            return
        where = (
            "criterion__reduction='none'"
            if "reduction" in params
            else "The criterion has reduction='none'"
        )
        raise ValueError(
            f"{where}, which makes the validation loss one value per row, but "
            "the history records one number per validation batch. The rule "
            "takes per-sample losses whatever the reduction (which is that of "
            "the loss outside training): use reduction='mean' (the default) "
            "or 'sum', or train_split=None."
        )

    def _lower_M(self):
        # The advice for an epoch that accepted nothing: under M="auto" the
        # user's knob is the acceptance it holds.
        if isinstance(self.M, str) and self.M == "auto":
            return "Raise target_acceptance"
        return "Lower M"

    def _prepare_data(
        self,
        X,
        y,
        sample_weight,
        reset,
        groups=None,
        classes=None,
        partial=False,
        fresh=False,
        fit_params=None,
    ):
        # Among the argument checks, which a refusal leaves the estimator
        # unchanged by: before the network is built anew.
        _check_get_loss_takes_weights(self, sample_weight is not None)
        self._check_validation_reduction()
        X, y, n = self._check_inputs(X, y, reset, classes)
        n_classes = len(self.classes_)
        target = check_target(self.target, self.classes_)
        if (
            not reset
            and "stratum_target_weight_" in self.__dict__
            and not (isinstance(self.target, str) and self.target == "balanced_groups")
        ):
            # Continued training keeps the first fit's rule weights, which
            # under "balanced_groups" are the strata's: without groups this
            # call would train on plain rows, under neither rule (as the
            # opposite change is refused below).
            raise ValueError(
                f"target is {self.target!r}, but the first fit of this "
                "continued training (warm_start, partial_fit) balanced groups "
                "(target='balanced_groups'), whose stratum weights continued "
                "training keeps. Set target='balanced_groups' back and pass "
                "groups, or fit afresh (warm_start=False) with the new target."
            )
        weight = row_weight = None
        if sample_weight is not None:
            row_weight = check_sample_weight(sample_weight, n)
        split_by_group = splits_by_group(self.train_split)
        groups = check_groups(groups, self.target, n, split_by_group)
        # What is counted from the data below is counted on the rows that
        # train: those of the training part of train_split (fit_params is
        # None outside a call of fit or partial_fit).
        train = (
            slice(None)
            if fit_params is None
            else self._training_rows(
                X,
                y,
                groups if split_by_group else None,
                fresh,
                "partial_fit" if partial else "fit",
                fit_params,
            )
        )
        y_train = y[train]
        if row_weight is not None:
            # The classes are counted with the weights as given, which keep
            # their scale across calls of continued training; the rule takes
            # them divided by their mean over the rows of positive weight, so
            # that a row of weight 0 is as if absent: a mean over every row
            # would raise the others' weights by 1 / (1 - z) with a share z
            # of zeros (a bootstrap's 37%), as would a smaller M.
            # (A training part all of weight 0 trains on no row, which its
            # epochs name: its weights stay 0 divided by any mean, here that
            # of the positive weights of the validation rows.)
            trained = row_weight[train]
            positive = trained[trained > 0]
            if not len(positive):
                positive = row_weight[row_weight > 0]
            weight = row_weight / positive.mean()
        if reset:
            self.class_target_weight_ = class_target_weight(
                y_train,
                n_classes,
                target,
                power=self.target_power,
                sample_weight=None if weight is None else weight[train],
            )
            self._target_settings = (repr(self.target), self.target_power)
            if (
                (partial or self.warm_start)
                and isinstance(target, str)
                and (
                    (target == "balanced" and self.target_power != 0)
                    or (
                        isinstance(self.target, str)
                        and self.target == "balanced_groups"
                    )
                )
            ):
                _warn_of_absent_classes(y, self.classes_, weight, self.target)
        elif self.__dict__.get("_target_settings", None) not in (
            None,
            (repr(self.target), self.target_power),
        ):
            warnings.warn(
                "target or target_power changed since the class target weights "
                "were computed; continued training (warm_start, partial_fit) "
                "keeps the weights of its first fit. Fit afresh "
                "(warm_start=False) to use the new ones.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
        seeded = self.__dict__.get("_seeded_random_state", _ANY_STATE)
        if not reset and seeded != _ANY_STATE and seeded != self.random_state:
            # scikit-learn's warm-start estimators read a new random_state;
            # this one draws on from the generators of the first fit.
            warnings.warn(
                f"random_state changed from {seeded!r} to {self.random_state!r} "
                "since the network was initialised; continued training "
                "(warm_start, partial_fit) draws on from the generators seeded "
                "then. Fit afresh to seed them anew: fit with warm_start=False, "
                "or partial_fit a new estimator (sklearn.base.clone(net)).",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
        if weight is not None:
            weight = torch.as_tensor(weight, dtype=torch.float32)
        # For a validation split of this call that get_split_datasets makes
        # itself (see _training_rows).
        self._split_groups = groups if split_by_group else None
        if not (isinstance(self.target, str) and self.target == "balanced_groups"):
            # Only the split reads them.
            groups = None
        # The classes as the sample weights present them (a row of weight 0
        # counts for nothing), over every call of continued training, in the
        # weights' own units; added once the call's data have passed every
        # check. The rows as rows too, those of positive weight (a row of
        # weight 0 is as if absent): a class without weight counts as one
        # row of their mean weight.
        legacy = not reset and "_class_rows" not in self.__dict__
        if legacy and row_weight is not None:
            # Counted by an earlier version, with each call's weights divided
            # by their mean: such counts go on in those units.
            row_weight = row_weight / row_weight[train].mean()
        train_weight = None if row_weight is None else row_weight[train]
        counts = class_counts(y_train, n_classes, train_weight)
        rows = class_counts(
            y_train, n_classes, None if train_weight is None else train_weight > 0
        )
        if not reset:
            if "_class_counts" not in self.__dict__:
                # Fitted before the counts were kept: the prior stays the
                # first fit's, as it was then.
                counts = None
            else:
                counts = counts + self._class_counts
                if not np.isfinite(counts.sum()):
                    raise ValueError(
                        "The sample weights of the calls of continued training "
                        "sum beyond the float64 range; give them on a smaller "
                        "scale (divided by a constant) in every call."
                    )
            rows = None if legacy else rows + self._class_rows
        if groups is not None:
            if reset:
                # Counted by the weights, as the classes are: a row of weight
                # 0 counts as a dropped row.
                self.groups_, self.stratum_target_weight_ = stratum_target_weight(
                    y_train, groups[train], n_classes, train_weight
                )
            elif "stratum_target_weight_" not in self.__dict__:
                raise ValueError(
                    "target='balanced_groups' was set after a fit without "
                    "groups; continued training (warm_start, partial_fit) "
                    "cannot start balancing groups. Fit afresh "
                    "(warm_start=False) with groups."
                )
            table = self.stratum_target_weight_
            # Every row's, the validation rows' too (a group that the
            # training part lacks weighs as the smallest stratum).
            weight = group_weight(y, groups, self.groups_, table, weight)
        elif reset:
            # A refit without groups: an earlier fit's strata are not this
            # one's.
            for name in ("groups_", "stratum_target_weight_"):
                self.__dict__.pop(name, None)
        # Each class's rule weights (sample weight, times the stratum weight
        # under "balanced_groups"), summed over its rows over every call:
        # prediction knows neither, and corrects with each class's mean (in
        # epochs without rejection) and their summary (with rejection).
        # A row of weight 0 is dropped: it counts in neither.
        sums = None if reset else self.__dict__.get("_rule_weight_sums")
        if rows is not None and (weight is not None or sums is not None):
            # Each class's weights as a summary too (bins of rows and their
            # mean weights): the rule clips each row's weighted acceptance
            # at 1, so that a class's mean acceptance is below that of its
            # mean weight where its weights vary.
            bins = None if reset else self.__dict__.get("_rule_weight_bins")
            if sums is None:
                # The first call with weights: the rows of earlier calls
                # weighed 1 each.
                earlier = np.zeros(n_classes) if reset else self._class_rows
                sums = np.stack([earlier, earlier])
            labels = y_train.astype(np.int64)
            values = np.ones(len(labels)) if weight is None else weight.numpy()[train]
            if bins is None or bins.shape != (n_classes, 2, _WEIGHT_BINS):
                # Fitted before the summary was kept: the earlier rows in
                # one bin at their class's mean weight.
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = np.where(sums[1] > 0, sums[0] / sums[1], 1.0)
                bins = np.zeros((n_classes, 2, _WEIGHT_BINS))
                bins[:, 1] = 1.0
                bins[:, 0, 0], bins[:, 1, 0] = sums[1], mean
            self._rule_weight_bins = _merged_weight_bins(
                bins, labels, values, n_classes
            )
            sums = sums + np.stack(
                [
                    np.bincount(labels, values, minlength=n_classes),
                    np.bincount(labels, values > 0, minlength=n_classes),
                ]
            )
            self._rule_weight_sums = sums
        else:
            self.__dict__.pop("_rule_weight_sums", None)
            self.__dict__.pop("_rule_weight_bins", None)
        if counts is not None:
            self._class_counts = counts
            floor = 1.0 if rows is None else counts.sum() / max(rows.sum(), 1.0)
            self.class_prior_ = class_prior(
                None, n_classes, counts=np.where(counts > 0, counts, floor)
            )
        if rows is not None:
            self._class_rows = rows
        return X, torch.as_tensor(y), weight

    def _posterior(self, proba, log_proba=None):
        # What the output estimates depends on the rule of the last epoch.
        try:
            row_weight = row_prior = bins = None
            prior = self.class_prior_
            counts = self.__dict__.get("_class_counts")
            # A class without training mass (a label known from classes=
            # only, or rows all of weight 0): nothing was learnt of it, and
            # dividing its raw output by the prior of one row predicted it
            # where the others were unsure. It is divided by 1.
            massless = None
            target_weight = self.class_target_weight_
            M = getattr(self, "final_M_", None)
            # Estimators pickled before the attribute read the parameter.
            prior_correction = getattr(
                self, "final_prior_correction_", self.prior_correction
            )
            loss_prior = getattr(self, "loss_class_prior_", None)
            if "final_M_" not in self.__dict__ and "fit_state_" in self.__dict__:
                # The first epoch of a fit (a BatchScoring, a callback's
                # predict): no epoch has ended to give its rule. The network
                # trains without a rule to invert yet, under the logit
                # adjustment of the class prior, which the loss starts from
                # (set_class_prior): removed, as after a warm-up epoch. Left
                # in, the output was divided by the prior twice.
                M, prior_correction = None, float(self.prior_correction)
                loss_prior = self.class_prior_
            if counts is not None and len(counts) == len(prior):
                massless = counts <= 0
                prior = np.where(massless, 1.0, prior)
                if massless.any() and M is not None:
                    # Nor was the rule's acceptance, so it is not inverted:
                    # a weight at which every output is accepted (the
                    # inversion of a small one lifted the class by about
                    # 1 / weight, and predicted it everywhere).
                    target_weight = np.asarray(target_weight, dtype=np.float64)
                    whole = max(float(M), float(target_weight.max()))
                    target_weight = np.where(massless, whole, target_weight)
            sums = self.__dict__.get("_rule_weight_sums")
            if sums is not None:
                # Sample weights (and stratum weights): each class's mean
                # weight as the rule saw it, and the prior of the rows,
                # counting the rows of weight above 0.
                weighed, rows = sums
                with np.errstate(invalid="ignore", divide="ignore"):
                    mean = weighed / rows
                row_weight = np.where(rows > 0, mean, 1.0)
                row_weight = np.maximum(row_weight, FLOAT32_SMALLEST)
                row_prior = class_prior(None, len(rows), counts=rows)
                if massless is not None:
                    row_prior = np.where(massless, 1.0, row_prior)
                bins = self.__dict__.get("_rule_weight_bins")
                if bins is not None and bins.shape[:2] == (len(rows), 2):
                    # A class without rows: one bin of weight 1.
                    empty = ~(bins[:, 0].sum(axis=1) > 0)
                    bin_rows = np.where(empty[:, None], 0.0, bins[:, 0])
                    bin_rows[empty, 0] = 1.0
                    means = np.where(bin_rows > 0, bins[:, 1], 1.0)
                    means[empty, 0] = 1.0
                    means = np.maximum(means, FLOAT32_SMALLEST)
                    # Weights equal within every class: the mean says it all.
                    used = np.where(bin_rows > 0, means, np.nan)
                    spread = np.nanmax(used, axis=1) - np.nanmin(used, axis=1)
                    if np.all(spread <= 1e-9 * np.nanmax(used, axis=1)):
                        bins = None
                    else:
                        bins = (bin_rows, means)
                else:
                    bins = None
            return decision_proba(
                proba,
                self.probability,
                target_weight,
                prior,
                M,
                getattr(self, "final_hardness_", 1.0),
                row_weight=row_weight,
                row_prior=row_prior,
                row_weight_bins=bins,
                prior_correction=prior_correction,
                loss_prior=loss_prior,
                log_proba=log_proba,
            )
        except ValueError as exc:
            # correct_proba refuses values that are not probabilities; say
            # where they come from.
            if "finite probabilities" not in str(exc):
                raise
            base = getattr(self.criterion_, "base_criterion", None)
            if not np.isfinite(np.asarray(proba, dtype=np.float64)).all():
                raise ValueError(
                    "The network's output holds non-finite values (NaN or "
                    "inf): its parameters or its inputs made it overflow. "
                    "Scale the features (for example with StandardScaler) or "
                    "lower the learning rate, and refit."
                ) from exc
            if isinstance(base, torch.nn.NLLLoss):
                # "auto" reads an NLLLoss net's output as (log-)probabilities.
                advice = (
                    "With NLLLoss the network must end in a softmax or "
                    "log-softmax; for a network that returns logits, use "
                    "CrossEntropyLoss (the default criterion)"
                )
            else:
                advice = (
                    "Use predict_nonlinearity='auto' (the softmax of the "
                    "logits) or a function returning probabilities"
                )
            raise ValueError(
                "The network's output after predict_nonlinearity="
                f"{self.predict_nonlinearity!r} is not probabilities (values "
                "outside [0, 1], not finite, or rows not summing to 1), which "
                f"probability={self.probability!r} corrects. {advice}, or "
                "probability='raw' for the output as it is."
            ) from exc

    def initialize_criterion(self):
        criterion = self.criterion
        try:
            base = self.initialized_instance(
                criterion, self.get_params_for("criterion")
            )
        except TypeError as exc:
            if isinstance(criterion, type) or isinstance(criterion, torch.nn.Module):
                raise
            # A loss function (torch.nn.functional.cross_entropy), which
            # skorch calls with the criterion's parameters to build it.
            raise TypeError(
                "criterion must be a loss module class or instance (or a "
                "factory returning one) with one loss per sample under "
                "reduction='none', such as torch.nn.CrossEntropyLoss; calling "
                f"{criterion!r} to build it failed: {exc}. Wrap a loss function "
                "in a torch.nn.Module with a 'reduction' attribute."
            ) from exc
        if base is self.criterion:
            # The loss needs reduction="none"; the user's instance stays as it is.
            base = copy.deepcopy(base)
        if not hasattr(base, "reduction"):
            raise TypeError(
                f"{type(self).__name__} needs a criterion with a 'reduction' "
                "attribute that returns one loss per sample with "
                f"reduction='none', such as torch.nn.CrossEntropyLoss; got "
                f"{getattr(base, '__name__', type(base).__name__)}. Wrap a loss "
                "function in a torch.nn.Module with that attribute."
            )
        if isinstance(base, torch.nn.NLLLoss):
            base.register_forward_pre_hook(read_output_as_skorch_nll)
        if (
            isinstance(base, (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss))
            and base.weight is not None
        ):
            self._warn_of_criterion_weights(
                "criterion__weight"
                if "weight" in self.get_params_for("criterion")
                else f"the weight of the {type(base).__name__} given as criterion"
            )
        # The user's reduction (criterion__reduction, or the instance's) is
        # what get_loss returns outside training, as in skorch; training needs
        # the per-sample losses.
        reduction = base.reduction
        base.reduction = "none"
        with built_by_owner():
            # (This estimator warned of the criterion's weights above, in its
            # own terms.)
            loss = self._rejection_loss_class(
                base,
                class_weight=getattr(self, "class_target_weight_", None),
                generator=getattr(self, "mask_generator_", None),
                **self._rejection_loss_params(),
            )
        # skorch's loss_scoring reads it.
        loss.reduction = reduction
        # fit checks the sample weights once (check_sample_weight), and
        # encodes the labels as class indices.
        loss._weights_checked = True
        loss._labels_checked = True
        self.criterion_ = loss
        return self

    def _warn_of_criterion_weights(self, given):
        """Class weights in the criterion come on top of whatever balances
        the classes already: the rule's target weights, the logit
        adjustment (which corrects the prior the rows are trained on) and the
        balanced posterior (which divides by it). ``given`` names where the
        weights came from (``criterion__weight``, or the instance's)."""
        balancing = []
        if not (isinstance(self.target, str) and self.target == "uniform"):
            balancing.append(f"the rule's target weights (target={self.target!r})")
        if callable(self.prior_correction) or self.prior_correction != 0:
            balancing.append(
                f"the logit adjustment (prior_correction={self.prior_correction!r})"
            )
        if self.probability == "balanced":
            balancing.append("predict_proba's balanced correction")
        if not balancing:
            return
        warnings.warn(
            f"The criterion's class weights ({given}) re-weight the "
            f"classes on top of {', and '.join(balancing)}, so they are "
            "balanced more than once. Give class weights once: as target={label: "
            "weight}; or, for class-weighted cross-entropy alone, set "
            "target='uniform', prior_correction=0 and probability='raw' (its "
            "training loss is a mean over rows, not divided by their class "
            "weights as torch's mean and the validation loss are).",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )

    def set_params(self, **kwargs):
        self._check_rule_unchanged_during_fit(kwargs)
        return super().set_params(**kwargs)

    def _check_rule_unchanged_during_fit(self, kwargs):
        """Refuse, from a callback during a fit, a change of the settings
        the loss module is built with when training begins (or that the
        fit read from its data, or its seeds, then): the steps went
        on with the old ones while the history and ``predict_proba`` took
        the new (``prior_correction=0`` inverted a correction still
        trained, ``rejection="pool"`` reported a rate while every row was
        kept, ``M="auto"`` made the next epoch fail)."""
        state = self.__dict__.get("fit_state_")
        if state is None or not isinstance(
            self.__dict__.get("criterion_"), RejectionLoss
        ):
            return
        changed = [
            name
            for name in (
                "rejection",
                "loss_normalization",
                "target_acceptance",
                "prior_correction",
                # Read when the fit's data is prepared: a change was ignored
                # by the training while get_params showed it.
                "target",
                "target_power",
                "random_state",
            )
            if name in kwargs and not _unchanged(getattr(self, name), kwargs[name])
        ]
        if "M" in kwargs and isinstance(kwargs["M"], str) != isinstance(self.M, str):
            changed.append("M (between 'auto' and a fixed value)")
        if changed:
            # Continued training keeps the target weights and the seeds of
            # its first fit (and warns of a change): set between calls of
            # partial_fit, they were ignored.
            first = [name for name in changed if name in _READ_AT_FIRST_FIT]
            between = [name for name in changed if name not in first]
            advice = []
            if between:
                advice.append(
                    f"{' and '.join(between)} before fit, or between calls of "
                    "partial_fit"
                )
            if first:
                advice.append(
                    f"{' and '.join(first)} before a fit afresh (warm_start="
                    "False) or the first call of partial_fit (continued "
                    "training keeps those of its first fit)"
                )
            raise ValueError(
                f"set_params during a fit cannot change {', '.join(changed)}: "
                f"the training takes {'them' if len(changed) > 1 else 'it'} "
                "when it begins. Set "
                f"{'; set '.join(advice)}. M (a number) and hardness may change "
                "from epoch to epoch."
                + (
                    " (This estimator's training through skorch's hooks has not "
                    "ended: notify('on_train_end', X=X, y=y) ends it.)"
                    if state.by_hooks
                    else ""
                )
            )

    def torch_compile(self, module, name):
        # The loss module keeps state between steps: only the network compiles.
        if name in self._criteria:
            return module
        return super().torch_compile(module, name)

    def _rejection_loss_params(self):
        """The parameters of the estimator that the loss module is built with
        (and compared with, see ``_set_up_loss``)."""
        M = self.M if isinstance(self.M, (str, numbers.Real)) else 1.0
        return {
            "M": M,
            # The budget keeps rows by the expected rule's acceptances.
            "rejection": (
                "expected" if self.rejection in ("expected", "budget") else "sample"
            ),
            "loss_normalization": self.loss_normalization,
            # As the float the loss stores (a Fraction, which never equals
            # it, had the loss rebuilt at every call of continued training).
            "target_acceptance": check_target_acceptance(M, self.target_acceptance),
            "prior_correction": self.prior_correction,
        }

    # ------------------------------------------------------------------
    # skorch hooks: training
    # ------------------------------------------------------------------
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        if not len(self.history):
            # A fresh fit: an earlier fit's rule must not correct the output
            # of one stopped before its first epoch ended.
            for name in _DECISION_ATTRIBUTES:
                self.__dict__.pop(name, None)
        if "class_target_weight_" not in self.__dict__:
            # Training driven through skorch's hooks on a net that saw no
            # data (initialize(), load_params): the rule's class weights
            # and prior come from the data.
            raise RuntimeError(
                f"This {type(self).__name__} has seen no training data: the "
                "rule's class weights and prior come from it. Train with fit "
                "or partial_fit(X, y, classes=...) first."
            )
        # fit creates the state (it carries the sample weights); a training
        # started through skorch's hooks alone gets an empty one, which ends
        # with on_train_end.
        state = self.__dict__.get("fit_state_")
        if state is None or state.by_hooks:
            # (One that a sequence left unfinished is replaced.)
            state = self.fit_state_ = FitState()
            state.by_hooks = True
            # Predictions from other threads are refused while it lives.
            state.thread = threading.get_ident()
        state.history_start = len(self.history)
        # The rows that the earlier calls of continued training trained on
        # (none in a fresh fit), for the prior that prediction removes.
        state.rows_before = self.__dict__.get("_trained_rows")
        # The rows of this call's training part, as fit counted them (those
        # of train_split's training part, see _training_rows).
        split = self.__dict__.get("_split_of_call")
        train = split[1] if split is not None and split[0] is X else slice(None)
        state.positive_rows = _positive_rows(
            y, state.sample_weight, train, len(self.classes_)
        )
        state.rates_before = (
            None
            if state.rows_before is None
            else self.__dict__.get("_acceptance_rates")
        )
        # After the state's rows and rates before this call, which the loss's
        # prior after rejection counts.
        self._set_up_loss()
        # Blended only between calls of M="auto" (a fixed M of an earlier
        # call is the user's choice, not an estimate to smooth).
        auto = isinstance(self.M, str)
        state.M_before = (
            self.__dict__.get("final_M_")
            if state.rows_before is not None
            and auto
            and self.__dict__.get("_auto_M_trained")
            else None
        )
        self._auto_M_trained = auto
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        # Continued training (partial_fit, warm_start) goes on counting the
        # epochs: its warm-up may be over.
        if any(isinstance(optimizer, torch.optim.LBFGS) for optimizer in optimizers):
            self._check_lbfgs(len(self.history), state.epochs, state.warmup_basis)
        self._set_up_optimizers()
        state.components = self._components()
        self._warn_if_one_row_cancels_weights()

    def _warn_if_one_row_cancels_weights(self):
        """Warn (once per fit) where a training batch size of 1 cancels the
        weights that the steps give their rows: the "accepted" normaliser
        divides each step's weighted loss sum by the weights of its rows,
        which for one row leaves its plain loss."""
        size, name = _training_batch_size(
            self.get_params_for("iterator_train"), self.batch_size
        )
        state = self.fit_state_
        if size != 1 or self.criterion_.process_sum is not None:
            # (On several processes the normaliser sums the global batch.)
            return
        cancelled = _cancelled_weights(
            self.rejection,
            self.loss_normalization,
            state.sample_weight is not None,
            warmup_epoch_count(
                self.warmup_epochs, state.warmup_basis or self.max_epochs
            ),
            self.max_epochs if state.epochs is None else state.epochs,
            state.history_start,
        )
        if not cancelled:
            return
        effect = (
            # The prior after rejection sums the acceptances and weights.
            "act on the training only through the prior of the logit "
            "adjustment (prior_correction)"
            if self.prior_correction
            else "change nothing in training"
        )
        self._warn_once_per_run(
            "one_row_weights",
            f"{name}=1 trains every step on one row, and "
            "loss_normalization='accepted' divides a step's weighted loss by "
            f"the weights of its rows: for one row they cancel, so {cancelled} "
            f"{effect}. The weights act relative to the other rows of a "
            f"batch: raise {name} (small batches weaken them), or set "
            "loss_normalization='batch'.",
        )

    def _set_up_loss(self):
        """Give the loss module the fit's class weights, prior and generator
        (rebuilt first where its settings changed)."""
        loss = self.criterion_
        # A parameter changed since initialisation (set_params after fit), or
        # the estimator was pickled by a version whose criterion_ was the bare
        # criterion.
        if not (
            isinstance(loss, RejectionLoss)
            and loss.built_with(**self._rejection_loss_params())
        ):
            self.initialize_criterion()
            loss = self.criterion_ = self.criterion_.to(self.device)
        loss.set_class_weight(self.class_target_weight_)
        # Continued training (partial_fit, warm_start): the logit adjustment
        # removes the prior of every row trained on so far, as prediction
        # does (loss_class_prior_), not that of this call's rows alone. A
        # chunk of one class had a prior of 1 for it, and its rows almost no
        # loss to train on.
        state = self.fit_state_
        rows, rates = state.rows_before, state.rates_before
        background = (
            _acceptance_mass(rows, rates)
            if self.prior_correction
            and rows is not None
            and rates is not None
            and len(rows) == len(rates) == len(self.classes_)
            else None
        )
        loss.set_class_prior(self.class_prior_, background=background)
        loss.reset_adaptive_M()
        loss.generator = self.mask_generator_

    def _set_up_optimizers(self):
        """The fused default Adam, the guard of steps that accept nothing,
        and what the network's modules ask of a batch."""
        state = self.fit_state_
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        chosen = self.get_params_for("optimizer")
        if self.optimizer is torch.optim.Adam and not {"fused", "foreach"} & set(
            chosen
        ):
            # The default optimiser runs fused: an all-rejected step is
            # skipped on the device, not undone.
            for optimizer in optimizers:
                fuse_default_adam(optimizer)
        state.guard = EmptyStepGuard(optimizers, self.device)
        state.two_rows = needs_two_rows(self.module_)

    def _components(self):
        """The loss, the network and the optimisers, as the fit set them up."""
        names = ["criterion_", "module_"] + [name + "_" for name in self._optimizers]
        return tuple(getattr(self, name, None) for name in names)

    def _refresh_components(self):
        """Set up again what skorch rebuilt during the fit, after the fit set
        it up: a callback's ``set_params`` of a ``module__*`` or
        ``criterion__*`` parameter (or ``InputShapeSetter`` when training
        begins) rebuilds the network, the loss or the optimiser, which then
        lacked the fit's class prior, the fused default Adam and the guard
        of steps that accept nothing (the guard held the old optimiser).
        Returns whether anything was rebuilt."""
        state = self.fit_state_
        before, now = state.components, self._components()
        if before is None or all(a is b for a, b in zip(before, now)):
            return False
        if now[0] is not before[0]:
            # A rebuilt loss starts the prior after rejection and the
            # adaptive M afresh.
            self._set_up_loss()
        if any(a is not b for a, b in zip(before[1:], now[1:])):
            self._set_up_optimizers()
        state.components = self._components()
        return True

    def _after_train_begin_listener(self):
        # What a callback's on_train_begin made skorch rebuild
        # (InputShapeSetter) is set up before the next callback runs: a
        # LoadInitState after it loads the checkpoint into the set-up loss.
        if "fit_state_" in self.__dict__:
            self._refresh_components()

    def _before_training_epoch(self):
        """After the callbacks' ``on_epoch_begin``: an epoch planned before a
        callback made skorch rebuild the loss, the network or the optimiser
        is planned again for what was rebuilt."""
        state = self.__dict__.get("fit_state_")
        if state is None or state.plan is None:
            return
        if self._refresh_components():
            self._last_epoch_rejected, state.rejecting_epochs = state.replan_from
            self._plan_epoch(replanning=True)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        if "fit_state_" not in self.__dict__:
            # (Before skorch's hook adds the epoch to the history.)
            raise RuntimeError(
                "on_epoch_begin runs after on_train_begin (which sets up the "
                "rule for the training); call partial_fit(X, y, epochs=k), or "
                "notify('on_train_begin', X=X, y=y) first."
            )
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        seed_fit_generators(self.init_seed_ + len(self.history), self.device)
        self._refresh_components()
        state = self.fit_state_
        # What planning the epoch changes, to plan it again from there.
        state.replan_from = (
            self.__dict__.get("_last_epoch_rejected", False),
            state.rejecting_epochs,
        )
        try:
            self._plan_epoch()
        except (ValueError, TypeError):
            # A value refused for this epoch (a schedule of M or hardness
            # giving NaN): the epoch never ran, and its row would shift the
            # schedules, the seeds and the history columns of every epoch
            # that continued training adds.
            if not self.history[-1].get("batches"):
                self.history.pop()
            raise

    def _untrained_decision(self):
        """The attributes correcting the output of a network no epoch
        trained (a fit of max_epochs=0, or starved from its first epoch):
        no rule to invert, and no logit adjustment."""
        return {
            "final_M_": None,
            "final_hardness_": epoch_value(
                self.hardness, 0, "hardness", positive=False
            ),
            "final_prior_correction_": float(self.prior_correction),
        }

    def _adjust_plan(self, plan):
        """The epoch's plan as this estimator runs it (a subclass's hook)."""
        return plan

    def _plan_epoch(self, replanning=False):
        state = self.fit_state_
        # The modules are collected afresh every epoch (a callback may swap
        # a layer between epochs).
        state.mode_trees = None
        previous = (
            self.history[-2].get("acceptance_rate") if len(self.history) > 1 else None
        )
        params = ("M", "hardness", "rejection")
        # "auto" never compacts for an overridden get_loss: the compacted
        # steps compute their loss without it (compact=True says so).
        compact = self.compact
        if isinstance(compact, str) and _overrides_get_loss(self):
            compact = False
        # A fraction of the epochs of the call that started the training
        # (see _warmup_basis); continued training counts its epochs on.
        n_epochs = state.warmup_basis or self.max_epochs
        warmup = warmup_epoch_count(self.warmup_epochs, n_epochs)
        state.plan = plan = plan_epoch(
            len(self.history) - 1,
            **{name: getattr(self, name) for name in params},
            compact=compact,
            warmup_epochs=warmup,
            previous_rate=previous,
            module=self.module_,
            # The rows the steps train on (iterator_train__batch_size, -1
            # resolved), which the heaviness of "auto" compaction counts.
            batch_size=_rows_per_batch(
                _training_batch_size(
                    self.get_params_for("iterator_train"), self.batch_size
                )[0],
                state.train_iterator,
            ),
            weighted=state.sample_weight is not None,
        )
        state.plan = plan = self._adjust_plan(plan)
        # Recorded with the epoch, so that a fit resumed from a saved history
        # (LoadInitState) knows whether the epochs it continues rejected.
        self.history.record(_WARMUP_KEY, not plan.rejecting)
        # On several processes the losses are those of the global batches.
        state.losses = EpochLosses(self.criterion_.process_sum)
        if self.rejection in ("pool", "epoch"):
            # From the first epoch, not after a warm-up spent in vain.
            check_selection_iterator(state.train_iterator, self.rejection)
        loss = self.criterion_
        # Whether the epoch before this one rejected, as the history recorded
        # it: a fit resumed with LoadInitState holds the history of epochs
        # that another estimator trained. (Not the loss's own flag, which
        # starts on in the fresh loss that a resumed fit builds.) A history
        # from a version that did not record it: the last epoch that this
        # estimator trained, if it trained one.
        before = self.history[-2] if len(self.history) > 1 else {}
        rejected_before = (
            not before[_WARMUP_KEY]
            if _WARMUP_KEY in before
            else self.__dict__.get("_last_epoch_rejected", False)
        )
        self._last_epoch_rejected = bool(plan.rejecting)
        if (
            not plan.rejecting
            and rejected_before
            and len(self.history) > 1
            and not replanning
        ):
            # Continued training whose warm-up count reaches past the epochs
            # trained (warmup_epochs raised between calls), after epochs that
            # rejected: the rule goes off again.
            given = f"warmup_epochs={self.warmup_epochs!r}"
            if not isinstance(self.warmup_epochs, numbers.Integral):
                given += f" of {n_epochs} epochs"
            one = warmup == len(self.history)
            epochs = (
                f"Epoch {warmup} (counted from 1) is a warm-up epoch"
                if one
                else f"Epochs {len(self.history)} to {warmup} (counted from 1) "
                "are warm-up epochs"
            )
            warnings.warn(
                f"{epochs} ({given}), after epochs that rejected: "
                f"{'it trains' if one else 'they train'} without the rule. Set "
                f"warmup_epochs to at most {len(self.history) - 1}, the epochs "
                "trained so far, to continue rejecting.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
        try:
            loss.begin_epoch(plan.M, plan.hardness, plan.rejecting)
        except ValueError as exc:
            # Fixed values were checked before training; a schedule's value
            # is checked here, and the message names the epoch.
            raise ValueError(
                f"Epoch {len(self.history) - 1} (counted from 0) of the schedule "
                f"given as M or hardness: {exc}"
            ) from exc
        loss.count_steps = True
        prepare_iterator(
            state.train_iterator,
            plan,
            loss,
            partial(self._score, **state.fit_params),
            batch_size=self.batch_size,
            pool_size=self.pool_size,
            min_rows=2 if state.two_rows else 1,
            budget=self.budget,
            **self._budget_store(plan),
        )
        if plan.rows_selected or plan.pooled or plan.budgeted:
            # The steps train on the accepted rows as they are.
            loss.rejecting = loss.count_steps = False

    def _warn_if_M_at_its_bound(self, record, seen, mass, steps, steps_at_bound):
        """Warn (once per fit) when ``M="auto"`` spent most of the epoch's
        ``steps`` (more than half) at a bound of its range
        (``steps_at_bound``, the steps whose solution lay there), where it
        cannot hold ``target_acceptance``: model probabilities raised to a
        large ``hardness``, or weights far below 1, span more than the
        range. Counted per step, not read from the epoch's mean ``M``: one
        batch solved inside the range moves the running ``M`` off the bound
        for several steps, which kept the mean clear of it while the rate
        missed the target. The rate is the rule's mean acceptance (``mass``
        over the rows of positive weight among those ``seen``), the one
        ``target_acceptance`` sets (under ``"budget"`` the history's
        acceptance_rate is the share kept). A rate within a tenth of the
        target (every row accepted under a target of 0.99) misses nothing
        worth a warning."""
        state = self.fit_state_
        if (
            not (isinstance(self.M, str) and self.M == "auto")
            or not state.plan.rejecting
            or state.warned_M_bound
            # Solved at no step (an epoch without one): no bound was met.
            or not steps_at_bound > steps / 2
        ):
            return
        # The loss's float: a Fraction has no "g" format before Python 3.12.
        target = self.criterion_.target_acceptance
        # Rows of weight 0 are never accepted, and target_acceptance is a
        # rate over the others: counted, they showed a rate under the
        # target at the upper bound (0.043, "0.86 times the target", for
        # 0.200 with four rows in five weighing 0).
        positive = _rows_of_positive_weight(seen, state.positive_rows).sum()
        rate = float(mass.sum() / positive) if positive > 0 else 0.0
        if abs(rate - target) <= 0.1 * target:
            return
        upper = record["M_effective"] > 1
        low, high = _LOG_M_RANGE
        state.warned_M_bound = True
        warnings.warn(
            f'M="auto" stayed at the {"upper" if upper else "lower"} bound '
            f"of its range, exp({high if upper else low:g}), in epoch "
            f"{len(self.history)} ({steps_at_bound:.0f} of its {steps:.0f} "
            f"steps solved for an M beyond it): its acceptance rate {rate:.3g}, "
            f"{rate / target:.3g} times the target, cannot follow "
            f"target_acceptance={target:g}. The model's probabilities raised to "
            f"hardness={self.hardness!r}, times the target weights, span more "
            "than that range; lower hardness (or the spread of the weights).",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )

    def _warn_if_steps_negligible(self, record, seen, mass):
        """Warn (once per fit) when an epoch of the weighted modes under
        ``loss_normalization="batch"`` had a mean acceptance below
        ``_NEGLIGIBLE_ACCEPTANCE``: its loss and gradients were scaled by
        it, and its steps shrank (none at ``M=1e20``), without
        the warning that an epoch accepting no row gives under
        ``"sample"``. The rule's acceptance ``a_i`` (``mass``, read once per
        epoch), not the history's acceptance_rate: under ``"budget"`` that
        is the share of rows kept, about ``budget`` whatever ``M``."""
        if (
            self.loss_normalization != "batch"
            or self.rejection not in ("expected", "budget")
            or not self.fit_state_.plan.rejecting
            or not seen.sum() > 0
        ):
            return
        mean = float(mass.sum() / seen.sum())
        if not mean < _NEGLIGIBLE_ACCEPTANCE:
            return
        weighted = self.fit_state_.sample_weight is not None
        shown = f"{mean:.3g}"
        if float(shown) >= _NEGLIGIBLE_ACCEPTANCE:
            # A mean of 1e-6 itself (M=1e6, every a_i 1/M) is just below it
            # in float32, and would read as the bound.
            shown = f"just below {_NEGLIGIBLE_ACCEPTANCE:g}"
        self._warn_once_per_run(
            "negligible steps",
            f"An epoch's mean acceptance was {shown} (M="
            f"{record['M_effective']:.3g}) under loss_normalization='batch', "
            "which scales the loss and its gradients by it: SGD's steps "
            "shrink by that factor, and Adam's (lr*|g|/(|g|+eps) for a scaled "
            "gradient g) to about a quarter of their size at a mean of 1e-06 "
            "on the default network, and far less below. "
            f"{self._lower_M()}, or use loss_normalization='accepted', whose "
            "loss keeps its scale at any acceptance."
            + (
                " (Rows weighted far below the mean sample weight have a lower "
                "acceptance too.)"
                if weighted
                else ""
            ),
        )

    def _budget_store(self, plan):
        """``store`` and ``rescore`` of a budgeted epoch's selection: with
        ``rescore_every > 1``, every row's acceptance at its last scoring,
        kept for the fit, and whether this epoch scores again."""
        state = self.fit_state_
        iterator = state.train_iterator
        if not (
            plan.budgeted
            and plan.rejecting
            and self.rescore_every > 1
            and isinstance(iterator, BatchIterator)
            and iterator.in_memory
        ):
            return {}
        store = state.row_acceptance
        rejecting_epoch = state.rejecting_epochs
        state.rejecting_epochs = rejecting_epoch + 1
        rescore = store is None or rejecting_epoch % self.rescore_every == 0
        if store is None:
            store = state.row_acceptance = iterator.row_store()
        return {"store": store, "rescore": rescore}

    def on_train_end(self, net, X=None, y=None, **kwargs):
        # An epoch cut short (Ctrl-C) had no on_epoch_end: its batch losses
        # are written into the history here, before the callbacks save it.
        state = self.__dict__.get("fit_state_")
        if state is not None:
            # Before the callbacks: Checkpoint(load_best=True) may replace the
            # history by the one it saved (see _match_restored_weights).
            state.trained_history = self.history
        if state is not None and len(self.history):
            # Each process's own values: after an interruption the processes
            # may hold different numbers of batches, and a sum over them
            # would wait or fail.
            state.losses.process_sum = None
            state.losses.write(self.history[-1].get("batches", []), "train_loss")
            self._warn_if_stopped_in_warmup(state)
        if state is not None and "final_M_" not in self.__dict__:
            # A fit of max_epochs=0: no epoch applied the rule, and the
            # untrained network's outputs carry no logit adjustment.
            self.__dict__.update(self._untrained_decision())
        super().on_train_end(net, X=X, y=y, **kwargs)
        if not self.__dict__.get("_notifying_train_end"):
            # A subclass's own notify that does not call this class's: the
            # hand-driven state ends here.
            self._after_train_end()

    def _after_train_end(self):
        state = self.__dict__.get("fit_state_")
        if state is None or not state.by_hooks:
            return
        # Training driven through skorch's hooks by hand: weights that a
        # callback put back (load_best=True) take their epoch's rule, as in
        # fit, and the state that on_train_begin created ends with the
        # sequence (left, it cached the modules of a later prediction).
        try:
            self._match_restored_weights()
        finally:
            del self.fit_state_

    def _epoch_state(self, method):
        """The state of the training epoch in progress, which the steps
        need; a step called outside one is refused by name."""
        state = self.__dict__.get("fit_state_")
        if state is None or state.plan is None:
            raise RuntimeError(
                f"{method} runs within a training epoch of fit or partial_fit "
                "(it needs the epoch's plan of the rule). Train with "
                "partial_fit(X, y, epochs=k), or run skorch's hooks in full: "
                "on_train_begin, then per epoch on_epoch_begin, "
                "run_single_epoch and on_epoch_end, then on_train_end."
            )
        return state

    def fit_loop(self, X, y=None, epochs=None, **fit_params):
        if "fit_state_" not in self.__dict__:
            # skorch's fit_loop runs the epochs of partial_fit, after
            # on_train_begin: called alone it failed at the first epoch and
            # left an empty epoch in the history.
            raise RuntimeError(
                "fit_loop runs the epochs of fit and partial_fit, after "
                "on_train_begin; call partial_fit(X, y, epochs=k) instead, or "
                "notify('on_train_begin', X=X, y=y) first."
            )
        if fit_params.get("_routing_method") == "fit" and not len(self.history):
            self._warn_if_warmup_covers_fit(epochs)
        try:
            return super().fit_loop(X, y, epochs=epochs, **fit_params)
        except KeyboardInterrupt:
            # skorch's partial_fit swallows it (see _undone_if_untrained).
            # Not a stop after a finished epoch (EarlyStopping's, after an
            # epoch that accepted no row and took no step): that epoch is
            # kept, as skorch keeps it.
            steps = self.__dict__.get("_steps_of_call")
            if steps is not None and not self.fit_state_.decisions:
                steps.interrupted = True
            raise

    def _warn_if_warmup_covers_fit(self, epochs):
        """Warn, before a fit trains its first epoch, where a fractional
        ``warmup_epochs`` rounds to every epoch of it (``epochs``, else
        ``max_epochs``): then no epoch applies the rule.

        Only a fit (not one that a ``LoadInitState`` resumes, whose history
        it put back) trains all the epochs that the share is of. A
        ``partial_fit``'s training goes on over later calls, whose epochs
        the rule applies to: its first call of ``max_epochs`` epochs (a
        loop's first of ``epochs=1``) may be a warm-up alone."""
        if isinstance(self.warmup_epochs, numbers.Integral):
            return
        given = self.max_epochs if epochs is None else epochs
        basis = self.fit_state_.warmup_basis or self.max_epochs
        warmup = warmup_epoch_count(self.warmup_epochs, basis)
        # (max_epochs=0 trains no epoch, and builds the network only.)
        if 0 < given <= warmup:
            _warn_warmup_covers_all(self.warmup_epochs, basis, warmup)

    def _warn_if_stopped_in_warmup(self, state):
        """Warn when a callback (EarlyStopping, whose patience counts the
        warm-up epochs) or an interruption ended the training before the
        epochs it was given, before an epoch after the warm-up finished
        (an epoch cut short applied no rule to the output): the network is
        used as the plain one."""
        steps = self.__dict__.get("_steps_of_call")
        if state.plan is None or (
            steps is not None and steps.interrupted and not steps
        ):
            # (Interrupted before its first step, the call puts back the
            # estimator from before it, and says so.)
            return
        history = self.history
        done = len(history)
        # An epoch cut short (Ctrl-C) is in the history, but its rule was
        # not applied to the output (its on_epoch_end did not run).
        cut = done > state.history_start and history[-1]["epoch"] not in (
            state.decisions
        )
        if state.plan.rejecting and not cut:
            return
        done -= cut
        warmup = warmup_epoch_count(
            self.warmup_epochs, state.warmup_basis or self.max_epochs
        )
        given = state.epochs if state.epochs is not None else self.max_epochs
        if (
            done > warmup
            or done - state.history_start >= given
            # The call would have ended inside the warm-up anyway (one of a
            # stream of short partial_fit calls, or warmup_epochs of every
            # epoch).
            or state.history_start + given <= warmup
        ):
            return
        # One that stopped it has missed as many epochs as its patience.
        stoppers = [
            name
            for name, callback in self.callbacks_
            if isinstance(callback, EarlyStopping)
            and getattr(callback, "misses_", 0) >= callback.patience
        ]
        cause = (
            f"EarlyStopping (callback {stoppers[0]!r}), whose patience counts "
            "the warm-up epochs, "
            if stoppers
            else "A callback or an interruption "
        )
        where = f"in epoch {done + 1}" if cut else f"after epoch {done}"
        if cut and done:
            where += f", after epoch {done}"
        if warmup:
            before = (
                f"before any epoch after the warm-up of {warmup} epochs "
                f"finished (warmup_epochs={self.warmup_epochs!r})"
            )
            advice = "Lower warmup_epochs, or give the stopping callback more patience."
        else:
            # Without a warm-up: cut in the first epoch of the call.
            before = "before its first epoch finished"
            advice = "Let an epoch finish before stopping."
        warnings.warn(
            f"{cause}ended the training {where}, {before}: no finished epoch "
            "applied the rejection rule, and the network is used as the plain "
            f"one. {advice}",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        check_finite_parameters(
            self.module_.parameters(), len(self.history), optimizers
        )
        # The batches' losses, read once, before skorch's epoch callbacks.
        self.fit_state_.losses.write(
            self.history[-1]["batches"], "train_loss", "train_batch_size"
        )
        losses = [
            batch["train_loss"]
            for batch in self.history[-1]["batches"]
            if "train_loss" in batch
        ]
        if losses and not np.isfinite(losses).any():
            # Under rejection="sample" a NaN acceptance rejects its row, and
            # the skipped steps keep the parameters finite: the parameter
            # check below would let such a network through.
            raise ValueError(
                f"Every training batch of epoch {len(self.history)} had a "
                "non-finite loss: the network's output stopped being finite "
                "(NaN or inf). Scale the features (for example with "
                "StandardScaler) or lower the learning rate."
            )
        self._warn_if_nonfinite_scores()
        self._warn_if_output_misread()
        if self.history[-1].get("train_batch_count") == 0:
            # Every row rejected (pool, epoch, budget): no step, and no loss
            # for skorch to average; NaN rather than a missing key, which
            # EarlyStopping or Checkpoint on train_loss would raise on, and
            # not the best loss so far. Checkpoint also reads the epoch's
            # last batch: a batch of no row stands in.
            self.history.new_batch()
            self.history.record_batch("train_batch_size", 0)
            self.history.record("train_loss", float("nan"))
            self.history.record("train_loss_best", False)
            self._check_output_finite(dataset_train, "trained on no row")
            plan = self.fit_state_.plan
            iterator = self.fit_state_.train_iterator
            rows, sampled = _epoch_rows(iterator, dataset_train)
            if self.fit_state_.two_rows and rows is not None and rows < 2:
                # (PyTorch refuses only some such batches; the estimator
                # decides from the kinds of layer, see needs_two_rows.)
                reason = (
                    (
                        "iterator_train__sampler draws one row"
                        if sampled
                        else "the data hold one row"
                    )
                    + ", and the estimator leaves out a training batch of one "
                    "row because the network holds a BatchNorm layer"
                )
                advice = (
                    "Give iterator_train__sampler two rows or more."
                    if sampled
                    else "Train on two rows or more (a larger partial_fit chunk)."
                )
            elif (
                getattr(iterator, "drop_last", False)
                and rows is not None
                and rows < getattr(iterator, "batch_size", 0)
            ):
                held = (
                    f"iterator_train__sampler draws {rows} rows"
                    if sampled
                    else f"the data hold {rows} rows"
                )
                reason = (
                    f"{held}, fewer than one batch, which "
                    "iterator_train__drop_last=True leaves out"
                )
                advice = "Lower batch_size, or drop drop_last."
            elif plan.budgeted:
                # A budget's warm-up draws a share of the rows with the rule
                # off, and a rejecting epoch keeps budget * n_pos rows in
                # expectation whatever the acceptances: M does not change how
                # many, only a larger budget, or more rows, keeps more.
                if plan.rejecting:
                    reason = (
                        f"rejection='budget' keeps a share budget={self.budget!r} "
                        "of the rows in expectation, and the epoch's draw kept none"
                    )
                else:
                    reason = (
                        "a warm-up epoch under rejection='budget' keeps a random "
                        f"share budget={self.budget!r} of the rows, and it kept none"
                    )
                remedy = "raise budget, or train on more rows"
                if getattr(self.fit_state_.train_iterator, "drop_last", False):
                    reason += (
                        " or too few to fill one batch, which "
                        "iterator_train__drop_last=True leaves out"
                    )
                    remedy = (
                        "raise budget, lower batch_size, train on more rows, "
                        "or drop drop_last"
                    )
                advice = (
                    f"M does not change how many rows the budget keeps: {remedy}."
                    if plan.rejecting
                    else f"{remedy[0].upper()}{remedy[1:]}."
                )
            elif getattr(self.fit_state_.train_iterator, "drop_last", False) and (
                plan.pooled or plan.rows_selected
            ):
                reason = (
                    "every row rejected, or the kept rows did not fill one "
                    "batch, which iterator_train__drop_last=True leaves out"
                )
                advice = f"{self._lower_M()} or batch_size, or drop drop_last."
            else:
                reason = "every row rejected"
                advice = f"{self._lower_M()}."
            self._warn_stepless(
                f"An epoch trained on no row ({reason}); its train_loss is "
                f"NaN. {advice}"
            )
        # Read once: on several processes each read is a sum over them.
        statistics = self.criterion_.epoch_statistics()
        record = epoch_record(statistics, self.classes_)
        for key, value in record.items():
            self.history.record(key, value)
        # Each class's rows and acceptance mass of the epoch, read once, in
        # float64 (the loss's sums are float32 on MPS): the trained rows and
        # rates made of them add up over the calls of continued training.
        # The steps that solved M="auto", and those held at a bound of its
        # range, come in the same read.
        read = (
            torch.cat(
                [
                    statistics["seen"],
                    statistics["acceptance"],
                    torch.stack(
                        [statistics["M_steps"], statistics["M_steps_at_bound"]]
                    ).to(statistics["seen"]),
                ]
            )
            .cpu()
            .double()
            .numpy()
        )
        n = statistics["seen"].numel()
        seen, mass = read[:n], read[n : 2 * n]
        M_steps, M_steps_at_bound = read[2 * n :]
        took_step = bool(self.history[-1].get("train_batch_count"))
        per_batch = not self.fit_state_.plan.rejecting or self.rejection in (
            "sample",
            "expected",
        )
        if (
            per_batch
            and took_step
            and record["acceptance_rate"] == 0
            # Rows the rule saw: a get_loss that bypasses the criterion
            # trains without counting any.
            and seen.sum() > 0
        ):
            took_step = False
            # (EpochScoring of the training data records NaN for it.)
            self.fit_state_.stepless_epoch = len(self.history)
            # Every step of the epoch skipped (nothing accepted, or every
            # row of the training part weighed 0): its train_loss of 0 says
            # so no more than the modes that select rows ahead, which warn.
            # A network whose output is NaN rejects every row too (compacted
            # steps never see its loss): one batch of it tells them apart.
            self._check_output_finite(dataset_train, "accepted no row")
            if self.fit_state_.plan.rejecting:
                # Rows of weight 0 are never accepted either.
                weighted = self.fit_state_.sample_weight is not None
                advice = (
                    "accepted no row, so it took no step; its train_loss is "
                    f"NaN. {self._lower_M()}."
                    + (" (Or every training row weighs 0.)" if weighted else "")
                )
            else:
                advice = (
                    "trained on no row (every training row weighs 0), so it "
                    "took no step; its train_loss is NaN."
                )
            self._warn_stepless(f"An epoch {advice}")
            # The skipped steps' losses of 0 would make it the best epoch
            # for EarlyStopping or Checkpoint on train_loss.
            for batch in self.history[-1]["batches"]:
                if "train_loss" in batch:
                    batch["train_loss"] = float("nan")
        self._warn_if_M_at_its_bound(record, seen, mass, M_steps, M_steps_at_bound)
        if took_step:
            self._warn_if_steps_negligible(record, seen, mass)
            # Epochs without a step after this one are news (a continued
            # run whose M was raised again was silent): warned of again, in
            # a later call if this one has said it already.
            self._rearm_warning("stepless")
        # The rule that corrected the output before this epoch: kept if the
        # epoch took no step (every row rejected), whose network is the
        # earlier epoch's.
        previous = {
            name: self.__dict__[name]
            for name in _DECISION_ATTRIBUTES
            if name in self.__dict__
        }
        # predict_proba inverts the rule of the latest epoch.
        plan = self.fit_state_.plan
        self.final_M_ = record["M_effective"] if plan.rejecting else None
        self.final_hardness_ = plan.hardness
        # Read at prediction, as final_M_ is: set_params after the fit
        # changes neither.
        self.final_prior_correction_ = float(self.prior_correction)
        # The prior the adjustment removed: the epoch's rows of each class
        # times their mean acceptance (not their backward share, which
        # differs under "budget"). The rows are counted as rows: their
        # sample weights are in the acceptances already. Kept up to date
        # without correction too, for a later call of continued training
        # that corrects.
        # A row of weight 0 is as if absent: the epoch's rows of a class
        # are those of positive weight, in the share that the training part
        # holds (its rows, where an epoch sees each once). Counted among
        # the rows, they lowered the class's rate, which continued training
        # weighs against the rows of the other calls.
        seen = _rows_of_positive_weight(seen, self.fit_state_.positive_rows)
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = mass / seen
        # Continued training: the epoch's rows and those that the earlier
        # calls trained on, at the rates of the last epoch (a class that
        # epoch did not see, or whose rows all weighed 0, keeps its last
        # rate), so that a small chunk does not stand for all that was
        # trained before it. A single fit: the epoch's own rows and rates.
        fresh = (seen > 0) & (mass > 0)
        earlier = self.__dict__.get("_acceptance_rates")
        if earlier is not None and len(earlier) == len(rates):
            rates = np.where(fresh, rates, earlier)
        prior_rates = self.fit_state_.rates_before
        if prior_rates is not None and len(prior_rates) == len(rates):
            # The rate of the earlier calls counts as _RATE_PRIOR_ROWS rows
            # of the class at that rate: a chunk with a few rows of a class
            # (a last chunk of 8 rows, say) does not set its rate alone.
            known = np.isfinite(prior_rates)
            pseudo = np.where(known, _RATE_PRIOR_ROWS, 0.0)
            with np.errstate(invalid="ignore", divide="ignore"):
                blended = (mass + pseudo * np.where(known, prior_rates, 0.0)) / (
                    seen + pseudo
                )
            rates = np.where(fresh, blended, rates)
        self._acceptance_rates = rates
        # A class whose rows all weighed 0 in this epoch trained on none of
        # them: they add no rows (at the class's earlier rate they would
        # have stood for trained rows in the prior after rejection).
        seen = np.where(mass > 0, seen, 0.0)
        epoch_rows = seen
        before = self.fit_state_.rows_before
        if before is not None and len(before) == len(seen):
            seen = seen + before
        self._trained_rows = seen
        if not self.prior_correction:
            # An earlier fit's prior would be read as this one's.
            self.__dict__.pop("loss_class_prior_", None)
        else:
            rows = class_prior(None, len(seen), counts=seen)
            # Each class's share of the acceptance mass (its rows times its
            # mean acceptance, which sample weights above 1 raise above 1 in
            # an epoch without rejection), floored as the loss floors it, at
            # 1e-6 of the mass (RejectionLoss.log_prior_after_rejection): a
            # class without mass (no row, or rows of weight 0), or whose
            # rate is tiny, has the share the loss gave it.
            # (rows counts a class without rows once: not a row trained.)
            mass = _acceptance_mass(np.where(seen > 0, rows, 0.0), rates)
            if mass.sum() > 0:
                prior = mass / mass.sum()
                if (prior < MIN_PRIOR_SHARE).any():
                    prior = np.maximum(prior, MIN_PRIOR_SHARE)
                    prior = prior / prior.sum()
            else:
                prior = rows
            self.loss_class_prior_ = prior
        M_before = self.fit_state_.M_before
        # The rows this call has trained on so far (its epochs' rows).
        self.fit_state_.call_rows += float(epoch_rows.sum())
        if (
            self.final_M_ is not None
            and M_before is not None
            and M_before != self.final_M_
            and math.isfinite(self.final_M_)
        ):
            # M="auto" in continued training: the M that the earlier calls
            # left counts as _RATE_PRIOR_ROWS rows of every class against
            # the rows this call has trained on, so that a small chunk's M
            # (solved on a few steps) does not set the inversion of a
            # network that all the earlier rows trained. (Equal values are
            # left as they are, not moved by rounding.)
            rows = self.fit_state_.call_rows
            pseudo = _RATE_PRIOR_ROWS * len(epoch_rows)
            self.final_M_ = math.exp(
                (rows * math.log(self.final_M_) + pseudo * math.log(M_before))
                / (rows + pseudo)
            )
        if not took_step:
            # The network is as the epoch before left it, and so is the rule
            # its output is inverted by; before any epoch of a fresh fit that
            # is none: as a fit of max_epochs=0 leaves it.
            for name in _DECISION_ATTRIBUTES:
                self.__dict__.pop(name, None)
            self.__dict__.update(previous or self._untrained_decision())
        final_M = self.__dict__.get("final_M_")
        if final_M is not None and not math.isfinite(final_M):
            # M="auto" solved nowhere (a first epoch without a step): the
            # network is the initial one, and no rule shaped its output.
            self.final_M_ = None
        # Kept by epoch, for weights that a callback puts back later.
        self.fit_state_.decisions[self.history[-1]["epoch"]] = {
            name: self.__dict__[name]
            for name in _DECISION_ATTRIBUTES
            if name in self.__dict__
        }
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)

    def get_loss(self, y_pred, y_true, X=None, training=False, sample_weight=None):
        """The masked training loss, or the criterion's loss outside training.

        The place to add terms of one's own to the loss, as in skorch: an
        override computes the training loss with ``super().get_loss(y_pred,
        y_true, X=X, training=training, sample_weight=sample_weight)``, which
        applies the rejection rule (a training loss computed without it is
        refused at the first step), and adds to it. Compacted steps
        (``compact=True``) compute their loss without calling it.

        With ``NLLLoss`` the log is taken of a softmax output, as skorch does;
        the rule reads the same log-probabilities.

        Parameters
        ----------
        y_pred : torch.Tensor of shape (n_samples, n_classes)
            The module's output for the batch: logits (with ``NLLLoss``,
            probabilities or log-probabilities).
        y_true : torch.Tensor of shape (n_samples,)
            The batch's labels, encoded as positions in ``classes_``; moved
            to ``device``.
        X : object, default=None
            The batch's inputs, as skorch passes them; not read here.
        training : bool, default=False
            ``True`` in a training step: the loss of the rule
            (:class:`~rsft_sklearn.RejectionLoss`, ``criterion_``).
            ``False`` (the validation loss, skorch's loss scoring): the base
            criterion's loss, reduced as ``criterion__reduction`` says,
            without the rule.
        sample_weight : torch.Tensor of shape (n_samples,) or \
                (n_samples, 2), or None, default=None
            The batch's weights, which the training steps pass under
            ``rejection="budget"`` (the kept rows' loss weights, two columns
            for rows drawn from stored acceptances) or when ``fit`` has
            sample weights (each row's weight in the rule); see
            :meth:`RejectionLoss.forward`. An override must take it and pass
            it on: one that does not take it is refused among ``fit``'s
            argument checks. Ignored outside training.

        Returns
        -------
        loss : torch.Tensor
            In training, 0-d: the masked loss, normalised as
            ``loss_normalization`` says. Outside training, the base losses
            reduced as the criterion's ``reduction`` says: 0-d, or one per
            sample under ``"none"``.
        """
        y_true = on_device(y_true, self.device)
        loss = self.criterion_
        if isinstance(loss.base_criterion, torch.nn.NLLLoss):
            y_pred = log_proba_for_nll(y_pred)
        if not training:
            # The criterion's reduction, as skorch applies it (a mean over
            # the class weights of the rows, for torch's weighted losses).
            reduction = getattr(loss, "reduction", "mean")
            return reduced_loss(loss.base_criterion, y_pred, y_true, reduction)
        if sample_weight is None:
            return loss(y_pred, y_true)
        return loss(y_pred, y_true, sample_weight)

    def _training_forward(self, X, rows, /, **fit_params):
        """``infer`` in a training step of ``rows`` rows, with PyTorch's
        refusal of a single row under BatchNorm named by its cause.
        (Positional-only: a forward argument named ``rows``, given to
        ``fit``, is the module's.)"""
        try:
            return self.infer(X, **fit_params)
        except ValueError as error:
            # PyTorch's own message named neither the batch size nor the fix.
            refused = self.fit_state_.two_rows and _one_row_under_batchnorm(
                error,
                rows,
                *_training_batch_size(
                    self.get_params_for("iterator_train"), self.batch_size
                ),
            )
            if refused:
                raise refused from error
            raise

    def train_step_single(self, batch, **fit_params):
        # Setting the mode walks every submodule; between two training steps
        # nothing switches it back. It is set at the first step of every
        # epoch (the trees are collected then), and at every step for a
        # module with a train of its own (a frozen BatchNorm), as skorch does.
        components = self._modules + self._criteria
        state = self._epoch_state("train_step_single")
        _check_training_thread(self, state)
        trees = state.mode_trees
        if not trees or not all(getattr(self, n + "_").training for n in components):
            self._set_training(True)
        Xi, yi, wi = _unpack(batch)
        plan = self.fit_state_.plan
        if plan is not None and not (
            plan.budgeted or plan.pooled or plan.rows_selected
        ):
            # The steps that take their batches as they come: the batch must
            # carry the fit's sample weights exactly when the fit has them
            # (a collate_fn of its own may drop them, or add a third element
            # of its own, which would be read as weights).
            _check_batch_weights(wi, self.fit_state_.sample_weight is not None)
        yi = on_device(yi, self.device)
        # Rows of a torch Dataset arrive on the CPU, weights included.
        wi = None if wi is None else on_device(wi, self.device)
        if self.fit_state_.plan.compact:
            rows = len(yi)
            forward = partial(
                _checked_forward,
                # The row count positionally: fit_params are the module's.
                lambda X: self._training_forward(X, rows, **fit_params),
                len(self.classes_),
            )
            if isinstance(self.criterion_.base_criterion, torch.nn.NLLLoss):
                # What get_loss hands the loss: log-probabilities (the scoring
                # pass, _score, reads the output the same way).
                forward = partial(_nll_forward, forward)
            score = partial(self._score, **fit_params)
            loss, logits = compacted_loss(
                self.criterion_, score, forward, Xi, yi, wi, self.fit_state_.two_rows
            )
            self._keep_first_output(logits)
            if loss is None:
                steps = self.__dict__.get("_steps_of_call")
                if steps is not None:
                    # No row accepted, no backward pass: the optimiser's
                    # step changes nothing (see _undone_if_untrained).
                    steps.empty = True
                return {"loss": logits.new_zeros(()), "y_pred": scorable_output(logits)}
        else:
            logits = self._training_forward(Xi, len(yi), **fit_params)
            _check_module_output(logits, len(self.classes_))
            self._keep_first_output(logits)
            weight = {} if wi is None else {"sample_weight": wi}
            criterion = self.criterion_.__dict__
            calls = criterion.get("_forward_calls", 0)
            loss = self.get_loss(logits, yi, X=Xi, training=True, **weight)
            # (A forward replaced on the instance, a mock in a test, counts
            # nothing: it is taken at its word.)
            if (
                criterion.get("_forward_calls", 0) == calls
                and "forward" not in criterion
            ):
                _refuse_loss_without_rule(self)
            state = self.fit_state_
            if state.plan.guarded and not state.guard.on_host:
                state.guard.accepted(self.criterion_.step_accepted)
        if not loss.requires_grad and torch.is_grad_enabled():
            # torch's own error named no cause ("element 0 of tensors does
            # not require grad").
            _refuse_loss_without_grad()
        steps = self.__dict__.get("_steps_of_call")
        if steps is not None:
            # This part of the step trains, whatever another part of it
            # accepted (see _CallSteps).
            steps.backward = True
        self._backward(loss)
        # The predictions that skorch caches for EpochScoring(on_train=True).
        return {"loss": loss, "y_pred": scorable_output(logits)}

    def _keep_first_output(self, logits):
        state = self.fit_state_
        if state.first_output is None:
            # A copy of a few rows (not a view that would keep the whole
            # batch's output), read once when the first epoch ends.
            state.first_output = logits.detach()[:64].clone()

    def _check_output_finite(self, dataset, what):
        """Raise if the network's output on the first batch of ``dataset`` is
        not finite, in an epoch that ``what`` (accepted or trained on no
        row): a NaN acceptance rejects its row, so a network whose output is
        NaN has every row rejected. Read once, in such an epoch only."""
        if dataset is None:
            return
        batch = next(iter(self.get_iterator(dataset, training=False)), None)
        if batch is None:
            return
        output = self.evaluation_step(_as_skorch_batch(batch))
        if not bool(torch.isfinite(output).all()):
            raise ValueError(
                f"Epoch {len(self.history)} {what}, and the network's output "
                "is not finite (NaN or inf). Scale the features (for example "
                "with StandardScaler) or lower the learning rate."
            )

    def _warn_stepless(self, message):
        """Warn of an epoch that took no step once per fit, and once for a
        run of continued training (partial_fit, warm_start) after it, and
        again in a later call after an epoch that took a step (the history's
        NaN train_loss marks every such epoch)."""
        state = self.__dict__.get("fit_state_")
        if state is not None and state.warned_stepless:
            # Said in this call: its later epochs re-arm it (the steps
            # between), but a fit whose epochs alternate is told once.
            return
        said = self.__dict__.get("_warned_in_run", frozenset())
        self._warn_once_per_run(
            "stepless",
            f"{message} (Said once per fit, and once for the partial_fit or "
            "warm_start calls that continue it, and again in a later call "
            "after an epoch that takes a step: the history's train_loss is NaN "
            "for every such epoch.)",
        )
        if "stepless" not in said and state is not None:
            state.warned_stepless = True

    def _warn_once_per_run(self, kind, message):
        """Warn of ``kind`` once per fit, and once for a run of continued
        training (partial_fit, warm_start) after it: a loop of partial_fit,
        or a long fit, repeated it per epoch. A fit afresh forgets the kinds
        said (``_warned_in_run``)."""
        said = self.__dict__.get("_warned_in_run", frozenset())
        if kind in said:
            return
        # A new set, not one changed in place: a call that fails puts the
        # estimator's attributes back as they were (a shallow copy).
        self._warned_in_run = said | {kind}
        warnings.warn(message, RSFTWarning, stacklevel=caller_stacklevel())

    def _rearm_warning(self, kind):
        """Let :meth:`_warn_once_per_run` warn of ``kind`` again."""
        said = self.__dict__.get("_warned_in_run", frozenset())
        if kind in said:
            # A new set, as in _warn_once_per_run.
            self._warned_in_run = said - {kind}

    def _warn_if_nonfinite_scores(self):
        """Warn when the epoch's scoring passes (compaction, pooled
        selection) gave rows an output without a softmax (a NaN or +inf, or
        no finite value; a -inf beside finite values is a masked class, and
        valid): those rows were rejected, and the network trained on the
        others only. Read once per epoch."""
        state = self.fit_state_
        bad, state.nonfinite_scores = state.nonfinite_scores, None
        n_bad = 0 if bad is None else int(bad)
        if not n_bad or state.warned_nonfinite:
            return
        # Once per call (the same rows come back every epoch).
        state.warned_nonfinite = True
        rows = "row" if n_bad == 1 else "rows"
        warnings.warn(
            f"The network's output was not finite (a NaN or +inf, or no finite "
            f"value) on {n_bad} {rows} scored in epoch {len(self.history)}: "
            "rejected, and the network trained on the other rows only. Scale "
            "the features (for example with StandardScaler) or lower the "
            "learning rate. (Said once per fit or partial_fit call.)",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )

    def _warn_if_output_misread(self):
        """Warn once per fit when the network's output is not what the
        criterion reads. Probabilities to a criterion that reads logits (a
        final softmax): the loss then trains on softmax(softmax(...)), and
        the rule reads the wrong p. To NLLLoss, neither probabilities nor
        log-probabilities (logits): the loss raises the true class's output
        without bound, which nothing said before predict_proba refused it."""
        state = self.fit_state_
        output, state.first_output = state.first_output, False
        if output is None or output is False or output.shape[0] < 2:
            return
        if len(self.history) != 1:
            # Continued training (partial_fit, warm_start): checked at the
            # first epoch of the estimator's history only.
            return
        if isinstance(self.criterion_.base_criterion, torch.nn.NLLLoss):
            # Read as predict_proba reads it. A row without a softmax (a NaN
            # or +inf, or no finite value) is an error of its own; a -inf
            # beside finite values is a masked class, valid in logits as in
            # log-probabilities (its row's largest value is finite).
            if bool(torch.isfinite(output.amax(dim=1)).all()) and not bool(
                _is_proba(proba_for_nll(output).float())
            ):
                warnings.warn(
                    "The network's output is neither probabilities (non-"
                    "negative rows summing to 1) nor log-probabilities (rows "
                    "whose exponentials sum to 1), which NLLLoss reads: on "
                    "logits the loss raises the true class's output without "
                    "bound, the rule reads the wrong p, and predict_proba "
                    "gives no probabilities. End the network in a log_softmax, or "
                    "use criterion=torch.nn.CrossEntropyLoss (the default), "
                    "which reads logits.",
                    RSFTWarning,
                    stacklevel=caller_stacklevel(),
                )
            return
        if bool(_is_proba(output.float())):
            warnings.warn(
                "The network returns probabilities (non-negative rows summing "
                "to 1), but the criterion reads its output as logits: the loss "
                "trains on a softmax of probabilities, and the rule reads the "
                "wrong p. Remove the network's final softmax, or use "
                "criterion=torch.nn.NLLLoss, which reads probabilities.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )

    def train_step(self, batch, **fit_params):
        state = self._epoch_state("train_step")
        step = super().train_step
        if state.plan.guarded and not state.guard.on_host:
            step = state.guard.wrap(step, lambda: self.criterion_.step_accepted)
        try:
            return step(batch, **fit_params)
        except ValueError as exc:
            _explain_weighted_batch(self, batch, exc)
            raise

    def _step_accepted(self):
        state = self.__dict__.get("fit_state_")
        if state is not None and state.plan is not None and state.plan.guarded:
            # A step that accepted nothing was skipped, on the host or on
            # the device (see EmptyStepGuard).
            return self.criterion_.step_accepted
        return None

    def _step_optimizer(self, step_fn):
        state = self.__dict__.get("fit_state_")
        if (
            step_fn is None
            or state is None
            or state.plan is None
            or not state.plan.guarded
            or not state.guard.on_host
        ):
            if step_fn is not None and state is not None:
                # Whatever the optimiser: one that calls the closure twice
                # (SAM) counted every row twice and drew two masks per step.
                step_fn = _once_per_step(step_fn, self.criterion_)
            return super()._step_optimizer(step_fn)
        # The closure, then the optimiser's step unless nothing was accepted
        # (the single optimiser calls the closure once either way, with
        # gradients on, as here).
        with torch.enable_grad():
            step_fn()
        if self.criterion_.step_accepted.item() > 0:
            super()._step_optimizer(None)

    def _batch_loss(self, loss, training):
        # Reading the value after every batch would make the host wait for
        # the device: the history holds a placeholder that on_epoch_end
        # fills in.
        state = self.__dict__.get("fit_state_")
        if training and state is not None:
            return state.losses.pending(loss)
        return super()._batch_loss(loss, training)


def _positive_rows(y, sample_weight, train, n_classes):
    """Each class's rows of positive weight and all its rows, among the
    ``train`` rows of ``y`` (encoded labels), as an array of shape
    ``(2, n_classes)``; None without sample weights, or when no such row
    weighs 0."""
    if y is None or sample_weight is None:
        return None
    weight, labels = (
        value.cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        for value in (sample_weight, y)
    )
    positive = weight[train] > 0
    if positive.all():
        return None
    labels = labels[train]
    return np.stack(
        [
            class_counts(labels, n_classes, positive),
            class_counts(labels, n_classes),
        ]
    )


def _acceptance_mass(rows, rates):
    """Each class's acceptance mass: its ``rows`` times its acceptance
    ``rates``, 0 for a class without rows or without a finite positive rate
    (NaN for a class never accepted); ``loss_class_prior_`` is its share.
    """
    rows = np.asarray(rows, dtype=np.float64)
    rates = np.asarray(rates, dtype=np.float64)
    known = np.isfinite(rows) & np.isfinite(rates) & (rows > 0) & (rates > 0)
    return np.where(known, rows * np.where(known, rates, 0.0), 0.0)


def _rows_of_positive_weight(seen, positive_rows):
    """The rows of positive weight among an epoch's ``seen`` rows of each
    class, in the share that ``positive_rows`` (see :func:`_positive_rows`)
    gives; ``seen`` itself when that is None."""
    if positive_rows is None:
        return seen
    positive, total = positive_rows
    # Multiplied before dividing: an epoch that sees each row once counts
    # exactly the rows of positive weight.
    return np.where(
        total > 0, seen.astype(np.float64) * positive / np.maximum(total, 1), seen
    )


def _check_batch_weights(weights, weighted):
    """A training batch carries sample weights as its third element when,
    and only when, the fit was given them."""
    if weighted and weights is None:
        raise ValueError(
            "fit was given sample_weight, but a training batch came without "
            "them (as (X, y)): the rows would train unweighted. A collate_fn "
            "of your own must return (X, y, sample_weight) for batches that "
            "carry them, as the default collate does."
        )
    if not weighted and weights is not None:
        raise ValueError(
            "A training batch came with a third element, which RSFTClassifier "
            "reads as sample weights, but fit was given no sample_weight. A "
            "collate_fn must return (X, y); put other per-row inputs in X "
            "(a dict of inputs, for example)."
        )
