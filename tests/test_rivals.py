"""The benchmark's rivals: their losses, wrappers, decisions and method specs."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from _rules import SAMPLE_RULE
from sklearn.base import BaseEstimator, ClassifierMixin
from skorch.history import History

from rsft_sklearn import RSFTClassifier
from rsft_sklearn.benchmark._losses import (
    FocalLoss,
    LogitAdjustedLoss,
    LogitAdjustmentPrior,
    prior_after_rejection,
    softmax,
)
from rsft_sklearn.benchmark._methods import (
    ALIASES,
    ALL_METHODS,
    CONTROLS,
    EXTRA_METHODS,
    METHODS,
    NEURAL_METHODS,
    RIVALS,
    RSFT_METHODS,
    UNAVAILABLE,
    applicable,
    make_method,
    method_label,
    parse_method,
    parse_methods,
)
from rsft_sklearn.benchmark._rivals import (
    ClassifierRetraining,
    LogitAdjustedRSFT,
    TunedLogitAdjustment,
    history_rows,
    last_linear_layer,
)

NEW_METHODS = (*RSFT_METHODS, *RIVALS, *CONTROLS)
EPOCHS = 2
BATCH = 32


def _data(n_classes, n=120, seed=0):
    """Long-tailed Gaussian blobs with string labels."""
    rng = np.random.default_rng(seed)
    counts = {2: [90, 30], 3: [72, 30, 18]}[n_classes]
    counts = [int(round(c * n / sum(counts))) for c in counts]
    y = np.repeat(np.array(["a", "b", "c"][:n_classes]), counts)
    centres = rng.normal(scale=2.0, size=(n_classes, 4))
    X = rng.normal(size=(len(y), 4)) + centres[np.searchsorted(["a", "b", "c"], y)]
    return X.astype(np.float32), y


def _net(**params):
    settings = {"max_epochs": EPOCHS, "batch_size": BATCH, "random_state": 0}
    return RSFTClassifier(**{**settings, **params})


@pytest.mark.parametrize("n_classes", [2, 3])
@pytest.mark.parametrize("name", NEW_METHODS)
def test_every_new_method_fits_and_predicts(name, n_classes):
    if not applicable(name, n_classes):
        pytest.skip(f"{name} does not apply to {n_classes} classes")
    X, y = _data(n_classes)
    estimator = make_method(name, max_epochs=EPOCHS, batch_size=BATCH, seed=0)
    estimator.fit(X, y)
    proba = estimator.predict_proba(X)
    assert proba.shape == (len(y), n_classes)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(estimator.predict(X)) <= set(np.unique(y))
    final = estimator.steps[-1][1] if hasattr(estimator, "steps") else None
    if final is not None and name in NEURAL_METHODS and not hasattr(final, "history"):
        # A wrapper whose cost is not one skorch history reports its own.
        assert final.backward_rows_ >= EPOCHS * len(y) * 0.5


def test_method_lists_are_consistent():
    assert not set(METHODS) & set(EXTRA_METHODS)
    assert set(NEW_METHODS) <= set(ALL_METHODS)
    assert set(NEURAL_METHODS) <= set(ALL_METHODS)
    assert "post-hoc logit adjustment" in NEURAL_METHODS
    assert "HistGradientBoosting balanced" not in NEURAL_METHODS
    assert not any("(" in name or "," in name for name in ALL_METHODS)
    assert set(ALIASES.values()) <= set(ALL_METHODS)
    assert "SelfPacedEnsemble" in UNAVAILABLE
    assert not set(UNAVAILABLE) & set(ALL_METHODS)
    assert METHODS[0] == "RSFT"


# ----------------------------------------------------------------------
# Losses
# ----------------------------------------------------------------------


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_logit_adjusted_loss_is_cross_entropy_on_shifted_logits(reduction):
    torch.manual_seed(0)
    logits, y = torch.randn(7, 3), torch.tensor([0, 1, 2, 0, 0, 1, 0])
    prior = np.array([0.7, 0.2, 0.1])
    loss = LogitAdjustedLoss(prior, tau=0.5, reduction=reduction)
    shifted = logits + 0.5 * torch.log(torch.tensor(prior, dtype=torch.float32))
    expected = torch.nn.functional.cross_entropy(shifted, y, reduction=reduction)
    torch.testing.assert_close(loss(logits, y), expected)
    assert "log_prior" in dict(loss.named_buffers())


def test_logit_adjusted_loss_needs_a_prior_and_normalises_it():
    loss = LogitAdjustedLoss()
    with pytest.raises(RuntimeError, match="no class prior"):
        loss(torch.zeros(2, 2), torch.tensor([0, 1]))
    loss.set_class_prior([3, 1])
    torch.testing.assert_close(loss.log_prior, torch.log(torch.tensor([0.75, 0.25])))
    with pytest.raises(ValueError, match="positive"):
        loss.set_class_prior([1.0, 0.0])


def test_focal_loss_matches_its_formula():
    logits, y = torch.tensor([[2.0, 0.0, -1.0], [0.0, 1.0, 0.0]]), torch.tensor([0, 2])
    p = torch.softmax(logits, dim=1)[[0, 1], y]
    expected = -((1 - p) ** 2) * torch.log(p)
    torch.testing.assert_close(FocalLoss(reduction="none")(logits, y), expected)
    torch.testing.assert_close(
        FocalLoss(gamma=0.0)(logits, y),
        torch.nn.functional.cross_entropy(logits, y),
    )


# ----------------------------------------------------------------------
# The prior after rejection
# ----------------------------------------------------------------------


def test_prior_after_rejection():
    np.testing.assert_allclose(
        prior_after_rejection([0.8, 0.15, 0.05], [0.25, 0.5, 1.0]),
        np.array([0.2, 0.075, 0.05]) / 0.325,
    )
    # A class without samples keeps its prior; one never accepted stays finite.
    out = prior_after_rejection([0.5, 0.5], [np.nan, 0.0])
    assert out[1] > 0 and np.isclose(out.sum(), 1)


def test_callback_sets_the_buffer_to_the_prior_after_rejection():
    X, y = _data(3, n=240)
    net = _net(
        max_epochs=3,
        criterion=LogitAdjustedLoss,
        predict_nonlinearity=softmax,
        callbacks=[LogitAdjustmentPrior(after_rejection=True)],
        **SAMPLE_RULE,
    ).fit(X, y)
    history = net.history
    np.testing.assert_allclose(history[0]["loss_class_prior"], net.class_prior_)
    for epoch in range(3):
        rates = [history[epoch][f"acceptance_rate[{c}]"] for c in net.classes_]
        expected = prior_after_rejection(net.class_prior_, rates)
        if epoch < 2:
            np.testing.assert_allclose(
                history[epoch + 1]["loss_class_prior"], expected, rtol=1e-12
            )
    # The buffer holds the prior of the last epoch's accepted samples.
    np.testing.assert_allclose(
        net.criterion_.base_criterion.log_prior.exp().numpy(), expected, rtol=1e-5
    )
    # RSFT's default rule keeps the minority more than the majority.
    assert expected[-1] > net.class_prior_[-1]


def test_callback_finds_a_wrapped_criterion():
    loss = LogitAdjustedLoss()
    wrapper = torch.nn.Module()
    wrapper.base_criterion = loss
    history = History()
    history.new_epoch()
    history.record("acceptance_rate[0]", 0.25)
    history.record("acceptance_rate[1]", 1.0)
    net = SimpleNamespace(
        criterion_=wrapper,
        class_prior_=np.array([0.8, 0.2]),
        classes_=np.array([0, 1]),
        device="cpu",
        history=history,
    )
    callback = LogitAdjustmentPrior(after_rejection=True)
    callback.on_train_begin(net)
    torch.testing.assert_close(loss.log_prior.exp(), torch.tensor([0.8, 0.2]))
    callback.on_epoch_end(net)
    torch.testing.assert_close(loss.log_prior.exp(), torch.tensor([0.5, 0.5]))
    assert history[-1]["loss_class_prior"] == pytest.approx([0.8, 0.2])


def test_callback_refuses_another_criterion():
    X, y = _data(2)
    net = _net(callbacks=[LogitAdjustmentPrior()])
    with pytest.raises(TypeError, match="LogitAdjustedLoss"):
        net.fit(X, y)


def test_rsft_with_logit_adjusted_loss_decides_on_balanced_times_loss_prior():
    X, y = _data(2, n=200)
    clf = LogitAdjustedRSFT(_net(max_epochs=3)).fit(X, y)
    net = clf.estimator_
    assert isinstance(net.criterion_.base_criterion, LogitAdjustedLoss)
    np.testing.assert_allclose(
        clf.loss_class_prior_, net.history[-1]["loss_class_prior"]
    )
    balanced = net.predict_proba(X)
    expected = balanced * clf.loss_class_prior_
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(clf.predict_proba(X), expected, rtol=1e-5)
    assert clf.backward_rows_ == 3 * len(y)
    # The given estimator is left as it was.
    assert clf.estimator.criterion is torch.nn.CrossEntropyLoss


def test_wrappers_leave_the_given_callbacks_alone():
    X, y = _data(2)
    given = LogitAdjustmentPrior()
    net = _net(callbacks=[("given", given)], criterion=LogitAdjustedLoss)
    LogitAdjustedRSFT(net).fit(X, y)
    assert net.callbacks == [("given", given)]
    assert not hasattr(given, "class_prior_")
    ClassifierRetraining(net.set_params(warmup_epochs=EPOCHS), retrain_epochs=1).fit(
        X, y
    )
    assert not hasattr(given, "class_prior_")


def test_logit_adjusted_loss_method_decides_on_raw_output():
    X, y = _data(3)
    pipe = make_method(
        "logit-adjusted loss", max_epochs=EPOCHS, batch_size=BATCH, seed=0
    ).fit(X, y)
    net = pipe["clf"]
    assert net.probability == "raw"
    np.testing.assert_allclose(
        net.criterion_.base_criterion.log_prior.exp().numpy(),
        net.class_prior_,
        rtol=1e-5,
    )


# ----------------------------------------------------------------------
# Post-hoc logit adjustment
# ----------------------------------------------------------------------


def test_post_hoc_logit_adjustment_is_the_plain_nets_balanced_decision():
    X, y = _data(3)
    pipe = make_method("plain net", max_epochs=EPOCHS, batch_size=BATCH, seed=0).fit(
        X, y
    )
    net = pipe["clf"]
    assert net.warmup_epochs == net.max_epochs
    balanced = pipe.predict_proba(X)
    net.set_params(probability="raw")
    raw = pipe.predict_proba(X)
    expected = raw / net.class_prior_
    np.testing.assert_allclose(
        balanced, expected / expected.sum(axis=1, keepdims=True), rtol=1e-5
    )


class _KnownPosterior(ClassifierMixin, BaseEstimator):
    """Two unit Gaussians at 0 and ``shift`` with prior ``(1 - q, q)``; returns
    their exact posterior, or with ``balanced=True`` the equal-prior one."""

    def __init__(self, q=0.1, shift=1.5, balanced=False):
        self.q = q
        self.shift = shift
        self.balanced = balanced

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        x = np.asarray(X)[:, 0]
        log_odds = self.shift * x - self.shift**2 / 2
        if not self.balanced:
            log_odds = log_odds + np.log(self.q / (1 - self.q))
        p1 = 1 / (1 + np.exp(-log_odds))
        return np.c_[1 - p1, p1]


def _gaussians(n=20000, q=0.1, shift=1.5, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < q).astype(int)
    return (rng.normal(size=n) + shift * y).reshape(-1, 1), y


def test_tuned_tau_finds_the_balanced_decision():
    X, y = _gaussians()
    tuned = TunedLogitAdjustment(_KnownPosterior(), random_state=0).fit(X, y)
    # The Bayes rule for balanced accuracy is tau = 1 on the true posterior.
    assert 0.75 <= tuned.tau_ <= 1.25
    assert tuned.validation_scores_.max() > tuned.validation_scores_[0] + 0.05
    # A model that already decides balanced needs no adjustment.
    balanced = TunedLogitAdjustment(_KnownPosterior(balanced=True), random_state=0)
    assert balanced.fit(X, y).tau_ <= 0.25


def test_tuned_tau_breaks_ties_toward_one_and_counts_both_fits():
    X, y = _data(2)
    y = np.where(y == "a", 0, 1)
    X[:, 0] = np.where(y == 1, 10.0, -10.0)
    net = _net(warmup_epochs=EPOCHS, probability="raw", lr=0.05)
    tuned = TunedLogitAdjustment(net, random_state=0).fit(X, y)
    # Separable data: every tau scores 1, and the tie goes to tau = 1.
    assert tuned.validation_scores_.min() == 1.0
    assert tuned.tau_ == 1.0
    n_inner = len(y) - int(np.ceil(0.25 * len(y)))
    assert tuned.backward_rows_ == EPOCHS * (n_inner + len(y))
    log_p = np.log(tuned.estimator_.predict_proba(X))
    adjusted = np.exp(log_p - tuned.log_prior_)
    np.testing.assert_allclose(
        tuned.predict_proba(X),
        adjusted / adjusted.sum(axis=1, keepdims=True),
        rtol=1e-5,
    )


def test_tuned_tau_without_refit_fits_once():
    X, y = _data(2)
    tuned = TunedLogitAdjustment(
        _net(warmup_epochs=EPOCHS, probability="raw"), refit=False, random_state=0
    ).fit(X, y)
    assert tuned.backward_rows_ == EPOCHS * (len(y) - int(np.ceil(0.25 * len(y))))


# ----------------------------------------------------------------------
# Deferred re-weighting, cRT, threshold tuning
# ----------------------------------------------------------------------


def test_deferred_reweighting_weights_classes_by_inverse_frequency_late():
    X, y = _data(3, n=240)
    pipe = make_method(
        "deferred re-weighting", max_epochs=6, batch_size=BATCH, seed=0
    ).fit(X, y)
    net = pipe["clf"]
    assert net.warmup_epochs == 4
    counts = np.array([np.sum(y == c) for c in net.classes_])
    for epoch, record in enumerate(net.history):
        weights = [record[f"acceptance_rate[{c}]"] for c in net.classes_]
        if epoch < 4:
            np.testing.assert_allclose(weights, 1.0)
        else:
            # "expected" rejection with hardness 0, M 1 weights every loss
            # by min(1, w_k) = counts.min() / n_k, the class-weighted loss.
            np.testing.assert_allclose(weights, counts.min() / counts, rtol=1e-6)
    # Its decision is the raw arg-max: the balanced correction of that rule
    # is the identity.
    balanced = net.predict_proba(X)
    net.set_params(probability="raw")
    np.testing.assert_allclose(net.predict_proba(X), balanced, rtol=1e-5)


def test_classifier_retraining_changes_the_last_layer_only():
    X, y = _data(3, n=240)
    plain = _net(warmup_epochs=EPOCHS, lr=0.01)
    crt = ClassifierRetraining(plain, retrain_epochs=3).fit(X, y)
    before = dict(crt.features_estimator_.module_.named_parameters())
    after = dict(crt.estimator_.module_.named_parameters())
    head = last_linear_layer(crt.estimator_.module_)
    head_ids = {id(p) for p in head.parameters()}
    head_names = {name for name, p in after.items() if id(p) in head_ids}
    assert head_names == {"layers.4.weight", "layers.4.bias"}
    for name, parameter in after.items():
        if name in head_names:
            assert not torch.equal(parameter, before[name])
        else:
            torch.testing.assert_close(parameter, before[name], rtol=0, atol=0)
    assert crt.backward_rows_ == EPOCHS * len(y) + 3 * len(y)
    assert crt.estimator_.hardness == 0.0 and crt.estimator_.M == 1.0
    # The first stage's net is not touched by the second.
    assert all(p.requires_grad for p in crt.features_estimator_.module_.parameters())


def test_classifier_retraining_balances_the_second_stage_from_a_default_net():
    # RSFTClassifier's defaults temper the target (target_power=0.5) and
    # adjust the logits (prior_correction=1); the second stage is the
    # class-balanced sampler whatever the first stage's net sets.
    X, y = _data(3, n=240)
    crt = ClassifierRetraining(_net(), retrain_epochs=1).fit(X, y)
    stage = crt.estimator_
    assert stage.target_power == 1.0 and stage.prior_correction == 0.0
    assert crt.features_estimator_.target_power == 0.5
    # Balanced sampling keeps every class at the rarest's count in
    # expectation: the majority's rate is the rarest's count over its own.
    counts = np.unique(y, return_counts=True)[1]
    rates = [stage.history[-1, f"acceptance_rate[{c}]"] for c in stage.classes_]
    assert rates[0] == pytest.approx(counts.min() / counts[0], abs=0.12)
    assert rates[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["SMOTE", "ADASYN", "BorderlineSMOTE"])
def test_smote_family_fails_on_a_class_of_one_row(name):
    from rsft_sklearn.benchmark._methods import _sampler

    X, y = _data(3, n=240)
    y = y.copy()
    y[-1] = "d"
    # Not the plain network in SMOTE's name: a class with no neighbour to
    # interpolate towards fails the fit, which the runner records as failed.
    with pytest.raises(ValueError, match=r"at least 2 rows .* \['d'\] have 1"):
        _sampler(name, 0).fit_resample(X, y)
    with pytest.raises(ValueError, match="at least 2 rows"):
        make_method(name, max_epochs=1, batch_size=BATCH, seed=0).fit(X, y)
    # Two rows are enough: one neighbour each.
    y[-2] = "d"
    _, resampled = _sampler("SMOTE", 0).fit_resample(X, y)
    assert (resampled == "d").sum() == (y == "a").sum()


def test_classifier_retraining_refuses_bad_epochs():
    X, y = _data(2)
    with pytest.raises(ValueError, match="retrain_epochs"):
        ClassifierRetraining(_net(), retrain_epochs=0).fit(X, y)


def test_threshold_tuning_counts_both_fits():
    X, y = _data(2)
    pipe = make_method(
        "threshold tuning", max_epochs=EPOCHS, batch_size=BATCH, seed=0
    ).fit(X, y)
    tuner = pipe["clf"]
    n_inner = len(y) - int(np.ceil(0.25 * len(y)))
    assert tuner.backward_rows_ == EPOCHS * (n_inner + len(y))
    assert history_rows(tuner.estimator_) == EPOCHS * len(y)


# ----------------------------------------------------------------------
# Method specs
# ----------------------------------------------------------------------


def test_parse_method_reads_names_aliases_and_parameters():
    assert parse_method("RSFT") == ("RSFT", {})
    assert parse_method("  rsft  warm-up ") == ("RSFT warm-up", {})
    assert parse_method("DRW") == ("deferred re-weighting", {})
    assert parse_method("RSFT()") == ("RSFT", {})
    name, params = parse_method(
        "RSFT(warmup_epochs=10, hardness=0.5, target={'a': 1.0, 'b': 2.0},"
        " module__hidden_layer_sizes=(32,))"
    )
    assert name == "RSFT"
    assert params == {
        "warmup_epochs": 10,
        "hardness": 0.5,
        "target": {"a": 1.0, "b": 2.0},
        "module__hidden_layer_sizes": (32,),
    }
    assert method_label(name, params).startswith("RSFT(warmup_epochs=10, ")
    assert parse_method(method_label(name, params)) == (name, params)


@pytest.mark.parametrize(
    "spec, message",
    [
        ("RSFTT", "did you mean 'RSFT'"),
        ("RSFT(warmup=10)", "unknown RSFTClassifier parameter.*'warmup_epochs'"),
        # Values too, before any fit of the run.
        ("RSFT(M=-1)", r"'RSFT\(M=-1\)': The 'M' parameter of RSFTClassifier"),
        ("RSFT(rejection='bud')", "The 'rejection' parameter"),
        ("RSFT(budget=0)", "The 'budget' parameter"),
        ("RSFT(M=max(1, 2))", "must be a Python literal"),
        ("RSFT(M=__import__('os'))", "must be a Python literal"),
        ("RSFT(2.0)", "name=value pairs"),
        ("RSFT(M=1)(M=2)", "name=value pairs"),
        ("RSFT(M=1, M=2)", "M"),
        ("RSFT(**{'M': 1})", "not allowed"),
        ("RSFT(M=1", "Cannot read the method spec"),
        ("(M=1)", "Cannot read the method spec"),
        ("LogisticRegression(C=2.0)", "has no network"),
        ("HistGradientBoosting balanced(max_iter=5)", "has no network"),
        ("SelfPacedEnsemble", "imbalanced-ensemble"),
        # An untrained network would be scored as a result.
        ("RSFT(max_epochs=0)", "max_epochs must be >= 1 in a benchmark"),
        ("random mask(max_epochs=0)", "max_epochs must be >= 1"),
        ("deferred re-weighting(max_epochs=0)", "max_epochs must be >= 1"),
        ("RSFT(lr=0)", "lr must be > 0 in a benchmark"),
        # Settings that failed in every fold of the run.
        ("RSFT(random_state=5)", "--seed sets random_state"),
        # It failed in every fold, with a traceback from the constructor.
        ("RSFT(classes=[0, 1])", "labels set classes"),
        ("RSFT(optimizer=1)", r"\['optimizer'\] take a class or a callable"),
        ("RSFT(criterion='x')", r"\['criterion'\] take a class"),
        ("RSFT(M='auto')", "set target_acceptance"),
        # What a wrapper sets when it fits: the report named settings that
        # never trained.
        (
            "classifier re-training(hardness=0.5, M=2.0)",
            r"sets \['M', 'hardness'\] itself",
        ),
        ("RSFT + logit-adjusted loss(probability='raw')", r"sets \['probability'\]"),
    ],
)
def test_parse_method_errors(spec, message):
    with pytest.raises(ValueError, match=message):
        parse_method(spec)


def test_the_tau_of_rsft_with_the_logit_adjusted_loss_reaches_its_wrapper():
    # The wrapper set criterion__tau=1 over the spec's when it fitted.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)).astype(np.float32)
    y = np.r_[np.zeros(100, int), np.ones(20, int)]
    pipe = make_method(
        "RSFT + logit-adjusted loss(criterion__tau=0.5)",
        max_epochs=1,
        batch_size=32,
        seed=0,
    )
    assert pipe["clf"].tau == 0.5
    assert pipe.fit(X, y)["clf"].estimator_.criterion__tau == 0.5
    default = make_method(
        "RSFT + logit-adjusted loss", max_epochs=1, batch_size=32, seed=0
    )
    assert default["clf"].tau == 1.0


def test_checking_a_spec_leaves_torchs_random_state_alone():
    # The check builds a net of the spec's settings; a fit seeded before its
    # method is built must start from the same random state all the same.
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    parse_method("RSFT(M=2.0, warmup_epochs=1)")
    torch.testing.assert_close(torch.rand(3), expected, rtol=0, atol=0)


def test_parse_methods_splits_outside_parentheses():
    assert parse_methods(
        "RSFT, RSFT(warmup_epochs=10, hardness=0.5), SMOTE,"
        " RSFT(module__hidden_layer_sizes=(8, 8), target='uniform')"
    ) == [
        "RSFT",
        "RSFT(warmup_epochs=10, hardness=0.5)",
        "SMOTE",
        "RSFT(module__hidden_layer_sizes=(8, 8), target='uniform')",
    ]
    with pytest.raises(ValueError, match="twice"):
        parse_methods("plain net, post-hoc logit adjustment")
    # The same settings spelt another way are the same method.
    for same in (
        "RSFT(M=2), RSFT(M=2.0)",
        "RSFT(M=2, hardness=0.5), RSFT(hardness=0.5, M=2)",
        "RSFT(module__dropout=(0,)), RSFT(module__dropout=(0.0,))",
    ):
        with pytest.raises(ValueError, match="twice"):
            parse_methods(same)
    # Other values stay apart.
    assert len(parse_methods("RSFT(M=2), RSFT(M=3)")) == 2
    assert len(parse_methods("RSFT(warmup_epochs=1), RSFT(warmup_epochs=0.5)")) == 2
    assert len(parse_methods("RSFT(M='auto', target_acceptance=0.5), RSFT(M=1)")) == 2
    # A spec that sets M='auto' with its target is accepted.
    assert parse_methods("RSFT(M='auto', target_acceptance=0.3)") == [
        "RSFT(M='auto', target_acceptance=0.3)"
    ]
    with pytest.raises(ValueError, match="no names"):
        parse_methods(" , ")
    with pytest.raises(ValueError, match=r"unknown method\(s\) \['nope', 'RSFTT'\]"):
        parse_methods("RSFT, nope, RSFTT(M=2.0)")


def test_make_method_applies_spec_parameters():
    pipe = make_method(
        "RSFT(warmup_epochs=3, hardness=0.5, max_epochs=9)",
        max_epochs=5,
        batch_size=BATCH,
        seed=0,
    )
    net = pipe["clf"]
    assert (net.warmup_epochs, net.hardness, net.max_epochs) == (3, 0.5, 9)
    assert net.batch_size == BATCH and net.random_state == 0
    # A method's own settings give way to the spec, and derived ones follow
    # the spec's epochs.
    drw = make_method("DRW(max_epochs=9)", max_epochs=5, batch_size=BATCH, seed=0)
    assert drw["clf"].warmup_epochs == 6
    crt = make_method("cRT(lr=0.01)", max_epochs=6, batch_size=BATCH, seed=0)
    assert crt["clf"].estimator.lr == 0.01 and crt["clf"].retrain_epochs == 6
    X, y = _data(2)
    fitted = make_method(
        "RSFT(module__hidden_layer_sizes=(8,))",
        max_epochs=EPOCHS,
        batch_size=BATCH,
        seed=0,
    ).fit(X, y)
    assert fitted["clf"].module_.layers[0].out_features == 8


def test_rsft_warm_up_is_longer_than_the_defaults():
    from rsft_sklearn._epochs import warmup_epoch_count

    default = make_method("RSFT", max_epochs=30, batch_size=BATCH, seed=0)["clf"]
    longer = make_method("RSFT warm-up", max_epochs=30, batch_size=BATCH, seed=0)
    assert warmup_epoch_count(default.warmup_epochs, 30) == 10
    assert longer["clf"].warmup_epochs == 15
    # At 3 and 5 epochs (--quick is 3) it was the default's warm-up, 1 and 2.
    for epochs in (3, 5):
        default = make_method("RSFT", max_epochs=epochs, batch_size=BATCH, seed=0)
        longer = make_method(
            "RSFT warm-up", max_epochs=epochs, batch_size=BATCH, seed=0
        )
        assert longer["clf"].warmup_epochs > warmup_epoch_count(
            default["clf"].warmup_epochs, epochs
        )


def test_applicable():
    assert applicable("threshold tuning", 2)
    assert not applicable("threshold tuning", 3)
    assert not applicable("threshold tuning(lr=0.01)", 5)
    assert all(
        applicable(name, n)
        for name in ALL_METHODS
        if name != "threshold tuning"
        for n in (2, 3, 8)
    )
    with pytest.raises(ValueError, match="Unknown method"):
        applicable("nope", 2)
