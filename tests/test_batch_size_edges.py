"""Training batch sizes at their edges (one row, the whole data set), and
what a step tells and counts whatever its optimiser does with the closure."""

import warnings

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from skorch.callbacks import Callback
from torch import nn
from torch.utils.data import DataLoader, SubsetRandomSampler, TensorDataset

import rsft_sklearn._classifier as classifier_module
import rsft_sklearn._loss as loss_module
from rsft_sklearn import MLPModule, RSFTClassifier, RSFTWarning
from rsft_sklearn._classifier import _cancelled_weights, _rows_per_batch

# hardness=0 with these weights keeps every row with probability 1/4.
QUARTER = {"hardness": 0.0, "M": 4.0, "target": {0: 0.25, 1: 0.25}}
ONE_ROW_WARNING = "trains every step on one row"


def _data(n=120, seed=0, minority=0.2, n_features=5):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < minority).astype(np.int64)
    X = rng.normal(size=(n, n_features)) + 2.0 * y[:, None]
    return X.astype(np.float32), y


class WithBatchNorm(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(5, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2)
        )

    def forward(self, X):
        return self.layers(X)


class Frozen(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 2)
        for parameter in self.parameters():
            parameter.requires_grad_(False)

    def forward(self, X):
        return self.linear(X)


class Detached(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 2)

    def forward(self, X):
        return self.linear(X).detach()


class EpochFlags(Callback):
    """Record whether each epoch compacted."""

    def initialize(self):
        self.compacted = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.compacted.append(net.fit_state_.plan.compact)


def _one_row_warnings(caught):
    return [
        str(w.message)
        for w in caught
        if issubclass(w.category, RSFTWarning) and ONE_ROW_WARNING in str(w.message)
    ]


def _fit_catching(clf, X, y, **fit_kwargs):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y, **fit_kwargs)
    return _one_row_warnings(caught)


# ----------------------------------------------------------------------
# BatchNorm and a training batch size of 1
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "settings, name",
    [
        ({"batch_size": 1}, "batch_size"),
        ({"iterator_train__batch_size": 1}, "iterator_train__batch_size"),
        ({"batch_size": 1, "rejection": "pool"}, "batch_size"),
        ({"batch_size": 1, **SAMPLE_RULE, "compact": True}, "batch_size"),
    ],
)
def test_batchnorm_with_a_training_batch_of_one_row_is_refused_by_name(settings, name):
    X, y = _data(40)
    clf = RSFTClassifier(WithBatchNorm, max_epochs=1, random_state=0, **settings)
    with pytest.raises(ValueError, match=f"^{name}=1 gives every training pass"):
        clf.fit(X, y)


class WithBatchNorm2d(nn.Module):
    # BatchNorm2d over 2x2 maps: one row gives it 4 values per channel,
    # which PyTorch trains on.
    def __init__(self):
        super().__init__()
        self.layers = nn.Sequential(
            nn.Unflatten(1, (1, 2, 2)),
            nn.Conv2d(1, 3, 1),
            nn.BatchNorm2d(3),
            nn.Flatten(),
            nn.Linear(12, 2),
        )

    def forward(self, X):
        return self.layers(X)


@pytest.mark.parametrize("rejection", ["expected", "pool"])
def test_batchnorm_that_sees_several_values_per_channel_trains_on_one_row(rejection):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(30, 4)).astype(np.float32)
    y = np.arange(30) % 2
    clf = RSFTClassifier(
        WithBatchNorm2d, max_epochs=2, batch_size=1, rejection=rejection, random_state=0
    ).fit(X, y)
    assert clf.history[-1, "train_batch_count"] > 0
    assert np.isfinite(clf.history[-1, "train_loss"])


