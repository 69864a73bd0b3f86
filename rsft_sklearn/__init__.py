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
from ._sampler import RejectionSampler
from ._schedules import CosineRamp, LinearRamp
from ._selection import budget_selection
from ._text import EmbeddingBagModule, TokenIndexer, pad_token_ids
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
