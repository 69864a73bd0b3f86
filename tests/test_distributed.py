"""Data-parallel training on two CPU processes (gloo), started with torchrun.

The module is also the worker: ``torchrun`` runs it as a script, every
process fits the estimators below and saves what it saw; the tests compare
the processes with each other and with a single-process reference.
"""

import contextlib
import io
import json
import os
import subprocess
import sys
import time
import warnings

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from _scripts import launch_processes
from skorch.callbacks import Callback, EarlyStopping

from rsft_sklearn import AccelerateRSFTClassifier, RejectionLoss, RSFTClassifier

pytest.importorskip("accelerate")

pytestmark = pytest.mark.distributed

N_PROCESSES = 2
# One global batch of an odd size, so that the two parts differ (18 and 19).
GRAD_ROWS = 37


class InjectedLoss(RejectionLoss):
    """Accept exactly the rows whose sample weight is positive."""

    def select(self, logits, y, sample_weight=None):
        mask = (sample_weight > 0).to(torch.float32)
        return mask, mask, mask


class InjectedRSFT(RSFTClassifier):
    _rejection_loss_class = InjectedLoss


class InjectedAccelerateRSFT(AccelerateRSFTClassifier):
    _rejection_loss_class = InjectedLoss


class RecordLocalStats(AccelerateRSFTClassifier):
    """Keeps each epoch's acceptance counts of this process before the sum."""

    def on_epoch_end(self, net, **kwargs):
        # Batches are added to the counts in groups: add the last ones.
        self.criterion_.flush_counts()
        self.local_stats_.append(self.criterion_.counts.cpu().clone())
        super().on_epoch_end(net, **kwargs)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.local_stats_ = []
        super().on_train_begin(net, X=X, y=y, **kwargs)


class FirstGradient(Callback):
    """Records the gradients of the first training step."""

    def initialize(self):
        self.grads_ = None
        return self

    def on_grad_computed(self, net, named_parameters, **kwargs):
        if self.grads_ is None:
            self.grads_ = {
                _plain_name(name): param.grad.detach().cpu().clone()
                for name, param in named_parameters
            }


class _RebuildAtSecondEpoch(Callback):
    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == 2:
            net.set_params(module__dropout=0.25)


class _FailAtSecondEpoch(Callback):
    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 2:
            raise RuntimeError("failed at the second epoch")


def _plain_name(name):
    # DistributedDataParallel prefixes the names of the wrapped parameters.
    return name.removeprefix("module.")


def _grad_data(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(GRAD_ROWS, 5)).astype(np.float32)
    y = rng.integers(0, 3, size=GRAD_ROWS)
    y[:3] = [0, 1, 2]
    return X, y