def test_a_refit_refused_for_batchnorm_leaves_the_fitted_estimator_as_it_was():
    X, y = _data(40)
    clf = RSFTClassifier(WithBatchNorm, max_epochs=2, batch_size=16, random_state=0)
    clf.fit(X, y)
    proba = clf.predict_proba(X)
    epochs = len(clf.history)
    with pytest.raises(ValueError, match="BatchNorm"):
        clf.set_params(batch_size=1).fit(X, y)
    clf.set_params(batch_size=16)
    assert len(clf.history) == epochs
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_batchnorm_trains_at_two_rows_per_batch_and_predicts_with_one():
    X, y = _data(40)
    clf = RSFTClassifier(WithBatchNorm, max_epochs=1, batch_size=2, random_state=0)
    clf.fit(X, y)
    # Prediction runs in evaluation mode: a batch of one row is fine.
    clf.set_params(batch_size=1)
    assert clf.predict_proba(X[:3]).shape == (3, 2)


def _dataset(n, seed=0):
    X, y = _data(n, seed=seed)
    return TensorDataset(torch.as_tensor(X), torch.as_tensor(y)), y


def _training_batch_sizes(clf):
    return [
        [batch["train_batch_size"] for batch in epoch["batches"]]
        for epoch in clf.history
    ]


@pytest.mark.parametrize(
    "n, sampled, sizes",
    [
        # 33 sampled rows at 32 per batch: the last batch of one row is left
        # out (it failed, "Set batch_size to 2 or more" though it was 32).
        (200, 33, [32]),
        # 193 rows (193 % 32 == 1) but 40 sampled: every sampled row trains
        # (drop_last was set, which trained 32 of the 40).
        (193, 40, [32, 8]),
    ],
)
def test_batchnorm_counts_the_rows_of_a_sampler_for_the_one_row_batch(
    n, sampled, sizes
):
    dataset, y = _dataset(n)
    sampler = SubsetRandomSampler(
        list(range(sampled)), generator=torch.Generator().manual_seed(0)
    )
    clf = RSFTClassifier(
        WithBatchNorm,
        max_epochs=2,
        batch_size=32,
        random_state=0,
        iterator_train__sampler=sampler,
    ).fit(dataset, y)
    assert _training_batch_sizes(clf) == [sizes, sizes]


@pytest.mark.parametrize(
    "module, settings, reason, advice",
    [
        (
            WithBatchNorm,
            {"iterator_train__sampler": SubsetRandomSampler([0])},
            "iterator_train__sampler draws one row, and the estimator leaves "
            "out a training batch of one row because the network holds a "
            "BatchNorm layer",
            "Give iterator_train__sampler two rows or more.",
        ),
        (
            MLPModule,
            {
                "iterator_train__sampler": SubsetRandomSampler(range(10)),
                "iterator_train__drop_last": True,
            },
            "iterator_train__sampler draws 10 rows, fewer than one batch, "
            "which iterator_train__drop_last=True leaves out",
            "Lower batch_size, or drop drop_last.",
        ),
    ],
    ids=["batchnorm-one-row", "drop_last-ten-rows"],
)
def test_a_sampler_that_fills_no_batch_is_named_as_the_stepless_cause(
    module, settings, reason, advice
):
    # The warning blamed the rule ("every row rejected ... Lower M"), as the
    # data set's 200 rows filled batches.
    dataset, y = _dataset(200)
    if module is MLPModule:
        settings = {**settings, "module__n_features": 5, "module__n_classes": 2}
    clf = RSFTClassifier(
        module, max_epochs=1, batch_size=32, random_state=0, classes=[0, 1], **settings
    )
    with pytest.warns(RSFTWarning, match="An epoch trained on no row") as record:
        clf.fit(dataset, y)
    message = next(str(w.message) for w in record if "no row" in str(w.message))
    assert f"({reason}); its train_loss is NaN. {advice}" in message
    assert "Lower M" not in message
    assert clf.history[-1, "train_batch_count"] == 0
    assert np.isnan(clf.history[-1, "train_loss"])


class OneRowBatches:
    """A batch sampler whose last batch holds one row."""

    def __init__(self, n, size):
        self.batches = [
            list(range(start, min(start + size, n))) for start in range(0, n, size)
        ]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self):
        return len(self.batches)


