"""RejectionLoss: the rule as a PyTorch loss module, outside any estimator."""

import io
import re

import numpy as np
import pytest
import torch
from torch import nn

from rsft_sklearn import (
    RejectionLoss,
    _guards,
    _loss,
    acceptance_probability,
    class_target_weight,
    correct_proba,
    rejection_mask,
)


def _batch(n=64, n_features=5, n_classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, n_features, generator=g)
    y = torch.randint(n_classes, (n,), generator=g)
    return X, y


def _grads(module):
    return [p.grad.detach().clone() for p in module.parameters()]


@pytest.mark.parametrize("hardness", [0.0, 1.0, 2.0])
def test_gradient_is_the_gradient_of_the_accepted_subset(hardness):
    X, y = _batch()
    module = nn.Linear(5, 3)
    weight = torch.tensor([0.2, 0.5, 1.0])
    loss_fn = RejectionLoss(
        class_weight=weight,
        M=1.5,
        hardness=hardness,
        generator=torch.Generator().manual_seed(3),
    )
    state = loss_fn.generator.get_state()
    loss_fn(module(X), y).backward()
    got = _grads(module)

    with torch.no_grad():
        a = acceptance_probability(module(X), y, weight[y], 1.5, hardness)
    mask = rejection_mask(a, torch.Generator().set_state(state)).bool()
    assert 0 < int(mask.sum()) < len(y)
    module.zero_grad()
    nn.functional.cross_entropy(module(X[mask]), y[mask]).backward()
    for g_loss, g_subset in zip(got, _grads(module)):
        torch.testing.assert_close(g_loss, g_subset, rtol=1e-5, atol=1e-7)


def test_batch_normaliser_divides_by_the_batch_size():
    X, y = _batch()
    module = nn.Linear(5, 3)
    g = torch.Generator().manual_seed(0)
    loss_fn = RejectionLoss(
        class_weight=[0.3, 0.6, 1.0], loss_normalization="batch", generator=g
    )
    state = g.get_state()
    logits = module(X)
    loss = loss_fn(logits, y)
    loss_fn.generator.set_state(state)
    mask, _, _ = loss_fn.select(logits, y)
    losses = nn.functional.cross_entropy(logits, y, reduction="none")
    torch.testing.assert_close(loss, (losses * mask).sum() / len(y))


def test_expected_weights_the_losses_by_the_acceptance():
    X, y = _batch()
    logits = nn.Linear(5, 3)(X)
    weight = torch.tensor([0.2, 0.5, 1.0])
    loss_fn = RejectionLoss(class_weight=weight, M=2.0, rejection="expected")
    a = acceptance_probability(logits, y, weight[y], 2.0)
    losses = nn.functional.cross_entropy(logits, y, reduction="none")
    torch.testing.assert_close(loss_fn(logits, y), (losses * a).sum() / a.sum())


def test_evaluation_mode_returns_the_plain_mean_and_counts_nothing():
    X, y = _batch()
    logits = nn.Linear(5, 3)(X)
    loss_fn = RejectionLoss(n_classes=3, M=10.0).eval()
    expected = nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(loss_fn(logits, y), expected)
    assert loss_fn.counts.sum() == 0


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(weight=torch.tensor([1.0, 9.0, 3.0])),
        dict(ignore_index=2),
        dict(weight=torch.tensor([1.0, 9.0, 3.0]), ignore_index=0),
        dict(weight=torch.tensor([1.0, 9.0, 3.0]), label_smoothing=0.2),
    ],
)
def test_evaluation_mean_of_weighted_criteria_is_torchs(kwargs):
    # The mean of the class-weighted per-sample losses was divided by the
    # number of rows: RSFT's valid_loss was not skorch's or torch's.
    from rsft_sklearn import RSFTClassifier

    torch.manual_seed(0)
    logits, y = torch.randn(40, 3), torch.randint(0, 3, (40,))
    expected = nn.CrossEntropyLoss(**kwargs)(logits, y)
    loss = RejectionLoss(nn.CrossEntropyLoss(reduction="none", **kwargs)).eval()
    torch.testing.assert_close(loss(logits, y), expected)
    clf = RSFTClassifier(
        module__n_features=2,
        module__n_classes=3,
        **{f"criterion__{key}": value for key, value in kwargs.items()},
    ).initialize()
    torch.testing.assert_close(clf.get_loss(logits, y, training=False), expected)
    # Labels of another integer dtype (uint8 read as a mask when indexing).
    torch.testing.assert_close(
        clf.get_loss(logits, y.to(torch.uint8), training=False), expected
    )
    nll = RejectionLoss(nn.NLLLoss(reduction="none", weight=kwargs.get("weight")))
    torch.testing.assert_close(
        nll.eval()(torch.log_softmax(logits, 1), y),
        nn.NLLLoss(weight=kwargs.get("weight"))(torch.log_softmax(logits, 1), y),
    )


