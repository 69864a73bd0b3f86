"""Hyper-parameter search over M, hardness and target, locally and on Dask."""

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from imblearn.metrics import geometric_mean_score
from imblearn.pipeline import Pipeline
from joblib import parallel_backend
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.metrics import make_scorer
from sklearn.model_selection import (
    GridSearchCV,
    HalvingGridSearchCV,
    StratifiedKFold,
    cross_validate,
)
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier

GRID = {
    "clf__M": [0.5, 2.0],
    "clf__hardness": [0.0, 1.0],
    "clf__target": ["balanced", {0: 0.25, 1: 1.0}],
}
SCORING = {"g_mean": make_scorer(geometric_mean_score), "ap": "average_precision"}


@pytest.fixture(scope="module")
def data():
    return make_classification(
        n_samples=360, n_features=6, weights=[0.85], flip_y=0.02, random_state=0
    )


def _pipeline(max_epochs=4):
    return Pipeline(
        [
            ("scale", StandardScaler()),
            (
                "clf",
                RSFTClassifier(
                    max_epochs=max_epochs,
                    batch_size=64,
                    lr=1e-2,
                    module__hidden_layer_sizes=(16,),
                    random_state=0,
                    **SAMPLE_RULE,
                ),
            ),
        ]
    )


def _grid_search(n_jobs):
    return GridSearchCV(
        _pipeline(),
        GRID,
        scoring=SCORING,
        refit="g_mean",
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=n_jobs,
    )


def _scores(search):
    keys = sorted(k for k in search.cv_results_ if k.startswith("split"))
    return np.array([search.cv_results_[k] for k in keys], dtype=float)


@pytest.fixture(scope="module")
def local_search(data):
    X, y = data
    return _grid_search(n_jobs=2).fit(X, y)


def test_grid_search_in_a_pipeline(local_search, data):
    X, y = data
    results = local_search.cv_results_
    assert len(results["params"]) == 8
    scores = _scores(local_search)
    assert np.all((scores >= 0) & (scores <= 1))
    # The grid matters: not every setting scores the same.
    assert np.ptp(results["mean_test_g_mean"]) > 0.01
    assert local_search.best_params_ in results["params"]
    best = local_search.best_index_
    assert results["rank_test_g_mean"][best] == 1
    assert results["mean_test_ap"].max() > 0.7
    assert local_search.predict(X).shape == y.shape


def test_parallel_search_equals_sequential_fits(local_search, data):
    # Seeds travel with the estimator, so a fit in a worker process equals one
    # here: check one grid point against cross_validate with n_jobs=1.
    X, y = data
    index = 5
    params = local_search.cv_results_["params"][index]
    sequential = cross_validate(
        clone(_pipeline()).set_params(**params),
        X,
        y,
        scoring=SCORING,
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=1,
    )
    for name in SCORING:
        split = [
            local_search.cv_results_[f"split{i}_test_{name}"][index] for i in range(3)
        ]
        np.testing.assert_allclose(split, sequential[f"test_{name}"], rtol=1e-12)


def test_halving_grid_search_over_epochs(data):
    X, y = data
    search = HalvingGridSearchCV(
        _pipeline(),
        GRID,
        resource="clf__max_epochs",
        min_resources=2,
        max_resources=8,
        factor=2,
        scoring=make_scorer(geometric_mean_score),
        cv=StratifiedKFold(3, shuffle=True, random_state=0),
        n_jobs=2,
        random_state=0,
    ).fit(X, y)
    assert search.n_resources_ == [2, 4, 8]
    assert search.n_candidates_ == [8, 4, 2]
    assert search.best_params_["clf__max_epochs"] == 8
    best = {k: v for k, v in search.best_params_.items() if k in GRID}
    assert all(best[k] in GRID[k] for k in GRID)
    assert 0 < search.best_score_ <= 1


@pytest.mark.distributed
def test_dask_cluster_equals_local_run(local_search, data):
    distributed = pytest.importorskip("distributed")
    X, y = data
    with (
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        # loky workers run torch on one thread; so must these, for the same
        # floating-point sums.
        client.run(torch.set_num_threads, 1)
        with parallel_backend("dask"):
            remote = _grid_search(n_jobs=-1).fit(X, y)
    assert remote.cv_results_["params"] == local_search.cv_results_["params"]
    np.testing.assert_array_equal(_scores(remote), _scores(local_search))
    assert remote.best_params_ == local_search.best_params_
