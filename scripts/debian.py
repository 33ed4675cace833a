"""Debian's packages for the services the tests and the stack start, installed when missing.

One installer for every script: as root it runs ``apt-get update`` and ``apt-get install``
under an exclusive lock, so two test workers that both find PostgreSQL, Redis, Maven or Chromium
missing install it once (the second finds it there); anyone else gets the command to run.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

LOCK = Path(tempfile.gettempdir()) / "trade-platform-apt.lock"


def ensure(name: str, find: Callable[[], str | None], packages: tuple[str, ...]) -> str:
    """The path ``find`` returns for ``name``, after installing ``packages`` when it returns none."""
    found = find()
    if found:
        return found
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RuntimeError(f"{name} is missing; install it with: apt-get install -y {' '.join(packages)}")
    with LOCK.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be installing it right now
        found = find()
        if not found:
            apt = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
            subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt, stdout=subprocess.DEVNULL)
            install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages]
            subprocess.run(install, check=True, env=apt, stdout=subprocess.DEVNULL)
            found = find()
    if not found:
        raise RuntimeError(f"apt-get installed {' '.join(packages)} but {name} is still missing")
    return found
