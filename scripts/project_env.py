"""The repository's own Dagster instance, for every command run from it, whatever the shell.

``make`` runs this (``make venv`` and every target after it): it creates ``.dagster_home/`` with
its ``dagster.yaml`` (the embedded instance, ``lib/sqlite_storage.py``) and keeps two lines in ``.env``, which ``dagster``, ``dg``
(``dagster dev``, ``dg dev`` and their code servers) and ``trade-platform`` read from their working
directory. Dagster requires an absolute ``DAGSTER_HOME``, hence a file written per checkout
(ignored by git); ``${NAME:-default}`` lets a value set in the shell win. Other lines of ``.env``
are kept; a line of ours from a checkout that has moved is rewritten.

    python scripts/project_env.py [FOLDER]    # FOLDER: the repository (default: the current one)
"""

from __future__ import annotations

import sys
from pathlib import Path

import yaml

from trade_platform.cli.dotenv_file import set_defaults
from trade_platform.lib.sqlite_storage import embedded_instance_config, embedded_instance_yaml

INSTANCE = ".dagster_home"
# What this script wrote before the embedded instance had storages of its own.
EARLIER_CONFIG = {"telemetry": {"enabled": False}}
HEADER = "# The repository's instance and development PII key; a value set in the shell wins (scripts/project_env.py)."


def write(root: Path) -> None:
    root = root.resolve()
    (root / INSTANCE).mkdir(exist_ok=True)
    config = root / INSTANCE / "dagster.yaml"
    if not config.exists() or _written_here(yaml.safe_load(config.read_text())):
        config.write_text(embedded_instance_yaml(root / INSTANCE))  # edited by hand: kept
    defaults = {
        "DAGSTER_HOME": str(root / INSTANCE),
        # The public development key (core/pseudonymise.py) when no key is set (docs/governance.md).
        "TRADE_PLATFORM_PII_DEVELOPMENT_KEY": "true",
    }
    set_defaults(root / ".env", defaults, header=HEADER)


def _written_here(config: object) -> bool:
    """Whether ``config`` is one this script wrote: an earlier version's, or this one's for any
    folder (a checkout that has moved)."""
    if config == EARLIER_CONFIG:
        return True
    try:
        home = Path(config["run_storage"]["config"]["base_dir"]).parent  # type: ignore[index]
    except (TypeError, KeyError):
        return False
    return config == embedded_instance_config(home)


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
