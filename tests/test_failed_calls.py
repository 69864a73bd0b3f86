"""What a call that fails, or a call made during a fit, leaves behind."""

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from skorch.callbacks import Callback

from rsft_sklearn import RejectionLoss, RSFTClassifier


@pytest.fixture(scope="module")
def data():
    X, y = make_classification(
        n_samples=300, n_features=8, weights=[0.8], random_state=0
    )
    return X.astype(np.float32), y


class Fuse:
    """Raises on the n-th call of ``tick`` once armed."""

    def __init__(self):
        self.left = None

    def arm(self, n=1, exc=RuntimeError):
        self.left, self.exc = n, exc

    def tick(self):
        if self.left is not None:
            self.left -= 1
            if self.left == 0:
                self.left = None
                raise self.exc("fuse")


FUSE = Fuse()


class FusedNet(torch.nn.Module):
    fail_build = False

    def __init__(self, n_features=8, n_classes=2):
        super().__init__()
        if FusedNet.fail_build:
            raise RuntimeError("cannot build the network")
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_features, 16),
            torch.nn.ReLU(),
            torch.nn.Dropout(0.3),
            torch.nn.Linear(16, n_classes),
        )

    def forward(self, X):
        if self.training:
            FUSE.tick()
        return self.net(X)


class FlakyAdam(torch.optim.Adam):
    fail_build = False

    def __init__(self, params, **kwargs):
        if FlakyAdam.fail_build:
            raise RuntimeError("cannot build the optimizer")
        super().__init__(params, **kwargs)


def make(**params):
    settings = dict(
        module=FusedNet,
        optimizer=FlakyAdam,
        max_epochs=3,
        batch_size=32,
        warmup_epochs=1,
        M=3.0,
        random_state=0,
        verbose=0,
    )
    settings.update(params)
    return RSFTClassifier(**settings)


@pytest.mark.parametrize("bad", ["network", "optimizer"])
def test_a_refit_that_cannot_build_leaves_the_fitted_estimator(data, bad):
    # The network (or its optimiser) could not be built: the estimator kept
    # the old history and final_M_ beside an untrained network, or the old
    # network beside the new data's prior, and predict_proba changed up to
    # 0.37 without a word.
    X, y = data
    net = make().fit(X, y)
    proba = net.predict_proba(X)
    prior = net.class_prior_.copy()
    FusedNet.fail_build = bad == "network"
    FlakyAdam.fail_build = bad == "optimizer"
    try:
        with pytest.raises(RuntimeError, match="cannot build the"):
            net.fit(X[:150], 1 - y[:150])
    finally:
        FusedNet.fail_build = FlakyAdam.fail_build = False
    np.testing.assert_array_equal(net.predict_proba(X), proba)
    np.testing.assert_array_equal(net.class_prior_, prior)
    assert len(net.history) == 3 and net.final_M_ == 3.0


@pytest.mark.parametrize("how", ["partial_fit", "warm_start"])
def test_continued_training_that_fails_before_a_step_changes_nothing(data, how):
    # It counted its labels into the correction of predict_proba (0.185)
    # and left an empty epoch, from which the retry counted its warm-up and
    # seeds.
    X, y = data
    chunk = slice(0, 120)
    done = make(warmup_epochs=2)
    done.partial_fit(X, y, epochs=1)
    failed = make(warmup_epochs=2, warm_start=how == "warm_start")
    failed.partial_fit(X, y, epochs=1)
    proba = failed.predict_proba(X)
    FUSE.arm(1)
    with pytest.raises(RuntimeError, match="fuse"):
        if how == "partial_fit":
            failed.partial_fit(X[chunk], y[chunk], epochs=1)
        else:
            failed.fit(X[chunk], y[chunk], epochs=1)
    np.testing.assert_array_equal(failed.predict_proba(X), proba)
    assert len(failed.history) == 1
    # The retry trains as the call would have.
    for net in (done, failed):
        net.partial_fit(X[chunk], y[chunk], epochs=1)
        net.partial_fit(X, y, epochs=1)
    assert [h["acceptance_rate"] for h in failed.history] == [
        h["acceptance_rate"] for h in done.history
    ]
    np.testing.assert_array_equal(failed.predict_proba(X), done.predict_proba(X))


def test_continued_training_keeps_what_it_trained_before_failing(data):
    X, y = data
    net = make().fit(X, y)
    FUSE.arm(4)
    with pytest.raises(RuntimeError, match="fuse"):
        net.partial_fit(X, y, epochs=1)
    # Three steps ran: the network and its history are the call's.
    assert len(net.history) == 4
    assert sum("train_loss" in b for b in net.history[-1, "batches"]) == 3


