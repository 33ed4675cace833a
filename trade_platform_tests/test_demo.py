"""The ``.env`` lines the checkout keeps (``cli/dotenv_file.py``: ``make venv``'s instance and key,
the start date ``trade-platform demo`` writes so that ``make ui`` shows the demo's days as the
partitions' whole range): each a default that a value set in the shell overrides."""

from __future__ import annotations

import os
import subprocess
import sys

from trade_platform.cli.dotenv_file import set_defaults

START = "TRADE_PLATFORM_START_DATE"


def test_the_demos_line_replaces_every_line_setting_its_variable_and_keeps_every_other_line(tmp_path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "# the project's instance\nDAGSTER_HOME=/srv/home\nexport TRADE_PLATFORM_START_DATE=2024-01-01\n"
        "TRADE_PLATFORM_START_DATE=2024-02-01\nOTHER=x=y\n"
    )
    set_defaults(env_file, {START: "2026-11-29", "ANOTHER": "1"}, replace_plain=True)
    assert env_file.read_text() == (
        "# the project's instance\nDAGSTER_HOME=/srv/home\n"
        "TRADE_PLATFORM_START_DATE=${TRADE_PLATFORM_START_DATE:-2026-11-29}\nOTHER=x=y\nANOTHER=${ANOTHER:-1}\n"
    )


def test_a_users_own_line_is_kept_unless_replacing_and_ours_is_rewritten_in_place(tmp_path):
    env_file = tmp_path / ".env"
    set_defaults(env_file, {"DAGSTER_HOME": "/old/home", START: "2026-01-01"}, header="# ours")
    env_file.write_text(env_file.read_text() + "TRADE_PLATFORM_PII_KEY_FILE=/mine\n")
    set_defaults(env_file, {"DAGSTER_HOME": "/moved/home", "TRADE_PLATFORM_PII_KEY_FILE": "/default"})
    assert env_file.read_text() == (
        "# ours\nDAGSTER_HOME=${DAGSTER_HOME:-/moved/home}\nTRADE_PLATFORM_START_DATE=${TRADE_PLATFORM_START_DATE:-2026-01-01}\n"
        "TRADE_PLATFORM_PII_KEY_FILE=/mine\n"
    )


def test_a_start_date_set_in_the_shell_wins_over_the_demos(tmp_path):
    set_defaults(tmp_path / ".env", {START: "2026-11-29"}, replace_plain=True)
    read = [
        sys.executable,
        "-c",
        f"from dotenv import dotenv_values; print(dotenv_values('.env')['{START}'])",
    ]
    shell = {k: v for k, v in os.environ.items() if k != START}
    for environment, expected in ((shell, "2026-11-29"), ({**shell, START: "2025-06-01"}, "2025-06-01")):
        printed = subprocess.run(
            read, cwd=tmp_path, env=environment, capture_output=True, text=True, check=True
        )
        assert printed.stdout.strip() == expected
