"""Inputs that are not one array: torch Datasets, and group-balanced weights.

A torch ``Dataset`` given to ``fit`` or ``predict`` is read row by row (through
a :class:`~torch.utils.data.DataLoader`), so the checks that
``validate_data`` makes once on an array happen here on every row: the
inputs must be numeric, finite and, for dict rows, carry the keys seen in fit.
An :class:`InMemoryDataset`, batched by slicing its tensors, is checked
whole instead, as an array is.

``target="balanced_groups"`` balances the strata of (group, class) instead of
the classes. Its weights are per sample, so they travel with every batch in
the per-sample weight tensor that ``sample_weight`` already uses; the training
step does not need to know about groups.
"""

import copy
import numbers
import random
import warnings
from collections.abc import Mapping

import numpy as np
import skorch.dataset
import torch
from sklearn import get_config
from sklearn.utils.validation import assert_all_finite, column_or_1d

from ._data import InMemoryDataset, SparseRows, _device_of
from ._validation import (
    RSFTWarning,
    caller_stacklevel,
    check_input_names,
    label_kind,
    readable_tensor,
    shown_label,
)

__all__ = [
    "DatasetRows",
    "ValidationRows",
    "check_dataset",
    "check_groups",
    "check_in_memory",
    "group_weight",
    "stratum_target_weight",
    "with_sample_weight",
    "wrap_dataset",
]


def _as_tensor(value, row, name, vocab_size=None):
    if not isinstance(value, torch.Tensor):
        try:
            value = torch.as_tensor(np.asarray(value))
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(
                f"Row {row} of the dataset: {name} must be numeric, "
                f"got {type(value).__name__}."
            ) from exc
    if value.dtype == torch.bool or value.is_complex():
        raise TypeError(
            f"Row {row} of the dataset: {name} has dtype {value.dtype}; "
            "inputs must be real numbers."
        )
    if value.is_floating_point() and value.device.type == "cpu":
        if not bool(torch.isfinite(value).all()):
            raise ValueError(
                f"Row {row} of the dataset: {name} contains NaN or infinity."
            )
    if vocab_size is not None and value.device.type == "cpu":
        # Before the cast to float32, which would round an id of 7.0000001
        # to 7.
        _check_row_token_ids(value, row, name, vocab_size)
    if value.is_floating_point():
        value = value.to(torch.float32)
        if value.device.type == "cpu" and not bool(torch.isfinite(value).all()):
            raise ValueError(
                f"Row {row} of the dataset: {name} holds values of magnitude "
                "above 3.4e+38, the float32 range that the network computes in."
            )
    return value


def _check_row_token_ids(value, row, name, vocab_size):
    """Refuse a row of token ids that are not integers in
    ``[0, vocab_size)``, as ``check_token_ids`` refuses an array's (the
    embedding failed inside torch on an id out of range, and truncated one
    that is not an integer)."""
    if value.ndim != 1:
        raise ValueError(
            f"Row {row} of the dataset: {name} has shape {tuple(value.shape)}; "
            "a row of token ids has the shape (length,), padded with id 0 "
            "(see pad_token_ids)."
        )
    value = _comparable_ids(value)
    if value.numel() and not value.is_floating_point():
        # Integer ids, the usual rows: two numbers decide (a third of the
        # time of the elementwise test, which only an error needs).
        low, high = torch.aminmax(value)
        if low.item() >= 0 and high.item() < vocab_size:
            return
    bad = (value < 0) | (value >= vocab_size)
    if value.is_floating_point():
        bad |= value != torch.round(value)
    if not bool(bad.any()):
        return
    given = value[bad][0]
    try:
        # The id as given, in its own dtype (2.3 in float32 reads 2.3).
        shown = str(given.numpy())
    except TypeError:
        shown = f"{float(given):g}"  # bfloat16, which NumPy lacks
    if float(given) != round(float(given)):
        raise ValueError(
            f"Row {row} of the dataset: {name} holds the token id {shown}, "
            "which is not an integer. Token ids are whole numbers "
            "(pad_token_ids and TokenIndexer make them)."
        )
    raise ValueError(
        f"Row {row} of the dataset: {name} holds the token id {float(given):g}, "
        "outside the vocabulary of the embedding (integer ids 0 to "
        f"{vocab_size - 1}). Index the text with the TokenIndexer that sized "
        "the module, or enlarge vocab_size (the rows of pretrained_embeddings, "
        "when the module has them)."
    )


