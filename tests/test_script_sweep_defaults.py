"""``benchmarks/sweep_defaults.py``: RSFT's settings swept through rsft-bench
on the development half of each suite only, resumable, summarised in
``sweep.md``."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from _scripts import load_script

from rsft_sklearn.benchmark._methods import parse_methods
from rsft_sklearn.benchmark._protocol import split_names
from rsft_sklearn.benchmark._suites import halves, keel_names


@pytest.fixture(scope="module")
def sweep():
    return load_script("sweep_defaults")


def _table(text, section):
    """``{configuration: [cells]}`` of the table under ``## section``."""
    body = text.split(f"## {section}")[1].split("\n## ")[0]
    rows = {}
    for line in body.splitlines():
        if line.startswith("| `"):
            cells = [cell.strip() for cell in line.strip("|").split("|")]
            rows[cells[0].strip("`")] = [float(c) for c in cells[1:]]
    return rows


def test_configurations_start_from_the_spelled_out_rule(sweep):
    configs = sweep.configurations(30)
    assert len(configs) == len(set(configs)) == 22
    assert configs[0] == "RSFT(rejection='sample', warmup_epochs=0)"
    # The warm-ups are shares of the epochs given.
    assert configs[1] == "RSFT(rejection='sample', warmup_epochs=5)"
    assert sweep.configurations(12)[2] == "RSFT(rejection='sample', warmup_epochs=4)"
    assert all("rejection=" in c for c in configs)


@pytest.mark.parametrize("epochs", [1, 2, 3, 4, 5])
def test_few_epochs_list_no_configuration_twice(sweep, epochs):
    # Before, a warm-up of epochs // 6 == 0 repeated the starting point, and
    # rsft-bench refused the sweep: "--methods names a method twice".
    configs = sweep.configurations(epochs)
    assert len(configs) == len(set(configs))
    assert configs[0] == sweep.configurations(30)[0]
    assert set(configs) >= {
        f"RSFT(rejection='sample', warmup_epochs={epochs // 2})",
        "RSFT(rejection='expected', warmup_epochs=0)",
    }


def test_a_sweep_of_few_epochs_runs(sweep, fake_bench, tmp_path):
    argv = ["--suites", "keel-all", "--epochs", "5", "--out", str(tmp_path)]
    assert sweep.main(argv) == 0
    (call,) = fake_bench
    methods = call[call.index("--methods") + 1]
    assert parse_methods(methods) == sweep.configurations(5)


def test_only_development_sets(sweep):
    sets = sweep.development_sets(5)
    assert list(sets) == ["longtail", "keel-all", "tables", *sweep.NETWORK_SUITES]
    assert len(sets["keel-all"]) == 5
    _, held_out = split_names(keel_names())
    assert not set(sets["keel-all"]) & set(held_out)
    for suite in sweep.NETWORK_SUITES:
        dev, held_out = halves(suite)
        assert sets[suite] == dev and not set(dev) & set(held_out)


def test_summary_ranks_and_leaves_out_failed_fits(sweep):
    def row(dataset, method, bacc, error=np.nan):
        metrics = dict.fromkeys(sweep.METRICS, 0.5)
        status = "ok" if error is np.nan else "failed"
        return {"dataset": dataset, "method": method, **metrics,
                "balanced_accuracy": bacc, "fit_time": 2.0, "error": error,
                "status": status}  # fmt: skip

    frame = pd.DataFrame(
        [
            row("a", "B", 0.9),
            row("a", "A", 0.7),
            row("b", "B", 0.6),
            row("b", "B", 0.6),
            row("b", "A", 0.8),
            row("b", "A", 0.6),  # a second fold: A's mean on b is 0.7
            row("c", "A", 0.1, error="boom"),  # a failed fit counts nowhere
        ]
    )
    means, n_sets, left_out = sweep.summarise(frame, ["A", "B", "not run"])
    assert n_sets == 2 and left_out == ["c"]
    assert list(means.index) == ["A", "B"]
    assert means.loc["A", "balanced_accuracy"] == pytest.approx(0.7)
    assert means.loc["B", "balanced_accuracy"] == pytest.approx(0.75)
    assert means.loc["A", "rank (bal. acc.)"] == pytest.approx(1.5)
    assert means.loc["B", "fit s"] == pytest.approx(2.0)
    means.loc["B", "pr_auc"] = np.nan
    lines = sweep.table(means).splitlines()
    assert lines[0].startswith("| configuration | balanced_accuracy | f1_macro")
    assert lines[1] == "|" + "---|" * 8
    assert lines[2] == "| `A` | 0.700 | 0.500 | 0.500 | 0.500 | 0.500 | 1.500 | 2.000 |"
    assert lines[3] == "| `B` | 0.750 | 0.500 | 0.500 | - | 0.500 | 1.500 | 2.000 |"


