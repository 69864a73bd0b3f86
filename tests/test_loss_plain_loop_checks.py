"""RejectionLoss in a loop of one's own: what it refuses and warns of on every
path (padding labels, reductions, doubled class weights), an adaptive M
under non-finite logits, and the recipes its documentation gives (LBFGS
closures, settings after a state load, validation in evaluation mode)."""

import pickle
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from skorch.dataset import ValidSplit
from torch import nn

from rsft_sklearn import RejectionLoss, RSFTClassifier, RSFTWarning, _loss

# Six rows, two of them padding; the loss of the other four is their plain
# mean, what a loss that trains on them must give.
LOGITS = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
PADDED = torch.tensor([0, 1, 2, -100, -100, 1])
KEPT = PADDED != -100


def _padding_criterion():
    return nn.CrossEntropyLoss(ignore_index=-100, reduction="none")


def _state(loss_fn):
    loss_fn.flush_counts()
    return {
        name: tensor.clone()
        for name, tensor in loss_fn.state_dict().items()
        if tensor.is_floating_point()
    }


def _assert_same_state(after, before):
    assert after.keys() == before.keys()
    for name in before:
        torch.testing.assert_close(
            after[name], before[name], rtol=0, atol=0, equal_nan=True
        )


def _warm_up(count_steps):
    loss_fn = RejectionLoss(_padding_criterion(), n_classes=3)
    loss_fn.rejecting = False
    loss_fn.count_steps = count_steps
    return loss_fn


def _row_weighted():
    loss_fn = RejectionLoss(_padding_criterion(), n_classes=3)
    loss_fn.row_weighted = True
    return loss_fn


def _one_process(tensor):
    return tensor


# Every kind of training step: the warm-up without and with sample weights,
# counting its rows or not (rows selected ahead), on one process and with a
# process_sum (which takes the select path), and the row budget's steps with
# one and two weight columns.
STEPS = {
    "warm-up, count_steps=False": (lambda: _warm_up(False), None),
    "warm-up, count_steps=False, weights": (lambda: _warm_up(False), torch.ones(6)),
    "warm-up, count_steps=True": (lambda: _warm_up(True), None),
    "warm-up, count_steps=True, weights": (lambda: _warm_up(True), torch.ones(6)),
    "row_weighted, one column": (_row_weighted, torch.ones(6)),
    "row_weighted, two columns": (_row_weighted, torch.ones(6, 2)),
}


@pytest.mark.parametrize("process_sum", [False, True])
@pytest.mark.parametrize("step", list(STEPS))
def test_padding_labels_are_refused_in_every_training_step(step, process_sum):
    # A warm-up step with count_steps false and a row-weighted step with one
    # weight per row trained on the padded batch, its loss the sum of the
    # four rows' losses over 6 (0.9135 instead of their mean, 1.3702).
    make, weight = STEPS[step]
    loss_fn = make()
    if process_sum:
        loss_fn.process_sum = _one_process
    args = (LOGITS, PADDED) if weight is None else (LOGITS, PADDED, weight)
    before = _state(loss_fn)
    with pytest.raises(ValueError, match=r"outside \[0, 3\): \[-100\].*padding"):
        loss_fn(*args)
    # The refused step changed nothing.
    _assert_same_state(_state(loss_fn), before)
    # The batch without its padding rows trains, as the plain mean of its
    # rows' losses (every weight is 1).
    rows = (LOGITS[KEPT], PADDED[KEPT])
    if weight is not None:
        rows += (weight[KEPT],)
    expected = F.cross_entropy(LOGITS[KEPT], PADDED[KEPT])
    torch.testing.assert_close(loss_fn(*rows), expected)