class CallDuring(Callback):
    def __init__(self, call):
        self.call = call

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 1:
            self.call(net)


@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_training_from_a_callback_of_the_fit_is_refused(data, method):
    # The inner call replaced the network and history, and the outer fit
    # failed inside skorch ("no attribute 'fit_state_'").
    X, y = data
    net = make(
        callbacks=[("inner", CallDuring(lambda net: getattr(net, method)(X, y)))]
    )
    with pytest.raises(RuntimeError, match=f"{method} was called during a fit"):
        net.fit(X, y)


@pytest.mark.parametrize(
    "change, named",
    [
        ({"prior_correction": 0.0}, "prior_correction"),
        ({"rejection": "pool"}, "rejection"),
        ({"M": "auto"}, "M"),
        ({"target": "uniform"}, "target"),
        ({"random_state": 1}, "random_state"),
    ],
)
def test_settings_of_the_loss_cannot_change_during_a_fit(data, change, named):
    # The steps went on with the old settings while the history and
    # predict_proba took the new.
    X, y = data
    net = make(callbacks=[("change", CallDuring(lambda net: net.set_params(**change)))])
    with pytest.raises(ValueError, match=f"during a fit cannot change {named}"):
        net.fit(X, y)
    # M and hardness may change from epoch to epoch.
    make(
        callbacks=[
            ("change", CallDuring(lambda net: net.set_params(M=2.0, hardness=0.5)))
        ]
    ).fit(X, y)


def test_a_rate_set_during_a_fit_is_not_kept_for_the_next(data):
    # A callback's schedule of the rate became a stored parameter: a refit
    # (or a clone) started at the last rate of the schedule.
    class Decay(Callback):
        def on_epoch_end(self, net, **kwargs):
            lr = net.optimizer_.param_groups[0]["lr"]
            net.set_params(optimizer__lr=lr * 0.1)

    X, y = data
    net = make(callbacks=[("decay", Decay())])
    net.fit(X, y)
    first = [p.detach().clone() for p in net.module_.parameters()]
    assert "optimizer__lr" not in net.get_params()
    net.fit(X, y)
    for before, after in zip(first, net.module_.parameters()):
        torch.testing.assert_close(before, after, rtol=0, atol=0)


@pytest.mark.parametrize("rejection", ["pool", "budget", "epoch"])
def test_a_training_forward_from_a_callback_leaves_the_fit_alone(data, rejection):
    # forward(training=True) (Monte-Carlo dropout) made its iterator the
    # fit's: "pool" kept every row, "budget" never left the warm-up, and
    # "epoch" failed.
    X, y = data

    class Spread(Callback):
        def on_epoch_end(self, net, **kwargs):
            net.forward(X[:50], training=True)

    plain = make(rejection=rejection, max_epochs=4).fit(X, y)
    logged = make(
        rejection=rejection, max_epochs=4, callbacks=[("spread", Spread())]
    ).fit(X, y)
    rates = [h["acceptance_rate"] for h in plain.history]
    assert rates[-1] < 1
    assert [h["acceptance_rate"] for h in logged.history] == rates
    np.testing.assert_array_equal(logged.predict_proba(X), plain.predict_proba(X))


def test_a_training_forward_keeps_the_row_order_and_the_shuffle(data):
    # The rows came shuffled, and each call drew from the generator that
    # shuffles the training rows.
    X, y = data
    net = make().fit(X, y)
    state = net.shuffle_generator_.get_state()
    net.module_.net[2].p = 0.0  # no dropout: training and eval agree
    torch.testing.assert_close(
        net.forward(X, training=True), net.forward(X, training=False)
    )
    assert torch.equal(net.shuffle_generator_.get_state(), state)


@pytest.mark.parametrize("rejection", ["pool", "budget"])
def test_a_failed_scoring_pass_restores_training_mode(data, rejection):
    X, y = data

    class FailInEval(FusedNet):
        def forward(self, X):
            if not self.training and FUSE.left is not None:
                FUSE.tick()
            return self.net(X)

    # (On a fitted estimator: the first fit of one, failing before its
    # first step, leaves it unfitted, without a network.)
    net = make(module=FailInEval, rejection=rejection, warmup_epochs=0).fit(X, y)
    FUSE.arm(1)
    with pytest.raises(RuntimeError, match="fuse"):
        net.partial_fit(X, y, epochs=1)
    assert net.module_.training and net.criterion_.training


