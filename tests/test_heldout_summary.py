"""``benchmarks/heldout_summary.py``: the held-out table of every suite."""

import numpy as np
import pandas as pd
import pytest
from _scripts import load_script

pytest.importorskip("baycomp")

RIVALS = ("logit-adjusted loss", "post-hoc logit adjustment")


@pytest.fixture(scope="module")
def summary():
    return load_script("heldout_summary")


def write_run(folder, scores, n_classes=3, failed=()):
    """A results.csv in rsft-bench's columns: ``scores`` maps (dataset,
    method) to one balanced accuracy per (repeat, fold); ``failed`` names
    (dataset, method) pairs with a failed fit after those."""
    rows = []
    for (dataset, method), values in scores.items():
        for index, value in enumerate(values):
            rows.append(
                {
                    "dataset": dataset,
                    "method": method,
                    "repeat": index // 2,
                    "fold": index % 2,
                    "n_classes": n_classes,
                    "n_train": 80,
                    "n_test": 20,
                    "status": "ok",
                    "balanced_accuracy": value,
                    "f1_macro": value - 0.1,
                    "pr_auc": value - 0.2 if n_classes == 2 else np.nan,
                }
            )
    for dataset, method in failed:
        # The fit after the method's finished ones: a row of the same fit
        # would be a second, differing row of it.
        index = len(scores.get((dataset, method), ()))
        rows.append(
            {
                "dataset": dataset,
                "method": method,
                "repeat": index // 2,
                "fold": index % 2,
                "n_classes": n_classes,
                "status": "error",
            }
        )
    folder.mkdir()
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    return folder


def test_table_gaps_and_signed_rank(summary, tmp_path, capsys):
    # Suite "a": RSFT trails post-hoc LA on set "s1" by 0.02 in every fit and
    # leads elsewhere; a fourth method that failed is left out of the table.
    a = write_run(
        tmp_path / "a",
        {
            ("s1", "RSFT"): [0.60, 0.70, 0.80, 0.90],
            ("s1", RIVALS[0]): [0.60, 0.70, 0.80, 0.90],
            ("s1", RIVALS[1]): [0.62, 0.72, 0.82, 0.92],
            ("s2", "RSFT"): [0.8, 0.8, 0.8, 0.8],
            ("s2", RIVALS[0]): [0.7, 0.7, 0.7, 0.7],
            ("s2", RIVALS[1]): [0.75, 0.75, 0.75, 0.75],
        },
    )
    b = write_run(
        tmp_path / "b",
        {
            ("t1", "RSFT"): [0.9, 0.9],
            ("t1", RIVALS[0]): [0.8, 0.8],
            ("t1", RIVALS[1]): [0.85, 0.85],
        },
        n_classes=2,
        failed=[("t1", "cRT")],
    )
    assert summary.main([f"a={a}", f"b={b}"]) == 0
    out = capsys.readouterr().out
    # Suite means over the sets every method finished.
    assert "| a | 2 | RSFT | 0.775 | 0.675 |  |" in out
    assert "| a | 2 | post-hoc logit adjustment | 0.760 | 0.660 |  |" in out
    # PR-AUC on the binary suite only.
    assert "| b | 1 | RSFT | 0.900 | 0.800 | 0.700 |" in out
    assert "| cRT |" not in out
    assert "b t1: cRT failed a fit; counted as not finished." in out
    # The one trailing set, its gap to the better rival, and fit by fit.
    gaps = out.split("more than 0.01:")[1]
    assert "s1" in gaps and "-0.02" in gaps and "s2" not in gaps
    assert "a s1 vs post-hoc logit adjustment: -0.020 ± 0.000 over 4 fits" in out
    assert "a s1 vs logit-adjusted loss: +0.000 ± 0.000 over 4 fits" in out
    assert "P(RSFT better than logit-adjusted loss) =" in out
    assert "(3 sets)" in out


def test_paired_gaps_pairs_fits(summary, tmp_path):
    # The fits swing by 0.3 while RSFT stays 0.01 behind in each: the
    # paired interval is narrow where the methods' own ones are wide.
    folder = write_run(
        tmp_path / "run",
        {
            ("s", "RSFT"): [0.5, 0.8, 0.6, 0.7, 0.55, 0.75],
            ("s", RIVALS[0]): [0.51, 0.81, 0.61, 0.71, 0.56, 0.76],
            ("s", RIVALS[1]): [0.6, 0.6, 0.6, 0.6, 0.6, 0.6],
        },
    )
    results = summary.load([f"x={folder}"])
    gaps = summary.paired_gaps(results, [("x", "s")]).set_index("rival")
    assert list(gaps.fits) == [6, 6]
    assert gaps.loc[RIVALS[0], "mean"] == pytest.approx(-0.01)
    assert gaps.loc[RIVALS[0], "half_width"] == pytest.approx(0.0, abs=1e-9)
    assert gaps.loc[RIVALS[1], "mean"] == pytest.approx(0.05)
    assert gaps.loc[RIVALS[1], "half_width"] > 0.1


