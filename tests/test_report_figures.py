"""What the report's figures draw and how its captions describe them: a
point per data set in the imbalance figure, each method told apart there,
fit-time whiskers that a log axis can show, labels that do not overlap, and
the Nemenyi CD shaded only where the Friedman test rejects."""

import json
import re

import numpy as np
import pandas as pd
import pytest

from rsft_sklearn.benchmark import _report
from rsft_sklearn.benchmark._runner import COLUMNS, METRICS

pytest.importorskip("autorank")
pytest.importorskip("baycomp")
matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

# 23 methods, as the longtail report: tab20 repeated its colours from the
# 21st on, and RUSBoost had RSFT's.
METHODS = [
    "RSFT", "RSFT warm-up", "RSFT + logit-adjusted loss", "RSFT hardness=0",
    "post-hoc logit adjustment", "post-hoc logit adjustment tuned",
    "logit-adjusted loss", "deferred re-weighting", "classifier re-training",
    "focal loss", "class-weighted loss", "random mask", "RandomUnderSampler",
    "RandomOverSampler", "SMOTE", "TomekLinks", "EditedNearestNeighbours",
    "BalancedRandomForest", "EasyEnsemble", "BalancedBagging", "RUSBoost",
    "HistGradientBoosting balanced", "LogisticRegression",
]  # fmt: skip
RATIOS = [2.0, 5.0, 10.0, 30.0, 80.0, 200.0]
# The spec names of the sweep reports, which wrap to up to three lines.
SPECS = [
    f"RSFT(rejection='{rule}', warmup_epochs={warmup}, M='auto', "
    f"target_acceptance={target})"
    for rule in ("sample", "expected", "epoch")
    for warmup in (0, 5, 10)
    for target in (0.3, 0.5)
]


def _fit_time(set_index, method_index):
    """A fit time per fold over four orders of magnitude across sets: the
    standard deviation over sets exceeds the mean."""
    return 10.0 ** (set_index - 3) * (1 + method_index / 10)


def _results(folder, methods, ratios, score):
    """``results.csv`` and ``run.json`` of a two-fold run: every method
    finished every set, scoring ``score(metric, set index, method index)``."""
    folder.mkdir()
    sets = [f"s{index}" for index in range(len(ratios))]
    rows = []
    for s, (dataset, ratio) in enumerate(zip(sets, ratios)):
        for m, method in enumerate(methods):
            for fold in range(2):
                row = dict.fromkeys(COLUMNS, "")
                row.update(
                    dataset=dataset, method=method, fold=fold, repeat=0,
                    n_train=160, n_test=40, n_classes=2, imbalance_ratio=ratio,
                    status="ok", fit_time=_fit_time(s, m), predict_time=0.01,
                    backward_rows=1000.0,
                )  # fmt: skip
                row.update({metric: score(metric, s, m) for metric in METRICS})
                rows.append(row)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / "results.csv", index=False)
    config = {
        "command": "rsft-bench test", "suite": "default", "folds": 2,
        "repeats": 1, "half": None, "epochs": 3, "batch_size": 32,
        "recipe": None, "max_grad_norm": None, "threads": 1, "seed": 0,
        "max_rows": 0, "methods": list(methods), "reference": "RSFT",
        "skipped": [],
        "datasets": [
            {"name": name, "n": 200, "n_features": 4, "n_classes": 2,
             "imbalance_ratio": ratio, "notes": [], "repeats": 1, "split": "cv"}
            for name, ratio in zip(sets, ratios)
        ],
    }  # fmt: skip
    (folder / "run.json").write_text(json.dumps(config))
    return config


def _score(metric, set_index, method_index):
    # ROC-AUC without an order of the methods (Friedman does not reject),
    # the other scores falling with the method's index (it rejects).
    if metric == "roc_auc":
        return np.random.default_rng([set_index, method_index]).uniform(0.6, 0.9)
    return 0.95 - 0.02 * method_index - 0.01 * set_index


@pytest.fixture(scope="module")
def captured():
    """The figures drawn while the fixture is active, by file name, kept
    open (``plt.close`` does nothing) until the module ends."""
    saved = {}
    real_savefig = Figure.savefig

    def savefig(self, path, *args, **kwargs):
        saved[str(path).rsplit("/", 1)[-1]] = self
        return real_savefig(self, path, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Figure, "savefig", savefig)
        patch.setattr(plt, "close", lambda fig=None: None)
        yield saved
    for figure in saved.values():
        plt.close(figure)


