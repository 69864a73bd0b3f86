"""Sparse X: CSR batches densified one at a time, never the whole matrix."""

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

import rsft_sklearn
from rsft_sklearn import MLPModule, RejectionSampler, RSFTClassifier, SparseRows

MODES = ("sample", "expected", "pool", "epoch")


@pytest.fixture(scope="module")
def data():
    rng = np.random.RandomState(0)
    X = sp.random(400, 30, density=0.1, format="csr", random_state=rng)
    w = rng.normal(size=(30, 3))
    y = (X @ w).argmax(axis=1)
    y[:20] = 2  # a few labels against the signal, so that rejection acts
    return X, np.asarray(y).ravel()


class _OwnMLP(MLPModule):
    """A module of the user's (a subclass: not the default MLP)."""


def _clf(**params):
    return RSFTClassifier(
        **{
            "max_epochs": 3,
            "warmup_epochs": 1,
            "batch_size": 32,
            "random_state": 0,
            "verbose": 0,
            **params,
        }
    )


@pytest.mark.parametrize(
    "rejection, extra",
    [(mode, {}) for mode in MODES]
    + [("budget", {}), ("budget", {"rescore_every": 2, "max_epochs": 4})],
)
def test_sparse_and_dense_give_the_same_fit(data, rejection, extra):
    X, y = data
    weight = np.linspace(0.5, 2.0, len(y))
    sparse = _clf(rejection=rejection, **extra).fit(X, y, sample_weight=weight)
    dense = _clf(rejection=rejection, **extra).fit(X.toarray(), y, sample_weight=weight)
    np.testing.assert_allclose(
        sparse.predict_proba(X), dense.predict_proba(X.toarray()), atol=1e-6
    )
    for a, b in zip(sparse.module_.parameters(), dense.module_.parameters()):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), atol=1e-6)


def test_sample_weight_reaches_the_rule_on_sparse_input(data):
    X, y = data
    plain = _clf(rejection="sample").fit(X, y)
    weighted = _clf(rejection="sample").fit(
        X, y, sample_weight=np.where(y == 0, 5.0, 0.2)
    )
    assert not np.allclose(plain.predict_proba(X), weighted.predict_proba(X))


@pytest.fixture
def densified_rows(monkeypatch):
    """Rows of every block a sparse matrix is densified in, as a list."""
    sizes = []
    for cls in (sp._compressed._cs_matrix, sp._base._spbase):
        for name in ("toarray", "todense"):
            original = getattr(cls, name)

            def record(self, *args, _original=original, **kwargs):
                sizes.append(self.shape[0])
                return _original(self, *args, **kwargs)

            monkeypatch.setattr(cls, name, record)
    return sizes


class DenseOnlyMLP(MLPModule):
    """A module that wants dense batches, as any user module does."""

    accepts_sparse = False


@pytest.mark.parametrize("rejection", MODES)
def test_the_whole_training_matrix_is_never_densified(densified_rows, rejection):
    n = 3000
    X = sp.random(n, 20, density=0.05, format="csr", random_state=0)
    y = np.arange(n) % 3
    params = dict(rejection=rejection, max_epochs=2, batch_size=64, pool_size=4)
    _clf(**params).fit(X, y).predict_proba(X)
    # The default MLP multiplies sparse batches: nothing is densified.
    assert densified_rows == []
    dense_module = _clf(
        module=DenseOnlyMLP, module__n_features=20, module__n_classes=3, **params
    )
    dense_module.fit(X, y).predict_proba(X)
    assert densified_rows, "no batch went through the dense-batch path"
    # Batches of 64, pools of 4 x 64, scoring passes of 2048 rows at most.
    assert max(densified_rows) <= 2048 < n


def test_the_default_mlp_receives_sparse_batches(data, monkeypatch):
    X, y = data
    seen = []
    forward = MLPModule.forward

    def recording(self, batch):
        seen.append(batch.layout)
        return forward(self, batch)

    monkeypatch.setattr(MLPModule, "forward", recording)
    _clf(max_epochs=1).fit(X, y).predict(X)
    assert set(seen) == {torch.sparse_coo}


@pytest.mark.parametrize("fmt", ["csc", "coo", "lil", "dok"])
def test_other_formats_are_converted_to_csr(data, fmt):
    X, y = data
    expected = _clf().fit(X, y).predict_proba(X)
    other = X.asformat(fmt)
    np.testing.assert_allclose(_clf().fit(other, y).predict_proba(other), expected)
    assert SparseRows(other).matrix.format == "csr"


