"""Saving and restoring what a fitted estimator holds besides its network.

Two things need care. The random generators decide every shuffle and every
rejection mask, so a training run resumed from a checkpoint continues the
same stream only if their states are saved with the parameters. And a pickle
must load on another machine: a generator that lived on a CUDA device is
stored as plain bytes and rebuilt on whatever device the estimator is
loaded onto.
"""

import hashlib
import warnings

import torch

from ._validation import RSFTWarning, caller_stacklevel

__all__ = ["GeneratorState"]

# Version of the layout of a pickled RSFTClassifier. Raise it whenever an
# attribute that a fitted estimator needs is added, renamed or changes meaning,
# and teach ``check_pickle_format`` to read (or refuse) the older layouts.
PICKLE_FORMAT = 1
PICKLE_FORMAT_KEY = "__rsft_pickle_format__"
GENERATORS_KEY = "__rsft_generators__"
# The key of the estimator's init_seed_ in a saved generator state.
SEED_KEY = "init_seed_"


def generators_of(attributes):
    """The :class:`torch.Generator` values of a dict of attributes, by name."""
    return {
        name: value
        for name, value in attributes.items()
        if isinstance(value, torch.Generator)
    }


def _rebuild(name, state, device, saved_kind=None):
    """A generator on ``device`` that continues from ``state`` where it can.

    A generator state only fits a generator of the same kind (CPU Mersenne
    Twister, CUDA Philox); on another kind of device the new generator is
    seeded from a hash of the saved state, so the stream is reproducible but
    not the saved one. Returns the generator and whether it continues.
    ``saved_kind``, the device type the state was saved on where it is
    known, tells a damaged state (the size of another kind's state on the
    same kind of device) from one of another kind: the first is refused.
    """
    generator = torch.Generator(device=device)
    if isinstance(state, (bytes, bytearray)):
        state = torch.frombuffer(bytearray(state), dtype=torch.uint8)
    if not isinstance(state, torch.Tensor):
        raise ValueError(
            f"The saved state of the generator {name!r} must be bytes or a "
            f"uint8 tensor, got {type(state).__name__}: the saved file is not "
            "an RSFTClassifier's, or it is damaged."
        )
    state = state.detach().to("cpu", torch.uint8).contiguous()
    expected = generator.get_state().numel()
    if state.numel() == expected:
        generator.set_state(state)
        return generator, True
    if saved_kind is not None and saved_kind == generator.device.type:
        raise ValueError(
            f"The saved state of the generator {name!r} was saved on the "
            f"{saved_kind} device type, whose states hold {expected} bytes, "
            f"but it holds {state.numel()}: the saved file is damaged."
        )
    digest = hashlib.sha256(name.encode() + state.numpy().tobytes()).digest()
    generator.manual_seed(int.from_bytes(digest[:8], "little") >> 1)
    return generator, False


def pack_generators(state):
    """Replace the generators in a pickle state by their states as bytes."""
    packed = {}
    for name, value in list(state.items()):
        if isinstance(value, torch.Generator):
            # Bytes, not a tensor: a tensor in the pickle would be loaded by
            # torch without the estimator's torch_load_kwargs and map_location.
            state_bytes = value.get_state().numpy().tobytes()
            packed[name] = {"device": value.device.type, "state": state_bytes}
            del state[name]
    state[GENERATORS_KEY] = packed
    state[PICKLE_FORMAT_KEY] = PICKLE_FORMAT
    return state


def check_pickle_format(state, owner):
    """Raise a clear error for a pickle whose layout this version cannot read."""
    found = state.get(PICKLE_FORMAT_KEY)
    if found == PICKLE_FORMAT:
        return
    from ._version import __version__

    if found is None:
        origin = "carries no pickle format version"
    else:
        origin = f"has pickle format version {found!r}"
    raise ValueError(
        f"This {owner} {origin}, but rsft-sklearn {__version__} reads format "
        f"{PICKLE_FORMAT} only. Load it with the rsft-sklearn version that saved "
        "it, or fit the model again."
    )


def unpack_generators(packed, device):
    """Rebuild pickled generators; return them by attribute name.

    CPU generators stay on the CPU; the others go to ``device``, the
    estimator's, which skorch has already mapped to one that exists on this
    machine.
    """
    return {
        name: _rebuild(
            name,
            saved["state"],
            "cpu" if saved["device"] == "cpu" else device,
            saved_kind=saved["device"],
        )[0]
        for name, saved in packed.items()
    }