@pytest.fixture(scope="module")
def report(tmp_path_factory, captured):
    """The report of 23 methods on six sets and the figures it drew."""
    folder = tmp_path_factory.mktemp("report") / "run"
    config = _results(folder, METHODS, RATIOS, _score)
    text = _report.write_report(folder, config).read_text()
    figures = dict(captured)
    for figure in figures.values():
        figure.canvas.draw()
    return text, figures


def _figures_section(text):
    return text.split("## Figures\n")[1].split("\n## ")[0]


def _overlapping(labels, renderer):
    """Pairs of neighbouring drawn labels whose boxes overlap."""
    boxes = sorted(
        (
            (label.get_text(), label.get_window_extent(renderer))
            for label in labels
            if label.get_visible() and label.get_text()
        ),
        key=lambda item: (item[1].x0, item[1].y0),
    )
    return [
        (a, b)
        for (a, box_a), (b, box_b) in zip(boxes, boxes[1:])
        if box_a.overlaps(box_b)
    ]


def test_the_imbalance_figure_draws_a_point_per_data_set(report):
    # Consecutive sets were joined by lines, which drew trends across
    # unrelated data sets.
    _, figures = report
    figure = figures["metric_vs_imbalance.png"]
    for ax in figure.axes:
        lines = ax.get_lines()
        assert sorted(line.get_label() for line in lines) == sorted(METHODS)
        for line in lines:
            assert len(line.get_xdata()) == len(RATIOS)
            assert line.get_linestyle() == "None", line.get_label()
            assert line.get_marker() not in (None, "None", "")
            np.testing.assert_allclose(line.get_xdata(), RATIOS)


def test_the_imbalance_figure_tells_every_method_apart(report):
    # Colours repeated from the 21st method (tab20), each with marker "o":
    # RUSBoost had RSFT's colour, and RSFT was drawn first, under the others.
    _, figures = report
    figure = figures["metric_vs_imbalance.png"]
    (legend,) = figure.legends
    styles = [
        (to_rgba(handle.get_color()), handle.get_marker())
        for handle in legend.legend_handles
    ]
    assert len(styles) == len(METHODS)
    assert len(set(styles)) == len(METHODS)
    assert legend.get_texts()[0].get_text() == "RSFT"
    for ax in figure.axes:
        lines = ax.get_lines()
        reference = lines[-1]
        assert reference.get_label() == "RSFT"
        assert to_rgba(reference.get_color()) == to_rgba("black")
        assert all(to_rgba(line.get_color()) != to_rgba("black") for line in lines[:-1])
        assert reference.get_markersize() > max(
            line.get_markersize() for line in lines[:-1]
        )
        assert reference.get_zorder() > max(line.get_zorder() for line in lines[:-1])