@pytest.mark.parametrize("M", [2.0, "auto"])
@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
@pytest.mark.parametrize("exc", [RuntimeError, ValueError, KeyboardInterrupt])
def test_a_failed_loss_step_leaves_no_trace(M, prior_correction, exc):
    # The failed batch stayed counted, the counts it flushed stayed added,
    # and an adaptive M stayed moved: the next step's loss differed.
    class FailingBase(torch.nn.CrossEntropyLoss):
        armed = False

        def forward(self, logits, y):
            if FailingBase.armed:
                FailingBase.armed = False
                raise exc("fuse")
            return super().forward(logits, y)

    def loss():
        return RejectionLoss(
            FailingBase(reduction="none"),
            class_weight=[1.0, 2.0, 4.0],
            M=M,
            rejection="expected",
            target_acceptance=0.5 if M == "auto" else None,
            prior_correction=prior_correction,
        )

    g = torch.Generator().manual_seed(0)
    batches = [
        (torch.randn(24, 3, generator=g), torch.randint(0, 3, (24,), generator=g))
        for _ in range(3)
    ]
    fresh, failed = loss(), loss()
    for step in (fresh, failed):
        step(*batches[0])
    FailingBase.armed = True
    with pytest.raises(exc, match="fuse"):
        failed(*batches[1])
    assert not FailingBase.armed
    torch.testing.assert_close(failed(*batches[2]), fresh(*batches[2]), rtol=0, atol=0)
    got = failed.epoch_statistics()
    for key, value in fresh.epoch_statistics().items():
        torch.testing.assert_close(got[key], value, rtol=0, atol=0, equal_nan=True)


def test_optimizer_settings_a_fresh_fit_refuses_are_refused_on_a_fitted_net(data):
    # skorch writes them into the built optimiser's groups, where nothing
    # checked them: partial_fit trained on with a weight decay of -1.
    X, y = data
    net = make(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="FlakyAdam refuses the optimizer__.*weight"):
        net.set_params(optimizer__weight_decay=-1.0)
    assert net.optimizer_.param_groups[0]["weight_decay"] == 0
    assert "optimizer__weight_decay" not in net.get_params()
    net.set_params(optimizer__weight_decay=0.01)
    assert net.optimizer_.param_groups[0]["weight_decay"] == 0.01


def test_a_failed_call_puts_back_what_a_scheduler_set_when_it_began(data):
    # skorch's LRScheduler builds StepLR when training begins, which halves
    # the rate in place: a call that then failed at its first batch left
    # the rate halved.
    from skorch.callbacks import LRScheduler
    from torch.optim.lr_scheduler import StepLR

    X, y = data

    def net():
        scheduler = LRScheduler(StepLR, step_size=1, gamma=0.5)
        return make(callbacks=[("lr", scheduler)]).fit(X, y)

    done, failed = net(), net()
    FUSE.arm(1)
    with pytest.raises(RuntimeError, match="fuse"):
        failed.partial_fit(X, y, epochs=1)
    for model in (done, failed):
        model.partial_fit(X, y, epochs=1)
    assert (
        failed.optimizer_.param_groups[0]["lr"] == done.optimizer_.param_groups[0]["lr"]
    )
    np.testing.assert_array_equal(failed.predict_proba(X), done.predict_proba(X))


class AtEpochBegin(Callback):
    def __init__(self, epoch, **params):
        self.epoch, self.params = epoch, params

    def on_epoch_begin(self, net, **kwargs):
        if len(net.history) == self.epoch:
            net.set_params(**self.params)


def test_a_setting_changed_when_an_epoch_begins_applies_from_the_next(data):
    # The epoch was planned before the callbacks ran (as documented); the
    # correction follows the rule each epoch trained with.
    X, y = data
    net = make(max_epochs=4, callbacks=[("M", AtEpochBegin(3, M=5.0))]).fit(X, y)
    assert net.history[:, "M_effective"][1:] == [3.0, 3.0, 5.0]
    last = make(max_epochs=4, callbacks=[("M", AtEpochBegin(4, M=5.0))]).fit(X, y)
    assert last.final_M_ == last.history[-1, "M_effective"] == 3.0


def test_a_resume_with_an_input_shape_setter_loads_the_rule_state(tmp_path, data):
    # InputShapeSetter rebuilt the loss after the fit had set it up, and
    # LoadInitState loaded the checkpoint into it: setting it up again at
    # the first epoch reset the loaded adaptive M and prior.
    from skorch.callbacks import Checkpoint, InputShapeSetter, LoadInitState

    X, y = data
    params = dict(
        random_state=0,
        batch_size=64,
        module__hidden_layer_sizes=(16,),
        warmup_epochs=0,
        M="auto",
        target_acceptance=0.4,
    )
    files = dict(f_criterion="criterion.pt", f_generators="generators.pt")

    def shape():
        return ("shape", InputShapeSetter(param_name="n_features"))

    full = RSFTClassifier(max_epochs=4, callbacks=[shape()], **params).fit(X, y)
    saved = Checkpoint(monitor=None, dirname=str(tmp_path), **files)
    RSFTClassifier(max_epochs=2, callbacks=[shape(), ("cp", saved)], **params).fit(X, y)
    saved = Checkpoint(monitor=None, dirname=str(tmp_path), **files)
    resumed = RSFTClassifier(
        max_epochs=2,
        callbacks=[shape(), ("cp", saved), ("load", LoadInitState(saved))],
        **params,
    ).fit(X, y)
    assert resumed.history[:, "M_effective"] == full.history[:, "M_effective"]
    np.testing.assert_array_equal(resumed.predict_proba(X), full.predict_proba(X))