def test_a_one_row_batch_of_a_batch_sampler_under_batchnorm_is_named_by_its_cause():
    dataset, y = _dataset(33)
    clf = RSFTClassifier(
        WithBatchNorm,
        max_epochs=1,
        random_state=0,
        # DataLoader takes a batch sampler only beside a batch size of 1.
        iterator_train__batch_size=1,
        iterator_train__batch_sampler=OneRowBatches(33, 16),
    )
    # Was "iterator_train__batch_size=1 gives every training pass a single
    # row ... Set iterator_train__batch_size to 2 or more".
    with pytest.raises(ValueError) as info:
        clf.fit(dataset, y)
    message = str(info.value)
    assert message.startswith(
        "a training batch held a single row (that iterator_train__batch_sampler "
        "cut), but a BatchNorm layer"
    )
    assert "Expected more than 1 value per channel" in message
    assert message.endswith("a batch sampler that makes no batch of one row).")
    assert "to 2 or more" not in message


def test_a_one_row_batch_of_an_iterator_of_ones_own_is_not_blamed_on_batch_size():
    X, y = _data(33)
    clf = RSFTClassifier(
        WithBatchNorm,
        max_epochs=1,
        batch_size=32,
        random_state=0,
        iterator_train=DataLoader,
    )
    # Was "a training pass got a single row ... Set batch_size to 2 or more"
    # (it was 32).
    with pytest.raises(ValueError) as info:
        clf.fit(X, y)
    message = str(info.value)
    assert message.startswith(
        "a training batch held a single row (at batch_size=32: a short last "
        "batch, or one that an iterator_train of your own cut)"
    )
    assert "iterator_train__drop_last=True" in message
    assert "to 2 or more" not in message
    # What the message offers.
    clf.set_params(iterator_train__drop_last=True).fit(X, y)
    assert _training_batch_sizes(clf) == [[32]]


def test_a_batch_sampler_is_no_training_batch_size_of_one():
    # DataLoader takes iterator_train__batch_sampler only beside
    # iterator_train__batch_size=1, which sizes no batch: no warning that
    # one-row steps cancel the rule's weights (the batches hold 16 rows).
    dataset, y = _dataset(64)
    clf = RSFTClassifier(
        module__n_features=5,
        max_epochs=2,
        warmup_epochs=0,
        random_state=0,
        iterator_train__batch_size=1,
        iterator_train__batch_sampler=OneRowBatches(64, 16),
    )
    assert _fit_catching(clf, dataset, y) == []
    assert _training_batch_sizes(clf) == [[16] * 4] * 2


# ----------------------------------------------------------------------
# One row per batch cancels the weights of the "accepted" normaliser
# ----------------------------------------------------------------------
def test_at_one_row_per_batch_the_rules_weights_cancel_and_the_fit_warns_once():
    X, y = _data(80)
    common = dict(
        batch_size=1,
        max_epochs=2,
        warmup_epochs=0,
        prior_correction=0.0,
        lr=0.01,
        random_state=0,
        iterator_train__shuffle=False,
        probability="raw",
    )
    plain = RSFTClassifier(M=1e-6, **common)
    strong = RSFTClassifier(M=5.0, hardness=2.0, **common)
    said = _fit_catching(strong, X, y)
    _fit_catching(plain, X, y)
    # What the warning says: a strong rule trains the network that plain
    # training trains, up to rounding.
    difference = np.abs(strong.predict_proba(X) - plain.predict_proba(X)).max()
    assert difference < 1e-5
    assert len(said) == 1
    assert said[0].startswith("batch_size=1 trains every step on one row")
    assert "the rule's weights (M, hardness, the class target weights)" in said[0]
    assert "loss_normalization='batch'" in said[0]
    # At two rows per batch the rule weighs the rows again, and nothing warns.
    plain.set_params(batch_size=2)
    strong.set_params(batch_size=2)
    assert _fit_catching(strong, X, y) == []
    _fit_catching(plain, X, y)
    assert np.abs(strong.predict_proba(X) - plain.predict_proba(X)).max() > 1e-3


