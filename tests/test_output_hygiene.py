"""What a fit and ``rsft-bench`` print beside their results: the warnings of a
validation set's labels, the columns of the epoch table, the warning of an
epoch that took no step in continued training, and the command's format of
warnings."""

import subprocess
import sys
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.exceptions import DataConversionWarning
from skorch.callbacks import PrintLog
from skorch.dataset import Dataset
from skorch.helper import predefined_split

from rsft_sklearn import RSFTClassifier, RSFTWarning
from rsft_sklearn.benchmark import _cli

_COLUMN_VECTOR = "A column-vector y was passed when a 1d array was expected"


def _data(n=240, n_classes=3, seed=0):
    X, y = make_classification(
        n,
        6,
        n_informative=4,
        n_redundant=0,
        n_classes=n_classes,
        n_clusters_per_class=1,
        random_state=seed,
    )
    return X.astype(np.float32), y


def _caught(call):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        call()
    return caught


# The validation set's labels ---------------------------------------------


@pytest.mark.parametrize("max_epochs", [1, 4])
def test_a_validation_column_vector_warns_once_naming_it(max_epochs):
    # There were two DataConversionWarnings per fit, pointing at the
    # library's line, with scikit-learn's words only: now one, at the
    # user's line, naming the labels.
    X, y = _data()

    def fit(labels):
        clf = RSFTClassifier(
            max_epochs=max_epochs,
            random_state=0,
            train_split=predefined_split(Dataset(X[:50], labels)),
        )
        return clf, _caught(lambda: clf.fit(X, y))

    clf, caught = fit(y[:50].reshape(-1, 1))
    conversions = [w for w in caught if w.category is DataConversionWarning]
    assert len(conversions) == 1
    assert str(conversions[0].message).startswith(
        "The labels of the validation set of train_split: " + _COLUMN_VECTOR
    )
    assert conversions[0].filename == __file__
    # Read as the 1-d labels are: the same validation scores.
    flat, caught = fit(y[:50])
    assert not [w for w in caught if w.category is DataConversionWarning]
    np.testing.assert_array_equal(
        clf.history[:, "valid_loss"], flat.history[:, "valid_loss"]
    )
    assert len(clf.history) == max_epochs


def test_a_validation_column_vector_warns_once_per_partial_fit():
    X, y = _data()
    clf = RSFTClassifier(
        max_epochs=2,
        random_state=0,
        train_split=predefined_split(Dataset(X[:50], y[:50].reshape(-1, 1))),
    )
    for _ in range(2):
        caught = _caught(lambda: clf.partial_fit(X, y))
        conversions = [w for w in caught if w.category is DataConversionWarning]
        assert [w.filename for w in conversions] == [__file__]
    assert len(clf.history) == 4


def test_a_training_column_vector_points_at_the_call():
    # scikit-learn's message as it is (its common checks read it), at the
    # line of fit rather than the library's.
    X, y = _data()
    clf = RSFTClassifier(max_epochs=1, random_state=0)
    caught = _caught(lambda: clf.fit(X, y.reshape(-1, 1)))
    conversions = [w for w in caught if w.category is DataConversionWarning]
    assert len(conversions) == 1
    assert str(conversions[0].message).startswith(_COLUMN_VECTOR)
    assert conversions[0].filename == __file__


# The epoch table -----------------------------------------------------------


def _table(labels, **params):
    """The lines that the epoch table sends to its sink, and the estimator."""
    X, _ = _data(n=len(labels))
    lines = []
    clf = RSFTClassifier(
        max_epochs=2,
        random_state=0,
        callbacks__print_log__sink=lines.append,
        **params,
    )
    clf.fit(X, labels)
    return lines, clf


def _class_columns(header):
    return [name for name in header.split() if name.startswith("acceptance_rate[")]


