#!/usr/bin/env bash
# Build the HTML documentation with warnings as errors, without network.
#
#   bash docs/build.sh            # site in docs/_build/html
#   RSFT_DOCS_RUN_EXAMPLES=False bash docs/build.sh   # skip running the gallery
#
# Sphinx-gallery and autosummary write generated pages into the source folder,
# so the build runs on a copy of docs/ in docs/_build/tree: nothing is written
# outside docs/_build. The copy keeps its gallery output between builds, and
# sphinx-gallery re-runs only the examples whose source changed: remove
# docs/_build to re-run them all after a change to the library.
set -euo pipefail

DOCS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT_DIR="$(dirname "$DOCS_DIR")"
BUILD_DIR="$DOCS_DIR/_build"
TREE="$BUILD_DIR/tree"

mkdir -p "$TREE/docs"
find "$TREE/docs" -mindepth 1 -maxdepth 1 ! -name auto_examples -exec rm -rf {} +
tar -C "$DOCS_DIR" --exclude=./_build --exclude=./auto_examples \
    --exclude=./generated --exclude=./sg_execution_times.rst \
    --exclude=__pycache__ -cf - . | tar -C "$TREE/docs" -xf -
for path in examples CHANGES.md; do
    rm -f "$TREE/$path"
    if [ -e "$ROOT_DIR/$path" ]; then
        ln -s "$ROOT_DIR/$path" "$TREE/$path"
    fi
done

export PYTHONDONTWRITEBYTECODE=1
export MPLBACKEND=Agg
# The gallery trains tiny networks, for which one thread per operation is
# fastest; more threads mostly wait for each other, badly so on a busy machine.
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
python -m sphinx -W --keep-going -b html -j 1 "$@" \
    -d "$BUILD_DIR/doctrees" "$TREE/docs" "$BUILD_DIR/html"
# The site must read right offline: no script or stylesheet from the network,
# and the bundled MathJax on every page with formulas.
python "$DOCS_DIR/check_offline.py" "$BUILD_DIR/html"
echo "HTML pages are in $BUILD_DIR/html"
