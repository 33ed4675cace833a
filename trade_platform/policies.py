"""How runs are retried and how backfills are batched, shared by every asset."""

from __future__ import annotations

from dagster import Backoff, BackfillPolicy, Jitter, RetryPolicy

from trade_platform.config import Settings

_settings = Settings.from_env()

# Transient storage faults (timeouts, throttling, a dropped connection) are retried with
# exponential backoff; permanent ones (missing bucket, bad credentials) fail at once.
retry_policy = RetryPolicy(
    max_retries=_settings.max_retries,
    delay=_settings.retry_delay_seconds,
    backoff=Backoff.EXPONENTIAL,
    jitter=Jitter.PLUS_MINUS,
)

# A backfill of any range is one run per asset step; each partition is still written, checked
# and recorded separately by the I/O manager and the checks.
backfill_policy = BackfillPolicy.single_run()
