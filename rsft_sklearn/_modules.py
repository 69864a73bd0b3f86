"""Default networks."""

import math
import numbers
from collections.abc import Iterable, Mapping, Set

import numpy as np
import torch
from torch import nn

from ._validation import shown_number

__all__ = ["MLPModule"]


class MLPModule(nn.Module):
    """Multi-layer perceptron that returns logits.

    This is the module :class:`~rsft_sklearn.RSFTClassifier` builds when none
    is given; ``n_features`` and ``n_classes`` are then taken from the data at
    fit time.

    Parameters
    ----------
    n_features : int
        Number of input features: the size of a flattened row (rows with
        more than one axis, such as images, are flattened).
    n_classes : int
        Number of output logits.
    hidden_layer_sizes : tuple of int or int, default=(64, 64)
        Width of every hidden layer, each a whole number ``>= 1``; one number
        is one hidden layer, ``()`` none. A generator is refused: a refit
        would find it used up.
    dropout : float, default=0.0
        Dropout probability after every hidden activation, in ``[0, 1)``.
    activation : type of torch.nn.Module, default=torch.nn.ReLU
        Activation class (not an instance), instantiated without arguments.
    input_columns : array-like of int or None, default=None
        The input columns that get weights in the first layer, as sorted,
        distinct indices below ``n_features``; the other columns are ignored
        (their values contribute nothing). None gives every column a weight.
        :class:`~rsft_sklearn.RSFTClassifier` passes the columns with a
        stored nonzero value in the training rows of positive weight (in
        the training rows, when those of positive weight hold none) when it
        fits on a sparse matrix,
        so that a hashed space of ``2**20`` columns costs only the columns in
        use in the weights (a table of 4 bytes per column maps a column to
        its weight row: 4 MB at ``2**20``). Kept in the state dict as the
        buffer ``input_columns``.

    Notes
    -----
    The input is a batch of rows, of shape ``(batch, n_features)`` or
    ``(batch, ...)`` (flattened), or one unbatched row of shape
    ``(n_features,)`` as :class:`torch.nn.Linear` takes it (the logits then
    have shape ``(n_classes,)``; with ``input_columns``, give the row the
    shape ``(1, n_features)``). Other 1-d tensors are refused with a
    ``ValueError``: one number per row is one feature, the shape ``(n, 1)``.

    The module accepts a sparse COO tensor as input (``accepts_sparse``):
    the first layer is then a sparse-dense product, so a batch of sparse
    rows (TF-IDF, hashed features) is never densified.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import MLPModule
    >>> module = MLPModule(n_features=4, n_classes=3, hidden_layer_sizes=(8,))
    >>> module(torch.zeros(5, 4)).shape
    torch.Size([5, 3])
    >>> narrow = MLPModule(n_features=4, n_classes=3, input_columns=[0, 2])
    >>> narrow.layers[0].in_features
    2
    """

    def __init__(
        self,
        n_features,
        n_classes,
        hidden_layer_sizes=(64, 64),
        dropout=0.0,
        activation=nn.ReLU,
        input_columns=None,
    ):
        super().__init__()
        n_features = check_size(n_features, "n_features")
        n_classes = check_size(n_classes, "n_classes")
        hidden_layer_sizes = check_layer_sizes(hidden_layer_sizes)
        dropout = check_dropout(dropout)
        activation = check_activation(activation)
        columns = _check_input_columns(input_columns, n_features)
        if columns is None:
            self.input_columns = None
            self.column_position = None
            width = n_features
        else:
            self.register_buffer("input_columns", columns)
            # Position of every input column among the kept ones, -1 for the
            # others; derived from input_columns, so not saved with it.
            self.register_buffer(
                "column_position",
                torch.full((n_features,), -1, dtype=torch.int32),
                persistent=False,
            )
            self._index_columns()
            self.register_load_state_dict_post_hook(_reindex_columns)
            width = len(columns)
        # In float32, the rows' dtype, whatever torch's default dtype
        # (torch.set_default_dtype(torch.float64) built float64 layers, which
        # failed at the first step).
        layers = []
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, size, dtype=torch.float32), activation()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, n_classes, dtype=torch.float32))
        self.layers = nn.Sequential(*layers)

    accepts_sparse = True

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # A first layer narrowed to some input columns (a fit on a sparse
        # matrix) has another shape than a full one: name the setting that
        # makes the two agree, rather than torch's size mismatch.
        saved = state_dict.get(prefix + "input_columns")
        own = self.input_columns
        if saved is not None and (own is None or tuple(saved.shape) != own.shape):
            raise ValueError(
                f"This state dict comes from an MLPModule whose first layer has "
                f"weights for {len(saved)} input columns only (a fit on a sparse "
                "matrix keeps the columns with a stored entry). Build this module "
                "with the same columns before loading: "
                "module__input_columns=torch.load(f_params)['input_columns'] "
                "(or the source's module_.input_columns)."
            )
        if (
            saved is None
            and own is not None
            and prefix + "layers.0.weight" in (state_dict)
        ):
            raise ValueError(
                "This state dict comes from an MLPModule with weights for every "
                f"input column, and this one has them for {len(own)} columns "
                "only; build it with module__input_columns=None before loading."
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def forward(self, X):
        if X.layout != torch.strided:
            if self.input_columns is not None:
                X = self._kept_sparse(X)
            first = self.layers[0]
            hidden = torch.sparse.mm(X, first.weight.t()) + first.bias
            return self.layers[1:](hidden)
        if X.dim() < 2:
            if self.input_columns is None:
                n_features = self.layers[0].in_features
                if X.shape == (n_features,) and n_features > 1:
                    # One unbatched row, as nn.Linear takes it (and
                    # torch.export with such an example): logits of shape
                    # (n_classes,). With one feature, (1,) is as likely the
                    # last batch, of one row, of a Dataset of single
                    # numbers: refused as any batch of them is.
                    return self.layers(X)
                raise ValueError(_refuse_unbatched(X, self.layers[0].in_features))
            raise ValueError(
                _refuse_unbatched(X, len(self.column_position), narrowed=True)
            )
        X = X.flatten(1) if X.dim() > 2 else X
        if self.input_columns is not None:
            X = X.index_select(1, self.input_columns)
        return self.layers(X)

    def __getstate__(self):
        # The position table has a row per input column (2**20 for hashed
        # text: 4 MB) and follows from input_columns: a pickle leaves it out.
        state = self.__dict__.copy()
        position = state["_buffers"].get("column_position")
        if position is not None:
            state["_buffers"] = {**state["_buffers"], "column_position": None}
            state["_column_count"] = len(position)
        return state

    def __setstate__(self, state):
        count = state.pop("_column_count", None)
        super().__setstate__(state)
        if count is not None:
            self._buffers["column_position"] = torch.full(
                (count,), -1, dtype=torch.int32, device=self.input_columns.device
            )
            self._index_columns()

    def _index_columns(self):
        position = self.column_position
        position.fill_(-1)
        position[self.input_columns] = torch.arange(
            len(self.input_columns), dtype=position.dtype, device=position.device
        )

    def _kept_sparse(self, X, drop=None):
        """The COO batch ``X`` on the kept columns, renumbered.

        On the CPU the entries in other columns are dropped. On a device they
        become zeros in column 0 instead: dropping them takes a boolean
        index, whose size the host would wait for at every batch. The result
        may then repeat an index, so it is not declared coalesced (the
        product sums repeated entries).
        """
        if drop is None:
            drop = X.device.type == "cpu"
        X = X.coalesce()
        rows, columns = X.indices()
        position = self.column_position[columns]
        kept = position >= 0
        shape = (X.shape[0], len(self.input_columns))
        if drop:
            # Kept columns keep their order, so the result stays coalesced.
            return torch.sparse_coo_tensor(
                torch.stack([rows[kept], position[kept].long()]),
                X.values()[kept],
                shape,
                is_coalesced=True,
                check_invariants=False,
            )
        return torch.sparse_coo_tensor(
            torch.stack([rows, position.clamp(min=0).long()]),
            X.values() * kept,
            shape,
            check_invariants=False,
        )


def _refuse_unbatched(X, n_features, narrowed=False):
    """The refusal of an MLPModule input of fewer than two axes that is not
    one row, with the advice that fits it. ``narrowed``: the module's first
    layer has weights for some ``input_columns`` only, which it picks from a
    batch of rows.

    A batch of single numbers (a Dataset's rows of one value each) reached
    the network as one row of them: torch failed with "mat1 and mat2 shapes
    cannot be multiplied (1x32 and 1x64)".
    """
    shape = tuple(X.shape)
    taken = (
        f"MLPModule takes a batch of rows, of shape (batch, {n_features}) (more "
        "axes are flattened)"
    )
    if narrowed:
        taken += ", as its first layer has weights for its input_columns only"
    elif n_features > 1:
        taken += f", or one row of shape ({n_features},)"
    if narrowed and shape == (n_features,):
        advice = (
            f"To give it one row, give the row the shape (1, {n_features}): "
            "X.unsqueeze(0)."
        )
    elif n_features == 1:
        advice = (
            "One value per row is one feature: give the input the shape "
            "(n, 1), X.reshape(-1, 1)."
        )
    elif X.dim() == 0:
        advice = f"A single number is not a row of {n_features} features."
    else:
        advice = (
            f"A 1-d input is one row, of {n_features} features, not "
            f"{shape[0]}: give a batch of rows the shape (batch, {n_features})."
        )
    return f"{taken}; got a tensor of shape {shape}. {advice}"


def _reindex_columns(module, incompatible_keys):
    module._index_columns()


# The largest size torch and NumPy take (an int64); a larger one failed
# inside torch with "Overflow when unpacking long long".
MAX_SIZE = int(np.iinfo(np.int64).max)


def check_size(value, name):
    """A layer width or count given as a whole number from 1 to
    ``MAX_SIZE`` (a float such as ``64.0`` is read as the integer it equals,
    a 0-d array or tensor as the number it holds)."""
    given = value
    if _is_zero_dim(value):
        # np.int64(8) was taken and np.array(8) refused ("iteration over a
        # 0-d array" as a layer size).
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (numbers.Integral, numbers.Real)
    ):
        raise TypeError(
            f"{name} must be a whole number >= 1, got {shown_number(given)}."
        )
    # inf, checked before int(), which raised "cannot convert float infinity
    # to integer".
    if value != value or value < 1 or value == math.inf or int(value) != value:
        raise ValueError(
            f"{name} must be a whole number >= 1, got {shown_number(given)}."
        )
    size = int(value)
    if size > MAX_SIZE:
        raise ValueError(
            f"{name} must be a whole number from 1 to 2**63 - 1 (the largest "
            f"int64, which torch and NumPy sizes are), got {shown_number(given)}."
        )
    return size


