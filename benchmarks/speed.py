"""Speed of RSFTClassifier against a bare loop, skorch and the resamplers.

Every contender is fitted once per repeat, in the same process and in
interleaved order, so that a slow period of the machine hits all of them; the
ratios are taken between medians over the repeats. Run from the repository
root::

    python benchmarks/speed.py                # writes docs/speed.md
    python benchmarks/speed.py --quick --out -   # a smoke run, prints only

Ratios (see ``TARGETS``):

a) RSFT fit / the same masked step as a bare PyTorch loop;
b) plain skorch ``NeuralNetClassifier`` fit / RSFT fit (a speed-up);
c) RSFT ``compact=True`` / ``compact=False`` epoch time at acceptance 1/4,
   with a compute-heavy MLP;
d) RSFT (defaults) / ``SMOTE`` + the same network, and RSFT /
   ``RandomUnderSampler`` + the same network.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import imblearn
import numpy as np
import sklearn
import skorch
import torch
from imblearn.over_sampling import SMOTE
from imblearn.pipeline import make_pipeline
from imblearn.under_sampling import RandomUnderSampler
from sklearn.datasets import make_classification
from skorch import NeuralNetClassifier

import rsft_sklearn
from rsft_sklearn import (
    MLPModule,
    RSFTClassifier,
    acceptance_probability,
    class_target_weight,
    rejection_mask,
)

TARGETS = {
    "a": ("RSFT / bare PyTorch loop", "<=", 1.25),
    "b": ("plain skorch / RSFT", ">=", 1.6),
    "c": ("compact=True / compact=False (epoch time)", "<=", 0.6),
    "d_smote": ("RSFT / SMOTE + same net", "<=", 1.0),
    "d_rus": ("RSFT / RandomUnderSampler + same net", "<=", 1.5),
    "d_rus_epoch": (
        "RSFT rejection='epoch' / RandomUnderSampler + same net",
        "<=",
        1.5,
    ),
}


def tabular(n, n_features, seed=0):
    X, y = make_classification(
        n_samples=n,
        n_features=n_features,
        n_informative=n_features // 2,
        weights=[0.9],
        flip_y=0.01,
        random_state=seed,
    )
    return X.astype(np.float32), y


def bare_loop(X, y, epochs, batch_size, seed=0):
    """The masked step of RSFTClassifier's defaults, written out by hand."""
    torch.manual_seed(seed)
    Xt, yt = torch.as_tensor(X), torch.as_tensor(y)
    module = MLPModule(X.shape[1], 2)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3)
    criterion = torch.nn.CrossEntropyLoss(reduction="none")
    weight = torch.as_tensor(class_target_weight(y, 2), dtype=torch.float32)
    generator = torch.Generator().manual_seed(seed)
    tiny = torch.finfo(torch.float32).tiny
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=generator)
        for start in range(0, len(Xt), batch_size):
            rows = order[start : start + batch_size]
            Xb, yb = Xt.index_select(0, rows), yt.index_select(0, rows)
            optimizer.zero_grad()
            logits = module(Xb)
            acceptance = acceptance_probability(logits, yb, weight[yb], 1.0, 1.0)
            mask = rejection_mask(acceptance, generator)
            loss = (criterion(logits, yb) * mask).sum() / mask.sum().clamp(min=tiny)
            loss.backward()
            optimizer.step()
    return module


def plain_skorch(X, y, epochs, batch_size, seed=0):
    torch.manual_seed(seed)
    return NeuralNetClassifier(
        MLPModule,
        module__n_features=X.shape[1],
        module__n_classes=2,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=epochs,
        batch_size=batch_size,
        train_split=None,
        verbose=0,
    ).fit(X, y)


def rsft(X, y, epochs, batch_size, seed=0, **params):
    return RSFTClassifier(
        max_epochs=epochs, batch_size=batch_size, random_state=seed, **params
    ).fit(X, y)


def resampled(sampler, X, y, epochs, batch_size, seed=0):
    # warmup_epochs=max_epochs never rejects: plain training of the same net.
    net = RSFTClassifier(
        max_epochs=epochs,
        batch_size=batch_size,
        warmup_epochs=epochs,
        random_state=seed,
    )
    return make_pipeline(sampler, net).fit(X, y)