class GeneratorState:
    """The estimator's random generators as one saveable state.

    This is what :attr:`RSFTClassifier.generators_` returns. It has the
    ``state_dict``/``load_state_dict`` pair of a torch module, so skorch saves
    it and loads it like one: ``Checkpoint(f_generators=...)`` with
    :class:`skorch.callbacks.LoadInitState`, or ``save_params`` and
    ``load_params`` with ``f_generators``. Every :class:`torch.Generator`
    attribute of the estimator is included (the batch shuffle and the
    rejection mask), and so is the seed from which every epoch reseeds
    torch's global generator (``init_seed_``: dropout and other draws of the
    network), drawn anew at every initialisation when ``random_state`` is
    None. A fit resumed with ``LoadInitState`` continues all three. Loading
    them with ``load_params`` into a fresh estimator (``initialize()``
    first) before ``partial_fit`` or a ``warm_start`` fit continues them
    too, but not what the earlier calls counted from their data, which no
    saved file holds: the call counts the class frequencies from its own
    rows, and with ``prior_correction > 0`` or ``M="auto"`` it starts the
    prior after rejection and ``M`` afresh, where continued training of
    the original estimator carries on from the rows and acceptance rates
    of its earlier calls, so the two train differently. A pickle of the
    fitted estimator keeps all of it, and continues exactly.

    Parameters
    ----------
    generators : dict of str to torch.Generator
        The estimator's generators by attribute name; loading a state sets
        these very generators.
    owner : object or None, default=None
        The estimator, whose ``init_seed_`` is saved and loaded with them.

    Examples
    --------
    >>> import io
    >>> from sklearn.datasets import make_classification
    >>> from rsft_sklearn import RSFTClassifier
    >>> X, y = make_classification(n_samples=100, random_state=0)
    >>> clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    >>> sorted(clf.generators_.state_dict())
    ['init_seed_', 'mask_generator_', 'shuffle_generator_']
    >>> f = io.BytesIO()
    >>> clf.save_params(f_generators=f)
    >>> _ = f.seek(0)
    >>> clf.load_params(f_generators=f)
    """

    def __init__(self, generators, owner=None):
        self.generators = generators
        self.owner = owner

    def state_dict(self):
        """Return ``{attribute name: CPU uint8 state tensor}``, and the
        owner's ``init_seed_`` as a one-element int64 tensor."""
        state = {
            name: generator.get_state()
            for name, generator in sorted(self.generators.items())
        }
        seed = getattr(self.owner, "init_seed_", None)
        if seed is not None:
            state[SEED_KEY] = torch.tensor([int(seed)], dtype=torch.int64)
        return state

    def load_state_dict(self, state_dict):
        """Set the estimator's generators to the saved states.

        Parameters
        ----------
        state_dict : dict of str to torch.Tensor
            As returned by :meth:`state_dict`, possibly from another device.
        """
        current = self.generators
        state_dict = dict(state_dict)
        seed = state_dict.pop(SEED_KEY, None)
        unknown = sorted(set(state_dict) - set(current))
        if unknown:
            raise ValueError(
                f"The saved generator state holds {unknown}, which this "
                "estimator does not have; it was saved by a different "
                "estimator or version."
            )
        if seed is not None:
            seed = torch.as_tensor(seed)
            if seed.numel() != 1 or seed.dtype.is_floating_point:
                raise ValueError(
                    f"The saved {SEED_KEY} must be one integer, got a "
                    f"{seed.dtype} tensor of shape {tuple(seed.shape)}: the "
                    "saved file is damaged."
                )
        moved = []
        for name, state in state_dict.items():
            device = current[name].device
            generator, continued = _rebuild(name, state, device)
            current[name].set_state(generator.get_state())
            if not continued:
                size = state.numel() if isinstance(state, torch.Tensor) else len(state)
                expected = generator.get_state().numel()
                moved.append(
                    f"{name} ({size} bytes, where a {device.type} generator's "
                    f"state holds {expected})"
                )
        if moved:
            # Such a state does not record its device type: one of another
            # size comes from another kind of device, or is damaged.
            warnings.warn(
                f"The generator state(s) {'; '.join(moved)} do not fit the "
                "estimator's generators: they were saved on another kind of "
                "device (or the saved file is damaged). They are reseeded from "
                "the saved state, so resumed training is reproducible but "
                "draws other shuffles and masks than an uninterrupted run.",
                RSFTWarning,
                stacklevel=caller_stacklevel(),
            )
        if seed is not None and self.owner is not None:
            # A file saved before the seed was kept has none: the owner keeps
            # its own.
            self.owner.init_seed_ = int(seed.reshape(()))