def test_any_per_sample_criterion_can_be_wrapped():
    X, y = _batch()
    logits = nn.Linear(5, 3)(X)
    base = nn.NLLLoss(reduction="none")
    loss_fn = RejectionLoss(base, n_classes=3, M=1e-6)  # accepts everything
    expected = nn.functional.nll_loss(torch.log_softmax(logits, 1), y)
    torch.testing.assert_close(
        loss_fn(torch.log_softmax(logits, 1), y), expected, rtol=1e-6, atol=1e-7
    )
    assert loss_fn.base_criterion is base


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"criterion": nn.CrossEntropyLoss()}, "reduction='none'"),
        ({"M": 0.0}, "M must be finite and > 0"),
        ({"M": "auto"}, "target_acceptance"),
        ({"rejection": "epoch"}, "rejection"),
        ({"loss_normalization": "mean"}, "loss_normalization"),
        ({"M": "auto", "target_acceptance": 0.5, "smoothing": "a"}, "smoothing"),
        ({"M": "auto", "target_acceptance": 0.5, "smoothing": 0.0}, "smoothing"),
    ],
)
def test_bad_arguments_are_refused(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RejectionLoss(**kwargs)


def test_epoch_statistics_count_per_class_on_the_device():
    y = torch.tensor([0, 0, 0, 1, 2, 2])
    loss_fn = RejectionLoss(class_weight=[1.0, 1.0, 1.0], M=1e-6)
    loss_fn(torch.zeros(6, 3, requires_grad=True), y)
    stats = loss_fn.epoch_statistics()
    assert stats["seen"].tolist() == [3.0, 1.0, 2.0]
    assert stats["accepted"].tolist() == [3.0, 1.0, 2.0]
    assert float(stats["M"]) == pytest.approx(1e-6)
    loss_fn.begin_epoch(M=2.0, rejecting=False)
    assert loss_fn.counts.sum() == 0
    assert float(loss_fn.epoch_statistics()["M"]) == 2.0
    # The statistics are a snapshot: the next epoch's counts and an in-place
    # change of the returned tensors leave each other alone.
    assert stats["seen"].tolist() == [3.0, 1.0, 2.0]
    loss_fn(torch.zeros(6, 3, requires_grad=True), y)
    later = loss_fn.epoch_statistics()
    later["seen"].zero_()
    assert loss_fn.epoch_statistics()["seen"].tolist() == [3.0, 1.0, 2.0]


def test_state_dict_holds_the_state_between_steps():
    X, y = _batch()
    logits = nn.Linear(5, 3)(X)
    loss_fn = RejectionLoss(
        class_weight=[0.2, 0.5, 1.0], M="auto", target_acceptance=0.3
    )
    loss_fn(logits, y)
    state = loss_fn.state_dict()
    assert {"class_weight", "M", "log_M", "M_started", "epoch_log_M", "counts"} <= set(
        state
    )
    # A module built before the data were seen takes the saved sizes.
    f = io.BytesIO()
    torch.save(state, f)
    f.seek(0)
    fresh = RejectionLoss(M="auto", target_acceptance=0.3)
    fresh.load_state_dict(torch.load(f))
    for name in state:
        torch.testing.assert_close(getattr(fresh, name), state[name], equal_nan=True)
    # Both continue with the same M.
    loss_fn.select(logits, y)
    fresh.select(logits, y)
    assert torch.equal(loss_fn.log_M, fresh.log_M)


def test_a_step_reads_nothing_on_the_host(no_host_reads, monkeypatch):
    X, y = _batch()
    module = nn.Linear(5, 3)
    # As on an accelerator: sample weights in the host's memory are checked
    # there (reading them makes nobody wait), elsewhere not.
    monkeypatch.setattr(_guards, "HOST_READ_DEVICES", ())
    for kwargs in (
        {},
        {"M": "auto", "target_acceptance": 0.5},
        {"rejection": "expected"},
    ):
        loss_fn = RejectionLoss(class_weight=[0.2, 0.5, 1.0], **kwargs)
        with no_host_reads():
            loss = loss_fn(module(X), y, sample_weight=torch.rand(len(y)) + 0.5)
            loss.backward()
            loss_fn.epoch_statistics()


def test_pickling_drops_the_generator_and_keeps_the_buffers():
    import pickle

    loss_fn = RejectionLoss(class_weight=[0.5, 1.0], generator=torch.Generator())
    again = pickle.loads(pickle.dumps(loss_fn))
    assert again.generator is None
    assert torch.equal(again.class_weight, loss_fn.class_weight)


def test_plain_pytorch_loop_learns_the_rare_class():
    rng = np.random.default_rng(0)
    y = torch.as_tensor((rng.random(2000) < 0.05).astype(np.int64))
    X = torch.as_tensor(rng.normal(size=(2000, 2)), dtype=torch.float32)
    X[:, 0] += 2.5 * y
    module = nn.Linear(2, 2)
    counts = torch.bincount(y).float()
    loss_fn = RejectionLoss(class_weight=counts.min() / counts)
    optimizer = torch.optim.Adam(module.parameters(), lr=0.05)
    for _ in range(5):
        loss_fn.begin_epoch()
        for idx in torch.randperm(len(y)).split(100):
            optimizer.zero_grad()
            loss_fn(module(X[idx]), y[idx]).backward()
            optimizer.step()
    rate = loss_fn.epoch_statistics()
    assert float(rate["accepted"][0] / rate["seen"][0]) < 0.5
    recall = (module(X).argmax(1)[y == 1] == 1).float().mean()
    assert recall > 0.7


def test_a_module_built_without_classes_weighs_every_class_one():
    loss_fn = RejectionLoss(M=1.0)
    logits = torch.zeros(4, 3, requires_grad=True)
    loss_fn(logits, torch.tensor([0, 1, 2, 2]))
    assert loss_fn.class_weight.tolist() == [1.0, 1.0, 1.0]
    assert loss_fn.epoch_statistics()["seen"].tolist() == [1.0, 1.0, 2.0]


def test_fixed_M_acceptance_follows_every_change_of_weights_and_M():
    # select takes log w - log M from a per-class table; every way of
    # changing w or M must show in the next step's acceptance.
    import copy

    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(200, 3, generator=generator) * 3
    y = torch.randint(0, 3, (200,), generator=generator)
    loss = RejectionLoss(class_weight=[0.2, 1.0, 4.0], M=2.0, rejection="expected")

    def check(module):
        expected = acceptance_probability(
            logits, y, module.class_weight.index_select(0, y), module.M, module.hardness
        )
        assert torch.equal(module.select(logits, y)[2], expected)

    check(loss)
    loss.begin_epoch(M=0.5, hardness=2.0)
    check(loss)
    loss.set_class_weight([1.0, 1.0, 9.0])
    check(loss)
    other = RejectionLoss(class_weight=[3.0, 0.5, 0.1], M=4.0, rejection="expected")
    loss.load_state_dict(other.state_dict())
    check(loss)
    loss.class_weight.mul_(2.0)
    check(loss)
    clone = copy.deepcopy(loss)
    clone.M.fill_(8.0)
    check(clone)
    check(loss)
    # With sample weights the general path runs; the same function.
    sample_weight = torch.linspace(0.5, 2.0, 200)
    expected = acceptance_probability(
        logits, y, loss.class_weight.index_select(0, y) * sample_weight, loss.M, 2.0
    )
    torch.testing.assert_close(loss.select(logits, y, sample_weight)[2], expected)


# ----------------------------------------------------------------------------
# Bad input: named errors, not errors from inside torch
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"class_weight": [1.0, -1.0, 1.0]}, "class_weight must be finite and > 0"),
        ({"class_weight": [1.0, 0.0, 1.0]}, "class_weight must be finite and > 0"),
        ({"class_weight": [1.0, float("nan")]}, "class_weight must be finite and > 0"),
        ({"class_weight": [[1.0, 2.0]]}, "one weight per class"),
        ({"class_weight": [1.0, 2.0], "n_classes": 3}, "n_classes=3 but class_weight"),
        ({"n_classes": 3, "hardness": -1}, "hardness must be a finite number >= 0"),
        ({"n_classes": 3, "hardness": float("inf")}, "hardness must be a finite"),
    ],
)
def test_bad_construction_is_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RejectionLoss(**kwargs)


