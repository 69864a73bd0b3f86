"""Data-parallel training of RSFTClassifier with Hugging Face Accelerate."""

import functools
from dataclasses import replace

import numpy as np
import torch
from sklearn.utils._param_validation import StrOptions
from skorch.hf import AccelerateMixin

from ._base import in_prediction_pass
from ._classifier import RSFTClassifier
from ._compaction import compact_always
from ._data import BatchIterator, _take
from ._validation import check_device

__all__ = ["AccelerateRSFTClassifier"]


class AccelerateRSFTClassifier(AccelerateMixin, RSFTClassifier):
    """RSFTClassifier trained data-parallel (DDP) or in mixed precision.

    :class:`RSFTClassifier` composed with :class:`skorch.hf.AccelerateMixin`.
    Launched on ``R`` processes (``accelerate launch`` or ``torchrun``), every
    process holds a replica of the network and, in every step, a contiguous
    part of the same shuffled global batch of ``R * batch_size`` rows (or
    ``batch_size`` rows with ``Accelerator(split_batches=True)``). Each
    process draws the rejection mask of its part from its own generator; the
    gradients that the processes average are the gradient a single process
    would compute for the global batch and the same masks.

    On one process it trains exactly like :class:`RSFTClassifier` with the
    same ``random_state``, in the accelerator's precision.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network, as in :class:`RSFTClassifier`.
    accelerator : accelerate.Accelerator
        Decides the processes, the device and the precision
        (``mixed_precision="bf16"``, ...). Gradient accumulation
        (``gradient_accumulation_steps > 1``) is refused: raise
        ``batch_size`` instead. ``mixed_precision="fp16"`` on the CPU
        trains in float32 (accelerate has no float16 autocast there), with
        an :class:`RSFTWarning`; ``"bf16"`` runs there.
    device : str, torch.device or None, default=None
        ``None`` trains on the accelerator's device, the usual choice. An
        explicit device must be that device.
    unwrap_after_train : bool, default=True
        Unwrap the network from the accelerator after training, so that the
        estimator can be pickled and predicts in full precision; also after
        ``load_params`` outside a fit (``initialize()``, then
        ``load_params``, to predict). A copy of an estimator left wrapped
        in mixed precision (``False``), pickled or deep-copied, predicts in
        full precision: pickle cannot keep accelerate's mixed-precision
        forward. Its next training prepares it again.
    callbacks__print_log__sink : "auto" or callable, default="auto"
        ``"auto"`` prints the epoch table with the accelerator's ``print``,
        so that only the main process prints; with ``print_log`` disabled
        (``callbacks__print_log=None``) it is set on no callback.
    **kwargs : dict
        Every parameter of :class:`RSFTClassifier` (``M``, ``hardness``,
        ``target``, ``rejection``, ``loss_normalization``, ``random_state``,
        ``batch_size`` per process, skorch parameters, ...). On several
        processes ``iterator_train`` must be a :class:`BatchIterator` (the
        default), whose global batches the estimator splits between them.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    history_ : skorch.History
        Per-epoch records. ``acceptance_rate``, ``acceptance_rate[<label>]``
        are over all processes, hence identical on every process;
        ``train_loss`` is the loss of the global batches, also the same on
        every process.
    module_ : torch.nn.Module
        The trained network, identical on every process.

    See Also
    --------
    RSFTClassifier : The single-process estimator.
    skorch.hf.AccelerateMixin : The skorch side of the composition.

    Notes
    -----
    Exactness across processes rests on three choices, all taken inside the
    training step without reading a value back to the host:

    - Each process divides its masked loss sum by ``N / R``, where ``N`` is
      the global batch size (``loss_normalization="batch"``) or the global
      number of accepted samples (``"accepted"``), summed over processes by
      one all-reduce of a four-element tensor per step (see
      :meth:`RejectionLoss.normaliser`). Averaging the
      gradients over the ``R`` processes then yields the gradient of the
      global masked loss divided by ``N``, even when the parts of a batch
      differ in size.
    - A step in which no process accepts anything is undone on every
      process; a step that some process accepts is kept on every process.
    - The shuffling and the initial weights are seeded identically on every
      process (from ``random_state``, or from the main process's draw when
      it is ``None``); the mask generator of process ``r`` is seeded from
      ``random_state`` and ``r``, so that the parts' masks are independent.

    Under ``prior_correction`` above 0 (the default), each step also sums
    the per-class counts of the prior after rejection over processes (one
    more all-reduce, of ``n_classes`` elements), so that every process
    adjusts its logits by the same prior. The per-epoch acceptance counts
    are summed over processes once per epoch, at its end. Validation and
    prediction run on the whole input on every process.

    Examples
    --------
    >>> from accelerate import Accelerator
    >>> from sklearn.datasets import make_classification
    >>> from rsft_sklearn import AccelerateRSFTClassifier
    >>> X, y = make_classification(n_samples=200, weights=[0.9], random_state=0)
    >>> clf = AccelerateRSFTClassifier(
    ...     accelerator=Accelerator(cpu=True), max_epochs=3, random_state=0
    ... ).fit(X, y)
    >>> clf.predict(X[:4]).shape
    (4,)
    >>> 0.0 < clf.history[-1, "acceptance_rate"] <= 1.0
    True
    """

    _parameter_constraints = {
        **RSFTClassifier._parameter_constraints,
        # Read by truth value: unwrap_after_train="False" unwrapped.
        "unwrap_after_train": ["boolean"],
        # skorch calls the sink with the epoch table's rows: any other value
        # failed after the first epoch had trained ("'NoneType' object is
        # not callable"), at every verbose.
        "callbacks__print_log__sink": [StrOptions({"auto"}), callable],
    }

    def __init__(
        self,
        module=None,
        *,
        accelerator,
        device=None,
        unwrap_after_train=True,
        callbacks__print_log__sink="auto",
        **kwargs,
    ):
        super().__init__(
            module,
            accelerator=accelerator,
            device=device,
            unwrap_after_train=unwrap_after_train,
            callbacks__print_log__sink=callbacks__print_log__sink,
            **kwargs,
        )

    # RSFTClassifier places data, masks and statistics on ``self.device``;
    # reading it resolves ``None`` to the accelerator's device, while
    # get_params keeps reporting the value that was passed.
    @property
    def device(self):
        device = self.__dict__.get("device")
        accelerator = self.__dict__.get("accelerator")
        if device is None and accelerator is not None:
            # (Any other value is refused by fit, not by get_params or
            # clone, which must not raise.)
            return getattr(accelerator, "device", None)
        return device

    @device.setter
    def device(self, value):
        self.__dict__["device"] = value

    def get_params(self, deep=True):
        params = super().get_params(deep=deep)
        params["device"] = self.__dict__.get("device")
        return params

    def _check_device(self, requested_device, map_device):
        # skorch's unpickling turns device=None into the device it loads
        # onto, with a warning; here None means the accelerator's device
        # and stays None.
        if requested_device is None:
            return None
        return super()._check_device(requested_device, map_device)

    def _initialize_callbacks(self):
        # skorch resolves the sink "auto" to the accelerator's print by
        # writing it into the parameter, which get_params and clone then
        # report. It is resolved for the callbacks only, and the parameter
        # stays "auto". (AccelerateMixin's own resolution is passed over:
        # it compares any value with "auto", and an array failed there with
        # NumPy's "truth value of an array is ambiguous" in set_params,
        # where fit names a sink that is not callable.)
        sink = self.callbacks__print_log__sink
        if not _is_auto(sink):
            return super(AccelerateMixin, self)._initialize_callbacks()
        state = self.__dict__
        if self._print_log_disabled():
            # "auto" is the sink of an enabled print_log only: skorch
            # refused the parameter of one disabled by
            # callbacks__print_log=None ("Trying to set a parameter for
            # callback print_log which does not exist").
            del state["callbacks__print_log__sink"]
        else:
            state["callbacks__print_log__sink"] = self._auto_sink()
        try:
            return super(AccelerateMixin, self)._initialize_callbacks()
        finally:
            state["callbacks__print_log__sink"] = sink

    def _print_log_disabled(self, params=()):
        """Whether print_log is disabled (``callbacks__print_log=None``), by
        the ``params`` being set or as it is. (Under ``callbacks="disable"``
        no callback is built, nor set.)"""
        key = "callbacks__print_log"
        return (params[key] if key in params else vars(self).get(key, ())) is None

    def _auto_sink(self):
        """What the sink "auto" prints with: the accelerator's print, so
        that only the main process prints (PrintLog honours ``verbose``
        only when it prints with ``print``)."""
        return getattr(self.accelerator, "print", print) if self.verbose else print

    def set_params(self, **kwargs):
        result = super().set_params(**kwargs)
        callback = dict(self.__dict__.get("callbacks_") or ()).get("print_log")
        if (
            callback is not None
            and _is_auto(self.callbacks__print_log__sink)
            and ("callbacks__print_log__sink" in kwargs or "verbose" in kwargs)
        ):
            # skorch writes the sink into the built PrintLog as it is given:
            # the string "auto", which the next partial_fit or warm_start fit
            # called after training its first epoch ("'str' object is not
            # callable"). It is resolved as at initialisation, also for a
            # new verbose (verbose=0 after a fit still printed the epochs of
            # partial_fit with the accelerator's print).
            callback.set_params(sink=self._auto_sink())
        return result

    def _set_params_callback(self, **params):
        if _is_auto(
            params.get("callbacks__print_log__sink")
        ) and self._print_log_disabled(params):
            # Kept as the parameter (set_params stores it), set on no
            # callback: a round trip of set_params(**get_params()) with
            # print_log disabled was refused.
            del params["callbacks__print_log__sink"]
        return super()._set_params_callback(**params)

    def _validate_params(self):
        # AccelerateMixin's own check rejects any device but None; initialize
        # has checked the device against the accelerator's.
        super(AccelerateMixin, self)._validate_params()

    def _validate_hyperparameters(self):
        # A device that differs from the accelerator's is named as such
        # before the general device check runs.
        self._check_accelerator_params()
        super()._validate_hyperparameters()

    def _check_accelerator_params(self):
        try:
            from accelerate import Accelerator
            from accelerate.state import AcceleratorState
        except ImportError as exc:
            raise ImportError(
                f"{type(self).__name__} needs accelerate; install the "
                "'distributed' extra: pip install 'rsft-sklearn[distributed]'."
            ) from exc

        if not isinstance(self.__dict__.get("accelerator"), Accelerator):
            accelerator = self.__dict__.get("accelerator")
            raise TypeError(
                "accelerator must be an accelerate.Accelerator instance, such as "
                f"Accelerator() or Accelerator(cpu=True); got {accelerator!r}."
            )
        if not AcceleratorState._shared_state:
            # An accelerator unpickled in a process that created none: its
            # state is not set up here. Training failed deep inside
            # accelerate, and left this process unable to create one.
            raise ValueError(
                "accelerate has not set up its state in this process: the "
                "accelerator was not created here (an estimator unpickled "
                "elsewhere, or in a worker of a parallel search?), or its "
                "state was reset. "
                "Create an Accelerator() here and pass it with "
                "set_params(accelerator=...)."
            )
        device = self.__dict__.get("device")
        if device is not None and not _same_device(
            _parse_device(device), self.accelerator.device
        ):
            raise ValueError(
                f"device={device!r} differs from the accelerator's device "
                f"{self.accelerator.device}; leave device=None."
            )
        optimizer = self.__dict__.get("optimizer")
        while isinstance(optimizer, functools.partial):
            optimizer = optimizer.func
        if isinstance(optimizer, type) and issubclass(optimizer, torch.optim.LBFGS):
            _refuse_lbfgs()
        steps = getattr(self.accelerator, "gradient_accumulation_steps", 1)
        if steps > 1:
            raise ValueError(
                f"The accelerator accumulates gradients over {steps} steps, "
                "which this estimator does not support: skorch zeroes the "
                "gradients at every step, so all but the last step's would be "
                "lost. Raise batch_size instead (on several processes the "
                "global batch is batch_size times their number)."
            )
        if self.accelerator.num_processes > 1 and compact_always(
            getattr(self, "compact", False)
        ):
            raise ValueError(
                "compact=True cannot train on several processes: a compacted step "
                "skips the backward pass where nothing is accepted, and every "
                "process must take part in every backward pass. Use compact=False."
            )
        if self.accelerator.num_processes > 1 and self.rejection in (
            "epoch",
            "pool",
            "budget",
        ):
            raise ValueError(
                f"rejection={self.rejection!r} cannot train on several processes: "
                "each process would select its own rows and take a different "
                "number of steps. Use the default rejection='expected', or "
                "'sample'."
            )
        if self.accelerator.num_processes > 1 and not (
            torch.distributed.is_available() and torch.distributed.is_initialized()
        ):
            # An estimator unpickled in another process keeps the state of
            # the accelerator it was pickled with: it would train on one
            # part of every batch, alone.
            raise ValueError(
                f"The accelerator counts {self.accelerator.num_processes} "
                "processes, but no process group runs in this one (an "
                "estimator unpickled outside the launch that trained it?). "
                "Create an Accelerator() here and pass it with "
                "set_params(accelerator=...)."
            )

    def _check_training_settings(self, X, epochs_before, epochs, fit_call=False):
        super()._check_training_settings(X, epochs_before, epochs, fit_call)
        # Refused from the parameters alone, before anything is built: every
        # process refuses alike, and none is left waiting for the others.
        # (An iterator_train that is not a class is checked by what it
        # builds, in get_iterator.)
        iterator = self.iterator_train
        if (
            self.accelerator.num_processes > 1
            and isinstance(iterator, type)
            and not issubclass(iterator, BatchIterator)
        ):
            raise _unsplit_iterator_error(iterator)

    def __setstate__(self, state):
        super().__setstate__(state)
        modules = [name + "_" for name in self._modules + self._criteria]
        if self.__dict__.get("_wrapped_with_accelerator") and any(
            _lost_mixed_precision_forward(self.__dict__.get(name)) for name in modules
        ):
            # A copy (pickle, copy.deepcopy) of a network left wrapped
            # (unwrap_after_train=False) in mixed precision: pickle keeps
            # accelerate's forward, a bound method, by its name, so that the
            # copy's network calls its class's forward, in full precision.
            # Still marked as wrapped, it was never prepared again: it
            # predicted unlike the original (by 9e-4) and trained with
            # bfloat16 logits reaching the rule. Unwrapped, as a fit leaves
            # it by default, its next training prepares it again.
            for name in modules:
                module = self.__dict__.get(name)
                if isinstance(module, torch.nn.Module):
                    setattr(self, name, _unprepared(module))
            self._wrapped_with_accelerator = False

    def initialize(self):
        # AccelerateMixin.initialize replaces the whole of skorch's and would
        # skip RSFTClassifier's seeding; wrap with the accelerator afterwards.
        self._check_accelerator_params()
        RSFTClassifier.initialize(self)
        # The components are new: a network still wrapped from the last call
        # (unwrap_after_train=False, or a call that failed) left the flag
        # set, and accelerate's preparation would then skip the new ones, so
        # that each process trained alone.
        self._wrapped_with_accelerator = False
        return self._initialize_accelerator()

    def _initialize_accelerator(self):
        # DistributedDataParallel refuses a module without trainable
        # parameters, which is what a loss such as CrossEntropyLoss is; such
        # criteria stay unprepared (they are on the device already).
        hidden = {}
        for name in self._criteria:
            criterion = getattr(self, name + "_")
            if not isinstance(criterion, torch.nn.Module):
                continue
            if not any(p.requires_grad for p in criterion.parameters()):
                hidden[name + "_"] = criterion
                setattr(self, name + "_", None)
            elif self.accelerator.num_processes > 1:
                # Wrapped in DDP, the rejection loss is no longer recognised
                # by the training step, which builds it anew: its parameters
                # would never train.
                base = getattr(criterion, "base_criterion", criterion)
                raise ValueError(
                    f"The criterion ({type(base).__name__}) has trainable "
                    "parameters, which cannot train on several processes. "
                    "Move them into the module, or train on one process."
                )
        try:
            return super()._initialize_accelerator()
        finally:
            for attr, criterion in hidden.items():
                setattr(self, attr, criterion)
            _picklable_optimizers(self)

    def _before_undo(self):
        # What the failed call prepared, before the estimator from before
        # it is put back.
        self._release_from_accelerator()

    def _after_failed_call(self, restored=False):
        if restored:
            # The estimator from before the call (what the call prepared was
            # released by _before_undo), whose network the call prepared in
            # place (on one process, accelerate's mixed-precision forward):
            # unwrapped again, if it was.
            if not self._wrapped_with_accelerator:
                self._wrapped_with_accelerator = True
                self._unwrap_accelerator()
            return
        self._release_from_accelerator()
        # on_train_end, which unwraps the network, is not reached by a call
        # that fails: a network left wrapped in DDP neither pickles nor
        # predicts outside the launch (or on the main process alone).
        if self.unwrap_after_train:
            self._unwrap_accelerator()

    def _after_train_end(self):
        # After every callback's on_train_end (one may save the
        # accelerator's state).
        try:
            super()._after_train_end()
        finally:
            self._release_from_accelerator()

    def _release_from_accelerator(self):
        """Take what this estimator prepared off the accelerator's lists,
        when its training ends. The accelerator kept every network,
        optimiser and scheduler it ever prepared: one shared by the fits of
        a search held all their networks, and pickled them all with each
        estimator. (What training prepares again, it lists again.)"""
        self._unlist(
            [
                getattr(callback, "policy_", None)
                for _, callback in self.__dict__.get("callbacks_", ())
            ]
            + self._prepared_components()
        )

    def _prepared_components(self):
        return [
            self.__dict__.get(name + "_")
            for name in self._modules + self._criteria + self._optimizers
        ]

    def _unlist(self, objects):
        """Take ``objects`` (and the modules they wrap) off the
        accelerator's lists of what it prepared."""
        accelerator = self.__dict__.get("accelerator")
        ours = set()
        for value in objects:
            if value is not None:
                ours.add(id(value))
                ours.add(id(getattr(value, "module", value)))
        if accelerator is None or not ours:
            return
        for key in ("_models", "_optimizers", "_schedulers"):
            listed = getattr(accelerator, key, None)
            if isinstance(listed, list):
                listed[:] = [
                    value
                    for value in listed
                    if id(value) not in ours
                    and id(getattr(value, "module", value)) not in ours
                ]

    def _unwrap_accelerator(self):
        wrapped = [
            self.__dict__.get(name + "_") for name in self._modules + self._criteria
        ]
        super()._unwrap_accelerator()
        # No longer prepared: listed again when prepared again (a save
        # during the fit unwraps and prepares again, and each save listed
        # the network once more).
        self._unlist(wrapped)
        # Unwrapped on one process, a module keeps accelerate's mark of a
        # prepared module, although unwrapping took its mixed-precision
        # forward off: prepared again, it came back as it was. So a save
        # during the fit (a Checkpoint; skorch unwraps to save, then
        # prepares again) left the rest of the fit in full precision.
        for name in self._modules + self._criteria:
            module = self.__dict__.get(name + "_")
            if "_is_accelerate_prepared" in getattr(module, "__dict__", {}):
                del module._is_accelerate_prepared

    def _prepare_rebuilt(self):
        # What skorch rebuilt while the network is wrapped (set_params of a
        # module__* parameter from a callback, InputShapeSetter, or between
        # calls with unwrap_after_train=False) is prepared too: without its
        # DDP wrapper each process trained the new network alone. What
        # accelerate prepared already, it returns as it is.
        if self._wrapped_with_accelerator:
            self._wrapped_with_accelerator = False
            self._initialize_accelerator()

    def _refresh_components(self):
        state = self.fit_state_
        if state.components is not None:
            replaced = [
                a for a, b in zip(state.components, self._components()) if a is not b
            ]
            if replaced:
                self._unlist(replaced)
                self._prepare_rebuilt()
        return super()._refresh_components()

    def _wrap_modules(self):
        # Accelerate marks a module it prepared on one process (not a DDP
        # wrapper) and returns it as it is when asked again, although the
        # unwrapping took its mixed-precision forward off. What is still
        # wrapped (the optimizer, a scheduler) is returned as it is; an
        # optimizer rebuilt since (set_params(module__...)) is wrapped.
        for name in self._modules + self._criteria:
            module = getattr(self, name + "_")
            if getattr(module, "_is_accelerate_prepared", False):
                del module._is_accelerate_prepared
        self._initialize_accelerator()

    def _seed_generators(self):
        super()._seed_generators()
        if self.accelerator.num_processes == 1:
            return
        from accelerate.utils import broadcast_object_list

        seeds = [
            self.init_seed_,
            self.shuffle_generator_.initial_seed(),
            self.mask_generator_.initial_seed(),
        ]
        init_seed, shuffle_seed, mask_seed = broadcast_object_list([seeds])[0]
        self.init_seed_ = int(init_seed)
        self.shuffle_generator_.manual_seed(int(shuffle_seed))
        rank_seed = np.random.SeedSequence(
            [int(mask_seed), self.accelerator.process_index]
        ).generate_state(1)[0]
        self.mask_generator_ = torch.Generator(device=self.device).manual_seed(
            int(rank_seed)
        )

    def get_iterator(self, dataset, training=False):
        iterator = RSFTClassifier.get_iterator(self, dataset, training=training)
        if (
            not training
            or self.accelerator.num_processes == 1
            # forward(training=True): every process's output for every row,
            # as in prediction.
            or in_prediction_pass(self)
        ):
            return iterator
        if not isinstance(iterator, BatchIterator):
            # accelerate's preparation of another iterator repeated rows, or
            # gave the processes different numbers of steps.
            raise _unsplit_iterator_error(self.iterator_train)
        if not self.accelerator.split_batches:
            iterator.batch_size *= self.accelerator.num_processes
        return _ProcessPart(
            iterator, self.accelerator.process_index, self.accelerator.num_processes
        )

    def load_params(self, *args, **kwargs):
        stored = self.__dict__.get("device")
        resolved = self.device
        if (
            stored is None
            and resolved is not None
            and _parse_device(resolved).type == "cpu"
        ):
            # The accelerator's CPU device is indexed on several processes
            # ("cpu:1"), which torch.load cannot map onto; and skorch put the
            # device it loaded with into the parameter (None before).
            self.__dict__["device"] = "cpu"
        try:
            super().load_params(*args, **kwargs)
        finally:
            self.__dict__["device"] = stored
        if (
            self.unwrap_after_train
            and self._wrapped_with_accelerator
            and "fit_state_" not in self.__dict__
        ):
            # Outside a fit (initialize(), then load_params, to predict): the
            # network as a fit leaves it, which predicts in full precision
            # (skorch prepares it again after loading). Training prepares it
            # when it begins.
            self._unwrap_accelerator()

    def save_params(self, *args, **kwargs):
        # Every process calls it (AccelerateMixin waits for them all, then
        # saves on the main one): during an epoch, the history's batch
        # losses, sums over the processes, are read here by all of them, so
        # that the main process writes floats.
        state = self.__dict__.get("fit_state_")
        if state is not None and len(self.history):
            state.losses.write(self.history[-1].get("batches", []), "train_loss")
        return super().save_params(*args, **kwargs)

    def train_step_single(self, batch, **fit_params):
        with self.accelerator.autocast():
            return RSFTClassifier.train_step_single(self, batch, **fit_params)

    def _backward(self, loss):
        self.accelerator.backward(loss)

    def on_train_begin(self, net, X=None, y=None, **kwargs):
        # An optimiser built by a callable of one's own (a function, a
        # lambda), which the check of the parameter cannot tell, as
        # RSFTClassifier checks its built optimisers.
        for name in self._optimizers:
            optimizer = self.__dict__.get(name + "_")
            if isinstance(
                getattr(optimizer, "optimizer", optimizer), torch.optim.LBFGS
            ):
                _refuse_lbfgs()
        accelerator = self.accelerator
        if (
            accelerator.mixed_precision == "fp16"
            and not accelerator.native_amp
            and accelerator.device.type == "cpu"
        ):
            # accelerate turns float16 off on the CPU without a word.
            self._warn_once_per_run(
                "fp16_on_cpu",
                "The accelerator's mixed_precision='fp16' does not run on the "
                "CPU (accelerate has no float16 autocast there): this fit "
                "trains in float32. Use mixed_precision='bf16' for mixed "
                "precision on the CPU, or 'no'.",
            )
        if not self._wrapped_with_accelerator:
            # Continued training (partial_fit, warm_start) of a network
            # unwrapped after its last fit: without its DDP wrapper each
            # process would train alone. Wrapping it again broadcasts the
            # main process's parameters.
            self._wrap_modules()
        else:
            self._prepare_rebuilt()
        super().on_train_begin(net, X=X, y=y, **kwargs)
        if self.accelerator.num_processes > 1:
            self._check_same_data(y)

    def _set_up_loss(self):
        super()._set_up_loss()
        if self.accelerator.num_processes > 1:
            # The loss sums its normaliser, its "anything accepted" flag and
            # its epoch counts over the processes (also a loss rebuilt
            # during the fit).
            self.criterion_.process_sum = _ProcessSum(self.accelerator)

    def _check_same_data(self, y):
        # The processes split each global batch by position, so they must
        # iterate over the same rows; different data would make them wait
        # for each other forever at the end of the shorter epoch.
        counts = torch.bincount(
            torch.as_tensor(y, device=self.device), minlength=len(self.classes_)
        )
        counts = torch.cat([counts.new_full((1,), len(y)), counts]).reshape(1, -1)
        gathered = self.accelerator.gather(counts).cpu().numpy()
        if not (gathered == gathered[0]).all():
            raise ValueError(
                "Every process must fit on the same X and y; the numbers of rows "
                f"and per-class counts differ across processes: {gathered.tolist()}."
            )

    def _adjust_plan(self, plan):
        # compact="auto" would skip the backward pass on a process that
        # accepts nothing, while the others wait for its gradients (also in
        # an epoch planned again).
        if self.accelerator.num_processes > 1 and plan.compact:
            return replace(plan, compact=False, guarded=True)
        return plan

    def evaluation_step(self, batch, training=False):
        # Every process evaluates the whole input (the iterators for
        # validation and prediction are not split), so AccelerateMixin's
        # gather over processes would repeat every row.
        return RSFTClassifier.evaluation_step(self, batch, training=training)


