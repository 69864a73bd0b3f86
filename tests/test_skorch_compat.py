"""What a skorch user does with RSFTClassifier: it works as in skorch, or fails
loudly with a message that names the fix.

Each test states skorch's behaviour, or, where RSFT cannot honour a habit, the
clear error it gives instead. skorch's own test suite, run against
RSFTClassifier, is in ``tests/skorch_compat``.
"""

import numpy as np
import pytest
import sklearn
import torch
from _rules import SAMPLE_RULE
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Callback
from skorch.dataset import Dataset, ValidSplit
from skorch.exceptions import NotInitializedError
from skorch.history import History
from torch import nn
from torch.utils.data import DataLoader

from rsft_sklearn import MLPModule, RSFTClassifier

FAST = dict(max_epochs=3, batch_size=32, random_state=0)
N_FEATURES = 4


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)
    np.random.seed(0)  # noqa: NPY002 (code under test may use the legacy global RNG)


@pytest.fixture(scope="module")
def data():
    """Three separable classes, labelled with strings, float32 features."""
    rng = np.random.RandomState(0)
    idx = rng.randint(3, size=240)
    X = rng.randn(240, N_FEATURES).astype(np.float32)
    X[:, 0] += 4 * idx
    return X, np.array(["a", "b", "c"])[idx]


def mlp(**kwargs):
    """Module parameters for RSFTClassifier: an explicit MLP for ``data``."""
    return dict(
        module=MLPModule,
        module__n_features=N_FEATURES,
        module__n_classes=3,
        module__hidden_layer_sizes=(8,),
        **kwargs,
    )


class ScoresModule(nn.Module):
    """A linear layer followed by ``output`` (None: logits)."""

    def __init__(self, output=None):
        super().__init__()
        self.linear = nn.Linear(N_FEATURES, 3)
        self.output = output

    def forward(self, X):
        scores = self.linear(X)
        return scores if self.output is None else self.output(scores)


def _parameters(net):
    return [p.detach().clone() for p in net.module_.parameters()]


# ----------------------------------------------------------------------------
# Item 1: restore for inference
# ----------------------------------------------------------------------------
def test_initialize_load_params_predict(data, tmp_path):
    X, y = data
    classes = ["a", "b", "c"]
    params = mlp(classes=classes, probability="raw", **FAST)
    trained = RSFTClassifier(**params).fit(X, y)
    trained.save_params(f_params=tmp_path / "params.pt")

    restored = RSFTClassifier(**params)
    restored.initialize()
    restored.load_params(f_params=tmp_path / "params.pt")

    np.testing.assert_allclose(restored.predict_proba(X), trained.predict_proba(X))
    np.testing.assert_array_equal(restored.predict(X), trained.predict(X))


def test_initialize_without_classes_predicts_indices(data, tmp_path):
    # skorch's predict returns the output's indices when no classes are known.
    X, y = data
    params = mlp(probability="raw", **FAST)
    trained = RSFTClassifier(**params).fit(X, y)
    trained.save_params(f_params=tmp_path / "params.pt")

    restored = RSFTClassifier(**params).initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    expected = np.searchsorted(trained.classes_, trained.predict(X))
    np.testing.assert_array_equal(restored.predict(X), expected)
    with pytest.raises(AttributeError, match="classes="):
        restored.classes_  # noqa: B018


def test_initialize_load_params_corrected_proba_fails_loudly(data, tmp_path):
    # The correction of probability="balanced" needs what fit learns from the
    # data, which the saved parameters do not hold.
    X, y = data
    params = mlp(classes=["a", "b", "c"], **FAST)
    RSFTClassifier(**params).fit(X, y).save_params(f_params=tmp_path / "params.pt")

    restored = RSFTClassifier(**params).initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    with pytest.raises(NotFittedError, match="probability='raw'"):
        restored.predict(X)


def test_initialize_with_classes_of_another_size_fails_loudly(data):
    net = RSFTClassifier(classes=["a", "b"], probability="raw", **mlp()).initialize()
    with pytest.raises(ValueError, match="3 scores per sample but classes lists 2"):
        net.predict(data[0])


def test_predict_before_initialize_raises_not_initialized(data):
    with pytest.raises(NotInitializedError, match="initialize"):
        RSFTClassifier(**mlp()).predict(data[0])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_load_params_trained_on_cuda_on_cpu(data, tmp_path):
    X, y = data
    params = mlp(classes=["a", "b", "c"], probability="raw", **FAST)
    trained = RSFTClassifier(device="cuda", **params).fit(X, y)
    trained.save_params(f_params=tmp_path / "params.pt")

    restored = RSFTClassifier(device="cpu", **params)
    restored.initialize()
    restored.load_params(f_params=tmp_path / "params.pt")

    np.testing.assert_allclose(
        restored.predict_proba(X), trained.predict_proba(X), rtol=1e-5, atol=1e-6
    )


# ----------------------------------------------------------------------------
# Item 2: the training loss goes through get_loss
# ----------------------------------------------------------------------------
def test_overridden_get_loss_is_used_in_training_and_validation(data):
    X, y = data
    calls = []

    class RecordingNet(RSFTClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False):
            calls.append(training)
            return super().get_loss(y_pred, y_true, X=X, training=training)

    RecordingNet(train_split=ValidSplit(4), **mlp(**FAST)).fit(X, y)
    assert True in calls
    assert False in calls


def test_softmax_module_with_nllloss_trains_on_log_probabilities(data):
    # skorch's NeuralNetClassifier takes the log of a softmax output for
    # NLLLoss; the rule must then read the same log-probabilities as from a
    # module that returns them itself, so the two fits are the same.
    X, y = data
    fits = [
        RSFTClassifier(
            module=ScoresModule,
            module__output=output,
            criterion=nn.NLLLoss,
            probability="raw",
            **FAST,
        ).fit(X, y)
        for output in (nn.LogSoftmax(dim=-1), nn.Softmax(dim=-1))
    ]
    for a, b in zip(*map(_parameters, fits)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)
    assert all(loss > 0 for loss in fits[1].history[:, "train_loss"])
    # predict_proba gives probabilities either way (skorch: the softmax output).
    np.testing.assert_allclose(
        fits[0].predict_proba(X), fits[1].predict_proba(X), rtol=1e-4, atol=1e-6
    )
    np.testing.assert_allclose(fits[1].predict_proba(X).sum(axis=1), 1, rtol=1e-5)


