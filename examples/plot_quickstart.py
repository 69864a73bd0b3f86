"""
============================================
Quick start: RSFT in a scikit-learn pipeline
============================================

Train :class:`~rsft_sklearn.RSFTClassifier` behind a scaler on an imbalanced
two-class problem, look at what ``predict`` decides on, and at what the
rejection rule did during training.
"""

# %%
# An imbalanced problem
# ---------------------
# Five percent of the samples belong to the positive class.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.metrics import (
    ConfusionMatrixDisplay,
    balanced_accuracy_score,
    roc_auc_score,
)
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier

X, y = make_classification(
    n_samples=3000,
    n_features=20,
    n_informative=5,
    weights=[0.95],
    flip_y=0.01,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(X, y, stratify=y, random_state=0)
print("training class counts:", np.bincount(y_train))

# %%
# Fit and score
# -------------
# The default network is a two-layer perceptron whose input and output sizes
# come from the data.
model = make_pipeline(
    StandardScaler(),
    RSFTClassifier(M=1.0, hardness=1.0, max_epochs=20, random_state=0),
)
model.fit(X_train, y_train)
print(
    f"balanced accuracy {balanced_accuracy_score(y_test, model.predict(X_test)):.3f}"
    f", ROC-AUC {roc_auc_score(y_test, model.predict_proba(X_test)[:, 1]):.3f}"
)

# %%
# What ``predict`` decides on
# ---------------------------
# Training on the accepted samples only changes what the network's output
# estimates. By default (``probability="balanced"``) ``predict_proba`` undoes
# that change and returns the posterior under equal class priors, whose
# arg-max is the balanced decision; ``probability="raw"`` gives the network's
# softmax as it is. The parameter is read at prediction time only, so it can
# be switched on the fitted model. The ranking, and so the ROC-AUC, is the
# same; the decisions are not.
clf = model[-1]
fig, axes = plt.subplots(1, 2, figsize=(8, 3.6))
for ax, probability in zip(axes, ["balanced", "raw"]):
    clf.set_params(probability=probability)
    y_pred = model.predict(X_test)
    ConfusionMatrixDisplay.from_predictions(y_test, y_pred, ax=ax, colorbar=False)
    ax.set_title(
        f'probability="{probability}"\n'
        f"balanced accuracy {balanced_accuracy_score(y_test, y_pred):.3f}"
    )
clf.set_params(probability="balanced")
fig.tight_layout()

# %%
# What the rule did
# -----------------
# The estimator keeps skorch's history, with the acceptance rate of every
# class in every epoch. The minority class is kept almost whole; the majority
# class, whose weight is about ``1/sqrt(17)`` (the default ``target_power=0.5``
# tempers the inverse class frequency; ``clf.class_target_weight_`` holds
# it), is accepted mostly when the model gets it wrong.
history = clf.history
epochs = history[:, "epoch"]
fig, ax = plt.subplots(figsize=(6, 3.4))
for label in clf.classes_:
    ax.plot(epochs, history[:, f"acceptance_rate[{label}]"], label=f"class {label}")
ax.set_xlabel("epoch")
ax.set_ylabel("acceptance rate")
ax.set_ylim(0, 1.05)
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
