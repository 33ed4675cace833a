#!/usr/bin/env python3
"""Screenshot the UI's pages after a demo, in headless Chromium, into docs/screenshots/.

    .venv/bin/python scripts/screenshot_ui.py [--output-dir docs/screenshots] [--days 7]

Installs Debian's ``chromium`` with apt-get when it is missing (needs root), runs
``trade-platform demo`` into a temporary folder (instance, landing zone, lake and the ``.env`` with
its start date), serves it with ``dagster-webserver`` started there on a loopback port and saves
each page of ``PAGES``. Exits non-zero unless every rendered page shows what it is taken for.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from datetime import date, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import ui_stack  # noqa: E402

DEFAULT_OUTPUT_DIR = ui_stack.REPO / "docs" / "screenshots"
LAST_DAY = "{last_day}"  # in PAGES: the demo's last day (yesterday)
# file: (page, texts the rendered page must show)
PAGES = {
    "runs.png": ("/runs", ["trades_daily_job", LAST_DAY]),
    "overview_timeline.png": ("/overview/activity/timeline", ["trades_daily_job"]),
    "asset_partitions.png": ("/assets/validated_trades?view=partitions", [LAST_DAY]),
    "asset_columns.png": ("/assets/validated_trades?view=overview", ["trade_id", "price"]),
    "sensor_target.png": ("/locations/trade_platform/sensors/freshness_sensor", ["freshness_sensor"]),
    "asset_checks.png": (
        ui_stack.check_page_url("", "validated_trades", "reconciliation"),
        ["reconciliation", LAST_DAY, "Passed"],
    ),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", type=Path, default=DEFAULT_OUTPUT_DIR)
    parser.add_argument("--days", type=int, default=7, help="days the demo materializes, ending yesterday")
    parser.add_argument("--trades-per-day", type=int, default=2_000)
    args = parser.parse_args(argv)

    chromium = ui_stack.ensure_chromium()
    last_day = (date.today() - timedelta(days=1)).isoformat()  # the demo's default end
    with tempfile.TemporaryDirectory(prefix="trade-platform-ui-") as tmp:
        workdir = Path(tmp)
        env = ui_stack.demo_instance(workdir, days=args.days, trades=args.trades_per_day)
        with ui_stack.running_webserver(env, workdir / "webserver.log", cwd=workdir) as url:
            for name, (path, texts) in PAGES.items():
                output = args.output_dir / name
                expected = [text.format(last_day=last_day) for text in texts]
                capture_page(url + path, output, expected, chromium=chromium, workdir=workdir)
                print(f"saved {output} ({output.stat().st_size} bytes) of {path}")
    return 0


def capture_page(page: str, output: Path, expected: list[str], *, chromium: str, workdir: Path) -> None:
    """Screenshot ``page``; raise unless the rendered page shows every text of ``expected``."""
    dom = ui_stack.screenshot(page, output, chromium=chromium, profile=workdir / "chromium")
    missing = [text for text in expected if text not in dom]
    if missing:
        raise RuntimeError(f"the rendered page {page} lacks {missing}; screenshot at {output}")


def capture(
    base_url: str,
    output: Path,
    *,
    chromium: str,
    workdir: Path,
    asset: str,
    check: str,
    day: date = ui_stack.DAY,
) -> str:
    """Screenshot the check page of ``asset``'s ``check``, which must show it passed on ``day``."""
    page = ui_stack.check_page_url(base_url, asset, check)
    capture_page(page, output, [check, day.isoformat(), "Passed"], chromium=chromium, workdir=workdir)
    return page


if __name__ == "__main__":
    sys.exit(main())
