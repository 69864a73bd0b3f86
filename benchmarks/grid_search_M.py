"""Which M a grid search picks under the default rule, on the longtail
development sets (2,000-row cap, 15 epochs, 3-fold CV on balanced accuracy).

    python benchmarks/grid_search_M.py
"""

import numpy as np
import torch

torch.set_num_threads(1)
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._suites import load_suite

for name in ["page-blocks", "kr-vs-k", "mnist1d-lt", "nursery"]:
    ds = load_suite("longtail", datasets=[name], max_rows=2000)[0]
    X, y = ds.X.astype(np.float32), ds.y
    lab, cnt = np.unique(y, return_counts=True)
    keep = np.isin(y, lab[cnt >= 6])
    X, y = X[keep], y[keep]
    search = GridSearchCV(
        make_pipeline(StandardScaler(), RSFTClassifier(max_epochs=15, random_state=0)),
        {"rsftclassifier__M": [0.25, 1.0, 4.0, 16.0]},
        scoring="balanced_accuracy",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
    ).fit(X, y)
    scores = dict(
        zip(
            search.cv_results_["param_rsftclassifier__M"],
            search.cv_results_["mean_test_score"].round(3),
        )
    )
    print(name, "best M", search.best_params_["rsftclassifier__M"], scores, flush=True)
