"""Input checks shared by the estimators: features, labels, class weights.

Every check here takes plain values and returns plain values; none reads or
writes an estimator. The classifier, the sampler and :func:`correct_proba`
validate per-class weights with the one function :func:`check_class_weight`.
"""

import decimal
import math
import numbers
import sys
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.exceptions import DataConversionWarning
from sklearn.utils._param_validation import (
    Interval,
    InvalidParameterError,
    validate_parameter_constraints,
)
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import (
    _check_sample_weight,
    _get_feature_names,
    assert_all_finite,
    check_array,
    column_or_1d,
)

__all__ = [
    "RSFTWarning",
    "advised_input_error",
    "bool_duplicates_summed",
    "caller_stacklevel",
    "check_X_dict",
    "check_callbacks",
    "check_criterion",
    "check_device",
    "check_input_names",
    "check_class_weight",
    "check_labels",
    "check_not_lazy",
    "check_sample_weight",
    "check_tensor_lr",
    "check_within_floats",
    "encode_labels",
    "fit_classes",
    "holds_sequence_cells",
    "readable_tensor",
    "real_as_float",
    "shown_classes",
    "shown_number",
    "to_float32",
    "validate_parameter",
]

# The packages a warning passes over to point at the user's line: this one,
# and those through which its code is called (skorch's training loop,
# scikit-learn's meta-estimators and checks, torch's module calls, joblib's
# loops, context managers' exits).
_LIBRARIES = frozenset(
    ("rsft_sklearn", "skorch", "sklearn", "imblearn", "torch", "joblib", "contextlib")
)


# Where a worker's stack begins (joblib's processes and threads): a warning
# whose stack reaches one of these without a frame of the user's points at
# the library's own line instead.
_WORKER_START = frozenset(
    ("multiprocessing", "concurrent", "threading", "_thread", "dask", "distributed")
)


class RSFTWarning(UserWarning):
    """The category of the warnings that rsft-sklearn itself raises (but
    the ``RuntimeWarning`` that a fit shares torch's global generator with
    another thread).

    A ``UserWarning``: filters on ``UserWarning`` reach them. To silence the
    library's warnings alone, filter on this class, for example
    ``warnings.filterwarnings("ignore", category=RSFTWarning)`` (the
    warnings point at the user's line, so a ``module=`` filter does not
    match them).

    Examples
    --------
    >>> import warnings
    >>> from rsft_sklearn import RSFTWarning
    >>> issubclass(RSFTWarning, UserWarning)
    True
    >>> with warnings.catch_warnings():
    ...     warnings.filterwarnings("ignore", category=RSFTWarning)
    ...     warnings.warn("silenced", RSFTWarning)
    """


def caller_stacklevel():
    """The ``stacklevel`` of a warning raised by the caller that points at
    the first frame outside :data:`_LIBRARIES`: the user's call of ``fit``,
    of a search that fits, or of the loss in a training loop. In a worker
    (a joblib process or thread), where no frame is the user's, it points
    at the line that raised it."""
    frame, level = sys._getframe(1), 1
    while frame is not None and (
        frame.f_globals.get("__name__", "").split(".", 1)[0] in _LIBRARIES
    ):
        frame, level = frame.f_back, level + 1
    if frame is None or (
        frame.f_globals.get("__name__", "").split(".", 1)[0] in _WORKER_START
    ):
        return 1
    return level


def check_class_weight(weight, classes, name="target"):
    """One finite positive weight per class, in the order of ``classes``.

    Parameters
    ----------
    weight : dict or array-like of shape (n_classes,)
        A dict maps every class label to its weight (other labels are left
        aside, but for ``classes`` given as a number); an array lists the
        weights in the order of ``classes``.
    classes : array-like of shape (n_classes,) or int
        The class labels, or their number (labels ``0 .. n - 1``).
    name : str, default="target"
        Name of the parameter, for the error messages.

    Returns
    -------
    weight : ndarray of shape (n_classes,), float64
    """
    # Classes given as a number are the indices 0 .. n - 1 of the columns:
    # a key beyond them names no column, and is refused.
    by_index = isinstance(classes, (int, np.integer))
    if by_index:
        classes = np.arange(classes)
    labels = np.asarray(classes).tolist()
    if isinstance(weight, Mapping):
        known = set(labels)
        missing = [label for label in labels if label not in weight]
        unknown = [key for key in weight if key not in known]
        if by_index and unknown:
            raise ValueError(
                f"{name} must give a weight to the classes 0 to {len(labels) - 1} "
                f"and to no other; got {sorted(unknown, key=str)}."
            )
        if missing:
            # Labels beyond the classes are left aside, as scikit-learn's
            # class_weight leaves them: a fold of cross-validation without a
            # rare class. A class without a weight is refused.
            raise ValueError(
                f"{name} must give a weight to every class of y; missing "
                f"{sorted(missing, key=str)}"
                + (
                    f", and labels not in y: {sorted(unknown, key=str)}"
                    if unknown
                    else ""
                )
                + "."
            )
        weight = [weight[label] for label in labels]
    if isinstance(weight, torch.Tensor):
        weight = weight.detach().cpu().numpy()
    if isinstance(weight, np.ndarray) and weight.dtype.kind in "iuf":
        values = weight.astype(np.float64).reshape(-1)
    else:
        # np.asarray(..., float) reads True as 1 and "2e0" as 2, and gives
        # its own message for a nested list: entries are read one by one.
        entries = np.asarray(weight, dtype=object).reshape(-1)
        # The position of the first entry that is not a number: a None entry,
        # as next's "none found", was read as NaN and named "not finite".
        odd = next((i for i, v in enumerate(entries) if as_real(v) is None), None)
        if odd is not None:
            where = (
                f" for class {shown_label(labels[odd])}" if odd < len(labels) else ""
            )
            raise ValueError(
                f"{name} must hold one number per class, got {entries[odd]!r} of "
                f"type {type(entries[odd]).__name__}{where}."
            )
        values = np.array([as_real(v) for v in entries], dtype=np.float64)
    if values.shape != (len(labels),):
        raise ValueError(
            f"{name} must have one entry per class ({len(labels)}), "
            f"got shape {values.shape}."
        )
    if not np.all(np.isfinite(values)) or np.any(values <= 0):
        raise ValueError(f"{name} must be finite and > 0, got {values}.")
    return values


