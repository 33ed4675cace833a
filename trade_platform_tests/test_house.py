"""The house rules that keep the code base easy to extend: every module of the package lives in a
known room, imports only point down (cli -> definitions -> defs -> lib -> core), the core never
imports Dagster, and no module outgrows one sitting."""

from __future__ import annotations

import ast
import re
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


# The variables of other tools, read where those tools are configured.
READS_OTHER_ENVIRONMENT = {
    "core/storage.py": "the AWS endpoint and region for polars' own S3 reader",
    "defs/lineage/events.py": "OPENLINEAGE_URL, the OpenLineage client's own variable",
    "cli/worker.py": "PATH, so that dagster-celery finds this virtualenv's celery",
    "cli/trace.py": "DAGSTER_HOME, Dagster's own: the instance whose replay runs are listed",
}


def test_only_settings_reads_the_environment():
    readers = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if "os.environ" in path.read_text() or "getenv" in path.read_text()
    }
    assert readers - {"settings.py"} == set(READS_OTHER_ENVIRONMENT)
    for name in READS_OTHER_ENVIRONMENT:
        read = re.findall(
            r"(?:environ(?:\.get)?[\[(]|getenv\()\s*[\"']([A-Z0-9_]+)", (PACKAGE / name).read_text()
        )
        assert read and not [variable for variable in read if variable.startswith("TRADE_PLATFORM_")], name


def test_importing_the_code_location_reads_no_environment():
    # A bad value only fails when Dagster loads the definitions, naming the variable.
    probe = (
        "import trade_platform.definitions as d\n"
        "try:\n    d.defs()\nexcept ValueError as exc:\n    print(exc)\n"
    )
    env = {"PATH": "/usr/bin:/bin", "TRADE_PLATFORM_START_DATE": "yesterday"}
    completed = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", probe], capture_output=True, text=True, env=env, check=True
    )
    assert completed.stdout.startswith("TRADE_PLATFORM_START_DATE: must be a date"), completed.stdout


# The rooms, and the rooms each may import from (besides itself). A domain of defs/ imports only
# its own folder among the domains; the exceptions say why.
ROOMS = {
    "core": {"settings"},
    "settings": {"core"},
    "lib": {"core", "settings"},
    "defs": {"lib", "core", "settings"},
    "definitions": {"defs", "lib", "settings"},
    "cli": {"definitions", "defs", "lib", "core", "settings"},
}
CROSS_DOMAIN = {
    ("lineage", "ingest"): "the landing files a raw_trades run records are inputs of its lineage",
}


def room(module: str) -> str:
    """``trade_platform.defs.ingest.assets`` -> ``defs``; the settings modules are one room."""
    top = module.split(".")[1]
    return "settings" if top in ("settings", "setting_values", "kafka_settings") else top


def package_imports() -> dict[str, set[str]]:
    """Every module of the package and the modules of the package it imports (also inside functions)."""
    imports = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(("trade_platform", *path.relative_to(PACKAGE).with_suffix("").parts)).removesuffix(
            ".__init__"
        )
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("trade_platform"):
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names if alias.name.startswith("trade_platform."))
        imports[name] = found
    return imports


def test_every_module_lives_in_a_known_room_and_imports_only_point_down():
    imports = package_imports()
    assert {room(name) for name in imports if name != "trade_platform"} == set(ROOMS)
    wrong = []
    for name, imported in imports.items():
        for target in imported:
            if name == "trade_platform" or room(target) == room(name):
                continue
            if room(target) not in ROOMS[room(name)]:
                wrong.append(f"{name} imports {target}")
    assert wrong == []


def test_a_domain_imports_no_other_domain():
    crossings = {
        (name.split(".")[2], target.split(".")[2])
        for name, imported in package_imports().items()
        if name.startswith("trade_platform.defs.")
        for target in imported
        if target.startswith("trade_platform.defs.") and target.split(".")[2] != name.split(".")[2]
    }
    assert crossings == set(CROSS_DOMAIN)


def test_each_domain_builds_its_own_definitions_and_the_code_location_only_merges_them():
    import trade_platform.definitions as location

    domains = sorted(path.parent.name for path in (PACKAGE / "defs").glob("*/definitions.py"))
    folders = sorted(path.name for path in (PACKAGE / "defs").iterdir() if (path / "__init__.py").exists())
    assert domains == folders
    assert sorted(domain.__name__.split(".")[2] for domain in location.DOMAINS) == domains
    for domain in location.DOMAINS:
        assert callable(domain.build_defs)