@pytest.mark.parametrize("rejection", ["expected", "pool", "budget"])
def test_a_loss_rebuilt_when_an_epoch_begins_trains_with_the_rule(data, rejection):
    # skorch rebuilds the loss for a criterion__* parameter; rebuilt after
    # the epoch was planned, it trained that epoch with hardness 1 (not
    # the estimator's) and rejected rows already selected.
    X, y = data
    seen = []

    class Record(Callback):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training and len(net.history[-1]["batches"]) == 1:
                loss = net.criterion_
                seen.append((loss.hardness, loss.rejecting, loss.generator))

    net = make(
        max_epochs=3,
        hardness=0.5,
        rejection=rejection,
        callbacks=[
            ("change", AtEpochBegin(3, criterion__label_smoothing=0.0)),
            ("record", Record()),
        ],
    ).fit(X, y)
    first, _, last = seen
    assert last[0] == 0.5
    assert last[1] == (rejection == "expected")
    assert last[2] is net.mask_generator_
    assert net.criterion_.prior_mass.sum() > 0


def test_a_network_rebuilt_when_training_begins_gets_the_fits_set_up(data):
    # InputShapeSetter rebuilds the network, loss and optimiser after the
    # fit set them up: the first fit trained without the class prior and
    # the fused Adam, so a refit (or a clone) gave other weights.
    from skorch.callbacks import InputShapeSetter

    X, y = data
    net = RSFTClassifier(
        max_epochs=3,
        random_state=0,
        callbacks=[("shape", InputShapeSetter(param_name="n_features"))],
    )
    net.fit(X, y)
    first = net.predict_proba(X)
    assert net.optimizer_.param_groups[0]["fused"]
    net.fit(X, y)
    np.testing.assert_array_equal(net.predict_proba(X), first)
    plain = RSFTClassifier(max_epochs=3, random_state=0).fit(X, y)
    np.testing.assert_array_equal(plain.predict_proba(X), first)


def test_the_step_guard_follows_an_optimiser_rebuilt_during_the_fit(data):
    from skorch.callbacks import Callback as Base

    class Swap(Base):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 1:
                net.set_params(optimizer=torch.optim.AdamW)

    guards = []

    class Guard(Base):
        def on_batch_begin(self, net, training=False, **kwargs):
            if training:
                guards.append(net.fit_state_.guard.optimizers[0] is net.optimizer_)

    X, y = data
    make(callbacks=[("swap", Swap()), ("guard", Guard())]).fit(X, y)
    assert guards and all(guards)


def test_training_through_skorchs_hooks_by_hand_ends_with_them(data):
    # The state on_train_begin created outlived on_train_end: every later
    # fit was refused as "called during a fit", and a rebuilt network
    # stayed in training mode in prediction.
    X, y = data
    net = make(max_epochs=1).fit(X, y)
    net.notify("on_train_begin", X=X, y=y)
    net.fit_loop(X, y, epochs=1)
    net.notify("on_train_end", X=X, y=y)
    assert len(net.history) == 2 and "fit_state_" not in vars(net)
    net.set_params(module__n_features=8)
    np.testing.assert_array_equal(net.predict_proba(X), net.predict_proba(X))
    net.fit(X, y)
    # One left unfinished is replaced by the next call.
    net.notify("on_train_begin", X=X, y=y)
    net.partial_fit(X, y, epochs=1)
    assert "fit_state_" not in vars(net)


@pytest.mark.parametrize(
    "call, named",
    [
        (lambda net, X, y: net.fit_loop(X, y, epochs=1), "fit_loop runs the epochs"),
        (
            lambda net, X, y: net.notify("on_epoch_begin"),
            "on_epoch_begin runs after on_train_begin",
        ),
        (
            lambda net, X, y: net.train_step(
                next(iter(net.get_iterator(net.get_dataset(X, y), training=True)))
            ),
            "train_step runs within a training epoch",
        ),
    ],
    ids=["fit_loop", "on_epoch_begin", "train_step"],
)
def test_parts_of_a_fit_called_alone_are_refused_by_name(data, call, named):
    # They failed on internal state ("no attribute 'fit_state_'"), and
    # fit_loop left an empty epoch in the history.
    X, y = data
    net = make(max_epochs=1).fit(X, y)
    with pytest.raises(RuntimeError, match=named):
        call(net, X, y.astype(np.int64))
    assert len(net.history) == 1


