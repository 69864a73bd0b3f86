"""The rejection rule as pure tensor functions.

Everything here runs on the device of its inputs and never reads a tensor
value back to the host, so it can sit inside a training step without adding
a synchronisation.
"""

import math
import numbers

import numpy as np
import torch

from ._validation import (
    FLOAT32_MAX,
    FLOAT32_SMALLEST,
    as_real,
    check_class_weight,
    shown_number,
)

__all__ = [
    "acceptance_probability",
    "class_target_weight",
    "rejection_mask",
    "true_class_log_proba",
]


def true_class_log_proba(logits, y):
    """Log-probability the model gives to the true class, without gradient.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw scores of the network (any floating dtype).
    y : torch.Tensor of shape (n_samples,)
        Integer class indices in ``[0, n_classes)`` (only the shapes are
        checked, as in :func:`acceptance_probability`).

    Returns
    -------
    log_p : torch.Tensor of shape (n_samples,), float32
        ``log softmax(logits)[i, y_i]``, computed in float32 and clamped to
        the float32 range so that extreme logits give finite values.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import true_class_log_proba
    >>> logits = torch.tensor([[0.0, 0.0], [1e4, -1e4]])
    >>> true_class_log_proba(logits, torch.tensor([0, 1]))
    tensor([-6.9315e-01, -2.0000e+04])
    """
    _check_rows(logits, y)
    return _true_class_log_proba(logits, y)


def _true_class_log_proba(logits, y):
    # true_class_log_proba on inputs checked by the caller (the loss module
    # checks every batch once).
    with torch.no_grad():
        logits = logits.detach()
        if logits.dtype == torch.float64:
            # float64 logits beyond the float32 range (1e39) would become
            # inf in float32, and their log-softmax NaN.
            log_p = torch.log_softmax(logits, dim=1).gather(1, y.long()[:, None])
            finfo = torch.finfo(torch.float32)
            return log_p.reshape(-1).clamp(min=finfo.min, max=0.0).float()
        logits = logits.float()
        y = y.long()
        n_rows, n_classes = logits.shape
        if logits.device.type == "cpu" and n_classes < 16 and n_rows * n_classes >= 512:
            # torch's CPU log_softmax over a short last dimension is slow (on
            # 2048 x 8 logits, about 6 times the time of the same softmax over
            # the first dimension of the transposed copy); same values.
            log_p = torch.log_softmax(logits.t().contiguous(), dim=0)
            log_p = log_p.gather(0, y.reshape(1, -1)).reshape(-1)
        else:
            log_p = torch.log_softmax(logits, dim=1)
            log_p = log_p.gather(1, y.reshape(-1, 1)).reshape(-1)
        finfo = torch.finfo(torch.float32)
        return log_p.clamp(min=finfo.min, max=0.0)


def _check_rows(logits, y):
    """Refuse logits that are not one row per label, from their shapes only
    (the values stay on the device: labels outside ``[0, n_classes)`` fail
    in torch's indexing)."""
    expected = "logits must be a tensor of shape (n_samples, n_classes)"
    if not isinstance(logits, torch.Tensor):
        # TypeError, as RejectionLoss and the estimator name an output of
        # the wrong kind (a tuple has no shape to name).
        raise TypeError(f"{expected}, got {type(logits).__name__}.")
    shape = tuple(logits.shape)
    if len(shape) != 2:
        raise ValueError(f"{expected}, got Tensor of shape {shape}.")
    if not isinstance(y, torch.Tensor):
        raise TypeError(
            f"y must be a torch.Tensor of class indices (on the logits' "
            f"device), got {type(y).__module__}.{type(y).__name__}."
        )
    if y.dim() != 1:
        raise ValueError(
            f"y must hold one class index per row of logits, shape "
            f"({shape[0]},); got shape {tuple(y.shape)}."
        )
    if len(y) != shape[0]:
        # Named without blaming either: most often the network dropped or
        # added rows.
        raise ValueError(
            f"logits have {shape[0]} rows but y holds {len(y)} labels: the "
            "network must return one row of logits per input row (and y hold "
            "one label per row)."
        )
    if y.is_floating_point() or y.is_complex():
        raise TypeError(f"y must hold integer class indices, got dtype {y.dtype}.")
    if shape[1] == 0:
        raise ValueError("logits have no column: there is no class to score.")
    if not logits.is_floating_point():
        # A complex tensor lost its imaginary part in the casts below.
        raise TypeError(f"logits must be a floating-point tensor, got {logits.dtype}.")


