"""Cross-validated runs whose results survive interruption.

Every finished (data set, method, fold) is appended to the CSV file as one
whole line, flushed and synced before the next one is started; a rerun with
the same output folder reads the file back and computes only what is missing.
"""

import codecs
import csv
import errno
import io
import json
import math
import os
import signal
import sys
import threading
import warnings
from collections import Counter
from contextlib import contextmanager, suppress
from datetime import timedelta
from pathlib import Path
from time import perf_counter

import numpy as np

from .._validation import RSFTWarning

__all__ = ["COLUMNS", "METRICS", "read_results", "run_benchmark"]

METRICS = (
    "balanced_accuracy",
    "g_mean",
    "f1_macro",
    "minority_recall",
    "minority_precision",
    "rare_recall",
    "roc_auc",
    "pr_auc",
)
TIMES = ("fit_time", "predict_time")
# The numbers every finished fit has: a row of status "ok" without one of
# them (an empty cell of a file edited or merged by hand) counts as failed.
SCORED = (*METRICS, *TIMES)
# The rarest fifth of the classes (at least one) make up "rare_recall".
RARE_FRACTION = 0.2
KEY = ("dataset", "method", "fold")
COLUMNS = (
    *KEY,
    "repeat",
    "n_train",
    "n_test",
    "n_classes",
    "imbalance_ratio",
    "status",
    "error",
    *METRICS,
    *TIMES,
    "backward_rows",
)
# The columns of a row that hold numbers (empty where a fit failed).
_NUMERIC = (
    "repeat",
    "n_train",
    "n_test",
    "n_classes",
    "imbalance_ratio",
    *METRICS,
    *TIMES,
    "backward_rows",
)
# The protocol fixes every number of a row: a folder may only be resumed
# under the same one.
PROTOCOL = (
    "suite",
    "folds",
    "repeats",
    "epochs",
    "batch_size",
    "recipe",
    "max_grad_norm",
    "seed",
    "max_rows",
)


def rarest_classes(y, fraction=RARE_FRACTION):
    """The ``ceil(fraction * n_classes)`` least frequent labels of ``y``
    (at least one); ties go to the smaller label.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._runner import rarest_classes
    >>> rarest_classes([0] * 50 + [1] * 20 + [2] * 5 + [3] * 9 + [4] * 30 + [5] * 7)
    [2, 5]
    """
    labels, counts = np.unique(np.asarray(y), return_counts=True)
    n_rare = max(1, math.ceil(fraction * len(labels) - 1e-9))
    order = np.argsort(counts, kind="stable")
    return labels[order[:n_rare]].tolist()


def compute_metrics(y_true, y_pred, proba, classes, minority, rare=None):
    """Every per-fold score of the benchmark.

    - ``balanced_accuracy``: mean per-class recall.
    - ``g_mean``: geometric mean of the per-class recalls (on binary data,
      ``sqrt(sensitivity * specificity)``).
    - ``f1_macro``: unweighted mean of the per-class F1.
    - ``minority_recall``, ``minority_precision``: those of ``minority``, the
      least frequent class of the data set.
    - ``rare_recall``: mean recall of the classes in ``rare`` (by default
      ``[minority]``); the benchmark passes the rarest fifth of the classes.
    - ``roc_auc``, ``pr_auc``: on binary data, of ``minority`` against the
      rest; on multiclass data, macro averages of the one-vs-rest ROC-AUC and
      average precision.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels.
    proba : ndarray of shape (n_samples, n_classes)
        Predicted probabilities, columns in the order of ``classes``.
    classes : ndarray of shape (n_classes,)
        Every label of the data set.
    minority : label
        The least frequent class of the data set.
    rare : list of labels or None, default=None
        The classes whose recalls ``rare_recall`` averages.

    Returns
    -------
    scores : dict of str to float
    """
    from imblearn.metrics import geometric_mean_score
    from sklearn.metrics import (
        average_precision_score,
        balanced_accuracy_score,
        f1_score,
        precision_score,
        recall_score,
        roc_auc_score,
    )
    from sklearn.preprocessing import label_binarize

    is_minority_true = y_true == minority
    is_minority_pred = y_pred == minority
    scores = {
        "balanced_accuracy": balanced_accuracy_score(y_true, y_pred),
        "g_mean": geometric_mean_score(y_true, y_pred, labels=classes),
        "f1_macro": f1_score(
            y_true, y_pred, labels=classes, average="macro", zero_division=0
        ),
        "minority_recall": recall_score(is_minority_true, is_minority_pred),
        "minority_precision": precision_score(
            is_minority_true, is_minority_pred, zero_division=0
        ),
        "rare_recall": np.mean(
            recall_score(
                y_true,
                y_pred,
                labels=[minority] if rare is None else list(rare),
                average=None,
                zero_division=0,
            )
        ),
    }
    if len(classes) == 2:
        column = list(classes).index(minority)
        scores["roc_auc"] = roc_auc_score(is_minority_true, proba[:, column])
        scores["pr_auc"] = average_precision_score(is_minority_true, proba[:, column])
    else:
        onehot = label_binarize(y_true, classes=classes)
        scores["roc_auc"] = roc_auc_score(onehot, proba, average="macro")
        scores["pr_auc"] = average_precision_score(onehot, proba, average="macro")
    return {name: float(value) for name, value in scores.items()}


def _seed_everything(seed):
    import random

    import torch

    random.seed(seed)
    # Components left unseeded draw from numpy's global generator.
    np.random.seed(seed)  # noqa: NPY002
    torch.manual_seed(seed)


_warmed_up = False


def _warm_up():
    """Pay the first-use costs of torch in this process before anything is
    timed, so they do not land on whichever method happens to run first."""
    global _warmed_up
    if _warmed_up:
        return
    from .. import RSFTClassifier

    X = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)
    RSFTClassifier(max_epochs=2, batch_size=8).fit(X, np.arange(32) % 2).predict(X)
    _warmed_up = True


def _own_fit_time(estimator, total):
    """Fit time without a reference model that only sets the method's rates."""
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else estimator
    return total - getattr(final, "reference_fit_time_", 0.0)


def _align_proba(proba, fitted_classes, classes):
    """Probability columns in the order of ``classes``; a class the model
    never saw (a resampler removed every row of it) gets probability 0."""
    aligned = np.zeros((len(proba), len(classes)))
    position = {label: i for i, label in enumerate(fitted_classes)}
    for j, label in enumerate(classes):
        if label in position:
            aligned[:, j] = proba[:, position[label]]
    return aligned


def _trained_estimator(estimator):
    """The estimator that did the training inside pipelines, searches and
    wrappers: the last step of a pipeline, a search's ``best_estimator_``,
    a wrapper's ``estimator_``."""
    seen = set()
    while id(estimator) not in seen and not hasattr(estimator, "backward_rows_"):
        seen.add(id(estimator))
        if hasattr(estimator, "best_estimator_"):
            estimator = estimator.best_estimator_
        elif hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        elif hasattr(estimator, "estimator_"):
            estimator = estimator.estimator_
    return estimator


