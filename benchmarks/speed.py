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
d) RSFT with the per-batch masked rule of (a) (not the estimator's
   defaults) / ``SMOTE`` + the same network, and RSFT /
   ``RandomUnderSampler`` + the same network;
e) on a synthetic set shaped like KEEL's ``fars`` (100k rows, 500 features,
   8 long-tailed classes; ``--fars-rows`` shrinks it): the time
   ``rejection="pool"`` needs to reach the test balanced accuracy of
   per-batch RSFT (within 0.005, as many epochs as it needs) over per-batch
   RSFT's time, and the pooled fit over its floor (gradient-free passes over
   all rows plus plain training on the accepted number of rows, both
   measured as bare PyTorch); and the budgeted fit (``rejection="budget"``,
   ``--budget`` of the rows, as many epochs as per-batch RSFT) over its floor:
   a gradient-free pass over every row plus plain training on as many rows as
   it kept; and the budgeted fit over the same budgeted step written as a
   bare PyTorch loop (the scoring per pool, the rule's acceptances,
   ``budget_selection`` and the weighted loss), which splits the fit's cost
   above its floor into the budget's own arithmetic and the estimator's
   overhead.

Ctrl-C stops the script with exit status 130 and writes nothing: the fit
it cut short is not timed as a whole one.
"""

import argparse
import math
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
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import train_test_split
from skorch import NeuralNetClassifier
from skorch.callbacks import Callback

import rsft_sklearn
from rsft_sklearn import (
    MLPModule,
    RSFTClassifier,
    acceptance_probability,
    budget_selection,
    class_target_weight,
    rejection_mask,
)
from rsft_sklearn._epochs import warmup_epoch_count
from rsft_sklearn._selection import check_budget
from rsft_sklearn.benchmark._cli import positive, writable_file
from rsft_sklearn.benchmark._runner import _interrupt_seen

TARGETS = {
    "a": ("RSFT / bare PyTorch loop", "<=", 1.15),
    "b": ("plain skorch / RSFT", ">=", 1.6),
    "c": ("compact=True / compact=False (epoch time)", "<=", 0.6),
    "d_smote": ("RSFT / SMOTE + same net", "<=", 1.0),
    "d_rus": ("RSFT / RandomUnderSampler + same net", "<=", 1.5),
    "d_rus_epoch": (
        "RSFT rejection='epoch' / RandomUnderSampler + same net",
        "<=",
        1.5,
    ),
    "d_rus_pool": (
        "RSFT rejection='pool' / RandomUnderSampler + same net",
        "<=",
        1.5,
    ),
    "e_quality": (
        "fars-shaped: pool's time to per-batch RSFT's balanced accuracy "
        "/ per-batch RSFT's time",
        "<=",
        0.4,
    ),
    "e_floor": ("fars-shaped: pool fit / its floor", "<=", 1.2),
    "e_budget_floor": ("fars-shaped: budget fit / its floor", "<=", 1.2),
    "e_budget_bare": (
        "fars-shaped: budget fit / the same budget step as a bare PyTorch loop",
        "<=",
        1.15,
    ),
}
# Classes of the fars-shaped set, the largest first; a geometric tail, the
# largest about 270 times the smallest.
FARS_SHARES = 0.45 ** np.arange(8)
# The smallest sizes every contender runs on (--quick uses these or more).
MIN_ROWS = 500
MIN_FARS_ROWS = 5000


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


def fars_shaped(n, seed=0):
    """Train and test halves (80/20) of a set shaped like KEEL's ``fars``."""
    X, y = make_classification(
        n_samples=n,
        n_features=500,
        n_informative=40,
        n_redundant=40,
        n_classes=8,
        n_clusters_per_class=1,
        weights=list(FARS_SHARES / FARS_SHARES.sum()),
        flip_y=0.01,
        random_state=seed,
    )
    return train_test_split(
        X.astype(np.float32), y, test_size=0.2, stratify=y, random_state=seed
    )