def test_a_set_a_configuration_did_not_finish_is_left_out_for_all(sweep):
    # C leads A by 0.001 on two easy sets and fails every fit of the hard
    # one: averaged and ranked over the easy ones only, it read best.
    rows = []
    scores = {"easy1": (0.900, 0.901), "easy2": (0.880, 0.881), "hard": (0.4, None)}
    for dataset, pair in scores.items():
        for method, score in zip("AC", pair):
            for fold in range(2):
                rows.append(
                    {
                        "dataset": dataset,
                        "method": method,
                        "fold": fold,
                        "status": "ok" if score is not None else "error",
                        "balanced_accuracy": score,
                        "f1_macro": score,
                        "g_mean": score,
                        "pr_auc": score,
                        "rare_recall": score,
                        "fit_time": 1.0,
                    }  # fmt: skip
                )
    # One fold short of A on a set: unfinished too.
    rows.append({**rows[0], "dataset": "short", "method": "A", "fold": 0})
    rows.append({**rows[0], "dataset": "short", "method": "A", "fold": 1})
    rows.append({**rows[0], "dataset": "short", "method": "C", "fold": 0})
    means, n_sets, left_out = sweep.summarise(pd.DataFrame(rows), ["A", "C"])
    assert n_sets == 2 and left_out == ["hard", "short"]
    assert means.loc["C", "balanced_accuracy"] == pytest.approx(0.891)
    assert means.loc["A", "balanced_accuracy"] == pytest.approx(0.890)
    assert "Left out, as a configuration did not finish every fit of them: " in (
        sweep._left_out(left_out)
    )


def test_quick_sweep_writes_and_resumes(sweep, tmp_path, capsys):
    argv = ["--quick", "--suites", "keel-all", "--configs", "0,1", "--n-jobs", "1",
            "--out", str(tmp_path)]  # fmt: skip
    assert sweep.main(argv) == 0
    # The warm-ups are shares of the 4 epochs the quick sweep trains.
    configs = sweep.configurations(4)[:2]
    assert configs[1] == "RSFT(rejection='sample', warmup_epochs=1)"
    first = sweep.development_sets(12)["keel-all"][0]
    results = tmp_path / "sweep" / "keel-all" / "results.csv"
    frame = pd.read_csv(results)
    assert set(frame["dataset"]) == {first}
    assert set(frame["method"]) == set(configs)
    assert (frame["status"] == "ok").all()
    # Two folds per configuration, repeated three times: the set's rarest
    # class has fewer than rsft-bench's FEW_ROWS rows.
    assert (frame.groupby(["method", "repeat"]).size() == 2).all()
    assert set(frame["repeat"]) == {0, 1, 2}
    assert sorted(frame["fold"]) == sorted(list(range(6)) * 2)
    # The quick row cap of 600, halved by the folds.
    assert (frame["n_train"] == 300).all()

    text = (tmp_path / "sweep.md").read_text()
    assert capsys.readouterr().out.endswith(text + "\n")
    assert text.startswith("# RSFT settings on the development half\n")
    assert f"`python benchmarks/sweep_defaults.py {' '.join(argv)}`" in text
    assert "2-fold stratified CV, 4 epochs, row cap 600" in text
    # The three repeats are said (the header said "the benchmark's seed").
    assert (
        f"## keel-all: 1 development sets\n\nSets: {first}. Repeats of the CV "
        f"(a shuffle each): 3 on {first}.\n"
    ) in text
    assert "## All suites" not in text
    table = _table(text, "keel-all")
    assert list(table) == configs
    for name, cells in table.items():
        means = frame[frame["method"] == name]
        assert cells[0] == pytest.approx(means["balanced_accuracy"].mean(), abs=5e-4)
        assert all(0 <= value <= 1 for value in cells[:5])
        assert cells[5] in (1.0, 1.5, 2.0)
    assert sum(cells[5] for cells in table.values()) == 3

    # A rerun finds every fold done: the results stay as they were.
    before = results.read_bytes()
    assert sweep.main(argv) == 0
    assert results.read_bytes() == before
    assert (tmp_path / "sweep.md").read_text() == text