def test_sparse_arrays_are_accepted(data):
    X, y = data
    expected = _clf().fit(X, y).predict_proba(X)
    got = _clf().fit(sp.csr_array(X), y).predict_proba(sp.csr_array(X))
    np.testing.assert_allclose(got, expected)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_sparse_values_are_refused(data, bad):
    X, y = data
    X = X.copy()
    X.data[3] = bad
    with pytest.raises(ValueError, match="NaN|infinity"):
        _clf().fit(X, y)
    fitted = _clf(max_epochs=1).fit(data[0], y)
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.predict(X)


def test_values_beyond_float32_are_refused(data):
    X, y = data
    X = X.astype(np.float64)
    X.data[0] = 1e300
    with pytest.raises(ValueError, match="float32"):
        _clf().fit(X, y)


def test_empty_documents_train_and_predict(data):
    X, y = data
    X = X.tolil()
    X[:50] = 0
    X = X.tocsr()
    X.eliminate_zeros()
    clf = _clf().fit(X, y)
    proba = clf.predict_proba(X[:50])
    assert np.all(np.isfinite(proba))
    # An empty row has one output, whatever class it was labelled with.
    np.testing.assert_allclose(proba, np.repeat(proba[:1], 50, axis=0), atol=1e-6)


def test_partial_fit_on_sparse_batches(data):
    X, y = data
    clf = _clf(max_epochs=1)
    clf.partial_fit(X[:200], y[:200], classes=[0, 1, 2])
    clf.partial_fit(X[200:], y[200:])
    assert len(clf.history_) == 2
    assert clf.predict(X).shape == (len(y),)


def test_wrong_number_of_features_is_refused(data):
    X, y = data
    clf = _clf(max_epochs=1).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        clf.predict(sp.random(5, 31, format="csr"))


def test_pickled_estimator_predicts_the_same(data):
    X, y = data
    clf = _clf().fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))


DOCS = [
    "cheap pills buy now",
    "buy cheap watches now",
    "meeting at noon tomorrow",
    "project meeting notes",
    "lunch tomorrow at noon",
    "win a prize now",
] * 20
LABELS = ["spam", "spam", "ham", "ham", "ham", "spam"] * 20


def test_tfidf_pipeline_and_grid_search():
    pipe = make_pipeline(TfidfVectorizer(), _clf(max_epochs=15, warmup_epochs=2))
    search = GridSearchCV(pipe, {"rsftclassifier__M": [0.5, 2.0]}, cv=3)
    search.fit(DOCS, LABELS)
    assert search.best_score_ == pytest.approx(1.0)
    assert search.predict(["buy pills now", "meeting notes"]).tolist() == [
        "spam",
        "ham",
    ]


def test_rejection_sampler_keeps_sparse_input_sparse(data):
    X, y = data
    Xr, yr = RejectionSampler(M=4.0, random_state=0).fit_resample(X, y)
    assert sp.issparse(Xr) and Xr.format == "csr"
    assert Xr.shape[0] == len(yr) < X.shape[0]
    dense_X, dense_y = RejectionSampler(M=4.0, random_state=0).fit_resample(
        X.toarray(), y
    )
    np.testing.assert_array_equal(Xr.toarray(), dense_X)
    np.testing.assert_array_equal(yr, dense_y)


@pytest.mark.parametrize("sparse_batches", [False, True])
def test_sparse_rows_take_gives_float32_batches(sparse_batches):
    matrix = sp.random(10, 4, density=0.5, format="csc", random_state=0)
    rows = SparseRows(matrix, sparse_batches=sparse_batches)
    batch = rows.take(torch.tensor([3, 1]))
    assert batch.dtype == torch.float32
    assert batch.is_sparse == sparse_batches
    dense = batch.to_dense() if sparse_batches else batch
    np.testing.assert_allclose(dense.numpy(), matrix.toarray()[[3, 1]], rtol=1e-6)
    assert rows.to("meta") is rows