def _check_keys(keys, row):
    if not all(isinstance(key, str) for key in keys):
        kinds = sorted({type(key).__name__ for key in keys})
        raise TypeError(
            f"Keys of the dataset's dict rows must be str (the module's "
            f"forward arguments); row {row} has keys of the types {kinds}."
        )
    if not keys:
        raise ValueError(f"Row {row} of the dataset is an empty dict: it has no input.")


# The inputs of an estimator not yet fitted on data: any the module takes.
ANY_INPUTS = "any"


def _row_inputs(inputs, row, input_keys, row_shape=None, vocab_size=None):
    if isinstance(input_keys, str) and input_keys == ANY_INPUTS:
        # Not fitted on data yet: any rows the module takes, as they come.
        input_keys = None
        if isinstance(inputs, Mapping):
            _check_keys(list(inputs), row)
            input_keys = list(inputs)
    if isinstance(inputs, Mapping):
        if input_keys is None:
            raise ValueError(
                f"Row {row} of the dataset holds a dict of inputs, but the "
                "estimator was fitted on single-array rows."
            )
        missing = sorted(set(input_keys) - set(inputs))
        if missing:
            raise ValueError(
                f"Row {row} of the dataset is missing the input(s) {missing} "
                "seen during fit."
            )
        extra = sorted(set(inputs) - set(input_keys))
        if extra:
            raise ValueError(
                f"Row {row} of the dataset has the input(s) {extra}, which fit "
                f"did not see (it saw {sorted(input_keys)})."
            )
        values = {key: _as_tensor(inputs[key], row, f"X[{key!r}]") for key in inputs}
        if isinstance(row_shape, Mapping):
            # A fit on a dict of arrays: each input's rows have its shape.
            for key, value in values.items():
                shape = row_shape.get(key)
                if shape is not None and tuple(value.shape) != tuple(shape):
                    raise ValueError(
                        f"Row {row} of the dataset has X[{key!r}] of shape "
                        f"{tuple(value.shape)}, but the estimator was fitted on "
                        f"rows of shape {tuple(shape)}."
                    )
        return values
    if input_keys is not None:
        raise ValueError(
            f"Row {row} of the dataset holds a single input, but the estimator "
            f"was fitted on the named inputs {list(input_keys)}."
        )
    # A module that embeds token ids takes them as its single input.
    value = _as_tensor(inputs, row, "X", vocab_size)
    if (
        row_shape is not None
        and not isinstance(row_shape, Mapping)
        and tuple(value.shape) != tuple(row_shape)
    ):
        raise ValueError(
            f"Row {row} of the dataset has shape {tuple(value.shape)}, but the "
            f"estimator was fitted on rows of shape {tuple(row_shape)}."
        )
    return value


def _split_row(item, row):
    if isinstance(item, (tuple, list)):
        if len(item) == 1:
            # A TensorDataset of the inputs alone.
            return item[0], None
        if len(item) != 2:
            raise ValueError(
                f"Row {row} of the dataset has {len(item)} items; a row must be "
                "the inputs, or a pair (inputs, label)."
            )
        return item[0], item[1]
    return item, None


def _label_value(label, row):
    value = label if isinstance(label, torch.Tensor) else np.asarray(label)
    size = value.numel() if isinstance(value, torch.Tensor) else value.size
    if size != 1:
        raise ValueError(
            f"Row {row} of the dataset has a label of shape "
            f"{tuple(value.shape)}; a row's label must be one class label."
        )
    return value.item()