def bare_loop(X, y, epochs, batch_size, seed=0, device="cpu"):
    """The masked step of RSFTClassifier's defaults, written out by hand.

    With the optimiser those defaults use: Adam, fused. On ``device`` (the
    GPU check times it there too).
    """
    torch.manual_seed(seed)
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    module = MLPModule(X.shape[1], 2).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    criterion = torch.nn.CrossEntropyLoss(reduction="none")
    weight = torch.as_tensor(
        class_target_weight(y, 2), dtype=torch.float32, device=device
    )
    generator = torch.Generator(device=device).manual_seed(seed)
    tiny = torch.finfo(torch.float32).tiny
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=generator, device=device)
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


def bare_budget_loop(
    X, y, epochs, batch_size, budget, pool_size=16, seed=0, device="cpu"
):
    """The budgeted step of ``rsft(..., rejection="budget")``, written out by
    hand with the library's public functions: per pool of ``pool_size``
    batches, a gradient-free pass in evaluation mode, the rule's acceptances
    (balanced target, ``M=1``, ``hardness=1``), :func:`budget_selection`,
    and training on the kept rows, each loss weighted by ``a_i / q_i`` over
    the pool's accepted normaliser. The kept rows of a pool that do not fill
    a batch wait for the next pool, as in the estimator.

    What the estimator's budget fit costs beyond this loop is its own
    overhead (skorch's loop, checks, history); what this loop costs beyond
    the floor (:func:`pool_floor`) is the budget's scoring and selection
    arithmetic. Returns the share of rows that trained.
    """
    torch.manual_seed(seed)
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    n_classes = int(y.max()) + 1
    module = MLPModule(X.shape[1], n_classes).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    criterion = torch.nn.CrossEntropyLoss(reduction="none")
    weight = torch.as_tensor(
        class_target_weight(y, n_classes), dtype=torch.float32, device=device
    )
    generator = torch.Generator(device=device).manual_seed(seed)
    pool_rows = pool_size * batch_size
    scratch = Xt.new_empty((pool_rows,) + tuple(Xt.shape[1:]))
    trained = 0
    for _ in range(epochs):
        order = torch.randperm(len(Xt), generator=generator, device=device)
        carry, carry_weight = order[:0], None
        for start in range(0, len(Xt), pool_rows):
            rows = order[start : start + pool_rows]
            yp = yt.index_select(0, rows)
            module.eval()
            with torch.no_grad():
                Xp = torch.index_select(Xt, 0, rows, out=scratch[: len(rows)])
                acceptance = acceptance_probability(
                    module(Xp), yp, weight[yp], 1.0, 1.0
                )
            module.train()
            kept, kept_weight = budget_selection(acceptance, budget, generator)
            # a_i / q_i over the pool's accepted normaliser, scaled to the
            # batch: sum q = budget * n when every acceptance is positive.
            kept_weight = kept_weight * (budget * len(rows) / acceptance.sum())
            carry = torch.cat([carry, rows.index_select(0, kept)])
            carry_weight = (
                kept_weight
                if carry_weight is None
                else torch.cat([carry_weight, kept_weight])
            )
            full = len(carry) - len(carry) % batch_size
            for begin in range(0, full, batch_size):
                batch = carry[begin : begin + batch_size]
                optimizer.zero_grad()
                losses = criterion(module(Xt.index_select(0, batch)), yt[batch])
                loss = (losses * carry_weight[begin : begin + batch_size]).mean()
                loss.backward()
                optimizer.step()
            trained += full
            carry, carry_weight = carry[full:], carry_weight[full:]
        if len(carry):
            optimizer.zero_grad()
            losses = criterion(module(Xt.index_select(0, carry)), yt[carry])
            (losses * carry_weight).mean().backward()
            optimizer.step()
            trained += len(carry)
    return trained / (len(Xt) * epochs)


def plain_skorch(X, y, epochs, batch_size, seed=0):
    torch.manual_seed(seed)
    net = NeuralNetClassifier(
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
    )
    return _fit(net, X, y)


