"""``benchmarks/sparse_memory.py``: a fit on a hashed sparse matrix, each in
a fresh process, and the report of its size, columns and peak memory."""

import argparse
import os
import queue
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import scipy.sparse as sp
from _scripts import BENCHMARKS, load_script

TINY = [
    "--docs", "300", "--words", "20", "--vocabulary", "500", "--bits", "10",
    "--epochs", "2", "--batch-size", "64",
]  # fmt: skip


@pytest.fixture
def sparse(monkeypatch):
    # The fits run in spawned processes, which import the script by name.
    module = load_script("sparse_memory")
    monkeypatch.setitem(sys.modules, "sparse_memory", module)
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    return module


def _args(*extra):
    parser = argparse.ArgumentParser()
    for name in ("docs", "words", "vocabulary", "bits", "epochs", "batch-size"):
        parser.add_argument(f"--{name}", type=int)
    parser.add_argument("--hidden", type=int, default=8)
    parser.add_argument("--all-columns", action="store_true")
    return parser.parse_args([*TINY, *extra])


def test_documents_are_long_tailed_and_chunked(sparse):
    chunks = list(sparse.documents(12000, 3, 50, 8, seed=0))
    assert [len(texts) for texts, _ in chunks] == [5000, 5000, 2000]
    assert all(len(texts) == len(y) for texts, y in chunks)
    labels = np.concatenate([y for _, y in chunks])
    counts = np.bincount(labels, minlength=8)
    # Each class about half as frequent as the one before.
    assert (np.diff(counts) < 0).all()
    assert 0.4 < counts[1] / counts[0] < 0.6
    # Three Zipf words and five label markers per document.
    assert all(len(text.split()) == 8 for text in chunks[-1][0])
    again = list(sparse.documents(12000, 3, 50, 8, seed=0))
    assert chunks[0][0] == again[0][0]


