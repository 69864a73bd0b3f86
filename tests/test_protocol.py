"""The development / held-out split is fixed by the names alone."""

import hashlib

import pytest

from rsft_sklearn.benchmark._protocol import name_digest, split_names


def test_split_follows_the_documented_rule():
    names = ["fars", "kr-vs-k", "page-blocks", "nursery", "yeast4", "Caravan"]
    ranked = sorted(
        names,
        key=lambda n: hashlib.sha256(
            b"rsft-sklearn protocol v1\x00" + n.lower().encode()
        ).hexdigest(),
    )
    dev, held = split_names(names)
    assert set(dev) == set(ranked[0::2])
    assert set(held) == set(ranked[1::2])
    assert dev == [n for n in names if n in set(dev)]


def test_halves_have_equal_size_and_ignore_input_order():
    names = [f"set{i}" for i in range(41)]
    dev, held = split_names(names)
    assert (len(dev), len(held)) == (21, 20)
    dev_rev, held_rev = split_names(names[::-1])
    assert set(dev_rev) == set(dev) and set(held_rev) == set(held)


def test_digest_ignores_case():
    assert name_digest("Yeast4") == name_digest("yeast4")


@pytest.mark.parametrize("bad", [None, "", 3])
def test_refuses_non_names(bad):
    with pytest.raises(TypeError, match="non-empty str"):
        name_digest(bad)


def test_refuses_duplicates():
    with pytest.raises(ValueError, match="unique"):
        split_names(["a", "A"])
