"""Property-based: no Kafka message can stop its partition. Whatever a message holds (deep
nesting, lone surrogate escapes, huge numbers, NaN, repeated keys, a BOM, NUL, bad UTF-8), its
batch lands, each message exactly once, in files the landing reader reads one record per message;
and the quick path that finds most messages' days reads them as the landing reader does.
"""

from __future__ import annotations

import json
from datetime import date

import polars as pl
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from trade_platform.core.kafka.messages import MESSAGE_SCHEMA, landing_files, quick_objects
from trade_platform.core.landing.files import LandingFile, iter_landing_file
from trade_platform.core.landing.jsonl_files import jsonl_records

START, CONSUMED = date(2026, 11, 1), date(2026, 12, 1)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=20)  # decoded messages hold no surrogates
ODD = st.sampled_from(
    [
        '"\\ud800"',
        '"\\udc00x\\ud800"',
        '"\\u0000"',
        "NaN",
        "-Infinity",
        "1e400",
        "1" * 400,
        "-0.0e-999999",
        '"\ufeff"',
        '"\x00"',
        '"\u2028"',
        "[]",
        "{}",
        '"2026-11-28T10:00:00Z"',
        '"1795867200"',
    ]
)
SCALAR = st.one_of(
    ODD, st.integers().map(str), st.floats().map(json.dumps), TEXT.map(json.dumps), st.just("null")
)


@st.composite
def nested(draw) -> str:
    """A value nested ``depth`` deep, shallow or past Python's recursion limit."""
    depth = draw(st.sampled_from([1, 5, 900, 1_100, 10_000]))
    inner = draw(SCALAR)
    if draw(st.booleans()):
        return "[" * depth + inner + "]" * depth
    return '{"a":' * depth + inner + "}" * depth


KEY = st.sampled_from(["trade_id", "timestamp", "price", "Symbol", "x", "_kafka_offset", "_kafka_value"])


@st.composite
def message(draw) -> str | None:
    kind = draw(st.sampled_from(["object", "object", "value", "text", "bytes"]))
    if kind == "object":  # repeated keys included
        members = draw(st.lists(st.tuples(KEY, st.one_of(SCALAR, nested())), max_size=4))
        text = "{" + ",".join(f"{json.dumps(key)}:{value}" for key, value in members) + "}"
        return (
            draw(st.sampled_from(["", "\ufeff", " ", "\n"])) + text + draw(st.sampled_from(["", "\n", " x"]))
        )
    if kind == "value":
        return draw(st.one_of(SCALAR, nested()))
    if kind == "text":
        return draw(st.one_of(st.none(), TEXT))
    return draw(st.binary(max_size=30)).decode("utf-8", errors="replace")  # as the consumer decodes


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(
    values=st.lists(message(), min_size=1, max_size=8),
    kafka_ms=st.one_of(st.none(), st.integers(-1, 2**63 - 1)),
)
@example(values=['{"trade_id":"T1","x":{"a":"\\ud800"}}', "[" * 10_000 + "]" * 10_000], kafka_ms=0)
@example(values=['{"trade_id":NaN,"timestamp":null}', '\ufeff{"trade_id":"T1"}'], kafka_ms=None)
def test_any_messages_land_once_each_where_the_reader_reads_them(tmp_path_factory, values, kafka_ms):
    batch = pl.DataFrame(
        {
            "topic": "trades",
            "partition": 0,
            "offset": range(len(values)),
            "timestamp_ms": [kafka_ms] * len(values),
            "value": values,
        },
        schema=MESSAGE_SCHEMA,
    )
    files = landing_files(batch, START, CONSUMED)
    folder = tmp_path_factory.mktemp("landing")
    offsets = []
    for relative, payload in files.items():
        assert START.isoformat() <= relative.split("/")[1].removeprefix("date=") <= CONSUMED.isoformat()
        assert payload.count(b"\n") == len(payload.splitlines())  # one line per message
        path = folder / relative.replace("/", "_")
        path.write_bytes(payload)
        records = pl.concat(
            iter_landing_file(LandingFile(str(path), relative, len(payload))), how="diagonal_relaxed"
        )
        offsets += records["_kafka_offset"].to_list()
    assert sorted(offsets) == list(range(len(values)))


SPACE = st.sampled_from(["", " ", "\t", "\u00a0", "\u2028", "\x0b", "\x1f"])  # JSON's and others'
QUICK_KEY = st.sampled_from(
    ["timestamp", "TIMESTAMP", " timestamp", "timestamp\u00a0", "x_timestamp", "price", ""]
)
QUICK_VALUE = st.one_of(
    SCALAR,
    st.sampled_from(
        ['"2026-11-28T10:00:00Z"', '"a\tb"', '"\x01"', "١٢", "1\u00a0", '"\\"timestamp\\":"', "tru"]
    ),
)


@st.composite
def flat_line(draw) -> str:
    """A line that is, or almost is, a flat JSON object: odd keys, values and spaces anywhere."""
    members = draw(st.lists(st.tuples(QUICK_KEY, QUICK_VALUE, SPACE, SPACE), max_size=5))
    body = ",".join(f"{a}{json.dumps(key)}{b}:{a}{value}{b}" for key, value, a, b in members)
    return draw(SPACE) + "{" + body + draw(SPACE) + "}" + draw(SPACE)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines=st.lists(st.one_of(flat_line(), message().map(lambda v: v or "")), min_size=1, max_size=10))
@example(lines=['{"timestamp":"2026-11-28T10:00:00Z","price":1e400}', '{"timestamp":"y","TIMESTAMP":"x"}'])
@example(lines=['{"timestamp":"y"," timestamp ":"x"}', '{"timestamp":"y","timestamp\u00a0":"x"}'])
@example(
    lines=['{"timestamp":"a", "timestamp":null}', '{"a":١}', '{"a":\u00a01}', '{"timestamp":"\t"}', "{}"]
)
def test_the_quick_path_reads_each_line_it_takes_as_the_landing_reader_does(lines):
    """One reading of the landing rules: a line ``quick_objects`` takes is an object to the
    landing reader, with the same ``timestamp``; any other line is left to the reader."""
    one_line = pl.Series(lines, dtype=pl.String).str.replace_all(r"[\r\n]", "\t")
    quick, timestamp = quick_objects(one_line)
    taken = quick.arg_true()
    if taken.is_empty():
        return
    read = jsonl_records(
        pl.DataFrame({"_source_row": taken.cast(pl.Int64), "_raw_record": one_line.gather(taken)})
    )
    assert read["_parse_error"].is_null().all()
    read_timestamp = read["timestamp"].cast(pl.String) if "timestamp" in read.columns else None
    assert (
        read_timestamp.to_list() if read_timestamp is not None else [None] * len(taken)
    ) == timestamp.gather(taken).to_list()
