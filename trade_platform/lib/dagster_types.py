"""The pandera models as Dagster types (dagster-pandera's schema metadata, shown in the UI, with
each column's classification as its ``classification`` tag).

An asset returns a polars ``DataFrame`` (checked row by row here) or, for a run over many
partitions, a ``LazyFrame`` (its columns and types are checked here; the I/O manager checks the
rows of each partition as it collects and writes it, so memory stays at one partition).
"""

from __future__ import annotations

import warnings

import pandera.errors
import pandera.polars as pa
import polars as pl
from dagster import (
    BetaWarning,
    DagsterType,
    Failure,
    MetadataValue,
    TableColumn,
    TableSchema,
    TypeCheck,
)
from dagster_pandera import pandera_schema_to_dagster_type

from trade_platform.core.classification import METADATA_KEY, column_classifications
from trade_platform.core.schemas import DailyVolume, Ohlcv, RawTrades, TradesDlq, ValidatedTrades


def frame_type(model: type[pa.DataFrameModel]) -> DagsterType:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BetaWarning)  # dagster-pandera is beta; its version is pinned
        base = pandera_schema_to_dagster_type(model)

    def type_check(_context, value: object) -> TypeCheck:
        if not isinstance(value, (pl.DataFrame, pl.LazyFrame)):
            return TypeCheck(False, f"expected a polars DataFrame or LazyFrame, got {type(value).__name__}")
        try:
            model.validate(value, lazy=True)
        except (pandera.errors.SchemaErrors, pandera.errors.SchemaError) as exc:
            return TypeCheck(False, f"{model.__name__}: {exc}")
        scope = (
            "rows" if isinstance(value, pl.DataFrame) else "columns (rows are checked per partition on write)"
        )
        return TypeCheck(True, f"{model.__name__}: {scope} valid")

    dagster_type = DagsterType(
        type_check_fn=type_check,
        name=base.unique_name,
        description=base.description,
        metadata={**base.metadata, "schema": MetadataValue.table_schema(classified(base, model))},
    )
    MODELS[dagster_type.unique_name] = model
    return dagster_type


def classified(base: DagsterType, model: type[pa.DataFrameModel]) -> TableSchema:
    """dagster-pandera's column schema with each column's classification as a column tag."""
    schema: TableSchema = base.metadata["schema"].schema
    classes = column_classifications(model)
    return TableSchema(
        columns=[
            TableColumn(
                name=column.name,
                type=column.type,
                description=column.description,
                constraints=column.constraints,
                tags={**column.tags, METADATA_KEY: classes[column.name].value},
            )
            for column in schema.columns
        ],
        constraints=schema.constraints,
    )


def validate_rows(dagster_type: DagsterType, frame: pl.DataFrame) -> None:
    """Check a batch of a streamed partition against the model behind ``dagster_type`` (if it
    has one). Rows that break it are the data's fault: a ``Failure`` that is not retried (the
    storage error handling around the write would otherwise take it for a transient fault)."""
    model = MODELS.get(dagster_type.unique_name)
    if model is None:
        return
    try:
        model.validate(frame, lazy=True)
    except (pandera.errors.SchemaErrors, pandera.errors.SchemaError) as exc:
        raise Failure(description=f"{model.__name__}: {exc}", allow_retries=False) from exc


MODELS: dict[str, type[pa.DataFrameModel]] = {}
RAW_TRADES_TYPE = frame_type(RawTrades)
VALIDATED_TRADES_TYPE = frame_type(ValidatedTrades)
TRADES_DLQ_TYPE = frame_type(TradesDlq)
OHLCV_TYPE = frame_type(Ohlcv)
DAILY_VOLUME_TYPE = frame_type(DailyVolume)


def schema_metadata(dagster_type: DagsterType) -> dict:
    """Asset metadata that puts the pandera model's columns in the UI's Columns panel."""
    return {"dagster/column_schema": dagster_type.metadata["schema"].schema}
