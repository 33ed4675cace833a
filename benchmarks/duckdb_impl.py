"""DuckDB SQL: the same rules as one SQL script over the landing files, Parquet written by COPY."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import duckdb

from benchmarks.common import (
    CODES,
    EXCHANGE_PATTERN,
    INTERVAL_SECONDS,
    INTERVALS,
    NOW,
    RUN_ID,
    SYMBOL_PATTERN,
    TRADE_FIELDS,
    TRADE_ID_PATTERN,
    Stopwatch,
    landing_files,
)  # fmt: skip


def sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def raw_statements(landing: str, day: date) -> list[str]:
    """Temp tables ``lines_<i>`` (CSV lines with numbers) and the ``raw`` table of all records."""
    statements, parts = [], []
    n = len(TRADE_FIELDS)
    for i, f in enumerate(landing_files(landing, day)):
        if f.path.endswith(".parquet"):
            fields = ", ".join(f"CAST({name} AS VARCHAR) AS {name}" for name in TRADE_FIELDS)
            parts.append(
                f"""SELECT {fields}, {sql_text(f.relative_path)} AS _source_file,
                       CAST(file_row_number + 1 AS BIGINT) AS _source_row,
                       to_json(struct_pack({", ".join(TRADE_FIELDS)}))::VARCHAR AS _raw_record,
                       NULL::VARCHAR AS _parse_error, {i} * 10000000000 + file_row_number + 1 AS pos
                FROM read_parquet({sql_text(f.path)}, file_row_number = true)"""
            )
            continue
        statements.append(
            f"""CREATE TEMP TABLE lines_{i} AS
            SELECT rtrim(unnest(ls), chr(13)) AS line, unnest(generate_series(1, len(ls))) AS n
            FROM (SELECT string_split(content, chr(10)) AS ls FROM read_text({sql_text(f.path)}))"""
        )
        header = f"(SELECT min(n) FROM lines_{i} WHERE trim(line) <> '')"
        fields = ", ".join(
            f"CASE WHEN nf = {n} THEN nullif(parts[{k + 1}], '') END AS {name}"
            for k, name in enumerate(TRADE_FIELDS)
        )
        parts.append(
            f"""SELECT {fields}, {sql_text(f.relative_path)} AS _source_file, n AS _source_row, line AS _raw_record,
                   CASE WHEN nf <> {n} THEN 'CSV row has ' || nf || ' fields, header has {n}' END AS _parse_error,
                   {i} * 10000000000 + n AS pos
            FROM (SELECT line, n, len(line) - len(replace(line, ',', '')) + 1 AS nf, string_split(line, ',') AS parts
                  FROM lines_{i} WHERE trim(line) <> '' AND n > {header})"""
        )
    # Files are numbered in name order, so ``pos`` orders records by (file, row) without a sort.
    statements.append("CREATE TEMP VIEW raw AS " + " UNION ALL ".join(parts))
    return statements


def script(landing: str, day: date) -> list[str]:
    trimmed = {name: f"trim(r.{name})" for name in TRADE_FIELDS}
    t = {name: f"t_{name}" for name in TRADE_FIELDS}
    missing = {name: f"(NOT malformed AND coalesce({t[name]}, '') = '')" for name in TRADE_FIELDS}
    present = {name: f"(NOT malformed AND coalesce({t[name]}, '') <> '')" for name in TRADE_FIELDS}
    number = r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$"
    flags = {
        "malformed_record": "malformed",
        "missing_field": "(" + " OR ".join(missing.values()) + ")",
        "invalid_trade_id": f"({present['trade_id']} AND NOT regexp_full_match(trade_id, '{TRADE_ID_PATTERN}'))",
        "invalid_symbol": f"({present['symbol']} AND NOT regexp_full_match(symbol_u, '{SYMBOL_PATTERN}'))",
        "invalid_side": f"({present['side']} AND side_l NOT IN ('buy', 'sell'))",
        "invalid_price": f"({present['price']} AND NOT coalesce(price_f > 0 AND isfinite(price_f), false))",
        "invalid_quantity": f"({present['quantity']} AND NOT coalesce(quantity_f > 0 AND isfinite(quantity_f), false))",
        "invalid_timestamp": f"({present['timestamp']} AND instant IS NULL AND NOT zoneless)",
        "timestamp_no_timezone": f"({present['timestamp']} AND zoneless)",
        "timestamp_in_future": f"({present['timestamp']} AND coalesce(instant > TIMESTAMPTZ '{NOW.isoformat()}', false))",
        "timestamp_outside_partition": f"({present['timestamp']} AND coalesce(instant < TIMESTAMPTZ '{day.isoformat()} 00:00:00+00' "
        f"OR instant >= TIMESTAMPTZ '{day.isoformat()} 00:00:00+00' + INTERVAL 1 DAY, false))",
        "invalid_exchange": f"({present['exchange']} AND NOT regexp_full_match(exchange_u, '{EXCHANGE_PATTERN}'))",
    }
    ts = trimmed["timestamp"]
    return [
        "SET TimeZone = 'UTC'",
        *raw_statements(landing, day),
        f"""CREATE TEMP TABLE parsed AS
        SELECT r.*, {", ".join(f"{trimmed[name]} AS t_{name}" for name in TRADE_FIELDS)}, _parse_error IS NOT NULL AS malformed,
               upper({trimmed["symbol"]}) AS symbol_u, upper({trimmed["exchange"]}) AS exchange_u, lower({trimmed["side"]}) AS side_l,
               CASE WHEN regexp_full_match({trimmed["price"]}, '{number}') THEN TRY_CAST({trimmed["price"]} AS DOUBLE) END AS price_f,
               CASE WHEN regexp_full_match({trimmed["quantity"]}, '{number}') THEN TRY_CAST({trimmed["quantity"]} AS DOUBLE) END AS quantity_f,
               coalesce(
                   CASE WHEN regexp_full_match({ts}, '\\d{{4}}-\\d{{2}}-\\d{{2}}[T ]\\d{{2}}:\\d{{2}}:\\d{{2}}(\\.\\d+)?(Z|[+-]\\d{{2}}:?\\d{{2}})')
                        THEN TRY_CAST({ts} AS TIMESTAMPTZ) END,
                   CASE WHEN regexp_full_match({ts}, '\\d{{10}}(\\.\\d+)?') THEN make_timestamp(CAST(TRY_CAST({ts} AS DOUBLE) * 1e6 AS BIGINT))::TIMESTAMPTZ
                        WHEN regexp_full_match({ts}, '\\d{{13}}') THEN make_timestamp(CAST(TRY_CAST({ts} AS DOUBLE) * 1e3 AS BIGINT))::TIMESTAMPTZ END
               ) AS instant
        FROM raw r""",
        """CREATE TEMP VIEW parsed_z AS
        SELECT r.*, (instant IS NULL AND coalesce(regexp_full_match(regexp_replace(t_timestamp, ' ', 'T'),
                    '\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?'), false)) AS zoneless
        FROM parsed r""",
        f"""CREATE TEMP TABLE flagged AS
        SELECT *, NOT ({" OR ".join(flags)}) AS clean
        FROM (SELECT r.*, {", ".join(f"{expr} AS {code}" for code, expr in flags.items())} FROM parsed_z r)""",
        """CREATE TEMP TABLE decided AS
        SELECT f.*, (NOT malformed AND coalesce(trim(trade_id), '') <> '' AND fc.first_pos IS NOT NULL AND pos > fc.first_pos)
                   AS duplicate_trade_id
        FROM flagged f LEFT JOIN (SELECT trade_id AS id, min(pos) AS first_pos FROM flagged WHERE clean GROUP BY trade_id) fc
        ON f.trade_id = fc.id""",
        f"""CREATE TEMP TABLE validated AS
        SELECT trade_id, symbol_u AS symbol, side_l AS side, price_f AS price, quantity_f AS quantity,
               instant AS timestamp, exchange_u AS exchange, _source_file, _source_row, DATE '{day.isoformat()}' AS date
        FROM decided WHERE clean AND NOT duplicate_trade_id ORDER BY timestamp, trade_id""",
        f"""CREATE TEMP TABLE dlq AS
        SELECT _raw_record AS raw_record, trade_id,
               list_filter([{", ".join(f"CASE WHEN {code} THEN '{code}' END" for code in CODES)}], lambda c: c IS NOT NULL) AS error_codes,
               _source_file, _source_row, '{RUN_ID}' AS run_id, TIMESTAMPTZ '{NOW.isoformat()}' AS rejected_at,
               DATE '{day.isoformat()}' AS date
        FROM decided WHERE NOT clean OR duplicate_trade_id""",
        "CREATE TEMP TABLE ohlcv AS "
        + " UNION ALL ".join(
            f"""SELECT symbol, '{interval}' AS interval, to_timestamp(floor(epoch(timestamp) / {INTERVAL_SECONDS[interval]}) * {INTERVAL_SECONDS[interval]}) AS timestamp,
                   arg_min(price, (timestamp, trade_id)) AS open, max(price) AS high, min(price) AS low,
                   arg_max(price, (timestamp, trade_id)) AS close, sum(quantity) AS volume, count(*)::BIGINT AS trade_count,
                   sum(price * quantity) / sum(quantity) AS vwap, date
            FROM validated GROUP BY ALL"""
            for interval in INTERVALS
        ),
        """CREATE TEMP TABLE daily_volume AS
        SELECT symbol, count(*)::BIGINT AS trade_count, sum(quantity) AS total_volume, sum(price * quantity) AS notional,
               sum(price * quantity) / sum(quantity) AS vwap, avg(price) AS avg_price, min(price) AS low_price,
               max(price) AS high_price, date
        FROM validated GROUP BY symbol, date""",
    ]


def run(landing: str, day: date, out: Path) -> dict[str, float]:
    watch = Stopwatch()
    con = duckdb.connect()
    statements = script(landing, day)
    marts = [i for i, statement in enumerate(statements) if "TABLE ohlcv" in statement][0]
    with watch("read+validate"):
        for statement in statements[:marts]:
            con.execute(statement)
    with watch("marts"):
        for statement in statements[marts:]:
            con.execute(statement)
    with watch("write"):
        con.execute(f"COPY (SELECT * FROM validated) TO '{out / 'validated.parquet'}' (FORMAT parquet)")
        con.execute(f"COPY (SELECT * FROM dlq) TO '{out / 'dlq.parquet'}' (FORMAT parquet)")
        con.execute(
            f"COPY (SELECT * FROM ohlcv ORDER BY interval, symbol, timestamp) TO '{out / 'ohlcv.parquet'}' (FORMAT parquet)"
        )
        con.execute(
            f"COPY (SELECT * FROM daily_volume ORDER BY symbol) TO '{out / 'daily_volume.parquet'}' (FORMAT parquet)"
        )
    con.close()
    return watch.stages
