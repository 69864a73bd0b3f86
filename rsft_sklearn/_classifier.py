"""RSFTClassifier: scikit-learn parameters wired into skorch around the rule.

The rule is :class:`~rsft_sklearn.RejectionLoss`; this module hands it the
estimator's parameters and drives it from skorch's hooks, one epoch plan and
one training step at a time. What any scikit-learn classifier on skorch
needs (inputs, labels, data sets, seeding, persistence) is in ``_base.py``.
"""

import copy
import numbers
from functools import partial

import torch
from sklearn.utils._param_validation import Interval, Options, StrOptions
from skorch.utils import to_tensor

from ._base import (
    NetClassifierBase,
    _unpack,
    log_proba_for_nll,
    read_output_as_skorch_nll,
)
from ._compaction import check_compact, compacted_loss, needs_two_rows
from ._data import BatchIterator, InMemoryDataset
from ._decision import PROBABILITY_OPTIONS, class_prior, decision_proba
from ._epochs import EpochLosses, FitState, epoch_record, plan_epoch
from ._guards import EmptyStepGuard, check_finite_parameters, fuse_default_adam
from ._loss import RejectionLoss
from ._modules import _check_module_output
from ._multimodal import check_groups, group_weight, stratum_target_weight
from ._rejection import class_target_weight
from ._selection import check_selection_iterator, select_epoch_rows, select_pool_rows
from ._validation import check_class_weight, check_sample_weight

__all__ = ["RSFTClassifier"]


