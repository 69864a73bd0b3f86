"""Compaction: train on the accepted rows of a batch only.

The uncompacted step runs forward and backward over the whole batch and
multiplies the rejected rows' losses by zero, so an epoch costs the same at
any acceptance rate. A compacted step first scores the batch with a
gradient-free forward pass, draws the mask from those scores, and then runs
the forward and backward passes on the accepted rows alone. With a forward
pass costing ``F`` and a backward pass about ``2F``, a batch costs about
``F + 3 F r`` instead of ``3F`` at acceptance rate ``r``, which pays below
``r`` of about 2/3 when the network, not the Python overhead of a step,
dominates the time. Sizing the accepted subset reads one number back to the
host per batch; that is the price of this mode.
"""

from collections.abc import Mapping

import torch
from torch import nn

__all__ = []

# "auto" compacts an epoch when the previous epoch accepted less than this
# fraction of the rows: the cost model above breaks even near 2/3, and the
# second module call, the synchronisation and the row gather of a compacted
# step need a margin below that.
AUTO_COMPACT_BELOW = 0.5
# ... and only when a batch is heavy enough for the network to dominate the
# step: parameters times batch size, a lower bound on the multiply-adds of a
# forward pass. The default MLP at batch size 128 is about 100 times below
# this and gains nothing from compaction (measured by benchmarks/speed.py).
AUTO_COMPACT_MIN_WORK = 2**24


def compaction_active(compact, previous_rate, module, batch_size):
    """Whether the coming rejecting epoch trains on accepted rows only.

    Parameters
    ----------
    compact : bool or "auto"
        The estimator's parameter.
    previous_rate : float or None
        Acceptance rate of the previous epoch, if it rejected.
    module : torch.nn.Module
        The network, whose size decides whether ``"auto"`` pays.
    batch_size : int or None
        Rows per training batch, as the training iterator cuts them (a
        ``batch_size`` of ``-1`` resolved to the training rows); None where
        they are not known, which ``"auto"`` does not compact.
    """
    if compact == "auto":
        return (
            previous_rate is not None
            and previous_rate < AUTO_COMPACT_BELOW
            and _heavy(module, batch_size)
        )
    return bool(compact)


def _heavy(module, batch_size):
    if batch_size is None:
        return False
    n_params = sum(p.numel() for p in module.parameters())
    return n_params * batch_size >= AUTO_COMPACT_MIN_WORK


def compact_always(compact):
    """``compact`` is a true boolean (``np.True_`` too, which scikit-learn's
    ``"boolean"`` constraint takes), not ``"auto"``, which decides per
    epoch."""
    return not isinstance(compact, str) and bool(compact)


def check_compact(compact, rejection):
    """Validate the ``compact`` parameter against the rejection mode."""
    if compact_always(compact) and rejection != "sample":
        raise ValueError(
            f"compact=True needs rejection='sample': with "
            f"rejection={rejection!r} {_COMPACT_REFUSED[rejection]}."
        )


# Why a rejection mode has nothing for compaction to drop.
_COMPACT_REFUSED = {
    "expected": "every row keeps a positive loss weight, so no row can be dropped",
    "budget": (
        "the rows are chosen before the step, which trains on every one of "
        "them; the rows left out already cost no backward pass"
    ),
    "pool": (
        "the accepted rows are chosen before the step; the rejected ones "
        "already cost no backward pass"
    ),
    "epoch": (
        "the accepted rows are chosen before the epoch; the rejected ones "
        "already cost no backward pass"
    ),
}