def test_the_fit_time_whiskers_are_geometric_and_shown(report):
    # Mean ± std over sets: the lower whisker of a time that varies over
    # orders of magnitude ran below zero, to the log axis' left edge, and
    # bars started at an autoscaled left limit.
    _, figures = report
    ax = figures["fit_time.png"].axes[0]
    (container,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    data_line, _, (whiskers,) = container.lines
    segments = np.array(whiskers.get_segments())
    low, high = segments[:, :, 0].min(axis=1), segments[:, :, 0].max(axis=1)
    left, right = ax.get_xlim()
    assert (low > 0).all()
    assert left < low.min() and high.max() < right
    # Within a factor 2 of the whiskers: the limits follow them.
    assert left > low.min() / 2 and right < high.max() * 2
    # Points, no bars.
    assert not ax.patches
    # The geometric mean over the six sets, ×/÷ the geometric standard
    # deviation: 10 ** std(-3, ..., 2) = 51.0.
    labels = [label.get_text() for label in ax.get_yticklabels()]
    index = [METHODS.index(label) for label in labels]
    centre = 10**-0.5 * (1 + np.array(index) / 10)
    spread = 10 ** np.std(np.arange(6))
    assert spread == pytest.approx(51.0, abs=0.05)
    np.testing.assert_allclose(
        np.asarray(data_line.get_xdata(), dtype=float), centre, rtol=1e-9
    )
    np.testing.assert_allclose(low, centre / spread, rtol=1e-9)
    np.testing.assert_allclose(high, centre * spread, rtol=1e-9)
    assert "geometric mean" in ax.get_xlabel()
    assert "×/÷ one geometric standard deviation" in ax.get_xlabel()


def test_the_fit_time_axis_labels_do_not_overlap(captured, tmp_path):
    # 0.2 to 2.6 s (the sweep over keel-all): matplotlib labelled every
    # minor tick, "3x10^-1" ran into "4x10^-1".
    rng = np.random.default_rng(0)
    table = pd.DataFrame(
        rng.uniform(0.2, 2.6, (8, len(SPECS))),
        columns=SPECS,
        index=[f"s{index}" for index in range(8)],
    )
    assert _report._plot_fit_time(tmp_path / "fit_time.png", table)
    figure = captured["fit_time.png"]
    figure.canvas.draw()
    ax = figure.axes[0]
    left, right = ax.get_xlim()
    shown = [
        label
        for label in ax.get_xticklabels(which="both")
        if label.get_text() and left <= label.get_position()[0] <= right
    ]
    assert _overlapping(shown, figure.canvas.get_renderer()) == []
    texts = [label.get_text() for label in shown]
    assert len(texts) >= 3 and all(re.fullmatch(r"[0-9.]+", t) for t in texts), texts


def _rank_tables(methods, n_sets, seed=0):
    scores = pd.DataFrame(
        np.random.default_rng(seed).random((n_sets, len(methods))), columns=methods
    )
    return {m: scores.rank(axis=1, ascending=False) for m in _report.KEY_METRICS}


def test_the_rank_labels_do_not_overlap(captured, tmp_path):
    # The figure's height, (0.25 + 0.25 * lines) * methods + 2, was shared
    # by two rows of panels: labels of three lines ran into each other.
    ranks = _rank_tables(SPECS, 8)
    stats = {m: (0.5, 9.31, None) for m in _report.KEY_METRICS}
    _report._plot_ranks(tmp_path / "mean_ranks.png", ranks, stats)
    figure = captured["mean_ranks.png"]
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    assert max(label.count("\n") for label in _report._tick_labels(SPECS)[0]) == 2
    for ax in figure.axes:
        assert len(ax.get_yticklabels()) == len(SPECS)
        assert _overlapping(ax.get_yticklabels(), renderer) == [], ax.get_title()


def test_the_cd_is_shaded_only_where_friedman_rejects(captured, tmp_path):
    # The band "within the Nemenyi CD of the best" was drawn at p = 0.28,
    # where no two methods differ significantly.
    methods = ["a", "b", "c", "d"]
    ranks = _rank_tables(methods, 8)
    stats = {
        "roc_auc": (0.28, 1.5, None),
        "pr_auc": (0.01, 1.5, None),
        "g_mean": (np.nan, np.nan, None),
        "balanced_accuracy": (0.0499, 1.5, None),
        "fit_time": (0.01, 1.5, None),
    }
    _report._plot_ranks(tmp_path / "mean_ranks.png", ranks, stats)
    figure = captured["mean_ranks.png"]
    by_title = {ax.get_title().split(":")[0]: ax for ax in figure.axes}
    for metric, (p_value, cd, _) in stats.items():
        if metric in _report.LOWER_IS_BETTER:
            continue
        ax = by_title[_report.LABELS[metric]]
        title = ax.get_title()
        if p_value < 0.05:
            (band,) = ax.patches
            x = ax.transData.inverted().transform(band.get_verts())[:, 0]
            best = ranks[metric].mean().min()
            assert (x.min(), x.max()) == pytest.approx((best, best + cd))
            assert f"shaded: within the Nemenyi CD ({cd:.2f}) of the best" in title
        else:
            assert not ax.patches, metric
            assert "shaded:" not in title
    assert "not significant at alpha = 0.05" in by_title["ROC-AUC"].get_title()
    assert "no Friedman test" in by_title["G-mean"].get_title()


def test_the_captions_say_what_the_figures_show(report):
    text, _ = report
    figures = _figures_section(text)
    # ROC-AUC does not reject (p of random scores), the others do.
    assert "![Mean ranks with the Nemenyi critical difference](mean_ranks.png)" in (
        figures
    )
    assert (
        "Shaded: the methods within the Nemenyi critical difference of the best, "
        "where the Friedman test rejects at alpha = 0.05 (not for ROC-AUC: no "
        "significant difference there)." in figures
    )
    assert (
        "![Scores against the imbalance ratio, one point per data set]"
        "(metric_vs_imbalance.png)" in figures
    )
    assert "one point per data set and method, RSFT in black." in figures
    assert (
        "Fit time per fold: the geometric mean over the 6 data sets of each set's "
        "mean over its folds, with whiskers ×/÷ one geometric standard deviation"
        in figures
    )


def test_the_rank_caption_promises_no_cd_below_five_sets(tmp_path):
    # "Mean ranks with the Nemenyi critical difference" with three sets,
    # whose panels read "Friedman p = –".
    folder = tmp_path / "run"
    config = _results(folder, METHODS[:4], RATIOS[:3], _score)
    text = _report.write_report(folder, config).read_text()
    figures = _figures_section(text)
    assert "![Mean ranks](mean_ranks.png)" in figures
    assert "Nemenyi critical difference](" not in figures
    assert (
        "Mean rank of each method (1 = best) over the 3 data sets of the summary, "
        "one panel per score. No Friedman test and no Nemenyi critical "
        "difference: they need at least 5 data sets." in figures
    )


def _labels_in_view(ax):
    """The drawn x tick labels inside the view, left to right, and the
    pairs of them that overlap."""
    ax.figure.canvas.draw()
    left, right = ax.get_xlim()
    shown = sorted(
        (
            label
            for label in ax.get_xticklabels(which="both")
            if label.get_text() and left <= label.get_position()[0] <= right
        ),
        key=lambda label: label.get_position()[0],
    )
    overlapping = _overlapping(shown, ax.figure.canvas.get_renderer())
    return [label.get_text() for label in shown], overlapping


def test_the_fit_time_axis_under_a_decade_is_labelled(captured, tmp_path):
    # Methods of like speed, 0.60 to 0.64 s: the view from 0.437 to 0.874
    # was labelled "0.5" alone.
    table = pd.DataFrame({"a": [0.60, 0.61, 0.62, 0.60], "b": [0.63, 0.62, 0.64, 0.63]})
    assert _report._plot_fit_time(tmp_path / "fit_time_narrow.png", table)
    ax = captured["fit_time_narrow.png"].axes[0]
    np.testing.assert_allclose(ax.get_xlim(), (0.437, 0.874), atol=1e-3)
    texts, overlapping = _labels_in_view(ax)
    assert texts == ["0.5", "0.6", "0.7", "0.8"]
    assert overlapping == []


@pytest.mark.parametrize(
    "values, expected",
    [
        # Imbalance ratios 6 to 9: no label at all.
        ([6, 7, 8, 9], ["6", "7", "8", "9"]),
        # 1.1 to 1.9: matplotlib's linear ticks, of which 1.5 to 1.8 were
        # labelled (their coefficient rounded to a 2).
        (
            [1.1, 1.5, 1.9],
            ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6", "1.7", "1.8", "1.9"],
        ),
        # Two labels of the decades and 2, 3 and 5 times them in view
        # (0.91 to 2.6, 0.66 to 2.7): those alone, as before.
        ([0.95, 2.5], ["1", "2"]),
        ([0.7, 2.5], ["1", "2"]),
        # Over a decade (0.42 to 24), as before: the decades and 2 and 5
        # times them.
        ([0.5, 20], ["0.5", "1", "2", "5", "10", "20"]),
    ],
)
def test_a_log_axis_has_two_labels_in_view_at_least(values, expected):
    fig, ax = plt.subplots(figsize=(6.4, 4.8))
    ax.plot(values, np.linspace(0, 1, len(values)), "o")
    ax.set_xscale("log")
    _report._log_axis_labels(ax.xaxis)
    texts, overlapping = _labels_in_view(ax)
    plt.close(fig)
    assert len(texts) >= 2 and overlapping == []
    assert texts == expected