def test_padding_labels_are_refused_by_select_in_a_warm_up():
    loss_fn = _warm_up(True)
    with pytest.raises(ValueError, match=r"outside \[0, 3\): \[-100\]"):
        loss_fn.select(LOGITS, PADDED)
    weight, accepted, acceptance = loss_fn.select(LOGITS[KEPT], PADDED[KEPT])
    assert weight.tolist() == accepted.tolist() == acceptance.tolist() == [1.0] * 4


def test_the_estimators_steps_do_not_read_the_labels(monkeypatch):
    # RSFTClassifier encodes the labels itself: its steps (warm-up, rows
    # selected ahead, a row budget's) do not read them back, as before.
    calls = []
    real = _loss._check_counted_labels

    def recording(y, n_classes):
        calls.append(len(y))
        return real(y, n_classes)

    monkeypatch.setattr(_loss, "_check_counted_labels", recording)
    rng = np.random.RandomState(0)
    X, y = rng.randn(96, 4).astype(np.float32), np.r_[np.zeros(72), np.ones(24)]
    for params in (
        {"warmup_epochs": 1},
        {"rejection": "pool", "warmup_epochs": 1},
        {"rejection": "budget", "budget": 0.5, "warmup_epochs": 1},
    ):
        clf = RSFTClassifier(max_epochs=2, batch_size=32, random_state=0, **params)
        clf.fit(X, y, sample_weight=rng.rand(96) + 0.5)
        assert clf.criterion_._labels_checked
    assert calls == []
    # A loss of one's own reads them in those steps.
    _warm_up(False)(LOGITS[KEPT], PADDED[KEPT])
    assert calls == [4]


# ---------------------------------------------------------------------------
# reduction
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("reduction", ["Sum", "batchmean", "elementwise", None])
def test_an_unknown_reduction_is_refused_in_evaluation(reduction):
    # It was taken as "mean" in evaluation mode without a word (torch
    # refuses it with a ValueError). Training ignores the attribute, and
    # skorch's set_params takes any value: it is refused where it is read.
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    loss_fn = RejectionLoss(n_classes=3)
    loss_fn.reduction = reduction
    torch.testing.assert_close(loss_fn(LOGITS, y), F.cross_entropy(LOGITS, y))
    message = rf"must be 'mean', 'sum' or 'none'.*got {reduction!r}"
    with pytest.raises(ValueError, match=message):
        loss_fn.eval()(LOGITS, y)
    criterion = nn.CrossEntropyLoss(reduction="none")
    with pytest.raises(ValueError, match=message):
        _loss.reduced_loss(criterion, LOGITS, y, reduction)


def test_the_valid_reductions_are_unchanged():
    loss_fn = RejectionLoss(n_classes=3).eval()
    y = torch.tensor([0, 1, 2, 0, 1, 2])
    losses = F.cross_entropy(LOGITS, y, reduction="none")
    torch.testing.assert_close(loss_fn(LOGITS, y), losses.mean())
    for reduction, expected in (("sum", losses.sum()), ("none", losses)):
        loss_fn.reduction = reduction
        torch.testing.assert_close(loss_fn(LOGITS, y), expected)
    # Pickles and copies carry it, as before.
    torch.testing.assert_close(pickle.loads(pickle.dumps(loss_fn))(LOGITS, y), losses)
    del loss_fn.reduction
    torch.testing.assert_close(loss_fn(LOGITS, y), losses.mean())
    with pytest.raises(AttributeError):
        del loss_fn.reduction
    # Training ignores it.
    loss_fn.train().reduction = "sum"
    expected = RejectionLoss(n_classes=3).train()(LOGITS, y)
    torch.testing.assert_close(loss_fn(LOGITS, y), expected)


def test_a_module_pickled_with_an_unknown_reduction_refuses_to_evaluate():
    loss_fn = RejectionLoss(n_classes=3).eval()
    state = loss_fn.__getstate__()
    state["reduction"] = "Sum"
    old = RejectionLoss.__new__(RejectionLoss)
    old.__setstate__(state)
    with pytest.raises(ValueError, match="got 'Sum'"):
        old(LOGITS, torch.tensor([0, 1, 2, 0, 1, 2]))