def needs_two_rows(module):
    """Whether ``module`` holds a BatchNorm layer, whose training batches then
    get two rows at least. PyTorch refuses a one-row batch only where the row
    gives such a layer one value per channel (``BatchNorm1d`` on ``(N, C)``,
    a 1x1 feature map), but the shape each layer receives is known only once
    a step runs, so every network with one is treated alike."""
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def take_rows(X, rows):
    """Rows ``rows`` (an index tensor) of a tensor, dict or sequence of tensors."""
    if isinstance(X, torch.Tensor):
        return X.index_select(0, rows.to(X.device))
    if isinstance(X, Mapping):
        return {key: take_rows(value, rows) for key, value in X.items()}
    if isinstance(X, (tuple, list)):
        return type(X)(take_rows(value, rows) for value in X)
    raise TypeError(
        "compact needs batches of tensors (or dicts, tuples or lists of "
        f"tensors) to select the accepted rows from, got {type(X).__name__}."
    )


def copy_inputs(X):
    """A copy of a batch's tensors (a tensor, or a dict, tuple or list of
    them); anything else as it is."""
    if isinstance(X, torch.Tensor):
        return X.clone()
    if isinstance(X, Mapping):
        return {key: copy_inputs(value) for key, value in X.items()}
    if isinstance(X, (tuple, list)):
        return type(X)(copy_inputs(value) for value in X)
    return X


def compacted_loss(loss_fn, score, forward, X, y, sample_weight, two_rows):
    """Loss of a batch computed on its accepted rows only.

    ``score(X)`` is the gradient-free scoring pass, in evaluation mode:
    Dropout is off and BatchNorm normalises with its running statistics, so
    the scores are those ``predict_proba`` would give and the scoring pass
    changes no state. ``forward(X)`` is the training pass; it sees only the
    accepted rows, so Dropout draws its masks for them and BatchNorm's batch
    statistics (and the running averages it updates) come from the accepted
    rows. ``two_rows`` says that the module holds a BatchNorm layer, which
    may refuse a single row (see :func:`needs_two_rows`): a batch with one
    accepted row trains like an uncompacted one, its rejected rows weighted
    0.

    Parameters
    ----------
    loss_fn : RejectionLoss
        Draws the mask and records the batch in its epoch counts.
    score, forward : callable
        The two passes of the network, ``X -> logits``.
    X : torch.Tensor, or a dict, tuple or list of them
        The batch's inputs.
    y : torch.Tensor of shape (n_samples,)
        Class indices.
    sample_weight : torch.Tensor of shape (n_samples,) or None
        Per-sample weights.
    two_rows : bool
        Whether the training pass needs at least two rows.

    Returns
    -------
    loss : torch.Tensor of shape () or None
        ``None`` when no row is accepted: then no backward pass should run,
        the gradients stay ``None``, which every ``torch.optim`` optimiser
        skips, so parameters and optimiser state stay unchanged.
    logits : torch.Tensor of shape (n_samples, n_classes)
        The scores of the whole batch.

    Notes
    -----
    ``loss_fn.step_accepted`` is set to the number of accepted rows, as an
    uncompacted step sets it (a gradient accumulator reads it to skip an
    optimiser step none of whose batches accepted a row). The number is the
    one that sizing the accepted rows reads back anyway.
    """
    # The scoring pass runs on a copy: a module that writes into its input
    # (an in-place normalisation) would otherwise hand the training pass
    # rows it has already changed.
    logits = score(copy_inputs(X))
    loss_weight, accepted, acceptance = loss_fn.select(logits, y, sample_weight)
    loss_fn.record(y, accepted, acceptance)
    rows = accepted.nonzero().reshape(-1)
    loss_fn.step_accepted.fill_(len(rows))
    if len(rows) == 0:
        return None, logits
    # The per-sample losses as the uncompacted step takes them: with the
    # logit adjustment on the prior after rejection (prior_correction),
    # which the record above has already brought up to this batch.
    if len(rows) == 1 and two_rows:
        losses = loss_fn._base_losses(forward(X), y) * loss_weight
    else:
        losses = loss_fn._base_losses(
            forward(take_rows(X, rows)), y.index_select(0, rows)
        )
    normaliser, _ = loss_fn.normaliser(loss_weight, accepted)
    return losses.sum() / normaliser, logits
