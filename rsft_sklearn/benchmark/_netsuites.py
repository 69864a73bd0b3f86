"""Suites where networks are the tool: ``images``, ``finetune`` and ``large``.

- ``images``: scikit-learn's digits (a small 2D CNN) and MNIST-1D (a 1D CNN),
  each training part cut to an exponential long tail (imbalance ratio 50 or
  100) and tested on a balanced part, trained with the source's recipe
  (SGD, lr 0.01, momentum 0.9) and with the project's default (Adam).
- ``finetune``: the same long tails, but the network starts from one
  pretrained on a related task (even against odd, on rows the long-tailed
  data never use), cached on disk; every method fine-tunes all layers, or
  the head only (skorch's ``Freezer``).
- ``large``: KEEL's ``fars``, ``kr-vs-k`` and ``nursery`` in full and
  MNIST-1D generated at 60,000 rows and cut to a long tail.
"""

import errno
import io
import operator
import os
import warnings
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from .._validation import RSFTWarning
from ._networks import CNN1d, CNN2d, PretrainedState, recipe_params
from ._runner import _interrupt_seen, _write_atomically
from ._suites import (
    Dataset,
    Suite,
    _load_keel_multiclass,
    _long_tailed_counts,
    _mnist1d,
    register_suite,
)

__all__ = ["long_tail_splits", "pretrained_path"]

RATIOS = (50, 100)
RECIPE_NAMES = ("sgd", "adam")
SOURCES = ("digits", "mnist1d")
# Share of each class's rows held out, balanced, for testing.
TEST_FRACTION = 0.2
# Share of each class's rows that only the finetune suite's pretraining sees.
PRETRAIN_FRACTION = 0.4
LARGE_KEEL = ("fars", "kr-vs-k", "nursery")
LARGE_MNIST1D = "mnist1d-60k-lt"
LARGE_MNIST1D_ROWS = 60000
LARGE_MNIST1D_RATIO = 100


def _source(name):
    if name == "digits":
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        return np.asarray(X, dtype=np.float64), y, _source_module(name)
    X, y = _mnist1d()
    return X, y, _source_module(name)


def _source_module(name):
    """The network class of a source (CNN2d for the 8 x 8 digits)."""
    return CNN2d if name == "digits" else CNN1d


def long_tail_splits(y, repeats, seed, *, ratio, test_fraction=TEST_FRACTION):
    """One long-tailed training part and one balanced test part per repeat.

    Each class gives ``round(test_fraction * n_min)`` rows to the test part
    (``n_min``: the smallest class); class ``i`` (in label order) keeps
    ``head * ratio ** (-i / (n - 1))`` of its other rows for training
    (at least one), ``head`` being what the smallest class has left. Every
    repeat draws afresh, from a generator seeded by ``(seed, repeat)``.

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn.benchmark._netsuites import long_tail_splits
    >>> y = np.repeat(np.arange(3), 50)
    >>> (train, test), = long_tail_splits(y, 1, 0, ratio=10)
    >>> np.bincount(y[train]).tolist(), np.bincount(y[test]).tolist()
    ([40, 13, 4], [10, 10, 10])
    """
    labels, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    n_test = max(1, round(test_fraction * counts.min()))
    head = counts.min() - n_test
    steps = np.arange(len(labels)) / max(1, len(labels) - 1)
    sizes = np.maximum(1, np.round(head * float(ratio) ** -steps)).astype(int)
    splits = []
    for repeat in range(repeats):
        rng = np.random.default_rng([seed, repeat])
        train, test = [], []
        for i, size in enumerate(sizes):
            rows = rng.permutation(np.flatnonzero(inverse == i))
            test.append(rows[:n_test])
            train.append(rows[n_test : n_test + size])
        splits.append((np.sort(np.concatenate(train)), np.sort(np.concatenate(test))))
    return splits


def _split_off(y, fraction, seed):
    """Boolean mask of a per-class ``fraction`` of the rows, seeded."""
    rng = np.random.default_rng([seed, 7])
    mask = np.zeros(len(y), dtype=bool)
    for label in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == label))
        mask[rows[: round(fraction * len(rows))]] = True
    return mask


def _parse(name):
    """``(source, ratio, variant)`` of a name such as ``digits-lt50-sgd``."""
    source, tail, *variant = name.split("-")
    return source, int(tail[2:]), "-".join(variant)


def _family(name):
    source, ratio, _ = _parse(name)
    return f"{source}-lt{ratio}"


# The start of the note that states a long-tailed set's tail.
TAIL_NOTE = "training parts cut to an exponential long tail"


