"""How ``M`` (and ``hardness``) change during training.

``M`` is a number, a schedule over epochs (any callable ``epoch -> value``,
such as :class:`LinearRamp` or :class:`CosineRamp`), or ``"auto"``: an
adaptive ``M`` that holds a requested acceptance rate approximately. The
adaptive ``M`` lives on the training device, in the buffers of
:class:`~rsft_sklearn.RejectionLoss`, which solves it with
:func:`acceptance_log_M` at every step without reading anything back to the
host.
"""

import math
import numbers

import numpy as np
import torch

from ._validation import as_real

__all__ = ["CosineRamp", "LinearRamp", "acceptance_log_M"]

# Bounds of log M: far beyond any useful value, but inside float32's range so
# that exp(log M) never turns into 0 or inf.
_LOG_M_RANGE = (-80.0, 80.0)
_LOG_SCORE_FLOOR = -1e4


class LinearRamp:
    """Value that moves linearly from ``start`` to ``end`` over epochs.

    Pass it as ``M`` or ``hardness`` of
    :class:`~rsft_sklearn.RSFTClassifier`; it is called with the index of
    every epoch (0 for the first epoch of the training history).

    Parameters
    ----------
    start : float
        Value up to and including epoch ``delay``.
    end : float
        Value from epoch ``delay + n_epochs`` on.
    n_epochs : int
        Number of epochs the ramp takes, ``>= 1``.
    delay : int, default=0
        Epochs before the ramp starts, for example the warm-up epochs.

    See Also
    --------
    CosineRamp : The same ramp with a cosine profile.

    Examples
    --------
    >>> from rsft_sklearn import LinearRamp
    >>> ramp = LinearRamp(0.5, 2.0, n_epochs=3)
    >>> [round(ramp(epoch), 2) for epoch in range(5)]
    [0.5, 1.0, 1.5, 2.0, 2.0]
    """

    def __init__(self, start, end, n_epochs, *, delay=0):
        for name, value in (("start", start), ("end", end)):
            # as_real reads an int beyond the float range as infinite.
            if as_real(value) is None or not math.isfinite(as_real(value)):
                raise TypeError(f"{name} must be a finite real number, got {value!r}.")
        for name, value, least in (("n_epochs", n_epochs, 1), ("delay", delay, 0)):
            if (
                not isinstance(value, numbers.Integral)
                or isinstance(value, (bool, np.bool_))
                or value < least
            ):
                raise ValueError(
                    f"{name} must be an integer >= {least}, got {value!r}."
                )
        self.start = float(start)
        self.end = float(end)
        self.n_epochs = int(n_epochs)
        self.delay = int(delay)

    def _fraction(self, epoch):
        return min(max((epoch - self.delay) / self.n_epochs, 0.0), 1.0)

    def __call__(self, epoch):
        f = self._fraction(epoch)
        span = self.end - self.start
        if math.isfinite(span):
            return self.start + span * f
        # The difference of values of opposite signs near the float range
        # overflows (and inf * 0 is NaN at the ramp's start).
        if f == 0.0:
            return self.start
        if f == 1.0:
            return self.end
        return self.start * (1.0 - f) + self.end * f

    def __repr__(self):
        return (
            f"{type(self).__name__}({self.start!r}, {self.end!r}, "
            f"n_epochs={self.n_epochs!r}, delay={self.delay!r})"
        )

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), self.start, self.end, self.n_epochs, self.delay))


class CosineRamp(LinearRamp):
    """Value that moves from ``start`` to ``end`` along half a cosine wave.

    It changes slowly at both ends and fastest in the middle, which avoids a
    jump in the acceptance rate when the ramp starts.

    Parameters
    ----------
    start : float
        Value up to and including epoch ``delay``.
    end : float
        Value from epoch ``delay + n_epochs`` on.
    n_epochs : int
        Number of epochs the ramp takes, ``>= 1``.
    delay : int, default=0
        Epochs before the ramp starts.

    See Also
    --------
    LinearRamp : The same ramp with a straight profile.

    Examples
    --------
    >>> from rsft_sklearn import CosineRamp
    >>> ramp = CosineRamp(1.0, 3.0, n_epochs=4)
    >>> [round(ramp(epoch), 3) for epoch in range(5)]
    [1.0, 1.293, 2.0, 2.707, 3.0]
    """

    def _fraction(self, epoch):
        linear = super()._fraction(epoch)
        return 0.5 - 0.5 * math.cos(math.pi * linear)


