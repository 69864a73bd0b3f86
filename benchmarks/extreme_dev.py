"""Development check at extreme imbalance (imbalance ratio 1,000 and more).

Among the suites, only held-out sets reach an imbalance ratio of 1,000
(``fars``), so a rule for that regime cannot be chosen on a development
half. This script makes development data for it: MNIST-1D generated afresh
(``--rows`` rows, data seed ``--data-seed``; the held-out ``mnist1d-60k-lt``
uses mnist1d's default seed 42), the training part of every repeat cut to an
exponential long tail with imbalance ratio ``--ratios``, and a balanced test
part (the ``images`` suite's :func:`long_tail_splits`: a fifth of the
smallest class per class). The tail is rounded to whole rows, and the
rarest class keeps at least one: a ratio that ``--rows`` cannot reach (the
largest class keeps fewer than 0.9 times the ratio in training rows, so
that the ratio would come out more than a tenth short) is refused before
the first fit, naming the ``--rows`` that reach it. Short of that, the
rounding still moves the ratio where the rarest class keeps a few rows
(3,000 comes out 2,667 at the default rows: 8,000 over 3), and the tables
print the real ratio beside the one asked for where they differ. A
binary-only method (threshold tuning) is refused too: the data have 10
classes. Every method trains rsft-bench's 1D CNN with a
named recipe (``--recipe``: ``adam``, the project's default, or ``sgd``, the
source's) for ``--epochs`` epochs at batch size 64, built by rsft-bench's
``make_method``; repeat ``r`` draws its split and seeds its network with
``r``. ``--max-grad-norm`` clips every method's gradient norm to that value
(skorch's ``GradientNormClipping``), as rsft-bench's option does.

Each finished fit is appended to ``OUT/results.jsonl`` at once; a rerun with
the same ``--out`` skips the fits already there (same ratio, repeat,
method, recipe, epochs, clipping, rows and data seed), so an interruption
loses no finished work; Ctrl-C stops the run with exit status 130 and
writes nothing of the fit it cut short. A torn last line (a writer killed
in the middle of it) is dropped; any other line that cannot be read, and a
folder or file that cannot be written, are refused before the first fit.
The fits of a folder share one ``--threads`` (a fit's scores depend on
it): a rerun with another is refused. The end prints, per ratio and
method, the mean balanced accuracy and macro-F1 with a 95% t-interval over
the repeats, then the paired differences between RSFT and every other
method with theirs (every method of a repeat shares its split and seed, so
these intervals are the narrower ones to judge a gap by).

Usage::

    python benchmarks/extreme_dev.py [--ratios 1000,3000] [--repeats 3]
        [--methods 'RSFT|logit-adjusted loss|post-hoc logit adjustment']
        [--recipe adam] [--epochs 10] [--rows 100000] [--max-grad-norm X]
        [--out extreme_dev]
"""

import argparse
import functools
import json
import math
import shlex
import sys
import warnings
from pathlib import Path
from time import perf_counter

import numpy as np

from rsft_sklearn.benchmark._cli import _seed, positive

METHODS = ("RSFT", "logit-adjusted loss", "post-hoc logit adjustment")
# The method the paired table compares every other one with.
REFERENCE = "RSFT"
# The defaults of --rows and --data-seed (they have not changed since the
# script was written, so rows that do not record these have them unless
# their command names others).
ROWS = 100_000
DATA_SEED = 2026
# MNIST-1D's classes; make_data makes rows // 10 rows of each.
N_CLASSES = 10
# A ratio whose tail, the rarest class at its floor of one training row,
# comes out under this share of it is refused: more rows reach it.
REACHED = 0.9


def make_data(rows, data_seed):
    """``(X, y)``: MNIST-1D generated offline at ``rows`` rows."""
    from rsft_sklearn.benchmark._netsuites import _mnist1d

    X, y = _mnist1d(int(rows), data_seed)
    return X.astype(np.float32), y


