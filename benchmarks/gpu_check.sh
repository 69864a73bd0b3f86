#!/usr/bin/env bash
# CUDA check of RSFTClassifier: sync-free rejection step and samples/second.
#
#   bash benchmarks/gpu_check.sh [WHEEL_DIR]
#
# Run from anywhere inside the repository on a machine with an NVIDIA GPU and
# torch + scikit-learn installed. skorch and imbalanced-learn (and their small
# pure-Python dependencies tabulate and tqdm) are installed when missing: from
# WHEEL_DIR when it is given (no index is contacted), else from the machine's
# configured package index. For a machine without network access, prepare the
# directory beforehand on one with access and copy it over:
#
#   pip download --no-deps --only-binary=:all: -d wheels \
#       skorch imbalanced-learn tabulate tqdm
#
# Everything, installation included, is sized to finish within 5 minutes.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=$(python - <<'PY'
import importlib.util
wanted = {"skorch": "skorch", "imblearn": "imbalanced-learn",
          "tabulate": "tabulate", "tqdm": "tqdm"}
print(" ".join(p for m, p in wanted.items() if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
    echo "installing: $missing"
    if [ -n "${1:-}" ]; then
        python -m pip install --no-index --no-deps --find-links "$1" $missing
    else
        timeout 120 python -m pip install $missing
    fi
fi

PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" timeout 240 python benchmarks/gpu_check.py
