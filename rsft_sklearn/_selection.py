"""Selection ahead of the steps: pools of rows, or the whole epoch.

With ``rejection="pool"`` the training iterator hands a pool of several
batches' rows to :func:`select_pool_rows`, which scores them in one
gradient-free pass and draws their masks; the steps then train on full
batches of accepted rows only, so rejected rows cost no backward pass and no
optimiser step, and the probabilities are at most one pool old.
``rejection="epoch"`` is the same with the whole epoch as the pool: every row
is scored once at the start of an epoch (:func:`select_epoch_rows`).
``rejection="budget"`` scores pools in the same way but keeps the rule's
expected gradient: :func:`budget_selection` keeps a fixed expected share of
the rows of positive acceptance (a row of sample weight 0 is as if absent)
and weights them so that, in expectation, the steps train on the
``"expected"`` rule's loss.
"""

import math
import numbers
from functools import partial

import torch

from ._data import BatchIterator, InMemoryDataset
from ._loss import check_pool_labels
from ._rejection import check_generator
from ._validation import real_as_float, shown_number

__all__ = [
    "budget_probability",
    "budget_selection",
    "check_budget",
    "check_selection_iterator",
    "prepare_iterator",
    "select_budget_rows",
    "select_epoch_rows",
    "select_pool_rows",
]

# Rows scored per gradient-free forward pass, at least.
SCORING_BATCH = 2048


def select_epoch_rows(loss_fn, iterator, score, batch_size):
    """Score every training row once and return the accepted positions.

    Parameters
    ----------
    loss_fn : RejectionLoss
        Draws the masks and records every row in its epoch counts.
    iterator : BatchIterator
        The training iterator, over an in-memory data set.
    score : callable
        Gradient-free scoring pass of the network, ``X -> logits``.
    batch_size : int
        The training batch size; scoring uses larger batches.

    Returns
    -------
    rows : torch.Tensor of shape (n_accepted,), on the CPU
        Positions of the accepted rows in the iterator's data set. Reading
        their number is one host synchronisation per epoch.
    """
    check_selection_iterator(iterator, "epoch")
    masks = []
    with torch.no_grad():
        for batch in iterator.row_batches(max(batch_size, SCORING_BATCH)):
            X, y = batch[0], batch[1]
            weight = batch[2] if len(batch) == 3 else None
            _, accepted, acceptance = loss_fn.select(score(X), y, weight)
            loss_fn.record(y, accepted, acceptance)
            masks.append(accepted)
            # Let go of the chunk before the next one is taken: held by the
            # loop's names until then, a sparse X densified by the batches
            # had two chunks in memory at once.
            del batch, X, y, weight
    return torch.nonzero(torch.cat(masks)).reshape(-1).cpu()


def check_selection_iterator(iterator, rejection):
    """Raise unless ``iterator`` batches an in-memory data set."""
    if not (isinstance(iterator, BatchIterator) and iterator.in_memory):
        raise ValueError(
            f"rejection={rejection!r} needs array inputs (or a dict of arrays) "
            "held in memory and batched by BatchIterator, with the default "
            "iterator_train and dataset; use rejection='sample' or "
            "'expected' for torch Datasets, another dataset= or other "
            "iterators."
        )


def select_pool_rows(loss_fn, score, pool, positions=None):
    """Score a pool of rows in one pass and return the accepted positions.

    The steps of a pooled epoch train on the accepted rows as they are, with
    the loss module's rule off (``loss_fn.rejecting`` is ``False``); the rule
    is on for the scoring pass only.

    Parameters
    ----------
    loss_fn : RejectionLoss
        Draws the masks and records every row in its epoch counts.
    score : callable
        Gradient-free scoring pass of the network, ``X -> logits``.
    pool : tuple or InMemoryDataset
        ``(X, y)`` or ``(X, y, sample_weight)``: the pool's rows; or, with
        ``positions``, the in-memory data set that holds them.
    positions : torch.Tensor of shape (n_pool,) or None, default=None
        The pool's positions in the data set.

    Returns
    -------
    rows : torch.Tensor of shape (n_accepted,)
        Positions of the accepted rows within the pool, on its device.
        Their number is read on the host, once per pool.
    """
    if isinstance(pool, InMemoryDataset):
        # The inputs serve the scoring pass only.
        pool = pool.take(positions, scratch=True)
    y = pool[1]
    _, accepted, acceptance = _score_pool(loss_fn, score, pool)
    loss_fn.record(y, accepted, acceptance)
    return accepted.nonzero().reshape(-1)


