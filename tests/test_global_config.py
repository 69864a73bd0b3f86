"""The estimator under scikit-learn's global configuration
(``sklearn.set_config``: ``array_api_dispatch``, ``assume_finite``,
``skip_parameter_validation``), and a tensor learning rate that a scheduler
moves."""

import numpy as np
import pytest
import scipy.sparse as sp
import sklearn
import torch
from skorch.callbacks import LRScheduler

from rsft_sklearn import RejectionSampler, RSFTClassifier

PARAMS = dict(
    max_epochs=2, batch_size=64, module__hidden_layer_sizes=(8,), random_state=0
)


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.randn(200, 5).astype(np.float32)
    y = (X[:, 0] + 0.3 * rng.randn(200) > 0.5).astype(int)
    return X, y


# ----------------------------------------------------------------------
# A tensor learning rate
# ----------------------------------------------------------------------
def _step_lr():
    return [LRScheduler("StepLR", step_size=1, gamma=0.1)]


def test_a_scheduler_leaves_the_tensor_lr_given_as_it_was(data):
    # torch's schedulers fill_() the rate of a group in place: handed the
    # user's tensor, the fit set it to 1e-4, and a refit started from it.
    X, y = data
    lr = torch.tensor(0.01)
    clf = RSFTClassifier(lr=lr, callbacks=_step_lr(), **PARAMS).fit(X, y)
    first = clf.predict_proba(X)
    assert clf.get_params()["lr"] is lr
    assert lr.item() == np.float32(0.01)
    # The optimiser's own copy was scheduled: 0.01 * 0.1**2 after 2 epochs.
    scheduled = clf.optimizer_.param_groups[0]["lr"]
    assert scheduled is not lr
    assert scheduled.item() == pytest.approx(1e-4, rel=1e-6)
    # A refit is the first fit again.
    clf.fit(X, y)
    assert lr.item() == np.float32(0.01)
    assert clf.predict_proba(X).tobytes() == first.tobytes()
    # And so is a fit from a fresh tensor of the same value.
    fresh = RSFTClassifier(lr=torch.tensor(0.01), callbacks=_step_lr(), **PARAMS)
    assert fresh.fit(X, y).predict_proba(X).tobytes() == first.tobytes()


def test_a_tensor_lr_set_on_a_fitted_net_is_not_scheduled_in_place(data):
    # set_params on a fitted net writes the rate into the optimiser's
    # groups, which continued training schedules.
    X, y = data
    clf = RSFTClassifier(callbacks=_step_lr(), **PARAMS).fit(X, y)
    lr = torch.tensor(0.01)
    clf.set_params(lr=lr)
    clf.partial_fit(X, y)
    assert clf.lr is lr
    assert lr.item() == np.float32(0.01)
    assert clf.optimizer_.param_groups[0]["lr"].item() < 0.01


# ----------------------------------------------------------------------
# array_api_dispatch
# ----------------------------------------------------------------------
@pytest.fixture
def array_api_dispatch(monkeypatch):
    """``sklearn.config_context(array_api_dispatch=True)``, entered.

    scikit-learn reads ``SCIPY_ARRAY_API`` from the environment when the
    setting is made; the dispatch failure is scikit-learn's own (SciPy's
    array API support, read when SciPy is imported, is not involved)."""
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    context = sklearn.config_context(array_api_dispatch=True)
    try:
        context.__enter__()
    except (ImportError, RuntimeError) as exc:
        pytest.skip(f"scikit-learn's array API dispatch is unavailable: {exc}")
    try:
        yield
    finally:
        context.__exit__(None, None, None)


@pytest.mark.parametrize("rejection", ["expected", "sample"])
def test_tensors_under_array_api_dispatch_fit_as_arrays(
    data, array_api_dispatch, rejection
):
    # scikit-learn's checks took a tensor as a torch array and failed
    # converting it to a NumPy dtype ("asarray(): argument 'dtype' must be
    # torch.dtype, not type") in fit, predict_proba and partial_fit.
    X, y = data
    weight = np.linspace(0.5, 2.0, len(y))
    with sklearn.config_context(array_api_dispatch=False):
        reference = RSFTClassifier(rejection=rejection, **PARAMS).fit(
            X, y, sample_weight=weight
        )
        expected = reference.predict_proba(X)
    Xt = torch.from_numpy(X)
    for labels in (y, torch.from_numpy(y)):
        clf = RSFTClassifier(rejection=rejection, **PARAMS).fit(
            Xt, labels, sample_weight=torch.from_numpy(weight)
        )
        proba = clf.predict_proba(Xt)
        assert isinstance(proba, np.ndarray)
        assert proba.tobytes() == expected.tobytes()
        np.testing.assert_array_equal(clf.predict(Xt), reference.predict(X))
        assert clf.score(Xt, labels) == reference.score(X, y)
    clf.partial_fit(Xt, torch.from_numpy(y))
    # (partial_fit trains max_epochs epochs more, as in skorch.)
    assert len(clf.history) == 2 * PARAMS["max_epochs"]


def test_a_dict_of_tensors_under_array_api_dispatch(data, array_api_dispatch):
    X, y = data
    with sklearn.config_context(array_api_dispatch=False):
        expected = RSFTClassifier(**PARAMS).fit({"X": X}, y).predict_proba({"X": X})
    clf = RSFTClassifier(**PARAMS).fit({"X": torch.from_numpy(X)}, y)
    proba = clf.predict_proba({"X": torch.from_numpy(X)})
    assert proba.tobytes() == expected.tobytes()


