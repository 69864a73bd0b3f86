"""The suites where networks are the tool: images, finetune, large; repeats
and the report's summary over the sets every method ran on."""

import warnings

import numpy as np
import pandas as pd
import pytest
import torch

from rsft_sklearn.benchmark import main
from rsft_sklearn.benchmark._methods import NEURAL_METHODS, make_method
from rsft_sklearn.benchmark._netsuites import long_tail_splits
from rsft_sklearn.benchmark._networks import CNN2d
from rsft_sklearn.benchmark._report import _coverage_groups
from rsft_sklearn.benchmark._runner import _splits
from rsft_sklearn.benchmark._suites import (
    SUITES,
    Dataset,
    halves,
    load_suite,
    repeats_for,
)


def _final(estimator):
    while True:
        if hasattr(estimator, "best_estimator_"):
            estimator = estimator.estimator
        elif hasattr(estimator, "steps"):
            estimator = estimator.steps[-1][1]
        elif hasattr(estimator, "module"):
            return estimator
        elif hasattr(estimator, "estimator"):
            estimator = estimator.estimator
        elif hasattr(estimator, "reference"):
            estimator = estimator.reference
        else:
            return estimator


def test_new_suites_are_registered_and_split_by_family():
    assert {"images", "finetune", "large"} <= set(SUITES)
    development, held_out = halves("images")
    assert len(development) == len(held_out) == 4
    # Both recipes of one long tail land on the same side.
    families = {name.rsplit("-", 1)[0] for name in development}
    assert not families & {name.rsplit("-", 1)[0] for name in held_out}


def test_every_neural_method_gets_the_sets_network():
    params = {"module": CNN2d, "module__n_classes": 10, "lr": 0.01}
    for method in NEURAL_METHODS:
        clf = _final(
            make_method(method, max_epochs=2, batch_size=8, seed=0, net_params=params)
        )
        assert clf.module is CNN2d, method
        assert clf.lr == 0.01, method


def test_set_callbacks_are_kept_beside_the_methods():
    from skorch.callbacks import Freezer

    params = {"callbacks": [("freeze", Freezer("features.*"))]}
    clf = _final(
        make_method(
            "logit-adjusted loss", max_epochs=2, batch_size=8, seed=0, net_params=params
        )
    )
    assert [name for name, _ in clf.callbacks] == ["freeze", "logit_adjustment_prior"]


def test_long_tail_splits_balanced_test_and_fresh_repeats():
    y = np.repeat(np.arange(4), 60)
    splits = long_tail_splits(y, 3, 0, ratio=50)
    assert len(splits) == 3
    for train, test in splits:
        assert not set(train) & set(test)
        assert np.bincount(y[test]).tolist() == [12] * 4
        counts = np.bincount(y[train])
        assert counts[0] == 48 and counts[-1] == 1
    assert not np.array_equal(splits[0][0], splits[1][0])


def test_sets_with_few_rare_rows_are_repeated():
    few = Dataset("few", np.zeros((60, 1)), np.repeat([0, 1], [40, 20]))
    many = Dataset("many", np.zeros((80, 1)), np.repeat([0, 1], [40, 40]))
    assert repeats_for(few, 1) == 3 and repeats_for(many, 1) == 1
    assert repeats_for(few, 5) == 5
    assert len(_splits(few, 2, 1, 0)) == 2 * 3


def test_large_loader_with_a_row_cap():
    (nursery,) = load_suite("large", datasets=["nursery"], max_rows=400)
    assert nursery.group == "large"
    assert len(nursery.y) == 400 and nursery.n_classes >= 3


@pytest.mark.slow
def test_images_suite_quick_run(tmp_path):
    out = tmp_path / "images"
    argv = [
        "--suite", "images", "--datasets", "digits-lt100-sgd", "--quick",
        "--max-rows", "150", "--epochs", "1",
        "--methods", "RSFT,logit-adjusted loss",
        "--n-jobs", "1", "--no-progress", "--out", str(out),
    ]  # fmt: skip
    assert main(argv) == 0
    frame = pd.read_csv(out / "results.csv")
    # Rarest training class under 30 rows: three repeats of one split each.
    assert sorted(frame["repeat"].unique()) == [0, 1, 2]
    assert len(frame) == 2 * 3 and (frame["status"] == "ok").all()
    # Balanced test part: every class has the same number of test rows.
    assert frame["n_test"].nunique() == 1
    report = (out / "report.md").read_text()
    assert "over repeats" in report
    # A fixed split per repeat, not the cross-validation of --folds.
    assert "Protocol: one split of every set per repeat" in report
    assert "fold cross-validation" not in report.split("- Row cap")[0]
    # --folds, accepted and ignored there, is refused.
    with pytest.raises(SystemExit) as excinfo:
        main([*argv[:-1], str(tmp_path / "never"), "--folds", "3"])
    assert excinfo.value.code == 2
    assert not (tmp_path / "never").exists()


@pytest.mark.slow
def test_pretrained_network_does_not_depend_on_the_callers_threads(tmp_path):
    # A CPU network trained on 1 or 2 threads ends with other weights; the
    # cached network must be the same whichever run made it, or a finetune
    # result depends on the thread count of the run that filled the cache.
    pytest.importorskip("mnist1d")
    from rsft_sklearn.benchmark._netsuites import pretrained_path

    before = torch.get_num_threads()
    states = []
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)
            path = pretrained_path("mnist1d", 0, 1, cache_dir=tmp_path / str(threads))
            assert torch.get_num_threads() == threads  # restored
            states.append(torch.load(path, weights_only=True))
    finally:
        torch.set_num_threads(before)
    one, two = states
    assert one.keys() == two.keys()
    for name in one:
        assert torch.equal(one[name], two[name]), name


