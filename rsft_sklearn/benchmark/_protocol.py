"""The development / held-out split of the benchmark's data sets.

Defaults and sweeps are tuned on the development half only; the held-out half
is what reports claim results on. The half a data set belongs to is a pure
function of its name, fixed before any tuning, so adding data sets never
moves an existing one from one half to the other.
"""

import hashlib

__all__ = ["DEVELOPMENT", "HELD_OUT", "split_of", "split_names"]

DEVELOPMENT = "development"
HELD_OUT = "held-out"

# Changing the salt re-draws every split and invalidates every tuned default.
_SALT = b"rsft-sklearn protocol v1\x00"


def split_of(name):
    """Return the half (``"development"`` or ``"held-out"``) of a data set.

    The first byte of the SHA-256 digest of the salted, lower-cased name
    decides: even is development, odd is held-out.

    Parameters
    ----------
    name : str
        Data set name as the benchmark reports it.

    Returns
    -------
    half : {"development", "held-out"}

    Examples
    --------
    >>> from rsft_sklearn.benchmark._protocol import split_of
    >>> split_of("yeast4") in ("development", "held-out")
    True
    >>> split_of("Yeast4") == split_of("yeast4")
    True
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"A data set name must be a non-empty str, got {name!r}.")
    digest = hashlib.sha256(_SALT + name.lower().encode("utf-8")).digest()
    return DEVELOPMENT if digest[0] % 2 == 0 else HELD_OUT


def split_names(names):
    """Split names into ``(development, held_out)`` lists, order kept.

    Parameters
    ----------
    names : iterable of str
        Data set names.

    Returns
    -------
    development, held_out : list of str

    Examples
    --------
    >>> from rsft_sklearn.benchmark._protocol import split_names
    >>> dev, held = split_names(["a", "b", "c", "d"])
    >>> sorted(dev + held)
    ['a', 'b', 'c', 'd']
    """
    development, held_out = [], []
    for name in names:
        (development if split_of(name) == DEVELOPMENT else held_out).append(name)
    return development, held_out
