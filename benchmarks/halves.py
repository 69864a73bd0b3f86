"""Split ``rsft-bench`` results into the development and held-out halves.

Reads one or more ``results.csv`` files written by ``rsft-bench`` (each with
the ``run.json`` beside it naming its suite), assigns every data set to its
half with the benchmark's protocol (:mod:`rsft_sklearn.benchmark._protocol`,
applied to the data sets of the suite it belongs to) and prints, per half,
the mean of each metric over data sets, the mean rank (1 is best) and the
Bayesian signed-rank probabilities of RSFT (the method named ``RSFT``, the
estimator's defaults) against every other method, on the sets where every
method finished every fit (the others are named)::

    python benchmarks/halves.py docs/benchmark/longtail --suite-names longtail
    python benchmarks/halves.py docs/defaults/heldout/keel-all --suite-names keel-all

``--suite-names`` names the suite whose full list of sets defines the split
(the halves are dealt over the whole suite, not over the sets a run used).
"""

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rsft_sklearn.benchmark._methods import applicable
from rsft_sklearn.benchmark._protocol import DEVELOPMENT, HELD_OUT, split_names
from rsft_sklearn.benchmark._report import (
    bayesian_comparison,
    distinct_fits,
    markdown_cell,
    short_of_fits,
)
from rsft_sklearn.benchmark._runner import read_result_table, unscored_as_failed
from rsft_sklearn.benchmark._suites import LONGTAIL, TABLES, keel_names

METRICS = ("balanced_accuracy", "f1_macro", "g_mean", "pr_auc", "rare_recall")
SUITE_NAMES = {
    "longtail": lambda: list(LONGTAIL),
    "keel-all": keel_names,
    "tables": lambda: list(TABLES),
}


def halves(names):
    development, held_out = split_names(names)
    return {
        **dict.fromkeys(development, DEVELOPMENT),
        **dict.fromkeys(held_out, HELD_OUT),
    }


