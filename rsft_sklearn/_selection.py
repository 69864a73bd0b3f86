"""Epoch-level selection: draw the mask of every training row at once.

With ``rejection="epoch"`` every row is scored once at the start of an epoch
(one gradient-free pass in large batches), the mask is drawn then, and the
epoch trains on the accepted rows only: rejected rows cost no backward pass
and no optimiser step, at the price of probabilities up to one epoch old.
"""

import torch

from ._data import BatchIterator

__all__ = ["select_epoch_rows"]

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
    if not (isinstance(iterator, BatchIterator) and iterator.in_memory):
        raise ValueError(
            "rejection='epoch' needs array inputs (or a dict of arrays) "
            "batched by BatchIterator; use rejection='sample' for torch "
            "Datasets or other iterators."
        )
    masks = []
    with torch.no_grad():
        for batch in iterator.row_batches(max(batch_size, SCORING_BATCH)):
            X, y = batch[0], batch[1]
            weight = batch[2] if len(batch) == 3 else None
            _, accepted, acceptance = loss_fn.select(score(X), y, weight)
            loss_fn.record(y, accepted, acceptance)
            masks.append(accepted)
    return torch.nonzero(torch.cat(masks)).reshape(-1).cpu()
