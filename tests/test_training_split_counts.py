"""What fit counts from the data comes from the training part of train_split.

With a validation split (skorch's ``ValidSplit``, a split of one's own), the
class prior, the class target weights, the strata and the sample weights'
mean were counted over every row of the call, the validation rows too: a
split by group whose training part held 90% of class 0 trained with the
prior of all the rows, 50%, and ``target="balanced"`` balanced nothing.

The module is also the worker of the two-process check: ``torchrun`` runs it
as a script.
"""

import os
import pickle
import sys
import warnings

import numpy as np
import pytest
import torch
from _scripts import launch_processes
from sklearn.model_selection import GroupKFold
from skorch.callbacks import Callback
from skorch.dataset import Dataset, ValidSplit
from skorch.helper import predefined_split
from torch.utils.data import ConcatDataset, Subset

from rsft_sklearn import RSFTClassifier, RSFTWarning

FAST = dict(
    max_epochs=3,
    lr=0.02,
    batch_size=32,
    module__hidden_layer_sizes=(8,),
    random_state=0,
)


def _data(n=200, seed=0):
    """Four groups: in groups 0 and 2 class 1 is rare, in 1 and 3 common, so
    that GroupKFold(2), which trains on groups 0 and 2 first, moves the class
    frequencies."""
    rng = np.random.RandomState(seed)
    groups = np.repeat([0, 1, 2, 3], n // 4)
    common = rng.rand(n) < np.where(groups % 2 == 0, 0.1, 0.9)
    y = common.astype(int)
    X = rng.randn(n, 4).astype(np.float32)
    X[:, 0] += 1.5 * y
    weight = rng.uniform(0.2, 3.0, n)
    return X, y, groups, weight


class _Parts(Callback):
    """The rows of the training and the validation part, as every epoch of
    every call sees them."""

    def __init__(self):
        self.parts = []

    def on_epoch_begin(self, net, dataset_train=None, dataset_valid=None, **kw):
        self.parts.append((_flat_indices(dataset_train), _flat_indices(dataset_valid)))


class _OwnSplit:
    """A split of one's own: nested Subsets of what it is given, on a fixed
    shuffle; counts its calls."""

    def __init__(self):
        self.calls = 0

    def __call__(self, dataset, y=None):
        self.calls += 1
        order = np.random.RandomState(5).permutation(len(dataset))
        most = Subset(dataset, order[: len(order) * 3 // 4])
        train = Subset(most, np.arange(len(most.indices) // 2, len(most.indices)))
        valid = Subset(dataset, order[len(order) * 3 // 4 :])
        return train, valid


def _splits():
    return {
        "group": (lambda: ValidSplit(GroupKFold(2)), True),
        "shuffled": (lambda: ValidSplit(0.5, stratified=False), False),
        "stratified": (lambda: ValidSplit(4, stratified=True), False),
        "own": (_OwnSplit, False),
    }


def _fit_with_split(name, X, y, groups, weight=None, **params):
    make, by_group = _splits()[name]
    parts = _Parts()
    clf = RSFTClassifier(train_split=make(), callbacks=[parts], **{**FAST, **params})
    given = groups if by_group or params.get("target") == "balanced_groups" else None
    clf.fit(X, y, sample_weight=weight, groups=given)
    # Every epoch trains and validates on the same rows, which split the call's.
    train, valid = parts.parts[0]
    for epoch_train, epoch_valid in parts.parts:
        np.testing.assert_array_equal(epoch_train, train)
        np.testing.assert_array_equal(epoch_valid, valid)
    assert not set(train) & set(valid)
    return clf, train, valid


@pytest.mark.parametrize("name", list(_splits()))
def test_the_prior_is_that_of_the_training_part(name):
    X, y, groups, _ = _data()
    clf, train, valid = _fit_with_split(name, X, y, groups)
    expected = np.bincount(y[train], minlength=2) / len(train)
    np.testing.assert_allclose(clf.class_prior_, expected, rtol=1e-12)
    if name == "group":
        # The split moved the frequencies: the old count, over every row,
        # was far from them.
        assert np.abs(np.bincount(y) / len(y) - expected).max() > 0.3
        # target="balanced" weighs the training part's rare class 1.
        rare = np.argmin(expected)
        assert clf.class_target_weight_[rare] == 1.0
        assert clf.class_target_weight_[1 - rare] < 0.5
    # get_split_datasets, called on the fitted estimator, gives the rows it
    # trained and validated on (a group splitter takes the groups there).
    extra = {"groups": groups} if name == "group" else {}
    train_ds, valid_ds = clf.get_split_datasets(X, y, **extra)
    np.testing.assert_array_equal(_flat_indices(train_ds), train)
    np.testing.assert_array_equal(_flat_indices(valid_ds), valid)


def _flat_indices(part):
    rows = None
    while isinstance(part, Subset):
        indices = np.asarray(part.indices)
        rows = indices if rows is None else indices[rows]
        part = part.dataset
    return rows


@pytest.mark.parametrize(
    "name, options",
    [
        ("group", {}),
        ("group", {"weighted": True}),
        ("group", {"target": "balanced_groups"}),
        ("shuffled", {"weighted": True}),
        ("stratified", {"rejection": "sample"}),
        ("own", {"weighted": True}),
    ],
)
def test_a_split_fit_is_the_fit_of_its_training_rows(name, options):
    # The same rows given alone, with the validation rows as a predefined
    # split, train the same network: everything counted from the data is
    # the training part's.
    X, y, groups, weight = _data()
    options = dict(options)
    weight = weight if options.pop("weighted", False) else None
    split_fit, train, valid = _fit_with_split(name, X, y, groups, weight, **options)
    alone = RSFTClassifier(
        train_split=predefined_split(Dataset(X[valid], y[valid])), **FAST, **options
    ).fit(
        X[train],
        y[train],
        sample_weight=None if weight is None else weight[train],
        groups=groups[train] if options.get("target") == "balanced_groups" else None,
    )
    np.testing.assert_array_equal(split_fit.class_prior_, alone.class_prior_)
    np.testing.assert_array_equal(
        split_fit.class_target_weight_, alone.class_target_weight_
    )
    if "target" in options:
        np.testing.assert_array_equal(split_fit.groups_, alone.groups_)
        np.testing.assert_array_equal(
            split_fit.stratum_target_weight_, alone.stratum_target_weight_
        )
    for name_ in ("_rule_weight_sums", "_class_counts", "_class_rows"):
        np.testing.assert_array_equal(
            vars(split_fit).get(name_), vars(alone).get(name_), err_msg=name_
        )
    np.testing.assert_allclose(
        split_fit.history[:, "valid_loss"], alone.history[:, "valid_loss"], rtol=1e-6
    )
    np.testing.assert_allclose(
        split_fit.predict_proba(X), alone.predict_proba(X), rtol=0, atol=1e-6
    )


def test_a_sparse_split_fit_weighs_the_columns_of_its_training_rows():
    # The default MLP gets weights for the columns stored in the training
    # rows: a column stored in validation rows alone got weights that never
    # trained, which moved the predictions of the rows that hold it.
    import scipy.sparse as sp

    X, y, groups, _ = _data()
    rng = np.random.RandomState(1)
    dense = np.where(rng.rand(len(y), 30) < 0.2, rng.rand(len(y), 30), 0.0)
    dense[:, 0] += y
    # Columns 25 to 29 are stored in the rows of groups 1 and 3 alone, which
    # GroupKFold(2) validates on.
    in_valid = np.isin(groups, [1, 3])
    dense[~in_valid, 25:] = 0.0
    dense[in_valid, 25:] += 1.0
    X = sp.csr_matrix(dense.astype(np.float32))
    split_fit, train, valid = _fit_with_split("group", X, y, groups)
    assert not in_valid[train].any() and in_valid[valid].all()
    alone = RSFTClassifier(
        train_split=predefined_split(Dataset(X[valid], y[valid])), **FAST
    ).fit(X[train], y[train])
    columns = split_fit.module_.input_columns.numpy()
    assert columns.max() < 25
    np.testing.assert_array_equal(columns, alone.module_.input_columns.numpy())
    np.testing.assert_allclose(
        split_fit.predict_proba(X), alone.predict_proba(X), rtol=0, atol=1e-6
    )


def test_a_split_runs_once_per_call_and_leaves_nothing_behind():
    X, y, _, _ = _data()
    split = _OwnSplit()
    clf = RSFTClassifier(train_split=split, **FAST).fit(X, y)
    assert split.calls == 1
    clf.set_params(warm_start=True).fit(X, y)
    clf.partial_fit(X, y)
    assert split.calls == 3
    assert "_split_of_call" not in vars(clf)
    assert "_generators_seeded" not in vars(clf)
    # The pickle holds no part of the data.
    assert X[:, 1].tobytes()[:32] not in pickle.dumps(clf)


def test_continued_training_counts_the_training_parts_of_its_calls():
    X, y, groups, weight = _data(n=400)
    first, second = slice(0, 200), slice(200, 400)
    parts = _Parts()
    clf = RSFTClassifier(
        train_split=ValidSplit(0.5, stratified=False), callbacks=[parts], **FAST
    )
    clf.partial_fit(X[first], y[first], classes=[0, 1], sample_weight=weight[first])
    train_first = parts.parts[0][0]
    clf.partial_fit(X[second], y[second], sample_weight=weight[second], epochs=1)
    train_second = parts.parts[-1][0]
    rows = np.r_[train_first, 200 + train_second]
    counts = np.bincount(y[rows], weights=weight[rows], minlength=2)
    np.testing.assert_allclose(clf._class_counts, counts, rtol=1e-12)
    np.testing.assert_allclose(clf.class_prior_, counts / counts.sum(), rtol=1e-12)
    np.testing.assert_array_equal(clf._class_rows, np.bincount(y[rows], minlength=2))
    # A fit with warm_start continues on its call's training part too.
    clf = RSFTClassifier(
        train_split=ValidSplit(GroupKFold(2)), callbacks=[parts], **FAST
    ).fit(X[first], y[first], groups=groups[first])
    train_first = parts.parts[-1][0]
    clf.set_params(warm_start=True).fit(X[second], y[second], groups=groups[second])
    train_second = parts.parts[-1][0]
    rows = np.r_[train_first, 200 + train_second]
    np.testing.assert_allclose(
        clf.class_prior_, np.bincount(y[rows]) / len(rows), rtol=1e-12
    )


def _state(clf):
    return {
        key: value.copy() if isinstance(value, np.ndarray) else value
        for key, value in vars(clf).items()
        if key
        in ("class_prior_", "class_target_weight_", "init_seed_", "_class_counts")
    }


def test_a_refused_split_leaves_the_fitted_estimator_as_it_was():
    X, y, _, _ = _data()
    clf = RSFTClassifier(train_split=ValidSplit(GroupKFold(2)), **FAST)
    clf.fit(X, y, groups=np.arange(len(y)) % 2)
    before, proba = _state(clf), clf.predict_proba(X).tobytes()
    # Groups that put each class in a part of its own.
    with pytest.raises(ValueError, match="left 1 class in the training part"):
        clf.fit(X, y, groups=y)
    # A split that fails in scikit-learn: more folds than groups.
    clf.set_params(train_split=ValidSplit(GroupKFold(5)))
    with pytest.raises(ValueError, match="greater than the number of groups"):
        clf.fit(X, y, groups=np.arange(len(y)) % 2)
    after = _state(clf)
    assert before.keys() == after.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    assert clf.predict_proba(X).tobytes() == proba
    assert "_split_of_call" not in vars(clf)


def test_a_split_whose_rows_are_unknown_is_named():
    # A training part that is no Subset of what the split was given: its
    # rows cannot be counted, and the counts over every row are said to be
    # so.
    X, y, _, _ = _data()

    def merged(dataset, y=None):
        return ConcatDataset([Subset(dataset, np.arange(150))]), Subset(
            dataset, np.arange(150, 200)
        )

    with pytest.warns(UserWarning, match="rows it trains on are unknown"):
        clf = RSFTClassifier(train_split=merged, **FAST).fit(X, y)
    np.testing.assert_allclose(clf.class_prior_, np.bincount(y) / len(y))


@pytest.mark.parametrize("split", ["none", "predefined"])
def test_without_a_split_of_its_own_every_row_counts(split):
    X, y, _, _ = _data()
    train_split = None if split == "none" else predefined_split(Dataset(X[:50], y[:50]))
    clf = RSFTClassifier(train_split=train_split, **FAST).fit(X, y)
    np.testing.assert_allclose(clf.class_prior_, np.bincount(y) / len(y))


def test_one_accelerated_process_counts_the_training_part():
    pytest.importorskip("accelerate")
    from accelerate import Accelerator

    from rsft_sklearn import AccelerateRSFTClassifier

    X, y, groups, _ = _data()
    params = dict(train_split=ValidSplit(0.5, stratified=False), **FAST)
    accelerated = AccelerateRSFTClassifier(
        accelerator=Accelerator(cpu=True), **params
    ).fit(X, y)
    plain = RSFTClassifier(**params).fit(X, y)
    train, _ = plain.get_split_datasets(X, y)
    np.testing.assert_allclose(
        accelerated.class_prior_, np.bincount(y[train.indices]) / len(train)
    )
    np.testing.assert_array_equal(accelerated.class_prior_, plain.class_prior_)
    np.testing.assert_array_equal(accelerated.predict_proba(X), plain.predict_proba(X))


def _worker(out_dir):
    from accelerate import Accelerator

    from rsft_sklearn import AccelerateRSFTClassifier

    accelerator = Accelerator(cpu=True)
    X, y, _, weight = _data()
    parts = _Parts()
    # random_state=None: each process would draw its own seed, and with it
    # its own split.
    clf = AccelerateRSFTClassifier(
        accelerator=accelerator,
        train_split=ValidSplit(0.5, stratified=False),
        callbacks=[parts],
        **{**FAST, "random_state": None},
    ).fit(X, y, sample_weight=weight)
    result = {
        "prior": clf.class_prior_,
        "target_weight": clf.class_target_weight_,
        "train": parts.parts[0][0],
        "params": {k: v.cpu() for k, v in clf.module_.state_dict().items()},
    }
    torch.save(result, os.path.join(out_dir, f"rank{accelerator.process_index}.pt"))
    accelerator.end_training()


@pytest.mark.distributed
def test_the_processes_count_the_same_training_part(tmp_path):
    pytest.importorskip("accelerate")
    done = launch_processes(__file__, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    first, second = (
        torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in range(2)
    )
    np.testing.assert_array_equal(first["train"], second["train"])
    _, y, _, weight = _data()
    train = first["train"]
    counts = np.bincount(y[train], weights=weight[train], minlength=2)
    for result in (first, second):
        np.testing.assert_allclose(result["prior"], counts / counts.sum(), rtol=1e-12)
        np.testing.assert_array_equal(result["target_weight"], first["target_weight"])
    for key, value in first["params"].items():
        assert torch.equal(value, second["params"][key]), key


if __name__ == "__main__":
    _worker(sys.argv[1])


def test_a_split_drawing_from_torch_leaves_the_callers_stream_alone():
    X, y, _, _ = _data()

    def split(dataset, y=None):
        return tuple(torch.utils.data.random_split(dataset, [0.75, 0.25]))

    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    RSFTClassifier(train_split=split, verbose=0, **FAST).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("state", ["instance", "global"])
def test_a_refused_split_fit_draws_nothing(state):
    # Refused after the split (a sampler on in-memory data): the seeds the
    # split drew are put back, as a refusal before any split draws none.
    X, y, _, _ = _data()
    kw = {**FAST, "random_state": None}
    if state == "instance":
        kw["random_state"] = rs = np.random.RandomState(0)
    else:
        rs = np.random.mtrand._rand  # NumPy's global RandomState
        rs.seed(1)
    clf = RSFTClassifier(
        train_split=ValidSplit(4), iterator_train__sampler=[0, 1], verbose=0, **kw
    )
    with pytest.raises(ValueError, match="sampler"):
        clf.fit(X, y)
    expected = np.random.RandomState(0 if state == "instance" else 1).rand()
    assert rs.rand() == expected
    assert "_random_state_before_call" not in clf.__dict__


def test_a_sparse_warm_start_refit_warns_of_no_validation_column():
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    X = sp.random(
        200, 300, density=0.01, format="csr", random_state=0, dtype=np.float32
    )
    y = rng.randint(0, 2, 200)
    clf = RSFTClassifier(
        train_split=ValidSplit(0.5, stratified=False), verbose=0, **FAST
    ).fit(X, y)
    train = clf.get_split_datasets(X, y)[0].indices
    assert clf.module_.input_columns.numel() == len(np.unique(X[train].indices))
    assert clf.module_.input_columns.numel() < len(np.unique(X.indices))
    clf.set_params(warm_start=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", category=RSFTWarning)
        clf.fit(X, y)
    assert len(clf.history) == 2 * FAST["max_epochs"]


@pytest.mark.parametrize("split", [ValidSplit(5), ValidSplit(0.25, stratified=False)])
def test_skorchs_valid_split_builds_the_data_set_once(split):
    # ValidSplit reads only the number of rows: the probe the split is made
    # on builds no data set (built on a device, a second copy of the data).
    X, y, _, _ = _data()
    built = []

    class Counted(Dataset):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(len(self))

    RSFTClassifier(dataset=Counted, train_split=split, verbose=0, **FAST).fit(X, y)
    assert built == [len(X)]


_PICKLES = []


class _PickledEachEpoch(Callback):
    """What Checkpoint(f_pickle=...) does: pickle the net mid-fit."""

    def on_epoch_end(self, net, **kwargs):
        _PICKLES.append(pickle.dumps(net))


def test_a_pickle_taken_during_a_split_fit_keeps_no_call_state():
    X, y, _, _ = _data()
    _PICKLES.clear()
    RSFTClassifier(
        train_split=ValidSplit(4),
        callbacks=[("pickled", _PickledEachEpoch())],
        verbose=0,
        **{**FAST, "random_state": np.random.RandomState(0)},
    ).fit(X, y)
    loaded = pickle.loads(_PICKLES[0])
    for name in (
        "_random_state_before_call",
        "_generators_seeded",
        "_split_of_call",
        "_split_groups",
    ):
        assert name not in vars(loaded), name
    # A refit of it refused after its split puts back the seeds it drew.
    rs = loaded.random_state
    expected = np.random.RandomState(0)
    expected.set_state(rs.get_state())
    loaded.set_params(iterator_train__sampler=[0, 1], callbacks=None)
    with pytest.raises(ValueError, match="sampler"):
        loaded.fit(X, y)
    assert rs.rand() == expected.rand()


def test_continued_sparse_training_warns_of_training_columns_only():
    import scipy.sparse as sp

    rng = np.random.RandomState(0)
    X = np.zeros((80, 6), dtype=np.float32)
    X[:, :4] = rng.rand(80, 4)
    X[[60, 61, 62], 5] = 1.0  # a column stored in validation rows only
    X = sp.csr_matrix(X)
    y = (rng.rand(80) < 0.4).astype(np.int64)

    def split(dataset, y=None):
        return Subset(dataset, list(range(60))), Subset(dataset, list(range(60, 80)))

    kw = {**FAST, "max_epochs": 1}
    for how in ("warm_start", "partial_fit"):
        clf = RSFTClassifier(train_split=split, verbose=0, **kw).fit(X, y)
        assert clf.module_.input_columns.tolist() == [0, 1, 2, 3]
        with warnings.catch_warnings():
            warnings.simplefilter("error", category=RSFTWarning)
            if how == "partial_fit":
                clf.partial_fit(X, y)
            else:
                clf.set_params(warm_start=True).fit(X, y)
        assert len(clf.history) == 2


def test_a_split_drawing_beside_a_threads_fit_warns_each_once():
    # Thread B's split draws from torch's global generator while thread A
    # trains: both fits warn, once each (the split is part of B's call).
    import threading

    X, y, _, _ = _data()
    a_training, b_drawn, a_done = (threading.Event() for _ in range(3))
    caught = []

    class Wait(Callback):
        def on_epoch_end(self, net, **kwargs):
            a_training.set()
            b_drawn.wait(20)

    def split(dataset, y=None):
        a_training.wait(20)
        rows = torch.randperm(len(dataset)).tolist()
        b_drawn.set()
        a_done.wait(20)
        return Subset(dataset, rows[:150]), Subset(dataset, rows[150:])

    def run(name, clf):
        clf.fit(X, y)
        if name == "A":
            a_done.set()

    def shown(message, *args, **kwargs):
        # (One handler for both threads: catch_warnings is not thread-safe.)
        if "Another fit ran in another thread" in str(message):
            caught.append(threading.current_thread().name)

    kw = {**FAST, "max_epochs": 2}
    threads = [
        threading.Thread(
            target=run,
            args=("A", RSFTClassifier(callbacks=[("w", Wait())], verbose=0, **kw)),
        ),
        threading.Thread(
            target=run, args=("B", RSFTClassifier(train_split=split, verbose=0, **kw))
        ),
    ]
    threads[0].name, threads[1].name = "A", "B"
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = shown
        for thread in threads[::-1]:
            thread.start()
        for thread in threads:
            thread.join(60)
    assert sorted(caught) == ["A", "B"]