def test_class_columns_follow_classes():
    # skorch sorts the keys as text: [-1], [10], [2].
    labels = np.array([2, 10, -1])[np.arange(240) % 3]
    lines, clf = _table(labels)
    assert list(clf.classes_) == [-1, 2, 10]
    assert _class_columns(lines[0]) == [
        "acceptance_rate[-1]",
        "acceptance_rate[2]",
        "acceptance_rate[10]",
    ]
    assert len(lines) == 4
    # The constructor's order, where it is not sorted.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RSFTWarning)
        lines, _ = _table(
            np.array(["a", "b", "c"])[np.arange(240) % 3], classes=["b", "a", "c"]
        )
    assert _class_columns(lines[0]) == [
        "acceptance_rate[b]",
        "acceptance_rate[a]",
        "acceptance_rate[c]",
    ]


def test_ten_classes_keep_their_columns_in_order():
    labels = np.arange(240) % 10 + 5
    lines, _ = _table(labels)
    assert _class_columns(lines[0]) == [f"acceptance_rate[{c}]" for c in range(5, 15)]


def test_more_classes_leave_their_columns_to_the_history():
    # 100 classes made 106 columns and lines of 2,363 characters.
    labels = np.arange(1000) % 100
    lines, clf = _table(labels)
    assert lines[0].split() == [
        "epoch",
        "M_effective",
        "acceptance_rate",
        "train_loss",
        "warmup",
        "dur",
    ]
    assert max(len(line) for line in lines) < 100
    rates = clf.history[-1, [f"acceptance_rate[{c}]" for c in range(100)]]
    assert len(rates) == 100 and all(rate == 1.0 for rate in rates)
    lines, _ = _table(np.arange(240) % 11)
    assert not _class_columns(lines[0])


def test_a_binary_table_is_skorchs():
    # Two classes: the columns of skorch's PrintLog, in its order.
    labels = np.arange(240) % 2
    lines, _ = _table(labels)
    skorch_lines, _ = _table(labels, callbacks__print_log=PrintLog())
    assert lines[0].split() == skorch_lines[0].split()
    assert _class_columns(lines[0]) == ["acceptance_rate[0]", "acceptance_rate[1]"]


def test_keys_ignored_still_apply():
    labels = np.array([2, 10, -1])[np.arange(240) % 3]
    lines, _ = _table(
        labels, callbacks__print_log__keys_ignored=["acceptance_rate[2]", "dur"]
    )
    assert lines[0].split() == [
        "epoch",
        "M_effective",
        "acceptance_rate",
        "acceptance_rate[-1]",
        "acceptance_rate[10]",
        "train_loss",
        "warmup",
    ]


def test_a_table_of_many_classes_shows_the_columns_of_a_print_log_given_whole():
    lines, _ = _table(np.arange(240) % 12, callbacks__print_log=PrintLog())
    assert len(_class_columns(lines[0])) == 12


# The warning of epochs without a step --------------------------------------


def _stepless(caught):
    return [w for w in caught if "accepted no row" in str(w.message)]


def test_stepless_warning_comes_back_after_a_step():
    # A continued run that starved again, after epochs that took steps, was
    # silent.
    X, y = _data()
    clf = RSFTClassifier(
        max_epochs=2, random_state=0, rejection="sample", M=1e30, warmup_epochs=0
    )
    said = _stepless(_caught(lambda: clf.fit(X, y)))
    assert len(said) == 1 and said[0].filename == __file__
    # Still starving: said already.
    assert not _stepless(_caught(lambda: clf.partial_fit(X, y)))
    clf.set_params(M=1e-3)
    assert not _stepless(_caught(lambda: clf.partial_fit(X, y)))
    clf.set_params(M=1e30)
    said = _stepless(_caught(lambda: clf.partial_fit(X, y)))
    assert len(said) == 1 and said[0].filename == __file__
    assert "again in a later call after an epoch that takes a step" in str(
        said[0].message
    )
    np.testing.assert_array_equal(
        clf.history[:, "acceptance_rate"], [0, 0, 0, 0, 1, 1, 0, 0]
    )
    losses = np.asarray(clf.history[:, "train_loss"])
    assert np.isnan(losses[[0, 1, 2, 3, 6, 7]]).all()
    assert np.isfinite(losses[[4, 5]]).all()