@pytest.fixture
def fake_bench(sweep, monkeypatch):
    """rsft-bench replaced by one that records its arguments and writes a
    made-up results.csv: the first configuration wins on every set."""
    calls = []

    def bench(argv):
        calls.append(argv)
        option = dict(zip(argv[::2], argv[1::2]))
        # Scores from 0.9 down, none below 0 (a results file with one is
        # refused).
        rows = [
            {"dataset": dataset, "method": method, "fold": fold,
             **dict.fromkeys(sweep.METRICS, max(0.9 - 0.1 * i, 0.0)),
             "fit_time": 1.0, "error": np.nan, "status": "ok"}
            for dataset in option["--datasets"].split(",")
            for i, method in enumerate(parse_methods(option["--methods"]))
            for fold in range(int(option["--folds"]))
        ]  # fmt: skip
        # Rows of an earlier run with another set and another
        # configuration, which this run's summary must leave out.
        other = {**rows[0], "balanced_accuracy": 0.0}
        rows += [{**other, "dataset": "other set"}, {**other, "method": "RSFT(M=7.0)"}]
        folder = Path(option["--out"])
        folder.mkdir(parents=True)
        pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
        return 0

    monkeypatch.setattr(sweep, "rsft_bench", bench)
    return calls


def test_suites_and_their_own_settings(sweep, fake_bench, tmp_path):
    # At images' own 10 epochs: the configurations' warm-ups count epochs.
    argv = ["--suites", "longtail,images", "--configs", "0,2", "--epochs", "10",
            "--max-rows", "900", "--folds", "2", "--out", str(tmp_path)]  # fmt: skip
    assert sweep.main(argv) == 0
    configs = [sweep.configurations(10)[i] for i in (0, 2)]
    sets = sweep.development_sets(12)
    longtail, images = fake_bench
    assert longtail[:2] == ["--suite", "longtail"]
    assert images[:2] == ["--suite", "images"]
    for call, suite in ((longtail, "longtail"), (images, "images")):
        option = dict(zip(call[::2], call[1::2]))
        assert option["--datasets"] == ",".join(sets[suite])
        assert option["--methods"] == ",".join(configs)
        assert option["--folds"] == "2"
        assert option["--out"] == str(tmp_path / "sweep" / suite)
    # --max-rows reaches the older suites only; --epochs, which the
    # configurations are built at, every suite.
    assert longtail[-4:] == ["--epochs", "10", "--max-rows", "900"]
    assert images[-2:] == ["--epochs", "10"] and "--max-rows" not in images
    text = (tmp_path / "sweep.md").read_text()
    assert f"## longtail: {len(sets['longtail'])} development sets" in text
    assert f"## images: {len(sets['images'])} development sets" in text
    n_sets = len(sets["longtail"]) + len(sets["images"])
    assert f"## All suites: {n_sets} development sets" in text
    pooled = _table(text, "All suites")
    # The folder's rows of other sets and configurations are left out (they
    # were counted: "2 development sets" over one, ranks of 2 in one row).
    assert list(pooled) == configs
    for section in ("longtail", "images", "All suites"):
        table = _table(text, section)
        assert [cells[0] for cells in table.values()] == pytest.approx([0.9, 0.8])
        assert [cells[5] for cells in table.values()] == [1.0, 2.0]
    assert pooled[configs[0]][0] == pytest.approx(0.9)
    assert [cells[5] for cells in pooled.values()] == [1.0, 2.0]


@pytest.mark.parametrize("suites", ["longtail,large", "longtail"])
def test_the_header_says_which_suites_run_without_the_row_cap(
    sweep, fake_bench, suites, tmp_path
):
    # large has no epochs of its own and was run uncapped under a header
    # that gave every suite the row cap.
    argv = ["--suites", suites, "--configs", "0", "--out", str(tmp_path)]
    assert sweep.main(argv) == 0
    for call in fake_bench:
        assert ("--max-rows" in call) == ("large" not in call)
    header = (tmp_path / "sweep.md").read_text()
    kept = "network suites keep their sizes" in header
    assert kept == ("large" in suites)


