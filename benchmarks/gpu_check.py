"""CUDA check: the rejection step stays on the device, and throughput.

Run through ``benchmarks/gpu_check.sh`` (which installs what is missing), or
directly with ``PYTHONPATH=. python benchmarks/gpu_check.py`` on a machine
with an NVIDIA GPU. It

1. fits ``RSFTClassifier(device="cuda")`` with every training batch, from
   ``on_batch_begin`` to ``on_batch_end``, run under
   ``torch.cuda.set_sync_debug_mode("error")``, so any host
   synchronisation in the step (mask, statistics, the all-rejected guard,
   the optimiser) or in skorch's recording of the batch's loss raises; the
   modes checked include the default (fused Adam), a snapshot-guarded
   optimiser, ``rejection="pool"`` and ``rejection="budget"`` (warm-up
   included), whose one read per pool happens between batches;
2. checks that the mask generator and the epoch statistics live on the GPU;
3. prints samples per second of plain skorch and of RSFT at batch sizes 256
   and 4096, of RSFT with ``compact=True`` at acceptance 1/4, of
   ``rejection="pool"`` and of ``rejection="budget"`` at budgets 0.5, 0.25
   and 0.1 and at 0.25 with ``rescore_every=8``, each budget with its fit
   time over the expected rule's and its share of rows that got a backward
   pass;
4. prints issue #21's speed ratios on the device, as ``benchmarks/speed.py``
   defines them (wall-clock, synchronised, median of interleaved repeats):
   (a) the RSFT fit with the per-batch masked rule over a bare PyTorch loop
   doing the same masked step, and, on the fars-shaped set, the pool fit
   and the budgeted fit over their floors (a gradient-free pass over every
   row plus plain training on as many rows as they kept).

``--device cpu --quick`` runs the same code at a tiny scale on the CPU (no
synchronisation check there), to check the script itself; options given win
over ``--quick``'s sizes.

Exit status 0 means every check passed; Ctrl-C stops the script with exit
status 130 (a fit cut short is not timed as a whole one).
"""

import argparse
import statistics
import sys
import time
from functools import partial
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_classification
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

from rsft_sklearn import MLPModule, RSFTClassifier
from rsft_sklearn._validation import check_device
from rsft_sklearn.benchmark._cli import positive
from rsft_sklearn.benchmark._runner import _interrupt_seen

# hardness=0 with these weights accepts every row with probability 1/4.
QUARTER = {"hardness": 0.0, "M": 4.0, "target": {0: 0.25, 1: 0.25}, "compact": True}


class SyncFreeBatch(Callback):
    """Make any host synchronisation within a training batch an error."""

    def on_batch_begin(self, net, training=None, **kwargs):
        if training and torch.device(net.device).type == "cuda":
            self.previous = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")

    def on_batch_end(self, net, training=None, **kwargs):
        if training and torch.device(net.device).type == "cuda":
            torch.cuda.set_sync_debug_mode(self.previous)


class DeviceState(Callback):
    """Record where the mask generator and the statistics live."""

    def initialize(self):
        self.devices = set()
        return self

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.devices.add(net.criterion_.counts.device.type)
            self.devices.add(net.mask_generator_.device.type)


# The per-batch masked rule from the first epoch: what the checks exercise
# (the defaults weight the loss after five plain epochs).
SAMPLE_RULE = {"rejection": "sample", "warmup_epochs": 0}


def data(n, n_features=64, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=n_features,
        n_informative=n_features // 2,
        weights=[0.9],
        random_state=seed,
    )
    return X.astype(np.float32), y


