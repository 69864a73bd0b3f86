"""Held-out balanced accuracy against training time, epoch by epoch.

Trains rsft-bench's networks (the same module, optimiser, batch size and seed
as in the benchmark, built by ``make_method``) on a data set shaped like
KEEL's ``fars`` (8 classes, imbalance ratio about 1000) and scores a
stratified held-out quarter after every epoch. The held-out scoring is timed
separately and left out of the training seconds, so each curve shows what a
given training budget buys. The methods:

- ``post-hoc logit adjustment``: the plain network, balanced decision;
- ``logit-adjusted loss``: the plain network trained on logits shifted by the
  log class prior, raw decision;
- ``RandomUnderSampler``: random under-sampling once, then the plain network
  (the resampling time is its first training seconds);
- ``RSFT``, ``RSFT warm-up`` and ``RSFT + logit-adjusted loss``; add
  ``RSFT rejection=epoch`` or any other single-network method with
  ``--methods``.

By default the data are synthetic (``make_classification``, 20000 rows, 100
features, class weights falling geometrically from the largest to the
smallest class by the imbalance ratio); ``--dat`` reads a KEEL ``.dat`` file
instead (nominal inputs one-hot encoded, missing values set to the column
median).

Usage::

    python benchmarks/fars_curve.py [--rows 20000] [--features 100]
        [--classes 8] [--imbalance 1000] [--epochs 20] [--batch-size 128]
        [--dat fars.dat] [--methods "RSFT,RSFT warm-up"] [--threads 1]
        [--out fars_curve] [--redraw]

It writes ``OUT.csv`` (method, epoch, train_seconds, balanced_accuracy,
backward_rows) and ``OUT.png``, and prints each method's last and best
held-out balanced accuracy with its training seconds. ``OUT.csv`` is
rewritten as each method finishes, with every curve finished so far, so
Ctrl-C loses only the method it cuts short: it stops the script with exit
status 130 and writes nothing of that method. ``OUT.json`` records the
settings that change a curve (rows, features, classes, imbalance, epochs,
batch size, seed, ``--dat`` and its size, threads). A rerun with the same
``--out`` and settings keeps the finished curves and trains the missing
methods only (their training seconds come from the run that made them); a
rerun with other settings, or over an ``OUT.csv`` without its ``OUT.json``
or that cannot be read, is refused before the first fit, naming why.
``--out`` is the stem of those files: a path without a name (``.``,
``..``) is refused. The figure's title names the data (of a ``.dat`` file,
its rows, classes and imbalance ratio), the split, the epochs, the batch
size and the seed. ``--redraw`` draws ``OUT.png`` again from ``OUT.csv``
without training: give it the run's options (``OUT.json``, where there is
one, must record the same ones, and every curve must have the epochs they
give it); the data are read to count their rows. The settings that
``OUT.json`` does not record (all of them, without one: the batch size,
the seed, the synthetic data's options) are taken as given to
``--redraw``, for the title. An ``OUT.csv`` without curves, or without a
column the figure needs, is refused.
"""

import argparse
import json
import sys
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
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._cli import _seed, positive
from rsft_sklearn.benchmark._keel import read_keel_dat
from rsft_sklearn.benchmark._methods import (
    make_method,
    parse_method,
    parse_methods,
    spelt_as_finished,
)
from rsft_sklearn.benchmark._rivals import LogitAdjustedRSFT
from rsft_sklearn.benchmark._runner import _interrupt_seen, _write_atomically

DEFAULT_METHODS = (
    "post-hoc logit adjustment",
    "logit-adjusted loss",
    "RandomUnderSampler",
    "RSFT",
    "RSFT warm-up",
    "RSFT + logit-adjusted loss",
)