def epoch_value(value, epoch, name, *, positive):
    """Value of the parameter ``name`` for the epoch with index ``epoch``.

    ``value`` is a number or a callable of the epoch index; the result is
    checked to be finite and ``> 0`` (``positive``) or ``>= 0``.
    """
    if callable(value):
        returned = value(epoch)
        result = as_real(returned)
        if result is None:
            raise TypeError(
                f"The schedule given as {name} must return a real number for "
                f"epoch {epoch}, got {returned!r} of type "
                f"{type(returned).__name__}."
            )
        where = f"{name}({epoch}) = {result!r}"
    else:
        if isinstance(value, (bool, np.bool_)):
            # A number to the parameter check, but not a value of the rule.
            raise ValueError(f"{name} must be a number, not a bool; got {value!r}.")
        # as_real reads an int beyond the float range as infinite.
        result = as_real(value)
        if result is None:
            result = float(value)
        where = f"{name} = {result!r}"
    low_ok = result > 0 if positive else result >= 0
    if not (math.isfinite(result) and low_ok):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{where} must be finite and {bound}.")
    return result


def acceptance_log_M(log_score, target_acceptance):
    """``log M`` at which the mean acceptance of a batch equals the target.

    With ``s_i = log w_i - hardness * log p_i`` the acceptance probability is
    ``min(1, exp(s_i - log M))``; its mean over the ``n`` samples of positive
    weight decreases in ``log M`` and is piecewise
    ``(k + exp(logsumexp(s_(k+1:)) - log M)) / n`` between consecutive sorted
    scores, with ``k`` samples clipped at 1. The clipped count ``k`` is the
    number of sorted scores at which the mean is still below the target, and
    the piece then solves in closed form. Sorting and cumulative sums keep
    everything on the device.

    A score at or below ``-1e4`` (``log 0``: a sample of weight 0) is never
    accepted and is left out of the mean, so that the solution is that of
    the batch without those samples, to float32 rounding.

    Parameters
    ----------
    log_score : torch.Tensor of shape (n_samples,)
        ``log w_i - hardness * log p_i`` of every sample of the batch.
    target_acceptance : float
        Requested mean acceptance over the samples of positive weight, in
        ``(0, 1]``.

    Returns
    -------
    log_M : torch.Tensor of shape (), float32
        Clipped to ``[-80, 80]``.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn._schedules import acceptance_log_M
    >>> s = torch.log(torch.tensor([1.0, 0.5, 0.1, 0.1]))
    >>> M = acceptance_log_M(s, 0.5).exp()
    >>> torch.clamp(torch.exp(s) / M, max=1).mean()
    tensor(0.5000)
    """
    s = log_score.float().clamp(min=_LOG_SCORE_FLOOR, max=-_LOG_SCORE_FLOOR)
    s, _ = torch.sort(s, descending=True)
    n = s.numel()
    tail = torch.logcumsumexp(s.flip(0), dim=0).flip(0)
    k = torch.arange(n, device=s.device, dtype=torch.float32)
    # Rows of weight 0 (scores at the floor) are never accepted, and the
    # target is the mean acceptance of the others: a mean over all n rows
    # held them at target * n / (n - z), up to 1, with z rows of weight 0.
    # Counted on the device (a NaN score, of non-finite logits, counts among
    # the n - z as it counted among the n).
    zeros = (s == _LOG_SCORE_FLOOR).sum(dtype=torch.float32)
    # Mean acceptance of the rows of positive weight when log M equals the
    # k-th largest score.
    at_score = (k + torch.exp(tail - s)) / (n - zeros)
    clipped = (at_score < target_acceptance).sum().clamp(max=n - 1)
    # What the rows below the clipped ones accept, target * (n - z) - k; the
    # rows of weight 0 come off target * n (a double product, rounded to
    # float32 as before) as a term that is exactly 0 without them.
    room = n * target_acceptance - torch.add(clipped, zeros, alpha=target_acceptance)
    # Gathered: indexing by a 0-d tensor reads the index back to the host,
    # which waits for the device at every step.
    at_clipped = tail.gather(0, clipped.reshape(1)).reshape(())
    log_M = at_clipped - torch.log(room.clamp(min=torch.finfo(torch.float32).tiny))
    # Near a target of 1, rounding may put the solution below the smallest
    # score of positive weight, where every such row is accepted: the
    # largest M that accepts them all (that score) is taken, rather than a
    # smaller one down to the floor of log M, which the smoothing would
    # carry into the next batches. Elsewhere the solution lies above it.
    weighted = s > _LOG_SCORE_FLOOR
    lowest = torch.where(weighted, s, s.new_full((), -_LOG_SCORE_FLOOR)).amin()
    log_M = torch.where(weighted.any(), torch.maximum(log_M, lowest), log_M)
    return log_M.clamp(*_LOG_M_RANGE)
