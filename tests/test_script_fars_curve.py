"""``benchmarks/fars_curve.py``: held-out balanced accuracy against training
seconds, epoch by epoch, on synthetic data or a KEEL ``.dat`` file."""

import json
import signal
import time

import numpy as np
import pandas as pd
import pytest
from _interrupts import interrupting
from _scripts import load_script
from sklearn.model_selection import train_test_split


@pytest.fixture(scope="module")
def fc():
    return load_script("fars_curve")


COLUMNS = ["method", "epoch", "train_seconds", "balanced_accuracy", "backward_rows"]
METHODS = [
    "post-hoc logit adjustment",
    "RandomUnderSampler",
    "RSFT + logit-adjusted loss",
]


def test_synthetic_curves(fc, tmp_path, capsys):
    out = tmp_path / "sub" / "curve"
    argv = [
        "--rows", "600", "--features", "8", "--classes", "3", "--imbalance", "10",
        "--epochs", "3", "--methods", ",".join(METHODS), "--out", str(out),
    ]  # fmt: skip
    assert fc.main(argv) == 0
    frame = pd.read_csv(out.with_suffix(".csv"))
    assert list(frame.columns) == COLUMNS
    assert list(frame["method"]) == [m for m in METHODS for _ in range(3)]
    assert list(frame["epoch"]) == [1, 2, 3] * 3
    assert frame["balanced_accuracy"].between(0, 1).all()
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"

    # The script's split: 450 training rows, 150 held out.
    X, y = fc._synthetic(600, 8, 3, 10.0, 0)
    _, _, y_train, _ = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    counts = np.bincount(y_train)
    epochs = np.arange(1, 4)
    for method, rows in frame.groupby("method", sort=False):
        assert (np.diff(rows["train_seconds"]) > 0).all()
        assert rows["train_seconds"].iloc[0] > 0
        backward = rows["backward_rows"].to_numpy()
        if method == "post-hoc logit adjustment":
            # Every training row goes backward once an epoch.
            np.testing.assert_array_equal(backward, epochs * len(y_train))
        elif method == "RandomUnderSampler":
            # Under-sampled once: every class cut to the rarest one.
            np.testing.assert_array_equal(backward, epochs * len(counts) * counts.min())
        else:
            assert (np.diff(backward) > 0).all()
            assert (backward <= epochs * len(y_train)).all()

    # One line per method: its last and best held-out score from the CSV.
    printed = capsys.readouterr()
    assert "synthetic: 600 rows, 8 features, 3 classes, IR 10" in printed.err
    # Class weights fall geometrically by the imbalance ratio.
    assert f"class counts {sorted(np.bincount(y).tolist(), reverse=True)}" in (
        printed.err
    )
    assert 5 < np.bincount(y).max() / np.bincount(y).min() < 20
    lines = [line for line in printed.out.splitlines() if " last " in line]
    assert len(lines) == 3
    for line, (method, rows) in zip(lines, frame.groupby("method", sort=False)):
        words = line[30:].split()
        assert line[:30].strip() == method
        scores = rows["balanced_accuracy"]
        assert float(words[1]) == pytest.approx(scores.iloc[-1], abs=5e-4)
        assert float(words[3]) == pytest.approx(scores.max(), abs=5e-4)
        assert int(words[6]) == rows["backward_rows"].iloc[-1]
    assert f"Wrote {out.with_suffix('.csv')} and {out.with_suffix('.png')}" in (
        printed.out
    )


def test_scoring_time_is_left_out(fc, tmp_path, monkeypatch):
    # A held-out scoring that takes half a second: the training seconds of
    # three epochs stay far below the time spent scoring.
    real = fc._net_decision

    def slow(net, X):
        time.sleep(0.5)
        return real(net, X)

    monkeypatch.setattr(fc, "_net_decision", slow)
    argv = [
        "--rows", "400", "--features", "5", "--classes", "2", "--imbalance", "5",
        "--epochs", "3", "--methods", "post-hoc logit adjustment",
        "--out", str(tmp_path / "curve"),
    ]  # fmt: skip
    start = time.perf_counter()
    assert fc.main(argv) == 0
    assert time.perf_counter() - start > 1.5
    frame = pd.read_csv(tmp_path / "curve.csv")
    assert len(frame) == 3
    assert frame["train_seconds"].iloc[-1] < 0.5


