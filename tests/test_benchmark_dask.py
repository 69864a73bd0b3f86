"""rsft-bench on a Dask cluster: the same rows as a local run, written by the
client alone, and resumed the same way."""

import shutil

import pandas as pd
import pytest

from rsft_sklearn.benchmark import main

distributed = pytest.importorskip("distributed")

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

ARGV = [
    "--suite",
    "builtin",
    "--datasets",
    "breast_cancer,wine",
    "--methods",
    "RSFT,LogisticRegression",
    "--folds",
    "2",
    "--epochs",
    # Past RSFT's five warm-up epochs, so that its rule is what runs.
    "12",
    "--no-progress",
]


def _scores(out):
    frame = pd.read_csv(out / "results.csv")
    frame = frame.sort_values(["dataset", "method", "fold"]).reset_index(drop=True)
    return frame.drop(columns=["fit_time", "predict_time"])


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        dashboard_address=None,
    ) as cluster:
        yield cluster


def test_cluster_run_equals_serial_run_and_resumes(cluster, tmp_path):
    serial = tmp_path / "serial"
    # One torch thread per fit, as on the cluster's workers: a fit's scores
    # can depend on its thread count.
    assert main([*ARGV, "--n-jobs", "1", "--threads", "1", "--out", str(serial)]) == 0
    on_cluster = tmp_path / "cluster"
    argv = [*ARGV, "--scheduler", cluster.scheduler_address, "--out", str(on_cluster)]
    assert main(argv) == 0
    scores = _scores(on_cluster)
    # breast_cancer: 2 folds; wine (rarest class 8 rows): 2 folds, 3 repeats.
    assert len(scores) == (2 + 2 * 3) * 2
    assert (scores["status"] == "ok").all()
    # Not a degenerate classifier: the test compares real predictions.
    assert (scores["roc_auc"] > 0.8).all()
    pd.testing.assert_frame_equal(scores, _scores(serial))

    # Resuming on the cluster computes only the missing rows.
    resumed = tmp_path / "resumed"
    resumed.mkdir()
    lines = (on_cluster / "results.csv").read_bytes().splitlines(keepends=True)
    (resumed / "results.csv").write_bytes(b"".join(lines[:4]))
    shutil.copy(on_cluster / "run.json", resumed / "run.json")
    argv[-1] = str(resumed)
    assert main(argv) == 0
    text = (resumed / "results.csv").read_bytes()
    assert text.startswith(b"".join(lines[:4]))
    pd.testing.assert_frame_equal(_scores(resumed), _scores(serial))
    assert (resumed / "report.md").exists()


def test_cluster_run_of_the_images_suite_equals_serial_run(cluster, tmp_path):
    argv = [
        "--suite", "images", "--datasets", "digits-lt100-sgd", "--quick",
        "--max-rows", "150", "--epochs", "1", "--methods", "RSFT,focal loss",
        "--no-progress",
    ]  # fmt: skip
    serial, on_cluster = tmp_path / "serial", tmp_path / "cluster"
    assert main([*argv, "--n-jobs", "1", "--threads", "1", "--out", str(serial)]) == 0
    scheduler = ["--scheduler", cluster.scheduler_address]
    assert main([*argv, *scheduler, "--out", str(on_cluster)]) == 0
    scores = _scores(on_cluster)
    assert len(scores) == 2 * 3 and (scores["status"] == "ok").all()
    pd.testing.assert_frame_equal(scores, _scores(serial))


def test_a_cancelled_task_says_the_finished_rows_are_kept(monkeypatch):
    # A task whose data set was lost with its worker is cancelled; the run
    # stopped with a bare FutureCancelledError. Each data set now goes to
    # every worker, and a cancelled task names the way to resume.
    from concurrent.futures import CancelledError
    from types import SimpleNamespace

    from rsft_sklearn.benchmark import _runner

    def cancelled(*args):
        raise CancelledError("lost with its worker")

    monkeypatch.setattr(_runner, "run_fold", cancelled)
    scattered = []
    real_scatter = distributed.Client.scatter

    def scatter(self, data, **kwargs):
        scattered.append(kwargs)
        return real_scatter(self, data, **kwargs)

    monkeypatch.setattr(distributed.Client, "scatter", scatter)
    dataset = SimpleNamespace(name="toy")
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        rows = _runner._rows_on_dask(client, [(dataset, "m", 0, [0], [1])], {}, 1)
        with pytest.raises(RuntimeError, match="rerun with the same --out"):
            list(rows)
    assert scattered == [{"hash": False, "broadcast": True}]


def test_workers_that_share_a_process_are_named(cluster, recwarn):
    # Tasks side by side in one process share torch's global generator and
    # the seeds every task sets: their rows are not a serial run's.
    from rsft_sklearn.benchmark import _runner

    with distributed.Client(cluster) as client:
        _runner._check_one_task_per_process(client)
    assert not [w for w in recwarn if "side by side" in str(w.message)]
    for kwargs in (
        dict(n_workers=2, threads_per_worker=1, processes=False),
        dict(n_workers=1, threads_per_worker=2, processes=False),
    ):
        with (
            distributed.LocalCluster(dashboard_address=None, **kwargs) as shared,
            distributed.Client(shared) as client,
        ):
            with pytest.warns(UserWarning, match=r"run tasks side by side in one"):
                _runner._check_one_task_per_process(client)