class DatasetRows(torch.utils.data.Dataset):
    """A user's ``Dataset`` with the labels and target weights of ``fit``.

    Every row of ``dataset`` is either its inputs (a tensor or array, or a
    dict of them keyed by the module's ``forward`` arguments) or a pair
    ``(inputs, label)`` whose label is the raw class label. Labels come from
    ``y``; a label in the row must agree with it, which catches a ``y`` in
    another order than the dataset.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Rows of inputs, as above.
    y : torch.Tensor of shape (len(dataset),) or None
        Encoded class indices; ``None`` at prediction time.
    sample_weight : torch.Tensor of shape (len(dataset),) or None
        Per-sample target weights.
    classes : ndarray of shape (n_classes,) or None
        Class labels, to compare the rows' labels with ``y``.
    input_keys : list of str, None or "any"
        Names of the inputs seen in fit; ``None`` for single-array rows;
        ``"any"`` before a fit on data (an estimator only initialised).
    row_shape : tuple, dict of str to tuple, or None
        The shape of the rows of the arrays seen in fit (of each input's, for
        a dict of arrays), if any.
    vocab_size : int or None
        Size of the embedding table that the rows' token ids index, for a
        module that takes token ids; ``None`` checks no id.
    """

    def __init__(
        self,
        dataset,
        y=None,
        sample_weight=None,
        classes=None,
        input_keys=None,
        row_shape=None,
        vocab_size=None,
    ):
        check_map_style(dataset)
        self.dataset = dataset
        self.y = y
        self.sample_weight = sample_weight
        self.classes = classes
        self.input_keys = input_keys
        self.row_shape = row_shape
        self.vocab_size = vocab_size
        # skorch's Dataset without y yields a placeholder label, not a label.
        self.labelled = not (
            isinstance(dataset, skorch.dataset.Dataset) and dataset.y is None
        )

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        inputs, label = _split_row(self.dataset[i], i)
        inputs = _row_inputs(
            inputs, i, self.input_keys, self.row_shape, self.vocab_size
        )
        if self.y is None:
            return inputs, torch.zeros((), dtype=torch.long)
        y_i = self.y[i]
        if label is not None and self.labelled and self.classes is not None:
            expected = self.classes[int(y_i)]
            value = _label_value(label, i)
            if value != expected:
                raise ValueError(
                    f"Row {i} of the dataset has label {value!r} "
                    f"but y[{i}] is {expected!r}; y must list the labels of the "
                    "dataset's rows in order."
                )
        if self.sample_weight is None:
            return inputs, y_i
        return inputs, y_i, self.sample_weight[i]


class ValidationRows(DatasetRows):
    """A user's ``Dataset`` given as the validation set (``predefined_split``).

    Its rows are pairs ``(inputs, label)`` with raw class labels, as a
    ``Dataset`` given to ``fit`` holds; each label becomes its index in
    ``classes``, as the network is trained on (read as indices, raw labels
    gave wrong validation scores or an error inside torch).
    """

    def __init__(
        self, dataset, classes, input_keys=None, row_shape=None, vocab_size=None
    ):
        super().__init__(
            dataset, None, None, classes, input_keys, row_shape, vocab_size
        )
        self.index = {label: k for k, label in enumerate(np.asarray(classes).tolist())}

    def __getitem__(self, i):
        inputs, label = _split_row(self.dataset[i], i)
        inputs = _row_inputs(
            inputs, i, self.input_keys, self.row_shape, self.vocab_size
        )
        if label is None:
            raise ValueError(
                f"Row {i} of the validation set of train_split has no label: "
                "the validation loss needs rows (inputs, label)."
            )
        value = _label_value(label, i)
        index = self.index.get(value)
        if index is None:
            shown = ", ".join(repr(c) for c in list(self.index)[:10])
            raise ValueError(
                f"Row {i} of the validation set of train_split has label "
                f"{value!r}, which is not a class of the fit ({shown})."
            )
        return inputs, torch.tensor(index)


def check_map_style(dataset):
    """Refuse a ``Dataset`` that cannot be read by index: the rows are
    drawn as ``dataset[i]`` for ``i`` below ``len(dataset)``, by a sampler
    (shuffled) and by a validation split (a ``Subset``)."""
    missing = [
        method
        for method, has in (
            ("__len__", hasattr(type(dataset), "__len__")),
            (
                "__getitem__",
                type(dataset).__getitem__ is not torch.utils.data.Dataset.__getitem__,
            ),
        )
        if not has
    ]
    if not missing:
        return
    kind = (
        "an IterableDataset"
        if isinstance(dataset, torch.utils.data.IterableDataset)
        else "a Dataset"
    )
    raise TypeError(
        f"The estimator reads a torch Dataset by index, so it must be "
        "map-style, with __len__ and __getitem__ (dataset[i] is row i); "
        f"{type(dataset).__name__} is {kind} without {' or '.join(missing)}. "
        "Read its rows into arrays (np.stack the inputs, and pass the labels "
        "as y), or write a map-style Dataset that indexes them."
    )