def test_at_one_row_per_batch_a_warm_up_cancels_the_sample_weights_and_warns():
    X, y = _data(80)
    weight = np.where(y == 1, 10.0, 1.0)
    common = dict(
        rejection="sample",
        max_epochs=1,
        warmup_epochs=1,
        # (The logit adjustment's prior counts the sample weights.)
        prior_correction=0.0,
        lr=0.01,
        random_state=0,
        iterator_train__shuffle=False,
        probability="raw",
        iterator_train__batch_size=1,
    )
    weighted = RSFTClassifier(**common)
    said = _fit_catching(weighted, X, y, sample_weight=weight)
    unweighted = RSFTClassifier(**common).fit(X, y)
    np.testing.assert_allclose(
        weighted.predict_proba(X), unweighted.predict_proba(X), atol=1e-6
    )
    assert len(said) == 1
    assert said[0].startswith("iterator_train__batch_size=1 trains every step")
    assert "so the sample weights change nothing" in said[0]


@pytest.mark.parametrize(
    "settings, weighted",
    [
        # The per-row denominator is the batch size.
        ({"loss_normalization": "batch"}, True),
        # A mask of 0 and 1 weighs no row, and no warm-up weighs the
        # sample weights.
        ({**SAMPLE_RULE}, True),
        ({**SAMPLE_RULE}, False),
        # The budget's steps take the batch mean.
        ({"rejection": "budget"}, True),
        # Every epoch a warm-up, without sample weights: plain training.
        ({"warmup_epochs": 5}, False),
        # Two rows per batch.
        ({"batch_size": 2}, True),
    ],
)
def test_one_row_per_batch_warns_only_where_the_steps_weigh_rows(settings, weighted):
    X, y = _data(20)
    settings = {"batch_size": 1, "max_epochs": 1, **settings}
    clf = RSFTClassifier(random_state=0, **settings)
    weight = np.linspace(0.5, 2.0, len(y)) if weighted else None
    assert _fit_catching(clf, X, y, sample_weight=weight) == []


def test_the_cancelled_weights_by_mode():
    # (rejection, normaliser, weighted, warm-up epochs, epochs, epochs before)
    rule = "the rule's weights (M, hardness, the class target weights)"
    assert _cancelled_weights("expected", "accepted", False, 0, 3, 0) == rule
    assert _cancelled_weights("expected", "accepted", False, 3, 3, 0) == ""
    assert (
        _cancelled_weights("expected", "accepted", True, 3, 3, 0)
        == "the sample weights"
    )
    assert (
        _cancelled_weights("expected", "accepted", True, 1, 3, 0)
        == f"{rule} and the sample weights"
    )
    # Continued training after the warm-up: only rejecting epochs remain.
    assert _cancelled_weights("sample", "accepted", True, 2, 3, 5) == ""
    assert _cancelled_weights("pool", "accepted", True, 2, 3, 0) == (
        "the sample weights"
    )
    assert _cancelled_weights("budget", "accepted", True, 2, 3, 0) == ""
    assert _cancelled_weights("expected", "batch", True, 2, 3, 0) == ""


# ----------------------------------------------------------------------
# compact="auto" counts the rows of the training batches
# ----------------------------------------------------------------------
def test_rows_per_batch_resolves_the_whole_data_set():
    class Iterator:
        dataset = range(300)

    assert _rows_per_batch(128, Iterator()) == 128
    assert _rows_per_batch(-1, Iterator()) == 300
    # Rows that no iterator tells: "auto" does not compact.
    assert _rows_per_batch(-1, None) is None


