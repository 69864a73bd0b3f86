"""Edge states of a fitted or initialised estimator: fits that never step,
initialised-only estimators, module instances that cannot be copied."""

import threading
import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import NotFittedError

from rsft_sklearn import EmbeddingBagModule, RSFTClassifier
from rsft_sklearn._classifier import _DECISION_ATTRIBUTES


def _data(n=200, seed=0):
    rng = np.random.RandomState(seed)
    X = rng.randn(n, 4).astype(np.float32)
    y = (rng.rand(n) < 0.2).astype(np.int64)
    X[:, 0] += 1.5 * y
    return X, y


@pytest.mark.parametrize("rejection", ["sample", "pool", "epoch"])
def test_fit_whose_every_epoch_is_starved_predicts_as_an_untrained_fit(rejection):
    # Every row rejected from the first epoch on: the network is the initial
    # one, and so is the state predict_proba corrects it with (that of a fit
    # of max_epochs=0), not the rule of an epoch that trained nothing.
    X, y = _data()
    kw = dict(random_state=0, verbose=0, warmup_epochs=0, rejection=rejection)
    untrained = RSFTClassifier(max_epochs=0, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        starved = RSFTClassifier(max_epochs=2, M=1e30, **kw).fit(X, y)
    for a, b in zip(
        untrained.module_.parameters(), starved.module_.parameters(), strict=True
    ):
        assert torch.equal(a, b)
    for name in _DECISION_ATTRIBUTES:
        assert (name in starved.__dict__) == (name in untrained.__dict__), name
    assert starved.final_M_ is None
    np.testing.assert_array_equal(starved.predict_proba(X), untrained.predict_proba(X))


def test_starved_epochs_after_a_warmup_keep_the_warmups_state():
    X, y = _data()
    kw = dict(random_state=0, verbose=0, rejection="sample")
    warm = RSFTClassifier(max_epochs=1, warmup_epochs=1, M=1e30, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        starved = RSFTClassifier(max_epochs=3, warmup_epochs=1, M=1e30, **kw).fit(X, y)
    assert starved.final_M_ is None
    np.testing.assert_array_equal(starved.predict_proba(X), warm.predict_proba(X))


def test_embedding_bag_estimator_with_n_classes_initialises_without_classes():
    clf = RSFTClassifier(
        module=EmbeddingBagModule,
        module__vocab_size=10,
        module__embedding_dim=4,
        module__n_classes=3,
        probability="raw",
    ).initialize()
    ids = torch.tensor([[1, 2, 0], [3, 0, 0]])
    assert clf.module_(ids).shape == (2, 3)


def test_initialised_estimator_refuses_a_correction_before_running_the_network():
    calls = []

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)

        def forward(self, X):
            calls.append(len(X))
            return self.linear(X)

    clf = RSFTClassifier(Net(), classes=[0, 1], batch_size=10, verbose=0)
    clf.initialize()
    X = np.zeros((50, 4), dtype=np.float32)
    with pytest.raises(NotFittedError, match="initialised but not fitted"):
        clf.predict_proba(X)
    assert calls == []
    clf.set_params(probability="raw")
    assert clf.predict_proba(X).shape == (50, 2)
    assert sum(calls) == 50


def test_module_instance_that_cannot_be_copied_is_named():
    class LockNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 2)
            self.lock = threading.Lock()

        def forward(self, X):
            return self.linear(X)

    X, y = _data(n=40)
    clf = RSFTClassifier(LockNet(), max_epochs=1, verbose=0)
    with pytest.raises(TypeError, match=r"LockNet\) cannot be deep-copied") as info:
        clf.fit(X, y)
    assert "__deepcopy__" in str(info.value)


@pytest.mark.parametrize(
    ("output", "error", "named"),
    [
        (lambda X: (X[:, :2], X), TypeError, r"got tuple\."),
        (lambda X: {"logits": X[:, :2]}, TypeError, r"got dict\."),
        (lambda X: X[:, 0], ValueError, r"got Tensor of shape \(40,\)\."),
    ],
)
def test_module_output_of_the_wrong_kind_is_named(output, error, named):
    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(4, 4)

        def forward(self, X):
            return output(self.linear(X))

    X, y = _data(n=40)
    clf = RSFTClassifier(Net(), max_epochs=1, batch_size=40, verbose=0)
    with pytest.raises(error, match=named):
        clf.fit(X, y)


def _raw_and_shift(clf, X):
    with torch.no_grad():
        raw = torch.softmax(clf.module_.eval()(torch.from_numpy(X)), 1).numpy()
    shift = clf.final_prior_correction_ * np.log(clf.loss_class_prior_)
    return raw, shift


