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