def backward_rows(estimator):
    """Rows that went through a backward pass while fitting ``estimator``.

    The trained estimator's ``backward_rows_`` when it has one; else, for a
    skorch net, the sum of ``train_batch_size`` over every batch of its
    history; else NaN (no network). A grid search counts its refit only.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.linear_model import LogisticRegression
    >>> from rsft_sklearn import RSFTClassifier
    >>> from rsft_sklearn.benchmark._runner import backward_rows
    >>> X = np.random.default_rng(0).normal(size=(40, 2)).astype("float32")
    >>> y = np.arange(40) % 2
    >>> backward_rows(RSFTClassifier(max_epochs=3, batch_size=16).fit(X, y))
    120.0
    >>> backward_rows(LogisticRegression().fit(X, y))
    nan
    """
    from skorch import NeuralNet

    final = _trained_estimator(estimator)
    rows = getattr(final, "backward_rows_", None)
    if rows is not None:
        return float(rows)
    if isinstance(final, NeuralNet) and getattr(final, "initialized_", False):
        return float(
            sum(
                batch.get("train_batch_size", 0)
                for epoch in final.history
                for batch in epoch["batches"]
            )
        )
    return math.nan


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised as an interruption: the finished work is kept and the
    workers are stopped, as on Ctrl-C (the default action of SIGTERM ends
    the process at once and leaves joblib's workers running)."""


class _Stop(BaseException):
    """A signal seen during a fit, raised past everything that catches
    ``Exception`` or ``KeyboardInterrupt`` on the way out (skorch, a grid
    search); :func:`_interrupt_seen` turns it into the interruption."""


def _interruption(signals):
    return Terminated if signal.SIGTERM in signals else KeyboardInterrupt


# The signals that arrived within terminate_as_interrupt.
_received = []


@contextmanager
def terminate_as_interrupt():
    """Within the block, SIGTERM raises :class:`Terminated` and Ctrl-C
    ``KeyboardInterrupt``, as Python's own handler does, and both are
    recorded for :func:`interruption_received` (in the main thread;
    elsewhere nothing changes). A Ctrl-C handler other than Python's (an
    ignored one: a job started in the background) is left as it is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _received.clear()
    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _raise_terminated)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _raise_interrupted)
    try:
        yield
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)
        _received.clear()


def interruption_received():
    """The interruption (:class:`Terminated` for SIGTERM, else
    ``KeyboardInterrupt``) of the signals that arrived so far within
    :func:`terminate_as_interrupt`, or None when none did.

    Compiled code can turn the exception a signal raised within it into
    another: matplotlib's affine converter turns ``KeyboardInterrupt`` into
    ``ValueError("Invalid affine transformation matrix")``. The caller tells
    such an error from a real one by this.
    """
    return _interruption(_received) if _received else None


def _raise_terminated(signum, frame):
    _received.append(signum)
    raise Terminated


def _raise_interrupted(signum, frame):
    _received.append(signum)
    raise KeyboardInterrupt


@contextmanager
def _interrupt_seen():
    """Record Ctrl-C during a fit (and SIGTERM within
    :func:`terminate_as_interrupt`).

    skorch ends training quietly on ``KeyboardInterrupt`` and returns the
    partly trained net; a row scored from it would pass for a finished fold,
    and a method that trains several networks went on with the next one.
    A signal in the block therefore raises :class:`_Stop`, which nothing on
    the way out catches, and the block ends in ``KeyboardInterrupt``
    (:class:`Terminated` for SIGTERM) whenever a signal arrived in it, also
    when the fit returned or failed on its own after it: an error raised
    after the signal is the interruption, not the method's failure.
    """
    if threading.current_thread() is not threading.main_thread():
        yield lambda: False
        return
    seen = []

    def handler(signum, frame):
        seen.append(signum)
        # Not a KeyboardInterrupt, which skorch swallows: a method that
        # trains several networks (a grid search, a refit) went on with
        # the others, up to a whole method's fit after the signal.
        raise _Stop

    # SIGTERM only where terminate_as_interrupt asked for it (the command
    # line's process): joblib stops its workers with SIGTERM, and they
    # must end at once. A signal that the process inherited as ignored (a
    # job started in the background by a script) stays ignored.
    signals = [signal.SIGINT]
    if signal.getsignal(signal.SIGTERM) is _raise_terminated:
        signals.append(signal.SIGTERM)
    signals = [s for s in signals if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {signum: signal.signal(signum, handler) for signum in signals}
    try:
        yield lambda: bool(seen)
    except BaseException as exc:
        if seen:
            raise _interruption(seen) from exc
        raise
    else:
        if seen:
            raise _interruption(seen)
    finally:
        for signum, action in previous.items():
            signal.signal(signum, action)


def _check_spellings(methods, finished, out):
    """Refuse a method spelt otherwise than the same settings in the results
    already in ``out`` (``RSFT(M=2.0)`` for ``RSFT(M=2)``): results are
    kept by label, so it would be fitted again under a second one."""
    from ._methods import method_key as key

    def name(label):
        return label.split("(", 1)[0].strip()

    # Labels of the same method name only: an older name (an alias, such as
    # "plain net") is read as today's, and its rows are fitted again under
    # today's label, as before.
    known = {key(label): label for label in finished}
    respelt = {
        method: known[key(method)]
        for method in methods
        if method not in finished
        and key(method) in known
        and name(known[key(method)]) == name(method)
    }
    if respelt:
        pairs = "; ".join(f"{new} as {old}" for new, old in respelt.items())
        raise ValueError(
            f"--methods: the results in {str(out)!r} hold the same settings "
            f"spelt another way ({pairs}); spell them as there to resume them."
        )


def run_fold(dataset, method, fold, train, test, config, n_threads):
    """Fit and score one method on one fold; never raises for the method's own
    failures, which are recorded in the row instead."""
    import torch

    from ._methods import make_method
    from ._text import for_text

    row = {
        "dataset": dataset.name,
        "method": method,
        "fold": fold,
        "repeat": fold if dataset.splitter is not None else fold // config["folds"],
        "n_train": len(train),
        "n_test": len(test),
        "n_classes": dataset.n_classes,
        "imbalance_ratio": dataset.imbalance_ratio,
        "status": "ok",
        "error": "",
    }
    old_threads = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    _warm_up()
    # Seeding here, per task, makes every row independent of which process
    # computes it and of what ran before, so a resumed run equals a fresh one.
    # Each repeat trains from its own seed.
    # Modulo 2**32, the seeds numpy takes: a --seed near the top of its range
    # gives its later repeats valid seeds (the same as before below it).
    seed = (config["seed"] + row["repeat"]) % 2**32
    _seed_everything(seed)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = make_method(
                method,
                max_epochs=config["epochs"],
                batch_size=config["batch_size"],
                seed=seed,
                net_params=with_clipping(
                    _with_recipe(dataset.net_params, config.get("recipe")),
                    config.get("max_grad_norm"),
                ),
            )
            estimator = for_text(estimator, dataset, method)
            X_train, y_train = dataset.X[train], dataset.y[train]
            start = perf_counter()
            with _interrupt_seen():
                estimator.fit(X_train, y_train)
            fit_time = _own_fit_time(estimator, perf_counter() - start)
            start = perf_counter()
            proba = estimator.predict_proba(dataset.X[test])
            y_pred = estimator.predict(dataset.X[test])
            predict_time = perf_counter() - start
            classes = np.unique(dataset.y)
            proba = _align_proba(proba, estimator.classes_, classes)
            row.update(
                compute_metrics(
                    dataset.y[test],
                    y_pred,
                    proba,
                    classes,
                    dataset.minority_label,
                    rarest_classes(dataset.training_y),
                )
            )
            row.update(
                fit_time=fit_time,
                predict_time=predict_time,
                backward_rows=backward_rows(estimator),
            )
    except Exception as exc:  # a method failing on a data set is a result too
        message = " ".join(f"{type(exc).__name__}: {exc}".split())
        row.update(status="error", error=message[:300])
    finally:
        torch.set_num_threads(old_threads)
    return row


def _splits(dataset, folds, repeats, seed):
    from sklearn.model_selection import RepeatedStratifiedKFold

    from ._suites import repeats_for

    repeats = repeats_for(dataset, repeats)
    if dataset.splitter is not None:
        return dataset.splitter(dataset.y, repeats, seed)
    smallest = np.bincount(np.unique(dataset.y, return_inverse=True)[1]).min()
    if smallest < folds:
        raise ValueError(
            f"Data set {dataset.name!r}: its smallest class has {smallest} rows, "
            f"fewer than the {folds} folds."
        )
    cv = RepeatedStratifiedKFold(n_splits=folds, n_repeats=repeats, random_state=seed)
    return list(cv.split(dataset.X, dataset.y))


def _format_row(row):
    buffer = io.StringIO()
    values = []
    for column in COLUMNS:
        value = row.get(column, "")
        if isinstance(value, float):
            value = "" if math.isnan(value) else repr(value)
        values.append(value)
    csv.writer(buffer, lineterminator="\n").writerow(values)
    return buffer.getvalue().encode()


def _write_atomically(path, text, tmp=None):
    """Replace ``path`` with ``text`` (str, written as UTF-8, or bytes) in
    one step: an interrupted write leaves the old file. ``tmp``: the
    temporary file beside it (default ``path`` + ``.tmp``; one per process
    where several processes may write ``path``)."""
    if tmp is None:
        tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(text if isinstance(text, bytes) else text.encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        # A full disk, or Ctrl-C, leaves no partial copy beside the file. (A
        # file system that turned read-only refuses the unlink even of a
        # missing file: the error that stopped the write is the one raised.)
        with suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


def _put_back(path, content):
    """Restore ``path`` to ``content`` (bytes, or None for no file) after a
    run wrote it and was then refused, as far as the disk allows: the error
    that refused the run is the one to report."""
    with suppress(OSError):
        if content is None:
            path.unlink(missing_ok=True)
        else:
            _write_atomically(path, content)


def _write_record(path, text, results):
    """Replace the run file ``path`` with ``text`` during the run, saying a
    folder that was removed or moved meanwhile as :meth:`ResultsFile.append`
    says it (``results``: the results file)."""
    try:
        _write_atomically(path, text)
    except FileNotFoundError:
        if Path(path).parent.is_dir():
            raise
        raise OutputRemoved(results) from None


def _without_failed(content, scope=None):
    """The bytes of a results file without the rows of failed fits (of
    ``scope``, see :func:`_in_scope`), the others written back by the
    writer that wrote them; unchanged when it is not UTF-8 text (which
    :func:`read_results` then names)."""
    # Read as CSV records, not lines: an error message may span lines.
    status = COLUMNS.index("status")
    scored = [COLUMNS.index(column) for column in SCORED]
    try:
        text = io.StringIO(content.decode("utf-8"), newline="")
        header, *rows = list(csv.reader(text))
    except UnicodeDecodeError:
        return content
    # A finished fit without a score is failed, as the report lists it. A
    # row of another length is kept, for read_results to name.
    kept = [
        row
        for row in rows
        if len(row) != len(header)
        or (row[status] == "ok" and not any(row[i] in _MISSING_NUMBERS for i in scored))
        or not _in_scope(row, scope)
    ]
    if len(kept) == len(rows):
        return content
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    return buffer.getvalue().encode("utf-8")


def _unix_text(content):
    """The bytes of a results file without a UTF-8 byte-order mark, and with
    ``\\n`` for ``\\r\\n`` where its header ends so (a file saved by a
    Windows editor, or checked out by git on Windows): both had refused the
    file as "not a results file". They are written back without them."""
    content = content.removeprefix(codecs.BOM_UTF8)
    if content.split(b"\n", 1)[0].endswith(b"\r"):
        content = content.replace(b"\r\n", b"\n")
    return content


def _whole_lines(path, content):
    """``content``, the bytes of a results file (``path``, which a note
    names), ending with a whole line, and that note or None.

    A last line without its newline that has every cell of the header is a
    whole row (a file saved by an editor that drops the final newline): it
    is kept and its newline added, and a cell its column does not take is
    refused with its line named, as in any other row (it had been dropped,
    its fit run again, with a note blaming a stopped run). A line of fewer
    cells (a run stopped while writing it) is dropped, with a note naming
    its line, so that its fit runs again. A stop that cut the last number
    of a row short of a digit leaves a row that reads as whole (a run
    writes each row in one call: only a full disk cuts one).
    """
    # The last newline outside a quoted cell: an error message may span
    # lines (an even number of quotes precedes a newline that ends a row).
    end, quotes, start = 0, 0, 0
    for line in content.split(b"\n")[:-1]:
        start += len(line) + 1
        quotes += line.count(b'"')
        if quotes % 2 == 0:
            end = start
    tail = content[end:]
    if not tail:
        return content, None
    if not end:
        # The header alone, which the caller has checked.
        return content + b"\n", None
    records = list(csv.reader(io.StringIO(tail.decode(errors="replace"), newline="")))
    if len(records) == 1 and len(records[0]) == len(COLUMNS):
        return content + b"\n", None
    cells = len(records[0]) if records else 0
    line = content.count(b"\n", 0, end) + 1
    note = (
        f"{path}: the last row (line {line}) ends without a newline and is not "
        f"whole ({cells} of its {len(COLUMNS)} cells), as a run stopped while "
        "writing it leaves it; it is dropped, and its fit runs again."
    )
    return content[:end], note


class OutputRemoved(FileNotFoundError):
    """The results file of a running run is gone: it, or the ``--out``
    folder, was removed or moved while the run went on."""

    def __init__(self, path):
        folder = Path(path).parent
        if folder.is_dir():
            what = f"{str(path)!r} was removed or moved"
        else:
            what = f"the --out folder {str(folder)!r} was removed or moved"
        super().__init__(
            errno.ENOENT,
            f"{what} during the run; the rows written before are wherever it "
            "went (none are left if it was deleted)",
            str(path),
        )


class ResultsFile:
    """The per-fold CSV file, appended one complete line at a time."""

    def __init__(self, path):
        self.path = Path(path)
        # The file as read, and as it is to be written (see read).
        self._on_disk = self._prepared = None

    def prepare(self, retry_failed=False, scope=None):
        """Create the file with its header, or drop a torn last line that a
        killed writer may have left, and return the finished keys.

        With ``retry_failed`` the rows of fits that failed are dropped first
        (the others are kept as they are, byte for byte), so that they run
        again: those of the data sets and methods of ``scope`` (two
        collections of names) only, when given, as the others would not run.
        """
        frame = self.read(retry_failed=retry_failed, scope=scope)
        self.commit()
        return {tuple(key) for key in frame[list(KEY)].to_numpy()}

    def read(self, retry_failed=False, scope=None):
        """The rows the run resumes from, as :meth:`prepare` leaves them,
        read and checked but not yet written (:meth:`commit` writes them):
        a run refused by a later check leaves the file as it was.

        Returns
        -------
        frame : DataFrame
            The rows, as :func:`read_results` reads them.
        """
        header = (",".join(COLUMNS) + "\n").encode()
        on_disk = self.path.read_bytes() if self.path.exists() else b""
        self._on_disk, self._prepared, self._note = on_disk, header, None
        content = _unix_text(on_disk)
        if not content:
            return read_results(self.path, content=self._prepared)
        if content.split(b"\n", 1)[0] + b"\n" != header:
            raise ValueError(
                f"{self.path} is not a results file of this benchmark version "
                "(its header differs); choose another --out."
            )
        content, self._note = _whole_lines(self.path, content)
        if retry_failed:
            content = _without_failed(content, scope)
        frame = read_results(self.path, content=content)
        self._prepared = content
        return frame

    def check_writable(self):
        """Raise the error (an OSError) of an existing file that cannot be
        written, writing nothing."""
        # Opened for appending, not replaced: commit's rewrite of a file that
        # is read-only in a writable folder had put a writable copy in its
        # place. (Whether it exists does not change meanwhile: the run holds
        # the folder's lock.)
        if self.path.exists():
            open(self.path, "ab").close()

    def commit(self):
        """Write the file as :meth:`read` left it (with its header, without a
        torn line or the dropped rows), after checking that it takes rows."""
        # Appending must work before the first fit runs, not after it; a
        # file written here is this run's own.
        self.check_writable()
        if self._prepared != self._on_disk:
            _write_atomically(self.path, self._prepared)
            if self._note is not None:
                print(f"rsft-bench: {self._note}", file=sys.stderr, flush=True)

    def sort(self, datasets, methods):
        """Rewrite the file with its rows in the order a serial run writes
        them: by ``datasets``, then fold, then ``methods`` (rows of other
        names last, in their order), each row kept as it was written."""
        key = [COLUMNS.index(column) for column in KEY]
        try:
            with open(self.path, newline="", encoding="utf-8") as handle:
                header, *rows = list(csv.reader(handle))
        except FileNotFoundError:
            raise OutputRemoved(self.path) from None
        rank_d = {name: i for i, name in enumerate(datasets)}
        rank_m = {name: i for i, name in enumerate(methods)}

        def order(row):
            dataset, method, fold = (row[i] for i in key)
            # Read as every read of the file reads it (which refused a fold
            # that is not a whole number before the first fit): int() had
            # refused "1.0", which a float cast had read, after every fit.
            return (
                rank_d.get(dataset, len(rank_d)),
                _whole_number(fold),
                rank_m.get(method, len(rank_m)),
            )

        ordered = sorted(rows, key=order)
        if ordered != rows:
            buffer = io.StringIO()
            writer = csv.writer(buffer, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(ordered)
            _write_atomically(self.path, buffer.getvalue())

    def append(self, row):
        line = _format_row(row)
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            # Not created again: a new file would hold this run's rows
            # without the earlier ones, and without its record.
            raise OutputRemoved(self.path) from None
        try:
            # One write call per line: an interruption leaves either the whole
            # line or none of it. A short write (a full disk) is finished or
            # fails with the disk's error; the next prepare drops a torn line.
            written = os.write(fd, line)
            while written < len(line):
                written += os.write(fd, line[written:])
            os.fsync(fd)
        finally:
            os.close(fd)


def _with_recipe(net_params, recipe):
    """A data set's network parameters with the run's recipe, if it names one
    (its optimiser and learning rate win over the set's)."""
    if recipe is None:
        return net_params
    from ._networks import recipe_params

    return {**(net_params or {}), **recipe_params(recipe)}


def with_clipping(net_params, max_grad_norm):
    """Network parameters with skorch's ``GradientNormClipping`` added to
    the callbacks when ``max_grad_norm`` is set (None leaves them as they
    are): every neural method of a run clips its gradients alike.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._runner import with_clipping
    >>> with_clipping({"lr": 0.01}, None)
    {'lr': 0.01}
    >>> params = with_clipping({"lr": 0.01}, 10.0)
    >>> name, callback = params["callbacks"][-1]
    >>> name, callback.gradient_clip_value
    ('gradient_norm_clipping', 10.0)
    """
    if max_grad_norm is None:
        return net_params
    from skorch.callbacks import GradientNormClipping

    net_params = dict(net_params or {})
    net_params["callbacks"] = [
        *net_params.get("callbacks", []),
        ("gradient_norm_clipping", GradientNormClipping(float(max_grad_norm))),
    ]
    return net_params


# The cells pandas reads as missing by default (an empty cell, NaN as
# Python writes it, a spreadsheet's #N/A): numbers only; names and texts
# are read as written.
_MISSING_NUMBERS = (
    "",
    "#N/A",
    "#N/A N/A",
    "#NA",
    "-1.#IND",
    "-1.#QNAN",
    "-NaN",
    "-nan",
    "1.#IND",
    "1.#QNAN",
    "<NA>",
    "N/A",
    "NA",
    "NULL",
    "NaN",
    "None",
    "n/a",
    "nan",
    "null",
)


def _in_scope(row, scope):
    """Whether a results row (a CSV record) is of the data sets and methods
    of ``scope``, a pair of collections of names (None: every row)."""
    if scope is None:
        return True
    datasets, methods = scope
    return (
        row[COLUMNS.index("dataset")] in datasets
        and row[COLUMNS.index("method")] in methods
    )


def read_result_table(path):
    """A results CSV as :func:`read_results` reads it, for scripts that read
    files of fewer columns: only ``dataset``, ``method`` and ``status`` are
    required.

    A file that is not one (a missing column, a row of another length than
    the header, a cell that is not a number in a column of numbers, a binary
    file) raises a ValueError that names it.
    """
    return _read_table(path, ("dataset", "method", "status"))


def unscored_as_failed(frame, metrics):
    """``frame`` with every finished fit (status ``ok``) that lacks a score
    in one of ``metrics`` marked as failed (status ``error``), and their
    count: an empty cell (a file edited or merged by hand) would average
    that method over fewer sets than the others. A ValueError names a
    metric the file has no column for, unless no fit of it finished (a file
    of failed fits only)."""
    finished = frame["status"] == "ok"
    missing = [metric for metric in metrics if metric not in frame.columns]
    if missing and finished.any():
        raise ValueError(f"it has no column(s) {missing}")
    present = [metric for metric in metrics if metric in frame.columns]
    empty = frame[present].isna()
    unscored = finished & empty.any(axis=1)
    if unscored.any():
        frame = frame.copy()
        frame.loc[unscored, "status"] = "error"
        if "error" in frame.columns:
            frame.loc[unscored, "error"] = [
                "no score: empty " + ", ".join(empty.columns[cells])
                for cells in empty[unscored].to_numpy()
            ]
    return frame, int(unscored.sum())


def recorded_splits(config):
    """The number of splits of each data set of a run as its record
    (``config``, its ``run.json``) holds them, for :func:`fits_of_run`: of
    the sets whose entry names its ``split`` and ``repeats`` (a record
    written before these were recorded names neither).

    Examples
    --------
    >>> from rsft_sklearn.benchmark._runner import recorded_splits
    >>> recorded_splits({"folds": 2, "datasets": [
    ...     {"name": "wine", "split": "cv", "repeats": 2},
    ...     {"name": "digits-lt", "split": "fixed", "repeats": 3},
    ...     {"name": "older", "repeats": 1}]})
    {'wine': 4, 'digits-lt': 3}
    """
    return {
        entry["name"]: entry["repeats"]
        * (1 if entry["split"] == "fixed" else config["folds"])
        for entry in config.get("datasets") or []
        if entry.get("split") in ("cv", "fixed") and "repeats" in entry
    }


# A fit of a results table: the runner's key and the repeat, which the
# report counts by.
FIT = ("dataset", "method", "repeat", "fold")


def fits_of_run(frame, n_splits):
    """The fits of a run among the rows of a results table, as the report
    and the count of failed fits read them (a resume refuses the rows that
    the report would refuse, before its first fit).

    - A row whose fold is not one of its set's splits (a row of another
      run, merged by hand) is left out: a resume never runs it, and counted
      as a fit it made every other method short of fits.
    - Identical copies of a row (repeated by a hand merge) are one fit.
    - A finished fit without one of the numbers of ``SCORED`` counts as
      failed (:func:`unscored_as_failed`): the report averaged that method
      over fewer folds than the others, and a resume never ran it again.

    Parameters
    ----------
    frame : DataFrame
        Rows as :func:`read_results` reads them, with their index (a row's
        number in the file is its index plus one).
    n_splits : dict of str to int
        For each data set whose splits are known, their number (folds 0 to
        ``n_splits - 1``; :func:`recorded_splits`); every row of the other
        sets is kept.

    Returns
    -------
    fits : DataFrame
        One row per fit.
    outside : DataFrame
        The rows left out as not of the run's splits.

    Raises
    ------
    ValueError
        When two rows of one fit (data set, method, repeat and fold) differ:
        which of them is the fit cannot be told. The message names them.
    """
    inside = np.array(
        [
            name not in n_splits or 0 <= fold < n_splits[name]
            for name, fold in zip(frame["dataset"], frame["fold"])
        ],
        dtype=bool,
    )
    fits, outside = one_row_per_fit(frame[inside]), frame[~inside]
    fits, _ = unscored_as_failed(fits, SCORED)
    return fits, outside


def one_row_per_fit(frame):
    """The rows of a results table with identical copies of a row (a hand
    merge) kept once, so that each fit is one row.

    Raises
    ------
    ValueError
        When two rows of one fit (data set, method, repeat and fold) differ:
        which of them is the fit cannot be told. The message names them.
    """
    fits = frame.drop_duplicates()
    key = [column for column in FIT if column in fits.columns]
    copies = fits[fits.duplicated(key, keep=False)]
    if len(copies):
        described = []
        for (dataset, method, *_, fold), rows in copies.groupby(key, sort=False):
            numbers = " and ".join(str(index + 1) for index in rows.index)
            described.append(f"rows {numbers} ({dataset}, {method}, fold {fold})")
        raise ValueError(
            f"{len(described)} fit(s) have differing rows: "
            f"{'; '.join(described[:3])}{'; ...' if len(described) > 3 else ''}. "
            "Keep one row of each fit (or delete them all to run it again)"
        )
    return fits


def read_results(path, content=None):
    """Read a results CSV into a DataFrame (one row per data set, method, fold).

    ``content``, the bytes of a results file, is read in place of the file
    at ``path`` (which the messages name) when given."""
    frame = _read_table(
        path,
        KEY,
        integers=("fold",),
        content=content,
        advice=(
            # A row edited or damaged by hand: what to do.
            "Repair or delete the damaged rows (the others are kept on "
            "resume), or choose another --out."
        ),
    )
    frame["error"] = frame["error"].fillna("")
    return frame


def _read_table(path, required, integers=(), advice="", content=None):
    """The rows of a results CSV (of the bytes ``content`` when given); a
    ValueError names the file where it is damaged, followed by ``advice``."""
    import pandas as pd

    advice = f" {advice}" if advice else ""
    try:
        if content is None:
            content = Path(path).read_bytes()
        # A byte-order mark (a file saved by a Windows editor) is no part
        # of the first column's name.
        text = content.decode("utf-8").removeprefix("\ufeff")
        # pandas fills the cells a short row lacks (a line cut by hand or by
        # a full disk, then ended): it would count as a finished fit.
        lines = _check_row_lengths(text)
        # Every cell as written: a data set named "NA" or "None" (a CSV file
        # of that name) is a name, not a missing value; it had vanished from
        # the report, and a resume fitted it again at every run. Whole
        # numbers are read as text, to be checked as such below.
        frame = pd.read_csv(
            io.StringIO(text, newline=""),
            dtype={
                "dataset": str,
                "method": str,
                "error": str,
                **dict.fromkeys(integers, str),
            },
            keep_default_na=False,
            na_values=dict.fromkeys(_NUMERIC, _MISSING_NUMBERS),
        )
        missing = [column for column in required if column not in frame.columns]
        if missing:
            raise ValueError(f"it has no column(s) {missing}")
        for column in integers:
            frame[column] = _whole_numbers(frame[column], column, lines)
        # A cell that is not a number would fail in the report, after every
        # missing fit has run.
        _numbers_of(frame, lines)
    except UnicodeDecodeError as exc:
        raise ValueError(
            f"{path} is not a text file of benchmark results ({exc.reason} at "
            f"byte {exc.start}).{advice}"
        ) from None
    except (ValueError, TypeError, pd.errors.ParserError) as exc:
        raise ValueError(
            f"{path} cannot be read as benchmark results ({exc}).{advice}"
        ) from None
    return frame


def _whole_number(cell):
    """The int a cell of a column of whole numbers (``fold``) holds, or None
    where it holds none: ``1.0``, ``1e0`` (a spreadsheet's round trip),
    ``1.5`` or an empty cell. A float cast had read ``1.5`` as fold 1."""
    cell = cell.strip()
    digits = cell[1:] if cell[:1] in "+-" else cell
    # Only ASCII digits: int() also takes "1_0" and other scripts' digits.
    if not digits or not all("0" <= char <= "9" for char in digits):
        return None
    return int(cell)


def _whole_numbers(cells, column, lines):
    """The ints of ``cells`` (the texts of ``column``); a ValueError names
    the line (``lines``, see :func:`_check_row_lengths`) of the first cell
    that is not a whole number."""
    numbers = [_whole_number(cell) for cell in cells]
    for row, number in enumerate(numbers):
        if number is None:
            raise ValueError(
                f"line {lines[row]} holds {cells.iloc[row]!r} in column "
                f"{column!r}, which takes whole numbers"
            )
    return np.array(numbers, dtype=int)


# What a number of each kind of column can be. Every score is a fraction
# of the test rows or an area in the unit square (a score of 7.5, or inf,
# written by hand had been averaged into the report); a time is a
# duration. The margin takes the rounding of a score computed as a sum
# (average precision, written as 1.0000000000000002 by finished runs).
_ROUNDING = 1e-9
_RANGES = {
    **dict.fromkeys(METRICS, (0.0, 1.0, "numbers from 0 to 1")),
    **dict.fromkeys(TIMES, (0.0, math.inf, "numbers of 0 or more")),
}


def _numbers_of(frame, lines=None):
    """Turn the columns of numbers of ``frame`` that pandas read as text into
    numbers, in place; a ValueError names the first cell that is none, is
    infinite, or lies outside its column's range (``_RANGES``). ``lines``:
    the line of each row (:func:`_check_row_lengths`), by default the row's
    number plus one, as where no cell spans lines."""
    import pandas as pd

    def refuse(column, row, takes):
        line = lines[row] if lines is not None else row + 2
        raise ValueError(
            f"line {line} holds {str(frame[column].iloc[row])!r} in column "
            f"{column!r}, which takes {takes}"
        )

    for column in _NUMERIC:
        if column not in frame.columns:
            continue
        if frame[column].dtype.kind in "iufb":
            values = frame[column]
        else:
            values = pd.to_numeric(frame[column], errors="coerce")
            bad = values.isna() & frame[column].notna()
            if bad.any():
                refuse(column, int(np.flatnonzero(bad.to_numpy())[0]), "numbers")
        low, high, takes = _RANGES.get(column, (-math.inf, math.inf, "finite numbers"))
        numbers = values.to_numpy(dtype=float)
        # NaN is a missing number (an empty cell), counted as such later.
        outside = np.isinf(numbers) | (numbers < low - _ROUNDING)
        outside |= numbers > high + _ROUNDING
        if outside.any():
            refuse(column, int(np.flatnonzero(outside)[0]), takes)
        frame[column] = values


def _check_row_lengths(text):
    """Raise a ValueError naming the first record (a row; an error message
    may span lines) of the CSV ``text`` with another number of cells than
    the header; return the line on which each record starts."""
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, [])
    starts, end = [], reader.line_num
    for number, record in enumerate(reader, start=1):
        starts.append(end + 1)
        end = reader.line_num
        if len(record) != len(header):
            raise ValueError(
                f"row {number} (line {reader.line_num}) has {len(record)} "
                f"cells where the header has {len(header)}"
            )
    return starts


def _compared(config, previous=None):
    """The keys of ``PROTOCOL`` that can change the rows this run adds: not
    the folds where every set of this run and of the folder's last run
    (``previous``) has a fixed split, nor how networks train where this run
    trains none (a folder of network rows takes a baseline without them,
    and a folder made with them by an older version, which accepted them
    for a run without networks, resumes)."""
    from ._methods import NEURAL_METHODS, parse_method

    runs = [config] if previous is None else [config, previous]
    fixed = {
        d["name"]
        for d in config.get("datasets") or []
        if d.get("split") == "fixed" and "name" in d
    }

    def all_fixed(run):
        # Sets of an older run.json carry no split: known by this run's.
        entries = run.get("datasets") or []
        return bool(entries) and all(
            d.get("split") == "fixed"
            or (d.get("split") is None and d.get("name") in fixed)
            for d in entries
        )

    def trains_a_network(run):
        methods = run.get("methods")
        if methods is None:
            return True
        try:
            return any(parse_method(m)[0] in NEURAL_METHODS for m in methods)
        except ValueError:
            return True

    ignored = set()
    if all(all_fixed(run) for run in runs):
        ignored.add("folds")
    if not trains_a_network(config):
        # Rows without a network do not depend on them (the run carries the
        # folder's values on, see _check_protocol).
        ignored |= {"recipe", "max_grad_norm"}
    return [key for key in PROTOCOL if key not in ignored]


def _check_protocol(out, config):
    """Refuse to resume ``out`` under another protocol, and return the
    run's record, the object of its ``run.json`` (see :func:`_record_text`),
    which the caller writes once every other check has passed (a refused
    run leaves the folder's record as it was).

    Besides ``PROTOCOL``, a folder is refused when its run used another
    torch thread count (a fit's scores can depend on it) or when a data set
    of both runs differs in content (its fingerprint: another CSV file
    under the same name, another ``--target``, another pretrained network).
    Folders written before these were recorded resume as before. A folder
    without a single result row (a run that stopped before its first fit)
    is taken over. The record's ``versions`` are those of the folder's
    rows (see :func:`_versions_of_rows`): the caller adds this run's
    versions with its first row, and warns where they differ.
    """
    path = Path(out) / "run.json"
    if not path.exists() and _has_rows(Path(out) / "results.csv"):
        warnings.warn(
            f"{out} holds results but no run.json (a run of an older version, "
            "or the file was deleted): the settings of its rows cannot be "
            "checked, and rows of other settings would be mixed with this "
            "run's. Choose another --out unless the command is the same.",
            RSFTWarning,
            stacklevel=2,
        )
    # Fingerprints of every set this folder has results of, this run's and
    # those of earlier runs with other --datasets (a resume with other sets
    # in between would otherwise forget them).
    fingerprints = {
        entry["name"]: entry["fingerprint"]
        for entry in config.get("datasets", [])
        if "fingerprint" in entry
    }
    versions = []
    if path.exists() and _has_rows(Path(out) / "results.csv"):
        try:
            previous = json.loads(path.read_text(encoding="utf-8"))
            _check_run_file(previous)
        except ValueError as exc:
            raise ValueError(
                f"{path} is not a readable run file ({exc}); choose another "
                "--out to start afresh."
            ) from None
        compared = _compared(config, previous)
        changed = [
            f"{key} {previous.get(key)!r} -> {config.get(key)!r}"
            for key in compared
            if _protocol_value(key, previous.get(key))
            != _protocol_value(key, config.get(key))
        ]
        for key in ("recipe", "max_grad_norm"):
            if key not in compared:
                # A run without networks keeps the folder's record of how its
                # networks trained, for the next run and the report.
                config[key] = previous.get(key)
        if "threads" in previous and previous["threads"] != config.get("threads"):
            changed.append(
                f"threads {previous['threads']!r} -> {config.get('threads')!r}; "
                f"pass --threads {previous['threads']} to resume"
            )
        before = {
            **previous.get("fingerprints", {}),
            **{
                d["name"]: d["fingerprint"]
                for d in previous.get("datasets", [])
                if "fingerprint" in d
            },
        }
        for entry in config.get("datasets", []):
            old, new = before.get(entry["name"]), entry.get("fingerprint")
            if old is not None and new is not None and not _same_content(old, new):
                changed.append(
                    f"data set {entry['name']!r} has other content (rows, "
                    "labels or pretrained network)"
                )
        if changed:
            raise ValueError(
                f"{out} holds results of another protocol ({', '.join(changed)}); "
                "choose another --out to start afresh."
            )
        fingerprints = {**before, **fingerprints}
        versions = _versions_of_rows(previous.get("versions"))
    return {
        **config,
        "fingerprints": dict(sorted(fingerprints.items())),
        "versions": versions,
    }


def _record_text(record):
    """The text of ``run.json`` for the run's record."""
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def _versions_of_rows(recorded):
    """The sets of library versions (see :func:`library_versions`) that
    made the rows of a folder, in the order of their first row, from its
    record's ``versions``: a list of them, or one set alone (as an earlier
    development version wrote it). A record of an older benchmark version,
    without versions, names none: its rows are of unknown versions."""
    if isinstance(recorded, dict):
        recorded = [recorded]
    if not isinstance(recorded, list):
        return []
    return [versions for versions in recorded if isinstance(versions, dict)]


# The libraries whose version can change a row of a run's results, by the
# names pip installs them under.
VERSIONED = ("rsft-sklearn", "torch", "skorch", "scikit-learn")


def library_versions():
    """The versions of the libraries of ``VERSIONED`` in use, as a run
    records them in its ``run.json``.

    Examples
    --------
    >>> import sklearn
    >>> from rsft_sklearn.benchmark._runner import library_versions
    >>> versions = library_versions()
    >>> list(versions)
    ['rsft-sklearn', 'torch', 'skorch', 'scikit-learn']
    >>> versions["scikit-learn"] == sklearn.__version__
    True
    """
    import sklearn
    import skorch
    import torch

    import rsft_sklearn

    modules = (rsft_sklearn, torch, skorch, sklearn)
    return {name: str(m.__version__) for name, m in zip(VERSIONED, modules)}


def _warn_of_other_versions(out, recorded, versions):
    """Warn where the versions of the folder's rows (``recorded``, a list of
    sets, see :func:`_versions_of_rows`) include others than this run's
    (``versions``), naming each set by what differs: a resume after an
    upgrade adds rows that may differ from the folder's for that reason
    alone, which nothing had said. The caller warns only where a fit is to
    run (a resume that adds no row mixes nothing)."""
    changed = []
    for earlier in recorded:
        differs = [
            f"{name} {earlier[name]} -> {version}"
            for name, version in versions.items()
            if name in earlier and earlier[name] != version
        ]
        if differs:
            changed.append(", ".join(differs))
    if changed:
        warnings.warn(
            f"{out} holds results of other library versions "
            f"({'; '.join(changed)}): the rows this run adds may differ from "
            "its rows for that reason alone. Choose another --out to keep "
            "the results of each version apart.",
            RSFTWarning,
            stacklevel=3,
        )


def _check_run_file(previous):
    """Refuse a run file that is JSON but not the object rsft-bench writes
    (a ValueError, read as an unreadable run file)."""
    if not isinstance(previous, dict):
        raise ValueError(f"it holds a {type(previous).__name__}, not an object")
    datasets = previous.get("datasets", [])
    if not isinstance(datasets, list) or not all(
        isinstance(entry, dict) and isinstance(entry.get("name"), str)
        for entry in datasets
    ):
        raise ValueError("its 'datasets' is not a list of named sets")
    fingerprints = previous.get("fingerprints", {})
    if not isinstance(fingerprints, dict):
        raise ValueError("its 'fingerprints' is not an object")


def _protocol_value(key, value):
    """A protocol setting as it acts: a recipe that sets no parameter
    (``"adam"``, the estimator's defaults) trains as no recipe does."""
    if key == "recipe" and value is not None:
        from ._networks import RECIPES

        if not RECIPES.get(value, True):
            return None
    return value


def _has_rows(results):
    """Whether the results CSV holds at least one row."""
    try:
        with open(results, "rb") as handle:
            return sum(1 for _ in zip(handle, range(2))) > 1
    except OSError:
        return False


def fingerprint(dataset):
    """A short digest of a data set's inputs and labels, to tell whether a
    resumed run sees the same data under the same name; followed, after a
    ``-``, by one of the pretrained network its fits start from
    (``module__pretrained`` given as a mapping of tensors, as the
    ``finetune`` suite gives it)."""
    import hashlib
    from collections.abc import Mapping

    import scipy.sparse as sp

    digest = hashlib.blake2b(digest_size=8)
    for values in (dataset.X, dataset.y):
        if sp.issparse(values):
            values = values.tocsr()
            parts = [values.data, values.indices, values.indptr]
        else:
            parts = [np.asarray(values)]
        for part in parts:
            digest.update(str(part.shape).encode())
            if part.dtype.kind in "OUS":
                digest.update("\x1f".join(map(str, part.ravel())).encode())
            else:
                digest.update(np.ascontiguousarray(part).tobytes())
    pretrained = dataset.net_params.get("module__pretrained")
    if not isinstance(pretrained, Mapping):
        return digest.hexdigest()
    import torch

    # Another network under the same name (a cache file replaced between a
    # run and its resume) would mix rows of two starting points.
    network = hashlib.blake2b(digest_size=8)
    for name in sorted(pretrained):
        tensor = pretrained[name].detach().cpu().contiguous()
        network.update(f"{name}{tuple(tensor.shape)}{tensor.dtype}".encode())
        network.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return f"{digest.hexdigest()}-{network.hexdigest()}"


def _same_content(old, new):
    """Whether two fingerprints of a data set agree; one recorded before
    networks were (no ``-``) is compared on the data alone, so that such a
    folder resumes as before."""
    if isinstance(old, str) and "-" not in old:
        new = new.split("-")[0]
    return old == new


def _progress_lines(tasks, done_counts):
    """Progress as plain lines on stderr, for a log file (where bars are
    off): how many fits are to run, then a line as each data set's last fit
    of this run finishes (its failed fits of this run named)."""
    remaining = Counter(task[0].name for task in tasks)
    fits = dict(done_counts)
    failed = Counter()
    total = sum(done_counts.values()) + len(tasks)
    done = sum(done_counts.values())
    start = perf_counter()

    def say(text):
        print(f"rsft-bench: {text}", file=sys.stderr, flush=True)

    if tasks:
        say(
            f"{len(tasks)} fit(s) to run on {len(remaining)} data set(s); "
            f"{done} of {total} done before."
        )

    def advance(row):
        nonlocal done
        name = row["dataset"]
        done += 1
        fits[name] += 1
        failed[name] += row["status"] != "ok"
        remaining[name] -= 1
        if remaining[name] == 0:
            elapsed = timedelta(seconds=round(perf_counter() - start))
            say(
                f"{name} done: {fits[name]} fit(s)"
                + (f", {failed[name]} failed" if failed[name] else "")
                + f"; {done} of {total} fits of the run done after {elapsed}."
            )

    return advance, lambda: None


def _progress_bars(datasets, tasks, done_counts, enabled):
    if enabled == "lines":
        return _progress_lines(tasks, done_counts)
    from tqdm.auto import tqdm

    overall = tqdm(
        total=sum(done_counts.values()) + len(tasks),
        initial=sum(done_counts.values()),
        desc="all",
        unit="fit",
        disable=not enabled,
        position=0,
    )
    remaining = {d.name: 0 for d in datasets}
    for task in tasks:
        remaining[task[0].name] += 1
    bars = {}

    def advance(row):
        name = row["dataset"]
        overall.update()
        if not enabled:
            return
        if name not in bars:
            bars[name] = tqdm(
                total=done_counts[name] + remaining[name],
                initial=done_counts[name],
                desc=name,
                unit="fit",
                position=1,
                leave=False,
            )
        bars[name].update()
        remaining[name] -= 1
        if remaining[name] == 0:
            bars.pop(name).close()

    def close():
        for bar in bars.values():
            bar.close()
        overall.close()

    return advance, close


def _connect(scheduler):
    try:
        from distributed import Client
    except ImportError as exc:
        raise ImportError(
            "--scheduler needs dask.distributed; install the 'distributed' "
            "extra (pip install 'rsft-sklearn[distributed]')."
        ) from exc
    _check_dask_greeting(scheduler)
    try:
        return Client(scheduler, timeout="20s")
    except (OSError, ValueError, TypeError) as exc:
        raise ValueError(
            f"--scheduler: cannot reach a Dask scheduler at {scheduler!r} ({exc})."
        ) from exc


def _check_dask_greeting(scheduler, timeout=20.0):
    """Refuse a TCP address whose service is not a Dask scheduler.

    ``Client``'s timeout covers the connection, not the handshake after it:
    a service that waits for a request (an HTTP server) held it forever, and
    one that answers in another protocol made it read a length of exabytes.
    A Dask scheduler speaks first, a message whose first 8 bytes are a small
    little-endian length. Other schemes (``tls://``, ``inproc://``) are left
    to ``Client``.
    """
    import socket

    address = str(scheduler)
    if "://" in address:
        scheme, address = address.split("://", 1)
        if scheme != "tcp":
            return
    host, _, port = address.rstrip("/").rpartition(":")
    if not host or not port.isdigit():
        return
    host = host.strip("[]")
    try:
        sock = socket.create_connection((host, int(port)), timeout=timeout)
    except OSError as exc:
        raise ValueError(
            f"--scheduler: cannot reach a Dask scheduler at {scheduler!r} ({exc})."
        ) from None
    head = b""
    with sock:
        try:
            while len(head) < 8:
                chunk = sock.recv(8 - len(head))
                if not chunk:
                    break
                head += chunk
        except OSError:
            pass
    if len(head) < 8 or int.from_bytes(head, "little") >= 2**32:
        raise ValueError(
            f"--scheduler: the service at {scheduler!r} answers, but not as a "
            f"Dask scheduler (no Dask greeting within {timeout:g} s)."
        )


def default_threads(n_jobs, scheduler=None):
    """Torch threads per fit when the run does not set them: 1 on a Dask
    cluster, else the cores divided among the local workers (more threads
    each would only contend).

    A fit's scores can depend on its thread count (floating-point sums in
    another order), so a run records the value it used.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._runner import default_threads
    >>> default_threads(1, scheduler="tcp://10.0.0.1:8786")
    1
    """
    from joblib import cpu_count

    if scheduler is not None:
        return 1
    workers = cpu_count() if n_jobs == -1 else n_jobs
    return max(1, cpu_count() // max(1, workers))


def _worker_place():
    """The host and process of a Dask worker (run on the worker)."""
    import socket

    return socket.gethostname(), os.getpid()


def _check_one_task_per_process(client):
    """Warn when the cluster runs tasks side by side in one process.

    A worker of several threads, or workers started in one process
    (``LocalCluster(processes=False)``), run fits at once in one process:
    they share torch's global generator (initial weights, dropout) and the
    seeds every task sets, so the rows are not those of a serial run.
    """
    from collections import Counter

    places = client.run(_worker_place)
    per_place = Counter(places.values())
    shared = sorted(
        address
        for address, threads in client.nthreads().items()
        if threads > 1 or per_place[places.get(address)] > 1
    )
    if shared:
        warnings.warn(
            f"{len(shared)} Dask worker(s) run tasks side by side in one "
            f"process ({', '.join(shared[:3])}{', ...' if len(shared) > 3 else ''}"
            "): several threads per worker, or workers sharing a process. "
            "Fits there share torch's global generator and seeds, so their "
            "rows are not those of a serial run. Start one single-threaded "
            "worker per process (dask worker --nthreads 1; "
            "LocalCluster(threads_per_worker=1, processes=True)).",
            RSFTWarning,
            stacklevel=3,
        )


def _rows_on_dask(client, tasks, config, n_threads):
    """Run the tasks on the Dask cluster of ``client`` and yield their rows
    as they finish; the caller alone writes them."""
    from concurrent.futures import CancelledError

    from distributed import as_completed

    shared, futures = {}, []
    try:
        for dataset, method, fold, train, test in tasks:
            if dataset.name not in shared:
                # Sent once per data set, not once per task, to every worker:
                # a copy on one worker only would be lost with it, and with
                # it every task still to run on that data set.
                shared[dataset.name] = client.scatter(
                    dataset, hash=False, broadcast=True
                )
            # One torch thread per task unless the run sets more: a worker
            # runs as many tasks at once as it has threads.
            futures.append(
                client.submit(
                    run_fold,
                    shared[dataset.name],
                    method,
                    fold,
                    train,
                    test,
                    config,
                    n_threads,
                    pure=False,
                )
            )
        for future in as_completed(futures):
            try:
                row = future.result()
            except CancelledError as exc:
                raise RuntimeError(
                    f"A task of the Dask cluster was cancelled ({exc}), most "
                    "likely because a worker was lost. The finished rows are "
                    "kept: rerun with the same --out to run the rest."
                ) from exc
            yield row
    finally:
        client.cancel(futures)


def _unwritable(out, exc):
    """The error for an output folder or file without write permission (or
    on a full or read-only disk), said before the first fit."""
    return ValueError(
        f"--out: cannot write the results in {str(out)!r} "
        f"({exc.strerror}: {exc.filename})."
    )


@contextmanager
def _folder_lock(out):
    """Hold the output folder for this run: a second run on it (a job
    requeued while the first still runs, say) wrote every fit twice, and
    the report read the copies as independent fits. The lock is the
    operating system's, on ``out/.lock``: it goes with the process that
    holds it, killed or not, and a finished run removes the file. Where the
    file system has no such locks (some network file systems) the run goes
    on unlocked, with a warning; without ``fcntl`` (Windows) nothing is
    locked."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    path = Path(out) / ".lock"
    while True:
        try:
            handle = open(path, "a+")
        except OSError as exc:
            raise ValueError(
                f"--out: cannot write the results in {str(out)!r} "
                f"({exc.strerror}: {exc.filename})."
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                handle.close()
                path.unlink(missing_ok=True)
                warnings.warn(
                    f"--out: the file system of {str(out)!r} takes no lock "
                    f"({exc.strerror}); make sure that no other run writes "
                    "to this folder.",
                    RSFTWarning,
                    stacklevel=3,
                )
                yield
                return
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            handle.close()
            raise ValueError(
                f"--out: another run is writing to {str(out)!r} (process "
                f"{holder}); wait for it to end, or give another --out."
            ) from None
        try:
            same = os.fstat(handle.fileno()).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        # The file was removed by a run that ended after this one opened
        # it: the lock is on a file no other run will open. Again.
        handle.close()
    with handle:
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        try:
            yield
        finally:
            # Removed while held: a run that opened it meanwhile sees that
            # its lock is on a removed file, and takes a new one. (A folder
            # that became read-only keeps it: the lock goes all the same.)
            try:
                path.unlink(missing_ok=True)
            except OSError:
                pass
            fcntl.flock(handle, fcntl.LOCK_UN)


def run_benchmark(
    datasets,
    methods,
    config,
    out,
    *,
    n_jobs=1,
    progress=False,
    scheduler=None,
    retry_failed=False,
):
    """Run every missing (data set, method, fold) and append it to the CSV.

    Parameters
    ----------
    datasets : list of Dataset
        The data.
    methods : list of str
        Method names.
    config : dict
        At least the keys of ``PROTOCOL``; written to ``out/run.json``.
    out : path-like
        Output folder; created when missing, resumed when it holds results.
    n_jobs : int, default=1
        Parallel joblib workers; -1 uses every core. Ignored with
        ``scheduler``.
    progress : bool or "lines", default=False
        Show progress bars; ``"lines"`` prints a line to stderr as each data
        set finishes instead (for a log file, where bars are off).
    scheduler : str or None, default=None
        Address of a running Dask scheduler (``tcp://host:8786``): the folds
        run on its workers, as tasks of ``config["threads"]`` torch threads
        each (1 by default), and this process writes their rows as they
        arrive. Every row is seeded on its own, so the scores equal those of
        a local run with as many threads per fit.
    retry_failed : bool, default=False
        Drop the rows of failed fits from the CSV first, so that they run
        again.

    Returns
    -------
    n_computed : int
        Number of rows computed by this call.
    """
    from contextlib import ExitStack

    from joblib import Parallel, delayed

    with ExitStack() as stack:
        # Connect first: an unreachable cluster leaves no output folder.
        client = None if scheduler is None else stack.enter_context(_connect(scheduler))
        if client is not None:
            _check_one_task_per_process(client)
        out = Path(out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ValueError(
                f"--out: cannot create the folder {str(out)!r} ({exc.strerror})."
            ) from None
        stack.enter_context(_folder_lock(out))
        results = ResultsFile(out / "results.csv")
        # Every check first, and nothing written until they all pass: a
        # refused run had saved its run.json (its methods, and data sets
        # with their fingerprints), and a valid resume was then refused for
        # the content of a set that the folder held no row of.
        run_path = out / "run.json"
        try:
            record = _check_protocol(out, config)
            frame = results.read(
                retry_failed=retry_failed,
                scope=({d.name for d in datasets}, set(methods)),
            )
            recorded = run_path.read_bytes() if run_path.exists() else None
        except OSError as exc:
            raise _unwritable(out, exc) from None
        done = {tuple(key) for key in frame[list(KEY)].to_numpy()}
        _check_spellings(methods, {key[1] for key in done}, out)
        from ._methods import applicable

        tasks, done_counts = [], {d.name: 0 for d in datasets}
        n_splits = {}
        for dataset in datasets:
            splits = _splits(
                dataset, config["folds"], config["repeats"], config["seed"]
            )
            n_splits[dataset.name] = len(splits)
            # A method that cannot run on the set (a binary-only method on
            # multiclass data) is left out rather than recorded as an error.
            usable = [m for m in methods if applicable(m, dataset.n_classes)]
            for fold, (train, test) in enumerate(splits):
                for method in usable:
                    if (dataset.name, method, fold) in done:
                        done_counts[dataset.name] += 1
                    else:
                        tasks.append((dataset, method, fold, train, test))
        # Refused before the first fit, not by the report after the last.
        try:
            fits_of_run(
                frame[frame["dataset"].isin(n_splits) & frame["method"].isin(methods)],
                n_splits,
            )
        except ValueError as exc:
            raise ValueError(f"{results.path}: {exc}.") from None
        # Only where a fit runs: a resume that adds no row (a finished
        # folder, to rebuild its report) mixes nothing.
        versions = library_versions()
        if tasks:
            _warn_of_other_versions(out, record["versions"], versions)
        try:
            # A results file that cannot be written is refused before the
            # record is: a run refused there had saved its run.json, and a
            # valid resume was then refused for the content of a set that
            # the folder held no row of.
            results.check_writable()
            # The record first: no row is ever written without the record
            # of its settings, and either file is replaced in one step.
            _write_atomically(run_path, _record_text(record))
            try:
                results.commit()
            except OSError:
                # A full disk, say: the folder keeps its own record.
                _put_back(run_path, recorded)
                raise
        except OSError as exc:
            raise _unwritable(out, exc) from None
        advance, close = _progress_bars(datasets, tasks, done_counts, progress)
        n_threads = config.get("threads") or default_threads(n_jobs, scheduler)
        try:
            if client is not None:
                rows = _rows_on_dask(client, tasks, config, n_threads)
            else:
                rows = Parallel(n_jobs=n_jobs, return_as="generator_unordered")(
                    delayed(run_fold)(*task, config, n_threads) for task in tasks
                )
            for row in rows:
                if versions not in record["versions"]:
                    # This run's versions join the record with its first
                    # row, and before it, as every setting does: a run
                    # stopped before any fit finished made no row of them.
                    record["versions"].append(versions)
                    _write_record(run_path, _record_text(record), results.path)
                results.append(row)
                advance(row)
        finally:
            close()
        if tasks:
            # Rows arrive in the order their fits finish; the file of a
            # finished run lists them in the order of a serial run, the same
            # for every --n-jobs and scheduler.
            results.sort([d.name for d in datasets], methods)
    return len(tasks)
