"""The report of rsft-bench on uneven runs: which methods and sets the
summary holds, the methods it leaves out (named), names that are Markdown
markup, and its figures."""

import json
import re
import warnings

import numpy as np
import pandas as pd
import pytest

from rsft_sklearn.benchmark import _report
from rsft_sklearn.benchmark._report import (
    _coverage_groups,
    markdown_cell,
    write_report,
)
from rsft_sklearn.benchmark._runner import COLUMNS, METRICS

pytest.importorskip("autorank")
pytest.importorskip("baycomp")


def _config(sets, methods, n_classes=2):
    """The run.json of a two-fold run of ``methods`` on ``sets`` (names, or
    ``(name, imbalance ratio)`` pairs)."""
    sets = [(s, 5.0) if isinstance(s, str) else s for s in sets]
    return {
        "command": "rsft-bench test", "suite": "default", "folds": 2,
        "repeats": 1, "half": None, "epochs": 3, "batch_size": 32,
        "recipe": None, "max_grad_norm": None, "threads": 1, "seed": 0,
        "max_rows": 0, "methods": list(methods), "reference": "RSFT",
        "skipped": [],
        "datasets": [
            {"name": name, "n": 200, "n_features": 4, "n_classes": n_classes,
             "imbalance_ratio": ratio, "notes": [], "repeats": 1, "split": "cv"}
            for name, ratio in sets
        ],
    }  # fmt: skip


def _write(folder, config, score, failed=lambda dataset, method: False):
    """``results.csv`` and ``run.json`` of ``config``: every method on every
    set and fold, scoring ``score(dataset, method, fold)``, failed where
    ``failed(dataset, method)``."""
    folder.mkdir(exist_ok=True)
    rows = []
    for entry in config["datasets"]:
        dataset = entry["name"]
        for method in config["methods"]:
            for fold in range(config["folds"]):
                row = dict.fromkeys(COLUMNS, "")
                row.update(
                    dataset=dataset, method=method, fold=fold, repeat=0,
                    n_train=160, n_test=40, n_classes=entry["n_classes"],
                    imbalance_ratio=entry["imbalance_ratio"],
                )  # fmt: skip
                if failed(dataset, method):
                    row.update(status="error", error="ValueError: *star* `tick`")
                else:
                    value = score(dataset, method, fold)
                    row.update({metric: value for metric in METRICS})
                    row.update(status="ok", fit_time=0.1, predict_time=0.01)
                    row["backward_rows"] = 1000.0
                rows.append(row)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / "results.csv", index=False)
    (folder / "run.json").write_text(json.dumps(config))
    return folder


def _section(report, title):
    """The text of the section ``## title`` of a report, up to the next."""
    return report.split(f"## {title}\n")[1].split("\n## ")[0]


def _table_rows(text):
    """``{first cell: [other cells]}`` of the first Markdown table in ``text``."""
    rows = {}
    for line in text.splitlines():
        if line.startswith("| "):
            cells = [cell.strip() for cell in line.split(" | ")]
            rows[cells[0].lstrip("| ")] = cells[1:]
        elif rows and not line.startswith("|---"):
            break
    return rows


