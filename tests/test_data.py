"""In-memory batches: InMemoryDataset and BatchIterator, alone and in fits."""

import warnings

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback
from skorch.dataset import ValidSplit
from torch.utils.data import DataLoader, Subset, TensorDataset

from rsft_sklearn import BatchIterator, InMemoryDataset, RSFTClassifier


def _dataset(n=10, weights=False):
    X = torch.arange(2.0 * n).reshape(n, 2)
    y = torch.arange(n)
    w = torch.linspace(0.5, 1.5, n) if weights else None
    return InMemoryDataset(X, y, w)


def _rows(batches):
    return [yb.tolist() for _, yb, *_ in batches]


def _data(n=96, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.25).astype(np.int64)
    X = rng.normal(size=(n, 4)) + y[:, None]
    return X.astype(np.float32), y


class BatchLabels(Callback):
    """Record the encoded labels of every training batch."""

    def initialize(self):
        self.batches = []
        return self

    def on_batch_begin(self, net, batch=None, training=None, **kwargs):
        if training:
            self.batches.append(batch[1].tolist())


@pytest.mark.parametrize(
    ("batch_size", "drop_last", "expected"),
    [
        (4, False, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]),
        (4, True, [[0, 1, 2, 3], [4, 5, 6, 7]]),
        (10, False, [list(range(10))]),
        (32, False, [list(range(10))]),
    ],
)
def test_batches_are_consecutive_slices(batch_size, drop_last, expected):
    iterator = BatchIterator(_dataset(), batch_size=batch_size, drop_last=drop_last)
    assert _rows(iterator) == expected
    assert len(iterator) == len(expected)


def test_batches_carry_inputs_and_sample_weights():
    ds = _dataset(weights=True)
    Xb, yb, wb = next(iter(BatchIterator(ds, batch_size=3)))
    assert torch.equal(Xb, ds.X[:3])
    assert torch.equal(yb, ds.y[:3])
    assert torch.equal(wb, ds.sample_weight[:3])


def test_dict_inputs_are_sliced_together():
    X = {"a": torch.arange(6.0).reshape(3, 2), "b": torch.arange(3.0)}
    ds = InMemoryDataset(X, torch.tensor([0, 1, 0]))
    (Xb, yb), _ = list(BatchIterator(ds, batch_size=2))
    assert torch.equal(Xb["a"], X["a"][:2])
    assert torch.equal(Xb["b"], torch.tensor([0.0, 1.0]))
    assert len(ds) == 3


def test_shuffle_is_a_permutation_drawn_from_the_generator():
    ds = _dataset(n=50)

    def epoch(generator):
        iterator = BatchIterator(ds, batch_size=8, shuffle=True, generator=generator)
        return sum(_rows(iterator), [])

    g = torch.Generator().manual_seed(3)
    first, second = epoch(g), epoch(g)
    assert sorted(first) == list(range(50))
    assert first != second, "every epoch draws a fresh permutation"
    g = torch.Generator().manual_seed(3)
    assert [epoch(g), epoch(g)] == [first, second]
    # The rows of a batch stay together with their inputs.
    g = torch.Generator().manual_seed(3)
    for Xb, yb in BatchIterator(ds, batch_size=8, shuffle=True, generator=g):
        assert torch.equal(Xb, ds.X[yb])


def test_fit_shuffles_with_the_estimators_generator():
    X, y = _data()

    def batches(random_state):
        labels = BatchLabels()
        RSFTClassifier(
            max_epochs=2,
            batch_size=16,
            random_state=random_state,
            callbacks=[("labels", labels)],
        ).fit(X, y)
        return labels.batches

    first = batches(0)
    assert len(first) == 2 * 6
    assert first == batches(0)
    assert first != batches(1)
    assert first[:6] != first[6:]
    # Every epoch sees every row once.
    assert sorted(sum(first[:6], [])) == sorted(y.tolist())