def test_fit_reports_the_columns_in_use(sparse, tmp_path):
    args = _args()
    path = tmp_path / "hashed.npz"
    sparse.make_matrix(args, path)
    X = sp.load_npz(path)
    assert X.shape == (300, 2**10) and X.dtype == np.float32
    assert len(np.load(path.with_suffix(".labels.npy"))) == 300
    used = len(np.unique(X.indices))
    assert used < 2**10
    for all_columns, columns in ((False, used), (True, 2**10)):
        args.all_columns = all_columns
        results = queue.Queue()
        sparse.fit_once(args, path, results)
        run = results.get_nowait()
        # The first layer has a weight row per column with a stored entry,
        # or one per hashed column.
        assert run["columns"] == columns
        assert run["shape"] == (300, 2**10) and run["nnz"] == X.nnz
        assert run["csr_mb"] == pytest.approx(
            (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
        )
        assert len(run["per_epoch"]) == 2
        assert run["after"] >= run["before"] > 0


def test_runs_in_fresh_processes(sparse, tmp_path, capsys):
    sparse.main([*TINY, "--runs", "2"])
    out = capsys.readouterr().out
    runs = re.findall(
        r"^run (\d): peak RSS ([\d.]+) MB before the fit, ([\d.]+) MB after it; "
        r"seconds per epoch ([\d.]+), ([\d.]+)$",
        out,
        flags=re.MULTILINE,
    )
    assert [run[0] for run in runs] == ["1", "2"]
    assert all(float(after) >= float(before) > 0 for _, before, after, *_ in runs)
    # The documents and hashing are seeded: the matrix of the report is the
    # one built here.
    X = sp.vstack(
        [
            sparse.HashingVectorizer(
                n_features=2**10, alternate_sign=False, dtype=np.float32
            ).transform(texts)
            for texts, _ in sparse.documents(300, 20, 500, 8, seed=0)
        ],
        format="csr",
    )
    assert f"X: 300 x 1024 CSR, {X.nnz} non-zeros\n" in out
    assert f"first layer: {len(np.unique(X.indices))} input columns\n" in out
    peaks = sorted(float(after) for _, _, after, *_ in runs)
    median = re.search(r"median ([\d.]+) MB, min ([\d.]+) MB, max ([\d.]+) MB", out)
    assert float(median[1]) == pytest.approx(sum(peaks) / 2, abs=0.11)
    assert (float(median[2]), float(median[3])) == (
        pytest.approx(peaks[0], abs=0.11),
        pytest.approx(peaks[1], abs=0.11),
    )
    csr_mb = (X.data.nbytes + X.indices.nbytes + X.indptr.nbytes) / 2**20
    assert f"CSR size (data + indices + indptr): {csr_mb:.1f} MB\n" in out
    under = sum(p < 4 * csr_mb + 300 for p in peaks)
    assert re.search(rf"by the median, {under} of 2 runs under it\n", out)
    assert "seconds per epoch: median " in out


def test_a_failed_fit_stops_the_run(sparse, capsys):
    # Before, a fit that died in its process left main waiting forever.
    def hung(signum, frame):
        raise AssertionError("main still waits for the failed fit")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(120)
    try:
        with pytest.raises(SystemExit, match=r"the fit failed \(1\)"):
            # One document: one class, which the fit refuses.
            sparse.main([*TINY, "--runs", "2", "--docs", "1"])
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert "run 1" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        # An IndexError after the matrix was built.
        (["--runs", "0"], "--runs: must be a positive integer, got '0'"),
        # A ValueError after every run.
        (["--epochs", "0"], "--epochs: must be a positive integer, got '0'"),
        # Tracebacks in the child processes.
        (["--docs", "-1"], "--docs: must be a positive integer, got '-1'"),
        (["--batch-size", "0"], "--batch-size: must be a positive integer"),
        (["--vocabulary", "0"], "--vocabulary: must be a positive integer"),
        (["--hidden", "x"], "--hidden: must be a positive integer, got 'x'"),
        (["--bits", "0"], "--bits: must be an integer from 1 to 30, got '0'"),
        (["--bits", "31"], "--bits: must be an integer from 1 to 30, got '31'"),
    ],
)
def test_counts_that_cannot_run_are_refused_first(sparse, argv, message, capsys):
    with pytest.raises(SystemExit) as excinfo:
        sparse.main([*TINY, *argv])
    assert excinfo.value.code == 2
    out, err = capsys.readouterr()
    assert message in err and out == ""


@pytest.mark.parametrize("to", ["the process group", "the script"])
def test_ctrl_c_ends_the_fit_and_summarises_the_runs_finished(to):
    # Before: a KeyboardInterrupt traceback (from the child too, on Ctrl-C
    # in a terminal), exit status -2 and no summary of the runs finished.
    process = subprocess.Popen(
        [sys.executable, str(BENCHMARKS / "sparse_memory.py"), *TINY, "--runs", "6"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, OMP_NUM_THREADS="1"),
        # Its own group, as a terminal's foreground job: Ctrl-C there
        # reaches the script and its fit's process.
        start_new_session=True,
    )
    try:
        first = process.stdout.readline()
        assert first.startswith("run 1: peak RSS ")
        # Past the start of the next fit's process (a Ctrl-C in that moment
        # is lost): it is loading its modules, which takes seconds.
        time.sleep(1)
        if to == "the script":
            process.send_signal(signal.SIGINT)
        else:
            os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    out = first + out
    finished = len(re.findall(r"^run \d: peak RSS", out, flags=re.MULTILINE))
    assert process.returncode == 130
    assert "Traceback" not in err and "KeyboardInterrupt" not in err
    assert 1 <= finished < 6
    assert f"Interrupted; {finished} of 6 runs finished, summarised above." in err
    assert f"peak RSS after the fit over {finished} runs: median " in out
    assert "X: 300 x 1024 CSR, " in out
    assert re.search(rf"by the median, \d of {finished} runs under it\n", out)
