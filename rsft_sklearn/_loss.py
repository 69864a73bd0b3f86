"""The rejection rule as a PyTorch loss module."""

import contextlib
import contextvars
import math
import numbers
import warnings

import numpy as np
import torch
from torch import nn

from . import _guards
from ._modules import _one_logit_hint
from ._rejection import (
    _acceptance_probability,
    _true_class_log_proba,
    acceptance_from_log_ratio,
    check_generator,
    check_hardness,
    rejection_mask,
)
from ._schedules import _LOG_M_RANGE, acceptance_log_M
from ._validation import (
    FLOAT32_MAX,
    FLOAT32_SMALLEST,
    RSFTWarning,
    as_real,
    caller_stacklevel,
    check_class_weight,
    shown_number,
)

__all__ = ["RejectionLoss"]

_TINY = torch.finfo(torch.float32).tiny
# The smallest share of the acceptance mass that the prior after rejection
# gives a class (one without mass gets it): read by prediction too.
MIN_PRIOR_SHARE = 1e-6
# Largest scale of the logit adjustment: far beyond any useful value (1 is
# the logit-adjusted loss), and small enough that the shift, at most
# tau * log(1 / MIN_PRIOR_SHARE), leaves float32 logits finite.
MAX_PRIOR_CORRECTION = 1e6
# Buffers whose length is the number of classes; loading a state resizes them.
_PER_CLASS = ("class_weight", "counts", "prior_mass")
# Buffers that sum over rows (an epoch's; earlier trainings' for the
# background mass), kept in float64 (see _counts_dtype).
_SUMS = ("counts", "prior_mass", "_prior_background")
# Values kept between steps by RejectionLoss._cached.
_CACHES = ("_log_ratio", "_log_prior")
# Steps whose counts are added in one go while nothing reads them in between.
_COUNT_GROUP = 64
# The reductions of the loss outside training, as torch's losses (and
# skorch's loss_scoring) take them.
_REDUCTIONS = ("mean", "sum", "none")
# torch's losses still read their old name for "mean" (deprecated there).
_REDUCTION_ALIASES = {"elementwise_mean": "mean"}
# The refusal to count rows in a loss that has no classes yet.
_NO_CLASSES_TO_COUNT = (
    "This RejectionLoss has no classes yet (built without n_classes or "
    "class_weight, it takes them from the logits of its first batch), so its "
    "per-class counts have none to add the rows to. Build it with "
    "n_classes=... (or class_weight=...), or score a batch with it first "
    "(loss_fn.select(logits, y))."
)


def _counts_dtype(device):
    """The dtype of the epoch's sums (counts and acceptance mass) on ``device``.

    float64 where the device has it: float32 stops counting rows at 2**24
    (16,777,216) and, added row by row, loses a share of the acceptance
    mass that grows with the epoch (1% of 900,000 rows of one class in one
    batch). MPS has no float64: the sums stay in float32 there.
    """
    return torch.float32 if torch.device(device).type == "mps" else torch.float64


def check_target_acceptance(M, target_acceptance):
    """``target_acceptance`` as a float in ``(0, 1]``, or None; ``M="auto"``
    needs it, the acceptance rate it holds.

    Checked whatever ``M`` is: a value stored unchecked beside a fixed ``M``
    (``"x"``, ``-1``) failed only once ``M`` was set to ``"auto"``.
    """
    if target_acceptance is None:
        if isinstance(M, str) and M == "auto":
            raise ValueError(
                "M='auto' adapts M to hold an acceptance rate; set "
                "target_acceptance to a float in (0, 1]."
            )
        return None
    value = as_real(target_acceptance)
    if value is None or not 0 < value <= 1:
        raise ValueError(
            "target_acceptance, the acceptance rate that M='auto' holds, must "
            f"be a float in (0, 1] or None, got {shown_number(target_acceptance)}."
        )
    return value


def _check_n_classes(n_classes):
    """``n_classes`` as an int: a whole number >= 1 (a NumPy or 0-d torch
    integer, or a float such as 3.0, too)."""
    value = as_real(n_classes)
    if value is not None and value.is_integer() and value >= 1:
        return int(value)
    raise ValueError(
        f"n_classes must be a whole number >= 1, got {shown_number(n_classes)}."
    )


def _check_M(M, auto=True):
    """A fixed ``M`` as a float: finite, > 0 and a normal float32 number.
    ``auto`` says whether the refusal of a non-number names "auto" (at
    construction) or not (:meth:`RejectionLoss.begin_epoch`)."""
    value = as_real(M)
    if value is None:
        allowed = "a number > 0 or 'auto'" if auto else "a number > 0"
        raise ValueError(f"M must be {allowed}, got {shown_number(M)}.")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"M must be finite and > 0, got {shown_number(M)}.")
    if not FLOAT32_SMALLEST <= value <= FLOAT32_MAX:
        raise ValueError(
            f"M is {value:g}, outside the range of normal float32 numbers "
            f"[{FLOAT32_SMALLEST:.4g}, {FLOAT32_MAX:.4g}], in which the rule "
            "keeps it."
        )
    return value