def test_get_iterator_wires_batch_size_and_generator():
    X, y = _data()
    net = RSFTClassifier(max_epochs=1, batch_size=24, random_state=0).fit(X, y)
    ds = net.get_dataset(X, y)
    train = net.get_iterator(ds, training=True)
    valid = net.get_iterator(ds, training=False)
    assert isinstance(train, BatchIterator) and train.shuffle
    assert train.generator is net.shuffle_generator_
    assert train.batch_size == valid.batch_size == 24
    assert not valid.shuffle
    assert net.set_params(batch_size=-1).get_iterator(ds).batch_size == len(X)


def test_fit_never_indexes_rows_one_at_a_time(monkeypatch):
    X, y = _data()

    def refuse(self, i):
        raise AssertionError("per-row __getitem__ during fit")

    monkeypatch.setattr(InMemoryDataset, "__getitem__", refuse)
    net = RSFTClassifier(
        max_epochs=2, train_split=ValidSplit(4, stratified=True), random_state=0
    ).fit(X, y)
    assert net.predict_proba(X).shape == (len(X), 2)


def test_subset_is_sliced_through_its_indices():
    ds = _dataset(n=20, weights=True)
    inner = Subset(ds, [3, 1, 4, 15, 9, 2, 6])
    outer = Subset(inner, [0, 2, 4, 6])
    assert _rows(BatchIterator(inner, batch_size=3)) == [[3, 1, 4], [15, 9, 2], [6]]
    assert _rows(BatchIterator(outer, batch_size=3)) == [[3, 4, 9], [6]]
    g = torch.Generator().manual_seed(0)
    shuffled = BatchIterator(inner, batch_size=3, shuffle=True, generator=g)
    assert sorted(sum(_rows(shuffled), [])) == sorted(inner.indices)
    _, yb, wb = next(iter(BatchIterator(outer, batch_size=2)))
    assert torch.equal(wb, ds.sample_weight[yb])