def test_duplicate_entries_are_summed_without_touching_the_input():
    X = sp.csr_matrix(
        (np.array([1.0, 2.0, 3.0], dtype=np.float32), np.array([1, 1, 0]), [0, 3]),
        shape=(1, 2),
    )
    rows = SparseRows(X, sparse_batches=True)
    assert X.nnz == 3
    np.testing.assert_array_equal(rows.take(slice(0, 1)).to_dense().numpy(), [[3, 3]])


def test_a_float32_csr_is_trained_on_without_a_copy(data, monkeypatch):
    X, y = data
    X = X.astype(np.float32)
    stored = []

    class RecordingRows(SparseRows):
        def __init__(self, matrix, sparse_batches=False):
            super().__init__(matrix, sparse_batches)
            stored.append(self.matrix)

    monkeypatch.setattr("rsft_sklearn._base.SparseRows", RecordingRows)
    _clf(max_epochs=1).fit(X, y)
    # Validation, the data set and its batches read the caller's arrays:
    # a hashed-features matrix is held once.
    (matrix,) = stored
    for name in ("data", "indices", "indptr"):
        assert np.shares_memory(getattr(matrix, name), getattr(X, name)), name


def test_importing_the_package_leaves_imbalanced_learn_out():
    # Imports count toward a fit's peak memory; the sampler's dependency is
    # loaded when the sampler is first asked for.
    code = (
        "import sys, rsft_sklearn; assert 'imblearn' not in sys.modules; "
        "rsft_sklearn.RejectionSampler; assert 'imblearn' in sys.modules"
    )
    package_root = Path(rsft_sklearn.__file__).parents[1]
    env = {**os.environ, "PYTHONPATH": str(package_root)}
    subprocess.run([sys.executable, "-c", code], check=True, env=env)


# ----------------------------------------------------------------------------
# The default MLP's first layer on the columns with stored entries
# ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def narrow_data():
    """A wide sparse X of which only every third column holds values."""
    rng = np.random.RandomState(1)
    used = sp.random(300, 20, density=0.3, format="csr", random_state=rng)
    y = np.asarray((used @ rng.normal(size=(20, 3))).argmax(axis=1)).ravel()
    X = sp.hstack([used, sp.csr_matrix((300, 40))], format="csr")
    # Spread the 20 used columns over 60: columns 0, 3, 6, ...
    order = np.argsort(
        np.r_[np.arange(0, 60, 3), np.setdiff1d(np.arange(60), np.arange(0, 60, 3))]
    )
    return X[:, order].tocsr(), y


def test_sparse_fit_gives_weights_to_the_stored_columns_only(narrow_data):
    X, y = narrow_data
    clf = _clf().fit(X, y)
    columns = clf.module_.input_columns.numpy()
    np.testing.assert_array_equal(columns, np.arange(0, 60, 3))
    assert clf.module_.layers[0].in_features == 20
    assert clf.n_features_in_ == 60
    # The same network on the dense matrix cut to those columns.
    dense = _clf(module__input_columns=None).fit(X[:, columns].toarray(), y)
    np.testing.assert_allclose(
        clf.predict_proba(X), dense.predict_proba(X[:, columns].toarray()), atol=1e-6
    )
    # Dense input goes through the same columns.
    np.testing.assert_allclose(
        clf.predict_proba(X.toarray()), clf.predict_proba(X), atol=1e-6
    )


def test_values_in_columns_without_weights_change_nothing(narrow_data):
    X, y = narrow_data
    clf = _clf(max_epochs=1).fit(X, y)
    unused = np.ones(60)
    unused[::3] = 0
    noise = sp.random(300, 60, density=0.2, format="csr", random_state=3)
    noise = (noise @ sp.diags(unused)).tocsr()
    noise.eliminate_zeros()
    assert noise.nnz > 0
    np.testing.assert_allclose(
        clf.predict_proba(X + noise), clf.predict_proba(X), atol=1e-6
    )


def test_every_column_keeps_a_weight_when_asked_or_on_dense_input(narrow_data):
    X, y = narrow_data
    assert (
        _clf(max_epochs=1, module__input_columns=None).fit(X, y).module_.input_columns
        is None
    )
    assert _clf(max_epochs=1).fit(X.toarray(), y).module_.layers[0].in_features == 60
    # partial_fit keeps every column: a later call may bring new ones.
    clf = _clf(max_epochs=1).partial_fit(X, y)
    assert clf.module_.layers[0].in_features == 60


