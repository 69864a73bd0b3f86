"""
=========================================
RSFT in a plain PyTorch training loop
=========================================

The rejection rule does not need scikit-learn or skorch:
:class:`~rsft_sklearn.RejectionLoss` is a PyTorch loss module that takes
logits and targets, computes every row's acceptance on their device and
returns the weighted loss. Here it replaces the cross-entropy of an ordinary
training loop on an imbalanced problem, with the rule that
:class:`~rsft_sklearn.RSFTClassifier` uses by default; the same module fits a
Lightning ``training_step`` or a Hugging Face ``Trainer.compute_loss``.

The loss is not a submodule of the network, so ``model.eval()`` leaves it in
training mode: call ``loss_fn.eval()`` for a validation pass (and
``loss_fn.train()`` after it), or the validation batches go through the rule,
adding to its counts and drawing new masks.
"""

# %%
# Data and network
# ----------------
# One sample in twenty belongs to class 1.
import matplotlib.pyplot as plt
import torch
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score

from rsft_sklearn import RejectionLoss, class_target_weight

X, y = make_classification(
    n_samples=4000, n_features=10, weights=[0.95], flip_y=0.01, random_state=0
)
X, y = torch.as_tensor(X, dtype=torch.float32), torch.as_tensor(y)
torch.manual_seed(0)
model = torch.nn.Sequential(
    torch.nn.Linear(10, 32), torch.nn.ReLU(), torch.nn.Linear(32, 2)
)

# %%
# The loop
# --------
# The only change to a plain loop is the loss, set up as the estimator's
# default rule: tempered class weights ``1 / sqrt(n_k)`` (the rarest class 1),
# ``M = 1``, ``hardness = 1``, every row weighted by its acceptance
# (``rejection="expected"``), and the logit adjustment on the class prior
# after rejection (``prior_correction=1``), which starts from the class
# frequencies. The first third of the epochs trains every row
# (``rejecting=False``). ``begin_epoch`` zeroes the per-class counts that the
# loss keeps on the device; they are read once per epoch.
loss_fn = RejectionLoss(
    class_weight=class_target_weight(y.numpy(), 2, power=0.5),
    M=1.0,
    hardness=1.0,
    rejection="expected",
    prior_correction=1.0,
)
loss_fn.set_class_prior(torch.bincount(y) / len(y))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
warmup, max_epochs = 5, 15
rates = []
for epoch in range(max_epochs):
    loss_fn.begin_epoch(rejecting=epoch >= warmup)
    for idx in torch.randperm(len(y)).split(128):
        optimizer.zero_grad()
        loss_fn(model(X[idx]), y[idx]).backward()
        optimizer.step()
    stats = loss_fn.epoch_statistics()
    rates.append((stats["accepted"] / stats["seen"]).tolist())

# %%
# What the rule kept
# ------------------
# After the warm-up the rare class keeps its full weight; the frequent one is
# weighted down more and more as the model learns it.
# Epochs are counted from 1, as in the estimator's history.
epochs = range(1, max_epochs + 1)
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot(epochs, [r[0] for r in rates], label="class 0 (95 %)")
ax.plot(epochs, [r[1] for r in rates], label="class 1 (5 %)")
ax.axvspan(0.5, warmup + 0.5, color="0.9", label="warm-up")
ax.set_xlabel("epoch")
ax.set_ylabel("mean acceptance")
ax.legend()
fig.tight_layout()

# %%
# The logit adjustment made the network's arg-max a balanced decision (see
# :func:`~rsft_sklearn.correct_proba` for the posterior it estimates). The
# loss of this pass is the plain cross-entropy once the loss is in evaluation
# mode, as the network is: without ``loss_fn.eval()`` it would apply the rule
# and add the rows to the epoch's counts.
model.eval()
loss_fn.eval()
with torch.no_grad():
    logits = model(X)
    print(f"cross-entropy (training data): {loss_fn(logits, y):.3f}")
pred = logits.argmax(1)
print(f"balanced accuracy (training data): {balanced_accuracy_score(y, pred):.3f}")
