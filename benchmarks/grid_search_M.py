"""Which M a grid search picks under the default rule, on the longtail
development sets (2,000-row cap, 15 epochs, 3-fold CV on balanced accuracy).

    python benchmarks/grid_search_M.py

Ctrl-C stops the script with exit status 130 at once; the fit it cuts short
is not scored.
"""

import argparse
import sys

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._runner import _interrupt_seen
from rsft_sklearn.benchmark._suites import load_suite

SETS = ("page-blocks", "kr-vs-k", "mnist1d-lt", "nursery")
GRID = [0.25, 1.0, 4.0, 16.0]


class StopOnInterrupt(Callback):
    """Raise ``KeyboardInterrupt`` at the end of a fit once Ctrl-C was
    seen (``interrupted()`` is true).

    skorch ends a fit quietly on Ctrl-C, and the grid search would score
    that network and go on with the next fit; ``on_train_end`` runs outside
    skorch's catch, so the interrupt leaves the search from there.
    """

    def __init__(self, interrupted):
        self.interrupted = interrupted

    def on_train_end(self, net, **kwargs):
        if self.interrupted():
            raise KeyboardInterrupt


def main(argv=()):
    # No options; --help says what the script does before it runs for minutes.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args(argv)
    torch.set_num_threads(1)
    try:
        for name in SETS:
            _search(name)
    except KeyboardInterrupt:
        print("\nInterrupted; the sets above are finished.", file=sys.stderr)
        return 130
    return 0


def _search(name):
    """Search M on one set and print its line."""
    data = load_suite("longtail", datasets=[name], max_rows=2000)[0]
    X, y = data.X.astype(np.float32), data.y
    # Classes too small for 3-fold CV are left out.
    labels, counts = np.unique(y, return_counts=True)
    keep = np.isin(y, labels[counts >= 6])
    X, y = X[keep], y[keep]
    pipeline = make_pipeline(
        StandardScaler(), RSFTClassifier(max_epochs=15, random_state=0)
    )
    search = GridSearchCV(
        pipeline,
        {"rsftclassifier__M": GRID},
        scoring="balanced_accuracy",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    )
    with _interrupt_seen() as interrupted:
        pipeline.set_params(
            rsftclassifier__callbacks=[
                *(pipeline[-1].callbacks or []),
                ("stop_on_interrupt", StopOnInterrupt(interrupted)),
            ]
        )
        search.fit(X, y)
    scores = search.cv_results_["mean_test_score"]
    table = ", ".join(f"M={M:g}: {s:.3f}" for M, s in zip(GRID, scores))
    best = search.best_params_["rsftclassifier__M"]
    print(f"{name}: best M {best:g} ({table})", flush=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
