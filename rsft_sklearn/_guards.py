"""Guards of training: an all-rejected step changes nothing, and a broken
network stops the fit."""

import torch

__all__ = ["EmptyStepGuard", "check_finite_parameters"]


class EmptyStepGuard:
    """Undo an optimiser step in which no sample was accepted, on the device.

    A batch with nothing accepted has a zero loss, but a step on it would
    still move the parameters (momentum, weight decay) and the optimiser
    state (step counts, moment estimates). The guard copies every tensor
    such a step may change before the step and, after it, puts the copies
    back where the accepted count is zero, without reading the count on the
    host.

    Parameters
    ----------
    optimizers : list of torch.optim.Optimizer
        The optimisers whose parameters and state are guarded.
    device : str or torch.device
        Only tensors on this device type are guarded (the others are not
        touched by a step on it).
    """

    def __init__(self, optimizers, device):
        self.optimizers = list(optimizers)
        self.device_type = torch.device(device).type
        self._key = None
        self._tensors = []
        self._snapshot = []

    def _guarded_tensors(self):
        tensors = []
        for optimizer in self.optimizers:
            for group in optimizer.param_groups:
                tensors.extend(p for p in group["params"] if p.requires_grad)
            for state in optimizer.state.values():
                tensors.extend(v for v in state.values() if isinstance(v, torch.Tensor))
        return [t for t in tensors if t.device.type == self.device_type]

    def snapshot(self):
        """Copy the guarded tensors before a step.

        The tensor list and the copies are kept while the optimiser state
        keeps its size (Adam creates its state at the first step), so a step
        copies into existing memory instead of collecting and allocating.
        """
        key = tuple(len(optimizer.state) for optimizer in self.optimizers)
        if key != self._key:
            self._key = key
            self._tensors = self._guarded_tensors()
            self._snapshot = [t.detach().clone() for t in self._tensors]
        elif self._tensors:
            with torch.no_grad():
                torch._foreach_copy_(self._snapshot, self._tensors)

    def restore_if_none_accepted(self, n_accepted):
        """Put the copies back if ``n_accepted`` (a 0-d tensor) is zero."""
        if not self._tensors:
            return
        # lerp with weight 0 keeps the new value and with weight 1 returns the
        # snapshot, both exactly, so this is a device-side "if" over all
        # tensors. The weight goes in as a list of 0-d tensors: a single
        # tensor weight is read back to the host as a Python scalar.
        drop = (n_accepted <= 0).to(torch.float32)
        with torch.no_grad():
            torch._foreach_lerp_(
                self._tensors, self._snapshot, [drop] * len(self._tensors)
            )


def check_finite_parameters(parameters, epoch):
    """Raise if an epoch left a non-finite value in the network's parameters.

    One overflow in a step (features of huge magnitude, a learning rate far
    too large) turns every parameter into NaN, after which the network
    predicts a constant without any error. The check reads one flag per
    epoch back to the host, never one per batch.
    """
    params = [p.detach() for p in parameters]
    if not params:
        return
    finite = torch.stack([torch.isfinite(p).all() for p in params]).all()
    if not bool(finite):
        raise ValueError(
            f"The network's parameters stopped being finite in epoch "
            f"{epoch}: the loss overflowed. Scale the features (for "
            "example with StandardScaler) or lower the learning rate."
        )