def _grad_cases():
    """``(name, loss_normalization, 0/1 mask of the global batch)``."""
    rng = np.random.default_rng(1)
    mixed = (rng.random(GRAD_ROWS) < 0.4).astype(np.float64)
    # Unequal accepted counts in the two parts (6 and 11), so that dividing
    # by each part's own count would give a different gradient.
    mixed[[0, 3]] = 0.0
    mixed[[20, 22, 24, 26]] = 1.0
    # The first process's part (18 rows) accepts nothing: the step must
    # still be taken on both processes.
    one_part_empty = mixed.copy()
    one_part_empty[: GRAD_ROWS // N_PROCESSES] = 0.0
    return [
        ("batch", "batch", mixed),
        ("accepted", "accepted", mixed),
        ("one_part_empty", "accepted", one_part_empty),
    ]


def _grad_params(loss_normalization):
    return dict(
        loss_normalization=loss_normalization,
        module__hidden_layer_sizes=(16,),
        max_epochs=1,
        lr=1e-2,
        random_state=0,
        iterator_train__shuffle=False,
        **SAMPLE_RULE,
    )


def _fit_data():
    rng = np.random.default_rng(2)
    y = rng.choice(3, size=500, p=[0.7, 0.2, 0.1])
    X = rng.normal(size=(500, 6)) + y[:, None] * 0.8
    return X, y


def _state(net):
    return {
        _plain_name(k): v.detach().cpu().clone()
        for k, v in net.module_.state_dict().items()
    }


class _TemperedCrossEntropy(torch.nn.Module):
    """Cross-entropy with a learnt temperature: a criterion with a parameter."""

    def __init__(self, reduction="none"):
        super().__init__()
        self.reduction = reduction
        self.log_t = torch.nn.Parameter(torch.zeros(()))

    def forward(self, logits, y):
        return torch.nn.functional.cross_entropy(
            logits * self.log_t.exp(), y, reduction=self.reduction
        )


def _worker(out_dir):
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    rank = accelerator.process_index
    result = {"grad": {}}
    X, y = _grad_data(0)
    for name, normalization, mask in _grad_cases():
        net = InjectedAccelerateRSFT(
            accelerator=accelerator,
            batch_size=-(-GRAD_ROWS // N_PROCESSES),
            callbacks=[("first_gradient", FirstGradient())],
            **_grad_params(normalization),
        ).fit(X, y, sample_weight=mask)
        result["grad"][name] = {
            "grads": dict(net.callbacks_)["first_gradient"].grads_,
            "params": _state(net),
        }

    X, y = _fit_data()
    start = time.perf_counter()
    net = RecordLocalStats(
        accelerator=accelerator,
        M=2.0,
        batch_size=32,
        max_epochs=3,
        lr=1e-2,
        module__hidden_layer_sizes=(16,),
        **SAMPLE_RULE,
    ).fit(X, y)
    result["fit"] = {
        "seconds": time.perf_counter() - start,
        "params": _state(net),
        "history": [
            {k: v for k, v in row.items() if k.startswith(("acceptance", "M_"))}
            for row in net.history
        ],
        "local_stats": [s.numpy() for s in net.local_stats_],
        "mask_seed": net.mask_generator_.initial_seed(),
        "predictions": net.predict_proba(X[:20]),
    }
    # The default rule (expected, logit adjustment on the prior after
    # rejection), M="auto", and early stopping on the training loss.
    for name, extra in _RULE_FITS.items():
        net = AccelerateRSFTClassifier(
            accelerator=accelerator, **{**_RULE_BASE, **extra}
        ).fit(X, y)
        result[name] = {
            "params": _state(net),
            "history": [
                {k: v for k, v in row.items() if k != "dur"} for row in net.history
            ],
            "log_M": net.criterion_.log_M.cpu().clone(),
            "predictions": net.predict_proba(X[:20]),
        }
    # Continued training: after a fit that unwrapped the network (the
    # default), and after one that kept it wrapped.
    continued = {}
    for unwrap in (True, False):
        net = AccelerateRSFTClassifier(
            accelerator=accelerator,
            unwrap_after_train=unwrap,
            **{**_RULE_BASE, "max_epochs": 2, "random_state": 0},
        ).fit(X, y)
        net.partial_fit(X, y)
        continued[unwrap] = _state(net)
    result["continued"] = continued
    # A refit of a network left wrapped (unwrap_after_train=False): the new
    # network was not wrapped, so each process trained alone.
    net = AccelerateRSFTClassifier(
        accelerator=accelerator,
        unwrap_after_train=False,
        **{**_RULE_BASE, "max_epochs": 1, "random_state": 0},
    ).fit(X, y)
    net.fit(X, y)
    result["refit_wrapped"] = {
        "module": type(net.module_).__name__,
        "params": _state(net),
    }
    # A network that skorch rebuilt while wrapped (set_params(module__...)
    # from a callback during a fit, or between calls with
    # unwrap_after_train=False) was left unwrapped: each process trained it
    # alone.
    net = AccelerateRSFTClassifier(
        accelerator=accelerator,
        callbacks=[("rebuild", _RebuildAtSecondEpoch())],
        **{**_RULE_BASE, "max_epochs": 3, "random_state": 0},
    ).fit(X, y)
    result["rebuilt_during_fit"] = _state(net)
    net = AccelerateRSFTClassifier(
        accelerator=accelerator,
        unwrap_after_train=False,
        **{**_RULE_BASE, "max_epochs": 1, "random_state": 0},
    ).fit(X, y)
    net.set_params(module__dropout=0.25)
    net.partial_fit(X, y)
    result["rebuilt_between_calls"] = _state(net)
    # Parameters saved and loaded into a new estimator: torch.load could not
    # map onto the indexed CPU device of each process.
    path = os.path.join(out_dir, "params.pt")
    settings = dict(
        accelerator=accelerator,
        probability="raw",
        **{**_RULE_BASE, "max_epochs": 1, "random_state": 0},
    )
    saved = AccelerateRSFTClassifier(**settings).fit(X, y)
    saved.save_params(f_params=path)
    accelerator.wait_for_everyone()
    loaded = AccelerateRSFTClassifier(
        classes=[0, 1, 2],
        module__n_features=X.shape[1],
        module__n_classes=3,
        **settings,
    ).initialize()
    loaded.load_params(f_params=path)
    result["loaded"] = {
        "device": loaded.get_params()["device"],
        "params": _state(loaded),
        "saved": _state(saved),
    }
    # A fit that fails after training steps keeps them, and its network is
    # unwrapped as at the end of a fit (left wrapped in DDP, it neither
    # pickled nor predicted outside the launch).
    net = AccelerateRSFTClassifier(
        accelerator=accelerator,
        callbacks=[("fail", _FailAtSecondEpoch())],
        **{**_RULE_BASE, "max_epochs": 3, "random_state": 0},
    )
    try:
        net.fit(X, y)
    except RuntimeError as exc:
        result["failed_fit"] = {
            "error": str(exc),
            "epochs": len(net.history),
            "module": type(net.module_).__name__,
        }
    # A criterion with a parameter: wrapped in DDP it was rebuilt, and its
    # parameter never trained.
    try:
        AccelerateRSFTClassifier(
            accelerator=accelerator,
            criterion=_TemperedCrossEntropy,
            **{**_RULE_BASE, "max_epochs": 1},
        ).fit(X, y)
    except ValueError as exc:
        result["trainable_criterion"] = str(exc)
    # An explicit CPU device, which each process holds as "cpu:<rank>".
    net = AccelerateRSFTClassifier(
        accelerator=accelerator, device="cpu", **{**_RULE_BASE, "max_epochs": 1}
    ).fit(X, y)
    result["device_cpu"] = _state(net)
    try:
        AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=1).fit(
            X[rank:], y[rank:]
        )
    except ValueError as exc:
        result["different_data"] = str(exc)
    torch.save(result, os.path.join(out_dir, f"rank{rank}.pt"))
    # Without this, gloo's worker threads can outlive the interpreter's
    # teardown and abort the process (SIGABRT) after the work is done.
    accelerator.end_training()


# Per process; the single-process reference has twice the batch size.
_RULE_BASE = dict(
    batch_size=32, max_epochs=4, lr=1e-2, module__hidden_layer_sizes=(16,)
)
_RULE_FITS = {
    "default_rule": dict(random_state=0),
    "auto_M": dict(random_state=0, M="auto", target_acceptance=0.5, warmup_epochs=1),
    "early_stopping": dict(
        random_state=0,
        max_epochs=30,
        lr=0.3,
        callbacks=[EarlyStopping(monitor="train_loss", patience=1)],
    ),
}


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("distributed")
    start = time.perf_counter()
    done = launch_processes(__file__, out_dir, N_PROCESSES)
    seconds = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = [
        torch.load(out_dir / f"rank{r}.pt", weights_only=False)
        for r in range(N_PROCESSES)
    ]
    print(f"two-process run: {seconds:.1f} s")
    return results


@pytest.mark.parametrize("case", [c[0] for c in _grad_cases()])
def test_averaged_gradient_equals_single_process_gradient(ranks, case):
    _, normalization, mask = next(c for c in _grad_cases() if c[0] == case)
    X, y = _grad_data(0)
    reference = InjectedRSFT(
        batch_size=GRAD_ROWS,
        callbacks=[("first_gradient", FirstGradient())],
        **_grad_params(normalization),
    ).fit(X, y, sample_weight=mask)
    expected = dict(reference.callbacks_)["first_gradient"].grads_
    for result in ranks:
        grads = result["grad"][case]["grads"]
        assert grads.keys() == expected.keys()
        diff = max((grads[k] - expected[k]).abs().max().item() for k in expected)
        print(f"{case}: max |gradient difference| = {diff:.2e}")
        assert diff <= 1e-6
        assert max(v.abs().max().item() for v in grads.values()) > 1e-3
    first, second = (r["grad"][case]["params"] for r in ranks)
    for key, value in _state(reference).items():
        assert torch.equal(first[key], second[key])
        torch.testing.assert_close(first[key], value, rtol=0, atol=1e-5)


def test_short_fit_leaves_identical_parameters_on_every_process(ranks):
    first, second = (r["fit"]["params"] for r in ranks)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    np.testing.assert_array_equal(
        ranks[0]["fit"]["predictions"], ranks[1]["fit"]["predictions"]
    )


def test_logged_acceptance_is_the_mean_over_processes(ranks):
    X, y = _fit_data()
    histories = [r["fit"]["history"] for r in ranks]
    assert histories[0] == histories[1]
    for epoch, row in enumerate(histories[0]):
        local = [r["fit"]["local_stats"][epoch] for r in ranks]
        seen = [stats[0].sum() for stats in local]
        # Equal parts (250 rows per process and epoch): the global rate is
        # the plain mean of the processes' rates.
        assert seen == [250, 250]
        rates = [stats[1].sum() / stats[0].sum() for stats in local]
        assert row["acceptance_rate"] == pytest.approx(np.mean(rates), abs=1e-6)
        # The processes split the shuffled data without overlap.
        np.testing.assert_array_equal(sum(s[0] for s in local), np.bincount(y))
        for k in range(3):
            counts = sum(stats[:, k] for stats in local)
            assert row[f"acceptance_rate[{k}]"] == pytest.approx(
                counts[1] / counts[0], abs=1e-6
            )
        assert 0.0 < row["acceptance_rate"] < 1.0


def _single_process(name):
    X, y = _fit_data()
    params = {**_RULE_BASE, **_RULE_FITS[name]}
    params["batch_size"] *= N_PROCESSES
    return RSFTClassifier(**params).fit(X, y)


def test_the_default_rule_on_two_processes_is_the_single_process_fit(ranks):
    # The logit adjustment's prior after rejection is that of every
    # process's rows: each process had trained on its own (parameters up to
    # 0.06 away from the single-process fit's).
    first, second = (r["default_rule"] for r in ranks)
    for key in first["params"]:
        assert torch.equal(first["params"][key], second["params"][key]), key
    reference = _single_process("default_rule")
    for key, value in _state(reference).items():
        torch.testing.assert_close(first["params"][key], value, rtol=0, atol=1e-5)
    assert json.dumps(first["history"]) == json.dumps(second["history"])
    X, _ = _fit_data()
    np.testing.assert_allclose(
        first["predictions"], reference.predict_proba(X[:20]), atol=1e-5
    )
    # The training loss is the global batches' on both, so it is the
    # single-process loss; the batch sizes are the global batches' too.
    np.testing.assert_allclose(
        [row["train_loss"] for row in first["history"]],
        reference.history[:, "train_loss"],
        rtol=1e-5,
    )
    assert [b["train_batch_size"] for b in first["history"][0]["batches"]] == [
        b["train_batch_size"] for b in reference.history[0]["batches"]
    ]


def test_adaptive_M_is_the_same_on_every_process(ranks):
    # Each process solved M on its own part of the batch: the balanced
    # output of the same parameters differed between the processes.
    first, second = (r["auto_M"] for r in ranks)
    assert torch.equal(first["log_M"], second["log_M"])
    # (json: NaN, the M of the warm-up epoch, equals itself there.)
    assert json.dumps(first["history"]) == json.dumps(second["history"])
    np.testing.assert_array_equal(first["predictions"], second["predictions"])
    reference = _single_process("auto_M")
    # The mean of the processes' log M is near the single-process one.
    assert float(first["log_M"]) == pytest.approx(
        float(reference.criterion_.log_M), abs=0.05
    )


def test_early_stopping_on_the_training_loss_stops_every_process_together(ranks):
    # It stopped one process while the other waited for it forever.
    first, second = (r["early_stopping"] for r in ranks)
    assert json.dumps(first["history"]) == json.dumps(second["history"])
    assert len(first["history"]) < _RULE_FITS["early_stopping"]["max_epochs"]


def test_each_process_draws_its_own_masks(ranks):
    seeds = [r["fit"]["mask_seed"] for r in ranks]
    assert seeds[0] != seeds[1]
    local_rates = [
        [stats[1].sum() / stats[0].sum() for stats in r["fit"]["local_stats"]]
        for r in ranks
    ]
    assert local_rates[0] != local_rates[1]


def test_continued_training_after_unwrapping_stays_data_parallel(ranks):
    # partial_fit after a fit that unwrapped the network trained every
    # process alone on its part of the batches: the replicas drifted apart.
    for unwrap in (True, False):
        for name, value in ranks[0]["continued"][unwrap].items():
            torch.testing.assert_close(
                ranks[1]["continued"][unwrap][name], value, rtol=0, atol=0
            )
    for name, value in ranks[0]["continued"][False].items():
        torch.testing.assert_close(
            ranks[0]["continued"][True][name], value, rtol=0, atol=0
        )


def test_a_refit_of_a_network_left_wrapped_stays_data_parallel(ranks):
    # With unwrap_after_train=False, the refit's new network was left
    # unwrapped and each process trained alone: the replicas drifted apart.
    first, second = (r["refit_wrapped"] for r in ranks)
    assert first["module"] == "DistributedDataParallel"
    for name, value in first["params"].items():
        torch.testing.assert_close(second["params"][name], value, rtol=0, atol=0)


@pytest.mark.parametrize("when", ["rebuilt_during_fit", "rebuilt_between_calls"])
def test_a_network_rebuilt_while_wrapped_stays_data_parallel(ranks, when):
    first, second = (r[when] for r in ranks)
    for name, value in first.items():
        torch.testing.assert_close(second[name], value, rtol=0, atol=0)


def test_parameters_load_on_every_process(ranks):
    for rank in ranks:
        loaded = rank["loaded"]
        assert loaded["device"] is None
        for name, value in loaded["saved"].items():
            torch.testing.assert_close(loaded["params"][name], value, rtol=0, atol=0)


def test_a_fit_failing_after_training_unwraps_the_network(ranks):
    for rank in ranks:
        failed = rank["failed_fit"]
        assert failed["error"] == "failed at the second epoch"
        assert failed["epochs"] == 2
        assert failed["module"] == "MLPModule"


def test_a_criterion_with_parameters_is_refused_on_several_processes(ranks):
    for rank in ranks:
        assert (
            "_TemperedCrossEntropy) has trainable parameters"
            in (rank["trainable_criterion"])
        )


def test_a_criterion_with_parameters_trains_on_one_process():
    from accelerate import Accelerator

    X, y = _fit_data()
    clf = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True),
        criterion=_TemperedCrossEntropy,
        max_epochs=2,
        lr=1e-2,
        random_state=0,
    ).fit(X, y)
    assert clf.criterion_.base_criterion.log_t.item() != 0.0


