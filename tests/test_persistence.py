"""Pickles across versions and devices.

A pickled RSFTClassifier carries a format version and its random generators
as device-free byte tensors. The CUDA-to-CPU path is simulated here by
rewriting a pickle state as a CUDA machine writes it; the real one runs in
``benchmarks/gpu_check_persistence.py``.
"""

import pickle
import warnings

import numpy as np
import pytest
import torch
from sklearn.datasets import make_classification
from skorch.exceptions import DeviceWarning

import rsft_sklearn._persistence as persistence
from rsft_sklearn import MLPModule, RSFTClassifier

PARAMS = dict(random_state=0, batch_size=64, module__hidden_layer_sizes=(16,))


@pytest.fixture(scope="module")
def data():
    return make_classification(
        n_samples=300, n_features=5, weights=[0.8], random_state=2
    )


@pytest.fixture(scope="module")
def fitted(data):
    return RSFTClassifier(max_epochs=2, warm_start=True, **PARAMS).fit(*data)


def _parameters(clf):
    return {k: v.clone() for k, v in clf.module_.state_dict().items()}


def _cuda_state(clf):
    """The pickle state ``clf`` would have had on a CUDA device."""
    state = clf.__getstate__()
    state["device"] = "cuda"
    packed = state[persistence.GENERATORS_KEY]
    # A CUDA generator's state is its seed and offset, 16 bytes.
    cuda_state = torch.arange(16, dtype=torch.uint8)
    packed["mask_generator_"] = {"device": "cuda", "state": cuda_state}
    return state


def test_pickle_holds_a_format_version_and_no_generator_objects(fitted):
    state = fitted.__getstate__()
    assert state[persistence.PICKLE_FORMAT_KEY] == persistence.PICKLE_FORMAT
    assert not any(isinstance(v, torch.Generator) for v in state.values())
    packed = state[persistence.GENERATORS_KEY]
    assert set(packed) == {"mask_generator_", "shuffle_generator_"}
    # Bytes, which unpickling reads without torch.load.
    assert all(isinstance(p["state"], bytes) for p in packed.values())


def test_training_continues_the_same_stream_after_unpickling(fitted, data):
    # Pickle, load, train on: the same parameters as training on in memory.
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(
        restored.predict_proba(data[0]), fitted.predict_proba(data[0])
    )
    for name in ("mask_generator_", "shuffle_generator_"):
        assert torch.equal(
            getattr(restored, name).get_state(), getattr(fitted, name).get_state()
        )
    in_memory = pickle.loads(pickle.dumps(fitted))
    restored.fit(*data)
    in_memory.fit(*data)
    a, b = _parameters(restored), _parameters(in_memory)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert (
        restored.history[:, "acceptance_rate"]
        == in_memory.history[:, "acceptance_rate"]
    )


@pytest.mark.parametrize("version", [persistence.PICKLE_FORMAT + 1, 0, None])
def test_incompatible_pickle_format_is_refused(fitted, monkeypatch, version):
    monkeypatch.setattr(persistence, "PICKLE_FORMAT", version)
    blob = pickle.dumps(fitted)
    monkeypatch.undo()
    expected = "no pickle format version" if version is None else f"version {version}"
    with pytest.raises(ValueError, match=f"{expected}.*reads format 1 only"):
        pickle.loads(blob)


def test_unfitted_and_zero_epoch_estimators_pickle(data):
    fresh = pickle.loads(pickle.dumps(RSFTClassifier(M=2.0, **PARAMS)))
    assert fresh.M == 2.0 and not hasattr(fresh, "generators_")
    zero = RSFTClassifier(max_epochs=0, **PARAMS).fit(*data)
    restored = pickle.loads(pickle.dumps(zero))
    np.testing.assert_array_equal(
        restored.predict_proba(data[0]), zero.predict_proba(data[0])
    )


def test_cuda_pickle_loads_and_predicts_on_cpu(fitted, data):
    X, y = data
    state = _cuda_state(fitted)
    clf = RSFTClassifier.__new__(RSFTClassifier)
    with pytest.warns(DeviceWarning, match="cpu"):
        clf.__setstate__(state)
    assert torch.device(clf.device).type == "cpu"
    assert clf.mask_generator_.device.type == "cpu"
    assert clf.shuffle_generator_.device.type == "cpu"
    np.testing.assert_array_equal(clf.predict_proba(X), fitted.predict_proba(X))
    # The CUDA mask stream cannot continue on a CPU; it is reseeded from the
    # saved state, the same way on every load.
    again = RSFTClassifier.__new__(RSFTClassifier)
    with pytest.warns(DeviceWarning):
        again.__setstate__(_cuda_state(fitted))
    assert torch.equal(
        again.mask_generator_.get_state(), clf.mask_generator_.get_state()
    )
    clf.fit(X, y)
    assert len(clf.history) == 2 * fitted.max_epochs
    assert all(torch.isfinite(p).all() for p in clf.module_.parameters())


