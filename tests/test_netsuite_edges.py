"""Edges of the images and finetune suites: a pretraining stopped by a
signal, a full cache disk, a row cap's long tail, and the options that do
not apply to these suites."""

import errno
import os
import pickle
import signal
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from skorch.callbacks import Callback

from rsft_sklearn.benchmark import _cli, _netsuites, _runner
from rsft_sklearn.benchmark._netsuites import pretrained_path
from rsft_sklearn.benchmark._runner import Terminated, terminate_as_interrupt
from rsft_sklearn.benchmark._suites import load_suite


class _SignalInSecondEpoch(Callback):
    """Calls the handler of ``signum`` after the first batch of the second
    epoch, as the signal would (the handler, not the signal, to make it
    deterministic)."""

    def __init__(self, signum):
        self.signum = signum

    def on_batch_end(self, net, **kwargs):
        if len(net.history) == 2 and len(net.history[-1, "batches"]) == 1:
            signal.getsignal(self.signum)(self.signum, None)


class _RaiseInFirstEpoch(Callback):
    """Raises ``KeyboardInterrupt`` at the end of the first epoch without a
    signal, which skorch swallows."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 1:
            raise KeyboardInterrupt


@pytest.fixture
def interrupting(monkeypatch):
    """``interrupting(callback)``: the pretraining runs ``callback``."""

    def patch(callback):
        real = _netsuites._pretraining

        def pretraining(module, seed, epochs):
            return real(module, seed, epochs).set_params(
                callbacks=[("interrupt", callback)]
            )

        monkeypatch.setattr(_netsuites, "_pretraining", pretraining)

    return patch


def _no_fits(monkeypatch, tmp_path):
    """Run nothing after loading: the fits and the report are skipped;
    the data sets a run would fit are appended to the list returned."""
    ran = []
    monkeypatch.setattr(
        "rsft_sklearn.benchmark._runner.run_benchmark",
        lambda datasets, methods, config, out, **kwargs: ran.append(config),
    )
    monkeypatch.setattr(
        "rsft_sklearn.benchmark._report.write_report",
        lambda out, config: tmp_path / "report.md",
    )
    return ran


@pytest.mark.parametrize(
    ("signum", "interruption"),
    [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, Terminated)],
    ids=["SIGINT", "SIGTERM"],
)
def test_a_signal_in_the_pretraining_is_raised_and_nothing_is_cached(
    tmp_path, interrupting, signum, interruption
):
    # skorch swallowed the KeyboardInterrupt (Terminated subclasses it):
    # the network of one epoch and a batch was cached under the name of
    # the two-epoch pretraining, and reused by every later run.
    interrupting(_SignalInSecondEpoch(signum))
    handlers = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    # SIGTERM is an interruption under rsft-bench (terminate_as_interrupt).
    with pytest.raises(KeyboardInterrupt) as excinfo, terminate_as_interrupt():
        pretrained_path("digits", 0, 2, cache_dir=tmp_path)
    assert type(excinfo.value) is interruption
    assert list(tmp_path.iterdir()) == []
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == (
        handlers
    )


def test_an_interrupt_that_skorch_swallowed_without_a_signal_caches_nothing(
    tmp_path, interrupting
):
    interrupting(_RaiseInFirstEpoch())
    with pytest.raises(
        KeyboardInterrupt,
        match=r"^the pretraining of the digits network stopped after 1 of its 2 "
        r"epochs; nothing was cached\.$",
    ):
        pretrained_path("digits", 0, 2, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("signum", "status"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_the_command_line_ends_as_interrupted_in_the_pretraining(
    tmp_path, monkeypatch, capsys, interrupting, signum, status
):
    # rsft-bench exited 0 and cached the part-trained network.
    interrupting(_SignalInSecondEpoch(getattr(signal, signum)))
    ran = _no_fits(monkeypatch, tmp_path)
    cache = tmp_path / "cache"
    argv = [
        "--suite", "finetune", "--datasets", "digits-lt100-ft-all",
        "--epochs", "2", "--methods", "RSFT", "--cache-dir", str(cache),
        "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    assert _cli.main(argv) == status
    assert ran == []
    assert list(cache.iterdir()) == []
    assert "\nInterrupted;" in capsys.readouterr().err


def test_a_signal_that_a_loader_swallowed_ends_the_run(tmp_path, monkeypatch, capsys):
    from rsft_sklearn.benchmark import _suites

    real = _suites.load_suite

    def swallowing(*args, **kwargs):
        try:
            signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)
        except KeyboardInterrupt:
            pass
        return real(*args, **kwargs)

    monkeypatch.setattr(_suites, "load_suite", swallowing)
    ran = _no_fits(monkeypatch, tmp_path)
    argv = ["--suite", "builtin", "--quick", "--out", str(tmp_path / "run")]
    assert _cli.main(argv) == 143
    assert ran == []
    assert "\nInterrupted;" in capsys.readouterr().err


class _FullDisk:
    """A file whose disk fills after 100 bytes: the write raises
    ``error``."""

    def __init__(self, path, error):
        self.file = open(path, "wb")  # noqa: SIM115 (closed by __exit__)
        self.error = error

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.file.close()

    def write(self, data):
        self.file.write(bytes(data[:100]))
        raise self.error


@pytest.mark.parametrize(
    ("error", "raised", "advice"),
    [
        (
            OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)),
            ValueError,
            "(No space left on device); free space there or choose another "
            "--cache-dir.",
        ),
        (
            OSError(errno.EROFS, os.strerror(errno.EROFS)),
            ValueError,
            "(Read-only file system); choose another --cache-dir.",
        ),
        (KeyboardInterrupt(), KeyboardInterrupt, None),
    ],
    ids=["ENOSPC", "EROFS", "interrupt"],
)
def test_a_failed_write_of_the_cache_leaves_no_file(
    tmp_path, monkeypatch, error, raised, advice
):
    # A full disk raised torch's "[enforce fail at inline_container.cc:672]"
    # and left pretrained-...pt.<pid>.tmp behind, which nothing removed.
    def full_disk(path, mode="r", *args, **kwargs):
        return _FullDisk(path, error)

    monkeypatch.setattr(_runner, "open", full_disk, raising=False)
    with pytest.raises(raised) as excinfo:
        pretrained_path("digits", 0, 1, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []
    if advice is not None:
        assert str(excinfo.value) == (
            f"--cache-dir: cannot write the pretrained network in "
            f"{str(tmp_path)!r} {advice}"
        )
    # With room again, the network is cached, and reused.
    monkeypatch.delattr(_runner, "open")
    path = pretrained_path("digits", 0, 1, cache_dir=tmp_path)
    assert list(tmp_path.iterdir()) == [path]
    state = torch.load(path, weights_only=True)
    assert pretrained_path("digits", 0, 1, cache_dir=tmp_path) == path
    assert all(torch.isfinite(value).all() for value in state.values())


def test_the_command_line_names_a_full_cache_folder(tmp_path, monkeypatch, capsys):
    def full_disk(path, mode="r", *args, **kwargs):
        return _FullDisk(path, OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))

    monkeypatch.setattr(_runner, "open", full_disk, raising=False)
    ran = _no_fits(monkeypatch, tmp_path)
    cache = tmp_path / "cache"
    argv = [
        "--suite", "finetune", "--datasets", "digits-lt100-ft-all",
        "--epochs", "1", "--methods", "RSFT", "--cache-dir", str(cache),
        "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(argv)
    assert excinfo.value.code == 2
    assert ran == [] and list(cache.iterdir()) == []
    assert capsys.readouterr().err.endswith(
        f"rsft-bench: error: --cache-dir: cannot write the pretrained network in "
        f"{str(cache)!r} (No space left on device); free space there or choose "
        "another --cache-dir.\n"
    )


@pytest.fixture
def read_only(monkeypatch):
    """``read_only(folder)``: ``folder`` acts as on a file system that
    turned read-only after the start of the run: opening a file to write
    there, and unlinking there even a missing file, raise EROFS."""
    real_unlink = Path.unlink

    def patch(folder):
        def refused(*args, **kwargs):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))

        def unlink(self, missing_ok=False):
            if self.parent == folder:
                refused()
            return real_unlink(self, missing_ok=missing_ok)

        monkeypatch.setattr(_runner, "open", refused, raising=False)
        monkeypatch.setattr(Path, "unlink", unlink)

    return patch


def test_a_read_only_cache_folder_is_named(tmp_path, read_only):
    # The unlink of the temporary file (there was none) raised EROFS in the
    # finally block and replaced the ValueError naming --cache-dir.
    read_only(tmp_path)
    with pytest.raises(ValueError) as excinfo:
        _netsuites._cache({"w": torch.zeros(3)}, tmp_path / "pretrained-x.pt")
    assert str(excinfo.value) == (
        f"--cache-dir: cannot write the pretrained network in {str(tmp_path)!r} "
        "(Read-only file system); choose another --cache-dir."
    )
    assert list(tmp_path.iterdir()) == []


def test_the_command_line_names_a_read_only_cache_folder(
    tmp_path, monkeypatch, capsys, read_only
):
    # It ended with status 1, blaming the output folder: "cannot write in
    # <--out> ... the finished folds are saved".
    ran = _no_fits(monkeypatch, tmp_path)
    cache = tmp_path / "cache"
    cache.mkdir()
    read_only(cache)
    argv = [
        "--suite", "finetune", "--datasets", "digits-lt100-ft-all",
        "--epochs", "1", "--methods", "RSFT", "--cache-dir", str(cache),
        "--out", str(tmp_path / "run"),
    ]  # fmt: skip
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(argv)
    assert excinfo.value.code == 2
    assert ran == [] and list(cache.iterdir()) == []
    assert capsys.readouterr().err.endswith(
        f"rsft-bench: error: --cache-dir: cannot write the pretrained network in "
        f"{str(cache)!r} (Read-only file system); choose another --cache-dir.\n"
    )


TAIL = (
    "training parts cut to an exponential long tail ({}), a balanced test "
    "part of 20% of the smallest class per class, drawn afresh per repeat"
)


def test_the_note_of_a_capped_long_tail_states_its_ratio():
    # --max-rows samples the rows before the tail is cut: the note still
    # stated the whole set's ratio (139) beside a table that gave 12.
    (whole,) = load_suite("images", datasets=["digits-lt100-sgd"], max_rows=0)
    (capped,) = load_suite(
        "images", datasets=["digits-lt100-sgd"], max_rows=150, min_class_rows=2
    )
    assert whole.notes == (
        TAIL.format(
            "imbalance ratio 100 asked, 139 once the tail is rounded to whole "
            "rows, 1 row in the rarest class"
        ),
        "CNN2d, recipe sgd",
    )
    assert round(whole.imbalance_ratio) == 139
    assert capped.notes == (
        TAIL.format(
            "imbalance ratio 100 asked, 12 once the tail is rounded to whole "
            "rows, 1 row in the rarest class"
        ),
        "CNN2d, recipe sgd",
        "stratified sample of 150 of 1797 rows",
    )
    assert capped.imbalance_ratio == 12.0
    # Remade from other rows, it states their tail; sent to a worker, it
    # keeps its note.
    # (Two classes: the head keeps 178 - 36 = 142 rows, the tail 1.)
    rows = np.isin(whole.y, [0, 1])
    two = replace(whole, X=whole.X[rows], y=whole.y[rows])
    assert two.notes[0] == TAIL.format(
        "imbalance ratio 100 asked, 142 once the tail is rounded to whole rows, "
        "1 row in the rarest class"
    )
    assert round(two.imbalance_ratio) == 142
    assert two.notes[1:] == whole.notes[1:]
    assert pickle.loads(pickle.dumps(capped)).notes == capped.notes


@pytest.mark.parametrize(
    ("cap", "message"),
    [
        (
            "3",
            "--max-rows 3 leaves too few rows for --suite images: its sets need "
            "two classes of 2 rows at least, one for the balanced test part and "
            "one for training.",
        ),
        (
            "10",
            "--max-rows 10 leaves ['digits-lt100-sgd'] with classes of one row; "
            "a set of --suite images needs 2 rows of every class, one for the "
            "balanced test part and one for training. Raise --max-rows (0 keeps "
            "every row).",
        ),
    ],
)
def test_a_row_cap_too_small_for_a_fixed_split_names_the_split(
    tmp_path, monkeypatch, capsys, cap, message
):
    # It was refused as "too few rows for 5 folds", which these sets do
    # not have.
    ran = _no_fits(monkeypatch, tmp_path)
    argv = ["--suite", "images", "--datasets", "digits-lt100-sgd", "--max-rows", cap]
    with pytest.raises(SystemExit) as excinfo:
        _cli.main([*argv, "--out", str(tmp_path / "run")])
    assert excinfo.value.code == 2
    assert ran == []
    err = capsys.readouterr().err
    assert err.endswith(f"rsft-bench: error: {message}\n")
    assert "folds" not in err.splitlines()[-1]


def test_a_row_cap_drops_no_class_of_a_fixed_split_for_the_folds(tmp_path, monkeypatch):
    # Classes of fewer rows than --folds (5) were dropped: 5 of the 10
    # digits, whose 4 rows each gave a test row and training rows.
    ran = _no_fits(monkeypatch, tmp_path)
    argv = ["--suite", "images", "--datasets", "digits-lt100-sgd", "--max-rows", "45"]
    assert _cli.main([*argv, "--out", str(tmp_path / "run")]) == 0
    ((dataset,),) = [config["datasets"] for config in ran]
    assert dataset["n"] == 45 and dataset["n_classes"] == 10
    assert dataset["notes"] == [
        TAIL.format(
            "imbalance ratio 100 asked, 3 once the tail is rounded to whole "
            "rows, 1 row in the rarest class"
        ),
        "CNN2d, recipe sgd",
        "stratified sample of 45 of 1797 rows",
    ]


IMAGE_SETS = [
    f"{images}-lt{ratio}-{recipe}"
    for images in ("digits", "mnist1d")
    for ratio in (50, 100)
    for recipe in ("sgd", "adam")
]


def test_datasets_all_of_a_fixed_split_skips_by_its_rows_not_the_folds(
    tmp_path, monkeypatch, capsys
):
    # --datasets all checked the sets against --folds (5): under --max-rows
    # 45 it skipped all 8 ("its smallest class has 4 rows, fewer than the 5
    # folds") and failed "No data set to run.", while each set named alone
    # ran.
    ran = _no_fits(monkeypatch, tmp_path)
    argv = ["--suite", "images", "--datasets", "all", "--max-rows", "45"]
    assert _cli.main([*argv, "--out", str(tmp_path / "run")]) == 0
    ((config,),) = [ran]
    assert [d["name"] for d in config["datasets"]] == IMAGE_SETS
    assert {(d["n"], d["n_classes"]) for d in config["datasets"]} == {(45, 10)}
    assert config["skipped"] == []
    assert "Skipping" not in capsys.readouterr().err


def test_datasets_all_of_a_fixed_split_names_its_rows_when_skipping(
    tmp_path, monkeypatch, capsys
):
    # A cap of 10 leaves every digit one row: the sets are skipped for the
    # 2 rows a class needs in a fixed split, not for the folds.
    ran = _no_fits(monkeypatch, tmp_path)
    argv = ["--suite", "images", "--datasets", "all", "--max-rows", "10"]
    with pytest.raises(SystemExit) as excinfo:
        _cli.main([*argv, "--out", str(tmp_path / "run")])
    assert excinfo.value.code == 2 and ran == []
    err = capsys.readouterr().err
    need = (
        "the 2 that a set of --suite images needs of every class, one for the "
        "balanced test part and one for training"
    )
    assert [line for line in err.splitlines() if line.startswith("Skipping")] == [
        f"Skipping {name}: its smallest class has 1 row, fewer than {need}."
        for name in IMAGE_SETS
    ]
    assert err.endswith("rsft-bench: error: No data set to run.\n")


@pytest.mark.parametrize(
    ("suite", "reason"),
    [
        ("images", "each of its sets names its own recipe (-sgd or -adam)."),
        (
            "finetune",
            "its sets fine-tune the pretrained network with the default recipe "
            "(Adam, lr 0.001).",
        ),
    ],
)
def test_recipe_is_refused_with_the_suites_own_reason(
    tmp_path, monkeypatch, capsys, suite, reason
):
    # finetune was said to name a recipe per set; its sets name none.
    ran = _no_fits(monkeypatch, tmp_path)
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["--suite", suite, "--recipe", "sgd", "--out", str(tmp_path / "r")])
    assert excinfo.value.code == 2 and ran == []
    assert capsys.readouterr().err.endswith(
        f"rsft-bench: error: --recipe does not apply to --suite {suite}: {reason}\n"
    )


def test_finetune_sets_name_no_recipe(tmp_path):
    # What the refusal of --recipe says: the estimator's default trains them.
    datasets = load_suite(
        "finetune",
        datasets=["digits-lt100-ft-all", "digits-lt100-ft-head"],
        cache_dir=tmp_path,
        pretrain_epochs=1,
    )
    for dataset in datasets:
        assert {"optimizer", "lr"}.isdisjoint(dataset.net_params)


def test_help_says_finetune_fine_tunes_with_adam():
    text = " ".join(_cli.build_parser().format_help().split())
    assert (
        "or 'adam' (the default); not for images, whose sets name their own, "
        "nor finetune, which fine-tunes with Adam" in text
    )


@pytest.mark.parametrize("argv", [["--cache-dir", ""], ["--cache-dir="]])
def test_an_empty_cache_dir_is_refused(tmp_path, monkeypatch, capsys, argv):
    # --cache-dir "$CACHE" with CACHE unset cached the pretrained network
    # in the current folder.
    ran = _no_fits(monkeypatch, tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as excinfo:
        _cli.main(["--suite", "finetune", *argv, "--out", "run"])
    assert excinfo.value.code == 2 and ran == []
    assert (
        "argument --cache-dir: got an empty path (an unset shell variable?); "
        "name a folder, or leave --cache-dir out for $RSFT_BENCH_CACHE, else "
        "~/.cache/rsft-bench"
    ) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
