"""The development / held-out split is fixed by the names alone."""

import hashlib

import pytest

from rsft_sklearn.benchmark._protocol import (
    DEVELOPMENT,
    HELD_OUT,
    split_names,
    split_of,
)


def test_split_follows_the_documented_hash_rule():
    for name in ["fars", "kr-vs-k", "page-blocks", "yeast4", "Caravan"]:
        digest = hashlib.sha256(
            b"rsft-sklearn protocol v1\x00" + name.lower().encode()
        ).digest()
        expected = DEVELOPMENT if digest[0] % 2 == 0 else HELD_OUT
        assert split_of(name) == expected


def test_split_is_roughly_half_and_half():
    names = [f"set{i}" for i in range(400)]
    dev, held = split_names(names)
    assert [n for n in names if n in set(dev)] == dev
    assert 160 <= len(dev) <= 240
    assert len(dev) + len(held) == 400


def test_split_ignores_case_and_is_stable():
    assert split_of("Yeast4") == split_of("yeast4")
    assert [split_of("abalone19")] * 3 == [split_of("abalone19") for _ in range(3)]


@pytest.mark.parametrize("bad", [None, "", 3])
def test_split_refuses_non_names(bad):
    with pytest.raises(TypeError, match="non-empty str"):
        split_of(bad)