# ----------------------------------------------------------------------
# assume_finite
# ----------------------------------------------------------------------
NON_FINITE = "X holds NaN or infinite values.*assume_finite=True"


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("container", [np.asarray, sp.csr_matrix])
def test_non_finite_values_let_through_by_assume_finite_are_named(
    data, value, container
):
    # Trained on, they failed the fit as an overflow of the loss ("lower
    # the learning rate"), and predict_proba refused every row ("refit").
    X, y = data
    X = X.astype(np.float64)
    clf = RSFTClassifier(**PARAMS).fit(X, y)
    expected = clf.predict_proba(X[:6])
    bad = X.copy()
    bad[3, 1] = value
    bad = container(bad)
    with sklearn.config_context(assume_finite=True):
        with pytest.raises(ValueError, match=NON_FINITE):
            RSFTClassifier(**PARAMS).fit(bad, y)
        with pytest.raises(ValueError, match=NON_FINITE):
            clf.predict_proba(bad[:6])
        # Finite rows go on as before.
        assert clf.predict_proba(X[:6]).tobytes() == expected.tobytes()


def test_non_finite_values_of_a_dict_let_through_by_assume_finite(data):
    X, y = data
    bad = X.astype(np.float64)
    bad[3, 1] = np.nan
    with sklearn.config_context(assume_finite=True):
        with pytest.raises(ValueError, match=r"X\['X'\] holds NaN or infinite"):
            RSFTClassifier(**PARAMS).fit({"X": bad}, y)


def test_summed_duplicates_beyond_float32_keep_their_message():
    # Two finite entries of one cell summing beyond the float32 range are
    # not a skipped check: named as values beyond the range, as before.
    X = sp.csr_matrix(
        (np.array([3e38, 3e38, 1.0], dtype=np.float32), [0, 0, 1], [0, 2, 3]),
        shape=(2, 2),
    )
    assert not X.has_canonical_format
    with sklearn.config_context(assume_finite=True):
        with pytest.raises(ValueError, match="duplicate entries of a cell summed"):
            RSFTClassifier(**PARAMS).fit(X, [0, 1])


# ----------------------------------------------------------------------
# skip_parameter_validation
# ----------------------------------------------------------------------
@pytest.mark.parametrize("n_rounds", [2.5, 0, -1, 0.5, np.nan])
def test_sampler_refuses_n_rounds_that_are_not_counts_unvalidated(data, n_rounds):
    # Under skip_parameter_validation 2.5 drew 2 rounds without a word, and
    # 0 or -1 accepted no row, blamed on M.
    X, y = data
    with sklearn.config_context(skip_parameter_validation=True):
        with pytest.raises(ValueError, match=r"n_rounds must be a whole number >= 1"):
            RejectionSampler(random_state=0, n_rounds=n_rounds).fit_resample(X, y)


def test_sampler_takes_a_whole_float_n_rounds_unvalidated(data):
    X, y = data
    counted = RejectionSampler(random_state=0, n_rounds=2)
    counted.fit_resample(X, y)
    whole = RejectionSampler(random_state=0, n_rounds=2.0)
    with sklearn.config_context(skip_parameter_validation=True):
        whole.fit_resample(X, y)
    assert len(counted.sample_indices_) > len(y) // 2
    np.testing.assert_array_equal(whole.sample_indices_, counted.sample_indices_)


def test_an_iterator_class_set_on_a_fitted_estimator_is_used_next_call():
    # skorch found no component to rebuild for it and raised "Something went
    # wrong, please open an issue".
    from torch.utils.data import DataLoader

    rng = np.random.RandomState(0)
    X = rng.randn(60, 3).astype(np.float32)
    y = np.arange(60) % 2
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    clf.set_params(iterator_train=DataLoader, iterator_valid=DataLoader)
    assert clf.iterator_train is DataLoader
    assert clf.get_params()["iterator_valid"] is DataLoader
    seen = []
    get = clf.get_iterator

    def spy(dataset, training=False):
        iterator = get(dataset, training=training)
        seen.append(type(iterator))
        return iterator

    clf.get_iterator = spy
    clf.partial_fit(X, y)
    assert DataLoader in seen
    assert len(clf.history) == 2


def test_string_labels_enter_no_catch_warnings_on_numpy_2(monkeypatch):
    # catch_warnings swaps the process's filter list (other threads' filters
    # were lost); it guarded a NumPy-1 warning only.
    import sys
    import warnings

    if np.lib.NumpyVersion(np.__version__) < "2.0.0":
        pytest.skip("NumPy before 2 needs the guard")
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3).astype(np.float32)
    y = np.where(np.arange(60) % 2, "yes", "no").astype(object)
    swaps = []

    class Recorder(warnings.catch_warnings):
        def __enter__(self):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if caller.startswith("rsft_sklearn"):
                swaps.append(caller)
            return super().__enter__()

    monkeypatch.setattr(warnings, "catch_warnings", Recorder)
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    monkeypatch.undo()
    assert swaps == []
    assert list(clf.classes_) == ["no", "yes"]


@pytest.mark.parametrize("name", ["iterator_train", "iterator_valid", "dataset"])
def test_a_bad_iterator_class_on_a_fitted_estimator_is_refused_at_once(name):
    rng = np.random.RandomState(0)
    X = rng.randn(60, 3).astype(np.float32)
    y = np.arange(60) % 2
    clf = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    proba = clf.predict_proba(X)
    with pytest.raises(ValueError, match=f"'{name}' parameter"):
        clf.set_params(**{name: 5})
    assert getattr(clf, name) != 5
    np.testing.assert_array_equal(clf.predict_proba(X), proba)
