"""
==================================
Acceptance dynamics over epochs
==================================

Every epoch, :class:`~rsft_sklearn.RSFTClassifier` records the fraction of
samples the rule accepted, overall and per class. Following these rates shows
the rule at work: as the network learns a class, it accepts fewer of that
class's samples, and the gradient turns to what is still hard.

The data: three classes in proportions 80 / 15 / 5 percent.
"""

# %%
# A warm-up, then rejection
# -------------------------
# ``warmup_epochs=5`` trains on everything first (acceptance 1), then the rule
# starts. Target weights are ``"balanced"``, tempered by the default
# ``target_power=0.5`` (``1 / sqrt(n_k)``) and normalised so that the rarest
# class (2) has weight 1.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import make_classification
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RSFTClassifier

X, y = make_classification(
    n_samples=2000,
    n_features=10,
    n_informative=5,
    n_classes=3,
    n_clusters_per_class=1,
    weights=[0.80, 0.15, 0.05],
    random_state=0,
)
X = StandardScaler().fit_transform(X)

warmup, max_epochs = 5, 25
clf = RSFTClassifier(
    M=1.0,
    hardness=1.0,
    warmup_epochs=warmup,
    max_epochs=max_epochs,
    batch_size=256,
    random_state=0,
).fit(X, y)
print("class counts:", np.bincount(y))
print("normalised class weights:", clf.class_target_weight_.round(3))

# %%
# The rates per class
# -------------------
# The dotted lines are the class weights: under ``hardness=1`` a sample the
# model predicts with certainty (``p = 1``) is accepted with probability
# ``w / M``, so the rate of a class falls toward its weight as the network
# learns it. The rarest class, with weight 1, is never rejected when
# ``M = 1``.
history = clf.history
epochs = np.asarray(history[:, "epoch"])
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.8))
for i, label in enumerate(clf.classes_):
    rate = history[:, f"acceptance_rate[{label}]"]
    left.plot(epochs, rate, color=f"C{i}", label=f"class {label}")
    left.axhline(clf.class_target_weight_[i], color=f"C{i}", linestyle=":")
left.plot(epochs, history[:, "acceptance_rate"], color="k", label="all")
left.axvspan(0.5, warmup + 0.5, color="0.9", label="warm-up")
left.set_xlabel("epoch")
left.set_ylabel("acceptance rate")
left.set_ylim(0, 1.3)
left.legend(loc="upper right", ncols=3, fontsize="small")
left.grid(alpha=0.3)
right.plot(epochs, history[:, "train_loss"], color="k")
right.axvspan(0.5, warmup + 0.5, color="0.9")
right.set_xlabel("epoch")
right.set_ylabel("training loss (weighted by acceptance)")
right.grid(alpha=0.3)
fig.tight_layout()

# %%
# Larger ``M``, fewer samples
# ---------------------------
# The overall acceptance rate for several ``M``. Under the default rule
# (``rejection="expected"``) every row is trained on, weighted by its
# acceptance, so the rate is the mean weight; under ``rejection="sample"`` it
# would be the share of each batch that a step learns from. Once ``M > 1``
# the rarest class is weighted down too, as soon as the model predicts it
# with ``p > 1 / M``.
fig, ax = plt.subplots(figsize=(6, 3.6))
for M in [0.5, 1.0, 2.0, 4.0]:
    fitted = RSFTClassifier(
        M=M,
        warmup_epochs=warmup,
        max_epochs=max_epochs,
        batch_size=256,
        random_state=0,
    ).fit(X, y)
    ax.plot(epochs, fitted.history[:, "acceptance_rate"], label=f"M = {M:g}")
ax.set_xlabel("epoch")
ax.set_ylabel("overall acceptance rate")
ax.set_ylim(0, 1.05)
ax.legend()
ax.grid(alpha=0.3)
fig.tight_layout()
plt.show()
