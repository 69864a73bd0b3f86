"""Image networks: a mode override set on a module instance, and rows of
another channel count at predict."""

import types

import numpy as np
import pytest
import torch
from skorch import NeuralNetClassifier

from rsft_sklearn import RSFTClassifier
from rsft_sklearn._base import _mode_trees

MODES = [
    {},
    {"rejection": "sample", "compact": True},
    {"rejection": "pool", "pool_size": 2},
    {"rejection": "budget", "pool_size": 2},
    {"rejection": "epoch"},
]


def _images(n=120, channels=1, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.choice(3, n, p=[0.6, 0.3, 0.1])
    X = rng.normal(size=(n, channels, 4, 4)).astype(np.float32)
    X[:, :, :2, :2] += y[:, None, None, None]
    return X, y


class _CNN(torch.nn.Module):
    def __init__(self, in_channels=1, n_classes=3):
        super().__init__()
        self.conv = torch.nn.Conv2d(in_channels, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Linear(4 * 4 * 4, n_classes)

    def forward(self, X):
        return self.head(torch.relu(self.bn(self.conv(X))).flatten(1))


class _FrozenNormCNN(_CNN):
    """The same network freezing its BatchNorm in the class's ``train``."""

    def train(self, mode=True):
        super().train(mode)
        self.bn.eval()
        return self


def _bn_frozen_on_instance():
    torch.manual_seed(0)
    net = _CNN()
    net.bn.running_mean.fill_(0.5)
    net.bn.eval()
    net.bn.train = lambda mode=True: net.bn
    return net


def _top_train_patched():
    torch.manual_seed(0)
    net = _CNN()
    net.bn.running_mean.fill_(0.5)

    def train(self, mode=True):
        torch.nn.Module.train(self, mode)
        self.bn.eval()
        return self

    net.train = types.MethodType(train, net)
    return net


def _frozen_in_class():
    torch.manual_seed(0)
    net = _FrozenNormCNN()
    net.bn.running_mean.fill_(0.5)
    return net


def _fit(module, **mode):
    X, y = _images()
    params = {"max_epochs": 2, "warmup_epochs": 1, "batch_size": 32, "M": 3.0}
    return RSFTClassifier(module, random_state=0, **params, **mode).fit(X, y)


@pytest.mark.parametrize("make", [_bn_frozen_on_instance, _top_train_patched])
def test_skorch_keeps_a_batchnorm_frozen_on_the_instance(make):
    # The reference the estimator follows: skorch's mode walk calls the
    # instance's train.
    X, y = _images()
    net = NeuralNetClassifier(
        make(),
        criterion=torch.nn.CrossEntropyLoss,
        max_epochs=2,
        batch_size=32,
        train_split=None,
        verbose=0,
    ).fit(X, y)
    assert net.module_.bn.num_batches_tracked.item() == 0
    assert not net.module_.bn.training


@pytest.mark.parametrize("mode", MODES, ids=lambda mode: str(mode.get("rejection")))
@pytest.mark.parametrize("make", [_bn_frozen_on_instance, _top_train_patched])
def test_a_train_set_on_the_instance_keeps_batchnorm_frozen(make, mode):
    # The fast mode switch checked only the class's train: the running mean
    # moved (14 updates by default, 10 under pool, 8 under budget) and the
    # BatchNorm ended the fit in training mode.
    clf = _fit(make(), **mode)
    bn = clf.module_.bn
    assert bn.num_batches_tracked.item() == 0
    torch.testing.assert_close(bn.running_mean, torch.full((4,), 0.5), rtol=0, atol=0)
    torch.testing.assert_close(bn.running_var, torch.ones(4), rtol=0, atol=0)
    assert not bn.training
    assert clf.module_.conv.training
    # The same freeze written in the class gives the same fit, bit for bit.
    reference = _fit(_frozen_in_class(), **mode)
    X, _ = _images()
    np.testing.assert_array_equal(clf.predict_proba(X), reference.predict_proba(X))


@pytest.mark.parametrize("mode", MODES[:3], ids=lambda mode: str(mode.get("rejection")))
def test_a_train_on_the_instance_that_changes_nothing_fits_as_without_it(mode):
    # skorch's walk, taken for the patched instance, trains exactly as the
    # fast switch does for a plain one.
    def plain_train(self, mode=True):
        return torch.nn.Module.train(self, mode)

    torch.manual_seed(0)
    plain = _CNN()
    torch.manual_seed(0)
    patched = _CNN()
    patched.bn.train = types.MethodType(plain_train, patched.bn)
    X, _ = _images()
    a, b = _fit(plain, **mode), _fit(patched, **mode)
    assert a.module_.bn.num_batches_tracked.item() > 0
    np.testing.assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    torch.testing.assert_close(
        a.module_.bn.running_mean, b.module_.bn.running_mean, rtol=0, atol=0
    )


def test_mode_switch_list_refused_for_a_train_set_on_the_instance():
    plain = _CNN()
    assert _mode_trees([plain]) == [list(plain.modules())]
    assert _mode_trees([_bn_frozen_on_instance()]) is False
    assert _mode_trees([_top_train_patched()]) is False


@pytest.fixture(scope="module")
def rgb_fit():
    X, y = _images(channels=3)
    clf = RSFTClassifier(
        _CNN, module__in_channels=3, max_epochs=1, batch_size=32, random_state=0
    ).fit(X, y)
    return clf, X, y


def _refused_as_rows(shape):
    return pytest.raises(
        ValueError,
        match=(
            rf"X has rows of shape \({shape}\), but RSFTClassifier was fitted "
            r"on rows of shape \(3, 4, 4\)\.$"
        ),
    )


@pytest.mark.parametrize("channels", [1, 4])
@pytest.mark.parametrize("method", ["predict", "predict_proba", "score"])
def test_another_channel_count_is_named_by_the_row_shape(rgb_fit, method, channels):
    # scikit-learn's check came first: "X has 1 features, but RSFTClassifier
    # is expecting 3 features as input".
    clf, X, y = rgb_fit
    rows = np.repeat(X[:10, :1], channels, axis=1)
    args = (rows, y[:10]) if method == "score" else (rows,)
    with _refused_as_rows(f"{channels}, 4, 4"):
        getattr(clf, method)(*args)


@pytest.mark.parametrize("channels", [1, 4])
def test_another_channel_count_is_refused_by_continued_training(rgb_fit, channels):
    clf, X, y = rgb_fit
    proba = clf.predict_proba(X)
    rows = np.repeat(X[:, :1], channels, axis=1)
    with _refused_as_rows(f"{channels}, 4, 4"):
        clf.partial_fit(rows, y)
    warm = RSFTClassifier(
        _CNN,
        module__in_channels=3,
        max_epochs=1,
        batch_size=32,
        random_state=0,
        warm_start=True,
    ).fit(X, y)
    warm_proba = warm.predict_proba(X)
    with _refused_as_rows(f"{channels}, 4, 4"):
        warm.fit(rows, y)
    # Nothing trained.
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
    np.testing.assert_array_equal(warm.predict_proba(X), warm_proba)


def test_another_image_size_and_flat_images_keep_their_messages(rgb_fit):
    clf, X, _ = rgb_fit
    with _refused_as_rows("3, 5, 5"):
        clf.predict(np.zeros((2, 3, 5, 5), dtype=np.float32))
    with _refused_as_rows("48,"):
        clf.predict(X.reshape(len(X), -1))


def test_flat_rows_keep_scikit_learns_message_about_features():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)).astype(np.float32), np.arange(60) % 2
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    message = "X has 3 features, but RSFTClassifier is expecting 4 features as input"
    with pytest.raises(ValueError, match=message):
        clf.predict(X[:, :3])
    with pytest.raises(ValueError, match=message):
        clf.partial_fit(X[:, :3], y)
