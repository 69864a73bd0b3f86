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

from ._modules import _check_module_output

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


def compaction_active(net):
    """Whether the coming epoch of ``net`` trains on accepted rows only."""
    if not net.epoch_rejecting_ or net.rejection != "sample":
        return False
    if net.compact == "auto":
        history = net.history
        if len(history) < 2 or not _heavy(net):
            return False
        rate = history[-2].get("acceptance_rate")
        return rate is not None and rate < AUTO_COMPACT_BELOW
    return bool(net.compact)


def _heavy(net):
    if net.batch_size == -1:
        return True
    n_params = sum(p.numel() for p in net.module_.parameters())
    return n_params * net.batch_size >= AUTO_COMPACT_MIN_WORK


def check_compact(compact, rejection):
    """Validate the ``compact`` parameter against the rejection mode."""
    if compact is True and rejection != "sample":
        raise ValueError(
            "compact=True needs rejection='sample': with rejection='expected' "
            "every row keeps a positive loss weight, so no row can be dropped."
        )


def needs_two_rows(module):
    """Whether ``module`` holds a BatchNorm layer, which cannot train on one row."""
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


def compacted_train_step(net, Xi, yi, wi, **fit_params):
    """One training step that runs forward and backward on accepted rows only.

    The scoring pass runs in evaluation mode: Dropout is off and BatchNorm
    normalises with its running statistics, so the scores are those
    ``predict_proba`` would give and the scoring pass changes no state. The
    training pass then sees only the accepted rows, so Dropout draws its
    masks for them and BatchNorm's batch statistics (and the running
    averages it updates) come from the accepted rows. When no row is accepted
    no backward pass runs: the gradients stay ``None``, which every
    ``torch.optim`` optimiser skips, so parameters and optimiser state are
    left unchanged without a snapshot.
    """
    net._set_training(False)
    with torch.no_grad():
        logits = net.infer(Xi, **fit_params)
    net._set_training(True)
    _check_module_output(logits, len(net.classes_))
    loss_weight, accepted, acceptance = net._loss_weight(logits, yi, wi)
    stats = torch.stack([torch.ones_like(accepted), accepted, acceptance])
    net.epoch_stats_.index_add_(1, yi, stats)
    rows = accepted.nonzero().reshape(-1)
    if len(rows) == 0:
        return {"loss": logits.new_zeros(()), "y_pred": logits}
    if len(rows) == 1 and net.compact_needs_two_rows_:
        # BatchNorm cannot normalise a single row in training mode; this rare
        # batch trains like an uncompacted one, its rejected rows weighted 0.
        losses = net.criterion_(net.infer(Xi, **fit_params), yi) * loss_weight
    else:
        logits_accepted = net.infer(take_rows(Xi, rows), **fit_params)
        losses = net.criterion_(logits_accepted, yi.index_select(0, rows))
    normaliser, _ = net._loss_normaliser(loss_weight, accepted)
    loss = losses.sum() / normaliser
    net._backward(loss)
    return {"loss": loss, "y_pred": logits}