def timed(fn):
    """Return ``(wall-clock seconds, CPU seconds of this process)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu


def contenders(args):
    X, y = tabular(args.rows, 20)
    Xc, yc = tabular(args.rows, 64, seed=1)
    e, b = args.epochs, args.batch_size
    heavy = {
        "module__hidden_layer_sizes": (args.width,) * 3,
        "hardness": 0.0,
        "M": 4.0,
        "target": {0: 0.25, 1: 0.25},
    }
    return {
        "bare PyTorch loop": lambda: bare_loop(X, y, e, b),
        "RSFT": lambda: rsft(X, y, e, b),
        "RSFT compact='auto'": lambda: rsft(X, y, e, b, compact="auto"),
        "RSFT rejection='epoch'": lambda: rsft(X, y, e, b, rejection="epoch"),
        "plain skorch": lambda: plain_skorch(X, y, e, b),
        "RandomUnderSampler + net": lambda: resampled(
            RandomUnderSampler(random_state=0), X, y, e, b
        ),
        "SMOTE + net": lambda: resampled(SMOTE(random_state=0), X, y, e, b),
        "heavy, compact=False": lambda: rsft(
            Xc, yc, args.heavy_epochs, b, compact=False, **heavy
        ),
        "heavy, compact=True": lambda: rsft(
            Xc, yc, args.heavy_epochs, b, compact=True, **heavy
        ),
    }


def measure(args):
    runs = contenders(args)
    times = {name: [] for name in runs}
    # One untimed round loads every code path (lazy imports, allocator).
    for fn in runs.values():
        timed(fn)
    for repeat in range(args.repeats):
        names = list(runs)
        # Rotate the order so that no contender always runs first.
        names = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in names:
            times[name].append(timed(runs[name]))
            wall, cpu = times[name][-1]
            print(f"repeat {repeat + 1}: {name:28s} {wall:8.2f} s, CPU {cpu:8.2f} s")
    return {
        clock: {
            name: statistics.median(v[i] for v in values)
            for name, values in times.items()
        }
        for i, clock in enumerate(("wall", "cpu"))
    }


def ratios(median):
    return {
        "a": median["RSFT"] / median["bare PyTorch loop"],
        "b": median["plain skorch"] / median["RSFT"],
        "c": median["heavy, compact=True"] / median["heavy, compact=False"],
        "d_smote": median["RSFT"] / median["SMOTE + net"],
        "d_rus": median["RSFT"] / median["RandomUnderSampler + net"],
        "d_rus_epoch": median["RSFT rejection='epoch'"]
        / median["RandomUnderSampler + net"],
    }


def report(args, median, command):
    ratio = ratios(median["cpu"])
    wall_ratio = ratios(median["wall"])
    met = {
        key: (ratio[key] <= bound if op == "<=" else ratio[key] >= bound)
        for key, (_, op, bound) in TARGETS.items()
    }
    lines = [
        "# Speed",
        "",
        "Produced by `benchmarks/speed.py`; do not edit by hand.",
        "",
        f"- Command: `{command}`",
        f"- Date: {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {platform.machine()}, {platform.processor() or 'unknown CPU'}, "
        f"{os.cpu_count()} cores, torch threads {torch.get_num_threads()}, "
        f"load average at the end {os.getloadavg()[0]:.1f}",
        f"- Versions: Python {platform.python_version()}, torch {torch.__version__}, "
        f"skorch {skorch.__version__}, scikit-learn {sklearn.__version__}, "
        f"imbalanced-learn {imblearn.__version__}, "
        f"rsft-sklearn {rsft_sklearn.__version__}",
        f"- Data: {args.rows} x 20 rows, imbalance 9:1, MLP(64, 64), "
        f"{args.epochs} epochs, batch {args.batch_size}; (c): {args.rows} x 64, "
        f"MLP({args.width}, {args.width}, {args.width}), {args.heavy_epochs} "
        "epoch(s), acceptance 1/4",
        f"- Median of {args.repeats} interleaved repeats, after one untimed round",
        "- Ratios are taken on the CPU time of the process, which other jobs on "
        "a shared machine disturb far less than wall-clock time; the wall-clock "
        "ratio is shown beside it",
        "",
        "| fit | median CPU seconds | median wall seconds |",
        "|---|---|---|",
        *(
            f"| {name} | {median['cpu'][name]:.2f} | {median['wall'][name]:.2f} |"
            for name in median["cpu"]
        ),
        "",
        "| ratio | measured (CPU time) | wall clock | target | met |",
        "|---|---|---|---|---|",
        *(
            f"| ({key[0]}) {label} | {ratio[key]:.2f} | {wall_ratio[key]:.2f} | "
            f"{op} {bound} | {'yes' if met[key] else 'no'} |"
            for key, (label, op, bound) in TARGETS.items()
        ),
        "",
    ]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--heavy-epochs", type=int, default=1)
    parser.add_argument("--width", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat")
    parser.add_argument("--out", default="docs/speed.md", help="'-' prints only")
    args = parser.parse_args(argv)
    if args.quick:
        args.rows, args.epochs, args.width, args.repeats = 2000, 2, 128, 1
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python benchmarks/speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    median = measure(args)
    text = report(args, median, command.strip())
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