def _score_pool(loss_fn, score, pool):
    """``loss_fn.select`` on a pool's rows, without gradient and with the
    rule on (the pooled steps themselves train with it off)."""
    X, y = pool[0], pool[1]
    weight = pool[2] if len(pool) == 3 else None
    rejecting = loss_fn.rejecting
    loss_fn.rejecting = True
    try:
        with torch.no_grad():
            return loss_fn.select(score(X), y, weight)
    finally:
        loss_fn.rejecting = rejecting


def check_budget(budget):
    """Validate a row budget: the expected share of rows kept, in (0, 1].

    A real number of another type (a ``Fraction``) is checked as the float
    it trains as, as the classifier's parameter checks read it: a fraction
    a hair above 1 is 1.0, and is not refused at the first epoch after
    passing those checks.
    """
    if (
        isinstance(budget, bool)
        or not isinstance(budget, numbers.Real)
        or not 0 < real_as_float(budget) <= 1
    ):
        raise ValueError(
            "budget is the expected fraction of rows that get a backward pass; "
            f"it must be a float in (0, 1], got {shown_number(budget)}."
        )
    return float(real_as_float(budget))


def budget_probability(acceptance, budget):
    """Keep probabilities ``q_i = min(1, a_i / tau)`` whose mean over the
    rows of positive acceptance is ``budget``.

    A row of acceptance 0 (a sample weight of 0, or a class target of 0) is
    never kept and takes no share of the budget, as if it were absent: with
    ``n_pos`` rows of positive acceptance, ``tau`` solves
    ``sum_i min(1, a_i / tau) = budget * n_pos`` exactly, on the
    acceptance's device and without reading anything back to the host: with
    the acceptances sorted in decreasing order, if the ``k`` largest are
    kept surely then ``tau = (sum of the others) / (budget * n_pos - k)``,
    and the solution is the smallest ``k < budget * n_pos`` for which the
    ``k + 1``-th largest acceptance is at most that ``tau``.

    Parameters
    ----------
    acceptance : torch.Tensor of shape (n_samples,)
        The rule's acceptance probabilities ``a_i``, all ``>= 0``.
    budget : float
        Expected fraction of the rows of positive acceptance kept, in
        ``(0, 1]``.

    Returns
    -------
    keep : torch.Tensor of shape (n_samples,)
        The probabilities ``q_i``, summing to ``budget * n_pos`` (0 where
        ``a_i`` is 0; all 0 when no acceptance is positive).
    """
    budget = check_budget(budget)
    a = acceptance.detach().double()
    n = len(a)
    if budget == 1 or n == 0:
        # Every row is kept, but one of acceptance 0 (weight 0) never is.
        return (a > 0).to(torch.float32)
    # Fewer than budget * n_pos rows are kept surely (each adds 1 to the
    # sum, and every other positive row a positive share), so only the
    # ceil(budget * n) largest acceptances take part, in decreasing order
    # (n_pos, counted on the device, is at most n).
    m = min(n, math.ceil(budget * n))
    ordered, top = torch.topk(a, m)
    # Sum of the acceptances after the k largest, for k = 0 .. m - 1, summed
    # from the smallest up: the total less the k largest cancels to 0 when
    # the others are 1e-16 of them.
    others = a.index_fill(0, top, 0.0).sum()
    rest = ordered.flip(0).cumsum(0).flip(0) + others
    # The budget's share of the rows of positive acceptance: rows of weight
    # 0 take none of it, rather than handing theirs to the others.
    room = budget * (a > 0).sum().to(a.dtype) - torch.arange(
        m, device=a.device, dtype=a.dtype
    )
    tau = rest / room
    # The first k that solves, with room left for the rows not kept surely
    # (one always does, below budget * n_pos, when any acceptance is
    # positive; with none, nothing is kept, below).
    solves = (ordered <= tau) & (room > 0)
    first = torch.argmax(solves.to(torch.uint8)).reshape(1)
    keep = torch.where(a > 0, (a / tau.index_select(0, first)).clamp(max=1), 0.0)
    return keep.float()