def test_paired_gaps_widen_for_fits_that_share_training_rows(summary, tmp_path):
    # Fits of cross-validation share training rows: the variance of the mean
    # gap is (1/n + n_test/n_train) s**2, not s**2 / n (Nadeau & Bengio).
    from scipy import stats

    diffs = np.array([0.0, 0.1, 0.0, 0.1, 0.0, 0.1])
    folder = write_run(
        tmp_path / "run",
        {
            ("s", "RSFT"): list(0.5 + diffs),
            ("s", RIVALS[0]): [0.5] * 6,
            ("s", RIVALS[1]): [0.5] * 6,
        },
    )
    results = summary.load([f"x={folder}"])
    gap = summary.paired_gaps(results, [("x", "s")]).set_index("rival").iloc[0]
    t = stats.t.ppf(0.975, 5)
    plain = t * np.sqrt(diffs.var(ddof=1) / 6)
    assert gap.half_width == pytest.approx(
        t * np.sqrt((1 / 6 + 20 / 80) * diffs.var(ddof=1))
    )
    assert gap.half_width == pytest.approx(plain * np.sqrt(1 + 6 * 0.25))


def test_development_sets_and_repeated_sets_are_not_pooled(summary, tmp_path, capsys):
    # A text run holds the suite's development set beside its held-out one,
    # and fars is in the held-out halves of longtail and large: the pooled
    # test counted the first and the second twice.
    scores = {("RSFT",): 0.8, (RIVALS[0],): 0.7, (RIVALS[1],): 0.75}

    def run(name, sets):
        table = {(d, m): [v] * 2 for d in sets for (m,), v in scores.items()}
        return write_run(tmp_path / name, table)

    text = run("text", ["jokes-tfidf", "jokes-tokens"])
    longtail = run("longtail", ["fars", "car", "cleveland"])
    large = run("large", ["fars", "mnist1d-60k-lt"])
    # A method that the second suite did not run kept its fars in the pool.
    extra = pd.read_csv(longtail / "results.csv")
    extra = extra[extra.method == "RSFT"].assign(method="RSFT(budget)")
    pd.concat([pd.read_csv(longtail / "results.csv"), extra]).to_csv(
        longtail / "results.csv", index=False
    )
    assert summary.main([f"text={text}", f"large={large}", f"longtail={longtail}"]) == 0
    out = capsys.readouterr().out
    assert "its longtail run is left out of the pooled test" in out
    assert "(5 sets)" in out
    assert summary.main([f"text={text}", f"longtail={longtail}", f"large={large}"]) == 0
    out = capsys.readouterr().out
    assert "| text | 1 | RSFT |" in out
    assert "text: left out as development sets, not held-out: jokes-tfidf." in out
    assert "| large | 2 | RSFT |" in out
    assert "its large run is left out of the pooled test" in out
    # jokes-tokens, fars, car, cleveland and mnist1d-60k-lt.
    assert "(5 sets)" in out
    # A label that is not a suite keeps every set.
    assert summary.main([f"mine={text}"]) == 0
    out = capsys.readouterr().out
    assert "| mine | 2 | RSFT |" in out and "not a suite of rsft-bench" in out


def test_gaps_without_split_sizes_have_no_interval(summary, tmp_path):
    # A results file without n_train and n_test (read_result_table needs
    # dataset, method and status only) ended in an AttributeError.
    folder = write_run(
        tmp_path / "run",
        {
            ("s", "RSFT"): [0.5, 0.6],
            ("s", RIVALS[0]): [0.55, 0.65],
            ("s", RIVALS[1]): [0.55, 0.65],
        },
    )
    frame = pd.read_csv(folder / "results.csv").drop(columns=["n_train", "n_test"])
    frame.to_csv(folder / "results.csv", index=False)
    results = summary.load([f"x={folder}"])
    gaps = summary.paired_gaps(results, [("x", "s")])
    assert list(gaps["mean"].round(3)) == [-0.05, -0.05]
    assert gaps.half_width.isna().all()