class HeldOutCurve(Callback):
    """Record held-out balanced accuracy and training seconds every epoch.

    ``train_seconds`` counts from the start of training (plus ``offset``)
    and leaves out the time this callback spends scoring.
    """

    def __init__(self, X, y, decide, offset=0.0):
        self.X = X
        self.y = y
        self.decide = decide
        self.offset = offset

    def on_train_begin(self, net, **kwargs):
        self.start_ = perf_counter()
        self.scoring_ = 0.0

    def on_epoch_end(self, net, **kwargs):
        now = perf_counter()
        net.history.record(
            "train_seconds", now - self.start_ - self.scoring_ + self.offset
        )
        score = balanced_accuracy_score(self.y, self.decide(net, self.X))
        net.history.record("heldout_balanced_accuracy", score)
        self.scoring_ += perf_counter() - now


def _net_decision(net, X):
    return net.predict(X)


def _rejected_prior_decision(net, X):
    # LogitAdjustedRSFT's decision, from the prior the loss used this epoch.
    loss = getattr(net.criterion_, "base_criterion", net.criterion_)
    proba = net.predict_proba(X) * loss.log_prior.exp().cpu().numpy()
    return net.classes_[proba.argmax(axis=1)]


def _synthetic(rows, features, classes, imbalance, seed):
    weights = imbalance ** (-np.arange(classes) / (classes - 1))
    return make_classification(
        n_samples=rows,
        n_features=features,
        n_informative=min(features, 20),
        n_redundant=min(max(features - 20, 0), 10),
        n_classes=classes,
        n_clusters_per_class=2,
        weights=weights / weights.sum(),
        flip_y=0.0,
        class_sep=1.0,
        random_state=seed,
    )


def _read_data(args):
    """``(X, y, name)``: the rows of ``--dat`` or the synthetic set, and a
    name for them."""
    if args.dat:
        table = read_keel_dat(args.dat)
        return table.X.astype(np.float32), table.y, args.dat.stem
    X, y = _synthetic(args.rows, args.features, args.classes, args.imbalance, args.seed)
    name = (
        f"synthetic: {args.rows} rows, {args.features} features, "
        f"{args.classes} classes, IR {args.imbalance:g}"
    )
    return X, y, name


def _data(args):
    """The scaled split ``(X_train, X_test, y_train, y_test)`` and the
    figure's title naming the data and the run; the class counts are
    printed."""
    X, y, name = _read_data(args)
    counts = np.unique(y, return_counts=True)[1]
    if counts.min() < 4:
        # train_test_split needs 2 rows of a class, and the held-out
        # quarter one at least.
        raise ValueError(
            f"the rarest class has {counts.min()} row(s) ({name}); it needs 4 "
            "to give the training and the held-out part rows. Raise --rows or "
            "lower --imbalance."
        )
    print(
        f"{name}; class counts {sorted(counts.tolist(), reverse=True)}",
        file=sys.stderr,
    )
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=args.seed
    )
    scaler = StandardScaler().fit(X_train)
    X_train = scaler.transform(X_train).astype(np.float32)
    X_test = scaler.transform(X_test).astype(np.float32)
    title = _title(args, name, counts, len(y_test))
    return (X_train, X_test, y_train, y_test), title


def _title(args, name, counts, held_out):
    """The figure's title: the data (``name``, its class ``counts``), the
    split (``held_out`` rows scored) and the settings of the run."""
    rows = int(np.sum(counts))
    data = name
    if args.dat:
        data = (
            f"{name} ({args.dat.name}): all {rows:,} rows, {len(counts)} classes, "
            f"imbalance ratio {counts.max() / counts.min():,.0f}"
        )
    return (
        f"{data}\none stratified split ({rows - held_out:,} training rows, "
        f"{held_out:,} held out), {args.epochs} epochs, batch {args.batch_size}, "
        f"seed {args.seed}"
    )


def _network(method, pipeline):
    """``(clf, net, decide)`` of a method that trains one network: the
    pipeline's classifier, its network and its decision on held-out rows; a
    ValueError for any other method (a forest, a search, a tuned
    threshold)."""
    clf = pipeline["clf"] if hasattr(pipeline, "named_steps") else pipeline
    if isinstance(clf, RSFTClassifier):
        return clf, clf, _net_decision
    if isinstance(clf, LogitAdjustedRSFT):
        return clf, clf.estimator, _rejected_prior_decision
    raise ValueError(
        f"--methods: {method!r} is not trained as one network, so it has no "
        "curve of held-out scores by epoch."
    )


