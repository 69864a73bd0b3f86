"""Peak memory and epoch time of a fit on a wide sparse matrix.

Generates ``--docs`` synthetic documents (words drawn from a Zipf law over a
vocabulary of ``--vocabulary`` words), hashes them into ``2**--bits``
features with scikit-learn's ``HashingVectorizer`` (chunk by chunk, float32),
and fits :class:`~rsft_sklearn.RSFTClassifier`'s default MLP on the CSR
matrix, ``--runs`` times, each fit in a fresh process that loads the
matrix. Prints the CSR's own size (data + indices + indptr), and for every
run the peak resident memory of the process (``resource.getrusage``) before
and after the fit and the seconds per epoch; then the median and the range
of the peaks. The target: peak < 4 x CSR size + 300 MB. The peak moves by
a few tens of MB from run to run with how much freed memory the C allocator
keeps, hence several runs.

The first layer of the MLP has a weight row per column in use (the fit
builds it on the columns with a stored entry), and Adam keeps two more
copies plus the gradient: the default width is 8 so that the network stays
beside the data, not above it. ``--all-columns`` gives every one of the
``2**bits`` columns a weight.

Ctrl-C stops the fit under way (its process ignores Ctrl-C and is ended by
the script), prints the summary of the runs finished and exits with status
130.

Run: ``python benchmarks/sparse_memory.py --epochs 2 --runs 5``.
"""

import argparse
import multiprocessing
import queue
import resource
import signal
import sys
import tempfile
from pathlib import Path
from time import perf_counter

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._cli import positive

# HashingVectorizer's column indices are 32-bit: at most 2**30 columns here.
MAX_BITS = 30


def peak_mb():
    # ru_maxrss is in kilobytes on Linux, bytes on macOS.
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def documents(n_docs, n_words, vocabulary, n_classes, seed):
    """Chunks of ``(texts, labels)``: a long-tailed label, words from a Zipf
    law, and a few label-specific words per document."""
    rng = np.random.default_rng(seed)
    prior = 0.5 ** np.arange(n_classes)
    labels = rng.choice(n_classes, size=n_docs, p=prior / prior.sum())
    words = np.array([f"w{i}" for i in range(vocabulary)])
    rank = np.minimum(rng.zipf(1.3, size=(n_docs, n_words)) - 1, vocabulary - 1)
    marker = (labels[:, None] * 97 + rng.integers(0, 20, (n_docs, 5))) % vocabulary
    tokens = np.concatenate([rank, marker], axis=1)
    for start in range(0, n_docs, 5000):
        stop = min(start + 5000, n_docs)
        yield [" ".join(words[row]) for row in tokens[start:stop]], labels[start:stop]


def make_matrix(args, path):
    """Hash the documents into a CSR matrix; save it and the labels."""
    hasher = HashingVectorizer(
        n_features=2**args.bits, alternate_sign=False, dtype=np.float32
    )
    blocks, labels = [], []
    for texts, y in documents(args.docs, args.words, args.vocabulary, 8, seed=0):
        blocks.append(hasher.transform(texts))
        labels.append(y)
    sp.save_npz(path, sp.vstack(blocks, format="csr"), compressed=False)
    np.save(path.with_suffix(".labels.npy"), np.concatenate(labels))


