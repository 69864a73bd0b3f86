"""``benchmarks/speed.py`` refuses settings that would time nothing."""

import pytest
from _scripts import load_script


@pytest.fixture(scope="module")
def speed():
    return load_script("speed")


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--repeats", "0"], "--repeats: must be a positive integer, got '0'"),
        (["--rows", "-5"], "--rows: must be a positive integer"),
        (["--threads", "x"], "--threads: must be a positive integer, got 'x'"),
        (["--budget", "0"], "--budget: budget is the expected fraction"),
        (["--budget", "1.5"], "must be a float in (0, 1]"),
        (["--fars-rows", "-1"], "--fars-rows: must be 0 or a positive integer"),
    ],
)
def test_settings_that_time_nothing_are_refused(speed, argv, message, capsys):
    with pytest.raises(SystemExit) as excinfo:
        speed.main([*argv, "--out", "-"])
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err
