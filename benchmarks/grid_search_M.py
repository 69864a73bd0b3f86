"""Which M a grid search picks under the default rule, on the longtail
development sets (2,000-row cap, 15 epochs, 3-fold CV on balanced accuracy).

    python benchmarks/grid_search_M.py
"""

import argparse
import sys

import numpy as np
import torch
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._suites import load_suite

SETS = ("page-blocks", "kr-vs-k", "mnist1d-lt", "nursery")
GRID = [0.25, 1.0, 4.0, 16.0]


def main(argv=()):
    # No options; --help says what the script does before it runs for minutes.
    argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    ).parse_args(argv)
    torch.set_num_threads(1)
    for name in SETS:
        data = load_suite("longtail", datasets=[name], max_rows=2000)[0]
        X, y = data.X.astype(np.float32), data.y
        # Classes too small for 3-fold CV are left out.
        labels, counts = np.unique(y, return_counts=True)
        keep = np.isin(y, labels[counts >= 6])
        X, y = X[keep], y[keep]
        search = GridSearchCV(
            make_pipeline(
                StandardScaler(), RSFTClassifier(max_epochs=15, random_state=0)
            ),
            {"rsftclassifier__M": GRID},
            scoring="balanced_accuracy",
            cv=StratifiedKFold(3, shuffle=True, random_state=0),
        ).fit(X, y)
        scores = search.cv_results_["mean_test_score"]
        table = ", ".join(f"M={M:g}: {s:.3f}" for M, s in zip(GRID, scores))
        best = search.best_params_["rsftclassifier__M"]
        print(f"{name}: best M {best:g} ({table})", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
