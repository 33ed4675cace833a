"""Step outputs kept in memory up to a budget, then spilled to scratch Parquet.

An asset that builds its output piece by piece (chunks of a landing file, days of a range run)
adds each piece here. While the pieces fit in the budget (``TRADE_PLATFORM_SPILL_BUDGET_MB``)
the output is one ``DataFrame``; past it every piece goes to
``<directory>/<output>/date=D/<n>.parquet`` and the output is a lazy scan of those files, which
the I/O manager streams into the lake a partition at a time. Either way the rows come back in
the order they were added.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from trade_platform.core.lake_layout import HIVE_SCHEMA, PARTITION_COLUMN, day_folder
from trade_platform.settings import DEFAULT_SPILL_BUDGET_MB


class Spill:
    def __init__(
        self,
        directory: Path,
        schemas: dict[str, dict[str, pl.DataType]] | None = None,
        budget_bytes: int = DEFAULT_SPILL_BUDGET_MB * 2**20,
    ) -> None:
        """``schemas``: each output's columns, so that an output with no rows still has them."""
        self._directory = directory
        self._budget = budget_bytes
        self._pieces: list[tuple[str, pl.DataFrame | list[Path]]] = []
        self._schemas = {name: dict(schema) for name, schema in (schemas or {}).items()}
        self._held_bytes = 0
        self._files_written = 0
        self.spilled = False

    def add(self, output: str, frame: pl.DataFrame) -> None:
        """Append rows (with a ``date`` column) to ``output``."""
        schema = self._schemas.setdefault(output, {})
        schema.update((name, dtype) for name, dtype in frame.schema.items() if name not in schema)
        if self.spilled:
            self._pieces.append((output, self._write(output, frame)))
            return
        self._pieces.append((output, frame))
        self._held_bytes += frame.estimated_size()
        if self._held_bytes > self._budget:
            self._spill_held()

    def mark(self) -> int:
        """A point to ``rollback`` to."""
        return len(self._pieces)

    def rollback(self, mark: int) -> None:
        """Forget every piece added since ``mark`` (a file found unreadable part-way)."""
        for _, piece in self._pieces[mark:]:
            if isinstance(piece, pl.DataFrame):
                self._held_bytes -= piece.estimated_size()
            else:
                for path in piece:
                    path.unlink()
        del self._pieces[mark:]

    def result(self, output: str) -> pl.DataFrame | pl.LazyFrame:
        """Everything added to ``output``: a DataFrame, or a lazy scan once spilled."""
        schema = self._schemas.get(output, {})
        pieces = [piece for name, piece in self._pieces if name == output]
        if not self.spilled:
            frames = [piece for piece in pieces if isinstance(piece, pl.DataFrame)]
            return pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame(schema=schema)
        paths = [str(path) for piece in pieces if isinstance(piece, list) for path in piece]
        if not paths:
            return pl.DataFrame(schema=schema).lazy()
        return pl.scan_parquet(
            paths,
            hive_partitioning=True,
            hive_schema=HIVE_SCHEMA,
            schema={name: dtype for name, dtype in schema.items() if name != PARTITION_COLUMN},
            missing_columns="insert",
        ).select(list(schema))

    def _spill_held(self) -> None:
        self.spilled = True
        self._pieces = [
            (name, self._write(name, piece) if isinstance(piece, pl.DataFrame) else piece)
            for name, piece in self._pieces
        ]
        self._held_bytes = 0

    def _write(self, output: str, frame: pl.DataFrame) -> list[Path]:
        paths = []
        for (day,), part in frame.partition_by(PARTITION_COLUMN, as_dict=True, include_key=False).items():
            folder = self._directory / output / day_folder(day)
            folder.mkdir(parents=True, exist_ok=True)
            path = folder / f"{self._files_written:09d}.parquet"
            self._files_written += 1
            # Read back once, by day: no statistics needed. lz4 halves what a long range run or
            # a 10M-trade day writes (uncompressed, the page cache's writeback throttled it).
            part.write_parquet(path, compression="lz4", statistics=False)
            paths.append(path)
        return paths