@pytest.mark.parametrize(
    "rule",
    [dict(compact=True, **SAMPLE_RULE), dict(rejection="epoch", warmup_epochs=0)],
    ids=["compact", "epoch"],
)
def test_softmax_module_with_nllloss_in_every_selection_mode(data, rule):
    # Compaction and epoch-level selection score and train outside get_loss;
    # they read a softmax output the same way.
    X, y = data
    fits = [
        RSFTClassifier(
            module=ScoresModule,
            module__output=output,
            criterion=nn.NLLLoss,
            probability="raw",
            **rule,
            **FAST,
        ).fit(X, y)
        for output in (nn.LogSoftmax(dim=-1), nn.Softmax(dim=-1))
    ]
    for a, b in zip(*map(_parameters, fits)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


class BFloat16Softmax(nn.Module):
    """A softmax rounded to bfloat16 and handed on in float32, as mixed
    precision (Accelerate's bf16) gives it."""

    def forward(self, scores):
        return torch.softmax(scores, dim=-1).bfloat16().float()


def test_softmax_in_low_precision_with_nllloss_is_read_as_probabilities(data):
    # Its rows sum to 1 within about 0.004, beyond the 1e-3 that told
    # probabilities from log-probabilities: they were read as
    # log-probabilities, and the loss trained was -p of the true class.
    X, y = data
    clf = RSFTClassifier(
        module=ScoresModule,
        module__output=BFloat16Softmax(),
        criterion=nn.NLLLoss,
        probability="raw",
        **FAST,
    ).fit(X, y)
    assert all(loss > 0 for loss in clf.history[:, "train_loss"])
    exact = RSFTClassifier(
        module=ScoresModule,
        module__output=nn.Softmax(dim=-1),
        criterion=nn.NLLLoss,
        probability="raw",
        **FAST,
    ).fit(X, y)
    np.testing.assert_allclose(
        clf.history[:, "train_loss"], exact.history[:, "train_loss"], rtol=0.02
    )
    # The corrected output takes its rows too (they were refused as "not
    # probabilities"), as normalised probabilities.
    proba = clf.set_params(probability="balanced").predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(
        proba, exact.set_params(probability="balanced").predict_proba(X), atol=0.02
    )
    # Log-probabilities in bfloat16 stay log-probabilities.
    from rsft_sklearn._base import log_proba_for_nll

    scores = torch.randn(64, 5) * 3
    log_proba = torch.log_softmax(scores, dim=1).bfloat16()
    assert torch.equal(log_proba_for_nll(log_proba), log_proba)
    proba = torch.softmax(scores.bfloat16(), dim=1)
    assert not torch.equal(log_proba_for_nll(proba), proba)


def test_log_softmax_module_with_nllloss_equals_logits_with_cross_entropy(data):
    X, y = data
    fits = [
        RSFTClassifier(
            module=ScoresModule,
            module__output=output,
            criterion=criterion,
            probability="raw",
            **FAST,
        ).fit(X, y)
        for output, criterion in (
            (None, nn.CrossEntropyLoss),
            (nn.LogSoftmax(dim=-1), nn.NLLLoss),
        )
    ]
    for a, b in zip(*map(_parameters, fits)):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_initialize_criterion_override_keeps_the_rule_or_fails_loudly(data):
    # Either RSFT still gets per-sample losses (the fit equals the plain one)
    # or it says at initialize that the criterion must not reduce.
    X, y = data

    class MyNet(RSFTClassifier):
        def initialize_criterion(self):
            self.criterion_ = nn.CrossEntropyLoss()
            return self

    params = mlp(M=50.0, **FAST)
    try:
        custom = MyNet(**params).fit(X, y)
    except (TypeError, ValueError) as exc:
        assert "reduction" in str(exc)
        return
    plain = RSFTClassifier(**params).fit(X, y)
    for a, b in zip(_parameters(custom), _parameters(plain)):
        torch.testing.assert_close(a, b)


def test_criterion_instance_is_not_mutated(data):
    X, y = data
    criterion = nn.CrossEntropyLoss()
    RSFTClassifier(criterion=criterion, **mlp(**FAST)).fit(X, y)
    assert criterion.reduction == "mean"


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_criterion_reduction_is_the_loss_outside_training(data, reduction):
    # skorch's loss_scoring reads criterion_.reduction and gets the loss so
    # reduced; training still masks per-sample losses.
    from skorch.scoring import loss_scoring

    X, y = data
    net = RSFTClassifier(criterion__reduction=reduction, **mlp(**FAST)).fit(X, y)
    assert net.criterion_.base_criterion.reduction == "none"
    score = loss_scoring(net, X, net._prepare_data(X, y, None, reset=False)[1])
    assert np.ndim(score) == (1 if reduction == "none" else 0)
    assert np.all(np.asarray(score) > 0)


def test_criterion_without_reduction_is_refused_at_initialize():
    class SumOfScores(nn.Module):
        def forward(self, y_pred, y_true):
            return y_pred.sum()

    net = RSFTClassifier(criterion=SumOfScores, **mlp())
    with pytest.raises(TypeError, match="reduction"):
        net.initialize()


# ----------------------------------------------------------------------------
# Item 3: dataset= and dataset__*
# ----------------------------------------------------------------------------
def test_dataset_class_and_arguments_are_used(data):
    X, y = data
    received = []

    class MyDataset(Dataset):
        def __init__(self, *args, foo, **kwargs):
            super().__init__(*args, **kwargs)
            received.append(foo)

    RSFTClassifier(dataset=MyDataset, dataset__foo=123, **mlp(**FAST)).fit(X, y)
    assert received and set(received) == {123}


def test_sample_weight_reaches_the_rule_through_a_users_dataset(data):
    X, y = data
    weight = np.where(y == "c", 0.0, 1.0)  # class "c" is never accepted
    net = RSFTClassifier(
        dataset=Dataset, iterator_train=DataLoader, **SAMPLE_RULE, **mlp(**FAST)
    )
    net.fit(X, y, sample_weight=weight)
    assert net.history[-1, "acceptance_rate[c]"] == 0.0
    assert net.predict(X).shape == y.shape


def test_initialized_dataset_with_arguments_is_refused(data):
    X, y = data
    net = RSFTClassifier(
        dataset=Dataset(X, np.zeros(len(X), dtype=np.int64)),
        dataset__foo=123,
        **mlp(**FAST),
    )
    with pytest.raises(TypeError, match="initialized Dataset"):
        net.fit(X, y)


# ----------------------------------------------------------------------------
# Item 4: callbacks="disable" and duck-typed callbacks
# ----------------------------------------------------------------------------
def test_callbacks_disable(data):
    X, y = data
    net = RSFTClassifier(callbacks="disable", **mlp(**FAST)).fit(X, y)
    assert net.callbacks_ == []
    assert len(net.history) == FAST["max_epochs"]


def test_duck_typed_callback(data):
    X, y = data

    class EpochCounter:
        """Has the hooks skorch calls, but is no skorch Callback."""

        def __init__(self):
            self.epochs = 0

        def initialize(self):
            return self

        def get_params(self, deep=True):
            return {}

        def set_params(self, **params):
            return self

        def on_epoch_end(self, net, **kwargs):
            self.epochs += 1

        def __getattr__(self, name):
            if name.startswith("on_"):
                return lambda *args, **kwargs: None
            raise AttributeError(name)

    counter = EpochCounter()
    assert not isinstance(counter, Callback)
    RSFTClassifier(callbacks=[("counter", counter)], **mlp(**FAST)).fit(X, y)
    assert counter.epochs == FAST["max_epochs"]


# ----------------------------------------------------------------------------
# Item 5: a subclass that stores a module instance in __init__
# ----------------------------------------------------------------------------
def test_subclass_stores_module_instance_in_init(data):
    X, y = data

    class TwoModuleNet(RSFTClassifier):
        def __init__(self, *args, head, **kwargs):
            self.head = head
            super().__init__(*args, **kwargs)

        def initialize_module(self):
            super().initialize_module()
            self.head_ = self.head
            return self

    net = TwoModuleNet(head=nn.Linear(3, 3), **mlp(**FAST)).fit(X, y)
    assert isinstance(net.head_, nn.Linear)
    assert "head" in net.get_params()


# ----------------------------------------------------------------------------
# Item 6: history= as an init argument
# ----------------------------------------------------------------------------
def test_history_init_argument(data):
    X, y = data

    class MyHistory(History):
        pass

    net = RSFTClassifier(history=MyHistory(), **mlp(**FAST)).fit(X, y)
    assert isinstance(net.history, MyHistory)
    assert len(net.history) == FAST["max_epochs"]


# ----------------------------------------------------------------------------
# Item 7: metadata routing through fit
# ----------------------------------------------------------------------------
def test_set_fit_request_routes_to_forward(data):
    X, y = data
    received = []

    class Recording(ScoresModule):
        def forward(self, X, scale=None):
            received.append(scale)
            return super().forward(X)

    with sklearn.config_context(enable_metadata_routing=True):
        net = RSFTClassifier(module=Recording, **FAST)
        net.set_fit_request(scale=True)
        net.fit(X, y, scale=2.0)
    assert received and set(received) == {2.0}


# ----------------------------------------------------------------------------
# Item 8: classes=
# ----------------------------------------------------------------------------
@pytest.mark.parametrize("classes", [[], np.array([])], ids=["list", "array"])
def test_empty_classes_is_refused_clearly(data, classes):
    X, y = data
    with pytest.raises(ValueError, match="classes"):
        RSFTClassifier(classes=classes, **mlp(**FAST)).fit(X, y)


def test_unsorted_classes(data):
    X, y = data
    net = RSFTClassifier(classes=["c", "a", "b"], **mlp(**FAST))
    net.set_params(max_epochs=20, lr=1e-2)
    net.fit(X, y)
    assert sorted(net.classes_) == ["a", "b", "c"]
    proba = net.predict_proba(X)
    np.testing.assert_array_equal(net.classes_[proba.argmax(axis=1)], net.predict(X))
    assert np.mean(net.predict(X) == y) > 0.9


# ----------------------------------------------------------------------------
# Found while building the compatibility suite
# ----------------------------------------------------------------------------
def test_sample_weight_reaches_the_rule_through_a_dataloader(data):
    X, y = data
    weight = np.where(y == "c", 0.0, 1.0)  # class "c" is never accepted
    net = RSFTClassifier(iterator_train=DataLoader, **SAMPLE_RULE, **mlp(**FAST))
    net.fit(X, y, sample_weight=weight)
    assert net.history[-1, "acceptance_rate[c]"] == 0.0


def test_optimizer_params_set_after_the_fit_survive_a_refit_and_a_clone(data):
    # skorch applies optimizer__<name> of an initialised net to the
    # optimizer only: a refit (or a clone) built the optimizer without it,
    # so set_params(optimizer__weight_decay=0.1) on a fitted pipeline was
    # lost at its next fit.
    from sklearn.base import clone

    X, y = data
    clf = RSFTClassifier(**mlp(**FAST)).fit(X, y)
    clf.set_params(optimizer__weight_decay=0.1, optimizer__lr=0.05)
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 0.1
    for fitted in (clf.fit(X, y), clone(clf).fit(X, y)):
        group = fitted.optimizer_.param_groups[0]
        assert group["weight_decay"] == 0.1 and group["lr"] == 0.05
    # The rate is the net's own: a later set_params(lr=...) still decides.
    clf.set_params(lr=0.0)
    for fitted in (clf.fit(X, y), clone(clf).fit(X, y)):
        assert fitted.optimizer_.param_groups[0]["lr"] == 0.0


@pytest.mark.parametrize(
    "first, later",
    [
        ({}, {"optimizer__lr": 0.05, "lr": 0.2}),
        ({"optimizer__lr": 0.001}, {"lr": 0.2}),
        ({"optimizer__lr": 0.001}, {"optimizer__lr": 0.2}),
        ({"optimizer__lr": 0.001}, {"lr": 0.2, "optimizer__lr": 0.05}),
    ],
    ids=[
        "both-in-one-call",
        "lr-after-constructor-rate",
        "rate-after-rate",
        "both-after-constructor-rate",
    ],
)
def test_a_rate_set_after_the_fit_trains_everywhere_alike(data, first, later):
    # The optimizer, a continued fit, a refit and a clone must agree on the
    # rate; given both, optimizer__lr wins, as before initialisation.
    from sklearn.base import clone

    X, y = data
    expected = later.get("optimizer__lr", later.get("lr"))
    clf = RSFTClassifier(**mlp(**FAST), **first).fit(X, y)
    clf.set_params(**later)
    rates = [clf.optimizer_.param_groups[0]["lr"]]
    rates += [
        fitted.optimizer_.param_groups[0]["lr"]
        for fitted in (clf.partial_fit(X, y), clone(clf).fit(X, y), clf.fit(X, y))
    ]
    assert rates == [expected] * 4


def test_callbacks_set_after_the_fit_take_effect_at_once(data):
    # skorch built callbacks_ from the list it replaced: each new list took
    # effect one set_params late, and partial_fit ran the previous one.
    X, y = data

    ran = []

    class Tag(Callback):
        def __init__(self, tag):
            self.tag = tag

        def on_epoch_end(self, net, **kwargs):
            ran.append(self.tag)

    clf = RSFTClassifier(**mlp(**{**FAST, "max_epochs": 1})).fit(X, y)
    clf.set_params(callbacks=[("first", Tag("first"))]).partial_fit(X, y)
    clf.set_params(callbacks=[("second", Tag("second"))]).partial_fit(X, y)
    assert ran == ["first", "second"]
    assert "first" not in dict(clf.callbacks_)


def test_predict_proba_under_autocast_and_with_a_bfloat16_module(data):
    # Outputs in bfloat16 failed in skorch's conversion to NumPy ("Got
    # unsupported ScalarType BFloat16"), as in plain skorch.
    X, y = data
    clf = RSFTClassifier(**mlp(**FAST)).fit(X, y)
    proba = clf.predict_proba(X)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = clf.predict_proba(X)
    assert low.dtype == proba.dtype
    np.testing.assert_allclose(low.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(low, proba, atol=0.05)
    clf.module_.to(torch.bfloat16)
    module_input = clf.module_.forward

    def forward(X):
        return module_input(X.to(torch.bfloat16))

    clf.module_.forward = forward
    np.testing.assert_allclose(clf.predict_proba(X), proba, atol=0.05)


@pytest.mark.parametrize("sparse", [False, True])
def test_scoring_callbacks_without_caching_score_the_right_labels(data, sparse):
    # With use_caching=False, skorch reads the labels of its own Dataset
    # only: an EpochScoring of the training or validation part got
    # y_true=None ("The 'y_true' parameter of accuracy_score must be an
    # array-like"). They are scored on the labels the data hold, in the
    # class labels that predict returns.
    import scipy.sparse
    from sklearn.metrics import accuracy_score, f1_score
    from skorch.callbacks import EpochScoring

    X, y = data
    if sparse:
        X = scipy.sparse.csr_matrix(X)
    split = ValidSplit(4, stratified=True)
    clf = RSFTClassifier(
        **mlp(**FAST),
        use_caching=False,
        train_split=split,
        callbacks=[
            ("train_acc", EpochScoring("accuracy", on_train=True, name="train_acc")),
            ("valid_f1", EpochScoring("f1_macro", name="valid_f1")),
        ],
    ).fit(X, y, sample_weight=np.linspace(0.5, 1.5, len(y)))
    train, valid = clf.get_split_datasets(X, y)
    rows = {"train_acc": train.indices, "valid_f1": valid.indices}
    assert len(rows["valid_f1"]) == len(y) // 4
    expected = {
        "train_acc": accuracy_score(
            y[rows["train_acc"]], clf.predict(X[rows["train_acc"]])
        ),
        "valid_f1": f1_score(
            y[rows["valid_f1"]], clf.predict(X[rows["valid_f1"]]), average="macro"
        ),
    }
    for key, value in expected.items():
        assert clf.history[-1, key] == pytest.approx(value)
    assert clf.history[-1, "valid_acc"] == pytest.approx(
        accuracy_score(y[rows["valid_f1"]], clf.predict(X[rows["valid_f1"]]))
    )


def test_scoring_without_caching_keeps_a_subclass_data_of_its_own(data):
    # skorch's get_test_data is the hook that chooses what a scorer scores;
    # one overridden to score a fixed hold-out set keeps it.
    from sklearn.metrics import accuracy_score
    from skorch.callbacks import EpochScoring

    X, y = data
    X_hold, y_hold = X[:40], y[:40]

    class HoldOut(EpochScoring):
        def get_test_data(self, dataset_train, dataset_valid, use_caching):
            return X_hold, y_hold, []

    clf = RSFTClassifier(
        **mlp(**FAST),
        use_caching=False,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[("hold", HoldOut("accuracy", name="hold_acc"))],
    ).fit(X[40:], y[40:])
    assert clf.history[-1, "hold_acc"] == pytest.approx(
        accuracy_score(y_hold, clf.predict(X_hold))
    )


class _HalfNet(nn.Module):
    """A network in bfloat16 that casts its input (and, with ``softmax``,
    ends in a softmax, skorch's convention for NLLLoss)."""

    def __init__(self, softmax=False):
        super().__init__()
        self.body = nn.Sequential(
            nn.Linear(N_FEATURES, 16), nn.ReLU(), nn.Linear(16, 3)
        )
        self.softmax = softmax
        self.to(torch.bfloat16)

    def forward(self, X):
        out = self.body(X.to(torch.bfloat16))
        return out.softmax(dim=1) if self.softmax else out


@pytest.mark.parametrize("probability", ["balanced", "raw"])
def test_scoring_callbacks_read_a_bfloat16_output(data, probability):
    # The validation split's valid_acc and EpochScoring(on_train=True) score
    # the predictions skorch caches from the steps; in bfloat16 they failed
    # in the conversion to NumPy ("Got unsupported ScalarType BFloat16"),
    # under the autocast(cache_enabled=False) that fit's refusal recommends
    # too.
    from skorch.callbacks import EpochScoring

    X, y = data
    params = dict(
        max_epochs=2,
        batch_size=32,
        probability=probability,
        train_split=ValidSplit(4, stratified=True),
        callbacks=[
            ("train_acc", EpochScoring("accuracy", on_train=True, name="train_acc"))
        ],
    )
    clf = RSFTClassifier(module=_HalfNet, random_state=0, **params).fit(X, y)
    uncached = RSFTClassifier(
        module=_HalfNet, random_state=0, use_caching=False, **params
    ).fit(X, y)
    for key in ("valid_acc", "train_acc"):
        assert 0 <= clf.history[-1, key] <= 1
    # The same network scored on the same rows, from the cache or not.
    assert clf.history[:, "valid_acc"] == uncached.history[:, "valid_acc"]
    with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
        autocast = RSFTClassifier(**mlp(random_state=0, **params)).fit(X, y)
    assert 0 <= autocast.history[-1, "valid_acc"] <= 1


def test_nll_of_a_bfloat16_softmax_is_not_floored_at_its_eps():
    # skorch's floor log(p + eps) took bfloat16's eps, 0.0078: a row of
    # p = 0.001 had the loss 4.72 instead of 6.91.
    from rsft_sklearn._base import log_proba_for_nll

    p = torch.tensor([[0.001, 0.999], [0.5, 0.5]], dtype=torch.bfloat16)
    log_p = log_proba_for_nll(p)
    assert log_p.dtype == torch.bfloat16
    # Within bfloat16's rounding (8 bits of mantissa) of the true log.
    np.testing.assert_allclose(
        log_p.float().numpy(), np.log(p.float().numpy()), rtol=1e-2, atol=1e-6
    )
    net = RSFTClassifier(module=_HalfNet, module__softmax=True, criterion=nn.NLLLoss)
    proba = torch.tensor([[0.001, 0.5, 0.499]], dtype=torch.bfloat16)
    loss = net.initialize().get_loss(proba, torch.tensor([0]), training=False)
    assert float(loss) == pytest.approx(-np.log(float(proba[0, 0])), rel=1e-2)
    # A bfloat16 network with class weights in bfloat16 trains as before.
    weighted = RSFTClassifier(
        module=_HalfNet,
        module__softmax=True,
        criterion=nn.NLLLoss,
        criterion__weight=torch.ones(3, dtype=torch.bfloat16),
        max_epochs=1,
        random_state=0,
    )
    X = np.random.RandomState(0).randn(60, N_FEATURES).astype(np.float32)
    with pytest.warns(UserWarning, match="weight"):
        weighted.fit(X, np.arange(60) % 3)
    assert np.isfinite(weighted.history[-1, "train_loss"])


@pytest.mark.parametrize("criterion", [None, nn.NLLLoss])
@pytest.mark.parametrize("probability", ["balanced", "raw"])
def test_trim_for_prediction_keeps_predictions(data, criterion, probability):
    # skorch's trimming drops the criterion, from which "auto" read the
    # output: the default predict raised that the output was not
    # probabilities, and probability="raw" returned logits.
    X, y = data
    params = {} if criterion is None else {"criterion": criterion}
    module = ScoresModule(None if criterion is None else nn.Softmax(dim=1))
    clf = RSFTClassifier(
        module=module, max_epochs=2, probability=probability, **params
    ).fit(X, y)
    proba, labels = clf.predict_proba(X), clf.predict(X)
    clf.trim_for_prediction()
    assert clf.criterion_ is None
    np.testing.assert_allclose(clf.predict_proba(X), proba, atol=1e-6)
    np.testing.assert_array_equal(clf.predict(X), labels)
    clf.trim_for_prediction()  # a second call changes nothing
    np.testing.assert_allclose(clf.predict_proba(X), proba, atol=1e-6)


def test_get_split_datasets_takes_class_labels(data):
    # A public skorch method: fit hands it encoded tensors, a user numpy
    # class labels ('numpy.ndarray' object has no attribute 'numpy').
    X, y = data
    split = ValidSplit(0.25, stratified=True, random_state=0)
    clf = RSFTClassifier(**mlp(max_epochs=1, train_split=split)).fit(X, y)
    train, valid = clf.get_split_datasets(X, y)
    assert (len(train), len(valid)) == (180, 60)
    labels = np.concatenate([b[1].numpy() for b in clf.get_iterator(valid)])
    assert set(labels.tolist()) == {0, 1, 2}


def test_iterator_and_dataset_parameters_can_be_set_after_fit():
    # skorch found no component to re-initialise for them and raised its
    # "Something went wrong, please open an issue" error, after storing the
    # value.
    from sklearn.datasets import make_classification

    X, y = make_classification(n_samples=200, n_features=5, random_state=0)
    X = X.astype(np.float32)
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    batches = []

    class Sizes(Callback):
        def on_batch_end(self, net, batch=None, training=None, **kwargs):
            batches.append(len(batch[1]))

    assert clf.set_params(iterator_valid__batch_size=7) is clf
    assert clf.get_params()["iterator_valid__batch_size"] == 7
    np.testing.assert_allclose(clf.predict_proba(X), proba, rtol=1e-6)
    clf.set_params(iterator_train__batch_size=50, callbacks=[("sizes", Sizes())])
    clf.partial_fit(X, y)
    assert batches and max(batches) == 50


def test_fit_inside_autocast_is_refused_unless_its_cache_is_off(data):
    # autocast keeps its bfloat16 copy of the weights for the whole block:
    # a fit inside one trained on the initial weights, without a word.
    X, y = data
    clf = RSFTClassifier(max_epochs=3, random_state=0)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError, match="inside a torch.autocast block"):
            clf.fit(X, y)
    fitted = RSFTClassifier(max_epochs=3, random_state=0).fit(X, y)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        with pytest.raises(RuntimeError, match="cache_enabled=False"):
            fitted.partial_fit(X, y)
    # Without the cache every step reads the updated weights: it learns.
    with torch.autocast("cpu", dtype=torch.bfloat16, cache_enabled=False):
        uncached = RSFTClassifier(max_epochs=3, random_state=0).fit(X, y)
    losses = uncached.history[:, "train_loss"]
    assert losses[-1] < losses[0]


def test_param_groups_name_a_criterions_parameters_as_skorch_does(data):
    # The criterion lives in the rule's loss module, which named its
    # parameters base_criterion.<name>: skorch's pattern matched nothing, and
    # the parameter trained at the default rate without a word.
    X, y = data

    class TemperedLoss(torch.nn.Module):
        def __init__(self, reduction="mean"):
            super().__init__()
            self.reduction = reduction
            self.log_t = torch.nn.Parameter(torch.zeros(()))

        def forward(self, logits, target):
            return torch.nn.functional.cross_entropy(
                logits / self.log_t.exp(), target, reduction=self.reduction
            )

    clf = RSFTClassifier(
        criterion=TemperedLoss,
        optimizer__param_groups=[("log_t", {"lr": 0.0})],
        max_epochs=3,
        random_state=0,
    ).fit(X, y)
    names = [name for name, _ in clf.get_all_learnable_params()]
    assert names[-1] == "log_t" and not any("base_criterion" in n for n in names)
    assert [group["lr"] for group in clf.optimizer_.param_groups] == [0.0, clf.lr]
    assert float(clf.criterion_.base_criterion.log_t) == 0.0
    # Patterns written for the earlier names would match nothing: they warn.
    from skorch.callbacks import Freezer

    for params in (
        dict(optimizer__param_groups=[("base_criterion.log_t", {"lr": 0.0})]),
        dict(callbacks=[Freezer("base_criterion.*")]),
    ):
        with pytest.warns(UserWarning, match="start with 'base_criterion.'"):
            RSFTClassifier(criterion=TemperedLoss, max_epochs=1, **params).fit(X, y)


def test_fit_inside_inference_mode_is_refused(data):
    # torch failed at the first step, and the estimator kept an untrained
    # network of inference tensors, which predicted without a word.
    X, y = data
    clf = RSFTClassifier(max_epochs=2, random_state=0)
    with torch.inference_mode():
        with pytest.raises(RuntimeError, match="inside torch.inference_mode"):
            clf.fit(X, y)
    assert not hasattr(clf, "module_")
    fitted = RSFTClassifier(max_epochs=2, random_state=0).fit(X, y)
    before = fitted.predict_proba(X)
    with torch.inference_mode():
        with pytest.raises(RuntimeError, match="partial_fit was called inside"):
            fitted.partial_fit(X, y)
        # Prediction inside it is fine.
        np.testing.assert_array_equal(fitted.predict_proba(X), before)
    # A network initialised inside it (to load parameters, say) trains after.
    built = RSFTClassifier(
        max_epochs=2,
        random_state=0,
        module__n_features=X.shape[1],
        module__n_classes=len(np.unique(y)),
    )
    with torch.inference_mode():
        built.initialize()
    assert not next(built.module_.parameters()).is_inference()
    built.set_params(warm_start=True).fit(X, y)


def test_a_shuffled_validation_split_follows_random_state(data):
    # skorch's ValidSplit shuffles with NumPy's global generator: two fits
    # with random_state=0 validated on other rows (probabilities 0.17 to
    # 0.42 apart) and advanced the caller's generator.
    X, y = data

    def fit():
        return RSFTClassifier(
            max_epochs=3, random_state=0, train_split=ValidSplit(0.2)
        ).fit(X, y)

    np.random.seed(1)  # noqa: NPY002
    untouched = np.random.get_state()[1].copy()  # noqa: NPY002
    first = fit()
    # The caller's generator is where it was.
    np.testing.assert_array_equal(np.random.get_state()[1], untouched)  # noqa: NPY002
    np.random.seed(2)  # noqa: NPY002
    second = fit()
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.history[:, "valid_loss"] == second.history[:, "valid_loss"]


def test_a_split_that_leaves_a_class_no_training_row_is_named():
    # A non-stratified split put the rare class's rows all in validation:
    # the fit went on without a word (one class left: no error either).
    rng = np.random.RandomState(0)
    X = rng.randn(100, 3).astype(np.float32)
    y = np.zeros(100, dtype=int)
    y[:2] = 2
    y[2:50] = 1
    first_fold = ValidSplit(5, stratified=False)
    with pytest.warns(UserWarning, match=r"no training row of class\(es\) 2"):
        RSFTClassifier(max_epochs=1, train_split=first_fold).fit(X, y)
    with pytest.warns(UserWarning, match=r"Use a stratified split") as caught:
        RSFTClassifier(max_epochs=1, train_split=first_fold).fit(X, y)
    # A class of one row: no split keeps it on both sides, and a stratified
    # one fails in scikit-learn; the advice says so.
    y[1] = 0
    with pytest.warns(UserWarning, match=r"Class 2 has a single row") as caught:
        RSFTClassifier(max_epochs=1, train_split=first_fold).fit(X, y)
    assert "stratified" not in str(caught[0].message)
    # Both causes at once: both pieces of advice.
    y[5:8] = 3
    with pytest.warns(UserWarning, match=r"stratified.*Class 2 has a single row"):
        RSFTClassifier(max_epochs=1, train_split=first_fold).fit(X, y)
    y[5:8] = 1
    y[2:50] = 0
    y[1] = 2
    with pytest.raises(ValueError, match="left 1 class in the training part"):
        RSFTClassifier(max_epochs=1, train_split=first_fold).fit(X, y)


@pytest.mark.parametrize("rejection", ["expected", "sample", "pool", "budget"])
def test_get_loss_that_bypasses_the_rule_is_refused(data, rejection):
    # A loss of its own (a criterion kept as mycriterion_, or the base
    # criterion called directly) trained every row without the rule, and the
    # history showed an acceptance of 0 without a word.
    X, y = data

    class OwnCriterion(RSFTClassifier):
        def initialize_criterion(self):
            super().initialize_criterion()
            self.mycriterion_ = nn.CrossEntropyLoss()
            return self

        def get_loss(self, y_pred, y_true, X=None, training=False, **kwargs):
            return self.mycriterion_(y_pred, torch.as_tensor(y_true))

    class BaseCriterion(RSFTClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False, **kwargs):
            if not training:
                return super().get_loss(y_pred, y_true, X=X, training=training)
            return self.criterion_.base_criterion(y_pred, torch.as_tensor(y_true))

    for cls in (OwnCriterion, BaseCriterion):
        net = cls(rejection=rejection, **mlp(**FAST))
        with pytest.raises(TypeError, match="without calling criterion_"):
            net.fit(X, y)

    class ExtraTerm(RSFTClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False, **kwargs):
            loss = super().get_loss(y_pred, y_true, X=X, training=training, **kwargs)
            return loss + 0.0 * y_pred.pow(2).mean()

    assert (
        ExtraTerm(rejection=rejection, **mlp(**FAST))
        .fit(X, y)
        .history[-1]["acceptance_rate"]
        > 0
    )


def test_compact_auto_keeps_an_overridden_get_loss(data):
    # compact="auto" switched to compacted steps, which skip get_loss, from
    # the first epoch that accepted less than half of the rows: the
    # override's extra term was dropped without a word.
    X, y = data
    calls = []

    class Recording(RSFTClassifier):
        def get_loss(self, y_pred, y_true, X=None, training=False, **kwargs):
            if training:
                calls.append(len(self.history))
            return super().get_loss(y_pred, y_true, X=X, training=training, **kwargs)

    net = Recording(
        rejection="sample",
        compact="auto",
        batch_size=-1,
        M=20.0,
        warmup_epochs=1,
        max_epochs=4,
        random_state=0,
        **mlp(),
    ).fit(X, y)
    assert max(net.history[1:-1, "acceptance_rate"]) < 0.5
    assert sorted(set(calls)) == [1, 2, 3, 4]


def test_batch_loss_read_before_the_epoch_ends_computes_as_a_float(data):
    # The history's batch losses are written once per epoch; read in
    # on_batch_end they were a placeholder that failed in arithmetic
    # (sum(), a running mean) and comparisons.
    import numbers

    X, y = data
    seen = []

    class RunningMean(Callback):
        def on_batch_end(self, net, batch=None, training=None, loss=None, **kw):
            if training:
                value = net.history[-1, "batches", -1, "train_loss"]
                seen.append((value, loss.item()))

    net = RSFTClassifier(callbacks=[("mean", RunningMean())], **mlp(**FAST))
    net.fit(X, y)
    values = [value for value, _ in seen]
    assert all(isinstance(value, numbers.Real) for value in values)
    assert all(value == item and value < item + 1 for value, item in seen)
    assert sum(values) / len(values) == pytest.approx(np.mean([i for _, i in seen]))
    assert float(np.mean(values)) == pytest.approx(sum(values) / len(values))
    assert round(values[0], 3) == round(seen[0][1], 3)
    assert np.array(values).dtype == np.float64 and np.isfinite(values).all()
    assert not np.isnan(values[0]) and values[0].real == seen[0][1]
    assert all(type(v) is float for v in net.history[-1, "batches", :, "train_loss"])


@pytest.mark.parametrize("weighted", [False, True])
def test_overridden_steps_get_batches_they_can_unpack(data, weighted):
    # The validation step got (X, y, w) batches when the fit had sample
    # weights, so skorch's unpack_data in an override failed, blaming the
    # dataset; a train_step_single override that unpacks (X, y) from a
    # weighted batch now gets a message naming the cause.
    from skorch.dataset import unpack_data

    X, y = data
    weight = np.ones(len(y)) if weighted else None

    class OwnValidation(RSFTClassifier):
        def validation_step(self, batch, **fit_params):
            Xi, yi = unpack_data(batch)
            return super().validation_step((Xi, yi), **fit_params)

    net = OwnValidation(train_split=ValidSplit(4), **mlp(**FAST))
    net.fit(X, y, sample_weight=weight)
    assert np.isfinite(net.history[-1, "valid_loss"])

    class OwnStep(RSFTClassifier):
        def train_step_single(self, batch, **fit_params):
            self._set_training(True)
            Xi, yi = unpack_data(batch)
            y_pred = self.infer(Xi, **fit_params)
            loss = self.get_loss(y_pred, yi, X=Xi, training=True)
            loss.backward()
            return {"loss": loss, "y_pred": y_pred}

    class PlainUnpack(OwnStep):
        def train_step_single(self, batch, **fit_params):
            Xi, yi = batch
            return super().train_step_single((Xi, yi), **fit_params)

    if weighted:
        for cls in (OwnStep, PlainUnpack):
            with pytest.raises(ValueError, match="Unpack it as Xi, yi, wi = batch"):
                cls(**mlp(**FAST)).fit(X, y, sample_weight=weight)
    else:
        assert OwnStep(**mlp(**FAST)).fit(X, y).history[-1]["acceptance_rate"] > 0
    with pytest.raises(ValueError, match="rejection='budget' draws rows"):
        OwnStep(rejection="budget", **mlp(**FAST)).fit(X, y)

    # An unpacking error of the module's own, under an override that
    # unpacks its batches right, keeps Python's message.
    class Unpacking(ScoresModule):
        def forward(self, X):
            n, d, extra = X.shape
            return super().forward(X)

    class RightStep(RSFTClassifier):
        def train_step_single(self, batch, **fit_params):
            return super().train_step_single(tuple(batch), **fit_params)

    with pytest.raises(ValueError, match=r"^not enough values to unpack"):
        RightStep(module=Unpacking, **FAST).fit(X, y, sample_weight=weight)


@pytest.mark.parametrize("where", ["instance", "parameter"])
def test_validation_reduction_none_is_refused_before_training(data, where):
    # The validation loss was one value per row, and the epoch loop failed on
    # its .item() after a whole training epoch.
    X, y = data
    kwargs = (
        dict(criterion=nn.CrossEntropyLoss(reduction="none"))
        if where == "instance"
        else dict(criterion__reduction="none")
    )
    epochs = []

    class Count(Callback):
        def on_epoch_begin(self, net, **kwargs):
            epochs.append(1)

    net = RSFTClassifier(
        train_split=ValidSplit(4), callbacks=[("count", Count())], **kwargs, **FAST
    )
    with pytest.raises(ValueError, match="reduction='none'.*train_split=None"):
        net.fit(X, y)
    assert not epochs
    # Without a validation part the reduction is unused in training.
    assert RSFTClassifier(**kwargs, **FAST).fit(X, y).history[-1]["train_loss"] > 0

    def no_validation(dataset, y=None, **kwargs):
        return dataset, None

    net = RSFTClassifier(train_split=no_validation, **kwargs, **FAST).fit(X, y)
    assert "valid_loss" not in net.history[-1]


class _PairRows(torch.utils.data.Dataset):
    """Rows (inputs, raw label), as a Dataset given to fit holds them."""

    def __init__(self, X, y):
        self.X, self.y = X, y

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i], self.y[i]


