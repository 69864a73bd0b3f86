"""The logit adjustment on the prior after rejection, and the tempered target."""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import make_classification

from rsft_sklearn import RejectionLoss, RSFTClassifier, class_target_weight
from rsft_sklearn._decision import class_prior, correct_proba, prior_after_rejection
from rsft_sklearn._epochs import warmup_epoch_count


def test_shift_is_log_share_of_acceptance_mass():
    loss = RejectionLoss(
        class_weight=[0.25, 1.0], rejection="expected", prior_correction=1.0
    )
    loss.set_class_prior([0.8, 0.2])
    # Before any row: the class prior itself.
    np.testing.assert_allclose(
        loss.log_prior_after_rejection().exp().numpy(), [0.8, 0.2], rtol=1e-6
    )
    # hardness 0: class 0 keeps a quarter of its mass, class 1 all of it.
    loss.begin_epoch(M=1.0, hardness=0.0, rejecting=True)
    logits = torch.zeros(10, 2)
    y = torch.tensor([0] * 8 + [1] * 2)
    loss(logits, y)
    loss.begin_epoch(M=1.0, hardness=0.0, rejecting=True)
    # The finished epoch's mass: 8 * 0.25 against 2 * 1.
    np.testing.assert_allclose(
        loss.log_prior_after_rejection().exp().numpy(), [0.5, 0.5], rtol=1e-6
    )


def _fresh_log_prior(loss):
    loss.flush_counts()
    mass = (loss.prior_mass + loss.counts[2]).double()
    return torch.log(mass / mass.sum()).float()


def test_log_prior_follows_every_change_of_the_counts_and_prior():
    # The log-prior is kept between steps that change nothing it reads (a
    # budget's steps); every change of the counts or the prior mass, in place
    # or by replacement, gives the fresh value.
    loss = RejectionLoss(
        class_weight=[0.25, 1.0, 0.5], rejection="expected", prior_correction=1.0
    )
    loss.set_class_prior([0.6, 0.1, 0.3])
    loss.begin_epoch(M=1.0, hardness=0.0, rejecting=True)
    first = loss.log_prior_after_rejection()
    assert loss.log_prior_after_rejection() is first  # nothing changed
    torch.testing.assert_close(first, _fresh_log_prior(loss))
    y = torch.tensor([0, 0, 1, 2, 2, 2])
    loss(torch.zeros(6, 3), y)  # records the batch
    torch.testing.assert_close(loss.log_prior_after_rejection(), _fresh_log_prior(loss))
    assert not torch.allclose(loss.log_prior_after_rejection(), first)
    loss.record(y, torch.ones(6), torch.full((6,), 0.5))  # pending, then read
    torch.testing.assert_close(loss.log_prior_after_rejection(), _fresh_log_prior(loss))
    loss.begin_epoch(M=1.0, hardness=0.0, rejecting=True)  # mass moves over
    torch.testing.assert_close(loss.log_prior_after_rejection(), _fresh_log_prior(loss))
    loss.counts[2, 1] += 5.0  # in place
    torch.testing.assert_close(loss.log_prior_after_rejection(), _fresh_log_prior(loss))
    loss.set_class_prior([0.2, 0.2, 0.6])  # replaced
    torch.testing.assert_close(loss.log_prior_after_rejection(), _fresh_log_prior(loss))
    copied = copy.deepcopy(loss)
    assert "_log_prior" not in vars(copied) and "_log_prior" not in vars(
        pickle.loads(pickle.dumps(loss))
    )
    torch.testing.assert_close(
        copied.log_prior_after_rejection(), _fresh_log_prior(loss)
    )
    other = RejectionLoss(class_weight=[1.0, 1.0, 1.0], prior_correction=1.0)
    other.load_state_dict(loss.state_dict())
    torch.testing.assert_close(
        other.log_prior_after_rejection(), loss.log_prior_after_rejection()
    )


def test_shifted_loss_equals_logit_adjusted_cross_entropy():
    torch.manual_seed(0)
    loss = RejectionLoss(n_classes=3, rejection="expected", prior_correction=1.0)
    loss.set_class_prior([0.7, 0.2, 0.1])
    loss.begin_epoch(M=1e-3, hardness=0.0, rejecting=True)  # accept everything
    logits = torch.randn(6, 3)
    y = torch.tensor([0, 0, 1, 2, 0, 1])
    mass = torch.tensor([0.7, 0.2, 0.1]) + torch.bincount(y, minlength=3).float()
    expected = torch.nn.functional.cross_entropy(
        logits + torch.log(mass / mass.sum()), y
    )
    torch.testing.assert_close(loss(logits, y), expected)
    # tau 0 is the plain loss; evaluation mode never shifts.
    plain = RejectionLoss(n_classes=3, rejection="expected")
    plain.begin_epoch(M=1e-3, hardness=0.0, rejecting=True)
    torch.testing.assert_close(
        plain(logits, y), torch.nn.functional.cross_entropy(logits, y)
    )
    loss.eval()
    torch.testing.assert_close(
        loss(logits, y), torch.nn.functional.cross_entropy(logits, y)
    )


def test_nll_loss_input_stays_normalised():
    loss = RejectionLoss(
        torch.nn.NLLLoss(reduction="none"),
        n_classes=2,
        rejection="expected",
        prior_correction=1.0,
    )
    loss.set_class_prior([0.9, 0.1])
    loss.begin_epoch(M=1e-3, hardness=0.0, rejecting=True)
    log_p = torch.log_softmax(torch.tensor([[2.0, 0.0], [0.0, 1.0]]), dim=1)
    y = torch.tensor([0, 1])
    ce = RejectionLoss(n_classes=2, rejection="expected", prior_correction=1.0)
    ce.set_class_prior([0.9, 0.1])
    ce.begin_epoch(M=1e-3, hardness=0.0, rejecting=True)
    torch.testing.assert_close(loss(log_p, y), ce(log_p, y))


@pytest.mark.parametrize("bad", [-1.0, float("nan"), "x", 1e300, 2e6])
def test_bad_prior_correction(bad):
    with pytest.raises(ValueError, match="prior_correction"):
        RejectionLoss(n_classes=2, prior_correction=bad)