def test_an_explicit_cpu_device_trains_on_several_processes(ranks):
    # Refused as differing from the accelerator's "cpu:0".
    for name, value in ranks[0]["device_cpu"].items():
        torch.testing.assert_close(ranks[1]["device_cpu"][name], value)


_MIXED_PRECISION_SCRIPT = """
import numpy as np, torch
from accelerate import Accelerator
from rsft_sklearn import AccelerateRSFTClassifier
rng = np.random.default_rng(2)
y = rng.choice(3, size=300, p=[0.7, 0.2, 0.1])
X = rng.normal(size=(300, 6)) + y[:, None] * 0.8
accelerator = Accelerator(cpu=True, mixed_precision="bf16")
states = []
for unwrap in (True, False):
    net = AccelerateRSFTClassifier(accelerator=accelerator, unwrap_after_train=unwrap,
                                   max_epochs=2, random_state=0, lr=1e-2).fit(X, y)
    net.partial_fit(X, y)
    states.append(net.module_.state_dict())
print(max((states[0][k] - states[1][k]).abs().max().item() for k in states[0]))
"""


def test_continued_training_in_mixed_precision_after_unwrapping():
    # On one process accelerate returned the unwrapped module as it was,
    # without the mixed-precision forward that unwrapping had taken off.
    # (Its own process: accelerate keeps one precision per process.)
    assert _last_number_printed(_MIXED_PRECISION_SCRIPT) == 0.0


