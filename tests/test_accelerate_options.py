"""Options of the accelerator and of training that AccelerateRSFTClassifier
refuses, warns of or keeps across a copy: the training iterator on several
processes, fp16 on the CPU, and a mixed-precision network left wrapped.

Several processes are stood in for by an accelerator that counts two (the
refusals come before any collective); mixed precision runs in a process of
its own, as accelerate keeps one precision per process.
"""

import functools
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from skorch.callbacks import Callback

from rsft_sklearn import AccelerateRSFTClassifier, BatchIterator

accelerate = pytest.importorskip("accelerate")

PARAMS = dict(
    max_epochs=2, random_state=0, batch_size=32, module__hidden_layer_sizes=(8,)
)


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=203,
        n_features=6,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    return X.astype(np.float32), y


@pytest.fixture
def processes(monkeypatch):
    """Every accelerator counts ``processes["count"]`` processes (2 unless
    changed), with a process group, as a launch of two processes gives."""
    processes = {"count": 2}
    monkeypatch.setattr(
        accelerate.Accelerator,
        "num_processes",
        property(lambda self: processes["count"]),
    )
    monkeypatch.setattr(
        torch.distributed, "is_initialized", lambda: processes["count"] > 1
    )
    return processes


class _TrainingProbe(Callback):
    """Counts the trainings begun and the batches trained."""

    def initialize(self):
        self.trainings = 0
        self.batches = 0
        return self

    def on_train_begin(self, net, **kwargs):
        self.trainings += 1

    def on_batch_begin(self, net, training=False, **kwargs):
        self.batches += training


def test_a_data_loader_is_refused_on_several_processes_before_training(data, processes):
    # accelerate prepared the user's DataLoader: with even_batches=True (its
    # default) it padded the last batch of every epoch with repeated rows
    # (on 203 rows and 2 processes of batch 16, 21 rows trained twice and
    # counted in the acceptance rates); with even_batches=False the
    # processes took different numbers of steps, and gloo aborted (NCCL
    # would hang).
    X, y = data
    probe = _TrainingProbe()
    net = AccelerateRSFTClassifier(
        accelerator=accelerate.Accelerator(cpu=True),
        iterator_train=torch.utils.data.DataLoader,
        callbacks=[probe],
        **PARAMS,
    )
    with pytest.raises(
        ValueError,
        match=r"iterator_train=torch\.utils\.data\.dataloader\.DataLoader cannot "
        r"train on several processes.*even_batches=True.*BatchIterator",
    ):
        net.fit(X, y)
    assert not net.initialized_
    assert "module_" not in vars(net)


def test_continued_training_with_a_data_loader_is_refused_and_changes_nothing(
    data, processes
):
    X, y = data
    probe = _TrainingProbe()
    processes["count"] = 1
    # On one process the DataLoader trains (nothing is split): every row
    # once per epoch.
    net = AccelerateRSFTClassifier(
        accelerator=accelerate.Accelerator(cpu=True),
        iterator_train=torch.utils.data.DataLoader,
        callbacks=[probe],
        **PARAMS,
    ).fit(X, y)
    assert sum(row["train_batch_size"] for row in net.history[-1, "batches"]) == 203
    proba = net.predict_proba(X)
    weights = [p.detach().clone() for p in net.module_.parameters()]
    trained = (probe.trainings, probe.batches)
    processes["count"] = 2
    for call in (net.partial_fit, net.set_params(warm_start=True).fit):
        with pytest.raises(ValueError, match="cannot train on several processes"):
            call(X, y)
        assert (probe.trainings, probe.batches) == trained
        assert len(net.history) == PARAMS["max_epochs"]
        np.testing.assert_array_equal(net.predict_proba(X), proba)
        for before, after in zip(weights, net.module_.parameters()):
            assert torch.equal(before, after)


def test_an_iterator_factory_is_checked_by_what_it_builds(data, monkeypatch):
    # An iterator_train that is not a class is judged by what it builds,
    # when the first epoch asks for its iterator (on every process alike).
    # (Two processes for the estimator only: torch's DataLoader reads the
    # process group of a launch.)
    monkeypatch.setattr(
        accelerate.Accelerator, "num_processes", property(lambda self: 2)
    )
    X, y = data
    dataset = torch.utils.data.TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
    net = AccelerateRSFTClassifier(
        accelerator=accelerate.Accelerator(cpu=True),
        iterator_train=functools.partial(torch.utils.data.DataLoader),
        **PARAMS,
    )
    with pytest.raises(ValueError, match=r"iterator_train=functools\.partial\("):
        net.get_iterator(dataset, training=True)
    # A factory of BatchIterator is split between the processes: 203 rows in
    # global batches of 64, the part of process 0 being the first half of
    # each (5 of the last 11).
    net.set_params(
        iterator_train=functools.partial(BatchIterator), iterator_train__shuffle=False
    )
    sizes = [len(batch[1]) for batch in net.get_iterator(dataset, training=True)]
    assert sizes == [32, 32, 32, 5]


