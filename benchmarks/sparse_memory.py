"""Peak memory and epoch time of a fit on a wide sparse matrix.

Generates ``--docs`` synthetic documents (words drawn from a Zipf law over a
vocabulary of ``--vocabulary`` words), hashes them into ``2**--bits``
features with scikit-learn's ``HashingVectorizer`` (chunk by chunk, float32),
and fits :class:`~rsft_sklearn.RSFTClassifier`'s default MLP on the CSR
matrix. Prints the CSR's own size (data + indices + indptr), the peak
resident memory of the process (``resource.getrusage``) before and after the
fit, and the seconds per epoch. The target: peak < 4 x CSR size + 300 MB.

The first layer of the MLP has a weight row per column in use (the fit
builds it on the columns with a stored entry), and Adam keeps two more
copies plus the gradient: the default width is 8 so that the network stays
beside the data, not above it. ``--all-columns`` gives every one of the
``2**bits`` columns a weight.

Run: ``python benchmarks/sparse_memory.py --epochs 2``.
"""

import argparse
import multiprocessing
import resource
import sys
import tempfile
from pathlib import Path
from time import perf_counter

import numpy as np
import scipy.sparse as sp
from sklearn.feature_extraction.text import HashingVectorizer

from rsft_sklearn import RSFTClassifier


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--words", type=int, default=200)
    parser.add_argument("--vocabulary", type=int, default=200_000)
    parser.add_argument("--bits", type=int, default=20)
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument(
        "--all-columns",
        action="store_true",
        help="a first-layer weight for every hashed column, used or not",
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "hashed.npz"
        child = multiprocessing.get_context("spawn").Process(
            target=make_matrix, args=(args, path)
        )
        child.start()
        child.join()
        if child.exitcode:
            raise SystemExit(f"generating the documents failed ({child.exitcode})")
        X = sp.load_npz(path).tocsr()
        y = np.load(path.with_suffix(".labels.npy"))
    csr_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
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
    elapsed = perf_counter() - start
    after = peak_mb()
    per_epoch = [row["dur"] for row in clf.history_]

    print(f"X: {X.shape[0]} x {X.shape[1]} CSR, {X.nnz} non-zeros")
    print(f"first layer: {clf.module_.layers[0].in_features} input columns")
    print(f"CSR size (data + indices + indptr): {csr_mb:.1f} MB")
    print(f"peak RSS before fit: {before:.1f} MB, after fit: {after:.1f} MB")
    target = 4 * csr_mb + 300
    verdict = "met" if after < target else "missed"
    print(f"target 4 x CSR + 300 MB = {target:.1f} MB: {verdict}")
    print(
        f"fit {elapsed:.1f} s; seconds per epoch: "
        + ", ".join(f"{s:.1f}" for s in per_epoch)
    )


if __name__ == "__main__":
    main()
