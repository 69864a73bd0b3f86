"""Behaviour of RSFTClassifier: labels, the training step, errors, persistence."""

import pickle
import warnings

import joblib
import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from imblearn.pipeline import make_pipeline as make_imb_pipeline
from sklearn.base import clone
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from rsft_sklearn import RejectionLoss, RSFTClassifier, acceptance_probability

FAST = dict(
    max_epochs=3, batch_size=64, random_state=0, M=1.0, hardness=1.0, **SAMPLE_RULE
)


@pytest.fixture(scope="module")
def imbalanced():
    X, y = make_classification(
        n_samples=600, n_features=6, weights=[0.85], flip_y=0.02, random_state=1
    )
    return X, y


@pytest.fixture(scope="module")
def fitted(imbalanced):
    X, y = imbalanced
    return RSFTClassifier(**FAST).fit(X, y)


# ----------------------------------------------------------------------------
# Labels, outputs, scikit-learn integration
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "labels",
    [
        np.array(["cat", "dog"]),
        np.array([3, 7]),
        np.array([False, True]),
        np.array(["a", "b", "c"]),
    ],
    ids=["str", "3-7", "bool", "multiclass"],
)
def test_any_label_type(labels):
    rng = np.random.RandomState(0)
    X = rng.randn(200, 4)
    idx = rng.randint(len(labels), size=200)
    X[:, 0] += 3 * idx  # make the classes separable
    y = labels[idx]
    clf = RSFTClassifier(max_epochs=20, lr=1e-2, random_state=0).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, np.unique(labels))
    pred = clf.predict(X)
    assert pred.dtype == y.dtype
    assert set(pred) <= set(labels)
    proba = clf.predict_proba(X)
    assert proba.shape == (200, len(labels))
    np.testing.assert_allclose(proba.sum(1), 1, rtol=1e-5)
    # columns follow classes_: the arg-max column decodes to predict
    np.testing.assert_array_equal(clf.classes_[proba.argmax(1)], pred)
    assert clf.score(X, y) > 0.9