def read_run(folder):
    """The results and the run file of an rsft-bench output folder; a
    ValueError that names the folder when it is not one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"no folder {str(folder)!r}.")
    missing = [
        name for name in ("results.csv", "run.json") if not (folder / name).is_file()
    ]
    if missing:
        raise ValueError(
            f"{str(folder)!r} holds no {' and no '.join(missing)}: it is not an "
            "output folder of rsft-bench."
        )
    try:
        config = json.loads((folder / "run.json").read_text())
    except ValueError as exc:
        raise ValueError(
            f"{str(folder / 'run.json')!r} is not a readable run file ({exc})."
        ) from None
    if (
        not isinstance(config, dict)
        or not isinstance(config.get("methods"), list)
        or not all(isinstance(name, str) for name in config["methods"])
    ):
        raise ValueError(
            f"{str(folder / 'run.json')!r} names no list of methods: it is not "
            "a run file of rsft-bench."
        )
    path = folder / "results.csv"
    try:
        # Each fit once: a copy of a row (a hand merge) was a fit more in
        # its method's mean, as the report does not count it.
        frame = distinct_fits(read_result_table(path))
        frame, unscored = unscored_as_failed(frame, METRICS)
    except ValueError as exc:
        raise ValueError(f"{str(path)!r} cannot be summarised ({exc}).") from None
    if unscored:
        print(
            f"{path}: {unscored} finished fit(s) without a score, counted as failed.",
            file=sys.stderr,
        )
    return frame, config


def summary(frame, reference="RSFT"):
    per_set = frame.groupby(["dataset", "method"])[list(METRICS)].mean()
    means = per_set.groupby("method").mean()
    for metric in METRICS:
        table = per_set[metric].unstack("method")
        means[f"rank {metric}"] = table.rank(axis=1, ascending=False).mean()
        if reference in table:
            means[f"P(RSFT better) {metric}"] = [
                np.nan
                if m == reference
                or (probs := bayesian_comparison(table[reference], table[m])) is None
                else probs[0]
                for m in means.index
            ]
    return means.sort_values("rank balanced_accuracy"), per_set.index.get_level_values(
        "dataset"
    ).nunique()


def markdown(means, columns):
    lines = [
        "| method | " + " | ".join(columns) + " |",
        "|---" * (len(columns) + 1) + "|",
    ]
    for name, row in means.iterrows():
        cells = " | ".join("–" if pd.isna(row[c]) else f"{row[c]:.3f}" for c in columns)
        lines.append(f"| {markdown_cell(name)} | {cells} |")
    return "\n".join(lines)


def _applicable(frame, finished):
    """Whether each method of ``finished`` (columns) applies to each set
    (rows): all of them, unless the results give the sets' class counts."""
    applies = pd.DataFrame(True, index=finished.index, columns=finished.columns)
    if "n_classes" not in frame:
        return applies
    n_classes = frame.dropna(subset=["n_classes"]).groupby("dataset")["n_classes"].max()
    # Once per method and class count: parsing a method with parameters
    # builds a trial network (about 20 ms).
    known = {}
    for dataset, count in n_classes.items():
        for method in finished.columns:
            key = (method, int(count))
            if key not in known:
                try:
                    known[key] = applicable(method, int(count))
                except ValueError:
                    # A name the benchmark does not parse applies everywhere.
                    known[key] = True
            applies.loc[dataset, method] = known[key]
    return applies


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folders", nargs="+", help="rsft-bench output folders")
    parser.add_argument("--suite-names", required=True, choices=sorted(SUITE_NAMES))
    args = parser.parse_args(argv)
    frames = []
    for folder in args.folders:
        try:
            frame, config = read_run(folder)
        except ValueError as exc:
            parser.error(str(exc))
        frame = frame[frame["method"].isin(config["methods"])]
        if frame.empty:
            parser.error(f"{str(Path(folder) / 'results.csv')!r} holds no result row.")
        frames.append(frame)
    frame = pd.concat(frames)
    # A set counts where every method finished every fit of it: a method's
    # mean over fewer sets, or over the folds left by a failed one, is not
    # comparable with the others'.
    # A method with fewer fits of a set than another (an interrupted run)
    # has not finished it either.
    finished = (
        frame.assign(ok=frame["status"] == "ok")
        .groupby(["dataset", "method"])["ok"]
        .all()
    )
    finished.loc[short_of_fits(frame)] = False
    # A method that does not apply to a set (threshold tuning, binary only,
    # on a multiclass set) has no row of it: that set is not unfinished for
    # it. A method with no row of a set it applies to (an interrupted run)
    # has not finished it.
    finished = finished.unstack("method").astype(object)
    applies = _applicable(frame, finished)
    finished = finished.where(finished.notna(), ~applies)
    complete = finished.astype(bool).all(axis=1)
    left_out = sorted(complete.index[~complete])
    frame = frame[
        (frame["status"] == "ok") & frame["dataset"].isin(complete[complete].index)
    ]
    half_of = halves(SUITE_NAMES[args.suite_names]())
    unknown = sorted((set(frame["dataset"]) | set(left_out)) - set(half_of))
    if unknown:
        # A usage error, as the others are (it exited with status 1).
        parser.error(
            f"--suite-names {args.suite_names}: the results hold data sets "
            f"outside this suite: {unknown}; name the suite they were run on."
        )
    frame["half"] = frame["dataset"].map(half_of)
    command = " ".join(["python benchmarks/halves.py", *(argv or sys.argv[1:])])
    print("# Development and held-out halves\n")
    print(f"Produced by `{command}`; do not edit by hand.\n")
    for half in (HELD_OUT, DEVELOPMENT):
        part = frame[frame["half"] == half]
        unfinished = [name for name in left_out if half_of[name] == half]
        if part.empty:
            if unfinished:
                print(
                    f"## {half} half: no data set that every method finished "
                    f"(left out: {', '.join(unfinished)})\n"
                )
            continue
        # A method that applies to only some of the half's sets would have
        # its mean and ranks over other sets than the others': it is left
        # out of the half's summary, and named.
        sets_of = part.groupby("method")["dataset"].nunique()
        everywhere = part["dataset"].nunique()
        partial = sorted(sets_of.index[sets_of < everywhere])
        part = part[~part["method"].isin(partial)]
        means, n = summary(part)
        sets = ", ".join(sorted(part["dataset"].unique()))
        print(f"## {half} half: {n} data sets ({sets})\n")
        print(markdown(means, [*METRICS, "rank balanced_accuracy", "rank f1_macro"]))
        print()
        if unfinished:
            print(
                "Left out, as not every method finished every fit of them: "
                f"{', '.join(unfinished)}.\n"
            )
        if partial:
            print(
                "Not in this summary, as they apply to only some of these sets "
                f"(binary-only methods on multiclass sets): {', '.join(partial)}.\n"
            )
        probs = [c for c in means.columns if c.startswith("P(")]
        if probs:
            print("P(RSFT better), Bayesian signed-rank test, rope 0.01:\n")
            print(markdown(means, probs))
            print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