def _toy_dat(folder):
    """A KEEL ``.dat`` file of 100 rows: three classes (60, 24, 16 rows) told
    apart by 'x'; a nominal input and a missing value."""
    rng = np.random.default_rng(0)
    labels = np.repeat(["big", "mid", "rare"], [60, 24, 16])
    lines = [
        "@relation toy",
        "@attribute x real [-10.0, 10.0]",
        "@attribute z real [-10.0, 10.0]",
        "@attribute colour {red, blue}",
        "@attribute class {big, mid, rare}",
        "@inputs x, z, colour",
        "@outputs class",
        "@data",
    ]
    for i, label in enumerate(labels):
        x = {"big": -3, "mid": 0, "rare": 3}[label] + rng.normal(scale=0.3)
        z = "?" if i == 5 else f"{rng.normal():.3f}"
        lines.append(f"{x:.3f}, {z}, {'red' if i % 2 else 'blue'}, {label}")
    dat = folder / "toy.dat"
    dat.write_text("\n".join(lines) + "\n")
    return dat


def test_keel_dat_file(fc, tmp_path, capsys):
    dat = _toy_dat(tmp_path)
    argv = [
        "--dat", str(dat), "--epochs", "2", "--batch-size", "16",
        "--methods", "RSFT", "--out", str(tmp_path / "toy"),
    ]  # fmt: skip
    assert fc.main(argv) == 0
    assert "toy; class counts [60, 24, 16]" in capsys.readouterr().err
    frame = pd.read_csv(tmp_path / "toy.csv")
    assert list(frame["method"]) == ["RSFT", "RSFT"]
    assert frame["balanced_accuracy"].between(0, 1).all()
    # 75 training rows, each backward at most once an epoch.
    assert frame["backward_rows"].iloc[-1] <= 2 * 75
    assert (tmp_path / "toy.png").exists()


@pytest.mark.parametrize(
    "methods",
    ["RSFT,BalancedRandomForest", "RSFT grid M", "threshold tuning", "random mask"],
)
def test_methods_without_one_network_are_refused_before_any_fit(
    fc, methods, tmp_path, monkeypatch, capsys
):
    # A ValueError traceback (a TypeError for the grid search) after the
    # methods before them had trained.
    monkeypatch.setattr(fc, "_curve", pytest.fail)
    argv = [
        "--rows", "300", "--features", "5", "--classes", "2", "--imbalance", "5",
        "--epochs", "1", "--methods", methods, "--out", str(tmp_path / "curve"),
    ]  # fmt: skip
    with pytest.raises(SystemExit) as excinfo:
        fc.main(argv)
    assert excinfo.value.code == 2
    assert "is not trained as one network" in capsys.readouterr().err
    assert not (tmp_path / "curve.csv").exists()


def test_a_class_too_rare_to_split_is_named(fc, tmp_path, monkeypatch, capsys):
    # train_test_split's "The least populated classes in y have only 1
    # member", as a traceback.
    monkeypatch.setattr(fc, "_curve", pytest.fail)
    argv = ["--rows", "2000", "--features", "10", "--epochs", "1"]
    with pytest.raises(SystemExit) as excinfo:
        fc.main([*argv, "--methods", "RSFT", "--out", str(tmp_path / "curve")])
    assert excinfo.value.code == 2
    assert "the rarest class has 1 row(s)" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--rows", "-5"], "--rows: must be a positive integer"),
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--dat", "no/such.dat"], "--dat: no such file"),
        (["--methods", "bogus"], "unknown method(s) ['bogus']"),
        (["--classes", "1"], "--classes: must be at least 2"),
        (["--imbalance", "0.5"], "--imbalance: must be at least 1"),
        (["--features", "1"], "--features 1 is too few for 8 classes"),
    ],
)
def test_bad_options_are_named_before_any_fit(fc, argv, message, tmp_path, capsys):
    # Before: a scikit-learn error, a KeyError after the fits, a
    # FileNotFoundError and a ValueError traceback.
    with pytest.raises(SystemExit) as excinfo:
        fc.main([*argv, "--out", str(tmp_path / "curve")])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_ctrl_c_keeps_the_finished_curves_and_none_of_the_cut_one(
    fc, tmp_path, monkeypatch, capsys
):
    # skorch ends a fit quietly on Ctrl-C. Before, the cut curve failed to
    # build ("All arrays must be of the same length") and nothing was
    # written, the finished curves included.
    monkeypatch.setattr(fc, "make_method", interrupting(fc.make_method, "RSFT"))
    out = tmp_path / "curve"
    methods = "post-hoc logit adjustment,RSFT,RandomUnderSampler"
    argv = [
        "--rows", "400", "--features", "5", "--classes", "2", "--imbalance", "5",
        "--epochs", "3", "--methods", methods, "--out", str(out),
    ]  # fmt: skip
    assert fc.main(argv) == 130
    printed = capsys.readouterr()
    assert f"Interrupted; the finished curves are in {out.with_suffix('.csv')}." in (
        printed.err
    )
    frame = pd.read_csv(out.with_suffix(".csv"))
    assert list(frame.columns) == COLUMNS
    assert list(frame["method"]) == ["post-hoc logit adjustment"] * 3
    assert list(frame["epoch"]) == [1, 2, 3]
    # 300 training rows, each backward once an epoch.
    assert list(frame["backward_rows"]) == [300, 600, 900]
    assert " last " in printed.out and "RSFT " not in printed.out
    assert not out.with_suffix(".png").exists()
    # SIGINT is Python's own again.
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _small(out):
    """Arguments of a small two-epoch run into ``out``."""
    return [
        "--rows", "400", "--features", "5", "--classes", "2", "--imbalance", "5",
        "--epochs", "2", "--out", str(out),
    ]  # fmt: skip