def test_the_estimator_refuses_an_unknown_criterion_reduction():
    # The validation loss and get_loss(training=False) took "Sum" as the mean.
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3).astype(np.float32), np.r_[np.zeros(30), np.ones(10)]
    split = {"train_split": ValidSplit(4, stratified=True)}
    clf = RSFTClassifier(max_epochs=1, criterion__reduction="Sum", **split)
    with pytest.raises(ValueError, match="criterion__reduction.*got 'Sum'"):
        clf.fit(X, y)
    clf = RSFTClassifier(max_epochs=1, criterion__reduction="Sum").fit(X, y)
    y_pred = torch.as_tensor(clf.predict_proba(X[:8]))
    with pytest.raises(ValueError, match="got 'Sum'"):
        clf.get_loss(y_pred, torch.as_tensor(y[:8]).long(), training=False)
    clf = RSFTClassifier(max_epochs=1, criterion__reduction="sum", **split).fit(X, y)
    assert np.isfinite(clf.history[-1, "valid_loss"])


# ---------------------------------------------------------------------------
# Class weights in the criterion and in the rule
# ---------------------------------------------------------------------------
def _criterion_weight_warnings(**kwargs):
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        RejectionLoss(**kwargs)
    return [w for w in record if issubclass(w.category, RSFTWarning)]


def _gradient_ratio(loss_fn):
    logits = torch.zeros(4, 2, requires_grad=True)
    loss_fn(logits, torch.tensor([0, 0, 1, 1])).backward()
    gradient = logits.grad.abs().sum(1)
    return float(gradient[0] / gradient[2])


def test_class_weights_given_twice_warn():
    # The two weights multiply (a gradient ratio of 0.02 between the classes
    # where each alone gives 0.2) without a word.
    w = torch.tensor([0.1, 1.0])
    rule = {"class_weight": w, "M": 1.0, "rejection": "expected"}
    assert _gradient_ratio(RejectionLoss(**rule)) == pytest.approx(0.2)
    weighted = nn.CrossEntropyLoss(weight=w, reduction="none")
    with pytest.warns(
        RSFTWarning, match=r"rule's class weights \(class_weight\)"
    ) as rec:
        loss_fn = RejectionLoss(weighted, **rule)
    assert _gradient_ratio(loss_fn) == pytest.approx(0.02)
    assert len(rec) == 1 and rec[0].filename == __file__
    # The logit adjustment balances too.
    warned = _criterion_weight_warnings(
        criterion=weighted, n_classes=2, prior_correction=1.0
    )
    assert len(warned) == 1
    assert "prior_correction=1" in str(warned[0].message)
    assert "class_weight)" not in str(warned[0].message)
    nll = nn.NLLLoss(weight=w, reduction="none")
    assert len(_criterion_weight_warnings(criterion=nll, class_weight=[0.5, 1.0])) == 1


def test_class_weights_given_once_do_not_warn():
    w = torch.tensor([0.1, 1.0])
    weighted = nn.CrossEntropyLoss(weight=w, reduction="none")
    for kwargs in (
        {"criterion": weighted, "n_classes": 2},
        {"criterion": weighted, "class_weight": [0.5, 0.5]},
        {"criterion": weighted},
        {"class_weight": w, "prior_correction": 1.0},
    ):
        assert _criterion_weight_warnings(**kwargs) == []


def test_the_estimator_warns_of_criterion_weights_once():
    rng = np.random.RandomState(0)
    X, y = rng.randn(40, 3).astype(np.float32), np.r_[np.zeros(30), np.ones(10)]
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        RSFTClassifier(max_epochs=1, criterion__weight=torch.tensor([1.0, 3.0])).fit(
            X, y
        )
    texts = [str(w.message) for w in record if "class weights" in str(w.message)]
    assert len(texts) == 1 and "criterion__weight" in texts[0]