class RejectionLoss(nn.Module):
    """Loss that trains on the samples the rejection rule accepts.

    Given logits and targets it computes every sample's acceptance
    probability ``a_i = min(1, w_i / (M * p_i ** hardness))`` (``p_i`` the
    model's probability of the true label, ``w_i`` the class target weight
    times an optional sample weight), draws the mask ``m_i ~ Bernoulli(a_i)``
    on the logits' device and returns the masked sum of the per-sample base
    losses divided by a normaliser. Nothing is read back to the host, so the
    module fits into any training loop: plain PyTorch, Lightning, a Hugging
    Face ``Trainer`` or :class:`RSFTClassifier`, which builds one as its
    ``criterion_``. (The one exception costs no wait: sample weights held in
    the host's memory are checked to be finite and ``>= 0`` at every call;
    on an accelerator their values are not checked, and in
    :class:`RSFTClassifier`, whose ``fit`` checks them once, neither.)

    In evaluation mode (``loss.eval()``) it returns the mean of the base
    losses without the rule, which is what a validation loss should be: as
    torch's ``CrossEntropyLoss`` and ``NLLLoss`` take their mean (divided by
    the class weights of the rows' labels, without rows of
    ``ignore_index``), the plain mean for other criteria; a ``reduction``
    attribute set on the module (``RSFTClassifier`` sets it from
    ``criterion__reduction``) of ``"sum"`` or ``"none"`` returns the sum or
    the per-sample losses instead (another value than these and ``"mean"``
    is refused with a ``ValueError`` there). A loss that is not a
    submodule of the network is not switched by ``model.eval()``: call
    ``loss.eval()`` before a validation pass and ``loss.train()`` after it,
    or the validation batches go through the rule (a new mask at every
    call, rows added to the epoch's counts, an adaptive ``M`` moved).

    In training the normaliser counts rows (their acceptance, or the
    batch's rows; see ``loss_normalization``), not the class weights of a
    weighted base criterion: with ``weight=`` the training loss is on
    another scale than the evaluation mean. Every training row needs a
    class in ``[0, n_classes)``, as the rule weighs rows by their class and
    the normaliser counts them: a padding label (``ignore_index=-100``) is
    refused in every kind of step, and a class index given as
    ``ignore_index`` has a loss of 0 but still counts as a row of its
    class. Labels on an accelerator are not read back for this check: there
    a padding label is refused by the steps that weigh or count rows by
    their class, but not by those that do neither (a warm-up step with
    ``count_steps`` false, a ``row_weighted`` step with one weight per
    row), so drop such rows before the loss.

    What the rule carries from one step to the next lives in buffers, so
    ``state_dict`` saves it and ``load_state_dict`` restores it: the class
    target weights, ``M`` (a fixed one as :meth:`begin_epoch` last set it,
    or the adaptive one) and the per-class counts of the current epoch.
    The rule's settings are attributes, which ``state_dict`` leaves out:
    ``hardness``, ``rejecting``, ``count_steps`` and ``row_weighted`` stay
    those of the module that loads the state, so give them again after
    the load (``loss.begin_epoch(hardness=2.0, rejecting=True)``).
    :class:`RSFTClassifier` sets them at every epoch from its parameters,
    and a pickle or a ``copy.deepcopy`` of the module carries them. The
    counts and the acceptance mass are kept in float64 (in float32 on MPS,
    which lacks it), whatever dtype the module is moved to: in float32 an
    epoch stopped counting a class at 2**24 rows and lost part of its
    acceptance mass. A fixed ``M`` and the class weights may be changed in
    place with tensor operations (``loss.M.fill_(2.0)``) or replaced
    (:meth:`set_class_weight`, :meth:`begin_epoch`); a write that bypasses
    torch's version counter (through ``.data`` or a NumPy view) is not seen
    by the per-class table the steps without sample weights read.

    Parameters
    ----------
    criterion : torch.nn.Module or None, default=None
        Per-sample base loss, called as ``criterion(logits, y)`` and returning
        one loss per sample (``reduction="none"``). ``None`` uses
        ``torch.nn.CrossEntropyLoss(reduction="none")``. The class weights
        of a ``CrossEntropyLoss`` or ``NLLLoss`` (``weight=``) multiply
        the rule's: the module warns when ``class_weight`` differs between
        classes or ``prior_correction`` is above 0, which balance them too.
    n_classes : int or None, default=None
        Number of classes; ``None`` takes it from ``class_weight`` or,
        without either, from the logits of the first batch that the loss
        scores (a training step or :meth:`select`), every class weighing 1.
        Until then the loss has no classes to count rows in:
        :func:`~rsft_sklearn.budget_selection` refuses to count a pool in it.
    class_weight : array-like of shape (n_classes,) or None, default=None
        Class target weights, finite and ``> 0``;
        :func:`~rsft_sklearn.class_target_weight` gives them with the largest
        1, which keeps the meaning of ``M`` (weights scaled by ``c`` act as
        ``M / c``). ``None`` weights every class by 1.
    M : float or "auto", default=1.0
        Envelope constant, ``> 0``; ``"auto"`` solves ``M`` at every step so
        that the acceptance rate holds ``target_acceptance`` approximately:
        the running ``log M`` moves a fraction ``smoothing`` of the way from
        the previous step's value to the batch's solution, so while the
        model learns fast the rate lags below the target, the more so at a
        large ``hardness``.
    hardness : float, default=1.0
        Exponent of the model probability in the rule, ``>= 0``.
    rejection : {"sample", "expected"}, default="sample"
        Draw a 0/1 mask, or weight every loss by its acceptance probability.
    loss_normalization : {"accepted", "batch"}, default="accepted"
        Divide the masked loss sum by the number (for ``"expected"``, the
        total weight) of accepted samples, or by the batch size.
        The total weight is held at float32's smallest normal number,
        1.2e-38: a batch whose weights sum below it gets a loss (and
        gradient) scaled down by ``total / 1.2e-38`` rather than the
        weighted mean, so scale weights that small up first (the weighted
        mean does not change).
    target_acceptance : float or None, default=None
        Acceptance rate in ``(0, 1]`` that ``M="auto"`` holds: the mean
        acceptance of a batch's rows of positive weight (a row of
        ``sample_weight`` 0 is never accepted and left out of the rate).
    smoothing : float, default=0.25
        Weight of the newest batch in the adaptive ``log M``, in ``(0, 1]``.
    generator : torch.Generator or None, default=None
        Generator of the masks, on the logits' device; ``None`` draws from
        torch's global generator. It is not part of ``state_dict``, and
        pickles and copies of the module leave it out.
    process_sum : callable or None, default=None
        Sums a tensor over data-parallel processes (an all-reduce); see the
        Notes. ``None`` trains on one process.
    prior_correction : float, default=0.0
        Scale ``tau`` in ``[0, 1e6]`` of a logit adjustment on the class
        prior *after* rejection: in training the base loss sees ``logits +
        tau * log pi'``, where ``pi'_k`` is class ``k``'s share of the
        acceptance mass (its prior times its mean acceptance). With
        ``tau = 1`` this is the logit-adjusted loss (Menon et al., 2021) on
        the data the rule weighted, so the loss removes only the imbalance
        that the rule left, and does not correct twice for what the rule
        already balanced. ``0`` leaves the base loss as it is. The shift is
        added in the logits' dtype: the bound keeps it finite in float32;
        float16 logits hold it up to ``tau`` of about 4,000.

    Attributes
    ----------
    base_criterion : torch.nn.Module
        The per-sample base loss.
    rejecting : bool
        ``False`` trains on every sample (a warm-up epoch), each weighted by
        its ``sample_weight`` when one is given (a sample of weight 0 does
        not train); set it, or pass it to :meth:`begin_epoch`.
    count_steps : bool
        ``True`` (the default) adds every training step's samples to the
        epoch's counts (but those of a ``row_weighted`` step, see there).
        :class:`RSFTClassifier` sets it ``False`` in the
        epochs whose rows it selects ahead of the steps (``"pool"``,
        ``"epoch"``, ``"budget"``): their steps then take their rows as they
        are, without counting them again or weighting them by their sample
        weights, which were in the selection.
    row_weighted : bool
        ``True`` takes the ``sample_weight`` of a training batch as the rows'
        final loss weights and returns their weighted batch mean: the steps
        of a row budget (:func:`~rsft_sklearn.budget_selection`), whose rows
        were scored and selected beforehand. A training batch without
        weights is then refused with a ``ValueError``. Its steps add nothing
        to the epoch's counts, whatever ``count_steps`` says: they see the
        kept rows only. The pool is counted when it is selected, every row
        as seen, the kept ones as accepted and its acceptances as the mass
        of the prior after rejection (``prior_correction``):
        ``budget_selection(acceptance, budget, loss_fn=loss_fn, y=y_pool)``
        counts it so, as :class:`RSFTClassifier` counts its pools.
    repeating : bool
        ``True`` makes a training step evaluate the rule without recording
        it: it adds nothing to the epoch's counts and leaves an adaptive
        ``M`` where it is, so that the same parameters give the same loss.
        It is for an optimiser that evaluates a step's loss several times
        through a closure (:class:`torch.optim.LBFGS`), where every call
        would otherwise count the batch's rows again and move ``M``: set it
        after the closure's first call of the loss, and back to ``False``
        (the default) after ``optimizer.step``, as
        :class:`RSFTClassifier` does. Under ``rejection="sample"`` every
        call still draws a new mask: use ``"expected"`` with such an
        optimiser.

    See Also
    --------
    RSFTClassifier : The scikit-learn estimator built around this module.
    acceptance_probability : The rule as a function of tensors.

    Notes
    -----
    ``process_sum`` makes the normaliser, the "nothing accepted"
    flag, the epoch counts and the prior after rejection global; the loss of
    each process is then divided by ``N / R`` so that averaging gradients
    over the ``R`` processes gives the gradient of the global masked loss.
    Under ``M="auto"`` each process solves ``log M`` on its part of the
    batch, and every process takes the mean of those solutions, so that
    ``M`` is the same everywhere (near, not equal to, the ``M`` that one
    process would solve on the whole batch). With ``process_sum`` set,
    every process must make the same calls in the same order (each step's
    loss, :meth:`begin_epoch`, :meth:`epoch_statistics`), since each of them
    may wait for the others.

    Like BatchNorm, the module has state in training: every training step
    updates its buffers in place (the counts, an adaptive ``M``, the number
    accepted). Compile the network with :func:`torch.compile`, not the
    loss; :func:`torch.func.grad` and :func:`torch.func.vmap` refuse a
    training step of it with an error about an in-place operation. In
    evaluation mode it is a plain loss and works under them; for
    per-sample gradients of the rule, weight the base loss by
    :func:`~rsft_sklearn.acceptance_probability`, a pure function.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import RejectionLoss
    >>> loss_fn = RejectionLoss(class_weight=[0.1, 1.0], generator=torch.Generator())
    >>> logits = torch.zeros(6, 2, requires_grad=True)
    >>> y = torch.tensor([0, 0, 0, 0, 1, 1])
    >>> loss = loss_fn(logits, y)
    >>> loss.backward()
    >>> loss_fn.epoch_statistics()["seen"]
    tensor([4., 2.], dtype=torch.float64)
    """

    # A class default too: modules pickled before the budget mode lack it.
    row_weighted = False

    # Set by an owner whose optimiser evaluates a step's loss again at
    # parameters it compares (LBFGS): such an evaluation records no counts
    # and leaves an adaptive M as it is, so that it gives the same loss.
    repeating = False

    # Set by an owner that checks the sample weights once before training
    # (RSFTClassifier): the steps then do not read their values again.
    _weights_checked = False

    # Set by an owner whose labels are class indices by construction
    # (RSFTClassifier encodes them): the steps that index nothing by the
    # labels (warm-up, rows selected ahead, row-weighted) do not read them.
    _labels_checked = False

    def __init__(
        self,
        criterion=None,
        *,
        n_classes=None,
        class_weight=None,
        M=1.0,
        hardness=1.0,
        rejection="sample",
        loss_normalization="accepted",
        target_acceptance=None,
        smoothing=0.25,
        generator=None,
        process_sum=None,
        prior_correction=0.0,
    ):
        super().__init__()
        if criterion is None:
            criterion = nn.CrossEntropyLoss(reduction="none")
        if isinstance(criterion, type) or not callable(criterion):
            raise TypeError(
                "criterion must be a per-sample loss instance, such as "
                "nn.CrossEntropyLoss(reduction='none'), got "
                f"{criterion!r}."
            )
        if getattr(criterion, "reduction", "none") != "none":
            raise ValueError(
                "The base criterion must return one loss per sample "
                f"(reduction='none'), got reduction={criterion.reduction!r}."
            )
        if isinstance(criterion, _NOT_ON_CLASS_INDICES):
            raise TypeError(
                f"{type(criterion).__name__} compares the output with a target "
                "of its own shape; the rule hands the criterion class indices "
                "(one per row). Use CrossEntropyLoss, NLLLoss, or a criterion "
                "taking (logits, class indices)."
            )
        if rejection not in ("sample", "expected"):
            raise ValueError(
                f"rejection must be 'sample' or 'expected', got {rejection!r}."
            )
        if loss_normalization not in ("accepted", "batch"):
            raise ValueError(
                "loss_normalization must be 'accepted' or 'batch', got "
                f"{loss_normalization!r}."
            )
        self.adaptive = isinstance(M, str) and M == "auto"
        target_acceptance = check_target_acceptance(M, target_acceptance)
        # Compared as the Python float as_real reads: an int beyond the float
        # range (10**400) is inf, which math.isfinite raised an OverflowError
        # on, and a NumPy float16 compared with the bound cast 1e6 to float16,
        # with a RuntimeWarning "overflow encountered in cast".
        if not (
            isinstance(prior_correction, numbers.Real)
            and not isinstance(prior_correction, (bool, np.bool_))
            and math.isfinite(as_real(prior_correction))
            and 0 <= as_real(prior_correction) <= MAX_PRIOR_CORRECTION
        ):
            raise ValueError(
                "prior_correction, the scale of the logit adjustment (1 is the "
                f"logit-adjusted loss), must be a number in [0, "
                f"{MAX_PRIOR_CORRECTION:g}], got {shown_number(prior_correction)}."
            )
        if (
            isinstance(smoothing, bool)
            or not isinstance(smoothing, numbers.Real)
            or not 0 < smoothing <= 1
        ):
            raise ValueError(
                f"smoothing must be in (0, 1], got {shown_number(smoothing)}."
            )
        self.base_criterion = criterion
        self.hardness = check_hardness(hardness)
        self.rejection = rejection
        self.loss_normalization = loss_normalization
        # A float (a Fraction failed in the first step's comparison with a
        # tensor), or None.
        self.target_acceptance = target_acceptance
        self.smoothing = float(smoothing)
        self.generator = check_generator(generator)
        if process_sum is not None and not callable(process_sum):
            # Called at every step: a value that cannot be called failed at
            # the first one, with Python's "object is not callable".
            raise TypeError(
                "process_sum must be a callable that sums a tensor over the "
                "data-parallel processes (an all-reduce, such as accelerate's "
                "reduce with reduction='sum'), or None on one process; got "
                f"{process_sum!r}."
            )
        self.process_sum = process_sum
        self.prior_correction = float(prior_correction)
        self.rejecting = True
        self.count_steps = True
        self.row_weighted = False
        if n_classes is not None:
            n_classes = _check_n_classes(n_classes)
        if class_weight is None:
            class_weight = torch.ones(0 if n_classes is None else int(n_classes))
        class_weight = _checked_class_weight(class_weight)
        if n_classes is not None and int(n_classes) != len(class_weight):
            raise ValueError(
                f"n_classes={n_classes} but class_weight has {len(class_weight)} "
                "entries; give one weight per class."
            )
        if not _BUILT_BY_OWNER.get():
            # RSFTClassifier, which builds its loss, warns of this itself,
            # naming its own parameters (and its balanced posterior).
            _warn_of_criterion_weights(criterion, class_weight, self.prior_correction)
        n = len(class_weight)
        # Plain tensors even when the loss is built under
        # torch.inference_mode: the buffers are updated in place in training.
        # The rule's state is float32 whatever torch's default dtype (as
        # _apply keeps it): under torch.set_default_dtype(torch.float16) an M
        # of 1e5 was inf, and every acceptance 0, without a word.
        state = torch.float32
        with torch.inference_mode(False):
            self.register_buffer("class_weight", class_weight.clone())
            if not self.adaptive:
                M = _check_M(M)
            self.register_buffer(
                "M", torch.tensor(math.nan if self.adaptive else M, dtype=state)
            )
            self.register_buffer("log_M", torch.zeros((), dtype=state))
            self.register_buffer("M_started", torch.zeros((), dtype=torch.bool))
            # Of the current epoch: the sum of log M, the number of steps
            # that solved it, and how many of them found their solution at a
            # bound of its range (see _step_M).
            self.register_buffer("epoch_log_M", torch.zeros(3, dtype=state))
            # Per class: samples seen, accepted, and summed acceptance probability
            # (during an epoch, up to _COUNT_GROUP recorded batches may still be
            # pending: read it after flush_counts, or through epoch_statistics),
            # in float64 where the device has it (see _counts_dtype).
            counts = torch.zeros(3, n)
            counts = counts.to(_counts_dtype(counts.device))
            self.register_buffer("counts", counts)
            # Acceptance mass per class of the last finished epoch (or the class
            # counts of the data): the prior after rejection that the logit
            # adjustment removes, together with the current epoch's mass.
            self.register_buffer("prior_mass", counts.new_zeros(n))
            self.register_buffer(
                "step_accepted", torch.zeros((), dtype=state), persistent=False
            )
            # The acceptance mass that set_class_prior's background adds to
            # the prior after rejection for the whole training (None: none),
            # in the dtype of the counts it is added to. Not in state_dict:
            # the owner gives it at every training's start. A buffer, which
            # an owner's undone call puts back (RSFTClassifier's: a
            # partial_fit that failed at its first batch left its own).
            self.register_buffer("_prior_background", None, persistent=False)
        # Batches recorded but not yet added to ``counts`` (see record).
        self._pending_counts = []
        self.register_state_dict_pre_hook(_flush_before_state_dict)

    # ------------------------------------------------------------------
    # Set-up between steps
    # ------------------------------------------------------------------
    def built_with(
        self,
        *,
        M,
        rejection,
        loss_normalization,
        target_acceptance,
        prior_correction=0.0,
    ):
        """Whether the module was built with these settings (``M`` only as
        fixed or ``"auto"``: a fixed value is set per epoch).

        Parameters
        ----------
        M : float or "auto"
            Compared only as ``"auto"`` or not.
        rejection : {"sample", "expected"}
            Compared with the module's ``rejection``.
        loss_normalization : {"accepted", "batch"}
            Compared with the module's ``loss_normalization``.
        target_acceptance : float or None
            Compared with the module's ``target_acceptance``.
        prior_correction : float, default=0.0
            Compared, as a float, with the module's ``prior_correction``.

        Returns
        -------
        built_with : bool
            ``True`` when every setting equals the module's.
        """
        return (
            (M == "auto") == self.adaptive
            and rejection == self.rejection
            and loss_normalization == self.loss_normalization
            and target_acceptance == self.target_acceptance
            and float(prior_correction) == getattr(self, "prior_correction", 0.0)
        )

    def set_class_weight(self, class_weight):
        """Replace the class target weights (a fit on new data).

        The epoch's counts and the prior after rejection start afresh: give
        the data's prior (:meth:`set_class_prior`) after the weights.

        Parameters
        ----------
        class_weight : array-like or torch.Tensor of shape (n_classes,)
            One weight per class index, finite and ``> 0``, kept as float32
            on the loss's device. The number of classes may differ from the
            module's; a dict or a string is refused with a ``TypeError``.
        """
        weight = _checked_class_weight(class_weight)
        device = self.counts.device
        dtype = _counts_dtype(device)
        self._pending_counts.clear()
        # Plain tensors even when the first batch comes under
        # torch.inference_mode (the buffers are updated in place later).
        with torch.inference_mode(False):
            self.class_weight = weight.to(device).clone()
            self.counts = torch.zeros(3, len(weight), device=device, dtype=dtype)
            self.prior_mass = torch.zeros(len(weight), device=device, dtype=dtype)
        # (A background of the old classes would not add to the new ones.)
        self._prior_background = None

    def set_class_prior(self, class_prior, background=None):
        """Start the prior after rejection from the data's class frequencies.

        Until an epoch has finished, the logit adjustment of
        ``prior_correction`` uses these plus the acceptance mass of the
        current epoch; afterwards, the last finished epoch's mass plus the
        current epoch's. A ``background`` mass is added to both for the whole
        training.

        Parameters
        ----------
        class_prior : array-like or torch.Tensor of shape (n_classes,)
            Each class's frequency, finite and ``>= 0`` with a positive sum,
            one per class of the loss (any number of them while the loss has
            no classes yet). They are added as they are to the current
            epoch's acceptance mass, which sums one acceptance per row:
            shares summing to 1 weigh as one row accepted surely.
        background : array-like or torch.Tensor of shape (n_classes,) or \
                None, default=None
            Acceptance mass per class, finite and ``>= 0``, in the same
            units (one acceptance per row), that stays in the prior after
            rejection until the next call of this method or of
            :meth:`set_class_weight`: the mass of the rows that earlier
            trainings of the network saw, so that continued training on a
            small chunk (one of a single class, say) does not remove that
            chunk's prior alone, which would leave its rows almost no loss
            to train on. ``None`` adds nothing. The mass is the same on
            every process: :meth:`begin_epoch` adds it after the sum over
            the processes.
        """
        values = _prior_values(class_prior)
        n = self.class_weight.numel()
        if (
            values.ndim != 1
            or (n and len(values) != n)
            or not np.all(np.isfinite(values))
            or np.any(values < 0)
            or not values.sum() > 0
        ):
            raise ValueError(
                "class_prior must hold one finite share >= 0 per class "
                f"({n or 'any number of'} classes), with a positive sum; got "
                f"{values.tolist() if values.size <= 10 else values.shape}."
            )
        if background is not None:
            background = _prior_values(background)
            if (
                background.shape != values.shape
                or not np.all(np.isfinite(background))
                or np.any(background < 0)
            ):
                shown = (
                    background.tolist() if background.size <= 10 else background.shape
                )
                raise ValueError(
                    "background must hold one finite acceptance mass >= 0 per "
                    f"class, as class_prior does ({len(values)} classes); got "
                    f"{shown}."
                )
            values = values + background
        with torch.inference_mode(False):
            # In the counts' dtype: the epoch's mass is added to it.
            device, dtype = self.counts.device, self.counts.dtype
            prior = torch.as_tensor(values, dtype=torch.float64)
            self.prior_mass = prior.to(device, dtype).clone()
            self._prior_background = (
                None
                if background is None
                else torch.as_tensor(background, dtype=torch.float64).to(device, dtype)
            )

    def reset_adaptive_M(self):
        """Forget the adaptive ``M``: the next step solves it afresh."""
        self.log_M.zero_()
        self.M_started.fill_(False)

    def begin_epoch(self, M=None, hardness=None, rejecting=None):
        """Zero the epoch's counts and set the rule for the coming epoch.

        Parameters
        ----------
        M : float or None, default=None
            New envelope constant (ignored under ``M="auto"``). An adaptive
            ``M`` is chosen when the loss is built
            (``RejectionLoss(M="auto", target_acceptance=...)``): a loss
            with a fixed ``M`` refuses ``M="auto"`` here.
        hardness : float or None, default=None
            New exponent of the model probability.
        rejecting : bool or None, default=None
            ``False`` trains the epoch on every sample, weighted by its
            sample weight.

        Notes
        -----
        A fixed ``M`` is a buffer, which ``state_dict`` saves; ``hardness``
        and ``rejecting`` are attributes, which it leaves out: give them
        again to a module that loads the state.
        """
        if M is not None and not self.adaptive:
            if isinstance(M, str) and M == "auto":
                # Refused before anything changes, as every other bad M.
                raise ValueError(
                    "M='auto' is chosen when the loss is built, with the "
                    "acceptance rate it holds: RejectionLoss(M='auto', "
                    "target_acceptance=...). This loss has a fixed M, which "
                    "begin_epoch sets to a number > 0 (or leaves as it is, "
                    "with M=None)."
                )
            self.M.fill_(_check_M(M, auto=False))
        if hardness is not None:
            self.hardness = check_hardness(hardness)
        if rejecting is not None:
            self.rejecting = bool(rejecting)
        # The finished epoch's acceptance mass becomes the prior that the
        # next epoch starts from (decided on the device: no host read).
        self.flush_counts()
        counts = self.counts
        if self.process_sum is not None:
            # The prior of the next epoch is that of every process's rows.
            counts = self.process_sum(counts.clone())
        if counts.shape[1] == self.prior_mass.shape[0]:
            seen_any = counts[0].sum() > 0
            mass = counts[2]
            background = self._prior_background
            if background is not None:
                # Once: the same on every process (added after their sum).
                mass = mass + background.to(mass.device, mass.dtype)
            self.prior_mass.copy_(torch.where(seen_any, mass, self.prior_mass))
        # (Otherwise the loss has no classes yet, which it takes from its
        # first batch, and has counted nothing: a prior given to
        # set_class_prior waits for that batch. Its empty counts failed to
        # broadcast with it, "The size of tensor a (0) must match ...".)
        self.counts.zero_()
        self.epoch_log_M.zero_()

    def epoch_statistics(self):
        """The current epoch's statistics, as device tensors.

        Returns
        -------
        statistics : dict of str to torch.Tensor
            ``"seen"``, ``"accepted"`` and ``"acceptance"`` (summed
            probability) per class, in float64 (float32 on MPS, which lacks
            it), and ``"M"``, in float32: the envelope constant (under
            ``"auto"``, the geometric mean over the epoch's steps, the ``M``
            in use when no step of the epoch moved it, NaN before the first
            step). Under ``"auto"``, ``"M_steps"`` counts the epoch's steps
            that solved ``M`` and ``"M_steps_at_bound"`` those of them whose
            solution lay at a bound of ``M``'s range, ``[exp(-80),
            exp(80)]``, where the acceptance rate missed
            ``target_acceptance`` (both float32, 0 under a fixed ``M``).
        """
        self.flush_counts()
        counts = self.counts
        # A snapshot (the counts go on adding up in place), summed over the
        # processes when they share the rule.
        counts = counts.clone()
        if self.process_sum is not None:
            counts = self.process_sum(counts)
        if self.adaptive:
            log_sum, steps, _ = self.epoch_log_M
            # An epoch that solved M in no step (rows drawn from stored
            # acceptances, say) trained at the M it started from.
            held = torch.where(self.M_started, self.log_M, math.nan)
            M = torch.exp(torch.where(steps > 0, log_sum / steps, held))
            # The same on every process: each step's solution is global.
            steps, at_bound = self.epoch_log_M[1:].clone()
        else:
            M = self.M.clone()
            steps, at_bound = self.M.new_zeros(2)
        seen, accepted, acceptance = counts
        return {
            "seen": seen,
            "accepted": accepted,
            "acceptance": acceptance,
            "M": M,
            "M_steps": steps,
            "M_steps_at_bound": at_bound,
        }

    # ------------------------------------------------------------------
    # The rule
    # ------------------------------------------------------------------
    def target_weight(self, y, sample_weight=None):
        """Target weight ``w_i``: class weight times the sample weight.

        Parameters
        ----------
        y : torch.Tensor of shape (n_samples,)
            Class indices (int64 or int32), on the loss's device.
        sample_weight : torch.Tensor of shape (n_samples,) or None, \
                default=None
            Per-sample weights; ``None`` takes the class weights alone.

        Returns
        -------
        weight : torch.Tensor of shape (n_samples,)
            ``class_weight[y]``, times ``sample_weight`` when given.
        """
        weight = self.class_weight.index_select(0, y)
        return weight if sample_weight is None else weight * sample_weight

    def _step_M(self, logits, y, weight):
        """The adaptive ``M`` for this batch, updated on the device."""
        if self.repeating:
            return torch.exp(self.log_M)
        with torch.no_grad():
            if len(y) == 0:
                if self.process_sum is None:
                    # An empty batch has nothing to solve for.
                    return torch.exp(self.log_M)
                # An empty part of a global batch solves nothing either,
                # but its process still joins the others' mean below.
                solved = torch.full_like(self.log_M, math.nan)
                finite = torch.zeros((), dtype=torch.bool, device=solved.device)
            else:
                log_score = torch.log(weight.float()) - self.hardness * (
                    _true_class_log_proba(logits, y)
                )
                # In the dtype of the stored M (float32, see _apply).
                solved = acceptance_log_M(log_score, self.target_acceptance).to(
                    self.log_M.dtype
                )
                # A batch with a NaN or +inf logit (an overflow, whose step
                # a mixed-precision scaler skips) leaves M as it was: one
                # such row shifted the solution of the others, and a batch
                # of them made it NaN for good. (A logit of -inf, a masked
                # class, is a probability of 0 that the rule reads as one;
                # NaN < inf is false.) Decided on the device. A batch whose
                # weights are all 0 (sample weights) solves for nothing
                # either: its log M would sit at the floor of the scores.
                finite = (
                    torch.isfinite(solved)
                    & (weight > 0).any()
                    & (logits < math.inf).all()
                )
            if self.process_sum is not None:
                # One M for every process: the mean of the log M that the
                # processes with something to solve found on their parts.
                total = self.process_sum(
                    torch.stack(
                        [
                            torch.where(finite, solved, torch.zeros_like(solved)),
                            finite.to(solved.dtype),
                        ]
                    )
                )
                finite = total[1] > 0
                solved = total[0] / total[1].clamp(min=1.0)
            moved = torch.lerp(self.log_M, solved, self.smoothing)
            updated = torch.where(self.M_started, moved, solved)
            self.log_M.copy_(torch.where(finite, updated, self.log_M))
            self.M_started.logical_or_(finite)
            # A solution at a bound of the range is one that the bound held
            # away from the batch's own (the scores span more than the
            # range): the step's rate misses the target. (At the upper bound
            # a target of 1 is met all the same: every row is accepted.)
            low, high = _LOG_M_RANGE
            at_bound = solved <= low
            if self.target_acceptance < 1:
                at_bound = at_bound | (solved >= high)
            self.epoch_log_M += torch.stack(
                [
                    self.log_M,
                    torch.ones_like(self.log_M),
                    at_bound.to(self.log_M.dtype),
                ]
            ) * finite.to(self.log_M.dtype)
            return torch.exp(self.log_M)

    def select(self, logits, y, sample_weight=None):
        """Acceptance and mask of every sample of a batch.

        This is the whole rule without the loss: selection strategies that
        score rows in their own pass call it. Under ``M="auto"`` it moves the
        adaptive ``M``. The batch is checked as :meth:`forward` checks it
        (shapes, dtypes, class indices in range).

        Without rejection (``rejecting=False``, a warm-up) every row is
        taken: ``loss_weight`` and ``acceptance`` are the sample weights (ones
        without them), and ``accepted`` marks the rows of a weight above 0.

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The network's output for the batch.
        y : torch.Tensor of shape (n_samples,)
            Class indices.
        sample_weight : torch.Tensor of shape (n_samples,) or None, \
                default=None
            Per-sample weights that multiply the class weights.

        Returns
        -------
        loss_weight : torch.Tensor of shape (n_samples,)
            What multiplies every sample's loss: the 0/1 mask, or the
            acceptance probability under ``rejection="expected"``.
        accepted : torch.Tensor of shape (n_samples,)
            The 0/1 mask (the probabilities under ``"expected"``).
        acceptance : torch.Tensor of shape (n_samples,)
            The acceptance probabilities.
        """
        if self.__dict__.get("_in_forward"):
            # Called by forward, which checked the batch.
            return self._select(logits, y, sample_weight)
        self._check(logits, y, sample_weight)
        y = _as_index(y)
        try:
            return self._select(logits, y, sample_weight)
        except (IndexError, RuntimeError) as exc:
            _raise_if_outside(logits.shape[1], y, exc)
            raise

    def _select(self, logits, y, sample_weight=None):
        # select on a batch checked by the caller.
        self._ensure_class_weight(logits)
        y = _as_index(y)
        if not self.rejecting:
            if not self._labels_checked:
                # Nothing below indexes by the labels, and the normaliser
                # counts every row: a padding label would train as a row of
                # loss 0 (whether or not the step counts its rows).
                _check_counted_labels(y, logits.shape[1])
            if sample_weight is not None and self.count_steps:
                # A warm-up step: every row is taken, each with its sample
                # weight (a row of weight 0 does not train), and the classes
                # are counted by their weights for the prior after rejection.
                # (Steps on rows selected ahead, count_steps false, train on
                # them as they are: their weights were in the selection.)
                weight = sample_weight.to(torch.float32)
                return weight, (weight > 0).to(weight.dtype), weight
            # float32 as the rule's acceptances, whatever the default dtype
            # (float64 ones made the warm-up loss float64).
            ones = torch.ones(len(y), device=logits.device, dtype=torch.float32)
            return ones, ones, ones
        if self.adaptive or sample_weight is not None:
            weight = self.target_weight(y, sample_weight)
            M = self._step_M(logits, y, weight) if self.adaptive else self.M
            acceptance = _acceptance_probability(logits, y, weight, M, self.hardness)
        else:
            acceptance = self._fixed_M_acceptance(logits, y)
        if self.rejection == "expected":
            return acceptance, acceptance, acceptance
        mask = rejection_mask(acceptance, self.generator)
        return mask, mask, acceptance

    def _ensure_class_weight(self, logits):
        if self.class_weight.numel() == 0:
            # Built without classes: every class weighs 1, and a prior given
            # by set_class_prior before the first batch is kept (and kept on
            # a refusal, which changes nothing).
            prior, background = self.prior_mass, self._prior_background
            if prior.numel() and prior.numel() != logits.shape[1]:
                raise ValueError(
                    f"set_class_prior was given {prior.numel()} classes, but the "
                    f"logits have {logits.shape[1]} columns."
                )
            self.set_class_weight(torch.ones(logits.shape[1]))
            if prior.numel():
                self.prior_mass = prior.to(
                    self.prior_mass.device, self.prior_mass.dtype
                )
                self._prior_background = background

    def _fixed_M_acceptance(self, logits, y):
        """:func:`acceptance_probability` under a fixed ``M`` without sample
        weights, with ``log w - log M`` taken once per class (the same
        values in fewer operations per step)."""
        log_ratio = self._log_ratio_table().index_select(0, y)
        return acceptance_from_log_ratio(log_ratio, logits, y, self.hardness)

    def _log_ratio_table(self):
        """``log w - log M`` per class under a fixed ``M``, made again
        whenever the class weights or ``M`` are replaced or changed in
        place."""
        return self._cached(
            "_log_ratio",
            self.class_weight,
            self.M,
            lambda: torch.log(self.class_weight.float()) - torch.log(self.M.float()),
        )

    def _cached(self, name, first, second, make):
        """``make()``, kept under ``name`` until the tensor ``first`` or
        ``second`` is replaced or changed in place (its version counter).

        A write that bypasses the version counter (through ``.data`` or a
        NumPy view of the tensor) is not seen: change ``M`` and the class
        weights in place with tensor operations, or replace them.
        """
        cached = self.__dict__.get(name)
        if (
            cached is not None
            and cached[0] is first
            and cached[1] == first._version
            and cached[2] is second
            and cached[3] == second._version
        ):
            return cached[4]
        value = make()
        self.__dict__[name] = (first, first._version, second, second._version, value)
        return value

    def current_acceptance(self, logits, y, sample_weight=None):
        """The rule's acceptance ``a_i`` of a batch at the current ``M`` and
        ``hardness``, without gradient, whatever the rule's mode (used by the
        row budget when it draws rows from stored acceptances).

        Unlike :meth:`select`, it neither checks the batch nor moves an
        adaptive ``M``, and draws and counts nothing.

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The network's output for the batch.
        y : torch.Tensor of shape (n_samples,)
            Class indices (int64 or int32), on the logits' device.
        sample_weight : torch.Tensor of shape (n_samples,) or None, \
                default=None
            Per-sample weights that multiply the class weights.

        Returns
        -------
        acceptance : torch.Tensor of shape (n_samples,)
            ``min(1, w_i / (M * p_i ** hardness))`` in float32, with ``M``
            the fixed value or, under ``M="auto"``, the adaptive one as it
            stands (1 before any step has solved it).
        """
        weight = self.target_weight(y, sample_weight)
        M = torch.exp(self.log_M) if self.adaptive else self.M
        return _acceptance_probability(logits, y, weight, M, self.hardness)

    def record(self, y, accepted, acceptance):
        """Add a batch to the epoch's per-class counts.

        When the training steps read the counts (the logit adjustment reads
        the acceptance mass), the batch is added at once; otherwise batches
        are added in groups, which takes fewer operations per step. Every
        reader of the counts (:meth:`epoch_statistics`, the next epoch,
        ``state_dict``) calls :meth:`flush_counts` first. Nothing is recorded
        while ``repeating`` is set. A loss built without classes (neither
        ``n_classes`` nor ``class_weight``), which takes them from the first
        batch's logits, refuses to record before that batch with a
        ``ValueError``: the counts have no class to add the rows to.

        Parameters
        ----------
        y : torch.Tensor of shape (n_samples,)
            Class indices (int64 or int32) in ``[0, n_classes)``, every row
            counted as seen in its class. They are copied: the caller may
            refill its buffer before the batch is added.
        accepted : torch.Tensor of shape (n_samples,)
            What each row adds to its class's accepted count: the 0/1 mask,
            or the acceptance probabilities under ``rejection="expected"``
            (the second output of :meth:`select`).
        acceptance : torch.Tensor of shape (n_samples,)
            The acceptance probabilities, added to the classes' acceptance
            mass (the prior after rejection that ``prior_correction``
            reads). A value that is not finite, here or in ``accepted``,
            adds 0.
        """
        if self.repeating:
            return
        if not self.class_weight.numel():
            raise ValueError(_NO_CLASSES_TO_COUNT)
        pending = self._pending_counts
        # Under rejection="expected" the two are one tensor.
        same = acceptance is accepted
        accepted = _plain(accepted)
        # y is the caller's, who may refill a label buffer before the flush.
        pending.append((y.clone(), accepted, accepted if same else _plain(acceptance)))
        if len(pending) >= _COUNT_GROUP or (self.training and self.prior_correction):
            self.flush_counts()

    def __setstate__(self, state):
        super().__setstate__(state)
        if "_prior_background" not in self._buffers:
            # Pickled before the background mass was a buffer (a plain
            # attribute), or before there was one.
            self.register_buffer(
                "_prior_background",
                self.__dict__.pop("_prior_background", None),
                persistent=False,
            )
        if "_pending_counts" not in self.__dict__:
            # Pickled before counts could be pending.
            self._pending_counts = []
            self.register_state_dict_pre_hook(_flush_before_state_dict)
        # Pickled while the sums were float32 (or on MPS, unpickled onto a
        # device with float64): they go on adding up in float64.
        self._sums_in_their_dtype()
        epoch_log_M = self._buffers.get("epoch_log_M")
        if epoch_log_M is not None and epoch_log_M.shape == (2,):
            # Pickled before the steps at a bound of M's range were counted.
            with torch.inference_mode(False):
                self._buffers["epoch_log_M"] = torch.cat(
                    [epoch_log_M, epoch_log_M.new_zeros(1)]
                )

    def _sums_in_their_dtype(self):
        """Put ``counts`` and ``prior_mass`` in the dtype of their device
        (:func:`_counts_dtype`), their values unchanged."""
        for name in _SUMS:
            buffer = self._buffers.get(name)
            if buffer is None:
                continue
            dtype = _counts_dtype(buffer.device)
            if buffer.dtype != dtype:
                with torch.inference_mode(False):
                    self._buffers[name] = buffer.to(dtype)

    def flush_counts(self):
        """Add the recorded batches that are still pending to ``counts``."""
        pending = self._pending_counts
        if not pending:
            return
        if len(pending) == 1:
            y, accepted, acceptance = pending[0]
        else:
            y = torch.cat([entry[0] for entry in pending])
            accepted = torch.cat([entry[1] for entry in pending])
            same = all(entry[1] is entry[2] for entry in pending)
            acceptance = (
                accepted if same else torch.cat([entry[2] for entry in pending])
            )
        stats = torch.stack([torch.ones_like(accepted), accepted, acceptance])
        if stats.dtype != self.counts.dtype:
            stats = stats.to(self.counts.dtype)
        # A row of non-finite logits (an overflow that a mixed-precision
        # scaler skips) counts as seen, not accepted, rather than making the
        # epoch's statistics and the prior after rejection NaN.
        stats = torch.nan_to_num(stats, nan=0.0, posinf=0.0, neginf=0.0)
        # Out of place, then copied: a class index outside the counts fails
        # before any count changes (index_add_ fails part-way through), and
        # the batches stay pending until they are added.
        try:
            added = self.counts.index_add(1, y, stats)
        except (IndexError, RuntimeError) as exc:
            _drop_outside(pending, self.counts.shape[1], exc)
            raise
        state = self.__dict__
        if (
            state.get("_in_forward")
            and "_counts_before_step" not in state
            and not torch.is_inference_mode_enabled()
        ):
            # Within a step: the sum replaces the counts, which are kept
            # until the step ends, to be put back if it fails. (Not under
            # inference mode, whose sum would be an inference tensor that no
            # later step could update.)
            buffers = self._buffers
            state["_counts_before_step"] = buffers["counts"]
            buffers["counts"] = added
        else:
            self.counts.copy_(added)
        pending.clear()

    def normaliser(self, loss_weight, accepted):
        """Divisor of the masked loss sum, and the number accepted.

        Both are summed over processes when ``process_sum`` is set; the
        divisor is then divided by the number of processes.

        Parameters
        ----------
        loss_weight : torch.Tensor of shape (n_samples,)
            What multiplies every sample's loss (the first output of
            :meth:`select`).
        accepted : torch.Tensor of shape (n_samples,)
            The 0/1 mask, or the acceptance probabilities under
            ``rejection="expected"`` (the second output of :meth:`select`).

        Returns
        -------
        normaliser : torch.Tensor
            0-d float32: under ``loss_normalization="accepted"`` the sum of
            ``loss_weight``, at least float32's smallest normal number
            (1.2e-38); under ``"batch"`` the number of rows, at least 1.
        n_accepted : torch.Tensor
            0-d float32: the sum of ``accepted``.
        """
        if self.process_sum is None:
            # One process: no packing for the all-reduce (fewer small ops in
            # every step).
            n_accepted = _plain(accepted).sum()
            if self.loss_normalization == "batch":
                # An empty batch has a loss of 0, not 0 / 0.
                size = float(max(len(loss_weight), 1))
                return n_accepted.new_full((), size), n_accepted
            total = n_accepted if loss_weight is accepted else _plain(loss_weight).sum()
            return total.clamp(min=_TINY), n_accepted
        local = torch.stack(
            [
                loss_weight.new_full((), float(len(loss_weight))),
                loss_weight.detach().sum(),
                accepted.detach().sum(),
                loss_weight.new_ones(()),
            ]
        ).float()
        if self.process_sum is not None:
            local = self.process_sum(local)
        n_rows, total_weight, n_accepted, n_processes = local
        if self.loss_normalization == "batch":
            # An empty batch has a loss of 0, not 0 / 0, as on one process.
            normaliser = n_rows.clamp(min=1.0)
        else:
            normaliser = total_weight.clamp(min=_TINY)
        if self.process_sum is not None:
            normaliser = normaliser / n_processes
        return normaliser, n_accepted

    def log_prior_after_rejection(self):
        """``log pi'``: each class's share of the acceptance mass, on the device.

        The mass is that of the last finished epoch (at first, the class
        frequencies given to :meth:`set_class_prior`) plus the current
        epoch's, and the background mass given to :meth:`set_class_prior`
        (an earlier training's rows) when there is one.
        A class with no mass yet gets a small finite share.

        The result is kept until the counts or the prior mass change (their
        version counters): the steps of a row budget add their pool's counts
        once per pool, not once per step. It is computed in the dtype of the
        counts (float64 where the device has it) and returned in float32,
        the dtype of the logits it shifts.
        """
        self.flush_counts()

        def make():
            counts = self.counts[2]
            if self.process_sum is not None:
                # The epoch's mass of every process's rows so far.
                counts = self.process_sum(counts.clone())
            mass = self.prior_mass + counts
            total = mass.sum()
            floor = torch.clamp(total * MIN_PRIOR_SHARE, min=_TINY)
            log_prior = torch.log(torch.maximum(mass, floor)) - torch.log(
                torch.clamp(total, min=_TINY)
            )
            return log_prior.float()

        if self.process_sum is not None:
            # Every process computes it at every step: a cached value on one
            # process would skip the sum that the others wait in.
            return make()
        return self._cached("_log_prior", self.counts, self.prior_mass, make)

    def _base_losses(self, logits, y):
        if not (self.training and self.prior_correction > 0):
            return _per_sample(self.base_criterion(logits, y), len(y))
        shift = self.prior_correction * self.log_prior_after_rejection()
        inputs = logits + shift.to(logits.dtype)
        if isinstance(self.base_criterion, nn.NLLLoss):
            # Log-probabilities stay normalised after the shift.
            inputs = torch.log_softmax(inputs, dim=1)
        return _per_sample(self.base_criterion(inputs, y), len(y))

    def forward(self, logits, y, sample_weight=None):
        """Normalised masked loss of a batch (the criterion's mean in eval
        mode).

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The network's output for the batch, floating point, on the
            loss's device.
        y : torch.Tensor of shape (n_samples,)
            Class indices (any integer dtype), in ``[0, n_classes)`` in
            training.
        sample_weight : torch.Tensor of shape (n_samples,) or \
                (n_samples, 2), or None, default=None
            Per-sample weights ``>= 0`` that multiply the class weights in
            the rule (in a warm-up, ``rejecting=False``, they weigh the
            losses instead; with ``count_steps`` false, steps on rows
            selected ahead, they are not read and the loss is the plain
            mean). A ``row_weighted`` loss requires them in
            training and takes them as the rows' final loss weights (two
            columns, of shape ``(n_samples, 2)``, for rows drawn from stored
            acceptances: the scaled ``1 / q_i`` and the sample weight).
            In evaluation mode they are checked as in training (their
            shape, and values held in the host's memory) but not used.

        Returns
        -------
        loss : torch.Tensor
            In training, 0-d: the sum of the base losses, each times its
            0/1 mask (its acceptance under ``rejection="expected"``; in a
            warm-up, its sample weight or 1, and 1 with ``count_steps``
            false), divided by
            :meth:`normaliser`; under ``row_weighted``, the batch mean of
            the base losses times ``sample_weight``. In evaluation mode, the
            base losses reduced as the ``reduction`` attribute says (the
            mean without one): 0-d, or one per sample under ``"none"``.
        """
        self._check(logits, y, sample_weight)
        y = _as_index(y)
        state = self.__dict__
        state["_in_forward"] = True
        # Counted for the owner's training step, which checks that an
        # overridden get_loss went through the rule.
        state["_forward_calls"] = state.get("_forward_calls", 0) + 1
        # A step that fails (a refused batch, an error of the base
        # criterion, an interruption) leaves the state as it was before it:
        # its counts, the counts it flushed, and the adaptive M it moved.
        pending = list(self._pending_counts)
        M_state = (
            (self.log_M.clone(), self.M_started.clone(), self.epoch_log_M.clone())
            if self.adaptive and self.training and not self.repeating
            else None
        )
        try:
            return self._loss(logits, y, sample_weight)
        except BaseException as exc:
            counts = state.pop("_counts_before_step", None)
            if counts is not None:
                # The step's flush had added the pending batches.
                self._buffers["counts"] = counts
                self._pending_counts[:] = pending
            else:
                # The step's own batch is dropped; so are earlier batches
                # that a failed flush found outside the classes.
                before = {id(entry) for entry in pending}
                self._pending_counts[:] = [
                    entry for entry in self._pending_counts if id(entry) in before
                ]
            if M_state is not None:
                for name, value in zip(("log_M", "M_started", "epoch_log_M"), M_state):
                    getattr(self, name).copy_(value)
            if isinstance(exc, (IndexError, RuntimeError)):
                _raise_if_outside(
                    logits.shape[1],
                    y,
                    exc,
                    evaluated_by=None if self.training else self.base_criterion,
                )
            raise
        finally:
            state["_in_forward"] = False
            state.pop("_counts_before_step", None)

    def _check(self, logits, y, sample_weight):
        if isinstance(logits, torch.Tensor):
            _check_state_device(self._buffers["counts"], logits)
        _check_batch(
            logits,
            y,
            sample_weight,
            self._buffers["class_weight"].shape[0],
            self.row_weighted,
            # Weights an owner checked once, before training, are not read
            # again at every step.
            check_values=not self._weights_checked,
        )

    def _loss(self, logits, y, sample_weight):
        if not self.training:
            # An empty batch has a loss of 0, as in training, not 0 / 0. The
            # reduction an owner gave (RSFTClassifier's criterion__reduction)
            # applies here.
            reduction = self.__dict__.get("reduction", "mean")
            return reduced_loss(self.base_criterion, logits, y, reduction)
        if self.row_weighted and sample_weight is None:
            # The steps of a row budget train on rows drawn with bounded
            # probabilities: without their weights the loss is not the rule's
            # in expectation, and would be computed here without a word.
            raise ValueError(
                "This RejectionLoss is row_weighted (the steps of "
                "rejection='budget'), but a training batch came without its "
                "rows' weights: pass them as sample_weight. In RSFTClassifier, "
                "an overridden get_loss must pass sample_weight on to the "
                "criterion."
            )
        if self.row_weighted:
            # Rows of a budget (rejection="budget") carry importance weights
            # already scaled to the rule's normaliser: the batch mean of the
            # weighted losses is unbiased for the rule's loss. The logit
            # adjustment applies to them as to every other step. Nothing is
            # counted: the pool was, when its rows were selected.
            # A loss built without classes takes them from the logits here
            # too: the logit adjustment and the acceptance of rows drawn from
            # stored acceptances read the per-class buffers, which had none.
            self._ensure_class_weight(logits)
            if not self._labels_checked:
                # One weight per row indexes nothing by the labels: a
                # padding label would train as a row of loss 0.
                _check_counted_labels(y, logits.shape[1])
            losses = self._base_losses(logits, y)
            weight = sample_weight
            if weight.dim() == 2:
                # Rows drawn from stored acceptances: the first column is the
                # scaled 1 / q_i, and the rule's weight a_i is the row's
                # acceptance now, from this very forward pass.
                weight = weight[:, 0] * self.current_acceptance(logits, y, weight[:, 1])
            weighted_sum = (losses * weight).sum()
            if self.process_sum is None:
                self.step_accepted.fill_(len(losses))
                # An empty batch has a loss of 0, not 0 / 0.
                return weighted_sum / max(len(losses), 1)
            # The mean over the global batch, as the other steps' normaliser
            # is global: each process divides its sum by the global rows
            # over the number of processes, so that the averaged gradient is
            # the global batch's (a local mean weighed every process alike,
            # and an empty part made the loss NaN).
            n_rows, n_processes = self.process_sum(
                torch.stack(
                    [
                        weighted_sum.new_full((), float(len(losses))),
                        weighted_sum.new_ones(()),
                    ]
                ).float()
            )
            self.step_accepted.copy_(n_rows)
            return weighted_sum / (n_rows.clamp(min=1.0) / n_processes)
        if (
            not self.rejecting
            and (sample_weight is None or not self.count_steps)
            and self.process_sum is None
            and len(y)
        ):
            # Every row counts once (warm-up, or rows selected ahead of the
            # step): the plain mean, without a mask of ones. A padding label
            # would count in it, whether or not the step counts its rows.
            self._ensure_class_weight(logits)
            if not self._labels_checked:
                _check_counted_labels(y, logits.shape[1])
            if self.count_steps:
                # Before the loss: the logit adjustment includes this batch.
                ones = torch.ones(len(y), device=logits.device, dtype=torch.float32)
                self.record(y, ones, ones)
            self.step_accepted.fill_(len(y))
            return self._base_losses(logits, y).mean()
        loss_weight, accepted, acceptance = self.select(logits, y, sample_weight)
        if self.count_steps:
            self.record(y, accepted, acceptance)
        losses = self._base_losses(logits, y)
        normaliser, n_accepted = self.normaliser(loss_weight, accepted)
        self.step_accepted.copy_(n_accepted)
        return (losses * loss_weight).sum() / normaliser

    # ------------------------------------------------------------------
    # Saving
    # ------------------------------------------------------------------
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved_M = state_dict.get(prefix + "M")
        if saved_M is not None and saved_M.dim() == 0:
            # An adaptive M is stored as NaN: a fixed-M loss would take it and
            # compute nothing but zeros and NaN from then on.
            saved_adaptive = bool(torch.isnan(saved_M))
            if saved_adaptive != self.adaptive:
                kinds = {True: "M='auto'", False: "a fixed M"}
                raise ValueError(
                    f"This state dict comes from a RejectionLoss with "
                    f"{kinds[saved_adaptive]}, and this one has "
                    f"{kinds[self.adaptive]}; build the loss with the same M "
                    "setting before loading it."
                )
        # Batches recorded before the load belong to the state it replaces
        # (a refused load, above, keeps them).
        self._pending_counts.clear()
        key = prefix + "epoch_log_M"
        saved = state_dict.get(key)
        if saved is not None and saved.shape == (2,):
            # Saved before the steps at a bound of M's range were counted:
            # none are. (load_state_dict hands its own copy of the dict.)
            state_dict[key] = torch.cat([saved, saved.new_zeros(1)])
        # A module built before the data were seen has no classes yet.
        for name in _PER_CLASS:
            saved = state_dict.get(prefix + name)
            current = getattr(self, name)
            if saved is not None and saved.shape != current.shape:
                setattr(self, name, current.new_zeros(saved.shape))
        # Sums saved in float32 (before they were float64, or on MPS) are
        # copied into the float64 buffers; those saved in float64 into the
        # float32 buffers of MPS. (load_state_dict(assign=True) takes the
        # saved tensors: put back into their dtype below.)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        self._sums_in_their_dtype()

    def _apply(self, fn, recurse=True):
        # .half(), .bfloat16() or .to(dtype) would take the rule's state along:
        # counts past 2048 rows (bfloat16: 256) that no longer add up, a
        # class count of inf past 65,504 rows in float16, and an adaptive M
        # whose step count stops. The state keeps its dtype, its values
        # untouched (they are not passed through the lower precision): the
        # epoch's sums in float64 (float32 on MPS, see _counts_dtype), the
        # rest in float32. The logits may be in any precision, and the base
        # criterion follows the module.
        before = {
            name: buffer
            for name, buffer in self._buffers.items()
            if buffer is not None and buffer.is_floating_point()
        }
        # MPS refuses float64 tensors: the sums go there in float32. (The
        # device fn sends the state to, read from a tensor like it.)
        target = fn(torch.zeros((), device=self._buffers["counts"].device)).device
        if _counts_dtype(target) != torch.float64:
            for name in _SUMS:
                if self._buffers[name] is not None:
                    self._buffers[name] = self._buffers[name].float()
        super()._apply(fn, recurse)
        for name, buffer in before.items():
            moved = self._buffers[name]
            if moved is None:
                continue
            dtype = _counts_dtype(moved.device) if name in _SUMS else torch.float32
            if moved.dtype != dtype:
                self._buffers[name] = buffer.to(moved.device, dtype)
        return self

    def __getstate__(self):
        # The generator and the process group belong to the training run
        # (and possibly to a device that the unpickling machine lacks); the
        # cached tables are made again from the state they were made from.
        # The pending batches are added to the counts first, as state_dict
        # does: pickled, they would carry every recorded row's label.
        self.flush_counts()
        state = {**self.__dict__, "generator": None, "process_sum": None}
        for name in _CACHES:
            state.pop(name, None)
        return state

    def extra_repr(self):
        M = "'auto'" if self.adaptive else f"{float(self.M):g}"
        text = (
            f"M={M}, hardness={self.hardness:g}, rejection={self.rejection!r}, "
            f"loss_normalization={self.loss_normalization!r}"
        )
        if self.prior_correction:
            text += f", prior_correction={self.prior_correction:g}"
        return text