@pytest.mark.parametrize(
    "settings, compacted",
    [
        # 60 parameters times 256 rows: far from heavy, though one batch
        # of the whole data set.
        ({"batch_size": -1}, [False, False, False]),
        ({"batch_size": 128, "iterator_train__batch_size": -1}, [False] * 3),
        # About 267,000 parameters: heavy from 63 rows per batch on; the
        # training iterator's batch size decides, not batch_size.
        (
            {
                "batch_size": 32,
                "iterator_train__batch_size": 128,
                "module__hidden_layer_sizes": (512, 512),
            },
            [False, True, True],
        ),
        (
            {
                "batch_size": 128,
                "iterator_train__batch_size": 32,
                "module__hidden_layer_sizes": (512, 512),
            },
            [False, False, False],
        ),
        (
            {"batch_size": -1, "module__hidden_layer_sizes": (512, 512)},
            [False, True, True],
        ),
    ],
)
def test_auto_compaction_weighs_the_rows_of_the_training_batches(settings, compacted):
    X, y = _data(256)
    settings.setdefault("module__hidden_layer_sizes", (8,))
    flags = EpochFlags()
    clf = RSFTClassifier(
        compact="auto",
        max_epochs=3,
        random_state=0,
        callbacks=[("flags", flags)],
        **SAMPLE_RULE,
        **QUARTER,
        **settings,
    ).fit(X, y)
    assert flags.compacted == compacted
    assert np.allclose(clf.history[:, "acceptance_rate"], 0.25, atol=0.1)


# ----------------------------------------------------------------------
# step_accepted in compacted steps
# ----------------------------------------------------------------------
class AcceptedPerStep(RSFTClassifier):
    """Record, per training step of a rejecting epoch, the number the mask
    accepted and the loss's ``step_accepted`` after the step."""

    def train_step_single(self, batch, **fit_params):
        loss_fn = self.criterion_
        drawn = []
        record = loss_fn.record

        def counting(y, accepted, acceptance):
            drawn.append(float(accepted.sum()))
            return record(y, accepted, acceptance)

        loss_fn.record = counting
        try:
            step = super().train_step_single(batch, **fit_params)
        finally:
            del loss_fn.record
        if self.fit_state_.plan.rejecting:
            self.pairs_.append((drawn[0], float(loss_fn.step_accepted)))
        return step


@pytest.mark.parametrize("compact", [False, True])
def test_step_accepted_is_the_steps_accepted_count_when_compacted(compact):
    X, y = _data(256)
    clf = AcceptedPerStep(
        batch_size=32, max_epochs=2, random_state=0, compact=compact, **QUARTER
    )
    clf.set_params(**{**SAMPLE_RULE, "warmup_epochs": 1})
    clf.pairs_ = []
    clf.fit(X, y)
    assert len(clf.pairs_) == 8
    drawn, told = zip(*clf.pairs_)
    assert told == drawn
    # About a quarter of every batch of 32.
    assert 0 < sum(drawn) < 256


@pytest.mark.parametrize("compact", [False, True])
def test_step_accepted_is_zero_in_a_compacted_step_that_accepts_nothing(compact):
    X, y = _data(256)
    clf = AcceptedPerStep(
        batch_size=40,
        max_epochs=2,
        random_state=0,
        compact=compact,
        **{**QUARTER, "M": 1e7},
    )
    clf.set_params(**{**SAMPLE_RULE, "warmup_epochs": 1})
    clf.pairs_ = []
    with warnings.catch_warnings():
        # (An epoch that accepts nothing warns so.)
        warnings.simplefilter("ignore", RSFTWarning)
        clf.fit(X, y)
    # The warm-up's last batch held 16 rows; every step after accepts none.
    assert clf.pairs_ == [(0.0, 0.0)] * 7


# ----------------------------------------------------------------------
# Optimisers that call the closure more than once per step
# ----------------------------------------------------------------------
class TwiceSGD(torch.optim.SGD):
    """SGD that evaluates the closure twice at the same parameters."""

    def step(self, closure=None):
        with torch.enable_grad():
            closure()
        return super().step(closure)


