"""The lake's tables in the AWS Glue Data Catalog, so that Athena (or Spark, Trino) can query them.

``GlueCatalog`` creates and updates each asset's table and registers its days as partitions, in
the shapes of ``core.glue.tables``. Everything here is idempotent: ``register_partitions``
creates the table, or updates it when it differs from the model, then creates the days'
partitions in batches and updates the ones that exist already; ``deregister_partitions`` deletes
partitions, missing ones included. Glue's answers become the storage errors of
``core.storage``: throttling, 5xx answers and network faults are transient; a missing database,
refused credentials or any other refusal are permanent, and name the database and region (never
a credential). No Dagster here.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import botocore.exceptions

from trade_platform.core.glue.tables import managed_shape, partition_input, table_input
from trade_platform.core.storage import (
    PermanentStorageError,
    StorageError,
    TransientStorageError,
    aws_region,
)

PARTITIONS_PER_CALL = 100
"""The most partitions one BatchCreatePartition or BatchUpdatePartition takes."""
DELETES_PER_CALL = 25
"""The most partitions one BatchDeletePartition takes."""
TRANSIENT_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "InternalServiceException",
        "InternalFailure",
        "OperationTimeoutException",
        "ConcurrentModificationException",
    }
)
"""Glue's answers that may succeed when the call is retried; any other refusal is permanent."""
NOT_FOUND = "EntityNotFoundException"
ALREADY_EXISTS = "AlreadyExistsException"