def reduced_loss(criterion, logits, y, reduction="mean"):
    """``criterion``'s loss outside training (its ``reduction`` set to
    ``"none"``), reduced as ``reduction`` says.

    The mean is torch's own for ``CrossEntropyLoss`` and ``NLLLoss`` (as they
    are, not subclasses with a ``forward`` of their own): the per-sample losses
    carry the class weights, so their sum is divided by the weights of the
    rows' labels, and rows of ``ignore_index`` count in neither. For other
    criteria it is the plain mean. An empty batch has a loss of 0. Another
    ``reduction`` than ``"mean"``, ``"sum"`` or ``"none"`` (or
    ``"elementwise_mean"``, torch's old name for ``"mean"``) is refused with
    a ``ValueError``.
    """
    reduction = _check_reduction(reduction)
    losses = criterion(logits, y)
    if reduction == "none" or not losses.dim():
        return losses
    if reduction == "sum" or not losses.numel():
        return losses.sum()
    builtin = (torch.nn.CrossEntropyLoss, torch.nn.NLLLoss)
    if (
        isinstance(criterion, builtin)
        and type(criterion).forward in (cls.forward for cls in builtin)
        and not y.is_floating_point()
        and tuple(y.shape) == tuple(losses.shape)
    ):
        kept = y != criterion.ignore_index
        weight = criterion.weight
        if weight is None:
            total = kept.sum()
        else:
            # (As indices: torch reads uint8 labels as class indices, and
            # indexing with them would read a mask.)
            labels = torch.where(kept, y, torch.zeros_like(y)).long()
            total = (weight.to(losses.dtype)[labels] * kept).sum()
        return losses.sum() / total
    return losses.mean()