def acceptance_probability(logits, y, target_weight, M=1.0, hardness=1.0):
    """Acceptance probability ``min(1, w_i / (M * p_i ** hardness))``.

    The computation runs in log space, ``log a = min(0, log w - log M -
    hardness * log p)``, so it neither overflows for confident predictions
    nor divides by zero for hopeless ones.

    Parameters
    ----------
    logits : torch.Tensor of shape (n_samples, n_classes)
        Raw scores of the network.
    y : torch.Tensor of shape (n_samples,)
        Integer class indices in ``[0, n_classes)``. Only the shapes are
        checked, so that nothing is read back to the host: an index outside
        the range fails in torch's indexing.
    target_weight : torch.Tensor of shape (n_samples,) or float
        Target weight ``w_i >= 0`` of every sample (a row of weight 0 is
        never accepted). Numbers and arrays are checked on the host; the
        values of a tensor stay on its device unchecked.
    M : float or torch.Tensor, default=1.0
        Envelope constant, ``M > 0``; a one-element tensor is accepted so
        that an adaptive ``M`` can stay on the device (its value is not
        checked).
    hardness : float, default=1.0
        Exponent of the model probability, ``hardness >= 0``. ``0`` ignores
        the model (random under-sampling by the target weights).

    Returns
    -------
    acceptance : torch.Tensor of shape (n_samples,), float32
        Values in ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import acceptance_probability
    >>> logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0]])
    >>> y = torch.tensor([0, 1, 1])
    >>> acceptance_probability(logits, y, torch.tensor([0.1, 1.0, 1.0]), M=1.0)
    tensor([0.1135, 1.0000, 1.0000])
    """
    _check_rows(logits, y)
    if not isinstance(target_weight, torch.Tensor):
        _check_weight_values(target_weight)
    w = torch.as_tensor(target_weight, dtype=torch.float32, device=logits.device)
    if w.dim() > 1 or (w.dim() == 1 and w.shape[0] not in (1, len(y))):
        # Shapes only: the values stay on the device.
        raise ValueError(
            "target_weight must be one number or one weight per sample, shape "
            f"({len(y)},); got shape {tuple(w.shape)}."
        )
    if not isinstance(M, torch.Tensor):
        # A number is checked on the host; a tensor M stays on the device.
        check_M_number(M)
    elif M.numel() != 1:
        raise ValueError(
            f"M must be one number; got a tensor of shape {tuple(M.shape)}."
        )
    return _acceptance_probability(logits, y, w, M, hardness)


def _check_weight_values(target_weight):
    """Refuse target weights given as numbers or arrays (on the host) that
    are not finite and >= 0, which would make acceptances NaN."""
    values = np.asarray(target_weight)
    if values.dtype.kind not in "iuf":
        raise TypeError(
            "target_weight must hold real numbers, got "
            f"{type(target_weight).__name__} of dtype {values.dtype}."
        )
    valid = np.isfinite(values) & (values >= 0)
    if not np.all(valid):
        bad = np.atleast_1d(values)[~np.atleast_1d(valid)][:5].tolist()
        raise ValueError(f"target_weight must hold finite weights >= 0, got {bad}.")


def check_M_number(M):
    """Refuse an ``M`` that is not a finite number > 0 within the range of
    normal float32 numbers, in which the rule computes (a Python or NumPy
    number, or a one-element NumPy array)."""
    if isinstance(M, (bool, np.bool_)):
        raise ValueError(f"M must be a finite number > 0, not a bool; got {M!r}.")
    value = None if isinstance(M, torch.Tensor) else as_real(M)
    if value is None or not (math.isfinite(value) and value > 0):
        raise ValueError(f"M must be a finite number > 0, got {shown_number(M)}.")
    if not FLOAT32_SMALLEST <= value <= FLOAT32_MAX:
        # M would become 0 or inf in float32.
        raise ValueError(
            f"M is {value:g}, outside the range of normal float32 numbers "
            f"[{FLOAT32_SMALLEST:.4g}, {FLOAT32_MAX:.4g}], in which the rule "
            "computes."
        )


def _acceptance_probability(logits, y, target_weight, M, hardness):
    # acceptance_probability on inputs checked by the caller (the loss
    # module checks every batch once); M a number or a 0-d tensor.
    hardness = check_hardness(hardness)
    w = torch.as_tensor(target_weight, dtype=torch.float32, device=logits.device)
    # (A one-element tensor or array of any shape as one number.)
    M = torch.as_tensor(M, dtype=torch.float32, device=logits.device).reshape(())
    return acceptance_from_log_ratio(torch.log(w) - torch.log(M), logits, y, hardness)