def budget_selection(acceptance, budget, generator=None, *, loss_fn=None, y=None):
    """Rows of a scored pool kept under a row budget, with their weights.

    Row ``i`` is kept with probability ``q_i = min(1, a_i / tau)``, ``tau``
    chosen so that ``budget * n_pos`` rows are kept in expectation, with
    ``n_pos`` the rows of positive acceptance (solved on the device, without
    a host read; a row of acceptance 0 is never kept and takes no share of
    the budget), and weighted by ``a_i / q_i``. For any
    per-row loss ``l_i``, ``sum_kept weight_i * l_i`` then has the
    expectation ``sum_i a_i * l_i``: the weighted loss of the
    ``rejection="expected"`` rule, so its gradient too. Rows surely kept
    (``a_i >= tau``, the rare classes first) weigh ``a_i <= 1``; the others
    weigh ``tau``: every weight is at most ``max(1, tau)``, and no class is
    starved, since every row is kept with a positive probability that grows
    with its acceptance (``q_i >= a_i`` whenever ``tau <= 1``, that is
    whenever the budget is at least the mean acceptance of the rows of
    positive acceptance).

    To train on the rule's normalised loss, divide the weighted sum of a
    batch of kept rows by ``(sum_i a_i) * len(batch) / (sum_i q_i)``: the
    pool's accepted normaliser scaled to the batch (``n * len(batch) /
    (sum_i q_i)`` for the batch normaliser of ``loss_normalization="batch"``,
    which counts the pool's ``n`` rows, those of acceptance 0 too:
    ``len(batch) / budget`` when every acceptance is positive).

    Given ``loss_fn`` and the pool's labels ``y``, the pool goes into the
    loss's epoch counts as :class:`RSFTClassifier`'s budget mode counts it:
    every row as seen, the kept rows as accepted and the acceptances as the
    acceptance mass, which the logit adjustment of ``prior_correction``
    reads. The steps of a ``row_weighted`` loss count nothing, since they
    see the kept rows only.

    Parameters
    ----------
    acceptance : torch.Tensor of shape (n_samples,)
        The rule's acceptance probabilities, from
        :meth:`RejectionLoss.select` (its third output) on a pool scored
        without gradient: a 1-d floating tensor of finite values ``>= 0``
        (anything else is a ``TypeError`` or ``ValueError``).
    budget : float
        Expected fraction of the rows of positive acceptance kept (that get
        a backward pass), in ``(0, 1]``.
    generator : torch.Generator or None, default=None
        Generator of the draw, on the acceptance's device.
    loss_fn : RejectionLoss or None, default=None
        The loss whose epoch counts take the pool (see above); given with
        ``y``. ``None`` counts nothing. It needs its classes: built with
        ``n_classes`` or ``class_weight``, or, built without, once it has
        scored a batch (``loss_fn.select``), whose logits give them; before
        that it is refused with a ``ValueError``.
    y : torch.Tensor of shape (n_samples,) or None, default=None
        The pool's class indices in ``[0, n_classes)``, on the device of
        ``acceptance`` and of the loss, with ``loss_fn``. Labels in the
        host's memory are checked at once; on an accelerator, a label
        outside the classes is refused when the counts are next added.

    Returns
    -------
    rows : torch.Tensor of shape (n_kept,)
        Positions of the kept rows, on the acceptance's device (their number
        is one read on the host).
    weights : torch.Tensor of shape (n_kept,)
        Their loss weights ``a_i / q_i``.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import budget_selection
    >>> acceptance = torch.tensor([1.0, 0.5, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1])
    >>> rows, weights = budget_selection(acceptance, 0.5, torch.Generator())
    >>> bool((weights <= 1).all()), 0 in rows.tolist()
    (True, True)
    """
    _check_acceptance(acceptance)
    check_generator(generator)
    _check_recording(loss_fn, y, acceptance)
    keep = budget_probability(acceptance, budget)
    kept = rows_kept(keep, generator)
    if loss_fn is not None:
        # As select_budget_rows records a pool of the estimator's.
        loss_fn.record(y.long(), kept.float(), acceptance)
    rows = kept.nonzero().reshape(-1)
    weights = acceptance.index_select(0, rows) / keep.index_select(0, rows)
    return rows, weights