def test_continued_training_with_new_columns_warns(narrow_data):
    X, y = narrow_data
    clf = _clf(max_epochs=1, warm_start=True).fit(X, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X, y)  # the same columns: silent
    wider = X + sp.csr_matrix(([1.0], ([0], [1])), shape=X.shape)
    with pytest.warns(UserWarning, match=r"1 columns of X \(for example \[1\]\)"):
        clf.fit(wider, y)
    with pytest.warns(UserWarning, match="no weights in the network"):
        clf.partial_fit(wider, y)
    # Dense rows warn too (they were ignored without a word).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X.toarray(), y)
    for fit in (clf.fit, clf.partial_fit):
        with pytest.warns(UserWarning, match=r"1 columns of X \(for example \[1\]\)"):
            fit(wider.toarray(), y)


def test_input_columns_survive_pickle_and_state_dict(narrow_data, tmp_path):
    X, y = narrow_data
    clf = _clf(max_epochs=1).fit(X, y)
    again = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    clf.save_params(f_params=tmp_path / "params.pt")
    restored = _clf(
        max_epochs=1,
        module=MLPModule,
        module__n_features=60,
        module__n_classes=3,
        module__hidden_layer_sizes=(64, 64),
        # Other columns of the same count: loading the state dict replaces them.
        module__input_columns=np.arange(20),
        classes=clf.classes_,
        probability="raw",
    ).initialize()
    restored.load_params(f_params=tmp_path / "params.pt")
    np.testing.assert_array_equal(
        restored.module_.input_columns.numpy(), clf.module_.input_columns.numpy()
    )
    np.testing.assert_allclose(
        restored.predict_proba(X), clf.predict_proba(X), atol=1e-6
    )
    raw = _clf(max_epochs=1, probability="raw").fit(X, y)
    raw.save_params(f_params=tmp_path / "raw.pt")
    restored.load_params(f_params=tmp_path / "raw.pt")
    np.testing.assert_allclose(
        restored.predict_proba(X), raw.predict_proba(X), atol=1e-6
    )


def test_narrowed_and_full_state_dicts_name_the_setting_that_loads_them(
    narrow_data, tmp_path
):
    # skorch's initialize() + load_params(), from a sparse fit (whose first
    # layer has weights for its 20 stored columns) into a module with every
    # column, and back: a ValueError naming module__input_columns, not
    # torch's size mismatch.
    X, y = narrow_data
    clf = _clf(max_epochs=1).fit(X, y)
    clf.save_params(f_params=tmp_path / "narrow.pt")
    common = dict(
        max_epochs=1,
        module=MLPModule,
        module__n_features=60,
        module__n_classes=3,
        classes=clf.classes_,
        probability="raw",
    )
    full = _clf(**common).initialize()
    with pytest.raises(ValueError, match="weights for 20 input columns only"):
        full.load_params(f_params=tmp_path / "narrow.pt")
    saved = torch.load(tmp_path / "narrow.pt")
    narrow = _clf(**common, module__input_columns=saved["input_columns"]).initialize()
    narrow.load_params(f_params=tmp_path / "narrow.pt")
    np.testing.assert_allclose(narrow.predict_proba(X), clf.predict_proba(X), atol=1e-6)
    full.save_params(f_params=tmp_path / "full.pt")
    with pytest.raises(ValueError, match="module__input_columns=None"):
        narrow.load_params(f_params=tmp_path / "full.pt")


@pytest.mark.parametrize(
    "columns, error, match",
    [
        ([0.5, 1.0], TypeError, "column indices"),
        ([True, False, True], TypeError, "boolean mask"),
        ([[0, 1]], TypeError, "1-d"),
        ([], ValueError, "empty"),
        ([0, 9], ValueError, r"\[0, 5\)"),
        ([-1, 2], ValueError, r"\[0, 5\)"),
        ([2, 1], ValueError, "sorted"),
        ([1, 1], ValueError, "sorted"),
    ],
)
def test_bad_input_columns_are_refused(columns, error, match):
    with pytest.raises(error, match=match):
        MLPModule(5, 2, input_columns=columns)