def _is_zero_dim(value):
    return isinstance(value, (np.ndarray, torch.Tensor)) and value.ndim == 0


def check_dropout(dropout):
    """A dropout probability: a real number in ``[0, 1)`` (at 1 every hidden
    unit is dropped in training, so no layer before it ever learns)."""
    if isinstance(dropout, (bool, np.bool_)) or not isinstance(dropout, numbers.Real):
        raise TypeError(
            f"dropout must be a probability in [0, 1), got {shown_number(dropout)}."
        )
    if not 0 <= dropout < 1:
        why = " (at 1 every hidden unit is dropped in training)" if dropout >= 1 else ""
        raise ValueError(
            f"dropout must be a probability in [0, 1), got "
            f"{shown_number(dropout)}{why}."
        )
    return float(dropout)


def check_activation(activation):
    """The activation: what makes a ``torch.nn.Module`` when called without
    arguments, such as the class ``torch.nn.ReLU`` or
    ``functools.partial(torch.nn.LeakyReLU, 0.1)``. An instance, a function
    of tensors or a name is refused here rather than at the first batch."""
    expected = (
        "activation must be a torch.nn.Module class such as torch.nn.ReLU (or "
        "a callable that makes one without arguments)"
    )
    if isinstance(activation, nn.Module):
        name = type(activation).__name__
        settings = activation.extra_repr()
        fix = f"pass its class, {name}"
        if settings:
            # LeakyReLU(negative_slope=0.2): the class alone would drop them.
            fix += (
                ", or a functools.partial of it with the arguments it was "
                f"built with (its repr shows {settings})"
            )
        raise TypeError(f"{expected}, got the instance {activation!r}: {fix}.")
    if not callable(activation):
        raise TypeError(f"{expected}, got {activation!r}.")
    try:
        layer = activation()
    except TypeError as exc:
        raise TypeError(f"{expected}; calling {activation!r} failed: {exc}") from exc
    if not isinstance(layer, nn.Module):
        raise TypeError(
            f"{expected}; {activation!r}() returned {type(layer).__name__}."
        )
    return activation