def _check_acceptance(acceptance):
    """A scored pool's acceptances: a 1-d floating tensor of finite values
    ``>= 0`` (one host read, on top of the draw's)."""
    if not isinstance(acceptance, torch.Tensor):
        raise TypeError(
            "acceptance must be a torch.Tensor (on the device of the pool), got "
            f"{type(acceptance).__name__}."
        )
    if acceptance.dim() != 1 or not acceptance.dtype.is_floating_point:
        raise ValueError(
            "acceptance must be a 1-d floating tensor, one value per row; got "
            f"shape {tuple(acceptance.shape)} and dtype {acceptance.dtype}."
        )
    if not bool((torch.isfinite(acceptance) & (acceptance >= 0)).all()):
        raise ValueError("acceptance must hold finite values >= 0.")


def _check_recording(loss_fn, y, acceptance):
    """``loss_fn`` and ``y`` of :func:`budget_selection`: both or neither,
    the labels one class index per row of the pool, on the pool's device
    as the loss, and classes the loss can count (see
    ``check_pool_labels``)."""
    if (loss_fn is None) != (y is None):
        given, missing = ("loss_fn", "y") if y is None else ("y", "loss_fn")
        raise ValueError(
            f"budget_selection was given {given} without {missing}: the pool is "
            "counted in the loss's epoch counts with both, the loss and the "
            "pool's labels (loss_fn=loss_fn, y=y[pool]), and with neither "
            "counted nowhere."
        )
    if loss_fn is None:
        return
    if not hasattr(loss_fn, "record"):
        raise TypeError(
            "loss_fn must be the RejectionLoss that trains on the pool, got "
            f"{type(loss_fn).__name__}."
        )
    if (
        not isinstance(y, torch.Tensor)
        or y.dim() != 1
        or len(y) != len(acceptance)
        or y.is_floating_point()
        or y.is_complex()
    ):
        raise ValueError(
            f"y must be a 1-d tensor of {len(acceptance)} class indices, one "
            f"per row of the pool (as acceptance), got {type(y).__name__} of "
            f"shape {tuple(getattr(y, 'shape', ()))} and dtype "
            f"{getattr(y, 'dtype', None)}."
        )
    # Refused before the draw, by name: the counts were added (and refused
    # or, with a device's error hidden, failed) only at a later call.
    state = getattr(loss_fn, "counts", None)
    for name, tensor in (("y", y), ("the loss's state", state)):
        if isinstance(tensor, torch.Tensor) and tensor.device != acceptance.device:
            raise ValueError(
                f"acceptance is on {acceptance.device}, but {name} on "
                f"{tensor.device}: the pool is counted on one device; move the "
                "labels and the loss to the device of the pool's scores."
            )
    classes = getattr(loss_fn, "class_weight", None)
    if isinstance(classes, torch.Tensor):
        check_pool_labels(y, classes.numel())


def rows_kept(keep, generator=None):
    """The 0/1 draw of every row with probabilities ``keep``."""
    # In float32 whatever torch's default dtype: a float64 draw takes other
    # values from the generator, and kept other rows under
    # torch.set_default_dtype(torch.float64) than under the default.
    return (
        torch.rand(
            keep.shape, device=keep.device, generator=generator, dtype=torch.float32
        )
        < keep
    )