def test_a_huge_prior_correction_is_refused_before_training():
    # 1e300 gave a NaN loss without an error (RejectionLoss), or an error
    # that blamed the features and the learning rate (RSFTClassifier).
    X = np.random.RandomState(0).randn(60, 3).astype(np.float32)
    y = np.arange(60) % 2
    with pytest.raises(ValueError, match="prior_correction"):
        RSFTClassifier(prior_correction=1e300, max_epochs=1).fit(X, y)
    loss = RejectionLoss(n_classes=2, prior_correction=1e6, rejection="expected")
    loss.set_class_prior([0.999, 0.001])
    loss.begin_epoch(M=1.0, hardness=1.0, rejecting=True)
    logits = torch.zeros(4, 2, requires_grad=True)
    value = loss(logits, torch.tensor([0, 1, 0, 1]))
    value.backward()
    assert torch.isfinite(value) and torch.isfinite(logits.grad).all()


def test_prior_after_rejection_and_inversion_with_shift():
    np.testing.assert_allclose(
        prior_after_rejection([0.9, 0.1], [1 / 9, np.nan]), [0.5, 0.5]
    )
    proba = np.array([[0.5, 0.5], [0.9, 0.1]])
    shift = np.log([0.8, 0.2])
    # Without rejection (M tiny, hardness 0) only the shift is undone.
    out = correct_proba(proba, [1.0, 1.0], M=1e-3, hardness=0.0, log_shift=shift)
    np.testing.assert_allclose(out[0], [0.8, 0.2])
    # The acceptance is computed from proba, not from the shifted output:
    # class 0 (weight 0.25) was accepted with min(1, 0.25 / 0.5) = 0.5 in row 0.
    out = correct_proba(proba, [0.25, 1.0], M=1.0, hardness=1.0, log_shift=shift)
    expected = np.array([0.5 * 0.8 / 0.5, 0.5 * 0.2])
    np.testing.assert_allclose(out[0], expected / expected.sum())


def test_target_power_tempers_balanced_weights():
    y = np.r_[np.zeros(400, int), np.ones(100, int), np.full(4, 2)]
    full = class_target_weight(y, 3)
    half = class_target_weight(y, 3, power=0.5)
    np.testing.assert_allclose(half, np.sqrt(full))
    np.testing.assert_allclose(class_target_weight(y, 3, power=0.0), 1.0)
    clf = RSFTClassifier(target_power=0.5, max_epochs=1, warmup_epochs=0).fit(
        np.random.default_rng(0).normal(size=(len(y), 3)).astype("float32"), y
    )
    np.testing.assert_allclose(clf.class_target_weight_, half)


def test_warmup_fraction():
    assert warmup_epoch_count(1 / 3, 30) == 10
    assert warmup_epoch_count(0.5, 3) == 2
    assert warmup_epoch_count(4, 30) == 4
    # Halves round up (Python's round took them to the even number: half of
    # one epoch was none, of 5 epochs 2, of 3 epochs 2).
    assert [warmup_epoch_count(0.5, n) for n in (1, 3, 5, 7)] == [1, 2, 3, 4]
    assert [warmup_epoch_count(0.25, n) for n in (2, 6, 10)] == [1, 2, 3]
    X, y = make_classification(200, weights=[0.8], random_state=0)
    clf = RSFTClassifier(
        max_epochs=4, warmup_epochs=0.5, M=4.0, hardness=0.0, random_state=0
    ).fit(X.astype("float32"), y)
    rates = [epoch["acceptance_rate"] for epoch in clf.history]
    assert rates[:2] == [1.0, 1.0]
    assert max(rates[2:]) < 1.0
    with pytest.raises(ValueError, match="warmup_epochs"):
        RSFTClassifier(warmup_epochs=1.5).fit(X, y)


def test_warmup_fraction_rounds_the_decimal_given():
    # 0.29 * 50 is 14.4999... in binary floats: a half rounded down.
    assert warmup_epoch_count(0.29, 50) == 15
    # The decimal as written where it is short, the repeating fraction
    # where it is (0.74999 of 50 epochs is 37.4995, not 3/4 of 50).
    assert warmup_epoch_count(0.74999, 50) == 37
    assert warmup_epoch_count(0.99999, 10**5) == 99999
    # A float32 as written: 0.7 of 5 epochs is 3.5, not 3.4999999.
    assert warmup_epoch_count(np.float32(0.7), 5) == 4
    assert warmup_epoch_count(torch.tensor([0.7]).item(), 5) == 4
    assert warmup_epoch_count(0.15, 10) == 2
    # 1/6 of 3 epochs is a half: the float just below 1/6 rounded it down.
    assert [warmup_epoch_count(1 / 6, n) for n in (3, 9)] == [1, 2]
    assert warmup_epoch_count(1 / 12, 6) == 1
    assert [warmup_epoch_count(1 / 3, n) for n in (1, 2, 3, 30, 50)] == [
        0,
        1,
        1,
        10,
        17,
    ]


def test_warmup_fraction_is_of_the_epochs_the_call_trains():
    X, y = make_classification(200, weights=[0.8], random_state=0)
    X = X.astype("float32")
    params = dict(M=4.0, hardness=0.0, random_state=0)
    # fit(epochs=6) under the default max_epochs=50: a third of 50 (17)
    # made every one of its 6 epochs a warm-up, without a word.
    clf = RSFTClassifier(**params).fit(X, y, epochs=6)
    rates = [epoch["acceptance_rate"] for epoch in clf.history]
    assert rates[:2] == [1.0, 1.0] and max(rates[2:]) < 1.0
    # Continued training keeps the count of the call that started it: a
    # warm-start fit(epochs=6) after it, or a larger max_epochs, goes on
    # rejecting (the warm-up came back for a third of max_epochs=50, or 30).
    clf.set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X, y, epochs=6)
        clf.set_params(max_epochs=30).fit(X, y, epochs=2)
    rates = [epoch["acceptance_rate"] for epoch in clf.history]
    assert len(rates) == 14 and max(rates[2:]) < 1.0
    # A warm-up raised between calls, after epochs that rejected, says so.
    clf = RSFTClassifier(max_epochs=3, warm_start=True, **params).fit(X, y)
    with pytest.warns(UserWarning, match=r"Epochs 4 to 5 .* at most 3, the epochs"):
        clf.set_params(warmup_epochs=5).fit(X, y)
    with pytest.warns(UserWarning, match=r"\(warmup_epochs=7\), after"):
        clf.set_params(warmup_epochs=7).fit(X, y)
    rates = [epoch["acceptance_rate"] for epoch in clf.history]
    assert max(rates[1:3]) < 1.0 and rates[3:5] == [1.0] * 2
    assert rates[5] < 1.0 and rates[6] == 1.0 and max(rates[7:]) < 1.0
    # initialize() starts afresh: what an earlier training left (its count,
    # its last epoch's rule) is not the new network's.
    clf.initialize()
    assert "_warmup_basis_epochs" not in vars(clf)
    assert "_last_epoch_rejected" not in vars(clf)
    # A loop of partial_fit(epochs=1) warms up over its first calls, a third
    # of max_epochs, as one fit does (a third of each call's one epoch is
    # none).
    loop = RSFTClassifier(max_epochs=9, **params)
    for _ in range(9):
        loop.partial_fit(X, y, epochs=1)
    rates = [epoch["acceptance_rate"] for epoch in loop.history]
    assert rates[:3] == [1.0] * 3 and max(rates[3:]) < 1.0
    # LBFGS is refused before training where a fit's own epochs reach the
    # rule, whether or not it was initialised first.
    lbfgs = dict(optimizer=torch.optim.LBFGS, rejection="sample", warmup_epochs=0.5)
    clf = RSFTClassifier(
        max_epochs=10, warm_start=True, module__n_features=20,
        module__n_classes=2, **lbfgs, **params,
    )  # fmt: skip
    clf.initialize()
    with pytest.raises(ValueError, match="LBFGS"):
        clf.fit(X, y, epochs=2)
    assert not hasattr(clf, "classes_inferred_")


