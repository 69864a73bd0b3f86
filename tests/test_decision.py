"""What predict_proba and predict return after rejection training."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, softmax
from sklearn.calibration import CalibratedClassifierCV
from sklearn.datasets import make_classification
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import TunedThresholdClassifierCV

from rsft_sklearn import RSFTClassifier, correct_proba

PRIOR = 0.1
SHIFT = 1.5


def _gaussians(n, rng):
    """Two unit Gaussians, 10 % of class 1, with their exact posteriors."""
    y = (rng.random(n) < PRIOR).astype(int)
    X = rng.normal(size=(n, 2))
    X[y == 1, 0] += SHIFT
    log_odds = SHIFT * X[:, 0] - SHIFT**2 / 2
    return X, y, expit(np.log(PRIOR / (1 - PRIOR)) + log_odds), expit(log_odds)


@pytest.fixture(scope="module")
def gaussians():
    rng = np.random.default_rng(0)
    return _gaussians(4000, rng), _gaussians(2000, rng)


def _fit(gaussians, **params):
    (X, y, _, _), _ = gaussians
    return RSFTClassifier(
        max_epochs=25,
        batch_size=256,
        lr=1e-2,
        module__hidden_layer_sizes=(32,),
        random_state=0,
        **params,
    ).fit(X, y)


@pytest.fixture(scope="module")
def default_fit(gaussians):
    return _fit(gaussians)


def _errors(clf, gaussians):
    """Mean absolute error of P(class 1) against both true posteriors."""
    _, (X, _, eta, balanced) = gaussians
    errors = {}
    for probability in ("raw", "training", "balanced"):
        q = clf.set_params(probability=probability).predict_proba(X)[:, 1]
        errors[probability] = (np.abs(q - eta).mean(), np.abs(q - balanced).mean())
    clf.set_params(probability="balanced")
    return errors


# ----------------------------------------------------------------------
# The inversion itself
# ----------------------------------------------------------------------
def _fixed_point(eta, weight, M, hardness):
    """Output p with p_y proportional to eta_y * min(1, w_y / (M p_y^h)).

    For a normaliser Z, p_y = min(eta_y / Z, (eta_y w_y / (M Z))^(1/(1+h)))
    decreases in Z; bisection on log Z finds the Z at which p sums to 1.
    """
    low, high = -60.0, 60.0
    for _ in range(200):
        log_Z = (low + high) / 2
        p = np.minimum(
            np.exp(np.log(eta) - log_Z),
            np.exp((np.log(eta) + np.log(weight) - np.log(M) - log_Z) / (1 + hardness)),
        )
        low, high = (log_Z, high) if p.sum() > 1 else (low, log_Z)
    return p / p.sum()


@settings(max_examples=80, deadline=None)
@given(
    eta=st.lists(st.floats(0.01, 1.0), min_size=2, max_size=5),
    data=st.data(),
    M=st.floats(0.05, 20.0),
    hardness=st.floats(0.0, 3.0),
)
def test_correct_proba_inverts_the_fixed_point(eta, data, M, hardness):
    eta = np.asarray(eta) / np.sum(eta)
    weight = np.asarray(
        data.draw(st.lists(st.floats(0.01, 1.0), min_size=len(eta), max_size=len(eta)))
    )
    weight = weight / weight.max()
    p = _fixed_point(eta, weight, M, hardness)
    recovered = correct_proba(p[None], weight, M, hardness)[0]
    np.testing.assert_allclose(recovered, eta, rtol=1e-6, atol=1e-9)
    prior = np.linspace(1.0, 2.0, len(eta))
    prior /= prior.sum()
    balanced = correct_proba(p[None], weight, M, hardness, class_prior=prior)[0]
    expected = eta / prior
    np.testing.assert_allclose(balanced, expected / expected.sum(), rtol=1e-6)


def test_correct_proba_special_cases():
    rng = np.random.default_rng(0)
    p = softmax(rng.normal(size=(50, 3)), axis=1)
    w = np.array([0.2, 0.5, 1.0])
    # M below every weight with hardness 0 accepts everything: nothing to undo.
    np.testing.assert_allclose(correct_proba(p, w, M=0.1, hardness=0.0), p)
    # hardness 0, M 1: the output was re-weighted by w; the inversion divides.
    expected = p / w
    np.testing.assert_allclose(
        correct_proba(p, w, M=1.0, hardness=0.0),
        expected / expected.sum(axis=1, keepdims=True),
    )
    # Extreme probabilities give finite rows that sum to 1.
    extreme = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
    out = correct_proba(extreme, w, M=1.0, hardness=1.0)
    np.testing.assert_allclose(out, [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]])


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"proba": np.ones(3)}, "2-d"),
        ({"target_weight": [1.0]}, "one entry per class"),
        ({"target_weight": [0.0, 1.0]}, "target_weight must be finite and > 0"),
        ({"M": 0.0}, "M must be"),
        ({"hardness": -1.0}, "hardness must be"),
        ({"class_prior": [0.5, np.nan]}, "class_prior must be"),
        # Unchecked until now: NaN output, a uniform row, a TypeError from
        # numpy, a broadcasting error, another answer than the normalised row.
        ({"log_shift": [np.inf, 0.0]}, r"log_shift must hold finite values"),
        ({"log_shift": [np.nan, 0.0]}, r"log_shift must hold finite values"),
        ({"log_shift": [0.0, 0.0, 0.0]}, r"log_shift must hold 2 finite values"),
        ({"M": "auto"}, "M must be a finite number"),
        ({"hardness": "1"}, "hardness must be a finite number"),
        ({"proba": [[0.2, 0.2]]}, "each row summing to 1"),
        ({"proba": np.zeros((1, 0))}, "no columns"),
    ],
)
def test_correct_proba_rejects_bad_input(kwargs, error):
    args = {"proba": [[0.5, 0.5]], "target_weight": [0.5, 1.0], **kwargs}
    with pytest.raises(ValueError, match=error):
        correct_proba(**args)


# ----------------------------------------------------------------------
# The classifier on data whose posterior is known
# ----------------------------------------------------------------------
def test_corrections_recover_the_known_posteriors(default_fit, gaussians):
    errors = _errors(default_fit, gaussians)
    # Rejection tempers the raw output: it is neither posterior.
    assert errors["raw"][0] > 0.1
    # The training posterior is recovered to a few hundredths ...
    assert errors["training"][0] < 0.04 < errors["raw"][0] / 3
    # ... and so is the balanced one, better than by the raw output.
    assert errors["balanced"][1] < 0.05
    assert errors["balanced"][1] < errors["raw"][1]


def test_balanced_decisions_follow_the_balanced_bayes_rule(default_fit, gaussians):
    _, (X, y, _, balanced) = gaussians
    best = (balanced > 0.5).astype(int)
    assert default_fit.probability == "balanced"
    agree = np.mean(default_fit.predict(X) == best)
    raw = np.mean(default_fit.set_params(probability="raw").predict(X) == best)
    default_fit.set_params(probability="balanced")
    assert agree > 0.94 and agree > raw
    assert balanced_accuracy_score(y, default_fit.predict(X)) >= (
        balanced_accuracy_score(y, best) - 0.02
    )


@pytest.mark.parametrize("params", [{"rejection": "expected"}, {"M": 2.0}])
def test_corrections_hold_for_other_rules(gaussians, params):
    errors = _errors(_fit(gaussians, **params), gaussians)
    assert errors["training"][0] < 0.04
    assert errors["balanced"][1] < 0.05


def test_probability_options(default_fit, gaussians):
    _, (X, _, _, _) = gaussians
    clf = default_fit
    raw = clf.set_params(probability="raw").predict_proba(X)
    logits = clf.forward(X.astype(np.float32)).numpy()
    np.testing.assert_allclose(raw, softmax(logits, axis=1), rtol=1e-5, atol=1e-6)
    training = clf.set_params(probability="training").predict_proba(X)
    # The loss saw the logits shifted by log pi' (the prior after rejection);
    # the rule read the unshifted output.
    shift = clf.prior_correction * np.log(clf.loss_class_prior_)
    np.testing.assert_allclose(
        training,
        correct_proba(
            raw,
            clf.class_target_weight_,
            clf.final_M_,
            clf.final_hardness_,
            log_shift=shift,
        ),
    )
    balanced = clf.set_params(probability="balanced").predict_proba(X)
    expected = training / clf.class_prior_
    np.testing.assert_allclose(
        balanced, expected / expected.sum(axis=1, keepdims=True), rtol=1e-6
    )
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[balanced.argmax(axis=1)])
    np.testing.assert_allclose(clf.class_prior_, [0.9, 0.1], atol=0.02)
    assert clf.final_M_ == 1.0 and clf.final_hardness_ == 1.0


@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
def test_without_rejection_training_is_raw(prior_correction):
    # Without rejection the output is the training posterior, or with the
    # logit adjustment the training posterior divided by the class prior.
    X, y = make_classification(n_samples=300, weights=[0.8], random_state=0)
    clf = RSFTClassifier(
        warmup_epochs=3, max_epochs=3, prior_correction=prior_correction, random_state=0
    ).fit(X, y)
    assert clf.final_M_ is None
    raw = clf.set_params(probability="raw").predict_proba(X)
    if prior_correction:
        np.testing.assert_allclose(clf.loss_class_prior_, clf.class_prior_)
        raw = raw * clf.class_prior_
        raw /= raw.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(
        clf.set_params(probability="training").predict_proba(X), raw, rtol=1e-6
    )
    balanced = clf.set_params(probability="balanced").predict_proba(X)
    expected = raw / clf.class_prior_
    np.testing.assert_allclose(
        balanced, expected / expected.sum(axis=1, keepdims=True), rtol=1e-6
    )
    # correct_proba with the public attributes, final_M_ None included (it
    # refused None: "M must be a finite number > 0").
    output = clf.set_params(probability="raw").predict_proba(X)
    shift = None
    if clf.final_prior_correction_:
        shift = clf.final_prior_correction_ * np.log(clf.loss_class_prior_)
    for prior, probability in ((None, "training"), (clf.class_prior_, "balanced")):
        np.testing.assert_allclose(
            correct_proba(
                output,
                clf.class_target_weight_,
                clf.final_M_,
                clf.final_hardness_,
                class_prior=prior,
                log_shift=shift,
            ),
            clf.set_params(probability=probability).predict_proba(X),
            rtol=1e-6,
        )


def test_bad_probability_is_reported():
    X, y = make_classification(n_samples=100, random_state=0)
    with pytest.raises(ValueError, match="probability"):
        RSFTClassifier(probability="calibrated", max_epochs=1).fit(X, y)
    clf = RSFTClassifier(max_epochs=1).fit(X, y)
    clf.set_params(probability="calibrated")
    with pytest.raises(ValueError, match="probability must be one of"):
        clf.predict(X)


def test_string_labels_and_multiclass():
    X, y = make_classification(
        n_samples=600,
        n_classes=3,
        n_informative=4,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    labels = np.array(["low", "mid", "rare"])[y]
    clf = RSFTClassifier(max_epochs=10, lr=1e-2, random_state=0).fit(X, labels)
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert set(clf.predict(X)) <= set(clf.classes_)
    # The balanced posterior moves mass toward the rare classes.
    raw = clf.set_params(probability="raw").predict_proba(X)
    assert proba[:, 2].mean() > raw[:, 2].mean()


# ----------------------------------------------------------------------
# Composition with scikit-learn's threshold tuning and calibration
# ----------------------------------------------------------------------
def test_tuned_threshold(gaussians):
    (X, y, _, _), (X_test, y_test, _, balanced) = gaussians
    tuned = TunedThresholdClassifierCV(
        RSFTClassifier(
            max_epochs=8, lr=1e-2, module__hidden_layer_sizes=(16,), random_state=0
        ),
        scoring="balanced_accuracy",
        cv=3,
        random_state=0,
    ).fit(X[:1500], y[:1500])
    assert 0.0 < tuned.best_threshold_ < 1.0
    best = balanced_accuracy_score(y_test, balanced > 0.5)
    assert balanced_accuracy_score(y_test, tuned.predict(X_test)) > best - 0.03


def test_calibration_on_the_training_prior(gaussians):
    (X, y, _, _), (X_test, _, eta, _) = gaussians
    raw = RSFTClassifier(
        probability="raw",
        max_epochs=8,
        lr=1e-2,
        module__hidden_layer_sizes=(16,),
        random_state=0,
    )
    X, y = X[:1500], y[:1500]
    calibrated = CalibratedClassifierCV(raw, method="sigmoid", cv=3).fit(X, y)
    q = calibrated.predict_proba(X_test)[:, 1]
    uncalibrated = raw.fit(X, y).predict_proba(X_test)[:, 1]
    assert np.abs(q - eta).mean() < 0.03
    assert np.abs(q - eta).mean() < np.abs(uncalibrated - eta).mean() / 3


def test_correct_proba_hardness_zero_with_underflowed_probability():
    # A class probability that underflowed to 0 must not turn the row into
    # NaN (0 * log 0) and from there into a uniform guess.
    from rsft_sklearn import correct_proba

    proba = np.array([[1.0, 0.0], [0.3, 0.7]])
    out = correct_proba(proba, [0.5, 1.0], M=1.0, hardness=0.0)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out[0], [1.0, 0.0])
    np.testing.assert_allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(out[1], np.array([0.6, 0.7]) / 1.3)


@pytest.mark.parametrize(
    "proba",
    [
        [[0.5, 0.5], [-0.1, 1.1]],
        [[0.5, 0.5], [np.nan, 0.5]],
        [[0.5, 0.5], [np.inf, 0.0]],
        [[2.0, 0.5]],
    ],
    ids=["negative", "nan", "inf", "above-one"],
)
def test_correct_proba_refuses_what_is_not_a_probability(proba):
    # Before: clipped to [0, 1], and a NaN row came back uniform.
    with pytest.raises(ValueError, match=r"finite probabilities in \[0, 1\]"):
        correct_proba(np.array(proba), [1.0, 0.5])


def test_correct_proba_takes_float32_softmax_rounding():
    # A float32 softmax can sum to 1 within rounding; every value stays <= 1.
    proba = softmax(np.random.default_rng(0).normal(size=(50, 3)), axis=1)
    out = correct_proba(proba.astype(np.float32), [1.0, 0.5, 0.25])
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-12)


@pytest.mark.parametrize("binned", [False, True])
def test_decision_proba_in_blocks_equals_one_pass_and_bounds_memory(
    monkeypatch, binned
):
    # The correction's temporaries (about ten arrays of the output's size)
    # made predict_proba of 2.5 million rows peak at 0.4 GB above the raw
    # output; it corrects blocks of rows now, with a summary of the classes'
    # sample weights too.
    import tracemalloc

    from rsft_sklearn import _decision

    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200_000, 3))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    proba = proba.astype(np.float32)
    args = dict(
        probability="balanced",
        target_weight=np.array([1.0, 0.5, 0.25]),
        class_prior=np.array([0.7, 0.2, 0.1]),
        M=2.0,
        hardness=1.0,
        prior_correction=1.0,
        loss_prior=np.array([0.5, 0.3, 0.2]),
    )
    if binned:
        means = np.sort(rng.lognormal(0.0, 1.0, (3, 128)), axis=1)
        rows = rng.integers(0, 50, (3, 128)).astype(float)
        args.update(
            row_weight=(rows * means).sum(axis=1) / rows.sum(axis=1),
            row_prior=np.array([0.6, 0.3, 0.1]),
            row_weight_bins=(rows, means),
        )
    # Blocks of 10,000 rows (2**20 entries in use).
    monkeypatch.setattr(_decision, "_BLOCK_ENTRIES", 30_000)
    tracemalloc.start()
    try:
        blocked = _decision.decision_proba(proba, **args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2 * blocked.nbytes
    monkeypatch.setattr(_decision, "_BLOCK_ENTRIES", proba.size)
    np.testing.assert_array_equal(blocked, _decision.decision_proba(proba, **args))
    if binned:
        # The bins are sorted and summed once per call, not for each of the
        # twenty blocks (with thousands of classes that work dominated).
        calls = []
        tables = _decision._bin_tables
        monkeypatch.setattr(
            _decision, "_bin_tables", lambda *a: calls.append(1) or tables(*a)
        )
        monkeypatch.setattr(_decision, "_BLOCK_ENTRIES", 30_000)
        np.testing.assert_array_equal(blocked, _decision.decision_proba(proba, **args))
        assert len(calls) == 1


def test_weights_varying_within_a_class_keep_the_balanced_posterior(gaussians):
    # Lognormal sample weights (sigma 1.5) under the class-level rule
    # (hardness 0): inverted with each class's mean weight, the balanced
    # output was 0.11 from the true balanced posterior; inverted with the
    # mean of the rule's clipped acceptance over the class's weights, it is
    # 0.036.
    (X, y, _, _), (X_test, _, _, balanced) = gaussians
    weight = np.random.default_rng(100).lognormal(0.0, 1.5, len(y))
    clf = RSFTClassifier(
        max_epochs=30,
        batch_size=256,
        lr=1e-2,
        module__hidden_layer_sizes=(32,),
        hardness=0.0,
        target_power=1.0,
        prior_correction=0.0,
        random_state=0,
    ).fit(X, y, sample_weight=weight)
    error = np.abs(clf.predict_proba(X_test)[:, 1] - balanced).mean()
    assert error < 0.05
    del clf._rule_weight_bins
    assert np.abs(clf.predict_proba(X_test)[:, 1] - balanced).mean() > error + 0.03


@pytest.mark.parametrize("probability", ["balanced", "training"])
@pytest.mark.parametrize("hardness", [0.0, 0.7, 2.0])
@pytest.mark.parametrize("M", [0.5, 3.0])
def test_binned_weights_invert_the_mean_clipped_acceptance(probability, hardness, M):
    # With a summary of each class's weights, a class's factor is the mean
    # over its bins (weighted by their rows) of the rule's clipped
    # acceptance at the row's own output, computed here bin by bin.
    from rsft_sklearn._decision import decision_proba

    rng = np.random.default_rng(0)
    proba = softmax(rng.normal(0.0, 3.0, size=(500, 3)), axis=1)
    proba[0] = [1.0, 0.0, 0.0]
    target = np.array([0.2, 0.6, 1.0])
    # Bins in any order, some of them empty.
    means = rng.lognormal(0.0, 1.5, (3, 16))
    rows = rng.integers(0, 4, (3, 16)).astype(float)
    rows[:, 0] = 1.0
    row_prior = np.array([0.7, 0.2, 0.1])
    class_prior_ = np.array([0.6, 0.25, 0.15])
    loss_prior = np.array([0.5, 0.3, 0.2])
    got = decision_proba(
        proba,
        probability,
        target,
        class_prior_,
        M,
        hardness,
        prior_correction=0.5,
        loss_prior=loss_prior,
        row_weight=(rows * means).sum(axis=1) / rows.sum(axis=1),
        row_prior=row_prior,
        row_weight_bins=(rows, means),
    )
    with np.errstate(divide="ignore"):
        # A probability of 0 (the first row) is accepted surely.
        clipped = np.minimum(
            1.0,
            target[None, :, None] * means[None] / (M * proba[:, :, None] ** hardness),
        )
    acceptance = (clipped * rows[None]).sum(axis=2) / rows.sum(axis=1)
    prior = row_prior if probability == "balanced" else row_prior / class_prior_
    expected = proba * loss_prior**0.5 / acceptance / prior
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    "proba, message",
    [
        ([["a", "b"]], "proba must hold numbers"),
        (np.array([[0.5 + 0j, 0.5]]), "proba must hold real numbers"),
    ],
)
def test_correct_proba_names_non_numbers(proba, message):
    # numpy's "could not convert string to float", and complex values cut to
    # their real part without a word.
    with pytest.raises(TypeError, match=message):
        correct_proba(proba, [0.5, 1.0])
    with pytest.raises(TypeError, match="log_shift must hold"):
        correct_proba([[0.5, 0.5]], [0.5, 1.0], log_shift=np.asarray(proba)[0])


@pytest.mark.parametrize("probability", ["balanced", "training"])
def test_corrections_read_outputs_below_float32s_range(probability):
    import torch

    # prior_correction=100 trains outputs near exp(-100) and below, which
    # the float32 softmax rounds to 0 and the correction lifts again: read
    # as 0 (log 0 = -inf), such a class was never predicted where it should.
    X, y = make_classification(400, 6, weights=[0.9], random_state=0)
    X = X.astype(np.float32)
    clf = RSFTClassifier(
        max_epochs=2, prior_correction=100.0, probability=probability, random_state=0
    ).fit(X, y)
    with torch.no_grad():
        clf.module_.layers[-1].bias.add_(torch.tensor([0.0, -120.0]))
        logits = clf.module_(torch.as_tensor(X)).double().numpy()
    raw = clf.set_params(probability="raw").predict_proba(X)
    assert (raw[:, 1] == 0).mean() > 0.5
    clf.set_params(probability=probability)
    # The same correction of the softmax taken in float64, where it does
    # not underflow.
    expected = clf._posterior(softmax(logits, axis=1))
    # Compared in log space, where an output read as 0 is -inf.
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(expected), rtol=1e-6)


def test_the_balanced_posterior_takes_underflow_under_numpy_errors_raised():
    # A class far below the others underflowed in the normalisation, and
    # np.seterr(all="raise") made predict_proba and predict fail.
    X, y = make_classification(
        n_samples=300, n_features=8, weights=[0.9], random_state=0, class_sep=3
    )
    clf = RSFTClassifier(max_epochs=5, random_state=0).fit(X, y)
    far = X * 1000
    with np.errstate(all="raise"):
        proba = clf.predict_proba(far)
        labels = clf.predict(far)
    assert proba.min() == 0 and np.allclose(proba.sum(axis=1), 1)
    np.testing.assert_array_equal(labels, clf.classes_[proba.argmax(axis=1)])


def test_fit_of_no_epoch_sets_the_decision_attributes():
    # A fit of max_epochs=0 counts as fitted, but left final_M_,
    # final_hardness_ and final_prior_correction_ unset: correct_proba from
    # the public attributes failed with an AttributeError.
    X, y = make_classification(120, 4, weights=[0.8], random_state=0)
    X = X.astype(np.float32)
    clf = RSFTClassifier(max_epochs=3, hardness=lambda epoch: 2.0, random_state=0)
    clf.fit(X, y)
    assert clf.final_M_ == 1.0 and clf.final_hardness_ == 2.0
    clf.set_params(max_epochs=0).fit(X, y)
    assert clf.final_M_ is None and clf.final_hardness_ == 2.0
    assert clf.final_prior_correction_ == 1.0
    assert not hasattr(clf, "loss_class_prior_")
    raw = clf.set_params(probability="raw").predict_proba(X)
    balanced = clf.set_params(probability="balanced").predict_proba(X)
    np.testing.assert_allclose(
        balanced,
        correct_proba(
            raw,
            clf.class_target_weight_,
            M=clf.final_M_,
            hardness=clf.final_hardness_,
            class_prior=clf.class_prior_,
        ),
        rtol=1e-6,
    )
