"""``benchmarks/gpu_check.py`` and ``gpu_check_persistence.py``: the scripts a
session with a GPU runs first. Their CUDA checks need a GPU; the code around
them runs here, on the CPU, at ``gpu_check.py``'s quick scale."""

import contextlib
import io
import json
import re
import signal
import sys

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


def test_quick_cpu_run_prints_the_speed_ratios(quick_output):
    _, text = quick_output
    for label in (
        "(a) RSFT fit / bare PyTorch loop",
        "fars-shaped: pool fit / its floor",
        "fars-shaped: budget fit / its floor",
        "fars-shaped: budget fit / bare budget loop",
    ):
        match = re.search(rf"{re.escape(label)}\s+([\d.]+)  \(target <= ", text)
        assert match, label
        assert float(match.group(1)) > 0


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


def test_ctrl_c_in_a_fit_stops_the_check(monkeypatch, capsys):
    # skorch ends a fit quietly on Ctrl-C, and the checks went on, timing
    # fits cut short.
    from _interrupts import CtrlC

    check = load_script("gpu_check")

    class Interrupted(check.RSFTClassifier):
        def __init__(self, **kwargs):
            kwargs["callbacks"] = [*kwargs.get("callbacks", []), ("ctrl_c", CtrlC())]
            super().__init__(**kwargs)

    monkeypatch.setattr(check, "RSFTClassifier", Interrupted)
    monkeypatch.setattr(check, "timed_fit", pytest.fail)
    assert check.main(["--device", "cpu", "--quick", "--rows", "600"]) == 130
    out, err = capsys.readouterr()
    assert "Interrupted." in err and "sync-free step" not in out
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_the_issue_21_ratios_stop_on_ctrl_c(monkeypatch):
    # They reuse speed.rsft, whose fits swallowed Ctrl-C.
    from _interrupts import CtrlC

    check = load_script("gpu_check")
    speed = load_script("speed")
    fit = speed.rsft
    monkeypatch.setitem(sys.modules, "speed", speed)
    monkeypatch.setattr(
        speed, "rsft", lambda *a, **k: fit(*a, callbacks=[CtrlC()], **k)
    )
    monkeypatch.setattr(speed, "pool_floor", pytest.fail)
    with pytest.raises(KeyboardInterrupt):
        check.issue_21_ratios("cpu", quick=True, repeats=1)


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--device", "foo"], "--device: device='foo' is not a torch device"),
        (["--device", "meta"], "--device: device='meta' holds no data"),
        (["--epochs", "0"], "--epochs: must be a positive integer, got '0'"),
        (["--rows", "-1"], "--rows: must be a positive integer, got '-1'"),
    ],
)
def test_options_that_cannot_run_are_refused_first(argv, message, monkeypatch, capsys):
    # torch's RuntimeError, or a ZeroDivisionError after every check.
    check = load_script("gpu_check")
    monkeypatch.setattr(check, "data", pytest.fail)
    with pytest.raises(SystemExit) as excinfo:
        check.main(["--quick", *argv])
    assert excinfo.value.code == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""


def test_rows_given_win_over_quick(monkeypatch):
    # --quick --rows 500 ran 6000 rows.
    check = load_script("gpu_check")
    seen = []

    def data(n, *args, **kwargs):
        seen.append(n)
        raise SystemExit(0)

    monkeypatch.setattr(check, "data", data)
    for argv, rows in (([], 6000), (["--rows", "500"], 500)):
        with pytest.raises(SystemExit):
            check.main(["--device", "cpu", "--quick", *argv])
        assert seen.pop() == rows