@pytest.fixture(scope="module")
def long_tail():
    X, y = make_classification(
        3000,
        n_classes=3,
        n_informative=5,
        weights=[0.9, 0.08, 0.02],
        class_sep=1.0,
        random_state=1,
    )
    return X.astype("float32"), y


def test_prior_correction_fit_predicts_balanced_and_roundtrips(long_tail):
    X, y = long_tail
    clf = RSFTClassifier(
        prior_correction=1.0,
        target_power=0.5,
        hardness=0.5,
        warmup_epochs=1 / 3,
        max_epochs=9,
        random_state=0,
    )
    clf.fit(X, y)
    prior = clf.loss_class_prior_
    assert prior.shape == (3,) and np.isclose(prior.sum(), 1.0)
    # The tempered rule moved mass toward the rare classes, not all the way.
    assert prior[2] > clf.class_prior_[2] and prior[2] < 1 / 3
    proba = clf.predict_proba(X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    # The balanced decision predicts the rare class far above its prior.
    assert np.mean(clf.predict(X) == 2) > 2 * np.mean(y == 2)
    # Same settings, same fit; clone keeps the parameters.
    again = clone(clf).fit(X, y)
    np.testing.assert_allclose(again.predict_proba(X), proba, rtol=1e-5, atol=1e-6)


def test_prior_correction_changes_the_loss_module(long_tail):
    X, y = long_tail
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    assert clf.criterion_.prior_correction == 1.0
    assert clf.final_prior_correction_ == 1.0 and hasattr(clf, "loss_class_prior_")
    clf.set_params(prior_correction=0.0).fit(X, y)
    assert clf.criterion_.prior_correction == 0.0
    # The first fit's prior is gone with its correction.
    assert clf.final_prior_correction_ == 0.0
    assert not hasattr(clf, "loss_class_prior_")


@pytest.mark.parametrize("fitted, later", [(1.0, 0.0), (1.0, 2.0), (0.0, 1.0)])
def test_prior_correction_set_after_the_fit_leaves_the_output(long_tail, fitted, later):
    # predict_proba read the parameter itself: set_params(prior_correction=0)
    # after a fit with 1 changed the balanced output by 0.34. It reads the
    # fit's value, as it reads final_M_ rather than M.
    X, y = long_tail
    clf = RSFTClassifier(max_epochs=2, prior_correction=fitted, random_state=0)
    if not fitted:
        # A refit without correction, after one with it: its prior is not
        # read either.
        clf.set_params(prior_correction=1.0).fit(X, y)
        clf.set_params(prior_correction=fitted)
    proba = clf.fit(X, y).predict_proba(X)
    clf.set_params(prior_correction=later)
    np.testing.assert_array_equal(clf.predict_proba(X), proba)


def test_raising_M_moves_weight_toward_rare_and_hard_rows(long_tail):
    # Under the expected rule M acts through the clipping at 1: a small M
    # accepts every row (the logit-adjusted loss alone), a large one weights
    # rows by w / p ** hardness. Raising it lowers the acceptance rate and
    # moves the prior after rejection toward the rare classes.
    X, y = long_tail
    settings = dict(
        prior_correction=1.0,
        target_power=0.5,
        hardness=0.5,
        warmup_epochs=1 / 3,
        max_epochs=6,
        random_state=0,
    )
    fits = {M: RSFTClassifier(M=M, **settings).fit(X, y) for M in (0.05, 1.0, 4.0)}
    rates = {M: clf.history[-1]["acceptance_rate"] for M, clf in fits.items()}
    rare = {M: clf.loss_class_prior_[2] for M, clf in fits.items()}
    assert rates[0.05] == pytest.approx(1.0)
    assert rates[0.05] > rates[1.0] > rates[4.0]
    np.testing.assert_allclose(
        fits[0.05].loss_class_prior_, fits[0.05].class_prior_, rtol=1e-6
    )
    assert rare[0.05] < rare[1.0] < rare[4.0]


def test_a_non_finite_batch_does_not_poison_the_prior():
    # Overflowed logits (a step a mixed-precision scaler skips) count their
    # rows as seen but not accepted: the prior after rejection, and the
    # losses that shift by it, stay finite.
    loss = RejectionLoss(
        class_weight=[0.25, 1.0], rejection="expected", prior_correction=1.0
    )
    loss.set_class_prior([0.8, 0.2])
    # hardness 1: the acceptances read the (NaN) probabilities.
    loss.begin_epoch(M=1.0, hardness=1.0, rejecting=True)
    y = torch.tensor([0] * 8 + [1] * 2)
    assert not torch.isfinite(loss(torch.full((10, 2), float("nan")), y))
    loss.flush_counts()
    torch.testing.assert_close(
        loss.counts,
        torch.tensor([[8.0, 2.0], [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64),
    )
    assert bool(torch.isfinite(loss.log_prior_after_rejection()).all())
    assert torch.isfinite(loss(torch.zeros(10, 2), y))
    loss.begin_epoch(M=1.0, hardness=1.0, rejecting=True)
    assert bool(torch.isfinite(loss.log_prior_after_rejection()).all())


# ----------------------------------------------------------------------
# Sample weights and continued training in the class prior and weights
# ----------------------------------------------------------------------
def _noise(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 2)).astype(np.float32)
    y = np.repeat([0, 1], n // 2)
    return X, y


def test_zero_sample_weights_count_as_dropped_rows():
    # The class weights and the prior that probability="balanced" removes
    # were counted from the unweighted labels: with 80% of class 0 weighted
    # 0, the balanced output of features that carry no signal was 0.83 for
    # class 1, where a fit on the other rows gives 0.5.
    X, y = _noise()
    weight = np.ones(len(y))
    weight[: int(0.4 * len(y))] = 0.0
    keep = weight > 0
    params = dict(
        max_epochs=30,
        batch_size=64,
        module__hidden_layer_sizes=(8,),
        random_state=0,
    )
    weighted = RSFTClassifier(**params).fit(X, y, sample_weight=weight)
    subset = RSFTClassifier(**params).fit(X[keep], y[keep])
    np.testing.assert_allclose(weighted.class_prior_, [1 / 6, 5 / 6])
    np.testing.assert_allclose(weighted.class_prior_, subset.class_prior_)
    np.testing.assert_allclose(
        weighted.class_target_weight_, subset.class_target_weight_
    )
    balanced = weighted.predict_proba(X)[:, 1].mean()
    assert balanced == pytest.approx(0.5, abs=0.05)
    assert balanced == pytest.approx(subset.predict_proba(X)[:, 1].mean(), abs=0.05)


@pytest.mark.parametrize("rejection", ["expected", "sample", "budget"])
def test_a_warm_up_last_epoch_removes_the_weighted_prior_it_trained_on(rejection):
    # Without rejection a row's acceptance is its sample weight, so a class
    # of weights above 1 has a mean acceptance above 1; it was clipped at 1
    # and the removed prior ([0.63, 0.10, 0.27]) was not the one the loss
    # adjusted for ([0.33, 0.05, 0.62]): the balanced output moved by up to
    # 0.30 from the raw one, which already is the balanced posterior.
    rng = np.random.default_rng(0)
    y = rng.choice(3, size=300, p=[0.8, 0.1, 0.1])
    X = (rng.normal(size=(300, 4)) + 0.7 * y[:, None]).astype(np.float32)
    weight = np.where(y == 2, 10.0, 1.0)
    clf = RSFTClassifier(
        max_epochs=2,
        warmup_epochs=2,
        batch_size=64,
        random_state=0,
        rejection=rejection,
    ).fit(X, y, sample_weight=weight)
    mass = clf.criterion_.epoch_statistics()["acceptance"].double().cpu().numpy()
    np.testing.assert_allclose(clf.loss_class_prior_, mass / mass.sum(), rtol=1e-6)
    np.testing.assert_allclose(clf.loss_class_prior_, clf.class_prior_, rtol=1e-5)
    balanced = clf.predict_proba(X)
    raw = clf.set_params(probability="raw").predict_proba(X)
    np.testing.assert_allclose(balanced, raw, atol=1e-5)


def test_a_class_without_acceptance_mass_has_the_loss_share_in_the_prior():
    # The loss gives a class without mass (no row, or rows of weight 0) a
    # share of 1e-6; the prior that prediction removes gave it that of one
    # row (0.004 for a label known only from classes=) or of a rate of 1e-6.
    X, y = make_classification(
        600,
        6,
        n_informative=4,
        n_redundant=0,
        n_classes=3,
        weights=[0.75, 0.2, 0.05],
        n_clusters_per_class=1,
        random_state=0,
    )
    params = dict(M=3.0, lr=0.0, max_epochs=3, warmup_epochs=1, random_state=0)

    def loss_share(clf):
        statistics = clf.criterion_.epoch_statistics()
        mass = clf.criterion_.prior_mass.numpy() + statistics["acceptance"].numpy()
        return np.maximum(mass, mass.sum() * 1e-6) / mass.sum()

    absent = RSFTClassifier(classes=[0, 1, 2, 3], **params).fit(X, y)
    weightless = RSFTClassifier(**params).fit(
        X, y, sample_weight=np.where(y == 2, 0.0, 1.0)
    )
    for clf, k in ((absent, 3), (weightless, 2)):
        assert clf.loss_class_prior_[k] == pytest.approx(loss_share(clf)[k], rel=1e-5)
        assert clf.loss_class_prior_.sum() == pytest.approx(1.0)


def test_class_sample_weights_are_inverted_inside_the_clipping():
    # Sample weights of one value per class enter the rule inside the
    # clipping, as a dict target does: the balanced output of a frozen net
    # equals that of the same rule written as the target (M scaled so that
    # the largest weight is 1). The correction used the class weights
    # alone: with compute_sample_weight("balanced") it predicted the
    # majority on features without signal (0.80 for it, where 0.5 is right).
    rng = np.random.RandomState(0)
    y = (rng.rand(600) < 0.2).astype(int)
    X = rng.randn(600, 4).astype(np.float32)
    weight = np.where(y == 1, 4.0, 1.0)
    s = weight / weight.mean()
    common = dict(lr=0.0, max_epochs=1, warmup_epochs=0, random_state=0)
    weighted = RSFTClassifier(target="uniform", M=1.0, **common).fit(
        X, y, sample_weight=weight
    )
    largest = s.max()
    as_target = RSFTClassifier(
        target={0: s[y == 0][0] / largest, 1: s[y == 1][0] / largest},
        M=1.0 / largest,
        **common,
    ).fit(X, y)
    np.testing.assert_allclose(
        weighted.loss_class_prior_, as_target.loss_class_prior_, rtol=1e-5
    )
    np.testing.assert_allclose(
        weighted.predict_proba(X), as_target.predict_proba(X), rtol=1e-5
    )


def _frozen_lognormal_fit(calls):
    """A frozen net (lr=0) fitted on lognormal sample weights in ``calls``
    calls of ``partial_fit``; with the rule's expected acceptance per class,
    computed here from every row (each call's weights divided by its
    mean)."""
    rng = np.random.RandomState(0)
    y = (rng.rand(1200) < 0.2).astype(int)
    X = rng.randn(1200, 4).astype(np.float32)
    weight = rng.lognormal(0.0, 1.5, 1200)
    weight[:40] = 0.0
    clf = RSFTClassifier(
        lr=0.0,
        max_epochs=1,
        warmup_epochs=0,
        M=1.0,
        hardness=0.0,
        target_power=1.0,
        prior_correction=0.0,
        random_state=0,
    )
    acceptance = [[], []]
    for part in np.array_split(np.arange(1200), calls):
        w = weight[part] / weight[part].mean()
        clf.partial_fit(X[part], y[part], classes=[0, 1], sample_weight=w)
        for k in (0, 1):
            kept = w[(y[part] == k) & (w > 0)]
            acceptance[k].append(
                np.minimum(1.0, kept * clf.class_target_weight_[k] / clf.final_M_)
            )
    rows = np.array([(y[weight > 0] == k).sum() for k in (0, 1)], dtype=float)
    mean_acceptance = np.array([np.concatenate(a).mean() for a in acceptance])
    return clf, X, rows / rows.sum(), mean_acceptance


@pytest.mark.parametrize("calls", [1, 3])
def test_weights_varying_within_a_class_are_inverted_with_their_mean_acceptance(
    calls,
):
    # The rule clips each row's weighted acceptance at 1, so that a class's
    # mean acceptance is below the clipped acceptance of its mean weight
    # (Jensen). The correction inverted the latter: for lognormal weights
    # (sigma 1.5), 1.0 and 0.26 where the rows are accepted at 0.46 (rare
    # class) and 0.19 on average, and the balanced output was 0.12 off. It
    # now inverts the mean acceptance, from a 128-bin summary of each class's
    # weights kept over every call.
    clf, X, row_prior, mean_acceptance = _frozen_lognormal_fit(calls)
    raw = clf.set_params(probability="raw").predict_proba(X)
    expected = raw / mean_acceptance / row_prior
    expected /= expected.sum(axis=1, keepdims=True)
    balanced = clf.set_params(probability="balanced").predict_proba(X)
    np.testing.assert_allclose(balanced, expected, atol=5e-3)


def test_weights_equal_within_each_class_keep_the_mean_weight_correction():
    # One weight per class: the summary says nothing more than the mean,
    # and the output is that of the mean-weight inversion, bit for bit.
    rng = np.random.RandomState(0)
    y = (rng.rand(600) < 0.2).astype(int)
    X = rng.randn(600, 4).astype(np.float32)
    clf = RSFTClassifier(max_epochs=3, random_state=0, hardness=0.0)
    clf.fit(X, y, sample_weight=np.where(y == 1, 4.0, 1.0))
    assert clf._rule_weight_bins.shape == (2, 2, 128)
    binned = clf.predict_proba(X)
    del clf._rule_weight_bins
    np.testing.assert_array_equal(binned, clf.predict_proba(X))


def test_an_estimator_without_the_weight_summary_keeps_its_mean_and_goes_on():
    # Pickled before the summary was kept: prediction uses the mean weight,
    # and continued training starts the summary at the earlier rows' mean.
    clf, X, row_prior, _ = _frozen_lognormal_fit(1)
    del clf._rule_weight_bins
    clf = pickle.loads(pickle.dumps(clf))
    mean = clf._rule_weight_sums[0] / clf._rule_weight_sums[1]
    raw = clf.set_params(probability="raw").predict_proba(X)
    expected = raw / np.minimum(1.0, mean * clf.class_target_weight_) / row_prior
    expected /= expected.sum(axis=1, keepdims=True)
    balanced = clf.set_params(probability="balanced").predict_proba(X)
    np.testing.assert_allclose(balanced, expected, rtol=1e-6)
    y = (np.arange(len(X)) % 5 == 0).astype(int)
    clf.partial_fit(X, y, sample_weight=np.full(len(X), 2.0))
    mean = clf._rule_weight_sums[0] / clf._rule_weight_sums[1]
    rows, means = clf._rule_weight_bins.transpose(1, 0, 2)
    np.testing.assert_allclose(rows.sum(axis=1), clf._rule_weight_sums[1])
    np.testing.assert_allclose((rows * means).sum(axis=1) / rows.sum(axis=1), mean)


def _clipped_mean(rows, means, scale):
    """Mean of min(1, scale * w) over weights given as (rows, means)."""
    return (rows * np.minimum(1.0, scale[:, None] * means)).sum(axis=1) / rows.sum()


def test_the_weight_summary_keeps_the_mean_and_the_clipping_of_a_heavy_tail():
    from rsft_sklearn._decision import weight_bins

    rng = np.random.default_rng(0)
    values = rng.lognormal(0.0, 2.5, 2000)
    rows, means = weight_bins(values, np.ones(2000), 128)
    assert rows.sum() == 2000 and np.all(np.diff(means[rows > 0]) >= 0)
    assert (rows * means).sum() / 2000 == pytest.approx(values.mean(), rel=1e-12)
    # The mean clipped acceptance at every threshold: bins of equal rows
    # alone (128 of them) were up to 3 times the exact value, where a few
    # large weights clip; cut at equal weight too, within 1%.
    scale = np.logspace(-4, 2, 400)
    exact = _clipped_mean(np.ones(2000), values, scale)
    assert np.max(np.abs(_clipped_mean(rows, means, scale) / exact - 1)) < 0.01
    # Merged from two summaries (bin means with their rows), the summary of
    # all the values, up to the coarsening.
    halves = [values[:700], values[700:]]
    parts = [weight_bins(h, np.ones(len(h)), 128) for h in halves]
    merged = weight_bins(
        np.concatenate([m for _, m in parts]),
        np.concatenate([r for r, _ in parts]),
        128,
    )
    assert merged[0].sum() == 2000
    assert (merged[0] * merged[1]).sum() / 2000 == pytest.approx(values.mean())
    assert np.max(np.abs(_clipped_mean(*merged, scale) / exact - 1)) < 0.01
    # A few weights carrying most of the weight (Pareto with an infinite
    # mean, divided by its mean as the rule's weights are): cut at equal
    # shares of rows and of weight alone, 118% off in this draw; the steps
    # of the logarithm keep it within 2%.
    tail = np.random.default_rng(10).pareto(0.8, 20_000) + 0.01
    tail /= tail.mean()
    rows, means = weight_bins(tail, np.ones(len(tail)), 128)
    wide = np.logspace(-4, 3, 400)
    exact = _clipped_mean(np.ones(len(tail)), tail, wide)
    assert np.max(np.abs(_clipped_mean(rows, means, wide) / exact - 1)) < 0.02
    # At most 128 distinct values keep a bin each, whatever their counts:
    # the summary is exact (ten thousand rows of weight 1 beside 63 other
    # weights were spread over several bins).
    few = np.r_[np.ones(10_000), rng.lognormal(0.0, 2.0, 100)]
    rows, means = weight_bins(few, np.ones(len(few)), 128)
    np.testing.assert_allclose(means[rows > 0], np.unique(few), rtol=1e-12)
    assert rows[means == 1.0][0] == 10_000
    # A value of count 0 takes no part.
    rows, means = weight_bins([3.0, 100.0], [5, 0], 4)
    assert rows.tolist() == [5.0, 0.0, 0.0, 0.0] and means[0] == 3.0


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"rejection": "sample"},
        {"hardness": 0, "target_power": 1, "prior_correction": 0},
    ],
)
def test_balanced_sample_weights_leave_a_balanced_output_without_signal(params):
    from sklearn.utils.class_weight import compute_sample_weight

    rng = np.random.RandomState(0)
    y = (rng.rand(1000) < 0.2).astype(int)
    X = rng.randn(1000, 5).astype(np.float32)
    X_test = rng.randn(2000, 5).astype(np.float32)
    clf = RSFTClassifier(max_epochs=30, lr=3e-3, random_state=0, **params)
    clf.fit(X, y, sample_weight=compute_sample_weight("balanced", y))
    assert clf.predict_proba(X_test)[:, 1].mean() == pytest.approx(0.5, abs=0.08)
    assert 0.3 < (clf.predict(X_test) == 1).mean() < 0.7