def _last_number_printed(script):
    """Run ``script`` in a process of its own; return the last line it
    printed, as a number."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    done = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return float(done.stdout.strip().splitlines()[-1])


_UNDONE_IN_MIXED_PRECISION_SCRIPT = """
import numpy as np, torch
from accelerate import Accelerator
from skorch.callbacks import Callback
from rsft_sklearn import AccelerateRSFTClassifier
class FailsAtFirstBatch(Callback):
    def on_batch_begin(self, net, training=False, **kwargs):
        if training:
            raise RuntimeError("fuse")
rng = np.random.default_rng(2)
y = rng.choice(3, size=300, p=[0.7, 0.2, 0.1])
X = rng.normal(size=(300, 6)) + y[:, None] * 0.8
accelerator = Accelerator(cpu=True, mixed_precision="bf16")
net = AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=2,
                               random_state=0, lr=1e-2).fit(X, y)
before = net.predict_proba(X)
net.set_params(callbacks=[FailsAtFirstBatch()])
try:
    net.partial_fit(X, y)
except RuntimeError:
    pass
print(np.abs(net.predict_proba(X) - before).max())
"""


def test_a_call_undone_in_mixed_precision_leaves_the_network_unwrapped():
    # The call prepared the network in place (accelerate's mixed-precision
    # forward) before it failed at its first batch: the estimator put back
    # kept that forward, and predict_proba moved by 0.002.
    assert _last_number_printed(_UNDONE_IN_MIXED_PRECISION_SCRIPT) == 0.0


_CHECKPOINT_IN_MIXED_PRECISION_SCRIPT = """
import tempfile
import numpy as np
from accelerate import Accelerator
from skorch.callbacks import Callback, Checkpoint
from rsft_sklearn import AccelerateRSFTClassifier
class Probe(Callback):
    def initialize(self):
        self.full_precision_epochs = 0
        return self
    def on_epoch_begin(self, net, **kwargs):
        # accelerate wraps the forward in autocast.
        if not hasattr(net.module_.forward, "__wrapped__"):
            self.full_precision_epochs += 1