def test_no_trailing_set_says_none(summary, tmp_path, capsys):
    folder = write_run(
        tmp_path / "run",
        {
            ("s", "RSFT"): [0.9, 0.9],
            ("s", RIVALS[0]): [0.8, 0.8],
            ("s", RIVALS[1]): [0.8, 0.8],
        },
    )
    assert summary.main([f"x={folder}"]) == 0
    out = capsys.readouterr().out
    assert "more than 0.01:\nnone" in out and "fit by fit" not in out
    # One set is too few for the signed-rank test (it printed P = 0.963 on
    # two); rsft-bench's report asks for 3 too.
    assert "No Bayesian signed-rank test on 1 set(s); it needs 3." in out
    assert "P(RSFT better" not in out


@pytest.mark.parametrize("argv", [[], ["no-equals-sign"]])
def test_usage(summary, argv, capsys):
    assert summary.main(argv) == 2
    assert "SUITE=FOLDER" in capsys.readouterr().err


def test_a_missing_run_or_method_is_named(summary, tmp_path, capsys):
    # Both were tracebacks (FileNotFoundError, KeyError).
    assert summary.main([f"a={tmp_path / 'nope'}"]) == 2
    assert "nope/results.csv does not exist" in capsys.readouterr().err
    run = write_run(
        tmp_path / "a",
        {("s1", "RSFT"): [0.6, 0.7], ("s1", RIVALS[0]): [0.6, 0.7]},
    )
    assert summary.main([f"a={run}"]) == 2
    assert "missing: a: ['post-hoc logit adjustment']" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_prints_the_usage_and_succeeds(summary, flag, capsys):
    assert summary.main([flag]) == 0
    # It read "-h" as a run folder and exited with status 2.
    assert "Summarise rsft-bench runs on held-out halves" in capsys.readouterr().out


def test_a_binary_only_method_does_not_drop_the_multiclass_sets(
    summary, tmp_path, capsys
):
    # Threshold tuning runs on binary sets only: the suite was summarised
    # on its binary sets alone (a set counted only where every method
    # finished). The table now keeps every set the three compared methods
    # finished, and names the method left out. A set named "NA" keeps its
    # name (pandas read it as missing).
    scores = {
        ("NA", "RSFT"): [0.9, 0.9],
        ("NA", RIVALS[0]): [0.8, 0.8],
        ("NA", RIVALS[1]): [0.8, 0.8],
    }
    binary = write_run(
        tmp_path / "binary", {**scores, ("NA", "threshold tuning"): [0.7, 0.7]}, 2
    )
    multi = write_run(
        tmp_path / "multi",
        {(name.replace("NA", "m"), method): v for (name, method), v in scores.items()},
    )
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    pd.concat(
        [pd.read_csv(f / "results.csv", keep_default_na=False) for f in (binary, multi)]
    ).to_csv(mixed / "results.csv", index=False)
    assert summary.main([f"x={mixed}"]) == 0
    out = capsys.readouterr().out
    assert "| x | 2 | RSFT | 0.900 |" in out
    assert "x: left out, as they did not finish every set: threshold tuning." in out


def test_a_suite_without_a_set_that_all_three_finished_is_named(
    summary, tmp_path, capsys
):
    # Both gave a KeyError traceback, or a suite left out without a word.
    apart = write_run(
        tmp_path / "apart",
        {
            ("s1", "RSFT"): [0.9, 0.9],
            ("s2", RIVALS[0]): [0.8, 0.8],
            ("s2", RIVALS[1]): [0.8, 0.8],
        },
    )
    assert summary.main([f"apart={apart}"]) == 2
    assert "No set on which 'RSFT'" in capsys.readouterr().err
    failed = write_run(
        tmp_path / "failed",
        {},
        failed=[("s", "RSFT"), ("s", RIVALS[0]), ("s", RIVALS[1])],
    )
    good = write_run(
        tmp_path / "good",
        {("s", "RSFT"): [0.9], ("s", RIVALS[0]): [0.8], ("s", RIVALS[1]): [0.8]},
    )
    assert summary.main([f"good={good}", f"failed={failed}"]) == 2
    assert "missing: failed: ['RSFT'" in capsys.readouterr().err


