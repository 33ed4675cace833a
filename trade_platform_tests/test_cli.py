"""The command line as a user meets it: every command and option says what it does and its
default, and no command prints Dagster's Beta/Preview notes about this code location."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from trade_platform.cli.main import COMMANDS, main

BIN = Path(sys.executable).parent
REPO = Path(__file__).resolve().parents[1]


def help_of(capsys, *args: str) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*args, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


def test_every_command_has_a_description_and_every_option_its_help_and_default(capsys):
    top = help_of(capsys)
    names = [command.__name__.rsplit(".", 1)[-1] for command in COMMANDS]
    assert all(re.search(rf"^\s+{name}\s+\S", top, re.MULTILINE) for name in names), top
    for name in names:
        text = help_of(capsys, name)
        usage, description, *_ = text.split("\n\n")
        assert description.strip(), name
        options = text.split("options:\n", 1)[1]
        # Every option line (and positional) carries words after its flags; a default shows as such.
        entries = re.split(r"\n  (?=-)", options.strip())
        for entry in entries[1:]:  # the first is -h
            flags, _, words = entry.partition("  ")
            assert words.strip() or "\n" in entry, f"{name}: {flags} has no help"
        assert "(default: None)" not in text and "(default: False)" not in text, name
    assert "(default: 7)" in help_of(capsys, "generate") and "(default: 50)" in help_of(capsys, "sql")


def test_version(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    assert re.fullmatch(r"trade-platform \d+\.\d+\.\d+\S*\n", capsys.readouterr().out)


@pytest.mark.parametrize(
    "command",
    [
        ["dagster", "asset", "list", "-m", "trade_platform.definitions"],
        ["dg", "list", "defs"],
        ["trade-platform", "trace", "nothing", "--lake", "/"],
    ],
    ids=["dagster", "dg", "trade-platform"],
)
def test_no_command_prints_beta_or_preview_warnings_of_the_code_location(command, tmp_path):
    completed = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={"PATH": f"{BIN}:/usr/bin:/bin", "DAGSTER_HOME": str(tmp_path), "HOME": str(tmp_path)},
    )  # fmt: skip
    output = completed.stdout + completed.stderr
    assert completed.returncode in (0, 1), output[-2000:]
    assert "BetaWarning" not in output and "PreviewWarning" not in output, output[-2000:]


def test_a_variable_set_wrong_is_one_line_naming_it_and_exit_2(capsys, monkeypatch):
    monkeypatch.setenv("TRADE_PLATFORM_OHLCV_INTERVALS", "7m")
    assert main(["sql", "select 1"]) == 2
    err = capsys.readouterr().err
    assert (
        err
        == "trade-platform: TRADE_PLATFORM_OHLCV_INTERVALS: '7m' does not divide a day (86400 s) exactly\n"
    )


@pytest.mark.parametrize(
    ("option", "bad"),
    [
        ("--trades-per-day", "-5"),
        ("--symbols", "0"),
        ("--bad-fraction", "1.5"),
        ("--days", "0"),
        ("--landing", "g/*"),
    ],
)
def test_generate_refuses_an_argument_out_of_range_naming_it(capsys, option, bad):
    with pytest.raises(SystemExit) as exited:
        main(["generate", option, bad])
    assert exited.value.code == 2
    assert f"argument {option}: must" in capsys.readouterr().err


def test_trace_of_a_lake_that_is_not_there_is_exit_2_not_a_trade_never_seen(capsys, tmp_path):
    (tmp_path / "file").write_text("")
    for lake in (tmp_path / "missing", tmp_path / "file"):
        assert main(["trace", "T-1", "--lake", str(lake)]) == 2
        assert f"trace: no lake at {lake}" in capsys.readouterr().err
    assert main(["trace", "T-1", "--lake", str(tmp_path)]) == 1  # a lake without the trade
