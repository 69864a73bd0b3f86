"""In-memory data holding and batching.

skorch's default path indexes a dataset one row at a time and collates the
rows; for small networks that costs several times the network itself. Here the
data live as tensors (on the training device when asked) and a batch is one
slice or one ``index_select`` per tensor.

Sparse inputs (TF-IDF, hashed features) stay a SciPy CSR matrix on the host,
held by :class:`SparseRows`; every batch is cut from it and handed to a module
that accepts sparse input (the default MLP) as a sparse tensor, to any other
densified alone, so the whole matrix is never densified.
"""

import functools
import inspect
import numbers
import warnings
from collections.abc import Mapping

import numpy as np
import scipy.sparse as sp
import torch
from torch.utils.data import DataLoader, Subset

from ._validation import RSFTWarning, bool_duplicates_summed, caller_stacklevel

__all__ = ["BatchIterator", "InMemoryDataset", "SparseRows"]


class SparseRows:
    """A CSR matrix whose row batches come out as tensors.

    Stands in for the tensor ``X`` of an :class:`InMemoryDataset`. The
    matrix stays on the host, and only a batch of rows is converted: to a
    dense float32 tensor (``batch_size x n_features``), or, for a module
    that declares ``accepts_sparse = True`` (the default
    :class:`~rsft_sklearn.MLPModule`), to a sparse COO tensor, which keeps
    a batch of wide rows (hashed features) as small as its non-zeros.
    skorch then moves the batch to the network's device.

    Parameters
    ----------
    matrix : scipy.sparse matrix or array of shape (n_samples, n_features)
        Converted to CSR with float32 values (CSC, COO and the other SciPy
        formats go through ``tocsr()``, which copies the matrix once in its
        own sparse size). Duplicate entries of a cell are summed; of bool
        values, they are one ``True``, as ``toarray()`` reads them.
    sparse_batches : bool, default=False
        Give batches as sparse COO tensors rather than dense tensors.

    Examples
    --------
    >>> import scipy.sparse as sp
    >>> from rsft_sklearn import SparseRows
    >>> rows = SparseRows(sp.eye(4, format="csr"))
    >>> len(rows), rows.take(slice(1, 3)).tolist()
    (4, [[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0]])
    >>> SparseRows(sp.eye(4), sparse_batches=True).take(slice(0, 2)).layout
    torch.sparse_coo
    """

    device = torch.device("cpu")

    def __init__(self, matrix, sparse_batches=False):
        matrix = sp.csr_matrix(matrix) if not sp.issparse(matrix) else matrix
        if matrix.format != "csr":
            matrix = matrix.tocsr()
        # Duplicate True entries of a cell are one True (as toarray() reads
        # them), not a count of 2 after the cast.
        matrix = bool_duplicates_summed(matrix)
        if matrix.dtype != np.float32:
            matrix = matrix.astype(np.float32)
        # Sorted, duplicate-free rows give coalesced COO batches for free;
        # the caller's matrix is left as it was.
        if not matrix.has_canonical_format:
            matrix = matrix.copy()
            matrix.sum_duplicates()
        self.matrix = matrix
        self.sparse_batches = sparse_batches

    @property
    def shape(self):
        return self.matrix.shape

    def __len__(self):
        return self.matrix.shape[0]

    def __getitem__(self, i):
        if isinstance(i, (int, np.integer)) or (
            isinstance(i, torch.Tensor) and i.dim() == 0
        ):
            # One row, dense, as torch's DataLoader collates rows: a user's
            # DataLoader then batches sparse input too.
            n, row = len(self), int(i)
            if not -n <= row < n:
                raise IndexError(f"row {row} is out of range for {n} rows.")
            row %= n
            return torch.from_numpy(self.matrix[row : row + 1].toarray()[0])
        return self.take(i)

    def take(self, idx):
        """Rows ``idx`` (a slice or 1-d index tensor) as a float32 tensor.

        Parameters
        ----------
        idx : slice or torch.Tensor of shape (n_rows,)
            The rows to take, in order; an index tensor on any device is
            read on the host.

        Returns
        -------
        batch : torch.Tensor of shape (n_rows, n_features)
            The rows as a dense float32 tensor, or a sparse COO tensor (of
            coalesced indices) under ``sparse_batches=True``; on the host.
        """
        if isinstance(idx, torch.Tensor):
            idx = idx.cpu().numpy()
        block = self.matrix[idx]
        if not self.sparse_batches:
            return torch.from_numpy(block.toarray())
        block = block.tocoo()
        indices = np.vstack([block.row, block.col]).astype(np.int64)
        return torch.sparse_coo_tensor(
            torch.from_numpy(indices),
            torch.from_numpy(block.data),
            block.shape,
            is_coalesced=True,
            check_invariants=False,
        )

    def to(self, device, non_blocking=False):
        # The matrix stays on the host; batches move to the device one by one.
        return self


