"""Accelerate check on a CUDA machine: bf16 mixed precision against fp32.

Run ``python benchmarks/gpu_check_distributed.py``. It fits
:class:`~rsft_sklearn.AccelerateRSFTClassifier` on the first CUDA device three
times with the same ``random_state``: through Accelerate in fp32, through
Accelerate with ``mixed_precision="bf16"``, and as a plain
:class:`~rsft_sklearn.RSFTClassifier` on ``device="cuda"``. Accelerate fixes
its precision once per process, so every fit runs in a process of its own.

Checks:

- the Accelerate fp32 fit logs the same acceptance rates as the plain fit
  (same kernels, same masks);
- the bf16 fit's overall and per-class acceptance rates stay within
  ``RATE_ATOL`` of the fp32 fit's in every epoch (bf16 logits move the
  acceptance probabilities a little, hence the masks and the trajectory);
- the bf16 fit's balanced accuracy is within ``SCORE_ATOL`` of the fp32 fit's.

The results are printed as JSON and written to
``$OUT/gpu_check_distributed.json`` when ``OUT`` is set. The exit status is 0
when every check passed, 1 when one failed and 2 when no CUDA device is
present. ``--device cpu`` runs the same comparison on the CPU (bf16 autocast
exists there too), to try the script on a machine without a GPU.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score

# The repository's code, installed or not (a device machine may get the
# working tree only); each variant, this file run again, finds it too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

EPOCHS = 6
PARAMS = dict(
    rejection="sample",
    warmup_epochs=0,
    M=2.0,
    hardness=1.0,
    random_state=0,
    batch_size=256,
    lr=3e-3,
    max_epochs=EPOCHS,
    module__hidden_layer_sizes=(128, 128),
)
RATE_ATOL = 0.02
SCORE_ATOL = 0.02
VARIANTS = ("accelerate_fp32", "accelerate_bf16", "plain_fp32")


def _data(n_samples=40_000):
    """Train (three quarters) and test parts of a 3-class set, 85/10/5."""
    X, y = make_classification(
        n_samples=n_samples,
        n_features=20,
        n_informative=10,
        n_classes=3,
        weights=[0.85, 0.1, 0.05],
        flip_y=0.02,
        random_state=0,
    )
    cut = n_samples * 3 // 4
    return X[:cut], y[:cut], X[cut:], y[cut:]


def fit_variant(variant, device):
    """Fit one variant in this process and return its acceptance history."""
    from accelerate import Accelerator

    from rsft_sklearn import AccelerateRSFTClassifier, RSFTClassifier

    X, y, X_test, y_test = _data()
    if variant == "plain_fp32":
        clf = RSFTClassifier(device=device, **PARAMS)
    else:
        precision = "bf16" if variant.endswith("bf16") else "no"
        accelerator = Accelerator(cpu=device == "cpu", mixed_precision=precision)
        clf = AccelerateRSFTClassifier(accelerator=accelerator, **PARAMS)
    start = time.perf_counter()
    clf.fit(X, y)
    seconds = time.perf_counter() - start
    keys = ["acceptance_rate"] + [f"acceptance_rate[{c}]" for c in clf.classes_]
    return {
        "seconds": seconds,
        "rates": {key: clf.history[:, key] for key in keys},
        "balanced_accuracy": balanced_accuracy_score(y_test, clf.predict(X_test)),
    }


def _run_variants(device):
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in VARIANTS:
            out = Path(tmp) / f"{variant}.json"
            command = [
                sys.executable,
                __file__,
                "--variant",
                variant,
                "--device",
                device,
                "--variant-out",
                str(out),
            ]
            subprocess.run(command, check=True)
            results[variant] = json.loads(out.read_text())
    return results


def _max_rate_gap(a, b):
    return max(
        float(np.nanmax(np.abs(np.subtract(a["rates"][k], b["rates"][k]))))
        for k in a["rates"]
    )


def run_check(device="cuda"):
    """Run the three fits and return ``(results, checks)``."""
    results = _run_variants(device)
    fp32, bf16 = results["accelerate_fp32"], results["accelerate_bf16"]
    results["max_rate_gap_bf16_fp32"] = _max_rate_gap(bf16, fp32)
    results["max_rate_gap_accelerate_plain"] = _max_rate_gap(
        fp32, results["plain_fp32"]
    )
    results["balanced_accuracy_gap_bf16_fp32"] = abs(
        bf16["balanced_accuracy"] - fp32["balanced_accuracy"]
    )
    checks = {
        "accelerate_fp32_matches_plain": results["max_rate_gap_accelerate_plain"]
        <= 1e-6,
        "bf16_acceptance_within_tolerance": results["max_rate_gap_bf16_fp32"]
        <= RATE_ATOL,
        "bf16_score_within_tolerance": results["balanced_accuracy_gap_bf16_fp32"]
        <= SCORE_ATOL,
    }
    return results, checks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--variant", choices=VARIANTS, help=argparse.SUPPRESS)
    parser.add_argument("--variant-out", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.variant:
        result = fit_variant(args.variant, args.device)
        Path(args.variant_out).write_text(json.dumps(result))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("No CUDA device: nothing checked.")
        return 2
    results, checks = run_check(args.device)
    name = torch.cuda.get_device_name(0) if args.device == "cuda" else "cpu"
    report = {"device": name, "results": results, "checks": checks}
    text = json.dumps(report, indent=2, default=float)
    print(text)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check_distributed.json").write_text(text)
    return 0 if all(checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