def test_network_suites_are_swept_at_the_epochs_they_train(
    sweep, fake_bench, tmp_path, capsys
):
    # images and finetune train their recipe's 10 epochs: the configurations
    # were built at --epochs 30, so warm-ups of 10 and 15 never rejected,
    # under labels and a sweep.md that said 30 epochs.
    argv = ["--suites", "images,finetune", "--configs", "0,3", "--folds", "2",
            "--out", str(tmp_path)]  # fmt: skip
    assert sweep.main(argv) == 0
    for call in fake_bench:
        option = dict(zip(call[::2], call[1::2]))
        assert option["--epochs"] == "10"
        assert option["--methods"].endswith("warmup_epochs=5)")
    assert "10 epochs" in (tmp_path / "sweep.md").read_text()
    # rsft-bench shows its progress bars on a terminal: a sweep of hours had
    # hidden them with --no-progress.
    assert all("--no-progress" not in call for call in fake_bench)
    with pytest.raises(SystemExit):
        sweep.main(["--suites", "longtail,images", "--out", str(tmp_path)])
    assert "images trains 10 epochs (its recipe)" in capsys.readouterr().err
    # large trains --epochs, as the table suites do.
    fake_bench.clear()
    argv = ["--suites", "images,finetune,large", "--epochs", "10", "--configs", "0",
            "--folds", "2", "--out", str(tmp_path / "mixed")]  # fmt: skip
    assert sweep.main(argv) == 0
    assert [dict(zip(c[::2], c[1::2]))["--epochs"] for c in fake_bench] == ["10"] * 3