def _check_no_weights(dataset):
    if isinstance(dataset, InMemoryDataset) and dataset.sample_weight is not None:
        raise ValueError(
            "The InMemoryDataset given to fit holds sample_weight; fit takes "
            "the weights as fit(X, y, sample_weight=...), where they count in "
            "the class frequencies too. Build the dataset without them and "
            "pass them there."
        )


def check_dataset(dataset, input_keys=None, row_shape=None, vocab_size=None):
    """Check a ``Dataset`` given to fit; return its rows and input names.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        The rows, as :class:`DatasetRows` describes them.
    input_keys : list of str, None or "fit"
        Names of the inputs seen in fit, ``None`` for single-array rows, or
        ``"fit"`` when this is the fit that decides them from the first row.
    row_shape : tuple, dict of str to tuple, or None
        The shape of the rows of the arrays of an earlier fit (of each
        input's, for a dict of arrays), if any.
    vocab_size : int or None
        Size of the embedding table that token ids index, for a module that
        takes them; ``None`` checks no id.

    Returns
    -------
    n_rows : int
    input_keys : list of str or None
        The names of the first row's inputs (dict rows), else ``None``.
    """
    check_map_style(dataset)
    _check_no_weights(dataset)
    n = len(dataset)
    if n < 1:
        raise ValueError("The dataset is empty; fit needs at least one row.")
    if isinstance(dataset, InMemoryDataset):
        # Batches are sliced from its tensors, not read row by row: all its
        # rows at once, as an array's (its first row alone let a NaN further
        # on through, to fail the fit as an overflow of the loss).
        check_in_memory(
            dataset,
            ANY_INPUTS if input_keys == "fit" else input_keys,
            row_shape,
            vocab_size,
        )
    # A row drawn at random (augmentation) draws from the caller's
    # generators: this extra read, before the fit's private copies are
    # taken, leaves them as they were.
    state = random.getstate(), np.random.get_state()  # noqa: NPY002
    with torch.random.fork_rng(devices=[]):
        try:
            inputs, _ = _split_row(dataset[0], 0)
        finally:
            random.setstate(state[0])
            np.random.set_state(state[1])  # noqa: NPY002
    keys = None
    if isinstance(inputs, Mapping):
        _check_keys(list(inputs), 0)
        keys = sorted(inputs)
    # The first row before training starts; the others as training reads
    # them.
    _row_inputs(
        inputs,
        0,
        keys if input_keys == "fit" else input_keys,
        row_shape,
        vocab_size,
    )
    return n, keys


_WIDE_UNSIGNED = tuple(
    getattr(torch, name)
    for name in ("uint16", "uint32", "uint64")
    if hasattr(torch, name)
)


def _comparable_ids(ids):
    """``ids`` in a dtype that torch compares: its wider unsigned integers
    have no comparisons on the CPU (an id beyond int64 reads negative, and
    is refused as out of range)."""
    if ids.dtype in _WIDE_UNSIGNED:
        return ids.to(torch.int64)
    return ids


def check_token_rows(ids, vocab_size):
    """Refuse, naming the first bad row, the token ids of a whole tensor of
    rows (on its own device: only that row comes to the host)."""
    ids = _comparable_ids(ids)
    bad = (ids < 0) | (ids >= vocab_size)
    if ids.is_floating_point():
        bad |= ids != torch.round(ids)
    rows = bad.reshape(len(ids), -1).any(dim=1)
    if bool(rows.any()):
        row = int(rows.nonzero()[0, 0])
        _check_row_token_ids(ids[row].cpu(), row, "X", vocab_size)