@functools.cache
def _loader_defaults():
    """DataLoader's keyword arguments and their defaults."""
    return {
        name: parameter.default
        for name, parameter in inspect.signature(DataLoader).parameters.items()
        if name not in ("self", "dataset")
    }


def _loader_arguments():
    return set(_loader_defaults())


def check_loader_options(options, name="BatchIterator"):
    """Refuse options that neither :class:`BatchIterator` nor
    ``DataLoader`` takes: a misspelt ``iterator_train__`` option was ignored
    without a word."""
    own = {"batch_size", "shuffle", "generator", "drop_last"}
    unknown = sorted(set(options) - own - _loader_arguments())
    if unknown:
        raise TypeError(
            f"{name} got unexpected keyword argument(s) {unknown}; it "
            "takes batch_size, shuffle, generator, drop_last and the other "
            "arguments of torch.utils.data.DataLoader."
        )


# DataLoader options that decide which rows a batch holds, or what it holds:
# batches sliced from memory cannot follow them.
_ROW_OPTIONS = ("sampler", "batch_sampler", "collate_fn")


def check_sliced_options(options):
    """Refuse the DataLoader options of a training iterator that in-memory
    batching would ignore and that change what is trained (a sampler
    ignored trained another class mix without a word); warn of the others
    (workers, pinned memory), which only change how rows are loaded. An
    option set to ``None`` (DataLoader's default) is no option."""
    options = _set_options(options)
    if not options:
        return
    _refuse_row_options(
        options,
        "Pass the data as a torch Dataset, or pass "
        "iterator_train=torch.utils.data.DataLoader to batch them with a "
        "DataLoader.",
    )
    warnings.warn(
        f"The DataLoader option(s) {sorted(options)} of iterator_train are "
        "ignored: batches of in-memory data (arrays, sparse matrices, dicts "
        "of arrays) are cut from one tensor, without a DataLoader. They "
        "apply to torch Dataset inputs.",
        RSFTWarning,
        stacklevel=caller_stacklevel(),
    )


def without_row_options(dataset, options):
    """``options`` of an iterator over ``dataset``, less ``sampler``,
    ``batch_sampler`` and ``collate_fn`` when the data set is held in
    memory (an :class:`InMemoryDataset` or a ``Subset`` of one).

    For a prediction pass: a fit on a torch ``Dataset`` may give its
    ``iterator_valid`` these options, and then predict on arrays, whose
    batches, cut from memory in the rows' order, have no use for them.
    """
    if _resolve(dataset)[0] is None:
        return options
    return {key: value for key, value in options.items() if key not in _ROW_OPTIONS}


def _set_options(options):
    """The options that differ from DataLoader's own defaults."""
    defaults = _loader_defaults()
    return {
        key: value
        for key, value in options.items()
        if value is not None and not _is_default(value, defaults.get(key))
    }


def _refuse_row_options(options, advice):
    """Raise if ``options`` set one that decides a batch's rows or what it
    holds; ``advice`` ends the message."""
    changing = sorted(set(options) & set(_ROW_OPTIONS))
    if changing:
        raise ValueError(
            f"The DataLoader option(s) {changing} apply to torch Dataset "
            "inputs only: batches of in-memory data (arrays, sparse matrices, "
            "dicts of arrays) are cut from one tensor, without a DataLoader. " + advice
        )


def _is_default(value, default):
    """Whether an option holds DataLoader's own default (``num_workers=0``,
    ``pin_memory=False``): no option either."""
    if type(value) is not type(default):
        return False
    try:
        return bool(value == default)
    except Exception:
        return False


