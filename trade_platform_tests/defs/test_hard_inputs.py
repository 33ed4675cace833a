"""Hard landing files through Dagster: none blocks a day or a range, and no inf or NaN reaches
the marts (each file's own outcome is in ``core/test_landing_robustness.py``)."""

from __future__ import annotations

import gzip
from datetime import date, timedelta

import polars as pl

from trade_platform_tests.conftest import DAY, HEADER, STRAY, TS, Platform, json_line, row

HARD_FILES = {
    "dup.csv": f"{HEADER},price\n{row('D1')},7\n",
    "trailing.csv": f"{HEADER},\n{row('C1')},\n",
    "extra.csv": f"{HEADER},date,_source_row\n{row('E1')},v,w\n",
    "stray.csv": f"{HEADER}\n{row('Q1', price=STRAY)}\n",
    "open.csv": f'{HEADER}\nU2,"BTC,buy,1,2,{TS},X\n{row("U3")}\n',
    "cr.csv": f"{HEADER}\r{row('CR1')}\r",
    "headless.csv": f"{row('H1')}\n",
    "keys.jsonl": json_line(trade_id="JK1", date="x", _source_row=9),
}


def test_hard_files_never_block_a_day_through_dagster(platform: Platform):
    for name, text in HARD_FILES.items():
        (platform.day_dir() / name).write_text(text)
    with gzip.open(platform.day_dir() / "good.csv.gz", "wt") as handle:
        handle.write(f"{HEADER}\n{row('G1')}\n")
    result = platform.materialize()
    assert result.success
    validated = set(platform.read("validated_trades")["trade_id"].to_list())
    assert {"D1", "C1", "E1", "U3", "CR1", "JK1", "G1"} <= validated


def test_a_hard_file_on_one_day_of_a_range_does_not_stop_the_others(platform: Platform):
    days = [(date.fromisoformat(DAY) + timedelta(days=n)).isoformat() for n in (-2, -1, 0)]
    for day in days:
        (platform.day_dir(day) / "t.csv").write_text(f"{HEADER}\n" + row(f"T{day}").replace(DAY, day) + "\n")
    for name, text in HARD_FILES.items():
        (platform.day_dir(days[1]) / name).write_text(text)
    assert platform.materialize(days[0], until=days[-1]).success
    for day in days:
        assert f"T{day}" in platform.read("validated_trades", day)["trade_id"].to_list()


def test_no_inf_or_nan_reaches_the_marts(platform: Platform):
    def trade(trade_id: str, price: str, quantity: str) -> str:
        return row(trade_id, price=price).replace(",2,", f",{quantity},")

    rows = [
        trade("BIG", "1e308", "10"),  # notional inf: vwap and notional were inf
        trade("TINY", "1e-300", "1e-300"),  # notional 0: the marts' schema failed
        *(trade(f"HIGH{i}", "1e300", "1e-10") for i in range(3)),  # sums stay finite
        row("PLAIN"),
    ]
    (platform.day_dir() / "m.csv").write_text("\n".join([HEADER, *rows]) + "\n")
    assert platform.materialize().success
    assert sorted(platform.read("trades_dlq")["trade_id"].to_list()) == ["BIG", "TINY"]
    for mart in ("ohlcv", "daily_volume"):
        numbers = platform.read(mart).select(pl.col(pl.Float64))
        assert numbers.height and all(numbers.select(pl.all().is_finite().all()).row(0)), mart