def test_predefined_validation_dataset_of_ones_own_has_its_labels_encoded(data):
    # The raw labels of a torch Dataset other than skorch's were read as
    # class indices: wrong validation scores without a word, or an error
    # inside torch for string labels.
    from skorch.helper import predefined_split

    X, y = data
    Xv, yv = X[:60], y[:60]
    scores = {}
    for name, valid in [
        ("skorch", Dataset(Xv, yv)),
        ("own", _PairRows(Xv, yv)),
        ("tensors", torch.utils.data.TensorDataset(torch.as_tensor(Xv))),
    ]:
        net = RSFTClassifier(train_split=predefined_split(valid), **mlp(**FAST))
        if name == "tensors":
            # Rows without a label: the validation loss cannot be computed.
            with pytest.raises(ValueError, match="has no label"):
                net.fit(X, y)
            continue
        net.fit(X, y)
        scores[name] = net.history[-1, "valid_loss"], net.history[-1, "valid_acc"]
    assert scores["own"] == pytest.approx(scores["skorch"])

    # skorch's Dataset without y (a subclass too, whatever it does to its
    # rows) yields a placeholder label, which would be scored as class 0:
    # refused before training, naming the ways to give the labels.
    class Unlabelled(Dataset):
        pass

    class Scaled(Dataset):
        def transform(self, X, y):
            X, y = super().transform(X, y)
            return X * 2, y.long()

    for unlabelled in (Unlabelled(Xv, None), Scaled(Xv, None)):
        epochs = []
        net = RSFTClassifier(
            train_split=predefined_split(unlabelled),
            callbacks=[("count", _EpochsBegun(epochs))],
            **mlp(**FAST),
        )
        with pytest.raises(ValueError, match="skorch Dataset without y"):
            net.fit(X, y)
        assert not epochs
    unknown = _PairRows(Xv, np.where(yv == "c", "z", yv))
    net = RSFTClassifier(train_split=predefined_split(unknown), **mlp(**FAST))
    with pytest.raises(ValueError, match="label 'z', which is not a class"):
        net.fit(X, y)