# Integers up to here are exact in float32, the type the network's inputs
# are given in (token ids among them).
FLOAT32_EXACT_INTEGERS = 2**24
# And in float64, the type in which counts of draws are given to torch.
FLOAT64_EXACT_INTEGERS = 2**53
# The largest float32, the type of the inputs and of the rule's state (M).
FLOAT32_MAX = float(np.finfo(np.float32).max)
# The smallest normal float32: below it, M would be kept as a subnormal
# number, which a device that flushes them reads as 0, or as 0 itself.
FLOAT32_SMALLEST = float(np.finfo(np.float32).tiny)


def as_real(value):
    """``value`` as a float if it is one real number: a Python or NumPy real
    that is not a bool, or a one-element real NumPy array or torch tensor
    (read on the host); None for anything else."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1 or value.dtype == torch.bool or value.is_complex():
            return None
        return float(value.item())
    if isinstance(value, np.ndarray):
        return (
            float(value.item())
            if value.size == 1 and value.dtype.kind in "iuf"
            else None
        )
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_)):
        try:
            return float(value)
        except OverflowError:
            # An int beyond the float range (10**400): infinite, which every
            # check refuses by name.
            return math.inf if value > 0 else -math.inf
    return None


def real_as_float(value):
    """``value`` as a float if it is a real number of a type that is neither
    an integer nor a float (a ``fractions.Fraction``), which NumPy's
    ``isnan`` (called by scikit-learn's intervals) and torch's optimisers
    refuse; beyond the float range, infinite, as :func:`as_real` reads it.
    A NumPy float narrower than a Python float (``np.float16``,
    ``np.float32``) as the Python float of its value too: compared with
    one, NumPy casts the bound to the narrow type, so that a float16 value
    checked against float32's largest warned "overflow encountered in
    cast", and one against its smallest normal number compared with 0 (an
    ``M`` of ``np.float16(0)`` passed). Anything else as it is."""
    if isinstance(value, np.floating) and np.finfo(value.dtype).bits < 64:
        return float(value)
    if isinstance(value, numbers.Real) and not isinstance(
        value, (numbers.Integral, float, np.floating)
    ):
        return as_real(value)
    return value


def shown_number(value):
    """``repr`` of a parameter's value for an error message, short.

    A number whose repr is long (an integer of 21 digits or more, such as
    ``10**400``; a ``Fraction`` with such a term) is shown as Python shows a
    float, to four significant digits, whatever its size: ``1e+400``,
    ``9.996e+399``; a fraction with a long term that is not a whole number
    as ``a Fraction of about 3.333e+399``. Another long value is cut (a
    repr past 4,300 digits is itself an error).
    """
    if isinstance(value, numbers.Rational) and not isinstance(value, (bool, np.bool_)):
        if isinstance(value, numbers.Integral):
            value = int(value)
            if abs(value) < 10**20:
                return repr(value)
            return _four_digits(value, 1)
        if abs(value.numerator) < 10**20 and value.denominator < 10**20:
            return repr(value)
        about = _four_digits(int(value.numerator), int(value.denominator))
        if value.denominator == 1:
            return about
        # Named as a fraction: rounded, it may read as a value the
        # parameter takes (Fraction(10**20 + 1, 10**20) as 1).
        return f"a {type(value).__name__} of about {about}"
    try:
        text = repr(value)
    except ValueError:
        text = f"a {type(value).__name__} too long to print"
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _four_digits(numerator, denominator):
    """``numerator / denominator`` rounded to four significant digits, in
    the form of ``format(x, ".4g")`` of a float, computed exactly (the
    quotient may lie beyond the float range)."""
    with decimal.localcontext() as context:
        context.prec = 4
        context.Emax, context.Emin = decimal.MAX_EMAX, decimal.MIN_EMIN
        quotient = decimal.Decimal(numerator) / decimal.Decimal(denominator)
    exponent = quotient.adjusted()
    if -4 <= exponent < 4:
        return format(float(quotient), ".4g")
    sign, digits, _ = quotient.as_tuple()
    digits = "".join(map(str, digits)).rstrip("0") or "0"
    mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
    return f"{'-' if sign else ''}{mantissa}e{exponent:+03d}"


def check_within_floats(name, value, constraints):
    """Refuse, naming ``name``, a number of a numeric parameter (one with an
    ``Interval`` among its scikit-learn ``constraints``) beyond the float
    range (``10**400``): scikit-learn's intervals compare a Python integer
    exactly and let it pass, and it failed later in ``float()`` with a bare
    ``OverflowError`` (``lr``, ``max_epochs``) or with a message of 400
    digits naming another parameter (``target_power``). The message
    describes every interval (``warmup_epochs`` takes an integer or a
    fraction of the epochs)."""
    intervals = [
        constraint
        for constraint in (getattr(c, "constraint", c) for c in constraints)
        if isinstance(constraint, Interval)
    ]
    if (
        not intervals
        or isinstance(value, (bool, np.bool_))
        or not isinstance(value, numbers.Real)
    ):
        return
    try:
        float(value)
        return
    except OverflowError:
        pass
    integer = isinstance(value, numbers.Integral)
    shown = shown_number(value)
    if integer and any(i.type is numbers.Integral for i in intervals):
        got = shown
    else:
        got = f"{'-' if value < 0 else ''}inf ({shown}, beyond the float range)"
    kinds = " or ".join(_interval_in_words(interval) for interval in intervals)
    raise ValueError(f"{name} must be {kinds}, got {got}.")


def _interval_in_words(interval):
    """``Interval(Integral, 0, None, closed="left")`` as "an integer >= 0
    within the float range"."""
    low = "[" if interval.closed in ("left", "both") else "("
    high = "]" if interval.closed in ("right", "both") else ")"
    if interval.left is not None and interval.right is not None:
        bounds = f" in {low}{interval.left:g}, {interval.right:g}{high}"
    elif interval.left is not None:
        bounds = f" {'>=' if low == '[' else '>'} {interval.left:g}"
    elif interval.right is not None:
        bounds = f" {'<=' if high == ']' else '<'} {interval.right:g}"
    else:
        bounds = ""
    if interval.type is numbers.Integral:
        return f"an integer{bounds} within the float range"
    return f"a finite number{bounds}"


def validate_parameter(name, value, constraints, caller_name):
    """Check the parameter ``name`` of ``caller_name`` against its
    scikit-learn ``constraints``.

    A number beyond the float range is refused by name
    (:func:`check_within_floats`). A ``Fraction`` is checked as the float it
    stands for (scikit-learn's intervals call NumPy's ``isnan``, which
    fails on it with "ufunc 'isnan' not supported" and names no parameter),
    and so is a NumPy float narrower than float64 (:func:`real_as_float`);
    a refusal shows it as given (:func:`shown_number`); the parameter
    itself stays as given (``get_params`` returns it).
    """
    check_within_floats(name, value, constraints)
    checked = real_as_float(value)
    try:
        validate_parameter_constraints(
            {name: constraints}, {name: checked}, caller_name=caller_name
        )
    except InvalidParameterError as exc:
        if checked is value:
            raise
        raise InvalidParameterError(
            str(exc).replace(f"Got {checked!r}", f"Got {shown_number(value)}")
        ) from None