def test_a_fit_that_never_steps_warns_once():
    X, y = _data()
    clf = RSFTClassifier(
        max_epochs=5, random_state=0, rejection="sample", M=1e30, warmup_epochs=0
    )
    assert len(_stepless(_caught(lambda: clf.fit(X, y)))) == 1
    assert np.isnan(clf.history[:, "train_loss"]).all()


# rsft-bench's warnings -----------------------------------------------------


def test_the_command_formats_a_warning_on_one_line():
    text = _cli.format_warning(
        RSFTWarning("the folder holds results"),
        RSFTWarning,
        "/site-packages/rsft_sklearn/benchmark/_runner.py",
        1060,
        "    warnings.warn(",
    )
    assert text == "rsft-bench: warning: the folder holds results\n"
    text = _cli.format_warning("old", FutureWarning, "/lib/x.py", 3)
    assert text == "rsft-bench: warning: old (FutureWarning, /lib/x.py:3)\n"


def test_main_called_from_a_program_leaves_the_format_alone(monkeypatch):
    # The format is the process's: swapped inside main, it reformatted the
    # warnings of the program's other threads while a run went on, and two
    # overlapping calls left it swapped for good.
    before = warnings.formatwarning
    seen = []

    def run(argv):
        seen.append(warnings.formatwarning)
        warnings.warn("recorded", RSFTWarning, stacklevel=1)
        return 0

    monkeypatch.setattr(_cli, "_main", run)
    with pytest.warns(RSFTWarning, match="recorded"):
        assert _cli.main([]) == 0
    assert seen == [before]
    assert warnings.formatwarning is before


def test_the_command_prints_warnings_as_its_own_lines():
    code = (
        "import warnings\n"
        "from rsft_sklearn import RSFTWarning\n"
        "from rsft_sklearn.benchmark import _cli\n"
        "def run(argv):\n"
        "    warnings.warn('no run.json', RSFTWarning)\n"
        "    return 0\n"
        "_cli._main = run\n"
        "from rsft_sklearn.benchmark import __main__\n"
        "__main__.main([])\n"
        "warnings.warn('the command goes on', UserWarning)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert done.stderr.splitlines() == [
        "rsft-bench: warning: no run.json",
        "rsft-bench: warning: the command goes on (UserWarning, <string>:10)",
    ]


def test_a_fit_whose_epochs_alternate_is_told_once():
    # A step re-armed the warning within the fit: 40 epochs alternating
    # between steps and none warned 11 times under "always".
    rng = np.random.RandomState(0)
    X = rng.randn(40, 3).astype(np.float32)
    y = np.arange(40) % 2
    clf = RSFTClassifier(
        max_epochs=40, random_state=0, rejection="sample", M=150, warmup_epochs=0
    )
    said = _stepless(_caught(lambda: clf.fit(X, y)))
    rates = np.asarray(clf.history[:, "acceptance_rate"])
    # Both kinds of epoch, and a stepless one after a stepping one.
    stepless = rates == 0
    assert stepless.any() and (~stepless).any()
    assert (stepless[1:] & ~stepless[:-1]).any()
    assert len(said) == 1


def test_a_step_after_the_warning_in_the_same_call_rearms_it_for_the_next():
    # A call that warned and then stepped left it said: a later call that
    # took no step at all was silent.
    from skorch.callbacks import Callback

    class Starve(Callback):
        def on_epoch_begin(self, net, **kwargs):
            net.set_params(M=1e30 if len(net.history) == 1 else 1e-3)

    X, y = _data()
    clf = RSFTClassifier(
        max_epochs=3,
        random_state=0,
        warmup_epochs=0,
        rejection="sample",
        M=1e-3,
        callbacks=[("starve", Starve())],
    )
    assert len(_stepless(_caught(lambda: clf.fit(X, y)))) == 1
    np.testing.assert_array_equal(clf.history[:, "acceptance_rate"], [1, 0, 1])
    clf.set_params(M=1e30, callbacks__starve=None)
    assert len(_stepless(_caught(lambda: clf.partial_fit(X, y)))) == 1
