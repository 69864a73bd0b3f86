"""The report's summary group: the most sets that at least half of the
methods all finished, whatever the order of ``--methods``, never none while
some set was finished, and every method's scores somewhere."""

import itertools
import json
import random

import numpy as np
import pandas as pd
import pytest

from rsft_sklearn.benchmark import _report
from rsft_sklearn.benchmark._report import _coverage_groups, write_report
from rsft_sklearn.benchmark._runner import COLUMNS, METRICS

pytest.importorskip("autorank")
pytest.importorskip("baycomp")


def _table(coverage, order=None):
    """Balanced accuracies of the methods of ``order`` (all of ``coverage``'s
    by default) on the sets that ``coverage`` gives each, NaN elsewhere."""
    order = list(coverage) if order is None else order
    sets = sorted(set().union(*map(set, coverage.values())))
    return pd.DataFrame(
        {m: [0.5 if s in coverage[m] else np.nan for s in sets] for m in order},
        index=sets,
    )


def _groups(coverage, order=None):
    order = list(coverage) if order is None else order
    return [
        ("".join(sets), "".join(members))
        for sets, members in _coverage_groups(_table(coverage, order), order)
    ]


# Four methods of two sets each, every set finished by two of them.
PAIRS = {"A": "01", "B": "23", "C": "02", "D": "13"}


@pytest.mark.parametrize(
    "coverage, expected",
    [
        # Two methods share each set: set 0 (the first) with A and C, then
        # B and D alone on theirs. In order A, B, C, D the summary held no
        # set, with all four methods, and no method's score showed.
        (PAIRS, [("0", "AC"), ("23", "B"), ("13", "D")]),
        # B and C tie on three sets with A: the sets first in the table's
        # order (0, 1, 2), whichever of B and C comes first.
        (
            {"A": "0123", "B": "012", "C": "013"},
            [("012", "AB"), ("013", "AC")],
        ),
        # A and C share six sets, B finished seven: the six, with two of
        # three methods, not the three that all three share.
        (
            {"B": "0126789", "A": "012345", "C": "012345"},
            [("012345", "AC"), ("0126789", "B")],
        ),
        # Four methods of seven share four sets, and three others each miss
        # a different one of them: the four sets with A, B, C and D.
        (
            {
                "A": "0123456",
                "B": "0123456",
                "C": "0123",
                "D": "0123",
                "E": "123",
                "F": "023",
                "G": "013",
            },
            [("0123", "ABCD"), ("123", "ABCDE"), ("023", "ABCDF"), ("013", "ABCDG")],
        ),  # fmt: skip
    ],
)
def test_the_summary_does_not_depend_on_the_order_of_the_methods(coverage, expected):
    assert _groups(coverage) == expected
    orders = list(itertools.permutations(coverage))
    for order in random.Random(0).sample(orders, min(len(orders), 24)):
        groups = _groups(coverage, list(order))
        assert (groups[0][0], sorted(groups[0][1])) == (
            expected[0][0],
            sorted(expected[0][1]),
        ), order
        assert sorted((s, sorted(m)) for s, m in groups[1:]) == sorted(
            (s, sorted(m)) for s, m in expected[1:]
        ), order


@pytest.mark.parametrize(
    "coverage, expected",
    [
        # No set is finished by two of three: one method's set (the first),
        # then each other alone.
        (
            {"A": "0", "B": "1", "C": "2"},
            [("0", "A"), ("1", "B"), ("2", "C")],
        ),
        # At most two of five share a set: the most sets two share.
        (
            {"A": "012", "B": "0125", "C": "34", "D": "36", "E": "7"},
            [("012", "AB"), ("34", "C"), ("36", "D"), ("7", "E")],
        ),
    ],
)
def test_below_half_the_summary_takes_the_most_sets_the_most_methods_share(
    coverage, expected
):
    assert _groups(coverage) == expected
    assert _groups(coverage, list(reversed(coverage)))[0][0] == expected[0][0]