def _fit(estimator, X, y):
    """``estimator.fit(X, y)``; Ctrl-C during it raises ``KeyboardInterrupt``
    (skorch ends a fit quietly on it, and the cut-short fit was timed as a
    whole one)."""
    with _interrupt_seen():
        return estimator.fit(X, y)


def rsft(X, y, epochs=None, batch_size=None, seed=0, **params):
    # The per-batch masked rule from the first epoch, which the bare loop
    # writes out: the balanced target and no logit adjustment (the default
    # rule's target_power=0.5 and prior_correction=1.0 add work the loop does
    # not do). A contender may override any of these settings.
    params = {
        "rejection": "sample",
        "warmup_epochs": 0,
        "target_power": 1.0,
        "prior_correction": 0.0,
        **params,
    }
    if epochs is not None:
        params["max_epochs"] = epochs
    if batch_size is not None:
        params["batch_size"] = batch_size
    return _fit(RSFTClassifier(random_state=seed, **params), X, y)


def resampled(sampler, X, y, epochs, batch_size, seed=0):
    # warmup_epochs=max_epochs never rejects: plain training of the same net.
    net = RSFTClassifier(
        max_epochs=epochs,
        batch_size=batch_size,
        warmup_epochs=epochs,
        random_state=seed,
    )
    return _fit(make_pipeline(sampler, net), X, y)


class TargetReached(KeyboardInterrupt):
    """The stop of :class:`QualityClock`: skorch ends a fit quietly on a
    ``KeyboardInterrupt``, as its ``EarlyStopping`` does. A real Ctrl-C is
    not one of these: within :func:`_fit` it stops the script."""


class QualityClock(Callback):
    """Test balanced accuracy after every epoch, against the fit's own time.

    The time spent scoring the test set is left out of both clocks. With a
    ``target``, the fit stops at the first epoch that reaches it, by raising
    :class:`TargetReached`.
    """

    def __init__(self, X, y, target=None):
        self.X, self.y, self.target = X, y, target

    def on_train_begin(self, net, **kwargs):
        self.start = (time.perf_counter(), time.process_time())
        self.excluded = [0.0, 0.0]
        self.curve = []

    def on_epoch_end(self, net, **kwargs):
        now = (time.perf_counter(), time.process_time())
        elapsed = [n - s - e for n, s, e in zip(now, self.start, self.excluded)]
        score = balanced_accuracy_score(self.y, net.predict(self.X))
        self.curve.append((elapsed[0], elapsed[1], score))
        after = (time.perf_counter(), time.process_time())
        self.excluded = [e + a - n for e, a, n in zip(self.excluded, after, now)]
        if self.target is not None and score >= self.target:
            raise TargetReached


def pool_floor(X, y, epochs, pool_rows, batch_size, seed=0, device="cpu"):
    """The floor of a pooled fit, as bare PyTorch: per epoch, plain training
    on as many rows as the pooled fit trained on, after one gradient-free
    pass over every row (in pool-sized chunks) in the epochs in which the
    fit scored its rows (not its warm-up epochs, which score nothing).

    ``epochs`` holds one ``(rows_trained, scored)`` pair per epoch of the
    fit. The pass visits the rows in a random order, gathering each chunk,
    as any pass whose rows end up in random training batches must.
    """
    torch.manual_seed(seed)
    Xt, yt = torch.as_tensor(X, device=device), torch.as_tensor(y, device=device)
    module = MLPModule(X.shape[1], int(y.max()) + 1).to(device)
    optimizer = torch.optim.Adam(module.parameters(), lr=1e-3, fused=True)
    criterion = torch.nn.CrossEntropyLoss()
    for n_trained, scored in epochs:
        if scored:
            module.eval()
            order = torch.randperm(len(Xt), device=device)
            with torch.no_grad():
                for start in range(0, len(Xt), pool_rows):
                    module(Xt.index_select(0, order[start : start + pool_rows]))
        module.train()
        order = torch.randperm(len(Xt), device=device)[:n_trained]
        for start in range(0, n_trained, batch_size):
            rows = order[start : start + batch_size]
            optimizer.zero_grad()
            criterion(module(Xt.index_select(0, rows)), yt[rows]).backward()
            optimizer.step()


