"""
=========================================
RSFT in a plain PyTorch training loop
=========================================

The rejection rule does not need scikit-learn or skorch:
:class:`~rsft_sklearn.RejectionLoss` is a PyTorch loss module that takes
logits and targets, draws the rejection mask on their device and returns the
loss of the accepted samples. Here it replaces the cross-entropy of an
ordinary training loop on an imbalanced problem; the same module fits a
Lightning ``training_step`` or a Hugging Face ``Trainer.compute_loss``.
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
# The only change to a plain loop is the loss: class weights ``1 / n_k``
# (the rarest class 1), ``M = 1``, and a generator of its own for the masks.
# ``begin_epoch`` zeroes the per-class counts that the loss keeps on the
# device; they are read once per epoch.
loss_fn = RejectionLoss(
    class_weight=class_target_weight(y.numpy(), 2),
    M=1.0,
    generator=torch.Generator().manual_seed(0),
)
optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
rates = []
for _ in range(15):
    loss_fn.begin_epoch()
    for idx in torch.randperm(len(y)).split(128):
        optimizer.zero_grad()
        loss_fn(model(X[idx]), y[idx]).backward()
        optimizer.step()
    stats = loss_fn.epoch_statistics()
    rates.append((stats["accepted"] / stats["seen"]).tolist())

# %%
# What the rule kept
# ------------------
# The rare class is kept whole, the frequent one is thinned out more and
# more as the model learns it.
fig, ax = plt.subplots(figsize=(6, 3.5))
ax.plot([r[0] for r in rates], label="class 0 (95 %)")
ax.plot([r[1] for r in rates], label="class 1 (5 %)")
ax.set_xlabel("epoch")
ax.set_ylabel("acceptance rate")
ax.legend()
fig.tight_layout()

# %%
# The network's arg-max decides between the classes in balanced terms
# (see :func:`~rsft_sklearn.correct_proba` for the posterior it estimates).
with torch.no_grad():
    pred = model(X).argmax(1)
print(f"balanced accuracy (training data): {balanced_accuracy_score(y, pred):.3f}")
