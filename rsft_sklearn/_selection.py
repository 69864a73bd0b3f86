"""Selection ahead of the steps: pools of rows, or the whole epoch.

With ``rejection="pool"`` the training iterator hands a pool of several
batches' rows to :func:`select_pool_rows`, which scores them in one
gradient-free pass and draws their masks; the steps then train on full
batches of accepted rows only, so rejected rows cost no backward pass and no
optimiser step, and the probabilities are at most one pool old.
``rejection="epoch"`` is the same with the whole epoch as the pool: every row
is scored once at the start of an epoch (:func:`select_epoch_rows`).
"""

from functools import partial

import torch

from ._data import BatchIterator

__all__ = [
    "check_selection_iterator",
    "prepare_iterator",
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
    return torch.nonzero(torch.cat(masks)).reshape(-1).cpu()


def check_selection_iterator(iterator, rejection):
    """Raise unless ``iterator`` batches an in-memory data set."""
    if not (isinstance(iterator, BatchIterator) and iterator.in_memory):
        raise ValueError(
            f"rejection={rejection!r} needs array inputs (or a dict of arrays) "
            "batched by BatchIterator; use rejection='sample' for torch "
            "Datasets or other iterators."
        )


def select_pool_rows(loss_fn, score, pool):
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
    pool : tuple
        ``(X, y)`` or ``(X, y, sample_weight)``: the pool's rows.

    Returns
    -------
    rows : torch.Tensor of shape (n_accepted,)
        Positions of the accepted rows within the pool, on its device.
        Their number is read on the host, once per pool.
    """
    X, y = pool[0], pool[1]
    weight = pool[2] if len(pool) == 3 else None
    rejecting = loss_fn.rejecting
    loss_fn.rejecting = True
    try:
        with torch.no_grad():
            _, accepted, acceptance = loss_fn.select(score(X), y, weight)
    finally:
        loss_fn.rejecting = rejecting
    loss_fn.record(y, accepted, acceptance)
    return accepted.nonzero().reshape(-1)


def prepare_iterator(
    iterator, plan, loss_fn, score, *, batch_size, pool_size, min_rows
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
        smallest training batch (2 with BatchNorm) of the pool mode.
    """
    if isinstance(iterator, BatchIterator):
        iterator.rows = iterator.select = None
    if plan.rows_selected:
        iterator.rows = select_epoch_rows(loss_fn, iterator, score, batch_size)
    elif plan.pooled:
        check_selection_iterator(iterator, "pool")
        iterator.select = partial(select_pool_rows, loss_fn, score)
        iterator.pool_size = pool_size
        iterator.min_rows = min_rows