def _synchronize(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def timed_fit(make, X, y, device):
    """Seconds of a fit (after a small untimed one) and the fitted net."""
    make().fit(X[:2048], y[:2048])
    _synchronize(device)
    start = time.perf_counter()
    net = make().fit(X, y)
    _synchronize(device)
    return time.perf_counter() - start, net


def issue_21_ratios(device, quick, repeats=3):
    """The step and floor ratios of ``benchmarks/speed.py`` on ``device``."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import speed

    def clock(fn):
        _synchronize(device)
        start = time.perf_counter()
        result = fn()
        _synchronize(device)
        return time.perf_counter() - start, result

    X, y = speed.tabular(4000 if quick else 20_000, 20)
    fars_X, _, fars_y, _ = speed.fars_shaped(5000 if quick else 40_000)
    epochs, batch = 5, 128
    runs = {
        "bare loop": lambda: speed.bare_loop(X, y, epochs, batch, device=device),
        "RSFT": lambda: speed.rsft(X, y, epochs, batch, device=device),
    }
    for name in ("pool", "budget"):
        extra = {"budget": 0.25} if name == "budget" else {}
        runs[name] = partial(
            speed.rsft, fars_X, fars_y, epochs, batch, rejection=name,
            device=device, **extra,
        )  # fmt: skip
    runs["budget bare loop"] = partial(
        speed.bare_budget_loop, fars_X, fars_y, epochs, batch, 0.25, device=device
    )
    times = {name: [] for name in (*runs, "pool floor", "budget floor")}
    for fn in runs.values():
        # An untimed round: kernels load, the allocator warms up.
        fn()
    for _ in range(repeats):
        for name, fn in runs.items():
            seconds, net = clock(fn)
            times[name].append(seconds)
            if name in ("pool", "budget"):
                floor = partial(
                    speed.pool_floor, fars_X, fars_y, speed.floor_epochs(net),
                    net.pool_size * batch, batch, device=device,
                )  # fmt: skip
                seconds, _ = clock(floor)
                times[f"{name} floor"].append(seconds)
    median = {name: statistics.median(values) for name, values in times.items()}
    for label, ratio, bound in (
        (
            "(a) RSFT fit / bare PyTorch loop",
            median["RSFT"] / median["bare loop"],
            1.15,
        ),
        (
            "fars-shaped: pool fit / its floor",
            median["pool"] / median["pool floor"],
            1.2,
        ),
        (
            "fars-shaped: budget fit / its floor",
            median["budget"] / median["budget floor"],
            1.2,
        ),
        (
            "fars-shaped: budget fit / bare budget loop",
            median["budget"] / median["budget bare loop"],
            1.15,
        ),
    ):
        print(f"{label:40s} {ratio:6.2f}  (target <= {bound})")


def backward_share(net, n_rows):
    """Rows that got a backward pass over rows times epochs."""
    rows = sum(b["train_batch_size"] for e in net.history for b in e["batches"])
    return rows / (n_rows * len(net.history))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--rows", type=positive(int), help="default 100000, 6000 with --quick"
    )
    parser.add_argument("--epochs", type=positive(int), default=2)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    args = parser.parse_args(argv)
    device = args.device
    # Options given win over the preset (--quick replaced --rows silently).
    if args.rows is None:
        args.rows = 6000 if args.quick else 100_000
    try:
        cuda = torch.device(device).type == "cuda"
    except (RuntimeError, TypeError):
        cuda = False
    if cuda and not torch.cuda.is_available():
        print("no CUDA device visible to torch", file=sys.stderr)
        return 2
    try:
        check_device(device)
    except ValueError as exc:
        # Before, torch's error came at the first tensor, or at the first
        # fit, after the header.
        parser.error(f"--device: {exc}")
    try:
        # skorch ends a fit quietly on Ctrl-C, and the checks went on.
        with _interrupt_seen():
            return _check(args, device, cuda)
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return 130


def _check(args, device, cuda):
    """The checks of :func:`main`; its exit status."""
    name = torch.cuda.get_device_name() if cuda else device
    print(f"device: {name}, torch {torch.__version__}")
    X, y = data(args.rows)
    small = min(20_000, args.rows)

    state = DeviceState()
    for params in (
        {},
        {"hardness": 0.0, "M": 2.0},
        {"rejection": "expected"},
        {"optimizer__foreach": True},
        {"rejection": "pool"},
        {"rejection": "budget", "budget": 0.25, "warmup_epochs": 1},
    ):
        net = RSFTClassifier(
            device=device,
            max_epochs=2,
            batch_size=512,
            random_state=0,
            callbacks=[("device_state", state), ("sync_free", SyncFreeBatch())],
            **{**SAMPLE_RULE, **params},
        ).fit(X[:small], y[:small])
        rate = net.history[-1, "acceptance_rate"]
        print(f"sync-free step {params or 'defaults'}: ok, acceptance {rate:.3f}")
    if state.devices != {torch.device(device).type}:
        print(f"FAIL: rejection state on {sorted(state.devices)}", file=sys.stderr)
        return 1
    print("mask generator and statistics on the device: ok")

    hidden = (64,) if args.quick else (256, 256)
    for batch_size in (256,) if args.quick else (256, 4096):

        def skorch_net(batch_size=batch_size):
            return NeuralNetClassifier(
                MLPModule,
                module__n_features=X.shape[1],
                module__n_classes=2,
                module__hidden_layer_sizes=hidden,
                criterion=torch.nn.CrossEntropyLoss,
                max_epochs=args.epochs,
                batch_size=batch_size,
                train_split=None,
                device=device,
                verbose=0,
            )

        def rsft_net(batch_size=batch_size, **params):
            return RSFTClassifier(
                module__hidden_layer_sizes=hidden,
                max_epochs=args.epochs,
                batch_size=batch_size,
                device=device,
                random_state=0,
                **{**SAMPLE_RULE, **params},
            )

        for name, make in (
            ("plain skorch", skorch_net),
            ("RSFT", rsft_net),
            ("RSFT compact=True, acceptance 1/4", partial(rsft_net, **QUARTER)),
            ("RSFT rejection='pool'", partial(rsft_net, rejection="pool")),
        ):
            seconds, _ = timed_fit(make, X, y, device)
            rate = len(X) * args.epochs / seconds
            print(f"batch {batch_size:5d}  {name:36s} {rate:12,.0f} samples/s")
        expected, _ = timed_fit(partial(rsft_net, rejection="expected"), X, y, device)
        print(f"batch {batch_size:5d}  RSFT rejection='expected' {expected:.2f} s")
        for budget, rescore in ((0.5, 1), (0.25, 1), (0.1, 1), (0.25, 8)):
            make = partial(
                rsft_net, rejection="budget", budget=budget, rescore_every=rescore
            )
            seconds, net = timed_fit(make, X, y, device)
            rate = len(X) * args.epochs / seconds
            label = f"budget={budget:g}" + (
                f", rescore={rescore}" if rescore > 1 else ""
            )
            print(
                f"batch {batch_size:5d}  RSFT {label:<32s}"
                f"{rate:12,.0f} samples/s  fit / expected rule "
                f"{seconds / expected:.2f}  backward share "
                f"{backward_share(net, len(X)):.3f}"
            )
    print("issue #21 ratios (wall-clock, median of interleaved repeats):")
    issue_21_ratios(device, args.quick, repeats=2 if args.quick else 3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
