"""
Train on several GPUs or CPU processes
======================================

A launcher (``accelerate launch`` or ``torchrun``, see the commands on the
gallery page of this section) starts this script once per process. Every
process builds the same data, fits :class:`~rsft_sklearn.AccelerateRSFTClassifier`
on it and ends with the same network: each step, the processes take
contiguous parts of one shuffled global batch of ``processes * batch_size``
rows, draw their rejection masks independently, and average gradients that
together equal the gradient of the global batch.

The script is not run when the documentation is built: it needs a launcher.
"""

# %%
# Options: ``--cpu`` keeps every process on the CPU (gloo between
# processes); ``--mixed-precision bf16`` computes the forward pass in
# bfloat16 on devices that support it.
import argparse

from accelerate import Accelerator
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score, roc_auc_score
from sklearn.model_selection import train_test_split

from rsft_sklearn import AccelerateRSFTClassifier

parser = argparse.ArgumentParser()
parser.add_argument("--cpu", action="store_true", help="train on CPU processes")
parser.add_argument("--mixed-precision", default=None, choices=["no", "bf16", "fp16"])
parser.add_argument("--epochs", type=int, default=10)
parser.add_argument("--n-samples", type=int, default=50_000)
args = parser.parse_args()

# %%
# The accelerator reads the process group that the launcher set up. Its
# ``print`` prints on the main process only.
accelerator = Accelerator(cpu=args.cpu, mixed_precision=args.mixed_precision)
accelerator.print(
    f"{accelerator.num_processes} process(es) on {accelerator.device}, "
    f"precision {accelerator.mixed_precision}"
)

# %%
# Every process must fit on the same rows in the same order (the estimator
# checks the row and class counts): build or load the data identically
# everywhere, here from a fixed seed.
X, y = make_classification(
    n_samples=args.n_samples,
    n_features=20,
    n_informative=8,
    weights=[0.95],
    flip_y=0.01,
    random_state=0,
)
X_train, X_test, y_train, y_test = train_test_split(
    X, y, test_size=0.25, stratify=y, random_state=0
)

# %%
# ``batch_size`` is per process, so the global batch grows with the number
# of processes. ``loss_normalization`` and ``random_state`` mean what they
# mean for RSFTClassifier: both normalisations are exact across processes,
# and the seed gives every process the same shuffling and its own masks.
clf = AccelerateRSFTClassifier(
    accelerator=accelerator,
    M=2.0,
    batch_size=256,
    max_epochs=args.epochs,
    lr=2e-3,
    loss_normalization="batch",
    module__hidden_layer_sizes=(128, 128),
    random_state=0,
    verbose=1,
)
clf.fit(X_train, y_train)

# %%
# The acceptance rates in the history are counted over all processes, so
# every process holds the same history and the same network. Evaluate on
# the main process only. Every process calls ``save_params``: it waits for
# all of them, then only the main process writes the file, so calling it
# inside ``if accelerator.is_main_process:`` would hang.
if accelerator.is_main_process:
    proba = clf.predict_proba(X_test)[:, 1]
    print(f"last epoch acceptance rate: {clf.history[-1, 'acceptance_rate']:.3f}")
    print(f"test ROC-AUC: {roc_auc_score(y_test, proba):.3f}")
    print(
        "test balanced accuracy: "
        f"{balanced_accuracy_score(y_test, clf.predict(X_test)):.3f}"
    )
clf.save_params(f_params="rsft_distributed_params.pt")

# %%
# End by closing the process group: a process that exits with it open can
# abort during the interpreter's teardown.
accelerator.end_training()