@pytest.mark.parametrize("prior_correction", [0.0, 1.0])
def test_a_class_without_mass_is_not_predicted(prior_correction):
    # Divided by the prior of one row, a class absent from y (or of rows
    # all weighted 0) was predicted for 6% of rows under prior_correction=0.
    rng = np.random.RandomState(0)
    y = (rng.rand(1000) < 0.2).astype(int)
    X = rng.randn(1000, 5).astype(np.float32)
    X_test = rng.randn(2000, 5).astype(np.float32)
    params = dict(
        max_epochs=30, lr=3e-3, random_state=0, prior_correction=prior_correction
    )
    absent = RSFTClassifier(classes=[0, 1, 2], **params).fit(X, y)
    y3 = y.copy()
    y3[:50] = 2
    weightless = RSFTClassifier(**params).fit(
        X, y3, sample_weight=np.where(y3 == 2, 0.0, 1.0)
    )
    for clf in (absent, weightless):
        assert not (clf.predict(X_test) == 2).any()
        assert clf.predict_proba(X_test)[:, 2].max() < 0.01


@pytest.mark.parametrize(
    "params",
    [
        dict(target={"a": 1.0, "b": 1.0, "c": 1e-10}),
        dict(target={"a": 1.0, "b": 1.0, "c": 1e-30}, max_epochs=4),
        dict(M=50.0),
    ],
)
def test_the_rule_is_not_inverted_for_a_class_without_mass(params):
    # A class known from classes= only was never accepted: inverting its
    # acceptance at a small target weight (or a large M) lifted it by about
    # 1 / weight, and the balanced and training outputs predicted it for
    # 78% to 100% of the rows, where the raw output never does.
    rng = np.random.RandomState(0)
    X = rng.randn(1000, 5).astype(np.float32)
    y = np.array(["a", "b"])[(X[:, 0] + 0.5 * rng.randn(1000) > 0).astype(int)]
    clf = RSFTClassifier(
        classes=["a", "b", "c"], **{"max_epochs": 10, "random_state": 0, **params}
    ).fit(X, y)
    for probability in ("balanced", "training"):
        clf.set_params(probability=probability)
        assert not (clf.predict(X) == "c").any(), probability
        assert (clf.predict(X) == y).mean() > 0.8, probability
        assert clf.predict_proba(X)[:, 2].max() < 0.05, probability