# The smallest positive hardness: times log p of p = 0 (floored at -3.4e38)
# it is -3.4e8, far below any log(w / M) the float32 range holds (-176).
_MIN_HARDNESS = 1e-30


def check_hardness(hardness):
    """``hardness`` as a float, refusing what is not a finite number >= 0,
    or not 0 and outside the range of normal float32 numbers."""
    if isinstance(hardness, (bool, np.bool_)):
        raise ValueError(
            f"hardness must be a finite number >= 0, not a bool; got {hardness!r}."
        )
    value = as_real(hardness)
    if value is None or not (math.isfinite(value) and value >= 0):
        # An int beyond the float range (10**400) is named as what it reads.
        shown = repr(hardness) if value is None or math.isnan(value) else f"{value:g}"
        raise ValueError(f"hardness must be a finite number >= 0, got {shown}.")
    if value and not _MIN_HARDNESS <= value <= FLOAT32_MAX:
        # The rule computes hardness * log p in float32: a larger hardness
        # overflows (inf * 0 at p = 1 is NaN); a smaller one turns log p of
        # p = 0, floored at float32's lowest value (-3.4e38), into a finite
        # penalty, and the acceptance of such a row below 1 (1.2e-38 gave
        # e^4 w / M where the rule gives 1).
        raise ValueError(
            f"hardness is {value:g}: it must be 0 or within "
            f"[{_MIN_HARDNESS:g}, {FLOAT32_MAX:.4g}], where the rule's float32 "
            "arithmetic gives its values."
        )
    return value


def acceptance_from_log_ratio(log_ratio, logits, y, hardness):
    """:func:`acceptance_probability` from ``log w - log M``, given per row
    (or as one value): ``exp(min(0, log_ratio - hardness * log p))``.

    ``hardness=0`` does not compute ``log p``, and ``hardness=1`` does not
    multiply by it.
    """
    hardness = float(hardness)
    if hardness == 0:
        log_a = torch.broadcast_to(log_ratio, y.shape)
    else:
        log_p = _true_class_log_proba(logits, y)
        log_a = log_ratio - (log_p if hardness == 1 else hardness * log_p)
    return torch.exp(log_a.clamp(max=0.0))


def rejection_mask(acceptance, generator=None):
    """Draw ``m_i ~ Bernoulli(acceptance_i)`` on the device of ``acceptance``.

    Parameters
    ----------
    acceptance : torch.Tensor of shape (n_samples,)
        Acceptance probabilities in ``[0, 1]``.
    generator : torch.Generator or None, default=None
        Generator on the same device as ``acceptance``.

    Returns
    -------
    mask : torch.Tensor of shape (n_samples,), float32
        1.0 for accepted samples, 0.0 for rejected ones.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import rejection_mask
    >>> g = torch.Generator().manual_seed(0)
    >>> rejection_mask(torch.tensor([0.0, 1.0, 1.0, 0.0]), generator=g)
    tensor([0., 1., 1., 0.])
    """
    if not isinstance(acceptance, torch.Tensor):
        raise TypeError(
            "acceptance must be a torch.Tensor of probabilities, got "
            f"{type(acceptance).__name__}; convert it with torch.as_tensor."
        )
    check_generator(generator)
    u = torch.rand(
        acceptance.shape,
        generator=generator,
        device=acceptance.device,
        dtype=torch.float32,
    )
    return (u < acceptance).to(torch.float32)


def check_generator(generator, name="generator"):
    """Refuse anything but a ``torch.Generator`` (or None) where torch draws
    with it: the draw would fail later, inside torch."""
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(
            f"{name} must be a torch.Generator or None, got {type(generator).__name__}."
        )
    return generator