def test_validation_split_goes_through_subsets():
    X, y = _data(n=120)
    net = RSFTClassifier(
        max_epochs=2,
        batch_size=16,
        train_split=ValidSplit(4, stratified=True),
        random_state=0,
    )
    ds_train, ds_valid = net.get_split_datasets(X.astype(np.float32), torch.tensor(y))
    assert isinstance(ds_train, Subset) and isinstance(ds_valid, Subset)
    assert len(ds_train) == 90 and len(ds_valid) == 30
    net.fit(X, y)
    assert np.isfinite(net.history[:, "valid_loss"]).all()
    assert net.history[-1, "train_batch_count"] == -(-90 // 16)
    assert net.history[-1, "valid_batch_count"] == -(-30 // 16)


def test_predict_proba_keeps_row_order():
    X, y = _data(n=101)
    net = RSFTClassifier(max_epochs=2, batch_size=8, random_state=0).fit(X, y)
    proba = net.predict_proba(X)
    reversed_proba = net.predict_proba(X[::-1].copy())
    np.testing.assert_allclose(reversed_proba[::-1], proba, rtol=1e-6)
    net.set_params(probability="raw")
    with torch.no_grad():
        logits = net.module_(torch.as_tensor(X))
    np.testing.assert_allclose(
        net.predict_proba(X), torch.softmax(logits, 1).numpy(), rtol=1e-5, atol=1e-6
    )


def test_same_model_as_skorchs_data_loader():
    # Without shuffling, the in-memory batches are exactly the DataLoader's.
    X, y = _data()
    kw = {"max_epochs": 2, "batch_size": 16, "random_state": 0, "warmup_epochs": 2}
    sliced = RSFTClassifier(iterator_train__shuffle=False, **kw).fit(X, y)
    loaded = RSFTClassifier(
        iterator_train=DataLoader, iterator_valid=DataLoader, **kw
    ).fit(X, y)
    for p, q in zip(sliced.module_.parameters(), loaded.module_.parameters()):
        assert torch.equal(p, q)
    np.testing.assert_array_equal(sliced.predict_proba(X), loaded.predict_proba(X))


def test_torch_datasets_go_through_a_data_loader():
    X = torch.arange(20.0).reshape(10, 2)
    y = torch.arange(10)
    ds = TensorDataset(X, y)
    iterator = BatchIterator(ds, batch_size=4)
    assert iterator._base is None
    assert _rows(iterator) == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(iterator) == 3

    def shuffled(seed):
        g = torch.Generator().manual_seed(seed)
        return _rows(BatchIterator(ds, batch_size=4, shuffle=True, generator=g))

    assert shuffled(0) == shuffled(0)
    assert sorted(sum(shuffled(0), [])) == list(range(10))
    # A Subset of a torch Dataset also falls back to the loader.
    sub = BatchIterator(Subset(ds, [7, 2, 5]), batch_size=2)
    assert sub._base is None and _rows(sub) == [[7, 2], [5]]
    # Loader arguments pass through.
    loader = BatchIterator(ds, batch_size=4, collate_fn=lambda rows: len(rows))
    assert list(loader) == [4, 4, 2]


def test_in_memory_dataset_rows_and_device():
    ds = InMemoryDataset(
        torch.ones(3, 2, dtype=torch.float64), torch.tensor([0, 1, 1]), device="cpu"
    )
    Xi, yi = ds[2]
    assert Xi.shape == (2,) and int(yi) == 1
    unlabeled = InMemoryDataset(torch.ones(3, 2))
    assert int(unlabeled[0][1]) == 0
    assert unlabeled.take(slice(0, 2))[1] is None


def test_data_too_large_for_the_device_stay_on_the_host(monkeypatch):
    import rsft_sklearn._data as data

    def full(value, device):
        raise torch.OutOfMemoryError("out of memory")

    monkeypatch.setattr(data, "_to", full)
    X, y = torch.ones(4, 2), torch.zeros(4, dtype=torch.long)
    ds = InMemoryDataset(X, y, device="meta")
    assert ds.X is X and ds.y is y


def test_scratch_take_reuses_one_buffer_and_matches_take():
    X = torch.arange(40.0).reshape(10, 4)
    ds = InMemoryDataset(X, torch.arange(10))
    first = ds.take(torch.tensor([3, 1, 4]), scratch=True)
    torch.testing.assert_close(first[0], X[[3, 1, 4]])
    assert torch.equal(first[1], torch.tensor([3, 1, 4]))
    pointer = first[0].data_ptr()
    second = ds.take(torch.tensor([9, 2]), scratch=True)
    torch.testing.assert_close(second[0], X[[9, 2]])
    # The same memory, overwritten: what a scoring pass that drops the
    # inputs may use.
    assert second[0].data_ptr() == pointer
    # A larger pool gets a larger buffer; plain takes never share it.
    third = ds.take(torch.arange(6), scratch=True)
    torch.testing.assert_close(third[0], X[:6])
    plain = ds.take(torch.tensor([9, 2]))
    assert plain[0].data_ptr() != third[0].data_ptr()
    # A slice or a dict of inputs is taken as usual.
    torch.testing.assert_close(ds.take(slice(2, 5), scratch=True)[0], X[2:5])
    both = InMemoryDataset({"a": X, "b": X * 2}, torch.arange(10))
    taken = both.take(torch.tensor([1, 2]), scratch=True)[0]
    torch.testing.assert_close(taken["b"], X[[1, 2]] * 2)


def _keep_every_other(weighted):
    def select(dataset, rows):
        if isinstance(dataset.X, torch.Tensor):
            dataset.take(rows, scratch=True)  # a scoring pass
        selected = torch.arange(0, len(rows), 2)
        if weighted:
            return selected, rows[selected].float() / 100
        return selected

    return select


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("inputs", ["dense", "dict"])
def test_pooled_batches_are_the_kept_rows_in_order(weighted, inputs):
    # Pools of 12 rows keep 6; batches of 4 carry the rest over to the next
    # pool, with dense inputs (gathered once for scoring) and a dict.
    X = torch.arange(50.0).reshape(25, 2)
    ds = InMemoryDataset(
        {"a": X, "b": -X} if inputs == "dict" else X,
        torch.arange(25),
        torch.arange(25.0),
    )
    iterator = BatchIterator(ds, batch_size=4)
    iterator.select, iterator.pool_size = _keep_every_other(weighted), 3
    batches = list(iterator)
    kept = torch.tensor([0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24])
    assert [len(b[1]) for b in batches] == [4, 4, 4, 1]
    rows = torch.cat([b[1] for b in batches])
    assert torch.equal(rows, kept)
    inputs_seen = torch.cat([b[0]["b"] if inputs == "dict" else b[0] for b in batches])
    torch.testing.assert_close(inputs_seen, X[kept] * (-1 if inputs == "dict" else 1))
    third = torch.cat([b[2] for b in batches])
    # The selection's weights replace the sample weights.
    torch.testing.assert_close(third, kept.float() / (100 if weighted else 1))


def test_sparse_rows_go_through_a_users_dataloader():
    # Single rows came out as sparse tensors, which torch's default collate
    # refuses ("Batches of sparse tensors are not currently supported").
    import scipy.sparse as sp

    from rsft_sklearn import SparseRows

    rng = np.random.default_rng(0)
    X = sp.random(60, 8, density=0.3, format="csr", random_state=0, dtype=np.float32)
    y = rng.integers(0, 2, 60)
    clf = RSFTClassifier(iterator_train=DataLoader, max_epochs=1).fit(X, y)
    assert clf.predict(X).shape == (60,)
    rows = SparseRows(sp.eye(4, format="csr"))
    assert rows[-1].tolist() == [0.0, 0.0, 0.0, 1.0]
    with pytest.raises(IndexError, match="out of range"):
        rows[4]


def test_a_subclass_of_batch_iterator_shuffles_as_it_does():
    class Rows(BatchIterator):
        pass

    orders = []

    class FirstRows(Callback):
        def on_batch_begin(self, net, batch=None, training=None, **kwargs):
            if training and len(orders) < len(net.history):
                orders.append(batch[0][:4, 0].tolist())

    X = np.arange(64, dtype=np.float32).reshape(32, 2)
    y = np.arange(32) % 2
    RSFTClassifier(
        iterator_train=Rows, batch_size=8, max_epochs=2, callbacks=[FirstRows()]
    ).fit(X, y)
    assert orders[0] != [0.0, 2.0, 4.0, 6.0] and orders[0] != orders[1]


class _CentreInPlace(torch.nn.Module):
    """A module that writes into its input, as in-place layers do."""

    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(4, 2)

    def forward(self, X):
        X -= X.mean(dim=1, keepdim=True)
        return self.linear(X)


def test_a_module_that_writes_into_its_input_leaves_the_users_array_alone():
    # Batches sliced in order (prediction, shuffle=False) were views of the
    # user's array: the module changed X (by up to 6.5), and a read-only
    # memory map crashed the process.
    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 4)).astype(np.float32) + 3.0
    y = (X[:, 0] > 3.0).astype(int)
    original = X.copy()
    clf = RSFTClassifier(
        _CentreInPlace,
        max_epochs=2,
        random_state=0,
        iterator_train__shuffle=False,
    ).fit(X, y)
    np.testing.assert_array_equal(X, original)
    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(X, original)
    frozen = X.copy()
    frozen.flags.writeable = False
    np.testing.assert_array_equal(clf.predict_proba(frozen), proba)