rng = np.random.default_rng(2)
y = rng.choice(3, size=300, p=[0.7, 0.2, 0.1])
X = rng.normal(size=(300, 6)) + y[:, None] * 0.8
probe = Probe()
AccelerateRSFTClassifier(
    accelerator=Accelerator(cpu=True, mixed_precision="bf16"),
    max_epochs=3,
    random_state=0,
    callbacks=[probe, Checkpoint(dirname=tempfile.mkdtemp(), monitor=None)],
).fit(X, y)
print(probe.full_precision_epochs)
"""


def test_a_checkpoint_keeps_the_rest_of_the_fit_in_mixed_precision():
    # skorch unwraps the network to save it, then prepares it again; on one
    # process accelerate returned it as it was, without the mixed-precision
    # forward that unwrapping took off: the epochs after the first save
    # trained in full precision.
    assert _last_number_printed(_CHECKPOINT_IN_MIXED_PRECISION_SCRIPT) == 0


_UNPICKLED_ELSEWHERE_SCRIPT = """
import pickle, sys
import numpy as np
from accelerate import Accelerator
X, y = np.load(sys.argv[1] + "/X.npy"), np.load(sys.argv[1] + "/y.npy")
net = pickle.load(open(sys.argv[1] + "/net.pkl", "rb"))
try:
    net.partial_fit(X, y)
