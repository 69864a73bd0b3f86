"""What a model trained with the rejection rule estimates, and how to undo it.

In ``"sample"`` mode the network is fitted to the accepted data, whose
class-``y`` density at ``x`` is ``eta_y(x) * a_y(x)``, with ``eta`` the
posterior of the training distribution and ``a_y = min(1, w_y / (M *
p_y ** hardness))``. At the fixed point of training the output ``p`` is that
density normalised over the classes, and since ``a`` is a known function of
``p`` the relation inverts::

    eta_y(x)         ~  p_y(x) / a_y(p(x))
                     =  p_y(x) * max(1, M * p_y(x) ** hardness / w_y)
    eta_y(x) / pi_y  ~  the balanced posterior (equal class priors)

``"expected"`` mode weights each loss by ``a`` instead of masking it; the
weighted cross-entropy has the same minimiser, so the same inversion holds.
"""

from typing import NamedTuple

import numpy as np

from ._validation import FLOAT32_SMALLEST, as_real, check_class_weight

__all__ = ["PROBABILITY_OPTIONS", "correct_proba"]

# A class the rule (almost) never accepted keeps a finite log-prior.
_MIN_RATE = 1e-6
# Entries (rows times classes) corrected at once by decision_proba.
_BLOCK_ENTRIES = 2**20

PROBABILITY_OPTIONS = ("raw", "training", "balanced")


def correct_proba(
    proba, target_weight, M=1.0, hardness=1.0, *, class_prior=None, log_shift=None
):
    """Map the raw output of a rejection-trained model back to a posterior.

    Parameters
    ----------
    proba : array-like of shape (n_samples, n_classes)
        Raw class probabilities (softmax of the logits) of a model trained
        with the rejection rule, finite and in ``[0, 1]``.
    target_weight : array-like of shape (n_classes,)
        Class target weights the rule used, normalised so that the largest
        is 1 (``RSFTClassifier.class_target_weight_``).
    M : float or None, default=1.0
        Envelope constant of the training epochs the model ended with.
        ``None`` (``RSFTClassifier.final_M_`` of a fit whose last epoch
        trained without rejection, such as a fit that ended in its warm-up):
        there is no rule to invert, so ``target_weight`` (still checked to
        hold one entry per class) and ``hardness`` are not used; the output
        is only shifted back by ``log_shift`` and divided by
        ``class_prior``.
    hardness : float, default=1.0
        Exponent of the model probability in the rule.
    class_prior : array-like of shape (n_classes,) or None, default=None
        Class frequencies of the training data. ``None`` returns the
        posterior of the training distribution; with the priors, the
        posterior divided by them, that is the posterior under equal class
        priors (the balanced posterior).
    log_shift : array-like of shape (n_classes,) or None, default=None
        The logit adjustment ``tau * log pi'`` the model was trained with
        (``RSFTClassifier(prior_correction=tau)``): the loss saw
        ``softmax(logits + log_shift)``, while the rule read ``proba``. The
        fitted output is then ``proba * exp(log_shift)``, and the rule is
        inverted on it with the acceptance computed from ``proba``.

    Returns
    -------
    proba : ndarray of shape (n_samples, n_classes)
        Rows that sum to 1.

    Notes
    -----
    The inversion holds at the fixed point of training; a finite number of
    epochs only approaches it, and the result inherits whatever
    miscalibration the network has. Per-sample weights given to ``fit``
    enter the rule inside the clipping (``w * s``); they are not known at
    prediction time. :class:`RSFTClassifier` inverts the rule with each
    class's target weight times the mean weight of its rows, the weights
    divided by their overall mean first (as ``fit`` divides them); a
    caller of this function can pass that product as ``target_weight`` (and
    divide by the prior of the rows counted as rows, ``class_prior`` the
    shares of the rows, for the balanced posterior; for the posterior of the
    training distribution, whose class frequencies are those of the
    weighted rows, ``RSFTClassifier.class_prior_``, pass the shares of the
    rows divided by ``class_prior_``). Where the weights
    vary within a class (``target="balanced_groups"`` among them), the
    estimator inverts the mean of the clipped acceptance over a summary of
    the class's weights (a histogram of at most 128 bins) instead, since
    the clipping makes that mean lower than the clipped acceptance of the
    mean weight; that summary is not a public attribute, so this function
    does not reproduce such an estimator's ``predict_proba`` (a pickle of
    the fitted estimator keeps it).

    A class without training mass (a label known from ``classes=`` only,
    or whose rows all weigh 0) taught the network nothing, and the
    estimator does not invert a rule for it: it takes its target weight as
    ``max(M, max(target_weight))``, at which every output is accepted, and
    divides its output by 1 rather than by ``class_prior_`` (which floors
    its share at that of one row). Pass the same two values to reproduce
    such an estimator's ``predict_proba``.

    With ``hardness=0``, ``M=1``, ``"balanced"`` class weights of
    ``target_power=1`` and no ``log_shift``, the raw output already
    estimates the balanced posterior, and the training
    posterior is the raw output divided by the class weights.

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn import correct_proba
    >>> p = np.array([[0.6, 0.4]])
    >>> w = np.array([0.1, 1.0])
    >>> correct_proba(p, w, M=1.0, hardness=1.0).round(3)
    array([[0.9, 0.1]])
    >>> prior = np.array([10 / 11, 1 / 11])
    >>> correct_proba(p, w, M=1.0, hardness=1.0, class_prior=prior).round(3)
    array([[0.474, 0.526]])
    """
    table = np.asarray(proba)
    if table.ndim == 2 and table.dtype.kind in "biuf" and table.shape[1]:
        # Checked block by block, in float64: a float64 copy of a large
        # float32 table (and the check's temporaries) would double the
        # memory that the blocked correction below needs.
        for block in _row_blocks(*table.shape):
            _check_proba(table[block])
    else:
        table = _check_proba(table)
    n_classes = table.shape[1]
    weight = check_class_weight(target_weight, n_classes, "target_weight")
    if M is None:
        # The last epoch did not reject: acceptance 1 for every row.
        weight, M, hardness = np.ones(n_classes), 1.0, 0.0
    M, hardness, log_shift = _check_rule(M, hardness, log_shift, n_classes)
    log_weight = np.log(weight)

    def correct(block, log_block=None):
        block = np.asarray(block, dtype=np.float64)
        return _corrected(block, log_weight, M, hardness, class_prior, log_shift)

    return _by_row_blocks(correct, table)