class RSFTClassifier(NetClassifierBase):
    """Neural-network classifier trained with rejection-sampling fine-tuning.

    In every training step each sample of the batch is accepted with
    probability ``a_i = min(1, w_i / (M * p_i ** hardness))``, where ``p_i`` is
    the current model's probability of the true label and ``w_i`` the
    sample's target weight; the mask is drawn on the device of the logits and
    only accepted samples contribute to the gradient. Rare classes and badly
    predicted samples are kept, easy majority samples are mostly rejected.

    Every parameter of :class:`skorch.NeuralNetClassifier` (``module__*``,
    ``optimizer__*``, ``callbacks``, ``device``, ...) works as in skorch.

    Parameters
    ----------
    module : torch.nn.Module class or instance, default=None
        The network; it must return logits of shape ``(batch, n_classes)``.
        ``None`` builds a :class:`~rsft_sklearn.MLPModule` whose input and
        output sizes come from the data at fit time (set its layers with
        ``module__hidden_layer_sizes``).
    M : float, "auto" or callable, default=1.0
        Envelope constant, ``M > 0``. Larger values reject more; with the
        normalisation of the target weights (largest class weight 1), ``M = 1``
        keeps every sample of the rarest class that the model does not
        already predict with certainty. A callable is a schedule: it gets the
        index of every epoch (0 for the first) and returns that epoch's ``M``,
        see :class:`~rsft_sklearn.LinearRamp`. ``"auto"`` adapts ``M`` at
        every step, on the device, so that the acceptance rate holds
        ``target_acceptance``.
    hardness : float or callable, default=1.0
        Exponent of the model probability in the rule, ``>= 0``. ``1`` is the
        ratio ``target / model probability``; ``0`` ignores the model, which
        makes the step an online class-balanced random under-sampler. A
        callable is a schedule over epochs, as for ``M``.
    target : {"balanced", "uniform", "balanced_groups"} or dict, \
            default="balanced"
        Class target weights: ``"balanced"`` uses ``1 / n_k``, ``"uniform"``
        uses 1, a dict maps every class label to a positive weight. Weights
        are divided by their maximum. ``"balanced_groups"`` balances the
        strata of (group, class) instead, with ``1 / n_(g, k)`` from the
        ``groups`` passed to :meth:`fit`.
    rejection : {"sample", "expected", "pool", "epoch"}, default="expected"
        ``"expected"`` weights every sample's loss by its acceptance
        probability (deterministic, lower variance; the default, chosen on
        the development half of the benchmark's data sets, see
        :ref:`when_to_use`); ``"sample"`` draws a Bernoulli mask in every
        training step instead, so that only accepted rows contribute;
        ``"epoch"``
        scores every training row once at the start of each epoch (one
        gradient-free pass in large batches), draws the mask then, and trains
        the epoch on the accepted rows only: rejected rows cost no backward
        pass and no optimiser step, at the price of probabilities that are up
        to one epoch old. ``"pool"`` does the same pool by pool: the rows of
        ``pool_size`` batches are scored in one gradient-free pass (in
        evaluation mode, as for ``compact``), their masks drawn, and the
        steps train on full batches of accepted rows (the remainder carries
        over to the next pool; the epoch's last batch may be short), so
        rejected rows cost no backward pass and no optimiser step and the
        probabilities are at most one pool old. It reads one number back to
        the host per pool, none per batch. ``"pool"`` and ``"epoch"`` need
        array inputs, train on one process, and train on the accepted rows
        with the plain mean loss (sample weights act through acceptance).
    pool_size : int, default=16
        Batches scored together under ``rejection="pool"``. Larger pools
        cost fewer scoring calls and host reads but train on older
        probabilities: a row is scored at most about ``pool_size *
        acceptance rate`` optimiser steps before it is trained on (4 steps
        at the defaults and an acceptance of 1/4); ``pool_size=1`` scores
        one batch ahead of its steps. Ignored by the other modes.
    warmup_epochs : int, default=5
        Number of first epochs that train on every sample without rejection
        (the plain network first, rejection after: deferring re-balancing
        helps the learned features). ``0`` rejects from the first epoch.
    loss_normalization : {"accepted", "batch"}, default="accepted"
        Divide the masked loss sum by the number (or, for ``"expected"``, the
        total weight) of accepted samples, or by the batch size. ``"batch"``
        is an unbiased estimate of the expected masked loss and is what keeps
        data-parallel training exact; ``"accepted"`` keeps the gradient scale
        independent of the acceptance rate.
    compact : bool or "auto", default=False
        ``True`` trains each batch on its accepted rows only: a
        gradient-free forward pass (in evaluation mode) scores the batch,
        then forward and backward run on the accepted rows, so an epoch
        costs less the more is rejected. It reads the number of accepted
        rows back to the host once per batch. With Dropout the scores come
        from the network without dropout; with BatchNorm they use the
        running statistics, and the training pass normalises over (and
        updates the running statistics from) the accepted rows only. Without
        either, the result equals ``compact=False`` up to rounding.
        ``"auto"`` compacts an epoch when the previous one accepted less
        than half of the rows and the network is large enough for the saving
        to outweigh the second pass (parameters times ``batch_size`` at least
        ``2**24``). Needs ``rejection="sample"``.
    target_acceptance : float or None, default=None
        Acceptance rate in ``(0, 1]`` that ``M="auto"`` holds; required with
        it and ignored otherwise.
    probability : {"balanced", "training", "raw"}, default="balanced"
        What :meth:`predict_proba` returns, and so what :meth:`predict`
        decides on. Training with rejection changes what the network's output
        estimates; the fixed point of training inverts it (see
        :func:`~rsft_sklearn.correct_proba`). ``"balanced"``: the posterior
        under equal class priors, whose arg-max maximises the expected
        balanced accuracy; ``"training"``: the posterior of the training
        data's class mix; ``"raw"``: the softmax of the logits as it is.
        Only prediction reads it, so it can be changed after fit.
    random_state : int, RandomState instance or None, default=None
        Seeds the initial weights, the shuffling and the rejection masks.
        With an int, two fits on CPU give identical models.
    criterion : torch criterion class or instance, \
            default=torch.nn.CrossEntropyLoss
        The per-sample loss; it receives logits and must have a
        ``reduction`` attribute. The estimator builds its own copy with
        ``reduction="none"`` (an instance passed in is never changed) and
        wraps it in a :class:`~rsft_sklearn.RejectionLoss`; the given
        reduction (``criterion__reduction``) is that of the loss outside
        training, as in skorch. With ``torch.nn.NLLLoss`` the module may end
        in a softmax, skorch's convention (the log is taken), or in a
        log-softmax.
    optimizer : torch optimizer class, default=torch.optim.Adam
        The default Adam runs fused (``fused=True``) on the CPU and CUDA
        devices unless ``optimizer__fused`` or ``optimizer__foreach`` is set.
        With a fused optimiser (Adam, AdamW, SGD, Adagrad with
        ``optimizer__fused=True``) a step with nothing accepted is skipped
        inside the optimiser's kernel; any other optimiser's step is taken
        and undone on the device, which copies its parameters and state
        before every step.
    lr : float, default=1e-3
    max_epochs : int, default=50
    batch_size : int, default=128
    train_split : callable or None, default=None
        skorch's validation split; ``None`` trains on all the data.
    verbose : int, default=0
        ``1`` prints skorch's epoch table, with the acceptance rates.
    device : str or torch.device, default="cpu"
    dataset : torch Dataset class or instance, default=InMemoryDataset
        What array inputs are wrapped in. Another class (with
        ``dataset__*`` arguments) or an instance is used as skorch uses it,
        with the sample weights added to every row.
    classes : array-like of shape (n_classes,) or None, default=None
        All class labels, in the order of the columns of
        :meth:`predict_proba`; ``None`` takes the sorted labels of ``y``.
        With ``classes``, an estimator that was only initialised (to load
        saved parameters) predicts these labels.
    **kwargs : dict
        Any other :class:`skorch.NeuralNetClassifier` parameter.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels, in the order of the columns of :meth:`predict_proba`.
    n_features_in_ : int
        Number of features seen during fit (array input).
    class_target_weight_ : ndarray of shape (n_classes,)
        Normalised class target weights used by the rule (all 1 under
        ``"balanced_groups"``, whose weights are per stratum).
    groups_ : ndarray of shape (n_groups,)
        Group labels seen by the first fit (``"balanced_groups"`` only).
    stratum_target_weight_ : ndarray of shape (n_groups, n_classes)
        Target weight of every (group, class) stratum, the largest 1
        (``"balanced_groups"`` only).
    class_prior_ : ndarray of shape (n_classes,)
        Class frequencies of the training data.
    final_M_ : float or None
        ``M`` of the last epoch (for ``"auto"``, the geometric mean over its
        steps); None when that epoch trained without rejection.
    final_hardness_ : float
        ``hardness`` of the last epoch.
    module_ : torch.nn.Module
        The trained network.
    criterion_ : RejectionLoss
        The rule, wrapping the criterion as its ``base_criterion``. Its
        ``state_dict`` holds the class target weights, the adaptive ``M`` and
        the epoch's counts, so :class:`skorch.callbacks.Checkpoint` saves
        them with ``f_criterion`` (a default of skorch's ``Checkpoint``).
    history_ : skorch.History
        Per-epoch records, among them ``acceptance_rate``,
        ``acceptance_rate[<label>]`` for every class and ``M_effective``.
    generators_ : GeneratorState
        The random generators of the shuffles and the masks as one state
        that skorch saves like a module: add ``f_generators="generators.pt"``
        to :class:`skorch.callbacks.Checkpoint` (or pass ``f_generators`` to
        ``save_params``/``load_params``) and training resumed with
        :class:`skorch.callbacks.LoadInitState` continues the same random
        stream, so it ends with the parameters of an uninterrupted fit.

    See Also
    --------
    skorch.NeuralNetClassifier : The base class; the training loop is its own.
    imblearn.under_sampling.RandomUnderSampler : Offline random
        under-sampling, which ``hardness=0`` does afresh at every step.

    Notes
    -----
    The rule itself is :class:`~rsft_sklearn.RejectionLoss`, a PyTorch loss
    module that any training loop can use; this estimator hands it its
    parameters and drives it through skorch's hooks. A batch in which
    nothing is accepted leaves every parameter and the optimiser state
    unchanged; this is done on the device (a fused optimiser skips the step,
    any other takes it and has it undone with ``torch.lerp``), so no value is
    read back to the host during training. Statistics and the batches'
    losses accumulate on the device and are read once per epoch.

    Examples
    --------
    >>> from sklearn.datasets import make_classification
    >>> from rsft_sklearn import RSFTClassifier
    >>> X, y = make_classification(n_samples=300, weights=[0.9], random_state=0)
    >>> clf = RSFTClassifier(M=1.0, max_epochs=5, random_state=0).fit(X, y)
    >>> clf.predict(X[:3]).shape
    (3,)
    >>> sorted(k for k in clf.history[-1] if k.startswith("acceptance_rate["))
    ['acceptance_rate[0]', 'acceptance_rate[1]']
    """

    _parameter_constraints = {
        "M": [
            Interval(numbers.Real, 0, None, closed="neither"),
            StrOptions({"auto"}),
            callable,
        ],
        "hardness": [Interval(numbers.Real, 0, None, closed="left"), callable],
        "target_acceptance": [Interval(numbers.Real, 0, 1, closed="right"), None],
        "probability": [StrOptions(set(PROBABILITY_OPTIONS))],
        "target": [StrOptions({"balanced", "uniform", "balanced_groups"}), dict],
        "rejection": [StrOptions({"sample", "expected", "pool", "epoch"})],
        "pool_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "warmup_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "loss_normalization": [StrOptions({"accepted", "batch"})],
        "compact": ["boolean", StrOptions({"auto"})],
        "random_state": ["random_state"],
        "max_epochs": [Interval(numbers.Integral, 0, None, closed="left")],
        "batch_size": [
            Interval(numbers.Integral, 1, None, closed="left"),
            Options(numbers.Integral, {-1}),
        ],
    }

    # The loss module the criterion is wrapped in.
    _rejection_loss_class = RejectionLoss

    def __init__(
        self,
        module=None,
        *,
        M=1.0,
        hardness=1.0,
        target="balanced",
        rejection="expected",
        pool_size=16,
        warmup_epochs=5,
        loss_normalization="accepted",
        compact=False,
        target_acceptance=None,
        probability="balanced",
        random_state=None,
        criterion=torch.nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=1e-3,
        max_epochs=50,
        batch_size=128,
        iterator_train=BatchIterator,
        iterator_valid=BatchIterator,
        dataset=InMemoryDataset,
        train_split=None,
        callbacks=None,
        predict_nonlinearity="auto",
        warm_start=False,
        verbose=0,
        device="cpu",
        compile=False,
        use_caching="auto",
        torch_load_kwargs=None,
        classes=None,
        **kwargs,
    ):
        # Stored with vars() so that skorch's __setattr__, which registers
        # torch components, does not see a module instance as a late addition.
        params = {k: v for k, v in locals().items() if k not in ("self", "kwargs")}
        vars(self).update(params)
        # As skorch's __init__: these three are state, not parameters.
        vars(self).update(
            _history_=kwargs.pop("history", None),
            _initialized_=kwargs.pop("initialized_", False),
            _virtual_params_=kwargs.pop("virtual_params_", {}),
        )
        self._params_to_validate = set(kwargs)
        vars(self).update(kwargs)

    def _validate_hyperparameters(self):
        super()._validate_hyperparameters()
        check_compact(self.compact, self.rejection)

    def _prepare_data(self, X, y, sample_weight, reset, groups=None, classes=None):
        X, y, n = self._check_inputs(X, y, reset, classes)
        n_classes = len(self.classes_)
        if reset:
            target = self.target
            if isinstance(target, dict):
                target = check_class_weight(target, self.classes_, "target")
            elif target == "balanced_groups":
                target = "uniform"  # the weights are per stratum
            self.class_target_weight_ = class_target_weight(y, n_classes, target)
            self.class_prior_ = class_prior(y, n_classes)
        weight = None
        if sample_weight is not None:
            weight = check_sample_weight(sample_weight, n)
            weight = torch.as_tensor(weight, dtype=torch.float32)
        groups = check_groups(groups, self.target, n)
        if groups is not None:
            if reset:
                self.groups_, self.stratum_target_weight_ = stratum_target_weight(
                    y, groups, n_classes
                )
            table = self.stratum_target_weight_
            weight = group_weight(y, groups, self.groups_, table, weight)
        return X, torch.as_tensor(y), weight

    def _posterior(self, proba):
        # What the output estimates depends on the rule of the last epoch.
        return decision_proba(
            proba,
            self.probability,
            self.class_target_weight_,
            self.class_prior_,
            getattr(self, "final_M_", None),
            getattr(self, "final_hardness_", 1.0),
        )

    def initialize_criterion(self):
        base = self.initialized_instance(
            self.criterion, self.get_params_for("criterion")
        )
        if base is self.criterion:
            # The loss needs reduction="none"; the user's instance stays as it is.
            base = copy.deepcopy(base)
        if not hasattr(base, "reduction"):
            raise TypeError(
                f"{type(self).__name__} needs a criterion with a 'reduction' "
                "attribute that returns one loss per sample with "
                f"reduction='none', such as torch.nn.CrossEntropyLoss; got "
                f"{getattr(base, '__name__', type(base).__name__)}. Wrap a loss "
                "function in a torch.nn.Module with that attribute."
            )
        if isinstance(base, torch.nn.NLLLoss):
            base.register_forward_pre_hook(read_output_as_skorch_nll)
        # The user's reduction (criterion__reduction, or the instance's) is
        # what get_loss returns outside training, as in skorch; training needs
        # the per-sample losses.
        reduction = base.reduction
        base.reduction = "none"
        loss = self._rejection_loss_class(
            base,
            class_weight=getattr(self, "class_target_weight_", None),
            generator=getattr(self, "mask_generator_", None),
            **self._rejection_loss_params(),
        )
        # skorch's loss_scoring reads it.
        loss.reduction = reduction
        self.criterion_ = loss
        return self

    def torch_compile(self, module, name):
        # The loss module draws masks and keeps state between steps; with
        # compile=True only the network is compiled.
        if name in self._criteria:
            return module
        return super().torch_compile(module, name)

    def _rejection_loss_params(self):
        """The parameters of the estimator that the loss module is built with."""
        M = self.M if isinstance(self.M, (str, numbers.Real)) else 1.0
        return {
            "M": M,
            "rejection": "expected" if self.rejection == "expected" else "sample",
            "loss_normalization": self.loss_normalization,
            "target_acceptance": self.target_acceptance,
        }

    # ------------------------------------------------------------------
    # skorch hooks: training
    # ------------------------------------------------------------------
    def on_train_begin(self, net, X=None, y=None, **kwargs):
        super().on_train_begin(net, X=X, y=y, **kwargs)
        loss, params = self.criterion_, self._rejection_loss_params()
        wanted = (
            params["M"] == "auto",
            params["rejection"],
            params["loss_normalization"],
            params["target_acceptance"],
        )
        # A parameter changed since initialisation (set_params after fit), or
        # the estimator was pickled by a version whose criterion_ was the bare
        # criterion.
        if not isinstance(loss, RejectionLoss) or wanted != (
            loss.adaptive,
            loss.rejection,
            loss.loss_normalization,
            loss.target_acceptance,
        ):
            self.initialize_criterion()
            loss = self.criterion_ = self.criterion_.to(self.device)
        loss.set_class_weight(self.class_target_weight_)
        loss.reset_adaptive_M()
        loss.generator = self.mask_generator_
        # fit creates the state (it carries the sample weights); a training
        # started through skorch's hooks alone gets an empty one.
        state = self.__dict__.setdefault("fit_state_", FitState())
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        chosen = self.get_params_for("optimizer")
        if (
            self.optimizer is torch.optim.Adam
            and "fused" not in chosen
            and "foreach" not in chosen
        ):
            # The default optimiser runs fused: one kernel per step, and an
            # all-rejected step is skipped on the device, not undone.
            for optimizer in optimizers:
                fuse_default_adam(optimizer)
        state.guard = EmptyStepGuard(optimizers, self.device)
        state.two_rows = needs_two_rows(self.module_)

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        super().on_epoch_begin(net, dataset_train, dataset_valid, **kwargs)
        torch.manual_seed(self.init_seed_ + len(self.history))
        state = self.fit_state_
        previous = (
            self.history[-2].get("acceptance_rate") if len(self.history) > 1 else None
        )
        state.plan = plan = plan_epoch(
            len(self.history) - 1,
            M=self.M,
            hardness=self.hardness,
            warmup_epochs=self.warmup_epochs,
            rejection=self.rejection,
            compact=self.compact,
            previous_rate=previous,
            module=self.module_,
            batch_size=self.batch_size,
        )
        state.losses = EpochLosses()
        loss = self.criterion_
        loss.begin_epoch(plan.M, plan.hardness, plan.rejecting)
        loss.count_steps = True
        iterator = state.train_iterator
        if isinstance(iterator, BatchIterator):
            iterator.rows = iterator.select = None
        if plan.rows_selected:
            iterator.rows = select_epoch_rows(
                loss, iterator, self._score, self.batch_size
            )
        elif plan.pooled:
            check_selection_iterator(iterator, "pool")
            iterator.select = partial(select_pool_rows, loss, self._score)
            iterator.pool_size = self.pool_size
            iterator.min_rows = 2 if state.two_rows else 1
        if plan.rows_selected or plan.pooled:
            # The steps train on the accepted rows as they are.
            loss.rejecting = loss.count_steps = False

    def on_epoch_end(self, net, dataset_train=None, dataset_valid=None, **kwargs):
        optimizers = [getattr(self, name + "_") for name in self._optimizers]
        check_finite_parameters(
            self.module_.parameters(), len(self.history), optimizers
        )
        # The batches' losses, read once; skorch's callbacks (the epoch table,
        # the train_loss scoring, early stopping) run after this hook.
        self.fit_state_.losses.write(self.history[-1]["batches"], "train_loss")
        record = epoch_record(self.criterion_.epoch_statistics(), self.classes_)
        for key, value in record.items():
            self.history.record(key, value)
        # What the network's output now estimates depends on the rule of the
        # latest epoch; predict_proba inverts it.
        plan = self.fit_state_.plan
        self.final_M_ = record["M_effective"] if plan.rejecting else None
        self.final_hardness_ = plan.hardness
        super().on_epoch_end(net, dataset_train, dataset_valid, **kwargs)

    def get_loss(self, y_pred, y_true, X=None, training=False, sample_weight=None):
        """The masked training loss, or the criterion's loss outside training.

        With ``NLLLoss`` the module's output is read as skorch's
        ``NeuralNetClassifier`` reads it: the log is taken of a softmax output
        (a log-softmax output is used as it is), and the rule reads the same
        log-probabilities, which are logits of the same softmax.
        """
        y_true = to_tensor(y_true, device=self.device)
        loss = self.criterion_
        if isinstance(loss.base_criterion, torch.nn.NLLLoss):
            y_pred = log_proba_for_nll(y_pred)
        if not training:
            losses = loss.base_criterion(y_pred, y_true)
            reduction = getattr(loss, "reduction", "mean")
            if reduction == "none" or losses.dim() == 0:
                return losses
            return losses.sum() if reduction == "sum" else losses.mean()
        if sample_weight is None:
            return loss(y_pred, y_true)
        return loss(y_pred, y_true, sample_weight)

    def train_step_single(self, batch, **fit_params):
        # Setting the mode walks every submodule; between two training steps
        # nothing switches it back.
        components = self._modules + self._criteria
        if not all(getattr(self, n + "_").training for n in components):
            self._set_training(True)
        Xi, yi, wi = _unpack(batch)
        yi = to_tensor(yi, device=self.device)
        # Rows of a torch Dataset arrive on the CPU, weights included.
        wi = None if wi is None else to_tensor(wi, device=self.device)
        if self.fit_state_.plan.compact:
            forward = partial(self.infer, **fit_params)
            score = partial(self._score, **fit_params)
            loss, logits = compacted_loss(
                self.criterion_, score, forward, Xi, yi, wi, self.fit_state_.two_rows
            )
            if loss is None:
                return {"loss": logits.new_zeros(()), "y_pred": logits}
        else:
            logits = self.infer(Xi, **fit_params)
            _check_module_output(logits, len(self.classes_))
            weight = {} if wi is None else {"sample_weight": wi}
            loss = self.get_loss(logits, yi, X=Xi, training=True, **weight)
            if self.fit_state_.plan.guarded:
                self.fit_state_.guard.accepted(self.criterion_.step_accepted)
        self._backward(loss)
        return {"loss": loss, "y_pred": logits}

    def train_step(self, batch, **fit_params):
        state = self.fit_state_
        guard = state.guard if state.plan.guarded else None
        if guard is None:
            step = super().train_step(batch, **fit_params)
        else:
            guard.snapshot()
            try:
                step = super().train_step(batch, **fit_params)
            finally:
                guard.restore_if_none_accepted(self.criterion_.step_accepted)
        # skorch reads step["loss"].item() into the history after every
        # batch; the deferred loss gives a placeholder that on_epoch_end fills
        # in, so the step never waits for the device.
        step["loss"] = state.losses.defer(step["loss"])
        return step