def check_tensor_lr(lr):
    """Refuse a tensor learning rate that is not one finite real number
    >= 0: scikit-learn's check takes any tensor (``torch.tensor(True)``
    trained as 1.0, and a NaN one failed after the first epoch as if the
    loss had overflowed). A signed integer tensor is a real number, as
    :func:`as_real` reads it, and torch's optimisers train with it as with
    the integer (``torch.tensor(1)`` as ``lr=1``). One read of its value, at
    validation."""
    if lr.numel() != 1:
        raise ValueError(
            "lr must be a number or a tensor of one element, got a tensor of "
            f"shape {tuple(lr.shape)}."
        )
    value = as_real(lr)
    if value is None:
        # A bool or complex dtype.
        raise TypeError(
            "lr must be a number or a tensor of a real dtype "
            f"(torch.tensor(1e-3)), got a tensor of dtype {lr.dtype}."
        )
    if not lr.dtype.is_signed:
        # torch's SGD steps by -lr, which wraps in an unsigned dtype:
        # torch.tensor(1, dtype=torch.uint8) climbed the loss at a rate of
        # 255.
        raise TypeError(
            "lr must be a number or a tensor of a signed dtype, got a tensor "
            f"of dtype {lr.dtype}, whose negation (torch's optimisers step by "
            "-lr) wraps around: pass lr.to(torch.float32)."
        )
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"lr must be a finite number >= 0, got {lr!r}.")


def bool_duplicates_summed(X):
    """A SciPy sparse ``X`` of bool values with duplicate entries of a cell,
    those summed while still bool (a cell is ``True``, as ``toarray()``
    reads it), on a copy; anything else as it is.

    Cast to float first, two ``True`` entries of one cell summed to 2.0 (a
    CSR matrix was read as counts, and the same matrix in COO, which SciPy
    sums as bool when it converts it to CSR, as 1.0). Integer values are
    counts, summed as such later.
    """
    if (
        not sp.issparse(X)
        or X.dtype != np.bool_
        or getattr(X, "has_canonical_format", True)
    ):
        return X
    X = X.copy()
    X.sum_duplicates()
    return X


def to_float32(X, name):
    """``X`` as float32, refusing values beyond the float32 range, and NaN
    or inf where its values are read for that (``X`` not float32, or a
    sparse matrix with duplicate entries)."""
    # A float64 value beyond the float32 range would become inf in the
    # network and turn every parameter into NaN without an error.
    limit = FLOAT32_MAX
    values = X
    summed = False
    if sp.issparse(X):
        # SciPy's max and min sum a matrix's duplicate entries in place,
        # rewriting the caller's arrays, and so does astype in SciPy before
        # 1.11: a matrix with duplicates is summed on a copy, which is cast,
        # and the stored values of any other are read as they are. A
        # float32 matrix is summed too (the batches take the sums): two
        # entries of 3e38 in one cell are inf, which trained the network
        # into NaN.
        if not getattr(X, "has_canonical_format", False):
            X = X.copy()
            X.sum_duplicates()
            summed = True
        values = X.data
    # max and min rather than abs(X).max(): no temporary the size of X (a
    # float64 X would cost twice its float32 copy). Stored float32 values
    # are within the range: finite, checked before (not read again when
    # assume_finite skipped that check: a pass over X it was set to save).
    if (X.dtype == np.float32 and not summed) or not values.size:
        return X.astype(np.float32, copy=False)
    largest, smallest = values.max(), values.min()
    # NaN or inf stored: scikit-learn's check refuses them, unless
    # sklearn.set_config(assume_finite=True) skipped it. Trained on, they
    # failed the fit as an overflow of the loss, with advice to lower the
    # learning rate. (Duplicate entries of a cell summed to inf are the
    # overflow named below: a sum of finite values is never NaN.)
    if (
        np.isnan(largest)
        or np.isnan(smallest)
        or (not summed and (np.isinf(largest) or np.isinf(smallest)))
    ):
        raise ValueError(
            f"{name} holds NaN or infinite values, which scikit-learn's check "
            "did not refuse: sklearn.set_config(assume_finite=True) (or "
            "config_context) skipped it. Remove or impute them (for example "
            "with sklearn.impute.SimpleImputer), or leave assume_finite False "
            "to have them named."
        )
    if largest > limit or smallest < -limit:
        where = " (duplicate entries of a cell summed)" if summed else ""
        raise ValueError(
            f"{name} holds values{where} of magnitude above {limit:.3g}, the "
            "float32 range the network computes in; scale the features first."
        )
    return X.astype(np.float32, copy=False)


def check_X_dict(X):
    """Check a dict of named inputs; return it as float32 arrays.

    Each value is checked on its own, and an error names it
    (``X['tokens']``), with the advice that ``X`` itself gets for text or
    token ids of varying length. :func:`check_input_names` compares the
    names and row shapes with fit's.
    """
    if not X:
        raise ValueError("X is an empty dict; give one array per input.")
    out = {}
    for key, value in X.items():
        if not isinstance(key, str):
            raise TypeError(f"Keys of a dict X must be str, got {key!r}.")
        name = f"X[{key!r}]"
        if value is None:
            # NumPy read None as a NaN scalar: "contains NaN".
            raise ValueError(
                f"{name} is None; every input of a dict X is an array with one "
                "row per sample. Leave the key out where the module's forward "
                "does without that input, or fill in its missing values."
            )
        if isinstance(value, (numbers.Number, str, bytes)) or (
            getattr(value, "ndim", None) == 0
        ):
            # (scikit-learn's refusal of a 0-d array names no input.)
            raise ValueError(
                f"{name} is a single value ({shown_number(value)}), not an "
                "array with one row per sample (of shape (n_samples, ...))."
            )
        sparse = _sparse_kind(value)
        if sparse is not None:
            # check_array would advise .toarray(), which densifies it whole
            # (and torch failed converting a sparse tensor to NumPy).
            raise TypeError(
                f"{name} is a {sparse}: the values of a dict of inputs are "
                "dense arrays. To keep it sparse, give X as an InMemoryDataset "
                "whose dict holds the SciPy matrix as SparseRows and the other "
                f"inputs as tensors (InMemoryDataset({{{key!r}: "
                "SparseRows(matrix), ...})), or pass the sparse matrix as X "
                "itself (without a dict)."
            )
        check_not_lazy(value, name)
        value = readable_tensor(value)
        try:
            arr = check_array(
                value,
                dtype=(np.float32, np.float64),
                allow_nd=True,
                ensure_2d=False,
                input_name=name,
            )
        except ValueError as exc:
            advised = advised_input_error(exc, value, name)
            if advised is None:
                raise
            raise advised from exc
        largest = _largest_integer(value, arr) if arr.size else None
        if largest is not None and largest > FLOAT32_EXACT_INTEGERS:
            # float32 holds integers exactly up to 2**24 only: larger ids
            # would be rounded, and distinct tokens would share an embedding.
            raise ValueError(
                f"{name} holds integers above 2**24 = {2**24:,}, which "
                "float32, the type every input of a dict is given to the "
                "network in, cannot hold exactly (ids would be rounded). "
                "Renumber them (a smaller vocabulary or hash space)."
            )
        out[key] = to_float32(arr, name)
    lengths = {key: len(value) for key, value in out.items()}
    if len(set(lengths.values())) != 1:
        raise ValueError(
            f"All inputs of a dict X must have the same length, got {lengths}."
        )
    return out