def _check_reduction(reduction):
    """``reduction`` if torch's losses take it (``"mean"``, ``"sum"`` or
    ``"none"``; ``"elementwise_mean"`` read as ``"mean"``, as torch reads
    it); a ``ValueError`` naming them otherwise."""
    if isinstance(reduction, str):
        reduction = _REDUCTION_ALIASES.get(reduction, reduction)
    if not (isinstance(reduction, str) and reduction in _REDUCTIONS):
        raise ValueError(
            "reduction, the reduction of the loss in evaluation mode (in "
            "RSFTClassifier, criterion__reduction), must be 'mean', 'sum' or "
            f"'none', as in torch's losses; got {reduction!r}."
        )
    return reduction


# Set while an estimator of the package builds its loss module: it gives
# the construction warnings itself, in its own terms. (A flag, not a look at
# the caller's frame: a subclass's own __init__ is the caller then.)
_BUILT_BY_OWNER = contextvars.ContextVar("rsft_loss_built_by_owner", default=False)


@contextlib.contextmanager
def built_by_owner():
    """Build :class:`RejectionLoss` modules (and subclasses) whose owner, an
    estimator that warns of its settings itself, gives the warnings of
    their construction."""
    token = _BUILT_BY_OWNER.set(True)
    try:
        yield
    finally:
        _BUILT_BY_OWNER.reset(token)


