"""The ``.env`` line ``trade-platform demo`` writes, so that ``make ui`` shows the demo's days as
the partitions' whole range."""

from __future__ import annotations

from trade_platform.cli.demo import upsert_env_lines


def test_the_env_file_gets_each_variable_once_and_keeps_every_other_line(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# the project's instance\nDAGSTER_HOME=/srv/home\nexport TRADE_PLATFORM_START_DATE=2024-01-01\n"
        "TRADE_PLATFORM_START_DATE=2024-02-01\nOTHER=x=y\n"
    )
    upsert_env_lines(env_file, {"TRADE_PLATFORM_START_DATE": "2026-11-29", "ANOTHER": "1"})
    assert env_file.read_text() == (
        "# the project's instance\nDAGSTER_HOME=/srv/home\nTRADE_PLATFORM_START_DATE=2026-11-29\n"
        "OTHER=x=y\nANOTHER=1\n"
    )


def test_the_env_file_is_created_when_missing(tmp_path):
    upsert_env_lines(tmp_path / ".env", {"TRADE_PLATFORM_START_DATE": "2026-11-29"})
    assert (tmp_path / ".env").read_text() == "TRADE_PLATFORM_START_DATE=2026-11-29\n"
