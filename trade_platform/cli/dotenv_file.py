"""The checkout's ``.env``, which ``dagster``, ``dg`` and ``trade-platform`` read from their working
directory and export over the environment. Lines written here are ``NAME=${NAME:-value}``:
python-dotenv expands them, so a value set in the shell wins over the file."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path


def set_defaults(
    path: Path, defaults: Mapping[str, str], *, replace_plain: bool = False, header: str | None = None
) -> None:
    """Keep one ``NAME=${NAME:-value}`` line per entry of ``defaults`` in ``path`` (created, with
    ``header``, when missing); every other line stays. Such a line already there is rewritten in
    place; a plain ``NAME=...`` (or ``export NAME=...``) line, the user's own, is left as it is,
    or with ``replace_plain`` replaced by ours. Unchanged content is not written again."""
    old = path.read_text() if path.exists() else None
    lines = old.splitlines() if old is not None else ([header] if header else [])
    for name, value in defaults.items():
        ours = f"{name}=${{{name}:-{value}}}"
        setting = [i for i, line in enumerate(lines) if _sets(line, name)]
        replaced = (
            setting if replace_plain else [i for i in setting if lines[i].startswith(f"{name}=${{{name}:-")]
        )
        if replaced:  # the first becomes ours, in place; a later one would override it
            lines = [
                ours if i == replaced[0] else line for i, line in enumerate(lines) if i not in replaced[1:]
            ]
        elif not setting:
            lines.append(ours)
    text = "\n".join(lines) + "\n"
    if text != old:
        path.write_text(text)


def _sets(line: str, name: str) -> bool:
    return line.split("=", 1)[0].strip().removeprefix("export ").strip() == name and "=" in line