def test_mlp_on_input_columns_agrees_on_sparse_and_dense_batches():
    torch.manual_seed(0)
    module = MLPModule(6, 2, hidden_layer_sizes=(4,), input_columns=[1, 3, 4])
    X = torch.randn(5, 6)
    np.testing.assert_allclose(
        module(X.to_sparse()).detach().numpy(), module(X).detach().numpy(), atol=1e-6
    )
    cut = X.clone()
    cut[:, [0, 2, 5]] = 0
    torch.testing.assert_close(module(cut), module(X))
    assert module.layers[0].weight.shape == (4, 3)


def test_input_columns_add_no_host_read_on_a_device(narrow_data):
    # On a device, renumbering a sparse batch's columns must not wait for
    # the device: no boolean indexing, no nonzero, even for a batch with
    # values in columns that have no weight. The device path (zeros in place
    # of the other columns) gives the CPU path's product (which drops them).
    from test_sync import SyncCounter

    X, y = narrow_data
    module = _clf(max_epochs=1).fit(X, y).module_
    wider = (X + sp.random(300, 60, density=0.2, format="csr", random_state=4)).tocsr()
    batch = SparseRows(wider, sparse_batches=True).take(slice(0, 40))
    counter = SyncCounter()
    counter.batch = 0
    counter.per_batch.append([])
    with counter:
        zeroed = module._kept_sparse(batch, drop=False)
    assert counter.per_batch == [[]]
    dropped = module._kept_sparse(batch, drop=True)
    assert dropped.shape == zeroed.shape == (40, 20)
    assert dropped._nnz() < zeroed._nnz()
    weight = torch.randn(20, 3)
    torch.testing.assert_close(
        torch.sparse.mm(zeroed, weight), torch.sparse.mm(dropped, weight)
    )


class GradientBuffers(Callback):
    """Record the address of every gradient buffer at every training batch."""

    def initialize(self):
        self.addresses = []
        return self

    def on_batch_end(self, net, training=None, **kwargs):
        if training:
            self.addresses.append(
                tuple(p.grad.data_ptr() for p in net.module_.parameters())
            )


@pytest.mark.parametrize("rejection", ["sample", "expected", "budget"])
def test_kept_gradient_buffers_give_the_same_fit(narrow_data, monkeypatch, rejection):
    # The default MLP's gradients are zeroed in place between steps rather
    # than freed: the same steps, without allocating every gradient anew.
    from skorch import NeuralNet

    X, y = narrow_data
    buffers = GradientBuffers()
    kept = _clf(rejection=rejection, callbacks=[("buffers", buffers)]).fit(X, y)
    assert len(set(buffers.addresses)) == 1
    monkeypatch.setattr(
        RSFTClassifier,
        "_zero_grad_optimizer",
        lambda net, set_to_none=None: NeuralNet._zero_grad_optimizer(net, True),
    )
    freed = _clf(rejection=rejection).fit(X, y)
    for a, b in zip(kept.module_.parameters(), freed.module_.parameters()):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    "params, set_to_none",
    [
        ({}, {False}),
        # Dense input: small networks, freed as skorch does.
        ({"dense": True}, {True}),
        # A compacted step may skip the backward pass: the optimiser must
        # then see no gradient, so the buffers are freed.
        ({"compact": True, "rejection": "sample", "warmup_epochs": 0}, {True}),
        # A module of the user's may leave parameters out of a step.
        (
            {"module": _OwnMLP, "module__n_features": 30, "module__n_classes": 3},
            {True},
        ),
    ],
)
def test_gradients_are_zeroed_in_place_for_the_default_mlp_on_sparse_input(
    data, monkeypatch, params, set_to_none
):
    calls = []
    zero_grad = torch.optim.Optimizer.zero_grad

    def spy(self, set_to_none=True):
        calls.append(set_to_none)
        return zero_grad(self, set_to_none)

    monkeypatch.setattr(torch.optim.Optimizer, "zero_grad", spy)
    X, y = data
    params = dict(params)
    if params.pop("dense", False):
        X = X.toarray()
    _clf(max_epochs=2, **params).fit(X, y)
    assert calls and set(calls) == set_to_none


def test_the_mlp_class_without_its_sizes_is_narrowed_like_the_default(narrow_data):
    from rsft_sklearn import MLPModule

    X, y = narrow_data
    default = _clf(max_epochs=1).fit(X, y)
    by_class = _clf(max_epochs=1, module=MLPModule).fit(X, y)
    assert by_class.module_.layers[0].in_features == 20
    np.testing.assert_array_equal(
        by_class.module_.input_columns.numpy(), default.module_.input_columns.numpy()
    )
    np.testing.assert_array_equal(by_class.predict_proba(X), default.predict_proba(X))