def check_input_names(X, keys, shapes=None):
    """Refuse a dict ``X`` of inputs (arrays, tensors or
    :class:`SparseRows`) that lacks an input fit saw, holds one it did not
    see, or whose rows have another shape than fit's, naming them.

    Parameters
    ----------
    X : dict
        The inputs by name.
    keys : list of str or None
        The names seen in fit; None checks nothing.
    shapes : dict of str to tuple or None, default=None
        The shape of each input's rows in fit, where fit recorded it.
    """
    if keys is None:
        return
    missing = sorted(set(keys) - set(X))
    if missing:
        raise ValueError(f"X is missing the input(s) {missing} seen during fit.")
    extra = sorted(set(X) - set(keys))
    if extra:
        raise ValueError(
            f"X has the input(s) {extra}, which fit did not see (it saw {keys})."
        )
    for key, shape in (shapes or {}).items():
        got = tuple(X[key].shape[1:])
        if got != tuple(shape):
            raise ValueError(
                f"X[{key!r}] has rows of shape {got}, but fit saw rows of shape "
                f"{tuple(shape)}."
            )


def advised_input_error(exc, X, name="X", owner=None):
    """The ``ValueError``, with advice, to raise for ``exc``, the error that
    scikit-learn's ``check_array`` (NumPy, beneath it) gave reading the input
    ``X``; None where it has no advice, and ``exc`` stands.

    Text, lists of token ids of varying length, and cells that hold lists
    (an object array or a pandas Series of lists) get advice on making
    numbers of them; NumPy's own words say only what failed ("could not
    convert string to float", "inhomogeneous shape").

    Parameters
    ----------
    exc : ValueError
        The error of reading ``X``.
    X : object
        The input as it was given to ``check_array``.
    name : str, default="X"
        The input in the message: ``"X"``, or ``"X['tokens']"`` for a value
        of a dict of inputs.
    owner : str or None, default=None
        The name of the estimator whose ``X`` itself this is: its text is
        made numbers by a vectorizer before it in a pipeline. None for a
        value of a dict of inputs, which is made numbers before the dict is
        built.

    Returns
    -------
    error : ValueError or None
    """
    message = str(exc)
    if "inhomogeneous" in message:
        return ValueError(
            f"{name} holds rows of different lengths ({exc}). Lists of token "
            "ids of varying length become one padded array with "
            "rsft_sklearn.pad_token_ids (or TokenIndexer, from text)."
        )
    if "setting an array element with a sequence" in message and (
        holds_sequence_cells(X)
    ):
        # An object array or a Series whose cells are lists (not any object
        # that NumPy fails to read, whose cells may be none).
        return ValueError(
            f"{name} holds sequences in its cells ({exc}). Lists of token ids "
            "(an object array or a pandas Series of lists) become one padded "
            "array with rsft_sklearn.pad_token_ids (or TokenIndexer, from "
            "text)."
        )
    if "could not convert string to float" not in message:
        return None
    if owner is not None:
        return ValueError(
            f"{name} holds text ({exc}). {owner} takes numbers: put a "
            "vectorizer before it in a pipeline, such as sklearn's "
            "TfidfVectorizer (sparse TF-IDF, for the default MLP) or "
            "rsft_sklearn.TokenIndexer (token ids, for EmbeddingBagModule); "
            "encode text columns of a DataFrame with a ColumnTransformer."
        )
    return ValueError(
        f"{name} holds text ({exc}). The inputs of a dict are numbers: turn "
        "the text into numbers before it goes in the dict, such as token ids "
        "with rsft_sklearn.TokenIndexer (for an embedding in the module) or "
        "TF-IDF values with sklearn's TfidfVectorizer (a sparse matrix, which "
        "an InMemoryDataset holds as SparseRows)."
    )


def check_not_lazy(X, name):
    """Refuse, with advice, a lazy query given as data: an object with
    ``collect()`` and no array form, such as a polars ``LazyFrame``. NumPy
    read one as a single object, and the error ("setting an array element
    with a sequence") spoke of cells."""
    if callable(getattr(X, "collect", None)) and not hasattr(X, "__array__"):
        raise TypeError(
            f"{name} is a {type(X).__name__}, a query not yet run: call "
            f"{name}.collect() and pass its result."
        )


def holds_sequence_cells(X):
    """Whether some cell of ``X`` (an object array, a pandas Series or
    DataFrame, a polars one, a list of rows) is itself a sequence: a list,
    tuple or array, such as the token ids of a document. Read on an error
    path only: the cells are taken as Python objects."""
    if hasattr(X, "select_dtypes"):
        # (pandas: the object columns only, the others hold numbers.)
        X = X.select_dtypes(include=object)
    try:
        cells = np.asarray(X, dtype=object)
    except (ValueError, TypeError):
        return isinstance(X, (list, tuple))
    # (An array, a tensor or a pandas Series in a cell has an axis.)
    return any(
        isinstance(cell, (list, tuple)) or getattr(cell, "ndim", 0) >= 1
        for cell in cells.flat
    )


def _sparse_kind(value):
    """A sparse input in words (a SciPy matrix, a torch sparse tensor, a
    pandas frame all of whose columns are sparse); None for any other.

    scikit-learn reads a frame of sparse columns only as a sparse matrix;
    one with dense columns too, or a series of a sparse dtype, it reads
    densified, as any column, and so do the values of a dict.
    """
    if sp.issparse(value):
        return f"sparse {type(value).__name__}"
    if isinstance(value, torch.Tensor) and value.layout != torch.strided:
        return f"torch sparse tensor ({value.layout})"
    if type(value).__module__.split(".", 1)[0] == "pandas" and hasattr(
        value, "columns"
    ):
        import pandas as pd

        dtypes = list(value.dtypes)
        if dtypes and all(isinstance(dtype, pd.SparseDtype) for dtype in dtypes):
            return f"pandas {type(value).__name__} of sparse columns"
    return None