def _warn_of_criterion_weights(criterion, class_weight, prior_correction):
    """Warn that class weights in a cross-entropy or NLL criterion come on
    top of what balances the classes already: the rule's class weights
    (when they differ between classes) and the logit adjustment. The
    wording is that of RSFTClassifier's warning, in the loss's terms."""
    if not (
        isinstance(criterion, (nn.CrossEntropyLoss, nn.NLLLoss))
        and criterion.weight is not None
    ):
        return
    balancing = []
    if len(class_weight) > 1 and not bool((class_weight == class_weight[0]).all()):
        balancing.append("the rule's class weights (class_weight)")
    if prior_correction:
        balancing.append(
            f"the logit adjustment (prior_correction={prior_correction:g})"
        )
    if not balancing:
        return
    warnings.warn(
        "The criterion's class weights (its weight=) re-weight the classes on "
        f"top of {', and '.join(balancing)}, so they are balanced more than "
        "once. Give class weights once: as class_weight; or, for "
        "class-weighted cross-entropy alone, leave class_weight at None (or "
        "equal weights) and prior_correction at 0 (its training loss is a mean "
        "over rows, not divided by their class weights as torch's mean and the "
        "evaluation loss are).",
        RSFTWarning,
        stacklevel=caller_stacklevel(),
    )