def _brute_force(coverage):
    """The summary's sets by the documented rule, over every subset of the
    methods."""
    ran = {m: frozenset(c) for m, c in coverage.items() if c}
    sets = sorted(set().union(*ran.values()))

    def key(shared):
        return (
            -len(shared),
            -sum(shared <= c for c in ran.values()),
            sorted(map(sets.index, shared)),
        )

    for enough in range((len(ran) + 1) // 2, 0, -1):
        shared = {
            frozenset.intersection(*(ran[m] for m in subset))
            for subset in itertools.combinations(ran, enough)
        } - {frozenset()}
        if shared:
            return "".join(sorted(min(shared, key=key)))
    return ""


def test_the_summary_is_the_most_sets_of_half_the_methods_by_brute_force():
    rng = random.Random(0)
    for _ in range(300):
        sets = "0123456789"[: rng.randint(1, 8)]
        share = rng.random()
        coverage = {
            m: "".join(s for s in sets if rng.random() < share)
            for m in "ABCDEFG"[: rng.randint(1, 7)]
        }
        if not any(coverage.values()):
            continue
        order = list(coverage)
        rng.shuffle(order)
        groups = _groups(coverage, order)
        assert groups[0][0] == _brute_force(coverage), coverage
        # Every method that finished a set is in some group.
        assert {m for _, members in groups for m in members} == {
            m for m, c in coverage.items() if c
        }, coverage


def test_past_the_search_bound_the_greedy_search_still_shares_half(monkeypatch):
    # Twelve methods each missing its own set of twelve: any six of them
    # share the six sets the other six miss. The exact search takes the
    # first six sets (with the last six methods); the greedy one as many
    # sets, with as many methods, in any order of the methods.
    sets = [f"s{index:02d}" for index in range(12)]
    table = pd.DataFrame(
        {
            f"m{j:02d}": [np.nan if i == j else 0.5 for i in range(12)]
            for j in range(12)
        },
        index=sets,
    )
    methods = list(table.columns)
    assert _coverage_groups(table, methods)[0] == (sets[:6], methods[6:])
    monkeypatch.setattr(_report, "SHARED_SETS_SEARCH_BOUND", 0)
    greedy = (sets[5:11], [*methods[:5], "m11"])
    assert _coverage_groups(table, methods)[0] == greedy
    reordered = _coverage_groups(table[methods[::-1]], methods[::-1])[0]
    assert (reordered[0], sorted(reordered[1])) == greedy
    # A and C share six sets, B finished seven.
    assert _groups({"B": "0126789", "A": "012345", "C": "012345"})[0] == (
        "012345",
        "AC",
    )
    # At most two of five share a set: never none.
    assert _groups({"A": "0", "B": "1", "C": "2", "D": "01", "E": "3"})[0] == (
        "0",
        "AD",
    )


# The four methods of PAIRS by name: RSFT and SMOTE share the first set.
FOUR = {"RSFT": "01", "focal loss": "23", "SMOTE": "02", "LogisticRegression": "13"}


def _report_of(folder, methods, finished):
    """The report of a two-fold run of ``methods`` on sets s0 to s3, a
    method finishing the sets (by index) that ``finished`` gives it, method
    ``j`` of ``FOUR`` scoring 0.5 + 0.1 j."""
    sets = [f"s{index}" for index in range(4)]
    config = {
        "command": "rsft-bench test", "suite": "default", "folds": 2,
        "repeats": 1, "half": None, "epochs": 3, "batch_size": 32,
        "recipe": None, "max_grad_norm": None, "threads": 1, "seed": 0,
        "max_rows": 0, "methods": list(methods), "reference": "RSFT",
        "skipped": [],
        "datasets": [
            {"name": name, "n": 200, "n_features": 4, "n_classes": 2,
             "imbalance_ratio": 2.0 + index, "notes": [], "repeats": 1,
             "split": "cv"}
            for index, name in enumerate(sets)
        ],
    }  # fmt: skip
    folder.mkdir()
    rows = []
    for index, dataset in enumerate(sets):
        for method in methods:
            score = 0.5 + 0.1 * list(FOUR).index(method)
            for fold in range(2):
                row = dict.fromkeys(COLUMNS, "")
                row.update(
                    dataset=dataset, method=method, fold=fold, repeat=0,
                    n_train=160, n_test=40, n_classes=2, imbalance_ratio=2.0,
                )  # fmt: skip
                if str(index) in finished[method]:
                    row.update(dict.fromkeys(METRICS, score))
                    row.update(status="ok", fit_time=0.1, predict_time=0.01)
                    row["backward_rows"] = 1000.0
                else:
                    row.update(status="error", error="ValueError: x")
                rows.append(row)
    pd.DataFrame(rows, columns=COLUMNS).to_csv(folder / "results.csv", index=False)
    (folder / "run.json").write_text(json.dumps(config))
    return write_report(folder, config).read_text()


def _section(report, title):
    return report.split(f"## {title}\n")[1].split("\n## ")[0]


def _first_cells(text):
    """``{first cell: second cell}`` of the Markdown table rows of ``text``."""
    return {
        cells[0]: cells[1]
        for cells in (
            [cell.strip() for cell in line.strip("|").split("|")]
            for line in text.splitlines()
            if line.startswith("| ") and not line.startswith("| method")
        )
    }


@pytest.mark.parametrize(
    "methods",
    [
        ["RSFT", "focal loss", "SMOTE", "LogisticRegression"],
        ["RSFT", "SMOTE", "focal loss", "LogisticRegression"],
        ["LogisticRegression", "focal loss", "SMOTE", "RSFT"],
    ],
)
def test_a_report_of_methods_that_pair_up_shows_every_score(tmp_path, methods):
    # In the first order the summary was "on the 0 data sets", every method
    # "–", the ranks over 0 sets, and no method's score anywhere.
    report = _report_of(tmp_path / "run", methods, FOUR)
    main, *others = _section(report, "Summary").split("### ")
    assert "on the 1 data set that every method below finished" in main
    assert "No set was finished by half" not in main
    assert _first_cells(main) == {"RSFT": "0.500 ± 0.000", "SMOTE": "0.700 ± 0.000"}
    assert {other.splitlines()[0]: _first_cells(other) for other in others} == {
        "On the 2 data sets that focal loss finished": {"focal loss": "0.600 ± 0.000"},
        "On the 2 data sets that LogisticRegression finished": {
            "LogisticRegression": "0.800 ± 0.000"
        },
    }
    ranks = _first_cells(_section(report, "Mean ranks"))
    assert ranks["data sets"] == "1"
    assert (ranks["RSFT"], ranks["SMOTE"]) == ("2.00", "1.00")
    assert "focal loss" not in ranks and "LogisticRegression" not in ranks


def test_the_report_says_when_no_set_is_finished_by_half(tmp_path):
    finished = {"RSFT": "0", "focal loss": "1", "SMOTE": "2"}
    report = _report_of(tmp_path / "run", list(finished), finished)
    main, *others = _section(report, "Summary").split("### ")
    assert (
        "No set was finished by half of the 3 methods that finished one: "
        "below, the most sets that 1 of them all finished." in main
    )
    assert "on the 1 data set that every method below finished" in main
    assert _first_cells(main) == {"RSFT": "0.500 ± 0.000"}
    assert {other.splitlines()[0]: _first_cells(other) for other in others} == {
        "On the 1 data set that focal loss finished": {"focal loss": "0.600 ± 0.000"},
        "On the 1 data set that SMOTE finished": {"SMOTE": "0.700 ± 0.000"},
    }