def _tail_note(y, ratio):
    """The note of a long-tailed set of labels ``y``: the ratio asked, and
    what the tail's rounding to whole rows makes of it."""
    # The tail is rounded to whole rows: on a small source (digits), or on
    # a sample that --max-rows made, the rarest class keeps a row or two,
    # and the ratio comes out otherwise.
    train, _ = long_tail_splits(y, 1, 0, ratio=ratio)[0]
    labels, inverse = np.unique(y, return_inverse=True)
    counts = np.bincount(inverse[train], minlength=len(labels))
    rarest = int(counts.min())
    if rarest == 0:
        # A class of one row (a tiny sample) gives it to the test part.
        stated = f"imbalance ratio {ratio} asked, no training row in the rarest class"
    elif abs(counts.max() / rarest - ratio) <= 0.05 * ratio:
        stated = f"imbalance ratio {ratio}"
    else:
        stated = (
            f"imbalance ratio {ratio} asked, {counts.max() / rarest:.0f} once the "
            f"tail is rounded to whole rows, {rarest} row{'s' * (rarest != 1)} in "
            "the rarest class"
        )
    return (
        f"{TAIL_NOTE} ({stated}), a balanced test part of {TEST_FRACTION:.0%} "
        "of the smallest class per class, drawn afresh per repeat"
    )


@dataclass(frozen=True)
class _LongTailedSet(Dataset):
    """A :class:`Dataset` whose training parts are cut to a long tail of
    imbalance ratio ``ratio``.

    Its first note states the tail that its rows give, made again whenever
    the set is remade from other rows: a row cap (``--max-rows``) samples
    the rows before the tail is cut, and the note of the uncapped set (a
    ratio of 139) stood beside a table that gave the sample's (12 under
    ``--max-rows 150``).
    """

    ratio: int = 0

    def __post_init__(self):
        others = tuple(note for note in self.notes if not note.startswith(TAIL_NOTE))
        object.__setattr__(self, "notes", (_tail_note(self.y, self.ratio), *others))


def _long_tailed_set(name, X, y, module, group, net_params, notes):
    _, ratio, _ = _parse(name)
    return _LongTailedSet(
        name,
        X,
        y,
        group,
        notes,
        net_params={
            "module": module,
            "module__n_classes": len(np.unique(y)),
            **net_params,
        },
        family=_family(name),
        splitter=partial(long_tail_splits, ratio=ratio),
        ratio=ratio,
    )


def _load_image(name, seed, options):
    source, _, recipe = _parse(name)
    X, y, module = _source(source)
    return _long_tailed_set(
        name,
        X,
        y,
        module,
        "images",
        recipe_params(recipe),
        (f"{module.__name__}, recipe {recipe}",),
    )


def _cache_dir(cache_dir):
    if cache_dir is None:
        cache_dir = os.environ.get("RSFT_BENCH_CACHE") or (
            Path.home() / ".cache" / "rsft-bench"
        )
    return Path(cache_dir)


