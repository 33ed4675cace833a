"""The house rules that keep the code base easy to extend: the core never imports Dagster, and
no module of the package outgrows one sitting."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "trade_platform"
CORE = sorted(
    "trade_platform." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")
    for path in (PACKAGE / "core").rglob("*.py")
) + ["trade_platform.settings"]
MAX_LINES = 300


def test_no_core_module_imports_dagster():
    # A fresh interpreter: this test process has imported Dagster already.
    probe = (
        "import sys\n"
        + "".join(f"import {name}\n" for name in CORE)
        + (
            "print(sorted(name for name in sys.modules if name.split('.')[0] in ('dagster', 'dagster_pandera')))"
        )
    )
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]", completed.stdout[:500]
    assert len(CORE) > 10  # the probe really imported the core


def test_no_module_of_the_package_is_over_300_lines():
    sizes = {
        str(path.relative_to(PACKAGE)): len(path.read_text().splitlines()) for path in PACKAGE.rglob("*.py")
    }
    assert {name: lines for name, lines in sizes.items() if lines > MAX_LINES} == {}


def test_dagsters_dg_cli_finds_and_loads_the_code_location_through_pyproject():
    dg = Path(sys.executable).with_name("dg")
    completed = subprocess.run(
        [str(dg), "check", "defs"], cwd=PACKAGE.parent, capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert "All definitions loaded successfully" in completed.stdout + completed.stderr
