"""The repository's own Dagster instance, for every command run from it, whatever the shell.

``make`` runs this (``make venv`` and every target after it): it creates ``.dagster_home/`` with
its ``dagster.yaml`` (telemetry off) and keeps two lines in ``.env``, which ``dagster``, ``dg``
(``dagster dev``, ``dg dev`` and their code servers) and ``trade-platform`` read from their working
directory. Dagster requires an absolute ``DAGSTER_HOME``, hence a file written per checkout
(ignored by git); ``${NAME:-default}`` lets a value set in the shell win. Other lines of ``.env``
are kept; a line of ours from a checkout that has moved is rewritten.

    python scripts/project_env.py [FOLDER]    # FOLDER: the repository (default: the current one)
"""

from __future__ import annotations

import sys
from pathlib import Path

INSTANCE = ".dagster_home"
INSTANCE_CONFIG = "telemetry:\n  enabled: false\n"
HEADER = "# The repository's instance and development PII key; a value set in the shell wins (scripts/project_env.py)."


def ours(root: Path) -> dict[str, str]:
    """The lines this script keeps in ``.env``, by variable."""
    defaults = {
        "DAGSTER_HOME": str(root / INSTANCE),
        # The public development key (core/pseudonymise.py) when no key is set (docs/governance.md).
        "TRADE_PLATFORM_PII_DEVELOPMENT_KEY": "true",
    }
    return {name: f"{name}=${{{name}:-{value}}}" for name, value in defaults.items()}


def write(root: Path) -> None:
    root = root.resolve()
    (root / INSTANCE).mkdir(exist_ok=True)
    config = root / INSTANCE / "dagster.yaml"
    if not config.exists():
        config.write_text(INSTANCE_CONFIG)
    env_file = root / ".env"
    lines = env_file.read_text().splitlines() if env_file.exists() else [HEADER]
    for name, line in ours(root).items():
        mine = [i for i, old in enumerate(lines) if old.startswith(f"{name}=${{{name}:-")]
        if mine:
            lines[mine[0]] = line
        elif not any(old.startswith(f"{name}=") for old in lines):
            lines.append(line)
    text = "\n".join(lines) + "\n"
    if not env_file.exists() or env_file.read_text() != text:
        env_file.write_text(text)


if __name__ == "__main__":
    write(Path(sys.argv[1] if len(sys.argv) > 1 else "."))