def select_budget_rows(
    loss_fn, score, budget, rejecting, pool, positions=None, *, store=None, rescore=True
):
    """Score a pool, keep a budget of its rows and weight them.

    The training steps of a budgeted epoch take the returned weights as the
    rows' loss weights (``loss_fn.row_weighted``) and average them over the
    batch. The weights are ``a_i / q_i`` times ``sum q / D``, with ``D`` the
    pool's sum of acceptances (``"accepted"`` normaliser) or its size
    (``"batch"``), so that every step's loss is, in expectation, the rule's
    ``rejection="expected"`` loss with the pool's normaliser. In warm-up
    epochs (``rejecting`` false) no row is scored: a uniform share
    ``budget`` of the rows is kept with weight 1 (the plain mean, unbiased),
    or, with sample weights, the rows are kept and weighted as if the sample
    weights were their acceptances (the weighted plain mean, unbiased). In
    every epoch the share ``budget`` is of the rows of positive acceptance
    (:func:`budget_probability`): a row of sample weight 0 is never kept
    and takes no share, so a pool keeps as many rows as it would without
    it.

    With a ``store`` of every row's acceptance and ``rescore`` false, the
    pool is not scored: rows are kept with ``q_i = min(1, s_i / tau)`` from
    their stored acceptance ``s_i`` (that of the last scoring pass), and the
    returned weights are two columns, ``sum q / D`` over ``q_i`` and the
    sample weight: the training step multiplies the first by the acceptance
    ``a_i`` that the row has in its own forward pass
    (:meth:`RejectionLoss.forward`). The draw depends on the stored values
    only, so with a fixed ``M`` and no logit adjustment
    (``prior_correction=0``) the steps' loss is still, in expectation, the
    expected rule's at the current parameters (under the ``"accepted"``
    normaliser, times the current over the stored acceptance mass: ``D``
    is then the stored mass). The pool records its stored acceptances in
    the loss's counts, so the prior after rejection that the logit
    adjustment reads, in this epoch and the next, is that of the last
    scoring pass, and nothing moves an adaptive ``M``, which stays the one
    that pass solved.

    Parameters
    ----------
    loss_fn : RejectionLoss
        Computes the acceptances, draws and records every row in its epoch
        counts (``"accepted"``: the rows kept).
    score : callable
        Gradient-free scoring pass of the network (evaluation mode),
        ``X -> logits``.
    budget : float
        Expected fraction of the rows of positive acceptance kept, in
        ``(0, 1]``.
    rejecting : bool
        The rule is on (not a warm-up epoch).
    pool : tuple or InMemoryDataset
        ``(X, y)`` or ``(X, y, sample_weight)``: the pool's rows; or, with
        ``positions``, the in-memory data set that holds them, from which
        only what the draw needs is taken.
    positions : torch.Tensor of shape (n_pool,) or None, default=None
        The pool's positions in the data set (the index into ``store``).
    store : torch.Tensor of shape (n_rows,) or None, default=None
        Every row's acceptance at its last scoring, on the device; a scored
        pool writes its acceptances into it.
    rescore : bool, default=True
        Score the pool (and refresh the store) rather than draw from the
        stored acceptances.

    Returns
    -------
    rows : torch.Tensor of shape (n_kept,)
        Positions of the kept rows within the pool, on its device; their
        number is read on the host, once per pool.
    weights : torch.Tensor of shape (n_kept,) or (n_kept, 2)
        Their loss weights (two columns when drawn from the store, see
        above).
    """
    # As a float: a Fraction, which the classifier's checks take, is no
    # number to torch's full_like.
    budget = check_budget(budget)
    stale = rejecting and store is not None and not rescore
    if isinstance(pool, InMemoryDataset):
        # The data set and the pool's positions in it: a stored draw and a
        # warm-up draw need the labels (and sample weights) only.
        if stale or not rejecting:
            y, sample_weight = pool.take_labels(positions)
            pool = (None, y) if sample_weight is None else (None, y, sample_weight)
        else:
            # The inputs serve the scoring pass only.
            pool = pool.take(positions, scratch=True)
    y = pool[1]
    if stale:
        acceptance = store.index_select(0, positions)
    elif rejecting:
        _, _, acceptance = _score_pool(loss_fn, score, pool)
        # A row whose output is not finite has a NaN acceptance: rejected
        # (kept with probability 0), as the other modes reject it, rather
        # than making the pool's sum, and every kept row's weight, NaN.
        acceptance = torch.nan_to_num(acceptance, nan=0.0)
        if store is not None:
            store.index_copy_(0, positions, acceptance.detach().float())
    elif len(pool) == 3:
        # A warm-up with sample weights: the plain loss weighted by them, so
        # the weights take the acceptances' place (a row of weight 0 is
        # never kept).
        acceptance = pool[2].to(torch.float32)
    else:
        # float32 as the scored acceptances, whatever the default dtype.
        acceptance = torch.ones(len(y), device=y.device, dtype=torch.float32)
    # Equal acceptances are all kept with probability budget.
    keep = (
        budget_probability(acceptance, budget)
        if rejecting or len(pool) == 3
        else torch.full_like(acceptance, budget)
    )
    kept = rows_kept(keep, loss_fn.generator)
    loss_fn.record(y, kept.float(), acceptance)
    if loss_fn.loss_normalization == "batch":
        total = float(len(y))
    else:
        total = acceptance.sum().clamp(min=torch.finfo(torch.float32).tiny)
    scale = keep.sum() / total
    rows = kept.nonzero().reshape(-1)
    if stale:
        sample_weight = pool[2].index_select(0, rows) if len(pool) == 3 else None
        inverse = scale / keep.index_select(0, rows)
        if sample_weight is None:
            sample_weight = torch.ones_like(inverse)
        return rows, torch.stack([inverse, sample_weight.to(inverse.dtype)], dim=1)
    weights = (acceptance.index_select(0, rows) / keep.index_select(0, rows)) * scale
    return rows, weights


