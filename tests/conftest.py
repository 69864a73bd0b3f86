"""Set-up shared by the test files."""

import contextlib

import numpy as np
import pytest
import torch


@pytest.fixture(autouse=True)
def seeds_fixed():
    """Seed torch's and numpy's global generators before every test.

    The estimators draw from generators of their own; the global ones still
    feed test data and any code that uses the legacy numpy stream.
    """
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002


@pytest.fixture
def no_host_reads(monkeypatch):
    """A context manager inside which reading a tensor value on the host raises."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the training step read a tensor value on the host")

    @contextlib.contextmanager
    def guard():
        with monkeypatch.context() as patch:
            for name in ("item", "tolist", "numpy", "__bool__", "__float__", "__int__"):
                patch.setattr(torch.Tensor, name, forbidden)
            patch.setattr(torch, "nonzero", forbidden)
            yield

    return guard