def test_a_rerun_keeps_the_finished_curves_and_trains_the_others(
    fc, tmp_path, monkeypatch, capsys
):
    # A rerun started afresh: every finished curve was trained again.
    out = tmp_path / "curve"
    argv = _small(out)
    assert fc.main([*argv, "--methods", "RSFT,RandomUnderSampler"]) == 0
    before = pd.read_csv(out.with_suffix(".csv"))
    trained = []
    real = fc._curve
    monkeypatch.setattr(
        fc, "_curve", lambda method, *a: trained.append(method) or real(method, *a)
    )
    methods = "post-hoc logit adjustment,RSFT,RandomUnderSampler"
    assert fc.main([*argv, "--methods", methods]) == 0
    assert trained == ["post-hoc logit adjustment"]
    after = pd.read_csv(out.with_suffix(".csv"))
    assert list(after["method"].unique()) == methods.split(",")
    pd.testing.assert_frame_equal(
        after[after["method"] != "post-hoc logit adjustment"].reset_index(drop=True),
        before,
    )
    assert "RSFT                           finished before; kept" in (
        capsys.readouterr().out
    )
    # Other settings, or curves without their settings, are refused before
    # any fit.
    trained.clear()
    with pytest.raises(SystemExit) as excinfo:
        fc.main([*argv[:-4], "--epochs", "3", "--out", str(out)])
    assert excinfo.value.code == 2 and trained == []
    assert "other settings (epochs 2 -> 3)" in capsys.readouterr().err
    out.with_suffix(".json").unlink()
    with pytest.raises(SystemExit):
        fc.main([*argv, "--methods", "RSFT"])
    assert "curves of unknown settings" in capsys.readouterr().err and trained == []


def test_a_spec_with_its_own_epochs_is_kept_when_finished(
    fc, tmp_path, monkeypatch, capsys
):
    # Its curve had 3 rows against --epochs 2: counted unfinished and
    # trained again at every rerun.
    out = tmp_path / "curve"
    argv = [*_small(out), "--methods", "RSFT(max_epochs=3)"]
    assert fc.main(argv) == 0
    before = pd.read_csv(out.with_suffix(".csv"))
    assert len(before) == 3
    trained = []
    monkeypatch.setattr(fc, "_curve", lambda method, *a: trained.append(method))
    assert fc.main(argv) == 0
    assert trained == []
    pd.testing.assert_frame_equal(pd.read_csv(out.with_suffix(".csv")), before)


def test_ctrl_c_in_a_rerun_keeps_the_curves_from_before(
    fc, tmp_path, monkeypatch, capsys
):
    out = tmp_path / "curve"
    argv = _small(out)
    assert fc.main([*argv, "--methods", "RSFT"]) == 0
    before = pd.read_csv(out.with_suffix(".csv"))
    monkeypatch.setattr(
        fc, "make_method", interrupting(fc.make_method, "RandomUnderSampler")
    )
    methods = "post-hoc logit adjustment,RandomUnderSampler,RSFT"
    assert fc.main([*argv, "--methods", methods]) == 130
    after = pd.read_csv(out.with_suffix(".csv"))
    assert list(after["method"].unique()) == ["post-hoc logit adjustment", "RSFT"]
    pd.testing.assert_frame_equal(
        after[after["method"] == "RSFT"].reset_index(drop=True), before
    )


