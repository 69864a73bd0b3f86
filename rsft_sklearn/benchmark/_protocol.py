"""The development / held-out split of the benchmark's data sets.

Defaults and sweeps are tuned on the development half only; the held-out half
is what reports claim results on. The split is fixed before any tuning by a
rule on the names alone: within a suite, the data sets are ordered by the
SHA-256 digest of their salted, lower-cased names and dealt alternately to
the development half (first, third, ...) and the held-out half (second,
fourth, ...). Dealing by rank rather than by the digest's parity keeps the
two halves of every suite the same size (to one set), so that a suite of a
few large sets cannot end with all of them on one side.
"""

import hashlib

__all__ = ["DEVELOPMENT", "HELD_OUT", "name_digest", "split_names"]

DEVELOPMENT = "development"
HELD_OUT = "held-out"

# Changing the salt re-draws every split and invalidates every tuned default.
_SALT = b"rsft-sklearn protocol v1\x00"


def name_digest(name):
    """Return the hex SHA-256 digest of a data set's salted, lower-cased name.

    Parameters
    ----------
    name : str
        Data set name as the benchmark reports it.

    Returns
    -------
    digest : str

    Examples
    --------
    >>> from rsft_sklearn.benchmark._protocol import name_digest
    >>> name_digest("Yeast4") == name_digest("yeast4")
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"A data set name must be a non-empty str, got {name!r}.")
    return hashlib.sha256(_SALT + name.lower().encode("utf-8")).hexdigest()


def split_names(names):
    """Split one suite's names into ``(development, held_out)``.

    Parameters
    ----------
    names : iterable of str
        The data set names of one suite; duplicates (ignoring case) are
        refused.

    Returns
    -------
    development, held_out : list of str
        Each in the order of ``names``.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._protocol import split_names
    >>> dev, held = split_names(["a", "b", "c", "d", "e"])
    >>> len(dev), len(held), sorted(dev + held)
    (3, 2, ['a', 'b', 'c', 'd', 'e'])
    """
    names = list(names)
    digests = {name: name_digest(name) for name in names}
    lowered = [name.lower() for name in names]
    if len(set(lowered)) != len(lowered):
        raise ValueError(f"Data set names must be unique, got {names}.")
    ranked = sorted(names, key=digests.__getitem__)
    development = set(ranked[0::2])
    return (
        [name for name in names if name in development],
        [name for name in names if name not in development],
    )