def test_batch_iterator_refuses_options_dataloader_does_not_take():
    # A misspelt iterator_train__ option was ignored without a word.
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = np.arange(60) % 2
    with pytest.raises(
        TypeError, match=r"unexpected keyword argument\(s\) \['shufle'\]"
    ):
        RSFTClassifier(max_epochs=1, iterator_train__shufle=False).fit(X, y)
    # DataLoader's own options are still passed on, to a torch Dataset.
    ds = TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert BatchIterator(ds, batch_size=8, pin_memory=False).loader_kwargs == {
            "pin_memory": False
        }


def test_dataloader_options_that_in_memory_batches_ignore_are_named():
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = (np.arange(60) % 4 == 0).astype(int)
    ones = torch.utils.data.SubsetRandomSampler(np.flatnonzero(y == 1).tolist())
    # A sampler of class-1 rows was ignored: the fit trained on the class mix
    # of the data (a share of 0.2 against 1.0 with iterator_train=DataLoader).
    for option in (
        {"iterator_train__sampler": ones, "iterator_train__shuffle": False},
        {"iterator_train__collate_fn": torch.utils.data.default_collate},
    ):
        with pytest.raises(ValueError, match="apply to torch Dataset inputs only"):
            RSFTClassifier(max_epochs=1, **option).fit(X, y)
    # Refused before anything changes: a fitted estimator keeps its network.
    fitted = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    before = fitted.predict_proba(X)
    fitted.set_params(iterator_train__sampler=ones, iterator_train__shuffle=False)
    for call in (fitted.fit, fitted.partial_fit):
        with pytest.raises(ValueError, match="apply to torch Dataset inputs only"):
            call(X, y)
        np.testing.assert_array_equal(fitted.predict_proba(X), before)
    # DataLoader's own defaults are no option, and the validation iterator's
    # options are left alone (a fit on a Dataset predicts on arrays).
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fitted.set_params(iterator_train__sampler=None, iterator_valid__collate_fn=len)
        fitted.fit(X, y)
        assert fitted.predict_proba(X).shape == (60, 2)
    # An InMemoryDataset given as X is batched from memory too.
    with pytest.raises(ValueError, match="apply to torch Dataset inputs only"):
        RSFTClassifier(
            module=torch.nn.Linear,
            module__in_features=3,
            module__out_features=2,
            max_epochs=1,
            iterator_train__sampler=ones,
            iterator_train__shuffle=False,
        ).fit(InMemoryDataset(torch.as_tensor(X), torch.as_tensor(y)), y)
    # Options of loading alone change nothing that is trained: a warning, at
    # the caller's line; DataLoader's own defaults are no option.
    with pytest.warns(
        UserWarning, match=r"\['num_workers'\] of iterator_train are ignored"
    ) as record:
        warned = RSFTClassifier(
            max_epochs=1, random_state=0, iterator_train__num_workers=2
        ).fit(X, y)
    assert record[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        RSFTClassifier(
            max_epochs=1,
            iterator_train__num_workers=0,
            iterator_train__pin_memory=False,
        ).fit(X, y)
    plain = RSFTClassifier(max_epochs=1, random_state=0).fit(X, y)
    np.testing.assert_array_equal(warned.predict_proba(X), plain.predict_proba(X))
    # With a DataLoader, the sampler decides the rows.
    clf = RSFTClassifier(
        max_epochs=1,
        iterator_train=DataLoader,
        iterator_train__sampler=ones,
        iterator_train__shuffle=False,
        callbacks=[("labels", BatchLabels())],
        train_split=None,
    ).fit(X, y)
    seen = sum(dict(clf.callbacks_)["labels"].batches, [])
    assert len(seen) == 15 and set(seen) == {1}


def test_drop_last_that_leaves_no_batch_is_named_in_every_mode():
    # "every row rejected ... Lower M" was said where nothing was rejected.
    X = np.random.default_rng(0).normal(size=(120, 3)).astype(np.float32)
    y = np.arange(120) % 2
    for rejection in ("expected", "pool"):
        clf = RSFTClassifier(
            rejection=rejection,
            max_epochs=1,
            batch_size=500,
            iterator_train__drop_last=True,
        )
        with pytest.warns(UserWarning, match="120 rows, fewer than one batch"):
            clf.fit(X, y)


class _Rows(torch.utils.data.Dataset):
    """A torch Dataset of inputs only (fit pairs them with y)."""

    def __init__(self, X):
        self.X = torch.as_tensor(X)

    def __len__(self):
        return len(self.X)

    def __getitem__(self, i):
        return self.X[i]


def _pairs(rows):
    # A collate of its own that returns (X, y) and nothing else.
    return torch.stack([r[0] for r in rows]), torch.as_tensor([int(r[1]) for r in rows])


def _with_lengths(rows):
    # A collate that adds a per-row element of its own (lengths, say).
    X, y = _pairs(rows)
    return X, y, torch.arange(len(rows)) % 3


@pytest.mark.parametrize("rejection", ["sample", "expected"])
def test_a_collate_fn_must_carry_the_fits_sample_weights_and_nothing_else(rejection):
    X = np.random.default_rng(0).normal(size=(60, 3)).astype(np.float32)
    y = (np.arange(60) % 3 == 0).astype(int)
    kw = dict(
        module=torch.nn.Linear,
        module__in_features=3,
        module__out_features=2,
        max_epochs=1,
        rejection=rejection,
        warmup_epochs=0,
        random_state=0,
        train_split=None,
    )
    # The third element was read as sample weights (0, 1, 2, 0, ...) of a
    # fit that had none.
    with pytest.raises(ValueError, match="third element"):
        RSFTClassifier(**kw, iterator_train__collate_fn=_with_lengths).fit(_Rows(X), y)
    # A collate that dropped the fit's weights trained its rows of weight 0.
    weight = np.where(np.arange(60) % 2 == 0, 0.0, 3.0)
    with pytest.raises(ValueError, match="came without them"):
        RSFTClassifier(**kw, iterator_train__collate_fn=_pairs).fit(
            _Rows(X), y, sample_weight=weight
        )
    # Batches that match the fit train as before.
    RSFTClassifier(**kw, iterator_train__collate_fn=_pairs).fit(_Rows(X), y)
    RSFTClassifier(**kw).fit(_Rows(X), y, sample_weight=weight)


def test_reversed_views_are_taken_as_their_copies():
    # torch refuses negative strides: X[::-1] and np.flip failed in fit,
    # partial_fit and predict, where scikit-learn's estimators take them.
    rng = np.random.RandomState(0)
    X = rng.randn(80, 4).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)
    params = dict(max_epochs=2, random_state=0, batch_size=16)
    flipped, labels = X[::-1, ::-1], y[::-1]
    view = RSFTClassifier(**params).fit(flipped, labels)
    copy = RSFTClassifier(**params).fit(flipped.copy(), labels.copy())
    np.testing.assert_array_equal(
        view.predict_proba(flipped), copy.predict_proba(flipped.copy())
    )
    view.partial_fit(np.flip(X, axis=0), y[::-1])
    assert view.predict(X[::-1]).shape == (80,)
    images = rng.randn(40, 1, 3, 3).astype(np.float32)[:, :, ::-1, ::-1]
    flat = RSFTClassifier(**params).fit(images, y[:40])
    np.testing.assert_array_equal(
        flat.predict_proba(images), flat.predict_proba(images.copy())
    )