def test_a_finished_method_spelt_another_way_is_kept(fc, tmp_path, monkeypatch):
    # Curves were matched by label: RSFT(M=2) for a finished RSFT(M=2.0)
    # trained again and drew a second curve of the same settings.
    out = tmp_path / "curve"
    argv = _small(out)
    assert fc.main([*argv, "--methods", "RSFT(M=2.0, hardness=0.5)"]) == 0
    before = pd.read_csv(out.with_suffix(".csv"))
    trained = []
    monkeypatch.setattr(fc, "_curve", lambda method, *a: trained.append(method))
    assert fc.main([*argv, "--methods", "RSFT(hardness=0.5,M=2)"]) == 0
    assert trained == []
    pd.testing.assert_frame_equal(pd.read_csv(out.with_suffix(".csv")), before)
    assert list(before["method"].unique()) == ["RSFT(M=2.0, hardness=0.5)"]


@pytest.mark.parametrize(
    "out, stem", [(".", "fars_curve"), ("..", "../fars_curve"), ("/", "/fars_curve")]
)
def test_an_out_without_a_name_is_refused(fc, out, stem, tmp_path, monkeypatch, capsys):
    # Before: "ValueError: PosixPath('.') has an empty name" after the
    # checks, or files named "...csv" beside the folder.
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(fc, "_curve", lambda *args: pytest.fail("a curve was trained"))
    argv = ["--rows", "300", "--features", "5", "--classes", "3"]
    argv += ["--imbalance", "5", "--epochs", "1", "--methods", "RSFT"]
    with pytest.raises(SystemExit) as excinfo:
        fc.main([*argv, "--out", out])
    assert excinfo.value.code == 2
    assert (
        f"--out: {out!r} names no file: it is the stem of the files written "
        f"(OUT.csv, OUT.json, OUT.png); give one such as {stem!r}."
    ) in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def _plots(fc, monkeypatch):
    """The ``(frame, path, title)`` of every figure drawn, still drawn."""
    plots = []
    real = fc._plot

    def plot(frame, path, title, *args):
        plots.append((frame, path, title))
        real(frame, path, title, *args)

    monkeypatch.setattr(fc, "_plot", plot)
    return plots


def test_the_title_names_the_data_the_split_and_the_settings(fc, tmp_path, monkeypatch):
    # The title was the file's stem alone ("fars"): not the rows, the one
    # split, the epochs.
    plots = _plots(fc, monkeypatch)
    out = tmp_path / "toy"
    argv = ["--dat", str(_toy_dat(tmp_path)), "--epochs", "2", "--batch-size", "16"]
    argv += ["--seed", "3", "--methods", "RSFT", "--out", str(out)]
    assert fc.main(argv) == 0
    ((_, path, title),) = plots
    assert path == out.with_suffix(".png")
    assert title == (
        "toy (toy.dat): all 100 rows, 3 classes, imbalance ratio 4\n"
        "one stratified split (75 training rows, 25 held out), 2 epochs, "
        "batch 16, seed 3"
    )
    # Synthetic data keep their description.
    plots.clear()
    assert fc.main([*_small(tmp_path / "curve"), "--methods", "RSFT"]) == 0
    assert plots[0][2] == (
        "synthetic: 400 rows, 5 features, 2 classes, IR 5\n"
        "one stratified split (300 training rows, 100 held out), 2 epochs, "
        "batch 128, seed 0"
    )


