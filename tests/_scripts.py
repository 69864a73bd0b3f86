"""Load a script of ``benchmarks/`` as a module, for its tests; make a path
read-only; launch a test module on several processes."""

import importlib.util
import os
import subprocess
import sys
import warnings
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


def launch_processes(script, out_dir, n_processes=2, timeout=300):
    """Run ``script`` (a test module that is also a worker) with ``torchrun``
    on ``n_processes`` CPU processes, ``out_dir`` its argument; return the
    completed process. A launch can fail for reasons outside the code under
    test (a rendezvous port, a process killed at teardown): one more launch
    tells those apart from a real failure, which repeats."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nnodes",
        "1",
        "--nproc_per_node",
        str(n_processes),
        str(script),
        str(out_dir),
    ]
    done = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        warnings.warn(
            f"the {n_processes}-process run failed once and is launched "
            "again:\n" + done.stderr[-2000:],
            stacklevel=2,
        )
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout
        )
    return done
