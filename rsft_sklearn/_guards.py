"""Checks that stop training before it hands back a broken model."""

import torch

__all__ = ["check_finite_parameters"]


def check_finite_parameters(net):
    """Raise if an epoch left a non-finite value in the network's parameters.

    One overflow in a step (features of huge magnitude, a learning rate far
    too large) turns every parameter into NaN, after which the network
    predicts a constant without any error. The check reads one flag per
    epoch back to the host, never one per batch.
    """
    params = [p.detach() for p in net.module_.parameters()]
    if not params:
        return
    finite = torch.stack([torch.isfinite(p).all() for p in params]).all()
    if not bool(finite):
        raise ValueError(
            f"The network's parameters stopped being finite in epoch "
            f"{len(net.history)}: the loss overflowed. Scale the features (for "
            "example with StandardScaler) or lower the learning rate."
        )