def _largest_integer(value, converted):
    """Largest magnitude among the integer values of an input of a dict,
    read before any conversion to float; None when it holds none.

    Each column of a frame is read on its own (pandas, polars, pyarrow):
    converted whole, a frame of integer and float columns is float64, whose
    ids above ``2**24`` float32 then rounds. A column of Python objects (a
    pandas ``object`` column) holds integers when its cells are ints, and a
    pandas categorical column its categories' values, which NumPy reads as
    an integer array when they are integers. ``converted`` is ``value`` as
    check_array gave it (float32 or float64, a frame's columns side by
    side): an object column's cells are looked at only where it is beyond
    float32's exact integers.
    """
    if isinstance(value, torch.Tensor):
        dtype = value.dtype
        if dtype.is_floating_point or dtype.is_complex or dtype == torch.bool:
            return None
        return float(value.detach().double().abs().max()) if value.numel() else None
    largest = None
    for column, column_converted in _frame_columns(value, converted):
        if _float_typed(column):
            # (Not read: NumPy copies a chunked pyarrow column whole.)
            continue
        # (NumPy reads a polars or pyarrow column, a nullable or categorical
        # pandas one, in its own dtype: int64 ids as int64.)
        values = np.asarray(column)
        if not values.size:
            continue
        if values.dtype.kind in ("i", "u"):
            # (Neither abs, which wraps int64's minimum, nor a float copy.)
            found = max(abs(float(values.max())), abs(float(values.min())))
        elif values.dtype == object:
            found = _largest_integer_object(values, column_converted)
        else:
            continue
        if found is not None:
            largest = max(largest or 0.0, found)
    return largest


def _frame_columns(value, converted):
    """The columns of a data frame (pandas, polars, a pyarrow Table or
    RecordBatch), each read on its own, beside its column of ``converted``
    (the frame as check_array gave it); ``[(value, converted)]`` for
    anything else."""
    library = type(value).__module__.split(".", 1)[0]
    if hasattr(value, "columns") and hasattr(value, "items"):
        columns = [column for _, column in value.items()]  # pandas
    elif library == "polars" and hasattr(value, "get_columns"):
        columns = value.get_columns()
    elif library == "pyarrow" and hasattr(value, "column_names"):
        columns = value.columns
    else:
        return [(value, converted)]
    return [(column, converted[:, j]) for j, column in enumerate(columns)]


def _float_typed(column):
    """Whether a column (a NumPy array, a pandas, polars or pyarrow one)
    holds floats by its type, read without converting it."""
    library = type(column).__module__.split(".", 1)[0]
    if library == "pyarrow":
        # (The names of pyarrow's float16, float32 and float64 types.)
        return str(column.type) in ("halffloat", "float", "double")
    dtype = getattr(column, "dtype", None)
    if library == "polars":
        return dtype.is_float()
    return getattr(dtype, "kind", None) == "f"


def _largest_integer_object(values, converted):
    """Largest magnitude above ``2**24`` among the integer cells (Python or
    NumPy ints) of an object array, or None. ``converted`` holds the cells
    as check_array converted them (to float32 or float64, in the same
    shape): only those at ``2**24`` or beyond there are looked at one by
    one, the others are exact in float32 whatever their type. (Rounding
    keeps the order: an integer above ``2**24`` is at least ``2**24`` in
    float32.)"""
    beyond = (converted >= FLOAT32_EXACT_INTEGERS) | (
        converted <= -FLOAT32_EXACT_INTEGERS
    )
    if not beyond.any():
        return None
    largest = max(
        (
            abs(int(cell))
            for cell in values[beyond]
            if isinstance(cell, numbers.Integral)
        ),
        default=0,
    )
    return float(largest) if largest > FLOAT32_EXACT_INTEGERS else None


def input_column_names(X):
    """The column names of every input of a dict ``X``, read as
    scikit-learn reads ``feature_names_in_``: an object array for a
    DataFrame whose columns are all strings, else None."""
    return {key: _get_feature_names(value) for key, value in X.items()}


