"""Guards of training: an all-rejected step changes nothing, and a broken
network stops the fit."""

import os
import threading
import warnings
from collections.abc import Mapping
from contextlib import contextmanager

import torch

from ._validation import caller_stacklevel

__all__ = [
    "EmptyStepGuard",
    "check_finite_parameters",
    "fuse_default_adam",
    "global_generator_in_use",
    "skips_on_device",
]

# Devices whose fused Adam kernel the default optimiser is switched to.
_FUSED_DEVICES = ("cpu", "cuda")
# Devices whose values the host reads without waiting for anything.
HOST_READ_DEVICES = ("cpu",)


def skips_on_device(optimizer):
    """Whether ``optimizer.step`` can skip a step on a flag tensor.

    torch's fused optimisers (``fused=True`` for Adam, AdamW, SGD and
    Adagrad) read a ``found_inf`` tensor, which is how the AMP grad scaler
    drops a step without reading a value on the host. Wrappers from other
    libraries (accelerate's, with its own grad scaler) are left alone.
    """
    # Every group: a group set to fused=False (set_params after a fit, or
    # param_groups of their own) takes torch's other path, which refuses
    # the flag.
    return (
        isinstance(optimizer, torch.optim.Optimizer)
        and type(optimizer).__module__.startswith("torch.optim")
        and all(group.get("fused") for group in optimizer.param_groups)
        and bool(getattr(optimizer, "_step_supports_amp_scaling", False))
    )


def fuse_default_adam(optimizer):
    """Switch a fresh ``torch.optim.Adam`` built with the defaults to its
    fused implementation, which then skips all-rejected steps on the device.

    The switch is what ``Adam(..., fused=True)`` stores: the flag in the
    defaults and in every parameter group. It is made only before the first
    step (the fused path keeps its step counters on the device), only when
    neither ``foreach`` nor ``fused`` was chosen and every parameter is a
    floating-point tensor on the CPU or a CUDA device. A wrapper that keeps
    the optimiser as its ``optimizer`` attribute (accelerate's) has the
    optimiser inside it switched. Returns whether it switched.
    """
    if type(optimizer) is not torch.optim.Adam:
        optimizer = getattr(optimizer, "optimizer", None)
    if type(optimizer) is not torch.optim.Adam or optimizer.state:
        return False
    for group in optimizer.param_groups:
        # fused=False in a group of its own is a choice too.
        if (
            group["foreach"] is not None
            or group["fused"] is not None
            or group["differentiable"]
        ):
            return False
        if not all(
            # A lazy module's parameter (nn.LazyLinear) has no dtype until
            # the first batch; the foreach path takes it then.
            not torch.nn.parameter.is_lazy(p)
            and p.device.type in _FUSED_DEVICES
            and torch.is_floating_point(p)
            for p in group["params"]
        ):
            return False
    optimizer.defaults["fused"] = True
    for group in optimizer.param_groups:
        group["fused"] = True
    optimizer._step_supports_amp_scaling = True
    return True


def _state_ready(optimizer):
    # Fused SGD with momentum allocates its momentum buffers uninitialised at
    # its first step and fills them in the kernel, which a skipped step does
    # not run; until every buffer exists that optimiser is snapshot-guarded.
    if not isinstance(optimizer, torch.optim.SGD):
        return True
    for group in optimizer.param_groups:
        if group["momentum"] == 0:
            continue
        for p in group["params"]:
            if optimizer.state.get(p, {}).get("momentum_buffer") is None:
                return False
    return True


