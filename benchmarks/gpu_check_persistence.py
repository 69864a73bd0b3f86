"""Persistence check on a CUDA machine: fit on the GPU, load on a CPU.

Run ``python benchmarks/gpu_check_persistence.py``. It fits an RSFTClassifier
on the first CUDA device, writes a pickle, a ``Checkpoint`` (with the
generator state) and the predictions, then starts a second Python process
with ``CUDA_VISIBLE_DEVICES=""`` -- a CPU-only machine as far as torch can
tell -- which loads both, checks the predictions and trains on. On the GPU it
also checks that a pickle round trip keeps the CUDA mask stream and that a
run resumed from the checkpoint matches an uninterrupted one.

The results are printed as JSON and written to ``$OUT/gpu_check_persistence.json``
when ``OUT`` is set. The exit status is 0 when every check passed, 1 when one
failed and 2 when no CUDA device is present.
"""

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import make_classification
from skorch.callbacks import Checkpoint, LoadInitState

# The repository's code, installed or not (a device machine may get the
# working tree only); the CPU part, this file run again, finds it too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rsft_sklearn import RSFTClassifier  # noqa: E402

PARAMS = dict(
    rejection="sample",
    warmup_epochs=0,
    random_state=0,
    batch_size=64,
    module__hidden_layer_sizes=(32, 32),
)
EPOCHS = 3
# CPU and GPU kernels round differently; the network is the same one.
PROBA_ATOL = 1e-4


def _data():
    return make_classification(
        n_samples=2000, n_features=10, weights=[0.9], flip_y=0.01, random_state=0
    )


def _checkpoint(dirname):
    return Checkpoint(monitor=None, dirname=dirname, f_generators="generators.pt")


def _max_param_diff(a, b):
    pa, pb = a.module_.state_dict(), b.module_.state_dict()
    return max(float((pa[k].cpu() - pb[k].cpu()).abs().max()) for k in pa)


def gpu_part(workdir):
    X, y = _data()
    results = {"device": torch.cuda.get_device_name(0)}
    checks = {}

    cp = _checkpoint(str(workdir / "checkpoint"))
    clf = RSFTClassifier(device="cuda", max_epochs=EPOCHS, callbacks=[cp], **PARAMS)
    clf.fit(X, y)
    checks["mask_generator_on_cuda"] = clf.mask_generator_.device.type == "cuda"
    (workdir / "model.pkl").write_bytes(pickle.dumps(clf))
    np.save(workdir / "proba_cuda.npy", clf.predict_proba(X))

    restored = pickle.loads(pickle.dumps(clf))
    checks["cuda_pickle_keeps_mask_state"] = (
        torch.equal(
            restored.mask_generator_.get_state(), clf.mask_generator_.get_state()
        )
        and restored.mask_generator_.device.type == "cuda"
    )

    full = RSFTClassifier(device="cuda", max_epochs=2 * EPOCHS, **PARAMS).fit(X, y)
    cp_resume = _checkpoint(str(workdir / "resume"))
    RSFTClassifier(
        device="cuda", max_epochs=EPOCHS, callbacks=[cp_resume], **PARAMS
    ).fit(X, y)
    resumed = RSFTClassifier(
        device="cuda",
        max_epochs=EPOCHS,
        callbacks=[cp_resume, LoadInitState(cp_resume)],
        **PARAMS,
    ).fit(X, y)
    diff = _max_param_diff(full, resumed)
    results["cuda_resume_max_param_diff"] = diff
    checks["cuda_resume_matches_uninterrupted"] = diff <= 1e-5
    checks["cuda_resume_same_acceptance"] = np.allclose(
        full.history[:, "acceptance_rate"], resumed.history[:, "acceptance_rate"]
    )
    return results, checks


def cpu_part(workdir):
    """Runs in a process that sees no CUDA device."""
    X, y = _data()
    checks = {"cuda_hidden": not torch.cuda.is_available()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf = pickle.loads((workdir / "model.pkl").read_bytes())
    checks["device_warning_on_load"] = any("cpu" in str(w.message) for w in caught)
    checks["loaded_on_cpu"] = torch.device(clf.device).type == "cpu"
    checks["mask_generator_on_cpu"] = clf.mask_generator_.device.type == "cpu"
    proba = clf.predict_proba(X)
    proba_cuda = np.load(workdir / "proba_cuda.npy")
    diff = float(np.abs(proba - proba_cuda).max())
    checks["proba_matches_cuda"] = diff <= PROBA_ATOL
    cp = _checkpoint(str(workdir / "checkpoint"))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = RSFTClassifier(
            max_epochs=1, callbacks=[cp, LoadInitState(cp)], **PARAMS
        ).fit(X, y)
    checks["checkpoint_reseed_warning"] = any(
        "another kind of device" in str(w.message) for w in caught
    )
    checks["checkpoint_resumes_on_cpu"] = len(resumed.history) == EPOCHS + 1
    # The pickle's own Checkpoint callback writes as it trains: last.
    clf.set_params(max_epochs=1)
    clf.partial_fit(X, y)
    checks["trains_on_after_load"] = len(clf.history) == EPOCHS + 1 and all(
        bool(torch.isfinite(p).all()) for p in clf.module_.parameters()
    )

    return {"cpu_proba_max_abs_diff": diff}, checks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cpu-part", metavar="DIR", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.cpu_part:
        results, checks = cpu_part(Path(args.cpu_part))
        print(json.dumps({"results": results, "checks": checks}))
        return 0
    if not torch.cuda.is_available():
        print(json.dumps({"skipped": "no CUDA device"}))
        return 2

    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results, checks = gpu_part(workdir)
        env = {**os.environ, "CUDA_VISIBLE_DEVICES": ""}
        proc = subprocess.run(
            [sys.executable, __file__, "--cpu-part", str(workdir)],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode == 0:
            cpu = json.loads(proc.stdout.strip().splitlines()[-1])
            results.update(cpu["results"])
            checks.update({f"cpu:{k}": v for k, v in cpu["checks"].items()})
        else:
            checks["cpu:process_ran"] = False
            results["cpu_stderr"] = proc.stderr[-4000:]

    checks = {k: bool(v) for k, v in checks.items()}
    report = {"results": results, "checks": checks, "passed": all(checks.values())}
    text = json.dumps(report, indent=2)
    print(text)
    if os.environ.get("OUT"):
        Path(os.environ["OUT"], "gpu_check_persistence.json").write_text(text)
    return 0 if report["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