def training_counts(rows, ratio):
    """Training rows per class of every repeat at ``rows`` rows and imbalance
    ratio ``ratio`` (the tail is the same in every repeat).

    MNIST-1D makes ``rows // 10`` rows of each class, so the counts follow
    from ``rows`` without generating the data.

    Examples
    --------
    >>> training_counts(100_000, 3000).tolist()
    [8000, 3287, 1350, 555, 228, 94, 38, 16, 6, 3]
    """
    from rsft_sklearn.benchmark._netsuites import long_tail_splits

    labels = np.repeat(np.arange(N_CLASSES), rows // N_CLASSES)
    ((train, _),) = long_tail_splits(labels, 1, 0, ratio=ratio)
    return np.bincount(labels[train], minlength=N_CLASSES)


def real_ratio(rows, ratio):
    """The imbalance ratio of the training parts at ``rows`` rows when
    ``ratio`` is asked for: the tail is rounded to whole rows."""
    counts = training_counts(rows, ratio)
    return float(counts.max() / counts.min())


def unreached(ratio, rows):
    """Why ``rows`` rows cannot reach the imbalance ratio ``ratio``, naming
    the ``--rows`` that reach it; None if they can.

    They cannot when the rarest class keeps its floor of one training row
    and the ratio (then the largest class's training rows) comes out under
    ``REACHED`` times the one asked for. Rounding the tail to whole rows
    moves the ratio otherwise too, which more rows would not mend.
    """
    counts = training_counts(rows, ratio)
    largest = int(counts.max())
    if counts.min() > 1 or largest >= REACHED * ratio:
        return None
    # The largest class grows in step with the rows: where it keeps
    # ``ratio`` training rows, the rarest keeps one and the ratio is reached
    # (one row of each class more covers the rounding of the test part).
    needed = N_CLASSES * (math.ceil(rows // N_CLASSES * ratio / largest) + 1)
    return (
        f"--ratios {ratio} cannot be reached at --rows {rows}: the largest "
        f"class keeps {largest} training rows and the rarest its floor of one, "
        f"so the ratio would come out {largest}. Give --rows {needed} or more, "
        f"or a ratio of at most {largest}."
    )


def run_one(method, X, y, train, test, repeat, args):
    """Fit ``method`` on the training rows; score it on the test rows.

    Ctrl-C during the fit raises ``KeyboardInterrupt`` (skorch would end
    the fit quietly and leave a partly trained network to be scored).
    """
    from sklearn.metrics import balanced_accuracy_score, f1_score

    from rsft_sklearn.benchmark._methods import make_method
    from rsft_sklearn.benchmark._networks import CNN1d, recipe_params
    from rsft_sklearn.benchmark._runner import (
        _interrupt_seen,
        _warm_up,
        with_clipping,
    )

    net = with_clipping(
        {
            "module": CNN1d,
            "module__n_classes": int(y.max()) + 1,
            **recipe_params(args.recipe),
        },
        args.max_grad_norm,
    )
    estimator = make_method(
        method, max_epochs=args.epochs, batch_size=64, seed=repeat, net_params=net
    )
    # torch's first-use costs, paid once, outside every timed fit.
    _warm_up()
    start = perf_counter()
    with _interrupt_seen():
        estimator.fit(X[train], y[train])
    seconds = perf_counter() - start
    predicted = estimator.predict(X[test])
    counts = np.bincount(y[train])
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y[test], predicted)),
        "f1_macro": float(f1_score(y[test], predicted, average="macro")),
        "fit_seconds": seconds,
        "n_train": int(len(train)),
        "rarest_class_rows": int(counts.min()),
        "train_ratio": float(counts.max() / counts.min()),
    }


def data_settings(row):
    """``(rows, data seed)`` of a result row.

    Rows written before these were recorded take them from their command;
    ``(None, None)`` when it cannot be read.
    """
    if "rows" in row:
        return row["rows"], row.get("data_seed")
    options = _command_options(row.get("command") or "")
    return (None, None) if options is None else (options.rows, options.data_seed)


