"""Losses of the benchmark's rivals, and the callback that feeds them the prior.

Both losses take ``reduction`` like :class:`torch.nn.CrossEntropyLoss`, since
:class:`~rsft_sklearn.RSFTClassifier` sets it to ``"none"`` to weight every
sample's loss.
"""

import numpy as np
import torch
from skorch.callbacks import Callback
from torch import nn
from torch.nn import functional as F

from .._decision import prior_after_rejection

__all__ = [
    "FocalLoss",
    "LogitAdjustedLoss",
    "LogitAdjustmentPrior",
    "prior_after_rejection",
    "softmax",
]


def softmax(logits):
    """Class probabilities from logits.

    skorch applies the softmax to a classifier's output only when its
    criterion is :class:`torch.nn.CrossEntropyLoss`; a net with another loss
    on logits passes this as ``predict_nonlinearity``.
    """
    return torch.softmax(logits, dim=-1)


def _check_prior(class_prior):
    prior = np.asarray(class_prior, dtype=np.float64)
    if prior.ndim != 1 or len(prior) < 2:
        raise ValueError(
            "class_prior must be 1-d with one entry per class, got shape "
            f"{prior.shape}."
        )
    if not np.all(np.isfinite(prior)) or np.any(prior <= 0):
        raise ValueError(f"class_prior must be finite and positive, got {prior}.")
    return prior / prior.sum()


class LogitAdjustedLoss(nn.Module):
    """Cross-entropy on logits shifted by ``tau`` times the log class prior.

    The loss of a sample of class ``y`` with logits ``f`` is the cross-entropy
    of ``f_k + tau * log prior_k``. Its minimiser makes ``f`` estimate the
    balanced (equal-prior) log-posterior, so the plain arg-max of ``f``
    is the balanced decision: the logit-adjusted loss of Menon et al.,
    "Long-tail learning via logit adjustment" (ICLR 2021); with ``tau=1`` it
    is the Balanced Softmax of Ren et al. (NeurIPS 2020).

    Parameters
    ----------
    class_prior : array-like of shape (n_classes,) or None, default=None
        Class frequencies; normalised to sum to 1. ``None`` leaves the prior
        to be set before training, by :meth:`set_class_prior` or the
        :class:`LogitAdjustmentPrior` callback.
    tau : float, default=1.0
        Scale of the adjustment; ``0`` is the plain cross-entropy.
    reduction : {"mean", "sum", "none"}, default="mean"
        As in :class:`torch.nn.CrossEntropyLoss`.

    Attributes
    ----------
    log_prior : torch.Tensor of shape (n_classes,) or None
        Buffer holding the log of the normalised class prior.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn.benchmark._losses import LogitAdjustedLoss
    >>> loss = LogitAdjustedLoss([0.9, 0.1])
    >>> logits, y = torch.zeros(2, 2), torch.tensor([0, 1])
    >>> loss(logits, y).item() > torch.nn.functional.cross_entropy(logits, y).item()
    True
    """

    def __init__(self, class_prior=None, tau=1.0, reduction="mean"):
        super().__init__()
        self.tau = float(tau)
        self.reduction = reduction
        self.register_buffer("log_prior", None)
        if class_prior is not None:
            self.set_class_prior(class_prior)

    def set_class_prior(self, class_prior, device=None):
        """Replace the prior that shifts the logits.

        Parameters
        ----------
        class_prior : array-like of shape (n_classes,)
            Positive class frequencies; normalised to sum to 1.
        device : str or torch.device or None, default=None
            Device of the buffer; ``None`` keeps the current buffer's device
            (the CPU for the first prior).

        Returns
        -------
        self : LogitAdjustedLoss
        """
        if device is None and self.log_prior is not None:
            device = self.log_prior.device
        log_prior = np.log(_check_prior(class_prior))
        self.log_prior = torch.as_tensor(log_prior, dtype=torch.float32, device=device)
        return self

    def forward(self, logits, target):
        if self.log_prior is None:
            raise RuntimeError(
                "LogitAdjustedLoss has no class prior; pass class_prior, call "
                "set_class_prior, or add the LogitAdjustmentPrior callback."
            )
        shift = self.tau * self.log_prior.to(dtype=logits.dtype)
        return F.cross_entropy(logits + shift, target, reduction=self.reduction)