def floor_epochs(net):
    """``(rows_trained, scored)`` of every epoch of a fitted pooled or
    budgeted ``net``: the rows its steps trained on, and whether it scored
    its rows in that epoch (every epoch after the warm-up)."""
    warmup = warmup_epoch_count(net.warmup_epochs, net.max_epochs)
    return [
        (sum(b["train_batch_size"] for b in epoch["batches"]), i >= warmup)
        for i, epoch in enumerate(net.history)
    ]


def fars_round(args, data):
    """Per-batch RSFT, the pool mode until it reaches it, and the floor."""
    X, X_test, y, y_test = data
    common = dict(max_epochs=args.fars_epochs, batch_size=args.batch_size)
    per_batch = QualityClock(X_test, y_test)
    rsft(X, y, seed=0, callbacks=[per_batch], **common)
    wall, cpu, reference = per_batch.curve[-1]
    pooled = QualityClock(X_test, y_test, target=reference - 0.005)
    common["max_epochs"] = args.fars_pool_epochs
    pool_net = rsft(X, y, seed=0, callbacks=[pooled], rejection="pool", **common)
    reached = pooled.curve[-1][2] >= reference - 0.005
    pool_pool_rows = pool_net.pool_size * args.batch_size
    floor = timed(
        lambda: pool_floor(
            X, y, floor_epochs(pool_net), pool_pool_rows, args.batch_size
        )
    )
    pool_wall, pool_cpu, pool_score = pooled.curve[-1]
    budgeted = QualityClock(X_test, y_test)
    common["max_epochs"] = args.fars_epochs
    budget_net = rsft(
        X,
        y,
        seed=0,
        callbacks=[budgeted],
        rejection="budget",
        budget=args.budget,
        **common,
    )
    kept = floor_epochs(budget_net)
    budget_pool_rows = budget_net.pool_size * args.batch_size
    budget_floor = timed(
        lambda: pool_floor(X, y, kept, budget_pool_rows, args.batch_size)
    )
    budget_bare = timed(
        lambda: bare_budget_loop(
            X, y, args.fars_epochs, args.batch_size, args.budget, budget_net.pool_size
        )
    )
    return {
        "budget_fit": budgeted.curve[-1][:2],
        "budget_score": budgeted.curve[-1][2],
        "budget_floor": budget_floor,
        "budget_bare": budget_bare,
        "budget_share": sum(n for n, _ in kept) / (len(y) * len(kept)),
        "rsft": (wall, cpu),
        "rsft_score": reference,
        "pool": (pool_wall, pool_cpu) if reached else (math.inf, math.inf),
        "pool_fit": (pool_wall, pool_cpu),
        "pool_score": pool_score,
        "pool_epochs": len(pool_net.history),
        "floor": floor,
        "acceptance": pool_net.history[-1, "acceptance_rate"],
    }


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
        "RSFT rejection='expected'": lambda: rsft(X, y, e, b, rejection="expected"),
        "RSFT compact='auto'": lambda: rsft(X, y, e, b, compact="auto"),
        "RSFT rejection='epoch'": lambda: rsft(X, y, e, b, rejection="epoch"),
        "RSFT rejection='pool'": lambda: rsft(X, y, e, b, rejection="pool"),
        "RSFT rejection='budget'": lambda: rsft(
            X, y, e, b, rejection="budget", budget=args.budget
        ),
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
    fars = fars_shaped(args.fars_rows) if args.fars_rows else None
    rounds = []
    # One untimed round loads every code path (lazy imports, allocator).
    for fn in runs.values():
        timed(fn)
    for repeat in range(args.repeats):
        if fars is not None:
            rounds.append(fars_round(args, fars))
            r = rounds[-1]
            print(
                f"repeat {repeat + 1}: fars-shaped per-batch RSFT "
                f"{r['rsft'][0]:.2f} s ({r['rsft_score']:.4f}), pool "
                f"{r['pool_fit'][0]:.2f} s ({r['pool_score']:.4f}, "
                f"{r['pool_epochs']} epochs), floor {r['floor'][0]:.2f} s, "
                f"budget {r['budget_fit'][0]:.2f} s ({r['budget_score']:.4f}, "
                f"share {r['budget_share']:.3f}), its floor "
                f"{r['budget_floor'][0]:.2f} s, as a bare loop "
                f"{r['budget_bare'][0]:.2f} s"
            )
        names = list(runs)
        # Rotate the order so that no contender always runs first.
        names = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in names:
            times[name].append(timed(runs[name]))
            wall, cpu = times[name][-1]
            print(f"repeat {repeat + 1}: {name:28s} {wall:8.2f} s, CPU {cpu:8.2f} s")
    median = {
        clock: {
            name: statistics.median(v[i] for v in values)
            for name, values in times.items()
        }
        for i, clock in enumerate(("wall", "cpu"))
    }
    for key, label in (
        ("rsft", "fars-shaped: per-batch RSFT"),
        ("pool", "fars-shaped: pool, to per-batch RSFT's quality"),
        ("pool_fit", "fars-shaped: pool fit"),
        ("floor", "fars-shaped: floor of the pool fit"),
        ("budget_fit", "fars-shaped: budget fit"),
        ("budget_floor", "fars-shaped: floor of the budget fit"),
        ("budget_bare", "fars-shaped: budget step as a bare PyTorch loop"),
    ):
        for i, clock in enumerate(("wall", "cpu")):
            values = [r[key][i] for r in rounds]
            median[clock][label] = statistics.median(values) if values else math.nan
    median["fars"] = rounds
    return median