@pytest.fixture
def figures(monkeypatch):
    """The figures the report draws, by the file each is saved to, kept
    open until the test ends."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.figure import Figure

    saved = {}
    real_savefig = Figure.savefig

    def savefig(self, path, *args, **kwargs):
        saved[str(path).rsplit("/", 1)[-1]] = self
        return real_savefig(self, path, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    monkeypatch.setattr(plt, "close", lambda fig=None: None)
    yield saved
    for figure in saved.values():
        plt.close(figure)


SEVEN = [f"s{index}" for index in range(7)]
FIVE = ["RSFT", "logit-adjusted loss", "focal loss", "SMOTE", "LogisticRegression"]


def _lone_finisher(folder):
    """Five methods on seven sets; on the last only LogisticRegression
    finishes. Method j scores 0.70 + 0.02 j + 0.002 i on set i."""
    config = _config(SEVEN, FIVE)
    _write(
        folder,
        config,
        lambda d, m, f: 0.70 + 0.02 * FIVE.index(m) + 0.002 * SEVEN.index(d),
        failed=lambda d, m: d == "s6" and m != "LogisticRegression",
    )
    return config


def test_one_method_of_a_set_more_does_not_take_over_the_summary(tmp_path):
    # LogisticRegression alone finished s6: the summary and the ranks held it
    # alone, on 7 sets, with no Friedman test and no CD diagram, although
    # the 5 methods finished the 6 other sets.
    folder = tmp_path / "run"
    config = _lone_finisher(folder)
    report = write_report(folder, config).read_text()
    summary = _section(report, "Summary")
    assert "on the 6 data sets that every method below finished" in summary
    rows = _table_rows(summary)
    assert list(rows) == ["method", *FIVE]
    # 0.78 + 0.002 i over sets 0 to 5: mean 0.785, std 0.0034.
    assert rows["LogisticRegression"][0] == "0.785 ± 0.003"
    assert rows["RSFT"][0] == "0.705 ± 0.003"
    ranks = _table_rows(_section(report, "Mean ranks"))
    assert [rows_[0] for rows_ in (ranks[m] for m in FIVE)] == [
        "5.00", "4.00", "3.00", "2.00", "1.00",
    ]  # fmt: skip
    assert ranks["data sets"][0] == "6"
    assert ranks["Friedman p"][0] != "–" and ranks["Nemenyi CD"][0] == "2.49"
    assert "Not ranked" not in report
    assert (folder / "critical_difference.png").exists()


@pytest.mark.parametrize(
    "coverage, expected",
    [
        # One method of a set more: the others' sets, all five methods.
        (
            {"a": "0123456", "b": "012345", "c": "012345"},
            [("012345", "abc")],
        ),
        # A method of fewer sets (threshold tuning, binary only): the widest
        # sets without it, then its sets with every method.
        (
            {"a": "012345", "b": "012345", "t": "01"},
            [("012345", "ab"), ("01", "abt")],
        ),
        # Two methods each a set short of ten: the ten sets, with the eight
        # methods that finished them; then each of the two on its nine.
        (
            {
                **dict.fromkeys("abcdefgh", "0123456789"),
                "x": "123456789",
                "y": "023456789",
            },
            [
                ("0123456789", "abcdefgh"),
                ("123456789", "abcdefghx"),
                ("023456789", "abcdefghy"),
            ],
        ),  # fmt: skip
        # Two methods a set short each, and one of four sets: the two on the
        # eight sets they share, not each alone on its nine.
        (
            {"a": "123456789", "b": "023456789", "c": "0123"},
            [("23456789", "ab"), ("0123", "c")],
        ),
        # A binary-only method beside two that ran on every set: the seven
        # sets, then the binary ones with all three; none left out.
        (
            {"a": "0123456", "b": "0123456", "t": "01234"},
            [("0123456", "ab"), ("01234", "abt")],
        ),
        # One of two methods is half of them: the more sets.
        ({"a": "0123", "b": "01"}, [("0123", "a"), ("01", "ab")]),
        # A method that finished nothing is in no group.
        ({"a": "012", "b": "012", "z": ""}, [("012", "ab")]),
    ],
)
def test_the_summary_takes_the_most_sets_of_half_the_methods(coverage, expected):
    sets = sorted(set("".join(coverage.values())))
    table = pd.DataFrame(
        {m: [1.0 if s in c else np.nan for s in sets] for m, c in coverage.items()},
        index=sets,
    )
    groups = _coverage_groups(table, list(coverage))
    assert groups == [(list(s), list(m)) for s, m in expected]


def test_methods_absent_from_every_table_are_named(tmp_path):
    # A multiclass run: threshold tuning (binary only) has no row, SMOTE
    # failed every fit, TomekLinks has no row although it applies (an
    # unfinished run). Threshold tuning and TomekLinks left the report
    # without a word; SMOTE was "finished on fewer of these sets".
    sets = [f"m{index}" for index in range(5)]
    methods = ["RSFT", "focal loss", "SMOTE", "threshold tuning", "TomekLinks"]
    config = _config(sets, methods, n_classes=5)
    ran = dict(config, methods=methods[:3])
    folder = _write(
        tmp_path / "run",
        ran,
        lambda d, m, f: 0.6 + 0.01 * len(m),
        failed=lambda d, m: m == "SMOTE",
    )
    report = write_report(folder, config).read_text()
    summary = _section(report, "Summary")
    assert (
        "Not run on any set, as they apply to binary sets only: threshold tuning."
        in summary
    )
    assert (
        "Not run on any set (no row in the results: an unfinished run?): "
        "TomekLinks." in summary
    )
    assert "Finished no set (a failed or missing fit of each): SMOTE." in summary
    ranks = _section(report, "Mean ranks")
    assert "Not ranked, as finished on fewer of these sets: SMOTE (none of them)." in (
        ranks
    )


def test_the_fit_time_figure_names_the_methods_it_leaves_out(tmp_path, figures):
    # Threshold tuning ran on two binary sets of five: the figure left it
    # out without a word.
    sets = [f"b{index}" for index in range(2)] + [f"m{index}" for index in range(3)]
    methods = ["RSFT", "focal loss", "threshold tuning"]
    config = _config(sets, methods)
    folder = _write(
        tmp_path / "run",
        config,
        lambda d, m, f: 0.7 + 0.01 * len(m),
        failed=lambda d, m: m == "threshold tuning" and d.startswith("m"),
    )
    report = write_report(folder, config).read_text()
    shown = [
        label.get_text() for label in figures["fit_time.png"].axes[0].get_yticklabels()
    ]
    assert sorted(shown) == ["RSFT", "focal loss"]
    assert (
        "Not in the fit-time figure, as they did not finish all of its 5 data "
        "sets (their times on the sets they finished are in the cost tables): "
        "threshold tuning." in _section(report, "Figures")
    )


def _cell_texts(report):
    """The text of every cell of every table of ``report``, as a Markdown
    reader shows it, and the kinds of markup it found in them."""
    markdown_it = pytest.importorskip("markdown_it")
    parser = markdown_it.MarkdownIt("commonmark").enable("table")
    cells, markup, inside = [], set(), False
    for token in parser.parse(report):
        if token.type in ("th_open", "td_open"):
            inside = True
        elif token.type in ("th_close", "td_close"):
            inside = False
        elif inside and token.type == "inline":
            cells.append("".join(child.content for child in token.children))
            markup |= {child.type for child in token.children if child.type != "text"}
    return cells, markup


def test_names_and_errors_are_shown_as_written(tmp_path):
    # Only "|" was escaped: "*q1*" showed in italics, backticks as code,
    # "a\|b" as "a|b", and an error's "*star*" in italics.
    names = ["sales|2024", "*q1*", "_q2_", "`rm -rf`", "a\\|b", "x_1 <y> [z]", "plain"]
    methods = ["RSFT", "RSFT(target_power=1.0, M=2.0)", "SMOTE"]
    config = _config(names, methods)
    folder = _write(
        tmp_path / "run",
        config,
        lambda d, m, f: 0.7 + 0.01 * len(m),
        failed=lambda d, m: d == "plain" and m == "SMOTE",
    )
    report = write_report(folder, config).read_text()
    cells, markup = _cell_texts(report)
    for text in [*names, *methods, "ValueError: *star* `tick`"]:
        assert text in cells, text
    assert markup <= {"softbreak"}, markup
    # An underscore inside a word is no markup: names read as before.
    assert markdown_cell("RSFT(target_power=1.0)") == "RSFT(target_power=1.0)"
    assert markdown_cell("_q2_ x__y") == "\\_q2\\_ x__y"


@pytest.mark.parametrize("n_methods, n_sets", [(4, 10), (3, 4)])
def test_the_critical_difference_is_drawn_where_there_is_one(
    figures, tmp_path, n_methods, n_sets
):
    # The "CD = x" label sat above the axes' limits (not drawn) with fewer
    # than 13 methods, and every title promised a shaded CD, with or without
    # one (4 sets: no Friedman test). Methods 0.3 apart: Friedman p = 1e-4
    # on 10 sets, where the CD is shaded (0.2 apart, p = 0.09, it is not).
    rng = np.random.default_rng(0)
    scores = pd.DataFrame(
        rng.random((n_sets, n_methods)) + np.arange(n_methods) * 0.3,
        columns=[f"m{index}" for index in range(n_methods)],
    )
    ranks = {m: scores.rank(axis=1, ascending=False) for m in _report.KEY_METRICS}
    stats = {m: _report._friedman(scores, m) for m in _report.KEY_METRICS}
    _report._plot_ranks(tmp_path / "mean_ranks.png", ranks, stats)
    figure = figures["mean_ranks.png"]
    figure.canvas.draw()
    titles = [ax.get_title() for ax in figure.axes]
    cd = stats["roc_auc"][1]
    if n_sets >= _report.MIN_DATASETS_FOR_CD:
        # Nemenyi: q(4) = 2.569 times sqrt(4 * 5 / (6 * 10)).
        assert f"{cd:.2f}" == "1.48"
        assert all("Nemenyi CD (1.48)" in title for title in titles)
        # Drawn, inside the figure.
        renderer = figure.canvas.get_renderer()
        box = figure.bbox
        for ax in figure.axes:
            extent = ax.title.get_window_extent(renderer)
            assert box.x0 <= extent.x0 and extent.x1 <= box.x1
            assert box.y0 <= extent.y0 and extent.y1 <= box.y1
    else:
        assert not np.isfinite(cd)
        assert not any("shaded" in title or "CD" in title for title in titles)


@pytest.fixture
def imbalance_figure(tmp_path, figures):
    """The drawn metric_vs_imbalance figure of a run of three methods, one a
    long spec, on sets of imbalance ratio 2 to 6 and 50 to 51 (less than
    two decades), and its renderer."""
    long_spec = "RSFT(target_power=1.0, warmup_epochs=0.5, hardness=0.25, M=2.0)"
    sets = [(f"b{i}", 2.0 + i) for i in range(5)]
    sets += [(f"c{i}", 50.0 + i) for i in range(2)]
    config = _config(sets, ["RSFT", long_spec, "SMOTE"])
    folder = _write(tmp_path / "run", config, lambda d, m, f: 0.7 + 0.001 * len(m))
    write_report(folder, config)
    figure = figures["metric_vs_imbalance.png"]
    figure.canvas.draw()
    return figure, figure.canvas.get_renderer()


def test_the_imbalance_legend_is_wrapped_beside_the_panels(imbalance_figure):
    # A long spec ran over the panels' titles: the legend was not wrapped.
    figure, renderer = imbalance_figure
    (legend,) = figure.legends
    labels = [text.get_text() for text in legend.get_texts()]
    assert max(len(line) for label in labels for line in label.split("\n")) <= 40
    assert any("\n" in label for label in labels)
    legend_box = legend.get_window_extent(renderer)
    for ax in figure.axes:
        assert not legend_box.overlaps(ax.title.get_window_extent(renderer))
        assert not legend_box.overlaps(ax.get_window_extent(renderer))


def test_the_imbalance_axis_labels_do_not_overlap(imbalance_figure):
    # Over less than two decades matplotlib labels the minor ticks too, as
    # "2x10^0", "3x10^0", ...: they ran into each other.
    figure, renderer = imbalance_figure
    for ax in figure.axes:
        low, high = ax.get_xlim()
        shown = sorted(
            (
                label.get_window_extent(renderer)
                for label in ax.get_xticklabels(which="both")
                if label.get_visible()
                and label.get_text()
                and low <= label.get_position()[0] <= high
            ),
            key=lambda box: box.x0,
        )
        for left, right in zip(shown, shown[1:]):
            assert left.x1 <= right.x0, ax.get_title()
    labels = [label.get_text() for label in figure.axes[2].get_xticklabels()]
    assert "10" in labels


def test_equal_fit_times_warn_of_nothing(tmp_path):
    # matplotlib's "Attempting to set identical low and high xlims" reached
    # the user when every fit took as long (0.1 s; their mean over six sets
    # is 0.1 up to rounding).
    config = _config(SEVEN[:6], ["RSFT", "SMOTE"])
    folder = _write(tmp_path / "run", config, lambda d, m, f: 0.7 + 0.01 * len(m))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        write_report(folder, config)
    assert (folder / "fit_time.png").exists()


def test_a_figure_the_report_does_not_draw_is_not_left_behind(tmp_path):
    # A folder reported again for fewer methods (no Friedman test with two)
    # kept the earlier critical-difference diagram, unlinked.
    config = _config(SEVEN, FIVE)
    folder = _write(
        tmp_path / "run", config, lambda d, m, f: 0.7 + 0.02 * FIVE.index(m)
    )
    report = write_report(folder, config).read_text()
    assert "critical_difference.png" in report
    (folder / "notes.png").write_bytes(b"mine")
    report = write_report(folder, dict(config, methods=FIVE[:2])).read_text()
    assert "critical_difference.png" not in report
    assert not (folder / "critical_difference.png").exists()
    # Every fit failed: no fit-time figure either; other files stay.
    _write(folder, config, lambda d, m, f: 0.0, failed=lambda d, m: True)
    report = write_report(folder, config).read_text()
    assert "fit_time.png" not in report and not (folder / "fit_time.png").exists()
    assert (folder / "notes.png").read_bytes() == b"mine"
    assert re.findall(r"\]\(([^)]+)\)", report) == [
        "mean_ranks.png", "metric_vs_imbalance.png",
    ]  # fmt: skip