def test_set_class_weight_refuses_what_the_constructor_refuses():
    loss_fn = RejectionLoss(n_classes=3)
    with pytest.raises(ValueError, match="class_weight must be finite and > 0"):
        loss_fn.set_class_weight([1.0, -2.0, 1.0])
    # The module is unchanged by the refused call.
    torch.testing.assert_close(loss_fn.class_weight, torch.ones(3))


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    "logits, y, weight, error, match",
    [
        (torch.randn(4), torch.tensor([0, 1, 2, 1]), None, ValueError, "2-d tensor"),
        (
            torch.randn(4, 3),
            torch.tensor([0, 1, 2]),
            None,
            ValueError,
            "logits have 4 rows but y holds 3 labels",
        ),
        (
            torch.randn(4, 3),
            torch.zeros(4, 1, dtype=torch.long),
            None,
            ValueError,
            "1-d",
        ),
        (torch.randn(4, 3), torch.tensor([0.0, 1, 2, 1]), None, TypeError, "integer"),
        (torch.randn(4, 5), torch.tensor([0, 1, 2, 1]), None, ValueError, "5 columns"),
        (
            torch.randn(4, 3),
            torch.tensor([0, 1, 2, 1]),
            torch.ones(3),
            ValueError,
            r"sample_weight must be a tensor of shape \(4,\)",
        ),
        (
            torch.randn(4, 3),
            torch.tensor([0, 1, 2, 1]),
            torch.ones(4, 2),
            ValueError,
            r"got Tensor of shape \(4, 2\)",
        ),
        (
            torch.randn(4, 3),
            torch.tensor([0, 1, 2, 1]),
            [1.0, 1.0, 1.0, 1.0],
            ValueError,
            "got list",
        ),
        ([[0.0, 1.0, 2.0]], torch.tensor([0]), None, TypeError, "got list"),
    ],
)
def test_bad_batch_is_named(training, logits, y, weight, error, match):
    loss_fn = RejectionLoss(n_classes=3, generator=torch.Generator().manual_seed(0))
    loss_fn.train(training)
    with pytest.raises(error, match=match):
        loss_fn(logits, y, weight)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("rejection", ["sample", "expected"])
@pytest.mark.parametrize(
    "weight, error, match",
    [
        (
            torch.tensor([1.0, -0.5, 1.0, 1.0]),
            ValueError,
            r"finite values >= 0, got \[-0.5\]",
        ),
        (torch.tensor([1.0, float("nan"), 1.0, 1.0]), ValueError, r"got \[nan\]"),
        (torch.tensor([1.0, float("inf"), 1.0, 1.0]), ValueError, r"got \[inf\]"),
        (torch.ones(4, dtype=torch.bool), TypeError, "real numbers"),
        (torch.ones(4, dtype=torch.complex64), TypeError, "real numbers"),
    ],
)
def test_bad_sample_weight_values_are_named(training, rejection, weight, error, match):
    # A negative or NaN weight made the row's acceptance NaN: under "sample"
    # the row was silently never drawn, under "expected" the loss was NaN.
    loss_fn = RejectionLoss(n_classes=3, rejection=rejection)
    loss_fn.train(training)
    with pytest.raises(error, match=match):
        loss_fn(torch.randn(4, 3), torch.tensor([0, 1, 2, 1]), weight)