def ratios(median):
    fars = {
        "e_quality": median["fars-shaped: pool, to per-batch RSFT's quality"]
        / median["fars-shaped: per-batch RSFT"],
        "e_floor": median["fars-shaped: pool fit"]
        / median["fars-shaped: floor of the pool fit"],
        "e_budget_floor": median["fars-shaped: budget fit"]
        / median["fars-shaped: floor of the budget fit"],
        "e_budget_bare": median["fars-shaped: budget fit"]
        / median["fars-shaped: budget step as a bare PyTorch loop"],
    }
    return fars | {
        "a": median["RSFT"] / median["bare PyTorch loop"],
        "b": median["plain skorch"] / median["RSFT"],
        "c": median["heavy, compact=True"] / median["heavy, compact=False"],
        "d_smote": median["RSFT"] / median["SMOTE + net"],
        "d_rus": median["RSFT"] / median["RandomUnderSampler + net"],
        "d_rus_epoch": median["RSFT rejection='epoch'"]
        / median["RandomUnderSampler + net"],
        "d_rus_pool": median["RSFT rejection='pool'"]
        / median["RandomUnderSampler + net"],
    }


def report(args, median, command):
    ratio = ratios(median["cpu"])
    wall_ratio = ratios(median["wall"])
    met = {
        key: (ratio[key] <= bound if op == "<=" else ratio[key] >= bound)
        for key, (_, op, bound) in TARGETS.items()
    }
    # --fars-rows 0 leaves (e) out: its targets are not measured, not missed.
    targets = {
        key: target
        for key, target in TARGETS.items()
        if args.fars_rows or not key.startswith("e")
    }
    left_out = [f"({key[0]}) {label}" for key, (label, *_) in TARGETS.items()
                if key not in targets]  # fmt: skip
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
        (
            f"- (e): fars-shaped, {args.fars_rows} rows (80% train, 20% test) x "
            "500 features, 8 classes with shares 0.45^k, MLP(64, 64), batch "
            f"{args.batch_size}; per-batch RSFT {args.fars_epochs} epochs, "
            f"rejection='pool' (pool_size 16) up to {args.fars_pool_epochs} "
            "epochs, stopping at the first epoch within 0.005 of per-batch "
            "RSFT's test balanced accuracy; rejection='budget' with budget "
            f"{args.budget:g} for {args.fars_epochs} epochs; test scoring is "
            "not timed"
            if args.fars_rows
            else "- (e): left out (--fars-rows 0)"
        ),
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
            for key, (label, op, bound) in targets.items()
        ),
        *(
            ["", f"Not measured (--fars-rows 0): {'; '.join(left_out)}."]
            * bool(left_out)
        ),
        "",
    ]
    if args.fars_rows:
        lines += [
            "| (e) repeat | per-batch RSFT balanced accuracy | pool balanced "
            "accuracy | pool epochs | reached | pool acceptance | budget balanced "
            "accuracy | budget backward share |",
            "|---|---|---|---|---|---|---|---|",
            *(
                f"| {i + 1} | {r['rsft_score']:.4f} | {r['pool_score']:.4f} | "
                f"{r['pool_epochs']} | {'no' if math.isinf(r['pool'][0]) else 'yes'} "
                f"| {r['acceptance']:.3f} | {r['budget_score']:.4f} "
                f"| {r['budget_share']:.3f} |"
                for i, r in enumerate(median["fars"])
            ),
            "",
        ]
    return "\n".join(lines)