def _run_alone(script):
    """Run ``script`` in a process of its own; return the JSON object it
    printed last."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


_DATA = """
import json, warnings
import numpy as np
from sklearn.datasets import make_classification
from accelerate import Accelerator
from rsft_sklearn import AccelerateRSFTClassifier, RSFTClassifier, RSFTWarning
X, y = make_classification(n_samples=240, n_features=8, n_informative=5,
                           n_classes=3, weights=[0.7, 0.2, 0.1], random_state=0)
X = X.astype(np.float32)
params = dict(max_epochs=2, batch_size=32, random_state=0)
"""

_COPY_IN_MIXED_PRECISION_SCRIPT = (
    _DATA
    + """
import copy, pickle
accelerator = Accelerator(cpu=True, mixed_precision="bf16")
kept = AccelerateRSFTClassifier(
    accelerator=accelerator, unwrap_after_train=False, **params
).fit(X, y)
unwrapped = AccelerateRSFTClassifier(accelerator=accelerator, **params).fit(X, y)
copies = [pickle.loads(pickle.dumps(kept)), copy.deepcopy(kept)]
out = {
    "copies_marked_wrapped": [c._wrapped_with_accelerator for c in copies],
    # The same weights, in full precision.
    "copy_vs_unwrapped": max(
        float(np.abs(c.predict_proba(X) - unwrapped.predict_proba(X)).max())
        for c in copies
    ),
}
# What the rule gets: the network's output in training.
dtypes = set()
for net in [kept, *copies]:
    hook = net.module_.register_forward_hook(
        lambda module, args, output: dtypes.add(str(output.dtype))
        if module.training else None
    )
    net.partial_fit(X, y)
    hook.remove()
out["training_output_dtypes"] = sorted(dtypes)
out["copy_vs_kept_after_partial_fit"] = max(
    float(np.abs(c.predict_proba(X) - kept.predict_proba(X)).max()) for c in copies
)
print(json.dumps(out))
"""
)


def test_a_copy_of_a_network_left_wrapped_in_mixed_precision_is_prepared_again():
    # pickle (and copy.deepcopy, through it) dropped accelerate's
    # mixed-precision forward but kept the estimator marked as wrapped: the
    # copy was never prepared again, its partial_fit fed bfloat16 logits to
    # the rule, and it then predicted 0.002 away from the original.
    out = _run_alone(_COPY_IN_MIXED_PRECISION_SCRIPT)
    assert out["copies_marked_wrapped"] == [False, False]
    assert out["copy_vs_unwrapped"] == 0.0
    assert out["training_output_dtypes"] == ["torch.float32"]
    assert out["copy_vs_kept_after_partial_fit"] == 0.0


_FP16_ON_CPU_SCRIPT = (
    _DATA
    + """
import sys
accelerator = Accelerator(cpu=True, mixed_precision="fp16")
calls = []
here = lambda: sys._getframe(1).f_lineno
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    net = AccelerateRSFTClassifier(accelerator=accelerator, **params)
    calls.append(here()); net.fit(X, y)
    calls.append(here()); net.partial_fit(X, y)
    calls.append(here()); net.fit(X, y)
said = [w for w in caught if issubclass(w.category, RSFTWarning)]
reference = RSFTClassifier(**params).fit(X, y)
print(json.dumps({
    "warnings": [(str(w.message), w.lineno) for w in said],
    "calls": calls,
    "vs_float32": float(np.abs(net.predict_proba(X)
                               - reference.predict_proba(X)).max()),
}))
"""
)


def test_fp16_on_the_cpu_warns_that_it_trains_in_float32():
    # accelerate switches float16 off on the CPU (no native AMP there): the
    # fit trained in float32, bit for bit RSFTClassifier's, without a word.
    out = _run_alone(_FP16_ON_CPU_SCRIPT)
    # Once for the fit and the partial_fit that continues it, once for the
    # fit afresh; at the user's line.
    fit, _, refit = out["calls"]
    assert [line for _, line in out["warnings"]] == [fit, refit]
    message = out["warnings"][0][0]
    assert "mixed_precision='fp16' does not run on the CPU" in message
    assert "trains in float32" in message and "'bf16'" in message
    assert out["vs_float32"] == 0.0