@pytest.mark.parametrize("probability", ["balanced", "training", "raw"])
def test_predict_log_proba_is_the_log_of_predict_proba(imbalanced, probability):
    X, y = imbalanced
    clf = RSFTClassifier(**FAST, probability=probability).fit(X, y)
    np.testing.assert_array_equal(
        clf.predict_log_proba(X), np.log(clf.predict_proba(X))
    )
    pipe = make_pipeline(StandardScaler(), clone(clf)).fit(X, y)
    np.testing.assert_array_equal(
        pipe.predict_log_proba(X), np.log(pipe.predict_proba(X))
    )
    # A probability of 0 (a softmax that underflows in float32) is -inf,
    # without a divide-by-zero warning. The corrections read the logits'
    # log-softmax in float64 there, where it is about -200, not 0.
    with torch.no_grad():
        clf.module_.layers[-1].bias.copy_(torch.tensor([0.0, 200.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        log_proba = clf.predict_log_proba(X)
    if probability == "raw":
        assert np.isneginf(log_proba[:, 0]).any()
    else:
        assert np.isfinite(log_proba).all() and log_proba[:, 0].max() < -150
    assert np.isfinite(log_proba[:, 1]).all()


def test_float64_input_and_reproducibility(imbalanced):
    X, y = imbalanced
    assert X.dtype == np.float64
    p1 = RSFTClassifier(**FAST).fit(X, y).predict_proba(X)
    p2 = RSFTClassifier(**FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    p3 = RSFTClassifier(**{**FAST, "random_state": 1}).fit(X, y).predict_proba(X)
    assert not np.array_equal(p1, p3)


def test_skorch_params_are_settable(imbalanced):
    X, y = imbalanced
    clf = RSFTClassifier(**FAST)
    clf.set_params(
        module__hidden_layer_sizes=(7,),
        optimizer=torch.optim.SGD,
        optimizer__momentum=0.9,
        lr=0.05,
        max_epochs=2,
        batch_size=100,
    )
    clf.fit(X, y)
    assert clf.module_.layers[0].out_features == 7
    assert isinstance(clf.optimizer_, torch.optim.SGD)
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.9
    assert len(clf.history) == 2
    assert clf.history[-1, "train_batch_count"] == 6


def test_grid_search_over_M_in_pipelines(imbalanced):
    X, y = imbalanced
    for make in (make_pipeline, make_imb_pipeline):
        pipe = make(StandardScaler(), RSFTClassifier(**FAST))
        search = GridSearchCV(
            pipe,
            {"rsftclassifier__M": [0.5, 2.0], "rsftclassifier__max_epochs": [2]},
            cv=2,
            scoring="balanced_accuracy",
        ).fit(X, y)
        assert search.best_params_["rsftclassifier__M"] in (0.5, 2.0)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
    scores = cross_val_score(RSFTClassifier(**FAST), X, y, cv=3)
    assert scores.shape == (3,) and np.all(scores > 0.5)


def test_history_records_acceptance(fitted):
    row = fitted.history[-1]
    assert 0 < row["acceptance_rate"] < 1
    assert row["acceptance_rate[1]"] > row["acceptance_rate[0]"]
    assert row["M_effective"] == 1.0
    # the overall rate is the count-weighted mean of the per-class rates
    _, counts = np.unique(fitted.predict(np.zeros((1, 6))), return_counts=True)
    n0, n1 = 600 * 0.85, 600 * 0.15
    overall = (n0 * row["acceptance_rate[0]"] + n1 * row["acceptance_rate[1]"]) / 600
    assert abs(overall - row["acceptance_rate"]) < 0.03


def test_verbose_table_shows_acceptance(imbalanced, capsys):
    X, y = imbalanced
    RSFTClassifier(**{**FAST, "verbose": 1}).fit(X, y)
    out = capsys.readouterr().out
    assert "acceptance_rate[0]" in out and "M_effective" in out


# ----------------------------------------------------------------------------
# The training step
# ----------------------------------------------------------------------------
def _frozen(**kw):
    """A net whose parameters never change (lr=0), so p is fixed."""
    return RSFTClassifier(
        optimizer=torch.optim.SGD,
        lr=0.0,
        batch_size=50,
        random_state=0,
        **{**SAMPLE_RULE, **kw},
    )


def test_empirical_acceptance_matches_mean_probability(imbalanced):
    X, y = imbalanced
    clf = _frozen(M=2.0, hardness=1.0, max_epochs=30).fit(X, y)
    logits = clf.forward(X.astype(np.float32))
    a = acceptance_probability(
        logits,
        torch.as_tensor(y),
        torch.as_tensor(clf.class_target_weight_[y], dtype=torch.float32),
        M=2.0,
    ).numpy()
    rates = np.array(clf.history[:, "acceptance_rate"])
    n = 600 * 30
    se = np.sqrt(a.mean() * (1 - a.mean()) / n)
    assert abs(rates.mean() - a.mean()) < 6 * se + 1e-6
    for k in (0, 1):
        got = np.mean(clf.history[:, f"acceptance_rate[{k}]"])
        assert abs(got - a[y == k].mean()) < 0.02


def test_hardness_zero_M_one_balances_the_classes():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1, 2], [900, 300, 60])
    X = rng.randn(len(y), 3)
    clf = _frozen(M=1.0, hardness=0.0, max_epochs=20).fit(X, y)
    rates = {k: np.mean(clf.history[:, f"acceptance_rate[{k}]"]) for k in range(3)}
    assert rates[2] == 1.0  # the rarest class is kept whole
    n_draws = {0: 900 * 20, 1: 300 * 20}
    for k, n_k in ((0, 900), (1, 300)):
        expected = 60 / n_k
        se = np.sqrt(expected * (1 - expected) / n_draws[k])
        assert abs(rates[k] - expected) < 6 * se
        # same expected number of accepted samples as the rarest class
        assert abs(rates[k] * n_k - 60) < 6 * se * n_k


def test_rejected_samples_contribute_zero_gradient(imbalanced):
    X, y = imbalanced
    clf = RSFTClassifier(
        M=3.0, hardness=1.0, random_state=0, max_epochs=1, **SAMPLE_RULE
    ).fit(X, y)
    clf.on_train_begin(clf)
    clf.history.new_epoch()
    clf.on_epoch_begin(clf)
    Xb = torch.as_tensor(X[:64], dtype=torch.float32)
    yb = torch.as_tensor(y[:64])
    # Replay the generator to know which rows the step will accept.
    state = clf.mask_generator_.get_state()
    with torch.no_grad():
        logits = clf.module_(Xb)
    w = torch.as_tensor(clf.class_target_weight_[y[:64]], dtype=torch.float32)
    a = acceptance_probability(logits, yb, w, M=3.0)
    g = torch.Generator().set_state(state)
    mask = (torch.rand(64, generator=g) < a).float()
    assert 0 < mask.sum() < 64

    clf.module_.zero_grad()
    clf.train_step_single((Xb, yb))
    got = [p.grad.clone() for p in clf.module_.parameters()]

    clf.module_.zero_grad()
    keep = mask.bool()
    loss = torch.nn.functional.cross_entropy(clf.module_(Xb[keep]), yb[keep])
    loss.backward()
    for g_rsft, g_subset in zip(got, (p.grad for p in clf.module_.parameters())):
        torch.testing.assert_close(g_rsft, g_subset, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize(
    "optimizer, kwargs",
    [(torch.optim.Adam, {}), (torch.optim.SGD, {"optimizer__momentum": 0.9})],
    ids=["adam", "sgd-momentum"],
)
def test_batch_with_nothing_accepted_changes_nothing(imbalanced, optimizer, kwargs):
    X, y = imbalanced
    clf = RSFTClassifier(
        optimizer=optimizer,
        lr=0.05,
        rejection="sample",
        warmup_epochs=1,
        max_epochs=1,
        random_state=0,
        **kwargs,
    ).fit(X, y)
    params = {k: v.clone() for k, v in clf.module_.state_dict().items()}
    opt_state = pickle.dumps(clf.optimizer_.state_dict())
    # hardness 0 and a huge M: every acceptance probability is about 1e-30
    clf.set_params(M=1e30, hardness=0.0, warmup_epochs=0, max_epochs=2)
    clf.partial_fit(X, y)
    assert clf.history[-1, "acceptance_rate"] == 0.0
    for k, v in clf.module_.state_dict().items():
        torch.testing.assert_close(v, params[k], rtol=0, atol=0)
    after = clf.optimizer_.state_dict()
    before = pickle.loads(opt_state)
    for key, state in before["state"].items():
        for name, value in state.items():
            torch.testing.assert_close(after["state"][key][name], value, rtol=0, atol=0)


def test_extreme_logits_give_finite_training(imbalanced):
    X, y = imbalanced

    class Loud(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(6, 2)

        def forward(self, X):
            return 1e4 * torch.tanh(self.linear(X))

    clf = RSFTClassifier(Loud, max_epochs=3, random_state=0, **SAMPLE_RULE).fit(X, y)
    assert np.all(np.isfinite(clf.history[:, "train_loss"]))
    assert np.all(np.isfinite(clf.history[:, "acceptance_rate"]))
    assert np.all(np.isfinite(clf.predict_proba(X)))


def test_warmup_epochs_do_not_reject(imbalanced):
    X, y = imbalanced
    clf = RSFTClassifier(
        rejection="sample",
        warmup_epochs=2,
        max_epochs=4,
        M=1.0,
        hardness=1.0,
        target_power=1.0,
        random_state=0,
    ).fit(X, y)
    rates = clf.history[:, "acceptance_rate"]
    assert rates[:2] == [1.0, 1.0]
    assert max(rates[2:]) < 0.9


def test_expected_mode_weights_the_loss(imbalanced):
    X, y = imbalanced
    clf = RSFTClassifier(**{**FAST, "rejection": "expected", "hardness": 0.0}).fit(X, y)
    # with hardness 0 the weights are the class weights; their mean per class
    # is what is recorded
    row = clf.history[-1]
    np.testing.assert_allclose(
        [row["acceptance_rate[0]"], row["acceptance_rate[1]"]],
        clf.class_target_weight_,
        rtol=1e-5,
    )


def test_sample_weight_scales_acceptance():
    rng = np.random.RandomState(0)
    X = rng.randn(2000, 3)
    y = np.repeat([0, 1], 1000)
    sw = np.where(np.arange(2000) % 2 == 0, 1.0, 3.0)
    clf = _frozen(M=4.0, hardness=0.0, target="uniform", max_epochs=5)
    clf.fit(X, y, sample_weight=sw)
    # weights are divided by their mean (2): a = min(1, sw / 2 / 4)
    expected = 0.5 * (1 / 8) + 0.5 * (3 / 8)
    rate = np.mean(clf.history[:, "acceptance_rate"])
    assert abs(rate - expected) < 0.02


# ----------------------------------------------------------------------------
# Errors
# ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "params, match",
    [
        ({"M": 0}, "M"),
        ({"M": -1.0}, "M"),
        ({"hardness": -0.5}, "hardness"),
        # A bool passed as 1 and a hardness of 1e39 overflowed in float32.
        ({"hardness": True}, "hardness must be a number, not a bool"),
        # read as 1 (M, hardness and prior_correction refused them)
        ({"budget": True}, "budget must be a number, not a bool"),
        ({"warmup_epochs": True}, "warmup_epochs must be a number, not a bool"),
        ({"pool_size": True}, "pool_size must be a number, not a bool"),
        ({"rescore_every": True}, "rescore_every must be a number, not a bool"),
        ({"max_epochs": True}, "max_epochs must be a number, not a bool"),
        ({"lr": True}, "lr must be a number, not a bool"),
        # True read as 1, "2e0" as 2, a list with numpy's message
        ({"target": {0: True, 1: 2.0}}, "one number per class, got True"),
        ({"target": {0: "0.5", 1: 2.0}}, "one number per class, got '0.5'"),
        ({"target": {0: [1.0], 1: 2.0}}, r"one number per class, got \[1.0\]"),
        ({"hardness": 1e39}, "float32 arithmetic"),
        ({"target": "sometimes"}, "target"),
        ({"rejection": "maybe"}, "rejection"),
        ({"warmup_epochs": -1}, "warmup_epochs"),
        ({"target": {0: 1.0}}, "class"),
        ({"target": {0: 1.0, 1: 0.0}}, "> 0"),
        ({"callbacks": 3}, "callbacks"),
    ],
)
def test_bad_parameters(imbalanced, params, match):
    X, y = imbalanced
    with pytest.raises((ValueError, TypeError), match=match):
        RSFTClassifier(**{**FAST, **params}).fit(X, y)


def test_bad_data(imbalanced):
    X, y = imbalanced
    clf = RSFTClassifier(**FAST)
    for bad, match in ((np.nan, "NaN"), (np.inf, "infinity")):
        Xb = X.copy()
        Xb[3, 2] = bad
        with pytest.raises(ValueError, match=match):
            clf.fit(Xb, y)
    with pytest.raises(ValueError, match="one class"):
        clf.fit(X, np.zeros(len(X)))
    # A first partial_fit on a one-class chunk is told how to name the rest.
    with pytest.raises(ValueError, match=r"one class only \(0\);.*classes=\[\.\.\.\]"):
        RSFTClassifier(**FAST).partial_fit(X, np.zeros(len(X), dtype=int))
    one_chunk = RSFTClassifier(**FAST).partial_fit(X, np.zeros(len(X)), classes=[0, 1])
    np.testing.assert_array_equal(one_chunk.classes_, [0, 1])
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        clf.fit(X, y[:-1])
    with pytest.raises(ValueError, match="(?i)negative"):
        clf.fit(X, y, sample_weight=-np.ones(len(X)))
    with pytest.raises(ValueError, match="sample_weight"):
        clf.fit(X, y, sample_weight=np.ones(len(X) - 1))
    with pytest.raises(NotFittedError):
        RSFTClassifier().predict(X)
    with pytest.raises(NotFittedError):
        RSFTClassifier().predict_proba(X)


def test_predict_with_wrong_number_of_features(fitted, imbalanced):
    X, _ = imbalanced
    with pytest.raises(ValueError, match="features"):
        fitted.predict(X[:, :4])


def test_module_with_wrong_output_size(imbalanced):
    X, y = imbalanced
    module = torch.nn.Linear(6, 3)
    with pytest.raises(ValueError, match="3 logits per sample but the data has 2"):
        RSFTClassifier(module, **FAST).fit(X, y)


# ----------------------------------------------------------------------------
# Persistence
# ----------------------------------------------------------------------------
def test_pickle_and_joblib_round_trip(fitted, imbalanced, tmp_path):
    X, _ = imbalanced
    expected = fitted.predict_proba(X)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.predict_proba(X), expected)
    path = tmp_path / "model.joblib"
    joblib.dump(fitted, path)
    np.testing.assert_array_equal(joblib.load(path).predict_proba(X), expected)
    np.testing.assert_array_equal(joblib.load(path).predict(X), fitted.predict(X))


def test_clone_of_fitted_is_unfitted(fitted, imbalanced):
    X, _ = imbalanced
    fresh = clone(fitted)
    assert fresh.get_params()["M"] == fitted.M
    with pytest.raises(NotFittedError):
        fresh.predict(X)


def test_dropout_is_reproducible_and_leaves_global_rng_alone(imbalanced):
    X, y = imbalanced
    params = dict(FAST, module__dropout=0.5)
    torch.manual_seed(123)
    p1 = RSFTClassifier(**params).fit(X, y).predict_proba(X)
    after_first = torch.rand(1)
    torch.manual_seed(7)
    p2 = RSFTClassifier(**params).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(p1, p2)
    torch.manual_seed(123)
    assert torch.rand(1) == after_first  # the fit did not consume the stream


def test_module_rebuilt_by_set_params_is_seeded_by_random_state(imbalanced):
    # skorch rebuilt the module from torch's global generator.
    X, y = imbalanced
    weights = []
    for global_seed in (0, 1):
        clf = RSFTClassifier(**FAST).fit(X, y)
        torch.manual_seed(global_seed)
        expected = torch.rand(1)
        torch.manual_seed(global_seed)
        clf.set_params(module__hidden_layer_sizes=(7,))
        assert torch.rand(1) == expected  # the caller's stream is left alone
        weights.append(clf.module_.state_dict())
    fresh = RSFTClassifier(
        **FAST,
        module__hidden_layer_sizes=(7,),
        module__n_features=X.shape[1],
        module__n_classes=2,
    ).initialize()
    for key, value in fresh.module_.state_dict().items():
        assert weights[0][key].shape == value.shape
        torch.testing.assert_close(weights[0][key], value, rtol=0, atol=0)
        torch.testing.assert_close(weights[1][key], value, rtol=0, atol=0)


def test_set_params_that_rebuilds_nothing_leaves_the_generator_alone(
    imbalanced, monkeypatch
):
    # Every set_params went through the seeded fork (and marked the thread as
    # drawing from the generator, which warned beside a fit in another
    # thread).
    import rsft_sklearn._base as base

    X, y = imbalanced
    clf = RSFTClassifier(**FAST).fit(X, y)
    seeded = []
    monkeypatch.setattr(base, "seed_fit_generators", lambda *a: seeded.append(a))
    clf.set_params(verbose=0, lr=0.05, optimizer__weight_decay=0.0, M=2.0)
    assert seeded == []
    # A module rebuilt inside torch.inference_mode() can still be trained.
    with torch.inference_mode():
        clf.set_params(module__hidden_layer_sizes=(6,))
    assert len(seeded) == 1
    assert not next(clf.module_.parameters()).is_inference()
    clf.partial_fit(X, y)


def test_set_params_after_a_fit_takes_effect_or_leaves_the_estimator(imbalanced):
    from skorch.callbacks import LRScheduler

    X, y = imbalanced
    clf = RSFTClassifier(**FAST).fit(X, y)
    # A refused value leaves parameters and components as they were: the
    # parameter changed, and continued training used the old criterion.
    with pytest.raises(TypeError):
        clf.set_params(criterion=torch.nn.MSELoss)
    assert clf.criterion is torch.nn.CrossEntropyLoss
    assert type(clf.criterion_.base_criterion) is torch.nn.CrossEntropyLoss
    # A refused call leaves the optimiser's settings too (skorch writes them
    # into its groups first).
    with pytest.raises(TypeError):
        clf.set_params(criterion=torch.nn.MSELoss, lr=0.5)
    assert clf.optimizer_.param_groups[0]["lr"] == clf.lr
    # Another optimiser class is built (skorch's "Something went wrong"),
    # with the settings of the same call.
    clf.set_params(optimizer=torch.optim.SGD, optimizer__momentum=0.9)
    assert type(clf.optimizer_) is torch.optim.SGD
    assert clf.optimizer_.param_groups[0]["momentum"] == 0.9
    clf.partial_fit(X, y)
    # A scheduler added after the fit runs in continued training (it failed
    # in torch: no 'initial_lr' in the optimiser's groups).
    clf.set_params(callbacks=[LRScheduler(policy="StepLR", step_size=1, gamma=0.5)])
    clf.partial_fit(X, y)
    assert clf.optimizer_.param_groups[0]["lr"] < clf.lr
    # A network rebuilt to another width is named, not a torch error.
    clf.set_params(module__n_features=X.shape[1] - 1)
    for call in (clf.predict_proba, lambda X: clf.partial_fit(X, y)):
        with pytest.raises(ValueError, match="features per row, but the network"):
            call(X)


def test_cpu_fit_leaves_accelerator_generators_alone(imbalanced, monkeypatch):
    # torch.manual_seed reseeds every CUDA generator too (lazily, without a
    # GPU), which a fit's private copy of the CPU generator does not cover.
    X, y = imbalanced
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", calls.append)
    monkeypatch.setattr(torch.cuda, "manual_seed", calls.append)
    clf = RSFTClassifier(**FAST).fit(X, y)
    clf.set_params(module__hidden_layer_sizes=(7,))
    assert calls == []


def test_a_random_state_changed_before_continued_training_warns(imbalanced):
    # It was read at initialisation only: the new value changed nothing,
    # where scikit-learn's warm-start estimators read it.
    X, y = imbalanced
    clf = RSFTClassifier(**FAST, warm_start=True).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X, y)
        clf.set_params(random_state=np.int64(0)).partial_fit(X, y)
    clf.set_params(random_state=5)
    for method in (clf.fit, clf.partial_fit):
        with pytest.warns(UserWarning, match="random_state changed from 0 to 5"):
            method(X, y)
    # A fresh fit seeds anew.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.set_params(warm_start=False).fit(X, y)
        clf.partial_fit(X, y)


def test_predicting_on_a_torch_dataset_leaves_global_rng_alone(imbalanced):
    # A DataLoader draws its workers' base seed even when it reads in order.
    from skorch.dataset import Dataset

    X, y = imbalanced
    clf = RSFTClassifier(**FAST).fit(X, y)
    data = Dataset(X.astype(np.float32), None)
    torch.manual_seed(5)
    expected = torch.rand(1)
    torch.manual_seed(5)
    proba = clf.predict_proba(data)
    clf.predict(data)
    assert torch.rand(1) == expected
    np.testing.assert_array_equal(proba, clf.predict_proba(X))


def test_fit_on_a_dataset_that_augments_leaves_global_rngs_alone(imbalanced):
    # fit reads the first row to check it before training; a row drawn at
    # random there moved the caller's generators.
    import random

    from rsft_sklearn._multimodal import check_dataset

    X, y = imbalanced
    X = X.astype(np.float32)

    class Noisy(torch.utils.data.Dataset):
        def __len__(self):
            return len(X)

        def __getitem__(self, i):
            noise = torch.rand(()) + np.random.rand() + random.random()  # noqa: NPY002
            return X[i] + 0.01 * float(noise), y[i]

    def draws():
        return torch.rand(1).item(), np.random.rand(), random.random()  # noqa: NPY002

    def seed():
        torch.manual_seed(3)
        np.random.seed(3)  # noqa: NPY002
        random.seed(3)

    seed()
    expected = draws()
    seed()
    check_dataset(Noisy(), "fit", None)
    assert draws() == expected
    seed()
    RSFTClassifier(**FAST, module__n_features=X.shape[1], module__n_classes=2).fit(
        Noisy(), y
    )
    assert draws()[0] == expected[0]  # torch's, which the fit keeps apart


# ----------------------------------------------------------------------------
# The loss module inside the estimator
# ----------------------------------------------------------------------------
def test_criterion_is_the_rejection_loss_around_a_copy(imbalanced):
    X, y = imbalanced
    given = torch.nn.CrossEntropyLoss(label_smoothing=0.1)
    clf = RSFTClassifier(criterion=given, **FAST).fit(X, y)
    assert isinstance(clf.criterion_, RejectionLoss)
    base = clf.criterion_.base_criterion
    assert base is not given and base.reduction == "none"
    assert base.label_smoothing == 0.1
    # The instance passed in is left as it was.
    assert given.reduction == "mean"
    np.testing.assert_allclose(
        clf.criterion_.class_weight.numpy(), clf.class_target_weight_, rtol=1e-6
    )


def test_criterion_parameters_reach_the_base_criterion(imbalanced):
    X, y = imbalanced
    clf = RSFTClassifier(criterion__label_smoothing=0.2, **FAST).fit(X, y)
    assert clf.criterion_.base_criterion.label_smoothing == 0.2
    assert clf.criterion_.base_criterion.reduction == "none"


def test_parameters_changed_after_fit_reach_the_loss(imbalanced):
    X, y = imbalanced
    clf = RSFTClassifier(warm_start=True, **FAST).fit(X, y)
    clf.set_params(M="auto", target_acceptance=0.3, rejection="expected")
    clf.fit(X, y)
    assert clf.criterion_.adaptive and clf.criterion_.rejection == "expected"
    assert np.isfinite(clf.history[-1, "M_effective"])


def test_target_dict_labels_beyond_y_are_left_aside(imbalanced):
    # As scikit-learn's class_weight: a cross-validation fold without a rare
    # class was refused.
    X, y = imbalanced
    given = RSFTClassifier(target={0: 1.0, 1: 3.0, 7: 9.0}, **FAST).fit(X, y)
    plain = RSFTClassifier(target={0: 1.0, 1: 3.0}, **FAST).fit(X, y)
    np.testing.assert_array_equal(given.class_target_weight_, [1 / 3, 1.0])
    np.testing.assert_array_equal(given.predict_proba(X), plain.predict_proba(X))
    with pytest.raises(ValueError, match=r"missing \[1\], and labels not in y: \[7\]"):
        RSFTClassifier(target={0: 1.0, 7: 1.0}, **FAST).fit(X, y)
    with pytest.raises(ValueError, match=r"missing \[1\]\.$"):
        RSFTClassifier(target={0: 1.0}, **FAST).fit(X, y)


def test_no_per_fit_state_outlives_the_fit(fitted):
    assert "fit_state_" not in vars(fitted)
    assert fitted.criterion_.generator is fitted.mask_generator_


def test_training_goes_on_from_an_estimator_with_a_bare_criterion(imbalanced):
    # Pickles of earlier versions hold the criterion itself as criterion_.
    X, y = imbalanced
    clf = RSFTClassifier(**FAST).fit(X, y)
    clf.criterion_ = torch.nn.CrossEntropyLoss(reduction="none")
    before = clf.predict_proba(X[:5])
    assert np.allclose(before.sum(axis=1), 1.0)
    clf.partial_fit(X, y)
    assert isinstance(clf.criterion_, RejectionLoss)
    assert len(clf.history) == 2 * FAST["max_epochs"]


def test_fits_in_threads_side_by_side_warn_that_they_share_the_generator(imbalanced):
    # The threads of a process share torch's global generator (initial
    # weights, dropout): two fits side by side are not reproducible, and
    # both say so. One fit after another in threads does not warn.
    import threading

    from skorch.callbacks import Callback

    X, y = imbalanced
    first_started, second_done = threading.Event(), threading.Event()

    class WaitForTheOther(Callback):
        def on_epoch_begin(self, net, **kwargs):
            first_started.set()
            second_done.wait(timeout=60)

    caught = {}

    def fit(name, **params):
        with warnings.catch_warnings(record=True) as records:
            warnings.simplefilter("always")
            RSFTClassifier(**{**FAST, "max_epochs": 1, **params}).fit(X, y)
        caught[name] = [str(r.message) for r in records]

    def second():
        first_started.wait(timeout=60)
        try:
            fit("second")
        finally:
            second_done.set()

    threads = [
        threading.Thread(
            target=fit, args=("first",), kwargs={"callbacks": [WaitForTheOther()]}
        ),
        threading.Thread(target=second),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for name in ("first", "second"):
        # Once per fit (its initialisation and its training are one mark).
        shared = [m for m in caught[name] if "Another fit ran in another thread" in m]
        assert len(shared) == 1, caught[name]
    # One at a time, in two threads: no warning.
    for name in ("third", "fourth"):
        thread = threading.Thread(target=fit, args=(name,))
        thread.start()
        thread.join(timeout=120)
        assert not any("another thread" in m for m in caught[name]), caught[name]
