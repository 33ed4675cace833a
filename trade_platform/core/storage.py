"""Storage and network faults as plain exceptions that name the URL and the cause.

Only faults of the storage or the network become ``StorageError``: a permanent one (a missing
bucket or folder, refused credentials) or a transient one (timeouts, throttling, refused or
dropped connections), which the Dagster wiring retries. Any other exception (a polars error, a
bug in our own code) passes through unchanged, so it fails the step at once with its own message.
"""

from __future__ import annotations

import fcntl
import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import BinaryIO

import aiohttp
import botocore.exceptions
from upath import UPath

_CREDENTIALS = re.compile(r"(://)[^/@\s'\"]*@")


def without_credentials(text: str) -> str:
    """``text`` with each URL's user and password (``s3://key:secret@bucket``,
    ``sasl_ssl://user:pass@host``) shown as ``***``: for messages that quote a value."""
    return _CREDENTIALS.sub(r"\1***@", text)


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


TEMPORARY_SUFFIX = ".tmp"


def is_local(path: UPath) -> bool:
    return path.protocol in ("", "file", "local")


def polars_storage_options(path: UPath) -> dict[str, str] | None:
    """Endpoint and region for polars' own object-store reader, from the standard AWS variables.

    Credentials are left to polars' AWS credential chain; local paths need no options.
    """
    if is_local(path):
        return None
    options = {}
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    if endpoint:
        options["aws_endpoint_url"] = endpoint
        options["aws_allow_http"] = str(endpoint.startswith("http://")).lower()
    region = aws_region()
    if region:
        options["aws_region"] = region
    return options or None


def aws_region() -> str | None:
    """The region of the standard AWS variables: ``AWS_REGION`` (which boto3 ignores), else
    ``AWS_DEFAULT_REGION``; None leaves it to the client's own configuration."""
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


@contextmanager
def staged_file(path: UPath) -> Iterator[BinaryIO]:
    """A file to write ``path``'s new content into; published only if the block succeeds.

    Locally: a hidden, locked temporary file beside ``path``, fsynced and renamed over it, then
    the folder fsynced, so the new name survives a power loss. On an object store: a local
    temporary file uploaded in one PUT (multipart when large), which the store shows only once
    complete.
    """
    if not is_local(path):
        with tempfile.NamedTemporaryFile(prefix="trade-platform-", suffix=path.suffix) as local:
            yield local
            local.flush()
            path.fs.put_file(local.name, path.path)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = os.path.join(path.parent.path, f".{path.name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
    try:
        with open(temporary, "wb") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when closed: after the rename
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
            os.replace(temporary, path.path)
        folder = os.open(path.parent.path, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    finally:
        if os.path.exists(temporary):
            os.unlink(temporary)


def write_atomically(url: str, payload: bytes) -> None:
    """Replace the file at ``url`` with ``payload``: readers see the old content or the new, never
    part of it (``staged_file``). Storage faults raise ``StorageError`` naming the URL."""
    with storage_errors("write", url), staged_file(UPath(url)) as handle:
        handle.write(payload)