def test_generator_state_from_another_device_kind_warns_and_reseeds(fitted):
    saved = fitted.generators_.state_dict()
    saved["mask_generator_"] = torch.arange(16, dtype=torch.uint8)
    clf = pickle.loads(pickle.dumps(fitted))
    with pytest.warns(UserWarning, match="another kind of device"):
        clf.generators_.load_state_dict(saved)
    first = clf.mask_generator_.get_state()
    with pytest.warns(UserWarning):
        clf.generators_.load_state_dict(saved)
    assert torch.equal(first, clf.mask_generator_.get_state())
    assert torch.equal(clf.shuffle_generator_.get_state(), saved["shuffle_generator_"])


def test_generator_state_of_another_estimator_is_refused(fitted):
    clf = pickle.loads(pickle.dumps(fitted))
    saved = {**clf.generators_.state_dict(), "dropout_generator_": torch.zeros(8)}
    with pytest.raises(ValueError, match="dropout_generator_"):
        clf.generators_.load_state_dict(saved)


def test_loading_on_the_same_device_is_silent(fitted):
    clf = pickle.loads(pickle.dumps(fitted))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.generators_.load_state_dict(fitted.generators_.state_dict())
        pickle.loads(pickle.dumps(fitted))


def test_a_saved_generator_state_of_another_type_is_named():
    from rsft_sklearn._persistence import _rebuild

    with pytest.raises(ValueError, match="must be bytes or a uint8 tensor, got str"):
        _rebuild("mask_generator_", "junk", "cpu")
    generator, continued = _rebuild("g", torch.Generator().get_state(), "cpu")
    assert continued


def test_a_damaged_pickled_generator_state_is_refused(fitted):
    # A pickled state records its device type: a CPU state of the wrong size
    # is damaged, not one of another device, and was reseeded with a
    # warning about devices.
    state = fitted.__getstate__()
    packed = state[persistence.GENERATORS_KEY]
    packed["mask_generator_"] = {
        **packed["mask_generator_"],
        "state": packed["mask_generator_"]["state"][:100],
    }
    clf = RSFTClassifier.__new__(RSFTClassifier)
    with pytest.raises(ValueError, match="'mask_generator_' .* holds 100: .* damaged"):
        clf.__setstate__(state)


def test_an_unfit_generator_state_names_its_size(fitted):
    saved = fitted.generators_.state_dict()
    saved["mask_generator_"] = torch.arange(100, dtype=torch.uint8)
    clf = pickle.loads(pickle.dumps(fitted))
    expected = torch.Generator().get_state().numel()
    with pytest.warns(
        UserWarning,
        match=rf"mask_generator_ \(100 bytes, where a cpu generator's state "
        rf"holds {expected}\).*\(or the saved file is damaged\)",
    ):
        clf.generators_.load_state_dict(saved)


def test_an_initialised_estimator_checks_the_width_its_mlp_takes(fitted, tmp_path):
    # Initialised only, to load saved parameters, it had no n_features_in_:
    # rows of another width reached torch ("mat1 and mat2 shapes cannot be
    # multiplied").
    path = tmp_path / "params.pt"
    fitted.save_params(f_params=path)
    n_features = fitted.n_features_in_
    loaded = RSFTClassifier(
        classes=fitted.classes_.tolist(),
        module__n_features=n_features,
        module__n_classes=len(fitted.classes_),
        module__hidden_layer_sizes=(16,),
        probability="raw",
    ).initialize()
    loaded.load_params(f_params=path)
    X = np.ones((5, n_features), dtype=np.float32)
    with pytest.raises(
        ValueError, match=f"{n_features - 1} features per row, .* takes {n_features}"
    ):
        loaded.predict(X[:, :-1])
    raw = fitted.module_(torch.as_tensor(X)).argmax(1).numpy()
    np.testing.assert_array_equal(loaded.predict(X), fitted.classes_[raw])
    # Continued training (warm_start) checks it too, before any step.
    loaded.set_params(warm_start=True, max_epochs=1)
    y = np.resize(fitted.classes_, 5)
    before = {k: v.clone() for k, v in loaded.module_.state_dict().items()}
    with pytest.raises(
        ValueError, match=f"{n_features + 1} features per row, .* takes {n_features}"
    ):
        loaded.fit(np.ones((5, n_features + 1), dtype=np.float32), y)
    for key, value in loaded.module_.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)