@pytest.mark.parametrize("M", [1e4, 1e8])
def test_tiny_acceptance_rates_keep_their_ratio_in_the_prior(M):
    # Rates below 1e-6 were clipped to it, one class more than the other:
    # at M=1e8 the prior removed was [0.79, 0.21] where the loss's mass
    # shares were [0.66, 0.34], and a third of a balanced test set moved.
    rng = np.random.default_rng(0)
    y = rng.choice(2, 600, p=[0.8, 0.2])
    X = rng.standard_normal((600, 2)).astype(np.float32)
    X[:, 0] += 1.5 * y
    clf = RSFTClassifier(M=M, lr=0.0, max_epochs=2, random_state=0).fit(X, y)
    mass = clf.criterion_.epoch_statistics()["acceptance"].double().numpy()
    np.testing.assert_allclose(clf.loss_class_prior_, mass / mass.sum(), rtol=1e-5)
    # Computed in float64, as the rest of the correction.
    assert clf.loss_class_prior_.dtype == np.float64


def test_class_target_weight_and_prior_count_rows_by_their_weight():
    y = np.array([0, 0, 0, 0, 1, 1])
    weight = np.array([1.0, 1.0, 0.0, 0.0, 0.5, 0.5])
    # Class 0 weighs 2, class 1 weighs 1.
    np.testing.assert_allclose(
        class_target_weight(y, 2, sample_weight=weight), [0.5, 1.0]
    )
    np.testing.assert_allclose(
        class_target_weight(y, 3, power=0.5, sample_weight=weight),
        [0.5**0.5, 1.0, 1.0],
    )
    np.testing.assert_allclose(class_prior(y, 2, weight), [2 / 3, 1 / 3])
    # A class of weight 0 counts once, as an absent class does.
    np.testing.assert_allclose(class_prior(y, 2, [1, 1, 1, 1, 0, 0]), [0.8, 0.2])