def _take(data, idx):
    if isinstance(data, Mapping):
        return {key: _take(value, idx) for key, value in data.items()}
    if isinstance(data, SparseRows):
        return data.take(idx)
    if isinstance(idx, slice):
        # A copy, as index_select makes: a module that writes into its input
        # (an in-place dropout or normalisation) must not reach the data
        # set, which may be the user's own array, or read-only memory.
        # Row-major, whatever the layout of the data (a transposed image
        # array): a module may view its input.
        return data[idx].clone(memory_format=torch.contiguous_format)
    return data.index_select(0, idx)


def _to(data, device):
    if isinstance(data, Mapping):
        return {key: _to(value, device) for key, value in data.items()}
    return data.to(device)


class InMemoryDataset(torch.utils.data.Dataset):
    """Tensors of a whole data set, batched by slicing.

    Parameters
    ----------
    X : torch.Tensor, SparseRows or dict of str to those
        Inputs; a dict holds one tensor per modality, all of the same length.
        A sparse matrix is held as :class:`SparseRows`.
    y : torch.Tensor of shape (n_samples,) or None, default=None
        Integer class indices (positions in ``classes_``). Given to ``fit``,
        the data set trains on the labels of ``fit``'s ``y``, which these
        must equal when given.
    sample_weight : torch.Tensor of shape (n_samples,) or None, default=None
        Per-sample target weights that travel with each batch. ``fit``
        takes the weights as ``fit(X, y, sample_weight=...)`` (where they
        count in the class frequencies too) and refuses a data set given
        with them.
    device : str or torch.device or None, default=None
        Where to keep the tensors; ``None`` leaves them where they are. Data
        too large for the device's memory stay where they are.

    Raises
    ------
    TypeError
        When ``X``, ``y`` or ``sample_weight`` is not a tensor (a NumPy
        array, a list): ``torch.as_tensor`` converts it, and ``fit`` takes
        the arrays themselves.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import InMemoryDataset
    >>> ds = InMemoryDataset(torch.arange(6.0).reshape(3, 2), torch.tensor([0, 1, 0]))
    >>> len(ds), ds[1]
    (3, (tensor([2., 3.]), tensor(1)))
    """

    def __init__(self, X, y=None, sample_weight=None, device=None):
        # NumPy arrays were taken, and their rows read, but fit failed on
        # them ("'numpy.ndarray' object has no attribute 'detach'").
        if isinstance(X, Mapping):
            for key, value in X.items():
                _check_rows(value, f"X[{key!r}]", inputs=True)
        else:
            _check_rows(X, "X", inputs=True)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None:
                _check_rows(value, name)
        if device is not None:
            try:
                X, y, sample_weight = (
                    _to(X, device),
                    None if y is None else y.to(device),
                    None if sample_weight is None else sample_weight.to(device),
                )
            except torch.OutOfMemoryError:
                # Data that do not fit on the device stay on the host; the
                # network then receives each batch moved on its own.
                pass
        n = _n_rows(X)
        for name, value in (("y", y), ("sample_weight", sample_weight)):
            if value is not None and len(value) != n:
                raise ValueError(
                    f"{name} has {len(value)} rows but X has {n}; give one per row."
                )
        self.X = X
        self.y = y
        self.sample_weight = sample_weight

    def __len__(self):
        first = next(iter(self.X.values())) if isinstance(self.X, Mapping) else self.X
        return len(first)

    def __getitem__(self, i):
        Xi = (
            {k: v[i] for k, v in self.X.items()}
            if isinstance(self.X, Mapping)
            else self.X[i]
        )
        yi = torch.zeros((), dtype=torch.long) if self.y is None else self.y[i]
        # A row carries its weight, so that torch's DataLoader batches it too.
        if self.sample_weight is None:
            return Xi, yi
        return Xi, yi, self.sample_weight[i]

    def take_labels(self, idx):
        """``(y, sample_weight)`` at ``idx``, without the inputs (the
        sample weight is None when the data set holds none).

        Parameters
        ----------
        idx : slice or torch.Tensor of shape (n_rows,)
            The rows to take: a slice, or int64 positions on the data set's
            device.

        Returns
        -------
        y : torch.Tensor of shape (n_rows,) or None
            Their labels, or None when the data set holds none.
        sample_weight : torch.Tensor of shape (n_rows,) or None
            Their sample weights, or None when the data set holds none.
        """
        y = None if self.y is None else _take(self.y, idx)
        if self.sample_weight is None:
            return y, None
        return y, _take(self.sample_weight, idx)

    def take(self, idx, scratch=False):
        """Return the batch at ``idx`` (a slice or a 1-d index tensor).

        The batch is ``(X, y)``, or ``(X, y, sample_weight)`` when the data set
        holds sample weights. With ``scratch=True`` the inputs of a dense
        tensor data set are gathered into a buffer that the next such call
        overwrites, for a pass that drops them (the pooled modes' scoring):
        the memory of a pool's inputs is then not allocated, and paged in,
        at every pool.

        Parameters
        ----------
        idx : slice or torch.Tensor of shape (n_rows,)
            The rows to take: a slice, or int64 positions on the data set's
            device.
        scratch : bool, default=False
            Gather the inputs of a dense tensor data set into the shared
            buffer (an index tensor only; a slice, a dict of inputs and
            sparse rows are taken as usual).

        Returns
        -------
        batch : tuple
            ``(X, y)`` or ``(X, y, sample_weight)``: ``X`` a tensor, or a
            dict of tensors for a dict of inputs (copies of the rows, but
            the scratch buffer), ``y`` None when the data set holds no
            labels.
        """
        if scratch and isinstance(self.X, torch.Tensor) and not isinstance(idx, slice):
            Xb = self._gather_into_scratch(idx)
        else:
            Xb = _take(self.X, idx)
        yb = None if self.y is None else _take(self.y, idx)
        if self.sample_weight is None:
            return Xb, yb
        return Xb, yb, _take(self.sample_weight, idx)

    def _gather_into_scratch(self, idx):
        X = self.X
        n = len(idx)
        buffer = self.__dict__.get("_scratch")
        if (
            buffer is None
            or len(buffer) < n
            or buffer.dtype != X.dtype
            or buffer.device != X.device
            or buffer.shape[1:] != X.shape[1:]
        ):
            buffer = self._scratch = X.new_empty((n,) + tuple(X.shape[1:]))
        return torch.index_select(X, 0, idx, out=buffer[:n])


