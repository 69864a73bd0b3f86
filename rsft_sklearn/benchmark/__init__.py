"""``rsft-bench``: RSFT against imbalanced-learn's resamplers driving the same
network, on imbalanced data sets, with cross-validation and rank statistics.

Run ``rsft-bench --help`` (or ``python -m rsft_sklearn.benchmark --help``).
"""

from ._cli import main

__all__ = ["main"]
