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


@pytest.fixture
def default_dtype():
    """``under(dtype)``, a context manager that sets torch's default dtype;
    the default the test started with is put back however it ends."""
    before = torch.get_default_dtype()

    @contextlib.contextmanager
    def under(dtype):
        torch.set_default_dtype(dtype)
        try:
            yield
        finally:
            torch.set_default_dtype(before)

    try:
        yield under
    finally:
        torch.set_default_dtype(before)