def test_slice_dataset_is_read_as_the_dataset_it_slices(data):
    # skorch's SliceDataset was read as an array-like: every row into memory
    # before training, and rows that are dicts failed in NumPy.
    from skorch.helper import SliceDataset

    X, y = data
    reads = []

    class Named(torch.utils.data.Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            reads.append(i)
            return {"a": X[i, :2], "b": X[i, 2:]}, y[i]

    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 3), nn.Linear(N_FEATURES - 2, 3)

        def forward(self, a, b):
            return self.a(a) + self.b(b)

    sliced = SliceDataset(Named(), idx=0)
    count = _RowsReadBeforeTraining(reads)
    net = RSFTClassifier(
        module=TwoInputs,
        max_epochs=1,
        batch_size=32,
        random_state=0,
        callbacks=[("count", count)],
    )
    net.fit(sliced, y)
    # The first row, which every Dataset given to fit has checked.
    assert count.before <= 1 and len(reads) > len(y)
    assert net.predict(sliced[:5]).shape == (5,)
    direct = RSFTClassifier(
        module=TwoInputs, max_epochs=1, batch_size=32, random_state=0
    )
    np.testing.assert_allclose(
        net.predict_proba(sliced),
        direct.fit(Named(), y).predict_proba(Named()),
        rtol=1e-5,
        atol=1e-6,
    )


