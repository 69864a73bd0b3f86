"""Rejection-sampling fine-tuning (RSFT) for imbalanced classification."""

from ._classifier import RSFTClassifier
from ._data import BatchIterator, InMemoryDataset, SparseRows
from ._decision import correct_proba
from ._distributed import AccelerateRSFTClassifier
from ._loss import RejectionLoss
from ._modules import MLPModule
from ._rejection import (
    acceptance_probability,
    class_target_weight,
    rejection_mask,
    true_class_log_proba,
)
from ._schedules import CosineRamp, LinearRamp
from ._selection import budget_selection
from ._text import EmbeddingBagModule, TokenIndexer, pad_token_ids
from ._validation import RSFTWarning
from ._version import __version__

__all__ = [
    "AccelerateRSFTClassifier",
    "BatchIterator",
    "CosineRamp",
    "EmbeddingBagModule",
    "InMemoryDataset",
    "LinearRamp",
    "MLPModule",
    "RSFTClassifier",
    "RSFTWarning",
    "RejectionLoss",
    "RejectionSampler",
    "SparseRows",
    "TokenIndexer",
    "__version__",
    "acceptance_probability",
    "budget_selection",
    "class_target_weight",
    "correct_proba",
    "pad_token_ids",
    "rejection_mask",
    "true_class_log_proba",
]


def __getattr__(name):
    # The sampler builds on imbalanced-learn, whose import (most of
    # scikit-learn's estimators, pytest through sklearn_compat) costs tens of
    # megabytes and a second: it is imported when first asked for.
    if name == "RejectionSampler":
        from ._sampler import RejectionSampler

        return RejectionSampler
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))