def class_target_weight(
    y, n_classes, target="balanced", *, power=1.0, sample_weight=None
):
    """Per-class target weights normalised so that the largest is 1.

    Parameters
    ----------
    y : array-like of shape (n_samples,)
        Integer class indices in ``[0, n_classes)``.
    n_classes : int
        Number of classes.
    target : {"balanced", "uniform"} or array-like of shape (n_classes,), \
            default="balanced"
        ``"balanced"`` weights class ``k`` by ``1 / n_k``; ``"uniform"``
        weights every class by 1; an array gives the weights directly.
    power : float, default=1.0
        Exponent applied to the ``"balanced"`` weights: ``1 / n_k ** power``.
        ``1`` balances the classes fully, ``0.5`` tempers the weights (a
        class of 100 rows then weighs 10 rows of a class of 10,000, not
        100), ``0`` is ``"uniform"``. Other targets ignore it.
    sample_weight : array-like of shape (n_samples,) or None, default=None
        Per-row weights: under ``"balanced"``, ``n_k`` is then the summed
        weight of class ``k``'s rows (a row of weight 0 counts for
        nothing), so that the classes are balanced as the weights present
        them.

    Returns
    -------
    weight : ndarray of shape (n_classes,), float64
        Positive weights whose maximum is 1. A class absent from ``y`` gets
        weight 1 under ``"balanced"``.

    Examples
    --------
    >>> from rsft_sklearn import class_target_weight
    >>> class_target_weight([0, 0, 0, 1], 2)
    array([0.3333..., 1.        ])
    >>> class_target_weight([0, 0, 0, 0, 1], 2, power=0.5)
    array([0.5, 1. ])
    """
    if not (
        isinstance(n_classes, numbers.Integral)
        and not isinstance(n_classes, bool)
        and n_classes >= 1
    ):
        raise ValueError(
            f"n_classes must be an integer >= 1, got {shown_number(n_classes)}."
        )
    if np.ndim(y) != 1:
        raise ValueError(
            f"y must be 1-d, one class index per row; got {np.ndim(y)} dimensions."
        )
    if isinstance(target, str):
        if target == "uniform":
            weight = np.ones(n_classes)
        elif target == "balanced":
            value = as_real(power)
            if value is None or not (math.isfinite(value) and value >= 0):
                raise ValueError(
                    f"power must be a finite number >= 0, got {shown_number(power)}."
                )
            power = value
            labels = np.asarray(y)
            if labels.size and (
                labels.dtype.kind not in "iub"
                or labels.min() < 0
                or labels.max() >= n_classes
            ):
                values = (
                    f", values {labels.min()} to {labels.max()}"
                    if labels.dtype.kind in "iufb"
                    else " (encode the labels first, for example with LabelEncoder)"
                )
                raise ValueError(
                    f"y must hold integer class indices in [0, {n_classes}); "
                    f"got dtype {labels.dtype}{values}."
                )
            if sample_weight is not None:
                sample_weight = np.asarray(sample_weight, dtype=np.float64)
                if sample_weight.shape != labels.shape or not (
                    np.all(np.isfinite(sample_weight)) and np.all(sample_weight >= 0)
                ):
                    raise ValueError(
                        "sample_weight must hold one finite weight >= 0 per "
                        f"label (shape {labels.shape}); got shape "
                        f"{sample_weight.shape}."
                        if sample_weight.shape != labels.shape
                        else "sample_weight must hold finite weights >= 0."
                    )
            counts = np.bincount(
                labels.astype(np.int64),
                weights=None if sample_weight is None else np.asarray(sample_weight),
                minlength=n_classes,
            )
            if not np.all(np.isfinite(counts)):
                # Finite weights whose class sums overflow float64 (rows of
                # 1e308): counted relative to the largest weight instead,
                # which the normalisation to a maximum of 1 cancels; inf
                # counts gave NaN weights (inf - inf in log space).
                counts = np.bincount(
                    labels.astype(np.int64),
                    weights=sample_weight / sample_weight.max(),
                    minlength=n_classes,
                )
            # In log space: 1 / n_k overflows for subnormal weighted counts,
            # and a large power would underflow the smaller weights to 0 (a
            # class never accepted); none falls below float32's smallest
            # normal number. A class absent from y weighs as the rarest.
            present = counts > 0
            log_weight = np.zeros(n_classes)
            log_weight[present] = -np.log(counts[present])
            if present.any():
                log_weight[~present] = log_weight[present].max()
            # A huge power sends the smaller weights to -inf in log space
            # (exp: 0, floored below), which is the intended limit.
            with np.errstate(over="ignore"):
                log_ratio = power * (log_weight - log_weight.max())
            weight = np.maximum(np.exp(log_ratio), FLOAT32_SMALLEST)
        else:
            raise ValueError(
                f"target must be 'balanced', 'uniform' or per-class weights, "
                f"got {target!r}."
            )
    else:
        weight = check_class_weight(target, n_classes, "target weights")
        # As the balanced weights: none below float32's smallest normal
        # number, which would be 0 in the rule (a class never accepted).
        weight = np.maximum(weight / weight.max(), FLOAT32_SMALLEST)
    return weight / weight.max()