def test_the_footer_says_what_the_labels_mean_under_the_axes(fc, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    saved = []
    real = Figure.savefig

    def savefig(fig, *args, **kwargs):
        real(fig, *args, **kwargs)
        saved.append((fig, fig.canvas.get_renderer()))

    monkeypatch.setattr(Figure, "savefig", savefig)
    frame = pd.DataFrame(
        {"method": "RSFT", "epoch": [1, 2], "train_seconds": [1.0, 2.0]}
        | {"balanced_accuracy": [0.5, 0.6], "backward_rows": [10, 20]}
    )
    fc._plot(frame, tmp_path / "f.png", "fars (fars.dat): all rows\none split")
    ((fig, renderer),) = saved
    (footer,) = fig.texts
    assert "'RSFT' is RSFTClassifier's default of that code" in (
        footer.get_text().replace("\n", " ")
    )
    (ax,) = fig.axes
    assert ax.get_tightbbox(renderer).y0 > footer.get_window_extent(renderer).y1


def test_redraw_draws_the_figure_from_the_csv_alone(fc, tmp_path, monkeypatch, capsys):
    out = tmp_path / "toy"
    argv = ["--dat", str(_toy_dat(tmp_path)), "--epochs", "2", "--batch-size", "16"]
    argv += ["--out", str(out)]
    assert fc.main([*argv, "--methods", "RSFT,post-hoc logit adjustment"]) == 0
    drawn = out.with_suffix(".png").read_bytes()
    out.with_suffix(".png").unlink()
    plots = _plots(fc, monkeypatch)
    monkeypatch.setattr(fc, "_curve", lambda *a: pytest.fail("a curve was trained"))
    csv = out.with_suffix(".csv").read_bytes()
    capsys.readouterr()
    assert fc.main([*argv, "--redraw"]) == 0
    ((frame, path, title),) = plots
    pd.testing.assert_frame_equal(frame, pd.read_csv(out.with_suffix(".csv")))
    assert title.startswith("toy (toy.dat): all 100 rows, 3 classes")
    assert "2 epochs, batch 16, seed 0" in title
    # The run's figure again, and no other file touched.
    assert path.read_bytes() == drawn
    assert out.with_suffix(".csv").read_bytes() == csv
    assert f"Wrote {path}" in capsys.readouterr().out

    # Options other than the run's are refused: by the record, or without
    # one by the curves' epochs.
    plots.clear()
    with pytest.raises(SystemExit) as excinfo:
        fc.main([*argv, "--redraw", "--epochs", "3"])
    assert excinfo.value.code == 2
    assert "--redraw: " in (err := capsys.readouterr().err)
    assert "holds curves of other settings (epochs 2 -> 3)" in err
    out.with_suffix(".json").unlink()
    with pytest.raises(SystemExit):
        fc.main([*argv, "--redraw", "--epochs", "3"])
    assert (
        "holds curves of other epochs than --epochs 3 gives them: RSFT (2 of 3 "
        "epochs); post-hoc logit adjustment (2 of 3 epochs)"
    ) in capsys.readouterr().err
    with pytest.raises(SystemExit):
        fc.main([*argv[:-1], str(tmp_path / "none"), "--redraw"])
    assert f"--redraw: no {tmp_path / 'none.csv'} to draw from" in (
        capsys.readouterr().err
    )
    assert plots == []


@pytest.mark.parametrize("with_record", [False, True])
@pytest.mark.parametrize(
    "text, message",
    [
        # The header alone: an empty figure over the run's, and exit 0.
        (
            "method,epoch,train_seconds,balanced_accuracy,backward_rows\n",
            "{csv} holds no curves: nothing to draw.",
        ),
        # No 'method' column: a KeyError traceback.
        (
            "meth,epoch,train_seconds,balanced_accuracy,backward_rows\n"
            "RSFT,1,0.1,0.6,150\nRSFT,2,0.2,0.7,300\n",
            "{csv} has no column 'method': it is not a curve file",
        ),
        (
            "meth,epoch\nRSFT,1\n",
            "{csv} has no columns 'method', 'train_seconds', 'balanced_accuracy'",
        ),
    ],
)
def test_redraw_refuses_a_csv_without_curves(
    fc, tmp_path, monkeypatch, capsys, text, message, with_record
):
    out = tmp_path / "curve"
    csv = out.with_suffix(".csv")
    csv.write_text(text)
    if with_record:
        # The record of a run of the options given: a KeyError traceback
        # too without 'method'.
        out.with_suffix(".json").write_text(json.dumps(_small_settings()))
    out.with_suffix(".png").write_bytes(b"the run's figure")
    plots = _plots(fc, monkeypatch)
    with pytest.raises(SystemExit) as excinfo:
        fc.main([*_small(out), "--redraw"])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert f"--redraw: {message.format(csv=csv)}" in err
    assert plots == []
    assert out.with_suffix(".png").read_bytes() == b"the run's figure"


def _small_settings():
    """The settings of ``_small`` as ``OUT.json`` records them."""
    return {
        "rows": 400, "features": 5, "classes": 2, "imbalance": 5.0, "epochs": 2,
        "batch_size": 128, "seed": 0, "dat": None, "threads": 1,
    }  # fmt: skip