def _curve(method, X_train, y_train, X_test, y_test, args):
    """The held-out curve of one method: a row per epoch.

    Ctrl-C during the fit raises ``KeyboardInterrupt`` (skorch would end
    the fit quietly and leave a curve with its last epoch cut short).
    """
    pipeline = make_method(
        method, max_epochs=args.epochs, batch_size=args.batch_size, seed=args.seed
    )
    clf, net, decide = _network(method, pipeline)
    start = perf_counter()
    X_fit, y_fit = X_train, y_train
    sampler = pipeline["sample"]
    if hasattr(sampler, "fit_resample"):
        X_fit, y_fit = sampler.fit_resample(X_train, y_train)
    offset = perf_counter() - start
    callback = HeldOutCurve(X_test, y_test, decide, offset)
    net.set_params(callbacks=[*(net.callbacks or []), ("heldout", callback)])
    with _interrupt_seen():
        clf.fit(X_fit, y_fit)
    history = getattr(clf, "estimator_", clf).history
    rows = np.cumsum(
        [sum(b.get("train_batch_size", 0) for b in e["batches"]) for e in history]
    )
    return pd.DataFrame(
        {
            "method": method,
            "epoch": np.arange(1, len(history) + 1),
            "train_seconds": history[:, "train_seconds"],
            "balanced_accuracy": history[:, "heldout_balanced_accuracy"],
            "backward_rows": rows,
        }
    )


def _write_curves(curves, path):
    """Write the finished curves to ``path`` whole: a kill at any moment
    leaves the file of the curves before or after, never a part."""
    _write_atomically(path, pd.concat(curves, ignore_index=True).to_csv(index=False))


def _settings(args):
    """What changes a curve, as recorded in ``OUT.json``."""
    dat = None
    if args.dat is not None:
        dat = {"name": args.dat.name, "bytes": args.dat.stat().st_size}
    return {
        "rows": args.rows,
        "features": args.features,
        "classes": args.classes,
        "imbalance": args.imbalance,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "seed": args.seed,
        "dat": dat,
        "threads": args.threads,
    }


def _finished_curves(csv, settings):
    """The curves a run with ``settings`` left in ``csv`` (by method), or
    none; ``ValueError`` naming why they cannot be resumed."""
    if not csv.exists():
        return {}
    record = csv.with_suffix(".json")
    if not record.exists():
        raise ValueError(
            f"{csv} holds curves of unknown settings (no {record.name} beside "
            "it): choose another --out, or delete the file to start afresh."
        )
    try:
        before = json.loads(record.read_text())
        frame = pd.read_csv(csv, keep_default_na=False, na_values={})
        frame = frame.astype({"epoch": int, "train_seconds": float})
        frame = frame.astype({"balanced_accuracy": float, "backward_rows": int})
    except (ValueError, KeyError, OSError) as exc:
        raise ValueError(
            f"{csv} or {record.name} cannot be read ({exc}): choose another "
            "--out, or delete them to start afresh."
        ) from None
    changed = [
        f"{key} {before.get(key)!r} -> {value!r}"
        for key, value in settings.items()
        if before.get(key) != value
    ]
    if changed:
        raise ValueError(
            f"{csv} holds curves of other settings ({', '.join(changed)}): "
            "choose another --out, or pass the same settings to resume."
        )
    return {
        method: rows.reset_index(drop=True)
        for method, rows in frame.groupby("method", sort=False)
        if len(rows) == _method_epochs(method, settings["epochs"])
    }


def _method_epochs(method, epochs):
    """The epochs ``method`` trains: its spec's ``max_epochs``, if it sets
    one (a spec's parameters win over the run's), else ``epochs``."""
    return int(parse_method(method)[1].get("max_epochs", epochs))


