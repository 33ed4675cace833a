"""Turn storage failures into errors that name the URL and the cause.

Permanent faults (a missing bucket or folder, refused credentials) raise a Dagster ``Failure``
that is not retried; anything else (timeouts, refused or dropped connections) is re-raised as
``TransientStorageError`` for the step's ``RetryPolicy``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from dagster import Failure


class TransientStorageError(RuntimeError):
    """A storage call failed in a way that may succeed when retried."""


PERMANENT = (FileNotFoundError, PermissionError, IsADirectoryError, NotADirectoryError)


@contextmanager
def storage_errors(action: str, url: str) -> Iterator[None]:
    try:
        yield
    except (Failure, TransientStorageError):
        raise
    except PERMANENT as exc:
        raise Failure(
            description=f"Cannot {action} {url}: {_cause(exc)}", allow_retries=False
        ) from exc
    except Exception as exc:  # network and service errors come in many library-specific types
        raise TransientStorageError(f"Cannot {action} {url}: {_cause(exc)}") from exc


def _cause(exc: BaseException) -> str:
    """The first line of the deepest message, with its type (credentials never appear in these)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