def check_cache_dir(cache_dir=None):
    """Make the cache folder (``cache_dir``, else ``$RSFT_BENCH_CACHE``,
    else ``~/.cache/rsft-bench``), or raise a ``ValueError`` naming it."""
    folder = _cache_dir(cache_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ValueError(
            f"--cache-dir: cannot use {str(folder)!r} as the folder of the "
            f"pretrained networks ({exc.strerror or exc})."
        ) from None
    if not os.access(folder, os.W_OK):
        raise ValueError(f"--cache-dir: the folder {str(folder)!r} is not writable.")
    return folder


def _damage(path, source):
    """What is wrong with the cached network of ``source`` at ``path``
    (words that follow the file's name), or None for a sound file."""
    import zipfile

    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        _source_module(source)(n_classes=2).load_state_dict(state)
        # torch reads a tensor's record without checking it: bytes changed
        # inside one load as other weights. The zip's CRCs tell.
        with zipfile.ZipFile(path) as archive:
            record = archive.testzip()
    except Exception:  # a damaged file fails in many ways (zip, pickle, shapes)
        return f"does not load into the {source} network"
    if record is not None:
        # Named without the archive's folder (the name of the file it was
        # saved to, a temporary one).
        record = record.split("/", 1)[-1]
        return f"is damaged (its record {record!r} fails its CRC check)"
    if not all(torch.isfinite(value).all() for value in state.values()):
        # Every fit from such weights would fail, blaming the features' scale.
        return "holds weights that are not finite"
    return None


def _pretraining(module, seed, epochs):
    """The unfitted estimator that pretrains a source's network: plain
    training (the default Adam recipe), batch size 64, two outputs."""
    from .. import RSFTClassifier

    return RSFTClassifier(
        module=module,
        module__n_classes=2,
        max_epochs=epochs,
        warmup_epochs=epochs,
        batch_size=64,
        random_state=seed,
    )


def _pretraining_key(source, seed, epochs):
    """A short digest of what a pretrained network depends on besides the
    source, seed and epochs its file name states: the versions of the
    packages that make its rows and train it, the share of rows set aside,
    every parameter of the pretraining estimator and the network's layers.
    A file made under any other of these is not this network."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    import torch

    from .. import __version__

    module = _source_module(source)
    # Building the network draws its initial weights: from a copy of
    # torch's generator, which the caller's next draws must not notice.
    with torch.random.fork_rng(devices=[]):
        layers = repr(module(n_classes=2))
    packages = ["skorch", "scikit-learn", "numpy"]
    if source == "mnist1d":
        packages.append("mnist1d")
    versions = {"rsft-sklearn": __version__, "torch": torch.__version__}
    for package in packages:
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = None
    params = _pretraining(module, seed, epochs).get_params(deep=False)
    text = repr(
        (
            sorted(versions.items()),
            PRETRAIN_FRACTION,
            sorted((key, repr(value)) for key, value in params.items()),
            layers,
        )
    )
    return hashlib.blake2b(text.encode(), digest_size=5).hexdigest()


def pretrained_path(source, seed, epochs, cache_dir=None):
    """The cached pretrained network of a source, trained when missing.

    The network is trained (plain training, the default Adam recipe, batch
    size 64) to tell even from odd labels on the rows that
    :func:`_split_off` sets aside, which the long-tailed data never use.
    The file's name holds the source, the seed, the epochs and a digest of
    everything else the weights depend on (:func:`_pretraining_key`: the
    packages' versions, the share set aside, the pretraining's parameters,
    the network), so that a file of another pretraining is never reused
    under it. It trains on one torch thread whatever the caller's setting
    (the name says so, so that a file cached before, on another thread
    count, is not reused): a CPU network's weights depend on the thread
    count, and the cache must not depend on which run made it. A cached
    file that does not load, fails its CRC check or holds weights that are
    not finite is trained again, with a warning. A pretraining that does
    not train all its epochs is not cached.

    Returns
    -------
    path : pathlib.Path
        A ``state_dict`` file.

    Raises
    ------
    KeyboardInterrupt
        On Ctrl-C during the pretraining (``Terminated``, a subclass, on
        SIGTERM under ``rsft-bench``), which skorch would have ended quietly,
        returning the part-trained network.
    ValueError
        When the cache folder cannot be made, or refuses the file (a full
        disk); no partial file is left in it.
    """
    return _pretrained(source, seed, epochs, cache_dir)[0]


def _pretrained(source, seed, epochs, cache_dir):
    """``(path, state)``: :func:`pretrained_path` and the ``state_dict``
    that its file holds, checked."""
    import torch
    from sklearn.preprocessing import StandardScaler

    # As Python integers: the key is built from reprs, and np.int64(0)
    # would name another file for the same network.
    seed, epochs = operator.index(seed), operator.index(epochs)
    key = _pretraining_key(source, seed, epochs)
    path = (
        _cache_dir(cache_dir)
        / f"pretrained-{source}-seed{seed}-e{epochs}-1thread-{key}.pt"
    )
    if path.is_dir():
        # Found only when the pretrained weights were to replace it.
        raise ValueError(
            f"{path} is a folder where rsft-bench keeps a pretrained network's "
            "file; move it away, or choose another --cache-dir."
        )
    if path.exists():
        damage = _damage(path, source)
        if damage is None:
            return path, torch.load(path, map_location="cpu", weights_only=True)
        # A truncated file (a copy cut short), a damaged one or another
        # network's weights under this name would fail every fit that loads
        # it, or send every fit from other weights; trained again.
        warnings.warn(
            f"{path} {damage}; training it again.",
            RSFTWarning,
            stacklevel=3,
        )
    # A folder that cannot be made is named now, not after the pretraining.
    check_cache_dir(cache_dir)
    X, y, module = _source(source)
    aside = _split_off(y, PRETRAIN_FRACTION, seed)
    X_pre = StandardScaler().fit_transform(X[aside]).astype(np.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # skorch ends a fit quietly on Ctrl-C (and on SIGTERM under
        # rsft-bench) and returns the part-trained network, which was cached
        # under this name and reused by every later run: the guard raises
        # the interruption past it.
        with _interrupt_seen():
            net = _pretraining(module, seed, epochs).fit(X_pre, y[aside] % 2)
    finally:
        torch.set_num_threads(threads)
    if len(net.history) != epochs:
        # Stopped by a KeyboardInterrupt that skorch swallowed and no signal
        # raised (the guard saw none): a network of fewer epochs.
        raise KeyboardInterrupt(
            f"the pretraining of the {source} network stopped after "
            f"{len(net.history)} of its {epochs} epochs; nothing was cached."
        )
    return path, _cache(net.module_.state_dict(), path)


def _cache(state, path):
    """Write ``state`` to ``path`` through a temporary file beside it, which
    no failure leaves behind; return ``state`` as the file gives it back.
    A disk that refuses the file raises a ``ValueError`` naming its folder."""
    import torch

    # Serialised in memory and written by Python's file calls: torch.save's
    # own writer reported a full disk as "[enforce fail at
    # inline_container.cc:672]" and left its temporary file.
    buffer = io.BytesIO()
    torch.save(state, buffer)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # A temporary file per process: runs that share the cache may write
        # the same network at once.
        _write_atomically(
            path,
            buffer.getvalue(),
            tmp=path.with_name(f"{path.name}.{os.getpid()}.tmp"),
        )
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
        raise ValueError(
            f"--cache-dir: cannot write the pretrained network in "
            f"{str(path.parent)!r} ({exc.strerror or exc}); "
            + ("free space there or " if full else "")
            + "choose another --cache-dir."
        ) from exc
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_finetune(name, seed, options):
    from skorch.callbacks import Freezer

    source, _, variant = _parse(name)
    X, y, module = _source(source)
    epochs = options.get("pretrain_epochs") or 10
    path, state = _pretrained(source, seed, epochs, options.get("cache_dir"))
    rest = ~_split_off(y, PRETRAIN_FRACTION, seed)
    # The weights themselves, not the file's path: a Dask worker on another
    # machine builds the network without the client's cache folder.
    params = {"module__pretrained": PretrainedState(state, path.name)}
    if variant == "ft-head":
        params["callbacks"] = [("freeze_features", Freezer("features.*"))]
    return _long_tailed_set(
        name,
        X[rest],
        y[rest],
        module,
        "finetune",
        params,
        (
            f"{module.__name__} pretrained ({epochs} epochs, cached) on even "
            f"against odd labels of {PRETRAIN_FRACTION:.0%} of the rows, which "
            "this set leaves out; "
            + ("head only fine-tuned" if variant == "ft-head" else "every layer"),
        ),
    )


def _load_large(name, seed, options):
    if name != LARGE_MNIST1D:
        dataset = _load_keel_multiclass(name)
        return Dataset(dataset.name, dataset.X, dataset.y, "large", dataset.notes)
    from imblearn.datasets import make_imbalance

    X, y = _mnist1d(LARGE_MNIST1D_ROWS)
    counts = np.bincount(y)
    X, y = make_imbalance(
        X,
        y,
        sampling_strategy=_long_tailed_counts(
            counts, counts.min(), LARGE_MNIST1D_RATIO
        ),
        random_state=seed,
    )
    return Dataset(
        name,
        np.asarray(X, dtype=np.float64),
        y,
        "large",
        (
            f"MNIST-1D generated at {LARGE_MNIST1D_ROWS} rows, class sizes cut "
            f"to an exponential profile, imbalance ratio {LARGE_MNIST1D_RATIO}, "
            f"seed {seed}",
        ),
    )


IMAGES = tuple(
    f"{source}-lt{ratio}-{recipe}"
    for source in SOURCES
    for ratio in RATIOS
    for recipe in RECIPE_NAMES
)
FINETUNE = tuple(
    f"{source}-lt{ratio}-{variant}"
    for source in SOURCES
    for ratio in RATIOS
    for variant in ("ft-all", "ft-head")
)

register_suite(
    "images",
    Suite(
        IMAGES,
        ("digits-lt100-sgd", "digits-lt100-adam"),
        _load_image,
        max_rows=0,
        epochs=10,
        batch_size=64,
        family=_family,
    ),
)
register_suite(
    "finetune",
    Suite(
        FINETUNE,
        ("digits-lt100-ft-all", "digits-lt100-ft-head"),
        _load_finetune,
        max_rows=0,
        epochs=10,
        batch_size=64,
        family=_family,
    ),
)
register_suite(
    "large",
    Suite(
        (*LARGE_KEEL, LARGE_MNIST1D),
        ("kr-vs-k", "nursery"),
        _load_large,
        max_rows=0,
        repeats=3,
    ),
)