def check_in_memory(dataset, input_keys=ANY_INPUTS, row_shape=None, vocab_size=None):
    """Check the inputs of an :class:`InMemoryDataset` all at once, as those
    of an array or a dict of arrays are checked, in the same words.

    Its batches are sliced from its tensors, never read row by row, so the
    checks of :class:`DatasetRows` do not reach them: rows of another shape
    or an input that fit did not see failed inside the module ("mat1 and
    mat2 shapes cannot be multiplied", "unexpected keyword argument"), and a
    NaN was taken for an overflow of the loss. One pass over each input, on
    its own device (the stored values of a :class:`SparseRows`, which stays
    sparse).

    Parameters
    ----------
    dataset : InMemoryDataset
        The inputs: a tensor or :class:`SparseRows`, or a dict of them.
    input_keys : list of str, None or "any", default="any"
        Names of the inputs seen in fit; ``None`` for a single input;
        ``"any"`` for anything, before a fit on data decides them.
    row_shape : tuple, dict of str to tuple, or None, default=None
        The shape of the rows of the arrays seen in fit (of each input's,
        for a dict of arrays), if fit recorded it.
    vocab_size : int or None, default=None
        Size of the embedding table that the token ids of a single input
        index; ``None`` checks no id.
    """
    X = dataset.X
    expected = None if isinstance(input_keys, str) else input_keys
    if isinstance(X, Mapping):
        if not X:
            raise ValueError("The InMemoryDataset is an empty dict: it has no input.")
        if not all(isinstance(key, str) for key in X):
            kinds = sorted({type(key).__name__ for key in X})
            raise TypeError(
                "Keys of the InMemoryDataset's dict must be str (the module's "
                f"forward arguments), got keys of the types {kinds}."
            )
        if input_keys is None:
            raise ValueError(
                "The InMemoryDataset holds a dict of inputs, but the estimator "
                "was fitted on a single input."
            )
        check_input_names(
            X, expected, row_shape if isinstance(row_shape, Mapping) else None
        )
        inputs = [(f"X[{key!r}]", value, None) for key, value in X.items()]
    else:
        if expected is not None:
            raise ValueError(
                "The InMemoryDataset holds a single input, but the estimator "
                f"was fitted on the named inputs {list(expected)}: give it a "
                "dict with those keys."
            )
        shape = None if isinstance(row_shape, Mapping) else row_shape
        inputs = [("X", X, shape)]
    for name, value, shape in inputs:
        _check_in_memory_input(value, name, shape)
    if vocab_size is not None and isinstance(X, torch.Tensor):
        check_token_rows(X, vocab_size)


def _check_in_memory_input(value, name, shape):
    """Refuse the input ``value`` (a tensor or :class:`SparseRows`) of an
    :class:`InMemoryDataset` whose dtype is not real, whose rows do not have
    the fitted ``shape`` (if any), or that holds NaN or infinity."""
    if isinstance(value, SparseRows):
        # float32, as SparseRows stores its values.
        values = value.matrix.data
    else:
        if value.dtype == torch.bool or value.is_complex():
            raise TypeError(
                f"{name} has dtype {value.dtype}; inputs must be real numbers."
            )
        values = value
    got = tuple(value.shape[1:])
    if shape is not None and got != tuple(shape):
        raise ValueError(
            f"{name} has rows of shape {got}, but fit saw rows of shape {tuple(shape)}."
        )
    if get_config()["assume_finite"]:
        # Skipped as scikit-learn skips it on an array.
        return
    if isinstance(values, np.ndarray):
        finite = not values.size or bool(
            np.isfinite(values.min()) and np.isfinite(values.max())
        )
    elif values.is_floating_point() and values.layout == torch.strided:
        # Two numbers to compare, without a mask the size of the input (min
        # and max are NaN where a value is).
        finite = not values.numel() or bool(
            torch.isfinite(torch.stack(torch.aminmax(values))).all()
        )
    else:
        return
    if not finite:
        # scikit-learn's words, which name NaN or infinity.
        assert_all_finite(
            values if isinstance(values, np.ndarray) else readable_tensor(values),
            input_name=name,
        )


