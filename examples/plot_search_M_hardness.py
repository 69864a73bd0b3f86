"""
Searching ``M`` and ``hardness`` together
=========================================

``M`` and ``hardness`` decide together how much of each batch the rule keeps
and how strongly it prefers the samples the model gets wrong. This example
searches both, with ``target``, by cross-validation inside an
imbalanced-learn pipeline, scores every setting with a thresholded metric
(G-mean) and a ranking metric (average precision), and draws the score
surface. It ends with the same search run on a Dask or a Ray cluster.
"""

# %%
# Data and pipeline
# -----------------
# A binary problem with one positive for about ten negatives. The
# classifier predicts with its default ``probability="balanced"``: the
# posterior under equal class priors recovered from the fixed point of
# training, whose arg-max is the decision rule for balanced metrics.
import matplotlib.pyplot as plt
from imblearn.metrics import geometric_mean_score
from imblearn.pipeline import Pipeline
from sklearn.datasets import make_classification
from sklearn.metrics import make_scorer
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier

X, y = make_classification(
    n_samples=900,
    n_features=10,
    n_informative=4,
    weights=[0.92],
    flip_y=0.02,
    class_sep=0.8,
    random_state=0,
)
pipe = Pipeline(
    [
        ("scale", StandardScaler()),
        (
            "clf",
            RSFTClassifier(
                max_epochs=15,
                batch_size=64,
                lr=5e-3,
                module__hidden_layer_sizes=(32,),
                random_state=0,
            ),
        ),
    ]
)

# %%
# The grid
# --------
# ``M`` on a logarithmic grid around 1 (with the target weights normalised so
# that the rarest class weighs 1, ``M = 1`` keeps that class whole), and
# ``hardness`` from 0 (the class weights alone, whatever the model predicts)
# to 2 (a strong focus on hard samples). Three values of each keep the
# example quick; a real search would add the values in between. The fits run
# one after the other here; with ``n_jobs`` the search runs them in parallel
# processes, and since every fit is seeded by its own ``random_state``, the
# scores are the same.
M_GRID = [0.25, 1.0, 4.0]
HARDNESS_GRID = [0.0, 1.0, 2.0]
search = GridSearchCV(
    pipe,
    {"clf__M": M_GRID, "clf__hardness": HARDNESS_GRID, "clf__target": ["balanced"]},
    scoring={"G-mean": make_scorer(geometric_mean_score), "AP": "average_precision"},
    refit="G-mean",
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
).fit(X, y)
print("best:", search.best_params_, f"G-mean {search.best_score_:.3f}")

# %%
# The score surface
# -----------------
# Rows are ``hardness``, columns ``M``. The grid's parameter order makes
# ``M`` the slowest-varying key, so the flat results reshape to
# ``(M, hardness)``.
fig, axes = plt.subplots(1, 2, figsize=(9, 3.6), layout="constrained")
for ax, metric in zip(axes, ["G-mean", "AP"]):
    surface = search.cv_results_[f"mean_test_{metric}"].reshape(
        len(M_GRID), len(HARDNESS_GRID)
    )
    image = ax.imshow(surface.T, origin="lower", cmap="viridis", aspect="auto")
    ax.set_xticks(range(len(M_GRID)), [str(m) for m in M_GRID])
    ax.set_yticks(range(len(HARDNESS_GRID)), [str(h) for h in HARDNESS_GRID])
    ax.set_xlabel("M")
    ax.set_ylabel("hardness")
    ax.set_title(f"mean {metric} (3-fold CV)")
    for i in range(len(M_GRID)):
        for j in range(len(HARDNESS_GRID)):
            ax.text(i, j, f"{surface[i, j]:.2f}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax)
plt.show()

# %%
# The two metrics need not agree: average precision ranks the scores and is
# nearly blind to where the decision threshold falls, while G-mean depends on
# the threshold. Search with the metric that matches the use. Adding
# ``"clf__target"`` entries (``"uniform"`` or a dict of per-class weights)
# to the grid searches the class mix as well.
#
# Instead of fixing ``M``, ``M="auto"`` with ``target_acceptance`` adapts it
# during training so that a chosen fraction of every batch is kept, which
# makes the acceptance rate, not ``M``, the parameter to search:
rates = [0.2, 0.5]
auto = GridSearchCV(
    pipe.set_params(clf__M="auto"),
    {"clf__target_acceptance": rates},
    scoring=make_scorer(geometric_mean_score),
    cv=StratifiedKFold(3, shuffle=True, random_state=0),
).fit(X, y)
print(dict(zip(rates, auto.cv_results_["mean_test_score"].round(3))))

# %%
# Beyond one machine
# ------------------
# The search parallelises through joblib, so a cluster only needs another
# joblib backend; the estimator, its seeds and the results stay the same.
# Both need the ``distributed`` extra (``pip install "rsft-sklearn[distributed]"``).
#
# On a Dask cluster (here a local one; give ``Client`` the scheduler's
# address to use a real one):
#
# .. code-block:: python
#
#    import torch
#    from dask.distributed import Client, LocalCluster
#    from joblib import parallel_backend
#
#    with LocalCluster(n_workers=4, threads_per_worker=1) as cluster, \
#            Client(cluster) as client:
#        client.run(torch.set_num_threads, 1)
#        with parallel_backend("dask"):
#            search.fit(X, y)
#
# On a Ray cluster, through Ray's joblib backend:
#
# .. code-block:: python
#
#    import ray
#    from joblib import parallel_backend
#    from ray.util.joblib import register_ray
#
#    ray.init()  # or ray.init(address="auto") on a running cluster
#    register_ray()
#    with parallel_backend("ray"):
#        search.fit(X, y)
#
# With one thread of torch per worker the fits sum in the same order as
# joblib's local processes, and the test suite checks that a Dask run gives
# exactly the local scores.