@pytest.mark.parametrize(
    "damage, message",
    [
        ("text", "line 3 holds 'abc' in column 'balanced_accuracy'"),
        ("no status", "it has no column(s) ['status']"),
        ("ragged", "has 12 cells where the header has 11"),
        ("short", "has 10 cells where the header has 11"),
        ("binary", "is not a text file of benchmark results"),
    ],
)
def test_a_damaged_results_file_is_named(summary, tmp_path, capsys, damage, message):
    # A TypeError from pandas' mean, a KeyError or AttributeError, or a raw
    # ParserError or UnicodeDecodeError traceback before.
    scores = {("s1", m): [0.6, 0.7] for m in ("RSFT", *RIVALS)}
    folder = write_run(tmp_path / "a", scores)
    path = folder / "results.csv"
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    if damage == "text":
        frame.loc[1, "balanced_accuracy"] = "abc"
        frame.to_csv(path, index=False)
    elif damage == "no status":
        frame.drop(columns="status").to_csv(path, index=False)
    elif damage in ("ragged", "short"):
        row = ",".join(frame.iloc[0]) + (",x" if damage == "ragged" else "")
        row = row if damage == "ragged" else row.rsplit(",", 1)[0]
        path.write_text(path.read_text() + row + "\n")
    else:
        path.write_bytes(b"\xff\xfe\x00garbage\n")
    assert summary.main([f"a={folder}"]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and message in err


def test_a_pipe_in_a_name_is_escaped_in_the_table(summary, tmp_path, capsys):
    # A "|" ends a Markdown cell: the row had one column more than the
    # header.
    scores = {("s|1", m): [0.6, 0.7] for m in ("RSFT", *RIVALS)}
    folder = write_run(tmp_path / "a", scores)
    assert summary.main([f"a|b={folder}"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if "0.650" in line]
    assert rows and all(line.startswith("| a\\|b | 1 | ") for line in rows)
    assert all(line.replace("\\|", "").count("|") == 7 for line in rows)


def test_a_method_with_fewer_fits_of_a_set_is_named_and_left_out(
    summary, tmp_path, capsys
):
    # An interrupted run: post-hoc LA a fold short of set "s1". Its mean had
    # been taken over three fits beside the others' four, without a word.
    scores = {
        (dataset, method): [0.8, 0.7, 0.8, 0.7]
        for dataset in ("s1", "s2", "s3")
        for method in ("RSFT", *RIVALS)
    }
    scores[("s1", RIVALS[1])] = [0.9, 0.9, 0.9]
    folder = write_run(tmp_path / "run", scores)
    assert summary.main([f"x={folder}"]) == 0
    out = capsys.readouterr().out
    assert "| x | 2 | RSFT |" in out
    assert "x s1: post-hoc logit adjustment have fewer fits than other" in out
    # Where no set is left, the refusal says why.
    folder = write_run(
        tmp_path / "short",
        {
            ("s", "RSFT"): [0.8, 0.8],
            ("s", RIVALS[0]): [0.8, 0.8],
            ("s", RIVALS[1]): [0.8],
        },
    )
    assert summary.main([f"x={folder}"]) == 2
    assert "x s: post-hoc logit adjustment have fewer fits" in capsys.readouterr().err


def test_the_signed_rank_probabilities_are_the_same_run_after_run(
    summary, tmp_path, capsys
):
    rng = np.random.default_rng(0)
    scores = {}
    for index in range(8):
        base = rng.uniform(0.6, 0.9)
        scores[(f"s{index}", "RSFT")] = [base + 0.01] * 2
        scores[(f"s{index}", RIVALS[0])] = [base + rng.normal(0, 0.01)] * 2
        scores[(f"s{index}", RIVALS[1])] = [base - 0.02] * 2
    folder = write_run(tmp_path / "run", scores)
    outputs = []
    for _ in range(2):
        assert summary.main([f"x={folder}"]) == 0
        outputs.append(capsys.readouterr().out.split("P(RSFT better")[1:])
    assert outputs[0] and outputs[0] == outputs[1]


def test_a_finished_fit_without_a_score_counts_as_failed(summary, tmp_path, capsys):
    # An empty balanced accuracy (a file edited or merged by hand) averaged
    # RSFT over fewer sets than its rivals, and baycomp read the NaN.
    scores = {
        (dataset, method): [0.8, 0.7, 0.8, 0.7]
        for dataset in ("s1", "s2", "s3", "s4")
        for method in ("RSFT", *RIVALS)
    }
    scores[("s1", "RSFT")] = [np.nan] * 4
    folder = write_run(tmp_path / "run", scores)
    assert summary.main([f"x={folder}"]) == 0
    captured = capsys.readouterr()
    assert "4 finished fit(s) without a score, counted as failed" in captured.err
    assert "| x | 3 | RSFT |" in captured.out
    assert "(3 sets)" in captured.out and "nan" not in captured.out.lower()


def test_a_set_left_out_for_a_failed_fit_is_named(summary, tmp_path, capsys):
    # One failed fold of the LA loss dropped the set from the table, the gaps
    # and the pooled test without a word.
    scores = {
        (dataset, method): [0.8, 0.7, 0.8, 0.7]
        for dataset in ("s1", "s2", "s3")
        for method in ("RSFT", *RIVALS)
    }
    # Its fourth fit failed.
    scores[("s2", RIVALS[0])] = [0.8, 0.7, 0.8]
    folder = write_run(tmp_path / "run", scores, failed=[("s2", RIVALS[0])])
    assert summary.main([f"x={folder}"]) == 0
    out = capsys.readouterr().out
    assert "| x | 2 | RSFT |" in out
    assert "x s2: logit-adjusted loss failed a fit; the set is left out." in out
    assert "fewer fits" not in out
    # One short of a fit (an unfinished run) leaves the set out too.
    scores[("s2", RIVALS[0])] = [0.8, 0.7, 0.8]
    folder = write_run(tmp_path / "short", scores)
    assert summary.main([f"x={folder}"]) == 0
    out = capsys.readouterr().out
    assert "x s2: logit-adjusted loss have fewer fits than other methods" in out
    assert "the set is left out." in out


def test_a_copy_of_a_row_is_one_fit_and_differing_rows_are_refused(
    summary, tmp_path, capsys
):
    # An identical copy of RSFT's first fit of s0 (a hand merge) was averaged
    # as a fit more: RSFT 0.733 where the report of the same file gives
    # 0.750. Two differing rows of one fit were averaged without a word,
    # where the report refuses them.
    scores = {
        (dataset, method): [0.6, 0.9]
        for dataset in ("s0", "s1", "s2")
        for method in ("RSFT", *RIVALS)
    }
    folder = write_run(tmp_path / "run", scores)
    path = folder / "results.csv"
    frame = pd.read_csv(path)
    pd.concat([frame, frame.iloc[[0]]]).to_csv(path, index=False)
    assert summary.main([f"x={folder}"]) == 0
    out = capsys.readouterr().out
    assert "| x | 3 | RSFT | 0.750 | 0.650 |  |" in out
    assert "fewer fits" not in out
    changed = frame.iloc[[0]].assign(balanced_accuracy=0.7)
    pd.concat([frame, changed]).to_csv(path, index=False)
    assert summary.main([f"x={folder}"]) == 2
    err = capsys.readouterr().err
    assert (
        f"{path} cannot be summarised: 1 fit(s) have differing rows: rows 1 and "
        "19 (s0, RSFT, fold 0). Keep one row of each fit" in err
    )


def test_a_label_of_another_suite_than_the_runs_is_refused(summary, tmp_path, capsys):
    # A keel-all run (its development set appendicitis beside the held-out
    # ecoli1) labelled longtail: before, appendicitis stayed in the summary
    # and the pooled test, without a word.
    from rsft_sklearn.benchmark._suites import halves

    development, held_out = halves("keel-all")
    assert "appendicitis" in development and "ecoli1" in held_out
    scores = {("RSFT",): 0.8, (RIVALS[0],): 0.7, (RIVALS[1],): 0.75}
    table = {
        (d, m): [v] * 2
        for d in ("appendicitis", "ecoli1")
        for (m,), v in scores.items()
    }
    folder = write_run(tmp_path / "run", table)
    (folder / "run.json").write_text('{"suite": "keel-all", "folds": 2}')
    assert summary.main([f"longtail={folder}"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert (
        f"longtail={folder}: {folder / 'run.json'} records a run of --suite "
        "keel-all, not longtail, and the label picks the development sets left "
        f"out; label it keel-all={folder}."
    ) in err
    # The run's own suite leaves its development set out.
    assert summary.main([f"keel-all={folder}"]) == 0
    out = capsys.readouterr().out
    assert "| keel-all | 1 | RSFT | 0.800 |" in out
    assert "keel-all: left out as development sets, not held-out: appendicitis." in out
    # A label that is no suite stays free and keeps every set; so does a run
    # without a record of its suite.
    assert summary.main([f"mine={folder}"]) == 0
    assert "| mine | 2 | RSFT | 0.800 |" in capsys.readouterr().out
    (folder / "run.json").write_text('{"folds": 2}')
    assert summary.main([f"longtail={folder}"]) == 0
    assert "| longtail | 2 | RSFT | 0.800 |" in capsys.readouterr().out