def _picklable_optimizers(net):
    """Give the net's accelerated optimisers a class that pickles without
    the wrapper of ``step`` that a torch learning-rate scheduler puts on
    each (accelerate's optimiser pickles its whole ``__dict__``, and
    pickle cannot take that wrapper: a pickle during a fit with skorch's
    ``LRScheduler``, such as ``Checkpoint(f_pickle=...)``'s, failed)."""
    from accelerate.optimizer import AcceleratedOptimizer

    for name in net._optimizers:
        optimizer = net.__dict__.get(name + "_")
        if type(optimizer) is AcceleratedOptimizer:
            optimizer.__class__ = __getattr__("_AcceleratedOptimizer")


def _accelerated_optimizer_class():
    from accelerate.optimizer import AcceleratedOptimizer

    class _AcceleratedOptimizer(AcceleratedOptimizer):
        """accelerate's optimiser, pickled without a scheduler's wrapper of
        ``step`` (the scheduler that put it there wraps it again)."""

        def __getstate__(self):
            state = super().__getstate__()
            step = state.get("step")
            if getattr(step, "_wrapped_by_lr_sched", False):
                del state["step"]
            return state

    _AcceleratedOptimizer.__module__ = __name__
    _AcceleratedOptimizer.__qualname__ = "_AcceleratedOptimizer"
    return _AcceleratedOptimizer


