"""How steps retry storage faults and hold their outputs, and how backfills are batched."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from dagster import (
    BackfillPolicy,
    Backoff,
    ConfigurableResource,
    Failure,
    Jitter,
    RetryPolicy,
    RetryRequested,
)

from trade_platform.core.spill import Spill
from trade_platform.core.storage import PermanentStorageError, TransientStorageError


class StepSettings(ConfigurableResource):
    """How a step (and the I/O manager in it) holds outputs and retries transient storage faults."""

    spill_budget_mb: int
    max_retries: int
    retry_delay_seconds: float

    def spill(self, directory: Path, schemas: dict | None = None) -> Spill:
        return Spill(directory, schemas, budget_bytes=self.spill_budget_mb * 2**20)

    @contextmanager
    def retry_storage_faults(self, previous_attempts: int) -> Iterator[None]:
        with retry_storage_faults(self.max_retries, self.retry_delay_seconds, previous_attempts):
            yield


@contextmanager
def retry_storage_faults(max_retries: int, delay_seconds: float, previous_attempts: int) -> Iterator[None]:
    """Transient storage faults (timeouts, throttling, a dropped connection) request a retry of
    the step, backing off exponentially from ``delay_seconds``, up to ``max_retries``; permanent
    ones fail it at once; anything else passes.

    This is not the assets' RetryPolicy: Dagster's policy retries every exception, the
    interrupt of a terminated run included, so a bug would be retried and a Terminate ignored.
    """
    try:
        yield
    except TransientStorageError as exc:
        back_off = RetryPolicy(
            max_retries=max_retries,
            delay=delay_seconds,
            backoff=Backoff.EXPONENTIAL,
            jitter=Jitter.PLUS_MINUS,
        )
        raise RetryRequested(
            max_retries=max_retries, seconds_to_wait=back_off.calculate_delay(previous_attempts + 1)
        ) from exc
    except PermanentStorageError as exc:
        raise Failure(description=str(exc), allow_retries=False) from exc


def backfill_policy(max_partitions_per_run: int | None) -> BackfillPolicy:
    """Unlimited: a backfill of any range is one run (each partition is still written, checked
    and recorded separately). With a limit N, a backfill fans out into runs of at most N days,
    which the run queue spreads over the workers."""
    if max_partitions_per_run is None:
        return BackfillPolicy.single_run()
    return BackfillPolicy.multi_run(max_partitions_per_run)