def test_partial_fit_prior_follows_every_chunk():
    # The prior came from the first call only, so a stream whose first chunk
    # held one class kept a prior of about [0.98, 0.02], and with the
    # balanced decision predicted the other class for nearly every row.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(600, 2)).astype(np.float32)
    y = (X[:, 0] > 0).astype(np.int64)
    first = np.flatnonzero(y == 0)[:60]
    rest = np.setdiff1d(np.arange(len(y)), first)
    clf = RSFTClassifier(
        max_epochs=1, prior_correction=0, target={0: 1.0, 1: 1.0}, random_state=0
    )
    clf.partial_fit(X[first], y[first], classes=[0, 1])
    np.testing.assert_allclose(clf.class_prior_, [60 / 61, 1 / 61])
    for _ in range(4):
        for chunk in np.array_split(rest, 5):
            clf.partial_fit(X[chunk], y[chunk])
    seen = np.bincount(np.r_[y[first], np.tile(y[rest], 4)], minlength=2)
    np.testing.assert_allclose(clf.class_prior_, seen / seen.sum())
    assert 0.35 < clf.predict(X).mean() < 0.65


def test_class_prior_keeps_the_scale_of_every_chunks_sample_weights():
    # Each call's weights were divided by their own mean before the classes
    # were counted: 100 rows of class 0 and then 100 rows of class 1 at
    # weight 0.1 gave a prior of [0.5, 0.5], where one fit gives 1 / 1.1.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 2)).astype(np.float32)
    y = np.repeat([0, 1], 100)
    weight = np.repeat([1.0, 0.1], 100)
    clf = RSFTClassifier(max_epochs=1, random_state=0)
    clf.partial_fit(X[:100], y[:100], classes=[0, 1])
    clf.partial_fit(X[100:], y[100:], sample_weight=weight[100:])
    np.testing.assert_allclose(clf.class_prior_, [1 / 1.1, 0.1 / 1.1])
    whole = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y, sample_weight=weight)
    np.testing.assert_allclose(whole.class_prior_, clf.class_prior_)