def check_layer_sizes(hidden_layer_sizes):
    """The hidden layers' widths: a sequence of whole numbers >= 1, or one
    number for one layer (as scikit-learn's ``MLPClassifier`` reads it)."""
    if _is_zero_dim(hidden_layer_sizes) or (
        isinstance(hidden_layer_sizes, (numbers.Integral, numbers.Real))
        and not isinstance(hidden_layer_sizes, (bool, np.bool_))
    ):
        hidden_layer_sizes = (hidden_layer_sizes,)
    if isinstance(hidden_layer_sizes, (str, bytes)) or not isinstance(
        hidden_layer_sizes, Iterable
    ):
        # A string would be read one character at a time ("64" as 6 and 4).
        raise TypeError(
            "hidden_layer_sizes must be a sequence of layer widths such as "
            f"(64, 64), got {hidden_layer_sizes!r}."
        )
    if isinstance(hidden_layer_sizes, (Set, Mapping)):
        # A set has no order of its own (the equal sets {64, 8} and {8, 64}
        # built different networks), and a dict gave its keys: refused
        # rather than read in an order the value does not say.
        raise TypeError(
            "hidden_layer_sizes must be an ordered sequence of layer widths, "
            f"first layer first, such as (64, 64); got a "
            f"{type(hidden_layer_sizes).__name__}, {hidden_layer_sizes!r}, which "
            "does not say the order of the layers: pass a tuple or a list."
        )
    if iter(hidden_layer_sizes) is hidden_layer_sizes:
        # A generator or other one-shot iterator is used up by the first
        # fit: a refit read it empty and built a network with no hidden
        # layer, without a word (scikit-learn's MLPClassifier refuses it).
        raise TypeError(
            "hidden_layer_sizes must be a sequence of layer widths that can be "
            "read more than once, such as (64, 64); got a "
            f"{type(hidden_layer_sizes).__name__}, which the first fit uses up "
            "(a refit would build a network without those layers): pass a "
            "tuple or a list, such as tuple(sizes)."
        )
    return tuple(check_size(size, "hidden_layer_sizes") for size in hidden_layer_sizes)