def thread_count(row):
    """The torch threads a result row was fitted with.

    Rows written before these were recorded take them from their command;
    None when it cannot be read.
    """
    if "threads" in row:
        return row["threads"]
    options = _command_options(row.get("command") or "")
    return None if options is None else options.threads


@functools.lru_cache
def _command_options(command):
    """The options of ``command`` that rows did not always record (with
    their defaults, which have not changed); None for a command that is not
    this script's or cannot be read."""
    reader = argparse.ArgumentParser(add_help=False, exit_on_error=False)
    reader.add_argument("--rows", type=int, default=ROWS)
    reader.add_argument("--data-seed", type=int, default=DATA_SEED)
    reader.add_argument("--threads", type=int, default=1)
    try:
        words = shlex.split(command)
        if words[:2] != ["python", "benchmarks/extreme_dev.py"]:
            return None
        args, _ = reader.parse_known_args(words[2:])
    except (argparse.ArgumentError, ValueError):
        return None
    return args


# What every result row holds: the key of its fit and its scores.
REQUIRED = ("ratio", "repeat", "method", "recipe", "epochs")
SCORES = ("balanced_accuracy", "f1_macro")


def _row_problem(row):
    """What is wrong with a decoded result row; None if nothing."""
    if not isinstance(row, dict):
        return "not a JSON object"
    missing = [key for key in REQUIRED if key not in row]
    if missing:
        return f"no {', '.join(missing)}"
    for key in SCORES:
        value = row.get(key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{key} is {value!r}, not a number"
    return None


def read_results(path):
    """The result rows of ``path`` (none when there is no file).

    A torn last line (without its newline, as a writer killed in the middle
    of it leaves) is cut from the file, so that the next row starts a line
    of its own. Raises ValueError naming the file and line for any other
    line that is not a JSON row with the key of its fit and numeric scores:
    found before the first fit, not in the tables after the last.
    """
    if not path.exists():
        return []
    content = path.read_bytes()
    if content and not content.endswith(b"\n"):
        content = content[: content.rfind(b"\n") + 1]
        with open(path, "r+b") as handle:
            handle.truncate(len(content))
    rows = []
    for number, line in enumerate(content.split(b"\n")[:-1], start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError as exc:
            problem = f"not a JSON row ({exc})"
        else:
            problem = _row_problem(row)
        if problem is not None:
            raise ValueError(
                f"{path}, line {number}: {problem}. Repair or delete the line "
                "(its fit runs again), or choose another --out."
            )
        rows.append(row)
    return rows


def _ratio_cell(ratio, real_ratios):
    """The ratio asked for, and the real one of the training parts (from
    ``real_ratios``) where they differ."""
    real = (real_ratios or {}).get(ratio)
    if real is None:
        return f"{ratio}"
    shown = f"{real:.0f}" if real >= 100 else f"{real:.3g}"
    return f"{ratio}" if shown == f"{ratio}" else f"{ratio} (real {shown})"


def summarise(rows, real_ratios=None):
    """Lines of a table: per (ratio, method), the mean and 95% t-interval
    of the balanced accuracy and the macro-F1 over the repeats.

    ``real_ratios`` maps a ratio asked for to the one the training parts
    have (the tail is rounded to whole rows), shown beside it where they
    differ."""
    groups = {}
    for row in rows:
        groups.setdefault((row["ratio"], row["method"]), []).append(row)
    lines = [
        "| ratio | method | repeats | balanced accuracy | macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for (ratio, method), group in sorted(groups.items(), key=lambda kv: kv[0][0]):
        cells = [
            _mean_interval([row[metric] for row in group])
            for metric in ("balanced_accuracy", "f1_macro")
        ]
        ratio = _ratio_cell(ratio, real_ratios)
        lines.append(f"| {ratio} | {method} | {len(group)} | {' | '.join(cells)} |")
    return lines


def _mean_interval(values, signed=False):
    """``"mean ± half-width"`` of the 95% t-interval (the mean alone for
    one value), with a sign when ``signed``."""
    from scipy import stats

    values = np.asarray(values, dtype=float)
    mean = f"{values.mean():+.3f}" if signed else f"{values.mean():.3f}"
    if len(values) < 2:
        return mean
    half = stats.t.ppf(0.975, len(values) - 1) * stats.sem(values)
    return f"{mean} ± {half:.3f}"


def paired(rows, reference=REFERENCE, real_ratios=None):
    """Lines of a table: per ratio and other method, the mean difference
    ``reference - method`` over the repeats both finished, with its 95%
    t-interval (``real_ratios`` as in :func:`summarise`).

    Repeat ``r`` gives every method the same split and seed, so the
    differences within a repeat are far less noisy than the methods' own
    intervals. No lines when ``reference`` is missing from ``rows``.
    """
    scores = {(row["ratio"], row["method"], row["repeat"]): row for row in rows}
    pairs = {}
    for (ratio, method, repeat), row in scores.items():
        mine = scores.get((ratio, reference, repeat))
        if method == reference or mine is None:
            continue
        pairs.setdefault((ratio, method), []).append((mine, row))
    if not pairs:
        return []
    lines = [
        f"| ratio | method | repeats | {reference} - method, balanced accuracy "
        "| macro-F1 |",
        "|---|---|---|---|---|",
    ]
    for (ratio, method), group in sorted(pairs.items(), key=lambda kv: kv[0][0]):
        cells = [
            _mean_interval(
                [mine[metric] - theirs[metric] for mine, theirs in group], signed=True
            )
            for metric in ("balanced_accuracy", "f1_macro")
        ]
        ratio = _ratio_cell(ratio, real_ratios)
        lines.append(f"| {ratio} | {method} | {len(group)} | {' | '.join(cells)} |")
    return lines


def _ratios(text):
    try:
        ratios = [float(part) for part in text.split(",")]
    except ValueError:
        ratios = []
    if not ratios or any(not 1 < ratio < math.inf for ratio in ratios):
        raise argparse.ArgumentTypeError(
            f"must be comma-separated finite imbalance ratios > 1, got {text!r}"
        )
    ratios = [int(r) if r == int(r) else r for r in ratios]
    if len(set(ratios)) < len(ratios):
        # Every fit of it would run twice and count as two repeats.
        raise argparse.ArgumentTypeError(f"names a ratio twice: {text!r}")
    return ratios


# MNIST-1D's 10 classes each need a test row and a training row.
MIN_ROWS = 100


def _rows(text):
    value = positive(int)(text)
    if value < MIN_ROWS:
        raise argparse.ArgumentTypeError(
            f"must be at least {MIN_ROWS} (10 classes, each with test and "
            f"training rows), got {text!r}"
        )
    return value


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ratios", type=_ratios, default=[1000, 3000])
    parser.add_argument("--repeats", type=positive(int), default=3)
    parser.add_argument("--methods", default="|".join(METHODS), help="|-separated")
    parser.add_argument("--recipe", choices=("adam", "sgd"), default="adam")
    parser.add_argument("--epochs", type=positive(int), default=10)
    parser.add_argument("--rows", type=_rows, default=ROWS)
    parser.add_argument("--data-seed", type=_seed, default=DATA_SEED)
    parser.add_argument("--threads", type=positive(int), default=1)
    parser.add_argument(
        "--max-grad-norm",
        type=positive(float),
        help="clip every method's gradient norm to this value (default: none)",
    )
    parser.add_argument("--out", type=Path, default=Path("extreme_dev"))
    args = parser.parse_args(argv)
    words = sys.argv[1:] if argv is None else argv
    command = shlex.join(["python", "benchmarks/extreme_dev.py", *words])

    import torch

    from rsft_sklearn.benchmark._methods import applicable, parse_methods
    from rsft_sklearn.benchmark._netsuites import long_tail_splits

    try:
        methods = parse_methods(args.methods.replace("|", ","))
    except ValueError as exc:
        message = str(exc)
        if not message.startswith("--methods"):
            message = f"--methods: {message}"
        parser.error(message)
    binary = [method for method in methods if not applicable(method, N_CLASSES)]
    if binary:
        # Refused at its first fit before, after the methods before it ran.
        parser.error(
            f"--methods: {binary} run on binary data only, and MNIST-1D has "
            f"{N_CLASSES} classes."
        )
    for ratio in args.ratios:
        # The tables named the ratio asked for, whatever the tail reached.
        problem = unreached(ratio, args.rows)
        if problem is not None:
            parser.error(problem)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        parser.error(
            f"--out: cannot create the folder {str(args.out)!r} ({exc.strerror})."
        )
    results = args.out / "results.jsonl"
    try:
        done = read_results(results)
        # Appending must work before the first fit runs, not after it.
        open(results, "ab").close()
    except ValueError as exc:
        parser.error(f"--out: {exc}")
    except OSError as exc:
        # A folder or file without write permission (or on a full or
        # read-only disk).
        parser.error(
            f"--out: cannot write the results in {str(args.out)!r} "
            f"({exc.strerror}: {exc.filename})."
        )
    threads = next(
        (n for n in map(thread_count, done) if n not in (None, args.threads)), None
    )
    if threads is not None:
        parser.error(
            f"--out: {results} holds fits made with --threads {threads} (a fit's "
            f"scores depend on its threads); give --threads {threads} to resume, "
            "or choose another --out to start afresh."
        )
    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")

    def protocol(row):
        # Rows written before --max-grad-norm existed were not clipped.
        return (
            row["recipe"],
            row["epochs"],
            row.get("max_grad_norm"),
            *data_settings(row),
        )

    finished = {
        (row["ratio"], row["repeat"], row["method"], *protocol(row)) for row in done
    }
    wanted_protocol = (
        args.recipe,
        args.epochs,
        args.max_grad_norm,
        args.rows,
        args.data_seed,
    )
    try:
        X, y = make_data(args.rows, args.data_seed)
        with results.open("a") as out:
            for ratio in args.ratios:
                splits = long_tail_splits(y, args.repeats, 0, ratio=ratio)
                for repeat, (train, test) in enumerate(splits):
                    for method in methods:
                        key = (ratio, repeat, method, *wanted_protocol)
                        if key in finished:
                            continue
                        row = {
                            "ratio": ratio,
                            "repeat": repeat,
                            "method": method,
                            "recipe": args.recipe,
                            "epochs": args.epochs,
                            "max_grad_norm": args.max_grad_norm,
                            "rows": args.rows,
                            "data_seed": args.data_seed,
                            "threads": args.threads,
                            "command": command,
                            **run_one(method, X, y, train, test, repeat, args),
                        }
                        out.write(json.dumps(row) + "\n")
                        out.flush()
                        done.append(row)
                        print(
                            f"IR {ratio} repeat {repeat} {method:45s} "
                            f"{row['balanced_accuracy']:.3f} {row['f1_macro']:.3f} "
                            f"{row['fit_seconds']:.1f} s",
                            flush=True,
                        )
    except KeyboardInterrupt:
        print(
            "\nInterrupted; finished fits are saved. Rerun the same command to resume.",
            file=sys.stderr,
        )
        return 130
    wanted = [
        row
        for row in done
        if row["ratio"] in args.ratios
        and row["method"] in methods
        and row["repeat"] < args.repeats
        and protocol(row) == wanted_protocol
    ]
    real_ratios = {ratio: real_ratio(args.rows, ratio) for ratio in args.ratios}
    print("\n".join(summarise(wanted, real_ratios)))
    differences = paired(wanted, real_ratios=real_ratios)
    if differences:
        print("\nPaired differences (same split and seed per repeat):")
        print("\n".join(differences))
    return 0


if __name__ == "__main__":
    sys.exit(main())