def _fitted_on_three_classes(max_epochs):
    """600 rows of three balanced classes, and a fit on the first 400."""
    X, y = make_classification(
        600, n_classes=3, n_informative=4, class_sep=1.0, random_state=1
    )
    X = X.astype("float32")
    clf = RSFTClassifier(
        max_epochs=max_epochs, warmup_epochs=0, lr=1e-2, random_state=0
    )
    return X, y, clf.fit(X[:400], y[:400])


def test_a_small_chunk_does_not_redefine_the_output_correction():
    # The correction's prior after rejection came from the last epoch's rows
    # alone: after a fit on three balanced classes, a partial_fit of 12 rows
    # of one class at lr=0 (the network unchanged) moved it from about 1/3
    # each to [0.857, 0.071, 0.071], and 24% of the predictions changed.
    X, y, clf = _fitted_on_three_classes(max_epochs=6)
    before, proba = clf.loss_class_prior_.copy(), clf.predict_proba(X[400:])
    chunk = np.flatnonzero(y[:400] == 0)[:12]
    clf.set_params(lr=0.0, max_epochs=1).partial_fit(X[chunk], y[chunk])
    # The 12 rows join the 400 at the last epoch's rates.
    np.testing.assert_allclose(clf.loss_class_prior_, before, atol=0.03)
    after = clf.predict_proba(X[400:])
    assert np.mean(after.argmax(axis=1) != proba.argmax(axis=1)) < 0.02


def test_a_few_rows_of_a_class_do_not_set_its_rate_in_a_stream():
    # A last chunk with one row of a class took that class's acceptance rate
    # from the one row: with lognormal weights, a stream ending in an 8-row
    # chunk moved the removed prior from [0.76, 0.24] to [0.89, 0.11]. The
    # rate of the earlier calls now counts as 30 rows against the chunk's.
    rng = np.random.default_rng(0)
    y = rng.choice(2, 600, p=[0.8, 0.2])
    X = rng.standard_normal((600, 2)).astype(np.float32)
    X[:, 0] += 1.5 * y
    clf = RSFTClassifier(max_epochs=3, random_state=0, warmup_epochs=0)
    clf.fit(X, y)
    before = clf.loss_class_prior_.copy()
    rates = clf._acceptance_rates.copy()
    # One row of class 1 of a small weight, with rows of class 0, frozen net.
    rows = np.r_[np.flatnonzero(y == 0)[:7], np.flatnonzero(y == 1)[:1]]
    weight = np.r_[np.ones(7), 0.05]
    clf.set_params(lr=0.0, max_epochs=1).partial_fit(
        X[rows], y[rows], sample_weight=weight
    )
    # The row's own rate is far below the class's; the blend stays near it.
    assert clf._acceptance_rates[1] == pytest.approx(rates[1], rel=0.1)
    np.testing.assert_allclose(clf.loss_class_prior_, before, atol=0.02)


def test_class_prior_does_not_depend_on_the_scale_of_the_weights():
    # A class of weight 0 counts as one row; counted in the weights' own
    # units, that row was worth 0.5% of the prior at weights of 1 and 83% at
    # weights of 1e-3.
    X, y = make_classification(300, n_classes=3, n_informative=4, random_state=0)
    weight = np.where(y == 2, 0.0, 1.0)
    fits = [
        RSFTClassifier(max_epochs=2, random_state=0).fit(X, y, sample_weight=w)
        for w in (weight, weight * 1e-3)
    ]
    np.testing.assert_allclose(fits[0].class_prior_, fits[1].class_prior_)
    assert fits[0].class_prior_[2] < 0.01
    np.testing.assert_allclose(
        fits[0].predict_proba(X), fits[1].predict_proba(X), atol=1e-6
    )


def test_a_chunk_whose_class_weighs_nothing_keeps_that_class_rate():
    # Its rows counted, with no acceptance mass: a rate of 0, carried to the
    # next chunks, and the class was never predicted again. The class keeps
    # its rate, and its rows of weight 0 count as no rows, as if dropped.
    X, y, clf = _fitted_on_three_classes(max_epochs=4)
    before = clf.loss_class_prior_.copy()
    rate = clf._acceptance_rates[2]
    clf.set_params(lr=0.0, max_epochs=1)
    dropped = copy.deepcopy(clf)
    chunk = np.arange(400, 460)
    clf.partial_fit(X[chunk], y[chunk], sample_weight=np.where(y[chunk] == 2, 0, 1.0))
    two = chunk[y[chunk] != 2]
    dropped.partial_fit(X[two], y[two])
    assert clf._acceptance_rates[2] == rate > 0
    np.testing.assert_allclose(
        clf.loss_class_prior_, dropped.loss_class_prior_, atol=0.01
    )
    np.testing.assert_allclose(clf.loss_class_prior_, before, atol=0.08)
    clf.partial_fit(X[two], y[two])
    assert clf.loss_class_prior_[2] > 0.6 * before[2]