def check_input_column_names(names, fitted, estimator):
    """Compare the inputs' column names with those seen in fit: other names
    or another order are an error (the columns would be read in the fitted
    order by position), missing names a warning, as scikit-learn does for
    one DataFrame."""
    for key, seen in fitted.items():
        given = names.get(key)
        if seen is None:
            if given is not None:
                warnings.warn(
                    f"X[{key!r}] has column names, but {estimator} was fitted "
                    "without them there; its columns are read by position.",
                    RSFTWarning,
                    stacklevel=caller_stacklevel(),
                )
            continue
        if given is None:
            warnings.warn(
                f"X[{key!r}] has no column names, but {estimator} was fitted "
                "with a DataFrame there; its columns are read by position.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
        elif len(given) != len(seen) or not np.array_equal(given, seen):
            raise ValueError(
                f"The column names of X[{key!r}] should match those seen during "
                f"fit, in the same order: fitted {list(seen)}, got {list(given)}."
            )


def shown_label(label):
    """``repr`` of a label as its Python value reads (``0``, ``'1'``), not
    NumPy's ``np.int64(0)``."""
    return repr(label.item() if isinstance(label, np.generic) else label)


def is_missing(label):
    """Whether a value of an object array is missing: None, a float NaN or
    pandas' NA (or NaT)."""
    if label is None:
        return True
    if isinstance(label, (float, np.floating)):
        return bool(np.isnan(label))
    return type(label).__name__ in ("NAType", "NaTType")


_NUMPY_BEFORE_2 = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def check_labels(y, owner=None, warn=True):
    """``y`` as a 1-d array of binary or multiclass labels.

    A column vector is taken with scikit-learn's warning, given here (where
    ``warn``) at the user's call and prefixed with ``owner``, the labels it
    is about, where given: ``column_or_1d`` points it at its own line, and
    catching it to give it again would swap the process's warning filters
    under other threads.
    """
    y = check_array(
        _readable_vector(y, "y"),
        ensure_2d=False,
        dtype=None,
        input_name="y",
        ensure_all_finite=False,
        ensure_min_samples=0,
    )
    if warn and y.ndim == 2 and y.shape[1] == 1:
        # scikit-learn's words, which its check_supervised_y_2d reads.
        message = (
            "A column-vector y was passed when a 1d array was expected. Please "
            "change the shape of y to (n_samples, ), for example using ravel()."
        )
        warnings.warn(
            message if owner is None else f"{owner}: {message}",
            DataConversionWarning,
            stacklevel=caller_stacklevel(),
        )
    y = column_or_1d(y, warn=False)
    if y.dtype.kind == "O":
        # A missing label among strings (None, NaN, pd.NA) failed in the
        # sort of the classes ("'<' not supported between ...").
        try:
            # In C, element by element: NaN (and NaT) differs from itself.
            if _NUMPY_BEFORE_2:
                with warnings.catch_warnings():
                    # NumPy before 2 warns that the elementwise comparison
                    # failed (pandas' NA) before the fallback below reads
                    # it. (Not entered otherwise: it swaps the process's
                    # filters under other threads, at every fit.)
                    warnings.simplefilter("ignore", DeprecationWarning)
                    unequal = y != y
            else:
                unequal = y != y
            if np.shape(unequal) != y.shape:
                # NumPy before 2 gives one False for the whole comparison
                # when an element (pandas' NA) has no truth value.
                raise TypeError
            flags = np.asarray(unequal | (y == None), dtype=bool)  # noqa: E711
            missing = np.flatnonzero(flags).tolist()
        except (TypeError, ValueError):
            # pandas' NA has no truth value (nor has an array as a label).
            missing = [i for i, label in enumerate(y) if is_missing(label)]
        if missing:
            raise ValueError(
                f"y holds {len(missing)} missing label(s) (None or NaN), the "
                f"first at position {missing[0]}; drop or label those rows."
            )
    if y.dtype.kind == "f":
        # Before scikit-learn's check of the target's type, whose cast of
        # NaN to int warns ("invalid value encountered in cast") before it
        # refuses it. (pandas' NA in an Int64 or boolean y is NaN here.)
        assert_all_finite(y, input_name="y")
    classes = text_classes(y)
    # The type of text labels depends on their number alone (more than two:
    # multiclass), so that of their distinct values is theirs: each sort of
    # a million Python strings (type_of_target's np.unique) costs seconds.
    y_type = type_of_target(y if classes is None else classes, input_name="y")
    # The checks of scikit-learn's check_classification_targets(y), on the
    # type found once (its "Unknown label type" prefix kept).
    if y_type not in _CLASSIFICATION_TARGETS:
        raise ValueError(
            f"Unknown label type: {y_type}. A classifier needs discrete "
            "classes"
            + (
                "; continuous values are the target of a regressor."
                if y_type.startswith("continuous")
                else " of one kind (all numbers or all strings)."
            )
        )
    if "multiclass" in y_type and len(y) > 20:
        n_classes = len(np.unique(y) if classes is None else classes)
        if n_classes > round(0.5 * len(y)):
            warnings.warn(
                f"y holds {n_classes} distinct labels, more than half of its "
                f"{len(y)} rows: is it the target of a regression rather than "
                "classes?",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
    if y_type not in ("binary", "multiclass"):
        raise ValueError(f"y must hold binary or multiclass labels, got {y_type}.")
    return y


# The target types that scikit-learn's check_classification_targets accepts.
_CLASSIFICATION_TARGETS = (
    "binary",
    "multiclass",
    "multiclass-multioutput",
    "multilabel-indicator",
    "multilabel-sequences",
)


def text_classes(y):
    """The distinct labels of a 1-d object array of Python ``str`` labels,
    sorted, as ``np.unique(y)`` gives them; None for any other array.

    ``np.unique`` sorts all the Python objects (``n log n`` comparisons in
    Python); a set hashes each label once and sorts the distinct ones only,
    with the same comparison (as scikit-learn's ``_unique_python`` does).
    Only exact ``str`` labels qualify: where ``str`` and NumPy's ``str_`` mix,
    which of two equal labels ``np.unique`` keeps is its own choice.
    """
    if y.ndim != 1 or y.dtype.kind != "O" or not len(y):
        return None
    labels = y.tolist()
    if set(map(type, labels)) != {str}:
        return None
    return np.array(sorted(set(labels)), dtype=object)


def label_kind(label):
    """The name of a label's type, for refusing a mixture of kinds: NumPy's
    ``str_`` counts as ``str`` (``np.unique`` of a text array gives them),
    since the two compare and sort together."""
    return "str" if isinstance(label, str) else type(label).__name__


def fit_classes(y, classes=None, *, sort=False):
    """The class labels of a fit: ``classes`` if given, else those of ``y``.

    Given ``classes`` keep their order, as in skorch: the columns of
    ``predict_proba`` follow it. Out of order, they are sorted when ``sort``
    (as scikit-learn's ``partial_fit`` sorts its ``classes``), and otherwise
    kept with a warning, since scikit-learn's scorers read the columns of
    ``predict_proba`` in sorted order.
    """
    if classes is not None:
        if isinstance(classes, (set, frozenset, Mapping, str)):
            raise TypeError(
                "classes must be an array-like of class labels in the order of "
                f"the network's outputs, got {type(classes).__name__}."
            )
        given = classes
        # A copy: the fitted classes_ must not change with the caller's array.
        classes = np.array(classes)
        if classes.ndim == 1 and classes.dtype.kind in "OUS":
            # The kinds of the labels as given: np.array turns [0, 'a'] into
            # the strings ['0', 'a'], which y's 0 then did not match.
            labels = (
                classes
                if classes.dtype.kind == "O" or isinstance(given, np.ndarray)
                else np.array(given, dtype=object)
            )
            kinds = {label_kind(label) for label in labels}
            if any(label is None for label in labels) or (
                {"str"} & kinds and kinds - {"str"}
            ):
                raise ValueError(
                    f"classes mixes label types ({sorted(kinds)}), or holds "
                    f"None: {labels.tolist()!r}. Give each label as y holds "
                    "it: all numbers, or all strings."
                )
        if classes.dtype.kind == "f" and not np.all(np.isfinite(classes)):
            raise ValueError(
                f"classes holds NaN or infinity: {classes.tolist()!r}; a class "
                "label must equal itself."
            )
        if classes.ndim != 1:
            raise ValueError(
                "classes must be a 1-d list of class labels, got an array of "
                f"shape {classes.shape}: {classes.tolist()!r}."
            )
        if len(classes) < 2:
            raise ValueError(
                "classes must list at least two class labels, got "
                f"{classes.tolist()!r}; pass classes=None to take them from y."
            )
        ordered = np.unique(classes)
        if len(ordered) != len(classes):
            raise ValueError(f"classes holds duplicate labels: {classes.tolist()!r}.")
        if np.array_equal(ordered, classes):
            return classes
        if sort:
            return ordered
        warnings.warn(
            f"classes={classes.tolist()!r} is not in sorted order. The columns "
            "of predict_proba follow it, but scikit-learn's scorers "
            "(roc_auc, neg_log_loss, average_precision) read them in sorted "
            "order and would score the wrong columns, and a binary "
            "CalibratedClassifierCV fails. Give the classes sorted, unless the "
            "network's outputs must follow this order.",
            RSFTWarning,
            # The caller of fit or partial_fit.
            stacklevel=caller_stacklevel(),
        )
        return classes
    found = text_classes(y)
    if found is None:
        found = np.unique(y)
    if len(found) < 2:
        raise ValueError(
            f"y holds one class only ({shown_label(found[0])}); a classifier needs "
            "at least two classes. (A first partial_fit on part of the data "
            "takes every label as classes=[...].)"
        )
    return found


def encode_labels(y, classes, *, given=False, continued=False):
    """Indices of the labels ``y`` in ``classes`` (in any order); refuse others.

    ``given``: the classes are those given as ``classes=`` to the fit that
    encodes ``y``, which the error then names. ``continued``: ``y`` is that
    of a call that continues training (``partial_fit``, a ``warm_start``
    fit), whose classes the first call fixed, which the error then says.
    """
    order = np.argsort(classes, kind="stable")
    position = np.clip(np.searchsorted(classes, y, sorter=order), 0, len(classes) - 1)
    idx = order[position]
    unseen = classes[idx] != y
    if np.any(unseen):
        bad = np.unique(y[unseen])[:10].tolist()
        if given:
            found = np.unique(y)
            hint = ""
            labels = set(found.tolist())
            if found.dtype.kind in "iub" and labels <= set(range(len(classes))):
                # Scikit-learn's meta-estimators that fit their base
                # estimator on encoded labels (0 .. K-1, or 0/1 per
                # sub-problem) do not pass a classes= on with it.
                hint = (
                    " These look like labels encoded as 0, 1, ... by a "
                    "meta-estimator that fits this one on encoded labels "
                    "(StackingClassifier, VotingClassifier, BaggingClassifier, "
                    "OneVsRestClassifier, OneVsOneClassifier, cross_val_predict "
                    "with method='predict_proba' and so RejectionSampler, "
                    "CalibratedClassifierCV with ensemble=False): use "
                    "classes=None inside it."
                )
            raise ValueError(
                f"y contains labels that are not among the classes given as "
                f"classes={classes.tolist()!r}: {bad}. List every label of y "
                f"in classes, or pass classes=None to take them from y.{hint}"
            )
        if continued:
            # The fix is at the first call: the classes cannot grow later
            # (the network has one output per class).
            raise ValueError(
                f"y contains labels not seen during fit: {bad}. The estimator's "
                "classes are fixed by its first fit or partial_fit call: "
                f"classes_={shown_classes(classes)}. Name every class that y "
                "may hold at the first call (partial_fit's classes=, the "
                "classes parameter, or the labels of the first fit's y), or "
                "fit afresh."
            )
        raise ValueError(f"y contains labels not seen during fit: {bad}.")
    return idx.astype(np.int64)


def shown_classes(classes, head=6, tail=3):
    """The classes as a list, its middle left out when they are many."""
    listed = [
        label.item() if isinstance(label, np.generic) else label for label in classes
    ]
    if len(listed) <= head + tail + 1:
        return repr(listed)
    ends = ", ".join(map(repr, listed[:head])), ", ".join(map(repr, listed[-tail:]))
    return f"[{ends[0]}, ..., {ends[1]}] ({len(listed)} classes)"


# Floating dtypes of torch that NumPy has no type for, read as float32,
# which holds each of their values exactly. (float4, packed two to a byte,
# has no conversion, and keeps NumPy's error.)
_NUMPY_LACKS = frozenset(
    getattr(torch, name)
    for name in (
        "bfloat16",
        "float8_e4m3fn",
        "float8_e4m3fnuz",
        "float8_e5m2",
        "float8_e5m2fnuz",
        "float8_e8m0fnu",
    )
    if hasattr(torch, name)
)


def readable_tensor(X):
    """A torch tensor as scikit-learn's checks read it, through NumPy,
    which takes neither one that requires grad (the output of a feature
    extractor: "Can't call numpy() on Tensor that requires grad"), nor one
    on a GPU, nor a dtype it lacks (bfloat16, float8: "Got unsupported
    ScalarType BFloat16"): detached, on the host, those dtypes as float32.
    A sparse tensor (``to_sparse()``, ``to_sparse_csr()``), which NumPy
    refuses too, as the SciPy CSR matrix of its values, which stays sparse
    as a SciPy matrix does. A dense one as the NumPy array sharing its
    memory. Anything else as it is."""
    if isinstance(X, torch.Tensor):
        X = X.detach().cpu()
        if X.layout != torch.strided:
            return _sparse_tensor_as_csr(X)
        if X.dtype in _NUMPY_LACKS:
            X = X.float()
        # NumPy, not the tensor: under sklearn.set_config(
        # array_api_dispatch=True) scikit-learn's checks take a tensor as a
        # torch array and failed converting it to a NumPy dtype inside
        # array_api_compat ("asarray(): argument 'dtype' must be
        # torch.dtype, not type"). (Without dispatch they read it through
        # NumPy anyway.)
        X = X.numpy()
    return X


def _sparse_tensor_as_csr(X):
    """A torch sparse tensor of rows and features, in any sparse layout, as
    the SciPy CSR matrix of its values (those of one cell summed, as its
    ``to_dense()`` sums them)."""
    if X.dim() != 2 or X.dense_dim() != 0:
        raise TypeError(
            f"A torch sparse tensor ({X.layout}) of shape {tuple(X.shape)} and "
            f"{X.dense_dim()} dense axes cannot be read: a sparse input is one "
            "of rows and features, with a value per cell. Pass a "
            "scipy.sparse.csr_matrix, or a dense tensor (to_dense())."
        )
    coo = (X if X.layout == torch.sparse_coo else X.to_sparse()).coalesce()
    values = coo.values()
    if values.dtype in _NUMPY_LACKS or values.dtype == torch.float16:
        # SciPy's sparse matrices take no float16 either.
        values = values.float()
    rows, columns = coo.indices().numpy()
    return sp.csr_matrix((values.numpy(), (rows, columns)), shape=tuple(coo.shape))


def _readable_vector(value, name):
    """A per-row vector (``y``, ``sample_weight``) as :func:`readable_tensor`
    reads a tensor, a torch sparse one of one axis densified: it holds one
    value per row, as the dense copy does. One of more axes is refused,
    naming ``name`` (read as a matrix of rows and features, it got advice
    meant for ``X``)."""
    if isinstance(value, torch.Tensor) and value.layout != torch.strided:
        if value.dim() != 1:
            raise TypeError(
                f"{name} is a torch sparse tensor ({value.layout}) of shape "
                f"{tuple(value.shape)}; give one value per row, as a 1-d array "
                "or tensor."
            )
        value = value.detach().to_dense()
    return readable_tensor(value)


def check_sample_weight(sample_weight, n_samples):
    """Non-negative finite weights with a positive sum, as float64 (the
    caller's scale: the rule divides them by their mean over the training
    rows of positive weight), divided by their largest where their mean over
    every row is subnormal."""
    weight = _check_sample_weight(
        _readable_vector(sample_weight, "sample_weight"),
        np.empty(n_samples),
        dtype=np.float64,
        ensure_non_negative=True,
    )
    with np.errstate(over="ignore"):
        # A sum beyond the float64 range is named below, not warned about.
        total = weight.sum()
    if not np.all(np.isfinite(weight)) or total <= 0:
        raise ValueError("sample_weight must be finite with a positive sum.")
    if not np.isfinite(total):
        # Each weight finite, their sum not: the class counts and the mean
        # the rule divides by would be inf (and the prior NaN).
        raise ValueError(
            f"sample_weight sums beyond the float64 range (largest weight "
            f"{weight.max():.3g}); divide the weights by a constant, which "
            "changes nothing else."
        )
    if total / len(weight) < np.finfo(np.float64).tiny:
        # Their mean would underflow or lose its precision among the
        # subnormal numbers, as may the mean the rule divides them by (over
        # the training rows of positive weight): divided by the largest, they
        # keep their ratios (the exact ones, where they are multiples of the
        # smallest subnormal).
        weight = weight / weight.max()
    return weight


def check_callbacks(callbacks):
    """Refuse a ``callbacks`` value that skorch would misread.

    skorch accepts ``None``, ``"disable"`` and a list of callbacks, classes
    of callbacks or ``(name, callback)`` pairs; a callback need not derive
    from skorch's ``Callback`` as long as it has the methods skorch calls.
    """

    def _valid(cb):
        if isinstance(cb, tuple) and len(cb) == 2 and isinstance(cb[0], str):
            cb = cb[1]
            if cb is None:
                return True
        if isinstance(cb, type):
            return True
        return not isinstance(cb, (str, tuple)) and callable(
            getattr(cb, "initialize", None)
        )

    valid = (
        callbacks is None
        or (isinstance(callbacks, str) and callbacks == "disable")
        or (isinstance(callbacks, (list, tuple)) and all(map(_valid, callbacks)))
    )
    if not valid:
        raise TypeError(
            "callbacks must be None, 'disable', or a list of callbacks (objects "
            "with skorch's callback methods, or their classes) or (name, "
            f"callback) pairs, got {callbacks!r}."
        )


def check_device(device):
    """Refuse a ``device`` that a fit or a prediction cannot place its
    tensors on.

    The network, the batches and the rejection masks' generator all live on
    ``device``; without this check a missing backend surfaces as an error
    from deep inside torch (a generator without a CUDA library, say).
    Returns the parsed :class:`torch.device`.
    """
    if device is None:
        raise ValueError(
            "device=None is not supported: the network, the batches and the "
            "rejection masks are placed on one device. Pass device='cpu', "
            "'cuda' or another torch device."
        )
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(f"device={device!r} is not a torch device: {reason}") from None
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested, but CUDA is not available to "
                f"this PyTorch ({torch.__version__}); use device='cpu'."
            )
        count = torch.cuda.device_count()
        if parsed.index is not None and parsed.index >= count:
            raise ValueError(
                f"device={device!r} was requested, but only {count} CUDA "
                "device(s) are visible."
            )
    elif parsed.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            f"device={device!r} was requested, but the MPS backend is not "
            "available here; use device='cpu'."
        )
    elif parsed.type == "meta":
        raise ValueError(
            "device='meta' holds no data, so nothing can be trained or "
            "predicted on it; use device='cpu' or an accelerator."
        )
    elif parsed.type != "cpu":
        # Any other backend (xpu, hip, ...): one tensor and the masks'
        # generator, which torch refuses where the backend is missing.
        try:
            torch.empty(0, device=parsed)
            torch.Generator(device=parsed)
        except Exception as exc:  # torch raises several kinds here
            # The first sentence of torch's message (some run for pages).
            reason = str(exc).splitlines()[0].split(". ")[0] if str(exc) else ""
            reason = reason or type(exc).__name__
            raise ValueError(
                f"device={device!r} was requested, but this PyTorch "
                f"({torch.__version__}) cannot use it: {reason}; use device='cpu'."
            ) from None
    return parsed