def _check_input_columns(input_columns, n_features):
    """``input_columns`` as a sorted int64 tensor, or None for every column."""
    if input_columns is None:
        return None
    columns = np.asarray(input_columns)
    if columns.size == 0:
        raise ValueError("input_columns is empty: the first layer needs a column.")
    columns = torch.as_tensor(columns)
    if columns.dim() != 1 or columns.dtype.is_floating_point or columns.is_complex():
        raise TypeError(
            "input_columns must be a 1-d array of column indices; got "
            f"{columns.dtype} of shape {tuple(columns.shape)}."
        )
    if columns.dtype == torch.bool:
        raise TypeError("input_columns must hold column indices, not a boolean mask.")
    columns = columns.long()
    if columns.min() < 0 or columns.max() >= n_features:
        raise ValueError(
            f"input_columns must lie in [0, {n_features}) (n_features); got "
            f"values from {columns.min().item()} to {columns.max().item()}."
        )
    if len(columns) > 1 and not bool((columns[1:] > columns[:-1]).all()):
        raise ValueError("input_columns must be sorted and hold no repeats.")
    return columns


def _check_module_output(logits, n_classes, n_rows=None):
    """Refuse a module output that is not one row of ``n_classes``
    floating-point logits per input row, naming what it got.

    Shapes and the dtype only: nothing is read back from the device.

    Parameters
    ----------
    logits : object
        The module's output for a batch.
    n_classes : int or None
        The classes the output scores; None (an estimator initialised
        without ``classes``) checks no column count.
    n_rows : int or None, default=None
        The batch's rows, where they are known.

    Raises
    ------
    TypeError
        When the output is not a tensor (a tuple, a dict), or its scores are
        not floating-point numbers.
    ValueError
        When the tensor's shape is not ``(n_rows, n_classes)``.
    """
    expected = (
        "The module must return a 2-d tensor of logits of shape (batch, n_classes)"
    )
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"{expected}; got {type(logits).__name__}.")
    shape = tuple(logits.shape)
    if logits.dim() != 2:
        if n_rows is None:
            got = f"got Tensor of shape {shape}."
        else:
            got = f"got Tensor of shape {shape} for a batch of {_rows(n_rows)}."
        if n_rows == 1 and n_classes is not None and shape == (n_classes,):
            # The one row of a last (or only) batch squeezed away.
            hint = (
                " A squeeze() in forward drops the row axis of a batch of one "
                "row: name the axis to drop, squeeze(-1)."
            )
        else:
            hint = _one_logit_hint(shape, n_classes)
        raise ValueError(f"{expected}; {got}{hint}")
    if n_classes is not None and shape[1] != n_classes:
        raise ValueError(
            f"The module returns {shape[1]} logits per sample but the data "
            f"has {n_classes} classes." + _one_logit_hint(shape, n_classes)
        )
    if n_rows is not None and shape[0] != n_rows:
        # Named without guessing which rows: most often the module drops
        # (or adds) rows, and the outputs of the others would be returned
        # for the wrong rows.
        raise ValueError(
            f"The module returned {_rows(shape[0])} of logits for a batch of "
            f"{_rows(n_rows)}: it must return one row of logits per input row."
        )
    if not logits.dtype.is_floating_point:
        # As the loss refuses them: complex (or integer) logits otherwise
        # fail inside torch where the pooled and compacted modes score them
        # ("max_values_cpu" not implemented for 'ComplexFloat').
        raise TypeError(
            f"logits must be floating-point scores, got dtype {logits.dtype}."
        )


def _rows(n):
    return "1 row" if n == 1 else f"{n} rows"


def _one_logit_hint(shape, n_classes):
    """Advice for logits of ``shape`` that hold one score per row where there
    are two classes (the single logit of a binary cross-entropy); else
    ``""``. The estimator's check of a module's output and the loss's check
    of its logits add it alike."""
    if n_classes != 2 or not (len(shape) == 1 or len(shape) == 2 and shape[1] == 1):
        return ""
    return (
        " With 2 classes the module must return 2 logit columns, one per "
        "class (as for CrossEntropyLoss), not the one logit of a binary "
        "cross-entropy (BCEWithLogitsLoss): end it in a layer of 2 outputs."
    )
