"""Default networks."""

import torch
from torch import nn

__all__ = ["MLPModule"]


class MLPModule(nn.Module):
    """Multi-layer perceptron that returns logits.

    This is the module :class:`~rsft_sklearn.RSFTClassifier` builds when none
    is given; ``n_features`` and ``n_classes`` are then taken from the data at
    fit time.

    Parameters
    ----------
    n_features : int
        Number of input features.
    n_classes : int
        Number of output logits.
    hidden_layer_sizes : tuple of int, default=(64, 64)
        Width of every hidden layer.
    dropout : float, default=0.0
        Dropout probability after every hidden activation.
    activation : type of torch.nn.Module, default=torch.nn.ReLU
        Activation class, instantiated without arguments.

    Notes
    -----
    The module accepts a sparse COO tensor as input (``accepts_sparse``):
    the first layer is then a sparse-dense product, so a batch of sparse
    rows (TF-IDF, hashed features) is never densified.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn import MLPModule
    >>> module = MLPModule(n_features=4, n_classes=3, hidden_layer_sizes=(8,))
    >>> module(torch.zeros(5, 4)).shape
    torch.Size([5, 3])
    """

    def __init__(
        self,
        n_features,
        n_classes,
        hidden_layer_sizes=(64, 64),
        dropout=0.0,
        activation=nn.ReLU,
    ):
        super().__init__()
        layers = []
        width = int(n_features)
        for size in hidden_layer_sizes:
            layers += [nn.Linear(width, int(size)), activation()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = int(size)
        layers.append(nn.Linear(width, int(n_classes)))
        self.layers = nn.Sequential(*layers)

    accepts_sparse = True

    def forward(self, X):
        if X.layout != torch.strided:
            first = self.layers[0]
            hidden = torch.sparse.mm(X, first.weight.t()) + first.bias
            return self.layers[1:](hidden)
        return self.layers(X.flatten(1) if X.dim() > 2 else X)


def _check_module_output(logits, n_classes):
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
        shape = getattr(logits, "shape", None)
        raise TypeError(
            "The module must return a 2-d tensor of logits of shape "
            f"(batch, n_classes); got {type(logits).__name__} of shape {shape}."
        )
    if logits.shape[1] != n_classes:
        raise ValueError(
            f"The module returns {logits.shape[1]} logits per sample but the data "
            f"has {n_classes} classes."
        )