# Under the axes: what the legend's names mean.
LABELS = (
    "One fit per method on the split above; training seconds leave out the "
    "held-out scoring. The legend names rsft-bench's methods as the code that "
    "trained the curves built them: 'RSFT' is RSFTClassifier's default of that "
    "code, which a later version may have changed (CHANGES.md)."
)


def _plot(frame, path, title, footer=LABELS):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for method, rows in frame.groupby("method", sort=False):
        ax.plot(
            rows["train_seconds"], rows["balanced_accuracy"], marker=".", label=method
        )
    ax.set_xlabel("cumulative training seconds (held-out scoring excluded)")
    ax.set_ylabel("held-out balanced accuracy")
    ax.set_title(
        "\n".join(textwrap.fill(line, 90) for line in title.splitlines()),
        fontsize=10,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    # In a strip as tall as its lines, under the x-axis label.
    text = fig.text(0.01, 0.01, textwrap.fill(footer, 140), fontsize=6, va="bottom")
    top = text.get_window_extent().y1 / fig.bbox.height
    fig.tight_layout(rect=(0, top + 3 / (72 * fig.get_figheight()), 1, 1))
    fig.savefig(path, dpi=120)
    plt.close(fig)


# The columns of OUT.csv that ``--redraw`` draws from.
FIGURE_COLUMNS = ("method", "train_seconds", "balanced_accuracy")


def _redraw(args):
    """Draw ``OUT.png`` again from ``OUT.csv``, training nothing; the path.

    The title takes the data and settings of the options given, which must
    be the run's: ``OUT.json``, where there is one, must record the same
    ones, and every curve must have the epochs they give it. What it does
    not record (everything, without one) is taken on trust. The data are
    read (or generated) to count their rows and classes.
    """
    csv = args.out.with_suffix(".csv")
    if not csv.exists():
        raise ValueError(f"no {csv} to draw from.")
    try:
        frame = pd.read_csv(csv, keep_default_na=False, na_values={})
    except (ValueError, OSError) as exc:
        raise ValueError(f"{csv} cannot be read ({exc}).") from None
    # A KeyError traceback before without one of these, and an empty figure
    # over the run's without rows.
    missing = [c for c in FIGURE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(
            f"{csv} has no column{'s' * (len(missing) > 1)} "
            f"{', '.join(map(repr, missing))}: it is not a curve file of this "
            "script."
        )
    if frame.empty:
        raise ValueError(f"{csv} holds no curves: nothing to draw.")
    if csv.with_suffix(".json").exists():
        # Refused when the record names other settings.
        _finished_curves(csv, _settings(args))
    short = [
        f"{method} ({len(rows)} of {_method_epochs(method, args.epochs)} epochs)"
        for method, rows in frame.groupby("method", sort=False)
        if len(rows) != _method_epochs(method, args.epochs)
    ]
    if short:
        raise ValueError(
            f"{csv} holds curves of other epochs than --epochs {args.epochs} "
            f"gives them: {'; '.join(short)}. Give the run's options."
        )
    _, y, name = _read_data(args)
    counts = np.unique(y, return_counts=True)[1]
    held_out = len(
        train_test_split(y, test_size=0.25, stratify=y, random_state=args.seed)[1]
    )
    path = args.out.with_suffix(".png")
    _plot(frame, path, _title(args, name, counts, held_out))
    return path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=positive(int), default=20000)
    parser.add_argument("--features", type=positive(int), default=100)
    parser.add_argument("--classes", type=positive(int), default=8)
    parser.add_argument("--imbalance", type=positive(float), default=1000.0)
    parser.add_argument("--epochs", type=positive(int), default=20)
    parser.add_argument("--batch-size", type=positive(int), default=128)
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument("--dat", type=Path, help="a KEEL .dat file instead")
    parser.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    parser.add_argument("--threads", type=positive(int), default=1)
    parser.add_argument("--out", type=Path, default=Path("fars_curve"))
    parser.add_argument(
        "--redraw",
        action="store_true",
        help="draw OUT.png again from OUT.csv, training nothing; give the "
        "run's options, which the title names (those OUT.json does not "
        "record, all without one, are taken as given)",
    )
    args = parser.parse_args(argv)
    if args.out.name in ("", ".", ".."):
        # A ValueError traceback from pathlib before (for "."), or files
        # named "...csv" (for "..").
        parser.error(
            f"--out: {str(args.out)!r} names no file: it is the stem of the "
            "files written (OUT.csv, OUT.json, OUT.png); give one such as "
            f"{str(args.out / 'fars_curve')!r}."
        )
    if args.dat is not None and not args.dat.is_file():
        parser.error(f"--dat: no such file: {args.dat}")
    if args.dat is None:
        if args.classes < 2:
            parser.error(f"--classes: must be at least 2, got {args.classes}")
        if args.imbalance < 1:
            parser.error(f"--imbalance: must be at least 1, got {args.imbalance:g}")
        if 2 * args.classes > 2 ** min(args.features, 20):
            # make_classification's two clusters per class need room.
            parser.error(
                f"--features {args.features} is too few for {args.classes} "
                "classes of two clusters each"
            )
    if args.redraw:
        try:
            print(f"Wrote {_redraw(args)}")
        except ValueError as exc:
            parser.error(f"--redraw: {exc}")
        return 0
    try:
        methods = parse_methods(args.methods)
        for method in methods:
            # Before any fit: a method without one network failed after the
            # methods before it had trained.
            made = make_method(
                method, max_epochs=1, batch_size=args.batch_size, seed=args.seed
            )
            _network(method, made)
    except ValueError as exc:
        parser.error(str(exc))
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    csv = args.out.with_suffix(".csv")
    try:
        args.out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(
            f"--out: cannot create the folder {str(args.out.parent)!r} "
            f"({exc.strerror})."
        )
    settings = _settings(args)
    try:
        finished = _finished_curves(csv, settings)
        _write_atomically(
            csv.with_suffix(".json"), json.dumps(settings, indent=2) + "\n"
        )
    except ValueError as exc:
        parser.error(str(exc))
    except OSError as exc:
        parser.error(f"--out: cannot write in {str(csv.parent)!r} ({exc.strerror}).")
    methods = spelt_as_finished(methods, finished)
    # Curves of methods not asked for this time stay in the file.
    kept = [curve for method, curve in finished.items() if method not in methods]
    curves = []

    def on_file():
        # Every finished curve, those kept from before included, whether or
        # not the loop has reached them: a Ctrl-C loses none of them.
        done = {curve["method"].iloc[0]: curve for curve in curves}
        ordered = [done.get(m, finished.get(m)) for m in methods]
        return [curve for curve in ordered if curve is not None] + kept

    try:
        (X_train, X_test, y_train, y_test), title = _data(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        for method in methods:
            if method in finished:
                print(f"{method:30s} finished before; kept", flush=True)
                curves.append(finished[method])
                continue
            curve = _curve(method, X_train, y_train, X_test, y_test, args)
            last = curve.iloc[-1]
            print(
                f"{method:30s} last {last['balanced_accuracy']:.3f}  best "
                f"{curve['balanced_accuracy'].max():.3f}  "
                f"{last['train_seconds']:7.1f} s  {int(last['backward_rows'])} rows",
                flush=True,
            )
            curves.append(curve)
            _write_curves(on_file(), csv)
    except KeyboardInterrupt:
        kept = f"the finished curves are in {csv}" if curves else "no curve finished"
        print(f"\nInterrupted; {kept}.", file=sys.stderr)
        return 130
    if curves:
        _write_curves(on_file(), csv)
    frame = pd.concat(curves, ignore_index=True)
    _plot(frame, args.out.with_suffix(".png"), title)
    print(f"Wrote {args.out.with_suffix('.csv')} and {args.out.with_suffix('.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