def check_criterion(criterion, owner):
    """Refuse a ``criterion_`` that is not a loss module around a criterion.

    The training step masks per-sample losses and reads the mask's state from
    ``criterion_``; a subclass whose ``initialize_criterion`` sets a plain
    criterion (which reduces over the batch) would train without the mask.
    """
    if hasattr(criterion, "base_criterion"):
        return
    if criterion is None:
        got = "no criterion_"
    else:
        got = type(criterion).__name__
        reduction = getattr(criterion, "reduction", None)
        if reduction is not None:
            got += f" with reduction={reduction!r}"
    raise TypeError(
        f"{owner}.initialize_criterion must set criterion_ to the RejectionLoss "
        f"around the per-sample criterion, got {got}. The rejection mask weights "
        "one loss per sample (reduction='none'), and the training step reads the "
        "mask's state from criterion_. Pass criterion=... and criterion__*=... "
        "instead, or call super().initialize_criterion() in the override."
    )


def check_target(target, classes):
    """The class part of ``target`` for :func:`class_target_weight`.

    A dict is checked against ``classes`` (:func:`check_class_weight`) and
    returned as an array in their order; ``"balanced_groups"`` gives
    ``"uniform"``, its weights being per (group, class) stratum; the other
    options pass through.

    Examples
    --------
    >>> from rsft_sklearn._validation import check_target
    >>> check_target({"a": 1.0, "b": 2.0}, ["a", "b"]).tolist()
    [1.0, 2.0]
    >>> check_target("balanced_groups", ["a", "b"])
    'uniform'
    """
    if isinstance(target, dict):
        return check_class_weight(target, classes, "target")
    if target == "balanced_groups":
        return "uniform"
    return target