def test_calls_without_correction_still_count_their_rows():
    # Only calls with prior_correction counted their trained rows: a fit of
    # 240 rows without correction, then a corrected 60-row chunk, took the
    # prior after rejection from the chunk alone.
    X, y = make_classification(
        300, n_classes=3, n_informative=4, weights=[0.6, 0.3, 0.1], random_state=0
    )
    X = X.astype("float32")
    clf = RSFTClassifier(max_epochs=2, prior_correction=0.0, random_state=0)
    clf.fit(X[:240], y[:240])
    clf.set_params(prior_correction=1.0, max_epochs=1, lr=0.0)
    clf.partial_fit(X[240:], y[240:])
    assert clf._trained_rows.sum() == 300
    whole = np.bincount(y, minlength=3) / len(y)
    # The rule's rates tilt the prior; the rows are every call's.
    assert np.abs(clf.loss_class_prior_ - whole).max() < 0.15
    rows = np.bincount(y[240:], minlength=3)
    assert not np.allclose(clf._trained_rows, rows)


def test_counts_of_an_earlier_version_go_on_in_their_units():
    # Estimators pickled before the counts kept the weights' units hold each
    # call's weights divided by their mean; a call adding raw weights of
    # 1000 made the prior that call's alone.
    X, y = make_classification(400, n_classes=3, n_informative=4, random_state=0)
    clf = RSFTClassifier(max_epochs=1, random_state=0)
    clf.partial_fit(X[:200], y[:200], sample_weight=np.full(200, 1000.0))
    # As an earlier version left it: counts in mean units, no row counts.
    clf._class_counts = np.bincount(y[:200], minlength=3).astype(float)
    del clf._class_rows
    clf.partial_fit(X[200:], y[200:], sample_weight=np.full(200, 1000.0))
    np.testing.assert_allclose(
        clf.class_prior_, np.bincount(y, minlength=3) / len(y), rtol=1e-6
    )


def test_a_refused_call_leaves_the_class_prior_as_it_was():
    X, y = _noise(200)
    clf = RSFTClassifier(max_epochs=1, random_state=0).partial_fit(X, y)
    before = clf.class_prior_.copy()
    for _ in range(3):
        with pytest.raises(ValueError, match="groups"):
            clf.partial_fit(X[:50], y[:50], groups=np.zeros(50))
    np.testing.assert_array_equal(clf.class_prior_, before)


def test_a_fit_from_before_the_counts_keeps_its_prior_in_partial_fit():
    # An estimator unpickled from an older version has no class counts; its
    # prior was the first fit's, and a partial_fit must not replace it by the
    # chunk's alone.
    X, y = _noise(200)
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    del clf.__dict__["_class_counts"]
    before = clf.class_prior_.copy()
    clf.partial_fit(X[y == 1], y[y == 1])
    np.testing.assert_array_equal(clf.class_prior_, before)


def test_rows_of_weight_zero_do_not_train_in_the_warm_up():
    # BaggingClassifier draws its bootstrap as sample weights: the
    # out-of-bag rows (weight 0) trained in the warm-up, the network learnt
    # their noise labels (0.98 accuracy on them), and oob_score_ read 0.94
    # where chance is 0.5.
    rng = np.random.RandomState(0)
    X = rng.randn(300, 30).astype(np.float32)
    y = rng.randint(0, 2, 300)
    weight = np.r_[np.ones(150), np.zeros(150)]
    params = dict(
        max_epochs=40,
        batch_size=32,
        lr=1e-2,
        module__hidden_layer_sizes=(256,),
        random_state=0,
    )
    net = RSFTClassifier(**params).fit(X, y, sample_weight=weight)
    assert net.score(X[150:], y[150:]) < 0.65
    assert net.score(X[:150], y[:150]) > 0.9


@pytest.mark.parametrize("rejection", ["expected", "budget"])
def test_rows_of_weight_zero_in_a_stream_count_as_no_rows(rejection):
    # A chunk whose rows of one class all weigh 0 counted them as trained
    # rows at the class's earlier rate: the prior after rejection grew for a
    # class the chunk never trained on, and predict gave it 133 of 400 rows
    # where dropping the rows gave 27.
    X, y = make_classification(
        n_samples=400,
        n_features=6,
        n_informative=4,
        n_classes=3,
        weights=[0.7, 0.2, 0.1],
        random_state=0,
    )
    first, second = np.arange(200), np.arange(200, 400)
    weight = np.where(y[second] == 2, 0.0, 1.0)
    params = dict(
        max_epochs=2, random_state=0, batch_size=32, warmup_epochs=1,
        classes=[0, 1, 2], rejection=rejection,
    )  # fmt: skip
    zero = RSFTClassifier(**params)
    zero.partial_fit(X[first], y[first])
    zero.partial_fit(X[second], y[second], sample_weight=weight)
    kept = second[y[second] != 2]
    dropped = RSFTClassifier(**params)
    dropped.partial_fit(X[first], y[first])
    dropped.partial_fit(X[kept], y[kept])
    np.testing.assert_array_equal(zero._trained_rows, dropped._trained_rows)
    np.testing.assert_allclose(
        zero.loss_class_prior_, dropped.loss_class_prior_, atol=0.02
    )


def test_a_resumed_fit_in_its_warm_up_does_not_warn(tmp_path):
    from skorch.callbacks import Checkpoint, LoadInitState

    # A fresh loss starts with its rule on: the resumed fit's second warm-up
    # epoch was taken for a warm-up after epochs that rejected.
    X, y = make_classification(300, 8, weights=[0.9], random_state=0)
    X = X.astype("float32")
    first = Checkpoint(dirname=tmp_path, monitor=None, f_criterion="criterion.pt")
    RSFTClassifier(max_epochs=1, warmup_epochs=2, callbacks=[first]).fit(X, y)
    again = Checkpoint(dirname=tmp_path, monitor=None, f_criterion="criterion.pt")
    clf = RSFTClassifier(
        max_epochs=3, warmup_epochs=2, callbacks=[again, LoadInitState(again)]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X, y)
    rates = [epoch["acceptance_rate"] for epoch in clf.history]
    assert rates[:2] == [1.0, 1.0] and rates[2] < 1.0