except ValueError as exc:
    assert "has not set up its state" in str(exc), exc
else:
    raise AssertionError("trained with an accelerator from another process")
net.set_params(accelerator=Accelerator(cpu=True))
net.partial_fit(X, y)
print(len(net.history))
"""


def test_an_accelerator_unpickled_where_none_was_created_is_refused(tmp_path):
    # Training failed deep inside accelerate ("Please make sure to properly
    # initialize your accelerator"), and the process could then create no
    # Accelerator.
    import pickle

    from accelerate import Accelerator

    X, y = _fit_data()
    net = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True),
        **{**_RULE_BASE, "max_epochs": 1, "random_state": 0},
    ).fit(X, y)
    (tmp_path / "net.pkl").write_bytes(pickle.dumps(net))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", y)
    script = _UNPICKLED_ELSEWHERE_SCRIPT.replace("sys.argv[1]", repr(str(tmp_path)))
    assert _last_number_printed(script) == 2


def test_a_pickle_during_a_scheduled_fit(tmp_path):
    # accelerate's optimiser pickled the wrapper of step that torch's
    # scheduler puts on it: Checkpoint(f_pickle=...) failed the fit.
    import pickle

    from accelerate import Accelerator
    from skorch.callbacks import Checkpoint, LRScheduler

    X, y = _fit_data()
    net = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True),
        callbacks=[
            LRScheduler(policy="StepLR", step_size=1),
            Checkpoint(dirname=str(tmp_path), monitor=None, f_pickle="net.pkl"),
        ],
        **{**_RULE_BASE, "max_epochs": 2, "random_state": 0},
    ).fit(X, y)
    saved = pickle.loads((tmp_path / "net.pkl").read_bytes())
    np.testing.assert_array_equal(saved.predict_proba(X), net.predict_proba(X))


_LOADED_IN_MIXED_PRECISION_SCRIPT = """
import tempfile
import numpy as np
from accelerate import Accelerator
from rsft_sklearn import AccelerateRSFTClassifier
rng = np.random.default_rng(2)
y = rng.choice(3, size=300, p=[0.7, 0.2, 0.1])
X = rng.normal(size=(300, 6)) + y[:, None] * 0.8
accelerator = Accelerator(cpu=True, mixed_precision="bf16")
fitted = AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=2,
                                  random_state=0, probability="raw").fit(X, y)
path = tempfile.mkdtemp() + "/params.pt"
fitted.save_params(f_params=path)
loaded = AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=2,
                                  random_state=0, classes=[0, 1, 2],
                                  probability="raw",
                                  module__n_features=6, module__n_classes=3)
