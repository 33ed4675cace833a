"""What the ``column_schema`` checks compute: how stored columns differ from the declared ones."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ColumnDiff:
    added: list[str]
    removed: list[str]
    retyped: dict[str, str]
    """Column -> ``declared -> stored`` type."""

    @property
    def breaking(self) -> bool:
        """Removed or retyped columns break readers; added ones only widen the table."""
        return bool(self.removed or self.retyped)


def compare_columns(
    declared: Mapping[str, str], stored: Mapping[str, str], optional: Collection[str] = ()
) -> ColumnDiff:
    """How ``stored`` columns (name -> type) differ from the ``declared`` ones; an ``optional``
    declared column may be absent (raw_trades' Kafka provenance, on a day without Kafka files)."""
    return ColumnDiff(
        added=[f"{name}: {kind}" for name, kind in stored.items() if name not in declared],
        removed=[
            f"{name}: {kind}"
            for name, kind in declared.items()
            if name not in stored and name not in optional
        ],
        retyped={
            name: f"{kind} -> {stored[name]}"
            for name, kind in declared.items()
            if name in stored and stored[name] != kind
        },
    )