def prepare_iterator(
    iterator,
    plan,
    loss_fn,
    score,
    *,
    batch_size,
    pool_size,
    min_rows,
    budget=1.0,
    store=None,
    rescore=True,
):
    """Set up the training iterator for an epoch's selection mode.

    ``rejection="epoch"`` selects the epoch's rows now; ``"pool"`` hands the
    iterator a selector that it calls once per pool; the other modes batch
    every row.

    Parameters
    ----------
    iterator : BatchIterator or iterable
        The training iterator of the fit.
    plan : EpochPlan
        The epoch's plan (``rows_selected``, ``pooled``).
    loss_fn : RejectionLoss
        Draws the masks and counts the statistics.
    score : callable
        Maps a batch of inputs to logits without gradient.
    batch_size, pool_size, min_rows : int
        Scoring batch size of the epoch mode; batches per pool and the
        smallest training batch (2 with BatchNorm), in every epoch.
    budget : float, default=1.0
        Expected fraction of rows kept under ``rejection="budget"``.
    store : torch.Tensor or None, default=None
        Every training row's acceptance at its last scoring (budget only).
    rescore : bool, default=True
        Score the budget's pools in this epoch rather than draw from
        ``store``.
    """
    if isinstance(iterator, BatchIterator):
        iterator.rows = iterator.select = None
        # In every epoch, warm-up included: a network with BatchNorm gets no
        # one-row batch, which PyTorch refuses where the row gives a layer one
        # value per channel (a shape known only once a step runs).
        iterator.min_rows = min_rows
    loss_fn.row_weighted = plan.budgeted
    if plan.rows_selected:
        iterator.rows = select_epoch_rows(loss_fn, iterator, score, batch_size)
    elif plan.pooled or plan.budgeted:
        check_selection_iterator(iterator, "budget" if plan.budgeted else "pool")
        if plan.budgeted:
            select = partial(
                select_budget_rows,
                loss_fn,
                score,
                budget,
                plan.rejecting,
                store=store,
                rescore=rescore,
            )
        else:
            select = partial(select_pool_rows, loss_fn, score)
        iterator.select = select
        iterator.pool_size = pool_size