def test_the_estimators_steps_do_not_read_the_weights_again(monkeypatch):
    # fit checks the sample weights once; its steps leave them unread, as
    # any loss does on an accelerator.
    from rsft_sklearn import RSFTClassifier

    read = []
    real = _loss._reads_are_free

    def recording(tensor):
        read.append(tensor.device.type)
        return real(tensor)

    monkeypatch.setattr(_loss, "_reads_are_free", recording)
    rng = np.random.RandomState(0)
    X, y = rng.randn(64, 3).astype(np.float32), np.r_[np.zeros(48), np.ones(16)]
    clf = RSFTClassifier(max_epochs=1, batch_size=16, warmup_epochs=0)
    clf.fit(X, y, sample_weight=rng.rand(64) + 0.5)
    assert clf.criterion_._weights_checked
    assert read == []
    # A loss of one's own still checks them.
    with pytest.raises(ValueError, match="finite values >= 0"):
        RejectionLoss(n_classes=2)(
            torch.randn(2, 2), torch.tensor([0, 1]), -torch.ones(2)
        )
    assert read


def test_valid_sample_weights_of_any_real_dtype_train():
    loss_fn = RejectionLoss(n_classes=3, rejection="expected")
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 1])
    for weight in (torch.tensor([0.0, 1.0, 2.0, 0.5]), torch.tensor([0, 1, 2, 3])):
        assert torch.isfinite(loss_fn(logits, y, weight))


@pytest.mark.parametrize("training", [True, False])
def test_class_index_out_of_range_is_named(training):
    loss_fn = RejectionLoss(n_classes=3, generator=torch.Generator().manual_seed(0))
    loss_fn.train(training)
    for bad in (3, -1):
        y = torch.tensor([0, 1, bad, 1])
        with pytest.raises(ValueError, match=rf"outside \[0, 3\): \[{bad}\]"):
            loss_fn(torch.randn(4, 3), y)
    # A valid batch afterwards trains as usual.
    assert torch.isfinite(loss_fn(torch.randn(4, 3), torch.tensor([0, 1, 2, 1])))


class _ColumnLoss(torch.nn.Module):
    """Per-sample losses as a column (n, 1)."""

    reduction = "none"

    def forward(self, logits, y):
        return torch.nn.functional.cross_entropy(logits, y, reduction="none")[:, None]


class _IgnoresReduction(torch.nn.Module):
    """Says reduction='none' but returns the batch mean."""

    reduction = "none"

    def forward(self, logits, y):
        return torch.nn.functional.cross_entropy(logits, y)


@pytest.mark.parametrize(
    "criterion, shape", [(_ColumnLoss, "(6, 1)"), (_IgnoresReduction, "()")]
)
@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
@pytest.mark.parametrize("rejecting", [True, False])
def test_criterion_must_return_one_loss_per_sample(
    criterion, shape, prior_correction, rejecting
):
    # A column would broadcast against the weights into an (n, n) matrix,
    # and a scalar would make the rule a no-op: both silently wrong.
    loss = RejectionLoss(
        criterion(),
        n_classes=3,
        rejection="expected",
        prior_correction=prior_correction,
    )
    loss.begin_epoch(M=1.0, hardness=1.0, rejecting=rejecting)
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    with pytest.raises(
        ValueError, match=rf"one loss per sample .*got shape {re.escape(shape)}"
    ):
        loss(torch.randn(6, 3), y)


@pytest.mark.parametrize("dtype", [torch.int32, torch.int16, torch.int8, torch.uint8])
@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
def test_integer_labels_of_any_width(dtype, prior_correction):
    # int32 labels (torch.from_numpy of an int32 array) once crashed inside
    # cross_entropy or index_select; they are converted on the device.
    logits = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    loss = RejectionLoss(
        n_classes=3, rejection="expected", prior_correction=prior_correction
    )
    expected = loss(logits, y)
    loss = RejectionLoss(
        n_classes=3, rejection="expected", prior_correction=prior_correction
    )
    torch.testing.assert_close(loss(logits, y.to(dtype)), expected)
    torch.testing.assert_close(
        loss.select(logits, y.to(dtype))[2], loss.select(logits, y)[2]
    )


@pytest.mark.parametrize(
    "criterion", [nn.BCEWithLogitsLoss, nn.MSELoss, nn.KLDivLoss, nn.L1Loss]
)
def test_criteria_on_targets_of_the_output_shape_are_refused(criterion):
    # The rule hands the criterion class indices; these once failed inside
    # torch with a shape error at the first step.
    with pytest.raises(TypeError, match="class indices"):
        RejectionLoss(criterion(reduction="none"), n_classes=2)


def test_state_dict_of_another_M_setting_is_refused():
    adaptive = RejectionLoss(n_classes=2, M="auto", target_acceptance=0.5)
    fixed = RejectionLoss(n_classes=2, M=2.0)
    # Once: a fixed loss took the adaptive one's NaN M and returned 0.
    with pytest.raises(ValueError, match="M='auto', and this one has a fixed M"):
        fixed.load_state_dict(adaptive.state_dict())
    with pytest.raises(ValueError, match="a fixed M, and this one has M='auto'"):
        adaptive.load_state_dict(fixed.state_dict())
    other = RejectionLoss(n_classes=2, M=3.0)
    other.load_state_dict(fixed.state_dict())
    assert float(other.M) == 2.0
    # A refused load changes nothing: the batches still pending stay.
    y = torch.tensor([0, 1, 1])
    fixed(torch.zeros(3, 2, requires_grad=True), y)
    with pytest.raises(ValueError, match="M='auto'"):
        fixed.load_state_dict(adaptive.state_dict())
    assert fixed.epoch_statistics()["seen"].tolist() == [1.0, 2.0]