def test_skorchs_hooks_on_a_net_that_saw_no_data_are_refused(data):
    X, y = data
    net = make().initialize()
    with pytest.raises(RuntimeError, match="has seen no training data"):
        net.notify("on_train_begin", X=X, y=y)


def test_a_hand_driven_sequence_takes_the_rule_of_the_weights_put_back(data, tmp_path):
    # Checkpoint(load_best=True) put back an earlier epoch's weights in
    # on_train_end, after the state holding each epoch's rule was gone:
    # the output was corrected by the last epoch's rule.
    from skorch.callbacks import Checkpoint

    X, y = data

    def net(folder):
        best = Checkpoint(
            dirname=str(tmp_path / folder),
            load_best=True,
            monitor=lambda net: net.history[-1, "epoch"] in (2, 4),
        )
        return make(
            max_epochs=2,
            warmup_epochs=0,
            M="auto",
            target_acceptance=0.3,
            callbacks=[("best", best)],
        )

    fitted = net("fit").fit(X, y)
    fitted.partial_fit(X, y, epochs=3)
    by_hand = net("hand").fit(X, y)
    by_hand.notify("on_train_begin", X=X, y=y)
    by_hand.fit_loop(X, y, epochs=3)
    by_hand.notify("on_train_end", X=X, y=y)
    # Epoch 4's weights and rule, not the last epoch's.
    assert fitted.final_M_ != fitted.history[-1, "M_effective"]
    assert by_hand.final_M_ == fitted.final_M_
    np.testing.assert_array_equal(by_hand.predict_proba(X), fitted.predict_proba(X))


def test_an_unfinished_hand_driven_sequence_is_ended_or_replaced(data):
    # Its state outlived the sequence: an optimiser setting reached the
    # old optimiser only, so the next fit trained with the old rate.
    X, y = data
    net = make(max_epochs=1).fit(X, y)
    net.notify("on_train_begin", X=X, y=y)
    net.set_params(optimizer__lr=0.05)
    # The rule's settings wait for the sequence's end, which the message
    # names.
    with pytest.raises(ValueError, match="notify\\('on_train_end'"):
        net.set_params(prior_correction=0.5)
    net.fit(X, y)
    assert net.optimizer_.param_groups[0]["lr"] == 0.05
    net.set_params(prior_correction=0.5)
    net.fit(X, y)
    assert net.final_prior_correction_ == 0.5


def test_a_hand_driven_sequence_ends_when_a_callback_fails_at_its_end(data):
    class Fails(Callback):
        def on_train_end(self, net, **kwargs):
            raise RuntimeError("fuse")

    X, y = data
    net = make(max_epochs=1, callbacks=[("fails", Fails())])
    with pytest.raises(RuntimeError, match="fuse"):
        net.fit(X, y)
    net.notify("on_train_begin", X=X, y=y)
    net.fit_loop(X, y, epochs=1)
    with pytest.raises(RuntimeError, match="fuse"):
        net.notify("on_train_end", X=X, y=y)
    assert "fit_state_" not in vars(net)


def test_a_refit_that_fails_at_its_first_batch_keeps_the_fitted_history(data):
    # skorch empties the history object in place when it initialises: the
    # estimator came back with one empty epoch, and went on counting from it.
    X, y = data
    net = make().fit(X, y)
    rows = [dict(row) for row in net.history]
    FUSE.arm(1)
    with pytest.raises(RuntimeError, match="fuse"):
        net.fit(X, y)
    assert len(net.history) == 3
    assert net.history[:, "acceptance_rate"] == [r["acceptance_rate"] for r in rows]


def test_a_refit_that_trained_then_failed_keeps_what_it_trained(data):
    # A refit empties the history in place and starts again: read from the
    # history, two trained epochs of a refit of a 4-epoch fit looked like
    # none, and the old fit was put back.
    class FailsAtEpoch2(Callback):
        armed = False

        def on_epoch_end(self, net, **kwargs):
            if self.armed and len(net.history) == 2:
                raise RuntimeError("fuse")

    X, y = data
    fails = FailsAtEpoch2()
    net = make(max_epochs=4, callbacks=[("fails", fails)]).fit(X, y)
    proba = net.predict_proba(X)
    fails.armed = True
    with pytest.raises(RuntimeError, match="fuse"):
        net.fit(X, y)
    assert len(net.history) == 2
    assert not np.array_equal(net.predict_proba(X), proba)