def __getattr__(name):
    # The subclass of accelerate's optimiser, made when first needed (and
    # found here by pickle): accelerate is an optional dependency.
    if name == "_AcceleratedOptimizer":
        # One class for the process: pickle finds objects' classes by name.
        cls = globals().get(name)
        if cls is None:
            cls = globals()[name] = _accelerated_optimizer_class()
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _refuse_lbfgs():
    # skorch's AccelerateMixin steps every optimiser without a closure,
    # which LBFGS needs (torch's "'NoneType' object is not callable").
    raise ValueError(
        "torch.optim.LBFGS needs a closure at every step, and the "
        "accelerated training step calls the optimiser without one. "
        "Use a first-order optimiser (Adam, SGD), or RSFTClassifier."
    )


def _unsplit_iterator_error(iterator):
    """The error of an ``iterator_train`` other than a
    :class:`BatchIterator` on several processes."""
    name = (
        f"{iterator.__module__}.{iterator.__qualname__}"
        if isinstance(iterator, type)
        else repr(iterator)
    )
    return ValueError(
        f"iterator_train={name} cannot train on several processes: the "
        "estimator splits the global batches of its BatchIterator between the "
        "processes, and accelerate's preparation of another iterator either "
        "repeats rows to fill the last batch (even_batches=True: they train "
        "twice per epoch and count twice in the acceptance rates), or gives "
        "the processes different numbers of steps (even_batches=False), which "
        "leaves them waiting for each other. Use the default "
        "iterator_train=BatchIterator (or a subclass), or train on one process."
    )