def test_row_weighted_weights_are_checked_as_sample_weights():
    loss_fn = RejectionLoss(n_classes=2)
    loss_fn.row_weighted = True
    logits, y = torch.zeros(3, 2, requires_grad=True), torch.tensor([0, 1, 1])
    for bad in ([1.0, -5.0, 1.0], [1.0, float("nan"), 1.0], [float("inf"), 1, 1]):
        with pytest.raises(ValueError, match="finite values >= 0"):
            loss_fn(logits, y, torch.tensor(bad))
    # The two-column form (stored acceptances) is checked in both columns.
    with pytest.raises(ValueError, match="finite values >= 0"):
        loss_fn(logits, y, torch.tensor([[1.0, 1.0], [1.0, float("nan")], [1, 1]]))
    assert torch.isfinite(loss_fn(logits, y, torch.tensor([0.5, 0.0, 2.0])))


# ----------------------------------------------------------------------
# State and input checks of the loss used on its own
# ----------------------------------------------------------------------
def test_load_state_dict_drops_batches_recorded_before_it():
    # They were added to the loaded counts ([15, 15] seen over a state of 0).
    loss = RejectionLoss(n_classes=2)
    saved = loss.state_dict()
    y = torch.tensor([0, 1] * 5)
    for _ in range(3):
        loss(torch.randn(10, 2), y)
    loss.load_state_dict(saved)
    assert loss.epoch_statistics()["seen"].tolist() == [0.0, 0.0]


def test_a_prior_set_before_the_first_batch_is_kept_without_n_classes():
    # The first batch sized the class weights and reset the prior to 0.
    logits, y = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 1])
    losses = []
    for n_classes in (None, 2):
        loss = RejectionLoss(
            n_classes=n_classes, rejection="expected", M=1e-6, prior_correction=1.0
        )
        loss.set_class_prior([990.0, 10.0])
        losses.append(float(loss(logits, y)))
    # The prior mass plus the batch's own (every row accepted).
    prior = torch.tensor([991.0, 11.0]) / 1002.0
    reference = torch.nn.functional.cross_entropy(logits + torch.log(prior), y)
    assert losses == pytest.approx([float(reference)] * 2, rel=1e-5)


@pytest.mark.parametrize(
    "prior", [[0.5, float("nan")], [-0.1, 1.1], [[0.5, 0.5]], [0.2, 0.3, 0.5], [0, 0]]
)
def test_set_class_prior_refuses_what_is_not_a_prior(prior):
    loss = RejectionLoss(n_classes=2, prior_correction=1.0)
    with pytest.raises(ValueError, match="class_prior must hold one finite share"):
        loss.set_class_prior(prior)


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"criterion": torch.nn.CrossEntropyLoss}, TypeError, "loss instance"),
        ({"criterion": "cross_entropy"}, TypeError, "loss instance"),
        ({"class_weight": {0: 1.0, 1: 2.0}}, TypeError, "class_target_weight"),
        ({"class_weight": [1e-50, 1.0]}, ValueError, "rounds to 0"),
        ({"n_classes": 2.7}, ValueError, "n_classes must be a whole number"),
        ({"n_classes": -1}, ValueError, "n_classes must be a whole number"),
        ({"M": "3"}, ValueError, "M must be a number"),
        ({"M": "auto", "target_acceptance": True}, ValueError, "target_acceptance"),
    ],
)
def test_constructor_names_bad_settings(kwargs, error, match):
    with pytest.raises(error, match=match):
        RejectionLoss(**kwargs)


@pytest.mark.parametrize("hardness", [-1.0, float("nan"), True])
def test_begin_epoch_checks_hardness(hardness):
    loss = RejectionLoss(n_classes=2)
    with pytest.raises(ValueError, match="hardness must be a finite number"):
        loss.begin_epoch(hardness=hardness)


def test_an_empty_batch_costs_nothing_under_the_batch_normaliser():
    loss = RejectionLoss(n_classes=2, loss_normalization="batch")
    out = loss(torch.zeros(0, 2), torch.zeros(0, dtype=torch.long))
    assert float(out) == 0.0


def test_acceptance_probability_checks_hardness_and_weight_shapes():
    logits, y = torch.randn(3, 3), torch.tensor([0, 1, 2])
    for hardness in (-1.0, float("nan")):
        with pytest.raises(ValueError, match="hardness must be"):
            acceptance_probability(logits, y, 1.0, hardness=hardness)
    for weight in (torch.ones(3, 1), torch.ones(2)):
        with pytest.raises(ValueError, match=r"one weight per sample, shape \(3,\)"):
            acceptance_probability(logits, y, weight)
    assert acceptance_probability(logits, y, torch.ones(3)).shape == (3,)


def test_class_target_weight_checks_sample_weights_and_never_underflows():
    with pytest.raises(ValueError, match="finite weights >= 0"):
        class_target_weight([0, 1, 1], 2, sample_weight=[1.0, float("nan"), 1.0])
    with pytest.raises(ValueError, match="one finite weight >= 0 per label"):
        class_target_weight([0, 1, 1], 2, sample_weight=[1.0, 1.0])
    # A large power left one class at weight 0: never accepted.
    weight = class_target_weight([0] * 9 + [1], 2, power=200)
    assert weight[1] == 1.0 and weight[0] > 0


def test_correct_proba_takes_the_loss_epoch_M():
    loss = RejectionLoss(n_classes=2, M=2.0)
    proba = np.array([[0.7, 0.3]])
    M = loss.epoch_statistics()["M"]
    np.testing.assert_allclose(
        correct_proba(proba, [1.0, 1.0], M=M), correct_proba(proba, [1.0, 1.0], M=2.0)
    )


