#!/usr/bin/env python3
"""Screenshot the asset-check page of a freshly materialized day in headless Chromium.

    .venv/bin/python scripts/screenshot_ui.py [--output docs/screenshots/asset_checks.png]

Installs Debian's ``chromium`` with apt-get when it is missing (needs root), materializes one
day into a temporary lake and ``DAGSTER_HOME``, serves it with ``dagster-webserver`` on a loopback
port and saves the check page of ``validated_trades``. Exits non-zero unless the rendered page
shows the check and its partition.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ui_stack  # noqa: E402

DEFAULT_OUTPUT = ui_stack.REPO / "docs" / "screenshots" / "asset_checks.png"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--asset", default="validated_trades")
    parser.add_argument("--check", default="reconciliation")
    args = parser.parse_args(argv)

    chromium = ui_stack.ensure_chromium()
    with tempfile.TemporaryDirectory(prefix="trade-platform-ui-") as tmp:
        workdir = Path(tmp)
        env = ui_stack.materialized_instance(workdir)
        with ui_stack.running_webserver(env, workdir / "webserver.log") as url:
            page = capture(
                url, args.output, chromium=chromium, workdir=workdir, asset=args.asset, check=args.check
            )
    print(f"saved {args.output} ({args.output.stat().st_size} bytes) of {page}")
    return 0


def capture(base_url: str, output: Path, *, chromium: str, workdir: Path, asset: str, check: str) -> str:
    """Screenshot the check page; raise unless the rendered page shows the check and the day."""
    page = ui_stack.check_page_url(base_url, asset, check)
    dom = ui_stack.screenshot(page, output, chromium=chromium, profile=workdir / "chromium")
    missing = [text for text in (check, ui_stack.DAY.isoformat(), "Passed") if text not in dom]
    if missing:
        raise RuntimeError(f"the rendered page {page} lacks {missing}; screenshot at {output}")
    return page


if __name__ == "__main__":
    sys.exit(main())
