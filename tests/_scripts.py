"""Load a script of ``benchmarks/`` as a module, for its tests; make a path
read-only."""

import importlib.util
import os
import subprocess
from contextlib import contextmanager
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name):
    """The module ``benchmarks/<name>.py``, executed once per call."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def read_only(path):
    """``path`` (a file or a folder) made read-only for the block, even for
    root (who writes through permissions, not through ``chattr +i``); skips
    the test where that cannot be done."""
    import pytest

    path = Path(path)
    mode = path.stat().st_mode
    path.chmod(mode & ~0o222)
    immutable = os.geteuid() == 0
    try:
        if immutable:
            done = subprocess.run(["chattr", "+i", str(path)], capture_output=True)
            if done.returncode:
                pytest.skip(f"cannot make {path} read-only for root: chattr failed")
        yield path
    finally:
        if immutable:
            subprocess.run(["chattr", "-i", str(path)], capture_output=True)
        path.chmod(mode)