def fit_once(args, path, results):
    """Load the matrix and fit once, in a fresh process; report to ``results``."""
    X = sp.load_npz(path).tocsr()
    y = np.load(path.with_suffix(".labels.npy"))
    before = peak_mb()
    clf = RSFTClassifier(
        max_epochs=args.epochs,
        warmup_epochs=0,
        batch_size=args.batch_size,
        module__hidden_layer_sizes=(args.hidden,),
        **({"module__input_columns": None} if args.all_columns else {}),
        random_state=0,
        verbose=0,
    )
    start = perf_counter()
    clf.fit(X, y)
    results.put(
        {
            "shape": X.shape,
            "nnz": X.nnz,
            "csr_mb": (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20,
            "columns": clf.module_.layers[0].in_features,
            "before": before,
            "after": peak_mb(),
            "seconds": perf_counter() - start,
            "per_epoch": [row["dur"] for row in clf.history_],
        }
    )


def _start(child):
    """Start the process ``child`` with Ctrl-C ignored, as it stays (an
    ignored signal is inherited): Ctrl-C in a terminal reaches it too, and
    printed its traceback beside this one's; this process ends it instead.

    A Ctrl-C in the moment of the start itself is lost (the start is not
    torn by it); the next one stops the run.
    """
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        child.start()
    finally:
        signal.signal(signal.SIGINT, previous)


def report(child, results):
    """The report of the fit in ``child``; exit if it died without one."""
    while True:
        try:
            return results.get(timeout=1)
        except queue.Empty:
            if child.exitcode is None:
                continue
        # The process has ended: its report, if any, is in the pipe by now.
        try:
            return results.get(timeout=1)
        except queue.Empty:
            raise SystemExit(f"the fit failed ({child.exitcode})") from None


def _bits(text):
    try:
        value = int(text)
    except ValueError:
        value = None
    if value is None or not 1 <= value <= MAX_BITS:
        raise argparse.ArgumentTypeError(
            f"must be an integer from 1 to {MAX_BITS}, got {text!r}"
        )
    return value


def summarise(runs):
    """Print the matrix of the runs ``runs``, the peaks against the target
    and the seconds per epoch."""
    first = runs[0]
    peaks = [run["after"] for run in runs]
    print(f"X: {first['shape'][0]} x {first['shape'][1]} CSR, {first['nnz']} non-zeros")
    print(f"first layer: {first['columns']} input columns")
    print(f"CSR size (data + indices + indptr): {first['csr_mb']:.1f} MB")
    target = 4 * first["csr_mb"] + 300
    median = float(np.median(peaks))
    print(
        f"peak RSS after the fit over {len(runs)} runs: median {median:.1f} MB, "
        f"min {min(peaks):.1f} MB, max {max(peaks):.1f} MB"
    )
    print(
        f"target 4 x CSR + 300 MB = {target:.1f} MB: "
        f"{'met' if median < target else 'missed'} by the median, "
        f"{sum(p < target for p in peaks)} of {len(runs)} runs under it"
    )
    epochs = [s for run in runs for s in run["per_epoch"]]
    print(
        f"seconds per epoch: median {np.median(epochs):.1f} "
        f"(from {min(epochs):.1f} to {max(epochs):.1f})"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # Counts checked here: 0 or less failed in a child's traceback, or with
    # an IndexError or ValueError after every run.
    parser.add_argument("--docs", type=positive(int), default=100_000)
    parser.add_argument("--words", type=positive(int), default=200)
    parser.add_argument("--vocabulary", type=positive(int), default=200_000)
    parser.add_argument("--bits", type=_bits, default=20)
    parser.add_argument("--hidden", type=positive(int), default=8)
    parser.add_argument("--epochs", type=positive(int), default=2)
    parser.add_argument("--batch-size", type=positive(int), default=256)
    parser.add_argument(
        "--runs",
        type=positive(int),
        default=5,
        help="fits, each in a fresh process (the peak moves from run to run)",
    )
    parser.add_argument(
        "--all-columns",
        action="store_true",
        help="a first-layer weight for every hashed column, used or not",
    )
    args = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")

    runs, child = [], None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hashed.npz"
        try:
            child = context.Process(target=make_matrix, args=(args, path))
            _start(child)
            child.join()
            if child.exitcode:
                raise SystemExit(f"generating the documents failed ({child.exitcode})")
            for _ in range(args.runs):
                results = context.Queue()
                child = context.Process(target=fit_once, args=(args, path, results))
                _start(child)
                run = report(child, results)
                child.join()
                runs.append(run)
                print(
                    f"run {len(runs)}: peak RSS {run['before']:.1f} MB before the "
                    f"fit, {run['after']:.1f} MB after it; seconds per epoch "
                    + ", ".join(f"{s:.1f}" for s in run["per_epoch"]),
                    flush=True,
                )
        except KeyboardInterrupt:
            # Before, a traceback, exit status -2 and no summary of the runs
            # finished.
            if child is not None and child.pid is not None:
                child.terminate()
                child.join()
            if runs:
                summarise(runs)
            print(
                f"\nInterrupted; {len(runs)} of {args.runs} runs finished"
                + (", summarised above." if runs else "."),
                file=sys.stderr,
            )
            return 130
    summarise(runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