# ---------------------------------------------------------------------------
# Evaluation mode
# ---------------------------------------------------------------------------
def test_an_evaluation_label_error_speaks_of_evaluation():
    loss_fn = RejectionLoss(_padding_criterion(), n_classes=3).eval()
    # Padding is taken there: its rows are left out, as torch does.
    torch.testing.assert_close(
        loss_fn(LOGITS, PADDED), F.cross_entropy(LOGITS[KEPT], PADDED[KEPT])
    )
    y = torch.tensor([0, 1, 5, -100, -100, 1])
    with pytest.raises(
        ValueError, match=r"outside \[0, 3\): \[5\]\. In evaluation"
    ) as info:
        loss_fn(LOGITS, y)
    message = str(info.value)
    assert "ignore_index (-100)" in message
    assert "training" not in message and "padding" not in message
    # Torch's default ignore_index, -100, is left out of the labels named.
    plain = RejectionLoss(n_classes=3).eval()
    with pytest.raises(ValueError, match=r"outside \[0, 3\): \[3\]\. In evaluation"):
        plain(LOGITS, torch.tensor([0, 1, 2, 3, -100, 1]))


def test_validation_in_evaluation_mode_leaves_the_rule_alone():
    # The documented recipe for a loss outside the model: loss_fn.eval() for
    # the validation pass. In training mode the same batch gave a new loss
    # at every call and moved the counts and M.
    model = nn.Linear(4, 3)
    X, y = torch.randn(32, 4), torch.randint(0, 3, (32,))
    loss_fn = RejectionLoss(
        class_weight=[0.3, 1.0, 0.6],
        M="auto",
        target_acceptance=0.5,
        generator=torch.Generator().manual_seed(0),
    )
    loss_fn(model(X), y).backward()
    before = _state(loss_fn)
    model.eval()
    loss_fn.eval()
    with torch.no_grad():
        first, second = loss_fn(model(X), y), loss_fn(model(X), y)
    loss_fn.train(model.training)
    assert loss_fn.training is False
    torch.testing.assert_close(first, F.cross_entropy(model(X), y))
    torch.testing.assert_close(second, first, rtol=0, atol=0)
    _assert_same_state(_state(loss_fn), before)


# ---------------------------------------------------------------------------
# Adaptive M and non-finite logits
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_non_finite_row_leaves_the_adaptive_M(value):
    # One NaN or +inf row moved log M (1.9305 to 2.0047): the solution of
    # the batch with that row is neither that of its finite rows nor NaN.
    logits = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 3, (16,), generator=torch.Generator().manual_seed(2))
    loss_fn = RejectionLoss(
        n_classes=3, M="auto", target_acceptance=0.5, rejection="expected"
    )
    loss_fn(logits, y)
    state = [
        loss_fn.log_M.clone(),
        loss_fn.M_started.clone(),
        loss_fn.epoch_log_M.clone(),
    ]
    bad = logits.clone()
    bad[0, 0] = value
    assert not torch.isfinite(loss_fn(bad, y))
    for before, now in zip(
        state, (loss_fn.log_M, loss_fn.M_started, loss_fn.epoch_log_M)
    ):
        torch.testing.assert_close(now, before, rtol=0, atol=0)
    # The epoch's M is that of the finite step alone.
    torch.testing.assert_close(loss_fn.epoch_statistics()["M"], state[0].exp())
    # A finite batch moves it again.
    loss_fn(logits, y)
    assert loss_fn.epoch_log_M[1] == 2


