"""The repository's own Dagster instance, for every command run from it, whatever the shell.

``make`` runs this (``make venv`` and every target after it): it creates ``.dagster_home/`` with
its ``dagster.yaml`` (the embedded instance, ``lib/sqlite_storage.py``) and keeps two lines in
``.env``, which ``dagster``, ``dg`` (``dagster dev``, ``dg dev`` and their code servers) and
``trade-platform`` read from their working directory. Dagster requires an absolute
``DAGSTER_HOME``, hence a file written per checkout (ignored by git); ``${NAME:-default}`` lets a
value set in the shell win. Other lines of ``.env`` are kept; a line of ours from a checkout that
has moved is rewritten.

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
    home = root / INSTANCE
    home.mkdir(exist_ok=True)
    config = home / "dagster.yaml"
    text = _instance_config(config.read_text() if config.exists() else None, home)
    if text is not None:
        config.write_text(text)
    defaults = {
        "DAGSTER_HOME": str(home),
        # The public development key (core/pseudonymise.py) when no key is set (docs/governance.md).
        "TRADE_PLATFORM_PII_DEVELOPMENT_KEY": "true",
    }
    set_defaults(root / ".env", defaults, header=HEADER)


def _instance_config(text: str | None, home: Path) -> str | None:
    """The new text of ``home``'s ``dagster.yaml`` (None: keep it): the embedded instance when
    there is none or an earlier version of this script wrote it; a file naming the embedded
    storages keeps its other settings and gets their folders in ``home`` (a moved clone's named
    the old one); any other file is the user's."""
    embedded = embedded_instance_config(home)
    if text is None:
        return embedded_instance_yaml(home)
    try:
        config = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        print(f"{home / 'dagster.yaml'}: not YAML, left as it is ({exc})", file=sys.stderr)
        return None
    if config == EARLIER_CONFIG:
        return embedded_instance_yaml(home)
    storages = ("run_storage", "event_log_storage")
    if not isinstance(config, dict) or any(
        not isinstance(config.get(key), dict) or config[key].get("class") != embedded[key]["class"]
        for key in storages
    ):
        return None
    updated = config | {key: embedded[key] for key in storages}
    return None if updated == config else yaml.safe_dump(updated, sort_keys=False)


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