def wrap_dataset(
    dataset,
    y=None,
    sample_weight=None,
    classes=None,
    input_keys=None,
    row_shape=None,
    vocab_size=None,
):
    """Return ``dataset`` as :class:`DatasetRows`, unless it is already batched.

    An :class:`InMemoryDataset` given with ``y`` (to fit) takes the labels
    and weights of fit, as :class:`DatasetRows` does; given without (to
    predict), it is checked all at once, as an array is
    (:func:`check_in_memory`).
    """
    if isinstance(dataset, DatasetRows):
        return dataset
    if isinstance(dataset, InMemoryDataset):
        if y is not None:
            # check_dataset checked it.
            return _with_fit_labels(dataset, y, sample_weight, classes)
        check_in_memory(dataset, input_keys, row_shape, vocab_size)
        return dataset
    return DatasetRows(
        dataset, y, sample_weight, classes, input_keys, row_shape, vocab_size
    )


def _with_fit_labels(dataset, y, sample_weight, classes):
    """A copy of the :class:`InMemoryDataset` ``dataset`` (still batched by
    slicing) with the encoded labels ``y`` and the ``sample_weight`` of fit.

    Labels that it holds are class indices, as its rows give them to the
    network; they must be those of ``y``, from which the class frequencies
    are counted.
    """
    y = torch.as_tensor(y)
    held = dataset.y
    if held is not None:
        held = held.detach().cpu()
        if held.shape != y.shape:
            raise ValueError(
                f"The InMemoryDataset given to fit holds labels of shape "
                f"{tuple(held.shape)}; it needs one class index per row, "
                f"shape {tuple(y.shape)}."
            )
        differ = torch.nonzero(held != y.cpu())
        if len(differ):
            i = int(differ[0, 0])
            index = int(y[i])
            named = "" if classes is None else f" (class {shown_label(classes[index])})"
            raise ValueError(
                f"Row {i} of the InMemoryDataset has the label "
                f"{held[i].item()!r}, but y[{i}] is class index {index}"
                f"{named}; {len(differ)} row(s) in all. An InMemoryDataset holds "
                "the index of each row's class in classes_, and y must list the "
                "labels of its rows in order."
            )
    device = dataset.y.device if dataset.y is not None else _device_of(dataset)
    rows = copy.copy(dataset)
    # The original's gathering buffer stays its own.
    rows.__dict__.pop("_scratch", None)
    rows.y = y.to(device)
    rows.sample_weight = (
        None if sample_weight is None else torch.as_tensor(sample_weight).to(device)
    )
    return rows


class WeightedRows(torch.utils.data.Dataset):
    """The rows of a dataset that yields ``(X, y)``, each with its weight."""

    def __init__(self, dataset, sample_weight):
        self.dataset = dataset
        self.sample_weight = sample_weight

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        Xi, yi = self.dataset[i]
        return Xi, yi, self.sample_weight[i]


def with_sample_weight(dataset, sample_weight=None):
    """``dataset`` whose rows carry ``sample_weight``, or itself without."""
    if sample_weight is None:
        return dataset
    if len(sample_weight) != len(dataset):
        raise ValueError(
            f"The dataset has {len(dataset)} rows but sample_weight has "
            f"{len(sample_weight)} entries."
        )
    return WeightedRows(dataset, sample_weight)


def splits_by_group(train_split):
    """Whether ``train_split`` (skorch's ``ValidSplit`` of a group splitter,
    such as ``GroupKFold``) splits by ``groups``: its ``cv`` asks for them."""
    return splitter_takes_groups(getattr(train_split, "cv", None))


def splitter_takes_groups(cv):
    """Whether the splitter ``cv`` asks for ``groups``, as scikit-learn's
    metadata routing reads it."""
    routing = getattr(cv, "get_metadata_routing", None)
    if routing is None:
        return False
    try:
        return "groups" in routing().consumes("split", ["groups"])
    except Exception:  # noqa: BLE001 - a splitter of another make: no
        return False