def _checked_class_weight(class_weight):
    """Class weights as a float32 tensor: one dimension, finite and > 0."""
    if isinstance(class_weight, torch.Tensor):
        class_weight = _host_array(class_weight)
    if isinstance(class_weight, (dict, str)):
        raise TypeError(
            "class_weight must be an array of one weight per class index, got "
            f"{type(class_weight).__name__}; class_target_weight turns a "
            "target into one."
        )
    # The entries as they are, for check_class_weight to read one by one:
    # read as float64 first, bools and numeric strings ([True, True],
    # ["0.5", "1"]) passed as numbers.
    entries = (
        class_weight
        if isinstance(class_weight, np.ndarray)
        else np.asarray(class_weight, dtype=object)
    )
    if entries.ndim != 1:
        raise ValueError(
            "class_weight must hold one weight per class (one dimension), got "
            f"shape {entries.shape}."
        )
    values = check_class_weight(entries, len(entries), "class_weight")
    weight = torch.as_tensor(values, dtype=torch.float32)
    if not bool(torch.isfinite(weight).all()):
        # Finite in float64, inf in float32: the class's acceptance would be
        # NaN or 1 whatever M.
        raise ValueError(
            "class_weight holds weights beyond the float32 range, the type the "
            f"rule computes in (largest {values.max():.3g}; float32 holds up "
            f"to {FLOAT32_MAX:.3g}): divide them by the largest, and M by the "
            "same number, which keeps the rule."
        )
    if values.size and not bool((weight > 0).all()):
        raise ValueError(
            "class_weight holds weights that float32, the type the rule "
            f"computes in, rounds to 0 (smallest {values.min():.3g}): that class "
            "would never be accepted. Give weights above 1e-38 (divide by the "
            "largest)."
        )
    return weight


