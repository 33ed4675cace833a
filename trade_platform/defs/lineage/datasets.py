"""OpenLineage datasets of a run: lake tables by their folders (Iceberg tables by their
locations), landing and corrections files as ingest recorded them, each with its partitions in the ``tradePlatform_partitions`` facet."""

import os
from collections.abc import Iterable, Sequence
from typing import Any

import attr
from dagster import (
    AssetKey,
)
from openlineage.client.event_v2 import InputDataset, OutputDataset
from openlineage.client.facet_v2 import (
    DatasetFacet,
    input_statistics_input_dataset,
    output_statistics_output_dataset,
)
from upath import UPath

from trade_platform.core.lake_layout import table_of
from trade_platform.core.landing.files import CORRECTIONS, TRADES, day_prefix
from trade_platform.core.storage import is_local
from trade_platform.defs.ingest.metadata import CORRECTIONS_FILES, LANDING_FILES

PARTITIONS_FACET = "tradePlatform_partitions"
"""A custom facet's name carries a prefix of its producer, as the OpenLineage spec asks."""
PARTITIONS_FACET_SCHEMA = (
    "https://raw.githubusercontent.com/trade-platform/trade_platform/main/"
    "docs/openlineage/PartitionsDatasetFacet.json#/$defs/PartitionsDatasetFacet"
)
"""Resolves to ``docs/openlineage/PartitionsDatasetFacet.json`` of this repository."""


@attr.define
class PartitionsDatasetFacet(DatasetFacet):
    """The partitions of the dataset this run read or wrote: ``[{date, path, rowCount, files}]``."""

    partitions: list[dict[str, Any]] = attr.field(factory=list)

    @staticmethod
    def _get_schema() -> str:
        return PARTITIONS_FACET_SCHEMA


@attr.define(frozen=True)
class PartitionFile:
    asset: AssetKey
    date: str
    path: str | None
    rows: int | None
    metadata: dict[str, Any] = attr.field(factory=dict)
    """What ingest recorded as read (``landing_files``, ``corrections_files``)."""
    table: str | None = None
    """An Iceberg table's location, the dataset (OpenLineage names an Iceberg table by where it
    is, as for files); None: the Parquet folder of ``path``."""


def lake_datasets(files: Iterable[PartitionFile], *, output: bool) -> list:
    """One dataset per table folder, ``<lake>/<asset>`` taken from the partition files' paths, or
    per Iceberg table location."""
    by_folder: dict[str, list[PartitionFile]] = {}
    for f in files:
        if f.path is not None:
            by_folder.setdefault(f.table or table_of(f.path), []).append(f)
    datasets = []
    for folder, parts in sorted(by_folder.items()):
        namespace, name = dataset_name(UPath(folder))
        rows = sum(p.rows for p in parts) if all(p.rows is not None for p in parts) else None
        facets = {PARTITIONS_FACET: PartitionsDatasetFacet(partitions=[_partition_entry(p) for p in parts])}
        if output:
            statistics = {
                "outputStatistics": output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(
                    rowCount=rows, fileCount=len(parts)
                )
            }
            datasets.append(
                OutputDataset(
                    namespace=namespace,
                    name=name,
                    facets=facets,
                    outputFacets=statistics if rows is not None else {},
                )
            )
        else:
            statistics = {
                "inputStatistics": input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
                    rowCount=rows, fileCount=len(parts)
                )
            }
            datasets.append(
                InputDataset(namespace=namespace, name=name, facets=facets, inputFacets=statistics)
            )
    return datasets


def _partition_entry(part: PartitionFile) -> dict[str, Any]:
    entry = {"date": part.date, "path": part.path, "rowCount": part.rows}
    return {k: v for k, v in entry.items() if v is not None}


def read_files(produced: Sequence[PartitionFile]) -> list[InputDataset]:
    """The landing and corrections files ingest recorded as read, one dataset each."""
    datasets = []
    for key, dataset in ((LANDING_FILES, TRADES), (CORRECTIONS_FILES, CORRECTIONS)):
        partitions, root = [], None
        for part in produced:
            read = part.metadata.get(key)
            if read is None or not read["files"]:
                continue
            root = read["root"]
            partitions.append(
                {
                    "date": part.date,
                    "path": day_prefix(root, part.date, dataset),
                    "fileCount": len(read["files"]),
                    "files": read["files"],
                    **({"rowCount": part.rows} if dataset == TRADES and part.rows is not None else {}),
                }
            )
        if not partitions:
            continue
        namespace, name = dataset_name(UPath(root) / dataset)
        rows = [p.get("rowCount") for p in partitions]
        statistics = input_statistics_input_dataset.InputStatisticsInputDatasetFacet(
            rowCount=sum(rows) if None not in rows and dataset == TRADES else None,
            size=sum(f["size"] for p in partitions for f in p["files"]),
            fileCount=sum(p["fileCount"] for p in partitions),
        )
        datasets.append(
            InputDataset(
                namespace=namespace,
                name=name,
                facets={PARTITIONS_FACET: PartitionsDatasetFacet(partitions=partitions)},
                inputFacets={"inputStatistics": statistics},
            )
        )
    return datasets


def dataset_name(path: UPath) -> tuple[str, str]:
    """OpenLineage naming: ``file`` + absolute path locally, ``s3://bucket`` + key on S3."""
    if is_local(path):
        return "file", os.path.abspath(path.path)
    bucket, _, key = path.path.partition("/")
    return f"{path.protocol}://{bucket}", key.rstrip("/")
