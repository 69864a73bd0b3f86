"""``benchmarks/halves.py``: rsft-bench results split into the development
and held-out halves; folders that are not rsft-bench's are usage errors."""

import json
import re

import pandas as pd
import pytest
from _scripts import load_script

from rsft_sklearn.benchmark._protocol import split_names
from rsft_sklearn.benchmark._suites import LONGTAIL


@pytest.fixture(scope="module")
def halves():
    return load_script("halves")


def _run_folder(folder, methods=("RSFT", "SMOTE")):
    """An rsft-bench folder of made-up scores on every long-tail set: RSFT
    ahead of the other method by 0.1 everywhere."""
    folder.mkdir()
    rows = [
        {
            "dataset": dataset,
            "method": method,
            "fold": fold,
            "status": "ok",
            **dict.fromkeys(
                ("balanced_accuracy", "f1_macro", "g_mean", "pr_auc", "rare_recall"),
                0.8 - 0.1 * i + 0.01 * fold,
            ),
        }
        for dataset in LONGTAIL
        for i, method in enumerate(methods)
        for fold in range(2)
    ]
    pd.DataFrame(rows).to_csv(folder / "results.csv", index=False)
    (folder / "run.json").write_text(json.dumps({"methods": list(methods)}))
    return folder


def test_the_halves_are_summarised_apart(halves, tmp_path, capsys):
    folder = _run_folder(tmp_path / "run")
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    development, held_out = split_names(list(LONGTAIL))
    assert f"## held-out half: {len(held_out)} data sets" in out
    assert f"## development half: {len(development)} data sets" in out
    assert "| RSFT | 0.805 |" in out and "| SMOTE | 0.705 |" in out