def test_long_tail_notes_state_the_ratio_the_rows_give():
    # digits has about 180 rows a class: the tail of ratio 100 rounds to one
    # row, so the training parts' ratio is 139, which the note said was 100.
    (digits,) = load_suite("images", datasets=["digits-lt100-sgd"])
    train, _ = digits.splitter(digits.y, 1, 0)[0]
    counts = np.unique(digits.y[train], return_counts=True)[1]
    assert round(counts.max() / counts.min()) == 139
    assert "imbalance ratio 100 asked, 139 once the tail is rounded" in digits.notes[0]
    assert "1 row in the rarest class" in digits.notes[0]


def test_a_damaged_cached_network_is_trained_again(tmp_path):
    # A truncated file, or another network's weights under the name, was
    # reused as it was, and every fit that loaded it failed without naming it.
    from rsft_sklearn.benchmark._netsuites import pretrained_path

    path = pretrained_path("digits", 0, 1, cache_dir=tmp_path)
    good = torch.load(path, weights_only=True)
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.warns(UserWarning, match="does not load into the digits network"):
        again = pretrained_path("digits", 0, 1, cache_dir=tmp_path)
    assert again == path
    restored = torch.load(path, weights_only=True)
    assert all(torch.equal(restored[k], good[k]) for k in good)
    torch.save({"other": torch.zeros(3)}, path)
    with pytest.warns(UserWarning, match="training it again"):
        pretrained_path("digits", 0, 1, cache_dir=tmp_path)
    # A sound file is taken as it is, with no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pretrained_path("digits", 0, 1, cache_dir=tmp_path) == path
    # A folder at its place failed with IsADirectoryError after pretraining.
    path.unlink()
    path.mkdir()
    with pytest.raises(ValueError, match="is a folder where rsft-bench keeps"):
        pretrained_path("digits", 0, 1, cache_dir=tmp_path)


@pytest.mark.slow
def test_finetune_caches_and_freezes(tmp_path):
    cache = tmp_path / "cache"
    (head,) = load_suite(
        "finetune",
        datasets=["digits-lt100-ft-head"],
        max_rows=150,
        cache_dir=cache,
        pretrain_epochs=1,
    )
    (checkpoint,) = cache.iterdir()
    assert "digits" in checkpoint.name and "seed0" in checkpoint.name
    # A second load reuses the file.
    load_suite("finetune", datasets=["digits-lt100-ft-all"], cache_dir=cache,
               pretrain_epochs=1, max_rows=150)  # fmt: skip
    assert list(cache.iterdir()) == [checkpoint]
    ((train, _),) = head.splitter(head.y, 1, 0)
    pipe = make_method(
        "RSFT", max_epochs=1, batch_size=32, seed=0, net_params=head.net_params
    )
    pipe.fit(head.X[train], head.y[train])
    state = torch.load(checkpoint, weights_only=True)
    module = pipe["clf"].module_
    for name, value in module.state_dict().items():
        if name.startswith("features."):
            assert torch.equal(value, state[name]), name
    assert not torch.equal(module.head.weight[:2], state["head.weight"])


def test_summary_compares_on_common_sets():
    table = pd.DataFrame(
        {"RSFT": [0.8, 0.7, 0.6], "threshold tuning": [0.9, np.nan, np.nan]},
        index=["binary", "multi1", "multi2"],
    )
    groups = _coverage_groups(table, ["RSFT", "threshold tuning"])
    assert groups[0] == (["binary", "multi1", "multi2"], ["RSFT"])
    assert groups[1] == (["binary"], ["RSFT", "threshold tuning"])


@pytest.mark.parametrize("suite", ["default", "full", "keel"])
def test_a_set_keeps_its_side_in_every_suite_that_holds_it(suite):
    # Dealt within the default suite, three sets that the defaults were
    # tuned on (development halves of keel-all and longtail) were held out.
    from rsft_sklearn.benchmark._suites import HOME_SUITES, halves

    development, held_out = halves(suite)
    assert set(development).isdisjoint(held_out)
    for home in HOME_SUITES:
        home_development, home_held_out = halves(home)
        assert set(held_out).isdisjoint(home_development), home
        assert set(development).isdisjoint(home_held_out), home


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"side": 0}, ValueError, "side must be a whole number >= 2, got 0"),
        ({"side": -4}, ValueError, "side must be a whole number >= 2, got -4"),
        ({"side": 1}, ValueError, "side must be a whole number >= 2, got 1"),
        ({"side": "8"}, TypeError, "side must be a whole number >= 2"),
    ],
)
def test_cnn_refuses_sides_it_cannot_pool(kwargs, error, match):
    # A side of 0 built a Linear(0, 128), a negative one built too.
    with pytest.raises(error, match=match):
        CNN2d(10, **kwargs)


def test_cnn_names_the_rows_it_takes():
    import torch

    net = CNN2d(10)
    assert net(torch.zeros(2, 64)).shape == net(torch.zeros(2, 1, 8, 8)).shape
    # Three channels failed in torch's reshape; (2, 32) was read as 8 x 8.
    for shape in ((2, 3, 8, 8), (2, 2, 32)):
        with pytest.raises(ValueError, match=r"rows of 64 values .* got rows of"):
            net(torch.zeros(shape))