def test_a_narrowed_mlp_pickles_without_its_position_table():
    # The table of 2**20 column positions (4 MB) was pickled with a model
    # whose parameters take a few kB.
    import copy
    import pickle

    rng = np.random.RandomState(0)
    columns = rng.choice(2**20, size=(200, 2), replace=True)
    X = sp.csr_matrix(
        (rng.random_sample(400), columns.ravel(), np.arange(0, 401, 2)),
        shape=(200, 2**20),
    )
    X.sum_duplicates()
    y = rng.randint(0, 2, size=200)
    clf = _clf(max_epochs=1).fit(X, y)
    data = pickle.dumps(clf)
    assert len(data) < 1_000_000
    again = pickle.loads(data)
    np.testing.assert_array_equal(again.predict_proba(X), clf.predict_proba(X))
    torch.testing.assert_close(
        again.module_.column_position, clf.module_.column_position
    )
    twin = copy.deepcopy(clf)
    np.testing.assert_array_equal(twin.predict_proba(X), clf.predict_proba(X))


def test_a_frozen_layer_stays_frozen_on_sparse_input():
    # On sparse input the default MLP's gradients were zeroed in place, not
    # freed: a frozen layer kept a zero gradient, and Adam's momentum moved
    # it (0.007 during one partial_fit; 0 on dense input).
    from skorch.callbacks import Freezer

    rng = np.random.default_rng(0)
    dense = rng.normal(size=(400, 20)) * (rng.random((400, 20)) < 0.3)
    y = (dense[:, 0] + 0.3 * rng.normal(size=400) > 0.4).astype(int)
    X = sp.csr_matrix(dense)
    clf = RSFTClassifier(max_epochs=3, random_state=0).fit(X, y)
    first = clf.module_.layers[0]
    first.requires_grad_(False)
    before = first.weight.detach().clone()
    clf.partial_fit(X, y)
    assert torch.equal(first.weight, before)
    # skorch's Freezer, from the third epoch on.
    frozen = []

    class Watch(Callback):
        def on_epoch_end(self, net, **kwargs):
            frozen.append(net.module_.layers[0].weight.detach().clone())

    RSFTClassifier(
        max_epochs=5,
        random_state=0,
        callbacks=[Freezer("layers.0.*", at=3), Watch()],
    ).fit(X, y)
    assert all(torch.equal(frozen[2], later) for later in frozen[3:])


def test_sparse_rows_are_indexed_on_the_labels_device():
    # The matrix stays on the host while the labels move to the network's
    # device: the row indices (and the budget's row store) went to the
    # matrix's CPU, and indexing the device's labels with them failed.
    from rsft_sklearn import BatchIterator, InMemoryDataset

    X = sp.random(10, 4, density=0.5, format="csr", random_state=0)
    labels = torch.zeros(10, dtype=torch.long, device="meta")
    iterator = BatchIterator(InMemoryDataset(SparseRows(X), labels), batch_size=4)
    assert iterator.row_store().device.type == "meta"
    host = BatchIterator(InMemoryDataset(SparseRows(X), torch.zeros(10)))
    assert host.row_store().device.type == "cpu"


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_fit_and_predict_leave_a_matrix_with_duplicates_as_it_was(dtype):
    # SciPy's max and min sum duplicate entries in place: the range check
    # of a float64 matrix must not rewrite the caller's arrays.
    rng = np.random.default_rng(0)
    n = 60
    indices = rng.integers(0, 4, size=3 * n)
    X = sp.csr_matrix(
        (rng.normal(size=3 * n).astype(dtype), indices, np.arange(0, 3 * n + 1, 3)),
        shape=(n, 4),
    )
    y = np.arange(n) % 2
    before = [getattr(X, name).copy() for name in ("data", "indices", "indptr")]
    clf = _clf(max_epochs=1).fit(X, y)
    clf.predict_proba(X)
    for name, old in zip(("data", "indices", "indptr"), before):
        np.testing.assert_array_equal(getattr(X, name), old, err_msg=name)
    # The values are read as the summed matrix, as before.
    summed = X.copy()
    summed.sum_duplicates()
    np.testing.assert_allclose(clf.predict_proba(X), clf.predict_proba(summed))