def _non_negative(text):
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"must be 0 or a positive integer, got {text!r}"
        )
    return value


def _budget(text):
    try:
        return check_budget(float(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=positive(int), help="default 20000")
    parser.add_argument("--epochs", type=positive(int), help="default 5")
    parser.add_argument("--heavy-epochs", type=positive(int), default=1)
    parser.add_argument("--width", type=positive(int), help="default 1024")
    parser.add_argument("--batch-size", type=positive(int), default=128)
    parser.add_argument("--repeats", type=positive(int), help="default 3")
    parser.add_argument("--threads", type=positive(int), default=None)
    parser.add_argument(
        "--fars-rows",
        type=_non_negative,
        help="rows of (e), default 100000; 0 leaves (e) out",
    )
    parser.add_argument("--fars-epochs", type=positive(int), help="default 5")
    parser.add_argument("--fars-pool-epochs", type=positive(int), help="default 20")
    parser.add_argument(
        "--budget", type=_budget, default=0.25, help="of rejection='budget'"
    )
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 1 repeat")
    parser.add_argument(
        "--out",
        help="'-' prints only; default docs/speed.md, and '-' with --quick "
        "(a smoke run does not replace the committed figures)",
    )
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = "-" if args.quick else "docs/speed.md"
    # Options given win over the preset (--quick replaced them silently).
    preset = (
        (2000, 2, 128, 1, 5000, 2, 6)
        if args.quick
        else (20_000, 5, 1024, 3, 100_000, 5, 20)
    )
    names = ("rows", "epochs", "width", "repeats", "fars_rows", "fars_epochs",
             "fars_pool_epochs")  # fmt: skip
    for name, default in zip(names, preset):
        if getattr(args, name) is None:
            setattr(args, name, default)
    # Sizes the contenders cannot run on fail after the timings before them.
    if args.rows < MIN_ROWS:
        parser.error(
            f"--rows must be at least {MIN_ROWS}: SMOTE needs neighbours among "
            "the rare tenth of the rows."
        )
    if 0 < args.fars_rows < MIN_FARS_ROWS:
        parser.error(
            f"--fars-rows must be 0 or at least {MIN_FARS_ROWS}: the rarest "
            "of (e)'s 8 classes (a share of about 0.2%) needs rows in both "
            "the training and the test part."
        )
    if args.out != "-":
        # Before the measurements, not after them.
        if not writable_file(args.out):
            parser.error(f"--out: cannot write the file {args.out!r}.")
    if args.threads:
        torch.set_num_threads(args.threads)
    command = "python benchmarks/speed.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    try:
        median = measure(args)
    except KeyboardInterrupt:
        # Not a report of fits cut short; the committed figures stay.
        print("\nInterrupted; nothing written.", file=sys.stderr)
        return 130
    text = report(args, median, command.strip())
    print(text)
    if args.out != "-":
        Path(args.out).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
