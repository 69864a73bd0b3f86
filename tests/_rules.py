"""Estimator parameters shared by the test files.

Import with ``from _rules import SAMPLE_RULE``: pytest puts ``tests/`` on
``sys.path`` for the test modules in it.
"""

#: The per-step Bernoulli rule from the first epoch on. The tests of the
#: mechanics of sampled rejection (masks, acceptance statistics, compaction,
#: pool mode, guards, adaptive M, resume) pin it rather than rely on the
#: estimator's defaults (``rejection="expected"`` after 5 warm-up epochs).
SAMPLE_RULE = {
    "rejection": "sample",
    "warmup_epochs": 0,
    "target_power": 1.0,
    "prior_correction": 0.0,
}

#: No warm-up, for tests that choose the rejection mode themselves.
NO_WARMUP = {"warmup_epochs": 0}


def two_class_data(n, positive_share, n_features, seed=0):
    """``(X, y)``: Gaussian rows, class 1 with probability ``positive_share``
    and shifted by one in every feature."""
    import numpy as np

    rng = np.random.default_rng(seed)
    y = (rng.random(n) < positive_share).astype(np.int64)
    X = rng.normal(size=(n, n_features)).astype(np.float32) + y[:, None]
    return X, y