def test_a_resumed_refit_that_fails_at_its_first_batch_changes_nothing(data, tmp_path):
    # LoadInitState replaces the history by the checkpoint's: its epochs
    # counted as trained by the call, which left an empty epoch, lost the
    # rule's attributes and moved predict_proba.
    from skorch.callbacks import Checkpoint, LoadInitState

    X, y = data
    saved = Checkpoint(monitor=None, dirname=str(tmp_path))
    net = make(callbacks=[("cp", saved), ("load", LoadInitState(saved))]).fit(X, y)
    proba, final_M = net.predict_proba(X), net.final_M_
    FUSE.arm(1)
    with pytest.raises(RuntimeError, match="fuse"):
        net.fit(X, y)
    assert len(net.history) == 3 and net.final_M_ == final_M
    np.testing.assert_array_equal(net.predict_proba(X), proba)


def test_a_subclass_with_its_own_epoch_loop_keeps_what_a_failed_call_trained(data):
    # Steps counted in the library's own epoch loop missed a subclass's:
    # the history was rolled back beside weights trained two more epochs.
    from skorch import NeuralNet

    class OwnLoop(RSFTClassifier):
        run_single_epoch = NeuralNet.run_single_epoch

    class FailsAtEpoch4(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 4:
                raise RuntimeError("fuse")

    X, y = data
    net = OwnLoop(
        module=FusedNet,
        max_epochs=2,
        batch_size=32,
        random_state=0,
        callbacks=[("fails", FailsAtEpoch4())],
    ).fit(X, y)
    with pytest.raises(RuntimeError, match="fuse"):
        net.partial_fit(X, y, epochs=3)
    assert len(net.history) == 4


def test_accelerate_keeps_what_a_failed_call_trained(data):
    # Its steps do not pass through this class's optimiser step: counted
    # only there, a call that trained two batches and then failed was put
    # back beside its trained weights.
    accelerate = pytest.importorskip("accelerate")
    from rsft_sklearn import AccelerateRSFTClassifier

    X, y = data
    net = AccelerateRSFTClassifier(
        module=FusedNet,
        accelerator=accelerate.Accelerator(cpu=True),
        max_epochs=2,
        batch_size=32,
        random_state=0,
    ).fit(X, y)
    FUSE.arm(3)
    with pytest.raises(RuntimeError, match="fuse"):
        net.partial_fit(X, y, epochs=1)
    assert len(net.history) == 3


@pytest.mark.parametrize("exc", [RuntimeError, SystemExit])
def test_a_call_failing_mid_epoch_leaves_a_history_that_saves(data, tmp_path, exc):
    # The failed epoch's batch losses stayed placeholders: the history saved
    # no JSON, and a later Checkpoint wrote an invalid file.
    import json

    X, y = data
    net = make().fit(X, y)
    FUSE.arm(3, exc)
    with pytest.raises(exc, match="fuse"):
        net.partial_fit(X, y, epochs=1)
    # (The batch that failed has no loss.)
    batches = net.history[-1, "batches"]
    losses = [b["train_loss"] for b in batches if "train_loss" in b]
    assert len(batches) == 3 and [type(loss) for loss in losses] == [float, float]
    net.save_params(f_history=str(tmp_path / "history.json"))
    saved = json.loads((tmp_path / "history.json").read_text())
    assert [b["train_loss"] for b in saved[-1]["batches"] if "train_loss" in b] == (
        losses
    )


@pytest.mark.parametrize("exc", [OSError, KeyboardInterrupt])
def test_weights_put_back_before_a_failing_end_take_their_epochs_rule(data, exc):
    # EarlyStopping(load_best=True) put back epoch 1's weights, then a later
    # callback's on_train_end failed (a TrainEndCheckpoint on a full disk):
    # the output kept the last epoch's correction (predict_proba moved by
    # up to 0.09).
    from skorch.callbacks import EarlyStopping

    class FailsAtEnd(Callback):
        def on_train_end(self, net, **kwargs):
            raise exc("fuse")

    X, y = data

    def stopper():
        return EarlyStopping(
            monitor="train_loss",
            patience=2,
            threshold=10,
            threshold_mode="abs",
            load_best=True,
        )

    params = dict(max_epochs=6, warmup_epochs=0, M="auto", target_acceptance=0.4)
    reference = make(**params, callbacks=[stopper()]).fit(X, y)
    failing = make(**params, callbacks=[stopper(), FailsAtEnd()])
    with pytest.raises(exc, match="fuse"):
        failing.fit(X, y)
    assert len(failing.history) == 3
    assert failing.final_M_ == reference.final_M_ == reference.history[0, "M_effective"]
    np.testing.assert_array_equal(failing.predict_proba(X), reference.predict_proba(X))
    # One that fails before the callback loading the weights ran: those
    # are the last epoch's, and so is the rule.
    failing_first = make(**params, callbacks=[FailsAtEnd(), stopper()])
    with pytest.raises(exc, match="fuse"):
        failing_first.fit(X, y)
    assert failing_first.final_M_ == failing_first.history[-1, "M_effective"]


class InterruptAt(Callback):
    def __init__(self, epoch, batch=0):
        self.epoch, self.batch = epoch, batch

    def on_train_begin(self, net, **kwargs):
        self.batches = 0

    def on_batch_begin(self, net, training=False, **kwargs):
        if training and len(net.history) == self.epoch:
            if self.batches == self.batch:
                raise KeyboardInterrupt
            self.batches += 1


@pytest.mark.parametrize("how", ["partial_fit", "fit"])
def test_ctrl_c_before_the_first_step_leaves_the_estimator_as_it_was(data, how):
    # skorch ends a fit on Ctrl-C as if it had finished: a partial_fit cut
    # at its first batch had counted its labels into the correction (it
    # moved predict_proba by 0.17, and a retry counted them twice) and added
    # an empty epoch; a refit returned an untrained network.
    X, y = data
    net = make().fit(X, y)
    proba, counts = net.predict_proba(X), net.class_prior_.copy()
    net.set_params(
        callbacks=[("stop", InterruptAt(epoch=4 if how == "partial_fit" else 1))]
    )
    chunk = y == 1
    with pytest.warns(UserWarning, match="interrupted before its first step"):
        if how == "partial_fit":
            net.partial_fit(X[chunk], y[chunk], epochs=1)
        else:
            net.fit(X[:150], 1 - y[:150])
    assert len(net.history) == 3
    np.testing.assert_array_equal(net.class_prior_, counts)
    np.testing.assert_array_equal(net.predict_proba(X), proba)
    # Cut after a step, the call keeps what it trained, as skorch does.
    net.set_params(callbacks=[("stop", InterruptAt(epoch=4, batch=2))])
    net.partial_fit(X, y, epochs=1)
    assert len(net.history) == 4


@pytest.mark.parametrize(
    ("epoch", "said"),
    [
        (1, "in epoch 1, before any epoch after the warm-up of 2 "),
        (2, "in epoch 2, after epoch 1, before"),
        (3, "in epoch 3, after epoch 2, before"),
    ],
)
def test_ctrl_c_in_an_epoch_that_applied_no_rule_warns(data, epoch, said):
    # Cut in the last warm-up epoch, or in the first epoch after it, no
    # finished epoch applied the rule, and nothing said so.
    X, y = data
    net = make(max_epochs=6, warmup_epochs=2, callbacks=[InterruptAt(epoch, 1)])
    with pytest.warns(UserWarning, match=said):
        net.fit(X, y)
    assert net.final_M_ is None


def test_a_sparse_fit_narrows_its_network_with_an_input_shape_setter(data):
    # The network that InputShapeSetter rebuilt took every column in the
    # first fit and only the stored ones in a refit: the two fits differed
    # (0.096), and wide input took 2.4 times the memory.
    import scipy.sparse as sp
    from skorch.callbacks import InputShapeSetter

    X, y = data
    X = X.copy()
    X[:, 5:] = 0
    X = sp.csr_matrix(X)
    net = RSFTClassifier(
        max_epochs=2,
        random_state=0,
        callbacks=[InputShapeSetter(param_name="n_features")],
    )
    first = net.fit(X, y).predict_proba(X)
    assert len(net.module_.input_columns) == 5
    np.testing.assert_array_equal(net.fit(X, y).predict_proba(X), first)
    plain = RSFTClassifier(max_epochs=2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(plain.predict_proba(X), first)


class NormedNet(torch.nn.Module):
    def __init__(self, n_features=8, n_classes=2):
        super().__init__()
        self.hidden = torch.nn.Sequential(
            torch.nn.Linear(n_features, 16), torch.nn.BatchNorm1d(16)
        )
        self.out = torch.nn.Linear(16, n_classes)

    def forward(self, X):
        hidden = self.hidden(X)
        if self.training:
            # After BatchNorm moved its running statistics.
            FUSE.tick()
        return self.out(torch.relu(hidden))


@pytest.mark.parametrize("exc", [RuntimeError, KeyboardInterrupt])
def test_a_call_undone_puts_back_the_running_statistics(data, exc):
    # The first batch's forward moved BatchNorm's running statistics before
    # the call failed: predict_proba of the estimator "as it was" moved.
    X, y = data
    net = make(module=NormedNet).fit(X, y)
    proba = net.predict_proba(X)
    FUSE.arm(1, exc)
    context = (
        pytest.warns(UserWarning, match="interrupted before its first step")
        if exc is KeyboardInterrupt
        else pytest.raises(exc, match="fuse")
    )
    with context:
        net.partial_fit(X + 3.0, y, epochs=1)
    np.testing.assert_array_equal(net.predict_proba(X), proba)


def test_a_stop_after_an_epoch_without_a_step_keeps_the_epoch(data):
    # EarlyStopping's stop (a KeyboardInterrupt) after an epoch that
    # accepted no row, and so took no step, was taken for a Ctrl-C before
    # the call's first step: the call was undone, with that message.
    import warnings

    from skorch.callbacks import EarlyStopping

    X, y = data
    net = make(max_epochs=2, warmup_epochs=0, rejection="epoch").fit(X, y)
    net.set_params(
        M=1e9,
        callbacks=[EarlyStopping(monitor="train_loss", patience=1, threshold=10)],
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="An epoch (accepted|trained on) no")
        warnings.filterwarnings("error", message=".*interrupted before")
        net.partial_fit(X, y, epochs=3)
    assert len(net.history) == 3 and net.history[-1, "train_batch_count"] == 0


def test_no_stop_warning_for_a_call_that_would_end_in_the_warm_up(data):
    # A call given only warm-up epochs (one of a stream of short
    # partial_fit calls, or warmup_epochs of every epoch) and cut short
    # ends as plain as it would have: the warning's advice does not apply.
    import warnings

    X, y = data
    with warnings.catch_warnings():
        warnings.filterwarnings("error", message=".*ended the training")
        make(max_epochs=3, warmup_epochs=3, callbacks=[InterruptAt(3, 1)]).fit(X, y)
        stream = make(max_epochs=6, warmup_epochs=3)
        stream.partial_fit(X, y, epochs=1)
        stream.set_params(callbacks=[InterruptAt(2, 1)])
        stream.partial_fit(X, y, epochs=1)
    assert len(stream.history) == 2


def test_a_network_with_lazy_buffers_trains_after_initialize(data):
    # The state kept for undoing a call copied every buffer, and a lazy
    # BatchNorm's buffer that no forward had filled cannot be copied: every
    # fit after initialize() failed.
    class Lazy(torch.nn.Module):
        def __init__(self, n_classes=2):
            super().__init__()
            self.net = torch.nn.Sequential(
                torch.nn.LazyLinear(8),
                torch.nn.LazyBatchNorm1d(),
                torch.nn.ReLU(),
                torch.nn.Linear(8, n_classes),
            )

        def forward(self, X):
            return self.net(X)

    X, y = data
    net = make(module=Lazy, optimizer=torch.optim.SGD).initialize()
    net.partial_fit(X, y, classes=[0, 1], epochs=1)
    assert len(net.history) == 1


def test_a_cut_first_epoch_without_a_warm_up_warns_without_warm_up_advice(data):
    # It advised lowering warmup_epochs, which was already 0.
    X, y = data
    net = make(max_epochs=3, warmup_epochs=0, callbacks=[InterruptAt(1, 1)])
    with pytest.warns(UserWarning, match="in epoch 1, before its first epoch") as seen:
        net.fit(X, y)
    assert "warmup_epochs" not in str(seen[0].message)
    assert net.final_M_ is None


class CentredNet(torch.nn.Module):
    """Centres its input on the first training batch's mean, kept in a
    buffer registered as None until then."""

    def __init__(self, n_features=8, n_classes=2):
        super().__init__()
        self.register_buffer("center", None)
        self.out = torch.nn.Linear(n_features, n_classes)

    def forward(self, X):
        if self.training and self.center is None:
            self.center = X.mean(0).detach().clone()
        if self.training:
            FUSE.tick()
        return self.out(X if self.center is None else X - self.center)


def test_a_call_undone_empties_a_buffer_it_filled(data):
    # The first batch of an undone call filled the buffer (None before), and
    # the next call trained around that batch's mean (0.35 apart).
    X, y = data
    failed = make(module=CentredNet).initialize()
    FUSE.arm(1)
    with pytest.raises(RuntimeError, match="fuse"):
        failed.partial_fit(X + 5.0, y, classes=[0, 1])
    assert failed.module_.center is None
    failed.partial_fit(X, y, classes=[0, 1])
    done = make(module=CentredNet).initialize().partial_fit(X, y, classes=[0, 1])
    np.testing.assert_array_equal(failed.predict_proba(X), done.predict_proba(X))