def _lost_mixed_precision_forward(module):
    """Whether accelerate prepared ``module`` (or the module inside its DDP
    wrapper) in mixed precision, and its forward is no longer accelerate's
    (a copy's: see ``AccelerateRSFTClassifier.__setstate__``)."""
    state = getattr(_inside_wrappers(module), "__dict__", {})
    # accelerate's forward wraps the original (functools.update_wrapper).
    return "_original_forward" in state and not hasattr(
        state.get("forward"), "__wrapped__"
    )


def _unprepared(module):
    """``module`` as unwrapping leaves it: out of its DDP wrapper, without
    accelerate's marks of a prepared module (which would make accelerate
    return it unprepared) nor the forward that took the place of
    accelerate's."""
    module = _inside_wrappers(module)
    state = module.__dict__
    if "_original_forward" in state:
        del state["_original_forward"]
        state.pop("forward", None)
    state.pop("_is_accelerate_prepared", None)
    return module


def _inside_wrappers(module):
    while isinstance(module, torch.nn.parallel.DistributedDataParallel):
        module = module.module
    return module


class _ProcessSum:
    """Sum a tensor over the accelerator's processes (an all-reduce)."""

    def __init__(self, accelerator):
        self.accelerator = accelerator

    def __call__(self, tensor):
        return self.accelerator.reduce(tensor, "sum")


class _ProcessPart:
    """One process's contiguous part of every batch of a global iterator."""

    def __init__(self, iterator, index, count):
        self.iterator = iterator
        self.index = index
        self.count = count

    def __len__(self):
        return len(self.iterator)

    def __iter__(self):
        for batch in self.iterator:
            n = len(batch[1])
            start = n * self.index // self.count
            stop = n * (self.index + 1) // self.count
            yield tuple(_take(item, slice(start, stop)) for item in batch)


def _is_auto(sink):
    """Whether ``sink`` is the option "auto" (an array or any other value
    compared with a string is not)."""
    return isinstance(sink, str) and sink == "auto"


def _same_device(device, accelerator_device):
    # One CPU, whatever its index: a launch on several processes gives each
    # an indexed CPU device, a single process an unindexed one.
    if device.type == "cpu" and accelerator_device.type == "cpu":
        return True
    return device == accelerator_device


def _parse_device(device):
    """``torch.device(device)``; a name torch does not know is the
    ``ValueError`` of :func:`check_device`."""
    try:
        return torch.device(device)
    except (RuntimeError, TypeError):
        return check_device(device)