class _RowsReadBeforeTraining(Callback):
    def __init__(self, reads):
        self.reads = reads

    def on_train_begin(self, net, **kwargs):
        self.before = len(self.reads)


def test_forward_arguments_can_be_requested_whatever_the_sklearn_version(data):
    # scikit-learn before 1.9 replaced skorch's set_fit_request in every
    # class that names metadata with one that knows the named parameters
    # only: set_fit_request(scale=True) was refused.
    import inspect

    from sklearn.utils._metadata_requests import RequestMethod

    from rsft_sklearn._base import _keep_skorch_request_methods

    class Sub(RSFTClassifier):
        pass

    # What scikit-learn 1.6 to 1.8 do to every subclass.
    Sub.set_fit_request = RequestMethod("fit", ["groups", "sample_weight"])
    _keep_skorch_request_methods(Sub)
    for cls in (Sub, RSFTClassifier):
        method = inspect.getattr_static(cls, "set_fit_request")
        assert not isinstance(method, RequestMethod)

    class Scaled(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(N_FEATURES, 3)

        def forward(self, X, scale=None):
            return self.linear(X) * scale

    X, y = data
    with sklearn.config_context(enable_metadata_routing=True):
        net = Sub(module=Scaled, **FAST).set_fit_request(scale=True)
        net.fit(X, y, scale=torch.tensor(2.0))
    assert len(net.history) == FAST["max_epochs"]


def test_history_saved_during_an_epoch_holds_floats(data, tmp_path):
    # save_params(f_history=...) or a pickle taken in on_batch_end held the
    # placeholders of the epoch's batch losses, which JSON refused.
    import pickle

    X, y = data
    saved = []

    class SaveEarly(Callback):
        def on_batch_end(self, net, training=None, **kwargs):
            if training and not saved:
                path = tmp_path / "history.json"
                net.save_params(f_history=path)
                saved.append((path, pickle.dumps(net.history)))

    RSFTClassifier(callbacks=[("save", SaveEarly())], **mlp(**FAST)).fit(X, y)
    path, pickled = saved[0]
    for history in (History.from_file(path), pickle.loads(pickled)):
        assert type(history[-1, "batches", 0, "train_loss"]) is float


class _EpochsBegun(Callback):
    def __init__(self, epochs):
        self.epochs = epochs

    def on_epoch_begin(self, net, **kwargs):
        self.epochs.append(1)