def test_a_given_mlp_width_is_checked_against_the_rows_before_training():
    X = np.ones((8, 6), dtype=np.float32)
    y = np.arange(8) % 2
    net = RSFTClassifier(module__n_features=5, max_epochs=1)
    with pytest.raises(ValueError, match="6 features per row, but module__n_feat"):
        net.fit(X, y)
    assert not hasattr(net, "module_")
    # Images: the MLP takes a flattened row.
    images = np.ones((8, 1, 2, 3), dtype=np.float32)
    RSFTClassifier(module__n_features=6, max_epochs=1).fit(images, y)


def test_an_input_shape_setter_of_the_mlp_width_refits_on_other_rows():
    # The width that skorch's InputShapeSetter set in the first fit was
    # checked against the rows of the next before the setter could reset it
    # ("X has 12 features per row, but module__n_features is 6").
    from skorch.callbacks import InputShapeSetter

    X = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    y = np.arange(40) % 2
    net = RSFTClassifier(
        max_epochs=1,
        random_state=0,
        callbacks=[("shape", InputShapeSetter(param_name="n_features"))],
    ).fit(X, y)
    assert net.module_.layers[0].in_features == 6
    wide = np.c_[X, X]
    net.fit(wide, y)
    assert net.get_params()["module__n_features"] == 12
    assert net.module_.layers[0].in_features == 12
    assert net.predict_proba(wide).shape == (40, 2)
    # The setter reads the last axis, which the MLP does not take whole:
    # said before training, not by torch at the first batch.
    images = np.zeros((40, 3, 8), dtype=np.float32)
    with pytest.raises(ValueError, match="24 features per row, but InputShapeS"):
        net.fit(images, y)
    # Disabled, it sets nothing: the width is checked as given (torch named
    # the shapes at the first batch).
    net.set_params(callbacks__shape=None)
    with pytest.raises(ValueError, match="6 features per row, but module__n_feat"):
        net.fit(X, y)
    # Given as a class with its parameter set apart, it is the same setter.
    by_class = RSFTClassifier(
        max_epochs=1,
        random_state=0,
        callbacks=[("shape", InputShapeSetter)],
        callbacks__shape__param_name="n_features",
    ).fit(X, y)
    by_class.fit(wide, y)
    assert by_class.module_.layers[0].in_features == 12


def test_a_subclass_of_the_mlp_of_another_width_trains_on():
    # A subclass fed an extra feature takes n + 1 inputs: continued
    # training was refused as if its width had to be the rows'.
    class WithRowSum(MLPModule):
        def __init__(self, n_features, n_classes, **kwargs):
            super().__init__(n_features + 1, n_classes, **kwargs)

        def forward(self, X):
            return super().forward(torch.cat([X, X.sum(1, keepdim=True)], 1))

    X = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    y = np.arange(40) % 2
    clf = RSFTClassifier(
        WithRowSum, module__n_features=6, module__n_classes=2, max_epochs=1
    ).fit(X, y)
    clf.partial_fit(X, y)
    clf.set_params(warm_start=True).fit(X, y)
    assert len(clf.history) == 3


def test_a_refit_on_a_dict_forgets_the_rows_of_an_array_fit():
    X = np.random.default_rng(0).normal(size=(40, 6)).astype(np.float32)
    y = np.arange(40) % 2
    clf = RSFTClassifier(max_epochs=1).fit(X, y)
    clf.set_params(module__n_features=4, module__n_classes=2)
    clf.fit({"X": X[:, :4]}, y)
    clf.partial_fit({"X": X[:, :4]}, y)
    assert clf.predict({"X": X[:3, :4]}).shape == (3,)


def test_rows_of_another_number_of_axes_are_named_by_their_shapes():
    images = np.random.default_rng(0).normal(size=(12, 1, 4, 4)).astype(np.float32)
    y = np.arange(12) % 3
    net = RSFTClassifier(max_epochs=1, random_state=0).fit(images, y)
    # scikit-learn counts the first axis past the rows: 16 pixels read as 16
    # features where 1 (the channel axis) was expected.
    for rows in (images.reshape(12, 16), images[:, 0]):
        with pytest.raises(ValueError, match=r"fitted on rows of shape \(1, 4, 4\)"):
            net.predict(rows)
