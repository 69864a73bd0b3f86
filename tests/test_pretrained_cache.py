"""The finetune suite's pretrained networks: a damaged or foreign cache file
is trained again, the weights travel with the data set, a resume checks
the network, and loading MNIST-1D leaves the caller's generators alone."""

import json
import pickle
import random
import shutil
import struct
import warnings
import zipfile

import numpy as np
import pytest
import torch

from rsft_sklearn.benchmark import main
from rsft_sklearn.benchmark._netsuites import pretrained_path
from rsft_sklearn.benchmark._networks import CNN2d
from rsft_sklearn.benchmark._runner import _splits, run_fold
from rsft_sklearn.benchmark._suites import load_suite

CONFIG = {"epochs": 1, "batch_size": 64, "seed": 0, "folds": 5}


def _tensor_bytes_at(path):
    """Offset of the middle of the file's largest record (a weight matrix)."""
    raw = path.read_bytes()
    with zipfile.ZipFile(path) as archive:
        record = max(archive.infolist(), key=lambda info: info.file_size)
    start = record.header_offset
    name_length, extra_length = struct.unpack("<HH", raw[start + 26 : start + 30])
    return start + 30 + name_length + extra_length + record.file_size // 2


def _same(one, two):
    return one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)


@pytest.fixture
def cached(tmp_path):
    """A digits network pretrained for one epoch, and its weights."""
    path = pretrained_path("digits", 0, 1, cache_dir=tmp_path)
    return path, torch.load(path, weights_only=True)


@pytest.mark.parametrize(
    "damage", [b"\xff" * 64, b"\x00\x00\xc0\x7f" * 16], ids=["flipped", "nan"]
)
def test_bytes_changed_inside_a_weight_record_are_found(cached, damage):
    # 64 bytes changed inside a weight record loaded as they were: 16
    # weights altered, or 16 NaNs that failed every fit as overflowing.
    path, good = cached
    raw = bytearray(path.read_bytes())
    at = _tensor_bytes_at(path)
    raw[at : at + 64] = damage
    path.write_bytes(bytes(raw))
    changed = torch.load(path, weights_only=True)
    assert not _same(changed, good)  # torch reads it without a word
    with pytest.warns(
        UserWarning, match=r"record 'data/\d+' fails its CRC check\); training it again"
    ):
        again = pretrained_path("digits", 0, 1, cache_dir=path.parent)
    assert again == path
    assert _same(torch.load(path, weights_only=True), good)


def test_weights_that_are_not_finite_are_trained_again(cached):
    # A sound file (its CRCs agree) of weights that are not finite.
    path, good = cached
    state = {name: value.clone() for name, value in good.items()}
    state["features.0.weight"][0, 0, 0, :2] = torch.tensor([np.nan, np.inf])
    torch.save(state, path)
    with pytest.warns(UserWarning, match="holds weights that are not finite"):
        pretrained_path("digits", 0, 1, cache_dir=path.parent)
    assert _same(torch.load(path, weights_only=True), good)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert pretrained_path("digits", 0, 1, cache_dir=path.parent) == path


def test_a_network_of_another_pretraining_is_not_reused(cached, monkeypatch):
    # The name held only source, seed and epochs: a file made by another
    # version or with another share of rows set aside was taken as it was.
    from rsft_sklearn.benchmark import _netsuites

    path, good = cached
    monkeypatch.setattr(_netsuites, "PRETRAIN_FRACTION", 0.3)
    other = pretrained_path("digits", 0, 1, cache_dir=path.parent)
    assert other != path and other.parent == path.parent
    assert other.name.startswith("pretrained-digits-seed0-e1-1thread-")
    # Trained on other rows: other weights.
    assert not _same(torch.load(other, weights_only=True), good)


def test_numpy_integers_name_the_same_file(cached):
    # The key is built from reprs: np.int64(0) as the seed named another
    # file for the same network, which was trained again.
    path, _ = cached
    assert (
        pretrained_path("digits", np.int64(0), np.int64(1), cache_dir=path.parent)
        == path
    )
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]


@pytest.mark.parametrize("package", ["torch", "rsft_sklearn"])
def test_a_network_of_another_version_is_not_reused(cached, monkeypatch, package):
    import importlib

    from rsft_sklearn.benchmark import _netsuites

    path, _ = cached
    trained = []
    real_source = _netsuites._source

    def source(name):
        trained.append(name)
        return real_source(name)

    monkeypatch.setattr(_netsuites, "_source", source)
    assert pretrained_path("digits", 0, 1, cache_dir=path.parent) == path
    assert trained == []
    monkeypatch.setattr(importlib.import_module(package), "__version__", "0.0.1")
    assert pretrained_path("digits", 0, 1, cache_dir=path.parent) != path
    assert trained == ["digits"]