class GlueCatalog:
    """The lake's tables in the Glue database ``database``, through boto3's glue client (the
    standard AWS credential chain and endpoint variables, ``AWS_ENDPOINT_URL_GLUE`` included, in
    the region of ``storage.aws_region``). Storage faults raise ``StorageError``."""

    def __init__(self, database: str):
        self.database = database
        self._client = None

    @property
    def client(self):
        if self._client is None:
            import boto3  # only a run that writes to Glue pays for it

            with self._errors("connect to"):
                self._client = boto3.session.Session(region_name=aws_region()).client("glue")
        return self._client

    def register_partitions(self, asset: str, table_url: str, days: Sequence[str]) -> None:
        """Create ``asset``'s table (or update it where it differs from the model), then register
        each of ``days`` at ``<table_url>/date=DAY/``: created, or updated where it exists."""
        table = table_input(asset, table_url)
        self._create_or_update_table(table)
        for batch in _batches(days, PARTITIONS_PER_CALL):
            with self._errors(f"register partitions of {asset} in"):
                answer = self.client.batch_create_partition(
                    DatabaseName=self.database,
                    TableName=asset,
                    PartitionInputList=[partition_input(table, day) for day in batch],
                )
            existing = self._entry_errors(f"register partitions of {asset} in", answer, ALREADY_EXISTS)
            if not existing:
                continue
            entries = [
                {"PartitionValueList": [d], "PartitionInput": partition_input(table, d)} for d in existing
            ]
            with self._errors(f"update partitions of {asset} in"):
                answer = self.client.batch_update_partition(
                    DatabaseName=self.database, TableName=asset, Entries=entries
                )
            self._entry_errors(f"update partitions of {asset} in", answer)

    def deregister_partitions(self, asset: str, days: Sequence[str]) -> None:
        """Delete the partitions ``days`` of ``asset``'s table; a day (or table) that is not
        registered is fine, a missing database is not."""
        for batch in _batches(days, DELETES_PER_CALL):
            with self._errors(f"deregister partitions of {asset} from"):
                try:
                    answer = self.client.batch_delete_partition(
                        DatabaseName=self.database,
                        TableName=asset,
                        PartitionsToDelete=[{"Values": [day]} for day in batch],
                    )
                except botocore.exceptions.ClientError as exc:
                    if _code(exc) != NOT_FOUND:
                        raise
                    self._require_database()
                    return  # no table: nothing of it is registered
            self._entry_errors(f"deregister partitions of {asset} from", answer, NOT_FOUND)

    def _create_or_update_table(self, table: dict[str, Any]) -> None:
        name = table["Name"]
        current = self._table(name)
        if current is None:
            with self._errors(f"create table {name} in"):
                try:
                    self.client.create_table(DatabaseName=self.database, TableInput=table)
                    return
                except botocore.exceptions.ClientError as exc:
                    if _code(exc) == NOT_FOUND:
                        raise self._missing_database() from exc
                    if _code(exc) != ALREADY_EXISTS:
                        raise
            current = self._table(name)  # another run created it meanwhile
        if managed_shape(current) != managed_shape(table):
            kept = {**(current or {}).get("Parameters", {}), **table["Parameters"]}
            with self._errors(f"update table {name} in"):
                self.client.update_table(DatabaseName=self.database, TableInput={**table, "Parameters": kept})

    def _table(self, name: str) -> dict[str, Any] | None:
        with self._errors(f"read table {name} of"):
            try:
                return self.client.get_table(DatabaseName=self.database, Name=name)["Table"]
            except botocore.exceptions.ClientError as exc:
                if _code(exc) != NOT_FOUND:
                    raise
                return None  # no table, or no database: creating the table tells which

    def _require_database(self) -> None:
        with self._errors("read"):
            try:
                self.client.get_database(Name=self.database)
            except botocore.exceptions.ClientError as exc:
                if _code(exc) == NOT_FOUND:
                    raise self._missing_database() from exc
                raise

    def _missing_database(self) -> PermanentStorageError:
        return PermanentStorageError(
            f"Glue database {self.database} does not exist in region {self._region()}: create it "
            f"(aws glue create-database --database-input Name={self.database}) or set "
            "TRADE_PLATFORM_GLUE_DATABASE to an existing one"
        )

    def _entry_errors(self, action: str, answer: Mapping[str, Any], expected: str = "") -> list[str]:
        """The days of a batch call's failed entries whose code is ``expected``; any other failed
        entry raises (transient or permanent by its code)."""
        failed = [(_values(e)[0], e.get("ErrorDetail", {})) for e in answer.get("Errors", [])]
        unexpected = [(day, error) for day, error in failed if error.get("ErrorCode") != expected]
        if unexpected:
            day, error = unexpected[0]
            code = error.get("ErrorCode", "")
            kind = TransientStorageError if code in TRANSIENT_CODES else PermanentStorageError
            raise kind(
                f"Cannot {action} Glue database {self.database} (region {self._region()}): "
                f"{len(unexpected)} partitions failed, the first {day}: {code}: {error.get('ErrorMessage', '')}"
            )
        return [day for day, _ in failed]

    def _region(self) -> str:
        region = self._client.meta.region_name if self._client is not None else aws_region()
        return region or "not configured"

    @contextmanager
    def _errors(self, action: str) -> Iterator[None]:
        try:
            yield
        except StorageError:
            raise
        except botocore.exceptions.ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
            code, message = _code(exc), _message(exc)
            transient = code in TRANSIENT_CODES or status == 429 or status >= 500
            if status in (401, 403):
                message += " (the credentials or their glue:* permissions were refused)"
            kind = TransientStorageError if transient else PermanentStorageError
            raise kind(f"{self._where(action)}: {code}: {message}") from exc
        except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
            raise TransientStorageError(f"{self._where(action)}: {type(exc).__name__}: {exc}") from exc
        except botocore.exceptions.BotoCoreError as exc:  # no credentials, no region, a bad input
            raise PermanentStorageError(f"{self._where(action)}: {type(exc).__name__}: {exc}") from exc

    def _where(self, action: str) -> str:
        return f"Cannot {action} Glue database {self.database} (region {self._region()})"


def _batches(days: Sequence[str], size: int) -> Iterator[list[str]]:
    unique = sorted(set(days))
    for start in range(0, len(unique), size):
        yield unique[start : start + size]


def _values(entry: Mapping[str, Any]) -> list[str]:
    return entry.get("PartitionValues") or entry.get("PartitionValueList") or ["?"]


def _code(exc: botocore.exceptions.ClientError) -> str:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    found = re.search(r"<Code>(.*?)</Code>", str(error.get("Message", "")))
    return found.group(1) if found and (not code or code.isdigit()) else code


def _message(exc: botocore.exceptions.ClientError) -> str:
    """The error's message; an XML error document (as some endpoints answer) is reduced to its
    ``<Message>``."""
    text = str(exc.response.get("Error", {}).get("Message", ""))
    found = re.search(r"<Message>(.*?)</Message>", text, re.DOTALL)
    return (found.group(1) if found else text).strip().split("\n")[0]