def test_a_stopped_suite_stops_the_sweep(sweep, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(sweep, "rsft_bench", lambda argv: 130)
    argv = ["--suites", "keel-all", "--out", str(tmp_path)]
    assert sweep.main(argv) == 130
    assert "rsft-bench stopped on keel-all with code 130" in capsys.readouterr().err
    assert not (tmp_path / "sweep.md").exists()


@pytest.mark.parametrize("suites", ["bogus", "longtail,keel_all"])
def test_unknown_suites_are_refused(sweep, suites, monkeypatch, tmp_path, capsys):
    # Before, an unknown name was skipped in silence and sweep.md rewritten
    # without it (or empty).
    monkeypatch.setattr(sweep, "rsft_bench", pytest.fail)
    with pytest.raises(SystemExit) as excinfo:
        sweep.main(["--suites", suites, "--out", str(tmp_path)])
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert "--suites: unknown suite(s)" in err and "'keel-all'" in err
    assert not (tmp_path / "sweep.md").exists()


def _options(call):
    """``{option: value}`` of an rsft-bench command line (flags map to True)."""
    options = {}
    for i, word in enumerate(call):
        if word.startswith("--"):
            value = call[i + 1] if i + 1 < len(call) else None
            options[word] = True if value is None or value.startswith("--") else value
    return options


def test_quick_leaves_the_options_given_as_they_are(sweep, fake_bench, tmp_path):
    # Before, --quick set 2 folds, 4 epochs and a cap of 600 rows over the
    # options given, and its warm-ups were shares of 30 epochs.
    argv = ["--quick", "--suites", "keel-all"]
    assert sweep.main([*argv, "--out", str(tmp_path / "a")]) == 0
    given = ["--folds", "3", "--epochs", "12", "--max-rows", "900", "--configs", "3"]
    assert sweep.main([*argv, *given, "--out", str(tmp_path / "b")]) == 0
    quick, explicit = map(_options, fake_bench)
    assert (quick["--folds"], quick["--epochs"], quick["--max-rows"]) == (
        "2",
        "4",
        "600",
    )
    assert parse_methods(quick["--methods"]) == sweep.configurations(4)[:3]
    assert [
        f"RSFT(rejection='sample', warmup_epochs={w})" for w in (0, 1, 2)
    ] == sweep.configurations(4)[:3]
    assert (explicit["--folds"], explicit["--epochs"], explicit["--max-rows"]) == (
        "3",
        "12",
        "900",
    )
    assert explicit["--methods"] == sweep.configurations(12)[3]


@pytest.mark.parametrize("suites", ["tables", "longtail,tables", "images"])
def test_quick_runs_every_suite_it_is_given(sweep, fake_bench, suites, tmp_path):
    # Before, a quick sweep left tables out: alone, it stopped with
    # FileNotFoundError; with another suite, it was dropped in silence.
    argv = ["--quick", "--suites", suites, "--configs", "0", "--out", str(tmp_path)]
    assert sweep.main(argv) == 0
    sets = sweep.development_sets(12)
    called = {_options(call)["--suite"]: _options(call) for call in fake_bench}
    assert list(called) == suites.split(",")
    for suite, option in called.items():
        first = "page-blocks" if suite == "longtail" else sets[suite][0]
        assert option["--datasets"] == first
    text = (tmp_path / "sweep.md").read_text()
    for suite in suites.split(","):
        assert f"## {suite}: 1 development sets" in text


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--configs", "99"], "--configs: must be comma-separated indices from 0"),
        (["--configs", "x"], "--configs: must be comma-separated indices"),
        (["--configs", "-1"], "got '-1' (configurations at 30 epochs)"),
        (["--configs", "0,0"], "--configs: names a configuration twice"),
        (["--folds", "1"], "--folds: must be at least 2"),
        (["--quick", "--folds", "1"], "--folds: must be at least 2"),
        (["--epochs", "0"], "--epochs: must be a positive integer"),
        (["--suites", "keel-all,keel-all"], "--suites names a suite twice"),
    ],
)
def test_bad_options_are_usage_errors(
    sweep, argv, message, monkeypatch, tmp_path, capsys
):
    # Before, --configs 99 and --configs x ended in tracebacks, --configs -1
    # ran the last configuration and --quick --folds 1 ran 2 folds.
    monkeypatch.setattr(sweep, "rsft_bench", pytest.fail)
    with pytest.raises(SystemExit) as excinfo:
        sweep.main([*argv, "--out", str(tmp_path)])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    "option, message",
    [
        (["--keel-sets", "-1"], "--keel-sets: must be a positive integer"),
        (["--max-rows", "abc"], "--max-rows: must be 0 (no cap)"),
        (["--n-jobs", "0"], "--n-jobs: must be -1 or a positive integer"),
    ],
)
def test_bad_counts_are_refused(sweep, option, message, monkeypatch, tmp_path, capsys):
    # --keel-sets -1 took 59 sets (a slice from the end).
    monkeypatch.setattr(sweep, "rsft_bench", pytest.fail)
    with pytest.raises(SystemExit):
        sweep.main([*option, "--out", str(tmp_path)])
    assert message in capsys.readouterr().err


def test_a_quick_sweep_writes_outside_the_committed_results(
    sweep, monkeypatch, tmp_path
):
    calls = []
    monkeypatch.setattr(sweep, "rsft_bench", lambda argv: calls.append(argv) or 130)
    monkeypatch.chdir(tmp_path)
    sweep.main(["--quick", "--suites", "keel-all"])
    out = calls[0][calls[0].index("--out") + 1]
    assert out == str(Path("sweep-quick") / "sweep" / "keel-all")
    sweep.main(["--suites", "keel-all"])
    out = calls[1][calls[1].index("--out") + 1]
    assert out == str(Path("docs/defaults") / "sweep" / "keel-all")


def test_threads_reach_rsft_bench(sweep, fake_bench, tmp_path):
    # A resume under another thread count is told to pass --threads, which
    # the sweep did not take.
    argv = ["--suites", "longtail", "--configs", "0", "--epochs", "12",
            "--max-rows", "900", "--folds", "2", "--out", str(tmp_path)]  # fmt: skip
    assert sweep.main([*argv, "--threads", "3"]) == 0
    (call,) = fake_bench
    assert call[call.index("--threads") + 1] == "3"


