#!/usr/bin/env bash
# CUDA check of RSFTClassifier: sync-free rejection step and samples/second.
#
#   bash benchmarks/gpu_check.sh [WHEEL_DIR] [--device cpu]
#
# Run from anywhere inside the repository on a machine with an NVIDIA GPU and
# torch + scikit-learn installed. skorch and imbalanced-learn (and their small
# pure-Python dependencies sklearn-compat, tabulate and tqdm) are installed
# when missing: from WHEEL_DIR when it is given (no index is contacted), else
# from the machine's configured package index. For a machine without network
# access, prepare the directory beforehand on one with access and copy it
# over:
#
#   pip download --no-deps --only-binary=:all: -d wheels \
#       skorch imbalanced-learn sklearn-compat tabulate tqdm
#
# It ends with a short time-to-quality run of the row budget
# (rejection="budget") against the logit-adjusted loss on the fars-shaped
# synthetic set (one seed, 40k rows, 5 epochs; written to $OUT/gpu_ttq, or
# /tmp/gpu_ttq). --device cpu (with or without WHEEL_DIR) makes a tiny smoke
# run on the CPU.
#
# Everything, installation included, is sized to finish within 5 minutes.
set -euo pipefail

device="cuda"; wheels=""
while [ $# -gt 0 ]; do
    case "$1" in
        --device)
            case "${2:-}" in
                ""|-*) echo "--device needs a value (cuda, cpu, ...)" >&2; exit 2 ;;
            esac
            device="$2"; shift 2 ;;
        -*) echo "unknown option $1" >&2; exit 2 ;;
        "") echo "WHEEL_DIR is empty" >&2; exit 2 ;;
        *)
            [ -z "$wheels" ] || { echo "one WHEEL_DIR only, got $wheels and $1" >&2; exit 2; }
            wheels="$1"; shift ;;
    esac
done
# WHEEL_DIR as given from where the script was called.
if [ -n "$wheels" ]; then wheels="$(cd "$wheels" && pwd)"; fi
cd "$(dirname "$0")/.."

missing=$(python - <<'PY'
import importlib.metadata
import importlib.util
wanted = {"skorch": "skorch", "imblearn": "imbalanced-learn",
          "sklearn_compat": "sklearn-compat", "tabulate": "tabulate",
          "tqdm": "tqdm"}
try:
    # imbalanced-learn before 0.14.1 does not use sklearn-compat.
    needs = importlib.metadata.requires("imbalanced-learn") or []
    if not any(r.lower().startswith("sklearn-compat") for r in needs):
        del wanted["sklearn_compat"]
except importlib.metadata.PackageNotFoundError:
    pass
print(" ".join(p for m, p in wanted.items() if importlib.util.find_spec(m) is None))
PY
)
if [ -n "$missing" ]; then
    echo "installing: $missing"
    if [ -n "$wheels" ]; then
        python -m pip install --no-index --no-deps --find-links "$wheels" $missing
    else
        timeout 120 python -m pip install $missing
    fi
fi

quick=""
if [ "$device" = "cpu" ]; then quick="--quick"; fi
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
timeout 150 python benchmarks/gpu_check.py --device "$device" $quick
if [ -n "$quick" ]; then
    ttq=(--quick --sets synthetic)
else
    ttq=(--sets synthetic --seeds 1 --epochs 5 --rows 40000)
fi
ttq_out="${OUT:-/tmp}/gpu_ttq"
rm -rf "$ttq_out"
timeout 100 python benchmarks/time_to_quality.py "${ttq[@]}" --device "$device" \
    --out "$ttq_out"
cat "$ttq_out/summary.md"