class _Viewing(torch.nn.Module):
    # Flattens with view, as many image networks do: a batch must be
    # row-major.
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(12, 2)

    def forward(self, X):
        return self.linear(X.view(len(X), -1))


@pytest.mark.parametrize("rejection", ["expected", "epoch"])
def test_batches_of_transposed_images_are_row_major(rejection):
    # Channel-last images turned channel-first (np.transpose) were cut into
    # batches of the same strides, on which view failed: in predict, and in
    # fit where it slices in order.
    rng = np.random.RandomState(0)
    X = np.transpose(rng.randn(60, 2, 3, 2).astype(np.float32), (0, 3, 1, 2))
    y = np.r_[np.zeros(40, dtype=int), np.ones(20, dtype=int)]
    params = dict(
        module=_Viewing,
        max_epochs=2,
        warmup_epochs=1,
        batch_size=16,
        random_state=0,
        rejection=rejection,
        iterator_train__shuffle=False,
    )
    clf = RSFTClassifier(**params).fit(X, y)
    reference = RSFTClassifier(**params).fit(np.ascontiguousarray(X), y)
    np.testing.assert_array_equal(
        clf.predict_proba(X), reference.predict_proba(np.ascontiguousarray(X))
    )


def test_row_methods_of_an_iterator_over_a_torch_dataset_name_the_problem():
    # They failed with "NoneType has no len()" and an AttributeError.
    iterator = BatchIterator(TensorDataset(torch.zeros(4, 2), torch.zeros(4)))
    with pytest.raises(ValueError, match="row_store reads an InMemoryDataset"):
        iterator.row_store()
    with pytest.raises(ValueError, match="holds a TensorDataset"):
        next(iterator.row_batches(2))