def _resolve(dataset):
    """Return ``(InMemoryDataset, row indices or None)`` or ``(None, None)``."""
    if isinstance(dataset, InMemoryDataset):
        return dataset, None
    if isinstance(dataset, Subset):
        base, idx = _resolve(dataset.dataset)
        if base is None:
            return None, None
        sub = torch.as_tensor(dataset.indices, dtype=torch.long)
        return base, sub if idx is None else idx[sub]
    return None, None


class BatchIterator:
    """Iterate over mini-batches of an :class:`InMemoryDataset` by slicing.

    Any other dataset goes through :class:`torch.utils.data.DataLoader` with
    the same arguments, so torch ``Dataset`` inputs keep working.

    Parameters
    ----------
    dataset : InMemoryDataset, Subset of one, or torch.utils.data.Dataset
        The data to iterate over.
    batch_size : int, default=128
        Rows per batch.
    shuffle : bool, default=False
        Draw a fresh permutation every time iteration starts.
    generator : torch.Generator or None, default=None
        CPU generator for the permutation.
    drop_last : bool, default=False
        Drop the last incomplete batch.
    **loader_kwargs : dict
        Passed to :class:`~torch.utils.data.DataLoader` for other datasets.
        Batches of an :class:`InMemoryDataset` are cut from its tensors,
        without a ``DataLoader``: ``sampler``, ``batch_sampler`` and
        ``collate_fn``, which would change the rows of a batch or what it
        holds, raise a ``ValueError`` (a ``Subset`` of the data set visits
        some of its rows); the options of loading alone (``num_workers``,
        ``pin_memory``, ...) have nothing to do.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import BatchIterator, InMemoryDataset
    >>> ds = InMemoryDataset(torch.arange(10.0).reshape(5, 2), torch.arange(5))
    >>> [tuple(yb.tolist()) for _, yb in BatchIterator(ds, batch_size=2)]
    [(0, 1), (2, 3), (4,)]
    """

    def __init__(
        self,
        dataset,
        batch_size=128,
        shuffle=False,
        generator=None,
        drop_last=False,
        **loader_kwargs,
    ):
        self.dataset = dataset
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral):
            raise TypeError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}.")
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.generator = generator
        self.drop_last = drop_last
        check_loader_options(loader_kwargs)
        self.loader_kwargs = loader_kwargs
        self._base, self._indices = _resolve(dataset)
        if self._base is not None:
            # Ignored, a sampler of one class's rows batched every row.
            _refuse_row_options(
                _set_options(loader_kwargs),
                "Iterate over a torch Dataset (such as TensorDataset) to use "
                "them, or over a torch.utils.data.Subset of the "
                "InMemoryDataset to visit some of its rows.",
            )
        # Positions (into ``dataset``) of the rows to visit; None visits all.
        # RSFTClassifier(rejection="epoch") sets it before every epoch.
        self.rows = None
        # Pooled selection (RSFTClassifier(rejection="pool" or "budget")):
        # when set, ``select(dataset, positions)`` gets the in-memory data
        # set and the positions of ``pool_size`` batches' rows in it, takes
        # what it needs of them (a budget's unscored pool needs no inputs)
        # and returns the positions (within the pool) of the rows to train
        # on; the iterator yields full batches of those, carrying the
        # remainder over to the next pool. A last batch of fewer than
        # ``min_rows`` rows is left out.
        self.select = None
        self.pool_size = 1
        self.min_rows = 1

    @property
    def in_memory(self):
        """Whether batches are sliced from an :class:`InMemoryDataset`."""
        return self._base is not None

    def _check_in_memory(self, method):
        if self._base is None:
            raise ValueError(
                f"BatchIterator.{method} reads an InMemoryDataset (or a Subset "
                f"of one); this iterator holds a {type(self.dataset).__name__}."
            )

    def row_store(self):
        """A float32 tensor of one NaN per row of the in-memory data set, on
        its device: per-row state indexed by the positions that pooled
        selection gets. In-memory data only."""
        self._check_in_memory("row_store")
        # float32 whatever torch's default dtype: the float32 acceptances
        # copied into it were refused by a float64 store (index_copy_).
        return torch.full(
            (len(self._base),),
            float("nan"),
            device=_device_of(self._base),
            dtype=torch.float32,
        )

    def row_batches(self, batch_size):
        """Yield every row of the dataset once, in order, as batches.

        Used to score the whole training set without gradient; returns the
        batches of :meth:`InMemoryDataset.take`. In-memory data only.

        Parameters
        ----------
        batch_size : int
            Rows per batch, ``>= 1``; the last batch may hold fewer.

        Yields
        ------
        batch : tuple
            ``(X, y)`` or ``(X, y, sample_weight)``, as
            :meth:`InMemoryDataset.take` returns it, for the rows of the
            iterator's dataset (of a ``Subset``, its rows in its order).

        Raises
        ------
        ValueError
            When the iterator's dataset is not held in memory.
        """
        self._check_in_memory("row_batches")
        n = len(self.dataset)
        device = _device_of(self._base)
        indices = None if self._indices is None else self._indices.to(device)
        for start in range(0, n, batch_size):
            end = min(start + batch_size, n)
            idx = slice(start, end) if indices is None else indices[start:end]
            yield self._base.take(idx)

    def __len__(self):
        # Under pooled selection, the number of batches is known only at the
        # end of the epoch; this is its upper bound.
        n = len(self.dataset) if self.rows is None else len(self.rows)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self):
        if self._base is None:
            generator = self.generator
            if (
                generator is None
                and not self.shuffle
                and not self.loader_kwargs.get("num_workers")
            ):
                # The loader draws its workers' base seed even in order and
                # without workers; from torch's global generator, that draw
                # moved the caller's stream at every predict on a Dataset.
                # (Workers get their seeds from it, as in the process.)
                generator = torch.Generator()
            yield from DataLoader(
                self.dataset,
                batch_size=self.batch_size,
                shuffle=self.shuffle,
                generator=generator,
                drop_last=self.drop_last or self._short_last_batch(),
                **self.loader_kwargs,
            )
            return
        positions = self.rows
        n = len(self.dataset) if positions is None else len(positions)
        if self.shuffle:
            perm = torch.randperm(n, generator=self.generator)
            positions = perm if positions is None else positions[perm]
        order = self._indices
        if positions is not None:
            order = positions if order is None else order[positions]
        device = _device_of(self._base)
        if order is not None:
            order = order.to(device, non_blocking=True)
        if self.select is not None:
            if order is None:
                order = torch.arange(n, device=device)
            yield from self._pooled(order)
            return
        stop = n - n % self.batch_size if self.drop_last else n
        if 0 < stop % self.batch_size < self.min_rows:
            # A last batch too small for the module (one row, with
            # BatchNorm): left out, as the pooled modes leave theirs.
            stop -= stop % self.batch_size
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, n)
            idx = slice(start, end) if order is None else order[start:end]
            yield self._base.take(idx)

    def _short_last_batch(self):
        """Whether a torch ``Dataset``'s last batch would hold fewer than
        ``min_rows`` rows (one row, with BatchNorm): the loader then drops
        it, as the in-memory batches leave it out.

        The loader batches the rows of its ``sampler`` where one is given
        (a ``SubsetRandomSampler`` of 33 rows of 200 gives a last batch of
        one row at ``batch_size=32``); a ``batch_sampler`` makes the batches
        itself, and no guess is made."""
        if self.min_rows <= 1 or self.loader_kwargs.get("batch_sampler") is not None:
            return False
        sampler = self.loader_kwargs.get("sampler")
        try:
            n = len(self.dataset if sampler is None else sampler)
        except TypeError:
            # A data set (an IterableDataset) or a sampler without a length.
            return False
        return 0 < n % self.batch_size < self.min_rows

    def _pooled(self, order):
        """Batches of the rows that ``select`` keeps, pool by pool.

        Reads one number per pool on the host (the size of the kept rows),
        none per batch.
        """
        size = self.batch_size
        pool = size * max(int(self.pool_size), 1)
        carry = order[:0]
        # ``select`` may also return one weight per kept row (the budget's
        # importance weights); a batch then carries them in place of the
        # sample weights.
        carry_weight = None
        for start in range(0, len(order), pool):
            rows = order[start : start + pool]
            selected = self.select(self._base, rows)
            if isinstance(selected, tuple):
                selected, weight = selected
                carry_weight = (
                    weight
                    if carry_weight is None
                    else torch.cat([carry_weight, weight])
                )
            kept = rows.index_select(0, selected)
            carry = torch.cat([carry, kept]) if len(carry) else kept
            full = len(carry) - len(carry) % size
            for begin in range(0, full, size):
                yield self._weighted(carry, carry_weight, slice(begin, begin + size))
            carry = carry[full:]
            if carry_weight is not None:
                carry_weight = carry_weight[full:]
        if len(carry) >= self.min_rows and not self.drop_last:
            yield self._weighted(carry, carry_weight, slice(0, len(carry)))

    def _weighted(self, rows, weight, part):
        batch = self._base.take(rows[part])
        if weight is None:
            return batch
        return (batch[0], batch[1], weight[part])


