"""Storage and network faults as plain exceptions that name the URL and the cause.

Only faults of the storage or the network become ``StorageError``: a permanent one (a missing
bucket or folder, refused credentials) or a transient one (timeouts, throttling, refused or
dropped connections), which the Dagster wiring retries. Any other exception (a polars error, a
bug in our own code) passes through unchanged, so it fails the step at once with its own message.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp
import botocore.exceptions


class StorageError(Exception):
    """A storage call failed; the message names the URL and the cause."""


class PermanentStorageError(StorageError):
    """Retrying cannot help: the location is missing or access is refused."""


class TransientStorageError(StorageError):
    """A storage call failed in a way that may succeed when retried."""


PERMANENT = (
    FileNotFoundError,
    PermissionError,
    IsADirectoryError,
    NotADirectoryError,
    botocore.exceptions.NoCredentialsError,
)
# OSError covers local disks, sockets and s3fs (which translates S3's answers into OSErrors);
# the others are the network and service errors of the libraries under s3fs when they surface
# untranslated.
TRANSIENT = (OSError, botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError, aiohttp.ClientError)


@contextmanager
def storage_errors(action: str, url: str) -> Iterator[None]:
    try:
        yield
    except StorageError:
        raise
    except PERMANENT as exc:
        raise PermanentStorageError(f"Cannot {action} {url}: {_cause(exc)}") from exc
    except TRANSIENT as exc:
        raise TransientStorageError(f"Cannot {action} {url}: {_cause(exc)}") from exc


def _cause(exc: BaseException) -> str:
    """The first line of the deepest message, with its type (credentials never appear in these)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