def check_groups(groups, target, n_samples, split_by_group=False):
    """Check ``groups`` against ``target`` and ``train_split`` (whether it
    splits by group); return them as an array or None (an object array of
    numbers of several types holds them as Python numbers)."""
    balanced_groups = isinstance(target, str) and target == "balanced_groups"
    if groups is None:
        routed = (
            " With metadata routing on, a pipeline or a search passes them "
            "once the estimator asks: set_fit_request(groups=True)."
            if get_config().get("enable_metadata_routing")
            else " A search (whose fit takes groups for its splitter) "
            "passes them on to this estimator only with metadata routing: "
            "sklearn.set_config(enable_metadata_routing=True) and "
            "set_fit_request(groups=True) on this estimator; a pipeline "
            "takes them as <step name>__groups=..."
        )
        if balanced_groups:
            raise ValueError(
                "target='balanced_groups' needs fit(X, y, groups=...): the "
                f"group of every sample.{routed}"
            )
        if split_by_group:
            # Refused here, before anything is built: the splitter itself
            # failed inside skorch's fit_loop with scikit-learn's bare "The
            # 'groups' parameter should not be None."
            raise ValueError(
                "train_split splits by group (its cv, such as GroupKFold, takes "
                "groups), so it needs fit(X, y, groups=...): the group of every "
                "sample. Or split without groups (ValidSplit(5, "
                f"stratified=True)).{routed}"
            )
        return None
    if not balanced_groups and not split_by_group:
        raise ValueError(
            "groups are only used by target='balanced_groups' and by a "
            "train_split that splits by group (ValidSplit(GroupKFold(...)), "
            f"say); got target={target!r}."
        )
    if np.ndim(groups) != 1 and np.shape(groups) != (n_samples, 1):
        raise ValueError(
            f"groups must hold one label per sample, an array of shape "
            f"({n_samples},); got shape {np.shape(groups)}."
        )
    groups = column_or_1d(groups)
    if len(groups) != n_samples:
        raise ValueError(
            f"groups has {len(groups)} entries but X has {n_samples} samples."
        )
    if groups.dtype.kind == "f" and not np.all(np.isfinite(groups)):
        raise ValueError("groups contains NaN or infinity.")
    # NaT equals nothing, not even itself: its rows formed a stratum that
    # no row matched, and trained at weight 1.
    missing = (groups.dtype.kind in "mM" and bool(np.isnat(groups).any())) or (
        groups.dtype.kind == "O" and any(_missing(value) for value in groups)
    )
    if missing:
        raise ValueError(
            "groups contains missing labels (None, NaN or NaT); give every "
            "sample a group."
        )
    if groups.dtype.kind == "O":
        types = {label_kind(value) for value in groups}
        if len(types) > 1 and len({_label_kind(value) for value in groups}) > 1:
            # Text beside numbers does not sort, and True equals 1.
            raise ValueError(
                f"groups mixes labels of the types {sorted(types)}, which are "
                "not of one kind (numbers of different types may be mixed, but "
                "not with text or bool); give every group label the same type "
                "(for example str)."
            )
        if len(types) > 1:
            # Numbers of several types (1 and np.int64(2), as a concat of
            # pandas columns gives them), which scikit-learn's group
            # splitters take: compared as Python numbers, which compare by
            # exact value, so that equal values are one group (1, np.int64(1)
            # and 1.0) wherever they are compared. NumPy's scalars compared
            # in the narrower type, which is not transitive: np.float32(0.1)
            # equals 0.1, which equals np.float16(0.1), which does not equal
            # np.float32(0.1).
            groups = np.array([_exact_number(value) for value in groups], dtype=object)
            try:
                np.unique(groups)
            except TypeError:
                # Numbers that do not compare with each other after all.
                raise ValueError(
                    f"groups mixes labels of the types {sorted(types)}, which "
                    "do not compare with each other; give every group label "
                    "the same type (for example str)."
                ) from None
    return groups


def _exact_number(value):
    # np.longdouble's Python float would round.
    if isinstance(value, np.generic) and value.dtype.itemsize <= 8:
        return value.item()
    return value


def _missing(value):
    # None, NaN and pandas' NA and NaT, and NumPy's NaT, which equal nothing,
    # not even themselves.
    if value is None or type(value).__name__ in ("NAType", "NaTType"):
        return True
    if isinstance(value, (np.datetime64, np.timedelta64)):
        return bool(np.isnat(value))
    return isinstance(value, numbers.Number) and value != value