def _check_rows(value, name, inputs=False):
    """Refuse a part of an :class:`InMemoryDataset` that is not a tensor
    (nor, for ``inputs``, a :class:`SparseRows`)."""
    if isinstance(value, torch.Tensor):
        return
    if inputs and isinstance(value, SparseRows):
        return
    kind = type(value)
    shown = kind.__qualname__
    if kind.__module__ != "builtins":
        shown = f"{kind.__module__}.{shown}"
    if inputs and sp.issparse(value):
        advice = f"wrap the matrix as SparseRows({name}), or give it to fit itself"
    else:
        advice = (
            f"pass torch.as_tensor({name}) (torch.from_numpy shares a NumPy "
            "array's memory), or give the arrays to fit itself"
        )
    raise TypeError(
        f"InMemoryDataset holds torch tensors, but {name} is a {shown}: "
        f"{advice}, which holds them as tensors."
    )


def _n_rows(X):
    """Rows of a tensor, of a sparse row store, or of every input of a dict
    (which must agree)."""
    if isinstance(X, Mapping):
        lengths = {key: len(value) for key, value in X.items()}
        if len(set(lengths.values())) > 1:
            raise ValueError(
                f"All inputs of a dict X must have the same length, got {lengths}."
            )
        return next(iter(lengths.values()), 0)
    return len(X)


def _device_of(dataset):
    """The device of the data set's rows: where its row indices, and any
    per-row state of pooled selection, belong."""
    X = dataset.X
    first = next(iter(X.values())) if isinstance(X, Mapping) else X
    if isinstance(first, SparseRows) and dataset.y is not None:
        # A sparse matrix stays on the host, and the labels (with the sample
        # weights) may be on the device: indices go where those are, and
        # SparseRows.take brings them to the host.
        return dataset.y.device
    return first.device
