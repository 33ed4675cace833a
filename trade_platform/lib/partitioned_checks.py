"""Partitioned asset checks: one evaluation per partition, also in a run over a range.

Dagster's ``AssetCheckResult`` records a single evaluation without a partition when a run
covers a range, so each check yields an ``AssetCheckEvaluation`` per partition key itself. This
module is the one place that knows how (it uses Dagster's private target-materialization type).

Every check's metadata says what failed for a person reading the UI: the counts, the threshold
and a few of the worst offending values or trade_ids.
"""

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetChecksDefinition,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    EventLogRecord,
    Output,
    PartitionsDefinition,
    multi_asset_check,
)

from trade_platform.lib.dagster_private import AssetCheckEvaluationTargetMaterializationData

MATERIALIZATIONS_PAGE = 100


@dataclass(frozen=True)
class Verdict:
    passed: bool
    description: str
    metadata: dict = field(default_factory=dict)
    severity: AssetCheckSeverity = AssetCheckSeverity.ERROR


def evaluate_per_partition(
    context: AssetCheckExecutionContext,
    judge: Callable[[str], Verdict],
    latest: dict[str, EventLogRecord] | None = None,
    spec: AssetCheckSpec | None = None,
) -> Iterator[AssetCheckEvaluation | Output]:
    """One evaluation per partition of the run, each naming the materialization it judged
    (``latest``: the asset's latest materialization per partition, when the caller has it), of
    ``spec``: the context's only check unless the step has several (a dbt multi-asset)."""
    spec = spec or context.check_specs[0]
    if latest is None:
        latest = latest_materializations(context, spec.asset_key, context.partition_keys)
    for key in context.partition_keys:
        verdict = judge(key)
        yield AssetCheckEvaluation(
            asset_key=spec.asset_key,
            check_name=spec.name,
            passed=verdict.passed,
            severity=verdict.severity,
            blocking=spec.blocking,
            description=verdict.description,
            metadata=verdict.metadata,
            partition=key,
            target_materialization_data=_target_materialization(latest.get(key)),
        )
    # The check's op output is still required; AssetCheckResult would have produced it.
    yield Output(None, output_name=context.job_def.asset_layer.get_op_output_name(spec.key))


def blocking_asset_check(
    *,
    asset: str,
    partitions_def: PartitionsDefinition,
    description: str,
    additional_ins: Mapping[str, AssetIn] | None = None,
) -> Callable[[Callable[..., Iterator]], AssetChecksDefinition]:
    """``@asset_check(blocking=True, ...)`` whose op output is named after the check, not ``result``.

    Dagster 1.13 orders the blocking checks a downstream step waits for by output name alone, so
    two blocking ``@asset_check``s of one asset (both ``result``) come in a set's order, which
    differs between processes (the set's node handles hash ``None``, an address before Python
    3.12). Two code servers then give the same job different snapshot ids, and the UI's Re-execute
    of a run created by another process (a sensor, the demo) warns that the job "may be a
    different version". The op keeps the name ``@asset_check`` gives it (``<asset>_<check>``)."""

    def decorate(fn: Callable[..., Iterator]) -> AssetChecksDefinition:
        spec = AssetCheckSpec(
            fn.__name__,
            asset=asset,
            additional_deps=[asset_in.key for asset_in in (additional_ins or {}).values()],
            blocking=True,
            partitions_def=partitions_def,
            description=description,
        )
        return multi_asset_check(specs=[spec], name=spec.get_python_identifier(), ins=additional_ins)(fn)

    return decorate


def latest_materializations(
    context: AssetCheckExecutionContext, asset_key: AssetKey, keys: Sequence[str]
) -> dict[str, EventLogRecord]:
    """The latest materialization of each partition in ``keys``, read newest first in pages
    (one query per page, not one per partition: a year's range run has 365 partitions)."""
    wanted, latest, cursor = set(keys), {}, None
    while wanted:
        page = context.instance.fetch_materializations(
            AssetRecordsFilter(asset_key=asset_key, asset_partitions=sorted(wanted)),
            limit=max(len(wanted), MATERIALIZATIONS_PAGE),
            cursor=cursor,
        )
        for record in page.records:
            if record.partition_key in wanted:
                latest[record.partition_key] = record
                wanted.discard(record.partition_key)
        if not page.has_more:
            break
        cursor = page.cursor
    return latest


def _target_materialization(record):
    if record is None:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=record.run_id, storage_id=record.storage_id, timestamp=record.timestamp
    )
