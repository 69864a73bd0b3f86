"""BatchIterator's options: ``batch_size=-1`` with ``drop_last``, and the
DataLoader options that batches cut from memory cannot follow."""

import warnings

import numpy as np
import pytest
import torch
from torch.utils.data import SequentialSampler, Subset, TensorDataset

from rsft_sklearn import BatchIterator, InMemoryDataset, RSFTClassifier


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.2).astype(np.int64)
    X = rng.normal(size=(n, 8)) + y[:, None]
    return X.astype(np.float32), y


def _labels(batches):
    return [batch[1].tolist() for batch in batches]


@pytest.mark.parametrize("rejection", ["expected", "sample", "pool", "epoch", "budget"])
def test_whole_set_batch_is_never_dropped_by_drop_last(rejection):
    # batch_size=-1 became len(X) before the epoch's selection; the kept
    # rows then made an "incomplete" batch that drop_last left out: epochs
    # trained [1, 0, 0] batches under "pool" and "epoch", [0, 0, 0] under
    # "budget", with a warning that an epoch trained on no row.
    X, y = _data()
    params = dict(
        rejection=rejection,
        max_epochs=3,
        warmup_epochs=1,
        batch_size=-1,
        M=4.0,
        module__hidden_layer_sizes=(16,),
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        dropping = RSFTClassifier(**params, iterator_train__drop_last=True).fit(X, y)
    plain = RSFTClassifier(**params).fit(X, y)
    assert dropping.history[:, "train_batch_count"] == [1, 1, 1]
    # One batch of the epoch's rows: drop_last changes nothing.
    sizes = dropping.history[:, "batches", :, "train_batch_size"]
    assert sizes == plain.history[:, "batches", :, "train_batch_size"]
    np.testing.assert_array_equal(dropping.predict_proba(X), plain.predict_proba(X))
    if rejection in ("pool", "epoch", "budget"):
        # The kept rows, not all of them.
        assert all(0 < size < len(X) for (size,) in sizes[1:])
        if rejection == "budget":
            # The warm-up keeps a random share budget=0.5 too.
            assert 0 < sizes[0][0] < len(X)
    else:
        assert sizes == [[len(X)]] * 3


def test_whole_set_training_iterator_keeps_no_drop_last():
    X, y = _data(n=40)
    net = RSFTClassifier(
        max_epochs=1, batch_size=-1, iterator_train__drop_last=True, random_state=0
    ).fit(X, y)
    ds = net.get_dataset(X, y)
    train = net.get_iterator(ds, training=True)
    assert train.batch_size == len(X) and not train.drop_last
    # A batch size of its own keeps drop_last.
    net.set_params(batch_size=16)
    train = net.get_iterator(ds, training=True)
    assert train.batch_size == 16 and train.drop_last


@pytest.mark.parametrize(
    "option, batch_size, expected",
    [
        ({"sampler": [4, 5]}, 4, [[1, 1]]),
        # DataLoader takes a batch_sampler with its default batch size only.
        ({"batch_sampler": [[4, 5]]}, 1, [[1, 1]]),
        ({"collate_fn": lambda rows: len(rows)}, 4, [4, 2]),
    ],
    ids=["sampler", "batch_sampler", "collate_fn"],
)
def test_batch_iterator_refuses_row_options_for_in_memory_data(
    option, batch_size, expected
):
    # Ignored without a word: sampler=[4, 5] (class 1 only) yielded
    # [[0, 0, 0, 0], [1, 1]], every row; a collate_fn was never called.
    X = torch.arange(12.0).reshape(6, 2)
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    (name,) = option
    for dataset in (InMemoryDataset(X, y), Subset(InMemoryDataset(X, y), [5, 4, 0])):
        with pytest.raises(
            ValueError,
            match=rf"\['{name}'\] apply to torch Dataset inputs only.*Subset",
        ):
            BatchIterator(dataset, batch_size=batch_size, **option)
    # A torch Dataset goes through a DataLoader, which follows them.
    loader = BatchIterator(TensorDataset(X, y), batch_size=batch_size, **option)
    batches = list(loader) if name == "collate_fn" else _labels(loader)
    assert batches == expected


def test_batch_iterator_takes_default_and_loading_options_in_memory():
    X = torch.arange(12.0).reshape(6, 2)
    y = torch.tensor([0, 0, 0, 0, 1, 1])
    dataset = InMemoryDataset(X, y)
    # DataLoader's defaults are no option; loading options change no batch.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        iterator = BatchIterator(
            dataset,
            batch_size=4,
            sampler=None,
            batch_sampler=None,
            collate_fn=None,
            num_workers=0,
            pin_memory=False,
        )
    assert _labels(iterator) == [[0, 0, 0, 0], [1, 1]]
    # What the message offers: a Subset visits the sampler's rows.
    assert _labels(BatchIterator(Subset(dataset, [4, 5]), batch_size=4)) == [[1, 1]]


def test_dataset_fit_with_row_options_predicts_on_arrays():
    # A fit on a torch Dataset may give its iterators a sampler and a
    # collate_fn; prediction on arrays batches them from memory, in order,
    # as it did before BatchIterator refused these options.
    X, y = _data(n=60)
    ds = TensorDataset(torch.as_tensor(X), torch.as_tensor(y))
    order = SequentialSampler(range(len(X)))
    params = dict(
        module__n_features=8,
        module__n_classes=2,
        max_epochs=2,
        batch_size=16,
        random_state=0,
    )
    plain = RSFTClassifier(**params, iterator_train__shuffle=False).fit(ds, y)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optioned = RSFTClassifier(
            **params,
            iterator_train__shuffle=False,
            iterator_train__sampler=order,
            iterator_valid__sampler=order,
            iterator_valid__collate_fn=torch.utils.data.default_collate,
        ).fit(ds, y)
        proba = optioned.predict_proba(X)
        # A prediction pass with training=True reads iterator_train's.
        forward = optioned.forward(X, training=True)
    np.testing.assert_array_equal(proba, plain.predict_proba(X))
    assert forward.shape == (len(X), 2)
    # In training on arrays, they are refused, as before.
    with pytest.raises(ValueError, match="apply to torch Dataset inputs only"):
        RSFTClassifier(**params, iterator_train__sampler=order).fit(X, y)