class EmptyStepGuard:
    """Keep an optimiser step in which no sample was accepted from changing
    anything, on the device.

    A batch with nothing accepted has a zero loss, but a step on it would
    still move the parameters (momentum, weight decay) and the optimiser
    state (step counts, moment estimates). On the CPU, whose values the
    host reads for free, the step of a single torch optimiser is skipped
    when the accepted count is zero (:attr:`on_host`). Elsewhere, two ways,
    neither of which reads the accepted count on the host:

    - a fused torch optimiser (``optimizer__fused=True`` with Adam, AdamW,
      SGD or Adagrad) is given ``found_inf = (n_accepted == 0)`` (a 0-d float tensor)
      and skips it in its kernel, as under the AMP grad scaler: nothing is
      copied;
    - any other optimiser is snapshot-guarded: every tensor the step may
      change is copied before it, and put back after it where the accepted
      count is zero (``torch.lerp`` with a weight of 0 or 1). State that the
      step itself creates (at a first step) has no copy: on the CPU it is
      removed again; on an accelerator it stays, since removing it would
      need the accepted count on the host (the parameters are put back
      either way).

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
        # One plain torch optimiser whose step does not call the closure
        # more than once (LBFGS does), on a device read for free: the
        # accepted count is read and the step skipped outright.
        self.on_host = (
            self.device_type in HOST_READ_DEVICES
            and len(self.optimizers) == 1
            and type(self.optimizers[0]).__module__.startswith("torch.optim")
            and not isinstance(self.optimizers[0], torch.optim.LBFGS)
        )
        self._skipping = []
        self._flag = None
        self._key = None
        self._tensors = []
        self._snapshot = []
        self._had_state = []
        self._entries = []

    def _snapshot_guarded(self):
        return [
            optimizer
            for optimizer in self.optimizers
            if not (skips_on_device(optimizer) and _state_ready(optimizer))
        ]

    def _guarded_tensors(self, optimizers):
        tensors = []
        for optimizer in optimizers:
            for group in optimizer.param_groups:
                tensors.extend(p for p in group["params"] if p.requires_grad)
            for state in optimizer.state.values():
                tensors.extend(v for v in state.values() if isinstance(v, torch.Tensor))
        return [t for t in tensors if t.device.type == self.device_type]

    @property
    def snapshot_bytes(self):
        """Bytes held by the copies of the snapshot guard."""
        return sum(t.numel() * t.element_size() for t in self._snapshot)

    def snapshot(self):
        """Prepare a step: hand the fused optimisers their skip flag and copy
        the tensors of the others.

        The tensor list and the copies are kept while the optimiser state
        keeps its size (Adam creates its state at the first step), so a step
        copies into existing memory instead of collecting and allocating.
        """
        if self._skipping and len(self._skipping) == len(self.optimizers):
            # Every optimiser skips on the device (and stays able to: fused
            # SGD keeps its momentum buffers): nothing to collect or copy.
            for optimizer in self._skipping:
                optimizer.found_inf = self._flag
            return
        guarded = self._snapshot_guarded()
        self._skipping = [o for o in self.optimizers if o not in guarded]
        if self._skipping and self._flag is None:
            device = self._skipping[0].param_groups[0]["params"][0].device
            # float32 whatever torch's default dtype: the fused optimisers
            # refuse a found_inf of another dtype.
            self._flag = torch.zeros((), device=device, dtype=torch.float32)
        for optimizer in self._skipping:
            optimizer.found_inf = self._flag
        # The copies hold the trainable parameters and the state: a
        # parameter unfrozen (or frozen) between steps changes the list.
        key = tuple(
            (
                len(optimizer.state),
                tuple(
                    p.requires_grad
                    for group in optimizer.param_groups
                    for p in group["params"]
                ),
            )
            if optimizer in guarded
            else -1
            for optimizer in self.optimizers
        )
        # The parameters that have state before the step: a state the step
        # creates has no copy to go back to (removed on the CPU only, see
        # _drop_created_state, so only collected there).
        if self.device_type in HOST_READ_DEVICES:
            self._had_state = [
                set(optimizer.state) if optimizer in guarded else None
                for optimizer in self.optimizers
            ]
            # The entries of the state and of the parameter groups, as they
            # are: a step may replace a state tensor rather than write into
            # it, or keep a count as a Python number (optimisers outside
            # torch do both), which the tensor copies alone cannot put back.
            self._entries = [
                (
                    optimizer,
                    {p: dict(state) for p, state in optimizer.state.items()},
                    [dict(group) for group in optimizer.param_groups],
                )
                for optimizer in guarded
            ]
        if key != self._key:
            self._key = key
            self._tensors = self._guarded_tensors(guarded)
            self._snapshot = [t.detach().clone() for t in self._tensors]
        elif self._tensors:
            with torch.no_grad():
                torch._foreach_copy_(self._snapshot, self._tensors)

    def accepted(self, n_accepted):
        """Set the skip flag from the step's accepted count (a 0-d tensor).

        Call it after the loss and before the optimiser step.
        """
        if self._skipping:
            self._flag.copy_(n_accepted <= 0)

    def wrap(self, step, n_accepted):
        """``step`` between :meth:`snapshot` and
        :meth:`restore_if_none_accepted` (``n_accepted`` is called after it).
        """

        def guarded(*args, **kwargs):
            self.snapshot()
            try:
                return step(*args, **kwargs)
            finally:
                self.restore_if_none_accepted(n_accepted())

        return guarded

    def restore_if_none_accepted(self, n_accepted):
        """Finish a step: take the skip flag back from the fused optimisers
        (it must not stay on them, nor in a pickle) and put the copies back
        if ``n_accepted`` (a 0-d tensor) is zero."""
        for optimizer in self._skipping:
            optimizer.__dict__.pop("found_inf", None)
        self._drop_created_state(n_accepted)
        self._put_entries_back(n_accepted)
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

    def _put_entries_back(self, n_accepted):
        """After an all-rejected step, give every parameter's state and
        every parameter group the entries they had before it (the copies
        then restore the tensors' values). On the CPU only, where the
        accepted count is read for free."""
        entries, self._entries = self._entries, []
        if not entries or bool(n_accepted > 0):
            return
        for optimizer, states, groups in entries:
            for param, state in states.items():
                optimizer.state[param] = state
            for group, before in zip(optimizer.param_groups, groups):
                group.clear()
                group.update(before)

    def _drop_created_state(self, n_accepted):
        """Remove the optimiser state that an all-rejected step created (a
        first step: Adam's moments and step count, SGD's momentum), which
        the copies cannot put back. It reads the accepted count, so it runs
        only where the host reads it for free (the CPU): on an accelerator
        such a state stays, which nothing reads per batch."""
        if self.device_type not in HOST_READ_DEVICES:
            return
        created = [
            (optimizer, set(optimizer.state) - before)
            for optimizer, before in zip(self.optimizers, self._had_state)
            if before is not None and len(optimizer.state) > len(before)
        ]
        if not created or bool(n_accepted > 0):
            return
        for optimizer, params in created:
            for param in params:
                del optimizer.state[param]


def check_finite_parameters(parameters, epoch, optimizers=()):
    """Raise if an epoch left a non-finite value in the network's parameters
    or in the floating-point state of ``optimizers``.

    One overflow in a step (features of huge magnitude, a learning rate far
    too large) turns every parameter into NaN, after which the network
    predicts a constant without any error; a fused Adam instead keeps its
    parameters finite with an infinite second moment, and stops learning.
    The check reads one flag per epoch back to the host, never one per
    batch.
    """
    params = [p.detach() for p in parameters]
    for optimizer in optimizers:
        # A stand-in (a test double, a wrapper without torch's state) has no
        # state of its own to check.
        state_by_param = getattr(optimizer, "state", None)
        if not isinstance(state_by_param, Mapping):
            continue
        for state in state_by_param.values():
            params.extend(
                v
                for v in state.values()
                if isinstance(v, torch.Tensor)
                and (torch.is_floating_point(v) or v.is_complex())
            )
    # A complex tensor is finite when its real and imaginary parts are (its
    # extremes are not defined).
    params = [torch.view_as_real(p) if p.is_complex() else p for p in params]
    params = [p for p in params if p.numel()]
    if not params:
        return
    # The extremes are NaN when any value is and infinite when any value is:
    # finite extremes mean a finite tensor. torch.isfinite would allocate a
    # float and a bool tensor of the parameter's size (tens of megabytes for
    # the first layer on hashed features), at the peak of the fit.
    extremes = [torch.stack(torch.aminmax(p)) for p in params]
    finite = torch.isfinite(torch.cat(extremes)).all()
    if not bool(finite):
        raise ValueError(
            f"The network's parameters (or the optimiser's state) stopped "
            f"being finite in epoch "
            f"{epoch}: the loss overflowed. Scale the features (for "
            "example with StandardScaler) or lower the learning rate."
        )


# The threads of this process in which a fit (or an initialisation) now
# draws from torch's global generator, with how many, and the threads whose
# fit has run beside another thread's.
_GLOBAL_GENERATOR_USERS = {}
_SHARED_WITH = set()
_USERS_LOCK = threading.Lock()
# torch's global CPU generator as it was when the first of the marks now
# held began: put back when the last one ends. Each fit draws from a copy
# (torch.random.fork_rng) that it puts back when it ends, but fits side by
# side in threads copy one another's: the one that ended last put back the
# other's seeded stream, for good. (The GPUs' generators are left to the
# fits' own copies: which GPUs a fit draws from is its own, and a CPU fit
# putting back a GPU's generator would rewind another thread's stream.)
_SAVED_GENERATORS = []

_THREADS_WARNING = (
    "Another fit ran in another thread of this process at the same time. "
    "Fits reseed torch's global generator, which the threads of a process "
    "share, and draw the initial weights and dropout from it, so these fits "
    "may not be reproducible from their random_state. Run concurrent fits "
    "in separate processes (joblib's default backend, or Dask workers "
    "started with one thread each); within a process of joblib's default "
    "backend, a nested n_jobs (StackingClassifier(n_jobs=2) inside a "
    "search with n_jobs=2, say) runs in threads: give it n_jobs=1."
)


def _forget_other_threads():
    # A child process forked while fits ran in other threads has none of
    # those threads (nor their hold of the lock); the forking thread keeps
    # its own marks, which it may still leave.
    global _USERS_LOCK
    _USERS_LOCK = threading.Lock()
    own = _GLOBAL_GENERATOR_USERS.get(threading.get_ident())
    _GLOBAL_GENERATOR_USERS.clear()
    if own:
        _GLOBAL_GENERATOR_USERS[threading.get_ident()] = own
    else:
        _SAVED_GENERATORS.clear()
    _SHARED_WITH.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_other_threads)


@contextmanager
def global_generator_in_use():
    """Mark this thread as drawing from torch's global generator, warning
    when a fit of another thread of the process draws from it too.

    Each fit reseeds the global generator (in a private copy made by
    ``torch.random.fork_rng``), but that copy is the process's: fits in
    threads side by side (joblib's threading backend, a Dask worker of
    several threads) interleave their draws and reseedings. Both the later
    fit and the one it ran beside warn, once each, when the outermost mark
    of their thread ends (``fit`` and ``partial_fit`` mark the whole call,
    ``initialize`` its own).
    """
    me = threading.get_ident()
    with _USERS_LOCK:
        if not _GLOBAL_GENERATOR_USERS:
            _SAVED_GENERATORS[:] = [torch.get_rng_state()]
        others = [ident for ident in _GLOBAL_GENERATOR_USERS if ident != me]
        _GLOBAL_GENERATOR_USERS[me] = _GLOBAL_GENERATOR_USERS.get(me, 0) + 1
        if others:
            _SHARED_WITH.update(others)
            _SHARED_WITH.add(me)
    try:
        yield
    finally:
        with _USERS_LOCK:
            count = _GLOBAL_GENERATOR_USERS.pop(me, 1) - 1
            if count:
                _GLOBAL_GENERATOR_USERS[me] = count
            shared = me in _SHARED_WITH and not count
            if shared:
                _SHARED_WITH.discard(me)
            if not _GLOBAL_GENERATOR_USERS and _SAVED_GENERATORS:
                # The last mark of the process: the generators as the first
                # one found them (a single thread's fit has put them back
                # already).
                torch.set_rng_state(_SAVED_GENERATORS.pop())
        if shared:
            warnings.warn(
                _THREADS_WARNING, RuntimeWarning, stacklevel=caller_stacklevel()
            )