def test_correct_proba_notes_reproduce_a_class_without_training_rows():
    from rsft_sklearn import correct_proba

    rng = np.random.RandomState(0)
    X = rng.randn(300, 4).astype(np.float32)
    y = np.array(["a", "b", "c"])[rng.choice(3, 300, p=[0.8, 0.15, 0.05])]
    clf = RSFTClassifier(
        classes=["a", "b", "c", "d"],
        max_epochs=3,
        warmup_epochs=1,
        random_state=0,
        verbose=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(X, y)
    raw, shift = _raw_and_shift(clf, X)
    weight = clf.class_target_weight_.copy()
    weight[3] = max(clf.final_M_, weight.max())
    prior = clf.class_prior_.copy()
    prior[3] = 1.0
    expected = correct_proba(
        raw,
        weight,
        clf.final_M_,
        clf.final_hardness_,
        class_prior=prior,
        log_shift=shift,
    )
    np.testing.assert_allclose(clf.predict_proba(X), expected, atol=1e-6)


def test_correct_proba_notes_reproduce_both_posteriors_with_sample_weights():
    from rsft_sklearn import correct_proba

    X, y = _data(n=300)
    sample_weight = np.array([1.0, 3.0])[y]
    clf = RSFTClassifier(max_epochs=3, warmup_epochs=1, random_state=0, verbose=0)
    clf.fit(X, y, sample_weight=sample_weight)
    raw, shift = _raw_and_shift(clf, X)
    divided = sample_weight / sample_weight.mean()
    weight = clf.class_target_weight_ * np.array(
        [divided[y == k].mean() for k in (0, 1)]
    )
    rows = np.bincount(y) / len(y)
    args = (raw, weight, clf.final_M_, clf.final_hardness_)
    balanced = correct_proba(*args, class_prior=rows, log_shift=shift)
    training = correct_proba(
        *args, class_prior=rows / clf.class_prior_, log_shift=shift
    )
    np.testing.assert_allclose(clf.predict_proba(X), balanced, atol=1e-6)
    clf.set_params(probability="training")
    np.testing.assert_allclose(clf.predict_proba(X), training, atol=1e-6)


def test_a_schedule_refused_mid_fit_leaves_no_empty_epoch():
    X, y = _data()
    kw = dict(max_epochs=4, batch_size=64, random_state=0, warmup_epochs=0, verbose=0)

    def refusing(epoch):
        return float("nan") if epoch == 2 else 1.0 + epoch

    clf = RSFTClassifier(M=refusing, **kw)
    with pytest.raises(ValueError, match=r"M\(2\) = nan"):
        clf.fit(X, y)
    assert clf.history[:, "epoch"] == [1, 2]
    # Continued training takes up the schedule at the epoch that failed.
    clf.set_params(M=lambda epoch: 1.0 + epoch)
    clf.partial_fit(X, y, epochs=1)
    assert clf.history[:, "epoch"] == [1, 2, 3]
    assert clf.history[:, "M_effective"] == pytest.approx([1.0, 2.0, 3.0])


@pytest.mark.parametrize("stopper", ["early_stopping", "checkpoint"])
def test_load_best_of_a_starved_first_epoch_is_the_untrained_fit(stopper, tmp_path):
    from skorch.callbacks import Checkpoint, EarlyStopping

    # Epoch 1 rejects every row; the later epochs train, and their loss is
    # made to look worse so that the callback puts epoch 1's weights back.
    X, y = _data()

    def M(epoch):
        return 1e30 if epoch == 0 else 1.0

    if stopper == "early_stopping":
        callback = EarlyStopping(
            monitor="first", patience=5, load_best=True, lower_is_better=True
        )
    else:
        callback = Checkpoint(
            monitor="first_best", load_best=True, dirname=str(tmp_path)
        )

    from skorch.callbacks import Callback

    class First(Callback):
        def on_epoch_end(self, net, **kwargs):
            epoch = len(net.history)
            net.history.record("first", float(epoch))
            net.history.record("first_best", epoch == 1)

    kw = dict(random_state=0, verbose=0, warmup_epochs=0, rejection="sample")
    untrained = RSFTClassifier(max_epochs=0, **kw).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        best = RSFTClassifier(
            M=M, max_epochs=3, callbacks=[("first", First()), callback], **kw
        ).fit(X, y)
    assert best.final_M_ is None
    assert "loss_class_prior_" not in best.__dict__
    np.testing.assert_array_equal(best.predict_proba(X), untrained.predict_proba(X))


def test_a_starved_refit_forgets_the_earlier_fits_rule():
    X, y = _data()
    kw = dict(random_state=0, verbose=0, warmup_epochs=0, rejection="sample")
    clf = RSFTClassifier(max_epochs=2, **kw).fit(X, y)
    assert clf.final_M_ == 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.set_params(M=1e30).fit(X, y)
    untrained = RSFTClassifier(max_epochs=0, M=1e30, **kw).fit(X, y)
    assert clf.final_M_ is None
    np.testing.assert_array_equal(clf.predict_proba(X), untrained.predict_proba(X))