class FocalLoss(nn.Module):
    """Focal loss ``-(1 - p_y) ** gamma * log p_y`` on logits.

    Down-weights the samples the model already classifies well (Lin et al.,
    "Focal loss for dense object detection", ICCV 2017); ``gamma=0`` is the
    cross-entropy. It does not change the class prior the network learns, so
    its arg-max is not a balanced decision.

    Parameters
    ----------
    gamma : float, default=2.0
        Focusing exponent, ``>= 0``.
    reduction : {"mean", "sum", "none"}, default="mean"
        As in :class:`torch.nn.CrossEntropyLoss`.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn.benchmark._losses import FocalLoss
    >>> logits, y = torch.tensor([[2.0, 0.0]]), torch.tensor([0])
    >>> FocalLoss(gamma=0.0)(logits, y).item() == (
    ...     torch.nn.functional.cross_entropy(logits, y).item())
    True
    >>> FocalLoss(gamma=2.0)(logits, y).item() < FocalLoss(gamma=0.0)(logits, y).item()
    True
    """

    def __init__(self, gamma=2.0, reduction="mean"):
        super().__init__()
        if not gamma >= 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}.")
        self.gamma = float(gamma)
        self.reduction = reduction

    def forward(self, logits, target):
        log_p = torch.log_softmax(logits, dim=1).gather(1, target.reshape(-1, 1))
        log_p = log_p.reshape(-1)
        losses = -((1.0 - log_p.exp()) ** self.gamma) * log_p
        if self.reduction == "none":
            return losses
        if self.reduction == "sum":
            return losses.sum()
        if self.reduction == "mean":
            return losses.mean()
        raise ValueError(f"Unknown reduction {self.reduction!r}.")


class LogitAdjustmentPrior(Callback):
    """Give a net's :class:`LogitAdjustedLoss` the prior of its training data.

    At the start of training the loss gets the net's ``class_prior_``. With
    ``after_rejection=True`` it gets, at the end of every epoch, the prior of
    the samples the rejection rule accepted in that epoch (the training prior
    times each class's ``acceptance_rate[<label>]``, renormalised), so that a
    loss that removes the prior from the logits does not correct again for
    what the rule already balanced. Epochs without rejection accept every
    sample and leave the training prior.

    Every epoch records ``loss_class_prior`` in the history: the prior the
    loss used during that epoch.

    Parameters
    ----------
    after_rejection : bool, default=False
        Follow the acceptance rates of the rule.

    Examples
    --------
    >>> import numpy as np
    >>> from rsft_sklearn import RSFTClassifier
    >>> from rsft_sklearn.benchmark._losses import (
    ...     LogitAdjustedLoss, LogitAdjustmentPrior, softmax)
    >>> X = np.random.default_rng(0).normal(size=(40, 2)).astype("float32")
    >>> y = np.r_[np.zeros(30, int), np.ones(10, int)]
    >>> net = RSFTClassifier(criterion=LogitAdjustedLoss, predict_nonlinearity=softmax,
    ...                      callbacks=[LogitAdjustmentPrior()], max_epochs=2)
    >>> net.fit(X, y).history[-1]["loss_class_prior"]
    [0.75, 0.25]
    """

    def __init__(self, after_rejection=False):
        self.after_rejection = after_rejection

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        self.class_prior_ = _check_prior(net.class_prior_)
        self.loss_prior_ = self.class_prior_
        _base_loss(net).set_class_prior(self.loss_prior_, device=net.device)

    def on_epoch_end(self, net, **kwargs):
        net.history.record("loss_class_prior", self.loss_prior_.tolist())
        if not self.after_rejection:
            return
        last = net.history[-1]
        rates = [last[f"acceptance_rate[{label}]"] for label in net.classes_]
        self.loss_prior_ = prior_after_rejection(self.class_prior_, rates)
        _base_loss(net).set_class_prior(self.loss_prior_)


def _base_loss(net):
    # The net may wrap its criterion in a module that applies the rule.
    loss = getattr(net.criterion_, "base_criterion", net.criterion_)
    if not isinstance(loss, LogitAdjustedLoss):
        raise TypeError(
            "LogitAdjustmentPrior needs a net whose criterion is "
            f"LogitAdjustedLoss, got {type(loss).__name__}."
        )
    return loss
