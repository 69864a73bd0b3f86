"""Quality of rejection="pool" against per-batch RSFT on KEEL data sets.

The same network, epochs, batch size and seed as the benchmark's RSFT
(``rsft-bench``): StandardScaler, then ``RSFTClassifier`` with 30 epochs and
batch size 128, scored with stratified 5-fold cross-validation; the pool
mode also with four times the epochs. Prints the mean test ROC-AUC,
balanced accuracy and fit CPU seconds of every mode::

    python benchmarks/pool_quality.py --datasets yeast4,yeast3,ecoli1

Ctrl-C stops the script with exit status 130; the fit it cuts short is not
scored (the table ends at the last finished row, without the means).
"""

import argparse
import sys
import time

import numpy as np
import torch
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._cli import _seed, folds, keel_sets, positive
from rsft_sklearn.benchmark._runner import _interrupt_seen, _warm_up

# A pooled epoch takes fewer, full steps, so the pool mode also runs with
# several times the epochs (EPOCHS_FACTOR) of per-batch RSFT.
MODES = {
    "per batch": {},
    "pool": {"rejection": "pool"},
    "pool, more epochs": {"rejection": "pool", "epochs_factor": 4},
    "epoch": {"rejection": "epoch"},
}


def evaluate(dataset, params, args):
    """Mean ROC-AUC, balanced accuracy and fit CPU seconds over the folds.

    Ctrl-C during a fit raises ``KeyboardInterrupt`` (skorch would end the
    fit quietly and leave a partly trained network to be scored).
    """
    params = dict(params)
    epochs = args.epochs * params.pop("epochs_factor", 1)
    scores = []
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    for train, test in folds.split(dataset.X, dataset.y):
        clf = make_pipeline(
            StandardScaler(),
            RSFTClassifier(
                max_epochs=epochs,
                batch_size=args.batch_size,
                random_state=args.seed,
                **params,
            ),
        )
        # torch's first-use costs, paid once, outside every timed fit.
        _warm_up()
        start = time.process_time()
        with _interrupt_seen():
            clf.fit(dataset.X[train], dataset.y[train])
        seconds = time.process_time() - start
        proba = clf.predict_proba(dataset.X[test])
        y_test = dataset.y[test]
        if proba.shape[1] == 2:
            auc = roc_auc_score(y_test, proba[:, 1])
        else:
            auc = roc_auc_score(y_test, proba, multi_class="ovr")
        bacc = balanced_accuracy_score(y_test, clf.predict(dataset.X[test]))
        scores.append((auc, bacc, seconds))
    return np.mean(scores, axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="yeast4,yeast3,ecoli1,abalone9_18")
    parser.add_argument("--epochs", type=positive(int), default=30)
    parser.add_argument("--batch-size", type=positive(int), default=128)
    parser.add_argument("--folds", type=folds, default=5)
    parser.add_argument("--seed", type=_seed, default=0)
    parser.add_argument("--threads", type=positive(int), default=1)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    try:
        datasets = keel_sets(args.datasets)
    except ValueError as exc:
        parser.error(f"--datasets: {exc}")
    print("| data set | mode | ROC-AUC | balanced accuracy | fit CPU s |")
    print("|---|---|---|---|---|")
    means = {mode: [] for mode in MODES}
    try:
        for dataset in datasets:
            for mode, params in MODES.items():
                auc, bacc, seconds = evaluate(dataset, params, args)
                means[mode].append((auc, bacc, seconds))
                print(
                    f"| {dataset.name} | {mode} | {auc:.3f} | {bacc:.3f} "
                    f"| {seconds:.2f} |",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("\nInterrupted; the table above lacks the rest.", file=sys.stderr)
        return 130
    for mode, values in means.items():
        auc, bacc, seconds = np.mean(values, axis=0)
        print(f"| mean | {mode} | {auc:.3f} | {bacc:.3f} | {seconds:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
