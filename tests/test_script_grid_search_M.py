"""``benchmarks/grid_search_M.py``: the M a grid search picks on the longtail
development sets, with classes too small for 3-fold CV left out."""

import re
import signal

import numpy as np
import pytest
from _interrupts import CtrlC
from _scripts import load_script
from sklearn.model_selection import GridSearchCV
from skorch.callbacks import Callback

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._protocol import split_names
from rsft_sklearn.benchmark._suites import LONGTAIL


@pytest.fixture(scope="module")
def grid():
    return load_script("grid_search_M")


def test_searches_the_development_sets_only(grid):
    development, held_out = split_names(LONGTAIL)
    assert set(grid.SETS) == set(development)
    assert not set(grid.SETS) & set(held_out)
    assert grid.GRID == sorted(grid.GRID) and min(grid.GRID) > 0


def test_prints_the_best_M_of_each_set(grid, monkeypatch, capsys):
    # Two small sets, two values of M, 300 rows and 2 epochs instead of
    # 2,000 rows and 15 epochs.
    monkeypatch.setattr(grid, "SETS", ("page-blocks", "car"))
    monkeypatch.setattr(grid, "GRID", [0.5, 2.0])
    loaded, built, searches = [], [], []
    real_load = grid.load_suite

    def load(suite, datasets, max_rows):
        loaded.append((suite, datasets, max_rows))
        return real_load(suite, datasets=datasets, max_rows=300)

    def small(**params):
        built.append(params)
        return RSFTClassifier(**{**params, "max_epochs": 2})

    class Search(GridSearchCV):
        def fit(self, X, y):
            searches.append((self, X, y))
            return super().fit(X, y)

    monkeypatch.setattr(grid, "load_suite", load)
    monkeypatch.setattr(grid, "RSFTClassifier", small)
    monkeypatch.setattr(grid, "GridSearchCV", Search)
    grid.main()

    assert loaded == [
        ("longtail", ["page-blocks"], 2000),
        ("longtail", ["car"], 2000),
    ]
    assert built == [{"max_epochs": 15, "random_state": 0}] * 2
    # page-blocks' 300 rows hold classes of 269, 18, 2, 5 and 6 rows: the
    # two under 6 rows are left out.
    _, X, y = searches[0]
    assert X.dtype == np.float32 and len(y) == 293
    assert dict(zip(*np.unique(y, return_counts=True))) == {"1": 269, "2": 18, "5": 6}
    for _, X, y in searches:
        assert len(X) == len(y)
        assert np.unique(y, return_counts=True)[1].min() >= 6

    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2
    for line, name, (search, _, _) in zip(lines, grid.SETS, searches):
        match = re.fullmatch(
            rf"{name}: best M ([\d.]+) \(M=0.5: ([\d.]+), M=2: ([\d.]+)\)", line
        )
        assert match, line
        scores = [float(match[2]), float(match[3])]
        assert all(0 <= score <= 1 for score in scores)
        np.testing.assert_allclose(
            scores, search.cv_results_["mean_test_score"], atol=5e-4
        )
        # Balanced accuracy decides: the best M has the best mean score.
        assert float(match[1]) == search.best_params_["rsftclassifier__M"]
        assert float(match[1]) == [0.5, 2.0][int(np.argmax(scores))] or (
            scores[0] == scores[1]
        )


def test_help_prints_what_it_does_without_searching(grid, monkeypatch, capsys):
    # --help ran the whole grid search (minutes).
    monkeypatch.setattr(grid, "load_suite", lambda *a, **k: pytest.fail("searched"))
    with pytest.raises(SystemExit) as stop:
        grid.main(["--help"])
    assert stop.value.code == 0
    assert "Which M a grid search picks" in capsys.readouterr().out


class Started(Callback):
    """Calls ``record`` as every fit starts (a function: a clone of the
    estimator keeps calling the same one)."""

    def __init__(self, record):
        self.record = record

    def on_train_begin(self, net, **kwargs):
        self.record()


def test_ctrl_c_in_a_fit_stops_the_search_at_once(grid, monkeypatch, capsys):
    # skorch ends a fit quietly on Ctrl-C. Before, the search scored the
    # partly trained network, went on with every other fit and printed
    # the set's best M.
    started = []
    monkeypatch.setattr(grid, "SETS", ("page-blocks",))
    real_load = grid.load_suite
    monkeypatch.setattr(
        grid,
        "load_suite",
        lambda suite, datasets, max_rows: real_load(
            suite, datasets=datasets, max_rows=300
        ),
    )

    def pressing_ctrl_c(**params):
        callbacks = [("started", Started(lambda: started.append(1)))]
        callbacks.append(("ctrl_c", CtrlC()))
        return RSFTClassifier(**{**params, "max_epochs": 2}, callbacks=callbacks)

    monkeypatch.setattr(grid, "RSFTClassifier", pressing_ctrl_c)
    assert grid.main() == 130
    printed = capsys.readouterr()
    assert "Interrupted" in printed.err and printed.out == ""
    # The first fit is the last.
    assert started == [1]
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
