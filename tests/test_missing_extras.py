"""Features of an optional dependency name the extra that installs it."""

import sys

import numpy as np
import pytest

from rsft_sklearn import AccelerateRSFTClassifier
from rsft_sklearn.benchmark._netsuites import _mnist1d


def _without(monkeypatch, *modules):
    # A None entry in sys.modules makes the import raise ImportError, as a
    # package that is not installed does.
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)


def test_the_accelerate_classifier_without_accelerate_names_the_extra(monkeypatch):
    _without(monkeypatch, "accelerate", "accelerate.state")
    X = np.random.default_rng(0).normal(size=(20, 3)).astype(np.float32)
    y = np.arange(20) % 2
    with pytest.raises(ImportError) as info:
        AccelerateRSFTClassifier(accelerator=object(), max_epochs=1).fit(X, y)
    message = str(info.value)
    assert message.startswith("AccelerateRSFTClassifier needs accelerate")
    assert "pip install 'rsft-sklearn[distributed]'" in message
    assert isinstance(info.value.__cause__, ImportError)


def test_mnist1d_without_the_package_names_the_extra(monkeypatch):
    _without(monkeypatch, "mnist1d", "mnist1d.data")
    with pytest.raises(ImportError, match=r"pip install 'rsft-sklearn\[bench\]'"):
        _mnist1d(n_rows=10)
