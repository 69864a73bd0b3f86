"""Networks and training recipes of the benchmark's image-like suites.

Every neural method of a data set gets the data set's ``net_params``
(:attr:`~rsft_sklearn.benchmark._suites.Dataset.net_params`), so that all of
them train the same network with the same recipe.
"""

import math
from collections.abc import Mapping

import torch
from torch import nn

__all__ = ["RECIPES", "CNN1d", "CNN2d", "PretrainedState", "recipe_params"]

# The source's recipe (SGD, lr 0.01, momentum 0.9) and the project's default
# (Adam, lr 1e-3). Epochs and batch size are the run's (--epochs,
# --batch-size; the image suites default to the source's 10 and 64), so that
# --quick shortens both recipes alike.
RECIPES = {
    "sgd": {"optimizer": "SGD", "lr": 0.01, "optimizer__momentum": 0.9},
    "adam": {},
}


def describe_recipe(recipe):
    """A named recipe in words, from :data:`RECIPES` and the estimator's
    defaults.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._networks import describe_recipe
    >>> describe_recipe("sgd"), describe_recipe("adam")
    ('SGD, lr 0.01, momentum 0.9', 'Adam, lr 0.001')
    """
    from .. import RSFTClassifier

    default = RSFTClassifier()
    params = {
        "optimizer": default.optimizer.__name__,
        "lr": default.lr,
        **RECIPES[recipe],
    }
    words = [params.pop("optimizer"), f"lr {params.pop('lr'):g}"]
    words += [f"{key.split('__')[-1]} {value:g}" for key, value in params.items()]
    return ", ".join(words)


def recipe_params(recipe):
    """The RSFTClassifier parameters of a named recipe.

    Examples
    --------
    >>> from rsft_sklearn.benchmark._networks import recipe_params
    >>> sorted(recipe_params("sgd"))
    ['lr', 'optimizer', 'optimizer__momentum']
    """
    params = dict(RECIPES[recipe])
    if "optimizer" in params:
        params["optimizer"] = getattr(torch.optim, params["optimizer"])
    return params


class PretrainedState(Mapping):
    """A pretrained network's ``state_dict``, read-only, that travels with
    the data set: a Dask worker on another machine builds the network from
    it, where the file it was read from is not.

    Its ``repr`` names the file, not the tensors, so that an estimator's
    parameters stay readable; a copy (``sklearn.clone``) is the same object,
    as nothing changes the tensors (loading copies them into the network).

    Parameters
    ----------
    state : mapping of str to torch.Tensor
        The tensors, by name.
    name : str, default=""
        Where they were read from, for the ``repr``.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn.benchmark._networks import CNN1d, PretrainedState
    >>> state = PretrainedState(CNN1d(2).state_dict(), "net.pt")
    >>> state
    PretrainedState('net.pt', 8 tensors)
    >>> CNN1d(10, pretrained=state)(torch.zeros(3, 40)).shape
    torch.Size([3, 10])
    """

    def __init__(self, state, name=""):
        self._state = dict(state)
        self.name = str(name)

    def __getitem__(self, key):
        return self._state[key]

    def __iter__(self):
        return iter(self._state)

    def __len__(self):
        return len(self._state)

    def __repr__(self):
        return f"{type(self).__name__}({self.name!r}, {len(self)} tensors)"

    def __deepcopy__(self, memo):
        return self


def _load_features(module, pretrained):
    """Load every pretrained tensor (from a ``state_dict`` file, or a
    mapping such as :class:`PretrainedState`) except the head's, whose
    classes differ."""
    if isinstance(pretrained, Mapping):
        state = pretrained
    else:
        state = torch.load(pretrained, map_location="cpu", weights_only=True)
    state = {k: v for k, v in state.items() if not k.startswith("head.")}
    missing, unexpected = module.load_state_dict(state, strict=False)
    if unexpected or any(not k.startswith("head.") for k in missing):
        raise ValueError(
            f"{_source_name(pretrained)}: not a checkpoint of this network "
            f"(missing {missing}, unexpected {unexpected})."
        )