class SAM(torch.optim.Optimizer):
    """Sharpness-aware minimisation: a gradient at parameters moved up the
    gradient, applied at the parameters as they were."""

    def __init__(self, params, lr=0.05, rho=0.05):
        super().__init__(params, {"lr": lr, "rho": rho})

    @torch.no_grad()
    def step(self, closure):
        with torch.enable_grad():
            closure()
        parameters = [p for g in self.param_groups for p in g["params"]]
        norm = torch.norm(torch.stack([p.grad.norm() for p in parameters]))
        moves = []
        for group in self.param_groups:
            for p in group["params"]:
                move = p.grad * group["rho"] / (norm + 1e-12)
                p.add_(move)
                moves.append(move)
        with torch.enable_grad():
            loss = closure()
        for p, move in zip(parameters, moves):
            p.sub_(move)
            p.add_(p.grad, alpha=-self.param_groups[0]["lr"])
        return loss


def test_a_closure_called_twice_draws_and_counts_as_one_call(monkeypatch):
    X, y = _data(200)
    masks = []
    draw = loss_module.rejection_mask

    def recording(acceptance, generator=None):
        mask = draw(acceptance, generator)
        masks.append(mask.clone())
        return mask

    monkeypatch.setattr(loss_module, "rejection_mask", recording)
    settings = dict(
        batch_size=50,
        max_epochs=3,
        random_state=0,
        lr=0.05,
        M="auto",
        target_acceptance=0.5,
        **{**SAMPLE_RULE, "warmup_epochs": 1},
    )
    twice = RSFTClassifier(optimizer=TwiceSGD, **settings).fit(X, y)
    twice_masks, masks[:] = list(masks), []
    once = RSFTClassifier(optimizer=torch.optim.SGD, **settings).fit(X, y)
    # Every step's second call drew the first call's mask.
    assert len(twice_masks) == 2 * len(masks) == 16
    for first, second in zip(twice_masks[::2], twice_masks[1::2]):
        assert torch.equal(first, second)
    assert [torch.equal(a, b) for a, b in zip(twice_masks[::2], masks)] == [True] * 8
    # So the fit is the one-call fit: the same counts, the same M, the
    # same network.
    for key in ("acceptance_rate", "M_effective"):
        np.testing.assert_array_equal(twice.history[:, key], once.history[:, key])
    np.testing.assert_array_equal(twice.predict_proba(X), once.predict_proba(X))
    assert twice.final_M_ == once.final_M_


@pytest.mark.parametrize("rejection", ["expected", "sample"])
def test_sam_counts_every_row_once_and_solves_M_once_per_step(monkeypatch, rejection):
    X, y = _data(200)
    seen = []
    statistics = loss_module.RejectionLoss.epoch_statistics

    def recording(loss_fn):
        values = statistics(loss_fn)
        seen.append((float(values["seen"].sum()), float(values["M_steps"])))
        return values

    monkeypatch.setattr(loss_module.RejectionLoss, "epoch_statistics", recording)
    RSFTClassifier(
        optimizer=SAM,
        batch_size=50,
        max_epochs=2,
        random_state=0,
        rejection=rejection,
        warmup_epochs=1,
        M="auto",
        target_acceptance=0.5,
    ).fit(X, y)
    # 200 rows in 4 steps per epoch (the warm-up solves no M).
    assert seen == [(200.0, 0.0), (200.0, 4.0)]


class TwoOptimizers(RSFTClassifier):
    """Half the parameters to each of two optimisers: skorch calls the
    closure once per optimiser."""

    def initialize_optimizer(self, triggered_directly=None):
        parameters = list(self.module_.parameters())
        half = len(parameters) // 2
        self.optimizer_ = torch.optim.SGD(parameters[:half], lr=0.05)
        self.optimizer2_ = torch.optim.SGD(parameters[half:], lr=0.05)
        return self


