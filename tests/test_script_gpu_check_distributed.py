"""``benchmarks/gpu_check_distributed.py``: Accelerate in fp32 and bf16
against a plain fit. The script's own run needs a GPU (or three CPU fits of
30,000 rows); here its parts run on the CPU on small data."""

import json

import pytest
import torch
from _scripts import load_script

pytest.importorskip("accelerate")


@pytest.fixture
def check(monkeypatch):
    script = load_script("gpu_check_distributed")
    full = script._data

    def small_data():
        return full(1_600)

    monkeypatch.setattr(script, "_data", small_data)
    monkeypatch.setitem(script.PARAMS, "max_epochs", 2)
    monkeypatch.setitem(script.PARAMS, "module__hidden_layer_sizes", (16,))
    return script


def test_accelerate_fp32_logs_the_plain_fits_acceptance(check):
    # The check the script makes on a GPU: through Accelerate in fp32 the
    # same masks are drawn as by a plain fit, so every logged rate agrees.
    plain = check.fit_variant("plain_fp32", "cpu")
    accelerated = check.fit_variant("accelerate_fp32", "cpu")
    assert set(plain["rates"]) == {
        "acceptance_rate",
        "acceptance_rate[0]",
        "acceptance_rate[1]",
        "acceptance_rate[2]",
    }
    assert all(len(rates) == 2 for rates in plain["rates"].values())
    # Rejection ran: the majority class is accepted less often than the rarest.
    assert plain["rates"]["acceptance_rate[0]"][-1] < 1
    assert check._max_rate_gap(accelerated, plain) <= 1e-6
    assert accelerated["balanced_accuracy"] == plain["balanced_accuracy"]
    assert 1 / 3 < plain["balanced_accuracy"] <= 1


def _result(rates, score):
    return {
        "seconds": 1.0,
        "rates": {"acceptance_rate": rates},
        "balanced_accuracy": score,
    }


@pytest.mark.parametrize(
    "bf16_rates, bf16_score, plain_rates, failed",
    [
        ([0.5, 0.4], 0.80, [0.5, 0.4], []),
        ([0.5, 0.43], 0.80, [0.5, 0.4], ["bf16_acceptance_within_tolerance"]),
        ([0.5, 0.4], 0.77, [0.5, 0.4], ["bf16_score_within_tolerance"]),
        ([0.5, 0.4], 0.80, [0.5, 0.41], ["accelerate_fp32_matches_plain"]),
        # A NaN rate (a class absent from an epoch) is ignored, not a failure.
        ([0.5, float("nan")], 0.80, [0.5, float("nan")], []),
    ],
)
def test_checks_compare_against_their_tolerances(
    check, monkeypatch, bf16_rates, bf16_score, plain_rates, failed
):
    results = {
        "accelerate_fp32": _result([0.5, 0.4], 0.80),
        "accelerate_bf16": _result(bf16_rates, bf16_score),
        "plain_fp32": _result(plain_rates, 0.80),
    }
    monkeypatch.setattr(check, "_run_variants", lambda device: dict(results))
    report, checks = check.run_check("cpu")
    assert sorted(name for name, ok in checks.items() if not ok) == failed
    assert report["max_rate_gap_bf16_fp32"] == pytest.approx(
        abs(bf16_rates[1] - 0.4) if bf16_rates[1] == bf16_rates[1] else 0.0
    )
    assert report["balanced_accuracy_gap_bf16_fp32"] == pytest.approx(
        abs(bf16_score - 0.80)
    )


def test_exit_status_follows_the_checks(check, monkeypatch, tmp_path, capsys):
    outcome = {"a": True, "b": True}
    monkeypatch.setattr(check, "run_check", lambda device: ({"x": 1.0}, dict(outcome)))
    monkeypatch.setenv("OUT", str(tmp_path))
    assert check.main(["--device", "cpu"]) == 0
    written = json.loads((tmp_path / "gpu_check_distributed.json").read_text())
    assert written == json.loads(capsys.readouterr().out)
    assert written["device"] == "cpu" and written["checks"] == outcome
    outcome["b"] = False
    assert check.main(["--device", "cpu"]) == 1


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_no_cuda_checks_nothing(check, capsys):
    assert check.main([]) == 2
    assert "No CUDA device" in capsys.readouterr().out


def test_variant_mode_writes_its_result(check, tmp_path):
    out = tmp_path / "plain.json"
    argv = ["--variant", "plain_fp32", "--device", "cpu", "--variant-out", str(out)]
    assert check.main(argv) == 0
    result = json.loads(out.read_text())
    assert set(result) == {"seconds", "rates", "balanced_accuracy"}
    assert result["seconds"] > 0
