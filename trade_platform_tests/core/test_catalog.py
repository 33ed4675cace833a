"""The lake as SQL tables, and the statement splitter of ``trade-platform sql``'s prompt."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from trade_platform.core.sql_tables import Catalog, split_statements


@pytest.mark.parametrize(
    ("text", "statements", "rest"),
    [
        ("SELECT 1", [], "SELECT 1"),
        ("SELECT 1;", ["SELECT 1"], ""),
        ("SELECT 1;\nSELECT 2; SEL", ["SELECT 1", "SELECT 2"], " SEL"),
        ("SELECT ';' AS a, \"b;c\" FROM t;", ["SELECT ';' AS a, \"b;c\" FROM t"], ""),
        ("SELECT 'it''s;';", ["SELECT 'it''s;'"], ""),
        ("SELECT 1 -- not; the end\n;", ["SELECT 1 -- not; the end"], ""),
        ("SELECT 'open;", [], "SELECT 'open;"),
        (";;\n", [], "\n"),
    ],
)
def test_statements_end_at_semicolons_outside_quotes_and_comments(text, statements, rest):
    assert split_statements(text) == (statements, rest)


def test_days_with_different_columns_read_as_one_table_with_nulls_where_a_day_lacks_one(tmp_path):
    """raw_trades keeps each day's extra columns (Kafka provenance on streamed days, say)."""
    first, second = tmp_path / "raw_trades" / "date=2026-01-01", tmp_path / "raw_trades" / "date=2026-01-02"
    for folder in (first, second):
        folder.mkdir(parents=True)
    pl.DataFrame({"trade_id": ["a"]}).write_parquet(first / "part-0.parquet")
    pl.DataFrame({"trade_id": ["b"], "_kafka_offset": [5]}).write_parquet(second / "part-0.parquet")
    rows = Catalog.open(str(tmp_path)).query("SELECT * FROM raw_trades ORDER BY date").collect()
    assert rows.to_dicts() == [
        {"trade_id": "a", "_kafka_offset": None, "date": date(2026, 1, 1)},
        {"trade_id": "b", "_kafka_offset": 5, "date": date(2026, 1, 2)},
    ]