def _prior_values(values):
    """A prior or a mass per class (a tensor on any device too) as a float64
    NumPy array."""
    return np.asarray(
        _host_array(values) if isinstance(values, torch.Tensor) else values,
        dtype=np.float64,
    )


def _host_array(tensor):
    """A tensor's values as a NumPy array (bfloat16, which NumPy lacks, as
    float32)."""
    tensor = tensor.detach().cpu()
    if tensor.dtype == torch.bfloat16:
        tensor = tensor.float()
    return tensor.numpy()


def _check_state_device(state, logits):
    """Refuse logits on another device than the loss's state, which torch
    would refuse in the middle of the rule with a message about tensors."""
    if logits.device != state.device:
        raise ValueError(
            f"The logits are on {logits.device}, but the RejectionLoss holds its "
            f"state on {state.device}; move the loss to the logits' device, as "
            f"the network: loss_fn.to({str(logits.device)!r})."
        )


def _check_batch(logits, y, sample_weight, n_classes, row_weighted, check_values=True):
    """Refuse a batch whose shapes the loss would misread, naming what is
    wrong (shapes, dtypes and devices only: nothing is read back from the
    device)."""
    expected = "logits must be a 2-d tensor of shape (batch, n_classes)"
    if not isinstance(logits, torch.Tensor):
        # TypeError, as the estimator names a module's output of the wrong
        # kind (a tuple has no shape to name).
        raise TypeError(f"{expected}, got {type(logits).__name__}.")
    if logits.dim() != 2:
        shape = tuple(logits.shape)
        raise ValueError(
            f"{expected}, got Tensor of shape {shape}."
            + _one_logit_hint(shape, n_classes)
        )
    n = logits.shape[0]
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"y must be a 1-d tensor of {n} class indices (one per row of "
            f"logits), got {type(y).__name__}; convert it with "
            "torch.as_tensor(y, device=logits.device)."
        )
    if y.dim() != 1:
        raise ValueError(
            f"y must be a 1-d tensor of {n} class indices (one per row of "
            f"logits), got shape {tuple(y.shape)}."
        )
    if y.shape[0] != n:
        # Named without blaming either: most often the network dropped or
        # added rows.
        raise ValueError(
            f"logits have {n} rows but y holds {y.shape[0]} labels: the "
            "network must return one row of logits per input row (and y hold "
            "one label per row)."
        )
    if y.is_floating_point() or y.is_complex():
        # Any integer dtype (and bool, as 0 and 1) is taken, as by
        # acceptance_probability: _as_index converts it to int64.
        raise TypeError(f"y must hold integer class indices, got dtype {y.dtype}.")
    if y.device != logits.device:
        # Refused by name: torch refuses it somewhere in the rule, and the
        # check of the labels that follows an error there read them on their
        # device, which hid torch's message. (Comparing devices reads
        # nothing from them.)
        raise ValueError(
            f"y is on {y.device}, but the logits are on {logits.device}: move "
            "the labels to the logits' device, "
            f"y.to({str(logits.device)!r})."
        )
    if not logits.dtype.is_floating_point:
        raise TypeError(
            f"logits must be floating-point scores, got dtype {logits.dtype}."
        )
    if logits.shape[1] == 0:
        raise ValueError("logits have no column: there is no class to score.")
    if n_classes and logits.shape[1] != n_classes:
        raise ValueError(
            f"logits have {logits.shape[1]} columns but the loss holds "
            f"{n_classes} class weights."
            + _one_logit_hint(tuple(logits.shape), n_classes)
        )
    if sample_weight is not None:
        shape = tuple(getattr(sample_weight, "shape", ()))
        if not isinstance(sample_weight, torch.Tensor) or not (
            shape == (n,) or row_weighted and shape == (n, 2)
        ):
            raise ValueError(
                f"sample_weight must be a tensor of shape ({n},) (one weight "
                f"per row), got {type(sample_weight).__name__} of shape {shape}."
            )
        if sample_weight.dtype == torch.bool or sample_weight.dtype.is_complex:
            raise TypeError(
                "sample_weight must hold real numbers, got dtype "
                f"{sample_weight.dtype}."
            )
        if check_values and n and _reads_are_free(sample_weight):
            # A negative or NaN weight would make the row's acceptance NaN:
            # never drawn, or a NaN loss. The values are checked where reading
            # them costs no wait for a device; on an accelerator the estimator
            # checks them once, before training.
            valid = torch.isfinite(sample_weight) & (sample_weight >= 0)
            if not bool(valid.all()):
                bad = sample_weight[~valid][:5].tolist()
                raise ValueError(
                    f"sample_weight must hold finite values >= 0, got {bad}."
                )