def test_a_masked_class_still_moves_the_adaptive_M():
    # A logit of -inf is a class of probability 0, which the rule reads as
    # such: M moves as with a logit far below the others.
    logits = torch.randn(16, 3, generator=torch.Generator().manual_seed(1))
    y = torch.randint(0, 2, (16,), generator=torch.Generator().manual_seed(2))
    results = []
    for masked in (-float("inf"), -1e4):
        loss_fn = RejectionLoss(
            n_classes=3, M="auto", target_acceptance=0.5, rejection="expected"
        )
        shifted = logits.clone()
        shifted[:, 2] = masked
        loss_fn(logits, y)
        loss_fn(shifted, y)
        assert loss_fn.epoch_log_M[1] == 2
        results.append(loss_fn.log_M.clone())
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)


# ---------------------------------------------------------------------------
# Documented recipes
# ---------------------------------------------------------------------------
def test_repeating_makes_a_closure_optimiser_count_a_step_once():
    # LBFGS calls the closure several times per step: without repeating,
    # each call counted the 30 rows again and moved M (5 calls: 150 rows).
    torch.manual_seed(0)
    X, y = torch.randn(30, 4), torch.randint(0, 3, (30,))
    model = nn.Linear(4, 3)
    loss_fn = RejectionLoss(
        n_classes=3, M="auto", target_acceptance=0.5, rejection="expected"
    )
    optimizer = torch.optim.LBFGS(model.parameters(), max_iter=5)
    calls = []

    def closure():
        optimizer.zero_grad()
        loss = loss_fn(model(X), y)
        loss.backward()
        calls.append(loss.detach())
        loss_fn.repeating = True
        return loss

    optimizer.step(closure)
    loss_fn.repeating = False
    statistics = loss_fn.epoch_statistics()
    assert len(calls) > 1
    assert float(statistics["seen"].sum()) == 30
    assert float(loss_fn.epoch_log_M[1]) == 1


def test_the_settings_are_given_again_after_a_state_load():
    # state_dict carries M and the counts; hardness and rejecting are the
    # loading module's until begin_epoch gives them.
    logits, y = torch.randn(20, 3), torch.randint(0, 3, (20,))
    rule = {"class_weight": [0.3, 1.0, 0.6], "M": 1.0, "rejection": "expected"}
    trained = RejectionLoss(**rule)
    trained.begin_epoch(M=3.0, hardness=2.0, rejecting=True)
    trained(logits, y)
    loaded = RejectionLoss(**rule)
    loaded.load_state_dict(trained.state_dict())
    assert float(loaded.M) == 3.0 and loaded.hardness == 1.0
    loaded.hardness = 2.0
    torch.testing.assert_close(loaded(logits, y), trained(logits, y), rtol=0, atol=0)


def test_a_subclass_with_its_own_init_warns_once_through_the_estimator():
    # The loss found its builder from the caller's frame: a subclass's own
    # __init__ was that caller, and the estimator's fit warned twice.
    class OwnInit(RejectionLoss):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)

    class Estimator(RSFTClassifier):
        _rejection_loss_class = OwnInit

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3)).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        Estimator(
            criterion__weight=torch.tensor([0.2, 1.0]), max_epochs=1, random_state=0
        ).fit(X, y)
    said = [w for w in caught if issubclass(w.category, RSFTWarning)]
    assert [str(w.message).count("criterion__weight") for w in said] == [1]
    # Built by the user, the subclass warns.
    with pytest.warns(RSFTWarning, match="balanced more than once"):
        OwnInit(
            nn.CrossEntropyLoss(weight=torch.tensor([0.2, 1.0]), reduction="none"),
            class_weight=torch.tensor([0.2, 1.0]),
        )


def test_elementwise_mean_is_read_as_mean_as_torch_reads_it():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    y = torch.tensor([0, 0, 1])
    loss = RejectionLoss(nn.CrossEntropyLoss(reduction="none"), n_classes=2).eval()
    loss.reduction = "mean"
    mean = loss(logits, y)
    loss.reduction = "elementwise_mean"
    assert torch.equal(loss(logits, y), mean)
    assert mean.item() == pytest.approx(F.cross_entropy(logits, y).item(), rel=1e-6)
