"""Shared by the system tests: the scripts that start a real webserver, daemon and scale-out stack."""

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPTS = REPO / "scripts"


def _script(name: str):
    sys.path.insert(0, str(SCRIPTS))
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


ui_stack = _script("ui_stack")
screenshot_ui = _script("screenshot_ui")
stack = _script("stack")
