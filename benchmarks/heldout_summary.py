"""Summarise rsft-bench runs on held-out halves: one row per suite.

Reads the ``results.csv`` of one or more ``rsft-bench --half held-out`` runs
(one folder per suite) and prints a Markdown table: per suite, the mean
balanced accuracy, macro-F1 and (binary sets) PR-AUC of every method over
the sets on which RSFT and both logit-adjustment rivals finished every fit
(a method that did not finish all of those, such as the binary-only
threshold tuning beside multiclass sets, is left out and named; so are the
development sets of a run that holds a whole suite, for a SUITE label that
names an rsft-bench suite), the sets where RSFT trails either
logit-adjustment rival by more than 0.01 (with those gaps fit by fit: the
mean and 95% corrected resampled t-interval of the paired differences over
folds and repeats, which share training rows),
and, pooled over all sets (a set in two suites' held-out halves, such as
``fars`` in ``longtail`` and ``large``, once, from the first suite named),
the Bayesian signed-rank probability
(``baycomp``, rope 0.01) that RSFT's default is better than each rival on
balanced accuracy::

    python benchmarks/heldout_summary.py images=runs/images finetune=runs/ft ...

A SUITE label that names an rsft-bench suite must be the suite that the
folder's ``run.json`` records (a ``keel-all`` run labelled ``longtail``
kept its development sets in the summary); any other label is free, and
keeps every set.
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from rsft_sklearn.benchmark._report import (
    MIN_DATASETS_FOR_BAYES,
    corrected_interval,
    distinct_fits,
    markdown_cell,
    short_of_fits,
)
from rsft_sklearn.benchmark._runner import read_result_table, unscored_as_failed

REFERENCE = "RSFT"
RIVALS = ("logit-adjusted loss", "post-hoc logit adjustment")


def label_problem(suite, folder):
    """Why ``suite`` is the wrong label for the run in ``folder``; None if
    it is not.

    A label that names an rsft-bench suite picks the development sets left
    out, so it must be the suite of the run's ``run.json``; a run without a
    readable one, and a label that is no suite, are taken as labelled.
    """
    from rsft_sklearn.benchmark import _suites

    if suite not in _suites.SUITES:
        return None
    try:
        recorded = json.loads((Path(folder) / "run.json").read_text()).get("suite")
    except (OSError, ValueError, AttributeError):
        return None
    if recorded in (None, suite):
        return None
    return (
        f"{suite}={folder}: {Path(folder) / 'run.json'} records a run of "
        f"--suite {recorded}, not {suite}, and the label picks the development "
        f"sets left out; label it {recorded}={folder}."
    )


def load(specs):
    """Every run's rows, each fit once, with a ``suite`` column and
    ``finished``: whether the method finished every fit of the set.

    A ValueError names a file whose two rows of one fit differ, as the
    report does (identical copies of a row, a hand merge, are one fit), and
    a label that names another rsft-bench suite than the run's
    (``label_problem``).
    """
    frames = []
    for spec in specs:
        suite, _, folder = spec.partition("=")
        problem = label_problem(suite, folder)
        if problem is not None:
            raise ValueError(problem)
        path = Path(folder) / "results.csv"
        table = read_result_table(path)
        try:
            table = distinct_fits(table)
        except ValueError as exc:
            raise ValueError(f"{path} cannot be summarised: {exc}.") from None
        # PR-AUC is read on binary sets only, where rsft-bench always
        # writes it.
        frame, unscored = unscored_as_failed(table, ("balanced_accuracy", "f1_macro"))
        if unscored:
            print(
                f"{path}: {unscored} finished fit(s) without a score, counted "
                "as failed.",
                file=sys.stderr,
            )
        frames.append(frame.assign(suite=suite, finished=finished_fits(frame)))
    return pd.concat(frames, ignore_index=True)


def held_out_only(results):
    """The rows of held-out sets, and ``{suite: [development sets]}`` left
    out: a run of a whole suite (the text suite's two sets) holds its
    development half too. A label that is not a suite of rsft-bench keeps
    every set (``{suite: None}`` in the second value)."""
    from rsft_sklearn.benchmark._suites import halves

    keep = pd.Series(True, index=results.index)
    dropped = {}
    for suite in results.suite.unique():
        try:
            development = set(halves(suite)[0])
        except (KeyError, ValueError):
            dropped[suite] = None
            continue
        rows = (results.suite == suite) & results.dataset.isin(development)
        if rows.any():
            dropped[suite] = sorted(results.dataset[rows].unique())
            keep &= ~rows
    return results[keep], dropped


def pooled_once(means, order):
    """``means`` with each data set once, in the first suite of ``order``
    that holds it (``fars`` is in the held-out halves of two suites); and
    the ``(suite, dataset)`` pairs left out of the pool."""
    rank = {suite: i for i, suite in enumerate(order)}
    ordered = means.assign(_rank=means.suite.map(rank)).sort_values(
        "_rank", kind="stable"
    )
    # By data set alone: a method that only the first suite ran must not
    # leave the other suite's run of the set in the pool.
    first = ordered.drop_duplicates("dataset")
    kept_sets = set(zip(first.suite, first.dataset))
    pairs = dict.fromkeys(zip(means.suite, means.dataset))
    repeated = [pair for pair in pairs if pair not in kept_sets]
    kept = means[[pair in kept_sets for pair in zip(means.suite, means.dataset)]]
    return kept, repeated


def finished_fits(frame):
    """Per row: whether its method finished every fit of its set, that is,
    every fit ended well and the method has as many fits of the set as the
    method with the most (an interrupted run leaves some methods a fold or
    a repeat short, and their means would be over other fits)."""
    ok = frame.status == "ok"
    keys = [frame.dataset, frame.method]
    short = pd.MultiIndex.from_arrays(keys).isin(short_of_fits(frame))
    return ok.groupby(keys).transform("all") & ~short


def short_sets(results):
    """``{(suite, set): [methods]}`` of the methods that did not finish a set
    although none of their fits failed: fewer fits than another method (an
    unfinished run), named in the output."""
    keys = [results.suite, results.dataset, results.method]
    all_ok = (results.status == "ok").groupby(keys).transform("all")
    short = results[all_ok & ~results.finished]
    return {
        key: sorted(part.method.unique())
        for key, part in short.groupby(["suite", "dataset"], sort=False)
    }


def failed_sets(results):
    """``{(suite, set): [methods]}`` of the methods with a failed fit of a
    set, named in the output (a set without every fit of RSFT and both
    rivals is left out of the summary)."""
    failed = results[results.status != "ok"]
    return {
        key: sorted(part.method.unique())
        for key, part in failed.groupby(["suite", "dataset"], sort=False)
    }


def _failure_lines(results):
    lines = []
    for (suite, dataset), names in failed_sets(results).items():
        dropped = {REFERENCE, *RIVALS} & set(names)
        where = "the set is left out" if dropped else "counted as not finished"
        lines.append(f"{suite} {dataset}: {', '.join(names)} failed a fit; {where}.")
    return lines


def per_set(results):
    """Mean over folds and repeats of every (suite, set, method), on the
    sets of each suite that RSFT and both rivals finished (every fit), for
    the methods that finished all of those; and, per suite, the methods
    left out (threshold tuning, binary only, where a set is multiclass),
    which would be averaged over other sets than the others."""
    metrics = ["balanced_accuracy", "f1_macro", "pr_auc", "n_classes"]
    done = results[results.finished & (results.status == "ok")]
    means = done.groupby(["suite", "dataset", "method"])[metrics].mean()
    means = means.reset_index()
    parts, left_out = [], {}
    for suite, part in means.groupby("suite", sort=False):
        methods = part.groupby("dataset").method.agg(set)
        kept = [
            name for name, found in methods.items() if {REFERENCE, *RIVALS} <= found
        ]
        part = part[part.dataset.isin(kept)]
        reach = part.groupby("method").dataset.nunique()
        full = reach.index[reach == len(kept)]
        if len(full) < len(reach):
            left_out[suite] = sorted(set(reach.index) - set(full))
        parts.append(part[part.method.isin(full)])
    return pd.concat([means.iloc[:0], *parts], ignore_index=True), left_out


def suite_table(means):
    rows = []
    for suite, part in means.groupby("suite", sort=False):
        table = part.groupby("method")[["balanced_accuracy", "f1_macro"]].mean()
        binary = part[part.n_classes == 2]
        pr_auc = binary.groupby("method").pr_auc.mean()
        for method, row in table.iterrows():
            rows.append(
                {
                    "suite": suite,
                    "sets": part.dataset.nunique(),
                    "method": method,
                    "balanced_accuracy": row.balanced_accuracy,
                    "f1_macro": row.f1_macro,
                    "pr_auc (binary)": pr_auc.get(method, np.nan),
                }
            )
    return pd.DataFrame(rows)


def trailing_sets(means, margin=0.01):
    wide = means.pivot_table(
        index=["suite", "dataset"], columns="method", values="balanced_accuracy"
    )
    best_rival = wide[list(RIVALS)].max(axis=1)
    gap = wide[REFERENCE] - best_rival
    return gap[gap < -margin].round(3)


def paired_gaps(results, sets):
    """For each ``(suite, dataset)`` of ``sets``, RSFT's balanced accuracy
    minus each LA rival's, fit by fit: the mean and 95% corrected resampled
    t-interval (``corrected_interval``) of the differences over the folds
    and repeats both finished.

    rsft-bench gives every method of a fold the same split and seed, so
    these intervals are narrower than the methods' own, and they say
    whether a gap is larger than the spread of the fits. The fits share
    training rows, so the plain t-interval over them would be too narrow
    (by a factor of about 2.2 at 5 folds).
    """
    keys = [key for key in ("repeat", "fold") if key in results.columns]
    rows = []
    for suite, dataset in sets:
        part = results[(results.suite == suite) & (results.dataset == dataset)]
        part = part[part.status == "ok"]
        wide = part.pivot_table(
            index=keys, columns="method", values="balanced_accuracy"
        )
        sizes = part[part.method == REFERENCE].set_index(keys)
        if {"n_train", "n_test"} <= set(part.columns):
            ratio = sizes.n_test / sizes.n_train
        else:
            # A results file without the split sizes: no interval.
            ratio = pd.Series(np.nan, index=sizes.index)
        for rival in RIVALS:
            if REFERENCE not in wide or rival not in wide:
                continue
            diff = (wide[REFERENCE] - wide[rival]).dropna()
            share = ratio.reindex(diff.index).mean()
            interval = (
                None
                if not np.isfinite(share)
                else corrected_interval(diff.to_numpy(), share)
            )
            rows.append(
                {
                    "suite": suite,
                    "dataset": dataset,
                    "rival": rival,
                    "fits": len(diff),
                    "mean": diff.mean(),
                    "half_width": np.nan
                    if interval is None
                    else interval[2] - interval[0],
                }
            )
    return pd.DataFrame(rows)


def signed_rank(means):
    import baycomp

    wide = means.pivot_table(
        index=["suite", "dataset"], columns="method", values="balanced_accuracy"
    )
    out = {}
    for rival in RIVALS:
        # Seeded: the same files give the same probabilities.
        left, rope, right = baycomp.two_on_multiple(
            wide[REFERENCE].to_numpy(),
            wide[rival].to_numpy(),
            rope=0.01,
            random_state=0,
        )
        out[rival] = (left, rope, right)
    return out


def main(argv=None):
    specs = sys.argv[1:] if argv is None else argv
    if any(spec in ("-h", "--help") for spec in specs):
        print(__doc__.strip())
        return 0
    if not specs or any("=" not in spec for spec in specs):
        print(
            "usage: python benchmarks/heldout_summary.py SUITE=FOLDER "
            "[SUITE=FOLDER ...]\n(each FOLDER holds the results.csv of an "
            "rsft-bench held-out run)",
            file=sys.stderr,
        )
        return 2
    for spec in specs:
        folder = Path(spec.partition("=")[2])
        if not (folder / "results.csv").is_file():
            print(f"{spec}: {folder / 'results.csv'} does not exist.", file=sys.stderr)
            return 2
    try:
        results = load(specs)
    except ValueError as exc:
        # A damaged results file (a traceback from pandas before).
        print(exc, file=sys.stderr)
        return 2
    results, development = held_out_only(results)
    finished = results[results.status == "ok"]
    suites = [spec.partition("=")[0] for spec in specs]
    missing = {
        suite: [
            m
            for m in (REFERENCE, *RIVALS)
            if m not in set(finished.method[finished.suite == suite])
        ]
        for suite in suites
    }
    missing = {suite: names for suite, names in missing.items() if names}
    if missing:
        print(
            f"Every run must hold {REFERENCE!r} and {list(RIVALS)}; missing: "
            + "; ".join(f"{suite}: {names}" for suite, names in missing.items()),
            file=sys.stderr,
        )
        return 2
    means, left_out = per_set(results)
    short = short_sets(results)
    empty = [suite for suite in suites if suite not in set(means.suite)]
    if empty:
        print(
            f"No set on which {REFERENCE!r} and {list(RIVALS)} all finished "
            f"every fit, in: {', '.join(empty)}.",
            file=sys.stderr,
        )
        for (suite, dataset), names in short.items():
            print(
                f"{suite} {dataset}: {', '.join(sorted(names))} have fewer fits "
                "than other methods (an unfinished run?).",
                file=sys.stderr,
            )
        for line in _failure_lines(results):
            print(line, file=sys.stderr)
        return 2
    table = suite_table(means)
    print("| suite | sets | method | balanced accuracy | macro-F1 | PR-AUC (binary) |")
    print("|---|---|---|---|---|---|")
    for _, row in table.iterrows():
        pr = "" if np.isnan(row["pr_auc (binary)"]) else f"{row['pr_auc (binary)']:.3f}"
        print(
            f"| {markdown_cell(row.suite)} | {row.sets} | "
            f"{markdown_cell(row.method)} | "
            f"{row.balanced_accuracy:.3f} | {row.f1_macro:.3f} | {pr} |"
        )
    for suite, names in left_out.items():
        names = ", ".join(names)
        print(f"\n{suite}: left out, as they did not finish every set: {names}.")
    for (suite, dataset), names in short.items():
        where = (
            "the set is left out"
            if {REFERENCE, *RIVALS} & set(names)
            else "counted as not finished"
        )
        print(
            f"\n{suite} {dataset}: {', '.join(sorted(names))} have fewer fits than "
            f"other methods (an unfinished run?); {where}."
        )
    for line in _failure_lines(results):
        print(f"\n{line}")
    gaps = trailing_sets(means)
    print("\nSets where RSFT trails the better LA rival by more than 0.01:")
    print(gaps.to_string() if len(gaps) else "none")
    if len(gaps):
        print(
            "\nThose gaps fit by fit (RSFT minus rival, mean ± 95% corrected "
            "resampled t-interval):"
        )
        for _, row in paired_gaps(results, gaps.index).iterrows():
            interval = "" if np.isnan(row.half_width) else f" ± {row.half_width:.3f}"
            print(
                f"{row.suite} {row.dataset} vs {row.rival}: "
                f"{row['mean']:+.3f}{interval} over {row.fits} fits"
            )
    for suite, names in development.items():
        if names is None:
            print(f"\n{suite}: not a suite of rsft-bench; all its sets are kept.")
        else:
            print(
                f"\n{suite}: left out as development sets, not held-out: "
                f"{', '.join(names)}."
            )
    means, repeated = pooled_once(means, suites)
    for suite, dataset in repeated:
        print(
            f"\n{dataset} is in more than one suite: pooled once, from its first "
            f"suite; its {suite} run is left out of the pooled test."
        )
    n_sets = len(means.groupby(["suite", "dataset"]))
    if n_sets < MIN_DATASETS_FOR_BAYES:
        # As rsft-bench's report: the test says little on fewer sets.
        print(
            f"\nNo Bayesian signed-rank test on {n_sets} set(s); it needs "
            f"{MIN_DATASETS_FOR_BAYES}."
        )
        return 0
    for rival, (left, rope, right) in signed_rank(means).items():
        print(
            f"\nP(RSFT better than {rival}) = {left:.3f}, "
            f"P(equivalent) = {rope:.3f}, P(worse) = {right:.3f} "
            f"({n_sets} sets)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