def test_scalars_of_numpy_and_torch_are_taken_where_numbers_are():
    # The checks added for bad values must not refuse what worked before.
    loss = RejectionLoss(M=np.array(2.0), n_classes=torch.tensor(3), hardness=1.0)
    assert float(loss.M) == 2.0 and loss.class_weight.shape == (3,)
    assert RejectionLoss(n_classes=3.0).class_weight.shape == (3,)
    loss.begin_epoch(M=np.float32(3.0), hardness=torch.tensor(0.5))
    assert float(loss.M) == 3.0 and loss.hardness == 0.5
    logits, y = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    one = acceptance_probability(logits, y, torch.ones(1), hardness=np.array(1.0))
    torch.testing.assert_close(one, acceptance_probability(logits, y, 1.0))


def test_a_prior_of_another_length_is_named_at_the_first_batch():
    loss = RejectionLoss(prior_correction=1.0, rejection="expected")
    loss.set_class_prior([0.5, 0.3, 0.2])
    with pytest.raises(ValueError, match="set_class_prior was given 3 classes"):
        loss(torch.randn(4, 2), torch.tensor([0, 1, 0, 1]))


def test_class_target_weight_with_subnormal_sample_weights():
    # 1 / n_k overflowed to inf, and the weights came out NaN.
    weight = class_target_weight([0, 0, 1], 2, sample_weight=[1e-320, 1e-320, 1.0])
    assert np.isfinite(weight).all() and weight.max() == 1.0
    np.testing.assert_array_equal(weight, [1.0, np.finfo(np.float32).tiny])


def _warm_up(weights):
    """Logits and labels of 8 rows, their sample weights, and a loss of
    three equal classes in a warm-up epoch."""
    X, y = _batch(8)
    loss_fn = RejectionLoss(class_weight=[1.0, 1.0, 1.0])
    loss_fn.begin_epoch(rejecting=False)
    return nn.Linear(5, 3)(X), y, torch.tensor(weights), loss_fn


def test_a_warm_up_batch_weights_its_rows_by_their_sample_weights():
    # The warm-up took the plain mean: rows of weight 0 trained, and a
    # weight of 3 counted once.
    logits, y, weight, loss_fn = _warm_up([0.0, 3.0, 1.0, 1.0, 0.0, 0.5, 2.0, 0.5])
    losses = nn.functional.cross_entropy(logits, y, reduction="none")
    torch.testing.assert_close(
        loss_fn(logits, y, weight), (losses * weight).sum() / weight.sum()
    )
    assert float(loss_fn.step_accepted) == 6
    # The prior after rejection counts each class by its rows' weights.
    stats = loss_fn.epoch_statistics()
    expected = torch.zeros(3, dtype=torch.float64).index_add_(0, y, weight.double())
    torch.testing.assert_close(stats["acceptance"], expected)
    # A batch of weights 0 accepts nothing: the step is skipped.
    loss_fn(logits, y, torch.zeros(8))
    assert float(loss_fn.step_accepted) == 0


def test_steps_on_rows_selected_ahead_take_them_as_they_are():
    # Under "pool" and "epoch" the rows were accepted with the sample
    # weights in their acceptance; weighting their losses again counted
    # the weights twice.
    logits, y, weight, loss_fn = _warm_up([0.5, 3.0, 1.0, 1.0, 2.0, 0.5, 2.0, 0.5])
    loss_fn.count_steps = False
    plain = nn.functional.cross_entropy(logits, y)
    torch.testing.assert_close(loss_fn(logits, y, weight), plain)


def test_an_empty_part_under_batch_normalisation_has_a_loss_of_zero():
    loss_fn = RejectionLoss(
        class_weight=[1.0, 1.0], loss_normalization="batch", process_sum=lambda t: t
    )
    logits = torch.zeros(0, 2, requires_grad=True)
    assert float(loss_fn(logits, torch.zeros(0, dtype=torch.long))) == 0.0


# ----------------------------------------------------------------------
# The public select checks what forward checks; refused batches change
# nothing
# ----------------------------------------------------------------------
@pytest.mark.parametrize(
    "logits, y, error, message",
    [
        # a float label was truncated (0.7 read as class 0)
        (torch.zeros(4, 3), torch.tensor([0.7, 1.2, 2.9, 1.0]), TypeError, "integer"),
        # 4 columns against 3 class weights: acceptances of ones
        (torch.zeros(4, 4), torch.tensor([0, 1, 2, 1]), ValueError, "4 columns"),
        # 4 rows, 3 labels: 3 acceptances, silently misaligned
        (torch.zeros(4, 3), torch.tensor([0, 1, 2]), ValueError, "4 rows but y holds"),
        (torch.zeros(3, 3), torch.tensor([0, 1, 3]), ValueError, r"outside \[0, 3\)"),
        (torch.zeros(3, 3), np.array([0, 1, 2]), TypeError, "1-d tensor.*got ndarray"),
        (torch.zeros(3, 3), [0, 1, 2], TypeError, "got list; convert it"),
    ],
)
def test_select_checks_its_batch_as_forward_does(logits, y, error, message):
    loss_fn = RejectionLoss(
        class_weight=[0.2, 0.5, 1.0], M="auto", target_acceptance=0.5
    )
    with pytest.raises(error, match=message):
        loss_fn.select(logits, y)
    # M="auto" did not move on the refused batch
    assert not bool(loss_fn.M_started)
    with pytest.raises(ValueError, match="sample_weight must hold finite values"):
        loss_fn.select(torch.zeros(2, 3), torch.tensor([0, 1]), torch.tensor([1.0, -1]))


