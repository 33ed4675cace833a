"""Alerts: the sensors that tell people of failed runs and failed ERROR checks, when a webhook or
an SMTP server is configured (``TRADE_PLATFORM_ALERT_*``); without one there is nothing to send,
so no sensor is defined."""

from __future__ import annotations

import dagster as dg

from trade_platform.defs.alerts.sensors import (
    build_check_failure_alert_sensor,
    build_run_failure_alert_sensor,
)
from trade_platform.settings import Settings


def build_defs(settings: Settings) -> dg.Definitions:
    targets = settings.alerts
    if not targets.enabled:
        return dg.Definitions()
    return dg.Definitions(
        sensors=[build_run_failure_alert_sensor(targets), build_check_failure_alert_sensor(targets)]
    )