def test_a_set_that_a_method_did_not_finish_is_left_out(halves, tmp_path, capsys):
    # SMOTE's mean had been taken over the sets it finished (and RSFT's over
    # the folds left by a failed one), beside the others' over every set.
    folder = _run_folder(tmp_path / "run")
    frame = pd.read_csv(folder / "results.csv")
    development, held_out = split_names(list(LONGTAIL))
    failed = (frame["dataset"] == held_out[0]) & (frame["fold"] == 0)
    failed &= frame["method"] == "SMOTE"
    frame.loc[failed, "status"] = "error"
    frame.loc[failed, "balanced_accuracy"] = float("nan")
    frame.loc[frame["dataset"] == held_out[0], "balanced_accuracy"] += 0.05
    frame.to_csv(folder / "results.csv", index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    assert f"## held-out half: {len(held_out) - 1} data sets" in out
    assert "| RSFT | 0.805 |" in out and "| SMOTE | 0.705 |" in out
    assert (
        f"Left out, as not every method finished every fit of them: {held_out[0]}."
        in out
    )
    # SMOTE failing every held-out set: the half is named, with its sets.
    smote = frame["dataset"].isin(held_out) & (frame["method"] == "SMOTE")
    frame.loc[smote, "status"] = "error"
    frame.to_csv(folder / "results.csv", index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    assert "## held-out half: no data set that every method finished" in out
    assert all(name in out for name in held_out)


def _not_a_run(path, kind):
    """A path that is not an rsft-bench output folder, as ``kind`` says."""
    if kind == "empty":
        path.mkdir()
    elif kind != "missing":
        run_file = _run_folder(path) / "run.json"
        if kind == "no run.json":
            run_file.unlink()
        else:
            run_file.write_text(
                {
                    "unreadable": "{",
                    "no methods": "[]",
                    "methods as a string": '{"methods": "RSFT"}',
                    "a method not a string": '{"methods": ["RSFT", 1]}',
                }[kind]
            )
    return path


@pytest.mark.parametrize(
    "kind, message",
    [
        ("missing", "no folder '{path}'"),
        ("empty", "'{path}' holds no results.csv and no run.json"),
        ("no run.json", "'{path}' holds no run.json: it is not an output folder"),
        ("unreadable", "'{path}/run.json' is not a readable run file"),
        ("no methods", "'{path}/run.json' names no list of methods"),
        # a string was read as its letters' list (a traceback in pandas)
        ("methods as a string", "'{path}/run.json' names no list of methods"),
        ("a method not a string", "'{path}/run.json' names no list of methods"),
    ],
)
def test_a_folder_that_is_not_rsft_benchs_is_a_usage_error(
    halves, kind, message, tmp_path, capsys
):
    # Before, a mistyped folder or one without run.json ended in a
    # FileNotFoundError traceback.
    good = _run_folder(tmp_path / "good")
    path = _not_a_run(tmp_path / "bad", kind)
    with pytest.raises(SystemExit) as excinfo:
        halves.main([str(good), str(path), "--suite-names", "longtail"])
    assert excinfo.value.code == 2
    assert message.format(path=path) in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["header only", "text in a metric"])
def test_a_results_file_without_usable_rows_is_a_usage_error(
    halves, damage, tmp_path, capsys
):
    # A header-only file printed a title and nothing else, with exit 0; a
    # text cell in a metric column gave a TypeError after the title.
    folder = _run_folder(tmp_path / "run")
    path = folder / "results.csv"
    lines = path.read_text().splitlines(keepends=True)
    if damage == "header only":
        path.write_text(lines[0])
        message = f"'{path}' holds no result row"
    else:
        path.write_text(
            lines[0] + lines[1].replace("0.8", "abc", 1) + "".join(lines[2:])
        )
        message = f"{path} cannot be read as benchmark results (line 2 holds 'abc'"
    with pytest.raises(SystemExit) as excinfo:
        halves.main([str(folder), "--suite-names", "longtail"])
    assert excinfo.value.code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""


def test_a_pipe_in_a_method_name_is_escaped_in_the_tables(halves, tmp_path, capsys):
    # A "|" ends a Markdown cell: the row had one column more than the
    # header.
    folder = _run_folder(tmp_path / "run", methods=("RSFT", "a|b"))
    halves.main([str(folder), "--suite-names", "longtail"])
    out = capsys.readouterr().out
    assert "| a\\|b | " in out
    tables = re.findall(r"(?:^\|.*\n)+", out, flags=re.MULTILINE)
    assert any("a\\|b" in table for table in tables)
    for table in tables:
        widths = {len(re.findall(r"(?<!\\)\|", line)) for line in table.splitlines()}
        assert len(widths) == 1, table


def test_a_set_a_method_has_fewer_fits_of_is_left_out(halves, tmp_path, capsys):
    # An interrupted run leaves a method a fold short of a set: its mean was
    # taken over other fits than the others', without a word.
    folder = _run_folder(tmp_path / "run")
    frame = pd.read_csv(folder / "results.csv")
    development, held_out = split_names(list(LONGTAIL))
    short = (
        (frame["dataset"] == held_out[0])
        & (frame["method"] == "SMOTE")
        & (frame["fold"] == 1)
    )
    frame[~short].to_csv(folder / "results.csv", index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    assert f"## held-out half: {len(held_out) - 1} data sets" in out
    assert (
        f"Left out, as not every method finished every fit of them: {held_out[0]}."
        in out
    )


def test_a_repeated_row_is_not_a_fit_more(halves, tmp_path, capsys):
    # One method's rows given twice (a hand merge) left every other method
    # short of fits of every set, and the whole half out.
    folder = _run_folder(tmp_path / "run")
    frame = pd.read_csv(folder / "results.csv")
    doubled = pd.concat([frame, frame[frame["method"] == "SMOTE"]])
    doubled.to_csv(folder / "results.csv", index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    development, held_out = split_names(list(LONGTAIL))
    assert f"## held-out half: {len(held_out)} data sets" in out
    assert "| RSFT | 0.805 |" in out and "Left out" not in out


def test_a_finished_fit_without_a_score_counts_as_failed(halves, tmp_path, capsys):
    # An empty score (a file edited or merged by hand) averaged that method
    # over fewer sets than the others, under a count of all of them.
    folder = _run_folder(tmp_path / "run")
    frame = pd.read_csv(folder / "results.csv")
    development, held_out = split_names(list(LONGTAIL))
    emptied = (frame["dataset"] == held_out[0]) & (frame["method"] == "RSFT")
    frame.loc[emptied, "pr_auc"] = float("nan")
    frame.to_csv(folder / "results.csv", index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    captured = capsys.readouterr()
    assert "2 finished fit(s) without a score, counted as failed" in captured.err
    assert f"## held-out half: {len(held_out) - 1} data sets" in captured.out
    assert (
        f"Left out, as not every method finished every fit of them: {held_out[0]}"
        in (captured.out)
    )


def test_a_results_file_without_a_metric_column_is_a_usage_error(
    halves, tmp_path, capsys
):
    folder = _run_folder(tmp_path / "run")
    frame = pd.read_csv(folder / "results.csv").drop(columns="rare_recall")
    frame.to_csv(folder / "results.csv", index=False)
    with pytest.raises(SystemExit) as stop:
        halves.main([str(folder), "--suite-names", "longtail"])
    assert stop.value.code == 2
    assert "has no column(s) ['rare_recall']" in capsys.readouterr().err


def test_sets_outside_the_suite_are_a_usage_error(halves, tmp_path, capsys):
    # They exited with status 1, the other usage errors with 2.
    folder = _run_folder(tmp_path / "run")
    with pytest.raises(SystemExit) as excinfo:
        halves.main([str(folder), "--suite-names", "tables"])
    assert excinfo.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "--suite-names tables: the results hold data sets outside this " in (
        captured.err
    )
    assert repr(sorted(LONGTAIL)[0]) in captured.err


def test_a_binary_only_method_leaves_the_multiclass_sets_in(halves, tmp_path, capsys):
    # Threshold tuning has no row of a multiclass set (it does not apply
    # there): those sets were left out for every method, as "not finished",
    # and the others' means taken over the binary sets only.
    folder = _run_folder(
        tmp_path / "run", methods=("RSFT", "SMOTE", "threshold tuning")
    )
    frame = pd.read_csv(folder / "results.csv")
    development, held_out = split_names(list(LONGTAIL))
    binary = set(held_out[:1]) | set(development[:1])
    frame["n_classes"] = [2 if name in binary else 5 for name in frame["dataset"]]
    frame = frame[
        (frame["method"] != "threshold tuning") | frame["dataset"].isin(binary)
    ]
    # The binary sets score lower: a mean over them alone reads 0.105 less.
    frame.loc[frame["dataset"].isin(binary), "balanced_accuracy"] -= 0.1 * len(held_out)
    frame.to_csv(folder / "results.csv", index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    assert f"## held-out half: {len(held_out)} data sets" in out
    assert "not every method finished" not in out
    mean = 0.805 - 0.1
    assert f"| RSFT | {mean:.3f} |" in out and f"| SMOTE | {mean - 0.1:.3f} |" in out
    assert "| threshold tuning |" not in out
    assert (
        "Not in this summary, as they apply to only some of these sets "
        "(binary-only methods on multiclass sets): threshold tuning." in out
    )
    # Threshold tuning missing a binary set it applies to (an interrupted
    # run): that set is not finished.
    frame = frame[
        (frame["method"] != "threshold tuning") | (frame["dataset"] != held_out[0])
    ]
    frame.to_csv(folder / "results.csv", index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    assert f"## held-out half: {len(held_out) - 1} data sets" in out
    assert (
        f"Left out, as not every method finished every fit of them: {held_out[0]}."
        in out
    )


def test_a_copy_of_a_row_is_one_fit_and_differing_rows_are_refused(
    halves, tmp_path, capsys
):
    # A copy of RSFT's first fold on every set (a hand merge) was averaged
    # as a fit more: RSFT 0.803 instead of 0.805. Two differing rows of one
    # fit were averaged without a word, where the report refuses them.
    folder = _run_folder(tmp_path / "run")
    path = folder / "results.csv"
    frame = pd.read_csv(path)
    first = frame[(frame["method"] == "RSFT") & (frame["fold"] == 0)]
    pd.concat([frame, first]).to_csv(path, index=False)
    assert halves.main([str(folder), "--suite-names", "longtail"]) == 0
    out = capsys.readouterr().out
    development, held_out = split_names(list(LONGTAIL))
    assert f"## held-out half: {len(held_out)} data sets" in out
    assert "| RSFT | 0.805 | 0.805 | 0.805 | 0.805 | 0.805 | 1.000 | 1.000 |" in out
    assert "Left out" not in out
    changed = first.iloc[[0]].assign(balanced_accuracy=0.5)
    pd.concat([frame, changed]).to_csv(path, index=False)
    with pytest.raises(SystemExit) as stop:
        halves.main([str(folder), "--suite-names", "longtail"])
    assert stop.value.code == 2
    dataset = first["dataset"].iloc[0]
    assert (
        f"'{path}' cannot be summarised (1 fit(s) have differing rows: rows 1 "
        f"and {len(frame) + 1} ({dataset}, RSFT, fold 0). Keep one row of each "
        "fit" in capsys.readouterr().err
    )