def _row_blocks(n_rows, n_classes):
    """Slices of at most ``_BLOCK_ENTRIES`` entries (one row at least) that
    cover ``n_rows`` rows of ``n_classes`` columns."""
    rows = max(1, _BLOCK_ENTRIES // max(n_classes, 1))
    return [slice(start, start + rows) for start in range(0, n_rows, rows)]


def _by_row_blocks(correct, proba, log_proba=None):
    """``correct(block, log_block)`` applied to the rows of a 2-d ``proba``
    (with the same rows of ``log_proba``, where given) in blocks of at most
    ``_BLOCK_ENTRIES`` entries: the correction's temporaries (about ten arrays
    of the block's size, with or without weight bins) stay those of one
    block. Each row's result depends on that row alone, so the blocks give
    the same numbers as one call on the whole table."""
    blocks = _row_blocks(*proba.shape)
    if len(blocks) <= 1:
        return correct(proba, log_proba)
    out = np.empty(proba.shape, dtype=np.float64)
    for block in blocks:
        out[block] = correct(
            proba[block], None if log_proba is None else log_proba[block]
        )
    return out


def _corrected(
    proba,
    log_weight,
    M,
    hardness,
    class_prior=None,
    log_shift=None,
    log_share=None,
    log_proba=None,
):
    """:func:`correct_proba` on checked inputs, with the log of the class
    weights: ``(n_classes,)``, or ``(n_classes, n_bins)`` for classes whose
    rows entered the rule with different weights, with ``log_share`` the log
    of each bin's share of its class's rows (the summary that
    :func:`weight_bins` gives). A class's acceptance is then the mean of the
    rule's clipped acceptance over its rows, which is below the clipped
    acceptance of the mean weight.

    ``log_proba``, the log-softmax of the logits (taken in float64) where the
    caller has them, takes the place of the probabilities that underflowed in
    float32 (below its smallest normal number): a logit adjustment with a
    large ``prior_correction`` trains outputs of ``exp(-100)`` and less,
    which the correction lifts again."""
    n_classes = proba.shape[1]
    # Log space: p ** hardness / w spans many orders of magnitude for
    # confident predictions and small class weights.
    with np.errstate(divide="ignore"):
        log_p = np.log(np.clip(proba, 0.0, 1.0))
    if log_proba is not None:
        lost = proba < FLOAT32_SMALLEST
        if lost.any():
            log_p = np.where(lost, log_proba, log_p)
    # hardness 0 ignores the model even where p underflowed to 0 (0 * -inf).
    hard = hardness * log_p if hardness else np.zeros_like(log_p)
    if log_weight.ndim == 1:
        log_ratio = np.log(M) + hard - log_weight
        log_score = log_p + np.maximum(log_ratio, 0.0)
    else:
        log_score = log_p - _log_mean_acceptance(
            np.log(M) + hard, log_weight, log_share
        )
    if log_shift is not None:
        log_score = log_score + log_shift
    if class_prior is not None:
        log_score = log_score - np.log(
            check_class_weight(class_prior, n_classes, "class_prior")
        )
    return _normalise(log_score)


def _log_mean_acceptance(log_threshold, log_weight, log_share):
    """``log sum_j share[k, j] min(1, exp(log_weight[k, j] - log_threshold[i, k]))``.

    A bin is clipped (acceptance 1) where its log weight reaches the
    threshold. With each class's bins sorted by weight, the clipped ones are
    the last, found by a binary search; they add their shares, and the
    others their shares times their weights, a prefix sum: ``clipped share +
    exp(log prefix sum - threshold)``, in log space (the prefix sums as
    running log-sum-exps), so that neither weights far below the threshold
    nor far above it overflow. The cost grows with the log of the bins.
    """
    if not isinstance(log_share, _BinTables):
        log_share = _bin_tables(log_weight, log_share)
    log_weight, mass, after = log_share
    out = np.empty_like(log_threshold)
    for k in range(log_weight.shape[0]):
        threshold = log_threshold[:, k]
        unclipped = np.searchsorted(log_weight[k], threshold, side="left")
        with np.errstate(invalid="ignore"):
            # No unclipped bin (a threshold of -inf too): nothing to add.
            rest = np.where(unclipped > 0, mass[k, unclipped] - threshold, -np.inf)
        out[:, k] = np.logaddexp(after[k, unclipped], rest)
    return out


class _BinTables(NamedTuple):
    """What :func:`_log_mean_acceptance` reads of a weight summary, for every
    block of rows: each class's bins sorted by log weight, and the logs of the
    sums over the first ``u`` bins (``u = 0 .. n_bins``) of their shares times
    their weights (``mass``), and of the shares of the bins after them
    (``after``)."""

    log_weight: np.ndarray
    mass: np.ndarray
    after: np.ndarray


def _bin_tables(log_weight, log_share):
    order = np.argsort(log_weight, axis=1, kind="stable")
    log_weight = np.take_along_axis(log_weight, order, axis=1)
    log_share = np.take_along_axis(log_share, order, axis=1)
    edge = np.full((len(log_weight), 1), -np.inf)
    mass = np.concatenate(
        [edge, np.logaddexp.accumulate(log_share + log_weight, axis=1)], axis=1
    )
    after = np.concatenate(
        [np.logaddexp.accumulate(log_share[:, ::-1], axis=1)[:, ::-1], edge], axis=1
    )
    return _BinTables(log_weight, mass, after)


def _real_array(value, name):
    array = np.asarray(value)
    if array.dtype.kind == "c":
        raise TypeError(f"{name} must hold real numbers, got complex values.")
    try:
        return array.astype(np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"{name} must hold numbers, got entries of dtype {array.dtype}."
        ) from None


def _check_proba(proba):
    proba = _real_array(proba, "proba")
    if proba.ndim != 2:
        raise ValueError(
            f"proba must be 2-d (n_samples, n_classes), got shape {proba.shape}."
        )
    if proba.shape[1] == 0:
        raise ValueError("proba has no columns; give one per class.")
    if not is_probability_table(proba):
        # Probabilities outside [0, 1] were clipped, NaN rows came out
        # uniform, and rows of another sum gave another answer than the
        # same row normalised: silently wrong answers.
        raise ValueError(
            "proba must hold finite probabilities in [0, 1], each row summing to 1."
        )
    return proba


def _check_rule(M, hardness, log_shift, n_classes):
    # M may be the 0-d tensor that RejectionLoss.epoch_statistics() returns.
    M_value, hardness_value = as_real(M), as_real(hardness)
    if M_value is None or not np.isfinite(M_value) or M_value <= 0:
        raise ValueError(f"M must be a finite number > 0, got {M!r}.")
    if hardness_value is None or not np.isfinite(hardness_value) or hardness_value < 0:
        raise ValueError(f"hardness must be a finite number >= 0, got {hardness!r}.")
    if log_shift is not None:
        log_shift = _real_array(log_shift, "log_shift")
        if log_shift.shape != (n_classes,) or not np.all(np.isfinite(log_shift)):
            raise ValueError(
                f"log_shift must hold {n_classes} finite values, one per class; "
                f"got shape {log_shift.shape}."
                if log_shift.shape != (n_classes,)
                else f"log_shift must hold finite values, got {log_shift.tolist()}."
            )
    return M_value, hardness_value, log_shift


def is_probability_table(proba):
    """Whether a 2-d array holds finite probabilities in ``[0, 1]`` whose rows
    sum to 1 (within float32 rounding) or are all zeros (every class
    impossible)."""
    if not (np.all(np.isfinite(proba)) and np.all(proba >= 0)):
        return False
    if np.any(proba > 1 + 1e-6):
        return False
    total = proba.sum(axis=1)
    return bool(np.all(np.isclose(total, 1.0, atol=1e-3) | (total == 0)))


def _normalise(log_score):
    top = np.max(log_score, axis=1, keepdims=True)
    # A row of zeros (every class impossible) stays uniform instead of NaN.
    top = np.where(np.isfinite(top), top, 0.0)
    # A class far below the top underflows to 0, as it should (also under
    # np.seterr(all="raise")).
    with np.errstate(under="ignore"):
        score = np.exp(log_score - top)
    total = score.sum(axis=1, keepdims=True)
    n_classes = score.shape[1]
    return np.where(total > 0, score / np.where(total > 0, total, 1.0), 1.0 / n_classes)


def class_counts(y, n_classes, sample_weight=None):
    """Count of every class among encoded labels, each row counted by its
    ``sample_weight`` when one is given."""
    return np.bincount(
        np.asarray(y, dtype=np.int64),
        weights=None if sample_weight is None else np.asarray(sample_weight),
        minlength=n_classes,
    ).astype(np.float64)


def class_prior(y, n_classes, sample_weight=None, *, counts=None):
    """Class frequencies of encoded labels (weighted by ``sample_weight``,
    or from given ``counts``); a class absent from ``y`` (or of weight 0)
    counts once, so that dividing by its prior stays finite."""
    if counts is None:
        counts = class_counts(y, n_classes, sample_weight)
    counts = np.where(counts > 0, counts, 1.0)
    return counts / counts.sum()


def decision_proba(
    proba,
    probability,
    target_weight,
    class_prior,
    M=None,
    hardness=1.0,
    *,
    prior_correction=0.0,
    loss_prior=None,
    row_weight=None,
    row_prior=None,
    row_weight_bins=None,
    log_proba=None,
):
    """The posterior that ``probability`` asks for, from the raw output.

    ``M`` and ``hardness`` are those of the last training epoch; ``M=None``
    means that epoch trained without rejection. ``prior_correction`` and
    ``loss_prior`` are the logit adjustment's scale and the prior after
    rejection it removed in that epoch.

    ``row_weight`` and ``row_prior`` (both or neither) describe per-row
    weights that entered the rule (sample weights, stratum weights): each
    class's mean weight as the rule saw it, and the class prior of the rows
    counted as rows, while ``class_prior`` counts them by their weights. A
    class's weight multiplies its target weight inside the rule's clipping
    (``min(1, w * s / (M * p ** hardness))``), and weighs its rows' losses
    in epochs without rejection. The output is first taken back to the
    posterior of the rows, then weighted as ``class_prior`` asks.
    ``row_weight_bins`` (with ``row_weight``), a pair of arrays of shape
    ``(n_classes, n_bins)``, the rows and the mean weight of each bin,
    describes the weights within each class (:func:`weight_bins`):
    epochs with rejection then invert the rule's mean acceptance over them
    (``row_weight`` serves epochs without rejection only), assuming that a
    row's weight does not depend on its features within its class.
    ``log_proba``, the log-softmax of the logits (taken in float64) where the
    caller has them, stands in for the output where it underflowed in float32
    (see :func:`_corrected`).
    """
    if probability not in PROBABILITY_OPTIONS:
        raise ValueError(
            f"probability must be one of {list(PROBABILITY_OPTIONS)}, "
            f"got {probability!r}."
        )
    if probability == "raw":
        return proba
    prior = class_prior if probability == "balanced" else None
    shift = None
    if prior_correction and loss_prior is not None:
        shift = prior_correction * np.log(np.asarray(loss_prior, dtype=np.float64))
    log_weight = None
    if row_weight is not None:
        row_weight = np.asarray(row_weight, dtype=np.float64)
        # The posterior of the rows, divided by the prior the output is
        # wanted under: the rows' prior (balanced), or the rows' prior over
        # the weighted one (training: the rows weighted back).
        prior = np.asarray(row_prior, dtype=np.float64)
        if probability == "training":
            prior = prior / np.asarray(class_prior, dtype=np.float64)
        if M is None:
            # Without rejection each row's loss counted its weight: the
            # output is the rows' posterior times the classes' mean weights.
            target_weight, M, hardness = np.ones(proba.shape[1]), 1.0, 0.0
            prior = prior * row_weight
        elif row_weight_bins is not None:
            rows, means = (np.asarray(a, dtype=np.float64) for a in row_weight_bins)
            log_weight = np.log(
                np.asarray(target_weight, dtype=np.float64)[:, None] * means
            )
            with np.errstate(divide="ignore"):
                log_share = np.log(rows / rows.sum(axis=1, keepdims=True))
        else:
            target_weight = np.asarray(target_weight, dtype=np.float64) * row_weight
    elif M is None:
        # Without rejection the output already estimates the training posterior.
        target_weight, M, hardness = np.ones(proba.shape[1]), 1.0, 0.0
    if log_weight is None:
        log_weight = np.log(
            check_class_weight(target_weight, np.shape(proba)[-1], "target_weight")
        )
        log_share = None

    if log_share is not None:
        # Sorted and summed once, not for every block of rows.
        log_share = _bin_tables(log_weight, log_share)

    def correct(block, log_block=None):
        block = _check_proba(block)
        rule = _check_rule(M, hardness, shift, block.shape[1])
        return _corrected(
            block, log_weight, *rule[:2], prior, rule[2], log_share, log_block
        )

    if not (isinstance(proba, np.ndarray) and proba.ndim == 2):
        return correct(proba)
    return _by_row_blocks(correct, proba, log_proba)


def weight_bins(values, counts, n_bins):
    """A summary of weights: at most ``n_bins`` bins, each with its count and
    the mean of its values.

    ``values`` (any order) occur ``counts`` times each (counts may be
    fractional, as when summaries are merged: pass a summary's bin means
    with its bin counts). The distinct values, sorted, are cut near the
    points where the running count reaches a multiple of ``1 / (n_bins //
    3)`` of the total count, near those where the running sum of the values
    reaches that share of their total, and near those that cut the range of
    their logarithms into as many equal steps: at the nearest boundary
    between two values, so that a value (or an earlier bin) is never split.
    Equal shares of rows alone put a heavy tail's few large weights in the
    bins of many smaller ones; equal shares of the weight collapse where one
    weight carries most of it; equal steps of the logarithm bound the spread
    of the weights within every bin. At most ``n_bins`` distinct values keep
    a bin each: the summary is then exact. The bins' counts sum to the total
    count and their means, weighted by the counts, to the values' mean.
    Unused bins have a count of 0 (and a mean of 1), at the end. The values
    must be finite and positive, and the counts of a positive sum.

    Examples
    --------
    >>> from rsft_sklearn._decision import weight_bins
    >>> rows, means = weight_bins([1.0, 3.0, 1.0, 9.0], [1, 1, 1, 1], 4)
    >>> rows.tolist(), means.tolist()
    ([2.0, 1.0, 1.0, 0.0], [1.0, 3.0, 9.0, 1.0])
    """
    values = np.asarray(values, dtype=np.float64)
    counts = np.asarray(counts, dtype=np.float64)
    present = counts > 0
    values, counts = values[present], counts[present]
    if not len(values) or not np.all(np.isfinite(values) & (values > 0)):
        raise ValueError(
            "weight_bins needs finite positive values with counts of a positive sum."
        )
    # The distinct values, sorted, each with its total count.
    values, inverse = np.unique(values, return_inverse=True)
    counts = np.bincount(inverse, weights=counts)
    out_rows, out_means = np.zeros(n_bins), np.ones(n_bins)
    if len(values) <= n_bins:
        out_rows[: len(values)], out_means[: len(values)] = counts, values
        return out_rows, out_means
    # Running count and mass at each boundary between values (entry k is
    # before value k).
    running_count = np.concatenate([[0.0], np.cumsum(counts)])
    running_mass = np.concatenate([[0.0], np.cumsum(values * counts)])
    parts = max(n_bins // 3, 1)
    log_values = np.log(values)
    steps = np.linspace(log_values[0], log_values[-1], parts + 1)
    cuts = np.concatenate(
        [
            np.linspace(0.0, running_count[-1], parts + 1),
            # Where the running mass reaches each share, as a count.
            np.interp(
                np.linspace(0.0, running_mass[-1], parts + 1),
                running_mass,
                running_count,
            ),
            # Before the first value at or above each step of the logarithm.
            running_count[np.searchsorted(log_values, steps)],
        ]
    )
    # Each cut moves to the nearest boundary between two values.
    right = np.clip(np.searchsorted(running_count, cuts), 1, len(values))
    nearer_left = cuts - running_count[right - 1] <= running_count[right] - cuts
    edges = np.unique(
        np.concatenate([[0, len(values)], np.where(nearer_left, right - 1, right)])
    )
    rows = np.diff(running_count[edges])
    mass = np.diff(running_mass[edges])
    out_rows[: len(rows)] = rows
    out_means[: len(rows)] = mass / rows
    return out_rows, out_means


def prior_after_rejection(class_prior, acceptance_rate):
    """Class prior of the data as the rule weighted them.

    ``prior_k * rate_k``, normalised; a NaN rate (a class that had no row)
    counts as 1 and rates are clipped to ``[1e-6, 1]``.

    Examples
    --------
    >>> from rsft_sklearn._decision import prior_after_rejection
    >>> prior_after_rejection([0.9, 0.1], [1 / 9, 1.0])
    array([0.5, 0.5])
    """
    prior = np.asarray(class_prior, dtype=np.float64)
    if prior.ndim != 1 or not np.all(np.isfinite(prior)) or np.any(prior <= 0):
        raise ValueError(
            f"class_prior must be 1-d, finite and positive, got {class_prior!r}."
        )
    rate = np.asarray(acceptance_rate, dtype=np.float64)
    if rate.shape != prior.shape:
        raise ValueError(
            f"acceptance_rate has shape {rate.shape}, class_prior {prior.shape}."
        )
    rate = np.clip(np.where(np.isnan(rate), 1.0, rate), _MIN_RATE, 1.0)
    adjusted = prior * rate
    return adjusted / adjusted.sum()
