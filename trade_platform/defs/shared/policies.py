"""How steps retry storage faults and how backfills are batched, shared by every asset."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import BackfillPolicy, Backoff, Failure, Jitter, RetryPolicy, RetryRequested

from trade_platform.core.storage import PermanentStorageError, TransientStorageError
from trade_platform.settings import Settings

_settings = Settings.from_env()

# The back-off of transient storage faults (timeouts, throttling, a dropped connection). It is
# not attached to the assets as their RetryPolicy: Dagster's policy retries every exception,
# the interrupt of a terminated run included, so a bug would be retried and a Terminate ignored.
transient_retries = RetryPolicy(
    max_retries=_settings.max_retries,
    delay=_settings.retry_delay_seconds,
    backoff=Backoff.EXPONENTIAL,
    jitter=Jitter.PLUS_MINUS,
)


@contextmanager
def retry_storage_faults(previous_attempts: int) -> Iterator[None]:
    """Transient storage faults request a retry of the step (with back-off, up to
    ``TRADE_PLATFORM_MAX_RETRIES``); permanent ones fail it at once; anything else passes."""
    try:
        yield
    except TransientStorageError as exc:
        raise RetryRequested(
            max_retries=transient_retries.max_retries,
            seconds_to_wait=transient_retries.calculate_delay(previous_attempts + 1),
        ) from exc
    except PermanentStorageError as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc


# A backfill of any range is one run per asset step; each partition is still written, checked
# and recorded separately by the I/O manager and the checks.
backfill_policy = BackfillPolicy.single_run()
