"""Fine-tuning: pretrained modules, load_params, Freezer, warm-up, partial_fit."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, cross_val_score
from skorch.callbacks import Callback, Freezer

from rsft_sklearn import RSFTClassifier

# Parameters of the network at the start of every fit, across clones.
STARTS = []


class RecordStart(Callback):
    def on_train_begin(self, net, **kwargs):
        STARTS.append(_flat(net.module_))


class Net(torch.nn.Module):
    def __init__(self, n_features=4, n_classes=2):
        super().__init__()
        self.body = torch.nn.Linear(n_features, 16)
        self.head = torch.nn.Linear(16, n_classes)

    def forward(self, X):
        return self.head(torch.relu(self.body(X)))


def _flat(module):
    return torch.cat([p.detach().flatten().cpu() for p in module.parameters()])


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 4)).astype(np.float32)
    y = (X[:, 0] + 0.5 * X[:, 1] > 1.0).astype(int)
    return X, y


@pytest.fixture
def pretrained(data):
    X, y = data
    torch.manual_seed(0)
    plain = RSFTClassifier(Net, warmup_epochs=10, max_epochs=10, lr=1e-2)
    return plain.fit(X, y).module_


def test_instance_is_not_trained_in_place_and_refit_restarts(data, pretrained):
    X, y = data
    weights = _flat(pretrained)
    clf = RSFTClassifier(pretrained, max_epochs=3, random_state=0, lr=1e-2)
    first = clf.fit(X, y).predict_proba(X)
    assert torch.equal(_flat(pretrained), weights)
    assert clf.module is pretrained
    assert not torch.equal(_flat(clf.module_), weights)
    second = clf.fit(X, y).predict_proba(X)
    np.testing.assert_allclose(first, second, rtol=1e-6)


def test_clone_of_a_fitted_estimator_starts_from_the_pretrained_weights(
    data, pretrained
):
    X, y = data
    weights = _flat(pretrained)
    clf = RSFTClassifier(pretrained, max_epochs=3, lr=1e-2, random_state=0)
    clf.fit(X, y)
    copy = clone(clf)
    assert copy.module is not pretrained
    assert torch.equal(_flat(copy.module), weights)
    np.testing.assert_allclose(
        copy.fit(X, y).predict_proba(X), clf.predict_proba(X), rtol=1e-6
    )


def test_grid_search_folds_all_start_from_the_pretrained_weights(data, pretrained):
    X, y = data
    weights = _flat(pretrained)
    clf = RSFTClassifier(
        pretrained, max_epochs=2, lr=1e-2, random_state=0, callbacks=[RecordStart()]
    )
    # A fit before the search must not leak into it either.
    clf.fit(X, y)
    STARTS.clear()
    search = GridSearchCV(clf, {"M": [0.5, 2.0]}, cv=2).fit(X, y)
    assert len(STARTS) == 2 * 2 + 1
    for start in STARTS:
        assert torch.equal(start, weights)
    STARTS.clear()
    cross_val_score(search.best_estimator_, X, y, cv=2)
    assert len(STARTS) == 2
    assert all(torch.equal(start, weights) for start in STARTS)


def test_module_class_with_load_params(data, pretrained, tmp_path):
    X, y = data
    saved = RSFTClassifier(Net, max_epochs=1)
    saved.initialize()
    saved.module_.load_state_dict(pretrained.state_dict())
    saved.save_params(f_params=tmp_path / "params.pt")

    STARTS.clear()
    clf = RSFTClassifier(
        Net, warm_start=True, max_epochs=2, lr=1e-2, callbacks=[RecordStart()]
    )
    clf.initialize()
    clf.load_params(f_params=tmp_path / "params.pt")
    clf.fit(X, y)
    assert torch.equal(STARTS[0], _flat(pretrained))
    assert list(clf.classes_) == [0, 1]
    assert clf.class_target_weight_[1] == 1.0

    # The same with partial_fit, which never re-initialises.
    STARTS.clear()
    again = RSFTClassifier(Net, max_epochs=1, callbacks=[RecordStart()])
    again.initialize()
    again.load_params(f_params=tmp_path / "params.pt")
    again.partial_fit(X, y)
    assert torch.equal(STARTS[0], _flat(pretrained))


def test_default_mlp_initialised_before_a_fit(data, tmp_path):
    # skorch's initialize() then load_params() also works with the default
    # MLP once its sizes are given; without them the message names them.
    X, y = data
    fitted = RSFTClassifier(max_epochs=2, probability="raw").fit(X, y)
    fitted.save_params(f_params=tmp_path / "params.pt")
    with pytest.raises(ValueError, match="pass module__n_features and module__n_"):
        RSFTClassifier().initialize()
    loaded = RSFTClassifier(
        module__n_features=X.shape[1], module__n_classes=2, probability="raw"
    ).initialize()
    loaded.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_allclose(loaded.predict_proba(X), fitted.predict_proba(X))
    np.testing.assert_array_equal(loaded.predict(X), fitted.predict(X))
    # With classes= the number of outputs comes from them.
    named = RSFTClassifier(
        module__n_features=X.shape[1], classes=[0, 1], probability="raw"
    ).initialize()
    assert named.module_.layers[-1].out_features == 2


def test_warmup_then_rejection(data, pretrained):
    X, y = data
    clf = RSFTClassifier(
        pretrained,
        rejection="sample",
        warmup_epochs=2,
        max_epochs=4,
        M=1.0,
        hardness=1.0,
        target_power=1.0,
        random_state=0,
    )
    history = clf.fit(X, y).history
    assert history[:, "acceptance_rate"][:2] == [1.0, 1.0]
    assert all(rate < 0.6 for rate in history[:, "acceptance_rate"][2:])


def test_freezer_keeps_the_frozen_layer(data, pretrained):
    X, y = data
    clf = RSFTClassifier(
        pretrained, max_epochs=3, lr=1e-2, callbacks=[Freezer("body.*")]
    ).fit(X, y)
    assert torch.equal(clf.module_.body.weight, pretrained.body.weight)
    assert torch.equal(clf.module_.body.bias, pretrained.body.bias)
    assert not torch.equal(clf.module_.head.weight, pretrained.head.weight)


def test_partial_fit_follows_a_drifting_stream(data):
    """The concept turns by 90 degrees over the stream; the model follows it.

    Every call continues from the weights of the last one, the epoch count
    (and with it the warm-up) runs on across calls, and accuracy on the
    current concept recovers after the drift.
    """
    rng = np.random.default_rng(1)

    def chunk(angle, n=300):
        X = rng.normal(size=(n, 4)).astype(np.float32)
        direction = np.cos(angle) * X[:, 0] + np.sin(angle) * X[:, 1]
        return X, (direction > 0.8).astype(int)

    clf = RSFTClassifier(
        Net,
        warmup_epochs=3,
        max_epochs=3,
        M=1.0,
        hardness=1.0,
        target_power=1.0,
        lr=1e-2,
        random_state=0,
        callbacks=[RecordStart()],
    )
    X0, y0 = chunk(0.0)
    clf.partial_fit(X0, y0, classes=[0, 1])
    assert clf.history[:, "acceptance_rate"] == [1.0, 1.0, 1.0]
    X_new, y_new = chunk(np.pi / 2, n=1000)
    before = clf.score(X_new, y_new)
    end_of_first = _flat(clf.module_)
    STARTS.clear()
    for angle in np.linspace(np.pi / 8, np.pi / 2, 4):
        clf.partial_fit(*chunk(angle))
    assert torch.equal(STARTS[0], end_of_first)
    assert len(clf.history) == 3 + 4 * 3
    assert all(rate < 1.0 for rate in clf.history[:, "acceptance_rate"][3:])
    after = clf.score(X_new, y_new)
    assert after > before + 0.1


def test_module_params_with_an_instance_warn_that_weights_are_dropped():
    import warnings

    import numpy as np
    import torch

    from rsft_sklearn import MLPModule, RSFTClassifier

    rng = np.random.RandomState(0)
    X, y = rng.randn(60, 4), np.repeat([0, 1], 30)
    module = MLPModule(4, 2, hidden_layer_sizes=(8,))
    clf = RSFTClassifier(
        module, module__n_features=4, module__n_classes=2, max_epochs=1
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    assert any("weights are not used" in str(w.message) for w in caught)
    assert not torch.equal(clf.module_.layers[0].weight, module.layers[0].weight)
    # Without the sizes, the new MLP takes them from the data, as the class
    # does (MLPModule's constructor failed on the missing n_features).
    clf = RSFTClassifier(module, module__hidden_layer_sizes=(5,), max_epochs=1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        clf.fit(X, y)
    assert sum("weights are not used" in str(w.message) for w in caught) == 1
    assert clf.module_.layers[0].weight.shape == (5, 4)
    assert clf.module_.layers[-1].weight.shape == (2, 5)


def test_the_default_mlp_refuses_a_dict_of_inputs():
    # Its forward takes one tensor: the dict's inputs reached it as keyword
    # arguments, a TypeError inside the network, after the error's advice
    # to pass module__n_features and module__n_classes.
    import numpy as np
    import pytest

    from rsft_sklearn import MLPModule, RSFTClassifier

    X, y = np.random.RandomState(0).randn(40, 4), np.repeat([0, 1], 20)
    for params in (
        {},
        {"module__n_features": 4, "module__n_classes": 2},
        {"module": MLPModule},
    ):
        with pytest.raises(ValueError, match=r"a dict of inputs \['a'\] needs"):
            RSFTClassifier(max_epochs=1, **params).fit({"a": X}, y)
    # A dict of X alone is the MLP's input, sized from it as an array is.
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit({"X": X}, y)
    assert clf.module_.layers[0].in_features == 4
    # and checked as an array is (torch failed at the first batch).
    with pytest.raises(ValueError, match="4 features per row, but module__n_feat"):
        RSFTClassifier(module__n_features=5, max_epochs=1).fit({"X": X}, y)
    proba = clf.predict_proba({"X": X})
    # A refusal leaves a fitted estimator as it was.
    with pytest.raises(ValueError, match="a dict of inputs"):
        clf.fit({"a": X, "b": X}, y)
    np.testing.assert_array_equal(clf.predict_proba({"X": X}), proba)
    # An instance with module__ parameters: its width is checked before
    # training, as the class's is (torch failed at the first batch).
    with pytest.raises(ValueError, match="4 features per row, but module__n_feat"):
        RSFTClassifier(
            MLPModule(4, 2), module__n_features=5, module__n_classes=2, max_epochs=1
        ).fit(X, y)


class _FrozenNorm(torch.nn.Module):
    """A network whose ``train`` keeps its BatchNorm in evaluation mode."""

    def __init__(self, n_classes=3):
        super().__init__()
        self.lin = torch.nn.Linear(4, 8)
        self.bn = torch.nn.BatchNorm1d(8)
        self.head = torch.nn.Linear(8, n_classes)

    def train(self, mode=True):
        super().train(mode)
        self.bn.eval()
        return self

    def forward(self, X):
        return self.head(torch.relu(self.bn(self.lin(X))))


@pytest.mark.parametrize("rejection", ["expected", "sample", "pool", "budget"])
def test_a_modules_own_train_is_called_in_every_mode(rejection):
    # The steps skipped the switch to training mode while the top module
    # was in it already, so a train() that freezes a BatchNorm never ran
    # under "expected" and "sample": the statistics moved (8 updates).
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 4)) * 5 + 3).astype(np.float32)
    y = rng.integers(0, 3, 200)
    clf = RSFTClassifier(
        _FrozenNorm, rejection=rejection, max_epochs=2, batch_size=50, random_state=0
    ).fit(X, y)
    assert clf.module_.bn.num_batches_tracked.item() == 0
    torch.testing.assert_close(clf.module_.bn.running_mean, torch.zeros(8))


@pytest.mark.parametrize("rejection", ["expected", "pool"])
def test_a_submodule_left_in_eval_mode_trains_as_in_skorch(rejection):
    # skorch sets every submodule to training mode at each step; the mode of
    # a BatchNorm put in eval on the instance depended on the rejection mode.
    rng = np.random.default_rng(0)
    X = (rng.normal(size=(200, 4)) * 5 + 3).astype(np.float32)
    y = rng.integers(0, 3, 200)
    module = torch.nn.Sequential(
        torch.nn.Linear(4, 8), torch.nn.BatchNorm1d(8), torch.nn.Linear(8, 3)
    )
    module[1].eval()
    clf = RSFTClassifier(
        module, rejection=rejection, max_epochs=2, batch_size=50, random_state=0
    ).fit(X, y)
    assert clf.module_[1].num_batches_tracked.item() == 8


def test_epochs_of_a_call_must_be_a_whole_number_of_one_or_more():
    # partial_fit(epochs=0) trained nothing but counted the chunk's labels,
    # and predict_proba moved by up to 0.22; epochs=1.5 failed deep inside
    # skorch ("'float' object cannot be interpreted as an integer").
    import numpy as np
    import pytest

    from rsft_sklearn import RSFTClassifier

    rng = np.random.RandomState(0)
    X, y = rng.randn(80, 3).astype(np.float32), np.repeat([0, 1], 40)
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    proba, prior = clf.predict_proba(X), clf.class_prior_.copy()
    for epochs in (0, -1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="epochs .* integer >= 1"):
            clf.partial_fit(X[:50], y[:50], epochs=epochs)
        with pytest.raises(ValueError, match="epochs .* integer >= 1"):
            RSFTClassifier(max_epochs=1).fit(X, y, epochs=epochs)
    # max_epochs=0 in continued training (which skorch allows) runs no
    # epoch: its labels are not counted either.
    clf.set_params(max_epochs=0)
    clf.partial_fit(X[:50], y[:50])
    clf.set_params(warm_start=True).fit(X[:50], y[:50])
    assert len(clf.history) == 1
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    np.testing.assert_array_equal(clf.class_prior_, prior)
    clf.set_params(max_epochs=1, warm_start=False)
    clf.partial_fit(X, y, epochs=np.int64(2))
    assert len(clf.history) == 3
    # A fresh fit of no epoch is an untrained network, as in skorch.
    assert len(RSFTClassifier(max_epochs=0).fit(X, y).history) == 0


def test_a_class_absent_from_the_first_chunk_of_a_stream_warns():
    # Under "balanced" a class of classes= without a row in the first call
    # took the largest weight, 1, for the whole stream, without a word, even
    # when it was the most common class.
    import warnings

    import numpy as np
    import pytest

    from rsft_sklearn import RSFTClassifier

    rng = np.random.RandomState(0)
    X = rng.randn(120, 3).astype(np.float32)
    y = np.r_[np.ones(40, dtype=int), np.full(10, 2), np.zeros(70, dtype=int)]
    clf = RSFTClassifier(max_epochs=1, random_state=0)
    with pytest.warns(UserWarning, match=r"class\(es\) 0 of classes= have no row"):
        clf.partial_fit(X[:50], y[:50], classes=[0, 1, 2])
    np.testing.assert_allclose(clf.class_target_weight_, [1.0, 0.5, 1.0])
    # A class whose rows all weigh 0 is absent too; warm_start counts.
    weights = np.where(y[:50] == 2, 0.0, 1.0)
    with pytest.warns(UserWarning, match=r"class\(es\) 0, 2 of classes= have no"):
        RSFTClassifier(max_epochs=1).partial_fit(
            X[:50], y[:50], classes=[0, 1, 2], sample_weight=weights
        )
    with pytest.warns(UserWarning, match=r"class\(es\) 0 of classes= have no row"):
        RSFTClassifier(max_epochs=1, classes=[0, 1, 2], warm_start=True).fit(
            X[:50], y[:50]
        )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.partial_fit(X[50:], y[50:])  # later calls: no warning
        # Every weight is 1 under target_power=0.
        RSFTClassifier(max_epochs=1, target_power=0).partial_fit(
            X[:50], y[:50], classes=[0, 1, 2]
        )
        RSFTClassifier(max_epochs=1).partial_fit(X, y, classes=[0, 1, 2])
        RSFTClassifier(max_epochs=1, target={0: 1.0, 1: 1.0, 2: 1.0}).partial_fit(
            X[:50], y[:50], classes=[0, 1, 2]
        )


def test_a_small_last_chunk_does_not_set_the_auto_M_alone():
    # Under M="auto" each call solves M anew, and final_M_, which the
    # correction of predict_proba inverts, was the last call's alone: a
    # last chunk of 5 rows took it from about 2 to about 13 (the network
    # barely moved), and the balanced log loss rose by up to 0.034. The M
    # the earlier calls left counts as 30 rows of every class, as the
    # acceptance rates of the prior after rejection do.
    import math

    import numpy as np

    from rsft_sklearn import RSFTClassifier

    rng = np.random.RandomState(0)
    y = rng.choice(3, size=1205, p=[0.7, 0.22, 0.08])
    X = (rng.randn(len(y), 4) + y[:, None]).astype(np.float32)
    clf = RSFTClassifier(
        M="auto", target_acceptance=0.3, warmup_epochs=0, max_epochs=2, random_state=0
    )
    clf.partial_fit(X[:600], y[:600], classes=[0, 1, 2])
    # A fresh call: the last epoch's own M.
    assert clf.final_M_ == clf.history[-1, "M_effective"]
    clf.partial_fit(X[600:1200], y[600:1200])
    before = clf.final_M_
    clf.partial_fit(X[1200:], y[1200:], epochs=1)
    own = clf.history[-1, "M_effective"]
    expected = math.exp((5 * math.log(own) + 90 * math.log(before)) / 95)
    assert clf.final_M_ == pytest.approx(expected)
    assert abs(math.log(clf.final_M_ / before)) < abs(math.log(own / before)) / 10
    # A fixed M of an earlier call is not blended into a later auto one.
    clf.set_params(M=3.0).partial_fit(X[:600], y[:600], epochs=1)
    assert clf.final_M_ == 3.0
    clf.set_params(M="auto").partial_fit(X[1200:], y[1200:], epochs=1)
    assert clf.final_M_ == clf.history[-1, "M_effective"]
