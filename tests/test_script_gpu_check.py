"""``benchmarks/gpu_check.py`` and ``gpu_check_persistence.py``: the scripts a
session with a GPU runs first. Their CUDA checks need a GPU; the code around
them runs here, on the CPU, at ``gpu_check.py``'s quick scale."""

import contextlib
import io
import json
import re

import pytest
import torch
from _scripts import load_script


@pytest.fixture(scope="module")
def quick_output():
    check = load_script("gpu_check")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        status = check.main(["--device", "cpu", "--quick"])
    return status, out.getvalue()


def test_quick_cpu_run_passes_every_check(quick_output):
    status, text = quick_output
    assert status == 0, text
    steps = [line for line in text.splitlines() if line.startswith("sync-free step")]
    # The default, hardness 0, expected, foreach, pool and budget modes.
    assert len(steps) == 6 and all(": ok, acceptance" in line for line in steps)
    for line in steps:
        rate = float(line.rsplit(" ", 1)[1])
        assert 0 < rate <= 1
    assert "mask generator and statistics on the device: ok" in text


def test_quick_cpu_run_reports_each_budget_and_its_share(quick_output):
    _, text = quick_output
    shares = {
        match.group(1): float(match.group(3))
        for match in re.finditer(
            r"RSFT budget=([\d.]+(?:, rescore=\d+)?)\s+[\d,]+ samples/s  "
            r"fit / expected rule ([\d.]+)  backward share ([\d.]+)",
            text,
        )
    }
    assert set(shares) == {"0.5", "0.25", "0.1", "0.25, rescore=8"}
    for label, share in shares.items():
        budget = float(label.split(",")[0])
        # The budget is held in expectation, within 0.02 on 6,000 rows.
        assert share == pytest.approx(budget, abs=0.02), label
    for name in ("plain skorch", "RSFT", "RSFT rejection='pool'"):
        assert re.search(rf"{re.escape(name)}\s+[\d,]+ samples/s", text), name


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_without_cuda_both_scripts_exit_2(capsys):
    assert load_script("gpu_check").main(["--device", "cuda"]) == 2
    assert "no CUDA device" in capsys.readouterr().err
    assert load_script("gpu_check_persistence").main([]) == 2
    assert json.loads(capsys.readouterr().out) == {"skipped": "no CUDA device"}


def test_quick_cpu_run_prints_the_step_and_floor_ratios(quick_output):
    _, text = quick_output
    ratios = dict(
        re.findall(r"^(\(a\) RSFT fit / bare PyTorch loop|fars-shaped: \w+ fit / "
                   r"its floor)\s+([\d.]+)  \(target", text, flags=re.M)
    )  # fmt: skip
    assert set(ratios) == {
        "(a) RSFT fit / bare PyTorch loop",
        "fars-shaped: pool fit / its floor",
        "fars-shaped: budget fit / its floor",
    }
    assert all(0.2 < float(value) < 20 for value in ratios.values())


def test_the_shell_script_takes_its_options_in_any_order(tmp_path):
    import os
    import subprocess
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.sh"
    import sys

    # The script runs `python`: this environment's, which has everything.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    env = {**os.environ, "OUT": str(tmp_path), "OMP_NUM_THREADS": "1", "PATH": path}
    # --device without WHEEL_DIR was read as WHEEL_DIR, and the run went to
    # CUDA; a WHEEL_DIR relative to the caller was read from the root.
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    done = subprocess.run(
        ["bash", str(script), "--device", "cpu", os.path.relpath(wheels)],
        capture_output=True, text=True, env=env, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "issue #21 ratios" in done.stdout
    assert (tmp_path / "gpu_ttq" / "summary.md").exists()
    bad = subprocess.run(
        ["bash", str(script), "--device"], capture_output=True, text=True, env=env
    )
    assert bad.returncode == 2 and "--device needs a value" in bad.stderr
    for argv in (["--device", "--device", "cpu"], ["a", "b"], ["--device", ""], [""]):
        bad = subprocess.run(
            ["bash", str(script), *argv], capture_output=True, text=True, env=env
        )
        assert bad.returncode == 2, argv