def _label_kind(value):
    """The kind of a label of an object array: ``"number"`` (a real number
    of any type but bool), ``"text"`` (str), or its type's name; labels of
    one kind sort and compare together."""
    if isinstance(value, str):
        return "text"
    if isinstance(value, numbers.Real) and not isinstance(
        # A duration is no count (NumPy's is an integer type), and True
        # equals 1.
        value,
        (bool, np.timedelta64),
    ):
        return "number"
    return type(value).__name__


def stratum_target_weight(y, groups, n_classes, sample_weight=None):
    """Group labels and the target weight of every (group, class) stratum.

    A stratum's size is the summed ``sample_weight`` of its rows (its number
    of rows without weights).

    Returns
    -------
    labels : ndarray of shape (n_groups,)
        The groups of the rows of positive weight (of every row, without
        weights): a row of weight 0 is as if absent, and a group of such
        rows alone is none of them.
    table : ndarray of shape (n_groups, n_classes)
        ``n_min / n_(g, c)``, where ``n_min`` is the size of the smallest
        stratum; an empty stratum counts as the smallest.
    """
    if sample_weight is not None:
        # A row of weight 0 weighs 0 whatever its stratum's weight (and
        # group_weight gives a group that labels lacks the weight 1): a
        # group is a stratum where a row of positive weight has it.
        positive = np.asarray(sample_weight) > 0
        y, groups = np.asarray(y)[positive], np.asarray(groups)[positive]
        sample_weight = np.asarray(sample_weight)[positive]
    labels, g = np.unique(groups, return_inverse=True)
    counts = np.zeros((len(labels), n_classes))
    np.add.at(counts, (g, y), 1 if sample_weight is None else sample_weight)
    table = np.ones_like(counts)
    seen = counts > 0
    if seen.any():
        table[seen] = counts[seen].min() / counts[seen]
    return labels, table


def _kinds(values):
    """The kinds of labels an array holds: ``"number"``, ``"text"`` and
    the like (the elements' own types, for an object array)."""
    values = np.asarray(values)
    if values.dtype.kind != "O":
        kind = values.dtype.kind
        return {"number" if kind in "iuf" else "text" if kind in "US" else kind}
    return {_label_kind(value) for value in values[:1000]}


def group_weight(y, groups, labels, table, weight=None):
    """Fold the stratum weights into the per-sample weights.

    Parameters
    ----------
    y : ndarray of shape (n_samples,)
        Encoded class indices.
    groups : ndarray of shape (n_samples,)
        Group label of every sample.
    labels, table : ndarray
        As returned by :func:`stratum_target_weight` for the first fit; a
        group it did not see counts as the smallest stratum.
    weight : torch.Tensor of shape (n_samples,) or None
        The checked ``sample_weight`` divided by its mean over the training
        rows of positive weight (mean 1 over those rows), or None.

    Returns
    -------
    weight : torch.Tensor of shape (n_samples,)
    """
    g = np.zeros(len(groups), dtype=np.intp)
    known = np.zeros(len(groups), dtype=bool)
    # No labels: the first fit's training rows all weighed 0.
    if len(labels):
        try:
            g = np.clip(np.searchsorted(labels, groups), 0, len(labels) - 1)
            known = np.asarray(labels[g] == groups, dtype=bool)
        except TypeError:
            # Labels that do not compare (strings of an object array beside
            # integers): none of them is known.
            pass
    if (
        len(groups)
        and len(labels)
        and not known.any()
        and _kinds(groups) != _kinds(labels)
    ):
        # Every row weighs as the smallest stratum, and no group is
        # balanced: what an unseen group documents, but groups of another
        # type than the first fit's are more likely a mistake.
        warnings.warn(
            "None of the groups of this call is one of the first fit's, and "
            f"they are of another type (groups_ holds {len(labels)}, such as "
            f"{shown_label(labels[0])}; this call gives such as "
            f"{shown_label(groups[0])}): "
            "every row counts as the smallest stratum, and no group is "
            "balanced. Give the groups as the first fit did.",
            RSFTWarning,
            stacklevel=caller_stacklevel(),
        )
    stratum = np.where(known, table[g, y], 1.0) if len(labels) else np.ones(len(y))
    stratum = torch.as_tensor(stratum, dtype=torch.float32)
    return stratum if weight is None else stratum * weight