def test_a_refused_warm_up_batch_is_not_counted():
    # Its labels were recorded before the step failed: the next read of the
    # counts failed inside torch, and then read [2, 4] for [2, 6].
    logits = torch.zeros(4, 2)
    good = torch.tensor([0, 1, 1, 1])
    for prior_correction in (0.0, 1.0):
        loss_fn = RejectionLoss(
            class_weight=[0.5, 1.0], prior_correction=prior_correction
        )
        loss_fn.begin_epoch(rejecting=False)
        loss_fn(logits, good)
        with pytest.raises(ValueError, match=r"outside \[0, 2\): \[2\]"):
            loss_fn(logits, torch.tensor([0, 1, 2, 1]))
        loss_fn(logits, good)
        assert loss_fn.epoch_statistics()["seen"].tolist() == [2, 6]


def test_a_prior_of_the_wrong_length_is_refused_at_every_call():
    # The first call refused it but dropped it: the second trained with a
    # prior mass of zeros.
    loss_fn = RejectionLoss(rejection="expected", prior_correction=1.0)
    loss_fn.set_class_prior([0.8, 0.1, 0.1])
    logits, y = torch.zeros(8, 2), torch.tensor([0, 1] * 4)
    for _ in range(2):
        with pytest.raises(ValueError, match="given 3 classes, but the logits have 2"):
            loss_fn(logits, y)
    torch.testing.assert_close(
        loss_fn.prior_mass, torch.tensor([0.8, 0.1, 0.1], dtype=torch.float64)
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"prior_correction": True}, "prior_correction, the scale of the logit"),
        ({"M": 10**400}, "M must be finite"),
        ({"hardness": 10**400}, "hardness must be a finite number"),
    ],
)
def test_loss_refuses_bools_and_numbers_beyond_floats(kwargs, message):
    # True trained as 1; 10**400 raised OverflowError from float().
    with pytest.raises(ValueError, match=message):
        RejectionLoss(**kwargs)


def test_the_estimator_refuses_a_hardness_beyond_floats_by_name():
    # 10**400 passed the parameter check (an Integral >= 0) and failed in
    # float() with OverflowError at the first epoch.
    from rsft_sklearn import RSFTClassifier

    X = np.random.default_rng(0).normal(size=(40, 3)).astype(np.float32)
    y = np.arange(40) % 2
    with pytest.raises(
        ValueError, match="hardness must be a finite number >= 0, got inf"
    ):
        RSFTClassifier(max_epochs=1, hardness=10**400).fit(X, y)


def test_counts_do_not_follow_a_label_buffer_the_caller_reuses():
    # The pending counts held the caller's y: a loop that refills one label
    # buffer counted its last labels for every pending batch.
    loss_fn = RejectionLoss(class_weight=[0.2, 1.0])
    buffer = torch.empty(4, dtype=torch.long)
    for labels in ([0, 0, 0, 0], [0, 0, 0, 0], [1, 1, 1, 1]):
        buffer.copy_(torch.tensor(labels))
        loss_fn(torch.zeros(4, 2, requires_grad=True), buffer).backward()
    assert loss_fn.epoch_statistics()["seen"].tolist() == [8, 4]


def test_padding_label_in_a_warmup_step_is_refused_and_not_kept():
    # A criterion with ignore_index takes a padding label of -100, and a
    # warm-up step indexes nothing by the labels: the batch was counted as it
    # was, and every later reader of the counts (epoch_statistics,
    # state_dict, the 64th step) failed with torch's IndexError.
    criterion = nn.CrossEntropyLoss(ignore_index=-100, reduction="none")
    loss = RejectionLoss(criterion, n_classes=3)
    loss.begin_epoch(rejecting=False)
    logits = torch.randn(4, 3)
    with pytest.raises(ValueError, match=re.escape("outside [0, 3): [-100]")):
        loss(logits, torch.tensor([0, 1, 2, -100]))
    for _ in range(70):
        loss(logits, torch.tensor([0, 1, 2, 0]))
    assert loss.epoch_statistics()["seen"].tolist() == [140.0, 70.0, 70.0]


def test_labels_recorded_outside_the_classes_are_dropped_with_a_clear_error():
    # record() is public; a bad batch stays out of the counts once named, and
    # the good batches recorded with it are kept.
    loss = RejectionLoss(n_classes=3)
    ones = torch.ones(2)
    loss.record(torch.tensor([0, 1]), ones, ones)
    loss.record(torch.tensor([2, 3]), ones, ones)
    with pytest.raises(ValueError, match=re.escape("outside [0, 3): [3]")):
        loss.flush_counts()
    assert loss.epoch_statistics()["seen"].tolist() == [1.0, 1.0, 0.0]
    assert "counts" in loss.state_dict()


@pytest.mark.parametrize("convert", ["half", "bfloat16"])
def test_a_lower_precision_leaves_the_state_values_untouched(convert):
    # The buffers went through float16/bfloat16 and back to float32: an M of
    # 1e5 became inf (every acceptance 0), a weight of 1e-8 became 0 and 1,995
    # seen rows 1,992.
    loss = RejectionLoss(class_weight=[1e-8, 1.0], M=1e5)
    y = torch.tensor([0] * 1995 + [1] * 2005)
    loss(torch.randn(len(y), 2), y)
    loss.flush_counts()
    before = {k: v.clone() for k, v in loss.state_dict().items()}
    getattr(loss, convert)()
    after = loss.state_dict()
    for name, value in before.items():
        assert after[name].dtype == value.dtype, name
        assert torch.equal(after[name], value), name


def test_first_batch_under_inference_mode_builds_plain_buffers():
    # A loss built without classes made its buffers at its first batch; under
    # torch.inference_mode they were inference tensors, and every later
    # training step failed ("Inference tensors do not track version counter").
    X, y = _batch()
    for M in (1.0, "auto"):
        loss = RejectionLoss(M=M, target_acceptance=0.5)
        with torch.inference_mode():
            loss(X[:, :3], y)
        logits = X[:, :3].clone().requires_grad_()
        loss(logits, y).backward()
        assert logits.grad is not None
        loss.begin_epoch()