@pytest.mark.parametrize("rejection", ["expected", "sample"])
def test_two_optimizers_count_every_row_once_and_solve_M_once_per_step(
    monkeypatch, rejection
):
    X, y = _data(300)
    seen = []
    statistics = loss_module.RejectionLoss.epoch_statistics

    def recording(loss_fn):
        values = statistics(loss_fn)
        seen.append((float(values["seen"].sum()), float(values["M_steps"])))
        return values

    monkeypatch.setattr(loss_module.RejectionLoss, "epoch_statistics", recording)
    clf = TwoOptimizers(
        batch_size=60,
        max_epochs=2,
        warmup_epochs=1,
        rejection=rejection,
        M="auto",
        target_acceptance=0.5,
        random_state=0,
    ).fit(X, y)
    assert clf._optimizers == ["optimizer", "optimizer2"]
    # 300 rows in 5 steps per epoch (the warm-up solves no M): once per
    # step, not once per optimiser (600 rows, 10 solutions).
    assert seen == [(300.0, 0.0), (300.0, 5.0)]


def test_a_step_that_calls_the_closure_once_itself_is_not_wrapped(monkeypatch):
    # The on-host guarded step (one torch optimiser on the CPU, a drawn
    # mask) calls the closure once: no read of the mask generator's state.
    wrapped = []
    once = classifier_module._once_per_step

    def counting(step_fn, loss):
        wrapped.append(loss.rejecting)
        return once(step_fn, loss)

    monkeypatch.setattr(classifier_module, "_once_per_step", counting)
    X, y = _data(120)
    settings = dict(batch_size=40, max_epochs=2, random_state=0, **SAMPLE_RULE)
    guarded = RSFTClassifier(**settings).fit(X, y)
    assert wrapped == []
    # An optimiser of one's own (guarded by a snapshot, not on the host)
    # may call the closure twice: it is wrapped at every step.
    twice = RSFTClassifier(optimizer=TwiceSGD, **settings).fit(X, y)
    assert wrapped == [True] * 6
    assert len(twice.history) == 2
    assert np.isfinite(guarded.history[-1, "train_loss"])


class RowsArgument(nn.Module):
    """A forward argument named ``rows``, as the estimator names a batch's
    row count inside; records what it gets."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(5, 2)
        self.got = []

    def forward(self, X, rows=1.0):
        self.got.append(rows)
        return self.linear(X) * rows


@pytest.mark.parametrize("settings", [{}, {**SAMPLE_RULE, "compact": True, **QUARTER}])
def test_a_forward_argument_named_rows_reaches_the_module(settings):
    X, y = _data(64)
    # Was "RSFTClassifier._training_forward() got multiple values for
    # argument 'rows'".
    clf = RSFTClassifier(
        RowsArgument, max_epochs=2, batch_size=32, random_state=0, **settings
    ).fit(X, y, rows=2.0)
    assert len(clf.module_.got) >= 4
    assert set(clf.module_.got) == {2.0}


# ----------------------------------------------------------------------
# A network whose output needs no gradient
# ----------------------------------------------------------------------
@pytest.mark.parametrize("module", [Frozen, Detached])
@pytest.mark.parametrize("settings", [{}, {**SAMPLE_RULE, "compact": True, **QUARTER}])
def test_an_output_without_gradient_is_refused_with_its_causes(module, settings):
    X, y = _data(40)
    clf = RSFTClassifier(module, max_epochs=1, random_state=0, **settings)
    with pytest.raises(
        ValueError, match="The training loss does not require grad"
    ) as info:
        clf.fit(X, y)
    message = str(info.value)
    assert "frozen" in message
    assert ".detach()" in message


def test_a_network_with_some_parameters_frozen_trains():
    X, y = _data(40)
    module = MLPModule(5, 2, hidden_layer_sizes=(8,))
    first = next(module.parameters())
    first.requires_grad_(False)
    before = [p.detach().clone() for p in module.parameters()]
    clf = RSFTClassifier(module, max_epochs=2, random_state=0).fit(X, y)
    after = [p.detach() for p in clf.module_.parameters()]
    # The frozen parameter stays; every other one moves.
    assert torch.equal(after[0], before[0])
    assert len(after) > 1
    for old, new in zip(before[1:], after[1:]):
        assert not torch.equal(old, new)
    assert np.isfinite(clf.history[-1, "train_loss"])