def test_a_set_in_two_suites_is_pooled_once(sweep, fake_bench, tmp_path):
    # kr-vs-k and nursery are in the development halves of longtail (capped)
    # and large (in full): grouped by name, each pair became one set of
    # both suites' fits, under a count that left the pairs out.
    argv = ["--suites", "longtail,large", "--configs", "0,2", "--epochs", "10",
            "--folds", "2", "--out", str(tmp_path)]  # fmt: skip
    sets = sweep.development_sets(12)
    shared = set(sets["longtail"]) & set(sets["large"])
    assert shared
    made_up = sweep.rsft_bench

    def bench(call):
        # large's fits score 0 on every set: pooled with longtail's, they
        # would pull the shared sets down.
        code = made_up(call)
        option = dict(zip(call[::2], call[1::2]))
        if option["--suite"] == "large":
            path = Path(option["--out"]) / "results.csv"
            frame = pd.read_csv(path)
            frame["balanced_accuracy"] = 0.0
            frame.to_csv(path, index=False)
        return code

    sweep.rsft_bench = bench
    try:
        assert sweep.main(argv) == 0
    finally:
        sweep.rsft_bench = made_up
    text = (tmp_path / "sweep.md").read_text()
    n_sets = len(set(sets["longtail"]) | set(sets["large"]))
    assert f"## All suites: {n_sets} development sets" in text
    assert "counts once, from the first" in text
    configs = [sweep.configurations(10)[i] for i in (0, 2)]
    assert _table(text, "large")[configs[0]][0] == pytest.approx(0.0)
    # Every pooled set is longtail's (large adds none of its own here).
    assert _table(text, "All suites")[configs[0]][0] == pytest.approx(0.9)


def test_the_repeats_are_read_from_the_runs_record(sweep, tmp_path):
    import json

    datasets = [
        {"name": "a", "split": "cv", "repeats": 3},
        {"name": "b", "split": "cv", "repeats": 1},
        {"name": "c", "split": "cv", "repeats": 3},
        {"name": "not swept", "split": "cv", "repeats": 5},
        {"name": "lt", "split": "fixed", "repeats": 3},
    ]
    (tmp_path / "run.json").write_text(json.dumps({"datasets": datasets}))
    assert sweep._repeats(tmp_path, ["a", "b", "c", "d"]) == (
        " Repeats of the CV (a shuffle each): 1 on b; 3 on a, c."
    )
    # A set of a fixed split has no CV: its repeats are draws of the split.
    assert sweep._repeats(tmp_path, ["a", "lt"]) == (
        " Repeats of the CV (a shuffle each): 3 on a."
        " Draws of the fixed split (no CV): 3 on lt."
    )
    # A folder without a record says nothing of them.
    assert sweep._repeats(tmp_path / "none", ["a"]) == ""


def test_fit_seconds_are_a_mean_over_the_sets_as_the_metrics(sweep):
    # Set "a" has 6 fits (repeats of the CV), "b" 2: the mean over the fits
    # gave 1.5 s, weighing "a" three times as much as "b".
    rows = [
        {"dataset": dataset, "method": "A", "fold": fold, "status": "ok",
         **dict.fromkeys(sweep.METRICS, score), "fit_time": seconds}
        for dataset, fits, score, seconds in (("a", 6, 0.9, 1.0), ("b", 2, 0.5, 3.0))
        for fold in range(fits)
    ]  # fmt: skip
    means, n_sets, _ = sweep.summarise(pd.DataFrame(rows), ["A"])
    assert n_sets == 2
    assert means.loc["A", "balanced_accuracy"] == pytest.approx(0.7)
    assert means.loc["A", "fit s"] == pytest.approx(2.0)
    assert list(means.columns[-2:]) == ["rank (bal. acc.)", "fit s"]


@pytest.mark.parametrize("suites", ["longtail", "longtail,large"])
def test_a_sweep_without_a_row_cap_says_so(sweep, fake_bench, suites, tmp_path):
    # rsft-bench's --max-rows 0 is no cap: the header said "row cap 0".
    argv = ["--suites", suites, "--configs", "0", "--max-rows", "0"]
    assert sweep.main([*argv, "--out", str(tmp_path)]) == 0
    assert all(call[call.index("--max-rows") + 1] == "0" for call in fake_bench[:1])
    header = (tmp_path / "sweep.md").read_text().split("\n## ")[0]
    assert "- 3-fold stratified CV, 30 epochs, no row cap, the benchmark's" in header
    assert "row cap 0" not in header and "keep their sizes" not in header