def _raise_if_outside(n_classes, y, exc, evaluated_by=None, advice=None):
    """A ValueError naming the class indices of ``y`` outside the logits'
    ``n_classes`` columns, if any (read only once something failed: the steps
    read nothing back from the device).

    In training every row needs a class, as the rule weighs it by its class.
    In evaluation mode (``evaluated_by``, the base criterion), labels equal
    to its ``ignore_index`` are valid: the criterion leaves their rows out.
    ``advice`` replaces the training advice of the message.
    """
    ignore_index = getattr(evaluated_by, "ignore_index", None)
    outside = (y < 0) | (y >= n_classes)
    if isinstance(ignore_index, int):
        outside &= y != ignore_index
    if not (len(y) and bool(outside.any())):
        return
    bad = torch.unique(y[outside]).tolist()[:5]
    if advice is None and evaluated_by is None:
        advice = (
            "In training every row needs a class, as the rule weighs it by its "
            "class: drop rows of a padding label (an ignore_index such as "
            "-100) before the loss."
        )
    elif advice is None:
        kept = (
            f", or the base criterion's ignore_index ({ignore_index}), whose "
            "rows the loss leaves out"
            if isinstance(ignore_index, int)
            else ""
        )
        advice = (
            "In evaluation mode every label must be the index of one of the "
            f"logits' {n_classes} columns{kept}."
        )
    raise ValueError(
        f"y holds class indices outside [0, {n_classes}): {bad}. {advice}"
    ) from exc


def _check_counted_labels(y, n_classes):
    """Refuse labels outside ``[0, n_classes)`` in a step whose normaliser
    counts its rows without indexing anything by their labels (a warm-up
    step, a step on rows selected ahead, a row-weighted step: a criterion
    with an ``ignore_index`` takes a padding label there), where reading
    them makes nobody wait. On an accelerator, adding the counts refuses
    them in the steps that count their rows."""
    if len(y) and _reads_are_free(y):
        _raise_if_outside(n_classes, y, None)


def check_pool_labels(y, n_classes):
    """Refuse the labels of a pool that is counted outside the loss's steps
    (:func:`~rsft_sklearn.budget_selection`), when the rows cannot be
    counted: a loss without classes yet (``n_classes`` 0), or, where
    reading the labels makes nobody wait, labels outside ``[0, n_classes)``.

    Either was found only later, if ever: a loss without classes dropped
    the pool's counts without a word, and a label outside the classes was
    refused by whichever call next read the counts (``state_dict``,
    :meth:`RejectionLoss.epoch_statistics`).
    """
    if not n_classes:
        raise ValueError(_NO_CLASSES_TO_COUNT)
    if len(y) and _reads_are_free(y):
        _raise_if_outside(
            n_classes,
            y,
            None,
            advice=(
                "Every row of the pool is counted in its class: drop rows of a "
                "padding label (an ignore_index such as -100) from the pool."
            ),
        )


def _reads_are_free(tensor):
    """Reading ``tensor``'s values on the host makes nobody wait (it is in
    the host's memory already)."""
    return tensor.device.type in _guards.HOST_READ_DEVICES


# Criteria whose target has the output's shape, not one class index per row.
_NOT_ON_CLASS_INDICES = (
    nn.BCELoss,
    nn.BCEWithLogitsLoss,
    nn.MSELoss,
    nn.L1Loss,
    nn.SmoothL1Loss,
    nn.HuberLoss,
    nn.KLDivLoss,
    nn.MultiLabelSoftMarginLoss,
    nn.MultiLabelMarginLoss,
)


def _as_index(y):
    """Class indices as int64, which torch's losses and index ops take
    (int32 labels, as ``torch.from_numpy`` often gives, are converted on
    the device)."""
    return y if y.dtype == torch.int64 else y.long()


def _per_sample(losses, n):
    """The base criterion's losses, refused unless one per row: a reduced
    loss (a criterion that ignores ``reduction="none"``) would make the rule
    a no-op, and a column ``(n, 1)`` would broadcast against the weights."""
    if losses.shape != (n,):
        raise ValueError(
            "The base criterion must return one loss per sample (shape "
            f"({n},), with reduction='none'), got shape {tuple(losses.shape)}. "
            "A custom criterion must honour its reduction attribute."
        )
    return losses


def _plain(tensor):
    """``tensor.detach().float()``, without the calls where they change
    nothing (a mask or acceptance computed without gradient)."""
    if tensor.requires_grad:
        tensor = tensor.detach()
    return tensor if tensor.dtype == torch.float32 else tensor.float()


def _flush_before_state_dict(module, prefix, keep_vars):
    module.flush_counts()


def _drop_outside(pending, n_classes, exc):
    """Drop the recorded batches whose labels lie outside ``[0, n_classes)``
    and raise a ValueError naming them (read only once adding the counts
    failed). Kept pending, they would make every later reader of the
    counts fail."""
    kept, bad = [], []
    for entry in pending:
        y = entry[0]
        outside = (y < 0) | (y >= n_classes)
        if len(y) and bool(outside.any()):
            bad.append(torch.unique(y[outside]))
        else:
            kept.append(entry)
    if not bad:
        return
    pending[:] = kept
    labels = torch.unique(torch.cat(bad)).tolist()[:5]
    raise ValueError(
        f"Labels recorded for the per-class counts hold class indices outside "
        f"[0, {n_classes}): {labels} (a padding label such as -100 is not a "
        "class); the batches that held them are left out of the counts."
    ) from exc