loaded.initialize()
loaded.load_params(f_params=path)
print(np.abs(loaded.predict_proba(X) - fitted.predict_proba(X)).max())
"""


def test_loaded_parameters_predict_as_the_fitted_estimator():
    # After initialize() and load_params, the network stayed prepared and
    # predicted through bf16 autocast, 1e-3 away from the estimator whose
    # parameters it loaded (which predicts in full precision).
    assert _last_number_printed(_LOADED_IN_MIXED_PRECISION_SCRIPT) == 0.0


def test_the_accelerator_lists_nothing_of_failed_rebuilt_or_saved_fits(tmp_path):
    # An undone refit left its network and optimiser listed; so did the
    # network and optimiser that a rebuild replaced; and each save during a
    # fit listed the network once more.
    from accelerate import Accelerator
    from skorch.callbacks import Callback, Checkpoint

    class Counts(Callback):
        def initialize(self):
            self.models = []
            return self

        def on_epoch_end(self, net, **kwargs):
            self.models.append(len(net.accelerator._models))

    class Rebuild(Callback):
        def on_epoch_begin(self, net, **kwargs):
            if len(net.history) == 2:
                net.set_params(module__dropout=0.25)

    class FailsAtFirstBatch(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                raise RuntimeError("fuse")

    X, y = _fit_data()
    accelerator = Accelerator(cpu=True)
    counts = Counts()
    net = AccelerateRSFTClassifier(
        accelerator=accelerator,
        callbacks=[
            Rebuild(),
            Checkpoint(dirname=str(tmp_path), monitor=None),
            ("counts", counts),
        ],
        **{**_RULE_BASE, "max_epochs": 3, "random_state": 0},
    ).fit(X, y)
    assert counts.models == [1, 1, 1]
    assert accelerator._models == accelerator._optimizers == []
    net.set_params(callbacks=[FailsAtFirstBatch()])
    with pytest.raises(RuntimeError, match="fuse"):
        net.fit(X, y)
    assert accelerator._models == accelerator._optimizers == []


def test_load_params_leaves_the_device_parameter_alone(tmp_path):
    # skorch wrote the device it loaded with into the parameter: a clone
    # then had device="cpu" where the user left None.
    from accelerate import Accelerator

    X, y = _fit_data()
    net = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True), **{**_RULE_BASE, "max_epochs": 1}
    ).fit(X, y)
    net.save_params(f_params=str(tmp_path / "params.pt"))
    net.load_params(f_params=str(tmp_path / "params.pt"))
    assert net.get_params()["device"] is None


def test_the_accelerator_keeps_no_finished_fit_and_fits_pickle():
    # The accelerator listed every network, optimiser and scheduler it
    # prepared: a search's fits all stayed in memory, and each estimator's
    # pickle held those of every fit before it. After a fit with a torch
    # learning-rate scheduler (whose wrapper of optimizer.step pickle
    # cannot take), no estimator of the accelerator pickled.
    import pickle

    from accelerate import Accelerator
    from skorch.callbacks import LRScheduler

    X, y = _fit_data()
    accelerator = Accelerator(cpu=True)
    sizes, fitted = [], []
    for callbacks in ([LRScheduler(policy="StepLR", step_size=1)], None, None):
        net = AccelerateRSFTClassifier(
            accelerator=accelerator,
            callbacks=callbacks,
            **{**_RULE_BASE, "max_epochs": 2, "random_state": 0},
        ).fit(X, y)
        sizes.append(len(pickle.dumps(net)))
        assert accelerator._models == accelerator._optimizers == []
        assert accelerator._schedulers == []
        fitted.append(net)
    assert sizes[1] == sizes[2]
    # Each still pickles after later fits prepared other optimisers.
    for earlier in fitted:
        pickle.dumps(earlier)
    # Continued training after the pickle, and of the unpickled copy.
    copy = pickle.loads(pickle.dumps(net))
    np.testing.assert_array_equal(copy.predict_proba(X), net.predict_proba(X))
    net.partial_fit(X, y)


def test_continued_training_wraps_an_optimizer_rebuilt_since_the_fit():
    # set_params(module__...) rebuilds a plain optimizer; continued training
    # left it without the accelerator's wrapper (which unscales
    # mixed-precision steps).
    from accelerate import Accelerator
    from accelerate.optimizer import AcceleratedOptimizer

    X, y = _fit_data()
    clf = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True), max_epochs=1, random_state=0
    ).fit(X, y)
    assert isinstance(clf.optimizer_, AcceleratedOptimizer)
    clf.set_params(module__hidden_layer_sizes=(8,))
    assert not isinstance(clf.optimizer_, AcceleratedOptimizer)
    clf.partial_fit(X, y)
    assert isinstance(clf.optimizer_, AcceleratedOptimizer)


def test_gradient_accumulation_is_refused():
    # skorch zeroes the gradients at every step: all but the last
    # micro-batch's gradient were lost without a word.
    from accelerate import Accelerator

    X, y = _fit_data()
    accelerator = Accelerator(cpu=True, gradient_accumulation_steps=2)
    clf = AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=1)
    with pytest.raises(ValueError, match="accumulates gradients over 2 steps"):
        clf.fit(X, y)


def test_lbfgs_is_refused_with_a_message():
    # skorch's AccelerateMixin steps the optimiser without a closure: LBFGS
    # failed inside torch ("'NoneType' object is not callable").
    from accelerate import Accelerator

    X, y = _fit_data()
    clf = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True), optimizer=torch.optim.LBFGS, max_epochs=1
    )
    with pytest.raises(ValueError, match="LBFGS needs a closure"):
        clf.fit(X, y)


def test_different_data_on_the_processes_is_an_error(ranks):
    for result in ranks:
        assert "must fit on the same X and y" in result.get("different_data", "")


def test_one_process_trains_like_rsft_classifier():
    from accelerate import Accelerator

    X, y = _fit_data()
    params = dict(M=2.0, batch_size=64, max_epochs=2, random_state=0, **SAMPLE_RULE)
    accelerated = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True), **params
    ).fit(X, y)
    plain = RSFTClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(accelerated.predict_proba(X), plain.predict_proba(X))
    assert (
        accelerated.history[:, "acceptance_rate"] == plain.history[:, "acceptance_rate"]
    )


def test_device_defaults_to_the_accelerator_and_survives_clone():
    from accelerate import Accelerator
    from sklearn.base import clone

    accelerator = Accelerator(cpu=True)
    clf = AccelerateRSFTClassifier(accelerator=accelerator, M=3.0)
    assert clf.get_params()["device"] is None
    assert clf.device == accelerator.device
    copy = clone(clf)
    assert copy.get_params()["device"] is None and copy.M == 3.0
    X, y = _fit_data()
    with pytest.raises(ValueError, match="differs from the accelerator's device"):
        AccelerateRSFTClassifier(accelerator=accelerator, device="cuda").fit(X, y)
    with pytest.raises(ValueError, match="device='gpu' is not a torch device"):
        AccelerateRSFTClassifier(accelerator=accelerator, device="gpu").fit(X, y)
    # An indexed CPU device is this CPU: accepted, as RSFTClassifier does.
    AccelerateRSFTClassifier(accelerator=accelerator, device="cpu:0", max_epochs=1).fit(
        X, y
    )


def test_fit_leaves_the_print_log_sink_parameter_auto():
    # skorch resolved "auto" by writing the accelerator's print into the
    # parameter: get_params changed across fit, a clone kept the resolved
    # sink, and a quiet fit's plain print stayed for a later verbose fit.
    from accelerate import Accelerator
    from sklearn.base import clone

    accelerator = Accelerator(cpu=True)
    clf = AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=1)
    X, y = _fit_data()
    before = clf.get_params(deep=False)
    clf.fit(X, y)
    assert clf.get_params(deep=False)["callbacks__print_log__sink"] == "auto"
    assert clone(clf).get_params(deep=False).keys() == before.keys()
    assert clone(clf).callbacks__print_log__sink == "auto"
    assert dict(clf.callbacks_)["print_log"].sink is print
    clf.set_params(verbose=1)
    with contextlib.redirect_stdout(io.StringIO()):
        clf.fit(X, y)
    assert dict(clf.callbacks_)["print_log"].sink == accelerator.print
    assert clf.callbacks__print_log__sink == "auto"


def test_device_none_survives_pickling_without_a_warning():
    # skorch's unpickling turned device=None into the device it loaded onto
    # (with a DeviceWarning), which a CUDA accelerator would then refuse.
    import pickle

    from accelerate import Accelerator

    clf = AccelerateRSFTClassifier(accelerator=Accelerator(cpu=True), max_epochs=1)
    X, y = _fit_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        unfitted = pickle.loads(pickle.dumps(clf))
        fitted = pickle.loads(pickle.dumps(clf.fit(X, y)))
    for copy in (unfitted, fitted):
        assert copy.get_params()["device"] is None
    np.testing.assert_allclose(fitted.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("accelerator", [None, "cpu", "Accelerator class"])
def test_accelerator_must_be_an_accelerator(accelerator):
    from accelerate import Accelerator
    from sklearn.base import clone

    if accelerator == "Accelerator class":
        accelerator = Accelerator
    X, y = _fit_data()
    with pytest.raises(TypeError, match="must be an accelerate.Accelerator instance"):
        AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=1).fit(X, y)
    # get_params and clone (a search) report what was given, and raise
    # nothing: they read the accelerator's device, an AttributeError.
    clf = AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=1)
    assert clone(clf).get_params()["accelerator"] is accelerator
    assert clf.get_params()["device"] is None


def test_an_accelerator_of_several_processes_without_a_process_group_is_refused(
    monkeypatch,
):
    # What an estimator unpickled outside its launch holds: it trained on one
    # part of every batch, alone (half the rows on two processes).
    from accelerate import Accelerator

    accelerator = Accelerator(cpu=True)
    monkeypatch.setattr(Accelerator, "num_processes", property(lambda self: 2))
    X, y = _fit_data()
    with pytest.raises(ValueError, match="no process group runs in this one"):
        AccelerateRSFTClassifier(accelerator=accelerator, max_epochs=1).fit(X, y)


if __name__ == "__main__":
    _worker(sys.argv[1])
