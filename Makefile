# Developer shortcuts; CI runs the same commands.
.PHONY: test lint docs bench

test:
	python -m pytest

lint:
	ruff check . && ruff format --check .

# Builds the site into docs/_build/html with warnings as errors and without
# network access (intersphinx inventories are generated from the installed
# packages). Needs the docs extra: pip install ".[docs]"
docs:
	bash docs/build.sh

bench:
	rsft-bench