@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
def test_training_steps_under_inference_mode_keep_plain_counts(prior_correction):
    # The counts a step adds (at every step with prior_correction, once per
    # 64 batches without) became an inference tensor: the step failed, or
    # every later step outside inference mode did.
    X, y = _batch()
    for kwargs in ({"n_classes": 3}, {}):
        loss = RejectionLoss(prior_correction=prior_correction, **kwargs)
        with torch.inference_mode():
            for _ in range(70):
                loss(X[:, :3], y)
        assert not any(b.is_inference() for b in loss.buffers())
        logits = X[:, :3].clone().requires_grad_()
        loss(logits, y).backward()
        assert logits.grad is not None
        loss.begin_epoch()


def test_a_loss_built_under_inference_mode_trains_outside_it():
    # Its buffers were inference tensors from the start: the first training
    # step failed inside torch.
    X, y = _batch()
    for kwargs in (
        {"n_classes": 3},
        {"class_weight": torch.tensor([1.0, 2.0, 3.0])},
        {"n_classes": 3, "M": "auto", "target_acceptance": 0.5},
    ):
        with torch.inference_mode():
            loss = RejectionLoss(**kwargs)
            loss(X[:, :3], y)
        logits = X[:, :3].clone().requires_grad_()
        loss(logits, y).backward()
        assert logits.grad is not None and torch.isfinite(logits.grad).all()
        loss.begin_epoch()
        assert not any(b.is_inference() for b in loss.buffers())


def test_loss_on_another_device_than_the_logits_is_named():
    loss = RejectionLoss(n_classes=3)
    logits = torch.empty(4, 3, device="meta")
    y = torch.zeros(4, dtype=torch.long, device="meta")
    for call in (loss, loss.select):
        with pytest.raises(ValueError, match=r"loss_fn\.to\('meta'\)"):
            call(logits, y)


def test_bfloat16_class_weights_and_prior_are_read():
    weight = torch.tensor([0.25, 1.0], dtype=torch.bfloat16)
    loss = RejectionLoss(class_weight=weight)
    assert loss.class_weight.tolist() == [0.25, 1.0]
    loss.set_class_weight(weight)
    loss.set_class_prior(torch.tensor([0.75, 0.25], dtype=torch.bfloat16))
    assert loss.prior_mass.tolist() == [0.75, 0.25]


def test_inputs_torch_would_refuse_deep_inside_are_named():
    y = torch.tensor([0, 1, 0, 1])
    with pytest.raises(TypeError, match="logits must be floating-point"):
        RejectionLoss(n_classes=2)(torch.ones(4, 2, dtype=torch.long), y)
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        RejectionLoss(n_classes=2, generator=np.random.default_rng(0))
    with pytest.raises(TypeError, match="acceptance must be a torch.Tensor"):
        rejection_mask([0.2, 0.9])
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        rejection_mask(torch.tensor([0.2]), generator=0)
    with pytest.raises(ValueError, match="encode the labels first"):
        class_target_weight(np.array(["a", "b", "b"]), 2)


def test_empty_batch_has_a_loss_of_zero_in_both_modes():
    loss = RejectionLoss(n_classes=2)
    empty = torch.zeros(0, 2), torch.zeros(0, dtype=torch.long)
    assert float(loss(*empty)) == 0.0
    assert float(loss.eval()(*empty)) == 0.0


def test_training_loss_scale_and_labels_with_criterion_options():
    # Eval mode follows the reduction the owner set (criterion_.reduction
    # said "sum" while the module returned the mean), and a padding label
    # in training names the cause.
    torch.manual_seed(0)
    logits, y = torch.randn(10, 3), torch.tensor([0, 1, 2, 0, 1, 2, 0, 1, 2, 0])
    loss_fn = RejectionLoss(nn.CrossEntropyLoss(reduction="none"), n_classes=3)
    loss_fn.reduction = "sum"
    expected = nn.CrossEntropyLoss(reduction="sum")(logits, y)
    torch.testing.assert_close(loss_fn.eval()(logits, y), expected)
    del loss_fn.reduction
    torch.testing.assert_close(loss_fn(logits, y), nn.CrossEntropyLoss()(logits, y))
    padded = RejectionLoss(
        nn.CrossEntropyLoss(reduction="none", ignore_index=-100), n_classes=3
    )
    with pytest.raises(ValueError, match="drop rows of a padding label"):
        padded(logits, torch.where(y == 2, -100, y))


def test_a_pickled_loss_carries_counts_not_the_recorded_rows():
    # Up to 63 recorded batches (every row's label and acceptance) waited
    # in a list that pickling and deepcopy kept as it was.
    import copy
    import pickle

    torch.manual_seed(0)
    loss_fn = RejectionLoss(n_classes=3, class_weight=[1.0, 0.5, 0.2])
    y = torch.randint(3, (64,))
    for _ in range(5):
        loss_fn(torch.randn(64, 3), y)
    assert loss_fn._pending_counts
    clones = (pickle.loads(pickle.dumps(loss_fn)), copy.deepcopy(loss_fn))
    counts = loss_fn.epoch_statistics()["seen"].clone()
    for clone in clones:
        assert clone._pending_counts == []
        torch.testing.assert_close(clone.epoch_statistics()["seen"], counts)
    torch.testing.assert_close(counts, torch.bincount(y, minlength=3).double() * 5)