def _source_name(pretrained):
    """Where pretrained tensors come from, in a message: a file, not the
    tensors of a mapping."""
    if isinstance(pretrained, PretrainedState):
        return pretrained.name or "the pretrained state"
    if isinstance(pretrained, Mapping):
        return "the pretrained state"
    return str(pretrained)


class _SmallCNN(nn.Module):
    """Two convolutions (32 and 64 channels), a max-pool, a 128-unit layer,
    then the ``head``: the source's CNN, scaled to small inputs. Everything
    but the head lives in ``features`` (what ``Freezer('features.*')``
    freezes)."""

    conv = None
    pool = None

    def __init__(self, n_classes, shape, pretrained=None):
        super().__init__()
        from .._modules import check_size

        n_classes = check_size(n_classes, "n_classes")
        name = "length" if len(shape) == 1 else "side"
        for size in shape:
            # The max-pool halves every side: a side of 1 leaves nothing.
            message = f"{name} must be a whole number >= 2, got {size!r}."
            try:
                whole = check_size(size, name)
            except TypeError:
                raise TypeError(message) from None
            except ValueError:
                whole = 0
            if whole < 2:
                raise ValueError(message)
        self.shape = tuple(int(size) for size in shape)
        pooled = 64
        for size in self.shape:
            pooled *= size // 2
        # In float32, the rows' dtype, whatever torch's default dtype
        # (torch.set_default_dtype(torch.float64) built float64 layers, which
        # failed at the first step).
        f32 = torch.float32
        self.features = nn.Sequential(
            self.conv(1, 32, 3, padding=1, dtype=f32),
            nn.ReLU(),
            self.conv(32, 64, 3, padding=1, dtype=f32),
            nn.ReLU(),
            self.pool(2),
            nn.Flatten(),
            nn.Linear(pooled, 128, dtype=f32),
            nn.ReLU(),
        )
        self.head = nn.Linear(128, n_classes, dtype=f32)
        if pretrained is not None:
            _load_features(self, pretrained)

    def forward(self, X):
        size = math.prod(self.shape)
        row = tuple(X.shape[1:])
        if row not in ((size,), self.shape, (1, *self.shape)):
            raise ValueError(
                f"{type(self).__name__} takes rows of {size} values (flat, or "
                f"one channel of shape {self.shape}); got rows of shape {row}."
            )
        X = X.reshape(len(X), 1, *self.shape)
        return self.head(self.features(X))


class CNN2d(_SmallCNN):
    """The source's 2D CNN for ``side x side`` images given as flat rows.

    Parameters
    ----------
    n_classes : int
        Output units.
    side : int, default=8
        Image side (scikit-learn's digits: 8).
    pretrained : path-like, mapping or None, default=None
        A ``state_dict`` of the same network, as a file or a mapping of
        tensors (such as :class:`PretrainedState`); every tensor but the
        head's is loaded.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn.benchmark._networks import CNN2d
    >>> CNN2d(10)(torch.zeros(3, 64)).shape
    torch.Size([3, 10])
    """

    conv = nn.Conv2d
    pool = nn.MaxPool2d

    def __init__(self, n_classes, side=8, pretrained=None):
        super().__init__(n_classes, (side, side), pretrained)


class CNN1d(_SmallCNN):
    """The same network with 1D convolutions, for signals such as MNIST-1D.

    Parameters
    ----------
    n_classes : int
        Output units.
    length : int, default=40
        Signal length (MNIST-1D: 40).
    pretrained : path-like, mapping or None, default=None
        A ``state_dict`` of the same network, as a file or a mapping of
        tensors (such as :class:`PretrainedState`); every tensor but the
        head's is loaded.

    Examples
    --------
    >>> import torch
    >>> from rsft_sklearn.benchmark._networks import CNN1d
    >>> CNN1d(10)(torch.zeros(3, 40)).shape
    torch.Size([3, 10])
    """

    conv = nn.Conv1d
    pool = nn.MaxPool1d

    def __init__(self, n_classes, length=40, pretrained=None):
        super().__init__(n_classes, (length,), pretrained)