def test_the_weights_travel_with_the_data_set(tmp_path):
    # A Dask worker on another machine opened the client's cache path and
    # every finetune fit failed with FileNotFoundError.
    cache = tmp_path / "cache"
    (dataset,) = load_suite(
        "finetune", datasets=["digits-lt50-ft-all"], cache_dir=cache, pretrain_epochs=1
    )
    train, test = _splits(dataset, 5, 1, 0)[0]
    here = run_fold(dataset, "RSFT", 0, train, test, CONFIG, 1)
    assert here["status"] == "ok", here["error"]
    shutil.rmtree(cache)
    elsewhere = pickle.loads(pickle.dumps(dataset))
    there = run_fold(elsewhere, "RSFT", 0, train, test, CONFIG, 1)
    assert there["status"] == "ok", there["error"]
    assert there["balanced_accuracy"] == here["balanced_accuracy"] > 0.2
    # The estimator's parameters name the file; they do not print tensors.
    pretrained = dataset.net_params["module__pretrained"]
    assert repr(pretrained).startswith("PretrainedState('pretrained-digits-seed0-e1")
    assert "tensor(" not in repr(dataset.net_params)
    assert len(repr(dataset.net_params)) < 300
    # Small enough to send to every worker (about 0.6 MB of weights).
    assert len(pickle.dumps(pretrained)) < 2_000_000


def test_a_network_from_a_mapping_equals_one_from_its_file(cached):
    from rsft_sklearn.benchmark._networks import PretrainedState

    path, good = cached
    torch.manual_seed(3)
    from_file = CNN2d(10, pretrained=path).state_dict()
    torch.manual_seed(3)
    from_state = CNN2d(10, pretrained=PretrainedState(good, path.name)).state_dict()
    assert _same(from_file, from_state)
    assert torch.equal(from_state["features.0.weight"], good["features.0.weight"])
    with pytest.raises(ValueError, match=r"^net\.pt: not a checkpoint"):
        CNN2d(10, pretrained=PretrainedState({"x": torch.zeros(1)}, "net.pt"))


@pytest.mark.slow
@pytest.mark.distributed
def test_a_dask_worker_without_the_cache_folder_fits_the_same_rows(tmp_path):
    distributed = pytest.importorskip("distributed")
    from rsft_sklearn.benchmark._runner import _rows_on_dask

    cache = tmp_path / "cache"
    (dataset,) = load_suite(
        "finetune", datasets=["digits-lt50-ft-head"], cache_dir=cache, pretrain_epochs=1
    )
    train, test = _splits(dataset, 5, 1, 0)[0]
    here = run_fold(dataset, "RSFT", 0, train, test, CONFIG, 1)
    # The workers' machine has no such folder.
    shutil.rmtree(cache)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        tasks = [(dataset, "RSFT", 0, train, test)]
        (there,) = list(_rows_on_dask(client, tasks, CONFIG, 1))
    assert there["status"] == "ok", there["error"]
    assert there["balanced_accuracy"] == here["balanced_accuracy"]


def test_a_resume_on_another_pretrained_network_is_refused(tmp_path, capsys):
    # A cache file replaced between a run and its resume: the new fits
    # started from the other network, beside the old rows, in one table.
    cache, out = tmp_path / "cache", tmp_path / "run"
    argv = [
        "--suite", "finetune", "--quick", "--datasets", "digits-lt100-ft-all",
        "--epochs", "1", "--threads", "1", "--n-jobs", "1", "--no-progress",
        "--cache-dir", str(cache), "--out", str(out),
    ]  # fmt: skip
    assert main([*argv, "--methods", "RSFT"]) == 0
    rows = (out / "results.csv").read_text()
    written = (out / "run.json").read_text()
    assert "tensor(" not in written and "PretrainedState" not in written
    (path,) = cache.iterdir()
    # The same network resumes.
    assert main([*argv, "--methods", "RSFT"]) == 0
    torch.manual_seed(1)
    torch.save(CNN2d(2).state_dict(), path)
    with pytest.raises(SystemExit):
        main([*argv, "--methods", "RSFT,focal loss"])
    err = capsys.readouterr().err
    assert "data set 'digits-lt100-ft-all' has other content" in err
    assert (out / "results.csv").read_text() == rows
    config = json.loads((out / "run.json").read_text())
    assert config["methods"] == ["RSFT"]
    # A folder of a version that recorded the data alone resumes as before.
    name = "digits-lt100-ft-all"
    data, network = config["fingerprints"][name].split("-")
    config["fingerprints"][name] = data
    config["datasets"][0]["fingerprint"] = data
    (out / "run.json").write_text(json.dumps(config))
    assert main([*argv, "--methods", "RSFT"]) == 0
    config = json.loads((out / "run.json").read_text())
    assert config["fingerprints"][name] != f"{data}-{network}"


@pytest.mark.parametrize(
    ("suite", "name"), [("images", "mnist1d-lt50-adam"), ("longtail", "mnist1d-lt")]
)
def test_loading_mnist1d_leaves_pythons_random_alone(suite, name):
    # mnist1d seeds Python's random (and numpy's) to 42; numpy's state was
    # given back, random's was not.
    pytest.importorskip("mnist1d")
    random.seed(2024)
    expected = [random.random() for _ in range(3)]
    random.seed(2024)
    np.random.seed(5)  # noqa: NPY002
    numpy_expected = np.random.random(3)  # noqa: NPY002
    np.random.seed(5)  # noqa: NPY002
    load_suite(suite, datasets=[name], seed=0)
    assert [random.random() for _ in range(3)] == expected
    assert np.array_equal(np.random.random(3), numpy_expected)  # noqa: NPY002
