"""How ``M`` (and ``hardness``) change during training.

``M`` is a number, a schedule over epochs (any callable ``epoch -> value``,
such as :class:`LinearRamp` or :class:`CosineRamp`), or ``"auto"``: an
adaptive ``M`` that holds a requested acceptance rate. The adaptive ``M``
lives on the training device and is updated inside the training step without
reading anything back to the host.
"""

import math
import numbers

import torch

from ._rejection import true_class_log_proba

__all__ = ["AdaptiveM", "CosineRamp", "LinearRamp", "acceptance_log_M"]

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
            if not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise TypeError(f"{name} must be a finite real number, got {value!r}.")
        if not isinstance(n_epochs, numbers.Integral) or n_epochs < 1:
            raise ValueError(f"n_epochs must be an integer >= 1, got {n_epochs!r}.")
        if not isinstance(delay, numbers.Integral) or delay < 0:
            raise ValueError(f"delay must be an integer >= 0, got {delay!r}.")
        self.start = float(start)
        self.end = float(end)
        self.n_epochs = int(n_epochs)
        self.delay = int(delay)

    def _fraction(self, epoch):
        return min(max((epoch - self.delay) / self.n_epochs, 0.0), 1.0)

    def __call__(self, epoch):
        return self.start + (self.end - self.start) * self._fraction(epoch)

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
        try:
            result = float(value(epoch))
        except (TypeError, ValueError) as exc:
            raise TypeError(
                f"The schedule given as {name} must return a real number for "
                f"epoch {epoch}; calling it raised {type(exc).__name__}: {exc}"
            ) from exc
        where = f"{name}({epoch}) = {result!r}"
    else:
        result = float(value)
        where = f"{name} = {result!r}"
    low_ok = result > 0 if positive else result >= 0
    if not (math.isfinite(result) and low_ok):
        bound = "> 0" if positive else ">= 0"
        raise ValueError(f"{where} must be finite and {bound}.")
    return result


def check_adaptive_M(M, target_acceptance):
    """Raise if ``M="auto"`` comes without the rate it should hold."""
    if isinstance(M, str) and M == "auto" and target_acceptance is None:
        raise ValueError(
            "M='auto' adapts M to hold an acceptance rate; set "
            "target_acceptance to a float in (0, 1]."
        )


def acceptance_log_M(log_score, target_acceptance):
    """``log M`` at which the mean acceptance of a batch equals the target.

    With ``s_i = log w_i - hardness * log p_i`` the acceptance probability is
    ``min(1, exp(s_i - log M))``; its mean over the batch decreases in
    ``log M`` and is piecewise ``(k + exp(logsumexp(s_(k+1:)) - log M)) / n``
    between consecutive sorted scores, with ``k`` samples clipped at 1. The
    clipped count ``k`` is the number of sorted scores at which the mean is
    still below the target, and the piece then solves in closed form. Sorting
    and cumulative sums keep everything on the device.

    Parameters
    ----------
    log_score : torch.Tensor of shape (n_samples,)
        ``log w_i - hardness * log p_i`` of every sample of the batch.
    target_acceptance : float
        Requested mean acceptance, in ``(0, 1]``.

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
    # Mean acceptance when log M equals the k-th largest score.
    at_score = (k + torch.exp(tail - s)) / n
    clipped = (at_score < target_acceptance).sum().clamp(max=n - 1)
    room = n * target_acceptance - clipped.to(torch.float32)
    log_M = tail[clipped] - torch.log(room.clamp(min=torch.finfo(torch.float32).tiny))
    return log_M.clamp(*_LOG_M_RANGE)


class AdaptiveM:
    """Device-side controller of ``M`` that holds a target acceptance rate.

    At every rejecting step it solves, for the current batch, the ``log M``
    whose expected acceptance rate equals ``target_acceptance``
    (:func:`acceptance_log_M`) and moves its state a fraction ``smoothing``
    of the way there: a multiplicative update of ``M``. The first step of a
    fit takes the batch's solution as it is. Averaging over batches keeps
    ``M`` from following the class mix of single batches, while the exact
    per-batch solve makes the rate track the target from the first epoch on,
    whatever the data set and its imbalance.

    Parameters
    ----------
    target_acceptance : float
        Requested acceptance rate, in ``(0, 1]``.
    device : str or torch.device
        Device of the state tensors (that of the logits).
    smoothing : float, default=0.25
        Weight of the newest batch in the running ``log M``, in ``(0, 1]``.

    Attributes
    ----------
    log_M : torch.Tensor of shape ()
        Current ``log M``.
    epoch_M : torch.Tensor of shape () or None
        Geometric mean of the ``M`` used by the steps of the current epoch,
        written into the tensor given to :meth:`begin_epoch`.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn._schedules import AdaptiveM
    >>> controller = AdaptiveM(0.5, "cpu")
    >>> controller.begin_epoch(torch.tensor(float("nan")))
    >>> logits = torch.zeros(4, 2)
    >>> y = torch.tensor([0, 0, 0, 1])
    >>> weight = torch.tensor([1 / 3, 1 / 3, 1 / 3, 1.0])
    >>> M = controller.step(logits, y, weight, hardness=1.0)
    >>> round(float(M), 4)
    2.0
    """

    def __init__(self, target_acceptance, device, smoothing=0.25):
        if not 0 < target_acceptance <= 1:
            raise ValueError(
                f"target_acceptance must be in (0, 1], got {target_acceptance!r}."
            )
        if not 0 < smoothing <= 1:
            raise ValueError(f"smoothing must be in (0, 1], got {smoothing!r}.")
        self.target_acceptance = float(target_acceptance)
        self.smoothing = float(smoothing)
        self.log_M = torch.zeros((), device=device)
        self._started = torch.zeros((), dtype=torch.bool, device=device)
        self.epoch_M = None

    def begin_epoch(self, epoch_M):
        """Start averaging a new epoch into the 0-d tensor ``epoch_M``."""
        self.epoch_M = epoch_M
        self._log_M_sum = torch.zeros((), device=self.log_M.device)
        self._steps = torch.zeros((), device=self.log_M.device)

    def step(self, logits, y, target_weight, hardness):
        """Update ``M`` from one batch and return it as a 0-d tensor.

        Parameters
        ----------
        logits : torch.Tensor of shape (n_samples, n_classes)
            The batch's logits.
        y : torch.Tensor of shape (n_samples,)
            Class indices.
        target_weight : torch.Tensor of shape (n_samples,)
            Target weight of every sample.
        hardness : float
            Exponent of the model probability.

        Returns
        -------
        M : torch.Tensor of shape ()
            The envelope constant for this batch.
        """
        with torch.no_grad():
            log_w = torch.log(target_weight.float())
            log_score = log_w - float(hardness) * true_class_log_proba(logits, y)
            solved = acceptance_log_M(log_score, self.target_acceptance)
            moved = torch.lerp(self.log_M, solved, self.smoothing)
            log_M = torch.where(self._started, moved, solved)
            self.log_M.copy_(log_M)
            self._started.fill_(True)
            if self.epoch_M is not None:
                self._log_M_sum += log_M
                self._steps += 1
                self.epoch_M.copy_(torch.exp(self._log_M_sum / self._steps))
            return torch.exp(log_M)
