"""Sweep RSFT's settings on the development half of the benchmark's data.

Every configuration is an ``rsft-bench`` method spec, run through the
benchmark's own runner (same folds, network, epochs and seed as the rivals),
on the *development* half of each suite only (the split of
:mod:`rsft_sklearn.benchmark._protocol`, fixed by the data sets' names). The
held-out half is never touched here. Results are appended to one CSV per
suite as folds finish, so an interrupted sweep resumes where it stopped::

    python benchmarks/sweep_defaults.py                 # writes docs/defaults/
    python benchmarks/sweep_defaults.py --quick --out /tmp/sweep   # smoke run
    python benchmarks/sweep_defaults.py --suites images,finetune

The suites ``images``, ``finetune`` and ``large`` run with their own
networks, recipes and row caps (``--max-rows`` applies to the other suites
only); their development halves are dealt by family, so both recipes or
both fine-tuning variants of one long tail stay together. ``images`` and
``finetune`` train their recipe's 10 epochs: since the configurations'
warm-ups count epochs, they are built at those, and a sweep that mixes them
with suites of other ``--epochs`` is refused (sweep them apart). ``large``
trains ``--epochs`` as the others do.

``--quick`` runs the first three configurations on one development set of
each suite, 2 folds, 4 epochs and a row cap of 600; ``--configs``,
``--folds``, ``--epochs`` and ``--max-rows`` win over it when given.

The table ``sweep.md`` gives, per suite, every configuration's mean metrics
over the development sets and its mean rank among the configurations.
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rsft_sklearn.benchmark import main as rsft_bench
from rsft_sklearn.benchmark._cli import _max_rows, _n_jobs, positive
from rsft_sklearn.benchmark._methods import method_label
from rsft_sklearn.benchmark._protocol import name_digest, split_names
from rsft_sklearn.benchmark._runner import read_result_table
from rsft_sklearn.benchmark._suites import LONGTAIL, TABLES, halves, keel_names

# Suites that bring their own network, recipe, epochs and row cap.
NETWORK_SUITES = ("images", "finetune", "large")

# The settings every configuration starts from: the estimator's defaults
# before this sweep (a Bernoulli mask from the first epoch). They are spelled
# out so that the sweep means the same whatever the current defaults are.
BASE = {"rejection": "sample", "warmup_epochs": 0}

# Folds, epochs and row cap when not given, of a full sweep and of a quick one.
FULL = {"folds": 3, "epochs": 30, "max_rows": 5000}
QUICK = {"folds": 2, "epochs": 4, "max_rows": 600}


def network_epochs(suite):
    """The epochs of a suite whose recipe fixes them (images, finetune);
    None for a suite that trains ``--epochs``."""
    if suite not in NETWORK_SUITES:
        return None
    from rsft_sklearn.benchmark._suites import REGISTERED

    return REGISTERED[suite].epochs


def configurations(epochs):
    """The swept settings at ``epochs`` epochs, as method specs (the first
    is the starting point).

    Warm-ups are shares of ``epochs``; one that comes to the settings of an
    earlier configuration (``epochs // 6`` is 0 below 6 epochs) is left
    out, so that no spec is listed twice.
    """
    changes = [
        ("RSFT", {}),
        ("RSFT", {"warmup_epochs": epochs // 6}),
        ("RSFT", {"warmup_epochs": epochs // 3}),
        ("RSFT", {"warmup_epochs": epochs // 2}),
        ("RSFT", {"hardness": 0.5}),
        ("RSFT", {"hardness": 0.0}),
        ("RSFT", {"M": 0.5}),
        ("RSFT", {"M": 2.0}),
        ("RSFT", {"M": "auto", "target_acceptance": 0.3}),
        ("RSFT", {"rejection": "expected"}),
        ("RSFT", {"rejection": "epoch"}),
        ("RSFT", {"lr": 0.003}),
        ("RSFT", {"lr": 0.0003}),
        ("RSFT", {"probability": "training"}),
        ("RSFT + logit-adjusted loss", {}),
        ("RSFT + logit-adjusted loss", {"warmup_epochs": epochs // 3}),
        # Tempered targets n_k ** -power with the logit-adjusted loss, and the
        # warm-up as a share of the epochs (so it means the same whatever the
        # suite's epochs).
        ("RSFT + logit-adjusted loss", {"target_power": 0.5}),
        ("RSFT + logit-adjusted loss", {"target_power": 0.5, "warmup_epochs": 0.3}),
        ("RSFT + logit-adjusted loss", {"target_power": 0.25, "warmup_epochs": 0.5}),
        ("RSFT", {"target_power": 0.5, "warmup_epochs": 0.3}),
        # Second round: the best single changes of the first, together.
        ("RSFT", {"rejection": "expected", "warmup_epochs": epochs // 6}),
        ("RSFT", {"rejection": "expected", "M": "auto", "target_acceptance": 0.3}),
    ]
    specs = [method_label(name, {**BASE, **params}) for name, params in changes]
    return list(dict.fromkeys(specs))


def development_sets(n_keel):
    """The development half of every suite; ``n_keel`` binary KEEL sets,
    the first of that half in the order of their name digests."""
    keel_dev, _ = split_names(keel_names())
    keel_dev = sorted(keel_dev, key=name_digest)[:n_keel]
    return {
        "longtail": split_names(LONGTAIL)[0],
        "keel-all": keel_dev,
        "tables": split_names(list(TABLES))[0],
        **{suite: halves(suite)[0] for suite in NETWORK_SUITES},
    }


METRICS = ("balanced_accuracy", "f1_macro", "g_mean", "pr_auc", "rare_recall")


def summarise(frame, configs):
    """Mean metrics, mean rank (by balanced accuracy) and mean fit seconds
    per configuration (each a mean over the sets of the set's mean over its
    fits), over the sets on which every configuration of ``configs`` that ran
    finished every fit; the number of those sets, and the others (a
    configuration that failed on the hardest set would otherwise be
    averaged and ranked over the easier ones only)."""
    present = [c for c in configs if c in set(frame["method"])]
    keys = [frame["dataset"], frame["method"]]
    fits = frame.groupby(keys).size().unstack("method").reindex(columns=present)
    all_ok = (
        (frame["status"] == "ok")
        .groupby(keys)
        .all()
        .unstack("method")
        .reindex(columns=present)
    )
    most = fits.max(axis=1)
    complete = fits.eq(most, axis=0) & all_ok.fillna(False).astype(bool)
    finished = complete.all(axis=1)
    left_out = sorted(finished.index[~finished])
    frame = frame[
        (frame["status"] == "ok")
        & frame["dataset"].isin(finished.index[finished])
        & frame["method"].isin(present)
    ]
    per_set = frame.groupby(["dataset", "method"])[[*METRICS, "fit_time"]].mean()
    means = per_set[list(METRICS)].groupby("method").mean()
    ranks = (
        per_set["balanced_accuracy"]
        .unstack("method")
        .rank(axis=1, ascending=False)
        .mean()
    )
    means["rank (bal. acc.)"] = ranks
    # Over the sets, as the metrics: a mean over the fits weighed a set by
    # its repeats of the CV.
    means["fit s"] = per_set["fit_time"].groupby("method").mean()
    order = [c for c in configs if c in means.index]
    n_sets = per_set.index.get_level_values("dataset").nunique()
    return means.loc[order], n_sets, left_out


def _repeats(folder, names):
    """The sentence saying how often rsft-bench repeated the CV on the sets
    ``names``, as its ``run.json`` in ``folder`` records (it repeats it on
    sets with few rows of a class); empty where it records none."""
    try:
        config = json.loads((Path(folder) / "run.json").read_text())
    except (OSError, ValueError):
        return ""
    recorded = {
        entry.get("name"): (entry.get("split", "cv"), entry["repeats"])
        for entry in config.get("datasets") or []
        if "repeats" in entry
    }
    groups = {"cv": {}, "fixed": {}}
    for name in names:
        if name in recorded:
            split, count = recorded[name]
            # A set of a fixed split (a train and a test part, no CV) is
            # repeated by drawing that split afresh.
            kind = "cv" if split == "cv" else "fixed"
            groups[kind].setdefault(count, []).append(name)
    sentences = {
        "cv": "Repeats of the CV (a shuffle each)",
        "fixed": "Draws of the fixed split (no CV)",
    }
    text = ""
    for kind, counts in groups.items():
        if counts:
            parts = [f"{n} on {', '.join(sets)}" for n, sets in sorted(counts.items())]
            text += f" {sentences[kind]}: {'; '.join(parts)}."
    return text


def _left_out(names):
    """The sentence naming the sets left out of a summary, if any."""
    if not names:
        return ""
    return (
        " Left out, as a configuration did not finish every fit of them: "
        f"{', '.join(names)}."
    )


def table(means):
    header = "| configuration | " + " | ".join(means.columns) + " |"
    lines = [header, "|" + "---|" * (len(means.columns) + 1)]
    for name, row in means.iterrows():
        cells = " | ".join(f"{v:.3f}" if np.isfinite(v) else "-" for v in row)
        lines.append(f"| `{name}` | {cells} |")
    return "\n".join(lines)


def _indices(text, count):
    """The configuration indices of ``--configs``; ValueError unless each
    is one of ``range(count)``, once."""
    try:
        picked = [int(part) for part in text.split(",")]
    except ValueError:
        picked = None
    if picked is None or not all(0 <= i < count for i in picked):
        raise ValueError(
            f"must be comma-separated indices from 0 to {count - 1}, got {text!r}"
        )
    if len(set(picked)) < len(picked):
        raise ValueError(f"names a configuration twice: {text!r}")
    return picked


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out",
        help="output folder; default docs/defaults, and sweep-quick with "
        "--quick (a smoke run does not write into the committed results)",
    )
    parser.add_argument(
        "--epochs",
        type=positive(int),
        help=f"default: {FULL['epochs']}, {QUICK['epochs']} with --quick; a sweep "
        "of images and finetune alone takes their recipe's 10",
    )
    parser.add_argument(
        "--folds",
        type=positive(int),
        help=f"at least 2; default: {FULL['folds']}, {QUICK['folds']} with --quick",
    )
    parser.add_argument(
        "--max-rows",
        type=_max_rows,
        help=f"default: {FULL['max_rows']}, {QUICK['max_rows']} with --quick",
    )
    parser.add_argument("--keel-sets", type=positive(int), default=12)
    parser.add_argument("--n-jobs", type=_n_jobs, default=2)
    parser.add_argument(
        "--threads",
        type=positive(int),
        help="torch threads per fit, passed to rsft-bench (default: its "
        "choice from --n-jobs); a resume must use the run's",
    )
    parser.add_argument(
        "--suites",
        default="longtail,keel-all,tables",
        help="comma-separated; also images, finetune, large",
    )
    parser.add_argument(
        "--configs",
        help="comma-separated indices of configurations(epochs) to run "
        "(default all; the first three with --quick)",
    )
    parser.add_argument("--quick", action="store_true", help="tiny smoke run")
    args = parser.parse_args(argv)
    out = Path(args.out or ("sweep-quick" if args.quick else "docs/defaults"))
    epochs_given = args.epochs is not None
    # Options given win over the preset.
    for key, value in (QUICK if args.quick else FULL).items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.folds < 2:
        parser.error(f"--folds: must be at least 2, got {args.folds}")
    sets = development_sets(args.keel_sets)
    suites = args.suites.split(",")
    unknown = [suite for suite in suites if suite not in sets]
    if unknown:
        parser.error(f"--suites: unknown suite(s) {unknown}; choose from {list(sets)}")
    repeated = sorted({suite for suite in suites if suites.count(suite) > 1})
    if repeated:
        parser.error(f"--suites names a suite twice: {repeated}")
    # The network suites train their recipe's epochs, and the configurations'
    # warm-ups are counts of epochs: built at other epochs, warm-ups of 10 and
    # 15 of a 10-epoch recipe would never reject, under a label that said 30.
    own = {} if args.quick else {s: network_epochs(s) for s in suites}
    own = {suite: epochs for suite, epochs in own.items() if epochs is not None}
    if (
        own
        and not epochs_given
        and len(set(own.values())) == 1
        and len(own) == len(suites)
    ):
        args.epochs = next(iter(own.values()))
    differ = {suite: epochs for suite, epochs in own.items() if epochs != args.epochs}
    if differ:
        parser.error(
            f"{', '.join(f'{s} trains {e} epochs' for s, e in differ.items())} "
            f"(its recipe), and the configurations are built at --epochs "
            f"{args.epochs}: their warm-ups count epochs. Sweep suites of "
            "different epochs apart, each with its own --epochs."
        )
    configs = configurations(args.epochs)
    if args.configs:
        try:
            configs = [configs[i] for i in _indices(args.configs, len(configs))]
        except ValueError as exc:
            parser.error(f"--configs: {exc} (configurations at {args.epochs} epochs)")
    elif args.quick:
        configs = configs[:3]
    if args.quick:
        # One set of each suite; of the long tails, a small one.
        sets = {suite: names[:1] for suite, names in sets.items()}
        sets["longtail"] = ["page-blocks"]
    sections, frames = [], []
    for suite in suites:
        folder = out / "sweep" / suite
        common = [
            "--suite", suite, "--datasets", ",".join(sets[suite]),
            "--methods", ",".join(configs), "--folds", str(args.folds),
            "--n-jobs", str(args.n_jobs), "--out", str(folder),
        ]  # fmt: skip
        if args.threads is not None:
            common += ["--threads", str(args.threads)]
        common += ["--epochs", str(args.epochs)]
        if suite not in NETWORK_SUITES or args.quick:
            common += ["--max-rows", str(args.max_rows)]
        code = rsft_bench(common)
        if code not in (0, None):
            print(f"rsft-bench stopped on {suite} with code {code}", file=sys.stderr)
            return code
        # This run's sets and configurations only: the folder may hold
        # those of earlier runs with other --keel-sets or --configs.
        frame = read_result_table(folder / "results.csv")
        frame = frame[
            frame["dataset"].isin(sets[suite]) & frame["method"].isin(configs)
        ]
        # A set in the development half of several suites (kr-vs-k capped
        # in longtail, in full in large) is pooled once, from the first
        # suite that ran it, as the held-out summary pools its sets.
        pooled = set().union(*(set(f["dataset"]) for f in frames))
        frames.append(frame[~frame["dataset"].isin(pooled)])
        means, n_sets, left_out = summarise(frame, configs)
        sections.append(
            f"## {suite}: {n_sets} development sets\n\n"
            f"Sets: {', '.join(sets[suite])}.{_repeats(folder, sets[suite])}"
            f"{_left_out(left_out)}\n\n"
            f"{table(means)}\n"
        )
    if len(frames) > 1:
        means, n_sets, left_out = summarise(pd.concat(frames), configs)
        sections.append(
            f"## All suites: {n_sets} development sets\n\n"
            "The default is the configuration with the best mean rank here "
            "(a set in several suites counts once, from the first)."
            f"{_left_out(left_out)}\n\n{table(means)}\n"
        )
    # The suites run without --max-rows (large has no epochs of its own, but
    # keeps its sizes too).
    uncapped = not args.quick and any(suite in NETWORK_SUITES for suite in suites)
    if args.max_rows == 0:
        # rsft-bench's "no cap" (the header said "row cap 0").
        cap = "no row cap"
    else:
        cap = f"row cap {args.max_rows}" + (
            " (the table suites; the network suites keep their sizes)"
            if uncapped
            else ""
        )
    text = (
        "# RSFT settings on the development half\n\n"
        "Produced by `benchmarks/sweep_defaults.py`; do not edit by hand.\n\n"
        f"- Command: `python benchmarks/sweep_defaults.py "
        f"{' '.join(argv if argv is not None else sys.argv[1:])}`\n"
        f"- {args.folds}-fold stratified CV, {args.epochs} epochs, {cap}"
        ", the benchmark's network and seed, repeated on a suite's sets "
        "as its section says; means over the "
        "development sets of each suite; rank among the configurations by "
        "balanced accuracy (1 is best).\n\n" + "\n".join(sections)
    )
    out.mkdir(parents=True, exist_ok=True)
    (out / "sweep.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
